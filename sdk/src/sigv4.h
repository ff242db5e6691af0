/* sigv4.h: SDK-internal AWS Signature Version 4 signer (header and presigned-query forms) and hash helpers. */
#ifndef DRS_SIGV4_H
#define DRS_SIGV4_H

/*
 * Ownership: every input is borrowed for the call. A drs_sigv4_result owns
 * its buffers; the caller releases them with drs_sigv4_result_free().
 */

#include <stddef.h>
#include <time.h>

#include "dr/error.h"
#include "dr/util.h"

typedef struct drs_header {
    const char *name;
    const char *value;
} drs_header;

typedef struct drs_sigv4_params {
    const char *method;
    const char *host;           /* Host header value, with a non-default port */
    const char *path;           /* wire path, percent-encoded once; NULL or "": "/" */
    const char *query;          /* wire query without '?'; NULL: none */
    const drs_header *headers;  /* further headers to sign (Host and X-Amz-Date are added here) */
    size_t n_headers;
    const void *body;
    size_t body_len;
    const char *payload_hash;   /* hex SHA-256 or "UNSIGNED-PAYLOAD"; NULL: SHA-256 of body */
    const char *access_key;
    const char *secret_key;
    const char *token;          /* session token; NULL: none */
    const char *region;
    const char *service;
    time_t when;                /* signing time, epoch seconds */
    int s3_uri;                 /* S3: canonical URI is the wire path as-is (no normalization, no second encoding) */
    int normalize;              /* non-S3: remove dot segments and empty segments first */
    int content_sha256_header;  /* header form: add and sign x-amz-content-sha256 */
    int omit_token;             /* the token is sent but not signed */
    int presign;                /* query form instead of the Authorization header */
    long expires;               /* query form: X-Amz-Expires seconds */
} drs_sigv4_params;

typedef struct drs_sigv4_result {
    char amz_date[17];          /* YYYYMMDDTHHMMSSZ */
    char payload_hash[65];      /* as signed */
    char signature[65];
    dr_buf authorization;       /* header form: the Authorization header value */
    dr_buf query;               /* query form: the whole query string to send, signature included */
    dr_buf canonical_request;
    dr_buf string_to_sign;
} drs_sigv4_result;

int drs_sigv4_sign(const drs_sigv4_params *p, drs_sigv4_result *r, dr_error *err);
void drs_sigv4_result_free(drs_sigv4_result *r);

/* Canonical pieces, exposed for tests. Each appends to out; 0 or DR_ENOMEM. */
int drs_sigv4_canonical_uri(dr_buf *out, const char *path, int s3_uri, int normalize);
int drs_sigv4_canonical_query(dr_buf *out, const char *query);

/* Hash helpers. */
void drs_sha256(const void *data, size_t len, unsigned char out[32]);
void drs_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, unsigned char out[32]);
void drs_hex(const unsigned char *in, size_t len, char *out); /* out: 2*len+1 bytes */
void drs_sha256_hex(const void *data, size_t len, char out[65]);
int drs_base64(dr_buf *out, const unsigned char *in, size_t len);
/* Percent-decode src[0..len) into out (invalid escapes are kept as they are). */
int drs_uri_decode(dr_buf *out, const char *src, size_t len);

#endif /* DRS_SIGV4_H */
