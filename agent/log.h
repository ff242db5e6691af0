/* log.h: the host's logger: levels, text or JSON lines on stderr, journald priorities under systemd. */
#ifndef AG_LOG_H
#define AG_LOG_H

#include <stdarg.h>

#include "dr/plugin.h"

typedef enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 } log_format;

/* Configure once from main: maximum level shown, line format. Thread-safe afterwards. */
void log_setup(dr_log_level max_level, log_format format);
dr_log_level log_max_level(void);

/* One line: "2026-11-25T16:53:18Z warn  [dynamodb.users] message". `source` may be NULL. */
void log_msg(dr_log_level level, const char *source, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void log_vmsg(dr_log_level level, const char *source, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* A live display on stderr: cleared before each log line and redrawn after it (NULL, NULL to stop). */
void log_set_tty_hooks(void (*clear)(void), void (*redraw)(void));
/* Redraw the live display now, under the logger's lock. */
void log_redraw(void);

#define log_error(...) log_msg(DR_LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(DR_LOG_WARN, NULL, __VA_ARGS__)
#define log_info(...) log_msg(DR_LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_msg(DR_LOG_DEBUG, NULL, __VA_ARGS__)

#endif
