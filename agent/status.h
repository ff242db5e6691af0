/* status.h: the names of hooks and step outcomes, and the rank of check statuses ("worst of"). */
#ifndef AG_STATUS_H
#define AG_STATUS_H

/* Ownership: the names are static strings, never freed. */

#include "dr/plugin.h"

typedef enum hook_kind { HOOK_CONFIGURE = 0, HOOK_VERIFY, HOOK_FAILOVER, HOOK_FAILBACK, HOOK_CLEANUP, HOOK_PREPARE, HOOK_DIAGNOSE, HOOK_COUNT } hook_kind;

/* Hooks that report checks (a status per resource) rather than changes: verify and diagnose. */
#define HOOK_REPORTS_CHECKS(h) ((h) == HOOK_VERIFY || (h) == HOOK_DIAGNOSE)

const char *hook_name(hook_kind h);

/* Outcome of an action hook (configure, failover, failback). */
typedef enum action_status {
    ACT_DONE = 0,
    ACT_UNCHANGED,
    ACT_PLANNED,
    ACT_FAILED,
    ACT_SKIPPED
} action_status;

const char *action_status_name(action_status s);
const char *ag_status_name(dr_status s);
/* Rank for "worst of": OK < WARNING < UNKNOWN < CRITICAL (a known failure outranks not knowing). */
int ag_status_rank(dr_status s);
dr_status ag_status_worst(dr_status a, dr_status b);

#endif
