/* retry.h: SDK-internal AWS standard retry mode: classification, backoff with full jitter, retry quota, clock skew. */
#ifndef DRS_RETRY_H
#define DRS_RETRY_H

#include <pthread.h>

/* Standard-mode constants (botocore retries/standard.py, aws-sdk-go-v2 retry/standard.go). */
#define DRS_RETRY_MAX_ATTEMPTS 3
#define DRS_RETRY_QUOTA 500
#define DRS_RETRY_COST 5
#define DRS_RETRY_TIMEOUT_COST 10
#define DRS_RETRY_NO_RETRY_REFUND 1
#define DRS_RETRY_MAX_BACKOFF_S 20.0
#define DRS_SKEW_RETRY_THRESHOLD_S 240.0

typedef enum drs_retry_kind {
    DRS_RETRY_NONE = 0,
    DRS_RETRY_TRANSIENT = 1, /* 5xx, transient codes, connection errors, clock skew */
    DRS_RETRY_THROTTLE = 2,
    DRS_RETRY_TIMEOUT = 3    /* the attempt timed out: a costlier retry */
} drs_retry_kind;

typedef struct drs_retry_quota {
    pthread_mutex_t mu;
    int tokens;
} drs_retry_quota;

void drs_quota_init(drs_retry_quota *q);
void drs_quota_destroy(drs_retry_quota *q);
/* Take the cost of a retry; returns the cost taken, or 0 when the quota is exhausted (do not retry). */
int drs_quota_acquire(drs_retry_quota *q, drs_retry_kind kind);
/* After a success: refund the last retry's cost, or DRS_RETRY_NO_RETRY_REFUND when there was none. */
void drs_quota_release(drs_retry_quota *q, int last_retry_cost);
int drs_quota_tokens(drs_retry_quota *q);

int drs_is_throttle_code(const char *code);
int drs_is_transient_code(const char *code);
int drs_is_skew_code(const char *code);
/* Classify an AWS error answer (status + code); skew_s is the client's current clock-skew estimate. */
drs_retry_kind drs_retry_classify(int status, const char *code, double skew_s);

/* Full-jitter exponential backoff for retry number `attempt` (1-based), with rnd in [0,1). */
double drs_backoff_s(int attempt, double base_s, double rnd);
/* A uniform random number in [0,1). */
double drs_random01(void);

#endif /* DRS_RETRY_H */
