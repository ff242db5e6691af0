/* s3_backlog.c: objects a bucket held before its replication rule (live replication never copies them), found from a bounded sample. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"

static int by_time(const void *a, const void *b)
{
    const s3_listed *x = a, *y = b;
    int c = strcmp(x->modified ? x->modified : "", y->modified ? y->modified : "");

    return c ? c : strcmp(x->key, y->key);
}

/* Does S3 report a replication status for the object (PENDING, COMPLETED, FAILED, REPLICA)? 1, 0 or negative. */
static int has_status(s3ctx *x, const direction *d, const char *key, dr_error *err)
{
    dr_aws_request rq = s3_request("HeadObject", "HEAD", d->src, NULL);
    dr_aws_response *r = NULL;
    dr_buf path = DR_BUF_INIT;
    int rc;

    dr_buf_puts(&path, "/");
    dr_buf_uri_encode(&path, key, 1);
    if (path.failed) {
        dr_buf_free(&path);
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    }
    rq.path = dr_buf_str(&path);
    rc = s3_send(x, d->src_region, &rq, &r, err);
    dr_buf_free(&path);
    if (rc == DR_ENOTFOUND) { /* deleted since the listing: nothing to replicate */
        dr_error_clear(err);
        return 1;
    }
    if (rc != 0)
        return rc;
    rc = dr_aws_response_header(r, "x-amz-replication-status") != NULL;
    dr_aws_response_free(r);
    return rc;
}

int s3_list_page(s3ctx *x, const direction *d, int max_keys, s3_listed **out, size_t *n, int *truncated,
                 dr_error *err)
{
    dr_aws_request rq;
    dr_aws_response *r = NULL;
    const dr_node *root;
    const char *t;
    s3_listed *v = NULL;
    size_t cap, k = 0;
    char query[64];
    int rc;

    *out = NULL;
    *n = 0;
    *truncated = 0;
    snprintf(query, sizeof(query), "list-type=2&max-keys=%d", max_keys);
    rq = s3_request("ListObjectsV2", "GET", d->src, query);
    rc = s3_send(x, d->src_region, &rq, &r, err);
    if (rc != 0)
        return rc;
    root = dr_aws_response_doc(r);
    t = dr_node_str(root, "IsTruncated");
    *truncated = t && strcmp(t, "true") == 0;
    cap = (size_t)dr_node_count(root) + 1;
    v = calloc(cap, sizeof(*v));
    if (!v) {
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    for (const dr_node *c = dr_node_get(root, "Contents"); c && k < cap; c = dr_node_next_named(c)) {
        const char *key = dr_node_str(c, "Key"), *modified = dr_node_str(c, "LastModified");
        if (!key)
            continue;
        v[k].key = strdup(key);
        v[k].modified = modified ? strdup(modified) : NULL;
        if (!v[k].key || (modified && !v[k].modified)) {
            k++;
            rc = dr_error_set(err, DR_ENOMEM, "out of memory");
            goto out;
        }
        k++;
    }
out:
    dr_aws_response_free(r);
    if (rc != 0) {
        s3_listed_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

void s3_listed_free(s3_listed *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].key);
        free(v[i].modified);
    }
    free(v);
}

int s3_backlog_scan(s3ctx *x, const direction *d, int rule_is_new, s3_backlog *b, dr_error *err)
{
    s3_listed *v = NULL;
    size_t n = 0, lo, hi;
    int rc;

    memset(b, 0, sizeof(*b));
    rc = s3_list_page(x, d, S3_BACKLOG_SAMPLE, &v, &n, &b->truncated, err);
    if (rc != 0)
        return rc;
    b->listed = n;
    if (n == 0)
        goto out;
    qsort(v, n, sizeof(*v), by_time);
    snprintf(b->oldest, sizeof(b->oldest), "%s", v[0].modified ? v[0].modified : "?");
    if (rule_is_new) { /* nothing in the bucket was written under the rule */
        b->unreplicated = n;
        goto out;
    }
    /*
     * Objects written before the rule carry no replication status, later ones do: the listing, oldest first, splits
     * in two. A binary search finds the split with about log2(n) HeadObject calls.
     */
    lo = 0;
    hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        b->heads++;
        rc = has_status(x, d, v[mid].key, err);
        if (rc < 0)
            goto out;
        if (rc)
            hi = mid;
        else
            lo = mid + 1;
    }
    rc = 0;
    b->unreplicated = lo;
    if (lo > 0)
        snprintf(b->newest, sizeof(b->newest), "%s", v[lo - 1].modified ? v[lo - 1].modified : "?");
out:
    s3_listed_free(v, n);
    return rc;
}

void s3_backlog_remedy(const s3ctx *x, const direction *d, char *out, size_t len)
{
    snprintf(out, len,
             "copy them with S3 Batch Replication: aws s3control create-job --region %s --account-id <account> "
             "--operation '{\"S3ReplicateObject\":{}}' --manifest-generator '{\"S3JobManifestGenerator\":"
             "{\"SourceBucket\":\"arn:%s:s3:::%s\",\"EnableManifestOutput\":false,\"Filter\":"
             "{\"EligibleForReplication\":true,\"ObjectReplicationStatuses\":[\"NONE\",\"FAILED\"]}}}' "
             "--report '{\"Enabled\":false}' --priority 10 --role-arn <batch-operations-role> "
             "--no-confirmation-required",
             d->src_region, x->partition, d->src);
}
