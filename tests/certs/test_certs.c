/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for certs/: the generated certificates, checked with OpenSSL, and the serve check. */
#include "certs/certs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check.h"

#define SERVICE "gpu-tenancy-webhook"
#define NS "gpu-tenancy-system"

static char tmp_root[] = "/tmp/test_certs.XXXXXX";

/* -------------------------------------------------------------------------------------------- */
/* Helpers                                                                                      */
/* -------------------------------------------------------------------------------------------- */

static char *
path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);

    if (p == NULL)
        abort();
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Returns a new folder under the test's temporary root. */
static char *
dir_new(const char *name)
{
    char *dir = path_join(tmp_root, name);

    if (mkdir(dir, 0700) != 0) {
        perror(dir);
        abort();
    }
    return dir;
}

/* Reads a whole file; returns NULL when it cannot. */
static char *
file_read(const char *dir, const char *name, size_t *len)
{
    char *path = path_join(dir, name);
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    long size;

    if (fp == NULL)
        goto out;
    if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc((size_t)size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, fp) != (size_t)size) {
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[size] = '\0';
    *len = (size_t)size;
out:
    if (fp != NULL)
        fclose(fp);
    free(path);
    return buf;
}

static X509 *
cert_load(const char *dir, const char *name)
{
    char *path = path_join(dir, name);
    FILE *fp = fopen(path, "r");
    X509 *x = fp != NULL ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;

    if (fp != NULL)
        fclose(fp);
    free(path);
    return x;
}

static EVP_PKEY *
key_load(const char *dir, const char *name)
{
    char *path = path_join(dir, name);
    FILE *fp = fopen(path, "r");
    EVP_PKEY *k = fp != NULL ? PEM_read_PrivateKey(fp, NULL, NULL, NULL) : NULL;

    if (fp != NULL)
        fclose(fp);
    free(path);
    return k;
}

static void
cert_save(X509 *x, const char *dir, const char *name)
{
    char *path = path_join(dir, name);
    FILE *fp = fopen(path, "w");

    if (fp == NULL || PEM_write_X509(fp, x) != 1)
        abort();
    fclose(fp);
    free(path);
}

/* Returns the permission bits of dir/name, or -1. */
static int
file_mode(const char *dir, const char *name)
{
    char *path = path_join(dir, name);
    struct stat st;
    int mode = stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;

    free(path);
    return mode;
}

/* Verifies leaf against the CA alone, as a TLS client checking a server named host would. */
static bool
chain_verifies(X509 *ca, X509 *leaf, const char *host)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    bool ok = false;

    if (store == NULL || ctx == NULL || X509_STORE_add_cert(store, ca) != 1 ||
        X509_STORE_CTX_init(ctx, store, leaf, NULL) != 1 ||
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER) != 1)
        goto out;
    if (host != NULL && X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), host, 0) != 1)
        goto out;
    ok = X509_verify_cert(ctx) == 1;
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok;
}

/* Returns the number of DNS names among the certificate's subject alternative names. */
static int
san_dns_count(X509 *x)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int n = 0;

    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++)
        if (sk_GENERAL_NAME_value(names, i)->type == GEN_DNS)
            n++;
    GENERAL_NAMES_free(names);
    return n;
}

/* Returns the number of bits of the serial number, or -1. */
static int
serial_bits(X509 *x)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    int bits = bn != NULL && !BN_is_negative(bn) ? BN_num_bits(bn) : -1;

    BN_free(bn);
    return bits;
}

/* Returns whole days from now to t (negative in the past). */
static int
days_from_now(const ASN1_TIME *t)
{
    int days = 0, secs = 0;

    if (ASN1_TIME_diff(&days, &secs, NULL, t) != 1)
        return -99999;
    return days;
}

static int
generate(const char *dir, unsigned days, enum certs_key_type type, bool new_ca, char **bundle,
         bool *reused)
{
    struct certs_options o = {.service = SERVICE,
                              .ns = NS,
                              .out_dir = dir,
                              .days = days,
                              .key_type = type,
                              .new_ca = new_ca};
    char err[512] = "";
    int rc = certs_generate(&o, bundle, reused, err, sizeof(err));

    if (rc != 0)
        fprintf(stderr, "certs_generate: %s\n", err);
    return rc;
}

