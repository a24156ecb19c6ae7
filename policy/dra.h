/* SPDX-License-Identifier: Apache-2.0 */
/* Dynamic Resource Allocation: GPU device classes, the tenant's CEL selector, and the rules for
 * ResourceClaims, their templates, DeviceClasses and the DRA side of pods. */
#ifndef GTW_DRA_H
#define GTW_DRA_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "policy/policy_int.h"
#include "policy/resources.h"

/* Quota names: "<class>.deviceclass.resource.k8s.io/devices" counts a class's devices; the
 * implicit extended resource "deviceclass.resource.kubernetes.io/<class>" is what pods ask for
 * and, under "requests.", what a ResourceQuota counts. */
#define DRA_DEVICES_SUFFIX ".deviceclass.resource.k8s.io/devices"
#define DRA_IMPLICIT_PREFIX "deviceclass.resource.kubernetes.io/"

#define DRA_WHY_MAX 512
#define DRA_WARNINGS_MAX 4

/* Returns the class named name in settings.dra.deviceClasses, or NULL: an unlisted class hands
 * out no GPUs as far as the policy knows. The class lives as long as the policy. */
const struct policy_dra_class *dra_class_find(const struct policy *p, const char *name);

/* Returns "gpu" or "mig", as the policy spells a class kind. */
const char *dra_class_kind_name(enum dra_class_kind kind);

/* Returns true when tenant t may claim devices of class c: its sharing allows c's kind (gpu
 * needs exclusive, time-slicing or mps; mig needs mig) and, when it lists deviceClasses, c is
 * one of them. */
bool dra_tenant_may_use_class(const struct policy_tenant *t, const struct policy_dra_class *c);

/*
 * Returns the CEL selector that admits only tenant t's products (and, for kind mig, only its MIG
 * profiles) among the devices of p's driver, as a new string owned by the caller. The products
 * and profiles are sorted, so the same policy always yields the same text, and /mutate
 * recognises its own selector by comparing the text.
 */
char *dra_selector_new(const struct policy *p, const struct policy_tenant *t,
                       enum dra_class_kind kind);

/*
 * Recognises a DRA quota resource as the policy writes it: "<class>.deviceclass.resource.k8s.io/
 * devices", "deviceclass.resource.kubernetes.io/<class>", or the latter with "requests.".
 * Returns true and stores the class name (cut to size) in cls and the name the policy keeps
 * (the "requests." dropped) in norm, or returns false for anything else.
 */
bool dra_quota_parse(const char *resource, char *cls, size_t cls_size, char *norm,
                     size_t norm_size);

/*
 * For the ResourceQuota guard: returns the policy resource a quota key names when it is a DRA
 * key of a listed class (a pointer into key), or NULL. *counted is false for the
 * "limits." and bare forms of the implicit extended resource, which Kubernetes ignores.
 */
const char *dra_quota_resource(const struct policy *p, const char *key, bool *counted);

/*
 * Returns tenant t's ceiling on devices of class cls: -1 when t has no quota, else the smaller
 * of its ceilings for "<cls>.deviceclass.resource.k8s.io/devices" and
 * "deviceclass.resource.kubernetes.io/<cls>" among those it lists, and 0 when it lists neither.
 */
int64_t dra_class_ceiling(const struct policy_tenant *t, const char *cls);

enum dra_object {
    DRA_CLAIM,          /* ResourceClaim: spec.devices */
    DRA_CLAIM_TEMPLATE, /* ResourceClaimTemplate: spec.spec.devices */
};

/* What the rules found about one ResourceClaim or ResourceClaimTemplate. */
struct dra_findings {
    bool gpu;            /* it asks for devices of a listed class */
    int error;           /* 0, or 400 when it cannot be read (why says what) */
    bool violation;      /* it breaks the policy (why says how) */
    bool lacks_selector; /* a GPU request lacks the tenant's selector, and must not */
    char why[DRA_WHY_MAX];
    char warnings[DRA_WARNINGS_MAX][DRA_WHY_MAX];
    size_t nwarnings;
    cJSON *patch; /* owned JSON Patch that adds the selectors and the tenant label, or NULL */
};

/*
 * Judges the object of a CREATE request (an AdmissionReview's "request") for a claim or a claim
 * template in namespace ns, whose tenant is t (NULL: no tenant), and fills out (clear it with
 * dra_findings_clear). The patch is computed whatever the verdict; the caller decides whether
 * to return it.
 */
void dra_judge_claim(const struct policy *p, const struct policy_tenant *t, const char *ns,
                     enum dra_object what, const cJSON *request, struct dra_findings *out);

void dra_findings_clear(struct dra_findings *f);

/*
 * Returns true and writes the warning into why when DeviceClass object names the GPU driver (in
 * a selector or a config) but is not listed in settings.dra.deviceClasses.
 */
bool dra_device_class_warning(const struct policy *p, const cJSON *object, char *why,
                              size_t why_size);

/* Returns true when a pod spec has spec.resourceClaims. */
bool dra_pod_has_claims(const cJSON *spec);

/*
 * Computes the effective amount of each deviceclass.resource.kubernetes.io/<class> resource of
 * a listed class that a pod spec asks for, as resources_for_pod_spec does for nvidia.com ones
 * (limits win, sidecars and init containers as the scheduler counts them). On anything but
 * RESOURCES_OK, why gets a one-line reason. out is written in every case.
 */
enum resources_result dra_pod_amounts(const struct policy *p, const cJSON *spec,
                                      struct gpu_amounts *out, char *why, size_t why_size);

/*
 * Checks a pod's DRA amounts (from dra_pod_amounts) against tenant t: the class, the sharing
 * the driver gives without a config, maxGpusPerPod and the quota. Returns 0, or -1 with why.
 */
int dra_pod_check_amounts(const struct policy *p, const struct policy_tenant *t,
                          const struct gpu_amounts *a, char *why, size_t why_size);

#endif
