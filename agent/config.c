/* config.c: reads the libconfig file into the agent's model and validates it against the plugins' keys. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "log.h"

#include "config.h"
#include "dr/util.h"

void errlist_add(errlist *e, const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    char full[1400];
    char **n;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (file && line > 0)
        snprintf(full, sizeof(full), "%s:%d: %s", file, line, msg);
    else if (file)
        snprintf(full, sizeof(full), "%s: %s", file, msg);
    else
        snprintf(full, sizeof(full), "%s", msg);
    n = realloc(e->msgs, (e->n + 1) * sizeof(*n));
    if (!n)
        return;
    e->msgs = n;
    e->msgs[e->n] = strdup(full);
    if (e->msgs[e->n])
        e->n++;
}

void errlist_free(errlist *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->msgs[i]);
    free(e->msgs);
    e->msgs = NULL;
    e->n = 0;
}

const char *config_key_type_name(dr_key_type t)
{
    switch (t) {
    case DR_KEY_STRING: return "string";
    case DR_KEY_INT: return "integer";
    case DR_KEY_BOOL: return "boolean";
    case DR_KEY_FLOAT: return "number";
    case DR_KEY_DURATION: return "duration";
    case DR_KEY_LIST: return "list of strings";
    case DR_KEY_ENUM: return "choice";
    }
    return "?";
}

/* ---- small helpers ---- */

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

/* Levenshtein distance, bounded to short names; for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t prev[64], cur[64];

    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb];
}

static const char *closest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bestd = 3; /* suggest only close matches */

    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, cands[i]);
        if (d < bestd) {
            bestd = d;
            best = cands[i];
        }
    }
    return best;
}

static int valid_name(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static int line_of(const config_setting_t *s)
{
    return (int)config_setting_source_line(s);
}

/* Duration from a string ("15m") or a number of seconds. */
static int setting_duration(const config_setting_t *s, double *out)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        *out = (double)config_setting_get_int64(s);
        return *out >= 0 && *out <= DR_DURATION_MAX ? 0 : -1;
    case CONFIG_TYPE_FLOAT:
        *out = config_setting_get_float(s);
        return *out >= 0 && *out <= DR_DURATION_MAX ? 0 : -1; /* also false for NaN */
    case CONFIG_TYPE_STRING:
        return dr_duration_parse(config_setting_get_string(s), out) == 0 ? 0 : -1;
    default:
        return -1;
    }
}

/* Check that a group holds only the listed keys. */
static void check_keys(const config_setting_t *group, const char *where, const char *const *allowed,
                       size_t n, const char *file, errlist *errs)
{
    int len = config_setting_length(group);

    for (int i = 0; i < len; i++) {
        const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(m);
        size_t k;

        for (k = 0; k < n; k++)
            if (strcmp(name, allowed[k]) == 0)
                break;
        if (k == n) {
            const char *sug = closest(name, allowed, n);
            errlist_add(errs, file, line_of(m), "%s: unknown key '%s'%s%s%s", where, name,
                        sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
        }
    }
}

static int get_string(const config_setting_t *group, const char *key, const char *where, char **out,
                      const char *file, errlist *errs)
{
    const config_setting_t *s = config_setting_get_member(group, key);

    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        errlist_add(errs, file, line_of(s), "%s.%s: expected a string", where, key);
        return -1;
    }
    free(*out);
    *out = strdup(config_setting_get_string(s));
    return 1;
}

static int get_bool(const config_setting_t *group, const char *key, const char *where, int *out,
                    const char *file, errlist *errs)
{
    const config_setting_t *s = config_setting_get_member(group, key);

    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        errlist_add(errs, file, line_of(s), "%s.%s: expected true or false", where, key);
        return -1;
    }
    *out = config_setting_get_bool(s);
    return 1;
}

static int get_int(const config_setting_t *group, const char *key, const char *where, long long lo,
                   long long hi, int *out, const char *file, errlist *errs)
{
    const config_setting_t *s = config_setting_get_member(group, key);
    long long v;

    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
        errlist_add(errs, file, line_of(s), "%s.%s: expected an integer", where, key);
        return -1;
    }
    v = config_setting_get_int64(s);
    if (v < lo || v > hi) {
        errlist_add(errs, file, line_of(s), "%s.%s: %lld is out of range %lld..%lld", where, key, v, lo,
                    hi);
        return -1;
    }
    *out = (int)v;
    return 1;
}

