/* dr/check.h: helpers for plugin hooks: report checks and numbers, judge lag against the RPO, wait with progress. */
#ifndef DR_CHECK_H
#define DR_CHECK_H

/*
 * Ownership: everything is borrowed for the duration of the call; the host
 * copies what is reported.
 */

#include <stdint.h>

#include "dr/aws.h"
#include "dr/error.h"
#include "dr/plugin.h"
#include "dr/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Since SDK 1.2 (version node DR_SDK_1.2): the plumbing every plugin needs. All borrow their arguments for the
 * call; the host copies what is reported; nothing is returned for the caller to free.
 */

/*
 * The host's AWS client for `region` with the resource's credentials (h->aws, typed). Owned by the host, valid
 * for the process life: never free it. NULL with err filled; the one error rule: the host's error when it gave
 * one, else DR_EINVAL "no AWS client for <region>" (err->code is negative whenever NULL is returned); err is
 * left as it was when a client is returned.
 */
dr_aws *dr_host_aws(const dr_host_api *h, dr_resource *res, const char *region, dr_error *err);

/*
 * The Maximum of a CloudWatch metric over the last window_s seconds (60 s periods), read with the host's client for
 * `region` (dr_host_aws, dr_aws_metric_get): 0 and *m (m->datapoints may be 0), or a negative code after reporting
 * the check `check` UNKNOWN with the error.
 */
int dr_metric_max(const dr_host_api *h, dr_resource *res, const char *region, const char *ns, const char *metric,
                  const dr_aws_dim *dims, size_t n_dims, double window_s, const char *check, dr_aws_metric *m);

/* "OK", "WARNING", "CRITICAL", "UNKNOWN" (static; a value out of range is "UNKNOWN"). */
const char *dr_status_str(dr_status s);
/* Severity rank: OK 0 < WARNING 1 < UNKNOWN 2 < CRITICAL 3 (a known failure outranks not knowing). */
int dr_status_severity(dr_status s);
/* The more severe of a and b by dr_status_severity (a on a tie). */
dr_status dr_status_worse(dr_status a, dr_status b);

/* Report a check with every field given as text (observed, threshold, unit and detail may be NULL). */
void dr_report_check(const dr_host_api *h, dr_resource *res, const char *name, dr_status status,
                     const char *observed, const char *threshold, const char *unit, const char *detail);

/*
 * Report a change that was attempted: DR_CHANGE_DONE with `detail` when rc is 0, else DR_CHANGE_FAILED with
 * err's message as the detail (with no message: `detail`, else the code's name). Returns rc, so a caller can
 * `return dr_report_change(...)`. err may be NULL.
 */
int dr_report_change(const dr_host_api *h, dr_resource *res, int rc, const char *action, const char *target,
                     const char *detail, const dr_error *err);

/* Report a planned change (a dry run); the detail is printf-style and may be NULL. */
void dr_report_planned(const dr_host_api *h, dr_resource *res, const char *action, const char *target,
                       const char *detail_fmt, ...) DR_PRINTF(5, 6);

/* Report a state check ("ACTIVE" vs "ACTIVE"); detail is printf-style and may be NULL. */
void dr_report_state(const dr_host_api *h, dr_resource *res, const char *name, dr_status status,
                     const char *observed, const char *expected, const char *detail_fmt, ...) DR_PRINTF(7, 8);

/* Report a numeric check; observed/threshold are printed with up to 6 significant digits. */
void dr_report_number(const dr_host_api *h, dr_resource *res, const char *name, dr_status status, double observed,
                      double threshold, const char *unit, const char *detail_fmt, ...) DR_PRINTF(8, 9);

/* A check that could not be made: UNKNOWN, nothing observed, the error's message as the detail. */
void dr_report_unknown(const dr_host_api *h, dr_resource *res, const char *name, const char *expected,
                       const dr_error *err);

/* Lag against the RPO: OK up to warn_fraction * rpo, WARNING above it, CRITICAL above rpo. */
dr_status dr_lag_status(double lag_seconds, double rpo_seconds, double warn_fraction);

/*
 * Poll `probe` until it returns 1 (done), a negative code (error), or the
 * wait ends: after max_ms (0: the hook deadline) DR_ETIMEDOUT, on cancel
 * DR_ECANCELED. Between polls it sleeps with backoff: interval_ms / 8
 * (at least 50 ms, at most interval_ms), doubling up to interval_ms; and it
 * shows progress "waiting for <what>: <status> (<elapsed>, <time left> left)"
 * when the status changes (at most every 5 s) or every 30 s. The probe may write a short status into
 * `status` (shown in the progress line) and fills err on error.
 */
typedef int (*dr_probe_fn)(void *arg, char *status, size_t status_len, dr_error *err);
int dr_wait_for(const dr_host_api *h, dr_resource *res, const char *what, int64_t interval_ms, int64_t max_ms,
                dr_probe_fn probe, void *arg, dr_error *err);

#ifdef __cplusplus
}
#endif

#endif /* DR_CHECK_H */
