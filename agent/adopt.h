/* adopt.h: `dr-agent adopt`, the read-only description of an existing estate. */
#ifndef AG_ADOPT_H
#define AG_ADOPT_H

/* Ownership: nothing is returned; the agent's results of the last run are overwritten. */

#include "cli.h"

/*
 * Runs configure as a dry run and verify (AWS reads only, no local state), then prints the resources of the
 * configuration with the values found in the estate (checks named "config:<key>") and what differs from
 * the DR setup (checks not OK, planned changes). Returns 0 when nothing differs, 2 when something does,
 * 1 when a hook failed, 64 for an unusable --format.
 */
int cmd_adopt(const opts *o, agent *a, const unsigned char *sel);

#endif
