/* journal.h: the append-only journal of mutating runs (one JSON line per event, fsynced) and its reader. */
#ifndef AG_JOURNAL_H
#define AG_JOURNAL_H

/*
 * Ownership: a journal owns its file descriptor (journal_close). Events
 * passed to journal_write are borrowed. journal_list() returns an array the
 * caller frees with journal_runs_free().
 *
 * File: <state_dir>/runs/<run_id>.jsonl, mode 0600. Events, each with "t"
 * (RFC 3339 UTC, ms):
 *   run_start  {run_id, command, mode, dry_run, serving, config, host, pid, resources[], agent_version, lease_token?}
 *   resume     {host, pid, lease_token?, lease_taken_over?}
 *   step_start {step, resource, hook}
 *   step_end   {step, resource, hook, status, error?, rpo_seconds?, duration_ms, changes[]}
 *   stated_state {run_id, outcome, switch, from_region, to_region, moved, partly_moved, not_moved, resources[],
 *                complete_command, reverse_command}: a switch that did not finish
 *   run_end    {status, duration_seconds, rto_seconds?, rto_since_resume_seconds?, rpo_seconds?, rpo_unknown?}
 * rto_seconds counts from the run's first start (run_start), across resumes;
 * rpo_seconds is the worst RPO measured; rpo_unknown lists the data resources
 * whose RPO could not be (the run's RPO is then unknown).
 * A line is written and fsynced before the step it announces runs, and only
 * while the run holds its lock or lease. A torn last line (a crash in the
 * middle of a write) is ignored by the reader; the next writer ends it with a
 * newline first, so its own line stays whole.
 */

#include <limits.h>
#include <stddef.h>

#include <jansson.h>

#include "dr/error.h"

typedef struct journal {
    int fd;
    char path[PATH_MAX];
} journal;

/* Open (create, or append to an existing run's journal). */
int journal_open(journal *j, const char *state_dir, const char *run_id, dr_error *err);
/* Add "event" and "t" to obj, write it as one line and fsync. */
int journal_write(journal *j, const char *event, json_t *obj, dr_error *err);
void journal_close(journal *j);

typedef struct journal_step {
    char resource[128];
    char hook[16];
    char status[16]; /* last step_end status; "" when started but never ended */
    int started;
} journal_step;

typedef struct journal_run {
    char run_id[64];
    char command[32];
    char mode[16];
    char serving[16];
    char config[PATH_MAX];
    char status[16];        /* run_end status, or "interrupted" */
    int dry_run;
    int ended;
    int resumes;
    int changed;            /* some step_end, before or after a resume, has status "done" */
    double started_at;      /* epoch seconds */
    double finished_at;
    int has_rto;
    double rto_seconds;
    int has_rto_part;
    double rto_since_resume_seconds; /* the last resumed part alone */
    int has_rpo;
    double rpo_seconds;     /* worst measured */
    size_t rpo_unknown;     /* data resources whose RPO could not be measured: the run's RPO is unknown */
    char host[256];         /* of the last run_start or resume */
    long pid;
    char lease_token[40];   /* the run's lease token ("" without a lease) */
    char **resources;       /* as selected at run_start */
    size_t n_resources;
    journal_step *steps;
    size_t n_steps;
    size_t bad_lines;       /* lines that did not parse (a torn last line) */
} journal_run;

/*
 * Can `resume` continue the run: it has no end, or it ended in a stated state
 * that waits for completion ("stopped", "held", "rollback failed").
 */
int journal_resumable(const journal_run *r);

/* Read one journal file. 0, or DR_EIO / DR_EPARSE when it has no run_start. */
int journal_read(const char *path, journal_run *out, dr_error *err);
void journal_run_clear(journal_run *r);

/* Every run in <state_dir>/runs, oldest first. */
int journal_list(const char *state_dir, journal_run **runs, size_t *n, dr_error *err);
void journal_runs_free(journal_run *runs, size_t n);

/* Delete journals and reports of runs that finished more than max_age seconds ago. */
int journal_prune(const char *state_dir, double max_age, size_t *removed, dr_error *err);

#endif
