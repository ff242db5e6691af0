/* test_multi.c: several calls at once (dr_aws_send_all, dr_aws_run_all) against a loopback echo server: order, overlap, partial failure, cancellation, deadline; dr_wait_for's backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "client.h"
#include "dr/check.h"
#include "testutil.h"

/*
 * The echo server answers each request after the delay its x-test-delay-ms
 * header asks for, with the status of x-test-status (an AWS JSON error for a
 * 4xx), and a body that carries the request body back: {"got": BODY} for a
 * JSON body (with the members DescribeTable and ListTables always answer),
 * <ActionResponse><ActionResult><Body>BODY</Body>... for a Query form. It counts the
 * requests in flight at once.
 */
#define MAX_CONNS 128

typedef struct echo {
    int lfd, port;
    pthread_t acceptor;
    pthread_t conns[MAX_CONNS];
    int fds[MAX_CONNS];
    int n_conns;
    pthread_mutex_t mu;
    int in_flight, max_in_flight, requests;
    atomic_int stopping;
    char url[64];
} echo;

/* A counter of the server's, read under its lock (the connection threads write it). */
static int echo_get(echo *s, int *field)
{
    int v;

    pthread_mutex_lock(&s->mu);
    v = *field;
    pthread_mutex_unlock(&s->mu);
    return v;
}

typedef struct conn_arg {
    echo *s;
    int fd;
} conn_arg;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long header_num(const char *head, const char *name, long dflt)
{
    const char *p = head;
    size_t nl = strlen(name);

    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':')
            return strtol(p + nl + 1, NULL, 10);
    }
    return dflt;
}

static void *conn_main(void *p)
{
    conn_arg *a = p;
    echo *s = a->s;
    int fd = a->fd;
    char buf[65536];
    size_t have = 0;

    free(a);
    for (;;) {
        char *end;
        long clen, delay, status;
        int seq;
        size_t head_len, total;
        ssize_t r;
        char out[70000];
        char body[65536];
        int n;

        buf[have] = '\0';
        while (!(end = strstr(buf, "\r\n\r\n"))) {
            if (have >= sizeof(buf) - 1 || (r = read(fd, buf + have, sizeof(buf) - 1 - have)) <= 0)
                goto done;
            have += (size_t)r;
            buf[have] = '\0';
        }
        head_len = (size_t)(end - buf) + 4;
        clen = header_num(buf, "Content-Length", 0);
        delay = header_num(buf, "x-test-delay-ms", 0);
        status = header_num(buf, "x-test-status", 200);
        total = head_len + (size_t)clen;
        while (have < total) {
            if (total >= sizeof(buf) || (r = read(fd, buf + have, sizeof(buf) - 1 - have)) <= 0)
                goto done;
            have += (size_t)r;
        }
        pthread_mutex_lock(&s->mu);
        seq = ++s->requests;
        if (++s->in_flight > s->max_in_flight)
            s->max_in_flight = s->in_flight;
        pthread_mutex_unlock(&s->mu);
        for (int64_t until = now_ms() + delay; !s->stopping && now_ms() < until;)
            usleep(5000);
        if (status >= 400) {
            snprintf(body, sizeof(body), "{\"__type\":\"com.amazonaws.dynamodb.v20120810#%s\",\"message\":\"echo\"}",
                     status == 404 ? "ResourceNotFoundException" : "ValidationException");
        } else if (clen > 0 && buf[head_len] == '{') {
            /* with the members DescribeTable and ListTables answers always have */
            snprintf(body, sizeof(body), "{\"Table\":{},\"TableNames\":[],\"got\":%.*s}", (int)clen,
                     buf + head_len);
        } else {
            /* a Query answer: <ActionResponse><ActionResult><Body>the form</Body></ActionResult></ActionResponse> */
            char action[64] = "Echo";
            const char *act = strstr(buf + head_len, "Action=");
            size_t o;
            if (act) {
                size_t k = 0;
                for (act += 7; *act && *act != '&' && k + 1 < sizeof(action); act++)
                    action[k++] = *act;
                action[k] = '\0';
            }
            o = (size_t)snprintf(body, sizeof(body), "<%sResponse><%sResult><Body>", action, action);
            for (long i = 0; i < clen && o + 8 < sizeof(body); i++) {
                char ch = buf[head_len + (size_t)i];
                if (ch == '&')
                    o += (size_t)snprintf(body + o, sizeof(body) - o, "&amp;");
                else if (ch == '<')
                    o += (size_t)snprintf(body + o, sizeof(body) - o, "&lt;");
                else
                    body[o++] = ch;
            }
            snprintf(body + o, sizeof(body) - o, "</Body></%sResult></%sResponse>", action, action);
        }
        n = snprintf(out, sizeof(out),
                     "HTTP/1.1 %ld X\r\nContent-Type: application/x-amz-json-1.0\r\nx-test-seq: %d\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     status, seq, strlen(body), body);
        pthread_mutex_lock(&s->mu);
        s->in_flight--;
        pthread_mutex_unlock(&s->mu);
        if (s->stopping || write(fd, out, (size_t)n) != n)
            goto done;
        memmove(buf, buf + total, have - total);
        have -= total;
    }
done:
    return NULL;
}

static void *accept_main(void *p)
{
    echo *s = p;

    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);
        conn_arg *a;
        if (fd < 0 || s->stopping) {
            if (fd >= 0)
                close(fd);
            return NULL;
        }
        pthread_mutex_lock(&s->mu);
        if (s->n_conns == MAX_CONNS || !(a = malloc(sizeof(*a)))) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            continue;
        }
        a->s = s;
        a->fd = fd;
        s->fds[s->n_conns] = fd;
        if (pthread_create(&s->conns[s->n_conns], NULL, conn_main, a) == 0)
            s->n_conns++;
        else
            free(a), close(fd);
        pthread_mutex_unlock(&s->mu);
    }
}

