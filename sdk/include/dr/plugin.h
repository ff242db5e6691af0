/* dr/plugin.h: the stable plugin ABI between dr-agent (the host) and resource-type plugins. */
#ifndef DR_PLUGIN_H
#define DR_PLUGIN_H

/*
 * Ownership: everything the host passes to a plugin (host API table,
 * resource handle, hook arguments, strings returned by host calls) is
 * borrowed and stays valid for the duration of the call (the host API table
 * and the resource handle: for the life of the process). Everything a plugin
 * reports through the host API is copied by the host before the call
 * returns. The descriptor a plugin returns is static and owned by the plugin.
 *
 * Compatibility rules:
 *  - dr_plugin_descriptor, dr_host_api, dr_hook_args and dr_check only ever
 *    grow at the end, with an ABI minor bump. Each carries its own size in
 *    a `struct_size` member (the first member of dr_host_api, dr_hook_args
 *    and dr_check; the fourth of dr_plugin_descriptor, after magic and the
 *    ABI version), so the host can tell which members an older plugin knows
 *    (DR_HAS_MEMBER).
 *  - dr_config_key (and dr_aws_metric in dr/aws.h) have no size member and
 *    are used in arrays: their layout is fixed for the whole major and can
 *    never grow; a later minor adds a new struct instead.
 *  - The host loads a plugin whose ABI major equals its own and whose minor
 *    is not newer than its own. So every dr_host_api member a plugin can see
 *    in the header it was built with is there at run time: a plugin never
 *    needs DR_HAS_MEMBER on the host table. Build against the SDK of the
 *    oldest dr-agent you want to run on; building against a newer one gives
 *    newer members and makes older hosts refuse the plugin.
 *  - Resource type names match [a-z0-9_]{1,32}.
 *  - No third-party type crosses this boundary.
 *
 * This header compiles as C99 and as C++ and needs nothing but the C library.
 */

#include <stddef.h>
#include <stdint.h>

#include "dr/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DR_PLUGIN_MAGIC 0x44524147u /* "DRAG" */
#define DR_ABI_MAJOR 1
#define DR_ABI_MINOR 1

/* The one symbol a plugin exports. */
#define DR_PLUGIN_ENTRY_SYMBOL "dr_plugin_entry"

#if defined(__GNUC__) || defined(__clang__)
#define DR_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define DR_PLUGIN_EXPORT
#endif

/* True when a struct that starts with a size member (`s`) includes `member`. */
#define DR_HAS_MEMBER(s, type, member) \
    ((s) != NULL && (s)->struct_size >= offsetof(type, member) + sizeof(((type *)0)->member))

/*
 * Check status: the Nagios values (plugin output and exit codes). Not an
 * order of severity: for "worst of" the host ranks OK < WARNING < UNKNOWN <
 * CRITICAL (a known failure outranks not knowing).
 */
typedef enum dr_status {
    DR_STATUS_OK = 0,
    DR_STATUS_WARNING = 1,
    DR_STATUS_CRITICAL = 2,
    DR_STATUS_UNKNOWN = 3
} dr_status;

/* Failover/failback mode. */
typedef enum dr_mode {
    DR_MODE_GRACEFUL = 0, /* no data loss: wait, fence, switch over */
    DR_MODE_FORCED = 1    /* the region being left may be gone: bounded attempts, data loss reported */
} dr_mode;

/* Which region serves the application at the time of the hook. */
typedef enum dr_serving {
    DR_SERVING_PRIMARY = 0, /* normal topology */
    DR_SERVING_DR = 1       /* after a failover, before failback */
} dr_serving;

/* What a prepare hook gets ready for (dr_hook_args.prepare_for, ABI 1.1). */
typedef enum dr_switch {
    DR_SWITCH_FAILOVER = 0, /* the DR region takes over */
    DR_SWITCH_FAILBACK = 1  /* the primary region takes over again */
} dr_switch;

typedef enum dr_log_level {
    DR_LOG_ERROR = 0,
    DR_LOG_WARN = 1,
    DR_LOG_INFO = 2,
    DR_LOG_DEBUG = 3
} dr_log_level;

