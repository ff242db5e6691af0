/* aws.c: the dr_aws client: creation from config/environment/profile, the sign-send-retry loop, responses and protocol helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "answer.h"
#include "client.h"
#include "log.h"
#include "protocol.h"
#include "sigv4.h"

static _Atomic unsigned long long n_calls, n_attempts;

int dr_sdk_global_init(dr_error *err)
{
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        return dr_error_set(err, DR_ENOMEM, "curl_global_init failed");
    if (!OPENSSL_init_crypto(0, NULL))
        return dr_error_set(err, DR_ENOMEM, "OpenSSL initialisation failed");
    return 0;
}

void dr_sdk_global_cleanup(void)
{
    curl_global_cleanup();
}

void dr_aws_counters(uint64_t *calls, uint64_t *attempts)
{
    if (calls)
        *calls = n_calls;
    if (attempts)
        *attempts = n_attempts;
}

/* --- client --- */

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

void drs_aws_set_backoff_base(dr_aws *c, double seconds)
{
    c->backoff_base_s = seconds;
}

void drs_aws_set_backoff_jitter(dr_aws *c, double fixed_rnd)
{
    c->backoff_rnd = fixed_rnd;
}

int drs_aws_quota_tokens(dr_aws *c)
{
    return drs_quota_tokens(&c->quota);
}

double drs_aws_skew_s(dr_aws *c)
{
    return (double)c->skew_ms / 1000.0;
}

