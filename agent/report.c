/* report.c: the results of a run as a text table, one JSON document, Prometheus textfile and a Nagios line. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dr/util.h"
#include "report.h"
#include "version.h"

static report_metrics_fn g_extra_fn;
static void *g_extra_arg;

void report_set_extra_metrics(report_metrics_fn fn, void *arg)
{
    g_extra_fn = fn;
    g_extra_arg = arg;
}

static int selected(const agent *a, size_t i)
{
    return !a->last_opts.selected || a->last_opts.selected[i];
}

static const char *res_status_name(const agent *a, size_t i)
{
    if (a->last_hook == HOOK_VERIFY)
        return dr_status_name((dr_status)a->results[i].status);
    return action_status_name((action_status)a->results[i].status);
}

const char *report_overall_status(const agent *a, int dry_run)
{
    int done = 0, planned = 0;

    if (a->last_hook == HOOK_VERIFY)
        return dr_status_name(run_worst_status(a));
    if (!run_all_succeeded(a))
        return "failed";
    for (size_t i = 0; i < a->cfg->n_res; i++) {
        if (!selected(a, i))
            continue;
        done |= a->results[i].status == ACT_DONE;
        planned |= a->results[i].status == ACT_PLANNED;
    }
    (void)dry_run;
    return done ? "done" : planned ? "planned" : "unchanged";
}

/* A value with a unit is a number in the reports, when it parses as one. */
static json_t *value_json(const char *v, const char *unit)
{
    char *end;
    double d;

    if (!v)
        return json_null();
    if (unit && *v) {
        errno = 0;
        d = strtod(v, &end);
        if (*end == '\0' && errno == 0 && isfinite(d))
            return json_real(d);
    }
    return json_string(v);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* One resource of the JSON document. */
static json_t *resource_json(const agent *a, size_t i)
{
    const cfg_resource *c = &a->cfg->res[i];
    const res_result *r = &a->results[i];
    json_t *res, *checks = json_array(), *changes = json_array(), *deps = json_array();

    for (size_t k = 0; k < r->n_checks; k++) {
        const check_rec *ck = &r->checks[k];
        json_array_append_new(checks, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "name", ck->name, "status",
                                                dr_status_name(ck->status), "observed",
                                                value_json(ck->observed, ck->unit), "threshold",
                                                value_json(ck->threshold, ck->unit), "unit",
                                                str_or_null(ck->unit), "detail", str_or_null(ck->detail)));
    }
    for (size_t k = 0; k < r->n_changes; k++) {
        const change_rec *ch = &r->changes[k];
        json_t *o = json_pack("{s:s, s:o, s:o, s:b}", "action", ch->action, "target", str_or_null(ch->target),
                              "detail", str_or_null(ch->detail), "done", ch->state == DR_CHANGE_DONE);
        if (o && ch->state == DR_CHANGE_FAILED)
            json_object_set_new(o, "failed", json_true());
        json_array_append_new(changes, o);
    }
    for (size_t k = 0; k < a->g.n_deps[i]; k++)
        json_array_append_new(deps, json_string(a->cfg->res[a->g.deps[i][k]].id));
    res = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o}", "id", c->id, "plugin", c->type, "name", c->name,
                    "status", res_status_name(a, i), "duration_ms", (json_int_t)r->duration_ms, "checks", checks,
                    "changes", changes, "rpo_observed_seconds", r->has_rpo ? json_real(r->rpo) : json_null(),
                    "depends_on", deps);
    if (!res)
        return NULL;
    json_object_set_new(res, "backup_recovery_point_age_seconds",
                        r->has_backup_age ? json_real(r->backup_age) : json_null());
    json_object_set_new(res, "level", json_integer(a->g.level[i]));
    if (r->error[0])
        json_object_set_new(res, "error", json_string(r->error));
    if (r->ran || r->skipped) {
        char t[40];
        dr_time_format(r->started_at, 1, t, sizeof(t));
        json_object_set_new(res, "started_at", json_string(t));
        dr_time_format(r->finished_at, 1, t, sizeof(t));
        json_object_set_new(res, "finished_at", json_string(t));
    }
    return res;
}

