/* dynamodb.c: the dynamodb plugin: one table as a global table (2019.11.21) with streams and point-in-time recovery in both regions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose.h"
#include "dr/sdk.h"

static const dr_host_api *H;

#define DDB_TARGET "DynamoDB_20120810"
#define STREAM_VIEW "NEW_AND_OLD_IMAGES" /* what global tables replicate from */
#define CANARY_MAX_ATTRS 2               /* a hash key and an optional range key */

static const dr_config_key config_keys[] = {
    {"table", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL, "table name, the same in the primary and the DR region"},
    {"latency_window", DR_KEY_DURATION, 0, "15m", NULL,
     "how far back ReplicationLatency is read (verify compares the worst period of the window with the RPO)"},
    {"latency_period", DR_KEY_DURATION, 0, "60s", NULL, "CloudWatch period of ReplicationLatency, a multiple of 60s"},
    {"latency_statistic", DR_KEY_ENUM, 0, "Maximum", "Maximum|Average", "statistic of ReplicationLatency per period"},
    {"latency_warning_fraction", DR_KEY_FLOAT, 0, "0.5", NULL,
     "replication latency above this fraction of the RPO objective is a WARNING (above the RPO: CRITICAL)"},
    {"pitr_recovery_days", DR_KEY_INT, 0, "35", NULL, "point-in-time recovery period in days (1-35), in both regions"},
    {"pitr_max_age", DR_KEY_DURATION, 0, "15m", NULL,
     "how far LatestRestorableDateTime may lag behind now (it normally trails by about 5 minutes)"},
    {"canary_key", DR_KEY_STRING, 0, NULL, NULL,
     "key of a canary item that failover writes and reads back in the DR region: \"pk=dr-agent-canary\", "
     "or \"pk=x,sk=y\" for a table with a range key; types come from the table's key schema; unset: no canary"},
    {"graceful_wait", DR_KEY_BOOL, 0, "true", NULL,
     "graceful failover and failback wait until replication latency towards the region taking over is at most "
     "graceful_max_latency"},
    {"graceful_max_latency", DR_KEY_DURATION, 0, "60s", NULL,
     "replication latency under which a graceful failover or failback goes on"},
    {"poll_interval", DR_KEY_DURATION, 0, "10s", NULL, "time between two polls while waiting for AWS"},
    {"dr_kms_key", DR_KEY_STRING, 0, NULL, NULL,
     "KMS key (ARN, id or alias) in the DR region that encrypts the replica of a table encrypted with a customer "
     "managed key; default: the DR copy of a multi-Region key (mrk-...), derived from the table's key"},
};

/* What every hook needs: the resource, its table, both regions and the run options. */
typedef struct ctx {
    dr_resource *res;
    const dr_hook_args *args;
    const char *table;
    const char *primary;
    const char *dr;
    int64_t poll_ms;
    int may_wait; /* the prepare phase: waits for the latency here; the commit reads it once */
} ctx;

static void ctx_init(ctx *x, dr_resource *res, const dr_hook_args *args)
{
    x->res = res;
    x->args = args;
    x->table = H->cfg_string(res, "table");
    x->primary = H->primary_region(res);
    x->dr = H->dr_region(res);
    x->poll_ms = (int64_t)(H->cfg_float(res, "poll_interval") * 1000.0);
    if (x->poll_ms < 100)
        x->poll_ms = 100;
}

static dr_aws *client(const ctx *x, const char *region, dr_error *err)
{
    return dr_host_aws(H, x->res, region, err);
}

/* ---- DynamoDB calls ---- */

/* One DynamoDB call; takes ownership of `body` (NULL when building it failed, err already set). */
static int ddb(dr_aws *c, const char *op, char *body, dr_doc **out, dr_error *err)
{
    dr_doc *doc = NULL;
    int rc;

    if (!body)
        return err->code ? err->code : dr_error_set(err, DR_ENOMEM, "out of memory");
    rc = dr_aws_json(c, "dynamodb", DDB_TARGET, op, body, &doc, err);
    free(body);
    if (out)
        *out = doc;
    else
        dr_doc_free(doc);
    return rc;
}

static int describe_table(const ctx *x, dr_aws *c, dr_doc **doc, const dr_node **table, dr_error *err)
{
    int rc = ddb(c, "DescribeTable", dr_json_pack(err, "{s:s}", "TableName", x->table), doc, err);

    if (rc != 0)
        return rc;
    *table = dr_node_get(dr_doc_root(*doc), "Table");
    if (!*table)
        return dr_error_set(err, DR_EPARSE, "DescribeTable %s in %s: the answer has no Table", x->table,
                            dr_aws_region(c));
    return 0;
}

static const char *table_status(const dr_node *table)
{
    const char *s = dr_node_str(table, "TableStatus");
    return s ? s : "UNKNOWN";
}

/* The entry of Table.Replicas for `region`, or NULL. */
static const dr_node *find_replica(const dr_node *table, const char *region)
{
    for (const dr_node *r = dr_node_first(dr_node_get(table, "Replicas")); r; r = dr_node_next(r)) {
        const char *name = dr_node_str(r, "RegionName");
        if (name && strcmp(name, region) == 0)
            return r;
    }
    return NULL;
}

static const char *replica_status(const dr_node *replica)
{
    const char *s = dr_node_str(replica, "ReplicaStatus");
    return s ? s : "UNKNOWN";
}

static int stream_ok(const dr_node *table)
{
    const char *view = dr_node_str(table, "StreamSpecification.StreamViewType");
    return dr_node_bool(table, "StreamSpecification.StreamEnabled", 0) && view && strcmp(view, STREAM_VIEW) == 0;
}

static int describe_pitr(const ctx *x, dr_aws *c, dr_doc **doc, const dr_node **pitr, dr_error *err)
{
    int rc = ddb(c, "DescribeContinuousBackups", dr_json_pack(err, "{s:s}", "TableName", x->table), doc, err);

    if (rc != 0)
        return rc;
    *pitr = dr_node_get(dr_doc_root(*doc), "ContinuousBackupsDescription.PointInTimeRecoveryDescription");
    if (!*pitr)
        return dr_error_set(err, DR_EPARSE, "DescribeContinuousBackups %s in %s: the answer has no "
                            "PointInTimeRecoveryDescription", x->table, dr_aws_region(c));
    return 0;
}

static int pitr_enabled(const dr_node *pitr)
{
    const char *s = dr_node_str(pitr, "PointInTimeRecoveryStatus");
    return s && strcmp(s, "ENABLED") == 0;
}

/* RecoveryPeriodInDays; AWS leaves it out of older answers, where the period is the fixed 35 days. */
static long pitr_days(const dr_node *pitr)
{
    return (long)dr_node_num(pitr, "RecoveryPeriodInDays", 35);
}

/* ---- waits ---- */

/* Poll DescribeTable in `region` until the table is ACTIVE and, with `replica_region`, until its replica there is ACTIVE. */
typedef struct table_wait {
    const ctx *x;
    dr_aws *c;
    const char *replica_region;
    dr_doc *doc; /* the last answer */
    const dr_node *table;
} table_wait;

