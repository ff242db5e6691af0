/* lock.c: the run lock of mutating commands: a local lock file, or a lease in a DynamoDB table shared by hosts. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "dr/util.h"
#include "lock.h"
#include "log.h"
#include "cancel.h"
#include "sdkhost.h"

void lock_holder_describe(const lock_holder *h, char *out, size_t len)
{
    snprintf(out, len, "%s pid %ld, run %s (%s), since %s", h->host[0] ? h->host : "unknown host", h->pid,
             h->run_id[0] ? h->run_id : "unknown", h->command[0] ? h->command : "?",
             h->started_at[0] ? h->started_at : "?");
}

static void fill_me(lock_holder *me, const char *run_id, const char *command)
{
    memset(me, 0, sizeof(*me));
    if (gethostname(me->host, sizeof(me->host) - 1) != 0)
        snprintf(me->host, sizeof(me->host), "unknown");
    me->pid = (long)getpid();
    snprintf(me->run_id, sizeof(me->run_id), "%s", run_id);
    snprintf(me->command, sizeof(me->command), "%s", command);
    dr_time_format(dr_now(), 0, me->started_at, sizeof(me->started_at));
}

static void copy_str(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

/* ---- local lock file ---- */

static void read_local_holder(int fd, lock_holder *h)
{
    char buf[2048];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    json_t *doc;

    memset(h, 0, sizeof(*h));
    if (n <= 0)
        return;
    buf[n] = '\0';
    doc = json_loads(buf, 0, NULL);
    if (!doc)
        return;
    copy_str(h->host, sizeof(h->host), json_string_value(json_object_get(doc, "host")));
    h->pid = (long)json_integer_value(json_object_get(doc, "pid"));
    copy_str(h->run_id, sizeof(h->run_id), json_string_value(json_object_get(doc, "run_id")));
    copy_str(h->command, sizeof(h->command), json_string_value(json_object_get(doc, "command")));
    copy_str(h->started_at, sizeof(h->started_at), json_string_value(json_object_get(doc, "started_at")));
    json_decref(doc);
}

static int local_acquire(const lock_config *cfg, run_lock *lk, lock_holder *holder, dr_error *err)
{
    char path[PATH_MAX];
    int64_t until = dr_mono_ms() + (int64_t)(cfg->wait_seconds * 1000.0);
    json_t *doc;
    char *text;
    int fd;

    snprintf(path, sizeof(path), "%s/lock", cfg->state_dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return dr_error_set(err, DR_EIO, "lock %s: %s", path, strerror(errno));
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            close(fd);
            return dr_error_set(err, DR_EIO, "lock %s: %s", path, strerror(errno));
        }
        if (dr_mono_ms() >= until) {
            char who[512];
            /* the holder writes its record right after taking the flock: give it a moment to appear */
            read_local_holder(fd, holder);
            for (int i = 0; i < 20 && holder->pid == 0; i++) {
                usleep(50 * 1000);
                read_local_holder(fd, holder);
            }
            close(fd);
            lock_holder_describe(holder, who, sizeof(who));
            return dr_error_set(err, DR_EBUSY, "another run holds the lock %s: %s", path, who);
        }
        if (cancel_requested()) {
            close(fd);
            return dr_error_set(err, DR_ECANCELED, "cancelled while waiting for the lock %s", path);
        }
        usleep(100 * 1000);
    }
    doc = json_pack("{s:s, s:I, s:s, s:s, s:s}", "host", lk->me.host, "pid", (json_int_t)lk->me.pid, "run_id",
                    lk->me.run_id, "command", lk->me.command, "started_at", lk->me.started_at);
    text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text || ftruncate(fd, 0) != 0 || pwrite(fd, text, strlen(text), 0) != (ssize_t)strlen(text) ||
        fsync(fd) != 0) {
        free(text);
        close(fd);
        return dr_error_set(err, DR_EIO, "lock %s: cannot record the holder: %s", path, strerror(errno));
    }
    free(text);
    lk->fd = fd;
    return 0;
}

