/* endpoints.c: where each service lives per region and partition, and which configured endpoint URL wins. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dr/aws.h"
#include "endpoints.h"

static const drs_service services[] = {
    {"dynamodb", "dynamodb", "DYNAMODB", "dynamodb", "dynamodb"},
    {"rds", "rds", "RDS", "rds", "rds"},
    {"s3", "s3", "S3", "s3", "s3"},
    {"route53", "route53", "ROUTE_53", "route_53", "route53"},
    {"backup", "backup", "BACKUP", "backup", "backup"},
    {"monitoring", "monitoring", "CLOUDWATCH", "cloudwatch", "monitoring"},
    {"sts", "sts", "STS", "sts", "sts"},
    {"iam", "iam", "IAM", "iam", "iam"},
};

/*
 * Any other service: "<signing name>" or "<signing name>:<endpoint prefix>", each [a-z0-9-]+, e.g. "sqs",
 * "elasticfilesystem", "ses:email". Its endpoint follows the standard pattern <prefix>.<region>.<dns suffix>,
 * AWS_ENDPOINT_URL_<SIGNING NAME, upper case, '-' as '_'> and the [services] sub-key in lower case apply.
 * Entries are made on first use and kept for the life of the process (at most DRS_MAX_GENERIC).
 */
#define DRS_MAX_GENERIC 64

typedef struct generic_service {
    drs_service svc;
    char name[96], signing[48], env[48], cfg[48], prefix[48];
} generic_service;

static generic_service generic[DRS_MAX_GENERIC];
static size_t n_generic;
static pthread_mutex_t generic_mu = PTHREAD_MUTEX_INITIALIZER;

static int service_label(const char *s, size_t n)
{
    if (n == 0 || n >= 48)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
            return 0;
    return s[0] != '-' && s[n - 1] != '-';
}

static const drs_service *generic_find(const char *name)
{
    const char *colon = strchr(name, ':');
    size_t sl = colon ? (size_t)(colon - name) : strlen(name);
    const char *prefix = colon ? colon + 1 : name;
    const drs_service *found = NULL;

    if (!service_label(name, sl) || !service_label(prefix, strlen(prefix)))
        return NULL;
    pthread_mutex_lock(&generic_mu);
    for (size_t i = 0; i < n_generic; i++)
        if (strcmp(generic[i].name, name) == 0)
            found = &generic[i].svc;
    if (!found && n_generic < DRS_MAX_GENERIC) {
        generic_service *g = &generic[n_generic++];
        snprintf(g->name, sizeof(g->name), "%s", name);
        snprintf(g->signing, sizeof(g->signing), "%.*s", (int)sl, name);
        snprintf(g->prefix, sizeof(g->prefix), "%s", prefix);
        for (size_t i = 0; i <= sl; i++) {
            char ch = i < sl ? name[i] : '\0';
            g->env[i] = ch == '-' ? '_' : (char)toupper((unsigned char)ch);
            g->cfg[i] = ch == '-' ? '_' : ch;
        }
        g->svc.name = g->name;
        g->svc.signing = g->signing;
        g->svc.env = g->env;
        g->svc.cfg = g->cfg;
        g->svc.prefix = g->prefix;
        found = &g->svc;
    }
    pthread_mutex_unlock(&generic_mu);
    return found;
}

const drs_service *drs_service_find(const char *name)
{
    if (name && strcmp(name, "cloudwatch") == 0)
        name = "monitoring";
    for (size_t i = 0; name && i < sizeof(services) / sizeof(services[0]); i++)
        if (strcmp(services[i].name, name) == 0)
            return &services[i];
    return name ? generic_find(name) : NULL;
}

typedef struct partition {
    const char *region_prefix; /* "" for the default (aws) partition */
    const char *name;          /* the partition of ARNs: "aws-cn" */
    const char *dns_suffix;
    const char *route53_host, *route53_region;
    const char *iam_host, *iam_region; /* iam_host NULL: iam.<region>.<suffix> */
} partition;

