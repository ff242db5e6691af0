/* test_moto.c: signed calls to a moto server in auth mode: DynamoDB, RDS, S3, STS, IAM, CloudWatch, Route 53, Backup, AssumeRole, wrong secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"
#include "moto.h"
#include "testutil.h"

static char tmpdir[256];
static char access_key[64], secret_key[128];
static const char *role_arn = "arn:aws:iam::123456789012:role/dr-cross";

static dr_aws *client(const char *profile, const char *region, const char *role, int max_attempts)
{
    dr_aws_config cfg;
    dr_aws *c = NULL;
    dr_error err;

    memset(&cfg, 0, sizeof(cfg));
    cfg.struct_size = sizeof(cfg);
    cfg.region = region;
    cfg.profile = profile;
    cfg.role_arn = role;
    cfg.external_id = role ? "dr-external" : NULL;
    cfg.max_attempts = max_attempts;
    dr_error_clear(&err);
    if (dr_aws_new(&cfg, &c, &err) != 0)
        fail_msg("dr_aws_new: %s", err.message);
    drs_aws_set_backoff_base(c, 0.01);
    return c;
}

static void check(int rc, const dr_error *err, const char *what)
{
    if (rc != 0)
        fail_msg("%s: rc %d: %s", what, rc, err->message);
}

static int iam(dr_aws *c, const char *op, const char *form, dr_doc **out, dr_error *err)
{
    dr_doc *d = NULL;
    int rc;

    dr_error_clear(err);
    rc = dr_aws_query(c, "iam", op, "2010-05-08", form, out ? out : &d, err);
    if (!out)
        dr_doc_free(d);
    return rc;
}

static int group_setup(void **state)
{
    const char *t = tu_tmpdir();
    char path[512], text[1024];
    dr_aws *c;
    dr_doc *d = NULL;
    dr_error err;
    dr_buf form = DR_BUF_INIT;
    const char *policy = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\","
                         "\"Resource\":\"*\"}]}";
    const char *trust = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
                        "\"arn:aws:iam::123456789012:user/dr-test\"},\"Action\":\"sts:AssumeRole\"}]}";
    (void)state;

    if (!t || moto_start() != 0)
        return -1;
    snprintf(tmpdir, sizeof(tmpdir), "%s", t);
    tu_clear_aws_env();
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_ENDPOINT_URL", moto_url(), 1);
    snprintf(path, sizeof(path), "%s/credentials", tmpdir);
    tu_write_file(path, "[setup]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = setup\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    snprintf(path, sizeof(path), "%s/config", tmpdir);
    tu_write_file(path, "");
    setenv("AWS_CONFIG_FILE", path, 1);

    /* With auth still off: a user with an allow-all policy and a key, and a role to assume. */
    c = client("setup", "us-east-1", NULL, 1);
    check(iam(c, "CreateUser", "&UserName=dr-test", NULL, &err), &err, "CreateUser");
    dr_aws_form_add(&form, "UserName", "dr-test");
    dr_aws_form_add(&form, "PolicyName", "all");
    dr_aws_form_add(&form, "PolicyDocument", policy);
    check(iam(c, "PutUserPolicy", form.data, NULL, &err), &err, "PutUserPolicy");
    dr_buf_reset(&form);
    check(iam(c, "CreateAccessKey", "&UserName=dr-test", &d, &err), &err, "CreateAccessKey");
    snprintf(access_key, sizeof(access_key), "%s",
             dr_node_str(dr_doc_root(d), "CreateAccessKeyResult.AccessKey.AccessKeyId"));
    snprintf(secret_key, sizeof(secret_key), "%s",
             dr_node_str(dr_doc_root(d), "CreateAccessKeyResult.AccessKey.SecretAccessKey"));
    dr_doc_free(d);
    dr_aws_form_add(&form, "RoleName", "dr-cross");
    dr_aws_form_add(&form, "AssumeRolePolicyDocument", trust);
    check(iam(c, "CreateRole", form.data, NULL, &err), &err, "CreateRole");
    dr_buf_reset(&form);
    dr_aws_form_add(&form, "RoleName", "dr-cross");
    dr_aws_form_add(&form, "PolicyName", "all");
    dr_aws_form_add(&form, "PolicyDocument", policy);
    check(iam(c, "PutRolePolicy", form.data, NULL, &err), &err, "PutRolePolicy");
    dr_buf_free(&form);
    dr_aws_free(c);
    assert_true(strlen(access_key) > 10 && strlen(secret_key) > 10);

    snprintf(path, sizeof(path), "%s/credentials", tmpdir);
    snprintf(text, sizeof(text),
             "[good]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
             "[bad]\naws_access_key_id = %s\naws_secret_access_key = %s-wrong\n",
             access_key, secret_key, access_key, secret_key);
    tu_write_file(path, text);
    snprintf(path, sizeof(path), "%s/config", tmpdir);
    snprintf(text, sizeof(text),
             "[profile cross]\nregion = us-west-2\nrole_arn = %s\nsource_profile = good\n"
             "role_session_name = dr-profile-session\nexternal_id = ext-1\n",
             role_arn);
    tu_write_file(path, text);
    /* From now on moto checks every signature. */
    if (moto_post("/moto-api/reset-auth", "0") != 200)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[600];
    (void)state;
    moto_stop();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int json_call(dr_aws *c, const char *op, const char *body, dr_doc **out, dr_error *err)
{
    dr_error_clear(err);
    return dr_aws_json(c, "dynamodb", "DynamoDB_20120810", op, body, out, err);
}

