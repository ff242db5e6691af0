/* aurora.c: the aurora plugin: an Aurora PostgreSQL global database across two regions, checked down to the data. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aurora.h"
#include "retired.h"

/*
 * The runbook this replaces (configure-aurora-replica.sh and the promotion
 * steps) asks for a cross-region read replica; for Aurora PostgreSQL that is
 * a global database on AWS: the primary cluster becomes the global
 * database's writer and a Serverless v2 secondary cluster follows it in the
 * DR region. Graceful moves are managed switchovers, forced ones managed
 * failovers with data loss; the manual path (detach and promote) rebuilds a
 * member that cannot rejoin. On top of it: data-plane checks through
 * Aurora's aurora_global_db_status(), and fencing without superuser rights.
 */

static const dr_host_api *H;

static const dr_config_key keys[] = {
    {"mode", DR_KEY_ENUM, 0, "global", "global|replica",
     "global: an Aurora global database (the only cross-region mode of Aurora PostgreSQL); replica is refused"},
    {"cluster", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL, "the primary cluster, in the primary region"},
    {"dr_cluster", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL, "the DR cluster, in the DR region"},
    {"global_cluster", DR_KEY_STRING, 0, NULL, NULL, "the global cluster (global database) identifier (required)"},
    {"engine_version", DR_KEY_STRING, 0, NULL, NULL, "engine version of clusters it creates; unset: the primary's"},
    {"min_capacity", DR_KEY_FLOAT, 0, "0.5", NULL, "Serverless v2 minimum capacity (ACUs) of the DR cluster"},
    {"max_capacity", DR_KEY_FLOAT, 0, "16", NULL, "Serverless v2 maximum capacity (ACUs) of the DR cluster"},
    {"dr_instance", DR_KEY_STRING, 0, NULL, NULL,
     "the DR cluster's instance; unset: <dr_cluster>-instance-N, the first free N"},
    {"dr_instance_class", DR_KEY_STRING, 0, "db.serverless", NULL, "class of the DR cluster's instance"},
    {"dr_subnet_group", DR_KEY_STRING, 0, NULL, NULL, "DB subnet group of the DR cluster (DR region)"},
    {"dr_security_groups", DR_KEY_LIST, 0, NULL, NULL, "VPC security group ids of the DR cluster (DR region)"},
    {"dr_kms_key", DR_KEY_STRING, 0, NULL, NULL,
     "KMS key in the DR region for an encrypted DR cluster (required when the primary is encrypted)"},
    {"primary_instance_class", DR_KEY_STRING, 0, "db.serverless", NULL,
     "class of the instance of a primary-region cluster that failback creates"},
    {"primary_subnet_group", DR_KEY_STRING, 0, NULL, NULL, "DB subnet group for a cluster failback creates (primary region)"},
    {"primary_security_groups", DR_KEY_LIST, 0, NULL, NULL,
     "VPC security group ids for a cluster failback creates (primary region)"},
    {"primary_kms_key", DR_KEY_STRING, 0, NULL, NULL, "KMS key in the primary region for a cluster failback creates"},
    {"retired_suffix", DR_KEY_STRING, 0, "-retired", NULL,
     "failback renames a cluster it replaces to <id><suffix>-<UTC yyyymmddhhmmss> instead of deleting it"},
    {"retired_retention", DR_KEY_DURATION, 0, "7d", NULL,
     "retired clusters older than this: verify warns, 'dr-agent cleanup' deletes them (final snapshot kept)"},
    {"fence", DR_KEY_BOOL, 0, "true", NULL,
     "fence writes on the side being left (needs the data plane); a graceful switch is refused without it"},
    {"fence_method", DR_KEY_ENUM, 0, "database", "database",
     "database: ALTER DATABASE ... SET default_transaction_read_only (the user owns the database; no superuser)"},
    {"lag_metric", DR_KEY_STRING, 0, NULL, NULL,
     "CloudWatch AWS/RDS lag metric of the DR cluster (milliseconds); unset: AuroraGlobalDBRPOLag"},
    {"lag_window", DR_KEY_DURATION, 0, "10m", NULL, "how far back verify reads the lag metric (its maximum counts)"},
    {"lag_warning_fraction", DR_KEY_FLOAT, 0, "0.5", NULL, "lag above this fraction of the RPO is a WARNING"},
    {"max_lag_bytes", DR_KEY_INT, 0, "268435456", NULL,
     "data plane: gap in bytes between the regions' highest_lsn_written above which verify warns"},
    {"lag_probe_time", DR_KEY_DURATION, 0, "10s", NULL,
     "data plane: how long verify waits for a lagging DR region to catch up before it reports the lag"},
    {"poll_interval", DR_KEY_DURATION, 0, "5s", NULL, "pause between control-plane polls while waiting"},
    {"pg_primary_host", DR_KEY_STRING, 0, NULL, NULL, "data plane: primary cluster endpoint (enables the data plane)"},
    {"pg_primary_port", DR_KEY_INT, 0, "5432", NULL, "data plane: primary port"},
    {"pg_dr_host", DR_KEY_STRING, 0, NULL, NULL, "data plane: DR cluster endpoint"},
    {"pg_dr_port", DR_KEY_INT, 0, "5432", NULL, "data plane: DR port"},
    {"pg_database", DR_KEY_STRING, 0, NULL, NULL, "data plane: database to connect to"},
    {"pg_user", DR_KEY_STRING, 0, NULL, NULL,
     "data plane: user (a member of rds_superuser owning pg_database, never a superuser; see the docs)"},
    {"pg_password_file", DR_KEY_STRING, 0, NULL, NULL, "data plane: file holding the password (mode 0600)"},
    {"pg_password_env", DR_KEY_STRING, 0, NULL, NULL, "data plane: environment variable holding the password"},
    {"pg_sslmode", DR_KEY_ENUM, 0, "verify-full", "disable|allow|prefer|require|verify-ca|verify-full",
     "data plane: libpq sslmode"},
    {"pg_sslrootcert", DR_KEY_STRING, 0, NULL, NULL, "data plane: CA bundle for verify-ca/verify-full"},
    {"pg_timeout", DR_KEY_DURATION, 0, "10s", NULL, "data plane: bound of a connection attempt and of each statement"},
    {"long_query_threshold", DR_KEY_DURATION, 0, "5m", NULL,
     "diagnose: a query running longer than this on the writer or the replica is a finding"},
};

/* ------------------------------------------------------------ context --- */

typedef struct au_ctx {
    dr_resource *res;
    const dr_hook_args *args;
    int dry;
    int forced;
    const char *cluster, *dr_cluster, *global_id;
    const char *preg, *dreg;
    double rpo, rto, warn;
    double poll_s;
    int has_pg;
    int fence;
    au_pg_cfg pg;
    int64_t pg_timeout_ms;
    int64_t started_ms;
    dr_error lag_err; /* why a forced switch knew no lag (reported with data_loss_window) */
    int left_unreachable; /* a forced switch found the side being left unreachable: not tried again */
    int rpo_unknown;      /* writes the serving cluster does not hold were reported: no RPO figure for this run */
} au_ctx;

static void ctx_init(au_ctx *x, dr_resource *res, const dr_hook_args *args)
{
    memset(x, 0, sizeof(*x));
    x->res = res;
    x->args = args;
    x->dry = args && args->dry_run;
    x->forced = args && args->mode == DR_MODE_FORCED;
    x->cluster = H->cfg_string(res, "cluster");
    x->dr_cluster = H->cfg_string(res, "dr_cluster");
    x->global_id = H->cfg_string(res, "global_cluster");
    x->preg = H->primary_region(res);
    x->dreg = H->dr_region(res);
    x->rpo = H->rpo_objective(res);
    x->rto = H->rto_objective(res);
    x->warn = H->cfg_float(res, "lag_warning_fraction");
    x->poll_s = H->cfg_float(res, "poll_interval");
    x->fence = H->cfg_bool(res, "fence");
    x->pg.host[AU_PRIMARY] = H->cfg_string(res, "pg_primary_host");
    x->pg.host[AU_DR] = H->cfg_string(res, "pg_dr_host");
    x->pg.port[AU_PRIMARY] = (int)H->cfg_int(res, "pg_primary_port");
    x->pg.port[AU_DR] = (int)H->cfg_int(res, "pg_dr_port");
    x->pg.database = H->cfg_string(res, "pg_database");
    x->pg.user = H->cfg_string(res, "pg_user");
    x->pg.password_file = H->cfg_string(res, "pg_password_file");
    x->pg.password_env = H->cfg_string(res, "pg_password_env");
    x->pg.sslmode = H->cfg_string(res, "pg_sslmode");
    x->pg.sslrootcert = H->cfg_string(res, "pg_sslrootcert");
    x->has_pg = x->pg.host[AU_PRIMARY] && x->pg.host[AU_DR];
    x->pg_timeout_ms = (int64_t)(H->cfg_float(res, "pg_timeout") * 1000.0);
    x->started_ms = dr_mono_ms();
}

static dr_aws *client(au_ctx *x, const char *region, dr_error *err)
{
    return dr_host_aws(H, x->res, region, err);
}

/* Connect one side of the data plane, bounded by pg_timeout and the hook deadline. */
static int pg_open(au_ctx *x, au_side side, int64_t cap_ms, au_pg **out, dr_error *err)
{
    int64_t t = x->pg_timeout_ms;
    int64_t left = H->remaining_ms(x->res);

    if (cap_ms > 0 && cap_ms < t)
        t = cap_ms;
    if (left > 0 && left < t)
        t = left;
    return au_pg_open(&x->pg, side, t, out, err);
}

static const char *lag_metric(au_ctx *x)
{
    const char *m = H->cfg_string(x->res, "lag_metric");
    if (m)
        return m;
    return "AuroraGlobalDBRPOLag";
}

static double elapsed_s(const au_ctx *x)
{
    return (double)(dr_mono_ms() - x->started_ms) / 1000.0;
}

static int64_t poll_ms(const au_ctx *x)
{
    return x->poll_s > 0 ? (int64_t)(x->poll_s * 1000.0) : 5000;
}

/* ARN of cluster `id` in `region`, from an ARN of the same account that we know, else from STS. */
static int arn_for(au_ctx *x, const char *known_arn, const char *region, const char *id, char *out, size_t len,
                   dr_error *err)
{
    char acct[32];
    dr_aws *c;
    int rc;

    if (known_arn && au_cluster_arn(known_arn, region, id, out, len) == 0)
        return 0;
    /* The account, from STS in the DR region first: the primary region may be the one that is down. */
    c = client(x, x->dreg, err);
    rc = c ? dr_aws_account_id(c, acct, sizeof(acct), err) : DR_ENETWORK;
    if (rc != 0) {
        dr_error_clear(err);
        c = client(x, x->preg, err);
        if (!c)
            return err->code ? err->code : DR_ENETWORK;
        rc = dr_aws_account_id(c, acct, sizeof(acct), err);
    }
    if (rc != 0)
        return rc;
    snprintf(out, len, "arn:aws:rds:%s:%s:cluster:%s", region, acct, id);
    return 0;
}

/* Describe the global cluster from the DR region, else from the primary region (it is a global object). */
static int describe_global(au_ctx *x, au_global *g, dr_error *err)
{
    const char *regions[2] = {x->dreg, x->preg};
    int rc = DR_ENETWORK;

    for (int i = 0; i < 2; i++) {
        dr_aws *c = client(x, regions[i], err);
        if (!c)
            continue;
        rc = au_describe_global(c, x->global_id, g, err);
        if (rc == 0)
            return 0;
    }
    return rc;
}

/* Is cluster `cl` the writer of the global database? */
static int cluster_serves(const au_cluster *cl, const au_global *g)
{
    const au_gmember *w;

    if (!cl->found)
        return 0;
    w = au_global_writer(g);
    return w && strcmp(w->arn, cl->arn) == 0;
}

/* First free instance id "<base>-instance-N" (or `preferred` when free) in the region. */
static int free_instance_id(dr_aws *c, const char *preferred, const char *cluster, char *out, size_t len,
                            dr_error *err)
{
    au_instance in;
    int rc;

    if (preferred) {
        rc = au_describe_instance(c, preferred, &in, err);
        if (rc != 0)
            return rc;
        if (in.found && strcasecmp(in.cluster, cluster) != 0)
            return dr_error_set(err, DR_ESTATE, "instance %s exists and belongs to cluster %s", preferred,
                                in.cluster[0] ? in.cluster : "(none)");
        snprintf(out, len, "%s", preferred);
        return 0;
    }
    for (int i = 1; i <= 50; i++) {
        snprintf(out, len, "%.50s-instance-%d", cluster, i);
        rc = au_describe_instance(c, out, &in, err);
        if (rc != 0)
            return rc;
        if (!in.found)
            return 0;
    }
    return dr_error_set(err, DR_ESTATE, "no free instance name %s-instance-N", cluster);
}

