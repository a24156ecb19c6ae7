/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTPS server: admission endpoints and health checks over libmicrohttpd and GnuTLS. */

/* accept4, and sched_getaffinity with CPU_COUNT (the CPUs this process may use), are GNU. */
#define _GNU_SOURCE

#include "webhook/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "policy/diag.h"
#include "policy/policy.h"
#include "policy/xalloc.h"
#include "webhook/log.h"
#include "webhook/review.h"

/* TLS 1.2 and 1.3 only: the kube-apiserver speaks both, and nothing older is safe. */
#define SERVER_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/*
 * libmicrohttpd's per-connection pool holds the request line, the headers, the response headers
 * and the read buffer. The apiserver's headers take a few hundred bytes; the rest becomes read
 * buffer, so that the body arrives in pieces of several KiB per handler call.
 */
#define SERVER_CONNECTION_MEMORY ((size_t)32 << 10)

/* A certificate chain or key file larger than this is surely not one. */
#define SERVER_PEM_MAX ((size_t)1 << 20)

/*
 * A connection keeps its body buffer for its next request up to this size, so the usual 5-70 KB
 * reviews cost no allocation, while one huge request does not pin megabytes per connection.
 */
#define SERVER_BODY_KEEP ((size_t)256 << 10)
#define SERVER_BODY_FIRST ((size_t)16 << 10)

/* After SIGTERM, connections that sent nothing for this long are idle keep-alives: close them. */
#define SERVER_IDLE_DRAIN_MS 1000
#define SERVER_DRAIN_POLL_MS 50

/* ------------------------------------------------------------------------------------------ */
/* Types                                                                                      */
/* ------------------------------------------------------------------------------------------ */

enum server_route {
    ROUTE_MUTATE,
    ROUTE_VALIDATE,
    ROUTE_HEALTHZ,
    ROUTE_READYZ,
    ROUTE_NONE,
};

static const struct server_route_spec {
    const char *path;
    const char *name; /* for logs */
    bool post;        /* POST with an AdmissionReview body; else GET or HEAD */
} server_routes[] = {
    [ROUTE_MUTATE] = {"/mutate", "mutate", true},
    [ROUTE_VALIDATE] = {"/validate", "validate", true},
    [ROUTE_HEALTHZ] = {"/healthz", "healthz", false},
    [ROUTE_READYZ] = {"/readyz", "readyz", false},
};

/* Fixed answers, made once at start and shared by every worker (libmicrohttpd counts refs). */
enum server_canned {
    CANNED_OK,
    CANNED_NO_POLICY,
    CANNED_DRAINING,
    CANNED_NOT_FOUND,
    CANNED_POST_ONLY,
    CANNED_GET_ONLY,
    CANNED_BAD_TYPE,
    CANNED_TOO_LARGE,
    CANNED_EMPTY,
    CANNED_COUNT, /* also "no refusal" in a request's state */
};

static const struct server_canned_spec {
    unsigned status;
    const char *body; /* NULL: formatted at start (the 413 names the limit) */
    const char *allow;
    enum log_level level; /* for the line logged when it refuses a request */
} server_canned_specs[CANNED_COUNT] = {
    [CANNED_OK] = {200, "ok\n", NULL, LOG_LEVEL_DEBUG},
    [CANNED_NO_POLICY] = {503, "no policy loaded\n", NULL, LOG_LEVEL_INFO},
    [CANNED_DRAINING] = {503, "shutting down\n", NULL, LOG_LEVEL_DEBUG},
    /* Scanners and probes hit unknown paths and methods; keep them out of the info log. */
    [CANNED_NOT_FOUND] = {404, "not found\n", NULL, LOG_LEVEL_DEBUG},
    [CANNED_POST_ONLY] = {405, "method not allowed: use POST\n", "POST", LOG_LEVEL_DEBUG},
    [CANNED_GET_ONLY] = {405, "method not allowed: use GET\n", "GET, HEAD", LOG_LEVEL_DEBUG},
    [CANNED_BAD_TYPE] = {415, "unsupported media type: send Content-Type: application/json\n", NULL,
                         LOG_LEVEL_INFO},
    [CANNED_TOO_LARGE] = {413, NULL, NULL, LOG_LEVEL_INFO},
    [CANNED_EMPTY] = {400, "empty request body: send an AdmissionReview\n", NULL, LOG_LEVEL_INFO},
};

/* One loaded policy with its references: the holder's own, plus one per decision using it. */
struct server_policy_ref {
    struct policy *policy;
    atomic_ulong refs;
    unsigned long generation;
};

struct server;

/*
 * One libmicrohttpd daemon and its thread. The counters come first and the padding last so
 * that two workers' counters, written on every request, never share a cache line.
 */
struct server_worker {
    atomic_uint connections; /* handed to this worker and not yet closed */
    atomic_uint in_flight;   /* requests between their first handler call and completion */
    struct server *server;
    struct MHD_Daemon *daemon;
    char pad[64];
};

/*
 * Per-connection state, made when libmicrohttpd reports the connection and freed when it
 * closes. HTTP/1.1 carries one request at a time, so the request's state lives here as well,
 * reset on each request's first handler call: no allocation per request, and the body buffer
 * is reused by the connection's next request.
 */
struct server_conn {
    struct server_worker *worker;
    char *body;
    size_t cap;
    /* The request in progress. */
    size_t len;    /* body bytes kept */
    uint64_t seen; /* body bytes received, kept or not */
    enum server_route route;
    enum server_canned refusal; /* CANNED_COUNT when none */
    bool over;                  /* the body went past the cap */
    struct timespec start;
};

