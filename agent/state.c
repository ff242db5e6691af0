/* state.c: the agent's state directory: which region serves, run ids, atomic file writes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "dr/util.h"
#include "state.h"

static int mkdir_p(const char *dir, mode_t mode)
{
    char tmp[PATH_MAX];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, dir, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int state_dir_prepare(const char *dir, dr_error *err)
{
    struct stat st;

    if (mkdir_p(dir, 0700) != 0)
        return dr_error_set(err, DR_EIO, "state directory %s: %s", dir, strerror(errno));
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return dr_error_set(err, DR_EIO, "state directory %s: not a directory", dir);
    if (st.st_uid != geteuid())
        return dr_error_set(err, DR_EDENIED, "state directory %s: owned by uid %u, not by the invoking user", dir,
                            (unsigned)st.st_uid);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return dr_error_set(err, DR_EDENIED, "state directory %s: writable by group or others (mode %04o)", dir,
                            (unsigned)(st.st_mode & 07777));
    return 0;
}

int state_write_file(const char *dir, const char *name, const char *data, size_t len, dr_error *err)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    int fd, dfd, rc = 0;
    size_t off = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name);
    fd = mkstemp(tmp);
    if (fd < 0)
        return dr_error_set(err, DR_EIO, "%s: %s", path, strerror(errno));
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = dr_error_set(err, DR_EIO, "%s: write: %s", path, strerror(errno));
            break;
        }
        off += (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = dr_error_set(err, DR_EIO, "%s: fsync: %s", path, strerror(errno));
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = dr_error_set(err, DR_EIO, "%s: rename: %s", path, strerror(errno));
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int state_read_serving(const char *dir, dr_serving *out, dr_error *err)
{
    char path[PATH_MAX];
    json_error_t jerr;
    json_t *doc;
    const char *s;

    *out = DR_SERVING_PRIMARY;
    snprintf(path, sizeof(path), "%s/serving.json", dir);
    if (access(path, F_OK) != 0)
        return 0;
    doc = json_load_file(path, 0, &jerr);
    if (!doc)
        return dr_error_set(err, DR_EPARSE, "%s:%d: %s", path, jerr.line, jerr.text);
    s = json_string_value(json_object_get(doc, "serving"));
    if (s && strcmp(s, "dr") == 0)
        *out = DR_SERVING_DR;
    else if (!s || strcmp(s, "primary") != 0) {
        json_decref(doc);
        return dr_error_set(err, DR_EPARSE, "%s: 'serving' must be \"primary\" or \"dr\"", path);
    }
    json_decref(doc);
    return 0;
}

int state_write_serving(const char *dir, dr_serving s, const char *run_id, dr_error *err)
{
    char ts[40];
    json_t *doc;
    char *text;
    int rc;

    dr_time_format(dr_now(), 0, ts, sizeof(ts));
    doc = json_pack("{s:s, s:s, s:s}", "serving", s == DR_SERVING_DR ? "dr" : "primary", "since", ts, "run_id",
                    run_id ? run_id : "");
    text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (!text)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    rc = state_write_file(dir, "serving.json", text, strlen(text), err);
    free(text);
    return rc;
}

void state_new_run_id(char *out, size_t len)
{
    char uuid[40];
    time_t t = time(NULL);
    struct tm tm;
    char ts[32];

    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
    dr_uuid4(uuid);
    snprintf(out, len, "%s-%.6s", ts, uuid);
}

/* <dir>/plugin-state/<resource>.json: one JSON object of strings per resource. */
static int resource_state_path(const char *dir, const char *resource, char *sub, size_t slen, char *name, size_t nlen,
                               dr_error *err)
{
    if (!resource || !*resource || strchr(resource, '/') || resource[0] == '.')
        return dr_error_set(err, DR_EINVAL, "resource state: bad resource id");
    snprintf(sub, slen, "%s/plugin-state", dir);
    if ((size_t)snprintf(name, nlen, "%s.json", resource) >= nlen)
        return dr_error_set(err, DR_EINVAL, "resource state: resource id too long");
    return 0;
}

static json_t *resource_state_load(const char *sub, const char *name)
{
    char path[PATH_MAX + 160];
    json_t *doc;

    snprintf(path, sizeof(path), "%s/%s", sub, name);
    doc = json_load_file(path, 0, NULL);
    if (doc && !json_is_object(doc)) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

int state_resource_get(const char *dir, const char *resource, const char *key, char *out, size_t len)
{
    char sub[PATH_MAX], name[160];
    dr_error err;
    json_t *doc;
    const char *v;
    int found = 0;

    if (len)
        out[0] = '\0';
    dr_error_clear(&err);
    if (!dir || !key || resource_state_path(dir, resource, sub, sizeof(sub), name, sizeof(name), &err) != 0)
        return 0;
    doc = resource_state_load(sub, name);
    v = doc ? json_string_value(json_object_get(doc, key)) : NULL;
    if (v && strlen(v) < len) {
        memcpy(out, v, strlen(v) + 1);
        found = 1;
    }
    json_decref(doc);
    return found;
}

int state_resource_set(const char *dir, const char *resource, const char *key, const char *value, dr_error *err)
{
    char sub[PATH_MAX], name[160];
    json_t *doc;
    char *text;
    int rc;

    if (!dir)
        return dr_error_set(err, DR_ESTATE, "resource state: no state directory in this command");
    if (!key || !*key)
        return dr_error_set(err, DR_EINVAL, "resource state: no key");
    if ((rc = resource_state_path(dir, resource, sub, sizeof(sub), name, sizeof(name), err)) != 0)
        return rc;
    if (mkdir(sub, 0700) != 0 && errno != EEXIST)
        return dr_error_set(err, DR_EIO, "%s: %s", sub, strerror(errno));
    doc = resource_state_load(sub, name);
    if (!doc)
        doc = json_object();
    if (!doc)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    if (value)
        json_object_set_new(doc, key, json_string(value));
    else
        json_object_del(doc, key);
    text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(doc);
    if (!text)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    rc = state_write_file(sub, name, text, strlen(text), err);
    free(text);
    return rc;
}
