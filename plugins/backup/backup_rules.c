/* backup_rules.c: the backup plugin's configuration: rule parsing and checks, and how the plan and selection AWS holds differ from it. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"

/* ======================================================================== */
/* Configuration                                                            */
/* ======================================================================== */

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
int bk_conf_load(dr_resource *res, bk_conf *k, dr_error *err)
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

/* ======================================================================== */
/* Small helpers                                                            */
/* ======================================================================== */

/* Append "; "-separated items to a list of findings. */
DR_PRINTF(2, 3)
void bk_item(dr_buf *b, const char *fmt, ...)
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
void bk_name_add(dr_buf *b, const char *name)
{
    if (b->len)
        dr_buf_puts(b, ", ");
    dr_buf_puts(b, name);
}

void bk_iso(double epoch, char *out, size_t len)
{
    dr_time_format(epoch, 0, out, len);
}

void bk_age_text(double seconds, char *out, size_t len)
{
    dr_duration_format(seconds < 0 ? 0 : seconds, out, len);
}

int bk_same_text(const char *a, const char *b)
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
/* Comparing what AWS holds with the configuration                          */
/* ======================================================================== */

static void days_text(double days, char *out, size_t len)
{
    if (days > 0)
        snprintf(out, len, "%.0fd", days);
    else
        snprintf(out, len, "forever");
}

void bk_diff_rule(const bk_conf *k, const bk_rule *want, const dr_node *have, const char *dr_vault_arn,
                  rule_diff *d)
{
    const char *vault = dr_node_str(have, "TargetBackupVaultName");
    const char *sched = dr_node_str(have, "ScheduleExpression");
    double keep = dr_node_num(have, "Lifecycle.DeleteAfterDays", 0);
    int found = 0;
    char t[32];

    if (!bk_same_text(vault, k->vault))
        bk_item(&d->rule, "vault %s -> %s", vault ? vault : "(none)", k->vault);
    if (!same_schedule(sched, want->schedule))
        bk_item(&d->rule, "schedule %s -> %s", sched ? sched : "(none)", want->schedule);
    if ((long)keep != want->keep_days) {
        days_text(keep, t, sizeof(t));
        bk_item(&d->rule, "keep %s -> %dd", t, want->keep_days);
    }
    for (const dr_node *a = dr_node_first(dr_node_get(have, "CopyActions")); a; a = dr_node_next(a)) {
        const char *dest = dr_node_str(a, "DestinationBackupVaultArn");
        double ck = dr_node_num(a, "Lifecycle.DeleteAfterDays", 0);
        days_text(ck, t, sizeof(t));
        if (want->copy && !found && bk_same_text(dest, dr_vault_arn)) {
            found = 1;
            if ((long)ck != want->copy_keep_days)
                bk_item(&d->copy, "copy keep %s -> %dd", t, want->copy_keep_days);
        } else {
            bk_item(&d->copy, "copy to %s (keep %s) is not configured", dest ? dest : "(none)", t);
        }
    }
    if (want->copy && !found) {
        bk_item(&d->copy, "copy to %s keep %dd is missing", dr_vault_arn, want->copy_keep_days);
        d->copy_missing = 1;
    }
}

const dr_node *bk_plan_rule(const dr_node *plan_root, const char *name)
{
    for (const dr_node *r = dr_node_first(dr_node_get(plan_root, "BackupPlan.Rules")); r; r = dr_node_next(r))
        if (bk_same_text(dr_node_str(r, "RuleName"), name))
            return r;
    return NULL;
}

const bk_rule *bk_conf_rule(const bk_conf *k, const char *name)
{
    for (size_t i = 0; i < k->n_rules; i++)
        if (bk_same_text(k->rules[i].name, name))
            return &k->rules[i];
    return NULL;
}

void bk_rule_text(const bk_conf *k, const bk_rule *r, char *out, size_t len)
{
    if (r->copy)
        snprintf(out, len, "%s keep %dd, copy to %s/%s keep %dd", r->schedule, r->keep_days, k->dr, k->dr_vault,
                 r->copy_keep_days);
    else
        snprintf(out, len, "%s keep %dd", r->schedule, r->keep_days);
}

/* Differences of a selection from the configuration; `missing` counts what it leaves unprotected. */
void bk_diff_selection(dr_resource *res, const bk_conf *k, const dr_node *sel, const char *role, dr_buf *d,
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
            in = bk_same_text(dr_node_text(n), arn);
        if (!in) {
            bk_item(d, "resource %s is not selected", arn);
            (*missing)++;
        }
    }
    for (const dr_node *n = dr_node_first(have_res); n; n = dr_node_next(n)) {
        int want = 0;
        for (size_t i = 0; i < k->n_resources && !want; i++)
            want = bk_same_text(dr_node_text(n), H->cfg_list_item(res, "resources", i));
        if (!want)
            bk_item(d, "resource %s is selected but not configured", dr_node_text(n) ? dr_node_text(n) : "?");
    }
    for (size_t i = 0; i < k->n_tags; i++) {
        const char *t = H->cfg_list_item(res, "selection_tags", i);
        size_t kl = (size_t)(strchr(t, '=') - t);
        int in = 0;
        for (const dr_node *n = dr_node_first(have_tags); n && !in; n = dr_node_next(n)) {
            const char *ck = dr_node_str(n, "ConditionKey");
            in = ck && strlen(ck) == kl && strncmp(ck, t, kl) == 0 &&
                 bk_same_text(dr_node_str(n, "ConditionValue"), t + kl + 1) &&
                 bk_same_text(dr_node_str(n, "ConditionType"), "STRINGEQUALS");
        }
        if (!in) {
            bk_item(d, "tag %s is not selected", t);
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
            bk_item(d, "tag %s=%s is selected but not configured", ck ? ck : "?", cv ? cv : "?");
    }
    if (!bk_same_text(have_role, role))
        bk_item(d, "role %s -> %s", have_role ? have_role : "(none)", role);
}