static const partition partitions[] = {
    {"cn-", "aws-cn", "amazonaws.com.cn", "route53.amazonaws.com.cn", "cn-northwest-1",
     "iam.cn-north-1.amazonaws.com.cn", "cn-north-1"},
    {"us-gov-", "aws-us-gov", "amazonaws.com", "route53.us-gov.amazonaws.com", "us-gov-west-1",
     "iam.us-gov.amazonaws.com", "us-gov-west-1"},
    {"us-isob-", "aws-iso-b", "sc2s.sgov.gov", "route53.sc2s.sgov.gov", "us-isob-east-1", NULL, NULL},
    {"us-isof-", "aws-iso-f", "csp.hci.ic.gov", "route53.csp.hci.ic.gov", "us-isof-south-1", NULL, NULL},
    {"us-iso-", "aws-iso", "c2s.ic.gov", "route53.c2s.ic.gov", "us-iso-east-1", NULL, NULL},
    {"eu-isoe-", "aws-iso-e", "cloud.adc-e.uk", "route53.cloud.adc-e.uk", "eu-isoe-west-1", NULL, NULL},
    {"eusc-", "aws-eusc", "amazonaws.eu", "route53.amazonaws.eu", "eusc-de-east-1", NULL, NULL},
    {"", "aws", "amazonaws.com", "route53.amazonaws.com", "us-east-1", "iam.amazonaws.com", "us-east-1"},
};

static const partition *partition_of(const char *region)
{
    size_t i;

    for (i = 0; region && i + 1 < sizeof(partitions) / sizeof(partitions[0]); i++)
        if (strncmp(region, partitions[i].region_prefix, strlen(partitions[i].region_prefix)) == 0)
            return &partitions[i];
    return &partitions[sizeof(partitions) / sizeof(partitions[0]) - 1];
}

const char *dr_aws_partition(const char *region)
{
    return partition_of(region)->name;
}

