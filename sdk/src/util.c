/* util.c: growable strings, JSON building, time and duration parsing, UUIDs and secret files. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "dr/util.h"

void dr_buf_init(dr_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void dr_buf_free(dr_buf *b)
{
    if (!b)
        return;
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void dr_buf_reset(dr_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *dr_buf_steal(dr_buf *b)
{
    char *s;

    if (b->failed) {
        dr_buf_free(b);
        return NULL;
    }
    s = b->data ? b->data : strdup("");
    memset(b, 0, sizeof(*b));
    return s;
}

const char *dr_buf_str(const dr_buf *b)
{
    return b->data ? b->data : "";
}

static int buf_reserve(dr_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->failed)
        return DR_ENOMEM;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return DR_ENOMEM;
    }
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return DR_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int dr_buf_append(dr_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return DR_ENOMEM;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int dr_buf_puts(dr_buf *b, const char *s)
{
    return dr_buf_append(b, s, strlen(s));
}

int dr_buf_printf(dr_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return DR_EINVAL;
    if (buf_reserve(b, (size_t)n) != 0)
        return DR_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int dr_buf_json_str(dr_buf *b, const char *s)
{
    dr_buf_puts(b, "\"");
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            dr_buf_printf(b, "\\%c", ch);
        else if (ch < 0x20)
            dr_buf_printf(b, "\\u%04x", ch);
        else
            dr_buf_append(b, s, 1);
    }
    dr_buf_puts(b, "\"");
    return b->failed ? DR_ENOMEM : 0;
}

int dr_buf_xml_text(dr_buf *b, const char *s)
{
    int rc = 0;

    for (; *s && rc == 0; s++) {
        switch (*s) {
        case '&': rc = dr_buf_puts(b, "&amp;"); break;
        case '<': rc = dr_buf_puts(b, "&lt;"); break;
        case '>': rc = dr_buf_puts(b, "&gt;"); break;
        case '"': rc = dr_buf_puts(b, "&quot;"); break;
        case '\'': rc = dr_buf_puts(b, "&apos;"); break;
        default: rc = dr_buf_append(b, s, 1); break;
        }
    }
    return rc;
}

int dr_buf_xml_elem(dr_buf *b, const char *name, const char *text)
{
    if (!text)
        return 0;
    dr_buf_printf(b, "<%s>", name);
    dr_buf_xml_text(b, text);
    return dr_buf_printf(b, "</%s>", name);
}

int dr_buf_uri_encode(dr_buf *b, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;

    for (; *s && rc == 0; s++) {
        unsigned char c = (unsigned char)*s;
        /* ASCII ranges, not isalnum(): under a host locale isalnum() may accept bytes >= 0x80 */
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~' || (keep_slash && c == '/')) {
            rc = dr_buf_append(b, (const char *)&c, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = dr_buf_append(b, esc, 3);
        }
    }
    return rc;
}

char *dr_json_pack(dr_error *err, const char *fmt, ...)
{
    json_error_t jerr;
    json_t *v;
    char *s;
    va_list ap;

    va_start(ap, fmt);
    v = json_vpack_ex(&jerr, 0, fmt, ap);
    va_end(ap);
    if (!v) {
        dr_error_set(err, DR_EINVAL, "building JSON: %s", jerr.text);
        return NULL;
    }
    s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (!s)
        dr_error_set(err, DR_ENOMEM, "building JSON: out of memory");
    return s;
}

double dr_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t dr_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dr_time_format(double epoch, int millis, char *out, size_t outlen)
{
    time_t t = (time_t)floor(epoch);
    struct tm tm;
    char base[32];

    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    if (millis) {
        int ms = (int)((epoch - floor(epoch)) * 1000.0);
        if (ms > 999)
            ms = 999;
        snprintf(out, outlen, "%s.%03dZ", base, ms);
    } else {
        snprintf(out, outlen, "%sZ", base);
    }
}

static int parse_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

