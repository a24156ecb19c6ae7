/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the certificate tooling: one-line errors, bounded file reads, ISO-8601 times.
 */
#include "certs/certs_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>

#include "policy/xalloc.h"

void
certs_set_error(char *err, size_t size, bool openssl, const char *fmt, ...)
{
    va_list ap;
    size_t used;
    unsigned long code;

    if (err == NULL || size == 0)
        goto out;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
    if (!openssl)
        goto out;
    /* The last error is the one closest to the cause; earlier ones are its context. */
    code = ERR_peek_last_error();
    used = strlen(err);
    if (code != 0 && used + 2 < size) {
        const char *reason = ERR_reason_error_string(code);
        if (reason != NULL)
            snprintf(err + used, size - used, ": %s", reason);
        else
            snprintf(err + used, size - used, ": OpenSSL error %lx", code);
    }
out:
    if (openssl)
        ERR_clear_error();
}

int
certs_read_file(const char *path, char **data, size_t *len, char *err, size_t size)
{
    FILE *fp = NULL;
    char *buf = NULL;
    size_t got;
    int rc = -1;

    fp = fopen(path, "rb");
    if (fp == NULL) {
        certs_set_error(err, size, false, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    /* One byte more than the limit tells an oversized file from one exactly at the limit. */
    buf = xmalloc(CERTS_FILE_MAX + 2);
    got = fread(buf, 1, CERTS_FILE_MAX + 1, fp);
    if (ferror(fp)) {
        certs_set_error(err, size, false, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    if (got > CERTS_FILE_MAX) {
        certs_set_error(err, size, false, "%s is larger than %zu bytes", path, CERTS_FILE_MAX);
        goto out;
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (fp != NULL)
        fclose(fp);
    return rc;
}

void
certs_time_format(const ASN1_TIME *t, char *buf, size_t size)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "?");
}

int
certs_pem_no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}