static int probe_table(void *arg, char *status, size_t len, dr_error *err)
{
    table_wait *w = arg;
    const dr_node *rep;
    int rc;

    dr_doc_free(w->doc);
    w->doc = NULL;
    rc = describe_table(w->x, w->c, &w->doc, &w->table, err);
    if (rc != 0)
        return rc;
    if (!w->replica_region) {
        snprintf(status, len, "table %s", table_status(w->table));
        return strcmp(table_status(w->table), "ACTIVE") == 0;
    }
    rep = find_replica(w->table, w->replica_region);
    if (!rep)
        return dr_error_set(err, DR_ESTATE, "the replica of %s in %s is no longer listed in %s", w->x->table,
                            w->replica_region, dr_aws_region(w->c));
    if (strcmp(replica_status(rep), "ACTIVE") == 0)
        return 1;
    if (strcmp(replica_status(rep), "CREATING") != 0 && strcmp(replica_status(rep), "UPDATING") != 0)
        return dr_error_set(err, DR_ESTATE, "the replica of %s in %s is %s%s%s", w->x->table, w->replica_region,
                            replica_status(rep), dr_node_str(rep, "ReplicaStatusDescription") ? ": " : "",
                            dr_node_str(rep, "ReplicaStatusDescription") ? dr_node_str(rep, "ReplicaStatusDescription")
                                                                          : "");
    if (dr_node_get(rep, "ReplicaStatusPercentProgress"))
        snprintf(status, len, "replica %s %s%%", replica_status(rep),
                 dr_node_str(rep, "ReplicaStatusPercentProgress"));
    else
        snprintf(status, len, "replica %s", replica_status(rep));
    return 0;
}

static int wait_table(const ctx *x, dr_aws *c, const char *replica_region, dr_doc **doc, const dr_node **table,
                      dr_error *err)
{
    char what[160];
    table_wait w = {x, c, replica_region, NULL, NULL};
    int rc;

    if (replica_region)
        snprintf(what, sizeof(what), "the replica of %s in %s", x->table, replica_region);
    else
        snprintf(what, sizeof(what), "%s in %s to be ACTIVE", x->table, dr_aws_region(c));
    rc = dr_wait_for(H, x->res, what, x->poll_ms, 0, probe_table, &w, err);
    if (rc != 0) {
        dr_doc_free(w.doc);
        return rc;
    }
    dr_doc_free(*doc);
    *doc = w.doc;
    *table = w.table;
    return 0;
}

/* ---- replication latency ---- */

typedef struct lag {
    int rc;           /* 0: read (see n); negative: could not be read (err) */
    dr_error err;
    size_t n;         /* datapoints in the window */
    double worst;     /* seconds: the largest value of the window */
    double latest;    /* seconds: the newest datapoint */
    double latest_at; /* its time, epoch seconds */
} lag;

/* What a ReplicationLatency read asks for, taken from the config in the hook's thread. */
typedef struct lag_query {
    dr_aws *c; /* the client of the sending region, where the metric is published */
    const char *table, *to, *stat;
    double window;
    int period;
} lag_query;

static void lag_query_init(const ctx *x, dr_aws *c, const char *to, lag_query *q)
{
    q->c = c;
    q->table = x->table;
    q->to = to;
    q->stat = H->cfg_string(x->res, "latency_statistic");
    q->window = H->cfg_float(x->res, "latency_window");
    q->period = (int)H->cfg_float(x->res, "latency_period");
}

/* The read itself: AWS calls only, so it can run on a batch's worker. */
static void lag_read(const lag_query *q, lag *out)
{
    dr_aws_dim dims[2] = {{"TableName", q->table}, {"ReceivingRegion", q->to}};
    dr_aws_metric m;

    memset(out, 0, sizeof(*out));
    dr_error_clear(&out->err);
    memset(&m, 0, sizeof(m));
    out->rc = dr_aws_metric_get(q->c, "AWS/DynamoDB", "ReplicationLatency", dims, 2, q->stat, q->window, q->period,
                                &m, &out->err);
    if (out->rc != 0)
        return;
    out->n = m.datapoints;
    out->worst = m.max / 1000.0;
    out->latest = m.latest / 1000.0;
    out->latest_at = m.latest_time;
}

/* ReplicationLatency of changes sent from `from` to `to`: published in `from`, in milliseconds. */
static void read_lag(const ctx *x, const char *from, const char *to, lag *out)
{
    lag_query q;
    dr_aws *c;

    memset(out, 0, sizeof(*out));
    dr_error_clear(&out->err);
    c = client(x, from, &out->err);
    if (!c) {
        out->rc = out->err.code;
        return;
    }
    lag_query_init(x, c, to, &q);
    lag_read(&q, out);
}

/* ---- reporting ---- */

/* A numeric check with nothing observed (UNKNOWN when it could not be read, CRITICAL when there is nothing to measure). */
static void report_number_none(const ctx *x, const char *name, dr_status status, double threshold,
                               const char *unit, const char *detail)
{
    char th[40];

    snprintf(th, sizeof(th), "%.6g", threshold);
    dr_report_check(H, x->res, name, status, NULL, th, unit, detail);
}

static void target_of(const ctx *x, const char *region, char *out, size_t len)
{
    snprintf(out, len, "%s in %s", x->table, region);
}

/* The state of the table in one region, read once per hook. */
typedef struct table_read {
    int rc; /* 0, DR_ENOTFOUND, or the error in err */
    dr_error err;
    dr_doc *doc;
    const dr_node *t;
} table_read;

/* Point-in-time recovery of the table in one region, read once per verify. */
typedef struct pitr_read {
    int rc; /* 0, DR_ENOTFOUND, or the error in err */
    dr_error err;
    dr_doc *doc;
    const dr_node *pitr;
} pitr_read;

/*
 * Everything verify reads, all independent of each other: the table and its
 * point-in-time recovery in both regions and the replication latency. They
 * are read at once (one round trip instead of five); the checks then use
 * the answers.
 */
typedef struct verify_reads {
    const ctx *x;
    dr_aws *c[2];       /* primary, DR; NULL when no client could be made (cerr) */
    dr_error cerr[2];
    table_read table[2];
    pitr_read pitr[2];
    lag_query lq;       /* from the serving region to the other */
    int lag_region;     /* index of the serving region */
    lag lag;
} verify_reads;

typedef struct verify_task {
    verify_reads *v;
    int what;   /* 0 table, 1 point-in-time recovery, 2 latency */
    int region; /* 0 primary, 1 DR */
} verify_task;

static void verify_read(void *arg)
{
    verify_task *t = arg;
    verify_reads *v = t->v;
    dr_aws *c = v->c[t->region];

    if (t->what == 0) {
        table_read *tr = &v->table[t->region];
        tr->rc = c ? describe_table(v->x, c, &tr->doc, &tr->t, &tr->err) : (tr->err = v->cerr[t->region]).code;
    } else if (t->what == 1) {
        pitr_read *pr = &v->pitr[t->region];
        pr->rc = c ? describe_pitr(v->x, c, &pr->doc, &pr->pitr, &pr->err) : (pr->err = v->cerr[t->region]).code;
    } else if (c) {
        lag_read(&v->lq, &v->lag);
    } else {
        v->lag.err = v->cerr[t->region];
        v->lag.rc = v->lag.err.code;
    }
}

static void verify_reads_run(const ctx *x, int serving_dr, verify_reads *v)
{
    const char *regions[2] = {x->primary, x->dr};
    verify_task tasks[5];
    dr_aws_task run[5];

    memset(v, 0, sizeof(*v));
    v->x = x;
    for (int r = 0; r < 2; r++) {
        dr_error_clear(&v->cerr[r]);
        v->c[r] = client(x, regions[r], &v->cerr[r]);
    }
    v->lag_region = serving_dr ? 1 : 0;
    lag_query_init(x, v->c[v->lag_region], regions[1 - v->lag_region], &v->lq);
    for (int i = 0; i < 5; i++) {
        tasks[i].v = v;
        tasks[i].what = i / 2;
        tasks[i].region = i < 4 ? i % 2 : v->lag_region;
        run[i].fn = verify_read;
        run[i].arg = &tasks[i];
    }
    dr_aws_run_all(run, 5, 0);
}

static void verify_reads_free(verify_reads *v)
{
    for (int r = 0; r < 2; r++) {
        dr_doc_free(v->table[r].doc);
        dr_doc_free(v->pitr[r].doc);
    }
}

/* ---- verify ---- */

