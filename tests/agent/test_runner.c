/* test_runner.c: the runner with real fixture plugins: order, parallelism, failure propagation, timeouts, cancel. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dr/aws.h"
#include "dr/util.h"
#include "report.h"
#include "cancel.h"
#include "host.h"
#include "run.h"
#include "sdkhost.h"
#include "testutil.h"

static const char *fixture_dir;
static char *g_dir;
static char g_trace[1024];

#define HEAD                                                                                                          \
    "objectives = { rto = \"1h\"; rpo = \"15m\"; };\n"                                                                \
    "regions = { primary = \"us-east-1\"; dr = \"us-west-2\"; };\n"

static int setup(void **state)
{
    (void)state;
    g_dir = tu_mkdtemp();
    snprintf(g_trace, sizeof(g_trace), "%s/trace", g_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(g_dir);
    free(g_dir);
    return 0;
}

static const char *g_agent_extra = ""; /* more keys of the agent group */

static void open_agent(agent *a, const char *resources, int concurrency)
{
    char text[16384];
    char *path;
    errlist e = {0};
    dr_error err;
    int rc;

    snprintf(text, sizeof(text),
             HEAD "agent = { concurrency = %d; hook_timeout = \"30s\"; %s };\nresources = (\n%s\n);\n", concurrency,
             g_agent_extra, resources);
    path = tu_write(g_dir, "runner.conf", text, 0600);
    memset(a, 0, sizeof(*a));
    dr_error_clear(&err);
    unlink(g_trace);
    rc = agent_open(a, path, fixture_dir, NULL, &e, &err);
    for (size_t i = 0; i < e.n; i++)
        print_message("  config: %s\n", e.msgs[i]);
    if (rc != 0)
        fail_msg("agent_open: %d %s", rc, err.message);
    errlist_free(&e);
    free(path);
}

static size_t idx(const agent *a, const char *id)
{
    for (size_t i = 0; i < a->cfg->n_res; i++)
        if (strcmp(a->cfg->res[i].id, id) == 0)
            return i;
    fail_msg("no resource %s", id);
    return 0;
}

/* Times from the trace file: start/end of a resource's hook, monotonic ms; -1 when absent. */
static long long trace_time(const char *what, const char *id)
{
    FILE *f = fopen(g_trace, "r");
    char w[16], rid[128], hook[32];
    long long t, found = -1;

    if (!f)
        return -1;
    while (fscanf(f, "%15s %127s %31s %lld", w, rid, hook, &t) == 4)
        if (strcmp(w, what) == 0 && strcmp(rid, id) == 0)
            found = t;
    fclose(f);
    return found;
}

static void run(agent *a, hook_kind h, int ordered)
{
    run_opts o;

    memset(&o, 0, sizeof(o));
    o.hook = h;
    o.ordered = ordered;
    o.run_id = "test-run";
    o.grace_ms = 500;
    assert_ptr_equal(run_execute(a, &o), &a->run);
}

static void test_parallel_overlap(void **state)
{
    agent a;
    char res[8192];
    long long sa, ea, sb, eb;

    (void)state;
    snprintf(res, sizeof(res),
             "{ type = \"fixture\"; name = \"a\"; sleep = \"400ms\"; trace = \"%s\"; },\n"
             "{ type = \"fixture\"; name = \"b\"; sleep = \"400ms\"; trace = \"%s\"; }",
             g_trace, g_trace);
    open_agent(&a, res, 4);
    run(&a, HOOK_FAILOVER, 1);
    sa = trace_time("start", "fixture.a");
    ea = trace_time("end", "fixture.a");
    sb = trace_time("start", "fixture.b");
    eb = trace_time("end", "fixture.b");
    assert_true(sa >= 0 && ea >= 0 && sb >= 0 && eb >= 0);
    /* independent resources overlap in time */
    assert_true(sa < eb && sb < ea);
    assert_int_equal(a.run.res[idx(&a, "fixture.a")].outcome, ACT_UNCHANGED);
    assert_true(result_all_succeeded(&a.run));
    agent_free(&a);

    /* with concurrency 1 they do not */
    open_agent(&a, res, 1);
    run(&a, HOOK_FAILOVER, 1);
    sa = trace_time("start", "fixture.a");
    ea = trace_time("end", "fixture.a");
    sb = trace_time("start", "fixture.b");
    eb = trace_time("end", "fixture.b");
    assert_true(ea <= sb || eb <= sa);
    agent_free(&a);
}

