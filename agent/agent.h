/* agent.h: the agent (config, plugins, graph, resource contexts, AWS clients, last run); start-up and end. */
#ifndef AG_AGENT_H
#define AG_AGENT_H

/*
 * Ownership: an agent owns its config, plugins, graph, resource contexts,
 * AWS clients and the results of its last run (agent_free). The last run's
 * result is replaced by the next run.
 */

#include <pthread.h>
#include <stddef.h>

#include "clients.h"
#include "config.h"
#include "dr/plugin.h"
#include "graph.h"
#include "loader.h"
#include "result.h"

struct agent;
struct job;

/* The host side of a resource instance; plugins see it as the opaque dr_resource. */
struct dr_resource {
    struct agent *agent;
    size_t index;
    const cfg_resource *cfg;
    const plugin *plugin;
    pthread_mutex_t mu;
    struct job *job; /* the hook call in progress, NULL between calls */
    char *broken;    /* its isolated validate crashed, exited or hung: why; every step of it fails with this */
    char control_planes[4][96]; /* "service@region" a failover calls, as the plugin declared them */
    int n_control_planes;
};

typedef struct agent {
    ag_config *cfg;
    plugin_set plugins;
    graph g;
    struct dr_resource *res;   /* cfg->n_res */
    run_result run;            /* the current/last run; run.res has cfg->n_res entries */
    client_cache clients;
    const char *state_dir;     /* of the command (borrowed); NULL: plugins keep no state */
} agent;

/*
 * Loader options from the config (may be NULL): agent.isolation, agent.plugin_paths, and own_dir, the agent's
 * own plugin directory (its built-in types are the shipped plugins). The set borrows cfg's strings.
 */
void plugins_configure(plugin_set *set, const ag_config *cfg, const char *own_dir);

/*
 * Everything before a run: read and check the config, load the plugins
 * (from plugin_dir if not NULL, else the config's agent.plugin_dir, else
 * fallback_dir), bind
 * keys, build the graph, set up resource contexts and run the plugins'
 * validate(). Returns 0, DR_ECONFIG with errs filled, or another code with
 * err filled (plugin directory, memory). Refused plugin files are in
 * a->plugins.refusals.
 */
int agent_open(agent *a, const char *config_path, const char *plugin_dir, const char *fallback_dir, errlist *errs,
               dr_error *err);

/* Set up resource contexts once cfg, plugins and graph are in place. 0 or DR_ENOMEM. */
int agent_init_resources(agent *a);
/* Run each plugin's validate() on its resources; errors go to errs with file and line. */
int agent_validate(agent *a, errlist *errs);
/*
 * Free what the agent owns; 0. While a hook abandoned at its deadline still
 * runs, nothing is freed and 1 is returned: `a` and the SDK's globals must
 * then stay as they are until the process ends (main exits at once).
 */
int agent_free(agent *a);

#endif