/* A cluster's first available instance, if any (status in *status). */
static int cluster_instance(dr_aws *c, const au_cluster *cl, au_instance *out, dr_error *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < cl->n_members; i++) {
        au_instance in;
        rc = au_describe_instance(c, cl->members[i].id, &in, err);
        if (rc != 0)
            return rc;
        if (!in.found)
            continue;
        if (!out->found || strcmp(in.status, "available") == 0)
            *out = in;
        if (strcmp(in.status, "available") == 0)
            break;
    }
    return 0;
}

/* --------------------------------------------------------------- waits --- */

typedef struct wait_cluster {
    au_ctx *x;
    dr_aws *c;
    const char *id;
    int want_standalone; /* replica promoted: no ReplicationSourceIdentifier */
    int want_instance;   /* an available instance too */
    int want_writer;     /* global mode: the global writer */
} wait_cluster;

static int probe_cluster(void *arg, char *status, size_t len, dr_error *err)
{
    wait_cluster *w = arg;
    au_cluster cl;
    int rc = au_describe_cluster(w->c, w->id, &cl, err);

    if (rc != 0)
        return rc;
    if (!cl.found) {
        snprintf(status, len, "not found yet");
        return 0;
    }
    snprintf(status, len, "%s", cl.status);
    if (strcmp(cl.status, "available") != 0)
        return 0;
    if (w->want_standalone && cl.source[0]) {
        snprintf(status, len, "available, still a replica");
        return 0;
    }
    if (w->want_writer) {
        au_global g;
        const au_gmember *m;
        rc = describe_global(w->x, &g, err);
        if (rc != 0)
            return rc;
        m = au_global_writer(&g);
        if (!m || strcmp(m->arn, cl.arn) != 0 || g.failover_status[0]) {
            snprintf(status, len, "global cluster %s%s%s", g.status, g.failover_status[0] ? ", failover " : "",
                     g.failover_status);
            return 0;
        }
    }
    if (w->want_instance) {
        au_instance in;
        rc = cluster_instance(w->c, &cl, &in, err);
        if (rc != 0)
            return rc;
        if (!in.found || strcmp(in.status, "available") != 0) {
            snprintf(status, len, "cluster available, instance %s", in.found ? in.status : "missing");
            return 0;
        }
    }
    return 1;
}

static int wait_cluster_ready(au_ctx *x, dr_aws *c, const char *id, int standalone, int instance, int writer,
                              dr_error *err)
{
    wait_cluster w = {x, c, id, standalone, instance, writer};
    char what[128];

    snprintf(what, sizeof(what), "cluster %s", id);
    return dr_wait_for(H, x->res, what, poll_ms(x), 0, probe_cluster, &w, err);
}

typedef struct wait_gone {
    dr_aws *c;
    const char *id;
} wait_gone;

static int probe_gone(void *arg, char *status, size_t len, dr_error *err)
{
    wait_gone *w = arg;
    au_cluster cl;
    int rc = au_describe_cluster(w->c, w->id, &cl, err);

    if (rc != 0)
        return rc;
    snprintf(status, len, "%s", cl.found ? cl.status : "gone");
    return cl.found ? 0 : 1;
}

/*
 * Wait until the writer's aurora_global_db_status() lists `region` with an
 * RPO lag of at most max_ms (what Aurora reports, never pg_stat_replication).
 * A writer that is not reachable yet is retried.
 */
typedef struct wait_sync {
    au_ctx *x;
    au_side writer;
    const char *region;
    int64_t max_ms;
    au_pg *pg;
} wait_sync;

static int probe_sync(void *arg, char *status, size_t len, dr_error *err)
{
    wait_sync *w = arg;
    const au_pg_gdb_row *row;
    au_pg_gdb g;
    int rc;

    if (!w->pg) {
        rc = pg_open(w->x, w->writer, 0, &w->pg, err);
        if (rc == DR_ENETWORK) {
            snprintf(status, len, "writer not reachable yet");
            dr_error_clear(err);
            return 0;
        }
        if (rc != 0)
            return rc;
    }
    rc = au_pg_global_status(w->pg, &g, err);
    if (rc == DR_ENETWORK) {
        au_pg_close(w->pg);
        w->pg = NULL;
        snprintf(status, len, "connection lost");
        dr_error_clear(err);
        return 0;
    }
    if (rc != 0)
        return rc;
    row = au_pg_gdb_region(&g, w->region);
    if (!row || row->primary) {
        snprintf(status, len, "%s not listed as a secondary in aurora_global_db_status()", w->region);
        return 0;
    }
    snprintf(status, len, "%s: rpo_lag_in_msec %lld", w->region, (long long)row->rpo_lag_ms);
    return row->rpo_lag_ms >= 0 && row->rpo_lag_ms <= w->max_ms;
}

static int wait_region_synced(au_ctx *x, au_side writer, const char *region, int64_t max_ms, const char *what,
                              dr_error *err)
{
    wait_sync w = {x, writer, region, max_ms, NULL};
    int rc = dr_wait_for(H, x->res, what, 200, 0, probe_sync, &w, err);

    au_pg_close(w.pg);
    return rc;
}

/* Wait until a write is accepted; returns the seconds from the hook start in *when. */
typedef struct wait_write {
    au_ctx *x;
    au_side side;
    au_pg *pg;
} wait_write;

static int probe_write(void *arg, char *status, size_t len, dr_error *err)
{
    wait_write *w = arg;
    int rc;

    if (!w->pg) {
        rc = pg_open(w->x, w->side, 0, &w->pg, err);
        if (rc == DR_ENETWORK) {
            snprintf(status, len, "not reachable yet");
            dr_error_clear(err);
            return 0;
        }
        if (rc != 0)
            return rc;
    }
    rc = au_pg_write_probe(w->pg, err);
    if (rc == 0)
        return 1;
    if (rc == DR_ESTATE || rc == DR_ENETWORK) {
        snprintf(status, len, "%s", rc == DR_ESTATE ? "read-only" : "connection lost");
        if (rc == DR_ENETWORK) {
            au_pg_close(w->pg);
            w->pg = NULL;
        }
        dr_error_clear(err);
        return 0;
    }
    return rc;
}

static int wait_writable(au_ctx *x, au_side side, double *when, dr_error *err)
{
    wait_write w = {x, side, NULL};
    int rc = dr_wait_for(H, x->res, side == AU_DR ? "the DR side to accept writes" : "the primary to accept writes",
                         200, 0, probe_write, &w, err);

    au_pg_close(w.pg);
    if (rc == 0)
        *when = elapsed_s(x);
    return rc;
}

/* ------------------------------------------------------------- checks --- */

static const char *dash(const char *s)
{
    return s && *s ? s : "none";
}

static dr_status cluster_status_of(const char *status)
{
    static const char *const transient[] = {"backing-up", "modifying", "upgrading", "maintenance",
                                            "configuring-log-exports", "resetting-master-credentials"};
    if (strcmp(status, "available") == 0)
        return DR_STATUS_OK;
    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
        if (strcmp(status, transient[i]) == 0)
            return DR_STATUS_WARNING;
    return DR_STATUS_CRITICAL;
}

/* The instance check: the cluster's writer instance (or any instance), available. */
/* An instance of a cluster read ahead of its check (verify reads its calls at once). */
typedef struct inst_read {
    dr_aws *c;
    const au_cluster *cl;
    int writer_only, asked, rc;
    au_instance in;
    dr_error err;
} inst_read;

/* The read of check_instance: AWS calls only, so it can run on a batch's worker. */
static void inst_read_run(void *arg)
{
    inst_read *r = arg;
    const au_member *w = au_cluster_writer(r->cl);

    dr_error_clear(&r->err);
    memset(&r->in, 0, sizeof(r->in));
    r->asked = 1;
    if (r->writer_only && !w)
        r->rc = 0; /* nothing to read: the check reports it */
    else if (r->writer_only)
        r->rc = au_describe_instance(r->c, w->id, &r->in, &r->err);
    else
        r->rc = cluster_instance(r->c, r->cl, &r->in, &r->err);
}

static void check_instance_read(au_ctx *x, dr_aws *c, const au_cluster *cl, const char *name, int writer_only,
                                const inst_read *pre);

static void check_instance(au_ctx *x, dr_aws *c, const au_cluster *cl, const char *name, int writer_only)
{
    check_instance_read(x, c, cl, name, writer_only, NULL);
}

/* check_instance with the instance already read (pre; NULL: read it now). */
static void check_instance_read(au_ctx *x, dr_aws *c, const au_cluster *cl, const char *name, int writer_only,
                                const inst_read *pre)
{
    const au_member *w = au_cluster_writer(cl);
    au_instance in;
    dr_error err;
    int rc;

    dr_error_clear(&err);
    if (writer_only && !w) {
        dr_report_state(H, x->res, name, DR_STATUS_CRITICAL, "none", "available", "cluster %s has no writer instance",
                        cl->id);
        return;
    }
    if (pre && pre->asked) {
        rc = pre->rc;
        in = pre->in;
        err = pre->err;
    } else if (writer_only) {
        rc = au_describe_instance(c, w->id, &in, &err);
    } else {
        rc = cluster_instance(c, cl, &in, &err);
    }
    if (rc != 0) {
        dr_report_unknown(H, x->res, name, "available", &err);
        return;
    }
    if (!in.found) {
        dr_report_state(H, x->res, name, DR_STATUS_CRITICAL, "none", "available", "cluster %s has no instance%s",
                        cl->id, writer_only ? " matching its writer member" : "");
        return;
    }
    dr_report_state(H, x->res, name, cluster_status_of(in.status), in.status, "available", "instance %s (%s) of %s",
                    in.id, in.klass, cl->id);
}

/* A byte count, printed exactly (dr_report_number keeps 6 digits). */
static void report_bytes(au_ctx *x, const char *name, dr_status st, uint64_t observed, uint64_t threshold,
                         const char *detail)
{
    char ob[32], th[32];

    snprintf(ob, sizeof(ob), "%llu", (unsigned long long)observed);
    snprintf(th, sizeof(th), "%llu", (unsigned long long)threshold);
    dr_report_check(H, x->res, name, st, ob, th, "bytes", detail);
}

/* Data-plane view, gathered once per verify. */
typedef struct dp_view {
    au_pg *pg[2];
    dr_error err[2];
    au_pg_role role[2];
    int role_ok[2];
} dp_view;

static void dp_connect(au_ctx *x, dp_view *v)
{
    memset(v, 0, sizeof(*v));
    for (int s = 0; s < 2; s++) {
        dr_error_clear(&v->err[s]);
        if (pg_open(x, (au_side)s, 0, &v->pg[s], &v->err[s]) == 0 &&
            au_pg_get_role(v->pg[s], &v->role[s], &v->err[s]) == 0)
            v->role_ok[s] = 1;
    }
}

static void dp_close(dp_view *v)
{
    for (int s = 0; s < 2; s++)
        au_pg_close(v->pg[s]);
}

static const char *role_text(const au_pg_role *r)
{
    return r->in_recovery ? "standby" : r->default_read_only ? "read-only" : "writable";
}

/*
 * Lag of the DR region as the writer's aurora_global_db_status() reports it:
 * bytes between the writer's highest_lsn_written and the DR region's, and
 * the DR region's rpo_lag_in_msec. A lag is watched for up to probe_s: the
 * largest value seen counts, and a DR region whose highest_lsn_written does
 * not move while behind is stalled.
 */
typedef struct dp_lag {
    int listed;     /* the DR region is a secondary in the function's answer */
    uint64_t bytes;
    double seconds;
    int caught_up;  /* no lag at the end of the probe */
    int stalled;    /* behind and not advancing */
} dp_lag;

static int dp_measure_lag(au_ctx *x, au_pg *writer, const char *region, double probe_s, dp_lag *out, dr_error *err)
{
    int64_t t0 = dr_mono_ms(), limit = (int64_t)(probe_s * 1000.0);
    uint64_t first = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (H->remaining_ms(x->res) / 2 < limit)
        limit = H->remaining_ms(x->res) / 2;
    for (int i = 0;; i++) {
        const au_pg_gdb_row *p, *r;
        au_pg_gdb g;
        double sec;

        rc = au_pg_global_status(writer, &g, err);
        if (rc != 0)
            return rc;
        p = au_pg_gdb_primary(&g);
        r = au_pg_gdb_region(&g, region);
        if (!p || !r || r->primary) {
            out->listed = 0;
            return 0;
        }
        out->listed = 1;
        out->bytes = r->highest_lsn >= p->highest_lsn ? 0 : p->highest_lsn - r->highest_lsn;
        sec = r->rpo_lag_ms > 0 ? (double)r->rpo_lag_ms / 1000.0 : 0;
        if (sec > out->seconds)
            out->seconds = sec;
        if (i == 0)
            first = r->highest_lsn;
        out->caught_up = r->rpo_lag_ms == 0;
        out->stalled = !out->caught_up && out->bytes > 0 && r->highest_lsn == first && i > 0;
        if (out->caught_up || dr_mono_ms() - t0 >= limit)
            return 0;
        H->progress(x->res, "measuring the lag of %s: rpo_lag_in_msec %lld, %llu bytes", region,
                    (long long)r->rpo_lag_ms, (unsigned long long)out->bytes);
        rc = H->sleep_ms(x->res, 200);
        if (rc != 0)
            return dr_error_set(err, rc, "interrupted while measuring the lag");
    }
}

