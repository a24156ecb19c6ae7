/* SPDX-License-Identifier: Apache-2.0 */
/* Dynamic Resource Allocation: GPU device classes, the tenant's CEL selector, and the rules for
 * ResourceClaims, their templates, DeviceClasses and the DRA side of pods. */
#include "policy/dra.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/json.h"
#include "policy/patch.h"
#include "policy/quantity.h"
#include "policy/resources.h"
#include "policy/xalloc.h"

#define TENANT_LABEL "gpu-tenancy.io/tenant"
#define TENANT_LABEL_POINTER "gpu-tenancy.io~1tenant" /* "/" escaped as "~1" (RFC 6901) */

/* The opaque configuration NVIDIA's driver reads (api/nvidia.com/resource/v1beta1). */
#define NVIDIA_CONFIG_API_VERSION "resource.nvidia.com/v1beta1"

/* Annotations Kubernetes puts on the claims it makes itself. */
#define POD_CLAIM_NAME_ANNOTATION "resource.kubernetes.io/pod-claim-name"
#define EXTENDED_CLAIM_ANNOTATION "resource.kubernetes.io/extended-resource-claim"

/* Who makes those claims: the scheduler (for extended resources served through DRA) and the
 * resource-claim controller (for claims from templates), with or without per-controller
 * service-account credentials. The annotations alone can be written by anyone. */
#define SCHEDULER_USER "system:kube-scheduler"
static const char *const claim_controller_users[] = {
    "system:serviceaccount:kube-system:resource-claim-controller",
    "system:kube-controller-manager",
};

/* A count far above any node's devices, below anything that could overflow a sum of them. */
#define DRA_MAX_COUNT 1000000

/* ---------------------------------------------------------------------------------------- */
/* Classes and tenants                                                                       */
/* ---------------------------------------------------------------------------------------- */

