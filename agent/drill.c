/* drill.c: the DR drill: its five phases, its record (RTO, RPO) and reports (JSON, self-contained HTML, metrics). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "cancel.h"
#include "dr/util.h"
#include "drill.h"
#include "log.h"
#include "session.h"
#include "state.h"
#include "switch.h"
#include "version.h"

/* "sha256:<hex>" of the file at path, or "" when it cannot be read. */
static void file_digest(const char *path, char *out, size_t len)
{
    unsigned char buf[8192], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = NULL;
    FILE *f = NULL;
    size_t n;
    int ok = 0;

    out[0] = '\0';
    if (!path || !(f = fopen(path, "rb")) || !(ctx = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
        goto out;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        if (!EVP_DigestUpdate(ctx, buf, n))
            goto out;
    ok = !ferror(f) && EVP_DigestFinal_ex(ctx, md, &mdlen);
out:
    if (ok && len >= 8 + 2 * (size_t)mdlen) {
        size_t o = (size_t)snprintf(out, len, "sha256:");
        for (unsigned int i = 0; i < mdlen; i++)
            o += (size_t)snprintf(out + o, len - o, "%02x", md[i]);
    }
    EVP_MD_CTX_free(ctx);
    if (f)
        fclose(f);
}

/* "type version" of each plugin the configuration uses, comma-separated; NULL when out of memory. */
static char *plugin_versions(const agent *a)
{
    dr_buf b;
    char *s;

    dr_buf_init(&b);
    for (size_t i = 0; i < a->plugins.n; i++) {
        const dr_plugin_descriptor *pd = &a->plugins.items[i].desc;
        int used = 0;
        for (size_t k = 0; k < a->cfg->n_res && !used; k++)
            used = strcmp(a->cfg->res[k].type, pd->type) == 0;
        if (used)
            dr_buf_printf(&b, "%s%s %s", b.len ? ", " : "", pd->type, pd->version ? pd->version : "?");
    }
    s = strdup(b.len ? dr_buf_str(&b) : "");
    dr_buf_free(&b);
    return s;
}

void drill_init(drill *d, const agent *a, const char *run_id, const char *mode)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->run_id, sizeof(d->run_id), "%s", run_id);
    snprintf(d->mode, sizeof(d->mode), "%s", mode);
    d->started = dr_now();
    d->rto_objective = a->cfg->rto;
    d->rpo_objective = a->cfg->rpo;
    if (gethostname(d->host, sizeof(d->host) - 1) != 0)
        snprintf(d->host, sizeof(d->host), "unknown");
    snprintf(d->config_path, sizeof(d->config_path), "%s", a->cfg->path ? a->cfg->path : "");
    file_digest(a->cfg->path, d->config_digest, sizeof(d->config_digest));
    d->plugin_versions = plugin_versions(a);
}

int drill_read_notes(drill *d, const char *path, dr_error *err)
{
    FILE *f = fopen(path, "r");
    char *text;
    size_t n;

    if (!f)
        return dr_error_set(err, DR_EIO, "--notes %s: %s", path, strerror(errno));
    text = malloc(65536 + 1);
    if (!text) {
        fclose(f);
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    }
    n = fread(text, 1, 65536, f);
    if (ferror(f)) {
        free(text);
        fclose(f);
        return dr_error_set(err, DR_EIO, "--notes %s: read failed", path);
    }
    fclose(f);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        n--;
    text[n] = '\0';
    free(d->notes);
    d->notes = n ? text : NULL;
    if (!n)
        free(text);
    return 0;
}

char *drill_notes_of(const char *state_dir, const char *run_id)
{
    char path[PATH_MAX];
    json_t *doc, *v;
    char *notes = NULL;

    snprintf(path, sizeof(path), "%s/reports/drill-%s.json", state_dir, run_id);
    doc = json_load_file(path, 0, NULL);
    v = doc ? json_object_get(doc, "lessons_learned") : NULL;
    if (json_is_string(v))
        notes = strdup(json_string_value(v));
    json_decref(doc);
    return notes;
}

