/* diagnose.h: the dynamodb plugin's read-only diagnostics (diagnose.c). */
#ifndef DYNAMODB_DIAGNOSE_H
#define DYNAMODB_DIAGNOSE_H

#include "dr/plugin.h"

/* Keep the host table for the diagnostics (borrowed for the process life); called from the plugin's init. */
void dynamodb_diagnose_init(const dr_host_api *host);

/* The diagnose hook: replication latency and its causes (throttling, UserErrors, the DR region's write capacity). */
int dynamodb_diagnose(dr_resource *res, const dr_hook_args *args, dr_error *err);

#endif
