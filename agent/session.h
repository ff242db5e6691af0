/* session.h: one command's run around the runner: run lock, journal, progress display, and the serving state. */
#ifndef AG_SESSION_H
#define AG_SESSION_H

/*
 * Ownership: session_begin() acquires the lock and opens the journal;
 * session_end() writes the end of the run and releases both. The session
 * borrows the agent and the strings in session_opts for its whole life.
 */

#include "journal.h"
#include "lock.h"
#include "run.h"

typedef struct session_opts {
    const char *command;   /* "configure", "failover", "failback", "drill", "verify" */
    const char *state_dir;
    const char *config_path;
    int mutating;          /* lock + journal */
    int dry_run;
    dr_mode mode;
    dr_serving serving;
    const unsigned char *selected;
    double wait_seconds;   /* for the lock */
    int concurrency;       /* 0: the config's */
    double hook_timeout;   /* 0: the config's / the resource's */
    const char *resume_run_id; /* continue this run's journal instead of starting one */
    int quiet;
    double prepare_timeout; /* the prepare deadline of a switch, seconds (0: the config's) */
} session_opts;

typedef struct session {
    agent *a;
    session_opts o;
    char run_id[64];
    run_lock lock;
    int locked;
    journal j;
    int journaling;
    hook_kind hook;        /* of the phase running now */
    const char *phase;
    run_observer obs;
    const run_result *result; /* of the last phase run (the agent's run result, empty before the first) */
    double started;
    double first_started;  /* of the run: its run_start, before any resume (epoch seconds) */
    double rto_part;       /* the resumed part's RTO, written beside the run's; < 0: none */
    const char *rpo_unknown_ids[256]; /* data resources whose RPO is unknown (borrowed from the config) */
    size_t n_rpo_unknown;
    int lease_lost_noted;  /* the loss of the lease was logged */
    dr_switch prepare_for; /* of the next HOOK_PREPARE phase */
    int reverse;           /* the next phases run in reverse dependency order (a rollback) */
} session;

/* Non-zero once the session's run lease may be another host's: nothing more is done or recorded. */
int session_lease_lost(session *s);

/*
 * Start: new run id (or the resumed one), lock (DR_EBUSY when held, holder
 * in err), journal and its run_start (or resume) event, progress display.
 */
int session_begin(session *s, agent *a, const session_opts *o, dr_error *err);

/* Run one phase (a hook over the selected resources) with the session's observer and journal. */
int session_run(session *s, hook_kind hook, const char *phase, int dry_run, dr_serving serving);

/* The run_end event, lock release, pruning of old journals; rto/rpo < 0 when none. */
void session_end(session *s, const char *status, double rto, double rpo);

#endif