static void check_table(const ctx *x, const char *name, const char *region, const table_read *tr)
{
    const char *st;

    if (tr->rc == DR_ENOTFOUND) {
        dr_report_state(H, x->res, name, DR_STATUS_CRITICAL, "MISSING", "ACTIVE", "table %s does not exist in %s",
                        x->table, region);
        return;
    }
    if (tr->rc != 0) {
        dr_report_unknown(H, x->res, name, "ACTIVE", &tr->err);
        return;
    }
    st = table_status(tr->t);
    /* UPDATING still serves reads and writes; any other state does not */
    dr_report_state(H, x->res, name,
                    strcmp(st, "ACTIVE") == 0     ? DR_STATUS_OK
                    : strcmp(st, "UPDATING") == 0 ? DR_STATUS_WARNING
                                                  : DR_STATUS_CRITICAL,
                    st, "ACTIVE", "table %s in %s is %s (%s)", x->table, region, st,
                    dr_node_str(tr->t, "GlobalTableVersion") ? "global table" : "single-region table");
}

static void check_stream(const ctx *x, const char *region, const table_read *tr)
{
    const char *view;

    if (tr->rc == DR_ENOTFOUND) {
        dr_report_state(H, x->res, "stream_enabled", DR_STATUS_CRITICAL, NULL, STREAM_VIEW,
                        "table %s does not exist in %s", x->table, region);
        return;
    }
    if (tr->rc != 0) {
        dr_report_unknown(H, x->res, "stream_enabled", STREAM_VIEW, &tr->err);
        return;
    }
    view = dr_node_str(tr->t, "StreamSpecification.StreamViewType");
    if (stream_ok(tr->t))
        dr_report_state(H, x->res, "stream_enabled", DR_STATUS_OK, STREAM_VIEW, STREAM_VIEW,
                        "the stream of %s in %s carries new and old images", x->table, region);
    else if (dr_node_bool(tr->t, "StreamSpecification.StreamEnabled", 0))
        dr_report_state(H, x->res, "stream_enabled", DR_STATUS_CRITICAL, view ? view : "UNKNOWN", STREAM_VIEW,
                        "the stream of %s in %s has view type %s; global tables replicate from %s", x->table,
                        region, view ? view : "(none)", STREAM_VIEW);
    else
        dr_report_state(H, x->res, "stream_enabled", DR_STATUS_CRITICAL, "DISABLED", STREAM_VIEW,
                        "%s in %s has no stream: changes are not replicated", x->table, region);
}

/* The replica in `other` as the serving region's table lists it. */
static void check_replica(const ctx *x, const char *name, const char *serving, const char *other,
                          const table_read *tr)
{
    const dr_node *rep;
    const char *st, *why;

    if (tr->rc == DR_ENOTFOUND) {
        dr_report_state(H, x->res, name, DR_STATUS_CRITICAL, NULL, "ACTIVE",
                        "table %s does not exist in %s, so no replica in %s is known", x->table, serving, other);
        return;
    }
    if (tr->rc != 0) {
        dr_report_unknown(H, x->res, name, "ACTIVE", &tr->err);
        return;
    }
    rep = find_replica(tr->t, other);
    if (!rep) {
        dr_report_state(H, x->res, name, DR_STATUS_CRITICAL, "MISSING", "ACTIVE",
                        "%s in %s lists no replica in %s: changes are not replicated there", x->table, serving,
                        other);
        return;
    }
    st = replica_status(rep);
    why = dr_node_str(rep, "ReplicaStatusDescription");
    dr_report_state(H, x->res, name,
                    strcmp(st, "ACTIVE") == 0     ? DR_STATUS_OK
                    : strcmp(st, "UPDATING") == 0 ? DR_STATUS_WARNING
                                                  : DR_STATUS_CRITICAL,
                    st, "ACTIVE", "replica of %s in %s is %s (global table version %s)%s%s", x->table, other, st,
                    dr_node_str(tr->t, "GlobalTableVersion") ? dr_node_str(tr->t, "GlobalTableVersion") : "unknown",
                    why ? ": " : "", why ? why : "");
}

/* Point-in-time recovery in one region: enabled, with a recent latest restorable time, for the configured period. */
static void check_pitr(const ctx *x, const char *name, const char *region, const pitr_read *pr)
{
    double max_age = H->cfg_float(x->res, "pitr_max_age");
    long want_days = (long)H->cfg_int(x->res, "pitr_recovery_days");
    const dr_node *pitr = pr->pitr;
    double latest, age;
    char when[40], ago[32], ob[40], th[40], detail[512];
    dr_status st;
    long days;

    if (pr->rc == DR_ENOTFOUND) {
        snprintf(detail, sizeof(detail), "table %s does not exist in %s: nothing can be restored", x->table, region);
        report_number_none(x, name, DR_STATUS_CRITICAL, max_age, "seconds", detail);
        return;
    }
    if (pr->rc != 0) {
        report_number_none(x, name, DR_STATUS_UNKNOWN, max_age, "seconds", pr->err.message);
        return;
    }
    if (!pitr_enabled(pitr)) {
        snprintf(detail, sizeof(detail), "point-in-time recovery of %s in %s is %s", x->table, region,
                 dr_node_str(pitr, "PointInTimeRecoveryStatus") ? dr_node_str(pitr, "PointInTimeRecoveryStatus")
                                                                 : "not reported");
        report_number_none(x, name, DR_STATUS_CRITICAL, max_age, "seconds", detail);
        return;
    }
    days = pitr_days(pitr);
    if (dr_node_time(pitr, "LatestRestorableDateTime", &latest) != 0) {
        snprintf(detail, sizeof(detail), "point-in-time recovery of %s in %s is enabled but reports no latest "
                 "restorable time yet", x->table, region);
        report_number_none(x, name, DR_STATUS_WARNING, max_age, "seconds", detail);
        return;
    }
    age = dr_now() - latest;
    if (age < 0)
        age = 0; /* clocks disagree a little */
    dr_time_format(latest, 0, when, sizeof(when));
    dr_duration_format(age, ago, sizeof(ago));
    st = age > max_age ? DR_STATUS_CRITICAL : days < want_days ? DR_STATUS_WARNING : DR_STATUS_OK;
    snprintf(detail, sizeof(detail), "point-in-time recovery of %s in %s: latest restorable time %s (%s ago), "
             "recovery period %ld days (configured %ld)", x->table, region, when, ago, days, want_days);
    snprintf(ob, sizeof(ob), "%.6g", age);
    snprintf(th, sizeof(th), "%.6g", max_age);
    dr_report_check(H, x->res, name, st, ob, th, "seconds", detail);
}

/* Replication latency from the serving region to the other one, against the RPO objective. */
static void check_latency(const ctx *x, const char *from, const char *to, const lag *lp)
{
    double rpo = H->rpo_objective(x->res);
    double frac = H->cfg_float(x->res, "latency_warning_fraction");
    char window[32], detail[512];
    lag l = *lp;

    dr_duration_format(H->cfg_float(x->res, "latency_window"), window, sizeof(window));
    if (l.rc != 0) {
        report_number_none(x, "replication_latency", DR_STATUS_UNKNOWN, rpo, "seconds", l.err.message);
        H->rpo_observed(x->res, -1); /* the data's RPO is unknown */
        return;
    }
    if (l.n == 0) {
        snprintf(detail, sizeof(detail), "no ReplicationLatency datapoints for %s from %s to %s in the last %s",
                 x->table, from, to, window);
        report_number_none(x, "replication_latency", DR_STATUS_UNKNOWN, rpo, "seconds", detail);
        H->rpo_observed(x->res, -1);
        return;
    }
    dr_report_number(H, x->res, "replication_latency", dr_lag_status(l.worst, rpo, frac), l.worst, rpo, "seconds",
                     "worst %s ReplicationLatency of %s from %s to %s over the last %s (%zu datapoints); WARNING "
                     "above %.6g s",
                     H->cfg_string(x->res, "latency_statistic"), x->table, from, to, window, l.n, rpo * frac);
    H->rpo_observed(x->res, l.worst);
}

