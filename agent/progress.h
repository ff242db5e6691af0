/* progress.h: what a run is doing now: one live line per running resource on a terminal, timestamped lines otherwise. */
#ifndef AG_PROGRESS_H
#define AG_PROGRESS_H

#include "agent.h"

/*
 * Start showing progress for the runs of `a` on stderr: live lines when
 * stderr is a terminal (unless plain), else plain lines through the logger
 * at info level. quiet shows nothing.
 */
void progress_start(agent *a, int quiet, int plain);
void progress_stop(void);

/* Observer callbacks (run_observer) that show step starts, ends and progress. */
void progress_step_start(agent *a, size_t idx, hook_kind hook);
void progress_step_end(agent *a, size_t idx, hook_kind hook);
void progress_update(agent *a, size_t idx);

#endif
