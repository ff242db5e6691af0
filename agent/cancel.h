/* cancel.h: a run's stop signals: the cancel flag (SIGINT/SIGTERM), the lease guard, plugin code running. */
#ifndef AG_CANCEL_H
#define AG_CANCEL_H

/* Ownership: process-wide flags, nothing to free; the guard's arg is borrowed until the guard is cleared. */

/* Ask every running hook to stop (from a signal handler: async-signal-safe). */
void cancel_request(void);
int cancel_requested(void);
void cancel_reset(void);

/*
 * A test run before each AWS call attempt, step and wait of the hooks: once
 * it answers non-zero (the run lease is lost) they stop as if cancelled.
 * NULL: none. Set before a run, cleared after it.
 */
void cancel_set_guard(int (*lost)(void *arg), void *arg);
/* Non-zero once the run may no longer act (its lease may be another host's). */
int cancel_guard_lost(void);

/* Around plugin code run in the agent's own process: an init, a validate, a hook's thread. */
void plugin_code_enter(void);
void plugin_code_leave(void);
/* Non-zero while plugin code runs in the agent's process (async-signal-safe). */
int plugin_code_running(void);

#endif
