/* profile.c: the AWS shared config/credentials file format: sections, properties, continuations, sub-properties, merging. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dr/util.h"
#include "profile.h"

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Trim [*s, *e) in place. */
static void trim(const char **s, const char **e)
{
    while (*s < *e && is_ws(**s))
        (*s)++;
    while (*e > *s && is_ws((*e)[-1]))
        (*e)--;
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && !strchr("-/.%@_:+", c))
            return 0;
    }
    return 1;
}

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static drs_section *section_get(drs_profiles *p, drs_section_type type, const char *name, size_t nlen)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->s[i].type == type && strlen(p->s[i].name) == nlen && memcmp(p->s[i].name, name, nlen) == 0)
            return &p->s[i];
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        drs_section *ns = realloc(p->s, cap * sizeof(*ns));
        if (!ns)
            return NULL;
        p->s = ns;
        p->cap = cap;
    }
    drs_section *s = &p->s[p->n];
    memset(s, 0, sizeof(*s));
    s->type = type;
    s->name = dupn(name, nlen);
    if (!s->name)
        return NULL;
    p->n++;
    return s;
}

static drs_kv *kv_find(drs_section *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            return &s->kv[i];
    return NULL;
}

/* Set key (lower-cased copy) to a copy of value; returns the entry or NULL. */
static drs_kv *kv_set(drs_section *s, const char *key, size_t klen, const char *value, size_t vlen)
{
    char *k = dupn(key, klen), *v = dupn(value, vlen);
    drs_kv *e;

    if (!k || !v)
        goto fail;
    for (char *c = k; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    e = kv_find(s, k);
    if (e) {
        free(k);
        if (e->value)
            explicit_bzero(e->value, strlen(e->value));
        free(e->value);
        e->value = v;
        return e;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        drs_kv *nk = realloc(s->kv, cap * sizeof(*nk));
        if (!nk)
            goto fail;
        s->kv = nk;
        s->cap = cap;
    }
    e = &s->kv[s->n++];
    e->key = k;
    e->value = v;
    return e;
fail:
    free(k);
    free(v);
    return NULL;
}

static int kv_append(drs_kv *e, const char *add, size_t n)
{
    size_t ol = strlen(e->value);
    char *v = malloc(ol + 1 + n + 1);

    if (!v)
        return DR_ENOMEM;
    memcpy(v, e->value, ol);
    v[ol] = '\n';
    memcpy(v + ol + 1, add, n);
    v[ol + 1 + n] = '\0';
    explicit_bzero(e->value, ol);
    free(e->value);
    e->value = v;
    return 0;
}

static void section_free(drs_section *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->kv[i].key);
        if (s->kv[i].value)
            explicit_bzero(s->kv[i].value, strlen(s->kv[i].value));
        free(s->kv[i].value);
    }
    free(s->kv);
    free(s->name);
}

void drs_profiles_free(drs_profiles *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        section_free(&p->s[i]);
    free(p->s);
    memset(p, 0, sizeof(*p));
}

/* "[ ... ]" line: which section it opens (NULL = ignored), or an error. */
static int parse_definition(drs_profiles *p, const char *s, const char *e, int creds, drs_section **out,
                            int *saw_profile_default, dr_error *err, int line)
{
    const char *c = memchr(s, '#', (size_t)(e - s)), *c2 = memchr(s, ';', (size_t)(e - s));
    drs_section_type type = DRS_SECTION_PROFILE;
    const char *ns, *ne;

    *out = NULL;
    if (c2 && (!c || c2 < c))
        c = c2;
    if (c)
        e = c;
    trim(&s, &e);
    if (e - s < 2 || e[-1] != ']')
        return dr_error_set(err, DR_ECONFIG, "line %d: Profile definition must end with ']'", line);
    ns = s + 1;
    ne = e - 1;
    trim(&ns, &ne);
    if (!creds) {
        static const struct {
            const char *prefix;
            drs_section_type type;
        } kinds[] = {{"profile", DRS_SECTION_PROFILE},
                     {"sso-session", DRS_SECTION_SSO_SESSION},
                     {"services", DRS_SECTION_SERVICES}};
        size_t k, plen = 0;
        if (ne - ns == 7 && memcmp(ns, "default", 7) == 0) {
            *out = section_get(p, DRS_SECTION_BARE_DEFAULT, "default", 7);
            return *out ? 0 : dr_error_set(err, DR_ENOMEM, "out of memory");
        }
        for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            plen = strlen(kinds[k].prefix);
            if ((size_t)(ne - ns) > plen && memcmp(ns, kinds[k].prefix, plen) == 0 && is_ws(ns[plen]))
                break;
        }
        if (k == sizeof(kinds) / sizeof(kinds[0]))
            return 0; /* no known prefix: ignored */
        type = kinds[k].type;
        ns += plen;
        trim(&ns, &ne);
    }
    if (!valid_name(ns, (size_t)(ne - ns)))
        return 0;
    if (type == DRS_SECTION_PROFILE && !creds && ne - ns == 7 && memcmp(ns, "default", 7) == 0)
        *saw_profile_default = 1;
    *out = section_get(p, type, ns, (size_t)(ne - ns));
    return *out ? 0 : dr_error_set(err, DR_ENOMEM, "out of memory");
}

