/* test_client.c: the AWS client against scripted loopback servers: retries, quota, timeouts, errors, clock skew, limits, credentials providers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "answer.h"
#include "client.h"
#include "fixture.h"
#include "retry.h"
#include "testutil.h"

static char tmpdir[256];

static void base_env(void)
{
    char path[512];

    tu_clear_aws_env();
    snprintf(path, sizeof(path), "%s/no-config", tmpdir);
    setenv("AWS_CONFIG_FILE", path, 1);
    snprintf(path, sizeof(path), "%s/no-credentials", tmpdir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTESTCLIENT", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key", 1);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
}

static dr_aws *client_at(const char *url, int max_attempts, int64_t timeout_ms)
{
    dr_aws_config cfg;
    dr_aws *c = NULL;
    dr_error err;

    memset(&cfg, 0, sizeof(cfg));
    cfg.struct_size = sizeof(cfg);
    cfg.region = "us-east-1";
    cfg.endpoint_url = url;
    cfg.max_attempts = max_attempts;
    cfg.attempt_timeout_ms = timeout_ms;
    cfg.connect_timeout_ms = 1000;
    dr_error_clear(&err);
    if (dr_aws_new(&cfg, &c, &err) != 0)
        fail_msg("dr_aws_new: %s", err.message);
    drs_aws_set_backoff_base(c, 0.005);
    return c;
}

static int describe_table(dr_aws *c, dr_doc **out, dr_error *err)
{
    dr_error_clear(err);
    return dr_aws_json(c, "dynamodb", "DynamoDB_20120810", "DescribeTable", "{\"TableName\":\"orders\"}", out, err);
}

#define THROTTLE                                                                                                      \
    {400, "Content-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: RQ1\r\n",                                     \
     "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ThrottlingException\",\"message\":\"Rate exceeded\"}", 0, 0}
#define OK_TABLE                                                                                                      \
    {200, "Content-Type: application/x-amz-json-1.0\r\n", "{\"Table\":{\"TableName\":\"orders\",\"TableStatus\":\"ACTIVE\"}}", 0, 0}

static void test_throttle_then_success(void **state)
{
    fx_response script[] = {THROTTLE, THROTTLE, OK_TABLE};
    fx_server *s = fx_start(script, 3, 0);
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;
    uint64_t calls0, att0, calls1, att1;
    (void)state;

    base_env();
    c = client_at(fx_url(s), 0, 5000);
    dr_aws_counters(&calls0, &att0);
    assert_int_equal(describe_table(c, &d, &err), 0);
    dr_aws_counters(&calls1, &att1);
    assert_string_equal(dr_node_str(dr_doc_root(d), "Table.TableStatus"), "ACTIVE");
    assert_int_equal(fx_count(s), 3);
    assert_int_equal(calls1 - calls0, 1);
    assert_int_equal(att1 - att0, 3);
    /* two retries cost 5 each; success refunds the last retry's 5 */
    assert_int_equal(drs_aws_quota_tokens(c), 495);
    fx_request *r = fx_get(s, 2);
    char *h = fx_header(r, "amz-sdk-request");
    assert_string_equal(h, "attempt=3; max=3");
    free(h);
    fx_request_free(r);
    dr_doc_free(d);
    dr_aws_free(c);
    fx_stop(s);
}

