/* backup.h: types and calls shared by the backup plugin's hooks (backup.c), AWS Backup calls (backup_aws.c) and rule parsing (backup_rules.c); private to the plugin. */
#ifndef DR_PLUGIN_BACKUP_H
#define DR_PLUGIN_BACKUP_H

/*
 * Ownership: a dr_doc returned through an out-parameter belongs to the
 * caller (dr_doc_free); a bk_targets' array is freed by its owner with
 * free(t.v). Everything else is borrowed for the call. Functions return 0
 * or a negative DR_E* code and fill err, as everywhere in dr-agent.
 */

#include <stddef.h>
#include <stdint.h>

#include "cron.h"
#include "dr/sdk.h"

/* The host API, set once by the plugin's init before any hook runs. */
extern const dr_host_api *bk_host;
#define H bk_host

#define BK_DEFAULT_SELECTION "dr-agent" /* a selection of another name protecting the resources is used */

#define DAY 86400.0
#define MAX_PAGES 50        /* list calls: pages of 100 items at most */
#define RULE_MAX 32         /* rules per plan: more than a plan needs */

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

/* Differences of one rule of the plan from the configured one. */
typedef struct rule_diff {
    dr_buf rule;      /* vault, schedule, retention */
    dr_buf copy;      /* copy actions */
    int copy_missing; /* the copy to the DR vault is absent */
} rule_diff;

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

/* The protected resources, with short labels for the check names. */
typedef struct bk_target {
    char arn[1024];
    char label[160];
} bk_target;

typedef struct bk_targets {
    bk_target *v;
    size_t n;
} bk_targets;

/* The newest restorable recovery point of one resource in a vault. */
typedef struct bk_point {
    int found;
    double created;
    char arn[1024];
    char rule[64];
} bk_point;

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

/* One page of a list call: return 0 to go on, 1 to stop, or a negative code. */
typedef int (*page_fn)(const dr_node *root, void *arg, dr_error *err);

/* ---- the context of one hook call (backup.c) ---- */
int bk_ctx_account(bk_ctx *x, dr_error *err);
dr_aws *bk_client(bk_ctx *x, int dr, dr_error *err);
int bk_targets_add(bk_targets *t, const char *arn);
void bk_targets_label(bk_targets *t);

/* ---- configuration, rules and comparing what AWS holds with them (backup_rules.c) ---- */
int bk_conf_load(dr_resource *res, bk_conf *k, dr_error *err);
void bk_item(dr_buf *b, const char *fmt, ...) DR_PRINTF(2, 3);
void bk_name_add(dr_buf *b, const char *name);
void bk_iso(double epoch, char *out, size_t len);
void bk_age_text(double seconds, char *out, size_t len);
int bk_same_text(const char *a, const char *b);
void bk_diff_rule(const bk_conf *k, const bk_rule *want, const dr_node *have, const char *dr_vault_arn,
                  rule_diff *d);
const dr_node *bk_plan_rule(const dr_node *plan_root, const char *name);
const bk_rule *bk_conf_rule(const bk_conf *k, const char *name);
void bk_rule_text(const bk_conf *k, const bk_rule *r, char *out, size_t len);
void bk_diff_selection(dr_resource *res, const bk_conf *k, const dr_node *sel, const char *role, dr_buf *d,
                       int *missing);

/* ---- AWS Backup calls (backup_aws.c) ---- */
int bk_call(dr_aws *c, const char *op, const char *method, const char *path, const char *query, const char *body,
            dr_doc **out, dr_error *err);
void bk_query_add(dr_buf *q, const char *name, const char *value);
void bk_query_add_time(dr_buf *q, const char *name, double epoch);
int bk_list_all(dr_aws *c, const char *op, const char *path, const char *query, page_fn fn, void *arg,
                dr_error *err);
int bk_describe_vault(dr_aws *c, const char *vault, dr_doc **out, dr_error *err);
int bk_create_vault(dr_aws *c, const char *vault, const char *kms_key, dr_error *err);
int bk_put_vault_lock(dr_aws *c, const bk_conf *k, const char *vault, dr_error *err);
int bk_find_plan(dr_aws *c, const char *name, char *id, size_t idlen, dr_error *err);
int bk_get_plan(dr_aws *c, const char *id, dr_doc **out, dr_error *err);
int bk_create_plan(dr_aws *c, const bk_conf *k, const char *dr_vault_arn, char *id, size_t idlen, dr_error *err);
int bk_update_plan(dr_aws *c, const bk_conf *k, const char *id, const char *dr_vault_arn, dr_error *err);
int bk_read_selection(dr_aws *c, const char *plan_id, const char *name, char *id, size_t idlen, dr_doc **out,
                      dr_error *err);
/*
 * bk_read_selection, and when the selection keeps its default name (BK_DEFAULT_SELECTION) and no selection has
 * it: the plan's selection that protects every configured resource, whatever its name (one made by hand).
 */
int bk_read_selection_any(dr_aws *c, dr_resource *res, const bk_conf *k, const char *plan_id, char *id, size_t idlen,
                          dr_doc **out, dr_error *err);
int bk_create_selection(dr_aws *c, dr_resource *res, const bk_conf *k, const char *plan_id, const char *role,
                        dr_error *err);
int bk_delete_selection(dr_aws *c, const char *plan_id, const char *sel_id, dr_error *err);
int bk_newest_point(dr_aws *c, const char *vault, const char *resource_arn, bk_point *pt, dr_error *err);
int bk_targets_for(bk_ctx *x, int dr, const char *plan_id, bk_targets *t, dr_error *err);
int bk_job_page(const dr_node *root, void *arg, dr_error *err);
/*
 * Verify's GET reads, made ahead all at once for the calling thread: bk_call() takes a kept answer instead of
 * calling (each once). bk_prefetch_end() frees what was not taken; call it before the hook returns.
 */
void bk_prefetch(bk_ctx *x);
void bk_prefetch_end(void);

#endif /* DR_PLUGIN_BACKUP_H */