struct server {
    const struct server_config *cfg;

    /*
     * The current policy. A decision takes a reference under policy_lock and drops it
     * afterwards; a reload swaps the pointer under the same lock and drops the holder's
     * reference to the old one, which is freed by whichever decision finishes with it last.
     * The lock covers two instructions (load the pointer, bump its count) and never the
     * decision itself, so requests do not wait on each other or on a reload; the simpler
     * alternative, a bare atomic pointer, cannot stop a reload from freeing the policy between
     * a reader's load and its increment without hazard pointers or RCU.
     */
    pthread_mutex_t policy_lock;
    struct server_policy_ref *policy;
    unsigned long generation;

    char *cert_pem, *key_pem;
    size_t cert_len, key_len;

    int listen_fd;
    char listen_host[INET6_ADDRSTRLEN + 2];
    unsigned port;
    int stop_pipe[2];
    pthread_t acceptor;
    bool acceptor_running;
    unsigned next_worker; /* acceptor thread only */
    time_t last_accept_warning;

    struct server_worker *workers;
    unsigned nworkers;
    atomic_bool serving; /* every daemon started */
    atomic_bool draining;

    struct MHD_Response *canned[CANNED_COUNT];
};

/* ------------------------------------------------------------------------------------------ */
/* Utilities                                                                                  */
/* ------------------------------------------------------------------------------------------ */

void
server_config_init(struct server_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen = SERVER_DEFAULT_LISTEN;
    cfg->max_body_bytes = SERVER_DEFAULT_MAX_BODY_BYTES;
    cfg->threads = 0;
    cfg->max_connections = 1024;
    cfg->idle_timeout_s = 30;
    cfg->shutdown_grace_s = 10;
}

static uint64_t
server_elapsed_us(const struct timespec *since)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)(now.tv_sec - since->tv_sec) * 1000000u +
           (uint64_t)((now.tv_nsec - since->tv_nsec) / 1000);
}

/* Formats t as an RFC 3339 UTC time into buf. */
static void
server_time_format(time_t t, char *buf, size_t size)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    if (strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 && size > 0)
        buf[0] = '\0';
}

/* Returns how many CPUs this process may run on (its affinity mask, which taskset and cpusets
 * set), falling back to the CPUs online. */
static unsigned
server_cpu_count(void)
{
    cpu_set_t set;
    long online;

    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (unsigned)online : 1;
}

/*
 * Raises the soft limit on open files towards need (never past the hard limit): each connection
 * is a descriptor, and many shells still start processes with a soft limit of 1024.
 */
static void
server_files_raise(rlim_t need)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return;
    rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need) ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_warn("cannot raise the open file limit to %llu", (unsigned long long)rl.rlim_cur);
}

/* ------------------------------------------------------------------------------------------ */
/* The policy holder                                                                          */
/* ------------------------------------------------------------------------------------------ */

/* Returns a reference to the current policy (release it with server_policy_release), or NULL. */
static struct server_policy_ref *
server_policy_acquire(struct server *s)
{
    struct server_policy_ref *ref;

    pthread_mutex_lock(&s->policy_lock);
    ref = s->policy;
    if (ref != NULL)
        atomic_fetch_add_explicit(&ref->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&s->policy_lock);
    return ref;
}

/* Drops a reference; the last one frees the policy. NULL is a no-op. */
static void
server_policy_release(struct server_policy_ref *ref)
{
    if (ref == NULL)
        return;
    if (atomic_fetch_sub_explicit(&ref->refs, 1, memory_order_acq_rel) == 1) {
        policy_free(ref->policy);
        free(ref);
    }
}

/*
 * Makes p the policy of every decision that starts from now on, taking ownership of it (NULL
 * unloads). Decisions already running finish with the policy they started with, which is freed
 * after the last of them. Returns the new policy's generation (0 for NULL).
 */
static unsigned long
server_policy_swap(struct server *s, struct policy *p)
{
    struct server_policy_ref *ref = NULL, *old;
    unsigned long generation = 0;

    if (p != NULL) {
        ref = xmalloc(sizeof(*ref));
        ref->policy = p;
        atomic_init(&ref->refs, 1);
    }
    pthread_mutex_lock(&s->policy_lock);
    if (ref != NULL)
        ref->generation = generation = ++s->generation;
    old = s->policy;
    s->policy = ref;
    pthread_mutex_unlock(&s->policy_lock);
    server_policy_release(old);
    return generation;
}

/* Logs each diagnostic as its own line at level. */
static void
server_diags_log(const struct diags *d, enum log_level level, const char *msg)
{
    char text[DIAG_MESSAGE_MAX + 512];
    struct log_line l;

    for (size_t i = 0; i < d->count; i++) {
        diag_format(&d->items[i], text, sizeof(text));
        log_line_begin(&l, d->items[i].warning ? LOG_LEVEL_WARN : level, msg);
        log_line_str(&l, "diag", text);
        log_line_end(&l);
    }
}

static void
server_policy_log_loaded(const struct server *s, const struct policy *p, unsigned long generation,
                         const char *msg)
{
    struct log_line l;

    log_line_begin(&l, LOG_LEVEL_INFO, msg);
    log_line_str(&l, "file", s->cfg->policy_path);
    log_line_uint(&l, "generation", generation);
    log_line_uint(&l, "tenants", policy_tenant_count(p));
    log_line_str(&l, "digest", policy_digest(p));
    log_line_end(&l);
}

/*
 * Loads the policy file before the server starts. On errors prints every diagnostic to stderr
 * as file:line:column: message and returns -1.
 */
