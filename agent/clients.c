/* clients.c: the AWS client cache, one SDK client per (region, profile, role, single-attempt). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"

struct client_entry {
    char *key;
    dr_aws *client;
    client_entry *next;
};

static const cfg_role *role_for_region(const ag_config *cfg, const char *region)
{
    for (size_t i = 0; i < cfg->aws.n_roles; i++)
        if (cfg->aws.roles[i].region && strcmp(cfg->aws.roles[i].region, region) == 0)
            return &cfg->aws.roles[i];
    return NULL;
}

void client_cache_init(client_cache *c)
{
    pthread_mutex_init(&c->mu, NULL);
    c->head = NULL;
}

void client_cache_free(client_cache *c)
{
    client_entry *e = c->head, *next;

    for (; e; e = next) {
        next = e->next;
        dr_aws_free(e->client);
        free(e->key);
        free(e);
    }
    c->head = NULL;
}

dr_aws *client_cache_get(client_cache *cc, const ag_config *cfg, const cfg_resource *res, const char *region,
                         int single_attempt, dr_error *err)
{
    const cfg_role *role = region ? role_for_region(cfg, region) : NULL;
    const char *profile = res->profile ? res->profile : cfg->aws.profile;
    const char *role_arn = res->role_arn ? res->role_arn : role ? role->role_arn : NULL;
    const char *ext = res->role_arn ? res->external_id : role ? role->external_id : NULL;
    char key[8192]; /* above the longest region, profile, role ARN (2048) and external id (1224) */
    client_entry *e;
    dr_aws_config ac;
    dr_aws *c = NULL;

    if (!region || !*region) {
        dr_error_set(err, DR_EINVAL, "%s: no region given for the AWS client", res->id);
        return NULL;
    }
    /* single_attempt first: a cut could otherwise drop it and mix the one-attempt client with the normal one */
    if (snprintf(key, sizeof(key), "%d|%s|%s|%s|%s", single_attempt, region, profile ? profile : "",
                 role_arn ? role_arn : "", ext ? ext : "") >= (int)sizeof(key)) {
        dr_error_set(err, DR_EINVAL, "%s: the region, profile, role ARN and external id are too long", res->id);
        return NULL;
    }
    pthread_mutex_lock(&cc->mu);
    for (e = cc->head; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            break;
    if (e) {
        c = e->client;
        goto out;
    }
    memset(&ac, 0, sizeof(ac));
    ac.struct_size = sizeof(ac);
    ac.region = region;
    ac.profile = profile;
    ac.role_arn = role_arn;
    ac.external_id = ext;
    ac.endpoint_url = cfg->aws.endpoint_url;
    ac.ca_bundle = cfg->aws.ca_bundle;
    ac.insecure_tls = cfg->aws.insecure_tls;
    ac.max_attempts = cfg->aws.max_attempts;
    ac.connect_timeout_ms = (int64_t)(cfg->aws.connect_timeout * 1000.0);
    ac.attempt_timeout_ms = (int64_t)(cfg->aws.attempt_timeout * 1000.0);
    ac.s3_path_style = cfg->aws.s3_path_style;
    ac.network_max_attempts = single_attempt ? 1 : 0;
    if (dr_aws_new(&ac, &c, err) != 0) {
        c = NULL;
        goto out;
    }
    e = calloc(1, sizeof(*e));
    if (!e || !(e->key = strdup(key))) {
        free(e);
        dr_aws_free(c);
        c = NULL;
        dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    e->client = c;
    e->next = cc->head;
    cc->head = e;
out:
    pthread_mutex_unlock(&cc->mu);
    return c;
}
