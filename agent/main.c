/* main.c: dr-agent's command line: options, commands, exit codes. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "dr/aws.h"
#include "graph.h"
#include "loader.h"
#include "log.h"
#include "report.h"
#include "run.h"
#include "state.h"
#include "version.h"

/* Exit codes (see docs/exit-codes.md). */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,
    EXIT_PLAN_CHANGES = 2,
    EXIT_USAGE = 64,  /* EX_USAGE */
    EXIT_CONFIG = 78  /* EX_CONFIG */
};

typedef enum fmt { FMT_TEXT, FMT_JSON, FMT_PROMETHEUS, FMT_DOT, FMT_NAGIOS } fmt;

typedef struct opts {
    const char *command;
    const char *config;
    const char *plugin_dir;
    const char *state_dir;
    const char *prometheus_file;
    char **resources;
    size_t n_resources;
    fmt format;
    int format_set;
    int plan;
    int yes;
    int help;
    int verbose;
    int quiet;
    dr_mode mode;
    int serving_set;
    dr_serving serving;
    int concurrency;
    double timeout;
    log_format log_fmt;
    int log_level;
} opts;

static const char *const commands[] = {"plugins", "plan", "configure", "verify", "failover", "failback", NULL};

static void usage_main(FILE *out)
{
    fprintf(out,
            "Usage: dr-agent [-c FILE] COMMAND [OPTIONS]\n"
            "\n"
            "Disaster recovery for an AWS estate across two regions.\n"
            "\n"
            "Commands:\n"
            "  plugins     list the loaded plugins, their versions, hooks and config keys\n"
            "  plan        show the order in which resources are handled (--format dot for a graph)\n"
            "  configure   set up the DR prerequisites (--plan: show the changes only)\n"
            "  verify      check every prerequisite and the replication lag (read-only; Nagios exit codes)\n"
            "  failover    make the DR region serve, data before traffic\n"
            "  failback    make the primary region serve again\n"
            "\n"
            "Common options:\n"
            "  -c, --config FILE        configuration (default: $DR_AGENT_CONFIG or %s)\n"
            "      --plugin-dir DIR     plugin directory (default: $DR_AGENT_PLUGIN_DIR, the config, or next to the binary)\n"
            "      --state-dir DIR      state directory (default: $DR_AGENT_STATE_DIR, the config, or %s)\n"
            "  -r, --resource ID        only this resource (repeatable; ID or TYPE.*)\n"
            "  -f, --format FMT         text (default), json, prometheus; plan: dot; verify: nagios\n"
            "      --prometheus-file P  also write the Prometheus textfile P (atomically)\n"
            "      --concurrency N      hooks run at once (default: the config, 8)\n"
            "      --timeout DURATION   deadline of each hook (default: the config, 30m)\n"
            "  -q, --quiet              errors only on stderr\n"
            "  -v, --verbose            more detail (all checks; debug log with -vv)\n"
            "      --log-format FMT     text (default) or json log lines on stderr\n"
            "  -h, --help               help (also after a command)\n"
            "  -V, --version            agent and plugin ABI versions\n"
            "\n"
            "Run 'dr-agent COMMAND --help' for the options of a command.\n",
            DR_DEFAULT_CONFIG, DR_DEFAULT_STATE_DIR);
}

static void usage_command(const char *cmd, FILE *out)
{
    if (strcmp(cmd, "plugins") == 0)
        fprintf(out, "Usage: dr-agent plugins [--format text|json] [--plugin-dir DIR]\n\n"
                     "Lists the plugins found in the plugin directory: type, version, ABI, hooks and\n"
                     "config keys, and every file that was refused with the reason.\n");
    else if (strcmp(cmd, "plan") == 0)
        fprintf(out, "Usage: dr-agent [-c FILE] plan [--format text|json|dot] [--resource ID ...]\n\n"
                     "Shows the dependency order: each level runs in parallel once the previous\n"
                     "levels succeeded. failover and failback follow this order.\n");
    else if (strcmp(cmd, "configure") == 0)
        fprintf(out, "Usage: dr-agent [-c FILE] configure [--plan] [--resource ID ...] [--format text|json]\n\n"
                     "Makes the DR prerequisites true, idempotently. With --plan nothing changes and\n"
                     "the exit code tells whether changes are pending: 0 none, 2 pending, 1 error.\n");
    else if (strcmp(cmd, "verify") == 0)
        fprintf(out, "Usage: dr-agent [-c FILE] verify [--format text|json|prometheus|nagios]\n"
                     "                              [--prometheus-file PATH] [--serving primary|dr] [--resource ID ...]\n\n"
                     "Read-only checks of every prerequisite and of the replication lag against the\n"
                     "RPO. Exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the worst resource).\n"
                     "--serving says which region serves (default: as recorded by the last failover\n"
                     "or failback in the state directory).\n");
    else if (strcmp(cmd, "failover") == 0 || strcmp(cmd, "failback") == 0)
        fprintf(out,
                "Usage: dr-agent [-c FILE] %s [--mode graceful|forced] [--yes] [--dry-run] [--resource ID ...]\n\n"
                "%s in dependency order (data before traffic). graceful (default) loses no data: it\n"
                "waits and fences; forced assumes the region being left may be gone and reports the\n"
                "data-loss window. Asks for confirmation on a terminal; without a terminal --yes is\n"
                "required. --dry-run shows the steps without making them.\n",
                cmd, strcmp(cmd, "failover") == 0 ? "Makes the DR region serve" : "Makes the primary region serve again");
}

