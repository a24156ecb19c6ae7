/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON Patch (RFC 6902) that /mutate returns for an admitted GPU pod. */
#ifndef GTW_PATCH_H
#define GTW_PATCH_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "policy/placement.h"

/*
 * Returns a new JSON Patch array (owned by the caller) that adds the policy's toleration, ANDs
 * the placement into every required node selector term and sets the tenant label on pod, or
 * NULL when pod already has all three (so a second pass yields nothing).
 */
cJSON *patch_for_pod(const struct policy *p, const struct policy_tenant *t, const cJSON *pod,
                     const struct placement *pl);

/* Appends {"op": "add", "path": path, "value": value} to ops; takes ownership of value. */
void patch_add_op(cJSON *ops, const char *path, cJSON *value);

/* Returns true when one of the tolerations (a JSON array, may be NULL) tolerates the GPU taint. */
bool patch_tolerates_gpu_taint(const struct policy *p, const cJSON *tolerations);

#endif
