/* backup.c: the backup plugin: AWS Backup vaults in both regions, a backup plan whose rules copy to the DR region, and recovery-point freshness. */
#include <ctype.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "dr/sdk.h"

/*
 * The runbook this replaces (AWS Backup section of the DR guide):
 *   configure  create the vault in both regions (KMS key, Vault Lock), the
 *              plan with its daily/weekly/monthly rules and the copy of the
 *              monthly one to the DR region, and the selection of the
 *              protected resources; update whatever differs.
 *   verify     list-backup-plans / get-backup-plan, then
 *              list-recovery-points-by-backup-vault in both regions and
 *              list-backup-jobs / list-copy-jobs of the last day.
 *   failover   nothing moves: tell the operator which recovery point in the
 *              DR region each protected resource can be restored from.
 *   failback   confirm that the primary region backs up again.
 */

static const dr_host_api *H;

#define DAY 86400.0
#define MAX_PAGES 50        /* list calls: pages of 100 items at most */
#define RULE_MAX 32         /* rules per plan: more than a plan needs */
#define DEFAULT_ROLE "service-role/AWSBackupDefaultServiceRole"

static const dr_config_key keys[] = {
    {"plan", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL, "name of the backup plan in the primary region"},
    {"vault", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL, "backup vault the rules write to, in the primary region"},
    {"dr_vault", DR_KEY_STRING, 0, NULL, NULL,
     "backup vault in the DR region that copy actions target (default: the name of vault)"},
    {"rules", DR_KEY_LIST, DR_KEY_REQUIRED, NULL, NULL,
     "backup rules, each \"<name>: cron(...) keep <N>d [copy keep <N>d]\" (copy: to the DR vault)"},
    {"resources", DR_KEY_LIST, 0, NULL, NULL, "ARNs of the resources the plan protects"},
    {"selection_tags", DR_KEY_LIST, 0, NULL, NULL,
     "also protect resources carrying one of these tags, each \"key=value\""},
    {"selection", DR_KEY_STRING, 0, "dr-agent", NULL, "name of the plan's resource selection"},
    {"iam_role", DR_KEY_STRING, 0, NULL, NULL,
     "role AWS Backup assumes for the selection (default: arn:aws:iam::<account>:role/" DEFAULT_ROLE ")"},
    {"kms_key", DR_KEY_STRING, 0, NULL, NULL,
     "ARN of the KMS key that encrypts the primary vault (default: the AWS Backup key)"},
    {"dr_kms_key", DR_KEY_STRING, 0, NULL, NULL,
     "ARN of the KMS key that encrypts the DR vault (default: the AWS Backup key)"},
    {"vault_lock", DR_KEY_ENUM, 0, "none", "none|governance|compliance", "AWS Backup Vault Lock on both vaults"},
    {"vault_lock_min_days", DR_KEY_INT, 0, "1", NULL, "Vault Lock: the shortest retention a recovery point may have"},
    {"vault_lock_max_days", DR_KEY_INT, 0, "0", NULL, "Vault Lock: the longest retention (0: no maximum)"},
    {"vault_lock_changeable_days", DR_KEY_INT, 0, "3", NULL,
     "Vault Lock in compliance mode: days until the lock can no longer be changed or removed (3 or more)"},
    {"max_backup_age", DR_KEY_DURATION, 0, NULL, NULL,
     "the newest recovery point of each resource in the primary vault must be younger (default: derived from "
     "the most frequent rule, 26h for a daily one)"},
    {"max_copy_age", DR_KEY_DURATION, 0, NULL, NULL,
     "the newest copy of each resource in the DR vault must be younger (default: derived from the most "
     "frequent copied rule, 32d for a monthly one)"},
    {"job_lookback", DR_KEY_DURATION, 0, "24h", NULL, "how far back verify looks for failed backup and copy jobs"},
    {"dynamodb_advanced_backup", DR_KEY_BOOL, 0, "true", NULL,
     "when DynamoDB tables are copied to the DR region, configure turns on AWS Backup's advanced DynamoDB backup "
     "features in the primary region (UpdateRegionSettings); false: only report that they are off"},
};

/* ======================================================================== */
/* Configuration                                                            */
/* ======================================================================== */

typedef struct bk_rule {
    char name[64];
    char schedule[160]; /* "cron(0 2 * * ? *)" */
    bk_cron cron;
    int keep_days;
    int copy;           /* copied to the DR vault */
    int copy_keep_days;
} bk_rule;

typedef struct bk_conf {
    const char *plan, *vault, *dr_vault, *selection;
    const char *primary, *dr;
    const char *kms_key, *dr_kms_key, *iam_role;
    const char *lock; /* "none", "governance", "compliance" */
    int64_t lock_min, lock_max, lock_changeable;
    bk_rule rules[RULE_MAX];
    size_t n_rules;
    int any_copy;
    size_t n_resources, n_tags;
    double max_backup_age, max_copy_age, lookback;
    const char *backup_age_from, *copy_age_from; /* the rule a derived age comes from, or NULL */
} bk_conf;

/* 1 when s has min..max characters, each alphanumeric or in `extra`. */
static int name_ok(const char *s, size_t min, size_t max, const char *extra)
{
    size_t n = s ? strlen(s) : 0;

    if (n < min || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i]))
            return 0;
    return 1;
}

/* "35d" -> 35: whole days, 1 to 100 years. */
static int parse_days(const char *tok, int *days)
{
    double s;

    if (dr_duration_parse(tok, &s) != 0 || s < DAY || s > 36500 * DAY)
        return -1;
    if ((double)(long)(s / DAY) * DAY != s)
        return -1;
    *days = (int)(s / DAY);
    return 0;
}

/* "<name>: cron(...) keep <N>d [copy keep <N>d]" */
static int parse_rule(const char *text, bk_rule *r, char *why, size_t whylen)
{
    const char *colon = strchr(text, ':');
    const char *p, *close;
    char rest[256], cwhy[200];
    char *tok[8], *save = NULL;
    size_t n = 0, len;

    memset(r, 0, sizeof(*r));
    if (!colon) {
        snprintf(why, whylen, "expected \"<name>: cron(...) keep <N>d [copy keep <N>d]\"");
        return -1;
    }
    for (p = text; p < colon && isspace((unsigned char)*p); p++)
        ;
    len = (size_t)(colon - p);
    while (len > 0 && isspace((unsigned char)p[len - 1]))
        len--;
    if (len >= sizeof(r->name))
        len = sizeof(r->name) - 1;
    memcpy(r->name, p, len);
    if (!name_ok(r->name, 1, 50, "-_.")) {
        snprintf(why, whylen, "the rule name '%s' must be 1 to 50 letters, digits, '-', '_' or '.'", r->name);
        return -1;
    }
    for (p = colon + 1; isspace((unsigned char)*p); p++)
        ;
    if (strncmp(p, "cron(", 5) != 0) {
        snprintf(why, whylen, "the schedule must be a cron(...) expression");
        return -1;
    }
    close = strchr(p, ')');
    if (!close) {
        snprintf(why, whylen, "the schedule's 'cron(' has no closing ')'");
        return -1;
    }
    if ((size_t)(close + 1 - p) >= sizeof(r->schedule)) {
        snprintf(why, whylen, "the schedule is too long");
        return -1;
    }
    memcpy(r->schedule, p, (size_t)(close + 1 - p));
    if (bk_cron_parse(r->schedule, &r->cron, cwhy, sizeof(cwhy)) != 0) {
        snprintf(why, whylen, "schedule %s: %s", r->schedule, cwhy);
        return -1;
    }
    snprintf(rest, sizeof(rest), "%s", close + 1);
    for (char *t = strtok_r(rest, " \t", &save); t && n < 8; t = strtok_r(NULL, " \t", &save))
        tok[n++] = t;
    if (!(n == 2 || n == 5) || strcmp(tok[0], "keep") != 0 ||
        (n == 5 && (strcmp(tok[2], "copy") != 0 || strcmp(tok[3], "keep") != 0))) {
        snprintf(why, whylen, "after the schedule expected \"keep <N>d\" and optionally \"copy keep <N>d\", got \"%s\"",
                 close + 1);
        return -1;
    }
    if (parse_days(tok[1], &r->keep_days) != 0) {
        snprintf(why, whylen, "keep takes whole days, like 35d, not '%s'", tok[1]);
        return -1;
    }
    if (n == 5) {
        r->copy = 1;
        if (parse_days(tok[4], &r->copy_keep_days) != 0) {
            snprintf(why, whylen, "copy keep takes whole days, like 365d, not '%s'", tok[4]);
            return -1;
        }
    }
    return 0;
}

/*
 * Longest interval between two runs of the most frequent rule (of the
 * copied rules only, with copies_only), plus slack for the backup itself:
 * 2 hours for rules that run at least daily, a day for the others. Daily
 * gives 26 h, weekly 8 days, monthly 32 days.
 */
static int derived_age(const bk_conf *k, int copies_only, double now, double *age, const char **from)
{
    int64_t best = -1;

    for (size_t i = 0; i < k->n_rules; i++) {
        int64_t gap;
        if (copies_only && !k->rules[i].copy)
            continue;
        if (bk_cron_max_gap(&k->rules[i].cron, (int64_t)now, &gap) == 0 && (best < 0 || gap < best)) {
            best = gap;
            *from = k->rules[i].name;
        }
    }
    if (best < 0)
        return -1;
    *age = (double)best + (best <= (int64_t)DAY ? 2 * 3600.0 : DAY);
    return 0;
}

/* Read and check a resource's configuration (also what validate() reports). */
static int conf_load(dr_resource *res, bk_conf *k, dr_error *err)
{
    double now = dr_now();
    char why[300];
    size_t n;

    memset(k, 0, sizeof(*k));
    k->plan = H->cfg_string(res, "plan");
    k->vault = H->cfg_string(res, "vault");
    k->dr_vault = H->cfg_string(res, "dr_vault") ? H->cfg_string(res, "dr_vault") : k->vault;
    k->selection = H->cfg_string(res, "selection");
    k->primary = H->primary_region(res);
    k->dr = H->dr_region(res);
    k->kms_key = H->cfg_string(res, "kms_key");
    k->dr_kms_key = H->cfg_string(res, "dr_kms_key");
    k->iam_role = H->cfg_string(res, "iam_role");
    k->lock = H->cfg_string(res, "vault_lock") ? H->cfg_string(res, "vault_lock") : "none";
    k->lock_min = H->cfg_int(res, "vault_lock_min_days");
    k->lock_max = H->cfg_int(res, "vault_lock_max_days");
    k->lock_changeable = H->cfg_int(res, "vault_lock_changeable_days");
    k->n_resources = H->cfg_list_count(res, "resources");
    k->n_tags = H->cfg_list_count(res, "selection_tags");
    k->lookback = H->cfg_float(res, "job_lookback");

    if (!name_ok(k->plan, 1, 50, "-_."))
        return dr_error_set(err, DR_ECONFIG, "plan '%s': 1 to 50 letters, digits, '-', '_' or '.'", k->plan);
    if (!name_ok(k->vault, 2, 50, "-_"))
        return dr_error_set(err, DR_ECONFIG, "vault '%s': 2 to 50 letters, digits, '-' or '_'", k->vault);
    if (!name_ok(k->dr_vault, 2, 50, "-_"))
        return dr_error_set(err, DR_ECONFIG, "dr_vault '%s': 2 to 50 letters, digits, '-' or '_'", k->dr_vault);
    if (!name_ok(k->selection, 1, 50, "-_."))
        return dr_error_set(err, DR_ECONFIG, "selection '%s': 1 to 50 letters, digits, '-', '_' or '.'",
                            k->selection);

    n = H->cfg_list_count(res, "rules");
    if (n == 0)
        return dr_error_set(err, DR_ECONFIG, "rules: at least one rule is needed");
    if (n > RULE_MAX)
        return dr_error_set(err, DR_ECONFIG, "rules: at most %d rules", RULE_MAX);
    for (size_t i = 0; i < n; i++) {
        const char *text = H->cfg_list_item(res, "rules", i);
        bk_rule *r = &k->rules[i];
        if (parse_rule(text, r, why, sizeof(why)) != 0)
            return dr_error_set(err, DR_ECONFIG, "rules[%zu] \"%s\": %s", i, text, why);
        for (size_t j = 0; j < i; j++)
            if (strcmp(k->rules[j].name, r->name) == 0)
                return dr_error_set(err, DR_ECONFIG, "rules[%zu] \"%s\": a rule named '%s' comes earlier", i, text,
                                    r->name);
        k->any_copy |= r->copy;
        k->n_rules++;
    }

    if (k->n_resources == 0 && k->n_tags == 0)
        return dr_error_set(err, DR_ECONFIG, "name what the plan protects: resources (ARNs) or selection_tags");
    for (size_t i = 0; i < k->n_resources; i++) {
        const char *arn = H->cfg_list_item(res, "resources", i);
        if (strncmp(arn, "arn:", 4) != 0 || strlen(arn) > 1000)
            return dr_error_set(err, DR_ECONFIG, "resources[%zu] '%s' is not an ARN", i, arn);
    }
    for (size_t i = 0; i < k->n_tags; i++) {
        const char *t = H->cfg_list_item(res, "selection_tags", i);
        const char *eq = strchr(t, '=');
        if (!eq || eq == t || strlen(t) > 400)
            return dr_error_set(err, DR_ECONFIG, "selection_tags[%zu] '%s' is not \"key=value\"", i, t);
    }
    if (k->iam_role && strncmp(k->iam_role, "arn:", 4) != 0)
        return dr_error_set(err, DR_ECONFIG, "iam_role '%s' is not an ARN", k->iam_role);
    if (k->kms_key && strncmp(k->kms_key, "arn:", 4) != 0)
        return dr_error_set(err, DR_ECONFIG, "kms_key '%s' is not an ARN", k->kms_key);
    if (k->dr_kms_key && strncmp(k->dr_kms_key, "arn:", 4) != 0)
        return dr_error_set(err, DR_ECONFIG, "dr_kms_key '%s' is not an ARN", k->dr_kms_key);

    if (strcmp(k->lock, "none") != 0) {
        if (k->lock_min < 1 || k->lock_min > 36500)
            return dr_error_set(err, DR_ECONFIG, "vault_lock_min_days must be 1 to 36500");
        if (k->lock_max != 0 && (k->lock_max < k->lock_min || k->lock_max > 36500))
            return dr_error_set(err, DR_ECONFIG, "vault_lock_max_days must be 0 or between vault_lock_min_days and 36500");
        if (strcmp(k->lock, "compliance") == 0 && k->lock_changeable < 3)
            return dr_error_set(err, DR_ECONFIG, "vault_lock_changeable_days must be at least 3");
        for (size_t i = 0; i < k->n_rules; i++) {
            const bk_rule *r = &k->rules[i];
            int keeps[2] = {r->keep_days, r->copy ? r->copy_keep_days : 0};
            for (int j = 0; j < 2; j++) {
                if (keeps[j] == 0)
                    continue;
                if (keeps[j] < k->lock_min || (k->lock_max && keeps[j] > k->lock_max))
                    return dr_error_set(err, DR_ECONFIG,
                                        "rule '%s': %skeep %dd is outside the Vault Lock retention "
                                        "(vault_lock_min_days %lld, vault_lock_max_days %lld): "
                                        "AWS Backup would refuse its recovery points",
                                        r->name, j ? "copy " : "", keeps[j], (long long)k->lock_min,
                                        (long long)k->lock_max);
            }
        }
    }

    if (H->cfg_has(res, "max_backup_age")) {
        k->max_backup_age = H->cfg_float(res, "max_backup_age");
    } else if (derived_age(k, 0, now, &k->max_backup_age, &k->backup_age_from) != 0) {
        return dr_error_set(err, DR_ECONFIG, "no rule runs twice before 2200: set max_backup_age");
    }
    if (!k->any_copy) {
        k->max_copy_age = 0;
    } else if (H->cfg_has(res, "max_copy_age")) {
        k->max_copy_age = H->cfg_float(res, "max_copy_age");
    } else if (derived_age(k, 1, now, &k->max_copy_age, &k->copy_age_from) != 0) {
        return dr_error_set(err, DR_ECONFIG, "no copied rule runs twice before 2200: set max_copy_age");
    }
    if (k->max_backup_age <= 0 || (k->any_copy && k->max_copy_age <= 0) || k->lookback <= 0)
        return dr_error_set(err, DR_ECONFIG, "max_backup_age, max_copy_age and job_lookback must be positive");
    return 0;
}