static int parse_format(const char *s, fmt *out)
{
    static const struct {
        const char *name;
        fmt f;
    } map[] = {{"text", FMT_TEXT}, {"json", FMT_JSON}, {"prometheus", FMT_PROMETHEUS}, {"dot", FMT_DOT}, {"nagios", FMT_NAGIOS}};

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(s, map[i].name) == 0) {
            *out = map[i].f;
            return 0;
        }
    }
    return -1;
}

static int parse_args(int argc, char **argv, opts *o)
{
    enum { O_PLUGIN_DIR = 1000, O_STATE_DIR, O_PROM_FILE, O_PLAN, O_YES, O_MODE, O_SERVING, O_CONC, O_TIMEOUT,
           O_LOG_FORMAT, O_DRY_RUN };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"plugin-dir", required_argument, NULL, O_PLUGIN_DIR},
        {"state-dir", required_argument, NULL, O_STATE_DIR},
        {"resource", required_argument, NULL, 'r'},
        {"format", required_argument, NULL, 'f'},
        {"prometheus-file", required_argument, NULL, O_PROM_FILE},
        {"plan", no_argument, NULL, O_PLAN},
        {"dry-run", no_argument, NULL, O_DRY_RUN},
        {"yes", no_argument, NULL, O_YES},
        {"mode", required_argument, NULL, O_MODE},
        {"serving", required_argument, NULL, O_SERVING},
        {"concurrency", required_argument, NULL, O_CONC},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"log-format", required_argument, NULL, O_LOG_FORMAT},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;

    o->log_level = DR_LOG_INFO;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:r:f:qvhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case O_PLUGIN_DIR: o->plugin_dir = optarg; break;
        case O_STATE_DIR: o->state_dir = optarg; break;
        case 'r': {
            char **n = realloc(o->resources, (o->n_resources + 1) * sizeof(char *));
            if (!n)
                return -1;
            o->resources = n;
            o->resources[o->n_resources++] = optarg;
            break;
        }
        case 'f':
            if (parse_format(optarg, &o->format) != 0) {
                fprintf(stderr, "dr-agent: unknown format '%s' (text, json, prometheus, dot, nagios)\n", optarg);
                return -1;
            }
            o->format_set = 1;
            break;
        case O_PROM_FILE: o->prometheus_file = optarg; break;
        case O_PLAN:
        case O_DRY_RUN: o->plan = 1; break;
        case O_YES: o->yes = 1; break;
        case O_MODE:
            if (strcmp(optarg, "graceful") == 0)
                o->mode = DR_MODE_GRACEFUL;
            else if (strcmp(optarg, "forced") == 0)
                o->mode = DR_MODE_FORCED;
            else {
                fprintf(stderr, "dr-agent: --mode must be graceful or forced, not '%s'\n", optarg);
                return -1;
            }
            break;
        case O_SERVING:
            if (strcmp(optarg, "primary") == 0)
                o->serving = DR_SERVING_PRIMARY;
            else if (strcmp(optarg, "dr") == 0)
                o->serving = DR_SERVING_DR;
            else {
                fprintf(stderr, "dr-agent: --serving must be primary or dr, not '%s'\n", optarg);
                return -1;
            }
            o->serving_set = 1;
            break;
        case O_CONC: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 256) {
                fprintf(stderr, "dr-agent: --concurrency must be 1..256, not '%s'\n", optarg);
                return -1;
            }
            o->concurrency = (int)v;
            break;
        }
        case O_TIMEOUT:
            if (dr_duration_parse(optarg, &o->timeout) != 0 || o->timeout <= 0) {
                fprintf(stderr, "dr-agent: --timeout: bad duration '%s' (e.g. 90s, 15m, 1h)\n", optarg);
                return -1;
            }
            break;
        case O_LOG_FORMAT:
            if (strcmp(optarg, "text") == 0)
                o->log_fmt = LOG_FORMAT_TEXT;
            else if (strcmp(optarg, "json") == 0)
                o->log_fmt = LOG_FORMAT_JSON;
            else {
                fprintf(stderr, "dr-agent: --log-format must be text or json, not '%s'\n", optarg);
                return -1;
            }
            break;
        case 'q': o->quiet = 1; break;
        case 'v': o->verbose++; break;
        case 'h': o->help = 1; break;
        case 'V':
            printf("dr-agent %s (plugin ABI %d.%d)\n", DR_AGENT_VERSION, DR_ABI_MAJOR, DR_ABI_MINOR);
            exit(EXIT_OK);
        default:
            if (optopt)
                fprintf(stderr, "dr-agent: option -%c needs a value or is unknown\n", optopt);
            else
                fprintf(stderr, "dr-agent: unknown option '%s'\n", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc)
        o->command = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "dr-agent: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->quiet)
        o->log_level = DR_LOG_ERROR;
    else if (o->verbose >= 2)
        o->log_level = DR_LOG_DEBUG;
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    run_request_cancel();
}

