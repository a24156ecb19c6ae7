/* SPDX-License-Identifier: Apache-2.0 */
/* Logging: one line per event on stderr, as logfmt text or JSON, filtered by level. */
#ifndef GTW_LOG_H
#define GTW_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
};

enum log_format {
    LOG_FORMAT_TEXT, /* 2026-11-25T16:00:00.123Z level=info msg="..." key=value */
    LOG_FORMAT_JSON, /* {"time":"...","level":"info","msg":"...","key":"value"} */
};

/* The longest line written, newline included; longer values are cut to fit. */
#define LOG_LINE_MAX 4096

/*
 * Sets the lowest level written and the line format. Call once, before any thread starts; until
 * then the logger writes text at level info.
 */
void log_init(enum log_level level, enum log_format format);

/* Parses "debug", "info", "warn" or "error" into *out. Returns 0, or -1 for anything else. */
int log_level_parse(const char *name, enum log_level *out);

/* Parses "text" or "json" into *out. Returns 0, or -1 for anything else. */
int log_format_parse(const char *name, enum log_format *out);

/* Returns true when a line at level would be written, so callers can skip building it. */
bool log_enabled(enum log_level level);

/*
 * Writes one line whose msg is the printf-style formatted text. log_warn and log_error append
 * ": " and strerror(errno); the x variants do not. fatal and fatalx log at error and exit(1).
 */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A line with fields, built on the stack: log_line_begin, any number of log_line_str and
 * log_line_uint, then log_line_end writes it with a single write(2). When the level is filtered
 * out every call is a cheap no-op. Keys are written as given and must be plain identifiers.
 */
struct log_line {
    bool on;
    enum log_level level;
    size_t len;
    char buf[LOG_LINE_MAX];
};

void log_line_begin(struct log_line *l, enum log_level level, const char *msg);
/* Adds key with a string value; NULL is written as an empty string. */
void log_line_str(struct log_line *l, const char *key, const char *value);
/* Like log_line_str for the first len bytes of value, which need not be NUL-terminated. */
void log_line_strn(struct log_line *l, const char *key, const char *value, size_t len);
void log_line_uint(struct log_line *l, const char *key, unsigned long long value);
void log_line_end(struct log_line *l);

struct review_reply;

/*
 * Logs one admission review as a line with its endpoint, HTTP status, uid, kind, namespace,
 * name, tenant, decision (the reply's verdict), reason and the microseconds it took
 * (duration_us). Allowed reviews log at debug, everything else (denied, warned, audited,
 * error) at info. Nothing of the reviewed object's content is written beyond its identity.
 */
void log_review(const char *endpoint, const struct review_reply *r, unsigned long long usec);

#endif
