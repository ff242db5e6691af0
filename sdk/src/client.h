/* client.h: SDK-internal view of a dr_aws client and its responses, shared by the send loop, credentials and helpers. */
#ifndef DRS_CLIENT_H
#define DRS_CLIENT_H

/*
 * Ownership: a dr_aws owns everything below and is freed by dr_aws_free().
 * drs_creds values own their strings; drs_creds_clear() wipes and frees them.
 */

#include <pthread.h>
#include <stdatomic.h>

#include "dr/aws.h"
#include "endpoints.h"
#include "http.h"
#include "profile.h"
#include "retry.h"

typedef struct drs_creds {
    char *access_key;
    char *secret_key; /* secret: never logged */
    char *token;      /* secret: never logged; NULL for long-term keys */
    double expiration; /* epoch seconds, 0 when they do not expire */
    const char *source; /* static text for logs: "environment", "profile", "assume-role", ... */
} drs_creds;

struct dr_aws {
    char *region;
    char *profile;          /* active profile name */
    int profile_explicit;   /* named in code: the environment keys are skipped, as botocore does */
    char *role_arn;
    char *external_id;
    char *role_session_name;
    char *endpoint_url;
    int s3_path_style;
    int max_attempts;
    int network_max_attempts; /* 0: max_attempts (see dr_aws_config) */
    int64_t connect_timeout_ms;
    int64_t attempt_timeout_ms;
    double backoff_base_s;  /* 1 s in the standard mode; tests shorten it */
    double backoff_rnd;     /* < 0: full jitter; tests fix it */
    drs_profiles profiles;
    drs_http *http;
    drs_retry_quota quota;
    _Atomic long long skew_ms; /* server clock minus ours */
    pthread_mutex_t creds_mu;
    drs_creds creds;        /* cached; guarded by creds_mu */
    int have_creds;
    pthread_mutex_t account_mu;
    char account_id[32];
    /*
     * A client that may be leaving its region (network_max_attempts > 0) remembers, for the rest of
     * its life (one run), the services there that gave no HTTP answer, and calls them no more. The
     * first call to a service is its probe: concurrent calls to it wait for the probe's outcome.
     */
    pthread_mutex_t down_mu;
    pthread_cond_t down_cv;
    char down[8][32];
    int down_state[8]; /* 1 probing, 2 answered, 3 no answer */
    int n_down;
};

struct dr_aws_response {
    drs_http_resp http;
    dr_doc *doc;
    dr_aws_protocol protocol;
};

/* How a request is authenticated. */
typedef enum drs_auth {
    DRS_AUTH_CLIENT = 0,   /* the client's credentials chain */
    DRS_AUTH_GIVEN = 1,    /* the credentials passed in */
    DRS_AUTH_ANONYMOUS = 2 /* unsigned (STS AssumeRoleWithWebIdentity) */
} drs_auth;

int drs_send(dr_aws *c, const dr_aws_request *req, drs_auth auth, const drs_creds *creds, dr_aws_response **out,
             dr_error *err);
/* The body document of a response, taken from it (caller frees). */
dr_doc *drs_response_take_doc(dr_aws_response *r);
/* A Query-protocol call with explicit authentication (credential providers use it). */
int drs_query(dr_aws *c, const char *service, const char *op, const char *version, const char *form, drs_auth auth,
              const drs_creds *creds, dr_doc **out, dr_error *err);

/* Credentials (credentials.c). */
void drs_creds_clear(drs_creds *c);
int drs_creds_copy(drs_creds *dst, const drs_creds *src);
/* The client's current credentials (resolved, refreshed before they expire); a copy the caller clears. */
int drs_client_creds(dr_aws *c, drs_creds *out, dr_error *err);
/* Exposed for tests: the ECS URL from the environment, and the IMDS endpoint from settings. */
int drs_ecs_uri(dr_buf *out, dr_error *err);
int drs_imds_endpoint(const drs_profiles *p, const char *profile, const char *endpoint_override,
                      const char *mode_override, dr_buf *out, dr_error *err);

/* Test hooks. */
void drs_aws_set_backoff_base(dr_aws *c, double seconds);
void drs_aws_set_backoff_jitter(dr_aws *c, double fixed_rnd); /* < 0: random */
int drs_aws_quota_tokens(dr_aws *c);
double drs_aws_skew_s(dr_aws *c);

#endif /* DRS_CLIENT_H */