static int get_duration(const config_setting_t *group, const char *key, const char *where, double *out,
                        const char *file, errlist *errs)
{
    const config_setting_t *s = config_setting_get_member(group, key);

    if (!s)
        return 0;
    if (setting_duration(s, out) != 0) {
        errlist_add(errs, file, line_of(s),
                    "%s.%s: bad duration (use a number of seconds or a string like \"90s\", \"15m\", "
                    "\"1h\", \"2d\")",
                    where, key);
        return -1;
    }
    return 1;
}

static int valid_region(const char *r)
{
    /* e.g. us-east-1, eu-central-2, us-gov-west-1, local test regions alike */
    size_t n = r ? strlen(r) : 0;

    if (n < 4 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)r[i]) || isdigit((unsigned char)r[i]) || r[i] == '-'))
            return 0;
    return isdigit((unsigned char)r[n - 1]) && strchr(r, '-') != NULL;
}

/* ---- sections ---- */

static void load_objectives(const config_setting_t *root, ag_config *c, errlist *errs)
{
    static const char *const keys[] = {"rto", "rpo"};
    const config_setting_t *g = config_setting_get_member(root, "objectives");

    if (!g || config_setting_type(g) != CONFIG_TYPE_GROUP) {
        errlist_add(errs, c->path, g ? line_of(g) : 0, "objectives: required group { rto = ...; rpo = ...; }");
        return;
    }
    check_keys(g, "objectives", keys, 2, c->path, errs);
    for (int i = 0; i < 2; i++) {
        double *dst = i == 0 ? &c->rto : &c->rpo;
        int got = get_duration(g, keys[i], "objectives", dst, c->path, errs);
        if (got == 0)
            errlist_add(errs, c->path, line_of(g), "objectives.%s: required (e.g. %s = \"%s\";)", keys[i], keys[i],
                        i == 0 ? "1h" : "15m");
        else if (got > 0 && *dst <= 0)
            errlist_add(errs, c->path, line_of(config_setting_get_member(g, keys[i])),
                        "objectives.%s: must be greater than zero", keys[i]);
    }
}

static void load_regions(const config_setting_t *root, ag_config *c, errlist *errs)
{
    static const char *const keys[] = {"primary", "dr"};
    const config_setting_t *g = config_setting_get_member(root, "regions");

    if (!g || config_setting_type(g) != CONFIG_TYPE_GROUP) {
        errlist_add(errs, c->path, g ? line_of(g) : 0,
                    "regions: required group { primary = \"us-east-1\"; dr = \"us-west-2\"; }");
        return;
    }
    check_keys(g, "regions", keys, 2, c->path, errs);
    for (int i = 0; i < 2; i++) {
        char **dst = i == 0 ? &c->primary_region : &c->dr_region;
        int got = get_string(g, keys[i], "regions", dst, c->path, errs);
        const config_setting_t *s = config_setting_get_member(g, keys[i]);

        if (got == 0)
            errlist_add(errs, c->path, line_of(g), "regions.%s: required", keys[i]);
        else if (got > 0 && !valid_region(*dst))
            errlist_add(errs, c->path, line_of(s), "regions.%s: '%s' is not a region name", keys[i], *dst);
    }
    if (c->primary_region && c->dr_region && strcmp(c->primary_region, c->dr_region) == 0)
        errlist_add(errs, c->path, line_of(g), "regions: primary and dr are both '%s'", c->dr_region);
}

