/* SPDX-License-Identifier: Apache-2.0 */
/* Whole files into memory, with a size limit: policies, certificates, manifests, reviews. */
#ifndef GTW_FILE_H
#define GTW_FILE_H

#include <stddef.h>

#define FILE_TOO_LARGE (-2)

/*
 * Reads fd to its end into a new NUL-terminated buffer (*out, owned by the caller) of *len
 * bytes. Returns 0; -1 with errno set when a read fails; FILE_TOO_LARGE when there are more
 * than max bytes. The out-parameters are written on success only.
 */
int file_read_fd(int fd, size_t max, char **out, size_t *len);

/* The same for the file at path; -1 with errno set also when it cannot be opened. */
int file_read(const char *path, size_t max, char **out, size_t *len);

#endif
