/* state.h: the agent's state directory: which region serves, run ids, atomic file writes. */
#ifndef AG_STATE_H
#define AG_STATE_H

#include <stddef.h>

#include "dr/plugin.h"

/* Create the directory (0700) when missing, and check that only its owner can write it. */
int state_dir_prepare(const char *dir, dr_error *err);

/* Which region serves, as recorded by the last successful failover/failback; DR_SERVING_PRIMARY when unknown. */
int state_read_serving(const char *dir, dr_serving *out, dr_error *err);
int state_write_serving(const char *dir, dr_serving s, const char *run_id, dr_error *err);

/* Write data to dir/name atomically: temporary file, fsync, rename, fsync of the directory. */
int state_write_file(const char *dir, const char *name, const char *data, size_t len, dr_error *err);

/*
 * Small string values a plugin keeps for one resource across runs, in
 * <dir>/plugin-state/<resource>.json (written atomically). get: 1 and the
 * value in out (a NUL-terminated copy) when found, else 0. set: value NULL
 * removes the key.
 */
int state_resource_get(const char *dir, const char *resource, const char *key, char *out, size_t len);
int state_resource_set(const char *dir, const char *resource, const char *key, const char *value, dr_error *err);

/* "20261125T165318Z-a1b2c3": sortable, unique enough for one host. */
void state_new_run_id(char *out, size_t len);

#endif
