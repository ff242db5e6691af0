/* loader.h: finds, checks and loads resource-type plugins from a trusted directory. */
#ifndef AG_LOADER_H
#define AG_LOADER_H

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
    int shipped;               /* a built-in type from the agent's own plugin directory */
    int isolated;              /* its init, validate and hooks run in a child process (isolate.c) */
    char *broken;              /* an isolated init crashed, exited or hung: why; its resources fail with it */
} plugin;

/* Which plugins run isolated (agent.isolation). */
typedef enum plugin_isolation {
    ISOLATE_THIRD_PARTY = 0, /* every plugin but the shipped ones (the default) */
    ISOLATE_ALL = 1,
    ISOLATE_NONE = 2
} plugin_isolation;

/* An explicit plugin file for one type (agent.plugin_paths): it wins over every other file of the type. */
typedef struct plugin_choice {
    const char *type;
    const char *path;
} plugin_choice;

typedef struct plugin_set {
    plugin *items;
    size_t n;
    char **refusals; /* one line each: "<file>: refused: <reason>" */
    size_t n_refusals;

    /* set by the caller before loading (borrowed) */
    plugin_isolation isolation;
    const char *own_dir;          /* the agent's own plugin directory, NULL: none */
    const plugin_choice *choices; /* agent.plugin_paths */
    size_t n_choices;
    double init_timeout;          /* seconds an isolated init may take; 0: 30 */
} plugin_set;

/* The resource types of the plugins shipped with the agent. */
int plugin_builtin_type(const char *type);

/*
 * The run paths (DT_RUNPATH, DT_RPATH) of an ELF shared object, checked
 * before it is loaded: 0 when every entry is an absolute directory, or
 * $ORIGIN, owned by root or the invoking user and not writable by group or
 * others (a missing directory: its nearest existing parent); else
 * DR_EDENIED (or DR_EPLUGIN for a malformed file) naming the entry.
 */
int plugin_check_runpath(const char *path, dr_error *err);

/*
 * Load every *.so in dir (and the files of set->choices). A directory that
 * cannot be trusted (not owned by root or the invoking user, writable by
 * group or others) is an error (DR_EDENIED) and nothing is loaded; a refused
 * file is recorded in set->refusals and the others still load. Two files for
 * one type are both refused, naming each other, unless one is chosen in
 * set->choices or is the shipped plugin of a built-in type (then the others
 * are refused). `host` is passed to each init; an isolated plugin's init is
 * tried in a child process under a deadline (set->init_timeout) and the
 * cancel request, and runs again in each child that calls the plugin.
 */
int plugins_load_dir(const char *dir, const dr_host_api *host, plugin_set *set, dr_error *err);

/* Load one file (after the directory checks); 0, or a refusal in err (DR_EPLUGIN / DR_EDENIED). */
int plugin_load_file(const char *dir, const char *file, const dr_host_api *host, const plugin_set *loaded,
                     plugin *out, dr_error *err);

const plugin *plugins_find(const plugin_set *set, const char *type);
void plugin_set_free(plugin_set *set);

/* Smallest descriptor the host accepts: the size of ABI 1.0's. */
#define AG_DESCRIPTOR_MIN_SIZE (offsetof(dr_plugin_descriptor, failback) + sizeof(dr_hook_fn))

#endif
