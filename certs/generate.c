/* SPDX-License-Identifier: Apache-2.0 */
/* Makes the webhook's CA and serving certificate with OpenSSL, reusing an existing CA. */
#include "certs/certs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/certs_int.h"
#include "policy/xalloc.h"

/* Clocks in a cluster drift; a notBefore slightly in the past keeps a fresh certificate valid. */
#define BACKDATE_SECONDS 300
#define SERIAL_BITS 128
/* RFC 5280 caps commonName at 64 characters; the SANs carry the names that matter. */
#define CN_MAX 64

/* One file to be written: its final name, the temporary file holding it until the commit. */
struct pending_file {
    char *path;
    char *tmp;
};

/* The files of one run, renamed into place together once all are written. */
struct pending {
    struct pending_file files[4];
    size_t count;
};

/* -------------------------------------------------------------------------------------------- */
/* Keys and certificates                                                                        */
/* -------------------------------------------------------------------------------------------- */

/* Returns a new private key of the given type, or NULL on an OpenSSL error. */
static EVP_PKEY *
key_generate(enum certs_key_type type)
{
    switch (type) {
    case CERTS_KEY_EC_P256:
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    case CERTS_KEY_RSA_2048:
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    case CERTS_KEY_RSA_3072:
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
    }
    return NULL;
}

/* Adds the extension nid with OpenSSL's text syntax for value; returns 0 or -1. */
static int
cert_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int rc = -1;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        goto out;
    if (X509_add_ext(cert, ext, -1) != 1)
        goto out;
    rc = 0;
out:
    X509_EXTENSION_free(ext);
    return rc;
}

/* Sets a random positive serial of SERIAL_BITS bits, as the CA/Browser Forum asks. */
static int
cert_set_serial(X509 *cert)
{
    BIGNUM *bn = BN_new();
    int rc = -1;

    if (bn == NULL)
        goto out;
    do {
        if (BN_rand(bn, SERIAL_BITS, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1)
            goto out;
    } while (BN_is_zero(bn));
    if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL)
        goto out;
    rc = 0;
out:
    BN_free(bn);
    return rc;
}

/*
 * Returns a new unsigned version 3 certificate for key with subject CN=cn, issued by issuer (NULL:
 * self-issued), valid from a little before now to days after now; NULL on an OpenSSL error.
 */
static X509 *
cert_new(EVP_PKEY *key, const char *cn, X509 *issuer, time_t now, unsigned days)
{
    X509 *cert = X509_new();
    X509_NAME *name;
    time_t from = now - BACKDATE_SECONDS;

    if (cert == NULL)
        goto out;
    name = X509_get_subject_name(cert);
    if (X509_set_version(cert, X509_VERSION_3) != 1 || cert_set_serial(cert) != 0 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(cert, issuer != NULL ? X509_get_subject_name(issuer) : name) != 1 ||
        X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0, &from) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(cert), (int)days, 0, &now) == NULL ||
        X509_set_pubkey(cert, key) != 1) {
        X509_free(cert);
        cert = NULL;
    }
out:
    return cert;
}

/* Makes a self-signed CA valid for CERTS_CA_DAYS; returns 0 or -1 with err set. */
static int
ca_make(enum certs_key_type type, time_t now, X509 **cert_out, EVP_PKEY **key_out, char *err,
        size_t err_size)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int rc = -1;

    key = key_generate(type);
    if (key == NULL) {
        certs_set_error(err, err_size, true, "cannot generate the CA key");
        goto out;
    }
    cert = cert_new(key, "gpu-tenancy-webhook CA", NULL, now, CERTS_CA_DAYS);
    /* pathlen:0 lets this CA sign serving certificates but no other CA. */
    if (cert == NULL ||
        cert_add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") != 0 ||
        cert_add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
        cert_add_ext(cert, cert, NID_subject_key_identifier, "hash") != 0 ||
        cert_add_ext(cert, cert, NID_authority_key_identifier, "keyid:always") != 0 ||
        X509_sign(cert, key, EVP_sha256()) == 0) {
        certs_set_error(err, err_size, true, "cannot make the CA certificate");
        goto out;
    }
    *cert_out = cert;
    *key_out = key;
    cert = NULL;
    key = NULL;
    rc = 0;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