static void sdk_log(int level, const char *message, void *arg)
{
    (void)arg;
    log_msg((dr_log_level)level, "aws", "%s", message);
}

/* ---- plugin directory ---- */

static int default_plugin_dir(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (n <= 0)
        return -1;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    if (snprintf(out, len, "%s/%s", exe, DR_PLUGIN_RELDIR) >= (int)len)
        return -1;
    return 0;
}

static const char *pick_plugin_dir(const opts *o, const dr_config *cfg, char *buf, size_t len)
{
    if (o->plugin_dir)
        return o->plugin_dir;
    if (getenv("DR_AGENT_PLUGIN_DIR") && *getenv("DR_AGENT_PLUGIN_DIR"))
        return getenv("DR_AGENT_PLUGIN_DIR");
    if (cfg && cfg->agent.plugin_dir)
        return cfg->agent.plugin_dir;
    if (default_plugin_dir(buf, len) == 0)
        return buf;
    return "/usr/lib/dr-agent/plugins";
}

static const char *pick_state_dir(const opts *o, const dr_config *cfg)
{
    if (o->state_dir)
        return o->state_dir;
    if (getenv("DR_AGENT_STATE_DIR") && *getenv("DR_AGENT_STATE_DIR"))
        return getenv("DR_AGENT_STATE_DIR");
    if (cfg && cfg->agent.state_dir)
        return cfg->agent.state_dir;
    return DR_DEFAULT_STATE_DIR;
}

static void print_errs(const errlist *e)
{
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "dr-agent: %s\n", e->msgs[i]);
}

/* ---- commands ---- */

