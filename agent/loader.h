/* loader.h: finds, checks and loads resource-type plugins from a trusted directory. */
#ifndef DR_AGENT_LOADER_H
#define DR_AGENT_LOADER_H

/*
 * Ownership: a plugin_set owns its paths, refusal messages and descriptor
 * copies; plugin_set_free() frees them but never unloads code that ran
 * (handles stay open for the life of the process).
 */

#include <stddef.h>

#include "dr/plugin.h"

typedef struct plugin {
    char *path;                /* the file it was loaded from */
    void *handle;              /* dlopen handle, never closed once plugin code ran */
    dr_plugin_descriptor desc; /* the plugin's descriptor, zero-filled past its struct_size */
} plugin;

typedef struct plugin_set {
    plugin *items;
    size_t n;
    char **refusals; /* one line each: "<file>: refused: <reason>" */
    size_t n_refusals;
} plugin_set;

/*
 * Load every *.so in dir. A directory that cannot be trusted (not owned by
 * root or the invoking user, writable by group or others) is an error
 * (DR_EDENIED) and nothing is loaded; a refused file is recorded in
 * set->refusals and the others still load. `host` is passed to each init.
 */
int plugins_load_dir(const char *dir, const dr_host_api *host, plugin_set *set, dr_error *err);

/* Load one file (after the directory checks); 0, or a refusal in err (DR_EPLUGIN / DR_EDENIED). */
int plugin_load_file(const char *dir, const char *file, const dr_host_api *host, const plugin_set *loaded,
                     plugin *out, dr_error *err);

const plugin *plugins_find(const plugin_set *set, const char *type);
void plugin_set_free(plugin_set *set);

/* Smallest descriptor the host accepts: the size of ABI 1.0's. */
#define DR_DESCRIPTOR_MIN_SIZE (offsetof(dr_plugin_descriptor, failback) + sizeof(dr_hook_fn))

#endif
