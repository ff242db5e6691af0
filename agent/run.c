/* run.c: the runner (hooks on a bounded set of threads, in dependency order, with deadlines and cancel) and the host API. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dr/aws.h"
#include "dr/util.h"
#include "isolate.h"
#include "log.h"
#include "run.h"
#include "memo.h"
#include "sdkhost.h"
#include "state.h"

/* ---- names and ranks ---- */

const char *hook_name(hook_kind h)
{
    static const char *const names[] = {"configure", "verify", "failover", "failback", "cleanup", "prepare", "diagnose"};
    return h < HOOK_COUNT ? names[h] : "?";
}

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

const char *action_status_name(action_status s)
{
    static const char *const names[] = {"done", "unchanged", "planned", "failed", "skipped"};
    return (unsigned)s <= ACT_SKIPPED ? names[s] : "?";
}

const char *dr_status_name(dr_status s)
{
    static const char *const names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
    return (unsigned)s <= DR_STATUS_UNKNOWN ? names[s] : "UNKNOWN";
}

int dr_status_rank(dr_status s)
{
    switch (s) {
    case DR_STATUS_OK: return 0;
    case DR_STATUS_WARNING: return 1;
    case DR_STATUS_UNKNOWN: return 2;
    case DR_STATUS_CRITICAL: return 3;
    }
    return 2;
}

dr_status dr_status_worst(dr_status a, dr_status b)
{
    return dr_status_rank(a) >= dr_status_rank(b) ? a : b;
}

/* ---- cancellation ---- */

/* Set by the signal handler, read by every hook thread: a lock-free atomic (async-signal-safe). */
static atomic_int g_cancel;

void run_request_cancel(void)
{
    atomic_store(&g_cancel, 1);
}

int run_cancel_requested(void)
{
    return atomic_load(&g_cancel) != 0;
}

void run_reset_cancel(void)
{
    atomic_store(&g_cancel, 0);
}

/* ---- the run lease's guard ---- */

static int (*_Atomic g_guard)(void *);
static void *_Atomic g_guard_arg;

void run_set_guard(int (*lost)(void *arg), void *arg)
{
    if (lost) {
        g_guard_arg = arg;
        g_guard = lost;
    } else {
        g_guard = NULL;
        g_guard_arg = NULL;
    }
}

/* Non-zero once the run may no longer act (its lease may be another host's). */
static int guard_lost(void)
{
    int (*fn)(void *) = g_guard;
    void *arg = g_guard_arg;
    return fn && arg && fn(arg);
}

/* ---- jobs ---- */

struct job {
    agent *a;
    struct dr_resource *res;
    res_result *result;
    dr_hook_fn fn;
    dr_hook_args args;
    char run_id[64];
    char step_id[256];
    int64_t deadline;  /* dr_mono_ms */
    int finished;      /* under res->mu */
    atomic_int abandoned; /* set under res->mu, read by the hook's thread without it */
    int isolated;      /* the hook runs in a child process (isolate.c) */
    int64_t grace;     /* ms past the deadline before an isolated hook's process is killed */
    int rc;
    dr_error err;
    pthread_t thread;  /* joined when the hook ends, detached when it is abandoned */
    atomic_int refs;   /* the runner and the thread */
};

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
static struct job *active_job(struct dr_resource *res)
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
    return atomic_load(&g_cancel) || atomic_load(&j->abandoned) || guard_lost();
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
    run_set_guard(NULL, NULL);
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

