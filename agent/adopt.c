/* adopt.c: `dr-agent adopt`: an existing estate described read-only: the configuration it needs and what differs from the DR setup the agent would make. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adopt.h"
#include "dr/util.h"
#include "log.h"
#include "run.h"

#define FOUND_PREFIX "config:" /* a check naming a config value found in the estate (see docs/plugin-abi.md) */

static void run_hook(agent *a, const opts *o, const unsigned char *sel, hook_kind hook, int dry_run)
{
    run_opts ro;

    memset(&ro, 0, sizeof(ro));
    ro.hook = hook;
    ro.dry_run = dry_run;
    ro.serving = DR_SERVING_PRIMARY;
    ro.run_id = "adopt";
    ro.selected = sel;
    ro.concurrency = o->concurrency;
    ro.hook_timeout = o->timeout;
    if (hook == HOOK_VERIFY)
        ro.run_deadline_ms = dr_mono_ms() + (int64_t)((o->timeout > a->cfg->agent.verify_timeout
                                                           ? o->timeout : a->cfg->agent.verify_timeout) * 1000.0);
    if (!run_execute(a, &ro))
        log_error("adopt: the %s run could not start", hook_name(hook));
}

static json_t *raw_value(const cfg_raw *v)
{
    json_t *arr;

    switch (v->kind) {
    case RAW_STRING: return json_string(v->s);
    case RAW_INT: return json_integer(v->i);
    case RAW_FLOAT: return json_real(v->f);
    case RAW_BOOL: return json_boolean(v->i);
    case RAW_LIST:
        arr = json_array();
        for (size_t i = 0; arr && i < v->n_list; i++)
            json_array_append_new(arr, json_string(v->list[i] ? v->list[i] : ""));
        return arr;
    default: return json_null();
    }
}

/* One resource: its keys as written, what the estate told (found), what differs, what configure would do. */
static json_t *resource_doc(const agent *a, size_t i, const json_t *changes)
{
    const cfg_resource *r = &a->cfg->res[i];
    const res_result *v = &a->run.res[i];
    json_t *keys = json_object(), *found = json_object(), *diff = json_array();

    for (size_t k = 0; k < r->n_raw; k++)
        json_object_set_new(keys, r->raw[k].key, raw_value(&r->raw[k]));
    for (size_t c = 0; c < v->n_checks; c++) {
        const check_rec *ck = &v->checks[c];
        if (strncmp(ck->name, FOUND_PREFIX, strlen(FOUND_PREFIX)) == 0) {
            json_object_set_new(found, ck->name + strlen(FOUND_PREFIX), json_string(ck->observed ? ck->observed : ""));
            continue;
        }
        if (ck->status == DR_STATUS_OK)
            continue;
        json_array_append_new(diff, json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "check", ck->name, "status",
                                              dr_status_str(ck->status), "observed", ck->observed, "expected",
                                              ck->threshold, "detail", ck->detail));
    }
    if (v->ran && v->rc != 0)
        json_array_append_new(diff, json_pack("{s:s, s:s, s:s}", "check", "verify", "status", "UNKNOWN", "detail",
                                              v->error));
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:O}", "id", r->id, "type", r->type, "name", r->name, "keys",
                     keys, "found", found, "differences", diff, "configure_would", changes);
}

