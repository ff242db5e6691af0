/* lock.h: the run lock of mutating commands: a local lock file, or a lease in a DynamoDB table shared by hosts. */
#ifndef AG_LOCK_H
#define AG_LOCK_H

/*
 * Ownership: lock_acquire() fills a run_lock the caller releases with
 * lock_release() (which also stops the lease heartbeat). A run_lock holds no
 * borrowed pointers after acquisition.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "dr/aws.h"
#include "dr/error.h"

typedef struct lock_holder {
    char host[256];
    long pid;
    char run_id[64];
    char command[32];
    char started_at[40];
    char token[40];          /* the lease item's acquisition token ("" for the local lock) */
} lock_holder;

typedef struct lock_config {
    const char *state_dir;   /* the local lock lives here */
    dr_aws *ddb;             /* non-NULL: a lease in DynamoDB instead */
    const char *table;       /* lease table (key attribute "lock_id", string) */
    const char *name;        /* lock_id of the item: one lock per estate */
    double lease_seconds;    /* how long a lease lasts without a heartbeat */
    double wait_seconds;     /* 0: refuse at once when held; else wait that long */
    /*
     * Resuming a run: its lease token (from its journal). When the lease is
     * held under this token by a process of this host that no longer runs (a
     * crash, kill -9), the resume takes the lease over at once instead of
     * waiting for it to expire. NULL: a new token.
     */
    const char *resume_token;
} lock_config;

/*
 * Timing of the lease (docs/RELIABILITY.md): the holder stops acting at a
 * local monotonic deadline, LOCK_MAX_CLOCK_SKEW + lease * LOCK_MAX_DRIFT +
 * the renewal deadline before the lease it wrote expires, counted from when
 * the acquisition or the last successful renewal was sent.
 */
#define LOCK_MAX_CLOCK_SKEW 2.0  /* seconds between the wall clocks of two hosts (NTP keeps them within ms) */
#define LOCK_MAX_DRIFT 0.001     /* rate error of a monotonic clock (crystals: below 0.0001) */
double lock_renew_deadline(double lease_seconds); /* a renewal's own deadline: min(5 s, lease / 6) */
double lock_margin(double lease_seconds);         /* skew + drift + renewal deadline */

typedef struct run_lock {
    int fd;                  /* local lock file, -1 when none */
    lock_holder me;
    /* lease */
    dr_aws *ddb;
    char table[256];
    char name[128];
    double lease_seconds;
    char token[40];          /* this acquisition's id: renewals and the release are conditional on it */
    pthread_t heartbeat;
    int heartbeat_running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int lost;                /* the heartbeat could not renew: another host may take over */
    _Atomic int64_t deadline_ms; /* dr_mono_ms() past which the lease is treated as lost (0: no lease) */
    int resumed;             /* the lease was taken over from a dead process of this host under the same token */
} run_lock;

/*
 * Take the lock for `me` (host and pid are filled in). DR_EBUSY with the
 * holder in *holder and err when someone else holds it (after waiting, if
 * asked); other codes on I/O or AWS errors.
 */
int lock_acquire(const lock_config *cfg, const char *run_id, const char *command, run_lock *lk,
                 lock_holder *holder, dr_error *err);

/*
 * Non-zero once the lease may be someone else's: a renewal was refused, or
 * the local deadline passed (the heartbeat then also requests the run's
 * cancel). Checked before every step, every journal line and the serving
 * region's record. Always 0 for the local lock.
 */
int lock_lost(run_lock *lk);
/* The lock_lost() test for a run_lock passed as void * (the runner's guard). */
int lock_lost_cb(void *lk);

void lock_release(run_lock *lk);

/* "host pid 123, run 2026...-abc (failover), since 2026-11-25T17:00:00Z" */
void lock_holder_describe(const lock_holder *h, char *out, size_t len);

#endif