/*
 * The data-plane checks of the normal topology: primary writable, DR side
 * read-only, the DR region replicating, lag in bytes and seconds. A check
 * whose premise failed (the DR side accepts writes, the primary is a standby)
 * is left out: the failed premise is the one finding. Returns the lag in
 * seconds, or -1.
 */
static double dp_checks_normal(au_ctx *x, dp_view *v)
{
    double lag = -1;
    dr_error err;

    if (!v->role_ok[AU_PRIMARY])
        dr_report_unknown(H, x->res, "dp_primary_writable", "writable", &v->err[AU_PRIMARY]);
    else
        dr_report_state(H, x->res, "dp_primary_writable",
                        v->role[AU_PRIMARY].in_recovery || v->role[AU_PRIMARY].default_read_only ? DR_STATUS_CRITICAL
                                                                                                 : DR_STATUS_OK,
                        role_text(&v->role[AU_PRIMARY]), "writable", "%s", au_pg_name(v->pg[AU_PRIMARY]));
    if (!v->role_ok[AU_DR])
        dr_report_unknown(H, x->res, "dp_dr_read_only", "standby", &v->err[AU_DR]);
    else if (!v->role[AU_DR].in_recovery) {
        int primary_writes = v->role_ok[AU_PRIMARY] && !v->role[AU_PRIMARY].in_recovery &&
                             !v->role[AU_PRIMARY].default_read_only;
        /* fenced (read-only) is not a second writer: only two writable sides are a split brain */
        dr_report_state(H, x->res, "dp_dr_read_only", DR_STATUS_CRITICAL, role_text(&v->role[AU_DR]), "standby",
                        "%s is not a standby, so it does not receive the primary's writes and a failover would lose "
                        "them; %s; streaming and lag checks left out",
                        au_pg_name(v->pg[AU_DR]),
                        v->role[AU_DR].default_read_only ? "it is fenced (read-only): no second writer, not a split brain"
                        : primary_writes ? "both sides accept writes: split brain, writes diverge until one is fenced"
                                         : "it accepts writes and the primary does not: the roles look swapped (a "
                                           "failover without failback?)");
    }
    else
        dr_report_state(H, x->res, "dp_dr_read_only", DR_STATUS_OK, "standby", "standby", "%s is in recovery",
                        au_pg_name(v->pg[AU_DR]));

    /* The replication checks need the primary as the writer and the DR side as a reader. */
    if (v->role_ok[AU_DR] && !v->role[AU_DR].in_recovery)
        return -1;
    if (v->role_ok[AU_PRIMARY] && v->role[AU_PRIMARY].in_recovery)
        return -1;
    if (!v->role_ok[AU_PRIMARY]) {
        dr_report_unknown(H, x->res, "dp_streaming", "replicating", &v->err[AU_PRIMARY]);
        dr_report_unknown(H, x->res, "dp_replay_lag_bytes", NULL, &v->err[AU_PRIMARY]);
        dr_report_unknown(H, x->res, "dp_replay_lag", NULL, &v->err[AU_PRIMARY]);
        return -1;
    }
    {
        dp_lag l;
        int rc;

        dr_error_clear(&err);
        rc = dp_measure_lag(x, v->pg[AU_PRIMARY], x->dreg, H->cfg_float(x->res, "lag_probe_time"), &l, &err);
        if (rc != 0) {
            dr_report_unknown(H, x->res, "dp_streaming", "replicating", &err);
            dr_report_unknown(H, x->res, "dp_replay_lag_bytes", NULL, &err);
            dr_report_unknown(H, x->res, "dp_replay_lag", NULL, &err);
            return -1;
        }
        dr_report_state(H, x->res, "dp_streaming", l.listed ? DR_STATUS_OK : DR_STATUS_CRITICAL,
                        l.listed ? "replicating" : "absent", "replicating",
                        l.listed ? "%s is a secondary region in aurora_global_db_status() on the writer"
                                 : "%s is not listed in aurora_global_db_status() on the writer",
                        x->dreg);
        if (!l.listed) {
            dr_error_set(&err, DR_ENOTFOUND, "%s not listed in aurora_global_db_status()", x->dreg);
            dr_report_unknown(H, x->res, "dp_replay_lag_bytes", NULL, &err);
            dr_report_unknown(H, x->res, "dp_replay_lag", NULL, &err);
            return -1;
        }
        report_bytes(x, "dp_replay_lag_bytes", (int64_t)l.bytes > H->cfg_int(x->res, "max_lag_bytes") ? DR_STATUS_WARNING
                                                                                                   : DR_STATUS_OK,
                     l.bytes, (uint64_t)H->cfg_int(x->res, "max_lag_bytes"),
                     "highest_lsn_written of the writer minus that of the DR region (aurora_global_db_status())");
        lag = l.seconds;
        if (l.stalled)
            dr_report_number(H, x->res, "dp_replay_lag", DR_STATUS_CRITICAL, lag, x->rpo, "seconds",
                             "the DR region did not advance while %llu bytes behind", (unsigned long long)l.bytes);
        else
            dr_report_number(H, x->res, "dp_replay_lag", dr_lag_status(lag, x->rpo, x->warn), lag, x->rpo, "seconds",
                             "%s", l.caught_up && lag == 0 ? "rpo_lag_in_msec of the DR region: 0"
                                                           : "largest rpo_lag_in_msec of the DR region during the probe");
    }
    return lag;
}

/* The lag metric in the DR region (milliseconds); -1 when unknown (reported UNKNOWN). */
/* The lag metric read ahead of its check. */
typedef struct metric_read {
    dr_aws *dc;
    const char *cluster, *metric;
    double window;
    int asked, rc;
    dr_aws_metric m;
    dr_error err;
} metric_read;

static void metric_read_run(void *arg)
{
    metric_read *r = arg;
    dr_aws_dim dim = {"DBClusterIdentifier", r->cluster};

    dr_error_clear(&r->err);
    memset(&r->m, 0, sizeof(r->m));
    r->asked = 1;
    r->rc = dr_aws_metric_get(r->dc, "AWS/RDS", r->metric, &dim, 1, "Maximum", r->window > 0 ? r->window : 600, 60,
                              &r->m, &r->err);
}

/* The replication lag check, with the metric already read (pre; NULL: read it now). */
static double check_metric_read(au_ctx *x, dr_aws *dc, const dr_error *dc_err, const metric_read *pre)
{
    dr_aws_dim dim = {"DBClusterIdentifier", x->dr_cluster};
    double window = H->cfg_float(x->res, "lag_window");
    dr_aws_metric m;
    dr_error err;
    char th[32];
    double lag;
    int rc;

    snprintf(th, sizeof(th), "%.6g", x->rpo);
    if (!dc) {
        dr_report_unknown(H, x->res, "replication_lag", th, dc_err);
        return -1;
    }
    dr_error_clear(&err);
    if (pre && pre->asked) {
        rc = pre->rc;
        m = pre->m;
        err = pre->err;
    } else {
        rc = dr_aws_metric_get(dc, "AWS/RDS", lag_metric(x), &dim, 1, "Maximum", window > 0 ? window : 600, 60, &m,
                               &err);
    }
    if (rc != 0) {
        dr_report_unknown(H, x->res, "replication_lag", th, &err);
        return -1;
    }
    if (m.datapoints == 0) {
        dr_error_set(&err, DR_ENOTFOUND, "no %s datapoint for %s in %s over the last %.0fs", lag_metric(x),
                     x->dr_cluster, x->dreg, window);
        dr_report_unknown(H, x->res, "replication_lag", th, &err);
        return -1;
    }
    lag = m.max / 1000.0;
    dr_report_number(H, x->res, "replication_lag", dr_lag_status(lag, x->rpo, x->warn), lag, x->rpo, "seconds",
                     "%s maximum over %.0fs (%zu datapoints, latest %.6gs)", lag_metric(x), window, m.datapoints,
                     m.latest / 1000.0);
    return lag;
}

/*
 * The normal topology: the primary serves, the DR cluster follows it, with
 * the data-plane checks when configured. with_lag adds the lag metric (a
 * cluster failback just created has none yet).
 */
typedef struct topo {
    au_cluster p, r;
    au_global g;
    int p_ok, r_ok; /* described without error */
} topo;

/* A cluster read ahead of its checks. */
typedef struct cluster_read {
    dr_aws *c;
    const char *id;
    au_cluster *out;
    int *ok;
    dr_error *err;
} cluster_read;

static void cluster_read_run(void *arg)
{
    cluster_read *r = arg;

    if (r->c && au_describe_cluster(r->c, r->id, r->out, r->err) == 0)
        *r->ok = 1;
}

/*
 * What verify_normal reads from AWS, in two rounds of calls at once instead of
 * one call after another: both clusters and the lag metric, then the
 * instances the clusters name. The checks then report from the answers.
 */
/* The global cluster read ahead in the DR region (describe_global's first try). */
typedef struct global_read {
    dr_aws *c;
    const char *id;
    au_global *g;
    int rc; /* 1: not read */
    dr_error err;
} global_read;

static void global_read_run(void *arg)
{
    global_read *r = arg;

    dr_error_clear(&r->err);
    r->rc = au_describe_global(r->c, r->id, r->g, &r->err);
}

static void verify_reads_run(au_ctx *x, dr_aws *pc, dr_aws *dc, topo *t, dr_error *perr, dr_error *derr,
                             metric_read *mr, inst_read ir[2], global_read *gr, const dr_aws_task *beside)
{
    cluster_read cr[2] = {{pc, x->cluster, &t->p, &t->p_ok, perr}, {dc, x->dr_cluster, &t->r, &t->r_ok, derr}};
    dr_aws_task tasks[5];
    size_t n = 0;

    if (beside) /* another check's reads: first, it is the longest */
        tasks[n++] = *beside;

    tasks[n++] = (dr_aws_task){cluster_read_run, &cr[0]};
    tasks[n++] = (dr_aws_task){cluster_read_run, &cr[1]};
    gr->rc = 1;
    if (dc) {
        gr->c = dc;
        gr->id = x->global_id;
        gr->g = &t->g;
        tasks[n++] = (dr_aws_task){global_read_run, gr};
    }
    if (mr && dc) {
        mr->dc = dc;
        mr->cluster = x->dr_cluster;
        mr->metric = lag_metric(x);
        mr->window = H->cfg_float(x->res, "lag_window");
        tasks[n++] = (dr_aws_task){metric_read_run, mr};
    }
    dr_aws_run_all(tasks, n, 0);
    n = 0;
    if (t->p_ok && t->p.found) {
        ir[0] = (inst_read){.c = pc, .cl = &t->p, .writer_only = 1};
        tasks[n++] = (dr_aws_task){inst_read_run, &ir[0]};
    }
    if (t->r_ok && t->r.found) {
        ir[1] = (inst_read){.c = dc, .cl = &t->r, .writer_only = 0};
        tasks[n++] = (dr_aws_task){inst_read_run, &ir[1]};
    }
    dr_aws_run_all(tasks, n, 0);
}

static void verify_normal_with(au_ctx *x, int with_lag, double *rpo_seen, const dr_aws_task *beside,
                               au_retired_read *retired);

static void verify_normal(au_ctx *x, int with_lag, double *rpo_seen)
{
    verify_normal_with(x, with_lag, rpo_seen, NULL, NULL);
}

