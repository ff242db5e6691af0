/* test_profile.c: shared config parsing, endpoint precedence and endpoint rules, file locations, IMDS and ECS settings, from the SDK test data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "client.h"
#include "endpoints.h"
#include "profile.h"
#include "testutil.h"

static const char *ref;
static char tmpdir[256];

static json_t *load(const char *rel)
{
    char path[1024];
    json_error_t jerr;
    json_t *j;

    snprintf(path, sizeof(path), "%s/sdk-test-data/%s", ref, rel);
    j = json_load_file(path, 0, &jerr);
    if (!j)
        fail_msg("%s: %s", path, jerr.text);
    return j;
}

/* Compare parsed sections of one type with the expected {name: {key: value}} object. */
static int same_sections(const drs_profiles *p, drs_section_type type, json_t *want, const char *test)
{
    size_t n = 0;
    const char *name;
    json_t *props;

    for (size_t i = 0; i < p->n; i++)
        if (p->s[i].type == type)
            n++;
    if (n != json_object_size(want)) {
        printf("MISMATCH '%s': %zu sections, want %zu\n", test, n, json_object_size(want));
        return 0;
    }
    json_object_foreach(want, name, props) {
        const drs_section *s = drs_profiles_find(p, type, name);
        const char *key;
        json_t *val;
        if (!s || s->n != json_object_size(props)) {
            printf("MISMATCH '%s': section %s missing or with %zu keys\n", test, name, s ? s->n : 0);
            return 0;
        }
        json_object_foreach(props, key, val) {
            const char *got = NULL;
            for (size_t k = 0; k < s->n; k++)
                if (strcmp(s->kv[k].key, key) == 0)
                    got = s->kv[k].value;
            if (!got || strcmp(got, json_string_value(val)) != 0) {
                printf("MISMATCH '%s': %s.%s = '%s', want '%s'\n", test, name, key, got ? got : "(none)",
                       json_string_value(val));
                return 0;
            }
        }
    }
    return 1;
}

static void test_profile_parser(void **state)
{
    json_t *j = load("profile-parser-tests.json"), *t;
    size_t i;
    int ok = 0, total = 0;
    (void)state;

    json_array_foreach(json_object_get(j, "tests"), i, t) {
        json_t *in = json_object_get(t, "input"), *out = json_object_get(t, "output");
        const char *name = json_string_value(json_object_get(t, "name"));
        const char *cfg = json_string_value(json_object_get(in, "configFile"));
        const char *cred = json_string_value(json_object_get(in, "credentialsFile"));
        const char *want_err = json_string_value(json_object_get(out, "errorContaining"));
        drs_profiles p = {0};
        dr_error err;
        int rc = 0, good;

        dr_error_clear(&err);
        if (cfg)
            rc = drs_profiles_parse(&p, cfg, strlen(cfg), 0, &err);
        if (rc == 0 && cred)
            rc = drs_profiles_parse(&p, cred, strlen(cred), 1, &err);
        total++;
        if (want_err) {
            good = rc != 0 && strstr(err.message, want_err) != NULL;
            if (!good)
                printf("MISMATCH '%s': rc %d message '%s', want an error containing '%s'\n", name, rc, err.message,
                       want_err);
        } else {
            json_t *conf = json_object_get(out, "config");
            good = rc == 0 && same_sections(&p, DRS_SECTION_PROFILE, json_object_get(conf, "profiles"), name);
            if (good && json_object_get(conf, "sso_sessions"))
                good = same_sections(&p, DRS_SECTION_SSO_SESSION, json_object_get(conf, "sso_sessions"), name);
            if (rc != 0)
                printf("MISMATCH '%s': unexpected error %s\n", name, err.message);
        }
        ok += good;
        drs_profiles_free(&p);
    }
    printf("profile parser: %d/%d cases pass\n", ok, total);
    assert_int_equal(total, 65);
    assert_int_equal(ok, total);
    json_decref(j);
}

static void set_env_map(json_t *env)
{
    const char *k;
    json_t *v;

    json_object_foreach(env, k, v) setenv(k, json_string_value(v), 1);
}

