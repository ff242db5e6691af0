/* status.h: the names of hooks and of step outcomes (check statuses are the SDK's: dr/check.h). */
#ifndef AG_STATUS_H
#define AG_STATUS_H

/* Ownership: the names are static strings, never freed. */

#include "dr/check.h"
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
/* Check statuses: their names and "worst of" (OK < WARNING < UNKNOWN < CRITICAL) are the SDK's dr_status_str(),
   dr_status_severity() and dr_status_worse() (dr/check.h). */

#endif
