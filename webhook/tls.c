/* SPDX-License-Identifier: Apache-2.0 */
/* Serving credentials for TLS handshakes: a certificate chain and its key, shared by reference. */
#include "webhook/tls.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "policy/xalloc.h"

struct tls_creds {
    atomic_uint refs;
    gnutls_pcert_st *pcerts;
    unsigned npcerts;
    gnutls_privkey_t key;
    int64_t not_after;
    const char *key_type; /* static, from GnuTLS */
    char serial[2 * 40 + 1];
};

static void
tls_creds_free(struct tls_creds *c)
{
    for (unsigned i = 0; i < c->npcerts; i++)
        gnutls_pcert_deinit(&c->pcerts[i]);
    free(c->pcerts);
    if (c->key != NULL)
        gnutls_privkey_deinit(c->key);
    free(c);
}

/* True when the private key is the one whose public half crt carries. */
static bool
tls_key_matches(gnutls_x509_crt_t crt, gnutls_x509_privkey_t pk)
{
    unsigned char a[64], b[64];
    size_t alen = sizeof(a), blen = sizeof(b);

    if (gnutls_x509_crt_get_key_id(crt, 0, a, &alen) < 0 ||
        gnutls_x509_privkey_get_key_id(pk, 0, b, &blen) < 0)
        return false;
    return alen == blen && memcmp(a, b, alen) == 0;
}

void
tls_time_format(time_t t, char *buf, size_t size)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    if (strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 && size > 0)
        buf[0] = '\0';
}

int
tls_creds_new(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
              const char *cert_name, const char *key_name, struct tls_creds **out, char *err,
              size_t err_size)
{
    gnutls_datum_t cert = {(unsigned char *)(uintptr_t)cert_pem, (unsigned)cert_len};
    gnutls_datum_t key = {(unsigned char *)(uintptr_t)key_pem, (unsigned)key_len};
    gnutls_x509_crt_t *crts = NULL;
    gnutls_x509_privkey_t pk = NULL;
    struct tls_creds *c = NULL;
    unsigned ncrts = 0, n;
    unsigned char serial[40];
    size_t serial_len = sizeof(serial);
    time_t now = time(NULL), not_before;
    char when[32];
    int rc, ret = -1;

    rc = gnutls_x509_crt_list_import2(&crts, &ncrts, &cert, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || ncrts == 0) {
        snprintf(err, err_size, "TLS certificate %s: no PEM certificate in it (%s)", cert_name,
                 rc < 0 ? gnutls_strerror(rc) : "empty");
        goto out;
    }
    if (gnutls_x509_privkey_init(&pk) < 0) {
        snprintf(err, err_size, "cannot initialise GnuTLS");
        goto out;
    }
    rc = gnutls_x509_privkey_import2(pk, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc < 0) {
        snprintf(err, err_size, "TLS key %s: no usable unencrypted PEM private key in it (%s)",
                 key_name, gnutls_strerror(rc));
        goto out;
    }
    if (!tls_key_matches(crts[0], pk)) {
        snprintf(err, err_size, "TLS key %s does not match certificate %s", key_name, cert_name);
        goto out;
    }
    not_before = gnutls_x509_crt_get_activation_time(crts[0]);
    c = xcalloc(1, sizeof(*c));
    c->not_after = (int64_t)gnutls_x509_crt_get_expiration_time(crts[0]);
    if (c->not_after <= (int64_t)now) {
        tls_time_format((time_t)c->not_after, when, sizeof(when));
        snprintf(err, err_size, "TLS certificate %s expired at %s", cert_name, when);
        goto out;
    }
    if (not_before > now) {
        tls_time_format(not_before, when, sizeof(when));
        snprintf(err, err_size, "TLS certificate %s is not valid before %s", cert_name, when);
        goto out;
    }
    if (gnutls_x509_crt_get_serial(crts[0], serial, &serial_len) == 0) {
        for (size_t i = 0; i < serial_len; i++)
            snprintf(c->serial + 2 * i, 3, "%02x", serial[i]);
    }
    c->key_type =
        gnutls_pk_get_name((gnutls_pk_algorithm_t)gnutls_x509_privkey_get_pk_algorithm(pk));
    c->pcerts = xcalloc(ncrts, sizeof(*c->pcerts));
    n = ncrts;
    rc = gnutls_pcert_import_x509_list(c->pcerts, crts, &n, 0);
    if (rc < 0) {
        snprintf(err, err_size, "cannot use TLS certificate %s: %s", cert_name,
                 gnutls_strerror(rc));
        goto out;
    }
    c->npcerts = n;
    if (gnutls_privkey_init(&c->key) < 0) {
        c->key = NULL;
        snprintf(err, err_size, "cannot initialise GnuTLS");
        goto out;
    }
    rc = gnutls_privkey_import_x509(c->key, pk, GNUTLS_PRIVKEY_IMPORT_COPY);
    if (rc < 0) {
        snprintf(err, err_size, "cannot use TLS key %s: %s", key_name, gnutls_strerror(rc));
        goto out;
    }
    atomic_init(&c->refs, 1);
    *out = c;
    c = NULL;
    ret = 0;
out:
    if (c != NULL)
        tls_creds_free(c);
    if (pk != NULL)
        gnutls_x509_privkey_deinit(pk);
    for (unsigned i = 0; i < ncrts; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    return ret;
}

struct tls_creds *
tls_creds_ref(struct tls_creds *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void
tls_creds_unref(struct tls_creds *c)
{
    if (c != NULL && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        tls_creds_free(c);
}

void
tls_creds_use(const struct tls_creds *c, gnutls_pcert_st **pcerts, unsigned *n,
              gnutls_privkey_t *key)
{
    *pcerts = c->pcerts;
    *n = c->npcerts;
    *key = c->key;
}

int64_t
tls_creds_not_after(const struct tls_creds *c)
{
    return c->not_after;
}

const char *
tls_creds_serial(const struct tls_creds *c)
{
    return c->serial;
}

unsigned
tls_creds_chain_length(const struct tls_creds *c)
{
    return c->npcerts;
}

const char *
tls_creds_key_type(const struct tls_creds *c)
{
    return c->key_type != NULL ? c->key_type : "unknown";
}
