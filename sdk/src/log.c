/* log.c: SDK log lines go to the host's callback (none by default), filtered by level. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "dr/aws.h"
#include "log.h"

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static dr_sdk_log_fn log_fn;
static void *log_arg;
static int log_max = -1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* A process forked while another thread holds log_mu gets it unlocked (the host forks to isolate plugins). */
static void fork_prepare(void)
{
    pthread_mutex_lock(&log_mu);
}

static void fork_release(void)
{
    pthread_mutex_unlock(&log_mu);
}

static void register_atfork(void)
{
    pthread_atfork(fork_prepare, fork_release, fork_release);
}

void dr_sdk_set_log(dr_sdk_log_fn fn, void *arg, int max_level)
{
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&log_mu);
    log_fn = fn;
    log_arg = arg;
    log_max = fn ? max_level : -1;
    pthread_mutex_unlock(&log_mu);
}

int drs_log_enabled(int level)
{
    int on;

    pthread_mutex_lock(&log_mu);
    on = log_fn && level <= log_max;
    pthread_mutex_unlock(&log_mu);
    return on;
}

void drs_log(int level, const char *fmt, ...)
{
    char line[1024];
    dr_sdk_log_fn fn;
    void *arg;
    va_list ap;

    pthread_mutex_lock(&log_mu);
    fn = level <= log_max ? log_fn : NULL;
    arg = log_arg;
    pthread_mutex_unlock(&log_mu);
    if (!fn)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fn(level, line, arg);
}