static int
server_policy_load_initial(struct server *s)
{
    struct policy *p = NULL;
    struct diags d;
    unsigned long generation;
    int ret = -1;

    diags_init(&d);
    if (policy_load_file(s->cfg->policy_path, &p, &d) < 0) {
        diags_print(&d, stderr);
        log_errorx("invalid policy %s (%zu error%s); not starting", s->cfg->policy_path, d.errors,
                   d.errors == 1 ? "" : "s");
        goto out;
    }
    server_diags_log(&d, LOG_LEVEL_WARN, "policy warning");
    generation = server_policy_swap(s, p);
    server_policy_log_loaded(s, p, generation, "policy loaded");
    ret = 0;
out:
    diags_free(&d);
    return ret;
}

/*
 * Loads the policy file again and swaps it in. An invalid file is logged with its diagnostics
 * and changes nothing: the last good policy stays in force.
 */
static void
server_policy_reload(struct server *s)
{
    struct policy *p = NULL;
    struct diags d;
    unsigned long generation;

    diags_init(&d);
    if (policy_load_file(s->cfg->policy_path, &p, &d) < 0) {
        server_diags_log(&d, LOG_LEVEL_ERROR, "policy reload refused");
        log_errorx("invalid policy %s; keeping generation %lu", s->cfg->policy_path, s->generation);
        goto out;
    }
    server_diags_log(&d, LOG_LEVEL_WARN, "policy warning");
    generation = server_policy_swap(s, p);
    server_policy_log_loaded(s, p, generation, "policy reloaded");
out:
    diags_free(&d);
}

/* ------------------------------------------------------------------------------------------ */
/* TLS material                                                                               */
/* ------------------------------------------------------------------------------------------ */

/*
 * Reads the whole file at path into a new NUL-terminated buffer (*out, owned by the caller) of
 * *len bytes. what names the file in error messages. Returns 0, or -1 after logging why.
 */
static int
server_file_read(const char *path, const char *what, char **out, size_t *len)
{
    char *buf = xmalloc(SERVER_PEM_MAX + 1);
    size_t n = 0;
    int fd, ret = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_error("cannot read %s %s", what, path);
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, SERVER_PEM_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            log_error("cannot read %s %s", what, path);
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > SERVER_PEM_MAX) {
            log_errorx("cannot read %s %s: larger than %zu bytes", what, path, SERVER_PEM_MAX);
            goto out;
        }
    }
    if (n == 0) {
        log_errorx("cannot read %s %s: the file is empty", what, path);
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    ret = 0;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return ret;
}

/*
 * Parses the certificate chain and the key, and checks that the key belongs to the first
 * certificate, so that every way a pair can be wrong gets its own clear message before
 * libmicrohttpd (which would only say that TLS setup failed) sees them. Returns 0 or -1.
 */
static int
server_tls_check(const struct server *s)
{
    const struct server_config *cfg = s->cfg;
    gnutls_datum_t cert = {(unsigned char *)s->cert_pem, (unsigned)s->cert_len};
    gnutls_datum_t key = {(unsigned char *)s->key_pem, (unsigned)s->key_len};
    gnutls_x509_crt_t *crts = NULL;
    unsigned ncrts = 0;
    gnutls_x509_privkey_t pk = NULL;
    gnutls_certificate_credentials_t cred = NULL;
    char expires[32];
    struct log_line l;
    time_t not_after;
    int rc, ret = -1;

    rc = gnutls_x509_crt_list_import2(&crts, &ncrts, &cert, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || ncrts == 0) {
        log_errorx("TLS certificate %s: no PEM certificate in it (%s)", cfg->cert_path,
                   rc < 0 ? gnutls_strerror(rc) : "empty");
        goto out;
    }
    if (gnutls_x509_privkey_init(&pk) < 0) {
        log_errorx("cannot initialise GnuTLS");
        goto out;
    }
    rc = gnutls_x509_privkey_import2(pk, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc < 0) {
        log_errorx("TLS key %s: no usable unencrypted PEM private key in it (%s)", cfg->key_path,
                   gnutls_strerror(rc));
        goto out;
    }
    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        log_errorx("cannot initialise GnuTLS");
        goto out;
    }
    rc = gnutls_certificate_set_x509_key_mem2(cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
        log_errorx("TLS key %s does not match certificate %s", cfg->key_path, cfg->cert_path);
        goto out;
    }
    if (rc < 0) {
        log_errorx("cannot use TLS certificate %s with key %s: %s", cfg->cert_path, cfg->key_path,
                   gnutls_strerror(rc));
        goto out;
    }
    not_after = gnutls_x509_crt_get_expiration_time(crts[0]);
    server_time_format(not_after, expires, sizeof(expires));
    /* The serve command refuses an expired certificate before calling server_run (the certs
     * tool's check, which also logs the names and expiry); here one is only worth a warning. */
    log_line_begin(&l, not_after < time(NULL) ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG,
                   not_after < time(NULL) ? "TLS certificate has expired"
                                          : "TLS certificate loaded");
    log_line_str(&l, "cert", cfg->cert_path);
    log_line_uint(&l, "chain", ncrts);
    log_line_str(
        &l, "key",
        gnutls_pk_get_name((gnutls_pk_algorithm_t)gnutls_x509_privkey_get_pk_algorithm(pk)));
    log_line_str(&l, "expires", expires);
    log_line_end(&l);
    ret = 0;
out:
    if (cred != NULL)
        gnutls_certificate_free_credentials(cred);
    if (pk != NULL)
        gnutls_x509_privkey_deinit(pk);
    for (unsigned i = 0; i < ncrts; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    return ret;
}