int dr_time_parse(const char *s, double *epoch)
{
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    double frac = 0.0;
    long offset = 0;
    const char *p = s;

    if (!s)
        return DR_EPARSE;
    if (parse_digits(&p, 4, &y) || *p++ != '-' || parse_digits(&p, 2, &mo) || *p++ != '-' ||
        parse_digits(&p, 2, &d))
        return DR_EPARSE;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (parse_digits(&p, 2, &h) || *p++ != ':' || parse_digits(&p, 2, &mi))
            return DR_EPARSE;
        if (*p == ':') {
            p++;
            if (parse_digits(&p, 2, &sec))
                return DR_EPARSE;
        }
        if (*p == '.') {
            double scale = 0.1;
            p++;
            if (!isdigit((unsigned char)*p))
                return DR_EPARSE;
            while (isdigit((unsigned char)*p)) {
                frac += (*p - '0') * scale;
                scale /= 10.0;
                p++;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om = 0;
            p++;
            if (parse_digits(&p, 2, &oh))
                return DR_EPARSE;
            if (*p == ':')
                p++;
            if (*p && parse_digits(&p, 2, &om))
                return DR_EPARSE;
            offset = sign * (oh * 3600L + om * 60L);
        }
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return DR_EPARSE;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *epoch = (double)timegm(&tm) - (double)offset + frac;
    return 0;
}

/* The length of the valid UTF-8 sequence at p (RFC 3629: no overlong forms, surrogates or code points above
 * U+10FFFF), 0 when there is none. */
static size_t utf8_seq(const unsigned char *p)
{
    size_t n, i;
    unsigned cp;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2, cp = p[0] & 0x1fu;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3, cp = p[0] & 0x0fu;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4, cp = p[0] & 0x07u;
    else
        return 0;
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void dr_utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;

    while (p && *p) {
        size_t n = utf8_seq(p);
        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
}

int dr_duration_parse(const char *s, double *seconds)
{
    double total = 0.0;
    const char *p = s;
    int parts = 0;

    if (!s || !*s)
        return DR_EINVAL;
    while (*p) {
        char num[32], *end;
        size_t len = strspn(p, "0123456789."), dots = 0;
        double v, mult;

        /* decimal digits with at most one point: no sign, exponent, hex, inf or nan */
        for (size_t i = 0; i < len; i++)
            dots += p[i] == '.';
        if (len == 0 || len >= sizeof(num) || dots > 1 || (len == 1 && dots == 1))
            return DR_EINVAL;
        memcpy(num, p, len);
        num[len] = '\0';
        errno = 0;
        v = strtod(num, &end);
        if (*end != '\0' || errno || !isfinite(v))
            return DR_EINVAL;
        p += len;
        if (strncmp(p, "ms", 2) == 0) {
            mult = 0.001;
            p += 2;
        } else if (*p == 's') {
            mult = 1;
            p++;
        } else if (*p == 'm') {
            mult = 60;
            p++;
        } else if (*p == 'h') {
            mult = 3600;
            p++;
        } else if (*p == 'd') {
            mult = 86400;
            p++;
        } else if (*p == '\0' && parts == 0) {
            mult = 1; /* a plain number of seconds */
        } else {
            return DR_EINVAL;
        }
        total += v * mult;
        parts++;
        if (total > DR_DURATION_MAX)
            return DR_EINVAL;
    }
    *seconds = total;
    return 0;
}

void dr_duration_format(double seconds, char *out, size_t outlen)
{
    long s;

    if (seconds < 0)
        seconds = 0;
    if (seconds < 1.0) {
        snprintf(out, outlen, "%.0fms", seconds * 1000.0);
        return;
    }
    if (seconds < 60.0 && seconds != floor(seconds)) {
        snprintf(out, outlen, "%.1fs", seconds);
        return;
    }
    s = (long)llround(seconds);
    if (s < 60)
        snprintf(out, outlen, "%lds", s);
    else if (s < 3600)
        snprintf(out, outlen, s % 60 ? "%ldm%lds" : "%ldm", s / 60, s % 60);
    else if (s % 3600 == 0)
        snprintf(out, outlen, "%ldh", s / 3600);
    else
        snprintf(out, outlen, "%ldh%ldm", s / 3600, (s % 3600) / 60);
}

void dr_uuid4(char *out)
{
    unsigned char r[16];
    size_t got = 0;

    while (got < sizeof(r)) {
        ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* getrandom cannot fail on Linux >= 3.17 once the pool is ready; fall back to time-based noise */
            for (size_t i = got; i < sizeof(r); i++)
                r[i] = (unsigned char)(rand() ^ (int)dr_mono_ms());
            break;
        }
        got += (size_t)n;
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

int dr_secret_read_file(const char *path, char **out, dr_error *err)
{
    struct stat st;
    char buf[4096];
    ssize_t n;
    size_t len;
    int fd, rc = 0;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return dr_error_set(err, errno == EACCES ? DR_EDENIED : DR_EIO, "secret file %s: %s", path,
                            strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = dr_error_set(err, DR_EIO, "secret file %s: not a regular file", path);
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        rc = dr_error_set(err, DR_EDENIED,
                          "secret file %s: mode %04o is open to group or others; chmod 600 it", path,
                          (unsigned)(st.st_mode & 07777));
        goto out;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0) {
        rc = dr_error_set(err, DR_EIO, "secret file %s: %s", path, strerror(errno));
        goto out;
    }
    buf[n] = '\0';
    len = strcspn(buf, "\r\n");
    buf[len] = '\0';
    *out = strdup(buf);
    if (!*out)
        rc = dr_error_set(err, DR_ENOMEM, "secret file %s: out of memory", path);
out:
    explicit_bzero(buf, sizeof(buf));
    close(fd);
    return rc;
}

void dr_secret_free(char *secret)
{
    if (!secret)
        return;
    explicit_bzero(secret, strlen(secret));
    free(secret);
}