static int cmd_plugins(const opts *o, const plugin_set *ps, const char *dir)
{
    if (o->format == FMT_JSON) {
        json_t *arr = json_array(), *ref = json_array();
        json_t *doc = json_pack("{s:s, s:s, s:{s:i, s:i}, s:o, s:o}", "agent_version", DR_AGENT_VERSION,
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
                snprintf(abi, sizeof(abi), "%u.%u", d->abi_major, d->abi_minor);
                json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "abi", json_string(abi));
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

static int cmd_plan(const opts *o, const agent *a, const unsigned char *sel)
{
    const dr_config *cfg = a->cfg;

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
                deps = json_array();
                for (size_t k = 0; k < a->g.n_deps[i]; k++)
                    json_array_append_new(deps, json_string(cfg->res[a->g.deps[i][k]].id));
                json_array_append_new(lv, json_pack("{s:s, s:s, s:s, s:o}", "id", cfg->res[i].id, "plugin",
                                                    cfg->res[i].type, "name", cfg->res[i].name, "depends_on", deps));
            }
            json_array_append_new(levels, lv);
        }
        json_dumpf(json_pack("{s:o}", "levels", levels), stdout, JSON_INDENT(2));
        putchar('\n');
        return EXIT_OK;
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

static int output_report(const opts *o, agent *a, const report_info *ri)
{
    dr_error err;

    switch (o->format) {
    case FMT_JSON: report_json(a, ri, stdout); break;
    case FMT_PROMETHEUS: report_prometheus(a, ri, stdout); break;
    case FMT_NAGIOS: report_nagios(a, ri, stdout); break;
    default: report_text(a, ri, stdout, o->verbose > 0); break;
    }
    fflush(stdout);
    if (o->prometheus_file) {
        dr_error_clear(&err);
        if (report_prometheus_file(a, ri, o->prometheus_file, &err) != 0) {
            log_error("%s", err.message);
            return -1;
        }
    }
    return 0;
}

static int cmd_run(const opts *o, agent *a, const unsigned char *sel, hook_kind hook)
{
    char run_id[64];
    run_opts ro;
    report_info ri;
    const char *state_dir = pick_state_dir(o, a->cfg);
    dr_serving serving = DR_SERVING_PRIMARY;
    dr_error err;
    int mutating = hook != HOOK_VERIFY && !o->plan;
    int rc;

    dr_error_clear(&err);
    if (o->format == FMT_DOT || (o->format == FMT_NAGIOS && hook != HOOK_VERIFY)) {
        fprintf(stderr, "dr-agent: --format %s is not available for %s\n", o->format == FMT_DOT ? "dot" : "nagios",
                hook_name(hook));
        return EXIT_USAGE;
    }
    if (mutating && state_dir_prepare(state_dir, &err) != 0) {
        log_error("%s", err.message);
        return EXIT_FAIL;
    }
    if (o->serving_set)
        serving = o->serving;
    else if (state_read_serving(state_dir, &serving, &err) != 0)
        log_warn("%s; assuming the primary region serves", err.message);
    if ((hook == HOOK_FAILOVER || hook == HOOK_FAILBACK) && confirm(o, a, hook_name(hook)) != 0)
        return EXIT_USAGE;

    state_new_run_id(run_id, sizeof(run_id));
    memset(&ro, 0, sizeof(ro));
    ro.hook = hook;
    ro.dry_run = o->plan;
    ro.mode = o->mode;
    ro.serving = serving;
    ro.ordered = hook != HOOK_VERIFY;
    ro.concurrency = o->concurrency;
    ro.hook_timeout = o->timeout;
    ro.run_id = run_id;
    ro.selected = sel;
    log_info("%s%s: run %s, %zu resources, %s serving", hook_name(hook), o->plan ? " (dry run)" : "", run_id,
             a->cfg->n_res, serving == DR_SERVING_DR ? a->cfg->dr_region : a->cfg->primary_region);
    rc = run_execute(a, &ro);
    if (rc != 0) {
        log_error("the run could not start: %s", dr_strerror(rc));
        return EXIT_FAIL;
    }
    memset(&ri, 0, sizeof(ri));
    ri.command = hook_name(hook);
    ri.run_id = run_id;
    ri.dry_run = o->plan;
    if (output_report(o, a, &ri) != 0 && hook != HOOK_VERIFY)
        return EXIT_FAIL;

    if (hook == HOOK_VERIFY)
        return (int)run_worst_status(a);
    if (hook == HOOK_CONFIGURE && o->plan)
        return !run_all_succeeded(a) ? EXIT_FAIL : run_changes_pending(a) ? EXIT_PLAN_CHANGES : EXIT_OK;
    if (!run_all_succeeded(a))
        return EXIT_FAIL;
    if (!o->plan && !sel && (hook == HOOK_FAILOVER || hook == HOOK_FAILBACK)) {
        if (state_write_serving(state_dir, hook == HOOK_FAILOVER ? DR_SERVING_DR : DR_SERVING_PRIMARY, run_id,
                                &err) != 0) {
            log_error("%s", err.message);
            return EXIT_FAIL;
        }
    }
    return EXIT_OK;
}

/* --resource selections: ids or TYPE.*; every one must match. */
static int select_resources(const opts *o, const dr_config *cfg, unsigned char **out)
{
    unsigned char *sel;

    *out = NULL;
    if (o->n_resources == 0)
        return 0;
    sel = calloc(cfg->n_res + 1, 1);
    if (!sel)
        return -1;
    for (size_t k = 0; k < o->n_resources; k++) {
        const char *pat = o->resources[k];
        size_t pl = strlen(pat);
        int hit = 0;
        for (size_t i = 0; i < cfg->n_res; i++) {
            int m = pl >= 2 && strcmp(pat + pl - 2, ".*") == 0
                        ? strlen(cfg->res[i].type) == pl - 2 && strncmp(cfg->res[i].type, pat, pl - 2) == 0
                        : strcmp(cfg->res[i].id, pat) == 0;
            if (m) {
                sel[i] = 1;
                hit = 1;
            }
        }
        if (!hit) {
            fprintf(stderr, "dr-agent: --resource %s: no such resource in %s\n", pat, cfg->path);
            free(sel);
            return -1;
        }
    }
    *out = sel;
    return 0;
}

int main(int argc, char **argv)
{
    opts o;
    agent a;
    errlist errs = {0};
    dr_error err;
    char dirbuf[PATH_MAX];
    const char *config_path, *plugin_dir;
    unsigned char *sel = NULL;
    struct sigaction sa;
    int rc = EXIT_FAIL, known = 0;

    memset(&o, 0, sizeof(o));
    memset(&a, 0, sizeof(a));
    if (parse_args(argc, argv, &o) != 0) {
        fprintf(stderr, "Try 'dr-agent --help'.\n");
        free(o.resources);
        return EXIT_USAGE;
    }
    if (!o.command) {
        usage_main(o.help ? stdout : stderr);
        free(o.resources);
        return o.help ? EXIT_OK : EXIT_USAGE;
    }
    for (const char *const *c = commands; *c; c++)
        known |= strcmp(*c, o.command) == 0;
    if (!known) {
        fprintf(stderr, "dr-agent: unknown command '%s'\n", o.command);
        usage_main(stderr);
        free(o.resources);
        return EXIT_USAGE;
    }
    if (o.help) {
        usage_command(o.command, stdout);
        free(o.resources);
        return EXIT_OK;
    }

    log_setup((dr_log_level)o.log_level, o.log_fmt);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    dr_error_clear(&err);
    if (dr_sdk_global_init(&err) != 0) {
        log_error("%s", err.message);
        goto out;
    }
    dr_sdk_set_log(sdk_log, NULL, o.log_level);

    config_path = o.config ? o.config : getenv("DR_AGENT_CONFIG") ? getenv("DR_AGENT_CONFIG") : DR_DEFAULT_CONFIG;
    if (strcmp(o.command, "plugins") == 0) {
        /* the config is optional here: it only tells where the plugins are */
        if (access(config_path, F_OK) == 0 && config_load(config_path, &a.cfg, &errs) != 0) {
            print_errs(&errs);
            rc = EXIT_CONFIG;
            goto out;
        }
        plugin_dir = pick_plugin_dir(&o, a.cfg, dirbuf, sizeof(dirbuf));
        if (plugins_load_dir(plugin_dir, host_api(), &a.plugins, &err) != 0) {
            log_error("%s", err.message);
            rc = EXIT_CONFIG;
            goto out;
        }
        rc = cmd_plugins(&o, &a.plugins, plugin_dir);
        goto out;
    }

    plugin_dir = o.plugin_dir ? o.plugin_dir : getenv("DR_AGENT_PLUGIN_DIR");
    if (plugin_dir && !*plugin_dir)
        plugin_dir = NULL;
    if (default_plugin_dir(dirbuf, sizeof(dirbuf)) != 0)
        snprintf(dirbuf, sizeof(dirbuf), "/usr/lib/dr-agent/plugins");
    rc = agent_open(&a, config_path, plugin_dir, dirbuf, &errs, &err);
    for (size_t i = 0; i < a.plugins.n_refusals; i++)
        log_warn("%s", a.plugins.refusals[i]);
    if (rc == DR_ECONFIG) {
        print_errs(&errs);
        rc = EXIT_CONFIG;
        goto out;
    }
    if (rc != 0) {
        log_error("%s", err.message);
        rc = rc == DR_ENOMEM ? EXIT_FAIL : EXIT_CONFIG;
        goto out;
    }
    if (select_resources(&o, a.cfg, &sel) != 0) {
        rc = EXIT_USAGE;
        goto out;
    }

    if (strcmp(o.command, "plan") == 0)
        rc = cmd_plan(&o, &a, sel);
    else if (strcmp(o.command, "configure") == 0)
        rc = cmd_run(&o, &a, sel, HOOK_CONFIGURE);
    else if (strcmp(o.command, "verify") == 0)
        rc = cmd_run(&o, &a, sel, HOOK_VERIFY);
    else if (strcmp(o.command, "failover") == 0)
        rc = cmd_run(&o, &a, sel, HOOK_FAILOVER);
    else if (strcmp(o.command, "failback") == 0)
        rc = cmd_run(&o, &a, sel, HOOK_FAILBACK);
    if (strcmp(o.command, "verify") != 0 && strcmp(o.command, "plan") != 0 && run_cancel_requested() && rc == EXIT_OK)
        rc = EXIT_FAIL;
out:
    errlist_free(&errs);
    free(sel);
    free(o.resources);
    agent_free(&a);
    dr_sdk_global_cleanup();
    return rc;
}
