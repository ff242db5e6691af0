/* run.h: the agent context, per-resource host contexts, and the runner that calls hooks in dependency order. */
#ifndef DR_AGENT_RUN_H
#define DR_AGENT_RUN_H

/*
 * Ownership: an agent owns its config, plugins, graph, resource contexts,
 * AWS clients and the results of its last run (agent_free). A run_result
 * belongs to the agent's current run and is replaced by the next run.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dr/plugin.h"
#include "graph.h"
#include "loader.h"

typedef enum hook_kind { HOOK_CONFIGURE = 0, HOOK_VERIFY, HOOK_FAILOVER, HOOK_FAILBACK, HOOK_CLEANUP, HOOK_PREPARE, HOOK_DIAGNOSE, HOOK_COUNT } hook_kind;

/* Hooks that report checks (a status per resource) rather than changes: verify and diagnose. */
#define HOOK_REPORTS_CHECKS(h) ((h) == HOOK_VERIFY || (h) == HOOK_DIAGNOSE)

const char *hook_name(hook_kind h);
dr_hook_fn hook_fn(const dr_plugin_descriptor *d, hook_kind h);

/* Outcome of an action hook (configure, failover, failback). */
typedef enum action_status {
    ACT_DONE = 0,
    ACT_UNCHANGED,
    ACT_PLANNED,
    ACT_FAILED,
    ACT_SKIPPED
} action_status;

const char *action_status_name(action_status s);
const char *dr_status_name(dr_status s);
/* Rank for "worst of": OK < WARNING < UNKNOWN < CRITICAL (a known failure outranks not knowing). */
int dr_status_rank(dr_status s);
dr_status dr_status_worst(dr_status a, dr_status b);

typedef struct check_rec {
    char *name;
    dr_status status;
    char *observed;
    char *threshold;
    char *unit;
    char *detail;
} check_rec;

typedef struct change_rec {
    dr_change_state state;
    char *action;
    char *target;
    char *detail;
} change_rec;

typedef struct res_result {
    int ran;             /* the hook was called */
    int rc;              /* its return value */
    char error[512];     /* its error message, or the reason it did not run */
    int timed_out;
    int cancelled;
    int skipped;
    double started_at;   /* epoch seconds */
    double finished_at;
    int64_t duration_ms;
    check_rec *checks;
    size_t n_checks;
    change_rec *changes;
    size_t n_changes;
    int has_rpo;
    double rpo;          /* replication RPO: what a failover would lose now */
    int has_backup_age;
    double backup_age;   /* age of the newest restorable backup: what a restore would lose */
    int rpo_unknown;     /* the plugin holds data here but could not measure its RPO (rpo_observed < 0) */
    int status;          /* verify: dr_status; others: action_status */
    char progress[256];  /* what the hook waits for now */
} res_result;

struct agent;
struct job;

/* The host side of a resource instance; plugins see it as the opaque dr_resource. */
struct dr_resource {
    struct agent *agent;
    size_t index;
    const cfg_resource *cfg;
    const plugin *plugin;
    pthread_mutex_t mu;
    struct job *job; /* the hook call in progress, NULL between calls */
    char *broken;    /* its isolated validate crashed, exited or hung: why; every step of it fails with this */
    char control_planes[4][96]; /* "service@region" a failover calls, as the plugin declared them */
    int n_control_planes;
};

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
    double run_started;     /* when the run began (its first start when resumed), epoch seconds; 0: unknown */
    int reverse;            /* ordered: dependencies wait for their dependants instead (undoing a switch) */
    int64_t run_deadline_ms; /* dr_mono_ms() by which the whole run ends (hook deadlines are cut to it, steps not
                                started by then are skipped); 0: none */
} run_opts;

typedef struct aws_client_entry aws_client_entry;

typedef struct agent {
    dr_config *cfg;
    plugin_set plugins;
    graph g;
    struct dr_resource *res;   /* cfg->n_res */
    res_result *results;       /* of the current/last run, cfg->n_res */
    hook_kind last_hook;
    run_opts last_opts;
    double run_started;
    double run_finished;
    int cancelled_run;
    pthread_mutex_t aws_mu;
    aws_client_entry *clients;
    const char *state_dir;     /* of the command (borrowed); NULL: plugins keep no state */
} agent;

/*
 * Loader options from the config (may be NULL): agent.isolation, agent.plugin_paths, and own_dir, the agent's
 * own plugin directory (its built-in types are the shipped plugins). The set borrows cfg's strings.
 */
void plugins_configure(plugin_set *set, const dr_config *cfg, const char *own_dir);

/* The host API table handed to every plugin. */
const dr_host_api *host_api(void);

/*
 * Everything before a run: read and check the config, load the plugins
 * (from plugin_dir if not NULL, else the config's agent.plugin_dir, else
 * fallback_dir), bind
 * keys, build the graph, set up resource contexts and run the plugins'
 * validate(). Returns 0, DR_ECONFIG with errs filled, or another code with
 * err filled (plugin directory, memory). Refused plugin files are in
 * a->plugins.refusals.
 */
int agent_open(agent *a, const char *config_path, const char *plugin_dir, const char *fallback_dir, errlist *errs,
               dr_error *err);

/* Set up resource contexts once cfg, plugins and graph are in place. 0 or DR_ENOMEM. */
int agent_init_resources(agent *a);
/* Run each plugin's validate() on its resources; errors go to errs with file and line. */
int agent_validate(agent *a, errlist *errs);
/*
 * Free what the agent owns; 0. While a hook abandoned at its deadline still
 * runs, nothing is freed and 1 is returned: `a` and the SDK's globals must
 * then stay as they are until the process ends (main exits at once).
 */
int agent_free(agent *a);
/* Hooks still running, abandoned ones included. */
int run_live_hooks(void);
/* Around an init or validate called in the agent's own process (not isolated). */
void run_plugin_call_begin(void);
void run_plugin_call_end(void);
/* Non-zero while plugin code runs in the agent's process (a hook thread, an init or a validate). */
int run_in_plugin_code(void);

/* Ask every running hook to stop (from a signal handler: async-signal-safe). */
void run_request_cancel(void);
int run_cancel_requested(void);
void run_reset_cancel(void);
/*
 * A test run before each AWS call attempt, step and wait of the hooks: once
 * it answers non-zero (the run lease is lost) they stop as if cancelled.
 * NULL: none. Set before a run, cleared after it.
 */
void run_set_guard(int (*lost)(void *arg), void *arg);

/* Run one hook over the selected resources. 0 when the run took place (whatever the outcomes). */
int run_execute(agent *a, const run_opts *o);

/* Aggregates of the last run. */
dr_status run_worst_status(const agent *a);          /* verify */
int run_all_succeeded(const agent *a);               /* actions: no failed or skipped step */
int run_changes_pending(const agent *a);             /* configure --plan: a planned change exists */
int run_worst_rpo(const agent *a, double *rpo);      /* 1 and *rpo when some resource reported one */
/* 1 and the oldest backup recovery-point age (and its resource's index) when some resource reported one */
int run_worst_backup_age(const agent *a, double *age, size_t *who);
/*
 * Selected resources whose RPO is unknown (their plugin said so): the count,
 * and up to max of their ids in ids (borrowed from the config). While one is
 * unknown, the run's RPO is unknown; run_worst_rpo() gives the known worst.
 */
size_t run_rpo_unknown(const agent *a, const char **ids, size_t max);

#endif
