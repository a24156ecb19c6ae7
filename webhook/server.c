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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The kernel's struct tcp_info: glibc's copy lacks tcpi_bytes_received. */
#include <linux/tcp.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "certs/certs.h"
#include "policy/diag.h"
#include "policy/file.h"
#include "policy/policy.h"
#include "policy/xalloc.h"
#include "webhook/log.h"
#include "webhook/metrics.h"
#include "webhook/review.h"
#include "webhook/tls.h"
#include "webhook/watch.h"

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

/* Just past the policy loader's own limit (16 MiB), so that it is the one to refuse a file
 * that is too large, with its message. */
#define SERVER_POLICY_MAX (((size_t)16 << 20) + 1)

/*
 * Changed files are reloaded once their directory has been quiet this long: a writer's burst
 * of events (truncate, write, write, close; or a ConfigMap's several renames) is one reload.
 */
#define SERVER_WATCH_DEBOUNCE_MS 150

/* How often the main thread looks for requests that are taking too long to arrive. */
#define SERVER_SWEEP_MS 1000

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
struct server_conn;

/*
 * One libmicrohttpd daemon and its thread. The counters come first and the padding last so
 * that two workers' counters, written on every request, never share a cache line.
 */
struct server_worker {
    atomic_uint connections; /* handed to this worker and not yet closed */
    atomic_uint in_flight;   /* requests between their first handler call and completion */
    struct server *server;
    struct MHD_Daemon *daemon;
    struct metrics_shard *metrics; /* written by this worker's thread only */
    /*
     * The worker's open connections, for the sweep that closes requests which take too long.
     * The lock is taken when a connection opens or closes and by the sweep, never per request.
     */
    pthread_mutex_t conns_lock;
    struct server_conn *conns;
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
    struct server_conn *prev, *next; /* the worker's list, under its conns_lock */
    int fd;
    struct tls_creds *creds; /* what its TLS handshake presented; held until it closes */

    /*
     * When the request now arriving began (monotonic ms): the connection's opening for the
     * first, the first handler call for later ones; 0 between requests. Written by the worker,
     * read by the sweep, as is the count of requests completed.
     */
    atomic_llong request_since_ms;
    atomic_uint requests_done;
    /* The sweep's own notes, under conns_lock: bytes received when the connection was seen
     * idle, and when more arrived (a next request trickling in). */
    unsigned swept_done;
    bool idle_known;
    bool timed_out;
    unsigned long long idle_bytes;
    int64_t idle_arrival_ms;

    char *body;
    size_t cap;
    gnutls_session_t corked; /* the session holding the answer being written, or NULL */
    /* The request in progress. */
    size_t len;    /* body bytes kept */
    uint64_t seen; /* body bytes received, kept or not */
    enum server_route route;
    enum server_canned refusal; /* CANNED_COUNT when none */
    bool over;                  /* the body went past the cap */
    struct timespec start;
};

/* What was last read from a watched file, so that an unchanged file is not loaded again. */
struct server_seen {
    bool valid;
    unsigned char digest[32]; /* SHA-256 */
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
    struct server_seen policy_seen;

    /*
     * The serving credentials, held the same way: each TLS handshake takes a reference for its
     * connection, which keeps it until it closes, and a rotation swaps the pointer.
     */
    pthread_mutex_t tls_lock;
    struct tls_creds *creds;
    struct server_seen cert_seen, key_seen;

    struct metrics *metrics;
    struct watch *watch;
    int watch_policy, watch_cert, watch_key; /* bits in watch_check's answer, or -1 */

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
    int64_t next_sweep_ms;

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
    cfg->metrics_listen = SERVER_DEFAULT_METRICS_LISTEN;
    cfg->max_body_bytes = SERVER_DEFAULT_MAX_BODY_BYTES;
    cfg->threads = 0;
    cfg->max_connections = SERVER_DEFAULT_MAX_CONNECTIONS;
    cfg->idle_timeout_s = SERVER_DEFAULT_IDLE_TIMEOUT_S;
    cfg->request_timeout_s = SERVER_DEFAULT_REQUEST_TIMEOUT_S;
    cfg->shutdown_grace_s = SERVER_DEFAULT_SHUTDOWN_GRACE_S;
    cfg->watch = true;
}

static int64_t
server_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static uint64_t
server_elapsed_us(const struct timespec *since)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)(now.tv_sec - since->tv_sec) * 1000000u +
           (uint64_t)((now.tv_nsec - since->tv_nsec) / 1000);
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

