/* test_loader.c: the plugin loader refuses each kind of bad plugin with one line naming the file and the reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "loader.h"
#include "agent.h"
#include "host.h"
#include "testutil.h"

static const char *broken_dir;  /* DR_BROKEN_DIR */
static const char *fixture_dir; /* DR_FIXTURE_DIR */

static void expect_refusal(const char *dir, const char *file, const plugin_set *loaded, const char *reason)
{
    plugin p;
    dr_error err;
    int rc;

    dr_error_clear(&err);
    rc = plugin_load_file(dir, file, host_api(), loaded, &p, &err);
    print_message("  %s -> %s\n", file, err.message);
    assert_int_not_equal(rc, 0);
    assert_true(tu_contains(err.message, file));
    if (!tu_contains(err.message, reason))
        fail_msg("expected '%s' in: %s", reason, err.message);
    assert_null(strchr(err.message, '\n'));
}

static void test_not_elf(void **state)
{
    (void)state;
    expect_refusal(broken_dir, "not_elf.so", NULL, "refused: not a shared object (no ELF header)");
}

static void test_missing_entry(void **state)
{
    (void)state;
    expect_refusal(broken_dir, "no_entry.so", NULL, "refused: missing entry symbol dr_plugin_entry");
}

static void test_magic(void **state)
{
    (void)state;
    expect_refusal(broken_dir, "magic.so", NULL, "refused: wrong magic 0x12345678");
}

static void test_major(void **state)
{
    char want[128];

    (void)state;
    snprintf(want, sizeof(want), "refused: plugin ABI %d.0, host ABI %d.%d: major versions differ", DR_ABI_MAJOR + 1,
             DR_ABI_MAJOR, DR_ABI_MINOR);
    expect_refusal(broken_dir, "major.so", NULL, want);
}

static void test_minor(void **state)
{
    char want[128];

    (void)state;
    snprintf(want, sizeof(want), "refused: plugin ABI %d.%d is newer than host ABI %d.%d", DR_ABI_MAJOR,
             DR_ABI_MINOR + 7, DR_ABI_MAJOR, DR_ABI_MINOR);
    expect_refusal(broken_dir, "minor.so", NULL, want);
}

static void test_small_struct(void **state)
{
    (void)state;
    expect_refusal(broken_dir, "size.so", NULL, "refused: descriptor struct_size 16 is smaller than ABI 1.0's");
}

static void test_duplicate_type(void **state)
{
    plugin_set set;
    dr_error err;

    (void)state;
    memset(&set, 0, sizeof(set));
    dr_error_clear(&err);
    /* loads fixture.so and fixture_dep.so */
    assert_int_equal(plugins_load_dir(fixture_dir, host_api(), &set, &err), 0);
    assert_int_equal(set.n, 2);
    assert_int_equal(set.n_refusals, 0);
    assert_non_null(plugins_find(&set, "fixture"));
    assert_string_equal(plugins_find(&set, "fixture")->desc.version, "1.2.3");
    expect_refusal(broken_dir, "duplicate.so", &set, "refused: a second plugin for resource type 'fixture' (already loaded from");
    plugin_set_free(&set);
}

/* Copy a file byte for byte. */
static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[8192];
    size_t n;

    assert_non_null(in);
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static char *fixture_copy(const char *dir, const char *name, unsigned mode)
{
    char from[1024], *to = malloc(1024);

    snprintf(from, sizeof(from), "%s/fixture.so", fixture_dir);
    snprintf(to, 1024, "%s/%s", dir, name);
    copy_file(from, to);
    chmod(to, (mode_t)mode);
    return to;
}

static void test_writable_file(void **state)
{
    char *dir = tu_mkdtemp();
    char *f1 = fixture_copy(dir, "ww.so", 0666);
    char *f2 = fixture_copy(dir, "gw.so", 0775);

    (void)state;
    expect_refusal(dir, "ww.so", NULL, "refused: the file is writable by others (mode 0666)");
    expect_refusal(dir, "gw.so", NULL, "refused: the file is writable by group (mode 0775)");
    free(f1);
    free(f2);
    tu_rmtree(dir);
    free(dir);
}