/* The document without its resources: "resources" is an empty array, its last member. */
static json_t *head_json(const agent *a, const report_info *ri)
{
    char started[40], finished[40];
    json_t *doc;
    double worst_rpo;

    dr_time_format(a->run_started, 0, started, sizeof(started));
    dr_time_format(a->run_finished, 0, finished, sizeof(finished));
    doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:f, s:f}, s:{s:s, s:s}, s:b, s:s, s:s}", "command",
                    ri->command, "run_id", ri->run_id ? ri->run_id : "", "started_at", started, "finished_at",
                    finished, "status", report_overall_status(a, ri->dry_run), "objectives", "rpo_seconds",
                    a->cfg->rpo, "rto_seconds", a->cfg->rto, "regions", "primary", a->cfg->primary_region, "dr",
                    a->cfg->dr_region, "dry_run", ri->dry_run, "serving",
                    a->last_opts.serving == DR_SERVING_DR ? "dr" : "primary", "agent_version", DR_AGENT_VERSION);
    if (!doc)
        return NULL;
    if (a->last_hook == HOOK_FAILOVER || a->last_hook == HOOK_FAILBACK)
        json_object_set_new(doc, "mode", json_string(a->last_opts.mode == DR_MODE_FORCED ? "forced" : "graceful"));
    json_object_set_new(doc, "rpo_observed_seconds", run_worst_rpo(a, &worst_rpo) ? json_real(worst_rpo) : json_null());
    {
        double age;
        size_t who;
        json_object_set_new(doc, "backup_recovery_point_age_seconds",
                            run_worst_backup_age(a, &age, &who) ? json_real(age) : json_null());
    }
    json_object_set_new(doc, "duration_ms", json_integer((json_int_t)llround((a->run_finished - a->run_started) * 1000.0)));
    if (json_object_set_new(doc, "resources", json_array()) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

json_t *report_json_doc(const agent *a, const report_info *ri)
{
    json_t *doc = head_json(a, ri), *resources = json_object_get(doc, "resources");

    for (size_t i = 0; doc && i < a->cfg->n_res; i++) {
        json_t *res;
        if (!selected(a, i))
            continue;
        if ((res = resource_json(a, i)))
            json_array_append_new(resources, res);
    }
    return doc;
}

#define JSON_FLAGS (JSON_INDENT(2) | JSON_ENSURE_ASCII)

/*
 * The document as json_dumpf(report_json_doc()) writes it, built one resource at a time: a whole document of
 * thousands of resources is a tree several times the size of its text. A resource dumped on its own is indented
 * from column 0; inside "resources" (depth 2) each of its lines after the first is 4 columns further right.
 */
int report_json(const agent *a, const report_info *ri, FILE *out)
{
    json_t *doc = head_json(a, ri);
    char *head = doc ? json_dumps(doc, JSON_FLAGS) : NULL;
    size_t hl = head ? strlen(head) : 0, n = 0;
    int rc = 0;

    json_decref(doc);
    /* the head ends with the empty array and the closing brace: ...\n  "resources": []\n} */
    if (!head || hl < 4 || strcmp(head + hl - 4, "[]\n}") != 0) {
        free(head);
        return DR_ENOMEM;
    }
    fwrite(head, 1, hl - 3, out); /* up to and including '[' */
    for (size_t i = 0; i < a->cfg->n_res && rc == 0; i++) {
        json_t *res;
        char *text;
        if (!selected(a, i) || !(res = resource_json(a, i)))
            continue;
        text = json_dumps(res, JSON_FLAGS);
        json_decref(res);
        if (!text) {
            rc = DR_ENOMEM;
            break;
        }
        fputs(n++ ? ",\n    " : "\n    ", out);
        for (const char *p = text, *nl; *p; p = nl + 1) {
            if (!(nl = strchr(p, '\n'))) {
                fputs(p, out);
                break;
            }
            fwrite(p, 1, (size_t)(nl - p + 1), out);
            fputs("    ", out);
        }
        free(text);
    }
    fputs(n ? "\n  ]\n}\n" : "]\n}\n", out);
    free(head);
    if (rc == 0 && ferror(out))
        rc = DR_EIO;
    return rc;
}

static void fmt_value(char *out, size_t len, const char *v, const char *unit)
{
    if (!v)
        snprintf(out, len, "-");
    else if (unit && strcmp(unit, "seconds") == 0) {
        double d = strtod(v, NULL);
        char buf[32];
        dr_duration_format(d, buf, sizeof(buf));
        snprintf(out, len, "%s", buf);
    } else if (unit)
        snprintf(out, len, "%s %s", v, unit);
    else
        snprintf(out, len, "%s", v);
}

int report_text(const agent *a, const report_info *ri, FILE *out, int verbose)
{
    size_t w = 8;
    double worst;
    char rpo[32], obj[32], dur[32];

    for (size_t i = 0; i < a->cfg->n_res; i++)
        if (selected(a, i) && strlen(a->cfg->res[i].id) > w)
            w = strlen(a->cfg->res[i].id);
    fprintf(out, "%-*s  %-9s  %-9s  %s\n", (int)w, "RESOURCE", "STATUS", "RPO", "TIME");
    for (size_t i = 0; i < a->cfg->n_res; i++) {
        const res_result *r = &a->results[i];

        if (!selected(a, i))
            continue;
        if (r->has_rpo)
            dr_duration_format(r->rpo, rpo, sizeof(rpo));
        else
            snprintf(rpo, sizeof(rpo), "-");
        dr_duration_format((double)r->duration_ms / 1000.0, dur, sizeof(dur));
        fprintf(out, "%-*s  %-9s  %-9s  %s\n", (int)w, a->cfg->res[i].id, res_status_name(a, i), rpo, dur);
        for (size_t k = 0; k < r->n_checks; k++) {
            const check_rec *c = &r->checks[k];
            char ob[96], th[96];
            if (!verbose && c->status == DR_STATUS_OK)
                continue;
            fmt_value(ob, sizeof(ob), c->observed, c->unit);
            fmt_value(th, sizeof(th), c->threshold, c->unit);
            fprintf(out, "    %-8s %s: %s", dr_status_name(c->status), c->name, ob);
            if (c->threshold)
                fprintf(out, " (expected %s)", th);
            if (c->detail)
                fprintf(out, " - %s", c->detail);
            fputc('\n', out);
        }
        for (size_t k = 0; k < r->n_changes; k++) {
            const change_rec *c = &r->changes[k];
            fprintf(out, "    %-8s %s%s%s%s%s\n",
                    c->state == DR_CHANGE_DONE ? "done" : c->state == DR_CHANGE_PLANNED ? "plan" : "FAILED",
                    c->action, c->target ? " " : "", c->target ? c->target : "", c->detail ? " - " : "",
                    c->detail ? c->detail : "");
        }
        if (r->error[0])
            fprintf(out, "    %s\n", r->error);
    }
    dr_duration_format(a->cfg->rpo, obj, sizeof(obj));
    dr_duration_format(a->run_finished - a->run_started, dur, sizeof(dur));
    fprintf(out, "%s %s in %s", ri->command, report_overall_status(a, ri->dry_run), dur);
    if (run_worst_rpo(a, &worst)) {
        const char *who = "";
        for (size_t i = 0; i < a->cfg->n_res; i++)
            if (selected(a, i) && a->results[i].has_rpo && a->results[i].rpo == worst)
                who = a->cfg->res[i].id;
        dr_duration_format(worst, rpo, sizeof(rpo));
        /* each plugin judges its own value; this line only informs */
        fprintf(out, "; longest observed RPO %s (%s; objective %s)", rpo, who, obj);
    }
    {
        double age;
        size_t who;
        if (run_worst_backup_age(a, &age, &who)) {
            dr_duration_format(age, rpo, sizeof(rpo));
            /* what a restore would lose, not what a failover would: not an RPO */
            fprintf(out, "; oldest backup recovery point %s (%s)", rpo, a->cfg->res[who].id);
        }
    }
    fputc('\n', out);
    return ferror(out) ? DR_EIO : 0;
}

/* Prometheus label values escape backslash, double quote and newline. */
static void prom_label(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', out);
        if (*s == '\n') {
            fputs("\\n", out);
            continue;
        }
        fputc(*s, out);
    }
}

