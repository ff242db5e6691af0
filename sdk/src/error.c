/* error.c: the caller-owned error struct: set, prefix, compare, describe. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dr/error.h"

void dr_error_clear(dr_error *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}

int dr_error_set(dr_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

int dr_error_prefix(dr_error *err, const char *fmt, ...)
{
    char prefix[256];
    size_t plen, mlen, cap;
    va_list ap;
    int n;

    if (!err)
        return DR_EINVAL;
    va_start(ap, fmt);
    n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    if (n < 0)
        return err->code;
    cap = sizeof(err->message) - 1;
    plen = strlen(prefix);
    if (plen > cap)
        plen = cap;
    mlen = strnlen(err->message, cap);
    if (plen + mlen > cap)
        mlen = cap - plen; /* keep the prefix, truncate the old message */
    memmove(err->message + plen, err->message, mlen);
    memcpy(err->message, prefix, plen);
    err->message[plen + mlen] = '\0';
    return err->code;
}

int dr_error_is(const dr_error *err, const char *aws_code)
{
    return err && aws_code && strcmp(err->aws_code, aws_code) == 0;
}

const char *dr_strerror(int code)
{
    switch (code) {
    case 0: return "success";
    case DR_EINVAL: return "invalid argument";
    case DR_ENOMEM: return "out of memory";
    case DR_EIO: return "I/O error";
    case DR_ENETWORK: return "network error";
    case DR_ETIMEDOUT: return "timed out";
    case DR_ECANCELED: return "cancelled";
    case DR_EAWS: return "AWS error";
    case DR_ENOTFOUND: return "not found";
    case DR_ECONFIG: return "configuration error";
    case DR_EPLUGIN: return "plugin error";
    case DR_ESTATE: return "unexpected state";
    case DR_EUNSUPPORTED: return "not supported";
    case DR_EDENIED: return "access denied";
    case DR_EPARSE: return "parse error";
    case DR_EBUSY: return "busy";
    case DR_ECREDENTIALS: return "no credentials";
    default: return "unknown error";
    }
}
