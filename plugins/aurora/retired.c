/* retired.c: the aurora plugin's retired clusters (<id><suffix>-<UTC stamp>): listed with age and cost class, warned about, deleted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aurora.h"
#include "retired.h"

#define RDS_VERSION "2014-10-31"

/* A changing RDS call whose answer is not needed. */
static int rds_call(dr_aws *c, const char *op, const dr_buf *form, dr_error *err)
{
    dr_doc *d = NULL;
    int rc = dr_aws_query(c, "rds", op, RDS_VERSION, dr_buf_str(form), &d, err);

    dr_doc_free(d);
    return rc;
}

/* Seconds since the UTC stamp yyyymmddhhmmss, or -1 when `s` is not one. */
static double stamp_age(const char *s, double now)
{
    struct tm tm;

    if (strlen(s) != 14 || strspn(s, "0123456789") != 14)
        return -1;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d%2d%2d%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return now - (double)timegm(&tm);
}

/* Is `name` "<a prefix of id><suffix>-<stamp>" (failback shortens id to fit 63 characters)? Its age in *age. */
static int is_retired_of(const char *name, const char *id, const char *suffix, double now, double *age)
{
    size_t nl = strlen(name), sl = strlen(suffix), head;

    if (!id || nl < sl + 1 + 14 + 1)
        return 0;
    head = nl - 14 - 1 - sl;
    if (name[nl - 15] != '-' || strncmp(name + head, suffix, sl) != 0 || strncasecmp(name, id, head) != 0 ||
        head > strlen(id))
        return 0;
    *age = stamp_age(name + nl - 14, now);
    return *age >= 0;
}

/* The monthly cost class of a retired cluster from its instances' classes (storage is billed in every case). */
static void cost_class(const char *const *classes, size_t n, char *out, size_t len)
{
    int rank = 0; /* 0 storage only, 1 low, 2 serverless, 3 medium, 4 high */
    static const char *const words[] = {
        "storage only (its volume and backups)",
        "low (tens of USD a month per instance, plus storage)",
        "serverless (its minimum ACUs around the clock, plus storage)",
        "medium (hundreds of USD a month per instance, plus storage)",
        "high (thousands of USD a month per instance, plus storage)",
    };

    for (size_t i = 0; i < n; i++) {
        const char *c = classes[i], *size = strrchr(c, '.');
        int r;
        if (strcmp(c, "db.serverless") == 0)
            r = 2;
        else if (size && (strcmp(size, ".micro") == 0 || strcmp(size, ".small") == 0 || strcmp(size, ".medium") == 0))
            r = 1;
        else if (size && (strcmp(size, ".large") == 0 || strcmp(size, ".xlarge") == 0))
            r = 3;
        else
            r = 4;
        if (r > rank)
            rank = r;
    }
    snprintf(out, len, "%s%s", words[rank], n > 1 ? "; several instances" : "");
}

/* One page of the region's DescribeDBClusters as the memo's fill: the answer's XML text. */
typedef struct page_fill {
    dr_aws *c;
    const char *form;
} page_fill;

static int fill_page(void *arg, char **value, size_t *len, dr_error *err)
{
    page_fill *p = arg;
    dr_aws_call call;
    int rc;

    rc = dr_aws_call_query(&call, p->c, "rds", "DescribeDBClusters", RDS_VERSION, p->form);
    if (rc != 0)
        return dr_error_set(err, rc, "out of memory");
    rc = dr_aws_send_text(p->c, &call.req, value, len, err);
    dr_aws_calls_free(&call, 1);
    return rc;
}

/*
 * A page of every cluster of the region; with memo_res (verify), through the run's memo: the aurora resources of
 * a run that share a client (region and credentials) share the listing.
 */
static int list_page(const dr_host_api *h, dr_resource *memo_res, dr_aws *c, const char *form, dr_doc **d,
                     dr_error *err)
{
    page_fill p = {c, form};
    char key[640], *text = NULL;
    size_t len = 0;
    int rc;

    if (!h || !memo_res || snprintf(key, sizeof(key), "aurora:DescribeDBClusters?%s", form ? form : "") >=
                               (int)sizeof(key))
        return dr_aws_query(c, "rds", "DescribeDBClusters", RDS_VERSION, form, d, err);
    rc = h->memo(memo_res, c, key, fill_page, &p, &text, &len, err);
    if (rc == 0)
        rc = dr_doc_parse_xml(text, len, d, err);
    free(text);
    return rc;
}

