/* run.c: the scheduler: hooks on a bounded set of threads, in dependency order, with deadlines and cancel. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cancel.h"
#include "dr/util.h"
#include "host.h"
#include "isolate.h"
#include "job.h"
#include "log.h"
#include "run.h"
#include "sdkhost.h"

dr_hook_fn hook_fn(const dr_plugin_descriptor *d, hook_kind h)
{
    switch (h) {
    case HOOK_CONFIGURE: return d->configure;
    case HOOK_VERIFY: return d->verify;
    case HOOK_FAILOVER: return d->failover;
    case HOOK_FAILBACK: return d->failback;
    case HOOK_CLEANUP: return d->cleanup;
    case HOOK_PREPARE: return d->prepare;
    case HOOK_DIAGNOSE: return d->diagnose;
    default: return NULL;
    }
}


/* ---- jobs ---- */



static pthread_mutex_t g_run_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_run_cv = PTHREAD_COND_INITIALIZER;
static unsigned long g_finish_seq;
static _Thread_local struct job *tls_job;
static atomic_int g_live_jobs; /* hook threads still running, abandoned ones included */

static void job_release(struct job *j)
{
    if (atomic_fetch_sub(&j->refs, 1) == 1)
        free(j);
}

/* The job a host call from this thread reports into, or NULL when its result is no longer wanted. */
struct job *job_active(struct dr_resource *res)
{
    struct job *j = res->job;

    if (!j || j->abandoned)
        return NULL;
    if (tls_job && tls_job != j)
        return NULL; /* a late call from an abandoned hook of an earlier run */
    return j;
}

static int stop_cb(void *arg)
{
    struct job *j = arg;
    return cancel_requested() || atomic_load(&j->abandoned) || cancel_guard_lost();
}

/* In the child: the plugin's init (the parent never runs an isolated plugin's code), then the hook. */
static int isolated_hook_body(void *arg, char *err_out, size_t err_len)
{
    struct job *j = arg;
    const dr_plugin_descriptor *d = &j->res->plugin->desc;
    dr_error err;
    int rc;

    /* The lease is the parent's: its guard takes the lock's mutex, which another thread may have held at the fork.
       The parent stops the child when the lease is lost (parent_should_stop). */
    cancel_set_guard(NULL, NULL);
    dr_error_clear(&err);
    if (d->init && (rc = d->init(host_api(), &err)) != 0) {
        snprintf(err_out, err_len, "init failed: %s", err.message[0] ? err.message : dr_strerror(rc));
        return rc < 0 ? rc : DR_EPLUGIN;
    }
    host_sdk_set_thread_limits(j->deadline, stop_cb, j);
    rc = j->fn(j->res, &j->args, &err);
    host_sdk_set_thread_limits(0, NULL, NULL);
    if (rc != 0)
        snprintf(err_out, err_len, "%s", err.message[0] ? err.message : dr_strerror(rc));
    return rc;
}

/* In the parent: what the isolated hook reported, recorded as if it had called the host directly. */
static void relay_frame(void *arg, const iso_msg *m)
{
    dr_resource *res = arg;

    switch (m->type) {
    case ISO_LOG:
        if (m->s[1])
            log_msg((dr_log_level)m->i, m->s[1], "%s", m->s[0] ? m->s[0] : "");
        else
            host_api()->log(res, (dr_log_level)m->i, "%s", m->s[0] ? m->s[0] : "");
        break;
    case ISO_PROGRESS:
        host_api()->progress(res, "%s", m->s[0] ? m->s[0] : "");
        break;
    case ISO_CHECK: {
        dr_check c = {sizeof(c), m->s[0], (dr_status)m->i, m->s[1], m->s[2], m->s[3], m->s[4]};
        host_api()->check(res, &c);
        break;
    }
    case ISO_CHANGE:
        host_api()->change(res, (dr_change_state)m->i, m->s[0], m->s[1], m->s[2]);
        break;
    case ISO_RPO:
        host_api()->rpo_observed(res, m->d);
        break;
    case ISO_BACKUP_AGE:
        host_api()->recovery_point_age(res, m->d);
        break;
    case ISO_CONTROL_PLANE:
        host_api()->failover_control_plane(res, m->s[0], m->s[1]);
        break;
    default:
        break;
    }
}

struct job *job_of_thread(void)
{
    return tls_job;
}

struct job *job_current(struct dr_resource *res)
{
    struct job *j;

