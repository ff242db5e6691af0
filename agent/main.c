/* main.c: dr-agent's entry point: option parsing, usage, set-up, and dispatch to the commands. */
#include <malloc.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cancel.h"
#include "cli.h"
#include "config.h"
#include "dr/aws.h"
#include "drill.h"
#include "log.h"
#include "report.h"
#include "isolate.h"
#include "adopt.h"
#include "host.h"
#include "sdkhost.h"
#include "version.h"

/* ---- the commands: one table drives parsing, help and dispatch ---- */

typedef struct command {
    const char *name;
    const char *summary; /* its line in 'dr-agent --help' */
    const char *usage;   /* 'dr-agent COMMAND --help' */
    int takes_arg;       /* one positional argument after the command (resume RUN_ID) */
    int opens_agent;     /* main loads the config and plugins and selects resources before run() */
    int acts;            /* changes something: a cancelled run of it fails even when its steps succeeded */
    int (*run)(const opts *o, agent *a, const unsigned char *sel, const char *config_path);
} command;

static const command *find_command(const char *name);
static void print_command_list(FILE *out);

static void usage_main(FILE *out)
{
    fprintf(out,
            "Usage: dr-agent [-c FILE] COMMAND [OPTIONS]\n"
            "\n"
            "Disaster recovery for an AWS estate across two regions.\n"
            "\n"
            "Commands:\n");
    print_command_list(out);
    fprintf(out,
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
            "      --wait DURATION      wait that long for the run lock instead of refusing at once\n"
            "  -q, --quiet              errors only on stderr\n"
            "  -v, --verbose            more detail (all checks; debug log with -vv)\n"
            "      --log-format FMT     text (default) or json log lines on stderr\n"
            "  -h, --help               help (also after a command)\n"
            "  -V, --version            agent and plugin ABI versions\n"
            "\n"
            "Run 'dr-agent COMMAND --help' for the options of a command.\n",
            AG_DEFAULT_CONFIG, AG_DEFAULT_STATE_DIR);
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

/* A duration option's value: 0, or -1 after saying what is wrong (zero is refused unless zero_ok). */
static int parse_duration_opt(const char *name, const char *value, int zero_ok, double *out)
{
    if (dr_duration_parse(value, out) != 0 || *out < 0 || (!zero_ok && *out == 0)) {
        fprintf(stderr, "dr-agent: --%s: bad duration '%s' (e.g. 90s, 15m, 1h%s)\n", name, value,
                zero_ok ? ", 0" : "");
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, opts *o)
{
    enum { O_PLUGIN_DIR = 1000, O_STATE_DIR, O_PROM_FILE, O_PLAN, O_YES, O_MODE, O_SERVING, O_CONC, O_TIMEOUT,
           O_LOG_FORMAT, O_DRY_RUN, O_WAIT, O_NOTES, O_PREPARE_TIMEOUT, O_ON_FAILURE };
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
        {"wait", required_argument, NULL, O_WAIT},
        {"notes", required_argument, NULL, O_NOTES},
        {"prepare-timeout", required_argument, NULL, O_PREPARE_TIMEOUT},
        {"on-failure", required_argument, NULL, O_ON_FAILURE},
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
            if (parse_duration_opt("timeout", optarg, 0, &o->timeout) != 0)
                return -1;
            break;
        case O_WAIT:
            if (parse_duration_opt("wait", optarg, 1, &o->wait) != 0)
                return -1;
            break;
        case O_NOTES: o->notes = optarg; break;
        case O_PREPARE_TIMEOUT:
            if (parse_duration_opt("prepare-timeout", optarg, 0, &o->prepare_timeout) != 0)
                return -1;
            break;
        case O_ON_FAILURE:
            if (strcmp(optarg, "rollback") == 0)
                o->on_failure_hold = 0;
            else if (strcmp(optarg, "hold") == 0)
                o->on_failure_hold = 1;
            else {
                fprintf(stderr, "dr-agent: --on-failure must be rollback or hold, not '%s'\n", optarg);
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
            printf("dr-agent %s (plugin ABI %d.%d)\n", AG_VERSION, DR_ABI_MAJOR, DR_ABI_MINOR);
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
    if (optind < argc && o->command && find_command(o->command) && find_command(o->command)->takes_arg)
        o->arg = argv[optind++];
    if (optind < argc && o->command && strcmp(o->command, "diagnose") == 0) {
        /* diagnose RESOURCE: the same as --resource RESOURCE */
        char **n = realloc(o->resources, (o->n_resources + 1) * sizeof(char *));
        if (!n)
            return -1;
        o->resources = n;
        o->resources[o->n_resources++] = argv[optind++];
    }
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

/* The exit code when a plugin running in the agent's process ends it with exit(): never 0 (set per command). */
static int g_plugin_exit_code = EXIT_FAIL;

static void plugin_exit_guard(void)
{
    if (!iso_in_child() && plugin_code_running()) {
        static const char msg[] = "dr-agent: a plugin ended the process (exit() during one of its calls): no result\n";
        if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
            /* nothing more to do */
        }
        _exit(g_plugin_exit_code);
    }
}

static void on_signal(int sig)
{
    (void)sig;
    cancel_request();
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
    if (snprintf(out, len, "%s/%s", exe, AG_PLUGIN_RELDIR) >= (int)len)
        return -1;
    return 0;
}

static const char *pick_plugin_dir(const opts *o, const ag_config *cfg, char *buf, size_t len)
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

static void print_errs(const errlist *e)
{
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "dr-agent: %s\n", e->msgs[i]);
}

/* --resource selections: ids or TYPE.*; every one must match. */
static int select_resources(const opts *o, const ag_config *cfg, unsigned char **out)
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

/* failover and failback: the same two-phase switch */
#define SWITCH_USAGE(cmd, what)                                                                                       \
    "Usage: dr-agent [-c FILE] " cmd " [--mode graceful|forced] [--yes] [--dry-run] [--resource ID ...]\n" \
    "                              [--prepare-timeout DURATION]\n\n" \
    what " in two phases. prepare: every resource checks its preconditions and\n" \
    "waits for its data, changing nothing; only when all are ready (within the prepare\n" \
    "deadline, default agent.prepare_timeout, 15m) the switch commits, in dependency order\n" \
    "(data before traffic). graceful (default) loses no data: it waits and fences; forced\n" \
    "assumes the region being left may be gone (the barrier does not wait for it) and\n" \
    "reports the data-loss window. A switch that fails after the commit started stops and\n" \
    "states which resources moved and the command that completes or reverses it. Asks for\n" \
    "confirmation on a terminal; without a terminal --yes is required. --dry-run shows the\n" \
    "steps without making them.\n"

static const char usage_plugins[] =
    "Usage: dr-agent plugins [--format text|json] [--plugin-dir DIR]\n\n"
    "Lists the plugins found in the plugin directory: type, version, ABI, hooks and\n"
    "config keys, and every file that was refused with the reason.\n";

static const char usage_plan[] =
    "Usage: dr-agent [-c FILE] plan [--format text|json|dot] [--resource ID ...]\n\n"
    "Shows the dependency order: each level runs in parallel once the previous\n"
    "levels succeeded. failover and failback follow this order.\n";

static const char usage_configure[] =
    "Usage: dr-agent [-c FILE] configure [--plan] [--resource ID ...] [--format text|json]\n\n"
    "Makes the DR prerequisites true, idempotently. With --plan nothing changes and\n"
    "the exit code tells whether changes are pending: 0 none, 2 pending, 1 error.\n";

static const char usage_verify[] =
    "Usage: dr-agent [-c FILE] verify [--format text|json|prometheus|nagios]\n"
    "                              [--prometheus-file PATH] [--serving primary|dr] [--resource ID ...]\n\n"
    "Read-only checks of every prerequisite and of the replication lag against the\n"
    "RPO. Exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the worst resource).\n"
    "--serving says which region serves (default: as recorded by the last failover\n"
    "or failback in the state directory).\n";

static const char usage_drill[] =
    "Usage: dr-agent [-c FILE] drill [--mode graceful|forced] [--yes] [--notes FILE] [--format text|json]\n"
    "                              [--on-failure rollback|hold] [--prepare-timeout DURATION]\n\n"
    "The quarterly DR drill as one command: verify, failover, verify with the DR region\n"
    "serving (repeated until every resource is OK; this ends the RTO), failback, verify.\n"
    "Measures the RTO (failover start until every resource verifies OK in the DR region)\n"
    "and the RPO (worst observed per resource) against the objectives, writes a JSON\n"
    "and a self-contained HTML report with a timeline to <state_dir>/reports/, and exits\n"
    "1 when a phase failed, an objective was missed or the drill was cancelled.\n"
    "--notes FILE: the lessons learned, read when the drill ends (write them during the\n"
    "drill), shown in the report and by 'dr-agent history'. A failover that fails or is\n"
    "cancelled after its commit started is rolled back (failback of what moved, in\n"
    "reverse dependency order); --on-failure hold keeps that state for inspection\n"
    "('dr-agent resume' then fails back).\n";

static const char usage_resume[] =
    "Usage: dr-agent [-c FILE] resume [RUN_ID] [--yes]\n\n"
    "Continues an interrupted configure, failover, failback or drill with the same run id,\n"
    "mode and resources. Every step runs again and checks the state first, so steps\n"
    "that had finished are re-checked, not redone. Without RUN_ID: the newest\n"
    "interrupted run. A drill is completed by failing back what it moved.\n";

static const char usage_history[] =
    "Usage: dr-agent [-c FILE] history [--format text|json]\n\n"
    "Lists the runs recorded in the state directory: command, mode, start, duration,\n"
    "outcome (done, failed, interrupted), RTO and RPO; under a drill, its lessons learned.\n";

static const char usage_adopt[] =
    "Usage: dr-agent [-c FILE] adopt [--format text|json] [--resource ID ...]\n\n"
    "Reads the estate the configuration names (read-only: no AWS write, no local state)\n"
    "and prints the configuration with the values found in the estate, then what\n"
    "differs from the DR setup dr-agent would make (checks not OK, changes configure\n"
    "would make). Exit: 0 nothing differs, 2 something does, 1 a hook failed.\n";

static const char usage_diagnose[] =
    "Usage: dr-agent [-c FILE] diagnose [RESOURCE] [--format text|json] [--serving primary|dr]\n"
    "                              [--resource ID ...] [-v]\n\n"
    "Read-only diagnostics: the causes of replication lag and failures that verify\n"
    "reports (throttling, capacity, long-running queries, replication slots, objects\n"
    "that failed to replicate, health check failure reasons, failed backup and copy\n"
    "jobs). Each finding names its evidence and the fix; -v also lists the diagnostics\n"
    "that found nothing. RESOURCE is an id or TYPE.* like --resource.\n"
    "Exit code: 0 no finding, 1 a WARNING finding, 2 a CRITICAL finding, 3 a diagnostic\n"
    "could not run (UNKNOWN).\n";

static const char usage_cleanup[] =
    "Usage: dr-agent [-c FILE] cleanup [--plan] [--yes] [--resource ID ...] [--format text|json]\n\n"
    "Failovers, failbacks and drills keep what they replace (an Aurora cluster renamed\n"
    "<id>-retired-<time>): it may hold writes a forced failover lost, and it is billed.\n"
    "cleanup lists what is older than each resource's retired_retention, then deletes\n"
    "it after confirmation (on a terminal; without one --yes is required). --plan lists\n"
    "only; exit code 2 when something would be deleted, like configure --plan.\n";

/* Commands that do not open the agent set up what they need themselves. */
static int do_plugins(const opts *o, agent *a, const unsigned char *sel, const char *config_path);
static int do_history(const opts *o, agent *a, const unsigned char *sel, const char *config_path);

static int do_plan(const opts *o, agent *a, const unsigned char *sel, const char *config_path)
{
    (void)config_path;
    return cmd_plan(o, a, sel);
}

static int do_configure(const opts *o, agent *a, const unsigned char *sel, const char *config_path)
{
    return cmd_run(o, a, sel, HOOK_CONFIGURE, config_path, NULL);
}

static int do_verify(const opts *o, agent *a, const unsigned char *sel, const char *config_path)
{
    int rc = cmd_run(o, a, sel, HOOK_VERIFY, config_path, NULL);

    /* a plugin file that was refused (or whose init crashed) is not in effect: never a plain OK */
    if (rc == 0 && a->plugins.n_refusals > 0) {
        log_warn("verify: WARNING: %zu plugin file(s) refused (see above)", a->plugins.n_refusals);
        rc = 1;
    }
    return rc;
}

static int do_failover(const opts *o, agent *a, const unsigned char *sel, const char *config_path)
{
    return cmd_run(o, a, sel, HOOK_FAILOVER, config_path, NULL);
}

static int do_failback(const opts *o, agent *a, const unsigned char *sel, const char *config_path)
{
    return cmd_run(o, a, sel, HOOK_FAILBACK, config_path, NULL);
}

static int do_drill(const opts *o, agent *a, const unsigned char *sel, const char *config_path)
{
    return cmd_drill(o, a, sel, config_path);
}

static int do_resume(const opts *o, agent *a, const unsigned char *sel, const char *config_path)
{
    (void)sel;
    return cmd_resume(o, a, config_path);
}

static int do_cleanup(const opts *o, agent *a, const unsigned char *sel, const char *config_path)
{
    return cmd_cleanup(o, a, sel, config_path);
}

static int do_adopt(const opts *o, agent *a, const unsigned char *sel, const char *config_path)
{
    (void)config_path;
    return cmd_adopt(o, a, sel);
}

static int do_diagnose(const opts *o, agent *a, const unsigned char *sel, const char *config_path)
{
    return cmd_run(o, a, sel, HOOK_DIAGNOSE, config_path, NULL);
}

static const command g_commands[] = {
    {"plugins", "list the loaded plugins, their versions, hooks and config keys",
     usage_plugins, 0, 0, 0, do_plugins},
    {"plan", "show the order in which resources are handled (--format dot for a graph)",
     usage_plan, 0, 1, 0, do_plan},
    {"configure", "set up the DR prerequisites (--plan: show the changes only)",
     usage_configure, 0, 1, 1, do_configure},
    {"verify", "check every prerequisite and the replication lag (read-only; Nagios exit codes)",
     usage_verify, 0, 1, 0, do_verify},
    {"failover", "make the DR region serve, data before traffic",
     SWITCH_USAGE("failover", "Makes the DR region serve"), 0, 1, 1, do_failover},
    {"failback", "make the primary region serve again",
     SWITCH_USAGE("failback", "Makes the primary region serve again"), 0, 1, 1, do_failback},
    {"drill", "verify, failover, verify in the DR region, failback, verify; measure RTO and RPO",
     usage_drill, 0, 1, 1, do_drill},
    {"resume", "continue an interrupted configure, failover, failback or drill (the newest, or RUN_ID)",
     usage_resume, 1, 1, 1, do_resume},
    {"history", "list past runs with their outcome, RTO and RPO",
     usage_history, 0, 0, 0, do_history},
    {"cleanup", "delete what failovers and drills retired, once older than the retention (--plan: list)",
     usage_cleanup, 0, 1, 1, do_cleanup},
    {"adopt", "describe an existing estate: the configuration it needs and what differs (read-only)",
     usage_adopt, 0, 1, 0, do_adopt},
    {"diagnose", "look for the causes of what verify reports, each finding with evidence and fix (read-only)",
     usage_diagnose, 0, 1, 0, do_diagnose},
};

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof(g_commands) / sizeof(g_commands[0]); i++)
        if (strcmp(g_commands[i].name, name) == 0)
            return &g_commands[i];
    return NULL;
}

