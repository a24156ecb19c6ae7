/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON Patch (RFC 6902) that /mutate returns for an admitted GPU pod. */
#include "policy/patch.h"

#include <stdio.h>
#include <string.h>

#include "policy/json.h"
#include "policy/xalloc.h"

#define TENANT_LABEL "gpu-tenancy.io/tenant"
#define TENANT_LABEL_POINTER "gpu-tenancy.io~1tenant" /* "/" escaped as "~1" (RFC 6901) */
#define REQUIRED_PATH "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution"

static bool
patch_streq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

bool
patch_tolerates_gpu_taint(const struct policy *p, const cJSON *tolerations)
{
    const struct policy_toleration *want = &p->toleration;
    const cJSON *tol;

    cJSON_ArrayForEach(tol, tolerations)
    {
        const char *key = json_string(tol, "key"), *op = json_string(tol, "operator");
        const char *value = json_string(tol, "value"), *effect = json_string(tol, "effect");
        bool exists = patch_streq(op, "Exists");

        /* An empty effect tolerates every effect; otherwise it must be the taint's. */
        if (!patch_streq(effect, "") && !patch_streq(effect, want->effect))
            continue;
        /* An empty key with Exists tolerates every taint. */
        if (patch_streq(key, "") && exists)
            return true;
        if (!patch_streq(key, want->key))
            continue;
        if (exists)
            return true;
        /* Equal (the default operator) tolerates only a taint with that very value. */
        if (strcmp(want->operator, "Equal") == 0 && patch_streq(value, want->value))
            return true;
    }
    return false;
}

static cJSON *
patch_toleration_json(const struct policy *p)
{
    const struct policy_toleration *t = &p->toleration;
    cJSON *tol = cJSON_CreateObject();

    cJSON_AddStringToObject(tol, "key", t->key);
    cJSON_AddStringToObject(tol, "operator", t->operator);
    if (t->value != NULL)
        cJSON_AddStringToObject(tol, "value", t->value);
    if (t->effect != NULL)
        cJSON_AddStringToObject(tol, "effect", t->effect);
    return tol;
}

void
patch_add_op(cJSON *ops, const char *path, cJSON *value)
{
    cJSON *op = cJSON_CreateObject();

    cJSON_AddStringToObject(op, "op", "add");
    cJSON_AddStringToObject(op, "path", path);
    cJSON_AddItemToObject(op, "value", value);
    cJSON_AddItemToArray(ops, op);
}

static cJSON *
patch_requirement_json(const struct placement_req *req)
{
    cJSON *expr = cJSON_CreateObject(), *values = cJSON_CreateArray();

    cJSON_AddStringToObject(expr, "key", req->key);
    cJSON_AddStringToObject(expr, "operator", "In");
    for (size_t i = 0; i < req->values.count; i++)
        cJSON_AddItemToArray(values, cJSON_CreateString(req->values.items[i]));
    cJSON_AddItemToObject(expr, "values", values);
    return expr;
}

static cJSON *
patch_expressions_json(const struct placement *pl)
{
    cJSON *exprs = cJSON_CreateArray();

    for (size_t i = 0; i < pl->count; i++)
        cJSON_AddItemToArray(exprs, patch_requirement_json(&pl->reqs[i]));
    return exprs;
}

/* Returns true when expr is "req.key In req.values", with the values in any order. */
static bool
patch_expression_matches(const cJSON *expr, const struct placement_req *req)
{
    const cJSON *values = json_get(expr, "values"), *v;
    size_t n = 0;

    if (!patch_streq(json_string(expr, "key"), req->key) ||
        !patch_streq(json_string(expr, "operator"), "In") || !cJSON_IsArray(values))
        return false;
    cJSON_ArrayForEach(v, values)
    {
        if (!cJSON_IsString(v) || !policy_strings_contains(&req->values, v->valuestring))
            return false;
        n++;
    }
    return n == req->values.count;
}

static bool
patch_term_has(const cJSON *exprs, const struct placement_req *req)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, exprs) if (patch_expression_matches(e, req)) return true;
    return false;
}

/*
 * Returns true for a term with no requirement at all: Kubernetes matches no node with it, and
 * adding the placement to it would make it match, so it is left alone.
 */
static bool
patch_term_is_empty(const cJSON *term)
{
    return cJSON_GetArraySize(json_get(term, "matchExpressions")) == 0 &&
           cJSON_GetArraySize(json_get(term, "matchFields")) == 0;
}

/*
 * ANDs the placement into every required node selector term. Terms are ORed, so a new term
 * would widen where the pod may run; each existing term is narrowed instead.
 */
