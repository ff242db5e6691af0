/* s3.c: the s3 plugin: versioning, cross-region replication with RTC, a canary probe, failover to the DR bucket and back. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"

const dr_host_api *s3_host;

static const dr_config_key keys[] = {
    {"bucket", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL,
     "source bucket in the primary region, the one the application writes"},
    {"dr_bucket", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL, "destination bucket in the DR region"},
    {"create_dr_bucket", DR_KEY_BOOL, 0, "true", NULL, "configure creates dr_bucket in the DR region when it is missing"},
    {"replication_role", DR_KEY_STRING, 0, NULL, NULL,
     "IAM role S3 assumes to replicate: a role name (created with its inline policy when missing) or a role ARN "
     "(used as it is, not managed); default: the role of the bucket's existing replication configuration "
     "(used as it is), else a role of this bucket's own, dr-agent-s3-<bucket>"},
    {"replication_policy", DR_KEY_STRING, 0, NULL, NULL,
     "name of the inline policy this resource keeps on the role; default dr-agent-s3-<bucket>"},
    {"rule_id", DR_KEY_STRING, 0, S3_DEFAULT_RULE_ID, NULL,
     "ID of the replication rule; the reverse rule of a failover is <rule_id>-reverse; left at its default, an "
     "existing rule to dr_bucket under another ID is used"},
    {"storage_class", DR_KEY_ENUM, 0, "STANDARD",
     "STANDARD|STANDARD_IA|ONEZONE_IA|INTELLIGENT_TIERING|GLACIER_IR|GLACIER|DEEP_ARCHIVE|REDUCED_REDUNDANCY",
     "storage class of the replicas"},
    {"kms_key_arn", DR_KEY_STRING, 0, NULL, NULL,
     "KMS key of the source bucket: SSE-KMS objects are replicated and the role may decrypt with it"},
    {"dr_kms_key_arn", DR_KEY_STRING, 0, NULL, NULL, "KMS key in the DR region that encrypts the replicas"},
    {"noncurrent_glacier_days", DR_KEY_INT, 0, "0", NULL,
     "lifecycle rule on both buckets moving noncurrent versions to GLACIER after this many days; 0 = off"},
    {"canary_prefix", DR_KEY_STRING, 0, NULL, NULL,
     "key prefix of the replication canary written by verify (e.g. \"dr-canary/\"); unset = no canary"},
    {"canary_deadline", DR_KEY_DURATION, 0, "15m", NULL,
     "how long verify waits for the canary to reach the other bucket"},
    {"pending_warn_fraction", DR_KEY_FLOAT, 0, "0.3", NULL,
     "replication latency above this fraction of the RPO is a WARNING, above the RPO CRITICAL"},
    {"max_pending_operations", DR_KEY_INT, 0, "0", NULL,
     "OperationsPendingReplication above this is a WARNING; 0 = reported, not judged"},
    {"max_pending_bytes", DR_KEY_INT, 0, "0", NULL,
     "BytesPendingReplication above this is a WARNING; 0 = reported, not judged"},
    {"metrics_window", DR_KEY_DURATION, 0, "15m", NULL, "how far back the replication metrics are read"},
    {"reverse_replication", DR_KEY_BOOL, 0, "true", NULL,
     "failover replicates the DR bucket back to the primary bucket, so writes made during the outage flow back"},
    {"reverse_replication_role", DR_KEY_STRING, 0, NULL, NULL,
     "role of the reverse rule, name or ARN; default: replication_role"},
};

/* ------------------------------------------------------------------------------------------ */
/* Context of one hook call                                                                     */
/* ------------------------------------------------------------------------------------------ */


/*
 * The default replication role: one per bucket, "dr-agent-s3-<bucket>". IAM limits the inline policies of one role
 * to 10,240 characters in total (about seven to ten buckets' worth) and a role to 10 managed policies (20 at most
 * on request), so a role per bucket is the layout that holds for any number of buckets. Role names have at most
 * 64 characters: a longer bucket name is cut and given a hash of the whole name.
 */
