/* aws_bench.c: sign-and-send DescribeTable calls to a local moto server at several concurrencies; reports calls/s, client CPU per call and signer cost. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>

#include "client.h"
#include "sigv4.h"

static const char *endpoint;
static const char *table = "bench";
static int total_calls = 1000;
static atomic_int next_call;
static atomic_int failures;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static char body[256];

static void *worker(void *arg)
{
    dr_aws *c = arg;

    while (atomic_fetch_add(&next_call, 1) < total_calls) {
        dr_doc *d = NULL;
        dr_error err;
        dr_error_clear(&err);
        if (dr_aws_json(c, "dynamodb", "DynamoDB_20120810", "DescribeTable", body, &d, &err) != 0) {
            if (atomic_fetch_add(&failures, 1) < 3)
                fprintf(stderr, "call failed: %s\n", err.message);
        }
        dr_doc_free(d);
    }
    return NULL;
}

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

/* The same request, signed once and replayed with bare libcurl: what moto costs without this client. */
static double raw_cpu_per_call;

static double raw_latency(int n)
{
    drs_sigv4_params p;
    drs_sigv4_result r;
    drs_header h[2] = {{"Content-Type", "application/x-amz-json-1.0"}, {"X-Amz-Target", "DynamoDB_20120810.DescribeTable"}};
    dr_error err;
    char host[128], line[3][512];
    struct curl_slist *sl = NULL;
    CURL *e = curl_easy_init();
    double t0;

    snprintf(host, sizeof(host), "%s", endpoint + strlen("http://"));
    memset(&p, 0, sizeof(p));
    p.method = "POST";
    p.host = host;
    p.path = "/";
    p.headers = h;
    p.n_headers = 2;
    p.body = body;
    p.body_len = strlen(body);
    p.access_key = "AKIDBENCH";
    p.secret_key = "bench-secret";
    p.region = "us-east-1";
    p.service = "dynamodb";
    p.when = time(NULL);
    p.normalize = 1;
    if (drs_sigv4_sign(&p, &r, &err) != 0)
        return -1;
    snprintf(line[0], sizeof(line[0]), "X-Amz-Date: %s", r.amz_date);
    snprintf(line[1], sizeof(line[1]), "Authorization: %s", dr_buf_str(&r.authorization));
    sl = curl_slist_append(sl, line[0]);
    sl = curl_slist_append(sl, line[1]);
    sl = curl_slist_append(sl, "Content-Type: application/x-amz-json-1.0");
    sl = curl_slist_append(sl, "X-Amz-Target: DynamoDB_20120810.DescribeTable");
    sl = curl_slist_append(sl, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, endpoint);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, sl);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    double c0 = cpu_s();
    t0 = now_s();
    for (int i = 0; i < n; i++)
        if (curl_easy_perform(e) != CURLE_OK)
            atomic_fetch_add(&failures, 1);
    t0 = now_s() - t0;
    raw_cpu_per_call = (cpu_s() - c0) / n;
    curl_slist_free_all(sl);
    curl_easy_cleanup(e);
    drs_sigv4_result_free(&r);
    return t0 / n;
}

static double signer_cost_us(int n)
{
    drs_sigv4_params p;
    drs_sigv4_result r;
    drs_header h[2] = {{"Content-Type", "application/x-amz-json-1.0"}, {"X-Amz-Target", "DynamoDB_20120810.DescribeTable"}};
    dr_error err;
    double t0;

    memset(&p, 0, sizeof(p));
    p.method = "POST";
    p.host = "dynamodb.us-east-1.amazonaws.com";
    p.path = "/";
    p.headers = h;
    p.n_headers = 2;
    p.body = body;
    p.body_len = strlen(body);
    p.access_key = "AKIDEXAMPLE";
    p.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    p.token = "IQoJb3JpZ2luX2VjEXAMPLETOKEN";
    p.region = "us-east-1";
    p.service = "dynamodb";
    p.when = time(NULL);
    p.normalize = 1;
    t0 = now_s();
    for (int i = 0; i < n; i++) {
        if (drs_sigv4_sign(&p, &r, &err) != 0)
            return -1;
        drs_sigv4_result_free(&r);
    }
    return (now_s() - t0) / n * 1e6;
}

