/* http.c: libcurl transfers sharing one DNS/TLS-session cache per transport, pooled easy handles, thread deadlines and stop requests. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "dr/aws.h"
#include "http.h"

#define MAX_BODY (8u * 1024u * 1024u)     /* a response larger than this is refused, unless the request says */
#define TOTAL_BODY (32u * 1024u * 1024u)  /* answer bodies held at once by the whole process */
#define POOL_MAX 32
#define HTTP_MAX_IDLE 16 /* idle connections each pooled easy handle keeps (CURLOPT_MAXCONNECTS) */

struct drs_http {
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_mu;
    CURL *pool[POOL_MAX]; /* idle easy handles: each keeps its own connections warm */
    size_t n_pool;
    char *ca_bundle;
    int insecure;
};

/* --- the process-wide budget of answer bodies --- */

static _Atomic size_t g_held;
static _Atomic size_t g_total_limit = TOTAL_BODY;

void drs_http_set_total_limit(size_t bytes)
{
    g_total_limit = bytes ? bytes : TOTAL_BODY;
}

size_t drs_http_total_limit(void)
{
    return g_total_limit;
}

size_t drs_http_held_bytes(void)
{
    return g_held;
}

/* --- thread limits --- */

static _Thread_local int64_t tl_deadline;
static _Thread_local int (*tl_stop)(void *);
static _Thread_local void *tl_stop_arg;

void dr_aws_set_thread_limits(int64_t deadline_mono_ms, int (*stop)(void *arg), void *arg)
{
    tl_deadline = deadline_mono_ms;
    tl_stop = stop;
    tl_stop_arg = arg;
}

static int stop_requested(void)
{
    return tl_stop && tl_stop(tl_stop_arg);
}

int drs_limits_check(dr_error *err)
{
    if (stop_requested())
        return dr_error_set(err, DR_ECANCELED, "cancelled");
    if (tl_deadline > 0 && dr_mono_ms() >= tl_deadline)
        return dr_error_set(err, DR_ETIMEDOUT, "deadline passed");
    return 0;
}

int64_t drs_limits_remaining_ms(void)
{
    int64_t left;

    if (tl_deadline <= 0)
        return -1;
    left = tl_deadline - dr_mono_ms();
    return left > 0 ? left : 0;
}

int drs_limits_sleep_ms(int64_t ms, dr_error *err)
{
    int64_t end = dr_mono_ms() + ms;

    if (tl_deadline > 0 && end >= tl_deadline)
        return dr_error_set(err, DR_ETIMEDOUT, "deadline would pass during a %lld ms retry wait", (long long)ms);
    for (;;) {
        int64_t left = end - dr_mono_ms();
        struct timespec ts;
        if (stop_requested())
            return dr_error_set(err, DR_ECANCELED, "cancelled");
        if (left <= 0)
            return 0;
        if (left > 50)
            left = 50; /* check the stop request every 50 ms */
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left * 1000000L;
        nanosleep(&ts, NULL);
    }
}

void drs_limits_get(int64_t *deadline_mono_ms, int (**stop)(void *arg), void **arg)
{
    *deadline_mono_ms = tl_deadline;
    *stop = tl_stop;
    *arg = tl_stop_arg;
}

/* --- transport --- */

static void share_lock(CURL *e, curl_lock_data data, curl_lock_access access, void *ud)
{
    drs_http *h = ud;
    (void)e, (void)access;
    if (data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&h->locks[data]);
}

static void share_unlock(CURL *e, curl_lock_data data, void *ud)
{
    drs_http *h = ud;
    (void)e;
    if (data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&h->locks[data]);
}

drs_http *drs_http_new(const drs_http_opts *o, dr_error *err)
{
    drs_http *h = calloc(1, sizeof(*h));

    if (!h) {
        dr_error_set(err, DR_ENOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&h->locks[i], NULL);
    pthread_mutex_init(&h->pool_mu, NULL);
    h->share = curl_share_init();
    if (!h->share) {
        drs_http_free(h);
        dr_error_set(err, DR_ENOMEM, "curl_share_init failed");
        return NULL;
    }
    curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    /* Not CURL_LOCK_DATA_CONNECT: libcurl does not support sharing connections between concurrent threads
       (CURLSHOPT_SHARE(3)), and hooks and batch workers call at once; each pooled easy handle keeps its own. */
    if (o && o->ca_bundle && !(h->ca_bundle = strdup(o->ca_bundle))) {
        drs_http_free(h);
        dr_error_set(err, DR_ENOMEM, "out of memory");
        return NULL;
    }
    h->insecure = o ? o->insecure_tls : 0;
    return h;
}

void drs_http_free(drs_http *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_pool; i++)
        curl_easy_cleanup(h->pool[i]);
    if (h->share)
        curl_share_cleanup(h->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&h->locks[i]);
    pthread_mutex_destroy(&h->pool_mu);
    free(h->ca_bundle);
    free(h);
}

