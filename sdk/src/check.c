/* check.c: helpers for plugin hooks: report checks and numbers, judge lag against the RPO, wait with progress. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dr/check.h"

dr_aws *dr_host_aws(const dr_host_api *h, dr_resource *res, const char *region, dr_error *err)
{
    dr_error e;
    dr_aws *c;

    dr_error_clear(&e);
    c = (dr_aws *)h->aws(res, region, &e);
    if (c)
        return c;
    if (e.code >= 0)
        dr_error_set(&e, DR_EINVAL, "no AWS client for %s", region ? region : "(no region)");
    *err = e;
    return NULL;
}

int dr_metric_max(const dr_host_api *h, dr_resource *res, const char *region, const char *ns, const char *metric,
                  const dr_aws_dim *dims, size_t n_dims, double window_s, const char *check, dr_aws_metric *m)
{
    dr_error err;
    dr_aws *c;
    int rc;

    dr_error_clear(&err);
    memset(m, 0, sizeof(*m));
    c = dr_host_aws(h, res, region, &err);
    rc = c ? dr_aws_metric_get(c, ns, metric, dims, n_dims, "Maximum", window_s, 60, m, &err) : err.code;
    if (rc != 0)
        dr_report_unknown(h, res, check, NULL, &err);
    return rc;
}

const char *dr_status_str(dr_status s)
{
    static const char *const names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

    return (unsigned)s <= DR_STATUS_UNKNOWN ? names[s] : "UNKNOWN";
}

int dr_status_severity(dr_status s)
{
    switch (s) {
    case DR_STATUS_OK: return 0;
    case DR_STATUS_WARNING: return 1;
    case DR_STATUS_UNKNOWN: return 2;
    case DR_STATUS_CRITICAL: return 3;
    }
    return 2;
}

dr_status dr_status_worse(dr_status a, dr_status b)
{
    return dr_status_severity(a) >= dr_status_severity(b) ? a : b;
}

void dr_report_check(const dr_host_api *h, dr_resource *res, const char *name, dr_status status,
                     const char *observed, const char *threshold, const char *unit, const char *detail)
{
    dr_check c;

    memset(&c, 0, sizeof(c));
    c.struct_size = sizeof(c);
    c.name = name;
    c.status = status;
    c.observed = observed;
    c.threshold = threshold;
    c.unit = unit;
    c.detail = detail;
    h->check(res, &c);
}

int dr_report_change(const dr_host_api *h, dr_resource *res, int rc, const char *action, const char *target,
                     const char *detail, const dr_error *err)
{
    if (rc == 0)
        h->change(res, DR_CHANGE_DONE, action, target, detail);
    else
        h->change(res, DR_CHANGE_FAILED, action, target,
                  err && err->message[0] ? err->message : detail ? detail : dr_strerror(rc));
    return rc;
}

void dr_report_planned(const dr_host_api *h, dr_resource *res, const char *action, const char *target,
                       const char *detail_fmt, ...)
{
    char detail[640];
    va_list ap;

    if (!detail_fmt) {
        h->change(res, DR_CHANGE_PLANNED, action, target, NULL);
        return;
    }
    va_start(ap, detail_fmt);
    vsnprintf(detail, sizeof(detail), detail_fmt, ap);
    va_end(ap);
    h->change(res, DR_CHANGE_PLANNED, action, target, detail);
}

static void report(const dr_host_api *h, dr_resource *res, const char *name, dr_status status, const char *observed,
                   const char *threshold, const char *unit, const char *detail_fmt, va_list ap) DR_PRINTF(8, 0);

static void report(const dr_host_api *h, dr_resource *res, const char *name, dr_status status, const char *observed,
                   const char *threshold, const char *unit, const char *detail_fmt, va_list ap)
{
    char detail[512];

    if (detail_fmt)
        vsnprintf(detail, sizeof(detail), detail_fmt, ap);
    dr_report_check(h, res, name, status, observed, threshold, unit, detail_fmt ? detail : NULL);
}

void dr_report_state(const dr_host_api *h, dr_resource *res, const char *name, dr_status status,
                     const char *observed, const char *expected, const char *detail_fmt, ...)
{
    va_list ap;

    va_start(ap, detail_fmt);
    report(h, res, name, status, observed, expected, NULL, detail_fmt, ap);
    va_end(ap);
}

void dr_report_number(const dr_host_api *h, dr_resource *res, const char *name, dr_status status, double observed,
                      double threshold, const char *unit, const char *detail_fmt, ...)
{
    char ob[40], th[40];
    va_list ap;

    snprintf(ob, sizeof(ob), "%.6g", observed);
    snprintf(th, sizeof(th), "%.6g", threshold);
    va_start(ap, detail_fmt);
    report(h, res, name, status, ob, th, unit, detail_fmt, ap);
    va_end(ap);
}

void dr_report_unknown(const dr_host_api *h, dr_resource *res, const char *name, const char *expected,
                       const dr_error *err)
{
    dr_report_check(h, res, name, DR_STATUS_UNKNOWN, NULL, expected, NULL,
                    err && err->message[0] ? err->message : "could not be checked");
}

dr_status dr_lag_status(double lag_seconds, double rpo_seconds, double warn_fraction)
{
    if (lag_seconds > rpo_seconds)
        return DR_STATUS_CRITICAL;
    if (lag_seconds > rpo_seconds * warn_fraction)
        return DR_STATUS_WARNING;
    return DR_STATUS_OK;
}

int dr_wait_for(const dr_host_api *h, dr_resource *res, const char *what, int64_t interval_ms, int64_t max_ms,
                dr_probe_fn probe, void *arg, dr_error *err)
{
    int64_t start = dr_mono_ms(), pause;
    char status[128];
    char elapsed[32];

    if (interval_ms <= 0)
        interval_ms = 1000;
    /* backoff: a change that is quick is seen quickly, a long one costs no more polls than interval_ms allows */
    pause = interval_ms / 8 > 50 ? interval_ms / 8 : (interval_ms < 50 ? interval_ms : 50);
    for (;;) {
        int rc;

        status[0] = '\0';
        rc = probe(arg, status, sizeof(status), err);
        if (rc < 0)
            return rc;
        if (rc == 1)
            return 0;
        dr_duration_format((double)(dr_mono_ms() - start) / 1000.0, elapsed, sizeof(elapsed));
        {
            /* what is left: of this wait when it is bounded, else of the hook */
            int64_t left_ms = h->remaining_ms(res);
            char left[32];
            if (max_ms > 0 && max_ms - (dr_mono_ms() - start) < left_ms)
                left_ms = max_ms - (dr_mono_ms() - start);
            dr_duration_format(left_ms > 0 ? (double)left_ms / 1000.0 : 0.0, left, sizeof(left));
            h->progress(res, "waiting for %s%s%s (%s, %s left)", what, status[0] ? ": " : "", status, elapsed, left);
        }
        if (max_ms > 0 && dr_mono_ms() - start >= max_ms)
            return dr_error_set(err, DR_ETIMEDOUT, "gave up waiting for %s after %s%s%s", what, elapsed,
                                status[0] ? "; last seen: " : "", status);
        rc = h->sleep_ms(res, pause);
        pause = pause * 2 < interval_ms ? pause * 2 : interval_ms;
        if (rc == DR_ETIMEDOUT)
            return dr_error_set(err, DR_ETIMEDOUT, "the hook deadline passed while waiting for %s (%s%s%s)", what,
                                elapsed, status[0] ? "; last seen: " : "", status);
        if (rc == DR_ECANCELED)
            return dr_error_set(err, DR_ECANCELED, "cancelled while waiting for %s", what);
    }
}
