/* commands.c: the commands of dr-agent: plugins, plan, configure/verify/failover/failback, drill, resume, history. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cancel.h"
#include "cli.h"
#include "config.h"
#include "dr/util.h"
#include "drill.h"
#include "journal.h"
#include "log.h"
#include "report.h"
#include "session.h"
#include "state.h"
#include "switch.h"
#include "version.h"

const char *cli_state_dir(const opts *o, const ag_config *cfg)
{
    if (o->state_dir)
        return o->state_dir;
    if (getenv("DR_AGENT_STATE_DIR") && *getenv("DR_AGENT_STATE_DIR"))
        return getenv("DR_AGENT_STATE_DIR");
    if (cfg && cfg->agent.state_dir)
        return cfg->agent.state_dir;
    return AG_DEFAULT_STATE_DIR;
}


int cmd_plugins(const opts *o, const plugin_set *ps, const char *dir)
{
    if (o->format == FMT_JSON) {
        json_t *arr = json_array(), *ref = json_array();
        json_t *doc = json_pack("{s:s, s:s, s:{s:i, s:i}, s:o, s:o}", "agent_version", AG_VERSION,
                                "plugin_dir", dir, "abi", "major", DR_ABI_MAJOR, "minor", DR_ABI_MINOR, "plugins",
                                arr, "refused", ref);
        for (size_t i = 0; i < ps->n; i++) {
            const dr_plugin_descriptor *d = &ps->items[i].desc;
            json_t *keys = json_array(), *hooks = json_array();
            for (int h = 0; h < HOOK_COUNT; h++)
                if (hook_fn(d, (hook_kind)h))
                    json_array_append_new(hooks, json_string(hook_name((hook_kind)h)));
            for (size_t k = 0; k < d->n_keys; k++) {
                const dr_config_key *key = &d->keys[k];
                json_t *jk = json_pack("{s:s, s:s, s:b, s:b, s:o, s:s}", "name", key->name, "type",
                                       config_key_type_name(key->type), "required", (key->flags & DR_KEY_REQUIRED) != 0,
                                       "secret", (key->flags & DR_KEY_SECRET) != 0, "default",
                                       key->default_value ? json_string(key->default_value) : json_null(),
                                       "description", key->description ? key->description : "");
                if (jk && key->choices)
                    json_object_set_new(jk, "choices", json_string(key->choices));
                json_array_append_new(keys, jk);
            }
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "type", d->type, "version",
                                                 d->version ? d->version : "", "description",
                                                 d->description ? d->description : "", "file", ps->items[i].path,
                                                 "abi", "", "hooks", hooks, "config_keys", keys));
            {
                char abi[16];
                json_t *last = json_array_get(arr, json_array_size(arr) - 1), *svc = json_array();
                snprintf(abi, sizeof(abi), "%u.%u", d->abi_major, d->abi_minor);
                json_object_set_new(last, "abi", json_string(abi));
                /* the AWS services it declares (ABI 1.1); null: not declared */
                for (size_t k = 0; d->services && d->services[k]; k++)
                    json_array_append_new(svc, json_string(d->services[k]));
                json_object_set_new(last, "services", d->services ? svc : (json_decref(svc), json_null()));
                json_object_set_new(last, "isolated", json_boolean(ps->items[i].isolated));
            }
        }
        for (size_t i = 0; i < ps->n_refusals; i++)
            json_array_append_new(ref, json_string(ps->refusals[i]));
        json_dumpf(doc, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(doc);
        return EXIT_OK;
    }
    printf("plugin directory: %s (host ABI %d.%d)\n", dir, DR_ABI_MAJOR, DR_ABI_MINOR);
    for (size_t i = 0; i < ps->n; i++) {
        const dr_plugin_descriptor *d = &ps->items[i].desc;
        printf("\n%s %s (ABI %u.%u) - %s\n  file: %s\n  hooks:", d->type, d->version ? d->version : "?",
               d->abi_major, d->abi_minor, d->description ? d->description : "", ps->items[i].path);
        for (int h = 0; h < HOOK_COUNT; h++)
            printf(" %s%s", hook_name((hook_kind)h), hook_fn(d, (hook_kind)h) ? "" : "(none)");
        printf("\n  AWS services:");
        for (size_t k = 0; d->services && d->services[k]; k++)
            printf(" %s", d->services[k]);
        printf("%s\n  runs %s", d->services ? "" : " (not declared)",
               ps->items[i].isolated ? "isolated (a child process per call)" : "in the agent's process");
        printf("\n  keys:\n");
        for (size_t k = 0; k < d->n_keys; k++) {
            const dr_config_key *key = &d->keys[k];
            printf("    %-24s %-9s %s%s%s%s%s\n", key->name, config_key_type_name(key->type),
                   (key->flags & DR_KEY_REQUIRED) ? "required. " : "", key->description ? key->description : "",
                   key->default_value ? " [default: " : "", key->default_value ? key->default_value : "",
                   key->default_value ? "]" : "");
            if (key->choices)
                printf("    %-24s %-9s one of: %s\n", "", "", key->choices);
        }
    }
    if (ps->n == 0)
        printf("\nno plugins loaded\n");
    for (size_t i = 0; i < ps->n_refusals; i++)
        printf("\nrefused: %s\n", ps->refusals[i]);
    return EXIT_OK;
}

