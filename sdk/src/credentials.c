/* credentials.c: the AWS CLI's credentials chain (environment, assume-role profiles, web identity, files, container, IMDSv2) with refresh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client.h"
#include "log.h"

#define REFRESH_BEFORE_S 300.0 /* refresh temporary credentials this long before they expire */
#define MAX_ROLE_DEPTH 5

void drs_creds_clear(drs_creds *c)
{
    if (!c)
        return;
    dr_secret_free(c->access_key);
    dr_secret_free(c->secret_key);
    dr_secret_free(c->token);
    memset(c, 0, sizeof(*c));
}

static int creds_set(drs_creds *c, const char *ak, const char *sk, const char *token, double exp,
                     const char *source)
{
    memset(c, 0, sizeof(*c));
    c->access_key = strdup(ak);
    c->secret_key = strdup(sk);
    c->token = token && *token ? strdup(token) : NULL;
    c->expiration = exp;
    c->source = source;
    if (!c->access_key || !c->secret_key || (token && *token && !c->token)) {
        drs_creds_clear(c);
        return DR_ENOMEM;
    }
    return 0;
}

int drs_creds_copy(drs_creds *dst, const drs_creds *src)
{
    return creds_set(dst, src->access_key, src->secret_key, src->token, src->expiration, src->source);
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int truthy(const char *v)
{
    return v && strcasecmp(v, "true") == 0;
}

static const char *prof(dr_aws *c, const char *profile, const char *key)
{
    return drs_profile_get(&c->profiles, profile, key);
}

/* --- environment and files --- */

static int from_env(drs_creds *out)
{
    const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
    const char *tok = env("AWS_SESSION_TOKEN");
    double exp = 0;

    if (!ak || !sk)
        return DR_ENOTFOUND;
    if (!tok)
        tok = env("AWS_SECURITY_TOKEN");
    if (env("AWS_CREDENTIAL_EXPIRATION") && dr_time_parse(env("AWS_CREDENTIAL_EXPIRATION"), &exp) != 0)
        exp = 0;
    return creds_set(out, ak, sk, tok, exp, "environment");
}

static int from_profile_keys(dr_aws *c, const char *profile, drs_creds *out)
{
    const char *ak = prof(c, profile, "aws_access_key_id"), *sk = prof(c, profile, "aws_secret_access_key");

    if (!ak || !*ak || !sk || !*sk)
        return DR_ENOTFOUND;
    return creds_set(out, ak, sk, prof(c, profile, "aws_session_token"), 0, "shared files");
}

/* --- JSON documents of the container and instance metadata endpoints --- */

static int creds_from_json(const char *body, size_t len, const char *source, drs_creds *out, dr_error *err)
{
    dr_doc *d = NULL;
    const dr_node *r;
    const char *ak, *sk, *tok, *exp_s, *code;
    double exp = 0;
    int rc;

    if (dr_doc_parse_json(body, len, &d, err) != 0)
        return dr_error_prefix(err, "%s credentials: ", source);
    r = dr_doc_root(d);
    code = dr_node_str(r, "Code");
    ak = dr_node_str(r, "AccessKeyId");
    sk = dr_node_str(r, "SecretAccessKey");
    tok = dr_node_str(r, "Token");
    exp_s = dr_node_str(r, "Expiration");
    if ((code && strcmp(code, "Success") != 0) || !ak || !sk) {
        rc = dr_error_set(err, DR_ECREDENTIALS, "%s credentials: no keys in the answer (Code %s)", source,
                          code ? code : "absent");
    } else if (exp_s && dr_time_parse(exp_s, &exp) != 0) {
        rc = dr_error_set(err, DR_ECREDENTIALS, "%s credentials: bad Expiration", source);
    } else {
        rc = creds_set(out, ak, sk, tok, exp, source);
        if (rc)
            dr_error_set(err, rc, "out of memory");
    }
    dr_doc_free(d);
    return rc;
}

static int http_get(dr_aws *c, const char *method, const char *url, const char *const *headers, int64_t timeout_ms,
                    drs_http_resp *rs, dr_error *err)
{
    drs_http_req rq;
    int kind;

    memset(&rq, 0, sizeof(rq));
    rq.method = method;
    rq.url = url;
    rq.headers = headers;
    rq.connect_timeout_ms = timeout_ms;
    rq.timeout_ms = timeout_ms;
    return drs_http_perform(c->http, &rq, rs, &kind, err);
}

/* --- container (ECS / EKS Pod Identity) --- */

static int allowed_http_host(const char *h, size_t n)
{
    static const char *const ok[] = {"localhost", "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]", "[::1]",
                                     NULL};
    for (const char *const *p = ok; *p; p++)
        if (strlen(*p) == n && strncasecmp(*p, h, n) == 0)
            return 1;
    return n > 4 && strncmp(h, "127.", 4) == 0 && strspn(h, "0123456789.") == n;
}

int drs_ecs_uri(dr_buf *out, dr_error *err)
{
    const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *hs, *he;
    int https;

    if (rel)
        return dr_buf_printf(out, "http://169.254.170.2%s%s", rel[0] == '/' ? "" : "/", rel) ? DR_ENOMEM : 0;
    if (!full)
        return dr_error_set(err, DR_ENOTFOUND, "No environment variables were set to configure ECS provider");
    https = strncasecmp(full, "https://", 8) == 0;
    if (!https && strncasecmp(full, "http://", 7) != 0)
        return dr_error_set(err, DR_ECONFIG, "AWS_CONTAINER_CREDENTIALS_FULL_URI %s: URI did not specify a host",
                            full);
    hs = full + (https ? 8 : 7);
    if (*hs == '[') {
        he = strchr(hs, ']');
        he = he ? he + 1 : hs + strlen(hs);
    } else {
        he = hs + strcspn(hs, ":/?#");
    }
    if (he == hs)
        return dr_error_set(err, DR_ECONFIG, "AWS_CONTAINER_CREDENTIALS_FULL_URI %s: URI did not specify a host",
                            full);
    if (!https && !allowed_http_host(hs, (size_t)(he - hs)))
        return dr_error_set(err, DR_ECONFIG,
                            "AWS_CONTAINER_CREDENTIALS_FULL_URI %s: plain http is allowed only to a loopback or "
                            "container metadata address",
                            full);
    return dr_buf_puts(out, full) ? DR_ENOMEM : 0;
}

static int from_container(dr_aws *c, drs_creds *out, dr_error *err)
{
    dr_buf url = DR_BUF_INIT, auth = DR_BUF_INIT;
    drs_http_resp rs = {0};
    const char *hdrs[2] = {NULL, NULL};
    char *token = NULL;
    const char *tfile = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    int rc;

    if ((rc = drs_ecs_uri(&url, err)) != 0)
        goto out;
    if (tfile) {
        /* Re-read every time: the agent rotates the file. */
        FILE *f = fopen(tfile, "r");
        char buf[4096];
        size_t n;
        if (!f) {
            rc = dr_error_set(err, DR_ECREDENTIALS, "container credentials: cannot read the token file %s", tfile);
            goto out;
        }
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        token = strdup(buf);
        explicit_bzero(buf, sizeof(buf));
    } else if (env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
        token = strdup(env("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
    }
    if (token) {
        if (strpbrk(token, "\r\n")) {
            rc = dr_error_set(err, DR_ECREDENTIALS, "container credentials: the authorization token has a newline");
            goto out;
        }
        dr_buf_printf(&auth, "Authorization: %s", token);
        hdrs[0] = dr_buf_str(&auth);
    }
    for (int attempt = 1; attempt <= 3; attempt++) {
        drs_http_resp_free(&rs);
        rc = http_get(c, "GET", dr_buf_str(&url), hdrs, 2000, &rs, err);
        if (rc == 0 && rs.status == 200) {
            rc = creds_from_json(dr_buf_str(&rs.body), rs.body.len, "container", out, err);
            goto out;
        }
        if (rc == DR_ECANCELED || (rc == 0 && rs.status < 500))
            break;
        if (attempt < 3 && drs_limits_sleep_ms(1000, err) != 0) {
            rc = err->code;
            goto out;
        }
    }
    if (rc == 0)
        rc = dr_error_set(err, DR_ECREDENTIALS, "container credentials: HTTP %d from the credentials endpoint",
                          rs.status);
    else
        dr_error_prefix(err, "container credentials: ");
out:
    drs_http_resp_free(&rs);
    if (auth.data)
        explicit_bzero(auth.data, auth.len);
    dr_buf_free(&auth);
    dr_buf_free(&url);
    dr_secret_free(token);
    return rc;
}

/* --- instance metadata (IMDSv2, with the IMDSv1 fallback the SDKs keep) --- */

int drs_imds_endpoint(const drs_profiles *p, const char *profile, const char *endpoint_override,
                      const char *mode_override, dr_buf *out, dr_error *err)
{
    const char *ep = endpoint_override && *endpoint_override ? endpoint_override : env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    const char *mode;
    size_t n;

    if (!ep)
        ep = drs_profile_get(p, profile, "ec2_metadata_service_endpoint");
    if (ep && *ep) {
        for (const char *s = ep; *s; s++)
            if ((unsigned char)*s <= ' ')
                return dr_error_set(err, DR_ECONFIG, "instance metadata endpoint '%s': invalid uri character", ep);
        if (strncasecmp(ep, "http://", 7) != 0 && strncasecmp(ep, "https://", 8) != 0)
            return dr_error_set(err, DR_ECONFIG, "instance metadata endpoint '%s': not an http(s) URI", ep);
        n = strlen(ep);
        while (n > 0 && ep[n - 1] == '/')
            n--;
        return dr_buf_append(out, ep, n) ? DR_ENOMEM : 0;
    }
    mode = mode_override && *mode_override ? mode_override : env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    if (!mode)
        mode = drs_profile_get(p, profile, "ec2_metadata_service_endpoint_mode");
    if (!mode || strcasecmp(mode, "IPv4") == 0)
        return dr_buf_puts(out, "http://169.254.169.254") ? DR_ENOMEM : 0;
    if (strcasecmp(mode, "IPv6") == 0)
        return dr_buf_puts(out, "http://[fd00:ec2::254]") ? DR_ENOMEM : 0;
    return dr_error_set(err, DR_ECONFIG, "`%s` is not a valid endpoint mode", mode);
}

static int from_imds(dr_aws *c, drs_creds *out, dr_error *err)
{
    dr_buf base = DR_BUF_INIT, url = DR_BUF_INIT, tok_hdr = DR_BUF_INIT;
    drs_http_resp rs = {0};
    const char *put_hdrs[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
    const char *hdrs[2] = {NULL, NULL};
    char role[256];
    int v1_disabled = truthy(env("AWS_EC2_METADATA_V1_DISABLED")) ||
                      truthy(prof(c, c->profile, "ec2_metadata_v1_disabled"));
    int rc;

    if ((rc = drs_imds_endpoint(&c->profiles, c->profile, NULL, NULL, &base, err)) != 0)
        goto out;
    dr_buf_printf(&url, "%s/latest/api/token", dr_buf_str(&base));
    rc = http_get(c, "PUT", dr_buf_str(&url), put_hdrs, 1000, &rs, err);
    if (rc == 0 && rs.status == 200) {
        dr_buf_printf(&tok_hdr, "X-aws-ec2-metadata-token: %.*s", (int)strcspn(dr_buf_str(&rs.body), "\r\n"),
                      dr_buf_str(&rs.body));
        hdrs[0] = dr_buf_str(&tok_hdr);
    } else if (rc == DR_ECANCELED) {
        goto out;
    } else if (rc == DR_ENETWORK && !v1_disabled) {
        /* Nothing answers: not on EC2. */
        rc = dr_error_set(err, DR_ENOTFOUND, "instance metadata: %s", err->message);
        goto out;
    } else if ((rc == DR_ETIMEDOUT || rs.status == 403 || rs.status == 404 || rs.status == 405) && !v1_disabled) {
        drs_log(DR_LOG_DEBUG, "aws: instance metadata token refused (%s); trying IMDSv1",
                rc ? "timeout" : "HTTP status");
        rc = 0;
    } else {
        if (rc == 0)
            rc = dr_error_set(err, DR_ECREDENTIALS, "instance metadata: token request answered HTTP %d", rs.status);
        else
            dr_error_prefix(err, "instance metadata: ");
        goto out;
    }
    dr_buf_reset(&url);
    dr_buf_printf(&url, "%s/latest/meta-data/iam/security-credentials/", dr_buf_str(&base));
    drs_http_resp_free(&rs);
    rc = http_get(c, "GET", dr_buf_str(&url), hdrs, 1000, &rs, err);
    if (rc == 0 && rs.status != 200)
        rc = dr_error_set(err, rs.status == 404 ? DR_ENOTFOUND : DR_ECREDENTIALS,
                          "instance metadata: no instance role (HTTP %d)", rs.status);
    if (rc != 0)
        goto out;
    snprintf(role, sizeof(role), "%.*s", (int)strcspn(dr_buf_str(&rs.body), "\r\n"), dr_buf_str(&rs.body));
    if (!role[0] || strchr(role, '/') || strchr(role, '?')) {
        rc = dr_error_set(err, DR_ECREDENTIALS, "instance metadata: bad role name");
        goto out;
    }
    dr_buf_puts(&url, role);
    drs_http_resp_free(&rs);
    rc = http_get(c, "GET", dr_buf_str(&url), hdrs, 1000, &rs, err);
    if (rc == 0 && rs.status != 200)
        rc = dr_error_set(err, DR_ECREDENTIALS, "instance metadata: role credentials answered HTTP %d", rs.status);
    if (rc == 0)
        rc = creds_from_json(dr_buf_str(&rs.body), rs.body.len, "instance metadata", out, err);
out:
    drs_http_resp_free(&rs);
    if (tok_hdr.data)
        explicit_bzero(tok_hdr.data, tok_hdr.len);
    dr_buf_free(&tok_hdr);
    dr_buf_free(&url);
    dr_buf_free(&base);
    return rc;
}

/* --- STS --- */

static int creds_from_sts(const dr_doc *d, const char *result, const char *source, drs_creds *out, dr_error *err)
{
    char path[96];
    const dr_node *cr;
    const char *ak, *sk, *tok, *exp_s;
    double exp = 0;

    snprintf(path, sizeof(path), "%s.Credentials", result);
    cr = dr_node_get(dr_doc_root(d), path);
    ak = dr_node_str(cr, "AccessKeyId");
    sk = dr_node_str(cr, "SecretAccessKey");
    tok = dr_node_str(cr, "SessionToken");
    exp_s = dr_node_str(cr, "Expiration");
    if (!ak || !sk || !tok)
        return dr_error_set(err, DR_ECREDENTIALS, "%s: no credentials in the STS answer", source);
    if (exp_s && dr_time_parse(exp_s, &exp) != 0)
        return dr_error_set(err, DR_ECREDENTIALS, "%s: bad Expiration in the STS answer", source);
    if (creds_set(out, ak, sk, tok, exp, source) != 0)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    return 0;
}

static int assume_role(dr_aws *c, const drs_creds *src, const char *role_arn, const char *external_id,
                       const char *session_name, const char *duration, drs_creds *out, dr_error *err)
{
    dr_buf form = DR_BUF_INIT;
    dr_doc *d = NULL;
    int rc;

    dr_aws_form_add(&form, "RoleArn", role_arn);
    dr_aws_form_add(&form, "RoleSessionName", session_name ? session_name : c->role_session_name);
    if (external_id && *external_id)
        dr_aws_form_add(&form, "ExternalId", external_id);
    if (duration && *duration)
        dr_aws_form_add(&form, "DurationSeconds", duration);
    if (form.failed) {
        dr_buf_free(&form);
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    }
    rc = drs_query(c, "sts", "AssumeRole", "2011-06-15", form.data, DRS_AUTH_GIVEN, src, &d, err);
    if (rc == 0)
        rc = creds_from_sts(d, "AssumeRoleResult", "assume-role", out, err);
    else
        dr_error_prefix(err, "assuming role %s: ", role_arn);
    if (rc == 0)
        drs_log(DR_LOG_DEBUG, "aws: assumed role %s (session %s)", role_arn,
                session_name ? session_name : c->role_session_name);
    dr_doc_free(d);
    dr_buf_free(&form);
    return rc;
}

static int web_identity(dr_aws *c, const char *token_file, const char *role_arn, const char *session_name,
                        drs_creds *out, dr_error *err)
{
    dr_buf form = DR_BUF_INIT;
    dr_doc *d = NULL;
    char *token = NULL;
    int rc;

    /* Read on every refresh: the token file is rotated by the platform. */
    {
        FILE *f = fopen(token_file, "r");
        dr_buf t = DR_BUF_INIT;
        char chunk[4096];
        size_t n;
        if (!f)
            return dr_error_set(err, DR_ECREDENTIALS, "web identity: cannot read the token file %s", token_file);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            dr_buf_append(&t, chunk, n);
        fclose(f);
        explicit_bzero(chunk, sizeof(chunk));
        token = dr_buf_steal(&t);
        if (!token)
            return dr_error_set(err, DR_ENOMEM, "out of memory");
        token[strcspn(token, "\r\n")] = '\0';
    }
    if (!*token) {
        dr_secret_free(token);
        return dr_error_set(err, DR_ECREDENTIALS, "web identity: the token file %s is empty", token_file);
    }
    dr_aws_form_add(&form, "RoleArn", role_arn);
    dr_aws_form_add(&form, "RoleSessionName", session_name ? session_name : c->role_session_name);
    dr_aws_form_add(&form, "WebIdentityToken", token);
    dr_secret_free(token);
    if (form.failed) {
        dr_buf_free(&form);
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    }
    /* AssumeRoleWithWebIdentity is unsigned: the token is the proof. */
    rc = drs_query(c, "sts", "AssumeRoleWithWebIdentity", "2011-06-15", form.data, DRS_AUTH_ANONYMOUS, NULL, &d, err);
    if (rc == 0)
        rc = creds_from_sts(d, "AssumeRoleWithWebIdentityResult", "web identity", out, err);
    else
        dr_error_prefix(err, "web identity for %s: ", role_arn);
    dr_doc_free(d);
    explicit_bzero(form.data, form.len);
    dr_buf_free(&form);
    return rc;
}

/* --- the chain --- */

static int profile_role(dr_aws *c, const char *profile, int depth, drs_creds *out, dr_error *err)
{
    const char *role = prof(c, profile, "role_arn");
    const char *src = prof(c, profile, "source_profile"), *cs = prof(c, profile, "credential_source");
    const char *wif = prof(c, profile, "web_identity_token_file");
    const char *session = prof(c, profile, "role_session_name");
    drs_creds base = {0};
    int rc;

    if (wif && *wif)
        return web_identity(c, wif, role, session, out, err);
    if (src && cs)
        return dr_error_set(err, DR_ECONFIG, "profile %s: both source_profile and credential_source are set",
                            profile);
    if (src) {
        if (depth >= MAX_ROLE_DEPTH)
            return dr_error_set(err, DR_ECONFIG, "profile %s: source_profile chain too long or circular", profile);
        if (!drs_profiles_find(&c->profiles, DRS_SECTION_PROFILE, src))
            return dr_error_set(err, DR_ECONFIG, "profile %s: source_profile %s not found", profile, src);
        if (strcmp(src, profile) != 0 && prof(c, src, "role_arn"))
            rc = profile_role(c, src, depth + 1, &base, err);
        else if ((rc = from_profile_keys(c, src, &base)) != 0)
            rc = dr_error_set(err, DR_ECREDENTIALS, "profile %s: source_profile %s has no keys", profile, src);
    } else if (cs) {
        if (strcmp(cs, "Environment") == 0) {
            if ((rc = from_env(&base)) == DR_ENOTFOUND)
                rc = dr_error_set(err, DR_ECREDENTIALS, "profile %s: credential_source Environment: no keys in "
                                                        "the environment", profile);
        } else if (strcmp(cs, "Ec2InstanceMetadata") == 0) {
            rc = from_imds(c, &base, err);
        } else if (strcmp(cs, "EcsContainer") == 0) {
            rc = from_container(c, &base, err);
        } else {
            rc = dr_error_set(err, DR_ECONFIG, "profile %s: unknown credential_source %s", profile, cs);
        }
    } else {
        return dr_error_set(err, DR_ECONFIG, "profile %s: role_arn needs source_profile or credential_source",
                            profile);
    }
    if (rc == 0)
        rc = assume_role(c, &base, role, prof(c, profile, "external_id"), session,
                         prof(c, profile, "duration_seconds"), out, err);
    drs_creds_clear(&base);
    if (rc == DR_ENOTFOUND)
        rc = err->code = DR_ECREDENTIALS;
    return rc;
}

static int resolve_base(dr_aws *c, drs_creds *out, dr_error *err)
{
    const char *p = c->profile;
    int rc;

    if (!c->profile_explicit && (rc = from_env(out)) != DR_ENOTFOUND)
        return rc ? dr_error_set(err, rc, "out of memory") : 0;
    if (prof(c, p, "role_arn"))
        return profile_role(c, p, 0, out, err);
    if (env("AWS_WEB_IDENTITY_TOKEN_FILE") && env("AWS_ROLE_ARN"))
        return web_identity(c, env("AWS_WEB_IDENTITY_TOKEN_FILE"), env("AWS_ROLE_ARN"), env("AWS_ROLE_SESSION_NAME"),
                            out, err);
    if ((rc = from_profile_keys(c, p, out)) != DR_ENOTFOUND)
        return rc ? dr_error_set(err, rc, "out of memory") : 0;
    if (env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || env("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
        return from_container(c, out, err);
    if (!truthy(env("AWS_EC2_METADATA_DISABLED"))) {
        dr_error limits;
        rc = from_imds(c, out, err);
        /* Nothing answering at the metadata address means "not on EC2", not a failure of its own. */
        if (rc != DR_ENOTFOUND && rc != DR_ENETWORK && (rc != DR_ETIMEDOUT || drs_limits_check(&limits) != 0))
            return rc;
        drs_log(DR_LOG_DEBUG, "aws: no instance metadata credentials (%s)", err->message);
    }
    return dr_error_set(err, DR_ECREDENTIALS,
                        "no AWS credentials: none in the environment, in profile '%s' of the shared files, from "
                        "web identity, a container endpoint or instance metadata",
                        p);
}

static int resolve(dr_aws *c, drs_creds *out, dr_error *err)
{
    drs_creds base = {0};
    int rc = resolve_base(c, &base, err);

    if (rc != 0)
        return rc;
    if (!c->role_arn) {
        *out = base;
        return 0;
    }
    rc = assume_role(c, &base, c->role_arn, c->external_id, c->role_session_name, NULL, out, err);
    drs_creds_clear(&base);
    return rc;
}

int drs_client_creds(dr_aws *c, drs_creds *out, dr_error *err)
{
    double now = dr_now();
    drs_creds fresh = {0};
    int rc = 0;

    pthread_mutex_lock(&c->creds_mu);
    if (c->have_creds && (c->creds.expiration == 0 || c->creds.expiration - now > REFRESH_BEFORE_S))
        goto copy;
    rc = resolve(c, &fresh, err);
    if (rc == 0) {
        drs_creds_clear(&c->creds);
        c->creds = fresh;
        c->have_creds = 1;
        if (c->creds.expiration > 0)
            drs_log(DR_LOG_DEBUG, "aws: credentials from %s, valid for %.0f min", c->creds.source,
                    (c->creds.expiration - now) / 60.0);
        else
            drs_log(DR_LOG_DEBUG, "aws: credentials from %s", c->creds.source);
    } else if (c->have_creds && c->creds.expiration > now + 10) {
        drs_log(DR_LOG_WARN, "aws: refreshing credentials failed (%s); the current ones stay in use until they expire",
                err->message);
        rc = 0;
    } else {
        if (rc != DR_ECANCELED && rc != DR_ETIMEDOUT && rc != DR_ENOMEM && rc != DR_ECONFIG)
            err->code = rc = DR_ECREDENTIALS;
        goto out;
    }
copy:
    if (drs_creds_copy(out, &c->creds) != 0)
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
out:
    pthread_mutex_unlock(&c->creds_mu);
    return rc;
}
