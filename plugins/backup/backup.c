/* backup.c: the backup plugin's hooks: AWS Backup vaults in both regions, a backup plan whose rules copy to the DR region, and recovery-point freshness. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "diagnose.h"

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

const dr_host_api *bk_host;

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
    {"selection", DR_KEY_STRING, 0, BK_DEFAULT_SELECTION, NULL,
     "name of the plan's resource selection (left at its default: a selection of another name that protects every "
     "ARN of resources is used)"},
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
/* Context of one hook call                                                 */
/* ======================================================================== */

static int ctx_open(bk_ctx *x, dr_resource *res, dr_error *err)
{
    memset(x, 0, sizeof(*x));
    x->res = res;
    x->now = dr_now();
    if (bk_conf_load(res, &x->k, err) != 0)
        return err->code;
    x->p = dr_host_aws(H, res, x->k.primary, &x->perr);
    x->d = dr_host_aws(H, res, x->k.dr, &x->derr);
    return 0;
}

/*
 * The account id (for the DR vault's ARN and the default role), asked in the
 * primary region and, when that fails, in the DR region.
 */
int bk_ctx_account(bk_ctx *x, dr_error *err)
{
    dr_error e2;
    int rc;

    if (x->account[0])
        return 0;
    dr_error_clear(&e2);
    rc = x->p ? dr_aws_account_id(x->p, x->account, sizeof(x->account), err)
              : dr_error_set(err, x->perr.code, "%s", x->perr.message);
    if (rc != 0 && x->d && dr_aws_account_id(x->d, x->account, sizeof(x->account), &e2) == 0)
        rc = 0;
    if (rc != 0) {
        x->account[0] = '\0';
        return rc;
    }
    snprintf(x->dr_vault_arn, sizeof(x->dr_vault_arn), "arn:%s:backup:%s:%s:backup-vault:%s", dr_aws_partition(x->k.dr),
             x->k.dr, x->account, x->k.dr_vault);
    if (x->k.iam_role)
        snprintf(x->role, sizeof(x->role), "%s", x->k.iam_role);
    else
        snprintf(x->role, sizeof(x->role), "arn:%s:iam::%s:role/%s", dr_aws_partition(x->k.primary), x->account,
                 DEFAULT_ROLE);
    return 0;
}

/* The client of a region, or a negative code with err copied from why it is missing. */
dr_aws *bk_client(bk_ctx *x, int dr, dr_error *err)
{
    dr_aws *c = dr ? x->d : x->p;
    const dr_error *why = dr ? &x->derr : &x->perr;

    if (!c)
        *err = *why; /* dr_host_aws filled it */
    return c;
}

int bk_targets_add(bk_targets *t, const char *arn)
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
void bk_targets_label(bk_targets *t)
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
/* configure                                                                */
/* ======================================================================== */