int cmd_plan(const opts *o, const agent *a, const unsigned char *sel)
{
    const ag_config *cfg = a->cfg;

    if (o->format == FMT_DOT) {
        printf("digraph dr_agent {\n  rankdir=LR;\n  node [shape=box];\n");
        for (size_t i = 0; i < cfg->n_res; i++)
            if (!sel || sel[i])
                printf("  \"%s\" [label=\"%s\\nlevel %d\"];\n", cfg->res[i].id, cfg->res[i].id, a->g.level[i]);
        for (size_t i = 0; i < cfg->n_res; i++)
            for (size_t k = 0; k < a->g.n_deps[i]; k++)
                if (!sel || (sel[i] && sel[a->g.deps[i][k]]))
                    printf("  \"%s\" -> \"%s\";\n", cfg->res[a->g.deps[i][k]].id, cfg->res[i].id);
        printf("}\n");
        return EXIT_OK;
    }
    if (o->format == FMT_JSON) {
        json_t *levels = json_array();
        for (int l = 0; l < a->g.n_levels; l++) {
            json_t *lv = json_array();
            for (size_t i = 0; i < cfg->n_res; i++) {
                json_t *deps;
                if (a->g.level[i] != l || (sel && !sel[i]))
                    continue;
                json_t *cps = json_array();
                deps = json_array();
                for (size_t k = 0; k < a->g.n_deps[i]; k++)
                    json_array_append_new(deps, json_string(cfg->res[a->g.deps[i][k]].id));
                for (int k = 0; k < a->res[i].n_control_planes; k++) {
                    const char *cp = a->res[i].control_planes[k], *at = strchr(cp, '@');
                    if (!at)
                        continue;
                    json_array_append_new(cps, json_pack("{s:s%, s:s, s:b}", "service", cp, (size_t)(at - cp),
                                                         "region", at + 1, "in_primary_region",
                                                         strcmp(at + 1, cfg->primary_region) == 0));
                }
                json_array_append_new(lv, json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", cfg->res[i].id, "plugin",
                                                    cfg->res[i].type, "name", cfg->res[i].name, "depends_on", deps,
                                                    "failover_control_planes", cps));
            }
            json_array_append_new(levels, lv);
        }
        {
            json_t *doc = json_pack("{s:o}", "levels", levels);
            int rc = doc && json_dumpf(doc, stdout, JSON_INDENT(2)) == 0 ? EXIT_OK : EXIT_FAIL;
            json_decref(doc);
            putchar('\n');
            if (rc != EXIT_OK)
                log_error("plan: could not write the JSON document");
            return rc;
        }
    }
    printf("%zu resources in %d levels; each level runs in parallel after the previous one succeeded\n",
           cfg->n_res, a->g.n_levels);
    for (int l = 0; l < a->g.n_levels; l++) {
        printf("\nlevel %d:\n", l);
        for (size_t i = 0; i < cfg->n_res; i++) {
            if (a->g.level[i] != l || (sel && !sel[i]))
                continue;
            printf("  %s", cfg->res[i].id);
            if (a->g.n_deps[i]) {
                printf("  (after");
                for (size_t k = 0; k < a->g.n_deps[i]; k++)
                    printf("%s %s", k ? "," : "", cfg->res[a->g.deps[i][k]].id);
                printf(")");
            }
            for (int k = 0; k < a->res[i].n_control_planes; k++) {
                const char *cp = a->res[i].control_planes[k], *at = strchr(cp, '@');
                printf("%s%s%s", k ? ", " : "  failover calls ", cp,
                       at && strcmp(at + 1, cfg->primary_region) == 0 ? " (in the primary region!)" : "");
            }
            putchar('\n');
        }
    }
    return EXIT_OK;
}

static int confirm(const opts *o, const agent *a, const char *cmd)
{
    char line[64];

    if (o->yes || o->plan)
        return 0;
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr, "dr-agent: %s changes which region serves; stdin is not a terminal, so pass --yes to confirm\n",
                cmd);
        return -1;
    }
    fprintf(stderr, "%s: make %s serve (%s mode, %zu resources). Type 'yes' to go on: ", cmd,
            strcmp(cmd, "failover") == 0 ? a->cfg->dr_region : a->cfg->primary_region,
            o->mode == DR_MODE_FORCED ? "forced" : "graceful", a->cfg->n_res);
    if (!fgets(line, sizeof(line), stdin) || strcmp(line, "yes\n") != 0) {
        fprintf(stderr, "dr-agent: not confirmed; nothing done\n");
        return -1;
    }
    return 0;
}

static int output_prometheus_file(const opts *o, const run_result *run, const report_info *ri)
{
    dr_error err;

    dr_error_clear(&err);
    if (report_prometheus_file(run, ri, o->prometheus_file, &err) != 0) {
        log_error("%s", err.message);
        return -1;
    }
    return 0;
}

