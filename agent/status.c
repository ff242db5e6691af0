/* status.c: the names of hooks and step outcomes, and the rank of check statuses. */
#include "status.h"

const char *hook_name(hook_kind h)
{
    static const char *const names[] = {"configure", "verify", "failover", "failback", "cleanup", "prepare", "diagnose"};
    return h < HOOK_COUNT ? names[h] : "?";
}

const char *action_status_name(action_status s)
{
    static const char *const names[] = {"done", "unchanged", "planned", "failed", "skipped"};
    return (unsigned)s <= ACT_SKIPPED ? names[s] : "?";
}

const char *ag_status_name(dr_status s)
{
    static const char *const names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
    return (unsigned)s <= DR_STATUS_UNKNOWN ? names[s] : "UNKNOWN";
}

int ag_status_rank(dr_status s)
{
    switch (s) {
    case DR_STATUS_OK: return 0;
    case DR_STATUS_WARNING: return 1;
    case DR_STATUS_UNKNOWN: return 2;
    case DR_STATUS_CRITICAL: return 3;
    }
    return 2;
}

dr_status ag_status_worst(dr_status a, dr_status b)
{
    return ag_status_rank(a) >= ag_status_rank(b) ? a : b;
}