/* Types of plugin config keys; the host parses and validates them. */
typedef enum dr_key_type {
    DR_KEY_STRING = 0,
    DR_KEY_INT = 1,      /* 64-bit integer */
    DR_KEY_BOOL = 2,
    DR_KEY_FLOAT = 3,
    DR_KEY_DURATION = 4, /* "90s", "15m", "1h", "2d" or an integer number of seconds */
    DR_KEY_LIST = 5,     /* list of strings: [ "a", "b" ] */
    DR_KEY_ENUM = 6      /* a string among `choices` */
} dr_key_type;

/* Flags of a config key. */
#define DR_KEY_REQUIRED 0x1u
#define DR_KEY_SECRET 0x2u /* value is a secret: the config file must not be readable by group or others */

/* One config key a plugin accepts, declared statically by the plugin. Fixed layout: never grows (see above). */
typedef struct dr_config_key {
    const char *name;          /* as written in the config file */
    dr_key_type type;
    unsigned flags;            /* DR_KEY_* flags */
    const char *default_value; /* textual default in config syntax, NULL for none */
    const char *choices;       /* DR_KEY_ENUM: "replica|global"; else NULL */
    const char *description;   /* one line for `dr-agent plugins` and the docs */
} dr_config_key;

/* A resource instance: opaque, owned by the host. */
typedef struct dr_resource dr_resource;

/* Arguments of one hook call; borrowed for the call. Grows at the end. */
typedef struct dr_hook_args {
    uint32_t struct_size;
    int dry_run;         /* non-zero: change nothing, report planned changes */
    dr_mode mode;        /* failover/failback */
    dr_serving serving;  /* which region serves now (verify after a failover checks the DR side) */
    const char *run_id;  /* stable for the whole run, also across `resume` */
    const char *step_id; /* "<run_id>/<resource id>/<hook>" */
    dr_switch prepare_for; /* ABI 1.1, prepare: the switch the hook gets ready for (check DR_HAS_MEMBER) */
    double run_started;  /* ABI 1.1: when the run began, epoch seconds; the same across `resume` (the first
                            start); 0 when the host does not say (check DR_HAS_MEMBER) */
} dr_hook_args;

/*
 * A hook: returns 0 when it did its job (for verify: when it could run its
 * checks, whatever their status), or a negative DR_E* code with err filled.
 */
typedef int (*dr_hook_fn)(dr_resource *res, const dr_hook_args *args, dr_error *err);

/* One check result, reported by verify (and by other hooks for their pre-checks). */
typedef struct dr_check {
    uint32_t struct_size;
    const char *name;      /* stable identifier: "stream_enabled", "replication_latency" */
    dr_status status;
    const char *observed;  /* what was seen: "ACTIVE", "42.5"; NULL when nothing could be read */
    const char *threshold; /* what it is compared with: "ACTIVE", "900"; may be NULL */
    const char *unit;      /* "seconds", "bytes", "count"; NULL for states. With a unit, observed and
                              threshold are numbers and the reports print them as numbers */
    const char *detail;    /* one line for a human; may be NULL */
} dr_check;

/* Change actions. */
typedef enum dr_change_state {
    DR_CHANGE_PLANNED = 0, /* dry run: would be made */
    DR_CHANGE_DONE = 1,    /* made */
    DR_CHANGE_FAILED = 2   /* attempted and failed */
} dr_change_state;

/*
 * Host services, passed to the plugin's init. Grows at the end (a plugin sees only members of its own ABI
 * minor or older, and the host is never older than the plugin: no DR_HAS_MEMBER check needed).
 *
 * A plugin that is not shipped with the agent runs isolated: init, validate and each hook run in a child
 * process forked for the call, and these functions relay to the agent over a pipe. A plugin keeps no state
 * between calls other than what init sets up again.
 */
typedef struct dr_host_api {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /* --- logging and progress (the host prefixes plugin and resource) --- */
    void (*log)(dr_resource *res, dr_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
    /* What the hook waits for now; shown as the resource's live progress line. */
    void (*progress)(dr_resource *res, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 2, 3)))