    if (tls_job)
        return tls_job; /* the hook's own thread (also in an isolated child, where res->mu is not used) */
    pthread_mutex_lock(&res->mu);
    j = res->job;
    pthread_mutex_unlock(&res->mu);
    return j;
}

/* In the parent, while an isolated hook runs: a cancel, or a lease lost (the child cannot see the lease). */
static int parent_should_stop(void)
{
    return cancel_requested() || cancel_guard_lost();
}

static int run_isolated(struct job *j)
{
    iso_outcome out;
    int rc;

    rc = iso_call(hook_name(j->hook), isolated_hook_body, j, relay_frame, j->res, j->deadline, j->grace,
                  parent_should_stop, &out);
    if (rc != 0)
        return dr_error_set(&j->err, rc, "%s", out.message);
    if (out.returned) {
        if (out.rc != 0)
            dr_error_set(&j->err, out.rc, "%s", out.message);
        return out.rc;
    }
    rc = out.timed_out ? DR_ETIMEDOUT : out.cancelled ? DR_ECANCELED : DR_EPLUGIN;
    return dr_error_set(&j->err, rc, "%s", out.message);
}

static void *job_main(void *p)
{
    struct job *j = p;
    struct dr_resource *res = j->res;
    int rc;

    tls_job = j;
    if (j->isolated) {
        rc = run_isolated(j);
    } else {
        host_sdk_set_thread_limits(j->deadline, stop_cb, j);
        rc = j->fn(res, &j->args, &j->err);
        host_sdk_set_thread_limits(0, NULL, NULL);
    }

    pthread_mutex_lock(&res->mu);
    j->rc = rc;
    j->finished = 1;
    pthread_mutex_unlock(&res->mu);

    pthread_mutex_lock(&g_run_mu);
    g_finish_seq++;
    pthread_cond_broadcast(&g_run_cv);
    pthread_mutex_unlock(&g_run_mu);
    job_release(j);
    atomic_fetch_sub(&g_live_jobs, 1);
    plugin_code_leave();
    return NULL;
}

/* ---- results ---- */

static void finish_status(agent *a, size_t i, hook_kind h)
{
    res_result *r = &a->run.res[i];

    if (HOOK_REPORTS_CHECKS(h)) {
        dr_status s = DR_STATUS_OK;
        for (size_t k = 0; k < r->n_checks; k++)
            s = dr_status_worse(s, r->checks[k].status);
        /* diagnose: no check is no finding (a plugin without diagnostics says so in r->error) */
        if (r->skipped || r->rc != 0 || r->timed_out || r->cancelled || (r->n_checks == 0 && h == HOOK_VERIFY))
            s = dr_status_worse(s, DR_STATUS_UNKNOWN);
        r->can_diagnose = a->res[i].plugin && a->res[i].plugin->desc.diagnose;
        if (h == HOOK_VERIFY && r->ran && r->rc == 0 && r->n_checks == 0 && !r->error[0])
            snprintf(r->error, sizeof(r->error), "the plugin reported no checks");
        r->verdict = s;
        return;
    }
    if (r->skipped) {
        r->outcome = ACT_SKIPPED;
        return;
    }
    {
        int done = 0, planned = 0, failed = r->rc != 0 || r->timed_out || r->cancelled;
        for (size_t k = 0; k < r->n_changes; k++) {
            done |= r->changes[k].state == DR_CHANGE_DONE;
            planned |= r->changes[k].state == DR_CHANGE_PLANNED;
            failed |= r->changes[k].state == DR_CHANGE_FAILED;
        }
        r->outcome = failed ? ACT_FAILED : done ? ACT_DONE : planned ? ACT_PLANNED : ACT_UNCHANGED;
        if (failed && !r->error[0])
            snprintf(r->error, sizeof(r->error), "a change failed");
    }
}

static int step_failed(const agent *a, size_t i)
{
    const res_result *r = &a->run.res[i];
    return r->skipped || r->outcome == ACT_FAILED;
}

/* ---- the runner ---- */

enum { ST_IDLE = 0, ST_PENDING, ST_RUNNING, ST_DONE };

static double hook_timeout_of(const agent *a, const run_opts *o, size_t i)
{
    if (o->hook_timeout > 0)
        return o->hook_timeout;
    if (a->cfg->res[i].timeout > 0)
        return a->cfg->res[i].timeout;
    return a->cfg->agent.hook_timeout;
}