static echo *echo_start(void)
{
    echo *s = calloc(1, sizeof(*s));
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);

    assert_non_null(s);
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s->lfd, 128), 0);
    getsockname(s->lfd, (struct sockaddr *)&sa, &sl);
    s->port = ntohs(sa.sin_port);
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
    pthread_create(&s->acceptor, NULL, accept_main, s);
    return s;
}

static void echo_stop(echo *s)
{
    s->stopping = 1;
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->acceptor, NULL);
    close(s->lfd);
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_conns; i++)
        shutdown(s->fds[i], SHUT_RDWR);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n_conns; i++) {
        pthread_join(s->conns[i], NULL);
        close(s->fds[i]);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void base_env(void)
{
    char path[512];
    const char *tmp = tu_tmpdir();

    tu_clear_aws_env();
    snprintf(path, sizeof(path), "%s/no-config", tmp);
    setenv("AWS_CONFIG_FILE", path, 1);
    snprintf(path, sizeof(path), "%s/no-credentials", tmp);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTESTMULTI", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key", 1);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
}

static dr_aws *client_at(const char *url, int max_attempts)
{
    dr_aws_config cfg;
    dr_aws *c = NULL;
    dr_error err;

    base_env();
    memset(&cfg, 0, sizeof(cfg));
    cfg.struct_size = sizeof(cfg);
    cfg.region = "us-east-1";
    cfg.endpoint_url = url;
    cfg.max_attempts = max_attempts;
    cfg.attempt_timeout_ms = 20000;
    cfg.connect_timeout_ms = 1000;
    dr_error_clear(&err);
    if (dr_aws_new(&cfg, &c, &err) != 0)
        fail_msg("dr_aws_new: %s", err.message);
    drs_aws_set_backoff_base(c, 0.005);
    return c;
}

/* Call i: a DescribeTable whose body names i, answered after delay_ms with status. */
typedef struct hdrs {
    char delay[40], status[40];
    const char *lines[3];
} hdrs;