#endif
        ;

    /* --- identity and run context --- */
    const char *(*resource_id)(dr_resource *res);   /* "<type>.<name>" */
    const char *(*resource_name)(dr_resource *res); /* "<name>" */
    const char *(*primary_region)(dr_resource *res);
    const char *(*dr_region)(dr_resource *res);
    double (*rpo_objective)(dr_resource *res); /* seconds */
    double (*rto_objective)(dr_resource *res); /* seconds */

    /* --- config values, already validated against the plugin's keys (defaults applied) --- */
    int (*cfg_has)(dr_resource *res, const char *key); /* set in the file or has a default */
    const char *(*cfg_string)(dr_resource *res, const char *key); /* STRING/ENUM, NULL if unset */
    int64_t (*cfg_int)(dr_resource *res, const char *key);
    int (*cfg_bool)(dr_resource *res, const char *key);
    double (*cfg_float)(dr_resource *res, const char *key);  /* FLOAT, and DURATION in seconds */
    size_t (*cfg_list_count)(dr_resource *res, const char *key);
    const char *(*cfg_list_item)(dr_resource *res, const char *key, size_t i);

    /* --- results --- */
    void (*check)(dr_resource *res, const dr_check *check);
    void (*change)(dr_resource *res, dr_change_state state, const char *action, const char *target,
                   const char *detail);
    void (*rpo_observed)(dr_resource *res, double seconds); /* replication RPO: what a failover would lose now */

    /* --- deadlines and cancellation --- */
    int (*should_stop)(dr_resource *res); /* non-zero once cancelled or past the hook deadline */
    int64_t (*remaining_ms)(dr_resource *res); /* until the hook deadline, never negative */
    /* Sleep up to ms, waking early on cancel: 0, or DR_ECANCELED / DR_ETIMEDOUT. */
    int (*sleep_ms)(dr_resource *res, int64_t ms);

    /*
     * The AWS client for `region` with this resource's credentials
     * (struct dr_aws from dr/aws.h; void here so that this header stands
     * alone). Owned by the host, thread-safe, valid for the process life.
     * NULL with err filled when no client can be made.
     */
    void *(*aws)(dr_resource *res, const char *region, dr_error *err);

    /* --- since ABI 1.1: small values kept for this resource across runs (and hosts that share a state dir) --- */
    /* Set (value NULL: remove) key; 0, or a negative code with err filled (DR_EBUSY: the run lease is lost). */
    int (*state_set)(dr_resource *res, const char *key, const char *value, dr_error *err);
    /* 1 and a NUL-terminated copy in out when the key is set (and fits), else 0. */
    int (*state_get)(dr_resource *res, const char *key, char *out, size_t outlen);
    /*
     * Since ABI 1.1: declare, from validate, a control plane that a failover of
     * this resource calls, as service and region ("route53", "us-east-1"). `dr-agent plan` lists them
     * and flags one in the primary region. Both strings are copied.
     */
    void (*failover_control_plane)(dr_resource *res, const char *service, const char *region);
    /*
     * ABI 1.1. The age in seconds of the newest restorable backup: the data
     * a restore would lose. Not an RPO: rpo_observed is the replication RPO,
     * the data a failover would lose now; the reports name the two apart.
     */
    void (*recovery_point_age)(dr_resource *res, double seconds);
    /*
     * ABI 1.1 (appended after recovery_point_age). A memo of read-only answers shared by the resources of one
     * run, so that one call answers many resources (one listing of the account's health checks per run, not
     * one per resource). The first call of a run for (scope, key) runs fill, which sets *value to a malloc'ed
     * answer of *len bytes (the host takes it); the calls of the same run that come later or meanwhile (they
     * wait for it) get a copy without calling fill. scope: the AWS client the answer comes from (H->aws gives
     * resources with the same region and credentials the same client), so answers never cross accounts,
     * roles or regions; key: the plugin's name for the answer, prefixed with its type ("route53:...").
     * A failed fill is not kept: its caller gets its error, a later call fills again. *out: a malloc'ed,
     * NUL-terminated copy (*out_len bytes before the NUL), freed by the caller with free().
     * Only for answers the rest of the run may reuse: hooks that change what they read (configure,
     * failover, failback) must not use it for those reads. In the agent's process only: an isolated plugin
     * (a child process per call) always runs fill. Returns 0 or fill's negative code (err filled).
     */
    int (*memo)(dr_resource *res, const void *scope, const char *key,
                int (*fill)(void *arg, char **value, size_t *len, dr_error *err), void *arg, char **out,
                size_t *out_len, dr_error *err);
} dr_host_api;

