/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus metrics: lock-free counters per request thread, and their text exposition. */
#ifndef GTW_METRICS_H
#define GTW_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum metrics_endpoint {
    METRICS_ENDPOINT_MUTATE,
    METRICS_ENDPOINT_VALIDATE,
    METRICS_ENDPOINT_COUNT,
};

/* The decisions of struct review_reply's verdict, in its words. */
enum metrics_decision {
    METRICS_DECISION_ALLOWED,
    METRICS_DECISION_DENIED,
    METRICS_DECISION_WARNED,
    METRICS_DECISION_AUDITED,
    METRICS_DECISION_ERROR,
    METRICS_DECISION_COUNT,
};

enum metrics_result {
    METRICS_RESULT_SUCCESS,
    METRICS_RESULT_FAILURE,
    METRICS_RESULT_COUNT,
};

/* Why the server closed a connection itself. */
enum metrics_close {
    METRICS_CLOSE_LIMIT,           /* refused at accept: the connection limit was reached */
    METRICS_CLOSE_REQUEST_TIMEOUT, /* a request took longer than --request-timeout to arrive */
    METRICS_CLOSE_COUNT,
};

struct metrics;
/* The counters of one thread. Only that thread writes them, so it needs no lock and no
 * atomic read-modify-write; the scrape reads them with relaxed atomic loads. */
struct metrics_shard;

/* Current values of the gauges that the server keeps itself, read at scrape time. */
struct metrics_gauges {
    unsigned in_flight;   /* requests between their headers and their completion */
    unsigned connections; /* open client connections */
};
typedef void metrics_gauges_fn(void *ctx, struct metrics_gauges *out);

/*
 * Returns new metrics with nshards shards, one for each thread that will count requests; all
 * counters start at zero. gauges (may be NULL) is called with ctx at each scrape. Free with
 * metrics_free.
 */
struct metrics *metrics_new(unsigned nshards, metrics_gauges_fn *gauges, void *ctx);

/* Stops the listener if one runs and frees m; NULL is a no-op. */
void metrics_free(struct metrics *m);

/* Returns shard i (0 <= i < nshards); it lives as long as m. */
struct metrics_shard *metrics_shard(struct metrics *m, unsigned i);

/* Maps a review_reply verdict ("allowed", "denied", ...) to its decision; NULL and unknown
 * words are METRICS_DECISION_ERROR. */
enum metrics_decision metrics_decision_parse(const char *verdict);

/*
 * Counts one answered admission request and its latency in microseconds. Call only from the
 * shard's own thread.
 */
void metrics_count_review(struct metrics_shard *sh, enum metrics_endpoint ep,
                          enum metrics_decision decision, uint64_t usec);

/* Counts one HTTP error answer (status 400 to 599) on any path. Shard's own thread only. */
void metrics_count_http_error(struct metrics_shard *sh, unsigned status);

/* The following are rare events, callable from any thread. */
void metrics_count_policy_reload(struct metrics *m, enum metrics_result result);
void metrics_count_cert_reload(struct metrics *m, enum metrics_result result);
void metrics_count_close(struct metrics *m, enum metrics_close why);

/* Records the policy now in force: its generation, content digest and tenant count. */
void metrics_set_policy(struct metrics *m, unsigned long generation, const char *digest,
                        size_t tenants);

/* Records the serving certificate now in force by its notAfter, in seconds since the epoch. */
void metrics_set_cert(struct metrics *m, int64_t not_after);

/*
 * Returns the exposition of every metric in Prometheus text format 0.0.4, newly allocated
 * (the caller frees it), and its length in *len.
 */
char *metrics_render(struct metrics *m, size_t *len);

/*
 * Serves GET /metrics (and GET /healthz) over plain HTTP on listen_fd, a bound and listening
 * socket whose ownership passes to the listener, from a thread of its own. Returns 0, or -1
 * after logging why (listen_fd is closed then too).
 */
int metrics_listener_start(struct metrics *m, int listen_fd);

#endif