static int output_report(const opts *o, const run_result *run, const report_info *ri)
{
    dr_error err;

    switch (o->format) {
    case FMT_JSON: report_json(run, ri, stdout); break;
    case FMT_PROMETHEUS: report_prometheus(run, ri, stdout); break;
    case FMT_NAGIOS: report_nagios(run, ri, stdout); break;
    default: report_text(run, ri, stdout, o->verbose > 0); break;
    }
    fflush(stdout);
    if (o->prometheus_file) {
        dr_error_clear(&err);
        if (report_prometheus_file(run, ri, o->prometheus_file, &err) != 0) {
            log_error("%s", err.message);
            return -1;
        }
    }
    return 0;
}

static void fill_session_opts(const opts *o, agent *a, const unsigned char *sel, const char *command,
                              const char *config_path, session_opts *so)
{
    memset(so, 0, sizeof(*so));
    so->command = command;
    so->state_dir = cli_state_dir(o, a->cfg);
    so->config_path = config_path;
    so->mode = o->mode;
    so->selected = sel;
    so->wait_seconds = o->wait;
    so->concurrency = o->concurrency;
    so->hook_timeout = o->timeout;
    so->prepare_timeout = o->prepare_timeout;
    so->quiet = o->quiet || o->format != FMT_TEXT;
}

static dr_serving current_serving(const opts *o, const char *state_dir)
{
    dr_serving serving = DR_SERVING_PRIMARY;
    dr_error err;

    if (o->serving_set)
        return o->serving;
    dr_error_clear(&err);
    if (state_read_serving(state_dir, &serving, &err) != 0)
        log_warn("%s; assuming the primary region serves", err.message);
    return serving;
}

/*
 * Runs that changed which region serves and did not finish (interrupted, or stopped in a stated state): they need
 * resume. Each is logged with the command; returns [{run_id, command, status, command_line}] or NULL when none.
 */
static json_t *pending_resume(const char *state_dir, const char *config_path)
{
    journal_run *runs = NULL;
    size_t n = 0;
    json_t *out = NULL;
    dr_error err;

    dr_error_clear(&err);
    if (journal_list(state_dir, &runs, &n, &err) != 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const journal_run *r = &runs[i];
        char cmd[4400], abs[PATH_MAX];

        if (r->dry_run || !journal_resumable(r) || strcmp(r->command, "configure") == 0)
            continue;
        snprintf(cmd, sizeof(cmd), "dr-agent%s%s resume %s --yes", config_path ? " -c " : "",
                 !config_path ? "" : realpath(config_path, abs) ? abs : config_path, r->run_id);
        log_warn("%s run %s %s: the estate may be split between the regions; it needs resume: %s", r->command,
                 r->run_id, r->ended ? r->status : "was interrupted (or is still running)", cmd);
        if (!out)
            out = json_array();
        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s}", "run_id", r->run_id, "command", r->command,
                                             "status", r->ended ? r->status : "interrupted", "command_line", cmd));
    }
    journal_runs_free(runs, n);
    return out;
}

/* sel covers every resource of the configuration (NULL: all). */
static int covers_all(const agent *a, const unsigned char *sel)
{
    for (size_t i = 0; sel && i < a->cfg->n_res; i++)
        if (!sel[i])
            return 0;
    return 1;
}

/* A failover, failback or drill of nothing would record a serving region that nothing backs. */
static int refuse_empty(const agent *a, const char *command)
{
    if (a->cfg->n_res > 0)
        return 0;
    fprintf(stderr, "dr-agent: %s: resources is empty: %s has nothing to move, and no serving region is recorded\n",
            a->cfg->path, command);
    return -1;
}

static int begin_failed(const dr_error *err)
{
    log_error("%s", err->message);
    return EXIT_FAIL;
}