/* What a plugin is and offers. Static, owned by the plugin. Grows at the end. */
typedef struct dr_plugin_descriptor {
    uint32_t magic;      /* DR_PLUGIN_MAGIC */
    uint16_t abi_major;  /* DR_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;  /* DR_ABI_MINOR the plugin was built with */
    uint32_t struct_size;/* sizeof(dr_plugin_descriptor) the plugin was built with */

    const char *type;        /* resource type, [a-z0-9_]+, e.g. "dynamodb" */
    const char *version;     /* the plugin's own version, e.g. "1.0.0" */
    const char *description; /* one line */

    const dr_config_key *keys; /* config keys it accepts */
    size_t n_keys;

    /* Resources this type depends on unless the config says otherwise, NULL-terminated
       patterns like "aurora.*"; NULL for none. */
    const char *const *default_depends_on;

    /* Called once after the version checks, before any other call. May be NULL. */
    int (*init)(const dr_host_api *host, dr_error *err);

    /* Cross-key validation of one resource's config, after the host checked the keys
       (types, required, choices). Called before any hook of the run. May be NULL. */
    int (*validate)(dr_resource *res, dr_error *err);

    /* The hooks; NULL means not implemented. */
    dr_hook_fn configure;
    dr_hook_fn verify;
    dr_hook_fn failover;
    dr_hook_fn failback;

    /* --- ABI 1.1 --- */

    /* The AWS services (SigV4 signing names, as given to dr/aws.h) the plugin calls, NULL-terminated, for
       `dr-agent plugins` and IAM reviews; NULL: not declared (a plugin built against ABI 1.0 has none). */
    const char *const *services;

    /* ABI 1.1: remove what failovers, failbacks and drills retired (renamed out of the way, still billed) once it
       is older than the retention the resource's config gives; with dry_run, report each as a planned change.
       May be NULL. A plugin built for 1.0 has none (the host reads only struct_size bytes). */
    dr_hook_fn cleanup;
    /*
     * ABI 1.1. The first phase of a graceful failover or failback: check the
     * preconditions and wait until the data has caught up, changing nothing
     * irreversible (no fence, promotion, switchover, DNS change, replication
     * reversal), and report what was measured as checks (lag, bytes to replay,
     * pending operations). Returns 0 when the resource is ready to switch, or a
     * negative code with err saying why not. The host calls failover/failback
     * (the commit) only once every resource of the run is ready, within the
     * prepare deadline (the hook deadline of the call). In forced mode a
     * prepare that cannot reach the region being left returns 0 and says so in
     * a check. May be NULL (a 1.0 plugin): its failover runs without a prepare.
     */
    dr_hook_fn prepare;
    /*
     * ABI 1.1. Read-only diagnostics for `dr-agent diagnose`: look for the
     * causes of what verify reports (throttling, long-running queries, objects
     * that failed to replicate, failed jobs) and report each diagnostic as a
     * check: OK when it found nothing, WARNING or CRITICAL for a finding, with
     * the evidence in observed/detail and the fix in detail. Changes nothing.
     * May be NULL (a plugin without diagnostics, or one built before it).
     */
    dr_hook_fn diagnose;
} dr_plugin_descriptor;

/* The type of the entry point a plugin exports as DR_PLUGIN_ENTRY_SYMBOL. */
typedef const dr_plugin_descriptor *(*dr_plugin_entry_fn)(void);

/* The entry point each plugin defines (with DR_PLUGIN_DECLARE_ENTRY); the host finds it with dlsym. */
DR_PLUGIN_EXPORT const dr_plugin_descriptor *dr_plugin_entry(void);

/* Declare the entry point in the plugin: `DR_PLUGIN_DECLARE_ENTRY { return &descriptor; }`. */
#ifdef __cplusplus
#define DR_PLUGIN_DECLARE_ENTRY extern "C" DR_PLUGIN_EXPORT const dr_plugin_descriptor *dr_plugin_entry(void)
#else
#define DR_PLUGIN_DECLARE_ENTRY DR_PLUGIN_EXPORT const dr_plugin_descriptor *dr_plugin_entry(void)
#endif

/* Initializer of the descriptor's header, with the values of this header. */
#define DR_PLUGIN_HEADER \
    DR_PLUGIN_MAGIC, DR_ABI_MAJOR, DR_ABI_MINOR, (uint32_t)sizeof(dr_plugin_descriptor)

#ifdef __cplusplus
}
#endif

#endif /* DR_PLUGIN_H */
