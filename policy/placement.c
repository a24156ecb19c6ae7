/* SPDX-License-Identifier: Apache-2.0 */
/* Placement: the node label requirements that keep an admitted GPU pod on its tenant's GPUs. */
#include "policy/placement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/xalloc.h"

/* GPU Feature Discovery's suffixes on the product label (see the device plugin's labelers). */
#define PRODUCT_SHARED "-SHARED"
#define PRODUCT_MIG "-MIG-"
#define MIG_SHARING_FMT "nvidia.com/mig-%s.sharing-strategy"

static void
strings_push(struct policy_strings *l, char *owned)
{
    l->items = xrealloc(l->items, (l->count + 1) * sizeof(*l->items));
    l->items[l->count++] = owned;
}

/* Returns a new string of a, b and c (c may be NULL) joined: cheaper than xasprintf per value. */
static char *
placement_concat(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = c ? strlen(c) : 0;
    char *s = xmalloc(la + lb + lc + 1);

    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c ? c : "", lc);
    s[la + lb + lc] = '\0';
    return s;
}

/* Writes the tenant's sharing strategies as "exclusive, time-slicing" into buf. */
static void
placement_sharing_names(unsigned sharing, char *buf, size_t size)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{SHARING_EXCLUSIVE, "exclusive"},
                 {SHARING_TIME_SLICING, "time-slicing"},
                 {SHARING_MPS, "mps"},
                 {SHARING_MIG, "mig"}};
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(sharing & names[i].bit))
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", names[i].name);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

/*
 * ANDs "key In values" into pl: a new key is added, an existing one keeps the intersection.
 * Takes ownership of values. Returns -1 when the intersection is empty.
 */
static int
placement_require(struct placement *pl, const char *key, struct policy_strings *values)
{
    struct placement_req *req = NULL;
    size_t kept = 0;

    policy_strings_sort_unique(values);
    for (size_t i = 0; i < pl->count; i++)
        if (strcmp(pl->reqs[i].key, key) == 0)
            req = &pl->reqs[i];
    if (req == NULL) {
        pl->reqs = xrealloc(pl->reqs, (pl->count + 1) * sizeof(*pl->reqs));
        req = &pl->reqs[pl->count++];
        req->key = xstrdup(key);
        req->values = *values;
        values->items = NULL;
        values->count = 0;
        return req->values.count > 0 ? 0 : -1;
    }
    for (size_t i = 0; i < req->values.count; i++) {
        if (policy_strings_contains(values, req->values.items[i]))
            req->values.items[kept++] = req->values.items[i];
        else
            free(req->values.items[i]);
    }
    req->values.count = kept;
    policy_strings_clear(values);
    return kept > 0 ? 0 : -1;
}

/* The product label values that nvidia.com/gpu may land on, per the rules in the README. */
static void
placement_gpu_products(const struct policy_tenant *t, struct policy_strings *out)
{
    for (size_t i = 0; i < t->products.count; i++) {
        const char *p = t->products.items[i];

        if (t->sharing & SHARING_EXCLUSIVE)
            strings_push(out, xstrdup(p));
        if (t->sharing & (SHARING_TIME_SLICING | SHARING_MPS))
            strings_push(out, placement_concat(p, PRODUCT_SHARED, NULL));
        if (!(t->sharing & SHARING_MIG))
            continue;
        for (size_t m = 0; m < t->mig_profiles.count; m++) {
            char *mig = placement_concat(p, PRODUCT_MIG, t->mig_profiles.items[m]);

            if (t->sharing & SHARING_TIME_SLICING)
                strings_push(out, placement_concat(mig, PRODUCT_SHARED, NULL));
            strings_push(out, mig);
        }
    }
}

static void
placement_copy(struct policy_strings *out, const struct policy_strings *in)
{
    for (size_t i = 0; i < in->count; i++)
        strings_push(out, xstrdup(in->items[i]));
}

/*
 * Adds the requirements of one GPU resource to pl. Returns 0, or -1 with why set when the
 * tenant cannot use the resource at all.
 */