static void load_aws(const config_setting_t *root, ag_config *c, errlist *errs)
{
    static const char *const keys[] = {"profile",        "endpoint_url",   "ca_bundle",
                                       "insecure_tls",   "max_attempts",   "s3_path_style",
                                       "connect_timeout", "attempt_timeout", "roles"};
    static const char *const role_keys[] = {"region", "role_arn", "external_id"};
    const config_setting_t *g = config_setting_get_member(root, "aws");
    const config_setting_t *roles;

    if (!g)
        return;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        errlist_add(errs, c->path, line_of(g), "aws: expected a group { ... }");
        return;
    }
    check_keys(g, "aws", keys, sizeof(keys) / sizeof(keys[0]), c->path, errs);
    get_string(g, "profile", "aws", &c->aws.profile, c->path, errs);
    get_string(g, "endpoint_url", "aws", &c->aws.endpoint_url, c->path, errs);
    get_string(g, "ca_bundle", "aws", &c->aws.ca_bundle, c->path, errs);
    get_bool(g, "insecure_tls", "aws", &c->aws.insecure_tls, c->path, errs);
    get_bool(g, "s3_path_style", "aws", &c->aws.s3_path_style, c->path, errs);
    get_int(g, "max_attempts", "aws", 1, 20, &c->aws.max_attempts, c->path, errs);
    get_duration(g, "connect_timeout", "aws", &c->aws.connect_timeout, c->path, errs);
    get_duration(g, "attempt_timeout", "aws", &c->aws.attempt_timeout, c->path, errs);

    roles = config_setting_get_member(g, "roles");
    if (!roles)
        return;
    if (!config_setting_is_list(roles)) {
        errlist_add(errs, c->path, line_of(roles),
                    "aws.roles: expected a list ( { region = \"...\"; role_arn = \"...\"; }, ... )");
        return;
    }
    c->aws.n_roles = (size_t)config_setting_length(roles);
    c->aws.roles = calloc(c->aws.n_roles ? c->aws.n_roles : 1, sizeof(cfg_role));
    for (size_t i = 0; c->aws.roles && i < c->aws.n_roles; i++) {
        const config_setting_t *r = config_setting_get_elem(roles, (unsigned)i);
        cfg_role *role = &c->aws.roles[i];

        if (config_setting_type(r) != CONFIG_TYPE_GROUP) {
            errlist_add(errs, c->path, line_of(r), "aws.roles[%zu]: expected a group", i);
            continue;
        }
        check_keys(r, "aws.roles[]", role_keys, 3, c->path, errs);
        if (get_string(r, "region", "aws.roles[]", &role->region, c->path, errs) == 0)
            errlist_add(errs, c->path, line_of(r), "aws.roles[%zu].region: required", i);
        if (get_string(r, "role_arn", "aws.roles[]", &role->role_arn, c->path, errs) == 0)
            errlist_add(errs, c->path, line_of(r), "aws.roles[%zu].role_arn: required", i);
        get_string(r, "external_id", "aws.roles[]", &role->external_id, c->path, errs);
    }
}

/* agent.plugin_paths = { <type> = "/absolute/path/plugin.so"; ... } */
static void load_plugin_paths(const config_setting_t *g, ag_config *c, errlist *errs)
{
    int n;

    if (!g)
        return;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        errlist_add(errs, c->path, line_of(g), "agent.plugin_paths: expected a group { <type> = \"<file>\"; }");
        return;
    }
    n = config_setting_length(g);
    c->agent.plugin_path_types = calloc((size_t)n + 1, sizeof(char *));
    c->agent.plugin_paths = calloc((size_t)n + 1, sizeof(char *));
    if (!c->agent.plugin_path_types || !c->agent.plugin_paths)
        return;
    for (int i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *v = config_setting_type(m) == CONFIG_TYPE_STRING ? config_setting_get_string(m) : NULL;
        if (!v || v[0] != '/') {
            errlist_add(errs, c->path, line_of(m), "agent.plugin_paths.%s: expected an absolute file path",
                        config_setting_name(m));
            continue;
        }
        c->agent.plugin_path_types[c->agent.n_plugin_paths] = strdup(config_setting_name(m));
        c->agent.plugin_paths[c->agent.n_plugin_paths++] = strdup(v);
    }
}

