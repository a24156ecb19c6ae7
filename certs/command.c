/* SPDX-License-Identifier: Apache-2.0 */
/* The `certs` command: parses its options, makes the certificates, prints the caBundle. */
#include "certs/certs.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "gpu-tenancy-webhook certs"
#define DEFAULT_DAYS 365
#define DNS_LABEL_MAX 63

static void
usage_print(FILE *out)
{
    fprintf(out,
            "usage: gpu-tenancy-webhook certs --service NAME --namespace NS --out DIR\n"
            "                                 [--days N] [--key-type ec|rsa] [--new-ca]\n"
            "\n"
            "Writes a CA (DIR/ca.crt, DIR/ca.key) and a serving certificate and key\n"
            "(DIR/tls.crt, DIR/tls.key) for the Service NAME in namespace NS, whose names\n"
            "NAME, NAME.NS, NAME.NS.svc and NAME.NS.svc.cluster.local it carries, and prints\n"
            "the CA as the base64 caBundle of a webhook configuration. A CA already in DIR is\n"
            "reused, so renewing the serving certificate keeps the caBundle.\n"
            "\n"
            "  --service NAME      the webhook's Service name\n"
            "  --namespace NS      the Service's namespace\n"
            "  --out DIR           where to write the files (created if missing)\n"
            "  --days N            validity of the serving certificate, 1 to %d (default %d);\n"
            "                      a new CA is valid for %d days\n"
            "  --key-type TYPE     ec (ECDSA P-256, the default), rsa (2048 bits), rsa3072\n"
            "  --new-ca            make a new CA even if DIR has one (update the caBundle)\n"
            "  --help              show this help\n",
            CERTS_CA_DAYS, DEFAULT_DAYS, CERTS_CA_DAYS);
}

/* Returns true when s is an RFC 1123 DNS label, as Kubernetes names Services and namespaces. */
static bool
name_is_dns_label(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > DNS_LABEL_MAX || s[0] == '-' || s[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

/* Parses the --days value into *days; returns 0 or -1. */
static int
days_parse(const char *s, unsigned *days)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > CERTS_CA_DAYS)
        return -1;
    *days = (unsigned)v;
    return 0;
}

/* Parses the --key-type value into *type; returns 0 or -1. */
static int
key_type_parse(const char *s, enum certs_key_type *type)
{
    if (strcmp(s, "ec") == 0 || strcmp(s, "ecdsa") == 0)
        *type = CERTS_KEY_EC_P256;
    else if (strcmp(s, "rsa") == 0 || strcmp(s, "rsa2048") == 0)
        *type = CERTS_KEY_RSA_2048;
    else if (strcmp(s, "rsa3072") == 0)
        *type = CERTS_KEY_RSA_3072;
    else
        return -1;
    return 0;
}

/* Prints one usage error line, with a pointer to --help, on stderr. */
__attribute__((format(printf, 1, 2))) static void
usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see --help)\n");
}

/*
 * Parses the command line into *opts. Returns 0 to go on, 1 when --help was shown, or -1 after
 * reporting a usage error.
 */
static int
options_parse(int argc, char **argv, struct certs_options *opts)
{
    static const struct option longopts[] = {
        {"service", required_argument, NULL, 's'},  {"namespace", required_argument, NULL, 'n'},
        {"out", required_argument, NULL, 'o'},      {"days", required_argument, NULL, 'd'},
        {"key-type", required_argument, NULL, 'k'}, {"new-ca", no_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    int c, rc = -1;

    /* The caller may have run getopt already; 0 makes glibc start over from scratch. */
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            opts->service = optarg;
            break;
        case 'n':
            opts->ns = optarg;
            break;
        case 'o':
            opts->out_dir = optarg;
            break;
        case 'd':
            if (days_parse(optarg, &opts->days) != 0) {
                usage_error("--days wants a whole number from 1 to %d, not '%s'", CERTS_CA_DAYS,
                            optarg);
                goto out;
            }
            break;
        case 'k':
            if (key_type_parse(optarg, &opts->key_type) != 0) {
                usage_error("--key-type is ec, rsa or rsa3072, not '%s'", optarg);
                goto out;
            }
            break;
        case 'N':
            opts->new_ca = true;
            break;
        case 'h':
            usage_print(stdout);
            rc = 1;
            goto out;
        case ':':
            usage_error("option '%s' needs a value", argv[optind - 1]);
            goto out;
        default:
            /* optopt names an unknown short option; for a long one it is 0. */
            if (optopt != 0)
                usage_error("unknown option '-%c'", optopt);
            else
                usage_error("unknown option '%s'", argv[optind - 1]);
            goto out;
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    else if (opts->service == NULL)
        usage_error("--service is required");
    else if (opts->ns == NULL)
        usage_error("--namespace is required");
    else if (opts->out_dir == NULL || opts->out_dir[0] == '\0')
        usage_error("--out is required");
    else if (!name_is_dns_label(opts->service))
        usage_error("--service '%s' is not a DNS label (lower-case letters, digits, '-')",
                    opts->service);
    else if (!name_is_dns_label(opts->ns))
        usage_error("--namespace '%s' is not a DNS label (lower-case letters, digits, '-')",
                    opts->ns);
    else
        rc = 0;
out:
    return rc;
}

int
certs_main(int argc, char **argv)
{
    struct certs_options opts = {
        .days = DEFAULT_DAYS,
        .key_type = CERTS_KEY_EC_P256,
    };
    char err[512];
    char *bundle = NULL;
    bool reused = false;
    int parsed, rc = 1;

    parsed = options_parse(argc, argv, &opts);
    if (parsed != 0) {
        rc = parsed > 0 ? 0 : 2;
        goto out;
    }
    if (certs_generate(&opts, &bundle, &reused, err, sizeof(err)) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        goto out;
    }
    printf("%s\n", bundle);
    fprintf(stderr,
            PROG ": wrote %s/tls.crt and %s/tls.key for %s.%s.svc, signed by the %s CA in "
                 "%s/ca.crt\n",
            opts.out_dir, opts.out_dir, opts.service, opts.ns, reused ? "existing" : "new",
            opts.out_dir);
    if (fflush(stdout) == 0)
        rc = 0;
out:
    free(bundle);
    return rc;
}
