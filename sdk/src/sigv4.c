/* sigv4.c: AWS Signature Version 4: canonical request, string to sign, signing key and both signed forms. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "sigv4.h"

/* --- hashing: SHA-256 through a digest fetched once, HMAC built on it (faster than OpenSSL 3's one-shot HMAC) --- */

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_init(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *md(void)
{
    pthread_once(&sha256_once, sha256_init);
    return sha256_md ? sha256_md : EVP_sha256();
}

void drs_sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 32;

    EVP_Digest(data, len, out, &n, md(), NULL);
}

void drs_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, unsigned char out[32])
{
    unsigned char k[64], pad[64], inner[32];
    unsigned int n = 32;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    memset(k, 0, sizeof(k));
    if (keylen > sizeof(k))
        drs_sha256(key, keylen, k);
    else
        memcpy(k, key, keylen);
    if (!ctx) {
        memset(out, 0, 32);
        return;
    }
    for (size_t i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    EVP_DigestInit_ex(ctx, md(), NULL);
    EVP_DigestUpdate(ctx, pad, 64);
    EVP_DigestUpdate(ctx, data, len);
    EVP_DigestFinal_ex(ctx, inner, &n);
    for (size_t i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    EVP_DigestInit_ex(ctx, md(), NULL);
    EVP_DigestUpdate(ctx, pad, 64);
    EVP_DigestUpdate(ctx, inner, 32);
    EVP_DigestFinal_ex(ctx, out, &n);
    EVP_MD_CTX_free(ctx);
    explicit_bzero(k, sizeof(k));
    explicit_bzero(pad, sizeof(pad));
}

void drs_hex(const unsigned char *in, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * len] = '\0';
}

void drs_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char h[32];

    drs_sha256(data, len, h);
    drs_hex(h, 32, out);
}

int drs_base64(dr_buf *out, const unsigned char *in, size_t len)
{
    size_t need = 4 * ((len + 2) / 3) + 1;
    char *tmp = malloc(need);
    int rc;

    if (!tmp)
        return DR_ENOMEM;
    EVP_EncodeBlock((unsigned char *)tmp, in, (int)len);
    rc = dr_buf_puts(out, tmp);
    free(tmp);
    return rc;
}

/* --- encoding --- */

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static int encode(dr_buf *b, const char *s, size_t len, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            run++;
            continue;
        }
        if (run)
            dr_buf_append(b, s + i - run, run);
        run = 0;
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        dr_buf_append(b, esc, 3);
    }
    if (run)
        dr_buf_append(b, s + len - run, run);
    return b->failed ? DR_ENOMEM : 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int drs_uri_decode(dr_buf *out, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (src[i] == '%' && i + 2 < len && (hi = hexval(src[i + 1])) >= 0 && (lo = hexval(src[i + 2])) >= 0) {
            char c = (char)(hi * 16 + lo);
            dr_buf_append(out, &c, 1);
            i += 2;
        } else {
            dr_buf_append(out, src + i, 1);
        }
    }
    return out->failed ? DR_ENOMEM : 0;
}

/* --- canonical URI --- */

int drs_sigv4_canonical_uri(dr_buf *out, const char *path, int s3_uri, int normalize)
{
    dr_buf norm = DR_BUF_INIT;
    const char *p;
    int rc;

    if (!path || !*path)
        path = "/";
    if (s3_uri)
        return dr_buf_puts(out, path);
    p = path;
    if (normalize) {
        /* Segments: drop empty ones and ".", let ".." pop; keep a trailing slash (botocore's rule). */
        size_t *starts = NULL, n = 0, cap = 0;
        const char *s = path;
        size_t plen = strlen(path);
        while (*s) {
            const char *e;
            size_t len;
            while (*s == '/')
                s++;
            if (!*s)
                break;
            e = strchr(s, '/');
            len = e ? (size_t)(e - s) : strlen(s);
            if (len == 1 && s[0] == '.') {
                /* nothing */
            } else if (len == 2 && s[0] == '.' && s[1] == '.') {
                if (n > 0) {
                    n--;
                    norm.len = starts[n];
                    if (norm.data)
                        norm.data[norm.len] = '\0';
                }
            } else {
                if (n == cap) {
                    size_t ncap = cap ? cap * 2 : 16;
                    size_t *ns = realloc(starts, ncap * sizeof(*ns));
                    if (!ns) {
                        free(starts);
                        dr_buf_free(&norm);
                        return DR_ENOMEM;
                    }
                    starts = ns;
                    cap = ncap;
                }
                starts[n++] = norm.len;
                dr_buf_puts(&norm, "/");
                dr_buf_append(&norm, s, len);
            }
            s += len;
        }
        free(starts);
        if (norm.len == 0)
            dr_buf_puts(&norm, "/");
        else if (path[plen - 1] == '/')
            dr_buf_puts(&norm, "/");
        if (norm.failed) {
            dr_buf_free(&norm);
            return DR_ENOMEM;
        }
        p = dr_buf_str(&norm);
    }
    rc = encode(out, p, strlen(p), 1);
    dr_buf_free(&norm);
    return rc;
}

