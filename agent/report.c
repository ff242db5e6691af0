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

static int selected(const run_result *run, size_t i)
{
    return !run->selected || run->selected[i];
}

/* Verify's pointer to the diagnostics of a resource that is not OK and whose plugin has them: 1 and the command in
   out, else 0. */
static int diagnose_hint(const run_result *run, size_t i, char *out, size_t len)
{
    if (run->hook != HOOK_VERIFY || run->res[i].verdict == DR_STATUS_OK || !run->res[i].can_diagnose)
        return 0;
    snprintf(out, len, "dr-agent diagnose %s", run->cfg->res[i].id);
    return 1;
}

static const char *res_status_name(const run_result *run, size_t i)
{
    return res_result_status_name(&run->res[i], run->hook);
}

const char *report_overall_status(const run_result *run, int dry_run)
{
    int done = 0, planned = 0;

    if (HOOK_REPORTS_CHECKS(run->hook))
        return dr_status_str(result_worst_status(run));
    if (!result_all_succeeded(run))
        return "failed";
    for (size_t i = 0; i < run->cfg->n_res; i++) {
        if (!selected(run, i))
            continue;
        done |= run->res[i].outcome == ACT_DONE;
        planned |= run->res[i].outcome == ACT_PLANNED;
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
static json_t *resource_json(const run_result *run, size_t i)
{
    const cfg_resource *c = &run->cfg->res[i];
    const res_result *r = &run->res[i];
    json_t *res, *checks = json_array(), *changes = json_array(), *deps = json_array();

    for (size_t k = 0; k < r->n_checks; k++) {
        const check_rec *ck = &r->checks[k];
        json_array_append_new(checks, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "name", ck->name, "status",
                                                dr_status_str(ck->status), "observed",
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
    for (size_t k = 0; k < run->g->n_deps[i]; k++)
        json_array_append_new(deps, json_string(run->cfg->res[run->g->deps[i][k]].id));
    res = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o}", "id", c->id, "plugin", c->type, "name", c->name,
                    "status", res_status_name(run, i), "duration_ms", (json_int_t)r->duration_ms, "checks", checks,
                    "changes", changes, "rpo_observed_seconds", r->has_rpo ? json_real(r->rpo) : json_null(),
                    "depends_on", deps);
    if (!res)
        return NULL;
    json_object_set_new(res, "backup_recovery_point_age_seconds",
                        r->has_backup_age ? json_real(r->backup_age) : json_null());
    json_object_set_new(res, "level", json_integer(run->g->level[i]));
    if (r->error[0])
        json_object_set_new(res, "error", json_string(r->error));
    {
        char see[320];
        if (diagnose_hint(run, i, see, sizeof(see)))
            json_object_set_new(res, "see", json_string(see));
    }
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
static json_t *head_json(const run_result *run, const report_info *ri)
{
    char started[40], finished[40];
    json_t *doc;
    double worst_rpo;

    dr_time_format(run->started, 0, started, sizeof(started));
    dr_time_format(run->finished, 0, finished, sizeof(finished));
    doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:f, s:f}, s:{s:s, s:s}, s:b, s:s, s:s}", "command",
                    ri->command, "run_id", ri->run_id ? ri->run_id : "", "started_at", started, "finished_at",
                    finished, "status", report_overall_status(run, ri->dry_run), "objectives", "rpo_seconds",
                    run->cfg->rpo, "rto_seconds", run->cfg->rto, "regions", "primary", run->cfg->primary_region, "dr",
                    run->cfg->dr_region, "dry_run", ri->dry_run, "serving",
                    run->serving == DR_SERVING_DR ? "dr" : "primary", "agent_version", AG_VERSION);
    if (!doc)
        return NULL;
    if (run->hook == HOOK_FAILOVER || run->hook == HOOK_FAILBACK)
        json_object_set_new(doc, "mode", json_string(run->mode == DR_MODE_FORCED ? "forced" : "graceful"));
    json_object_set_new(doc, "rpo_observed_seconds",
                        result_worst_rpo(run, &worst_rpo) ? json_real(worst_rpo) : json_null());
    {
        double age;
        size_t who;
        json_object_set_new(doc, "backup_recovery_point_age_seconds",
                            result_worst_backup_age(run, &age, &who) ? json_real(age) : json_null());
    }
    {
        /* the run's RPO is unknown while one data resource's is: rpo_observed_seconds is then the known worst */
        const char *ids[256];
        size_t n = result_rpo_unknown(run, ids, 256);
        json_t *arr = json_array();
        for (size_t i = 0; i < n && i < 256; i++)
            json_array_append_new(arr, json_string(ids[i]));
        json_object_set_new(doc, "rpo_unknown_resources", arr);
    }
    if (ri->rto_seconds >= 0 && ri->has_rto) {
        json_object_set_new(doc, "rto_seconds", json_real(ri->rto_seconds));
        if (ri->rto_since_resume_seconds >= 0)
            json_object_set_new(doc, "rto_since_resume_seconds", json_real(ri->rto_since_resume_seconds));
    }
    json_object_set_new(doc, "duration_ms", json_integer((json_int_t)llround((run->finished - run->started) * 1000.0)));
    if (json_object_set_new(doc, "resources", json_array()) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

json_t *report_json_doc(const run_result *run, const report_info *ri)
{
    json_t *doc = head_json(run, ri), *resources = json_object_get(doc, "resources");

    for (size_t i = 0; doc && i < run->cfg->n_res; i++) {
        json_t *res;
        if (!selected(run, i))
            continue;
        if ((res = resource_json(run, i)))
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
int report_json(const run_result *run, const report_info *ri, FILE *out)
{
    json_t *doc = head_json(run, ri);
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
    for (size_t i = 0; i < run->cfg->n_res && rc == 0; i++) {
        json_t *res;
        char *text;
        if (!selected(run, i) || !(res = resource_json(run, i)))
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

/* Bytes in binary multiples: "512 B", "1.5 GiB". */
static void fmt_bytes(char *out, size_t len, double b)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;

    while (b >= 1024 && u < 5) {
        b /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, len, "%.0f B", b);
    else
        snprintf(out, len, "%.1f %s", b, units[u]);
}

/*
 * One way to write each kind of value: durations human-readable ("15m"), bytes in binary multiples, counts as
 * bare numbers; other units follow the number.
 */
static void fmt_value(char *out, size_t len, const char *v, const char *unit)
{
    char *end;
    double d;

    if (!v) {
        snprintf(out, len, "-");
        return;
    }
    d = strtod(v, &end);
    if (!unit || end == v || *end != '\0') {
        snprintf(out, len, "%s", v);
    } else if (strcmp(unit, "seconds") == 0) {
        dr_duration_format(d, out, len);
    } else if (strcmp(unit, "bytes") == 0) {
        fmt_bytes(out, len, d);
    } else if (strcmp(unit, "count") == 0) {
        snprintf(out, len, "%s", v);
    } else if (strcmp(unit, "percent") == 0) {
        snprintf(out, len, "%s%%", v);
    } else {
        snprintf(out, len, "%s %s", v, unit);
    }
}

/* A numeric check against a limit (a lag, an age, a count) rather than a state to match. */
static int is_limit(const check_rec *c)
{
    char *end;

    if (!c->unit || !c->observed || !c->threshold)
        return 0;
    strtod(c->threshold, &end);
    if (*end != '\0')
        return 0;
    strtod(c->observed, &end);
    return *end == '\0';
}

/*
 * " (expected X)" for a state, " (limit X)" for a number; a WARNING still within its limit says why it warns, so
 * "10m (limit 15m)" is not read as fine.
 */
static void fmt_expectation(char *out, size_t len, const check_rec *c, const char *th)
{
    if (!c->threshold) {
        out[0] = '\0';
        return;
    }
    if (!is_limit(c)) {
        snprintf(out, len, " (expected %s)", th);
        return;
    }
    if (c->status == DR_STATUS_WARNING && strtod(c->observed, NULL) <= strtod(c->threshold, NULL))
        snprintf(out, len, " (limit %s; WARNING: close to it, CRITICAL above it)", th);
    else
        snprintf(out, len, " (limit %s)", th);
}

/*
 * Kind of a change by the first word of its action: 0 add (a new resource: "create", "add replica"), 2 destroy
 * ("delete", "remove"), 1 change otherwise (a setting of an existing one: "enable versioning", "update ...").
 */
static int change_kind(const char *action)
{
    static const char *const add[] = {"add", "create", "put", "write", "copy", NULL};
    static const char *const destroy[] = {"delete", "remove", "destroy", "drop", "detach", NULL};
    size_t n = strcspn(action, " _-");

    for (const char *const *w = add; *w; w++)
        if (strlen(*w) == n && strncmp(action, *w, n) == 0)
            return 0;
    for (const char *const *w = destroy; *w; w++)
        if (strlen(*w) == n && strncmp(action, *w, n) == 0)
            return 2;
    return 1;
}

void report_change_summary(const run_result *run, int dry_run, FILE *out)
{
    size_t n[3] = {0, 0, 0}, failed = 0;

    for (size_t i = 0; i < run->cfg->n_res; i++) {
        if (!selected(run, i))
            continue;
        for (size_t k = 0; k < run->res[i].n_changes; k++) {
            const change_rec *c = &run->res[i].changes[k];
            if (c->state == DR_CHANGE_FAILED)
                failed++;
            else if (c->state == (dry_run ? DR_CHANGE_PLANNED : DR_CHANGE_DONE))
                n[change_kind(c->action)]++;
        }
    }
    if (dry_run)
        fprintf(out, "Plan: %zu to add, %zu to change, %zu to destroy.", n[0], n[1], n[2]);
    else
        fprintf(out, "Applied: %zu added, %zu changed, %zu destroyed.", n[0], n[1], n[2]);
    if (failed)
        fprintf(out, " %zu failed.", failed);
    fputc('\n', out);
}

int report_text(const run_result *run, const report_info *ri, FILE *out, int verbose)
{
    size_t w = 8;
    double worst;
    char rpo[32], obj[32], dur[32];

    for (size_t i = 0; i < run->cfg->n_res; i++)
        if (selected(run, i) && strlen(run->cfg->res[i].id) > w)
            w = strlen(run->cfg->res[i].id);
    fprintf(out, "%-*s  %-9s  %-9s  %s\n", (int)w, "RESOURCE", "STATUS", "RPO", "TIME");
    for (size_t i = 0; i < run->cfg->n_res; i++) {
        const res_result *r = &run->res[i];

        if (!selected(run, i))
            continue;
        if (r->has_rpo)
            dr_duration_format(r->rpo, rpo, sizeof(rpo));
        else
            snprintf(rpo, sizeof(rpo), "-");
        dr_duration_format((double)r->duration_ms / 1000.0, dur, sizeof(dur));
        fprintf(out, "%-*s  %-9s  %-9s  %s\n", (int)w, run->cfg->res[i].id, res_status_name(run, i), rpo, dur);
        for (size_t k = 0; k < r->n_checks; k++) {
            const check_rec *c = &r->checks[k];
            char ob[96], th[96];
            if (!verbose && c->status == DR_STATUS_OK)
                continue;
            char ex[160];
            fmt_value(ob, sizeof(ob), c->observed, c->unit);
            fmt_value(th, sizeof(th), c->threshold, c->unit);
            fmt_expectation(ex, sizeof(ex), c, th);
            fprintf(out, "    %-8s %s: %s%s", dr_status_str(c->status), c->name, ob, ex);
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
        {
            char see[320];
            if (diagnose_hint(run, i, see, sizeof(see)))
                fprintf(out, "    see: %s\n", see);
        }
    }
    dr_duration_format(run->cfg->rpo, obj, sizeof(obj));
    dr_duration_format(run->finished - run->started, dur, sizeof(dur));
    fprintf(out, "%s %s in %s", ri->command, report_overall_status(run, ri->dry_run), dur);
    if (ri->has_rto && ri->rto_seconds >= 0) {
        char rto[32], part[32];
        dr_duration_format(ri->rto_seconds, rto, sizeof(rto));
        fprintf(out, "; RTO %s", rto);
        if (ri->rto_since_resume_seconds >= 0) {
            dr_duration_format(ri->rto_since_resume_seconds, part, sizeof(part));
            fprintf(out, " from the run's first start (%s since this resume)", part);
        }
    }
    {
        const char *ids[1];
        size_t unknown = result_rpo_unknown(run, ids, 1);
        if (unknown)
            fprintf(out, "; RPO unknown (%zu resource%s could not measure it, %s%s)", unknown, unknown == 1 ? "" : "s",
                    ids[0], unknown > 1 ? ", ..." : "");
    }
    if (result_worst_rpo(run, &worst)) {
        const char *who = "";
        for (size_t i = 0; i < run->cfg->n_res; i++)
            if (selected(run, i) && run->res[i].has_rpo && run->res[i].rpo == worst)
                who = run->cfg->res[i].id;
        dr_duration_format(worst, rpo, sizeof(rpo));
        /* each plugin judges its own value (a backup's age has its own limit); this line only informs */
        fprintf(out, "; longest %s RPO %s (%s; objective %s)", result_rpo_unknown(run, NULL, 0) ? "known" : "observed",
                rpo, who, obj);
    }
    {
        double age;
        size_t who;
        if (result_worst_backup_age(run, &age, &who)) {
            dr_duration_format(age, rpo, sizeof(rpo));
            /* what a restore would lose, not what a failover would: not an RPO */
            fprintf(out, "; oldest backup recovery point %s (%s)", rpo, run->cfg->res[who].id);
        }
    }
    fputc('\n', out);
    if (run->hook == HOOK_CONFIGURE || run->hook == HOOK_CLEANUP)
        report_change_summary(run, ri->dry_run, out);
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

int report_prometheus(const run_result *run, const report_info *ri, FILE *out)
{
    if (run->hook == HOOK_VERIFY) {
        prom_head(out, "dr_verify_status", "Verify status per resource: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.");
        for (size_t i = 0; i < run->cfg->n_res; i++) {
            if (!selected(run, i))
                continue;
            fputs("dr_verify_status{resource=\"", out);
            prom_label(out, run->cfg->res[i].id);
            fputs("\",plugin=\"", out);
            prom_label(out, run->cfg->res[i].type);
            fprintf(out, "\"} %d\n", (int)run->res[i].verdict);
        }
        prom_head(out, "dr_check_status", "Status of each check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.");
        for (size_t i = 0; i < run->cfg->n_res; i++) {
            if (!selected(run, i))
                continue;
            for (size_t k = 0; k < run->res[i].n_checks; k++) {
                fputs("dr_check_status{resource=\"", out);
                prom_label(out, run->cfg->res[i].id);
                fputs("\",plugin=\"", out);
                prom_label(out, run->cfg->res[i].type);
                fputs("\",check=\"", out);
                prom_label(out, run->res[i].checks[k].name);
                fprintf(out, "\"} %d\n", (int)run->res[i].checks[k].status);
            }
        }
        prom_head(out, "dr_rpo_observed_seconds",
                  "Replication RPO per resource: the data a failover would lose now (replication lag).");
        for (size_t i = 0; i < run->cfg->n_res; i++) {
            if (!selected(run, i) || !run->res[i].has_rpo)
                continue;
            fputs("dr_rpo_observed_seconds{resource=\"", out);
            prom_label(out, run->cfg->res[i].id);
            fputs("\",plugin=\"", out);
            prom_label(out, run->cfg->res[i].type);
            fprintf(out, "\"} %.6g\n", run->res[i].rpo);
        }
        prom_head(out, "dr_backup_recovery_point_age_seconds",
                  "Age of the newest restorable backup per resource: the data a restore would lose.");
        for (size_t i = 0; i < run->cfg->n_res; i++) {
            if (!selected(run, i) || !run->res[i].has_backup_age)
                continue;
            fputs("dr_backup_recovery_point_age_seconds{resource=\"", out);
            prom_label(out, run->cfg->res[i].id);
            fputs("\",plugin=\"", out);
            prom_label(out, run->cfg->res[i].type);
            fprintf(out, "\"} %.6g\n", run->res[i].backup_age);
        }
        prom_head(out, "dr_rpo_objective_seconds", "Recovery point objective.");
        fprintf(out, "dr_rpo_objective_seconds %.6g\n", run->cfg->rpo);
        prom_head(out, "dr_rto_objective_seconds", "Recovery time objective.");
        fprintf(out, "dr_rto_objective_seconds %.6g\n", run->cfg->rto);
        prom_head(out, "dr_verify_last_run_timestamp_seconds", "When the last verify finished (epoch seconds).");
        fprintf(out, "dr_verify_last_run_timestamp_seconds %.3f\n", run->finished);
        prom_head(out, "dr_verify_duration_seconds", "How long the last verify took.");
        fprintf(out, "dr_verify_duration_seconds %.6f\n", run->finished - run->started);
        prom_head(out, "dr_verify_exit_status", "Worst status of the last verify (the Nagios exit code).");
        fprintf(out, "dr_verify_exit_status %d\n", (int)result_worst_status(run));
    } else {
        prom_head(out, "dr_run_success", "1 when the last run of the command succeeded.");
        fprintf(out, "dr_run_success{command=\"%s\"} %d\n", ri->command, result_all_succeeded(run));
        prom_head(out, "dr_run_last_timestamp_seconds", "When the last run of the command finished.");
        fprintf(out, "dr_run_last_timestamp_seconds{command=\"%s\"} %.3f\n", ri->command, run->finished);
        prom_head(out, "dr_run_duration_seconds", "How long the last run of the command took.");
        fprintf(out, "dr_run_duration_seconds{command=\"%s\"} %.6f\n", ri->command, run->finished - run->started);
    }
    if (g_extra_fn)
        g_extra_fn(out, g_extra_arg);
    return ferror(out) ? DR_EIO : 0;
}

int report_prometheus_file(const run_result *run, const report_info *ri, const char *path, dr_error *err)
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
    if (report_prometheus(run, ri, f) != 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
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

/* Text of the Nagios long output: '|' would start perfdata and a newline a new line, so neither is written. */
static void nagios_text(FILE *out, const char *s)
{
    for (; *s; s++)
        fputc(*s == '|' ? '/' : *s == '\n' ? ' ' : *s, out);
}

int report_nagios(const run_result *run, const report_info *ri, FILE *out)
{
    dr_status worst = result_worst_status(run);
    size_t counts[4] = {0, 0, 0, 0}, total = 0;
    double rpo;
    int have_rpo = result_worst_rpo(run, &rpo);
    const char *first_bad = NULL;

    (void)ri;
    for (size_t i = 0; i < run->cfg->n_res; i++) {
        if (!selected(run, i))
            continue;
        total++;
        counts[run->res[i].verdict & 3]++;
        if (!first_bad && run->res[i].verdict == worst && worst != DR_STATUS_OK)
            first_bad = run->cfg->res[i].id;
    }
    fprintf(out, "DR %s - %zu resources: %zu OK, %zu WARNING, %zu CRITICAL, %zu UNKNOWN", dr_status_str(worst), total,
            counts[0], counts[1], counts[2], counts[3]);
    if (first_bad)
        fprintf(out, "; first %s: %s", dr_status_str(worst), first_bad);
    fprintf(out, " | ");
    /*
     * Thresholds as Nagios ranges. The worst observed RPO mixes replication lags and backup ages, each judged by its
     * plugin against its own limit: it carries none. Each numeric check in seconds, bytes or a count carries its own
     * limit as the critical threshold; any WARNING resource warns, any CRITICAL or UNKNOWN one is critical.
     */
    if (have_rpo)
        fprintf(out, "rpo=%.3fs;;;0; rpo_objective=%.0fs ", rpo, run->cfg->rpo);
    {
        double age;
        size_t who;
        if (result_worst_backup_age(run, &age, &who))
            fprintf(out, "backup_age=%.0fs;;;0; ", age);
    }
    for (size_t i = 0; i < run->cfg->n_res; i++) {
        if (!selected(run, i))
            continue;
        for (size_t k = 0; k < run->res[i].n_checks; k++) {
            const check_rec *c = &run->res[i].checks[k];
            const char *uom;
            if (!is_limit(c))
                continue;
            uom = strcmp(c->unit, "seconds") == 0 ? "s" : strcmp(c->unit, "bytes") == 0 ? "B"
                : strcmp(c->unit, "count") == 0 ? "" : NULL;
            if (!uom)
                continue;
            fputc('\'', out);
            for (const char *p = run->cfg->res[i].id; *p; p++)
                fputc(*p == '\'' || *p == '=' || *p == ' ' ? '_' : *p, out);
            fputc('/', out);
            for (const char *p = c->name; *p; p++)
                fputc(*p == '\'' || *p == '=' || *p == ' ' ? '_' : *p, out);
            fprintf(out, "'=%.6g%s;;%.6g;0; ", strtod(c->observed, NULL), uom, strtod(c->threshold, NULL));
        }
    }
    fprintf(out, "ok=%zu;;;0;%zu warning=%zu;0;;0;%zu critical=%zu;;0;0;%zu unknown=%zu;;0;0;%zu duration=%.3fs;;;0;\n",
            counts[0], total, counts[1], total, counts[2], total, counts[3], total, run->finished - run->started);
    /* long output: one line per check that is not OK, under its resource */
    for (size_t i = 0; i < run->cfg->n_res; i++) {
        const res_result *r = &run->res[i];

        if (!selected(run, i) || r->verdict == DR_STATUS_OK)
            continue;
        fprintf(out, "%s %s: %s\n", dr_status_str((dr_status)(r->verdict & 3)), run->cfg->res[i].id,
                run->cfg->res[i].type);
        for (size_t k = 0; k < r->n_checks; k++) {
            const check_rec *c = &r->checks[k];
            char ob[96], th[96], ex[160];
            if (c->status == DR_STATUS_OK)
                continue;
            fmt_value(ob, sizeof(ob), c->observed, c->unit);
            fmt_value(th, sizeof(th), c->threshold, c->unit);
            fmt_expectation(ex, sizeof(ex), c, th);
            fprintf(out, "  %s %s: ", dr_status_str(c->status), c->name);
            nagios_text(out, ob);
            nagios_text(out, ex);
            if (c->detail) {
                fputs(" - ", out);
                nagios_text(out, c->detail);
            }
            fputc('\n', out);
        }
        if (r->error[0]) {
            fputs("  ", out);
            nagios_text(out, r->error);
            fputc('\n', out);
        }
        {
            char see[320];
            if (diagnose_hint(run, i, see, sizeof(see)))
                fprintf(out, "  see: %s\n", see);
        }
    }
    return ferror(out) ? DR_EIO : 0;
}
