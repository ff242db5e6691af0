/* dr/error.h: the caller-owned error struct and negative error codes shared by host, SDK and plugins. */
#ifndef DR_ERROR_H
#define DR_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Error codes. Every function of the SDK and every plugin hook returns 0 on
 * success or one of these negative values, and fills the caller's dr_error.
 */
enum {
    DR_OK_CODE = 0,
    DR_EINVAL = -1,       /* bad argument or bad input data */
    DR_ENOMEM = -2,       /* allocation failed */
    DR_EIO = -3,          /* local I/O error (file, pipe) */
    DR_ENETWORK = -4,     /* connection refused, reset, DNS failure, TLS failure */
    DR_ETIMEDOUT = -5,    /* a deadline passed */
    DR_ECANCELED = -6,    /* the run was cancelled (SIGINT/SIGTERM) */
    DR_EAWS = -7,         /* AWS answered with an error: see http_status and aws_code */
    DR_ENOTFOUND = -8,    /* the resource does not exist (also set for AWS not-found codes) */
    DR_ECONFIG = -9,      /* configuration error */
    DR_EPLUGIN = -10,     /* plugin refused or misbehaved */
    DR_ESTATE = -11,      /* the resource is not in a state that allows the action */
    DR_EUNSUPPORTED = -12,/* not implemented by this plugin or service */
    DR_EDENIED = -13,     /* access denied (AWS AccessDenied, file permissions) */
    DR_EPARSE = -14,      /* a response or file could not be parsed */
    DR_EBUSY = -15,       /* held by someone else (run lock) */
    DR_ECREDENTIALS = -16 /* no usable AWS credentials */
};

/*
 * Caller-owned error details. The caller allocates it (usually on the
 * stack), zeroes it with dr_error_clear(), and passes it down; the callee
 * fills it when it returns a negative code. It holds no pointers, so there
 * is nothing to free. Its layout is part of the plugin ABI: new members may
 * only be taken from `reserved`.
 */
typedef struct dr_error {
    int code;               /* the negative code returned, 0 when clear */
    int http_status;        /* AWS errors: HTTP status, else 0 */
    int retryable;          /* non-zero when a retry could succeed */
    int attempts;           /* AWS errors: attempts made */
    char aws_code[64];      /* AWS error code ("ResourceNotFoundException"), or "" */
    char request_id[80];    /* AWS request id, or "" */
    char message[512];      /* one human-readable line, never a secret */
    char reserved[64];
} dr_error;

/* Set every member to zero. */
void dr_error_clear(dr_error *err);

/* Fill err with code and a printf-style message; returns code so callers can `return dr_error_set(...)`. */
int dr_error_set(dr_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prefix the existing message with a printf-style context ("table users: "); returns err->code. */
int dr_error_prefix(dr_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Non-zero when err carries the AWS error code `aws_code` (exact match). */
int dr_error_is(const dr_error *err, const char *aws_code);

/* A static name for a code: "DR_ETIMEDOUT" -> "timed out". */
const char *dr_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* DR_ERROR_H */
