/* pg.c: the aurora plugin's PostgreSQL data plane over libpq: roles, Aurora's global-database status, fencing, write probes. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "aurora.h"

struct au_pg {
    PGconn *conn;
    char name[300];
};

/* libpq messages end with newlines and may span lines: keep one line. */
static void one_line(char *s)
{
    size_t n;

    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
}

static int pg_fail(au_pg *pg, const PGresult *r, int code, const char *what, dr_error *err)
{
    char msg[400];
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

    snprintf(msg, sizeof(msg), "%s", r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r)
                                                                      : PQerrorMessage(pg->conn));
    one_line(msg);
    return dr_error_set(err, code, "%s: %s: %s%s%s%s", pg->name, what, msg[0] ? msg : "failed",
                        state ? " (SQLSTATE " : "", state ? state : "", state ? ")" : "");
}

static int read_password(const au_pg_cfg *cfg, char **out, dr_error *err)
{
    *out = NULL;
    if (cfg->password_file)
        return dr_secret_read_file(cfg->password_file, out, err);
    if (cfg->password_env) {
        const char *v = getenv(cfg->password_env);
        if (!v)
            return dr_error_set(err, DR_ECONFIG, "the environment variable %s (pg_password_env) is not set",
                                cfg->password_env);
        *out = strdup(v);
        if (!*out)
            return dr_error_set(err, DR_ENOMEM, "out of memory");
    }
    return 0; /* none: libpq may still use a .pgpass file or trust */
}

int au_pg_open(const au_pg_cfg *cfg, au_side side, int64_t timeout_ms, au_pg **out, dr_error *err)
{
    const char *keys[16], *vals[16];
    char port[16], ctimeout[32], options[96];
    char *password = NULL;
    au_pg *pg;
    int n = 0, rc;

    *out = NULL;
    if (!cfg->host[side])
        return dr_error_set(err, DR_ECONFIG, "no data-plane host configured for the %s side",
                            side == AU_PRIMARY ? "primary" : "DR");
    pg = calloc(1, sizeof(*pg));
    if (!pg)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    snprintf(pg->name, sizeof(pg->name), "%s data plane (%s:%d)", side == AU_PRIMARY ? "primary" : "DR",
             cfg->host[side], cfg->port[side]);
    rc = read_password(cfg, &password, err);
    if (rc != 0) {
        free(pg);
        return rc;
    }
    if (timeout_ms < 2000)
        timeout_ms = 2000; /* libpq's smallest connect_timeout */
    if (timeout_ms > 3600000)
        timeout_ms = 3600000; /* statement_timeout is an int of milliseconds */
    snprintf(port, sizeof(port), "%d", cfg->port[side]);
    snprintf(ctimeout, sizeof(ctimeout), "%lld", (long long)((timeout_ms + 999) / 1000));
    snprintf(options, sizeof(options), "-c statement_timeout=%lld -c lock_timeout=%lld", (long long)timeout_ms,
             (long long)timeout_ms);
    keys[n] = "host", vals[n++] = cfg->host[side];
    keys[n] = "port", vals[n++] = port;
    keys[n] = "dbname", vals[n++] = cfg->database;
    keys[n] = "user", vals[n++] = cfg->user;
    if (password)
        keys[n] = "password", vals[n++] = password;
    keys[n] = "sslmode", vals[n++] = cfg->sslmode;
    if (cfg->sslrootcert)
        keys[n] = "sslrootcert", vals[n++] = cfg->sslrootcert;
    keys[n] = "connect_timeout", vals[n++] = ctimeout;
    keys[n] = "options", vals[n++] = options;
    keys[n] = "application_name", vals[n++] = "dr-agent";
    /* TLS protects the connection; GSSAPI transport encryption would only add a Kerberos probe
       (Kerberos authentication itself still works). */
    keys[n] = "gssencmode", vals[n++] = "disable";
    /* A DSN would be the one place a password could leak into a message: pass keywords. */
    keys[n] = NULL, vals[n] = NULL;
    pg->conn = PQconnectdbParams(keys, vals, 0);
    if (password)
        dr_secret_free(password);
    if (!pg->conn) {
        free(pg);
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    }
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pg->conn));
        one_line(msg);
        rc = dr_error_set(err, DR_ENETWORK, "%s: cannot connect: %s", pg->name, msg);
        au_pg_close(pg);
        return rc;
    }
    *out = pg;
    return 0;
}

