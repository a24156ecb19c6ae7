/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTPS server: admission endpoints and health checks over libmicrohttpd and GnuTLS. */
#ifndef GTW_SERVER_H
#define GTW_SERVER_H

#include <stdbool.h>
#include <stddef.h>

/* Everything the serve command decides; fill with server_config_init, then override. */
struct server_config {
    const char *policy_path;    /* the policy file, loaded at start, on change and on SIGHUP */
    const char *cert_path;      /* PEM certificate, optionally followed by its chain */
    const char *key_path;       /* PEM private key (RSA or ECDSA) matching the certificate */
    const char *listen;         /* "IPv4:PORT" or "[IPv6]:PORT"; port 0 picks a free one */
    const char *metrics_listen; /* the same for plain-HTTP /metrics; NULL, "" or "off": none */
    size_t max_body_bytes;      /* larger request bodies get 413 */
    unsigned threads;           /* request threads; 0: one per CPU this process may run on */
    unsigned max_connections;   /* open connections beyond this are closed at once */
    unsigned idle_timeout_s;    /* a connection with no traffic is closed after this long */
    unsigned request_timeout_s; /* a request must arrive whole within this long */
    unsigned shutdown_grace_s;  /* how long SIGTERM waits for requests in flight */
    bool watch;                 /* reload the policy and certificate when their files change */
};

#define SERVER_DEFAULT_LISTEN "0.0.0.0:8443"
#define SERVER_DEFAULT_METRICS_LISTEN "0.0.0.0:9090"
#define SERVER_DEFAULT_MAX_BODY_BYTES ((size_t)8 << 20)
#define SERVER_DEFAULT_MAX_CONNECTIONS 1024
#define SERVER_DEFAULT_IDLE_TIMEOUT_S 30
#define SERVER_DEFAULT_REQUEST_TIMEOUT_S 10
#define SERVER_DEFAULT_SHUTDOWN_GRACE_S 10
#define SERVER_MAX_THREADS 256

/* Fills cfg with the defaults above: no paths, automatic threads, files watched. */
void server_config_init(struct server_config *cfg);

/*
 * Loads the policy and the certificate, listens, and serves until SIGTERM or SIGINT. Reloads the
 * policy and the certificate when their files change and on SIGHUP, keeping what is in force
 * when the new one is refused. Prints "metrics on http://HOST:PORT" (when metrics are on) and
 * then "listening on https://HOST:PORT" to stderr once ready. Returns the process exit status:
 * 0 after a clean shutdown, 2 when it could not start (invalid policy, unreadable or mismatched
 * certificate and key, address in use), 1 on a later failure.
 */
int server_run(const struct server_config *cfg);

#endif