/* verify_normal, running `beside` (may be NULL) with its first round of reads; retired: that read's check. */
static void verify_normal_with(au_ctx *x, int with_lag, double *rpo_seen, const dr_aws_task *beside,
                               au_retired_read *retired)
{
    dr_error perr, derr, gerr, err;
    dr_aws *pc, *dc;
    metric_read mr;
    inst_read ir[2]; /* the primary's writer, the DR cluster's instance */
    global_read gr;
    int g_state = 0; /* global cluster: -1 unknown, 0 absent, 1 read */
    topo t;
    char p_arn[256] = "";
    double lag_metric_s = -1, lag_dp = -1;

    memset(&t, 0, sizeof(t));
    dr_error_clear(&perr);
    dr_error_clear(&derr);
    pc = client(x, x->preg, &perr);
    dc = client(x, x->dreg, &derr);
    memset(&mr, 0, sizeof(mr));
    memset(ir, 0, sizeof(ir));
    verify_reads_run(x, pc, dc, &t, &perr, &derr, with_lag ? &mr : NULL, ir, &gr, beside);
    if (retired)
        au_retired_report(H, x->res, retired);

    /* 1. The primary cluster and its writer. */
    if (!t.p_ok) {
        dr_report_unknown(H, x->res, "primary_cluster_status", "available", &perr);
        dr_report_unknown(H, x->res, "primary_writer_status", "available", &perr);
    } else if (!t.p.found) {
        dr_report_state(H, x->res, "primary_cluster_status", DR_STATUS_CRITICAL, "not found", "available",
                        "cluster %s not found in %s", x->cluster, x->preg);
    } else {
        if (t.p.source[0])
            dr_report_state(H, x->res, "primary_cluster_status", DR_STATUS_CRITICAL, t.p.status, "available",
                            "%s is itself a read replica of %s", x->cluster, t.p.source);
        else
            dr_report_state(H, x->res, "primary_cluster_status", cluster_status_of(t.p.status), t.p.status,
                            "available", "%s in %s", x->cluster, x->preg);
        check_instance_read(x, pc, &t.p, "primary_writer_status", 1, &ir[0]);
        snprintf(p_arn, sizeof(p_arn), "%s", t.p.arn);
    }

    /* The primary's ARN is known without the primary region: same account as the DR cluster. */
    dr_error_clear(&err);
    if (!p_arn[0] && arn_for(x, t.r_ok && t.r.found ? t.r.arn : NULL, x->preg, x->cluster, p_arn, sizeof(p_arn),
                             &err) != 0)
        p_arn[0] = '\0';

    /* 2. The global cluster, written by the primary. */
    {
        dr_error_clear(&gerr);
        if (gr.rc != 0 && describe_global(x, &t.g, &gerr) != 0) { /* read ahead in the DR region, else both */
            g_state = -1;
            dr_report_unknown(H, x->res, "global_cluster_status", "available", &gerr);
        } else if (!t.g.found) {
            dr_report_state(H, x->res, "global_cluster_status", DR_STATUS_CRITICAL, "not found", "available",
                            "global cluster %s not found; the DR cluster's membership check left out", x->global_id);
        } else {
            const au_gmember *w = au_global_writer(&t.g);
            g_state = 1;
            if (t.g.failover_status[0])
                dr_report_state(H, x->res, "global_cluster_status", DR_STATUS_WARNING, t.g.failover_status,
                                "available", "global cluster %s: failover to %s under way", t.g.id,
                                dash(t.g.failover_to));
            else if (!w || !p_arn[0] || strcmp(w->arn, p_arn) != 0)
                dr_report_state(H, x->res, "global_cluster_status", DR_STATUS_CRITICAL, t.g.status, "available",
                                "global cluster %s is written by %s, not by %s", t.g.id, w ? w->arn : "no cluster",
                                x->cluster);
            else
                dr_report_state(H, x->res, "global_cluster_status", cluster_status_of(t.g.status), t.g.status,
                                "available", "global cluster %s, %zu members, written by %s", t.g.id, t.g.n,
                                x->cluster);
        }
    }

    /* 3. The DR cluster, attached to the primary. */
    if (!t.r_ok) {
        dr_report_unknown(H, x->res, "dr_cluster_status", "available", &derr);
        dr_report_unknown(H, x->res, "dr_replication_source", NULL, &derr);
        dr_report_unknown(H, x->res, "dr_instance_status", "available", &derr);
        dr_report_unknown(H, x->res, "dr_capacity", NULL, &derr);
        if (with_lag)
            dr_report_unknown(H, x->res, "replication_lag", NULL, &derr);
    } else if (!t.r.found) {
        dr_report_state(H, x->res, "dr_cluster_status", DR_STATUS_CRITICAL, "not found", "available",
                        "cluster %s not found in %s; its replication, instance, capacity and lag checks left out",
                        x->dr_cluster, x->dreg);
    } else {
        dr_report_state(H, x->res, "dr_cluster_status", cluster_status_of(t.r.status), t.r.status, "available",
                        "%s in %s", x->dr_cluster, x->dreg);
        if (g_state == 1) {
            const au_gmember *me = au_global_member(&t.g, t.r.arn);
            if (!me)
                dr_report_state(H, x->res, "dr_replication_source", DR_STATUS_CRITICAL, "not a member", p_arn,
                                "%s is not a member of global cluster %s", x->dr_cluster, t.g.id);
            else if (me->writer)
                dr_report_state(H, x->res, "dr_replication_source", DR_STATUS_CRITICAL, "writer", p_arn,
                                "%s is the writer of %s: the DR side serves", x->dr_cluster, t.g.id);
            else
                dr_report_state(H, x->res, "dr_replication_source", DR_STATUS_OK, p_arn, p_arn,
                                "secondary of global cluster %s%s%s", t.g.id, me->sync[0] ? ", " : "", me->sync);
        } else if (g_state < 0) {
            dr_report_unknown(H, x->res, "dr_replication_source", p_arn, &gerr);
        }
        check_instance_read(x, dc, &t.r, "dr_instance_status", 0, &ir[1]);
        {
            double mn = H->cfg_float(x->res, "min_capacity"), mx = H->cfg_float(x->res, "max_capacity");
            char ob[64], ex[64];
            snprintf(ex, sizeof(ex), "%g-%g", mn, mx);
            if (t.r.has_scaling)
                snprintf(ob, sizeof(ob), "%g-%g", t.r.min_acu, t.r.max_acu);
            else
                snprintf(ob, sizeof(ob), "none");
            dr_report_state(H, x->res, "dr_capacity",
                            t.r.has_scaling && fabs(t.r.min_acu - mn) < 1e-9 && fabs(t.r.max_acu - mx) < 1e-9
                                ? DR_STATUS_OK
                                : DR_STATUS_WARNING,
                            ob, ex, "Serverless v2 ACUs of %s (configure sets them)", x->dr_cluster);
        }
        if (with_lag)
            lag_metric_s = check_metric_read(x, dc, &derr, &mr);
    }

    /* 4. The data plane. */
    if (x->has_pg) {
        dp_view v;
        dp_connect(x, &v);
        lag_dp = dp_checks_normal(x, &v);
        dp_close(&v);
    }
    if (rpo_seen) {
        *rpo_seen = lag_metric_s > lag_dp ? lag_metric_s : lag_dp;
    }
}

/* After a failover: the DR cluster serves and the old primary does not accept writes. */
static void verify_serving_dr(au_ctx *x)
{
    dr_error derr, err;
    dr_aws *dc;
    au_cluster r;
    au_global g;

    dr_error_clear(&derr);
    memset(&g, 0, sizeof(g));
    dc = client(x, x->dreg, &derr);
    if (!dc || au_describe_cluster(dc, x->dr_cluster, &r, &derr) != 0) {
        dr_report_unknown(H, x->res, "dr_cluster_status", "available", &derr);
        dr_report_unknown(H, x->res, "dr_cluster_role", "writer", &derr);
        dr_report_unknown(H, x->res, "dr_writer_status", "available", &derr);
    } else if (!r.found) {
        dr_report_state(H, x->res, "dr_cluster_status", DR_STATUS_CRITICAL, "not found", "available",
                        "cluster %s not found in %s", x->dr_cluster, x->dreg);
    } else {
        dr_report_state(H, x->res, "dr_cluster_status", cluster_status_of(r.status), r.status, "available", "%s in %s",
                        x->dr_cluster, x->dreg);
        dr_error_clear(&err);
        if (describe_global(x, &g, &err) != 0) {
            dr_report_unknown(H, x->res, "dr_cluster_role", "writer", &err);
        } else {
            const au_gmember *w = au_global_writer(&g);
            int serves = g.found && w && strcmp(w->arn, r.arn) == 0;
            dr_report_state(H, x->res, "dr_cluster_role", serves ? DR_STATUS_OK : DR_STATUS_CRITICAL,
                            serves ? "writer" : g.found ? "secondary" : "no global cluster", "writer",
                            "global cluster %s writer: %s", x->global_id, w ? w->arn : "none");
        }
        check_instance(x, dc, &r, "dr_writer_status", 1);
    }
    if (x->has_pg) {
        dp_view v;
        dp_connect(x, &v);
        if (!v.role_ok[AU_DR])
            dr_report_unknown(H, x->res, "dp_dr_writable", "writable", &v.err[AU_DR]);
        else
            dr_report_state(H, x->res, "dp_dr_writable",
                            v.role[AU_DR].in_recovery || v.role[AU_DR].default_read_only ? DR_STATUS_CRITICAL
                                                                                         : DR_STATUS_OK,
                            role_text(&v.role[AU_DR]), "writable", "%s", au_pg_name(v.pg[AU_DR]));
        if (!v.role_ok[AU_PRIMARY])
            dr_report_unknown(H, x->res, "dp_primary_fenced", "read-only", &v.err[AU_PRIMARY]);
        else
            dr_report_state(H, x->res, "dp_primary_fenced",
                            v.role[AU_PRIMARY].in_recovery || v.role[AU_PRIMARY].default_read_only
                                ? DR_STATUS_OK
                                : DR_STATUS_CRITICAL,
                            role_text(&v.role[AU_PRIMARY]), "read-only", "%s%s", au_pg_name(v.pg[AU_PRIMARY]),
                            v.role[AU_PRIMARY].in_recovery
                                ? ": a standby, it accepts no writes"
                            : v.role[AU_PRIMARY].default_read_only
                                ? ": fenced (read-only), so the DR side is the only writer"
                                : ": the old primary accepts writes while the DR side serves: split brain, clients "
                                  "still connected to it write data the DR side never sees");
        dp_close(&v);
    }
}

static int au_verify(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    au_ctx x;
    double rpo = -1;

    (void)err;
    ctx_init(&x, res, args);
    if (args->serving == DR_SERVING_DR) {
        au_retired_check(H, res);
        verify_serving_dr(&x);
        return 0;
    }
    {
        /* the retired clusters' listings (their own calls) beside the topology's reads, reported first as before */
        au_retired_read rd;
        dr_aws_task t = {au_retired_fetch, &rd};
        au_retired_prepare(H, res, &rd);
        verify_normal_with(&x, 1, &rpo, &t, &rd);
    }
    H->rpo_observed(res, rpo); /* negative: the data's RPO is unknown */
    return 0;
}

static int au_cleanup(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    return au_retired_cleanup(H, res, args->dry_run, err);
}

/* ---------------------------------------------------------- configure --- */

static int spec_lists(au_ctx *x, const char *key, const char **buf, size_t max)
{
    size_t n = H->cfg_list_count(x->res, key);
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++)
        buf[i] = H->cfg_list_item(x->res, key, i);
    return (int)n;
}

/* What a DR-side (or, with primary_side, a failback primary-side) cluster is created with. */
static void make_spec(au_ctx *x, const au_cluster *source, int primary_side, const char *id, const char **sgs,
                      size_t max_sgs, au_create_spec *s)
{
    const char *kms = H->cfg_string(x->res, primary_side ? "primary_kms_key" : "dr_kms_key");

    memset(s, 0, sizeof(*s));
    s->id = id;
    s->engine_version = H->cfg_string(x->res, "engine_version");
    if (!s->engine_version && source && source->engine_version[0])
        s->engine_version = source->engine_version;
    s->min_acu = H->cfg_float(x->res, "min_capacity");
    s->max_acu = H->cfg_float(x->res, "max_capacity");
    s->subnet_group = H->cfg_string(x->res, primary_side ? "primary_subnet_group" : "dr_subnet_group");
    s->n_sgs = (size_t)spec_lists(x, primary_side ? "primary_security_groups" : "dr_security_groups", sgs, max_sgs);
    s->sgs = sgs;
    s->kms_key = kms;
    s->encrypted = kms != NULL || (source && source->encrypted);
    s->master_user = source && source->master_user[0] ? source->master_user : NULL;
    s->tag_value = primary_side ? "primary" : "dr";
}

/* Give a cluster an instance when it has none (known_members: how many it has). */
static int ensure_instance(au_ctx *x, dr_aws *c, const char *cluster, const char *pref, const char *klass,
                           int primary_side, size_t known_members, dr_error *err)
{
    const char *action = primary_side ? "create_primary_instance" : "create_dr_instance";
    char inst[64], detail[160];
    int rc;

    if (known_members > 0)
        return 0;
    rc = free_instance_id(c, pref, cluster, inst, sizeof(inst), err);
    if (rc != 0)
        return rc;
    snprintf(detail, sizeof(detail), "%s in %s", klass, cluster);
    if (x->dry) {
        dr_report_planned(H, x->res, action, inst, "%s", detail);
        return 0;
    }
    rc = au_create_instance(c, inst, cluster, klass, err);
    return dr_report_change(H, x->res, rc, action, inst, detail, err);
}