/* Makes the serving certificate for the Service's DNS names; returns 0 or -1 with err set. */
static int
leaf_make(const struct certs_options *opts, X509 *ca, EVP_PKEY *ca_key, time_t now, X509 **cert_out,
          EVP_PKEY **key_out, char *err, size_t err_size)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    char *cn = NULL, *sans = NULL;
    const char *usage;
    int rc = -1;

    key = key_generate(opts->key_type);
    if (key == NULL) {
        certs_set_error(err, err_size, true, "cannot generate the serving key");
        goto out;
    }
    cn = xasprintf("%s.%s.svc", opts->service, opts->ns);
    if (strlen(cn) > CN_MAX) {
        free(cn);
        cn = xstrdup(opts->service);
    }
    /* These are the names a client inside the cluster may use for the Service. */
    sans = xasprintf("DNS:%s,DNS:%s.%s,DNS:%s.%s.svc,DNS:%s.%s.svc.cluster.local", opts->service,
                     opts->service, opts->ns, opts->service, opts->ns, opts->service, opts->ns);
    /* RSA key exchange (TLS 1.2 without forward secrecy) needs keyEncipherment; ECDSA never. */
    usage = opts->key_type == CERTS_KEY_EC_P256 ? "critical,digitalSignature"
                                                : "critical,digitalSignature,keyEncipherment";
    cert = cert_new(key, cn, ca, now, opts->days);
    if (cert == NULL || cert_add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        cert_add_ext(cert, ca, NID_key_usage, usage) != 0 ||
        cert_add_ext(cert, ca, NID_ext_key_usage, "serverAuth") != 0 ||
        cert_add_ext(cert, ca, NID_subject_alt_name, sans) != 0 ||
        cert_add_ext(cert, ca, NID_subject_key_identifier, "hash") != 0 ||
        cert_add_ext(cert, ca, NID_authority_key_identifier, "keyid:always") != 0 ||
        X509_sign(cert, ca_key, EVP_sha256()) == 0) {
        certs_set_error(err, err_size, true, "cannot make the serving certificate");
        goto out;
    }
    *cert_out = cert;
    *key_out = key;
    cert = NULL;
    key = NULL;
    rc = 0;
out:
    free(cn);
    free(sans);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

/* -------------------------------------------------------------------------------------------- */
/* Reusing a CA                                                                                 */
/* -------------------------------------------------------------------------------------------- */

static bool
file_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/*
 * Loads the CA in ca_crt and ca_key and checks that at time now it can sign a certificate valid
 * until leaf_end. On success returns 0 and stores the certificate, its key and the bytes of ca_crt
 * (allocated, for the caBundle); on failure returns -1 with err set.
 */
static int
ca_load(const char *ca_crt, const char *ca_key, time_t now, time_t leaf_end, X509 **cert_out,
        EVP_PKEY **key_out, char **pem_out, size_t *pem_len_out, char *err, size_t err_size)
{
    char *pem = NULL, *key_pem = NULL;
    size_t pem_len, key_len = 0;
    BIO *bio = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    char when[32];
    int rc = -1;

    if (certs_read_file(ca_crt, &pem, &pem_len, err, err_size) != 0 ||
        certs_read_file(ca_key, &key_pem, &key_len, err, err_size) != 0)
        goto out;
    bio = BIO_new_mem_buf(pem, (int)pem_len);
    cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, certs_pem_no_password, NULL) : NULL;
    if (cert == NULL) {
        certs_set_error(err, err_size, true, "%s holds no PEM certificate", ca_crt);
        goto out;
    }
    BIO_free(bio);
    bio = BIO_new_mem_buf(key_pem, (int)key_len);
    key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, certs_pem_no_password, NULL) : NULL;
    if (key == NULL) {
        certs_set_error(err, err_size, true, "%s holds no unencrypted PEM private key", ca_key);
        goto out;
    }
    if (X509_check_ca(cert) == 0) {
        certs_set_error(err, err_size, false, "%s is not a CA certificate; use --new-ca", ca_crt);
        goto out;
    }
    if (X509_check_private_key(cert, key) != 1) {
        certs_set_error(err, err_size, true, "%s does not match %s", ca_key, ca_crt);
        goto out;
    }
    certs_time_format(X509_get0_notAfter(cert), when, sizeof(when));
    if (X509_cmp_time(X509_get0_notAfter(cert), &now) < 0) {
        certs_set_error(err, err_size, false,
                        "the CA in %s expired on %s; use --new-ca (and update the caBundle)",
                        ca_crt, when);
        goto out;
    }
    if (X509_cmp_time(X509_get0_notAfter(cert), &leaf_end) < 0) {
        certs_set_error(err, err_size, false,
                        "the CA in %s expires on %s, before the serving certificate would; use "
                        "--new-ca (and update the caBundle) or fewer --days",
                        ca_crt, when);
        goto out;
    }
    *cert_out = cert;
    *key_out = key;
    *pem_out = pem;
    *pem_len_out = pem_len;
    cert = NULL;
    key = NULL;
    pem = NULL;
    rc = 0;