static int bk_validate(dr_resource *res, dr_error *err)
{
    bk_conf k;

    return conf_load(res, &k, err);
}

/* ======================================================================== */
/* Small helpers                                                            */
/* ======================================================================== */

/* Append a JSON string literal. */
static void json_str(dr_buf *b, const char *s)
{
    dr_buf_puts(b, "\"");
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            dr_buf_printf(b, "\\%c", ch);
        else if (ch < 0x20)
            dr_buf_printf(b, "\\u%04x", ch);
        else
            dr_buf_append(b, s, 1);
    }
    dr_buf_puts(b, "\"");
}

/* Append "; "-separated items to a list of findings. */
DR_PRINTF(2, 3)
static void item(dr_buf *b, const char *fmt, ...)
{
    char line[700];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (b->len)
        dr_buf_puts(b, "; ");
    dr_buf_puts(b, line);
}

/* Append a name to a ", "-separated list of names. */
static void name_add(dr_buf *b, const char *name)
{
    if (b->len)
        dr_buf_puts(b, ", ");
    dr_buf_puts(b, name);
}

static const char *partition_of(const char *region)
{
    if (strncmp(region, "cn-", 3) == 0)
        return "aws-cn";
    if (strncmp(region, "us-gov-", 7) == 0)
        return "aws-us-gov";
    if (strncmp(region, "us-isob-", 8) == 0)
        return "aws-iso-b";
    if (strncmp(region, "us-iso-", 7) == 0)
        return "aws-iso";
    return "aws";
}

static void iso(double epoch, char *out, size_t len)
{
    dr_time_format(epoch, 0, out, len);
}

static void age_text(double seconds, char *out, size_t len)
{
    dr_duration_format(seconds < 0 ? 0 : seconds, out, len);
}

/* The more severe of two statuses (UNKNOWN ranks between WARNING and CRITICAL). */
static dr_status worse(dr_status a, dr_status b)
{
    static const int rank[] = {0, 1, 3, 2};

    return rank[a] >= rank[b] ? a : b;
}