/* Create a replica (replica mode) or secondary (global mode) of `source` named `id` in `c`'s region, with an instance. */
static int create_follower(au_ctx *x, dr_aws *c, const au_cluster *source, int primary_side, const char *id,
                           const char *instance_pref, const char *klass, dr_error *err)
{
    const char *sgs[16];
    au_create_spec s;
    char detail[400];
    int rc;

    make_spec(x, source, primary_side, id, sgs, 16, &s);
    s.global_id = x->global_id;
    if (s.encrypted && !s.kms_key)
        return dr_error_set(err, DR_ECONFIG, "the source %s is encrypted: set %s to a KMS key in the target region",
                            source->id, primary_side ? "primary_kms_key" : "dr_kms_key");
    snprintf(detail, sizeof(detail), "secondary of global cluster %s, %s %s, Serverless v2 %g-%g ACUs%s",
             x->global_id, AU_ENGINE,
             dash(s.engine_version), s.min_acu, s.max_acu, s.encrypted ? ", encrypted" : "");
    if (x->dry) {
        dr_report_planned(H, x->res, primary_side ? "create_primary_cluster" : "create_dr_cluster", id, "%s", detail);
    } else {
        rc = au_create_cluster(c, &s, NULL, err);
        if (dr_report_change(H, x->res, rc, primary_side ? "create_primary_cluster" : "create_dr_cluster", id, detail,
                             err) != 0)
            return rc;
    }
    return ensure_instance(x, c, id, instance_pref, klass, primary_side, 0, err);
}

static int au_configure(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    au_ctx x;
    au_cluster p, r;
    au_global g;
    dr_aws *pc, *dc;
    const char *klass = H->cfg_string(res, "dr_instance_class");
    const char *inst_pref = H->cfg_string(res, "dr_instance");
    int rc;

    ctx_init(&x, res, args);
    if (args->serving == DR_SERVING_DR) {
        /* The DR cluster serves alone: replication towards it is failback's to rebuild, not configure's. */
        H->log(res, DR_LOG_INFO, "the DR region serves: nothing to configure until failback");
        return 0;
    }
    pc = client(&x, x.preg, err);
    if (!pc)
        return err->code ? err->code : DR_ENETWORK;
    dc = client(&x, x.dreg, err);
    if (!dc)
        return err->code ? err->code : DR_ENETWORK;

    /* 1. The primary must exist: configure builds DR around it. */
    rc = au_describe_cluster(pc, x.cluster, &p, err);
    if (rc != 0)
        return rc;
    if (!p.found)
        return dr_error_set(err, DR_ENOTFOUND, "primary cluster %s not found in %s", x.cluster, x.preg);
    if (p.source[0])
        return dr_error_set(err, DR_ESTATE, "primary cluster %s is a read replica of %s: fail back first", x.cluster,
                            p.source);

    /* 2. The global cluster, with the primary as its writer: CreateGlobalCluster from the regional cluster. */
    {
        rc = describe_global(&x, &g, err);
        if (rc != 0)
            return rc;
        if (!g.found) {
            if (x.dry) {
                dr_report_planned(H, x.res, "create_global_cluster", x.global_id, "from %s", p.arn);
            } else {
                rc = au_create_global(pc, x.global_id, p.arn, err);
                if (dr_report_change(H, x.res, rc, "create_global_cluster", x.global_id, p.arn, err) != 0)
                    return rc;
            }
        } else {
            const au_gmember *me = au_global_member(&g, p.arn);
            if (!me)
                return dr_error_set(err, DR_ESTATE, "global cluster %s exists without %s as a member", x.global_id,
                                    p.arn);
            if (!me->writer && au_global_writer(&g))
                return dr_error_set(err, DR_ESTATE, "%s is not the writer of global cluster %s: fail back first",
                                    x.cluster, x.global_id);
        }
    }

    /* 3. The DR cluster, a replica (or global secondary) of the primary, with a reader instance. */
    rc = au_describe_cluster(dc, x.dr_cluster, &r, err);
    if (rc != 0)
        return rc;
    if (!r.found) {
        rc = create_follower(&x, dc, &p, 0, x.dr_cluster, inst_pref, klass, err);
        if (rc != 0)
            return rc;
    } else {
        {
            au_global g2;
            rc = describe_global(&x, &g2, err);
            if (rc != 0)
                return rc;
            if (!x.dry && (!g2.found || !au_global_member(&g2, r.arn)))
                return dr_error_set(err, DR_ESTATE,
                                    "DR cluster %s exists but is not a member of global cluster %s; if a failover "
                                    "detached it, it may be the writer now: do not delete it, run 'dr-agent failback "
                                    "--resource %s'; otherwise check which cluster serves ('dr-agent verify "
                                    "--serving dr')",
                                    x.dr_cluster, x.global_id, H->resource_id(res));
        }
        if (!r.has_scaling || fabs(r.min_acu - H->cfg_float(res, "min_capacity")) > 1e-9 ||
            fabs(r.max_acu - H->cfg_float(res, "max_capacity")) > 1e-9) {
            char detail[128];
            snprintf(detail, sizeof(detail), "Serverless v2 %s%g-%g ACUs -> %g-%g ACUs", r.has_scaling ? "" : "(none) ",
                     r.min_acu, r.max_acu, H->cfg_float(res, "min_capacity"), H->cfg_float(res, "max_capacity"));
            if (x.dry) {
                dr_report_planned(H, x.res, "modify_dr_scaling", x.dr_cluster, "%s", detail);
            } else {
                rc = au_modify_scaling(dc, x.dr_cluster, H->cfg_float(res, "min_capacity"),
                                       H->cfg_float(res, "max_capacity"), err);
                if (dr_report_change(H, x.res, rc, "modify_dr_scaling", x.dr_cluster, detail, err) != 0)
                    return rc;
            }
        }
        rc = ensure_instance(&x, dc, x.dr_cluster, inst_pref, klass, 0, r.n_members, err);
        if (rc != 0)
            return rc;
    }
    if (x.dry)
        return 0;

    /* 4. Wait until the DR cluster and its instance are available. */
    return wait_cluster_ready(&x, dc, x.dr_cluster, 0, 1, 0, err);
}

/* ----------------------------------------------------------- failover --- */

/*
 * Fence the side being left: read-only default for new transactions, other
 * sessions ended. Reports the change; *done is set when the side is fenced
 * (already or now).
 */
static int fence_side(au_ctx *x, au_pg *pg, au_side side, dr_error *err)
{
    const char *action = side == AU_PRIMARY ? "fence_primary" : "fence_dr";
    const char *target = side == AU_PRIMARY ? x->cluster : x->dr_cluster;
    char detail[256];
    int ch = 0, n = 0, rc;

    if (x->dry) {
        dr_report_planned(H, x->res, action, target, "%s: default_transaction_read_only = on, end other client sessions",
                au_pg_name(pg));
        return 0;
    }
    rc = au_pg_fence(pg, x->pg.database, &ch, err);
    if (rc == 0)
        rc = au_pg_terminate_others(pg, &n, err);
    snprintf(detail, sizeof(detail), "%s: read-only for new transactions (ALTER DATABASE), %d other session%s ended",
             au_pg_name(pg), n, n == 1 ? "" : "s");
    if (rc != 0 || ch || n > 0)
        dr_report_change(H, x->res, rc, action, target, detail, err);
    return rc;
}

static int unfence_side(au_ctx *x, au_pg *pg, au_side side, dr_error *err)
{
    const char *action = side == AU_PRIMARY ? "unfence_primary" : "unfence_dr";
    const char *target = side == AU_PRIMARY ? x->cluster : x->dr_cluster;
    int ch = 0, rc;

    rc = au_pg_unfence(pg, x->pg.database, &ch, err);
    if (rc != 0 || ch)
        dr_report_change(H, x->res, rc, action, target, "default_transaction_read_only reset", err);
    return rc;
}

/* One connection attempt per side when a stopped switch must leave a writer (libpq waits at least 2 s). */
#define KEEP_WRITER_CAP_MS 2000

/*
 * A switch stopped after the fence: its call was refused while the other side
 * does not serve, or it was sent and the hook stopped before the end (its
 * deadline passed, the run was cancelled, a wait failed). The fence must not
 * outlive the run with no side taking writes. Only the data plane is asked (the
 * hook's time for API calls may be gone): the side the writes move to takes
 * them once it has been promoted; until then, graceful only, the side being
 * left gets its writes back (Aurora's switchover, if it still goes ahead,
 * drains it without loss, and the lifted fence replicates to the target). A
 * forced switch never reopens the side it left. Resume finishes the switch.
 */
static void keep_a_writer(au_ctx *x, au_side to, const dr_error *why)
{
    au_side order[2] = {to, to == AU_PRIMARY ? AU_DR : AU_PRIMARY};
    int n = x->forced ? 1 : 2;

    if (!x->has_pg || x->dry || !x->fence)
        return;
    for (int i = 0; i < n; i++) {
        au_pg *pg = NULL;
        au_pg_role role = {1, 0};
        dr_error e;
        int rc;

        dr_error_clear(&e);
        rc = pg_open(x, order[i], KEEP_WRITER_CAP_MS, &pg, &e);
        if (rc == 0)
            rc = au_pg_get_role(pg, &role, &e);
        if (rc == 0 && !role.in_recovery)
            rc = unfence_side(x, pg, order[i], &e);
        au_pg_close(pg);
        if (rc == 0 && !role.in_recovery) {
            H->log(x->res, DR_LOG_WARN, "the switch stopped before it finished (%s): the %s side takes writes; "
                   "resume finishes the switch", why && why->code ? why->message : "?",
                   order[i] == AU_PRIMARY ? "primary" : "DR");
            return;
        }
        if (rc != 0)
            H->log(x->res, DR_LOG_WARN, "the switch stopped before it finished and the %s side could not be opened "
                   "for writes: %s", order[i] == AU_PRIMARY ? "primary" : "DR", e.message);
    }
    H->log(x->res, DR_LOG_ERROR, "the switch stopped before it finished (%s) and no side takes writes yet: resume "
           "finishes the switch", why && why->code ? why->message : "?");
}

/* After a failed switch call: does the side we switched to serve anyway (the call may have gone through)? -1: unknown. */
static int serves_now(au_ctx *x, dr_aws *c, const char *id)
{
    au_cluster cl;
    au_global g;
    dr_error e;

    dr_error_clear(&e);
    memset(&g, 0, sizeof(g));
    if (au_describe_cluster(c, id, &cl, &e) != 0 || describe_global(x, &g, &e) != 0)
        return -1;
    return cluster_serves(&cl, &g);
}

/*
 * A switch call was refused as InvalidGlobalClusterStateFault: was the same
 * switch accepted already (an attempt that timed out on our side and was
 * retried, or a run before a crash)? Then the target is the writer, or a move
 * to it is under way.
 */
static int switch_accepted(au_ctx *x, const char *target_arn, const dr_error *err)
{
    const au_gmember *w;
    au_global g;
    dr_error e;

    if (!dr_error_is(err, "InvalidGlobalClusterStateFault"))
        return 0;
    dr_error_clear(&e);
    if (describe_global(x, &g, &e) != 0 || !g.found)
        return 0;
    w = au_global_writer(&g);
    if (w && strcmp(w->arn, target_arn) == 0)
        return 1;
    return g.failover_status[0] && strcmp(g.failover_to, target_arn) == 0;
}

/* Unfence the side that now serves (a fence may have travelled with replicated catalogs) and wait for a write. */
static int open_for_writes(au_ctx *x, au_side side, double *when, dr_error *err)
{
    au_pg *pg = NULL;
    au_pg_role role;
    int rc;

    if (!x->has_pg || x->dry)
        return 0;
    rc = pg_open(x, side, 0, &pg, err);
    if (rc == 0)
        rc = au_pg_get_role(pg, &role, err);
    if (rc == 0 && !role.in_recovery)
        rc = unfence_side(x, pg, side, err);
    au_pg_close(pg);
    if (rc == DR_ENETWORK)
        dr_error_clear(err); /* still starting: the wait below retries */
    else if (rc != 0)
        return rc;
    return wait_writable(x, side, when, err);
}

/*
 * Hand the writes over on the data plane before the control-plane switch.
 * Graceful: the managed switchover itself waits until the target has
 * everything and makes the old writer a reader, so the data loss is 0; with
 * the data plane and fence = true, the side being left is fenced first (its
 * clients are ended and cannot start writing again), and a side that cannot
 * be fenced refuses the switch. Forced: one bounded attempt at the side being
 * left, to fence it and read what Aurora reports as not yet in the target
 * region (rpo_lag_in_msec of the target's region in aurora_global_db_status());
 * else the last known lag metric. *loss is the data-loss window in seconds,
 * or -1 when unknown.
 */