static void test_dynamodb(void **state)
{
    dr_aws *c = client("good", "us-east-1", NULL, 0);
    dr_doc *d = NULL;
    dr_error err;
    (void)state;

    check(json_call(c, "CreateTable",
                    "{\"TableName\":\"orders\",\"AttributeDefinitions\":[{\"AttributeName\":\"id\",\"AttributeType\":"
                    "\"S\"}],\"KeySchema\":[{\"AttributeName\":\"id\",\"KeyType\":\"HASH\"}],\"BillingMode\":"
                    "\"PAY_PER_REQUEST\",\"StreamSpecification\":{\"StreamEnabled\":true,\"StreamViewType\":"
                    "\"NEW_AND_OLD_IMAGES\"}}",
                    &d, &err),
          &err, "CreateTable");
    dr_doc_free(d);
    check(json_call(c, "DescribeTable", "{\"TableName\":\"orders\"}", &d, &err), &err, "DescribeTable");
    assert_string_equal(dr_node_str(dr_doc_root(d), "Table.TableName"), "orders");
    assert_int_equal(dr_node_bool(dr_doc_root(d), "Table.StreamSpecification.StreamEnabled", 0), 1);
    dr_doc_free(d);
    assert_int_equal(json_call(c, "DescribeTable", "{\"TableName\":\"missing\"}", &d, &err), DR_ENOTFOUND);
    assert_string_equal(err.aws_code, "ResourceNotFoundException");
    assert_int_equal(err.http_status, 400);
    assert_non_null(strstr(err.message, "dynamodb DescribeTable us-east-1: ResourceNotFoundException: "));
    dr_aws_free(c);
}

static void test_rds(void **state)
{
    dr_aws *c = client("good", "us-west-2", NULL, 0);
    dr_doc *d = NULL;
    dr_error err;
    dr_buf form = DR_BUF_INIT;
    (void)state;

    dr_error_clear(&err);
    check(dr_aws_query(c, "rds", "DescribeDBClusters", "2014-10-31", NULL, &d, &err), &err, "DescribeDBClusters");
    assert_non_null(dr_node_get(dr_doc_root(d), "DescribeDBClustersResult"));
    dr_doc_free(d);
    dr_aws_form_add(&form, "DBClusterIdentifier", "app-west");
    assert_int_equal(dr_aws_query(c, "rds", "DescribeDBClusters", "2014-10-31", form.data, &d, &err), DR_ENOTFOUND);
    assert_string_equal(err.aws_code, "DBClusterNotFoundFault");
    assert_int_equal(err.http_status, 404);
    dr_buf_free(&form);
    dr_aws_free(c);
}

