/* diagnose.c: the aurora plugin's diagnostics: replication lag and its causes (long-running queries, replication slots, the DR cluster's size). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aurora.h"

static const dr_host_api *H;

#define NAMED_MAX 5                              /* sessions or slots named in one finding */
#define SLOT_RETAINED_WARN (1024.0 * 1024 * 1024) /* an active slot holding more WAL than this: a finding */

void au_diagnose_init(const dr_host_api *host)
{
    H = host;
}

typedef struct dctx {
    dr_resource *res;
    au_pg_cfg pg;
    int64_t timeout_ms;
    int has_pg;
    au_side writer, reader;
    const char *wcluster, *wregion, *rcluster, *rregion; /* the serving (writer) side and the other */
} dctx;

/* 1. The lag metric of the cluster that receives the changes. */
static void diag_lag(dctx *x)
{
    const char *metric = H->cfg_string(x->res, "lag_metric") ? H->cfg_string(x->res, "lag_metric")
                                                               : "AuroraGlobalDBRPOLag";
    double rpo = H->rpo_objective(x->res), frac = H->cfg_float(x->res, "lag_warning_fraction");
    double window = H->cfg_float(x->res, "lag_window");
    dr_aws_dim dims[1] = {{"DBClusterIdentifier", x->rcluster}};
    dr_aws_metric m;
    dr_status st;

    if (dr_metric_max(H, x->res, x->rregion, "AWS/RDS", metric, dims, 1, window, "replication_lag", &m) != 0)
        return;
    if (m.datapoints == 0) {
        dr_report_state(H, x->res, "replication_lag", DR_STATUS_OK, "no datapoints", NULL,
                        "no %s of %s in %s in the lag window: nothing to judge", metric, x->rcluster, x->rregion);
        return;
    }
    st = dr_lag_status(m.max / 1000.0, rpo, frac);
    dr_report_number(H, x->res, "replication_lag", st, m.max / 1000.0, rpo * frac, "seconds",
                     st == DR_STATUS_OK ? "Maximum %s of %s in %s over the lag window"
                                        : "evidence: Maximum %s of %s in %s over the lag window is above %.0f%% of "
                                          "the RPO; the long_running_queries, replication_slots and dr_capacity "
                                          "diagnostics name the cause; fix: remove it, then watch the lag fall",
                     metric, x->rcluster, x->rregion, frac * 100);
}

typedef struct rows {
    int n;
    double worst;
    dr_buf text;
} rows;

static void long_row(void *arg, const char *const *v, int n)
{
    rows *r = arg;
    double secs = n > 1 && v[1] ? strtod(v[1], NULL) : 0;

    if (secs > r->worst)
        r->worst = secs;
    if (r->n++ >= NAMED_MAX)
        return;
    dr_buf_printf(&r->text, "%spid %s (%s, %.0f s, %s%s%s): %s", r->n > 1 ? " | " : "", v[0] ? v[0] : "?",
                  n > 2 && v[2] ? v[2] : "?", secs, n > 3 && v[3] ? v[3] : "?",
                  n > 4 && v[4] && *v[4] ? ", waiting on " : "", n > 4 && v[4] ? v[4] : "", n > 5 && v[5] ? v[5] : "");
}

