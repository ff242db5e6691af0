/* route53.c: the route53 plugin: a health check on the primary endpoint and PRIMARY/SECONDARY failover records. */
#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "diagnose.h"
#include "dns.h"
#include "dr/sdk.h"

/*
 * The runbook this replaces:
 *   configure  create the HTTPS health check on the primary API endpoint; UPSERT the PRIMARY
 *              record (with that health check) and the SECONDARY record (the DR endpoint)
 *   verify     the health check exists, matches the config and is healthy; both records are
 *              there with their failover roles; the PRIMARY uses the health check; small TTL
 *   failover   failover_method alarm (the reference): put "traffic on DR" into a CloudWatch metric in the
 *              DR region, whose alarm a CLOUDWATCH_METRIC health check follows; the PRIMARY's calculated
 *              health check (endpoint AND alarm) turns unhealthy and Route 53's data plane answers the
 *              SECONDARY. No call to Route 53's control plane (us-east-1) is on that path.
 *              invert / records: invert the health check or point the PRIMARY at the DR endpoint
 *              (Route 53 control-plane calls), wait until Route 53 acts on it, optionally ask a resolver
 *   failback   undo that, wait until INSYNC
 *
 * Where traffic goes is read from the AWS/Route53 HealthCheckStatus metric (CloudWatch, us-east-1),
 * which AWS defines as the status Route 53 acts on, after inversion; GetHealthCheckStatus only gives
 * the checkers' reasons (AWS documents it as each checker's report, and which way it shows an
 * inverted check is not settled). Route 53 requests are paced process-wide to its 5 per second.
 *
 * The health check that dr-agent creates is found again by its CallerReference, which starts
 * with "dr-agent/<resource id>/" (or a hash of a long id): no local state is needed, so a
 * second run or a run after a crash finds what the first one created. When there is none and
 * health_check_id is not set, the check the PRIMARY failover record names (one made by hand) is
 * the resource's health check: verify judges it and configure/failover manage it.
 */

static const dr_host_api *H;

#define R53_NS "https://route53.amazonaws.com/doc/2013-04-01/"
#define R53_API "/2013-04-01"
#define UPDATE_ATTEMPTS 3
#define TRAFFIC_NS "DrAgent/Route53"   /* the metric the traffic alarm watches: 1 = traffic on DR */
#define TRAFFIC_METRIC "TrafficOnDR"
#define R53_RATE 5                     /* Route 53 allows 5 API requests per second per account: */
#define R53_WINDOW_MS 1100             /* at most R53_RATE requests in any R53_WINDOW_MS (a little under) */
#define WAIT_MAX_MS 30000              /* polling backs off up to this */

static const dr_config_key keys[] = {
    {"zone", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL, "hosted zone name, e.g. roadcall.example.com"},
    {"zone_id", DR_KEY_STRING, 0, NULL, NULL, "hosted zone id (skips the lookup by name; needed when several zones share the name)"},
    {"record", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL, "the failover record's name, inside the zone"},
    {"record_type", DR_KEY_ENUM, 0, "CNAME", "CNAME|A|AAAA", "type of the failover records"},
    {"primary_value", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL, "what the PRIMARY record answers: the primary region's endpoint"},
    {"secondary_value", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL, "what the SECONDARY record answers: the DR region's endpoint"},
    {"ttl", DR_KEY_INT, 0, "60", NULL, "TTL of both records, seconds"},
    {"ttl_warning", DR_KEY_DURATION, 0, "5m", NULL, "verify warns when a record's TTL is above this (CRITICAL above the RTO)"},
    {"primary_set_identifier", DR_KEY_STRING, 0, "primary", NULL, "SetIdentifier of the PRIMARY record"},
    {"secondary_set_identifier", DR_KEY_STRING, 0, "secondary", NULL, "SetIdentifier of the SECONDARY record"},
    {"health_check_id", DR_KEY_STRING, 0, NULL, NULL, "use this existing health check instead of the one dr-agent creates and finds by CallerReference"},
    {"health_check_type", DR_KEY_ENUM, 0, "HTTPS", "HTTPS|HTTP|TCP", "health check protocol"},
    {"health_check_fqdn", DR_KEY_STRING, 0, NULL, NULL, "host the health check connects to (default: primary_value for CNAME records)"},
    {"health_check_path", DR_KEY_STRING, 0, "/", NULL, "HTTP(S) path the health check requests"},
    {"health_check_port", DR_KEY_INT, 0, NULL, NULL, "health check port (default: 443 for HTTPS, 80 for HTTP; required for TCP)"},
    {"health_check_interval", DR_KEY_INT, 0, "30", NULL, "seconds between checks of each checker: 10 or 30 (fixed once created)"},
    {"health_check_failure_threshold", DR_KEY_INT, 0, "3", NULL, "consecutive failures before unhealthy, 1 to 10"},
    {"health_check_sni", DR_KEY_BOOL, 0, "true", NULL, "send the host name in the TLS handshake (HTTPS)"},
    {"failover_method", DR_KEY_ENUM, 0, "invert", "invert|records|alarm", "how failover moves traffic: invert the health check or point the PRIMARY record at the DR endpoint (both Route 53 control-plane calls, in us-east-1), or set a CloudWatch alarm in the DR region that the PRIMARY's health check follows (no control-plane call in the region being left)"},
    {"alarm_name", DR_KEY_STRING, 0, NULL, NULL, "failover_method alarm: name of the traffic alarm (default dr-agent-<resource id>-traffic)"},
    {"alarm_region", DR_KEY_STRING, 0, NULL, NULL, "failover_method alarm: region of the traffic alarm (default the DR region)"},
    {"resolver", DR_KEY_STRING, 0, NULL, NULL, "DNS resolver (numeric host[:port]) asked after failover/failback to confirm the answer"},
    {"dns_timeout", DR_KEY_DURATION, 0, "2m", NULL, "how long failover/failback ask the resolver before warning"},
    {"change_timeout", DR_KEY_DURATION, 0, "10m", NULL, "how long to wait for a change to be INSYNC or for the health check to flip"},
    {"poll_interval", DR_KEY_DURATION, 0, "2s", NULL, "time between two polls while waiting (change status, health check status, resolver)"},
    {"api_region", DR_KEY_STRING, 0, "us-east-1", NULL, "region whose credentials sign the (global) Route 53 API calls"},
};

static const char *const r53_default_deps[] = {"dynamodb.*", "aurora.*", "s3.*", NULL};

/* ---- the configuration, resolved ---- */

typedef struct r53_conf {
    const char *zone, *zone_id, *record, *type, *primary_value, *secondary_value;
    const char *primary_sid, *secondary_sid, *hc_id, *hc_type, *hc_fqdn, *hc_ip, *hc_path, *resolver, *api_region;
    int64_t ttl;
    double ttl_warning, dns_timeout, change_timeout;
    int64_t poll_ms;
    int hc_port, hc_interval, hc_threshold, hc_sni, by_records, by_alarm;
    char record_dot[260]; /* lower-case, with the trailing dot, as Route 53 lists it */
    char caller_prefix[64];
    char alarm_prefix[64], calc_prefix[64]; /* CallerReference prefixes of the alarm and calculated checks */
    char alarm_name[256];
    const char *alarm_region, *primary_region;
    const char *id;
} r53_conf;

typedef enum { ROLE_PRIMARY = 0, ROLE_SECONDARY = 1 } r53_role;
static const char *const role_name[] = {"PRIMARY", "SECONDARY"};

/* One record set as Route 53 holds it. */
typedef struct r53_rrset {
    int present;
    char set_id[132];
    char failover[16];
    int64_t ttl;
    int has_ttl, alias;
    size_t n_values;
    char value[1024];   /* the first ResourceRecord value */
    char hc_id[72];     /* HealthCheckId, "" when none */
    dr_buf xml;         /* the record set re-serialised, for a DELETE that must match it exactly */
} r53_rrset;

/* A health check as Route 53 holds it. */
typedef struct r53_hc {
    int found;
    char id[72];
    int64_t version;
    char type[24], fqdn[256], ip[64], path[256];
    int port, interval, threshold, sni, inverted, disabled;
    int health_threshold, n_children;
    char children[4][72];
    char alarm_region[32], alarm_name[256];
} r53_hc;

/* The traffic alarm as CloudWatch holds it. */
typedef struct r53_alarm {
    int found, drifted;
    char state[24];   /* OK, ALARM, INSUFFICIENT_DATA */
} r53_alarm;

/* Everything read before acting. */
typedef struct r53_state {
    char zone_id[40];
    int zone_rc;            /* 0, or the error of the zone / records lookup */
    dr_error zone_err;
    r53_rrset rr[2];        /* by role */
    r53_rrset plain;        /* a record of the same name and type without routing policy: conflicts */
    int hc_rc;              /* 0, or the error of the health check lookup */
    dr_error hc_err;
    r53_hc hc;
    int st_rc;              /* 0, or the error reading the status of the check the PRIMARY uses */
    dr_error st_err;
    int st_healthy, st_total; /* from the HealthCheckStatus metric: 1 of 1 healthy, or 0 of 1 */
    /* failover_method alarm */
    int ep_rc;              /* status of the endpoint check (the calculated one's child) */
    dr_error ep_err;
    int ep_healthy;
    r53_hc ahc, chc;        /* the alarm and calculated health checks */
    int alarm_rc;
    dr_error alarm_err;
    r53_alarm alarm;
    int adopted;            /* hc is the check the PRIMARY record names, found without the config (record_hc_id) */
} r53_state;

static void state_free(r53_state *s)
{
    dr_buf_free(&s->rr[0].xml);
    dr_buf_free(&s->rr[1].xml);
    dr_buf_free(&s->plain.xml);
}

/* ---- small helpers ---- */

/* "Name." lower-case with exactly one trailing dot. */
static void dns_norm(const char *in, char *out, size_t len)
{
    size_t i = 0;

    for (; in && *in && i + 2 < len; in++)
        out[i++] = (char)tolower((unsigned char)*in);
    while (i > 0 && out[i - 1] == '.')
        i--;
    out[i++] = '.';
    out[i] = '\0';
}

/* Record values compared as DNS data: names ignore case and the trailing dot, addresses compare as bytes. */
static int value_eq(const char *type, const char *a, const char *b)
{
    char na[300], nb[300];
    unsigned char ba[16], bb[16];
    int af = strcmp(type, "AAAA") == 0 ? AF_INET6 : AF_INET;

    if (!a || !b)
        return 0;
    if (strcmp(type, "CNAME") != 0) {
        if (inet_pton(af, a, ba) == 1 && inet_pton(af, b, bb) == 1)
            return memcmp(ba, bb, af == AF_INET6 ? 16 : 4) == 0;
        return strcmp(a, b) == 0;
    }
    dns_norm(a, na, sizeof(na));
    dns_norm(b, nb, sizeof(nb));
    return strcmp(na, nb) == 0;
}

/* The id without its "/hostedzone/" or "/change/" prefix (botocore's fix_route53_ids keeps the last segment). */
static const char *strip_id(const char *id)
{
    const char *slash = id ? strrchr(id, '/') : NULL;
    return slash ? slash + 1 : id;
}

