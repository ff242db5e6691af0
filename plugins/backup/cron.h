/* cron.h: AWS cron schedule expressions (cron(Minutes Hours Day-of-month Month Day-of-week Year), UTC) for the backup plugin. */
#ifndef BACKUP_CRON_H
#define BACKUP_CRON_H

/*
 * Ownership: a bk_cron is a plain value without pointers; nothing to free.
 *
 * The syntax is the one AWS Backup and EventBridge accept: six fields
 * separated by spaces; each field is a list of items separated by ',';
 * an item is '*', a value, a range 'a-b', or either followed by '/step'.
 * Months take 1-12 or JAN-DEC, days of week 1-7 or SUN-SAT (1 = Sunday),
 * years 1970-2199. Exactly one of day-of-month and day-of-week is '?'.
 * Day-of-month also takes 'L' (last day), 'LW' (last weekday) and 'nW'
 * (weekday nearest to day n); day-of-week takes 'nL' (last such day of the
 * month) and 'n#k' (k-th such day). Times are UTC.
 */

#include <stddef.h>
#include <stdint.h>

#define BK_CRON_FIRST_YEAR 1970
#define BK_CRON_LAST_YEAR 2199

typedef struct bk_cron {
    uint64_t minutes;   /* bit m: minute m (0-59) */
    uint32_t hours;     /* bit h: hour h (0-23) */
    uint32_t dom;       /* bit d: day d of the month (1-31) */
    uint32_t dom_near;  /* bit d: the weekday nearest to day d ('dW') */
    int dom_last;       /* 'L': the last day of the month */
    int dom_last_wd;    /* 'LW': the last weekday of the month */
    int dom_unset;      /* '?' */
    uint16_t months;    /* bit m: month m (1-12) */
    uint8_t dow;        /* bit d: day of week d (1-7, 1 = Sunday) */
    uint8_t dow_last;   /* bit d: the last day d of the month ('dL') */
    uint8_t dow_nth[8]; /* dow_nth[d] bit k: the k-th day d of the month ('d#k', k 1-5) */
    int dow_unset;      /* '?' */
    uint64_t years[4];  /* bit y - 1970 */
} bk_cron;

/*
 * Parse "cron(...)" (surrounding spaces allowed). Returns 0, or -1 with a
 * one-line reason in why ("day-of-week: 'FUN' is not a day").
 */
int bk_cron_parse(const char *expr, bk_cron *out, char *why, size_t whylen);

/* The first run strictly after `after` (epoch seconds) in *next: 0, or -1 when there is none before 2200. */
int bk_cron_next(const bk_cron *c, int64_t after, int64_t *next);

/*
 * The longest time between two consecutive runs from `from` on, over at
 * least a year and at least three runs (so that monthly and yearly
 * schedules show their longest interval): 0 with *gap in seconds, or -1
 * when the schedule runs fewer than twice before 2200.
 */
int bk_cron_max_gap(const bk_cron *c, int64_t from, int64_t *gap);

/* Civil date helpers (proleptic Gregorian, UTC), exposed for the tests. */
int64_t bk_days_from_civil(int y, int m, int d);
void bk_civil_from_days(int64_t days, int *y, int *m, int *d);

#endif /* BACKUP_CRON_H */
