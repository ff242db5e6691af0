/* testutil.h: helpers shared by the core unit tests: temporary files and directories. */
#ifndef AG_TESTUTIL_H
#define AG_TESTUTIL_H

#include <stddef.h>

/* A new empty directory under $TMPDIR (or /tmp); the caller removes it with tu_rmtree. */
char *tu_mkdtemp(void);
/* Write text to dir/name with mode; returns the malloc'd path. */
char *tu_write(const char *dir, const char *name, const char *text, unsigned mode);
void tu_rmtree(const char *dir);
/* cmocka set-up and tear-down of one fresh directory per test: tu_dir (made by the set-up, removed and freed by the
   tear-down). */
extern char *tu_dir;
int tu_dir_setup(void **state);
int tu_dir_teardown(void **state);
/* Does haystack contain needle? */
int tu_contains(const char *haystack, const char *needle);

#endif