/* Report one change: planned in a dry run, else done or failed after `rc`. */
static int changed(dr_resource *res, const dr_hook_args *a, int rc, const char *action, const char *target,
                   const char *detail, dr_error *err)
{
    if (a->dry_run) {
        H->change(res, DR_CHANGE_PLANNED, action, target, detail);
        return 0;
    }
    return dr_report_change(H, res, rc, action, target, detail, err);
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
    dr_aws *c = bk_client(x, dr, err);
    dr_doc *doc = NULL;
    char target[200], detail[600];
    int exists, rc;

    if (!c)
        return err->code;
    snprintf(target, sizeof(target), "%s/%s", region, vault);
    H->progress(x->res, "reading backup vault %s", target);
    rc = bk_describe_vault(c, vault, &doc, err);
    if (rc != 0 && rc != DR_ENOTFOUND)
        goto out;
    exists = rc == 0;
    if (!exists) {
        snprintf(detail, sizeof(detail), "encrypted with %s", key ? key : "the AWS Backup key");
        dr_error_clear(err);
        rc = a->dry_run ? 0 : bk_create_vault(c, vault, key, err);
        if ((rc = changed(x->res, a, rc, "create backup vault", target, detail, err)) != 0)
            goto out;
    } else if (key && !bk_same_text(dr_node_str(dr_doc_root(doc), "EncryptionKeyArn"), key)) {
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
        rc = a->dry_run ? 0 : bk_put_vault_lock(c, k, vault, err);
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
    rc = bk_find_plan(x->p, k->plan, plan_id, idlen, err);
    if (rc == DR_ENOTFOUND) {
        for (size_t i = 0; i < k->n_rules; i++) {
            char r[400];
            bk_rule_text(k, &k->rules[i], r, sizeof(r));
            bk_item(&what, "%s: %s", k->rules[i].name, r);
        }
        dr_error_clear(err);
        rc = a->dry_run ? 0 : bk_create_plan(x->p, k, x->dr_vault_arn, plan_id, idlen, err);
        rc = changed(x->res, a, rc, "create backup plan", k->plan, dr_buf_str(&what), err);
        *created = 1;
        goto out;
    }
    if (rc != 0)
        goto out;
    rc = bk_get_plan(x->p, plan_id, &doc, err);
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
        const dr_node *have = bk_plan_rule(dr_doc_root(doc), r->name);
        rule_diff d = {DR_BUF_INIT, DR_BUF_INIT, 0};

        if (!have) {
            ch[n].action = "add backup rule";
            bk_rule_text(k, r, ch[n].detail, sizeof(ch[n].detail));
        } else {
            bk_diff_rule(k, r, have, x->dr_vault_arn, &d);
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
        if (name && bk_conf_rule(k, name))
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
        rc = bk_update_plan(x->p, k, plan_id, x->dr_vault_arn, err);
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
        bk_item(&what, "%s", H->cfg_list_item(x->res, "resources", i));
    for (size_t i = 0; i < k->n_tags; i++)
        bk_item(&what, "tag %s", H->cfg_list_item(x->res, "selection_tags", i));
    bk_item(&what, "role %s", x->role);

    if (plan_created && a->dry_run) {
        rc = changed(x->res, a, 0, "create backup selection", target, dr_buf_str(&what), err);
        goto out;
    }
    H->progress(x->res, "reading backup selection %s", target);
    rc = bk_read_selection_any(x->p, x->res, k, plan_id, sel_id, sizeof(sel_id), &doc, err);
    if (rc == DR_ENOTFOUND) {
        dr_error_clear(err);
        rc = a->dry_run ? 0 : bk_create_selection(x->p, x->res, k, plan_id, x->role, err);
        rc = changed(x->res, a, rc, "create backup selection", target, dr_buf_str(&what), err);
        goto out;
    }
    if (rc != 0)
        goto out;
    bk_diff_selection(x->res, k, dr_doc_root(doc), x->role, &diff, &missing);
    if (diff.len == 0)
        goto out;
    if (!a->dry_run) {
        rc = bk_delete_selection(x->p, plan_id, sel_id, err);
        if (rc == 0)
            rc = bk_create_selection(x->p, x->res, k, plan_id, x->role, err);
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
    rc = x->p ? iam_call(x, "GetRole", &form, err) : dr_error_set(err, x->perr.code,
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
            snprintf(arn, sizeof(arn), "arn:%s:iam::aws:policy/service-role/%s", dr_aws_partition(x->k.primary),
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
    rc = bk_call(x->p, "DescribeRegionSettings", "GET", "/account-settings", NULL, NULL, &doc, err);
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
    rc = a->dry_run ? 0 : bk_call(x->p, "UpdateRegionSettings", "PUT", "/account-settings", NULL, body, NULL, err);
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
    if (!bk_client(&x, 0, err) || (x.k.any_copy && !bk_client(&x, 1, err)))
        return err->code;
    rc = bk_ctx_account(&x, err);
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
    c = bk_client(x, dr, &err);
    rc = c ? bk_describe_vault(c, vault, &doc, &err) : err.code;
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
            dr_report_state(H, x->res, n_key, bk_same_text(have, key) ? DR_STATUS_OK : DR_STATUS_WARNING,
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


/*
 * A name verify found in the estate instead of reading it from the config: the check "config:<key>",
 * OK, observed the value (`dr-agent adopt` writes it into the configuration it prints).
 */
static void report_found(dr_resource *res, const char *key, const char *value, const char *what)
{
    char name[64];

    snprintf(name, sizeof(name), "config:%s", key);
    dr_report_state(H, res, name, DR_STATUS_OK, value, value, "%s is not set in the config: %s, found in the estate",
                    key, what);
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
        bk_name_add(&names_want, k->rules[i].name);
        if (k->rules[i].copy)
            bk_name_add(&copy_want, k->rules[i].name);
    }
    rc = x->p ? bk_find_plan(x->p, k->plan, plan_id, idlen, &err) : (err = x->perr, err.code);
    if (rc == 0)
        rc = bk_get_plan(x->p, plan_id, &plan, &err);
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
    if (k->any_copy && bk_ctx_account(x, &aerr) != 0) {
        dr_report_unknown(H, x->res, "copy_action", dr_buf_str(&copy_want), &aerr);
    }
    for (size_t i = 0; i < k->n_rules; i++) {
        const bk_rule *r = &k->rules[i];
        const dr_node *have = bk_plan_rule(dr_doc_root(plan), r->name);
        rule_diff d = {DR_BUF_INIT, DR_BUF_INIT, 0};
        if (!have) {
            bk_item(&rules, "rule %s is missing", r->name);
            rules_st = DR_STATUS_CRITICAL;
            continue;
        }
        bk_name_add(&names_have, r->name);
        bk_diff_rule(k, r, have, x->dr_vault_arn, &d);
        if (d.rule.len) {
            bk_item(&rules, "rule %s: %s", r->name, dr_buf_str(&d.rule));
            rules_st = dr_status_worse(rules_st, DR_STATUS_WARNING);
        }
        if (d.copy.len) {
            bk_item(&copies, "rule %s: %s", r->name, dr_buf_str(&d.copy));
            copy_st = dr_status_worse(copy_st, d.copy_missing ? DR_STATUS_CRITICAL : DR_STATUS_WARNING);
        }
        if (r->copy && !d.copy_missing)
            bk_name_add(&copy_have, r->name);
        dr_buf_free(&d.rule);
        dr_buf_free(&d.copy);
    }
    for (const dr_node *r = dr_node_first(dr_node_get(dr_doc_root(plan), "BackupPlan.Rules")); r; r = dr_node_next(r)) {
        const char *name = dr_node_str(r, "RuleName");
        if (!name || !bk_conf_rule(k, name)) {
            bk_item(&rules, "rule %s is not in the configuration", name ? name : "?");
            rules_st = dr_status_worse(rules_st, DR_STATUS_WARNING);
        }
    }
    dr_report_state(H, x->res, "backup_rules", rules_st, names_have.len ? dr_buf_str(&names_have) : "none",
                    dr_buf_str(&names_want), "%s", rules.len ? dr_buf_str(&rules) : "schedules, retention and vault as configured");
    if (k->any_copy && x->account[0])
        dr_report_state(H, x->res, "copy_action", copy_st, copy_have.len ? dr_buf_str(&copy_have) : "none",
                        dr_buf_str(&copy_want), "%s",
                        copies.len ? dr_buf_str(&copies) : "copied to the DR vault with the configured retention");

    /* selection */
    rc = bk_read_selection_any(x->p, x->res, k, plan_id, sel_id, sizeof(sel_id), &sel, &err);
    if (rc == DR_ENOTFOUND) {
        dr_report_state(H, x->res, "backup_selection", DR_STATUS_CRITICAL, "missing", k->selection,
                        "plan %s has no selection %s: it protects nothing", k->plan, k->selection);
    } else if (rc != 0) {
        dr_report_unknown(H, x->res, "backup_selection", k->selection, &err);
    } else if (!x->account[0] && bk_ctx_account(x, &aerr) != 0) {
        dr_report_unknown(H, x->res, "backup_selection", k->selection, &aerr);
    } else {
        const char *found = dr_node_str(dr_doc_root(sel), "BackupSelection.SelectionName");
        if (found && !bk_same_text(found, k->selection))
            report_found(x->res, "selection", found, "the plan's selection that protects every configured resource");
        bk_diff_selection(x->res, k, dr_doc_root(sel), x->role, &seld, &missing);
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
        c = bk_client(x, dr, &err);
        rc = c ? bk_newest_point(c, vault, t->v[i].arn, &pt, &err) : err.code;
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
        bk_iso(pt.created, when, sizeof(when));
        bk_age_text(x->now - pt.created, age, sizeof(age));
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
        rc = bk_ctx_account(x, &err);
    s.vault = copies ? x->dr_vault_arn : x->k.vault;
    dr_buf_puts(&q, "maxResults=100");
    bk_query_add_time(&q, "createdAfter", s.since);
    bk_query_add(&q, copies ? "destinationVaultArn" : "backupVaultName", s.vault);
    if (rc == 0 && !bk_client(x, 0, &err))
        rc = err.code;
    if (rc == 0 && q.failed)
        rc = dr_error_set(&err, DR_ENOMEM, "out of memory");
    if (rc == 0)
        rc = bk_list_all(x->p, copies ? "ListCopyJobs" : "ListBackupJobs", copies ? "/copy-jobs/" : "/backup-jobs/",
                      dr_buf_str(&q), bk_job_page, &s, &err);
    dr_buf_free(&q);
    if (rc != 0) {
        dr_report_unknown(H, x->res, check, "0", &err);
        return;
    }
    bk_iso(s.since, since, sizeof(since));
    bk_age_text(x->k.lookback, span, sizeof(span));
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
    rc = bk_targets_for(x, 1, NULL, &t, &err);
    worst = verify_ages(x, 1, &t, "dr_copy_age", x->k.max_copy_age, rc != 0 ? &err : NULL);
    if (worst >= 0)
        backup_age(x->res, worst);
    free(t.v);
    return 0;
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
    bk_prefetch(&x);

    /* vaults, plan, rules, copy actions, selection */
    verify_vault(&x, 0);
    if (x.k.any_copy)
        verify_vault(&x, 1);
    verify_plan(&x, plan_id, sizeof(plan_id));

    /* freshness of the newest recovery point of each protected resource, in both regions */
    dr_error_clear(&terr);
    dr_error_clear(&tderr);
    trc = bk_targets_for(&x, 0, plan_id[0] ? plan_id : NULL, &t, &terr);
    worst = verify_ages(&x, 0, &t, "recovery_point_age", x.k.max_backup_age, trc != 0 ? &terr : NULL);
    if (worst >= 0)
        backup_age(res, worst);
    if (x.k.any_copy) {
        /* the DR side is judged for what the primary side protects, plus what it holds itself */
        for (size_t i = 0; i < t.n && tdrc == 0; i++)
            if (bk_targets_add(&td, t.v[i].arn) != 0)
                tdrc = dr_error_set(&tderr, DR_ENOMEM, "out of memory");
        if (tdrc == 0)
            tdrc = bk_targets_for(&x, 1, NULL, &td, &tderr);
        verify_ages(&x, 1, &td, "dr_copy_age", x.k.max_copy_age, tdrc != 0 ? &tderr : NULL);
    }

    /* jobs of the look-back window */
    verify_jobs(&x, &t, 0);
    if (x.k.any_copy)
        verify_jobs(&x, &t, 1);
    bk_prefetch_end();
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
    if (!bk_client(&x, 1, err))
        return err->code;
    H->progress(res, "listing recovery points in %s/%s", x.k.dr, x.k.dr_vault);
    rc = bk_targets_for(&x, 1, NULL, &t, err);
    if (rc != 0)
        goto out;
    if (t.n == 0)
        bk_item(&none, "no recovery point of the plan in %s/%s", x.k.dr, x.k.dr_vault);
    for (size_t i = 0; i < t.n; i++) {
        bk_point pt;
        char name[200], when[40], age[32], want[32];

        snprintf(name, sizeof(name), "dr_restore_point:%s", t.v[i].label);
        dr_error_clear(&e);
        if (bk_newest_point(x.d, x.k.dr_vault, t.v[i].arn, &pt, &e) != 0) {
            dr_report_unknown(H, res, name, "a recovery point", &e);
            bk_item(&none, "%s (%s)", t.v[i].arn, e.message);
            continue;
        }
        if (!pt.found) {
            dr_report_state(H, res, name, DR_STATUS_CRITICAL, "none", "a recovery point",
                            "no restorable recovery point of %s in %s/%s", t.v[i].arn, x.k.dr, x.k.dr_vault);
            bk_item(&none, "%s", t.v[i].arn);
            continue;
        }
        bk_iso(pt.created, when, sizeof(when));
        bk_age_text(x.now - pt.created, age, sizeof(age));
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

/*
 * When the failback run began (its first start when it was resumed), in whole seconds like the job times it is
 * compared with; now when the host does not say.
 */
static double run_began(const dr_hook_args *a, double now)
{
    if (DR_HAS_MEMBER(a, dr_hook_args, run_started) && a->run_started > 0)
        return floor(a->run_started);
    return now;
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

        if (!bk_same_text(dr_node_str(j, "State"), "COMPLETED") || dr_node_time(j, "CompletionDate", &t) != 0 ||
            t < s->since || (vault && strcmp(vault, s->x->k.vault) != 0))
            continue;
        for (size_t i = 0; i < s->t->n; i++) {
            if (bk_same_text(s->t->v[i].arn, arn) && t > s->done[i]) {
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
        if (bk_same_text(dr_node_text(n), arn) || bk_same_text(dr_node_text(n), "*"))
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
    began = run_began(a, x.now);
    bk_iso(began, began_s, sizeof(began_s));
    if (!bk_client(&x, 0, err))
        return err->code;

    /* the plan and its selection are in place in the primary region */
    H->progress(res, "reading backup plan %s in %s", x.k.plan, x.k.primary);
    rc = bk_find_plan(x.p, x.k.plan, plan_id, sizeof(plan_id), err);
    if (rc == DR_ENOTFOUND) {
        dr_report_state(H, res, "backup_plan", DR_STATUS_CRITICAL, "missing", "present",
                        "backup plan %s does not exist in %s", x.k.plan, x.k.primary);
        rc = dr_error_set(err, DR_ESTATE, "backup plan %s does not exist in %s: run dr-agent configure", x.k.plan,
                          x.k.primary);
        goto out;
    }
    if (rc != 0)
        goto out;
    rc = bk_read_selection_any(x.p, res, &x.k, plan_id, sel_id, sizeof(sel_id), &sel, err);
    if (rc == DR_ENOTFOUND) {
        dr_report_state(H, res, "backup_selection", DR_STATUS_CRITICAL, "missing", x.k.selection,
                        "plan %s has no selection %s", x.k.plan, x.k.selection);
        rc = dr_error_set(err, DR_ESTATE, "backup plan %s protects nothing (no selection %s): run dr-agent configure",
                          x.k.plan, x.k.selection);
        goto out;
    }
    if (rc != 0)
        goto out;
    rc = bk_ctx_account(&x, err);
    if (rc != 0)
        goto out;
    bk_diff_selection(res, &x.k, dr_doc_root(sel), x.role, &d, &missing);

    /* the next backup window of the plan */
    for (size_t i = 0; i < x.k.n_rules; i++) {
        int64_t n;
        if (bk_cron_next(&x.k.rules[i].cron, (int64_t)x.now, &n) == 0 && (next < 0 || n < next)) {
            next = n;
            next_rule = x.k.rules[i].name;
        }
    }
    if (next >= 0)
        bk_iso((double)next, next_s, sizeof(next_s));

    /* backup jobs that completed since the failback began */
    rc = bk_targets_for(&x, 0, plan_id, &t, err);
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
    bk_query_add(&q, "backupVaultName", x.k.vault);
    bk_query_add_time(&q, "completeAfter", began);
    rc = q.failed ? dr_error_set(err, DR_ENOMEM, "out of memory")
                  : bk_list_all(x.p, "ListBackupJobs", "/backup-jobs/", dr_buf_str(&q), done_page, &s, err);
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
            bk_iso(s.done[i], when, sizeof(when));
            dr_report_state(H, res, name, DR_STATUS_OK, "completed", "completed or scheduled",
                            "backup job %s of %s completed at %s, after the failback began (%s)", s.ids[i],
                            t.v[i].arn, when, began_s);
        } else if (t.n && !selected(dr_doc_root(sel), t.v[i].arn)) {
            dr_report_state(H, res, name, DR_STATUS_CRITICAL, "not selected", "completed or scheduled",
                            "selection %s of plan %s does not select %s: %s", x.k.selection, x.k.plan, t.v[i].arn,
                            dr_buf_str(&d));
            bk_item(&bad, "%s is not selected", label ? label : "the plan");
        } else if (next >= 0) {
            dr_report_state(H, res, name, DR_STATUS_OK, "scheduled", "completed or scheduled",
                            "no backup job completed since the failback began (%s); next backup window %s (rule %s)",
                            began_s, next_s, next_rule);
        } else {
            dr_report_state(H, res, name, DR_STATUS_CRITICAL, "not scheduled", "completed or scheduled",
                            "no backup job completed since %s and no rule of plan %s runs again", began_s, x.k.plan);
            bk_item(&bad, "%s is not scheduled", label ? label : "the plan");
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

static int bk_validate(dr_resource *res, dr_error *err)
{
    bk_conf k;

    return bk_conf_load(res, &k, err);
}

/* ======================================================================== */
/* The plugin                                                               */
/* ======================================================================== */

static int bk_init(const dr_host_api *host, dr_error *err)
{
    if (!DR_HAS_MEMBER(host, dr_host_api, aws))
        return dr_error_set(err, DR_EPLUGIN, "the host is too old: it has no AWS client");
    H = host;
    bk_diagnose_init(host);
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
    return bk_client(&x, 0, err) ? 0 : err->code;
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
    bk_diagnose, /* diagnose.c */
};

DR_PLUGIN_DECLARE_ENTRY
{
    return &descriptor;
}
