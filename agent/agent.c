/* agent.c: agent start-up and end: config, plugins, key binding, graph, resource contexts, validation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cancel.h"
#include "dr/aws.h"
#include "dr/util.h"
#include "host.h"
#include "isolate.h"
#include "log.h"

void plugins_configure(plugin_set *set, const ag_config *cfg, const char *own_dir)
{
    static plugin_choice choices[64];
    size_t n = 0;

    set->own_dir = own_dir;
    set->isolation = ISOLATE_THIRD_PARTY;
    if (cfg && cfg->agent.isolation)
        set->isolation = strcmp(cfg->agent.isolation, "all") == 0    ? ISOLATE_ALL
                         : strcmp(cfg->agent.isolation, "none") == 0 ? ISOLATE_NONE
                                                                     : ISOLATE_THIRD_PARTY;
    for (size_t i = 0; cfg && i < cfg->agent.n_plugin_paths && n < sizeof(choices) / sizeof(choices[0]); i++) {
        choices[n].type = cfg->agent.plugin_path_types[i];
        choices[n++].path = cfg->agent.plugin_paths[i];
    }
    set->choices = choices;
    set->n_choices = n;
    if (cfg)
        set->init_timeout = cfg->agent.hook_timeout < 30 ? cfg->agent.hook_timeout : 30;
}

static const dr_plugin_descriptor *lookup_plugin(const char *type, void *arg)
{
    const plugin *p = plugins_find((const plugin_set *)arg, type);
    return p ? &p->desc : NULL;
}

int agent_open(agent *a, const char *config_path, const char *plugin_dir, const char *fallback_dir, errlist *errs,
               dr_error *err)
{
    int rc;

    if (config_load(config_path, &a->cfg, errs) != 0)
        return DR_ECONFIG;
    if (!plugin_dir)
        plugin_dir = a->cfg->agent.plugin_dir;
    if (!plugin_dir)
        plugin_dir = fallback_dir;
    if (!plugin_dir)
        return dr_error_set(err, DR_EINVAL, "no plugin directory");
    plugins_configure(&a->plugins, a->cfg, fallback_dir);
    rc = plugins_load_dir(plugin_dir, host_api(), &a->plugins, err);
    if (rc != 0)
        return rc;
    if (config_bind(a->cfg, lookup_plugin, &a->plugins, errs) != 0 || graph_build(a->cfg, &a->g, errs) != 0)
        return DR_ECONFIG;
    if (agent_init_resources(a) != 0)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    return agent_validate(a, errs);
}

int agent_init_resources(agent *a)
{
    size_t n = a->cfg->n_res;

    a->res = calloc(n + 1, sizeof(*a->res));
    a->run.res = calloc(n + 1, sizeof(*a->run.res));
    a->run.cfg = a->cfg;
    a->run.g = &a->g;
    if (!a->res || !a->run.res)
        return DR_ENOMEM;
    client_cache_init(&a->clients);
    for (size_t i = 0; i < n; i++) {
        a->res[i].agent = a;
        a->res[i].index = i;
        a->res[i].cfg = &a->cfg->res[i];
        a->res[i].plugin = plugins_find(&a->plugins, a->cfg->res[i].type);
        pthread_mutex_init(&a->res[i].mu, NULL);
    }
    return 0;
}

struct validate_arg {
    struct dr_resource *res;
};

/* In the child: the plugin's init, then its validate of one resource. */
static int isolated_validate_body(void *arg, char *err_out, size_t err_len)
{
    struct dr_resource *res = ((struct validate_arg *)arg)->res;
    const dr_plugin_descriptor *d = &res->plugin->desc;
    dr_error err;
    int rc;

    dr_error_clear(&err);
    if (d->init && (rc = d->init(host_api(), &err)) != 0) {
        snprintf(err_out, err_len, "init failed: %s", err.message[0] ? err.message : dr_strerror(rc));
        return rc < 0 ? rc : DR_EPLUGIN;
    }
    rc = d->validate(res, &err);
    if (rc != 0)
        snprintf(err_out, err_len, "%s", err.message[0] ? err.message : "invalid configuration");
    return rc;
}

/* In the parent: what an isolated validate reported (its log lines and the control planes a failover calls). */
static void validate_frame(void *arg, const iso_msg *m)
{
    if (m->type == ISO_LOG)
        host_api()->log(arg, (dr_log_level)m->i, "%s", m->s[0] ? m->s[0] : "");
    else if (m->type == ISO_CONTROL_PLANE)
        host_api()->failover_control_plane(arg, m->s[0], m->s[1]);
}

/* An isolated plugin's validate: in a child, under the init deadline and the cancel request. */
static int validate_isolated(agent *a, size_t i, dr_error *err, int *crashed)
{
    struct validate_arg va = {&a->res[i]};
    double t = a->cfg->agent.hook_timeout < 30 ? a->cfg->agent.hook_timeout : 30;
    iso_outcome out;
    int rc;

    rc = iso_call("validate", isolated_validate_body, &va, validate_frame, &a->res[i],
                  dr_mono_ms() + (int64_t)(t * 1000.0), 0, cancel_requested, &out);
    if (rc != 0)
        return dr_error_set(err, rc, "%s", out.message);
    if (!out.returned) {
        *crashed = 1;
        return dr_error_set(err, DR_EPLUGIN, "%s", out.message);
    }
    if (out.rc != 0)
        return dr_error_set(err, out.rc, "%s", out.message);
    return 0;
}

int agent_validate(agent *a, errlist *errs)
{
    size_t before = errs->n;
    int rc;

    for (size_t i = 0; i < a->cfg->n_res; i++) {
        const plugin *p = a->res[i].plugin;
        dr_error err;

        if (!p || !p->desc.validate)
            continue;
        dr_error_clear(&err);
        if (p->broken)
            continue;
        if (p->isolated) {
            int crashed = 0;
            if (validate_isolated(a, i, &err, &crashed) == 0)
                continue;
            if (crashed) {
                /* not a configuration error: this resource fails, the others run */
                log_error("%s: %s", a->cfg->res[i].id, err.message);
                a->res[i].broken = strdup(err.message);
                if (a->res[i].broken)
                    continue;
            }
            errlist_add(errs, a->cfg->path, a->cfg->res[i].line, "%s: %s", a->cfg->res[i].id,
                        err.message[0] ? err.message : "invalid configuration");
            continue;
        }
        plugin_code_enter();
        rc = p->desc.validate(&a->res[i], &err);
        plugin_code_leave();
        if (rc != 0)
            errlist_add(errs, a->cfg->path, a->cfg->res[i].line, "%s: %s", a->cfg->res[i].id,
                        err.message[0] ? err.message : "invalid configuration");
    }
    return errs->n == before ? 0 : DR_ECONFIG;
}

int agent_free(agent *a)
{
    /* an abandoned hook may still use its resource, the agent, the clients: nothing is freed */
    if (plugin_code_running())
        return 1;
    client_cache_free(&a->clients);
    if (a->run.res && a->cfg)
        for (size_t i = 0; i < a->cfg->n_res; i++)
            res_result_free(&a->run.res[i]);
    free(a->run.res);
    for (size_t i = 0; a->res && a->cfg && i < a->cfg->n_res; i++)
        free(a->res[i].broken);
    free(a->res);
    graph_free(&a->g);
    config_free(a->cfg); /* before the plugins: its values point at their key tables */
    plugin_set_free(&a->plugins);
    memset(a, 0, sizeof(*a));
    return 0;
}