/* ---- DynamoDB lease ---- */

static int ddb(run_lock *lk, const char *op, const char *body, dr_doc **out, dr_error *err)
{
    return dr_aws_json(lk->ddb, "dynamodb", "DynamoDB_20120810", op, body, out, err);
}

static void item_holder(const dr_node *item, lock_holder *h)
{
    memset(h, 0, sizeof(*h));
    copy_str(h->host, sizeof(h->host), dr_node_str(item, "holder_host.S"));
    h->pid = (long)strtol(dr_node_str(item, "holder_pid.N") ? dr_node_str(item, "holder_pid.N") : "0", NULL, 10);
    copy_str(h->run_id, sizeof(h->run_id), dr_node_str(item, "run_id.S"));
    copy_str(h->command, sizeof(h->command), dr_node_str(item, "command.S"));
    copy_str(h->started_at, sizeof(h->started_at), dr_node_str(item, "started_at.S"));
    copy_str(h->token, sizeof(h->token), dr_node_str(item, "lease_token.S"));
}

double lock_renew_deadline(double lease_seconds)
{
    return lease_seconds / 6.0 < 5.0 ? lease_seconds / 6.0 : 5.0;
}

double lock_margin(double lease_seconds)
{
    return LOCK_MAX_CLOCK_SKEW + lease_seconds * LOCK_MAX_DRIFT + lock_renew_deadline(lease_seconds);
}

/* The lease written by a request sent at `sent_ms` (monotonic) holds locally until this instant. */
static int64_t local_deadline(const run_lock *lk, int64_t sent_ms)
{
    return sent_ms + (int64_t)((lk->lease_seconds - lock_margin(lk->lease_seconds)) * 1000.0);
}