static void json_call(dr_aws_call *call, hdrs *h, char *body, size_t body_size, dr_aws *c, int i, int delay_ms,
                      int status)
{
    snprintf(body, body_size, "{\"i\":%d}", i);
    assert_int_equal(dr_aws_call_json(call, c, "dynamodb", "DynamoDB_20120810", "DescribeTable", body), 0);
    snprintf(h->delay, sizeof(h->delay), "x-test-delay-ms: %d", delay_ms);
    snprintf(h->status, sizeof(h->status), "x-test-status: %d", status);
    h->lines[0] = h->delay;
    h->lines[1] = h->status;
    h->lines[2] = NULL;
    call->req.headers = h->lines;
}

#define N_ORDER 8

static void test_order_and_overlap(void **state)
{
    echo *s = echo_start();
    dr_aws *c = client_at(s->url, 3);
    dr_aws_call calls[N_ORDER];
    hdrs h[N_ORDER];
    char bodies[N_ORDER][32];
    dr_error err;
    int64_t t0, wall;
    (void)state;

    /* the first call answers last, the last first: results stay in array order */
    for (int i = 0; i < N_ORDER; i++)
        json_call(&calls[i], &h[i], bodies[i], sizeof(bodies[i]), c, i, (N_ORDER - i) * 40, 200);
    calls[3].keep_response = 1;
    dr_error_clear(&err);
    t0 = dr_mono_ms();
    assert_int_equal(dr_aws_send_all(calls, N_ORDER, 0, &err), 0);
    wall = dr_mono_ms() - t0;
    for (int i = 0; i < N_ORDER; i++) {
        assert_int_equal(calls[i].rc, 0);
        assert_non_null(calls[i].doc);
        assert_int_equal((int)dr_node_num(dr_doc_root(calls[i].doc), "got.i", -1), i);
    }
    assert_non_null(calls[3].response);
    assert_int_equal(dr_aws_response_status(calls[3].response), 200);
    assert_null(calls[2].response);
    /* overlapped: 1,440 ms one after another, one longest delay (320 ms) together */
    assert_true(wall < 900);
    assert_true(echo_get(s, &s->max_in_flight) >= 4);
    dr_aws_calls_free(calls, N_ORDER);
    assert_null(calls[0].doc);

    /* max_parallel bounds the calls in flight */
    pthread_mutex_lock(&s->mu);
    s->max_in_flight = 0;
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < N_ORDER; i++)
        json_call(&calls[i], &h[i], bodies[i], sizeof(bodies[i]), c, i, 30, 200);
    assert_int_equal(dr_aws_send_all(calls, N_ORDER, 2, &err), 0);
    assert_true(echo_get(s, &s->max_in_flight) <= 2);
    assert_true(echo_get(s, &s->max_in_flight) >= 1);
    dr_aws_calls_free(calls, N_ORDER);

    /* one call, and none */
    json_call(&calls[0], &h[0], bodies[0], sizeof(bodies[0]), c, 7, 0, 200);
    assert_int_equal(dr_aws_send_all(calls, 1, 0, &err), 0);
    assert_non_null(calls[0].doc);
    dr_aws_calls_free(calls, 1);
    assert_int_equal(dr_aws_send_all(calls, 0, 0, &err), 0);
    dr_aws_free(c);
    echo_stop(s);
}

/* Batches reuse the client's kept-alive connections: later batches of as many calls open none (the shared cache
   keeps more idle connections than libcurl's default handful). */
#define N_REUSE 12