static void test_configured_endpoints(void **state)
{
    json_t *j = load("configured-endpoint-urls-profile-tests.json"), *suite, *t;
    size_t si, i;
    int ok = 0, total = 0;
    (void)state;

    json_array_foreach(json_object_get(j, "testSuites"), si, suite) {
        dr_buf text = DR_BUF_INIT;
        const char *name, *key;
        json_t *props, *val;
        drs_profiles p = {0};
        dr_error err;

        /* The suite's profiles and services sections as a config file. */
        json_object_foreach(json_object_get(suite, "profiles"), name, props) {
            dr_buf_printf(&text, "[profile %s]\n", name);
            json_object_foreach(props, key, val) dr_buf_printf(&text, "%s = %s\n", key, json_string_value(val));
        }
        json_object_foreach(json_object_get(suite, "services"), name, props) {
            dr_buf_printf(&text, "[services %s]\n", name);
            json_object_foreach(props, key, val) {
                const char *sk;
                json_t *sv;
                dr_buf_printf(&text, "%s =\n", key);
                json_object_foreach(val, sk, sv) dr_buf_printf(&text, "  %s = %s\n", sk, json_string_value(sv));
            }
        }
        assert_int_equal(drs_profiles_parse(&p, dr_buf_str(&text), text.len, 0, &err), 0);
        json_array_foreach(json_object_get(suite, "endpointUrlTests"), i, t) {
            const char *profile = json_string_value(json_object_get(t, "profile"));
            json_t *cc = json_object_get(json_object_get(suite, "client_configs"),
                                         json_string_value(json_object_get(t, "client_config")));
            json_t *env = json_object_get(json_object_get(suite, "environments"),
                                          json_string_value(json_object_get(t, "environment")));
            const char *want = json_string_value(json_object_get(json_object_get(t, "output"), "endpointUrl"));
            drs_endpoint_opts o;
            drs_endpoint ep;

            tu_clear_aws_env();
            set_env_map(env);
            memset(&o, 0, sizeof(o));
            o.profiles = &p;
            o.profile = profile;
            o.client_url = json_string_value(json_object_get(cc, "endpoint_url"));
            o.ignore_configured = json_is_true(json_object_get(cc, "ignore_configured_endpoint_urls"));
            total++;
            if (drs_endpoint_resolve(&o, json_string_value(json_object_get(t, "service")),
                                     drs_profile_get(&p, profile, "region"), &ep, &err) != 0) {
                printf("MISMATCH '%s': %s\n", json_string_value(json_object_get(t, "name")), err.message);
                continue;
            }
            if (strcmp(ep.url, want) != 0) {
                printf("MISMATCH '%s': %s, want %s\n", json_string_value(json_object_get(t, "name")), ep.url, want);
                continue;
            }
            ok++;
        }
        drs_profiles_free(&p);
        dr_buf_free(&text);
    }
    tu_clear_aws_env();
    printf("configured endpoint URLs: %d/%d cases pass\n", ok, total);
    assert_int_equal(total, 39);
    assert_int_equal(ok, total);
    json_decref(j);
}