static int
server_tls_load(struct server *s)
{
    if (server_file_read(s->cfg->cert_path, "TLS certificate", &s->cert_pem, &s->cert_len) < 0 ||
        server_file_read(s->cfg->key_path, "TLS key", &s->key_pem, &s->key_len) < 0)
        return -1;
    return server_tls_check(s);
}

static void
server_tls_free(struct server *s)
{
    if (s->key_pem != NULL)
        explicit_bzero(s->key_pem, s->key_len);
    free(s->key_pem);
    free(s->cert_pem);
    s->key_pem = s->cert_pem = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* The listening socket                                                                       */
/* ------------------------------------------------------------------------------------------ */

/*
 * Parses "IPv4:PORT" or "[IPv6]:PORT" (numeric addresses only, so that what is bound never
 * depends on a resolver) into *ss and *len. Returns 0, or -1 when spec is not one.
 */
static int
server_address_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_storage addr;
    char host[INET6_ADDRSTRLEN + 1];
    const char *hstart = spec, *hend, *port;
    bool v6 = spec[0] == '[';
    unsigned long num;
    char *end;
    size_t hlen;
    int ret = -1;

    if (v6) {
        hstart = spec + 1;
        hend = strchr(hstart, ']');
        if (hend == NULL || hend[1] != ':')
            goto out;
        port = hend + 2;
    } else {
        /* An IPv6 address has colons of its own, so it must come in brackets. */
        hend = strrchr(spec, ':');
        if (hend == NULL || memchr(hstart, ':', (size_t)(hend - hstart)) != NULL)
            goto out;
        port = hend + 1;
    }
    hlen = (size_t)(hend - hstart);
    if (hlen == 0 || hlen >= sizeof(host) || *port < '0' || *port > '9')
        goto out;
    memcpy(host, hstart, hlen);
    host[hlen] = '\0';
    errno = 0;
    num = strtoul(port, &end, 10);
    if (errno != 0 || *end != '\0' || num > 65535)
        goto out;
    memset(&addr, 0, sizeof(addr));
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&addr;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)num);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            goto out;
        *len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&addr;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)num);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            goto out;
        *len = sizeof(*a);
    }
    *ss = addr;
    ret = 0;
out:
    return ret;
}

/*
 * Opens the one listening socket. The acceptor thread hands its connections out to the
 * workers, least loaded first: SO_REUSEPORT with a socket per worker would let the kernel
 * hash a few long-lived apiserver connections onto the same thread, and would let a second
 * instance run by the same user bind the same port silently instead of failing.
 */
static int
server_listen_open(struct server *s)
{
    const char *spec = s->cfg->listen;
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, fd = -1, ret = -1;

    if (server_address_parse(spec, &ss, &len) < 0) {
        log_errorx("invalid listen address %s: expected IPv4:PORT or [IPv6]:PORT", spec);
        goto out;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_error("cannot create a socket for %s", spec);
        goto out;
    }
    /* SO_REUSEADDR lets a restarted server bind while its old connections sit in TIME_WAIT;
     * it does not let two servers listen on one port. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
        log_error("cannot set SO_REUSEADDR on %s", spec);
        goto out;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        if (errno == EADDRINUSE)
            log_errorx("cannot listen on %s: the address is already in use", spec);
        else
            log_error("cannot listen on %s", spec);
        goto out;
    }
    if (listen(fd, SOMAXCONN) != 0) {
        log_error("cannot listen on %s", spec);
        goto out;
    }
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        log_error("cannot read the address of %s", spec);
        goto out;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        char addr[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof(addr));
        snprintf(s->listen_host, sizeof(s->listen_host), "[%s]", addr);
        s->port = ntohs(a->sin6_port);
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, s->listen_host, sizeof(s->listen_host));
        s->port = ntohs(a->sin_port);
    }
    s->listen_fd = fd;
    fd = -1;
    ret = 0;
out:
    if (fd >= 0)
        close(fd);
    return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Requests                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static enum server_route
server_route_find(const char *url)
{
    for (size_t i = 0; i < sizeof(server_routes) / sizeof(server_routes[0]); i++) {
        if (strcmp(url, server_routes[i].path) == 0)
            return (enum server_route)i;
    }
    return ROUTE_NONE;
}

/* True for "application/json", any case, optionally followed by parameters ("; charset=..."). */
static bool
server_content_type_is_json(const char *value)
{
    static const char json[] = "application/json";

    if (value == NULL)
        return false;
    value += strspn(value, " \t");
    if (strncasecmp(value, json, sizeof(json) - 1) != 0)
        return false;
    value += sizeof(json) - 1;
    value += strspn(value, " \t");
    return *value == '\0' || *value == ';';
}

/* Parses a Content-Length value (libmicrohttpd has already checked it is a number). */
static bool
server_content_length(struct MHD_Connection *connection, uint64_t *out)
{
    const char *v =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long n;
    char *end;

    if (v == NULL || *v < '0' || *v > '9')
        return false;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno == ERANGE)
        n = ULLONG_MAX;
    else if (errno != 0 || (*end != '\0' && *end != ' ' && *end != '\t'))
        return false;
    *out = n;
    return true;
}

/* Answers with a canned response and logs the refusal when it is one. */
static enum MHD_Result
server_reply_canned(struct server_conn *c, struct MHD_Connection *connection,
                    enum server_canned which, const char *method, const char *url)
{
    const struct server_canned_spec *spec = &server_canned_specs[which];
    struct server *s = c->worker->server;