/* ------------------------------------------------------------------------------------------ */
/* Reading watched files                                                                      */
/* ------------------------------------------------------------------------------------------ */

/*
 * Reads the whole file at path, at most max bytes, into a new NUL-terminated buffer (*out,
 * owned by the caller) of *len bytes. Returns 0, or -1 with the reason in err.
 */
static int
server_file_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t err_size)
{
    int rc = file_read(path, max, out, len);

    if (rc == FILE_TOO_LARGE)
        snprintf(err, err_size, "larger than %zu bytes", max);
    else if (rc < 0)
        snprintf(err, err_size, "%s", strerror(errno));
    return rc < 0 ? -1 : 0;
}

/* Records data as what was last read of a file; returns true when it differs from before. */
static bool
server_seen_changed(struct server_seen *seen, const char *data, size_t len)
{
    unsigned char digest[sizeof(seen->digest)];
    bool changed;

    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, digest) < 0) {
        seen->valid = false;
        return true;
    }
    changed = !seen->valid || memcmp(digest, seen->digest, sizeof(digest)) != 0;
    memcpy(seen->digest, digest, sizeof(digest));
    seen->valid = true;
    return changed;
}

/* ------------------------------------------------------------------------------------------ */
/* Loading and reloading the policy                                                           */
/* ------------------------------------------------------------------------------------------ */

static void
server_policy_publish(struct server *s, const struct policy *p, unsigned long generation)
{
    metrics_set_policy(s->metrics, generation, policy_digest(p), policy_tenant_count(p));
}

/*
 * Loads the policy file before the server starts. On errors prints every diagnostic to stderr
 * as file:line:column: message and returns -1.
 */
static int
server_policy_load_initial(struct server *s)
{
    const char *path = s->cfg->policy_path;
    struct policy *p = NULL;
    struct diags d;
    unsigned long generation;
    char *data = NULL, err[256];
    size_t len;
    int ret = -1;

    diags_init(&d);
    if (server_file_read(path, SERVER_POLICY_MAX, &data, &len, err, sizeof(err)) < 0) {
        log_errorx("cannot read policy %s: %s; not starting", path, err);
        goto out;
    }
    (void)server_seen_changed(&s->policy_seen, data, len);
    if (policy_load_buffer(path, data, len, &p, &d) < 0) {
        diags_print(&d, stderr);
        log_errorx("invalid policy %s (%zu error%s); not starting", path, d.errors,
                   d.errors == 1 ? "" : "s");
        goto out;
    }
    server_diags_log(&d, LOG_LEVEL_WARN, "policy warning");
    generation = server_policy_swap(s, p);
    server_policy_log_loaded(s, p, generation, "policy loaded");
    server_policy_publish(s, p, generation);
    ret = 0;
out:
    free(data);
    diags_free(&d);
    return ret;
}

/*
 * Reads the policy file again and, when it changed (or force is set, for SIGHUP), loads it and
 * swaps it in. Runs on the main thread, never on a request's. An unreadable or invalid file is
 * logged with its diagnostics (file:line:column: message), counted, and changes nothing: the
 * last good policy stays in force.
 */
static void
server_policy_reload(struct server *s, bool force)
{
    const char *path = s->cfg->policy_path;
    struct policy *p = NULL;
    struct diags d;
    unsigned long generation;
    char *data = NULL, err[256];
    size_t len;

    diags_init(&d);
    if (server_file_read(path, SERVER_POLICY_MAX, &data, &len, err, sizeof(err)) < 0) {
        /* Said once per disappearance, not at every rescan while the file stays away. */
        if (s->policy_seen.valid || force) {
            log_errorx("cannot read policy %s: %s; keeping generation %lu", path, err,
                       s->generation);
            metrics_count_policy_reload(s->metrics, METRICS_RESULT_FAILURE);
        }
        s->policy_seen.valid = false;
        goto out;
    }
    if (!server_seen_changed(&s->policy_seen, data, len) && !force)
        goto out;
    if (policy_load_buffer(path, data, len, &p, &d) < 0) {
        server_diags_log(&d, LOG_LEVEL_ERROR, "policy reload refused");
        log_errorx("invalid policy %s (%zu error%s); keeping generation %lu", path, d.errors,
                   d.errors == 1 ? "" : "s", s->generation);
        metrics_count_policy_reload(s->metrics, METRICS_RESULT_FAILURE);
        goto out;
    }
    server_diags_log(&d, LOG_LEVEL_WARN, "policy warning");
    generation = server_policy_swap(s, p);
    server_policy_log_loaded(s, p, generation, "policy reloaded");
    server_policy_publish(s, p, generation);
    metrics_count_policy_reload(s->metrics, METRICS_RESULT_SUCCESS);
out:
    free(data);
    diags_free(&d);
}