static int same_text(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Schedules compare with runs of spaces collapsed. */
static int same_schedule(const char *have, const char *want)
{
    if (!have)
        return 0;
    while (*have || *want) {
        if (isspace((unsigned char)*have) && isspace((unsigned char)*want)) {
            while (isspace((unsigned char)*have))
                have++;
            while (isspace((unsigned char)*want))
                want++;
            continue;
        }
        if (*have != *want)
            return 0;
        have++;
        want++;
    }
    return 1;
}

/* ======================================================================== */
/* AWS Backup calls (rest-json)                                             */
/* ======================================================================== */

/*
 * Answers of GET calls read ahead by verify, all at once (bk_prefetch), for
 * the hook's own thread: call() takes a kept answer instead of calling
 * (each once). Set and cleared by bk_verify around its checks.
 */
#define BK_PRE_MAX 24

typedef struct bk_pre_entry {
    dr_aws *c;
    const char *op;
    char *path, *query;
    int rc, taken;
    dr_error err;
    dr_doc *doc;
} bk_pre_entry;

typedef struct bk_pre {
    size_t n;
    bk_pre_entry e[BK_PRE_MAX];
} bk_pre;

static _Thread_local bk_pre *tl_pre;

static bk_pre_entry *pre_find(dr_aws *c, const char *op, const char *path, const char *query)
{
    for (size_t i = 0; tl_pre && i < tl_pre->n; i++) {
        bk_pre_entry *e = &tl_pre->e[i];
        if (!e->taken && e->c == c && strcmp(e->op, op) == 0 && strcmp(e->path, path) == 0 &&
            strcmp(e->query, query ? query : "") == 0)
            return e;
    }
    return NULL;
}

static int call(dr_aws *c, const char *op, const char *method, const char *path, const char *query, const char *body,
                dr_doc **out, dr_error *err)
{
    dr_aws_request req;
    dr_doc *doc = NULL;
    bk_pre_entry *pre;
    int rc;

    if (!body && strcmp(method, "GET") == 0 && (pre = pre_find(c, op, path, query)) != NULL) {
        pre->taken = 1;
        if (pre->rc != 0) {
            *err = pre->err;
            return pre->rc;
        }
        if (out)
            *out = pre->doc;
        else
            dr_doc_free(pre->doc);
        pre->doc = NULL;
        return 0;
    }
    memset(&req, 0, sizeof(req));
    req.struct_size = sizeof(req);
    req.service = "backup";
    req.operation = op;
    req.protocol = DR_AWS_REST_JSON;
    req.method = method;
    req.path = path;
    req.query = query && *query ? query : NULL;
    req.body = body;
    rc = dr_aws_rest(c, &req, &doc, err);
    if (out)
        *out = doc;
    else
        dr_doc_free(doc);
    return rc;
}

/* "/backup-vaults/<name><suffix>", "/backup/plans/<id><suffix>" ... */
static char *path_of(const char *prefix, const char *label, const char *mid, const char *label2, const char *suffix)
{
    dr_buf b = DR_BUF_INIT;

    dr_buf_puts(&b, prefix);
    dr_buf_uri_encode(&b, label, 0);
    if (mid)
        dr_buf_puts(&b, mid);
    if (label2)
        dr_buf_uri_encode(&b, label2, 0);
    if (suffix)
        dr_buf_puts(&b, suffix);
    return dr_buf_steal(&b);
}

/* Add "&name=value" (URI-encoded) to a query string. */
static void query_add(dr_buf *q, const char *name, const char *value)
{
    if (!value)
        return;
    if (q->len)
        dr_buf_puts(q, "&");
    dr_buf_puts(q, name);
    dr_buf_puts(q, "=");
    dr_buf_uri_encode(q, value, 0);
}

static void query_add_time(dr_buf *q, const char *name, double epoch)
{
    char t[40];

    iso(epoch, t, sizeof(t));
    query_add(q, name, t);
}

/* One page of a list call: return 0 to go on, 1 to stop, or a negative code. */
typedef int (*page_fn)(const dr_node *root, void *arg, dr_error *err);

/* GET every page of a list operation (NextToken paging). */
static int list_all(dr_aws *c, const char *op, const char *path, const char *query, page_fn fn, void *arg,
                    dr_error *err)
{
    char *token = NULL;
    int rc = 0;

    for (int page = 0; page < MAX_PAGES; page++) {
        dr_buf q = DR_BUF_INIT;
        dr_doc *doc = NULL;
        const char *next;

        dr_buf_puts(&q, query ? query : "");
        query_add(&q, "nextToken", token);
        if (q.failed) {
            dr_buf_free(&q);
            rc = dr_error_set(err, DR_ENOMEM, "out of memory");
            goto out;
        }
        rc = call(c, op, "GET", path, dr_buf_str(&q), NULL, &doc, err);
        dr_buf_free(&q);
        if (rc != 0)
            goto out;
        rc = fn(doc ? dr_doc_root(doc) : NULL, arg, err);
        next = doc ? dr_node_str(dr_doc_root(doc), "NextToken") : NULL;
        free(token);
        token = next && *next ? strdup(next) : NULL;
        dr_doc_free(doc);
        if (rc != 0 || !token)
            break;
    }
out:
    free(token);
    return rc < 0 ? rc : 0;
}

/* --- vaults --- */

struct vault_listed_arg {
    const char *name;
    int found;
};

static int vault_listed_page(const dr_node *root, void *arg, dr_error *err)
{
    struct vault_listed_arg *v = arg;

    (void)err;
    for (const dr_node *n = dr_node_first(dr_node_get(root, "BackupVaultList")); n; n = dr_node_next(n))
        if (same_text(dr_node_str(n, "BackupVaultName"), v->name)) {
            v->found = 1;
            return 1;
        }
    return 0;
}

/*
 * AWS answers DescribeBackupVault of a vault that does not exist with 403 AccessDeniedException, as it does when
 * the caller may not read it. ListBackupVaults tells the two apart: a vault it does not list does not exist.
 * Returns DR_ENOTFOUND (err set) when the vault is not listed, else leaves the denial as it was.
 */
static int confirm_denied_vault(dr_aws *c, const char *vault, dr_error *err)
{
    struct vault_listed_arg v = {vault, 0};
    dr_error lerr;
    int rc;

    dr_error_clear(&lerr);
    rc = list_all(c, "ListBackupVaults", "/backup-vaults/", NULL, vault_listed_page, &v, &lerr);
    if (rc != 0 || v.found)
        return err->code; /* cannot list, or the vault is there and really denied */
    return dr_error_set(err, DR_ENOTFOUND, "backup vault %s does not exist (not in ListBackupVaults)", vault);
}

static int describe_vault(dr_aws *c, const char *vault, dr_doc **out, dr_error *err)
{
    char *path = path_of("/backup-vaults/", vault, NULL, NULL, NULL);
    int rc;

    if (!path)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    rc = call(c, "DescribeBackupVault", "GET", path, NULL, NULL, out, err);
    free(path);
    if (rc == DR_EDENIED)
        rc = confirm_denied_vault(c, vault, err);
    return rc;
}

static int create_vault(dr_aws *c, const char *vault, const char *kms_key, dr_error *err)
{
    char *path = path_of("/backup-vaults/", vault, NULL, NULL, NULL);
    dr_buf body = DR_BUF_INIT;
    char uuid[40];
    int rc;

    dr_uuid4(uuid);
    dr_buf_puts(&body, "{\"CreatorRequestId\":");
    json_str(&body, uuid);
    if (kms_key) {
        dr_buf_puts(&body, ",\"EncryptionKeyArn\":");
        json_str(&body, kms_key);
    }
    dr_buf_puts(&body, "}");
    if (!path || body.failed)
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
    else
        rc = call(c, "CreateBackupVault", "PUT", path, NULL, dr_buf_str(&body), NULL, err);
    free(path);
    dr_buf_free(&body);
    return rc;
}

static int put_vault_lock(dr_aws *c, const bk_conf *k, const char *vault, dr_error *err)
{
    char *path = path_of("/backup-vaults/", vault, NULL, NULL, "/vault-lock");
    dr_buf body = DR_BUF_INIT;
    int rc;

    dr_buf_printf(&body, "{\"MinRetentionDays\":%lld", (long long)k->lock_min);
    if (k->lock_max)
        dr_buf_printf(&body, ",\"MaxRetentionDays\":%lld", (long long)k->lock_max);
    if (strcmp(k->lock, "compliance") == 0)
        dr_buf_printf(&body, ",\"ChangeableForDays\":%lld", (long long)k->lock_changeable);
    dr_buf_puts(&body, "}");
    if (!path || body.failed)
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
    else
        rc = call(c, "PutBackupVaultLockConfiguration", "PUT", path, NULL, dr_buf_str(&body), NULL, err);
    free(path);
    dr_buf_free(&body);
    return rc;
}

/* --- plans --- */

struct find_plan_arg {
    const char *name;
    char *id;
    size_t idlen;
    int found;
};

static int find_plan_page(const dr_node *root, void *arg, dr_error *err)
{
    struct find_plan_arg *a = arg;

    (void)err;
    for (const dr_node *p = dr_node_first(dr_node_get(root, "BackupPlansList")); p; p = dr_node_next(p)) {
        const char *id = dr_node_str(p, "BackupPlanId");
        if (same_text(dr_node_str(p, "BackupPlanName"), a->name) && id && !dr_node_get(p, "DeletionDate")) {
            snprintf(a->id, a->idlen, "%s", id);
            a->found = 1;
            return 1;
        }
    }
    return 0;
}

/* The id of the (not deleted) plan named `name`: 0, DR_ENOTFOUND, or another error. */
static int find_plan(dr_aws *c, const char *name, char *id, size_t idlen, dr_error *err)
{
    struct find_plan_arg a = {name, id, idlen, 0};
    int rc = list_all(c, "ListBackupPlans", "/backup/plans/", "maxResults=100", find_plan_page, &a, err);

    if (rc != 0)
        return rc;
    if (!a.found)
        return dr_error_set(err, DR_ENOTFOUND, "backup plan '%s' not found", name);
    return 0;
}

static int get_plan(dr_aws *c, const char *id, dr_doc **out, dr_error *err)
{
    char *path = path_of("/backup/plans/", id, "/", NULL, NULL);
    int rc;

    if (!path)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    rc = call(c, "GetBackupPlan", "GET", path, NULL, NULL, out, err);
    free(path);
    return rc;
}

/* {"BackupPlanName":...,"Rules":[...]} as the configuration wants it. */
static void plan_json(dr_buf *b, const bk_conf *k, const char *dr_vault_arn)
{
    dr_buf_puts(b, "{\"BackupPlanName\":");
    json_str(b, k->plan);
    dr_buf_puts(b, ",\"Rules\":[");
    for (size_t i = 0; i < k->n_rules; i++) {
        const bk_rule *r = &k->rules[i];
        dr_buf_puts(b, i ? ",{\"RuleName\":" : "{\"RuleName\":");
        json_str(b, r->name);
        dr_buf_puts(b, ",\"TargetBackupVaultName\":");
        json_str(b, k->vault);
        dr_buf_puts(b, ",\"ScheduleExpression\":");
        json_str(b, r->schedule);
        dr_buf_printf(b, ",\"Lifecycle\":{\"DeleteAfterDays\":%d}", r->keep_days);
        if (r->copy) {
            dr_buf_puts(b, ",\"CopyActions\":[{\"DestinationBackupVaultArn\":");
            json_str(b, dr_vault_arn);
            dr_buf_printf(b, ",\"Lifecycle\":{\"DeleteAfterDays\":%d}}]", r->copy_keep_days);
        }
        dr_buf_puts(b, "}");
    }
    dr_buf_puts(b, "]}");
}

static int create_plan(dr_aws *c, const bk_conf *k, const char *dr_vault_arn, char *id, size_t idlen, dr_error *err)
{
    dr_buf body = DR_BUF_INIT;
    dr_doc *doc = NULL;
    char uuid[40];
    const char *new_id;
    int rc;

    dr_uuid4(uuid);
    dr_buf_puts(&body, "{\"BackupPlan\":");
    plan_json(&body, k, dr_vault_arn);
    dr_buf_puts(&body, ",\"CreatorRequestId\":");
    json_str(&body, uuid);
    dr_buf_puts(&body, "}");
    if (body.failed) {
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    rc = call(c, "CreateBackupPlan", "PUT", "/backup/plans/", NULL, dr_buf_str(&body), &doc, err);
    if (rc != 0)
        goto out;
    new_id = dr_node_str(dr_doc_root(doc), "BackupPlanId");
    if (!new_id) {
        rc = dr_error_set(err, DR_EPARSE, "backup CreateBackupPlan %s: no BackupPlanId in the answer",
                          dr_aws_region(c));
        goto out;
    }
    snprintf(id, idlen, "%s", new_id);
out:
    dr_doc_free(doc);
    dr_buf_free(&body);
    return rc;
}

static int update_plan(dr_aws *c, const bk_conf *k, const char *id, const char *dr_vault_arn, dr_error *err)
{
    char *path = path_of("/backup/plans/", id, NULL, NULL, NULL);
    dr_buf body = DR_BUF_INIT;
    int rc;

    dr_buf_puts(&body, "{\"BackupPlan\":");
    plan_json(&body, k, dr_vault_arn);
    dr_buf_puts(&body, "}");
    if (!path || body.failed)
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
    else
        rc = call(c, "UpdateBackupPlan", "POST", path, NULL, dr_buf_str(&body), NULL, err);
    free(path);
    dr_buf_free(&body);
    return rc;
}

/* --- selections --- */

struct find_sel_arg {
    const char *name;
    char *id;
    size_t idlen;
    int found;
};

static int find_sel_page(const dr_node *root, void *arg, dr_error *err)
{
    struct find_sel_arg *a = arg;

    (void)err;
    for (const dr_node *s = dr_node_first(dr_node_get(root, "BackupSelectionsList")); s; s = dr_node_next(s)) {
        const char *id = dr_node_str(s, "SelectionId");
        if (same_text(dr_node_str(s, "SelectionName"), a->name) && id) {
            snprintf(a->id, a->idlen, "%s", id);
            a->found = 1;
            return 1;
        }
    }
    return 0;
}

/* The selection named `name` of a plan, read whole: 0 with *out, DR_ENOTFOUND, or another error. */
static int read_selection(dr_aws *c, const char *plan_id, const char *name, char *id, size_t idlen, dr_doc **out,
                          dr_error *err)
{
    struct find_sel_arg a = {name, id, idlen, 0};
    char *list = path_of("/backup/plans/", plan_id, "/selections/", NULL, NULL);
    char *get = NULL;
    int rc;

    *out = NULL;
    if (!list) {
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    rc = list_all(c, "ListBackupSelections", list, "maxResults=100", find_sel_page, &a, err);
    if (rc != 0)
        goto out;
    if (!a.found) {
        rc = dr_error_set(err, DR_ENOTFOUND, "backup selection '%s' not found", name);
        goto out;
    }
    get = path_of("/backup/plans/", plan_id, "/selections/", id, NULL);
    if (!get) {
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    rc = call(c, "GetBackupSelection", "GET", get, NULL, NULL, out, err);
out:
    free(list);
    free(get);
    return rc;
}

static int create_selection(dr_aws *c, dr_resource *res, const bk_conf *k, const char *plan_id, const char *role,
                            dr_error *err)
{
    char *path = path_of("/backup/plans/", plan_id, "/selections/", NULL, NULL);
    dr_buf body = DR_BUF_INIT;
    char uuid[40];
    int rc;

    dr_uuid4(uuid);
    dr_buf_puts(&body, "{\"BackupSelection\":{\"SelectionName\":");
    json_str(&body, k->selection);
    dr_buf_puts(&body, ",\"IamRoleArn\":");
    json_str(&body, role);
    dr_buf_puts(&body, ",\"Resources\":[");
    for (size_t i = 0; i < k->n_resources; i++) {
        if (i)
            dr_buf_puts(&body, ",");
        json_str(&body, H->cfg_list_item(res, "resources", i));
    }
    dr_buf_puts(&body, "],\"ListOfTags\":[");
    for (size_t i = 0; i < k->n_tags; i++) {
        const char *t = H->cfg_list_item(res, "selection_tags", i);
        const char *eq = strchr(t, '=');
        char key[400];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - t), t);
        dr_buf_puts(&body, i ? ",{\"ConditionType\":\"STRINGEQUALS\",\"ConditionKey\":"
                             : "{\"ConditionType\":\"STRINGEQUALS\",\"ConditionKey\":");
        json_str(&body, key);
        dr_buf_puts(&body, ",\"ConditionValue\":");
        json_str(&body, eq + 1);
        dr_buf_puts(&body, "}");
    }
    dr_buf_puts(&body, "]},\"CreatorRequestId\":");
    json_str(&body, uuid);
    dr_buf_puts(&body, "}");
    if (!path || body.failed)
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
    else
        rc = call(c, "CreateBackupSelection", "PUT", path, NULL, dr_buf_str(&body), NULL, err);
    free(path);
    dr_buf_free(&body);
    return rc;
}

static int delete_selection(dr_aws *c, const char *plan_id, const char *sel_id, dr_error *err)
{
    char *path = path_of("/backup/plans/", plan_id, "/selections/", sel_id, NULL);
    int rc;

    if (!path)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    rc = call(c, "DeleteBackupSelection", "DELETE", path, NULL, NULL, NULL, err);
    free(path);
    return rc;
}

/* ======================================================================== */
/* Comparing what AWS holds with the configuration                          */
/* ======================================================================== */

/* Differences of one rule of the plan from the configured one. */
typedef struct rule_diff {
    dr_buf rule;      /* vault, schedule, retention */
    dr_buf copy;      /* copy actions */
    int copy_missing; /* the copy to the DR vault is absent */
} rule_diff;

static void days_text(double days, char *out, size_t len)
{
    if (days > 0)
        snprintf(out, len, "%.0fd", days);
    else
        snprintf(out, len, "forever");
}

static void diff_rule(const bk_conf *k, const bk_rule *want, const dr_node *have, const char *dr_vault_arn,
                      rule_diff *d)
{
    const char *vault = dr_node_str(have, "TargetBackupVaultName");
    const char *sched = dr_node_str(have, "ScheduleExpression");
    double keep = dr_node_num(have, "Lifecycle.DeleteAfterDays", 0);
    int found = 0;
    char t[32];

    if (!same_text(vault, k->vault))
        item(&d->rule, "vault %s -> %s", vault ? vault : "(none)", k->vault);
    if (!same_schedule(sched, want->schedule))
        item(&d->rule, "schedule %s -> %s", sched ? sched : "(none)", want->schedule);
    if ((long)keep != want->keep_days) {
        days_text(keep, t, sizeof(t));
        item(&d->rule, "keep %s -> %dd", t, want->keep_days);
    }
    for (const dr_node *a = dr_node_first(dr_node_get(have, "CopyActions")); a; a = dr_node_next(a)) {
        const char *dest = dr_node_str(a, "DestinationBackupVaultArn");
        double ck = dr_node_num(a, "Lifecycle.DeleteAfterDays", 0);
        days_text(ck, t, sizeof(t));
        if (want->copy && !found && same_text(dest, dr_vault_arn)) {
            found = 1;
            if ((long)ck != want->copy_keep_days)
                item(&d->copy, "copy keep %s -> %dd", t, want->copy_keep_days);
        } else {
            item(&d->copy, "copy to %s (keep %s) is not configured", dest ? dest : "(none)", t);
        }
    }
    if (want->copy && !found) {
        item(&d->copy, "copy to %s keep %dd is missing", dr_vault_arn, want->copy_keep_days);
        d->copy_missing = 1;
    }
}

static const dr_node *plan_rule(const dr_node *plan_root, const char *name)
{
    for (const dr_node *r = dr_node_first(dr_node_get(plan_root, "BackupPlan.Rules")); r; r = dr_node_next(r))
        if (same_text(dr_node_str(r, "RuleName"), name))
            return r;
    return NULL;
}

static const bk_rule *conf_rule(const bk_conf *k, const char *name)
{
    for (size_t i = 0; i < k->n_rules; i++)
        if (same_text(k->rules[i].name, name))
            return &k->rules[i];
    return NULL;
}

static void rule_text(const bk_conf *k, const bk_rule *r, char *out, size_t len)
{
    if (r->copy)
        snprintf(out, len, "%s keep %dd, copy to %s/%s keep %dd", r->schedule, r->keep_days, k->dr, k->dr_vault,
                 r->copy_keep_days);
    else
        snprintf(out, len, "%s keep %dd", r->schedule, r->keep_days);
}

/* Differences of a selection from the configuration; `missing` counts what it leaves unprotected. */
static void diff_selection(dr_resource *res, const bk_conf *k, const dr_node *sel, const char *role, dr_buf *d,
                           int *missing)
{
    const dr_node *have_res = dr_node_get(sel, "BackupSelection.Resources");
    const dr_node *have_tags = dr_node_get(sel, "BackupSelection.ListOfTags");
    const char *have_role = dr_node_str(sel, "BackupSelection.IamRoleArn");

    *missing = 0;
    for (size_t i = 0; i < k->n_resources; i++) {
        const char *arn = H->cfg_list_item(res, "resources", i);
        int in = 0;
        for (const dr_node *n = dr_node_first(have_res); n && !in; n = dr_node_next(n))
            in = same_text(dr_node_text(n), arn);
        if (!in) {
            item(d, "resource %s is not selected", arn);
            (*missing)++;
        }
    }
    for (const dr_node *n = dr_node_first(have_res); n; n = dr_node_next(n)) {
        int want = 0;
        for (size_t i = 0; i < k->n_resources && !want; i++)
            want = same_text(dr_node_text(n), H->cfg_list_item(res, "resources", i));
        if (!want)
            item(d, "resource %s is selected but not configured", dr_node_text(n) ? dr_node_text(n) : "?");
    }
    for (size_t i = 0; i < k->n_tags; i++) {
        const char *t = H->cfg_list_item(res, "selection_tags", i);
        size_t kl = (size_t)(strchr(t, '=') - t);
        int in = 0;
        for (const dr_node *n = dr_node_first(have_tags); n && !in; n = dr_node_next(n)) {
            const char *ck = dr_node_str(n, "ConditionKey");
            in = ck && strlen(ck) == kl && strncmp(ck, t, kl) == 0 &&
                 same_text(dr_node_str(n, "ConditionValue"), t + kl + 1) &&
                 same_text(dr_node_str(n, "ConditionType"), "STRINGEQUALS");
        }
        if (!in) {
            item(d, "tag %s is not selected", t);
            (*missing)++;
        }
    }
    for (const dr_node *n = dr_node_first(have_tags); n; n = dr_node_next(n)) {
        const char *ck = dr_node_str(n, "ConditionKey"), *cv = dr_node_str(n, "ConditionValue");
        int want = 0;
        for (size_t i = 0; i < k->n_tags && !want && ck && cv; i++) {
            const char *t = H->cfg_list_item(res, "selection_tags", i);
            size_t kl = (size_t)(strchr(t, '=') - t);
            want = strlen(ck) == kl && strncmp(ck, t, kl) == 0 && strcmp(cv, t + kl + 1) == 0;
        }
        if (!want)
            item(d, "tag %s=%s is selected but not configured", ck ? ck : "?", cv ? cv : "?");
    }
    if (!same_text(have_role, role))
        item(d, "role %s -> %s", have_role ? have_role : "(none)", role);
}

/* ======================================================================== */
/* Context of one hook call                                                 */
/* ======================================================================== */

typedef struct bk_ctx {
    dr_resource *res;
    bk_conf k;
    dr_aws *p, *d;            /* primary and DR clients; NULL when they could not be made */
    dr_error perr, derr;      /* why not */
    char account[32];
    char dr_vault_arn[300];
    char role[300];
    double now;
} bk_ctx;

static int ctx_open(bk_ctx *x, dr_resource *res, dr_error *err)
{
    memset(x, 0, sizeof(*x));
    x->res = res;
    x->now = dr_now();
    if (conf_load(res, &x->k, err) != 0)
        return err->code;
    x->p = H->aws(res, x->k.primary, &x->perr);
    x->d = H->aws(res, x->k.dr, &x->derr);
    return 0;
}

/*
 * The account id (for the DR vault's ARN and the default role), asked in the
 * primary region and, when that fails, in the DR region.
 */
static int ctx_account(bk_ctx *x, dr_error *err)
{
    dr_error e2;
    int rc;

    if (x->account[0])
        return 0;
    dr_error_clear(&e2);
    rc = x->p ? dr_aws_account_id(x->p, x->account, sizeof(x->account), err)
              : dr_error_set(err, x->perr.code ? x->perr.code : DR_ENETWORK, "%s", x->perr.message);
    if (rc != 0 && x->d && dr_aws_account_id(x->d, x->account, sizeof(x->account), &e2) == 0)
        rc = 0;
    if (rc != 0) {
        x->account[0] = '\0';
        return rc;
    }
    snprintf(x->dr_vault_arn, sizeof(x->dr_vault_arn), "arn:%s:backup:%s:%s:backup-vault:%s", partition_of(x->k.dr),
             x->k.dr, x->account, x->k.dr_vault);
    if (x->k.iam_role)
        snprintf(x->role, sizeof(x->role), "%s", x->k.iam_role);
    else
        snprintf(x->role, sizeof(x->role), "arn:%s:iam::%s:role/%s", partition_of(x->k.primary), x->account,
                 DEFAULT_ROLE);
    return 0;
}

/* The client of a region, or a negative code with err copied from why it is missing. */
static dr_aws *client(bk_ctx *x, int dr, dr_error *err)
{
    dr_aws *c = dr ? x->d : x->p;
    const dr_error *why = dr ? &x->derr : &x->perr;

    if (!c) {
        *err = *why;
        if (!err->code)
            dr_error_set(err, DR_ENETWORK, "no AWS client for %s", dr ? x->k.dr : x->k.primary);
    }
    return c;
}

/* The protected resources, with short labels for the check names. */
typedef struct bk_target {
    char arn[1024];
    char label[160];
} bk_target;

typedef struct bk_targets {
    bk_target *v;
    size_t n;
} bk_targets;

static int targets_add(bk_targets *t, const char *arn)
{
    bk_target *v;

    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].arn, arn) == 0)
            return 0;
    v = realloc(t->v, (t->n + 1) * sizeof(*v));
    if (!v)
        return DR_ENOMEM;
    t->v = v;
    snprintf(v[t->n].arn, sizeof(v[t->n].arn), "%s", arn);
    t->n++;
    return 0;
}

