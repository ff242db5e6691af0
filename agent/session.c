/* session.c: one command's run around the runner: run lock, journal, progress display, and the serving state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dr/util.h"
#include "log.h"
#include "cancel.h"
#include "progress.h"
#include "host.h"
#include "session.h"
#include "state.h"
#include "version.h"

int session_lease_lost(session *s)
{
    if (!s->locked || !lock_lost(&s->lock))
        return 0;
    if (!s->lease_lost_noted) {
        s->lease_lost_noted = 1;
        log_error("run %s: the run lease is lost (its local deadline passed or another host took it over): no step "
                  "starts and nothing more is recorded in the journal or the serving state",
                  s->run_id);
    }
    return 1;
}

static int obs_step_start(void *arg, size_t idx)
{
    session *s = arg;
    dr_error err;
    json_t *ev;
    char step[256];

    /* a step that would start after the lease's local deadline does not start */
    if (session_lease_lost(s))
        return DR_EBUSY;
    progress_step_start(s->a, idx, s->hook);
    if (!s->journaling)
        return 0;
    snprintf(step, sizeof(step), "%s/%s/%s", s->run_id, s->a->cfg->res[idx].id, s->phase);
    ev = json_pack("{s:s, s:s, s:s, s:s}", "step", step, "resource", s->a->cfg->res[idx].id, "hook",
                   hook_name(s->hook), "phase", s->phase);
    dr_error_clear(&err);
    if (!ev || journal_write(&s->j, "step_start", ev, &err) != 0) {
        log_error("%s", err.message[0] ? err.message : "journal: out of memory");
        json_decref(ev);
        return -1;
    }
    json_decref(ev);
    return 0;
}

static void obs_step_end(void *arg, size_t idx)
{
    session *s = arg;
    const res_result *r = &s->a->run.res[idx];
    json_t *ev, *changes;
    dr_error err;
    char step[256];

    progress_step_end(s->a, idx, s->hook);
    if (!s->journaling || session_lease_lost(s))
        return;
    snprintf(step, sizeof(step), "%s/%s/%s", s->run_id, s->a->cfg->res[idx].id, s->phase);
    changes = json_array();
    for (size_t k = 0; k < r->n_changes; k++)
        json_array_append_new(changes, json_pack("{s:s, s:s?, s:b}", "action", r->changes[k].action, "target",
                                                 r->changes[k].target, "done",
                                                 r->changes[k].state == DR_CHANGE_DONE));
    ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:o}", "step", step, "resource", s->a->cfg->res[idx].id, "hook",
                   hook_name(s->hook), "phase", s->phase, "status",
                   res_result_status_name(r, s->hook),
                   "duration_ms", (json_int_t)r->duration_ms, "changes", changes);
    if (ev && r->error[0])
        json_object_set_new(ev, "error", json_string(r->error));
    if (ev && r->has_rpo)
        json_object_set_new(ev, "rpo_seconds", json_real(r->rpo));
    dr_error_clear(&err);
    if (!ev || journal_write(&s->j, "step_end", ev, &err) != 0)
        log_error("%s", err.message[0] ? err.message : "journal: out of memory");
    json_decref(ev);
}

static void obs_progress(void *arg, size_t idx)
{
    session *s = arg;
    progress_update(s->a, idx);
}

