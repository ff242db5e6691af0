/* test_journal.c: the run journal: events written and read back, a torn last line, resumable runs, listing, pruning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include <cmocka.h>

#include "dr/util.h"
#include "journal.h"
#include "testutil.h"


static void write_event(journal *j, const char *event, json_t *obj)
{
    dr_error err;

    dr_error_clear(&err);
    assert_int_equal(journal_write(j, event, obj, &err), 0);
    json_decref(obj);
}

static void start_run(journal *j, const char *run_id, const char *command)
{
    dr_error err;

    dr_error_clear(&err);
    assert_int_equal(journal_open(j, tu_dir, run_id, &err), 0);
    write_event(j, "run_start",
                json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:i, s:[ss]}", "run_id", run_id, "command", command, "mode",
                          "graceful", "dry_run", 0, "serving", "primary", "host", "h1", "pid", 42, "resources",
                          "dynamodb.orders", "route53.app"));
}

static void step(journal *j, const char *res, const char *status)
{
    write_event(j, "step_start", json_pack("{s:s, s:s, s:s}", "step", res, "resource", res, "hook", "failover"));
    if (status)
        write_event(j, "step_end",
                    json_pack("{s:s, s:s, s:s, s:s, s:i, s:[]}", "step", res, "resource", res, "hook", "failover",
                              "status", status, "duration_ms", 10, "changes"));
}

static void test_write_and_read_back(void **state)
{
    journal j;
    journal_run r;
    dr_error err;
    struct stat st;

    (void)state;
    start_run(&j, "20261206T000000Z-aaaaaa", "failover");
    step(&j, "dynamodb.orders", "done");
    step(&j, "route53.app", NULL); /* started, never ended */
    write_event(&j, "run_end", json_pack("{s:s, s:f, s:f, s:f, s:[s]}", "status", "failed", "duration_seconds", 3.0,
                                         "rto_seconds", 2.5, "rpo_seconds", 1.25, "rpo_unknown", "aurora.db"));
    journal_close(&j);
    assert_int_equal(j.fd, -1);

    /* one owner-only file per run */
    assert_int_equal(stat(j.path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true(tu_contains(j.path, "/runs/20261206T000000Z-aaaaaa.jsonl"));

    dr_error_clear(&err);
    assert_int_equal(journal_read(j.path, &r, &err), 0);
    assert_string_equal(r.run_id, "20261206T000000Z-aaaaaa");
    assert_string_equal(r.command, "failover");
    assert_string_equal(r.mode, "graceful");
    assert_string_equal(r.host, "h1");
    assert_int_equal(r.pid, 42);
    assert_int_equal(r.n_resources, 2);
    assert_string_equal(r.resources[1], "route53.app");
    assert_int_equal(r.n_steps, 2);
    assert_string_equal(r.steps[0].status, "done");
    assert_true(r.steps[1].started);
    assert_string_equal(r.steps[1].status, "");
    assert_true(r.changed);
    assert_true(r.ended);
    assert_string_equal(r.status, "failed");
    assert_true(r.has_rto && r.rto_seconds == 2.5);
    assert_true(r.has_rpo && r.rpo_seconds == 1.25);
    assert_int_equal(r.rpo_unknown, 1);
    assert_true(r.started_at > 0 && r.finished_at >= r.started_at);
    assert_int_equal(r.bad_lines, 0);
    assert_false(journal_resumable(&r));
    journal_run_clear(&r);
}

/* A crash in the middle of a write: the reader skips the torn line; the next writer ends it first. */
static void test_torn_last_line(void **state)
{
    journal j;
    journal_run r;
    dr_error err;
    FILE *f;

    (void)state;
    start_run(&j, "20261206T000001Z-bbbbbb", "drill");
    step(&j, "dynamodb.orders", "done");
    journal_close(&j);
    f = fopen(j.path, "a");
    assert_non_null(f);
    fputs("{\"event\":\"step_end\",\"resou", f);
    fclose(f);

    dr_error_clear(&err);
    assert_int_equal(journal_read(j.path, &r, &err), 0);
    assert_int_equal(r.bad_lines, 1);
    assert_false(r.ended);
    assert_true(journal_resumable(&r)); /* no end: resume continues it */
    journal_run_clear(&r);

    /* resumed: the torn line is ended before the next event, which stays whole */
    assert_int_equal(journal_open(&j, tu_dir, "20261206T000001Z-bbbbbb", &err), 0);
    write_event(&j, "resume", json_pack("{s:s, s:i}", "host", "h2", "pid", 43));
    write_event(&j, "run_end", json_pack("{s:s}", "status", "held"));
    journal_close(&j);
    assert_int_equal(journal_read(j.path, &r, &err), 0);
    assert_int_equal(r.bad_lines, 1);
    assert_int_equal(r.resumes, 1);
    assert_string_equal(r.host, "h2");
    assert_true(r.ended);
    assert_string_equal(r.status, "held");
    assert_true(journal_resumable(&r)); /* a stated state waits for resume */
    journal_run_clear(&r);
}

static void test_no_run_start_is_refused(void **state)
{
    char *path;
    journal_run r;
    dr_error err;

    (void)state;
    path = tu_write(tu_dir, "stray.jsonl", "{\"event\":\"step_start\",\"resource\":\"x\",\"hook\":\"verify\"}\n", 0600);
    dr_error_clear(&err);
    assert_int_equal(journal_read(path, &r, &err), DR_EPARSE);
    assert_true(tu_contains(err.message, "no run_start"));
    free(path);
}

static void test_list_oldest_first_and_prune(void **state)
{
    journal j;
    journal_run *runs;
    size_t n, removed;
    dr_error err;
    struct utimbuf old = {1000000000, 1000000000};

    (void)state;
    /* written in reverse order of their ids: the list sorts by start time */
    start_run(&j, "20261206T000009Z-zzzzzz", "configure");
    journal_close(&j);
    usleep(5000);
    start_run(&j, "20261206T000002Z-cccccc", "failback");
    journal_close(&j);
    dr_error_clear(&err);
    assert_int_equal(journal_list(tu_dir, &runs, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(runs[0].command, "configure");
    assert_string_equal(runs[1].command, "failback");
    journal_runs_free(runs, n);

    /* a journal not written for longer than the retention goes; the other stays */
    assert_int_equal(utime(j.path, &old), 0);
    assert_int_equal(journal_prune(tu_dir, 86400, &removed, &err), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(journal_list(tu_dir, &runs, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(runs[0].command, "configure");
    journal_runs_free(runs, n);
}

static void test_list_without_runs(void **state)
{
    journal_run *runs = (journal_run *)1;
    size_t n = 9;
    dr_error err;

    (void)state;
    dr_error_clear(&err);
    assert_int_equal(journal_list(tu_dir, &runs, &n, &err), 0);
    assert_null(runs);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_and_read_back, tu_dir_setup, tu_dir_teardown),
        cmocka_unit_test_setup_teardown(test_torn_last_line, tu_dir_setup, tu_dir_teardown),
        cmocka_unit_test_setup_teardown(test_no_run_start_is_refused, tu_dir_setup, tu_dir_teardown),
        cmocka_unit_test_setup_teardown(test_list_oldest_first_and_prune, tu_dir_setup, tu_dir_teardown),
        cmocka_unit_test_setup_teardown(test_list_without_runs, tu_dir_setup, tu_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