/* "arn:aws:rds:us-east-1:1:cluster:roadcall-aurora-prod" -> "roadcall-aurora-prod"; the ARN when two collide. */
static void targets_label(bk_targets *t)
{
    for (size_t i = 0; i < t->n; i++) {
        const char *a = t->v[i].arn, *s = a;
        for (const char *p = a; *p; p++)
            if (*p == ':' || *p == '/')
                s = p + 1;
        snprintf(t->v[i].label, sizeof(t->v[i].label), "%.159s", *s ? s : a);
    }
    for (size_t i = 0; i < t->n; i++)
        for (size_t j = i + 1; j < t->n; j++)
            if (strcmp(t->v[i].label, t->v[j].label) == 0) {
                snprintf(t->v[i].label, sizeof(t->v[i].label), "%.159s", t->v[i].arn);
                snprintf(t->v[j].label, sizeof(t->v[j].label), "%.159s", t->v[j].arn);
            }
}

/* ======================================================================== */
/* Recovery points and jobs                                                 */
/* ======================================================================== */

static int restorable(const char *status)
{
    return same_text(status, "COMPLETED") || same_text(status, "AVAILABLE");
}

/* The newest restorable recovery point of one resource in a vault. */
typedef struct bk_point {
    int found;
    double created;
    char arn[1024];
    char rule[64];
} bk_point;

static int newest_page(const dr_node *root, void *arg, dr_error *err)
{
    bk_point *pt = arg;

    (void)err;
    for (const dr_node *r = dr_node_first(dr_node_get(root, "RecoveryPoints")); r; r = dr_node_next(r)) {
        double t;
        if (!restorable(dr_node_str(r, "Status")) || dr_node_time(r, "CreationDate", &t) != 0)
            continue;
        if (!pt->found || t > pt->created) {
            const char *rule = dr_node_str(r, "CreatedBy.BackupRuleName");
            pt->found = 1;
            pt->created = t;
            snprintf(pt->arn, sizeof(pt->arn), "%s", dr_node_str(r, "RecoveryPointArn") ? dr_node_str(r, "RecoveryPointArn") : "?");
            snprintf(pt->rule, sizeof(pt->rule), "%s", rule ? rule : "");
        }
    }
    return 0;
}

static int newest_point(dr_aws *c, const char *vault, const char *resource_arn, bk_point *pt, dr_error *err)
{
    char *path = path_of("/backup-vaults/", vault, "/recovery-points/", NULL, NULL);
    dr_buf q = DR_BUF_INIT;
    int rc;

    memset(pt, 0, sizeof(*pt));
    dr_buf_puts(&q, "maxResults=100");
    query_add(&q, "resourceArn", resource_arn);
    if (!path || q.failed)
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
    else
        rc = list_all(c, "ListRecoveryPointsByBackupVault", path, dr_buf_str(&q), newest_page, pt, err);
    if (rc == DR_EDENIED)
        rc = confirm_denied_vault(c, vault, err);
    free(path);
    dr_buf_free(&q);
    return rc;
}

struct discover_arg {
    bk_targets *t;
    const char *plan_id; /* keep only the plan's recovery points, when AWS says which plan made them */
};

static int discover_page(const dr_node *root, void *arg, dr_error *err)
{
    struct discover_arg *a = arg;

    for (const dr_node *r = dr_node_first(dr_node_get(root, "RecoveryPoints")); r; r = dr_node_next(r)) {
        const char *arn = dr_node_str(r, "ResourceArn");
        const char *by = dr_node_str(r, "CreatedBy.BackupPlanId");
        if (!arn || (a->plan_id && by && strcmp(by, a->plan_id) != 0))
            continue;
        if (targets_add(a->t, arn) != 0)
            return dr_error_set(err, DR_ENOMEM, "out of memory");
    }
    return 0;
}

/*
 * What the plan protects: the configured ARNs, and with selection_tags also
 * every resource that has recovery points in `vault` (made by the plan, when
 * plan_id is known).
 */
static int protected_targets(bk_ctx *x, dr_aws *c, const char *vault, const char *plan_id, bk_targets *t,
                             dr_error *err)
{
    int rc = 0;

    for (size_t i = 0; i < x->k.n_resources; i++)
        if (targets_add(t, H->cfg_list_item(x->res, "resources", i)) != 0)
            return dr_error_set(err, DR_ENOMEM, "out of memory");
    if (x->k.n_tags > 0) {
        struct discover_arg a = {t, plan_id};
        char *path = path_of("/backup-vaults/", vault, "/recovery-points/", NULL, NULL);
        dr_buf q = DR_BUF_INIT;
        dr_buf_puts(&q, "maxResults=100");
        query_add(&q, "backupPlanId", plan_id);
        rc = path && !q.failed
                 ? list_all(c, "ListRecoveryPointsByBackupVault", path, dr_buf_str(&q), discover_page, &a, err)
                 : dr_error_set(err, DR_ENOMEM, "out of memory");
        if (rc == DR_EDENIED)
            rc = confirm_denied_vault(c, vault, err);
        free(path);
        dr_buf_free(&q);
    }
    targets_label(t);
    return rc;
}

/* The targets as seen from one region's vault (the region is only asked with selection_tags). */
static int targets_for(bk_ctx *x, int dr, const char *plan_id, bk_targets *t, dr_error *err)
{
    dr_aws *c = NULL;

    if (x->k.n_tags > 0 && !(c = client(x, dr, err)))
        return err->code;
    return protected_targets(x, c, dr ? x->k.dr_vault : x->k.vault, plan_id, t, err);
}

static int is_target(const bk_ctx *x, const bk_targets *t, const char *arn)
{
    if (x->k.n_tags > 0)
        return 1; /* a tag selection protects whatever it finds */
    for (size_t i = 0; i < t->n; i++)
        if (same_text(t->v[i].arn, arn))
            return 1;
    return 0;
}

/* Failed jobs in the look-back window. */
typedef struct job_scan {
    const bk_ctx *x;
    const bk_targets *t;
    double since;
    const char *vault_key;  /* "BackupVaultName" or "DestinationBackupVaultArn" */
    const char *vault;      /* what it must be (the list call filters on it too) */
    const char *id_key;   /* "BackupJobId" or "CopyJobId" */
    const char *list_key; /* "BackupJobs" or "CopyJobs" */
    int jobs, failed, partial;
    double worst_time;
    char worst[700];
} job_scan;

static int job_page(const dr_node *root, void *arg, dr_error *err)
{
    job_scan *s = arg;

    (void)err;
    for (const dr_node *j = dr_node_first(dr_node_get(root, s->list_key)); j; j = dr_node_next(j)) {
        const char *state = dr_node_str(j, "State");
        const char *arn = dr_node_str(j, "ResourceArn");
        int bad = same_text(state, "FAILED") || same_text(state, "ABORTED") || same_text(state, "EXPIRED");
        double t = 0;

        const char *vault = dr_node_str(j, s->vault_key);

        if (!is_target(s->x, s->t, arn) || (vault && strcmp(vault, s->vault) != 0) ||
            (dr_node_time(j, "CreationDate", &t) == 0 && t < s->since))
            continue;
        s->jobs++;
        if (!bad && !same_text(state, "PARTIAL"))
            continue;
        if (bad)
            s->failed++;
        else
            s->partial++;
        if (t >= s->worst_time) {
            const char *msg = dr_node_str(j, "StatusMessage");
            char when[40];
            iso(t, when, sizeof(when));
            s->worst_time = t;
            snprintf(s->worst, sizeof(s->worst), "job %s for %s %s (created %s)%s%s",
                     dr_node_str(j, s->id_key) ? dr_node_str(j, s->id_key) : "?", arn ? arn : "?", state, when,
                     msg ? ": " : "", msg ? msg : "");
        }
    }
    return 0;
}

/* ======================================================================== */
/* configure                                                                */
/* ======================================================================== */

/* Report one change: planned in a dry run, else done or failed after `rc`. */
static int changed(dr_resource *res, const dr_hook_args *a, int rc, const char *action, const char *target,
                   const char *detail, dr_error *err)
{
    char d[900];

    if (a->dry_run) {
        H->change(res, DR_CHANGE_PLANNED, action, target, detail);
        return 0;
    }
    if (rc != 0) {
        snprintf(d, sizeof(d), "%s: %s", detail ? detail : action, err->message);
        H->change(res, DR_CHANGE_FAILED, action, target, d);
        return rc;
    }
    H->change(res, DR_CHANGE_DONE, action, target, detail);
    return 0;
}

