/* SPDX-License-Identifier: Apache-2.0 */
/* Decisions: whether an admission request is allowed, with its message, warnings and patch. */
#ifndef GTW_DECIDE_H
#define GTW_DECIDE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "policy/policy.h"

#define DECISION_WARNINGS_MAX 8
#define DECISION_WARNING_LEN 120 /* the apiserver's budget per warning, in bytes */

enum decide_endpoint {
    DECIDE_MUTATE,
    DECIDE_VALIDATE,
};

struct decision {
    bool allowed;
    int code;      /* HTTP-style status when denied: 403 policy, 400 unreadable object */
    char *message; /* owned; the reason for a denial, or for a warned/audited violation */
    char *warnings[DECISION_WARNINGS_MAX]; /* owned, each at most DECISION_WARNING_LEN bytes */
    size_t nwarnings;
    cJSON *patch;          /* owned JSON Patch array, or NULL */
    const char *tenant;    /* borrowed from the policy, or NULL */
    enum policy_mode mode; /* the mode the decision was made in */
    bool violation;        /* the request broke the policy (denied, warned or audited) */
};

/*
 * Judges request, the "request" member of an AdmissionReview, against policy p for the given
 * endpoint, and fills out (clear it with decision_clear). Never fails: a request that cannot be
 * interpreted is denied with code 400. out->tenant borrows from p.
 */
void decide_request(const struct policy *p, enum decide_endpoint ep, const cJSON *request,
                    struct decision *out);

void decision_clear(struct decision *d);

#endif
