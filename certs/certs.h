/* SPDX-License-Identifier: Apache-2.0 */
/* Certificate tooling: a CA and a serving certificate for the webhook's Service, and the check
 * that `serve` runs on its certificate at start. */
#ifndef GTW_CERTS_H
#define GTW_CERTS_H

#include <stdbool.h>
#include <stddef.h>

enum certs_key_type {
    CERTS_KEY_EC_P256, /* the default: GnuTLS handshakes cost far less CPU than with RSA */
    CERTS_KEY_RSA_2048,
    CERTS_KEY_RSA_3072,
};

/* The longest validity, in days, of a serving certificate; also the validity of a new CA. */
#define CERTS_CA_DAYS 3650

struct certs_options {
    const char *service;          /* the Service's name, a DNS label */
    const char *ns;               /* the Service's namespace, a DNS label */
    const char *out_dir;          /* created (one level) when missing */
    unsigned days;                /* validity of the serving certificate, 1 to CERTS_CA_DAYS */
    enum certs_key_type key_type; /* for the serving key, and for the CA key when one is made */
    bool new_ca;                  /* replace a CA found in out_dir instead of reusing it */
};

/*
 * Writes a serving certificate and key (tls.crt, tls.key) for the Service's DNS names into
 * opts->out_dir, signed by the CA in ca.crt and ca.key there, which is made first when it is
 * missing or opts->new_ca is set. Keys are written with mode 0600. On success returns 0, stores in
 * *ca_bundle a newly allocated string (the caller frees it) holding the base64 of ca.crt, as a
 * webhook configuration's caBundle wants it, and in *ca_reused (when not NULL) whether an
 * existing CA was used. On failure returns -1 and writes one line into err; the files of out_dir
 * are replaced only once all new ones are written, so they stay as they were unless a rename fails.
 */
int certs_generate(const struct certs_options *opts, char **ca_bundle, bool *ca_reused, char *err,
                   size_t err_size);

/*
 * The whole `certs` command: argv[0] is "certs", options as in its --help. Prints the base64
 * caBundle on stdout and any error as one line on stderr. Returns the process exit status: 0 on
 * success, 1 on failure, 2 on a usage error.
 */
int certs_main(int argc, char **argv);

/*
 * Checks the serving certificate and key that `serve` is about to use: the certificate (the first
 * one of cert_file, which may hold a chain) is readable and valid now, neither expired nor not yet
 * valid, and key_file holds its private key. On success returns 0 and writes into info a one-line
 * summary for the log (subject, SANs, notAfter as ISO-8601 UTC, days left). On failure returns -1
 * and writes one line into err. Either buffer may be truncated but is always terminated.
 */
int certs_check_serving(const char *cert_file, const char *key_file, char *err, size_t err_size,
                        char *info, size_t info_size);

#endif
