/* log.h: SDK-internal logging through the callback the host installs with dr_sdk_set_log. */
#ifndef DRS_LOG_H
#define DRS_LOG_H

#include "dr/plugin.h"
#include "dr/util.h"
#include "dr_sdk_host.h"

/* Levels are dr_log_level values: 0 error .. 3 debug. Messages must never carry a secret. */
void drs_log(int level, const char *fmt, ...) DR_PRINTF(2, 3);
int drs_log_enabled(int level);

#endif /* DRS_LOG_H */
