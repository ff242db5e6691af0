/* testutil.c: helpers shared by the core unit tests: temporary files and directories. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

char *tu_mkdtemp(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    size_t len = strlen(base) + 32;
    char *p = malloc(len);

    if (!p)
        abort();
    snprintf(p, len, "%s/drtest.XXXXXX", base);
    if (!mkdtemp(p))
        abort();
    chmod(p, 0700);
    return p;
}

char *tu_write(const char *dir, const char *name, const char *text, unsigned mode)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    FILE *f;

    if (!p)
        abort();
    snprintf(p, len, "%s/%s", dir, name);
    f = fopen(p, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
    chmod(p, (mode_t)mode);
    return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int tu_contains(const char *haystack, const char *needle)
{
    return haystack && needle && strstr(haystack, needle) != NULL;
}

char *tu_dir;

int tu_dir_setup(void **state)
{
    (void)state;
    tu_dir = tu_mkdtemp();
    return tu_dir ? 0 : -1;
}

int tu_dir_teardown(void **state)
{
    (void)state;
    tu_rmtree(tu_dir);
    free(tu_dir);
    tu_dir = NULL;
    return 0;
}
