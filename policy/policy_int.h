/* SPDX-License-Identifier: Apache-2.0 */
/* The policy's internal representation, shared by the modules of the policy library. */
#ifndef GTW_POLICY_INT_H
#define GTW_POLICY_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "policy/policy.h"

/* Sharing strategies, as a bit set. */
enum {
    SHARING_EXCLUSIVE = 1u << 0,
    SHARING_TIME_SLICING = 1u << 1,
    SHARING_MPS = 1u << 2,
    SHARING_MIG = 1u << 3,
};

struct policy_strings {
    char **items; /* owned, each owned */
    size_t count;
};

struct policy_pattern {
    char *source;     /* as written in the policy */
    pcre2_code *code; /* compiled anchored at both ends, JIT-compiled when possible */
};

struct policy_quota {
    char *resource; /* e.g. "nvidia.com/gpu", "nvidia.com/mig-1g.10gb",
                       "gpu.nvidia.com.deviceclass.resource.k8s.io/devices" or
                       "deviceclass.resource.kubernetes.io/gpu.nvidia.com" */
    int64_t ceiling;
};

/* What a device class listed in settings.dra.deviceClasses hands out. */
enum dra_class_kind {
    DRA_CLASS_GPU, /* whole GPUs (or passthrough GPUs) */
    DRA_CLASS_MIG, /* MIG devices */
    DRA_CLASS_KINDS
};

struct policy_dra_class {
    char *name;
    enum dra_class_kind kind;
};

/* settings.dra: how Dynamic Resource Allocation hands out GPUs. */
struct policy_dra {
    struct policy_dra_class *classes; /* sorted by name, unique */
    size_t nclasses;
    char *driver;             /* whose opaque config carries sharing; its attribute domain */
    unsigned default_sharing; /* SHARING_EXCLUSIVE or SHARING_TIME_SLICING */
    bool pods_with_claims_are_gpu_pods;
    bool written; /* settings.dra is in the file (for the lint) */
};

struct policy_tenant {
    char *name;
    struct policy_strings namespaces;
    struct policy_pattern *patterns; /* empty: every service account is allowed */
    size_t npatterns;
    unsigned sharing;                   /* SHARING_* bits, at least one */
    struct policy_strings products;     /* sorted, unique, at least one */
    struct policy_strings mig_profiles; /* sorted, unique; non-empty when sharing has mig */
    int64_t max_gpus_per_pod;           /* -1: no cap */
    bool has_quota;                     /* when true, resources not listed have ceiling 0 */
    struct policy_quota *quota;
    size_t nquota;
    bool has_mode;
    enum policy_mode mode;
    bool has_device_classes;              /* deviceClasses is written: an allow-list */
    struct policy_strings device_classes; /* sorted, unique */
    bool admin_access;                    /* its claims may ask for adminAccess on GPU classes */
    char *dra_selectors[DRA_CLASS_KINDS]; /* the CEL selector /mutate adds, per class kind */
};

struct policy_toleration {
    char *key;
    char *operator; /* "Exists" or "Equal" */
    char *value;    /* NULL with Exists */
    char *effect;   /* NULL: every effect */
};

/* Open-addressing hash from namespace name to tenant, built at load. */
struct policy_ns_slot {
    const char *name; /* borrowed from the tenant's namespaces; NULL for an empty slot */
    const struct policy_tenant *tenant;
};

struct policy {
    char *file;
    char digest[17];
    enum policy_mode mode;
    struct policy_toleration toleration;
    char *product_label;
    char *sharing_label;
    struct policy_strings exempt_namespaces;
    struct policy_strings quota_admin_users;
    struct policy_strings quota_admin_groups;
    bool deny_toleration_without_gpu;
    struct policy_dra dra;
    struct policy_tenant *tenants;
    size_t ntenants;
    struct policy_ns_slot *ns_slots;
    size_t ns_mask; /* slot count - 1, a power of two minus one */
};

/* Frees the members of a tenant (not the tenant itself). */
void policy_tenant_clear(struct policy_tenant *t);
/* Builds p->ns_slots from the tenants' namespaces; returns 0, or -1 on a duplicate. */
int policy_index_namespaces(struct policy *p);
/* Returns true when s is one of the strings in l. */
bool policy_strings_contains(const struct policy_strings *l, const char *s);
void policy_strings_clear(struct policy_strings *l);
/* Writes the strings of l into buf as "a, b, c", cut to size. */
void policy_strings_join(const struct policy_strings *l, char *buf, size_t size);
/* Sorts l and removes duplicates. */
void policy_strings_sort_unique(struct policy_strings *l);

/* Returns the ceiling for resource in t's quota: -1 when t has no quota, 0 when unlisted. */
int64_t policy_tenant_quota_for(const struct policy_tenant *t, const char *resource);

#endif
