/* diagnose.h: the backup plugin's read-only diagnostics (diagnose.c). */
#ifndef BACKUP_DIAGNOSE_H
#define BACKUP_DIAGNOSE_H

#include "dr/plugin.h"

/* Keep the host table for the diagnostics (borrowed for the process life); called from the plugin's init. */
void bk_diagnose_init(const dr_host_api *host);

/* The diagnose hook: the failed backup and copy jobs of the look-back window, each with its status message and fix. */
int bk_diagnose(dr_resource *res, const dr_hook_args *args, dr_error *err);

#endif