static void print_command_list(FILE *out)
{
    for (size_t i = 0; i < sizeof(g_commands) / sizeof(g_commands[0]); i++)
        fprintf(out, "  %-11s %s\n", g_commands[i].name, g_commands[i].summary);
}

static int do_history(const opts *o, agent *a, const unsigned char *sel, const char *config_path)
{
    errlist errs = {0};
    int rc;

    (void)sel;
    /* the config only tells where the state is; plugins are not needed */
    if (!o->state_dir && !getenv("DR_AGENT_STATE_DIR") && config_load(config_path, &a->cfg, &errs) != 0) {
        print_errs(&errs);
        errlist_free(&errs);
        return EXIT_CONFIG;
    }
    rc = cmd_history(o, cli_state_dir(o, a->cfg));
    errlist_free(&errs);
    return rc;
}

static int do_plugins(const opts *o, agent *a, const unsigned char *sel, const char *config_path)
{
    errlist errs = {0};
    dr_error err;
    char dirbuf[PATH_MAX], owndir[PATH_MAX];
    const char *plugin_dir;

    (void)sel;
    /* the config is optional here: it only tells where the plugins are */
    if (access(config_path, F_OK) == 0 && config_load(config_path, &a->cfg, &errs) != 0) {
        print_errs(&errs);
        errlist_free(&errs);
        return EXIT_CONFIG;
    }
    errlist_free(&errs);
    plugin_dir = pick_plugin_dir(o, a->cfg, dirbuf, sizeof(dirbuf));
    if (default_plugin_dir(owndir, sizeof(owndir)) == 0)
        plugins_configure(&a->plugins, a->cfg, owndir);
    else
        plugins_configure(&a->plugins, a->cfg, NULL);
    dr_error_clear(&err);
    if (plugins_load_dir(plugin_dir, host_api(), &a->plugins, &err) != 0) {
        log_error("%s", err.message);
        return EXIT_CONFIG;
    }
    return cmd_plugins(o, &a->plugins, plugin_dir);
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
    drill_metrics_arg drill_metrics;
    const command *cmd;
    int rc = EXIT_FAIL;

    /* Few malloc arenas: calls run on many short-lived threads, and an arena per thread keeps what a large answer
       used resident after it is freed. */
    mallopt(M_ARENA_MAX, 2);

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
    cmd = find_command(o.command);
    if (!cmd) {
        fprintf(stderr, "dr-agent: unknown command '%s'\n", o.command);
        usage_main(stderr);
        free(o.resources);
        return EXIT_USAGE;
    }
    if (o.help) {
        fputs(cmd->usage, stdout);
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
    g_plugin_exit_code = strcmp(o.command, "verify") == 0 || strcmp(o.command, "diagnose") == 0
                             ? 3 : EXIT_FAIL; /* verify, diagnose: UNKNOWN */
    atexit(plugin_exit_guard);

    dr_error_clear(&err);
    if (host_sdk_global_init(&err) != 0) {
        log_error("%s", err.message);
        goto out;
    }
    host_sdk_set_log(sdk_log, NULL, o.log_level);

    config_path = o.config ? o.config : getenv("DR_AGENT_CONFIG") ? getenv("DR_AGENT_CONFIG") : AG_DEFAULT_CONFIG;
    if (!cmd->opens_agent) {
        rc = cmd->run(&o, &a, NULL, config_path);
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

    drill_metrics.state_dir = cli_state_dir(&o, a.cfg);
    drill_metrics.period = a.cfg->agent.drill_period;
    report_set_extra_metrics(drill_prometheus, &drill_metrics);

    rc = cmd->run(&o, &a, sel, config_path);
    if (cmd->acts && cancel_requested() && rc == EXIT_OK)
        rc = EXIT_FAIL;
out:
    errlist_free(&errs);
    free(sel);
    free(o.resources);
    if (agent_free(&a) != 0) {
        /* a hook abandoned at its deadline still runs and uses the agent: end the process now, without
           the exit handlers and the SDK's cleanup it could race with */
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    host_sdk_global_cleanup();
    return rc;
}
