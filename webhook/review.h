/* SPDX-License-Identifier: Apache-2.0 */
/* AdmissionReview v1 in, AdmissionReview v1 out: the admission protocol around the decisions. */
#ifndef GTW_REVIEW_H
#define GTW_REVIEW_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "policy/decide.h"
#include "policy/policy.h"

/* What the server answers, and what it logs about it. */
struct review_reply {
    unsigned status; /* HTTP status: 200, or 400 for a body that is no AdmissionReview */
    char *body;      /* owned; application/json for 200, text/plain reason otherwise */
    size_t len;
    bool json; /* body is JSON (else text/plain) */
    /* For the log line; all empty strings when status is not 200. */
    char uid[64];
    char kind[64];
    char name_space[64];
    char name[128];
    char tenant[64];
    const char *verdict; /* "allowed", "denied", "warned", "audited", or "error" */
    char *reason;        /* owned; the decision's message, or NULL */
};

/*
 * Parses body as an AdmissionReview, decides it with policy p for endpoint ep and fills out with
 * the AdmissionReview answer (or an HTTP 400 and its reason). Free out with review_reply_clear.
 */
void review_handle(const struct policy *p, enum decide_endpoint ep, const char *body, size_t len,
                   struct review_reply *out);

void review_reply_clear(struct review_reply *r);

/*
 * Parses len bytes of JSON text in one pass into cJSON nodes in the thread's arena (between
 * arena_begin and arena_end), leaving out object members no decision reads (review_is_unread).
 * It accepts a subset of what cJSON_ParseWithLength accepts, and builds what cJSON would without
 * those members; NULL means it cannot vouch for the text, which cJSON may still accept or refuse.
 */
cJSON *review_parse(const char *text, size_t len);

/* Whether review_parse leaves out an object member named key (len bytes, no NUL). */
bool review_is_unread(const char *key, size_t len);

/* Whether lean is full without the members review_is_unread names (for tests). */
bool review_parse_matches(const cJSON *full, const cJSON *lean);

#endif
