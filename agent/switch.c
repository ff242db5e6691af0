/* switch.c: a failover or failback as a two-phase switch (prepare every resource, commit once all are ready) and the stated state of one that did not finish. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dr/util.h"
#include "log.h"
#include "switch.h"

static int selected(const session *s, size_t i)
{
    return !s->o.selected || s->o.selected[i];
}

/* A prepare that failed because the region being left did not answer (forced mode goes on without it). */
static int left_region_silent(const res_result *r)
{
    return r->rc == DR_ENETWORK || r->rc == DR_ETIMEDOUT || r->timed_out;
}

static json_t *prepare_json(const run_result *run, size_t i, int ready)
{
    const res_result *r = &run->res[i];
    json_t *checks = json_array();
    json_t *o;

    for (size_t k = 0; k < r->n_checks; k++) {
        const check_rec *c = &r->checks[k];
        json_t *jc = json_pack("{s:s, s:s}", "name", c->name, "status", dr_status_str(c->status));
        if (!jc)
            continue;
        if (c->observed)
            json_object_set_new(jc, "observed", json_string(c->observed));
        if (c->threshold)
            json_object_set_new(jc, "threshold", json_string(c->threshold));
        if (c->unit)
            json_object_set_new(jc, "unit", json_string(c->unit));
        if (c->detail)
            json_object_set_new(jc, "detail", json_string(c->detail));
        json_array_append_new(checks, jc);
    }
    o = json_pack("{s:s, s:b, s:o}", "resource", run->cfg->res[i].id, "ready", ready, "checks", checks);
    if (o && r->error[0])
        json_object_set_new(o, "error", json_string(r->error));
    return o;
}

/* The prepare phase; fills out and returns 0, or the runner's error. */
static int prepare_phase(session *s, hook_kind hook, dr_serving serving, int dry_run, drill *d, switch_result *out)
{
    agent *a = s->a;
    const char *leaving = hook == HOOK_FAILOVER ? a->cfg->primary_region : a->cfg->dr_region;
    size_t len = 0, n = 0;
    char left[32];
    int rc;

    s->prepare_for = hook == HOOK_FAILBACK ? DR_SWITCH_FAILBACK : DR_SWITCH_FAILOVER;
    for (size_t i = 0; i < a->cfg->n_res; i++)
        n += selected(s, i);
    {
        double t = s->o.prepare_timeout > 0 ? s->o.prepare_timeout : a->cfg->agent.prepare_timeout;
        if (s->o.hook_timeout > 0 && s->o.hook_timeout < t)
            t = s->o.hook_timeout;
        dr_duration_format(t, left, sizeof(left));
    }
    log_info("prepare %s: %zu resources check their preconditions and wait for their data (deadline %s); nothing "
             "changes until every one is ready",
             hook_name(hook), n, left);
    rc = session_run(s, HOOK_PREPARE, hook == HOOK_FAILBACK && d ? "prepare-failback" : "prepare", dry_run, serving);
    if (rc != 0)
        return rc;
    out->prepared = 1;
    if (d)
        drill_record_phase(d, s->result, hook == HOOK_FAILBACK ? "prepare-failback" : "prepare");
    out->prepare = json_array();
    for (size_t i = 0; i < a->cfg->n_res; i++) {
        const res_result *r = &s->result->res[i];
        int ready;

        if (!selected(s, i))
            continue;
        if (!hook_fn(&a->res[i].plugin->desc, HOOK_PREPARE)) {
            out->n_no_prepare++;
            log_warn("%s: plugin %s %s (ABI %u.%u) has no prepare phase: its %s runs without a readiness check",
                     a->cfg->res[i].id, a->res[i].plugin->desc.type,
                     a->res[i].plugin->desc.version ? a->res[i].plugin->desc.version : "?",
                     a->res[i].plugin->desc.abi_major, a->res[i].plugin->desc.abi_minor, hook_name(hook));
            json_array_append_new(out->prepare, json_pack("{s:s, s:b, s:s, s:[]}", "resource", a->cfg->res[i].id,
                                                          "ready", 1, "note", "no prepare phase (ABI 1.0 plugin)",
                                                          "checks"));
            continue;
        }
        /* ready: its prepare hook was called and succeeded (a hook never called confirmed nothing) */
        ready = r->ran && r->outcome != ACT_FAILED && r->outcome != ACT_SKIPPED;
        if (!ready && s->o.mode == DR_MODE_FORCED && !s->result->cancelled && left_region_silent(r)) {
            out->n_forced_past++;
            log_warn("%s: forced mode: not confirmed ready (%s); %s, the region being left, does not answer: the "
                     "barrier is skipped for it",
                     a->cfg->res[i].id, r->error, leaving);
            ready = 1;
        }
        json_array_append_new(out->prepare, prepare_json(s->result, i, ready));
        if (ready)
            continue;
        out->n_not_ready++;
        if (len < sizeof(out->reason)) {
            int w = snprintf(out->reason + len, sizeof(out->reason) - len, "%s%s: %s", len ? "; " : "",
                             a->cfg->res[i].id,
                             r->error[0] ? r->error : r->skipped || !r->ran ? "not prepared" : "not ready");
            if (w > 0)
                len += (size_t)w;
        }
    }
    if (s->result->cancelled && !out->n_not_ready) {
        out->n_not_ready = 1;
        snprintf(out->reason, sizeof(out->reason), "the run was cancelled during prepare");
    }
    return 0;
}