/* ------------------------------------------------------------------------------------------ */
/* Loading and rotating the certificate                                                       */
/* ------------------------------------------------------------------------------------------ */

/* Returns a reference to the credentials in force, for one connection's handshake. */
static struct tls_creds *
server_tls_acquire(struct server *s)
{
    struct tls_creds *c;

    pthread_mutex_lock(&s->tls_lock);
    c = tls_creds_ref(s->creds);
    pthread_mutex_unlock(&s->tls_lock);
    return c;
}

/* Makes c the credentials of every handshake from now on, taking ownership of it; the old ones
 * go when the last connection that used them closes. */
static void
server_tls_swap(struct server *s, struct tls_creds *c)
{
    struct tls_creds *old;

    pthread_mutex_lock(&s->tls_lock);
    old = s->creds;
    s->creds = c;
    pthread_mutex_unlock(&s->tls_lock);
    tls_creds_unref(old);
    if (c != NULL)
        metrics_set_cert(s->metrics, tls_creds_not_after(c));
}

static void
server_tls_log(const struct tls_creds *c, enum log_level level, const char *msg,
               const char *summary)
{
    struct log_line l;
    char expires[32];

    tls_time_format((time_t)tls_creds_not_after(c), expires, sizeof(expires));
    log_line_begin(&l, level, msg);
    log_line_str(&l, "serial", tls_creds_serial(c));
    log_line_uint(&l, "chain", tls_creds_chain_length(c));
    log_line_str(&l, "key", tls_creds_key_type(c));
    log_line_str(&l, "expires", expires);
    if (summary != NULL)
        log_line_str(&l, "certificate", summary);
    log_line_end(&l);
}

/*
 * Reads the certificate and key files into new buffers (*cert and *key, owned by the caller,
 * who wipes the key with server_pem_free). Returns 0, or -1 with the reason in err.
 */
static int
server_tls_read(const struct server *s, char **cert, size_t *cert_len, char **key, size_t *key_len,
                char *err, size_t err_size)
{
    const struct server_config *cfg = s->cfg;
    char *c = NULL, *k = NULL, why[256];
    size_t clen = 0, klen = 0;
    int ret = -1;

    if (server_file_read(cfg->cert_path, SERVER_PEM_MAX, &c, &clen, why, sizeof(why)) < 0) {
        snprintf(err, err_size, "cannot read TLS certificate %s: %s", cfg->cert_path, why);
        goto out;
    }
    if (server_file_read(cfg->key_path, SERVER_PEM_MAX, &k, &klen, why, sizeof(why)) < 0) {
        snprintf(err, err_size, "cannot read TLS key %s: %s", cfg->key_path, why);
        goto out;
    }
    *cert = c;
    *cert_len = clen;
    *key = k;
    *key_len = klen;
    c = k = NULL;
    ret = 0;
out:
    free(c);
    return ret;
}

static void
server_pem_free(char *pem, size_t len)
{
    if (pem != NULL)
        explicit_bzero(pem, len);
    free(pem);
}

/* Loads the certificate and key before the server starts. Returns 0, or -1 after logging. */
static int
server_tls_load_initial(struct server *s)
{
    struct tls_creds *c = NULL;
    char *cert = NULL, *key = NULL, err[512];
    size_t cert_len = 0, key_len = 0;
    int ret = -1;

    if (server_tls_read(s, &cert, &cert_len, &key, &key_len, err, sizeof(err)) < 0 ||
        tls_creds_new(cert, cert_len, key, key_len, s->cfg->cert_path, s->cfg->key_path, &c, err,
                      sizeof(err)) < 0) {
        log_errorx("%s", err);
        goto out;
    }
    (void)server_seen_changed(&s->cert_seen, cert, cert_len);
    (void)server_seen_changed(&s->key_seen, key, key_len);
    server_tls_swap(s, c);
    server_tls_log(c, LOG_LEVEL_DEBUG, "TLS certificate loaded", NULL);
    ret = 0;
out:
    server_pem_free(cert, cert_len);
    server_pem_free(key, key_len);
    return ret;
}

/*
 * Reads the certificate and key again and, when either changed (or force is set), checks the
 * new pair and makes it the one new handshakes present. Connections already open keep theirs.
 * A pair that cannot be read, does not match or is not valid now is logged, counted and
 * refused: the certificate in force stays.
 */
