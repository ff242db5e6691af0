/* measure.c: runs one command and writes its wall time, CPU time and peak RSS (from wait4) as JSON, for the benchmarks. */
/*
 * Usage: bench_measure OUT CMD [ARG...]
 *
 * OUT receives {"rc": .., "wall": s, "user": s, "sys": s, "maxrss_kb": ..}; the command inherits stdin, stdout and
 * stderr. A small launcher is needed because a child started by a big process (the Python harness) reports that
 * process's resident size as its own peak: Linux carries the high-water mark of the address space replaced by
 * exec into the child's ru_maxrss. From this launcher, that mark is a few hundred KiB.
 * Exit code: 0 when the command ran (its own exit code is in OUT), 2 on usage errors, 127 when it could not start.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double secs(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    struct rusage ru;
    double t0, t1;
    pid_t pid;
    FILE *out;
    int status, rc;

    if (argc < 3) {
        fprintf(stderr, "usage: bench_measure OUT CMD [ARG...]\n");
        return 2;
    }
    out = fopen(argv[1], "w");
    if (!out) {
        fprintf(stderr, "bench_measure: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    t0 = mono();
    rc = posix_spawnp(&pid, argv[2], NULL, NULL, argv + 2, environ);
    if (rc != 0) {
        fprintf(stderr, "bench_measure: %s: %s\n", argv[2], strerror(rc));
        fclose(out);
        return 127;
    }
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "bench_measure: wait4: %s\n", strerror(errno));
            fclose(out);
            return 2;
        }
    }
    t1 = mono();
    rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    fprintf(out, "{\"rc\": %d, \"wall\": %.6f, \"user\": %.6f, \"sys\": %.6f, \"maxrss_kb\": %ld}\n", rc, t1 - t0,
            secs(ru.ru_utime), secs(ru.ru_stime), ru.ru_maxrss);
    return fclose(out) == 0 ? 0 : 2;
}
