/* SPDX-License-Identifier: Apache-2.0 */
/* The gpu-tenancy-webhook command line: serve, check, lint, certs and version. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs/certs.h"
#include "policy/diag.h"
#include "policy/policy.h"
#include "policy/xalloc.h"
#include "webhook/check.h"
#include "webhook/log.h"
#include "webhook/server.h"

#define PROGRAM "gpu-tenancy-webhook"

/* Spells a numeric macro's value, so that the help shows the defaults the server uses. */
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define HELP_MAX_CONNECTIONS STRINGIFY(SERVER_DEFAULT_MAX_CONNECTIONS)
#define HELP_IDLE_TIMEOUT STRINGIFY(SERVER_DEFAULT_IDLE_TIMEOUT_S)
#define HELP_REQUEST_TIMEOUT STRINGIFY(SERVER_DEFAULT_REQUEST_TIMEOUT_S)
#define HELP_GRACE STRINGIFY(SERVER_DEFAULT_SHUTDOWN_GRACE_S)

/* Exit statuses: 2 for usage errors and for a server that could not start. */
#define EXIT_USAGE 2
#define EXIT_NOT_STARTED 2

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const char *usage; /* the full help text, options included; NULL: the command's own */
};

static const struct command *command_find(const char *name);

/* Prints a command's help to out; NULL prints nothing. */
static void
command_usage(const struct command *cmd, FILE *out)
{
    if (cmd != NULL && cmd->usage != NULL)
        fputs(cmd->usage, out);
}

/* Reports a usage error for cmd on stderr, one line followed by the command's usage, and
 * returns the usage exit status. */
__attribute__((format(printf, 2, 3))) static int
command_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, PROGRAM " %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    command_usage(command_find(cmd), stderr);
    return EXIT_USAGE;
}

/*
 * Explains why getopt_long returned '?' or ':' (the optstring starts with ':' so that missing
 * values are told apart), naming the offending word as the user typed it.
 */
static int
command_bad_option(const char *cmd, int c, char **argv)
{
    const char *word = argv[optind - 1];

    if (c == ':')
        return command_fail(cmd, "option %s needs a value", word);
    /* optopt holds the letter of an unknown short option, which may sit inside a bundle. */
    if (optopt > ' ' && optopt < 127 && strncmp(word, "--", 2) != 0)
        return command_fail(cmd, "unknown option -%c", optopt);
    return command_fail(cmd, "unknown option %s", word);
}

