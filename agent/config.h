/* config.h: the agent's configuration model: parsing (libconfig), validation, and plugin key binding. */
#ifndef AG_CONFIG_H
#define AG_CONFIG_H

/*
 * Ownership: config_load() returns a ag_config the caller frees with
 * config_free(); every string and array inside belongs to it. An errlist
 * owns its messages (errlist_free).
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dr/plugin.h"

/* Accumulated error lines, each "FILE:LINE: message" or "FILE: message". */
typedef struct errlist {
    char **msgs;
    size_t n;
} errlist;

void errlist_add(errlist *e, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void errlist_free(errlist *e);

/* A value as written in the file, before it is checked against a plugin's keys. */
typedef enum raw_kind { RAW_STRING, RAW_INT, RAW_FLOAT, RAW_BOOL, RAW_LIST, RAW_OTHER } raw_kind;

typedef struct cfg_raw {
    char *key;
    int line;
    raw_kind kind;
    char *s;       /* RAW_STRING */
    int64_t i;     /* RAW_INT, RAW_BOOL */
    double f;      /* RAW_FLOAT */
    char **list;   /* RAW_LIST (strings only) */
    size_t n_list;
    int list_ok;   /* RAW_LIST: every element is a string */
} cfg_raw;

/* A value after binding to a plugin key (defaults applied). */
typedef struct cfg_value {
    int set;     /* from the file or from a default */
    char *str;   /* STRING, ENUM; the text of other scalar types */
    int64_t i;   /* INT, BOOL */
    double f;    /* FLOAT, DURATION (seconds) */
    char **list; /* LIST */
    size_t n_list;
} cfg_value;

typedef struct cfg_resource {
    char *type;
    char *name;
    char *id;            /* "<type>.<name>" */
    int line;
    char **depends_on;   /* as written: ids or "<type>.*" */
    int *depends_lines;
    size_t n_depends;
    int has_depends;     /* depends_on given (possibly empty): plugin defaults do not apply */
    char *profile;       /* AWS overrides for this resource, NULL = global */
    char *role_arn;
    char *external_id;
    double timeout;      /* hook timeout override in seconds, 0 = agent default */
    cfg_raw *raw;        /* plugin keys as written */
    size_t n_raw;
    const dr_plugin_descriptor *plugin; /* bound by config_bind */
    cfg_value *values;   /* one per plugin key, parallel to plugin->keys */
} cfg_resource;

typedef struct cfg_role {
    char *region;
    char *role_arn;
    char *external_id;
} cfg_role;

typedef struct ag_config {
    char *path;
    mode_t file_mode;
    double rto; /* seconds */
    double rpo;
    char *primary_region;
    char *dr_region;
    struct {
        char *profile;
        char *endpoint_url;
        char *ca_bundle;
        int insecure_tls;
        int max_attempts;
        int s3_path_style;
        double connect_timeout;
        double attempt_timeout;
        cfg_role *roles;
        size_t n_roles;
    } aws;
    struct {
        char *plugin_dir;
        char *state_dir;
        int concurrency;
        double hook_timeout;
        double drill_period;
        double retention;
        char *lock_table;   /* a DynamoDB lease table shared by hosts; NULL: a local lock file */
        char *lock_region;  /* default: the DR region */
        char *lock_name;    /* the lease item, default "dr-agent" */
        double lock_lease;  /* seconds, default 60 */
        double verify_timeout; /* seconds: the whole of a verify, default 5 minutes */
        char *isolation;    /* "third_party" (default), "all" or "none": which plugins run in a child process */
        char **plugin_path_types; /* agent.plugin_paths: the plugin file chosen for a type */
        char **plugin_paths;
        size_t n_plugin_paths;
        double prepare_timeout; /* seconds every resource has to get ready before a graceful switch commits */
    } agent;
    cfg_resource *res;
    size_t n_res;
} ag_config;

/* Defaults of the agent section. */
#define AG_DEFAULT_CONFIG "/etc/dr-agent/dr-agent.conf"
#define AG_DEFAULT_STATE_DIR "/var/lib/dr-agent"
#define AG_DEFAULT_CONCURRENCY 8
#define AG_DEFAULT_HOOK_TIMEOUT (30 * 60)
#define AG_DEFAULT_PREPARE_TIMEOUT (15 * 60) /* a graceful switch waits this long for every resource to be ready */
#define AG_DEFAULT_DRILL_PERIOD (90 * 86400)
#define AG_DEFAULT_RETENTION (180 * 86400)
#define AG_DEFAULT_VERIFY_TIMEOUT (5 * 60)

/*
 * Parse and check everything that does not need plugins (syntax, sections,
 * objectives, regions, resource names, duplicate ids). 0, or DR_ECONFIG with
 * every problem in errs.
 */
int config_load(const char *path, ag_config **out, errlist *errs);

/*
 * Check every resource against its plugin's declared keys (unknown key,
 * wrong type, missing required key, bad duration, bad choice), apply
 * defaults, and refuse secrets in a file readable by group or others.
 * `find` returns the plugin of a type or NULL. 0 or DR_ECONFIG.
 */
typedef const dr_plugin_descriptor *(*plugin_lookup_fn)(const char *type, void *arg);
int config_bind(ag_config *cfg, plugin_lookup_fn find, void *arg, errlist *errs);

void config_free(ag_config *cfg);

/* The bound value of a key of a resource, or NULL when the plugin has no such key. */
const cfg_value *config_value(const cfg_resource *r, const char *key, dr_key_type *type);

/* Text form of a key type: "string", "duration", ... */
const char *config_key_type_name(dr_key_type t);

#endif