static int dp_handover(au_ctx *x, au_side from, double metric_lag, double *loss, dr_error *err)
{
    au_side to = from == AU_PRIMARY ? AU_DR : AU_PRIMARY;
    const char *to_region = to == AU_DR ? x->dreg : x->preg;
    au_pg *src = NULL, *dst = NULL;
    int rc;

    *loss = -1;
    if (!x->forced) {
        *loss = 0;
        if (!x->has_pg || !x->fence)
            return 0;
        /* The fence travels with the data: the side taking over must be reachable to be unfenced after the switch. */
        rc = pg_open(x, to, 0, &dst, err);
        if (rc != 0) {
            dr_error_prefix(err, "the side taking over cannot be reached, nothing fenced or switched: ");
            return rc;
        }
        au_pg_close(dst);
        dst = NULL;
        rc = pg_open(x, from, 0, &src, err);
        if (rc != 0) {
            dr_error_prefix(err, "cannot fence the side being left, refusing a graceful switch (use --mode forced): ");
            return DR_ESTATE;
        }
        rc = fence_side(x, src, from, err);
        au_pg_close(src);
        return rc;
    }
    if (!x->has_pg) {
        *loss = metric_lag;
        return 0;
    }
    {
        au_pg_gdb g;
        const au_pg_gdb_row *row;
        dr_error e2;

        /* The side taking over must take the writes: when it cannot be reached, fencing would leave nobody. */
        rc = pg_open(x, to, 0, &dst, err);
        if (rc != 0) {
            dr_error_prefix(err, "the side taking over cannot be reached, nothing fenced or switched: ");
            return rc;
        }
        au_pg_close(dst);
        dr_error_clear(&e2);
        if (pg_open(x, from, 5000, &src, &e2) != 0) {
            H->log(x->res, DR_LOG_WARN, "forced: the side being left is not reachable (%s); switching without fencing",
                   e2.message);
            x->left_unreachable = 1;
            *loss = metric_lag;
            return 0;
        }
        if (x->fence && fence_side(x, src, from, &e2) != 0)
            H->log(x->res, DR_LOG_WARN, "forced: fencing failed: %s", e2.message);
        dr_error_clear(&e2);
        if (au_pg_global_status(src, &g, &e2) == 0 && (row = au_pg_gdb_region(&g, to_region)) != NULL &&
            !row->primary && row->rpo_lag_ms >= 0) {
            *loss = (double)row->rpo_lag_ms / 1000.0;
            H->log(x->res, DR_LOG_INFO, "forced: aurora_global_db_status() on the side being left: %s rpo_lag_in_msec %lld",
                   to_region, (long long)row->rpo_lag_ms);
        } else {
            H->log(x->res, DR_LOG_WARN, "forced: no RPO lag from the side being left (%s); using the last known metric",
                   e2.code ? e2.message : "its region not listed");
            *loss = metric_lag;
        }
        au_pg_close(src);
    }
    return 0;
}

/* The latest value of the lag metric in seconds, -1 when unknown (why in x->lag_err). */
static double last_known_lag(au_ctx *x)
{
    dr_aws_dim dim = {"DBClusterIdentifier", x->dr_cluster};
    dr_aws_metric m;
    dr_error *err = &x->lag_err;
    dr_aws *dc;

    dr_error_clear(err);
    dc = client(x, x->dreg, err);
    if (!dc || dr_aws_metric_get(dc, "AWS/RDS", lag_metric(x), &dim, 1, "Maximum", 3600, 60, &m, err) != 0) {
        dr_error_prefix(err, "forced: the last known lag could not be read: ");
        return -1;
    }
    if (m.datapoints == 0) {
        dr_error_set(err, DR_ENOTFOUND, "forced: no %s datapoint for %s in %s in the last hour", lag_metric(x),
                     x->dr_cluster, x->dreg);
        return -1;
    }
    return m.latest / 1000.0;
}

static void report_outcome(au_ctx *x, double loss, double writable_at, au_side serving, const char *hook)
{
    if (loss >= 0) {
        dr_report_number(H, x->res, "data_loss_window", loss > 0 && !x->forced ? DR_STATUS_CRITICAL
                                                         : dr_lag_status(loss, x->rpo, x->warn),
                         loss, x->forced ? x->rpo : 0, "seconds", "%s",
                         x->forced ? "forced: the RPO lag Aurora reported for the region taking over (or the last "
                                     "known lag metric)"
                                   : "graceful: managed switchover (Aurora synchronises the target before it switches)");
        if (!x->rpo_unknown)
            H->rpo_observed(x->res, loss);
    } else {
        dr_error e;
        dr_error_clear(&e);
        dr_error_set(&e, DR_ENOTFOUND, "forced: no lag was known before the switch");
        dr_report_unknown(H, x->res, "data_loss_window", NULL, x->lag_err.code ? &x->lag_err : &e);
    }
    if (writable_at >= 0)
        dr_report_number(H, x->res, "time_to_writable", writable_at > x->rto ? DR_STATUS_CRITICAL : DR_STATUS_OK,
                         writable_at, x->rto, "seconds", "from the start of %s until %s %s", hook,
                         serving == AU_DR ? "the DR side" : "the primary",
                         x->has_pg ? "accepted a write" : "was available as the writer (no data plane configured)");
}

/* What the application uses after a switch: the writer endpoint of the cluster that serves (an "endpoint" check). */
static void report_endpoint(au_ctx *x, dr_aws *c, const char *id)
{
    au_cluster cl;
    dr_error e;

    dr_error_clear(&e);
    if (au_describe_cluster(c, id, &cl, &e) == 0 && cl.found && cl.endpoint[0])
        dr_report_state(H, x->res, "endpoint", DR_STATUS_OK, cl.endpoint, NULL, "writer endpoint of %s", id);
}
static void note_switch_point(au_ctx *x);

static int au_failover(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    au_ctx x;
    au_cluster r;
    au_global g;
    dr_aws *dc;
    double loss = -1, writable_at = -1;
    int rc, already;

    ctx_init(&x, res, args);
    memset(&g, 0, sizeof(g));
    dc = client(&x, x.dreg, err);
    if (!dc)
        return err->code ? err->code : DR_ENETWORK;

    /* 1. Where are we? The DR region is the one that must answer. */
    rc = au_describe_cluster(dc, x.dr_cluster, &r, err);
    if (rc != 0)
        return rc;
    if (!r.found)
        return dr_error_set(err, DR_ENOTFOUND, "DR cluster %s not found in %s: nothing to fail over to", x.dr_cluster,
                            x.dreg);
    {
        rc = describe_global(&x, &g, err);
        if (rc != 0)
            return rc;
        if (!g.found || !au_global_member(&g, r.arn))
            return dr_error_set(err, DR_ESTATE, "%s is not a member of global cluster %s", x.dr_cluster, x.global_id);
    }

    already = cluster_serves(&r, &g);
    if (!already && g.failover_status[0] && strcmp(g.failover_to, r.arn) == 0) {
        /* A switch to the DR cluster was accepted (a run killed after the call): wait for it, send nothing. */
        H->log(res, DR_LOG_INFO, "global cluster %s is already moving its writer to %s: waiting for it", x.global_id,
               x.dr_cluster);
        loss = x.forced ? -1 : 0;
        if (x.forced && !x.dry) {
            double at;
            if (!au_lost_forced(H, res, &at)) /* the run that sent it stopped before noting it */
                au_lost_note_failover(H, res, (double)time(NULL));
        }
    } else if (!already) {
        /* 2. Hand the writes over on the data plane: fence and drain (graceful), or one attempt (forced). */
        double metric = x.forced ? last_known_lag(&x) : -1;
        rc = dp_handover(&x, AU_PRIMARY, metric, &loss, err);
        if (rc != 0)
            return rc;
        note_switch_point(&x);

        /* 3. Switch over (graceful) or fail over with data loss (forced) the global database. */
        {
            const char *op = x.forced ? "failover_global_cluster" : "switchover_global_cluster";
            if (x.dry) {
                dr_report_planned(H, x.res, op, x.global_id, "%s to %s", x.forced ? "FailoverGlobalCluster (AllowDataLoss)"
                                                                  : "SwitchoverGlobalCluster", r.arn);
            } else {
                rc = x.forced ? au_failover_global(dc, x.global_id, r.arn, err)
                              : au_switchover(dc, x.global_id, r.arn, err);
                if (rc != 0 && switch_accepted(&x, r.arn, err)) {
                    H->log(res, DR_LOG_INFO, "%s: an earlier attempt was accepted, the writer moves to %s", op,
                           x.dr_cluster);
                    dr_error_clear(err);
                    rc = 0;
                }
                if (dr_report_change(H, x.res, rc, op, x.global_id, r.arn, err) != 0) {
                    if (serves_now(&x, dc, x.dr_cluster) == 0)
                        keep_a_writer(&x, AU_DR, err);
                    return rc;
                }
                au_lost_note_failover(H, res, x.forced ? (double)time(NULL) : 0);
            }
        }
    } else {
        /* Already promoted (a second run, or after a crash): keep the old primary from writing. */
        loss = -1;
        if (x.has_pg && x.fence && !x.dry) {
            au_pg *pg = NULL;
            au_pg_role role;
            dr_error e2;
            dr_error_clear(&e2);
            if (pg_open(&x, AU_PRIMARY, x.forced ? 5000 : 0, &pg, &e2) == 0 && au_pg_get_role(pg, &role, &e2) == 0 &&
                !role.in_recovery)
                fence_side(&x, pg, AU_PRIMARY, &e2);
            au_pg_close(pg);
        }
        H->log(res, DR_LOG_INFO, "%s already serves", x.dr_cluster);
    }
    if (x.dry)
        return 0;

    /* 4. Wait until the DR cluster is available as the writer, then until it accepts a write. */
    rc = wait_cluster_ready(&x, dc, x.dr_cluster, 0, 0, 1, err);
    if (rc == 0)
        rc = open_for_writes(&x, AU_DR, &writable_at, err);
    if (rc != 0) {
        keep_a_writer(&x, AU_DR, err);
        return rc;
    }
    if (!already)
        report_outcome(&x, loss, x.has_pg ? writable_at : elapsed_s(&x), AU_DR, "failover");
    report_endpoint(&x, dc, x.dr_cluster);
    return 0;
}

/* ----------------------------------------------------------- failback --- */

/* "<id><suffix>-<yyyymmddhhmmss>", within the 63 characters of an identifier. */
static void retired_name(au_ctx *x, const char *id, char *out, size_t len)
{
    const char *suffix = H->cfg_string(x->res, "retired_suffix");
    char stamp[20];
    time_t now = time(NULL);
    struct tm tm;
    int room;

    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
    if (!suffix)
        suffix = "-retired";
    room = 63 - (int)strlen(suffix) - 1 - (int)strlen(stamp);
    if (room < 1)
        room = 1;
    snprintf(out, len, "%.*s%s-%s", room, id, suffix, stamp);
}

/* The DR side's durable position in the global database (aurora_global_db_status(), its own row). */
static int dr_switch_lsn(au_pg *pg, const char *region, uint64_t *lsn, dr_error *err)
{
    au_pg_gdb g;
    const au_pg_gdb_row *row;
    int rc = au_pg_global_status(pg, &g, err);

    if (rc != 0)
        return rc;
    row = au_pg_gdb_region(&g, region);
    if (!row || row->highest_lsn == 0)
        return dr_error_set(err, DR_ESTATE, "aurora_global_db_status() on %s lists no position for %s",
                            au_pg_name(pg), region);
    *lsn = row->highest_lsn;
    return 0;
}

/*
 * Failover: remember where the side taking over stood when it was promoted
 * (whatever the old primary writes later diverges from there), and the old
 * primary's tuple counter when it answers. Kept in the resource's state for
 * the failback.
 */
static void note_switch_point(au_ctx *x)
{
    au_pg *pg = NULL;
    uint64_t lsn = 0;
    int64_t tuples = -1;
    char v[32];
    dr_error e;

    if (!x->has_pg || x->dry || !DR_HAS_MEMBER(H, dr_host_api, state_set))
        return;
    dr_error_clear(&e);
    if (pg_open(x, AU_DR, 5000, &pg, &e) == 0 && dr_switch_lsn(pg, x->dreg, &lsn, &e) == 0) {
        uint64_t xid = 0;
        au_lsn_format(lsn, v, sizeof(v));
        if (H->state_set(x->res, "switch_lsn", v, &e) != 0)
            H->log(x->res, DR_LOG_WARN, "the switch point %s could not be kept: %s", v, e.message);
        /* the transactions the side taking over has replayed: the old primary's later ones are not in it */
        if (au_pg_next_xid(pg, &xid, &e) == 0)
            snprintf(v, sizeof(v), "%llu", (unsigned long long)xid);
        else
            v[0] = '\0';
        H->state_set(x->res, "switch_xid", v[0] ? v : NULL, &e);
    } else {
        H->log(x->res, DR_LOG_WARN, "the switch point could not be read (%s): a failback cannot measure what the old "
               "primary writes after this failover", e.message);
        H->state_set(x->res, "switch_lsn", NULL, &e);
    }
    au_pg_close(pg);
    pg = NULL;
    dr_error_clear(&e);
    /* one connection attempt to a side a forced switch found unreachable: its counter stays unknown */
    if (!x->left_unreachable && pg_open(x, AU_PRIMARY, 3000, &pg, &e) == 0 && au_pg_tuple_counter(pg, &tuples, &e) == 0 &&
        tuples >= 0)
        snprintf(v, sizeof(v), "%lld", (long long)tuples);
    else
        v[0] = '\0';
    au_pg_close(pg);
    H->state_set(x->res, "switch_tuples", v[0] ? v : NULL, &e);
}