/* Parses a whole decimal number in [min, max]. Returns 0, or -1 for anything else. */
static int
parse_number(const char *text, unsigned long long min, unsigned long long max,
             unsigned long long *out)
{
    unsigned long long n;
    char *end;

    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    n = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* serve                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static int
cmd_serve(int argc, char **argv)
{
    enum {
        OPT_POLICY = 256,
        OPT_CERT,
        OPT_KEY,
        OPT_LISTEN,
        OPT_METRICS_LISTEN,
        OPT_MAX_BODY,
        OPT_MAX_CONNECTIONS,
        OPT_IDLE_TIMEOUT,
        OPT_REQUEST_TIMEOUT,
        OPT_SHUTDOWN_GRACE,
        OPT_NO_WATCH,
        OPT_THREADS,
        OPT_LOG_LEVEL,
        OPT_LOG_FORMAT
    };
    static const struct option options[] = {
        {"policy", required_argument, NULL, OPT_POLICY},
        {"tls-cert", required_argument, NULL, OPT_CERT},
        {"tls-key", required_argument, NULL, OPT_KEY},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN},
        {"max-body-bytes", required_argument, NULL, OPT_MAX_BODY},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {"request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT},
        {"shutdown-grace", required_argument, NULL, OPT_SHUTDOWN_GRACE},
        {"no-watch", no_argument, NULL, OPT_NO_WATCH},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    enum log_level level = LOG_LEVEL_INFO;
    enum log_format format = LOG_FORMAT_TEXT;
    struct server_config cfg;
    char err[512], info[512];
    struct log_line l;
    unsigned long long n;
    int c;

    server_config_init(&cfg);
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case OPT_POLICY:
            cfg.policy_path = optarg;
            break;
        case OPT_CERT:
            cfg.cert_path = optarg;
            break;
        case OPT_KEY:
            cfg.key_path = optarg;
            break;
        case OPT_LISTEN:
            cfg.listen = optarg;
            break;
        case OPT_METRICS_LISTEN:
            cfg.metrics_listen = optarg;
            break;
        case OPT_MAX_BODY:
            /* Up to 1 GiB: a review is a few MiB at most, and the buffer must fit a size_t. */
            if (parse_number(optarg, 1, (unsigned long long)1 << 30, &n) < 0)
                return command_fail("serve",
                                    "--max-body-bytes wants a number of bytes from 1 "
                                    "to 1073741824, not '%s'",
                                    optarg);
            cfg.max_body_bytes = (size_t)n;
            break;
        case OPT_MAX_CONNECTIONS:
            /* Each connection is a descriptor and up to 32 KiB of buffers. */
            if (parse_number(optarg, 1, 1000000, &n) < 0)
                return command_fail("serve",
                                    "--max-connections wants a number from 1 to 1000000, not '%s'",
                                    optarg);
            cfg.max_connections = (unsigned)n;
            break;
        case OPT_IDLE_TIMEOUT:
        case OPT_REQUEST_TIMEOUT:
        case OPT_SHUTDOWN_GRACE: {
            const char *name = c == OPT_IDLE_TIMEOUT      ? "--idle-timeout"
                               : c == OPT_REQUEST_TIMEOUT ? "--request-timeout"
                                                          : "--shutdown-grace";
            /* A grace of 0 means: do not wait at all; a timeout of 0 would mean none. */
            if (parse_number(optarg, c == OPT_SHUTDOWN_GRACE ? 0 : 1, 3600, &n) < 0)
                return command_fail("serve",
                                    "%s wants a number of seconds from %d to 3600, not '%s'", name,
                                    c == OPT_SHUTDOWN_GRACE ? 0 : 1, optarg);
            if (c == OPT_IDLE_TIMEOUT)
                cfg.idle_timeout_s = (unsigned)n;
            else if (c == OPT_REQUEST_TIMEOUT)
                cfg.request_timeout_s = (unsigned)n;
            else
                cfg.shutdown_grace_s = (unsigned)n;
            break;
        }
        case OPT_NO_WATCH:
            cfg.watch = false;
            break;
        case OPT_THREADS:
            if (parse_number(optarg, 1, SERVER_MAX_THREADS, &n) < 0)
                return command_fail("serve", "--threads wants a number from 1 to %d, not '%s'",
                                    SERVER_MAX_THREADS, optarg);
            cfg.threads = (unsigned)n;
            break;
        case OPT_LOG_LEVEL:
            if (log_level_parse(optarg, &level) < 0)
                return command_fail(
                    "serve", "--log-level wants debug, info, warn or error, not '%s'", optarg);
            break;
        case OPT_LOG_FORMAT:
            if (log_format_parse(optarg, &format) < 0)
                return command_fail("serve", "--log-format wants text or json, not '%s'", optarg);
            break;
        case 'h':
            command_usage(command_find("serve"), stdout);
            return 0;
        default:
            return command_bad_option("serve", c, argv);
        }
    }
    if (optind < argc)
        return command_fail("serve", "unexpected argument '%s'", argv[optind]);
    if (cfg.policy_path == NULL)
        return command_fail("serve", "--policy is required");
    if (cfg.cert_path == NULL)
        return command_fail("serve", "--tls-cert is required");
    if (cfg.key_path == NULL)
        return command_fail("serve", "--tls-key is required");
    log_init(level, format);
    /* The certificate checks of the certs tool (expiry, key match), with their messages. */
    if (certs_check_serving(cfg.cert_path, cfg.key_path, err, sizeof(err), info, sizeof(info)) !=
        0) {
        log_errorx("%s", err);
        return EXIT_NOT_STARTED;
    }
    log_line_begin(&l, LOG_LEVEL_INFO, "TLS certificate checked");
    log_line_str(&l, "certificate", info);
    log_line_end(&l);
    return server_run(&cfg);
}

/* ------------------------------------------------------------------------------------------ */
/* lint                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static int
cmd_lint(int argc, char **argv)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, status = 0;

    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (c != 'h')
            return command_bad_option("lint", c, argv);
        command_usage(command_find("lint"), stdout);
        return 0;
    }
    if (optind == argc)
        return command_fail("lint", "no policy file given");
    /* Like a compiler: a clean file prints nothing, the exit status tells. */
    for (int i = optind; i < argc; i++) {
        struct policy *p = NULL;
        struct diags d;
        diags_init(&d);
        if (policy_load_file(argv[i], &p, &d) < 0)
            status = 1;
        diags_print(&d, stdout);
        policy_free(p);
        diags_free(&d);
    }
    fflush(stdout);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* version                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static int
