/* endpoints.h: SDK-internal endpoint resolution: regional and global hostnames, configured endpoint URLs, S3 addressing. */
#ifndef DRS_ENDPOINTS_H
#define DRS_ENDPOINTS_H

#include "dr/error.h"
#include "dr/util.h"
#include "profile.h"

typedef struct drs_service {
    const char *name;      /* as callers spell it: "dynamodb", "monitoring", ... */
    const char *signing;   /* SigV4 signing name */
    const char *env;       /* AWS_ENDPOINT_URL_<env> */
    const char *cfg;       /* [services] sub-key */
    const char *prefix;    /* hostname label */
} drs_service;

/*
 * A service by name (also "cloudwatch" for monitoring): one of the table's, or any other given as
 * "<signing name>[:<endpoint prefix>]" ([a-z0-9-]+), which gets the standard endpoint rules; NULL for a
 * malformed name. The pointer stays valid for the life of the process.
 */
const drs_service *drs_service_find(const char *name);

typedef struct drs_endpoint {
    char url[600];            /* scheme://host[:port][/prefix], no trailing slash */
    char host[256];           /* Host header value (non-default port included) */
    char path_prefix[256];    /* "" or "/prefix" of a configured URL */
    char scheme_host[300];    /* scheme://host[:port] */
    char signing_region[64];
    char signing_name[32];
    int custom;               /* from a configured endpoint URL */
} drs_endpoint;

typedef struct drs_endpoint_opts {
    const char *client_url;       /* endpoint set in code: wins over everything */
    const drs_profiles *profiles; /* may be NULL */
    const char *profile;          /* active profile name */
    int ignore_configured;        /* ignore environment and config-file endpoints */
} drs_endpoint_opts;

int drs_endpoint_resolve(const drs_endpoint_opts *o, const char *service, const char *region, drs_endpoint *out,
                         dr_error *err);

/*
 * Host and path of one request. S3 with a bucket: virtual-hosted style for
 * DNS-compatible names on the default endpoint, path style otherwise (or
 * when path_style is set). path is the encoded path after the bucket (NULL: "/").
 */
int drs_endpoint_target(const drs_endpoint *ep, const char *service, const char *bucket, int path_style,
                        const char *path, dr_buf *host, dr_buf *url_base, dr_buf *full_path);

/* Validate a configured endpoint URL and split it. */
int drs_endpoint_parse_url(const char *url, drs_endpoint *out, dr_error *err);

#endif /* DRS_ENDPOINTS_H */