int switch_run(session *s, hook_kind hook, const char *phase, dr_serving serving, int dry_run, int skip_prepare,
               drill *d, switch_result *out)
{
    agent *a = s->a;
    int rc;

    switch_result_free(out); /* a drill switches more than once with the same result */
    if (!skip_prepare) {
        rc = prepare_phase(s, hook, serving, dry_run, d, out);
        if (rc != 0)
            return rc;
        if (out->n_not_ready && !dry_run) {
            out->outcome = SWITCH_NOT_READY;
            log_error("%s stopped in prepare: nothing was changed; not ready: %s", hook_name(hook), out->reason);
            return 0;
        }
        if (out->n_not_ready)
            log_warn("%s (dry run): not ready: %s", hook_name(hook), out->reason);
        else
            log_info("prepare %s: every resource is ready%s; committing", hook_name(hook),
                     out->n_forced_past ? " or, forced, past the barrier" : "");
    }
    rc = session_run(s, hook, phase, dry_run, serving);
    if (rc != 0)
        return rc;
    if (d)
        drill_record_phase(d, s->result, phase);
    if (!result_all_succeeded(s->result)) {
        size_t len = 0;
        out->outcome = SWITCH_INCOMPLETE;
        for (size_t i = 0; i < a->cfg->n_res && len < sizeof(out->reason); i++) {
            const res_result *r = &s->result->res[i];
            int w;
            if (!selected(s, i) || r->outcome != ACT_FAILED)
                continue;
            w = snprintf(out->reason + len, sizeof(out->reason) - len, "%s%s: %s", len ? "; " : "", a->cfg->res[i].id,
                         r->error);
            if (w > 0)
                len += (size_t)w;
        }
        if (!len)
            snprintf(out->reason, sizeof(out->reason), "%s",
                     s->result->cancelled ? "the run was cancelled" : "steps were skipped");
    }
    return 0;
}

void switch_result_free(switch_result *r)
{
    json_decref(r->prepare);
    memset(r, 0, sizeof(*r));
}

/* ---- the stated state ---- */

/* What a commit step did: "moved", "partly moved" (changes made, then it failed), "not moved". */
static const char *moved_word(const res_result *r)
{
    int done = 0;

    for (size_t k = 0; k < r->n_changes; k++)
        done |= r->changes[k].state == DR_CHANGE_DONE;
    if (r->outcome == ACT_DONE || r->outcome == ACT_UNCHANGED)
        return "moved";
    return done ? "partly moved" : "not moved";
}

