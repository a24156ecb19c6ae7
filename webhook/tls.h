/* SPDX-License-Identifier: Apache-2.0 */
/* Serving credentials for TLS handshakes: a certificate chain and its key, shared by reference. */
#ifndef GTW_TLS_H
#define GTW_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <gnutls/abstract.h>

/* A certificate chain with its private key, checked, in the form GnuTLS handshakes use. It never
 * changes once made; a rotation makes a new one. */
struct tls_creds;

/*
 * Makes credentials from a PEM certificate (the leaf first, then its chain) and a PEM private
 * key (RSA or ECDSA, unencrypted), after checking that the key is the leaf's and that the leaf
 * is valid now. cert_name and key_name name the files in messages. On success returns 0 and
 * stores new credentials with one reference, owned by the caller, in *out. On failure returns
 * -1 and writes one line saying why into err.
 */
int tls_creds_new(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
                  const char *cert_name, const char *key_name, struct tls_creds **out, char *err,
                  size_t err_size);

/* Takes one more reference to c and returns c. Any thread. */
struct tls_creds *tls_creds_ref(struct tls_creds *c);

/* Drops a reference; the last one frees c. NULL is a no-op. Any thread. */
void tls_creds_unref(struct tls_creds *c);

/*
 * Fills what a GnuTLS certificate retrieve callback returns: the chain, its length and the key.
 * They stay valid while the caller holds its reference.
 */
void tls_creds_use(const struct tls_creds *c, gnutls_pcert_st **pcerts, unsigned *n,
                   gnutls_privkey_t *key);

/* The leaf certificate's notAfter, in seconds since the epoch. */
int64_t tls_creds_not_after(const struct tls_creds *c);

/* The leaf's serial number in lowercase hex, the length of the chain and the key's algorithm
 * ("EC/ECDSA", "RSA"), for logs. */
const char *tls_creds_serial(const struct tls_creds *c);
unsigned tls_creds_chain_length(const struct tls_creds *c);
const char *tls_creds_key_type(const struct tls_creds *c);

/* Formats t as an RFC 3339 UTC time into buf (empty when it does not fit). */
void tls_time_format(time_t t, char *buf, size_t size);

#endif
