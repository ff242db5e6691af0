/* retired.h: the aurora plugin's retired clusters: listing, the verify check and the cleanup hook's work. */
#ifndef DR_AURORA_RETIRED_H
#define DR_AURORA_RETIRED_H

/* Ownership: au_retired_list() returns an array the caller frees with free(). */

#include "dr/sdk.h"

typedef struct au_retired {
    char id[64];
    char region[32];
    double age;             /* seconds since it was retired (from the stamp in its name) */
    char instances[16][64];
    size_t n_instances;
    char cost_class[96];
} au_retired;

/* The clusters of both regions named "<cluster or dr_cluster><retired_suffix>-<UTC yyyymmddhhmmss>". */
int au_retired_list(const dr_host_api *h, dr_resource *res, au_retired **out, size_t *n, dr_error *err);
/* verify: the check "retired_clusters", WARNING when one is older than retired_retention. */
void au_retired_check(const dr_host_api *h, dr_resource *res);

/*
 * au_retired_check in three parts, so that its listings go with other reads: prepare (the hook's thread: config
 * and clients), fetch (AWS calls only, a batch's task may run it: both regions at once), report (the hook's
 * thread; frees what fetch kept). The read belongs to the caller (usually on its stack).
 */
typedef struct au_region_list {
    const dr_host_api *h;
    dr_resource *memo_res; /* the listing through the run's memo (verify); NULL: afresh */
    dr_aws *c;
    const char *region, *const *ids, *suffix;
    au_retired *out;
    size_t n;
    int rc;
    dr_error err;
} au_region_list;

typedef struct au_retired_read {
    const char *ids[2], *suffix;
    au_region_list l[2];
} au_retired_read;

void au_retired_prepare(const dr_host_api *h, dr_resource *res, au_retired_read *rd);
void au_retired_fetch(void *rd);
void au_retired_report(const dr_host_api *h, dr_resource *res, au_retired_read *rd);
/* cleanup: those older than retired_retention as planned changes (dry_run) or deleted (final snapshot kept). */
int au_retired_cleanup(const dr_host_api *h, dr_resource *res, int dry_run, dr_error *err);

#endif
