/* divergence.c: writes the old primary of a failover with data loss took after the switch: the measure, where Aurora keeps them, the report. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aurora.h"
#include "dr/check.h"

#define RDS_VERSION "2014-10-31"
#define SNAP_PREFIX "rds:unplanned-global-failover-"

/* Resource state keys (ABI 1.1 state_set/state_get). */
#define K_FORCED "failover_forced_at"
#define K_LOST "lost_writes"

static int has_state(const dr_host_api *h)
{
    return DR_HAS_MEMBER(h, dr_host_api, state_set) && DR_HAS_MEMBER(h, dr_host_api, state_get);
}

int au_lost_forced(const dr_host_api *h, dr_resource *res, double *at)
{
    char v[32];

    if (!has_state(h) || !h->state_get(res, K_FORCED, v, sizeof(v)))
        return 0;
    *at = strtod(v, NULL);
    return *at > 0;
}

void au_lost_note_failover(const dr_host_api *h, dr_resource *res, double at)
{
    char v[32];
    dr_error e;

    if (!has_state(h))
        return;
    dr_error_clear(&e);
    snprintf(v, sizeof(v), "%.0f", at);
    if (h->state_set(res, K_FORCED, at > 0 ? v : NULL, &e) != 0)
        h->log(res, DR_LOG_WARN, "the failover could not be noted (%s): a failback will not look for the writes "
               "the old primary took after it", e.message);
    if (at > 0)
        h->state_set(res, K_LOST, NULL, &e); /* a measure of an earlier failover no longer applies */
}

int au_lost_save(const dr_host_api *h, dr_resource *res, const au_lost *l, dr_error *err)
{
    char v[160];

    if (!has_state(h))
        return 0;
    snprintf(v, sizeof(v), "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64 " %" PRId64, l->since, l->now, l->bytes,
             l->rows, l->xacts);
    return h->state_set(res, K_LOST, v, err);
}

int au_lost_load(const dr_host_api *h, dr_resource *res, au_lost *l)
{
    char v[160];

    memset(l, 0, sizeof(*l));
    if (!has_state(h) || !h->state_get(res, K_LOST, v, sizeof(v)))
        return 0;
    return sscanf(v, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNd64 " %" SCNd64, &l->since, &l->now, &l->bytes,
                  &l->rows, &l->xacts) == 5;
}

void au_lost_forget(const dr_host_api *h, dr_resource *res)
{
    dr_error e;

    if (!has_state(h))
        return;
    dr_error_clear(&e);
    h->state_set(res, K_FORCED, NULL, &e);
    h->state_set(res, K_LOST, NULL, &e);
}

int au_failover_snapshot(dr_aws *c, const char *cluster, double since, char *out, size_t outlen, dr_error *err)
{
    char prefix[128], marker[512] = "";
    double best = -1;
    int rc = 0;

    out[0] = '\0';
    snprintf(prefix, sizeof(prefix), SNAP_PREFIX "%s-", cluster);
    for (int page = 0; page < 100; page++) {
        dr_buf form = DR_BUF_INIT;
        dr_doc *d = NULL;
        const dr_node *n;
        const char *next;

        dr_aws_form_add(&form, "DBClusterIdentifier", cluster);
        dr_aws_form_add(&form, "SnapshotType", "automated");
        if (marker[0])
            dr_aws_form_add(&form, "Marker", marker);
        if (form.failed)
            rc = dr_error_set(err, DR_ENOMEM, "rds DescribeDBClusterSnapshots: out of memory");
        else
            rc = dr_aws_query(c, "rds", "DescribeDBClusterSnapshots", RDS_VERSION, dr_buf_str(&form), &d, err);
        dr_buf_free(&form);
        if (rc == DR_ENOTFOUND || (rc == DR_EAWS && dr_error_is(err, "DBClusterNotFoundFault"))) {
            dr_error_clear(err); /* no such cluster (any more): no snapshot of it */
            dr_doc_free(d);
            return 0;
        }
        if (rc != 0) {
            dr_doc_free(d);
            return rc;
        }
        for (n = dr_node_first(dr_node_get(dr_doc_root(d), "DescribeDBClusterSnapshotsResult.DBClusterSnapshots")); n;
             n = dr_node_next(n)) {
            const char *id = dr_node_str(n, "DBClusterSnapshotIdentifier");
            double t = 0;
            if (!id || strncmp(id, prefix, strlen(prefix)) != 0)
                continue;
            if (dr_node_time(n, "SnapshotCreateTime", &t) != 0)
                t = 0;
            if (t + 60 < since || t <= best) /* one of an earlier failover (a minute of clock slack) */
                continue;
            best = t;
            snprintf(out, outlen, "%s", id);
        }
        next = dr_node_str(dr_doc_root(d), "DescribeDBClusterSnapshotsResult.Marker");
        snprintf(marker, sizeof(marker), "%s", next ? next : "");
        dr_doc_free(d);
        if (!marker[0])
            break;
    }
    return 0;
}

int au_lost_report(const dr_host_api *h, dr_resource *res, const char *cluster, const au_lost *l, const char *kept,
                   const char *why)
{
    char from[32], to[32], count[128] = "", where[1200];

    if (kept && kept[0])
        snprintf(where, sizeof(where), "kept in %s", kept);
    else
        snprintf(where, sizeof(where), "no copy of them was found (no snapshot %s%s-*): they are lost", SNAP_PREFIX,
                 cluster);
    if (!l) {
        dr_error e;
        dr_error_clear(&e);
        dr_error_set(&e, DR_ENOTFOUND, "the old primary %s may have taken writes after the failover that the serving "
                     "cluster lacks; they could not be measured (%s); %s", cluster, why ? why : "unknown", where);
        dr_report_unknown(h, res, "divergent_writes", "0", &e);
        h->log(res, DR_LOG_WARN, "%s", e.message);
        h->rpo_observed(res, -1);
        return 1;
    }
    if (l->bytes == 0 || l->xacts == 0) {
        h->log(res, DR_LOG_INFO, "the old primary %s took no write transaction after the failover (%" PRIu64
               " bytes of WAL: checkpoints and the like)", cluster, l->bytes);
        return 0;
    }
    au_lsn_format(l->since, from, sizeof(from));
    au_lsn_format(l->now, to, sizeof(to));
    if (l->rows >= 0)
        snprintf(count, sizeof(count), ", %" PRId64 " rows inserted, updated or deleted", l->rows);
    if (l->xacts >= 0)
        snprintf(count + strlen(count), sizeof(count) - strlen(count), ", %" PRId64 " write transactions", l->xacts);
    dr_report_number(h, res, "divergent_writes", kept && kept[0] ? DR_STATUS_WARNING : DR_STATUS_CRITICAL,
                     (double)l->bytes, 0, "bytes",
                     "the old primary %s took writes after the failover that are not in the serving cluster: %" PRIu64
                     " bytes of WAL from %s to %s%s; %s",
                     cluster, l->bytes, from, to, count, where);
    h->log(res, DR_LOG_WARN, "the old primary %s took %" PRIu64 " bytes of WAL after the failover (%s..%s%s): %s",
           cluster, l->bytes, from, to, count, where);
    h->rpo_observed(res, -1); /* writes the serving cluster does not hold: no RPO figure covers them */
    return 1;
}
