/* SPDX-License-Identifier: Apache-2.0 */
/* Whole files into memory, with a size limit: policies, certificates, manifests, reviews. */
#include "policy/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "policy/xalloc.h"

int
file_read_fd(int fd, size_t max, char **out, size_t *len)
{
    char *buf = NULL;
    size_t n = 0, cap = 0;

    for (;;) {
        ssize_t r;

        /* Room for a good piece and the NUL; past max the loop ends below. */
        if (cap - n < 4097)
            xgrow(&buf, &cap, n + 65536, 1);
        r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int saved = errno;
            free(buf);
            errno = saved;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            free(buf);
            return FILE_TOO_LARGE;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int
file_read(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc, saved;

    if (fd < 0)
        return -1;
    rc = file_read_fd(fd, max, out, len);
    saved = errno;
    close(fd);
    errno = saved;
    return rc;
}