static CURL *easy_take(drs_http *h)
{
    CURL *e = NULL;

    pthread_mutex_lock(&h->pool_mu);
    if (h->n_pool > 0)
        e = h->pool[--h->n_pool];
    pthread_mutex_unlock(&h->pool_mu);
    if (e)
        curl_easy_reset(e);
    else
        e = curl_easy_init();
    return e;
}

static void easy_give(drs_http *h, CURL *e)
{
    pthread_mutex_lock(&h->pool_mu);
    if (h->n_pool < POOL_MAX) {
        h->pool[h->n_pool++] = e;
        e = NULL;
    }
    pthread_mutex_unlock(&h->pool_mu);
    if (e)
        curl_easy_cleanup(e);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    drs_http_resp *rs = ud;
    size_t len = size * n;

    if (rs->body.len + len > rs->max_body) {
        rs->over = DRS_OVER_CALL;
        return 0; /* makes curl fail the transfer */
    }
    if (atomic_fetch_add(&g_held, len) + len > g_total_limit) {
        atomic_fetch_sub(&g_held, len);
        rs->over = DRS_OVER_TOTAL;
        return 0;
    }
    rs->held += len;
    if (dr_buf_append(&rs->body, data, len) != 0)
        return 0;
    return len;
}

static void headers_clear(drs_http_resp *rs)
{
    for (size_t i = 0; i < rs->n_headers; i++) {
        free(rs->headers[i].name);
        free(rs->headers[i].value);
    }
    rs->n_headers = 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    drs_http_resp *rs = ud;
    size_t len = size * n, nl, vs, ve;
    const char *colon;

    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        headers_clear(rs); /* a new response (after 100 Continue or a proxy CONNECT) */
        return len;
    }
    colon = memchr(data, ':', len);
    if (!colon)
        return len;
    nl = (size_t)(colon - data);
    vs = nl + 1;
    ve = len;
    while (vs < ve && (data[vs] == ' ' || data[vs] == '\t'))
        vs++;
    while (ve > vs && (data[ve - 1] == '\r' || data[ve - 1] == '\n' || data[ve - 1] == ' '))
        ve--;
    if (rs->n_headers == rs->cap_headers) {
        size_t cap = rs->cap_headers ? rs->cap_headers * 2 : 16;
        drs_hdr *nh = realloc(rs->headers, cap * sizeof(*nh));
        if (!nh)
            return 0;
        rs->headers = nh;
        rs->cap_headers = cap;
    }
    drs_hdr *hd = &rs->headers[rs->n_headers];
    hd->name = strndup(data, nl);
    hd->value = strndup(data + vs, ve - vs);
    if (!hd->name || !hd->value) {
        free(hd->name);
        free(hd->value);
        return 0;
    }
    rs->n_headers++;
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)ud, (void)dt, (void)dn, (void)ut, (void)un;
    return stop_requested();
}

const char *drs_http_header(const drs_http_resp *rs, const char *name)
{
    for (size_t i = 0; rs && i < rs->n_headers; i++)
        if (strcasecmp(rs->headers[i].name, name) == 0)
            return rs->headers[i].value;
    return NULL;
}

void drs_http_resp_free(drs_http_resp *rs)
{
    if (!rs)
        return;
    headers_clear(rs);
    free(rs->headers);
    dr_buf_free(&rs->body);
    if (rs->held)
        atomic_fetch_sub(&g_held, rs->held);
    memset(rs, 0, sizeof(*rs));
}

/* The AWS SDKs read HTTP(S)_PROXY and NO_PROXY in either case; curl alone ignores upper-case HTTP_PROXY. */
static const char *env2(const char *upper, const char *lower)
{
    const char *v = getenv(lower);

    if (!v || !*v)
        v = getenv(upper);
    return v && *v ? v : NULL;
}

static int classify(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return DRS_NET_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return DRS_NET_TRANSIENT;
    default:
        return DRS_NET_FATAL;
    }
}

#if LIBCURL_VERSION_NUM >= 0x075000
/*
 * libcurl silently sends a request again when a reused connection closes
 * without an answer (it assumes an idle keep-alive connection went stale).
 * When the server did receive the request, that is a retry the SDK neither
 * counts nor paces: refuse it, so one attempt is one request on the wire and
 * the retry loop decides, within max_attempts and the retry quota.
 */
static int on_prereq(void *arg, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port)
{
    int *sends = arg;
    (void)conn_primary_ip;
    (void)conn_local_ip;
    (void)conn_primary_port;
    (void)conn_local_port;
    return ++*sends > 1 ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}
#endif