cmd_version(int argc, char **argv)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (c != 'h')
            return command_bad_option("version", c, argv);
        command_usage(command_find("version"), stdout);
        return 0;
    }
    if (optind < argc)
        return command_fail("version", "unexpected argument '%s'", argv[optind]);
    printf(PROGRAM " " GTW_VERSION "\n");
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The command table                                                                          */
/* ------------------------------------------------------------------------------------------ */

static const struct command commands[] = {
    {"serve", cmd_serve, "serve admission reviews over HTTPS",
     "Usage: " PROGRAM " serve --policy FILE --tls-cert FILE --tls-key FILE [OPTION]...\n"
     "Serve admission reviews over HTTPS: POST /mutate and /validate, GET /healthz and /readyz.\n"
     "\n"
     "  --policy FILE           the GPU tenancy policy\n"
     "  --tls-cert FILE         PEM certificate, optionally followed by its chain\n"
     "  --tls-key FILE          PEM private key (RSA or ECDSA) of the certificate\n"
     "  --listen HOST:PORT      address to listen on, IPv4 or [IPv6] "
     "(default " SERVER_DEFAULT_LISTEN ");\n"
     "                          port 0 picks a free port\n"
     "  --metrics-listen HOST:PORT\n"
     "                          plain-HTTP address of GET /metrics (Prometheus) and /healthz\n"
     "                          (default " SERVER_DEFAULT_METRICS_LISTEN "); '' or off: none\n"
     "  --max-body-bytes N      refuse larger request bodies with 413 (default 8388608)\n"
     "  --max-connections N     close connections beyond N at once (default " HELP_MAX_CONNECTIONS
     ")\n"
     "  --idle-timeout SECONDS  close a connection silent for this long (default " HELP_IDLE_TIMEOUT
     ")\n"
     "  --request-timeout SECONDS\n"
     "                          close a connection whose request takes longer to arrive,\n"
     "                          handshake included for its first (default " HELP_REQUEST_TIMEOUT
     ")\n"
     "  --shutdown-grace SECONDS\n"
     "                          how long SIGTERM waits for requests in flight (default " HELP_GRACE
     ")\n"
     "  --no-watch              reload only on SIGHUP, not when the files change\n"
     "  --threads N             request threads (default: one per CPU available)\n"
     "  --log-level LEVEL       debug, info, warn or error (default info)\n"
     "  --log-format FORMAT     text or json (default text)\n"
     "  -h, --help              show this help\n"
     "\n"
     "The policy, certificate and key are reloaded when their files change (a ConfigMap or\n"
     "Secret update included) and on SIGHUP; a new version that is invalid is refused with its\n"
     "errors logged, and the one in force stays. Prints 'listening on https://HOST:PORT' to\n"
     "stderr when ready. SIGTERM or SIGINT stops accepting, lets requests in flight finish,\n"
     "and exits 0. Exits 2 when it cannot start.\n"},
    {"certs", certs_main, "make a CA and a serving certificate for the webhook's Service",
     NULL /* certs_main prints its own help */},
    {"check", check_main, "judge manifests offline and say where their pods could run", NULL},
    {"lint", cmd_lint, "check policy files",
     "Usage: " PROGRAM " lint FILE...\n"
     "Check policy files and print each problem as FILE:LINE:COLUMN: message.\n"
     "Exits 0 when every file is valid (warnings allowed), 1 otherwise.\n"
     "\n"
     "  -h, --help              show this help\n"},
    {"version", cmd_version, "print the version",
     "Usage: " PROGRAM " version\n"
     "Print the version.\n"},
};

static const struct command *
command_find(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

static void
main_usage(FILE *out)
{
    fputs("Usage: " PROGRAM " COMMAND [OPTION]...\n"
          "A Kubernetes admission webhook that decides which tenants may use which GPUs.\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\nRun '" PROGRAM " COMMAND --help' for a command's options.\n", out);
}

int
main(int argc, char **argv)
{
    const struct command *cmd;

    xalloc_init_cjson();
    if (argc < 2) {
        main_usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        main_usage(stdout);
        return 0;
    }
    cmd = command_find(strcmp(argv[1], "--version") == 0 ? "version" : argv[1]);
    if (cmd == NULL) {
        fprintf(stderr, PROGRAM ": unknown command '%s'\n\n", argv[1]);
        main_usage(stderr);
        return EXIT_USAGE;
    }
    /* The command sees itself as argv[0], so getopt_long starts after it. */
    return cmd->run(argc - 1, argv + 1);
}