int cmd_run(const opts *o, agent *a, const unsigned char *sel, hook_kind hook, const char *config_path,
                   const char *resume_id)
{
    session_opts so;
    session s;
    report_info ri;
    dr_error err;
    switch_result sw;
    json_t *stated = NULL, *where = NULL, *pending = NULL;
    int rc, ok;

    memset(&sw, 0, sizeof(sw));
    if (o->format == FMT_DOT || (o->format == FMT_NAGIOS && hook != HOOK_VERIFY) ||
        (o->format == FMT_PROMETHEUS && hook == HOOK_DIAGNOSE)) {
        fprintf(stderr, "dr-agent: --format %s is not available for %s\n",
                o->format == FMT_DOT ? "dot" : o->format == FMT_NAGIOS ? "nagios" : "prometheus", hook_name(hook));
        return EXIT_USAGE;
    }
    if ((hook == HOOK_FAILOVER || hook == HOOK_FAILBACK) && refuse_empty(a, hook_name(hook)) != 0)
        return EXIT_CONFIG;
    fill_session_opts(o, a, sel, hook_name(hook), config_path, &so);
    so.mutating = !HOOK_REPORTS_CHECKS(hook) && !o->plan;
    so.dry_run = o->plan;
    so.resume_run_id = resume_id;
    /* a resumed failover or failback moves traffic too: it is confirmed like the command itself */
    if ((hook == HOOK_FAILOVER || hook == HOOK_FAILBACK) && confirm(o, a, hook_name(hook)) != 0)
        return EXIT_USAGE;
    dr_error_clear(&err);
    if (session_begin(&s, a, &so, &err) != 0)
        return begin_failed(&err);
    /* read which region serves under the lock: another run may just have changed it */
    so.serving = current_serving(o, so.state_dir);
    if (hook == HOOK_VERIFY)
        pending = pending_resume(so.state_dir, config_path);
    s.o.serving = so.serving;
    log_msg(HOOK_REPORTS_CHECKS(hook) ? DR_LOG_DEBUG : DR_LOG_INFO, NULL, "%s%s: %zu resources, %s serving", hook_name(hook),
            o->plan ? " (dry run)" : "", a->cfg->n_res,
             so.serving == DR_SERVING_DR ? a->cfg->dr_region : a->cfg->primary_region);
    if (hook == HOOK_FAILOVER || hook == HOOK_FAILBACK)
        rc = switch_run(&s, hook, hook_name(hook), so.serving, o->plan, o->skip_prepare, NULL, &sw);
    else
        rc = session_run(&s, hook, hook_name(hook), o->plan, so.serving);
    if (rc != 0) {
        log_error("the run could not start: %s", dr_strerror(rc));
        session_end(&s, "failed", -1, -1);
        switch_result_free(&sw);
        return EXIT_FAIL;
    }
    ok = HOOK_REPORTS_CHECKS(hook) ? 1 : result_all_succeeded(s.result);
    if (sw.outcome == SWITCH_NOT_READY)
        ok = 0;
    if (s.locked && session_lease_lost(&s)) {
        log_error("the run lease was lost during the run: it did not finish under its lease, and which region serves "
                  "is not recorded");
        ok = 0;
    }
    /* a run of every resource (a resume of such a run included) records which region serves now */
    if (ok && !o->plan && covers_all(a, sel) && (hook == HOOK_FAILOVER || hook == HOOK_FAILBACK)) {
        dr_error_clear(&err);
        if (session_lease_lost(&s)) {
            ok = 0;
        } else if (state_write_serving(so.state_dir, hook == HOOK_FAILOVER ? DR_SERVING_DR : DR_SERVING_PRIMARY,
                                       s.run_id, &err) != 0) {
            log_error("%s", err.message);
            ok = 0;
        }
    }
    if (!o->plan && sw.outcome == SWITCH_INCOMPLETE)
        stated = switch_state(&s, hook, "stopped", config_path);
    if (!o->plan && ok && (hook == HOOK_FAILOVER || hook == HOOK_FAILBACK))
        where = switch_where(a, hook == HOOK_FAILOVER ? DR_SERVING_DR : DR_SERVING_PRIMARY);
    memset(&ri, 0, sizeof(ri));
    ri.rto_since_resume_seconds = -1;
    {
        double rpo = -1, rto = -1;
        result_worst_rpo(s.result, &rpo);
        s.n_rpo_unknown =
            result_rpo_unknown(s.result, s.rpo_unknown_ids, sizeof(s.rpo_unknown_ids) / sizeof(s.rpo_unknown_ids[0]));
        if (s.n_rpo_unknown > sizeof(s.rpo_unknown_ids) / sizeof(s.rpo_unknown_ids[0]))
            s.n_rpo_unknown = sizeof(s.rpo_unknown_ids) / sizeof(s.rpo_unknown_ids[0]);
        if (hook == HOOK_FAILOVER && ok) {
            /* the RTO runs from the run's first start: a crash and a resume do not reset it */
            rto = resume_id ? s.result->finished - s.first_started : s.result->finished - s.result->started;
            if (resume_id)
                s.rto_part = s.result->finished - s.result->started;
            ri.has_rto = 1;
            ri.rto_seconds = rto;
            ri.rto_since_resume_seconds = s.rto_part;
        }
        session_end(&s, sw.outcome == SWITCH_NOT_READY ? "not ready"
                        : stated                        ? "stopped"
                                                        : report_overall_status(s.result, o->plan),
                    rto, rpo);
    }
    ri.command = hook_name(hook);
    ri.run_id = s.run_id;
    ri.dry_run = o->plan;
    if (o->format == FMT_JSON && (sw.prepared || stated || where || pending)) {
        /* the run's report, with the switch: the prepare phase, the stated state, where the application lives */
        json_t *doc = report_json_doc(s.result, &ri);
        if (doc) {
            json_t *swj = json_pack("{s:s, s:o}", "outcome", sw.outcome == SWITCH_DONE ? "done"
                                                             : sw.outcome == SWITCH_NOT_READY ? "not ready" : "incomplete",
                                    "prepare", sw.prepare ? json_incref(sw.prepare) : json_null());
            if (swj && sw.reason[0])
                json_object_set_new(swj, "reason", json_string(sw.reason));
            if (swj && sw.outcome == SWITCH_NOT_READY)
                json_object_set_new(swj, "changed", json_false());
            json_object_set_new(doc, "switch", swj);
            if (stated)
                json_object_set(doc, "stated_state", stated);
            if (where)
                json_object_set(doc, "where", where);
            if (pending)
                json_object_set(doc, "needs_resume", pending);
            if (!sw.prepared && !stated && !where)
                json_object_del(doc, "switch");
            json_dumpf(doc, stdout, JSON_INDENT(2));
            putchar('\n');
            fflush(stdout);
            json_decref(doc);
        }
        if (o->prometheus_file && output_prometheus_file(o, s.result, &ri) != 0)
            ok = 0;
    } else if (output_report(o, s.result, &ri) != 0) {
        json_decref(stated);
        json_decref(where);
        json_decref(pending);
        switch_result_free(&sw);
        /* monitoring that reads the textfile would go on seeing the last one: say so in the exit code
           (for verify: UNKNOWN, unless a resource is CRITICAL) */
        if (!HOOK_REPORTS_CHECKS(hook))
            return EXIT_FAIL;
        return result_worst_status(s.result) == DR_STATUS_CRITICAL ? (int)DR_STATUS_CRITICAL : (int)DR_STATUS_UNKNOWN;
    }
    if (o->format != FMT_JSON) {
        if (sw.outcome == SWITCH_NOT_READY)
            printf("%s stopped in prepare: nothing was changed\n  not ready: %s\n", hook_name(hook), sw.reason);
        if (stated)
            switch_state_print(stated, stdout);
        if (where)
            switch_where_print(where, stdout);
    }
    json_decref(stated);
    json_decref(where);
    json_decref(pending);
    switch_result_free(&sw);

    if (HOOK_REPORTS_CHECKS(hook))
        return (int)result_worst_status(s.result);
    if (hook == HOOK_CONFIGURE && o->plan)
        return !result_all_succeeded(s.result)    ? EXIT_FAIL
               : result_changes_pending(s.result) ? EXIT_PLAN_CHANGES
                                                  : EXIT_OK;
    return ok ? EXIT_OK : EXIT_FAIL;
}

