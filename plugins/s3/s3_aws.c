/* s3_aws.c: the s3 plugin's AWS calls and documents: S3 buckets, replication and lifecycle, IAM role and policy, metrics, canary. */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"

/* ---- requests ---- */

static int endpoint_down(s3ctx *x, const char *where, dr_error *err)
{
    for (size_t i = 0; i < 3; i++)
        if (x->down[i] && strcmp(x->down[i], where) == 0) {
            *err = x->down_err[i];
            return err->code;
        }
    return 0;
}

static void note_down(s3ctx *x, const char *where, int rc, const dr_error *err)
{
    if (rc != DR_ENETWORK && rc != DR_ETIMEDOUT)
        return;
    for (size_t i = 0; i < 3; i++)
        if (!x->down[i]) {
            x->down[i] = where;
            x->down_err[i] = *err;
            return;
        }
}

static dr_aws *client(s3ctx *x, const char *region, dr_error *err)
{
    return dr_host_aws(H, x->res, region, err);
}

dr_aws_request s3_request(const char *op, const char *method, const char *bucket, const char *query)
{
    dr_aws_request rq;

    dr_aws_request_init(&rq, sizeof(rq), "s3", DR_AWS_REST_XML, op, method, "/", query);
    rq.bucket = bucket;
    return rq;
}

/* One S3 request in `region`; *out (may be NULL) gets the response, which the caller frees. */
int s3_send(s3ctx *x, const char *region, const dr_aws_request *rq, dr_aws_response **out, dr_error *err)
{
    dr_aws_response *r = NULL;
    dr_aws *c;
    int rc;

    if (out)
        *out = NULL;
    if ((rc = endpoint_down(x, region, err)) != 0)
        return rc;
    if (!s3_pre_take_s3(x, region, rq, &r, err, &rc)) {
        if (!(c = client(x, region, err)))
            return err->code;
        rc = dr_aws_send(c, rq, &r, err);
    }
    if (rc != 0) {
        note_down(x, region, rc, err);
        return rc;
    }
    if (out)
        *out = r;
    else
        dr_aws_response_free(r);
    return 0;
}

/* IAM is global: its endpoint is reached through the primary region's client. */
int s3_iam_call(s3ctx *x, const char *op, const dr_buf *form, dr_doc **out, dr_error *err)
{
    dr_aws *c;
    int rc;

    *out = NULL;
    if ((rc = endpoint_down(x, "iam", err)) != 0)
        return rc;
    if (s3_pre_take_iam(x, op, form, out, err, &rc)) {
        note_down(x, "iam", rc, err);
        return rc;
    }
    if (!(c = client(x, x->primary, err)))
        return err->code;
    rc = dr_aws_query(c, "iam", op, IAM_VERSION, dr_buf_str(form), out, err);
    note_down(x, "iam", rc, err);
    return rc;
}

/* ---- buckets ---- */

/* Versioning status: "Enabled", "Suspended" or "Off" (never enabled). DR_ENOTFOUND: no such bucket. */
int s3_get_versioning(s3ctx *x, const char *region, const char *bucket, char *out, size_t n, dr_error *err)
{
    dr_aws_request rq = s3_request("GetBucketVersioning", "GET", bucket, "versioning");
    dr_aws_response *r;
    const char *st;
    int rc;

    if ((rc = s3_send(x, region, &rq, &r, err)) != 0)
        return rc;
    st = dr_node_str(dr_aws_response_doc(r), "Status");
    snprintf(out, n, "%s", st && *st ? st : "Off");
    dr_aws_response_free(r);
    return 0;
}

int s3_put_versioning(s3ctx *x, const char *region, const char *bucket, dr_error *err)
{
    dr_aws_request rq = s3_request("PutBucketVersioning", "PUT", bucket, "versioning");

    rq.body = "<VersioningConfiguration xmlns=\"" S3NS "\"><Status>Enabled</Status></VersioningConfiguration>";
    rq.checksum = 1;
    return s3_send(x, region, &rq, NULL, err);
}

/* The region a bucket lives in. DR_ENOTFOUND: no such bucket. */
int s3_get_location(s3ctx *x, const char *region, const char *bucket, char *out, size_t n, dr_error *err)
{
    dr_aws_request rq = s3_request("GetBucketLocation", "GET", bucket, "location");
    dr_aws_response *r;
    const char *loc;
    int rc;

    if ((rc = s3_send(x, region, &rq, &r, err)) != 0)
        return rc;
    loc = dr_node_text(dr_aws_response_doc(r));
    /* S3 answers an empty constraint for us-east-1 and the legacy "EU" for eu-west-1. */
    if (!loc || !*loc)
        loc = "us-east-1";
    else if (strcmp(loc, "EU") == 0)
        loc = "eu-west-1";
    snprintf(out, n, "%s", loc);
    dr_aws_response_free(r);
    return 0;
}