static int s3_call(dr_aws *c, const char *method, const char *bucket, const char *path, const char *query,
                   const char *body, int checksum, dr_aws_response **out, dr_error *err)
{
    dr_aws_request rq;
    dr_aws_response *r = NULL;
    int rc;

    memset(&rq, 0, sizeof(rq));
    rq.struct_size = sizeof(rq);
    rq.service = "s3";
    rq.operation = method;
    rq.protocol = DR_AWS_REST_XML;
    rq.method = method;
    rq.bucket = bucket;
    rq.path = path;
    rq.query = query;
    rq.body = body;
    rq.checksum = checksum;
    dr_error_clear(err);
    rc = dr_aws_send(c, &rq, out ? out : &r, err);
    dr_aws_response_free(r);
    return rc;
}

static void test_s3(void **state)
{
    dr_aws *c = client("good", "us-east-1", NULL, 0);
    dr_aws_response *r = NULL;
    dr_error err;
    const char *versioning = "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>"
                             "Enabled</Status></VersioningConfiguration>";
    const char *replication =
        "<ReplicationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Role>arn:aws:iam::"
        "123456789012:role/s3-crr</Role><Rule><ID>all</ID><Priority>1</Priority><Filter><Prefix></Prefix></Filter>"
        "<Status>Enabled</Status><DeleteMarkerReplication><Status>Enabled</Status></DeleteMarkerReplication>"
        "<Destination><Bucket>arn:aws:s3:::dr-dst</Bucket><ReplicationTime><Status>Enabled</Status><Time><Minutes>15"
        "</Minutes></Time></ReplicationTime><Metrics><Status>Enabled</Status><EventThreshold><Minutes>15</Minutes>"
        "</EventThreshold></Metrics></Destination></Rule></ReplicationConfiguration>";
    (void)state;

    check(s3_call(c, "PUT", "dr-src", NULL, NULL, NULL, 0, NULL, &err), &err, "CreateBucket src");
    check(s3_call(c, "PUT", "dr-dst", NULL, NULL, NULL, 0, NULL, &err), &err, "CreateBucket dst");
    check(s3_call(c, "PUT", "dr-src", NULL, "versioning", versioning, 1, NULL, &err), &err, "PutBucketVersioning");
    check(s3_call(c, "PUT", "dr-dst", NULL, "versioning", versioning, 1, NULL, &err), &err, "PutBucketVersioning");
    check(s3_call(c, "GET", "dr-src", NULL, "versioning", NULL, 0, &r, &err), &err, "GetBucketVersioning");
    assert_string_equal(dr_node_str(dr_aws_response_doc(r), "Status"), "Enabled");
    dr_aws_response_free(r);
    check(s3_call(c, "PUT", "dr-src", NULL, "replication", replication, 1, NULL, &err), &err,
          "PutBucketReplication");
    check(s3_call(c, "GET", "dr-src", NULL, "replication", NULL, 0, &r, &err), &err, "GetBucketReplication");
    assert_string_equal(dr_node_str(dr_aws_response_doc(r), "Rule.Destination.Bucket"), "arn:aws:s3:::dr-dst");
    assert_string_equal(dr_node_str(dr_aws_response_doc(r), "Rule.Destination.ReplicationTime.Time.Minutes"), "15");
    dr_aws_response_free(r);
    /*
     * A key that needs encoding, then a multi-parameter query out of canonical order. (moto's own signature
     * check rejects keys with '+' or '(' and query values with '/' or ' ' even from botocore.)
     */
    check(s3_call(c, "PUT", "dr-src", "/dir/my%20file.txt", NULL, "hello", 0, NULL, &err), &err, "PutObject");
    check(s3_call(c, "HEAD", "dr-src", "/dir/my%20file.txt", NULL, NULL, 0, &r, &err), &err, "HeadObject");
    assert_string_equal(dr_aws_response_header(r, "Content-Length"), "5");
    assert_non_null(dr_aws_response_header(r, "x-amz-version-id"));
    dr_aws_response_free(r);
    check(s3_call(c, "GET", "dr-src", NULL, "list-type=2&prefix=dir&max-keys=5&fetch-owner=true&encoding-type=url", NULL, 0,
                  &r, &err),
          &err, "ListObjectsV2");
    assert_string_equal(dr_node_str(dr_aws_response_doc(r), "KeyCount"), "1");
    dr_aws_response_free(r);
    assert_int_equal(s3_call(c, "HEAD", "dr-src", "/nope", NULL, NULL, 0, NULL, &err), DR_ENOTFOUND);
    assert_int_equal(err.http_status, 404);
    assert_int_equal(s3_call(c, "GET", "dr-none", NULL, "versioning", NULL, 0, NULL, &err), DR_ENOTFOUND);
    assert_string_equal(err.aws_code, "NoSuchBucket");
    dr_aws_free(c);
}

