/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus metrics: lock-free counters per request thread, and their text exposition. */
#include "webhook/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "policy/xalloc.h"
#include "webhook/log.h"

#define METRICS_PREFIX "gpu_tenancy_webhook_"

/*
 * Latency bucket bounds in microseconds, from 50 us (a small review on a warm connection) to
 * 1 s (far past the apiserver's patience for a webhook that should answer in a millisecond).
 */
static const uint64_t metrics_bounds_us[] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
};
#define METRICS_BUCKETS (sizeof(metrics_bounds_us) / sizeof(metrics_bounds_us[0]))

/* The HTTP error statuses the server answers, each with its own series; others share one. */
static const unsigned metrics_codes[] = {400, 404, 405, 413, 415, 500, 503};
#define METRICS_CODES (sizeof(metrics_codes) / sizeof(metrics_codes[0]))
#define METRICS_CODE_OTHER METRICS_CODES

static const char *const metrics_endpoint_names[METRICS_ENDPOINT_COUNT] = {
    [METRICS_ENDPOINT_MUTATE] = "mutate",
    [METRICS_ENDPOINT_VALIDATE] = "validate",
};

static const char *const metrics_decision_names[METRICS_DECISION_COUNT] = {
    [METRICS_DECISION_ALLOWED] = "allowed", [METRICS_DECISION_DENIED] = "denied",
    [METRICS_DECISION_WARNED] = "warned",   [METRICS_DECISION_AUDITED] = "audited",
    [METRICS_DECISION_ERROR] = "error",
};

static const char *const metrics_result_names[METRICS_RESULT_COUNT] = {
    [METRICS_RESULT_SUCCESS] = "success",
    [METRICS_RESULT_FAILURE] = "failure",
};

static const char *const metrics_close_names[METRICS_CLOSE_COUNT] = {
    [METRICS_CLOSE_LIMIT] = "connection_limit",
    [METRICS_CLOSE_REQUEST_TIMEOUT] = "request_timeout",
};

/*
 * One thread's counters, in one flat array so that the scrape can add up any of them over the
 * shards the same way; the METRICS_AT_ macros give each counter's place. Per endpoint: a count
 * per decision, a count per latency bucket (not cumulative: one increment per observation,
 * the last bucket for slower ones) and the latency sum; then a count per HTTP error status.
 * Aligned so that two threads' shards never share a cache line.
 */
#define METRICS_PER_ENDPOINT (METRICS_DECISION_COUNT + METRICS_BUCKETS + 1 + 1)
#define METRICS_AT_REVIEW(ep, d) ((ep)*METRICS_PER_ENDPOINT + (d))
#define METRICS_AT_BUCKET(ep, b) ((ep)*METRICS_PER_ENDPOINT + METRICS_DECISION_COUNT + (b))
#define METRICS_AT_SUM(ep) ((ep)*METRICS_PER_ENDPOINT + METRICS_PER_ENDPOINT - 1)
#define METRICS_AT_ERROR(i) (METRICS_ENDPOINT_COUNT * METRICS_PER_ENDPOINT + (i))
#define METRICS_SHARD_COUNTERS METRICS_AT_ERROR(METRICS_CODES + 1)

struct metrics_shard {
    _Alignas(64) atomic_ullong c[METRICS_SHARD_COUNTERS];
};

struct metrics {
    struct metrics_shard *shards;
    unsigned nshards;
    metrics_gauges_fn *gauges;
    void *gauges_ctx;

    /* Rare events, counted with atomic additions from whichever thread sees them. */
    atomic_ullong policy_reloads[METRICS_RESULT_COUNT];
    atomic_ullong cert_reloads[METRICS_RESULT_COUNT];
    atomic_ullong closes[METRICS_CLOSE_COUNT];
    atomic_int policy_last_ok; /* -1 before the first reload */
    atomic_int cert_last_ok;
    atomic_llong cert_not_after;

    /* The policy's description changes together, so a lock keeps its parts consistent. */
    pthread_mutex_t policy_lock;
    unsigned long policy_generation;
    size_t policy_tenants;
    char policy_digest[65];

    struct MHD_Daemon *daemon;
};

/* ------------------------------------------------------------------------------------------ */
/* Counting                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Adds n to a counter that only the calling thread writes: a plain load and store, which
 * costs no locked instruction, while a concurrent scrape still reads a whole value. */