    if (spec->status != 200 && log_enabled(spec->level)) {
        struct log_line l;
        const char *body = spec->body;
        log_line_begin(&l, spec->level, "refused");
        log_line_str(&l, "method", method);
        log_line_str(&l, "path", url);
        log_line_uint(&l, "status", spec->status);
        if (body != NULL)
            log_line_strn(&l, "reason", body, strlen(body) - 1);
        else if (which == CANNED_TOO_LARGE)
            log_line_uint(&l, "limit", s->cfg->max_body_bytes);
        log_line_end(&l);
    }
    return MHD_queue_response(connection, spec->status, s->canned[which]);
}

/* Decides an AdmissionReview with the current policy and answers it. */
static enum MHD_Result
server_reply_review(struct server_conn *c, struct MHD_Connection *connection, const char *method,
                    const char *url)
{
    struct server *s = c->worker->server;
    static char empty[] = "";
    struct server_policy_ref *ref;
    struct review_reply reply;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    unsigned status;

    /*
     * The policy is used only inside review_handle, which runs to completion on this thread,
     * so the reference spans exactly the decision: a reload that lands while the body is
     * still arriving applies to this request, and one that lands during the decision waits
     * for nothing.
     */
    ref = server_policy_acquire(s);
    if (ref == NULL)
        return server_reply_canned(c, connection, CANNED_NO_POLICY, method, url);
    memset(&reply, 0, sizeof(reply));
    c->body[c->len] = '\0';
    review_handle(ref->policy, c->route == ROUTE_MUTATE ? DECIDE_MUTATE : DECIDE_VALIDATE, c->body,
                  c->len, &reply);
    server_policy_release(ref);

    resp = MHD_create_response_from_buffer(reply.len, reply.body ? reply.body : empty,
                                           MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        review_reply_clear(&reply);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            reply.json ? "application/json" : "text/plain; charset=utf-8");
    /* While draining, move keep-alive clients to another replica after this answer. */
    if (atomic_load_explicit(&s->draining, memory_order_relaxed))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    status = reply.status >= 100 && reply.status <= 599 ? reply.status : 500;
    ret = MHD_queue_response(connection, status, resp);
    MHD_destroy_response(resp);
    log_review(server_routes[c->route].name, &reply, server_elapsed_us(&c->start));
    review_reply_clear(&reply);
    return ret;
}

/*
 * The first handler call of a request: its headers are in. Routes it and decides any refusal
 * now, so that a body announced larger than the cap is refused before a byte of it is read
 * (answering now makes libmicrohttpd skip the body and close the connection). Other refusals
 * wait for the end of the (capped) body, which keeps the connection usable.
 */