static void test_sts(void **state)
{
    dr_aws *c = client("good", "us-west-2", NULL, 0);
    dr_doc *d = NULL;
    dr_error err;
    char acct[32];
    (void)state;

    dr_error_clear(&err);
    check(dr_aws_query(c, "sts", "GetCallerIdentity", "2011-06-15", NULL, &d, &err), &err, "GetCallerIdentity");
    assert_string_equal(dr_node_str(dr_doc_root(d), "GetCallerIdentityResult.Arn"),
                        "arn:aws:iam::123456789012:user/dr-test");
    dr_doc_free(d);
    check(dr_aws_account_id(c, acct, sizeof(acct), &err), &err, "account id");
    assert_string_equal(acct, "123456789012");
    dr_aws_free(c);
}

/* One ReplicationLatency datapoint (ms) of `table`, received in us-east-1, stamped `at`. */
static void put_latency(dr_aws *c, const char *table, int value, double at)
{
    dr_doc *d = NULL;
    dr_error err;
    char body[512];

    snprintf(body, sizeof(body),
             "{\"Namespace\":\"AWS/DynamoDB\",\"MetricData\":[{\"MetricName\":\"ReplicationLatency\","
             "\"Dimensions\":[{\"Name\":\"TableName\",\"Value\":\"%s\"},{\"Name\":\"ReceivingRegion\","
             "\"Value\":\"us-east-1\"}],\"Value\":%d,\"Unit\":\"Milliseconds\",\"Timestamp\":%.3f}]}",
             table, value, at);
    dr_error_clear(&err);
    check(dr_aws_json(c, "monitoring", "GraniteServiceVersion20100801", "PutMetricData", body, &d, &err), &err,
          "PutMetricData");
    dr_doc_free(d);
}

static void test_cloudwatch(void **state)
{
    dr_aws *c = client("good", "us-west-2", NULL, 0);
    dr_error err;
    dr_aws_metric m;
    dr_aws_dim dims[] = {{"TableName", "orders"}, {"ReceivingRegion", "us-east-1"}};
    (void)state;

    dr_error_clear(&err);
    put_latency(c, "orders", 900, (double)(long long)(dr_now() - 180));
    put_latency(c, "orders", 250, (double)(long long)(dr_now() - 60));
    check(dr_aws_metric_get(c, "AWS/DynamoDB", "ReplicationLatency", dims, 2, "Maximum", 900, 60, &m, &err), &err,
          "GetMetricStatistics");
    assert_int_equal(m.datapoints, 2);
    assert_true(m.max == 900);
    assert_true(m.latest == 250);
    assert_true(m.latest_time > dr_now() - 130 && m.latest_time < dr_now());
    check(dr_aws_metric_get(c, "AWS/DynamoDB", "Nothing", NULL, 0, "Average", 900, 60, &m, &err), &err, "empty");
    assert_int_equal(m.datapoints, 0);

    /* a datapoint stamped within the current second is read at once (EndTime is exclusive: the read asks up to
       the next whole second), so the newest value is never one second late */
    dims[0].value = "orders-now";
    put_latency(c, "orders-now", 5000, dr_now() - 0.001);
    check(dr_aws_metric_get(c, "AWS/DynamoDB", "ReplicationLatency", dims, 2, "Maximum", 900, 60, &m, &err), &err,
          "GetMetricStatistics now");
    assert_int_equal(m.datapoints, 1);
    assert_true(m.latest == 5000);
    dr_aws_free(c);
}

