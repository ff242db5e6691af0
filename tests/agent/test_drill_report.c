/* test_drill_report.c: a drill recorded from run results, its outcome, its self-contained HTML and JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "dr/util.h"
#include "drill.h"
#include "testutil.h"


static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *s;
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = calloc((size_t)n + 1, 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

static cfg_resource g_res[2] = {
    {.type = "dynamodb", .name = "orders", .id = "dynamodb.orders"},
    {.type = "route53", .name = "app", .id = "route53.app"},
};
static ag_config g_cfg = {.rto = 3600, .rpo = 900, .res = g_res, .n_res = 2};

/* A run's result as the runner leaves it: one res_result per resource, typed by the hook. */
static void phase(drill *d, hook_kind hook, const char *name, double t0, res_result *res)
{
    run_result run = {.hook = hook, .cfg = &g_cfg, .res = res, .started = t0, .finished = t0 + 2};

    drill_record_phase(d, &run, name);
}

static void test_drill_reports(void **state)
{
    drill d;
    double t0 = dr_now() - 60;
    check_rec warn = {.name = "replica lag", .status = DR_STATUS_WARNING, .observed = "12s"};
    change_rec moved = {.state = DR_CHANGE_DONE, .action = "promote", .target = "replica us-west-2"};
    res_result verify[2] = {{.ran = 1, .verdict = DR_STATUS_OK, .started_at = t0, .finished_at = t0 + 1},
                            {.ran = 1, .verdict = DR_STATUS_WARNING, .started_at = t0, .finished_at = t0 + 2,
                             .checks = &warn, .n_checks = 1}};
    res_result failover[2] = {{.ran = 1, .outcome = ACT_DONE, .started_at = t0 + 5, .finished_at = t0 + 9,
                               .changes = &moved, .n_changes = 1, .has_rpo = 1, .rpo = 4.5},
                              {.ran = 1, .outcome = ACT_FAILED, .started_at = t0 + 9, .finished_at = t0 + 10}};
    char json_path[4096], html_path[4096], *html, *json;
    json_t *doc;
    dr_error err;

    (void)state;
    snprintf(failover[1].error, sizeof(failover[1].error), "<script>alert(1)</script> & more");
    memset(&d, 0, sizeof(d));
    snprintf(d.run_id, sizeof(d.run_id), "20261206T000000Z-abcdef");
    snprintf(d.mode, sizeof(d.mode), "graceful");
    snprintf(d.host, sizeof(d.host), "host<1>");
    d.started = t0;
    d.rto_objective = g_cfg.rto;
    d.rpo_objective = g_cfg.rpo;
    d.notes = strdup("lesson: \"DNS\" took <30s>");

    phase(&d, HOOK_VERIFY, "verify", t0, verify);
    d.failover_started = t0 + 5;
    phase(&d, HOOK_FAILOVER, "failover", t0 + 5, failover);
    d.rto_reached = 1;
    d.rto = 20;
    assert_int_equal(d.n_steps, 4);
    assert_int_equal(d.steps[1].verdict, DR_STATUS_WARNING);
    assert_int_equal(d.steps[3].outcome, ACT_FAILED);
    assert_true(tu_contains(d.steps[2].detail, "promote replica us-west-2"));
    assert_true(tu_contains(d.steps[1].detail, "WARNING replica lag: 12s"));

    d.failed_phase = 1;
    snprintf(d.failure, sizeof(d.failure), "the failover of route53.app failed");
    drill_finish(&d);
    assert_false(d.success);
    assert_true(d.has_rpo && d.rpo == 4.5);
    assert_string_equal(d.rpo_resource, "dynamodb.orders");

    dr_error_clear(&err);
    assert_int_equal(drill_write_reports(&d, tu_dir, json_path, sizeof(json_path), html_path, sizeof(html_path), &err),
                     0);
    assert_true(tu_contains(html_path, "/reports/drill-20261206T000000Z-abcdef.html"));

    html = slurp(html_path);
    /* one self-contained page: nothing loaded from elsewhere, no script */
    assert_int_equal(strncmp(html, "<!DOCTYPE html>", 15), 0);
    assert_true(tu_contains(html, "</html>\n"));
    assert_false(tu_contains(html, "<script"));
    assert_false(tu_contains(html, "src="));
    assert_false(tu_contains(html, "<link"));
    /* what a plugin or the operator wrote is text, never markup */
    assert_true(tu_contains(html, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"));
    assert_true(tu_contains(html, "host&lt;1&gt;"));
    assert_true(tu_contains(html, "lesson: &quot;DNS&quot; took &lt;30s&gt;"));
    /* the timeline: one row per resource, the RTO achieved and its objective */
    assert_true(tu_contains(html, "<svg "));
    assert_true(tu_contains(html, ">dynamodb.orders</text>"));
    assert_true(tu_contains(html, ">route53.app</text>"));
    assert_true(tu_contains(html, "RTO achieved 20s"));
    assert_true(tu_contains(html, "RTO objective 1h"));
    assert_true(tu_contains(html, "objectives missed"));
    assert_true(tu_contains(html, "RPO (worst observed: dynamodb.orders)</td><td class=\"ok\">4.5s"));
    assert_true(tu_contains(html, "contenteditable=\"true\""));
    free(html);

    json = slurp(json_path);
    doc = json_loads(json, 0, NULL);
    assert_non_null(doc);
    assert_true(json_is_false(json_object_get(doc, "success")));
    assert_int_equal(json_array_size(json_object_get(doc, "steps")), 4);
    json_decref(doc);
    free(json);
    drill_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_drill_reports, tu_dir_setup, tu_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
