/* test_canary.c: a debug-logged session whose secret key, session token, web identity and container tokens are a canary; no output may hold it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dr/plugin.h"
#include "client.h"
#include "fixture.h"
#include "moto.h"
#include "testutil.h"

static const char *canary;
static char tmpdir[256];
static dr_buf logbuf = DR_BUF_INIT;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int n_lines;
/* Every signature the servers saw, to look for in the output afterwards. */
static char signatures[64][65];
static int n_sigs;

static void on_log(int level, const char *msg, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&log_mu);
    dr_buf_printf(&logbuf, "%d %s\n", level, msg);
    n_lines++;
    pthread_mutex_unlock(&log_mu);
    /* to the test's output too: the wrapper script greps it */
    fprintf(stderr, "log[%d] %s\n", level, msg);
}

static void report(const char *what, int rc, const dr_error *err)
{
    printf("%s: rc %d (%s) code '%s' status %d: %s\n", what, rc, dr_strerror(rc), err->aws_code, err->http_status,
           err->message);
    assert_null(strstr(err->message, canary));
}

static void keep_signatures(fx_server *s)
{
    for (size_t i = 0; i < fx_count(s) && n_sigs < 64; i++) {
        fx_request *r = fx_get(s, i);
        char *auth = fx_header(r, "Authorization");
        const char *sig = auth ? strstr(auth, "Signature=") : NULL;
        if (sig)
            snprintf(signatures[n_sigs++], 65, "%.64s", sig + 10);
        free(auth);
        fx_request_free(r);
    }
}

static dr_aws *client_at(const char *url, const char *profile)
{
    dr_aws_config cfg;
    dr_aws *c = NULL;
    dr_error err;

    memset(&cfg, 0, sizeof(cfg));
    cfg.struct_size = sizeof(cfg);
    cfg.region = "us-east-1";
    cfg.endpoint_url = url;
    cfg.profile = profile;
    cfg.max_attempts = 3;
    cfg.attempt_timeout_ms = 2000;
    if (dr_aws_new(&cfg, &c, &err) != 0)
        fail_msg("dr_aws_new: %s", err.message);
    drs_aws_set_backoff_base(c, 0.005);
    return c;
}