static int truthy(const char *v)
{
    return v && strcasecmp(v, "true") == 0;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int valid_region(const char *r)
{
    if (!r || !*r)
        return 0;
    for (; *r; r++)
        if (!islower((unsigned char)*r) && !isdigit((unsigned char)*r) && *r != '-')
            return 0;
    return 1;
}

int drs_endpoint_parse_url(const char *url, drs_endpoint *out, dr_error *err)
{
    const char *p, *hs, *he, *port = NULL;
    int https;
    size_t n;

    if (strncasecmp(url, "https://", 8) == 0)
        https = 1;
    else if (strncasecmp(url, "http://", 7) == 0)
        https = 0;
    else
        return dr_error_set(err, DR_ECONFIG, "endpoint URL %s: must start with http:// or https://", url);
    for (p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' || *p == '>' || *p == '\\')
            return dr_error_set(err, DR_ECONFIG, "endpoint URL %s: invalid character", url);
    hs = url + (https ? 8 : 7);
    he = hs + strcspn(hs, "/?#");
    if (he == hs)
        return dr_error_set(err, DR_ECONFIG, "endpoint URL %s: no host", url);
    if (*hs == '[') {
        const char *rb = memchr(hs, ']', (size_t)(he - hs));
        if (!rb)
            return dr_error_set(err, DR_ECONFIG, "endpoint URL %s: bad IPv6 host", url);
        if (rb + 1 < he && rb[1] == ':')
            port = rb + 2;
    } else {
        const char *colon = memchr(hs, ':', (size_t)(he - hs));
        if (colon)
            port = colon + 1;
    }
    if (*he == '?' || *he == '#')
        return dr_error_set(err, DR_ECONFIG, "endpoint URL %s: no query or fragment allowed", url);
    n = (size_t)(he - hs);
    /* A default port is not part of the Host header curl would send, nor of what AWS signs. */
    if (port && ((https && he - port == 3 && memcmp(port, "443", 3) == 0) ||
                 (!https && he - port == 2 && memcmp(port, "80", 2) == 0)))
        n = (size_t)(port - 1 - hs);
    if (n >= sizeof(out->host))
        return dr_error_set(err, DR_ECONFIG, "endpoint URL %s: host too long", url);
    memcpy(out->host, hs, n);
    out->host[n] = '\0';
    snprintf(out->scheme_host, sizeof(out->scheme_host), "%s://%s", https ? "https" : "http", out->host);
    {
        const char *ps = he;
        size_t pl = strlen(ps);
        while (pl > 0 && ps[pl - 1] == '/')
            pl--;
        if (pl >= sizeof(out->path_prefix))
            return dr_error_set(err, DR_ECONFIG, "endpoint URL %s: path too long", url);
        memcpy(out->path_prefix, ps, pl);
        out->path_prefix[pl] = '\0';
    }
    snprintf(out->url, sizeof(out->url), "%s%s", out->scheme_host, out->path_prefix);
    out->custom = 1;
    return 0;
}

/* The configured endpoint URL for a service, by the SDKs' precedence; malloc'd, or NULL for none. */
static char *configured_url(const drs_endpoint_opts *o, const drs_service *svc)
{
    const char *profile = o->profile ? o->profile : "default";
    const char *v;
    char name[64];

    if (o->client_url && *o->client_url)
        return strdup(o->client_url);
    if (o->ignore_configured || truthy(env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) ||
        truthy(drs_profile_get(o->profiles, profile, "ignore_configured_endpoint_urls")))
        return NULL;
    snprintf(name, sizeof(name), "AWS_ENDPOINT_URL_%s", svc->env);
    if ((v = env(name)) || (v = env("AWS_ENDPOINT_URL")))
        return strdup(v);
    v = drs_profile_get(o->profiles, profile, "services");
    if (v) {
        const drs_section *s = drs_profiles_find(o->profiles, DRS_SECTION_SERVICES, v);
        for (size_t i = 0; s && i < s->n; i++) {
            if (strcmp(s->kv[i].key, svc->cfg) == 0) {
                char *u = drs_subprop(s->kv[i].value, "endpoint_url");
                if (u && *u)
                    return u;
                free(u);
            }
        }
    }
    v = drs_profile_get(o->profiles, profile, "endpoint_url");
    return v && *v ? strdup(v) : NULL;
}

static int sts_legacy_region(const char *r)
{
    static const char *const legacy[] = {"ap-northeast-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
                                         "aws-global",     "ca-central-1", "eu-central-1", "eu-north-1",
                                         "eu-west-1",      "eu-west-2",  "eu-west-3",    "sa-east-1",
                                         "us-east-1",      "us-east-2",  "us-west-1",    "us-west-2",
                                         NULL};
    for (const char *const *p = legacy; *p; p++)
        if (strcmp(*p, r) == 0)
            return 1;
    return 0;
}

/* A setting from the environment, else from the profile, equal to "legacy". */
static int is_legacy(const drs_endpoint_opts *o, const char *env_name, const char *key)
{
    const char *v = env(env_name);

    if (!v)
        v = drs_profile_get(o->profiles, o->profile ? o->profile : "default", key);
    return v && strcasecmp(v, "legacy") == 0;
}

int drs_endpoint_resolve(const drs_endpoint_opts *o, const char *service, const char *region, drs_endpoint *out,
                         dr_error *err)
{
    const drs_service *svc = drs_service_find(service);
    const partition *pt;
    char *url;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!svc)
        return dr_error_set(err, DR_EINVAL,
                            "AWS service '%s': not a signing name (or <signing name>:<endpoint prefix>) of [a-z0-9-]",
                            service ? service : "(null)");
    if (!region || !*region)
        return dr_error_set(err, DR_ECONFIG, "%s: Invalid Configuration: Missing Region", svc->name);
    if (!valid_region(region))
        return dr_error_set(err, DR_ECONFIG, "%s: Invalid region '%s': not a valid DNS name", svc->name, region);
    snprintf(out->signing_name, sizeof(out->signing_name), "%s", svc->signing);
    snprintf(out->signing_region, sizeof(out->signing_region), "%s", region);

    url = configured_url(o, svc);
    if (url) {
        /* With a configured endpoint the signing Region is the client's, for global services too. */
        rc = drs_endpoint_parse_url(url, out, err);
        free(url);
        return rc;
    }

    pt = partition_of(region);
    if (strcmp(svc->name, "route53") == 0) {
        snprintf(out->host, sizeof(out->host), "%s", pt->route53_host);
        snprintf(out->signing_region, sizeof(out->signing_region), "%s", pt->route53_region);
    } else if (strcmp(svc->name, "iam") == 0) {
        if (pt->iam_host) {
            snprintf(out->host, sizeof(out->host), "%s", pt->iam_host);
            snprintf(out->signing_region, sizeof(out->signing_region), "%s", pt->iam_region);
        } else {
            snprintf(out->host, sizeof(out->host), "iam.%s.%s", region, pt->dns_suffix);
        }
    } else if (strcmp(svc->name, "dynamodb") == 0 && strcmp(region, "local") == 0) {
        snprintf(out->host, sizeof(out->host), "localhost:8000");
        snprintf(out->signing_region, sizeof(out->signing_region), "us-east-1");
        snprintf(out->scheme_host, sizeof(out->scheme_host), "http://localhost:8000");
        snprintf(out->url, sizeof(out->url), "%s", out->scheme_host);
        return 0;
    } else if ((strcmp(svc->name, "sts") == 0 &&
                (strcmp(region, "aws-global") == 0 ||
                 (is_legacy(o, "AWS_STS_REGIONAL_ENDPOINTS", "sts_regional_endpoints") && sts_legacy_region(region)))) ||
               (strcmp(svc->name, "s3") == 0 &&
                (strcmp(region, "aws-global") == 0 ||
                 (strcmp(region, "us-east-1") == 0 &&
                  is_legacy(o, "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT", "s3_us_east_1_regional_endpoint"))))) {
        /* The legacy global endpoints, signed for us-east-1. */
        snprintf(out->host, sizeof(out->host), "%s.amazonaws.com", svc->prefix);
        snprintf(out->signing_region, sizeof(out->signing_region), "us-east-1");
    } else {
        snprintf(out->host, sizeof(out->host), "%s.%s.%s", svc->prefix, region, pt->dns_suffix);
    }
    snprintf(out->scheme_host, sizeof(out->scheme_host), "https://%s", out->host);
    snprintf(out->url, sizeof(out->url), "%s", out->scheme_host);
    return 0;
}

/* DNS-compatible and free of dots (a dotted name breaks the TLS wildcard), so it can go into the host name. */
static int virtual_hostable(const char *b)
{
    size_t n = strlen(b);

    if (n < 3 || n > 63 || !isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)b[i]) && !isdigit((unsigned char)b[i]) && b[i] != '-')
            return 0;
    return 1;
}

