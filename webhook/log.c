/* SPDX-License-Identifier: Apache-2.0 */
/* Logging: one line per event on stderr, as logfmt text or JSON, filtered by level. */
#include "webhook/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "webhook/review.h"

/*
 * Room kept at the end of every line for what closes it: a cut value's "...", its closing quote,
 * the JSON closing brace and the newline.
 */
#define LOG_TAIL 8

/* Written once by log_init before any thread starts, read-only afterwards. */
static enum log_level log_min_level = LOG_LEVEL_INFO;
static enum log_format log_line_format = LOG_FORMAT_TEXT;

static const char *const log_level_names[] = {
    [LOG_LEVEL_DEBUG] = "debug",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_ERROR] = "error",
};

void
log_init(enum log_level level, enum log_format format)
{
    log_min_level = level;
    log_line_format = format;
}

int
log_level_parse(const char *name, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
        if (strcmp(name, log_level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int
log_format_parse(const char *name, enum log_format *out)
{
    if (strcmp(name, "text") == 0) {
        *out = LOG_FORMAT_TEXT;
        return 0;
    }
    if (strcmp(name, "json") == 0) {
        *out = LOG_FORMAT_JSON;
        return 0;
    }
    return -1;
}

bool
log_enabled(enum log_level level)
{
    return level >= log_min_level;
}

/* ------------------------------------------------------------------------------------------ */
/* Building a line                                                                            */
/* ------------------------------------------------------------------------------------------ */

/* Appends n raw bytes if they fit before the tail reserve; returns false when they do not. */
static bool
log_put(struct log_line *l, const char *s, size_t n)
{
    if (l->len + n > LOG_LINE_MAX - LOG_TAIL)
        return false;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    return true;
}

static bool
log_puts(struct log_line *l, const char *s)
{
    return log_put(l, s, strlen(s));
}

/*
 * Returns the length of the well-formed UTF-8 sequence at s (at most n bytes), or 0 when the
 * bytes there are not one (overlong forms, surrogates and code points past U+10FFFF included),
 * so that a client's bytes can never make a JSON log line invalid.
 */
static size_t
log_utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1fu;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* In text lines a value goes bare when it is printable ASCII without space, quote, '=' or '\'. */
static bool
log_text_needs_quotes(const char *s, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '=' || c == '\\')
            return true;
    }
    return false;
}

/*
 * Appends s[0..n) as a quoted, escaped string. Control characters become \n, \t, \r or \u00XX;
 * bytes that are not UTF-8 become \ufffd in JSON and \xNN in text. A value that does not fit
 * is cut at a character boundary and ends in "...".
 */
static void
log_put_quoted(struct log_line *l, const char *s, size_t n)
{
    bool json = log_line_format == LOG_FORMAT_JSON;
    char esc[8];

    log_put(l, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        const char *unit = esc;
        size_t ulen, step = 1;

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            ulen = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            ulen = 2;
        } else if (c < 0x20 || c == 0x7f) {
            ulen = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c);
        } else if (c < 0x80) {
            unit = s + i;
            ulen = 1;
        } else if ((step = log_utf8_len((const unsigned char *)s + i, n - i)) > 0) {
            unit = s + i;
            ulen = step;
        } else {
            step = 1;
            if (json) {
                unit = "\\ufffd";
                ulen = 6;
            } else {
                ulen = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
            }
        }
        if (!log_put(l, unit, ulen)) {
            /* The tail reserve always has room for these four bytes. */
            memcpy(l->buf + l->len, "...\"", 4);
            l->len += 4;
            return;
        }
        i += step;
    }
    /* Only the tail reserve is left when the last character filled the line exactly. */
    l->buf[l->len++] = '"';
}

/* Appends the separator and key of a field; returns false (and writes nothing) if full. */
static bool
log_put_key(struct log_line *l, const char *key)
{
    size_t keylen = strlen(key);

    /* A key is only worth writing when some of its value fits after it. */
    if (l->len + keylen + 16 > LOG_LINE_MAX - LOG_TAIL)
        return false;
    if (log_line_format == LOG_FORMAT_JSON) {
        log_put(l, ",\"", 2);
        log_put(l, key, keylen);
        log_put(l, "\":", 2);
    } else {
        log_put(l, " ", 1);
        log_put(l, key, keylen);
        log_put(l, "=", 1);
    }
    return true;
}

void
log_line_begin(struct log_line *l, enum log_level level, const char *msg)
{
    struct timespec ts;
    struct tm tm;
    char stamp[40];
    size_t n;

    l->on = log_enabled(level);
    l->level = level;
    l->len = 0;
    if (!l->on)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", ts.tv_nsec / 1000000);
    if (log_line_format == LOG_FORMAT_JSON) {
        log_puts(l, "{\"time\":\"");
        log_puts(l, stamp);
        log_puts(l, "\",\"level\":\"");
        log_puts(l, log_level_names[level]);
        log_puts(l, "\"");
    } else {
        log_puts(l, stamp);
        log_puts(l, " level=");
        log_puts(l, log_level_names[level]);
    }
    log_line_str(l, "msg", msg);
}

