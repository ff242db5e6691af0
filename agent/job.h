/* job.h: one hook call in progress, shared by the scheduler (run.c) and the host API (host.c); private to both. */
#ifndef AG_JOB_H
#define AG_JOB_H

/* Ownership: a job is referenced by the scheduler and by its hook's thread (refs); the last one frees it. */

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "agent.h"
#include "run.h"

struct job {
    agent *a;
    struct dr_resource *res;
    res_result *result;
    hook_kind hook;
    const run_observer *observer; /* of the run; NULL: none */
    dr_hook_fn fn;
    dr_hook_args args;
    char run_id[64];
    char step_id[256];
    int64_t deadline;  /* dr_mono_ms */
    int finished;      /* under res->mu */
    atomic_int abandoned; /* set under res->mu, read by the hook's thread without it */
    int isolated;      /* the hook runs in a child process (isolate.c) */
    int64_t grace;     /* ms past the deadline before an isolated hook's process is killed */
    int rc;
    dr_error err;
    pthread_t thread;  /* joined when the hook ends, detached when it is abandoned */
    atomic_int refs;   /* the runner and the thread */
};

/* The job of the calling hook thread (also in an isolated child), or NULL. */
struct job *job_of_thread(void);
/* The job a host call from this thread reports into, or NULL when its result is no longer wanted. Under res->mu. */
struct job *job_active(struct dr_resource *res);
/* The job of res now: the calling thread's, else the resource's current one (takes res->mu). */
struct job *job_current(struct dr_resource *res);

#endif