static int lock_matches(const bk_conf *k, const dr_node *v)
{
    int compliance = dr_node_get(v, "LockDate") != NULL;

    return dr_node_bool(v, "Locked", 0) && (long long)dr_node_num(v, "MinRetentionDays", 0) == k->lock_min &&
           (long long)dr_node_num(v, "MaxRetentionDays", 0) == k->lock_max &&
           compliance == (strcmp(k->lock, "compliance") == 0);
}

/* A vault with its key and lock: create it, lock it. */
static int configure_vault(bk_ctx *x, const dr_hook_args *a, int dr, dr_error *err)
{
    const bk_conf *k = &x->k;
    const char *region = dr ? k->dr : k->primary;
    const char *vault = dr ? k->dr_vault : k->vault;
    const char *key = dr ? k->dr_kms_key : k->kms_key;
    dr_aws *c = client(x, dr, err);
    dr_doc *doc = NULL;
    char target[200], detail[600];
    int exists, rc;

    if (!c)
        return err->code;
    snprintf(target, sizeof(target), "%s/%s", region, vault);
    H->progress(x->res, "reading backup vault %s", target);
    rc = describe_vault(c, vault, &doc, err);
    if (rc != 0 && rc != DR_ENOTFOUND)
        goto out;
    exists = rc == 0;
    if (!exists) {
        snprintf(detail, sizeof(detail), "encrypted with %s", key ? key : "the AWS Backup key");
        dr_error_clear(err);
        rc = a->dry_run ? 0 : create_vault(c, vault, key, err);
        if ((rc = changed(x->res, a, rc, "create backup vault", target, detail, err)) != 0)
            goto out;
    } else if (key && !same_text(dr_node_str(dr_doc_root(doc), "EncryptionKeyArn"), key)) {
        const char *have = dr_node_str(dr_doc_root(doc), "EncryptionKeyArn");
        rc = dr_error_set(err, DR_ESTATE,
                          "backup vault %s is encrypted with %s, not %s; a vault's key cannot be changed: "
                          "name a new vault or drop the key setting",
                          target, have ? have : "the AWS Backup key", key);
        goto out;
    }
    if (strcmp(k->lock, "none") != 0 && (!exists || !lock_matches(k, dr_doc_root(doc)))) {
        char max[32] = "any";
        if (k->lock_max)
            snprintf(max, sizeof(max), "%lld", (long long)k->lock_max);
        snprintf(detail, sizeof(detail), "%s mode, retention %lld to %s days", k->lock, (long long)k->lock_min, max);
        rc = a->dry_run ? 0 : put_vault_lock(c, k, vault, err);
        if ((rc = changed(x->res, a, rc, "lock backup vault", target, detail, err)) != 0)
            goto out;
    }
    rc = 0;
out:
    dr_doc_free(doc);
    return rc;
}

/* One rule an update of the plan changes. */
typedef struct rule_change {
    const char *action; /* "add backup rule", "update backup rule", "remove backup rule" */
    char target[200];   /* "<plan>/<rule>" */
    char detail[1200];
} rule_change;