int session_begin(session *s, agent *a, const session_opts *o, dr_error *err)
{
    lock_holder holder;
    lock_config lc;
    journal_run prior;
    int rc, have_prior = 0;

    memset(s, 0, sizeof(*s));
    s->a = a;
    s->result = &a->run;
    s->o = *o;
    s->started = dr_now();
    s->first_started = s->started;
    s->rto_part = -1;
    s->obs.step_start = obs_step_start;
    s->obs.step_end = obs_step_end;
    s->obs.progress = obs_progress;
    s->obs.arg = s;
    if (o->resume_run_id)
        snprintf(s->run_id, sizeof(s->run_id), "%s", o->resume_run_id);
    else
        state_new_run_id(s->run_id, sizeof(s->run_id));
    progress_start(a, o->quiet, 0);
    if (!o->mutating)
        return 0;
    a->state_dir = o->state_dir; /* plugins keep their state only under the lock */

    rc = state_dir_prepare(o->state_dir, err);
    if (rc != 0)
        goto fail;
    memset(&lc, 0, sizeof(lc));
    lc.state_dir = o->state_dir;
    lc.wait_seconds = o->wait_seconds;
    if (a->cfg->agent.lock_table) {
        dr_resource *any = a->cfg->n_res ? &a->res[0] : NULL;
        const char *region = a->cfg->agent.lock_region ? a->cfg->agent.lock_region : a->cfg->dr_region;
        lc.ddb = any ? host_api()->aws(any, region, err) : NULL;
        if (!lc.ddb) {
            rc = err->code ? err->code : DR_ECONFIG;
            goto fail;
        }
        lc.table = a->cfg->agent.lock_table;
        lc.name = a->cfg->agent.lock_name ? a->cfg->agent.lock_name : "dr-agent";
        lc.lease_seconds = a->cfg->agent.lock_lease;
    }
    if (o->resume_run_id) {
        /* the run's own lease token and first start, from its journal */
        char path[PATH_MAX];
        dr_error jerr;
        snprintf(path, sizeof(path), "%s/runs/%s.jsonl", o->state_dir, o->resume_run_id);
        dr_error_clear(&jerr);
        if (journal_read(path, &prior, &jerr) == 0) {
            have_prior = 1;
            s->first_started = prior.started_at;
            if (lc.ddb && prior.lease_token[0])
                lc.resume_token = prior.lease_token;
        }
    }
    rc = lock_acquire(&lc, s->run_id, o->command, &s->lock, &holder, err);
    if (rc != 0)
        goto fail;
    s->locked = 1;
    if (lc.ddb)
        cancel_set_guard(lock_lost_cb, &s->lock); /* every AWS call of the hooks checks the lease first */

    rc = journal_open(&s->j, o->state_dir, s->run_id, err);
    if (rc != 0)
        goto fail;
    s->journaling = 1;
    if (o->resume_run_id) {
        /* the run was chosen before the lock was taken: it may have ended (or been resumed) since */
        journal_run jr;
        rc = journal_read(s->j.path, &jr, err);
        if (rc == 0 && !journal_resumable(&jr))
            rc = dr_error_set(err, DR_ESTATE, "run %s ended (%s) while this resume waited for the lock: nothing to "
                              "resume", s->run_id, jr.status);
        journal_run_clear(&jr);
        if (rc != 0)
            goto fail;
    }
    {
        char host[256] = "", cfg_path[4096];
        json_t *ev, *res = json_array();
        gethostname(host, sizeof(host) - 1);
        snprintf(cfg_path, sizeof(cfg_path), "%s", o->config_path ? o->config_path : "");
        dr_utf8_scrub(host); /* the journal is JSON: UTF-8 only */
        dr_utf8_scrub(cfg_path);
        if (o->resume_run_id) {
            ev = json_pack("{s:s, s:I}", "host", host, "pid", (json_int_t)getpid());
            if (ev && s->lock.ddb) {
                json_object_set_new(ev, "lease_token", json_string(s->lock.token));
                if (s->lock.resumed)
                    json_object_set_new(ev, "lease_taken_over", json_true());
            }
            json_decref(res);
            rc = ev ? journal_write(&s->j, "resume", ev, err) : dr_error_set(err, DR_ENOMEM, "journal: out of memory");
        } else {
            for (size_t i = 0; i < a->cfg->n_res; i++)
                if (!o->selected || o->selected[i])
                    json_array_append_new(res, json_string(a->cfg->res[i].id));
            ev = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:I, s:o, s:b, s:s}", "run_id", s->run_id, "command",
                           o->command, "mode", o->mode == DR_MODE_FORCED ? "forced" : "graceful", "dry_run", o->dry_run,
                           "serving", o->serving == DR_SERVING_DR ? "dr" : "primary", "config",
                           cfg_path, "host", host, "pid", (json_int_t)getpid(), "resources",
                           res, "selected", o->selected != NULL, "agent_version", AG_VERSION);
            if (ev && s->lock.ddb)
                json_object_set_new(ev, "lease_token", json_string(s->lock.token));
            rc = ev ? journal_write(&s->j, "run_start", ev, err)
                    : dr_error_set(err, DR_ENOMEM, "journal: out of memory");
        }
        json_decref(ev);
        if (rc != 0) {
            if (!o->resume_run_id)
                unlink(s->j.path); /* a journal without its run_start is no run */
            goto fail;
        }
    }
    log_info("%s: run %s%s, journal %s", o->command, s->run_id, o->resume_run_id ? " (resumed)" : "", s->j.path);
    if (have_prior)
        journal_run_clear(&prior);
    return 0;
fail:
    if (have_prior)
        journal_run_clear(&prior);
    cancel_set_guard(NULL, NULL);
    if (s->journaling)
        journal_close(&s->j);
    s->journaling = 0;
    if (s->locked)
        lock_release(&s->lock);
    s->locked = 0;
    progress_stop();
    return rc;
}

