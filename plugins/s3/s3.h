/* s3.h: types and calls shared by the s3 plugin's hooks (s3.c) and its AWS layer (s3_aws.c); private to the plugin. */
#ifndef DR_PLUGIN_S3_H
#define DR_PLUGIN_S3_H

/*
 * Ownership: a dr_aws_response or text returned through an out-parameter
 * belongs to the caller (dr_aws_response_free / free). Everything else is
 * borrowed for the call. Functions return 0 or a negative DR_E* code and
 * fill err, as everywhere in dr-agent.
 */

#include <stddef.h>
#include <stdint.h>

#include "dr/sdk.h"

#define S3NS "http://s3.amazonaws.com/doc/2006-03-01/"
#define IAM_VERSION "2010-05-08"
#define RTC_MINUTES 15 /* the only value S3 Replication Time Control accepts */
#define MAX_STMTS 12
#define S3_DEFAULT_RULE_ID "dr-replication" /* rule_id's default: an existing rule to the DR bucket is adopted */

/* The host API, set once by the plugin's init before any hook runs. */
extern const dr_host_api *s3_host;
#define H s3_host

/* The context of one hook call. */
typedef struct s3ctx {
    dr_resource *res;
    const dr_hook_args *args;
    int plan; /* dry run: report what would change, change nothing */
    const char *primary, *dr;
    const char *partition;
    const char *bucket, *dr_bucket;
    const char *rule_id;
    char reverse_rule_id[300];
    const char *role, *reverse_role;
    char role_buf[72]; /* the derived per-bucket role name when replication_role is unset */
    char policy[160];
    const char *storage_class, *kms_key, *dr_kms_key;
    int64_t glacier_days;
    char lifecycle_id[300];
    const char *canary_prefix;
    double canary_deadline, warn_fraction, rpo, window;
    int64_t max_ops, max_bytes;
    int reverse;
    /* endpoints found unreachable in this hook: later calls there fail at once with the same error */
    const char *down[3];
    dr_error down_err[3];
    struct s3_pre *pre; /* verify's reads made ahead, all at once (s3_prefetch.c); NULL: none */
    char adopted_rule[256]; /* the existing rule's ID when the config names none (s3_adopt.c) */
    char adopted_role[320]; /* the existing configuration's role ARN when the config names none */
} s3ctx;

/* One replication direction: primary to DR normally, DR to primary while the DR side serves. */
typedef struct direction {
    const char *label;
    const char *src, *src_region, *dst, *dst_region;
    const char *rule_id;
    const char *role;
    const char *src_kms, *dst_kms;
} direction;

/* One statement of the replication role's policy: a few actions on one resource. */
typedef struct stmt {
    const char *actions[3];
    char resource[320];
} stmt;

typedef enum canary_outcome {
    CANARY_REPLICATED = 0,
    CANARY_LATE,   /* not seen within the wait */
    CANARY_FAILED, /* S3 gave up replicating it */
    CANARY_ERROR   /* could not be written or watched */
} canary_outcome;

/* ---- requests (endpoints that failed with a network error or a timeout fail at once afterwards) ---- */
dr_aws_request s3_request(const char *op, const char *method, const char *bucket, const char *query);
int s3_send(s3ctx *x, const char *region, const dr_aws_request *rq, dr_aws_response **out, dr_error *err);
int s3_iam_call(s3ctx *x, const char *op, const dr_buf *form, dr_doc **out, dr_error *err);

/* ---- buckets ---- */
/* "Enabled", "Suspended" or "Off"; DR_ENOTFOUND: no such bucket. */
int s3_get_versioning(s3ctx *x, const char *region, const char *bucket, char *out, size_t n, dr_error *err);
int s3_put_versioning(s3ctx *x, const char *region, const char *bucket, dr_error *err);
/* The bucket's region; DR_ENOTFOUND: no such bucket. */
int s3_get_location(s3ctx *x, const char *region, const char *bucket, char *out, size_t n, dr_error *err);
int s3_create_bucket(s3ctx *x, const char *region, const char *bucket, dr_error *err);

