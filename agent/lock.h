/* lock.h: the run lock of mutating commands: a local lock file, or a lease in a DynamoDB table shared by hosts. */
#ifndef DR_AGENT_LOCK_H
#define DR_AGENT_LOCK_H

/*
 * Ownership: lock_acquire() fills a run_lock the caller releases with
 * lock_release() (which also stops the lease heartbeat). A run_lock holds no
 * borrowed pointers after acquisition.
 */

#include <pthread.h>
#include <stdint.h>

#include "dr/aws.h"
#include "dr/error.h"

typedef struct lock_holder {
    char host[256];
    long pid;
    char run_id[64];
    char command[32];
    char started_at[40];
} lock_holder;

typedef struct lock_config {
    const char *state_dir;   /* the local lock lives here */
    dr_aws *ddb;             /* non-NULL: a lease in DynamoDB instead */
    const char *table;       /* lease table (key attribute "lock_id", string) */
    const char *name;        /* lock_id of the item: one lock per estate */
    double lease_seconds;    /* how long a lease lasts without a heartbeat */
    double wait_seconds;     /* 0: refuse at once when held; else wait that long */
} lock_config;

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
} run_lock;

/*
 * Take the lock for `me` (host and pid are filled in). DR_EBUSY with the
 * holder in *holder and err when someone else holds it (after waiting, if
 * asked); other codes on I/O or AWS errors.
 */
int lock_acquire(const lock_config *cfg, const char *run_id, const char *command, run_lock *lk,
                 lock_holder *holder, dr_error *err);

/* Non-zero once the lease could not be renewed (the heartbeat then also requests the run's cancel). */
int lock_lost(run_lock *lk);

void lock_release(run_lock *lk);

/* "host pid 123, run 2026...-abc (failover), since 2026-11-25T17:00:00Z" */
void lock_holder_describe(const lock_holder *h, char *out, size_t len);

#endif
