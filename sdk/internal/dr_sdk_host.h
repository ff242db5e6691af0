/* dr_sdk_host.h: the SDK calls only the host (dr-agent) may make; not installed, not part of the plugin API. */
#ifndef DR_SDK_HOST_H
#define DR_SDK_HOST_H

/*
 * libdr-sdk.so does not export these functions by name. The host gets them
 * with dr_sdk_host_claim(), which hands the table out once, to its first
 * caller: dr-agent calls it in main before any plugin is loaded, so a plugin
 * that calls it gets NULL. Programs linked with the static SDK (the SDK's
 * own tests) call the functions directly.
 *
 * Ownership: the table is static and owned by the SDK.
 */

#include <stdint.h>

#include "dr/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where SDK log lines go (default: nowhere). level: dr_log_level values (0 error .. 3 debug). */
typedef void (*dr_sdk_log_fn)(int level, const char *message, void *arg);

/* curl and OpenSSL global initialisation; once, from main, before any thread. */
int dr_sdk_global_init(dr_error *err);
void dr_sdk_global_cleanup(void);
void dr_sdk_set_log(dr_sdk_log_fn fn, void *arg, int max_level);
/*
 * Limits of the calls this thread makes from now on (the host sets them
 * around each hook): an absolute deadline on dr_mono_ms() (0 = none) and a
 * stop query (NULL = none). A call that would wait past the deadline fails
 * with DR_ETIMEDOUT; a stop request aborts transfers and retry sleeps with
 * DR_ECANCELED.
 */
void dr_aws_set_thread_limits(int64_t deadline_mono_ms, int (*stop)(void *arg), void *arg);

/* The host-only entry points. Grows at the end. */
typedef struct dr_sdk_host_ops {
    uint32_t struct_size;
    int (*global_init)(dr_error *err);
    void (*global_cleanup)(void);
    void (*set_log)(dr_sdk_log_fn fn, void *arg, int max_level);
    void (*set_thread_limits)(int64_t deadline_mono_ms, int (*stop)(void *arg), void *arg);
} dr_sdk_host_ops;

/* The table on the first call of the process, NULL on every later one. Version node DR_SDK_HOST_1. */
const dr_sdk_host_ops *dr_sdk_host_claim(void);

#ifdef __cplusplus
}
#endif

#endif /* DR_SDK_HOST_H */