out:
    BIO_free(bio);
    X509_free(cert);
    EVP_PKEY_free(key);
    free(pem);
    if (key_pem != NULL)
        OPENSSL_cleanse(key_pem, key_len);
    free(key_pem);
    return rc;
}

/* -------------------------------------------------------------------------------------------- */
/* Writing files                                                                                */
/* -------------------------------------------------------------------------------------------- */

/* Returns the PEM text of a certificate (key NULL) or of a private key, allocated; NULL on error.
 */
static char *
pem_encode(X509 *cert, EVP_PKEY *key, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *copy = NULL;
    long n;
    int ok;

    if (bio == NULL)
        goto out;
    ok = cert != NULL ? PEM_write_bio_X509(bio, cert)
                      : PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
    if (ok != 1)
        goto out;
    n = BIO_get_mem_data(bio, &data);
    if (n <= 0)
        goto out;
    copy = xstrndup(data, (size_t)n);
    *len = (size_t)n;
    if (key != NULL)
        OPENSSL_cleanse(data, (size_t)n);
out:
    BIO_free(bio);
    return copy;
}

/*
 * Writes data into a new temporary file beside path, created with mode (the final mode from the
 * start, so a key is never readable by others, not even briefly), and records it in p for
 * pending_commit. Returns 0 or -1 with err set.
 */