int dr_aws_new(const dr_aws_config *cfg_in, dr_aws **out, dr_error *err)
{
    dr_aws_config cfg;
    dr_aws *c;
    drs_http_opts ho;
    const char *v;
    int rc = 0;

    *out = NULL;
    if (!cfg_in || cfg_in->struct_size < offsetof(dr_aws_config, region) + sizeof(cfg_in->region))
        return dr_error_set(err, DR_EINVAL, "dr_aws_new: no configuration");
    memset(&cfg, 0, sizeof(cfg));
    memcpy(&cfg, cfg_in, cfg_in->struct_size < sizeof(cfg) ? cfg_in->struct_size : sizeof(cfg));
    if (!cfg.region || !*cfg.region)
        return dr_error_set(err, DR_ECONFIG, "dr_aws_new: a region is required");
    if (strspn(cfg.region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(cfg.region))
        return dr_error_set(err, DR_ECONFIG, "dr_aws_new: invalid region '%.60s'", cfg.region);
    c = calloc(1, sizeof(*c));
    if (!c)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    pthread_mutex_init(&c->creds_mu, NULL);
    pthread_mutex_init(&c->account_mu, NULL);
    pthread_mutex_init(&c->down_mu, NULL);
    pthread_cond_init(&c->down_cv, NULL);
    drs_quota_init(&c->quota);
    c->backoff_base_s = 1.0;
    c->backoff_rnd = -1;
    c->s3_path_style = cfg.s3_path_style;
    c->connect_timeout_ms = cfg.connect_timeout_ms > 0 ? cfg.connect_timeout_ms : 3000;
    c->attempt_timeout_ms = cfg.attempt_timeout_ms > 0 ? cfg.attempt_timeout_ms : 20000;

    if (cfg.profile && *cfg.profile) {
        c->profile = strdup(cfg.profile);
        c->profile_explicit = 1;
    } else if ((v = env("AWS_PROFILE")) || (v = env("AWS_DEFAULT_PROFILE"))) {
        c->profile = strdup(v);
    } else {
        c->profile = strdup("default");
    }
    c->region = strdup(cfg.region);
    c->role_arn = dup_or_null(cfg.role_arn);
    c->external_id = dup_or_null(cfg.external_id);
    if (cfg.role_session_name && *cfg.role_session_name) {
        c->role_session_name = strdup(cfg.role_session_name);
    } else {
        char name[64];
        snprintf(name, sizeof(name), "dr-agent-%ld", (long)getpid());
        c->role_session_name = strdup(name);
    }
    c->endpoint_url = dup_or_null(cfg.endpoint_url);
    if (!c->profile || !c->region || !c->role_session_name || (cfg.role_arn && *cfg.role_arn && !c->role_arn) ||
        (cfg.endpoint_url && *cfg.endpoint_url && !c->endpoint_url)) {
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = drs_profiles_load(&c->profiles, err)) != 0) {
        if (rc != DR_ENOMEM)
            rc = err->code = DR_ECONFIG;
        goto out;
    }
    if (strcmp(c->profile, "default") != 0 &&
        !drs_profiles_find(&c->profiles, DRS_SECTION_PROFILE, c->profile)) {
        char *cp = NULL, *kp = NULL;
        drs_profiles_paths(&cp, &kp);
        rc = dr_error_set(err, DR_ECONFIG, "AWS profile '%s' not found in %s or %s", c->profile, cp ? cp : "?",
                          kp ? kp : "?");
        free(cp);
        free(kp);
        goto out;
    }
    if (c->endpoint_url) {
        drs_endpoint check;
        if ((rc = drs_endpoint_parse_url(c->endpoint_url, &check, err)) != 0)
            goto out;
    }
    if (cfg.max_attempts > 0)
        c->max_attempts = cfg.max_attempts;
    else if ((v = env("AWS_MAX_ATTEMPTS")) || (v = drs_profile_get(&c->profiles, c->profile, "max_attempts")))
        c->max_attempts = atoi(v);
    if (c->max_attempts <= 0)
        c->max_attempts = DRS_RETRY_MAX_ATTEMPTS;
    c->network_max_attempts = cfg.network_max_attempts > 0 ? cfg.network_max_attempts : 0;
    ho.ca_bundle = cfg.ca_bundle && *cfg.ca_bundle ? cfg.ca_bundle
                                                    : (env("AWS_CA_BUNDLE") ? env("AWS_CA_BUNDLE")
                                                                            : drs_profile_get(&c->profiles, c->profile,
                                                                                              "ca_bundle"));
    ho.insecure_tls = cfg.insecure_tls;
    if (cfg.insecure_tls)
        drs_log(DR_LOG_ERROR, "aws: TLS certificate verification is OFF for the %s client (insecure_tls): "
                              "any server can impersonate AWS",
                c->region);
    c->http = drs_http_new(&ho, err);
    if (!c->http) {
        rc = err->code;
        goto out;
    }
out:
    if (rc != 0) {
        dr_aws_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void dr_aws_free(dr_aws *c)
{
    if (!c)
        return;
    drs_http_free(c->http);
    drs_profiles_free(&c->profiles);
    drs_creds_clear(&c->creds);
    drs_quota_destroy(&c->quota);
    pthread_mutex_destroy(&c->creds_mu);
    pthread_mutex_destroy(&c->account_mu);
    pthread_mutex_destroy(&c->down_mu);
    pthread_cond_destroy(&c->down_cv);
    free(c->region);
    free(c->profile);
    free(c->role_arn);
    free(c->external_id);
    free(c->role_session_name);
    free(c->endpoint_url);
    free(c);
}

const char *dr_aws_region(const dr_aws *c)
{
    return c ? c->region : NULL;
}

static void endpoint_opts(dr_aws *c, drs_endpoint_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->client_url = c->endpoint_url;
    o->profiles = &c->profiles;
    o->profile = c->profile;
}

int dr_aws_endpoint(dr_aws *c, const char *service, dr_buf *out, dr_error *err)
{
    drs_endpoint_opts o;
    drs_endpoint ep;
    int rc;

    endpoint_opts(c, &o);
    if ((rc = drs_endpoint_resolve(&o, service, c->region, &ep, err)) != 0)
        return rc;
    return dr_buf_puts(out, ep.url) == 0 ? 0 : dr_error_set(err, DR_ENOMEM, "out of memory");
}

/* --- responses --- */

int dr_aws_response_status(const dr_aws_response *r)
{
    return r ? r->http.status : 0;
}

const char *dr_aws_response_header(const dr_aws_response *r, const char *name)
{
    return r ? drs_http_header(&r->http, name) : NULL;
}

const char *dr_aws_response_body(const dr_aws_response *r, size_t *len)
{
    if (len)
        *len = r ? r->http.body.len : 0;
    return r ? dr_buf_str(&r->http.body) : NULL;
}

const dr_node *dr_aws_response_doc(const dr_aws_response *r)
{
    return r ? dr_doc_root(r->doc) : NULL;
}

void dr_aws_response_free(dr_aws_response *r)
{
    if (!r)
        return;
    drs_http_resp_free(&r->http);
    dr_doc_free(r->doc);
    free(r);
}

dr_doc *drs_response_take_doc(dr_aws_response *r)
{
    dr_doc *d = r->doc;
    r->doc = NULL;
    return d;
}

/* --- the send loop --- */

static double elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1000.0 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

typedef struct prepared {
    const drs_service *svc;
    drs_endpoint ep;
    dr_buf host, url, path;
    const char *method;
    const char *body;
    size_t body_len;
    char payload_hash[65];
    drs_header *sign_hdrs; /* headers signed besides Host/X-Amz-Date/token/content hash */
    size_t n_sign;
    char **extra_lines;    /* "Name: value" lines to send, owned */
    size_t n_extra;
    int s3;
} prepared;

static void prepared_free(prepared *p)
{
    dr_buf_free(&p->host);
    dr_buf_free(&p->url);
    dr_buf_free(&p->path);
    for (size_t i = 0; i < p->n_extra; i++)
        free(p->extra_lines[i]);
    free(p->extra_lines);
    for (size_t i = 0; i < p->n_sign; i++) {
        free((char *)p->sign_hdrs[i].name);
        free((char *)p->sign_hdrs[i].value);
    }
    free(p->sign_hdrs);
}

static int add_header(prepared *p, const char *name, size_t nlen, const char *value)
{
    drs_header *nh = realloc(p->sign_hdrs, (p->n_sign + 1) * sizeof(*nh));

    if (!nh)
        return DR_ENOMEM;
    p->sign_hdrs = nh;
    nh[p->n_sign].name = strndup(name, nlen);
    nh[p->n_sign].value = strdup(value);
    if (!nh[p->n_sign].name || !nh[p->n_sign].value) {
        free((char *)nh[p->n_sign].name);
        free((char *)nh[p->n_sign].value);
        return DR_ENOMEM;
    }
    p->n_sign++;
    return 0;
}

static const char *default_content_type(const dr_aws_request *rq, const char *method, size_t body_len)
{
    switch (rq->protocol) {
    case DR_AWS_JSON:
        return "application/x-amz-json-1.0";
    case DR_AWS_QUERY:
        return "application/x-www-form-urlencoded; charset=utf-8";
    case DR_AWS_REST_JSON:
        return body_len > 0 && strcmp(method, "GET") != 0 ? "application/json" : NULL;
    default:
        return NULL; /* S3 and Route 53 bodies go without one, as botocore sends them */
    }
}

static int prepare(dr_aws *c, const dr_aws_request *rq, prepared *p, dr_error *err)
{
    drs_endpoint_opts o;
    const char *ct;
    int rc;

    memset(p, 0, sizeof(*p));
    p->svc = drs_service_find(rq->service);
    if (!p->svc)
        return dr_error_set(err, DR_EINVAL, "unknown AWS service '%s'", rq->service ? rq->service : "(null)");
    endpoint_opts(c, &o);
    if ((rc = drs_endpoint_resolve(&o, rq->service, c->region, &p->ep, err)) != 0)
        return rc;
    p->s3 = strcmp(p->svc->signing, "s3") == 0;
    p->method = rq->method && *rq->method ? rq->method : "POST";
    p->body = rq->body ? rq->body : "";
    p->body_len = rq->body ? (rq->body_len ? rq->body_len : strlen(rq->body)) : 0;
    if (drs_endpoint_target(&p->ep, p->svc->signing, rq->bucket, c->s3_path_style, rq->path, &p->host, &p->url,
                            &p->path) != 0)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    dr_buf_puts(&p->url, dr_buf_str(&p->path));
    if (rq->query && *rq->query) {
        dr_buf_puts(&p->url, "?");
        dr_buf_puts(&p->url, rq->query);
    }
    drs_sha256_hex(p->body, p->body_len, p->payload_hash);

    ct = rq->content_type && *rq->content_type ? rq->content_type : default_content_type(rq, p->method, p->body_len);
    rc = 0;
    if (ct)
        rc |= add_header(p, "Content-Type", 12, ct);
    if (rq->protocol == DR_AWS_JSON && rq->target)
        rc |= add_header(p, "X-Amz-Target", 12, rq->target);
    if (rq->protocol == DR_AWS_JSON && strcmp(p->svc->signing, "monitoring") == 0)
        rc |= add_header(p, "x-amzn-query-mode", 17, "true"); /* Query error codes, as botocore asks */
    if (rq->checksum) {
        unsigned char h[32];
        dr_buf b64 = DR_BUF_INIT;
        drs_sha256(p->body, p->body_len, h);
        rc |= drs_base64(&b64, h, 32);
        rc |= add_header(p, "x-amz-checksum-sha256", 21, dr_buf_str(&b64));
        rc |= add_header(p, "x-amz-sdk-checksum-algorithm", 28, "SHA256");
        dr_buf_free(&b64);
    }
    for (const char *const *h = rq->headers; h && *h; h++) {
        const char *colon = strchr(*h, ':');
        const char *v;
        if (!colon || colon == *h || strpbrk(*h, "\r\n"))
            return dr_error_set(err, DR_EINVAL, "bad request header '%.40s'", *h);
        v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        rc |= add_header(p, *h, (size_t)(colon - *h), v);
    }
    if (rc != 0 || p->host.failed || p->url.failed)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    return 0;
}

/* The curl header lines of one signed attempt. */
static int build_lines(const prepared *p, const drs_creds *cr, const drs_sigv4_result *sig, int attempt,
                       int max_attempts, const char *invocation, dr_buf *store, const char **lines, size_t max_lines)
{
    size_t n = 0, offs[64];
    size_t count;

    dr_buf_reset(store);
#define LINE(...)                                                                                                     \
    do {                                                                                                              \
        if (n < 64) {                                                                                                 \
            offs[n++] = store->len;                                                                                   \
            dr_buf_printf(store, __VA_ARGS__);                                                                        \
            dr_buf_append(store, "", 1);                                                                              \
        }                                                                                                             \
    } while (0)
    LINE("Host: %s", dr_buf_str(&p->host));
    for (size_t i = 0; i < p->n_sign; i++)
        LINE("%s: %s", p->sign_hdrs[i].name, p->sign_hdrs[i].value);
    if (sig) {
        LINE("X-Amz-Date: %s", sig->amz_date);
        if (cr && cr->token && *cr->token)
            LINE("X-Amz-Security-Token: %s", cr->token);
        LINE("Authorization: %s", dr_buf_str(&sig->authorization));
    }
    if (p->s3)
        LINE("x-amz-content-sha256: %s", p->payload_hash);
    LINE("amz-sdk-invocation-id: %s", invocation);
    LINE("amz-sdk-request: attempt=%d; max=%d", attempt, max_attempts);
#undef LINE
    if (store->failed || n + 1 > max_lines)
        return DR_ENOMEM;
    count = n;
    for (size_t i = 0; i < count; i++)
        lines[i] = store->data + offs[i];
    lines[count] = NULL;
    return 0;
}

/* "Wed, 25 Nov 2026 16:53:18 GMT" (RFC 7231 IMF-fixdate) without the locale strptime would use. */
static int parse_http_date(const char *s, double *epoch)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char mon[4];
    int d, y, h, mi, sec;
    const char *m;
    struct tm tm;

    if (sscanf(s, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT", &d, mon, &y, &h, &mi, &sec) != 6)
        return -1;
    m = strstr(months, mon);
    if (!m || strlen(mon) != 3 || (m - months) % 3 != 0)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = (int)(m - months) / 3;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *epoch = (double)timegm(&tm);
    return 0;
}

/* Clock skew from the Date header (smithy-rs rule): skip cached answers and slow ones. */
static void update_skew(dr_aws *c, const drs_http_resp *rs)
{
    const char *date = drs_http_header(rs, "Date");
    double server, mid;

    if (!date || drs_http_header(rs, "Age") || rs->t_recv - rs->t_sent > 900 || parse_http_date(date, &server) != 0)
        return;
    mid = rs->t_sent + (rs->t_recv - rs->t_sent) / 2;
    c->skew_ms = (long long)((server - mid) * 1000.0);
}

/* Services that do not live in the client's region (their endpoint is global). */
static int global_service(const char *name)
{
    return strcmp(name, "route53") == 0 || strcmp(name, "iam") == 0;
}

/*
 * Region-down memory (see client.h). Returns 3 when `service` gave no answer before (do not call it),
 * 1 when this call is the service's probe (report with probe_end), 2 when it answered before.
 */
static int probe_begin(dr_aws *c, const char *service)
{
    int i, st = 2;

    pthread_mutex_lock(&c->down_mu);
    for (;;) {
        for (i = 0; i < c->n_down; i++)
            if (strcmp(c->down[i], service) == 0)
                break;
        if (i == c->n_down) {
            if (i == (int)(sizeof(c->down) / sizeof(c->down[0])))
                break; /* no room: no memory for this one */
            snprintf(c->down[i], sizeof(c->down[0]), "%s", service);
            c->down_state[i] = 1;
            c->n_down++;
            st = 1;
            break;
        }
        if (c->down_state[i] != 1) {
            st = c->down_state[i];
            break;
        }
        pthread_cond_wait(&c->down_cv, &c->down_mu); /* another call is the probe: its answer decides */
    }
    pthread_mutex_unlock(&c->down_mu);
    return st;
}

static void probe_end(dr_aws *c, const char *service, int answered)
{
    pthread_mutex_lock(&c->down_mu);
    for (int i = 0; i < c->n_down; i++)
        if (strcmp(c->down[i], service) == 0 && c->down_state[i] == 1)
            c->down_state[i] = answered ? 2 : 3;
    pthread_cond_broadcast(&c->down_cv);
    pthread_mutex_unlock(&c->down_mu);
}

int drs_send(dr_aws *c, const dr_aws_request *rq_in, drs_auth auth, const drs_creds *given, dr_aws_response **out,
             dr_error *err)
{
    dr_aws_request rq;
    prepared p;
    drs_creds cr = {0};
    dr_buf store = DR_BUF_INIT;
    drs_http_resp rs = {0};
    dr_error last;
    char invocation[37], where[160];
    const char *op;
    int attempt = 0, rc = 0, last_cost = 0, status = 0, net_kind, leaving_here, no_answer = 0, probe;
    struct timespec t0;
    drs_aws_err ae;
    dr_doc *doc = NULL;

    *out = NULL;
    dr_error_clear(&last);
    if (!rq_in || rq_in->struct_size < offsetof(dr_aws_request, protocol) + sizeof(rq_in->protocol))
        return dr_error_set(err, DR_EINVAL, "dr_aws_send: no request");
    memset(&rq, 0, sizeof(rq));
    memcpy(&rq, rq_in, rq_in->struct_size < sizeof(rq) ? rq_in->struct_size : sizeof(rq));
    op = rq.operation && *rq.operation ? rq.operation : "request";
    snprintf(where, sizeof(where), "%s %s %s", rq.service ? rq.service : "?", op, c->region);
    n_calls++;
    if ((rc = prepare(c, &rq, &p, err)) != 0) {
        dr_error_prefix(err, "%s: ", where);
        prepared_free(&p);
        return rc;
    }
    /* A global service signed for this region (Route 53 and IAM in us-east-1) lives there as well. */
    leaving_here = c->network_max_attempts > 0 &&
                   (!global_service(p.svc->name) || strcmp(p.ep.signing_region, c->region) == 0);
    probe = leaving_here ? probe_begin(c, p.svc->name) : 2;
    if (probe == 3) {
        rc = dr_error_set(err, DR_ENETWORK, "%s: %s in %s gave no answer earlier in this run: not called again "
                          "(the region may be gone)", where, p.svc->name, c->region);
        prepared_free(&p);
        return rc;
    }
    dr_uuid4(invocation);
    clock_gettime(CLOCK_MONOTONIC, &t0);

    for (;;) {
        drs_sigv4_params sp;
        drs_sigv4_result sig;
        const char *lines[72];
        drs_http_req hr;
        drs_retry_kind kind = DRS_RETRY_NONE;
        const drs_creds *use;

        attempt++;
        dr_error_clear(&last);
        if ((rc = drs_limits_check(&last)) != 0)
            break;
        memset(&sig, 0, sizeof(sig));
        use = NULL;
        if (auth != DRS_AUTH_ANONYMOUS) {
            use = given;
            if (auth == DRS_AUTH_CLIENT) {
                drs_creds_clear(&cr);
                if ((rc = drs_client_creds(c, &cr, &last)) != 0)
                    break;
                use = &cr;
            }
            memset(&sp, 0, sizeof(sp));
            sp.method = p.method;
            sp.host = dr_buf_str(&p.host);
            sp.path = dr_buf_str(&p.path);
            sp.query = rq.query;
            sp.headers = p.sign_hdrs;
            sp.n_headers = p.n_sign;
            sp.payload_hash = p.payload_hash;
            sp.access_key = use->access_key;
            sp.secret_key = use->secret_key;
            sp.token = use->token;
            sp.region = p.ep.signing_region;
            sp.service = p.ep.signing_name;
            sp.when = (time_t)(dr_now() + (double)c->skew_ms / 1000.0);
            sp.s3_uri = p.s3;
            sp.normalize = !p.s3;
            sp.content_sha256_header = p.s3;
            if ((rc = drs_sigv4_sign(&sp, &sig, &last)) != 0)
                break;
        }
        rc = build_lines(&p, use, use ? &sig : NULL, attempt, c->max_attempts, invocation, &store, lines, sizeof(lines) / sizeof(lines[0]));
        drs_sigv4_result_free(&sig);
        if (rc != 0) {
            dr_error_set(&last, DR_ENOMEM, "out of memory");
            break;
        }
        memset(&hr, 0, sizeof(hr));
        hr.method = p.method;
        hr.url = dr_buf_str(&p.url);
        hr.headers = lines;
        hr.body = p.body;
        hr.body_len = p.body_len;
        hr.connect_timeout_ms = c->connect_timeout_ms;
        hr.timeout_ms = c->attempt_timeout_ms;
        hr.max_body = drs_answer_limit(p.svc->name, op, p.method);
        n_attempts++;
        drs_http_resp_free(&rs);
        rc = drs_http_perform(c->http, &hr, &rs, &net_kind, &last);
        if (store.data)
            explicit_bzero(store.data, store.len); /* the lines held the token and signature */
        no_answer = rc != 0;
        if (rc != 0) {
            status = 0;
            if (net_kind == DRS_NET_TRANSIENT)
                kind = DRS_RETRY_TRANSIENT;
            else if (net_kind == DRS_NET_TIMEOUT)
                kind = DRS_RETRY_TIMEOUT;
            last.retryable = kind != DRS_RETRY_NONE;
        } else {
            status = rs.status;
            update_skew(c, &rs);
            if (status >= 200 && status < 300) {
                const char *crc = strcmp(p.svc->signing, "dynamodb") == 0 ? drs_http_header(&rs, "x-amz-crc32") : NULL;
                if (crc && strtoul(crc, NULL, 10) != drs_crc32(rs.body.data ? rs.body.data : "", rs.body.len)) {
                    rc = dr_error_set(&last, DR_ENETWORK, "response CRC32 mismatch");
                    kind = DRS_RETRY_TRANSIENT;
                    last.retryable = 1;
                } else if ((rc = drs_answer_check(p.svc->name, rq.operation, rq.protocol, p.method, &rs, &doc,
                                                  &last)) != 0) {
                    /* not this operation's answer (a captive portal, a misrouted endpoint): never an empty result */
                    last.http_status = status;
                    kind = DRS_RETRY_TRANSIENT;
                    last.retryable = 1;
                } else {
                    break; /* success */
                }
            } else {
                drs_parse_error(rq.protocol, p.method, &rs, &ae);
                kind = drs_retry_classify(status, ae.code, (double)c->skew_ms / 1000.0);
                if (ae.body_kind != DRS_BODY_AWS) {
                    const char *what = ae.body_kind == DRS_BODY_HTML    ? "a non-AWS (HTML) body"
                                       : ae.body_kind == DRS_BODY_EMPTY ? "an empty body"
                                                                        : "a non-AWS body";
                    const char *why = (status == 500 || status == 501) && ae.body_kind == DRS_BODY_HTML
                                          ? ": the endpoint does not implement this operation"
                                      : (status == 404 || status == 405) && ae.body_kind == DRS_BODY_HTML
                                          ? ": the endpoint does not know this route"
                                          : "";
                    rc = dr_error_set(&last, drs_error_class(status, &ae), "HTTP %d with %s%s", status, what, why);
                } else {
                    rc = dr_error_set(&last, drs_error_class(status, &ae), "%s: %s (HTTP %d%s%s)",
                                      ae.code[0] ? ae.code : "error", ae.message[0] ? ae.message : "no message",
                                      status, ae.request_id[0] ? ", request id " : "", ae.request_id);
                }
                last.http_status = status;
                snprintf(last.aws_code, sizeof(last.aws_code), "%s", ae.code);
                snprintf(last.request_id, sizeof(last.request_id), "%s", ae.request_id);
                last.retryable = kind != DRS_RETRY_NONE;
            }
        }
        /* Retry? */
        if (kind == DRS_RETRY_NONE || attempt >= c->max_attempts)
            break;
        if (rc != 0 && status == 0 && leaving_here && attempt >= c->network_max_attempts) {
            dr_error_prefix(&last, "no retry (the region may be gone): ");
            break;
        }
        last_cost = drs_quota_acquire(&c->quota, kind);
        if (last_cost == 0) {
            dr_error_prefix(&last, "retry quota exhausted: ");
            break;
        }
        {
            double delay = drs_backoff_s(attempt, c->backoff_base_s, c->backoff_rnd >= 0 ? c->backoff_rnd : drs_random01());
            dr_error wait_err;
            drs_log(DR_LOG_DEBUG, "aws: %s: attempt %d failed (%s); retrying in %.0f ms", where, attempt, last.message,
                    delay * 1000.0);
            dr_error_clear(&wait_err);
            if (drs_limits_sleep_ms((int64_t)(delay * 1000.0), &wait_err) != 0) {
                last.code = wait_err.code;
                rc = wait_err.code;
                dr_error_prefix(&last, "%.200s; last attempt: ", wait_err.message);
                break;
            }
        }
    }

    {
        double ms = elapsed_ms(&t0);
        char status_text[24];
        if (status)
            snprintf(status_text, sizeof(status_text), "HTTP %d", status);
        else
            snprintf(status_text, sizeof(status_text), "no HTTP answer");
        if (rc == 0) {
            dr_aws_response *r = calloc(1, sizeof(*r));
            drs_quota_release(&c->quota, last_cost);
            if (!r) {
                rc = dr_error_set(err, DR_ENOMEM, "%s: out of memory", where);
            } else {
                r->http = rs;
                memset(&rs, 0, sizeof(rs));
                r->protocol = rq.protocol;
                r->doc = doc;
                doc = NULL;
                *out = r;
            }
            drs_log(DR_LOG_DEBUG, "aws: %s: %s, %d attempt%s, %.1f ms", where, status_text, attempt,
                    attempt == 1 ? "" : "s", ms);
        } else {
            last.attempts = attempt;
            drs_log(DR_LOG_DEBUG, "aws: %s: %s, %d attempt%s, %.1f ms: %s", where, status_text, attempt,
                    attempt == 1 ? "" : "s", ms, last.message);
            *err = last;
            dr_error_prefix(err, "%s: ", where);
        }
    }
    if (probe == 1)
        probe_end(c, p.svc->name, !(rc != 0 && no_answer && status == 0));
    drs_http_resp_free(&rs);
    dr_doc_free(doc);
    drs_creds_clear(&cr);
    if (store.data)
        explicit_bzero(store.data, store.len);
    dr_buf_free(&store);
    prepared_free(&p);
    return rc;
}

void dr_aws_request_init(dr_aws_request *req, size_t size, const char *service, dr_aws_protocol protocol,
                         const char *operation, const char *method, const char *path, const char *query)
{
    memset(req, 0, size < sizeof(*req) ? size : sizeof(*req));
    req->struct_size = (uint32_t)(size < sizeof(*req) ? size : sizeof(*req));
    req->service = service;
    req->operation = operation;
    req->protocol = protocol;
    req->method = method;
    req->path = path;
    req->query = query && *query ? query : NULL;
}

int dr_aws_send(dr_aws *c, const dr_aws_request *req, dr_aws_response **out, dr_error *err)
{
    if (!c || !out)
        return dr_error_set(err, DR_EINVAL, "dr_aws_send: no client");
    return drs_send(c, req, DRS_AUTH_CLIENT, NULL, out, err);
}

int dr_aws_send_text(dr_aws *c, const dr_aws_request *req, char **text, size_t *len, dr_error *err)
{
    dr_aws_response *r = NULL;
    const char *body;
    size_t n = 0;
    int rc;

    if (!text || !len)
        return dr_error_set(err, DR_EINVAL, "dr_aws_send_text: no place for the answer");
    *text = NULL;
    *len = 0;
    if ((rc = dr_aws_send(c, req, &r, err)) != 0)
        return rc;
    body = dr_aws_response_body(r, &n);
    if (!(*text = malloc(n + 1))) {
        rc = dr_error_set(err, DR_ENOMEM, "%s: out of memory for the answer", req && req->operation ? req->operation
                                                                                                 : "request");
        goto out;
    }
    if (n)
        memcpy(*text, body, n);
    (*text)[n] = '\0';
    *len = n;
out:
    dr_aws_response_free(r);
    return rc;
}

/* --- protocol helpers --- */

int dr_aws_json(dr_aws *c, const char *service, const char *target_prefix, const char *op, const char *json_body,
                dr_doc **out, dr_error *err)
{
    dr_aws_request rq;
    dr_aws_response *r = NULL;
    char target[160];
    int rc;

    *out = NULL;
    snprintf(target, sizeof(target), "%s.%s", target_prefix, op);
    memset(&rq, 0, sizeof(rq));
    rq.struct_size = sizeof(rq);
    rq.service = service;
    rq.operation = op;
    rq.protocol = DR_AWS_JSON;
    rq.target = target;
    rq.body = json_body ? json_body : "{}";
    rc = drs_send(c, &rq, DRS_AUTH_CLIENT, NULL, &r, err);
    if (rc == 0) {
        *out = drs_response_take_doc(r);
        dr_aws_response_free(r);
    }
    return rc;
}

int drs_query(dr_aws *c, const char *service, const char *op, const char *version, const char *form, drs_auth auth,
              const drs_creds *creds, dr_doc **out, dr_error *err)
{
    dr_aws_request rq;
    dr_aws_response *r = NULL;
    dr_buf body = DR_BUF_INIT;
    int rc;

    *out = NULL;
    dr_buf_puts(&body, "Action=");
    dr_buf_uri_encode(&body, op, 0);
    dr_buf_puts(&body, "&Version=");
    dr_buf_uri_encode(&body, version, 0);
    if (form && *form) {
        if (*form != '&')
            dr_buf_puts(&body, "&");
        dr_buf_puts(&body, form);
    }
    if (body.failed) {
        dr_buf_free(&body);
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    }
    memset(&rq, 0, sizeof(rq));
    rq.struct_size = sizeof(rq);
    rq.service = service;
    rq.operation = op;
    rq.protocol = DR_AWS_QUERY;
    rq.body = body.data;
    rq.body_len = body.len;
    rc = drs_send(c, &rq, auth, creds, &r, err);
    if (rc == 0) {
        *out = drs_response_take_doc(r);
        dr_aws_response_free(r);
    }
    if (body.data)
        explicit_bzero(body.data, body.len); /* a form may carry a web identity token */
    dr_buf_free(&body);
    return rc;
}

int dr_aws_query(dr_aws *c, const char *service, const char *op, const char *version, const char *form, dr_doc **out,
                 dr_error *err)
{
    return drs_query(c, service, op, version, form, DRS_AUTH_CLIENT, NULL, out, err);
}

int dr_aws_form_add(dr_buf *form, const char *name, const char *value)
{
    dr_buf_puts(form, "&");
    dr_buf_uri_encode(form, name, 0);
    dr_buf_puts(form, "=");
    dr_buf_uri_encode(form, value ? value : "", 0);
    return form->failed ? DR_ENOMEM : 0;
}

int dr_aws_form_addf(dr_buf *form, const char *value, const char *name_fmt, ...)
{
    char name[256];
    va_list ap;
    int n;

    va_start(ap, name_fmt);
    n = vsnprintf(name, sizeof(name), name_fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(name))
        return DR_EINVAL;
    return dr_aws_form_add(form, name, value);
}

int dr_aws_rest(dr_aws *c, const dr_aws_request *req, dr_doc **out, dr_error *err)
{
    dr_aws_response *r = NULL;
    int rc;

    *out = NULL;
    rc = dr_aws_send(c, req, &r, err);
    if (rc == 0) {
        *out = drs_response_take_doc(r);
        dr_aws_response_free(r);
    }
    return rc;
}

int dr_aws_account_id(dr_aws *c, char *out, size_t outlen, dr_error *err)
{
    dr_doc *d = NULL;
    const char *acct;
    int rc = 0;

    pthread_mutex_lock(&c->account_mu);
    if (!c->account_id[0]) {
        rc = dr_aws_query(c, "sts", "GetCallerIdentity", "2011-06-15", NULL, &d, err);
        if (rc == 0) {
            acct = dr_node_str(dr_doc_root(d), "GetCallerIdentityResult.Account");
            if (acct && strlen(acct) < sizeof(c->account_id))
                snprintf(c->account_id, sizeof(c->account_id), "%s", acct);
            else
                rc = dr_error_set(err, DR_EPARSE, "sts GetCallerIdentity %s: no Account in the answer", c->region);
        }
        dr_doc_free(d);
    }
    if (rc == 0)
        snprintf(out, outlen, "%s", c->account_id);
    pthread_mutex_unlock(&c->account_mu);
    return rc;
}