static void test_persistent_503_stops(void **state)
{
    fx_response script[] = {{503, "x-amz-request-id: R503\r\n", "<Error><Code>SlowDown</Code><Message>Please reduce"
                                                              "</Message><RequestId>R503</RequestId></Error>",
                             0, 0}};
    fx_server *s = fx_start(script, 1, 1);
    dr_aws *c;
    dr_aws_request rq;
    dr_doc *d = NULL;
    dr_error err;
    (void)state;

    base_env();
    c = client_at(fx_url(s), 4, 5000);
    memset(&rq, 0, sizeof(rq));
    rq.struct_size = sizeof(rq);
    rq.service = "s3";
    rq.operation = "GetBucketVersioning";
    rq.protocol = DR_AWS_REST_XML;
    rq.method = "GET";
    rq.bucket = "my-bucket";
    rq.query = "versioning";
    dr_error_clear(&err);
    assert_int_equal(dr_aws_rest(c, &rq, &d, &err), DR_EAWS);
    assert_null(d);
    assert_int_equal(fx_count(s), 4);
    assert_int_equal(err.attempts, 4);
    assert_int_equal(err.http_status, 503);
    assert_int_equal(err.retryable, 1);
    assert_string_equal(err.aws_code, "SlowDown");
    assert_string_equal(err.request_id, "R503");
    assert_non_null(strstr(err.message, "s3 GetBucketVersioning us-east-1: SlowDown: Please reduce (HTTP 503"));
    /* a custom endpoint means path style, with the canonical "versioning=" query */
    fx_request *r = fx_get(s, 0);
    assert_string_equal(r->target, "/my-bucket?versioning");
    char *sha = fx_header(r, "x-amz-content-sha256");
    assert_string_equal(sha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    free(sha);
    char *auth = fx_header(r, "Authorization");
    assert_non_null(strstr(auth, "Credential=AKIDTESTCLIENT/"));
    assert_non_null(strstr(auth, "/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
    free(auth);
    fx_request_free(r);
    dr_aws_free(c);
    fx_stop(s);
}

static void test_hang_hits_timeout(void **state)
{
    fx_response script[] = {{200, NULL, "{}", 10000, 0}};
    fx_server *s = fx_start(script, 1, 1);
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;
    int64_t t0;
    (void)state;

    base_env();
    c = client_at(fx_url(s), 2, 300);
    t0 = dr_mono_ms();
    assert_int_equal(describe_table(c, &d, &err), DR_ETIMEDOUT);
    assert_true(dr_mono_ms() - t0 < 3000);
    assert_int_equal(err.attempts, 2); /* a timed-out attempt is retried once, at the timeout cost */
    assert_int_equal(drs_aws_quota_tokens(c), DRS_RETRY_QUOTA - DRS_RETRY_TIMEOUT_COST);
    assert_non_null(strstr(err.message, "dynamodb DescribeTable us-east-1: "));
    dr_aws_free(c);
    fx_stop(s);
}

/* A region that may be gone: a call without an answer gets one attempt; throttling still gets the full budget. */
static void test_network_max_attempts(void **state)
{
    fx_response hang[] = {{200, NULL, "{}", 10000, 0}};
    fx_response throttled[] = {THROTTLE, THROTTLE, OK_TABLE};
    fx_server *s = fx_start(hang, 1, 1);
    dr_aws_config cfg;
    dr_aws *c = NULL;
    dr_doc *d = NULL;
    dr_error err;
    (void)state;

    base_env();
    memset(&cfg, 0, sizeof(cfg));
    cfg.struct_size = sizeof(cfg);
    cfg.region = "us-east-1";
    cfg.endpoint_url = fx_url(s);
    cfg.max_attempts = 3;
    cfg.attempt_timeout_ms = 300;
    cfg.connect_timeout_ms = 1000;
    cfg.network_max_attempts = 1;
    dr_error_clear(&err);
    assert_int_equal(dr_aws_new(&cfg, &c, &err), 0);
    drs_aws_set_backoff_base(c, 0.005);
    assert_int_equal(describe_table(c, &d, &err), DR_ETIMEDOUT);
    assert_int_equal(err.attempts, 1);
    assert_int_equal(fx_count(s), 1);
    assert_non_null(strstr(err.message, "no retry (the region may be gone)"));
    dr_aws_free(c);
    fx_stop(s);

    s = fx_start(throttled, 3, 0);
    cfg.endpoint_url = fx_url(s);
    assert_int_equal(dr_aws_new(&cfg, &c, &err), 0);
    drs_aws_set_backoff_base(c, 0.005);
    assert_int_equal(describe_table(c, &d, &err), 0);
    assert_int_equal(fx_count(s), 3);
    dr_doc_free(d);
    dr_aws_free(c);
    fx_stop(s);
}

/* A region being left: a service that gave no answer is not called again by that client (one failed attempt per run). */
static void test_region_down_memory(void **state)
{
    fx_response script[] = {{200, NULL, "{}", 10000, 0}, OK_TABLE};
    fx_server *s = fx_start(script, 2, 1);
    dr_aws_config cfg;
    dr_aws *c = NULL;
    dr_doc *d = NULL;
    dr_error err;
    (void)state;

    base_env();
    memset(&cfg, 0, sizeof(cfg));
    cfg.struct_size = sizeof(cfg);
    cfg.region = "us-east-1";
    cfg.endpoint_url = fx_url(s);
    cfg.max_attempts = 3;
    cfg.attempt_timeout_ms = 300;
    cfg.connect_timeout_ms = 1000;
    cfg.network_max_attempts = 1;
    dr_error_clear(&err);
    assert_int_equal(dr_aws_new(&cfg, &c, &err), 0);
    assert_int_equal(describe_table(c, &d, &err), DR_ETIMEDOUT);
    assert_int_equal(fx_count(s), 1);
    assert_int_equal(describe_table(c, &d, &err), DR_ENETWORK);
    assert_int_equal(fx_count(s), 1); /* nothing sent */
    assert_non_null(strstr(err.message, "gave no answer earlier in this run"));
    dr_aws_free(c);

    /* a client that is not leaving the region keeps calling */
    cfg.network_max_attempts = 0;
    cfg.max_attempts = 1;
    assert_int_equal(dr_aws_new(&cfg, &c, &err), 0);
    assert_int_equal(describe_table(c, &d, &err), 0);
    assert_int_equal(fx_count(s), 2);
    dr_doc_free(d);
    dr_aws_free(c);
    fx_stop(s);
}

/* A kept-alive connection closed without an answer: one request on the wire per attempt, never a hidden re-send. */
static void test_no_hidden_resend(void **state)
{
    fx_response script[] = {OK_TABLE, {0, NULL, NULL, 0, 1}, {0, NULL, NULL, 0, 1}, {0, NULL, NULL, 0, 1}, OK_TABLE};
    fx_server *s = fx_start(script, 5, 0);
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;
    (void)state;

    base_env();
    c = client_at(fx_url(s), 2, 2000);
    assert_int_equal(describe_table(c, &d, &err), 0); /* opens the connection that is then reused */
    dr_doc_free(d);
    d = NULL;
    assert_int_equal(describe_table(c, &d, &err), DR_ENETWORK);
    assert_int_equal(err.attempts, 2);
    assert_int_equal(fx_count(s), 3); /* 1 + exactly max_attempts */
    dr_aws_free(c);
    fx_stop(s);
}

static void test_quota_stops_storm(void **state)
{
    fx_response script[] = {{500, "Content-Type: application/x-amz-json-1.0\r\n",
                             "{\"__type\":\"InternalServerError\",\"message\":\"boom\"}", 0, 0}};
    fx_server *s = fx_start(script, 1, 1);
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;
    int exhausted = 0;
    (void)state;

    base_env();
    c = client_at(fx_url(s), 3, 5000);
    drs_aws_set_backoff_base(c, 0.0005);
    for (int i = 0; i < 60; i++) {
        assert_int_equal(describe_table(c, &d, &err), DR_EAWS);
        if (strstr(err.message, "retry quota exhausted"))
            exhausted++;
    }
    /* 500 tokens pay for 100 retries: 50 calls of 3 attempts, then single attempts */
    assert_int_equal(fx_count(s), 50 * 3 + 10);
    assert_int_equal(exhausted, 10);
    assert_int_equal(drs_aws_quota_tokens(c), 0);
    dr_aws_free(c);
    fx_stop(s);
}

static void run_error_case(const char *service, dr_aws_protocol proto, const char *method, fx_response resp,
                           int want_rc, const char *want_code, const char *want_msg)
{
    fx_server *s = fx_start(&resp, 1, 1);
    dr_aws *c;
    dr_aws_request rq;
    dr_aws_response *r = NULL;
    dr_error err;

    base_env();
    c = client_at(fx_url(s), 1, 5000);
    memset(&rq, 0, sizeof(rq));
    rq.struct_size = sizeof(rq);
    rq.service = service;
    rq.operation = "Op";
    rq.protocol = proto;
    rq.method = method;
    rq.path = "/";
    rq.body = proto == DR_AWS_JSON ? "{}" : NULL;
    dr_error_clear(&err);
    int rc = dr_aws_send(c, &rq, &r, &err);
    if (rc != want_rc || strcmp(err.aws_code, want_code) != 0 || !strstr(err.message, want_msg))
        fail_msg("%s %s: rc %d code '%s' message '%s'", service, method, rc, err.aws_code, err.message);
    assert_null(r);
    dr_aws_free(c);
    fx_stop(s);
}

static void test_error_model(void **state)
{
    (void)state;
    run_error_case("dynamodb", DR_AWS_JSON, "POST",
                   (fx_response){400, "x-amzn-RequestId: ABC\r\n",
                                 "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException\","
                                 "\"message\":\"Requested resource not found\"}",
                                 0, 0},
                   DR_ENOTFOUND, "ResourceNotFoundException",
                   "dynamodb Op us-east-1: ResourceNotFoundException: Requested resource not found (HTTP 400, "
                   "request id ABC)");
    run_error_case("rds", DR_AWS_QUERY, "POST",
                   (fx_response){404, NULL,
                                 "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error><Type>Sender"
                                 "</Type><Code>DBClusterNotFoundFault</Code><Message>DBCluster x not found.</Message>"
                                 "</Error><RequestId>rid-1</RequestId></ErrorResponse>",
                                 0, 0},
                   DR_ENOTFOUND, "DBClusterNotFoundFault", "DBCluster x not found. (HTTP 404, request id rid-1)");
    run_error_case("sts", DR_AWS_QUERY, "POST",
                   (fx_response){403, NULL,
                                 "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>The request "
                                 "signature we calculated does not match</Message></Error></ErrorResponse>",
                                 0, 0},
                   DR_EAWS, "SignatureDoesNotMatch", "SignatureDoesNotMatch: The request signature");
    run_error_case("iam", DR_AWS_QUERY, "POST",
                   (fx_response){403, NULL,
                                 "<ErrorResponse><Error><Code>AccessDenied</Code><Message>not allowed</Message>"
                                 "</Error></ErrorResponse>",
                                 0, 0},
                   DR_EDENIED, "AccessDenied", "AccessDenied: not allowed");
    run_error_case("s3", DR_AWS_REST_XML, "HEAD", (fx_response){404, "x-amz-request-id: H1\r\n", NULL, 0, 0},
                   DR_ENOTFOUND, "404", "(HTTP 404, request id H1)");
    run_error_case("s3", DR_AWS_REST_XML, "HEAD", (fx_response){403, NULL, NULL, 0, 0}, DR_EDENIED, "403",
                   "HTTP 403");
    run_error_case("s3", DR_AWS_REST_XML, "GET",
                   (fx_response){404, NULL,
                                 "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist"
                                 "</Message><BucketName>b</BucketName><RequestId>R2</RequestId></Error>",
                                 0, 0},
                   DR_ENOTFOUND, "NoSuchBucket", "NoSuchBucket: The specified bucket does not exist");
    run_error_case("route53", DR_AWS_REST_XML, "POST",
                   (fx_response){400, NULL,
                                 "<InvalidChangeBatch xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">"
                                 "<Messages><Message>Tried to create a record that exists</Message></Messages>"
                                 "<RequestId>r53</RequestId></InvalidChangeBatch>",
                                 0, 0},
                   DR_EAWS, "InvalidChangeBatch", "InvalidChangeBatch: Tried to create a record that exists");
    run_error_case("backup", DR_AWS_REST_JSON, "GET",
                   (fx_response){404, "x-amzn-ErrorType: ResourceNotFoundException:http://internal\r\n",
                                 "{\"Code\":\"ResourceNotFoundException\",\"Message\":\"vault v not found\"}", 0, 0},
                   DR_ENOTFOUND, "ResourceNotFoundException", "vault v not found");
    run_error_case("monitoring", DR_AWS_JSON, "POST",
                   (fx_response){400, "x-amzn-query-error: InvalidParameterValue;Sender\r\n",
                                 "{\"__type\":\"com.amazonaws.cloudwatch#InvalidParameterValueException\","
                                 "\"message\":\"bad period\"}",
                                 0, 0},
                   DR_EAWS, "InvalidParameterValue", "InvalidParameterValue: bad period");
    run_error_case("backup", DR_AWS_REST_JSON, "GET",
                   (fx_response){500, "Content-Type: text/html\r\n",
                                 "<!DOCTYPE html><html><body><h1>Internal Server Error</h1></body></html>", 0, 0},
                   DR_EAWS, "",
                   "backup Op us-east-1: HTTP 500 with a non-AWS (HTML) body: the endpoint does not implement this "
                   "operation");
    run_error_case("backup", DR_AWS_REST_JSON, "GET",
                   (fx_response){404, NULL, "<html><body>Not Found</body></html>", 0, 0}, DR_EAWS, "",
                   "HTTP 404 with a non-AWS (HTML) body: the endpoint does not know this route");
    run_error_case("dynamodb", DR_AWS_JSON, "POST", (fx_response){502, NULL, NULL, 0, 0}, DR_EAWS, "502",
                   "HTTP 502 with an empty body");
}

static void test_clock_skew(void **state)
{
    char hdr[128], date[64];
    time_t ahead = time(NULL) + 3600;
    struct tm tm;
    (void)state;

    gmtime_r(&ahead, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(hdr, sizeof(hdr), "Date: %s\r\n", date);
    fx_response script[] = {{403, hdr,
                             "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>Signature expired"
                             "</Message></Error></ErrorResponse>",
                             0, 0},
                            {200, hdr, "<GetCallerIdentityResponse><GetCallerIdentityResult><Account>123456789012"
                                       "</Account></GetCallerIdentityResult></GetCallerIdentityResponse>",
                             0, 0}};
    fx_server *s = fx_start(script, 2, 0);
    dr_aws *c;
    dr_error err;
    char acct[32];

    base_env();
    c = client_at(fx_url(s), 3, 5000);
    dr_error_clear(&err);
    assert_int_equal(dr_aws_account_id(c, acct, sizeof(acct), &err), 0);
    assert_string_equal(acct, "123456789012");
    assert_int_equal(fx_count(s), 2);
    assert_true(drs_aws_skew_s(c) > 3500 && drs_aws_skew_s(c) < 3700);
    /* the retry was signed at the server's time */
    fx_request *r0 = fx_get(s, 0), *r1 = fx_get(s, 1);
    char *d0 = fx_header(r0, "X-Amz-Date"), *d1 = fx_header(r1, "X-Amz-Date");
    char want[17];
    strftime(want, sizeof(want), "%Y%m%dT%H", &tm);
    assert_memory_equal(d1, want, 11);
    assert_string_not_equal(d0, d1);
    free(d0);
    free(d1);
    fx_request_free(r0);
    fx_request_free(r1);
    /* cached: no second call */
    assert_int_equal(dr_aws_account_id(c, acct, sizeof(acct), &err), 0);
    assert_int_equal(fx_count(s), 2);
    dr_aws_free(c);
    fx_stop(s);
}

static int stop_after(void *arg)
{
    return dr_mono_ms() >= *(int64_t *)arg;
}

static void test_thread_limits(void **state)
{
    fx_response script[] = {{200, NULL, "{}", 10000, 0}};
    fx_server *s = fx_start(script, 1, 1);
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;
    int64_t t0, when;
    (void)state;

    base_env();
    c = client_at(fx_url(s), 3, 20000);
    /* stop request during a transfer */
    t0 = dr_mono_ms();
    when = t0 + 200;
    dr_aws_set_thread_limits(0, stop_after, &when);
    assert_int_equal(describe_table(c, &d, &err), DR_ECANCELED);
    assert_true(dr_mono_ms() - t0 < 2000);
    /* deadline during a transfer */
    t0 = dr_mono_ms();
    dr_aws_set_thread_limits(t0 + 300, NULL, NULL);
    assert_int_equal(describe_table(c, &d, &err), DR_ETIMEDOUT);
    assert_true(dr_mono_ms() - t0 < 2000);
    assert_int_equal(err.attempts, 1); /* the deadline is not retried */
    /* a retry wait that would pass the deadline fails at once */
    dr_aws_set_thread_limits(0, NULL, NULL);
    fx_stop(s);
    fx_response thr[] = {THROTTLE};
    s = fx_start(thr, 1, 1);
    dr_aws_free(c);
    c = client_at(fx_url(s), 3, 5000);
    drs_aws_set_backoff_base(c, 5.0);
    drs_aws_set_backoff_jitter(c, 0.9); /* a 4.5 s wait */
    t0 = dr_mono_ms();
    dr_aws_set_thread_limits(t0 + 3000, NULL, NULL);
    assert_int_equal(describe_table(c, &d, &err), DR_ETIMEDOUT);
    dr_aws_set_thread_limits(0, NULL, NULL);
    assert_non_null(strstr(err.message, "ThrottlingException"));
    assert_true(dr_mono_ms() - t0 < 1000);
    assert_int_equal(fx_count(s), 1);
    dr_aws_free(c);
    fx_stop(s);
}

typedef struct thread_arg {
    dr_aws *c;
    int ok;
} thread_arg;

static void *worker(void *p)
{
    thread_arg *a = p;
    for (int i = 0; i < 5; i++) {
        dr_doc *d = NULL;
        dr_error err;
        if (describe_table(a->c, &d, &err) == 0)
            a->ok++;
        dr_doc_free(d);
    }
    return NULL;
}

static void test_connection_reuse(void **state)
{
    fx_response script[] = {OK_TABLE};
    fx_server *s = fx_start(script, 1, 1);
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;
    pthread_t t[4];
    thread_arg a[4];
    int max_conn = 0;
    (void)state;

    base_env();
    c = client_at(fx_url(s), 3, 5000);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(describe_table(c, &d, &err), 0);
        dr_doc_free(d);
    }
    for (int i = 0; i < 4; i++) {
        a[i].c = c;
        a[i].ok = 0;
        pthread_create(&t[i], NULL, worker, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].ok, 5);
    }
    assert_int_equal(fx_count(s), 23);
    for (size_t i = 0; i < fx_count(s); i++) {
        fx_request *r = fx_get(s, i);
        if (i < 3)
            assert_int_equal(r->conn, 1); /* sequential calls share one connection */
        if (r->conn > max_conn)
            max_conn = r->conn;
        fx_request_free(r);
    }
    assert_true(max_conn <= 5); /* 4 threads reuse a handful of connections, not 20 */
    dr_aws_free(c);
    fx_stop(s);
}

#define HC_BODY "<GetHealthCheckResponse><HealthCheck><Id>x</Id></HealthCheck></GetHealthCheckResponse>"

/* dr_aws_send_text: the body as a NUL-terminated copy on 2xx; nothing on an error or without a place for it. */
static void test_send_text(void **state)
{
    fx_response script[] = {{200, "Content-Type: text/xml\r\n", HC_BODY, 0, 0},
                            {400, "Content-Type: text/xml\r\n",
                             "<ErrorResponse><Error><Code>InvalidInput</Code><Message>no</Message></Error>"
                             "</ErrorResponse>", 0, 0}};
    fx_server *s = fx_start(script, 2, 0);
    dr_aws *c;
    dr_aws_request rq;
    dr_error err;
    char *text = NULL;
    size_t len = 99;
    (void)state;

    base_env();
    c = client_at(fx_url(s), 1, 5000);
    dr_aws_request_init(&rq, sizeof(rq), "route53", DR_AWS_REST_XML, "GetHealthCheck", "GET", "/2013-04-01/x", NULL);
    dr_error_clear(&err);
    assert_int_equal(dr_aws_send_text(c, &rq, &text, &len, &err), 0);
    assert_string_equal(text, HC_BODY);
    assert_int_equal(len, strlen(HC_BODY));
    free(text);
    assert_true(dr_aws_send_text(c, &rq, &text, &len, &err) < 0);
    assert_null(text);
    assert_string_equal(err.aws_code, "InvalidInput");
    assert_int_equal(dr_aws_send_text(c, &rq, NULL, &len, &err), DR_EINVAL);
    dr_aws_free(c);
    fx_stop(s);
}

/* --- credentials providers --- */

#define CREDS_JSON                                                                                                    \
    "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIAFIXTURE\","                                      \
    "\"SecretAccessKey\":\"fixture-secret\",\"Token\":\"fixture-token\",\"Expiration\":\"%s\"}"

static void iso_in(double seconds, char *out, size_t n)
{
    dr_time_format(dr_now() + seconds, 0, out, n);
}

static void test_imds_v2(void **state)
{
    char exp[32], body[512];
    (void)state;
    iso_in(3600, exp, sizeof(exp));
    snprintf(body, sizeof(body), CREDS_JSON, exp);
    fx_response script[] = {{200, NULL, "IMDS-TOKEN-123", 0, 0}, {200, NULL, "dr-role\n", 0, 0},
                            {200, NULL, body, 0, 0}, OK_TABLE};
    fx_server *s = fx_start(script, 4, 0);
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;

    base_env();
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fx_url(s), 1);
    c = client_at(fx_url(s), 1, 5000);
    assert_int_equal(describe_table(c, &d, &err), 0);
    dr_doc_free(d);
    assert_int_equal(fx_count(s), 4);
    fx_request *r = fx_get(s, 0);
    assert_string_equal(r->method, "PUT");
    assert_string_equal(r->target, "/latest/api/token");
    char *ttl = fx_header(r, "X-aws-ec2-metadata-token-ttl-seconds");
    assert_string_equal(ttl, "21600");
    free(ttl);
    fx_request_free(r);
    r = fx_get(s, 1);
    assert_string_equal(r->target, "/latest/meta-data/iam/security-credentials/");
    char *tok = fx_header(r, "X-aws-ec2-metadata-token");
    assert_string_equal(tok, "IMDS-TOKEN-123");
    free(tok);
    fx_request_free(r);
    r = fx_get(s, 2);
    assert_string_equal(r->target, "/latest/meta-data/iam/security-credentials/dr-role");
    fx_request_free(r);
    r = fx_get(s, 3);
    char *st = fx_header(r, "X-Amz-Security-Token"), *auth = fx_header(r, "Authorization");
    assert_string_equal(st, "fixture-token");
    assert_non_null(strstr(auth, "Credential=ASIAFIXTURE/"));
    assert_non_null(strstr(auth, "x-amz-security-token"));
    free(st);
    free(auth);
    fx_request_free(r);
    dr_aws_free(c);
    fx_stop(s);
}

static void test_imds_v1_fallback_and_refresh(void **state)
{
    char exp_soon[32], exp_late[32], body1[512], body2[512];
    (void)state;
    iso_in(120, exp_soon, sizeof(exp_soon)); /* inside the refresh window */
    iso_in(7200, exp_late, sizeof(exp_late));
    snprintf(body1, sizeof(body1), CREDS_JSON, exp_soon);
    snprintf(body2, sizeof(body2), CREDS_JSON, exp_late);
    fx_response script[] = {{403, NULL, "", 0, 0},     {200, NULL, "dr-role", 0, 0}, {200, NULL, body1, 0, 0},
                            OK_TABLE,                  {200, NULL, "T2", 0, 0},      {200, NULL, "dr-role", 0, 0},
                            {200, NULL, body2, 0, 0}, OK_TABLE,                     OK_TABLE};
    fx_server *s = fx_start(script, 9, 0);
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;

    base_env();
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fx_url(s), 1);
    c = client_at(fx_url(s), 1, 5000);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(describe_table(c, &d, &err), 0);
        dr_doc_free(d);
    }
    /* 1: token refused -> IMDSv1 without a token header; 2: expiring soon -> refreshed; 3: cached */
    assert_int_equal(fx_count(s), 9);
    fx_request *r = fx_get(s, 1);
    char *tok = fx_header(r, "X-aws-ec2-metadata-token");
    assert_null(tok);
    fx_request_free(r);
    r = fx_get(s, 4);
    assert_string_equal(r->method, "PUT");
    fx_request_free(r);
    dr_aws_free(c);
    fx_stop(s);
}

