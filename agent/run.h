/* run.h: the scheduler: one hook over the selected resources, in dependency order, on a bounded set of threads. */
#ifndef AG_RUN_H
#define AG_RUN_H

/*
 * Ownership: run_execute() writes the agent's run result (a->run), which the
 * agent owns and the next run replaces; the options are the caller's.
 */

#include <stdint.h>

#include "agent.h"
#include "dr/plugin.h"
#include "status.h"

/* The plugin's function for a hook, or NULL when it does not implement it. */
dr_hook_fn hook_fn(const dr_plugin_descriptor *d, hook_kind h);

/* Observer of a run: the journal and the progress display. Called from the runner's thread. */
typedef struct run_observer {
    /* Before the hook runs; a non-zero return fails the step without running it. */
    int (*step_start)(void *arg, size_t idx);
    void (*step_end)(void *arg, size_t idx);
    void (*progress)(void *arg, size_t idx);
    void *arg;
} run_observer;

typedef struct run_opts {
    hook_kind hook;
    int dry_run;
    dr_mode mode;
    dr_serving serving;
    int ordered;            /* dependants wait for their dependencies and are skipped when one fails */
    int concurrency;        /* 0: config */
    double hook_timeout;    /* seconds, 0: config / resource */
    const char *run_id;
    const unsigned char *selected; /* NULL: all; else selected[i] != 0 runs resource i */
    const run_observer *observer;
    int64_t grace_ms;       /* how long past its deadline a hook may take before it is abandoned; 0: 2000 */
    dr_switch prepare_for;  /* HOOK_PREPARE: the switch the resources get ready for */
    double run_started;     /* the run's first start, kept across resume (epoch seconds; 0 unknown): hook args */
    int reverse;            /* ordered: dependencies wait for their dependants instead (undoing a switch) */
    int64_t run_deadline_ms; /* dr_mono_ms() by which the whole run ends (hook deadlines are cut to it, steps not
                                started by then are skipped); 0: none */
} run_opts;

/*
 * Run one hook over the selected resources. Returns the run's result (a->run: the hook, the options, one
 * res_result per resource, whatever the outcomes), or NULL when the run could not take place (out of memory).
 */
const run_result *run_execute(agent *a, const run_opts *o);

/* Hooks still running, abandoned ones included. */
int run_live_hooks(void);

#endif