/*
 * Failback, before the old primary is retired: what it wrote after the
 * failover (WAL range and bytes, rows where its counters tell). Those writes
 * are not in the serving cluster: the run's RPO is unknown, never 0.
 */
static void report_divergence(au_ctx *x, const char *kept_in)
{
    au_pg *pg = NULL;
    au_pg_divergent d;
    uint64_t since;
    char v[32], from[32], to[32], rows[96] = "";
    dr_error e;

    if (!x->has_pg || !DR_HAS_MEMBER(H, dr_host_api, state_get) || !H->state_get(x->res, "switch_lsn", v, sizeof(v)) ||
        au_lsn_parse(v, &since) != 0)
        return;
    dr_error_clear(&e);
    if (pg_open(x, AU_PRIMARY, 5000, &pg, &e) != 0 || au_pg_divergence(pg, since, &d, &e) != 0) {
        au_pg_close(pg);
        dr_report_unknown(H, x->res, "divergent_writes", "0", &e);
        H->rpo_observed(x->res, -1); /* it may have taken writes: not known */
        x->rpo_unknown = 1;
        return;
    }
    au_pg_close(pg);
    if (d.standby || d.bytes == 0) {
        H->log(x->res, DR_LOG_INFO, "the old primary took no writes after the failover%s",
               d.standby ? " (it is a standby)" : "");
        return;
    }
    au_lsn_format(d.since, from, sizeof(from));
    au_lsn_format(d.now, to, sizeof(to));
    if (d.tuples >= 0 && H->state_get(x->res, "switch_tuples", v, sizeof(v)))
        snprintf(rows, sizeof(rows), ", %lld rows inserted, updated or deleted (pg_stat_database)",
                 (long long)(d.tuples - strtoll(v, NULL, 10)));
    dr_report_number(H, x->res, "divergent_writes", DR_STATUS_WARNING, (double)d.bytes, 0, "bytes",
                     "the old primary %s took writes after the failover: %llu bytes of WAL from %s to %s%s; they are "
                     "not in the serving cluster and are kept in the retired cluster %s",
                     x->cluster, (unsigned long long)d.bytes, from, to, rows, kept_in);
    H->log(x->res, DR_LOG_WARN, "the old primary %s took %llu bytes of WAL after the failover (%s..%s%s): kept in %s",
           x->cluster, (unsigned long long)d.bytes, from, to, rows, kept_in);
    H->rpo_observed(x->res, -1);
    x->rpo_unknown = 1;
}

/*
 * Failback after a failover with data loss, before Aurora rebuilds the old
 * primary (its member pending-resync): what it wrote after the switch point
 * (WAL range and bytes, rows and write transactions where the counters kept
 * at the failover tell), kept in the resource's state for the report. Not
 * measured when it cannot be reached or is a standby already (rebuilt).
 */
static void lost_measure(au_ctx *x)
{
    au_pg *pg = NULL;
    au_pg_divergent d;
    au_lost l;
    uint64_t since, xid;
    char v[32];
    dr_error e;

    if (!x->has_pg || x->dry || au_lost_load(H, x->res, &l) || !H->state_get(x->res, "switch_lsn", v, sizeof(v)) ||
        au_lsn_parse(v, &since) != 0)
        return;
    dr_error_clear(&e);
    if (pg_open(x, AU_PRIMARY, 5000, &pg, &e) != 0 || au_pg_divergence(pg, since, &d, &e) != 0 || d.standby) {
        H->log(x->res, DR_LOG_INFO, "the old primary %s could not be measured before its rebuild: %s", x->cluster,
               d.standby ? "it is a standby already" : e.message);
        au_pg_close(pg);
        return;
    }
    memset(&l, 0, sizeof(l));
    l.since = since;
    l.now = d.now;
    l.bytes = d.bytes;
    l.rows = l.xacts = -1;
    if (d.tuples >= 0 && H->state_get(x->res, "switch_tuples", v, sizeof(v)))
        l.rows = d.tuples - strtoll(v, NULL, 10);
    if (l.rows < 0)
        l.rows = -1; /* the counters were reset (a crash): not known */
    if (H->state_get(x->res, "switch_xid", v, sizeof(v)) && au_pg_next_xid(pg, &xid, &e) == 0 &&
        xid >= strtoull(v, NULL, 10))
        l.xacts = (int64_t)(xid - strtoull(v, NULL, 10));
    au_pg_close(pg);
    if (au_lost_save(H, x->res, &l, &e) != 0)
        H->log(x->res, DR_LOG_WARN, "what the old primary wrote after the failover could not be kept: %s", e.message);
}

/* Failback, once Aurora rebuilt the old primary as a secondary: report its writes after the failover and where
   they are kept (the snapshot Aurora took of it before the rebuild). */
static void lost_report(au_ctx *x, dr_aws *pc, double failed_at)
{
    au_lost l;
    char snap[256], kept[1024] = "", why[200];
    int measured = au_lost_load(H, x->res, &l);
    dr_error e;

    dr_error_clear(&e);
    if (au_failover_snapshot(pc, x->cluster, failed_at, snap, sizeof(snap), &e) != 0)
        snprintf(kept, sizeof(kept), "the snapshot rds:unplanned-global-failover-%s-* (could not be listed: %s)",
                 x->cluster, e.message);
    else if (snap[0])
        snprintf(kept, sizeof(kept), "the DB cluster snapshot %s in %s (a system snapshot: copy it to keep it past "
                 "the cluster's backup retention)", snap, x->preg);
    snprintf(why, sizeof(why), "%s", x->has_pg ? "rebuilt before it could be read, or unreachable" : "no data plane");
    if (au_lost_report(H, x->res, x->cluster, measured ? &l : NULL, kept, why))
        x->rpo_unknown = 1;
    au_lost_forget(H, x->res);
}

/* Rename a cluster out of the way (never delete: it may hold the only copy of something). */
static int retire(au_ctx *x, dr_aws *c, const char *id, const char *action, dr_error *err)
{
    char new_id[80], detail[200];
    wait_gone w = {c, id};
    int rc;

    retired_name(x, id, new_id, sizeof(new_id));
    if (!x->dry && strcmp(action, "retire_old_primary") == 0)
        report_divergence(x, new_id);
    snprintf(detail, sizeof(detail), "renamed to %s (kept, not deleted)", new_id);
    if (x->dry) {
        dr_report_planned(H, x->res, action, id, "%s", detail);
        return 0;
    }
    rc = au_rename_cluster(c, id, new_id, err);
    if (dr_report_change(H, x->res, rc, action, id, detail, err) != 0)
        return rc;
    return dr_wait_for(H, x->res, "the old cluster name to be free", poll_ms(x), 0, probe_gone, &w, err);
}

/* The member's SynchronizationStatus is connected (or not reported): Aurora replicates to it. */
typedef struct wait_member {
    au_ctx *x;
    const char *arn;
} wait_member;

static int probe_member(void *arg, char *status, size_t len, dr_error *err)
{
    wait_member *w = arg;
    const au_gmember *m;
    au_global g;
    int rc = describe_global(w->x, &g, err);

    if (rc != 0)
        return rc;
    m = au_global_member(&g, w->arn);
    if (!m) {
        snprintf(status, len, "not a member of %s", w->x->global_id);
        return 0;
    }
    snprintf(status, len, "%s", m->sync[0] ? m->sync : "member");
    return !m->sync[0] || strcmp(m->sync, "connected") == 0;
}

/*
 * Wait until the secondary on `side` follows the writer: the member is
 * connected in DescribeGlobalClusters and, with the data plane, the writer's
 * aurora_global_db_status() lists its region with an RPO lag under a second.
 */
static int wait_in_sync(au_ctx *x, au_side side, const char *arn, dr_error *err)
{
    wait_member wm = {x, arn};
    int rc;

    if (x->dry)
        return 0;
    rc = dr_wait_for(H, x->res, side == AU_DR ? "the DR cluster to be a connected secondary"
                                              : "the primary-region cluster to be a connected secondary",
                     poll_ms(x), 0, probe_member, &wm, err);
    if (rc != 0 || !x->has_pg)
        return rc;
    return wait_region_synced(x, side == AU_DR ? AU_PRIMARY : AU_DR, side == AU_DR ? x->dreg : x->preg, 1000,
                              side == AU_DR ? "the DR region to catch up (aurora_global_db_status())"
                                            : "the primary region to catch up (aurora_global_db_status())",
                              err);
}

/*
 * The primary-region cluster must be a synchronised secondary before the
 * switch back. After a failover with data loss Aurora rebuilds the old
 * primary as a secondary once its region is back (SynchronizationStatus
 * pending-resync until then): failback waits for it. When that cannot
 * serve (the old primary is not a member, or its data plane is still a
 * writer of its own), the manual path: RemoveFromGlobalCluster, rename it
 * (kept: it may hold the only copy of writes the failover lost), and a new
 * secondary under the configured name.
 */