/* The plan: create it, or update the rules that differ (each reported on its own). */
static int configure_plan(bk_ctx *x, const dr_hook_args *a, char *plan_id, size_t idlen, int *created,
                          dr_error *err)
{
    const bk_conf *k = &x->k;
    dr_doc *doc = NULL;
    dr_buf what = DR_BUF_INIT;
    rule_change *ch = NULL;
    size_t n = 0;
    int rc;

    *created = 0;
    H->progress(x->res, "reading backup plan %s", k->plan);
    rc = find_plan(x->p, k->plan, plan_id, idlen, err);
    if (rc == DR_ENOTFOUND) {
        for (size_t i = 0; i < k->n_rules; i++) {
            char r[400];
            rule_text(k, &k->rules[i], r, sizeof(r));
            item(&what, "%s: %s", k->rules[i].name, r);
        }
        dr_error_clear(err);
        rc = a->dry_run ? 0 : create_plan(x->p, k, x->dr_vault_arn, plan_id, idlen, err);
        rc = changed(x->res, a, rc, "create backup plan", k->plan, dr_buf_str(&what), err);
        *created = 1;
        goto out;
    }
    if (rc != 0)
        goto out;
    rc = get_plan(x->p, plan_id, &doc, err);
    if (rc != 0)
        goto out;

    /* rule by rule: what the update changes */
    ch = calloc(k->n_rules + dr_node_count(dr_node_get(dr_doc_root(doc), "BackupPlan.Rules")) + 1, sizeof(*ch));
    if (!ch) {
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < k->n_rules; i++) {
        const bk_rule *r = &k->rules[i];
        const dr_node *have = plan_rule(dr_doc_root(doc), r->name);
        rule_diff d = {DR_BUF_INIT, DR_BUF_INIT, 0};

        if (!have) {
            ch[n].action = "add backup rule";
            rule_text(k, r, ch[n].detail, sizeof(ch[n].detail));
        } else {
            diff_rule(k, r, have, x->dr_vault_arn, &d);
            ch[n].action = d.rule.len || d.copy.len ? "update backup rule" : NULL;
            snprintf(ch[n].detail, sizeof(ch[n].detail), "%s%s%s", dr_buf_str(&d.rule),
                     d.rule.len && d.copy.len ? "; " : "", dr_buf_str(&d.copy));
            dr_buf_free(&d.rule);
            dr_buf_free(&d.copy);
        }
        if (ch[n].action)
            snprintf(ch[n++].target, sizeof(ch[0].target), "%s/%s", k->plan, r->name);
    }
    for (const dr_node *r = dr_node_first(dr_node_get(dr_doc_root(doc), "BackupPlan.Rules")); r; r = dr_node_next(r)) {
        const char *name = dr_node_str(r, "RuleName");
        const char *sched = dr_node_str(r, "ScheduleExpression");
        if (name && conf_rule(k, name))
            continue;
        ch[n].action = "remove backup rule";
        snprintf(ch[n].target, sizeof(ch[n].target), "%s/%s", k->plan, name ? name : "?");
        snprintf(ch[n++].detail, sizeof(ch[0].detail), "not in the configuration (%s)", sched ? sched : "no schedule");
    }
    if (n == 0)
        goto out;

    /* one update carries them all */
    if (!a->dry_run) {
        H->progress(x->res, "updating backup plan %s", k->plan);
        rc = update_plan(x->p, k, plan_id, x->dr_vault_arn, err);
        if (rc != 0) {
            char d[700];
            snprintf(d, sizeof(d), "%zu rule change(s): %s", n, err->message);
            H->change(x->res, DR_CHANGE_FAILED, "update backup plan", k->plan, d);
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++)
        H->change(x->res, a->dry_run ? DR_CHANGE_PLANNED : DR_CHANGE_DONE, ch[i].action, ch[i].target, ch[i].detail);
out:
    free(ch);
    dr_buf_free(&what);
    dr_doc_free(doc);
    return rc;
}

/* The selection: create it, or replace it when it differs (AWS cannot change a selection). */
static int configure_selection(bk_ctx *x, const dr_hook_args *a, const char *plan_id, int plan_created,
                               dr_error *err)
{
    const bk_conf *k = &x->k;
    dr_doc *doc = NULL;
    char sel_id[200] = "", target[200];
    dr_buf diff = DR_BUF_INIT, what = DR_BUF_INIT;
    int missing, rc;

    snprintf(target, sizeof(target), "%s/%s", k->plan, k->selection);
    for (size_t i = 0; i < k->n_resources; i++)
        item(&what, "%s", H->cfg_list_item(x->res, "resources", i));
    for (size_t i = 0; i < k->n_tags; i++)
        item(&what, "tag %s", H->cfg_list_item(x->res, "selection_tags", i));
    item(&what, "role %s", x->role);

    if (plan_created && a->dry_run) {
        rc = changed(x->res, a, 0, "create backup selection", target, dr_buf_str(&what), err);
        goto out;
    }
    H->progress(x->res, "reading backup selection %s", target);
    rc = read_selection(x->p, plan_id, k->selection, sel_id, sizeof(sel_id), &doc, err);
    if (rc == DR_ENOTFOUND) {
        dr_error_clear(err);
        rc = a->dry_run ? 0 : create_selection(x->p, x->res, k, plan_id, x->role, err);
        rc = changed(x->res, a, rc, "create backup selection", target, dr_buf_str(&what), err);
        goto out;
    }
    if (rc != 0)
        goto out;
    diff_selection(x->res, k, dr_doc_root(doc), x->role, &diff, &missing);
    if (diff.len == 0)
        goto out;
    if (!a->dry_run) {
        rc = delete_selection(x->p, plan_id, sel_id, err);
        if (rc == 0)
            rc = create_selection(x->p, x->res, k, plan_id, x->role, err);
    }
    rc = changed(x->res, a, rc, "replace backup selection", target, dr_buf_str(&diff), err);
out:
    dr_buf_free(&diff);
    dr_buf_free(&what);
    dr_doc_free(doc);
    return rc;
}

/* ---- the service role and the region's settings ---- */

#define BACKUP_TRUST "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":" \
                     "{\"Service\":\"backup.amazonaws.com\"},\"Action\":\"sts:AssumeRole\"}]}"

static int iam_call(bk_ctx *x, const char *op, const dr_buf *form, dr_error *err)
{
    dr_doc *doc = NULL;
    int rc = dr_aws_query(x->p, "iam", op, "2010-05-08", dr_buf_str(form), &doc, err);

    dr_doc_free(doc);
    return rc;
}

/*
 * The role the selection names must exist: AWSBackupDefaultServiceRole exists only once someone created it (the
 * console does so on first use). Without iam_role, configure creates it as the console does; a configured role
 * that does not exist is an error naming it.
 */
static int configure_service_role(bk_ctx *x, const dr_hook_args *a, dr_error *err)
{
    static const char *const policies[] = {"AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores"};
    const char *name = strrchr(x->role, '/') ? strrchr(x->role, '/') + 1 : x->role;
    dr_buf form = DR_BUF_INIT;
    char target[320], arn[300];
    int rc;

    snprintf(target, sizeof(target), "iam role %s", name);
    H->progress(x->res, "reading %s", target);
    dr_aws_form_add(&form, "RoleName", name);
    rc = x->p ? iam_call(x, "GetRole", &form, err) : dr_error_set(err, x->perr.code ? x->perr.code : DR_ENETWORK,
                                                                   "%s", x->perr.message);
    if (rc != DR_ENOTFOUND)
        goto out;
    dr_error_clear(err);
    if (x->k.iam_role) {
        rc = dr_error_set(err, DR_ECONFIG, "iam_role %s does not exist: create it (trusted by backup.amazonaws.com, "
                          "with AWSBackupServiceRolePolicyForBackup) or leave iam_role unset", x->k.iam_role);
        H->change(x->res, DR_CHANGE_FAILED, "check backup service role", target, err->message);
        goto out;
    }
    if (!a->dry_run) {
        dr_buf_reset(&form);
        dr_aws_form_add(&form, "RoleName", name);
        dr_aws_form_add(&form, "Path", "/service-role/");
        dr_aws_form_add(&form, "AssumeRolePolicyDocument", BACKUP_TRUST);
        dr_aws_form_add(&form, "Description", "Default role of AWS Backup, created by dr-agent");
        rc = iam_call(x, "CreateRole", &form, err);
        if (rc != 0 && dr_error_is(err, "EntityAlreadyExists")) {
            dr_error_clear(err);
            rc = 0;
        }
        for (size_t i = 0; rc == 0 && i < sizeof(policies) / sizeof(policies[0]); i++) {
            snprintf(arn, sizeof(arn), "arn:%s:iam::aws:policy/service-role/%s", partition_of(x->k.primary),
                     policies[i]);
            dr_buf_reset(&form);
            dr_aws_form_add(&form, "RoleName", name);
            dr_aws_form_add(&form, "PolicyArn", arn);
            rc = iam_call(x, "AttachRolePolicy", &form, err);
        }
    }
    rc = changed(x->res, a, rc, "create backup service role", target,
                 "path /service-role/, trusted by backup.amazonaws.com, with AWSBackupServiceRolePolicyForBackup and "
                 "AWSBackupServiceRolePolicyForRestores",
                 err);
out:
    dr_buf_free(&form);
    return rc;
}

/* Whether the plan protects DynamoDB tables by ARN (what a tag selection finds is not known before it runs). */
static int protects_dynamodb(const bk_ctx *x)
{
    for (size_t i = 0; i < x->k.n_resources; i++)
        if (strstr(H->cfg_list_item(x->res, "resources", i), ":dynamodb:"))
            return 1;
    return 0;
}

/*
 * Copies of DynamoDB backups to another region need AWS Backup's advanced DynamoDB backup features, a setting of
 * the source region (ResourceTypeManagementPreference DynamoDB). Turned on when allowed, else reported.
 */
static int configure_region_settings(bk_ctx *x, const dr_hook_args *a, dr_error *err)
{
    static const char body[] = "{\"ResourceTypeManagementPreference\":{\"DynamoDB\":true}}";
    dr_doc *doc = NULL;
    char target[200];
    int rc;

    if (!x->k.any_copy || !protects_dynamodb(x))
        return 0;
    snprintf(target, sizeof(target), "backup region settings %s", x->k.primary);
    H->progress(x->res, "reading %s", target);
    rc = call(x->p, "DescribeRegionSettings", "GET", "/account-settings", NULL, NULL, &doc, err);
    if (rc != 0)
        goto out;
    if (dr_node_bool(dr_doc_root(doc), "ResourceTypeManagementPreference.DynamoDB", 0))
        goto out;
    if (!H->cfg_bool(x->res, "dynamodb_advanced_backup")) {
        H->log(x->res, DR_LOG_WARN,
               "AWS Backup's advanced DynamoDB backup features are off in %s: copies of DynamoDB backups to %s fail "
               "until they are on (aws backup update-region-settings --region %s "
               "--resource-type-management-preference DynamoDB=true)",
               x->k.primary, x->k.dr, x->k.primary);
        goto out;
    }
    rc = a->dry_run ? 0 : call(x->p, "UpdateRegionSettings", "PUT", "/account-settings", NULL, body, NULL, err);
    rc = changed(x->res, a, rc, "enable advanced DynamoDB backup", target,
                 "ResourceTypeManagementPreference DynamoDB=true: copies of DynamoDB backups to the DR region need it",
                 err);
out:
    dr_doc_free(doc);
    return rc;
}

static int bk_configure(dr_resource *res, const dr_hook_args *a, dr_error *err)
{
    bk_ctx x;
    char plan_id[200] = "";
    int created = 0, rc;

    rc = ctx_open(&x, res, err);
    if (rc != 0)
        return rc;
    if (!client(&x, 0, err) || (x.k.any_copy && !client(&x, 1, err)))
        return err->code;
    rc = ctx_account(&x, err);
    if (rc != 0)
        return dr_error_prefix(err, "account id: ");

    /* 1. the vaults: the rules write to the primary one, the copies go to the DR one */
    rc = configure_vault(&x, a, 0, err);
    if (rc == 0 && x.k.any_copy)
        rc = configure_vault(&x, a, 1, err);
    /* 2. the region's opt-in that copies of DynamoDB backups need */
    if (rc == 0)
        rc = configure_region_settings(&x, a, err);
    /* 3. the plan with its rules and copy actions */
    if (rc == 0)
        rc = configure_plan(&x, a, plan_id, sizeof(plan_id), &created, err);
    /* 4. the role AWS Backup assumes, then what it protects */
    if (rc == 0)
        rc = configure_service_role(&x, a, err);
    if (rc == 0)
        rc = configure_selection(&x, a, plan_id, created, err);
    return rc;
}

/* ======================================================================== */
/* verify                                                                   */
/* ======================================================================== */

/* A vault exists, with the configured key and lock. Returns 1 when it exists. */
static int verify_vault(bk_ctx *x, int dr)
{
    const bk_conf *k = &x->k;
    const char *region = dr ? k->dr : k->primary;
    const char *vault = dr ? k->dr_vault : k->vault;
    const char *key = dr ? k->dr_kms_key : k->kms_key;
    const char *n_vault = dr ? "dr_backup_vault" : "backup_vault";
    const char *n_key = dr ? "dr_vault_encryption" : "vault_encryption";
    const char *n_lock = dr ? "dr_vault_lock" : "vault_lock";
    int lock = strcmp(k->lock, "none") != 0;
    dr_aws *c;
    dr_doc *doc = NULL;
    dr_error err;
    int rc;

    dr_error_clear(&err);
    c = client(x, dr, &err);
    rc = c ? describe_vault(c, vault, &doc, &err) : err.code;
    if (rc != 0 && rc != DR_ENOTFOUND) {
        dr_report_unknown(H, x->res, n_vault, "present", &err);
        if (key)
            dr_report_unknown(H, x->res, n_key, key, &err);
        if (lock)
            dr_report_unknown(H, x->res, n_lock, k->lock, &err);
        return 0;
    }
    if (rc == DR_ENOTFOUND) {
        /* the key and lock findings are part of this one */
        dr_report_state(H, x->res, n_vault, DR_STATUS_CRITICAL, "missing", "present",
                        "backup vault %s does not exist in %s%s", vault, region,
                        dr ? ": copies to the DR region fail" : ": backups fail");
        return 0;
    }
    {
        const dr_node *v = dr_doc_root(doc);
        const char *state = dr_node_str(v, "VaultState");
        int ok = !state || strcmp(state, "AVAILABLE") == 0 || strcmp(state, "CREATING") == 0;
        dr_report_state(H, x->res, n_vault, ok ? DR_STATUS_OK : DR_STATUS_CRITICAL, state ? state : "present",
                        "present", "backup vault %s in %s, %.0f recovery points", vault, region,
                        dr_node_num(v, "NumberOfRecoveryPoints", 0));
        if (key) {
            const char *have = dr_node_str(v, "EncryptionKeyArn");
            dr_report_state(H, x->res, n_key, same_text(have, key) ? DR_STATUS_OK : DR_STATUS_WARNING,
                            have ? have : "AWS Backup key", key, "the key that encrypts backup vault %s", vault);
        }
        if (lock) {
            char want[120], have[120];
            snprintf(want, sizeof(want), "%s min %lld max %lld", k->lock, (long long)k->lock_min,
                     (long long)k->lock_max);
            if (!dr_node_bool(v, "Locked", 0))
                snprintf(have, sizeof(have), "none");
            else
                snprintf(have, sizeof(have), "%s min %.0f max %.0f",
                         dr_node_get(v, "LockDate") ? "compliance" : "governance", dr_node_num(v, "MinRetentionDays", 0),
                         dr_node_num(v, "MaxRetentionDays", 0));
            dr_report_state(H, x->res, n_lock, lock_matches(k, v) ? DR_STATUS_OK : DR_STATUS_WARNING, have, want,
                            "Vault Lock of backup vault %s (max 0: no maximum)", vault);
        }
    }
    dr_doc_free(doc);
    return 1;
}

/* The plan, its rules, its copy actions, its selection. Fills plan_id when the plan exists. */
static void verify_plan(bk_ctx *x, char *plan_id, size_t idlen)
{
    const bk_conf *k = &x->k;
    dr_doc *plan = NULL, *sel = NULL;
    dr_error err, aerr;
    dr_buf names_want = DR_BUF_INIT, names_have = DR_BUF_INIT, rules = DR_BUF_INIT, copies = DR_BUF_INIT;
    dr_buf copy_want = DR_BUF_INIT, copy_have = DR_BUF_INIT, seld = DR_BUF_INIT;
    dr_status rules_st = DR_STATUS_OK, copy_st = DR_STATUS_OK;
    char sel_id[200];
    int rc, missing;

    dr_error_clear(&err);
    dr_error_clear(&aerr);
    plan_id[0] = '\0';
    for (size_t i = 0; i < k->n_rules; i++) {
        name_add(&names_want, k->rules[i].name);
        if (k->rules[i].copy)
            name_add(&copy_want, k->rules[i].name);
    }
    rc = x->p ? find_plan(x->p, k->plan, plan_id, idlen, &err) : (err = x->perr, err.code ? err.code : DR_ENETWORK);
    if (rc == 0)
        rc = get_plan(x->p, plan_id, &plan, &err);
    if (rc == DR_ENOTFOUND) {
        /* rules, copies and selection are part of this finding */
        plan_id[0] = '\0';
        dr_report_state(H, x->res, "backup_plan", DR_STATUS_CRITICAL, "missing", "present",
                        "backup plan %s does not exist in %s: nothing is backed up", k->plan, k->primary);
        goto out;
    }
    if (rc != 0) {
        plan_id[0] = '\0';
        dr_report_unknown(H, x->res, "backup_plan", "present", &err);
        dr_report_unknown(H, x->res, "backup_rules", dr_buf_str(&names_want), &err);
        if (k->any_copy)
            dr_report_unknown(H, x->res, "copy_action", dr_buf_str(&copy_want), &err);
        dr_report_unknown(H, x->res, "backup_selection", k->selection, &err);
        goto out;
    }
    dr_report_state(H, x->res, "backup_plan", DR_STATUS_OK, "present", "present", "backup plan %s (%s) in %s",
                    k->plan, plan_id, k->primary);

    /* rules: schedule, retention, vault; copies on their own */
    if (k->any_copy && ctx_account(x, &aerr) != 0) {
        dr_report_unknown(H, x->res, "copy_action", dr_buf_str(&copy_want), &aerr);
    }
    for (size_t i = 0; i < k->n_rules; i++) {
        const bk_rule *r = &k->rules[i];
        const dr_node *have = plan_rule(dr_doc_root(plan), r->name);
        rule_diff d = {DR_BUF_INIT, DR_BUF_INIT, 0};
        if (!have) {
            item(&rules, "rule %s is missing", r->name);
            rules_st = DR_STATUS_CRITICAL;
            continue;
        }
        name_add(&names_have, r->name);
        diff_rule(k, r, have, x->dr_vault_arn, &d);
        if (d.rule.len) {
            item(&rules, "rule %s: %s", r->name, dr_buf_str(&d.rule));
            rules_st = worse(rules_st, DR_STATUS_WARNING);
        }
        if (d.copy.len) {
            item(&copies, "rule %s: %s", r->name, dr_buf_str(&d.copy));
            copy_st = worse(copy_st, d.copy_missing ? DR_STATUS_CRITICAL : DR_STATUS_WARNING);
        }
        if (r->copy && !d.copy_missing)
            name_add(&copy_have, r->name);
        dr_buf_free(&d.rule);
        dr_buf_free(&d.copy);
    }
    for (const dr_node *r = dr_node_first(dr_node_get(dr_doc_root(plan), "BackupPlan.Rules")); r; r = dr_node_next(r)) {
        const char *name = dr_node_str(r, "RuleName");
        if (!name || !conf_rule(k, name)) {
            item(&rules, "rule %s is not in the configuration", name ? name : "?");
            rules_st = worse(rules_st, DR_STATUS_WARNING);
        }
    }
    dr_report_state(H, x->res, "backup_rules", rules_st, names_have.len ? dr_buf_str(&names_have) : "none",
                    dr_buf_str(&names_want), "%s", rules.len ? dr_buf_str(&rules) : "schedules, retention and vault as configured");
    if (k->any_copy && x->account[0])
        dr_report_state(H, x->res, "copy_action", copy_st, copy_have.len ? dr_buf_str(&copy_have) : "none",
                        dr_buf_str(&copy_want), "%s",
                        copies.len ? dr_buf_str(&copies) : "copied to the DR vault with the configured retention");

    /* selection */
    rc = read_selection(x->p, plan_id, k->selection, sel_id, sizeof(sel_id), &sel, &err);
    if (rc == DR_ENOTFOUND) {
        dr_report_state(H, x->res, "backup_selection", DR_STATUS_CRITICAL, "missing", k->selection,
                        "plan %s has no selection %s: it protects nothing", k->plan, k->selection);
    } else if (rc != 0) {
        dr_report_unknown(H, x->res, "backup_selection", k->selection, &err);
    } else if (!x->account[0] && ctx_account(x, &aerr) != 0) {
        dr_report_unknown(H, x->res, "backup_selection", k->selection, &aerr);
    } else {
        diff_selection(x->res, k, dr_doc_root(sel), x->role, &seld, &missing);
        dr_report_state(H, x->res, "backup_selection",
                        missing ? DR_STATUS_CRITICAL : seld.len ? DR_STATUS_WARNING : DR_STATUS_OK, k->selection,
                        k->selection, "%s", seld.len ? dr_buf_str(&seld) : "selects the configured resources");
    }
out:
    dr_doc_free(plan);
    dr_doc_free(sel);
    dr_buf_free(&names_want);
    dr_buf_free(&names_have);
    dr_buf_free(&rules);
    dr_buf_free(&copies);
    dr_buf_free(&copy_want);
    dr_buf_free(&copy_have);
    dr_buf_free(&seld);
}

/*
 * The newest restorable recovery point of each target in a vault against a
 * maximum age; returns the oldest of those newest ages (the observed RPO),
 * or -1 when one of them could not be read or does not exist.
 */
static double verify_ages(bk_ctx *x, int dr, const bk_targets *t, const char *check, double max_age,
                          const dr_error *list_err)
{
    const char *vault = dr ? x->k.dr_vault : x->k.vault;
    const char *region = dr ? x->k.dr : x->k.primary;
    double worst = 0;
    dr_aws *c;
    dr_error err;
    char name[200], want[40];

    dr_duration_format(max_age, want, sizeof(want)); /* "32d", not seconds: an UNKNOWN check has no unit */
    if (list_err) { /* the tagged resources could not be listed: the configured ones are still judged */
        dr_report_unknown(H, x->res, check, want, list_err);
        worst = -1;
        if (t->n == 0)
            return -1;
    }
    if (t->n == 0) {
        dr_report_state(H, x->res, check, DR_STATUS_CRITICAL, "none", "a recovery point",
                        "no recovery point of plan %s in backup vault %s (%s)", x->k.plan, vault, region);
        return -1;
    }
    for (size_t i = 0; i < t->n; i++) {
        bk_point pt;
        char when[40], age[32], lim[32];
        int rc;

        snprintf(name, sizeof(name), "%s:%s", check, t->v[i].label);
        dr_error_clear(&err);
        c = client(x, dr, &err);
        rc = c ? newest_point(c, vault, t->v[i].arn, &pt, &err) : err.code;
        if (rc == DR_ENOTFOUND) {
            dr_report_state(H, x->res, name, DR_STATUS_CRITICAL, "no vault", "a recovery point",
                            "backup vault %s does not exist in %s", vault, region);
            worst = -1;
            continue;
        }
        if (rc != 0) {
            dr_report_unknown(H, x->res, name, want, &err);
            worst = -1;
            continue;
        }
        dr_duration_format(max_age, lim, sizeof(lim));
        if (!pt.found) {
            dr_report_state(H, x->res, name, DR_STATUS_CRITICAL, "none", "a recovery point",
                            "no completed recovery point of %s in backup vault %s (%s)", t->v[i].arn, vault, region);
            worst = -1;
            continue;
        }
        iso(pt.created, when, sizeof(when));
        age_text(x->now - pt.created, age, sizeof(age));
        dr_report_number(H, x->res, name, x->now - pt.created > max_age ? DR_STATUS_CRITICAL : DR_STATUS_OK,
                         x->now - pt.created, max_age, "seconds", "newest %s: %s, created %s (%s ago%s%s; limit %s)",
                         dr ? "copy in the DR vault" : "recovery point", pt.arn, when, age, pt.rule[0] ? ", rule " : "",
                         pt.rule, lim);
        if (worst >= 0 && x->now - pt.created > worst)
            worst = x->now - pt.created;
    }
    return worst;
}

static void verify_jobs(bk_ctx *x, const bk_targets *t, int copies)
{
    const char *check = copies ? "copy_jobs" : "backup_jobs";
    job_scan s;
    dr_buf q = DR_BUF_INIT;
    dr_error err;
    char since[40], span[32];
    int rc = 0;

    memset(&s, 0, sizeof(s));
    dr_error_clear(&err);
    s.x = x;
    s.t = t;
    s.since = x->now - x->k.lookback;
    s.id_key = copies ? "CopyJobId" : "BackupJobId";
    s.list_key = copies ? "CopyJobs" : "BackupJobs";
    s.vault_key = copies ? "DestinationBackupVaultArn" : "BackupVaultName";
    if (copies && !x->account[0])
        rc = ctx_account(x, &err);
    s.vault = copies ? x->dr_vault_arn : x->k.vault;
    dr_buf_puts(&q, "maxResults=100");
    query_add_time(&q, "createdAfter", s.since);
    query_add(&q, copies ? "destinationVaultArn" : "backupVaultName", s.vault);
    if (rc == 0 && !client(x, 0, &err))
        rc = err.code;
    if (rc == 0 && q.failed)
        rc = dr_error_set(&err, DR_ENOMEM, "out of memory");
    if (rc == 0)
        rc = list_all(x->p, copies ? "ListCopyJobs" : "ListBackupJobs", copies ? "/copy-jobs/" : "/backup-jobs/",
                      dr_buf_str(&q), job_page, &s, &err);
    dr_buf_free(&q);
    if (rc != 0) {
        dr_report_unknown(H, x->res, check, "0", &err);
        return;
    }
    iso(s.since, since, sizeof(since));
    age_text(x->k.lookback, span, sizeof(span));
    if (s.failed + s.partial == 0)
        dr_report_number(H, x->res, check, DR_STATUS_OK, 0, 0, "count", "%d %s job(s) in the last %s, none failed",
                         s.jobs, copies ? "copy" : "backup", span);
    else
        dr_report_number(H, x->res, check, s.failed ? DR_STATUS_CRITICAL : DR_STATUS_WARNING, s.failed + s.partial, 0,
                         "count", "%d of %d %s job(s) since %s did not complete; newest: %s", s.failed + s.partial,
                         s.jobs, copies ? "copy" : "backup", since, s.worst);
}

/* After a failover: what the DR region can restore from. */
/* The newest recovery point's age: what a restore would lose (not the replication RPO; a 1.0 host knows only that). */
static void backup_age(dr_resource *res, double seconds)
{
    if (DR_HAS_MEMBER(H, dr_host_api, recovery_point_age))
        H->recovery_point_age(res, seconds);
    else
        H->rpo_observed(res, seconds);
}

static int verify_dr_side(bk_ctx *x)
{
    bk_targets t = {NULL, 0};
    dr_error err;
    double worst;
    int rc;

    if (!x->k.any_copy) {
        dr_report_state(H, x->res, "dr_copy", DR_STATUS_CRITICAL, "none", "a copy rule",
                        "no rule of plan %s copies to %s: there is nothing to restore from there", x->k.plan, x->k.dr);
        return 0;
    }
    verify_vault(x, 1);
    dr_error_clear(&err);
    rc = targets_for(x, 1, NULL, &t, &err);
    worst = verify_ages(x, 1, &t, "dr_copy_age", x->k.max_copy_age, rc != 0 ? &err : NULL);
    if (worst >= 0)
        backup_age(x->res, worst);
    free(t.v);
    return 0;
}

/* ---- verify's reads at once ---- */

/* One GET read on a batch's worker (dr_aws_rest itself: call() belongs to the hook's thread). */
static void pre_run(void *arg)
{
    bk_pre_entry *e = arg;
    dr_aws_request req;

    memset(&req, 0, sizeof(req));
    req.struct_size = sizeof(req);
    req.service = "backup";
    req.operation = e->op;
    req.protocol = DR_AWS_REST_JSON;
    req.method = "GET";
    req.path = e->path;
    req.query = e->query[0] ? e->query : NULL;
    dr_error_clear(&e->err);
    e->rc = dr_aws_rest(e->c, &req, &e->doc, &e->err);
}

/* Queue a GET (path owned by the entry; query copied). */
static bk_pre_entry *pre_add(bk_pre *p, dr_aws *c, const char *op, char *path, const char *query)
{
    bk_pre_entry *e;

    if (!c || !path || p->n == BK_PRE_MAX) {
        free(path);
        return NULL;
    }
    e = &p->e[p->n];
    memset(e, 0, sizeof(*e));
    e->c = c;
    e->op = op;
    e->path = path;
    e->query = strdup(query ? query : "");
    if (!e->query) {
        free(path);
        return NULL;
    }
    p->n++;
    return e;
}

static void pre_free(bk_pre *p)
{
    for (size_t i = 0; p && i < p->n; i++) {
        free(p->e[i].path);
        free(p->e[i].query);
        dr_doc_free(p->e[i].doc);
    }
    free(p);
}

/*
 * The GET calls verify makes, made ahead, each as soon as what it needs is known: vaults, jobs and the
 * configured resources' recovery points at once; beside them the plan chain (ListBackupPlans, then the plan
 * and its selections together, then the selection as soon as the selections are listed) and the copy chain
 * (the account, then the copy jobs into the DR vault). verify then takes them.
 */
static pthread_mutex_t pre_mu = PTHREAD_MUTEX_INITIALIZER; /* pre_add from the chains at once */

static bk_pre_entry *pre_add_locked(bk_pre *p, dr_aws *c, const char *op, char *path, const char *query)
{
    bk_pre_entry *e;

    pthread_mutex_lock(&pre_mu);
    e = pre_add(p, c, op, path, query);
    pthread_mutex_unlock(&pre_mu);
    return e;
}

typedef struct bk_chain {
    bk_ctx *x;
    bk_pre *p;
    bk_pre_entry *plans, *sels;
    char plan_id[200];
} bk_chain;

static void sel_chain(void *arg)
{
    bk_chain *ch = arg;
    char sel_id[200] = "";
    struct find_sel_arg a;
    dr_error e;
    bk_pre_entry *get;

    if (!ch->sels)
        return;
    pre_run(ch->sels);
    if (ch->sels->rc != 0 || !ch->sels->doc || dr_node_str(dr_doc_root(ch->sels->doc), "NextToken"))
        return; /* verify lists every page itself */
    memset(&a, 0, sizeof(a));
    a.name = ch->x->k.selection;
    a.id = sel_id;
    a.idlen = sizeof(sel_id);
    dr_error_clear(&e);
    find_sel_page(dr_doc_root(ch->sels->doc), &a, &e);
    if (!a.found || !sel_id[0])
        return;
    get = pre_add_locked(ch->p, ch->x->p, "GetBackupSelection",
                         path_of("/backup/plans/", ch->plan_id, "/selections/", sel_id, NULL), NULL);
    if (get)
        pre_run(get);
}

static void plan_chain(void *arg)
{
    bk_chain *ch = arg;
    struct find_plan_arg a = {ch->x->k.plan, ch->plan_id, sizeof(ch->plan_id), 0};
    bk_pre_entry *plan;
    dr_aws_task t[2];
    size_t n = 0;
    dr_error e;

    if (!ch->plans)
        return;
    pre_run(ch->plans);
    if (ch->plans->rc != 0 || !ch->plans->doc || dr_node_str(dr_doc_root(ch->plans->doc), "NextToken"))
        return;
    dr_error_clear(&e);
    find_plan_page(dr_doc_root(ch->plans->doc), &a, &e);
    if (!a.found || !ch->plan_id[0])
        return;
    plan = pre_add_locked(ch->p, ch->x->p, "GetBackupPlan", path_of("/backup/plans/", ch->plan_id, "/", NULL, NULL),
                          NULL);
    ch->sels = pre_add_locked(ch->p, ch->x->p, "ListBackupSelections",
                              path_of("/backup/plans/", ch->plan_id, "/selections/", NULL, NULL), "maxResults=100");
    if (plan)
        t[n++] = (dr_aws_task){pre_run, plan};
    t[n++] = (dr_aws_task){sel_chain, ch};
    dr_aws_run_all(t, n, 0);
}

static void copy_chain(void *arg)
{
    bk_chain *ch = arg;
    bk_ctx *x = ch->x;
    dr_buf q = DR_BUF_INIT;
    bk_pre_entry *jobs;
    dr_error e;

    dr_error_clear(&e);
    if (ctx_account(x, &e) != 0 || !x->k.any_copy)
        return;
    dr_buf_puts(&q, "maxResults=100");
    query_add_time(&q, "createdAfter", x->now - x->k.lookback);
    query_add(&q, "destinationVaultArn", x->dr_vault_arn);
    if (!q.failed && (jobs = pre_add_locked(ch->p, x->p, "ListCopyJobs", path_of("/copy-jobs/", "", NULL, NULL, NULL),
                                            dr_buf_str(&q))) != NULL)
        pre_run(jobs);
    dr_buf_free(&q);
}

static bk_pre *bk_prefetch(bk_ctx *x)
{
    bk_pre *p = calloc(1, sizeof(*p));
    dr_buf q = DR_BUF_INIT;
    bk_chain ch;
    dr_aws_task t[BK_PRE_MAX + 2];
    size_t n = 0, simple;

    if (!p || !x->p)
        return p;
    memset(&ch, 0, sizeof(ch));
    ch.x = x;
    ch.p = p;
    pre_add(p, x->p, "DescribeBackupVault", path_of("/backup-vaults/", x->k.vault, NULL, NULL, NULL), NULL);
    if (x->k.any_copy)
        pre_add(p, x->d, "DescribeBackupVault", path_of("/backup-vaults/", x->k.dr_vault, NULL, NULL, NULL), NULL);
    dr_buf_puts(&q, "maxResults=100");
    query_add_time(&q, "createdAfter", x->now - x->k.lookback);
    query_add(&q, "backupVaultName", x->k.vault);
    if (!q.failed)
        pre_add(p, x->p, "ListBackupJobs", path_of("/backup-jobs/", "", NULL, NULL, NULL), dr_buf_str(&q));
    for (size_t i = 0; i < x->k.n_resources; i++) {
        const char *arn = H->cfg_list_item(x->res, "resources", i);
        for (int dr = 0; dr <= x->k.any_copy; dr++) {
            dr_buf_reset(&q);
            dr_buf_puts(&q, "maxResults=100");
            query_add(&q, "resourceArn", arn);
            if (!q.failed)
                pre_add(p, dr ? x->d : x->p, "ListRecoveryPointsByBackupVault",
                        path_of("/backup-vaults/", dr ? x->k.dr_vault : x->k.vault, "/recovery-points/", NULL, NULL),
                        dr_buf_str(&q));
        }
    }
    simple = p->n;
    ch.plans = pre_add(p, x->p, "ListBackupPlans", path_of("/backup/plans/", "", NULL, NULL, NULL), "maxResults=100");
    /* the chains add entries while the simple reads run: those are taken from the array before */
    t[n++] = (dr_aws_task){plan_chain, &ch};
    t[n++] = (dr_aws_task){copy_chain, &ch};
    for (size_t i = 0; i < simple; i++)
        t[n++] = (dr_aws_task){pre_run, &p->e[i]};
    dr_aws_run_all(t, n, 0);
    dr_buf_free(&q);
    return p;
}

static int bk_verify(dr_resource *res, const dr_hook_args *a, dr_error *err)
{
    bk_ctx x;
    bk_targets t = {NULL, 0}, td = {NULL, 0};
    dr_error terr, tderr;
    char plan_id[200];
    double worst;
    int rc, trc, tdrc = 0;

    rc = ctx_open(&x, res, err);
    if (rc != 0)
        return rc;
    if (a->serving == DR_SERVING_DR)
        return verify_dr_side(&x);
    tl_pre = bk_prefetch(&x);

    /* vaults, plan, rules, copy actions, selection */
    verify_vault(&x, 0);
    if (x.k.any_copy)
        verify_vault(&x, 1);
    verify_plan(&x, plan_id, sizeof(plan_id));

    /* freshness of the newest recovery point of each protected resource, in both regions */
    dr_error_clear(&terr);
    dr_error_clear(&tderr);
    trc = targets_for(&x, 0, plan_id[0] ? plan_id : NULL, &t, &terr);
    worst = verify_ages(&x, 0, &t, "recovery_point_age", x.k.max_backup_age, trc != 0 ? &terr : NULL);
    if (worst >= 0)
        backup_age(res, worst);
    if (x.k.any_copy) {
        /* the DR side is judged for what the primary side protects, plus what it holds itself */
        for (size_t i = 0; i < t.n && tdrc == 0; i++)
            if (targets_add(&td, t.v[i].arn) != 0)
                tdrc = dr_error_set(&tderr, DR_ENOMEM, "out of memory");
        if (tdrc == 0)
            tdrc = targets_for(&x, 1, NULL, &td, &tderr);
        verify_ages(&x, 1, &td, "dr_copy_age", x.k.max_copy_age, tdrc != 0 ? &tderr : NULL);
    }

    /* jobs of the look-back window */
    verify_jobs(&x, &t, 0);
    if (x.k.any_copy)
        verify_jobs(&x, &t, 1);
    pre_free(tl_pre);
    tl_pre = NULL;
    free(t.v);
    free(td.v);
    return 0;
}

/* ======================================================================== */
/* failover                                                                 */
/* ======================================================================== */

static int bk_failover(dr_resource *res, const dr_hook_args *a, dr_error *err)
{
    bk_ctx x;
    bk_targets t = {NULL, 0};
    dr_buf none = DR_BUF_INIT;
    dr_error e;
    int rc;

    (void)a;
    rc = ctx_open(&x, res, err);
    if (rc != 0)
        return rc;
    if (!x.k.any_copy)
        return dr_error_set(err, DR_ESTATE, "no rule of plan %s copies to %s: there is nothing to restore from there",
                            x.k.plan, x.k.dr);
    if (!client(&x, 1, err))
        return err->code;
    H->progress(res, "listing recovery points in %s/%s", x.k.dr, x.k.dr_vault);
    rc = targets_for(&x, 1, NULL, &t, err);
    if (rc != 0)
        goto out;
    if (t.n == 0)
        item(&none, "no recovery point of the plan in %s/%s", x.k.dr, x.k.dr_vault);
    for (size_t i = 0; i < t.n; i++) {
        bk_point pt;
        char name[200], when[40], age[32], want[32];

        snprintf(name, sizeof(name), "dr_restore_point:%s", t.v[i].label);
        dr_error_clear(&e);
        if (newest_point(x.d, x.k.dr_vault, t.v[i].arn, &pt, &e) != 0) {
            dr_report_unknown(H, res, name, "a recovery point", &e);
            item(&none, "%s (%s)", t.v[i].arn, e.message);
            continue;
        }
        if (!pt.found) {
            dr_report_state(H, res, name, DR_STATUS_CRITICAL, "none", "a recovery point",
                            "no restorable recovery point of %s in %s/%s", t.v[i].arn, x.k.dr, x.k.dr_vault);
            item(&none, "%s", t.v[i].arn);
            continue;
        }
        iso(pt.created, when, sizeof(when));
        age_text(x.now - pt.created, age, sizeof(age));
        dr_duration_format(x.k.max_copy_age, want, sizeof(want));
        dr_report_number(H, res, name, x.now - pt.created > x.k.max_copy_age ? DR_STATUS_CRITICAL : DR_STATUS_OK,
                         x.now - pt.created, x.k.max_copy_age, "seconds",
                         "restore %s from %s (created %s, %s old; limit %s) in backup vault %s, %s", t.v[i].arn,
                         pt.arn, when, age, want, x.k.dr_vault, x.k.dr);
        H->log(res, DR_LOG_INFO, "restore option for %s: %s (created %s, %s old)", t.v[i].arn, pt.arn, when, age);
    }
    if (none.len) {
        rc = dr_error_set(err, DR_ESTATE, "no restore option known in %s for: %s", x.k.dr, dr_buf_str(&none));
        goto out;
    }
    /* The ages above are the restore options' (in the checks); they are not what this failover loses: the
       data moves by replication, and nothing is restored here, so no observed RPO is reported. */
    rc = 0;
out:
    free(t.v);
    dr_buf_free(&none);
    return rc;
}

/* ======================================================================== */
/* failback                                                                 */
/* ======================================================================== */

/* When the failback run began: the time in its run id ("20261125T165318Z-..."), else now. */
static double run_began(const char *run_id, double now)
{
    int y, mo, d, h, mi, s;
    char z;

    if (!run_id || sscanf(run_id, "%4d%2d%2dT%2d%2d%2d%c", &y, &mo, &d, &h, &mi, &s, &z) != 7 || z != 'Z' ||
        mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return now;
    return (double)(bk_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s);
}

/* The newest backup job of each target that completed after `since`. */
typedef struct done_scan {
    const bk_ctx *x;
    bk_targets *t;
    double since;
    double *done;   /* per target: completion time, 0 for none */
    char (*ids)[128];
} done_scan;

static int done_page(const dr_node *root, void *arg, dr_error *err)
{
    done_scan *s = arg;

    (void)err;
    for (const dr_node *j = dr_node_first(dr_node_get(root, "BackupJobs")); j; j = dr_node_next(j)) {
        const char *arn = dr_node_str(j, "ResourceArn");
        double t;
        const char *vault = dr_node_str(j, "BackupVaultName");

        if (!same_text(dr_node_str(j, "State"), "COMPLETED") || dr_node_time(j, "CompletionDate", &t) != 0 ||
            t < s->since || (vault && strcmp(vault, s->x->k.vault) != 0))
            continue;
        for (size_t i = 0; i < s->t->n; i++) {
            if (same_text(s->t->v[i].arn, arn) && t > s->done[i]) {
                s->done[i] = t;
                snprintf(s->ids[i], sizeof(s->ids[i]), "%s",
                         dr_node_str(j, "BackupJobId") ? dr_node_str(j, "BackupJobId") : "?");
            }
        }
    }
    return 0;
}

/* Whether a selection covers a resource: listed, or possibly matched by a tag condition. */
static int selected(const dr_node *sel, const char *arn)
{
    for (const dr_node *n = dr_node_first(dr_node_get(sel, "BackupSelection.Resources")); n; n = dr_node_next(n))
        if (same_text(dr_node_text(n), arn) || same_text(dr_node_text(n), "*"))
            return 1;
    return dr_node_count(dr_node_get(sel, "BackupSelection.ListOfTags")) > 0;
}

static int bk_failback(dr_resource *res, const dr_hook_args *a, dr_error *err)
{
    bk_ctx x;
    bk_targets t = {NULL, 0};
    dr_doc *sel = NULL;
    dr_buf q = DR_BUF_INIT, d = DR_BUF_INIT, bad = DR_BUF_INIT;
    done_scan s;
    char plan_id[200], sel_id[200], began_s[40], next_s[40];
    const char *next_rule = NULL;
    int64_t next = -1;
    double began;
    int missing = 0, rc;

    memset(&s, 0, sizeof(s));
    rc = ctx_open(&x, res, err);
    if (rc != 0)
        return rc;
    began = run_began(a->run_id, x.now);
    iso(began, began_s, sizeof(began_s));
    if (!client(&x, 0, err))
        return err->code;

    /* the plan and its selection are in place in the primary region */
    H->progress(res, "reading backup plan %s in %s", x.k.plan, x.k.primary);
    rc = find_plan(x.p, x.k.plan, plan_id, sizeof(plan_id), err);
    if (rc == DR_ENOTFOUND) {
        dr_report_state(H, res, "backup_plan", DR_STATUS_CRITICAL, "missing", "present",
                        "backup plan %s does not exist in %s", x.k.plan, x.k.primary);
        rc = dr_error_set(err, DR_ESTATE, "backup plan %s does not exist in %s: run dr-agent configure", x.k.plan,
                          x.k.primary);
        goto out;
    }
    if (rc != 0)
        goto out;
    rc = read_selection(x.p, plan_id, x.k.selection, sel_id, sizeof(sel_id), &sel, err);
    if (rc == DR_ENOTFOUND) {
        dr_report_state(H, res, "backup_selection", DR_STATUS_CRITICAL, "missing", x.k.selection,
                        "plan %s has no selection %s", x.k.plan, x.k.selection);
        rc = dr_error_set(err, DR_ESTATE, "backup plan %s protects nothing (no selection %s): run dr-agent configure",
                          x.k.plan, x.k.selection);
        goto out;
    }
    if (rc != 0)
        goto out;
    rc = ctx_account(&x, err);
    if (rc != 0)
        goto out;
    diff_selection(res, &x.k, dr_doc_root(sel), x.role, &d, &missing);

    /* the next backup window of the plan */
    for (size_t i = 0; i < x.k.n_rules; i++) {
        int64_t n;
        if (bk_cron_next(&x.k.rules[i].cron, (int64_t)x.now, &n) == 0 && (next < 0 || n < next)) {
            next = n;
            next_rule = x.k.rules[i].name;
        }
    }
    if (next >= 0)
        iso((double)next, next_s, sizeof(next_s));

    /* backup jobs that completed since the failback began */
    rc = targets_for(&x, 0, plan_id, &t, err);
    if (rc != 0)
        goto out;
    s.x = &x;
    s.t = &t;
    s.since = began;
    s.done = calloc(t.n ? t.n : 1, sizeof(*s.done));
    s.ids = calloc(t.n ? t.n : 1, sizeof(*s.ids));
    if (!s.done || !s.ids) {
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    dr_buf_puts(&q, "maxResults=100&state=COMPLETED");
    query_add(&q, "backupVaultName", x.k.vault);
    query_add_time(&q, "completeAfter", began);
    rc = q.failed ? dr_error_set(err, DR_ENOMEM, "out of memory")
                  : list_all(x.p, "ListBackupJobs", "/backup-jobs/", dr_buf_str(&q), done_page, &s, err);
    if (rc != 0)
        goto out;

    /* a tag selection that has not backed anything up yet gets one check for the plan */
    for (size_t i = 0; i < t.n || (t.n == 0 && i == 0); i++) {
        char name[200], when[40];
        const char *label = t.n ? t.v[i].label : NULL;
        if (label)
            snprintf(name, sizeof(name), "backups_resumed:%s", label);
        else
            snprintf(name, sizeof(name), "backups_resumed");
        if (t.n && s.done[i] > 0) {
            iso(s.done[i], when, sizeof(when));
            dr_report_state(H, res, name, DR_STATUS_OK, "completed", "completed or scheduled",
                            "backup job %s of %s completed at %s, after the failback began (%s)", s.ids[i],
                            t.v[i].arn, when, began_s);
        } else if (t.n && !selected(dr_doc_root(sel), t.v[i].arn)) {
            dr_report_state(H, res, name, DR_STATUS_CRITICAL, "not selected", "completed or scheduled",
                            "selection %s of plan %s does not select %s: %s", x.k.selection, x.k.plan, t.v[i].arn,
                            dr_buf_str(&d));
            item(&bad, "%s is not selected", label ? label : "the plan");
        } else if (next >= 0) {
            dr_report_state(H, res, name, DR_STATUS_OK, "scheduled", "completed or scheduled",
                            "no backup job completed since the failback began (%s); next backup window %s (rule %s)",
                            began_s, next_s, next_rule);
        } else {
            dr_report_state(H, res, name, DR_STATUS_CRITICAL, "not scheduled", "completed or scheduled",
                            "no backup job completed since %s and no rule of plan %s runs again", began_s, x.k.plan);
            item(&bad, "%s is not scheduled", label ? label : "the plan");
        }
    }
    if (bad.len) {
        rc = dr_error_set(err, DR_ESTATE, "backups do not run again in %s: %s", x.k.primary, dr_buf_str(&bad));
        goto out;
    }
    rc = 0;
out:
    free(t.v);
    free(s.done);
    free(s.ids);
    dr_doc_free(sel);
    dr_buf_free(&q);
    dr_buf_free(&d);
    dr_buf_free(&bad);
    return rc;
}

/* ======================================================================== */
/* The plugin                                                               */
/* ======================================================================== */

static int bk_init(const dr_host_api *host, dr_error *err)
{
    if (!DR_HAS_MEMBER(host, dr_host_api, aws))
        return dr_error_set(err, DR_EPLUGIN, "the host is too old: it has no AWS client");
    H = host;
    return 0;
}

/*
 * The prepare phase. Failover: the restore options in the DR vault, the same read-only checks the failover makes
 * (a DR region with nothing to restore from is not ready). Failback: the plan lives in the primary region, whose
 * AWS client must be usable. Nothing is changed.
 */
static int bk_prepare(dr_resource *res, const dr_hook_args *a, dr_error *err)
{
    bk_ctx x;
    int rc;

    if (!(DR_HAS_MEMBER(a, dr_hook_args, prepare_for) && a->prepare_for == DR_SWITCH_FAILBACK))
        return bk_failover(res, a, err);
    rc = ctx_open(&x, res, err);
    if (rc != 0)
        return rc;
    return client(&x, 0, err) ? 0 : err->code;
}
/* The AWS services (signing names) this plugin calls. */
static const char *const services[] = {"backup", NULL};

static const dr_plugin_descriptor descriptor = {
    DR_PLUGIN_HEADER,
    "backup",
    "1.0.0",
    "AWS Backup: vaults in both regions, a plan with cross-region copies, recovery-point freshness",
    keys,
    sizeof(keys) / sizeof(keys[0]),
    NULL,
    bk_init,
    bk_validate,
    bk_configure,
    bk_verify,
    bk_failover,
    bk_failback,
    services,
    NULL, /* cleanup: nothing retired */
    bk_prepare,
};

DR_PLUGIN_DECLARE_ENTRY
{
    return &descriptor;
}