static void mark_skipped(agent *a, const run_opts *o, size_t i, int cancelled, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void mark_skipped(agent *a, const run_opts *o, size_t i, int cancelled, const char *fmt, ...)
{
    res_result *r = &a->run.res[i];
    va_list ap;

    r->skipped = 1;
    r->cancelled = cancelled;
    r->started_at = r->finished_at = dr_now();
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
    finish_status(a, i, o->hook);
    if (o->observer && o->observer->step_end)
        o->observer->step_end(o->observer->arg, i);
}

static int start_job(agent *a, const run_opts *o, size_t i, int64_t grace_unused)
{
    struct dr_resource *res = &a->res[i];
    res_result *r = &a->run.res[i];
    dr_hook_fn fn = hook_fn(&res->plugin->desc, o->hook);
    struct job *j;
    pthread_attr_t attr;
    pthread_t t;
    double timeout = hook_timeout_of(a, o, i);
    int src;

    (void)grace_unused;
    r->started_at = dr_now();
    if (res->broken || res->plugin->broken) {
        r->finished_at = r->started_at;
        r->rc = DR_EPLUGIN;
        snprintf(r->error, sizeof(r->error), "not run: the plugin's %s", res->broken ? res->broken : res->plugin->broken);
        dr_utf8_scrub(r->error);
        finish_status(a, i, o->hook);
        if (o->observer && o->observer->step_end)
            o->observer->step_end(o->observer->arg, i);
        return 1;
    }
    if (!fn) {
        r->finished_at = r->started_at;
        snprintf(r->error, sizeof(r->error), "plugin %s does not implement %s", res->plugin->desc.type,
                 hook_name(o->hook));
        if (o->hook != HOOK_VERIFY)
            r->rc = 0; /* nothing to do for this type: dependants go on (diagnose: nothing to look at) */
        else
            r->rc = DR_EUNSUPPORTED;
        finish_status(a, i, o->hook);
        if (o->observer && o->observer->step_end)
            o->observer->step_end(o->observer->arg, i);
        return 1;
    }
    if (o->observer && o->observer->step_start && (src = o->observer->step_start(o->observer->arg, i)) != 0) {
        r->rc = src == DR_EBUSY ? DR_EBUSY : DR_EIO;
        r->finished_at = dr_now();
        snprintf(r->error, sizeof(r->error), "%s",
                 src == DR_EBUSY ? "the run lease is lost (another host may hold it): not started"
                                 : "the step could not be recorded in the journal: not run");
        finish_status(a, i, o->hook);
        if (o->observer->step_end)
            o->observer->step_end(o->observer->arg, i);
        return 1;
    }
    j = calloc(1, sizeof(*j));
    if (!j)
        goto fail;
    j->a = a;
    j->res = res;
    j->result = r;
    j->hook = o->hook;
    j->observer = o->observer;
    j->fn = fn;
    j->args.struct_size = sizeof(j->args);
    j->args.dry_run = o->dry_run;
    j->args.mode = o->mode;
    j->args.serving = o->serving;
    j->args.prepare_for = o->prepare_for;
    j->args.run_started = o->run_started;
    snprintf(j->run_id, sizeof(j->run_id), "%s", o->run_id ? o->run_id : "");
    snprintf(j->step_id, sizeof(j->step_id), "%s/%s/%s", j->run_id, res->cfg->id, hook_name(o->hook));
    j->args.run_id = j->run_id;
    j->args.step_id = j->step_id;
    j->deadline = dr_mono_ms() + (int64_t)(timeout * 1000.0);
    if (o->run_deadline_ms > 0 && o->run_deadline_ms < j->deadline)
        j->deadline = o->run_deadline_ms;
    j->isolated = res->plugin->isolated;
    j->grace = o->grace_ms > 0 ? o->grace_ms : 2000;
    atomic_init(&j->refs, 2);
    atomic_init(&j->abandoned, 0);

    pthread_mutex_lock(&res->mu);
    res->job = j;
    pthread_mutex_unlock(&res->mu);
    r->ran = 1;

    pthread_attr_init(&attr);
    atomic_fetch_add(&g_live_jobs, 1);
    plugin_code_enter();
    if (pthread_create(&t, &attr, job_main, j) != 0) {
        atomic_fetch_sub(&g_live_jobs, 1);
        plugin_code_leave();
        pthread_attr_destroy(&attr);
        pthread_mutex_lock(&res->mu);
        res->job = NULL;
        pthread_mutex_unlock(&res->mu);
        free(j);
        goto fail;
    }
    j->thread = t;
    pthread_attr_destroy(&attr);
    log_debug("%s: %s started (timeout %.0fs)", res->cfg->id, hook_name(o->hook), timeout);
    return 0;
fail:
    r->rc = DR_ENOMEM;
    r->finished_at = dr_now();
    snprintf(r->error, sizeof(r->error), "could not start the hook: out of resources");
    finish_status(a, i, o->hook);
    if (o->observer && o->observer->step_end)
        o->observer->step_end(o->observer->arg, i);
    return 1;
}

/* Collect a finished job, or abandon one past its deadline + grace. Returns 1 when the step ended. */
static int reap_job(agent *a, const run_opts *o, size_t i, int64_t now, int64_t grace, int64_t cancel_at)
{
    struct dr_resource *res = &a->res[i];
    res_result *r = &a->run.res[i];
    struct job *j;
    pthread_t thread;
    int ended = 0, finished = 0;

    pthread_mutex_lock(&res->mu);
    j = res->job;
    if (!j) {
        pthread_mutex_unlock(&res->mu);
        return 0;
    }
    if (j->finished) {
        r->rc = j->rc;
        if (j->rc != 0) {
            snprintf(r->error, sizeof(r->error), "%s",
                     j->err.message[0] ? j->err.message : dr_strerror(j->rc));
            dr_utf8_scrub(r->error);
            r->timed_out = j->rc == DR_ETIMEDOUT;
            if (j->rc == DR_ECANCELED)
                r->cancelled = 1;
        }
        res->job = NULL;
        ended = 1;
        finished = 1;
    } else if (!j->isolated && (now > j->deadline + grace || (cancel_at && now > cancel_at + grace))) {
        /* the hook ignores its deadline: stop waiting; its thread may finish later, unheard
           (an isolated hook's process is killed instead, and its thread ends) */
        atomic_store(&j->abandoned, 1);
        r->rc = cancel_at ? DR_ECANCELED : DR_ETIMEDOUT;
        r->timed_out = !cancel_at;
        r->cancelled = cancel_at != 0;
        snprintf(r->error, sizeof(r->error), "%s did not return %s; abandoned", hook_name(o->hook),
                 cancel_at ? "after the cancel request" : "before its deadline");
        res->job = NULL;
        ended = 1;
    }
    pthread_mutex_unlock(&res->mu);
    if (!ended)
        return 0;
    /* a finished hook's thread is about to exit: join it, so that nothing of it outlives the run
       (thread-local state of libraries included); an abandoned one goes on alone */
    thread = j->thread;
    if (finished)
        pthread_join(thread, NULL);
    else
        pthread_detach(thread);
    r->finished_at = dr_now();
    r->duration_ms = (int64_t)((r->finished_at - r->started_at) * 1000.0);
    finish_status(a, i, o->hook);
    job_release(j);
    if (o->observer && o->observer->step_end)
        o->observer->step_end(o->observer->arg, i);
    log_debug("%s: %s ended: %s", res->cfg->id, hook_name(o->hook),
              res_result_status_name(r, o->hook));
    return 1;
}

/*
 * The dependants of each resource, for a run in reverse order: rev[i]..rev[i+1] index the dependants of i in
 * rev[n + 1 + ...]. One allocation the caller frees.
 */
static int reverse_deps(const agent *a, size_t **out)
{
    size_t n = a->cfg->n_res, edges = 0, *rev, *fill;

    for (size_t i = 0; i < n; i++)
        edges += a->g.n_deps[i];
    rev = calloc(n + 1 + edges + n + 1, sizeof(*rev));
    if (!rev)
        return DR_ENOMEM;
    fill = rev + n + 1 + edges;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < a->g.n_deps[i]; k++)
            rev[a->g.deps[i][k] + 1]++;
    for (size_t i = 0; i < n; i++)
        rev[i + 1] += rev[i];
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < a->g.n_deps[i]; k++) {
            size_t d = a->g.deps[i][k];
            rev[n + 1 + rev[d] + fill[d]++] = i;
        }
    }
    *out = rev;
    return 0;
}