/* What a step did or saw, one clause per change and per check that was not OK. */
static char *step_detail(const res_result *r)
{
    dr_buf b;
    char *s;
    size_t ok = 0;

    dr_buf_init(&b);
    for (size_t k = 0; k < r->n_changes; k++) {
        const change_rec *c = &r->changes[k];
        dr_buf_printf(&b, "%s%s%s%s%s%s%s", b.len ? "; " : "",
                      c->state == DR_CHANGE_FAILED ? "FAILED " : c->state == DR_CHANGE_PLANNED ? "planned " : "",
                      c->action, c->target ? " " : "", c->target ? c->target : "", c->detail ? ": " : "",
                      c->detail ? c->detail : "");
    }
    for (size_t k = 0; k < r->n_checks; k++) {
        const check_rec *c = &r->checks[k];
        if (c->status == DR_STATUS_OK) {
            ok++;
            continue;
        }
        dr_buf_printf(&b, "%s%s %s: %s%s%s", b.len ? "; " : "", dr_status_str(c->status), c->name,
                      c->observed ? c->observed : "-", c->detail ? " - " : "", c->detail ? c->detail : "");
    }
    if (ok)
        dr_buf_printf(&b, "%s%zu check%s OK", b.len ? "; " : "", ok, ok == 1 ? "" : "s");
    s = b.len ? strdup(dr_buf_str(&b)) : NULL;
    dr_buf_free(&b);
    return s;
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

void drill_record_phase(drill *d, const run_result *run, const char *phase)
{
    for (size_t i = 0; i < run->cfg->n_res; i++) {
        const res_result *r = &run->res[i];
        drill_step *n;

        if (run->selected && !run->selected[i])
            continue;
        n = realloc(d->steps, (d->n_steps + 1) * sizeof(*n));
        if (!n)
            return;
        d->steps = n;
        n = &d->steps[d->n_steps++];
        memset(n, 0, sizeof(*n));
        n->resource = strdup(run->cfg->res[i].id);
        n->plugin = strdup(run->cfg->res[i].type);
        n->phase = strdup(phase);
        n->hook = run->hook;
        if (n->hook == HOOK_VERIFY)
            n->verdict = r->verdict;
        else
            n->outcome = r->outcome;
        n->started = r->started_at;
        n->finished = r->finished_at > r->started_at ? r->finished_at : r->started_at;
        n->error = dup_or_null(r->error);
        n->detail = step_detail(r);
        n->has_rpo = r->has_rpo;
        n->rpo = r->rpo;
    }
}

void drill_finish(drill *d)
{
    d->finished = dr_now();
    /* RPO: the data-loss window each failover step reported (replication lag at the switch, 0 for a
       graceful switch-over); resources that move no data (backups, DNS) report none */
    for (size_t i = 0; i < d->n_steps; i++) {
        const drill_step *s = &d->steps[i];

        /* the prepare phase measures the lag right before the commit; the failover step may measure it again */
        if (!s->has_rpo || (strcmp(s->phase, "failover") != 0 && strcmp(s->phase, "prepare") != 0))
            continue;
        if (!d->has_rpo || s->rpo > d->rpo) {
            d->has_rpo = 1;
            d->rpo = s->rpo;
            snprintf(d->rpo_resource, sizeof(d->rpo_resource), "%s", s->resource);
        }
    }
    d->success = !d->cancelled && !d->failed_phase && d->rto_reached && d->rto <= d->rto_objective &&
                 (!d->has_rpo || d->rpo <= d->rpo_objective);
    if (!d->failure[0]) {
        if (!d->rto_reached)
            snprintf(d->failure, sizeof(d->failure), "the DR region never verified OK: RTO not reached");
        else if (d->rto > d->rto_objective)
            snprintf(d->failure, sizeof(d->failure), "RTO %.1fs missed the objective %.0fs", d->rto, d->rto_objective);
        else if (d->has_rpo && d->rpo > d->rpo_objective)
            snprintf(d->failure, sizeof(d->failure), "RPO %.1fs (%s) missed the objective %.0fs", d->rpo,
                     d->rpo_resource, d->rpo_objective);
    }
}

void drill_free(drill *d)
{
    for (size_t i = 0; i < d->n_steps; i++) {
        free(d->steps[i].resource);
        free(d->steps[i].plugin);
        free(d->steps[i].phase);
        free(d->steps[i].error);
        free(d->steps[i].detail);
    }
    free(d->steps);
    json_decref(d->stated);
    json_decref(d->where);
    free(d->plugin_versions);
    free(d->notes);
    memset(d, 0, sizeof(*d));
}

/* The phase as the report names it: its number in the drill and what it does. */
static const char *phase_label(const char *phase)
{
    static const struct {
        const char *phase, *label;
    } map[] = {{"verify", "1 verify (primary serving)"},
               {"failover", "2 failover"},
               {"verify-dr", "3 verify (DR serving)"},
               {"failback", "4 failback"},
               {"verify-after", "5 verify (after failback)"}};

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(phase, map[i].phase) == 0)
            return map[i].label;
    return phase;
}

static const char *outcome_word(const drill *d)
{
    return d->cancelled ? "cancelled" : d->success ? "objectives met" : "objectives missed";
}

static const char *step_status_name(const drill_step *s)
{
    return s->hook == HOOK_VERIFY ? dr_status_str(s->verdict) : action_status_name(s->outcome);
}

