/* journal.c: the append-only journal of mutating runs (one JSON line per event, fsynced) and its reader. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dr/util.h"
#include "journal.h"

static int ensure_dir(const char *path, dr_error *err)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return dr_error_set(err, DR_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

int journal_open(journal *j, const char *state_dir, const char *run_id, dr_error *err)
{
    char dir[PATH_MAX];
    int dfd;

    j->fd = -1;
    snprintf(dir, sizeof(dir), "%s/runs", state_dir);
    if (ensure_dir(dir, err) != 0)
        return err->code;
    if (snprintf(j->path, sizeof(j->path), "%s/%s.jsonl", dir, run_id) >= (int)sizeof(j->path))
        return dr_error_set(err, DR_EINVAL, "journal path too long");
    j->fd = open(j->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (j->fd < 0)
        return dr_error_set(err, DR_EIO, "journal %s: %s", j->path, strerror(errno));
    {
        /* a crash in the middle of a write left a torn last line: end it, so the next event is a line of its own */
        struct stat st;
        char last = '\n';
        if (fstat(j->fd, &st) == 0 && st.st_size > 0 && pread(j->fd, &last, 1, st.st_size - 1) == 1 && last != '\n' &&
            (write(j->fd, "\n", 1) != 1 || fsync(j->fd) != 0)) {
            int e = errno;
            close(j->fd);
            j->fd = -1;
            return dr_error_set(err, DR_EIO, "journal %s: ending its torn last line: %s", j->path, strerror(e));
        }
    }
    /* the new directory entry must survive a crash too */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int journal_write(journal *j, const char *event, json_t *obj, dr_error *err)
{
    char ts[40];
    char *line;
    size_t len, off = 0;
    int rc = 0;

    if (j->fd < 0)
        return dr_error_set(err, DR_EIO, "journal is not open");
    dr_time_format(dr_now(), 1, ts, sizeof(ts));
    json_object_set_new(obj, "event", json_string(event));
    json_object_set_new(obj, "t", json_string(ts));
    line = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    if (!line)
        return dr_error_set(err, DR_ENOMEM, "journal: out of memory");
    len = strlen(line);
    line[len++] = '\n'; /* replaces the NUL: written with an explicit length */
    while (off < len) {
        ssize_t n = write(j->fd, line + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = dr_error_set(err, DR_EIO, "journal %s: write: %s", j->path, strerror(errno));
            break;
        }
        off += (size_t)n;
    }
    free(line);
    if (rc == 0 && fsync(j->fd) != 0)
        rc = dr_error_set(err, DR_EIO, "journal %s: fsync: %s", j->path, strerror(errno));
    return rc;
}

void journal_close(journal *j)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
}

static void copy_str(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

static journal_step *find_step(journal_run *r, const char *res, const char *hook, int create)
{
    journal_step *n;

    for (size_t i = 0; i < r->n_steps; i++)
        if (strcmp(r->steps[i].resource, res) == 0 && strcmp(r->steps[i].hook, hook) == 0)
            return &r->steps[i];
    if (!create)
        return NULL;
    n = realloc(r->steps, (r->n_steps + 1) * sizeof(*n));
    if (!n)
        return NULL;
    r->steps = n;
    memset(&n[r->n_steps], 0, sizeof(*n));
    copy_str(n[r->n_steps].resource, sizeof(n->resource), res);
    copy_str(n[r->n_steps].hook, sizeof(n->hook), hook);
    return &n[r->n_steps++];
}

static void apply_event(journal_run *r, json_t *ev, int *have_start)
{
    const char *type = json_string_value(json_object_get(ev, "event"));
    double t = 0;

    if (!type)
        return;
    dr_time_parse(json_string_value(json_object_get(ev, "t")), &t);
    if (strcmp(type, "run_start") == 0) {
        json_t *res = json_object_get(ev, "resources");
        *have_start = 1;
        copy_str(r->run_id, sizeof(r->run_id), json_string_value(json_object_get(ev, "run_id")));
        copy_str(r->command, sizeof(r->command), json_string_value(json_object_get(ev, "command")));
        copy_str(r->mode, sizeof(r->mode), json_string_value(json_object_get(ev, "mode")));
        copy_str(r->serving, sizeof(r->serving), json_string_value(json_object_get(ev, "serving")));
        copy_str(r->config, sizeof(r->config), json_string_value(json_object_get(ev, "config")));
        r->dry_run = json_is_true(json_object_get(ev, "dry_run"));
        r->started_at = t;
        copy_str(r->host, sizeof(r->host), json_string_value(json_object_get(ev, "host")));
        r->pid = (long)json_integer_value(json_object_get(ev, "pid"));
        copy_str(r->lease_token, sizeof(r->lease_token), json_string_value(json_object_get(ev, "lease_token")));
        if (json_is_array(res) && !r->resources) {
            r->resources = calloc(json_array_size(res) + 1, sizeof(char *));
            for (size_t i = 0; r->resources && i < json_array_size(res); i++) {
                const char *s = json_string_value(json_array_get(res, i));
                if (s)
                    r->resources[r->n_resources++] = strdup(s);
            }
        }
    } else if (strcmp(type, "resume") == 0) {
        const char *tok = json_string_value(json_object_get(ev, "lease_token"));
        r->resumes++;
        r->ended = 0;
        copy_str(r->host, sizeof(r->host), json_string_value(json_object_get(ev, "host")));
        r->pid = (long)json_integer_value(json_object_get(ev, "pid"));
        if (tok)
            copy_str(r->lease_token, sizeof(r->lease_token), tok);
    } else if (strcmp(type, "step_start") == 0 || strcmp(type, "step_end") == 0) {
        const char *res = json_string_value(json_object_get(ev, "resource"));
        const char *hook = json_string_value(json_object_get(ev, "hook"));
        journal_step *s = res && hook ? find_step(r, res, hook, 1) : NULL;
        if (!s)
            return;
        if (type[5] == 's') { /* step_start */
            s->started = 1;
            s->status[0] = '\0';
        } else {
            copy_str(s->status, sizeof(s->status), json_string_value(json_object_get(ev, "status")));
            if (strcmp(s->status, "done") == 0)
                r->changed = 1;
        }
    } else if (strcmp(type, "run_end") == 0) {
        json_t *v;
        r->ended = 1;
        r->finished_at = t;
        copy_str(r->status, sizeof(r->status), json_string_value(json_object_get(ev, "status")));
        v = json_object_get(ev, "rto_seconds");
        r->has_rto = json_is_number(v);
        r->rto_seconds = json_number_value(v);
        v = json_object_get(ev, "rto_since_resume_seconds");
        r->has_rto_part = json_is_number(v);
        r->rto_since_resume_seconds = json_number_value(v);
        v = json_object_get(ev, "rpo_seconds");
        r->has_rpo = json_is_number(v);
        r->rpo_seconds = json_number_value(v);
        v = json_object_get(ev, "rpo_unknown");
        r->rpo_unknown = json_is_array(v) ? json_array_size(v) : 0;
    }
}

int journal_resumable(const journal_run *r)
{
    return !r->ended || strcmp(r->status, "stopped") == 0 || strcmp(r->status, "held") == 0 ||
           strcmp(r->status, "rollback failed") == 0;
}

int journal_read(const char *path, journal_run *out, dr_error *err)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int have_start = 0;

    memset(out, 0, sizeof(*out));
    if (!f)
        return dr_error_set(err, DR_EIO, "journal %s: %s", path, strerror(errno));
    while ((n = getline(&line, &cap, f)) > 0) {
        json_t *ev;
        if (line[n - 1] != '\n') { /* torn by a crash in the middle of a write */
            out->bad_lines++;
            continue;
        }
        ev = json_loads(line, 0, NULL);
        if (!ev || !json_is_object(ev)) {
            out->bad_lines++;
            json_decref(ev);
            continue;
        }
        apply_event(out, ev, &have_start);
        json_decref(ev);
    }
    free(line);
    fclose(f);
    if (!have_start) {
        journal_run_clear(out);
        return dr_error_set(err, DR_EPARSE, "journal %s: no run_start event", path);
    }
    if (!out->ended)
        copy_str(out->status, sizeof(out->status), "interrupted");
    return 0;
}

