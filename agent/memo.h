/* memo.h: the host's per-run memo of read-only answers that resources of one run share (dr_host_api.memo). */
#ifndef AG_MEMO_H
#define AG_MEMO_H

#include <stddef.h>

#include "dr/plugin.h"

/*
 * dr_host_api.memo (see dr/plugin.h). Entries belong to the run of the resource's agent that filled them
 * (struct agent's run_started) and are freed by the first memo call of that agent's next run; the value
 * fill hands over belongs to the memo, *out to the caller (free()).
 */
int host_memo(dr_resource *res, const void *scope, const char *key,
              int (*fill)(void *arg, char **value, size_t *len, dr_error *err), void *arg, char **out,
              size_t *out_len, dr_error *err);

/* Frees every entry that no fill is working on (tests; the agent's process keeps them to the next run). */
void host_memo_clear(void);

#endif