/* The rule-set tests whose parameters this client supports (no FIPS, dual-stack, accelerate, ARNs, outposts, account ids). */
static void test_endpoint_rules(void **state)
{
    static const struct {
        const char *file, *service;
    } files[] = {{"backup.json", "backup"},   {"cloudwatch.json", "monitoring"}, {"dynamodb.json", "dynamodb"},
                 {"rds.json", "rds"},         {"route53.json", "route53"},       {"s3.json", "s3"},
                 {"sts.json", "sts"}};
    int ok = 0, total = 0, skipped = 0;
    (void)state;

    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        char rel[128];
        json_t *j, *t;
        size_t i;
        snprintf(rel, sizeof(rel), "endpoint-tests/%s", files[f].file);
        j = load(rel);
        json_array_foreach(json_object_get(j, "testCases"), i, t) {
            json_t *params = json_object_get(t, "params"), *expect = json_object_get(t, "expect");
            const char *k, *doc = json_string_value(json_object_get(t, "documentation"));
            json_t *v;
            int usable = params != NULL;
            const char *bucket = json_string_value(json_object_get(params, "Bucket"));
            json_object_foreach(params, k, v) {
                if (strcmp(k, "Region") == 0 || strcmp(k, "Bucket") == 0 || strcmp(k, "ForcePathStyle") == 0 ||
                    strcmp(k, "UseGlobalEndpoint") == 0)
                    continue;
                if ((strcmp(k, "UseFIPS") == 0 || strcmp(k, "UseDualStack") == 0 || strcmp(k, "Accelerate") == 0) &&
                    json_is_false(v))
                    continue;
                usable = 0;
            }
            if (bucket && (strncmp(bucket, "arn:", 4) == 0 || strstr(bucket, "--op-s3") || strstr(bucket, "--x-s3")))
                usable = 0;
            if (!usable) {
                skipped++;
                continue;
            }
            tu_clear_aws_env();
            if (json_is_true(json_object_get(params, "UseGlobalEndpoint"))) {
                setenv("AWS_STS_REGIONAL_ENDPOINTS", "legacy", 1);
                setenv("AWS_S3_US_EAST_1_REGIONAL_ENDPOINT", "legacy", 1);
            }
            drs_endpoint_opts o;
            drs_endpoint ep;
            dr_error err;
            memset(&o, 0, sizeof(o));
            total++;
            int rc = drs_endpoint_resolve(&o, files[f].service, json_string_value(json_object_get(params, "Region")),
                                          &ep, &err);
            if (json_object_get(expect, "error")) {
                if (rc != 0)
                    ok++;
                else
                    printf("MISMATCH %s '%s': resolved %s, want an error\n", files[f].file, doc, ep.url);
                continue;
            }
            json_t *e = json_object_get(expect, "endpoint");
            const char *want = json_string_value(json_object_get(e, "url"));
            json_t *auth = json_array_get(json_object_get(json_object_get(e, "properties"), "authSchemes"), 0);
            const char *want_region = json_string_value(json_object_get(auth, "signingRegion"));
            if (rc != 0) {
                printf("MISMATCH %s '%s': %s\n", files[f].file, doc, err.message);
                continue;
            }
            dr_buf host = DR_BUF_INIT, base = DR_BUF_INIT, path = DR_BUF_INIT, url = DR_BUF_INIT;
            drs_endpoint_target(&ep, files[f].service, bucket, json_is_true(json_object_get(params, "ForcePathStyle")),
                                NULL, &host, &base, &path);
            dr_buf_puts(&url, dr_buf_str(&base));
            if (strcmp(dr_buf_str(&path), "/") != 0)
                dr_buf_puts(&url, dr_buf_str(&path));
            if (strcmp(dr_buf_str(&url), want) != 0 || (want_region && strcmp(want_region, ep.signing_region) != 0))
                printf("MISMATCH %s '%s': %s (%s), want %s (%s)\n", files[f].file, doc, dr_buf_str(&url),
                       ep.signing_region, want, want_region ? want_region : "-");
            else
                ok++;
            dr_buf_free(&host);
            dr_buf_free(&base);
            dr_buf_free(&path);
            dr_buf_free(&url);
        }
        json_decref(j);
    }
    tu_clear_aws_env();
    printf("endpoint rule tests: %d/%d applicable cases pass (%d use FIPS, dual-stack, accelerate, ARNs, outposts "
           "or account endpoints, which this client does not offer)\n",
           ok, total, skipped);
    assert_true(total >= 150);
    assert_int_equal(ok, total);
}

static void test_file_locations(void **state)
{
    json_t *j = load("file-location-tests.json"), *t;
    size_t i;
    int ok = 0, total = 0;
    (void)state;

    json_array_foreach(json_object_get(j, "tests"), i, t) {
        char *config = NULL, *creds = NULL;
        if (strcmp(json_string_value(json_object_get(t, "platform")), "linux") != 0)
            continue;
        tu_clear_aws_env();
        unsetenv("HOME");
        set_env_map(json_object_get(t, "environment"));
        drs_profiles_paths(&config, &creds);
        total++;
        if (strcmp(config, json_string_value(json_object_get(t, "configLocation"))) == 0 &&
            strcmp(creds, json_string_value(json_object_get(t, "credentialsLocation"))) == 0)
            ok++;
        else
            printf("MISMATCH '%s': %s %s\n", json_string_value(json_object_get(t, "name")), config, creds);
        free(config);
        free(creds);
    }
    setenv("HOME", tmpdir, 1);
    tu_clear_aws_env();
    printf("file locations: %d/%d linux cases pass\n", ok, total);
    assert_int_equal(total, 4);
    assert_int_equal(ok, total);
    json_decref(j);
}