void au_pg_close(au_pg *pg)
{
    if (!pg)
        return;
    if (pg->conn)
        PQfinish(pg->conn);
    free(pg);
}

const char *au_pg_name(const au_pg *pg)
{
    return pg->name;
}

/* Run a query expected to return tuples (or a command); *out owns the result on success. */
static int exec(au_pg *pg, const char *sql, const char *what, PGresult **out, dr_error *err)
{
    PGresult *r = PQexec(pg->conn, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc;

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        if (out)
            *out = r;
        else
            PQclear(r);
        return 0;
    }
    {
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        /* 25006: read-only transaction (a standby, or a fenced primary) */
        int code = state && strcmp(state, "25006") == 0 ? DR_ESTATE
                   : PQstatus(pg->conn) != CONNECTION_OK ? DR_ENETWORK
                   : state && strcmp(state, "57014") == 0 ? DR_ETIMEDOUT
                   : state && strcmp(state, "42501") == 0 ? DR_EDENIED
                                                          : DR_EIO;
        rc = pg_fail(pg, r, code, what, err);
    }
    PQclear(r);
    return rc;
}

static int parse_lsn(const char *s, uint64_t *lsn)
{
    unsigned int hi, lo;
    char tail;

    if (!s || sscanf(s, "%X/%X%c", &hi, &lo, &tail) != 2)
        return DR_EPARSE;
    *lsn = ((uint64_t)hi << 32) | lo;
    return 0;
}

void au_lsn_format(uint64_t lsn, char *out, size_t outlen)
{
    snprintf(out, outlen, "%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xffffffffu));
}

int au_pg_get_role(au_pg *pg, au_pg_role *out, dr_error *err)
{
    PGresult *r = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = exec(pg, "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')", "role", &r, err);
    if (rc != 0)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return dr_error_set(err, DR_EPARSE, "%s: role: no row", pg->name);
    }
    out->in_recovery = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    out->default_read_only = strcmp(PQgetvalue(r, 0, 1), "on") == 0;
    PQclear(r);
    return 0;
}

int au_pg_current_lsn(au_pg *pg, uint64_t *lsn, dr_error *err)
{
    PGresult *r = NULL;
    int rc;

    rc = exec(pg,
              "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END",
              "current WAL position", &r, err);
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0)
        rc = dr_error_set(err, DR_ESTATE, "%s is a standby, not a primary", pg->name);
    else if (PQntuples(r) != 1 || parse_lsn(PQgetvalue(r, 0, 1), lsn) != 0)
        rc = dr_error_set(err, DR_EPARSE, "%s: unexpected answer to pg_current_wal_lsn()", pg->name);
    PQclear(r);
    return rc;
}

/* Quote an identifier for SQL; out must hold 2 * strlen + 3. */
static int quote_ident(au_pg *pg, const char *id, char *out, size_t outlen, dr_error *err)
{
    char *q = PQescapeIdentifier(pg->conn, id, strlen(id));

    if (!q)
        return dr_error_set(err, DR_EINVAL, "%s: cannot quote the database name", pg->name);
    snprintf(out, outlen, "%s", q);
    PQfreemem(q);
    return 0;
}

/* Is the database's read-only default set (what new sessions of every role will get)? */
static int fenced_state(au_pg *pg, const char *database, int *fenced, dr_error *err)
{
    PGresult *r = NULL;
    const char *params[1] = {database};
    int rc = 0;

    *fenced = 0;
    r = PQexecParams(pg->conn,
                     "SELECT EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                     "WHERE s.setrole = 0 AND d.datname = $1 AND "
                     "'default_transaction_read_only=on' = ANY (s.setconfig))",
                     1, NULL, params, NULL, NULL, 0);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = pg_fail(pg, r, DR_EIO, "fence state", err);
    else
        *fenced = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return rc;
}

/*
 * ALTER DATABASE ... SET/RESET default_transaction_read_only: needs the
 * database's owner (no superuser). The setting is in the shared catalog and
 * replicates with the data, so the side that takes over arrives fenced and
 * is unfenced here before it is opened; our own session may have started
 * read-only under the fence, so it turns the read-only default off for
 * itself before the RESET.
 */
