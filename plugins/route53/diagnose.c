/* diagnose.c: the route53 plugin's diagnostics: why the PRIMARY record's health check fails, per checker region. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "diagnose.h"
#include "dr/sdk.h"

static const dr_host_api *H;

#define API "/2013-04-01"
#define GAP_MS 210      /* Route 53: five requests per second per account (only diagnose hooks run in a diagnose) */
#define CHILDREN_MAX 8  /* child checks of a calculated health check looked at */
#define RECENT 3600.0   /* a failure this recent on a check healthy now: intermittent */

void r53_diagnose_init(const dr_host_api *host)
{
    H = host;
}

static pthread_mutex_t pace_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t pace_next_ms;

static void pace(void)
{
    int64_t now, at;

    pthread_mutex_lock(&pace_mu);
    now = dr_mono_ms();
    at = pace_next_ms > now ? pace_next_ms : now;
    pace_next_ms = at + GAP_MS;
    pthread_mutex_unlock(&pace_mu);
    if (at > now) {
        struct timespec ts = {(time_t)((at - now) / 1000), (long)((at - now) % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int get(dr_aws *aws, const char *op, const char *path, const char *query, dr_doc **out, dr_error *err)
{
    dr_aws_request req;

    memset(&req, 0, sizeof(req));
    req.struct_size = sizeof(req);
    req.service = "route53";
    req.operation = op;
    req.protocol = DR_AWS_REST_XML;
    req.method = "GET";
    req.path = path;
    req.query = query;
    pace();
    return dr_aws_rest(aws, &req, out, err);
}

/* Lower case with one trailing dot, as Route 53 lists names. */
static void norm(const char *in, char *out, size_t len)
{
    size_t i = 0;

    for (; in && *in && i + 2 < len; in++)
        out[i++] = (char)tolower((unsigned char)*in);
    while (i > 0 && out[i - 1] == '.')
        i--;
    out[i++] = '.';
    out[i] = '\0';
}

static const char *strip(const char *id)
{
    const char *slash = id ? strrchr(id, '/') : NULL;
    return slash ? slash + 1 : id;
}

/* The health check of the PRIMARY failover record: the configured one, else the record's. */
static int primary_check(dr_resource *res, dr_aws *aws, char *hc, size_t len, dr_error *err)
{
    const char *zone = H->cfg_string(res, "zone"), *zone_id = H->cfg_string(res, "zone_id");
    const char *type = H->cfg_string(res, "record_type");
    char want[300], have[300], zid[64] = "", path[128];
    dr_buf q = DR_BUF_INIT;
    dr_doc *d = NULL;
    int rc;

    hc[0] = '\0';
    if (H->cfg_string(res, "health_check_id")) {
        snprintf(hc, len, "%s", H->cfg_string(res, "health_check_id"));
        return 0;
    }
    if (zone_id) {
        snprintf(zid, sizeof(zid), "%s", strip(zone_id));
    } else {
        norm(zone, want, sizeof(want));
        dr_buf_puts(&q, "dnsname=");
        dr_buf_uri_encode(&q, want, 0);
        dr_buf_puts(&q, "&maxitems=100");
        rc = get(aws, "ListHostedZonesByName", API "/hostedzonesbyname", dr_buf_str(&q), &d, err);
        dr_buf_reset(&q);
        if (rc != 0)
            goto out;
        for (const dr_node *z = dr_node_first(dr_node_get(dr_doc_root(d), "HostedZones")); z; z = dr_node_next(z)) {
            norm(dr_node_str(z, "Name"), have, sizeof(have));
            if (strcmp(have, want) == 0) {
                snprintf(zid, sizeof(zid), "%s", strip(dr_node_str(z, "Id")));
                break;
            }
        }
        dr_doc_free(d);
        d = NULL;
        if (!zid[0]) {
            rc = dr_error_set(err, DR_ENOTFOUND, "no hosted zone is named %s", zone);
            goto out;
        }
    }
    norm(H->cfg_string(res, "record"), want, sizeof(want));
    snprintf(path, sizeof(path), API "/hostedzone/%s/rrset", zid);
    dr_buf_puts(&q, "maxitems=10&name=");
    dr_buf_uri_encode(&q, want, 0);
    dr_buf_printf(&q, "&type=%s", type);
    rc = get(aws, "ListResourceRecordSets", path, dr_buf_str(&q), &d, err);
    if (rc != 0)
        goto out;
    for (const dr_node *n = dr_node_first(dr_node_get(dr_doc_root(d), "ResourceRecordSets")); n; n = dr_node_next(n)) {
        const char *fo = dr_node_str(n, "Failover");
        norm(dr_node_str(n, "Name"), have, sizeof(have));
        if (strcmp(have, want) == 0 && fo && strcmp(fo, "PRIMARY") == 0 && dr_node_str(n, "HealthCheckId")) {
            snprintf(hc, len, "%s", dr_node_str(n, "HealthCheckId"));
            break;
        }
    }
out:
    dr_buf_free(&q);
    dr_doc_free(d);
    return rc;
}

/* What a checker's failure message points at. */
static const char *fix_for(const char *msg)
{
    if (strcasestr(msg, "timed out") || strcasestr(msg, "firewall") || strcasestr(msg, "connection"))
        return "allow the Route 53 health checkers' address ranges (ip-ranges.json, service ROUTE53_HEALTHCHECKS) "
               "in the endpoint's security groups, network ACLs and firewall, and check that the endpoint listens";
    if (strcasestr(msg, "ssl") || strcasestr(msg, "tls") || strcasestr(msg, "certificate"))
        return "fix the endpoint's TLS: a certificate valid for the checked host name (SNI), a chain the checkers "
               "trust";
    if (strcasestr(msg, "HTTP Status Code 5") || strcasestr(msg, "HTTP Status Code 4"))
        return "the endpoint answers an error to the health check's request: fix the application's health path "
               "(it must answer 2xx or 3xx within 2 seconds for HTTP(S) after the connection)";
    if (strcasestr(msg, "string") || strcasestr(msg, "search"))
        return "the answer lacks the search string: fix the health page or the check's SearchString";
    return "fix the cause the checkers name, then watch GetHealthCheckStatus report Success";
}

#define MSGS_MAX 6 /* distinct failure messages kept per call */

/* The observations of one call, the failures grouped by message: "msg (us-east-1 at T, eu-west-1 at T)". */
typedef struct obs_sum {
    int total, failing, n_msgs;
    char msgs[MSGS_MAX][400];
    dr_buf where[MSGS_MAX];
} obs_sum;

static void read_obs(const dr_node *root, obs_sum *s, int failures_only, double since)
{
    for (const dr_node *o = dr_node_first(dr_node_get(root, "HealthCheckObservations")); o; o = dr_node_next(o)) {
        const char *st = dr_node_str(o, "StatusReport.Status"), *region = dr_node_str(o, "Region");
        double t = 0;
        char when[40] = "";
        int k;

        s->total++;
        if (!st || strncmp(st, "Success", 7) == 0)
            continue;
        if (dr_node_time(o, "StatusReport.CheckedTime", &t) == 0)
            dr_time_format(t, 0, when, sizeof(when));
        if (failures_only && t < since)
            continue;
        s->failing++;
        for (k = 0; k < s->n_msgs && strcmp(s->msgs[k], st) != 0; k++)
            ;
        if (k == s->n_msgs) {
            if (k == MSGS_MAX)
                continue;
            snprintf(s->msgs[k], sizeof(s->msgs[k]), "%s", st);
            dr_buf_init(&s->where[k]);
            s->n_msgs++;
        }
        dr_buf_printf(&s->where[k], "%s%s%s%s", s->where[k].len ? ", " : "", region ? region : "?",
                      failures_only && when[0] ? " at " : "", failures_only ? when : "");
    }
}

static void obs_text(const obs_sum *s, dr_buf *out)
{
    for (int k = 0; k < s->n_msgs; k++)
        dr_buf_printf(out, "%s%s (%s)", k ? " | " : "", s->msgs[k], dr_buf_str(&s->where[k]));
}

static void obs_free(obs_sum *s)
{
    for (int k = 0; k < s->n_msgs; k++)
        dr_buf_free(&s->where[k]);
}

/* A count check with a detail of any length (the SDK's printf-style helpers cut it at 512 bytes). */
static void report(dr_resource *res, const char *name, dr_status st, int observed, const char *detail)
{
    char ob[32];

    snprintf(ob, sizeof(ob), "%d", observed);
    dr_report_check(H, res, name, st, ob, "0", "count", detail);
}

/* One endpoint health check: what each checker region sees now, and the last failures. */
static void diag_check(dr_resource *res, dr_aws *aws, const char *hc, const char *label)
{
    char path[1024], name[1024], name2[1024];
    dr_doc *d = NULL;
    dr_error err;
    obs_sum now, last;
    dr_buf t = DR_BUF_INIT;

    memset(&now, 0, sizeof(now));
    memset(&last, 0, sizeof(last));
    snprintf(name, sizeof(name), "health_check_checkers%s", label);
    snprintf(name2, sizeof(name2), "health_check_last_failure%s", label);
    dr_error_clear(&err);
    snprintf(path, sizeof(path), API "/healthcheck/%s/status", hc);
    if (get(aws, "GetHealthCheckStatus", path, NULL, &d, &err) != 0) {
        dr_report_unknown(H, res, name, "0", &err);
    } else {
        read_obs(dr_doc_root(d), &now, 0, 0);
        if (now.failing == 0) {
            dr_buf_printf(&t, "all %d checker regions report Success for health check %s", now.total, hc);
            report(res, name, DR_STATUS_OK, 0, dr_buf_str(&t));
        } else {
            /* Route 53 counts an endpoint healthy while more than 18% of its checkers report it healthy */
            dr_status st = (double)(now.total - now.failing) <= 0.18 * now.total ? DR_STATUS_CRITICAL
                                                                                 : DR_STATUS_WARNING;
            dr_buf_printf(&t, "evidence: %d of %d checker regions report a failure of health check %s%s: ",
                          now.failing, now.total, hc,
                          st == DR_STATUS_CRITICAL ? " (Route 53 counts it unhealthy: the PRIMARY record is out)"
                                                   : " (still healthy for Route 53: more than 18% succeed)");
            obs_text(&now, &t);
            dr_buf_printf(&t, "; fix: %s", fix_for(now.msgs[0]));
            report(res, name, st, now.failing, t.failed ? "(out of memory)" : dr_buf_str(&t));
        }
    }
    dr_doc_free(d);
    d = NULL;
    dr_buf_reset(&t);
    dr_error_clear(&err);
    snprintf(path, sizeof(path), API "/healthcheck/%s/lastfailurereason", hc);
    if (get(aws, "GetHealthCheckLastFailureReason", path, NULL, &d, &err) != 0) {
        dr_report_unknown(H, res, name2, "0", &err);
    } else {
        read_obs(dr_doc_root(d), &last, 1, dr_now() - RECENT);
        if (last.failing == 0) {
            dr_buf_printf(&t, "no failure of health check %s in the last hour", hc);
            report(res, name2, DR_STATUS_OK, 0, dr_buf_str(&t));
        } else if (now.failing > 0) {
            /* a check failing now is the finding above; the last failures are its history */
            dr_buf_printf(&t, "health check %s fails now (see %s); its last failures: ", hc, name);
            obs_text(&last, &t);
            report(res, name2, DR_STATUS_OK, last.failing, t.failed ? "(out of memory)" : dr_buf_str(&t));
        } else {
            dr_buf_printf(&t, "evidence: health check %s is healthy now but %d checker region(s) saw it fail in the "
                          "last hour (an intermittent failure: the record can flap to the SECONDARY): ",
                          hc, last.failing);
            obs_text(&last, &t);
            dr_buf_printf(&t, "; fix: %s", fix_for(last.msgs[0]));
            report(res, name2, DR_STATUS_WARNING, last.failing, t.failed ? "(out of memory)" : dr_buf_str(&t));
        }
    }
    dr_doc_free(d);
    dr_buf_free(&t);
    obs_free(&now);
    obs_free(&last);
}

int r53_diagnose(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    const char *api_region = H->cfg_string(res, "api_region");
    char hc[80], path[1024], kids[CHILDREN_MAX][80], kind[40];
    dr_doc *d = NULL;
    dr_error e;
    dr_aws *aws;
    const char *type;
    int n = 0;

    (void)args;
    (void)err;
    dr_error_clear(&e);
    aws = dr_host_aws(H, res, api_region ? api_region : "us-east-1", &e);
    if (!aws || primary_check(res, aws, hc, sizeof(hc), &e) != 0) {
        dr_report_unknown(H, res, "health_check_checkers", "0", &e);
        return 0;
    }
    if (!hc[0]) {
        dr_report_state(H, res, "primary_health_check", DR_STATUS_CRITICAL, "none", "a health check",
                        "evidence: the PRIMARY record %s has no health check, so Route 53 never fails over to the "
                        "SECONDARY; fix: dr-agent configure (or set health_check_id to the existing check)",
                        H->cfg_string(res, "record"));
        return 0;
    }
    snprintf(path, sizeof(path), API "/healthcheck/%s", hc);
    if (get(aws, "GetHealthCheck", path, NULL, &d, &e) != 0) {
        dr_report_unknown(H, res, "health_check_checkers", "0", &e);
        return 0;
    }
    snprintf(kind, sizeof(kind), "%s", dr_node_str(dr_doc_root(d), "HealthCheck.HealthCheckConfig.Type")
                                         ? dr_node_str(dr_doc_root(d), "HealthCheck.HealthCheckConfig.Type") : "");
    type = kind; /* a copy: the answer is freed below */
    if (strcmp(type, "CALCULATED") == 0) {
        /* the endpoint checks under it: a CLOUDWATCH_METRIC child is the failover switch, not an endpoint */
        for (const dr_node *c = dr_node_first(dr_node_get(dr_doc_root(d), "HealthCheck.HealthCheckConfig.ChildHealthChecks"));
             c && n < CHILDREN_MAX; c = dr_node_next(c))
            if (dr_node_text(c))
                snprintf(kids[n++], sizeof(kids[0]), "%s", dr_node_text(c));
    }
    dr_doc_free(d);
    d = NULL;
    if (strcmp(type, "CALCULATED") != 0) {
        if (strcmp(type, "CLOUDWATCH_METRIC") == 0)
            dr_report_state(H, res, "health_check_checkers", DR_STATUS_OK, type, NULL,
                            "health check %s follows a CloudWatch alarm: no checker regions to ask", hc);
        else
            diag_check(res, aws, hc, "");
        return 0;
    }
    for (int i = 0; i < n; i++) {
        char label[1024];
        const char *kt;
        snprintf(path, sizeof(path), API "/healthcheck/%s", kids[i]);
        dr_error_clear(&e);
        if (get(aws, "GetHealthCheck", path, NULL, &d, &e) != 0) {
            snprintf(label, sizeof(label), "health_check_checkers:%s", kids[i]);
            dr_report_unknown(H, res, label, "0", &e);
            continue;
        }
        kt = dr_node_str(dr_doc_root(d), "HealthCheck.HealthCheckConfig.Type");
        if (!kt || (strcmp(kt, "CLOUDWATCH_METRIC") != 0 && strcmp(kt, "CALCULATED") != 0)) {
            snprintf(label, sizeof(label), ":%s", kids[i]);
            diag_check(res, aws, kids[i], label);
        }
        dr_doc_free(d);
        d = NULL;
    }
    return 0;
}
