/* aurora.c: the aurora plugin: an Aurora PostgreSQL cross-region replica or global database, checked down to the data. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aurora.h"

/*
 * The runbook this replaces (configure-aurora-replica.sh and the promotion
 * steps): create a Serverless v2 replica cluster in the DR region, watch its
 * lag, promote it when the primary region is lost. On top of it: a real
 * data-plane check (WAL positions, read-only DR side), fencing of the old
 * primary before a graceful failover, and a failback that rebuilds
 * replication in the other direction and switches back.
 */

static const dr_host_api *H;

static const dr_config_key keys[] = {
    {"mode", DR_KEY_ENUM, 0, "replica", "replica|global",
     "replica: a cross-region read replica cluster (promoted on failover); global: an Aurora global database"},
    {"cluster", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL, "the primary cluster, in the primary region"},
    {"dr_cluster", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL, "the DR cluster, in the DR region"},
    {"global_cluster", DR_KEY_STRING, 0, NULL, NULL, "mode global: the global cluster identifier"},
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
    {"fence", DR_KEY_BOOL, 0, "true", NULL,
     "fence writes on the side being left (needs the data plane); a graceful switch is refused without it"},
    {"fence_method", DR_KEY_ENUM, 0, "system", "system|database",
     "system: ALTER SYSTEM (self-managed PostgreSQL); database: ALTER DATABASE (Aurora, no ALTER SYSTEM)"},
    {"lag_metric", DR_KEY_STRING, 0, NULL, NULL,
     "CloudWatch AWS/RDS lag metric (milliseconds); unset: AuroraGlobalDBReplicationLag (replica) or "
     "AuroraGlobalDBRPOLag (global)"},
    {"lag_window", DR_KEY_DURATION, 0, "10m", NULL, "how far back verify reads the lag metric (its maximum counts)"},
    {"lag_warning_fraction", DR_KEY_FLOAT, 0, "0.5", NULL, "lag above this fraction of the RPO is a WARNING"},
    {"max_lag_bytes", DR_KEY_INT, 0, "268435456", NULL, "data plane: replay gap in bytes above which verify warns"},
    {"lag_probe_time", DR_KEY_DURATION, 0, "10s", NULL,
     "data plane: how long verify waits for the DR side to replay the primary's current WAL position"},
    {"poll_interval", DR_KEY_DURATION, 0, "5s", NULL, "pause between control-plane polls while waiting"},
    {"pg_primary_host", DR_KEY_STRING, 0, NULL, NULL, "data plane: primary cluster endpoint (enables the data plane)"},
    {"pg_primary_port", DR_KEY_INT, 0, "5432", NULL, "data plane: primary port"},
    {"pg_dr_host", DR_KEY_STRING, 0, NULL, NULL, "data plane: DR cluster endpoint"},
    {"pg_dr_port", DR_KEY_INT, 0, "5432", NULL, "data plane: DR port"},
    {"pg_database", DR_KEY_STRING, 0, NULL, NULL, "data plane: database to connect to"},
    {"pg_user", DR_KEY_STRING, 0, NULL, NULL, "data plane: user (needs pg_monitor, pg_signal_backend; see the docs)"},
    {"pg_password_file", DR_KEY_STRING, 0, NULL, NULL, "data plane: file holding the password (mode 0600)"},
    {"pg_password_env", DR_KEY_STRING, 0, NULL, NULL, "data plane: environment variable holding the password"},
    {"pg_sslmode", DR_KEY_ENUM, 0, "verify-full", "disable|allow|prefer|require|verify-ca|verify-full",
     "data plane: libpq sslmode"},
    {"pg_sslrootcert", DR_KEY_STRING, 0, NULL, NULL, "data plane: CA bundle for verify-ca/verify-full"},
    {"pg_dr_application_name", DR_KEY_STRING, 0, NULL, NULL,
     "data plane: application_name of the DR standby in the primary's pg_stat_replication; unset: any"},
    {"pg_primary_application_name", DR_KEY_STRING, 0, NULL, NULL,
     "data plane: application_name of the primary-region standby in the DR side's pg_stat_replication; unset: any"},
    {"pg_timeout", DR_KEY_DURATION, 0, "10s", NULL, "data plane: bound of a connection attempt and of each statement"},
};

/* ------------------------------------------------------------ context --- */

typedef struct au_ctx {
    dr_resource *res;
    const dr_hook_args *args;
    int dry;
    int global;
    int forced;
    const char *cluster, *dr_cluster, *global_id;
    const char *preg, *dreg;
    double rpo, rto, warn;
    double poll_s;
    int has_pg;
    int fence;
    au_fence_method fence_method;
    au_pg_cfg pg;
    int64_t pg_timeout_ms;
    int64_t started_ms;
    dr_error lag_err; /* why a forced switch knew no lag (reported with data_loss_window) */
} au_ctx;