/* --- canonical query --- */

typedef struct qparam {
    char *name;
    char *value;
} qparam;

static int qparam_cmp(const void *a, const void *b)
{
    const qparam *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : strcmp(x->value, y->value);
}

static int qparams_add(qparam **v, size_t *n, size_t *cap, const char *name, size_t nlen, const char *value,
                       size_t vlen, int raw)
{
    dr_buf dn = DR_BUF_INIT, dv = DR_BUF_INIT, en = DR_BUF_INIT, ev = DR_BUF_INIT;
    int rc = DR_ENOMEM;

    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        qparam *nv = realloc(*v, ncap * sizeof(*nv));
        if (!nv)
            return DR_ENOMEM;
        *v = nv;
        *cap = ncap;
    }
    if (raw) {
        /* Already a plain (decoded) value. */
        dr_buf_append(&dn, name, nlen);
        dr_buf_append(&dv, value, vlen);
    } else {
        drs_uri_decode(&dn, name, nlen);
        drs_uri_decode(&dv, value, vlen);
    }
    encode(&en, dr_buf_str(&dn), dn.len, 0);
    encode(&ev, dr_buf_str(&dv), dv.len, 0);
    if (dn.failed || dv.failed || en.failed || ev.failed)
        goto out;
    (*v)[*n].name = dr_buf_steal(&en);
    (*v)[*n].value = dr_buf_steal(&ev);
    if (!(*v)[*n].name || !(*v)[*n].value) {
        free((*v)[*n].name);
        free((*v)[*n].value);
        goto out;
    }
    (*n)++;
    rc = 0;
out:
    dr_buf_free(&dn);
    dr_buf_free(&dv);
    dr_buf_free(&en);
    dr_buf_free(&ev);
    return rc;
}

static int qparams_parse(qparam **v, size_t *n, size_t *cap, const char *query)
{
    const char *s = query;

    while (s && *s) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        if (len > 0) {
            const char *eq = memchr(s, '=', len);
            size_t nlen = eq ? (size_t)(eq - s) : len;
            const char *val = eq ? eq + 1 : "";
            size_t vlen = eq ? len - nlen - 1 : 0;
            if (qparams_add(v, n, cap, s, nlen, val, vlen, 0) != 0)
                return DR_ENOMEM;
        }
        s += len;
        if (*s == '&')
            s++;
    }
    return 0;
}

static int qparams_join(dr_buf *out, qparam *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof(*v), qparam_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i)
            dr_buf_puts(out, "&");
        dr_buf_puts(out, v[i].name);
        dr_buf_puts(out, "=");
        dr_buf_puts(out, v[i].value);
    }
    return out->failed ? DR_ENOMEM : 0;
}

static void qparams_free(qparam *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].value);
    }
    free(v);
}

int drs_sigv4_canonical_query(dr_buf *out, const char *query)
{
    qparam *v = NULL;
    size_t n = 0, cap = 0;
    int rc = qparams_parse(&v, &n, &cap, query);

    if (rc == 0)
        rc = qparams_join(out, v, n);
    qparams_free(v, n);
    return rc;
}

/* --- canonical headers --- */

typedef struct chdr {
    char *name;  /* lower case */
    char *value; /* trimmed, runs of white space collapsed */
    size_t order;
} chdr;

