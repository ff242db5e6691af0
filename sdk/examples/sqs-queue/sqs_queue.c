/* sqs_queue.c: an example third-party plugin for a service the SDK has no table entry for: an SQS queue in both regions. */
#include <stdio.h>
#include <string.h>

#include <dr/aws.h>
#include <dr/check.h>
#include <dr/doc.h>
#include <dr/plugin.h>
#include <dr/util.h>

#define SQS_VERSION "2012-11-05"

static const dr_host_api *H;

static const dr_config_key keys[] = {
    {"queue", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL, "queue name, the same in both regions"},
    {"max_depth", DR_KEY_INT, 0, "1000", NULL, "messages waiting in the primary queue before verify warns"},
};

/* SQS by its signing name: the SDK's generic rules give https://sqs.<region>.<suffix> or AWS_ENDPOINT_URL_SQS. */
static const char *const services[] = {"sqs", NULL};

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static int sq_init(const dr_host_api *host, dr_error *err)
{
    (void)err;
    H = host;
    return 0;
}

/* The queue's URL in a region: 1 and url filled, 0 when it does not exist, or a negative code. */
static int queue_url(dr_aws *c, const char *queue, char *url, size_t len, dr_error *err)
{
    dr_buf form;
    dr_doc *d = NULL;
    int rc;

    dr_buf_init(&form);
    dr_aws_form_add(&form, "QueueName", queue);
    rc = dr_aws_query(c, "sqs", "GetQueueUrl", SQS_VERSION, dr_buf_str(&form), &d, err);
    dr_buf_free(&form);
    if (rc == DR_ENOTFOUND || (rc == DR_EAWS && strstr(err->aws_code, "NonExistentQueue"))) {
        dr_error_clear(err);
        return 0;
    }
    if (rc != 0)
        return rc;
    snprintf(url, len, "%s", or_empty(dr_node_str(dr_doc_root(d), "GetQueueUrlResult.QueueUrl")));
    dr_doc_free(d);
    return url[0] ? 1 : dr_error_set(err, DR_EPARSE, "sqs GetQueueUrl: no QueueUrl in the answer");
}

static int depth(dr_aws *c, const char *url, double *out, dr_error *err)
{
    dr_buf form;
    dr_doc *d = NULL;
    const dr_node *a;
    int rc;

    dr_buf_init(&form);
    dr_aws_form_add(&form, "QueueUrl", url);
    dr_aws_form_add(&form, "AttributeName.1", "ApproximateNumberOfMessages");
    rc = dr_aws_query(c, "sqs", "GetQueueAttributes", SQS_VERSION, dr_buf_str(&form), &d, err);
    dr_buf_free(&form);
    if (rc != 0)
        return rc;
    *out = -1;
    for (a = dr_node_get(dr_doc_root(d), "GetQueueAttributesResult.Attribute"); a; a = dr_node_next_named(a))
        if (strcmp(or_empty(dr_node_str(a, "Name")), "ApproximateNumberOfMessages") == 0)
            *out = dr_node_num(a, "Value", -1);
    dr_doc_free(d);
    return *out >= 0 ? 0 : dr_error_set(err, DR_EPARSE, "sqs GetQueueAttributes: no ApproximateNumberOfMessages");
}

static int sq_verify(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    const char *queue = H->cfg_string(res, "queue");
    const char *regions[2] = {H->primary_region(res), H->dr_region(res)};
    (void)args;

    for (int i = 0; i < 2; i++) {
        char name[96], url[1024];
        dr_error e;
        dr_aws *c = H->aws(res, regions[i], err);
        int rc;

        snprintf(name, sizeof(name), "queue_exists:%s", regions[i]);
        if (!c)
            return err->code;
        dr_error_clear(&e);
        rc = queue_url(c, queue, url, sizeof(url), &e);
        if (rc < 0) {
            dr_report_unknown(H, res, name, "exists", &e);
            continue;
        }
        dr_report_state(H, res, name, rc ? DR_STATUS_OK : DR_STATUS_CRITICAL, rc ? "exists" : "missing", "exists",
                        "queue %s in %s", queue, regions[i]);
        if (rc && i == 0) {
            double n;
            dr_error_clear(&e);
            if (depth(c, url, &n, &e) != 0)
                dr_report_unknown(H, res, "queue_depth", NULL, &e);
            else
                dr_report_number(H, res, "queue_depth", n > (double)H->cfg_int(res, "max_depth") ? DR_STATUS_WARNING
                                                                                                 : DR_STATUS_OK,
                                 n, (double)H->cfg_int(res, "max_depth"), "count", "messages waiting in %s", regions[i]);
        }
    }
    return 0;
}

/* The DR region's queue: created when missing (planned in a dry run). */
static int sq_configure(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    const char *queue = H->cfg_string(res, "queue");
    dr_aws *c = H->aws(res, H->dr_region(res), err);
    char url[1024];
    dr_buf form;
    dr_doc *d = NULL;
    int rc;

    if (!c)
        return err->code;
    rc = queue_url(c, queue, url, sizeof(url), err);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (args->dry_run) {
        H->change(res, DR_CHANGE_PLANNED, "create queue", queue, H->dr_region(res));
        return 0;
    }
    dr_buf_init(&form);
    dr_aws_form_add(&form, "QueueName", queue);
    rc = dr_aws_query(c, "sqs", "CreateQueue", SQS_VERSION, dr_buf_str(&form), &d, err);
    dr_buf_free(&form);
    dr_doc_free(d);
    H->change(res, rc == 0 ? DR_CHANGE_DONE : DR_CHANGE_FAILED, "create queue", queue, H->dr_region(res));
    return rc;
}

static const dr_plugin_descriptor descriptor = {
    DR_PLUGIN_HEADER,
    "sqs_queue",
    "1.0.0",
    "An SQS queue that must exist in both regions (example of a service outside the SDK's table)",
    keys,
    sizeof(keys) / sizeof(keys[0]),
    NULL,
    sq_init,
    NULL,
    sq_configure,
    sq_verify,
    NULL,
    NULL,
    services,
    NULL, /* cleanup: nothing retired */
    NULL, /* prepare: no failover, nothing to get ready */
    NULL, /* diagnose: none */
};

DR_PLUGIN_DECLARE_ENTRY
{
    return &descriptor;
}