static void test_foreign_owner(void **state)
{
    char *dir = tu_mkdtemp();
    char *f = fixture_copy(dir, "owned.so", 0755);
    char want[128];

    (void)state;
    if (geteuid() != 0) {
        /* only root can give a file away; an unprivileged run cannot set this case up */
        print_message("  SKIP foreign owner: needs root to chown\n");
        free(f);
        tu_rmtree(dir);
        free(dir);
        skip();
    }
    assert_int_equal(chown(f, 4242, 4242), 0);
    snprintf(want, sizeof(want), "refused: the file is owned by uid 4242, not by root or the invoking user");
    expect_refusal(dir, "owned.so", NULL, want);
    free(f);
    tu_rmtree(dir);
    free(dir);
}

static void test_writable_dir(void **state)
{
    char *dir = tu_mkdtemp();
    char *f = fixture_copy(dir, "ok.so", 0755);
    plugin_set set;
    dr_error err;

    (void)state;
    memset(&set, 0, sizeof(set));
    chmod(dir, 0777);
    dr_error_clear(&err);
    assert_int_equal(plugins_load_dir(dir, host_api(), &set, &err), DR_EDENIED);
    print_message("  %s\n", err.message);
    assert_true(tu_contains(err.message, "refused: the plugin directory is writable by others (mode 0777)"));
    assert_int_equal(set.n, 0);
    chmod(dir, 0700);
    dr_error_clear(&err);
    assert_int_equal(plugins_load_dir(dir, host_api(), &set, &err), 0);
    assert_int_equal(set.n, 1);
    plugin_set_free(&set);
    free(f);
    tu_rmtree(dir);
    free(dir);
}

static void test_symlink_out(void **state)
{
    char *inside = tu_mkdtemp();
    char *outside = tu_mkdtemp();
    char *target = fixture_copy(outside, "elsewhere.so", 0755);
    char *inner = fixture_copy(inside, "real.so", 0755);
    char link1[1024], link2[1024];
    plugin p;
    dr_error err;

    (void)state;
    snprintf(link1, sizeof(link1), "%s/escape.so", inside);
    assert_int_equal(symlink(target, link1), 0);
    expect_refusal(inside, "escape.so", NULL, "refused: symlink leads out of the plugin directory");
    /* a symlink inside the directory is fine */
    snprintf(link2, sizeof(link2), "%s/alias.so", inside);
    assert_int_equal(symlink("real.so", link2), 0);
    dr_error_clear(&err);
    assert_int_equal(plugin_load_file(inside, "alias.so", host_api(), NULL, &p, &err), 0);
    free(p.path);
    free(target);
    free(inner);
    tu_rmtree(inside);
    tu_rmtree(outside);
    free(inside);
    free(outside);
}

/* Two files of one type in a directory: both refused, each naming the other; a choice settles it. */
static void test_duplicate_in_dir(void **state)
{
    char *dir = tu_mkdtemp();
    char *a = fixture_copy(dir, "a.so", 0755), *b = fixture_copy(dir, "b.so", 0755);
    char want[1024];
    plugin_set set;
    plugin_choice choice;
    dr_error err;

    (void)state;
    memset(&set, 0, sizeof(set));
    dr_error_clear(&err);
    assert_int_equal(plugins_load_dir(dir, host_api(), &set, &err), 0);
    assert_int_equal(set.n, 0);
    assert_int_equal(set.n_refusals, 2);
    snprintf(want, sizeof(want), "%s: refused: a second plugin for resource type 'fixture' (also in %s)", a, b);
    assert_true(tu_contains(set.refusals[0], want) || tu_contains(set.refusals[1], want));
    snprintf(want, sizeof(want), "%s: refused: a second plugin for resource type 'fixture' (also in %s)", b, a);
    assert_true(tu_contains(set.refusals[0], want) || tu_contains(set.refusals[1], want));
    plugin_set_free(&set);

    memset(&set, 0, sizeof(set));
    choice.type = "fixture";
    choice.path = b;
    set.choices = &choice;
    set.n_choices = 1;
    assert_int_equal(plugins_load_dir(dir, host_api(), &set, &err), 0);
    assert_int_equal(set.n, 1);
    assert_string_equal(set.items[0].path, b);
    assert_int_equal(set.n_refusals, 1);
    assert_true(tu_contains(set.refusals[0], "refused: agent.plugin_paths.fixture chooses"));
    plugin_set_free(&set);
    free(a);
    free(b);
    tu_rmtree(dir);
    free(dir);
}