int drs_profiles_parse(drs_profiles *p, const char *text, size_t len, int creds, dr_error *err)
{
    const char *s = text, *end = text + len;
    drs_section *cur = NULL;
    drs_kv *prop = NULL;
    int have_section = 0, prop_block = 0, saw_profile_default = 0, line = 0, rc = 0;

    if (!text)
        return 0;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end, *ls = s, *le;
        line++;
        s = nl ? nl + 1 : end;
        if (e > ls && e[-1] == '\r')
            e--;
        le = e;
        {
            const char *ts = ls, *te = le;
            trim(&ts, &te);
            if (ts == te)
                continue; /* blank */
        }
        if (*ls == '#' || *ls == ';')
            continue;
        if (*ls == '[') {
            rc = parse_definition(p, ls, le, creds, &cur, &saw_profile_default, err, line);
            if (rc != 0)
                return rc;
            have_section = 1;
            prop = NULL;
            prop_block = 0;
            continue;
        }
        if (*ls == ' ' || *ls == '\t') {
            const char *ts = ls, *te = le;
            if (!have_section)
                return dr_error_set(err, DR_ECONFIG, "line %d: Expected a profile definition, found continuation",
                                    line);
            if (prop_block == 0)
                return dr_error_set(err, DR_ECONFIG, "line %d: Expected a property definition, found continuation",
                                    line);
            trim(&ts, &te);
            if (prop_block == 1) {
                const char *eq = memchr(ts, '=', (size_t)(te - ts));
                const char *k = ts, *ke = eq;
                if (!eq)
                    return dr_error_set(err, DR_ECONFIG, "line %d: Expected an '=' sign defining a sub-property",
                                        line);
                trim(&k, &ke);
                if (k == ke)
                    return dr_error_set(err, DR_ECONFIG, "line %d: Sub-property did not have a name", line);
            }
            if (prop && kv_append(prop, ts, (size_t)(te - ts)) != 0)
                return dr_error_set(err, DR_ENOMEM, "out of memory");
            continue;
        }
        /* property definition */
        if (!have_section)
            return dr_error_set(err, DR_ECONFIG, "line %d: Expected a profile definition", line);
        for (const char *c = ls + 1; c < le; c++) {
            if ((*c == '#' || *c == ';') && (c[-1] == ' ' || c[-1] == '\t')) {
                le = c;
                break;
            }
        }
        const char *eq = memchr(ls, '=', (size_t)(le - ls));
        if (!eq)
            return dr_error_set(err, DR_ECONFIG, "line %d: Expected an '=' sign defining a property", line);
        const char *ks = ls, *ke = eq, *vs = eq + 1, *ve = le;
        trim(&ks, &ke);
        trim(&vs, &ve);
        if (ks == ke)
            return dr_error_set(err, DR_ECONFIG, "line %d: Property did not have a name", line);
        prop = NULL;
        prop_block = ve == vs ? 1 : 2; /* 1: a sub-property block may follow; 2: plain continuations */
        if (cur && valid_name(ks, (size_t)(ke - ks))) {
            prop = kv_set(cur, ks, (size_t)(ke - ks), vs, (size_t)(ve - vs));
            if (!prop)
                return dr_error_set(err, DR_ENOMEM, "out of memory");
        }
    }
    /* A bare [default] counts only when the config file has no [profile default]. */
    for (size_t i = 0; i < p->n; i++) {
        if (p->s[i].type != DRS_SECTION_BARE_DEFAULT)
            continue;
        drs_section bare = p->s[i];
        p->s[i] = p->s[--p->n];
        if (!saw_profile_default && !drs_profiles_find(p, DRS_SECTION_PROFILE, "default")) {
            drs_section *d = section_get(p, DRS_SECTION_PROFILE, "default", 7);
            for (size_t k = 0; d && k < bare.n; k++)
                if (!kv_set(d, bare.kv[k].key, strlen(bare.kv[k].key), bare.kv[k].value,
                            strlen(bare.kv[k].value)))
                    d = NULL;
            if (!d) {
                section_free(&bare);
                return dr_error_set(err, DR_ENOMEM, "out of memory");
            }
        }
        section_free(&bare);
        break;
    }
    return 0;
}

