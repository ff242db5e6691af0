/* testutil.c: helpers shared by the AWS client tests: files, the reference folder, environment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

extern char **environ;

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (!f)
        return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

const char *tu_reference_dir(void)
{
    const char *dir = getenv("DR_AWS_REFERENCE");
    struct stat st;

    if (!dir || !*dir)
        dir = "../tests/data/aws-reference";
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("FAIL: AWS reference test data not found at %s (tests/data/aws-reference; set DR_AWS_REFERENCE)\n", dir);
        fflush(stdout);
        return NULL;
    }
    return dir;
}

int tu_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");

    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -1;
}

const char *tu_tmpdir(void)
{
    static char dir[256];

    snprintf(dir, sizeof(dir), "/tmp/dr-aws-test-XXXXXX");
    if (!mkdtemp(dir))
        return NULL;
    return dir;
}

void tu_clear_aws_env(void)
{
    int again = 1;

    while (again) {
        again = 0;
        for (char **e = environ; e && *e; e++) {
            if (strncmp(*e, "AWS_", 4) == 0) {
                char name[256];
                size_t n = strcspn(*e, "=");
                if (n >= sizeof(name))
                    continue;
                memcpy(name, *e, n);
                name[n] = '\0';
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
}
