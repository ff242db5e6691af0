/* diagnose.c: the s3 plugin's diagnostics: a bounded sample of recent objects and their ReplicationStatus, FAILED ones named, KMS key use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"

#define SAMPLE 25      /* newest objects of the listing whose status is read (one HeadObject each) */
#define NAMED_MAX 10   /* keys named in one finding */

static int newest_first(const void *a, const void *b)
{
    const s3_listed *x = a, *y = b;
    int c = strcmp(y->modified ? y->modified : "", x->modified ? x->modified : "");

    return c ? c : strcmp(x->key, y->key);
}

typedef struct sample {
    size_t listed, read;
    int truncated;
    int completed, pending, failed, none;
    dr_buf failed_keys, pending_keys;
    int n_kms;
    char kms_key[300]; /* the SSE-KMS key of the first such object */
    char oldest_pending[40];
} sample;

/* HeadObject of one key: its replication status and encryption go into s. */
static int head(s3ctx *x, const direction *d, const s3_listed *o, sample *s, dr_error *err)
{
    dr_aws_request rq = s3_request("HeadObject", "HEAD", d->src, NULL);
    dr_aws_response *r = NULL;
    dr_buf path = DR_BUF_INIT;
    const char *st, *enc, *key;
    int rc;

    dr_buf_puts(&path, "/");
    dr_buf_uri_encode(&path, o->key, 1);
    if (path.failed) {
        dr_buf_free(&path);
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    }
    rq.path = dr_buf_str(&path);
    rc = s3_send(x, d->src_region, &rq, &r, err);
    dr_buf_free(&path);
    if (rc == DR_ENOTFOUND) { /* deleted since the listing */
        dr_error_clear(err);
        return 0;
    }
    if (rc != 0)
        return rc;
    s->read++;
    st = dr_aws_response_header(r, "x-amz-replication-status");
    enc = dr_aws_response_header(r, "x-amz-server-side-encryption");
    key = dr_aws_response_header(r, "x-amz-server-side-encryption-aws-kms-key-id");
    if (enc && strncmp(enc, "aws:kms", 7) == 0) {
        if (s->n_kms++ == 0)
            snprintf(s->kms_key, sizeof(s->kms_key), "%s", key ? key : "");
    }
    if (!st) {
        s->none++;
    } else if (strcmp(st, "FAILED") == 0) {
        if (s->failed++ < NAMED_MAX)
            dr_buf_printf(&s->failed_keys, "%s%s (%s)", s->failed > 1 ? ", " : "", o->key,
                          o->modified ? o->modified : "?");
    } else if (strcmp(st, "PENDING") == 0) {
        double t = 0;
        if (o->modified && dr_time_parse(o->modified, &t) == 0 && dr_now() - t > x->rpo) {
            if (s->pending++ < NAMED_MAX)
                dr_buf_printf(&s->pending_keys, "%s%s (%s)", s->pending > 1 ? ", " : "", o->key, o->modified);
        }
    } else {
        s->completed++;
    }
    dr_aws_response_free(r);
    return 0;
}

static int take_sample(s3ctx *x, const direction *d, sample *s, dr_error *err)
{
    s3_listed *v = NULL;
    size_t n = 0;
    int rc = s3_list_page(x, d, 1000, &v, &n, &s->truncated, err);

    if (rc != 0)
        return rc;
    s->listed = n;
    qsort(v, n, sizeof(*v), newest_first);
    for (size_t i = 0; i < n && i < SAMPLE && rc == 0; i++)
        rc = head(x, d, &v[i], s, err);
    s3_listed_free(v, n);
    return rc;
}

/* The replication role may use the source objects' KMS key: a grant to it, the key policy naming it, or (a key
   policy that lets IAM decide) its policy allowing kms:Decrypt on the key. */