const run_result *run_execute(agent *a, const run_opts *o)
{
    size_t n = a->cfg->n_res;
    unsigned char *state = calloc(n + 1, 1);
    int conc = o->concurrency > 0 ? o->concurrency : a->cfg->agent.concurrency;
    int64_t grace = o->grace_ms > 0 ? o->grace_ms : 2000;
    int64_t cancel_at = 0;
    size_t running = 0, pending = 0, *rev = NULL;
    unsigned long seen_seq;

    if (!state)
        return NULL;
    if (o->ordered && o->reverse && reverse_deps(a, &rev) != 0) {
        free(state);
        return NULL;
    }
    if (conc < 1)
        conc = 1;
    for (size_t i = 0; a->run.res && i < n; i++)
        res_result_free(&a->run.res[i]);
    a->run.hook = o->hook;
    a->run.dry_run = o->dry_run;
    a->run.mode = o->mode;
    a->run.serving = o->serving;
    a->run.prepare_for = o->prepare_for;
    a->run.selected = o->selected;
    a->run.cfg = a->cfg;
    a->run.g = &a->g;
    a->run.started = dr_now();
    a->run.cancelled = 0;
    for (size_t i = 0; i < n; i++) {
        if (!o->selected || o->selected[i]) {
            state[i] = ST_PENDING;
            pending++;
        }
    }

    pthread_mutex_lock(&g_run_mu);
    seen_seq = g_finish_seq;
    pthread_mutex_unlock(&g_run_mu);

    for (;;) {
        int64_t now = dr_mono_ms(), wake;
        int progress = 0;

        if (cancel_requested() && !cancel_at) {
            cancel_at = now;
            a->run.cancelled = 1;
            log_warn("cancel requested: no new steps start; waiting for running hooks to stop");
        }
        /* end steps that finished or overran */
        for (size_t i = 0; i < n; i++) {
            if (state[i] == ST_RUNNING && reap_job(a, o, i, now, grace, cancel_at)) {
                state[i] = ST_DONE;
                running--;
                progress = 1;
            }
        }
        /* start what is ready */
        for (size_t i = 0; i < n; i++) {
            int ready = 1;
            const char *blocker = NULL;

            if (state[i] != ST_PENDING)
                continue;
            if (cancel_at) {
                state[i] = ST_DONE;
                pending--;
                mark_skipped(a, o, i, 1, "not started: the run was cancelled");
                progress = 1;
                continue;
            }
            if (o->ordered) {
                size_t nd = rev ? rev[i + 1] - rev[i] : a->g.n_deps[i];
                for (size_t k = 0; k < nd; k++) {
                    size_t d = rev ? rev[n + 1 + rev[i] + k] : a->g.deps[i][k];
                    if (state[d] == ST_IDLE)
                        continue; /* not selected: not part of this run */
                    if (state[d] != ST_DONE) {
                        ready = 0;
                        break;
                    }
                    if (step_failed(a, d) && !blocker)
                        blocker = a->cfg->res[d].id;
                }
            }
            if (!ready)
                continue;
            if (blocker) {
                state[i] = ST_DONE;
                pending--;
                mark_skipped(a, o, i, 0, "skipped: dependency %s did not succeed", blocker);
                progress = 1;
                continue;
            }
            if (running >= (size_t)conc)
                continue;
            if (o->run_deadline_ms > 0 && now >= o->run_deadline_ms) {
                state[i] = ST_DONE;
                pending--;
                mark_skipped(a, o, i, 0, "not started: the run's overall deadline passed");
                progress = 1;
                continue;
            }
            pending--;
            if (start_job(a, o, i, grace)) {
                state[i] = ST_DONE; /* ended at once (not implemented, or could not start) */
            } else {
                state[i] = ST_RUNNING;
                running++;
            }
            progress = 1;
        }
        if (running == 0 && pending == 0)
            break;
        if (progress)
            continue;
        /* wait for a hook to finish, a deadline, or the cancel poll */
        wake = now + 100;
        pthread_mutex_lock(&g_run_mu);
        if (g_finish_seq == seen_seq) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)(wake - now) * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&g_run_cv, &g_run_mu, &ts);
        }
        seen_seq = g_finish_seq;
        pthread_mutex_unlock(&g_run_mu);
    }
    a->run.finished = dr_now();
    free(state);
    free(rev);
    return &a->run;
}

int run_live_hooks(void)
{
    return (int)atomic_load(&g_live_jobs);
}