int drs_endpoint_target(const drs_endpoint *ep, const char *service, const char *bucket, int path_style,
                        const char *path, dr_buf *host, dr_buf *url_base, dr_buf *full_path)
{
    int s3 = service && strcmp(service, "s3") == 0 && bucket && *bucket;

    if (!path || !*path)
        path = "/";
    if (s3 && !ep->custom && !path_style && virtual_hostable(bucket)) {
        dr_buf_printf(host, "%s.%s", bucket, ep->host);
        const char *scheme_end = strstr(ep->scheme_host, "://");
        dr_buf_append(url_base, ep->scheme_host, (size_t)(scheme_end + 3 - ep->scheme_host));
        dr_buf_puts(url_base, dr_buf_str(host));
        dr_buf_puts(full_path, ep->path_prefix);
        dr_buf_puts(full_path, path);
    } else {
        dr_buf_puts(host, ep->host);
        dr_buf_puts(url_base, ep->scheme_host);
        dr_buf_puts(full_path, ep->path_prefix);
        if (s3) {
            dr_buf_puts(full_path, "/");
            dr_buf_uri_encode(full_path, bucket, 0);
            if (strcmp(path, "/") != 0)
                dr_buf_puts(full_path, path);
        } else {
            dr_buf_puts(full_path, path);
        }
    }
    return host->failed || url_base->failed || full_path->failed ? DR_ENOMEM : 0;
}