static int
pending_write(struct pending *p, const char *path, const char *data, size_t len, mode_t mode,
              char *err, size_t err_size)
{
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    size_t done = 0;
    int fd = -1, rc = -1;

    /* A leftover from a crashed run is removed; O_EXCL then refuses a file planted in between. */
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        certs_set_error(err, err_size, false, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            certs_set_error(err, err_size, false, "cannot write %s: %s", tmp, strerror(errno));
            goto out;
        }
        done += (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        certs_set_error(err, err_size, false, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    p->files[p->count].path = xstrdup(path);
    p->files[p->count].tmp = tmp;
    p->count++;
    tmp = NULL;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (tmp != NULL)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* Encodes cert or key as PEM and hands it to pending_write. */
static int
pending_write_pem(struct pending *p, const char *path, X509 *cert, EVP_PKEY *key, char *err,
                  size_t err_size)
{
    size_t len = 0;
    char *pem = pem_encode(cert, key, &len);
    int rc = -1;

    if (pem == NULL) {
        certs_set_error(err, err_size, true, "cannot encode %s", path);
        goto out;
    }
    rc = pending_write(p, path, pem, len, key != NULL ? 0600 : 0644, err, err_size);
out:
    if (pem != NULL)
        OPENSSL_cleanse(pem, len);
    free(pem);
    return rc;
}

/* Renames every written file into place; returns 0 or -1 with err set. */
static int
pending_commit(struct pending *p, char *err, size_t err_size)
{
    int rc = -1;

    for (size_t i = 0; i < p->count; i++) {
        if (rename(p->files[i].tmp, p->files[i].path) != 0) {
            certs_set_error(err, err_size, false, "cannot rename %s to %s: %s", p->files[i].tmp,
                            p->files[i].path, strerror(errno));
            goto out;
        }
        free(p->files[i].tmp);
        p->files[i].tmp = NULL;
    }
    rc = 0;
out:
    return rc;
}

/* Removes the temporary files not committed and frees p's contents. */
static void
pending_free(struct pending *p)
{
    for (size_t i = 0; i < p->count; i++) {
        if (p->files[i].tmp != NULL)
            unlink(p->files[i].tmp);
        free(p->files[i].tmp);
        free(p->files[i].path);
    }
    p->count = 0;
}

/* Returns the base64 (no line breaks) of data, allocated. */
static char *
base64_encode(const char *data, size_t len)
{
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)data, (int)len);
    return out;
}

/* -------------------------------------------------------------------------------------------- */
/* The entry point                                                                              */
/* -------------------------------------------------------------------------------------------- */

int
certs_generate(const struct certs_options *opts, char **ca_bundle, bool *ca_reused, char *err,
               size_t err_size)
{
    struct pending pending = {.count = 0};
    char *ca_crt = NULL, *ca_key = NULL, *tls_crt = NULL, *tls_key = NULL;
    char *ca_pem = NULL;
    size_t ca_pem_len = 0;
    X509 *ca = NULL, *leaf = NULL;
    EVP_PKEY *ca_pkey = NULL, *leaf_pkey = NULL;
    bool reuse;
    time_t now = time(NULL);
    int rc = -1;

    if (opts->days < 1 || opts->days > CERTS_CA_DAYS) {
        certs_set_error(err, err_size, false, "the validity must be 1 to %d days", CERTS_CA_DAYS);
        goto out;
    }
    if (mkdir(opts->out_dir, 0755) != 0 && errno != EEXIST) {
        certs_set_error(err, err_size, false, "cannot create %s: %s", opts->out_dir,
                        strerror(errno));
        goto out;
    }
    ca_crt = xasprintf("%s/ca.crt", opts->out_dir);
    ca_key = xasprintf("%s/ca.key", opts->out_dir);
    tls_crt = xasprintf("%s/tls.crt", opts->out_dir);
    tls_key = xasprintf("%s/tls.key", opts->out_dir);

    reuse = !opts->new_ca && (file_exists(ca_crt) || file_exists(ca_key));
    if (reuse && file_exists(ca_crt) != file_exists(ca_key)) {
        certs_set_error(err, err_size, false,
                        "%s has %s but not %s; restore it, or use --new-ca (and update the "
                        "caBundle)",
                        opts->out_dir, file_exists(ca_crt) ? "ca.crt" : "ca.key",
                        file_exists(ca_crt) ? "ca.key" : "ca.crt");
        goto out;
    }
    if (reuse) {
        if (ca_load(ca_crt, ca_key, now, now + (time_t)opts->days * 86400, &ca, &ca_pkey, &ca_pem,
                    &ca_pem_len, err, err_size) != 0)
            goto out;
    } else {
        if (ca_make(opts->key_type, now, &ca, &ca_pkey, err, err_size) != 0)
            goto out;
        ca_pem = pem_encode(ca, NULL, &ca_pem_len);
        if (ca_pem == NULL) {
            certs_set_error(err, err_size, true, "cannot encode the CA certificate");
            goto out;
        }
        /* The key first: a CA certificate without its key could not be reused. */
        if (pending_write_pem(&pending, ca_key, NULL, ca_pkey, err, err_size) != 0 ||
            pending_write(&pending, ca_crt, ca_pem, ca_pem_len, 0644, err, err_size) != 0)
            goto out;
    }
    if (leaf_make(opts, ca, ca_pkey, now, &leaf, &leaf_pkey, err, err_size) != 0 ||
        pending_write_pem(&pending, tls_key, NULL, leaf_pkey, err, err_size) != 0 ||
        pending_write_pem(&pending, tls_crt, leaf, NULL, err, err_size) != 0 ||
        pending_commit(&pending, err, err_size) != 0)
        goto out;
    *ca_bundle = base64_encode(ca_pem, ca_pem_len);
    if (ca_reused != NULL)
        *ca_reused = reuse;
    rc = 0;
out:
    pending_free(&pending);
    X509_free(ca);
    X509_free(leaf);
    EVP_PKEY_free(ca_pkey);
    EVP_PKEY_free(leaf_pkey);
    free(ca_pem);
    free(ca_crt);
    free(ca_key);
    free(tls_crt);
    free(tls_key);
    return rc;
}