static void load_agent(const config_setting_t *root, ag_config *c, errlist *errs)
{
    static const char *const keys[] = {"plugin_dir",   "state_dir",  "concurrency", "hook_timeout",
                                       "drill_period", "retention",  "lock_table",  "lock_region",
                                       "lock_name",    "lock_lease", "verify_timeout", "isolation",
                                       "plugin_paths", "prepare_timeout"};
    const config_setting_t *g = config_setting_get_member(root, "agent");

    c->agent.concurrency = AG_DEFAULT_CONCURRENCY;
    c->agent.hook_timeout = AG_DEFAULT_HOOK_TIMEOUT;
    c->agent.drill_period = AG_DEFAULT_DRILL_PERIOD;
    c->agent.retention = AG_DEFAULT_RETENTION;
    c->agent.lock_lease = 60;
    c->agent.prepare_timeout = AG_DEFAULT_PREPARE_TIMEOUT;
    c->agent.verify_timeout = AG_DEFAULT_VERIFY_TIMEOUT;
    if (!g)
        return;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        errlist_add(errs, c->path, line_of(g), "agent: expected a group { ... }");
        return;
    }
    check_keys(g, "agent", keys, sizeof(keys) / sizeof(keys[0]), c->path, errs);
    get_string(g, "plugin_dir", "agent", &c->agent.plugin_dir, c->path, errs);
    if (get_string(g, "state_dir", "agent", &c->agent.state_dir, c->path, errs) > 0 && c->agent.state_dir &&
        c->agent.state_dir[0] != '/')
        errlist_add(errs, c->path, line_of(config_setting_get_member(g, "state_dir")),
                    "agent.state_dir: \"%s\" is relative: it must be an absolute path (a relative one would depend "
                    "on the directory the agent is started from, and a resume would not find the run's journal)",
                    c->agent.state_dir);
    get_int(g, "concurrency", "agent", 1, 256, &c->agent.concurrency, c->path, errs);
    if (get_duration(g, "hook_timeout", "agent", &c->agent.hook_timeout, c->path, errs) > 0 &&
        c->agent.hook_timeout <= 0)
        errlist_add(errs, c->path, line_of(config_setting_get_member(g, "hook_timeout")),
                    "agent.hook_timeout: must be greater than zero");
    get_duration(g, "drill_period", "agent", &c->agent.drill_period, c->path, errs);
    get_duration(g, "retention", "agent", &c->agent.retention, c->path, errs);
    get_string(g, "lock_table", "agent", &c->agent.lock_table, c->path, errs);
    if (get_string(g, "lock_region", "agent", &c->agent.lock_region, c->path, errs) > 0 && c->agent.lock_region &&
        c->primary_region && strcmp(c->agent.lock_region, c->primary_region) == 0)
        log_warn("%s:%d: agent.lock_region is the primary region %s: when that region fails, no host can take or "
                 "renew the run lease and no failover can run; keep the lease in the DR region (the default)",
                 c->path, line_of(config_setting_get_member(g, "lock_region")), c->primary_region);
    get_string(g, "lock_name", "agent", &c->agent.lock_name, c->path, errs);
    if (get_duration(g, "lock_lease", "agent", &c->agent.lock_lease, c->path, errs) > 0 && c->agent.lock_lease < 5)
        errlist_add(errs, c->path, line_of(config_setting_get_member(g, "lock_lease")),
                    "agent.lock_lease: at least 5 seconds");
    if (get_duration(g, "prepare_timeout", "agent", &c->agent.prepare_timeout, c->path, errs) > 0 &&
        c->agent.prepare_timeout <= 0)
        errlist_add(errs, c->path, line_of(config_setting_get_member(g, "prepare_timeout")),
                    "agent.prepare_timeout: must be greater than zero");
    if (get_duration(g, "verify_timeout", "agent", &c->agent.verify_timeout, c->path, errs) > 0 &&
        c->agent.verify_timeout <= 0)
        errlist_add(errs, c->path, line_of(config_setting_get_member(g, "verify_timeout")),
                    "agent.verify_timeout: must be greater than zero");
    if (get_string(g, "isolation", "agent", &c->agent.isolation, c->path, errs) > 0 &&
        strcmp(c->agent.isolation, "third_party") != 0 && strcmp(c->agent.isolation, "all") != 0 &&
        strcmp(c->agent.isolation, "none") != 0)
        errlist_add(errs, c->path, line_of(config_setting_get_member(g, "isolation")),
                    "agent.isolation: expected \"third_party\", \"all\" or \"none\", not \"%s\"",
                    c->agent.isolation);
    load_plugin_paths(config_setting_get_member(g, "plugin_paths"), c, errs);
}

/* A plugin key as written, kept for validation once the plugin is known. */
static int load_raw(const config_setting_t *s, cfg_raw *raw)
{
    raw->key = strdup(config_setting_name(s));
    raw->line = line_of(s);
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_STRING:
        raw->kind = RAW_STRING;
        raw->s = strdup(config_setting_get_string(s));
        break;
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        raw->kind = RAW_INT;
        raw->i = config_setting_get_int64(s);
        break;
    case CONFIG_TYPE_FLOAT:
        raw->kind = RAW_FLOAT;
        raw->f = config_setting_get_float(s);
        break;
    case CONFIG_TYPE_BOOL:
        raw->kind = RAW_BOOL;
        raw->i = config_setting_get_bool(s);
        break;
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST: {
        int n = config_setting_length(s);
        raw->kind = RAW_LIST;
        raw->list_ok = 1;
        raw->list = calloc((size_t)n + 1, sizeof(char *));
        if (!raw->list)
            return -1;
        for (int i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            if (config_setting_type(e) != CONFIG_TYPE_STRING) {
                raw->list_ok = 0;
                continue;
            }
            raw->list[raw->n_list++] = strdup(config_setting_get_string(e));
        }
        break;
    }
    default:
        raw->kind = RAW_OTHER;
        break;
    }
    return raw->key ? 0 : -1;
}

/* Keys of a resource group that the host interprets itself. */
static const char *const host_res_keys[] = {"type", "name", "depends_on", "profile",
                                            "role_arn", "external_id", "timeout"};
#define N_HOST_RES_KEYS (sizeof(host_res_keys) / sizeof(host_res_keys[0]))