static void test_ecs_container(void **state)
{
    char exp[32], body[512], url[128], tfile[512];
    (void)state;
    iso_in(3600, exp, sizeof(exp));
    snprintf(body, sizeof(body), CREDS_JSON, exp);
    fx_response script[] = {{200, NULL, body, 0, 0}, OK_TABLE};
    fx_server *s = fx_start(script, 2, 0);
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;

    base_env();
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    snprintf(url, sizeof(url), "%s/v2/credentials/abc?x=1", fx_url(s));
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    snprintf(tfile, sizeof(tfile), "%s/ecs-token", tmpdir);
    assert_int_equal(tu_write_file(tfile, "ecs-auth-token\n"), 0);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tfile, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ignored-when-file-set", 1);
    c = client_at(fx_url(s), 1, 5000);
    assert_int_equal(describe_table(c, &d, &err), 0);
    dr_doc_free(d);
    fx_request *r = fx_get(s, 0);
    assert_string_equal(r->method, "GET");
    assert_string_equal(r->target, "/v2/credentials/abc?x=1");
    char *a = fx_header(r, "Authorization");
    assert_string_equal(a, "ecs-auth-token");
    free(a);
    fx_request_free(r);
    r = fx_get(s, 1);
    a = fx_header(r, "X-Amz-Security-Token");
    assert_string_equal(a, "fixture-token");
    free(a);
    fx_request_free(r);
    dr_aws_free(c);
    fx_stop(s);
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
}