static json_t *drill_json(const drill *d)
{
    char started[40], finished[40];
    json_t *steps = json_array(), *doc;

    dr_time_format(d->started, 0, started, sizeof(started));
    dr_time_format(d->finished, 0, finished, sizeof(finished));
    for (size_t i = 0; i < d->n_steps; i++) {
        const drill_step *s = &d->steps[i];
        char a[40], b[40];
        json_t *o;

        dr_time_format(s->started, 1, a, sizeof(a));
        dr_time_format(s->finished, 1, b, sizeof(b));
        o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f}", "resource", s->resource, "plugin", s->plugin, "phase",
                      s->phase, "status", step_status_name(s), "started_at", a, "finished_at", b, "start_offset_seconds",
                      s->started - d->started, "duration_seconds", s->finished - s->started);
        if (o && s->error)
            json_object_set_new(o, "error", json_string(s->error));
        if (o) {
            json_object_set_new(o, "phase_label", json_string(phase_label(s->phase)));
            json_object_set_new(o, "detail", s->detail ? json_string(s->detail) : json_null());
        }
        if (o)
            json_object_set_new(o, "rpo_observed_seconds", s->has_rpo ? json_real(s->rpo) : json_null());
        json_array_append_new(steps, o);
    }
    doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:{s:f, s:f}, s:o, s:o, s:o, s:i, s:o}", "command", "drill",
                    "run_id", d->run_id, "mode", d->mode, "started_at", started, "finished_at", finished, "success",
                    d->success, "objectives", "rto_seconds", d->rto_objective, "rpo_seconds", d->rpo_objective,
                    "rto_seconds", d->rto_reached ? json_real(d->rto) : json_null(), "rpo_seconds",
                    d->has_rpo ? json_real(d->rpo) : json_null(), "rpo_resource",
                    d->has_rpo ? json_string(d->rpo_resource) : json_null(), "verify_dr_rounds", d->verify_dr_rounds,
                    "steps", steps);
    if (doc) {
        json_object_set_new(doc, "rto_met", json_boolean(d->rto_reached && d->rto <= d->rto_objective));
        json_object_set_new(doc, "rpo_met", json_boolean(!d->has_rpo || d->rpo <= d->rpo_objective));
        json_object_set_new(doc, "agent_version", json_string(AG_VERSION));
        json_object_set_new(doc, "outcome", json_string(outcome_word(d)));
        json_object_set_new(doc, "cancelled", json_boolean(d->cancelled));
        json_object_set_new(doc, "host", json_string(d->host));
        json_object_set_new(doc, "config", json_string(d->config_path));
        json_object_set_new(doc, "config_digest", d->config_digest[0] ? json_string(d->config_digest) : json_null());
        json_object_set_new(doc, "plugin_versions", json_string(d->plugin_versions ? d->plugin_versions : ""));
        json_object_set_new(doc, "lessons_learned", d->notes ? json_string(d->notes) : json_null());
        if (d->failure[0])
            json_object_set_new(doc, "failure", json_string(d->failure));
        if (d->outcome[0])
            json_object_set_new(doc, "end_state", json_string(d->outcome));
        if (d->stated)
            json_object_set(doc, "stated_state", d->stated);
        if (d->where)
            json_object_set(doc, "where", d->where);
    }
    return doc;
}

/* ---- HTML ---- */