void
log_line_strn(struct log_line *l, const char *key, const char *value, size_t len)
{
    if (!l->on || !log_put_key(l, key))
        return;
    if (value == NULL)
        len = 0;
    if (log_line_format == LOG_FORMAT_TEXT && !log_text_needs_quotes(value, len) &&
        log_put(l, value, len))
        return;
    log_put_quoted(l, value ? value : "", len);
}

void
log_line_str(struct log_line *l, const char *key, const char *value)
{
    log_line_strn(l, key, value, value ? strlen(value) : 0);
}

void
log_line_uint(struct log_line *l, const char *key, unsigned long long value)
{
    char num[24];
    int n;

    if (!l->on || !log_put_key(l, key))
        return;
    n = snprintf(num, sizeof(num), "%llu", value);
    log_put(l, num, (size_t)n);
}

/* Writes the whole line; a short write to a pipe or terminal is continued, EINTR retried. */
static void
log_write(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

void
log_line_end(struct log_line *l)
{
    int saved = errno;

    if (!l->on)
        return;
    /* The tail reserve guarantees room for these two bytes. */
    if (log_line_format == LOG_FORMAT_JSON)
        l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    log_write(l->buf, l->len);
    l->on = false;
    errno = saved;
}

/* ------------------------------------------------------------------------------------------ */
/* printf-style messages                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* Formats fmt into a message, adding ": strerror(err)" when err is not 0, and logs it. */
__attribute__((format(printf, 3, 0))) static void
log_emit(enum log_level level, int err, const char *fmt, va_list ap)
{
    struct log_line l;
    char msg[LOG_LINE_MAX];
    int n;

    if (!log_enabled(level))
        return;
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = (int)sizeof(msg) - 1;
    if (err != 0) {
        char reason[128];
        if (strerror_r(err, reason, sizeof(reason)) != 0)
            snprintf(reason, sizeof(reason), "error %d", err);
        snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", reason);
    }
    log_line_begin(&l, level, msg);
    log_line_end(&l);
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    log_emit(level, 0, fmt, ap);
}

/* Each keeps errno as its caller left it, so that logging never disturbs error handling. */
#define LOG_DEFINE(name, level, with_errno)                                                        \
    void name(const char *fmt, ...)                                                                \
    {                                                                                              \
        int saved = errno;                                                                         \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        log_emit(level, (with_errno) ? saved : 0, fmt, ap);                                        \
        va_end(ap);                                                                                \
        errno = saved;                                                                             \
    }

LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG, 0)
LOG_DEFINE(log_info, LOG_LEVEL_INFO, 0)
LOG_DEFINE(log_warn, LOG_LEVEL_WARN, 1)
LOG_DEFINE(log_warnx, LOG_LEVEL_WARN, 0)
LOG_DEFINE(log_error, LOG_LEVEL_ERROR, 1)
LOG_DEFINE(log_errorx, LOG_LEVEL_ERROR, 0)

void
fatal(const char *fmt, ...)
{
    int err = errno;
    va_list ap;

    va_start(ap, fmt);
    log_emit(LOG_LEVEL_ERROR, err, fmt, ap);
    va_end(ap);
    exit(1);
}

void
fatalx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_emit(LOG_LEVEL_ERROR, 0, fmt, ap);
    va_end(ap);
    exit(1);
}

/* ------------------------------------------------------------------------------------------ */
/* Admission reviews                                                                          */
/* ------------------------------------------------------------------------------------------ */

void
log_review(const char *endpoint, const struct review_reply *r, unsigned long long usec)
{
    const char *verdict = r->verdict ? r->verdict : "error";
    enum log_level level = LOG_LEVEL_INFO;
    struct log_line l;

    if (r->status == 200 && strcmp(verdict, "allowed") == 0)
        level = LOG_LEVEL_DEBUG;
    if (!log_enabled(level))
        return;
    log_line_begin(&l, level, "review");
    log_line_str(&l, "endpoint", endpoint);
    log_line_uint(&l, "status", r->status);
    log_line_str(&l, "uid", r->uid);
    log_line_str(&l, "kind", r->kind);
    log_line_str(&l, "namespace", r->name_space);
    log_line_str(&l, "name", r->name);
    log_line_str(&l, "tenant", r->tenant);
    log_line_str(&l, "decision", verdict);
    if (r->reason != NULL) {
        log_line_str(&l, "reason", r->reason);
    } else if (!r->json && r->body != NULL) {
        /* A 400's reason is its text/plain body; the log line needs no trailing newline. */
        size_t len = strnlen(r->body, r->len);
        while (len > 0 && r->body[len - 1] == '\n')
            len--;
        log_line_strn(&l, "reason", r->body, len);
    }
    log_line_uint(&l, "duration_us", usec);
    log_line_end(&l);
}