static int set_fence(au_pg *pg, const char *database, int on, int *changed, dr_error *err)
{
    char sql[512], qdb[300];
    int fenced, rc;

    *changed = 0;
    rc = fenced_state(pg, database, &fenced, err);
    if (rc != 0)
        return rc;
    if (fenced == on)
        return 0;
    rc = quote_ident(pg, database, qdb, sizeof(qdb), err);
    if (rc == 0 && !on)
        rc = exec(pg, "SET default_transaction_read_only = off", "session setting", NULL, err);
    if (rc == 0) {
        snprintf(sql, sizeof(sql), on ? "ALTER DATABASE %s SET default_transaction_read_only = on"
                                      : "ALTER DATABASE %s RESET default_transaction_read_only",
                 qdb);
        rc = exec(pg, sql, on ? "fence (ALTER DATABASE)" : "unfence (ALTER DATABASE)", NULL, err);
    }
    if (rc == DR_EDENIED)
        dr_error_prefix(err, "the user must own the database to fence it: ");
    if (rc == 0)
        *changed = 1;
    return rc;
}

int au_pg_fence(au_pg *pg, const char *database, int *changed, dr_error *err)
{
    return set_fence(pg, database, 1, changed, err);
}

int au_pg_unfence(au_pg *pg, const char *database, int *changed, dr_error *err)
{
    return set_fence(pg, database, 0, changed, err);
}

int au_pg_global_status(au_pg *pg, au_pg_gdb *out, dr_error *err)
{
    PGresult *r = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = exec(pg,
              "SELECT aws_region, highest_lsn_written, durability_lag_in_msec, rpo_lag_in_msec "
              "FROM aurora_global_db_status()",
              "aurora_global_db_status()", &r, err);
    if (rc == DR_EIO && strstr(err->message, "does not exist"))
        return dr_error_set(err, DR_ESTATE, "%s: aurora_global_db_status() does not exist: not an Aurora PostgreSQL "
                                            "global database",
                            pg->name);
    if (rc != 0)
        return rc;
    for (int i = 0; i < PQntuples(r) && out->n < AU_MAX_MEMBERS; i++) {
        au_pg_gdb_row *row = &out->rows[out->n++];
        snprintf(row->region, sizeof(row->region), "%s", PQgetvalue(r, i, 0));
        row->highest_lsn = PQgetisnull(r, i, 1) ? 0 : strtoull(PQgetvalue(r, i, 1), NULL, 10);
        row->durability_lag_ms = PQgetisnull(r, i, 2) ? -1 : strtoll(PQgetvalue(r, i, 2), NULL, 10);
        row->rpo_lag_ms = PQgetisnull(r, i, 3) ? -1 : strtoll(PQgetvalue(r, i, 3), NULL, 10);
        row->primary = row->durability_lag_ms == -1 && row->rpo_lag_ms == -1;
    }
    PQclear(r);
    return 0;
}

const au_pg_gdb_row *au_pg_gdb_region(const au_pg_gdb *g, const char *region)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->rows[i].region, region) == 0)
            return &g->rows[i];
    return NULL;
}

const au_pg_gdb_row *au_pg_gdb_primary(const au_pg_gdb *g)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->rows[i].primary)
            return &g->rows[i];
    return NULL;
}

int au_pg_terminate_others(au_pg *pg, int *count, dr_error *err)
{
    PGresult *r = NULL;
    int rc;

    *count = 0;
    /*
     * Client sessions that started before the fence keep their read-write
     * default: end them. Sessions of superusers cannot be ended by a
     * non-superuser and are counted as failures in the answer.
     */
    rc = exec(pg,
              "SELECT count(*) FILTER (WHERE t), count(*) FILTER (WHERE NOT t) FROM ("
              "SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity "
              "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend') s",
              "terminate sessions", &r, err);
    if (rc == DR_EIO && strstr(err->message, "permission denied")) {
        PQclear(r);
        return dr_error_set(err, DR_EDENIED, "%s: cannot end other sessions: grant pg_signal_backend to the user",
                            pg->name);
    }
    if (rc != 0)
        return rc;
    *count = atoi(PQgetvalue(r, 0, 0));
    if (atoi(PQgetvalue(r, 0, 1)) > 0)
        rc = dr_error_set(err, DR_EDENIED, "%s: %s sessions could not be ended (superuser sessions?)", pg->name,
                          PQgetvalue(r, 0, 1));
    PQclear(r);
    return rc;
}