static int
placement_for_resource(const struct policy *p, const struct policy_tenant *t,
                       const struct gpu_resource *g, struct placement *pl, char *why,
                       size_t why_size)
{
    struct policy_strings products = {0}, sharing = {0}, mig_sharing = {0};
    char allowed[256], key[RESOURCE_NAME_MAX + 32];
    int rc = -1;

    switch (g->kind) {
    case GPU_WHOLE:
        placement_gpu_products(t, &products);
        if (t->sharing & (SHARING_EXCLUSIVE | SHARING_MIG))
            strings_push(&sharing, xstrdup("none"));
        break;
    case GPU_SHARED:
        if (!(t->sharing & (SHARING_TIME_SLICING | SHARING_MPS))) {
            placement_sharing_names(t->sharing, allowed, sizeof(allowed));
            snprintf(why, why_size,
                     "tenant \"%s\" may not use %s: it needs sharing time-slicing or mps "
                     "(allowed: %s)",
                     t->name, g->name, allowed);
            goto out;
        }
        placement_copy(&products, &t->products);
        break;
    case GPU_MIG:
    case GPU_MIG_SHARED:
        if (!(t->sharing & SHARING_MIG)) {
            placement_sharing_names(t->sharing, allowed, sizeof(allowed));
            snprintf(why, why_size,
                     "tenant \"%s\" may not use %s: it needs sharing mig (allowed: %s)", t->name,
                     g->name, allowed);
            goto out;
        }
        if (!policy_strings_contains(&t->mig_profiles, g->profile)) {
            char profiles[256];
            policy_strings_join(&t->mig_profiles, profiles, sizeof(profiles));
            snprintf(why, why_size,
                     "tenant \"%s\" may not use MIG profile %s (%s); allowed profiles: %s", t->name,
                     g->profile, g->name, profiles);
            goto out;
        }
        if (g->kind == GPU_MIG_SHARED && !(t->sharing & SHARING_TIME_SLICING)) {
            placement_sharing_names(t->sharing, allowed, sizeof(allowed));
            snprintf(why, why_size,
                     "tenant \"%s\" may not use %s: it needs sharing time-slicing with mig "
                     "(allowed: %s)",
                     t->name, g->name, allowed);
            goto out;
        }
        placement_copy(&products, &t->products);
        if (g->kind == GPU_MIG)
            strings_push(&mig_sharing, xstrdup("none"));
        if (t->sharing & SHARING_TIME_SLICING)
            strings_push(&mig_sharing, xstrdup("time-slicing"));
        snprintf(key, sizeof(key), MIG_SHARING_FMT, g->profile);
        if (placement_require(pl, key, &mig_sharing) < 0)
            goto conflict;
        break;
    }
    /* Shared and whole GPUs land on nodes whose sharing label matches a permitted strategy. */
    if (g->kind == GPU_WHOLE || g->kind == GPU_SHARED) {
        if (t->sharing & SHARING_TIME_SLICING)
            strings_push(&sharing, xstrdup("time-slicing"));
        if (t->sharing & SHARING_MPS)
            strings_push(&sharing, xstrdup("mps"));
        if (placement_require(pl, p->sharing_label, &sharing) < 0)
            goto conflict;
    }
    if (placement_require(pl, p->product_label, &products) < 0)
        goto conflict;
    rc = 0;
    goto out;
conflict:
    snprintf(why, why_size,
             "no GPU node can serve this pod for tenant \"%s\": the requirements of %s exclude "
             "those of the pod's other GPU resources",
             t->name, g->name);
out:
    policy_strings_clear(&products);
    policy_strings_clear(&sharing);
    policy_strings_clear(&mig_sharing);
    return rc;
}

static int
placement_compare(const void *a, const void *b)
{
    return strcmp(((const struct placement_req *)a)->key, ((const struct placement_req *)b)->key);
}

int
placement_for_pod(const struct policy *p, const struct policy_tenant *t,
                  const struct gpu_amounts *amounts, struct placement *out, char *why,
                  size_t why_size)
{
    struct placement pl = {0};

    for (size_t i = 0; i < amounts->count; i++) {
        if (placement_for_resource(p, t, &amounts->items[i], &pl, why, why_size) < 0) {
            placement_clear(&pl);
            return -1;
        }
    }
    if (pl.count > 1)
        qsort(pl.reqs, pl.count, sizeof(pl.reqs[0]), placement_compare);
    *out = pl;
    return 0;
}

void
placement_clear(struct placement *pl)
{
    for (size_t i = 0; i < pl->count; i++) {
        free(pl->reqs[i].key);
        policy_strings_clear(&pl->reqs[i].values);
    }
    free(pl->reqs);
    pl->reqs = NULL;
    pl->count = 0;
}

const struct policy_strings *
placement_values_for(const struct placement *pl, const char *key)
{
    for (size_t i = 0; i < pl->count; i++)
        if (strcmp(pl->reqs[i].key, key) == 0)
            return &pl->reqs[i].values;
    return NULL;
}