int s3_create_bucket(s3ctx *x, const char *region, const char *bucket, dr_error *err)
{
    dr_aws_request rq = s3_request("CreateBucket", "PUT", bucket, NULL);
    dr_buf body = DR_BUF_INIT;
    int rc;

    if (strcmp(region, "us-east-1") != 0) {
        dr_buf_puts(&body, "<CreateBucketConfiguration xmlns=\"" S3NS "\">");
        dr_buf_xml_elem(&body, "LocationConstraint", region);
        dr_buf_puts(&body, "</CreateBucketConfiguration>");
        if (body.failed) {
            dr_buf_free(&body);
            return dr_error_set(err, DR_ENOMEM, "out of memory");
        }
        rq.body = dr_buf_str(&body);
    }
    rc = s3_send(x, region, &rq, NULL, err);
    dr_buf_free(&body);
    return rc;
}

/*
 * GET a bucket's sub-resource (`query`: "replication", "lifecycle") into *out; a bucket without one answers
 * `absent_code` and gives 0 with *out NULL. DR_ENOTFOUND: no such bucket.
 */
static int get_subresource(s3ctx *x, const char *region, const char *bucket, const char *op, const char *query,
                           const char *absent_code, dr_aws_response **out, dr_error *err)
{
    dr_aws_request rq = s3_request(op, "GET", bucket, query);
    int rc = s3_send(x, region, &rq, out, err);

    if (rc == DR_ENOTFOUND && dr_error_is(err, absent_code)) {
        dr_error_clear(err);
        *out = NULL;
        return 0;
    }
    return rc;
}

/* ---- replication configuration ---- */

/* The bucket's replication configuration in *out (NULL when it has none). DR_ENOTFOUND: no such bucket. */
int s3_get_replication(s3ctx *x, const char *region, const char *bucket, dr_aws_response **out, dr_error *err)
{
    return get_subresource(x, region, bucket, "GetBucketReplication", "replication",
                           "ReplicationConfigurationNotFoundError", out, err);
}

const dr_node *s3_find_rule(const dr_node *root, const char *id)
{
    for (const dr_node *r = dr_node_get(root, "Rule"); r; r = dr_node_next_named(r)) {
        const char *rid = dr_node_str(r, "ID");
        if (rid && strcmp(rid, id) == 0)
            return r;
    }
    return NULL;
}

/* True when a rule's filter selects every object of the bucket. */
int s3_filter_selects_all(const dr_node *rule)
{
    const dr_node *f = dr_node_get(rule, "Filter");
    const char *prefix;

    if (f) {
        if (dr_node_kind_of(f) != DR_NODE_OBJECT)
            return 1;
        prefix = dr_node_str(f, "Prefix");
        return (!prefix || !*prefix) && !dr_node_get(f, "Tag") && !dr_node_get(f, "And");
    }
    prefix = dr_node_str(rule, "Prefix"); /* a V1 rule */
    return !prefix || !*prefix;
}

int s3_streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Role names and ARNs: "name" matches "arn:aws:iam::1:role/name" and "arn:aws:iam::1:role/path/name". */
int s3_role_matches(const char *configured, const char *arn)
{
    const char *slash;

    if (!configured || !arn)
        return 0;
    if (strncmp(configured, "arn:", 4) == 0)
        return strcmp(configured, arn) == 0;
    if (!strstr(arn, ":role/") || !(slash = strrchr(arn, '/')))
        return 0;
    return strcmp(slash + 1, configured) == 0;
}

const char *s3_role_name(const char *role)
{
    const char *slash = strncmp(role, "arn:", 4) == 0 ? strrchr(role, '/') : NULL;
    return slash ? slash + 1 : role;
}

int s3_role_managed(const char *role)
{
    return strncmp(role, "arn:", 4) != 0;
}