/* ---- replication configuration ---- */
/* *out NULL when the bucket has none; DR_ENOTFOUND: no such bucket. */
int s3_get_replication(s3ctx *x, const char *region, const char *bucket, dr_aws_response **out, dr_error *err);
const dr_node *s3_find_rule(const dr_node *root, const char *id);
/* A rule in the earlier (V1) format: rule-level Prefix, no Filter. The build converts such rules to V2. */
int s3_rule_is_v1(const dr_node *rule);
int s3_filter_selects_all(const dr_node *rule);
/* What differs between `rule` and direction d as configured, appended to why. */
void s3_rule_differences(const s3ctx *x, const direction *d, const dr_node *rule, dr_buf *why);
/* The configuration `cur` with d's rule replaced, added, or (remove) taken out; other rules kept. */
void s3_build_replication(const s3ctx *x, const direction *d, const dr_node *cur, const char *role_arn, int remove,
                          dr_buf *b, size_t *rules_left);
int s3_put_replication(s3ctx *x, const char *region, const char *bucket, const char *xml, dr_error *err);
int s3_delete_replication(s3ctx *x, const char *region, const char *bucket, dr_error *err);
void s3_xml_copy_node(dr_buf *b, const dr_node *n);

/* ---- lifecycle ---- */
int s3_get_lifecycle(s3ctx *x, const char *region, const char *bucket, dr_aws_response **out, dr_error *err);
int s3_lifecycle_rule_ok(const dr_node *rule, int64_t days);

/* ---- IAM ---- */
int s3_streq(const char *a, const char *b);
int s3_role_matches(const char *configured, const char *arn);
const char *s3_role_name(const char *role);
int s3_role_managed(const char *role);
int s3_get_role(s3ctx *x, const char *role, char *arn, size_t arn_len, int *trusts_s3, dr_error *err);
int s3_role_arn_via_sts(s3ctx *x, const char *role, const char *region, char *arn, size_t n, dr_error *err);
size_t s3_direction_stmts(const s3ctx *x, const direction *d, stmt *s, size_t n);
void s3_policy_json(const stmt *s, size_t n, dr_buf *b);
/* What the policy text does not grant of the statements, appended to why. */
void s3_policy_missing(const char *text, const stmt *s, size_t n, dr_buf *why);
int s3_get_role_policy(s3ctx *x, const char *role, char **text, dr_error *err);
/* A policy document as IAM returns it (URL-encoded) or plain, decoded; NULL when out of memory (caller frees). */
char *s3_policy_text(const char *s);

/* ---- shared by the hooks (s3.c) ---- */

/* The context of a hook call from the resource's configuration (borrowed strings: the host's). */
void s3_load(s3ctx *x, dr_resource *res, const dr_hook_args *args);
/* The replication direction primary -> DR (forward) or DR -> primary (reverse, the reverse rule and role). */
void s3_forward_dir(const s3ctx *x, direction *d);
void s3_reverse_dir(const s3ctx *x, direction *d);
/* The check "replication_role": d->role exists, trusts s3.amazonaws.com and its policies allow replicating d. */
void s3_check_role(s3ctx *x, const direction *d);

/* ---- an existing estate (s3_adopt.c) ---- */
/* The rule replicating to bucket dst (an enabled one first); NULL: none. */
const dr_node *s3_find_rule_by_destination(const dr_node *root, const char *partition, const char *dst);
/*
 * When the config names neither rule_id nor replication_role: the existing rule to the DR bucket
 * becomes this resource's rule and the role the configuration `root` names its role (x->rule_id and
 * x->role then point into x).
 */