static void test_web_identity(void **state)
{
    char exp[32], body[1024], tfile[512];
    (void)state;
    iso_in(3600, exp, sizeof(exp));
    snprintf(body, sizeof(body),
             "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
             "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAWEBID</AccessKeyId>"
             "<SecretAccessKey>web-secret</SecretAccessKey><SessionToken>web-session</SessionToken>"
             "<Expiration>%s</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
             "<ResponseMetadata><RequestId>w1</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>",
             exp);
    fx_response script[] = {{200, NULL, body, 0, 0}, OK_TABLE};
    fx_server *s = fx_start(script, 2, 0);
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;

    base_env();
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    snprintf(tfile, sizeof(tfile), "%s/web-token", tmpdir);
    assert_int_equal(tu_write_file(tfile, "eyJ.web+token/=\n"), 0);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tfile, 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/dr", 1);
    setenv("AWS_ROLE_SESSION_NAME", "dr-session", 1);
    c = client_at(fx_url(s), 1, 5000);
    assert_int_equal(describe_table(c, &d, &err), 0);
    dr_doc_free(d);
    fx_request *r = fx_get(s, 0);
    assert_string_equal(r->method, "POST");
    assert_null(fx_header(r, "Authorization")); /* unsigned */
    assert_string_equal(r->body, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A"
                                 "123456789012%3Arole%2Fdr&RoleSessionName=dr-session&WebIdentityToken=eyJ.web%2B"
                                 "token%2F%3D");
    fx_request_free(r);
    r = fx_get(s, 1);
    char *a = fx_header(r, "Authorization");
    assert_non_null(strstr(a, "Credential=ASIAWEBID/"));
    free(a);
    fx_request_free(r);
    dr_aws_free(c);
    fx_stop(s);
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    unsetenv("AWS_ROLE_ARN");
    unsetenv("AWS_ROLE_SESSION_NAME");
}