static int dynamodb_verify(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    int serving_dr = args->serving == DR_SERVING_DR;
    verify_reads v;
    const table_read *tp, *td;
    const char *serving, *other;
    ctx x;

    (void)err;
    ctx_init(&x, res, args);
    serving = serving_dr ? x.dr : x.primary;
    other = serving_dr ? x.primary : x.dr;
    verify_reads_run(&x, serving_dr, &v);
    tp = &v.table[0];
    td = &v.table[1];

    /* 1. the table exists and is ACTIVE in both regions */
    check_table(&x, "table_primary", x.primary, tp);
    check_table(&x, "table_dr", x.dr, td);

    /* 2. the serving table streams its changes, and lists the other region's replica as ACTIVE */
    check_stream(&x, serving, serving_dr ? td : tp);
    check_replica(&x, serving_dr ? "replica_primary" : "replica_dr", serving, other, serving_dr ? td : tp);

    /* 3. point-in-time recovery in both regions */
    check_pitr(&x, "pitr_primary", x.primary, &v.pitr[0]);
    check_pitr(&x, "pitr_dr", x.dr, &v.pitr[1]);

    /* 4. how far the other region is behind the serving one: the RPO a failover would achieve now */
    check_latency(&x, serving, other, &v.lag);

    verify_reads_free(&v);
    return 0;
}

/* ---- configure ---- */

static int ensure_stream(const ctx *x, dr_aws *c, dr_doc **doc, const dr_node **table, dr_error *err)
{
    const char *view = dr_node_str(*table, "StreamSpecification.StreamViewType");
    char target[300];
    int rc;

    target_of(x, x->primary, target, sizeof(target));
    if (stream_ok(*table))
        return 0;
    if (dr_node_bool(*table, "StreamSpecification.StreamEnabled", 0)) {
        /* changing the view type means disabling the stream first, which cuts off its consumers: an operator's call */
        H->change(x->res, DR_CHANGE_FAILED, "enable stream", target, "the stream has another view type");
        return dr_error_set(err, DR_ESTATE, "the stream of %s in %s has view type %s; global tables need %s: "
                            "disable the stream and run configure again", x->table, x->primary,
                            view ? view : "(none)", STREAM_VIEW);
    }
    if (x->args->dry_run) {
        dr_report_planned(H, x->res, "enable stream", target, "StreamViewType " STREAM_VIEW);
        return 0;
    }
    rc = ddb(c, "UpdateTable",
             dr_json_pack(err, "{s:s, s:{s:b, s:s}}", "TableName", x->table, "StreamSpecification", "StreamEnabled", 1,
                          "StreamViewType", STREAM_VIEW),
             NULL, err);
    if (rc != 0) {
        dr_report_change(H, x->res, rc, "enable stream", target, NULL, err);
        return rc;
    }
    rc = wait_table(x, c, NULL, doc, table, err);
    dr_report_change(H, x->res, rc, "enable stream", target, "StreamViewType " STREAM_VIEW, err);
    return rc;
}

/*
 * What AWS needs before it adds a replica, checked first: the replica's KMS key in `to` for a table encrypted with
 * a KMS key (dr_kms_key, or the DR copy of a multi-Region key), and write auto scaling for a PROVISIONED table.
 * Fills `key` (empty: none sent) and appends to `detail` what the replica needs; DR_ECONFIG/DR_ESTATE with err
 * naming what is missing.
 */
static int replica_needs(const ctx *x, dr_aws *cfrom, const dr_node *table, const char *to, char *key, size_t keylen,
                         char *detail, size_t dlen, dr_error *err)
{
    const char *sse = dr_node_str(table, "SSEDescription.SSEType");
    const char *arn = dr_node_str(table, "SSEDescription.KMSMasterKeyArn");
    const char *billing = dr_node_str(table, "BillingModeSummary.BillingMode");
    const char *conf_key = H->cfg_string(x->res, "dr_kms_key");
    size_t used = strlen(detail);

    key[0] = '\0';
    if (sse && strcmp(sse, "KMS") == 0 && arn) {
        const char *id = strrchr(arn, '/');
        char region_part[64];
        if (conf_key && *conf_key && strcmp(to, x->dr) == 0) {
            snprintf(key, keylen, "%s", conf_key);
            snprintf(detail + used, dlen - used, ", encrypted with %s (dr_kms_key)", key);
        } else if (id && strncmp(id + 1, "mrk-", 4) == 0) {
            /* a multi-Region key has the same id in every region: arn:aws:kms:<region>:<account>:key/mrk-... */
            const char *p = arn;
            size_t n;
            for (int colons = 0; *p && colons < 3; p++)
                colons += *p == ':';
            n = (size_t)(p - arn);
            snprintf(region_part, sizeof(region_part), "%.*s", (int)n, arn);
            p = strchr(p, ':');
            snprintf(key, keylen, "%s%s%s", region_part, to, p ? p : "");
            snprintf(detail + used, dlen - used, ", encrypted with the replica of multi-Region key %s in %s: %s",
                     id + 1, to, key);
        } else {
            snprintf(detail + used, dlen - used,
                     ", table encrypted with KMS key %s: no replica key sent, which AWS accepts only for the AWS "
                     "managed key aws/dynamodb (for a customer managed key %s)", arn,
                     strcmp(to, x->dr) == 0 ? "set dr_kms_key" : "use a multi-Region key or add the replica by hand");
        }
        used = strlen(detail);
    }
    if (!billing || strcmp(billing, "PROVISIONED") == 0) {
        dr_doc *doc = NULL;
        const dr_node *w = NULL;
        int rc = ddb(cfrom, "DescribeTableReplicaAutoScaling", dr_json_pack(err, "{s:s}", "TableName", x->table),
                     &doc, err);
        if (rc != 0) {
            dr_doc_free(doc);
            return dr_error_prefix(err, "write auto scaling of PROVISIONED table %s: ", x->table);
        }
        for (const dr_node *r = dr_node_first(dr_node_get(dr_doc_root(doc), "TableAutoScalingDescription.Replicas"));
             r; r = dr_node_next(r))
            if (dr_node_str(r, "RegionName") && strcmp(dr_node_str(r, "RegionName"), dr_aws_region(cfrom)) == 0)
                w = dr_node_get(r, "ReplicaProvisionedWriteCapacityAutoScalingSettings");
        if (!w || dr_node_bool(w, "AutoScalingDisabled", 1) || dr_node_count(dr_node_get(w, "ScalingPolicies")) == 0) {
            dr_doc_free(doc);
            return dr_error_set(err, DR_ESTATE,
                                "table %s is PROVISIONED without write auto scaling; a global table needs on-demand "
                                "capacity or write auto scaling: switch it to PAY_PER_REQUEST or register a scalable "
                                "target and a target-tracking policy for dynamodb:table:WriteCapacityUnits of "
                                "table/%s (aws application-autoscaling register-scalable-target / "
                                "put-scaling-policy), then run configure again",
                                x->table, x->table);
        }
        snprintf(detail + used, dlen - used, ", PROVISIONED with write auto scaling %.0f-%.0f units",
                 dr_node_num(w, "MinimumUnits", 0), dr_node_num(w, "MaximumUnits", 0));
        dr_doc_free(doc);
    }
    return 0;
}

/*
 * Add the replica in `to` through the table in `from` (UpdateTable ReplicaUpdates, global tables 2019.11.21) and
 * wait until it is ACTIVE. `*planned` is set when a dry run planned it.
 */
