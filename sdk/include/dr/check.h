/* dr/check.h: helpers for plugin hooks: report checks and numbers, judge lag against the RPO, wait with progress. */
#ifndef DR_CHECK_H
#define DR_CHECK_H

/*
 * Ownership: everything is borrowed for the duration of the call; the host
 * copies what is reported.
 */

#include <stdint.h>

#include "dr/error.h"
#include "dr/plugin.h"
#include "dr/util.h"

#ifdef __cplusplus
extern "C" {
#endif

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