static void test_dependency_order_and_skip(void **state)
{
    agent a;
    char res[8192];

    (void)state;
    /* fixture resources depend on every fixture_dep resource by the plugin's default */
    snprintf(res, sizeof(res),
             "{ type = \"fixture_dep\"; name = \"data\"; sleep = \"200ms\"; trace = \"%s\"; change = \"promote\"; },\n"
             "{ type = \"fixture\"; name = \"dns\"; trace = \"%s\"; change = \"switch\"; },\n"
             "{ type = \"fixture\"; name = \"dns2\"; trace = \"%s\"; depends_on = [\"fixture.dns\"]; }",
             g_trace, g_trace, g_trace);
    open_agent(&a, res, 4);
    run(&a, HOOK_FAILOVER, 1);
    assert_true(trace_time("end", "fixture_dep.data") <= trace_time("start", "fixture.dns"));
    assert_true(trace_time("end", "fixture.dns") <= trace_time("start", "fixture.dns2"));
    assert_int_equal(a.run.res[idx(&a, "fixture_dep.data")].outcome, ACT_DONE);
    assert_int_equal(a.run.res[idx(&a, "fixture.dns")].outcome, ACT_DONE);
    agent_free(&a);

    /* a failed dependency skips its dependants, transitively, and says so */
    snprintf(res, sizeof(res),
             "{ type = \"fixture_dep\"; name = \"data\"; fail = [\"failover\"]; trace = \"%s\"; },\n"
             "{ type = \"fixture_dep\"; name = \"other\"; trace = \"%s\"; },\n"
             "{ type = \"fixture\"; name = \"dns\"; trace = \"%s\"; },\n"
             "{ type = \"fixture\"; name = \"dns2\"; trace = \"%s\"; depends_on = [\"fixture.dns\"]; }",
             g_trace, g_trace, g_trace, g_trace);
    open_agent(&a, res, 4);
    run(&a, HOOK_FAILOVER, 1);
    assert_int_equal(a.run.res[idx(&a, "fixture_dep.data")].outcome, ACT_FAILED);
    assert_true(tu_contains(a.run.res[idx(&a, "fixture_dep.data")].error, "failover failed as configured"));
    assert_int_equal(a.run.res[idx(&a, "fixture_dep.other")].outcome, ACT_UNCHANGED);
    assert_int_equal(a.run.res[idx(&a, "fixture.dns")].outcome, ACT_SKIPPED);
    assert_true(tu_contains(a.run.res[idx(&a, "fixture.dns")].error, "dependency fixture_dep.data did not succeed"));
    assert_int_equal(a.run.res[idx(&a, "fixture.dns2")].outcome, ACT_SKIPPED);
    assert_true(tu_contains(a.run.res[idx(&a, "fixture.dns2")].error, "dependency fixture.dns did not succeed"));
    assert_int_equal(trace_time("start", "fixture.dns"), -1);
    assert_false(result_all_succeeded(&a.run));
    agent_free(&a);
}