static void
patch_affinity(cJSON *ops, const cJSON *spec, const struct placement *pl)
{
    const cJSON *affinity = json_get(spec, "affinity");
    const cJSON *node = json_get(affinity, "nodeAffinity");
    const cJSON *required = json_get(node, "requiredDuringSchedulingIgnoredDuringExecution");
    const cJSON *terms = json_get(required, "nodeSelectorTerms");
    cJSON *value, *term;
    char path[256];
    int i = 0;

    if (pl->count == 0)
        return;
    if (cJSON_GetArraySize(terms) > 0 && cJSON_IsArray(terms)) {
        const cJSON *t;
        cJSON_ArrayForEach(t, terms)
        {
            const cJSON *exprs = json_get(t, "matchExpressions");

            if (patch_term_is_empty(t)) {
                /* Nothing to narrow. */
            } else if (!cJSON_IsArray(exprs)) {
                snprintf(path, sizeof(path), REQUIRED_PATH "/nodeSelectorTerms/%d/matchExpressions",
                         i);
                patch_add_op(ops, path, patch_expressions_json(pl));
            } else {
                for (size_t r = 0; r < pl->count; r++) {
                    if (patch_term_has(exprs, &pl->reqs[r]))
                        continue;
                    snprintf(path, sizeof(path),
                             REQUIRED_PATH "/nodeSelectorTerms/%d/matchExpressions/-", i);
                    patch_add_op(ops, path, patch_requirement_json(&pl->reqs[r]));
                }
            }
            i++;
        }
        return;
    }

    /* Build the missing part from the innermost level that is absent. */
    term = cJSON_CreateObject();
    cJSON_AddItemToObject(term, "matchExpressions", patch_expressions_json(pl));
    value = cJSON_CreateArray();
    cJSON_AddItemToArray(value, term);
    if (cJSON_IsObject(required)) {
        patch_add_op(ops, REQUIRED_PATH "/nodeSelectorTerms", value);
        return;
    }
    term = value;
    value = cJSON_CreateObject();
    cJSON_AddItemToObject(value, "nodeSelectorTerms", term);
    if (cJSON_IsObject(node)) {
        patch_add_op(ops, REQUIRED_PATH, value);
        return;
    }
    term = value;
    value = cJSON_CreateObject();
    cJSON_AddItemToObject(value, "requiredDuringSchedulingIgnoredDuringExecution", term);
    if (cJSON_IsObject(affinity)) {
        patch_add_op(ops, "/spec/affinity/nodeAffinity", value);
        return;
    }
    term = value;
    value = cJSON_CreateObject();
    cJSON_AddItemToObject(value, "nodeAffinity", term);
    patch_add_op(ops, "/spec/affinity", value);
}

static void
patch_tenant_label(cJSON *ops, const cJSON *pod, const struct policy_tenant *t)
{
    const cJSON *meta = json_get(pod, "metadata");
    const cJSON *labels = json_get(meta, "labels");
    cJSON *value;

    if (patch_streq(json_string(labels, TENANT_LABEL), t->name))
        return;
    if (cJSON_IsObject(labels)) {
        /* "add" on an existing member replaces it, so a forged value is overwritten. */
        patch_add_op(ops, "/metadata/labels/" TENANT_LABEL_POINTER, cJSON_CreateString(t->name));
        return;
    }
    value = cJSON_CreateObject();
    cJSON_AddStringToObject(value, TENANT_LABEL, t->name);
    if (cJSON_IsObject(meta)) {
        patch_add_op(ops, "/metadata/labels", value);
        return;
    }
    {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddItemToObject(m, "labels", value);
        patch_add_op(ops, "/metadata", m);
    }
}

cJSON *
patch_for_pod(const struct policy *p, const struct policy_tenant *t, const cJSON *pod,
              const struct placement *pl)
{
    const cJSON *spec = json_get(pod, "spec");
    const cJSON *tolerations = json_get(spec, "tolerations");
    cJSON *ops = cJSON_CreateArray();

    if (!patch_tolerates_gpu_taint(p, tolerations)) {
        if (cJSON_IsArray(tolerations)) {
            patch_add_op(ops, "/spec/tolerations/-", patch_toleration_json(p));
        } else {
            cJSON *list = cJSON_CreateArray();
            cJSON_AddItemToArray(list, patch_toleration_json(p));
            patch_add_op(ops, "/spec/tolerations", list);
        }
    }
    patch_affinity(ops, spec, pl);
    patch_tenant_label(ops, pod, t);
    if (cJSON_GetArraySize(ops) == 0) {
        cJSON_Delete(ops);
        return NULL;
    }
    return ops;
}