static void test_imds_endpoints(void **state)
{
    json_t *j = load("imds-endpoint-tests.json"), *t;
    size_t i;
    int ok = 0, total = 0;
    (void)state;

    json_array_foreach(json_object_get(j, "tests"), i, t) {
        const char *docs = json_string_value(json_object_get(t, "docs"));
        json_t *res = json_object_get(t, "result");
        const char *fname;
        json_t *content;
        drs_profiles p = {0};
        dr_buf out = DR_BUF_INIT;
        dr_error err;
        int rc;

        tu_clear_aws_env();
        /* file names in "fs" are relative: put them in the temporary folder */
        json_object_foreach(json_object_get(t, "fs"), fname, content) {
            char path[512];
            snprintf(path, sizeof(path), "%s/%s", tmpdir, fname);
            tu_write_file(path, json_string_value(content));
        }
        set_env_map(json_object_get(t, "env"));
        if (getenv("AWS_CONFIG_FILE")) {
            char path[512];
            snprintf(path, sizeof(path), "%s/%s", tmpdir, getenv("AWS_CONFIG_FILE"));
            setenv("AWS_CONFIG_FILE", path, 1);
        } else {
            char path[512];
            snprintf(path, sizeof(path), "%s/none", tmpdir);
            setenv("AWS_CONFIG_FILE", path, 1);
        }
        assert_int_equal(drs_profiles_load(&p, &err), 0);
        rc = drs_imds_endpoint(&p, "default", json_string_value(json_object_get(t, "endpoint_override")),
                               json_string_value(json_object_get(t, "mode_override")), &out, &err);
        total++;
        if (json_object_get(res, "Ok")) {
            char want[256];
            snprintf(want, sizeof(want), "%s", json_string_value(json_object_get(res, "Ok")));
            char *tail = strstr(want, "/latest/api/token");
            if (tail)
                *tail = '\0';
            if (rc == 0 && strcmp(dr_buf_str(&out), want) == 0)
                ok++;
            else
                printf("MISMATCH '%s': rc %d %s, want %s\n", docs, rc, rc ? err.message : dr_buf_str(&out), want);
        } else {
            const char *want = json_string_value(json_object_get(res, "Err"));
            if (rc != 0 && strstr(err.message, want))
                ok++;
            else
                printf("MISMATCH '%s': rc %d '%s', want error '%s'\n", docs, rc, rc ? err.message : dr_buf_str(&out),
                       want);
        }
        dr_buf_free(&out);
        drs_profiles_free(&p);
    }
    tu_clear_aws_env();
    printf("IMDS endpoint selection: %d/%d cases pass\n", ok, total);
    assert_int_equal(total, 14);
    assert_int_equal(ok, total);
    json_decref(j);
}

static void test_ecs_uris(void **state)
{
    json_t *j = load("ecs-tests.json"), *t;
    size_t i;
    int ok = 0, total = 0;
    (void)state;

    json_array_foreach(json_object_get(j, "tests"), i, t) {
        json_t *res = json_object_get(t, "result");
        dr_buf out = DR_BUF_INIT;
        dr_error err;
        int rc;

        tu_clear_aws_env();
        set_env_map(json_object_get(t, "env"));
        dr_error_clear(&err);
        rc = drs_ecs_uri(&out, &err);
        total++;
        if (json_object_get(res, "Ok")) {
            if (rc == 0 && strcmp(dr_buf_str(&out), json_string_value(json_object_get(res, "Ok"))) == 0)
                ok++;
            else
                printf("MISMATCH '%s': %s\n", json_string_value(json_object_get(t, "docs")),
                       rc ? err.message : dr_buf_str(&out));
        } else {
            if (rc != 0 && strstr(err.message, json_string_value(json_object_get(res, "ErrorContains"))))
                ok++;
            else
                printf("MISMATCH '%s': rc %d %s\n", json_string_value(json_object_get(t, "docs")), rc, err.message);
        }
        dr_buf_free(&out);
    }
    tu_clear_aws_env();
    /* plain http elsewhere than loopback or the container addresses is refused */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.1.2.3/creds", 1);
    {
        dr_buf out = DR_BUF_INIT;
        dr_error err;
        assert_int_equal(drs_ecs_uri(&out, &err), DR_ECONFIG);
        dr_buf_free(&out);
    }
    tu_clear_aws_env();
    printf("ECS credential URIs: %d/%d cases pass\n", ok, total);
    assert_int_equal(total, 11);
    assert_int_equal(ok, total);
    json_decref(j);
}

