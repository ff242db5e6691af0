/* dr/aws.h: the SDK's AWS client: SigV4, credentials chain, endpoints, standard retries, protocols. */
#ifndef DR_AWS_H
#define DR_AWS_H

/*
 * Ownership: whoever creates a dr_aws frees it with dr_aws_free() (for
 * plugins that is the host: a client from host->aws() is borrowed). A
 * dr_aws is thread-safe; calls from many threads share its connections,
 * credentials and retry quota. A dr_doc or dr_aws_response returned through
 * an out-parameter belongs to the caller (dr_doc_free /
 * dr_aws_response_free). Request structs and strings passed in are borrowed
 * for the duration of the call.
 *
 * Errors: a call returns 0, or a negative code with err filled:
 *   DR_ENOTFOUND  AWS said the thing does not exist (ResourceNotFoundException,
 *                 TableNotFoundException, DBClusterNotFoundFault, NoSuchBucket,
 *                 NoSuchHealthCheck, NoSuchEntity, ..., or a 404)
 *   DR_EDENIED    AccessDenied / AccessDeniedException / 403 without code
 *   DR_EAWS       any other AWS error (err->aws_code, http_status, request_id)
 *   DR_ENETWORK, DR_ETIMEDOUT, DR_ECANCELED, DR_ECREDENTIALS, DR_EPARSE
 * err->message is one line naming service, operation, region and the cause;
 * it never holds a secret.
 */

#include <stddef.h>
#include <stdint.h>

#include "dr/doc.h"
#include "dr/error.h"
#include "dr/util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dr_aws dr_aws;
typedef struct dr_aws_response dr_aws_response;

/*
 * Process set-up (curl and OpenSSL initialisation, where SDK log lines go,
 * per-thread deadlines) belongs to the host and is not part of this API:
 * a plugin's calls get the deadline and cancel of the hook they run in.
 */

/* --- clients --- */

typedef struct dr_aws_config {
    uint32_t struct_size;        /* sizeof(dr_aws_config) */
    const char *region;          /* required */
    const char *profile;         /* NULL: AWS_PROFILE, then "default" */
    const char *role_arn;        /* role assumed on top of the base credentials; NULL: none */
    const char *external_id;     /* for role_arn; may be NULL */
    const char *role_session_name; /* for role_arn; NULL: "dr-agent-<pid>" */
    const char *endpoint_url;    /* overrides every service's endpoint (wins over the environment); NULL: none */
    const char *ca_bundle;       /* PEM bundle; NULL: system default */
    int insecure_tls;            /* non-zero disables TLS verification; logged as an error at creation */
    int max_attempts;            /* 0: AWS_MAX_ATTEMPTS, then profile max_attempts, then 3 */
    int64_t connect_timeout_ms;  /* 0: 3000 */
    int64_t attempt_timeout_ms;  /* one attempt, 0: 20000 */
    int s3_path_style;           /* non-zero: path-style S3 addressing always */
    /*
     * Attempts of a call that gets no answer at all (connection refused or
     * reset, DNS failure, timeout) from a regional service; 0: max_attempts.
     * For a region that may be gone (a forced failover leaving it): 1 makes
     * each call there one bounded attempt. Answers (throttling, 5xx) keep
     * max_attempts: the region is up. Global services (Route 53, IAM) are not
     * in the region and keep max_attempts too.
     */
    int network_max_attempts;
} dr_aws_config;

int dr_aws_new(const dr_aws_config *cfg, dr_aws **out, dr_error *err);
void dr_aws_free(dr_aws *c);
const char *dr_aws_region(const dr_aws *c);
/* The resolved endpoint base URL for a service in this client's region, e.g. "https://dynamodb.us-west-2.amazonaws.com". */
int dr_aws_endpoint(dr_aws *c, const char *service, dr_buf *out, dr_error *err);
/* Account id of the credentials (STS GetCallerIdentity, cached). */
int dr_aws_account_id(dr_aws *c, char *out, size_t outlen, dr_error *err);

/* Process-wide counters since start: logical calls and HTTP attempts (for reports and benchmarks). */
void dr_aws_counters(uint64_t *calls, uint64_t *attempts);

/* --- generic request --- */

/*
 * Services: `service` is the SigV4 signing name of any AWS service ("sqs",
 * "elasticfilesystem", "elasticache", ...), optionally followed by
 * ":<endpoint prefix>" when the host name differs ("ses:email"). The
 * endpoint follows the standard rules: https://<prefix>.<region>.<DNS suffix
 * of the region's partition>, unless an endpoint is configured: the
 * client's endpoint_url, then AWS_ENDPOINT_URL_<SIGNING NAME> (upper case,
 * '-' as '_'), then AWS_ENDPOINT_URL, then the profile's services section
 * (key: the signing name in lower case, '-' as '_') and endpoint_url
 * (AWS_IGNORE_CONFIGURED_ENDPOINT_URLS turns the last four off). These have
 * their own rules built in: dynamodb, rds, s3 (virtual-hosted buckets),
 * route53 and iam (global endpoints), backup, monitoring (also
 * "cloudwatch"), sts (regional, or the legacy global endpoint).
 */

