/* result.c: a run's result: freeing it, and its aggregates (worst status, success, pending changes, RPO). */
#include <stdlib.h>
#include <string.h>

#include "result.h"

const char *res_result_status_name(const res_result *r, hook_kind hook)
{
    return HOOK_REPORTS_CHECKS(hook) ? dr_status_str(r->verdict) : action_status_name(r->outcome);
}

void res_result_free(res_result *r)
{
    for (size_t i = 0; i < r->n_checks; i++) {
        free(r->checks[i].name);
        free(r->checks[i].observed);
        free(r->checks[i].threshold);
        free(r->checks[i].unit);
        free(r->checks[i].detail);
    }
    free(r->checks);
    for (size_t i = 0; i < r->n_changes; i++) {
        free(r->changes[i].action);
        free(r->changes[i].target);
        free(r->changes[i].detail);
    }
    free(r->changes);
    memset(r, 0, sizeof(*r));
}

dr_status result_worst_status(const run_result *a)
{
    dr_status s = DR_STATUS_OK;
    int any = 0;

    for (size_t i = 0; i < a->cfg->n_res; i++) {
        if (!a->selected || a->selected[i]) {
            s = dr_status_worse(s, a->res[i].verdict);
            any = 1;
        }
    }
    return any ? s : DR_STATUS_UNKNOWN;
}

int result_all_succeeded(const run_result *a)
{
    for (size_t i = 0; i < a->cfg->n_res; i++) {
        if (a->selected && !a->selected[i])
            continue;
        if (a->res[i].outcome == ACT_FAILED || a->res[i].outcome == ACT_SKIPPED)
            return 0;
    }
    return !a->cancelled;
}

int result_changes_pending(const run_result *a)
{
    for (size_t i = 0; i < a->cfg->n_res; i++) {
        if (a->selected && !a->selected[i])
            continue;
        for (size_t k = 0; k < a->res[i].n_changes; k++)
            if (a->res[i].changes[k].state == DR_CHANGE_PLANNED)
                return 1;
    }
    return 0;
}

int result_worst_rpo(const run_result *a, double *rpo)
{
    int have = 0;

    for (size_t i = 0; i < a->cfg->n_res; i++) {
        const res_result *r = &a->res[i];
        if (a->selected && !a->selected[i])
            continue;
        if (r->has_rpo && (!have || r->rpo > *rpo)) {
            *rpo = r->rpo;
            have = 1;
        }
    }
    return have;
}

int result_worst_backup_age(const run_result *a, double *age, size_t *who)
{
    int have = 0;

    for (size_t i = 0; i < a->cfg->n_res; i++) {
        const res_result *r = &a->res[i];
        if (a->selected && !a->selected[i])
            continue;
        if (r->has_backup_age && (!have || r->backup_age > *age)) {
            *age = r->backup_age;
            *who = i;
            have = 1;
        }
    }
    return have;
}

size_t result_rpo_unknown(const run_result *a, const char **ids, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < a->cfg->n_res; i++) {
        if ((a->selected && !a->selected[i]) || !a->res[i].rpo_unknown)
            continue;
        if (ids && n < max)
            ids[n] = a->cfg->res[i].id;
        n++;
    }
    return n;
}

/* ---- host API ---- */
