/* diagnose.c: the dynamodb plugin's diagnostics: replication latency and its causes, as the source runbook's troubleshooting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose.h"
#include "dr/sdk.h"

static const dr_host_api *H;

void dynamodb_diagnose_init(const dr_host_api *host)
{
    H = host;
}

typedef struct dctx {
    dr_resource *res;
    const char *table;
    const char *from; /* the serving region: writes start there */
    const char *to;   /* the region that receives them */
    double window;
    int period;
    char window_text[32];
} dctx;

/* Sum of a metric over the window; *found: 0 when CloudWatch has no datapoints. */
static int metric_sum(const dctx *x, const char *region, const char *metric, const dr_aws_dim *dims, size_t n_dims,
                      double *sum, int *found, dr_error *err)
{
    dr_aws *c = dr_host_aws(H, x->res, region, err);
    dr_aws_metric m;
    int rc;

    *sum = 0;
    *found = 0;
    if (!c)
        return err->code ? err->code : dr_error_set(err, DR_EINVAL, "no AWS client for %s", region);
    memset(&m, 0, sizeof(m));
    /* the window as one period: the one datapoint is the total of the window */
    rc = dr_aws_metric_get(c, "AWS/DynamoDB", metric, dims, n_dims, "Sum", x->window, x->period, &m, err);
    if (rc != 0)
        return rc;
    *found = m.datapoints > 0;
    *sum = m.max; /* the largest per-period sum: enough to say throttling happened, and how much at worst */
    return 0;
}

/* 1. ReplicationLatency from the serving region to the other, against the RPO. */
static void diag_latency(const dctx *x)
{
    dr_aws_dim dims[2] = {{"TableName", x->table}, {"ReceivingRegion", x->to}};
    double rpo = H->rpo_objective(x->res), frac = H->cfg_float(x->res, "latency_warning_fraction");
    dr_aws_metric m;
    dr_status st;

    if (dr_metric_max(H, x->res, x->from, "AWS/DynamoDB", "ReplicationLatency", dims, 2, x->window,
                      "replication_latency", &m) != 0)
        return;
    if (m.datapoints == 0) {
        dr_report_state(H, x->res, "replication_latency", DR_STATUS_OK, "no datapoints", NULL,
                        "no ReplicationLatency of %s from %s to %s in the last %s: no replication traffic to judge",
                        x->table, x->from, x->to, x->window_text);
        return;
    }
    st = dr_lag_status(m.max / 1000.0, rpo, frac);
    if (st == DR_STATUS_OK)
        dr_report_number(H, x->res, "replication_latency", st, m.max / 1000.0, rpo * frac, "seconds",
                         "Maximum ReplicationLatency of %s from %s to %s over the last %s", x->table, x->from, x->to,
                         x->window_text);
    else
        dr_report_number(H, x->res, "replication_latency", st, m.max / 1000.0, rpo * frac, "seconds",
                         "evidence: Maximum ReplicationLatency of %s from %s to %s over the last %s is %.6g s "
                         "(RPO %.6g s); the throttling, user_errors and write_capacity diagnostics name the cause; "
                         "fix: remove the cause they name, then watch the latency fall",
                         x->table, x->from, x->to, x->window_text, m.max / 1000.0, rpo);
}

/* 2. Write throttling of the table in one region (WriteThrottleEvents, TableName). */
static void diag_throttling(const dctx *x, const char *region, const char *name)
{
    dr_aws_dim dims[1] = {{"TableName", x->table}};
    double sum;
    int found;
    dr_error err;

    dr_error_clear(&err);
    if (metric_sum(x, region, "WriteThrottleEvents", dims, 1, &sum, &found, &err) != 0) {
        dr_report_unknown(H, x->res, name, "0", &err);
        return;
    }
    if (!found || sum <= 0) {
        dr_report_number(H, x->res, name, DR_STATUS_OK, 0, 0, "count",
                         "no WriteThrottleEvents on %s in %s in the last %s", x->table, region, x->window_text);
        return;
    }
    dr_report_number(H, x->res, name, DR_STATUS_WARNING, sum, 0, "count",
                     "evidence: WriteThrottleEvents Sum %.6g on %s in %s in the last %s%s; fix: raise the table's "
                     "write capacity in %s or use on-demand (aws dynamodb update-table --table-name %s "
                     "--billing-mode PAY_PER_REQUEST --region %s); replicated writes count against the receiving "
                     "replica's capacity",
                     sum, x->table, region, x->window_text,
                     strcmp(region, x->to) == 0 ? " (the receiving region: replicated writes are throttled)" : "",
                     region, x->table, region);
}