/* Issues a certificate for key, signed by the CA in dir, valid between the two offsets from now. */
static X509 *
leaf_issue(const char *dir, EVP_PKEY *key, long from, long to)
{
    X509 *ca = cert_load(dir, "ca.crt");
    EVP_PKEY *ca_key = key_load(dir, "ca.key");
    X509 *x = X509_new();
    X509_NAME *name = X509_get_subject_name(x);

    if (ca == NULL || ca_key == NULL || x == NULL)
        abort();
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(ca));
    X509_gmtime_adj(X509_getm_notBefore(x), from);
    X509_gmtime_adj(X509_getm_notAfter(x), to);
    X509_set_pubkey(x, key);
    if (X509_sign(x, ca_key, EVP_sha256()) == 0)
        abort();
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return x;
}

/* -------------------------------------------------------------------------------------------- */
/* Tests                                                                                        */
/* -------------------------------------------------------------------------------------------- */

/* Checks everything about one freshly generated set of files. */
static void
check_generated(const char *dir, enum certs_key_type type, unsigned days, const char *bundle)
{
    X509 *ca = cert_load(dir, "ca.crt"), *leaf = cert_load(dir, "tls.crt");
    EVP_PKEY *ca_key = key_load(dir, "ca.key"), *key = key_load(dir, "tls.key");
    static const char *const names[] = {SERVICE, SERVICE "." NS, SERVICE "." NS ".svc",
                                        SERVICE "." NS ".svc.cluster.local"};
    unsigned char *decoded;
    char *ca_pem;
    size_t ca_len = 0;
    int n;

    CHECK(ca != NULL && leaf != NULL && ca_key != NULL && key != NULL);
    if (ca == NULL || leaf == NULL || ca_key == NULL || key == NULL)
        goto out;

    /* The chain, for the name the apiserver uses and for a name the certificate lacks. */
    CHECK(chain_verifies(ca, leaf, SERVICE "." NS ".svc"));
    CHECK(!chain_verifies(ca, leaf, "other." NS ".svc"));
    CHECK(X509_check_private_key(leaf, key) == 1);
    CHECK(X509_check_private_key(ca, ca_key) == 1);

    /* Every Service name is a SAN, and nothing else. */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int ok = X509_check_host(leaf, names[i], 0, 0, NULL);
        if (ok != 1)
            fprintf(stderr, "missing SAN %s\n", names[i]);
        CHECK_INT(ok, 1);
    }
    CHECK_INT(san_dns_count(leaf), 4);

    /* The leaf's usages; X509_check_purpose computes the extension flags first. */
    CHECK_INT(X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0), 1);
    CHECK((X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) != 0);
    CHECK_INT(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER);
    CHECK((X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE) != 0);
    CHECK(((X509_get_key_usage(leaf) & KU_KEY_ENCIPHERMENT) != 0) == (type != CERTS_KEY_EC_P256));
    CHECK((X509_get_key_usage(leaf) & KU_KEY_CERT_SIGN) == 0);
    CHECK_INT(X509_check_ca(leaf), 0);

    /* The CA. */
    CHECK_INT(X509_check_ca(ca), 1);
    CHECK((X509_get_key_usage(ca) & KU_KEY_CERT_SIGN) != 0);
    CHECK(days_from_now(X509_get0_notAfter(ca)) >= CERTS_CA_DAYS - 1);

    /* Key types and signatures. */
    if (type == CERTS_KEY_EC_P256) {
        char group[64] = "";
        size_t glen = 0;
        CHECK(EVP_PKEY_is_a(key, "EC"));
        CHECK(EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) == 1);
        CHECK_STR(group, "prime256v1");
        CHECK_INT(X509_get_signature_nid(leaf), NID_ecdsa_with_SHA256);
    } else {
        CHECK(EVP_PKEY_is_a(key, "RSA"));
        CHECK_INT(EVP_PKEY_get_bits(key), type == CERTS_KEY_RSA_3072 ? 3072 : 2048);
        CHECK_INT(X509_get_signature_nid(leaf), NID_sha256WithRSAEncryption);
    }

    /* A random 128-bit serial: shorter than 65 bits would happen once in 2^64 runs. */
    n = serial_bits(leaf);
    CHECK(n > 64 && n <= 128);

    /* Validity: from a little before now, for the requested days. */
    CHECK(X509_cmp_current_time(X509_get0_notBefore(leaf)) < 0);
    CHECK(days_from_now(X509_get0_notBefore(leaf)) == 0);
    n = days_from_now(X509_get0_notAfter(leaf));
    CHECK(n == (int)days || n == (int)days - 1);

    /* Keys are private to their owner. */
    CHECK_INT(file_mode(dir, "tls.key"), 0600);
    CHECK_INT(file_mode(dir, "ca.key"), 0600);

    /* The caBundle is the base64 of ca.crt, byte for byte. */
    ca_pem = file_read(dir, "ca.crt", &ca_len);
    decoded = calloc(1, strlen(bundle) + 1);
    n = decoded != NULL
            ? EVP_DecodeBlock(decoded, (const unsigned char *)bundle, (int)strlen(bundle))
            : -1;
    /* EVP_DecodeBlock counts the padding bytes in; the PEM ends in a newline, never in NUL. */
    while (n > 0 && decoded[n - 1] == '\0')
        n--;
    CHECK(ca_pem != NULL && n == (int)ca_len && memcmp(decoded, ca_pem, ca_len) == 0);
    free(decoded);
    free(ca_pem);
