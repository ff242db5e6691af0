/* progress.c: what a run is doing now: one live line per running resource on a terminal, timestamped lines otherwise. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "dr/util.h"
#include "log.h"
#include "progress.h"

static struct {
    agent *a;
    int live;       /* redrawn block on a terminal */
    int quiet;
    int drawn;      /* lines of the block currently on screen */
    atomic_int stop; /* set by the runner's thread, read by the ticker */
    pthread_t ticker;
    int ticking;
    pthread_mutex_t mu; /* guards `running` */
    unsigned char *running;
    int64_t *since;
    int64_t *logged_at; /* plain output: when the resource's wait was last logged */
    char (*logged)[256]; /* and what it said, without the trailing "(elapsed, left)" */
} P = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Plain output logs a wait when what it waits for changes (at most every 5 s) and otherwise every 30 s. */
#define WAIT_LOG_CHANGE_MS 5000
#define WAIT_LOG_EVERY_MS 30000

/* Called by the logger, under its lock, before and after it writes a line. */
static void clear_block(void)
{
    for (int i = 0; i < P.drawn; i++)
        fputs("\033[1A\033[2K", stderr);
    P.drawn = 0;
}

/* Columns of the terminal on stderr now (it may have been resized); 80 when it cannot tell. */
static int term_columns(void)
{
    struct winsize ws;
    const char *env = getenv("COLUMNS");

    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    if (env && atoi(env) > 0)
        return atoi(env);
    return 80;
}

/*
 * Cut `line` so that it takes at most `cols` - 1 columns (the last column would wrap on some terminals and the
 * redraw, which moves up one row per line, would then garble the screen). UTF-8 sequences are kept whole; a cut
 * line ends with "~".
 */
static void fit_line(char *line, int cols)
{
    size_t n = 0, i, cut = 0;
    int width = cols > 2 ? cols - 1 : 1;

    for (i = 0; line[i]; i++) {
        if (((unsigned char)line[i] & 0xC0) == 0x80)
            continue; /* continuation byte: same column */
        if ((int)n == width - 1)
            cut = i;
        n++;
    }
    if ((int)n <= width)
        return;
    line[cut] = '~';
    line[cut + 1] = '\0';
}

static void draw_block(void)
{
    agent *a = P.a;
    int64_t now = dr_mono_ms();
    int cols = term_columns();

    if (!a || !P.running)
        return;
    pthread_mutex_lock(&P.mu);
    for (size_t i = 0; i < a->cfg->n_res; i++) {
        char el[32], prog[256], line[512];
        if (!P.running[i])
            continue;
        dr_duration_format((double)(now - P.since[i]) / 1000.0, el, sizeof(el));
        pthread_mutex_lock(&a->res[i].mu);
        snprintf(prog, sizeof(prog), "%s", a->run.res[i].progress);
        pthread_mutex_unlock(&a->res[i].mu);
        snprintf(line, sizeof(line), "  %-32s %8s  %s", a->cfg->res[i].id, el, prog[0] ? prog : "running");
        fit_line(line, cols);
        fprintf(stderr, "\033[2K%s\n", line);
        P.drawn++;
    }
    pthread_mutex_unlock(&P.mu);
    fflush(stderr);
}

static void *ticker_main(void *arg)
{
    (void)arg;
    while (!P.stop) {
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
        log_redraw();
    }
    return NULL;
}

void progress_start(agent *a, int quiet, int plain)
{
    P.a = a;
    P.quiet = quiet;
    P.live = !quiet && !plain && isatty(STDERR_FILENO) && getenv("TERM") && strcmp(getenv("TERM"), "dumb") != 0;
    P.running = calloc(a->cfg->n_res + 1, 1);
    P.since = calloc(a->cfg->n_res + 1, sizeof(int64_t));
    P.logged_at = calloc(a->cfg->n_res + 1, sizeof(int64_t));
    P.logged = calloc(a->cfg->n_res + 1, sizeof(*P.logged));
    P.stop = 0;
    if (P.live && P.running && P.since) {
        log_set_tty_hooks(clear_block, draw_block);
        if (pthread_create(&P.ticker, NULL, ticker_main, NULL) == 0)
            P.ticking = 1;
    }
}

void progress_stop(void)
{
    if (P.ticking) {
        P.stop = 1;
        pthread_join(P.ticker, NULL);
        P.ticking = 0;
    }
    log_set_tty_hooks(NULL, NULL);
    free(P.running);
    free(P.since);
    free(P.logged_at);
    free(P.logged);
    P.running = NULL;
    P.since = NULL;
    P.logged_at = NULL;
    P.logged = NULL;
    P.a = NULL;
}

void progress_step_start(agent *a, size_t idx, hook_kind hook)
{
    if (P.running) {
        pthread_mutex_lock(&P.mu);
        P.running[idx] = 1;
        P.since[idx] = dr_mono_ms();
        if (P.logged) {
            P.logged[idx][0] = '\0';
            P.logged_at[idx] = 0;
        }
        pthread_mutex_unlock(&P.mu);
    }
    /* verify runs from cron: its steps are news only with --verbose */
    if (!P.quiet)
        log_msg(HOOK_REPORTS_CHECKS(hook) ? DR_LOG_DEBUG : DR_LOG_INFO, a->cfg->res[idx].id, "%s started", hook_name(hook));
}

void progress_step_end(agent *a, size_t idx, hook_kind hook)
{
    const res_result *r = &a->run.res[idx];
    char dur[32];

    if (P.running) {
        pthread_mutex_lock(&P.mu);
        P.running[idx] = 0;
        pthread_mutex_unlock(&P.mu);
    }
    if (P.quiet)
        return;
    dr_duration_format((double)r->duration_ms / 1000.0, dur, sizeof(dur));
    log_msg(HOOK_REPORTS_CHECKS(hook)  ? DR_LOG_DEBUG
            : r->outcome == ACT_FAILED ? DR_LOG_ERROR
                                       : DR_LOG_INFO,
            a->cfg->res[idx].id, "%s %s in %s%s%s", hook_name(hook), res_result_status_name(r, hook), dur,
            r->error[0] ? ": " : "", r->error);
}

void progress_update(agent *a, size_t idx)
{
    if (P.quiet)
        return;
    if (P.live) {
        log_redraw();
        return;
    }
    {
        char text[256], key[256], *paren;
        int64_t now = dr_mono_ms();
        int show = 1;

        pthread_mutex_lock(&a->res[idx].mu);
        snprintf(text, sizeof(text), "%s", a->run.res[idx].progress);
        pthread_mutex_unlock(&a->res[idx].mu);
        /* the same wait polled again is news only when what it sees changed, or now and then */
        snprintf(key, sizeof(key), "%s", text);
        paren = strrchr(key, '(');
        if (paren && paren > key && paren[-1] == ' ')
            paren[-1] = '\0';
        pthread_mutex_lock(&P.mu);
        if (P.logged && P.logged_at) {
            int64_t since = now - P.logged_at[idx];
            int changed = strcmp(P.logged[idx], key) != 0;
            show = P.logged_at[idx] == 0 || (changed && since >= WAIT_LOG_CHANGE_MS) || since >= WAIT_LOG_EVERY_MS;
            if (show) {
                memcpy(P.logged[idx], key, sizeof(key));
                P.logged_at[idx] = now;
            }
        }
        pthread_mutex_unlock(&P.mu);
        if (show)
            log_msg(HOOK_REPORTS_CHECKS(a->run.hook) ? DR_LOG_DEBUG : DR_LOG_INFO, a->cfg->res[idx].id, "%s", text);
    }
}