static void test_no_credentials(void **state)
{
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;
    (void)state;

    base_env();
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    c = client_at("http://127.0.0.1:9", 1, 1000);
    assert_int_equal(describe_table(c, &d, &err), DR_ECREDENTIALS);
    assert_non_null(strstr(err.message, "no AWS credentials"));
    dr_aws_free(c);
    /* instance metadata that does not answer (a hang, then nothing) still ends in "no credentials" */
    fx_response hang[] = {{200, NULL, "T", 5000, 0}};
    fx_server *s = fx_start(hang, 1, 1);
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fx_url(s), 1);
    c = client_at("http://127.0.0.1:9", 1, 1000);
    assert_int_equal(describe_table(c, &d, &err), DR_ECREDENTIALS);
    assert_non_null(strstr(err.message, "no AWS credentials"));
    dr_aws_free(c);
    fx_stop(s);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9", 1);
    c = client_at("http://127.0.0.1:9", 1, 1000);
    assert_int_equal(describe_table(c, &d, &err), DR_ECREDENTIALS);
    dr_aws_free(c);
}

static void test_bad_inputs(void **state)
{
    dr_aws_config cfg;
    dr_aws *c = NULL;
    dr_aws_request rq;
    dr_aws_response *r = NULL;
    dr_error err;
    const char *hdrs[] = {"X-Evil: a\r\nX-Injected: b", NULL};
    (void)state;

    base_env();
    memset(&cfg, 0, sizeof(cfg));
    cfg.struct_size = sizeof(cfg);
    cfg.region = "us east 1";
    assert_int_equal(dr_aws_new(&cfg, &c, &err), DR_ECONFIG);
    cfg.region = NULL;
    assert_int_equal(dr_aws_new(&cfg, &c, &err), DR_ECONFIG);
    cfg.region = "us-east-1";
    cfg.endpoint_url = "localhost:4566";
    assert_int_equal(dr_aws_new(&cfg, &c, &err), DR_ECONFIG);
    c = client_at("http://127.0.0.1:9", 1, 1000);
    memset(&rq, 0, sizeof(rq));
    rq.struct_size = sizeof(rq);
    rq.service = "dynamodb";
    rq.operation = "DescribeTable";
    rq.headers = hdrs;
    assert_int_equal(dr_aws_send(c, &rq, &r, &err), DR_EINVAL);
    rq.headers = NULL;
    rq.service = "Not A Service"; /* any signing name is accepted; a malformed one is not */
    assert_int_equal(dr_aws_send(c, &rq, &r, &err), DR_EINVAL);
    assert_non_null(strstr(err.message, "unknown AWS service"));
    /* nothing listens on port 9: a connection error, retryable but out of attempts */
    rq.service = "dynamodb";
    assert_int_equal(dr_aws_send(c, &rq, &r, &err), DR_ENETWORK);
    assert_int_equal(err.retryable, 1);
    assert_null(r);
    dr_aws_free(c);
}

