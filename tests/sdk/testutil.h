/* testutil.h: helpers shared by the AWS client tests: files, the reference folder, environment. */
#ifndef DR_TESTUTIL_H
#define DR_TESTUTIL_H

#include <stddef.h>


/* Whole file as a NUL-terminated malloc'd string (caller frees), or NULL. *len may be NULL. */
char *tu_read_file(const char *path, size_t *len);
/* The AWS reference test data (DR_AWS_REFERENCE, else ../tests/data/aws-reference), or NULL after printing a FAIL line. */
const char *tu_reference_dir(void);
/* Write text to path (0 on success). */
int tu_write_file(const char *path, const char *text);
/* A fresh private temporary directory (static buffer). */
const char *tu_tmpdir(void);
/* Unset every AWS_* variable that could leak from the caller's environment into a test. */
void tu_clear_aws_env(void);

#endif
