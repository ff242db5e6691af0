/* graph.h: the resource dependency graph: resolution of depends_on, cycle detection, parallel levels. */
#ifndef AG_GRAPH_H
#define AG_GRAPH_H

/* Ownership: graph_build() fills a graph the caller frees with graph_free(). */

#include <stddef.h>

#include "config.h"

typedef struct graph {
    size_t n;         /* nodes = cfg->res, same indexes */
    size_t **deps;    /* deps[i]: the nodes i depends on */
    size_t *n_deps;
    size_t **rdeps;   /* rdeps[i]: the nodes that depend on i */
    size_t *n_rdeps;
    int *level;       /* 0 for nodes without dependencies, else 1 + max level of deps */
    int n_levels;
} graph;

/*
 * Resolve every resource's depends_on (ids, or "<type>.*"), or the plugin's
 * default_depends_on when the resource sets none. Unknown ids, patterns
 * that match nothing, self-dependencies and cycles are errors naming the
 * file and line. 0 or DR_ECONFIG.
 */
int graph_build(const ag_config *cfg, graph *g, errlist *errs);
void graph_free(graph *g);

#endif