int drs_http_perform(drs_http *h, const drs_http_req *rq, drs_http_resp *rs, int *net_kind, dr_error *err)
{
    int sends = 0;
    struct curl_slist *hl = NULL;
    char errbuf[CURL_ERROR_SIZE];
    int64_t timeout = rq->timeout_ms > 0 ? rq->timeout_ms : 20000, left;
    CURL *e;
    CURLcode cc;
    int rc = 0;
    const char *method = rq->method ? rq->method : "GET";
    int https = strncasecmp(rq->url, "https:", 6) == 0;

    memset(rs, 0, sizeof(*rs));
    rs->max_body = rq->max_body ? rq->max_body : MAX_BODY;
    *net_kind = DRS_NET_NONE;
    if ((rc = drs_limits_check(err)) != 0) {
        *net_kind = DRS_NET_FATAL;
        return rc;
    }
    left = drs_limits_remaining_ms();
    if (left >= 0 && left < timeout)
        timeout = left > 0 ? left : 1;
    e = easy_take(h);
    if (!e) {
        *net_kind = DRS_NET_FATAL;
        return dr_error_set(err, DR_ENOMEM, "curl_easy_init failed");
    }
    errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_SHARE, h->share);
    /* the handle's own connection cache keeps this many idle connections (libcurl's default keeps a handful):
       one per endpoint it talks to (a service in a region), which the next call that takes the handle reuses */
    curl_easy_setopt(e, CURLOPT_MAXCONNECTS, (long)HTTP_MAX_IDLE);
    curl_easy_setopt(e, CURLOPT_URL, rq->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(rq->connect_timeout_ms > 0 ? rq->connect_timeout_ms : 3000));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, h->insecure ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, h->insecure ? 0L : 2L);
    if (h->ca_bundle)
        curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_bundle);
    {
        const char *proxy = https ? env2("HTTPS_PROXY", "https_proxy") : env2("HTTP_PROXY", "http_proxy");
        const char *noproxy = env2("NO_PROXY", "no_proxy");
        if (proxy)
            curl_easy_setopt(e, CURLOPT_PROXY, proxy);
        if (noproxy)
            curl_easy_setopt(e, CURLOPT_NOPROXY, noproxy);
    }
    curl_easy_setopt(e, CURLOPT_USERAGENT, "dr-agent/" "0.1.0" " dr-sdk");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, rs);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, rs);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
#if LIBCURL_VERSION_NUM >= 0x075000
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, &sends);
#endif

    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        /* POST/PUT/PATCH/DELETE: the body goes out with a Content-Length, never chunked. */
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rq->body ? rq->body_len : 0));
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    /* No Expect: 100-continue, and no Content-Type curl would invent for a POST. */
    hl = curl_slist_append(hl, "Expect:");
    hl = curl_slist_append(hl, "Content-Type:");
    for (const char *const *p = rq->headers; p && *p; p++)
        hl = curl_slist_append(hl, *p);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);

    rs->t_sent = dr_now();
    cc = curl_easy_perform(e);
    rs->t_recv = dr_now();
    if (cc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        rs->status = (int)status;
    } else if (cc == CURLE_ABORTED_BY_CALLBACK && sends > 1) {
        *net_kind = DRS_NET_TRANSIENT;
        rc = dr_error_set(err, DR_ENETWORK, "the connection closed without an answer");
    } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
        *net_kind = DRS_NET_FATAL;
        rc = dr_error_set(err, DR_ECANCELED, "cancelled during the transfer");
    } else if (cc == CURLE_WRITE_ERROR && rs->over == DRS_OVER_CALL) {
        *net_kind = DRS_NET_FATAL;
        rc = dr_error_set(err, DR_EPARSE, "the answer is larger than the %zu kB this operation can return: refused",
                          rs->max_body / 1024);
    } else if (cc == CURLE_WRITE_ERROR && rs->over == DRS_OVER_TOTAL) {
        *net_kind = DRS_NET_FATAL;
        rc = dr_error_set(err, DR_ENOMEM, "answers held at once would pass the process's limit of %zu kB: refused",
                          (size_t)g_total_limit / 1024);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        int deadline = left >= 0 && left <= (rq->timeout_ms > 0 ? rq->timeout_ms : 20000);
        *net_kind = deadline ? DRS_NET_FATAL : DRS_NET_TIMEOUT;
        rc = dr_error_set(err, DR_ETIMEDOUT, "no answer within %lld ms (%s)", (long long)timeout,
                          deadline ? "the call's deadline" : "attempt timeout");
    } else {
        *net_kind = classify(cc);
        rc = dr_error_set(err, DR_ENETWORK, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    }
    if (rc != 0) {
        int over = rs->over;
        drs_http_resp_free(rs); /* the body's bytes leave the process-wide total too */
        rs->over = over;
    }
    curl_slist_free_all(hl);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    easy_give(h, e);
    return rc;
}