/* What is wrong with `rule` for direction d, appended to why ("" when it is as configured). */
void s3_rule_differences(const s3ctx *x, const direction *d, const dr_node *rule, dr_buf *why)
{
    char want[320];
    const char *v, *sc;

#define WHY(...)                                                                                                      \
    do {                                                                                                              \
        if (why->len)                                                                                                 \
            dr_buf_puts(why, "; ");                                                                                   \
        dr_buf_printf(why, __VA_ARGS__);                                                                              \
    } while (0)
    snprintf(want, sizeof(want), "arn:%s:s3:::%s", x->partition, d->dst);
    if (!s3_streq(v = dr_node_str(rule, "Status"), "Enabled"))
        WHY("status %s", v ? v : "unset");
    if (!s3_filter_selects_all(rule))
        WHY("filter does not select every object");
    if (!s3_streq(v = dr_node_str(rule, "Destination.Bucket"), want))
        WHY("destination %s", v ? v : "unset");
    sc = dr_node_str(rule, "Destination.StorageClass");
    if (!s3_streq(sc ? sc : "STANDARD", x->storage_class))
        WHY("storage class %s", sc ? sc : "STANDARD");
    if (!s3_streq(dr_node_str(rule, "Destination.ReplicationTime.Status"), "Enabled") ||
        dr_node_num(rule, "Destination.ReplicationTime.Time.Minutes", 0) != RTC_MINUTES)
        WHY("Replication Time Control off");
    if (!s3_streq(dr_node_str(rule, "Destination.Metrics.Status"), "Enabled"))
        WHY("replication metrics off");
    if (!s3_streq(v = dr_node_str(rule, "DeleteMarkerReplication.Status"), "Enabled"))
        WHY("delete marker replication %s", v ? v : "unset");
    v = dr_node_str(rule, "Destination.EncryptionConfiguration.ReplicaKmsKeyID");
    if (d->dst_kms ? !s3_streq(v, d->dst_kms) : v != NULL)
        WHY("replica KMS key %s", v ? v : "unset");
    v = dr_node_str(rule, "SourceSelectionCriteria.SseKmsEncryptedObjects.Status");
    if (d->dst_kms && !s3_streq(v, "Enabled"))
        WHY("SSE-KMS objects not selected");
#undef WHY
}

void s3_xml_copy_node(dr_buf *b, const dr_node *n)
{
    const char *name = dr_node_name(n);

    dr_buf_printf(b, "<%s>", name);
    if (dr_node_kind_of(n) == DR_NODE_OBJECT)
        for (const dr_node *c = dr_node_first(n); c; c = dr_node_next(c))
            s3_xml_copy_node(b, c);
    else if (dr_node_text(n))
        dr_buf_xml_text(b, dr_node_text(n));
    dr_buf_printf(b, "</%s>", name);
}

static void xml_rule(const s3ctx *x, dr_buf *b, const direction *d, long priority)
{
    dr_buf_puts(b, "<Rule>");
    dr_buf_xml_elem(b, "ID", d->rule_id);
    dr_buf_printf(b, "<Priority>%ld</Priority>", priority);
    dr_buf_puts(b, "<Filter><Prefix></Prefix></Filter><Status>Enabled</Status>");
    if (d->dst_kms)
        dr_buf_puts(b, "<SourceSelectionCriteria><SseKmsEncryptedObjects><Status>Enabled</Status>"
                       "</SseKmsEncryptedObjects></SourceSelectionCriteria>");
    dr_buf_printf(b, "<Destination><Bucket>arn:%s:s3:::", x->partition);
    dr_buf_xml_text(b, d->dst);
    dr_buf_puts(b, "</Bucket>");
    dr_buf_xml_elem(b, "StorageClass", x->storage_class);
    if (d->dst_kms) {
        dr_buf_puts(b, "<EncryptionConfiguration>");
        dr_buf_xml_elem(b, "ReplicaKmsKeyID", d->dst_kms);
        dr_buf_puts(b, "</EncryptionConfiguration>");
    }
    dr_buf_printf(b,
                  "<ReplicationTime><Status>Enabled</Status><Time><Minutes>%d</Minutes></Time></ReplicationTime>"
                  "<Metrics><Status>Enabled</Status><EventThreshold><Minutes>%d</Minutes></EventThreshold></Metrics>"
                  "</Destination>",
                  RTC_MINUTES, RTC_MINUTES);
    dr_buf_puts(b, "<DeleteMarkerReplication><Status>Enabled</Status></DeleteMarkerReplication></Rule>");
}

/* A rule of the earlier configuration format (V1): a Prefix of its own and no Filter. */
int s3_rule_is_v1(const dr_node *rule)
{
    return dr_node_get(rule, "Prefix") != NULL && dr_node_get(rule, "Filter") == NULL;
}