/* Every cluster of the region whose name says it was retired from `ids`; appends to *out. */
static int list_region(const dr_host_api *h, dr_resource *memo_res, dr_aws *c, const char *region,
                       const char *const ids[2], const char *suffix, au_retired **out, size_t *n, dr_error *err)
{
    char marker[512] = "";
    double now = (double)time(NULL);

    if (!c)
        return err->code;
    do {
        dr_buf form = DR_BUF_INIT;
        dr_doc *d = NULL;
        const dr_node *cl;
        int rc;

        if (marker[0])
            dr_aws_form_add(&form, "Marker", marker);
        rc = list_page(h, memo_res, c, marker[0] ? dr_buf_str(&form) : NULL, &d, err);
        dr_buf_free(&form);
        if (rc != 0) {
            dr_doc_free(d);
            return rc;
        }
        for (cl = dr_node_first(dr_node_get(dr_doc_root(d), "DescribeDBClustersResult.DBClusters")); cl;
             cl = dr_node_next(cl)) {
            const char *name = dr_node_str(cl, "DBClusterIdentifier");
            const char *classes[AU_MAX_MEMBERS];
            au_instance inst[AU_MAX_MEMBERS];
            size_t k = 0;
            double age;
            au_retired *r, *grown;
            const dr_node *m;

            if (!name || !(is_retired_of(name, ids[0], suffix, now, &age) || is_retired_of(name, ids[1], suffix, now, &age)))
                continue;
            grown = realloc(*out, (*n + 1) * sizeof(**out));
            if (!grown) {
                dr_doc_free(d);
                return dr_error_set(err, DR_ENOMEM, "out of memory");
            }
            *out = grown;
            r = &(*out)[(*n)++];
            memset(r, 0, sizeof(*r));
            snprintf(r->id, sizeof(r->id), "%s", name);
            snprintf(r->region, sizeof(r->region), "%s", region);
            r->age = age;
            for (m = dr_node_first(dr_node_get(cl, "DBClusterMembers")); m && r->n_instances < AU_MAX_MEMBERS;
                 m = dr_node_next(m))
                snprintf(r->instances[r->n_instances++], sizeof(r->instances[0]), "%s",
                         dr_node_str(m, "DBInstanceIdentifier") ? dr_node_str(m, "DBInstanceIdentifier") : "");
            for (size_t i = 0; i < r->n_instances; i++) {
                if (au_describe_instance(c, r->instances[i], &inst[i], err) != 0) {
                    dr_error_clear(err); /* the cost class is a hint: an unreadable instance counts as unknown */
                    inst[i].found = 0;
                }
                if (inst[i].found)
                    classes[k++] = inst[i].klass;
            }
            cost_class(classes, k, r->cost_class, sizeof(r->cost_class));
        }
        snprintf(marker, sizeof(marker), "%s",
                 dr_node_str(dr_doc_root(d), "DescribeDBClustersResult.Marker")
                     ? dr_node_str(dr_doc_root(d), "DescribeDBClustersResult.Marker")
                     : "");
        dr_doc_free(d);
    } while (marker[0]);
    return 0;
}

static void region_list_run(void *arg)
{
    au_region_list *l = arg;

    if (l->c)
        dr_error_clear(&l->err); /* else the client's error stands */
    l->rc = list_region(l->h, l->memo_res, l->c, l->region, l->ids, l->suffix, &l->out, &l->n, &l->err);
}

void au_retired_prepare(const dr_host_api *h, dr_resource *res, au_retired_read *rd)
{
    const char *regions[2] = {h->primary_region(res), h->dr_region(res)};

    memset(rd, 0, sizeof(*rd));
    rd->ids[0] = h->cfg_string(res, "cluster");
    rd->ids[1] = h->cfg_string(res, "dr_cluster");
    rd->suffix = h->cfg_string(res, "retired_suffix");
    if (!rd->suffix || !*rd->suffix)
        rd->suffix = "-retired";
    for (int i = 0; i < 2; i++) {
        au_region_list *l = &rd->l[i];
        l->region = regions[i];
        l->h = h;
        l->memo_res = res; /* verify: the listing is shared by the run's aurora resources */
        l->ids = rd->ids;
        l->suffix = rd->suffix;
        dr_error_clear(&l->err);
        l->c = dr_host_aws(h, res, regions[i], &l->err);
    }
}

