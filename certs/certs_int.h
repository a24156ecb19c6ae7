/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the certificate tooling's files: errors, file reading, time formatting. */
#ifndef GTW_CERTS_INT_H
#define GTW_CERTS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/asn1.h>

/* The largest PEM file the tooling reads: certificates and keys are a few kilobytes. */
#define CERTS_FILE_MAX ((size_t)1024 * 1024)

/*
 * Formats one line into err. With openssl set, appends ": " and the reason of the most recent
 * OpenSSL error, if any, and clears OpenSSL's error queue either way.
 */
void certs_set_error(char *err, size_t size, bool openssl, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Reads the whole file at path (at most CERTS_FILE_MAX bytes). On success returns 0 and stores a
 * newly allocated, NUL-terminated copy in *data (the caller frees it) and its length in *len; on
 * failure returns -1 with err set.
 */
int certs_read_file(const char *path, char **data, size_t *len, char *err, size_t size);

/* Writes t into buf as ISO-8601 UTC, like 2031-05-04T12:00:00Z; "?" when t cannot be read. */
void certs_time_format(const ASN1_TIME *t, char *buf, size_t size);

/* A PEM password callback that refuses, so an encrypted key fails instead of prompting. */
int certs_pem_no_password(char *buf, int size, int rwflag, void *u);

#endif