static enum MHD_Result
server_request_start(struct server_worker *w, struct MHD_Connection *connection, const char *url,
                     const char *method, void **req_cls)
{
    const union MHD_ConnectionInfo *info;
    const struct server_route_spec *spec;
    size_t max = w->server->cfg->max_body_bytes;
    struct server_conn *c;
    uint64_t length;

    info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    c = info != NULL ? info->socket_context : NULL;
    if (c == NULL)
        return MHD_NO;
    *req_cls = c;
    atomic_fetch_add_explicit(&w->in_flight, 1, memory_order_relaxed);
    clock_gettime(CLOCK_MONOTONIC, &c->start);
    c->len = 0;
    c->seen = 0;
    c->over = false;
    c->refusal = CANNED_COUNT;
    c->route = server_route_find(url);

    if (c->route == ROUTE_NONE) {
        c->refusal = CANNED_NOT_FOUND;
    } else {
        spec = &server_routes[c->route];
        if (spec->post && strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            c->refusal = CANNED_POST_ONLY;
        else if (!spec->post && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
                 strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
            c->refusal = CANNED_GET_ONLY;
        else if (spec->post && !server_content_type_is_json(MHD_lookup_connection_value(
                                   connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE)))
            c->refusal = CANNED_BAD_TYPE;
    }
    if (server_content_length(connection, &length)) {
        if (length > max) {
            c->over = true;
            return server_reply_canned(c, connection,
                                       c->refusal != CANNED_COUNT ? c->refusal : CANNED_TOO_LARGE,
                                       method, url);
        }
        /* Size the buffer once for the announced body, and at least for a typical review so
         * that the connection's next requests fit too. */
        if (c->refusal == CANNED_COUNT && server_routes[c->route].post && length + 1 > c->cap) {
            size_t cap = (size_t)length + 1;
            if (cap < SERVER_BODY_FIRST)
                cap = SERVER_BODY_FIRST < max + 1 ? SERVER_BODY_FIRST : max + 1;
            free(c->body);
            c->body = xmalloc(cap);
            c->cap = cap;
        }
    }
    return MHD_YES;
}

/*
 * Takes a piece of the body. Bytes are kept only for an admission endpoint with no refusal
 * pending, up to the cap; past it they are counted and dropped so that the request can still
 * be answered 413. A body without Content-Length (chunked) that keeps going past twice the cap
 * is not worth reading on: the connection is dropped.
 */
static enum MHD_Result
server_request_body(struct server_conn *c, const char *data, size_t *size)
{
    size_t max = c->worker->server->cfg->max_body_bytes;
    size_t n = *size;

    *size = 0;
    c->seen += n;
    if (c->seen > max) {
        c->over = true;
        if (c->seen > 2 * (uint64_t)max) {
            log_debug("dropped a connection whose chunked body went past %zu bytes", 2 * max);
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (c->refusal != CANNED_COUNT || !server_routes[c->route].post)
        return MHD_YES;
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap * 2;
        if (cap < SERVER_BODY_FIRST)
            cap = SERVER_BODY_FIRST;
        if (cap < c->len + n + 1)
            cap = c->len + n + 1;
        if (cap > max + 1)
            cap = max + 1;
        c->body = xrealloc(c->body, cap);
        c->cap = cap;
    }
    memcpy(c->body + c->len, data, n);
    c->len += n;
    return MHD_YES;
}

/* The last handler call of a request: the whole body is in; answer. */
static enum MHD_Result
server_request_finish(struct server_conn *c, struct MHD_Connection *connection, const char *method,
                      const char *url)
{
    struct server *s = c->worker->server;
    struct server_policy_ref *ref;

    if (c->over)
        return server_reply_canned(c, connection, CANNED_TOO_LARGE, method, url);
    if (c->refusal != CANNED_COUNT)
        return server_reply_canned(c, connection, c->refusal, method, url);
    switch (c->route) {
    case ROUTE_HEALTHZ:
        return server_reply_canned(c, connection, CANNED_OK, method, url);
    case ROUTE_READYZ:
        if (atomic_load_explicit(&s->draining, memory_order_relaxed))
            return server_reply_canned(c, connection, CANNED_DRAINING, method, url);
        ref = server_policy_acquire(s);
        server_policy_release(ref);
        return server_reply_canned(c, connection, ref != NULL ? CANNED_OK : CANNED_NO_POLICY,
                                   method, url);
    case ROUTE_MUTATE:
    case ROUTE_VALIDATE:
        if (c->len == 0)
            return server_reply_canned(c, connection, CANNED_EMPTY, method, url);
        return server_reply_review(c, connection, method, url);
    case ROUTE_NONE:
        break;
    }
    return server_reply_canned(c, connection, CANNED_NOT_FOUND, method, url);
}

/* libmicrohttpd's access handler: called once with the headers, per piece of body, then once
 * more with no data. */
static enum MHD_Result
server_handle(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
              const char *version, const char *upload_data, size_t *upload_data_size,
              void **req_cls)
{
    struct server_conn *c = *req_cls;

    (void)version;
    if (c == NULL)
        return server_request_start(cls, connection, url, method, req_cls);
    if (*upload_data_size > 0)
        return server_request_body(c, upload_data, upload_data_size);
    return server_request_finish(c, connection, method, url);
}

/* Called when a request is over, answered or not. */
static void
server_request_done(void *cls, struct MHD_Connection *connection, void **req_cls,
                    enum MHD_RequestTerminationCode toe)
{
    struct server_worker *w = cls;
    struct server_conn *c = *req_cls;

    (void)connection;
    if (c == NULL)
        return;
    *req_cls = NULL;
    atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        log_debug("request on %s ended early (libmicrohttpd reason %d)",
                  c->route == ROUTE_NONE ? "an unknown path" : server_routes[c->route].path,
                  (int)toe);
    if (c->cap > SERVER_BODY_KEEP) {
        free(c->body);
        c->body = NULL;
        c->cap = 0;
    }
}

/* Called when a connection starts and when it closes. */
static void
server_connection_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe)
{
    struct server_worker *w = cls;
    struct server_conn *c;

    (void)connection;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        c = xcalloc(1, sizeof(*c));
        c->worker = w;
        *socket_context = c;
        return;
    }
    c = *socket_context;
    if (c != NULL) {
        free(c->body);
        free(c);
        *socket_context = NULL;
    }
    /* Counted up by the acceptor when it handed the connection over. */
    atomic_fetch_sub_explicit(&w->connections, 1, memory_order_relaxed);
}

/*
 * libmicrohttpd's error messages, one log line each. While the daemons start, its messages say
 * why they could not, and are errors. Once serving, they are about single connections and log
 * at info; a failed TLS handshake (which it words "received handshake message out of context")
 * is what TCP probes, port scans and clients that abandon the handshake cause, so it is debug.
 */
__attribute__((format(printf, 2, 0))) static void
server_mhd_log(void *cls, const char *fmt, va_list ap)
{
    const struct server *s = cls;
    enum log_level level = LOG_LEVEL_ERROR;
    const char *what = "libmicrohttpd";
    struct log_line l;
    char msg[512];
    size_t n;

    if (atomic_load_explicit(&s->serving, memory_order_relaxed))
        level = LOG_LEVEL_INFO;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (strstr(msg, "handshake message out of context") != NULL) {
        level = LOG_LEVEL_DEBUG;
        what = "TLS handshake failed";
    }
    if (!log_enabled(level))
        return;
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    log_line_begin(&l, level, what);
    log_line_str(&l, "error", msg);
    log_line_end(&l);
}

/* ------------------------------------------------------------------------------------------ */
/* Workers and the acceptor                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void
server_canned_create(struct server *s)
{
    for (size_t i = 0; i < CANNED_COUNT; i++) {
        const struct server_canned_spec *spec = &server_canned_specs[i];
        char *body;

        if (spec->body != NULL)
            body = xstrdup(spec->body);
        else
            body = xasprintf("request body too large: the limit is %zu bytes\n",
                             s->cfg->max_body_bytes);
        /* libmicrohttpd frees body with free() when the response goes. */
        s->canned[i] = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
        if (s->canned[i] == NULL)
            fatalx("cannot create a libmicrohttpd response");
        MHD_add_response_header(s->canned[i], MHD_HTTP_HEADER_CONTENT_TYPE,
                                "text/plain; charset=utf-8");
        if (spec->allow != NULL)
            MHD_add_response_header(s->canned[i], MHD_HTTP_HEADER_ALLOW, spec->allow);
    }
}