int au_pg_write_probe(au_pg *pg, dr_error *err)
{
    int rc;

    /* A temporary table in a rolled-back transaction: a real write, nothing left behind. */
    rc = exec(pg, "BEGIN", "write probe", NULL, err);
    if (rc != 0)
        return rc;
    rc = exec(pg, "CREATE TEMPORARY TABLE dr_agent_write_probe (x int) ON COMMIT DROP", "write probe", NULL, err);
    {
        dr_error ignored;
        dr_error_clear(&ignored);
        exec(pg, "ROLLBACK", "write probe", NULL, &ignored);
    }
    return rc;
}

int au_pg_divergence(au_pg *pg, uint64_t since, au_pg_divergent *out, dr_error *err)
{
    char sql[512], lsn[32];
    PGresult *r = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    out->since = since;
    au_lsn_format(since, lsn, sizeof(lsn));
    /* pg_current_wal_lsn(), pg_wal_lsn_diff() and pg_stat_database need no superuser */
    snprintf(sql, sizeof(sql),
             "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END, "
             "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '%s'::pg_lsn) END, "
             "(SELECT sum(tup_inserted + tup_updated + tup_deleted) FROM pg_stat_database)",
             lsn);
    rc = exec(pg, sql, "WAL written since the switch", &r, err);
    if (rc != 0)
        return rc;
    if (PQntuples(r) != 1) {
        rc = dr_error_set(err, DR_EPARSE, "%s: WAL written since the switch: no row", pg->name);
    } else if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
        out->standby = 1; /* a standby again: whatever it had was rewound or replaced */
    } else if (parse_lsn(PQgetvalue(r, 0, 1), &out->now) != 0) {
        rc = dr_error_set(err, DR_EPARSE, "%s: unexpected answer to pg_current_wal_lsn()", pg->name);
    } else {
        double diff = strtod(PQgetvalue(r, 0, 2), NULL);
        out->bytes = diff > 0 ? (uint64_t)diff : 0;
        out->tuples = PQgetisnull(r, 0, 3) ? -1 : strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    }
    PQclear(r);
    return rc;
}

int au_pg_tuple_counter(au_pg *pg, int64_t *tuples, dr_error *err)
{
    PGresult *r = NULL;
    int rc;

    *tuples = -1;
    rc = exec(pg, "SELECT sum(tup_inserted + tup_updated + tup_deleted) FROM pg_stat_database", "tuple counters", &r,
              err);
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        *tuples = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int au_lsn_parse(const char *s, uint64_t *lsn)
{
    return parse_lsn(s, lsn);
}

int au_pg_query(au_pg *pg, const char *sql, const char *what, au_pg_row_fn fn, void *arg, dr_error *err)
{
    PGresult *r = NULL;
    int rc = exec(pg, sql, what, &r, err);

    if (rc != 0)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *v[AU_PG_QUERY_COLS] = {NULL};
        int n = PQnfields(r) < AU_PG_QUERY_COLS ? PQnfields(r) : AU_PG_QUERY_COLS;
        for (int k = 0; k < n; k++)
            v[k] = PQgetisnull(r, i, k) ? NULL : PQgetvalue(r, i, k);
        fn(arg, v, n);
    }
    PQclear(r);
    return 0;
}

int au_pg_next_xid(au_pg *pg, uint64_t *xid, dr_error *err)
{
    PGresult *r = NULL;
    int rc;

    *xid = 0;
    /* works on a standby too (the horizon it has replayed); needs no privilege */
    rc = exec(pg, "SELECT txid_snapshot_xmax(txid_current_snapshot())", "the next transaction id", &r, err);
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        *xid = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    else
        rc = dr_error_set(err, DR_EPARSE, "%s: the next transaction id: no value", pg->name);
    PQclear(r);
    return rc;
}
