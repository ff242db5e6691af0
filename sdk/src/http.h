/* http.h: SDK-internal HTTP over libcurl: shared connections, TLS settings, timeouts, thread limits. */
#ifndef DRS_HTTP_H
#define DRS_HTTP_H

/*
 * Ownership: drs_http_new() returns a transport the caller frees with
 * drs_http_free() after every request on it has returned. A drs_http_resp
 * is caller-owned; drs_http_resp_free() releases its body and headers.
 * Request strings are borrowed for the call.
 */

#include <stddef.h>
#include <stdint.h>

#include "dr/error.h"
#include "dr/util.h"
#include "dr_sdk_host.h"

typedef struct drs_http drs_http;

typedef struct drs_http_opts {
    const char *ca_bundle; /* NULL: system default */
    int insecure_tls;      /* non-zero: no TLS verification */
} drs_http_opts;

typedef struct drs_http_req {
    const char *method;            /* GET POST PUT DELETE HEAD PATCH */
    const char *url;
    const char *const *headers;    /* "Name: value" lines, NULL-terminated; may be NULL */
    const char *body;
    size_t body_len;
    int64_t connect_timeout_ms;
    int64_t timeout_ms;            /* whole transfer; the thread deadline may shorten it */
    size_t max_body;               /* largest answer body accepted; 0: the transport's default */
} drs_http_req;

typedef struct drs_hdr {
    char *name;
    char *value;
} drs_hdr;

typedef struct drs_http_resp {
    int status;
    dr_buf body;
    drs_hdr *headers;
    size_t n_headers, cap_headers;
    double t_sent, t_recv; /* wall clock around the transfer, for clock-skew estimates */
    size_t max_body;       /* the request's limit */
    size_t held;           /* body bytes counted in the process-wide total until the response is freed */
    int over;              /* DRS_OVER_*: why the body was refused */
} drs_http_resp;

/* Why an answer body was refused. */
enum { DRS_OVER_NONE = 0, DRS_OVER_CALL = 1, DRS_OVER_TOTAL = 2 };

/* Kinds of transport failure, for the retry rules. */
enum { DRS_NET_NONE = 0, DRS_NET_TRANSIENT = 1, DRS_NET_TIMEOUT = 2, DRS_NET_FATAL = 3 };

drs_http *drs_http_new(const drs_http_opts *o, dr_error *err);
void drs_http_free(drs_http *h);

/*
 * One transfer. 0 when an HTTP response arrived (any status); otherwise
 * DR_ENETWORK / DR_ETIMEDOUT / DR_ECANCELED with err filled and *net_kind
 * set to a DRS_NET_* value.
 */
int drs_http_perform(drs_http *h, const drs_http_req *rq, drs_http_resp *rs, int *net_kind, dr_error *err);
void drs_http_resp_free(drs_http_resp *rs);
const char *drs_http_header(const drs_http_resp *rs, const char *name);

/*
 * Answer bodies held at once by every call of the process (bytes received and
 * not yet freed with their response) are capped: a body that would pass the
 * cap fails its call with DR_ENOMEM. Tests lower the cap; 0 restores the default.
 */
void drs_http_set_total_limit(size_t bytes);
size_t drs_http_total_limit(void);
size_t drs_http_held_bytes(void);

/* The calling thread's limits (see dr_aws_set_thread_limits). */
int drs_limits_check(dr_error *err);          /* 0, DR_ETIMEDOUT or DR_ECANCELED */
int64_t drs_limits_remaining_ms(void);        /* -1: no deadline */
int drs_limits_sleep_ms(int64_t ms, dr_error *err); /* interruptible; DR_ETIMEDOUT when it would pass the deadline */

#endif /* DRS_HTTP_H */