static void html_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* The outcome of a drill that failed, the state its switch left, and where the application lives at the end. */
static void html_state(FILE *f, const drill *d)
{
    const json_t *r;
    size_t i;

    if (d->outcome[0]) {
        fputs("<h2>End state: ", f);
        html_text(f, d->outcome);
        fputs("</h2>\n", f);
    }
    if (d->stated) {
        fputs("<table><tr><th>resource</th><th>state</th><th>serving region</th><th>detail</th></tr>\n", f);
        json_array_foreach(json_object_get(d->stated, "resources"), i, r) {
            fputs("<tr><td>", f);
            html_text(f, json_string_value(json_object_get(r, "resource")));
            fputs("</td><td>", f);
            html_text(f, json_string_value(json_object_get(r, "state")));
            fputs("</td><td>", f);
            html_text(f, json_string_value(json_object_get(r, "serving_region")));
            fputs("</td><td>", f);
            html_text(f, json_string_value(json_object_get(r, "error")));
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n<p>To complete it: <code>", f);
        html_text(f, json_string_value(json_object_get(d->stated, "complete_command")));
        fputs("</code><br>To reverse it: <code>", f);
        html_text(f, json_string_value(json_object_get(d->stated, "reverse_command")));
        fputs("</code></p>\n", f);
    }
    if (d->where) {
        fputs("<h2>Where the application lives: ", f);
        html_text(f, json_string_value(json_object_get(d->where, "serving_region")));
        fputs("</h2>\n<table><tr><th>resource</th><th>region</th><th>use</th></tr>\n", f);
        json_array_foreach(json_object_get(d->where, "resources"), i, r) {
            const json_t *e;
            size_t k;
            fputs("<tr><td>", f);
            html_text(f, json_string_value(json_object_get(r, "resource")));
            fputs("</td><td>", f);
            html_text(f, json_string_value(json_object_get(r, "region")));
            fputs("</td><td>", f);
            json_array_foreach(json_object_get(r, "endpoints"), k, e) {
                if (k)
                    fputs("<br>", f);
                html_text(f, json_string_value(json_object_get(e, "what")));
                fputs(": ", f);
                html_text(f, json_string_value(json_object_get(e, "value")));
            }
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n", f);
    }
}

static const char *colour(const drill_step *s)
{
    if (s->hook == HOOK_VERIFY) {
        switch (s->verdict) {
        case DR_STATUS_OK: return "#2e9d4a";
        case DR_STATUS_WARNING: return "#e0a100";
        case DR_STATUS_CRITICAL: return "#c9302c";
        default: return "#7a6fb0";
        }
    }
    switch (s->outcome) {
    case ACT_DONE: return "#2e7dd1";
    case ACT_UNCHANGED: return "#5aa9e6";
    case ACT_PLANNED: return "#9cc3e6";
    case ACT_FAILED: return "#c9302c";
    default: return "#b8b8b8";
    }
}

static void write_html(FILE *f, const drill *d)
{
    const int left = 230, width = 760, row = 26, top = 40;
    char **rows = NULL;
    size_t n_rows = 0;
    double span = d->finished - d->started, scale_end, rto_line = -1, objective_line;
    int broken_axis = 0, height;
    char buf[64], buf2[64];

    if (span <= 0)
        span = 1;
    objective_line = d->failover_started > 0 ? d->failover_started - d->started + d->rto_objective : -1;
    if (d->rto_reached)
        rto_line = d->failover_started - d->started + d->rto;
    scale_end = span * 1.05;
    if (objective_line > 0 && objective_line <= span * 1.5)
        scale_end = objective_line * 1.05 > scale_end ? objective_line * 1.05 : scale_end;
    else if (objective_line > 0)
        broken_axis = 1; /* the objective is far beyond the drill: drawn after a break at the right edge */

    for (size_t i = 0; i < d->n_steps; i++) {
        size_t k;
        for (k = 0; k < n_rows; k++)
            if (strcmp(rows[k], d->steps[i].resource) == 0)
                break;
        if (k == n_rows) {
            char **nr = realloc(rows, (n_rows + 1) * sizeof(*nr));
            if (!nr)
                break;
            rows = nr;
            rows[n_rows++] = d->steps[i].resource;
        }
    }
    height = top + (int)n_rows * row + 50;

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>dr-agent drill ", f);
    html_text(f, d->run_id);
    fputs("</title>\n<style>\n"
          "body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222}\n"
          "h1{font-size:20px;margin:0 0 4px}.ok{color:#2e9d4a}.bad{color:#c9302c}.warn{color:#b07800}.na{color:#666}\n"
          ".meta{color:#555;font-size:13px;margin:0 0 8px}code{font-size:12px}\n"
          ".notes{border:1px dashed #aaa;padding:8px;min-height:3em;white-space:pre-wrap;font-size:13px}\n"
          "table{border-collapse:collapse;margin:12px 0}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left;font-size:13px}\n"
          "svg text{font-size:12px;font-family:inherit}.legend span{display:inline-block;margin-right:14px;font-size:12px}\n"
          ".legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px}\n"
          "</style></head><body>\n", f);
    fprintf(f, "<h1>DR drill %s: <span class=\"%s\">%s</span></h1>\n", d->run_id,
            d->cancelled ? "warn" : d->success ? "ok" : "bad", outcome_word(d));
    dr_time_format(d->started, 0, buf, sizeof(buf));
    fputs("<p class=\"meta\">", f);
    html_text(f, buf);
    fputs(" on ", f);
    html_text(f, d->host);
    fprintf(f, " &middot; dr-agent %s &middot; plugins: ", AG_VERSION);
    html_text(f, d->plugin_versions && *d->plugin_versions ? d->plugin_versions : "none");
    fputs("<br>configuration ", f);
    html_text(f, d->config_path);
    fputs(" <code>", f);
    html_text(f, d->config_digest[0] ? d->config_digest : "(unreadable)");
    fputs("</code></p>\n", f);
    if (d->failure[0]) {
        fprintf(f, "<p class=\"%s\">", d->cancelled ? "warn" : "bad");
        html_text(f, d->failure);
        fputs("</p>\n", f);
    }
    fputs("<table><tr><th></th><th>achieved</th><th>objective</th></tr>\n", f);
    dr_duration_format(d->rto_objective, buf2, sizeof(buf2));
    if (d->rto_reached)
        dr_duration_format(d->rto, buf, sizeof(buf));
    else
        snprintf(buf, sizeof(buf), "not reached");
    fprintf(f, "<tr><td>RTO (failover start until every resource verifies OK in the DR region)</td><td class=\"%s\">%s</td><td>%s</td></tr>\n",
            d->rto_reached && d->rto <= d->rto_objective ? "ok" : d->failover_started <= 0 ? "na" : "bad", buf, buf2);
    dr_duration_format(d->rpo_objective, buf2, sizeof(buf2));
    if (d->has_rpo)
        dr_duration_format(d->rpo, buf, sizeof(buf));
    else
        snprintf(buf, sizeof(buf), d->failover_started > 0 ? "none reported" : "not measured");
    fputs("<tr><td>RPO (worst observed", f);
    if (d->has_rpo) {
        fputs(": ", f);
        html_text(f, d->rpo_resource);
    }
    /* green only for a measured RPO within the objective */
    fprintf(f, ")</td><td class=\"%s\">%s</td><td>%s</td></tr>\n",
            !d->has_rpo ? "na" : d->rpo <= d->rpo_objective ? "ok" : "bad", buf, buf2);
    dr_duration_format(d->finished - d->started, buf, sizeof(buf));
    fprintf(f, "<tr><td>Drill duration (mode %s, %d verify rounds in the DR region)</td><td>%s</td><td></td></tr></table>\n",
            d->mode, d->verify_dr_rounds, buf);

    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"drill timeline\">\n",
            left + width + 20, height);
    /* time axis */
    for (int t = 0; t <= 4; t++) {
        double secs = scale_end * t / 4.0;
        int x = left + (int)(width * t / 4.0);
        dr_duration_format(secs, buf, sizeof(buf));
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#eee\"/>", x, top - 6, x, top + (int)n_rows * row);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#666\">+%s</text>\n", x, top - 12, buf);
    }
    for (size_t r = 0; r < n_rows; r++) {
        int y = top + (int)r * row;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 8, y + 17);
        html_text(f, rows[r]);
        fputs("</text>\n", f);
        for (size_t i = 0; i < d->n_steps; i++) {
            const drill_step *s = &d->steps[i];
            double x0, w;
            if (strcmp(s->resource, rows[r]) != 0)
                continue;
            x0 = left + (s->started - d->started) / scale_end * width;
            w = (s->finished - s->started) / scale_end * width;
            if (w < 2)
                w = 2;
            fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" rx=\"2\" fill=\"%s\"><title>", x0, y + 4, w,
                    row - 8, colour(s));
            html_text(f, phase_label(s->phase));
            fprintf(f, ": %s, %.2fs", step_status_name(s), s->finished - s->started);
            if (s->error) {
                fputs(" - ", f);
                html_text(f, s->error);
            }
            fputs("</title></rect>\n", f);
        }
    }
    if (rto_line >= 0 && rto_line <= scale_end) {
        int x = left + (int)(rto_line / scale_end * width);
        dr_duration_format(d->rto, buf, sizeof(buf));
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#2e9d4a\" stroke-width=\"2\"/>"
                   "<text x=\"%d\" y=\"%d\" fill=\"#2e9d4a\">RTO achieved %s</text>\n",
                x, top - 4, x, top + (int)n_rows * row + 4, x + 4, top + (int)n_rows * row + 18, buf);
    }
    if (objective_line > 0) {
        int x = broken_axis ? left + width + 10 : left + (int)(objective_line / scale_end * width);
        dr_duration_format(d->rto_objective, buf, sizeof(buf));
        dr_duration_format(objective_line, buf2, sizeof(buf2));
        if (broken_axis)
            fprintf(f, "<path d=\"M%d %d l4 -6 l4 12 l4 -6\" stroke=\"#999\" fill=\"none\"/>", left + width, top - 6);
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#c9302c\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>"
                   "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"#c9302c\">RTO objective %s (at +%s%s)</text>\n",
                x, top - 4, x, top + (int)n_rows * row + 4, x, top + (int)n_rows * row + 36, buf, buf2,
                broken_axis ? ", beyond the drill" : "");
    }
    fputs("</svg>\n<div class=\"legend\">"
          "<span><i style=\"background:#2e9d4a\"></i>verify OK</span><span><i style=\"background:#e0a100\"></i>WARNING</span>"
          "<span><i style=\"background:#c9302c\"></i>CRITICAL / failed</span><span><i style=\"background:#7a6fb0\"></i>UNKNOWN</span>"
          "<span><i style=\"background:#2e7dd1\"></i>changed</span><span><i style=\"background:#5aa9e6\"></i>unchanged</span>"
          "<span><i style=\"background:#9cc3e6\"></i>planned</span>"
          "<span><i style=\"background:#b8b8b8\"></i>skipped</span></div>\n", f);

    fputs("<table><tr><th>resource</th><th>phase</th><th>status</th><th>start</th><th>duration</th><th>RPO</th><th>detail</th></tr>\n", f);
    for (size_t i = 0; i < d->n_steps; i++) {
        const drill_step *s = &d->steps[i];
        fputs("<tr><td>", f);
        html_text(f, s->resource);
        fputs("</td><td>", f);
        html_text(f, phase_label(s->phase));
        fprintf(f, "</td><td style=\"color:%s\">%s</td><td>+%.2fs</td><td>%.2fs</td><td>", colour(s),
                step_status_name(s), s->started - d->started, s->finished - s->started);
        if (s->has_rpo) {
            dr_duration_format(s->rpo, buf, sizeof(buf));
            fputs(buf, f);
        }
        fputs("</td><td>", f);
        html_text(f, s->error ? s->error : "");
        if (s->error && s->detail)
            fputs("; ", f);
        html_text(f, s->detail ? s->detail : "");
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    html_state(f, d);
    /* the seed's last step: document lessons learned; editable in the browser (save the page to keep the edits) */
    fputs("<h2 style=\"font-size:16px\">Lessons learned</h2>\n<div class=\"notes\" id=\"lessons-learned\" "
          "contenteditable=\"true\">", f);
    if (d->notes)
        html_text(f, d->notes);
    fputs("</div>\n<p class=\"meta\">Editable: write here and save the page, or pass <code>dr-agent drill --notes "
          "FILE</code>; <code>dr-agent history</code> shows the notes given with --notes.</p>\n", f);
    fprintf(f, "<p style=\"color:#888;font-size:12px\">dr-agent %s</p>\n</body></html>\n", AG_VERSION);
    free(rows);
}