static int failback_global(au_ctx *x, dr_aws *pc, dr_aws *dc, int *switched, double *loss, double *writable_at,
                           dr_error *err)
{
    const char *pklass = H->cfg_string(x->res, "primary_instance_class");
    au_cluster p, r;
    au_global g;
    const au_gmember *w, *pm;
    double failed_at = 0;
    int rc, rebuild = 0, lost = au_lost_forced(H, x->res, &failed_at);

    rc = au_describe_cluster(pc, x->cluster, &p, err);
    if (rc == 0)
        rc = au_describe_cluster(dc, x->dr_cluster, &r, err);
    if (rc == 0)
        rc = describe_global(x, &g, err);
    if (rc != 0)
        return rc;
    if (!g.found)
        return dr_error_set(err, DR_ESTATE, "global cluster %s not found", x->global_id);
    if (r.found && g.failover_status[0] && strcmp(g.failover_to, r.arn) == 0 && !x->dry) {
        /* A switch to the DR cluster is under way (a failover stopped after Aurora accepted it, as a drill's
           rollback finds it): let it end first, or it would take the writer away again after this failback. */
        H->log(x->res, DR_LOG_INFO, "global cluster %s is still moving its writer to %s: waiting for it before "
               "failing back", x->global_id, x->dr_cluster);
        rc = wait_cluster_ready(x, dc, x->dr_cluster, 0, 0, 1, err);
        if (rc == 0)
            rc = describe_global(x, &g, err);
        if (rc != 0)
            return rc;
    }
    w = au_global_writer(&g);
    if (p.found && w && strcmp(w->arn, p.arn) == 0)
        goto topology; /* already back */
    if (p.found && g.failover_status[0] && strcmp(g.failover_to, p.arn) == 0) {
        /* A switch back was accepted (a run killed after the call): wait for it, send nothing. */
        H->log(x->res, DR_LOG_INFO, "global cluster %s is already moving its writer to %s: waiting for it",
               x->global_id, x->cluster);
        if (x->dry)
            return 0;
        goto switching;
    }
    if (!r.found || !w || strcmp(w->arn, r.arn) != 0)
        return dr_error_set(err, DR_ESTATE, "cannot fail back: the writer of %s is %s, not %s", x->global_id,
                            w ? w->arn : "none", x->dr_cluster);

    /* 1. The primary-region cluster must follow the DR cluster again. */
    pm = p.found ? au_global_member(&g, p.arn) : NULL;
    if (!pm) {
        rebuild = 1;
    } else if (x->has_pg && (!pm->sync[0] || strcmp(pm->sync, "connected") == 0)) {
        /* A connected member whose data plane is still a writer diverged and was not rebuilt: rebuild it. */
        au_pg *pg = NULL;
        au_pg_role role;
        dr_error e2;
        dr_error_clear(&e2);
        if (pg_open(x, AU_PRIMARY, 0, &pg, &e2) == 0 && au_pg_get_role(pg, &role, &e2) == 0 && !role.in_recovery)
            rebuild = 1;
        au_pg_close(pg);
    }
    if (lost && !rebuild && pm->sync[0] && strcmp(pm->sync, "connected") != 0)
        lost_measure(x); /* Aurora has not rebuilt it yet */
    if (rebuild) {
        if (pm) {
            if (x->dry) {
                dr_report_planned(H, x->res, "remove_old_primary_from_global", x->cluster, "RemoveFromGlobalCluster %s",
                                  x->global_id);
            } else {
                rc = au_remove_from_global(pc, x->global_id, p.arn, err);
                if (dr_report_change(H, x->res, rc, "remove_old_primary_from_global", x->cluster, x->global_id,
                                     err) != 0)
                    return rc;
            }
        }
        if (p.found) {
            rc = retire(x, pc, x->cluster, "retire_old_primary", err);
            if (rc != 0)
                return rc;
        }
        rc = create_follower(x, pc, &r, 1, x->cluster, NULL, pklass, err);
        if (rc != 0)
            return rc;
    }
    if (!x->dry) {
        wait_member wm = {x, NULL};
        rc = wait_cluster_ready(x, pc, x->cluster, 0, 1, 0, err);
        if (rc == 0)
            rc = au_describe_cluster(pc, x->cluster, &p, err);
        if (rc == 0 && !x->forced) {
            rc = wait_in_sync(x, AU_PRIMARY, p.arn, err);
        } else if (rc == 0) {
            /* Forced: no catch-up wait, but there must be a secondary to fail over to. */
            wm.arn = p.arn;
            rc = dr_wait_for(H, x->res, "the primary-region cluster to be a connected secondary", poll_ms(x), 0,
                             probe_member, &wm, err);
        }
        if (rc != 0)
            return rc;
        if (lost && !rebuild)
            lost_report(x, pc, failed_at);
        else if (lost)
            au_lost_forget(H, x->res); /* reported with the retired cluster that keeps them */
    }

    /* 2. Switch back: fence the DR side, drain, switch over (or fail over when forced). */
    rc = dp_handover(x, AU_DR, -1, loss, err);
    if (rc != 0)
        return rc;
    {
        const char *op = x->forced ? "failover_global_cluster" : "switchover_global_cluster";
        if (x->dry) {
            dr_report_planned(H, x->res, op, x->global_id, "to %s", p.found ? p.arn : x->cluster);
            return 0;
        }
        rc = x->forced ? au_failover_global(pc, x->global_id, p.arn, err) : au_switchover(pc, x->global_id, p.arn, err);
        if (rc != 0 && switch_accepted(x, p.arn, err)) {
            H->log(x->res, DR_LOG_INFO, "%s: an earlier attempt was accepted, the writer moves to %s", op, x->cluster);
            dr_error_clear(err);
            rc = 0;
        }
        if (dr_report_change(H, x->res, rc, op, x->global_id, p.arn, err) != 0) {
            if (serves_now(x, pc, x->cluster) == 0)
                keep_a_writer(x, AU_PRIMARY, err);
            return rc;
        }
        *switched = 1;
    }
switching:
    rc = wait_cluster_ready(x, pc, x->cluster, 0, 1, 1, err);
    if (rc != 0) {
        keep_a_writer(x, AU_PRIMARY, err);
        return rc;
    }

topology:
    if (x->dry)
        return 0;
    if (au_lost_forced(H, x->res, &failed_at))
        lost_report(x, pc, failed_at); /* a failback resumed after its switch: not reported yet */
    rc = open_for_writes(x, AU_PRIMARY, writable_at, err);
    if (rc != 0) {
        keep_a_writer(x, AU_PRIMARY, err);
        return rc;
    }
    if (x->forced || !r.found)
        return rc;
    return wait_in_sync(x, AU_DR, r.arn, err);
}

static int au_failback(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    au_ctx x;
    dr_aws *pc, *dc;
    double loss = -1, writable_at = -1;
    int rc, switched = 0;

    ctx_init(&x, res, args);
    pc = client(&x, x.preg, err);
    if (!pc)
        return err->code ? err->code : DR_ENETWORK;
    dc = client(&x, x.dreg, err);
    if (!dc)
        return err->code ? err->code : DR_ENETWORK;
    rc = failback_global(&x, pc, dc, &switched, &loss, &writable_at, err);
    if (rc != 0 || x.dry)
        return rc;
    if (switched)
        report_outcome(&x, loss, writable_at, AU_PRIMARY, "failback");
    /* The original topology, reported as verify would (no metric yet for a DR cluster just made). */
    verify_normal(&x, 0, NULL);
    report_endpoint(&x, pc, x.cluster);
    return 0;
}

/* ------------------------------------------------------------- prepare --- */

/* Graceful: how far behind (Aurora's own RPO lag) the region taking over may be when the switch commits. */
#define PREPARE_MAX_LAG_MS 1000

/*
 * The prepare phase of a switch: the cluster taking over exists and is a member of the global cluster (or is the
 * writer already, or a switch to it was accepted), and, graceful with the data plane, the RPO lag Aurora reports
 * for its region (aurora_global_db_status() on the writer) has fallen to PREPARE_MAX_LAG_MS: the fence that
 * follows then holds writes only briefly. Nothing is fenced, switched or failed over.
 */
static int au_prepare(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    au_ctx x;
    au_cluster r;
    au_global g;
    dr_aws *c;
    int back = args->prepare_for == DR_SWITCH_FAILBACK;
    au_side from = back ? AU_DR : AU_PRIMARY;
    const char *id, *region;
    char what[200];
    int rc;

    ctx_init(&x, res, args);
    memset(&g, 0, sizeof(g));
    id = back ? x.cluster : x.dr_cluster;
    region = back ? x.preg : x.dreg;
    if (!(c = client(&x, region, err)))
        return err->code ? err->code : DR_ENETWORK;
    if ((rc = au_describe_cluster(c, id, &r, err)) != 0)
        return rc;
    if ((rc = describe_global(&x, &g, err)) != 0)
        return rc;
    if (!r.found || !g.found || !au_global_member(&g, r.arn)) {
        if (back) {
            /* the failback rebuilds (or re-adds) the primary-region cluster and waits for it there */
            dr_report_state(H, res, "prepare_cluster", DR_STATUS_WARNING, r.found ? r.status : "MISSING", "member",
                            "%s in %s is not a member of %s: the failback rebuilds it from %s", id, region,
                            x.global_id, x.dreg);
            return 0;
        }
        return dr_error_set(err, r.found ? DR_ESTATE : DR_ENOTFOUND, "%s in %s %s: nothing to fail over to", id,
                            region, r.found ? "is not a member of the global cluster" : "not found");
    }
    if (back) {
        /* after a failover with data loss: measure the old primary while Aurora has not rebuilt it yet */
        const au_gmember *pm = au_global_member(&g, r.arn);
        double at;
        if (pm && pm->sync[0] && strcmp(pm->sync, "connected") != 0 && au_lost_forced(H, res, &at))
            lost_measure(&x);
    }
    if (cluster_serves(&r, &g)) {
        dr_report_state(H, res, "prepare_cluster", DR_STATUS_OK, "writer", "writer", "%s in %s is the writer already",
                        id, region);
        return 0;
    }
    if (g.failover_status[0] && strcmp(g.failover_to, r.arn) == 0) {
        dr_report_state(H, res, "prepare_cluster", DR_STATUS_OK, g.failover_status, "writer",
                        "a switch of %s to %s was accepted already", x.global_id, id);
        return 0;
    }
    dr_report_state(H, res, "prepare_cluster", DR_STATUS_OK, r.status, "member", "%s in %s takes over", id, region);
    if (x.forced || x.dry || !x.has_pg || back)
        return 0; /* forced: the side being left may be gone; without the data plane Aurora synchronises itself;
                     a failback may first rebuild the primary-region cluster, and waits for it to catch up then */
    {
        /* a graceful switch fences the side being left first: when it cannot be reached, it is not ready (a
           forced switch is the way then), and waiting for its lag would only spend the deadline */
        au_pg *pg = NULL;
        rc = pg_open(&x, from, 0, &pg, err);
        au_pg_close(pg);
        if (rc != 0) {
            if (rc == DR_ENETWORK)
                dr_error_prefix(err, "cannot reach the side being left to fence it, refusing a graceful switch (use "
                                     "--mode forced): ");
            dr_report_state(H, res, "prepare_rpo_lag", DR_STATUS_CRITICAL, NULL, "at most 1000 ms", "%s",
                            err->message);
            return rc;
        }
    }
    snprintf(what, sizeof(what), "the RPO lag of %s (aurora_global_db_status) to fall to %d ms", region,
             PREPARE_MAX_LAG_MS);
    rc = wait_region_synced(&x, from, region, PREPARE_MAX_LAG_MS, what, err);
    dr_report_state(H, res, "prepare_rpo_lag", rc == 0 ? DR_STATUS_OK : DR_STATUS_CRITICAL, rc == 0 ? "caught up" : NULL,
                    "at most 1000 ms", "%s", rc == 0 ? what : err->message);
    return rc;
}

/* ------------------------------------------------------------ plumbing --- */

static int au_init(const dr_host_api *host, dr_error *err)
{
    if (!DR_HAS_MEMBER(host, dr_host_api, aws))
        return dr_error_set(err, DR_EPLUGIN, "the host is too old for the aurora plugin (no AWS clients)");
    H = host;
    au_diagnose_init(host);
    return 0;
}

static int valid_acu(double v)
{
    return v >= 0 && v <= 256 && fabs(v * 2 - floor(v * 2 + 0.5)) < 1e-9;
}

static int au_validate(dr_resource *res, dr_error *err)
{
    const char *mode = H->cfg_string(res, "mode");
    double mn = H->cfg_float(res, "min_capacity"), mx = H->cfg_float(res, "max_capacity");
    double wf = H->cfg_float(res, "lag_warning_fraction");
    int hosts = (H->cfg_string(res, "pg_primary_host") != NULL) + (H->cfg_string(res, "pg_dr_host") != NULL);

    if (mode && strcmp(mode, "replica") == 0)
        return dr_error_set(err, DR_ECONFIG,
                            "mode = \"replica\": Aurora PostgreSQL has no cross-region read replica clusters (RDS "
                            "refuses ReplicationSourceIdentifier for aurora-postgresql); its cross-region replica is "
                            "a global database: write mode = \"global\" with global_cluster = \"<name>\"");
    if (!H->cfg_string(res, "global_cluster"))
        return dr_error_set(err, DR_ECONFIG, "global_cluster is required: the global database's identifier");
    if (!valid_acu(mn) || !valid_acu(mx) || mx < 1 || mn > mx)
        return dr_error_set(err, DR_ECONFIG,
                            "min_capacity/max_capacity: 0 <= min <= max <= 256, max >= 1, in steps of 0.5 (got %g-%g)",
                            mn, mx);
    if (wf <= 0 || wf > 1)
        return dr_error_set(err, DR_ECONFIG, "lag_warning_fraction must be in (0, 1] (got %g)", wf);
    if (hosts == 1)
        return dr_error_set(err, DR_ECONFIG, "the data plane needs both pg_primary_host and pg_dr_host");
    if (hosts == 2) {
        const char *pf = H->cfg_string(res, "pg_password_file"), *pe = H->cfg_string(res, "pg_password_env");
        if (!H->cfg_string(res, "pg_database") || !H->cfg_string(res, "pg_user"))
            return dr_error_set(err, DR_ECONFIG, "the data plane needs pg_database and pg_user");
        if (pf && pe)
            return dr_error_set(err, DR_ECONFIG, "set pg_password_file or pg_password_env, not both");
        if (pf) {
            char *pw = NULL;
            int rc = dr_secret_read_file(pf, &pw, err);
            dr_secret_free(pw);
            if (rc != 0)
                return dr_error_prefix(err, "pg_password_file: ");
        }
        if (pe && !getenv(pe))
            return dr_error_set(err, DR_ECONFIG, "pg_password_env: the environment variable %s is not set", pe);
        if (H->cfg_int(res, "pg_primary_port") <= 0 || H->cfg_int(res, "pg_primary_port") > 65535 ||
            H->cfg_int(res, "pg_dr_port") <= 0 || H->cfg_int(res, "pg_dr_port") > 65535)
            return dr_error_set(err, DR_ECONFIG, "pg_primary_port and pg_dr_port must be TCP ports");
    }
    return 0;
}

/* The AWS services (signing names) this plugin calls. */
static const char *const services[] = {"rds", "monitoring", NULL};

static const dr_plugin_descriptor descriptor = {
    DR_PLUGIN_HEADER,
    "aurora",
    "1.0.0",
    "Aurora PostgreSQL global database across two regions, with data-plane checks and fencing",
    keys,
    sizeof(keys) / sizeof(keys[0]),
    NULL,
    au_init,
    au_validate,
    au_configure,
    au_verify,
    au_failover,
    au_failback,
    services,
    au_cleanup,
    au_prepare,
    au_diagnose, /* diagnose.c */
};

DR_PLUGIN_DECLARE_ENTRY
{
    return &descriptor;
}