static void test_proxy_environment(void **state)
{
    fx_response script[] = {OK_TABLE};
    fx_server *s = fx_start(script, 1, 1);
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;
    (void)state;

    /* The fixture plays the proxy: upper-case HTTP_PROXY counts, as in the AWS SDKs. */
    base_env();
    setenv("HTTP_PROXY", fx_url(s), 1);
    c = client_at("http://dynamodb.proxied.invalid:8000", 1, 5000);
    assert_int_equal(describe_table(c, &d, &err), 0);
    dr_doc_free(d);
    fx_request *r = fx_get(s, 0);
    assert_string_equal(r->target, "http://dynamodb.proxied.invalid:8000/");
    char *host = fx_header(r, "Host");
    assert_string_equal(host, "dynamodb.proxied.invalid:8000");
    free(host);
    fx_request_free(r);
    /* NO_PROXY sends it straight to the (unreachable) host */
    setenv("NO_PROXY", ".invalid", 1);
    assert_int_equal(describe_table(c, &d, &err), DR_ENETWORK);
    assert_int_equal(fx_count(s), 1);
    unsetenv("HTTP_PROXY");
    unsetenv("NO_PROXY");
    dr_aws_free(c);
    fx_stop(s);
}

static void test_backoff(void **state)
{
    (void)state;
    assert_true(drs_backoff_s(1, 1.0, 0.999) < 1.0);
    assert_true(drs_backoff_s(2, 1.0, 0.999) > 1.9 && drs_backoff_s(2, 1.0, 0.999) < 2.0);
    assert_true(drs_backoff_s(10, 1.0, 0.999) <= 20.0 && drs_backoff_s(10, 1.0, 0.999) > 19.9);
    assert_true(drs_backoff_s(3, 1.0, 0.0) == 0.0);
    assert_int_equal(drs_retry_classify(400, "ThrottlingException", 0), DRS_RETRY_THROTTLE);
    assert_int_equal(drs_retry_classify(400, "ValidationException", 0), DRS_RETRY_NONE);
    assert_int_equal(drs_retry_classify(503, "", 0), DRS_RETRY_TRANSIENT);
    assert_int_equal(drs_retry_classify(403, "SignatureDoesNotMatch", 10), DRS_RETRY_NONE);
    assert_int_equal(drs_retry_classify(403, "SignatureDoesNotMatch", 600), DRS_RETRY_TRANSIENT);
    for (int i = 0; i < 1000; i++) {
        double r = drs_random01();
        assert_true(r >= 0.0 && r < 1.0);
    }
}