static void
server_canned_destroy(struct server *s)
{
    for (size_t i = 0; i < CANNED_COUNT; i++) {
        if (s->canned[i] != NULL)
            MHD_destroy_response(s->canned[i]);
        s->canned[i] = NULL;
    }
}

/*
 * Starts one daemon per worker thread. The daemons have no listening socket of their own: the
 * acceptor hands them connections. Returns 0, or -1 after logging.
 */
static int
server_workers_start(struct server *s)
{
    const struct server_config *cfg = s->cfg;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TLS |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_USE_NO_LISTEN_SOCKET;

    s->nworkers = cfg->threads != 0 ? cfg->threads : server_cpu_count();
    if (s->nworkers > SERVER_MAX_THREADS)
        s->nworkers = SERVER_MAX_THREADS;
    s->workers = xcalloc(s->nworkers, sizeof(*s->workers));
    for (unsigned i = 0; i < s->nworkers; i++) {
        struct server_worker *w = &s->workers[i];
        atomic_init(&w->connections, 0);
        atomic_init(&w->in_flight, 0);
        w->server = s;
        /*
         * The acceptor enforces the connection limit over all workers. Each daemon's own
         * limit is twice that, because a daemon counts a connection until slightly after it
         * reports it closed, and must never refuse what the acceptor counted as handed over.
         */
        w->daemon = MHD_start_daemon(
            flags, 0, NULL, NULL, server_handle, w, MHD_OPTION_EXTERNAL_LOGGER, server_mhd_log, s,
            MHD_OPTION_HTTPS_MEM_CERT, s->cert_pem, MHD_OPTION_HTTPS_MEM_KEY, s->key_pem,
            MHD_OPTION_HTTPS_PRIORITIES, SERVER_TLS_PRIORITIES, MHD_OPTION_CONNECTION_TIMEOUT,
            cfg->idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT, 2 * cfg->max_connections,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, SERVER_CONNECTION_MEMORY,
            MHD_OPTION_NOTIFY_CONNECTION, server_connection_notify, w, MHD_OPTION_NOTIFY_COMPLETED,
            server_request_done, w, MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_END);
        if (w->daemon == NULL) {
            log_errorx("cannot start the HTTPS server (libmicrohttpd said why above)");
            return -1;
        }
    }
    return 0;
}

/* Returns the worker with the fewest connections, or NULL when all of them together are at
 * the connection limit. Ties go round-robin. */
static struct server_worker *
server_worker_pick(struct server *s)
{
    struct server_worker *best = NULL;
    unsigned best_n = UINT_MAX, total = 0;

    for (unsigned k = 0; k < s->nworkers; k++) {
        struct server_worker *w = &s->workers[(s->next_worker + k) % s->nworkers];
        unsigned n = atomic_load_explicit(&w->connections, memory_order_relaxed);
        total += n;
        if (n < best_n) {
            best = w;
            best_n = n;
        }
    }
    s->next_worker++;
    return total < s->cfg->max_connections ? best : NULL;
}

/* Logs at most one warning a second about refused or failed accepts. */
static bool
server_accept_may_warn(struct server *s)
{
    time_t now = time(NULL);

    if (now == s->last_accept_warning)
        return false;
    s->last_accept_warning = now;
    return true;
}

/* Sleeps up to ms milliseconds, waking early when the server stops. */
static void
server_accept_pause(struct server *s, int ms)
{
    struct pollfd pfd = {s->stop_pipe[0], POLLIN, 0};

    (void)poll(&pfd, 1, ms);
}

/* Accepts every pending connection and hands each to the least loaded worker. */
static void
server_accept_ready(struct server *s)
{
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof(addr);
        struct server_worker *w;
        int fd;

        fd = accept4(s->listen_fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* Out of descriptors or memory: wait for some to be freed rather than spin. */
            if (server_accept_may_warn(s))
                log_warn("cannot accept connections");
            server_accept_pause(s, 100);
            return;
        }
        w = server_worker_pick(s);
        if (w == NULL) {
            close(fd);
            if (server_accept_may_warn(s))
                log_warnx("refusing connections: %u are open, the limit", s->cfg->max_connections);
            continue;
        }
        atomic_fetch_add_explicit(&w->connections, 1, memory_order_relaxed);
        /* MHD_add_connection owns fd from here on and closes it if it fails. */
        if (MHD_add_connection(w->daemon, fd, (struct sockaddr *)&addr, len) != MHD_YES) {
            atomic_fetch_sub_explicit(&w->connections, 1, memory_order_relaxed);
            if (server_accept_may_warn(s))
                log_warn("cannot hand a connection to libmicrohttpd");
        }
    }
}

static void *
server_accept_loop(void *arg)
{
    struct server *s = arg;

    for (;;) {
        struct pollfd pfd[2] = {{s->listen_fd, POLLIN, 0}, {s->stop_pipe[0], POLLIN, 0}};
        if (poll(pfd, 2, -1) < 0) {
            if (errno != EINTR) {
                log_warn("poll on the listening socket");
                server_accept_pause(s, 100);
            }
            continue;
        }
        if (pfd[1].revents != 0)
            break;
        if (pfd[0].revents != 0)
            server_accept_ready(s);
    }
    return NULL;
}

static int
server_acceptor_start(struct server *s)
{
    int rc;

    if (pipe2(s->stop_pipe, O_CLOEXEC) != 0) {
        log_error("cannot create a pipe");
        return -1;
    }
    rc = pthread_create(&s->acceptor, NULL, server_accept_loop, s);
    if (rc != 0) {
        errno = rc;
        log_error("cannot start the acceptor thread");
        return -1;
    }
    s->acceptor_running = true;
    return 0;
}