void journal_run_clear(journal_run *r)
{
    for (size_t i = 0; i < r->n_resources; i++)
        free(r->resources[i]);
    free(r->resources);
    free(r->steps);
    memset(r, 0, sizeof(*r));
}

/* Oldest first by start time (ms); run ids of one second do not sort by time. */
static int cmp_runs(const void *a, const void *b)
{
    const journal_run *x = a, *y = b;

    if (x->started_at != y->started_at)
        return x->started_at < y->started_at ? -1 : 1;
    return strcmp(x->run_id, y->run_id);
}

int journal_list(const char *state_dir, journal_run **runs, size_t *n, dr_error *err)
{
    char dir[PATH_MAX];
    DIR *d;
    struct dirent *e;
    journal_run *arr = NULL;
    size_t cnt = 0;

    *runs = NULL;
    *n = 0;
    snprintf(dir, sizeof(dir), "%s/runs", state_dir);
    d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : dr_error_set(err, DR_EIO, "%s: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX + 256];
        size_t l = strlen(e->d_name);
        journal_run r, *na;
        dr_error rerr;

        if (l < 7 || strcmp(e->d_name + l - 6, ".jsonl") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        dr_error_clear(&rerr);
        if (journal_read(path, &r, &rerr) != 0)
            continue;
        na = realloc(arr, (cnt + 1) * sizeof(*na));
        if (!na) {
            journal_run_clear(&r);
            break;
        }
        arr = na;
        arr[cnt++] = r;
    }
    closedir(d);
    if (cnt > 1)
        qsort(arr, cnt, sizeof(*arr), cmp_runs);
    *runs = arr;
    *n = cnt;
    return 0;
}

void journal_runs_free(journal_run *runs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        journal_run_clear(&runs[i]);
    free(runs);
}

static void prune_dir(const char *dir, const char *suffix, double cutoff, size_t *removed)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX + 256];
        struct stat st;
        size_t l = strlen(e->d_name), sl = strlen(suffix);

        if (l <= sl || strcmp(e->d_name + l - sl, suffix) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (double)st.st_mtime < cutoff && unlink(path) == 0)
            (*removed)++;
    }
    closedir(d);
}

int journal_prune(const char *state_dir, double max_age, size_t *removed, dr_error *err)
{
    char dir[PATH_MAX];
    double cutoff = dr_now() - max_age;

    (void)err;
    *removed = 0;
    if (max_age <= 0)
        return 0;
    /* a journal is only written while its run lasts: its mtime is when the run last moved */
    snprintf(dir, sizeof(dir), "%s/runs", state_dir);
    prune_dir(dir, ".jsonl", cutoff, removed);
    snprintf(dir, sizeof(dir), "%s/reports", state_dir);
    prune_dir(dir, ".json", cutoff, removed);
    prune_dir(dir, ".html", cutoff, removed);
    return 0;
}