/* 2. Queries running longer than long_query_threshold on one side (the source runbook's pg_stat_activity query). */
static void diag_long(dctx *x, au_pg *pg, au_side side, const char *name, const char *cluster, dr_error *cerr)
{
    double limit = H->cfg_float(x->res, "long_query_threshold");
    char sql[700], ob[32], th[32];
    dr_error err;
    rows r;

    if (!pg) {
        dr_report_unknown(H, x->res, name, "0", cerr);
        return;
    }
    memset(&r, 0, sizeof(r));
    dr_buf_init(&r.text);
    dr_error_clear(&err);
    snprintf(sql, sizeof(sql),
             "SELECT pid, extract(epoch FROM now() - query_start)::float8, usename, state, "
             "coalesce(wait_event_type || ':' || wait_event, ''), left(regexp_replace(query, '\\s+', ' ', 'g'), 160) "
             "FROM pg_stat_activity WHERE state <> 'idle' AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
             "AND now() - query_start > make_interval(secs => %.3f) ORDER BY query_start LIMIT 50",
             limit);
    if (au_pg_query(pg, sql, "pg_stat_activity", long_row, &r, &err) != 0) {
        dr_report_unknown(H, x->res, name, "0", &err);
        dr_buf_free(&r.text);
        return;
    }
    snprintf(ob, sizeof(ob), "%d", r.n);
    snprintf(th, sizeof(th), "0");
    if (r.n == 0) {
        char d[300];
        snprintf(d, sizeof(d), "no query has run longer than %.0f s on %s (%s)", limit, cluster,
                 side == AU_PRIMARY ? "primary region" : "DR region");
        dr_report_check(H, x->res, name, DR_STATUS_OK, ob, th, "count", d);
    } else {
        dr_buf d = DR_BUF_INIT;
        dr_buf_printf(&d, "evidence: %d quer%s on %s ran longer than %.0f s (longest %.0f s): %s%s; fix: %s", r.n,
                      r.n == 1 ? "y" : "ies", cluster, limit, r.worst, dr_buf_str(&r.text), r.n > NAMED_MAX ? " | ..." : "",
                      side == x->writer
                          ? "a long transaction on the writer holds back vacuum and can burst the WAL the other "
                            "region replays; end it (SELECT pg_cancel_backend(pid), or pg_terminate_backend(pid)) "
                            "and set statement_timeout or idle_in_transaction_session_timeout for its role"
                          : "a long query on the replica conflicts with replay and delays it; end it "
                            "(SELECT pg_cancel_backend(pid)) and move such reports to a reader of the primary "
                            "cluster, or bound them with statement_timeout");
        dr_report_check(H, x->res, name, DR_STATUS_WARNING, ob, th, "count", d.failed ? "(out of memory)" : dr_buf_str(&d));
        dr_buf_free(&d);
    }
    dr_buf_free(&r.text);
}

typedef struct slots {
    int n, bad;
    double worst;
    dr_buf text;
} slots;

static void slot_row(void *arg, const char *const *v, int n)
{
    slots *s = arg;
    int active = n > 2 && v[2] && strcmp(v[2], "t") == 0;
    double held = n > 3 && v[3] ? strtod(v[3], NULL) : 0;

    s->n++;
    if (active && held < SLOT_RETAINED_WARN)
        return;
    if (held > s->worst)
        s->worst = held;
    if (s->bad++ >= NAMED_MAX)
        return;
    dr_buf_printf(&s->text, "%s%s (%s, %s, holds %.0f bytes of WAL from restart_lsn %s)", s->bad > 1 ? " | " : "",
                  v[0] ? v[0] : "?", n > 1 && v[1] ? v[1] : "?", active ? "active" : "inactive", held,
                  n > 4 && v[4] ? v[4] : "?");
}

/* 3. Replication slots on the writer holding WAL (the source runbook's pg_replication_slots query). */
static void diag_slots(dctx *x, au_pg *pg, dr_error *cerr)
{
    dr_error err;
    slots s;
    char ob[32];

    if (!pg) {
        dr_report_unknown(H, x->res, "replication_slots", "0", cerr);
        return;
    }
    memset(&s, 0, sizeof(s));
    dr_buf_init(&s.text);
    dr_error_clear(&err);
    if (au_pg_query(pg,
                    "SELECT slot_name, slot_type, active::text, "
                    "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::float8, restart_lsn::text "
                    "FROM pg_replication_slots ORDER BY slot_name",
                    "pg_replication_slots", slot_row, &s, &err) != 0) {
        dr_report_unknown(H, x->res, "replication_slots", "0", &err);
        dr_buf_free(&s.text);
        return;
    }
    snprintf(ob, sizeof(ob), "%d", s.bad);
    if (s.bad == 0) {
        char d[300];
        snprintf(d, sizeof(d), "%d replication slot(s) on %s, none inactive or holding more than %.0f bytes of WAL",
                 s.n, x->wcluster, SLOT_RETAINED_WARN);
        dr_report_check(H, x->res, "replication_slots", DR_STATUS_OK, ob, "0", "count", d);
    } else {
        dr_buf d = DR_BUF_INIT;
        dr_buf_printf(&d, "evidence: %d replication slot(s) on %s hold WAL: %s%s; fix: a slot nobody reads keeps every "
                      "WAL segment since its restart_lsn (storage grows, and replay of what follows waits): drop it "
                      "if its consumer is gone (SELECT pg_drop_replication_slot('name')), else restart the consumer",
                      s.bad, x->wcluster, dr_buf_str(&s.text), s.bad > NAMED_MAX ? " | ..." : "");
        dr_report_check(H, x->res, "replication_slots", DR_STATUS_WARNING, ob, "0", "count",
               d.failed ? "(out of memory)" : dr_buf_str(&d));
        dr_buf_free(&d);
    }
    dr_buf_free(&s.text);
}

