/* diagnose.h: the route53 plugin's read-only diagnostics (diagnose.c). */
#ifndef ROUTE53_DIAGNOSE_H
#define ROUTE53_DIAGNOSE_H

#include "dr/plugin.h"

/* Keep the host table for the diagnostics (borrowed for the process life); called from the plugin's init. */
void r53_diagnose_init(const dr_host_api *host);

/* The diagnose hook: why the PRIMARY record's health check fails, per checker region (now and last failure). */
int r53_diagnose(dr_resource *res, const dr_hook_args *args, dr_error *err);

#endif
