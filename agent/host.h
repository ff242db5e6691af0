/* host.h: the host API table handed to every plugin (what plugins call back: logs, checks, changes, config, AWS). */
#ifndef AG_HOST_H
#define AG_HOST_H

#include "dr/plugin.h"

/* The table; static, never freed. */
const dr_host_api *host_api(void);

#endif