static int usage(void)
{
    fprintf(stderr, "usage: aws_bench --endpoint http://127.0.0.1:PORT [--calls N] [--table NAME] [--concurrency 1,8,32]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *conc = "1,8,32";
    dr_aws_config cfg;
    dr_aws *c = NULL;
    dr_error err;
    dr_doc *d = NULL;
    double raw;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--endpoint") == 0 && i + 1 < argc)
            endpoint = argv[++i];
        else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
            total_calls = atoi(argv[++i]);
        else if (strcmp(argv[i], "--table") == 0 && i + 1 < argc)
            table = argv[++i];
        else if (strcmp(argv[i], "--concurrency") == 0 && i + 1 < argc)
            conc = argv[++i];
        else
            return usage();
    }
    if (!endpoint || strncmp(endpoint, "http://", 7) != 0 || total_calls <= 0)
        return usage();
    if (dr_sdk_global_init(&err) != 0)
        return 1;
    snprintf(body, sizeof(body), "{\"TableName\":\"%s\"}", table);
    setenv("AWS_ACCESS_KEY_ID", "AKIDBENCH", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "bench-secret", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    memset(&cfg, 0, sizeof(cfg));
    cfg.struct_size = sizeof(cfg);
    cfg.region = "us-east-1";
    cfg.endpoint_url = endpoint;
    if (dr_aws_new(&cfg, &c, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    /* the table, once (an existing one is fine) */
    {
        char create[512];
        snprintf(create, sizeof(create),
                 "{\"TableName\":\"%s\",\"AttributeDefinitions\":[{\"AttributeName\":\"id\",\"AttributeType\":\"S\"}],"
                 "\"KeySchema\":[{\"AttributeName\":\"id\",\"KeyType\":\"HASH\"}],\"BillingMode\":\"PAY_PER_REQUEST\"}",
                 table);
        if (dr_aws_json(c, "dynamodb", "DynamoDB_20120810", "CreateTable", create, &d, &err) != 0 &&
            strcmp(err.aws_code, "ResourceInUseException") != 0) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        dr_doc_free(d);
    }

    printf("signer: %.2f us per request (DescribeTable, header form, session token, 100000 signatures)\n",
           signer_cost_us(100000));
    raw = raw_latency(total_calls);
    printf("moto alone (one pre-signed request replayed with bare libcurl): %.3f ms per call, %.1f us CPU per call\n",
           raw * 1000.0, raw_cpu_per_call * 1e6);
    printf("%-12s %10s %12s %14s %16s\n", "concurrency", "calls/s", "latency ms", "client CPU us", "over moto alone");
    for (const char *p = conc; *p;) {
        int k = atoi(p);
        pthread_t th[256];
        double t0, c0, wall, cpu;
        uint64_t calls0, att0, calls1, att1;
        if (k < 1 || k > 256)
            return usage();
        atomic_store(&next_call, 0);
        dr_aws_counters(&calls0, &att0);
        c0 = cpu_s();
        t0 = now_s();
        for (int i = 0; i < k; i++)
            pthread_create(&th[i], NULL, worker, c);
        for (int i = 0; i < k; i++)
            pthread_join(th[i], NULL);
        wall = now_s() - t0;
        cpu = cpu_s() - c0;
        dr_aws_counters(&calls1, &att1);
        double lat = wall / total_calls * k;
        printf("%-12d %10.0f %12.3f %14.1f", k, total_calls / wall, lat * 1000.0, cpu / total_calls * 1e6);
        if (k == 1)
            printf(" %15.1f%%", (lat - raw) / raw * 100.0);
        printf("   (%llu calls, %llu attempts)\n", (unsigned long long)(calls1 - calls0),
               (unsigned long long)(att1 - att0));
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
    if (failures)
        printf("%d calls failed\n", (int)failures);
    dr_aws_free(c);
    dr_sdk_global_cleanup();
    return failures ? 1 : 0;
}