/* The writer instance's class and the cluster's Serverless v2 range. */
static int size_of(dctx *x, const char *region, const char *id, char *klass, size_t len, double *max_acu,
                   dr_error *err)
{
    dr_aws *c = dr_host_aws(H, x->res, region, err);
    au_cluster cl;
    au_instance in;
    const au_member *w;
    int rc;

    klass[0] = '\0';
    *max_acu = 0;
    if (!c)
        return err->code ? err->code : DR_EINVAL;
    if ((rc = au_describe_cluster(c, id, &cl, err)) != 0)
        return rc;
    if (!cl.found)
        return dr_error_set(err, DR_ENOTFOUND, "cluster %s not found in %s", id, region);
    *max_acu = cl.has_scaling ? cl.max_acu : 0;
    w = au_cluster_writer(&cl);
    if (!w && cl.n_members > 0)
        w = &cl.members[0]; /* a secondary of a global database has readers only */
    if (w) {
        if ((rc = au_describe_instance(c, w->id, &in, err)) != 0)
            return rc;
        snprintf(klass, len, "%s", in.found ? in.klass : "");
    }
    return 0;
}

/* Size rank of an instance class ("db.r6g.2xlarge"): 0 unknown. */
static double class_rank(const char *k)
{
    static const struct { const char *s; double r; } sizes[] = {
        {".micro", 1}, {".small", 2}, {".medium", 3}, {".large", 4}, {".xlarge", 5}, {".2xlarge", 6},
        {".4xlarge", 7}, {".8xlarge", 8}, {".12xlarge", 9}, {".16xlarge", 10}, {".24xlarge", 11}, {".32xlarge", 12}};
    const char *dot = k ? strrchr(k, '.') : NULL;

    for (size_t i = 0; dot && i < sizeof(sizes) / sizeof(sizes[0]); i++)
        if (strcmp(dot, sizes[i].s) == 0)
            return sizes[i].r;
    return 0;
}

/* 4. The receiving cluster against the serving one: a smaller replica falls behind under the writer's load. */
static void diag_capacity(dctx *x)
{
    char wk[64], rk[64];
    double wacu, racu;
    dr_error err;

    dr_error_clear(&err);
    if (size_of(x, x->wregion, x->wcluster, wk, sizeof(wk), &wacu, &err) != 0 ||
        size_of(x, x->rregion, x->rcluster, rk, sizeof(rk), &racu, &err) != 0) {
        dr_report_unknown(H, x->res, "dr_capacity", NULL, &err);
        return;
    }
    if (!rk[0]) {
        dr_buf d = DR_BUF_INIT;
        dr_buf_printf(&d, "evidence: %s in %s has no instance: nothing replays there or can take over; fix: "
                      "dr-agent configure (creates the instance)", x->rcluster, x->rregion);
        dr_report_check(H, x->res, "dr_capacity", DR_STATUS_CRITICAL, "no instance", wk, NULL, dr_buf_str(&d));
        dr_buf_free(&d);
        return;
    }
    {
        int serverless = strcmp(rk, "db.serverless") == 0 && strcmp(wk, "db.serverless") == 0;
        int smaller = serverless ? racu > 0 && wacu > 0 && racu < wacu
                                 : class_rank(rk) > 0 && class_rank(wk) > 0 && class_rank(rk) < class_rank(wk);
        char ob[96], th[96];
        dr_buf d = DR_BUF_INIT;

        if (serverless) {
            snprintf(ob, sizeof(ob), "%s max %.6g ACU", rk, racu);
            snprintf(th, sizeof(th), "%s max %.6g ACU", wk, wacu);
        } else {
            snprintf(ob, sizeof(ob), "%s", rk);
            snprintf(th, sizeof(th), "%s", wk);
        }
        if (!smaller) {
            dr_buf_printf(&d, "%s (%s) is not smaller than %s (%s)", x->rcluster, ob, x->wcluster, th);
            dr_report_check(H, x->res, "dr_capacity", DR_STATUS_OK, ob, th, NULL, dr_buf_str(&d));
        } else {
            dr_buf_printf(&d, "evidence: %s in %s is %s while the writer %s is %s: replay and a failover's load need "
                          "the writer's size; fix: %s", x->rcluster, x->rregion, ob, x->wcluster, th,
                          serverless ? "raise max_capacity to the writer's (dr-agent configure applies the config's "
                                       "min_capacity/max_capacity to the DR cluster)"
                                     : "modify the DR instance to the writer's class (aws rds modify-db-instance "
                                       "--db-instance-class ... --apply-immediately)");
            dr_report_check(H, x->res, "dr_capacity", DR_STATUS_WARNING, ob, th, NULL, dr_buf_str(&d));
        }
        dr_buf_free(&d);
    }
}

