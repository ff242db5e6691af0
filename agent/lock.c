/* lock.c: the run lock of mutating commands: a local lock file, or a lease in a DynamoDB table shared by hosts. */
#include <errno.h>
#include <fcntl.h>
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
#include "run.h"

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
        if (run_cancel_requested()) {
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

static int lease_try(run_lock *lk, lock_holder *holder, dr_error *err)
{
    char now[32], exp[32], pid[32];
    double t = dr_now();
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
    if (rc == 0 || !dr_error_is(err, "ConditionalCheckFailedException"))
        return rc;
    /* held: who by? */
    body = dr_json_pack(err, "{s:s, s:{s:{s:s}}, s:b}", "TableName", lk->table, "Key", "lock_id", "S", lk->name,
                        "ConsistentRead", 1);
    if (!body)
        return err->code;
    doc = NULL;
    if (ddb(lk, "GetItem", body, &doc, err) == 0)
        item_holder(dr_node_get(dr_doc_root(doc), "Item"), holder);
    free(body);
    dr_doc_free(doc);
    return DR_EBUSY;
}

static int lease_renew(run_lock *lk, dr_error *err)
{
    char exp[32];
    char *body;
    dr_doc *doc = NULL;
    int rc;

    snprintf(exp, sizeof(exp), "%.3f", dr_now() + lk->lease_seconds);
    body = dr_json_pack(err, "{s:s, s:{s:{s:s}}, s:s, s:s, s:{s:{s:s}, s:{s:s}}}", "TableName", lk->table, "Key",
                        "lock_id", "S", lk->name, "UpdateExpression", "SET expires_at = :exp", "ConditionExpression",
                        "lease_token = :me", "ExpressionAttributeValues", ":exp", "N", exp, ":me", "S", lk->token);
    if (!body)
        return err->code;
    rc = ddb(lk, "UpdateItem", body, &doc, err);
    free(body);
    dr_doc_free(doc);
    return rc;
}

static void *heartbeat_main(void *arg)
{
    run_lock *lk = arg;
    double last_ok = dr_now();

    pthread_mutex_lock(&lk->mu);
    while (!lk->stop) {
        struct timespec ts;
        dr_error err;
        int rc;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(lk->lease_seconds / 3.0);
        ts.tv_nsec += (long)((lk->lease_seconds / 3.0 - (double)(time_t)(lk->lease_seconds / 3.0)) * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&lk->cv, &lk->mu, &ts);
        if (lk->stop)
            break;
        pthread_mutex_unlock(&lk->mu);
        dr_error_clear(&err);
        rc = lease_renew(lk, &err);
        pthread_mutex_lock(&lk->mu);
        if (rc == 0) {
            last_ok = dr_now();
        } else if (dr_error_is(&err, "ConditionalCheckFailedException")) {
            if (!lk->lost)
                log_error("the run lease %s was taken over by another run: this run stops", lk->name);
            lk->lost = 1;
            run_request_cancel();
        } else if (dr_now() - last_ok > lk->lease_seconds) {
            if (!lk->lost)
                log_error("the run lease %s could not be renewed for %.0fs (%s): another host may take over, "
                          "this run stops", lk->name, dr_now() - last_ok, err.message);
            lk->lost = 1;
            run_request_cancel();
        } else {
            log_warn("renewing the run lease failed, will retry: %s", err.message);
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
    dr_uuid4(lk->token); /* this acquisition's own: another run resuming the same run id holds another */
    for (;;) {
        dr_error_clear(err);
        rc = lease_try(lk, holder, err);
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
        if (run_cancel_requested())
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

    if (!lk->heartbeat_running)
        return 0;
    pthread_mutex_lock(&lk->mu);
    lost = lk->lost;
    pthread_mutex_unlock(&lk->mu);
    return lost;
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