/* What dr_aws_endpoint reports and how a request is addressed, without the reference data. */
static void test_client_endpoints(void **state)
{
    dr_aws_config cfg;
    dr_aws *c = NULL;
    dr_buf b = DR_BUF_INIT;
    dr_error err;
    char path[512];
    (void)state;

    tu_clear_aws_env();
    snprintf(path, sizeof(path), "%s/cfg-endpoints", tmpdir);
    tu_write_file(path, "[profile dr]\nregion = us-west-2\nservices = local\n[services local]\ndynamodb =\n"
                        "  endpoint_url = http://localhost:8000/\n");
    setenv("AWS_CONFIG_FILE", path, 1);
    snprintf(path, sizeof(path), "%s/none", tmpdir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    memset(&cfg, 0, sizeof(cfg));
    cfg.struct_size = sizeof(cfg);
    cfg.region = "us-west-2";
    cfg.profile = "dr";
    assert_int_equal(dr_aws_new(&cfg, &c, &err), 0);
    assert_string_equal(dr_aws_region(c), "us-west-2");
    assert_int_equal(dr_aws_endpoint(c, "dynamodb", &b, &err), 0);
    assert_string_equal(dr_buf_str(&b), "http://localhost:8000");
    dr_buf_reset(&b);
    assert_int_equal(dr_aws_endpoint(c, "rds", &b, &err), 0);
    assert_string_equal(dr_buf_str(&b), "https://rds.us-west-2.amazonaws.com");
    dr_buf_reset(&b);
    assert_int_equal(dr_aws_endpoint(c, "route53", &b, &err), 0);
    assert_string_equal(dr_buf_str(&b), "https://route53.amazonaws.com");
    dr_buf_reset(&b);
    assert_int_equal(dr_aws_endpoint(c, "iam", &b, &err), 0);
    assert_string_equal(dr_buf_str(&b), "https://iam.amazonaws.com");
    dr_buf_reset(&b);
    assert_int_equal(dr_aws_endpoint(c, "cloudwatch", &b, &err), 0);
    assert_string_equal(dr_buf_str(&b), "https://monitoring.us-west-2.amazonaws.com");
    dr_buf_reset(&b);
    assert_int_equal(dr_aws_endpoint(c, "sqs", &b, &err), 0); /* any service, by its signing name */
    assert_string_equal(dr_buf_str(&b), "https://sqs.us-west-2.amazonaws.com");
    dr_buf_reset(&b);
    assert_int_equal(dr_aws_endpoint(c, "no such/service", &b, &err), DR_EINVAL);
    dr_aws_free(c);

    /* an unknown profile is a configuration error */
    cfg.profile = "missing";
    assert_int_equal(dr_aws_new(&cfg, &c, &err), DR_ECONFIG);
    assert_non_null(strstr(err.message, "'missing' not found"));

    /* Route 53 with a custom endpoint signs with the client's region */
    drs_endpoint_opts o;
    drs_endpoint ep;
    memset(&o, 0, sizeof(o));
    o.client_url = "http://127.0.0.1:5000/prefix/";
    assert_int_equal(drs_endpoint_resolve(&o, "route53", "us-west-2", &ep, &err), 0);
    assert_string_equal(ep.signing_region, "us-west-2");
    assert_string_equal(ep.host, "127.0.0.1:5000");
    assert_string_equal(ep.url, "http://127.0.0.1:5000/prefix");
    dr_buf host = DR_BUF_INIT, base = DR_BUF_INIT, p = DR_BUF_INIT;
    assert_int_equal(drs_endpoint_resolve(&o, "s3", "us-east-1", &ep, &err), 0);
    drs_endpoint_target(&ep, "s3", "my-bucket", 0, "/dir/my%20file.txt", &host, &base, &p);
    assert_string_equal(dr_buf_str(&p), "/prefix/my-bucket/dir/my%20file.txt");
    assert_string_equal(dr_buf_str(&host), "127.0.0.1:5000");
    dr_buf_free(&host);
    dr_buf_free(&base);
    dr_buf_free(&p);
    o.client_url = "ftp://x";
    assert_int_equal(drs_endpoint_resolve(&o, "s3", "us-east-1", &ep, &err), DR_ECONFIG);
    o.client_url = "https://example.com:443";
    assert_int_equal(drs_endpoint_resolve(&o, "s3", "us-east-1", &ep, &err), 0);
    assert_string_equal(ep.host, "example.com");
    dr_buf_free(&b);
    tu_clear_aws_env();
}

/* A service outside the built-in table: the standard endpoint pattern, its own AWS_ENDPOINT_URL_<NAME>. */
static void test_generic_service_endpoints(void **state)
{
    static const struct {
        const char *service, *region, *host, *signing, *signing_region;
    } cases[] = {
        {"sqs", "us-east-1", "sqs.us-east-1.amazonaws.com", "sqs", "us-east-1"},
        {"sqs", "cn-north-1", "sqs.cn-north-1.amazonaws.com.cn", "sqs", "cn-north-1"},
        {"sqs", "us-gov-west-1", "sqs.us-gov-west-1.amazonaws.com", "sqs", "us-gov-west-1"},
        {"elasticfilesystem", "eu-west-1", "elasticfilesystem.eu-west-1.amazonaws.com", "elasticfilesystem",
         "eu-west-1"},
        {"ses:email", "eu-west-1", "email.eu-west-1.amazonaws.com", "ses", "eu-west-1"},
        {"route53-recovery-control-config", "us-west-2",
         "route53-recovery-control-config.us-west-2.amazonaws.com", "route53-recovery-control-config", "us-west-2"},
    };
    drs_endpoint_opts o;
    drs_endpoint ep;
    dr_error err;
    (void)state;

    tu_clear_aws_env();
    memset(&o, 0, sizeof(o));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(drs_endpoint_resolve(&o, cases[i].service, cases[i].region, &ep, &err), 0);
        assert_string_equal(ep.host, cases[i].host);
        assert_string_equal(ep.signing_name, cases[i].signing);
        assert_string_equal(ep.signing_region, cases[i].signing_region);
    }
    /* the service's own variable wins over the general one; a hyphen becomes an underscore */
    setenv("AWS_ENDPOINT_URL", "http://general.example:1", 1);
    setenv("AWS_ENDPOINT_URL_SQS", "http://localhost:5000", 1);
    setenv("AWS_ENDPOINT_URL_ROUTE53_RECOVERY_CONTROL_CONFIG", "http://localhost:5001", 1);
    assert_int_equal(drs_endpoint_resolve(&o, "sqs", "us-west-2", &ep, &err), 0);
    assert_string_equal(ep.url, "http://localhost:5000");
    assert_string_equal(ep.signing_region, "us-west-2");
    assert_int_equal(drs_endpoint_resolve(&o, "route53-recovery-control-config", "us-west-2", &ep, &err), 0);
    assert_string_equal(ep.url, "http://localhost:5001");
    assert_int_equal(drs_endpoint_resolve(&o, "elasticache", "us-west-2", &ep, &err), 0);
    assert_string_equal(ep.url, "http://general.example:1");
    tu_clear_aws_env();
    /* malformed names are refused */
    assert_int_equal(drs_endpoint_resolve(&o, "Not Valid", "us-west-2", &ep, &err), DR_EINVAL);
    assert_int_equal(drs_endpoint_resolve(&o, "sqs:", "us-west-2", &ep, &err), DR_EINVAL);
    assert_int_equal(drs_endpoint_resolve(&o, "-sqs", "us-west-2", &ep, &err), DR_EINVAL);
}

int main(void)
{
    const char *t = tu_tmpdir();
    const struct CMUnitTest local[] = {cmocka_unit_test(test_client_endpoints)};
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_parser),   cmocka_unit_test(test_configured_endpoints),
        cmocka_unit_test(test_endpoint_rules),   cmocka_unit_test(test_file_locations),
        cmocka_unit_test(test_imds_endpoints),   cmocka_unit_test(test_ecs_uris),
        cmocka_unit_test(test_generic_service_endpoints),
    };
    int rc;

    if (!t)
        return 1;
    snprintf(tmpdir, sizeof(tmpdir), "%s", t);
    rc = cmocka_run_group_tests_name("profiles and endpoints", local, NULL, NULL);
    ref = tu_reference_dir();
    if (ref)
        rc |= cmocka_run_group_tests_name("SDK test data", tests, NULL, NULL);
    {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return rc ? rc : (ref ? 0 : 1);
}