static int is_host_key(const char *k)
{
    for (size_t i = 0; i < N_HOST_RES_KEYS; i++)
        if (strcmp(k, host_res_keys[i]) == 0)
            return 1;
    return 0;
}

static void load_depends(const config_setting_t *d, cfg_resource *r, const char *file, errlist *errs)
{
    int n;

    r->has_depends = 1;
    if (config_setting_type(d) == CONFIG_TYPE_STRING) {
        r->depends_on = calloc(1, sizeof(char *));
        r->depends_lines = calloc(1, sizeof(int));
        if (r->depends_on && r->depends_lines) {
            r->depends_on[0] = strdup(config_setting_get_string(d));
            r->depends_lines[0] = line_of(d);
            r->n_depends = 1;
        }
        return;
    }
    if (!config_setting_is_aggregate(d) || config_setting_type(d) == CONFIG_TYPE_GROUP) {
        errlist_add(errs, file, line_of(d), "%s: depends_on: expected a list of resource ids like [\"aurora.main\", \"s3.*\"]",
                    r->id ? r->id : "resource");
        return;
    }
    n = config_setting_length(d);
    r->depends_on = calloc((size_t)n + 1, sizeof(char *));
    r->depends_lines = calloc((size_t)n + 1, sizeof(int));
    if (!r->depends_on || !r->depends_lines)
        return;
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(d, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            errlist_add(errs, file, line_of(e), "%s: depends_on[%d]: expected a string", r->id ? r->id : "resource", i);
            continue;
        }
        r->depends_on[r->n_depends] = strdup(config_setting_get_string(e));
        r->depends_lines[r->n_depends++] = line_of(e);
    }
}

static void load_resources(const config_setting_t *root, ag_config *c, errlist *errs)
{
    const config_setting_t *list = config_setting_get_member(root, "resources");
    size_t n;

    if (!list) {
        errlist_add(errs, c->path, 0, "resources: required list ( { type = \"...\"; name = \"...\"; ... }, ... )");
        return;
    }
    if (!config_setting_is_list(list)) {
        errlist_add(errs, c->path, line_of(list), "resources: expected a list ( { ... }, { ... } )");
        return;
    }
    n = (size_t)config_setting_length(list);
    c->res = calloc(n ? n : 1, sizeof(cfg_resource));
    if (!c->res)
        return;
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        cfg_resource *r = &c->res[c->n_res];
        char where[64];
        int len;

        snprintf(where, sizeof(where), "resources[%zu]", i);
        if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
            errlist_add(errs, c->path, line_of(g), "%s: expected a group { type = ...; name = ...; }", where);
            continue;
        }
        c->n_res++;
        r->line = line_of(g);
        if (get_string(g, "type", where, &r->type, c->path, errs) == 0)
            errlist_add(errs, c->path, r->line, "%s: 'type' is required (the plugin, e.g. \"dynamodb\")", where);
        if (get_string(g, "name", where, &r->name, c->path, errs) == 0)
            errlist_add(errs, c->path, r->line, "%s: 'name' is required", where);
        if (r->type && !valid_name(r->type))
            errlist_add(errs, c->path, r->line, "%s: type '%s' is not a valid plugin type", where, r->type);
        if (r->name && !valid_name(r->name))
            errlist_add(errs, c->path, r->line,
                        "%s: name '%s' may only hold lower-case letters, digits, '-' and '_'", where, r->name);
        if (r->type && r->name) {
            size_t l = strlen(r->type) + strlen(r->name) + 2;
            r->id = malloc(l);
            if (r->id)
                snprintf(r->id, l, "%s.%s", r->type, r->name);
        }
        get_string(g, "profile", where, &r->profile, c->path, errs);
        get_string(g, "role_arn", where, &r->role_arn, c->path, errs);
        get_string(g, "external_id", where, &r->external_id, c->path, errs);
        if (get_duration(g, "timeout", where, &r->timeout, c->path, errs) > 0 && r->timeout <= 0)
            errlist_add(errs, c->path, line_of(config_setting_get_member(g, "timeout")),
                        "%s: timeout must be greater than zero", where);
        if (config_setting_get_member(g, "depends_on"))
            load_depends(config_setting_get_member(g, "depends_on"), r, c->path, errs);

        len = config_setting_length(g);
        r->raw = calloc((size_t)len + 1, sizeof(cfg_raw));
        if (!r->raw)
            continue;
        for (int k = 0; k < len; k++) {
            const config_setting_t *m = config_setting_get_elem(g, (unsigned)k);
            if (is_host_key(config_setting_name(m)))
                continue;
            if (load_raw(m, &r->raw[r->n_raw]) == 0)
                r->n_raw++;
        }
    }
    for (size_t i = 0; i < c->n_res; i++)
        for (size_t j = 0; j < i; j++)
            if (c->res[i].id && c->res[j].id && strcmp(c->res[i].id, c->res[j].id) == 0)
                errlist_add(errs, c->path, c->res[i].line, "resource '%s' is defined twice (first at line %d)",
                            c->res[i].id, c->res[j].line);
}

