/* cloudwatch.c: dr_aws_metric_get: GetMetricStatistics over the awsJson protocol (signing name monitoring), summarised. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dr/aws.h"

int dr_aws_metric_get(dr_aws *c, const char *ns, const char *metric, const dr_aws_dim *dims, size_t n_dims,
                      const char *stat, double window_s, int period_s, dr_aws_metric *out, dr_error *err)
{
    json_t *req = NULL, *jd;
    char *body = NULL;
    dr_doc *d = NULL;
    double now = dr_now();
    /* p99 and friends are extended statistics and come back under their own member. */
    int extended = stat && stat[0] == 'p' && stat[1] >= '0' && stat[1] <= '9';
    int rc;

    memset(out, 0, sizeof(*out));
    if (!c || !ns || !metric || !stat || window_s <= 0 || period_s <= 0)
        return dr_error_set(err, DR_EINVAL, "dr_aws_metric_get: namespace, metric, statistic, window and period "
                                            "are required");
    jd = json_array();
    for (size_t i = 0; jd && i < n_dims; i++)
        json_array_append_new(jd, json_pack("{s:s, s:s}", "Name", dims[i].name, "Value", dims[i].value));
    /* whole seconds; EndTime is exclusive, so it is the next whole second: a datapoint stamped within the current
       second is read now, not on the next read (the newest value decides whether a switch may go on) */
    req = json_pack("{s:s, s:s, s:o, s:f, s:f, s:i, s:[s]}", "Namespace", ns, "MetricName", metric, "Dimensions",
                    jd, "StartTime", (double)(long long)(now - window_s), "EndTime", (double)((long long)now + 1),
                    "Period", period_s, extended ? "ExtendedStatistics" : "Statistics", stat);
    body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body)
        return dr_error_set(err, DR_ENOMEM, "dr_aws_metric_get: cannot build the request");
    rc = dr_aws_json(c, "monitoring", "GraniteServiceVersion20100801", "GetMetricStatistics", body, &d, err);
    free(body);
    if (rc != 0) {
        dr_error_prefix(err, "metric %s/%s: ", ns, metric);
        return rc;
    }
    for (const dr_node *p = dr_node_first(dr_node_get(dr_doc_root(d), "Datapoints")); p; p = dr_node_next(p)) {
        char path[96];
        double t, v;
        if (extended)
            snprintf(path, sizeof(path), "ExtendedStatistics.%s", stat);
        else
            snprintf(path, sizeof(path), "%s", stat);
        if (dr_node_time(p, "Timestamp", &t) != 0 || !dr_node_get(p, path))
            continue;
        v = dr_node_num(p, path, 0);
        if (out->datapoints == 0 || v > out->max)
            out->max = v;
        if (out->datapoints == 0 || t > out->latest_time) {
            out->latest_time = t;
            out->latest = v;
        }
        out->datapoints++;
    }
    dr_doc_free(d);
    return 0;
}
