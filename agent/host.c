/* host.c: the host API table: what plugins call back (logs, progress, checks, changes, config, AWS clients, state). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cancel.h"
#include "dr/aws.h"
#include "dr/util.h"
#include "host.h"
#include "isolate.h"
#include "job.h"
#include "log.h"
#include "memo.h"
#include "state.h"

/* A plugin's text as the reports keep it: a copy, in valid UTF-8 (JSON would refuse it otherwise). */
static char *dup_or_null(const char *s)
{
    char *d = s ? strdup(s) : NULL;

    if (d)
        dr_utf8_scrub(d);
    return d;
}

/* The same, counting in *bad the strings that were not valid UTF-8. */
static char *dup_counting(const char *s, int *bad)
{
    char *d = dup_or_null(s);

    if (d && strcmp(d, s) != 0)
        (*bad)++;
    return d;
}

static void h_log(dr_resource *res, dr_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void h_progress(dr_resource *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* In an isolated child: a formatted host call goes to the parent as one frame. */
static void send_text(int type, int32_t i, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static void send_text(int type, int32_t i, const char *fmt, va_list ap)
{
    char text[4096];
    const char *s[2] = {text, NULL};

    vsnprintf(text, sizeof(text), fmt, ap);
    iso_send(type, i, 0, 2, s);
}

static void h_log(dr_resource *res, dr_log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (iso_in_child()) {
        send_text(ISO_LOG, (int32_t)level, fmt, ap);
        va_end(ap);
        return;
    }
    log_vmsg(level, res ? res->cfg->id : NULL, fmt, ap);
    va_end(ap);
}

static void h_progress(dr_resource *res, const char *fmt, ...)
{
    struct job *j;
    va_list ap;
    char text[256];
    const run_observer *ob = NULL;

    va_start(ap, fmt);
    if (iso_in_child()) {
        send_text(ISO_PROGRESS, 0, fmt, ap);
        va_end(ap);
        return;
    }
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&res->mu);
    j = job_active(res);
    if (j) {
        memcpy(j->result->progress, text, sizeof(text));
        ob = j->observer;
    }
    pthread_mutex_unlock(&res->mu);
    if (!j)
        return;
    if (ob && ob->progress)
        ob->progress(ob->arg, res->index);
    else
        log_debug("[%s] %s", res->cfg->id, text);
}

static const char *h_resource_id(dr_resource *res)
{
    return res->cfg->id;
}

static const char *h_resource_name(dr_resource *res)
{
    return res->cfg->name;
}

static const char *h_primary_region(dr_resource *res)
{
    return res->agent->cfg->primary_region;
}

static const char *h_dr_region(dr_resource *res)
{
    return res->agent->cfg->dr_region;
}

static double h_rpo(dr_resource *res)
{
    return res->agent->cfg->rpo;
}

static double h_rto(dr_resource *res)
{
    return res->agent->cfg->rto;
}

static int h_cfg_has(dr_resource *res, const char *key)
{
    const cfg_value *v = config_value(res->cfg, key, NULL);
    return v && v->set;
}

static const char *h_cfg_string(dr_resource *res, const char *key)
{
    const cfg_value *v = config_value(res->cfg, key, NULL);
    return v && v->set ? v->str : NULL;
}

static int64_t h_cfg_int(dr_resource *res, const char *key)
{
    const cfg_value *v = config_value(res->cfg, key, NULL);
    return v && v->set ? v->i : 0;
}

static int h_cfg_bool(dr_resource *res, const char *key)
{
    const cfg_value *v = config_value(res->cfg, key, NULL);
    return v && v->set ? (int)v->i : 0;
}

static double h_cfg_float(dr_resource *res, const char *key)
{
    dr_key_type t;
    const cfg_value *v = config_value(res->cfg, key, &t);
    if (!v || !v->set)
        return 0.0;
    return t == DR_KEY_INT ? (double)v->i : v->f;
}

static size_t h_cfg_list_count(dr_resource *res, const char *key)
{
    const cfg_value *v = config_value(res->cfg, key, NULL);
    return v && v->set ? v->n_list : 0;
}

static const char *h_cfg_list_item(dr_resource *res, const char *key, size_t i)
{
    const cfg_value *v = config_value(res->cfg, key, NULL);
    return v && v->set && i < v->n_list ? v->list[i] : NULL;
}

static void h_check(dr_resource *res, const dr_check *c)
{
    struct job *j;
    check_rec *n, rec;
    int bad = 0;

    if (!c || !c->name)
        return;
    if (iso_in_child()) {
        const char *s[5] = {c->name, NULL, NULL, NULL, NULL};
        s[1] = DR_HAS_MEMBER(c, dr_check, observed) ? c->observed : NULL;
        s[2] = DR_HAS_MEMBER(c, dr_check, threshold) ? c->threshold : NULL;
        s[3] = DR_HAS_MEMBER(c, dr_check, unit) ? c->unit : NULL;
        s[4] = DR_HAS_MEMBER(c, dr_check, detail) ? c->detail : NULL;
        iso_send(ISO_CHECK, (int32_t)c->status, 0, 5, s);
        return;
    }
    memset(&rec, 0, sizeof(rec));
    rec.name = dup_counting(c->name, &bad);
    if (!rec.name)
        return;
    rec.status = (unsigned)c->status <= DR_STATUS_UNKNOWN ? c->status : DR_STATUS_UNKNOWN;
    rec.observed = DR_HAS_MEMBER(c, dr_check, observed) && c->observed ? dup_counting(c->observed, &bad) : NULL;
    rec.threshold = DR_HAS_MEMBER(c, dr_check, threshold) && c->threshold ? dup_counting(c->threshold, &bad) : NULL;
    rec.unit = DR_HAS_MEMBER(c, dr_check, unit) && c->unit ? dup_counting(c->unit, &bad) : NULL;
    rec.detail = DR_HAS_MEMBER(c, dr_check, detail) && c->detail ? dup_counting(c->detail, &bad) : NULL;
    if (bad) {
        /* a check whose text is not UTF-8 cannot be trusted to say what it means: never OK */
        char *d = malloc(strlen(rec.detail ? rec.detail : "") + 64);
        rec.status = dr_status_worse(rec.status, DR_STATUS_UNKNOWN);
        if (d) {
            sprintf(d, "%s%sthe plugin's text was not valid UTF-8", rec.detail ? rec.detail : "",
                    rec.detail ? "; " : "");
            free(rec.detail);
            rec.detail = d;
        }
    }

    pthread_mutex_lock(&res->mu);
    j = job_active(res);
    n = j ? realloc(j->result->checks, (j->result->n_checks + 1) * sizeof(*n)) : NULL;
    if (n) {
        j->result->checks = n;
        n[j->result->n_checks++] = rec;
    }
    pthread_mutex_unlock(&res->mu);
    if (!n) {
        free(rec.name);
        free(rec.observed);
        free(rec.threshold);
        free(rec.unit);
        free(rec.detail);
    }
}

static void h_change(dr_resource *res, dr_change_state state, const char *action, const char *target,
                     const char *detail)
{
    struct job *j;
    change_rec *n, rec;

    if (iso_in_child()) {
        const char *s[3] = {action, target, detail};
        iso_send(ISO_CHANGE, (int32_t)state, 0, 3, s);
        return;
    }
    rec.state = state;
    rec.action = dup_or_null(action ? action : "change");
    if (!rec.action)
        return;
    rec.target = dup_or_null(target);
    rec.detail = dup_or_null(detail);
    pthread_mutex_lock(&res->mu);
    j = job_active(res);
    n = j ? realloc(j->result->changes, (j->result->n_changes + 1) * sizeof(*n)) : NULL;
    if (n) {
        j->result->changes = n;
        n[j->result->n_changes++] = rec;
    }
    pthread_mutex_unlock(&res->mu);
    if (!n) {
        free(rec.action);
        free(rec.target);
        free(rec.detail);
    }
    if (n)
        log_msg(DR_LOG_INFO, res->cfg->id, "%s %s%s%s%s%s",
                state == DR_CHANGE_PLANNED ? "plan:" : state == DR_CHANGE_DONE ? "done:" : "FAILED:",
                rec.action, target ? " " : "", target ? target : "", detail ? " - " : "", detail ? detail : "");
}

static void h_rpo_observed(dr_resource *res, double seconds)
{
    struct job *j;

    if (iso_in_child()) {
        iso_send(ISO_RPO, 0, seconds, 0, NULL);
        return;
    }
    pthread_mutex_lock(&res->mu);
    j = job_active(res);
    if (j && seconds >= 0) {
        j->result->has_rpo = 1;
        j->result->rpo = seconds;
    } else if (j) {
        j->result->rpo_unknown = 1; /* a negative value: data whose RPO could not be measured */
    }
    pthread_mutex_unlock(&res->mu);
}

static void h_recovery_point_age(dr_resource *res, double seconds)
{
    struct job *j;

    if (iso_in_child()) {
        iso_send(ISO_BACKUP_AGE, 0, seconds, 0, NULL);
        return;
    }
    pthread_mutex_lock(&res->mu);
    j = job_active(res);
    if (j && seconds >= 0) {
        j->result->has_backup_age = 1;
        j->result->backup_age = seconds;
    }
    pthread_mutex_unlock(&res->mu);
}

static int h_should_stop(dr_resource *res)
{
    struct job *j = job_current(res);

    if (cancel_requested() || cancel_guard_lost())
        return 1;
    if (!j)
        return 0;
    return atomic_load(&j->abandoned) || dr_mono_ms() >= j->deadline;
}

static int64_t h_remaining_ms(dr_resource *res)
{
    struct job *j = job_current(res);
    int64_t left;

    if (!j)
        return 0;
    left = j->deadline - dr_mono_ms();
    return left > 0 ? left : 0;
}

static int h_sleep_ms(dr_resource *res, int64_t ms)
{
    struct job *j = job_current(res);
    int64_t end = dr_mono_ms() + (ms > 0 ? ms : 0);

    for (;;) {
        int64_t now = dr_mono_ms(), step;
        struct timespec ts;

        if (cancel_requested() || (j && atomic_load(&j->abandoned)) || cancel_guard_lost())
            return DR_ECANCELED;
        if (j && now >= j->deadline)
            return DR_ETIMEDOUT;
        if (now >= end)
            return 0;
        step = end - now;
        if (step > 50)
            step = 50;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)step * 1000000L;
        nanosleep(&ts, NULL);
    }
}

/* ---- AWS clients ---- */

/*
 * A forced failover (failback) assumes the region it leaves may be gone: a call there that gets no answer is
 * not retried, so an unreachable region costs one bounded attempt per call instead of a retry series.
 */
static int region_being_left(const agent *a, const char *region)
{
    const struct job *j = job_of_thread();

    if (!j || j->args.mode != DR_MODE_FORCED)
        return 0;
    if (j->hook == HOOK_FAILOVER)
        return strcmp(region, a->cfg->primary_region) == 0;
    if (j->hook == HOOK_FAILBACK)
        return strcmp(region, a->cfg->dr_region) == 0;
    if (j->hook == HOOK_PREPARE)
        return strcmp(region, j->args.prepare_for == DR_SWITCH_FAILBACK ? a->cfg->dr_region : a->cfg->primary_region) == 0;
    return 0;
}

/*
 * An isolated child makes its own clients (fresh connections and TLS state, never the parent's, whose locks
 * another thread may have held at the fork); this cache is used in children only.
 */
static client_cache g_child_clients = {PTHREAD_MUTEX_INITIALIZER, NULL};

static void *h_aws(dr_resource *res, const char *region, dr_error *err)
{
    agent *a = res->agent;
    client_cache *cache = &a->clients;

    if (iso_in_child())
        cache = &g_child_clients;
    return client_cache_get(cache, a->cfg, res->cfg, region, region && *region && region_being_left(a, region), err);
}

static int h_state_set(dr_resource *res, const char *key, const char *value, dr_error *err)
{
    if (cancel_guard_lost())
        return dr_error_set(err, DR_EBUSY, "the run lease is lost: %s's state is not written", res->cfg->id);
    return state_resource_set(res->agent->state_dir, res->cfg->id, key, value, err);
}

static int h_state_get(dr_resource *res, const char *key, char *out, size_t outlen)
{
    return state_resource_get(res->agent->state_dir, res->cfg->id, key, out, outlen);
}

static void h_failover_control_plane(dr_resource *res, const char *service, const char *region)
{
    char item[96];

    if (!service || !region)
        return;
    if (iso_in_child()) { /* recorded in the parent, which prints it in the plan */
        const char *s[2] = {service, region};
        iso_send(ISO_CONTROL_PLANE, 0, 0, 2, s);
        return;
    }
    snprintf(item, sizeof(item), "%s@%s", service, region);
    pthread_mutex_lock(&res->mu);
    for (int i = 0; i < res->n_control_planes; i++)
        if (strcmp(res->control_planes[i], item) == 0)
            goto out;
    if (res->n_control_planes < (int)(sizeof(res->control_planes) / sizeof(res->control_planes[0])))
        snprintf(res->control_planes[res->n_control_planes++], sizeof(res->control_planes[0]), "%s", item);
out:
    pthread_mutex_unlock(&res->mu);
}

static const dr_host_api g_host = {
    .struct_size = sizeof(dr_host_api),
    .abi_major = DR_ABI_MAJOR,
    .abi_minor = DR_ABI_MINOR,
    .log = h_log,
    .progress = h_progress,
    .resource_id = h_resource_id,
    .resource_name = h_resource_name,
    .primary_region = h_primary_region,
    .dr_region = h_dr_region,
    .rpo_objective = h_rpo,
    .rto_objective = h_rto,
    .cfg_has = h_cfg_has,
    .cfg_string = h_cfg_string,
    .cfg_int = h_cfg_int,
    .cfg_bool = h_cfg_bool,
    .cfg_float = h_cfg_float,
    .cfg_list_count = h_cfg_list_count,
    .cfg_list_item = h_cfg_list_item,
    .check = h_check,
    .change = h_change,
    .rpo_observed = h_rpo_observed,
    .should_stop = h_should_stop,
    .remaining_ms = h_remaining_ms,
    .sleep_ms = h_sleep_ms,
    .aws = h_aws,
    .state_set = h_state_set,
    .state_get = h_state_get,
    .failover_control_plane = h_failover_control_plane,
    .recovery_point_age = h_recovery_point_age,
    .memo = host_memo,
};

const dr_host_api *host_api(void)
{
    return &g_host;
}

/* ---- agent ---- */