static void copy_str(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static int64_t left_ms(dr_resource *res, double limit_s)
{
    int64_t lim = (int64_t)(limit_s * 1000.0);
    int64_t rem = H->remaining_ms(res);
    return lim > 0 && lim < rem ? lim : rem;
}

static dr_aws *client(dr_resource *res, const r53_conf *c, dr_error *err)
{
    return dr_host_aws(H, res, c->api_region, err);
}

/* ---- configuration ---- */

static int load_conf(dr_resource *res, r53_conf *c, dr_error *err)
{
    char zone_dot[260];
    size_t zl, rl;
    const char *id = H->resource_id(res);

    memset(c, 0, sizeof(*c));
    c->zone = H->cfg_string(res, "zone");
    c->zone_id = H->cfg_string(res, "zone_id");
    c->record = H->cfg_string(res, "record");
    c->type = H->cfg_string(res, "record_type");
    c->primary_value = H->cfg_string(res, "primary_value");
    c->secondary_value = H->cfg_string(res, "secondary_value");
    c->primary_sid = H->cfg_string(res, "primary_set_identifier");
    c->secondary_sid = H->cfg_string(res, "secondary_set_identifier");
    c->hc_id = H->cfg_string(res, "health_check_id");
    c->hc_type = H->cfg_string(res, "health_check_type");
    c->hc_fqdn = H->cfg_string(res, "health_check_fqdn");
    c->hc_path = H->cfg_string(res, "health_check_path");
    c->resolver = H->cfg_string(res, "resolver");
    c->api_region = H->cfg_string(res, "api_region");
    c->ttl = H->cfg_int(res, "ttl");
    c->ttl_warning = H->cfg_float(res, "ttl_warning");
    c->dns_timeout = H->cfg_float(res, "dns_timeout");
    c->change_timeout = H->cfg_float(res, "change_timeout");
    c->poll_ms = (int64_t)(H->cfg_float(res, "poll_interval") * 1000.0);
    c->hc_interval = (int)H->cfg_int(res, "health_check_interval");
    c->hc_threshold = (int)H->cfg_int(res, "health_check_failure_threshold");
    c->hc_sni = H->cfg_bool(res, "health_check_sni") && strcmp(c->hc_type, "HTTPS") == 0;
    c->by_records = strcmp(H->cfg_string(res, "failover_method"), "records") == 0;
    c->by_alarm = strcmp(H->cfg_string(res, "failover_method"), "alarm") == 0;
    c->id = id;
    c->primary_region = H->primary_region(res);
    c->alarm_region = H->cfg_string(res, "alarm_region");
    if (!c->alarm_region)
        c->alarm_region = H->dr_region(res);
    if (H->cfg_string(res, "alarm_name"))
        copy_str(c->alarm_name, sizeof(c->alarm_name), H->cfg_string(res, "alarm_name"));
    else
        snprintf(c->alarm_name, sizeof(c->alarm_name), "dr-agent-%.200s-traffic", id);
    if (H->cfg_has(res, "health_check_port"))
        c->hc_port = (int)H->cfg_int(res, "health_check_port");
    else
        c->hc_port = strcmp(c->hc_type, "HTTPS") == 0 ? 443 : strcmp(c->hc_type, "HTTP") == 0 ? 80 : 0;
    if (strcmp(c->hc_type, "TCP") == 0)
        c->hc_path = NULL;
    /* A/AAAA records hold an address: the health check targets that address. */
    if (strcmp(c->type, "CNAME") == 0) {
        if (!c->hc_fqdn)
            c->hc_fqdn = c->primary_value;
    } else {
        c->hc_ip = c->primary_value;
    }

    if (c->poll_ms < 10)
        return dr_error_set(err, DR_ECONFIG, "poll_interval must be at least 10ms");
    if (c->ttl < 0 || c->ttl > 2147483647)
        return dr_error_set(err, DR_ECONFIG, "ttl must be between 0 and 2147483647");
    if (c->hc_interval != 10 && c->hc_interval != 30)
        return dr_error_set(err, DR_ECONFIG, "health_check_interval must be 10 or 30 (Route 53 offers nothing else)");
    if (c->hc_threshold < 1 || c->hc_threshold > 10)
        return dr_error_set(err, DR_ECONFIG, "health_check_failure_threshold must be between 1 and 10");
    if (c->hc_port < 1 || c->hc_port > 65535)
        return dr_error_set(err, DR_ECONFIG, "health_check_port must be between 1 and 65535%s",
                            strcmp(c->hc_type, "TCP") == 0 ? " (a TCP health check needs it)" : "");
    if (c->hc_path && c->hc_path[0] != '/')
        return dr_error_set(err, DR_ECONFIG, "health_check_path must start with '/'");
    if (strcmp(c->type, "CNAME") != 0) {
        unsigned char a[16];
        int af = strcmp(c->type, "AAAA") == 0 ? AF_INET6 : AF_INET;
        if (inet_pton(af, c->primary_value, a) != 1 || inet_pton(af, c->secondary_value, a) != 1)
            return dr_error_set(err, DR_ECONFIG, "%s records need addresses in primary_value and secondary_value",
                                c->type);
    }
    if (value_eq(c->type, c->primary_value, c->secondary_value))
        return dr_error_set(err, DR_ECONFIG, "primary_value and secondary_value must differ");
    if (strcmp(c->primary_sid, c->secondary_sid) == 0)
        return dr_error_set(err, DR_ECONFIG, "the two set identifiers must differ");
    if (c->resolver) {
        char host[64];
        int port;
        if (r53_dns_parse_server(c->resolver, host, sizeof(host), &port) != 0)
            return dr_error_set(err, DR_ECONFIG, "resolver '%s' must be a numeric address with an optional port "
                                "(192.0.2.53:53 or [2001:db8::53]:53)", c->resolver);
    }
    dns_norm(c->record, c->record_dot, sizeof(c->record_dot));
    dns_norm(c->zone, zone_dot, sizeof(zone_dot));
    zl = strlen(zone_dot);
    rl = strlen(c->record_dot);
    if (rl < zl || strcmp(c->record_dot + rl - zl, zone_dot) != 0 ||
        (rl > zl && c->record_dot[rl - zl - 1] != '.'))
        return dr_error_set(err, DR_ECONFIG, "record %s is not inside zone %s", c->record, c->zone);
    if (strlen(id) <= 40) {
        snprintf(c->caller_prefix, sizeof(c->caller_prefix), "dr-agent/%s/", id);
        snprintf(c->alarm_prefix, sizeof(c->alarm_prefix), "dr-agent-alarm/%s/", id);
        snprintf(c->calc_prefix, sizeof(c->calc_prefix), "dr-agent-calc/%s/", id);
    } else {
        snprintf(c->caller_prefix, sizeof(c->caller_prefix), "dr-agent/#%016llx/", (unsigned long long)fnv1a(id));
        snprintf(c->alarm_prefix, sizeof(c->alarm_prefix), "dr-agent-alarm/#%016llx/", (unsigned long long)fnv1a(id));
        snprintf(c->calc_prefix, sizeof(c->calc_prefix), "dr-agent-calc/#%016llx/", (unsigned long long)fnv1a(id));
    }
    if (c->by_alarm && (!c->alarm_region || !*c->alarm_region))
        return dr_error_set(err, DR_ECONFIG, "failover_method alarm needs alarm_region (or a DR region)");
    if (c->by_alarm && c->hc_id)
        return dr_error_set(err, DR_ECONFIG, "failover_method alarm manages its health checks: unset health_check_id");
    return 0;
}

static int r53_validate(dr_resource *res, dr_error *err)
{
    r53_conf c;
    int rc = load_conf(res, &c, err);

    /* what a failover calls: CloudWatch in alarm_region, or Route 53's control plane */
    if (rc == 0 && DR_HAS_MEMBER(H, dr_host_api, failover_control_plane))
        H->failover_control_plane(res, c.by_alarm ? "cloudwatch" : "route53", c.by_alarm ? c.alarm_region : c.api_region);
    return rc;
}

/* ---- Route 53 calls ---- */

/*
 * Route 53 allows five API requests per second per account, whatever the caller: every request of
 * this process (all route53 resources, waits included) takes the next 210 ms slot.
 */
static pthread_mutex_t pace_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t pace_sent[R53_RATE]; /* when the last R53_RATE requests went, a ring */
static unsigned pace_at;

/* Wait until a request keeps the process within R53_RATE requests in any R53_WINDOW_MS: a verify's few
   requests go at once, a long run is held to the account's rate. */
static void r53_pace(void)
{
    int64_t now, at;

    pthread_mutex_lock(&pace_mu);
    now = dr_mono_ms();
    at = pace_sent[pace_at] ? pace_sent[pace_at] + R53_WINDOW_MS : now; /* the R53_RATE-th request back */
    if (at < now)
        at = now;
    pace_sent[pace_at] = at;
    pace_at = (pace_at + 1) % R53_RATE;
    pthread_mutex_unlock(&pace_mu);
    if (at > now) {
        struct timespec ts = {(time_t)((at - now) / 1000), (long)((at - now) % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/*
 * dr_wait_for with back-off: the interval grows by half each poll up to WAIT_MAX_MS (or poll_ms
 * when that is larger), so a long wait costs few requests against the shared budget.
 */
static int r53_wait(dr_resource *res, const char *what, int64_t poll_ms, int64_t max_ms, dr_probe_fn probe, void *arg,
                    dr_error *err)
{
    int64_t start = dr_mono_ms(), interval = poll_ms > 0 ? poll_ms : 1000;
    int64_t cap = interval > WAIT_MAX_MS ? interval : WAIT_MAX_MS;
    char status[128];

    for (;;) {
        int64_t left;
        int rc;

        status[0] = '\0';
        rc = probe(arg, status, sizeof(status), err);
        if (rc < 0)
            return rc;
        if (rc == 1)
            return 0;
        H->progress(res, "waiting for %s%s%s (%.1fs)", what, status[0] ? ": " : "", status,
                    (double)(dr_mono_ms() - start) / 1000.0);
        left = max_ms > 0 ? max_ms - (dr_mono_ms() - start) : interval;
        if (left <= 0)
            return dr_error_set(err, DR_ETIMEDOUT, "gave up waiting for %s after %.1fs%s%s", what,
                                (double)(dr_mono_ms() - start) / 1000.0, status[0] ? "; last seen: " : "", status);
        rc = H->sleep_ms(res, interval < left ? interval : left);
        if (rc == DR_ETIMEDOUT)
            return dr_error_set(err, DR_ETIMEDOUT, "the hook deadline passed while waiting for %s (%s)", what,
                                status[0] ? status : "no status");
        if (rc == DR_ECANCELED)
            return dr_error_set(err, DR_ECANCELED, "cancelled while waiting for %s", what);
        interval += interval / 2;
        if (interval > cap)
            interval = cap;
    }
}

static int r53_call(dr_aws *aws, const char *method, const char *op, const char *path, const char *query,
                    const char *body, dr_doc **out, dr_error *err)
{
    dr_aws_request req;

    memset(&req, 0, sizeof(req));
    req.struct_size = sizeof(req);
    req.service = "route53";
    req.operation = op;
    req.protocol = DR_AWS_REST_XML;
    req.method = method;
    req.path = path;
    req.query = query;
    req.body = body;
    r53_pace();
    return dr_aws_rest(aws, &req, out, err);
}

/* ListHostedZonesByName: the one zone with exactly this name. */
static int r53_get_shared(dr_resource *memo_res, dr_aws *aws, const char *op, const char *path, const char *query,
                          dr_doc **d, dr_error *err);

/* find_zone; memo_res non-NULL (verify): the lookup shared by the run's resources in this zone. */
static int find_zone_m(dr_resource *memo_res, dr_aws *aws, const r53_conf *c, char *zone_id, size_t len,
                       dr_error *err)
{
    char want[260], have[260];
    dr_buf q = DR_BUF_INIT;
    dr_doc *d = NULL;
    int rc, n = 0;

    if (c->zone_id) {
        copy_str(zone_id, len, strip_id(c->zone_id));
        return 0;
    }
    dns_norm(c->zone, want, sizeof(want));
    dr_buf_puts(&q, "dnsname=");
    dr_buf_uri_encode(&q, want, 0);
    dr_buf_puts(&q, "&maxitems=100");
    rc = r53_get_shared(memo_res, aws, "ListHostedZonesByName", R53_API "/hostedzonesbyname", dr_buf_str(&q), &d,
                        err);
    if (rc != 0)
        goto out;
    for (const dr_node *z = dr_node_first(dr_node_get(dr_doc_root(d), "HostedZones")); z; z = dr_node_next(z)) {
        dns_norm(dr_node_str(z, "Name"), have, sizeof(have));
        if (strcmp(have, want) != 0)
            continue;
        if (n++ == 0)
            copy_str(zone_id, len, strip_id(dr_node_str(z, "Id")));
    }
    if (n == 0)
        rc = dr_error_set(err, DR_ENOTFOUND, "no hosted zone is named %s", c->zone);
    else if (n > 1)
        rc = dr_error_set(err, DR_ECONFIG, "%d hosted zones are named %s: set zone_id", n, c->zone);
out:
    dr_buf_free(&q);
    dr_doc_free(d);
    return rc;
}

static int find_zone(dr_aws *aws, const r53_conf *c, char *zone_id, size_t len, dr_error *err)
{
    return find_zone_m(NULL, aws, c, zone_id, len, err);
}

/* Write a response node back as request XML (Route 53 lists members in the order its requests take them). */
static void node_xml(dr_buf *b, const dr_node *n)
{
    const char *name = dr_node_name(n);

    if (dr_node_kind_of(n) == DR_NODE_OBJECT) {
        dr_buf_printf(b, "<%s>", name);
        for (const dr_node *k = dr_node_first(n); k; k = dr_node_next(k))
            node_xml(b, k);
        dr_buf_printf(b, "</%s>", name);
    } else {
        dr_buf_xml_elem(b, name, dr_node_text(n) ? dr_node_text(n) : "");
    }
}

static void parse_rrset(const dr_node *n, r53_rrset *r)
{
    const dr_node *rr = dr_node_get(n, "ResourceRecords");

    r->present = 1;
    copy_str(r->set_id, sizeof(r->set_id), dr_node_str(n, "SetIdentifier"));
    copy_str(r->failover, sizeof(r->failover), dr_node_str(n, "Failover"));
    r->has_ttl = dr_node_get(n, "TTL") != NULL;
    r->ttl = (int64_t)dr_node_num(n, "TTL", 0);
    r->alias = dr_node_get(n, "AliasTarget") != NULL;
    r->n_values = dr_node_count(rr);
    copy_str(r->value, sizeof(r->value), dr_node_str(dr_node_first(rr), "Value"));
    copy_str(r->hc_id, sizeof(r->hc_id), dr_node_str(n, "HealthCheckId"));
    dr_buf_reset(&r->xml);
    node_xml(&r->xml, n);
}

/* ListResourceRecordSets from our name and type on, page by page, until the name or type changes. */
static int read_records(dr_aws *aws, const r53_conf *c, r53_state *s, dr_error *err)
{
    char path[128], next_name[1100] = "", next_type[16] = "", next_id[132] = "";
    int rc = 0, pages = 0;

    snprintf(path, sizeof(path), R53_API "/hostedzone/%s/rrset", s->zone_id);
    copy_str(next_name, sizeof(next_name), c->record_dot);
    copy_str(next_type, sizeof(next_type), c->type);
    for (;;) {
        dr_buf q = DR_BUF_INIT;
        dr_doc *d = NULL;
        const dr_node *root;
        int done = 0;

        if (next_id[0]) {
            dr_buf_puts(&q, "identifier=");
            dr_buf_uri_encode(&q, next_id, 0);
            dr_buf_puts(&q, "&");
        }
        dr_buf_puts(&q, "maxitems=300&name=");
        dr_buf_uri_encode(&q, next_name, 0);
        dr_buf_printf(&q, "&type=%s", next_type);
        rc = r53_call(aws, "GET", "ListResourceRecordSets", path, dr_buf_str(&q), NULL, &d, err);
        dr_buf_free(&q);
        if (rc != 0)
            return rc;
        root = dr_doc_root(d);
        for (const dr_node *n = dr_node_first(dr_node_get(root, "ResourceRecordSets")); n; n = dr_node_next(n)) {
            char name[1100];
            const char *type = dr_node_str(n, "Type");
            const char *fo = dr_node_str(n, "Failover");
            r53_rrset *slot;

            dns_norm(dr_node_str(n, "Name"), name, sizeof(name));
            if (strcmp(name, c->record_dot) != 0 || !type || strcmp(type, c->type) != 0) {
                done = 1;
                break;
            }
            if (fo && strcmp(fo, "PRIMARY") == 0)
                slot = &s->rr[ROLE_PRIMARY];
            else if (fo && strcmp(fo, "SECONDARY") == 0)
                slot = &s->rr[ROLE_SECONDARY];
            else
                slot = &s->plain; /* no failover policy: it blocks ours (a CNAME name holds one policy) */
            parse_rrset(n, slot);
        }
        if (!done && dr_node_bool(root, "IsTruncated", 0) && ++pages < 50) {
            const char *nn = dr_node_str(root, "NextRecordName"), *nt = dr_node_str(root, "NextRecordType");
            if (!nn || !nt) {
                dr_doc_free(d);
                break;
            }
            copy_str(next_name, sizeof(next_name), nn);
            copy_str(next_type, sizeof(next_type), nt);
            copy_str(next_id, sizeof(next_id), dr_node_str(root, "NextRecordIdentifier"));
            dr_doc_free(d);
            continue;
        }
        dr_doc_free(d);
        break;
    }
    return 0;
}

static void parse_hc(const dr_node *hc, r53_hc *h)
{
    const dr_node *cfg = dr_node_get(hc, "HealthCheckConfig");

    h->found = 1;
    copy_str(h->id, sizeof(h->id), dr_node_str(hc, "Id"));
    h->version = (int64_t)dr_node_num(hc, "HealthCheckVersion", 1);
    copy_str(h->type, sizeof(h->type), dr_node_str(cfg, "Type"));
    copy_str(h->fqdn, sizeof(h->fqdn), dr_node_str(cfg, "FullyQualifiedDomainName"));
    copy_str(h->ip, sizeof(h->ip), dr_node_str(cfg, "IPAddress"));
    copy_str(h->path, sizeof(h->path), dr_node_str(cfg, "ResourcePath"));
    h->port = (int)dr_node_num(cfg, "Port", 0);
    h->interval = (int)dr_node_num(cfg, "RequestInterval", 30);
    h->threshold = (int)dr_node_num(cfg, "FailureThreshold", 3);
    h->sni = dr_node_bool(cfg, "EnableSNI", 0);
    h->inverted = dr_node_bool(cfg, "Inverted", 0);
    h->disabled = dr_node_bool(cfg, "Disabled", 0);
    h->health_threshold = (int)dr_node_num(cfg, "HealthThreshold", 0);
    h->n_children = 0;
    for (const dr_node *k = dr_node_first(dr_node_get(cfg, "ChildHealthChecks")); k && h->n_children < 4;
         k = dr_node_next(k))
        copy_str(h->children[h->n_children++], sizeof(h->children[0]), dr_node_text(k));
    copy_str(h->alarm_region, sizeof(h->alarm_region), dr_node_str(cfg, "AlarmIdentifier.Region"));
    copy_str(h->alarm_name, sizeof(h->alarm_name), dr_node_str(cfg, "AlarmIdentifier.Name"));
}

static int has_child(const r53_hc *h, const char *id)
{
    for (int i = 0; i < h->n_children; i++)
        if (strcmp(h->children[i], id) == 0)
            return 1;
    return 0;
}

static int get_hc(dr_aws *aws, const char *id, r53_hc *h, dr_error *err)
{
    char path[160];
    dr_doc *d = NULL;
    int rc;

    snprintf(path, sizeof(path), R53_API "/healthcheck/%s", id);
    rc = r53_call(aws, "GET", "GetHealthCheck", path, NULL, NULL, &d, err);
    if (rc == 0)
        parse_hc(dr_node_get(dr_doc_root(d), "HealthCheck"), h);
    dr_doc_free(d);
    return rc;
}

/* A GET of the Route 53 API as the memo's fill: the answer's XML text. */
typedef struct r53_get {
    dr_aws *aws;
    const char *op, *path, *query;
} r53_get;

static int fill_get(void *arg, char **value, size_t *len, dr_error *err)
{
    r53_get *p = arg;
    dr_aws_request req;

    dr_aws_request_init(&req, sizeof(req), "route53", DR_AWS_REST_XML, p->op, "GET", p->path, p->query);
    r53_pace();
    return dr_aws_send_text(p->aws, &req, value, len, err);
}

/*
 * A read-only GET; memo_res non-NULL (verify): through the run's memo, so the resources of a run that ask the
 * same (one listing of the account's health checks, one zone lookup) share one request.
 */
static int r53_get_shared(dr_resource *memo_res, dr_aws *aws, const char *op, const char *path, const char *query,
                          dr_doc **d, dr_error *err)
{
    r53_get p = {aws, op, path, query};
    char key[512], *text = NULL;
    size_t len = 0;
    int rc;

    if (!memo_res)
        return r53_call(aws, "GET", op, path, query, NULL, d, err);
    if (snprintf(key, sizeof(key), "route53:%s:%s?%s", op, path, query ? query : "") >= (int)sizeof(key))
        return r53_call(aws, "GET", op, path, query, NULL, d, err);
    rc = H->memo(memo_res, aws, key, fill_get, &p, &text, &len, err);
    if (rc == 0)
        rc = dr_doc_parse_xml(text, len, d, err);
    free(text);
    return rc;
}

/* ListHealthChecks, every page (at most 100), each health check handed to visit. */
static int each_health_check_m(dr_resource *memo_res, dr_aws *aws, void (*visit)(const dr_node *hc, void *arg),
                               void *arg, dr_error *err)
{
    char marker[128] = "";
    int rc, pages = 0;

    for (;;) {
        dr_buf q = DR_BUF_INIT;
        dr_doc *d = NULL;
        const dr_node *root;
        int more;

        dr_buf_puts(&q, "maxitems=100");
        if (marker[0]) {
            dr_buf_puts(&q, "&marker=");
            dr_buf_uri_encode(&q, marker, 0);
        }
        rc = r53_get_shared(memo_res, aws, "ListHealthChecks", R53_API "/healthcheck", dr_buf_str(&q), &d, err);
        dr_buf_free(&q);
        if (rc != 0)
            return rc;
        root = dr_doc_root(d);
        for (const dr_node *n = dr_node_first(dr_node_get(root, "HealthChecks")); n; n = dr_node_next(n))
            visit(n, arg);
        more = dr_node_bool(root, "IsTruncated", 0) && dr_node_str(root, "NextMarker") && ++pages < 100;
        if (more)
            copy_str(marker, sizeof(marker), dr_node_str(root, "NextMarker"));
        dr_doc_free(d);
        if (!more)
            return 0;
    }
}

/* The health checks with this resource's CallerReference prefix: the first, or the one the PRIMARY uses. */
struct own_hc_visit {
    const r53_conf *c;
    const r53_state *s;
    r53_hc *h;
    int matches;
};

static void visit_own_hc(const dr_node *n, void *arg)
{
    struct own_hc_visit *v = arg;
    const char *ref = dr_node_str(n, "CallerReference");
    const char *id = dr_node_str(n, "Id");

    if (!ref || strncmp(ref, v->c->caller_prefix, strlen(v->c->caller_prefix)) != 0)
        return;
    if (v->matches++ == 0 || (id && v->s->rr[ROLE_PRIMARY].present && strcmp(id, v->s->rr[ROLE_PRIMARY].hc_id) == 0))
        parse_hc(n, v->h);
}

/* failover_method alarm: the first alarm and calculated health checks by their prefixes. */
struct traffic_hc_visit {
    const r53_conf *c;
    r53_hc *ahc, *chc;
};

static void visit_traffic_hc(const dr_node *n, void *arg)
{
    struct traffic_hc_visit *v = arg;
    const char *ref = dr_node_str(n, "CallerReference");

    if (ref && !v->ahc->found && strncmp(ref, v->c->alarm_prefix, strlen(v->c->alarm_prefix)) == 0)
        parse_hc(n, v->ahc);
    else if (ref && !v->chc->found && strncmp(ref, v->c->calc_prefix, strlen(v->c->calc_prefix)) == 0)
        parse_hc(n, v->chc);
}

/*
 * The health check this resource manages: the configured health_check_id, or
 * the one whose CallerReference carries our prefix. Several with our prefix
 * (two runs racing) are resolved in favour of the one the PRIMARY uses.
 * Sets h->found = 0 when there is none.
 */
static int find_hc_n(dr_resource *memo_res, dr_resource *res, dr_aws *aws, const r53_conf *c, const r53_state *s,
                     r53_hc *h, int *n_matches, dr_error *err);

static int find_hc(dr_resource *res, dr_aws *aws, const r53_conf *c, const r53_state *s, r53_hc *h, dr_error *err)
{
    return find_hc_n(NULL, res, aws, c, s, h, NULL, err);
}

/* find_hc, telling how many health checks carry the prefix; res NULL: no log line (a batch's worker); memo_res
   non-NULL: the listing through the run's memo. */
static int find_hc_n(dr_resource *memo_res, dr_resource *res, dr_aws *aws, const r53_conf *c, const r53_state *s,
                     r53_hc *h, int *n_matches, dr_error *err)
{
    int rc = 0, matches = 0;

    memset(h, 0, sizeof(*h));
    if (c->hc_id) {
        rc = get_hc(aws, c->hc_id, h, err);
        if (rc == DR_ENOTFOUND) {
            h->found = 0;
            return 0;
        }
        return rc;
    }
    {
        struct own_hc_visit v = {c, s, h, 0};
        rc = each_health_check_m(memo_res, aws, visit_own_hc, &v, err);
        if (rc != 0)
            return rc;
        matches = v.matches;
    }
    if (n_matches)
        *n_matches = matches;
    if (matches > 1 && res)
        H->log(res, DR_LOG_WARN, "%d health checks carry the CallerReference prefix %s; using %s", matches,
               c->caller_prefix, h->id);
    return 0;
}

/*
 * The health check the PRIMARY record names, when none is configured and none carries our
 * CallerReference prefix: a check made by hand (or by another tool) is adopted, not duplicated.
 * NULL when there is nothing to adopt (the alarm method manages its own checks).
 */
static const char *record_hc_id(const r53_conf *c, const r53_state *s)
{
    if (c->hc_id || c->by_alarm || s->zone_rc != 0 || s->hc_rc != 0 || s->hc.found ||
        !s->rr[ROLE_PRIMARY].present || !s->rr[ROLE_PRIMARY].hc_id[0])
        return NULL;
    return s->rr[ROLE_PRIMARY].hc_id;
}

static int majority_healthy(const r53_state *s)
{
    return s->st_healthy * 2 > s->st_total;
}

/* failover_method alarm: the alarm and calculated health checks, by their CallerReference prefixes. */
static int find_traffic_hcs_m(dr_resource *memo_res, dr_aws *aws, const r53_conf *c, r53_hc *ahc, r53_hc *chc,
                              dr_error *err)
{
    struct traffic_hc_visit v = {c, ahc, chc};

    memset(ahc, 0, sizeof(*ahc));
    memset(chc, 0, sizeof(*chc));
    return each_health_check_m(memo_res, aws, visit_traffic_hc, &v, err);
}

static int find_traffic_hcs(dr_aws *aws, const r53_conf *c, r53_hc *ahc, r53_hc *chc, dr_error *err)
{
    return find_traffic_hcs_m(NULL, aws, c, ahc, chc, err);
}

/*
 * The status Route 53 acts on (after inversion): the AWS/Route53 HealthCheckStatus metric, which Route 53
 * publishes in us-east-1 (1 healthy, 0 unhealthy), newest one-minute Minimum of the last ten minutes.
 */
static int metric_status_c(dr_aws *cw, const r53_conf *c, const char *hc_id, int *healthy, dr_error *err);

static int metric_status(dr_resource *res, const r53_conf *c, const char *hc_id, int *healthy, dr_error *err)
{
    dr_aws *cw = dr_host_aws(H, res, c->api_region, err);

    *healthy = 0;
    if (!cw)
        return err->code;
    return metric_status_c(cw, c, hc_id, healthy, err);
}

/* metric_status with the CloudWatch client of api_region given: AWS calls only (a batch's worker may run it). */
static int metric_status_c(dr_aws *cw, const r53_conf *c, const char *hc_id, int *healthy, dr_error *err)
{
    dr_aws_dim dim = {"HealthCheckId", hc_id};
    dr_aws_metric m;
    int rc;

    *healthy = 0;
    rc = dr_aws_metric_get(cw, "AWS/Route53", "HealthCheckStatus", &dim, 1, "Minimum", 600, 60, &m, err);
    if (rc != 0)
        return rc;
    if (m.datapoints == 0)
        return dr_error_set(err, DR_ENOTFOUND, "no AWS/Route53 HealthCheckStatus datapoint for %s in the last 10 "
                            "minutes (%s)", hc_id, c->api_region);
    *healthy = m.latest >= 1.0;
    return 0;
}

/* The checkers' reasons, for a report: the first observation that is not a success (GetHealthCheckStatus). */
static void read_reason(dr_aws *aws, const char *hc_id, char *out, size_t len)
{
    char path[180];
    dr_doc *d = NULL;
    dr_error e;

    out[0] = '\0';
    dr_error_clear(&e);
    snprintf(path, sizeof(path), R53_API "/healthcheck/%s/status", hc_id);
    if (r53_call(aws, "GET", "GetHealthCheckStatus", path, NULL, NULL, &d, &e) != 0)
        return;
    for (const dr_node *o = dr_node_first(dr_node_get(dr_doc_root(d), "HealthCheckObservations")); o;
         o = dr_node_next(o)) {
        const char *st = dr_node_str(o, "StatusReport.Status");
        if (st && strncmp(st, "Success", 7) != 0) {
            snprintf(out, len, "%s: %s", dr_node_str(o, "Region") ? dr_node_str(o, "Region") : "?", st);
            break;
        }
    }
    dr_doc_free(d);
}

/* ---- the traffic alarm (CloudWatch, in alarm_region) ---- */

static int cw_call(dr_aws *cw, const char *op, const char *body, dr_doc **out, dr_error *err)
{
    return dr_aws_json(cw, "monitoring", "GraniteServiceVersion20100801", op, body, out, err);
}

static void alarm_dims(dr_buf *b, const r53_conf *c)
{
    dr_buf_puts(b, "[{\"Name\":\"Resource\",\"Value\":");
    dr_buf_json_str(b, c->id);
    dr_buf_puts(b, "}]");
}

static int read_alarm(dr_aws *cw, const r53_conf *c, r53_alarm *a, dr_error *err)
{
    dr_buf b = DR_BUF_INIT;
    dr_doc *d = NULL;
    const dr_node *m;
    int rc;

    memset(a, 0, sizeof(*a));
    dr_buf_puts(&b, "{\"AlarmNames\":[");
    dr_buf_json_str(&b, c->alarm_name);
    dr_buf_puts(&b, "],\"AlarmTypes\":[\"MetricAlarm\"]}");
    rc = b.failed ? dr_error_set(err, DR_ENOMEM, "out of memory") : cw_call(cw, "DescribeAlarms", dr_buf_str(&b), &d, err);
    dr_buf_free(&b);
    if (rc != 0)
        return rc;
    m = dr_node_first(dr_node_get(dr_doc_root(d), "MetricAlarms"));
    if (m) {
        const char *ns = dr_node_str(m, "Namespace"), *mn = dr_node_str(m, "MetricName");
        const char *op = dr_node_str(m, "ComparisonOperator"), *tm = dr_node_str(m, "TreatMissingData");
        a->found = 1;
        copy_str(a->state, sizeof(a->state), dr_node_str(m, "StateValue"));
        a->drifted = !ns || strcmp(ns, TRAFFIC_NS) != 0 || !mn || strcmp(mn, TRAFFIC_METRIC) != 0 || !op ||
                     strcmp(op, "GreaterThanOrEqualToThreshold") != 0 || dr_node_num(m, "Threshold", 0) != 1.0 ||
                     !tm || strcmp(tm, "ignore") != 0;
    }
    dr_doc_free(d);
    return 0;
}

static int put_alarm(dr_aws *cw, const r53_conf *c, dr_error *err)
{
    dr_buf b = DR_BUF_INIT;
    dr_doc *d = NULL;
    int rc;

    dr_buf_puts(&b, "{\"AlarmName\":");
    dr_buf_json_str(&b, c->alarm_name);
    dr_buf_puts(&b, ",\"AlarmDescription\":\"dr-agent: traffic on the DR endpoint while in ALARM (a Route 53 health "
                    "check follows it)\",\"ActionsEnabled\":false,\"Namespace\":\"" TRAFFIC_NS "\",\"MetricName\":\""
                    TRAFFIC_METRIC "\",\"Dimensions\":");
    alarm_dims(&b, c);
    /* ignore: missing data keeps the state, so one datapoint moves traffic until the next one */
    dr_buf_puts(&b, ",\"Statistic\":\"Maximum\",\"Period\":60,\"EvaluationPeriods\":1,\"Threshold\":1,"
                    "\"ComparisonOperator\":\"GreaterThanOrEqualToThreshold\",\"TreatMissingData\":\"ignore\"}");
    rc = b.failed ? dr_error_set(err, DR_ENOMEM, "out of memory") : cw_call(cw, "PutMetricAlarm", dr_buf_str(&b), &d, err);
    dr_buf_free(&b);
    dr_doc_free(d);
    return rc;
}

/* PutMetricData: 1 sends traffic to DR, 0 lets the PRIMARY serve. */
static int put_traffic(dr_aws *cw, const r53_conf *c, int on_dr, dr_error *err)
{
    dr_buf b = DR_BUF_INIT;
    dr_doc *d = NULL;
    int rc;

    dr_buf_puts(&b, "{\"Namespace\":\"" TRAFFIC_NS "\",\"MetricData\":[{\"MetricName\":\"" TRAFFIC_METRIC
                    "\",\"Dimensions\":");
    alarm_dims(&b, c);
    dr_buf_printf(&b, ",\"Value\":%d,\"Unit\":\"None\"}]}", on_dr ? 1 : 0);
    rc = b.failed ? dr_error_set(err, DR_ENOMEM, "out of memory") : cw_call(cw, "PutMetricData", dr_buf_str(&b), &d, err);
    dr_buf_free(&b);
    dr_doc_free(d);
    return rc;
}

typedef struct alarm_probe {
    dr_aws *cw;
    const r53_conf *c;
    const char *want;
} alarm_probe;

static int probe_alarm(void *arg, char *status, size_t status_len, dr_error *err)
{
    alarm_probe *p = arg;
    r53_alarm a;
    int rc = read_alarm(p->cw, p->c, &a, err);

    if (rc != 0)
        return rc;
    if (!a.found)
        return dr_error_set(err, DR_ENOTFOUND, "alarm %s is gone from %s", p->c->alarm_name, p->c->alarm_region);
    snprintf(status, status_len, "alarm %s", a.state);
    return strcmp(a.state, p->want) == 0;
}

/* Set the traffic metric and wait (backing off) until the alarm shows `want` (ALARM or OK). */
static int set_traffic(dr_resource *res, dr_aws *cw, const r53_conf *c, int on_dr, double *secs, dr_error *err)
{
    alarm_probe p = {cw, c, on_dr ? "ALARM" : "OK"};
    char what[320];
    int64_t t0 = dr_mono_ms();
    int rc;

    *secs = 0;
    rc = put_traffic(cw, c, on_dr, err);
    if (rc != 0)
        return rc;
    snprintf(what, sizeof(what), "alarm %s to be %s", c->alarm_name, p.want);
    rc = r53_wait(res, what, c->poll_ms, left_ms(res, c->change_timeout), probe_alarm, &p, err);
    *secs = (double)(dr_mono_ms() - t0) / 1000.0;
    return rc;
}

/*
 * Read what Route 53 holds: zone, records, health checks and (with_status) the status of the check the
 * PRIMARY uses, from the HealthCheckStatus metric. Errors are kept per part.
 */
static void read_state(dr_resource *res, dr_aws *aws, const r53_conf *c, r53_state *s, int with_status)
{
    memset(s, 0, sizeof(*s));
    s->zone_rc = aws ? find_zone(aws, c, s->zone_id, sizeof(s->zone_id), &s->zone_err) : DR_ENETWORK;
    if (s->zone_rc == 0)
        s->zone_rc = read_records(aws, c, s, &s->zone_err);
    /* the control plane did not answer at all: the same region will not answer the next call either */
    if (s->zone_rc != 0 && s->zone_err.http_status == 0 && s->zone_rc != DR_ENOTFOUND && s->zone_rc != DR_ECONFIG) {
        s->hc_rc = s->zone_rc;
        s->hc_err = s->zone_err;
    } else {
        s->hc_rc = aws ? find_hc(res, aws, c, s, &s->hc, &s->hc_err) : DR_ENETWORK;
        if (aws && record_hc_id(c, s)) {
            r53_conf cc = *c;
            cc.hc_id = s->rr[ROLE_PRIMARY].hc_id;
            s->hc_rc = find_hc(res, aws, &cc, s, &s->hc, &s->hc_err);
            s->adopted = s->hc_rc == 0 && s->hc.found;
        }
    }
    if (s->hc_rc == 0 && c->by_alarm)
        s->hc_rc = find_traffic_hcs(aws, c, &s->ahc, &s->chc, &s->hc_err);
    if (c->by_alarm) {
        dr_aws *cw = dr_host_aws(H, res, c->alarm_region, &s->alarm_err);
        s->alarm_rc = cw ? read_alarm(cw, c, &s->alarm, &s->alarm_err) : s->alarm_err.code;
    }
    s->ep_rc = s->st_rc = DR_EUNSUPPORTED; /* not asked for */
    if (s->hc_rc != 0 || !s->hc.found) {
        s->st_rc = s->ep_rc = s->hc_rc ? s->hc_rc : DR_ENOTFOUND;
        s->st_err = s->ep_err = s->hc_err;
        return;
    }
    if (!with_status)
        return;
    s->ep_rc = metric_status(res, c, s->hc.id, &s->ep_healthy, &s->ep_err);
    if (!c->by_alarm) {
        s->st_rc = s->ep_rc;
        s->st_err = s->ep_err;
        s->st_healthy = s->ep_healthy;
    } else if (s->chc.found) {
        s->st_rc = metric_status(res, c, s->chc.id, &s->st_healthy, &s->st_err);
    } else {
        s->st_rc = dr_error_set(&s->st_err, DR_ENOTFOUND, "no calculated health check (run configure)");
    }
    s->st_total = 1;
}

/* ---- the desired state ---- */

/* Differences between the health check and the config, as "port 80 -> 443; ..."; immutable ones in `fixed`. */
static void hc_diff(const r53_conf *c, const r53_hc *h, int want_inverted, dr_buf *diff, dr_buf *fixed)
{
#define SEP(b) ((b)->len ? "; " : "")
    if (strcmp(h->type, c->hc_type) != 0)
        dr_buf_printf(fixed, "%stype %s, config %s", SEP(fixed), h->type, c->hc_type);
    if (h->interval != c->hc_interval)
        dr_buf_printf(fixed, "%srequest interval %ds, config %ds", SEP(fixed), h->interval, c->hc_interval);
    if (c->hc_fqdn && !value_eq("CNAME", h->fqdn, c->hc_fqdn))
        dr_buf_printf(diff, "%sFQDN %s -> %s", SEP(diff), h->fqdn[0] ? h->fqdn : "none", c->hc_fqdn);
    if (c->hc_ip && strcmp(h->ip, c->hc_ip) != 0)
        dr_buf_printf(diff, "%sIP address %s -> %s (the health check probes the wrong endpoint)", SEP(diff),
                      h->ip[0] ? h->ip : "none", c->hc_ip);
    if (c->hc_path && strcmp(h->path, c->hc_path) != 0)
        dr_buf_printf(diff, "%spath %s -> %s", SEP(diff), h->path[0] ? h->path : "none", c->hc_path);
    if (h->port != c->hc_port)
        dr_buf_printf(diff, "%sport %d -> %d", SEP(diff), h->port, c->hc_port);
    if (h->threshold != c->hc_threshold)
        dr_buf_printf(diff, "%sfailure threshold %d -> %d", SEP(diff), h->threshold, c->hc_threshold);
    if (strcmp(c->hc_type, "HTTPS") == 0 && h->sni != c->hc_sni)
        dr_buf_printf(diff, "%sSNI %s -> %s", SEP(diff), h->sni ? "on" : "off", c->hc_sni ? "on" : "off");
    if (h->disabled)
        dr_buf_printf(diff, "%sdisabled -> enabled", SEP(diff));
    if (want_inverted >= 0 && h->inverted != want_inverted)
        dr_buf_printf(diff, "%sinverted %s -> %s", SEP(diff), h->inverted ? "yes" : "no",
                      want_inverted ? "yes" : "no");
#undef SEP
}

static void hc_describe(const r53_conf *c, char *out, size_t len)
{
    snprintf(out, len, "%s %s%s%s:%d%s, every %ds, unhealthy after %d failures%s", c->hc_type,
             c->hc_fqdn ? c->hc_fqdn : "", c->hc_fqdn && c->hc_ip ? " at " : "", c->hc_ip ? c->hc_ip : "",
             c->hc_port, c->hc_path ? c->hc_path : "", c->hc_interval, c->hc_threshold, c->hc_sni ? ", SNI" : "");
}

/* CreateHealthCheck with a fresh CallerReference under our prefix. */
static int create_hc(dr_aws *aws, const r53_conf *c, r53_hc *h, dr_error *err)
{
    char ref[80], uuid[40];
    dr_buf b = DR_BUF_INIT;
    dr_doc *d = NULL;
    int rc;

    /* A deleted health check's CallerReference can never be reused: make each creation unique. */
    dr_uuid4(uuid);
    snprintf(ref, sizeof(ref), "%s%.*s", c->caller_prefix, (int)(64 - strlen(c->caller_prefix)), uuid);
    dr_buf_printf(&b, "<CreateHealthCheckRequest xmlns=\"%s\">", R53_NS);
    dr_buf_xml_elem(&b, "CallerReference", ref);
    dr_buf_puts(&b, "<HealthCheckConfig>");
    dr_buf_xml_elem(&b, "IPAddress", c->hc_ip);
    dr_buf_printf(&b, "<Port>%d</Port>", c->hc_port);
    dr_buf_xml_elem(&b, "Type", c->hc_type);
    dr_buf_xml_elem(&b, "ResourcePath", c->hc_path);
    dr_buf_xml_elem(&b, "FullyQualifiedDomainName", c->hc_fqdn);
    dr_buf_printf(&b, "<RequestInterval>%d</RequestInterval><FailureThreshold>%d</FailureThreshold>", c->hc_interval,
                  c->hc_threshold);
    dr_buf_puts(&b, "<Inverted>false</Inverted><Disabled>false</Disabled>");
    if (strcmp(c->hc_type, "HTTPS") == 0)
        dr_buf_printf(&b, "<EnableSNI>%s</EnableSNI>", c->hc_sni ? "true" : "false");
    dr_buf_puts(&b, "</HealthCheckConfig></CreateHealthCheckRequest>");
    if (b.failed) {
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    rc = r53_call(aws, "POST", "CreateHealthCheck", R53_API "/healthcheck", NULL, dr_buf_str(&b), &d, err);
    if (rc == 0)
        parse_hc(dr_node_get(dr_doc_root(d), "HealthCheck"), h);
out:
    dr_buf_free(&b);
    dr_doc_free(d);
    return rc;
}

/*
 * UpdateHealthCheck: all managed settings (settings = 1) and/or the
 * inversion (invert >= 0). Route 53 locks optimistically on
 * HealthCheckVersion: on a mismatch, read the version again and retry.
 */
static int update_hc(dr_resource *res, dr_aws *aws, const r53_conf *c, r53_hc *h, int settings, int invert, dr_error *err)
{
    char path[160];
    int rc = 0;

    snprintf(path, sizeof(path), R53_API "/healthcheck/%s", h->id);
    for (int attempt = 1; attempt <= UPDATE_ATTEMPTS; attempt++) {
        dr_buf b = DR_BUF_INIT;
        dr_doc *d = NULL;

        dr_buf_printf(&b, "<UpdateHealthCheckRequest xmlns=\"%s\">", R53_NS);
        dr_buf_printf(&b, "<HealthCheckVersion>%lld</HealthCheckVersion>", (long long)h->version);
        if (settings) {
            dr_buf_xml_elem(&b, "IPAddress", c->hc_ip);
            dr_buf_printf(&b, "<Port>%d</Port>", c->hc_port);
            dr_buf_xml_elem(&b, "ResourcePath", c->hc_path);
            dr_buf_xml_elem(&b, "FullyQualifiedDomainName", c->hc_fqdn);
            dr_buf_printf(&b, "<FailureThreshold>%d</FailureThreshold>", c->hc_threshold);
        }
        if (invert >= 0)
            dr_buf_printf(&b, "<Inverted>%s</Inverted>", invert ? "true" : "false");
        if (settings) {
            dr_buf_puts(&b, "<Disabled>false</Disabled>");
            if (strcmp(c->hc_type, "HTTPS") == 0)
                dr_buf_printf(&b, "<EnableSNI>%s</EnableSNI>", c->hc_sni ? "true" : "false");
        }
        dr_buf_puts(&b, "</UpdateHealthCheckRequest>");
        rc = b.failed ? dr_error_set(err, DR_ENOMEM, "out of memory")
                      : r53_call(aws, "POST", "UpdateHealthCheck", path, NULL, dr_buf_str(&b), &d, err);
        dr_buf_free(&b);
        if (rc == 0)
            parse_hc(dr_node_get(dr_doc_root(d), "HealthCheck"), h);
        dr_doc_free(d);
        if (rc == 0 || !dr_error_is(err, "HealthCheckVersionMismatch") || attempt == UPDATE_ATTEMPTS)
            break;
        H->log(res, DR_LOG_INFO, "health check %s changed under us (version %lld); reading it again", h->id,
               (long long)h->version);
        rc = get_hc(aws, h->id, h, err);
        if (rc != 0)
            break;
    }
    return rc;
}

/* One record set as we want it. */
static void rrset_xml(dr_buf *b, const r53_conf *c, r53_role role, const char *value, const char *hc_id)
{
    dr_buf_puts(b, "<ResourceRecordSet>");
    dr_buf_xml_elem(b, "Name", c->record_dot);
    dr_buf_xml_elem(b, "Type", c->type);
    dr_buf_xml_elem(b, "SetIdentifier", role == ROLE_PRIMARY ? c->primary_sid : c->secondary_sid);
    dr_buf_xml_elem(b, "Failover", role_name[role]);
    dr_buf_printf(b, "<TTL>%lld</TTL>", (long long)c->ttl);
    dr_buf_puts(b, "<ResourceRecords><ResourceRecord>");
    dr_buf_xml_elem(b, "Value", value);
    dr_buf_puts(b, "</ResourceRecord></ResourceRecords>");
    if (hc_id && *hc_id)
        dr_buf_xml_elem(b, "HealthCheckId", hc_id);
    dr_buf_puts(b, "</ResourceRecordSet>");
}

/* A batch of record changes being built, with one line per change for the report. */
typedef struct r53_batch {
    dr_buf xml;
    int n;
    char action[8][32], target[8][160], detail[8][512];
} r53_batch;

static void batch_add(r53_batch *bt, const char *action, const char *target, const char *detail)
{
    if (bt->n >= 8)
        return;
    copy_str(bt->action[bt->n], sizeof(bt->action[0]), action);
    copy_str(bt->target[bt->n], sizeof(bt->target[0]), target);
    copy_str(bt->detail[bt->n], sizeof(bt->detail[0]), detail);
    bt->n++;
}

/*
 * Plan the change of one role's record to (value, hc_id) with the
 * configured TTL and set identifier: nothing, an UPSERT, or (when the set
 * identifier differs) a DELETE of the old one and an UPSERT of the new.
 */
static void plan_record(const r53_conf *c, const r53_rrset *have, r53_role role, const char *value, const char *hc_id,
                        const char *hc_label, r53_batch *bt)
{
    const char *sid = role == ROLE_PRIMARY ? c->primary_sid : c->secondary_sid;
    char target[160];
    dr_buf diff = DR_BUF_INIT;

    snprintf(target, sizeof(target), "%s %s %s", c->record, c->type, role_name[role]);
    if (!have->present) {
        dr_buf_printf(&diff, "create: %s, TTL %lld%s%s", value, (long long)c->ttl, hc_id ? ", health check " : "",
                      hc_id ? hc_label : "");
    } else {
        if (have->alias || have->n_values != 1 || !value_eq(c->type, have->value, value))
            dr_buf_printf(&diff, "%svalue %s -> %s", diff.len ? "; " : "",
                          have->alias ? "(alias)" : have->value[0] ? have->value : "none", value);
        if (!have->has_ttl || have->ttl != c->ttl)
            dr_buf_printf(&diff, "%sTTL %lld -> %lld", diff.len ? "; " : "", (long long)have->ttl, (long long)c->ttl);
        if (strcmp(have->hc_id, hc_id ? hc_id : "") != 0)
            dr_buf_printf(&diff, "%shealth check %s -> %s", diff.len ? "; " : "", have->hc_id[0] ? have->hc_id : "none",
                          hc_id ? hc_label : "none");
        if (strcmp(have->set_id, sid) != 0)
            dr_buf_printf(&diff, "%sset identifier %s -> %s", diff.len ? "; " : "", have->set_id, sid);
    }
    if (diff.len == 0)
        goto out;
    if (have->present && strcmp(have->set_id, sid) != 0) {
        dr_buf_printf(&bt->xml, "<Change><Action>DELETE</Action>%s</Change>", dr_buf_str(&have->xml));
    }
    dr_buf_puts(&bt->xml, "<Change><Action>UPSERT</Action>");
    rrset_xml(&bt->xml, c, role, value, hc_id);
    dr_buf_puts(&bt->xml, "</Change>");
    batch_add(bt, have->present ? "update_record" : "create_record", target, dr_buf_str(&diff));
out:
    dr_buf_free(&diff);
}

/* GetChange until INSYNC. */
typedef struct change_probe {
    dr_aws *aws;
    char path[128];
} change_probe;

static int probe_change(void *arg, char *status, size_t status_len, dr_error *err)
{
    change_probe *p = arg;
    dr_doc *d = NULL;
    const char *st;
    int rc;

    rc = r53_call(p->aws, "GET", "GetChange", p->path, NULL, NULL, &d, err);
    if (rc != 0)
        return rc;
    st = dr_node_str(dr_doc_root(d), "ChangeInfo.Status");
    snprintf(status, status_len, "%s", st ? st : "no status");
    rc = st && strcmp(st, "INSYNC") == 0;
    dr_doc_free(d);
    return rc;
}

/* ChangeResourceRecordSets with the batch, then wait for INSYNC; *secs = submit to INSYNC. */
static int submit_batch(dr_resource *res, dr_aws *aws, const r53_conf *c, const r53_state *s, const r53_batch *bt,
                        const char *comment, double *secs, dr_error *err)
{
    char path[128], what[96];
    dr_buf b = DR_BUF_INIT;
    dr_doc *d = NULL;
    change_probe p;
    const char *id, *st;
    int64_t t0 = dr_mono_ms();
    int rc;

    *secs = 0;
    snprintf(path, sizeof(path), R53_API "/hostedzone/%s/rrset/", s->zone_id);
    dr_buf_printf(&b, "<ChangeResourceRecordSetsRequest xmlns=\"%s\"><ChangeBatch>", R53_NS);
    dr_buf_xml_elem(&b, "Comment", comment);
    dr_buf_printf(&b, "<Changes>%s</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>", dr_buf_str(&bt->xml));
    rc = b.failed ? dr_error_set(err, DR_ENOMEM, "out of memory")
                  : r53_call(aws, "POST", "ChangeResourceRecordSets", path, NULL, dr_buf_str(&b), &d, err);
    dr_buf_free(&b);
    if (rc != 0)
        goto out;
    id = strip_id(dr_node_str(dr_doc_root(d), "ChangeInfo.Id"));
    st = dr_node_str(dr_doc_root(d), "ChangeInfo.Status");
    if (!id) {
        rc = dr_error_set(err, DR_EPARSE, "ChangeResourceRecordSets returned no change id");
        goto out;
    }
    H->log(res, DR_LOG_INFO, "change %s submitted (%s)", id, st ? st : "?");
    if (!st || strcmp(st, "INSYNC") != 0) {
        p.aws = aws;
        snprintf(p.path, sizeof(p.path), R53_API "/change/%s", id);
        snprintf(what, sizeof(what), "change %s to be INSYNC", id);
        rc = r53_wait(res, what, c->poll_ms, left_ms(res, c->change_timeout), probe_change, &p, err);
    }
    *secs = (double)(dr_mono_ms() - t0) / 1000.0;
out:
    dr_doc_free(d);
    return rc;
}

/* Report a batch's changes with one state (planned, done or failed) and a common suffix. */
static void report_batch(dr_resource *res, const r53_batch *bt, dr_change_state state, const char *suffix)
{
    for (int i = 0; i < bt->n; i++) {
        char detail[700];
        snprintf(detail, sizeof(detail), "%s%s", bt->detail[i], suffix ? suffix : "");
        H->change(res, state, bt->action[i], bt->target[i], detail);
    }
}

/* ---- waiting for Route 53 to act on the health check ---- */

typedef struct status_probe {
    dr_resource *res;
    const r53_conf *c;
    const char *hc_id;
    int want_healthy;
} status_probe;

static int probe_status(void *arg, char *status, size_t status_len, dr_error *err)
{
    status_probe *p = arg;
    int healthy, rc;

    rc = metric_status(p->res, p->c, p->hc_id, &healthy, err);
    if (rc == DR_ENOTFOUND) {
        snprintf(status, status_len, "no HealthCheckStatus datapoint yet");
        return 0;
    }
    if (rc != 0)
        return rc;
    snprintf(status, status_len, "HealthCheckStatus %d", healthy);
    return healthy == p->want_healthy;
}

static int wait_status(dr_resource *res, dr_aws *aws, const r53_conf *c, const char *hc_id, int want_healthy,
                       double *secs, dr_error *err)
{
    status_probe p = {res, c, hc_id, want_healthy};
    int64_t t0 = dr_mono_ms();
    int rc;

    (void)aws;
    rc = r53_wait(res, want_healthy ? "the health check to report healthy" : "the health check to report unhealthy",
                  c->poll_ms, left_ms(res, c->change_timeout), probe_status, &p, err);
    *secs = (double)(dr_mono_ms() - t0) / 1000.0;
    return rc;
}

/* ---- confirming with a resolver ---- */

typedef struct dns_probe {
    const r53_conf *c;
    const char *want;
    char last[512];
} dns_probe;

static int probe_dns(void *arg, char *status, size_t status_len, dr_error *err)
{
    dns_probe *p = arg;
    char answer[512];
    dr_error e;
    int rc;

    (void)err;
    dr_error_clear(&e);
    rc = r53_dns_query(p->c->resolver, p->c->record, p->c->type, 2000, answer, sizeof(answer), &e);
    if (rc != 0) {
        snprintf(status, status_len, "%s", e.message);
        copy_str(p->last, sizeof(p->last), e.message);
        return 0; /* a lost UDP reply is worth another try */
    }
    snprintf(status, status_len, "answers %s", answer[0] ? answer : "nothing");
    copy_str(p->last, sizeof(p->last), answer[0] ? answer : "nothing");
    return strchr(answer, ',') == NULL && value_eq(p->c->type, answer, p->want);
}

/* Ask the resolver until it answers `want`; reported as the check dns_answer (WARNING when it does not). */
static void confirm_dns(dr_resource *res, const r53_conf *c, const char *want)
{
    dns_probe p;
    dr_error e;
    int64_t t0 = dr_mono_ms();
    int rc;

    if (!c->resolver)
        return;
    memset(&p, 0, sizeof(p));
    p.c = c;
    p.want = want;
    dr_error_clear(&e);
    rc = dr_wait_for(H, res, "the resolver to answer the new endpoint", c->poll_ms, left_ms(res, c->dns_timeout),
                     probe_dns, &p, &e);
    if (rc == 0)
        dr_report_state(H, res, "dns_answer", DR_STATUS_OK, want, want, "resolver %s answers %s after %.1fs",
                        c->resolver, want, (double)(dr_mono_ms() - t0) / 1000.0);
    else
        dr_report_state(H, res, "dns_answer", DR_STATUS_WARNING, p.last[0] ? p.last : NULL, want,
                        "resolver %s still answers %s after %.1fs (cached up to the TTL, or not yet in sync): %s",
                        c->resolver, p.last[0] ? p.last : "nothing", (double)(dr_mono_ms() - t0) / 1000.0, e.message);
}

/* CreateHealthCheck of the alarm or calculated check: `cfg` is the inner HealthCheckConfig XML. */
static int create_typed_hc(dr_aws *aws, const char *prefix, const char *cfg, r53_hc *h, dr_error *err)
{
    char ref[80], uuid[40];
    dr_buf b = DR_BUF_INIT;
    dr_doc *d = NULL;
    int rc;

    dr_uuid4(uuid);
    snprintf(ref, sizeof(ref), "%s%.*s", prefix, (int)(64 - strlen(prefix)), uuid);
    dr_buf_printf(&b, "<CreateHealthCheckRequest xmlns=\"%s\">", R53_NS);
    dr_buf_xml_elem(&b, "CallerReference", ref);
    dr_buf_printf(&b, "<HealthCheckConfig>%s</HealthCheckConfig></CreateHealthCheckRequest>", cfg);
    rc = b.failed ? dr_error_set(err, DR_ENOMEM, "out of memory")
                  : r53_call(aws, "POST", "CreateHealthCheck", R53_API "/healthcheck", NULL, dr_buf_str(&b), &d, err);
    if (rc == 0)
        parse_hc(dr_node_get(dr_doc_root(d), "HealthCheck"), h);
    dr_buf_free(&b);
    dr_doc_free(d);
    return rc;
}

static void calc_children_xml(dr_buf *b, const char *endpoint_id, const char *alarm_id)
{
    dr_buf_puts(b, "<HealthThreshold>2</HealthThreshold><ChildHealthChecks>");
    dr_buf_xml_elem(b, "ChildHealthCheck", endpoint_id);
    dr_buf_xml_elem(b, "ChildHealthCheck", alarm_id);
    dr_buf_puts(b, "</ChildHealthChecks>");
}

/*
 * failover_method alarm, configure steps 1b-1d: the traffic alarm in alarm_region (its first datapoint says
 * where traffic is now), the CLOUDWATCH_METRIC check that follows it, and the CALCULATED check (endpoint AND
 * alarm check healthy) that the PRIMARY record uses.
 */
static int converge_alarm(dr_resource *res, const dr_hook_args *args, dr_aws *aws, const r53_conf *c, r53_state *s,
                          dr_serving serving, dr_error *err)
{
    char target[320], detail[512];
    dr_buf b = DR_BUF_INIT;
    int rc = 0;

    if (s->alarm_rc != 0) {
        *err = s->alarm_err;
        return s->alarm_rc;
    }
    snprintf(target, sizeof(target), "%s (%s)", c->alarm_name, c->alarm_region);
    if (!s->alarm.found || s->alarm.drifted) {
        snprintf(detail, sizeof(detail), "%s/%s{Resource=%s} Maximum >= 1 over 60 s, missing data keeps the state%s",
                 TRAFFIC_NS, TRAFFIC_METRIC, c->id,
                 s->alarm.found ? "" : serving == DR_SERVING_DR ? "; first datapoint 1 (DR serves)"
                                                                : "; first datapoint 0 (the primary serves)");
        if (args->dry_run) {
            H->change(res, DR_CHANGE_PLANNED, s->alarm.found ? "update_alarm" : "create_alarm", target, detail);
        } else {
            dr_aws *cw = dr_host_aws(H, res, c->alarm_region, err);
            rc = cw ? put_alarm(cw, c, err) : err->code;
            if (rc == 0 && !s->alarm.found)
                rc = put_traffic(cw, c, serving == DR_SERVING_DR, err);
            dr_report_change(H, res, rc, s->alarm.found ? "update_alarm" : "create_alarm", target, detail, err);
            if (rc != 0)
                return rc;
        }
    }

    if (!s->ahc.found) {
        snprintf(detail, sizeof(detail), "CLOUDWATCH_METRIC on alarm %s in %s, last known status while data is "
                 "insufficient", c->alarm_name, c->alarm_region);
        if (args->dry_run) {
            H->change(res, DR_CHANGE_PLANNED, "create_health_check", "traffic alarm", detail);
        } else {
            dr_buf_puts(&b, "<Type>CLOUDWATCH_METRIC</Type><Inverted>false</Inverted><Disabled>false</Disabled>"
                            "<AlarmIdentifier>");
            dr_buf_xml_elem(&b, "Region", c->alarm_region);
            dr_buf_xml_elem(&b, "Name", c->alarm_name);
            dr_buf_puts(&b, "</AlarmIdentifier><InsufficientDataHealthStatus>LastKnownStatus"
                            "</InsufficientDataHealthStatus>");
            rc = create_typed_hc(aws, c->alarm_prefix, dr_buf_str(&b), &s->ahc, err);
            dr_report_change(H, res, rc, "create_health_check", "traffic alarm", detail, err);
            if (rc != 0)
                goto out;
        }
    } else if (s->ahc.alarm_name[0] && (strcmp(s->ahc.alarm_name, c->alarm_name) != 0 ||
                                        strcmp(s->ahc.alarm_region, c->alarm_region) != 0)) {
        rc = dr_error_set(err, DR_ESTATE, "health check %s follows alarm %s in %s, not %s in %s: delete it and run "
                          "configure again", s->ahc.id, s->ahc.alarm_name, s->ahc.alarm_region, c->alarm_name,
                          c->alarm_region);
        goto out;
    }

    dr_buf_reset(&b);
    snprintf(detail, sizeof(detail), "CALCULATED: healthy while the endpoint check %s and the alarm check %s both are",
             s->hc.found ? s->hc.id : "(new)", s->ahc.found ? s->ahc.id : "(new)");
    if (!s->chc.found) {
        if (args->dry_run) {
            H->change(res, DR_CHANGE_PLANNED, "create_health_check", "primary record", detail);
        } else {
            dr_buf_puts(&b, "<Type>CALCULATED</Type><Inverted>false</Inverted><Disabled>false</Disabled>");
            calc_children_xml(&b, s->hc.id, s->ahc.id);
            rc = create_typed_hc(aws, c->calc_prefix, dr_buf_str(&b), &s->chc, err);
            dr_report_change(H, res, rc, "create_health_check", "primary record", detail, err);
        }
    } else if (!s->hc.found || !s->ahc.found || s->chc.n_children != 2 || s->chc.health_threshold != 2 ||
               !has_child(&s->chc, s->hc.id) || !has_child(&s->chc, s->ahc.id) || s->chc.inverted || s->chc.disabled) {
        if (args->dry_run) {
            H->change(res, DR_CHANGE_PLANNED, "update_health_check", s->chc.id, detail);
        } else {
            char path[160];
            dr_doc *d = NULL;
            snprintf(path, sizeof(path), R53_API "/healthcheck/%s", s->chc.id);
            dr_buf_printf(&b, "<UpdateHealthCheckRequest xmlns=\"%s\"><Inverted>false</Inverted>"
                              "<Disabled>false</Disabled>", R53_NS);
            calc_children_xml(&b, s->hc.id, s->ahc.id);
            dr_buf_puts(&b, "</UpdateHealthCheckRequest>");
            rc = r53_call(aws, "POST", "UpdateHealthCheck", path, NULL, dr_buf_str(&b), &d, err);
            if (rc == 0)
                parse_hc(dr_node_get(dr_doc_root(d), "HealthCheck"), &s->chc);
            dr_doc_free(d);
            dr_report_change(H, res, rc, "update_health_check", s->chc.id, detail, err);
        }
    }
out:
    dr_buf_free(&b);
    return rc;
}

/* ---- configure (and the restore half of failback) ---- */

/*
 * Make the health check and both records what the config says. serving says
 * which endpoint the PRIMARY should answer and whether the health check may
 * stay inverted: after a failover, configure keeps traffic where it is.
 * *uninverted / *records_changed tell the caller what to wait for.
 */
static int converge(dr_resource *res, const dr_hook_args *args, dr_aws *aws, const r53_conf *c, r53_state *s,
                    dr_serving serving, int *uninverted, dr_error *err)
{
    char desc[512], hc_label[96];
    const char *primary_value = c->primary_value;
    r53_batch bt;
    double secs;
    int rc = 0, want_inverted = -1;

    *uninverted = 0;
    memset(&bt, 0, sizeof(bt));
    if (s->zone_rc != 0) {
        *err = s->zone_err;
        return s->zone_rc;
    }
    if (s->hc_rc != 0) {
        *err = s->hc_err;
        return s->hc_rc;
    }

    /* 1. The health check on the primary endpoint. */
    hc_describe(c, desc, sizeof(desc));
    if (!s->hc.found) {
        if (c->hc_id)
            return dr_error_set(err, DR_ENOTFOUND, "health check %s (health_check_id) does not exist", c->hc_id);
        if (args->dry_run) {
            H->change(res, DR_CHANGE_PLANNED, "create_health_check", c->hc_fqdn ? c->hc_fqdn : c->hc_ip, desc);
        } else {
            rc = create_hc(aws, c, &s->hc, err);
            dr_report_change(H, res, rc, "create_health_check", c->hc_fqdn ? c->hc_fqdn : c->hc_ip, desc, err);
            if (rc != 0)
                return rc;
            H->log(res, DR_LOG_INFO, "created health check %s", s->hc.id);
        }
    } else {
        dr_buf diff = DR_BUF_INIT, fixed = DR_BUF_INIT;

        /* Serving from DR, an inverted health check is the failover itself: leave it. */
        want_inverted = serving == DR_SERVING_DR ? -1 : 0;
        hc_diff(c, &s->hc, want_inverted, &diff, &fixed);
        if (fixed.len) {
            rc = dr_error_set(err, DR_ESTATE,
                              "health check %s: %s; Route 53 cannot change these: delete it or set health_check_id",
                              s->hc.id, dr_buf_str(&fixed));
        } else if (diff.len && args->dry_run) {
            H->change(res, DR_CHANGE_PLANNED, "update_health_check", s->hc.id, dr_buf_str(&diff));
        } else if (diff.len) {
            int was_inverted = s->hc.inverted;
            rc = update_hc(res, aws, c, &s->hc, 1, want_inverted, err);
            dr_report_change(H, res, rc, "update_health_check", s->hc.id, dr_buf_str(&diff), err);
            *uninverted = rc == 0 && was_inverted && !s->hc.inverted;
        }
        dr_buf_free(&diff);
        dr_buf_free(&fixed);
        if (rc != 0)
            return rc;
    }
    if (s->hc.found)
        snprintf(hc_label, sizeof(hc_label), "%s", s->hc.id);
    else
        snprintf(hc_label, sizeof(hc_label), "(the new one)");
    if (c->by_alarm) {
        rc = converge_alarm(res, args, aws, c, s, serving, err);
        if (rc != 0)
            return rc;
        snprintf(hc_label, sizeof(hc_label), "%s", s->chc.found ? s->chc.id : "(the new calculated one)");
    }

    /* 2. The records: a plain record of the same name blocks failover records; then PRIMARY and SECONDARY. */
    if (serving == DR_SERVING_DR && s->rr[ROLE_PRIMARY].present &&
        value_eq(c->type, s->rr[ROLE_PRIMARY].value, c->secondary_value))
        primary_value = c->secondary_value; /* failed over by records: keep it so */
    if (s->plain.present) {
        char target[160];
        snprintf(target, sizeof(target), "%s %s", c->record, c->type);
        dr_buf_printf(&bt.xml, "<Change><Action>DELETE</Action>%s</Change>", dr_buf_str(&s->plain.xml));
        batch_add(&bt, "delete_record", target, "a record without failover policy takes the name");
    }
    if (c->by_alarm)
        plan_record(c, &s->rr[ROLE_PRIMARY], ROLE_PRIMARY, primary_value, s->chc.found ? s->chc.id : "(new)", hc_label,
                    &bt);
    else
        plan_record(c, &s->rr[ROLE_PRIMARY], ROLE_PRIMARY, primary_value, s->hc.found ? s->hc.id : "(new)", hc_label,
                    &bt);
    plan_record(c, &s->rr[ROLE_SECONDARY], ROLE_SECONDARY, c->secondary_value, NULL, NULL, &bt);
    if (bt.n == 0 || args->dry_run) {
        report_batch(res, &bt, DR_CHANGE_PLANNED, NULL);
        goto out;
    }
    rc = submit_batch(res, aws, c, s, &bt, "dr-agent: failover records", &secs, err);
    if (rc == 0) {
        char suffix[64];
        snprintf(suffix, sizeof(suffix), " (INSYNC after %.1fs)", secs);
        report_batch(res, &bt, DR_CHANGE_DONE, suffix);
    } else if (rc == DR_ETIMEDOUT || rc == DR_ECANCELED) {
        report_batch(res, &bt, DR_CHANGE_DONE, " (submitted, not yet INSYNC)");
    } else {
        report_batch(res, &bt, DR_CHANGE_FAILED, NULL);
    }
out:
    dr_buf_free(&bt.xml);
    return rc;
}

static int r53_configure(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    r53_conf c;
    r53_state s;
    dr_aws *aws;
    int rc, uninverted;

    rc = load_conf(res, &c, err);
    if (rc != 0)
        return rc;
    aws = client(res, &c, err);
    if (!aws)
        return err->code;
    read_state(res, aws, &c, &s, 0);
    rc = converge(res, args, aws, &c, &s, args->serving, &uninverted, err);
    state_free(&s);
    return rc;
}

/* ---- verify ---- */

static void verify_health_check(dr_resource *res, const dr_hook_args *args, const r53_conf *c, const r53_state *s,
                                const char *reason)
{
    const int dr = args->serving == DR_SERVING_DR;
    const int switched = s->zone_rc == 0 && s->rr[ROLE_PRIMARY].present &&
                         value_eq(c->type, s->rr[ROLE_PRIMARY].value, c->secondary_value);
    dr_buf diff = DR_BUF_INIT, fixed = DR_BUF_INIT;

    /* health_check: it exists, is enabled, and its settings are the configured ones. */
    if (s->hc_rc != 0) {
        dr_report_unknown(H, res, "health_check", "present", &s->hc_err);
    } else if (!s->hc.found) {
        dr_report_state(H, res, "health_check", DR_STATUS_CRITICAL, "missing", "present",
                        c->hc_id ? "health check %s (health_check_id) does not exist"
                                 : "no health check with CallerReference %s* and none on the PRIMARY record: the PRIMARY record "
                                   "cannot fail over",
                        c->hc_id ? c->hc_id : c->caller_prefix);
    } else {
        hc_diff(c, &s->hc, -1, &diff, &fixed);
        if (s->hc.disabled)
            dr_report_state(H, res, "health_check", DR_STATUS_CRITICAL, "disabled", "present",
                            "health check %s is disabled: Route 53 treats it as healthy and never fails over", s->hc.id);
        else if (s->hc.inverted && !dr)
            dr_report_state(H, res, "health_check", DR_STATUS_CRITICAL, "inverted", "present",
                            "health check %s is inverted while the primary region serves: a healthy endpoint "
                            "counts as failed", s->hc.id);
        else if (fixed.len || diff.len)
            dr_report_state(H, res, "health_check", DR_STATUS_WARNING, "drifted", "present",
                            "health check %s differs from the config: %s%s%s", s->hc.id, dr_buf_str(&fixed),
                            fixed.len && diff.len ? "; " : "", dr_buf_str(&diff));
        else
            dr_report_state(H, res, "health_check", DR_STATUS_OK, "present", "present", "health check %s: %s%s",
                            s->hc.id, s->hc.type, s->hc.inverted ? " (inverted by the failover)" : "");
    }

    /* health_check_status: the status Route 53 acts on (HealthCheckStatus metric), and so where traffic goes. */
    if (s->hc_rc == 0 && !s->hc.found) {
        dr_error e;
        dr_error_clear(&e);
        dr_error_set(&e, DR_ENOTFOUND, "no health check to ask (see health_check)");
        dr_report_unknown(H, res, "health_check_status", dr ? "unhealthy" : "healthy", &e);
    } else if (s->st_rc != 0) {
        dr_report_unknown(H, res, "health_check_status", dr ? "unhealthy" : "healthy", &s->st_err);
    } else if (s->st_total == 0) {
        dr_report_state(H, res, "health_check_status", DR_STATUS_UNKNOWN, NULL, dr ? "unhealthy" : "healthy",
                        "Route 53 has no observations of health check %s yet", s->hc.id);
    } else {
        const int healthy = majority_healthy(s);
        const char *obs = healthy ? "healthy" : "unhealthy";
        const char *hc_used = c->by_alarm ? s->chc.id : s->hc.id;
        if (!dr)
            dr_report_state(H, res, "health_check_status", healthy ? DR_STATUS_OK : DR_STATUS_CRITICAL, obs, "healthy",
                            "HealthCheckStatus of %s is %d%s%s%s", hc_used, healthy,
                            healthy ? "" : ": Route 53 answers with the SECONDARY", reason && *reason ? "; checkers: " : "",
                            reason ? reason : "");
        else if (healthy && !switched && s->hc.inverted && s->ep_rc == 0 && s->ep_healthy)
            /* the inverted check is healthy because the endpoint it checks fails: traffic went back to it */
            dr_report_state(H, res, "health_check_status", DR_STATUS_CRITICAL, "healthy (inverted: the primary endpoint "
                            "fails)", "unhealthy",
                            "DR serves through the inverted health check %s, but the primary endpoint %s now fails it, so "
                            "the inverted check reports healthy and Route 53 answers the PRIMARY: traffic goes to the "
                            "failed region. Run 'dr-agent failover' again (it points the PRIMARY record at the DR "
                            "endpoint), and set failover_method = alarm to avoid this%s%s", s->hc.id, c->primary_value,
                            reason && *reason ? "; checkers: " : "", reason ? reason : "");
        else if (healthy && s->zone_rc != 0)
            dr_report_unknown(H, res, "health_check_status", "unhealthy", &s->zone_err); /* switched records? */
        else if (switched)
            dr_report_state(H, res, "health_check_status", DR_STATUS_OK, obs, obs,
                            "%d of %d checkers healthy; the PRIMARY record points at the DR endpoint either way",
                            s->st_healthy, s->st_total);
        else
            dr_report_state(H, res, "health_check_status", healthy ? DR_STATUS_CRITICAL : DR_STATUS_OK, obs,
                            "unhealthy", "%d of %d checkers healthy%s", s->st_healthy, s->st_total,
                            healthy ? ": Route 53 still answers with the primary endpoint while DR serves; run "
                                      "'dr-agent failover' again"
                                    : ": Route 53 answers with the SECONDARY (DR)");
    }
    dr_buf_free(&diff);
    dr_buf_free(&fixed);
}

static void verify_records(dr_resource *res, const dr_hook_args *args, const r53_conf *c, const r53_state *s)
{
    const int dr = args->serving == DR_SERVING_DR;
    const r53_rrset *p = &s->rr[ROLE_PRIMARY], *q = &s->rr[ROLE_SECONDARY];
    double ttl_max = -1;

    if (s->zone_rc != 0) {
        dr_report_unknown(H, res, "primary_record", c->primary_value, &s->zone_err);
        dr_report_unknown(H, res, "primary_health_check", "present", &s->zone_err);
        dr_report_unknown(H, res, "secondary_record", c->secondary_value, &s->zone_err);
        dr_report_unknown(H, res, "ttl", NULL, &s->zone_err);
        return;
    }

    /* primary_record: PRIMARY role, answering the primary endpoint (or the DR one after a failover by records). */
    if (!p->present)
        dr_report_state(H, res, "primary_record", DR_STATUS_CRITICAL, "missing", c->primary_value,
                        "no PRIMARY %s record %s in zone %s%s", c->type, c->record, s->zone_id,
                        s->plain.present ? " (a record without failover policy holds the name)" : "");
    else if (p->alias || p->n_values != 1)
        dr_report_state(H, res, "primary_record", DR_STATUS_CRITICAL, p->alias ? "alias" : p->value, c->primary_value,
                        "the PRIMARY record %s is %s, not one %s value", p->set_id,
                        p->alias ? "an alias" : "several values", c->type);
    else if (value_eq(c->type, p->value, c->primary_value))
        dr_report_state(H, res, "primary_record", DR_STATUS_OK, p->value, c->primary_value,
                        "PRIMARY %s (set %s) answers the primary endpoint", c->type, p->set_id);
    else if (value_eq(c->type, p->value, c->secondary_value))
        dr_report_state(H, res, "primary_record", dr ? DR_STATUS_OK : DR_STATUS_CRITICAL, p->value,
                        dr ? c->secondary_value : c->primary_value,
                        dr ? "the PRIMARY record points at the DR endpoint (failover by records)"
                           : "the PRIMARY record points at the DR endpoint while the primary region serves");
    else
        dr_report_state(H, res, "primary_record", DR_STATUS_CRITICAL, p->value, c->primary_value,
                        "the PRIMARY record answers an endpoint the config does not name");

    /* primary_health_check: without it Route 53 never leaves the PRIMARY. */
    if (!p->present) {
        dr_error e;
        dr_error_clear(&e);
        dr_error_set(&e, DR_ENOTFOUND, "no PRIMARY record (see primary_record)");
        dr_report_unknown(H, res, "primary_health_check", s->hc.found ? s->hc.id : "present", &e);
    } else if (!p->hc_id[0]) {
        dr_report_state(H, res, "primary_health_check", DR_STATUS_CRITICAL, "none", s->hc.found ? s->hc.id : "present",
                        "the PRIMARY record has no health check: Route 53 would never fail over");
    } else if (c->by_alarm && s->hc_rc == 0) {
        if (s->chc.found && strcmp(p->hc_id, s->chc.id) == 0)
            dr_report_state(H, res, "primary_health_check", DR_STATUS_OK, p->hc_id, s->chc.id,
                            "the PRIMARY record uses the calculated check (endpoint and traffic alarm)");
        else
            dr_report_state(H, res, "primary_health_check", DR_STATUS_CRITICAL, p->hc_id,
                            s->chc.found ? s->chc.id : "calculated check",
                            "the PRIMARY record does not use the calculated check: the traffic alarm cannot move "
                            "traffic (run configure)");
    } else if (s->hc_rc != 0) {
        dr_report_unknown(H, res, "primary_health_check", "present", &s->hc_err);
    } else if (!s->hc.found) {
        dr_error e;
        dr_error_clear(&e);
        dr_error_set(&e, DR_ENOTFOUND, "the PRIMARY uses %s but the managed health check is missing (see health_check)",
                     p->hc_id);
        dr_report_unknown(H, res, "primary_health_check", "present", &e);
    } else if (strcmp(p->hc_id, s->hc.id) != 0) {
        dr_report_state(H, res, "primary_health_check", DR_STATUS_CRITICAL, p->hc_id, s->hc.id,
                        "the PRIMARY record uses another health check than the managed one");
    } else {
        dr_report_state(H, res, "primary_health_check", DR_STATUS_OK, p->hc_id, s->hc.id,
                        "the PRIMARY record uses the managed health check");
    }

    /* secondary_record: where traffic goes when the PRIMARY is unhealthy. */
    if (!q->present)
        dr_report_state(H, res, "secondary_record", DR_STATUS_CRITICAL, "missing", c->secondary_value,
                        "no SECONDARY %s record %s: when the PRIMARY fails Route 53 has nowhere to send traffic",
                        c->type, c->record);
    else if (q->alias || q->n_values != 1 || !value_eq(c->type, q->value, c->secondary_value))
        dr_report_state(H, res, "secondary_record", DR_STATUS_CRITICAL, q->alias ? "alias" : q->value,
                        c->secondary_value, "the SECONDARY record (set %s) does not answer the DR endpoint", q->set_id);
    else
        dr_report_state(H, res, "secondary_record", DR_STATUS_OK, q->value, c->secondary_value,
                        "SECONDARY %s (set %s) answers the DR endpoint", c->type, q->set_id);

    /* ttl: resolvers keep the old answer this long after a failover. */
    if (p->present && p->has_ttl)
        ttl_max = (double)p->ttl;
    if (q->present && q->has_ttl && (double)q->ttl > ttl_max)
        ttl_max = (double)q->ttl;
    if (ttl_max < 0) {
        dr_error e;
        dr_error_clear(&e);
        dr_error_set(&e, DR_ENOTFOUND, "no failover record with a TTL to check");
        dr_report_unknown(H, res, "ttl", NULL, &e);
    } else {
        double rto = H->rto_objective(res);
        dr_status st = rto > 0 && ttl_max >= rto ? DR_STATUS_CRITICAL
                       : ttl_max > c->ttl_warning ? DR_STATUS_WARNING
                                                  : DR_STATUS_OK;
        dr_report_number(H, res, "ttl", st, ttl_max, c->ttl_warning, "seconds",
                         "largest TTL of the failover records (configured %lld s, RTO %.0f s)%s", (long long)c->ttl,
                         rto, st == DR_STATUS_CRITICAL ? ": cached answers outlive the RTO"
                              : st == DR_STATUS_WARNING ? ": resolvers keep the old endpoint that long after a failover"
                                                        : "");
    }
}

/* failover_method alarm: the alarm in alarm_region says where traffic goes; its health checks are wired. */
static void verify_alarm(dr_resource *res, const dr_hook_args *args, const r53_conf *c, const r53_state *s)
{
    const int dr = args->serving == DR_SERVING_DR;
    const char *want = dr ? "ALARM" : "OK";

    if (s->alarm_rc != 0)
        dr_report_unknown(H, res, "traffic_alarm", want, &s->alarm_err);
    else if (!s->alarm.found)
        dr_report_state(H, res, "traffic_alarm", DR_STATUS_CRITICAL, "missing", want,
                        "no alarm %s in %s: a failover could not move traffic (run configure)", c->alarm_name,
                        c->alarm_region);
    else if (s->alarm.drifted)
        dr_report_state(H, res, "traffic_alarm", DR_STATUS_WARNING, s->alarm.state, want,
                        "alarm %s in %s differs from what dr-agent sets up (run configure)", c->alarm_name,
                        c->alarm_region);
    else if (strcmp(s->alarm.state, want) != 0)
        dr_report_state(H, res, "traffic_alarm", DR_STATUS_CRITICAL, s->alarm.state, want,
                        dr ? "alarm %s in %s is not in ALARM while DR serves: Route 53 may answer the primary endpoint; "
                             "run 'dr-agent failover' again"
                           : "alarm %s in %s is not OK while the primary serves: Route 53 answers the DR endpoint; "
                             "run 'dr-agent failback' (or configure)",
                        c->alarm_name, c->alarm_region);
    else
        dr_report_state(H, res, "traffic_alarm", DR_STATUS_OK, s->alarm.state, want,
                        "alarm %s in %s is %s: traffic %s", c->alarm_name, c->alarm_region, s->alarm.state,
                        dr ? "on the DR endpoint" : "may use the primary endpoint");
    if (s->hc_rc != 0)
        dr_report_unknown(H, res, "traffic_health_checks", "present", &s->hc_err);
    else if (!s->ahc.found || !s->chc.found || !s->hc.found || !has_child(&s->chc, s->ahc.id) ||
             !has_child(&s->chc, s->hc.id) || s->chc.health_threshold != 2)
        dr_report_state(H, res, "traffic_health_checks", DR_STATUS_CRITICAL, "missing or miswired", "present",
                        "the alarm health check (%s) and the calculated check (%s) on the endpoint and alarm checks "
                        "must exist (run configure)", s->ahc.found ? s->ahc.id : "missing",
                        s->chc.found ? s->chc.id : "missing");
    else
        dr_report_state(H, res, "traffic_health_checks", DR_STATUS_OK, "present", "present",
                        "calculated check %s = endpoint check %s AND alarm check %s", s->chc.id, s->hc.id, s->ahc.id);
}

/*
 * failover_control_planes: which control planes a failover of this resource calls, and where. A failover
 * away from region X that needs a control plane in X can fail exactly when it is needed.
 */
static void verify_control_planes(dr_resource *res, const r53_conf *c)
{
    char need[128];

    if (c->by_alarm) {
        snprintf(need, sizeof(need), "cloudwatch@%s", c->alarm_region);
        if (c->primary_region && strcmp(c->alarm_region, c->primary_region) == 0)
            dr_report_state(H, res, "failover_control_planes", DR_STATUS_WARNING, need, "none in the primary region",
                            "the traffic alarm is in %s, the region a failover leaves: set alarm_region to the DR "
                            "region", c->alarm_region);
        else
            dr_report_state(H, res, "failover_control_planes", DR_STATUS_OK, need, "none in the primary region",
                            "failover calls CloudWatch PutMetricData/DescribeAlarms in %s only; Route 53's control "
                            "plane (%s) is not on the path", c->alarm_region, c->api_region);
        return;
    }
    snprintf(need, sizeof(need), "route53@%s", c->api_region);
    if (c->primary_region && strcmp(c->api_region, c->primary_region) == 0)
        dr_report_state(H, res, "failover_control_planes", DR_STATUS_WARNING, need, "none in the primary region",
                        "failover_method %s calls Route 53's control plane, which is in %s, the region a failover "
                        "leaves: a regional event there can block the failover; set failover_method = alarm",
                        c->by_records ? "records" : "invert", c->api_region);
    else
        dr_report_state(H, res, "failover_control_planes", DR_STATUS_OK, need, "none in the primary region",
                        "failover calls Route 53's control plane (%s)", c->api_region);
}

/* route53_control_plane (verify in DR): the Route 53 API did not answer at all, as in a regional outage. */
static void verify_reachability(dr_resource *res, const dr_hook_args *args, const r53_conf *c, const r53_state *s)
{
    if (args->serving == DR_SERVING_DR && s->zone_rc != 0 && s->zone_err.http_status == 0 && s->zone_rc != DR_ENOTFOUND && s->zone_rc != DR_ECONFIG)
        dr_report_state(H, res, "route53_control_plane", DR_STATUS_CRITICAL, "unreachable", "reachable",
                        "Route 53's API (signed for %s) does not answer: %s is down or cut off%s", c->api_region,
                        c->api_region, c->by_alarm ? "; failover and failback by alarm do not need it" : "");
}

/*
 * read_state for verify in fewer round trips: the zone and its records, the
 * health checks and their status, and the traffic alarm are independent
 * chains, read at once. The health check chain reads without the records,
 * which only choose among several health checks with our prefix (two runs
 * that raced): then it is read again with them, as read_state does. When the
 * zone lookup got no answer at all, its error stands for the health checks
 * too, as in read_state.
 */
typedef struct r53_vread {
    dr_aws *aws, *cw, *cw_alarm; /* Route 53; CloudWatch in api_region and in alarm_region (may be NULL) */
    dr_error cw_err, alarm_err;
    const r53_conf *c;
    r53_state *s; /* the zone and alarm parts are read into it */
    r53_state hs; /* the health check part */
    int with_status, matches;
    dr_resource *memo; /* the resource whose run's memo shares the zone lookup and health check listing */
} r53_vread;

static void vread_zone(void *arg)
{
    r53_vread *v = arg;

    v->s->zone_rc = find_zone_m(v->memo, v->aws, v->c, v->s->zone_id, sizeof(v->s->zone_id), &v->s->zone_err);
    if (v->s->zone_rc == 0)
        v->s->zone_rc = read_records(v->aws, v->c, v->s, &v->s->zone_err);
}

static void vread_alarm(void *arg)
{
    r53_vread *v = arg;

    v->s->alarm_err = v->alarm_err;
    v->s->alarm_rc = v->cw_alarm ? read_alarm(v->cw_alarm, v->c, &v->s->alarm, &v->s->alarm_err)
                                 : v->alarm_err.code;
}

/* The health check part of read_state, its independent reads at once. */
typedef struct hc_job {
    r53_vread *v;
    const r53_state *tie; /* the records that choose among several health checks (none: the first) */
    r53_state *out;
    int *matches;
    int t_rc;             /* the traffic health checks' lookup */
    dr_error t_err;
} hc_job;

typedef struct metric_job {
    dr_aws *cw;
    const r53_conf *c;
    const char *id;
    int rc, healthy;
    dr_error err;
} metric_job;

static void job_find(void *arg)
{
    hc_job *j = arg;

    j->out->hc_rc = find_hc_n(j->v->memo, NULL, j->v->aws, j->v->c, j->tie, &j->out->hc, j->matches, &j->out->hc_err);
}

static void job_traffic(void *arg)
{
    hc_job *j = arg;

    dr_error_clear(&j->t_err);
    j->t_rc = find_traffic_hcs_m(j->v->memo, j->v->aws, j->v->c, &j->out->ahc, &j->out->chc, &j->t_err);
}

static void job_metric(void *arg)
{
    metric_job *m = arg;

    dr_error_clear(&m->err);
    m->rc = metric_status_c(m->cw, m->c, m->id, &m->healthy, &m->err);
}

/*
 * The health check part of read_state into s, with the same outcome: the
 * health check and (alarm method) the traffic health checks are looked up at
 * once, then the status metrics of the endpoint and calculated checks are
 * read at once. AWS calls only: the clients are in v (a batch's worker may
 * run it).
 */
static void hc_part(r53_vread *v, const r53_state *tie, r53_state *s, int *matches)
{
    const r53_conf *c = v->c;
    hc_job j;
    metric_job m[2];
    dr_aws_task t[2];
    size_t n = 0;

    memset(&j, 0, sizeof(j));
    j.v = v;
    j.tie = tie;
    j.out = s;
    j.matches = matches;
    t[n++] = (dr_aws_task){job_find, &j};
    if (c->by_alarm)
        t[n++] = (dr_aws_task){job_traffic, &j};
    dr_aws_run_all(t, n, 0);
    if (s->hc_rc != 0 || !c->by_alarm) {
        memset(&s->ahc, 0, sizeof(s->ahc)); /* looked up only after the health check, as read_state does */
        memset(&s->chc, 0, sizeof(s->chc));
    } else if (j.t_rc != 0) {
        s->hc_rc = j.t_rc;
        s->hc_err = j.t_err;
    }
    s->ep_rc = s->st_rc = DR_EUNSUPPORTED; /* not asked for */
    if (s->hc_rc != 0 || !s->hc.found) {
        s->st_rc = s->ep_rc = s->hc_rc ? s->hc_rc : DR_ENOTFOUND;
        s->st_err = s->ep_err = s->hc_err;
        return;
    }
    if (!v->with_status)
        return;
    if (!v->cw) {
        s->ep_err = s->st_err = v->cw_err;
        s->ep_rc = s->st_rc = v->cw_err.code;
        if (c->by_alarm && !s->chc.found)
            s->st_rc = dr_error_set(&s->st_err, DR_ENOTFOUND, "no calculated health check (run configure)");
        s->st_total = 1;
        return;
    }
    n = 0;
    m[0] = (metric_job){v->cw, c, s->hc.id, 0, 0, {0}};
    t[n++] = (dr_aws_task){job_metric, &m[0]};
    if (c->by_alarm && s->chc.found) {
        m[1] = (metric_job){v->cw, c, s->chc.id, 0, 0, {0}};
        t[n++] = (dr_aws_task){job_metric, &m[1]};
    }
    dr_aws_run_all(t, n, 0);
    s->ep_rc = m[0].rc;
    s->ep_err = m[0].err;
    s->ep_healthy = m[0].healthy;
    if (!c->by_alarm) {
        s->st_rc = s->ep_rc;
        s->st_err = s->ep_err;
        s->st_healthy = s->ep_healthy;
    } else if (s->chc.found) {
        s->st_rc = m[1].rc;
        s->st_err = m[1].err;
        s->st_healthy = m[1].healthy;
    } else {
        s->st_rc = dr_error_set(&s->st_err, DR_ENOTFOUND, "no calculated health check (run configure)");
    }
    s->st_total = 1;
}

static void vread_hc(void *arg)
{
    r53_vread *v = arg;

    hc_part(v, &v->hs, &v->hs, &v->matches);
}

static void copy_hc_part(r53_state *to, const r53_state *from)
{
    to->hc_rc = from->hc_rc;
    to->hc_err = from->hc_err;
    to->hc = from->hc;
    to->ahc = from->ahc;
    to->chc = from->chc;
    to->st_rc = from->st_rc;
    to->st_err = from->st_err;
    to->st_healthy = from->st_healthy;
    to->st_total = from->st_total;
    to->ep_rc = from->ep_rc;
    to->ep_err = from->ep_err;
    to->ep_healthy = from->ep_healthy;
}

static void read_state_together(dr_resource *res, dr_aws *aws, const r53_conf *c, r53_state *s, int with_status)
{
    r53_vread v;
    dr_aws_task tasks[3];
    size_t n = 0;

    if (!aws) {
        read_state(res, aws, c, s, with_status);
        return;
    }
    memset(s, 0, sizeof(*s));
    memset(&v, 0, sizeof(v));
    v.aws = aws;
    v.c = c;
    v.s = s;
    v.with_status = with_status;
    v.memo = res; /* verify's reads: the run's other route53 resources read the same listing */
    dr_error_clear(&v.cw_err);
    dr_error_clear(&v.alarm_err);
    if (with_status)
        v.cw = dr_host_aws(H, res, c->api_region, &v.cw_err);
    if (c->by_alarm)
        v.cw_alarm = dr_host_aws(H, res, c->alarm_region, &v.alarm_err);
    tasks[n++] = (dr_aws_task){vread_zone, &v};
    tasks[n++] = (dr_aws_task){vread_hc, &v};
    if (c->by_alarm)
        tasks[n++] = (dr_aws_task){vread_alarm, &v};
    dr_aws_run_all(tasks, n, 0);
    if (s->zone_rc != 0 && s->zone_err.http_status == 0 && s->zone_rc != DR_ENOTFOUND && s->zone_rc != DR_ECONFIG) {
        /* the control plane did not answer at all: its error stands for the health checks too */
        s->hc_rc = s->st_rc = s->ep_rc = s->zone_rc;
        s->hc_err = s->st_err = s->ep_err = s->zone_err;
    } else if (v.matches > 1) {
        hc_part(&v, s, s, NULL); /* several candidates: choose with the records */
        H->log(res, DR_LOG_WARN, "%d health checks carry the CallerReference prefix %s; using %s", v.matches,
               c->caller_prefix, s->hc.id);
    } else {
        copy_hc_part(s, &v.hs);
    }
    if (record_hc_id(c, s)) {
        r53_conf cc = *c; /* the check the PRIMARY record names (made by hand): read it and its status */
        cc.hc_id = s->rr[ROLE_PRIMARY].hc_id;
        v.c = &cc;
        hc_part(&v, s, s, NULL);
        v.c = c;
        s->adopted = s->hc_rc == 0 && s->hc.found;
    }
    state_free(&v.hs);
}

static int r53_verify(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    r53_conf c;
    r53_state s;
    dr_aws *aws;
    dr_error cerr;
    char reason[320] = "";
    int rc;

    rc = load_conf(res, &c, err);
    if (rc != 0)
        return rc;
    dr_error_clear(&cerr);
    aws = client(res, &c, &cerr);
    read_state_together(res, aws, &c, &s, 1);
    if (!aws) {
        s.zone_err = s.hc_err = s.st_err = cerr;
    }
    if (aws && s.hc_rc == 0 && s.hc.found && ((s.ep_rc == 0 && s.ep_healthy == s.hc.inverted) ||
                                               (s.st_rc == 0 && !s.st_healthy)))
        read_reason(aws, s.hc.id, reason, sizeof(reason)); /* the checkers' failure reasons, for the report */
    verify_health_check(res, args, &c, &s, reason);
    if (s.adopted) /* a name found in the estate, for `dr-agent adopt` */
        dr_report_state(H, res, "config:health_check_id", DR_STATUS_OK, s.hc.id, s.hc.id,
                        "health_check_id is not set in the config: the health check of the PRIMARY record, found in "
                        "the estate");
    verify_records(res, args, &c, &s);
    if (c.by_alarm)
        verify_alarm(res, args, &c, &s);
    verify_control_planes(res, &c);
    verify_reachability(res, args, &c, &s);
    state_free(&s);
    return 0;
}

/* ---- failover ---- */

/* What the application reaches after the switch: the record and the value it answers now (an "endpoint" check). */
static void report_answer(dr_resource *res, const r53_conf *c, const char *value)
{
    char v[600];

    snprintf(v, sizeof(v), "%s %s %s", c->record, c->type, value);
    dr_report_state(H, res, "endpoint", DR_STATUS_OK, v, NULL, "DNS record");
}

/*
 * failover_method alarm: everything happens in alarm_region (the DR region), through CloudWatch;
 * Route 53's data plane does the rest. No Route 53 control-plane call, so a failover works while
 * us-east-1 is down.
 */
static int failover_by_alarm(dr_resource *res, const dr_hook_args *args, const r53_conf *c, dr_error *err)
{
    char target[320], detail[256];
    r53_alarm a;
    dr_aws *cw;
    double secs;
    int rc;

    snprintf(target, sizeof(target), "%s (%s)", c->alarm_name, c->alarm_region);
    cw = dr_host_aws(H, res, c->alarm_region, err);
    if (!cw)
        return err->code;
    /* 1. Where are we? ALARM already: traffic is on DR (a second run, or a run after a crash). */
    rc = read_alarm(cw, c, &a, err);
    if (rc != 0)
        return rc;
    if (!a.found)
        return dr_error_set(err, DR_ENOTFOUND, "alarm %s does not exist in %s: run 'dr-agent configure' first",
                            c->alarm_name, c->alarm_region);
    if (strcmp(a.state, "ALARM") == 0) {
        H->log(res, DR_LOG_INFO, "alarm %s is already in ALARM: traffic is on the DR endpoint", c->alarm_name);
        confirm_dns(res, c, c->secondary_value);
        report_answer(res, c, c->secondary_value);
        return 0;
    }
    if (args->dry_run) {
        H->change(res, DR_CHANGE_PLANNED, "set_traffic_alarm", target,
                  "put 1 into " TRAFFIC_NS "/" TRAFFIC_METRIC ": the alarm goes to ALARM, its health check and the "
                  "PRIMARY's calculated check turn unhealthy, Route 53 answers the SECONDARY");
        return 0;
    }
    /* 2. Hand traffic over: one datapoint; 3. wait until the alarm acts on it. */
    rc = set_traffic(res, cw, c, 1, &secs, err);
    if (rc == 0)
        snprintf(detail, sizeof(detail), "ALARM after %.1fs: Route 53 answers the SECONDARY", secs);
    dr_report_change(H, res, rc, "set_traffic_alarm", target, detail, err);
    if (rc != 0)
        return rc;
    /* 4. Ask a resolver. */
    confirm_dns(res, c, c->secondary_value);
    report_answer(res, c, c->secondary_value);
    return 0;
}

static int r53_failover(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    r53_conf c;
    r53_state s;
    r53_batch bt;
    dr_aws *aws;
    double secs;
    int rc, by_records, switched, inverted_ok, on_dr;
    const char *reason = NULL;

    rc = load_conf(res, &c, err);
    if (rc != 0)
        return rc;
    if (c.by_alarm)
        return failover_by_alarm(res, args, &c, err);
    aws = client(res, &c, err);
    if (!aws)
        return err->code;
    memset(&bt, 0, sizeof(bt));
    read_state(res, aws, &c, &s, 1);
    if (s.zone_rc != 0) {
        *err = s.zone_err;
        rc = s.zone_rc;
        goto out;
    }
    if (s.hc_rc != 0) {
        *err = s.hc_err;
        rc = s.hc_rc;
        goto out;
    }

    /*
     * Where does traffic go now? Already on DR (a second run, or a run after a
     * crash) means nothing to move. An inverted check that reports healthy does
     * not count: its endpoint fails, so Route 53 answers the failing PRIMARY.
     */
    switched = s.rr[ROLE_PRIMARY].present && value_eq(c.type, s.rr[ROLE_PRIMARY].value, c.secondary_value);
    inverted_ok = s.hc.found && s.hc.inverted && !(s.st_rc == 0 && s.st_total > 0 && majority_healthy(&s));
    on_dr = switched || inverted_ok;
    by_records = c.by_records;
    if (!on_dr && !by_records) {
        if (!s.hc.found)
            reason = "there is no health check to invert";
        else if (s.hc.inverted)
            reason = "the health check is inverted but reports healthy: the primary endpoint fails";
        else if (s.st_rc != 0)
            reason = "the health check's status cannot be read";
        else if (s.st_total > 0 && !majority_healthy(&s))
            /* Inverting a failing check would make it healthy and send traffic back to the failing endpoint. */
            reason = "the primary endpoint already fails its health check, so inverting would mark it healthy";
    }
    if (reason) {
        by_records = 1;
        H->log(res, DR_LOG_WARN, "failing over by changing the records: %s", reason);
    }

    /* The SECONDARY must be there to take the traffic. */
    plan_record(&c, &s.rr[ROLE_SECONDARY], ROLE_SECONDARY, c.secondary_value, NULL, NULL, &bt);
    if (by_records && !on_dr) {
        const r53_rrset *p = &s.rr[ROLE_PRIMARY];
        char target[160], detail[512];
        snprintf(target, sizeof(target), "%s %s PRIMARY", c.record, c.type);
        snprintf(detail, sizeof(detail), "value %.240s -> %.240s", p->present ? p->value : "none", c.secondary_value);
        dr_buf_puts(&bt.xml, "<Change><Action>UPSERT</Action>");
        rrset_xml(&bt.xml, &c, ROLE_PRIMARY, c.secondary_value, p->present ? p->hc_id : (s.hc.found ? s.hc.id : NULL));
        dr_buf_puts(&bt.xml, "</Change>");
        batch_add(&bt, "switch_primary_record", target, detail);
    }
    if (args->dry_run) {
        report_batch(res, &bt, DR_CHANGE_PLANNED, NULL);
        if (!by_records && !on_dr)
            H->change(res, DR_CHANGE_PLANNED, "invert_health_check", s.hc.id,
                      "inverted: Route 53 then sees the primary endpoint as unhealthy and answers the SECONDARY");
        goto out;
    }
    if (bt.n > 0) {
        rc = submit_batch(res, aws, &c, &s, &bt, "dr-agent: failover to the DR endpoint", &secs, err);
        if (rc == 0) {
            char suffix[64];
            snprintf(suffix, sizeof(suffix), " (INSYNC after %.1fs)", secs);
            report_batch(res, &bt, DR_CHANGE_DONE, suffix);
        } else {
            report_batch(res, &bt, rc == DR_ETIMEDOUT || rc == DR_ECANCELED ? DR_CHANGE_DONE : DR_CHANGE_FAILED,
                         rc == DR_ETIMEDOUT || rc == DR_ECANCELED ? " (submitted, not yet INSYNC)" : NULL);
            goto out;
        }
    }
    if (!by_records && !on_dr) {
        char detail[256];
        rc = update_hc(res, aws, &c, &s.hc, 0, 1, err);
        if (rc != 0) {
            H->change(res, DR_CHANGE_FAILED, "invert_health_check", s.hc.id, err->message);
            goto out;
        }
        rc = wait_status(res, aws, &c, s.hc.id, 0, &secs, err);
        if (rc == 0)
            snprintf(detail, sizeof(detail), "inverted; Route 53 reported it unhealthy (traffic to the SECONDARY) after %.1fs",
                     secs);
        else
            snprintf(detail, sizeof(detail), "inverted; Route 53 did not report it unhealthy within %.1fs", secs);
        H->change(res, DR_CHANGE_DONE, "invert_health_check", s.hc.id, detail);
        if (rc != 0)
            goto out;
    }
    confirm_dns(res, &c, c.secondary_value);
    report_answer(res, &c, c.secondary_value);
out:
    dr_buf_free(&bt.xml);
    state_free(&s);
    return rc;
}

/* ---- failback ---- */

static int r53_failback(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    r53_conf c;
    r53_state s;
    dr_aws *aws;
    double secs;
    int rc, uninverted;

    rc = load_conf(res, &c, err);
    if (rc != 0)
        return rc;
    aws = client(res, &c, err);
    if (!aws)
        return err->code;
    read_state(res, aws, &c, &s, 1);

    /*
     * Is the primary endpoint healthy? HealthCheckStatus is after inversion,
     * so an inverted check that reports unhealthy means a healthy endpoint.
     * A graceful failback refuses to send traffic to a failing one.
     */
    if (s.hc_rc == 0 && s.hc.found && s.ep_rc == 0) {
        int endpoint_healthy = s.ep_healthy != s.hc.inverted;
        if (!endpoint_healthy && args->mode == DR_MODE_GRACEFUL) {
            rc = dr_error_set(err, DR_ESTATE,
                              "the primary endpoint %s fails its health check %s (HealthCheckStatus); failing back "
                              "would send traffic to it: fix it first or use --mode forced",
                              c.primary_value, s.hc.id);
            goto out;
        }
    }
    rc = converge(res, args, aws, &c, &s, DR_SERVING_PRIMARY, &uninverted, err);
    if (rc != 0)
        goto out;
    if (c.by_alarm) {
        /* The traffic alarm back to OK (in alarm_region), then Route 53 answers the PRIMARY again. */
        char target[320], detail[256];
        dr_aws *cw = dr_host_aws(H, res, c.alarm_region, err);
        snprintf(target, sizeof(target), "%s (%s)", c.alarm_name, c.alarm_region);
        if (!cw) {
            rc = err->code;
            goto out;
        }
        if (args->dry_run) {
            if (strcmp(s.alarm.state, "OK") != 0)
                H->change(res, DR_CHANGE_PLANNED, "clear_traffic_alarm", target, "put 0: the alarm goes to OK");
            goto out;
        }
        if (strcmp(s.alarm.state, "OK") != 0) {
            rc = set_traffic(res, cw, &c, 0, &secs, err);
            if (rc == 0)
                snprintf(detail, sizeof(detail), "OK after %.1fs", secs);
            dr_report_change(H, res, rc, "clear_traffic_alarm", target, detail, err);
            if (rc != 0)
                goto out;
        }
        if (args->mode == DR_MODE_GRACEFUL && s.chc.found) {
            rc = wait_status(res, aws, &c, s.chc.id, 1, &secs, err);
            if (rc != 0)
                goto out;
            H->log(res, DR_LOG_INFO, "calculated check %s healthy again after %.1fs", s.chc.id, secs);
        }
        confirm_dns(res, &c, c.primary_value);
        report_answer(res, &c, c.primary_value);
        goto out;
    }
    if (args->dry_run)
        goto out;
    if (uninverted && args->mode == DR_MODE_GRACEFUL) {
        rc = wait_status(res, aws, &c, s.hc.id, 1, &secs, err);
        if (rc != 0)
            goto out;
        H->log(res, DR_LOG_INFO, "health check %s reports healthy again after %.1fs", s.hc.id, secs);
    }
    confirm_dns(res, &c, c.primary_value);
    report_answer(res, &c, c.primary_value);
out:
    state_free(&s);
    return rc;
}

/*
 * The prepare phase: the hosted zone and the health check can be read and, before a graceful failback, the primary
 * endpoint passes its health check (traffic must not go back to a failing endpoint). Nothing is changed.
 */
static int r53_prepare(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    r53_conf c;
    r53_state s;
    dr_aws *aws;
    int back = DR_HAS_MEMBER(args, dr_hook_args, prepare_for) && args->prepare_for == DR_SWITCH_FAILBACK;
    int rc = 0;

    if ((rc = load_conf(res, &c, err)) != 0)
        return rc;
    if (c.by_alarm)
        return 0; /* the switch goes through the alarm in its region (no Route 53 control-plane call there), and
                     its health check follows the alarm: the failover and failback check what they need */
    if (!(aws = client(res, &c, err)))
        return err->code;
    read_state(res, aws, &c, &s, 1);
    if (s.zone_rc != 0) {
        *err = s.zone_err;
        rc = s.zone_rc;
        goto out;
    }
    if (!back && s.hc_rc != 0) {
        *err = s.hc_err;
        rc = s.hc_rc;
        goto out;
    }
    if (back && s.hc_rc == 0 && s.hc.found && s.st_rc == 0 && s.st_total > 0 && args->mode == DR_MODE_GRACEFUL &&
        majority_healthy(&s) == s.hc.inverted)
        rc = dr_error_set(err, DR_ESTATE, "the primary endpoint %s fails its health check (%d of %d checkers); failing "
                          "back would send traffic to it: fix it first or use --mode forced",
                          c.primary_value, s.st_total - s.st_healthy, s.st_total);
out:
    state_free(&s);
    return rc;
}

/* ---- plugin ---- */

static int r53_init(const dr_host_api *host, dr_error *err)
{
    (void)err;
    H = host;
    r53_diagnose_init(host);
    return 0;
}

/* The AWS services (signing names) this plugin calls. */
static const char *const services[] = {"route53", NULL};

static const dr_plugin_descriptor descriptor = {
    DR_PLUGIN_HEADER,
    "route53",
    "1.0.0",
    "Route 53 health check on the primary endpoint and PRIMARY/SECONDARY failover records",
    keys,
    sizeof(keys) / sizeof(keys[0]),
    r53_default_deps,
    r53_init,
    r53_validate,
    r53_configure,
    r53_verify,
    r53_failover,
    r53_failback,
    services,
    NULL, /* cleanup: nothing retired */
    r53_prepare,
    r53_diagnose, /* diagnose.c */
};

DR_PLUGIN_DECLARE_ENTRY
{
    return &descriptor;
}