void s3_adopt_existing(s3ctx *x, const dr_node *root);
/* What s3_adopt_existing took from the estate, as the checks "config:rule_id" and "config:replication_role" (OK). */
void s3_report_adopted(s3ctx *x);
/* s3_adopt_existing with the primary bucket's configuration, read here (a read error adopts nothing). */
void s3_adopt_read(s3ctx *x);
/*
 * The role's effective permissions (every inline and attached managed policy; an explicit Deny
 * wins; statements with a Condition are not counted as granting): the actions of the statements
 * not granted, "action on resource, ...", appended to missing; the policies read appended to sources.
 */
int s3_role_missing(s3ctx *x, const char *role, const stmt *s, size_t n, dr_buf *missing, dr_buf *sources,
                    dr_error *err);

/* ---- metrics and the canary ---- */
int s3_replication_metric(s3ctx *x, const direction *d, const char *name, dr_aws_metric *m, dr_error *err);
canary_outcome s3_run_canary(s3ctx *x, const direction *d, int64_t max_ms, double *seconds, char *how, size_t how_len,
                             dr_error *err);
int64_t s3_canary_budget(s3ctx *x, double want_s);

/* ---- objects written before the replication rule (s3_backlog.c) ---- */
/* One object of a listing: its key and LastModified (ISO-8601: sorts as text), both owned. */
typedef struct s3_listed {
    char *key;
    char *modified;
} s3_listed;
/*
 * One page of ListObjectsV2 of d's source bucket (at most max_keys): *out (s3_listed_free), *n, and *truncated when
 * the bucket holds more. 0 or a negative code.
 */
int s3_list_page(s3ctx *x, const direction *d, int max_keys, s3_listed **out, size_t *n, int *truncated,
                 dr_error *err);
void s3_listed_free(s3_listed *v, size_t n);
#define S3_BACKLOG_SAMPLE 1000 /* keys listed: one page of ListObjectsV2 */
typedef struct s3_backlog {
    size_t listed;       /* keys in the sample */
    int truncated;       /* the bucket holds more than the sample */
    size_t unreplicated; /* of the sample, written before the rule (no replication status) */
    int heads;           /* HeadObject calls made */
    char oldest[40];     /* LastModified of the oldest listed object */
    char newest[40];     /* LastModified of the newest one without a status */
} s3_backlog;
/* The sample of d's source bucket; rule_is_new: the rule is being created, so every listed object predates it. */
int s3_backlog_scan(s3ctx *x, const direction *d, int rule_is_new, s3_backlog *b, dr_error *err);
/* The exact remedy, an S3 Batch Replication job, as one command line. */
void s3_backlog_remedy(const s3ctx *x, const direction *d, char *out, size_t len);

/* ---- verify's reads at once (s3_prefetch.c) ---- */
/*
 * Make the S3, IAM and CloudWatch reads verify will make, all at once, and
 * keep their answers in x->pre; s3_send, s3_iam_call and
 * s3_replication_metric then take a kept answer instead of calling (each
 * once). with_rule: the replication reads of direction d too. x->pre is
 * owned by x: s3_prefetch_free() releases what was not taken.
 */
void s3_prefetch_verify(s3ctx *x, const direction *d, int with_rule);
void s3_prefetch_free(s3ctx *x);
/* A kept answer for the request: 1 and *rc (with *out or *err) when there was one, else 0. */
int s3_pre_take_s3(s3ctx *x, const char *region, const dr_aws_request *rq, dr_aws_response **out, dr_error *err,
                   int *rc);
int s3_pre_take_iam(s3ctx *x, const char *op, const dr_buf *form, dr_doc **out, dr_error *err, int *rc);
int s3_pre_take_metric(s3ctx *x, const direction *d, const char *name, dr_aws_metric *m, dr_error *err, int *rc);

/* ---- diagnose (diagnose.c): recent objects' ReplicationStatus, FAILED ones named, KMS key use ---- */
int s3_diagnose(dr_resource *res, const dr_hook_args *args, dr_error *err);

#endif /* DR_PLUGIN_S3_H */
