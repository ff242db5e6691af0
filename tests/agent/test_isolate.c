/* test_isolate.c: one call in a child process: frames arrive whole and in order, and every way a child ends is told. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dr/util.h"
#include "isolate.h"
#include "testutil.h"

typedef struct seen {
    size_t frames;
    size_t checks;
    int in_order;
    size_t longest;
    int null_seen;
} seen;

static void on_frame(void *arg, const iso_msg *m)
{
    seen *s = arg;

    if (m->type == ISO_CHECK) {
        s->in_order &= m->i == (int32_t)s->checks;
        s->checks++;
    }
    if (m->s[0] && strlen(m->s[0]) > s->longest)
        s->longest = strlen(m->s[0]);
    if (m->n > 1 && !m->s[1])
        s->null_seen = 1;
    s->frames++;
}

static int body_many(void *arg, char *err, size_t len)
{
    char *big = malloc(200 * 1024);
    (void)arg;
    for (int i = 0; i < 3000; i++) {
        const char *s[2] = {"check", NULL};
        iso_send(ISO_CHECK, i, 0, 2, s);
    }
    memset(big, 'x', 200 * 1024 - 1);
    big[200 * 1024 - 1] = '\0';
    {
        const char *s[1] = {big};
        iso_send(ISO_LOG, 2, 0, 1, s);
    }
    free(big);
    snprintf(err, len, "it went %s", "wrong");
    return -7;
}

static int body_segv(void *arg, char *err, size_t len)
{
    (void)arg, (void)err, (void)len;
    raise(SIGSEGV);
    return 0;
}

static int body_exit(void *arg, char *err, size_t len)
{
    (void)arg, (void)err, (void)len;
    exit(3);
}

static int body_hang(void *arg, char *err, size_t len)
{
    (void)arg, (void)err, (void)len;
    signal(SIGTERM, SIG_IGN);
    for (;;)
        pause();
    return 0;
}

static int cancel_now(void)
{
    return 1;
}

static void test_frames_and_result(void **state)
{
    seen s = {0, 0, 1, 0, 0};
    iso_outcome out;

    (void)state;
    assert_int_equal(iso_call("verify", body_many, NULL, on_frame, &s, 0, 1000, NULL, &out), 0);
    assert_true(out.returned);
    assert_int_equal(out.rc, -7);
    assert_string_equal(out.message, "it went wrong");
    assert_int_equal(s.checks, 3000);
    assert_true(s.in_order);
    assert_true(s.null_seen);
    assert_int_equal(s.longest, 64 * 1024); /* a string is cut at 64 KiB */
    assert_false(iso_in_child());
}

static void test_ends(void **state)
{
    iso_outcome out;
    int64_t t0;

    (void)state;
    assert_int_equal(iso_call("verify", body_segv, NULL, NULL, NULL, 0, 1000, NULL, &out), 0);
    assert_false(out.returned);
    assert_true(tu_contains(out.message, "verify crashed: the plugin process was killed by signal 11"));

    assert_int_equal(iso_call("init", body_exit, NULL, NULL, NULL, 0, 1000, NULL, &out), 0);
    assert_false(out.returned);
    assert_true(tu_contains(out.message, "init ended the plugin process with exit status 3 before returning"));

    t0 = dr_mono_ms();
    assert_int_equal(iso_call("failover", body_hang, NULL, NULL, NULL, dr_mono_ms() + 200, 300, NULL, &out), 0);
    assert_true(dr_mono_ms() - t0 < 3000);
    assert_true(out.timed_out);
    assert_true(tu_contains(out.message, "failover did not return before its deadline; its plugin process was killed"));

    assert_int_equal(iso_call("failback", body_hang, NULL, NULL, NULL, 0, 200, cancel_now, &out), 0);
    assert_true(out.cancelled);
    assert_true(tu_contains(out.message, "failback did not stop after the cancel request"));

}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_and_result),
        cmocka_unit_test(test_ends),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