static void test_connection_reuse(void **state)
{
    echo *s = echo_start();
    dr_aws *c = client_at(s->url, 3);
    dr_aws_call calls[N_REUSE];
    hdrs h[N_REUSE];
    char bodies[N_REUSE][32];
    dr_error err;
    int first;
    (void)state;

    dr_error_clear(&err);
    for (int i = 0; i < N_REUSE; i++)
        json_call(&calls[i], &h[i], bodies[i], sizeof(bodies[i]), c, i, 50, 200);
    assert_int_equal(dr_aws_send_all(calls, N_REUSE, 0, &err), 0);
    dr_aws_calls_free(calls, N_REUSE);
    first = echo_get(s, &s->n_conns);
    assert_true(first >= 1 && first <= N_REUSE);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N_REUSE; i++)
            json_call(&calls[i], &h[i], bodies[i], sizeof(bodies[i]), c, i, 50, 200);
        assert_int_equal(dr_aws_send_all(calls, N_REUSE, 0, &err), 0);
        dr_aws_calls_free(calls, N_REUSE);
    }
    assert_int_equal(echo_get(s, &s->requests), 4 * N_REUSE);
    assert_int_equal(echo_get(s, &s->n_conns), first);
    dr_aws_free(c);
    echo_stop(s);
}

/*
 * Hook threads that share one client call at once, each on its own: every answer is the one to its own request
 * (the agent's parallel hooks share the client of a region; an answer read on another thread's connection would
 * give one table the metrics of another).
 */
#define N_THREADS 12
#define N_CALLS 150

typedef struct own_answer {
    dr_aws *c;
    int id;
    int wrong, failed;
} own_answer;

static void *own_answer_thread(void *arg)
{
    own_answer *t = arg;
    char body[64];

    for (int k = 0; k < N_CALLS; k++) {
        dr_doc *doc = NULL;
        dr_error err;
        long want = (long)t->id * 100000 + k;

        dr_error_clear(&err);
        snprintf(body, sizeof(body), "{\"i\":%ld}", want);
        if (dr_aws_json(t->c, "dynamodb", "DynamoDB_20120810", "DescribeTable", body, &doc, &err) != 0)
            t->failed++;
        else if ((long)dr_node_num(dr_doc_root(doc), "got.i", -1) != want)
            t->wrong++;
        dr_doc_free(doc);
    }
    return NULL;
}