out:
    X509_free(ca);
    X509_free(leaf);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
}

static void
test_generate_ec(void)
{
    char *dir = dir_new("ec");
    char *bundle = NULL;
    bool reused = true;

    CHECK_INT(generate(dir, 365, CERTS_KEY_EC_P256, false, &bundle, &reused), 0);
    CHECK(!reused);
    if (bundle != NULL)
        check_generated(dir, CERTS_KEY_EC_P256, 365, bundle);
    free(bundle);
    free(dir);
}

static void
test_generate_rsa(void)
{
    char *dir = dir_new("rsa");
    char *dir3072 = dir_new("rsa3072");
    char *bundle = NULL;

    CHECK_INT(generate(dir, 30, CERTS_KEY_RSA_2048, false, &bundle, NULL), 0);
    if (bundle != NULL)
        check_generated(dir, CERTS_KEY_RSA_2048, 30, bundle);
    free(bundle);
    bundle = NULL;
    CHECK_INT(generate(dir3072, 1, CERTS_KEY_RSA_3072, false, &bundle, NULL), 0);
    if (bundle != NULL)
        check_generated(dir3072, CERTS_KEY_RSA_3072, 1, bundle);
    free(bundle);
    free(dir);
    free(dir3072);
}

/* A second run keeps the CA byte for byte, so the caBundle in the cluster stays valid. */
static void
test_ca_reuse(void)
{
    char *dir = dir_new("reuse");
    char *b1 = NULL, *b2 = NULL, *b3 = NULL;
    char *ca1 = NULL, *ca2 = NULL, *leaf1 = NULL, *leaf2 = NULL;
    size_t ca1_len = 0, ca2_len = 0, leaf1_len = 0, leaf2_len = 0;
    bool reused = false;
    X509 *ca, *leaf;

    CHECK_INT(generate(dir, 365, CERTS_KEY_EC_P256, false, &b1, &reused), 0);
    CHECK(!reused);
    ca1 = file_read(dir, "ca.crt", &ca1_len);
    leaf1 = file_read(dir, "tls.crt", &leaf1_len);

    CHECK_INT(generate(dir, 90, CERTS_KEY_EC_P256, false, &b2, &reused), 0);
    CHECK(reused);
    ca2 = file_read(dir, "ca.crt", &ca2_len);
    leaf2 = file_read(dir, "tls.crt", &leaf2_len);
    CHECK(ca1 != NULL && ca2 != NULL && ca1_len == ca2_len && memcmp(ca1, ca2, ca1_len) == 0);
    CHECK(leaf1 != NULL && leaf2 != NULL && strcmp(leaf1, leaf2) != 0);
    CHECK(b1 != NULL && b2 != NULL && strcmp(b1, b2) == 0);
    ca = cert_load(dir, "ca.crt");
    leaf = cert_load(dir, "tls.crt");
    CHECK(ca != NULL && leaf != NULL && chain_verifies(ca, leaf, SERVICE "." NS ".svc"));
    X509_free(ca);
    X509_free(leaf);
    if (b2 != NULL)
        check_generated(dir, CERTS_KEY_EC_P256, 90, b2);

    /* --new-ca replaces it. */
    reused = true;
    CHECK_INT(generate(dir, 365, CERTS_KEY_EC_P256, true, &b3, &reused), 0);
    CHECK(!reused);
    CHECK(b3 != NULL && b1 != NULL && strcmp(b1, b3) != 0);
    if (b3 != NULL)
        check_generated(dir, CERTS_KEY_EC_P256, 365, b3);

    free(b1);
    free(b2);
    free(b3);
    free(ca1);
    free(ca2);
    free(leaf1);
    free(leaf2);
    free(dir);
}

