/* s3_prefetch.c: the s3 plugin's verify reads made ahead, all at once, and handed to the ordinary read functions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"

#define PRE_MAX 14

enum { PRE_S3 = 0, PRE_IAM = 1, PRE_METRIC = 2 };

typedef struct pre_entry {
    int kind, taken;
    dr_aws *c;
    /* what was asked */
    const char *region;  /* S3 and metrics */
    dr_aws_request rq;   /* S3 */
    const char *op;      /* IAM */
    dr_buf form;         /* IAM */
    const char *metric;  /* metrics */
    const direction *d;  /* metrics */
    double window;
    /* the answer */
    int rc;
    dr_error err;
    dr_aws_response *resp;
    dr_doc *doc;
    dr_aws_metric m;
} pre_entry;

struct s3_pre {
    size_t n;
    pre_entry e[PRE_MAX];
};

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* One read on a batch's worker: AWS calls only. */
static void pre_run(void *arg)
{
    pre_entry *e = arg;

    dr_error_clear(&e->err);
    if (e->kind == PRE_S3) {
        e->rc = dr_aws_send(e->c, &e->rq, &e->resp, &e->err);
    } else if (e->kind == PRE_IAM) {
        e->rc = dr_aws_query(e->c, "iam", e->op, IAM_VERSION, dr_buf_str(&e->form), &e->doc, &e->err);
    } else {
        dr_aws_dim dims[3] = {{"SourceBucket", e->d->src}, {"DestinationBucket", e->d->dst},
                              {"RuleId", e->d->rule_id}};
        e->rc = dr_aws_metric_get(e->c, "AWS/S3", e->metric, dims, 3, "Maximum", e->window, 60, &e->m, &e->err);
    }
}

static pre_entry *add(struct s3_pre *p, int kind, dr_aws *c)
{
    pre_entry *e;

    if (!c || p->n == PRE_MAX)
        return NULL; /* no client: the ordinary read reports why */
    e = &p->e[p->n++];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->c = c;
    return e;
}

static void add_s3(struct s3_pre *p, s3ctx *x, const char *op, const char *region, const char *bucket,
                   const char *query)
{
    dr_error err;
    pre_entry *e;

    dr_error_clear(&err);
    e = add(p, PRE_S3, dr_host_aws(H, x->res, region, &err));
    if (!e)
        return;
    e->region = region;
    e->rq = s3_request(op, "GET", bucket, query);
}

void s3_prefetch_verify(s3ctx *x, const direction *d, int with_rule)
{
    struct s3_pre *p;
    dr_error err;
    pre_entry *e;

    s3_prefetch_free(x);
    p = calloc(1, sizeof(*p));
    if (!p)
        return; /* the reads are made one by one */
    add_s3(p, x, "GetBucketVersioning", x->primary, x->bucket, "versioning");
    add_s3(p, x, "GetBucketLocation", x->dr, x->dr_bucket, "location");
    add_s3(p, x, "GetBucketVersioning", x->dr, x->dr_bucket, "versioning");
    if (with_rule) {
        static const char *const metrics[] = {"ReplicationLatency", "OperationsPendingReplication",
                                              "BytesPendingReplication"};
        dr_aws *ic, *mc;
        add_s3(p, x, "GetBucketReplication", d->src_region, d->src, "replication");
        dr_error_clear(&err);
        ic = dr_host_aws(H, x->res, x->primary, &err);
        if ((e = add(p, PRE_IAM, ic)) != NULL) {
            e->op = "GetRole";
            dr_aws_form_add(&e->form, "RoleName", s3_role_name(d->role));
        }
        /* the role's policies, inline and managed: their lists (s3_role_missing reads each after) */
        if ((e = add(p, PRE_IAM, ic)) != NULL) {
            e->op = "ListRolePolicies";
            dr_aws_form_add(&e->form, "RoleName", s3_role_name(d->role));
        }
        if ((e = add(p, PRE_IAM, ic)) != NULL) {
            e->op = "ListAttachedRolePolicies";
            dr_aws_form_add(&e->form, "RoleName", s3_role_name(d->role));
        }
        dr_error_clear(&err);
        mc = dr_host_aws(H, x->res, d->src_region, &err);
        for (size_t i = 0; i < 3; i++) {
            if ((e = add(p, PRE_METRIC, mc)) == NULL)
                break;
            e->region = d->src_region;
            e->metric = metrics[i];
            e->d = d;
            e->window = x->window;
        }
    }
    if (x->glacier_days > 0) {
        add_s3(p, x, "GetBucketLifecycleConfiguration", x->primary, x->bucket, "lifecycle");
        add_s3(p, x, "GetBucketLifecycleConfiguration", x->dr, x->dr_bucket, "lifecycle");
    }
    {
        dr_aws_task run[PRE_MAX];
        size_t n = 0;
        for (size_t i = 0; i < p->n; i++) {
            if (p->e[i].kind == PRE_IAM && p->e[i].form.failed)
                p->e[i].taken = 1; /* out of memory: read the ordinary way */
            else
                run[n++] = (dr_aws_task){pre_run, &p->e[i]};
        }
        dr_aws_run_all(run, n, 0);
    }
    x->pre = p;
}

void s3_prefetch_free(s3ctx *x)
{
    struct s3_pre *p = x->pre;

    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        dr_aws_response_free(p->e[i].resp);
        dr_doc_free(p->e[i].doc);
        dr_buf_free(&p->e[i].form);
    }
    free(p);
    x->pre = NULL;
}

static void deliver(pre_entry *e, dr_error *err, int *rc)
{
    e->taken = 1;
    *rc = e->rc;
    if (e->rc != 0)
        *err = e->err;
}

int s3_pre_take_s3(s3ctx *x, const char *region, const dr_aws_request *rq, dr_aws_response **out, dr_error *err,
                   int *rc)
{
    for (size_t i = 0; x->pre && i < x->pre->n; i++) {
        pre_entry *e = &x->pre->e[i];
        if (e->kind != PRE_S3 || e->taken || !same(e->region, region) || !same(e->rq.operation, rq->operation) ||
            !same(e->rq.method, rq->method) || !same(e->rq.bucket, rq->bucket) || !same(e->rq.query, rq->query) ||
            !same(e->rq.path, rq->path) || rq->body || rq->headers)
            continue;
        deliver(e, err, rc);
        *out = e->resp;
        e->resp = NULL;
        return 1;
    }
    return 0;
}

int s3_pre_take_iam(s3ctx *x, const char *op, const dr_buf *form, dr_doc **out, dr_error *err, int *rc)
{
    for (size_t i = 0; x->pre && i < x->pre->n; i++) {
        pre_entry *e = &x->pre->e[i];
        if (e->kind != PRE_IAM || e->taken || !same(e->op, op) ||
            strcmp(dr_buf_str(&e->form), dr_buf_str(form)) != 0)
            continue;
        deliver(e, err, rc);
        *out = e->doc;
        e->doc = NULL;
        return 1;
    }
    return 0;
}

int s3_pre_take_metric(s3ctx *x, const direction *d, const char *name, dr_aws_metric *m, dr_error *err, int *rc)
{
    pre_entry *e;

    for (size_t i = 0; x->pre && i < x->pre->n; i++) {
        e = &x->pre->e[i];
        if (e->kind != PRE_METRIC || e->taken || !same(e->metric, name) || !same(e->region, d->src_region) ||
            !same(e->d->src, d->src) || !same(e->d->dst, d->dst) || !same(e->d->rule_id, d->rule_id) ||
            e->window != x->window)
            continue;
        deliver(e, err, rc);
        *m = e->m;
        return 1;
    }
    return 0;
}
