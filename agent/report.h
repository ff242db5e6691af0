/* report.h: the results of a run as a text table, one JSON document, Prometheus textfile and a Nagios line. */
#ifndef AG_REPORT_H
#define AG_REPORT_H

/* Ownership: report_json_doc() returns a new jansson reference the caller json_decref()s. */

#include <stdio.h>

#include <jansson.h>

#include "result.h"

typedef struct report_info {
    const char *command; /* "verify", "configure", ... */
    const char *run_id;
    int dry_run;
    int has_rto;                     /* a failover that ended: its RTO */
    double rto_seconds;              /* from the run's first start, across resumes */
    double rto_since_resume_seconds; /* the resumed part alone; < 0 when not resumed */
} report_info;

json_t *report_json_doc(const run_result *run, const report_info *ri);
int report_json(const run_result *run, const report_info *ri, FILE *out);
int report_text(const run_result *run, const report_info *ri, FILE *out, int verbose);
int report_prometheus(const run_result *run, const report_info *ri, FILE *out);
/* Write the Prometheus text to path atomically (temp file in the same directory, fsync, rename). */
int report_prometheus_file(const run_result *run, const report_info *ri, const char *path, dr_error *err);
/* "DR OK - 10 resources: ... | rpo=1.2s;450;900;0; ..." then one line per check that is not OK. */
int report_nagios(const run_result *run, const report_info *ri, FILE *out);

/* "Plan: N to add, N to change, N to destroy." (dry run) or "Applied: N added, ..." for the last run's changes. */
void report_change_summary(const run_result *run, int dry_run, FILE *out);

/* The overall status word of the last run: OK/WARNING/... for verify, done/failed/... for actions. */
const char *report_overall_status(const run_result *run, int dry_run);

/* Extra metrics other modules add to the Prometheus output (drill freshness). May be NULL. */
typedef int (*report_metrics_fn)(FILE *out, void *arg);
void report_set_extra_metrics(report_metrics_fn fn, void *arg);

#endif
