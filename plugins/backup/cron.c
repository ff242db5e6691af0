/* cron.c: AWS cron schedule expressions for the backup plugin: parse, next run, longest interval between runs. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

#define DAY_SECONDS 86400

typedef struct field_spec {
    const char *name;          /* for messages */
    int lo, hi;
    const char *const *names;  /* names[i] is value lo + i; NULL: numbers only */
    const char *what;          /* "a month" */
} field_spec;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

enum { F_MIN, F_HOUR, F_DOM, F_MONTH, F_DOW, F_YEAR, F_COUNT };

static const field_spec fields[F_COUNT] = {
    {"minutes", 0, 59, NULL, "a minute (0-59)"},
    {"hours", 0, 23, NULL, "an hour (0-23)"},
    {"day-of-month", 1, 31, NULL, "a day of the month (1-31)"},
    {"month", 1, 12, month_names, "a month (1-12 or JAN-DEC)"},
    {"day-of-week", 1, 7, dow_names, "a day of the week (1-7 or SUN-SAT)"},
    {"year", BK_CRON_FIRST_YEAR, BK_CRON_LAST_YEAR, NULL, "a year (1970-2199)"},
};

/* ---- dates ---- */

int64_t bk_days_from_civil(int y, int m, int d)
{
    /* Days since 1970-01-01, counting in 400-year eras that start on March 1st. */
    int64_t yy = (int64_t)y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

void bk_civil_from_days(int64_t days, int *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dim[m - 1];
}

/* 0 = Sunday .. 6 = Saturday */
static int weekday0(int64_t days)
{
    return (int)(((days % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* ---- parsing ---- */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -1;
}

/* A value of the field: digits, or a name when the field has names. */
static int parse_value(const field_spec *f, const char *s, size_t n, int *v, char *why, size_t whylen)
{
    if (n == 0)
        return fail(why, whylen, "%s: empty value in '%.*s'", f->name, (int)n, s);
    if (isdigit((unsigned char)s[0])) {
        long x = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)s[i]) || x > 100000)
                return fail(why, whylen, "%s: '%.*s' is not a number", f->name, (int)n, s);
            x = x * 10 + (s[i] - '0');
        }
        if (x < f->lo || x > f->hi) {
            snprintf(why, whylen, "%s: %ld is not %s", f->name, x, f->what);
            return -1;
        }
        *v = (int)x;
        return 0;
    }
    if (f->names && n == 3) {
        for (int i = 0; i <= f->hi - f->lo; i++) {
            if (toupper((unsigned char)s[0]) == f->names[i][0] && toupper((unsigned char)s[1]) == f->names[i][1] &&
                toupper((unsigned char)s[2]) == f->names[i][2]) {
                *v = f->lo + i;
                return 0;
            }
        }
    }
    snprintf(why, whylen, "%s: '%.*s' is not %s", f->name, (int)n, s, f->what);
    return -1;
}