static int ensure_replica(const ctx *x, dr_aws *cfrom, dr_aws *cto, const char *from, const char *to,
                          dr_doc **doc, const dr_node **table, int *planned, dr_error *err)
{
    const dr_node *rep = find_replica(*table, to), *other_t = NULL;
    dr_doc *other = NULL;
    char target[300], detail[900], key[300];
    int rc;

    *planned = 0;
    target_of(x, to, target, sizeof(target));
    if (rep) {
        const char *st = replica_status(rep);
        if (strcmp(st, "ACTIVE") == 0)
            return 0;
        if (strcmp(st, "CREATING") != 0 && strcmp(st, "UPDATING") != 0)
            return dr_error_set(err, DR_ESTATE, "the replica of %s in %s is %s: it needs an operator (see "
                                "ReplicaStatusDescription)", x->table, to, st);
        if (x->args->dry_run)
            return 0;
        /* a replica requested earlier (a crashed or timed-out run) is still being built: wait for it */
        H->log(x->res, DR_LOG_INFO, "the replica in %s is %s; waiting for it", to, st);
        return wait_table(x, cfrom, to, doc, table, err);
    }

    /* a table of the same name that is not a replica blocks the replica and must not be overwritten */
    rc = describe_table(x, cto, &other, &other_t, err);
    dr_doc_free(other);
    if (rc == 0) {
        snprintf(detail, sizeof(detail), "a table %s already exists in %s and is not a replica", x->table, to);
        H->change(x->res, DR_CHANGE_FAILED, "add replica", target, detail);
        return dr_error_set(err, DR_ESTATE, "%s; its data would be lost: move it away, delete it and run the "
                            "hook again", detail);
    }
    if (rc != DR_ENOTFOUND)
        return dr_error_prefix(err, "cannot tell whether %s exists in %s: ", x->table, to);
    dr_error_clear(err);

    snprintf(detail, sizeof(detail), "global table version 2019.11.21, replica of %s in %s", x->table, from);
    rc = replica_needs(x, cfrom, *table, to, key, sizeof(key), detail, sizeof(detail), err);
    if (rc != 0) {
        dr_report_change(H, x->res, rc, "add replica", target, NULL, err);
        return rc;
    }
    if (x->args->dry_run) {
        dr_report_planned(H, x->res, "add replica", target, "%s", detail);
        *planned = 1;
        return 0;
    }
    rc = ddb(cfrom, "UpdateTable",
             key[0] ? dr_json_pack(err, "{s:s, s:[{s:{s:s, s:s}}]}", "TableName", x->table, "ReplicaUpdates", "Create",
                                   "RegionName", to, "KMSMasterKeyId", key)
                    : dr_json_pack(err, "{s:s, s:[{s:{s:s}}]}", "TableName", x->table, "ReplicaUpdates", "Create",
                                   "RegionName", to),
             NULL, err);
    if (rc != 0 && !key[0] && strstr(err->message, "KMSMasterKeyId") && strcmp(to, x->dr) == 0)
        dr_error_prefix(err, "table %s is encrypted with a customer managed KMS key: set dr_kms_key to its key in %s; ",
                        x->table, to);
    if (rc == 0)
        rc = wait_table(x, cfrom, to, doc, table, err);
    dr_report_change(H, x->res, rc, "add replica", target, detail, err);
    return rc;
}

/* UpdateContinuousBackups, retried while a new table's backups are still being set up. */
typedef struct pitr_update {
    const ctx *x;
    dr_aws *c;
    long days;
} pitr_update;

static int probe_pitr_update(void *arg, char *status, size_t len, dr_error *err)
{
    pitr_update *u = arg;
    int rc = ddb(u->c, "UpdateContinuousBackups",
                 dr_json_pack(err, "{s:s, s:{s:b, s:i}}", "TableName", u->x->table,
                              "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled", 1,
                              "RecoveryPeriodInDays", (int)u->days),
                 NULL, err);

    if (rc == 0)
        return 1;
    if (dr_error_is(err, "ContinuousBackupsUnavailableException")) {
        snprintf(status, len, "continuous backups not available yet");
        dr_error_clear(err);
        return 0;
    }
    return rc;
}

/* Point-in-time recovery enabled with the configured period in `region`; `table_planned`: the table is only planned. */
static int ensure_pitr(const ctx *x, const char *region, int table_planned, dr_error *err)
{
    long days = (long)H->cfg_int(x->res, "pitr_recovery_days");
    const char *action = "enable point-in-time recovery";
    const dr_node *pitr = NULL;
    dr_doc *doc = NULL;
    char target[300], detail[200], what[340];
    pitr_update u;
    dr_aws *c;
    int rc = 0;

    target_of(x, region, target, sizeof(target));
    snprintf(detail, sizeof(detail), "recovery period %ld days", days);
    if (table_planned) {
        dr_report_planned(H, x->res, action, target, "%s", detail);
        return 0;
    }
    c = client(x, region, err);
    if (!c)
        return err->code;
    rc = describe_pitr(x, c, &doc, &pitr, err);
    if (rc != 0) {
        if (rc == DR_ENOTFOUND)
            dr_error_set(err, DR_ENOTFOUND, "table %s does not exist in %s", x->table, region);
        goto out;
    }
    if (pitr_enabled(pitr)) {
        if (pitr_days(pitr) == days)
            goto out;
        action = "set point-in-time recovery period";
        snprintf(detail, sizeof(detail), "recovery period %ld days (was %ld)", days, pitr_days(pitr));
    }
    if (x->args->dry_run) {
        dr_report_planned(H, x->res, action, target, "%s", detail);
        goto out;
    }
    u.x = x;
    u.c = c;
    u.days = days;
    snprintf(what, sizeof(what), "point-in-time recovery of %s", target);
    rc = dr_wait_for(H, x->res, what, x->poll_ms, 0, probe_pitr_update, &u, err);
    dr_report_change(H, x->res, rc, action, target, detail, err);
out:
    dr_doc_free(doc);
    return rc;
}

static int dynamodb_configure(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    const dr_node *table = NULL;
    dr_doc *doc = NULL;
    dr_aws *cp, *cd;
    int planned = 0, rc;
    ctx x;

    ctx_init(&x, res, args);
    if (!(cp = client(&x, x.primary, err)) || !(cd = client(&x, x.dr, err)))
        return err->code;

    /* 1. the table exists in the primary region (the application creates it) and is ACTIVE */
    rc = describe_table(&x, cp, &doc, &table, err);
    if (rc == DR_ENOTFOUND) {
        rc = dr_error_set(err, DR_ENOTFOUND, "table %s does not exist in %s: create it first", x.table, x.primary);
        goto out;
    }
    if (rc == 0 && strcmp(table_status(table), "ACTIVE") != 0 && !args->dry_run)
        rc = wait_table(&x, cp, NULL, &doc, &table, err);
    if (rc != 0)
        goto out;

    /* 2. streams with new and old images, which global tables replicate from */
    if ((rc = ensure_stream(&x, cp, &doc, &table, err)) != 0)
        goto out;

    /* 3. the replica in the DR region, ACTIVE */
    if ((rc = ensure_replica(&x, cp, cd, x.primary, x.dr, &doc, &table, &planned, err)) != 0)
        goto out;

    /* 4. point-in-time recovery in both regions */
    if ((rc = ensure_pitr(&x, x.primary, 0, err)) != 0)
        goto out;
    rc = ensure_pitr(&x, x.dr, planned, err);
out:
    dr_doc_free(doc);
    return rc;
}

/* ---- failover and failback ---- */

/* The canary key "a=x[,b=y]" split in place; returns the number of attributes or DR_ECONFIG. */
typedef struct canary_attr {
    char *name;
    char *value;
    const char *type; /* S, N or B, from the table's AttributeDefinitions */
} canary_attr;