int au_diagnose(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    dctx x;
    au_pg *w = NULL, *r = NULL;
    dr_error werr, rerr;
    int64_t t, left;

    (void)err;
    memset(&x, 0, sizeof(x));
    x.res = res;
    x.writer = args->serving == DR_SERVING_DR ? AU_DR : AU_PRIMARY;
    x.reader = x.writer == AU_DR ? AU_PRIMARY : AU_DR;
    x.wcluster = x.writer == AU_DR ? H->cfg_string(res, "dr_cluster") : H->cfg_string(res, "cluster");
    x.rcluster = x.writer == AU_DR ? H->cfg_string(res, "cluster") : H->cfg_string(res, "dr_cluster");
    x.wregion = x.writer == AU_DR ? H->dr_region(res) : H->primary_region(res);
    x.rregion = x.writer == AU_DR ? H->primary_region(res) : H->dr_region(res);
    x.pg.host[AU_PRIMARY] = H->cfg_string(res, "pg_primary_host");
    x.pg.host[AU_DR] = H->cfg_string(res, "pg_dr_host");
    x.pg.port[AU_PRIMARY] = (int)H->cfg_int(res, "pg_primary_port");
    x.pg.port[AU_DR] = (int)H->cfg_int(res, "pg_dr_port");
    x.pg.database = H->cfg_string(res, "pg_database");
    x.pg.user = H->cfg_string(res, "pg_user");
    x.pg.password_file = H->cfg_string(res, "pg_password_file");
    x.pg.password_env = H->cfg_string(res, "pg_password_env");
    x.pg.sslmode = H->cfg_string(res, "pg_sslmode");
    x.pg.sslrootcert = H->cfg_string(res, "pg_sslrootcert");
    x.has_pg = x.pg.host[AU_PRIMARY] && x.pg.host[AU_DR];

    diag_lag(&x);
    if (x.has_pg) {
        t = (int64_t)(H->cfg_float(res, "pg_timeout") * 1000.0);
        left = H->remaining_ms(res);
        if (left > 0 && left < t)
            t = left;
        dr_error_clear(&werr);
        dr_error_clear(&rerr);
        if (au_pg_open(&x.pg, x.writer, t, &w, &werr) != 0)
            w = NULL;
        if (au_pg_open(&x.pg, x.reader, t, &r, &rerr) != 0)
            r = NULL;
        diag_long(&x, w, x.writer, "long_running_queries_writer", x.wcluster, &werr);
        diag_long(&x, r, x.reader, "long_running_queries_replica", x.rcluster, &rerr);
        diag_slots(&x, w, &werr);
        au_pg_close(w);
        au_pg_close(r);
    } else {
        dr_report_check(H, res, "long_running_queries_writer", DR_STATUS_UNKNOWN, NULL, "0", "count",
               "no data plane (pg_primary_host and pg_dr_host unset): pg_stat_activity cannot be read; set them");
        dr_report_check(H, res, "replication_slots", DR_STATUS_UNKNOWN, NULL, "0", "count",
               "no data plane (pg_primary_host and pg_dr_host unset): pg_replication_slots cannot be read; set them");
    }
    diag_capacity(&x);
    return 0;
}