static void
server_tls_reload(struct server *s, bool force)
{
    const struct server_config *cfg = s->cfg;
    struct tls_creds *c = NULL;
    char *cert = NULL, *key = NULL, *cert2 = NULL, *key2 = NULL;
    size_t cert_len = 0, key_len = 0, cert2_len = 0, key2_len = 0;
    char err[512], info[512];
    bool changed;

    if (server_tls_read(s, &cert, &cert_len, &key, &key_len, err, sizeof(err)) < 0) {
        if (s->cert_seen.valid || force) {
            log_errorx("TLS certificate reload refused: %s; keeping serial %s", err,
                       tls_creds_serial(s->creds));
            metrics_count_cert_reload(s->metrics, METRICS_RESULT_FAILURE);
        }
        s->cert_seen.valid = false;
        goto out;
    }
    /* Both digests are recorded, whatever the first says. */
    changed = server_seen_changed(&s->cert_seen, cert, cert_len);
    changed = server_seen_changed(&s->key_seen, key, key_len) || changed;
    if (!changed && !force)
        goto out;
    /* The certs tool's check reads the files itself, with OpenSSL, for the same messages as at
     * start. Should they change under it (a writer between the certificate and the key), the
     * result says nothing about what was read here: forget it, and let the next event decide. */
    if (certs_check_serving(cfg->cert_path, cfg->key_path, err, sizeof(err), info, sizeof(info)) !=
        0) {
        if (server_tls_read(s, &cert2, &cert2_len, &key2, &key2_len, info, sizeof(info)) == 0 &&
            cert2_len == cert_len && key2_len == key_len && memcmp(cert2, cert, cert_len) == 0 &&
            memcmp(key2, key, key_len) == 0) {
            log_errorx("TLS certificate reload refused: %s; keeping serial %s", err,
                       tls_creds_serial(s->creds));
            metrics_count_cert_reload(s->metrics, METRICS_RESULT_FAILURE);
        } else {
            s->cert_seen.valid = s->key_seen.valid = false;
        }
        goto out;
    }
    if (tls_creds_new(cert, cert_len, key, key_len, cfg->cert_path, cfg->key_path, &c, err,
                      sizeof(err)) < 0) {
        log_errorx("TLS certificate reload refused: %s; keeping serial %s", err,
                   tls_creds_serial(s->creds));
        metrics_count_cert_reload(s->metrics, METRICS_RESULT_FAILURE);
        goto out;
    }
    server_tls_swap(s, c);
    server_tls_log(c, LOG_LEVEL_INFO, "TLS certificate reloaded", info);
    metrics_count_cert_reload(s->metrics, METRICS_RESULT_SUCCESS);
out:
    server_pem_free(cert, cert_len);
    server_pem_free(key, key_len);
    server_pem_free(cert2, cert2_len);
    server_pem_free(key2, key2_len);
}

/*
 * GnuTLS asks this for the certificate to present, once per handshake. The connection keeps a
 * reference to what it presented until it closes, so a rotation during a handshake (or a
 * renegotiation) never frees what GnuTLS still points to.
 */
static int
server_tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
    /* libmicrohttpd keeps its connection as the session's pointer. */
    struct MHD_Connection *connection = gnutls_session_get_ptr(session);
    const union MHD_ConnectionInfo *info;
    struct server_conn *c;

    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    if (connection == NULL)
        return -1;
    info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    c = info != NULL ? info->socket_context : NULL;
    if (c == NULL)
        return -1;
    tls_creds_unref(c->creds);
    c->creds = server_tls_acquire(c->worker->server);
    tls_creds_use(c->creds, pcert, pcert_length, privkey);
    return 0;
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
 * Opens a listening socket on spec and stores it in *fd_out, with the address it got (the
 * host in brackets for IPv6) in host and *port. Returns 0, or -1 after logging why.
 *
 * The admission port has one socket, whose connections the acceptor thread hands out to the
 * workers, least loaded first: SO_REUSEPORT with a socket per worker would let the kernel
 * hash a few long-lived apiserver connections onto the same thread, and would let a second
 * instance run by the same user bind the same port silently instead of failing.
 */
static int
server_listen_open(const char *spec, int *fd_out, char *host, size_t host_size, unsigned *port)
{
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
        snprintf(host, host_size, "[%s]", addr);
        *port = ntohs(a->sin6_port);
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, (socklen_t)host_size);
        *port = ntohs(a->sin_port);
    }
    *fd_out = fd;
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

