/* log.c: the host's logger: levels, text or JSON lines on stderr, journald priorities under systemd. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "dr/util.h"
#include "log.h"

static dr_log_level g_max = DR_LOG_INFO;
static log_format g_format = LOG_FORMAT_TEXT;
static int g_journald; /* stderr is connected to the journal: prefix lines with <priority> */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*g_clear)(void);
static void (*g_redraw)(void);

void log_set_tty_hooks(void (*clear)(void), void (*redraw)(void))
{
    pthread_mutex_lock(&g_lock);
    if (g_clear)
        g_clear();
    g_clear = clear;
    g_redraw = redraw;
    pthread_mutex_unlock(&g_lock);
}

void log_redraw(void)
{
    pthread_mutex_lock(&g_lock);
    if (g_clear)
        g_clear();
    if (g_redraw)
        g_redraw();
    pthread_mutex_unlock(&g_lock);
}

static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* sd-daemon priorities: err(3), warning(4), info(6), debug(7) */
static const int level_prio[] = {3, 4, 6, 7};

/*
 * systemd sets JOURNAL_STREAM to "<device>:<inode>" of the stream it connects
 * to the journal; a child whose stderr was redirected inherits the variable,
 * so it counts only when it names the stream stderr really is.
 */
static int stderr_is_journal(void)
{
    const char *v = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    char end;

    if (!v || sscanf(v, "%llu:%llu%c", &dev, &ino, &end) != 2 || fstat(STDERR_FILENO, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(dr_log_level max_level, log_format format)
{
    g_max = max_level;
    g_format = format;
    /* "<N>" prefixes then set each line's priority in the journal */
    g_journald = stderr_is_journal();
}

dr_log_level log_max_level(void)
{
    return g_max;
}

void log_vmsg(dr_log_level level, const char *source, const char *fmt, va_list ap)
{
    char msg[2048];
    char ts[40];

    if (level > g_max)
        return;
    if ((int)level < 0 || level > DR_LOG_DEBUG)
        level = DR_LOG_DEBUG;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    dr_utf8_scrub(msg); /* a path or a cut that is not UTF-8 must not make a JSON line vanish */
    dr_time_format(dr_now(), 1, ts, sizeof(ts));

    pthread_mutex_lock(&g_lock);
    if (g_clear)
        g_clear();
    if (g_format == LOG_FORMAT_JSON) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "time", ts, "level", level_names[level], "message", msg);
        char *line;

        if (o && source)
            json_object_set_new(o, "source", json_string(source));
        line = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        if (line) {
            if (g_journald)
                fprintf(stderr, "<%d>", level_prio[level]);
            fprintf(stderr, "%s\n", line);
        }
        free(line);
        json_decref(o);
    } else if (g_journald) {
        /* the journal adds its own timestamp */
        fprintf(stderr, "<%d>%s%s%s%s\n", level_prio[level], source ? "[" : "", source ? source : "",
                source ? "] " : "", msg);
    } else {
        fprintf(stderr, "%s %-5s %s%s%s%s\n", ts, level_names[level], source ? "[" : "",
                source ? source : "", source ? "] " : "", msg);
    }
    if (g_redraw)
        g_redraw();
    fflush(stderr);
    pthread_mutex_unlock(&g_lock);
}

void log_msg(dr_log_level level, const char *source, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, source, fmt, ap);
    va_end(ap);
}
