/* fuzz_sigv4.c: libFuzzer target for the SigV4 canonicalizer (URI in both modes, query) and a full signature. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char *q;
    dr_buf b = DR_BUF_INIT;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    /* path '?' query, as on the wire */
    q = strchr(text, '?');
    if (q)
        *q++ = '\0';
    drs_sigv4_canonical_uri(&b, text, 0, 1);
    dr_buf_reset(&b);
    drs_sigv4_canonical_uri(&b, text, 1, 0);
    dr_buf_reset(&b);
    if (q)
        drs_sigv4_canonical_query(&b, q);
    dr_buf_free(&b);
    free(text);
    return 0;
}