void au_retired_fetch(void *arg)
{
    au_retired_read *rd = arg;
    dr_aws_task t[2] = {{region_list_run, &rd->l[0]}, {region_list_run, &rd->l[1]}};

    dr_aws_run_all(t, 2, 0); /* both regions at once */
}

/*
 * What au_retired_fetch found, both regions; a region that could not be listed is skipped and named in *unlisted
 * (with the reason) when given, else its error is returned. Frees the read's lists.
 */
static int read_take(au_retired_read *rd, au_retired **out, size_t *n, dr_buf *unlisted, dr_error *err)
{
    int rc = 0;

    *out = NULL;
    *n = 0;
    for (int i = 0; i < 2; i++) {
        au_region_list *l = &rd->l[i];
        if (l->rc != 0) {
            if (!unlisted) {
                if (rc == 0) {
                    *err = l->err;
                    rc = l->rc;
                }
            } else {
                dr_buf_printf(unlisted, "%s%s not listed (%s)", unlisted->len ? "; " : "", l->region, l->err.message);
            }
            continue;
        }
        if (rc == 0 && l->n > 0) {
            au_retired *grown = realloc(*out, (*n + l->n) * sizeof(**out));
            if (!grown) {
                rc = dr_error_set(err, DR_ENOMEM, "out of memory");
                continue;
            }
            *out = grown;
            memcpy(*out + *n, l->out, l->n * sizeof(**out));
            *n += l->n;
        }
    }
    for (int i = 0; i < 2; i++) {
        free(rd->l[i].out);
        rd->l[i].out = NULL;
        rd->l[i].n = 0;
    }
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* Both regions at once. */
static int list_both(const dr_host_api *h, dr_resource *res, au_retired **out, size_t *n, dr_buf *unlisted,
                     dr_error *err)
{
    au_retired_read rd;

    au_retired_prepare(h, res, &rd);
    rd.l[0].memo_res = rd.l[1].memo_res = NULL; /* cleanup: deletes what it lists, reads afresh */
    au_retired_fetch(&rd);
    return read_take(&rd, out, n, unlisted, err);
}

int au_retired_list(const dr_host_api *h, dr_resource *res, au_retired **out, size_t *n, dr_error *err)
{
    return list_both(h, res, out, n, NULL, err);
}

void au_retired_check(const dr_host_api *h, dr_resource *res)
{
    au_retired_read rd;

    au_retired_prepare(h, res, &rd);
    au_retired_fetch(&rd);
    au_retired_report(h, res, &rd);
}

void au_retired_report(const dr_host_api *h, dr_resource *res, au_retired_read *rd)
{
    double keep = h->cfg_float(res, "retired_retention");
    au_retired *r = NULL;
    size_t n = 0, old = 0;
    dr_buf b = DR_BUF_INIT, unlisted = DR_BUF_INIT;
    char k[32], count[16];
    dr_error err;

    /* housekeeping, not a DR prerequisite: never worse than WARNING; UNKNOWN when a region cannot be listed */
    dr_error_clear(&err);
    dr_duration_format(keep, k, sizeof(k));
    read_take(rd, &r, &n, &unlisted, &err);
    if (unlisted.len) {
        dr_error_set(&err, DR_EAWS, "%s", dr_buf_str(&unlisted));
        dr_report_unknown(h, res, "retired_clusters", "0", &err);
        dr_buf_free(&unlisted);
        free(r);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char age[32];
        if (r[i].age <= keep)
            continue;
        dr_duration_format(r[i].age, age, sizeof(age));
        dr_buf_printf(&b, "%s%s in %s, retired %s ago, monthly cost class %s", old ? "; " : "", r[i].id, r[i].region,
                      age, r[i].cost_class);
        old++;
    }
    snprintf(count, sizeof(count), "%zu", old);
    if (old)
        dr_report_state(h, res, "retired_clusters", DR_STATUS_WARNING, count, "0",
                        "%zu cluster%s kept after a failback for longer than retired_retention (%s) and still billed: "
                        "%s. Check they hold nothing you need, then run 'dr-agent cleanup'",
                        old, old == 1 ? "" : "s", k, dr_buf_str(&b));
    else
        dr_report_state(h, res, "retired_clusters", DR_STATUS_OK, count, "0",
                        "%zu retired cluster%s, none older than retired_retention (%s)", n, n == 1 ? "" : "s", k);
    dr_buf_free(&b);
    dr_buf_free(&unlisted);
    free(r);
}

typedef struct gone_arg {
    dr_aws *c;
    const au_retired *r;
} gone_arg;

static int probe_instances_gone(void *arg, char *status, size_t len, dr_error *err)
{
    gone_arg *g = arg;
    size_t left = 0;

    for (size_t i = 0; i < g->r->n_instances; i++) {
        au_instance in;
        int rc = au_describe_instance(g->c, g->r->instances[i], &in, err);
        if (rc != 0)
            return rc;
        left += in.found;
    }
    snprintf(status, len, "%zu instance%s left", left, left == 1 ? "" : "s");
    return left == 0;
}

/* Delete the instances, then the cluster with a final snapshot (the retired cluster may hold lost writes). */
static int delete_one(const dr_host_api *h, dr_resource *res, const au_retired *r, char *snap, size_t snap_len,
                      dr_error *err)
{
    dr_aws *c = dr_host_aws(h, res, r->region, err);
    dr_buf form = DR_BUF_INIT;
    gone_arg g;
    int rc = 0;

    if (!c)
        return err->code;
    for (size_t i = 0; i < r->n_instances && rc == 0; i++) {
        dr_buf_free(&form);
        dr_aws_form_add(&form, "DBInstanceIdentifier", r->instances[i]);
        rc = rds_call(c, "DeleteDBInstance", &form, err);
        if (rc == DR_ENOTFOUND || (rc == DR_EAWS && dr_error_is(err, "DBInstanceNotFound"))) {
            dr_error_clear(err);
            rc = 0;
        }
    }
    if (rc == 0 && r->n_instances) {
        g.c = c;
        g.r = r;
        rc = dr_wait_for(h, res, "the retired cluster's instances to be deleted", 5000, 0, probe_instances_gone, &g, err);
    }
    if (rc == 0) {
        /* 63 characters at most; no trailing or double hyphen (RDS refuses both in a snapshot identifier) */
        size_t keep = strlen(r->id) < 57 ? strlen(r->id) : 57;
        while (keep > 1 && r->id[keep - 1] == '-')
            keep--;
        snprintf(snap, snap_len, "%.*s-final", (int)keep, r->id);
        dr_buf_free(&form);
        dr_aws_form_add(&form, "DBClusterIdentifier", r->id);
        dr_aws_form_add(&form, "SkipFinalSnapshot", "false");
        dr_aws_form_add(&form, "FinalDBSnapshotIdentifier", snap);
        rc = rds_call(c, "DeleteDBCluster", &form, err);
    }
    dr_buf_free(&form);
    return rc;
}

int au_retired_cleanup(const dr_host_api *h, dr_resource *res, int dry_run, dr_error *err)
{
    double keep = h->cfg_float(res, "retired_retention");
    au_retired *r = NULL;
    size_t n = 0;
    int rc, failed = 0;

    rc = au_retired_list(h, res, &r, &n, err);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        char age[32], target[160], detail[400], snap[80];
        dr_error e;

        if (r[i].age <= keep)
            continue;
        dr_duration_format(r[i].age, age, sizeof(age));
        snprintf(target, sizeof(target), "%s (%s)", r[i].id, r[i].region);
        if (dry_run) {
            snprintf(detail, sizeof(detail), "retired %s ago, %zu instance%s, monthly cost class %s; a final snapshot "
                     "is kept", age, r[i].n_instances, r[i].n_instances == 1 ? "" : "s", r[i].cost_class);
            h->change(res, DR_CHANGE_PLANNED, "delete retired cluster", target, detail);
            continue;
        }
        dr_error_clear(&e);
        if (delete_one(h, res, &r[i], snap, sizeof(snap), &e) != 0) {
            h->change(res, DR_CHANGE_FAILED, "delete retired cluster", target, e.message);
            if (!failed)
                *err = e;
            failed = 1;
            continue;
        }
        snprintf(detail, sizeof(detail), "deleted (retired %s ago); final snapshot %s", age, snap);
        h->change(res, DR_CHANGE_DONE, "delete retired cluster", target, detail);
    }
    free(r);
    return failed ? (err->code ? err->code : DR_EAWS) : 0;
}
