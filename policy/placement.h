/* SPDX-License-Identifier: Apache-2.0 */
/* Placement: the node label requirements that keep an admitted GPU pod on its tenant's GPUs. */
#ifndef GTW_PLACEMENT_H
#define GTW_PLACEMENT_H

#include <stddef.h>

#include "policy/policy_int.h"
#include "policy/resources.h"

/* One requirement: the node label key must have one of values (operator In). */
struct placement_req {
    char *key;                    /* owned */
    struct policy_strings values; /* sorted, unique, non-empty */
};

struct placement {
    struct placement_req *reqs; /* sorted by key */
    size_t count;
};

/*
 * Computes where a pod asking for amounts may run for tenant t. Returns 0 and fills out (clear
 * it with placement_clear), or -1 when some resource cannot be used by the tenant at all or the
 * requirements leave no node; then why says which resource and what the tenant allows.
 */
int placement_for_pod(const struct policy *p, const struct policy_tenant *t,
                      const struct gpu_amounts *amounts, struct placement *out, char *why,
                      size_t why_size);

void placement_clear(struct placement *pl);

/* Returns the allowed values for key, or NULL when the placement does not constrain it. */
const struct policy_strings *placement_values_for(const struct placement *pl, const char *key);

#endif
