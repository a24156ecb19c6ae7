/* SPDX-License-Identifier: Apache-2.0 */
/* GPU resources: which resource names are GPUs, and how many of each a pod asks for. */
#include "policy/resources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/json.h"
#include "policy/quantity.h"

#define GPU_PREFIX "nvidia.com/"
#define MIG_PREFIX "nvidia.com/mig-"
#define SHARED_SUFFIX ".shared"

bool
resources_classify(const char *name, enum gpu_kind *kind, char *profile, size_t profile_size)
{
    size_t len = strlen(name), plen;
    bool shared;

    if (strcmp(name, "nvidia.com/gpu") == 0) {
        *kind = GPU_WHOLE;
        return true;
    }
    if (strcmp(name, "nvidia.com/gpu.shared") == 0) {
        *kind = GPU_SHARED;
        return true;
    }
    if (strncmp(name, MIG_PREFIX, strlen(MIG_PREFIX)) != 0)
        return false;
    plen = len - strlen(MIG_PREFIX);
    shared = plen > strlen(SHARED_SUFFIX) &&
             strcmp(name + len - strlen(SHARED_SUFFIX), SHARED_SUFFIX) == 0;
    if (shared)
        plen -= strlen(SHARED_SUFFIX);
    if (plen == 0)
        return false;
    *kind = shared ? GPU_MIG_SHARED : GPU_MIG;
    if (profile != NULL && profile_size > 0) {
        if (plen >= profile_size)
            plen = profile_size - 1;
        memcpy(profile, name + strlen(MIG_PREFIX), plen);
        profile[plen] = '\0';
    }
    return true;
}

enum quantity_result
resources_read_quantity(const cJSON *item, int64_t *out)
{
    char text[64];

    if (cJSON_IsString(item))
        return quantity_parse(item->valuestring, strlen(item->valuestring), out);
    if (cJSON_IsNumber(item)) {
        snprintf(text, sizeof(text), "%g", item->valuedouble);
        return quantity_parse(text, strlen(text), out);
    }
    return QUANTITY_INVALID;
}

void
resources_quantity_text(const cJSON *item, char *text, size_t size)
{
    if (cJSON_IsString(item))
        snprintf(text, size, "%s", item->valuestring);
    else if (cJSON_IsNumber(item))
        snprintf(text, size, "%g", item->valuedouble);
    else
        snprintf(text, size, "(not a quantity)");
}

/* Per-resource running totals while walking the containers. */
struct resources_tally {
    char name[RESOURCE_NAME_MAX];
    enum gpu_kind kind;
    char profile[MIG_PROFILE_MAX];
    int64_t containers; /* sum over regular containers */
    int64_t sidecars;   /* sum over sidecar init containers seen so far */
    int64_t init_peak;  /* the largest regular init container, plus sidecars started before it */
};

struct resources_walk {
    struct resources_tally tally[RESOURCES_MAX];
    size_t count;
    char *why;
    size_t why_size;
};

static struct resources_tally *
resources_tally_for(struct resources_walk *w, const char *name, enum gpu_kind kind,
                    const char *profile)
{
    for (size_t i = 0; i < w->count; i++)
        if (strcmp(w->tally[i].name, name) == 0)
            return &w->tally[i];
    if (w->count == RESOURCES_MAX)
        return NULL;
    struct resources_tally *t = &w->tally[w->count++];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->kind = kind;
    snprintf(t->profile, sizeof(t->profile), "%s", profile);
    return t;
}

static bool
resources_add(int64_t *sum, int64_t v)
{
    return !__builtin_add_overflow(*sum, v, sum);
}

enum resources_role {
    ROLE_CONTAINER,
    ROLE_SIDECAR,
    ROLE_INIT,
};

/*
 * Adds one container's GPU amounts to the tally. The amount of a resource is its limit, or its
 * request when it has no limit; a request that differs from the limit is refused, as is a
 * quantity that is no whole number.
 */
