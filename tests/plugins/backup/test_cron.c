/* test_cron.c: unit tests of the backup plugin's AWS cron evaluator (parse, next run, longest interval), against timegm(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cron.h"

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return (int64_t)timegm(&tm);
}

static void test_civil_dates(void **state)
{
    int y, m, d;

    (void)state;
    assert_int_equal(bk_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(bk_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(bk_days_from_civil(2199, 12, 31), 84005);
    assert_int_equal(bk_days_from_civil(1969, 12, 31), -1);
    /* every day of four centuries round-trips and agrees with timegm */
    for (int64_t day = bk_days_from_civil(1970, 1, 1); day <= bk_days_from_civil(2370, 1, 1); day += 1) {
        bk_civil_from_days(day, &y, &m, &d);
        assert_int_equal(bk_days_from_civil(y, m, d), day);
        if (day % 97 == 0)
            assert_int_equal(utc(y, m, d, 0, 0), day * 86400);
    }
}

struct next_case {
    const char *expr;
    int from[5]; /* y m d h mi */
    int want[5]; /* y m d h mi; want[0] == 0: no next run */
};

static const struct next_case next_cases[] = {
    /* the reference plan */
    {"cron(0 2 * * ? *)", {2026, 11, 25, 17, 0}, {2026, 11, 26, 2, 0}},
    {"cron(0 2 * * ? *)", {2026, 11, 25, 1, 59}, {2026, 11, 25, 2, 0}},
    {"cron(0 2 * * ? *)", {2026, 11, 25, 2, 0}, {2026, 11, 26, 2, 0}}, /* strictly after */
    {"cron(0 2 * * ? *)", {2026, 12, 31, 3, 0}, {2027, 1, 1, 2, 0}},
    {"cron(0 3 ? * SUN *)", {2026, 11, 25, 17, 0}, {2026, 11, 29, 3, 0}},
    {"cron(0 3 ? * 1 *)", {2026, 11, 29, 3, 0}, {2026, 12, 6, 3, 0}},
    {"cron(0 4 1 * ? *)", {2026, 11, 25, 17, 0}, {2026, 12, 1, 4, 0}},
    {"cron(0 4 1 * ? *)", {2026, 12, 1, 4, 0}, {2027, 1, 1, 4, 0}},
    {"  cron(0 5 ? * * *)  ", {2026, 11, 25, 17, 0}, {2026, 11, 26, 5, 0}},
    /* lists, ranges, steps, names */
    {"cron(*/15 * * * ? *)", {2026, 11, 25, 17, 7}, {2026, 11, 25, 17, 15}},
    {"cron(5/20 * * * ? *)", {2026, 11, 25, 17, 46}, {2026, 11, 25, 18, 5}},
    {"cron(0 8-10/2 ? * MON-FRI *)", {2026, 11, 27, 10, 30}, {2026, 11, 30, 8, 0}}, /* Fri 10:30 -> Mon 8:00 */
    {"cron(30 6,18 ? * * *)", {2026, 11, 25, 6, 30}, {2026, 11, 25, 18, 30}},
    {"cron(0 0 1 jan,Jul ? *)", {2026, 2, 1, 0, 0}, {2026, 7, 1, 0, 0}},
    {"cron(0 0 31 * ? *)", {2026, 4, 1, 0, 0}, {2026, 5, 31, 0, 0}}, /* April has no 31st */
    /* years */
    {"cron(0 12 1 1 ? 2028)", {2026, 11, 25, 0, 0}, {2028, 1, 1, 12, 0}},
    {"cron(0 12 1 1 ? 2020-2025)", {2026, 11, 25, 0, 0}, {0, 0, 0, 0, 0}},
    {"cron(0 0 29 2 ? *)", {2026, 1, 1, 0, 0}, {2028, 2, 29, 0, 0}},
    /* L, W, # */
    {"cron(0 0 L * ? *)", {2026, 2, 10, 0, 0}, {2026, 2, 28, 0, 0}},
    {"cron(0 0 L * ? *)", {2028, 2, 10, 0, 0}, {2028, 2, 29, 0, 0}},
    {"cron(0 0 LW * ? *)", {2026, 5, 1, 0, 0}, {2026, 5, 29, 0, 0}}, /* May 31st 2026 is a Sunday */
    {"cron(0 0 15W * ? *)", {2026, 8, 1, 0, 0}, {2026, 8, 14, 0, 0}}, /* the 15th is a Saturday */
    {"cron(0 0 1W * ? *)", {2026, 7, 31, 0, 0}, {2026, 8, 3, 0, 0}},  /* the 1st is a Saturday: Monday */
    {"cron(0 0 ? * 6#3 *)", {2026, 11, 1, 0, 0}, {2026, 11, 20, 0, 0}},
    {"cron(0 0 ? * 2L *)", {2026, 11, 1, 0, 0}, {2026, 11, 30, 0, 0}},
    {"cron(0 0 ? * L *)", {2026, 11, 25, 0, 0}, {2026, 11, 28, 0, 0}}, /* Saturday */
};

