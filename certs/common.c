/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the certificate tooling: one-line errors, bounded file reads, ISO-8601 times.
 */
#include "certs/certs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "policy/file.h"
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
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

    if (fd < 0) {
        certs_set_error(err, size, false, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    rc = file_read_fd(fd, CERTS_FILE_MAX, data, len);
    if (rc == FILE_TOO_LARGE)
        certs_set_error(err, size, false, "%s is larger than %zu bytes", path, CERTS_FILE_MAX);
    else if (rc < 0)
        certs_set_error(err, size, false, "cannot read %s: %s", path, strerror(errno));
    close(fd);
    return rc < 0 ? -1 : 0;
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