static inline void
metrics_bump(atomic_ullong *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

struct metrics *
metrics_new(unsigned nshards, metrics_gauges_fn *gauges, void *ctx)
{
    struct metrics *m = xcalloc(1, sizeof(*m));

    /* aligned_alloc wants a size that is a multiple of the alignment; the shard's is. */
    m->shards = aligned_alloc(_Alignof(struct metrics_shard),
                              (nshards ? nshards : 1) * sizeof(struct metrics_shard));
    if (m->shards == NULL)
        fatalx("out of memory");
    memset(m->shards, 0, (nshards ? nshards : 1) * sizeof(struct metrics_shard));
    m->nshards = nshards;
    m->gauges = gauges;
    m->gauges_ctx = ctx;
    atomic_init(&m->policy_last_ok, -1);
    atomic_init(&m->cert_last_ok, -1);
    atomic_init(&m->cert_not_after, 0);
    pthread_mutex_init(&m->policy_lock, NULL);
    return m;
}

void
metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    if (m->daemon != NULL)
        MHD_stop_daemon(m->daemon);
    pthread_mutex_destroy(&m->policy_lock);
    free(m->shards);
    free(m);
}

struct metrics_shard *
metrics_shard(struct metrics *m, unsigned i)
{
    return &m->shards[i];
}

enum metrics_decision
metrics_decision_parse(const char *verdict)
{
    if (verdict == NULL)
        return METRICS_DECISION_ERROR;
    for (size_t i = 0; i < METRICS_DECISION_COUNT; i++) {
        if (strcmp(verdict, metrics_decision_names[i]) == 0)
            return (enum metrics_decision)i;
    }
    return METRICS_DECISION_ERROR;
}

void
metrics_count_review(struct metrics_shard *sh, enum metrics_endpoint ep,
                     enum metrics_decision decision, uint64_t usec)
{
    size_t b = 0;

    while (b < METRICS_BUCKETS && usec > metrics_bounds_us[b])
        b++;
    metrics_bump(&sh->c[METRICS_AT_REVIEW(ep, decision)], 1);
    metrics_bump(&sh->c[METRICS_AT_BUCKET(ep, b)], 1);
    metrics_bump(&sh->c[METRICS_AT_SUM(ep)], usec);
}

void
metrics_count_http_error(struct metrics_shard *sh, unsigned status)
{
    size_t i = 0;

    while (i < METRICS_CODES && metrics_codes[i] != status)
        i++;
    metrics_bump(&sh->c[METRICS_AT_ERROR(i)], 1);
}

void
metrics_count_policy_reload(struct metrics *m, enum metrics_result result)
{
    atomic_fetch_add_explicit(&m->policy_reloads[result], 1, memory_order_relaxed);
    atomic_store_explicit(&m->policy_last_ok, result == METRICS_RESULT_SUCCESS,
                          memory_order_relaxed);
}

void
metrics_count_cert_reload(struct metrics *m, enum metrics_result result)
{
    atomic_fetch_add_explicit(&m->cert_reloads[result], 1, memory_order_relaxed);
    atomic_store_explicit(&m->cert_last_ok, result == METRICS_RESULT_SUCCESS, memory_order_relaxed);
}

void
metrics_count_close(struct metrics *m, enum metrics_close why)
{
    atomic_fetch_add_explicit(&m->closes[why], 1, memory_order_relaxed);
}

void
metrics_set_policy(struct metrics *m, unsigned long generation, const char *digest, size_t tenants)
{
    pthread_mutex_lock(&m->policy_lock);
    m->policy_generation = generation;
    m->policy_tenants = tenants;
    snprintf(m->policy_digest, sizeof(m->policy_digest), "%s", digest ? digest : "");
    pthread_mutex_unlock(&m->policy_lock);
}

void
metrics_set_cert(struct metrics *m, int64_t not_after)
{
    atomic_store_explicit(&m->cert_not_after, not_after, memory_order_relaxed);
}

/* ------------------------------------------------------------------------------------------ */
/* The exposition                                                                             */
/* ------------------------------------------------------------------------------------------ */

struct metrics_text {
    char *buf;
    size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void
metrics_printf(struct metrics_text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        xgrow(&t->buf, &t->cap, t->len + (size_t)n + 1, 1);
    }
}

static void
metrics_header(struct metrics_text *t, const char *name, const char *type, const char *help)
{
    metrics_printf(t, "# HELP " METRICS_PREFIX "%s %s\n# TYPE " METRICS_PREFIX "%s %s\n", name,
                   help, name, type);
}

/* Sums counter at (a METRICS_AT_ place) over every shard. */
static uint64_t
metrics_sum(const struct metrics *m, size_t at)
{
    uint64_t total = 0;

    for (unsigned i = 0; i < m->nshards; i++)
        total += atomic_load_explicit(&m->shards[i].c[at], memory_order_relaxed);
    return total;
}