static void test_next(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(next_cases) / sizeof(next_cases[0]); i++) {
        const struct next_case *tc = &next_cases[i];
        char why[200] = "";
        bk_cron c;
        int64_t next = 0;
        int rc;

        if (bk_cron_parse(tc->expr, &c, why, sizeof(why)) != 0)
            fail_msg("%s: %s", tc->expr, why);
        rc = bk_cron_next(&c, utc(tc->from[0], tc->from[1], tc->from[2], tc->from[3], tc->from[4]), &next);
        if (tc->want[0] == 0) {
            if (rc != -1)
                fail_msg("%s: expected no next run, got %lld", tc->expr, (long long)next);
            continue;
        }
        if (rc != 0)
            fail_msg("%s: no next run", tc->expr);
        if (next != utc(tc->want[0], tc->want[1], tc->want[2], tc->want[3], tc->want[4]))
            fail_msg("%s from case %zu: got %lld, want %lld", tc->expr, i, (long long)next,
                     (long long)utc(tc->want[0], tc->want[1], tc->want[2], tc->want[3], tc->want[4]));
    }
}

static void test_seconds_are_rounded_up(void **state)
{
    bk_cron c;
    char why[200];
    int64_t next;

    (void)state;
    assert_int_equal(bk_cron_parse("cron(0 2 * * ? *)", &c, why, sizeof(why)), 0);
    assert_int_equal(bk_cron_next(&c, utc(2026, 11, 25, 1, 59) + 59, &next), 0);
    assert_int_equal(next, utc(2026, 11, 25, 2, 0));
    assert_int_equal(bk_cron_next(&c, utc(2026, 11, 25, 2, 0) + 1, &next), 0);
    assert_int_equal(next, utc(2026, 11, 26, 2, 0));
}

static void test_max_gap(void **state)
{
    static const struct {
        const char *expr;
        int64_t gap;
    } cases[] = {
        {"cron(0 2 * * ? *)", 86400},
        {"cron(0 3 ? * SUN *)", 7 * 86400},
        {"cron(0 4 1 * ? *)", 31 * 86400},
        {"cron(0 * * * ? *)", 3600},
        {"cron(30 6,18 ? * * *)", 12 * 3600},
        {"cron(0 8 ? * MON-FRI *)", 3 * 86400}, /* Friday to Monday */
        {"cron(0 0 1 1 ? *)", 366 * 86400},     /* across 2028, a leap year */
        {"cron(0 0 29 2 ? *)", 1461 * 86400},
        {"cron(* * * * ? *)", 60},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bk_cron c;
        char why[200];
        int64_t gap = -1;

        if (bk_cron_parse(cases[i].expr, &c, why, sizeof(why)) != 0)
            fail_msg("%s: %s", cases[i].expr, why);
        assert_int_equal(bk_cron_max_gap(&c, utc(2026, 11, 25, 17, 0), &gap), 0);
        if (gap != cases[i].gap)
            fail_msg("%s: gap %lld, want %lld", cases[i].expr, (long long)gap, (long long)cases[i].gap);
    }
}

static void test_max_gap_without_two_runs(void **state)
{
    bk_cron c;
    char why[200];
    int64_t gap;

    (void)state;
    assert_int_equal(bk_cron_parse("cron(0 12 1 1 ? 2030)", &c, why, sizeof(why)), 0);
    assert_int_equal(bk_cron_max_gap(&c, utc(2026, 11, 25, 17, 0), &gap), -1);
}

static void test_errors(void **state)
{
    static const struct {
        const char *expr;
        const char *why; /* a part of the message */
    } cases[] = {
        {"rate(1 day)", "is not of the form cron("},
        {"cron(0 2 * * ?)", "got 5"},
        {"cron(0 2 * * ? * *)", "got more"},
        {"cron(0 2 * * * *)", "exactly one of day-of-month and day-of-week"},
        {"cron(0 2 ? * ? *)", "exactly one of day-of-month and day-of-week"},
        {"cron(60 2 * * ? *)", "minutes: 60 is not a minute"},
        {"cron(0 24 * * ? *)", "hours: 24 is not an hour"},
        {"cron(0 2 0 * ? *)", "day-of-month: 0 is not a day"},
        {"cron(0 2 ? FOO * *)", "month: 'FOO' is not a month"},
        {"cron(0 2 ? * FUN *)", "day-of-week: 'FUN' is not a day of the week"},
        {"cron(0 2 ? * 8 *)", "day-of-week: 8 is not"},
        {"cron(0 10-8 * * ? *)", "runs backwards"},
        {"cron(*/0 2 * * ? *)", "step"},
        {"cron(0 2 * * ? 1969)", "year: 1969 is not a year"},
        {"cron(0 ? * * ? *)", "'?' is only allowed"},
        {"cron(0 2 1,,2 * ? *)", "empty item"},
        {"cron(0 2 ? * 2#6 *)", "after '#' must be 1-5"},
        {"cron(0 2 1,? * ? *)", "must stand alone"},
        {"cron(0 2 * * ? x)", "'x' is not a year"},
        {NULL, NULL},
    };
    (void)state;
    for (size_t i = 0; cases[i].expr; i++) {
        bk_cron c;
        char why[200] = "";

        if (bk_cron_parse(cases[i].expr, &c, why, sizeof(why)) != -1)
            fail_msg("%s: accepted", cases[i].expr);
        if (!strstr(why, cases[i].why))
            fail_msg("%s: message '%s' lacks '%s'", cases[i].expr, why, cases[i].why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_dates),
        cmocka_unit_test(test_next),
        cmocka_unit_test(test_seconds_are_rounded_up),
        cmocka_unit_test(test_max_gap),
        cmocka_unit_test(test_max_gap_without_two_runs),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
