/* result.h: what one run of a hook produced: per-resource checks, changes, RPO and outcome. */
#ifndef AG_RESULT_H
#define AG_RESULT_H

/*
 * Ownership: a res_result owns its checks and changes and their strings (res_result_free). A run_result
 * borrows its config, graph and selection; its res array belongs to the agent that ran it (agent_free).
 */

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dr/plugin.h"
#include "graph.h"
#include "status.h"

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
    union {              /* the step's status, typed by the run's hook: */
        dr_status verdict;     /* verify, diagnose: the worst of its checks (UNKNOWN when it could not tell) */
        action_status outcome; /* configure, failover, failback, cleanup, prepare */
    };
    char progress[256];  /* what the hook waits for now */
    int can_diagnose;    /* verify: the resource's plugin has a diagnose hook (reports point at it) */
} res_result;

/* A run's result: its hook and options, and one res_result per resource of the configuration. */
typedef struct run_result {
    hook_kind hook;
    int dry_run;
    dr_mode mode;
    dr_serving serving;
    dr_switch prepare_for;
    const unsigned char *selected; /* borrowed from the run's options; NULL: every resource ran */
    const ag_config *cfg;          /* borrowed: the resources' ids, types and objectives */
    const graph *g;                /* borrowed: the dependencies the run followed */
    res_result *res;               /* cfg->n_res entries */
    double started;                /* epoch seconds */
    double finished;
    int cancelled;                 /* the run was cancelled (SIGINT/SIGTERM) */
} run_result;

/* The step's status word: OK/WARNING/CRITICAL/UNKNOWN for verify, done/unchanged/... for the others. */
const char *res_result_status_name(const res_result *r, hook_kind hook);

/* Free what r owns and zero it. */
void res_result_free(res_result *r);

/* Aggregates over the selected resources of a run. */
dr_status result_worst_status(const run_result *r);          /* verify */
int result_all_succeeded(const run_result *r);               /* actions: no failed or skipped step */
int result_changes_pending(const run_result *r);             /* configure --plan: a planned change exists */
int result_worst_rpo(const run_result *r, double *rpo);      /* 1 and *rpo when some resource reported one */
/* 1 and the oldest backup recovery-point age (and its resource's index) when some resource reported one */
int result_worst_backup_age(const run_result *r, double *age, size_t *who);
/*
 * Selected resources whose RPO is unknown (their plugin said so): the count,
 * and up to max of their ids in ids (borrowed from the config). While one is
 * unknown, the run's RPO is unknown; result_worst_rpo() gives the known worst.
 */
size_t result_rpo_unknown(const run_result *r, const char **ids, size_t max);


#endif