/* Verify with the DR region serving until every resource is OK or the RTO objective since `since` passes. */
int cmd_drill(const opts *o, agent *a, const unsigned char *sel, const char *config_path)
{
    session_opts so;
    session s;
    drill d;
    dr_error err;
    char json_path[PATH_MAX], html_path[PATH_MAX];
    int reports_ok = 1, rc;

    if (o->plan) {
        fprintf(stderr, "dr-agent: a drill has no dry run (it fails over for real); 'dr-agent failover --plan' shows "
                        "what a failover would change\n");
        return EXIT_USAGE;
    }
    if (refuse_empty(a, "drill") != 0)
        return EXIT_CONFIG;
    if (o->notes && access(o->notes, R_OK) != 0) {
        fprintf(stderr, "dr-agent: --notes %s: cannot read it (create the file first; it is read when the drill "
                        "ends, so it can be written during the drill)\n", o->notes);
        return EXIT_USAGE;
    }
    if (confirm(o, a, "drill") != 0)
        return EXIT_USAGE;
    fill_session_opts(o, a, sel, "drill", config_path, &so);
    so.mutating = 1;
    dr_error_clear(&err);
    if (session_begin(&s, a, &so, &err) != 0)
        return begin_failed(&err);
    drill_init(&d, a, s.run_id, o->mode == DR_MODE_FORCED ? "forced" : "graceful");
    drill_run(&d, &s, &(drill_run_opts){current_serving(o, so.state_dir), o->on_failure_hold, config_path});
    if (o->notes) {
        dr_error_clear(&err);
        if (drill_read_notes(&d, o->notes, &err) != 0)
            log_error("%s; the report has no lessons learned", err.message);
    }
    drill_finish(&d);
    dr_error_clear(&err);
    if (drill_write_reports(&d, so.state_dir, json_path, sizeof(json_path), html_path, sizeof(html_path), &err) != 0) {
        log_error("the drill report could not be written: %s", err.message);
        json_path[0] = html_path[0] = '\0';
        reports_ok = 0;
    } else {
        log_info("drill report: %s and %s", html_path, json_path);
    }
    if (drill_write_last(&d, so.state_dir, &err) != 0)
        log_error("%s", err.message);
    /* a drill left in a stated state ends with it, and resume completes it (fails back) */
    session_end(&s, d.success ? "done"
                : strcmp(d.outcome, "held") == 0 || strcmp(d.outcome, "stopped") == 0 ||
                        strcmp(d.outcome, "rollback failed") == 0 ? d.outcome
                                                                  : "failed",
                d.rto_reached ? d.rto : -1, d.has_rpo ? d.rpo : -1);

    if (o->format == FMT_JSON) {
        FILE *f = reports_ok ? fopen(json_path, "r") : NULL;
        int c;
        if (!f) {
            reports_ok = 0;
        } else {
            while ((c = fgetc(f)) != EOF)
                putchar(c);
            fclose(f);
            putchar('\n');
        }
    } else {
        char rto[32], rpo[32], orto[32], orpo[32];
        if (d.rto_reached)
            dr_duration_format(d.rto, rto, sizeof(rto));
        else
            snprintf(rto, sizeof(rto), "not reached");
        if (d.has_rpo)
            dr_duration_format(d.rpo, rpo, sizeof(rpo));
        else
            snprintf(rpo, sizeof(rpo), "none reported");
        dr_duration_format(d.rto_objective, orto, sizeof(orto));
        dr_duration_format(d.rpo_objective, orpo, sizeof(orpo));
        printf("drill %s: %s\n  RTO %s (objective %s)\n  RPO %s%s%s%s (objective %s)\n  report %s\n", d.run_id,
               d.cancelled ? "CANCELLED" : d.success ? "objectives met" : "FAILED", rto, orto, rpo, d.has_rpo ? " (" : "",
               d.has_rpo ? d.rpo_resource : "", d.has_rpo ? ")" : "", orpo,
               html_path[0] ? html_path : "not written");
        if (d.failure[0])
            printf("  %s\n", d.failure);
        if (d.outcome[0])
            printf("  end state: %s\n", d.outcome);
        if (d.stated)
            switch_state_print(d.stated, stdout);
        if (d.where)
            switch_where_print(d.where, stdout);
        if (d.notes)
            printf("  lessons learned recorded from %s\n", o->notes);
    }
    rc = d.success && reports_ok ? EXIT_OK : EXIT_FAIL;
    drill_free(&d);
    return rc;
}