/* Returns the metrics endpoint of an admission route; the others have none. */
static bool
server_route_endpoint(enum server_route route, enum metrics_endpoint *ep)
{
    if (route == ROUTE_MUTATE)
        *ep = METRICS_ENDPOINT_MUTATE;
    else if (route == ROUTE_VALIDATE)
        *ep = METRICS_ENDPOINT_VALIDATE;
    else
        return false;
    return true;
}

/*
 * Queues an answer, written as one TLS record. libmicrohttpd 0.9.75 hands GnuTLS the header and
 * the body in two calls, which GnuTLS sends as two records, and as two TCP segments once the
 * answer is over 1,400 bytes, as every patched answer is: the client then waits for the second.
 * So the session is corked while libmicrohttpd writes, and server_uncork sends the whole answer
 * when libmicrohttpd reports the request complete, which it does before it closes a connection
 * the answer ends.
 */
static enum MHD_Result
server_queue(struct server_conn *c, struct MHD_Connection *connection, unsigned status,
             struct MHD_Response *resp)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);

    if (info != NULL && info->tls_session != NULL && c->corked == NULL) {
        c->corked = info->tls_session;
        gnutls_record_cork(c->corked);
    }
    return MHD_queue_response(connection, status, resp);
}

/*
 * Sends what the corked session holds, and pushes it: libmicrohttpd may have left TCP_CORK on
 * (it pushes small answers by setting TCP_NODELAY, which flushes without uncorking), and a
 * corked segment would wait up to 200 ms. When the socket cannot take the answer, the client has
 * sent requests without reading the answers to earlier ones: it loses the connection, as
 * waiting would hold the worker.
 */