static void h_log(dr_resource *res, dr_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void h_progress(dr_resource *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void h_check(dr_resource *res, const dr_check *c);
static void h_change(dr_resource *res, dr_change_state state, const char *action, const char *target,
                     const char *detail);
static void h_rpo_observed(dr_resource *res, double seconds);
static void h_recovery_point_age(dr_resource *res, double seconds);

/* In the parent: what the isolated hook reported, recorded as if it had called the host directly. */
static void relay_frame(void *arg, const iso_msg *m)
{
    dr_resource *res = arg;

    switch (m->type) {
    case ISO_LOG:
        if (m->s[1])
            log_msg((dr_log_level)m->i, m->s[1], "%s", m->s[0] ? m->s[0] : "");
        else
            h_log(res, (dr_log_level)m->i, "%s", m->s[0] ? m->s[0] : "");
        break;
    case ISO_PROGRESS:
        h_progress(res, "%s", m->s[0] ? m->s[0] : "");
        break;
    case ISO_CHECK: {
        dr_check c = {sizeof(c), m->s[0], (dr_status)m->i, m->s[1], m->s[2], m->s[3], m->s[4]};
        h_check(res, &c);
        break;
    }
    case ISO_CHANGE:
        h_change(res, (dr_change_state)m->i, m->s[0], m->s[1], m->s[2]);
        break;
    case ISO_RPO:
        h_rpo_observed(res, m->d);
        break;
    case ISO_BACKUP_AGE:
        h_recovery_point_age(res, m->d);
        break;
    default:
        break;
    }
}

/* In the parent, while an isolated hook runs: a cancel, or a lease lost (the child cannot see the lease). */
static int parent_should_stop(void)
{
    return run_cancel_requested() || guard_lost();
}

static int run_isolated(struct job *j)
{
    iso_outcome out;
    int rc;

    rc = iso_call(hook_name(j->a->last_hook), isolated_hook_body, j, relay_frame, j->res, j->deadline, j->grace,
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
    return NULL;
}

/* ---- results ---- */

static void free_result(res_result *r)
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

static void finish_status(agent *a, size_t i, hook_kind h)
{
    res_result *r = &a->results[i];

    if (HOOK_REPORTS_CHECKS(h)) {
        dr_status s = DR_STATUS_OK;
        for (size_t k = 0; k < r->n_checks; k++)
            s = dr_status_worst(s, r->checks[k].status);
        /* diagnose: no check is no finding (a plugin without diagnostics says so in r->error) */
        if (r->skipped || r->rc != 0 || r->timed_out || r->cancelled || (r->n_checks == 0 && h == HOOK_VERIFY))
            s = dr_status_worst(s, DR_STATUS_UNKNOWN);
        if (h == HOOK_VERIFY && r->ran && r->rc == 0 && r->n_checks == 0 && !r->error[0])
            snprintf(r->error, sizeof(r->error), "the plugin reported no checks");
        r->status = (int)s;
        return;
    }
    if (r->skipped) {
        r->status = ACT_SKIPPED;
        return;
    }
    {
        int done = 0, planned = 0, failed = r->rc != 0 || r->timed_out || r->cancelled;
        for (size_t k = 0; k < r->n_changes; k++) {
            done |= r->changes[k].state == DR_CHANGE_DONE;
            planned |= r->changes[k].state == DR_CHANGE_PLANNED;
            failed |= r->changes[k].state == DR_CHANGE_FAILED;
        }
        r->status = failed ? ACT_FAILED : done ? ACT_DONE : planned ? ACT_PLANNED : ACT_UNCHANGED;
        if (failed && !r->error[0])
            snprintf(r->error, sizeof(r->error), "a change failed");
    }
}

static int step_failed(const agent *a, size_t i)
{
    const res_result *r = &a->results[i];
    return r->skipped || r->status == ACT_FAILED;
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
    res_result *r = &a->results[i];
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
    res_result *r = &a->results[i];
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
    if (pthread_create(&t, &attr, job_main, j) != 0) {
        atomic_fetch_sub(&g_live_jobs, 1);
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
    res_result *r = &a->results[i];
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
              HOOK_REPORTS_CHECKS(o->hook) ? dr_status_name((dr_status)r->status) : action_status_name((action_status)r->status));
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

int run_execute(agent *a, const run_opts *o)
{
    size_t n = a->cfg->n_res;
    unsigned char *state = calloc(n + 1, 1);
    int conc = o->concurrency > 0 ? o->concurrency : a->cfg->agent.concurrency;
    int64_t grace = o->grace_ms > 0 ? o->grace_ms : 2000;
    int64_t cancel_at = 0;
    size_t running = 0, pending = 0, *rev = NULL;
    unsigned long seen_seq;

    if (!state)
        return DR_ENOMEM;
    if (o->ordered && o->reverse && reverse_deps(a, &rev) != 0) {
        free(state);
        return DR_ENOMEM;
    }
    if (conc < 1)
        conc = 1;
    for (size_t i = 0; a->results && i < n; i++)
        free_result(&a->results[i]);
    a->last_hook = o->hook;
    a->last_opts = *o;
    a->run_started = dr_now();
    a->cancelled_run = 0;
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

        if (atomic_load(&g_cancel) && !cancel_at) {
            cancel_at = now;
            a->cancelled_run = 1;
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
    a->run_finished = dr_now();
    free(state);
    free(rev);
    return 0;
}

dr_status run_worst_status(const agent *a)
{
    dr_status s = DR_STATUS_OK;
    int any = 0;

    for (size_t i = 0; i < a->cfg->n_res; i++) {
        if (!a->last_opts.selected || a->last_opts.selected[i]) {
            s = dr_status_worst(s, (dr_status)a->results[i].status);
            any = 1;
        }
    }
    return any ? s : DR_STATUS_UNKNOWN;
}

int run_all_succeeded(const agent *a)
{
    for (size_t i = 0; i < a->cfg->n_res; i++) {
        if (a->last_opts.selected && !a->last_opts.selected[i])
            continue;
        if (a->results[i].status == ACT_FAILED || a->results[i].status == ACT_SKIPPED)
            return 0;
    }
    return !a->cancelled_run;
}

int run_changes_pending(const agent *a)
{
    for (size_t i = 0; i < a->cfg->n_res; i++) {
        if (a->last_opts.selected && !a->last_opts.selected[i])
            continue;
        for (size_t k = 0; k < a->results[i].n_changes; k++)
            if (a->results[i].changes[k].state == DR_CHANGE_PLANNED)
                return 1;
    }
    return 0;
}

int run_worst_rpo(const agent *a, double *rpo)
{
    int have = 0;

    for (size_t i = 0; i < a->cfg->n_res; i++) {
        const res_result *r = &a->results[i];
        if (a->last_opts.selected && !a->last_opts.selected[i])
            continue;
        if (r->has_rpo && (!have || r->rpo > *rpo)) {
            *rpo = r->rpo;
            have = 1;
        }
    }
    return have;
}

int run_worst_backup_age(const agent *a, double *age, size_t *who)
{
    int have = 0;

    for (size_t i = 0; i < a->cfg->n_res; i++) {
        const res_result *r = &a->results[i];
        if (a->last_opts.selected && !a->last_opts.selected[i])
            continue;
        if (r->has_backup_age && (!have || r->backup_age > *age)) {
            *age = r->backup_age;
            *who = i;
            have = 1;
        }
    }
    return have;
}

size_t run_rpo_unknown(const agent *a, const char **ids, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < a->cfg->n_res; i++) {
        if ((a->last_opts.selected && !a->last_opts.selected[i]) || !a->results[i].rpo_unknown)
            continue;
        if (ids && n < max)
            ids[n] = a->cfg->res[i].id;
        n++;
    }
    return n;
}

/* ---- host API ---- */

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
    const run_observer *ob;

    va_start(ap, fmt);
    if (iso_in_child()) {
        send_text(ISO_PROGRESS, 0, fmt, ap);
        va_end(ap);
        return;
    }
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&res->mu);
    j = active_job(res);
    if (j)
        memcpy(j->result->progress, text, sizeof(text));
    pthread_mutex_unlock(&res->mu);
    if (!j)
        return;
    ob = res->agent->last_opts.observer;
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
        rec.status = dr_status_worst(rec.status, DR_STATUS_UNKNOWN);
        if (d) {
            sprintf(d, "%s%sthe plugin's text was not valid UTF-8", rec.detail ? rec.detail : "",
                    rec.detail ? "; " : "");
            free(rec.detail);
            rec.detail = d;
        }
    }

    pthread_mutex_lock(&res->mu);
    j = active_job(res);
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
    j = active_job(res);
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
    j = active_job(res);
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
    j = active_job(res);
    if (j && seconds >= 0) {
        j->result->has_backup_age = 1;
        j->result->backup_age = seconds;
    }
    pthread_mutex_unlock(&res->mu);
}

static struct job *current_job(dr_resource *res)
{
    struct job *j;

    if (tls_job)
        return tls_job; /* the hook's own thread (also in an isolated child, where res->mu is not used) */
    pthread_mutex_lock(&res->mu);
    j = res->job;
    pthread_mutex_unlock(&res->mu);
    return j;
}

static int h_should_stop(dr_resource *res)
{
    struct job *j = current_job(res);

    if (atomic_load(&g_cancel) || guard_lost())
        return 1;
    if (!j)
        return 0;
    return atomic_load(&j->abandoned) || dr_mono_ms() >= j->deadline;
}

static int64_t h_remaining_ms(dr_resource *res)
{
    struct job *j = current_job(res);
    int64_t left;

    if (!j)
        return 0;
    left = j->deadline - dr_mono_ms();
    return left > 0 ? left : 0;
}

static int h_sleep_ms(dr_resource *res, int64_t ms)
{
    struct job *j = current_job(res);
    int64_t end = dr_mono_ms() + (ms > 0 ? ms : 0);

    for (;;) {
        int64_t now = dr_mono_ms(), step;
        struct timespec ts;

        if (atomic_load(&g_cancel) || (j && atomic_load(&j->abandoned)) || guard_lost())
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

/* ---- AWS clients, one per (region, profile, role), shared by resources ---- */

struct aws_client_entry {
    char *key;
    dr_aws *client;
    aws_client_entry *next;
};

static const cfg_role *role_for_region(const dr_config *cfg, const char *region)
{
    for (size_t i = 0; i < cfg->aws.n_roles; i++)
        if (cfg->aws.roles[i].region && strcmp(cfg->aws.roles[i].region, region) == 0)
            return &cfg->aws.roles[i];
    return NULL;
}

/*
 * A forced failover (failback) assumes the region it leaves may be gone: a call there that gets no answer is
 * not retried, so an unreachable region costs one bounded attempt per call instead of a retry series.
 */
static int region_being_left(const agent *a, const char *region)
{
    const struct job *j = tls_job;

    if (!j || j->args.mode != DR_MODE_FORCED)
        return 0;
    if (a->last_hook == HOOK_FAILOVER)
        return strcmp(region, a->cfg->primary_region) == 0;
    if (a->last_hook == HOOK_FAILBACK)
        return strcmp(region, a->cfg->dr_region) == 0;
    if (a->last_hook == HOOK_PREPARE)
        return strcmp(region, j->args.prepare_for == DR_SWITCH_FAILBACK ? a->cfg->dr_region : a->cfg->primary_region) == 0;
    return 0;
}

/*
 * An isolated child makes its own clients (fresh connections and TLS state, never the parent's, whose locks
 * another thread may have held at the fork); this list and its lock are used in children only.
 */
static pthread_mutex_t g_child_aws_mu = PTHREAD_MUTEX_INITIALIZER;
static aws_client_entry *g_child_clients;

static void *h_aws(dr_resource *res, const char *region, dr_error *err)
{
    agent *a = res->agent;
    const dr_config *cfg = a->cfg;
    const cfg_role *role = region ? role_for_region(cfg, region) : NULL;
    const char *profile = res->cfg->profile ? res->cfg->profile : cfg->aws.profile;
    const char *role_arn = res->cfg->role_arn ? res->cfg->role_arn : role ? role->role_arn : NULL;
    const char *ext = res->cfg->role_arn ? res->cfg->external_id : role ? role->external_id : NULL;
    char key[8192]; /* above the longest region, profile, role ARN (2048) and external id (1224) */
    aws_client_entry *e;
    dr_aws_config ac;
    dr_aws *c = NULL;
    pthread_mutex_t *mu;
    aws_client_entry **list;
    int leaving;

    if (!region || !*region) {
        dr_error_set(err, DR_EINVAL, "%s: no region given for the AWS client", res->cfg->id);
        return NULL;
    }
    leaving = region_being_left(a, region);
    /* leaving first: a cut could otherwise drop it and mix the one-attempt client with the normal one */
    if (snprintf(key, sizeof(key), "%d|%s|%s|%s|%s", leaving, region, profile ? profile : "",
                 role_arn ? role_arn : "", ext ? ext : "") >= (int)sizeof(key)) {
        dr_error_set(err, DR_EINVAL, "%s: the region, profile, role ARN and external id are too long", res->cfg->id);
        return NULL;
    }
    mu = iso_in_child() ? &g_child_aws_mu : &a->aws_mu;
    list = iso_in_child() ? &g_child_clients : &a->clients;
    pthread_mutex_lock(mu);
    for (e = *list; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            break;
    if (e) {
        c = e->client;
        goto out;
    }
    memset(&ac, 0, sizeof(ac));
    ac.struct_size = sizeof(ac);
    ac.region = region;
    ac.profile = profile;
    ac.role_arn = role_arn;
    ac.external_id = ext;
    ac.endpoint_url = cfg->aws.endpoint_url;
    ac.ca_bundle = cfg->aws.ca_bundle;
    ac.insecure_tls = cfg->aws.insecure_tls;
    ac.max_attempts = cfg->aws.max_attempts;
    ac.connect_timeout_ms = (int64_t)(cfg->aws.connect_timeout * 1000.0);
    ac.attempt_timeout_ms = (int64_t)(cfg->aws.attempt_timeout * 1000.0);
    ac.s3_path_style = cfg->aws.s3_path_style;
    ac.network_max_attempts = leaving ? 1 : 0;
    if (dr_aws_new(&ac, &c, err) != 0) {
        c = NULL;
        goto out;
    }
    e = calloc(1, sizeof(*e));
    if (!e || !(e->key = strdup(key))) {
        free(e);
        dr_aws_free(c);
        c = NULL;
        dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    e->client = c;
    e->next = *list;
    *list = e;
out:
    pthread_mutex_unlock(mu);
    return c;
}

static int h_state_set(dr_resource *res, const char *key, const char *value, dr_error *err)
{
    if (guard_lost())
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

void plugins_configure(plugin_set *set, const dr_config *cfg, const char *own_dir)
{
    static plugin_choice choices[64];
    size_t n = 0;

    set->own_dir = own_dir;
    set->isolation = ISOLATE_THIRD_PARTY;
    if (cfg && cfg->agent.isolation)
        set->isolation = strcmp(cfg->agent.isolation, "all") == 0    ? ISOLATE_ALL
                         : strcmp(cfg->agent.isolation, "none") == 0 ? ISOLATE_NONE
                                                                     : ISOLATE_THIRD_PARTY;
    for (size_t i = 0; cfg && i < cfg->agent.n_plugin_paths && n < sizeof(choices) / sizeof(choices[0]); i++) {
        choices[n].type = cfg->agent.plugin_path_types[i];
        choices[n++].path = cfg->agent.plugin_paths[i];
    }
    set->choices = choices;
    set->n_choices = n;
    if (cfg)
        set->init_timeout = cfg->agent.hook_timeout < 30 ? cfg->agent.hook_timeout : 30;
}

static const dr_plugin_descriptor *lookup_plugin(const char *type, void *arg)
{
    const plugin *p = plugins_find((const plugin_set *)arg, type);
    return p ? &p->desc : NULL;
}

int agent_open(agent *a, const char *config_path, const char *plugin_dir, const char *fallback_dir, errlist *errs,
               dr_error *err)
{
    int rc;

    if (config_load(config_path, &a->cfg, errs) != 0)
        return DR_ECONFIG;
    if (!plugin_dir)
        plugin_dir = a->cfg->agent.plugin_dir;
    if (!plugin_dir)
        plugin_dir = fallback_dir;
    if (!plugin_dir)
        return dr_error_set(err, DR_EINVAL, "no plugin directory");
    plugins_configure(&a->plugins, a->cfg, fallback_dir);
    rc = plugins_load_dir(plugin_dir, host_api(), &a->plugins, err);
    if (rc != 0)
        return rc;
    if (config_bind(a->cfg, lookup_plugin, &a->plugins, errs) != 0 || graph_build(a->cfg, &a->g, errs) != 0)
        return DR_ECONFIG;
    if (agent_init_resources(a) != 0)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    return agent_validate(a, errs);
}

int agent_init_resources(agent *a)
{
    size_t n = a->cfg->n_res;

    a->res = calloc(n + 1, sizeof(*a->res));
    a->results = calloc(n + 1, sizeof(*a->results));
    if (!a->res || !a->results)
        return DR_ENOMEM;
    pthread_mutex_init(&a->aws_mu, NULL);
    for (size_t i = 0; i < n; i++) {
        a->res[i].agent = a;
        a->res[i].index = i;
        a->res[i].cfg = &a->cfg->res[i];
        a->res[i].plugin = plugins_find(&a->plugins, a->cfg->res[i].type);
        pthread_mutex_init(&a->res[i].mu, NULL);
    }
    return 0;
}

struct validate_arg {
    struct dr_resource *res;
};

/* In the child: the plugin's init, then its validate of one resource. */
static int isolated_validate_body(void *arg, char *err_out, size_t err_len)
{
    struct dr_resource *res = ((struct validate_arg *)arg)->res;
    const dr_plugin_descriptor *d = &res->plugin->desc;
    dr_error err;
    int rc;

    dr_error_clear(&err);
    if (d->init && (rc = d->init(host_api(), &err)) != 0) {
        snprintf(err_out, err_len, "init failed: %s", err.message[0] ? err.message : dr_strerror(rc));
        return rc < 0 ? rc : DR_EPLUGIN;
    }
    rc = d->validate(res, &err);
    if (rc != 0)
        snprintf(err_out, err_len, "%s", err.message[0] ? err.message : "invalid configuration");
    return rc;
}

static void validate_frame(void *arg, const iso_msg *m)
{
    if (m->type == ISO_LOG)
        h_log(arg, (dr_log_level)m->i, "%s", m->s[0] ? m->s[0] : "");
}

/* An isolated plugin's validate: in a child, under the init deadline and the cancel request. */
static int validate_isolated(agent *a, size_t i, dr_error *err, int *crashed)
{
    struct validate_arg va = {&a->res[i]};
    double t = a->cfg->agent.hook_timeout < 30 ? a->cfg->agent.hook_timeout : 30;
    iso_outcome out;
    int rc;

    rc = iso_call("validate", isolated_validate_body, &va, validate_frame, &a->res[i],
                  dr_mono_ms() + (int64_t)(t * 1000.0), 0, run_cancel_requested, &out);
    if (rc != 0)
        return dr_error_set(err, rc, "%s", out.message);
    if (!out.returned) {
        *crashed = 1;
        return dr_error_set(err, DR_EPLUGIN, "%s", out.message);
    }
    if (out.rc != 0)
        return dr_error_set(err, out.rc, "%s", out.message);
    return 0;
}

int agent_validate(agent *a, errlist *errs)
{
    size_t before = errs->n;
    int rc;

    for (size_t i = 0; i < a->cfg->n_res; i++) {
        const plugin *p = a->res[i].plugin;
        dr_error err;

        if (!p || !p->desc.validate)
            continue;
        dr_error_clear(&err);
        if (p->broken)
            continue;
        if (p->isolated) {
            int crashed = 0;
            if (validate_isolated(a, i, &err, &crashed) == 0)
                continue;
            if (crashed) {
                /* not a configuration error: this resource fails, the others run */
                log_error("%s: %s", a->cfg->res[i].id, err.message);
                a->res[i].broken = strdup(err.message);
                if (a->res[i].broken)
                    continue;
            }
            errlist_add(errs, a->cfg->path, a->cfg->res[i].line, "%s: %s", a->cfg->res[i].id,
                        err.message[0] ? err.message : "invalid configuration");
            continue;
        }
        run_plugin_call_begin();
        rc = p->desc.validate(&a->res[i], &err);
        run_plugin_call_end();
        if (rc != 0)
            errlist_add(errs, a->cfg->path, a->cfg->res[i].line, "%s: %s", a->cfg->res[i].id,
                        err.message[0] ? err.message : "invalid configuration");
    }
    return errs->n == before ? 0 : DR_ECONFIG;
}

int run_live_hooks(void)
{
    return (int)atomic_load(&g_live_jobs);
}

static atomic_int g_plugin_calls;

void run_plugin_call_begin(void)
{
    atomic_fetch_add(&g_plugin_calls, 1);
}

void run_plugin_call_end(void)
{
    atomic_fetch_sub(&g_plugin_calls, 1);
}

int run_in_plugin_code(void)
{
    return atomic_load(&g_plugin_calls) > 0 || atomic_load(&g_live_jobs) > 0;
}

int agent_free(agent *a)
{
    aws_client_entry *e = a->clients, *next;

    /* an abandoned hook may still use its resource, the agent, the clients: nothing is freed */
    if (atomic_load(&g_live_jobs) > 0)
        return 1;
    for (; e; e = next) {
        next = e->next;
        dr_aws_free(e->client);
        free(e->key);
        free(e);
    }
    a->clients = NULL;
    if (a->results && a->cfg)
        for (size_t i = 0; i < a->cfg->n_res; i++)
            free_result(&a->results[i]);
    free(a->results);
    for (size_t i = 0; a->res && a->cfg && i < a->cfg->n_res; i++)
        free(a->res[i].broken);
    free(a->res);
    graph_free(&a->g);
    config_free(a->cfg); /* before the plugins: its values point at their key tables */
    plugin_set_free(&a->plugins);
    memset(a, 0, sizeof(*a));
    return 0;
}
