/* retry.c: which AWS answers are retried, how long to wait, and the per-client retry quota. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "retry.h"

void drs_quota_init(drs_retry_quota *q)
{
    pthread_mutex_init(&q->mu, NULL);
    q->tokens = DRS_RETRY_QUOTA;
}

void drs_quota_destroy(drs_retry_quota *q)
{
    pthread_mutex_destroy(&q->mu);
}

int drs_quota_acquire(drs_retry_quota *q, drs_retry_kind kind)
{
    int cost = kind == DRS_RETRY_TIMEOUT ? DRS_RETRY_TIMEOUT_COST : DRS_RETRY_COST;

    pthread_mutex_lock(&q->mu);
    if (q->tokens < cost)
        cost = 0;
    else
        q->tokens -= cost;
    pthread_mutex_unlock(&q->mu);
    return cost;
}

void drs_quota_release(drs_retry_quota *q, int last_retry_cost)
{
    pthread_mutex_lock(&q->mu);
    q->tokens += last_retry_cost > 0 ? last_retry_cost : DRS_RETRY_NO_RETRY_REFUND;
    if (q->tokens > DRS_RETRY_QUOTA)
        q->tokens = DRS_RETRY_QUOTA;
    pthread_mutex_unlock(&q->mu);
}

int drs_quota_tokens(drs_retry_quota *q)
{
    int t;

    pthread_mutex_lock(&q->mu);
    t = q->tokens;
    pthread_mutex_unlock(&q->mu);
    return t;
}

static int in_list(const char *code, const char *const *list)
{
    if (!code || !*code)
        return 0;
    for (; *list; list++)
        if (strcmp(code, *list) == 0)
            return 1;
    return 0;
}

int drs_is_throttle_code(const char *code)
{
    static const char *const codes[] = {
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
        "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException", NULL};
    return in_list(code, codes);
}

int drs_is_transient_code(const char *code)
{
    /* The modeled retryable errors of the services used here are in this list too. */
    static const char *const codes[] = {"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
                                        "IDPCommunicationError", "ReplicatedWriteConflictException", NULL};
    return in_list(code, codes);
}

int drs_is_skew_code(const char *code)
{
    static const char *const codes[] = {"InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure",
                                        "RequestTimeTooSkewed", "AccessDeniedException", NULL};
    return in_list(code, codes);
}

drs_retry_kind drs_retry_classify(int status, const char *code, double skew_s)
{
    if (drs_is_throttle_code(code) || status == 429)
        return DRS_RETRY_THROTTLE;
    if (drs_is_transient_code(code))
        return DRS_RETRY_TRANSIENT;
    if (status == 500 || status == 502 || status == 503 || status == 504)
        return DRS_RETRY_TRANSIENT;
    if (drs_is_skew_code(code) && fabs(skew_s) > DRS_SKEW_RETRY_THRESHOLD_S)
        return DRS_RETRY_TRANSIENT;
    return DRS_RETRY_NONE;
}

double drs_backoff_s(int attempt, double base_s, double rnd)
{
    double cap = base_s * ldexp(1.0, attempt > 1 ? (attempt - 1 > 30 ? 30 : attempt - 1) : 0);

    if (cap > DRS_RETRY_MAX_BACKOFF_S)
        cap = DRS_RETRY_MAX_BACKOFF_S;
    return rnd * cap;
}

double drs_random01(void)
{
    uint64_t r = 0;

    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint64_t)rand();
    return (double)(r >> 11) / 9007199254740992.0; /* 53 bits */
}