/* A process of this host that no longer runs (kill(pid, 0) fails with ESRCH). */
static int pid_gone(long pid)
{
    return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static int lease_create_table(run_lock *lk, dr_error *err)
{
    char *body = dr_json_pack(err, "{s:s, s:[{s:s, s:s}], s:[{s:s, s:s}], s:s}", "TableName", lk->table,
                              "AttributeDefinitions", "AttributeName", "lock_id", "AttributeType", "S", "KeySchema",
                              "AttributeName", "lock_id", "KeyType", "HASH", "BillingMode", "PAY_PER_REQUEST");
    dr_doc *doc = NULL;
    int rc;

    if (!body)
        return err->code;
    log_info("creating the lock table %s in %s", lk->table, dr_aws_region(lk->ddb));
    rc = ddb(lk, "CreateTable", body, &doc, err);
    free(body);
    dr_doc_free(doc);
    if (rc != 0 && !dr_error_is(err, "ResourceInUseException"))
        return rc;
    for (int i = 0; i < 120; i++) {
        const char *st;
        body = dr_json_pack(err, "{s:s}", "TableName", lk->table);
        if (!body)
            return err->code;
        rc = ddb(lk, "DescribeTable", body, &doc, err);
        free(body);
        st = rc == 0 ? dr_node_str(dr_doc_root(doc), "Table.TableStatus") : NULL;
        if (st && strcmp(st, "ACTIVE") == 0) {
            dr_doc_free(doc);
            return 0;
        }
        dr_doc_free(doc);
        doc = NULL;
        if (rc != 0 && rc != DR_ENOTFOUND)
            return rc;
        usleep(500 * 1000);
    }
    return dr_error_set(err, DR_ETIMEDOUT, "lock table %s did not become ACTIVE", lk->table);
}

/* Take over the lease of this run's crashed process: same token, same host, its pid gone. */
static int lease_take_over(run_lock *lk, const lock_holder *holder, dr_error *err)
{
    char exp[32], pid[32], old_pid[32];
    int64_t sent = dr_mono_ms();
    char *body;
    dr_doc *doc = NULL;
    int rc;

    snprintf(exp, sizeof(exp), "%.3f", dr_now() + lk->lease_seconds);
    snprintf(pid, sizeof(pid), "%ld", lk->me.pid);
    snprintf(old_pid, sizeof(old_pid), "%ld", holder->pid);
    body = dr_json_pack(err,
                        "{s:s, s:{s:{s:s}}, s:s, s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}}}", "TableName",
                        lk->table, "Key", "lock_id", "S", lk->name, "UpdateExpression",
                        "SET expires_at = :exp, holder_pid = :pid, holder_host = :host", "ConditionExpression",
                        "lease_token = :me AND holder_pid = :old AND holder_host = :host", "ExpressionAttributeValues",
                        ":exp", "N", exp, ":pid", "N", pid, ":old", "N", old_pid, ":host", "S", lk->me.host, ":me", "S",
                        lk->token);
    if (!body)
        return err->code;
    rc = ddb(lk, "UpdateItem", body, &doc, err);
    free(body);
    dr_doc_free(doc);
    if (rc == 0) {
        atomic_store(&lk->deadline_ms, local_deadline(lk, sent));
        lk->resumed = 1;
        log_info("run %s: its lease %s was held by pid %ld of this host, which is gone: taken over under the run's "
                 "own lease token", lk->me.run_id, lk->name, holder->pid);
    }
    return rc;
}

static int lease_try(run_lock *lk, const lock_config *cfg, lock_holder *holder, dr_error *err)
{
    char now[32], exp[32], pid[32];
    double t = dr_now();
    int64_t sent = dr_mono_ms();
    char *body;
    dr_doc *doc = NULL;
    int rc;

    snprintf(now, sizeof(now), "%.3f", t);
    snprintf(exp, sizeof(exp), "%.3f", t + lk->lease_seconds);
    snprintf(pid, sizeof(pid), "%ld", lk->me.pid);
    body = dr_json_pack(err,
                        "{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}}, s:s, "
                        "s:{s:{s:s}}}",
                        "TableName", lk->table, "Item", "lock_id", "S", lk->name, "holder_host", "S", lk->me.host,
                        "holder_pid", "N", pid, "run_id", "S", lk->me.run_id, "lease_token", "S", lk->token,
                        "command", "S", lk->me.command,
                        "started_at", "S", lk->me.started_at, "expires_at", "N", exp, "ConditionExpression",
                        "attribute_not_exists(lock_id) OR expires_at < :now", "ExpressionAttributeValues", ":now",
                        "N", now);
    if (!body)
        return err->code;
    rc = ddb(lk, "PutItem", body, &doc, err);
    free(body);
    dr_doc_free(doc);
    if (rc == 0)
        atomic_store(&lk->deadline_ms, local_deadline(lk, sent));
    if (rc == 0 || !dr_error_is(err, "ConditionalCheckFailedException"))
        return rc;
    /* held: who by? */
    body = dr_json_pack(err, "{s:s, s:{s:{s:s}}, s:b}", "TableName", lk->table, "Key", "lock_id", "S", lk->name,
                        "ConsistentRead", 1);
    if (!body)
        return err->code;
    doc = NULL;
    rc = ddb(lk, "GetItem", body, &doc, err);
    if (rc == 0)
        item_holder(dr_node_get(dr_doc_root(doc), "Item"), holder);
    free(body);
    dr_doc_free(doc);
    if (rc == 0 && cfg->resume_token && holder->token[0] && strcmp(holder->token, lk->token) == 0 &&
        strcmp(holder->run_id, lk->me.run_id) == 0 && strcmp(holder->host, lk->me.host) == 0 &&
        pid_gone(holder->pid)) {
        dr_error_clear(err);
        rc = lease_take_over(lk, holder, err);
        if (rc == 0 || !dr_error_is(err, "ConditionalCheckFailedException"))
            return rc;
    }
    return DR_EBUSY;
}

/* One renewal, within its own deadline (never past the local one); the local deadline moves on success. */
static int lease_renew(run_lock *lk, dr_error *err)
{
    char exp[32];
    char *body;
    dr_doc *doc = NULL;
    int64_t sent = dr_mono_ms(), until = sent + (int64_t)(lock_renew_deadline(lk->lease_seconds) * 1000.0);
    int64_t local = atomic_load(&lk->deadline_ms);
    int rc;

    if (sent >= local)
        return dr_error_set(err, DR_ETIMEDOUT, "the local deadline of the lease has passed");
    snprintf(exp, sizeof(exp), "%.3f", dr_now() + lk->lease_seconds);
    body = dr_json_pack(err, "{s:s, s:{s:{s:s}}, s:s, s:s, s:{s:{s:s}, s:{s:s}}}", "TableName", lk->table, "Key",
                        "lock_id", "S", lk->name, "UpdateExpression", "SET expires_at = :exp", "ConditionExpression",
                        "lease_token = :me", "ExpressionAttributeValues", ":exp", "N", exp, ":me", "S", lk->token);
    if (!body)
        return err->code;
    host_sdk_set_thread_limits(until < local ? until : local, NULL, NULL);
    rc = ddb(lk, "UpdateItem", body, &doc, err);
    host_sdk_set_thread_limits(0, NULL, NULL);
    free(body);
    dr_doc_free(doc);
    if (rc == 0)
        atomic_store(&lk->deadline_ms, local_deadline(lk, sent));
    return rc;
}

static void timespec_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    if (ms < 0)
        ms = 0;
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/*
 * Renew every (lease - margin) / 3 from the last renewal sent; whatever the
 * renewals do, the lease is lost for this run at its local deadline.
 */
static void *heartbeat_main(void *arg)
{
    run_lock *lk = arg;
    int64_t every = (int64_t)((lk->lease_seconds - lock_margin(lk->lease_seconds)) / 3.0 * 1000.0);
    int64_t next = dr_mono_ms() + every;

    pthread_mutex_lock(&lk->mu);
    while (!lk->stop) {
        struct timespec ts;
        dr_error err;
        int64_t now = dr_mono_ms(), deadline = atomic_load(&lk->deadline_ms);
        int rc;

        if (now >= deadline) {
            if (!lk->lost)
                log_error("the run lease %s reached its local deadline without a renewal (the lock region does not "
                          "answer in time): another host may take it over, this run stops", lk->name);
            lk->lost = 1;
            cancel_request();
            break;
        }
        if (now < next) {
            timespec_in(&ts, (next < deadline ? next : deadline) - now);
            pthread_cond_timedwait(&lk->cv, &lk->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&lk->mu);
        dr_error_clear(&err);
        rc = lease_renew(lk, &err);
        pthread_mutex_lock(&lk->mu);
        if (rc == 0) {
            next = dr_mono_ms() + every;
        } else if (dr_error_is(&err, "ConditionalCheckFailedException")) {
            if (!lk->lost)
                log_error("the run lease %s was taken over by another run: this run stops", lk->name);
            lk->lost = 1;
            cancel_request();
            break;
        } else {
            int64_t left = atomic_load(&lk->deadline_ms) - dr_mono_ms();
            log_warn("renewing the run lease failed (%s); %.1fs left before its local deadline, will retry",
                     err.message, left > 0 ? (double)left / 1000.0 : 0.0);
            next = dr_mono_ms() + every / 4 + 100;
        }
    }
    pthread_mutex_unlock(&lk->mu);
    return NULL;
}

static int lease_acquire(const lock_config *cfg, run_lock *lk, lock_holder *holder, dr_error *err)
{
    int64_t until = dr_mono_ms() + (int64_t)(cfg->wait_seconds * 1000.0);
    int rc, created = 0;

    lk->ddb = cfg->ddb;
    copy_str(lk->table, sizeof(lk->table), cfg->table);
    copy_str(lk->name, sizeof(lk->name), cfg->name ? cfg->name : "dr-agent");
    lk->lease_seconds = cfg->lease_seconds > 0 ? cfg->lease_seconds : 60.0;
    if (cfg->resume_token && *cfg->resume_token)
        copy_str(lk->token, sizeof(lk->token), cfg->resume_token); /* the run's own, from its journal */
    else
        dr_uuid4(lk->token); /* this acquisition's own */
    for (;;) {
        dr_error_clear(err);
        rc = lease_try(lk, cfg, holder, err);
        if (rc == DR_ENOTFOUND && !created) {
            created = 1;
            rc = lease_create_table(lk, err);
            if (rc != 0)
                return rc;
            continue;
        }
        if (rc != DR_EBUSY)
            break;
        if (dr_mono_ms() >= until) {
            char who[512];
            lock_holder_describe(holder, who, sizeof(who));
            return dr_error_set(err, DR_EBUSY, "another run holds the lease %s in table %s: %s", lk->name, lk->table,
                                who);
        }
        if (cancel_requested())
            return dr_error_set(err, DR_ECANCELED, "cancelled while waiting for the lease %s in table %s", lk->name,
                                lk->table);
        usleep(500 * 1000);
    }
    if (rc != 0)
        return dr_error_prefix(err, "run lease %s in table %s: ", lk->name, lk->table);
    pthread_mutex_init(&lk->mu, NULL);
    pthread_cond_init(&lk->cv, NULL);
    if (pthread_create(&lk->heartbeat, NULL, heartbeat_main, lk) == 0)
        lk->heartbeat_running = 1;
    return 0;
}

/* ---- both ---- */

int lock_acquire(const lock_config *cfg, const char *run_id, const char *command, run_lock *lk,
                 lock_holder *holder, dr_error *err)
{
    memset(lk, 0, sizeof(*lk));
    memset(holder, 0, sizeof(*holder));
    lk->fd = -1;
    fill_me(&lk->me, run_id, command);
    if (cfg->ddb && cfg->table)
        return lease_acquire(cfg, lk, holder, err);
    return local_acquire(cfg, lk, holder, err);
}

int lock_lost(run_lock *lk)
{
    int lost;
    int64_t deadline = atomic_load(&lk->deadline_ms);

    if (!lk->heartbeat_running)
        return 0;
    if (deadline > 0 && dr_mono_ms() >= deadline)
        return 1; /* whatever the heartbeat thread has seen so far */
    pthread_mutex_lock(&lk->mu);
    lost = lk->lost;
    pthread_mutex_unlock(&lk->mu);
    return lost;
}

int lock_lost_cb(void *lk)
{
    return lock_lost(lk);
}

void lock_release(run_lock *lk)
{
    if (lk->heartbeat_running) {
        dr_error err;
        char *body;
        dr_doc *doc = NULL;

        pthread_mutex_lock(&lk->mu);
        lk->stop = 1;
        pthread_cond_broadcast(&lk->cv);
        pthread_mutex_unlock(&lk->mu);
        pthread_join(lk->heartbeat, NULL);
        lk->heartbeat_running = 0;
        dr_error_clear(&err);
        body = dr_json_pack(&err, "{s:s, s:{s:{s:s}}, s:s, s:{s:{s:s}}}", "TableName", lk->table, "Key", "lock_id",
                            "S", lk->name, "ConditionExpression", "lease_token = :me", "ExpressionAttributeValues", ":me",
                            "S", lk->token);
        if (body && ddb(lk, "DeleteItem", body, &doc, &err) != 0 && !dr_error_is(&err, "ConditionalCheckFailedException"))
            log_warn("releasing the run lease failed (it expires by itself): %s", err.message);
        free(body);
        dr_doc_free(doc);
        pthread_mutex_destroy(&lk->mu);
        pthread_cond_destroy(&lk->cv);
    }
    if (lk->fd >= 0) {
        if (ftruncate(lk->fd, 0) != 0) {
            /* the holder record is stale but harmless: the flock is what counts */
        }
        flock(lk->fd, LOCK_UN);
        close(lk->fd);
        lk->fd = -1;
    }
}
