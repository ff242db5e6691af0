/* test_config.c: configuration parsing and validation: every error names file, line and key; nothing runs after one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "dr/util.h"
#include "graph.h"
#include "testutil.h"

/* A plugin descriptor declared here, so config tests need no shared object. */
static const dr_config_key tkeys[] = {
    {"table", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL, "table name"},
    {"count", DR_KEY_INT, 0, "3", NULL, "an integer"},
    {"enabled", DR_KEY_BOOL, 0, "true", NULL, "a boolean"},
    {"ratio", DR_KEY_FLOAT, 0, "0.5", NULL, "a number"},
    {"window", DR_KEY_DURATION, 0, "1h", NULL, "a duration"},
    {"tags", DR_KEY_LIST, 0, NULL, NULL, "strings"},
    {"mode", DR_KEY_ENUM, 0, "replica", "replica|global", "a choice"},
    {"password", DR_KEY_STRING, DR_KEY_SECRET, NULL, NULL, "a secret"},
};
static const char *const dns_defaults[] = {"db.*", NULL};
static const dr_plugin_descriptor tdesc = {DR_PLUGIN_HEADER, "db", "1", "test", tkeys, 8, NULL,
                                           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
static const dr_config_key dkeys[] = {{"zone", DR_KEY_STRING, 0, NULL, NULL, "zone"}};
static const dr_plugin_descriptor ddesc = {DR_PLUGIN_HEADER, "dns", "1", "test", dkeys, 1, dns_defaults,
                                           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};

static const dr_plugin_descriptor *find(const char *type, void *arg)
{
    (void)arg;
    if (strcmp(type, "db") == 0)
        return &tdesc;
    if (strcmp(type, "dns") == 0)
        return &ddesc;
    return NULL;
}

#define HEAD                                                                                       \
    "objectives = { rto = \"1h\"; rpo = \"15m\"; };\n" /* 1 */                                     \
    "regions = { primary = \"us-east-1\"; dr = \"us-west-2\"; };\n" /* 2 */


/* Load, bind and build the graph; returns the first error (or NULL) and the count in *n. */
static char *check(const char *text, unsigned mode, size_t *n, ag_config **keep)
{
    char *path = tu_write(tu_dir, "t.conf", text, mode);
    ag_config *cfg = NULL;
    errlist e = {0};
    char *first = NULL;
    graph g;

    memset(&g, 0, sizeof(g));
    if (config_load(path, &cfg, &e) == 0 && config_bind(cfg, find, NULL, &e) == 0)
        graph_build(cfg, &g, &e);
    graph_free(&g);
    *n = e.n;
    if (e.n) {
        first = strdup(e.msgs[0]);
        for (size_t i = 0; i < e.n; i++)
            print_message("  config error: %s\n", e.msgs[i]);
    }
    errlist_free(&e);
    if (keep)
        *keep = cfg;
    else
        config_free(cfg);
    free(path);
    return first;
}

static void expect_error(const char *text, const char *line_tag, const char *needle)
{
    size_t n;
    char *msg = check(text, 0600, &n, NULL);

    assert_non_null(msg);
    assert_true(tu_contains(msg, "t.conf:"));
    if (!tu_contains(msg, line_tag) || !tu_contains(msg, needle))
        fail_msg("expected '%s' and '%s' in: %s", line_tag, needle, msg);
    free(msg);
}

static void test_valid(void **state)
{
    size_t n;
    ag_config *cfg = NULL;
    char *msg;
    dr_key_type t;
    const cfg_value *v;

    (void)state;
    msg = check(HEAD "resources = (\n"
                     "  { type = \"db\"; name = \"users\"; table = \"t-users\"; count = 7; tags = [\"a\", \"b\"];\n"
                     "    window = \"15m\"; ratio = 2; mode = \"global\"; },\n"
                     "  { type = \"dns\"; name = \"api\"; }\n"
                     ");\n",
                0600, &n, &cfg);
    assert_null(msg);
    assert_int_equal(n, 0);
    assert_non_null(cfg);
    assert_true(cfg->rto == 3600.0);
    assert_true(cfg->rpo == 900.0);
    assert_string_equal(cfg->primary_region, "us-east-1");
    assert_int_equal(cfg->n_res, 2);
    assert_string_equal(cfg->res[0].id, "db.users");
    v = config_value(&cfg->res[0], "count", &t);
    assert_int_equal(t, DR_KEY_INT);
    assert_int_equal(v->i, 7);
    v = config_value(&cfg->res[0], "window", NULL);
    assert_true(v->f == 900.0);
    v = config_value(&cfg->res[0], "ratio", NULL);
    assert_true(v->f == 2.0);
    v = config_value(&cfg->res[0], "tags", NULL);
    assert_int_equal(v->n_list, 2);
    assert_string_equal(v->list[1], "b");
    v = config_value(&cfg->res[0], "enabled", NULL); /* default */
    assert_int_equal(v->set, 1);
    assert_int_equal(v->i, 1);
    v = config_value(&cfg->res[0], "password", NULL); /* no default, not set */
    assert_int_equal(v->set, 0);
    assert_int_equal(cfg->agent.concurrency, 8);
    config_free(cfg);
}

static void test_syntax_error(void **state)
{
    (void)state;
    expect_error(HEAD "resources = (\n  { type = \"db\"; name = ; }\n);\n", ":4:", "syntax error");
}

static void test_unknown_key(void **state)
{
    (void)state;
    expect_error(HEAD "resources = (\n  { type = \"db\"; name = \"u\";\n    table = \"t\";\n    tabel = \"x\"; }\n);\n",
                 ":6:", "unknown key 'tabel' for plugin db (did you mean 'table'?)");
}

static void test_wrong_type(void **state)
{
    (void)state;
    expect_error(HEAD "resources = (\n  { type = \"db\"; name = \"u\"; table = \"t\";\n    count = \"seven\"; }\n);\n",
                 ":5:", "key 'count' (integer): expected an integer");
    expect_error(HEAD "resources = (\n  { type = \"db\"; name = \"u\"; table = \"t\";\n    enabled = 1; }\n);\n",
                 ":5:", "key 'enabled' (boolean): expected true or false");
    expect_error(HEAD "resources = (\n  { type = \"db\"; name = \"u\"; table = 5; }\n);\n", ":4:",
                 "key 'table' (string): expected a string");
    expect_error(HEAD "resources = (\n  { type = \"db\"; name = \"u\"; table = \"t\";\n    mode = \"both\"; }\n);\n",
                 ":5:", "'both' is not one of replica|global");
}

static void test_missing_required(void **state)
{
    (void)state;
    expect_error(HEAD "resources = (\n  { type = \"db\"; name = \"u\"; }\n);\n", ":4:",
                 "db.u: missing required key 'table'");
}

static void test_bad_duration(void **state)
{
    (void)state;
    expect_error(HEAD "resources = (\n  { type = \"db\"; name = \"u\"; table = \"t\";\n    window = \"15 minutes\"; }\n);\n",
                 ":5:", "key 'window' (duration): bad duration");
    expect_error("objectives = { rto = \"1h\"; rpo = \"soon\"; };\n"
                 "regions = { primary = \"us-east-1\"; dr = \"us-west-2\"; };\nresources = ();\n",
                 ":1:", "objectives.rpo: bad duration");
    /* beyond ten years, or not a plain decimal number: an overflowing deadline must never reach the runner */
    expect_error("objectives = { rto = \"1e300s\"; rpo = \"15m\"; };\n"
                 "regions = { primary = \"us-east-1\"; dr = \"us-west-2\"; };\nresources = ();\n",
                 ":1:", "objectives.rto: bad duration");
    expect_error("objectives = { rto = \"1h\"; rpo = \"15m\"; };\n"
                 "regions = { primary = \"us-east-1\"; dr = \"us-west-2\"; };\n"
                 "agent = { hook_timeout = \"3651d\"; };\nresources = ();\n",
                 ":3:", "hook_timeout: bad duration");
    expect_error(HEAD "resources = (\n  { type = \"db\"; name = \"u\"; table = \"t\";\n    window = \"0x10s\"; }\n);\n",
                 ":5:", "key 'window' (duration): bad duration");
    expect_error(HEAD "resources = (\n  { type = \"db\"; name = \"u\"; table = \"t\";\n    window = 1e300; }\n);\n",
                 ":5:", "key 'window' (duration): bad duration");
    expect_error("objectives = { rto = 1e300; rpo = \"15m\"; };\n"
                 "regions = { primary = \"us-east-1\"; dr = \"us-west-2\"; };\nresources = ();\n",
                 ":1:", "objectives.rto: bad duration");
}

static void test_duration_parse(void **state)
{
    double s = -1;

    (void)state;
    assert_int_equal(dr_duration_parse("1h30m", &s), 0);
    assert_true(s == 5400.0);
    assert_int_equal(dr_duration_parse("1.5s", &s), 0);
    assert_true(s == 1.5);
    assert_int_equal(dr_duration_parse("500ms", &s), 0);
    assert_true(s == 0.5);
    assert_int_equal(dr_duration_parse("3650d", &s), 0);
    assert_true(s == DR_DURATION_MAX);
    assert_int_equal(dr_duration_parse("3650d1s", &s), DR_EINVAL);
    assert_int_equal(dr_duration_parse("1e3s", &s), DR_EINVAL);
    assert_int_equal(dr_duration_parse("-5s", &s), DR_EINVAL);
    assert_int_equal(dr_duration_parse("inf", &s), DR_EINVAL);
    assert_int_equal(dr_duration_parse("nan", &s), DR_EINVAL);
    assert_int_equal(dr_duration_parse(".s", &s), DR_EINVAL);
    assert_int_equal(dr_duration_parse("1.2.3s", &s), DR_EINVAL);
}

static void test_unknown_dependency(void **state)
{
    (void)state;
    expect_error(HEAD "resources = (\n  { type = \"db\"; name = \"u\"; table = \"t\";\n    depends_on = [\"db.nope\"]; }\n);\n",
                 ":5:", "depends_on 'db.nope': unknown resource");
    expect_error(HEAD "resources = (\n  { type = \"db\"; name = \"u\"; table = \"t\";\n    depends_on = [\"aurora.*\"]; }\n);\n",
                 ":5:", "depends_on 'aurora.*' matches no resource");
}

static void test_cycle(void **state)
{
    (void)state;
    expect_error(HEAD "resources = (\n"
                      "  { type = \"db\"; name = \"a\"; table = \"t\"; depends_on = [\"db.b\"]; },\n"
                      "  { type = \"db\"; name = \"b\"; table = \"t\"; depends_on = [\"db.c\"]; },\n"
                      "  { type = \"db\"; name = \"c\"; table = \"t\"; depends_on = [\"db.a\"]; }\n);\n",
                 "t.conf:", "dependency cycle: ");
    {
        size_t n;
        char *msg = check(HEAD "resources = (\n"
                               "  { type = \"db\"; name = \"a\"; table = \"t\"; depends_on = [\"db.b\"]; },\n"
                               "  { type = \"db\"; name = \"b\"; table = \"t\"; depends_on = [\"db.a\"]; }\n);\n",
                          0600, &n, NULL);
        assert_non_null(msg);
        /* both members of the cycle are named, closing the loop */
        if (!tu_contains(msg, "db.a -> db.b -> db.a") && !tu_contains(msg, "db.b -> db.a -> db.b"))
            fail_msg("cycle not named: %s", msg);
        free(msg);
    }
}

static void test_unknown_plugin_and_duplicates(void **state)
{
    (void)state;
    expect_error(HEAD "resources = (\n  { type = \"nosuch\"; name = \"u\"; }\n);\n", ":4:",
                 "no plugin for type 'nosuch'");
    expect_error(HEAD "resources = (\n  { type = \"db\"; name = \"u\"; table = \"t\"; },\n"
                      "  { type = \"db\"; name = \"u\"; table = \"t\"; }\n);\n",
                 ":5:", "resource 'db.u' is defined twice (first at line 4)");
    expect_error(HEAD "resources = (\n  { type = \"db\"; name = \"Bad Name\"; table = \"t\"; }\n);\n", ":4:",
                 "name 'Bad Name' may only hold");
}

static void test_sections(void **state)
{
    (void)state;
    expect_error("regions = { primary = \"us-east-1\"; dr = \"us-west-2\"; };\nresources = ();\n", "t.conf",
                 "objectives: required");
    expect_error(HEAD "agent = { concurency = 4; };\nresources = ();\n", ":3:",
                 "agent: unknown key 'concurency' (did you mean 'concurrency'?)");
    expect_error(HEAD "agent = { concurrency = 0; };\nresources = ();\n", ":3:", "agent.concurrency: 0 is out of range");
    expect_error("objectives = { rto = \"1h\"; rpo = \"15m\"; };\n"
                 "regions = { primary = \"us-east-1\"; dr = \"us-east-1\"; };\nresources = ();\n",
                 ":2:", "primary and dr are both");
    expect_error(HEAD "extra = 1;\nresources = ();\n", ":3:", "top level: unknown key 'extra'");
}

static void test_secret_permissions(void **state)
{
    size_t n;
    char *msg;
    const char *text = HEAD "resources = (\n  { type = \"db\"; name = \"u\"; table = \"t\";\n    password = \"hunter2\"; }\n);\n";

    (void)state;
    msg = check(text, 0644, &n, NULL);
    assert_non_null(msg);
    if (!tu_contains(msg, ":5:") || !tu_contains(msg, "holds a secret but is readable by group or others"))
        fail_msg("unexpected: %s", msg);
    free(msg);
    msg = check(text, 0600, &n, NULL);
    assert_null(msg);
}

static void test_utf8_scrub(void **state)
{
    char ok[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", bad[] = "a\xe9" "b\xc3", over[] = "\xc0\xaf\xed\xa0\x80" "x";

    (void)state;
    dr_utf8_scrub(ok);
    assert_string_equal(ok, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"); /* valid text is left alone */
    dr_utf8_scrub(bad);
    assert_string_equal(bad, "a?b?"); /* a lone Latin-1 byte, a sequence cut at the end */
    dr_utf8_scrub(over);
    assert_string_equal(over, "?????x"); /* an overlong '/', a surrogate */
    dr_utf8_scrub(NULL);
}

static void test_writable_or_included_refused(void **state)
{
    size_t n;
    char *msg;
    const char *text = HEAD "resources = (\n  { type = \"db\"; name = \"u\"; table = \"t\"; }\n);\n";

    (void)state;
    /* whoever can write it decides what a failover does, secret or not */
    msg = check(text, 0664, &n, NULL);
    assert_non_null(msg);
    if (!tu_contains(msg, "t.conf") || !tu_contains(msg, "writable by group or others (mode 0664)"))
        fail_msg("unexpected: %s", msg);
    free(msg);
    msg = check(text, 0602, &n, NULL);
    assert_non_null(msg);
    free(msg);
    msg = check(text, 0644, &n, NULL); /* readable is fine without a secret */
    assert_null(msg);
    /* an included file's owner and mode would go unchecked */
    expect_error(HEAD "  @include \"/etc/passwd\"\nresources = ();\n", ":3:", "@include is not supported");
}

static void test_defaults_graph(void **state)
{
    size_t n;
    ag_config *cfg = NULL;
    char *msg;
    graph g;
    errlist e = {0};

    (void)state;
    msg = check(HEAD "resources = (\n"
                     "  { type = \"dns\"; name = \"api\"; },\n"
                     "  { type = \"db\"; name = \"a\"; table = \"t\"; },\n"
                     "  { type = \"db\"; name = \"b\"; table = \"t\"; depends_on = [\"db.a\"]; },\n"
                     "  { type = \"dns\"; name = \"solo\"; depends_on = []; }\n);\n",
                0600, &n, &cfg);
    assert_null(msg);
    assert_int_equal(graph_build(cfg, &g, &e), 0);
    /* dns.api takes its plugin's default: every db resource */
    assert_int_equal(g.n_deps[0], 2);
    assert_int_equal(g.level[1], 0);
    assert_int_equal(g.level[2], 1);
    assert_int_equal(g.level[0], 2);
    /* an explicit empty depends_on overrides the default */
    assert_int_equal(g.n_deps[3], 0);
    assert_int_equal(g.level[3], 0);
    assert_int_equal(g.n_levels, 3);
    graph_free(&g);
    errlist_free(&e);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_bad_duration),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_unknown_dependency),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_unknown_plugin_and_duplicates),
        cmocka_unit_test(test_sections),
        cmocka_unit_test(test_secret_permissions),
        cmocka_unit_test(test_writable_or_included_refused),
        cmocka_unit_test(test_utf8_scrub),
        cmocka_unit_test(test_defaults_graph),
    };
    return cmocka_run_group_tests(tests, tu_dir_setup, tu_dir_teardown);
}
