/* multi.c: several independent AWS calls at once on worker threads that share the client's connections, quota and the caller's limits. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

int dr_aws_call_json(dr_aws_call *call, dr_aws *c, const char *service, const char *target_prefix, const char *op,
                     const char *json_body)
{
    int n;

    memset(call, 0, sizeof(*call));
    call->client = c;
    n = snprintf(call->own_target, sizeof(call->own_target), "%s.%s", target_prefix ? target_prefix : "",
                 op ? op : "");
    if (n < 0 || (size_t)n >= sizeof(call->own_target))
        return DR_EINVAL;
    call->req.struct_size = sizeof(call->req);
    call->req.service = service;
    call->req.operation = op;
    call->req.protocol = DR_AWS_JSON;
    call->req.target = call->own_target;
    call->req.body = json_body ? json_body : "{}";
    return 0;
}

int dr_aws_call_query(dr_aws_call *call, dr_aws *c, const char *service, const char *op, const char *version,
                      const char *form)
{
    memset(call, 0, sizeof(*call));
    call->client = c;
    dr_buf_puts(&call->own_body, "Action=");
    dr_buf_uri_encode(&call->own_body, op ? op : "", 0);
    dr_buf_puts(&call->own_body, "&Version=");
    dr_buf_uri_encode(&call->own_body, version ? version : "", 0);
    if (form && *form) {
        if (*form != '&')
            dr_buf_puts(&call->own_body, "&");
        dr_buf_puts(&call->own_body, form);
    }
    if (call->own_body.failed) {
        dr_buf_free(&call->own_body);
        return DR_ENOMEM;
    }
    call->req.struct_size = sizeof(call->req);
    call->req.service = service;
    call->req.operation = op;
    call->req.protocol = DR_AWS_QUERY;
    call->req.body = call->own_body.data;
    call->req.body_len = call->own_body.len;
    return 0;
}

int dr_aws_call_rest(dr_aws_call *call, dr_aws *c, const dr_aws_request *req)
{
    memset(call, 0, sizeof(*call));
    call->client = c;
    if (!req)
        return DR_EINVAL;
    memcpy(&call->req, req, req->struct_size < sizeof(call->req) ? req->struct_size : sizeof(call->req));
    call->req.struct_size = sizeof(call->req);
    return 0;
}

void dr_aws_calls_free(dr_aws_call *calls, size_t n)
{
    for (size_t i = 0; calls && i < n; i++) {
        dr_doc_free(calls[i].doc);
        calls[i].doc = NULL;
        dr_aws_response_free(calls[i].response);
        calls[i].response = NULL;
        dr_buf_free(&calls[i].own_body);
    }
}

typedef struct batch {
    size_t n;
    atomic_size_t next; /* the next item a worker takes */
    void (*run)(void *items, size_t i);
    void *items;
    int64_t deadline;   /* the caller's limits, for the workers */
    int (*stop)(void *);
    void *stop_arg;
} batch;

static void *worker(void *p)
{
    batch *b = p;
    size_t i;

    dr_aws_set_thread_limits(b->deadline, b->stop, b->stop_arg);
    while ((i = atomic_fetch_add(&b->next, 1)) < b->n)
        b->run(b->items, i);
    dr_aws_set_thread_limits(0, NULL, NULL);
    return NULL;
}

/* Run items 0..n) with at most max_parallel at once, the calling thread being one of the workers. */
static void run_batch(void (*run)(void *items, size_t i), void *items, size_t n, int max_parallel)
{
    batch b;
    pthread_t threads[DR_AWS_PARALLEL_MAX];
    size_t want, started = 0, i;

    if (max_parallel <= 0)
        max_parallel = DR_AWS_PARALLEL_DEFAULT;
    if (max_parallel > DR_AWS_PARALLEL_MAX)
        max_parallel = DR_AWS_PARALLEL_MAX;
    memset(&b, 0, sizeof(b));
    b.n = n;
    b.run = run;
    b.items = items;
    atomic_init(&b.next, 0);
    drs_limits_get(&b.deadline, &b.stop, &b.stop_arg);
    /* a thread that cannot start leaves its share to the others */
    want = (n < (size_t)max_parallel ? n : (size_t)max_parallel) - 1;
    while (started < want && pthread_create(&threads[started], NULL, worker, &b) == 0)
        started++;
    while ((i = atomic_fetch_add(&b.next, 1)) < n)
        run(items, i);
    for (size_t t = 0; t < started; t++)
        pthread_join(threads[t], NULL);
}

static void run_call(void *items, size_t i)
{
    dr_aws_call *call = (dr_aws_call *)items + i;
    dr_aws_response *r = NULL;

    dr_error_clear(&call->err);
    call->doc = NULL;
    call->response = NULL;
    if (!call->client) {
        call->rc = dr_error_set(&call->err, DR_EINVAL, "dr_aws_send_all: a call without a client");
        return;
    }
    call->rc = drs_send(call->client, &call->req, DRS_AUTH_CLIENT, NULL, &r, &call->err);
    if (call->rc != 0)
        return;
    call->doc = drs_response_take_doc(r);
    if (call->keep_response)
        call->response = r;
    else
        dr_aws_response_free(r);
}

static void run_task(void *items, size_t i)
{
    dr_aws_task *t = (dr_aws_task *)items + i;

    if (t->fn)
        t->fn(t->arg);
}

void dr_aws_run_all(dr_aws_task *tasks, size_t n, int max_parallel)
{
    if (tasks && n > 0)
        run_batch(run_task, tasks, n, max_parallel);
}

int dr_aws_send_all(dr_aws_call *calls, size_t n, int max_parallel, dr_error *err)
{
    size_t failed = 0, first = 0;

    if (n == 0)
        return 0;
    if (!calls)
        return dr_error_set(err, DR_EINVAL, "dr_aws_send_all: no calls");
    run_batch(run_call, calls, n, max_parallel);
    for (size_t i = 0; i < n; i++) {
        if (calls[i].rc != 0 && failed++ == 0)
            first = i;
    }
    if (failed == 0)
        return 0;
    dr_error_set(err, calls[first].rc, "%zu of %zu calls failed; first: %s", failed, n, calls[first].err.message);
    err->http_status = calls[first].err.http_status;
    err->retryable = calls[first].err.retryable;
    err->attempts = calls[first].err.attempts;
    snprintf(err->aws_code, sizeof(err->aws_code), "%s", calls[first].err.aws_code);
    snprintf(err->request_id, sizeof(err->request_id), "%s", calls[first].err.request_id);
    return calls[first].rc;
}