/* 3. UserErrors (HTTP 400 answers) in the serving region: an account-level metric, without dimensions. */
static void diag_user_errors(const dctx *x)
{
    double sum;
    int found;
    dr_error err;

    dr_error_clear(&err);
    if (metric_sum(x, x->from, "UserErrors", NULL, 0, &sum, &found, &err) != 0) {
        dr_report_unknown(H, x->res, "user_errors", "0", &err);
        return;
    }
    if (!found || sum <= 0) {
        dr_report_number(H, x->res, "user_errors", DR_STATUS_OK, 0, 0, "count",
                         "no UserErrors in %s in the last %s", x->from, x->window_text);
        return;
    }
    dr_report_number(H, x->res, "user_errors", DR_STATUS_WARNING, sum, 0, "count",
                     "evidence: UserErrors Sum %.6g in %s in the last %s (HTTP 400 answers of every DynamoDB request "
                     "of the account in the region, throttling and failed conditions excluded: the application sends "
                     "requests DynamoDB refuses); fix: find the failing requests in the application's logs at those "
                     "times (ValidationException, ResourceNotFoundException, AccessDenied, signature errors) and "
                     "correct them",
                     sum, x->from, x->window_text);
}

/* Billing mode and provisioned write capacity of the table in a region. */
static int table_capacity(const dctx *x, const char *region, char *mode, size_t modelen, double *wcu, dr_error *err)
{
    dr_aws *c = dr_host_aws(H, x->res, region, err);
    char *body;
    dr_doc *doc = NULL;
    const dr_node *t;
    const char *m;
    int rc;

    if (!c)
        return err->code ? err->code : dr_error_set(err, DR_EINVAL, "no AWS client for %s", region);
    body = dr_json_pack(err, "{s:s}", "TableName", x->table);
    if (!body)
        return err->code ? err->code : dr_error_set(err, DR_ENOMEM, "out of memory");
    rc = dr_aws_json(c, "dynamodb", "DynamoDB_20120810", "DescribeTable", body, &doc, err);
    free(body);
    if (rc != 0)
        goto out;
    t = dr_node_get(dr_doc_root(doc), "Table");
    /* a table created on demand may have no BillingModeSummary: provisioned is the default mode */
    m = dr_node_str(t, "BillingModeSummary.BillingMode");
    snprintf(mode, modelen, "%s", m ? m : "PROVISIONED");
    *wcu = dr_node_num(t, "ProvisionedThroughput.WriteCapacityUnits", 0);
out:
    dr_doc_free(doc);
    return rc;
}

/* 4. The receiving region's write capacity: a provisioned replica below the serving table's writes throttles them. */
static void diag_capacity(const dctx *x)
{
    char mfrom[32], mto[32];
    double wfrom = 0, wto = 0;
    dr_error err;

    dr_error_clear(&err);
    if (table_capacity(x, x->from, mfrom, sizeof(mfrom), &wfrom, &err) != 0 ||
        table_capacity(x, x->to, mto, sizeof(mto), &wto, &err) != 0) {
        dr_report_unknown(H, x->res, "write_capacity", NULL, &err);
        return;
    }
    if (strcmp(mto, "PAY_PER_REQUEST") == 0) {
        dr_report_state(H, x->res, "write_capacity", DR_STATUS_OK, "PAY_PER_REQUEST", NULL,
                        "%s in %s is on demand: it takes the replicated writes", x->table, x->to);
        return;
    }
    if (strcmp(mfrom, "PAY_PER_REQUEST") != 0 && wto >= wfrom) {
        char ob[64];
        snprintf(ob, sizeof(ob), "%.6g WCU", wto);
        dr_report_state(H, x->res, "write_capacity", DR_STATUS_OK, ob, NULL,
                        "%s in %s has at least the write capacity of %s (%.6g WCU)", x->table, x->to, x->from, wfrom);
        return;
    }
    {
        char ob[64], th[64];
        snprintf(ob, sizeof(ob), "PROVISIONED %.6g WCU", wto);
        if (strcmp(mfrom, "PAY_PER_REQUEST") == 0)
            snprintf(th, sizeof(th), "PAY_PER_REQUEST");
        else
            snprintf(th, sizeof(th), "%.6g WCU", wfrom);
        dr_report_state(H, x->res, "write_capacity", DR_STATUS_WARNING, ob, th,
                        "evidence: %s in %s is provisioned with %.6g write capacity units while %s in %s is %s; "
                        "replicated writes beyond it are throttled and the replication latency grows; fix: "
                        "aws dynamodb update-table --table-name %s --billing-mode PAY_PER_REQUEST --region %s "
                        "(or provisioned throughput of at least the serving table's)",
                        x->table, x->to, wto, x->table, x->from, th, x->table, x->to);
    }
}

int dynamodb_diagnose(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    dctx x;
    int serving_dr = args->serving == DR_SERVING_DR;

    (void)err;
    memset(&x, 0, sizeof(x));
    x.res = res;
    x.table = H->cfg_string(res, "table");
    x.from = serving_dr ? H->dr_region(res) : H->primary_region(res);
    x.to = serving_dr ? H->primary_region(res) : H->dr_region(res);
    x.window = H->cfg_float(res, "latency_window");
    x.period = ((int)x.window / 60) * 60;
    if (x.period < 60)
        x.period = 60;
    dr_duration_format(x.window, x.window_text, sizeof(x.window_text));

    diag_latency(&x);
    diag_throttling(&x, x.from, "write_throttling_serving");
    diag_throttling(&x, x.to, "write_throttling_receiving");
    diag_user_errors(&x);
    diag_capacity(&x);
    return 0;
}