/* A CA that cannot be reused is an error that leaves the folder as it was. */
static void
test_ca_broken(void)
{
    char *a = dir_new("broken-a"), *b = dir_new("broken-b");
    char *bundle = NULL, *key_a = NULL, *key_b = NULL;
    char *before = NULL, *after = NULL;
    size_t before_len = 0, after_len = 0;
    struct certs_options o = {
        .service = SERVICE, .ns = NS, .out_dir = a, .days = 30, .key_type = CERTS_KEY_EC_P256};
    char err[512] = "";
    FILE *fp;

    CHECK_INT(generate(a, 30, CERTS_KEY_EC_P256, false, &bundle, NULL), 0);
    free(bundle);
    bundle = NULL;
    CHECK_INT(generate(b, 30, CERTS_KEY_EC_P256, false, &bundle, NULL), 0);
    free(bundle);
    bundle = NULL;

    /* Another CA's key beside this CA's certificate. */
    key_a = path_join(a, "ca.key");
    key_b = path_join(b, "ca.key");
    CHECK(rename(key_b, key_a) == 0);
    before = file_read(a, "tls.crt", &before_len);
    CHECK_INT(certs_generate(&o, &bundle, NULL, err, sizeof(err)), -1);
    CHECK(strstr(err, "does not match") != NULL);
    CHECK(bundle == NULL);
    after = file_read(a, "tls.crt", &after_len);
    CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);

    /* A certificate without its key. */
    CHECK(unlink(key_a) == 0);
    err[0] = '\0';
    CHECK_INT(certs_generate(&o, &bundle, NULL, err, sizeof(err)), -1);
    CHECK(strstr(err, "has ca.crt but not ca.key") != NULL);

    /* A folder that cannot be made. */
    fp = fopen(key_a, "w");
    CHECK(fp != NULL);
    if (fp != NULL)
        fclose(fp);
    o.out_dir = key_a;
    err[0] = '\0';
    CHECK_INT(certs_generate(&o, &bundle, NULL, err, sizeof(err)), -1);
    CHECK(strstr(err, "ca.key") != NULL);

    /* Days out of range. */
    o.out_dir = a;
    o.days = 0;
    CHECK_INT(certs_generate(&o, &bundle, NULL, err, sizeof(err)), -1);
    CHECK(strstr(err, "days") != NULL);
    CHECK(bundle == NULL);

    free(before);
    free(after);
    free(key_a);
    free(key_b);
    free(a);
    free(b);
}

static void
test_check_serving(void)
{
    char *good = dir_new("serve"), *other = dir_new("serve-other");
    char *crt = path_join(good, "tls.crt"), *key = path_join(good, "tls.key");
    char *other_key = path_join(other, "tls.key");
    char *expired = path_join(good, "expired.crt"), *future = path_join(good, "future.crt");
    char *chain = path_join(good, "chain.crt"), *missing = path_join(good, "missing.crt");
    char *garbage = path_join(good, "garbage.crt");
    char err[512], info[512];
    char *bundle = NULL;
    EVP_PKEY *pkey;
    X509 *x;
    FILE *fp;

    CHECK_INT(generate(good, 365, CERTS_KEY_EC_P256, false, &bundle, NULL), 0);
    free(bundle);
    bundle = NULL;
    CHECK_INT(generate(other, 365, CERTS_KEY_EC_P256, false, &bundle, NULL), 0);
    free(bundle);

    /* A good pair, and the summary logged at start. */
    info[0] = '\0';
    CHECK_INT(certs_check_serving(crt, key, err, sizeof(err), info, sizeof(info)), 0);
    CHECK(strstr(info, "subject CN=" SERVICE "." NS ".svc") != NULL);
    CHECK(strstr(info, "DNS:" SERVICE "." NS ".svc.cluster.local") != NULL);
    CHECK(strstr(info, "notAfter 20") != NULL && strstr(info, "Z (36") != NULL);
    CHECK(strstr(info, "days left)") != NULL);
    CHECK(strchr(info, '\n') == NULL);

    /* The chain file of a server that sends its CA too. */
    fp = fopen(chain, "w");
    x = cert_load(good, "tls.crt");
    CHECK(fp != NULL && x != NULL && PEM_write_X509(fp, x) == 1);
    X509_free(x);
    x = cert_load(good, "ca.crt");
    CHECK(fp != NULL && x != NULL && PEM_write_X509(fp, x) == 1);
    X509_free(x);
    if (fp != NULL)
        fclose(fp);
    CHECK_INT(certs_check_serving(chain, key, err, sizeof(err), info, sizeof(info)), 0);

    /* Another key. */
    err[0] = '\0';
    CHECK_INT(certs_check_serving(crt, other_key, err, sizeof(err), info, sizeof(info)), -1);
    CHECK(strstr(err, "does not match") != NULL);

    /* Expired yesterday, and valid only from tomorrow, both for the right key. */
    pkey = key_load(good, "tls.key");
    CHECK(pkey != NULL);
    x = leaf_issue(good, pkey, -2L * 86400, -86400L);
    cert_save(x, good, "expired.crt");
    X509_free(x);
    x = leaf_issue(good, pkey, 86400L, 2L * 86400);
    cert_save(x, good, "future.crt");
    X509_free(x);
    EVP_PKEY_free(pkey);
    err[0] = '\0';
    CHECK_INT(certs_check_serving(expired, key, err, sizeof(err), info, sizeof(info)), -1);
    CHECK(strstr(err, "expired on 20") != NULL);
    err[0] = '\0';
    CHECK_INT(certs_check_serving(future, key, err, sizeof(err), info, sizeof(info)), -1);
    CHECK(strstr(err, "not valid before") != NULL);

    /* Unreadable and unparsable files. */
    err[0] = '\0';
    CHECK_INT(certs_check_serving(missing, key, err, sizeof(err), info, sizeof(info)), -1);
    CHECK(strstr(err, "cannot open") != NULL && strstr(err, "missing.crt") != NULL);
    fp = fopen(garbage, "w");
    CHECK(fp != NULL);
    if (fp != NULL) {
        fputs("not a certificate\n", fp);
        fclose(fp);
    }
    err[0] = '\0';
    CHECK_INT(certs_check_serving(garbage, key, err, sizeof(err), info, sizeof(info)), -1);
    CHECK(strstr(err, "no PEM certificate") != NULL);
    err[0] = '\0';
    CHECK_INT(certs_check_serving(crt, garbage, err, sizeof(err), info, sizeof(info)), -1);
    CHECK(strstr(err, "no unencrypted PEM private key") != NULL);

    free(good);
    free(other);
    free(crt);
    free(key);
    free(other_key);
    free(expired);
    free(future);
    free(chain);
    free(missing);
    free(garbage);
}