/* One call of `op` answered 2xx by `body` (every attempt): its return code and error. */
static int strict_case(const char *service, dr_aws_protocol proto, const char *method, const char *op, const char *query,
                       const char *headers, const char *body, size_t *attempts, dr_doc **doc, dr_error *err)
{
    fx_response script[] = {{200, headers, body, 0, 0}};
    fx_server *s = fx_start(script, 1, 1);
    dr_aws *c;
    dr_aws_request rq;
    int rc;

    base_env();
    c = client_at(fx_url(s), 3, 5000);
    memset(&rq, 0, sizeof(rq));
    rq.struct_size = sizeof(rq);
    rq.service = service;
    rq.operation = op;
    rq.protocol = proto;
    rq.method = method;
    rq.bucket = strcmp(service, "s3") == 0 ? "b" : NULL;
    rq.query = query;
    rq.target = proto == DR_AWS_JSON ? "DynamoDB_20120810.DescribeTable" : NULL;
    rq.body = proto == DR_AWS_QUERY ? "Action=DescribeDBClusters&Version=2014-10-31" : proto == DR_AWS_JSON ? "{}" : NULL;
    dr_error_clear(err);
    *doc = NULL;
    rc = dr_aws_rest(c, &rq, doc, err);
    *attempts = fx_count(s);
    dr_aws_free(c);
    fx_stop(s);
    return rc;
}

static void test_strict_answers(void **state)
{
    static const char html[] = "<!DOCTYPE html><html><head><title>Sign in to the network</title></head></html>";
    dr_doc *d = NULL;
    dr_error err;
    size_t n;
    (void)state;

    /* a captive portal's page answered with 200: an error naming the operation, after the retries */
    assert_int_equal(strict_case("s3", DR_AWS_REST_XML, "GET", "GetBucketReplication", "replication",
                                 "Content-Type: text/html\r\n", html, &n, &d, &err),
                     DR_EPARSE);
    assert_null(d);
    assert_int_equal(n, 3);
    assert_non_null(strstr(err.message, "s3 GetBucketReplication us-east-1: HTTP 2xx with an HTML page"));
    assert_non_null(strstr(err.message, "not a GetBucketReplication answer"));
    /* an empty 200 is no "no rules" either */
    assert_int_equal(strict_case("s3", DR_AWS_REST_XML, "GET", "GetBucketReplication", "replication", NULL, "", &n, &d,
                                 &err),
                     DR_EPARSE);
    assert_non_null(strstr(err.message, "an empty body"));
    /* another document than the operation's */
    assert_int_equal(strict_case("s3", DR_AWS_REST_XML, "GET", "GetBucketReplication", "replication", NULL,
                                 "<LifecycleConfiguration/>", &n, &d, &err),
                     DR_EPARSE);
    assert_non_null(strstr(err.message, "rooted at <LifecycleConfiguration> instead of <ReplicationConfiguration>"));
    /* the real answer passes */
    assert_int_equal(strict_case("s3", DR_AWS_REST_XML, "GET", "GetBucketReplication", "replication", NULL,
                                 "<ReplicationConfiguration><Role>r</Role></ReplicationConfiguration>", &n, &d, &err),
                     0);
    assert_string_equal(dr_node_str(dr_doc_root(d), "Role"), "r");
    dr_doc_free(d);
    /* a write with no body is fine */
    assert_int_equal(strict_case("s3", DR_AWS_REST_XML, "PUT", "PutBucketVersioning", "versioning", NULL, "", &n, &d,
                                 &err),
                     0);
    assert_int_equal(n, 1);
    /* an object's content is whatever it is */
    assert_int_equal(strict_case("s3", DR_AWS_REST_XML, "GET", "GetObject", NULL, NULL, html, &n, &d, &err), 0);
    /* Query: <OpResponse> at the root, never empty */
    assert_int_equal(strict_case("rds", DR_AWS_QUERY, "POST", "DescribeDBClusters", NULL, NULL, html, &n, &d, &err),
                     DR_EPARSE);
    assert_non_null(strstr(err.message, "rds DescribeDBClusters us-east-1"));
    assert_int_equal(strict_case("rds", DR_AWS_QUERY, "POST", "DescribeDBClusters", NULL, NULL, "", &n, &d, &err),
                     DR_EPARSE);
    assert_int_equal(strict_case("rds", DR_AWS_QUERY, "POST", "DescribeDBClusters", NULL, NULL,
                                 "<DescribeDBInstancesResponse/>", &n, &d, &err),
                     DR_EPARSE);
    /* a read without its <OpResult> would read as "no cluster" */
    assert_int_equal(strict_case("rds", DR_AWS_QUERY, "POST", "DescribeDBClusters", NULL, NULL,
                                 "<DescribeDBClustersResponse><ResponseMetadata/></DescribeDBClustersResponse>", &n,
                                 &d, &err),
                     DR_EPARSE);
    assert_non_null(strstr(err.message, "no <DescribeDBClustersResult>"));
    assert_int_equal(strict_case("rds", DR_AWS_QUERY, "POST", "DescribeDBClusters", NULL, NULL,
                                 "<DescribeDBClustersResponse><DescribeDBClustersResult><DBClusters/>"
                                 "</DescribeDBClustersResult></DescribeDBClustersResponse>",
                                 &n, &d, &err),
                     0);
    dr_doc_free(d);
    /* awsJson: a JSON object with the members the operation returns */
    assert_int_equal(strict_case("dynamodb", DR_AWS_JSON, "POST", "DescribeTable", NULL, NULL, "[]", &n, &d, &err),
                     DR_EPARSE);
    assert_int_equal(strict_case("dynamodb", DR_AWS_JSON, "POST", "DescribeTable", NULL, NULL, "", &n, &d, &err),
                     DR_EPARSE);
    assert_int_equal(strict_case("dynamodb", DR_AWS_JSON, "POST", "DescribeTable", NULL, NULL, "{}", &n, &d, &err),
                     DR_EPARSE);
    assert_non_null(strstr(err.message, "without Table"));
    assert_int_equal(strict_case("dynamodb", DR_AWS_JSON, "POST", "DescribeTable", NULL, NULL,
                                 "{\"Table\":{\"TableStatus\":\"ACTIVE\"}}", &n, &d, &err),
                     0);
    dr_doc_free(d);
    /* Route 53: <OpResponse> */
    assert_int_equal(strict_case("route53", DR_AWS_REST_XML, "GET", "GetHealthCheck", NULL, NULL,
                                 "<GetHealthCheckStatusResponse/>", &n, &d, &err),
                     DR_EPARSE);
    /* REST-JSON: a read always has a body */
    assert_int_equal(strict_case("backup", DR_AWS_REST_JSON, "GET", "ListBackupJobs", NULL, NULL, "", &n, &d, &err),
                     DR_EPARSE);
    assert_int_equal(strict_case("backup", DR_AWS_REST_JSON, "POST", "TagResource", NULL, NULL, "", &n, &d, &err), 0);
}

