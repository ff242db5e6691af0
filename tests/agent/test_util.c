/* test_util.c: the SDK's string, time, duration, UUID and secret-file helpers the agent and plugins use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dr/util.h"
#include "testutil.h"

static void test_duration_parse(void **state)
{
    static const struct {
        const char *text;
        double seconds;
    } good[] = {{"90s", 90}, {"15m", 900}, {"1h", 3600}, {"2d", 172800}, {"1h30m", 5400},
                {"500ms", 0.5}, {"42", 42}, {"1.5h", 5400}, {"0", 0}};
    static const char *const bad[] = {"", "h", "15x", "-5s", "1h-2m", "11000d", "1e3s", "15 m"};
    double v;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        v = -1;
        assert_int_equal(dr_duration_parse(good[i].text, &v), 0);
        assert_true(v == good[i].seconds);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (dr_duration_parse(bad[i], &v) != DR_EINVAL)
            fail_msg("'%s' parsed as %g", bad[i], v);
    }
}

static void test_duration_format(void **state)
{
    char out[32];

    (void)state;
    dr_duration_format(4500, out, sizeof(out));
    assert_string_equal(out, "1h15m");
    dr_duration_format(12.5, out, sizeof(out));
    assert_string_equal(out, "12.5s");
    dr_duration_format(9838, out, sizeof(out));
    assert_string_equal(out, "2h43m"); /* from an hour on, to the minute */
    /* what it writes, it reads back: exactly below an hour, to the minute above */
    for (double s = 1; s < 400000; s = s * 3 + 7) {
        double back;
        dr_duration_format(s, out, sizeof(out));
        assert_int_equal(dr_duration_parse(out, &back), 0);
        if (s < 3600)
            assert_true(back == s);
        else
            assert_true(back <= s && s - back < 60);
    }
}

static void test_time(void **state)
{
    char out[40];
    double t;

    (void)state;
    dr_time_format(1764953598.0, 0, out, sizeof(out));
    assert_string_equal(out, "2025-12-05T16:53:18Z");
    dr_time_format(1764953598.125, 1, out, sizeof(out));
    assert_string_equal(out, "2025-12-05T16:53:18.125Z");
    assert_int_equal(dr_time_parse("2025-12-05T16:53:18.125Z", &t), 0);
    assert_true(t > 1764953598.124 && t < 1764953598.126);
    assert_int_equal(dr_time_parse("2025-12-05T18:53:18+02:00", &t), 0);
    assert_true(t == 1764953598.0);
    assert_int_equal(dr_time_parse("yesterday", &t), DR_EPARSE);
    assert_true(dr_now() > 1764953598.0);
    assert_true(dr_mono_ms() >= 0);
}

static void test_utf8_scrub(void **state)
{
    char ok[] = "caf\xc3\xa9 \xe2\x82\xac";
    char bad[] = "a\xff" "b\xc3";
    char over[] = "\xc0\xaf"; /* an overlong '/' */

    (void)state;
    dr_utf8_scrub(ok);
    assert_string_equal(ok, "caf\xc3\xa9 \xe2\x82\xac");
    dr_utf8_scrub(bad);
    assert_string_equal(bad, "a?b?");
    dr_utf8_scrub(over);
    assert_null(strchr(over, '/'));
    assert_int_equal(strlen(over), 2);
}

static void test_buf(void **state)
{
    dr_buf b = DR_BUF_INIT;
    char *s;

    (void)state;
    assert_string_equal(dr_buf_str(&b), "");
    assert_int_equal(dr_buf_printf(&b, "%d-%s", 7, "x"), 0);
    assert_int_equal(dr_buf_xml_text(&b, "<a&'\">"), 0);
    assert_string_equal(dr_buf_str(&b), "7-x&lt;a&amp;&apos;&quot;&gt;");
    dr_buf_reset(&b);
    assert_int_equal(dr_buf_xml_elem(&b, "Key", "a&b"), 0);
    assert_int_equal(dr_buf_xml_elem(&b, "None", NULL), 0);
    assert_string_equal(dr_buf_str(&b), "<Key>a&amp;b</Key>");
    dr_buf_reset(&b);
    assert_int_equal(dr_buf_uri_encode(&b, "a b/c~d-e_f.g\xc3\xa9", 1), 0);
    assert_int_equal(dr_buf_uri_encode(&b, "/", 0), 0);
    assert_string_equal(dr_buf_str(&b), "a%20b/c~d-e_f.g%C3%A9%2F");
    s = dr_buf_steal(&b);
    assert_string_equal(s, "a%20b/c~d-e_f.g%C3%A9%2F");
    assert_string_equal(dr_buf_str(&b), "");
    free(s);
    dr_buf_free(&b);
}

static void test_uuid(void **state)
{
    char a[40], b[40];

    (void)state;
    dr_uuid4(a);
    dr_uuid4(b);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[8], '-');
    assert_int_equal(a[14], '4'); /* version 4 */
    assert_non_null(strchr("89ab", a[19])); /* RFC 4122 variant */
    assert_string_not_equal(a, b);
}

static void test_secret_file(void **state)
{
    char *dir = tu_mkdtemp(), *path, *secret = NULL;
    dr_error err;

    (void)state;
    path = tu_write(dir, "token", "s3cret\nsecond line\n", 0600);
    dr_error_clear(&err);
    assert_int_equal(dr_secret_read_file(path, &secret, &err), 0);
    assert_string_equal(secret, "s3cret");
    dr_secret_free(secret);
    free(path);
    /* readable by others: refused, and the message names the file, never its content */
    path = tu_write(dir, "open", "s3cret\n", 0644);
    assert_int_equal(dr_secret_read_file(path, &secret, &err), DR_EDENIED);
    assert_true(tu_contains(err.message, path));
    assert_false(tu_contains(err.message, "s3cret"));
    free(path);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_parse), cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_time),           cmocka_unit_test(test_utf8_scrub),
        cmocka_unit_test(test_buf),            cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_secret_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