static void diag_kms(s3ctx *x, const direction *d, const dr_node *rule, const char *role_arn, const sample *s)
{
    const char *sel = dr_node_str(rule, "SourceSelectionCriteria.SseKmsEncryptedObjects.Status");
    const char *replica_key = dr_node_str(rule, "Destination.EncryptionConfiguration.ReplicaKmsKeyID");
    dr_buf t = DR_BUF_INIT;
    char *body = NULL;
    dr_aws *c;
    dr_doc *doc = NULL;
    dr_error err;
    int granted = 0, in_policy = 0, iam_decides = 0, in_role = 0, rc;
    char *text = NULL;

    if (s->n_kms == 0) {
        dr_report_check(H, x->res, "kms_key_use", DR_STATUS_OK, "none", NULL, NULL, "no sampled object is encrypted with SSE-KMS");
        return;
    }
    if (!sel || strcmp(sel, "Enabled") != 0 || !replica_key) {
        dr_buf_printf(&t, "evidence: %d of the %zu sampled objects of %s are SSE-KMS encrypted (key %s) but rule %s "
                      "%s: S3 does not replicate such objects; fix: set kms_key_arn (the source key) and "
                      "dr_kms_key_arn (a key in %s) and run dr-agent configure",
                      s->n_kms, s->read, d->src, s->kms_key, d->rule_id,
                      !sel || strcmp(sel, "Enabled") != 0 ? "does not select SseKmsEncryptedObjects"
                                                         : "names no ReplicaKmsKeyID",
                      d->dst_region);
        dr_report_check(H, x->res, "kms_key_use", DR_STATUS_CRITICAL, "SSE-KMS objects not selected", "Enabled", NULL, dr_buf_str(&t));
        dr_buf_free(&t);
        return;
    }
    dr_error_clear(&err);
    c = dr_host_aws(H, x->res, d->src_region, &err);
    rc = c ? 0 : (err.code ? err.code : DR_EINVAL);
    if (rc == 0) {
        body = dr_json_pack(&err, "{s:s}", "KeyId", s->kms_key);
        rc = body ? dr_aws_json(c, "kms", "TrentService", "ListGrants", body, &doc, &err)
                  : (err.code ? err.code : DR_ENOMEM);
        free(body);
        body = NULL;
    }
    if (rc == 0) {
        for (const dr_node *g = dr_node_first(dr_node_get(dr_doc_root(doc), "Grants")); g; g = dr_node_next(g)) {
            const char *who = dr_node_str(g, "GranteePrincipal");
            if (!who || !role_arn || strcmp(who, role_arn) != 0)
                continue;
            for (const dr_node *op = dr_node_first(dr_node_get(g, "Operations")); op; op = dr_node_next(op))
                granted |= s3_streq(dr_node_text(op), "Decrypt");
        }
        dr_doc_free(doc);
        doc = NULL;
        body = dr_json_pack(&err, "{s:s, s:s}", "KeyId", s->kms_key, "PolicyName", "default");
        rc = body ? dr_aws_json(c, "kms", "TrentService", "GetKeyPolicy", body, &doc, &err)
                  : (err.code ? err.code : DR_ENOMEM);
        free(body);
        body = NULL;
    }
    if (rc == 0) {
        const char *pol = dr_node_str(dr_doc_root(doc), "Policy");
        in_policy = pol && role_arn && strstr(pol, role_arn) != NULL;
        iam_decides = pol && strstr(pol, ":root\"") != NULL;
    }
    if (rc == 0 && !granted && !in_policy && iam_decides && role_arn) {
        dr_error e2;
        dr_error_clear(&e2);
        if (s3_get_role_policy(x, role_arn, &text, &e2) == 0 && text)
            in_role = strstr(text, "kms:Decrypt") && (strstr(text, s->kms_key) || strstr(text, "\"*\""));
    }
    dr_doc_free(doc);
    free(text);
    if (rc != 0) {
        dr_error_prefix(&err, "key %s: ", s->kms_key);
        dr_report_unknown(H, x->res, "kms_key_use", NULL, &err);
        return;
    }
    if (granted || in_policy || in_role) {
        dr_buf_printf(&t, "the replication role %s may decrypt with %s (%s)", role_arn, s->kms_key,
                      granted ? "a grant" : in_policy ? "the key policy names it" : "its policy, under a key policy "
                                                                                     "that lets IAM decide");
        dr_report_check(H, x->res, "kms_key_use", DR_STATUS_OK, "allowed", NULL, NULL, dr_buf_str(&t));
    } else {
        dr_buf_printf(&t, "evidence: %d sampled objects of %s are encrypted with %s; no grant of the key names the "
                      "replication role %s, the key policy %s, and the role's policy %s grants no kms:Decrypt on it; "
                      "fix: add kms:Decrypt on %s to the role's policy (dr-agent configure with kms_key_arn does) or "
                      "a grant: aws kms create-grant --key-id %s --grantee-principal %s --operations Decrypt "
                      "--region %s",
                      s->n_kms, d->src, s->kms_key, role_arn ? role_arn : "(none)",
                      iam_decides ? "lets IAM decide" : "does not name it", x->policy, s->kms_key, s->kms_key,
                      role_arn ? role_arn : "<role>", d->src_region);
        dr_report_check(H, x->res, "kms_key_use", DR_STATUS_CRITICAL, "not allowed", "allowed", NULL, dr_buf_str(&t));
    }
    dr_buf_free(&t);
}