static char *expand_home(const char *path)
{
    const char *home = getenv("HOME");
    dr_buf b = DR_BUF_INIT;

    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0') && home) {
        dr_buf_puts(&b, home);
        dr_buf_puts(&b, path + 1);
    } else {
        dr_buf_puts(&b, path);
    }
    return dr_buf_steal(&b);
}

void drs_profiles_paths(char **config, char **credentials)
{
    const char *c = getenv("AWS_CONFIG_FILE"), *k = getenv("AWS_SHARED_CREDENTIALS_FILE");

    *config = expand_home(c && *c ? c : "~/.aws/config");
    *credentials = expand_home(k && *k ? k : "~/.aws/credentials");
}

static int load_one(drs_profiles *p, const char *path, int creds, dr_error *err)
{
    FILE *f = fopen(path, "rb");
    dr_buf b = DR_BUF_INIT;
    char chunk[4096];
    size_t n;
    int rc;

    if (!f)
        return 0; /* a missing file is an empty one */
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        dr_buf_append(&b, chunk, n);
    fclose(f);
    explicit_bzero(chunk, sizeof(chunk));
    if (b.failed) {
        dr_buf_free(&b);
        return dr_error_set(err, DR_ENOMEM, "%s: out of memory", path);
    }
    rc = drs_profiles_parse(p, dr_buf_str(&b), b.len, creds, err);
    if (rc != 0)
        dr_error_prefix(err, "%s: ", path);
    if (b.data)
        explicit_bzero(b.data, b.len);
    dr_buf_free(&b);
    return rc;
}

int drs_profiles_load(drs_profiles *p, dr_error *err)
{
    char *config = NULL, *creds = NULL;
    int rc;

    drs_profiles_paths(&config, &creds);
    if (!config || !creds)
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
    else if ((rc = load_one(p, config, 0, err)) == 0)
        rc = load_one(p, creds, 1, err);
    free(config);
    free(creds);
    return rc;
}

const drs_section *drs_profiles_find(const drs_profiles *p, drs_section_type type, const char *name)
{
    for (size_t i = 0; p && name && i < p->n; i++)
        if (p->s[i].type == type && strcmp(p->s[i].name, name) == 0)
            return &p->s[i];
    return NULL;
}

const char *drs_profile_get(const drs_profiles *p, const char *profile, const char *key)
{
    const drs_section *s = drs_profiles_find(p, DRS_SECTION_PROFILE, profile);

    for (size_t i = 0; s && i < s->n; i++)
        if (strcasecmp(s->kv[i].key, key) == 0)
            return s->kv[i].value;
    return NULL;
}

char *drs_subprop(const char *block, const char *key)
{
    const char *s = block;

    while (s && *s) {
        const char *nl = strchr(s, '\n');
        const char *e = nl ? nl : s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (eq) {
            const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
            trim(&ks, &ke);
            trim(&vs, &ve);
            if ((size_t)(ke - ks) == strlen(key) && strncasecmp(ks, key, (size_t)(ke - ks)) == 0)
                return dupn(vs, (size_t)(ve - vs));
        }
        s = nl ? nl + 1 : e;
    }
    return NULL;
}