/*
 * A V1 rule written as V2, which S3 requires once any rule of the configuration is V2: its Prefix becomes
 * Filter/Prefix, it gets a Priority, and DeleteMarkerReplication Enabled keeps what V1 did with delete markers.
 */
static void xml_rule_v1_to_v2(dr_buf *b, const dr_node *r, long priority)
{
    const char *prefix = dr_node_str(r, "Prefix");

    dr_buf_puts(b, "<Rule>");
    if (dr_node_get(r, "ID"))
        s3_xml_copy_node(b, dr_node_get(r, "ID"));
    dr_buf_printf(b, "<Priority>%ld</Priority><Filter>", priority);
    dr_buf_xml_elem(b, "Prefix", prefix ? prefix : "");
    dr_buf_puts(b, "</Filter>");
    if (dr_node_get(r, "Status"))
        s3_xml_copy_node(b, dr_node_get(r, "Status"));
    for (const dr_node *c = dr_node_first(r); c; c = dr_node_next(c)) {
        const char *n = dr_node_name(c);
        if (strcmp(n, "ID") && strcmp(n, "Prefix") && strcmp(n, "Status") && strcmp(n, "Priority") &&
            strcmp(n, "DeleteMarkerReplication"))
            s3_xml_copy_node(b, c);
    }
    dr_buf_puts(b, "<DeleteMarkerReplication><Status>Enabled</Status></DeleteMarkerReplication></Rule>");
}

/*
 * The configuration to write: the current one (may be NULL) with our rule
 * replaced or added, or removed when `remove`. Other rules are kept as they
 * are, because PutBucketReplication replaces the whole configuration.
 * *rules_left counts the rules of the result.
 */
void s3_build_replication(const s3ctx *x, const direction *d, const dr_node *cur, const char *role_arn,
                              int remove, dr_buf *b, size_t *rules_left)
{
    const dr_node *mine = s3_find_rule(cur, d->rule_id);
    long priority = 0, next = 0;
    int any_v2 = !remove;

    *rules_left = 0;
    for (const dr_node *r = dr_node_get(cur, "Rule"); r; r = dr_node_next_named(r)) {
        long p = (long)dr_node_num(r, "Priority", 0);
        if (p > next)
            next = p;
        if (r != mine && !s3_rule_is_v1(r))
            any_v2 = 1;
    }
    next++;
    if (mine && dr_node_get(mine, "Priority"))
        priority = (long)dr_node_num(mine, "Priority", 1);
    else
        priority = next++;
    dr_buf_puts(b, "<ReplicationConfiguration xmlns=\"" S3NS "\">");
    dr_buf_xml_elem(b, "Role", role_arn);
    for (const dr_node *r = dr_node_get(cur, "Rule"); r; r = dr_node_next_named(r)) {
        if (r != mine && any_v2 && s3_rule_is_v1(r)) {
            xml_rule_v1_to_v2(b, r, next++); /* S3 refuses a configuration that mixes V1 and V2 rules */
            (*rules_left)++;
        } else if (r != mine) {
            s3_xml_copy_node(b, r);
            (*rules_left)++;
        } else if (!remove) {
            xml_rule(x, b, d, priority);
            (*rules_left)++;
        }
    }
    if (!mine && !remove) {
        xml_rule(x, b, d, priority);
        (*rules_left)++;
    }
    dr_buf_puts(b, "</ReplicationConfiguration>");
}

int s3_put_replication(s3ctx *x, const char *region, const char *bucket, const char *xml, dr_error *err)
{
    dr_aws_request rq = s3_request("PutBucketReplication", "PUT", bucket, "replication");

    rq.body = xml;
    rq.checksum = 1;
    return s3_send(x, region, &rq, NULL, err);
}

int s3_delete_replication(s3ctx *x, const char *region, const char *bucket, dr_error *err)
{
    dr_aws_request rq = s3_request("DeleteBucketReplication", "DELETE", bucket, "replication");
    return s3_send(x, region, &rq, NULL, err);
}

/* ---- lifecycle ---- */

/* The bucket's lifecycle configuration in *out (NULL when it has none). DR_ENOTFOUND: no such bucket. */
int s3_get_lifecycle(s3ctx *x, const char *region, const char *bucket, dr_aws_response **out, dr_error *err)
{
    return get_subresource(x, region, bucket, "GetBucketLifecycleConfiguration", "lifecycle",
                           "NoSuchLifecycleConfiguration", out, err);
}

