/* test_plumbing.c: the SDK's plugin plumbing: host client accessor, status ranks and names, check and change reports, JSON strings, partitions, REST requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dr/aws.h"
#include "dr/check.h"
#include "dr/util.h"

/* What the fake host saw last. */
static struct {
    int checks, changes;
    dr_check check;
    char check_name[64], observed[64], threshold[64], unit[32], detail[640];
    dr_change_state state;
    char action[64], target[128], change_detail[640];
    int aws_mode; /* 0: a client; 1: NULL with err filled; 2: NULL with err left empty */
} seen;

static dr_aws *const fake_client = (dr_aws *)&seen;

static void copy(char *out, size_t n, const char *s)
{
    snprintf(out, n, "%s", s ? s : "(null)");
}

static void fake_check(dr_resource *res, const dr_check *c)
{
    (void)res;
    seen.checks++;
    seen.check = *c;
    copy(seen.check_name, sizeof(seen.check_name), c->name);
    copy(seen.observed, sizeof(seen.observed), c->observed);
    copy(seen.threshold, sizeof(seen.threshold), c->threshold);
    copy(seen.unit, sizeof(seen.unit), c->unit);
    copy(seen.detail, sizeof(seen.detail), c->detail);
}

static void fake_change(dr_resource *res, dr_change_state state, const char *action, const char *target,
                        const char *detail)
{
    (void)res;
    seen.changes++;
    seen.state = state;
    copy(seen.action, sizeof(seen.action), action);
    copy(seen.target, sizeof(seen.target), target);
    copy(seen.change_detail, sizeof(seen.change_detail), detail);
}

static void *fake_aws(dr_resource *res, const char *region, dr_error *err)
{
    (void)res;
    if (seen.aws_mode == 0)
        return fake_client;
    if (seen.aws_mode == 1)
        dr_error_set(err, DR_ECREDENTIALS, "no credentials for %s", region);
    return NULL;
}

static dr_host_api fake_host(void)
{
    dr_host_api h;

    memset(&h, 0, sizeof(h));
    h.struct_size = sizeof(h);
    h.check = fake_check;
    h.change = fake_change;
    h.aws = fake_aws;
    return h;
}

static void test_host_aws(void **state)
{
    dr_host_api h = fake_host();
    dr_error err;
    (void)state;

    memset(&seen, 0, sizeof(seen));
    dr_error_clear(&err);
    assert_ptr_equal(dr_host_aws(&h, NULL, "us-east-1", &err), fake_client);
    assert_int_equal(err.code, 0);

    /* the host's error is kept */
    seen.aws_mode = 1;
    assert_null(dr_host_aws(&h, NULL, "us-west-2", &err));
    assert_int_equal(err.code, DR_ECREDENTIALS);
    assert_string_equal(err.message, "no credentials for us-west-2");

    /* a host that leaves err empty: still a negative code and a message naming the region */
    seen.aws_mode = 2;
    strcpy(err.message, "stale");
    err.code = 0;
    assert_null(dr_host_aws(&h, NULL, "eu-west-1", &err));
    assert_int_equal(err.code, DR_EINVAL);
    assert_string_equal(err.message, "no AWS client for eu-west-1");
}

/* dr_metric_max without a client: the check is reported UNKNOWN with the host's error, and the code returned. */
static void test_metric_max_without_client(void **state)
{
    dr_host_api h = fake_host();
    dr_aws_dim dims[1] = {{"TableName", "orders"}};
    dr_aws_metric m;
    (void)state;

    memset(&seen, 0, sizeof(seen));
    seen.aws_mode = 1;
    assert_int_equal(dr_metric_max(&h, NULL, "us-west-2", "AWS/DynamoDB", "ReplicationLatency", dims, 1, 900,
                                   "replication_latency", &m),
                     DR_ECREDENTIALS);
    assert_int_equal(seen.checks, 1);
    assert_string_equal(seen.check_name, "replication_latency");
    assert_int_equal(seen.check.status, DR_STATUS_UNKNOWN);
    assert_non_null(strstr(seen.detail, "no credentials for us-west-2"));
    assert_int_equal(m.datapoints, 0);
}

static void test_status(void **state)
{
    (void)state;
    assert_string_equal(dr_status_str(DR_STATUS_OK), "OK");
    assert_string_equal(dr_status_str(DR_STATUS_WARNING), "WARNING");
    assert_string_equal(dr_status_str(DR_STATUS_CRITICAL), "CRITICAL");
    assert_string_equal(dr_status_str(DR_STATUS_UNKNOWN), "UNKNOWN");
    assert_string_equal(dr_status_str((dr_status)17), "UNKNOWN");

    assert_true(dr_status_severity(DR_STATUS_OK) < dr_status_severity(DR_STATUS_WARNING));
    assert_true(dr_status_severity(DR_STATUS_WARNING) < dr_status_severity(DR_STATUS_UNKNOWN));
    assert_true(dr_status_severity(DR_STATUS_UNKNOWN) < dr_status_severity(DR_STATUS_CRITICAL));

    /* a known failure outranks not knowing, whichever comes first (the numeric order would say otherwise) */
    assert_int_equal(dr_status_worse(DR_STATUS_UNKNOWN, DR_STATUS_CRITICAL), DR_STATUS_CRITICAL);
    assert_int_equal(dr_status_worse(DR_STATUS_CRITICAL, DR_STATUS_UNKNOWN), DR_STATUS_CRITICAL);
    assert_int_equal(dr_status_worse(DR_STATUS_WARNING, DR_STATUS_UNKNOWN), DR_STATUS_UNKNOWN);
    assert_int_equal(dr_status_worse(DR_STATUS_OK, DR_STATUS_WARNING), DR_STATUS_WARNING);
    assert_int_equal(dr_status_worse(DR_STATUS_OK, DR_STATUS_OK), DR_STATUS_OK);
}

