/* fuzz_journal.c: libFuzzer target for the journal reader (torn lines, odd events, huge fields). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    journal_run r;
    dr_error err;
    FILE *f;

    if (!path[0])
        snprintf(path, sizeof(path), "/tmp/drfuzz-journal-%ld.jsonl", (long)getpid());
    f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    dr_error_clear(&err);
    if (journal_read(path, &r, &err) == 0)
        journal_run_clear(&r);
    return 0;
}