static int route53_post(dr_aws *c, dr_doc **out, dr_error *err)
{
    dr_aws_request rq;
    memset(&rq, 0, sizeof(rq));
    rq.struct_size = sizeof(rq);
    rq.service = "route53";
    rq.operation = "CreateHealthCheck";
    rq.protocol = DR_AWS_REST_XML;
    rq.method = "POST";
    rq.path = "/2013-04-01/healthcheck";
    rq.body = "<CreateHealthCheckRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><CallerReference>"
              "dr-1</CallerReference><HealthCheckConfig><Port>443</Port><Type>HTTPS</Type><ResourcePath>/health"
              "</ResourcePath><FullyQualifiedDomainName>app.example.com</FullyQualifiedDomainName><RequestInterval>30"
              "</RequestInterval><FailureThreshold>3</FailureThreshold></HealthCheckConfig></CreateHealthCheckRequest>";
    dr_error_clear(err);
    return dr_aws_rest(c, &rq, out, err);
}

static int backup_put(dr_aws *c, dr_doc **out, dr_error *err)
{
    dr_aws_request rq;
    memset(&rq, 0, sizeof(rq));
    rq.struct_size = sizeof(rq);
    rq.service = "backup";
    rq.operation = "CreateBackupPlan";
    rq.protocol = DR_AWS_REST_JSON;
    rq.method = "PUT";
    rq.path = "/backup/plans/";
    rq.body = "{\"BackupPlan\":{\"BackupPlanName\":\"dr-daily\",\"Rules\":[{\"RuleName\":\"daily\","
              "\"TargetBackupVaultName\":\"Default\",\"ScheduleExpression\":\"cron(0 5 ? * * *)\",\"Lifecycle\":"
              "{\"DeleteAfterDays\":35}}]}}";
    dr_error_clear(err);
    return dr_aws_rest(c, &rq, out, err);
}

static void test_route53_backup(void **state)
{
    dr_aws *c = client("good", "us-west-2", NULL, 0);
    dr_doc *d = NULL;
    dr_error err;
    (void)state;

    check(route53_post(c, &d, &err), &err, "CreateHealthCheck");
    assert_non_null(dr_node_str(dr_doc_root(d), "HealthCheck.Id"));
    assert_string_equal(dr_node_str(dr_doc_root(d), "HealthCheck.HealthCheckConfig.FullyQualifiedDomainName"),
                        "app.example.com");
    dr_doc_free(d);
    check(backup_put(c, &d, &err), &err, "CreateBackupPlan");
    assert_non_null(dr_node_str(dr_doc_root(d), "BackupPlanId"));
    dr_doc_free(d);
    dr_aws_free(c);
}