static int canary_parse(char *spec, canary_attr *attrs, dr_error *err)
{
    int n = 0;

    for (char *save = NULL, *tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        while (*tok == ' ')
            tok++;
        if (!eq || eq == tok || !eq[1])
            return dr_error_set(err, DR_ECONFIG, "canary_key: '%s' is not attribute=value", tok);
        if (n == CANARY_MAX_ATTRS)
            return dr_error_set(err, DR_ECONFIG, "canary_key: at most a hash key and a range key");
        *eq = '\0';
        attrs[n].name = tok;
        attrs[n].value = eq + 1;
        attrs[n].type = NULL;
        n++;
    }
    if (n == 0)
        return dr_error_set(err, DR_ECONFIG, "canary_key is empty");
    return n;
}

/* Match the canary attributes with the table's key schema and take their types from it. */
static int canary_types(const ctx *x, const dr_node *table, canary_attr *attrs, int n, dr_error *err)
{
    int keys = 0;

    for (const dr_node *k = dr_node_first(dr_node_get(table, "KeySchema")); k; k = dr_node_next(k)) {
        const char *name = dr_node_str(k, "AttributeName");
        int found = 0;
        keys++;
        for (int i = 0; i < n && name; i++) {
            if (strcmp(attrs[i].name, name) != 0)
                continue;
            found = 1;
            for (const dr_node *d = dr_node_first(dr_node_get(table, "AttributeDefinitions")); d;
                 d = dr_node_next(d))
                if (dr_node_str(d, "AttributeName") && strcmp(dr_node_str(d, "AttributeName"), name) == 0)
                    attrs[i].type = dr_node_str(d, "AttributeType");
        }
        if (!found)
            return dr_error_set(err, DR_ECONFIG, "canary_key: the key of %s has attribute %s, which is not given",
                                x->table, name ? name : "?");
    }
    if (keys != n)
        return dr_error_set(err, DR_ECONFIG, "canary_key names %d attributes but the key of %s has %d", n, x->table,
                            keys);
    for (int i = 0; i < n; i++)
        if (!attrs[i].type)
            return dr_error_set(err, DR_EPARSE, "no type for key attribute %s of %s", attrs[i].name, x->table);
    return 0;
}

/* {"TableName":..., "<what>": {key attributes, plus the run marker for an item}, ...} */
static char *canary_body(const ctx *x, const canary_attr *a, int n, int item, const char *run, const char *when,
                         dr_error *err)
{
    if (item && n == 1)
        return dr_json_pack(err, "{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}}}", "TableName", x->table, "Item", a[0].name,
                            a[0].type, a[0].value, "dr_agent_run", "S", run, "dr_agent_written_at", "S", when);
    if (item)
        return dr_json_pack(err, "{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}}}", "TableName", x->table, "Item",
                            a[0].name, a[0].type, a[0].value, a[1].name, a[1].type, a[1].value, "dr_agent_run", "S",
                            run, "dr_agent_written_at", "S", when);
    if (n == 1)
        return dr_json_pack(err, "{s:s, s:{s:{s:s}}, s:b}", "TableName", x->table, "Key", a[0].name, a[0].type,
                            a[0].value, "ConsistentRead", 1);
    return dr_json_pack(err, "{s:s, s:{s:{s:s}, s:{s:s}}, s:b}", "TableName", x->table, "Key", a[0].name, a[0].type,
                        a[0].value, a[1].name, a[1].type, a[1].value, "ConsistentRead", 1);
}

/* {"TableName":..., "Key": {key attributes}, "ConditionExpression": the item is this run's} */
static char *canary_delete_body(const ctx *x, const canary_attr *a, int n, const char *run, dr_error *err)
{
    if (n == 1)
        return dr_json_pack(err, "{s:s, s:{s:{s:s}}, s:s, s:{s:{s:s}}}", "TableName", x->table, "Key", a[0].name,
                            a[0].type, a[0].value, "ConditionExpression", "dr_agent_run = :run",
                            "ExpressionAttributeValues", ":run", "S", run);
    return dr_json_pack(err, "{s:s, s:{s:{s:s}, s:{s:s}}, s:s, s:{s:{s:s}}}", "TableName", x->table, "Key",
                        a[0].name, a[0].type, a[0].value, a[1].name, a[1].type, a[1].value, "ConditionExpression",
                        "dr_agent_run = :run", "ExpressionAttributeValues", ":run", "S", run);
}

/*
 * Remove the canary item again, so that it does not stay in the application's table (scans, exports, streams
 * consumers see it only for the moment of the check). Only this run's item is deleted: a newer run's stays.
 */
static void canary_cleanup(const ctx *x, dr_aws *c, const char *target, const canary_attr *a, int n, const char *run)
{
    dr_error e;
    int rc;

    dr_error_clear(&e);
    rc = ddb(c, "DeleteItem", canary_delete_body(x, a, n, run, &e), NULL, &e);
    if (rc != 0 && dr_error_is(&e, "ConditionalCheckFailedException"))
        rc = 0; /* gone already, or another run's */
    if (rc != 0)
        H->log(x->res, DR_LOG_WARN, "the canary item of %s was not removed (%s): delete it by hand", target,
               e.message);
}

/* Write the canary item in `region`, read it back with a strongly consistent read, then delete it. */
static int canary(const ctx *x, dr_aws *c, const char *region, const dr_node *table, dr_error *err)
{
    const char *spec = H->cfg_string(x->res, "canary_key");
    canary_attr attrs[CANARY_MAX_ATTRS];
    char *copy = NULL, run[64], when[40], target[300], detail[300];
    const char *got;
    dr_doc *doc = NULL;
    int n, rc, written = 0;

    if (!spec)
        return 0;
    target_of(x, region, target, sizeof(target));
    if (!(copy = strdup(spec)))
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    if ((n = canary_parse(copy, attrs, err)) < 0 || (rc = canary_types(x, table, attrs, n, err)) != 0) {
        rc = n < 0 ? n : err->code;
        dr_report_change(H, x->res, rc, "write canary item", target, NULL, err);
        goto out;
    }
    snprintf(detail, sizeof(detail), "PutItem %s, a strongly consistent GetItem, then DeleteItem", spec);
    if (x->args->dry_run) {
        dr_report_planned(H, x->res, "write canary item", target, "%s", detail);
        rc = 0;
        goto out;
    }
    snprintf(run, sizeof(run), "%s", x->args->run_id && *x->args->run_id ? x->args->run_id : "");
    if (!run[0])
        dr_uuid4(run);
    dr_time_format(dr_now(), 1, when, sizeof(when));
    rc = ddb(c, "PutItem", canary_body(x, attrs, n, 1, run, when, err), NULL, err);
    written = rc == 0;
    if (rc == 0)
        rc = ddb(c, "GetItem", canary_body(x, attrs, n, 0, run, when, err), &doc, err);
    if (rc == 0) {
        got = dr_node_str(dr_doc_root(doc), "Item.dr_agent_run.S");
        if (!got || strcmp(got, run) != 0)
            rc = dr_error_set(err, DR_ESTATE, "the canary item read back from %s %s", target,
                              got ? "carries another run's marker" : "is missing");
    }
    if (written)
        canary_cleanup(x, c, target, attrs, n, run);
    if (rc == 0)
        snprintf(detail, sizeof(detail), "wrote, read back and deleted %s (run %s)", spec, run);
    dr_report_change(H, x->res, rc, "write canary item", target, detail, err);
out:
    dr_doc_free(doc);
    free(copy);
    return rc;
}

/* Latency towards the region taking over: poll until it is at most graceful_max_latency. */
typedef struct lag_wait {
    const ctx *x;
    const char *from, *to;
    double max;
    lag last; /* the last good read (rc != 0 only when the first read failed) */
} lag_wait;

/*
 * A read that fails after a good one (the call's share of the deadline ran out, a throttled or lost answer) does
 * not end the wait: the deadline does, and the error then names the last latency seen, not the failed read.
 */