/*
 * libconfig's @include would read files whose owner and mode nobody checked
 * (and a secret there would escape the mode check): one file only.
 */
static int refuse_includes(const char *path, errlist *errs)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0, bad = 0;

    if (!f) {
        errlist_add(errs, path, 0, "cannot read the configuration: %s", strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        const char *p = line + strspn(line, " \t");
        n++;
        if (strncmp(p, "@include", 8) == 0) {
            errlist_add(errs, path, n, "@include is not supported: the whole configuration is one file, whose owner "
                                       "and mode are checked");
            bad = 1;
        }
        while (!strchr(line, '\n') && fgets(line, sizeof(line), f)) /* the rest of a long line */
            ;
    }
    fclose(f);
    return bad ? -1 : 0;
}

int config_load(const char *path, ag_config **out, errlist *errs)
{
    static const char *const top_keys[] = {"objectives", "regions", "aws", "agent", "resources"};
    config_t lc;
    ag_config *c = NULL;
    struct stat st;
    size_t before = errs->n;
    int rc = DR_ECONFIG;

    *out = NULL;
    config_init(&lc);
    if (stat(path, &st) != 0) {
        errlist_add(errs, path, 0, "cannot read the configuration: %s", strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        errlist_add(errs, path, 0, "the configuration is not a regular file");
        goto done;
    }
    /* whoever can write the configuration decides what a failover does: only root and the invoking user */
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        errlist_add(errs, path, 0, "the configuration is owned by uid %u, neither root nor the invoking user (uid %u)",
                    (unsigned)st.st_uid, (unsigned)geteuid());
        goto done;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        errlist_add(errs, path, 0, "the configuration is writable by group or others (mode %04o): chmod go-w %s",
                    (unsigned)(st.st_mode & 07777), path);
        goto done;
    }
    if (refuse_includes(path, errs) != 0)
        goto done;
    if (config_read_file(&lc, path) != CONFIG_TRUE) {
        const char *f = config_error_file(&lc);
        errlist_add(errs, f ? f : path, config_error_line(&lc), "syntax error: %s", config_error_text(&lc));
        goto done;
    }
    c = calloc(1, sizeof(*c));
    if (!c || !(c->path = strdup(path))) {
        errlist_add(errs, path, 0, "out of memory");
        goto done;
    }
    c->file_mode = st.st_mode;
    check_keys(config_root_setting(&lc), "top level", top_keys, 5, path, errs);
    load_objectives(config_root_setting(&lc), c, errs);
    load_regions(config_root_setting(&lc), c, errs);
    load_aws(config_root_setting(&lc), c, errs);
    load_agent(config_root_setting(&lc), c, errs);
    load_resources(config_root_setting(&lc), c, errs);
    if (errs->n == before) {
        rc = 0;
        *out = c;
        c = NULL;
    }
done:
    config_free(c);
    config_destroy(&lc);
    return rc;
}

/* ---- binding to plugin keys ---- */