static void test_threads_get_their_own_answers(void **state)
{
    echo *s = echo_start();
    dr_aws *c = client_at(s->url, 1);
    pthread_t th[N_THREADS];
    own_answer t[N_THREADS];
    int wrong = 0, failed = 0;
    (void)state;

    for (int i = 0; i < N_THREADS; i++) {
        t[i] = (own_answer){c, i + 1, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, own_answer_thread, &t[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        wrong += t[i].wrong;
        failed += t[i].failed;
    }
    assert_int_equal(echo_get(s, &s->requests), N_THREADS * N_CALLS - failed);
    assert_int_equal(failed, 0);
    assert_int_equal(wrong, 0);
    dr_aws_free(c);
    echo_stop(s);
}

static void test_query_and_mixed_clients(void **state)
{
    echo *s = echo_start();
    dr_aws *a = client_at(s->url, 3), *b = client_at(s->url, 3);
    dr_aws_call calls[2];
    dr_buf form = DR_BUF_INIT;
    dr_error err;
    const char *body;
    (void)state;

    dr_aws_form_add(&form, "DBClusterIdentifier", "orders-db");
    assert_int_equal(dr_aws_call_query(&calls[0], a, "rds", "DescribeDBClusters", "2014-10-31", dr_buf_str(&form)), 0);
    dr_buf_free(&form); /* the call keeps its own copy */
    assert_int_equal(dr_aws_call_json(&calls[1], b, "dynamodb", "DynamoDB_20120810", "ListTables", NULL), 0);
    dr_error_clear(&err);
    assert_int_equal(dr_aws_send_all(calls, 2, 0, &err), 0);
    body = dr_node_str(dr_doc_root(calls[0].doc), "DescribeDBClustersResult.Body");
    assert_non_null(body);
    assert_string_equal(body, "Action=DescribeDBClusters&Version=2014-10-31&DBClusterIdentifier=orders-db");
    assert_non_null(dr_node_get(dr_doc_root(calls[1].doc), "got"));
    dr_aws_calls_free(calls, 2);
    dr_aws_free(a);
    dr_aws_free(b);
    echo_stop(s);
}

static void test_partial_failure(void **state)
{
    echo *s = echo_start();
    dr_aws *c = client_at(s->url, 3);
    dr_aws_call calls[6];
    hdrs h[6];
    char bodies[6][32];
    dr_error err;
    int status[6] = {200, 400, 200, 404, 200, 200};
    (void)state;

    for (int i = 0; i < 6; i++)
        json_call(&calls[i], &h[i], bodies[i], sizeof(bodies[i]), c, i, 20, status[i]);
    calls[5].client = NULL; /* an invalid call fails alone */
    dr_error_clear(&err);
    assert_int_equal(dr_aws_send_all(calls, 6, 0, &err), DR_EAWS);
    assert_non_null(strstr(err.message, "3 of 6 calls failed"));
    assert_non_null(strstr(err.message, "ValidationException"));
    assert_string_equal(err.aws_code, "ValidationException");
    assert_int_equal(err.http_status, 400);
    for (int i = 0; i < 6; i++) {
        if (i == 1) {
            assert_int_equal(calls[i].rc, DR_EAWS);
            assert_null(calls[i].doc);
        } else if (i == 3) {
            assert_int_equal(calls[i].rc, DR_ENOTFOUND);
            assert_string_equal(calls[i].err.aws_code, "ResourceNotFoundException");
        } else if (i == 5) {
            assert_int_equal(calls[i].rc, DR_EINVAL);
        } else {
            assert_int_equal(calls[i].rc, 0);
            assert_int_equal((int)dr_node_num(dr_doc_root(calls[i].doc), "got.i", -1), i);
        }
    }
    /* a 4xx answer is not retried: 5 requests reached the server */
    assert_int_equal(echo_get(s, &s->requests), 5);
    dr_aws_calls_free(calls, 6);
    dr_aws_free(c);
    echo_stop(s);
}

static int stop_after(void *arg)
{
    return dr_mono_ms() >= *(int64_t *)arg;
}

static void test_cancel_mid_flight(void **state)
{
    echo *s = echo_start();
    dr_aws *c = client_at(s->url, 3);
    dr_aws_call calls[6];
    hdrs h[6];
    char bodies[6][32];
    dr_error err;
    int64_t t0, when, d;
    int (*stop)(void *);
    void *arg;
    (void)state;

    for (int i = 0; i < 6; i++)
        json_call(&calls[i], &h[i], bodies[i], sizeof(bodies[i]), c, i, i == 0 ? 0 : 10000, 200);
    t0 = dr_mono_ms();
    when = t0 + 250;
    dr_aws_set_thread_limits(0, stop_after, &when);
    dr_error_clear(&err);
    /* at most 3 at once: three calls are still waiting for a worker when the stop comes */
    assert_int_equal(dr_aws_send_all(calls, 6, 3, &err), DR_ECANCELED);
    assert_true(dr_mono_ms() - t0 < 2000);
    assert_int_equal(calls[0].rc, 0);
    for (int i = 1; i < 6; i++)
        assert_int_equal(calls[i].rc, DR_ECANCELED);
    assert_non_null(strstr(err.message, "5 of 6 calls failed"));
    /* the caller's own limits are left as they were */
    drs_limits_get(&d, &stop, &arg);
    assert_int_equal(d, 0);
    assert_ptr_equal(stop, stop_after);
    assert_ptr_equal(arg, &when);
    dr_aws_set_thread_limits(0, NULL, NULL);
    /* calls 0-2 started, 3 took the place of the quick 0; 4 and 5 never reached the server */
    assert_int_equal(echo_get(s, &s->requests), 4);
    dr_aws_calls_free(calls, 6);
    dr_aws_free(c);
    echo_stop(s);
}

static void test_deadline(void **state)
{
    echo *s = echo_start();
    dr_aws *c = client_at(s->url, 3);
    dr_aws_call calls[6];
    hdrs h[6];
    char bodies[6][32];
    dr_error err;
    int64_t t0;
    (void)state;

    /* two quick calls, four that would answer in 10 s; two workers */
    for (int i = 0; i < 6; i++)
        json_call(&calls[i], &h[i], bodies[i], sizeof(bodies[i]), c, i, i < 2 ? 10 : 10000, 200);
    t0 = dr_mono_ms();
    dr_aws_set_thread_limits(t0 + 300, NULL, NULL);
    dr_error_clear(&err);
    assert_int_equal(dr_aws_send_all(calls, 6, 2, &err), DR_ETIMEDOUT);
    dr_aws_set_thread_limits(0, NULL, NULL);
    /* the deadline bounds the batch, not each call: about 300 ms, not 2 x 300 */
    assert_true(dr_mono_ms() - t0 < 1000);
    assert_int_equal(calls[0].rc, 0);
    assert_int_equal(calls[1].rc, 0);
    for (int i = 2; i < 6; i++) {
        assert_int_equal(calls[i].rc, DR_ETIMEDOUT);
        assert_true(calls[i].err.attempts <= 1); /* a deadline is not retried */
    }
    assert_true(echo_get(s, &s->requests) <= 4);
    dr_aws_calls_free(calls, 6);
    dr_aws_free(c);
    echo_stop(s);
}

static void test_retry_inside_batch(void **state)
{
    echo *s = echo_start();
    dr_aws *c = client_at(s->url, 3);
    dr_aws_call calls[3];
    hdrs h[3];
    char bodies[3][32];
    dr_error err;
    int tokens0;
    (void)state;

    /* a 500 is retried within max_attempts and costs the client's shared retry quota */
    tokens0 = drs_aws_quota_tokens(c);
    for (int i = 0; i < 3; i++)
        json_call(&calls[i], &h[i], bodies[i], sizeof(bodies[i]), c, i, 0, i == 1 ? 500 : 200);
    dr_error_clear(&err);
    assert_int_equal(dr_aws_send_all(calls, 3, 0, &err), DR_EAWS);
    assert_int_equal(calls[1].err.attempts, 3);
    assert_int_equal(echo_get(s, &s->requests), 2 + 3);
    /* two retries taken; the two successes refund what the quota's cap lets them, by the order they ended in */
    assert_true(drs_aws_quota_tokens(c) >= tokens0 - 2 * DRS_RETRY_COST);
    assert_true(drs_aws_quota_tokens(c) <= tokens0 - 2 * DRS_RETRY_COST + 2 * DRS_RETRY_NO_RETRY_REFUND);
    dr_aws_calls_free(calls, 3);
    dr_aws_free(c);
    echo_stop(s);
}

typedef struct task_arg {
    dr_aws *c;
    int i, rc;
    double got;
    int64_t deadline;
} task_arg;

/* Two requests one after the other, as a helper that reads and then reads again would make. */
static void two_reads(void *p)
{
    task_arg *a = p;
    int (*stop)(void *);
    void *arg;

    drs_limits_get(&a->deadline, &stop, &arg);
    for (int k = 0; k < 2; k++) {
        dr_aws_call call;
        hdrs h;
        char body[32];
        dr_error err;
        json_call(&call, &h, body, sizeof(body), a->c, a->i, 100, 200);
        dr_error_clear(&err);
        a->rc = drs_send(a->c, &call.req, DRS_AUTH_CLIENT, NULL, &call.response, &err);
        if (a->rc == 0)
            a->got = dr_node_num(dr_aws_response_doc(call.response), "got.i", -1);
        dr_aws_calls_free(&call, 1);
    }
}

static void test_tasks(void **state)
{
    echo *s = echo_start();
    dr_aws *c = client_at(s->url, 3);
    task_arg args[5];
    dr_aws_task tasks[5];
    int64_t t0, wall, deadline;
    (void)state;

    for (int i = 0; i < 5; i++) {
        memset(&args[i], 0, sizeof(args[i]));
        args[i].c = c;
        args[i].i = i;
        args[i].rc = -1;
        tasks[i].fn = two_reads;
        tasks[i].arg = &args[i];
    }
    t0 = dr_mono_ms();
    deadline = t0 + 60000;
    dr_aws_set_thread_limits(deadline, NULL, NULL);
    dr_aws_run_all(tasks, 5, 0);
    dr_aws_set_thread_limits(0, NULL, NULL);
    wall = dr_mono_ms() - t0;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(args[i].rc, 0);
        assert_int_equal((int)args[i].got, i);
        assert_int_equal(args[i].deadline, deadline); /* each worker ran under the caller's deadline */
    }
    /* 10 requests of 100 ms: two rounds together, not ten one after another */
    assert_true(wall < 700);
    assert_int_equal(echo_get(s, &s->requests), 10);
    dr_aws_run_all(NULL, 0, 0);
    dr_aws_free(c);
    echo_stop(s);
}

/* dr_wait_for with a host that records its pauses instead of sleeping. */
static int64_t pauses[16];
static int n_pauses, probes, done_at;

static void fake_progress(dr_resource *res, const char *fmt, ...)
{
    (void)res, (void)fmt;
}

static int fake_sleep(dr_resource *res, int64_t ms)
{
    (void)res;
    if (n_pauses < 16)
        pauses[n_pauses++] = ms;
    return 0;
}

static int64_t fake_remaining(dr_resource *res)
{
    (void)res;
    return 3600000;
}

static int probe_n(void *arg, char *status, size_t len, dr_error *err)
{
    (void)arg, (void)status, (void)len, (void)err;
    return ++probes >= done_at ? 1 : 0;
}

static void test_wait_backoff(void **state)
{
    dr_host_api h;
    dr_error err;
    const int64_t want[] = {125, 250, 500, 1000, 1000, 1000};
    (void)state;

    memset(&h, 0, sizeof(h));
    h.struct_size = sizeof(h);
    h.progress = fake_progress;
    h.sleep_ms = fake_sleep;
    h.remaining_ms = fake_remaining;
    dr_error_clear(&err);
    /* done at the 7th poll: six pauses, doubling from interval / 8 up to the interval */
    n_pauses = probes = 0;
    done_at = 7;
    assert_int_equal(dr_wait_for(&h, NULL, "x", 1000, 0, probe_n, NULL, &err), 0);
    assert_int_equal(n_pauses, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(pauses[i], want[i]);
    /* a short interval: at least 50 ms, never above the interval */
    n_pauses = probes = 0;
    done_at = 4;
    assert_int_equal(dr_wait_for(&h, NULL, "x", 200, 0, probe_n, NULL, &err), 0);
    assert_int_equal(pauses[0], 50);
    assert_int_equal(pauses[1], 100);
    assert_int_equal(pauses[2], 200);
    n_pauses = probes = 0;
    done_at = 3;
    assert_int_equal(dr_wait_for(&h, NULL, "x", 20, 0, probe_n, NULL, &err), 0);
    assert_int_equal(pauses[0], 20);
    assert_int_equal(pauses[1], 20);
    /* done at once: no pause */
    n_pauses = probes = 0;
    done_at = 1;
    assert_int_equal(dr_wait_for(&h, NULL, "x", 1000, 0, probe_n, NULL, &err), 0);
    assert_int_equal(n_pauses, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_overlap),  cmocka_unit_test(test_query_and_mixed_clients),
        cmocka_unit_test(test_partial_failure),    cmocka_unit_test(test_cancel_mid_flight),
        cmocka_unit_test(test_deadline),           cmocka_unit_test(test_retry_inside_batch),  cmocka_unit_test(test_tasks),
        cmocka_unit_test(test_wait_backoff),       cmocka_unit_test(test_connection_reuse),
        cmocka_unit_test(test_threads_get_their_own_answers),
    };
    dr_error err;

    dr_error_clear(&err);
    if (dr_sdk_global_init(&err) != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