static void default_role(const char *bucket, char *out, size_t n)
{
    static const char prefix[] = "dr-agent-s3-";
    uint32_t h = 2166136261u;

    if (strlen(prefix) + strlen(bucket) <= 64) {
        snprintf(out, n, "%s%s", prefix, bucket);
        return;
    }
    for (const char *p = bucket; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    snprintf(out, n, "%s%.43s-%08x", prefix, bucket, (unsigned)h);
}

void s3_load(s3ctx *x, dr_resource *res, const dr_hook_args *args)
{
    const char *p;

    memset(x, 0, sizeof(*x));
    x->res = res;
    x->args = args;
    x->plan = args && args->dry_run;
    x->primary = H->primary_region(res);
    x->dr = H->dr_region(res);
    x->partition = dr_aws_partition(x->primary);
    x->bucket = H->cfg_string(res, "bucket");
    x->dr_bucket = H->cfg_string(res, "dr_bucket");
    x->rule_id = H->cfg_string(res, "rule_id");
    snprintf(x->reverse_rule_id, sizeof(x->reverse_rule_id), "%s-reverse", x->rule_id);
    x->role = H->cfg_string(res, "replication_role");
    if (!x->role || !*x->role) {
        default_role(x->bucket, x->role_buf, sizeof(x->role_buf));
        x->role = x->role_buf;
    }
    x->reverse_role = H->cfg_string(res, "reverse_replication_role");
    if (!x->reverse_role || !*x->reverse_role)
        x->reverse_role = x->role;
    p = H->cfg_string(res, "replication_policy");
    if (p && *p)
        snprintf(x->policy, sizeof(x->policy), "%s", p);
    else
        snprintf(x->policy, sizeof(x->policy), "dr-agent-s3-%s", x->bucket);
    x->storage_class = H->cfg_string(res, "storage_class");
    x->kms_key = H->cfg_string(res, "kms_key_arn");
    x->dr_kms_key = H->cfg_string(res, "dr_kms_key_arn");
    x->glacier_days = H->cfg_int(res, "noncurrent_glacier_days");
    snprintf(x->lifecycle_id, sizeof(x->lifecycle_id), "%s-noncurrent-to-glacier", x->rule_id);
    x->canary_prefix = H->cfg_string(res, "canary_prefix");
    if (x->canary_prefix && !*x->canary_prefix)
        x->canary_prefix = NULL;
    x->canary_deadline = H->cfg_float(res, "canary_deadline");
    x->warn_fraction = H->cfg_float(res, "pending_warn_fraction");
    x->rpo = H->rpo_objective(res);
    x->window = H->cfg_float(res, "metrics_window");
    x->max_ops = H->cfg_int(res, "max_pending_operations");
    x->max_bytes = H->cfg_int(res, "max_pending_bytes");
    x->reverse = H->cfg_bool(res, "reverse_replication");
}

void s3_forward_dir(const s3ctx *x, direction *d)
{
    d->label = "primary to DR";
    d->src = x->bucket;
    d->src_region = x->primary;
    d->dst = x->dr_bucket;
    d->dst_region = x->dr;
    d->rule_id = x->rule_id;
    d->role = x->role;
    d->src_kms = x->kms_key;
    d->dst_kms = x->dr_kms_key;
}

void s3_reverse_dir(const s3ctx *x, direction *d)
{
    d->label = "DR to primary";
    d->src = x->dr_bucket;
    d->src_region = x->dr;
    d->dst = x->bucket;
    d->dst_region = x->primary;
    d->rule_id = x->reverse_rule_id;
    d->role = x->reverse_role;
    d->src_kms = x->dr_kms_key;
    d->dst_kms = x->kms_key;
}

/* The statements this resource keeps in the inline policy of `role`: every direction that uses it. */
static size_t role_stmts(const s3ctx *x, const char *role, stmt *s)
{
    direction f, r;
    size_t n = 0;

    s3_forward_dir(x, &f);
    s3_reverse_dir(x, &r);
    if (strcmp(f.role, role) == 0)
        n = s3_direction_stmts(x, &f, s, n);
    if (x->reverse && strcmp(r.role, role) == 0)
        n = s3_direction_stmts(x, &r, s, n);
    return n;
}

/* Reports a change: planned in a dry run, else done or failed. */
static void change(s3ctx *x, int rc, const char *action, const char *target, const char *fmt, ...) DR_PRINTF(5, 6);
static void change(s3ctx *x, int rc, const char *action, const char *target, const char *fmt, ...)
{
    char detail[640];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (x->plan)
        dr_report_planned(H, x->res, action, target, "%s", detail);
    else
        dr_report_change(H, x->res, rc, action, target, detail, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* configure                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Versioning on `bucket`; `planned_new`: the bucket itself is only planned, so nothing can be read. */
static int ensure_versioning(s3ctx *x, const char *region, const char *bucket, int planned_new, dr_error *err)
{
    char target[128], status[32];
    int rc;

    snprintf(target, sizeof(target), "s3://%s", bucket);
    if (planned_new) {
        change(x, 0, "enable versioning", target, "on the new bucket in %s", region);
        return 0;
    }
    rc = s3_get_versioning(x, region, bucket, status, sizeof(status), err);
    if (rc == DR_ENOTFOUND)
        return dr_error_set(err, DR_ENOTFOUND, "bucket s3://%s does not exist (region %s)", bucket, region);
    if (rc != 0)
        return rc;
    if (strcmp(status, "Enabled") == 0)
        return 0;
    rc = x->plan ? 0 : s3_put_versioning(x, region, bucket, err);
    change(x, rc, "enable versioning", target, "versioning is %s; replication needs it on both buckets", status);
    return rc;
}

/* The DR bucket in the DR region: created when missing and allowed. *planned_new: only planned. */
static int ensure_dr_bucket(s3ctx *x, int *planned_new, dr_error *err)
{
    char target[128], region[64];
    int rc;

    *planned_new = 0;
    snprintf(target, sizeof(target), "s3://%s", x->dr_bucket);
    rc = s3_get_location(x, x->dr, x->dr_bucket, region, sizeof(region), err);
    if (rc == 0) {
        if (strcmp(region, x->dr) != 0)
            return dr_error_set(err, DR_ECONFIG, "dr_bucket s3://%s is in %s, not in the DR region %s", x->dr_bucket,
                                region, x->dr);
        return 0;
    }
    if (rc != DR_ENOTFOUND)
        return rc;
    if (!H->cfg_bool(x->res, "create_dr_bucket"))
        return dr_error_set(err, DR_ENOTFOUND,
                            "DR bucket s3://%s does not exist in %s and create_dr_bucket is false", x->dr_bucket,
                            x->dr);
    dr_error_clear(err);
    rc = x->plan ? 0 : s3_create_bucket(x, x->dr, x->dr_bucket, err);
    change(x, rc, "create bucket", target, "in %s, the replication destination", x->dr);
    *planned_new = x->plan;
    return rc;
}

/* The role S3 assumes, with the inline policy that lets it replicate what this resource needs. */
static int ensure_role(s3ctx *x, const char *role, char *arn, size_t arn_len, dr_error *err)
{
    static const char trust[] = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":"
                                "{\"Service\":\"s3.amazonaws.com\"},\"Action\":\"sts:AssumeRole\"}]}";
    stmt s[MAX_STMTS];
    size_t n = role_stmts(x, role, s);
    dr_buf form = DR_BUF_INIT, doc = DR_BUF_INIT, why = DR_BUF_INIT;
    char target[160], *text = NULL;
    dr_doc *resp = NULL;
    int rc, trusts_s3 = 0, exists;

    arn[0] = '\0';
    if (!s3_role_managed(role)) {
        snprintf(arn, arn_len, "%s", role);
        return 0;
    }
    snprintf(target, sizeof(target), "iam role %s", role);
    rc = s3_get_role(x, role, arn, arn_len, &trusts_s3, err);
    if (rc != 0 && rc != DR_ENOTFOUND)
        goto out;
    exists = rc == 0;
    if (!exists) {
        dr_error_clear(err);
        rc = 0;
        if (!x->plan) {
            dr_aws_form_add(&form, "RoleName", role);
            dr_aws_form_add(&form, "AssumeRolePolicyDocument", trust);
            dr_aws_form_add(&form, "Description", "S3-cross-region-replication-role-of-dr-agent");
            rc = s3_iam_call(x, "CreateRole", &form, &resp, err);
            if (rc == 0) {
                const char *a = dr_node_str(dr_doc_root(resp), "CreateRoleResult.Role.Arn");
                snprintf(arn, arn_len, "%s", a ? a : "");
            } else if (dr_error_is(err, "EntityAlreadyExists")) {
                /* another resource of this run shares the role and created it first */
                dr_error_clear(err);
                rc = s3_get_role(x, role, arn, arn_len, &trusts_s3, err);
                if (rc == 0) {
                    exists = 1;
                    goto policy;
                }
            }
        }
        change(x, rc, "create role", target, "trusted by s3.amazonaws.com");
        if (rc != 0)
            goto out;
    } else if (!trusts_s3) {
        H->log(x->res, DR_LOG_WARN, "role %s does not name s3.amazonaws.com in its trust policy", role);
    }
policy:
    if (exists) {
        rc = s3_get_role_policy(x, role, &text, err);
        if (rc != 0 && rc != DR_ENOTFOUND)
            goto out;
        if (rc == DR_ENOTFOUND)
            dr_buf_puts(&why, "no such policy");
        else
            s3_policy_missing(text, s, n, &why);
        dr_error_clear(err);
        rc = 0;
        if (why.len == 0)
            goto out;
    } else {
        dr_buf_puts(&why, "new role");
    }
    s3_policy_json(s, n, &doc);
    if (doc.failed || why.failed) {
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    if (!x->plan) {
        dr_buf_reset(&form);
        dr_aws_form_add(&form, "RoleName", role);
        dr_aws_form_add(&form, "PolicyName", x->policy);
        dr_aws_form_add(&form, "PolicyDocument", dr_buf_str(&doc));
        dr_doc_free(resp);
        resp = NULL;
        rc = s3_iam_call(x, "PutRolePolicy", &form, &resp, err);
        if (rc != 0 && dr_error_is(err, "LimitExceeded"))
            dr_error_prefix(err, "role %s cannot hold the policy of one more bucket (IAM allows 10,240 characters "
                            "of inline policies per role): leave replication_role unset, so that each bucket has "
                            "a role of its own, or give this resource another role; ", role);
    }
    change(x, rc, "put role policy", target, "%s: %s", x->policy, rc == 0 ? dr_buf_str(&why) : err->message);
out:
    free(text);
    dr_doc_free(resp);
    dr_buf_free(&form);
    dr_buf_free(&doc);
    dr_buf_free(&why);
    return rc;
}

/*
 * Rules of the earlier format (V1: rule-level Prefix) cannot stay beside this plugin's V2 rule: S3 refuses the
 * mix. They are converted (Filter/Prefix, a Priority, delete markers replicated as V1 did), which keeps them
 * replicating what they did; the plan says which, and a warning names them.
 */
static void note_v1_rules(s3ctx *x, const direction *d, const dr_node *root, dr_buf *why)
{
    dr_buf names = DR_BUF_INIT;

    for (const dr_node *r = dr_node_get(root, "Rule"); r; r = dr_node_next_named(r)) {
        const char *id = dr_node_str(r, "ID");
        if (!s3_rule_is_v1(r) || s3_streq(id, d->rule_id))
            continue;
        dr_buf_printf(&names, "%s%s (prefix '%s')", names.len ? ", " : "", id ? id : "(no id)",
                      dr_node_str(r, "Prefix") ? dr_node_str(r, "Prefix") : "");
    }
    if (names.len) {
        dr_buf_printf(why, "%sother rules in the earlier V1 format converted to V2 (S3 refuses a mix): %s",
                      why->len ? "; " : "", dr_buf_str(&names));
        H->log(x->res, DR_LOG_WARN, "s3://%s: replication rules %s are converted from V1 to V2 (Filter/Prefix, "
               "a priority, delete markers replicated as before)", d->src, dr_buf_str(&names));
    }
    dr_buf_free(&names);
}

/*
 * The replication rule of direction d on its source bucket, as configured.
 * role_arn may be NULL in a dry run (the role is only planned).
 */
static int ensure_rule(s3ctx *x, const direction *d, const char *role_arn, dr_error *err)
{
    dr_aws_response *cur = NULL;
    const dr_node *root, *rule;
    dr_buf why = DR_BUF_INIT, xml = DR_BUF_INIT;
    char target[128];
    const char *cur_role;
    size_t left;
    int rc;

    snprintf(target, sizeof(target), "s3://%s", d->src);
    rc = s3_get_replication(x, d->src_region, d->src, &cur, err);
    if (rc == DR_ENOTFOUND) {
        rc = dr_error_set(err, DR_ENOTFOUND, "bucket s3://%s does not exist (region %s)", d->src, d->src_region);
        goto out;
    }
    if (rc != 0)
        goto out;
    root = cur ? dr_aws_response_doc(cur) : NULL;
    rule = s3_find_rule(root, d->rule_id);
    cur_role = dr_node_str(root, "Role");
    if (!root)
        dr_buf_puts(&why, "no replication configuration");
    else if (!rule)
        dr_buf_printf(&why, "no rule %s", d->rule_id);
    else
        s3_rule_differences(x, d, rule, &why);
    if (root && !s3_role_matches(d->role, cur_role))
        dr_buf_printf(&why, "%srole %s", why.len ? "; " : "", cur_role ? cur_role : "unset");
    if (why.len == 0)
        goto out;
    if (root && cur_role && !s3_role_matches(d->role, cur_role) && dr_node_count(root) > 2)
        H->log(x->res, DR_LOG_WARN, "s3://%s: the other replication rules will use role %s too", d->src,
               role_arn ? role_arn : s3_role_name(d->role));
    note_v1_rules(x, d, root, &why);
    if (!x->plan) {
        if (!role_arn || !*role_arn) {
            rc = dr_error_set(err, DR_ESTATE, "the ARN of role %s is not known", d->role);
        } else {
            s3_build_replication(x, d, root, role_arn, 0, &xml, &left);
            rc = xml.failed ? dr_error_set(err, DR_ENOMEM, "out of memory")
                            : s3_put_replication(x, d->src_region, d->src, dr_buf_str(&xml), err);
        }
    }
    change(x, rc, "put replication rule", target, "rule %s to s3://%s in %s, RTC %d min, metrics, delete markers: %s",
           d->rule_id, d->dst, d->dst_region, RTC_MINUTES, dr_buf_str(&why));
out:
    dr_aws_response_free(cur);
    dr_buf_free(&why);
    dr_buf_free(&xml);
    return rc;
}

/* Removes direction d's rule from its source bucket (failback ends the reverse direction). */
static int remove_rule(s3ctx *x, const direction *d, dr_error *err)
{
    dr_aws_response *cur = NULL;
    const dr_node *root;
    dr_buf xml = DR_BUF_INIT;
    char target[128];
    size_t left = 0;
    int rc;

    snprintf(target, sizeof(target), "s3://%s", d->src);
    rc = s3_get_replication(x, d->src_region, d->src, &cur, err);
    if (rc != 0)
        goto out;
    root = cur ? dr_aws_response_doc(cur) : NULL;
    if (!s3_find_rule(root, d->rule_id))
        goto out;
    s3_build_replication(x, d, root, dr_node_str(root, "Role"), 1, &xml, &left);
    if (!x->plan)
        rc = xml.failed ? dr_error_set(err, DR_ENOMEM, "out of memory")
             : left == 0 ? s3_delete_replication(x, d->src_region, d->src, err)
                         : s3_put_replication(x, d->src_region, d->src, dr_buf_str(&xml), err);
    change(x, rc, "remove replication rule", target, "rule %s (%s), no longer needed", d->rule_id, d->label);
out:
    dr_aws_response_free(cur);
    dr_buf_free(&xml);
    return rc;
}

/* The noncurrent-versions-to-GLACIER rule on one bucket: present when days > 0, absent when 0. */
static int ensure_lifecycle(s3ctx *x, const char *region, const char *bucket, int planned_new, dr_error *err)
{
    dr_aws_response *cur = NULL;
    const dr_node *root, *mine;
    dr_buf xml = DR_BUF_INIT;
    dr_aws_request rq;
    char target[128];
    size_t left = 0;
    int rc = 0;

    snprintf(target, sizeof(target), "s3://%s", bucket);
    if (planned_new) {
        if (x->glacier_days > 0)
            change(x, 0, "put lifecycle rule", target, "%s: noncurrent versions to GLACIER after %lld days",
                   x->lifecycle_id, (long long)x->glacier_days);
        return 0;
    }
    if ((rc = s3_get_lifecycle(x, region, bucket, &cur, err)) != 0)
        goto out;
    root = cur ? dr_aws_response_doc(cur) : NULL;
    for (mine = dr_node_get(root, "Rule"); mine; mine = dr_node_next_named(mine))
        if (s3_streq(dr_node_str(mine, "ID"), x->lifecycle_id))
            break;
    if (x->glacier_days > 0 ? s3_lifecycle_rule_ok(mine, x->glacier_days) : mine == NULL)
        goto out;

    dr_buf_puts(&xml, "<LifecycleConfiguration xmlns=\"" S3NS "\">");
    for (const dr_node *r = dr_node_get(root, "Rule"); r; r = dr_node_next_named(r))
        if (r != mine) {
            s3_xml_copy_node(&xml, r);
            left++;
        }
    if (x->glacier_days > 0) {
        dr_buf_puts(&xml, "<Rule>");
        dr_buf_xml_elem(&xml, "ID", x->lifecycle_id);
        dr_buf_printf(&xml,
                      "<Filter><Prefix></Prefix></Filter><Status>Enabled</Status><NoncurrentVersionTransition>"
                      "<NoncurrentDays>%lld</NoncurrentDays><StorageClass>GLACIER</StorageClass>"
                      "</NoncurrentVersionTransition></Rule>",
                      (long long)x->glacier_days);
        left++;
    }
    dr_buf_puts(&xml, "</LifecycleConfiguration>");
    if (xml.failed) {
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    if (!x->plan) {
        if (left == 0) {
            rq = s3_request("DeleteBucketLifecycle", "DELETE", bucket, "lifecycle");
        } else {
            rq = s3_request("PutBucketLifecycleConfiguration", "PUT", bucket, "lifecycle");
            rq.body = dr_buf_str(&xml);
            rq.checksum = 1;
        }
        rc = s3_send(x, region, &rq, NULL, err);
    }
    if (x->glacier_days > 0)
        change(x, rc, "put lifecycle rule", target, "%s: noncurrent versions to GLACIER after %lld days",
               x->lifecycle_id, (long long)x->glacier_days);
    else
        change(x, rc, "remove lifecycle rule", target, "%s: noncurrent_glacier_days is 0", x->lifecycle_id);
out:
    dr_aws_response_free(cur);
    dr_buf_free(&xml);
    return rc;
}

/*
 * Live replication copies new writes only: objects the source bucket held before the rule never reach the DR
 * bucket unless S3 Batch Replication copies them. A bounded sample (one page of ListObjectsV2, and a binary
 * search with HeadObject when the rule exists already) finds them; configure warns with the count and the exact
 * remedy, in a dry run too, and verify keeps the check existing_objects until they are replicated.
 */
static void warn_backlog(s3ctx *x, const direction *d)
{
    dr_aws_response *cur = NULL;
    s3_backlog b;
    char remedy[900];
    dr_error e;
    int rc;

    dr_error_clear(&e);
    rc = s3_get_replication(x, d->src_region, d->src, &cur, &e);
    if (rc == 0)
        rc = s3_backlog_scan(x, d, !s3_find_rule(cur ? dr_aws_response_doc(cur) : NULL, d->rule_id), &b, &e);
    dr_aws_response_free(cur);
    if (rc != 0) {
        H->log(x->res, DR_LOG_WARN, "s3://%s: could not look for objects written before replication: %s", d->src,
               e.message);
        return;
    }
    if (b.unreplicated == 0)
        return;
    s3_backlog_remedy(x, d, remedy, sizeof(remedy));
    H->log(x->res, DR_LOG_WARN,
           "s3://%s holds %s%zu objects written before its replication rule (oldest %s): live replication never "
           "copies them to s3://%s; %s",
           d->src, b.truncated ? "at least " : "", b.unreplicated, b.oldest, d->dst, remedy);
}

static int s3_configure(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    s3ctx x;
    direction fwd, rev;
    char arn[320], rev_arn[320];
    int rc, dr_new = 0;

    s3_load(&x, res, args);
    s3_adopt_read(&x); /* the rule and role an existing setup uses, when the config names neither */
    s3_forward_dir(&x, &fwd);
    s3_reverse_dir(&x, &rev);

    /* 1. Versioning on the source bucket (the application's bucket: never created here). */
    if ((rc = ensure_versioning(&x, x.primary, x.bucket, 0, err)) != 0)
        return rc;
    /* 2. The destination bucket in the DR region, with versioning. */
    if ((rc = ensure_dr_bucket(&x, &dr_new, err)) != 0)
        return rc;
    if ((rc = ensure_versioning(&x, x.dr, x.dr_bucket, dr_new, err)) != 0)
        return rc;
    /* 3. The replication role with a least-privilege inline policy; the reverse direction's too, now,
          because IAM changes may be impossible while the primary region is down. */
    if ((rc = ensure_role(&x, fwd.role, arn, sizeof(arn), err)) != 0)
        return rc;
    if (x.reverse && strcmp(rev.role, fwd.role) != 0 &&
        (rc = ensure_role(&x, rev.role, rev_arn, sizeof(rev_arn), err)) != 0)
        return rc;
    /* 4. The rule: everything, RTC 15 minutes, replication metrics, delete markers, KMS when configured; what the
          bucket held before it is reported, as it will not replicate. */
    warn_backlog(&x, &fwd);
    if ((rc = ensure_rule(&x, &fwd, arn, err)) != 0)
        return rc;
    /* 5. The cost advice: noncurrent versions to GLACIER on both buckets. */
    if ((rc = ensure_lifecycle(&x, x.primary, x.bucket, 0, err)) != 0)
        return rc;
    return ensure_lifecycle(&x, x.dr, x.dr_bucket, dr_new, err);
}

/* ------------------------------------------------------------------------------------------ */
/* verify                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void check_versioning(s3ctx *x, const char *name, const char *region, const char *bucket)
{
    char status[32];
    dr_error e;
    int rc;

    dr_error_clear(&e);
    rc = s3_get_versioning(x, region, bucket, status, sizeof(status), &e);
    if (rc == DR_ENOTFOUND)
        dr_report_state(H, x->res, name, DR_STATUS_CRITICAL, "missing", "Enabled", "bucket s3://%s does not exist",
                        bucket);
    else if (rc != 0)
        dr_report_unknown(H, x->res, name, "Enabled", &e);
    else
        dr_report_state(H, x->res, name, strcmp(status, "Enabled") == 0 ? DR_STATUS_OK : DR_STATUS_CRITICAL, status,
                        "Enabled", "versioning of s3://%s (%s)%s", bucket, region,
                        strcmp(status, "Enabled") == 0 ? "" : ": replication stops without it");
}

/* dr_bucket: exists in the DR region. Returns 1 present, 0 missing, -1 unknown. */
static int check_dr_bucket(s3ctx *x)
{
    char region[64];
    dr_error e;
    int rc;

    dr_error_clear(&e);
    rc = s3_get_location(x, x->dr, x->dr_bucket, region, sizeof(region), &e);
    if (rc == DR_ENOTFOUND) {
        dr_report_state(H, x->res, "dr_bucket", DR_STATUS_CRITICAL, "missing", x->dr,
                        "bucket s3://%s does not exist: replication has nowhere to go", x->dr_bucket);
        return 0;
    }
    if (rc != 0) {
        dr_report_unknown(H, x->res, "dr_bucket", x->dr, &e);
        return -1;
    }
    dr_report_state(H, x->res, "dr_bucket", strcmp(region, x->dr) == 0 ? DR_STATUS_OK : DR_STATUS_CRITICAL, region,
                    x->dr, "s3://%s is in %s", x->dr_bucket, region);
    return 1;
}

static const char *const rule_checks[] = {"replication_destination", "replication_time_control", "replication_metrics",
                                          "delete_marker_replication"};

/*
 * The checks of direction d's rule, from the configuration `root` (NULL:
 * none) or the error that kept it from being read (rc). Returns the worst status.
 */
static dr_status check_rule(s3ctx *x, const direction *d, int rc, const dr_node *root, const dr_error *rerr)
{
    char want[320], rtc[48];
    const dr_node *rule;
    const char *v;
    dr_status worst = DR_STATUS_OK, s;

#define WORST(st) (worst = dr_status_worse(worst, (st)))
    snprintf(want, sizeof(want), "arn:%s:s3:::%s", x->partition, d->dst);
    if (rc != 0 && rc != DR_ENOTFOUND) {
        dr_report_unknown(H, x->res, "replication_configuration", "Enabled", rerr);
        for (size_t i = 0; i < sizeof(rule_checks) / sizeof(rule_checks[0]); i++)
            dr_report_unknown(H, x->res, rule_checks[i], NULL, rerr);
        if (d->dst_kms)
            dr_report_unknown(H, x->res, "replication_encryption", d->dst_kms, rerr);
        return DR_STATUS_UNKNOWN;
    }
    /* Without a rule, the checks of its parts would only repeat this one; they are not reported. */
    if (rc == DR_ENOTFOUND || !root) {
        dr_report_state(H, x->res, "replication_configuration", DR_STATUS_CRITICAL, "missing", "Enabled",
                        rc == DR_ENOTFOUND ? "bucket s3://%s does not exist"
                                           : "no replication configuration on s3://%s: nothing is replicated",
                        d->src);
        return DR_STATUS_CRITICAL;
    }
    if (!(rule = s3_find_rule(root, d->rule_id))) {
        dr_report_state(H, x->res, "replication_configuration", DR_STATUS_CRITICAL, "missing", "Enabled",
                        "s3://%s has a replication configuration without rule %s", d->src, d->rule_id);
        return DR_STATUS_CRITICAL;
    }
    v = dr_node_str(rule, "Status");
    s = !s3_streq(v, "Enabled") ? DR_STATUS_CRITICAL : s3_filter_selects_all(rule) ? DR_STATUS_OK : DR_STATUS_WARNING;
    WORST(s);
    dr_report_state(H, x->res, "replication_configuration", s, v ? v : "unset", "Enabled", "rule %s on s3://%s%s",
                    d->rule_id, d->src,
                    s == DR_STATUS_WARNING ? ": its filter leaves some objects unreplicated"
                    : s == DR_STATUS_OK    ? " replicates every object"
                                           : " is not enabled: nothing is replicated");

    v = dr_node_str(rule, "Destination.Bucket");
    WORST(s = s3_streq(v, want) ? DR_STATUS_OK : DR_STATUS_CRITICAL);
    dr_report_state(H, x->res, "replication_destination", s, v ? v : "unset", want, "replicas go to %s (%s)",
                    v ? v : "nowhere", d->dst_region);

    v = dr_node_str(rule, "Destination.ReplicationTime.Status");
    if (s3_streq(v, "Enabled"))
        snprintf(rtc, sizeof(rtc), "Enabled, %g minutes",
                 dr_node_num(rule, "Destination.ReplicationTime.Time.Minutes", 0));
    else
        snprintf(rtc, sizeof(rtc), "%s", v ? v : "off");
    snprintf(want, sizeof(want), "Enabled, %d minutes", RTC_MINUTES);
    WORST(s = strcmp(rtc, want) == 0 ? DR_STATUS_OK : DR_STATUS_CRITICAL);
    dr_report_state(H, x->res, "replication_time_control", s, rtc, want, "rule %s on s3://%s (to s3://%s): %s",
                    d->rule_id, d->src, d->dst,
                    s == DR_STATUS_OK ? "S3 Replication Time Control: 99.99% of objects within 15 minutes"
                                      : "without RTC, S3 promises no replication time: the RPO cannot be held");

    v = dr_node_str(rule, "Destination.Metrics.Status");
    WORST(s = s3_streq(v, "Enabled") ? DR_STATUS_OK : DR_STATUS_CRITICAL);
    dr_report_state(H, x->res, "replication_metrics", s, v ? v : "off", "Enabled", "%s",
                    s == DR_STATUS_OK ? "ReplicationLatency and pending operations/bytes are published"
                                      : "no replication metrics: replication lag cannot be watched");

    v = dr_node_str(rule, "DeleteMarkerReplication.Status");
    WORST(s = s3_streq(v, "Enabled") ? DR_STATUS_OK : DR_STATUS_WARNING);
    dr_report_state(H, x->res, "delete_marker_replication", s, v ? v : "off", "Enabled", "%s",
                    s == DR_STATUS_OK ? "deletes reach the other bucket"
                                      : "deletes do not reach the other bucket: it serves deleted objects after a failover");

    if (d->dst_kms) {
        const char *key = dr_node_str(rule, "Destination.EncryptionConfiguration.ReplicaKmsKeyID");
        const char *sel = dr_node_str(rule, "SourceSelectionCriteria.SseKmsEncryptedObjects.Status");
        WORST(s = s3_streq(key, d->dst_kms) && s3_streq(sel, "Enabled") ? DR_STATUS_OK : DR_STATUS_CRITICAL);
        dr_report_state(H, x->res, "replication_encryption", s, key ? key : "unset", d->dst_kms,
                        "SSE-KMS objects %s; replicas encrypted with %s",
                        s3_streq(sel, "Enabled") ? "replicated" : "NOT replicated", key ? key : "no KMS key");
    }
#undef WORST
    return worst;
}

/* replication_role: the configuration names the role, the role exists, S3 may assume it, and it may replicate. */
static void check_role(s3ctx *x, const direction *d, int have_cfg, const char *cfg_role)
{
    char arn[320];
    stmt s[MAX_STMTS];
    size_t n = role_stmts(x, d->role, s);
    dr_buf why = DR_BUF_INIT, from = DR_BUF_INIT;
    const char *name = s3_role_name(d->role);
    int trusts = 0, rc;
    dr_error e;

    dr_error_clear(&e);
    if (have_cfg && !s3_role_matches(d->role, cfg_role)) {
        dr_report_state(H, x->res, "replication_role", DR_STATUS_CRITICAL, cfg_role ? cfg_role : "unset", name,
                        "the replication configuration of s3://%s uses another role", d->src);
        goto out;
    }
    rc = s3_get_role(x, d->role, arn, sizeof(arn), &trusts, &e);
    if (rc == DR_ENOTFOUND) {
        dr_report_state(H, x->res, "replication_role", DR_STATUS_CRITICAL, "missing", name,
                        "role %s does not exist: S3 cannot replicate", name);
        goto out;
    }
    if (rc != 0) {
        dr_report_unknown(H, x->res, "replication_role", name, &e);
        goto out;
    }
    if (!trusts) {
        dr_report_state(H, x->res, "replication_role", DR_STATUS_CRITICAL, name, name,
                        "role %s does not let s3.amazonaws.com assume it", name);
        goto out;
    }
    /* What the role may do: all its inline and managed policies, whatever their names. */
    rc = s3_role_missing(x, d->role, s, n, &why, &from, &e);
    if (rc != 0) {
        dr_report_unknown(H, x->res, "replication_role", name, &e);
        goto out;
    }
    if (why.len)
        dr_buf_printf(&why, " not granted by the role's policies (%s)", dr_buf_str(&from));
    dr_report_state(H, x->res, "replication_role", why.len ? DR_STATUS_CRITICAL : DR_STATUS_OK, name, name, "%s%s%s",
                    why.len ? "missing: " : "exists, trusted by s3.amazonaws.com, may replicate (",
                    why.len ? dr_buf_str(&why) : dr_buf_str(&from), why.len ? "" : ")");
out:
    dr_buf_free(&why);
    dr_buf_free(&from);
}

void s3_check_role(s3ctx *x, const direction *d)
{
    check_role(x, d, 0, NULL);
}

/* A numeric check whose threshold is optional (limit <= 0: reported, not judged). */
static void report_pending(s3ctx *x, const char *name, const char *unit, const dr_aws_metric *m, int64_t limit,
                           const char *what)
{
    char ob[40], th[40], detail[300];

    snprintf(ob, sizeof(ob), "%.6g", m->datapoints ? m->latest : 0.0);
    snprintf(th, sizeof(th), "%lld", (long long)limit);
    if (m->datapoints)
        snprintf(detail, sizeof(detail), "%s now (max %.6g in the window)%s", what, m->max,
                 limit > 0 ? "" : "; no limit configured");
    else
        snprintf(detail, sizeof(detail), "no datapoints: nothing to replicate, or metrics not published yet");
    dr_report_check(H, x->res, name,
                    limit > 0 && m->datapoints && m->latest > (double)limit ? DR_STATUS_WARNING : DR_STATUS_OK, ob,
                    limit > 0 ? th : NULL, unit, detail);
}

/* The replication metrics of direction d against the RPO; *lag gets the latest latency when there is one. */
static int check_metrics(s3ctx *x, const direction *d, double *lag)
{
    static const struct {
        const char *metric, *check, *unit;
    } pend[] = {{"OperationsPendingReplication", "operations_pending_replication", "count"},
                {"BytesPendingReplication", "bytes_pending_replication", "bytes"}};
    char win[32];
    dr_aws_metric m;
    dr_error e;
    int have = 0;

    dr_duration_format(x->window, win, sizeof(win));
    dr_error_clear(&e);
    if (s3_replication_metric(x, d, "ReplicationLatency", &m, &e) != 0) {
        dr_report_unknown(H, x->res, "replication_latency", NULL, &e);
    } else if (m.datapoints == 0) {
        dr_report_number(H, x->res, "replication_latency", DR_STATUS_OK, 0, x->rpo, "seconds",
                         "no datapoints in the last %s: nothing to replicate, or metrics not published yet", win);
    } else {
        dr_report_number(H, x->res, "replication_latency", dr_lag_status(m.latest, x->rpo, x->warn_fraction),
                         m.latest, x->rpo, "seconds",
                         "%s: latest of %zu datapoints, max %.6g in the last %s; WARNING above %.6g s", d->label,
                         m.datapoints, m.max, win, x->rpo * x->warn_fraction);
        *lag = m.latest;
        have = 1;
    }
    for (size_t i = 0; i < 2; i++) {
        int64_t limit = i == 0 ? x->max_ops : x->max_bytes;
        dr_error_clear(&e);
        if (s3_replication_metric(x, d, pend[i].metric, &m, &e) != 0)
            dr_report_unknown(H, x->res, pend[i].check, NULL, &e);
        else
            report_pending(x, pend[i].check, pend[i].unit, &m, limit, i == 0 ? "operations pending" : "bytes pending");
    }
    return have;
}

/* canary_replication: a real object, timed from write to replica; the measured time is the observed RPO. */
static void check_canary(s3ctx *x, const direction *d)
{
    char how[128] = "";
    double secs = 0;
    dr_error e;

    dr_error_clear(&e);
    switch (s3_run_canary(x, d, s3_canary_budget(x, x->canary_deadline), &secs, how, sizeof(how), &e)) {
    case CANARY_REPLICATED:
        dr_report_number(H, x->res, "canary_replication", dr_lag_status(secs, x->rpo, x->warn_fraction), secs, x->rpo,
                         "seconds", "%s: canary replicated to s3://%s in %.1f s (%s)", d->label, d->dst, secs, how);
        H->rpo_observed(x->res, secs);
        break;
    case CANARY_LATE:
        /* The replication time is at least what was waited: bad, and worse once that reached the RPO. */
        dr_report_number(H, x->res, "canary_replication", secs >= x->rpo ? DR_STATUS_CRITICAL : DR_STATUS_WARNING,
                         secs, x->rpo, "seconds", "%s: canary not replicated within the wait (%.1f s)", d->label,
                         secs);
        H->rpo_observed(x->res, secs);
        break;
    case CANARY_FAILED:
        dr_report_number(H, x->res, "canary_replication", DR_STATUS_CRITICAL, secs, x->rpo, "seconds", "%s: %s",
                         d->label, e.message);
        H->rpo_observed(x->res, secs);
        break;
    case CANARY_ERROR:
        dr_report_unknown(H, x->res, "canary_replication", NULL, &e);
        H->rpo_observed(x->res, -1); /* the data's RPO is unknown */
        break;
    }
}

/* existing_objects: objects the source held before the rule, not replicated (a bounded sample; WARNING until copied). */
static void check_backlog(s3ctx *x, const direction *d)
{
    s3_backlog b;
    char remedy[900];
    dr_error e;

    dr_error_clear(&e);
    if (s3_backlog_scan(x, d, 0, &b, &e) != 0) {
        dr_report_unknown(H, x->res, "existing_objects", "0", &e);
        return;
    }
    if (b.unreplicated == 0) {
        dr_report_number(H, x->res, "existing_objects", DR_STATUS_OK, 0, 0, "count",
                         "every object of the %zu listed in s3://%s%s has a replication status", b.listed, d->src,
                         b.truncated ? " (first page)" : "");
        return;
    }
    s3_backlog_remedy(x, d, remedy, sizeof(remedy));
    dr_report_number(H, x->res, "existing_objects", DR_STATUS_WARNING, (double)b.unreplicated, 0, "count",
                     "%s%zu objects of s3://%s were written before its replication rule (%s to %s) and are not in "
                     "s3://%s; %s",
                     b.truncated ? "at least " : "", b.unreplicated, d->src, b.oldest, b.newest, d->dst, remedy);
}

/* lifecycle_rule: noncurrent versions go to GLACIER on both buckets (a cost rule: WARNING at worst). */
static void check_lifecycle(s3ctx *x)
{
    const char *buckets[2] = {x->bucket, x->dr_bucket}, *regions[2] = {x->primary, x->dr};
    dr_buf bad = DR_BUF_INIT;
    char want[64];
    dr_error e;

    snprintf(want, sizeof(want), "GLACIER after %lld days", (long long)x->glacier_days);
    for (size_t i = 0; i < 2; i++) {
        dr_aws_response *cur = NULL;
        const dr_node *r = NULL;
        dr_error_clear(&e);
        if (s3_get_lifecycle(x, regions[i], buckets[i], &cur, &e) != 0 && e.code != DR_ENOTFOUND) {
            dr_report_unknown(H, x->res, "lifecycle_rule", want, &e);
            dr_buf_free(&bad);
            return;
        }
        for (r = dr_node_get(cur ? dr_aws_response_doc(cur) : NULL, "Rule"); r; r = dr_node_next_named(r))
            if (s3_streq(dr_node_str(r, "ID"), x->lifecycle_id))
                break;
        if (!s3_lifecycle_rule_ok(r, x->glacier_days))
            dr_buf_printf(&bad, "%ss3://%s", bad.len ? ", " : "", buckets[i]);
        dr_aws_response_free(cur);
    }
    dr_report_state(H, x->res, "lifecycle_rule", bad.len ? DR_STATUS_WARNING : DR_STATUS_OK,
                    bad.len ? "missing" : want, want, "rule %s (noncurrent versions) %s%s", x->lifecycle_id,
                    bad.len ? "missing or different on " : "on both buckets", dr_buf_str(&bad));
    dr_buf_free(&bad);
}

static int s3_verify(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    s3ctx x;
    direction d;
    dr_aws_response *cur = NULL;
    const dr_node *root;
    double lag = 0;
    dr_error e;
    int rc, have_lag;

    (void)err;
    s3_load(&x, res, args);
    /* After a failover the DR bucket takes the writes: the direction to check is the reverse one. */
    if (args->serving == DR_SERVING_DR)
        s3_reverse_dir(&x, &d);
    else
        s3_forward_dir(&x, &d);

    /* What the checks below read, read at once; each check then takes its answer. */
    s3_prefetch_verify(&x, &d, !(args->serving == DR_SERVING_DR && !x.reverse));

    /* 1. Both buckets exist and keep versions. */
    check_versioning(&x, "bucket_versioning", x.primary, x.bucket);
    if (check_dr_bucket(&x) != 0)
        check_versioning(&x, "dr_bucket_versioning", x.dr, x.dr_bucket);
    if (args->serving == DR_SERVING_DR && !x.reverse)
        goto lifecycle;

    /* 2. The replication rule: enabled, right destination, RTC 15 minutes, metrics, delete markers. */
    dr_error_clear(&e);
    rc = s3_get_replication(&x, d.src_region, d.src, &cur, &e);
    root = rc == 0 && cur ? dr_aws_response_doc(cur) : NULL;
    if (args->serving != DR_SERVING_DR) {
        s3_adopt_existing(&x, root); /* a rule and role made by hand, when the config names neither */
        s3_forward_dir(&x, &d);
    }
    check_rule(&x, &d, rc, root, &e);
    s3_report_adopted(&x);
    if (rc != 0 && rc != DR_ENOTFOUND)
        dr_report_unknown(H, x.res, "existing_objects", "0", &e);
    else if (s3_find_rule(root, d.rule_id))
        check_backlog(&x, &d);

    /* 3. The role S3 assumes. */
    check_role(&x, &d, root != NULL, dr_node_str(root, "Role"));
    dr_aws_response_free(cur);

    /* 4. What CloudWatch says about the lag, against the RPO. */
    have_lag = check_metrics(&x, &d, &lag);

    /* 5. A real object through the pipe: the measured time is the observed RPO. */
    if (x.canary_prefix)
        check_canary(&x, &d);
    else if (have_lag)
        H->rpo_observed(res, lag);
    else
        H->rpo_observed(res, -1); /* neither a canary nor the metrics: the data's RPO is unknown */

lifecycle:
    /* 6. The cost advice. */
    if (x.glacier_days > 0)
        check_lifecycle(&x);
    s3_prefetch_free(&x);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* failover and failback                                                                        */
/* ------------------------------------------------------------------------------------------ */

typedef struct drain {
    s3ctx *x;
    const direction *d;
    int no_data;
} drain;

static int drain_probe(void *arg, char *status, size_t status_len, dr_error *err)
{
    drain *k = arg;
    dr_aws_metric m;
    int rc = s3_replication_metric(k->x, k->d, "OperationsPendingReplication", &m, err);

    if (rc != 0)
        return rc;
    if (m.datapoints == 0) {
        k->no_data = 1;
        return 1;
    }
    if (m.latest <= 0)
        return 1;
    snprintf(status, status_len, "%.0f operations pending", m.latest);
    return 0;
}

/*
 * Waits until direction d has replicated what it holds: a canary made the
 * trip when one is configured, else OperationsPendingReplication is zero.
 */
static int wait_drained(s3ctx *x, const direction *d, dr_error *err)
{
    drain k = {x, d, 0};
    char how[128];
    double secs = 0;
    int rc;

    if (x->canary_prefix) {
        if (s3_run_canary(x, d, s3_canary_budget(x, 0), &secs, how, sizeof(how), err) != CANARY_REPLICATED)
            return err->code ? err->code : dr_error_set(err, DR_ESTATE, "the canary did not make the trip");
        H->log(x->res, DR_LOG_INFO, "%s drained: a canary made the trip in %.1f s", d->label, secs);
        return 0;
    }
    rc = dr_wait_for(H, x->res, "pending replication to drain", 5000, 0, drain_probe, &k, err);
    if (rc == 0)
        H->log(x->res, DR_LOG_INFO, "%s drained: %s", d->label,
               k.no_data ? "no OperationsPendingReplication datapoints (nothing to replicate)"
                         : "no operation pending");
    return rc;
}

/* A forced switch does not wait: it reports how far behind the direction was, as the data at risk. */
static void report_loss(s3ctx *x, const direction *d)
{
    dr_aws_metric m;
    dr_error e;

    dr_error_clear(&e);
    if (s3_replication_metric(x, d, "ReplicationLatency", &m, &e) != 0) {
        H->log(x->res, DR_LOG_WARN, "%s: data at risk unknown: %s", d->label, e.message);
        return;
    }
    if (m.datapoints) {
        H->rpo_observed(x->res, m.latest);
        H->log(x->res, DR_LOG_WARN, "%s: replication was %.6g s behind; objects written in that time may be lost",
               d->label, m.latest);
    }
}

static int s3_failover(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    s3ctx x;
    direction fwd, rev;
    char region[64], arn[320], detail[300], target[128];
    int forced = args->mode == DR_MODE_FORCED;
    int rc;

    s3_load(&x, res, args);
    s3_forward_dir(&x, &fwd);
    s3_reverse_dir(&x, &rev);
    snprintf(target, sizeof(target), "s3://%s", x.dr_bucket);

    /* 1. The DR bucket takes the writes from now on: it must exist and keep versions. */
    rc = s3_get_location(&x, x.dr, x.dr_bucket, region, sizeof(region), err);
    if (rc == DR_ENOTFOUND)
        return dr_error_set(err, DR_ESTATE, "cannot fail over: DR bucket s3://%s does not exist", x.dr_bucket);
    if (rc != 0)
        return rc;
    if ((rc = ensure_versioning(&x, x.dr, x.dr_bucket, 0, err)) != 0)
        return rc;

    /* 2. Graceful: what the primary bucket still holds reached the DR bucket in the prepare phase. Forced: report
       the gap. */
    if (forced)
        report_loss(&x, &fwd);
    else if (!x.plan)
        H->rpo_observed(res, 0);

    /* 3. Writes made during the outage flow back to the primary bucket once it is reachable. */
    if (x.reverse) {
        rc = s3_role_arn_via_sts(&x, rev.role, x.dr, arn, sizeof(arn), err);
        if (rc == 0)
            rc = ensure_rule(&x, &rev, arn, err);
        else if (!x.plan)
            change(&x, rc, "put replication rule", target, "rule %s: %s", rev.rule_id, err->message);
        if (rc != 0) {
            if (!forced)
                return rc;
            H->log(res, DR_LOG_WARN,
                   "reverse replication not set up (%s): writes to s3://%s stay there until failover runs again",
                   err->message, x.dr_bucket);
            dr_error_clear(err);
        }
    }

    /* 4. What the application must switch. */
    snprintf(detail, sizeof(detail), "the application must read and write s3://%s in %s instead of s3://%s in %s%s",
             x.dr_bucket, x.dr, x.bucket, x.primary,
             x.reverse ? "; its writes replicate back to the primary bucket" : "");
    dr_report_state(H, res, "active_bucket", DR_STATUS_OK, x.dr_bucket, x.dr_bucket, "%s", detail);
    H->log(res, DR_LOG_INFO, "%s", detail);
    if (!x.plan)
        dr_report_state(H, res, "endpoint", DR_STATUS_OK, target, NULL, "bucket in %s", x.dr);
    return 0;
}

static int s3_failback(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    s3ctx x;
    direction fwd, rev;
    dr_aws_response *cur = NULL;
    const dr_node *root;
    char arn[320];
    int forced = args->mode == DR_MODE_FORCED;
    int rc, reverse_on = 0;
    dr_error e;

    s3_load(&x, res, args);
    s3_forward_dir(&x, &fwd);
    s3_reverse_dir(&x, &rev);

    /* 1. The primary bucket is back and keeps versions. */
    if ((rc = ensure_versioning(&x, x.primary, x.bucket, 0, err)) != 0) {
        if (rc == DR_ENOTFOUND) {
            err->code = DR_ESTATE; /* nothing to fail back to */
            dr_error_prefix(err, "cannot fail back: ");
            return DR_ESTATE;
        }
        return rc;
    }

    /* 2. Graceful: the writes made in the DR region have flowed back before the primary takes over. */
    dr_error_clear(&e);
    rc = s3_get_replication(&x, rev.src_region, rev.src, &cur, &e);
    reverse_on = rc == 0 && cur && s3_find_rule(dr_aws_response_doc(cur), rev.rule_id);
    dr_aws_response_free(cur);
    cur = NULL;
    if (rc != 0 && !forced) {
        *err = e;
        return dr_error_prefix(err, "cannot read the reverse replication: ");
    }
    if (rc != 0)
        H->log(res, DR_LOG_WARN,
               "reverse rule %s on s3://%s not checked (%s); run failback again once %s is back to remove it",
               rev.rule_id, rev.src, e.message, rev.src_region);
    if (reverse_on) {
        if (forced)
            report_loss(&x, &rev);
        else if (!x.plan)
            H->rpo_observed(res, 0); /* drained in the prepare phase */
    }

    /* 3. Primary to DR again. */
    if ((rc = s3_role_arn_via_sts(&x, fwd.role, x.primary, arn, sizeof(arn), err)) != 0)
        return rc;
    if ((rc = ensure_rule(&x, &fwd, arn, err)) != 0)
        return rc;

    /* 4. The DR bucket stops replicating back. */
    if (reverse_on && (rc = remove_rule(&x, &rev, err)) != 0) {
        if (!forced)
            return rc;
        H->log(res, DR_LOG_WARN, "reverse rule %s left on s3://%s: %s", rev.rule_id, rev.src, err->message);
        dr_error_clear(err);
    }

    /* 5. Verify the restored direction. */
    if (x.plan)
        return 0;
    dr_error_clear(&e);
    rc = s3_get_replication(&x, fwd.src_region, fwd.src, &cur, &e);
    root = rc == 0 && cur ? dr_aws_response_doc(cur) : NULL;
    /* A WARNING (deletes not replicated) does not put data at risk; the rest must be right. */
    rc = check_rule(&x, &fwd, rc, root, &e) <= DR_STATUS_WARNING
             ? 0
             : dr_error_set(err, DR_ESTATE, "replication %s is not as configured after failback", fwd.label);
    dr_aws_response_free(cur);
    if (rc == 0) {
        char target[128];
        snprintf(target, sizeof(target), "s3://%s", x.bucket);
        dr_report_state(H, res, "endpoint", DR_STATUS_OK, target, NULL, "bucket in %s", x.primary);
    }
    return rc;
}

/*
 * The prepare phase: the bucket taking over exists, and (graceful) what the bucket being left still has to
 * replicate towards it has drained. Forced: nothing is waited for. Nothing is changed.
 */
static int s3_prepare(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    s3ctx x;
    direction fwd, rev;
    dr_aws_response *cur = NULL;
    char region[64];
    int back = DR_HAS_MEMBER(args, dr_hook_args, prepare_for) && args->prepare_for == DR_SWITCH_FAILBACK;
    int rc, reverse_on;
    const char *to, *bucket;

    s3_load(&x, res, args);
    s3_forward_dir(&x, &fwd);
    s3_reverse_dir(&x, &rev);
    to = back ? x.primary : x.dr;
    bucket = back ? x.bucket : x.dr_bucket;
    rc = s3_get_location(&x, to, bucket, region, sizeof(region), err);
    if (rc == DR_ENOTFOUND)
        return dr_error_set(err, DR_ESTATE, "cannot %s: bucket s3://%s does not exist", back ? "fail back" : "fail over",
                            bucket);
    if (rc != 0)
        return rc;
    dr_report_state(H, res, "prepare_bucket", DR_STATUS_OK, "exists", "exists", "s3://%s in %s takes over", bucket, to);
    if (args->mode == DR_MODE_FORCED || x.plan)
        return 0;
    if (!back) {
        if ((rc = wait_drained(&x, &fwd, err)) != 0)
            return dr_error_prefix(err, "replication %s has not drained (a forced failover does not wait): ",
                                   fwd.label);
        return 0;
    }
    rc = s3_get_replication(&x, rev.src_region, rev.src, &cur, err);
    if (rc != 0)
        return dr_error_prefix(err, "cannot read the reverse replication: ");
    reverse_on = cur && s3_find_rule(dr_aws_response_doc(cur), rev.rule_id);
    dr_aws_response_free(cur);
    if (reverse_on && (rc = wait_drained(&x, &rev, err)) != 0)
        return dr_error_prefix(err, "replication %s has not drained (a forced failback does not wait): ", rev.label);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* descriptor                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static int valid_bucket(const char *b)
{
    size_t n = strlen(b);

    if (n < 3 || n > 63 || !((b[0] >= 'a' && b[0] <= 'z') || (b[0] >= '0' && b[0] <= '9')) ||
        !((b[n - 1] >= 'a' && b[n - 1] <= 'z') || (b[n - 1] >= '0' && b[n - 1] <= '9')))
        return 0;
    return strspn(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") == n;
}

static int valid_role(const char *r)
{
    if (strncmp(r, "arn:", 4) == 0)
        return strstr(r, ":role/") != NULL && strspn(r, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                        "0123456789:/+=,.@_-") == strlen(r);
    return *r && strlen(r) <= 64 &&
           strspn(r, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-") == strlen(r);
}

static int s3_validate(dr_resource *res, dr_error *err)
{
    const char *b = H->cfg_string(res, "bucket"), *d = H->cfg_string(res, "dr_bucket");
    const char *rule = H->cfg_string(res, "rule_id"), *pol = H->cfg_string(res, "replication_policy");
    const char *kms = H->cfg_string(res, "kms_key_arn"), *dkms = H->cfg_string(res, "dr_kms_key_arn");
    const char *prefix = H->cfg_string(res, "canary_prefix");
    const char *roles[2] = {H->cfg_string(res, "replication_role"), H->cfg_string(res, "reverse_replication_role")};
    double frac = H->cfg_float(res, "pending_warn_fraction");

    if (!valid_bucket(b))
        return dr_error_set(err, DR_ECONFIG, "bucket: '%s' is not a valid bucket name", b);
    if (!valid_bucket(d))
        return dr_error_set(err, DR_ECONFIG, "dr_bucket: '%s' is not a valid bucket name", d);
    if (strcmp(b, d) == 0)
        return dr_error_set(err, DR_ECONFIG, "bucket and dr_bucket are both '%s'", b);
    if (!rule || !*rule || strlen(rule) > 200)
        return dr_error_set(err, DR_ECONFIG, "rule_id: 1 to 200 characters");
    for (size_t i = 0; i < 2; i++)
        if (roles[i] && !valid_role(roles[i]))
            return dr_error_set(err, DR_ECONFIG, "%s: '%s' is neither a role name nor a role ARN",
                                i ? "reverse_replication_role" : "replication_role", roles[i]);
    if (pol && (!*pol || strlen(pol) > 128 ||
                strspn(pol, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-") != strlen(pol)))
        return dr_error_set(err, DR_ECONFIG, "replication_policy: '%s' is not a valid policy name", pol);
    if (kms && !dkms)
        return dr_error_set(err, DR_ECONFIG,
                            "kms_key_arn needs dr_kms_key_arn: S3 re-encrypts SSE-KMS replicas with a key of the DR "
                            "region");
    for (size_t i = 0; i < 2; i++) {
        const char *k = i ? dkms : kms;
        if (k && (strncmp(k, "arn:", 4) != 0 || strchr(k, '"') || strchr(k, '\\')))
            return dr_error_set(err, DR_ECONFIG, "%s: '%s' is not a KMS key ARN", i ? "dr_kms_key_arn" : "kms_key_arn",
                                k);
    }
    if (frac <= 0 || frac > 1)
        return dr_error_set(err, DR_ECONFIG, "pending_warn_fraction: %g is not in (0, 1]", frac);
    if (H->cfg_int(res, "noncurrent_glacier_days") < 0)
        return dr_error_set(err, DR_ECONFIG, "noncurrent_glacier_days: must not be negative");
    if (H->cfg_int(res, "max_pending_operations") < 0 || H->cfg_int(res, "max_pending_bytes") < 0)
        return dr_error_set(err, DR_ECONFIG, "max_pending_operations, max_pending_bytes: must not be negative");
    if (H->cfg_float(res, "canary_deadline") <= 0 || H->cfg_float(res, "metrics_window") < 60)
        return dr_error_set(err, DR_ECONFIG, "canary_deadline must be positive and metrics_window at least 1m");
    if (prefix && (!*prefix || prefix[0] == '/' || strlen(prefix) > 400))
        return dr_error_set(err, DR_ECONFIG, "canary_prefix: '%s' is not a usable key prefix", prefix);
    return 0;
}

static int s3_init(const dr_host_api *host, dr_error *err)
{
    (void)err;
    s3_host = host;
    return 0;
}

/* The AWS services (signing names) this plugin calls. */
static const char *const services[] = {"s3", "iam", "monitoring", "kms", NULL};

static const dr_plugin_descriptor descriptor = {
    DR_PLUGIN_HEADER,
    "s3",
    "1.0.0",
    "S3 buckets: versioning, cross-region replication with Replication Time Control, canary probe",
    keys,
    sizeof(keys) / sizeof(keys[0]),
    NULL,
    s3_init,
    s3_validate,
    s3_configure,
    s3_verify,
    s3_failover,
    s3_failback,
    services,
    NULL, /* cleanup: nothing retired */
    s3_prepare,
    s3_diagnose, /* diagnose.c */
};

DR_PLUGIN_DECLARE_ENTRY
{
    return &descriptor;
}