static void prom_head(FILE *out, const char *name, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

int report_prometheus(const agent *a, const report_info *ri, FILE *out)
{
    if (a->last_hook == HOOK_VERIFY) {
        prom_head(out, "dr_verify_status", "Verify status per resource: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.");
        for (size_t i = 0; i < a->cfg->n_res; i++) {
            if (!selected(a, i))
                continue;
            fputs("dr_verify_status{resource=\"", out);
            prom_label(out, a->cfg->res[i].id);
            fputs("\",plugin=\"", out);
            prom_label(out, a->cfg->res[i].type);
            fprintf(out, "\"} %d\n", a->results[i].status);
        }
        prom_head(out, "dr_check_status", "Status of each check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.");
        for (size_t i = 0; i < a->cfg->n_res; i++) {
            if (!selected(a, i))
                continue;
            for (size_t k = 0; k < a->results[i].n_checks; k++) {
                fputs("dr_check_status{resource=\"", out);
                prom_label(out, a->cfg->res[i].id);
                fputs("\",plugin=\"", out);
                prom_label(out, a->cfg->res[i].type);
                fputs("\",check=\"", out);
                prom_label(out, a->results[i].checks[k].name);
                fprintf(out, "\"} %d\n", (int)a->results[i].checks[k].status);
            }
        }
        prom_head(out, "dr_rpo_observed_seconds",
                  "Replication RPO per resource: the data a failover would lose now (replication lag).");
        for (size_t i = 0; i < a->cfg->n_res; i++) {
            if (!selected(a, i) || !a->results[i].has_rpo)
                continue;
            fputs("dr_rpo_observed_seconds{resource=\"", out);
            prom_label(out, a->cfg->res[i].id);
            fputs("\",plugin=\"", out);
            prom_label(out, a->cfg->res[i].type);
            fprintf(out, "\"} %.6g\n", a->results[i].rpo);
        }
        prom_head(out, "dr_backup_recovery_point_age_seconds",
                  "Age of the newest restorable backup per resource: the data a restore would lose.");
        for (size_t i = 0; i < a->cfg->n_res; i++) {
            if (!selected(a, i) || !a->results[i].has_backup_age)
                continue;
            fputs("dr_backup_recovery_point_age_seconds{resource=\"", out);
            prom_label(out, a->cfg->res[i].id);
            fputs("\",plugin=\"", out);
            prom_label(out, a->cfg->res[i].type);
            fprintf(out, "\"} %.6g\n", a->results[i].backup_age);
        }
        prom_head(out, "dr_rpo_objective_seconds", "Recovery point objective.");
        fprintf(out, "dr_rpo_objective_seconds %.6g\n", a->cfg->rpo);
        prom_head(out, "dr_rto_objective_seconds", "Recovery time objective.");
        fprintf(out, "dr_rto_objective_seconds %.6g\n", a->cfg->rto);
        prom_head(out, "dr_verify_last_run_timestamp_seconds", "When the last verify finished (epoch seconds).");
        fprintf(out, "dr_verify_last_run_timestamp_seconds %.3f\n", a->run_finished);
        prom_head(out, "dr_verify_duration_seconds", "How long the last verify took.");
        fprintf(out, "dr_verify_duration_seconds %.6f\n", a->run_finished - a->run_started);
        prom_head(out, "dr_verify_exit_status", "Worst status of the last verify (the Nagios exit code).");
        fprintf(out, "dr_verify_exit_status %d\n", (int)run_worst_status(a));
    } else {
        prom_head(out, "dr_run_success", "1 when the last run of the command succeeded.");
        fprintf(out, "dr_run_success{command=\"%s\"} %d\n", ri->command, run_all_succeeded(a));
        prom_head(out, "dr_run_last_timestamp_seconds", "When the last run of the command finished.");
        fprintf(out, "dr_run_last_timestamp_seconds{command=\"%s\"} %.3f\n", ri->command, a->run_finished);
        prom_head(out, "dr_run_duration_seconds", "How long the last run of the command took.");
        fprintf(out, "dr_run_duration_seconds{command=\"%s\"} %.6f\n", ri->command, a->run_finished - a->run_started);
    }
    if (g_extra_fn)
        g_extra_fn(out, g_extra_arg);
    return ferror(out) ? DR_EIO : 0;
}

int report_prometheus_file(const agent *a, const report_info *ri, const char *path, dr_error *err)
{
    char tmp[PATH_MAX];
    FILE *f = NULL;
    int fd, rc = 0;

    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
        return dr_error_set(err, DR_EINVAL, "%s: path too long", path);
    fd = mkstemp(tmp);
    if (fd < 0)
        return dr_error_set(err, DR_EIO, "%s: cannot create a temporary file: %s", path, strerror(errno));
    fchmod(fd, 0644); /* node_exporter runs as another user */
    f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        rc = dr_error_set(err, DR_EIO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    if (report_prometheus(a, ri, f) != 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        rc = dr_error_set(err, DR_EIO, "%s: write failed: %s", tmp, strerror(errno));
        goto out;
    }
    if (fclose(f) != 0) {
        f = NULL;
        rc = dr_error_set(err, DR_EIO, "%s: write failed: %s", tmp, strerror(errno));
        goto out;
    }
    f = NULL;
    if (rename(tmp, path) != 0)
        rc = dr_error_set(err, DR_EIO, "%s: rename failed: %s", path, strerror(errno));
out:
    if (f)
        fclose(f);
    if (rc != 0)
        unlink(tmp);
    return rc;
}

int report_nagios(const agent *a, const report_info *ri, FILE *out)
{
    dr_status worst = run_worst_status(a);
    size_t counts[4] = {0, 0, 0, 0}, total = 0;
    double rpo;
    int have_rpo = run_worst_rpo(a, &rpo);
    const char *first_bad = NULL;

    (void)ri;
    for (size_t i = 0; i < a->cfg->n_res; i++) {
        if (!selected(a, i))
            continue;
        total++;
        counts[a->results[i].status & 3]++;
        if (!first_bad && a->results[i].status == (int)worst && worst != DR_STATUS_OK)
            first_bad = a->cfg->res[i].id;
    }
    fprintf(out, "DR %s - %zu resources: %zu OK, %zu WARNING, %zu CRITICAL, %zu UNKNOWN", dr_status_name(worst), total,
            counts[0], counts[1], counts[2], counts[3]);
    if (first_bad)
        fprintf(out, "; first %s: %s", dr_status_name(worst), first_bad);
    fprintf(out, " | ");
    /* no warn/crit on the RPO: each plugin judges its own value (a backup's age has its own limit) */
    if (have_rpo)
        fprintf(out, "rpo=%.3fs;;;0; rpo_objective=%.0fs ", rpo, a->cfg->rpo);
    {
        double age;
        size_t who;
        if (run_worst_backup_age(a, &age, &who))
            fprintf(out, "backup_age=%.0fs;;;0; ", age);
    }
    fprintf(out, "ok=%zu warning=%zu critical=%zu unknown=%zu duration=%.3fs\n", counts[0], counts[1], counts[2],
            counts[3], a->run_finished - a->run_started);
    return ferror(out) ? DR_EIO : 0;
}
