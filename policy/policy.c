/* SPDX-License-Identifier: Apache-2.0 */
/* The loaded policy's lookups, run on every request, and the freeing of a policy. */
#include "policy/policy_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "policy/xalloc.h"

/*
 * Limits for one service-account match. A pattern written by an admin could backtrack
 * catastrophically; these bound the work per request, and hitting them counts as no match.
 */
#define POLICY_MATCH_LIMIT 100000
#define POLICY_DEPTH_LIMIT 1000

/* ---------------------------------------------------------------------------------------- */
/* Freeing                                                                                   */
/* ---------------------------------------------------------------------------------------- */

void
policy_strings_clear(struct policy_strings *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

void
policy_tenant_clear(struct policy_tenant *t)
{
    free(t->name);
    policy_strings_clear(&t->namespaces);
    for (size_t i = 0; i < t->npatterns; i++) {
        free(t->patterns[i].source);
        pcre2_code_free(t->patterns[i].code);
    }
    free(t->patterns);
    policy_strings_clear(&t->products);
    policy_strings_clear(&t->mig_profiles);
    for (size_t i = 0; i < t->nquota; i++)
        free(t->quota[i].resource);
    free(t->quota);
    policy_strings_clear(&t->device_classes);
    for (size_t i = 0; i < DRA_CLASS_KINDS; i++)
        free(t->dra_selectors[i]);
    memset(t, 0, sizeof(*t));
}

/* Frees p and everything it owns; NULL is a no-op. A partly built policy is fine too. */
void
policy_free(struct policy *p)
{
    if (p == NULL)
        return;
    free(p->file);
    free(p->toleration.key);
    free(p->toleration.operator);
    free(p->toleration.value);
    free(p->toleration.effect);
    free(p->product_label);
    free(p->sharing_label);
    policy_strings_clear(&p->exempt_namespaces);
    policy_strings_clear(&p->quota_admin_users);
    policy_strings_clear(&p->quota_admin_groups);
    for (size_t i = 0; i < p->dra.nclasses; i++)
        free(p->dra.classes[i].name);
    free(p->dra.classes);
    free(p->dra.driver);
    for (size_t i = 0; i < p->ntenants; i++)
        policy_tenant_clear(&p->tenants[i]);
    free(p->tenants);
    free(p->ns_slots);
    free(p);
}

/* ---------------------------------------------------------------------------------------- */
/* String lists                                                                              */
/* ---------------------------------------------------------------------------------------- */

void
policy_strings_join(const struct policy_strings *l, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < l->count; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", l->items[i]);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

bool
policy_strings_contains(const struct policy_strings *l, const char *s)
{
    for (size_t i = 0; i < l->count; i++) {
        if (strcmp(l->items[i], s) == 0)
            return true;
    }
    return false;
}

static int
policy_strings_compare(const void *a, const void *b)
{
    const char *const *x = a;
    const char *const *y = b;

    return strcmp(*x, *y);
}

void
policy_strings_sort_unique(struct policy_strings *l)
{
    size_t kept = 0;

    if (l->count < 2)
        return;
    qsort(l->items, l->count, sizeof(*l->items), policy_strings_compare);
    for (size_t i = 0; i < l->count; i++) {
        if (kept > 0 && strcmp(l->items[kept - 1], l->items[i]) == 0)
            free(l->items[i]);
        else
            l->items[kept++] = l->items[i];
    }
    l->count = kept;
}

/* ---------------------------------------------------------------------------------------- */
/* Namespace index                                                                           */
/* ---------------------------------------------------------------------------------------- */

/* 64-bit FNV-1a: short, fast on the short names namespaces are, and good enough for probing. */
static uint64_t
policy_hash_name(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3u;
    }
    return h;
}

/*
 * Builds the namespace index: open addressing with linear probing, at least twice as many slots
 * as namespaces. Returns 0, or -1 and leaves p untouched when a namespace appears twice.
 */
int
policy_index_namespaces(struct policy *p)
{
    struct policy_ns_slot *slots = NULL;
    size_t total = 0, size = 1, mask;
    int rc = -1;

    for (size_t i = 0; i < p->ntenants; i++)
        total += p->tenants[i].namespaces.count;
    /* At most half full, so probe sequences stay short and an empty slot always ends them. */
    while (size < 2 * total)
        size *= 2;
    mask = size - 1;
    slots = xcalloc(size, sizeof(*slots));
    for (size_t i = 0; i < p->ntenants; i++) {
        const struct policy_tenant *t = &p->tenants[i];

        for (size_t j = 0; j < t->namespaces.count; j++) {
            const char *ns = t->namespaces.items[j];
            size_t k = (size_t)policy_hash_name(ns) & mask;

            while (slots[k].name != NULL) {
                if (strcmp(slots[k].name, ns) == 0)
                    goto out;
                k = (k + 1) & mask;
            }
            slots[k].name = ns;
            slots[k].tenant = t;
        }
    }
    free(p->ns_slots);
    p->ns_slots = slots;
    p->ns_mask = mask;
    slots = NULL;
    rc = 0;
out:
    free(slots);
    return rc;
}

/* Looks ns up in the index without allocating: this runs on every request. */
const struct policy_tenant *
policy_tenant_for_namespace(const struct policy *p, const char *ns)
{
    size_t k;

    if (p == NULL || ns == NULL || p->ns_slots == NULL)
        return NULL;
    k = (size_t)policy_hash_name(ns) & p->ns_mask;
    while (p->ns_slots[k].name != NULL) {
        if (strcmp(p->ns_slots[k].name, ns) == 0)
            return p->ns_slots[k].tenant;
        k = (k + 1) & p->ns_mask;
    }
    return NULL;
}

bool
policy_namespace_is_exempt(const struct policy *p, const char *ns)
{
    if (p == NULL || ns == NULL)
        return false;
    return policy_strings_contains(&p->exempt_namespaces, ns);
}

/* ---------------------------------------------------------------------------------------- */
/* Service-account patterns                                                                  */
/* ---------------------------------------------------------------------------------------- */

/*
 * One match context for every thread: pcre2_match only reads it. Each thread keeps its own
 * match data, created on its first match; the key's destructor frees it when the thread ends,
 * so server threads that come and go do not leak it.
 */
static pthread_once_t policy_match_once = PTHREAD_ONCE_INIT;
static pcre2_match_context *policy_match_context;
static pthread_key_t policy_match_key;
static bool policy_match_key_ok;
static _Thread_local pcre2_match_data *policy_match_data;

static void
policy_match_data_free(void *md)
{
    pcre2_match_data_free(md);
}

static void
policy_match_init(void)
{
    policy_match_context = pcre2_match_context_create(NULL);
    if (policy_match_context != NULL) {
        pcre2_set_match_limit(policy_match_context, POLICY_MATCH_LIMIT);
        pcre2_set_depth_limit(policy_match_context, POLICY_DEPTH_LIMIT);
    }
    policy_match_key_ok = pthread_key_create(&policy_match_key, policy_match_data_free) == 0;
}

/*
 * Matches sa against the tenant's patterns, each anchored at both ends at compile time. A match
 * error or a limit hit refuses, so a pathological pattern cannot stall a request.
 */
bool
policy_tenant_allows_service_account(const struct policy_tenant *t, const char *sa)
{
    size_t len;

    if (t == NULL || sa == NULL)
        return false;
    if (t->npatterns == 0)
        return true;
    pthread_once(&policy_match_once, policy_match_init);
    if (policy_match_context == NULL)
        return false;
    if (policy_match_data == NULL) {
        /* Only whether it matched matters, so one ovector pair is enough. */
        policy_match_data = pcre2_match_data_create(1, NULL);
        if (policy_match_data == NULL)
            return false;
        if (policy_match_key_ok)
            pthread_setspecific(policy_match_key, policy_match_data);
    }
    len = strlen(sa);
    for (size_t i = 0; i < t->npatterns; i++) {
        int rc = pcre2_match(t->patterns[i].code, (PCRE2_SPTR)sa, len, 0, 0, policy_match_data,
                             policy_match_context);

        /* A negative result is no match, an error or a limit hit: all of them refuse. */
        if (rc >= 0)
            return true;
    }
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* Small accessors                                                                           */
/* ---------------------------------------------------------------------------------------- */

enum policy_mode
policy_mode_for(const struct policy *p, const struct policy_tenant *t)
{
    if (t != NULL && t->has_mode)
        return t->mode;
    return p->mode;
}

const char *
policy_mode_name(enum policy_mode mode)
{
    switch (mode) {
    case POLICY_MODE_ENFORCE:
        return "enforce";
    case POLICY_MODE_WARN:
        return "warn";
    case POLICY_MODE_AUDIT:
        return "audit";
    }
    return "unknown";
}

const char *
policy_tenant_name(const struct policy_tenant *t)
{
    return t != NULL ? t->name : NULL;
}

size_t
policy_tenant_count(const struct policy *p)
{
    return p != NULL ? p->ntenants : 0;
}

const char *
policy_digest(const struct policy *p)
{
    return p->digest;
}

int64_t
policy_tenant_quota_for(const struct policy_tenant *t, const char *resource)
{
    if (!t->has_quota)
        return -1;
    for (size_t i = 0; i < t->nquota; i++) {
        if (strcmp(t->quota[i].resource, resource) == 0)
            return t->quota[i].ceiling;
    }
    return 0;
}