int s3_diagnose(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    s3ctx x;
    direction d;
    dr_aws_response *cur = NULL;
    const dr_node *root, *rule;
    const char *role_arn;
    sample s;
    dr_error e;
    dr_buf t = DR_BUF_INIT;
    char ob[32], remedy[700];
    int rc;

    (void)err;
    memset(&d, 0, sizeof(d));
    memset(&s, 0, sizeof(s));
    dr_buf_init(&s.failed_keys);
    dr_buf_init(&s.pending_keys);
    s3_load(&x, res, args);
    if (args->serving == DR_SERVING_DR)
        s3_reverse_dir(&x, &d);
    else
        s3_forward_dir(&x, &d);

    dr_error_clear(&e);
    rc = s3_get_replication(&x, d.src_region, d.src, &cur, &e);
    root = rc == 0 && cur ? dr_aws_response_doc(cur) : NULL;
    if (root && args->serving != DR_SERVING_DR) {
        s3_adopt_existing(&x, root); /* a rule and role made by hand, as verify finds them */
        s3_forward_dir(&x, &d);
    }
    rule = s3_find_rule(root, d.rule_id);
    role_arn = dr_node_str(root, "Role");
    if (rc != 0 && rc != DR_ENOTFOUND) {
        dr_report_unknown(H, res, "objects_failed", "0", &e);
        goto out;
    }
    if (!rule) {
        dr_buf_printf(&t, "evidence: %s in %s has no replication rule %s: no object replicates; fix: dr-agent configure",
                      d.src, d.src_region, d.rule_id);
        dr_report_check(H, x.res, "replication_rule", DR_STATUS_CRITICAL, "none", d.rule_id, NULL, dr_buf_str(&t));
        goto out;
    }
    dr_error_clear(&e);
    if (take_sample(&x, &d, &s, &e) != 0) {
        dr_report_unknown(H, res, "objects_failed", "0", &e);
        goto out;
    }
    s3_backlog_remedy(&x, &d, remedy, sizeof(remedy));
    /* 1. objects S3 gave up on */
    snprintf(ob, sizeof(ob), "%d", s.failed);
    dr_buf_reset(&t);
    if (s.failed == 0) {
        dr_buf_printf(&t, "the %zu newest of %zu%s listed objects of %s: %d COMPLETED, %d PENDING, %d without a status, "
                      "none FAILED", s.read, s.listed, s.truncated ? "+" : "", d.src, s.completed, s.pending, s.none);
        dr_report_check(H, x.res, "objects_failed", DR_STATUS_OK, ob, "0", "count", dr_buf_str(&t));
    } else {
        dr_buf_printf(&t, "evidence: %d of the %zu newest objects of %s report ReplicationStatus FAILED: %s%s; "
                      "fix: S3 does not retry them: correct the cause (the role's permissions on both buckets, the "
                      "KMS keys, the destination bucket %s: present, versioned, no conflicting Object Lock), then %s",
                      s.failed, s.read, d.src, dr_buf_str(&s.failed_keys), s.failed > NAMED_MAX ? ", ..." : "",
                      d.dst, remedy);
        dr_report_check(H, x.res, "objects_failed", DR_STATUS_CRITICAL, ob, "0", "count",
               t.failed ? "(out of memory)" : dr_buf_str(&t));
    }
    /* 2. objects PENDING for longer than the RPO */
    snprintf(ob, sizeof(ob), "%d", s.pending);
    dr_buf_reset(&t);
    if (s.pending == 0) {
        dr_report_check(H, x.res, "objects_pending", DR_STATUS_OK, ob, "0", "count",
               "no sampled object has been PENDING for longer than the RPO");
    } else {
        dr_buf_printf(&t, "evidence: %d sampled objects of %s are still PENDING after more than the RPO (%.0f s): %s; "
                      "fix: S3 replicates large objects and bursts late: check BytesPendingReplication and "
                      "OperationsPendingReplication, the destination's request rate, and S3 Replication Time "
                      "Control on rule %s",
                      s.pending, d.src, x.rpo, dr_buf_str(&s.pending_keys), d.rule_id);
        dr_report_check(H, x.res, "objects_pending", DR_STATUS_WARNING, ob, "0", "count",
               t.failed ? "(out of memory)" : dr_buf_str(&t));
    }
    /* 3. KMS: SSE-KMS objects need the rule to select them and the role to use the key */
    diag_kms(&x, &d, rule, role_arn, &s);
    /* 4. the role S3 assumes for the rule (a role made by hand: the one the configuration names, as verify finds
          it): may it replicate? */
    s3_check_role(&x, &d);
out:
    dr_buf_free(&t);
    dr_buf_free(&s.failed_keys);
    dr_buf_free(&s.pending_keys);
    dr_aws_response_free(cur);
    return 0;
}