static int chdr_cmp(const void *a, const void *b)
{
    const chdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static int chdr_add(chdr *v, size_t *n, const char *name, const char *value)
{
    size_t nl = strlen(name), i, o = 0;
    char *ln = malloc(nl + 1), *val;
    const char *s = value ? value : "";

    if (!ln)
        return DR_ENOMEM;
    for (i = 0; i < nl; i++)
        ln[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    ln[nl] = '\0';
    val = malloc(strlen(s) + 1);
    if (!val) {
        free(ln);
        return DR_ENOMEM;
    }
    while (is_ws(*s))
        s++;
    while (*s) {
        if (is_ws(*s)) {
            while (is_ws(*s))
                s++;
            if (*s)
                val[o++] = ' ';
        } else {
            val[o++] = *s++;
        }
    }
    val[o] = '\0';
    v[*n].name = ln;
    v[*n].value = val;
    v[*n].order = *n;
    (*n)++;
    return 0;
}

/* --- signing --- */

static void format_amz_date(time_t t, char out[17])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void drs_sigv4_result_free(drs_sigv4_result *r)
{
    if (!r)
        return;
    dr_buf_free(&r->authorization);
    dr_buf_free(&r->query);
    dr_buf_free(&r->canonical_request);
    dr_buf_free(&r->string_to_sign);
}

int drs_sigv4_sign(const drs_sigv4_params *p, drs_sigv4_result *r, dr_error *err)
{
    chdr *hdrs = NULL;
    size_t nh = 0;
    qparam *qv = NULL;
    size_t nq = 0, qcap = 0;
    dr_buf signed_names = DR_BUF_INIT, scope = DR_BUF_INIT, cred = DR_BUF_INIT;
    char date8[9], creq_hash[65];
    unsigned char k[32], sig[32];
    dr_buf ksecret = DR_BUF_INIT;
    int token_signed = p->token && *p->token && !p->omit_token;
    int rc = DR_ENOMEM;

    memset(r, 0, sizeof(*r));
    if (!p->method || !p->host || !p->access_key || !p->secret_key || !p->region || !p->service)
        return dr_error_set(err, DR_EINVAL, "sigv4: missing method, host, credentials, region or service");
    format_amz_date(p->when, r->amz_date);
    memcpy(date8, r->amz_date, 8);
    date8[8] = '\0';
    if (p->payload_hash)
        snprintf(r->payload_hash, sizeof(r->payload_hash), "%s", p->payload_hash);
    else
        drs_sha256_hex(p->body ? p->body : "", p->body ? p->body_len : 0, r->payload_hash);
    dr_buf_printf(&scope, "%s/%s/%s/aws4_request", date8, p->region, p->service);

    /* Headers to sign. */
    hdrs = calloc(p->n_headers + 4, sizeof(*hdrs));
    if (!hdrs)
        goto out;
    if (chdr_add(hdrs, &nh, "host", p->host) != 0)
        goto out;
    for (size_t i = 0; i < p->n_headers; i++) {
        const char *nm = p->headers[i].name;
        if (strcasecmp(nm, "host") == 0 || strcasecmp(nm, "x-amz-date") == 0 ||
            (strcasecmp(nm, "x-amz-security-token") == 0 && p->token) ||
            (strcasecmp(nm, "x-amz-content-sha256") == 0 && p->content_sha256_header && !p->presign))
            continue;
        if (chdr_add(hdrs, &nh, nm, p->headers[i].value) != 0)
            goto out;
    }
    if (!p->presign) {
        if (chdr_add(hdrs, &nh, "x-amz-date", r->amz_date) != 0)
            goto out;
        if (token_signed && chdr_add(hdrs, &nh, "x-amz-security-token", p->token) != 0)
            goto out;
        if (p->content_sha256_header && chdr_add(hdrs, &nh, "x-amz-content-sha256", r->payload_hash) != 0)
            goto out;
    }
    qsort(hdrs, nh, sizeof(*hdrs), chdr_cmp);
    for (size_t i = 0; i < nh; i++) {
        if (i > 0 && strcmp(hdrs[i].name, hdrs[i - 1].name) == 0)
            continue;
        if (signed_names.len)
            dr_buf_puts(&signed_names, ";");
        dr_buf_puts(&signed_names, hdrs[i].name);
    }

    /* Query, with the signing parameters in the query form. */
    if (qparams_parse(&qv, &nq, &qcap, p->query) != 0)
        goto out;
    if (p->presign) {
        char exp[24];
        dr_buf_printf(&cred, "%s/%s", p->access_key, dr_buf_str(&scope));
        snprintf(exp, sizeof(exp), "%ld", p->expires > 0 ? p->expires : 3600);
#define QADD(n, v) qparams_add(&qv, &nq, &qcap, n, strlen(n), v, strlen(v), 1)
        if (QADD("X-Amz-Algorithm", "AWS4-HMAC-SHA256") || QADD("X-Amz-Credential", dr_buf_str(&cred)) ||
            QADD("X-Amz-Date", r->amz_date) || QADD("X-Amz-Expires", exp) ||
            QADD("X-Amz-SignedHeaders", dr_buf_str(&signed_names)) ||
            (token_signed && QADD("X-Amz-Security-Token", p->token)))
            goto out;
    }

    /* Canonical request. */
    dr_buf *cr = &r->canonical_request;
    dr_buf_puts(cr, p->method);
    dr_buf_puts(cr, "\n");
    if (drs_sigv4_canonical_uri(cr, p->path, p->s3_uri, p->normalize) != 0)
        goto out;
    dr_buf_puts(cr, "\n");
    if (qparams_join(cr, qv, nq) != 0)
        goto out;
    dr_buf_puts(cr, "\n");
    for (size_t i = 0; i < nh; i++) {
        if (i > 0 && strcmp(hdrs[i].name, hdrs[i - 1].name) == 0) {
            dr_buf_puts(cr, ",");
            dr_buf_puts(cr, hdrs[i].value);
            continue;
        }
        if (i > 0)
            dr_buf_puts(cr, "\n");
        dr_buf_puts(cr, hdrs[i].name);
        dr_buf_puts(cr, ":");
        dr_buf_puts(cr, hdrs[i].value);
    }
    dr_buf_puts(cr, "\n\n");
    dr_buf_puts(cr, dr_buf_str(&signed_names));
    dr_buf_puts(cr, "\n");
    dr_buf_puts(cr, r->payload_hash);
    if (cr->failed)
        goto out;

    /* String to sign and signature. */
    drs_sha256_hex(cr->data, cr->len, creq_hash);
    dr_buf_printf(&r->string_to_sign, "AWS4-HMAC-SHA256\n%s\n%s\n%s", r->amz_date, dr_buf_str(&scope),
                  creq_hash);
    dr_buf_printf(&ksecret, "AWS4%s", p->secret_key);
    if (r->string_to_sign.failed || ksecret.failed)
        goto out;
    drs_hmac_sha256(ksecret.data, ksecret.len, date8, 8, k);
    drs_hmac_sha256(k, 32, p->region, strlen(p->region), k);
    drs_hmac_sha256(k, 32, p->service, strlen(p->service), k);
    drs_hmac_sha256(k, 32, "aws4_request", 12, k);
    drs_hmac_sha256(k, 32, r->string_to_sign.data, r->string_to_sign.len, sig);
    drs_hex(sig, 32, r->signature);

    if (p->presign) {
        qparams_join(&r->query, qv, nq);
        dr_buf_printf(&r->query, "&X-Amz-Signature=%s", r->signature);
        if (p->token && *p->token && p->omit_token) {
            dr_buf_puts(&r->query, "&X-Amz-Security-Token=");
            encode(&r->query, p->token, strlen(p->token), 0);
        }
        if (r->query.failed)
            goto out;
    } else {
        dr_buf_printf(&r->authorization, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                      p->access_key, dr_buf_str(&scope), dr_buf_str(&signed_names), r->signature);
        if (r->authorization.failed)
            goto out;
    }
    rc = 0;
out:
    if (rc != 0) {
        drs_sigv4_result_free(r);
        dr_error_set(err, rc, "sigv4: out of memory");
    }
    for (size_t i = 0; i < nh; i++) {
        free(hdrs[i].name);
        free(hdrs[i].value);
    }
    free(hdrs);
    qparams_free(qv, nq);
    dr_buf_free(&signed_names);
    dr_buf_free(&scope);
    dr_buf_free(&cred);
    if (ksecret.data)
        explicit_bzero(ksecret.data, ksecret.len);
    dr_buf_free(&ksecret);
    explicit_bzero(k, sizeof(k));
    return rc;
}