typedef enum dr_aws_protocol {
    DR_AWS_JSON = 0,     /* awsJson 1.0: DynamoDB, CloudWatch */
    DR_AWS_QUERY = 1,    /* form POST, XML response: RDS, STS, IAM */
    DR_AWS_REST_XML = 2, /* S3, Route 53 */
    DR_AWS_REST_JSON = 3 /* Backup */
} dr_aws_protocol;

typedef struct dr_aws_request {
    uint32_t struct_size;     /* sizeof(dr_aws_request) */
    const char *service;      /* any AWS service by its SigV4 signing name, see "Services" below */
    const char *operation;    /* "DescribeTable": for logs, errors and test fixtures */
    dr_aws_protocol protocol;
    const char *method;       /* NULL: "POST" */
    const char *path;         /* URI-encoded path (after the bucket for S3); NULL: "/" */
    const char *query;        /* URI-encoded query without '?': "versioning", "a=1&b=x%20y"; NULL: none */
    const char *bucket;       /* S3 only: the bucket; the client picks virtual-hosted or path style */
    const char *target;       /* awsJson: X-Amz-Target */
    const char *body;         /* NULL: empty */
    size_t body_len;          /* 0 with a body: strlen(body) */
    const char *content_type; /* NULL: the protocol's default (none for GET and for Route 53) */
    const char *const *headers; /* extra "Name: value" strings, NULL-terminated; may be NULL */
    int checksum;             /* send x-amz-checksum-sha256 (S3 operations that require a checksum) */
} dr_aws_request;

/*
 * Since SDK 1.2: set up a REST request. Zeroes the first `size` bytes of *req (pass sizeof(*req): the layout
 * the caller was built with), sets struct_size to that, and the service, protocol, operation, method, path and
 * query (NULL or "": none); the caller sets the rest (bucket, body, headers...). The strings are borrowed.
 */
void dr_aws_request_init(dr_aws_request *req, size_t size, const char *service, dr_aws_protocol protocol,
                         const char *operation, const char *method, const char *path, const char *query);

/*
 * Since SDK 1.2: the partition of a region, for ARNs: "aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b",
 * "aws-iso-f", "aws-iso-e", "aws-eusc" (static; "aws" for NULL or an unknown prefix).
 */
const char *dr_aws_partition(const char *region);

/*
 * Sign and send with retries. On 2xx: 0 and *out (caller frees). On an AWS
 * error or after the last failed attempt: negative, *out NULL, err filled.
 */
int dr_aws_send(dr_aws *c, const dr_aws_request *req, dr_aws_response **out, dr_error *err);

/*
 * Since SDK 1.2: dr_aws_send keeping only the answer's body, as text to cache or hand on (a memo's fill): on 2xx,
 * 0, *text a NUL-terminated copy of the body (caller frees; "" for an empty body) and *len its length. On an error,
 * negative, *text NULL, err filled.
 */
int dr_aws_send_text(dr_aws *c, const dr_aws_request *req, char **text, size_t *len, dr_error *err);

int dr_aws_response_status(const dr_aws_response *r);
/* Case-insensitive header lookup; NULL when absent. */
const char *dr_aws_response_header(const dr_aws_response *r, const char *name);
const char *dr_aws_response_body(const dr_aws_response *r, size_t *len);
/* The body parsed per protocol (JSON or XML); NULL for an empty body. Owned by the response. */
const dr_node *dr_aws_response_doc(const dr_aws_response *r);
void dr_aws_response_free(dr_aws_response *r);

/* --- protocol helpers: each returns the parsed response body in *out (caller frees; may be NULL when empty) --- */

/* awsJson 1.0: POST / with X-Amz-Target "<target_prefix>.<op>" and the JSON body ("{}" when NULL). */
int dr_aws_json(dr_aws *c, const char *service, const char *target_prefix, const char *op,
                const char *json_body, dr_doc **out, dr_error *err);

/* Query: builds "Action=<op>&Version=<version>" + form (from dr_aws_form_add; may be NULL). */
int dr_aws_query(dr_aws *c, const char *service, const char *op, const char *version,
                 const char *form, dr_doc **out, dr_error *err);
/* Append "&name=value" percent-encoded to a form. */
int dr_aws_form_add(dr_buf *form, const char *name, const char *value);
int dr_aws_form_addf(dr_buf *form, const char *value, const char *name_fmt, ...) DR_PRINTF(3, 4);

/* REST (XML or JSON per req->protocol). */
int dr_aws_rest(dr_aws *c, const dr_aws_request *req, dr_doc **out, dr_error *err);