/* A plugin built against ABI 1.0 loads: what it does not know (services) reads as absent. */
static void test_abi10_plugin_loads(void **state)
{
    plugin p;
    dr_error err;

    (void)state;
    dr_error_clear(&err);
    assert_int_equal(plugin_load_file(broken_dir, "abi10.so", host_api(), NULL, &p, &err), 0);
    assert_string_equal(p.desc.type, "abi10");
    assert_int_equal(p.desc.abi_minor, 0);
    assert_null(p.desc.services);
    free(p.path);
}

/* Run paths: relative, empty, writable or foreign directories are refused; $ORIGIN and trusted ones are not. */
static void test_runpath_rules(void **state)
{
    char *dir = tu_mkdtemp();
    char path[1024], want[256];
    dr_error err;
    static const struct {
        const char *rpath, *why;
    } cases[] = {
        {"$ORIGIN", NULL},
        {"/usr/lib", NULL},
        {".", "run path entry '.' is relative"},
        {"lib", "run path entry 'lib' is relative"},
        {"/usr/lib:", "run path entry '' is empty (the current directory)"},
        {"/tmp", "/tmp is writable by others"},
        {"/tmp/no/such/dir", "/tmp is writable by others"},
        {"$LIB/x", "uses a token other than $ORIGIN"},
    };

    (void)state;
    snprintf(path, sizeof(path), "%s/rp.so", dir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char cmd[2048];
        snprintf(cmd, sizeof(cmd), "cc -shared -fPIC -x c /dev/null -o '%s' '-Wl,--enable-new-dtags,-rpath,%s'", path,
                 cases[i].rpath);
        assert_int_equal(system(cmd), 0);
        dr_error_clear(&err);
        if (!cases[i].why) {
            assert_int_equal(plugin_check_runpath(path, &err), 0);
            continue;
        }
        assert_int_equal(plugin_check_runpath(path, &err), DR_EDENIED);
        snprintf(want, sizeof(want), "%s", cases[i].why);
        if (!tu_contains(err.message, want))
            fail_msg("%s: %s", cases[i].rpath, err.message);
    }
    /* DT_RPATH too */
    {
        char cmd[2048];
        snprintf(cmd, sizeof(cmd), "cc -shared -fPIC -x c /dev/null -o '%s' -Wl,--disable-new-dtags,-rpath,.", path);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(plugin_check_runpath(path, &err), DR_EDENIED);
    }
    unlink(path);
    tu_rmtree(dir);
    free(dir);
}

static void test_refusals_do_not_stop_others(void **state)
{
    char *dir = tu_mkdtemp();
    char *good = fixture_copy(dir, "good.so", 0755);
    char *bad = tu_write(dir, "junk.so", "not elf", 0644);
    plugin_set set;
    dr_error err;

    (void)state;
    memset(&set, 0, sizeof(set));
    dr_error_clear(&err);
    assert_int_equal(plugins_load_dir(dir, host_api(), &set, &err), 0);
    assert_int_equal(set.n, 1);
    assert_int_equal(set.n_refusals, 1);
    assert_true(tu_contains(set.refusals[0], "junk.so: refused: not a shared object"));
    plugin_set_free(&set);
    free(good);
    free(bad);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_elf),
        cmocka_unit_test(test_missing_entry),
        cmocka_unit_test(test_magic),
        cmocka_unit_test(test_major),
        cmocka_unit_test(test_minor),
        cmocka_unit_test(test_small_struct),
        cmocka_unit_test(test_duplicate_type),
        cmocka_unit_test(test_duplicate_in_dir),
        cmocka_unit_test(test_abi10_plugin_loads),
        cmocka_unit_test(test_runpath_rules),
        cmocka_unit_test(test_writable_file),
        cmocka_unit_test(test_foreign_owner),
        cmocka_unit_test(test_writable_dir),
        cmocka_unit_test(test_symlink_out),
        cmocka_unit_test(test_refusals_do_not_stop_others),
    };

    broken_dir = getenv("DR_BROKEN_DIR");
    fixture_dir = getenv("DR_FIXTURE_DIR");
    if (!broken_dir || !fixture_dir) {
        fprintf(stderr, "DR_BROKEN_DIR and DR_FIXTURE_DIR must be set (ctest does)\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