static void
metrics_render_requests(const struct metrics *m, struct metrics_text *t)
{
    metrics_header(t, "admission_requests_total", "counter",
                   "Admission reviews answered, by endpoint and decision (error: the request "
                   "was refused or could not be read as an AdmissionReview).");
    for (size_t e = 0; e < METRICS_ENDPOINT_COUNT; e++) {
        for (size_t d = 0; d < METRICS_DECISION_COUNT; d++)
            metrics_printf(t,
                           METRICS_PREFIX
                           "admission_requests_total{endpoint=\"%s\",decision=\"%s\"} %" PRIu64
                           "\n",
                           metrics_endpoint_names[e], metrics_decision_names[d],
                           metrics_sum(m, METRICS_AT_REVIEW(e, d)));
    }

    metrics_header(t, "admission_duration_seconds", "histogram",
                   "Time from a review's complete headers to its answer, by endpoint.");
    for (size_t e = 0; e < METRICS_ENDPOINT_COUNT; e++) {
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= METRICS_BUCKETS; b++) {
            cumulative += metrics_sum(m, METRICS_AT_BUCKET(e, b));
            if (b < METRICS_BUCKETS)
                metrics_printf(t,
                               METRICS_PREFIX "admission_duration_seconds_bucket{endpoint=\"%s\","
                                              "le=\"%g\"} %" PRIu64 "\n",
                               metrics_endpoint_names[e], (double)metrics_bounds_us[b] / 1e6,
                               cumulative);
            else
                metrics_printf(t,
                               METRICS_PREFIX "admission_duration_seconds_bucket{endpoint=\"%s\","
                                              "le=\"+Inf\"} %" PRIu64 "\n",
                               metrics_endpoint_names[e], cumulative);
        }
        metrics_printf(t, METRICS_PREFIX "admission_duration_seconds_sum{endpoint=\"%s\"} %.6f\n",
                       metrics_endpoint_names[e], (double)metrics_sum(m, METRICS_AT_SUM(e)) / 1e6);
        metrics_printf(
            t, METRICS_PREFIX "admission_duration_seconds_count{endpoint=\"%s\"} %" PRIu64 "\n",
            metrics_endpoint_names[e], cumulative);
    }

    metrics_header(t, "http_errors_total", "counter",
                   "HTTP error answers on the admission port, by status code.");
    for (size_t i = 0; i <= METRICS_CODES; i++) {
        uint64_t n = metrics_sum(m, METRICS_AT_ERROR(i));
        if (i < METRICS_CODES)
            metrics_printf(t, METRICS_PREFIX "http_errors_total{code=\"%u\"} %" PRIu64 "\n",
                           metrics_codes[i], n);
        else
            metrics_printf(t, METRICS_PREFIX "http_errors_total{code=\"other\"} %" PRIu64 "\n", n);
    }
}

/*
 * A reload family: NAME_reloads_total by result, with help, and NAME_last_reload_successful,
 * whose help names what is reloaded as noun.
 */
static void
metrics_render_reloads(struct metrics_text *t, const char *name, const char *help, const char *noun,
                       atomic_ullong *reloads, atomic_int *last_ok)
{
    char metric[64], last_help[128];

    snprintf(metric, sizeof(metric), "%s_reloads_total", name);
    metrics_header(t, metric, "counter", help);
    for (size_t i = 0; i < METRICS_RESULT_COUNT; i++)
        metrics_printf(t, METRICS_PREFIX "%s{result=\"%s\"} %llu\n", metric,
                       metrics_result_names[i],
                       atomic_load_explicit(&reloads[i], memory_order_relaxed));
    snprintf(metric, sizeof(metric), "%s_last_reload_successful", name);
    snprintf(last_help, sizeof(last_help),
             "1 when the last %s reload succeeded (or none was tried), 0 when it was refused.",
             noun);
    metrics_header(t, metric, "gauge", last_help);
    metrics_printf(t, METRICS_PREFIX "%s %d\n", metric,
                   atomic_load_explicit(last_ok, memory_order_relaxed) != 0);
}

