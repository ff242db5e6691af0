/* cancel.c: the stop signals of a run: an atomic cancel flag, the lease guard, a count of plugin code running. */
#include <stdatomic.h>
#include <stddef.h>

#include "cancel.h"

/* Set by the signal handler, read by every hook thread: a lock-free atomic (async-signal-safe). */
static atomic_int g_cancel;

void cancel_request(void)
{
    atomic_store(&g_cancel, 1);
}

int cancel_requested(void)
{
    return atomic_load(&g_cancel) != 0;
}

void cancel_reset(void)
{
    atomic_store(&g_cancel, 0);
}

static int (*_Atomic g_guard)(void *);
static void *_Atomic g_guard_arg;

void cancel_set_guard(int (*lost)(void *arg), void *arg)
{
    if (lost) {
        g_guard_arg = arg;
        g_guard = lost;
    } else {
        g_guard = NULL;
        g_guard_arg = NULL;
    }
}

int cancel_guard_lost(void)
{
    int (*fn)(void *) = g_guard;
    void *arg = g_guard_arg;
    return fn && arg && fn(arg);
}

/* inits, validates and hook threads (abandoned ones included) */
static atomic_int g_plugin_calls;

void plugin_code_enter(void)
{
    atomic_fetch_add(&g_plugin_calls, 1);
}

void plugin_code_leave(void)
{
    atomic_fetch_sub(&g_plugin_calls, 1);
}

int plugin_code_running(void)
{
    return atomic_load(&g_plugin_calls) > 0;
}