json_t *switch_state(session *s, hook_kind hook, const char *outcome, const char *config_path)
{
    agent *a = s->a;
    const char *from = hook == HOOK_FAILOVER ? a->cfg->primary_region : a->cfg->dr_region;
    const char *to = hook == HOOK_FAILOVER ? a->cfg->dr_region : a->cfg->primary_region;
    json_t *res = json_array(), *st;
    char cfg[4200] = "", complete[4400], reverse[4400];
    size_t moved = 0, partly = 0, still = 0;

    if (config_path) {
        /* the commands are run from anywhere: the configuration by its absolute path */
        char abs[PATH_MAX];
        snprintf(cfg, sizeof(cfg), " -c %s", realpath(config_path, abs) ? abs : config_path);
    }
    for (size_t i = 0; i < a->cfg->n_res; i++) {
        const res_result *r = &s->result->res[i];
        const char *w, *region;
        json_t *o;

        if (!selected(s, i))
            continue;
        w = moved_word(r);
        region = strcmp(w, "moved") == 0 ? to : strcmp(w, "not moved") == 0 ? from : "none";
        moved += strcmp(w, "moved") == 0;
        partly += strcmp(w, "partly moved") == 0;
        still += strcmp(w, "not moved") == 0;
        o = json_pack("{s:s, s:s, s:s, s:s}", "resource", a->cfg->res[i].id, "state", w, "serving_region", region,
                      "step", action_status_name(r->outcome));
        if (o && r->error[0])
            json_object_set_new(o, "error", json_string(r->error));
        json_array_append_new(res, o);
    }
    snprintf(complete, sizeof(complete), "dr-agent%s resume %s --yes", cfg, s->run_id);
    snprintf(reverse, sizeof(reverse), "dr-agent%s %s --yes", cfg, hook == HOOK_FAILOVER ? "failback" : "failover");
    st = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:s, s:s}", "run_id", s->run_id, "outcome", outcome,
                   "switch", hook_name(hook), "from_region", from, "to_region", to, "moved", (json_int_t)moved,
                   "partly_moved", (json_int_t)partly, "not_moved", (json_int_t)still, "resources", res,
                   "complete_command", complete, "reverse_command", reverse);
    if (st && s->journaling) {
        dr_error err;
        json_t *ev = json_deep_copy(st);
        dr_error_clear(&err);
        if (!ev || journal_write(&s->j, "stated_state", ev, &err) != 0)
            log_error("%s", err.message[0] ? err.message : "journal: out of memory");
        json_decref(ev);
    }
    return st;
}

void switch_state_print(const json_t *st, FILE *out)
{
    const json_t *res = json_object_get(st, "resources"), *r;
    size_t i;

    fprintf(out, "%s %s: %s (%lld moved to %s, %lld partly moved, %lld still in %s)\n",
            json_string_value(json_object_get(st, "switch")), json_string_value(json_object_get(st, "run_id")),
            json_string_value(json_object_get(st, "outcome")),
            (long long)json_integer_value(json_object_get(st, "moved")),
            json_string_value(json_object_get(st, "to_region")),
            (long long)json_integer_value(json_object_get(st, "partly_moved")),
            (long long)json_integer_value(json_object_get(st, "not_moved")),
            json_string_value(json_object_get(st, "from_region")));
    json_array_foreach(res, i, r) {
        const char *err = json_string_value(json_object_get(r, "error"));
        fprintf(out, "  %-32s %-13s serving region: %s%s%s\n", json_string_value(json_object_get(r, "resource")),
                json_string_value(json_object_get(r, "state")),
                json_string_value(json_object_get(r, "serving_region")), err ? "  - " : "", err ? err : "");
    }
    fprintf(out, "  to complete it: %s\n  to reverse it:  %s\n",
            json_string_value(json_object_get(st, "complete_command")),
            json_string_value(json_object_get(st, "reverse_command")));
}

/* ---- where the application lives ---- */

json_t *switch_where(const agent *a, dr_serving serving)
{
    const char *region = serving == DR_SERVING_DR ? a->cfg->dr_region : a->cfg->primary_region;
    json_t *res = json_array();

    for (size_t i = 0; i < a->cfg->n_res; i++) {
        const res_result *r = &a->run.res[i];
        json_t *o = json_pack("{s:s, s:s}", "resource", a->cfg->res[i].id, "region", region);
        json_t *eps = json_array();

        if (!o)
            continue;
        /* what the application must use: the plugins report it as "endpoint" checks (observed: the name) */
        for (size_t k = 0; k < r->n_checks; k++)
            if (strcmp(r->checks[k].name, "endpoint") == 0 && r->checks[k].observed)
                json_array_append_new(eps, json_pack("{s:s, s:s?}", "value", r->checks[k].observed, "what",
                                                     r->checks[k].detail));
        json_object_set_new(o, "endpoints", eps);
        json_array_append_new(res, o);
    }
    return json_pack("{s:s, s:o}", "serving_region", region, "resources", res);
}

void switch_where_print(const json_t *where, FILE *out)
{
    const json_t *res = json_object_get(where, "resources"), *r;
    size_t i;

    fprintf(out, "the application is served from %s\n", json_string_value(json_object_get(where, "serving_region")));
    json_array_foreach(res, i, r) {
        const json_t *eps = json_object_get(r, "endpoints"), *e;
        size_t k;
        fprintf(out, "  %-32s %s", json_string_value(json_object_get(r, "resource")),
                json_string_value(json_object_get(r, "region")));
        json_array_foreach(eps, k, e) {
            const char *what = json_string_value(json_object_get(e, "what"));
            fprintf(out, "%s%s%s%s", k ? ", " : "  ", what ? what : "", what ? ": " : "",
                    json_string_value(json_object_get(e, "value")));
        }
        fputc('\n', out);
    }
}