/* True when `rule` moves every noncurrent version to GLACIER after exactly `days`. */
int s3_lifecycle_rule_ok(const dr_node *rule, int64_t days)
{
    const dr_node *t = dr_node_get(rule, "NoncurrentVersionTransition");

    return rule && s3_streq(dr_node_str(rule, "Status"), "Enabled") && s3_filter_selects_all(rule) && t &&
           !dr_node_next_named(t) && s3_streq(dr_node_str(t, "StorageClass"), "GLACIER") &&
           dr_node_num(t, "NoncurrentDays", -1) == (double)days;
}

/* ---- IAM ---- */

/* Decodes a policy document: IAM returns them URL-encoded (RFC 3986). Caller frees. */
char *s3_policy_text(const char *s)
{
    size_t n = strlen(s), j = 0;
    char *out = malloc(n + 1);

    if (!out)
        return NULL;
    while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
        s++;
    if (*s == '{') {
        memcpy(out, s, strlen(s) + 1);
        return out;
    }
    for (size_t i = 0; s[i]; i++) {
        unsigned v;
        if (s[i] == '%' && s[i + 1] && s[i + 2] && sscanf(s + i + 1, "%2x", &v) == 1) {
            out[j++] = (char)v;
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

/* GetRole: DR_ENOTFOUND when the role does not exist; arn and whether s3 may assume it, when it does. */
int s3_get_role(s3ctx *x, const char *role, char *arn, size_t arn_len, int *trusts_s3, dr_error *err)
{
    dr_buf form = DR_BUF_INIT;
    dr_doc *doc = NULL;
    const char *a, *trust;
    char *text;
    int rc;

    dr_aws_form_add(&form, "RoleName", s3_role_name(role));
    rc = s3_iam_call(x, "GetRole", &form, &doc, err);
    dr_buf_free(&form);
    if (rc != 0)
        return rc;
    a = dr_node_str(dr_doc_root(doc), "GetRoleResult.Role.Arn");
    trust = dr_node_str(dr_doc_root(doc), "GetRoleResult.Role.AssumeRolePolicyDocument");
    snprintf(arn, arn_len, "%s", a ? a : "");
    text = trust ? s3_policy_text(trust) : NULL;
    *trusts_s3 = text && strstr(text, "s3.amazonaws.com") != NULL;
    free(text);
    dr_doc_free(doc);
    return 0;
}

/* The role's ARN without IAM (whose control plane may be in the failed region): account id from STS. */
int s3_role_arn_via_sts(s3ctx *x, const char *role, const char *region, char *arn, size_t n, dr_error *err)
{
    char account[64];
    dr_aws *c;
    int rc;

    if (!s3_role_managed(role)) {
        snprintf(arn, n, "%s", role);
        return 0;
    }
    if ((rc = endpoint_down(x, region, err)) != 0)
        return rc;
    if (!(c = client(x, region, err)))
        return err->code;
    if ((rc = dr_aws_account_id(c, account, sizeof(account), err)) != 0) {
        note_down(x, region, rc, err);
        return rc;
    }
    snprintf(arn, n, "arn:%s:iam::%s:role/%s", x->partition, account, role);
    return 0;
}


static size_t add_stmt(stmt *s, size_t n, const char *a0, const char *a1, const char *a2, const char *fmt, ...)
    DR_PRINTF(6, 7);
static size_t add_stmt(stmt *s, size_t n, const char *a0, const char *a1, const char *a2, const char *fmt, ...)
{
    va_list ap;

    if (n >= MAX_STMTS)
        return n;
    s[n].actions[0] = a0;
    s[n].actions[1] = a1;
    s[n].actions[2] = a2;
    va_start(ap, fmt);
    vsnprintf(s[n].resource, sizeof(s[n].resource), fmt, ap);
    va_end(ap);
    return n + 1;
}

/* What S3 needs to replicate in direction d (AWS's documented minimum for a replication role). */
size_t s3_direction_stmts(const s3ctx *x, const direction *d, stmt *s, size_t n)
{
    const char *p = x->partition;

    n = add_stmt(s, n, "s3:GetReplicationConfiguration", "s3:ListBucket", NULL, "arn:%s:s3:::%s", p, d->src);
    n = add_stmt(s, n, "s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging",
                 "arn:%s:s3:::%s/*", p, d->src);
    n = add_stmt(s, n, "s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags", "arn:%s:s3:::%s/*", p,
                 d->dst);
    if (d->src_kms)
        n = add_stmt(s, n, "kms:Decrypt", NULL, NULL, "%s", d->src_kms);
    if (d->dst_kms)
        n = add_stmt(s, n, "kms:Encrypt", NULL, NULL, "%s", d->dst_kms);
    return n;
}

void s3_policy_json(const stmt *s, size_t n, dr_buf *b)
{
    dr_buf_puts(b, "{\"Version\":\"2012-10-17\",\"Statement\":[");
    for (size_t i = 0; i < n; i++) {
        dr_buf_puts(b, i ? ",{\"Effect\":\"Allow\",\"Action\":[" : "{\"Effect\":\"Allow\",\"Action\":[");
        for (size_t k = 0; k < 3 && s[i].actions[k]; k++) {
            if (k)
                dr_buf_puts(b, ",");
            dr_buf_json_str(b, s[i].actions[k]);
        }
        dr_buf_puts(b, "],\"Resource\":");
        dr_buf_json_str(b, s[i].resource);
        dr_buf_puts(b, "}");
    }
    dr_buf_puts(b, "]}");
}

/* True when the JSON value v (a string or an array of strings) matches `want` as an IAM pattern. */
static int iam_value_matches(const dr_node *v, const char *want, int casefold)
{
    const dr_node *items = dr_node_kind_of(v) == DR_NODE_ARRAY ? dr_node_first(v) : v;

    for (const dr_node *i = items; i; i = dr_node_kind_of(v) == DR_NODE_ARRAY ? dr_node_next(i) : NULL) {
        const char *pat = dr_node_text(i);
        if (pat && fnmatch(pat, want, casefold ? FNM_CASEFOLD : 0) == 0)
            return 1;
    }
    return 0;
}

/* True when an Allow statement of `doc` grants `action` on `resource` (conditions are not evaluated). */
static int policy_allows(const dr_node *doc, const char *action, const char *resource)
{
    const dr_node *st = dr_node_get(doc, "Statement");
    const dr_node *first = dr_node_kind_of(st) == DR_NODE_ARRAY ? dr_node_first(st) : st;

    for (const dr_node *s = first; s; s = dr_node_kind_of(st) == DR_NODE_ARRAY ? dr_node_next(s) : NULL) {
        const dr_node *a = dr_node_get(s, "Action"), *r = dr_node_get(s, "Resource");
        if (s3_streq(dr_node_str(s, "Effect"), "Allow") && a && r && iam_value_matches(a, action, 1) &&
            iam_value_matches(r, resource, 0))
            return 1;
    }
    return 0;
}

/* What the policy text lacks of the statements, into why ("" when it grants them all). */
void s3_policy_missing(const char *text, const stmt *s, size_t n, dr_buf *why)
{
    dr_doc *doc = NULL;
    dr_error e;

    if (!text || dr_doc_parse_json(text, strlen(text), &doc, &e) != 0) {
        dr_buf_puts(why, "the policy is not valid JSON");
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < 3 && s[i].actions[k]; k++)
            if (!policy_allows(dr_doc_root(doc), s[i].actions[k], s[i].resource)) {
                if (why->len)
                    dr_buf_puts(why, ", ");
                dr_buf_printf(why, "%s on %s", s[i].actions[k], s[i].resource);
            }
    dr_doc_free(doc);
}

/* The role's inline policy, decoded, in *text (caller frees). DR_ENOTFOUND: no such policy (or role). */
int s3_get_role_policy(s3ctx *x, const char *role, char **text, dr_error *err)
{
    dr_buf form = DR_BUF_INIT;
    dr_doc *doc = NULL;
    const char *p;
    int rc;

    *text = NULL;
    dr_aws_form_add(&form, "RoleName", s3_role_name(role));
    dr_aws_form_add(&form, "PolicyName", x->policy);
    rc = s3_iam_call(x, "GetRolePolicy", &form, &doc, err);
    dr_buf_free(&form);
    if (rc != 0)
        return rc;
    p = dr_node_str(dr_doc_root(doc), "GetRolePolicyResult.PolicyDocument");
    *text = s3_policy_text(p ? p : "");
    dr_doc_free(doc);
    return *text ? 0 : dr_error_set(err, DR_ENOMEM, "out of memory");
}

/* ---- CloudWatch ---- */

/* One AWS/S3 replication metric of direction d (published in the source region), Maximum per minute. */
int s3_replication_metric(s3ctx *x, const direction *d, const char *name, dr_aws_metric *m, dr_error *err)
{
    dr_aws_dim dims[3] = {{"SourceBucket", d->src}, {"DestinationBucket", d->dst}, {"RuleId", d->rule_id}};
    dr_aws *c;
    int rc;

    memset(m, 0, sizeof(*m));
    if ((rc = endpoint_down(x, d->src_region, err)) != 0)
        return rc;
    if (s3_pre_take_metric(x, d, name, m, err, &rc)) {
        note_down(x, d->src_region, rc, err);
        return rc;
    }
    if (!(c = client(x, d->src_region, err)))
        return err->code;
    rc = dr_aws_metric_get(c, "AWS/S3", name, dims, 3, "Maximum", x->window, 60, m, err);
    note_down(x, d->src_region, rc, err);
    return rc;
}

/* ---- objects (the canary) ---- */

static const char *header(const dr_aws_response *r, const char *name)
{
    const char *v = dr_aws_response_header(r, name);
    return v && *v ? v : NULL;
}

typedef struct canary {
    s3ctx *x;
    const direction *d;
    char key[600];
    dr_buf path;            /* "/" + the key, URI-encoded */
    char src_version[256];  /* version the PUT created */
    char dst_version[256];  /* version of the replica, once seen */
    int64_t t0;             /* dr_mono_ms() before the PUT */
    double seconds;         /* replication time, once replicated */
    const char *seen;       /* how the replica was seen */
    int probe_error;        /* the probe itself failed (not the replication) */
    int status_failed;      /* S3 said FAILED */
} canary;


/* A HEAD or DELETE of one object version (the current one when version is empty). */
static int object_call(s3ctx *x, const char *op, const char *method, const char *region, const char *bucket,
                       const char *path, const char *version, dr_aws_response **out, dr_error *err)
{
    dr_aws_request rq = s3_request(op, method, bucket, NULL);
    dr_buf q = DR_BUF_INIT;
    int rc;

    rq.path = path;
    if (version && *version) {
        dr_buf_puts(&q, "versionId=");
        dr_buf_uri_encode(&q, version, 0);
        rq.query = dr_buf_str(&q);
    }
    rc = s3_send(x, region, &rq, out, err);
    dr_buf_free(&q);
    return rc;
}

static int head_object(s3ctx *x, const char *region, const char *bucket, const char *path, const char *version,
                       dr_aws_response **out, dr_error *err)
{
    return object_call(x, "HeadObject", "HEAD", region, bucket, path, version, out, err);
}

static int delete_version(s3ctx *x, const char *region, const char *bucket, const char *path, const char *version,
                          dr_error *err)
{
    return object_call(x, "DeleteObject", "DELETE", region, bucket, path, version, NULL, err);
}

/* dr_wait_for probe: 1 once the replica is in the destination or the source says COMPLETED. */
static int canary_probe(void *arg, char *status, size_t status_len, dr_error *err)
{
    canary *k = arg;
    const direction *d = k->d;
    dr_aws_response *r = NULL;
    const char *rs;
    int rc;

    rc = head_object(k->x, d->dst_region, d->dst, dr_buf_str(&k->path), NULL, &r, err);
    if (rc == 0) {
        const char *v = header(r, "x-amz-version-id");
        snprintf(k->dst_version, sizeof(k->dst_version), "%s", v ? v : "");
        k->seconds = (double)(dr_mono_ms() - k->t0) / 1000.0;
        k->seen = "replica found in the destination bucket";
        dr_aws_response_free(r);
        return 1;
    }
    if (rc != DR_ENOTFOUND) {
        k->probe_error = 1;
        return dr_error_prefix(err, "canary: destination s3://%s: ", d->dst);
    }
    dr_error_clear(err);
    rc = head_object(k->x, d->src_region, d->src, dr_buf_str(&k->path), k->src_version, &r, err);
    if (rc != 0) {
        k->probe_error = 1;
        return dr_error_prefix(err, "canary: source s3://%s: ", d->src);
    }
    rs = header(r, "x-amz-replication-status");
    if (rs && (strcmp(rs, "COMPLETED") == 0 || strcmp(rs, "COMPLETE") == 0)) {
        k->seconds = (double)(dr_mono_ms() - k->t0) / 1000.0;
        k->seen = "source object reports replication COMPLETED";
        rc = 1;
    } else if (rs && strcmp(rs, "FAILED") == 0) {
        k->status_failed = 1;
        rc = dr_error_set(err, DR_ESTATE, "S3 reports replication status FAILED for s3://%s/%s", d->src, k->key);
    } else {
        snprintf(status, status_len, "replication status %s", rs ? rs : "not reported");
        rc = 0;
    }
    dr_aws_response_free(r);
    return rc;
}

/* Removes the canary from both buckets, by version, so that neither keeps a trace nor a delete marker. */
static void canary_cleanup(canary *k)
{
    const direction *d = k->d;
    dr_aws_response *r = NULL;
    dr_error e;

    dr_error_clear(&e);
    if (!k->dst_version[0] && k->seconds > 0 &&
        head_object(k->x, d->dst_region, d->dst, dr_buf_str(&k->path), NULL, &r, &e) == 0) {
        const char *v = header(r, "x-amz-version-id");
        snprintf(k->dst_version, sizeof(k->dst_version), "%s", v ? v : "");
        dr_aws_response_free(r);
    }
    if (k->seconds > 0 &&
        delete_version(k->x, d->dst_region, d->dst, dr_buf_str(&k->path), k->dst_version, &e) != 0 &&
        e.code != DR_ENOTFOUND)
        H->log(k->x->res, DR_LOG_WARN, "canary s3://%s/%s left behind: %s", d->dst, k->key, e.message);
    if (delete_version(k->x, d->src_region, d->src, dr_buf_str(&k->path), k->src_version, &e) != 0 &&
        e.code != DR_ENOTFOUND)
        H->log(k->x->res, DR_LOG_WARN, "canary s3://%s/%s left behind: %s", d->src, k->key, e.message);
}

/*
 * Writes a small uniquely named object to the source bucket and waits
 * until it has reached the destination, at most `max_ms`. *seconds: the
 * measured replication time, or the time waited. err is filled unless the
 * canary replicated.
 */
canary_outcome s3_run_canary(s3ctx *x, const direction *d, int64_t max_ms, double *seconds, char *how,
                                 size_t how_len, dr_error *err)
{
    canary_outcome out = CANARY_ERROR;
    canary k;
    dr_aws_request rq;
    dr_aws_response *r = NULL;
    char uuid[40], when[40], body[512];
    const char *v;
    int rc;

    memset(&k, 0, sizeof(k));
    k.x = x;
    k.d = d;
    dr_buf_init(&k.path);
    dr_uuid4(uuid);
    dr_time_format(dr_now(), 0, when, sizeof(when));
    snprintf(k.key, sizeof(k.key), "%sdr-agent-canary-%.10s-%s", x->canary_prefix, when, uuid);
    dr_buf_puts(&k.path, "/");
    dr_buf_uri_encode(&k.path, k.key, 1);
    snprintf(body, sizeof(body), "dr-agent replication canary\nresource %s\nrun %s\nwritten %s\n",
             H->resource_id(x->res), x->args && x->args->run_id ? x->args->run_id : "", when);
    *seconds = 0;
    if (k.path.failed) {
        dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }

    rq = s3_request("PutObject", "PUT", d->src, NULL);
    rq.path = dr_buf_str(&k.path);
    rq.body = body;
    rq.content_type = "text/plain";
    k.t0 = dr_mono_ms();
    if (s3_send(x, d->src_region, &rq, &r, err) != 0) {
        dr_error_prefix(err, "canary: could not write s3://%s/%s: ", d->src, k.key);
        goto out;
    }
    v = header(r, "x-amz-version-id");
    snprintf(k.src_version, sizeof(k.src_version), "%s", v ? v : "");
    dr_aws_response_free(r);
    H->log(x->res, DR_LOG_DEBUG, "canary s3://%s/%s written, waiting for it in s3://%s", d->src, k.key, d->dst);

    rc = dr_wait_for(H, x->res, "the canary to replicate", 1000, max_ms, canary_probe, &k, err);
    if (rc == 0) {
        *seconds = k.seconds;
        snprintf(how, how_len, "%s", k.seen);
        out = CANARY_REPLICATED;
    } else {
        *seconds = (double)(dr_mono_ms() - k.t0) / 1000.0;
        out = k.status_failed ? CANARY_FAILED : k.probe_error || rc != DR_ETIMEDOUT ? CANARY_ERROR : CANARY_LATE;
    }
    canary_cleanup(&k);
out:
    dr_buf_free(&k.path);
    return out;
}

/* How long a canary may wait: its deadline, but leave the hook time to clean up. */
int64_t s3_canary_budget(s3ctx *x, double want_s)
{
    int64_t left = H->remaining_ms(x->res) - 15000;
    int64_t want = (int64_t)(want_s * 1000.0);

    if (want <= 0 || want > left)
        want = left;
    return want < 1000 ? 1000 : want;
}