/* Undoing a switch: dependants first, their dependencies after them (transitively), failures still skip. */
static void test_reverse_order(void **state)
{
    agent a;
    char res[8192];
    run_opts o;

    (void)state;
    snprintf(res, sizeof(res),
             "{ type = \"fixture_dep\"; name = \"data\"; trace = \"%s\"; },\n"
             "{ type = \"fixture\"; name = \"dns\"; sleep = \"200ms\"; trace = \"%s\"; },\n"
             "{ type = \"fixture\"; name = \"dns2\"; sleep = \"100ms\"; trace = \"%s\"; depends_on = [\"fixture.dns\"]; }",
             g_trace, g_trace, g_trace);
    open_agent(&a, res, 4);
    memset(&o, 0, sizeof(o));
    o.hook = HOOK_FAILBACK;
    o.ordered = 1;
    o.reverse = 1;
    o.run_id = "test-run";
    assert_ptr_equal(run_execute(&a, &o), &a.run);
    assert_true(trace_time("end", "fixture.dns2") <= trace_time("start", "fixture.dns"));
    assert_true(trace_time("end", "fixture.dns") <= trace_time("start", "fixture_dep.data"));
    assert_true(result_all_succeeded(&a.run));
    agent_free(&a);

    /* a dependant that fails keeps its dependencies where they are */
    snprintf(res, sizeof(res),
             "{ type = \"fixture_dep\"; name = \"data\"; trace = \"%s\"; },\n"
             "{ type = \"fixture\"; name = \"dns\"; fail = [\"failback\"]; trace = \"%s\"; }",
             g_trace, g_trace);
    open_agent(&a, res, 4);
    assert_ptr_equal(run_execute(&a, &o), &a.run);
    assert_int_equal(a.run.res[idx(&a, "fixture.dns")].outcome, ACT_FAILED);
    assert_int_equal(a.run.res[idx(&a, "fixture_dep.data")].outcome, ACT_SKIPPED);
    assert_int_equal(trace_time("start", "fixture_dep.data"), -1);
    agent_free(&a);
}

/* The prepare phase: unordered, every hook bounded by one deadline for the whole phase. */
static void test_prepare_phase_deadline(void **state)
{
    agent a;
    char res[8192];
    run_opts o;
    int64_t t0;

    (void)state;
    snprintf(res, sizeof(res),
             "{ type = \"fixture_dep\"; name = \"slow\"; prepare_sleep = \"20s\"; trace = \"%s\"; },\n"
             "{ type = \"fixture\"; name = \"quick\"; trace = \"%s\"; }",
             g_trace, g_trace);
    open_agent(&a, res, 1);
    memset(&o, 0, sizeof(o));
    o.hook = HOOK_PREPARE;
    o.run_id = "test-run";
    o.hook_timeout = 30;
    o.prepare_for = DR_SWITCH_FAILBACK;
    t0 = dr_mono_ms();
    o.run_deadline_ms = t0 + 600;
    assert_ptr_equal(run_execute(&a, &o), &a.run);
    assert_true(dr_mono_ms() - t0 < 3000);
    assert_int_equal(a.run.res[idx(&a, "fixture_dep.slow")].outcome, ACT_FAILED);
    assert_true(a.run.res[idx(&a, "fixture_dep.slow")].timed_out);
    /* concurrency 1: the second one would start after the first ended, past the phase deadline: it does not */
    assert_int_equal(a.run.res[idx(&a, "fixture.quick")].outcome, ACT_SKIPPED);
    assert_true(tu_contains(a.run.res[idx(&a, "fixture.quick")].error, "deadline passed"));
    assert_int_equal(trace_time("start", "fixture.quick"), -1);
    assert_false(result_all_succeeded(&a.run));
    agent_free(&a);
}

/* The run's start reaches every hook of the run as dr_hook_args.run_started (plugins need not parse the run id). */
static void test_run_started_reaches_hooks(void **state)
{
    agent a;
    run_opts o;

    (void)state;
    open_agent(&a,
               "{ type = \"fixture\"; name = \"a\"; checks = 0; report_run_started = true; },\n"
               "{ type = \"fixture\"; name = \"b\"; checks = 0; report_run_started = true; }",
               2);
    memset(&o, 0, sizeof(o));
    o.hook = HOOK_VERIFY;
    o.run_id = "test-run";
    o.grace_ms = 500;
    o.run_started = 1765000000.25;
    assert_non_null(run_execute(&a, &o));
    for (int i = 0; i < 2; i++) {
        const res_result *r = &a.run.res[idx(&a, i == 0 ? "fixture.a" : "fixture.b")];
        assert_int_equal(r->n_checks, 1);
        assert_string_equal(r->checks[0].name, "run_started");
        assert_string_equal(r->checks[0].observed, "1765000000.250");
    }
    agent_free(&a);
}

