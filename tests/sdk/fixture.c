/* fixture.c: a scripted HTTP/1.1 server on a loopback port for tests: answers a list of responses in order and records requests. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"

#define MAX_CONNS 256
#define MAX_REQS 4096

struct fx_server {
    int lfd;
    char url[64];
    pthread_t acceptor;
    pthread_mutex_t mu;
    fx_response *script;
    size_t n_script, next;
    int repeat_last;
    fx_request *reqs[MAX_REQS];
    size_t n_reqs;
    pthread_t conns[MAX_CONNS];
    int fds[MAX_CONNS];
    size_t n_conns;
    atomic_int stopping; /* written by the test thread, read by the server thread */
};

typedef struct conn_arg {
    fx_server *s;
    int fd;
    int id;
} conn_arg;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read one request; 0 on success, -1 on EOF/error. */
static int read_request(fx_server *s, int fd, char **buf, size_t *cap, size_t *have, fx_request *r)
{
    char *end;
    size_t hdr_len, need;
    long clen = 0;

    for (;;) {
        if (*have > 0 && (end = memmem(*buf, *have, "\r\n\r\n", 4)) != NULL)
            break;
        if (*have + 4096 > *cap) {
            *cap = *cap * 2 + 8192;
            *buf = realloc(*buf, *cap);
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = poll(&pfd, 1, 100);
        if (s->stopping)
            return -1;
        if (pr <= 0)
            continue;
        ssize_t n = recv(fd, *buf + *have, *cap - *have, 0);
        if (n <= 0)
            return -1;
        *have += (size_t)n;
    }
    hdr_len = (size_t)(end - *buf) + 4;
    /* request line */
    char *line_end = memmem(*buf, hdr_len, "\r\n", 2);
    char line[2200];
    size_t ll = (size_t)(line_end - *buf);
    if (ll >= sizeof(line))
        ll = sizeof(line) - 1;
    memcpy(line, *buf, ll);
    line[ll] = '\0';
    memset(r, 0, sizeof(*r));
    sscanf(line, "%15s %2047s", r->method, r->target);
    r->headers = strndup(line_end + 2, hdr_len - ll - 2);
    for (char *p = r->headers; p && *p;) {
        char *e = strstr(p, "\r\n");
        if (!e)
            break;
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            clen = atol(p + 15);
        p = e + 2;
    }
    need = hdr_len + (size_t)clen;
    while (*have < need) {
        if (need > *cap) {
            *cap = need + 8192;
            *buf = realloc(*buf, *cap);
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = poll(&pfd, 1, 100);
        if (s->stopping)
            return -1;
        if (pr <= 0)
            continue;
        ssize_t n = recv(fd, *buf + *have, *cap - *have, 0);
        if (n <= 0)
            return -1;
        *have += (size_t)n;
    }
    r->body = malloc((size_t)clen + 1);
    memcpy(r->body, *buf + hdr_len, (size_t)clen);
    r->body[clen] = '\0';
    r->body_len = (size_t)clen;
    memmove(*buf, *buf + need, *have - need);
    *have -= need;
    return 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static void *conn_main(void *arg)
{
    conn_arg *a = arg;
    fx_server *s = a->s;
    char *buf = NULL;
    size_t cap = 0, have = 0;

    for (;;) {
        fx_request r;
        fx_response resp;
        if (read_request(s, a->fd, &buf, &cap, &have, &r) != 0)
            break;
        r.conn = a->id;
        pthread_mutex_lock(&s->mu);
        if (s->n_reqs < MAX_REQS) {
            fx_request *copy = malloc(sizeof(*copy));
            *copy = r;
            s->reqs[s->n_reqs++] = copy;
        } else {
            free(r.headers);
            free(r.body);
        }
        if (s->next < s->n_script)
            resp = s->script[s->next++];
        else if (s->repeat_last && s->n_script > 0)
            resp = s->script[s->n_script - 1];
        else {
            memset(&resp, 0, sizeof(resp));
            resp.status = 599;
            resp.body = "fixture script exhausted";
        }
        pthread_mutex_unlock(&s->mu);
        if (resp.hang_ms > 0) {
            int64_t until = now_ms() + resp.hang_ms;
            while (!s->stopping && now_ms() < until)
                usleep(10000);
        }
        if (resp.reset || s->stopping)
            break;
        {
            /* one send: a separate body segment would meet Nagle and delayed ACKs (40 ms a request) */
            const char *body = resp.body ? resp.body : "";
            size_t blen = strcmp(r.method, "HEAD") == 0 ? 0 : strlen(body);
            char *out = malloc(4096 + blen);
            int n = snprintf(out, 4096, "HTTP/1.1 %d %s\r\n%sContent-Length: %zu\r\n\r\n", resp.status,
                             reason(resp.status), resp.headers ? resp.headers : "", strlen(body));
            memcpy(out + n, body, blen);
            ssize_t sent = send(a->fd, out, (size_t)n + blen, MSG_NOSIGNAL);
            free(out);
            if (sent < 0)
                break;
            if (resp.headers && strcasestr(resp.headers, "Connection: close"))
                break;
        }
    }
    free(buf);
    shutdown(a->fd, SHUT_RDWR);
    free(a);
    return NULL;
}

static void *accept_main(void *arg)
{
    fx_server *s = arg;

    while (!s->stopping) {
        struct pollfd pfd = {s->lfd, POLLIN, 0};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&s->mu);
        if (s->n_conns >= MAX_CONNS) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            continue;
        }
        conn_arg *a = malloc(sizeof(*a));
        a->s = s;
        a->fd = fd;
        a->id = (int)s->n_conns + 1;
        s->fds[s->n_conns] = fd;
        pthread_create(&s->conns[s->n_conns], NULL, conn_main, a);
        s->n_conns++;
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

fx_server *fx_start(const fx_response *script, size_t n, int repeat_last)
{
    fx_server *s = calloc(1, sizeof(*s));
    struct sockaddr_in addr;
    socklen_t alen = sizeof(addr);
    int one = 1;

    pthread_mutex_init(&s->mu, NULL);
    s->script = calloc(n ? n : 1, sizeof(*script));
    memcpy(s->script, script, n * sizeof(*script));
    s->n_script = n;
    s->repeat_last = repeat_last;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(s->lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(s->lfd, 64) != 0) {
        close(s->lfd);
        free(s->script);
        free(s);
        return NULL;
    }
    getsockname(s->lfd, (struct sockaddr *)&addr, &alen);
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", ntohs(addr.sin_port));
    pthread_create(&s->acceptor, NULL, accept_main, s);
    return s;
}

void fx_stop(fx_server *s)
{
    if (!s)
        return;
    s->stopping = 1;
    pthread_join(s->acceptor, NULL);
    for (size_t i = 0; i < s->n_conns; i++) {
        pthread_join(s->conns[i], NULL);
        close(s->fds[i]);
    }
    close(s->lfd);
    for (size_t i = 0; i < s->n_reqs; i++)
        fx_request_free(s->reqs[i]);
    free(s->script);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const char *fx_url(fx_server *s)
{
    return s->url;
}

size_t fx_count(fx_server *s)
{
    size_t n;
    pthread_mutex_lock(&s->mu);
    n = s->n_reqs;
    pthread_mutex_unlock(&s->mu);
    return n;
}

fx_request *fx_get(fx_server *s, size_t i)
{
    fx_request *c = NULL;

    pthread_mutex_lock(&s->mu);
    if (i < s->n_reqs) {
        c = malloc(sizeof(*c));
        *c = *s->reqs[i];
        c->headers = strdup(s->reqs[i]->headers);
        c->body = malloc(c->body_len + 1);
        memcpy(c->body, s->reqs[i]->body, c->body_len + 1);
    }
    pthread_mutex_unlock(&s->mu);
    return c;
}

void fx_request_free(fx_request *r)
{
    if (!r)
        return;
    free(r->headers);
    free(r->body);
    free(r);
}

char *fx_header(const fx_request *r, const char *name)
{
    size_t nl = strlen(name);

    for (const char *p = r->headers; p && *p;) {
        const char *e = strstr(p, "\r\n");
        if (!e)
            break;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            return strndup(v, (size_t)(e - v));
        }
        p = e + 2;
    }
    return NULL;
}
