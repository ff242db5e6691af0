/* memo.c: the per-run memo of read-only answers (dr_host_api.memo): one call answers every resource of a run. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "isolate.h"
#include "memo.h"
#include "agent.h"

typedef struct memo_entry {
    struct memo_entry *next;
    const struct agent *agent; /* the run: its agent and run_started */
    double run;
    const void *scope;
    char *key;
    int filling; /* a fill is working on it: wait */
    char *value;
    size_t len;
} memo_entry;

static pthread_mutex_t memo_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t memo_cv = PTHREAD_COND_INITIALIZER;
static memo_entry *memo_head;

static void entry_free(memo_entry *e)
{
    free(e->key);
    free(e->value);
    free(e);
}

/* Under memo_mu: drop the entries of this agent's earlier runs (and of a freed agent's, by address reuse). */
static void drop_old(const struct agent *a, double run)
{
    memo_entry **p = &memo_head;

    while (*p) {
        memo_entry *e = *p;

        if (e->agent == a && e->run != run && !e->filling) {
            *p = e->next;
            entry_free(e);
        } else {
            p = &e->next;
        }
    }
}

static memo_entry *find(const struct agent *a, double run, const void *scope, const char *key)
{
    for (memo_entry *e = memo_head; e; e = e->next)
        if (e->agent == a && e->run == run && e->scope == scope && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static int copy_out(const char *value, size_t len, char **out, size_t *out_len, dr_error *err)
{
    char *c = malloc(len + 1);

    if (!c)
        return dr_error_set(err, DR_ENOMEM, "out of memory copying a remembered answer");
    if (len)
        memcpy(c, value, len);
    c[len] = '\0';
    *out = c;
    if (out_len)
        *out_len = len;
    return 0;
}

/* fill, its value copied to the caller (no memo). */
static int fill_direct(int (*fill)(void *, char **, size_t *, dr_error *), void *arg, char **out, size_t *out_len,
                       dr_error *err)
{
    char *v = NULL;
    size_t n = 0;
    int rc = fill(arg, &v, &n, err);

    if (rc == 0)
        rc = copy_out(v ? v : "", v ? n : 0, out, out_len, err);
    free(v);
    return rc;
}

int host_memo(dr_resource *res, const void *scope, const char *key,
              int (*fill)(void *arg, char **value, size_t *len, dr_error *err), void *arg, char **out,
              size_t *out_len, dr_error *err)
{
    const struct agent *a;
    double run;
    memo_entry *e;
    char *v = NULL;
    size_t n = 0;
    int rc;

    if (!out || !fill || !key)
        return dr_error_set(err, DR_EINVAL, "memo: no key, fill or out");
    *out = NULL;
    if (out_len)
        *out_len = 0;
    /* an isolated call is a process of its own: another thread of the agent may have held the lock at the fork */
    if (!res || !res->agent || iso_in_child())
        return fill_direct(fill, arg, out, out_len, err);
    a = res->agent;
    run = a->run.started;
    pthread_mutex_lock(&memo_mu);
    drop_old(a, run);
    for (;;) {
        e = find(a, run, scope, key);
        if (!e || !e->filling)
            break;
        pthread_cond_wait(&memo_cv, &memo_mu); /* the fill runs under its own hook's deadline */
    }
    if (e) {
        rc = copy_out(e->value, e->len, out, out_len, err);
        pthread_mutex_unlock(&memo_mu);
        return rc;
    }
    e = calloc(1, sizeof(*e));
    if (!e || !(e->key = strdup(key))) {
        free(e);
        pthread_mutex_unlock(&memo_mu);
        return fill_direct(fill, arg, out, out_len, err);
    }
    e->agent = a;
    e->run = run;
    e->scope = scope;
    e->filling = 1;
    e->next = memo_head;
    memo_head = e;
    pthread_mutex_unlock(&memo_mu);

    rc = fill(arg, &v, &n, err);
    if (rc == 0 && !v)
        n = 0;
    if (rc == 0)
        rc = copy_out(v ? v : "", n, out, out_len, err);

    pthread_mutex_lock(&memo_mu);
    if (rc == 0) {
        e->value = v ? v : strdup("");
        e->len = n;
        v = NULL;
    }
    e->filling = 0;
    if (rc != 0 || !e->value) {
        memo_entry **p = &memo_head;

        while (*p != e)
            p = &(*p)->next;
        *p = e->next;
        entry_free(e);
    }
    pthread_cond_broadcast(&memo_cv);
    pthread_mutex_unlock(&memo_mu);
    free(v);
    return rc;
}

void host_memo_clear(void)
{
    memo_entry **p = &memo_head;

    pthread_mutex_lock(&memo_mu);
    while (*p) {
        memo_entry *e = *p;

        if (e->filling) {
            p = &e->next;
            continue;
        }
        *p = e->next;
        entry_free(e);
    }
    pthread_mutex_unlock(&memo_mu);
}
