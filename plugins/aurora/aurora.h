/* aurora.h: internal interface of the aurora plugin: RDS control-plane calls (rds.c) and the PostgreSQL data plane (pg.c). */
#ifndef AURORA_H
#define AURORA_H

/*
 * Ownership: the structs below are filled by value into caller-owned
 * storage; nothing in them needs freeing. An au_pg connection is opened by
 * au_pg_open() and closed by its owner with au_pg_close(). Strings passed in
 * are borrowed for the duration of the call.
 */

#include <stdint.h>

#include "dr/sdk.h"

#define AU_ENGINE "aurora-postgresql"
#define AU_MAX_MEMBERS 16

/* ---------------------------------------------------------------- RDS --- */

typedef struct au_member {
    char id[64];
    int writer;
} au_member;

/* One DB cluster as DescribeDBClusters shows it. */
typedef struct au_cluster {
    int found;
    char id[64];
    char arn[256];
    char status[64];
    char engine[64];
    char engine_version[32];
    char source[256];    /* ReplicationSourceIdentifier: the source cluster's ARN, "" when standalone */
    char global_id[256]; /* GlobalClusterIdentifier as the service returns it (an id or an ARN) */
    char master_user[64];
    char endpoint[256];
    int has_scaling;
    double min_acu, max_acu;
    int encrypted;
    char kms_key[256];
    double create_time; /* epoch seconds, 0 when absent */
    size_t n_members;
    au_member members[AU_MAX_MEMBERS];
} au_cluster;

typedef struct au_instance {
    int found;
    char id[64];
    char status[64];
    char klass[64];
    char cluster[64];
} au_instance;

typedef struct au_gmember {
    char arn[256];
    int writer;
    char sync[32]; /* SynchronizationStatus: connected / pending-resync, "" when absent */
} au_gmember;

/* One global cluster as DescribeGlobalClusters shows it. */
typedef struct au_global {
    int found;
    char id[256];
    char arn[256];
    char status[64];
    char failover_status[32]; /* FailoverState.Status, "" when no failover is under way */
    char failover_to[256];    /* FailoverState.ToDbClusterArn */
    size_t n;
    au_gmember m[AU_MAX_MEMBERS];
} au_global;

/* What CreateDBCluster needs besides the identifier. */
typedef struct au_create_spec {
    const char *id;
    const char *engine_version;    /* NULL: the service default */
    const char *source_arn;        /* replica: ReplicationSourceIdentifier */
    const char *global_id;         /* global secondary: GlobalClusterIdentifier */
    double min_acu, max_acu;       /* Serverless v2 scaling */
    const char *subnet_group;      /* may be NULL */
    const char *const *sgs;        /* VPC security groups, n_sgs of them */
    size_t n_sgs;
    const char *kms_key;           /* KmsKeyId in the target region; NULL: not encrypted unless the source is */
    int encrypted;                 /* StorageEncrypted */
    const char *master_user;       /* sent only when the service insists (see rds.c) */
    const char *tag_value;         /* value of the dr-agent:role tag; NULL: no tag */
} au_create_spec;

/* Describe calls: 0 with found = 0 when the thing does not exist; negative on other errors. */
int au_describe_cluster(dr_aws *c, const char *id, au_cluster *out, dr_error *err);
int au_describe_instance(dr_aws *c, const char *id, au_instance *out, dr_error *err);
int au_describe_global(dr_aws *c, const char *id, au_global *out, dr_error *err);

/* The writer member of a cluster, or NULL. */
const au_member *au_cluster_writer(const au_cluster *cl);
/* The member of a global cluster with this cluster ARN, or NULL. */
const au_gmember *au_global_member(const au_global *g, const char *cluster_arn);
const au_gmember *au_global_writer(const au_global *g);
/* "arn:aws:rds:<region>:<account>:cluster:<id>" from another ARN of the same account. */
int au_cluster_arn(const char *any_arn, const char *region, const char *id, char *out, size_t outlen);

