/* dr/util.h: small helpers shared by the host and plugins: growable strings, JSON building, time, secrets. */
#ifndef DR_UTIL_H
#define DR_UTIL_H

/*
 * Ownership: a dr_buf owns its `data`; dr_buf_free() releases it and
 * dr_buf_steal() hands it to the caller (free() it). Functions returning
 * `char *` return memory the caller frees with free().
 */

#include <stddef.h>
#include <stdint.h>

#include "dr/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define DR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DR_PRINTF(f, a)
#endif

/* Growable NUL-terminated string. After an allocation failure `failed` is set and further appends do nothing. */
typedef struct dr_buf {
    char *data;  /* NUL-terminated, or NULL while empty */
    size_t len;
    size_t cap;
    int failed;
} dr_buf;

#define DR_BUF_INIT {NULL, 0, 0, 0}

void dr_buf_init(dr_buf *b);
void dr_buf_free(dr_buf *b);
void dr_buf_reset(dr_buf *b);            /* len = 0, keeps memory */
char *dr_buf_steal(dr_buf *b);           /* returns data ("" when empty) and re-inits b; NULL on failure */
const char *dr_buf_str(const dr_buf *b); /* data, or "" while empty */
int dr_buf_append(dr_buf *b, const char *s, size_t n); /* 0 or DR_ENOMEM */
int dr_buf_puts(dr_buf *b, const char *s);
int dr_buf_printf(dr_buf *b, const char *fmt, ...) DR_PRINTF(2, 3);
int dr_buf_xml_text(dr_buf *b, const char *s);   /* XML-escaped (&<>"') */
int dr_buf_xml_elem(dr_buf *b, const char *name, const char *text); /* <name>escaped</name>; nothing if text NULL */
/* Since SDK 1.2: a JSON string literal, quotes included: '"' and '\\' escaped, control bytes as \\u00XX; NULL: "". */
int dr_buf_json_str(dr_buf *b, const char *s);
int dr_buf_uri_encode(dr_buf *b, const char *s, int keep_slash); /* RFC 3986, unreserved kept, %XX upper */

/*
 * Build compact JSON with jansson's json_pack() format, e.g.
 * dr_json_pack(err, "{s:s, s:{s:b}}", "TableName", t, "X", "Enabled", 1).
 * Returns a malloc'd string or NULL with err filled.
 */
char *dr_json_pack(dr_error *err, const char *fmt, ...);

/* Time. */
double dr_now(void);        /* wall clock, epoch seconds */
int64_t dr_mono_ms(void);   /* monotonic milliseconds */
/* "2026-11-25T16:53:18Z" (UTC, whole seconds) into out (at least 21 bytes); millis adds ".123". */
void dr_time_format(double epoch, int millis, char *out, size_t outlen);
/* ISO-8601 / RFC 3339 with optional fraction and Z or +hh:mm offset; 0 or DR_EPARSE. */
int dr_time_parse(const char *s, double *epoch);
/* Replace, in place, each byte of s that is not part of valid UTF-8 with '?' (JSON documents need UTF-8). */
void dr_utf8_scrub(char *s);

/*
 * Durations: "90s", "15m", "1h", "2d", "1h30m", "500ms", or a plain number of
 * seconds; decimal numbers only, at most DR_DURATION_MAX in total. 0 or DR_EINVAL.
 */
#define DR_DURATION_MAX (3650.0 * 86400.0) /* ten years */
int dr_duration_parse(const char *s, double *seconds);
/* Format seconds compactly: 4500 -> "1h15m", 12.5 -> "12.5s". */
void dr_duration_format(double seconds, char *out, size_t outlen);

/* Random version-4 UUID into out (at least 37 bytes). */
void dr_uuid4(char *out);

/*
 * Read a secret: from the file at `path` (which must be a regular file not
 * readable or writable by group or others, else DR_EDENIED), first line, no
 * trailing newline. Returns a malloc'd string the caller wipes with
 * dr_secret_free().
 */
int dr_secret_read_file(const char *path, char **out, dr_error *err);
void dr_secret_free(char *secret);

#ifdef __cplusplus
}
#endif

#endif /* DR_UTIL_H */
