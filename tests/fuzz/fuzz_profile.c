/* fuzz_profile.c: libFuzzer target for the AWS shared config/credentials file parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    drs_profiles p = {0};
    dr_error err;

    if (size < 1)
        return 0;
    dr_error_clear(&err);
    if (drs_profiles_parse(&p, (const char *)data + 1, size - 1, data[0] & 1, &err) == 0) {
        for (size_t i = 0; i < p.n; i++) {
            for (size_t k = 0; k < p.s[i].n; k++) {
                char *sub = drs_subprop(p.s[i].kv[k].value, "endpoint_url");
                free(sub);
            }
        }
        (void)drs_profile_get(&p, "default", "region");
    }
    drs_profiles_free(&p);
    return 0;
}