/* Runs certs_main on a NULL-terminated list of arguments, copied since getopt may permute them. */
static int
run_main(const char *const *args)
{
    char *argv[16];
    int argc = 0, rc;

    for (; args[argc] != NULL && argc < 15; argc++) {
        argv[argc] = strdup(args[argc]);
        if (argv[argc] == NULL)
            abort();
    }
    argv[argc] = NULL;
    rc = certs_main(argc, argv);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return rc;
}

/* The command's usage errors, which exit with 2 before touching any file. */
static void
test_main_usage(void)
{
    char *dir = path_join(tmp_root, "usage");
    const char *missing_service[] = {"certs", "--namespace", NS, "--out", dir, NULL};
    const char *bad_days[] = {"certs", "--service", SERVICE,  "--namespace", NS,
                              "--out", dir,         "--days", "0",           NULL};
    const char *bad_type[] = {"certs", "--service", SERVICE,      "--namespace", NS,
                              "--out", dir,         "--key-type", "dsa",         NULL};
    const char *bad_name[] = {"certs", "--service", "Web_hook", "--namespace",
                              NS,      "--out",     dir,        NULL};
    const char *unknown[] = {"certs", "--servce", SERVICE, NULL};
    const char *no_value[] = {"certs", "--out", NULL};
    const char *extra[] = {"certs", "--service", SERVICE, "--namespace", NS,
                           "--out", dir,         "x",     NULL};
    const char *good[] = {"certs", "--service", SERVICE, "--namespace", NS, "--out", dir, NULL};

    CHECK_INT(run_main(missing_service), 2);
    CHECK_INT(run_main(bad_days), 2);
    CHECK_INT(run_main(bad_type), 2);
    CHECK_INT(run_main(bad_name), 2);
    CHECK_INT(run_main(unknown), 2);
    CHECK_INT(run_main(no_value), 2);
    CHECK_INT(run_main(extra), 2);
    CHECK_INT(file_mode(tmp_root, "usage"), -1);
    /* Twice, to show that getopt starts over on each call. */
    CHECK_INT(run_main(good), 0);
    CHECK_INT(run_main(good), 0);
    CHECK_INT(file_mode(dir, "tls.key"), 0600);
    free(dir);
}

/* Removes the test's temporary files; the tree is two levels deep at most. */
static void
tmp_remove(void)
{
    char *cmd;
    size_t n = strlen(tmp_root) + 16;

    cmd = malloc(n);
    if (cmd == NULL)
        return;
    snprintf(cmd, n, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmp_root);
    free(cmd);
}

int
main(void)
{
    /* The modes checked are the ones the files are created with, under the usual umask. */
    umask(022);
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_generate_ec();
    test_generate_rsa();
    test_ca_reuse();
    test_ca_broken();
    test_check_serving();
    test_main_usage();
    tmp_remove();
    return check_summary();
}