static void test_verify_statuses(void **state)
{
    agent a;

    (void)state;
    open_agent(&a,
               "{ type = \"fixture_dep\"; name = \"ok\"; rpo = 3.5; },\n"
               "{ type = \"fixture_dep\"; name = \"warn\"; status = \"WARNING\"; },\n"
               "{ type = \"fixture_dep\"; name = \"broken\"; fail = [\"verify\"]; },\n"
               "{ type = \"fixture_dep\"; name = \"silent\"; checks = 0; },\n"
               "{ type = \"fixture\"; name = \"crit\"; status = \"CRITICAL\"; }",
               4);
    run(&a, HOOK_VERIFY, 0);
    assert_int_equal(a.run.res[idx(&a, "fixture_dep.ok")].verdict, DR_STATUS_OK);
    assert_true(a.run.res[idx(&a, "fixture_dep.ok")].has_rpo);
    assert_true(a.run.res[idx(&a, "fixture_dep.ok")].rpo == 3.5);
    assert_int_equal(a.run.res[idx(&a, "fixture_dep.warn")].verdict, DR_STATUS_WARNING);
    /* a hook that fails is UNKNOWN, never OK */
    assert_int_equal(a.run.res[idx(&a, "fixture_dep.broken")].verdict, DR_STATUS_UNKNOWN);
    /* a hook that reports nothing is UNKNOWN too */
    assert_int_equal(a.run.res[idx(&a, "fixture_dep.silent")].verdict, DR_STATUS_UNKNOWN);
    /* verify does not skip dependants of a failed resource */
    assert_int_equal(a.run.res[idx(&a, "fixture.crit")].verdict, DR_STATUS_CRITICAL);
    assert_int_equal(result_worst_status(&a.run), DR_STATUS_CRITICAL);
    agent_free(&a);
}