static void
server_uncork(struct server_conn *c)
{
    static const int one = 1;
    ssize_t sent;

    if (c->corked == NULL)
        return;
    sent = gnutls_record_uncork(c->corked, 0);
    c->corked = NULL;
    if (sent < 0) {
        log_debug("cannot send an answer (%s): closing the connection", gnutls_strerror((int)sent));
        shutdown(c->fd, SHUT_RDWR);
        return;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Answers with a canned response, counts it, and logs the refusal when it is one. */
static enum MHD_Result
server_reply_canned(struct server_conn *c, struct MHD_Connection *connection,
                    enum server_canned which, const char *method, const char *url)
{
    const struct server_canned_spec *spec = &server_canned_specs[which];
    struct server *s = c->worker->server;
    enum metrics_endpoint ep;

    if (spec->status >= 400) {
        metrics_count_http_error(c->worker->metrics, spec->status);
        /* A refused admission request is still an answer the apiserver waited for. */
        if (server_route_endpoint(c->route, &ep))
            metrics_count_review(c->worker->metrics, ep, METRICS_DECISION_ERROR,
                                 server_elapsed_us(&c->start));
    }
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
    return server_queue(c, connection, spec->status, s->canned[which]);
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
    enum metrics_endpoint ep;
    enum MHD_Result ret;
    unsigned status;
    uint64_t usec;

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

    /* The answer's buffer is handed over, not copied: libmicrohttpd frees it with the response. */
    resp = reply.body != NULL
               ? MHD_create_response_from_buffer(reply.len, reply.body, MHD_RESPMEM_MUST_FREE)
               : MHD_create_response_from_buffer(0, empty, MHD_RESPMEM_PERSISTENT);
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
    ret = server_queue(c, connection, status, resp);
    usec = server_elapsed_us(&c->start);
    if (server_route_endpoint(c->route, &ep))
        metrics_count_review(
            c->worker->metrics, ep,
            status == 200 ? metrics_decision_parse(reply.verdict) : METRICS_DECISION_ERROR, usec);
    if (status >= 400)
        metrics_count_http_error(c->worker->metrics, status);
    log_review(server_routes[c->route].name, &reply, usec); /* reply.body lives until below */
    MHD_destroy_response(resp);
    reply.body = NULL; /* libmicrohttpd's now */
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
    /* A connection's first request began when it opened; a later one began no later than now
     * (the sweep may have seen its first bytes earlier). */
    if (atomic_load_explicit(&c->request_since_ms, memory_order_relaxed) == 0)
        atomic_store_explicit(&c->request_since_ms,
                              (int64_t)c->start.tv_sec * 1000 + c->start.tv_nsec / 1000000,
                              memory_order_relaxed);
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
    server_uncork(c);
    atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
    /* Waiting for the next request now: idle time is the idle timeout's business. */
    atomic_store_explicit(&c->request_since_ms, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->requests_done, 1, memory_order_release);
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

/*
 * Called when a connection starts and when it closes, on the worker's thread. libmicrohttpd
 * reports the close after its TLS session is gone and before it closes the socket, so the
 * sweep, which holds conns_lock, only ever shuts down a descriptor that is still this one.
 */
static void
server_connection_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe)
{
    struct server_worker *w = cls;
    const union MHD_ConnectionInfo *info;
    struct server_conn *c;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        c = xcalloc(1, sizeof(*c));
        c->worker = w;
        info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = info != NULL ? info->connect_fd : -1;
        atomic_init(&c->request_since_ms, server_now_ms());
        atomic_init(&c->requests_done, 0);
        pthread_mutex_lock(&w->conns_lock);
        c->next = w->conns;
        if (w->conns != NULL)
            w->conns->prev = c;
        w->conns = c;
        pthread_mutex_unlock(&w->conns_lock);
        *socket_context = c;
        return;
    }
    c = *socket_context;
    if (c != NULL) {
        pthread_mutex_lock(&w->conns_lock);
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            w->conns = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        pthread_mutex_unlock(&w->conns_lock);
        tls_creds_unref(c->creds);
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

    for (unsigned i = 0; i < s->nworkers; i++) {
        struct server_worker *w = &s->workers[i];
        /*
         * The acceptor enforces the connection limit over all workers. Each daemon's own
         * limit is twice that, because a daemon counts a connection until slightly after it
         * reports it closed, and must never refuse what the acceptor counted as handed over.
         * The certificate comes from server_tls_retrieve at each handshake, so that a rotated
         * one is presented without restarting the daemons.
         */
        w->daemon = MHD_start_daemon(
            flags, 0, NULL, NULL, server_handle, w, MHD_OPTION_EXTERNAL_LOGGER, server_mhd_log, s,
            MHD_OPTION_HTTPS_CERT_CALLBACK, server_tls_retrieve, MHD_OPTION_HTTPS_PRIORITIES,
            SERVER_TLS_PRIORITIES, MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s,
            MHD_OPTION_CONNECTION_LIMIT, 2 * cfg->max_connections,
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
            metrics_count_close(s->metrics, METRICS_CLOSE_LIMIT);
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
/* Requests that take too long to arrive                                                      */
/* ------------------------------------------------------------------------------------------ */

/*
 * libmicrohttpd 0.9.75 has only an idle timeout, which every byte received resets: a client
 * that trickles a byte every few seconds (a slowloris) would hold its connection forever. So
 * the main thread sweeps every connection once a second and shuts down those whose request has
 * been arriving for longer than --request-timeout: from the connection's opening for its first
 * request (TLS handshake included), and for a later request on a kept-alive connection from
 * the first sign of it. That sign is the kernel's count of bytes received on the socket moving
 * while no request is in progress; a connection that merely stays idle moves nothing and is left
 * to the idle timeout, as the apiserver's pooled connections should be. shutdown(2) makes the
 * worker see the connection end and close it the usual way, on its own thread.
 */

/* Reads the kernel's count of bytes received on a TCP socket into *out. Returns false when it
 * cannot tell (not TCP, or a kernel without the field). */
static bool
server_tcp_bytes_received(int fd, unsigned long long *out)
{
    struct tcp_info info;
    socklen_t len = sizeof(info);

    memset(&info, 0, sizeof(info));
    if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(info.tcpi_bytes_received))
        return false;
    *out = info.tcpi_bytes_received;
    return true;
}

/* Returns true when c's current request has taken longer than limit_ms to arrive. Called with
 * the worker's conns_lock held. */
static bool
server_conn_overdue(struct server_conn *c, int64_t now, int64_t limit_ms)
{
    int64_t since = atomic_load_explicit(&c->request_since_ms, memory_order_relaxed);
    unsigned done = atomic_load_explicit(&c->requests_done, memory_order_acquire);
    unsigned long long bytes;

    if (done != c->swept_done) {
        /* A request completed since the last sweep: a new wait began. */
        c->swept_done = done;
        c->idle_known = false;
        c->idle_arrival_ms = 0;
    }
    if (since == 0) {
        if (!server_tcp_bytes_received(c->fd, &bytes))
            return false;
        if (!c->idle_known) {
            c->idle_bytes = bytes;
            c->idle_known = true;
        } else if (c->idle_arrival_ms == 0 && bytes != c->idle_bytes) {
            c->idle_arrival_ms = now;
        }
        since = c->idle_arrival_ms;
    } else if (c->idle_arrival_ms != 0 && c->idle_arrival_ms < since) {
        since = c->idle_arrival_ms;
    }
    return since != 0 && now - since > limit_ms;
}

/* Shuts down every connection whose request is overdue. */
static void
server_sweep(struct server *s)
{
    int64_t now = server_now_ms(), limit_ms = (int64_t)s->cfg->request_timeout_s * 1000;
    unsigned closed = 0;

    for (unsigned i = 0; i < s->nworkers; i++) {
        struct server_worker *w = &s->workers[i];
        pthread_mutex_lock(&w->conns_lock);
        for (struct server_conn *c = w->conns; c != NULL; c = c->next) {
            if (c->timed_out || !server_conn_overdue(c, now, limit_ms))
                continue;
            c->timed_out = true;
            (void)shutdown(c->fd, SHUT_RDWR);
            metrics_count_close(s->metrics, METRICS_CLOSE_REQUEST_TIMEOUT);
            closed++;
        }
        pthread_mutex_unlock(&w->conns_lock);
    }
    if (closed > 0)
        log_info("closed %u connection%s whose request took longer than %u s to arrive", closed,
                 closed == 1 ? "" : "s", s->cfg->request_timeout_s);
}

/* Sweeps when a sweep is due; returns the milliseconds until the next one. */
static int
server_sweep_maybe(struct server *s)
{
    int64_t now = server_now_ms();

    if (now >= s->next_sweep_ms) {
        server_sweep(s);
        s->next_sweep_ms = now + SERVER_SWEEP_MS;
    }
    return (int)(s->next_sweep_ms - now);
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

/* The gauges of /metrics that the workers keep. */
static void
server_gauges(void *ctx, struct metrics_gauges *out)
{
    server_counts(ctx, &out->connections, &out->in_flight);
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
        /* A slow client must not hold the shutdown for the whole grace period either. */
        (void)server_sweep_maybe(s);
        sig = sigtimedwait(sigs, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            log_warnx("second signal: stopping now with %u request%s in flight", in_flight,
                      in_flight == 1 ? "" : "s");
            break;
        }
        waited_ms += SERVER_DRAIN_POLL_MS;
    }
}

/* Starts following the policy, certificate and key files for changes. */
static void
server_watch_start(struct server *s)
{
    const struct server_config *cfg = s->cfg;

    s->watch_policy = s->watch_cert = s->watch_key = -1;
    if (!cfg->watch)
        return;
    s->watch = watch_new(SERVER_WATCH_DEBOUNCE_MS);
    s->watch_policy = watch_add(s->watch, cfg->policy_path);
    s->watch_cert = watch_add(s->watch, cfg->cert_path);
    s->watch_key = watch_add(s->watch, cfg->key_path);
}

static bool
server_watch_due(uint32_t due, int bit)
{
    return bit >= 0 && (due & (1u << bit)) != 0;
}

/* Reads and acts on one signal from the signalfd. Returns true for SIGTERM and SIGINT. */
static bool
server_signal(struct server *s, int sigfd)
{
    struct signalfd_siginfo si;
    ssize_t n = read(sigfd, &si, sizeof(si));

    if (n != (ssize_t)sizeof(si))
        return false;
    if (si.ssi_signo == SIGHUP) {
        log_info("received SIGHUP: reloading the policy and the certificate");
        server_policy_reload(s, true);
        server_tls_reload(s, true);
        return false;
    }
    log_info("received %s: shutting down", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
    return true;
}

/*
 * The main thread's loop, off every request's path: signals (SIGHUP reloads, SIGTERM and
 * SIGINT drain and return), changed files (reloaded), and the sweep of slow requests.
 */
static void
server_wait(struct server *s, const sigset_t *sigs)
{
    int sigfd = signalfd(-1, sigs, SFD_CLOEXEC | SFD_NONBLOCK);

    if (sigfd < 0)
        fatal("cannot create a signalfd");
    s->next_sweep_ms = server_now_ms() + SERVER_SWEEP_MS;
    for (;;) {
        struct pollfd pfd[2] = {{sigfd, POLLIN, 0}, {-1, POLLIN, 0}};
        int timeout = server_sweep_maybe(s);

        if (s->watch != NULL) {
            int wt = watch_timeout(s->watch);
            pfd[1].fd = watch_fd(s->watch);
            if (wt < timeout)
                timeout = wt;
        }
        if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
            fatal("poll");
        if ((pfd[0].revents & POLLIN) && server_signal(s, sigfd))
            break;
        if (s->watch != NULL) {
            uint32_t due = watch_check(s->watch);
            if (server_watch_due(due, s->watch_policy))
                server_policy_reload(s, false);
            if (server_watch_due(due, s->watch_cert) || server_watch_due(due, s->watch_key))
                server_tls_reload(s, false);
        }
    }
    close(sigfd);
    server_drain(s, sigs);
}

/* Prepares the workers' state before anything can use it; the daemons start later. */
static void
server_workers_init(struct server *s)
{
    s->nworkers = s->cfg->threads != 0 ? s->cfg->threads : server_cpu_count();
    if (s->nworkers > SERVER_MAX_THREADS)
        s->nworkers = SERVER_MAX_THREADS;
    s->metrics = metrics_new(s->nworkers, server_gauges, s);
    s->workers = xcalloc(s->nworkers, sizeof(*s->workers));
    for (unsigned i = 0; i < s->nworkers; i++) {
        struct server_worker *w = &s->workers[i];
        atomic_init(&w->connections, 0);
        atomic_init(&w->in_flight, 0);
        w->server = s;
        w->metrics = metrics_shard(s->metrics, i);
        pthread_mutex_init(&w->conns_lock, NULL);
    }
}

/* Opens the metrics port and starts its listener, unless metrics are off. Returns 0 or -1. */
static int
server_metrics_start(struct server *s)
{
    const char *spec = s->cfg->metrics_listen;
    char host[INET6_ADDRSTRLEN + 2];
    unsigned port;
    int fd, ret = -1;

    if (spec == NULL || spec[0] == '\0' || strcmp(spec, "off") == 0) {
        ret = 0;
        goto out;
    }
    if (server_listen_open(spec, &fd, host, sizeof(host), &port) < 0 ||
        metrics_listener_start(s->metrics, fd) < 0)
        goto out;
    /* Not a log line: the exact form that scripts and tests look for. */
    fprintf(stderr, "metrics on http://%s:%u/metrics\n", host, port);
    fflush(stderr);
    ret = 0;
out:
    return ret;
}

/* Undoes whatever of server_run's start succeeded, in reverse order. */
static void
server_teardown(struct server *s)
{
    server_acceptor_stop(s);
    watch_free(s->watch);
    s->watch = NULL;
    for (unsigned i = 0; i < s->nworkers; i++) {
        if (s->workers[i].daemon != NULL)
            MHD_stop_daemon(s->workers[i].daemon);
    }
    /* The metrics listener reads the workers' counters: it stops before they go. */
    metrics_free(s->metrics);
    s->metrics = NULL;
    for (unsigned i = 0; i < s->nworkers; i++)
        pthread_mutex_destroy(&s->workers[i].conns_lock);
    free(s->workers);
    s->workers = NULL;
    s->nworkers = 0;
    server_canned_destroy(s);
    server_policy_swap(s, NULL);
    server_tls_swap(s, NULL);
    pthread_mutex_destroy(&s->policy_lock);
    pthread_mutex_destroy(&s->tls_lock);
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
    pthread_mutex_init(&s.tls_lock, NULL);

    /*
     * Block the signals the main thread waits for before any thread starts, so that every
     * thread inherits the mask and only the main thread's signalfd sees them. They stay
     * blocked on return: the caller exits, and a late SIGTERM must not kill it with a signal
     * status instead.
     */
    memset(&ignore, 0, sizeof(ignore));
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, NULL);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    server_workers_init(&s);
    if (server_policy_load_initial(&s) < 0 || server_tls_load_initial(&s) < 0 ||
        server_listen_open(cfg->listen, &s.listen_fd, s.listen_host, sizeof(s.listen_host),
                           &s.port) < 0)
        goto out;
    server_files_raise((rlim_t)cfg->max_connections + 64);
    server_canned_create(&s);
    if (server_metrics_start(&s) < 0 || server_workers_start(&s) < 0 ||
        server_acceptor_start(&s) < 0)
        goto out;
    server_watch_start(&s);

    atomic_store(&s.serving, true);
    log_line_begin(&l, LOG_LEVEL_INFO, "serving");
    log_line_str(&l, "version", GTW_VERSION);
    log_line_uint(&l, "threads", s.nworkers);
    log_line_uint(&l, "max_body_bytes", cfg->max_body_bytes);
    log_line_uint(&l, "max_connections", cfg->max_connections);
    log_line_uint(&l, "idle_timeout_s", cfg->idle_timeout_s);
    log_line_uint(&l, "request_timeout_s", cfg->request_timeout_s);
    log_line_uint(&l, "shutdown_grace_s", cfg->shutdown_grace_s);
    log_line_str(&l, "watch", cfg->watch ? "on" : "off");
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
