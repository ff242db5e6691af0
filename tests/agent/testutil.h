/* testutil.h: helpers shared by the core unit tests: temporary files and directories. */
#ifndef AG_TESTUTIL_H
#define AG_TESTUTIL_H

#include <stddef.h>

/* A new empty directory under $TMPDIR (or /tmp); the caller removes it with tu_rmtree. */
char *tu_mkdtemp(void);
/* Write text to dir/name with mode; returns the malloc'd path. */
char *tu_write(const char *dir, const char *name, const char *text, unsigned mode);
void tu_rmtree(const char *dir);
/* Does haystack contain needle? */
int tu_contains(const char *haystack, const char *needle);

#endif