int session_run(session *s, hook_kind hook, const char *phase, int dry_run, dr_serving serving)
{
    run_opts ro;

    s->hook = hook;
    s->phase = phase;
    memset(&ro, 0, sizeof(ro));
    ro.hook = hook;
    ro.dry_run = dry_run;
    ro.mode = s->o.mode;
    ro.serving = serving;
    ro.ordered = !HOOK_REPORTS_CHECKS(hook) && hook != HOOK_PREPARE;
    ro.reverse = s->reverse;
    ro.run_id = s->run_id;
    ro.selected = s->o.selected;
    ro.observer = &s->obs;
    ro.concurrency = s->o.concurrency;
    ro.hook_timeout = s->o.hook_timeout;
    if (hook == HOOK_PREPARE) {
        /* one deadline for the whole barrier: every resource is ready by then, or none moves */
        double t = s->o.prepare_timeout > 0 ? s->o.prepare_timeout : s->a->cfg->agent.prepare_timeout;
        /* a prepare hook is a hook: --timeout bounds it too */
        if (s->o.hook_timeout > 0 && s->o.hook_timeout < t)
            t = s->o.hook_timeout;
        ro.prepare_for = s->prepare_for;
    ro.run_started = s->first_started;
        ro.hook_timeout = t;
        ro.run_deadline_ms = dr_mono_ms() + (int64_t)(t * 1000.0);
    }
    if (HOOK_REPORTS_CHECKS(hook)) {
        /* verify as a whole ends in time (a monitoring check waits for it): a longer --timeout extends it */
        double total = s->a->cfg->agent.verify_timeout;
        if (s->o.hook_timeout > total)
            total = s->o.hook_timeout;
        ro.run_deadline_ms = dr_mono_ms() + (int64_t)(total * 1000.0);
    }
    if (session_lease_lost(s)) {
        log_error("the run lease was lost: %s not started", phase);
        return DR_EBUSY;
    }
    s->result = run_execute(s->a, &ro);
    if (!s->result) {
        s->result = &s->a->run; /* the agent's, as the run left it */
        return DR_ENOMEM;
    }
    return 0;
}

/* A resumed run whose own steps changed nothing still made the changes its interrupted part made. */
static const char *resumed_status(session *s, const char *status)
{
    journal_run r;
    dr_error err;
    int changed;

    if (!s->o.resume_run_id || strcmp(status, "unchanged") != 0)
        return status;
    dr_error_clear(&err);
    if (journal_read(s->j.path, &r, &err) != 0)
        return status;
    changed = r.changed;
    journal_run_clear(&r);
    return changed ? "done" : status;
}

void session_end(session *s, const char *status, double rto, double rpo)
{
    if (s->journaling && session_lease_lost(s)) {
        /* the lease may be another host's: the journal ends where the lease did (the run shows as interrupted) */
        log_error("run %s lost its lease: it ends without its end in the journal; 'dr-agent history' shows it "
                  "interrupted, 'dr-agent resume' takes it up again once the lease is free",
                  s->run_id);
        journal_close(&s->j);
        s->journaling = 0;
    }
    if (s->journaling)
        status = resumed_status(s, status);
    if (s->journaling) {
        dr_error err;
        json_t *ev = json_pack("{s:s, s:f}", "status", status, "duration_seconds", dr_now() - s->started);
        if (ev && rto >= 0)
            json_object_set_new(ev, "rto_seconds", json_real(rto));
        if (ev && rto >= 0 && s->rto_part >= 0 && s->o.resume_run_id)
            json_object_set_new(ev, "rto_since_resume_seconds", json_real(s->rto_part));
        if (ev && rpo >= 0)
            json_object_set_new(ev, "rpo_seconds", json_real(rpo));
        if (ev && s->n_rpo_unknown) {
            json_t *ids = json_array();
            for (size_t i = 0; i < s->n_rpo_unknown; i++)
                json_array_append_new(ids, json_string(s->rpo_unknown_ids[i]));
            json_object_set_new(ev, "rpo_unknown", ids);
        }
        dr_error_clear(&err);
        if (!ev || journal_write(&s->j, "run_end", ev, &err) != 0)
            log_error("%s", err.message[0] ? err.message : "journal: out of memory");
        json_decref(ev);
        journal_close(&s->j);
        s->journaling = 0;
    }
    if (s->locked) {
        size_t removed = 0;
        dr_error err;
        cancel_set_guard(NULL, NULL);
        lock_release(&s->lock);
        s->locked = 0;
        dr_error_clear(&err);
        if (journal_prune(s->o.state_dir, s->a->cfg->agent.retention, &removed, &err) == 0 && removed)
            log_info("pruned %zu journals and reports older than the retention period", removed);
    }
    progress_stop();
}