static void
metrics_render_state(struct metrics *m, struct metrics_text *t)
{
    struct metrics_gauges g = {0, 0};
    unsigned long generation;
    size_t tenants;
    char digest[65];

    if (m->gauges != NULL)
        m->gauges(m->gauges_ctx, &g);
    metrics_header(t, "requests_in_flight", "gauge",
                   "Requests whose headers have arrived and whose answer is not yet sent.");
    metrics_printf(t, METRICS_PREFIX "requests_in_flight %u\n", g.in_flight);
    metrics_header(t, "connections", "gauge", "Open client connections on the admission port.");
    metrics_printf(t, METRICS_PREFIX "connections %u\n", g.connections);
    metrics_header(t, "connections_closed_total", "counter",
                   "Connections the server closed itself, by reason.");
    for (size_t i = 0; i < METRICS_CLOSE_COUNT; i++)
        metrics_printf(t, METRICS_PREFIX "connections_closed_total{reason=\"%s\"} %llu\n",
                       metrics_close_names[i],
                       atomic_load_explicit(&m->closes[i], memory_order_relaxed));

    pthread_mutex_lock(&m->policy_lock);
    generation = m->policy_generation;
    tenants = m->policy_tenants;
    memcpy(digest, m->policy_digest, sizeof(digest));
    pthread_mutex_unlock(&m->policy_lock);
    metrics_render_reloads(t, "policy",
                           "Policy reloads after a change or SIGHUP, by result (a failure keeps "
                           "the last good policy).",
                           "policy", m->policy_reloads, &m->policy_last_ok);
    metrics_header(t, "policy_generation", "gauge",
                   "Generation of the policy in force (1 at start, one more per reload), "
                   "labelled with the digest of its file.");
    metrics_printf(t, METRICS_PREFIX "policy_generation{digest=\"%s\"} %lu\n", digest, generation);
    metrics_header(t, "policy_tenants", "gauge", "Tenants in the policy in force.");
    metrics_printf(t, METRICS_PREFIX "policy_tenants %zu\n", tenants);

    metrics_header(t, "tls_certificate_not_after_seconds", "gauge",
                   "Expiry (notAfter) of the serving certificate in force, in seconds since "
                   "the Unix epoch.");
    metrics_printf(t, METRICS_PREFIX "tls_certificate_not_after_seconds %lld\n",
                   (long long)atomic_load_explicit(&m->cert_not_after, memory_order_relaxed));
    metrics_render_reloads(t, "tls_certificate",
                           "Certificate reloads after a change or SIGHUP, by result (a failure "
                           "keeps the certificate in force).",
                           "certificate", m->cert_reloads, &m->cert_last_ok);

    metrics_header(t, "build_info", "gauge", "Always 1, labelled with the version.");
    metrics_printf(t, METRICS_PREFIX "build_info{version=\"%s\"} 1\n", GTW_VERSION);
}

char *
metrics_render(struct metrics *m, size_t *len)
{
    struct metrics_text t = {NULL, 0, 0};

    xgrow(&t.buf, &t.cap, 8192, 1);
    t.buf[0] = '\0';
    metrics_render_requests(m, &t);
    metrics_render_state(m, &t);
    *len = t.len;
    return t.buf;
}

/* ------------------------------------------------------------------------------------------ */
/* The listener                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* A scrape is one small request; anything else is refused with a short text answer. */
static enum MHD_Result
metrics_reply_text(struct MHD_Connection *connection, unsigned status, const char *text,
                   const char *allow)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text,
                                           MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (allow != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    ret = MHD_queue_response(connection, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result
metrics_handle(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
               const char *version, const char *upload_data, size_t *upload_data_size,
               void **req_cls)
{
    static int started;
    struct metrics *m = cls;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *body;
    size_t len;

    (void)version;
    (void)upload_data;
    /* The first call has only the headers; answer once the (ignored) body is in. */
    if (*req_cls == NULL) {
        *req_cls = &started;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") != 0 && strcmp(url, "/healthz") != 0)
        return metrics_reply_text(connection, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return metrics_reply_text(connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                                  "method not allowed: use GET\n", "GET, HEAD");
    if (strcmp(url, "/healthz") == 0)
        return metrics_reply_text(connection, MHD_HTTP_OK, "ok\n", NULL);
    body = metrics_render(m, &len);
    /* libmicrohttpd frees body with free() once the response is sent. */
    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    ret = MHD_queue_response(connection, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* libmicrohttpd's messages about scrapers' connections are worth a debug line at most. */
__attribute__((format(printf, 2, 0))) static void
metrics_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (log_enabled(LOG_LEVEL_DEBUG)) {
        char msg[512];
        size_t n;
        struct log_line l;

        vsnprintf(msg, sizeof(msg), fmt, ap);
        n = strlen(msg);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            msg[--n] = '\0';
        log_line_begin(&l, LOG_LEVEL_DEBUG, "metrics listener");
        log_line_str(&l, "error", msg);
        log_line_end(&l);
    }
}

int
metrics_listener_start(struct metrics *m, int listen_fd)
{
    /* Scrapers are few and polite; a small cap keeps a flood on this port from costing much. */
    m->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        metrics_handle, m, MHD_OPTION_EXTERNAL_LOGGER, metrics_mhd_log, m, MHD_OPTION_LISTEN_SOCKET,
        listen_fd, MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16 << 10, MHD_OPTION_END);
    if (m->daemon == NULL) {
        /* libmicrohttpd leaves a socket it was given open when it fails to start. */
        if (fcntl(listen_fd, F_GETFD) >= 0)
            close(listen_fd);
        log_errorx("cannot start the metrics listener");
        return -1;
    }
    return 0;
}
