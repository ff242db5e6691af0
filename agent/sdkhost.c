/* sdkhost.c: the host-only SDK calls (global set-up, log sink, per-thread limits), claimed once from libdr-sdk. */
#include <pthread.h>
#include <stddef.h>

#include "sdkhost.h"

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static const dr_sdk_host_ops *g_ops;

static void claim_once(void)
{
    g_ops = dr_sdk_host_claim();
}

static const dr_sdk_host_ops *ops(void)
{
    pthread_once(&g_once, claim_once);
    return g_ops;
}

int host_sdk_claim(dr_error *err)
{
    if (!ops())
        return dr_error_set(err, DR_EDENIED, "the SDK's host entry points were claimed by other code in the process");
    return 0;
}

int host_sdk_global_init(dr_error *err)
{
    if (host_sdk_claim(err) != 0)
        return err->code;
    return ops()->global_init(err);
}

void host_sdk_global_cleanup(void)
{
    if (ops())
        ops()->global_cleanup();
}

void host_sdk_set_log(dr_sdk_log_fn fn, void *arg, int max_level)
{
    if (ops())
        ops()->set_log(fn, arg, max_level);
}

void host_sdk_set_thread_limits(int64_t deadline_mono_ms, int (*stop)(void *arg), void *arg)
{
    if (ops())
        ops()->set_thread_limits(deadline_mono_ms, stop, arg);
}
