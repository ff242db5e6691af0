/* cli.h: what the command line parsed (options, formats, exit codes) and the commands that act on it. */
#ifndef AG_CLI_H
#define AG_CLI_H

/* Ownership: an opts borrows argv's strings and owns only its `resources` array (freed by main). */

#include "loader.h"
#include "log.h"
#include "agent.h"
#include "status.h"

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
    const char *arg;       /* the one positional argument after the command (resume RUN_ID) */
    double wait;           /* --wait: how long to wait for the run lock */
    const char *config;
    const char *plugin_dir;
    const char *state_dir;
    const char *prometheus_file;
    const char *notes;     /* drill --notes FILE: lessons learned */
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
    double prepare_timeout; /* --prepare-timeout, 0: the config's */
    int on_failure_hold;    /* drill --on-failure hold: keep a failed drill's state instead of rolling back */
    int skip_prepare;       /* resume of a switch whose commit had started: the barrier was passed */
} opts;

/* The state directory: --state-dir, $DR_AGENT_STATE_DIR, the config's, or the default. */
const char *cli_state_dir(const opts *o, const ag_config *cfg);

/* The commands; each returns the process exit code. */
int cmd_plugins(const opts *o, const plugin_set *ps, const char *dir);
int cmd_plan(const opts *o, const agent *a, const unsigned char *sel);
int cmd_run(const opts *o, agent *a, const unsigned char *sel, hook_kind hook, const char *config_path,
            const char *resume_id);
int cmd_drill(const opts *o, agent *a, const unsigned char *sel, const char *config_path);
int cmd_resume(const opts *o, agent *a, const char *config_path);
int cmd_history(const opts *o, const char *state_dir);
int cmd_cleanup(const opts *o, agent *a, const unsigned char *sel, const char *config_path);

#endif
