/* graph.c: the resource dependency graph: resolution of depends_on, cycle detection, parallel levels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

static int add_edge(graph *g, size_t from, size_t to)
{
    size_t *d, *r;

    for (size_t k = 0; k < g->n_deps[from]; k++)
        if (g->deps[from][k] == to)
            return 0;
    d = realloc(g->deps[from], (g->n_deps[from] + 1) * sizeof(size_t));
    if (!d)
        return -1;
    g->deps[from] = d;
    d[g->n_deps[from]++] = to;
    r = realloc(g->rdeps[to], (g->n_rdeps[to] + 1) * sizeof(size_t));
    if (!r)
        return -1;
    g->rdeps[to] = r;
    r[g->n_rdeps[to]++] = from;
    return 0;
}

/*
 * Match a pattern ("type.*" or an exact id) against resources; returns the
 * number of matches added. Plugin defaults never match resources of the
 * plugin's own type, which would tie them into cycles.
 */
static int resolve(const ag_config *cfg, graph *g, size_t self, const char *pat, int is_default, int *oom)
{
    size_t pl = strlen(pat);
    int matches = 0;

    for (size_t j = 0; j < cfg->n_res; j++) {
        const cfg_resource *o = &cfg->res[j];
        int hit;
        if (!o->id)
            continue;
        if (pl >= 2 && strcmp(pat + pl - 2, ".*") == 0)
            hit = strlen(o->type) == pl - 2 && strncmp(o->type, pat, pl - 2) == 0;
        else if (strcmp(pat, "*") == 0)
            hit = 1;
        else
            hit = strcmp(o->id, pat) == 0;
        if (!hit || j == self || (is_default && strcmp(o->type, cfg->res[self].type) == 0))
            continue;
        matches++;
        if (add_edge(g, self, j) != 0)
            *oom = 1;
    }
    return matches;
}

/* Name one cycle among the nodes left with unresolved dependencies. */
static void report_cycle(const ag_config *cfg, const graph *g, const int *left, errlist *errs)
{
    size_t start = 0, cur;
    int *seen = calloc(g->n, sizeof(int));
    size_t *path = calloc(g->n + 1, sizeof(size_t));
    size_t len = 0;
    char msg[1024];
    size_t off = 0;

    if (!seen || !path)
        goto out;
    while (start < g->n && !left[start])
        start++;
    cur = start;
    /* walk dependencies that are themselves stuck until a node repeats */
    while (!seen[cur]) {
        seen[cur] = (int)++len;
        path[len - 1] = cur;
        for (size_t k = 0; k < g->n_deps[cur]; k++) {
            if (left[g->deps[cur][k]]) {
                cur = g->deps[cur][k];
                break;
            }
        }
    }
    msg[0] = '\0';
    for (size_t i = (size_t)seen[cur] - 1; i < len; i++)
        off += (size_t)snprintf(msg + off, off < sizeof(msg) ? sizeof(msg) - off : 0, "%s -> ",
                                cfg->res[path[i]].id);
    if (off < sizeof(msg))
        snprintf(msg + off, sizeof(msg) - off, "%s", cfg->res[cur].id);
    errlist_add(errs, cfg->path, cfg->res[cur].line, "dependency cycle: %s", msg);
out:
    free(seen);
    free(path);
}

int graph_build(const ag_config *cfg, graph *g, errlist *errs)
{
    size_t before = errs->n;
    size_t *queue = NULL, *indeg = NULL, qh = 0, qt = 0, done = 0;
    int *left = NULL, oom = 0;

    memset(g, 0, sizeof(*g));
    g->n = cfg->n_res;
    g->deps = calloc(g->n + 1, sizeof(size_t *));
    g->n_deps = calloc(g->n + 1, sizeof(size_t));
    g->rdeps = calloc(g->n + 1, sizeof(size_t *));
    g->n_rdeps = calloc(g->n + 1, sizeof(size_t));
    g->level = calloc(g->n + 1, sizeof(int));
    queue = calloc(g->n + 1, sizeof(size_t));
    indeg = calloc(g->n + 1, sizeof(size_t));
    left = calloc(g->n + 1, sizeof(int));
    if (!g->deps || !g->n_deps || !g->rdeps || !g->n_rdeps || !g->level || !queue || !indeg || !left) {
        errlist_add(errs, cfg->path, 0, "out of memory");
        goto out;
    }

    for (size_t i = 0; i < cfg->n_res; i++) {
        const cfg_resource *r = &cfg->res[i];
        if (r->has_depends) {
            for (size_t k = 0; k < r->n_depends; k++) {
                const char *pat = r->depends_on[k];
                if (r->id && strcmp(pat, r->id) == 0) {
                    errlist_add(errs, cfg->path, r->depends_lines[k], "%s: depends on itself", r->id);
                    continue;
                }
                if (resolve(cfg, g, i, pat, 0, &oom) == 0) {
                    size_t pl = strlen(pat);
                    if (pl >= 2 && strcmp(pat + pl - 2, ".*") == 0)
                        errlist_add(errs, cfg->path, r->depends_lines[k],
                                    "%s: depends_on '%s' matches no resource", r->id, pat);
                    else
                        errlist_add(errs, cfg->path, r->depends_lines[k],
                                    "%s: depends_on '%s': unknown resource (ids are <type>.<name>)", r->id, pat);
                }
            }
        } else if (r->plugin && r->plugin->default_depends_on) {
            for (const char *const *p = r->plugin->default_depends_on; *p; p++)
                resolve(cfg, g, i, *p, 1, &oom); /* a default that matches nothing is fine */
        }
    }
    if (oom) {
        errlist_add(errs, cfg->path, 0, "out of memory");
        goto out;
    }
    if (errs->n != before)
        goto out;

    /* Kahn: levels in topological order */
    for (size_t i = 0; i < g->n; i++) {
        indeg[i] = g->n_deps[i];
        if (indeg[i] == 0)
            queue[qt++] = i;
    }
    while (qh < qt) {
        size_t v = queue[qh++];
        done++;
        if (g->level[v] + 1 > g->n_levels)
            g->n_levels = g->level[v] + 1;
        for (size_t k = 0; k < g->n_rdeps[v]; k++) {
            size_t w = g->rdeps[v][k];
            if (g->level[w] < g->level[v] + 1)
                g->level[w] = g->level[v] + 1;
            if (--indeg[w] == 0)
                queue[qt++] = w;
        }
    }
    if (done != g->n) {
        for (size_t i = 0; i < g->n; i++)
            left[i] = indeg[i] > 0;
        report_cycle(cfg, g, left, errs);
    }
out:
    free(queue);
    free(indeg);
    free(left);
    return errs->n == before ? 0 : DR_ECONFIG;
}

void graph_free(graph *g)
{
    if (!g->deps)
        return;
    for (size_t i = 0; i < g->n; i++) {
        free(g->deps[i]);
        free(g->rdeps[i]);
    }
    free(g->deps);
    free(g->n_deps);
    free(g->rdeps);
    free(g->n_rdeps);
    free(g->level);
    memset(g, 0, sizeof(*g));
}
