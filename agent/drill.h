/* drill.h: the DR drill's record (phases, RTO, RPO) and its reports: JSON, self-contained HTML with an SVG timeline, metrics. */
#ifndef AG_DRILL_H
#define AG_DRILL_H

/*
 * Ownership: a drill owns its steps, strings and JSON references (drill_free). The
 * Prometheus callback reads the state directory each time it is called.
 */

#include <stdio.h>

#include <jansson.h>

#include "agent.h"

typedef struct drill_step {
    char *resource;
    char *plugin;
    char *phase;     /* "verify", "failover", "verify-dr", "failback", "verify-after" */
    hook_kind hook;
    union {          /* typed by hook: */
        dr_status verdict;     /* verify phases */
        action_status outcome; /* the others */
    };
    double started;  /* epoch seconds */
    double finished;
    char *error;
    char *detail;    /* what the step did or saw: changes made, checks that were not OK; NULL when nothing */
    int has_rpo;
    double rpo;
} drill_step;

typedef struct drill {
    char run_id[64];
    char mode[16];
    double started;
    double finished;
    double rto_objective;
    double rpo_objective;
    double failover_started;
    int rto_reached;      /* every resource verified OK in the DR region */
    double rto;           /* seconds from failover start to that verify */
    int has_rpo;
    double rpo;           /* worst observed */
    char rpo_resource[128];
    int verify_dr_rounds;
    int failed_phase;     /* a phase failed (or the pre-check was not healthy) */
    char failure[1400];
    int success;          /* every phase ok and both objectives met */
    int cancelled;        /* stopped by SIGINT/SIGTERM: neither met nor missed */
    char host[128];
    char config_path[512];
    char config_digest[72]; /* "sha256:<hex>" of the configuration file, or "" when it could not be read */
    char *plugin_versions;  /* "aurora 0.3.0, dynamodb 0.2.0" of the plugins the configuration uses */
    char *notes;            /* lessons learned (drill --notes FILE), or NULL */
    char outcome[32];     /* end state after a failure: "not committed", "rolled back", "held", "stopped",
                             "rollback failed" (JSON: end_state) */
    json_t *stated;       /* the stated state of a switch that did not finish (switch_state), owned, or NULL */
    json_t *where;        /* where the application lives at the end (switch_where), owned, or NULL */
    drill_step *steps;
    size_t n_steps;
} drill;

void drill_init(drill *d, const agent *a, const char *run_id, const char *mode);
/* Read the lessons learned from `path` into d->notes (at most 64 KiB); -1 with err set when it cannot be read. */
int drill_read_notes(drill *d, const char *path, dr_error *err);
/* The lessons learned recorded with drill run `run_id` in <state_dir>/reports, or NULL; the caller frees it. */
char *drill_notes_of(const char *state_dir, const char *run_id);
/* Append a run's results as the steps of `phase`. */
void drill_record_phase(drill *d, const run_result *run, const char *phase);
struct session;

typedef struct drill_run_opts {
    dr_serving serving;      /* the region serving when the drill starts (read under the run lock) */
    int hold;                /* --on-failure hold: keep a failed switch's state instead of rolling it back */
    const char *config_path; /* for the commands a stated state names */
} drill_run_opts;

/*
 * The drill's phases over the session's resources: 1 verify with the primary serving; 2 failover (prepare every
 * resource, commit once all are ready); 3 verify in the DR region until OK (this ends the RTO); 4 failback; 5 verify
 * again. A switch that fails or is cancelled after its commit started is rolled back (failed back in reverse
 * dependency order) unless held. Records the steps, RTO, failure, end state, stated state and where the
 * application lives in d. The caller began the session and ends it.
 */
void drill_run(drill *d, struct session *s, const drill_run_opts *o);
/* After the run: compute success from the phases and the objectives. */
void drill_finish(drill *d);
void drill_free(drill *d);

/* <state_dir>/reports/drill-<run_id>.json and .html; paths returned in json_path/html_path. */
int drill_write_reports(const drill *d, const char *state_dir, char *json_path, size_t jlen, char *html_path,
                        size_t hlen, dr_error *err);
/* <state_dir>/drill-last.json: the freshness record the Prometheus metrics read. */
int drill_write_last(const drill *d, const char *state_dir, dr_error *err);

/* Prometheus metrics of the last drill (report_metrics_fn); arg: drill_metrics_arg. */
typedef struct drill_metrics_arg {
    const char *state_dir;
    double period; /* a successful drill older than this is overdue */
} drill_metrics_arg;
int drill_prometheus(FILE *out, void *arg);

#endif
