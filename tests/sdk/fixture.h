/* fixture.h: a scripted HTTP/1.1 server on a loopback port for tests: answers a list of responses in order and records requests. */
#ifndef DR_FIXTURE_H
#define DR_FIXTURE_H

#include <stddef.h>

typedef struct fx_response {
    int status;
    const char *headers; /* extra header lines, each ending in "\r\n"; may be NULL */
    const char *body;    /* may be NULL */
    int hang_ms;         /* wait this long before answering (the test's timeout should fire first) */
    int reset;           /* close the connection without answering */
} fx_response;

typedef struct fx_request {
    char method[16];
    char target[2048];
    char *headers; /* raw header block, "Name: value\r\n" lines */
    char *body;
    size_t body_len;
    int conn;      /* which connection it came on (1-based) */
} fx_request;

typedef struct fx_server fx_server;

/* Start on 127.0.0.1 with an ephemeral port. After the script, the last response repeats when repeat_last is set, else 599. */
fx_server *fx_start(const fx_response *script, size_t n, int repeat_last);
void fx_stop(fx_server *s);
const char *fx_url(fx_server *s); /* "http://127.0.0.1:<port>" */
size_t fx_count(fx_server *s);
/* A copy of request i (caller frees with fx_request_free), or NULL. */
fx_request *fx_get(fx_server *s, size_t i);
void fx_request_free(fx_request *r);
/* Value of a header in a recorded request (malloc'd), or NULL. */
char *fx_header(const fx_request *r, const char *name);

#endif