static void env_base(void)
{
    char path[512];

    tu_clear_aws_env();
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    snprintf(path, sizeof(path), "%s/config", tmpdir);
    setenv("AWS_CONFIG_FILE", path, 1);
    snprintf(path, sizeof(path), "%s/credentials", tmpdir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
}

/* Environment keys with a canary secret and session token, against answers that exercise every log path. */
static void test_fixture_session(void **state)
{
    char hdr[256];
    fx_response script[] = {
        {400, "x-amzn-RequestId: t1\r\n", "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}", 0, 0},
        {500, NULL, "<html><body>oops</body></html>", 0, 0},
        {200, NULL, "{\"Table\":{\"TableStatus\":\"ACTIVE\"}}", 0, 0},
        {403, NULL, "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>"
                    "</ErrorResponse>", 0, 0},
        {200, NULL, "{}", 3000, 0},
        {200, NULL, "{}", 3000, 0},
        {200, NULL, "{}", 3000, 0},
    };
    fx_server *s = fx_start(script, 7, 0);
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;
    int rc;
    (void)state;
    (void)hdr;

    env_base();
    setenv("AWS_ACCESS_KEY_ID", "AKIDCANARYTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", canary, 1);
    setenv("AWS_SESSION_TOKEN", canary, 1);
    c = client_at(fx_url(s), NULL);
    dr_error_clear(&err);
    rc = dr_aws_json(c, "dynamodb", "DynamoDB_20120810", "DescribeTable", "{\"TableName\":\"t\"}", &d, &err);
    report("throttled, HTML 500, then OK", rc, &err);
    assert_int_equal(rc, 0);
    dr_doc_free(d);
    rc = dr_aws_query(c, "sts", "GetCallerIdentity", "2011-06-15", NULL, &d, &err);
    report("bad signature", rc, &err);
    assert_int_equal(rc, DR_EAWS);
    rc = dr_aws_json(c, "dynamodb", "DynamoDB_20120810", "DescribeTable", "{}", &d, &err);
    report("timeouts", rc, &err);
    assert_int_equal(rc, DR_ETIMEDOUT);
    /* the token really went out, so its absence from the logs means something */
    fx_request *r = fx_get(s, 0);
    char *tok = fx_header(r, "X-Amz-Security-Token");
    assert_string_equal(tok, canary);
    free(tok);
    fx_request_free(r);
    keep_signatures(s);
    dr_aws_free(c);
    fx_stop(s);
}

/* Web identity and container tokens that are canaries; STS hands back a canary secret. */
static void test_provider_tokens(void **state)
{
    char path[512], body[1024], exp[32], url[128];
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;
    int rc;
    (void)state;

    dr_time_format(dr_now() + 3600, 0, exp, sizeof(exp));
    snprintf(body, sizeof(body),
             "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAWEB"
             "</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s"
             "</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
             canary, canary, exp);
    fx_response script[] = {{200, NULL, body, 0, 0}, {404, NULL, "{\"__type\":\"ResourceNotFoundException\"}", 0, 0}};
    fx_server *s = fx_start(script, 2, 0);
    env_base();
    snprintf(path, sizeof(path), "%s/web-token", tmpdir);
    tu_write_file(path, canary);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path, 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/canary", 1);
    c = client_at(fx_url(s), NULL);
    dr_error_clear(&err);
    rc = dr_aws_json(c, "dynamodb", "DynamoDB_20120810", "DescribeTable", "{}", &d, &err);
    report("web identity then not found", rc, &err);
    assert_int_equal(rc, DR_ENOTFOUND);
    fx_request *r = fx_get(s, 0);
    assert_non_null(strstr(r->body, canary)); /* sent to STS, where it belongs */
    fx_request_free(r);
    keep_signatures(s);
    dr_aws_free(c);
    fx_stop(s);

    /* container credentials with a canary authorization token, answered with a refusal */
    fx_response deny[] = {{403, NULL, "{\"message\":\"denied\"}", 0, 0}};
    s = fx_start(deny, 1, 1);
    env_base();
    snprintf(url, sizeof(url), "%s/creds", fx_url(s));
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", canary, 1);
    c = client_at(fx_url(s), NULL);
    rc = dr_aws_json(c, "dynamodb", "DynamoDB_20120810", "DescribeTable", "{}", &d, &err);
    report("container credentials refused", rc, &err);
    assert_int_equal(rc, DR_ECREDENTIALS);
    dr_aws_free(c);
    fx_stop(s);
}

/* A real signature check: moto in auth mode with a canary as the wrong secret and as a profile's secret. */
static void test_moto_session(void **state)
{
    char text[512];
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;
    int rc;
    (void)state;

    if (moto_start() != 0)
        fail_msg("moto did not start");
    env_base();
    snprintf(text, sizeof(text), "[canary]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = %s\n",
             canary);
    char path[512];
    snprintf(path, sizeof(path), "%s/credentials", tmpdir);
    tu_write_file(path, text);
    c = client_at(moto_url(), "canary");
    dr_error_clear(&err);
    rc = dr_aws_query(c, "iam", "CreateUser", "2010-05-08", "&UserName=canary", &d, &err);
    report("moto, auth off", rc, &err);
    assert_int_equal(rc, 0);
    dr_doc_free(d);
    assert_int_equal(moto_post("/moto-api/reset-auth", "0"), 200);
    rc = dr_aws_query(c, "sts", "GetCallerIdentity", "2011-06-15", NULL, &d, &err);
    report("moto, auth on, unknown key", rc, &err);
    assert_int_equal(rc, DR_EAWS);
    dr_aws_free(c);
    moto_stop();
}

static void test_logs_clean(void **state)
{
    (void)state;
    printf("%d log lines captured\n", n_lines);
    assert_true(n_lines >= 10);
    assert_non_null(strstr(dr_buf_str(&logbuf), "retrying in"));
    assert_non_null(strstr(dr_buf_str(&logbuf), "HTTP 200"));
    assert_non_null(strstr(dr_buf_str(&logbuf), "credentials from"));
    assert_null(strstr(dr_buf_str(&logbuf), canary));
    assert_true(n_sigs >= 5);
    for (int i = 0; i < n_sigs; i++)
        assert_null(strstr(dr_buf_str(&logbuf), signatures[i]));
}

int main(void)
{
    const char *t = tu_tmpdir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_session),
        cmocka_unit_test(test_provider_tokens),
        cmocka_unit_test(test_moto_session),
        cmocka_unit_test(test_logs_clean),
    };
    int rc;

    canary = getenv("DR_TEST_CANARY");
    if (!canary || strlen(canary) < 16) {
        fprintf(stderr, "DR_TEST_CANARY (16+ characters) must be set; run it through canary.sh\n");
        return 1;
    }
    if (!t)
        return 1;
    snprintf(tmpdir, sizeof(tmpdir), "%s", t);
    dr_sdk_set_log(on_log, NULL, DR_LOG_DEBUG);
    rc = cmocka_run_group_tests_name("secret canary", tests, NULL, NULL);
    dr_sdk_set_log(NULL, NULL, 0);
    {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    dr_buf_free(&logbuf);
    return rc;
}