const struct policy_dra_class *
dra_class_find(const struct policy *p, const char *name)
{
    size_t lo = 0, hi = p->dra.nclasses;

    /* Sorted at load, so a binary search. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, p->dra.classes[mid].name);

        if (c == 0)
            return &p->dra.classes[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *
dra_class_kind_name(enum dra_class_kind kind)
{
    return kind == DRA_CLASS_MIG ? "mig" : "gpu";
}

static bool
dra_kind_allowed(const struct policy_tenant *t, enum dra_class_kind kind)
{
    if (kind == DRA_CLASS_MIG)
        return (t->sharing & SHARING_MIG) != 0;
    return (t->sharing & (SHARING_EXCLUSIVE | SHARING_TIME_SLICING | SHARING_MPS)) != 0;
}

bool
dra_tenant_may_use_class(const struct policy_tenant *t, const struct policy_dra_class *c)
{
    if (!dra_kind_allowed(t, c->kind))
        return false;
    return !t->has_device_classes || policy_strings_contains(&t->device_classes, c->name);
}

/* Writes the sharing strategies in bits as the policy spells them, comma-separated. */
static void
dra_sharing_names(unsigned bits, char *buf, size_t size)
{
    static const char *const names[] = {"exclusive", "time-slicing", "mps", "mig"};
    static const unsigned flags[] = {SHARING_EXCLUSIVE, SHARING_TIME_SLICING, SHARING_MPS,
                                     SHARING_MIG};
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < 4; i++) {
        int n;

        if (!(bits & flags[i]))
            continue;
        n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", names[i]);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

/* Says what sharing a request gets: "time-slicing", or "mig with mps" for a shared MIG device. */
static void
dra_gets_text(unsigned need, char *buf, size_t size)
{
    char rest[64];

    dra_sharing_names(need & ~(unsigned)SHARING_MIG, rest, sizeof(rest));
    if (!(need & SHARING_MIG))
        snprintf(buf, size, "%s", rest);
    else if (rest[0] != '\0')
        snprintf(buf, size, "mig with %s", rest);
    else
        snprintf(buf, size, "mig");
}

/*
 * Says why tenant t may not use class c (what names the asker, e.g. `request "gpu"`). Call only
 * when dra_tenant_may_use_class is false.
 */
static void
dra_class_refusal(const struct policy_tenant *t, const struct policy_dra_class *c, const char *what,
                  char *why, size_t size)
{
    char list[DRA_WHY_MAX / 2];

    if (c->kind == DRA_CLASS_MIG && !dra_kind_allowed(t, c->kind)) {
        snprintf(why, size,
                 "%s: device class \"%s\" hands out MIG devices, but tenant \"%s\"'s sharing "
                 "does not have mig",
                 what, c->name, t->name);
    } else if (!dra_kind_allowed(t, c->kind)) {
        snprintf(why, size,
                 "%s: device class \"%s\" hands out whole GPUs, but tenant \"%s\" allows only "
                 "mig",
                 what, c->name, t->name);
    } else {
        policy_strings_join(&t->device_classes, list, sizeof(list));
        snprintf(why, size, "%s: tenant \"%s\" may not use device class \"%s\" (allowed: %s)", what,
                 t->name, c->name, t->device_classes.count ? list : "none");
    }
}

/* ---------------------------------------------------------------------------------------- */
/* The CEL selector                                                                          */
/* ---------------------------------------------------------------------------------------- */

/* Appends "'a', 'b'" for the strings of l to *s (owned, reallocated). */
static void
dra_append_list(char **s, const struct policy_strings *l)
{
    for (size_t i = 0; i < l->count; i++) {
        char *next = xasprintf("%s%s'%s'", *s, i ? ", " : "", l->items[i]);

        free(*s);
        *s = next;
    }
}

/*
 * The products are GPU Feature Discovery label values, which GFD makes from the NVML device name
 * by replacing each space with '-'; the driver's productName attribute is that NVML name. So the
 * attribute gets the same replacement before the comparison. Both attributes are guarded with
 * `in`, since reading an attribute a device lacks is an evaluation error, not false.
 */
char *
dra_selector_new(const struct policy *p, const struct policy_tenant *t, enum dra_class_kind kind)
{
    const char *d = p->dra.driver;
    char *s = xasprintf("'productName' in device.attributes['%s'] && "
                        "device.attributes['%s'].productName.replace(' ', '-') in [",
                        d, d);
    char *out;

    dra_append_list(&s, &t->products);
    if (kind == DRA_CLASS_MIG) {
        out = xasprintf("%s] && 'profile' in device.attributes['%s'] && "
                        "device.attributes['%s'].profile in [",
                        s, d, d);
        free(s);
        s = out;
        dra_append_list(&s, &t->mig_profiles);
    }
    out = xasprintf("%s]", s);
    free(s);
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* Quota keys                                                                                */
/* ---------------------------------------------------------------------------------------- */

static bool
dra_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n > m && strcmp(s + n - m, suffix) == 0;
}

bool
dra_quota_parse(const char *resource, char *cls, size_t cls_size, char *norm, size_t norm_size)
{
    static const char requests[] = "requests.";
    const char *name = resource;
    size_t len;

    if (dra_has_suffix(resource, DRA_DEVICES_SUFFIX)) {
        len = strlen(resource) - strlen(DRA_DEVICES_SUFFIX);
        snprintf(cls, cls_size, "%.*s", (int)len, resource);
        snprintf(norm, norm_size, "%s", resource);
        return true;
    }
    if (strncmp(name, requests, sizeof(requests) - 1) == 0)
        name += sizeof(requests) - 1;
    if (strncmp(name, DRA_IMPLICIT_PREFIX, strlen(DRA_IMPLICIT_PREFIX)) != 0 ||
        name[strlen(DRA_IMPLICIT_PREFIX)] == '\0')
        return false;
    snprintf(cls, cls_size, "%s", name + strlen(DRA_IMPLICIT_PREFIX));
    snprintf(norm, norm_size, "%s", name);
    return true;
}

const char *
dra_quota_resource(const struct policy *p, const char *key, bool *counted)
{
    static const char requests[] = "requests.", limits[] = "limits.";
    const char *name = key;
    size_t len;
    char cls[256];

    if (dra_has_suffix(key, DRA_DEVICES_SUFFIX)) {
        len = strlen(key) - strlen(DRA_DEVICES_SUFFIX);
        if (len >= sizeof(cls))
            return NULL;
        memcpy(cls, key, len);
        cls[len] = '\0';
        *counted = true;
        return dra_class_find(p, cls) != NULL ? key : NULL;
    }
    *counted = strncmp(key, requests, sizeof(requests) - 1) == 0;
    if (*counted)
        name = key + sizeof(requests) - 1;
    else if (strncmp(key, limits, sizeof(limits) - 1) == 0)
        name = key + sizeof(limits) - 1;
    if (strncmp(name, DRA_IMPLICIT_PREFIX, strlen(DRA_IMPLICIT_PREFIX)) != 0)
        return NULL;
    return dra_class_find(p, name + strlen(DRA_IMPLICIT_PREFIX)) != NULL ? name : NULL;
}

int64_t
dra_class_ceiling(const struct policy_tenant *t, const char *cls)
{
    int64_t best = -1;

    if (!t->has_quota)
        return -1;
    for (size_t i = 0; i < t->nquota; i++) {
        const char *r = t->quota[i].resource;
        size_t n = strlen(cls);
        bool match = (strncmp(r, cls, n) == 0 && strcmp(r + n, DRA_DEVICES_SUFFIX) == 0) ||
                     (strncmp(r, DRA_IMPLICIT_PREFIX, strlen(DRA_IMPLICIT_PREFIX)) == 0 &&
                      strcmp(r + strlen(DRA_IMPLICIT_PREFIX), cls) == 0);

        if (match && (best < 0 || t->quota[i].ceiling < best))
            best = t->quota[i].ceiling;
    }
    return best < 0 ? 0 : best;
}

/* ---------------------------------------------------------------------------------------- */
/* Claims: reading                                                                           */
/* ---------------------------------------------------------------------------------------- */

/* One GPU request or subrequest: one whose deviceClassName is a listed class. */
struct dra_req {
    const char *request; /* the request's name */
    const char *sub;     /* the subrequest's name, or NULL for "exactly" */
    const struct policy_dra_class *cls;
    const cJSON *body; /* the "exactly" object or the subrequest */
    size_t group;      /* the request's index: subrequests of one request share it */
    char path[96];     /* JSON Pointer to body */
    bool all;          /* allocationMode All */
    int64_t count;     /* ExactCount's count */
    bool admin;        /* adminAccess: true */
};

enum dra_config_kind {
    CONFIG_GPU,  /* GpuConfig */
    CONFIG_MIG,  /* MigDeviceConfig */
    CONFIG_VFIO, /* VfioDeviceConfig: passthrough, no sharing */
};

enum dra_strategy {
    STRATEGY_DEFAULT, /* no sharing written: the driver's default applies */
    STRATEGY_TIME_SLICING,
    STRATEGY_MPS,
    STRATEGY_PASSTHROUGH,
};

/* One configuration for the driver. */
struct dra_config {
    size_t index;          /* position in config[] */
    const cJSON *requests; /* the requests it names; empty or absent: all */
    enum dra_config_kind kind;
    enum dra_strategy strategy;
};

struct dra_claim {
    const struct policy *p;
    const struct policy_tenant *t;
    const char *prefix; /* JSON Pointer to the devices object */
    struct dra_req *reqs;
    size_t nreqs, cap;
    size_t group; /* the index of the request being read */
    struct dra_config *configs;
    size_t nconfigs, config_cap;
    struct dra_findings *out;
};

static void dra_fail(struct dra_findings *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records that the object cannot be read: a 400, whatever the mode. */
static void
dra_fail(struct dra_findings *f, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(f->why, sizeof(f->why), fmt, ap);
    va_end(ap);
    f->error = 400;
}

static void
dra_warn(struct dra_findings *f, const char *text)
{
    if (f->nwarnings == DRA_WARNINGS_MAX)
        return;
    snprintf(f->warnings[f->nwarnings++], DRA_WHY_MAX, "%s", text);
}

/* Reads allocationMode and count. Returns 0, or -1 after dra_fail. */
static int
dra_read_mode(struct dra_claim *cl, struct dra_req *r, const char *what)
{
    const cJSON *mode = json_get(r->body, "allocationMode");
    const cJSON *count = json_get(r->body, "count");

    r->count = 1;
    if (mode != NULL && !cJSON_IsNull(mode) &&
        !(cJSON_IsString(mode) &&
          (strcmp(mode->valuestring, "") == 0 || strcmp(mode->valuestring, "ExactCount") == 0 ||
           strcmp(mode->valuestring, "All") == 0))) {
        /* The API says clients must refuse modes they do not know. */
        if (cJSON_IsString(mode))
            dra_fail(cl->out, "%s: unknown allocationMode \"%.60s\" (expected ExactCount or All)",
                     what, mode->valuestring);
        else
            dra_fail(cl->out, "%s: allocationMode is not a string", what);
        return -1;
    }
    r->all = mode != NULL && cJSON_IsString(mode) && strcmp(mode->valuestring, "All") == 0;
    if (count == NULL || cJSON_IsNull(count) || r->all)
        return 0;
    /* In range before the cast, so the cast is defined (JSON has no NaN). */
    if (!cJSON_IsNumber(count) || count->valuedouble < 1 || count->valuedouble > DRA_MAX_COUNT ||
        (double)(int64_t)count->valuedouble != count->valuedouble) {
        dra_fail(cl->out, "%s: count must be a whole number from 1 to %d", what, DRA_MAX_COUNT);
        return -1;
    }
    r->count = (int64_t)count->valuedouble;
    return 0;
}

/* Records body as a GPU request when its class is listed. Returns 0, or -1 after dra_fail. */
static int
dra_add_request(struct dra_claim *cl, const char *request, const char *sub, const cJSON *body,
                const char *path)
{
    const char *cname = json_string(body, "deviceClassName");
    const struct policy_dra_class *cls = cname != NULL ? dra_class_find(cl->p, cname) : NULL;
    const cJSON *admin = json_get(body, "adminAccess");
    struct dra_req *r;
    char what[160];

    if (cls == NULL)
        return 0;
    xgrow(&cl->reqs, &cl->cap, cl->nreqs + 1, sizeof(*cl->reqs));
    r = &cl->reqs[cl->nreqs];
    memset(r, 0, sizeof(*r));
    r->request = request;
    r->sub = sub;
    r->cls = cls;
    r->body = body;
    r->group = cl->group;
    snprintf(r->path, sizeof(r->path), "%s", path);
    r->admin = sub == NULL && cJSON_IsTrue(admin);
    if (sub != NULL)
        snprintf(what, sizeof(what), "request \"%.60s/%.60s\"", request, sub);
    else
        snprintf(what, sizeof(what), "request \"%.60s\"", request);
    if (dra_read_mode(cl, r, what) < 0)
        return -1;
    cl->nreqs++;
    return 0;
}

/* Collects the GPU requests and subrequests of devices. Returns 0, or -1 after dra_fail. */
static int
dra_read_requests(struct dra_claim *cl, const cJSON *devices)
{
    const cJSON *requests = json_get(devices, "requests"), *r;
    int i = 0;

    if (requests == NULL || cJSON_IsNull(requests))
        return 0;
    if (!cJSON_IsArray(requests)) {
        dra_fail(cl->out, "devices.requests is not a list");
        return -1;
    }
    cJSON_ArrayForEach(r, requests)
    {
        const char *name = json_string(r, "name");
        const cJSON *exactly = json_get(r, "exactly"), *first = json_get(r, "firstAvailable"), *s;
        char path[96];
        int j = 0;

        if (!cJSON_IsObject(r)) {
            dra_fail(cl->out, "devices.requests[%d] is not an object", i);
            return -1;
        }
        if (name == NULL)
            name = "";
        cl->group = (size_t)i;
        if (cJSON_IsObject(exactly)) {
            snprintf(path, sizeof(path), "%s/requests/%d/exactly", cl->prefix, i);
            if (dra_add_request(cl, name, NULL, exactly, path) < 0)
                return -1;
        } else if (exactly != NULL && !cJSON_IsNull(exactly)) {
            dra_fail(cl->out, "request \"%.60s\": exactly is not an object", name);
            return -1;
        }
        if (first != NULL && !cJSON_IsNull(first) && !cJSON_IsArray(first)) {
            dra_fail(cl->out, "request \"%.60s\": firstAvailable is not a list", name);
            return -1;
        }
        cJSON_ArrayForEach(s, first)
        {
            const char *sub = json_string(s, "name");

            if (!cJSON_IsObject(s)) {
                dra_fail(cl->out, "request \"%.60s\": firstAvailable[%d] is not an object", name,
                         j);
                return -1;
            }
            snprintf(path, sizeof(path), "%s/requests/%d/firstAvailable/%d", cl->prefix, i, j);
            if (dra_add_request(cl, name, sub != NULL ? sub : "", s, path) < 0)
                return -1;
            j++;
        }
        i++;
    }
    return 0;
}

/* Returns -1 after dra_fail when obj has a member not in names[0..n). */
static int
dra_only_keys(struct dra_claim *cl, const cJSON *obj, const char *const *names, size_t n,
              size_t index, const char *what)
{
    const cJSON *m;

    cJSON_ArrayForEach(m, obj)
    {
        size_t k;

        for (k = 0; k < n; k++) {
            if (m->string != NULL && strcmp(m->string, names[k]) == 0)
                break;
        }
        if (k == n) {
            /* NVIDIA's driver decodes its configuration strictly, so this claim would fail. */
            dra_fail(cl->out, "config[%zu] for driver %s: unknown field \"%.60s\" in %s", index,
                     cl->p->dra.driver, m->string ? m->string : "", what);
            return -1;
        }
    }
    return 0;
}

/* Reads the sharing of a GpuConfig or MigDeviceConfig. Returns 0, or -1 after dra_fail. */
static int
dra_read_sharing(struct dra_claim *cl, struct dra_config *c, const cJSON *sharing, const char *kind)
{
    static const char *const gpu_keys[] = {"strategy", "timeSlicingConfig", "mpsConfig"};
    static const char *const mig_keys[] = {"strategy", "mpsConfig"};
    static const char *const intervals[] = {"Default", "Short", "Medium", "Long"};
    static const char *const mps_keys[] = {"defaultActiveThreadPercentage",
                                           "defaultPinnedDeviceMemoryLimit",
                                           "defaultPerDevicePinnedMemoryLimit"};
    const char *strategy = json_string(sharing, "strategy");
    const cJSON *ts = json_get(sharing, "timeSlicingConfig"), *mps = json_get(sharing, "mpsConfig");
    const cJSON *pct;
    char what[64];

    c->strategy = STRATEGY_DEFAULT;
    if (sharing == NULL || cJSON_IsNull(sharing))
        return 0;
    if (!cJSON_IsObject(sharing)) {
        dra_fail(cl->out, "config[%zu] for driver %s: %s sharing is not an object", c->index,
                 cl->p->dra.driver, kind);
        return -1;
    }
    snprintf(what, sizeof(what), "%s sharing", kind);
    if (c->kind == CONFIG_GPU ? dra_only_keys(cl, sharing, gpu_keys, 3, c->index, what)
                              : dra_only_keys(cl, sharing, mig_keys, 2, c->index, what))
        return -1;
    if (strategy != NULL && strcmp(strategy, "TimeSlicing") == 0) {
        c->strategy = STRATEGY_TIME_SLICING;
    } else if (strategy != NULL && strcmp(strategy, "MPS") == 0) {
        c->strategy = STRATEGY_MPS;
    } else {
        dra_fail(cl->out,
                 "config[%zu] for driver %s: unknown sharing strategy \"%.60s\" in %s (expected "
                 "TimeSlicing or MPS)",
                 c->index, cl->p->dra.driver, strategy ? strategy : "", kind);
        return -1;
    }
    if (ts != NULL && !cJSON_IsNull(ts)) {
        const char *interval = json_string(ts, "interval");
        const cJSON *iv = json_get(ts, "interval");
        size_t k;

        if (c->strategy != STRATEGY_TIME_SLICING || !cJSON_IsObject(ts)) {
            dra_fail(cl->out,
                     "config[%zu] for driver %s: timeSlicingConfig needs strategy "
                     "TimeSlicing and an object",
                     c->index, cl->p->dra.driver);
            return -1;
        }
        for (k = 0; interval != NULL && k < 4; k++) {
            if (strcmp(interval, intervals[k]) == 0)
                break;
        }
        if (cJSON_GetArraySize(ts) > (iv != NULL ? 1 : 0) ||
            (iv != NULL && !cJSON_IsNull(iv) && (interval == NULL || k == 4))) {
            dra_fail(cl->out,
                     "config[%zu] for driver %s: timeSlicingConfig takes an interval of Default, "
                     "Short, Medium or Long",
                     c->index, cl->p->dra.driver);
            return -1;
        }
    }
    if (mps != NULL && !cJSON_IsNull(mps)) {
        if (c->strategy != STRATEGY_MPS || !cJSON_IsObject(mps)) {
            dra_fail(cl->out,
                     "config[%zu] for driver %s: mpsConfig needs strategy MPS and an object",
                     c->index, cl->p->dra.driver);
            return -1;
        }
        if (dra_only_keys(cl, mps, mps_keys, 3, c->index, "mpsConfig") < 0)
            return -1;
        pct = json_get(mps, "defaultActiveThreadPercentage");
        if (pct != NULL && !cJSON_IsNull(pct) &&
            (!cJSON_IsNumber(pct) || pct->valuedouble < 0 || pct->valuedouble > 100 ||
             (double)(int64_t)pct->valuedouble != pct->valuedouble)) {
            dra_fail(cl->out,
                     "config[%zu] for driver %s: defaultActiveThreadPercentage must be a whole "
                     "number from 0 to 100",
                     c->index, cl->p->dra.driver);
            return -1;
        }
    }
    return 0;
}

/*
 * Reads the configurations for the policy's driver; others are for other drivers and are not
 * this policy's business. One that the driver could not read is refused with the reason, so
 * the user hears it now rather than from a pod stuck in ContainerCreating. Returns 0, or -1
 * after dra_fail.
 */
static int
dra_read_configs(struct dra_claim *cl, const cJSON *devices)
{
    static const char *const sharing_keys[] = {"apiVersion", "kind", "sharing"};
    static const char *const vfio_keys[] = {"apiVersion", "kind", "iommu"};
    const cJSON *configs = json_get(devices, "config"), *cfg;
    const char *driver = cl->p->dra.driver;
    size_t index = 0;

    if (configs != NULL && !cJSON_IsNull(configs) && !cJSON_IsArray(configs)) {
        dra_fail(cl->out, "devices.config is not a list");
        return -1;
    }
    cJSON_ArrayForEach(cfg, configs)
    {
        const cJSON *opaque = json_get(cfg, "opaque"), *params = json_get(opaque, "parameters");
        const cJSON *requests = json_get(cfg, "requests"), *r;
        const char *drv = json_string(opaque, "driver");
        const char *api = json_string(params, "apiVersion"), *kind = json_string(params, "kind");
        struct dra_config c = {.index = index++, .requests = requests};

        if (drv == NULL || strcmp(drv, driver) != 0)
            continue;
        if (requests != NULL && !cJSON_IsNull(requests) && !cJSON_IsArray(requests)) {
            dra_fail(cl->out, "config[%zu]: requests is not a list", c.index);
            return -1;
        }
        cJSON_ArrayForEach(r, requests)
        {
            if (!cJSON_IsString(r)) {
                dra_fail(cl->out, "config[%zu]: requests has an entry that is not a string",
                         c.index);
                return -1;
            }
        }
        if (!cJSON_IsObject(params)) {
            dra_fail(cl->out, "config[%zu] for driver %s: parameters is not an object", c.index,
                     driver);
            return -1;
        }
        if (api == NULL || strcmp(api, NVIDIA_CONFIG_API_VERSION) != 0) {
            dra_fail(cl->out,
                     "config[%zu] for driver %s: unknown apiVersion \"%.60s\" (expected "
                     "" NVIDIA_CONFIG_API_VERSION ")",
                     c.index, driver, api ? api : "");
            return -1;
        }
        if (kind != NULL && strcmp(kind, "GpuConfig") == 0) {
            c.kind = CONFIG_GPU;
        } else if (kind != NULL && strcmp(kind, "MigDeviceConfig") == 0) {
            c.kind = CONFIG_MIG;
        } else if (kind != NULL && strcmp(kind, "VfioDeviceConfig") == 0) {
            c.kind = CONFIG_VFIO;
        } else {
            dra_fail(cl->out,
                     "config[%zu] for driver %s: unknown kind \"%.60s\" (expected GpuConfig, "
                     "MigDeviceConfig or VfioDeviceConfig)",
                     c.index, driver, kind ? kind : "");
            return -1;
        }
        if (c.kind == CONFIG_VFIO) {
            if (dra_only_keys(cl, params, vfio_keys, 3, c.index, kind) < 0)
                return -1;
            c.strategy = STRATEGY_PASSTHROUGH;
        } else if (dra_only_keys(cl, params, sharing_keys, 3, c.index, kind) < 0 ||
                   dra_read_sharing(cl, &c, json_get(params, "sharing"), kind) < 0) {
            return -1;
        }
        xgrow(&cl->configs, &cl->config_cap, cl->nconfigs + 1, sizeof(*cl->configs));
        cl->configs[cl->nconfigs++] = c;
    }
    return 0;
}

/* Returns true when a config's requests name r: "req" names it and its subrequests. */
static bool
dra_config_names(const struct dra_config *c, const struct dra_req *r)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, c->requests)
    {
        const char *s = e->valuestring, *slash = strchr(s, '/');

        if (slash == NULL && strcmp(s, r->request) == 0)
            return true;
        if (slash != NULL && r->sub != NULL && strncmp(s, r->request, (size_t)(slash - s)) == 0 &&
            r->request[slash - s] == '\0' && strcmp(slash + 1, r->sub) == 0)
            return true;
    }
    return false;
}

/*
 * Returns the config the driver applies to r, or NULL for none. The driver takes the last one
 * that names the request, or that names none and is of the device's type; a class kind tells
 * the type (gpu: GpuConfig, mig: MigDeviceConfig). A VfioDeviceConfig that names no request
 * applies to passthrough devices only, so it is passed over: judging the GpuConfig before it is
 * the stricter reading.
 */
static const struct dra_config *
dra_config_for(const struct dra_claim *cl, const struct dra_req *r)
{
    for (size_t i = cl->nconfigs; i-- > 0;) {
        const struct dra_config *c = &cl->configs[i];

        if (cJSON_GetArraySize(c->requests) > 0) {
            if (dra_config_names(c, r))
                return c;
            continue;
        }
        if ((c->kind == CONFIG_GPU && r->cls->kind == DRA_CLASS_GPU) ||
            (c->kind == CONFIG_MIG && r->cls->kind == DRA_CLASS_MIG))
            return c;
    }
    return NULL;
}

/* The sharing strategies a request needs from the tenant, given the config applied to it. */
static unsigned
dra_needed_sharing(const struct policy *p, enum dra_class_kind kind, enum dra_strategy s)
{
    unsigned need = kind == DRA_CLASS_MIG ? SHARING_MIG : 0;

    switch (s) {
    case STRATEGY_TIME_SLICING:
        need |= SHARING_TIME_SLICING;
        break;
    case STRATEGY_MPS:
        need |= SHARING_MPS;
        break;
    case STRATEGY_DEFAULT:
        /* The driver time-slices MIG devices too when its TimeSlicingSettings gate is on. */
        if (kind == DRA_CLASS_GPU || p->dra.default_sharing == SHARING_TIME_SLICING)
            need |= p->dra.default_sharing;
        break;
    case STRATEGY_PASSTHROUGH:
        if (kind == DRA_CLASS_GPU)
            need |= SHARING_EXCLUSIVE;
        break;
    }
    return need;
}

static const char *const config_kind_names[] = {"GpuConfig", "MigDeviceConfig", "VfioDeviceConfig"};

/* Checks the sharing the driver gives r. Returns 0, or -1 with why. */
static int
dra_check_sharing(const struct dra_claim *cl, const struct dra_req *r, const char *what, char *why,
                  size_t size)
{
    const struct dra_config *c = dra_config_for(cl, r);
    enum dra_strategy s = c != NULL ? c->strategy : STRATEGY_DEFAULT;
    unsigned need = dra_needed_sharing(cl->p, r->cls->kind, s);
    char gets[96], allowed[64], from[96];

    if ((need & cl->t->sharing) == need)
        return 0;
    dra_gets_text(need, gets, sizeof(gets));
    dra_sharing_names(cl->t->sharing, allowed, sizeof(allowed));
    if (c != NULL && s != STRATEGY_DEFAULT)
        snprintf(from, sizeof(from), "from its %s (config[%zu])", config_kind_names[c->kind],
                 c->index);
    else
        snprintf(from, sizeof(from), "from settings.dra.defaultSharing (no sharing config)");
    snprintf(why, size, "%s gets %s %s, which tenant \"%s\" does not allow (allowed: %s)", what,
             gets, from, cl->t->name, allowed);
    return -1;
}

/* Returns true when body's selectors already hold the tenant's selector for its kind. */
static bool
dra_has_selector(const struct dra_claim *cl, const struct dra_req *r)
{
    const char *want = cl->t->dra_selectors[r->cls->kind];
    const cJSON *sel;

    cJSON_ArrayForEach(sel, json_get(r->body, "selectors"))
    {
        const char *expr = json_string(json_get(sel, "cel"), "expression");

        if (expr != NULL && want != NULL && strcmp(expr, want) == 0)
            return true;
    }
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* Claims: the rules                                                                         */
/* ---------------------------------------------------------------------------------------- */

/* Checks each GPU request in order; the first violation wins. Returns 0, or -1 with why. */
static int
dra_check_requests(struct dra_claim *cl, char *why, size_t size)
{
    const struct policy_tenant *t = cl->t;
    char what[160], warning[DRA_WHY_MAX];

    for (size_t i = 0; i < cl->nreqs; i++) {
        const struct dra_req *r = &cl->reqs[i];

        if (r->sub != NULL)
            snprintf(what, sizeof(what), "request \"%.60s/%.60s\"", r->request, r->sub);
        else
            snprintf(what, sizeof(what), "request \"%.60s\"", r->request);
        if (!dra_tenant_may_use_class(t, r->cls)) {
            dra_class_refusal(t, r->cls, what, why, size);
            return -1;
        }
        if (dra_check_sharing(cl, r, what, why, size) < 0)
            return -1;
        if (r->admin && !t->admin_access) {
            snprintf(why, size,
                     "%s asks for adminAccess, which tenant \"%s\" is not given in the policy "
                     "(the namespace label alone is not enough)",
                     what, t->name);
            return -1;
        }
        if (r->all && (t->max_gpus_per_pod >= 0 || t->has_quota)) {
            snprintf(why, size,
                     "%s asks for allocationMode All, which cannot be bounded, and tenant \"%s\" "
                     "has maxGpusPerPod or a quota: ask for an exact count",
                     what, t->name);
            return -1;
        }
        if (r->all) {
            snprintf(warning, sizeof(warning),
                     "%s: allocationMode All takes every matching device on the node", what);
            dra_warn(cl->out, warning);
        }
    }
    return 0;
}

/*
 * Checks the most devices of each class the claim can get (a firstAvailable request gets one
 * of its subrequests: its worst case per class, as Kubernetes' quota counts it) against
 * maxGpusPerPod and the quota. Returns 0, or -1 with why.
 */
static int
dra_check_counts(struct dra_claim *cl, char *why, size_t size)
{
    const struct policy_tenant *t = cl->t;
    size_t n = cl->p->dra.nclasses;
    int64_t *totals = xcalloc(n, sizeof(*totals));
    int64_t *worst = xcalloc(n, sizeof(*worst));
    int rc = 0;

    for (size_t i = 0; i < cl->nreqs;) {
        size_t j;

        memset(worst, 0, n * sizeof(*worst));
        for (j = i; j < cl->nreqs && cl->reqs[j].group == cl->reqs[i].group; j++) {
            const struct dra_req *r = &cl->reqs[j];
            size_t k = (size_t)(r->cls - cl->p->dra.classes);

            /* All is refused or warned about above; it has no count to add. */
            if (!r->all && r->count > worst[k])
                worst[k] = r->count;
        }
        for (size_t k = 0; k < n; k++)
            totals[k] += worst[k];
        i = j;
    }
    for (size_t k = 0; k < n && rc == 0; k++) {
        const char *name = cl->p->dra.classes[k].name;
        int64_t ceiling = dra_class_ceiling(t, name);

        if (totals[k] == 0)
            continue;
        if (t->max_gpus_per_pod >= 0 && totals[k] > t->max_gpus_per_pod) {
            snprintf(why, size,
                     "claim asks for up to %lld devices of class \"%s\"; tenant \"%s\" allows at "
                     "most %lld per pod",
                     (long long)totals[k], name, t->name, (long long)t->max_gpus_per_pod);
            rc = -1;
        } else if (ceiling >= 0 && totals[k] > ceiling) {
            snprintf(why, size,
                     "claim asks for up to %lld devices of class \"%s\", above tenant \"%s\"'s "
                     "quota of %lld",
                     (long long)totals[k], name, t->name, (long long)ceiling);
            rc = -1;
        }
    }
    free(worst);
    free(totals);
    return rc;
}

static cJSON *
dra_selector_json(const char *expression)
{
    cJSON *sel = cJSON_CreateObject(), *cel = cJSON_CreateObject();

    cJSON_AddStringToObject(cel, "expression", expression);
    cJSON_AddItemToObject(sel, "cel", cel);
    return sel;
}

/*
 * Sets the tenant label in the metadata object meta found at pointer, creating labels, or the
 * metadata object itself, where absent.
 */
static void
dra_patch_label(cJSON *ops, const cJSON *meta, const char *pointer, const char *tenant)
{
    const cJSON *labels = json_get(meta, "labels");
    const char *have = json_string(labels, TENANT_LABEL);
    char path[128];
    cJSON *value, *outer;

    if (have != NULL && strcmp(have, tenant) == 0)
        return;
    if (cJSON_IsObject(labels)) {
        /* "add" on an existing member replaces it, so a forged value is overwritten. */
        snprintf(path, sizeof(path), "%s/labels/" TENANT_LABEL_POINTER, pointer);
        patch_add_op(ops, path, cJSON_CreateString(tenant));
        return;
    }
    value = cJSON_CreateObject();
    cJSON_AddStringToObject(value, TENANT_LABEL, tenant);
    if (cJSON_IsObject(meta)) {
        snprintf(path, sizeof(path), "%s/labels", pointer);
        patch_add_op(ops, path, value);
        return;
    }
    outer = cJSON_CreateObject();
    cJSON_AddItemToObject(outer, "labels", value);
    patch_add_op(ops, pointer, outer);
}

/*
 * The patch: the tenant's selector appended to each GPU request that lacks it (selectors are
 * ANDed, so whatever the user wrote can only narrow it), and the tenant label on the object and,
 * for a template, on the claims made from it. NULL when there is nothing to add.
 */
static cJSON *
dra_claim_patch(const struct dra_claim *cl, const cJSON *object, enum dra_object what)
{
    cJSON *ops = cJSON_CreateArray();
    char path[128];

    for (size_t i = 0; i < cl->nreqs; i++) {
        const struct dra_req *r = &cl->reqs[i];
        const char *sel = cl->t->dra_selectors[r->cls->kind];
        const cJSON *list = json_get(r->body, "selectors");

        if (sel == NULL || dra_has_selector(cl, r))
            continue;
        if (cJSON_IsArray(list)) {
            snprintf(path, sizeof(path), "%s/selectors/-", r->path);
            patch_add_op(ops, path, dra_selector_json(sel));
        } else {
            cJSON *value = cJSON_CreateArray();

            cJSON_AddItemToArray(value, dra_selector_json(sel));
            snprintf(path, sizeof(path), "%s/selectors", r->path);
            patch_add_op(ops, path, value);
        }
    }
    dra_patch_label(ops, json_get(object, "metadata"), "/metadata", cl->t->name);
    if (what == DRA_CLAIM_TEMPLATE)
        dra_patch_label(ops, json_get(json_get(object, "spec"), "metadata"), "/spec/metadata",
                        cl->t->name);
    if (cJSON_GetArraySize(ops) == 0) {
        cJSON_Delete(ops);
        return NULL;
    }
    return ops;
}

/* Returns true when user is the one Kubernetes component that makes claims annotated so. */
static bool
dra_made_by(const cJSON *request, const char *const *users, size_t n)
{
    const char *name = json_string(json_get(request, "userInfo"), "username");

    for (size_t i = 0; name != NULL && i < n; i++) {
        if (strcmp(name, users[i]) == 0)
            return true;
    }
    return false;
}

void
dra_judge_claim(const struct policy *p, const struct policy_tenant *t, const char *ns,
                enum dra_object what, const cJSON *request, struct dra_findings *out)
{
    static const char *const scheduler[] = {SCHEDULER_USER};
    const cJSON *object = json_get(request, "object");
    const cJSON *annotations = json_get(json_get(object, "metadata"), "annotations");
    const cJSON *spec = json_get(object, "spec"), *devices;
    const char *extended = json_string(annotations, EXTENDED_CLAIM_ANNOTATION);
    const char *pod_claim = json_string(annotations, POD_CLAIM_NAME_ANNOTATION);
    const char *name = json_string(json_get(object, "metadata"), "name");
    struct dra_claim cl = {.p = p, .t = t, .out = out};
    char warning[DRA_WHY_MAX];

    memset(out, 0, sizeof(*out));
    if (what == DRA_CLAIM_TEMPLATE) {
        spec = json_get(spec, "spec");
        cl.prefix = "/spec/spec/devices";
    } else {
        cl.prefix = "/spec/devices";
    }
    devices = json_get(spec, "devices");
    if (devices != NULL && !cJSON_IsNull(devices) && !cJSON_IsObject(devices)) {
        dra_fail(out, "devices is not an object");
        goto out;
    }
    if (dra_read_requests(&cl, devices) < 0)
        goto out;
    out->gpu = cl.nreqs > 0;
    if (!out->gpu)
        goto out;
    /* The scheduler made this claim for a pod the webhook judged already (its nvidia.com or
     * deviceclass resources), and has chosen its devices: leave it as it is. */
    if (what == DRA_CLAIM && extended != NULL && strcmp(extended, "true") == 0 &&
        dra_made_by(request, scheduler, 1))
        goto out;
    if (t == NULL) {
        snprintf(out->why, sizeof(out->why),
                 "namespace \"%s\" belongs to no GPU tenant: GPUs are not given here", ns);
        out->violation = true;
        goto out;
    }
    if (dra_read_configs(&cl, devices) < 0)
        goto out;
    out->violation = dra_check_requests(&cl, out->why, sizeof(out->why)) < 0 ||
                     dra_check_counts(&cl, out->why, sizeof(out->why)) < 0;
    /* Claims from a template copy the template, which was mutated and judged already. */
    if (!(what == DRA_CLAIM && pod_claim != NULL &&
          dra_made_by(request, claim_controller_users,
                      sizeof(claim_controller_users) / sizeof(claim_controller_users[0])))) {
        for (size_t i = 0; i < cl.nreqs && !out->lacks_selector; i++)
            out->lacks_selector = !dra_has_selector(&cl, &cl.reqs[i]);
    }
    if (what == DRA_CLAIM && pod_claim == NULL && extended == NULL) {
        snprintf(warning, sizeof(warning),
                 "standalone ResourceClaim \"%.40s\": every pod that names it shares its GPUs",
                 name != NULL ? name : "");
        dra_warn(out, warning);
    }
    out->patch = dra_claim_patch(&cl, object, what);
out:
    free(cl.reqs);
    free(cl.configs);
}

void
dra_findings_clear(struct dra_findings *f)
{
    cJSON_Delete(f->patch);
    memset(f, 0, sizeof(*f));
}

/* ---------------------------------------------------------------------------------------- */
/* DeviceClasses                                                                             */
/* ---------------------------------------------------------------------------------------- */

bool
dra_device_class_warning(const struct policy *p, const cJSON *object, char *why, size_t why_size)
{
    const char *name = json_string(json_get(object, "metadata"), "name");
    const cJSON *spec = json_get(object, "spec"), *e;
    bool names_driver = false;

    if (name == NULL || dra_class_find(p, name) != NULL)
        return false;
    cJSON_ArrayForEach(e, json_get(spec, "selectors"))
    {
        const char *expr = json_string(json_get(e, "cel"), "expression");

        names_driver = names_driver || (expr != NULL && strstr(expr, p->dra.driver) != NULL);
    }
    cJSON_ArrayForEach(e, json_get(spec, "config"))
    {
        const char *drv = json_string(json_get(e, "opaque"), "driver");

        names_driver = names_driver || (drv != NULL && strcmp(drv, p->dra.driver) == 0);
    }
    if (!names_driver)
        return false;
    snprintf(
        why, why_size,
        "DeviceClass \"%.30s\" is not in settings.dra.deviceClasses: any namespace can claim its "
        "GPUs",
        name);
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Pods                                                                                      */
/* ---------------------------------------------------------------------------------------- */

bool
dra_pod_has_claims(const cJSON *spec)
{
    return cJSON_GetArraySize(json_get(spec, "resourceClaims")) > 0;
}

/* Per-resource running totals while walking the containers, as resources.c keeps them. */
struct dra_tally {
    char name[RESOURCE_NAME_MAX];
    int64_t containers, sidecars, init_peak;
};

struct dra_walk {
    const struct policy *p;
    struct dra_tally tally[RESOURCES_MAX];
    size_t count;
    char *why;
    size_t why_size;
};

/* Adds one container's amounts of listed classes' implicit extended resources to the tally. */
static enum resources_result
dra_walk_container(struct dra_walk *w, const cJSON *c, int role)
{
    const cJSON *res = json_get(c, "resources");
    const cJSON *lists[2] = {json_get(res, "limits"), json_get(res, "requests")};
    const char *cname = json_string(c, "name");
    const cJSON *item;

    if (cname == NULL)
        cname = "";
    for (int l = 0; l < 2; l++) {
        if (!cJSON_IsObject(lists[l]))
            continue;
        cJSON_ArrayForEach(item, lists[l])
        {
            const char *name = item->string;
            const cJSON *limit;
            struct dra_tally *t = NULL;
            int64_t amount, other;
            char text[64], ltext[64];
            enum quantity_result q;

            if (name == NULL || strlen(name) >= RESOURCE_NAME_MAX ||
                strncmp(name, DRA_IMPLICIT_PREFIX, strlen(DRA_IMPLICIT_PREFIX)) != 0 ||
                dra_class_find(w->p, name + strlen(DRA_IMPLICIT_PREFIX)) == NULL)
                continue;
            limit = l == 1 ? json_get(lists[0], name) : NULL;
            q = resources_read_quantity(item, &amount);
            resources_quantity_text(item, text, sizeof(text));
            if (q == QUANTITY_FRACTIONAL) {
                snprintf(w->why, w->why_size,
                         "container \"%s\" asks for %s %s: devices come in whole numbers", cname,
                         text, name);
                return RESOURCES_FRACTIONAL;
            }
            if (q != QUANTITY_OK) {
                snprintf(w->why, w->why_size,
                         "container \"%s\": %s %s \"%s\" is not a valid quantity", cname,
                         l == 0 ? "limit" : "request", name, text);
                return RESOURCES_INVALID;
            }
            if (limit != NULL) {
                resources_quantity_text(limit, ltext, sizeof(ltext));
                if (resources_read_quantity(limit, &other) == QUANTITY_OK && other != amount) {
                    snprintf(w->why, w->why_size,
                             "container \"%s\": %s request %s differs from its limit %s; they "
                             "must be equal",
                             cname, name, text, ltext);
                    return RESOURCES_MISMATCH;
                }
                continue;
            }
            if (amount == 0)
                continue;
            for (size_t i = 0; i < w->count && t == NULL; i++) {
                if (strcmp(w->tally[i].name, name) == 0)
                    t = &w->tally[i];
            }
            if (t == NULL) {
                if (w->count == RESOURCES_MAX) {
                    snprintf(w->why, w->why_size, "pod names more than %d device classes",
                             RESOURCES_MAX);
                    return RESOURCES_INVALID;
                }
                t = &w->tally[w->count++];
                memset(t, 0, sizeof(*t));
                snprintf(t->name, sizeof(t->name), "%s", name);
            }
            /* Quantities are at most about 9e18, so the sums below are bounded by checks. */
            if ((role == 0 && __builtin_add_overflow(t->containers, amount, &t->containers)) ||
                (role == 1 && __builtin_add_overflow(t->sidecars, amount, &t->sidecars)) ||
                (role == 2 && __builtin_add_overflow(amount, t->sidecars, &amount))) {
                snprintf(w->why, w->why_size, "container \"%s\": %s adds up past any real amount",
                         cname, name);
                return RESOURCES_INVALID;
            }
            if (role == 2 && amount > t->init_peak)
                t->init_peak = amount;
        }
    }
    return RESOURCES_OK;
}

static int
dra_amount_compare(const void *a, const void *b)
{
    return strcmp(((const struct gpu_resource *)a)->name, ((const struct gpu_resource *)b)->name);
}

enum resources_result
dra_pod_amounts(const struct policy *p, const cJSON *spec, struct gpu_amounts *out, char *why,
                size_t why_size)
{
    struct dra_walk w = {.p = p, .why = why, .why_size = why_size};
    const char *lists[2] = {"initContainers", "containers"};
    const cJSON *c;

    out->count = 0;
    if (why_size > 0)
        why[0] = '\0';
    /* Init containers first: sidecars count from the point they start. */
    for (int l = 0; l < 2; l++) {
        cJSON_ArrayForEach(c, json_get(spec, lists[l]))
        {
            const char *rp = json_string(c, "restartPolicy");
            int role = l == 1 ? 0 : (rp != NULL && strcmp(rp, "Always") == 0 ? 1 : 2);
            enum resources_result r;

            if (!cJSON_IsObject(c))
                continue;
            r = dra_walk_container(&w, c, role);
            if (r != RESOURCES_OK)
                return r;
        }
    }
    for (size_t i = 0; i < w.count; i++) {
        const struct dra_tally *t = &w.tally[i];
        struct gpu_resource *g = &out->items[out->count];
        const struct policy_dra_class *cls =
            dra_class_find(p, t->name + strlen(DRA_IMPLICIT_PREFIX));
        int64_t running;

        if (__builtin_add_overflow(t->containers, t->sidecars, &running)) {
            snprintf(why, why_size, "%s adds up past any real amount", t->name);
            return RESOURCES_INVALID;
        }
        g->amount = running > t->init_peak ? running : t->init_peak;
        if (g->amount == 0)
            continue;
        g->kind = cls != NULL && cls->kind == DRA_CLASS_MIG ? GPU_MIG : GPU_WHOLE;
        memcpy(g->name, t->name, sizeof(g->name));
        g->profile[0] = '\0';
        out->count++;
    }
    qsort(out->items, out->count, sizeof(out->items[0]), dra_amount_compare);
    return RESOURCES_OK;
}

int
dra_pod_check_amounts(const struct policy *p, const struct policy_tenant *t,
                      const struct gpu_amounts *a, char *why, size_t why_size)
{
    char what[RESOURCE_NAME_MAX + 32], gets[96], allowed[64];

    for (size_t i = 0; i < a->count; i++) {
        const struct gpu_resource *g = &a->items[i];
        const char *cname = g->name + strlen(DRA_IMPLICIT_PREFIX);
        const struct policy_dra_class *cls = dra_class_find(p, cname);
        unsigned need;
        int64_t ceiling;

        if (cls == NULL)
            continue;
        snprintf(what, sizeof(what), "pod's %s", g->name);
        if (!dra_tenant_may_use_class(t, cls)) {
            dra_class_refusal(t, cls, what, why, why_size);
            return -1;
        }
        /* The scheduler's claim for it carries no config: the driver's default applies. */
        need = dra_needed_sharing(p, cls->kind, STRATEGY_DEFAULT);
        if ((need & t->sharing) != need) {
            dra_gets_text(need, gets, sizeof(gets));
            dra_sharing_names(t->sharing, allowed, sizeof(allowed));
            snprintf(why, why_size,
                     "%s gets %s from settings.dra.defaultSharing, which tenant \"%s\" does not "
                     "allow (allowed: %s)",
                     what, gets, t->name, allowed);
            return -1;
        }
        if (t->max_gpus_per_pod >= 0 && g->amount > t->max_gpus_per_pod) {
            snprintf(why, why_size,
                     "pod asks for %lld %s; tenant \"%s\" allows at most %lld per pod",
                     (long long)g->amount, g->name, t->name, (long long)t->max_gpus_per_pod);
            return -1;
        }
        ceiling = dra_class_ceiling(t, cname);
        if (ceiling >= 0 && g->amount > ceiling) {
            snprintf(why, why_size, "pod asks for %lld %s, above tenant \"%s\"'s quota of %lld",
                     (long long)g->amount, g->name, t->name, (long long)ceiling);
            return -1;
        }
    }
    return 0;
}