static void test_assume_role(void **state)
{
    dr_doc *d = NULL;
    dr_error err;
    dr_aws *c;
    (void)state;

    /* a role on top of a profile's keys, from the client config */
    c = client("good", "us-east-1", role_arn, 0);
    dr_error_clear(&err);
    check(dr_aws_query(c, "sts", "GetCallerIdentity", "2011-06-15", NULL, &d, &err), &err, "GetCallerIdentity");
    assert_non_null(strstr(dr_node_str(dr_doc_root(d), "GetCallerIdentityResult.Arn"), ":assumed-role/dr-cross/"));
    dr_doc_free(d);
    check(json_call(c, "ListTables", "{}", &d, &err), &err, "ListTables as the role");
    dr_doc_free(d);
    dr_aws_free(c);
    /* a role_arn + source_profile profile of the config file */
    c = client("cross", "us-west-2", NULL, 0);
    check(dr_aws_query(c, "sts", "GetCallerIdentity", "2011-06-15", NULL, &d, &err), &err, "GetCallerIdentity");
    assert_non_null(strstr(dr_node_str(dr_doc_root(d), "GetCallerIdentityResult.Arn"),
                           ":assumed-role/dr-cross/dr-profile-session"));
    dr_doc_free(d);
    dr_aws_free(c);
}

static void expect_bad_signature(int rc, const dr_error *err, const char *what)
{
    if (rc != DR_EAWS || strcmp(err->aws_code, "SignatureDoesNotMatch") != 0 || err->http_status != 403 ||
        !strstr(err->message, "SignatureDoesNotMatch"))
        fail_msg("%s with a wrong secret: rc %d code '%s' status %d: %s", what, rc, err->aws_code, err->http_status,
                 err->message);
    printf("  wrong secret, %s -> %s\n", what, err->message);
}

static void test_wrong_secret(void **state)
{
    dr_aws *c = client("bad", "us-east-1", NULL, 0);
    dr_doc *d = NULL;
    dr_aws_response *r = NULL;
    dr_error err;
    dr_aws_metric m;
    (void)state;

    expect_bad_signature(json_call(c, "DescribeTable", "{\"TableName\":\"orders\"}", &d, &err), &err, "DynamoDB");
    dr_error_clear(&err);
    expect_bad_signature(dr_aws_query(c, "rds", "DescribeDBClusters", "2014-10-31", NULL, &d, &err), &err, "RDS");
    expect_bad_signature(s3_call(c, "GET", "dr-src", NULL, "versioning", NULL, 0, &r, &err), &err, "S3");
    dr_error_clear(&err);
    expect_bad_signature(dr_aws_query(c, "sts", "GetCallerIdentity", "2011-06-15", NULL, &d, &err), &err, "STS");
    dr_error_clear(&err);
    expect_bad_signature(dr_aws_metric_get(c, "AWS/DynamoDB", "X", NULL, 0, "Maximum", 600, 60, &m, &err), &err,
                         "CloudWatch");
    expect_bad_signature(route53_post(c, &d, &err), &err, "Route 53");
    expect_bad_signature(backup_put(c, &d, &err), &err, "Backup");
    assert_null(d);
    assert_null(r);
    dr_aws_free(c);
}

static void test_not_implemented(void **state)
{
    dr_aws *c = client("good", "us-east-1", NULL, 1);
    dr_doc *d = NULL;
    dr_error err;
    int rc;
    (void)state;

    rc = json_call(c, "CreateGlobalTable", "{\"GlobalTableName\":\"orders\",\"ReplicationGroup\":[{\"RegionName\":"
                                           "\"us-east-1\"}]}",
                   &d, &err);
    printf("  moto without the operation -> %s\n", err.message);
    assert_int_equal(rc, DR_EAWS);
    assert_non_null(strstr(err.message, "with a non-AWS (HTML) body"));
    assert_null(d);
    dr_aws_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dynamodb),      cmocka_unit_test(test_rds),          cmocka_unit_test(test_s3),
        cmocka_unit_test(test_sts),           cmocka_unit_test(test_cloudwatch),   cmocka_unit_test(test_route53_backup),
        cmocka_unit_test(test_assume_role),   cmocka_unit_test(test_wrong_secret), cmocka_unit_test(test_not_implemented),
    };
    return cmocka_run_group_tests_name("moto (auth mode)", tests, group_setup, group_teardown);
}