/* One list item: '*', 'a', 'a-b', each optionally with '/step'. Sets set[v - lo]. */
static int parse_range(const field_spec *f, const char *s, size_t n, unsigned char *set, char *why, size_t whylen)
{
    const char *slash = memchr(s, '/', n);
    size_t rn = slash ? (size_t)(slash - s) : n;
    int a, b, step = 1;

    if (slash) {
        const char *st = slash + 1;
        size_t sn = n - rn - 1;
        long x = 0;
        if (sn == 0 || sn > 4)
            return fail(why, whylen, "%s: bad step in '%.*s'", f->name, (int)n, s);
        for (size_t i = 0; i < sn; i++) {
            if (!isdigit((unsigned char)st[i]))
                return fail(why, whylen, "%s: bad step in '%.*s'", f->name, (int)n, s);
            x = x * 10 + (st[i] - '0');
        }
        if (x < 1)
            return fail(why, whylen, "%s: the step in '%.*s' must be at least 1", f->name, (int)n, s);
        step = (int)x;
    }
    if (rn == 1 && s[0] == '*') {
        a = f->lo;
        b = f->hi;
    } else {
        const char *dash = memchr(s, '-', rn);
        if (dash) {
            if (parse_value(f, s, (size_t)(dash - s), &a, why, whylen) != 0 ||
                parse_value(f, dash + 1, rn - (size_t)(dash - s) - 1, &b, why, whylen) != 0)
                return -1;
            if (a > b)
                return fail(why, whylen, "%s: the range '%.*s' runs backwards", f->name, (int)n, s);
        } else {
            if (parse_value(f, s, rn, &a, why, whylen) != 0)
                return -1;
            b = slash ? f->hi : a; /* "5/15": from 5 to the end, every 15 */
        }
    }
    for (int v = a; v <= b; v += step)
        set[v - f->lo] = 1;
    return 0;
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Items of day-of-month and day-of-week that are not plain ranges. 1: handled, 0: not special, -1: error. */
static int parse_special(int field, const char *s, size_t n, bk_cron *c, char *why, size_t whylen)
{
    const field_spec *f = &fields[field];
    int v;

    if (field == F_DOM) {
        if (n == 1 && s[0] == 'L') {
            c->dom_last = 1;
            return 1;
        }
        if (n == 2 && s[0] == 'L' && s[1] == 'W') {
            c->dom_last_wd = 1;
            return 1;
        }
        if (n >= 2 && s[n - 1] == 'W' && all_digits(s, n - 1)) {
            if (parse_value(f, s, n - 1, &v, why, whylen) != 0)
                return -1;
            c->dom_near |= 1u << v;
            return 1;
        }
    } else if (field == F_DOW) {
        const char *hash = memchr(s, '#', n);
        if (n == 1 && s[0] == 'L') { /* the last day of the week: Saturday (7) */
            c->dow |= 1u << 7;
            return 1;
        }
        if (n >= 2 && s[n - 1] == 'L') {
            if (parse_value(f, s, n - 1, &v, why, whylen) != 0)
                return -1;
            c->dow_last |= (uint8_t)(1u << v);
            return 1;
        }
        if (hash) {
            size_t vn = (size_t)(hash - s);
            if (parse_value(f, s, vn, &v, why, whylen) != 0)
                return -1;
            if (n - vn != 2 || hash[1] < '1' || hash[1] > '5')
                return fail(why, whylen, "%s: in '%.*s' the week after '#' must be 1-5", f->name, (int)n, s);
            c->dow_nth[v] |= (uint8_t)(1u << (hash[1] - '0'));
            return 1;
        }
    }
    return 0;
}

static int parse_field(int field, const char *s, size_t n, bk_cron *c, char *why, size_t whylen)
{
    const field_spec *f = &fields[field];
    unsigned char set[BK_CRON_LAST_YEAR - BK_CRON_FIRST_YEAR + 1];
    size_t i = 0;

    memset(set, 0, sizeof(set));
    if (n == 1 && s[0] == '?') {
        if (field != F_DOM && field != F_DOW) {
            snprintf(why, whylen, "%s: '?' is only allowed in day-of-month and day-of-week", f->name);
            return -1;
        }
        if (field == F_DOM)
            c->dom_unset = 1;
        else
            c->dow_unset = 1;
        return 0;
    }
    while (i <= n) {
        size_t j = i;
        int sp;
        while (j < n && s[j] != ',')
            j++;
        if (j == i)
            return fail(why, whylen, "%s: empty item in '%.*s'", f->name, (int)n, s);
        sp = parse_special(field, s + i, j - i, c, why, whylen);
        if (sp < 0)
            return -1;
        if (sp == 0) {
            if (j - i == 1 && s[i] == '?')
                return fail(why, whylen, "%s: '?' must stand alone in '%.*s'", f->name, (int)n, s);
            if (parse_range(f, s + i, j - i, set, why, whylen) != 0)
                return -1;
        }
        i = j + 1;
    }
    for (int v = f->lo; v <= f->hi; v++) {
        if (!set[v - f->lo])
            continue;
        switch (field) {
        case F_MIN: c->minutes |= (uint64_t)1 << v; break;
        case F_HOUR: c->hours |= 1u << v; break;
        case F_DOM: c->dom |= 1u << v; break;
        case F_MONTH: c->months |= (uint16_t)(1u << v); break;
        case F_DOW: c->dow |= (uint8_t)(1u << v); break;
        default: c->years[(v - BK_CRON_FIRST_YEAR) / 64] |= (uint64_t)1 << ((v - BK_CRON_FIRST_YEAR) % 64); break;
        }
    }
    return 0;
}

int bk_cron_parse(const char *expr, bk_cron *out, char *why, size_t whylen)
{
    const char *p = expr, *end;
    const char *fs[F_COUNT];
    size_t fn[F_COUNT];
    int nf = 0;

    memset(out, 0, sizeof(*out));
    if (!expr) {
        snprintf(why, whylen, "no schedule expression");
        return -1;
    }
    while (isspace((unsigned char)*p))
        p++;
    end = p + strlen(p);
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    if (end - p < 6 || strncmp(p, "cron(", 5) != 0 || end[-1] != ')') {
        snprintf(why, whylen, "'%.*s' is not of the form cron(minutes hours day-of-month month day-of-week year)",
                 (int)(end - p), p);
        return -1;
    }
    p += 5;
    end--;
    while (p < end) {
        const char *q;
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (p >= end)
            break;
        q = p;
        while (q < end && !isspace((unsigned char)*q))
            q++;
        if (nf == F_COUNT) {
            snprintf(why, whylen, "cron() takes 6 fields (minutes hours day-of-month month day-of-week year), got more");
            return -1;
        }
        fs[nf] = p;
        fn[nf++] = (size_t)(q - p);
        p = q;
    }
    if (nf != F_COUNT) {
        snprintf(why, whylen, "cron() takes 6 fields (minutes hours day-of-month month day-of-week year), got %d", nf);
        return -1;
    }
    for (int i = 0; i < F_COUNT; i++)
        if (parse_field(i, fs[i], fn[i], out, why, whylen) != 0)
            return -1;
    if (out->dom_unset == out->dow_unset) {
        snprintf(why, whylen, "exactly one of day-of-month and day-of-week must be '?'");
        return -1;
    }
    return 0;
}

/* ---- evaluation ---- */

static int year_ok(const bk_cron *c, int y)
{
    int i = y - BK_CRON_FIRST_YEAR;

    return i >= 0 && y <= BK_CRON_LAST_YEAR && (c->years[i / 64] >> (i % 64) & 1);
}

static int nearest_weekday(int y, int m, int n)
{
    int dim = days_in_month(y, m);
    int w;

    if (n > dim)
        return 0;
    w = weekday0(bk_days_from_civil(y, m, n));
    if (w == 6)
        return n == 1 ? 3 : n - 1;
    if (w == 0)
        return n == dim ? n - 2 : n + 1;
    return n;
}

static int day_ok(const bk_cron *c, int y, int m, int d, int64_t days)
{
    int dim = days_in_month(y, m);

    if (!c->dom_unset) {
        int ok = (int)(c->dom >> d & 1);
        if (!ok && c->dom_last)
            ok = d == dim;
        if (!ok && c->dom_last_wd)
            ok = d == nearest_weekday(y, m, dim);
        for (int n = 1; !ok && n <= 31; n++)
            if (c->dom_near >> n & 1)
                ok = nearest_weekday(y, m, n) == d;
        if (!ok)
            return 0;
    }
    if (!c->dow_unset) {
        int w = weekday0(days) + 1; /* AWS: 1 = Sunday */
        int ok = (int)(c->dow >> w & 1);
        if (!ok && (c->dow_last >> w & 1))
            ok = d + 7 > dim;
        if (!ok)
            ok = (int)(c->dow_nth[w] >> ((d - 1) / 7 + 1) & 1);
        if (!ok)
            return 0;
    }
    return 1;
}

int bk_cron_next(const bk_cron *c, int64_t after, int64_t *next)
{
    int64_t t = floor_div(after, 60) * 60 + 60; /* the next whole minute */
    int64_t day = floor_div(t, DAY_SECONDS);
    int start = (int)((t - day * DAY_SECONDS) / 60); /* minute of the day to start from */
    int64_t last = bk_days_from_civil(BK_CRON_LAST_YEAR, 12, 31);

    while (day <= last) {
        int y, m, d;

        bk_civil_from_days(day, &y, &m, &d);
        if (!year_ok(c, y)) {
            day = bk_days_from_civil(y + 1, 1, 1);
            start = 0;
            continue;
        }
        if (!(c->months >> m & 1)) {
            day = m == 12 ? bk_days_from_civil(y + 1, 1, 1) : bk_days_from_civil(y, m + 1, 1);
            start = 0;
            continue;
        }
        if (day_ok(c, y, m, d, day)) {
            for (int h = start / 60; h < 24; h++) {
                if (!(c->hours >> h & 1))
                    continue;
                for (int mi = h == start / 60 ? start % 60 : 0; mi < 60; mi++) {
                    if (c->minutes >> mi & 1) {
                        *next = day * DAY_SECONDS + h * 3600 + mi * 60;
                        return 0;
                    }
                }
            }
        }
        day++;
        start = 0;
    }
    return -1;
}

int bk_cron_max_gap(const bk_cron *c, int64_t from, int64_t *gap)
{
    int64_t t0, t1, first, g = 0;
    int n = 0;

    if (bk_cron_next(c, from, &t0) != 0)
        return -1;
    first = t0;
    /* every-minute schedules end on the count; the rest on a year and three intervals */
    while (n < 20000 && bk_cron_next(c, t0, &t1) == 0) {
        if (t1 - t0 > g)
            g = t1 - t0;
        n++;
        t0 = t1;
        if (n >= 3 && t1 - first >= 366 * (int64_t)DAY_SECONDS)
            break;
    }
    if (n == 0)
        return -1;
    *gap = g;
    return 0;
}
