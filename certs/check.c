/* SPDX-License-Identifier: Apache-2.0 */
/* The check `serve` runs on its certificate and key at start, and the summary it logs. */
#include "certs/certs.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/certs_int.h"

/* Appends the subject in RFC 2253 form ("CN=a,O=b") to out, a memory BIO. */
static void
summary_add_subject(BIO *out, X509 *cert)
{
    BIO_puts(out, "subject ");
    X509_NAME_print_ex(out, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
}

/* Appends the DNS and IP subject alternative names, comma separated, to out. */
static void
summary_add_sans(BIO *out, X509 *cert)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int count = names != NULL ? sk_GENERAL_NAME_num(names) : 0;
    int shown = 0;

    BIO_puts(out, ", SANs ");
    for (int i = 0; i < count; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        const ASN1_STRING *s;

        if (gn->type == GEN_DNS) {
            s = gn->d.dNSName;
            BIO_printf(out, "%sDNS:%.*s", shown ? "," : "", ASN1_STRING_length(s),
                       (const char *)ASN1_STRING_get0_data(s));
            shown++;
        } else if (gn->type == GEN_IPADD) {
            char ip[INET6_ADDRSTRLEN] = "?";
            s = gn->d.iPAddress;
            if (ASN1_STRING_length(s) == 4 || ASN1_STRING_length(s) == 16)
                inet_ntop(ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s),
                          ip, sizeof(ip));
            BIO_printf(out, "%sIP:%s", shown ? "," : "", ip);
            shown++;
        }
    }
    if (shown == 0)
        BIO_puts(out, "none");
    GENERAL_NAMES_free(names);
}

/* Writes the one-line summary of cert into info. */
static void
summary_format(X509 *cert, char *info, size_t info_size)
{
    BIO *out = BIO_new(BIO_s_mem());
    char when[32];
    int days = 0, seconds = 0;
    char *data;
    long n;

    if (info == NULL || info_size == 0)
        goto out;
    if (out == NULL) {
        snprintf(info, info_size, "?");
        goto out;
    }
    summary_add_subject(out, cert);
    summary_add_sans(out, cert);
    certs_time_format(X509_get0_notAfter(cert), when, sizeof(when));
    /* A NULL start time means now; the check before this made sure the difference is positive. */
    if (ASN1_TIME_diff(&days, &seconds, NULL, X509_get0_notAfter(cert)) != 1)
        days = -1;
    else if (seconds >= 12 * 60 * 60)
        days++; /* to the nearest day, so a fresh 365-day certificate says 365 */
    BIO_printf(out, ", notAfter %s (%d day%s left)", when, days, days == 1 ? "" : "s");
    n = BIO_get_mem_data(out, &data);
    snprintf(info, info_size, "%.*s", (int)n, data);
out:
    BIO_free(out);
    ERR_clear_error();
}

int
certs_check_serving(const char *cert_file, const char *key_file, char *err, size_t err_size,
                    char *info, size_t info_size)
{
    char *cert_pem = NULL, *key_pem = NULL;
    size_t cert_len, key_len;
    BIO *bio = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    char when[32];
    int rc = -1;

    if (certs_read_file(cert_file, &cert_pem, &cert_len, err, err_size) != 0 ||
        certs_read_file(key_file, &key_pem, &key_len, err, err_size) != 0)
        goto out;
    /* The first certificate of a chain file is the server's own; the rest are intermediates. */
    bio = BIO_new_mem_buf(cert_pem, (int)cert_len);
    cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, certs_pem_no_password, NULL) : NULL;
    if (cert == NULL) {
        certs_set_error(err, err_size, true, "%s holds no PEM certificate", cert_file);
        goto out;
    }
    BIO_free(bio);
    bio = BIO_new_mem_buf(key_pem, (int)key_len);
    key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, certs_pem_no_password, NULL) : NULL;
    if (key == NULL) {
        certs_set_error(err, err_size, true, "%s holds no unencrypted PEM private key", key_file);
        goto out;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
        certs_time_format(X509_get0_notBefore(cert), when, sizeof(when));
        certs_set_error(err, err_size, false,
                        "certificate %s is not valid before %s (check the clock)", cert_file, when);
        goto out;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
        certs_time_format(X509_get0_notAfter(cert), when, sizeof(when));
        certs_set_error(err, err_size, false, "certificate %s expired on %s", cert_file, when);
        goto out;
    }
    if (X509_check_private_key(cert, key) != 1) {
        certs_set_error(err, err_size, false, "key %s does not match certificate %s", key_file,
                        cert_file);
        goto out;
    }
    summary_format(cert, info, info_size);
    rc = 0;
out:
    BIO_free(bio);
    X509_free(cert);
    EVP_PKEY_free(key);
    free(cert_pem);
    if (key_pem != NULL)
        OPENSSL_cleanse(key_pem, key_len);
    free(key_pem);
    ERR_clear_error();
    return rc;
}