/* --- several independent calls at once ---
 *
 * A hook whose reads do not depend on each other issues them together and
 * waits for all: the round trips overlap, so the batch costs about one round
 * trip instead of one per call. Each call runs the same sign-send-retry loop
 * as dr_aws_send (standard retries, the client's shared retry quota, its
 * pooled connections), on worker threads that take the calling thread's limits
 * (the hook's deadline and cancel, which the host sets for the hook's
 * thread): a passed deadline fails the calls still running or waiting with
 * DR_ETIMEDOUT, a cancel with DR_ECANCELED. Only the calls' own clients are
 * used, so a batch works in any thread or process.
 *
 * Ownership: the caller owns the dr_aws_call array. A request's strings are
 * borrowed until dr_aws_send_all returns (dr_aws_call_query copies its form).
 * dr_aws_calls_free() frees each call's doc, response and private storage;
 * a doc taken out of a call (set call->doc = NULL) is the taker's.
 */
typedef struct dr_aws_call {
    dr_aws *client;             /* in: the client of this call (a batch may mix regions) */
    dr_aws_request req;         /* in: as for dr_aws_send (or filled by the helpers below) */
    int keep_response;          /* in: non-zero keeps *response (status, headers) besides doc */
    int rc;                     /* out: 0 or a negative DR_E* code */
    dr_doc *doc;                /* out: the parsed body on success (NULL when empty) */
    dr_aws_response *response;  /* out with keep_response, on success */
    dr_error err;               /* out: the call's error when rc != 0 */
    dr_buf own_body;            /* private: the body dr_aws_call_query built */
    char own_target[160];       /* private: the X-Amz-Target dr_aws_call_json built */
} dr_aws_call;

/* Default and largest number of calls of one batch in flight at once. */
#define DR_AWS_PARALLEL_DEFAULT 16
#define DR_AWS_PARALLEL_MAX 64

/* Fill *call (zeroed first) with an awsJson 1.0 call, as dr_aws_json would send it; json_body NULL: "{}". */
int dr_aws_call_json(dr_aws_call *call, dr_aws *c, const char *service, const char *target_prefix, const char *op,
                     const char *json_body);
/* Fill *call with a Query call, as dr_aws_query would send it (the form is copied). */
int dr_aws_call_query(dr_aws_call *call, dr_aws *c, const char *service, const char *op, const char *version,
                      const char *form);
/* Fill *call with a REST call (the request struct is copied, its strings borrowed). */
int dr_aws_call_rest(dr_aws_call *call, dr_aws *c, const dr_aws_request *req);

/*
 * Send calls[0..n) with at most max_parallel in flight (0: the default,
 * capped at DR_AWS_PARALLEL_MAX) and wait for all; each call's outcome is
 * in its rc/doc/err, in the array's order whatever order the answers came
 * in. Returns 0 when every call succeeded, else the rc of the first failed
 * call in array order with err naming how many failed and that call's
 * error. An invalid call (no client or request) fails alone with DR_EINVAL.
 */
int dr_aws_send_all(dr_aws_call *calls, size_t n, int max_parallel, dr_error *err);
/* Free each call's doc, response and private storage (the array itself is the caller's). */
void dr_aws_calls_free(dr_aws_call *calls, size_t n);

/*
 * The same for reads that are more than one request each (a helper such as
 * dr_aws_metric_get, a describe and its parse): fn(arg) of each task runs on
 * the batch's workers, at most max_parallel at once, and dr_aws_run_all
 * returns when all have returned. A task keeps its result in its own arg
 * (nothing is shared between tasks) and makes AWS calls only: it does not
 * call the plugin host's API (reports, logs, host->aws), which belongs to the
 * hook's thread; take the clients before the batch.
 */
typedef struct dr_aws_task {
    void (*fn)(void *arg);
    void *arg;
} dr_aws_task;
void dr_aws_run_all(dr_aws_task *tasks, size_t n, int max_parallel);

/* --- CloudWatch --- */

typedef struct dr_aws_dim {
    const char *name;
    const char *value;
} dr_aws_dim;

typedef struct dr_aws_metric {
    size_t datapoints;  /* 0: no data in the window */
    double max;         /* largest value of the statistic over the window */
    double latest;      /* value of the newest datapoint */
    double latest_time; /* its timestamp, epoch seconds */
} dr_aws_metric;

/*
 * GetMetricStatistics over [now - window_s, now] with `period_s` and one
 * statistic ("Average", "Maximum", "Sum", ...), summarised in *out.
 */
int dr_aws_metric_get(dr_aws *c, const char *ns, const char *metric, const dr_aws_dim *dims,
                      size_t n_dims, const char *stat, double window_s, int period_s,
                      dr_aws_metric *out, dr_error *err);

#ifdef __cplusplus
}
#endif

#endif /* DR_AWS_H */