int drill_write_reports(const drill *d, const char *state_dir, char *json_path, size_t jlen, char *html_path,
                        size_t hlen, dr_error *err)
{
    char dir[PATH_MAX], name[128];
    json_t *doc;
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    int rc;

    snprintf(dir, sizeof(dir), "%s/reports", state_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return dr_error_set(err, DR_EIO, "%s: %s", dir, strerror(errno));
    snprintf(json_path, jlen, "%s/drill-%s.json", dir, d->run_id);
    snprintf(html_path, hlen, "%s/drill-%s.html", dir, d->run_id);
    /* each written whole or not at all (temporary file, fsync, rename): a crash never leaves half a report */
    doc = drill_json(d);
    text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (!text)
        return dr_error_set(err, DR_ENOMEM, "%s: out of memory", json_path);
    snprintf(name, sizeof(name), "drill-%s.json", d->run_id);
    rc = state_write_file(dir, name, text, strlen(text), err);
    free(text);
    text = NULL;
    if (rc != 0)
        return rc;
    f = open_memstream(&text, &len);
    if (!f)
        return dr_error_set(err, DR_ENOMEM, "%s: %s", html_path, strerror(errno));
    write_html(f, d);
    if (fclose(f) != 0 || !text) {
        free(text);
        return dr_error_set(err, DR_EIO, "%s: write failed", html_path);
    }
    snprintf(name, sizeof(name), "drill-%s.html", d->run_id);
    rc = state_write_file(dir, name, text, len, err);
    free(text);
    return rc;
}

int drill_write_last(const drill *d, const char *state_dir, dr_error *err)
{
    char path[PATH_MAX];
    json_t *prev = NULL, *doc;
    char *text;
    int rc;

    snprintf(path, sizeof(path), "%s/drill-last.json", state_dir);
    prev = json_load_file(path, 0, NULL);
    doc = json_pack("{s:s, s:f, s:b, s:o, s:o}", "run_id", d->run_id, "finished_at", d->finished, "success",
                    d->success, "rto_seconds", d->rto_reached ? json_real(d->rto) : json_null(), "rpo_seconds",
                    d->has_rpo ? json_real(d->rpo) : json_null());
    if (!doc) {
        json_decref(prev);
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    }
    if (d->success)
        json_object_set_new(doc, "last_success_at", json_real(d->finished));
    else if (prev && json_is_number(json_object_get(prev, "last_success_at")))
        json_object_set(doc, "last_success_at", json_object_get(prev, "last_success_at"));
    json_decref(prev);
    text = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    if (!text)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    rc = state_write_file(state_dir, "drill-last.json", text, strlen(text), err);
    free(text);
    return rc;
}

int drill_prometheus(FILE *out, void *arg)
{
    const drill_metrics_arg *m = arg;
    char path[PATH_MAX];
    json_t *doc;
    json_t *v;
    double last_success = 0;

    snprintf(path, sizeof(path), "%s/drill-last.json", m->state_dir);
    doc = json_load_file(path, 0, NULL);
    v = doc ? json_object_get(doc, "last_success_at") : NULL;
    if (json_is_number(v))
        last_success = json_number_value(v);
    fputs("# HELP dr_drill_last_timestamp_seconds When the last successful DR drill finished (0: never).\n"
          "# TYPE dr_drill_last_timestamp_seconds gauge\n", out);
    fprintf(out, "dr_drill_last_timestamp_seconds %.3f\n", last_success);
    if (doc && json_is_number(json_object_get(doc, "rto_seconds"))) {
        fputs("# HELP dr_drill_rto_seconds RTO achieved by the last drill.\n# TYPE dr_drill_rto_seconds gauge\n", out);
        fprintf(out, "dr_drill_rto_seconds %.3f\n", json_number_value(json_object_get(doc, "rto_seconds")));
    }
    if (doc && json_is_number(json_object_get(doc, "rpo_seconds"))) {
        fputs("# HELP dr_drill_rpo_seconds Worst RPO observed by the last drill.\n# TYPE dr_drill_rpo_seconds gauge\n", out);
        fprintf(out, "dr_drill_rpo_seconds %.3f\n", json_number_value(json_object_get(doc, "rpo_seconds")));
    }
    if (doc) {
        fputs("# HELP dr_drill_last_success 1 when the last drill met its objectives.\n# TYPE dr_drill_last_success gauge\n", out);
        fprintf(out, "dr_drill_last_success %d\n", json_is_true(json_object_get(doc, "success")));
    }
    fputs("# HELP dr_drill_overdue 1 when no drill succeeded within the configured period.\n"
          "# TYPE dr_drill_overdue gauge\n", out);
    fprintf(out, "dr_drill_overdue %d\n", last_success <= 0 || dr_now() - last_success > m->period);
    json_decref(doc);
    return 0;
}

/* ---- the drill's phases ---- */

static int verify_until_ok(session *s, dr_serving serving, const char *phase, double since, double budget,
                           drill *d, int *rounds)
{
    double interval = s->a->cfg->rto / 60.0;

    if (interval < 2)
        interval = 2;
    if (interval > 15)
        interval = 15;
    for (;;) {
        int rc = session_run(s, HOOK_VERIFY, phase, 0, serving);
        if (rc != 0)
            return rc;
        (*rounds)++;
        if (result_worst_status(s->result) == DR_STATUS_OK) {
            drill_record_phase(d, s->result, phase);
            return 0;
        }
        if (cancel_requested() || dr_now() - since + interval > budget) {
            drill_record_phase(d, s->result, phase);
            return 1;
        }
        log_info("%s: not every resource is OK yet (%s); again in %.0fs", phase,
                 dr_status_str(result_worst_status(s->result)), interval);
        for (double slept = 0; slept < interval && !cancel_requested(); slept += 0.2)
            usleep(200 * 1000);
    }
}

void drill_run(drill *d, session *s, const drill_run_opts *o)
{
    agent *a = s->a;
    dr_error err;
    int rounds_after = 0, rc;
    dr_status pre;
    switch_result sw;
    json_t *stated = NULL, *where = NULL;
    const char *cancel_phase = NULL; /* the phase a cancel stopped, when a rollback followed it */

    memset(&sw, 0, sizeof(sw));
    dr_error_clear(&err);
    if (o->serving != DR_SERVING_PRIMARY) {
        snprintf(d->failure, sizeof(d->failure), "the DR region serves already: fail back before a drill");
        d->failed_phase = 1;
        goto out;
    }

    /* 1. the estate is healthy before we start */
    log_info("drill 1/5: verify with %s serving", a->cfg->primary_region);
    if (session_run(s, HOOK_VERIFY, "verify", 0, DR_SERVING_PRIMARY) != 0)
        goto aborted;
    drill_record_phase(d, s->result, "verify");
    pre = result_worst_status(s->result);
    if (pre == DR_STATUS_CRITICAL || pre == DR_STATUS_UNKNOWN) {
        snprintf(d->failure, sizeof(d->failure), "the estate is %s before the drill: no failover attempted",
                 dr_status_str(pre));
        d->failed_phase = 1;
        goto out;
    }

    /* 2. failover, data before traffic: prepare every resource, commit once all are ready */
    log_info("drill 2/5: failover to %s (%s)", a->cfg->dr_region, d->mode);
    d->failover_started = dr_now();
    if (switch_run(s, HOOK_FAILOVER, "failover", DR_SERVING_PRIMARY, 0, 0, d, &sw) != 0)
        goto aborted;
    if (sw.outcome == SWITCH_NOT_READY) {
        snprintf(d->failure, sizeof(d->failure), "the failover stopped in prepare: nothing was changed; not ready: %s",
                 sw.reason);
        snprintf(d->outcome, sizeof(d->outcome), "not committed");
        d->failed_phase = 1;
        goto out;
    }
    if (session_lease_lost(s))
        goto aborted;
    if (sw.outcome == SWITCH_INCOMPLETE)
        goto incomplete;
    if (state_write_serving(s->o.state_dir, DR_SERVING_DR, s->run_id, &err) != 0)
        log_error("%s", err.message);

    /* 3. the DR region serves: every resource verifies OK there (this ends the RTO) */
    log_info("drill 3/5: verify with %s serving", a->cfg->dr_region);
    rc = verify_until_ok(s, DR_SERVING_DR, "verify-dr", d->failover_started, d->rto_objective, d, &d->verify_dr_rounds);
    if (rc < 0)
        goto aborted;
    if (rc == 0) {
        d->rto_reached = 1;
        d->rto = s->result->finished - d->failover_started;
    }

    /* 4. failback */
    log_info("drill 4/5: failback to %s", a->cfg->primary_region);
    s->o.mode = DR_MODE_GRACEFUL;
    switch_result_free(&sw);
    if (cancel_requested())
        goto back;
    if (switch_run(s, HOOK_FAILBACK, "failback", DR_SERVING_DR, 0, 0, d, &sw) != 0)
        goto aborted;
    if (sw.outcome != SWITCH_DONE) {
        if (sw.outcome == SWITCH_NOT_READY)
            snprintf(d->failure, sizeof(d->failure), "the failback stopped in prepare: the DR region still serves; not "
                     "ready: %s", sw.reason);
        else
            snprintf(d->failure, sizeof(d->failure), "the failback did not finish: %s", sw.reason);
        d->failed_phase = 1;
        goto back_state;
    }
    if (session_lease_lost(s))
        goto aborted;
    if (state_write_serving(s->o.state_dir, DR_SERVING_PRIMARY, s->run_id, &err) != 0)
        log_error("%s", err.message);
    where = switch_where(a, DR_SERVING_PRIMARY);

    /* 5. the original topology verifies OK again */
    log_info("drill 5/5: verify with %s serving", a->cfg->primary_region);
    rc = verify_until_ok(s, DR_SERVING_PRIMARY, "verify-after", dr_now(), d->rto_objective, d, &rounds_after);
    if (rc < 0)
        goto aborted;
    if (rc != 0) {
        snprintf(d->failure, sizeof(d->failure), "after the failback the estate is %s",
                 dr_status_str(result_worst_status(s->result)));
        d->failed_phase = 1;
    }
    goto out;

back:
    /* cancelled while the DR region served: fail back (the drill's own end state) unless held */
    snprintf(d->failure, sizeof(d->failure), "the drill was cancelled while %s served", a->cfg->dr_region);
    d->failed_phase = 1;
    cancel_phase = "verify-dr";
    if (o->hold) {
        snprintf(d->outcome, sizeof(d->outcome), "held");
        goto out;
    }
    cancel_reset();
    log_warn("drill: rolling back: failback to %s", a->cfg->primary_region);
    if (switch_run(s, HOOK_FAILBACK, "rollback", DR_SERVING_DR, 0, 1, d, &sw) != 0)
        goto aborted;
    if (sw.outcome == SWITCH_DONE) {
        snprintf(d->outcome, sizeof(d->outcome), "rolled back");
        if (state_write_serving(s->o.state_dir, DR_SERVING_PRIMARY, s->run_id, &err) != 0)
            log_error("%s", err.message);
        where = switch_where(a, DR_SERVING_PRIMARY);
        goto out;
    }
    snprintf(d->outcome, sizeof(d->outcome), "rollback failed");
    stated = switch_state(s, HOOK_FAILBACK, d->outcome, o->config_path);
    goto out;

back_state:
    snprintf(d->outcome, sizeof(d->outcome), "stopped");
    stated = switch_state(s, HOOK_FAILBACK, "stopped", o->config_path);
    goto out;

incomplete:
    /* the failover's commit started and did not finish: roll back what moved, or hold it */
    {
        const char *why = cancel_requested() ? "was cancelled" : "failed";
        if (cancel_requested())
            cancel_phase = "failover";
        unsigned char *back_sel = calloc(a->cfg->n_res + 1, 1);
        const unsigned char *orig_sel = s->o.selected;
        size_t n_back = 0;

        snprintf(d->failure, sizeof(d->failure), "the failover %s after its commit started: %s", why, sw.reason);
        d->failed_phase = 1;
        if (o->hold || !back_sel) {
            free(back_sel);
            snprintf(d->outcome, sizeof(d->outcome), "held");
            stated = switch_state(s, HOOK_FAILOVER, "held", o->config_path);
            log_warn("drill: --on-failure hold: the state is kept; '%s' fails back", 
                     json_string_value(json_object_get(stated, "complete_command")));
            goto out;
        }
        stated = switch_state(s, HOOK_FAILOVER, "rolling back", o->config_path);
        /* the resources whose failover ran (moved, partly moved or failed): failed back in reverse order */
        for (size_t i = 0; i < a->cfg->n_res; i++) {
            if ((!orig_sel || orig_sel[i]) && s->result->res[i].ran) {
                back_sel[i] = 1;
                n_back++;
            }
        }
        cancel_reset();
        log_warn("drill: rolling back: failback of the %zu resources whose failover ran, in reverse dependency order",
                 n_back);
        s->o.selected = back_sel;
        s->o.mode = DR_MODE_GRACEFUL;
        s->reverse = 1;
        rc = n_back ? switch_run(s, HOOK_FAILBACK, "rollback", DR_SERVING_DR, 0, 1, d, &sw) : 0;
        s->reverse = 0;
        if (rc == 0 && (n_back == 0 || sw.outcome == SWITCH_DONE)) {
            snprintf(d->outcome, sizeof(d->outcome), "rolled back");
            log_info("drill: rolled back: %s serves again", a->cfg->primary_region);
            where = switch_where(a, DR_SERVING_PRIMARY);
        } else {
            json_decref(stated);
            snprintf(d->outcome, sizeof(d->outcome), "rollback failed");
            stated = rc == 0 ? switch_state(s, HOOK_FAILBACK, d->outcome, o->config_path) : NULL;
        }
        s->o.selected = orig_sel;
        free(back_sel);
        if (rc != 0)
            goto aborted;
        goto out;
    }

aborted:
    snprintf(d->failure, sizeof(d->failure), "the drill was interrupted%s",
             cancel_requested() ? " (cancelled)" : "");
    d->failed_phase = 1;
out:
    if (cancel_requested() || cancel_phase) {
        /* neither met nor missed: say where it stopped and which region serves now (after a rollback: the primary) */
        const char *last = cancel_phase ? cancel_phase : d->n_steps ? d->steps[d->n_steps - 1].phase : "verify";
        dr_serving now = DR_SERVING_PRIMARY;
        dr_error serr;
        dr_error_clear(&serr);
        state_read_serving(s->o.state_dir, &now, &serr);
        snprintf(d->failure, sizeof(d->failure), "the drill was cancelled during the %s phase; %s serves now%s", last,
                 now == DR_SERVING_DR ? a->cfg->dr_region : a->cfg->primary_region,
                 now == DR_SERVING_DR ? ": run 'dr-agent failback' to return" : "");
        d->cancelled = 1;
        d->failed_phase = 1;
    }
    if (!d->outcome[0] && d->failed_phase && stated)
        snprintf(d->outcome, sizeof(d->outcome), "stopped");
    d->stated = stated;
    d->where = where;
    stated = where = NULL;
    switch_result_free(&sw);
}