static void print_value(FILE *out, const json_t *v)
{
    if (json_is_string(v)) {
        fputc('"', out);
        for (const char *p = json_string_value(v); *p; p++) {
            if (*p == '"' || *p == '\\')
                fputc('\\', out);
            fputc(*p, out);
        }
        fputc('"', out);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        fputs("[ ", out);
        json_array_foreach(v, i, e) {
            if (i)
                fputs(", ", out);
            print_value(out, e);
        }
        fputs(" ]", out);
    } else if (json_is_true(v) || json_is_false(v)) {
        fputs(json_is_true(v) ? "true" : "false", out);
    } else if (json_is_integer(v)) {
        fprintf(out, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        fprintf(out, "%g", json_real_value(v));
    }
}

/* The configuration (the file's sections are the operator's; the resources get what was found) and the differences. */
static void print_text(const json_t *doc, FILE *out)
{
    const json_t *res = json_object_get(doc, "resources"), *r;
    size_t i, n_diff = 0;

    fprintf(out, "# dr-agent adopt: the resources of %s as the estate holds them\n",
            json_string_value(json_object_get(doc, "config")));
    fputs("# (keys marked 'found' were not in the file: dr-agent found them in the estate)\n\nresources = (\n", out);
    json_array_foreach(res, i, r) {
        const char *k;
        json_t *v;
        fprintf(out, "  {\n    type = \"%s\"; name = \"%s\";\n", json_string_value(json_object_get(r, "type")),
                json_string_value(json_object_get(r, "name")));
        json_object_foreach(json_object_get(r, "keys"), k, v) {
            fprintf(out, "    %s = ", k);
            print_value(out, v);
            fputs(";\n", out);
        }
        json_object_foreach(json_object_get(r, "found"), k, v) {
            fprintf(out, "    %s = ", k);
            print_value(out, v);
            fputs(";   # found\n", out);
        }
        fprintf(out, "  }%s\n", i + 1 < json_array_size(res) ? "," : "");
    }
    fputs(");\n\n# What differs from the DR setup dr-agent would make:\n", out);
    json_array_foreach(res, i, r) {
        size_t j;
        json_t *d;
        const char *id = json_string_value(json_object_get(r, "id"));
        json_array_foreach(json_object_get(r, "differences"), j, d) {
            fprintf(out, "#   %-28s %-8s %s: %s\n", id, json_string_value(json_object_get(d, "status")),
                    json_string_value(json_object_get(d, "check")),
                    json_string_value(json_object_get(d, "detail")) ? json_string_value(json_object_get(d, "detail"))
                                                                     : "");
            n_diff++;
        }
        json_array_foreach(json_object_get(r, "configure_would"), j, d) {
            fprintf(out, "#   %-28s %-8s %s %s: %s\n", id, "CHANGE", json_string_value(json_object_get(d, "action")),
                    json_string_value(json_object_get(d, "target")),
                    json_string_value(json_object_get(d, "detail")) ? json_string_value(json_object_get(d, "detail"))
                                                                     : "");
            n_diff++;
        }
    }
    if (n_diff == 0)
        fputs("#   nothing: the estate is the DR setup dr-agent would make\n", out);
    else
        fputs("# 'dr-agent configure --plan' shows the changes; 'dr-agent configure' makes them.\n", out);
}

int cmd_adopt(const opts *o, agent *a, const unsigned char *sel)
{
    json_t *changes = json_array(), *doc = NULL, *list = json_array();
    int pending = 0, failed = 0;

    if (o->format != FMT_TEXT && o->format != FMT_JSON) {
        fprintf(stderr, "dr-agent: adopt prints text or json\n");
        json_decref(changes);
        json_decref(list);
        return EXIT_USAGE;
    }
    a->state_dir = NULL; /* read-only: plugins keep no state */
    /* 1. configure, dry run: what the agent would change (reads only) */
    run_hook(a, o, sel, HOOK_CONFIGURE, 1);
    for (size_t i = 0; i < a->cfg->n_res; i++) {
        const res_result *v = &a->run.res[i];
        json_t *arr = json_array();
        for (size_t c = 0; c < v->n_changes; c++)
            json_array_append_new(arr, json_pack("{s:s?, s:s?, s:s?}", "action", v->changes[c].action, "target",
                                                 v->changes[c].target, "detail", v->changes[c].detail));
        if (v->ran && v->rc != 0)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "action", "configure (plan) failed", "target",
                                                 a->cfg->res[i].id, "detail", v->error));
        json_array_append_new(changes, arr);
    }
    /* 2. verify: the checks, and the names found in the estate */
    run_hook(a, o, sel, HOOK_VERIFY, 0);
    for (size_t i = 0; i < a->cfg->n_res; i++) {
        json_t *r;
        if (sel && !sel[i])
            continue;
        r = resource_doc(a, i, json_array_get(changes, i));
        if (json_array_size(json_object_get(r, "differences")) || json_array_size(json_object_get(r, "configure_would")))
            pending = 1;
        if (a->run.res[i].ran && a->run.res[i].rc != 0)
            failed = 1;
        json_array_append_new(list, r);
    }
    doc = json_pack("{s:s, s:o}", "config", a->cfg->path, "resources", list);
    if (o->format == FMT_JSON) {
        json_dumpf(doc, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        print_text(doc, stdout);
    }
    fflush(stdout);
    json_decref(doc);
    json_decref(changes);
    return failed ? EXIT_FAIL : pending ? EXIT_PLAN_CHANGES : EXIT_OK;
}