int au_create_cluster(dr_aws *c, const au_create_spec *spec, au_cluster *out, dr_error *err);
int au_create_instance(dr_aws *c, const char *id, const char *cluster, const char *klass, dr_error *err);
int au_create_global(dr_aws *c, const char *global_id, const char *source_arn, dr_error *err);
int au_modify_scaling(dr_aws *c, const char *id, double min_acu, double max_acu, dr_error *err);
int au_rename_cluster(dr_aws *c, const char *id, const char *new_id, dr_error *err);
int au_switchover(dr_aws *c, const char *global_id, const char *target_arn, dr_error *err);
int au_failover_global(dr_aws *c, const char *global_id, const char *target_arn, dr_error *err);
int au_remove_from_global(dr_aws *c, const char *global_id, const char *cluster_arn, dr_error *err);

/* ------------------------------------------------------- data plane --- */

typedef enum au_side { AU_PRIMARY = 0, AU_DR = 1 } au_side;

typedef struct au_pg au_pg;

/* Where and how to connect; strings borrowed from the config. */
typedef struct au_pg_cfg {
    const char *host[2];
    int port[2];
    const char *database;
    const char *user;
    const char *password_file; /* a 0600 file, or NULL */
    const char *password_env;  /* an environment variable, or NULL */
    const char *sslmode;
    const char *sslrootcert;   /* may be NULL */
} au_pg_cfg;

/* A server's role as seen over a connection. */
typedef struct au_pg_role {
    int in_recovery;        /* a standby */
    int default_read_only;  /* default_transaction_read_only = on (fenced) */
} au_pg_role;

/*
 * Connect to one side. timeout_ms bounds the connection attempt (libpq's
 * connect_timeout, at least 2 s) and every statement (statement_timeout).
 * The password is read from the file or the environment for the attempt and
 * wiped right after; it never appears in a message.
 */
int au_pg_open(const au_pg_cfg *cfg, au_side side, int64_t timeout_ms, au_pg **out, dr_error *err);
void au_pg_close(au_pg *pg);
const char *au_pg_name(const au_pg *pg); /* "primary (host:port)" for messages */

int au_pg_get_role(au_pg *pg, au_pg_role *out, dr_error *err);
int au_pg_current_lsn(au_pg *pg, uint64_t *lsn, dr_error *err); /* on a primary */

/*
 * Fencing without superuser rights: ALTER DATABASE ... SET default_transaction_read_only
 * (the user owns the database) plus termination of other client sessions. The unfence
 * works from a session that started read-only under the fence.
 */
int au_pg_fence(au_pg *pg, const char *database, int *changed, dr_error *err);
int au_pg_unfence(au_pg *pg, const char *database, int *changed, dr_error *err);

/* One row of aurora_global_db_status(): a region of the global database. */
typedef struct au_pg_gdb_row {
    char region[32];
    uint64_t highest_lsn;      /* highest_lsn_written */
    int64_t durability_lag_ms; /* -1 on the primary */
    int64_t rpo_lag_ms;        /* -1 on the primary */
    int primary;               /* both lags -1 */
} au_pg_gdb_row;

typedef struct au_pg_gdb {
    size_t n;
    au_pg_gdb_row rows[AU_MAX_MEMBERS];
} au_pg_gdb;

/* aurora_global_db_status() as this side sees it; DR_ESTATE when the function does not exist. */
int au_pg_global_status(au_pg *pg, au_pg_gdb *out, dr_error *err);
const au_pg_gdb_row *au_pg_gdb_region(const au_pg_gdb *g, const char *region); /* NULL: not listed */
const au_pg_gdb_row *au_pg_gdb_primary(const au_pg_gdb *g);
int au_pg_terminate_others(au_pg *pg, int *count, dr_error *err);

/* Try a write that leaves nothing behind: 0 when accepted, DR_ESTATE when refused as read-only (25006). */
int au_pg_write_probe(au_pg *pg, dr_error *err);

void au_lsn_format(uint64_t lsn, char *out, size_t outlen);
int au_lsn_parse(const char *s, uint64_t *lsn); /* "16/B374D848"; DR_EPARSE */