static int probe_lag(void *arg, char *status, size_t len, dr_error *err)
{
    lag_wait *w = arg;
    lag now;

    read_lag(w->x, w->from, w->to, &now);
    if (now.rc != 0 && w->last.rc == 0 && w->last.n > 0) {
        snprintf(status, len, "replication latency %.6g s > %.6g s (the last read failed: %s)", w->last.latest,
                 w->max, now.err.message);
        return 0;
    }
    w->last = now;
    if (now.rc != 0) {
        *err = now.err;
        return now.rc;
    }
    if (now.n == 0 || now.latest <= w->max)
        return 1;
    snprintf(status, len, "replication latency %.6g s > %.6g s", now.latest, w->max);
    return 0;
}

/*
 * The replication latency from `from` (the region being left) to `to` (the one taking over), reported as the
 * replication_latency check and as the observed RPO. In a graceful run with graceful_wait it waits until the latency
 * is at most graceful_max_latency; `must_confirm` makes a latency above it an error when there is no wait.
 */
static int switch_latency(const ctx *x, const char *from, const char *to, int must_confirm, dr_error *err)
{
    int graceful = x->args->mode == DR_MODE_GRACEFUL;
    int wait = graceful && x->may_wait && H->cfg_bool(x->res, "graceful_wait") && !x->args->dry_run;
    double rpo = H->rpo_objective(x->res), frac = H->cfg_float(x->res, "latency_warning_fraction");
    lag_wait w;
    char what[200], detail[512], when[40];
    int rc = 0;

    memset(&w, 0, sizeof(w));
    w.x = x;
    w.from = from;
    w.to = to;
    w.max = H->cfg_float(x->res, "graceful_max_latency");
    if (wait) {
        snprintf(what, sizeof(what), "replication latency of %s from %s to %s to fall to %.6g s", x->table, from, to,
                 w.max);
        rc = dr_wait_for(H, x->res, what, x->poll_ms, 0, probe_lag, &w, err);
    } else {
        /* one read: a forced run does not wait on the region it leaves */
        read_lag(x, from, to, &w.last);
    }

    if (w.last.rc != 0) {
        report_number_none(x, "replication_latency", DR_STATUS_UNKNOWN, rpo, "seconds", w.last.err.message);
        H->rpo_observed(x->res, -1); /* the data's RPO is unknown */
        if (rc != 0) /* a graceful run must know what it leaves behind */
            dr_error_prefix(err, "replication latency could not be read (a forced run goes on without it): ");
        return rc;
    }
    if (w.last.n == 0) {
        /* ReplicationLatency is only published while changes flow: no datapoints, nothing in flight */
        snprintf(detail, sizeof(detail), "no ReplicationLatency datapoints for %s from %s to %s: no recent writes "
                 "to replicate", x->table, from, to);
        if (wait && rc == 0)
            H->log(x->res, DR_LOG_INFO, "%s", detail);
        report_number_none(x, "replication_latency", DR_STATUS_UNKNOWN, rpo, "seconds", detail);
        H->rpo_observed(x->res, -1);
        return rc;
    }
    dr_time_format(w.last.latest_at, 0, when, sizeof(when));
    if (wait && rc == 0)
        H->log(x->res, DR_LOG_INFO, "replication latency of %s from %s to %s: %.6g s at %s (%zu datapoints, "
               "graceful_max_latency %.6g s)", x->table, from, to, w.last.latest, when, w.last.n, w.max);
    dr_report_number(H, x->res, "replication_latency", dr_lag_status(w.last.latest, rpo, frac), w.last.latest, rpo,
                     "seconds", "latest ReplicationLatency of %s from %s to %s (%s): the data written in %s during "
                     "the last %.6g s may not be in %s yet", x->table, from, to, when, from, w.last.latest, to);
    H->rpo_observed(x->res, w.last.latest);
    if (rc == 0 && must_confirm && graceful && !x->args->dry_run && w.last.latest > w.max)
        rc = dr_error_set(err, DR_ESTATE, "replication latency of %s from %s to %s is %.6g s, above "
                          "graceful_max_latency %.6g s: traffic must not move yet", x->table, from, to,
                          w.last.latest, w.max);
    return rc;
}

/*
 * The table in `region` (already described) can serve: a member of the global table (it lists `peer` as a replica
 * or has a GlobalTableVersion) that is ACTIVE, or UPDATING, which still takes writes. A table still CREATING is
 * waited for. Reported as check `name`; anything else fails the hook.
 */
static int check_member(const ctx *x, const char *name, dr_aws *c, const char *region, const char *peer,
                        dr_doc **doc, const dr_node **table, dr_error *err)
{
    const char *st = table_status(*table);
    int rc;

    if (!find_replica(*table, peer) && !dr_node_str(*table, "GlobalTableVersion")) {
        dr_report_state(H, x->res, name, DR_STATUS_CRITICAL, st, "ACTIVE", "%s in %s is not a replica of the "
                        "global table: it does not have the changes made in %s", x->table, region, peer);
        return dr_error_set(err, DR_ESTATE, "%s in %s is not a replica of the global table: it does not have the "
                            "changes made in %s; save what it holds and delete it, then configure (or failback, "
                            "for the primary) re-creates the replica", x->table, region, peer);
    }
    if (strcmp(st, "CREATING") == 0 && x->args->dry_run) {
        dr_report_state(H, x->res, name, DR_STATUS_WARNING, st, "ACTIVE", "the replica of %s in %s is being "
                        "created; the hook would wait for it", x->table, region);
        return 0;
    }
    if (strcmp(st, "CREATING") == 0) {
        if ((rc = wait_table(x, c, NULL, doc, table, err)) != 0) {
            dr_report_state(H, x->res, name, DR_STATUS_CRITICAL, st, "ACTIVE", "%s", err->message);
            return rc;
        }
        st = table_status(*table);
    }
    if (strcmp(st, "ACTIVE") != 0 && strcmp(st, "UPDATING") != 0) {
        dr_report_state(H, x->res, name, DR_STATUS_CRITICAL, st, "ACTIVE", "the replica of %s in %s is %s",
                        x->table, region, st);
        return dr_error_set(err, DR_ESTATE, "the replica of %s in %s is %s", x->table, region, st);
    }
    dr_report_state(H, x->res, name, strcmp(st, "ACTIVE") == 0 ? DR_STATUS_OK : DR_STATUS_WARNING, st, "ACTIVE",
                    "the replica of %s in %s is %s and takes writes (multi-active)", x->table, region, st);
    return 0;
}

/*
 * Global tables are multi-active: nothing is promoted. The DR replica must be ACTIVE and part of the global table,
 * the replication latency towards it is the RPO estimate, and a canary write and read prove it takes writes.
 */
/* What the application uses after the switch: the table name in the serving region. */
static void endpoint(const ctx *x, const char *region)
{
    char value[400];

    snprintf(value, sizeof(value), "%s in %s", x->table, region);
    dr_report_state(H, x->res, "endpoint", DR_STATUS_OK, value, NULL, "table");
}

static int failover_steps(ctx *x0, int commit, dr_error *err)
{
    const dr_node *table = NULL;
    dr_doc *doc = NULL;
    dr_aws *cd;
    int rc;
    ctx x = *x0;
    dr_resource *res = x.res;

    if (!(cd = client(&x, x.dr, err)))
        return err->code;

    /* 1. the replica in the DR region: a member of the global table that takes writes */
    rc = describe_table(&x, cd, &doc, &table, err);
    if (rc == DR_ENOTFOUND) {
        dr_report_state(H, res, "replica_dr", DR_STATUS_CRITICAL, "MISSING", "ACTIVE", "table %s does not exist "
                        "in %s", x.table, x.dr);
        rc = dr_error_set(err, DR_ESTATE, "there is no replica of %s in %s to fail over to", x.table, x.dr);
        goto out;
    }
    if (rc != 0) {
        dr_report_unknown(H, res, "replica_dr", "ACTIVE", err);
        goto out;
    }
    if ((rc = check_member(&x, "replica_dr", cd, x.dr, x.primary, &doc, &table, err)) != 0)
        goto out;

    /* 2. replication latency from the primary: the data a failover now may leave behind (prepare waits for it to
       fall to graceful_max_latency; a graceful commit confirms it once more) */
    if ((rc = switch_latency(&x, x.primary, x.dr, !commit, err)) != 0)
        goto out;

    /* 3. the DR replica takes a write and returns it with a strongly consistent read */
    if (commit)
        rc = canary(&x, cd, x.dr, table, err);
out:
    dr_doc_free(doc);
    return rc;
}

