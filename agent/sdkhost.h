/* sdkhost.h: the host-only SDK calls (global set-up, log sink, per-thread limits), claimed once from libdr-sdk. */
#ifndef AG_SDKHOST_H
#define AG_SDKHOST_H

#include <stdint.h>

#include "dr_sdk_host.h"

/*
 * host_sdk_claim() takes the SDK's host-only table; main calls it before
 * loading any plugin (the other calls claim it on first use otherwise).
 * 0, or DR_EDENIED when something else in the process claimed it first.
 */
int host_sdk_claim(dr_error *err);
int host_sdk_global_init(dr_error *err);
void host_sdk_global_cleanup(void);
void host_sdk_set_log(dr_sdk_log_fn fn, void *arg, int max_level);
void host_sdk_set_thread_limits(int64_t deadline_mono_ms, int (*stop)(void *arg), void *arg);

#endif