static int bind_value(const dr_config_key *k, const cfg_raw *raw, const char *text_default, cfg_value *v,
                      char *why, size_t whylen)
{
    v->set = 1;
    if (text_default) {
        /* defaults are written in config syntax as text */
        switch (k->type) {
        case DR_KEY_STRING:
        case DR_KEY_ENUM:
            v->str = strdup(text_default);
            return v->str ? 0 : -1;
        case DR_KEY_INT: {
            char *end;
            v->i = strtoll(text_default, &end, 10);
            v->f = (double)v->i;
            v->str = strdup(text_default);
            return *end ? -1 : 0;
        }
        case DR_KEY_BOOL:
            v->i = strcmp(text_default, "true") == 0;
            v->str = strdup(v->i ? "true" : "false");
            return 0;
        case DR_KEY_FLOAT: {
            char *end;
            v->f = strtod(text_default, &end);
            v->str = strdup(text_default);
            return *end ? -1 : 0;
        }
        case DR_KEY_DURATION:
            v->str = strdup(text_default);
            return dr_duration_parse(text_default, &v->f);
        case DR_KEY_LIST:
            v->list = calloc(2, sizeof(char *));
            if (!v->list)
                return -1;
            if (*text_default)
                v->list[v->n_list++] = strdup(text_default);
            return 0;
        }
        return -1;
    }

    switch (k->type) {
    case DR_KEY_STRING:
    case DR_KEY_ENUM:
        if (raw->kind != RAW_STRING) {
            snprintf(why, whylen, "expected a string");
            return -1;
        }
        if (k->type == DR_KEY_ENUM && k->choices) {
            const char *p = k->choices;
            size_t l = strlen(raw->s);
            int ok = 0;
            while (*p && !ok) {
                size_t seg = strcspn(p, "|");
                ok = seg == l && strncmp(p, raw->s, l) == 0;
                p += seg;
                if (*p == '|')
                    p++;
            }
            if (!ok) {
                snprintf(why, whylen, "'%s' is not one of %s", raw->s, k->choices);
                return -1;
            }
        }
        v->str = strdup(raw->s);
        return 0;
    case DR_KEY_INT:
        if (raw->kind != RAW_INT) {
            snprintf(why, whylen, "expected an integer");
            return -1;
        }
        v->i = raw->i;
        v->f = (double)raw->i;
        break;
    case DR_KEY_BOOL:
        if (raw->kind != RAW_BOOL) {
            snprintf(why, whylen, "expected true or false");
            return -1;
        }
        v->i = raw->i;
        break;
    case DR_KEY_FLOAT:
        if (raw->kind == RAW_FLOAT)
            v->f = raw->f;
        else if (raw->kind == RAW_INT)
            v->f = (double)raw->i;
        else {
            snprintf(why, whylen, "expected a number");
            return -1;
        }
        break;
    case DR_KEY_DURATION:
        if (raw->kind == RAW_INT && raw->i >= 0 && (double)raw->i <= DR_DURATION_MAX)
            v->f = (double)raw->i;
        else if (raw->kind == RAW_FLOAT && raw->f >= 0 && raw->f <= DR_DURATION_MAX)
            v->f = raw->f;
        else if (raw->kind != RAW_STRING || dr_duration_parse(raw->s, &v->f) != 0) {
            snprintf(why, whylen,
                     "bad duration (use a number of seconds or a string like \"90s\", \"15m\", \"1h\", \"2d\")");
            return -1;
        }
        break;
    case DR_KEY_LIST:
        if (raw->kind == RAW_STRING) { /* a single string is a list of one */
            v->list = calloc(2, sizeof(char *));
            if (!v->list)
                return -1;
            v->list[v->n_list++] = strdup(raw->s);
            return 0;
        }
        if (raw->kind != RAW_LIST || !raw->list_ok) {
            snprintf(why, whylen, "expected a list of strings [\"a\", \"b\"]");
            return -1;
        }
        v->list = calloc(raw->n_list + 1, sizeof(char *));
        if (!v->list)
            return -1;
        for (size_t i = 0; i < raw->n_list; i++)
            v->list[v->n_list++] = strdup(raw->list[i]);
        return 0;
    }
    {
        char text[64];
        if (k->type == DR_KEY_BOOL)
            snprintf(text, sizeof(text), "%s", v->i ? "true" : "false");
        else if (k->type == DR_KEY_INT)
            snprintf(text, sizeof(text), "%lld", (long long)v->i);
        else
            snprintf(text, sizeof(text), "%.17g", v->f);
        v->str = strdup(text);
    }
    return 0;
}