/* What a primary wrote after `since` (the position its follower had replayed when it was promoted). */
typedef struct au_pg_divergent {
    int standby;      /* it is a standby (again): nothing of its own to measure */
    uint64_t since;   /* the divergence point */
    uint64_t now;     /* its current WAL position */
    uint64_t bytes;   /* WAL written since `since` */
    int64_t tuples;   /* pg_stat_database rows inserted + updated + deleted, cumulative; -1 unknown */
} au_pg_divergent;
int au_pg_divergence(au_pg *pg, uint64_t since, au_pg_divergent *out, dr_error *err);
/* The cumulative pg_stat_database counter au_pg_divergence() reports (a baseline to subtract); -1 unknown. */
int au_pg_tuple_counter(au_pg *pg, int64_t *tuples, dr_error *err);

/*
 * A read-only query on one side: fn(arg, values, n) for each row (values borrowed for the call, NULL for SQL NULL,
 * at most AU_PG_QUERY_COLS columns). 0, or a negative code with err naming the node and `what`.
 */
#define AU_PG_QUERY_COLS 8
typedef void (*au_pg_row_fn)(void *arg, const char *const *values, int n);
int au_pg_query(au_pg *pg, const char *sql, const char *what, au_pg_row_fn fn, void *arg, dr_error *err);

/* ----------------------------------------------------------- diagnose --- */

/* Keep the host table for the diagnostics (diagnose.c); called from the plugin's init. */
void au_diagnose_init(const dr_host_api *host);
/* The diagnose hook: replication lag and its causes (long-running queries, replication slots, the DR size). */
int au_diagnose(dr_resource *res, const dr_hook_args *args, dr_error *err);

/* The next transaction id (64-bit, epoch included) this side has assigned or, on a standby, replayed. */
int au_pg_next_xid(au_pg *pg, uint64_t *xid, dr_error *err);

/* ------------------------------------------- writes a failover lost (divergence.c) --- */

/*
 * What the old primary of a failover with data loss wrote after the switch
 * point, measured before Aurora rebuilt it. Kept in the resource's state
 * between the measure and the report (a resumed failback still has it).
 */
typedef struct au_lost {
    uint64_t since, now; /* WAL range */
    uint64_t bytes;
    int64_t rows;         /* rows inserted, updated or deleted; -1 unknown */
    int64_t xacts;        /* write transactions (transaction ids assigned); -1 unknown */
} au_lost;

/* The failover that led here was one with data loss (FailoverGlobalCluster AllowDataLoss); *at = its epoch time. */
int au_lost_forced(const dr_host_api *h, dr_resource *res, double *at);
/* Remember a forced failover (at > 0) or that the last one was not (at = 0). */
void au_lost_note_failover(const dr_host_api *h, dr_resource *res, double at);
int au_lost_save(const dr_host_api *h, dr_resource *res, const au_lost *l, dr_error *err);
int au_lost_load(const dr_host_api *h, dr_resource *res, au_lost *l); /* 1 when measured */
void au_lost_forget(const dr_host_api *h, dr_resource *res); /* after the report */
/*
 * The newest system snapshot Aurora took of `cluster` before rebuilding it
 * after a failover ("rds:unplanned-global-failover-<cluster>-<time>"), created
 * at or after `since` (epoch seconds). out = "" when there is none; negative on errors.
 */
int au_failover_snapshot(dr_aws *c, const char *cluster, double since, char *out, size_t outlen, dr_error *err);
/*
 * Report the writes the old primary took after the failover (the check
 * "divergent_writes"): measured (l) or unknown (l NULL, why in `why`), and
 * where they are kept (`kept`: a snapshot, a retired cluster, or "" when
 * nothing keeps them). Marks the resource's RPO unknown unless the old primary
 * took nothing. Returns 1 when the RPO was marked unknown.
 */
int au_lost_report(const dr_host_api *h, dr_resource *res, const char *cluster, const au_lost *l, const char *kept,
                   const char *why);

#endif /* AURORA_H */
