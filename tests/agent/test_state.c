/* test_state.c: the state directory (serving region, atomic writes, plugin state, run ids) and the local run lock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cancel.h"
#include "dr/util.h"
#include "lock.h"
#include "state.h"
#include "testutil.h"


static void test_dir_prepare(void **state)
{
    char sub[4096];
    struct stat st;
    dr_error err;

    (void)state;
    snprintf(sub, sizeof(sub), "%s/a/b", tu_dir);
    dr_error_clear(&err);
    assert_int_equal(state_dir_prepare(sub, &err), 0);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* writable by others: refused, with the directory named */
    assert_int_equal(chmod(sub, 0777), 0);
    assert_int_equal(state_dir_prepare(sub, &err), DR_EDENIED);
    assert_true(tu_contains(err.message, sub));
    assert_true(tu_contains(err.message, "writable by group or others"));
}

static void test_serving(void **state)
{
    dr_serving s = DR_SERVING_DR;
    dr_error err;
    char *path;

    (void)state;
    dr_error_clear(&err);
    /* nothing recorded yet: the primary serves */
    assert_int_equal(state_read_serving(tu_dir, &s, &err), 0);
    assert_int_equal(s, DR_SERVING_PRIMARY);
    assert_int_equal(state_write_serving(tu_dir, DR_SERVING_DR, "run-1", &err), 0);
    assert_int_equal(state_read_serving(tu_dir, &s, &err), 0);
    assert_int_equal(s, DR_SERVING_DR);
    assert_int_equal(state_write_serving(tu_dir, DR_SERVING_PRIMARY, "run-2", &err), 0);
    assert_int_equal(state_read_serving(tu_dir, &s, &err), 0);
    assert_int_equal(s, DR_SERVING_PRIMARY);

    /* a damaged record is an error naming the file, not a guess */
    free(tu_write(tu_dir, "serving.json", "{\"serving\": \"elsewhere\"}", 0600));
    assert_int_equal(state_read_serving(tu_dir, &s, &err), DR_EPARSE);
    assert_true(tu_contains(err.message, "serving.json"));
    path = tu_write(tu_dir, "serving.json", "{\"serving\": ", 0600);
    assert_int_equal(state_read_serving(tu_dir, &s, &err), DR_EPARSE);
    assert_true(tu_contains(err.message, path));
    free(path);
}

static void test_write_file_atomic(void **state)
{
    char path[4096], buf[64] = {0};
    struct stat st;
    dr_error err;
    FILE *f;

    (void)state;
    dr_error_clear(&err);
    assert_int_equal(state_write_file(tu_dir, "x.json", "first", 5, &err), 0);
    assert_int_equal(state_write_file(tu_dir, "x.json", "second", 6, &err), 0);
    snprintf(path, sizeof(path), "%s/x.json", tu_dir);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f), 6);
    fclose(f);
    assert_string_equal(buf, "second");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0077, 0); /* no one else reads the agent's state */
}

static void test_resource_state(void **state)
{
    char out[64];
    dr_error err;

    (void)state;
    dr_error_clear(&err);
    assert_int_equal(state_resource_get(tu_dir, "s3.assets", "canary", out, sizeof(out)), 0);
    assert_int_equal(state_resource_set(tu_dir, "s3.assets", "canary", "v1", &err), 0);
    assert_int_equal(state_resource_set(tu_dir, "s3.assets", "etag", "abc", &err), 0);
    assert_int_equal(state_resource_get(tu_dir, "s3.assets", "canary", out, sizeof(out)), 1);
    assert_string_equal(out, "v1");
    assert_int_equal(state_resource_set(tu_dir, "s3.assets", "canary", "v2", &err), 0);
    assert_int_equal(state_resource_get(tu_dir, "s3.assets", "canary", out, sizeof(out)), 1);
    assert_string_equal(out, "v2");
    /* NULL removes the key, the others stay */
    assert_int_equal(state_resource_set(tu_dir, "s3.assets", "canary", NULL, &err), 0);
    assert_int_equal(state_resource_get(tu_dir, "s3.assets", "canary", out, sizeof(out)), 0);
    assert_int_equal(state_resource_get(tu_dir, "s3.assets", "etag", out, sizeof(out)), 1);
    /* each resource has its own; an id that would leave the directory is refused */
    assert_int_equal(state_resource_get(tu_dir, "s3.other", "etag", out, sizeof(out)), 0);
    assert_int_equal(state_resource_set(tu_dir, "../evil", "k", "v", &err), DR_EINVAL);
    assert_int_equal(state_resource_set(NULL, "s3.assets", "k", "v", &err), DR_ESTATE);
}

static void test_run_ids(void **state)
{
    char a[64], b[64];

    (void)state;
    state_new_run_id(a, sizeof(a));
    state_new_run_id(b, sizeof(b));
    /* "20261125T165318Z-a1b2c3" */
    assert_int_equal(strlen(a), 23);
    assert_int_equal(a[8], 'T');
    assert_int_equal(a[15], 'Z');
    assert_int_equal(a[16], '-');
    assert_string_not_equal(a, b);
}

/* The local lock: one holder at a time (flock), the holder named to the one refused, released for the next. */
static void test_local_lock(void **state)
{
    lock_config lc = {0};
    run_lock first, second;
    lock_holder holder;
    dr_error err;
    char who[512];
    int64_t t0;

    (void)state;
    lc.state_dir = tu_dir;
    dr_error_clear(&err);
    assert_int_equal(lock_acquire(&lc, "run-a", "failover", &first, &holder, &err), 0);
    assert_int_equal(first.me.pid, (long)getpid());
    assert_false(lock_lost(&first)); /* a local lock is never lost */

    lc.wait_seconds = 0.3;
    t0 = dr_mono_ms();
    assert_int_equal(lock_acquire(&lc, "run-b", "drill", &second, &holder, &err), DR_EBUSY);
    assert_true(dr_mono_ms() - t0 >= 250); /* it waited as asked */
    assert_int_equal(holder.pid, (long)getpid());
    assert_string_equal(holder.run_id, "run-a");
    assert_string_equal(holder.command, "failover");
    assert_true(tu_contains(err.message, "run-a (failover)"));
    lock_holder_describe(&holder, who, sizeof(who));
    assert_true(tu_contains(who, "run run-a (failover), since "));

    /* a cancel ends the wait at once */
    lc.wait_seconds = 30;
    cancel_request();
    t0 = dr_mono_ms();
    assert_int_equal(lock_acquire(&lc, "run-b", "drill", &second, &holder, &err), DR_ECANCELED);
    assert_true(dr_mono_ms() - t0 < 5000);
    cancel_reset();

    lock_release(&first);
    lc.wait_seconds = 0;
    assert_int_equal(lock_acquire(&lc, "run-b", "drill", &second, &holder, &err), 0);
    lock_release(&second);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dir_prepare, tu_dir_setup, tu_dir_teardown),
        cmocka_unit_test_setup_teardown(test_serving, tu_dir_setup, tu_dir_teardown),
        cmocka_unit_test_setup_teardown(test_write_file_atomic, tu_dir_setup, tu_dir_teardown),
        cmocka_unit_test_setup_teardown(test_resource_state, tu_dir_setup, tu_dir_teardown),
        cmocka_unit_test_setup_teardown(test_run_ids, tu_dir_setup, tu_dir_teardown),
        cmocka_unit_test_setup_teardown(test_local_lock, tu_dir_setup, tu_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