int cmd_resume(const opts *o, agent *a, const char *config_path)
{
    const char *state_dir = cli_state_dir(o, a->cfg);
    journal_run *runs = NULL, *r = NULL;
    size_t n = 0;
    dr_error err;
    unsigned char *sel = NULL;
    opts ro = *o;
    hook_kind hook;
    int rc, drill_run;

    if (o->plan) {
        fprintf(stderr, "dr-agent: resume has no dry run; 'dr-agent history' shows the interrupted run\n");
        return EXIT_USAGE;
    }
    dr_error_clear(&err);
    if (journal_list(state_dir, &runs, &n, &err) != 0) {
        log_error("%s", err.message);
        return EXIT_FAIL;
    }
    for (size_t i = n; i-- > 0;) {
        if (o->arg ? strcmp(runs[i].run_id, o->arg) == 0 : journal_resumable(&runs[i]) && !runs[i].dry_run) {
            r = &runs[i];
            break;
        }
    }
    if (!r) {
        fprintf(stderr, "dr-agent: %s%s\n", o->arg ? "no run " : "no interrupted run to resume in ",
                o->arg ? o->arg : state_dir);
        journal_runs_free(runs, n);
        return o->arg ? EXIT_USAGE : EXIT_OK;
    }
    if (!journal_resumable(r)) {
        fprintf(stderr, "dr-agent: run %s ended (%s): nothing to resume\n", r->run_id, r->status);
        journal_runs_free(runs, n);
        return EXIT_OK;
    }
    if (strcmp(r->command, "configure") == 0)
        hook = HOOK_CONFIGURE;
    else if (strcmp(r->command, "failover") == 0)
        hook = HOOK_FAILOVER;
    else if (strcmp(r->command, "failback") == 0 || strcmp(r->command, "drill") == 0)
        hook = HOOK_FAILBACK; /* a drill is completed by failing back what it moved */
    else {
        fprintf(stderr, "dr-agent: run %s is a %s: it cannot be resumed; run it again\n", r->run_id, r->command);
        journal_runs_free(runs, n);
        return EXIT_FAIL;
    }
    drill_run = strcmp(r->command, "drill") == 0;
    /* the commit had started: every resource was ready then, and what moved cannot wait for a new barrier */
    for (size_t k = 0; k < r->n_steps; k++)
        if (r->steps[k].started && (strcmp(r->steps[k].hook, hook_name(hook)) == 0 ||
                                    (drill_run && strcmp(r->steps[k].hook, "failover") == 0)))
            ro.skip_prepare = 1;
    if (drill_run && !ro.skip_prepare) {
        fprintf(stderr, "dr-agent: drill %s stopped before its failover committed: nothing moved, nothing to resume\n",
                r->run_id);
        journal_runs_free(runs, n);
        return EXIT_OK;
    }
    if (r->config[0] && config_path && strcmp(r->config, config_path) != 0)
        log_warn("run %s used the configuration %s; resuming with %s", r->run_id, r->config, config_path);
    /* the same selection as the interrupted run */
    sel = calloc(a->cfg->n_res + 1, 1);
    if (!sel) {
        journal_runs_free(runs, n);
        return EXIT_FAIL;
    }
    for (size_t k = 0; k < r->n_resources; k++) {
        size_t i;
        for (i = 0; i < a->cfg->n_res; i++)
            if (strcmp(a->cfg->res[i].id, r->resources[k]) == 0)
                break;
        if (i == a->cfg->n_res) {
            fprintf(stderr, "dr-agent: run %s handled %s, which the configuration no longer has\n", r->run_id,
                    r->resources[k]);
            free(sel);
            journal_runs_free(runs, n);
            return EXIT_CONFIG;
        }
        sel[i] = 1;
    }
    ro.mode = strcmp(r->mode, "forced") == 0 && !drill_run ? DR_MODE_FORCED : DR_MODE_GRACEFUL;
    ro.plan = 0;
    {
        size_t done = 0, total = 0;
        for (size_t k = 0; k < r->n_steps; k++) {
            total++;
            done += strcmp(r->steps[k].status, "done") == 0 || strcmp(r->steps[k].status, "unchanged") == 0;
        }
        log_info("resuming %s run %s (%s): %zu of %zu started steps had finished; each step checks the state again "
                 "before acting%s",
                 r->command, r->run_id, r->mode, done, total,
                 drill_run ? "; the drill is completed by failing back what it moved"
                 : ro.skip_prepare ? "; the barrier was passed before the interruption: the commit goes on" : "");
    }
    {
        char id[64];
        snprintf(id, sizeof(id), "%s", r->run_id);
        journal_runs_free(runs, n);
        /* a resumed run of everything changes the serving state like the original would have (under its lease) */
        rc = cmd_run(&ro, a, a->cfg->n_res == 0 ? NULL : sel, hook, config_path, id);
    }
    free(sel);
    return rc;
}

