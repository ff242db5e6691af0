/* test_memo.c: the host's per-run memo (dr_host_api.memo): one fill per run, scope and key, shared by concurrent callers. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "memo.h"
#include "agent.h"

static atomic_int fills;

/* The answer "<arg>#<fill number>", after a pause so that concurrent callers arrive while it fills. */
static int fill_slow(void *arg, char **value, size_t *len, dr_error *err)
{
    struct timespec ts = {0, 50 * 1000000L};
    char buf[64];
    int n = atomic_fetch_add(&fills, 1) + 1;

    (void)err;
    nanosleep(&ts, NULL);
    *len = (size_t)snprintf(buf, sizeof(buf), "%s#%d", (const char *)arg, n);
    *value = strdup(buf);
    return *value ? 0 : DR_ENOMEM;
}

static int fill_fails(void *arg, char **value, size_t *len, dr_error *err)
{
    (void)arg, (void)value, (void)len;
    atomic_fetch_add(&fills, 1);
    return dr_error_set(err, DR_ENETWORK, "no answer");
}

typedef struct caller {
    dr_resource *res;
    const void *scope;
    char *out;
    int rc;
} caller;

static void *call_main(void *p)
{
    caller *c = p;
    dr_error err;

    dr_error_clear(&err);
    c->rc = host_memo(c->res, c->scope, "t:list", fill_slow, "list", &c->out, NULL, &err);
    return NULL;
}

static void test_one_fill_per_run(void **state)
{
    struct agent a;
    dr_resource r1, r2;
    caller c[6];
    pthread_t t[6];
    int scope_a, scope_b;
    char *out = NULL;
    size_t len = 0;
    dr_error err;
    (void)state;

    memset(&a, 0, sizeof(a));
    memset(&r1, 0, sizeof(r1));
    memset(&r2, 0, sizeof(r2));
    r1.agent = r2.agent = &a;
    a.run.started = 1000.0;
    atomic_store(&fills, 0);
    /* six resources of one run ask at once: one fill, every caller its own copy of the answer */
    for (int i = 0; i < 6; i++) {
        c[i] = (caller){i % 2 ? &r1 : &r2, &scope_a, NULL, -1};
        assert_int_equal(pthread_create(&t[i], NULL, call_main, &c[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(c[i].rc, 0);
        assert_string_equal(c[i].out, "list#1");
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(c[i].out, c[j].out);
    }
    for (int i = 0; i < 6; i++)
        free(c[i].out);
    assert_int_equal(atomic_load(&fills), 1);

    /* another scope (client: region, credentials) or key fills again; the length is the answer's */
    dr_error_clear(&err);
    assert_int_equal(host_memo(&r1, &scope_b, "t:list", fill_slow, "list", &out, &len, &err), 0);
    assert_string_equal(out, "list#2");
    assert_int_equal(len, strlen("list#2"));
    free(out);
    assert_int_equal(host_memo(&r1, &scope_a, "t:other", fill_slow, "other", &out, NULL, &err), 0);
    assert_string_equal(out, "other#3");
    free(out);

    /* the next run of the agent does not see the last run's answers */
    a.run.started = 2000.0;
    assert_int_equal(host_memo(&r2, &scope_a, "t:list", fill_slow, "list", &out, NULL, &err), 0);
    assert_string_equal(out, "list#4");
    free(out);
    assert_int_equal(host_memo(&r1, &scope_a, "t:list", fill_slow, "list", &out, NULL, &err), 0);
    assert_string_equal(out, "list#4");
    free(out);
    assert_int_equal(atomic_load(&fills), 4);
    host_memo_clear();
}

static void test_failure_not_kept(void **state)
{
    struct agent a;
    dr_resource r;
    char *out = NULL;
    dr_error err;
    int scope;
    (void)state;

    memset(&a, 0, sizeof(a));
    memset(&r, 0, sizeof(r));
    r.agent = &a;
    a.run.started = 3000.0;
    atomic_store(&fills, 0);
    dr_error_clear(&err);
    assert_int_equal(host_memo(&r, &scope, "t:fails", fill_fails, NULL, &out, NULL, &err), DR_ENETWORK);
    assert_null(out);
    assert_string_equal(err.message, "no answer");
    /* the next caller tries again, and its answer is kept */
    dr_error_clear(&err);
    assert_int_equal(host_memo(&r, &scope, "t:fails", fill_fails, NULL, &out, NULL, &err), DR_ENETWORK);
    assert_int_equal(atomic_load(&fills), 2);
    assert_int_equal(host_memo(&r, &scope, "t:fails", fill_slow, "x", &out, NULL, &err), 0);
    assert_string_equal(out, "x#3");
    free(out);
    assert_int_equal(host_memo(&r, &scope, "t:fails", fill_fails, NULL, &out, NULL, &err), 0);
    assert_string_equal(out, "x#3");
    free(out);
    /* no resource (no run): fill every time, nothing kept */
    assert_int_equal(host_memo(NULL, &scope, "t:fails", fill_slow, "y", &out, NULL, &err), 0);
    assert_string_equal(out, "y#4");
    free(out);
    assert_int_equal(host_memo(&r, &scope, "t:x", fill_slow, "y", NULL, NULL, &err), DR_EINVAL);
    host_memo_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_fill_per_run),
        cmocka_unit_test(test_failure_not_kept),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
