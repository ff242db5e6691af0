/* clients.h: the AWS client cache: one SDK client per (region, profile, role, single-attempt), shared by resources. */
#ifndef AG_CLIENTS_H
#define AG_CLIENTS_H

/*
 * Ownership: a cache owns its clients (client_cache_free); a client it hands
 * out stays valid until then and is shared by every caller with the same key.
 */

#include <pthread.h>

#include "config.h"
#include "dr/aws.h"

typedef struct client_entry client_entry;

typedef struct client_cache {
    pthread_mutex_t mu;
    client_entry *head;
} client_cache;

void client_cache_init(client_cache *c);
void client_cache_free(client_cache *c);

/*
 * The client for a resource's calls to `region`: its profile and role (the
 * resource's, else the region's role, else the config's profile), the
 * config's endpoint, TLS and retry settings. single_attempt: calls that get
 * no answer are not retried (a region being left by a forced switch).
 * NULL with err set on bad input or when the client cannot be made.
 */
dr_aws *client_cache_get(client_cache *c, const ag_config *cfg, const cfg_resource *res, const char *region,
                         int single_attempt, dr_error *err);

#endif