int cmd_history(const opts *o, const char *state_dir)
{
    journal_run *runs = NULL;
    size_t n = 0;
    dr_error err;

    dr_error_clear(&err);
    if (journal_list(state_dir, &runs, &n, &err) != 0) {
        log_error("%s", err.message);
        return EXIT_FAIL;
    }
    if (o->format == FMT_JSON) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            const journal_run *r = &runs[i];
            char a[40], b[40];
            json_t *x;
            dr_time_format(r->started_at, 0, a, sizeof(a));
            dr_time_format(r->finished_at, 0, b, sizeof(b));
            x = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:o, s:o, s:o, s:i}", "run_id", r->run_id, "command",
                          r->command, "mode", r->mode, "dry_run", r->dry_run, "status", r->status, "started_at", a,
                          "finished_at", r->ended ? json_string(b) : json_null(), "rto_seconds",
                          r->has_rto ? json_real(r->rto_seconds) : json_null(), "rpo_seconds",
                          r->has_rpo ? json_real(r->rpo_seconds) : json_null(), "resumes", r->resumes);
            if (x && r->has_rto_part)
                json_object_set_new(x, "rto_since_resume_seconds", json_real(r->rto_since_resume_seconds));
            if (x)
                json_object_set_new(x, "rpo_unknown_count", json_integer((json_int_t)r->rpo_unknown));
            if (x && strcmp(r->command, "drill") == 0) {
                char *notes = drill_notes_of(state_dir, r->run_id);
                json_object_set_new(x, "lessons_learned", notes ? json_string(notes) : json_null());
                free(notes);
            }
            json_array_append_new(arr, x);
        }
        json_dumpf(arr, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(arr);
    } else {
        printf("%-24s  %-9s  %-8s  %-20s  %-9s  %-11s  %-9s  %s\n", "RUN", "COMMAND", "MODE", "STARTED", "DURATION",
               "STATUS", "RTO", "RPO");
        for (size_t i = 0; i < n; i++) {
            const journal_run *r = &runs[i];
            char st[40], dur[32] = "-", rto[32] = "-", rpo[64] = "-";
            dr_time_format(r->started_at, 0, st, sizeof(st));
            if (r->ended)
                dr_duration_format(r->finished_at - r->started_at, dur, sizeof(dur));
            if (r->has_rto)
                dr_duration_format(r->rto_seconds, rto, sizeof(rto));
            if (r->has_rpo)
                dr_duration_format(r->rpo_seconds, rpo, sizeof(rpo));
            if (r->rpo_unknown) {
                /* unknown, with the known worst beside it */
                char known[32];
                snprintf(known, sizeof(known), "%s", rpo);
                snprintf(rpo, sizeof(rpo), "unknown%s%s%s", r->has_rpo ? " (worst known " : "",
                         r->has_rpo ? known : "", r->has_rpo ? ")" : "");
            }
            printf("%-24s  %-9s  %-8s  %-20s  %-9s  %-11s  %-9s  %s%s", r->run_id, r->command,
                   r->dry_run ? "dry-run" : r->mode, st, dur, r->status, rto, rpo, r->resumes ? " (resumed)" : "");
            if (r->has_rto_part) {
                char part[32];
                dr_duration_format(r->rto_since_resume_seconds, part, sizeof(part));
                printf(" (RTO from the first start; %s since the last resume)", part);
            }
            putchar('\n');
            if (strcmp(r->command, "drill") == 0) {
                char *notes = drill_notes_of(state_dir, r->run_id);
                /* the lessons learned, indented under their drill */
                for (char *line = notes, *nl; line && *line; line = nl ? nl + 1 : line + strlen(line)) {
                    nl = strchr(line, '\n');
                    printf("  %s %.*s\n", line == notes ? "lessons learned:" : "                ",
                           nl ? (int)(nl - line) : (int)strlen(line), line);
                }
                free(notes);
            }
        }
        if (n == 0)
            printf("no runs recorded in %s\n", state_dir);
    }
    journal_runs_free(runs, n);
    return EXIT_OK;
}