static void test_answer_limits(void **state)
{
    size_t big = 5u * 1024u * 1024u, n;
    char *body = malloc(big + 64);
    dr_doc *d = NULL;
    dr_error err;
    (void)state;

    assert_non_null(body);
    /* a DescribeTable answer of 5 MB is more than DescribeTable can return (4 MB for DynamoDB) */
    memcpy(body, "{\"Table\":\"", 10);
    memset(body + 10, 'x', big - 12);
    memcpy(body + big - 2, "\"}", 3);
    assert_int_equal(drs_answer_limit("dynamodb", "DescribeTable", "POST"), 4u * 1024u * 1024u);
    assert_int_equal(strict_case("dynamodb", DR_AWS_JSON, "POST", "DescribeTable", NULL, NULL, body, &n, &d, &err),
                     DR_EPARSE);
    assert_int_equal(n, 1); /* not retried: it would be as large again */
    assert_non_null(strstr(err.message, "dynamodb DescribeTable us-east-1: the answer is larger than the 4096 kB"));
    assert_int_equal(drs_http_held_bytes(), 0);
    /* RDS may answer 8 MB: the same body passes there as far as size goes (and fails as not XML) */
    assert_int_equal(strict_case("rds", DR_AWS_QUERY, "POST", "DescribeDBClusters", NULL, NULL, body, &n, &d, &err),
                     DR_EPARSE);
    assert_null(strstr(err.message, "larger than"));
    /* the total across calls: with a 1 MB budget the call is refused, and nothing stays counted */
    drs_http_set_total_limit(1024u * 1024u);
    assert_int_equal(strict_case("rds", DR_AWS_QUERY, "POST", "DescribeDBClusters", NULL, NULL, body, &n, &d, &err),
                     DR_ENOMEM);
    assert_non_null(strstr(err.message, "answers held at once would pass the process's limit of 1024 kB"));
    assert_int_equal(drs_http_held_bytes(), 0);
    /* a response still held counts until it is freed */
    {
        fx_response script[] = {{200, NULL, "<ModifyDBClusterResponse/>", 0, 0}};
        fx_server *s = fx_start(script, 1, 1);
        dr_aws *c;
        dr_aws_request rq;
        dr_aws_response *r = NULL;
        base_env();
        c = client_at(fx_url(s), 1, 5000);
        memset(&rq, 0, sizeof(rq));
        rq.struct_size = sizeof(rq);
        rq.service = "rds";
        rq.operation = "ModifyDBCluster";
        rq.protocol = DR_AWS_QUERY;
        rq.body = "Action=ModifyDBCluster";
        dr_error_clear(&err);
        assert_int_equal(dr_aws_send(c, &rq, &r, &err), 0);
        assert_int_equal(drs_http_held_bytes(), strlen("<ModifyDBClusterResponse/>"));
        dr_aws_response_free(r);
        assert_int_equal(drs_http_held_bytes(), 0);
        dr_aws_free(c);
        fx_stop(s);
    }
    drs_http_set_total_limit(0);
    free(body);
}

int main(void)
{
    const char *t = tu_tmpdir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_proxy_environment),
        cmocka_unit_test(test_throttle_then_success),
        cmocka_unit_test(test_persistent_503_stops),
        cmocka_unit_test(test_hang_hits_timeout),
        cmocka_unit_test(test_network_max_attempts),
        cmocka_unit_test(test_no_hidden_resend),
        cmocka_unit_test(test_quota_stops_storm),
        cmocka_unit_test(test_error_model),
        cmocka_unit_test(test_clock_skew),
        cmocka_unit_test(test_thread_limits),
        cmocka_unit_test(test_connection_reuse),
        cmocka_unit_test(test_send_text),
        cmocka_unit_test(test_imds_v2),
        cmocka_unit_test(test_imds_v1_fallback_and_refresh),
        cmocka_unit_test(test_ecs_container),
        cmocka_unit_test(test_web_identity),
        cmocka_unit_test(test_no_credentials),
        cmocka_unit_test(test_strict_answers),
        cmocka_unit_test(test_answer_limits),
        cmocka_unit_test(test_region_down_memory),
    };
    int rc;

    if (!t)
        return 1;
    snprintf(tmpdir, sizeof(tmpdir), "%s", t);
    rc = cmocka_run_group_tests_name("aws client", tests, NULL, NULL);
    {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return rc;
}