static void ctx_init(au_ctx *x, dr_resource *res, const dr_hook_args *args)
{
    const char *m;

    memset(x, 0, sizeof(*x));
    x->res = res;
    x->args = args;
    x->dry = args && args->dry_run;
    x->forced = args && args->mode == DR_MODE_FORCED;
    m = H->cfg_string(res, "mode");
    x->global = m && strcmp(m, "global") == 0;
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
    m = H->cfg_string(res, "fence_method");
    x->fence_method = m && strcmp(m, "database") == 0 ? AU_FENCE_DATABASE : AU_FENCE_SYSTEM;
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
    return (dr_aws *)H->aws(x->res, region, err);
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

/* The application_name a standby on `side` shows in its upstream's pg_stat_replication. */
static const char *standby_name(au_ctx *x, au_side standby_side)
{
    return H->cfg_string(x->res, standby_side == AU_DR ? "pg_dr_application_name" : "pg_primary_application_name");
}

static const char *lag_metric(au_ctx *x)
{
    const char *m = H->cfg_string(x->res, "lag_metric");
    if (m)
        return m;
    return x->global ? "AuroraGlobalDBRPOLag" : "AuroraGlobalDBReplicationLag";
}

/* Report a change: DONE when rc is 0, else FAILED with the error as detail. Returns rc. */
static int changed(au_ctx *x, int rc, const char *action, const char *target, const char *detail, const dr_error *err)
{
    H->change(x->res, rc == 0 ? DR_CHANGE_DONE : DR_CHANGE_FAILED, action, target,
              rc == 0 ? detail : (err && err->message[0] ? err->message : dr_strerror(rc)));
    return rc;
}

static void planned(au_ctx *x, const char *action, const char *target, const char *fmt, ...) DR_PRINTF(4, 5);
static void planned(au_ctx *x, const char *action, const char *target, const char *fmt, ...)
{
    char detail[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    H->change(x->res, DR_CHANGE_PLANNED, action, target, detail);
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

/* Is cluster `id` the writer: a standalone cluster (replica mode) or the global writer (global mode)? */
static int cluster_serves(au_ctx *x, const au_cluster *cl, const au_global *g)
{
    if (!cl->found)
        return 0;
    if (!x->global)
        return cl->source[0] == '\0';
    {
        const au_gmember *w = au_global_writer(g);
        return w && strcmp(w->arn, cl->arn) == 0;
    }
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

/* Wait until the DR side has replayed `target` (a primary WAL position). */
typedef struct wait_replay {
    au_pg *standby;
    uint64_t target;
    uint64_t last;
} wait_replay;

static int probe_replay(void *arg, char *status, size_t len, dr_error *err)
{
    wait_replay *w = arg;
    int rc = au_pg_replay_lsn(w->standby, &w->last, err);

    if (rc != 0)
        return rc;
    if (w->last >= w->target)
        return 1;
    snprintf(status, len, "%llu bytes to replay", (unsigned long long)(w->target - w->last));
    return 0;
}

static int wait_replayed(au_ctx *x, au_pg *standby, uint64_t target, const char *what, dr_error *err)
{
    wait_replay w = {standby, target, 0};
    return dr_wait_for(H, x->res, what, 100, 0, probe_replay, &w, err);
}

/* Wait until `upstream` streams to its standby (pg_stat_replication.state = streaming). */
typedef struct wait_stream {
    au_pg *upstream;
    const char *app;
} wait_stream;

static int probe_stream(void *arg, char *status, size_t len, dr_error *err)
{
    wait_stream *w = arg;
    au_pg_repl r;
    int rc = au_pg_replication(w->upstream, w->app, &r, err);

    if (rc != 0)
        return rc;
    snprintf(status, len, "%s", r.found ? r.state : "no standby connected");
    return r.found && strcmp(r.state, "streaming") == 0;
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
static void check_instance(au_ctx *x, dr_aws *c, const au_cluster *cl, const char *name, int writer_only)
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
    if (writer_only)
        rc = au_describe_instance(c, w->id, &in, &err);
    else
        rc = cluster_instance(c, cl, &in, &err);
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
    dr_check c;

    snprintf(ob, sizeof(ob), "%llu", (unsigned long long)observed);
    snprintf(th, sizeof(th), "%llu", (unsigned long long)threshold);
    memset(&c, 0, sizeof(c));
    c.struct_size = sizeof(c);
    c.name = name;
    c.status = st;
    c.observed = ob;
    c.threshold = th;
    c.unit = "bytes";
    c.detail = detail;
    H->check(x->res, &c);
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
 * Lag of `standby` behind `upstream` by WAL position. Bytes: the upstream's
 * current position minus what the standby has replayed. Seconds: how long
 * the standby takes to replay the upstream's position as of now (0 when
 * nothing is outstanding), at least the upstream's own replay_lag
 * measurement. Replay that does not move at all within the probe time is
 * stalled.
 */
typedef struct dp_lag {
    uint64_t bytes;
    double seconds;
    int caught_up;  /* reached the target within the probe time */
    int stalled;    /* not caught up and not advancing */
    au_pg_repl repl;
} dp_lag;

static int dp_measure_lag(au_ctx *x, au_pg *upstream, au_pg *standby, au_side standby_side, double probe_s,
                          dp_lag *out, dr_error *err)
{
    uint64_t target, first, now;
    int64_t t0 = dr_mono_ms(), limit;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = au_pg_replication(upstream, standby_name(x, standby_side), &out->repl, err);
    if (rc != 0)
        return rc;
    rc = au_pg_current_lsn(upstream, &target, err);
    if (rc != 0)
        return rc;
    rc = au_pg_replay_lsn(standby, &first, err);
    if (rc != 0)
        return rc;
    out->bytes = first >= target ? 0 : target - first;
    if (out->bytes == 0) {
        out->caught_up = 1;
        return 0;
    }
    limit = (int64_t)(probe_s * 1000.0);
    if (H->remaining_ms(x->res) / 2 < limit)
        limit = H->remaining_ms(x->res) / 2;
    now = first;
    while (now < target && dr_mono_ms() - t0 < limit) {
        H->progress(x->res, "measuring the replay lag: %llu bytes outstanding",
                    (unsigned long long)(target - now));
        rc = H->sleep_ms(x->res, 50);
        if (rc != 0)
            return dr_error_set(err, rc, "interrupted while measuring the replay lag");
        rc = au_pg_replay_lsn(standby, &now, err);
        if (rc != 0)
            return rc;
    }
    out->seconds = (double)(dr_mono_ms() - t0) / 1000.0;
    out->caught_up = now >= target;
    out->stalled = !out->caught_up && now == first;
    if (out->repl.has_replay_lag && out->repl.replay_lag > out->seconds)
        out->seconds = out->repl.replay_lag;
    return 0;
}

/*
 * The data-plane checks of the normal topology: primary writable, DR side
 * read-only, streaming, lag in bytes and seconds. A check whose premise
 * failed (the DR side accepts writes, the primary is a standby) is left out:
 * the failed premise is the one finding. Returns the lag in seconds, or -1.
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
    else if (!v->role[AU_DR].in_recovery)
        dr_report_state(H, x->res, "dp_dr_read_only", DR_STATUS_CRITICAL, role_text(&v->role[AU_DR]), "standby",
                        "%s is not a standby%s: two writers (split brain); streaming and lag checks left out",
                        au_pg_name(v->pg[AU_DR]),
                        v->role_ok[AU_PRIMARY] && !v->role[AU_PRIMARY].in_recovery ? " and the primary is one too"
                                                                                    : "");
    else
        dr_report_state(H, x->res, "dp_dr_read_only", DR_STATUS_OK, "standby", "standby", "%s is in recovery",
                        au_pg_name(v->pg[AU_DR]));

    /* The replication checks need a primary and a standby. */
    if (v->role_ok[AU_DR] && !v->role[AU_DR].in_recovery)
        return -1;
    if (v->role_ok[AU_PRIMARY] && v->role[AU_PRIMARY].in_recovery)
        return -1;
    if (!v->role_ok[AU_PRIMARY] || !v->role_ok[AU_DR]) {
        const dr_error *e = !v->role_ok[AU_PRIMARY] ? &v->err[AU_PRIMARY] : &v->err[AU_DR];
        dr_report_unknown(H, x->res, "dp_streaming", "streaming", e);
        dr_report_unknown(H, x->res, "dp_replay_lag_bytes", NULL, e);
        dr_report_unknown(H, x->res, "dp_replay_lag", NULL, e);
        return -1;
    }
    {
        dp_lag l;
        int rc;

        dr_error_clear(&err);
        rc = dp_measure_lag(x, v->pg[AU_PRIMARY], v->pg[AU_DR], AU_DR, H->cfg_float(x->res, "lag_probe_time"), &l,
                            &err);
        if (rc != 0) {
            dr_report_unknown(H, x->res, "dp_streaming", "streaming", &err);
            dr_report_unknown(H, x->res, "dp_replay_lag_bytes", NULL, &err);
            dr_report_unknown(H, x->res, "dp_replay_lag", NULL, &err);
            return -1;
        }
        dr_report_state(H, x->res, "dp_streaming",
                        l.repl.found && strcmp(l.repl.state, "streaming") == 0 ? DR_STATUS_OK : DR_STATUS_CRITICAL,
                        l.repl.found ? l.repl.state : "absent", "streaming",
                        l.repl.found ? "pg_stat_replication on the primary" : "no standby in the primary's pg_stat_replication");
        report_bytes(x, "dp_replay_lag_bytes", (int64_t)l.bytes > H->cfg_int(x->res, "max_lag_bytes") ? DR_STATUS_WARNING
                                                                                                   : DR_STATUS_OK,
                     l.bytes, (uint64_t)H->cfg_int(x->res, "max_lag_bytes"),
                     "primary WAL position minus the DR side's replayed position");
        lag = l.seconds;
        if (l.stalled)
            dr_report_number(H, x->res, "dp_replay_lag", DR_STATUS_CRITICAL, lag, x->rpo, "seconds",
                             "replay did not advance in %.1fs with %llu bytes outstanding", l.seconds,
                             (unsigned long long)l.bytes);
        else
            dr_report_number(H, x->res, "dp_replay_lag", dr_lag_status(lag, x->rpo, x->warn), lag, x->rpo, "seconds",
                             "%s", l.bytes == 0 ? "DR side has replayed the primary's current WAL position"
                                   : l.caught_up ? "time for the DR side to replay the primary's current WAL position"
                                                 : "DR side still behind after the probe time (a lower bound)");
    }
    return lag;
}

/* The lag metric in the DR region (milliseconds); -1 when unknown (reported UNKNOWN). */
static double check_metric(au_ctx *x, dr_aws *dc, const dr_error *dc_err)
{
    dr_aws_dim dim = {"DBClusterIdentifier", x->dr_cluster};
    double window = H->cfg_float(x->res, "lag_window");
    dr_aws_metric m;
    dr_error err;
    char th[32];
    double lag;

    snprintf(th, sizeof(th), "%.6g", x->rpo);
    if (!dc) {
        dr_report_unknown(H, x->res, "replication_lag", th, dc_err);
        return -1;
    }
    dr_error_clear(&err);
    if (dr_aws_metric_get(dc, "AWS/RDS", lag_metric(x), &dim, 1, "Maximum", window > 0 ? window : 600, 60, &m,
                          &err) != 0) {
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

static void verify_normal(au_ctx *x, int with_lag, double *rpo_seen)
{
    dr_error perr, derr, gerr, err;
    dr_aws *pc, *dc;
    int g_state = 0; /* global cluster: -1 unknown, 0 absent, 1 read */
    topo t;
    char p_arn[256] = "";
    double lag_metric_s = -1, lag_dp = -1;

    memset(&t, 0, sizeof(t));
    dr_error_clear(&perr);
    dr_error_clear(&derr);
    pc = client(x, x->preg, &perr);
    dc = client(x, x->dreg, &derr);

    /* 1. The primary cluster and its writer. */
    if (pc && au_describe_cluster(pc, x->cluster, &t.p, &perr) == 0)
        t.p_ok = 1;
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
        check_instance(x, pc, &t.p, "primary_writer_status", 1);
        snprintf(p_arn, sizeof(p_arn), "%s", t.p.arn);
    }

    /* The primary's ARN is known without the primary region: same account as the DR cluster. */
    if (dc && au_describe_cluster(dc, x->dr_cluster, &t.r, &derr) == 0)
        t.r_ok = 1;
    dr_error_clear(&err);
    if (!p_arn[0] && arn_for(x, t.r_ok && t.r.found ? t.r.arn : NULL, x->preg, x->cluster, p_arn, sizeof(p_arn),
                             &err) != 0)
        p_arn[0] = '\0';

    /* 2. Global mode: the global cluster, written by the primary. */
    if (x->global) {
        dr_error_clear(&gerr);
        if (describe_global(x, &t.g, &gerr) != 0) {
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
        if (!x->global) {
            dr_report_state(H, x->res, "dr_replication_source",
                            p_arn[0] && strcmp(t.r.source, p_arn) == 0 ? DR_STATUS_OK : DR_STATUS_CRITICAL,
                            t.r.source[0] ? t.r.source : "none (standalone)", p_arn[0] ? p_arn : x->cluster,
                            "%s", t.r.source[0] ? "ReplicationSourceIdentifier of the DR cluster"
                                                : "the DR cluster replicates from nothing");
        } else if (g_state == 1) {
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
        check_instance(x, dc, &t.r, "dr_instance_status", 0);
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
            lag_metric_s = check_metric(x, dc, &derr);
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
        if (!x->global) {
            dr_report_state(H, x->res, "dr_cluster_role", r.source[0] ? DR_STATUS_CRITICAL : DR_STATUS_OK,
                            r.source[0] ? "replica" : "writer", "writer", "%s%s", r.source[0] ? "still replicates from " : "standalone cluster",
                            r.source);
        } else if (describe_global(x, &g, &err) != 0) {
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
                            v.role[AU_PRIMARY].in_recovery || v.role[AU_PRIMARY].default_read_only
                                ? ""
                                : ": the old primary accepts writes (split brain)");
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
        verify_serving_dr(&x);
        return 0;
    }
    verify_normal(&x, 1, &rpo);
    if (rpo >= 0)
        H->rpo_observed(res, rpo);
    return 0;
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
        planned(x, action, inst, "%s", detail);
        return 0;
    }
    rc = au_create_instance(c, inst, cluster, klass, err);
    return changed(x, rc, action, inst, detail, err);
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
    if (x->global)
        s.global_id = x->global_id;
    else
        s.source_arn = source->arn;
    if (s.encrypted && !s.kms_key)
        return dr_error_set(err, DR_ECONFIG, "the source %s is encrypted: set %s to a KMS key in the target region",
                            source->id, primary_side ? "primary_kms_key" : "dr_kms_key");
    snprintf(detail, sizeof(detail), "%s of %s, %s %s, Serverless v2 %g-%g ACUs%s",
             x->global ? "global secondary" : "read replica", x->global ? x->global_id : source->arn, AU_ENGINE,
             dash(s.engine_version), s.min_acu, s.max_acu, s.encrypted ? ", encrypted" : "");
    if (x->dry) {
        planned(x, primary_side ? "create_primary_cluster" : "create_dr_cluster", id, "%s", detail);
    } else {
        rc = au_create_cluster(c, &s, NULL, err);
        if (changed(x, rc, primary_side ? "create_primary_cluster" : "create_dr_cluster", id, detail, err) != 0)
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

    /* 2. Global mode: the global cluster, with the primary as its writer. */
    if (x.global) {
        rc = describe_global(&x, &g, err);
        if (rc != 0)
            return rc;
        if (!g.found) {
            if (x.dry) {
                planned(&x, "create_global_cluster", x.global_id, "from %s", p.arn);
            } else {
                rc = au_create_global(pc, x.global_id, p.arn, err);
                if (changed(&x, rc, "create_global_cluster", x.global_id, p.arn, err) != 0)
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
        if (!x.global && strcmp(r.source, p.arn) != 0)
            return dr_error_set(err, DR_ESTATE,
                                "DR cluster %s exists but is not a read replica of %s (source: %s); a standalone "
                                "cluster cannot be re-attached: rename or delete it, then run configure again",
                                x.dr_cluster, p.arn, dash(r.source));
        if (x.global) {
            au_global g2;
            rc = describe_global(&x, &g2, err);
            if (rc != 0)
                return rc;
            if (!x.dry && (!g2.found || !au_global_member(&g2, r.arn)))
                return dr_error_set(err, DR_ESTATE,
                                    "DR cluster %s exists but is not a member of global cluster %s: rename or delete "
                                    "it, then run configure again",
                                    x.dr_cluster, x.global_id);
        }
        if (!r.has_scaling || fabs(r.min_acu - H->cfg_float(res, "min_capacity")) > 1e-9 ||
            fabs(r.max_acu - H->cfg_float(res, "max_capacity")) > 1e-9) {
            char detail[128];
            snprintf(detail, sizeof(detail), "Serverless v2 %s%g-%g ACUs -> %g-%g ACUs", r.has_scaling ? "" : "(none) ",
                     r.min_acu, r.max_acu, H->cfg_float(res, "min_capacity"), H->cfg_float(res, "max_capacity"));
            if (x.dry) {
                planned(&x, "modify_dr_scaling", x.dr_cluster, "%s", detail);
            } else {
                rc = au_modify_scaling(dc, x.dr_cluster, H->cfg_float(res, "min_capacity"),
                                       H->cfg_float(res, "max_capacity"), err);
                if (changed(&x, rc, "modify_dr_scaling", x.dr_cluster, detail, err) != 0)
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
        planned(x, action, target, "%s: default_transaction_read_only = on, end other client sessions",
                au_pg_name(pg));
        return 0;
    }
    rc = au_pg_fence(pg, x->fence_method, x->pg.database, &ch, err);
    if (rc == 0)
        rc = au_pg_terminate_others(pg, &n, err);
    snprintf(detail, sizeof(detail), "%s: read-only for new transactions (%s), %d other session%s ended",
             au_pg_name(pg), x->fence_method == AU_FENCE_SYSTEM ? "ALTER SYSTEM" : "ALTER DATABASE", n,
             n == 1 ? "" : "s");
    if (rc != 0 || ch || n > 0)
        changed(x, rc, action, target, detail, err);
    return rc;
}

static int unfence_side(au_ctx *x, au_pg *pg, au_side side, dr_error *err)
{
    const char *action = side == AU_PRIMARY ? "unfence_primary" : "unfence_dr";
    const char *target = side == AU_PRIMARY ? x->cluster : x->dr_cluster;
    int ch = 0, rc;

    rc = au_pg_unfence(pg, x->fence_method, x->pg.database, &ch, err);
    if (rc != 0 || ch)
        changed(x, rc, action, target, "default_transaction_read_only reset", err);
    return rc;
}

/*
 * A graceful switch failed after the fence and before the other side took
 * over: give the fenced side its writes back rather than leave nobody
 * writable. Only called once the other side is known not to serve.
 */
static void undo_fence(au_ctx *x, au_side side, const dr_error *why)
{
    au_pg *pg = NULL;
    dr_error e;

    if (x->forced || !x->has_pg || x->dry)
        return;
    dr_error_clear(&e);
    if (pg_open(x, side, 0, &pg, &e) == 0)
        unfence_side(x, pg, side, &e);
    if (e.code)
        H->log(x->res, DR_LOG_ERROR, "the switch failed (%s) and the fence could not be lifted: %s",
               why ? why->message : "?", e.message);
    else
        H->log(x->res, DR_LOG_WARN, "the switch failed (%s): writes allowed again on the %s side", why ? why->message : "?",
               side == AU_PRIMARY ? "primary" : "DR");
    au_pg_close(pg);
}

/* After a failed switch call: does the side we switched to serve anyway (the call may have gone through)? -1: unknown. */
static int serves_now(au_ctx *x, dr_aws *c, const char *id)
{
    au_cluster cl;
    au_global g;
    dr_error e;

    dr_error_clear(&e);
    memset(&g, 0, sizeof(g));
    if (au_describe_cluster(c, id, &cl, &e) != 0 || (x->global && describe_global(x, &g, &e) != 0))
        return -1;
    return cluster_serves(x, &cl, &g);
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
 * Switch writes from side `from` to side `to` on the data plane before the
 * control-plane switch: graceful fences `from` and waits until `to` has
 * replayed everything (data loss 0); forced makes one bounded attempt to
 * fence and measure and never waits. *loss is the data-loss window in
 * seconds, or -1 when unknown.
 */
static int dp_handover(au_ctx *x, au_side from, double metric_lag, double *loss, dr_error *err)
{
    au_side to = from == AU_PRIMARY ? AU_DR : AU_PRIMARY;
    au_pg *src = NULL, *dst = NULL;
    uint64_t target = 0, replayed = 0;
    int rc;

    *loss = -1;
    if (!x->has_pg) {
        if (!x->forced)
            return dr_error_set(err, DR_ESTATE,
                                "a graceful switch needs fencing through the data plane (pg_* keys) and none is "
                                "configured; use --mode forced to switch without it");
        *loss = metric_lag;
        return 0;
    }
    if (!x->forced && !x->fence)
        return dr_error_set(err, DR_ESTATE,
                            "a graceful switch needs fencing and fence = false; use --mode forced to switch without it");

    if (x->forced) {
        dr_error e2;
        /*
         * The side taking over must take the writes: when it cannot be
         * reached, fencing the side being left would leave nobody writable.
         */
        rc = pg_open(x, to, 0, &dst, err);
        if (rc != 0) {
            dr_error_prefix(err, "the side taking over cannot be reached, nothing fenced or switched: ");
            return rc;
        }
        /* One bounded attempt at the side being left: fence it and see how far behind we are. */
        dr_error_clear(&e2);
        if (pg_open(x, from, 5000, &src, &e2) != 0) {
            H->log(x->res, DR_LOG_WARN, "forced: the side being left is not reachable (%s); switching without fencing",
                   e2.message);
            *loss = metric_lag;
            au_pg_close(dst);
            return 0;
        }
        if (x->fence && fence_side(x, src, from, &e2) != 0)
            H->log(x->res, DR_LOG_WARN, "forced: fencing failed: %s", e2.message);
        if (au_pg_current_lsn(src, &target, &e2) == 0 && au_pg_replay_lsn(dst, &replayed, &e2) == 0) {
            /* Everything the old side wrote is here: nothing lost, whatever the metric said. */
            *loss = replayed >= target ? 0 : metric_lag;
            H->log(x->res, DR_LOG_INFO, "forced: %llu bytes of WAL not replayed on the side taking over",
                   (unsigned long long)(replayed >= target ? 0 : target - replayed));
        } else {
            *loss = metric_lag;
        }
        au_pg_close(src);
        au_pg_close(dst);
        return 0;
    }

    /* Graceful: the side being left must be reachable, or we refuse. */
    rc = pg_open(x, from, 0, &src, err);
    if (rc != 0) {
        dr_error_prefix(err, "cannot fence the side being left, refusing a graceful switch (use --mode forced): ");
        return DR_ESTATE;
    }
    rc = pg_open(x, to, 0, &dst, err);
    if (rc != 0)
        goto out;
    if (x->dry) {
        fence_side(x, src, from, err);
        planned(x, "wait_replayed", to == AU_DR ? x->dr_cluster : x->cluster,
                "until the side taking over has replayed every WAL record of the fenced side");
        *loss = 0;
        goto out;
    }
    rc = fence_side(x, src, from, err);
    if (rc != 0)
        goto out;
    rc = au_pg_current_lsn(src, &target, err);
    if (rc == DR_ESTATE) {
        /* Already a standby: nothing more can be written there. */
        dr_error_clear(err);
        rc = 0;
        *loss = 0;
        goto out;
    }
    if (rc != 0)
        goto out;
    rc = wait_replayed(x, dst, target, to == AU_DR ? "the DR side to replay the fenced primary's WAL"
                                                   : "the primary side to replay the fenced DR side's WAL",
                       err);
    if (rc != 0 && rc != DR_ECANCELED) {
        au_pg_close(src);
        src = NULL;
        undo_fence(x, from, err);
    }
    if (rc == 0) {
        char lsn[32];
        au_lsn_format(target, lsn, sizeof(lsn));
        H->log(x->res, DR_LOG_INFO, "the side taking over replayed up to %s: nothing is lost", lsn);
        *loss = 0;
    }
out:
    au_pg_close(src);
    au_pg_close(dst);
    return rc;
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
                         loss, x->forced ? x->rpo : 0, "seconds", "%s", x->forced ? "forced: from the last known lag"
                                                                                 : "graceful: fenced and fully replayed");
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
    if (x.global) {
        rc = describe_global(&x, &g, err);
        if (rc != 0)
            return rc;
        if (!g.found || !au_global_member(&g, r.arn))
            return dr_error_set(err, DR_ESTATE, "%s is not a member of global cluster %s", x.dr_cluster, x.global_id);
    }

    already = cluster_serves(&x, &r, &g);
    if (!already) {
        /* 2. Hand the writes over on the data plane: fence and drain (graceful), or one attempt (forced). */
        double metric = x.forced ? last_known_lag(&x) : -1;
        rc = dp_handover(&x, AU_PRIMARY, metric, &loss, err);
        if (rc != 0)
            return rc;

        /* 3. Promote: PromoteReadReplicaDBCluster, or switch over / fail over the global database. */
        if (!x.global) {
            if (x.dry) {
                planned(&x, "promote_dr_cluster", x.dr_cluster, "PromoteReadReplicaDBCluster in %s", x.dreg);
            } else {
                rc = au_promote(dc, x.dr_cluster, err);
                if (changed(&x, rc, "promote_dr_cluster", x.dr_cluster, "PromoteReadReplicaDBCluster", err) != 0) {
                    if (serves_now(&x, dc, x.dr_cluster) == 0)
                        undo_fence(&x, AU_PRIMARY, err);
                    return rc;
                }
            }
        } else {
            const char *op = x.forced ? "failover_global_cluster" : "switchover_global_cluster";
            if (x.dry) {
                planned(&x, op, x.global_id, "%s to %s", x.forced ? "FailoverGlobalCluster (AllowDataLoss)"
                                                                  : "SwitchoverGlobalCluster", r.arn);
            } else {
                rc = x.forced ? au_failover_global(dc, x.global_id, r.arn, err)
                              : au_switchover(dc, x.global_id, r.arn, err);
                if (changed(&x, rc, op, x.global_id, r.arn, err) != 0) {
                    if (serves_now(&x, dc, x.dr_cluster) == 0)
                        undo_fence(&x, AU_PRIMARY, err);
                    return rc;
                }
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
    rc = wait_cluster_ready(&x, dc, x.dr_cluster, !x.global, 0, x.global, err);
    if (rc != 0)
        return rc;
    rc = open_for_writes(&x, AU_DR, &writable_at, err);
    if (rc != 0)
        return rc;
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

/* Rename a cluster out of the way (never delete: it may hold the only copy of something). */
static int retire(au_ctx *x, dr_aws *c, const char *id, const char *action, dr_error *err)
{
    char new_id[80], detail[200];
    wait_gone w = {c, id};
    int rc;

    retired_name(x, id, new_id, sizeof(new_id));
    snprintf(detail, sizeof(detail), "renamed to %s (kept, not deleted)", new_id);
    if (x->dry) {
        planned(x, action, id, "%s", detail);
        return 0;
    }
    rc = au_rename_cluster(c, id, new_id, err);
    if (changed(x, rc, action, id, detail, err) != 0)
        return rc;
    return dr_wait_for(H, x->res, "the old cluster name to be free", poll_ms(x), 0, probe_gone, &w, err);
}

/* Wait until `standby` streams from `upstream` and has replayed everything the upstream has. */
static int wait_in_sync(au_ctx *x, au_side standby_side, dr_error *err)
{
    au_side up = standby_side == AU_DR ? AU_PRIMARY : AU_DR;
    au_pg *u = NULL, *s = NULL;
    au_pg_role role;
    uint64_t target;
    wait_stream ws;
    int rc;

    if (!x->has_pg || x->dry)
        return 0;
    rc = pg_open(x, up, 0, &u, err);
    if (rc == 0)
        rc = pg_open(x, standby_side, 0, &s, err);
    if (rc == 0)
        rc = au_pg_get_role(s, &role, err);
    if (rc != 0)
        goto out;
    if (!role.in_recovery) {
        /* Nothing will ever make it stream: say so now rather than at the deadline. */
        rc = dr_error_set(err, DR_ESTATE, "%s is not a standby (it is %s): it cannot follow the %s side",
                          au_pg_name(s), role_text(&role), up == AU_PRIMARY ? "primary" : "DR");
        goto out;
    }
    ws.upstream = u;
    ws.app = standby_name(x, standby_side);
    rc = dr_wait_for(H, x->res, standby_side == AU_DR ? "the DR side to stream from the primary"
                                                       : "the primary side to stream from the DR side",
                     200, 0, probe_stream, &ws, err);
    if (rc == 0)
        rc = au_pg_current_lsn(u, &target, err);
    if (rc == 0)
        rc = wait_replayed(x, s, target, standby_side == AU_DR ? "the DR side to catch up" : "the primary side to catch up",
                           err);
out:
    au_pg_close(u);
    au_pg_close(s);
    return rc;
}

/* Reset a fence left on a standby (the system method's file is per server and survives a rewind). */
static void unfence_standby(au_ctx *x, au_side side)
{
    au_pg *pg = NULL;
    au_pg_role role;
    dr_error e;

    if (!x->has_pg || x->dry || x->fence_method != AU_FENCE_SYSTEM)
        return;
    dr_error_clear(&e);
    /* Only a standby: unfencing a server that still takes writes would make two writers. */
    if (pg_open(x, side, 0, &pg, &e) == 0 && au_pg_get_role(pg, &role, &e) == 0 && role.in_recovery)
        unfence_side(x, pg, side, &e);
    if (e.code)
        H->log(x->res, DR_LOG_WARN, "could not reset the fence on the %s side: %s", side == AU_DR ? "DR" : "primary",
               e.message);
    au_pg_close(pg);
}

/*
 * Replica mode. Stages, detected from what exists (so a second run, or a run
 * after a crash, resumes where the last one stopped):
 *   1  the DR cluster serves alone; the old primary is standalone or gone
 *   2  a new primary-region cluster replicates from the DR cluster
 *   3  the primary-region cluster was promoted; the DR cluster is fenced
 *   4  no DR cluster: create it as a replica of the primary
 *   5  the original topology
 */
static int failback_replica(au_ctx *x, dr_aws *pc, dr_aws *dc, int *switched, double *loss, double *writable_at,
                            dr_error *err)
{
    const char *pklass = H->cfg_string(x->res, "primary_instance_class");
    const char *dklass = H->cfg_string(x->res, "dr_instance_class");
    au_cluster p, r;
    int stage, start, rc;

    rc = au_describe_cluster(pc, x->cluster, &p, err);
    if (rc == 0)
        rc = au_describe_cluster(dc, x->dr_cluster, &r, err);
    if (rc != 0)
        return rc;
    if (r.found && p.found && strcmp(r.source, p.arn) == 0)
        stage = 5;
    else if (p.found && r.found && strcmp(p.source, r.arn) == 0)
        stage = 2;
    else if (r.found && !r.source[0] && p.found && !p.source[0])
        stage = p.create_time > r.create_time ? 3 : 1; /* the newer standalone one is the rebuilt primary */
    else if (r.found && !r.source[0] && !p.found)
        stage = 1;
    else if (!r.found && p.found && !p.source[0])
        stage = 4;
    else
        return dr_error_set(err, DR_ESTATE, "cannot tell how to fail back: %s is %s (source %s), %s is %s (source %s)",
                            x->cluster, p.found ? p.status : "missing", dash(p.source), x->dr_cluster,
                            r.found ? r.status : "missing", dash(r.source));
    start = stage;
    H->log(x->res, DR_LOG_INFO, "failback starts at stage %d", stage);

    if (stage == 1) {
        /* Re-establish replication in the other direction: a new primary-region replica of the DR cluster. */
        if (p.found) {
            rc = retire(x, pc, x->cluster, "retire_old_primary", err);
            if (rc != 0)
                return rc;
        }
        rc = create_follower(x, pc, &r, 1, x->cluster, NULL, pklass, err);
        if (rc != 0)
            return rc;
        stage = 2;
    }
    if (stage == 2) {
        if (start == 2) {
            /* resumed: the replica may lack its instance */
            rc = ensure_instance(x, pc, x->cluster, NULL, pklass, 1, p.n_members, err);
            if (rc != 0)
                return rc;
        }
        if (!x->dry) {
            rc = wait_cluster_ready(x, pc, x->cluster, 0, 1, 0, err);
            if (rc == 0 && !x->forced)
                rc = wait_in_sync(x, AU_PRIMARY, err);
            if (rc != 0)
                return rc;
        }
        rc = dp_handover(x, AU_DR, -1, loss, err);
        if (rc != 0)
            return rc;
        if (x->dry) {
            planned(x, "promote_primary_cluster", x->cluster, "PromoteReadReplicaDBCluster in %s", x->preg);
        } else {
            rc = au_promote(pc, x->cluster, err);
            if (changed(x, rc, "promote_primary_cluster", x->cluster, "PromoteReadReplicaDBCluster", err) != 0) {
                if (serves_now(x, pc, x->cluster) == 0)
                    undo_fence(x, AU_DR, err);
                return rc;
            }
            *switched = 1;
        }
        stage = 3;
    }
    if (stage == 3) {
        if (!x->dry) {
            rc = wait_cluster_ready(x, pc, x->cluster, 1, 1, 0, err);
            if (rc == 0)
                rc = open_for_writes(x, AU_PRIMARY, writable_at, err);
            if (rc != 0)
                return rc;
        }
        /* The DR cluster served alone; it cannot become a replica again: keep it under another name. */
        if (r.found) {
            rc = retire(x, dc, x->dr_cluster, "retire_old_dr_cluster", err);
            if (rc != 0)
                return rc;
        }
        stage = 4;
    }
    if (stage == 4) {
        if (!x->dry) {
            rc = au_describe_cluster(pc, x->cluster, &p, err);
            if (rc != 0)
                return rc;
        }
        rc = create_follower(x, dc, &p, 0, x->dr_cluster, H->cfg_string(x->res, "dr_instance"), dklass, err);
        if (rc != 0)
            return rc;
        if (!x->dry) {
            rc = wait_cluster_ready(x, dc, x->dr_cluster, 0, 1, 0, err);
            if (rc != 0)
                return rc;
        }
    }
    if (start == 5) {
        /* resumed: the new DR cluster may lack its instance */
        rc = ensure_instance(x, dc, x->dr_cluster, H->cfg_string(x->res, "dr_instance"), dklass, 0, r.n_members, err);
        if (rc == 0 && !x->dry)
            rc = wait_cluster_ready(x, dc, x->dr_cluster, 0, 1, 0, err);
        if (rc != 0)
            return rc;
    }
    if (x->dry)
        return 0;
    /* Make sure the writer is open and the DR side streams and is caught up. */
    if (*writable_at < 0) {
        rc = open_for_writes(x, AU_PRIMARY, writable_at, err);
        if (rc != 0)
            return rc;
    }
    unfence_standby(x, AU_DR);
    return x->forced ? 0 : wait_in_sync(x, AU_DR, err);
}

/*
 * Global mode. The primary-region cluster must be a synchronised secondary
 * before the switch back; after a forced failover it may have been left
 * behind as a diverged writer, and is then replaced by a new secondary.
 */
static int failback_global(au_ctx *x, dr_aws *pc, dr_aws *dc, int *switched, double *loss, double *writable_at,
                           dr_error *err)
{
    const char *pklass = H->cfg_string(x->res, "primary_instance_class");
    au_cluster p, r;
    au_global g;
    const au_gmember *w, *pm;
    int rc, rebuild = 0;

    rc = au_describe_cluster(pc, x->cluster, &p, err);
    if (rc == 0)
        rc = au_describe_cluster(dc, x->dr_cluster, &r, err);
    if (rc == 0)
        rc = describe_global(x, &g, err);
    if (rc != 0)
        return rc;
    if (!g.found)
        return dr_error_set(err, DR_ESTATE, "global cluster %s not found", x->global_id);
    w = au_global_writer(&g);
    if (p.found && w && strcmp(w->arn, p.arn) == 0)
        goto topology; /* already back */
    if (!r.found || !w || strcmp(w->arn, r.arn) != 0)
        return dr_error_set(err, DR_ESTATE, "cannot fail back: the writer of %s is %s, not %s", x->global_id,
                            w ? w->arn : "none", x->dr_cluster);

    /* 1. The primary-region cluster must follow the DR cluster again. */
    pm = p.found ? au_global_member(&g, p.arn) : NULL;
    if (!pm) {
        rebuild = 1;
    } else if (x->has_pg) {
        /* A member whose data plane is still a writer diverged (forced failover): rebuild it. */
        au_pg *pg = NULL;
        au_pg_role role;
        dr_error e2;
        dr_error_clear(&e2);
        if (pg_open(x, AU_PRIMARY, 0, &pg, &e2) == 0 && au_pg_get_role(pg, &role, &e2) == 0 && !role.in_recovery)
            rebuild = 1;
        au_pg_close(pg);
    }
    if (rebuild) {
        if (pm) {
            if (x->dry) {
                planned(x, "remove_old_primary_from_global", x->cluster, "RemoveFromGlobalCluster %s", x->global_id);
            } else {
                rc = au_remove_from_global(pc, x->global_id, p.arn, err);
                if (changed(x, rc, "remove_old_primary_from_global", x->cluster, x->global_id, err) != 0)
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
        rc = wait_cluster_ready(x, pc, x->cluster, 0, 1, 0, err);
        if (rc == 0 && !x->forced)
            rc = wait_in_sync(x, AU_PRIMARY, err);
        if (rc != 0)
            return rc;
        rc = au_describe_cluster(pc, x->cluster, &p, err);
        if (rc != 0)
            return rc;
    }

    /* 2. Switch back: fence the DR side, drain, switch over (or fail over when forced). */
    rc = dp_handover(x, AU_DR, -1, loss, err);
    if (rc != 0)
        return rc;
    {
        const char *op = x->forced ? "failover_global_cluster" : "switchover_global_cluster";
        if (x->dry) {
            planned(x, op, x->global_id, "to %s", p.found ? p.arn : x->cluster);
            return 0;
        }
        rc = x->forced ? au_failover_global(pc, x->global_id, p.arn, err) : au_switchover(pc, x->global_id, p.arn, err);
        if (changed(x, rc, op, x->global_id, p.arn, err) != 0) {
            if (serves_now(x, pc, x->cluster) == 0)
                undo_fence(x, AU_DR, err);
            return rc;
        }
        *switched = 1;
    }
    rc = wait_cluster_ready(x, pc, x->cluster, 0, 1, 1, err);
    if (rc != 0)
        return rc;

topology:
    if (x->dry)
        return 0;
    rc = open_for_writes(x, AU_PRIMARY, writable_at, err);
    if (rc != 0)
        return rc;
    unfence_standby(x, AU_DR);
    return x->forced ? 0 : wait_in_sync(x, AU_DR, err);
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
    rc = x.global ? failback_global(&x, pc, dc, &switched, &loss, &writable_at, err)
                  : failback_replica(&x, pc, dc, &switched, &loss, &writable_at, err);
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

/* The replay gap of the side taking over, polled by the prepare phase until it is at most max_lag_bytes. */
typedef struct prep_gap {
    au_ctx *x;
    au_pg *up, *standby;
    uint64_t max, bytes;
} prep_gap;

static int probe_gap(void *arg, char *status, size_t len, dr_error *err)
{
    prep_gap *g = arg;
    uint64_t target, done;
    int rc;

    if ((rc = au_pg_current_lsn(g->up, &target, err)) != 0 || (rc = au_pg_replay_lsn(g->standby, &done, err)) != 0)
        return rc;
    g->bytes = done >= target ? 0 : target - done;
    if (g->bytes <= g->max)
        return 1;
    snprintf(status, len, "%llu bytes to replay > %llu", (unsigned long long)g->bytes, (unsigned long long)g->max);
    return 0;
}

/*
 * The prepare phase of a switch away from `from`: the cluster taking over exists (and is a member of the global
 * cluster), a graceful switch has what it needs to fence, and the side taking over has replayed all but
 * max_lag_bytes of the side being left (waited for). Nothing is fenced, promoted or switched.
 */
static int au_prepare(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    au_ctx x;
    au_cluster r;
    au_global g;
    dr_aws *c;
    int back = DR_HAS_MEMBER(args, dr_hook_args, prepare_for) && args->prepare_for == DR_SWITCH_FAILBACK;
    au_side from = back ? AU_DR : AU_PRIMARY, to = back ? AU_PRIMARY : AU_DR;
    const char *id, *region;
    prep_gap gap;
    char what[160];
    int rc;

    ctx_init(&x, res, args);
    memset(&g, 0, sizeof(g));
    memset(&gap, 0, sizeof(gap));
    id = back ? x.cluster : x.dr_cluster;
    region = back ? x.preg : x.dreg;
    if (!(c = client(&x, region, err)))
        return err->code ? err->code : DR_ENETWORK;
    if ((rc = au_describe_cluster(c, id, &r, err)) != 0)
        return rc;
    if (!r.found && back) {
        /* the failback re-creates what the region lost: nothing to wait for here */
        dr_report_state(H, res, "prepare_cluster", DR_STATUS_WARNING, "MISSING", "available", "cluster %s does not "
                        "exist in %s: the failback rebuilds it from %s", id, region, x.dreg);
        return 0;
    }
    if (!r.found)
        return dr_error_set(err, DR_ENOTFOUND, "cluster %s not found in %s: nothing to fail over to", id, region);
    if (x.global) {
        if ((rc = describe_global(&x, &g, err)) != 0)
            return rc;
        if (!g.found || !au_global_member(&g, r.arn))
            return dr_error_set(err, DR_ESTATE, "%s is not a member of global cluster %s", id, x.global_id);
    }
    if (cluster_serves(&x, &r, &g)) {
        dr_report_state(H, res, "prepare_cluster", DR_STATUS_OK, "writer", "writer", "%s in %s is the writer already",
                        id, region);
        return 0;
    }
    dr_report_state(H, res, "prepare_cluster", DR_STATUS_OK, r.status, "available", "%s in %s takes over", id, region);
    if (x.forced || x.dry) {
        /* forced: the side being left may be gone; the commit makes one bounded attempt and reports the loss */
        return 0;
    }
    if (!x.has_pg)
        return dr_error_set(err, DR_ESTATE, "a graceful switch needs fencing through the data plane (pg_* keys) and "
                            "none is configured; use --mode forced to switch without it");
    if (!x.fence)
        return dr_error_set(err, DR_ESTATE, "a graceful switch needs fencing and fence = false; use --mode forced to "
                            "switch without it");
    gap.x = &x;
    gap.max = (uint64_t)H->cfg_int(res, "max_lag_bytes");
    if ((rc = pg_open(&x, from, 0, &gap.up, err)) != 0 || (rc = pg_open(&x, to, 0, &gap.standby, err)) != 0) {
        dr_error_prefix(err, "the data plane cannot be read, a graceful switch cannot fence and drain: ");
        goto out;
    }
    snprintf(what, sizeof(what), "the %s side to replay the %s side's writes", to == AU_DR ? "DR" : "primary",
             from == AU_DR ? "DR" : "primary");
    rc = dr_wait_for(H, res, what, (int64_t)(x.poll_s * 1000.0), 0, probe_gap, &gap, err);
    report_bytes(&x, "dp_replay_lag_bytes", rc == 0 ? DR_STATUS_OK : DR_STATUS_CRITICAL, gap.bytes, gap.max,
                 "bytes the side taking over has still to replay");
out:
    au_pg_close(gap.up);
    au_pg_close(gap.standby);
    return rc;
}

/* ------------------------------------------------------------ plumbing --- */

static int au_init(const dr_host_api *host, dr_error *err)
{
    if (!DR_HAS_MEMBER(host, dr_host_api, aws))
        return dr_error_set(err, DR_EPLUGIN, "the host is too old for the aurora plugin (no AWS clients)");
    H = host;
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

    if (mode && strcmp(mode, "global") == 0 && !H->cfg_string(res, "global_cluster"))
        return dr_error_set(err, DR_ECONFIG, "mode \"global\" needs global_cluster");
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

static const dr_plugin_descriptor descriptor = {
    DR_PLUGIN_HEADER,
    "aurora",
    "1.0.0",
    "Aurora PostgreSQL cross-region read replica or global database, with data-plane checks and fencing",
    keys,
    sizeof(keys) / sizeof(keys[0]),
    NULL,
    au_init,
    au_validate,
    au_configure,
    au_verify,
    au_failover,
    au_failback,
    au_prepare,
};

DR_PLUGIN_DECLARE_ENTRY
{
    return &descriptor;
}