static void test_reports(void **state)
{
    dr_host_api h = fake_host();
    dr_error err;
    (void)state;

    memset(&seen, 0, sizeof(seen));
    dr_report_check(&h, NULL, "vault_lock", DR_STATUS_WARNING, "unlocked", "locked", NULL, "no lock on %s");
    assert_int_equal(seen.checks, 1);
    assert_int_equal(seen.check.struct_size, sizeof(dr_check));
    assert_int_equal(seen.check.status, DR_STATUS_WARNING);
    assert_string_equal(seen.check_name, "vault_lock");
    assert_string_equal(seen.observed, "unlocked");
    assert_string_equal(seen.threshold, "locked");
    assert_string_equal(seen.unit, "(null)");
    assert_string_equal(seen.detail, "no lock on %s"); /* a detail, not a format */

    assert_int_equal(dr_report_change(&h, NULL, 0, "create vault", "v in us-west-2", "locked", NULL), 0);
    assert_int_equal(seen.state, DR_CHANGE_DONE);
    assert_string_equal(seen.action, "create vault");
    assert_string_equal(seen.target, "v in us-west-2");
    assert_string_equal(seen.change_detail, "locked");

    dr_error_clear(&err);
    dr_error_set(&err, DR_EDENIED, "AccessDenied: not allowed");
    assert_int_equal(dr_report_change(&h, NULL, DR_EDENIED, "create vault", "v", "locked", &err), DR_EDENIED);
    assert_int_equal(seen.state, DR_CHANGE_FAILED);
    assert_string_equal(seen.change_detail, "AccessDenied: not allowed");
    /* no message: the detail, else the code's name */
    assert_int_equal(dr_report_change(&h, NULL, DR_ETIMEDOUT, "a", "t", "the detail", NULL), DR_ETIMEDOUT);
    assert_string_equal(seen.change_detail, "the detail");
    dr_report_change(&h, NULL, DR_ETIMEDOUT, "a", "t", NULL, NULL);
    assert_string_equal(seen.change_detail, dr_strerror(DR_ETIMEDOUT));

    dr_report_planned(&h, NULL, "add replica", "orders in us-west-2", "version %s", "2019.11.21");
    assert_int_equal(seen.state, DR_CHANGE_PLANNED);
    assert_string_equal(seen.change_detail, "version 2019.11.21");
    dr_report_planned(&h, NULL, "add replica", "orders", NULL);
    assert_string_equal(seen.change_detail, "(null)");
    assert_int_equal(seen.changes, 6);
}

static void test_json_str(void **state)
{
    dr_buf b = DR_BUF_INIT;
    (void)state;

    assert_int_equal(dr_buf_json_str(&b, "a\"b\\c\n\x01/é"), 0);
    assert_string_equal(dr_buf_str(&b), "\"a\\\"b\\\\c\\u000a\\u0001/é\"");
    dr_buf_reset(&b);
    dr_buf_json_str(&b, NULL);
    dr_buf_puts(&b, ",");
    dr_buf_json_str(&b, "");
    assert_string_equal(dr_buf_str(&b), "\"\",\"\"");
    dr_buf_free(&b);
}

static void test_partition(void **state)
{
    (void)state;
    assert_string_equal(dr_aws_partition("us-east-1"), "aws");
    assert_string_equal(dr_aws_partition("eu-central-2"), "aws");
    assert_string_equal(dr_aws_partition("cn-north-1"), "aws-cn");
    assert_string_equal(dr_aws_partition("us-gov-west-1"), "aws-us-gov");
    assert_string_equal(dr_aws_partition("us-iso-east-1"), "aws-iso");
    assert_string_equal(dr_aws_partition("us-isob-east-1"), "aws-iso-b");
    assert_string_equal(dr_aws_partition("us-isof-south-1"), "aws-iso-f");
    assert_string_equal(dr_aws_partition("eu-isoe-west-1"), "aws-iso-e");
    assert_string_equal(dr_aws_partition("eusc-de-east-1"), "aws-eusc");
    assert_string_equal(dr_aws_partition(NULL), "aws");
}

static void test_request_init(void **state)
{
    dr_aws_request rq;
    (void)state;

    memset(&rq, 0x5a, sizeof(rq));
    dr_aws_request_init(&rq, sizeof(rq), "backup", DR_AWS_REST_JSON, "ListBackupVaults", "GET", "/backup-vaults/",
                        "");
    assert_int_equal(rq.struct_size, sizeof(rq));
    assert_string_equal(rq.service, "backup");
    assert_int_equal(rq.protocol, DR_AWS_REST_JSON);
    assert_string_equal(rq.operation, "ListBackupVaults");
    assert_string_equal(rq.method, "GET");
    assert_string_equal(rq.path, "/backup-vaults/");
    assert_null(rq.query); /* "" is no query */
    assert_null(rq.bucket);
    assert_null(rq.body);
    assert_null(rq.headers);
    assert_int_equal(rq.checksum, 0);
    dr_aws_request_init(&rq, sizeof(rq), "s3", DR_AWS_REST_XML, "GetBucketVersioning", "GET", "/", "versioning");
    assert_string_equal(rq.query, "versioning");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_aws), cmocka_unit_test(test_metric_max_without_client),   cmocka_unit_test(test_status),    cmocka_unit_test(test_reports),
        cmocka_unit_test(test_json_str),   cmocka_unit_test(test_partition), cmocka_unit_test(test_request_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
