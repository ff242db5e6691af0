/* switch.h: a failover or failback as a two-phase switch (prepare every resource, commit once all are ready) and the stated state of one that did not finish. */
#ifndef AG_SWITCH_H
#define AG_SWITCH_H

/*
 * Ownership: a switch_result owns its strings and JSON (switch_result_free).
 * switch_state() returns a new jansson reference the caller json_decref()s.
 */

#include <stdio.h>

#include <jansson.h>

#include "drill.h"
#include "session.h"

typedef enum switch_outcome {
    SWITCH_DONE = 0,       /* committed: every step of the commit succeeded */
    SWITCH_NOT_READY = 1,  /* stopped in prepare: no commit hook ran, nothing irreversible was done */
    SWITCH_INCOMPLETE = 2  /* the commit started and did not finish (failed, cancelled): see switch_state() */
} switch_outcome;

typedef struct switch_result {
    switch_outcome outcome;
    char reason[1024];    /* NOT_READY: the resources that were not ready and why; INCOMPLETE: what failed */
    size_t n_not_ready;
    size_t n_no_prepare;  /* resources whose plugin has no prepare hook (ABI 1.0): committed without a barrier */
    size_t n_forced_past; /* forced: resources whose prepare could not reach the region being left */
    int prepared;         /* the prepare phase ran */
    json_t *prepare;      /* [{resource, ready, error?, checks:[...]}] of the prepare phase, or NULL */
} switch_result;

/*
 * Run `hook` (failover or failback) over the session's selection as a
 * switch: the prepare phase (every resource, one deadline), then, only when
 * every resource is ready (or, forced, could not be asked in the region
 * being left), the hook itself in dependency order. skip_prepare: commit at
 * once (a resumed run whose commit had started, a drill's rollback). With d,
 * the phases are recorded in the drill ("prepare"/"prepare-failback" and
 * `phase`). out must be zero-filled or hold an earlier result (freed here).
 * Returns 0 with out filled, or the runner's error code.
 */
int switch_run(session *s, hook_kind hook, const char *phase, dr_serving serving, int dry_run, int skip_prepare,
               drill *d, switch_result *out);
void switch_result_free(switch_result *r);

/*
 * The state the last commit run of `hook` left: which resources moved, which
 * did not, which region serves each, and the commands that complete or
 * reverse it. `outcome` names it ("stopped", "held", "rolled back",
 * "rollback failed"). Written to the journal as the "stated_state" event.
 * config_path may be NULL.
 */
json_t *switch_state(session *s, hook_kind hook, const char *outcome, const char *config_path);
/* The stated state as text: one line per resource and the commands. */
void switch_state_print(const json_t *st, FILE *out);

/*
 * Where the application lives after the last run of a failover/failback
 * (or with every resource at `serving` when the run ended): the serving
 * region and per resource its region. New reference.
 */
json_t *switch_where(const agent *a, dr_serving serving);
void switch_where_print(const json_t *where, FILE *out);

#endif
