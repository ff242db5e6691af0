/* status.c: the names of hooks and of step outcomes. */
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