static int dynamodb_failover(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    ctx x;
    int rc;

    ctx_init(&x, res, args);
    rc = failover_steps(&x, 1, err);
    if (rc == 0 && !args->dry_run)
        endpoint(&x, x.dr);
    return rc;
}

/*
 * Before traffic moves back: the primary's replica is ACTIVE again (re-created from the DR region if it was lost,
 * with point-in-time recovery), and the changes made in the DR region have reached it.
 */
static int failback_steps(dr_resource *res, const dr_hook_args *args, int prepare, dr_error *err)
{
    const dr_node *tp = NULL, *td = NULL;
    dr_doc *dp = NULL, *dd = NULL;
    dr_aws *cp, *cd;
    int planned = 0, rc;
    ctx x;

    ctx_init(&x, res, args);
    if (!(cp = client(&x, x.primary, err)) || !(cd = client(&x, x.dr, err)))
        return err->code;
    x.may_wait = prepare;
    if (prepare) {
        /* prepare: the primary's replica exists and is a member, and the changes made in the DR region reached it */
        rc = describe_table(&x, cp, &dp, &tp, err);
        if (rc == DR_ENOTFOUND) {
            dr_error_clear(err);
            dr_report_state(H, res, "replica_primary", DR_STATUS_WARNING, "MISSING", "ACTIVE", "table %s does not "
                            "exist in %s: the failback re-creates it from %s and waits for it", x.table, x.primary,
                            x.dr);
            rc = 0;
            goto out;
        }
        if (rc != 0) {
            dr_report_unknown(H, res, "replica_primary", "ACTIVE", err);
            goto out;
        }
        if ((rc = check_member(&x, "replica_primary", cp, x.primary, x.dr, &dp, &tp, err)) != 0)
            goto out;
        rc = switch_latency(&x, x.dr, x.primary, 1, err);
        goto out;
    }

    /* 1. the replica in the primary region */
    rc = describe_table(&x, cp, &dp, &tp, err);
    if (rc == DR_ENOTFOUND) {
        /* lost with the region: re-create it from the DR table, which holds the data now */
        dr_error_clear(err);
        if ((rc = describe_table(&x, cd, &dd, &td, err)) != 0) {
            dr_error_prefix(err, "%s is missing in %s and its replica in %s cannot be read: ", x.table, x.primary,
                            x.dr);
            goto out;
        }
        if ((rc = ensure_replica(&x, cd, cp, x.dr, x.primary, &dd, &td, &planned, err)) != 0 ||
            (rc = ensure_pitr(&x, x.primary, planned, err)) != 0)
            goto out;
        if (planned) {
            dr_report_state(H, res, "replica_primary", DR_STATUS_CRITICAL, "MISSING", "ACTIVE",
                            "table %s does not exist in %s: the replica would be re-created from %s", x.table,
                            x.primary, x.dr);
            goto latency;
        }
        rc = describe_table(&x, cp, &dp, &tp, err);
    }
    if (rc != 0) {
        dr_report_unknown(H, res, "replica_primary", "ACTIVE", err);
        goto out;
    }
    if ((rc = check_member(&x, "replica_primary", cp, x.primary, x.dr, &dp, &tp, err)) != 0)
        goto out;

latency:
    /* 2. the changes made while the DR region served have reached the primary (a re-created replica is waited for
       here: the prepare phase could not) */
    if (planned == 0 && dd)
        x.may_wait = 1;
    rc = switch_latency(&x, x.dr, x.primary, dd != NULL, err);
    if (rc == 0 && !args->dry_run)
        endpoint(&x, x.primary);
out:
    dr_doc_free(dp);
    dr_doc_free(dd);
    return rc;
}

static int dynamodb_failback(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    return failback_steps(res, args, 0, err);
}

/*
 * The prepare phase: the replica of the region taking over is a member that takes writes, and the replication
 * latency towards it falls to graceful_max_latency (graceful; forced reads it once). Nothing is written.
 */
static int dynamodb_prepare(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    ctx x;

    if (DR_HAS_MEMBER(args, dr_hook_args, prepare_for) && args->prepare_for == DR_SWITCH_FAILBACK)
        return failback_steps(res, args, 1, err);
    ctx_init(&x, res, args);
    x.may_wait = 1;
    return failover_steps(&x, 0, err);
}

/* ---- plugin ---- */

static int dynamodb_validate(dr_resource *res, dr_error *err)
{
    const char *table = H->cfg_string(res, "table");
    double period = H->cfg_float(res, "latency_period");
    double frac = H->cfg_float(res, "latency_warning_fraction");
    int64_t days = H->cfg_int(res, "pitr_recovery_days");
    size_t len = table ? strlen(table) : 0;

    if (len < 3 || len > 255 || strspn(table, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != len)
        return dr_error_set(err, DR_ECONFIG, "table: '%s' is not a DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -)",
                            table ? table : "");
    if (period < 60 || (long)period % 60 != 0 || period != (double)(long)period)
        return dr_error_set(err, DR_ECONFIG, "latency_period must be a multiple of 60 seconds");
    if (H->cfg_float(res, "latency_window") < period)
        return dr_error_set(err, DR_ECONFIG, "latency_window must be at least latency_period");
    if (!(frac > 0 && frac <= 1))
        return dr_error_set(err, DR_ECONFIG, "latency_warning_fraction must be above 0 and at most 1");
    if (days < 1 || days > 35)
        return dr_error_set(err, DR_ECONFIG, "pitr_recovery_days must be between 1 and 35");
    if (H->cfg_float(res, "pitr_max_age") <= 0 || H->cfg_float(res, "poll_interval") <= 0)
        return dr_error_set(err, DR_ECONFIG, "pitr_max_age and poll_interval must be positive");
    if (H->cfg_string(res, "canary_key")) {
        canary_attr attrs[CANARY_MAX_ATTRS];
        char *copy = strdup(H->cfg_string(res, "canary_key"));
        int n;

        if (!copy)
            return dr_error_set(err, DR_ENOMEM, "out of memory");
        n = canary_parse(copy, attrs, err);
        free(copy);
        if (n < 0)
            return n;
    }
    return 0;
}

static int dynamodb_init(const dr_host_api *host, dr_error *err)
{
    if (!DR_HAS_MEMBER(host, dr_host_api, aws))
        return dr_error_set(err, DR_EPLUGIN, "the host is too old: it has no AWS client");
    H = host;
    dynamodb_diagnose_init(host);
    return 0;
}

/* The AWS services (signing names) this plugin calls. */
static const char *const services[] = {"dynamodb", "monitoring", NULL};

static const dr_plugin_descriptor descriptor = {
    DR_PLUGIN_HEADER,
    "dynamodb",
    "1.0.0",
    "DynamoDB global tables (2019.11.21): streams, a replica in the DR region, point-in-time recovery in both",
    config_keys,
    sizeof(config_keys) / sizeof(config_keys[0]),
    NULL, /* no default dependencies */
    dynamodb_init,
    dynamodb_validate,
    dynamodb_configure,
    dynamodb_verify,
    dynamodb_failover,
    dynamodb_failback,
    services,
    NULL, /* cleanup: nothing retired */
    dynamodb_prepare,
    dynamodb_diagnose, /* diagnose.c */
};

DR_PLUGIN_DECLARE_ENTRY
{
    return &descriptor;
}