/* Stops accepting: joins the acceptor and closes the listening socket, so that new connections
 * are refused at once instead of waiting in a backlog nobody reads. */
static void
server_acceptor_stop(struct server *s)
{
    if (s->acceptor_running) {
        while (write(s->stop_pipe[1], "x", 1) < 0 && errno == EINTR)
            ;
        pthread_join(s->acceptor, NULL);
        s->acceptor_running = false;
    }
    for (int i = 0; i < 2; i++) {
        if (s->stop_pipe[i] >= 0)
            close(s->stop_pipe[i]);
        s->stop_pipe[i] = -1;
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    s->listen_fd = -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Running and stopping                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void
server_counts(const struct server *s, unsigned *connections, unsigned *in_flight)
{
    *connections = *in_flight = 0;
    for (unsigned i = 0; i < s->nworkers; i++) {
        *connections += atomic_load_explicit(&s->workers[i].connections, memory_order_relaxed);
        *in_flight += atomic_load_explicit(&s->workers[i].in_flight, memory_order_relaxed);
    }
}

/*
 * After SIGTERM: stop accepting, then wait for the requests in flight, up to the grace period.
 * Connections that stay idle (apiserver keep-alives) are not waited for once nothing has been
 * in flight for SERVER_IDLE_DRAIN_MS. A second SIGTERM or SIGINT stops the wait.
 */
static void
server_drain(struct server *s, const sigset_t *sigs)
{
    const struct timespec tick = {0, SERVER_DRAIN_POLL_MS * 1000000L};
    unsigned long waited_ms = 0, idle_ms = 0;
    unsigned connections, in_flight;

    atomic_store(&s->draining, true);
    server_acceptor_stop(s);
    for (;;) {
        int sig;
        server_counts(s, &connections, &in_flight);
        if (connections == 0)
            break;
        idle_ms = in_flight == 0 ? idle_ms + SERVER_DRAIN_POLL_MS : 0;
        if (idle_ms >= SERVER_IDLE_DRAIN_MS)
            break;
        if (waited_ms >= s->cfg->shutdown_grace_s * 1000ul) {
            log_warnx("grace period over with %u request%s in flight", in_flight,
                      in_flight == 1 ? "" : "s");
            break;
        }
        sig = sigtimedwait(sigs, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            log_warnx("second signal: stopping now with %u request%s in flight", in_flight,
                      in_flight == 1 ? "" : "s");
            break;
        }
        waited_ms += SERVER_DRAIN_POLL_MS;
    }
}

/* Waits in the main thread for signals: SIGHUP reloads, SIGTERM and SIGINT drain and return. */
static void
server_wait(struct server *s, const sigset_t *sigs)
{
    for (;;) {
        int sig;
        if (sigwait(sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            server_policy_reload(s);
            continue;
        }
        log_info("received %s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        server_drain(s, sigs);
        return;
    }
}

/* Undoes whatever of server_run's start succeeded, in reverse order. */
static void
server_teardown(struct server *s)
{
    server_acceptor_stop(s);
    for (unsigned i = 0; i < s->nworkers; i++) {
        if (s->workers[i].daemon != NULL)
            MHD_stop_daemon(s->workers[i].daemon);
    }
    free(s->workers);
    s->workers = NULL;
    s->nworkers = 0;
    server_canned_destroy(s);
    server_policy_swap(s, NULL);
    server_tls_free(s);
    pthread_mutex_destroy(&s->policy_lock);
}

int
server_run(const struct server_config *cfg)
{
    struct sigaction ignore;
    struct server s;
    sigset_t sigs;
    struct log_line l;
    int status = 2;

    memset(&s, 0, sizeof(s));
    s.cfg = cfg;
    s.listen_fd = -1;
    s.stop_pipe[0] = s.stop_pipe[1] = -1;
    atomic_init(&s.serving, false);
    atomic_init(&s.draining, false);
    pthread_mutex_init(&s.policy_lock, NULL);

    /*
     * Block the signals the main thread waits for before any thread starts, so that every
     * thread inherits the mask and only sigwait sees them. They stay blocked on return: the
     * caller exits, and a late SIGTERM must not kill it with a signal status instead.
     */
    memset(&ignore, 0, sizeof(ignore));
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, NULL);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    if (server_policy_load_initial(&s) < 0 || server_tls_load(&s) < 0 || server_listen_open(&s) < 0)
        goto out;
    server_files_raise((rlim_t)cfg->max_connections + 64);
    server_canned_create(&s);
    if (server_workers_start(&s) < 0 || server_acceptor_start(&s) < 0)
        goto out;

    atomic_store(&s.serving, true);
    log_line_begin(&l, LOG_LEVEL_INFO, "serving");
    log_line_str(&l, "version", GTW_VERSION);
    log_line_uint(&l, "threads", s.nworkers);
    log_line_uint(&l, "max_body_bytes", cfg->max_body_bytes);
    log_line_uint(&l, "max_connections", cfg->max_connections);
    log_line_uint(&l, "idle_timeout_s", cfg->idle_timeout_s);
    log_line_end(&l);
    /* Not a log line: the exact form that scripts and tests wait for. */
    fprintf(stderr, "listening on https://%s:%u\n", s.listen_host, s.port);
    fflush(stderr);

    server_wait(&s, &sigs);
    status = 0;
out:
    server_teardown(&s);
    if (status == 0)
        log_info("stopped");
    return status;
}