static void test_timeout(void **state)
{
    agent a;
    run_opts o;
    int64_t t0;
    size_t i;

    (void)state;
    /* a hook that honours its deadline stops at it */
    open_agent(&a,
               "{ type = \"fixture_dep\"; name = \"slow\"; sleep = \"30s\"; timeout = \"300ms\"; },\n"
               "{ type = \"fixture\"; name = \"after\"; }",
               4);
    t0 = dr_mono_ms();
    run(&a, HOOK_FAILOVER, 1);
    assert_true(dr_mono_ms() - t0 < 3000);
    i = idx(&a, "fixture_dep.slow");
    assert_int_equal(a.run.res[i].outcome, ACT_FAILED);
    assert_true(a.run.res[i].timed_out);
    assert_int_equal(a.run.res[idx(&a, "fixture.after")].outcome, ACT_SKIPPED);
    agent_free(&a);

    /* a hook that ignores its deadline is abandoned after the grace period; it still uses the agent, so
       the agent lives as long as the process (static) and agent_free frees nothing */
    static agent ab;
    g_agent_extra = "isolation = \"none\";"; /* this part is about a hook in the agent's own process */
    open_agent(&ab, "{ type = \"fixture_dep\"; name = \"stubborn\"; sleep = \"4s\"; ignore_deadline = true; }", 4);
    g_agent_extra = "";
    assert_false(ab.plugins.items[0].isolated);
    memset(&o, 0, sizeof(o));
    o.hook = HOOK_VERIFY;
    o.hook_timeout = 0.2;
    o.grace_ms = 300;
    t0 = dr_mono_ms();
    assert_ptr_equal(run_execute(&ab, &o), &ab.run);
    assert_true(dr_mono_ms() - t0 < 2000);
    assert_int_equal(ab.run.res[0].verdict, DR_STATUS_UNKNOWN);
    assert_true(ab.run.res[0].timed_out);
    assert_true(tu_contains(ab.run.res[0].error, "abandoned"));
    assert_int_equal(agent_free(&ab), 1);
    assert_non_null(ab.run.res); /* untouched */
    /* once the hook has returned (its 4 s sleep), everything is freed */
    for (int k = 0; k < 100 && run_live_hooks() > 0; k++)
        usleep(100 * 1000);
    assert_int_equal(run_live_hooks(), 0);
    assert_int_equal(agent_free(&ab), 0);

    /* isolated (the default for a plugin that is not shipped), the same hook's process is killed after the
       grace period: nothing of it outlives the run */
    open_agent(&a, "{ type = \"fixture_dep\"; name = \"stubborn\"; sleep = \"4s\"; ignore_deadline = true; }", 4);
    assert_true(a.plugins.items[0].isolated);
    memset(&o, 0, sizeof(o));
    o.hook = HOOK_VERIFY;
    o.hook_timeout = 0.2;
    o.grace_ms = 300;
    t0 = dr_mono_ms();
    assert_ptr_equal(run_execute(&a, &o), &a.run);
    assert_true(dr_mono_ms() - t0 < 2000);
    assert_int_equal(a.run.res[0].verdict, DR_STATUS_UNKNOWN);
    assert_true(a.run.res[0].timed_out);
    assert_true(tu_contains(a.run.res[0].error, "did not return before its deadline; its plugin process was killed"));
    assert_int_equal(run_live_hooks(), 0);
    assert_int_equal(agent_free(&a), 0);
}

static void *cancel_later(void *arg)
{
    (void)arg;
    usleep(300 * 1000);
    cancel_request();
    return NULL;
}

static void test_cancel(void **state)
{
    agent a;
    pthread_t t;
    int64_t t0;
    char res[8192];

    (void)state;
    snprintf(res, sizeof(res),
             "{ type = \"fixture_dep\"; name = \"a\"; sleep = \"20s\"; trace = \"%s\"; },\n"
             "{ type = \"fixture_dep\"; name = \"quick\"; },\n"
             "{ type = \"fixture\"; name = \"later\"; }",
             g_trace);
    open_agent(&a, res, 4);
    cancel_reset();
    pthread_create(&t, NULL, cancel_later, NULL);
    t0 = dr_mono_ms();
    run(&a, HOOK_FAILOVER, 1);
    pthread_join(t, NULL);
    assert_true(dr_mono_ms() - t0 < 3000);
    /* the running hook observed the cancel and stopped */
    assert_true(trace_time("end", "fixture_dep.a") >= 0);
    assert_int_equal(a.run.res[idx(&a, "fixture_dep.a")].outcome, ACT_FAILED);
    assert_true(a.run.res[idx(&a, "fixture_dep.a")].cancelled);
    /* what finished is reported as such */
    assert_int_equal(a.run.res[idx(&a, "fixture_dep.quick")].outcome, ACT_UNCHANGED);
    /* what had not started never starts */
    assert_int_equal(a.run.res[idx(&a, "fixture.later")].outcome, ACT_SKIPPED);
    assert_false(result_all_succeeded(&a.run));
    cancel_reset();
    agent_free(&a);
}

static void test_dry_run_plan(void **state)
{
    agent a;
    run_opts o;

    (void)state;
    open_agent(&a, "{ type = \"fixture_dep\"; name = \"a\"; change = \"enable-streams\"; },\n"
                   "{ type = \"fixture_dep\"; name = \"b\"; }",
               4);
    memset(&o, 0, sizeof(o));
    o.hook = HOOK_CONFIGURE;
    o.dry_run = 1;
    o.ordered = 1;
    assert_ptr_equal(run_execute(&a, &o), &a.run);
    assert_int_equal(a.run.res[0].outcome, ACT_PLANNED);
    assert_int_equal(a.run.res[0].changes[0].state, DR_CHANGE_PLANNED);
    assert_int_equal(a.run.res[1].outcome, ACT_UNCHANGED);
    assert_true(result_changes_pending(&a.run));
    agent_free(&a);
}

