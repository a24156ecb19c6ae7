/* SPDX-License-Identifier: Apache-2.0 */
/* Decisions: whether an admission request is allowed, with its message, warnings and patch. */
#include "policy/decide.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/dra.h"
#include "policy/json.h"
#include "policy/patch.h"
#include "policy/placement.h"
#include "policy/quantity.h"
#include "policy/policy_int.h"
#include "policy/resources.h"
#include "policy/xalloc.h"

#define WHY_MAX 512

/* What the rules below need to know about one admission request. */
struct decide_ctx {
    const struct policy *p;
    enum decide_endpoint ep;
    const char *name_space;
    const struct policy_tenant *tenant;
    const char *subject; /* "Deployment \"x\": " when judging a workload's template, else "" */
    struct decision *out;
};

/* Appends a warning, cut to the apiserver's budget on a UTF-8 character boundary. */
static void
decide_warn(struct decision *d, const char *text)
{
    size_t len = strlen(text);

    if (d->nwarnings == DECISION_WARNINGS_MAX)
        return;
    if (len > DECISION_WARNING_LEN) {
        len = DECISION_WARNING_LEN;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--;
    }
    d->warnings[d->nwarnings++] = xstrndup(text, len);
}

/* Refuses the request outright, whatever the mode: the object cannot be interpreted. */
static void decide_error(struct decision *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
decide_error(struct decision *d, const char *fmt, ...)
{
    char buf[WHY_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    free(d->message);
    d->message = xstrdup(buf);
    d->allowed = false;
    d->code = 400;
}

/*
 * Records a policy violation and applies the mode: enforce denies, warn allows with the reason
 * as a warning (from /validate only, so the user does not see it twice), audit allows and leaves
 * the reason for the log.
 */
static void
decide_violation(struct decide_ctx *c, const char *why)
{
    struct decision *d = c->out;

    d->violation = true;
    free(d->message);
    d->message = xasprintf("%s%s", c->subject, why);
    why = d->message;
    switch (d->mode) {
    case POLICY_MODE_ENFORCE:
        d->allowed = false;
        d->code = 403;
        break;
    case POLICY_MODE_WARN:
        if (c->ep == DECIDE_VALIDATE)
            decide_warn(d, why);
        break;
    case POLICY_MODE_AUDIT:
        break;
    }
}

/*
 * Returns true when a toleration lets a pod onto GPU nodes: an empty key with Exists, or the
 * GPU taint's key with any value, for the taint's effect. Looser than patch_tolerates_gpu_taint
 * on purpose: a pod that merely might tolerate the taint is already squatting.
 */
static bool
decide_tolerates_gpu_nodes(const struct policy *p, const cJSON *tolerations)
{
    const cJSON *tol;

    cJSON_ArrayForEach(tol, tolerations)
    {
        const char *key = json_string(tol, "key"), *op = json_string(tol, "operator");
        const char *effect = json_string(tol, "effect");

        if (effect != NULL && *effect != '\0' &&
            (p->toleration.effect == NULL || strcmp(effect, p->toleration.effect) != 0))
            continue;
        if ((key == NULL || *key == '\0') && op != NULL && strcmp(op, "Exists") == 0)
            return true;
        if (key != NULL && strcmp(key, p->toleration.key) == 0)
            return true;
    }
    return false;
}

/*
 * Checks that the pod's own nodeSelector and required node affinity ask only for products the
 * placement allows. Returns 0, or -1 with why set.
 */
static int
decide_product_pins(const struct decide_ctx *c, const cJSON *spec, const struct placement *pl,
                    char *why, size_t why_size)
{
    const char *label = c->p->product_label;
    const struct policy_strings *allowed = placement_values_for(pl, label);
    const cJSON *sel = json_get(spec, "nodeSelector");
    const char *pinned = json_string(sel, label);
    const cJSON *terms, *term;
    char list[WHY_MAX / 2];

    if (allowed == NULL)
        return 0;
    if (pinned != NULL && !policy_strings_contains(allowed, pinned)) {
        policy_strings_join(allowed, list, sizeof(list));
        snprintf(why, why_size,
                 "nodeSelector pins %s to \"%s\", which tenant \"%s\" may not use "
                 "(allowed: %s)",
                 label, pinned, c->tenant->name, list);
        return -1;
    }
    terms = json_get(json_get(json_get(json_get(spec, "affinity"), "nodeAffinity"),
                              "requiredDuringSchedulingIgnoredDuringExecution"),
                     "nodeSelectorTerms");
    cJSON_ArrayForEach(term, terms)
    {
        const cJSON *expr;
        cJSON_ArrayForEach(expr, json_get(term, "matchExpressions"))
        {
            const char *key = json_string(expr, "key"), *op = json_string(expr, "operator");
            const cJSON *v;

            if (key == NULL || strcmp(key, label) != 0 || op == NULL || strcmp(op, "In") != 0)
                continue;
            cJSON_ArrayForEach(v, json_get(expr, "values"))
            {
                if (!cJSON_IsString(v) || policy_strings_contains(allowed, v->valuestring))
                    continue;
                policy_strings_join(allowed, list, sizeof(list));
                snprintf(why, why_size,
                         "node affinity pins %s to \"%s\", which tenant \"%s\" "
                         "may not use (allowed: %s)",
                         label, v->valuestring, c->tenant->name, list);
                return -1;
            }
        }
    }
    return 0;
}

/* Checks the per-pod cap and the quota ceiling of every resource. Returns 0 or -1 with why. */
static int
decide_amounts(const struct decide_ctx *c, const struct gpu_amounts *a, char *why, size_t why_size)
{
    const struct policy_tenant *t = c->tenant;

    for (size_t i = 0; i < a->count; i++) {
        const struct gpu_resource *g = &a->items[i];
        int64_t ceiling = policy_tenant_quota_for(t, g->name);

        if (t->max_gpus_per_pod >= 0 && g->amount > t->max_gpus_per_pod) {
            snprintf(why, why_size,
                     "pod asks for %lld %s; tenant \"%s\" allows at most %lld "
                     "per pod",
                     (long long)g->amount, g->name, t->name, (long long)t->max_gpus_per_pod);
            return -1;
        }
        if (ceiling >= 0 && g->amount > ceiling) {
            snprintf(why, why_size, "pod asks for %lld %s, above tenant \"%s\"'s quota of %lld",
                     (long long)g->amount, g->name, t->name, (long long)ceiling);
            return -1;
        }
    }
    return 0;
}

/* Warns a pod that asks for several replicas of a shared GPU: they do not add compute. */
static void
decide_replica_warning(struct decide_ctx *c, const struct gpu_amounts *a)
{
    char buf[WHY_MAX];

    if (c->ep != DECIDE_VALIDATE)
        return;
    for (size_t i = 0; i < a->count; i++) {
        const struct gpu_resource *g = &a->items[i];
        bool shared =
            g->kind == GPU_SHARED || g->kind == GPU_MIG_SHARED ||
            (g->kind == GPU_WHOLE && (c->tenant->sharing & (SHARING_TIME_SLICING | SHARING_MPS)));

        if (!shared || g->amount <= 1)
            continue;
        snprintf(buf, sizeof(buf),
                 "%lld %s may be replicas of one shared GPU: they do not add "
                 "compute in proportion",
                 (long long)g->amount, g->name);
        decide_warn(c->out, buf);
    }
}

/*
 * Judges a pod (or, with check_mutation false, a pod whose mutation is not expected) and, for
 * /mutate, computes its patch. Sets no verdict when every rule passes.
 */
static void
decide_pod(struct decide_ctx *c, const cJSON *pod, bool check_mutation)
{
    const struct policy *p = c->p;
    struct decision *d = c->out;
    const cJSON *spec = json_get(pod, "spec");
    struct gpu_amounts amounts, dra;
    struct placement pl = {0};
    bool placed = false, dra_pod;
    char why[WHY_MAX], dra_why[WHY_MAX];
    enum resources_result r, dr;
    const char *sa, *node_name = json_string(spec, "nodeName");

    r = resources_for_pod_spec(spec, &amounts, why, sizeof(why));
    if (r == RESOURCES_INVALID) {
        decide_error(d, "%s%s", c->subject, why);
        return;
    }
    /*
     * GPUs through DRA: deviceclass.resource.kubernetes.io/<class> resources of a GPU class, or
     * (in a tenant namespace) claims, whose GPU requests were judged when they were created.
     */
    dr = dra_pod_amounts(p, spec, &dra, dra_why, sizeof(dra_why));
    if (dr == RESOURCES_INVALID) {
        decide_error(d, "%s%s", c->subject, dra_why);
        return;
    }
    dra_pod =
        dra.count > 0 || dr != RESOURCES_OK ||
        (c->tenant != NULL && p->dra.pods_with_claims_are_gpu_pods && dra_pod_has_claims(spec));
    if (amounts.count == 0 && r == RESOURCES_OK && !dra_pod) {
        if (p->deny_toleration_without_gpu &&
            decide_tolerates_gpu_nodes(p, json_get(spec, "tolerations"))) {
            snprintf(why, sizeof(why),
                     "pod requests no GPU but tolerates the GPU nodes' taint "
                     "%s: only GPU pods may run there",
                     p->toleration.key);
            decide_violation(c, why);
        }
        return;
    }
    if (r != RESOURCES_OK || dr != RESOURCES_OK) {
        decide_violation(c, r != RESOURCES_OK ? why : dra_why);
        return;
    }
    if (c->tenant == NULL) {
        snprintf(why, sizeof(why),
                 "namespace \"%s\" belongs to no GPU tenant: GPUs are not "
                 "given here",
                 c->name_space);
        decide_violation(c, why);
        return;
    }
    d->tenant = c->tenant->name;
    /* A pod with DRA GPUs only gets no node affinity: its claims carry the tenant's selector. */
    placed =
        amounts.count == 0 || placement_for_pod(p, c->tenant, &amounts, &pl, why, sizeof(why)) == 0;
    sa = json_string(spec, "serviceAccountName");
    if (sa == NULL || *sa == '\0')
        sa = "default";
    if (!policy_tenant_allows_service_account(c->tenant, sa)) {
        char list[WHY_MAX / 2];
        size_t used = 0;

        list[0] = '\0';
        for (size_t i = 0; i < c->tenant->npatterns; i++) {
            int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
                             c->tenant->patterns[i].source);
            if (n < 0 || (size_t)n >= sizeof(list) - used)
                break;
            used += (size_t)n;
        }
        snprintf(why, sizeof(why),
                 "service account \"%s\" may not use GPUs of tenant \"%s\" "
                 "(allowed: %s)",
                 sa, c->tenant->name, list);
        decide_violation(c, why);
    } else if (!placed || decide_amounts(c, &amounts, why, sizeof(why)) < 0 ||
               dra_pod_check_amounts(p, c->tenant, &dra, why, sizeof(why)) < 0 ||
               decide_product_pins(c, spec, &pl, why, sizeof(why)) < 0) {
        /* why holds the first rule that failed; placement failures fill it first. */
        decide_violation(c, why);
    } else if (amounts.count > 0 && node_name != NULL && *node_name != '\0') {
        /* Only the node placement is bypassed: the scheduler still allocates a pod's claims. */
        decide_violation(c, "spec.nodeName is set: it bypasses the scheduler and so the GPU "
                            "placement; leave scheduling to the scheduler");
    } else {
        decide_replica_warning(c, &amounts);
    }

    if (placed && (!d->violation || d->mode != POLICY_MODE_ENFORCE)) {
        cJSON *patch = patch_for_pod(p, c->tenant, pod, &pl);

        if (c->ep == DECIDE_MUTATE) {
            d->patch = patch;
        } else {
            cJSON_Delete(patch);
            if (patch != NULL && check_mutation && !d->violation)
                decide_violation(c, "pod lacks the GPU toleration, placement or tenant label "
                                    "that the mutating webhook adds: was it skipped?");
        }
    }
    placement_clear(&pl);
}

/*
 * Pods are nearly immutable, and updates to running pods must keep working: only an update that
 * newly tolerates the GPU taint is judged, as if the pod were created with it.
 */
static void
decide_pod_update(struct decide_ctx *c, const cJSON *pod, const cJSON *old)
{
    const cJSON *tols = json_get(json_get(pod, "spec"), "tolerations");
    const cJSON *old_tols = json_get(json_get(old, "spec"), "tolerations");

    if (c->ep != DECIDE_VALIDATE || !decide_tolerates_gpu_nodes(c->p, tols) ||
        decide_tolerates_gpu_nodes(c->p, old_tols))
        return;
    decide_pod(c, pod, false);
}

/* Returns the pod template of a workload object, or NULL. */
static const cJSON *
decide_template_of(const cJSON *object, bool cron)
{
    const cJSON *spec = json_get(object, "spec");

    if (cron)
        spec = json_get(json_get(spec, "jobTemplate"), "spec");
    return json_get(spec, "template");
}

/*
 * Judges a workload's pod template with the pod rules, but for the mutation (templates are not
 * mutated), so a refusal shows at kubectl apply rather than in a ReplicaSet's events. An update
 * that leaves the template as it was (scale, labels) is allowed, so existing workloads can
 * always be scaled down.
 */
static void
decide_workload(struct decide_ctx *c, const char *op, const char *kind, bool cron,
                const cJSON *request)
{
    const cJSON *object = json_get(request, "object");
    const cJSON *tmpl = decide_template_of(object, cron);
    const char *name = json_string(json_get(object, "metadata"), "name");
    char *subject;

    if (c->ep != DECIDE_VALIDATE || tmpl == NULL)
        return;
    if (strcmp(op, "UPDATE") == 0 &&
        cJSON_Compare(tmpl, decide_template_of(json_get(request, "oldObject"), cron), true))
        return;
    if (name == NULL || *name == '\0')
        name = json_string(request, "name");
    subject = xasprintf("%s \"%s\": ", kind, name ? name : "");
    c->subject = subject;
    if (!cJSON_IsObject(json_get(tmpl, "spec")))
        decide_error(c->out, "%spod template has no spec", subject);
    else
        decide_pod(c, tmpl, false);
    c->subject = "";
    free(subject);
}

static bool
decide_is_quota_admin(const struct policy *p, const cJSON *request)
{
    const cJSON *user = json_get(request, "userInfo"), *g;
    const char *name = json_string(user, "username");

    if (name != NULL && policy_strings_contains(&p->quota_admin_users, name))
        return true;
    cJSON_ArrayForEach(
        g, json_get(user, "groups")) if (cJSON_IsString(g) &&
                                         policy_strings_contains(&p->quota_admin_groups,
                                                                 g->valuestring)) return true;
    return false;
}

/*
 * Returns the GPU resource a quota key names ("requests.nvidia.com/gpu" gives
 * "nvidia.com/gpu"), or NULL; *counted is true only for the "requests." form, the one
 * Kubernetes enforces for extended resources.
 */
static const char *
decide_quota_resource(const struct policy *p, const char *key, bool *counted)
{
    static const char requests[] = "requests.", limits[] = "limits.";
    enum gpu_kind kind;
    const char *name = key;

    *counted = strncmp(key, requests, sizeof(requests) - 1) == 0;
    if (*counted)
        name = key + sizeof(requests) - 1;
    else if (strncmp(key, limits, sizeof(limits) - 1) == 0)
        name = key + sizeof(limits) - 1;
    if (resources_classify(name, &kind, NULL, 0))
        return name;
    /* DRA keys of GPU classes: the devices count, and the implicit extended resource. */
    return dra_quota_resource(p, key, counted);
}

/* Returns true when a quota object has a counted ("requests.") GPU entry. */
static bool
decide_quota_has_gpu(const struct policy *p, const cJSON *quota, const char *only)
{
    const cJSON *e;
    bool counted;

    cJSON_ArrayForEach(e, json_get(json_get(quota, "spec"), "hard"))
    {
        if (e->string != NULL && decide_quota_resource(p, e->string, &counted) != NULL && counted &&
            (only == NULL || strcmp(e->string, only) == 0))
            return true;
    }
    return false;
}

/*
 * Guards GPU ResourceQuotas: the policy's quota is the ceiling, and only quota admins may lift
 * it by raising, emptying or deleting the quota that enforces it.
 */
static void
decide_quota(struct decide_ctx *c, const char *op, const cJSON *request)
{
    const cJSON *object = json_get(request, "object");
    const cJSON *old = json_get(request, "oldObject");
    const char *name = json_string(request, "name");
    const cJSON *e;
    char why[WHY_MAX];
    bool counted;

    if (c->ep != DECIDE_VALIDATE || decide_is_quota_admin(c->p, request))
        return;
    if (name == NULL)
        name = "";
    if (strcmp(op, "DELETE") == 0) {
        if (c->tenant != NULL && decide_quota_has_gpu(c->p, old, NULL)) {
            snprintf(why, sizeof(why),
                     "deleting ResourceQuota \"%s\" would lift tenant \"%s\"'s "
                     "GPU ceiling; only quota admins may",
                     name, c->tenant->name);
            decide_violation(c, why);
        }
        return;
    }
    if (strcmp(op, "CREATE") != 0 && strcmp(op, "UPDATE") != 0)
        return;
    if (!cJSON_IsObject(object)) {
        decide_error(c->out, "%s request has no ResourceQuota object", op);
        return;
    }
    cJSON_ArrayForEach(e, json_get(json_get(object, "spec"), "hard"))
    {
        const char *resource = e->string ? decide_quota_resource(c->p, e->string, &counted) : NULL;
        char text[64];
        int64_t value, ceiling;

        if (resource == NULL)
            continue;
        if (!counted) {
            /* What to write comes first: DRA keys are long, and warnings are cut at 120. */
            snprintf(why, sizeof(why),
                     "use requests.%s: Kubernetes ignores quota key %s for extended resources",
                     resource, e->string);
            decide_warn(c->out, why);
            continue;
        }
        if (cJSON_IsString(e))
            snprintf(text, sizeof(text), "%s", e->valuestring);
        else if (cJSON_IsNumber(e))
            snprintf(text, sizeof(text), "%g", e->valuedouble);
        else
            text[0] = '\0';
        if (quantity_parse(text, strlen(text), &value) != QUANTITY_OK) {
            decide_error(c->out, "ResourceQuota \"%s\": %s \"%s\" is not a whole number", name,
                         e->string, text);
            return;
        }
        if (c->tenant == NULL && value > 0) {
            snprintf(why, sizeof(why),
                     "ResourceQuota \"%s\" grants %s=%lld, but namespace \"%s\" "
                     "belongs to no GPU tenant: GPUs are not given here",
                     name, e->string, (long long)value, c->name_space);
            decide_violation(c, why);
            return;
        }
        ceiling = c->tenant ? policy_tenant_quota_for(c->tenant, resource) : -1;
        if (ceiling >= 0 && value > ceiling) {
            snprintf(why, sizeof(why),
                     "ResourceQuota \"%s\" sets %s to %lld, above tenant \"%s\"'s "
                     "ceiling of %lld",
                     name, e->string, (long long)value, c->tenant->name, (long long)ceiling);
            decide_violation(c, why);
            return;
        }
    }
    if (strcmp(op, "UPDATE") != 0 || c->tenant == NULL)
        return;
    cJSON_ArrayForEach(e, json_get(json_get(old, "spec"), "hard"))
    {
        if (e->string == NULL || decide_quota_resource(c->p, e->string, &counted) == NULL ||
            !counted || decide_quota_has_gpu(c->p, object, e->string))
            continue;
        snprintf(why, sizeof(why),
                 "updating ResourceQuota \"%s\" removes %s, which would lift "
                 "tenant \"%s\"'s GPU ceiling; only quota admins may",
                 name, e->string, c->tenant->name);
        decide_violation(c, why);
        return;
    }
}

/*
 * ResourceClaims and ResourceClaimTemplates: CREATE is judged and, on /mutate, pinned to the
 * tenant's devices. Their specs are immutable, so an UPDATE changes only status or metadata and
 * is allowed.
 */
static void
decide_claim(struct decide_ctx *c, const char *op, const char *kind, enum dra_object what,
             const cJSON *request)
{
    const cJSON *object = json_get(request, "object");
    const char *name = json_string(json_get(object, "metadata"), "name");
    struct decision *d = c->out;
    struct dra_findings f;
    char *subject;

    if (strcmp(op, "CREATE") != 0)
        return;
    if (!cJSON_IsObject(object)) {
        decide_error(d, "%s request has no %s object", op, kind);
        return;
    }
    if (name == NULL || *name == '\0')
        name = json_string(request, "name");
    dra_judge_claim(c->p, c->tenant, c->name_space, what, request, &f);
    if (!f.gpu && f.error == 0) {
        dra_findings_clear(&f);
        return;
    }
    subject = xasprintf("%s \"%s\": ", kind, name ? name : "");
    c->subject = subject;
    if (f.error != 0) {
        decide_error(d, "%s%s", subject, f.why);
    } else {
        if (f.violation)
            decide_violation(c, f.why);
        else if (c->ep == DECIDE_VALIDATE && f.lacks_selector)
            decide_violation(c, "a GPU request lacks the tenant's device selector that the "
                                "mutating webhook adds: was it skipped?");
        for (size_t i = 0; c->ep == DECIDE_VALIDATE && i < f.nwarnings; i++)
            decide_warn(d, f.warnings[i]);
        /* As for pods: a refused object is not mutated in enforce mode, and is in the others. */
        if (c->ep == DECIDE_MUTATE && c->tenant != NULL &&
            (!d->violation || d->mode != POLICY_MODE_ENFORCE)) {
            d->patch = f.patch;
            f.patch = NULL;
        }
    }
    c->subject = "";
    free(subject);
    dra_findings_clear(&f);
}

/*
 * DeviceClasses are cluster objects an admin creates: one that hands out the GPU driver's devices
 * but is not listed in the policy is not judged at all, so the admin is told.
 */
static void
decide_device_class(struct decide_ctx *c, const char *op, const cJSON *request)
{
    char why[WHY_MAX];

    if (c->ep != DECIDE_VALIDATE || (strcmp(op, "CREATE") != 0 && strcmp(op, "UPDATE") != 0))
        return;
    if (dra_device_class_warning(c->p, json_get(request, "object"), why, sizeof(why)))
        decide_warn(c->out, why);
}

/* Pods: CREATE is judged in full; UPDATE only for a newly added GPU toleration. */
static void
decide_pod_request(struct decide_ctx *c, const char *op, const cJSON *request)
{
    const cJSON *object = json_get(request, "object");

    if (strcmp(op, "CREATE") != 0 && strcmp(op, "UPDATE") != 0)
        return;
    if (!cJSON_IsObject(object) || !cJSON_IsObject(json_get(object, "spec"))) {
        decide_error(c->out, "%s request has no pod object with a spec", op);
        return;
    }
    if (strcmp(op, "CREATE") == 0)
        decide_pod(c, object, true);
    else
        decide_pod_update(c, object, json_get(request, "oldObject"));
}

void
decide_request(const struct policy *p, enum decide_endpoint ep, const cJSON *request,
               struct decision *out)
{
    static const struct {
        const char *group, *kind;
        bool cron;
    } workloads[] = {
        {"apps", "Deployment", false},  {"apps", "ReplicaSet", false},
        {"apps", "StatefulSet", false}, {"apps", "DaemonSet", false},
        {"batch", "Job", false},        {"batch", "CronJob", true},
    };
    const cJSON *kind = json_get(request, "kind");
    const char *group = json_string(kind, "group"), *kname = json_string(kind, "kind");
    const char *op = json_string(request, "operation");
    const char *ns = json_string(request, "namespace");
    const char *sub = json_string(request, "subResource");
    struct decide_ctx c = {.p = p, .ep = ep, .subject = "", .out = out};

    memset(out, 0, sizeof(*out));
    out->allowed = true;
    out->mode = p->mode;
    if (kname == NULL || op == NULL) {
        decide_error(out, "request has no kind or operation");
        return;
    }
    if (group == NULL)
        group = "";
    if (ns == NULL)
        ns = "";
    /* Subresources (status, binding, eviction, scale) carry no new GPU request. */
    if (policy_namespace_is_exempt(p, ns) || (sub != NULL && *sub != '\0'))
        return;
    c.name_space = ns;
    c.tenant = policy_tenant_for_namespace(p, ns);
    out->mode = policy_mode_for(p, c.tenant);
    if (c.tenant != NULL)
        out->tenant = policy_tenant_name(c.tenant);

    if (*group == '\0' && strcmp(kname, "Pod") == 0) {
        decide_pod_request(&c, op, request);
        return;
    }
    if (*group == '\0' && strcmp(kname, "ResourceQuota") == 0) {
        decide_quota(&c, op, request);
        return;
    }
    if (strcmp(group, "resource.k8s.io") == 0) {
        if (strcmp(kname, "ResourceClaim") == 0)
            decide_claim(&c, op, kname, DRA_CLAIM, request);
        else if (strcmp(kname, "ResourceClaimTemplate") == 0)
            decide_claim(&c, op, kname, DRA_CLAIM_TEMPLATE, request);
        else if (strcmp(kname, "DeviceClass") == 0)
            decide_device_class(&c, op, request);
        return;
    }
    for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++) {
        if (strcmp(group, workloads[i].group) == 0 && strcmp(kname, workloads[i].kind) == 0) {
            if (strcmp(op, "CREATE") == 0 || strcmp(op, "UPDATE") == 0)
                decide_workload(&c, op, kname, workloads[i].cron, request);
            return;
        }
    }
}

void
decision_clear(struct decision *d)
{
    free(d->message);
    for (size_t i = 0; i < d->nwarnings; i++)
        free(d->warnings[i]);
    cJSON_Delete(d->patch);
    memset(d, 0, sizeof(*d));
}