/* Ask on the terminal before deleting what the plan listed; --yes without one. */
static int confirm_cleanup(const opts *o, size_t n)
{
    char line[64];

    if (o->yes)
        return 0;
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr, "dr-agent: cleanup deletes what is listed above; stdin is not a terminal, so pass --yes to "
                        "confirm\n");
        return -1;
    }
    fprintf(stderr, "cleanup: delete the %zu retired resource%s listed above (this cannot be undone). Type 'yes' to "
                    "go on: ", n, n == 1 ? "" : "s");
    if (!fgets(line, sizeof(line), stdin) || strcmp(line, "yes\n") != 0) {
        fprintf(stderr, "dr-agent: not confirmed; nothing deleted\n");
        return -1;
    }
    return 0;
}

/* Planned changes of the last run over the selected resources. */
static size_t planned_count(const run_result *run)
{
    size_t n = 0;

    for (size_t i = 0; i < run->cfg->n_res; i++) {
        if (run->selected && !run->selected[i])
            continue;
        for (size_t k = 0; k < run->res[i].n_changes; k++)
            n += run->res[i].changes[k].state == DR_CHANGE_PLANNED;
    }
    return n;
}

int cmd_cleanup(const opts *o, agent *a, const unsigned char *sel, const char *config_path)
{
    session_opts so;
    session s;
    report_info ri;
    dr_error err;
    unsigned char *csel;
    size_t n_sel = 0, pending;
    int rc = EXIT_FAIL, ok;

    if (o->format != FMT_TEXT && o->format != FMT_JSON) {
        fprintf(stderr, "dr-agent: cleanup reports as text or json\n");
        return EXIT_USAGE;
    }
    /* only the resources whose plugin retires anything */
    csel = calloc(a->cfg->n_res + 1, 1);
    if (!csel)
        return EXIT_FAIL;
    for (size_t i = 0; i < a->cfg->n_res; i++) {
        if ((!sel || sel[i]) && hook_fn(&a->res[i].plugin->desc, HOOK_CLEANUP)) {
            csel[i] = 1;
            n_sel++;
        }
    }
    if (n_sel == 0) {
        printf("nothing to clean up: no selected resource's plugin retires resources\n");
        free(csel);
        return EXIT_OK;
    }
    fill_session_opts(o, a, csel, "cleanup", config_path, &so);
    so.mutating = 1;
    so.dry_run = o->plan;
    dr_error_clear(&err);
    if (session_begin(&s, a, &so, &err) != 0) {
        free(csel);
        return begin_failed(&err);
    }
    so.serving = current_serving(o, so.state_dir);
    memset(&ri, 0, sizeof(ri));
    ri.command = "cleanup";
    ri.run_id = s.run_id;

    /* 1. the plan: what is retired and older than the retention */
    if (session_run(&s, HOOK_CLEANUP, "plan", 1, so.serving) != 0) {
        session_end(&s, "failed", -1, -1);
        goto out;
    }
    pending = planned_count(s.result);
    if (o->plan || pending == 0 || !result_all_succeeded(s.result)) {
        ri.dry_run = 1;
        session_end(&s, !result_all_succeeded(s.result) ? "failed" : pending ? "planned" : "unchanged", -1, -1);
        output_report(o, s.result, &ri);
        rc = !result_all_succeeded(s.result) ? EXIT_FAIL : o->plan && pending ? EXIT_PLAN_CHANGES : EXIT_OK;
        goto out;
    }
    if (o->format == FMT_TEXT) {
        ri.dry_run = 1;
        report_text(s.result, &ri, stdout, 0);
        fflush(stdout);
    }
    if (confirm_cleanup(o, pending) != 0) {
        session_end(&s, "unchanged", -1, -1);
        rc = EXIT_USAGE;
        goto out;
    }

    /* 2. delete: each plugin looks again (what is listed now is what it deletes) */
    if (session_run(&s, HOOK_CLEANUP, "cleanup", 0, so.serving) != 0) {
        session_end(&s, "failed", -1, -1);
        goto out;
    }
    ok = result_all_succeeded(s.result) && !(s.locked && lock_lost(&s.lock));
    session_end(&s, ok ? report_overall_status(s.result, 0) : "failed", -1, -1);
    ri.dry_run = 0;
    if (output_report(o, s.result, &ri) != 0)
        ok = 0;
    rc = ok ? EXIT_OK : EXIT_FAIL;
out:
    free(csel);
    return rc;
}