int config_bind(ag_config *cfg, plugin_lookup_fn find, void *arg, errlist *errs)
{
    size_t before = errs->n;
    int has_secret = 0, secret_line = 0;

    for (size_t i = 0; i < cfg->n_res; i++) {
        cfg_resource *r = &cfg->res[i];
        const dr_plugin_descriptor *p = find(r->type, arg);
        const char **names;

        if (!p) {
            errlist_add(errs, cfg->path, r->line, "%s: no plugin for type '%s'", r->id, r->type);
            continue;
        }
        r->plugin = p;
        r->values = calloc(p->n_keys ? p->n_keys : 1, sizeof(cfg_value));
        names = calloc(p->n_keys + N_HOST_RES_KEYS + 1, sizeof(char *));
        if (!r->values || !names) {
            free(names);
            errlist_add(errs, cfg->path, r->line, "out of memory");
            continue;
        }
        for (size_t k = 0; k < p->n_keys; k++)
            names[k] = p->keys[k].name;
        for (size_t k = 0; k < N_HOST_RES_KEYS; k++)
            names[p->n_keys + k] = host_res_keys[k];

        /* every key in the file must be declared by the plugin */
        for (size_t j = 0; j < r->n_raw; j++) {
            const cfg_raw *raw = &r->raw[j];
            size_t k;
            for (k = 0; k < p->n_keys; k++)
                if (strcmp(raw->key, p->keys[k].name) == 0)
                    break;
            if (k == p->n_keys) {
                const char *sug = closest(raw->key, names, p->n_keys + N_HOST_RES_KEYS);
                errlist_add(errs, cfg->path, raw->line, "%s: unknown key '%s' for plugin %s%s%s%s", r->id,
                            raw->key, r->type, sug ? " (did you mean '" : "", sug ? sug : "",
                            sug ? "'?)" : "");
            }
        }
        free(names);

        for (size_t k = 0; k < p->n_keys; k++) {
            const dr_config_key *key = &p->keys[k];
            const cfg_raw *raw = NULL;
            char why[256] = "";

            for (size_t j = 0; j < r->n_raw; j++)
                if (strcmp(r->raw[j].key, key->name) == 0)
                    raw = &r->raw[j];
            if (raw) {
                if (bind_value(key, raw, NULL, &r->values[k], why, sizeof(why)) != 0)
                    errlist_add(errs, cfg->path, raw->line, "%s: key '%s' (%s): %s", r->id, key->name,
                                config_key_type_name(key->type), why[0] ? why : "invalid value");
                if (key->flags & DR_KEY_SECRET) {
                    has_secret = 1;
                    secret_line = raw->line;
                }
            } else if (key->default_value) {
                if (bind_value(key, NULL, key->default_value, &r->values[k], why, sizeof(why)) != 0)
                    errlist_add(errs, cfg->path, r->line, "%s: plugin %s has a bad default for '%s'", r->id,
                                r->type, key->name);
            } else if (key->flags & DR_KEY_REQUIRED) {
                errlist_add(errs, cfg->path, r->line, "%s: missing required key '%s' (%s: %s)", r->id,
                            key->name, config_key_type_name(key->type),
                            key->description ? key->description : "");
            }
        }
    }
    if (has_secret && (cfg->file_mode & (S_IRWXG | S_IRWXO)))
        errlist_add(errs, cfg->path, secret_line,
                    "holds a secret but is readable by group or others (mode %04o): chmod 600 it",
                    (unsigned)(cfg->file_mode & 07777));
    return errs->n == before ? 0 : DR_ECONFIG;
}

const cfg_value *config_value(const cfg_resource *r, const char *key, dr_key_type *type)
{
    if (!r->plugin || !r->values || !key)
        return NULL;
    for (size_t k = 0; k < r->plugin->n_keys; k++) {
        if (strcmp(r->plugin->keys[k].name, key) == 0) {
            if (type)
                *type = r->plugin->keys[k].type;
            return &r->values[k];
        }
    }
    return NULL;
}

static void free_resource(cfg_resource *r)
{
    free(r->type);
    free(r->name);
    free(r->id);
    free_list(r->depends_on, r->n_depends);
    free(r->depends_lines);
    free(r->profile);
    free(r->role_arn);
    free(r->external_id);
    for (size_t j = 0; j < r->n_raw; j++) {
        free(r->raw[j].key);
        free(r->raw[j].s);
        free_list(r->raw[j].list, r->raw[j].n_list);
    }
    free(r->raw);
    if (r->values && r->plugin) {
        for (size_t k = 0; k < r->plugin->n_keys; k++) {
            free(r->values[k].str);
            free_list(r->values[k].list, r->values[k].n_list);
        }
    }
    free(r->values);
}

void config_free(ag_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_res; i++)
        free_resource(&cfg->res[i]);
    free(cfg->res);
    for (size_t i = 0; i < cfg->aws.n_roles; i++) {
        free(cfg->aws.roles[i].region);
        free(cfg->aws.roles[i].role_arn);
        free(cfg->aws.roles[i].external_id);
    }
    free(cfg->aws.roles);
    free(cfg->aws.profile);
    free(cfg->aws.endpoint_url);
    free(cfg->aws.ca_bundle);
    free(cfg->agent.plugin_dir);
    for (size_t i = 0; i < cfg->agent.n_plugin_paths; i++) {
        free(cfg->agent.plugin_path_types[i]);
        free(cfg->agent.plugin_paths[i]);
    }
    free(cfg->agent.plugin_path_types);
    free(cfg->agent.plugin_paths);
    free(cfg->agent.isolation);
    free(cfg->agent.state_dir);
    free(cfg->agent.lock_table);
    free(cfg->agent.lock_region);
    free(cfg->agent.lock_name);
    free(cfg->primary_region);
    free(cfg->dr_region);
    free(cfg->path);
    free(cfg);
}
