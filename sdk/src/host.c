/* host.c: hands the host-only SDK entry points to the first caller of the process (dr-agent, before any plugin). */
#include <stdatomic.h>
#include <stddef.h>

#include "dr_sdk_host.h"

static atomic_int claimed;

static const dr_sdk_host_ops ops = {
    sizeof(dr_sdk_host_ops), dr_sdk_global_init, dr_sdk_global_cleanup, dr_sdk_set_log, dr_aws_set_thread_limits,
};

const dr_sdk_host_ops *dr_sdk_host_claim(void)
{
    int expected = 0;

    return atomic_compare_exchange_strong(&claimed, &expected, 1) ? &ops : NULL;
}
