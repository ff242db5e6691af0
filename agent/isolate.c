/* isolate.c: runs one plugin call in a forked child process and relays what it reports over a framed pipe. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dr/aws.h"
#include "dr/util.h"
#include "isolate.h"
#include "cancel.h"
#include "dr/plugin.h"
#include "sdkhost.h"

#define ISO_MAX_STRING (64u * 1024u)

static int g_fd = -1;                                    /* the pipe to the parent, in a child only */
static pthread_mutex_t g_send_mu = PTHREAD_MUTEX_INITIALIZER; /* locked in children only */

int iso_in_child(void)
{
    return g_fd >= 0;
}

/* LeakSanitizer: a child that ends through exit() holds the parent's heap; that is not a leak. */
int __lsan_is_turned_off(void) __attribute__((visibility("default")));
int __lsan_is_turned_off(void)
{
    return g_fd >= 0;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int iso_send(int type, int32_t i, double d, size_t n, const char *const *s)
{
    size_t len = sizeof(int32_t) + sizeof(double) + sizeof(uint32_t), off = 0;
    unsigned char *f;
    uint32_t u;
    int rc;

    if (g_fd < 0)
        return -1;
    if (n > ISO_MAX_STRINGS)
        n = ISO_MAX_STRINGS;
    for (size_t k = 0; k < n; k++)
        len += sizeof(uint32_t) + (s[k] ? strnlen(s[k], ISO_MAX_STRING) : 0);
    f = malloc(5 + len);
    if (!f)
        return -1;
    f[off++] = (unsigned char)type;
    u = (uint32_t)len;
    memcpy(f + off, &u, 4), off += 4;
    memcpy(f + off, &i, sizeof(i)), off += sizeof(i);
    memcpy(f + off, &d, sizeof(d)), off += sizeof(d);
    u = (uint32_t)n;
    memcpy(f + off, &u, 4), off += 4;
    for (size_t k = 0; k < n; k++) {
        size_t l = s[k] ? strnlen(s[k], ISO_MAX_STRING) : 0;
        u = s[k] ? (uint32_t)l : 0xffffffffu;
        memcpy(f + off, &u, 4), off += 4;
        if (l)
            memcpy(f + off, s[k], l), off += l;
    }
    pthread_mutex_lock(&g_send_mu);
    rc = write_all(g_fd, f, off);
    pthread_mutex_unlock(&g_send_mu);
    free(f);
    return rc;
}

/* The SDK's log lines in a child go to the parent, which prints them as it prints its own. */
static void child_sdk_log(int level, const char *message, void *arg)
{
    const char *s[2] = {message, "aws"};

    (void)arg;
    iso_send(ISO_LOG, level, 0, 2, s);
}

static void child_on_signal(int sig)
{
    (void)sig;
    cancel_request();
}

static void child_main(int fd, pid_t parent, iso_body_fn body, void *body_arg)
{
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    char err[512] = "";
    const char *s[1] = {err};
    struct sigaction sa;
    int rc;

    g_fd = fd;
    /* nothing of the agent's but the pipe: a child must not hold the run lock, the journal or connections */
    if (fd > 3)
        close_range(3, (unsigned)fd - 1, 0);
    close_range((unsigned)fd + 1, ~0U, 0);
    /* the child ends with the agent (a killed agent leaves no plugin process behind) */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    /* a plugin's stray output must not mix into a report on stdout */
    dup2(STDERR_FILENO, STDOUT_FILENO);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = child_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* a crash ends the child with its own signal (a sanitizer's handler would turn it into an exit status) */
    sa.sa_handler = SIG_DFL;
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        sigaction(fatal[i], &sa, NULL);
    host_sdk_set_log(child_sdk_log, NULL, DR_LOG_DEBUG);
    rc = body(body_arg, err, sizeof(err));
    iso_send(ISO_RESULT, rc, 0, 1, s);
    _exit(0);
}

/* Decode one frame's payload into m; strings are copied, NUL-terminated, into scratch. */
static int decode(int type, const unsigned char *p, size_t len, char *scratch, iso_msg *m)
{
    size_t off = 0;
    uint32_t n, l;

    memset(m, 0, sizeof(*m));
    m->type = type;
    if (len < sizeof(int32_t) + sizeof(double) + 4)
        return -1;
    memcpy(&m->i, p, sizeof(m->i)), off += sizeof(m->i);
    memcpy(&m->d, p + off, sizeof(m->d)), off += sizeof(m->d);
    memcpy(&n, p + off, 4), off += 4;
    if (n > ISO_MAX_STRINGS)
        return -1;
    m->n = n;
    for (uint32_t k = 0; k < n; k++) {
        if (len - off < 4)
            return -1;
        memcpy(&l, p + off, 4), off += 4;
        if (l == 0xffffffffu)
            continue;
        if (l > len - off)
            return -1;
        memcpy(scratch, p + off, l);
        scratch[l] = '\0';
        m->s[k] = scratch;
        scratch += l + 1;
        off += l;
    }
    return off == len ? 0 : -1;
}

static void describe_end(const char *what, int status, const iso_outcome *o, int protocol_error, char *out,
                         size_t len)
{
    if (protocol_error) {
        snprintf(out, len, "%s sent a malformed message to the host; its plugin process was killed", what);
    } else if (o->timed_out) {
        snprintf(out, len, "%s did not return before its deadline; its plugin process was killed (signal %d)", what,
                 WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL);
    } else if (o->cancelled && WIFSIGNALED(status)) {
        snprintf(out, len, "%s did not stop after the cancel request; its plugin process was killed (signal %d)",
                 what, WTERMSIG(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(out, len, "%s crashed: the plugin process was killed by signal %d (%s)%s", what, WTERMSIG(status),
                 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
    } else if (WIFEXITED(status)) {
        snprintf(out, len, "%s ended the plugin process with exit status %d before returning (exit() in the plugin)",
                 what, WEXITSTATUS(status));
    } else {
        snprintf(out, len, "%s ended without a result (wait status 0x%x)", what, (unsigned)status);
    }
}

/* The parent's side of the pipe. */
typedef struct reader {
    int fd;
    unsigned char *buf;
    size_t have, cap;
    char *scratch;
    iso_frame_fn on_frame;
    void *frame_arg;
    iso_outcome *out;
    int eof;
    int protocol_error;
} reader;

/* Read what is there (never blocks) and hand on the complete frames; the bytes read, 0 at EOF or when none. */
static ssize_t pump(reader *rd)
{
    ssize_t r;

    if (rd->have == rd->cap) {
        /* one frame larger than the buffer */
        unsigned char *nb = rd->cap < ISO_MAX_FRAME + 5 ? realloc(rd->buf, rd->cap * 2) : NULL;
        if (!nb) {
            rd->protocol_error = 1;
            return 0;
        }
        rd->buf = nb;
        rd->cap *= 2;
    }
    do
        r = read(rd->fd, rd->buf + rd->have, rd->cap - rd->have);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        rd->eof = 1;
    if (r <= 0)
        return 0;
    rd->have += (size_t)r;
    while (rd->have >= 5) {
        uint32_t len;
        iso_msg m;
        memcpy(&len, rd->buf + 1, 4);
        if (len > ISO_MAX_FRAME) {
            rd->protocol_error = 1;
            break;
        }
        if (rd->have < 5 + (size_t)len)
            break;
        if (decode(rd->buf[0], rd->buf + 5, len, rd->scratch, &m) != 0) {
            rd->protocol_error = 1;
            break;
        }
        if (m.type == ISO_RESULT) {
            rd->out->returned = 1;
            rd->out->rc = m.i;
            snprintf(rd->out->message, sizeof(rd->out->message), "%s", m.s[0] ? m.s[0] : "");
        } else if (rd->on_frame) {
            rd->on_frame(rd->frame_arg, &m);
        }
        memmove(rd->buf, rd->buf + 5 + len, rd->have - 5 - len);
        rd->have -= 5 + (size_t)len;
    }
    return r;
}

int iso_call(const char *what, iso_body_fn body, void *body_arg, iso_frame_fn on_frame, void *frame_arg,
             int64_t deadline_ms, int64_t grace_ms, iso_cancel_fn cancelled, iso_outcome *out)
{
    int fds[2] = {-1, -1};
    unsigned char *buf = NULL;
    char *scratch = NULL;
    size_t cap = 64 * 1024;
    reader rd;
    int64_t kill_at = 0;
    long wait_ns = 100000L;
    int status = 0, reaped = 0, term_sent = 0, protocol_error = 0, rc = 0;
    pid_t pid, parent;

    memset(out, 0, sizeof(*out));
    memset(&rd, 0, sizeof(rd));
    buf = malloc(cap);
    scratch = malloc(ISO_MAX_FRAME + ISO_MAX_STRINGS + 1);
    if (!buf || !scratch) {
        snprintf(out->message, sizeof(out->message), "%s: out of memory", what);
        rc = DR_ENOMEM;
        goto done;
    }
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(out->message, sizeof(out->message), "%s: cannot create a pipe: %s", what, strerror(errno));
        rc = DR_EIO;
        goto done;
    }
    fflush(NULL);
    parent = getpid();
    pid = fork();
    if (pid < 0) {
        snprintf(out->message, sizeof(out->message), "%s: cannot start a plugin process: %s", what, strerror(errno));
        rc = DR_EIO;
        goto done;
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(fds[1], parent, body, body_arg);
    }
    close(fds[1]);
    fds[1] = -1;

    /* never block on the pipe: a grandchild of the plugin may hold it open after the child ended */
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    rd.fd = fds[0];
    rd.buf = buf;
    rd.cap = cap;
    rd.scratch = scratch;
    rd.on_frame = on_frame;
    rd.frame_arg = frame_arg;
    rd.out = out;
    while (!reaped) {
        int64_t now = dr_mono_ms();
        struct pollfd pfd = {fds[0], POLLIN, 0};
        int pr;

        if (!term_sent && cancelled && cancelled()) {
            kill(pid, SIGTERM);
            term_sent = 1;
            out->cancelled = 1;
            if (!kill_at)
                kill_at = now + grace_ms;
        }
        if (!kill_at && deadline_ms > 0 && now >= deadline_ms + grace_ms) {
            out->timed_out = 1;
            kill_at = now;
        }
        if (kill_at && now >= kill_at) {
            kill(pid, SIGKILL);
            kill_at = INT64_MAX;
        }
        if (rd.eof || rd.protocol_error) {
            /* the pipe closed (or is no longer read): the child is ending; wait with a short, growing pause */
            struct timespec ts = {0, wait_ns};
            if (rd.protocol_error && kill_at != INT64_MAX) {
                kill(pid, SIGKILL);
                kill_at = INT64_MAX;
            }
            if (waitpid(pid, &status, WNOHANG) == pid) {
                reaped = 1;
                break;
            }
            nanosleep(&ts, NULL);
            if (wait_ns < 10000000L)
                wait_ns *= 2;
            continue;
        }
        pr = poll(&pfd, 1, 50);
        if (pr > 0) {
            pump(&rd);
            continue;
        }
        if (pr < 0 && errno != EINTR)
            rd.eof = 1;
        if (waitpid(pid, &status, WNOHANG) == pid)
            reaped = 1;
    }
    /* what the child wrote before it ended */
    while (!rd.eof && !rd.protocol_error && pump(&rd) > 0)
        ;
    buf = rd.buf;
    protocol_error = rd.protocol_error;
    if (!out->returned || protocol_error) {
        out->returned = 0;
        describe_end(what, status, out, protocol_error, out->message, sizeof(out->message));
    } else {
        out->timed_out = out->cancelled = 0;
    }
done:
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    free(buf);
    free(scratch);
    return rc;
}