static enum resources_result
resources_walk_container(struct resources_walk *w, const cJSON *c, enum resources_role role)
{
    const cJSON *res = json_get(c, "resources");
    const cJSON *limits = json_get(res, "limits");
    const cJSON *requests = json_get(res, "requests");
    const cJSON *name = json_get(c, "name");
    const char *cname = name != NULL && cJSON_IsString(name) ? name->valuestring : "";
    const cJSON *lists[2] = {limits, requests};
    const cJSON *item;

    if (res != NULL && !cJSON_IsObject(res) && !cJSON_IsNull(res)) {
        snprintf(w->why, w->why_size, "container \"%s\": resources is not an object", cname);
        return RESOURCES_INVALID;
    }
    for (int l = 0; l < 2; l++) {
        if (lists[l] != NULL && !cJSON_IsObject(lists[l]) && !cJSON_IsNull(lists[l])) {
            snprintf(w->why, w->why_size, "container \"%s\": resources.%s is not an object", cname,
                     l == 0 ? "limits" : "requests");
            return RESOURCES_INVALID;
        }
    }
    for (int l = 0; l < 2; l++) {
        cJSON_ArrayForEach(item, lists[l])
        {
            enum gpu_kind kind;
            char profile[MIG_PROFILE_MAX] = "", text[64];
            const cJSON *limit;
            int64_t amount, other;
            enum quantity_result q;
            struct resources_tally *t;

            if (item->string == NULL ||
                !resources_classify(item->string, &kind, profile, sizeof(profile)))
                continue;
            /* A request with a limit was handled with the limit. */
            limit = l == 1 ? json_get(limits, item->string) : NULL;
            q = resources_read_quantity(item, &amount);
            if (q != QUANTITY_OK)
                resources_quantity_text(item, text, sizeof(text));
            if (q == QUANTITY_FRACTIONAL) {
                snprintf(w->why, w->why_size,
                         "container \"%s\" asks for %s %s: GPUs come in whole numbers; to share "
                         "a GPU use time-slicing or MIG",
                         cname, text, item->string);
                return RESOURCES_FRACTIONAL;
            }
            if (q != QUANTITY_OK) {
                snprintf(w->why, w->why_size,
                         "container \"%s\": %s %s \"%s\" is not a valid quantity", cname,
                         l == 0 ? "limit" : "request", item->string, text);
                return RESOURCES_INVALID;
            }
            if (limit != NULL) {
                char ltext[64];
                if (resources_read_quantity(limit, &other) == QUANTITY_OK && other != amount) {
                    resources_quantity_text(item, text, sizeof(text));
                    resources_quantity_text(limit, ltext, sizeof(ltext));
                    snprintf(w->why, w->why_size,
                             "container \"%s\": %s request %s differs from its limit %s; they "
                             "must be equal",
                             cname, item->string, text, ltext);
                    return RESOURCES_MISMATCH;
                }
                continue;
            }
            if (amount == 0)
                continue;
            t = resources_tally_for(w, item->string, kind, profile);
            if (t == NULL) {
                snprintf(w->why, w->why_size, "pod names more than %d GPU resources",
                         RESOURCES_MAX);
                return RESOURCES_INVALID;
            }
            switch (role) {
            case ROLE_CONTAINER:
                if (!resources_add(&t->containers, amount))
                    goto overflow;
                break;
            case ROLE_SIDECAR:
                if (!resources_add(&t->sidecars, amount))
                    goto overflow;
                break;
            case ROLE_INIT:
                if (!resources_add(&amount, t->sidecars))
                    goto overflow;
                if (amount > t->init_peak)
                    t->init_peak = amount;
                break;
            }
            continue;
        overflow:
            snprintf(w->why, w->why_size, "container \"%s\": %s adds up past any real amount",
                     cname, item->string);
            return RESOURCES_INVALID;
        }
    }
    return RESOURCES_OK;
}

static enum resources_result
resources_walk_list(struct resources_walk *w, const cJSON *list, bool init)
{
    const cJSON *c;
    enum resources_result r;

    if (list == NULL || cJSON_IsNull(list))
        return RESOURCES_OK;
    if (!cJSON_IsArray(list)) {
        snprintf(w->why, w->why_size, "spec.%s is not a list",
                 init ? "initContainers" : "containers");
        return RESOURCES_INVALID;
    }
    cJSON_ArrayForEach(c, list)
    {
        enum resources_role role = ROLE_CONTAINER;

        if (!cJSON_IsObject(c)) {
            snprintf(w->why, w->why_size, "spec.%s has an entry that is not an object",
                     init ? "initContainers" : "containers");
            return RESOURCES_INVALID;
        }
        if (init) {
            const cJSON *rp = json_get(c, "restartPolicy");
            role = cJSON_IsString(rp) && strcmp(rp->valuestring, "Always") == 0 ? ROLE_SIDECAR
                                                                                : ROLE_INIT;
        }
        r = resources_walk_container(w, c, role);
        if (r != RESOURCES_OK)
            return r;
    }
    return RESOURCES_OK;
}

static int
resources_compare(const void *a, const void *b)
{
    return strcmp(((const struct gpu_resource *)a)->name, ((const struct gpu_resource *)b)->name);
}

enum resources_result
resources_for_pod_spec(const cJSON *spec, struct gpu_amounts *out, char *why, size_t why_size)
{
    struct resources_walk w = {.count = 0, .why = why, .why_size = why_size};
    enum resources_result r;

    out->count = 0;
    if (why_size > 0)
        why[0] = '\0';
    if (!cJSON_IsObject(spec)) {
        snprintf(why, why_size, "pod has no spec");
        return RESOURCES_INVALID;
    }
    /* Init containers first: sidecars count from the point they start. */
    r = resources_walk_list(&w, json_get(spec, "initContainers"), true);
    if (r == RESOURCES_OK)
        r = resources_walk_list(&w, json_get(spec, "containers"), false);
    if (r != RESOURCES_OK)
        return r;
    for (size_t i = 0; i < w.count; i++) {
        const struct resources_tally *t = &w.tally[i];
        struct gpu_resource *g = &out->items[out->count];
        int64_t running = t->containers;

        if (!resources_add(&running, t->sidecars)) {
            snprintf(why, why_size, "%s adds up past any real amount", t->name);
            return RESOURCES_INVALID;
        }
        g->amount = running > t->init_peak ? running : t->init_peak;
        if (g->amount == 0)
            continue;
        g->kind = t->kind;
        memcpy(g->name, t->name, sizeof(g->name));
        memcpy(g->profile, t->profile, sizeof(g->profile));
        out->count++;
    }
    qsort(out->items, out->count, sizeof(out->items[0]), resources_compare);
    return RESOURCES_OK;
}

int64_t
resources_amount(const struct gpu_amounts *a, const char *name)
{
    for (size_t i = 0; i < a->count; i++)
        if (strcmp(a->items[i].name, name) == 0)
            return a->items[i].amount;
    return 0;
}