static void test_selection(void **state)
{
    agent a;
    run_opts o;
    unsigned char sel[3] = {0, 1, 0};

    (void)state;
    open_agent(&a, "{ type = \"fixture_dep\"; name = \"a\"; fail = [\"failover\"]; },\n"
                   "{ type = \"fixture\"; name = \"b\"; },\n"
                   "{ type = \"fixture_dep\"; name = \"c\"; }",
               4);
    memset(&o, 0, sizeof(o));
    o.hook = HOOK_FAILOVER;
    o.ordered = 1;
    o.selected = sel;
    assert_ptr_equal(run_execute(&a, &o), &a.run);
    /* only the selected resource ran; its unselected dependency is not part of the run */
    assert_int_equal(a.run.res[1].outcome, ACT_UNCHANGED);
    assert_int_equal(a.run.res[0].ran, 0);
    assert_true(result_all_succeeded(&a.run));
    agent_free(&a);
}

/* report_json() streams the document resource by resource; it must write what json_dumpf of the whole tree does. */
static void assert_streamed_json_equal(agent *a, const char *command)
{
    report_info ri = {.command = command, .run_id = "test-run"};
    json_t *doc = report_json_doc(&a->run, &ri);
    char *whole = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII), *streamed = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&streamed, &len);

    assert_non_null(whole);
    assert_non_null(f);
    assert_int_equal(report_json(&a->run, &ri, f), 0);
    fclose(f);
    assert_true(len > 0 && streamed[len - 1] == '\n');
    streamed[len - 1] = '\0';
    assert_string_equal(streamed, whole);
    free(streamed);
    free(whole);
    json_decref(doc);
}

static void test_report_json_streamed(void **state)
{
    agent a;
    run_opts o;
    unsigned char none[4] = {0, 0, 0, 0};

    (void)state;
    open_agent(&a,
               "{ type = \"fixture_dep\"; name = \"ok\"; rpo = 3.5; },\n"
               "{ type = \"fixture_dep\"; name = \"broken\"; fail = [\"verify\"]; },\n"
               "{ type = \"fixture\"; name = \"crit\"; status = \"CRITICAL\"; change = \"move \\\"\xc3\xa9t\xc3\xa9\\\" \\\\ now\"; },\n"
               "{ type = \"fixture_dep\"; name = \"c\"; change = \"enable-streams\"; }",
               4);
    run(&a, HOOK_VERIFY, 0);
    assert_streamed_json_equal(&a, "verify");
    run(&a, HOOK_FAILOVER, 1);
    assert_streamed_json_equal(&a, "failover");
    /* no resource selected: an empty array */
    memset(&o, 0, sizeof(o));
    o.hook = HOOK_VERIFY;
    o.selected = none;
    assert_ptr_equal(run_execute(&a, &o), &a.run);
    assert_streamed_json_equal(&a, "verify");
    agent_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parallel_overlap),
        cmocka_unit_test(test_dependency_order_and_skip),
        cmocka_unit_test(test_reverse_order),
        cmocka_unit_test(test_prepare_phase_deadline),
        cmocka_unit_test(test_verify_statuses),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_dry_run_plan),
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_run_started_reaches_hooks),
        cmocka_unit_test(test_report_json_streamed),
    };
    dr_error err;

    fixture_dir = getenv("DR_FIXTURE_DIR");
    if (!fixture_dir) {
        fprintf(stderr, "DR_FIXTURE_DIR must be set (ctest does)\n");
        return 1;
    }
    dr_error_clear(&err);
    if (host_sdk_global_init(&err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
