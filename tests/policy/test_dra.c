/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for policy/dra.c and its rules in policy/decide.c: claims, templates, pods, quotas. */
#include "check.h"
#include "testutil.h"

#include "policy/decide.h"
#include "policy/dra.h"
#include "policy/xalloc.h"
#include "webhook/jsonpatch.h"

/*
 * JSON in these tests is written with backticks for double quotes, so that CEL's single quotes
 * and C's double quotes both stay readable; tick() turns it into JSON.
 */
static char *
tick(const char *text)
{
    char *s = xstrdup(text);

    for (char *c = s; *c != '\0'; c++) {
        if (*c == '`')
            *c = '"';
    }
    return s;
}

static const char *policy_yaml =
    "apiVersion: gpu-tenancy.io/v1alpha1\n"
    "kind: GPUTenancyPolicy\n"
    "settings:\n"
    "  exemptNamespaces: [kube-system]\n"
    "  dra:\n"
    "    deviceClasses:\n"
    "      gpu.nvidia.com: gpu\n"
    "      mig.nvidia.com: mig\n"
    "      vfio.gpu.nvidia.com: gpu\n"
    "      a100-research: gpu\n"
    "tenants:\n"
    "  - name: research\n"
    "    namespaces: [ml]\n"
    "    serviceAccounts: [\"trainer-.*\", default]\n"
    "    sharing: [exclusive, time-slicing, mig]\n"
    "    products: [NVIDIA-H100-80GB-HBM3, NVIDIA-A100-SXM4-80GB]\n"
    "    migProfiles: [3g.40gb, 1g.10gb]\n"
    "    maxGpusPerPod: 4\n"
    "    deviceClasses: [gpu.nvidia.com, mig.nvidia.com, a100-research]\n"
    "    quota:\n"
    "      nvidia.com/gpu: 2\n"
    "      gpu.nvidia.com.deviceclass.resource.k8s.io/devices: 3\n"
    "      mig.nvidia.com.deviceclass.resource.k8s.io/devices: 7\n"
    "      a100-research.deviceclass.resource.k8s.io/devices: 2\n"
    "      requests.deviceclass.resource.kubernetes.io/gpu.nvidia.com: 5\n"
    "  - name: infer\n"
    "    namespaces: [inf]\n"
    "    sharing: [time-slicing, mps]\n"
    "    products: [NVIDIA-H100-80GB-HBM3]\n"
    "  - name: ops\n"
    "    namespaces: [ops]\n"
    "    sharing: [exclusive]\n"
    "    products: [NVIDIA-A100-SXM4-80GB]\n"
    "    adminAccess: true\n"
    "  - name: warned\n"
    "    namespaces: [warned]\n"
    "    sharing: [exclusive]\n"
    "    products: [NVIDIA-A100-SXM4-80GB]\n"
    "    mode: warn\n";

#define GPU_SELECTOR                                                                               \
    "'productName' in device.attributes['gpu.nvidia.com'] && "                                     \
    "device.attributes['gpu.nvidia.com'].productName.replace(' ', '-') in "                        \
    "['NVIDIA-A100-SXM4-80GB', 'NVIDIA-H100-80GB-HBM3']"
#define INF_SELECTOR                                                                               \
    "'productName' in device.attributes['gpu.nvidia.com'] && "                                     \
    "device.attributes['gpu.nvidia.com'].productName.replace(' ', '-') in "                        \
    "['NVIDIA-H100-80GB-HBM3']"
#define MIG_SELECTOR                                                                               \
    GPU_SELECTOR " && 'profile' in device.attributes['gpu.nvidia.com'] && "                        \
                 "device.attributes['gpu.nvidia.com'].profile in ['1g.10gb', '3g.40gb']"

#define USER "{`username`:`alice`,`groups`:[`system:authenticated`]}"
#define SCHEDULER "{`username`:`system:kube-scheduler`}"
#define CLAIM_CONTROLLER                                                                           \
    "{`username`:`system:serviceaccount:kube-system:resource-claim-controller`}"

static struct policy *policy;

/* Decides a request on ep; object is ticked JSON (or NULL), user a ticked userInfo. */
static void
decide(enum decide_endpoint ep, const char *group, const char *kind, const char *ns, const char *op,
       const char *user, const char *object, struct decision *d)
{
    char *obj = tick(object ? object : "null"), *usr = tick(user ? user : USER);
    char *json = xasprintf("{\"uid\":\"u\",\"kind\":{\"group\":\"%s\",\"version\":\"v1\","
                           "\"kind\":\"%s\"},\"namespace\":\"%s\",\"name\":\"n\","
                           "\"operation\":\"%s\",\"userInfo\":%s,\"object\":%s,"
                           "\"oldObject\":%s}",
                           group, kind, ns, op, usr, obj, strcmp(op, "CREATE") ? obj : "null");
    cJSON *req = test_json(json);

    decide_request(policy, ep, req, d);
    cJSON_Delete(req);
    free(json);
    free(obj);
    free(usr);
}

static char *
claim(const char *name, const char *annotations, const char *devices)
{
    return xasprintf("{`apiVersion`:`resource.k8s.io/v1`,`kind`:`ResourceClaim`,`metadata`:"
                     "{`name`:`%s`,`annotations`:{%s}},`spec`:{`devices`:%s}}",
                     name, annotations, devices);
}

static char *
claim_template(const char *name, const char *devices)
{
    return xasprintf("{`apiVersion`:`resource.k8s.io/v1`,`kind`:`ResourceClaimTemplate`,"
                     "`metadata`:{`name`:`%s`},`spec`:{`spec`:{`devices`:%s}}}",
                     name, devices);
}

/* A "requests" list with one request of class cls, with extra members for "exactly". */
#define ONE(cls, extra)                                                                            \
    "{`requests`:[{`name`:`gpu`,`exactly`:{`deviceClassName`:`" cls "`" extra "}}]}"

static void
show(const struct decision *d, const char *want)
{
    fprintf(stderr, "  allowed=%d code=%d message=%s\n  want: %s\n", d->allowed, d->code,
            d->message ? d->message : "(null)", want ? want : "(allowed)");
}

static cJSON *admit(const char *kind, const char *ns, const char *user, const char *object,
                    cJSON **patch_out);

/*
 * Expects the claim (or template) in ns to be admitted through the whole apiserver flow (want
 * NULL), or denied with code and a message containing want on both endpoints, without a patch.
 */
static void
expect(const char *kind, const char *ns, const char *user, const char *object, int code,
       const char *want)
{
    if (want == NULL) {
        cJSON_Delete(admit(kind, ns, user, object, NULL));
        return;
    }
    for (int ep = 0; ep < 2; ep++) {
        struct decision d;
        bool ok;

        decide(ep == 0 ? DECIDE_MUTATE : DECIDE_VALIDATE, "resource.k8s.io", kind, ns, "CREATE",
               user, object, &d);
        ok = !d.allowed && d.code == code && d.message != NULL && strstr(d.message, want) != NULL &&
             d.patch == NULL;
        CHECK(ok);
        if (!ok)
            show(&d, want);
        decision_clear(&d);
    }
}

/*
 * Plays the apiserver: /mutate, the patch applied, /mutate again (no patch), /validate (allowed,
 * no violation). Returns the final object (owned) and, when patch_out is not NULL, a copy of the
 * first patch.
 */
static cJSON *
admit(const char *kind, const char *ns, const char *user, const char *object, cJSON **patch_out)
{
    struct decision d;
    char *obj = tick(object), why[256], *text;
    cJSON *doc = test_json(obj);

    decide(DECIDE_MUTATE, "resource.k8s.io", kind, ns, "CREATE", user, object, &d);
    CHECK(d.allowed);
    if (!d.allowed)
        show(&d, NULL);
    if (patch_out != NULL)
        *patch_out = d.patch ? cJSON_Duplicate(d.patch, true) : NULL;
    if (d.patch != NULL) {
        int rc = jsonpatch_apply(&doc, d.patch, why, sizeof(why));
        CHECK_INT(rc, 0);
        if (rc != 0)
            fprintf(stderr, "  patch does not apply: %s\n", why);
    }
    decision_clear(&d);
    text = cJSON_PrintUnformatted(doc);
    decide(DECIDE_MUTATE, "resource.k8s.io", kind, ns, "CREATE", user, text, &d);
    CHECK(d.allowed);
    CHECK(d.patch == NULL);
    decision_clear(&d);
    decide(DECIDE_VALIDATE, "resource.k8s.io", kind, ns, "CREATE", user, text, &d);
    CHECK(d.allowed);
    CHECK(!d.violation);
    if (!d.allowed || d.violation)
        show(&d, NULL);
    decision_clear(&d);
    free(text);
    free(obj);
    return doc;
}

static const char *
at(const cJSON *doc, const char *pointer)
{
    const cJSON *v = jsonpatch_pointer_get(doc, pointer);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---------------------------------------------------------------------------------------- */

static void
test_load(void)
{
    struct policy *p = test_policy("apiVersion: gpu-tenancy.io/v1alpha1\n"
                                   "kind: GPUTenancyPolicy\n"
                                   "tenants:\n"
                                   "  - name: a\n"
                                   "    namespaces: [a]\n"
                                   "    sharing: [exclusive]\n"
                                   "    products: [P]\n");
    const struct policy_tenant *t;

    /* The defaults: NVIDIA's three classes and driver, exclusive, claims make GPU pods. */
    CHECK_INT(p->dra.nclasses, 3);
    CHECK(dra_class_find(p, "gpu.nvidia.com") &&
          dra_class_find(p, "gpu.nvidia.com")->kind == DRA_CLASS_GPU);
    CHECK(dra_class_find(p, "mig.nvidia.com") &&
          dra_class_find(p, "mig.nvidia.com")->kind == DRA_CLASS_MIG);
    CHECK(dra_class_find(p, "vfio.gpu.nvidia.com") != NULL);
    CHECK(dra_class_find(p, "compute-domain-daemon.nvidia.com") == NULL);
    CHECK_STR(p->dra.driver, "gpu.nvidia.com");
    CHECK_INT(p->dra.default_sharing, SHARING_EXCLUSIVE);
    CHECK(p->dra.pods_with_claims_are_gpu_pods);
    CHECK(!p->dra.written);
    t = policy_tenant_for_namespace(p, "a");
    CHECK(t != NULL && !t->has_device_classes && !t->admin_access);
    CHECK_STR(t->dra_selectors[DRA_CLASS_GPU],
              "'productName' in device.attributes['gpu.nvidia.com'] && "
              "device.attributes['gpu.nvidia.com'].productName.replace(' ', '-') in ['P']");
    CHECK_STR(t->dra_selectors[DRA_CLASS_MIG],
              "'productName' in device.attributes['gpu.nvidia.com'] && "
              "device.attributes['gpu.nvidia.com'].productName.replace(' ', '-') in ['P'] && "
              "'profile' in device.attributes['gpu.nvidia.com'] && "
              "device.attributes['gpu.nvidia.com'].profile in []");
    policy_free(p);

    p = test_policy("apiVersion: gpu-tenancy.io/v1alpha1\n"
                    "kind: GPUTenancyPolicy\n"
                    "settings:\n"
                    "  dra:\n"
                    "    deviceClasses: {z.example.com: mig, a.example.com: gpu}\n"
                    "    driver: gpu.example.com\n"
                    "    defaultSharing: time-slicing\n"
                    "    podsWithClaimsAreGpuPods: false\n"
                    "tenants:\n"
                    "  - name: a\n"
                    "    namespaces: [a]\n"
                    "    sharing: [time-slicing, mig]\n"
                    "    products: [P]\n"
                    "    migProfiles: [1g.10gb]\n"
                    "    deviceClasses: [z.example.com, a.example.com, a.example.com]\n"
                    "    adminAccess: true\n"
                    "    quota:\n"
                    "      deviceclass.resource.kubernetes.io/a.example.com: 5\n"
                    "      a.example.com.deviceclass.resource.k8s.io/devices: 3\n"
                    "      requests.deviceclass.resource.kubernetes.io/z.example.com: 2\n");
    CHECK_INT(p->dra.nclasses, 2);
    CHECK_STR(p->dra.classes[0].name, "a.example.com");
    CHECK_STR(p->dra.driver, "gpu.example.com");
    CHECK_INT(p->dra.default_sharing, SHARING_TIME_SLICING);
    CHECK(!p->dra.pods_with_claims_are_gpu_pods);
    CHECK(p->dra.written);
    CHECK(dra_class_find(p, "gpu.nvidia.com") == NULL);
    t = policy_tenant_for_namespace(p, "a");
    CHECK(t->has_device_classes && t->admin_access);
    CHECK_INT(t->device_classes.count, 2);
    /* The smaller ceiling of the two keys that name a class; 0 for a class listed in neither. */
    CHECK_INT(dra_class_ceiling(t, "a.example.com"), 3);
    CHECK_INT(policy_tenant_quota_for(t, "deviceclass.resource.kubernetes.io/z.example.com"), 2);
    CHECK_INT(dra_class_ceiling(t, "z.example.com"), 2);
    CHECK_INT(dra_class_ceiling(t, "b.example.com"), 0);
    CHECK(strstr(t->dra_selectors[DRA_CLASS_MIG], "device.attributes['gpu.example.com'].profile "
                                                  "in ['1g.10gb']") != NULL);
    policy_free(p);
}

static void
test_selector(void)
{
    const struct policy_tenant *t = policy_tenant_for_namespace(policy, "ml");
    char *s;

    /* Sorted, so the same policy always writes the same text. */
    CHECK_STR(t->dra_selectors[DRA_CLASS_GPU], GPU_SELECTOR);
    CHECK_STR(t->dra_selectors[DRA_CLASS_MIG], MIG_SELECTOR);
    s = dra_selector_new(policy, t, DRA_CLASS_GPU);
    CHECK_STR(s, GPU_SELECTOR);
    free(s);
}

static void
test_exclusive(void)
{
    /* NVIDIA's gpu-test3: one standalone claim, shared by every pod that names it. */
    char *c = claim("single-gpu", "", ONE("gpu.nvidia.com", ""));
    cJSON *patch = NULL, *doc = admit("ResourceClaim", "ml", NULL, c, &patch);
    struct decision d;
    char *text;

    CHECK(patch != NULL && cJSON_GetArraySize(patch) == 2);
    CHECK_STR(at(patch, "/0/path"), "/spec/devices/requests/0/exactly/selectors");
    CHECK_STR(at(patch, "/1/path"), "/metadata/labels");
    CHECK_STR(at(doc, "/spec/devices/requests/0/exactly/selectors/0/cel/expression"), GPU_SELECTOR);
    CHECK_STR(at(doc, "/metadata/labels/gpu-tenancy.io~1tenant"), "research");
    text = cJSON_PrintUnformatted(doc);
    decide(DECIDE_VALIDATE, "resource.k8s.io", "ResourceClaim", "ml", "CREATE", NULL, text, &d);
    CHECK_INT(d.nwarnings, 1);
    CHECK(d.nwarnings == 1 &&
          strstr(d.warnings[0], "standalone ResourceClaim \"single-gpu\"") != NULL);
    CHECK(d.nwarnings == 1 && strlen(d.warnings[0]) <= DECISION_WARNING_LEN);
    CHECK_STR(d.tenant, "research");
    decision_clear(&d);
    free(text);
    cJSON_Delete(doc);
    cJSON_Delete(patch);
    free(c);

    /* Without the mutation, /validate refuses the request. */
    c = claim("single-gpu", "", ONE("gpu.nvidia.com", ""));
    decide(DECIDE_VALIDATE, "resource.k8s.io", "ResourceClaim", "ml", "CREATE", NULL, c, &d);
    CHECK(!d.allowed && d.code == 403 && d.message &&
          strstr(d.message, "ResourceClaim \"single-gpu\": a GPU request lacks the tenant's "
                            "device selector") != NULL);
    decision_clear(&d);
    free(c);
}

static void
test_untouched(void)
{
    struct decision d;
    char *c;

    /* Exempt namespaces, classes that are not listed, claims with no request. */
    c = claim("x", "", ONE("gpu.nvidia.com", ""));
    decide(DECIDE_MUTATE, "resource.k8s.io", "ResourceClaim", "kube-system", "CREATE", NULL, c, &d);
    CHECK(d.allowed && d.patch == NULL && !d.violation);
    decision_clear(&d);
    free(c);
    c = claim("nic", "", ONE("sriov.example.com", ""));
    for (int ep = 0; ep < 2; ep++) {
        decide(ep ? DECIDE_VALIDATE : DECIDE_MUTATE, "resource.k8s.io", "ResourceClaim", "default",
               "CREATE", NULL, c, &d);
        CHECK(d.allowed && d.patch == NULL && !d.violation && d.nwarnings == 0);
        decision_clear(&d);
    }
    free(c);
    c = claim("empty", "", "{}");
    expect("ResourceClaim", "default", NULL, c, 0, NULL);
    free(c);

    /* Updates: the spec is immutable, status and metadata changes are allowed. */
    c = claim("x", "", ONE("gpu.nvidia.com", ""));
    decide(DECIDE_VALIDATE, "resource.k8s.io", "ResourceClaim", "default", "UPDATE", NULL, c, &d);
    CHECK(d.allowed && !d.violation);
    decision_clear(&d);
    free(c);
}

static void
test_rules(void)
{
    char *c;

    c = claim("x", "", ONE("gpu.nvidia.com", ""));
    expect("ResourceClaim", "default", NULL, c, 403,
           "ResourceClaim \"x\": namespace \"default\" belongs to no GPU tenant");
    free(c);

    /* The class: outside the tenant's list, or of a kind its sharing does not allow. */
    c = claim("x", "", ONE("vfio.gpu.nvidia.com", ""));
    expect("ResourceClaim", "ml", NULL, c, 403,
           "request \"gpu\": tenant \"research\" may not use device class \"vfio.gpu.nvidia.com\" "
           "(allowed: a100-research, gpu.nvidia.com, mig.nvidia.com)");
    free(c);
    c = claim("x", "", ONE("mig.nvidia.com", ""));
    expect("ResourceClaim", "inf", NULL, c, 403,
           "request \"gpu\": device class \"mig.nvidia.com\" hands out MIG devices, but tenant "
           "\"infer\"'s sharing does not have mig");
    free(c);

    /* Without a config, the driver's default sharing (exclusive here). */
    c = claim("x", "", ONE("gpu.nvidia.com", ""));
    expect("ResourceClaim", "inf", NULL, c, 403,
           "request \"gpu\" gets exclusive from settings.dra.defaultSharing (no sharing config), "
           "which tenant \"infer\" does not allow (allowed: time-slicing, mps)");
    free(c);

    /* adminAccess needs the policy's word, not only the namespace label. */
    c = claim("x", "", ONE("gpu.nvidia.com", ",`adminAccess`:true"));
    expect("ResourceClaim", "ml", NULL, c, 403,
           "request \"gpu\" asks for adminAccess, which tenant \"research\" is not given");
    free(c);
    c = claim("x", "", ONE("gpu.nvidia.com", ",`adminAccess`:true,`allocationMode`:`All`"));
    expect("ResourceClaim", "ops", NULL, c, 0, NULL);
    free(c);

    /* All cannot be bounded: refused under a cap or a quota, warned about otherwise. */
    c = claim("x", "", ONE("gpu.nvidia.com", ",`allocationMode`:`All`"));
    expect("ResourceClaim", "ml", NULL, c, 403,
           "request \"gpu\" asks for allocationMode All, which cannot be bounded");
    free(c);

    /* Counts: maxGpusPerPod, then the quota (the devices key, 3 for gpu.nvidia.com). */
    c = claim("x", "", ONE("gpu.nvidia.com", ",`count`:5"));
    expect("ResourceClaim", "ml", NULL, c, 403,
           "claim asks for up to 5 devices of class \"gpu.nvidia.com\"; tenant \"research\" "
           "allows at most 4 per pod");
    free(c);
    c = claim("x", "", ONE("gpu.nvidia.com", ",`count`:4"));
    expect("ResourceClaim", "ml", NULL, c, 403,
           "claim asks for up to 4 devices of class \"gpu.nvidia.com\", above tenant "
           "\"research\"'s quota of 3");
    free(c);
    c = claim("x", "",
              "{`requests`:[{`name`:`a`,`exactly`:{`deviceClassName`:`gpu.nvidia.com`,"
              "`count`:2}},{`name`:`b`,`exactly`:{`deviceClassName`:`gpu.nvidia.com`,"
              "`count`:2}}]}");
    expect("ResourceClaim", "ml", NULL, c, 403, "up to 4 devices of class \"gpu.nvidia.com\"");
    free(c);
    /* firstAvailable gets one subrequest: its worst case per class counts. */
    c = claim("x", "",
              "{`requests`:[{`name`:`a`,`firstAvailable`:[{`name`:`big`,`deviceClassName`:"
              "`gpu.nvidia.com`,`count`:3},{`name`:`small`,`deviceClassName`:`gpu.nvidia.com`,"
              "`count`:2},{`name`:`mig`,`deviceClassName`:`mig.nvidia.com`,`count`:4}]}]}");
    expect("ResourceClaim", "ml", NULL, c, 0, NULL);
    free(c);
    c = claim("x", "", ONE("a100-research", ",`count`:3"));
    expect("ResourceClaim", "ml", NULL, c, 403, "above tenant \"research\"'s quota of 2");
    free(c);

    /* What cannot be read is a 400, in every mode. */
    c = claim("x", "", ONE("gpu.nvidia.com", ",`allocationMode`:`Some`"));
    expect("ResourceClaim", "ml", NULL, c, 400,
           "request \"gpu\": unknown allocationMode \"Some\" (expected ExactCount or All)");
    free(c);
    c = claim("x", "", ONE("gpu.nvidia.com", ",`count`:1.5"));
    expect("ResourceClaim", "ml", NULL, c, 400, "count must be a whole number");
    free(c);
    c = claim("x", "", "{`requests`:{}}");
    expect("ResourceClaim", "ml", NULL, c, 400, "devices.requests is not a list");
    free(c);
}

/* A claim with a request "gpu" of class cls and one opaque config for it. */
#define CONFIGURED(cls, driver, params)                                                            \
    "{`requests`:[{`name`:`gpu`,`exactly`:{`deviceClassName`:`" cls "`}}],"                        \
    "`config`:[{`requests`:[`gpu`],`opaque`:{`driver`:`" driver "`,`parameters`:" params "}}]}"
#define NV "`apiVersion`:`resource.nvidia.com/v1beta1`"

static void
test_configs(void)
{
    static const struct {
        const char *params, *want;
    } bad[] = {
        {"{" NV ",`kind`:`GpuConfg`}", "config[0] for driver gpu.nvidia.com: unknown kind "
                                       "\"GpuConfg\" (expected GpuConfig, MigDeviceConfig or "
                                       "VfioDeviceConfig)"},
        {"{`apiVersion`:`resource.nvidia.com/v1`,`kind`:`GpuConfig`}",
         "unknown apiVersion \"resource.nvidia.com/v1\" (expected resource.nvidia.com/v1beta1)"},
        {"{" NV ",`kind`:`GpuConfig`,`sharing`:{`strategy`:`MIG`}}",
         "unknown sharing strategy \"MIG\" in GpuConfig (expected TimeSlicing or MPS)"},
        {"{" NV ",`kind`:`GpuConfig`,`sharing`:{}}", "unknown sharing strategy \"\""},
        {"{" NV ",`kind`:`GpuConfig`,`sharing`:{`strategy`:`TimeSlicing`,`timeSlicingConfig`:"
         "{`interval`:`Forever`}}}",
         "timeSlicingConfig takes an interval of Default, Short, Medium or Long"},
        {"{" NV ",`kind`:`GpuConfig`,`sharing`:{`strategy`:`TimeSlicing`,`mpsConfig`:{}}}",
         "mpsConfig needs strategy MPS"},
        {"{" NV ",`kind`:`GpuConfig`,`sharing`:{`strategy`:`MPS`,`mpsConfig`:"
         "{`defaultActiveThreadPercentage`:150}}}",
         "defaultActiveThreadPercentage must be a whole number from 0 to 100"},
        {"{" NV ",`kind`:`GpuConfig`,`sharing`:{`strategy`:`MPS`},`color`:`red`}",
         "unknown field \"color\" in GpuConfig"},
        {"{" NV ",`kind`:`MigDeviceConfig`,`sharing`:{`strategy`:`TimeSlicing`,"
         "`timeSlicingConfig`:{}}}",
         "unknown field \"timeSlicingConfig\" in MigDeviceConfig sharing"},
        {"[]", "parameters is not an object"},
    };
    char *c;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *devices = xasprintf("{`requests`:[{`name`:`gpu`,`exactly`:{`deviceClassName`:"
                                  "`gpu.nvidia.com`}}],`config`:[{`requests`:[`gpu`],`opaque`:"
                                  "{`driver`:`gpu.nvidia.com`,`parameters`:%s}}]}",
                                  bad[i].params);

        c = claim("x", "", devices);
        expect("ResourceClaim", "ml", NULL, c, 400, bad[i].want);
        /* The mode does not matter: the object cannot be read. */
        expect("ResourceClaim", "warned", NULL, c, 400, bad[i].want);
        free(c);
        free(devices);
    }

    /* Configs for other drivers are theirs to read; configs for no GPU request do not matter. */
    c = claim("x", "", CONFIGURED("gpu.nvidia.com", "nic.example.com", "{`anything`:1}"));
    expect("ResourceClaim", "ml", NULL, c, 0, NULL);
    free(c);

    /* NVIDIA's gpu-test6: time-slicing with an interval. */
    c = claim("x", "",
              CONFIGURED("gpu.nvidia.com", "gpu.nvidia.com",
                         "{" NV ",`kind`:`GpuConfig`,`sharing`:{`strategy`:`TimeSlicing`,"
                         "`timeSlicingConfig`:{`interval`:`Long`}}}"));
    expect("ResourceClaim", "ml", NULL, c, 0, NULL);
    expect("ResourceClaim", "ops", NULL, c, 403,
           "request \"gpu\" gets time-slicing from its GpuConfig (config[0]), which tenant \"ops\" "
           "does not allow (allowed: exclusive)");
    free(c);

    /* NVIDIA's gpu-test-mps: MPS with mpsConfig. */
    c = claim("x", "",
              CONFIGURED("gpu.nvidia.com", "gpu.nvidia.com",
                         "{" NV ",`kind`:`GpuConfig`,`sharing`:{`strategy`:`MPS`,`mpsConfig`:"
                         "{`defaultActiveThreadPercentage`:50,`defaultPinnedDeviceMemoryLimit`:"
                         "`10Gi`}}}"));
    expect("ResourceClaim", "inf", NULL, c, 0, NULL);
    expect("ResourceClaim", "ml", NULL, c, 403,
           "request \"gpu\" gets mps from its GpuConfig (config[0]), which tenant \"research\" "
           "does not allow (allowed: exclusive, time-slicing, mig)");
    free(c);

    /* MIG with MPS needs mig and mps. */
    c = claim("x", "",
              CONFIGURED("mig.nvidia.com", "gpu.nvidia.com",
                         "{" NV ",`kind`:`MigDeviceConfig`,`sharing`:{`strategy`:`MPS`}}"));
    expect("ResourceClaim", "ml", NULL, c, 403,
           "request \"gpu\" gets mig with mps from its MigDeviceConfig (config[0])");
    free(c);
    c = claim("x", "",
              CONFIGURED("mig.nvidia.com", "gpu.nvidia.com",
                         "{" NV ",`kind`:`MigDeviceConfig`,`sharing`:{`strategy`:`TimeSlicing`}}"));
    expect("ResourceClaim", "ml", NULL, c, 0, NULL);
    free(c);

    /* A GpuConfig without sharing gets the driver's default. */
    c = claim("x", "",
              CONFIGURED("gpu.nvidia.com", "gpu.nvidia.com", "{" NV ",`kind`:`GpuConfig`}"));
    expect("ResourceClaim", "ml", NULL, c, 0, NULL);
    expect("ResourceClaim", "inf", NULL, c, 403, "gets exclusive from settings.dra.defaultSharing");
    free(c);

    /* NVIDIA's gpu-test5: a config for one request of two; the other gets the default. */
    c = claim("x", "",
              "{`requests`:[{`name`:`ts-gpu`,`exactly`:{`deviceClassName`:`gpu.nvidia.com`}},"
              "{`name`:`mps-gpu`,`exactly`:{`deviceClassName`:`gpu.nvidia.com`}}],"
              "`config`:[{`requests`:[`ts-gpu`],`opaque`:{`driver`:`gpu.nvidia.com`,"
              "`parameters`:{" NV ",`kind`:`GpuConfig`,`sharing`:{`strategy`:`TimeSlicing`,"
              "`timeSlicingConfig`:{`interval`:`Long`}}}}}]}");
    expect("ResourceClaim", "ml", NULL, c, 0, NULL);
    expect("ResourceClaim", "inf", NULL, c, 403,
           "request \"mps-gpu\" gets exclusive from settings.dra.defaultSharing");
    free(c);

    /* A config that names no request applies to every request of its device type. */
    c = claim("x", "",
              "{`requests`:[{`name`:`g`,`exactly`:{`deviceClassName`:`gpu.nvidia.com`}},"
              "{`name`:`m`,`exactly`:{`deviceClassName`:`mig.nvidia.com`}}],"
              "`config`:[{`opaque`:{`driver`:`gpu.nvidia.com`,`parameters`:{" NV
              ",`kind`:`GpuConfig`,`sharing`:{`strategy`:`MPS`}}}}]}");
    expect("ResourceClaim", "ml", NULL, c, 403, "request \"g\" gets mps from its GpuConfig");
    free(c);
    c = claim("x", "",
              "{`requests`:[{`name`:`g`,`exactly`:{`deviceClassName`:`gpu.nvidia.com`}},"
              "{`name`:`m`,`exactly`:{`deviceClassName`:`mig.nvidia.com`}}],"
              "`config`:[{`opaque`:{`driver`:`gpu.nvidia.com`,`parameters`:{" NV
              ",`kind`:`MigDeviceConfig`,`sharing`:{`strategy`:`MPS`}}}}]}");
    expect("ResourceClaim", "ml", NULL, c, 403, "request \"m\" gets mig with mps");
    free(c);

    /* "req" names every subrequest of req, "req/sub" one of them. */
    c = claim("x", "",
              "{`requests`:[{`name`:`r`,`firstAvailable`:[{`name`:`a`,`deviceClassName`:"
              "`gpu.nvidia.com`},{`name`:`b`,`deviceClassName`:`gpu.nvidia.com`}]}],"
              "`config`:[{`requests`:[`r/b`],`opaque`:{`driver`:`gpu.nvidia.com`,`parameters`:"
              "{" NV ",`kind`:`GpuConfig`,`sharing`:{`strategy`:`MPS`}}}}]}");
    expect("ResourceClaim", "ml", NULL, c, 403, "request \"r/b\" gets mps from its GpuConfig");
    free(c);
    c = claim("x", "",
              "{`requests`:[{`name`:`r`,`firstAvailable`:[{`name`:`a`,`deviceClassName`:"
              "`gpu.nvidia.com`},{`name`:`b`,`deviceClassName`:`gpu.nvidia.com`}]}],"
              "`config`:[{`requests`:[`r`],`opaque`:{`driver`:`gpu.nvidia.com`,`parameters`:"
              "{" NV ",`kind`:`GpuConfig`,`sharing`:{`strategy`:`MPS`}}}}]}");
    expect("ResourceClaim", "ml", NULL, c, 403, "request \"r/a\" gets mps from its GpuConfig");
    free(c);

    /* Passthrough: NVIDIA's gpu-test-vfio-config, for a tenant allowed the class. */
    c = claim("x", "",
              CONFIGURED("vfio.gpu.nvidia.com", "gpu.nvidia.com",
                         "{" NV ",`kind`:`VfioDeviceConfig`,`iommu`:{`backendPolicy`:`LegacyOnly`,"
                         "`enableAPIDevice`:true}}"));
    expect("ResourceClaim", "ops", NULL, c, 0, NULL);
    free(c);
}

static void
test_shapes(void)
{
    cJSON *patch = NULL, *doc;
    char *c;

    /* NVIDIA's gpu-test4: MIG devices by profile, the user's selectors kept, ours appended. */
    c = claim_template(
        "mig-devices",
        "{`requests`:[{`name`:`mig-1g`,`exactly`:{`deviceClassName`:"
        "`mig.nvidia.com`,`selectors`:[{`cel`:{`expression`:"
        "`device.attributes['gpu.nvidia.com'].profile == '1g.10gb'`}}]}},"
        "{`name`:`mig-3g`,`exactly`:{`deviceClassName`:`mig.nvidia.com`,"
        "`selectors`:[{`cel`:{`expression`:"
        "`device.attributes['gpu.nvidia.com'].profile == '3g.40gb'`}}]}}],"
        "`constraints`:[{`requests`:[],`matchAttribute`:`gpu.nvidia.com/parentUUID`}]}");
    doc = admit("ResourceClaimTemplate", "ml", NULL, c, &patch);
    CHECK(patch != NULL && cJSON_GetArraySize(patch) == 4);
    CHECK_STR(at(patch, "/0/path"), "/spec/spec/devices/requests/0/exactly/selectors/-");
    CHECK_STR(at(doc, "/spec/spec/devices/requests/0/exactly/selectors/0/cel/expression"),
              "device.attributes['gpu.nvidia.com'].profile == '1g.10gb'");
    CHECK_STR(at(doc, "/spec/spec/devices/requests/0/exactly/selectors/1/cel/expression"),
              MIG_SELECTOR);
    CHECK_STR(at(doc, "/spec/spec/devices/requests/1/exactly/selectors/1/cel/expression"),
              MIG_SELECTOR);
    /* The template and the claims made from it carry the tenant label. */
    CHECK_STR(at(doc, "/metadata/labels/gpu-tenancy.io~1tenant"), "research");
    CHECK_STR(at(doc, "/spec/metadata/labels/gpu-tenancy.io~1tenant"), "research");
    cJSON_Delete(doc);
    cJSON_Delete(patch);
    free(c);

    /* firstAvailable: every GPU subrequest gets the selector of its class's kind. */
    c = claim("fa", "`resource.kubernetes.io/pod-claim-name`:`gpu`",
              "{`requests`:[{`name`:`gpu`,`firstAvailable`:[{`name`:`big`,`deviceClassName`:"
              "`gpu.nvidia.com`,`count`:2},{`name`:`nic`,`deviceClassName`:`sriov.example.com`},"
              "{`name`:`small`,`deviceClassName`:`mig.nvidia.com`,`selectors`:[]}]}]}");
    doc = admit("ResourceClaim", "ml", CLAIM_CONTROLLER, c, &patch);
    CHECK(patch != NULL && cJSON_GetArraySize(patch) == 3);
    CHECK_STR(at(patch, "/0/path"), "/spec/devices/requests/0/firstAvailable/0/selectors");
    CHECK_STR(at(patch, "/1/path"), "/spec/devices/requests/0/firstAvailable/2/selectors/-");
    CHECK_STR(at(doc, "/spec/devices/requests/0/firstAvailable/0/selectors/0/cel/expression"),
              GPU_SELECTOR);
    CHECK_STR(at(doc, "/spec/devices/requests/0/firstAvailable/2/selectors/0/cel/expression"),
              MIG_SELECTOR);
    CHECK(jsonpatch_pointer_get(doc, "/spec/devices/requests/0/firstAvailable/1/selectors") ==
          NULL);
    cJSON_Delete(doc);
    cJSON_Delete(patch);
    free(c);

    /* A forged tenant label is replaced. */
    c = xasprintf("{`metadata`:{`name`:`x`,`labels`:{`gpu-tenancy.io/tenant`:`infer`}},"
                  "`spec`:{`devices`:" ONE("gpu.nvidia.com", "") "}}");
    doc = admit("ResourceClaim", "ml", NULL, c, NULL);
    CHECK_STR(at(doc, "/metadata/labels/gpu-tenancy.io~1tenant"), "research");
    cJSON_Delete(doc);
    free(c);
}

static void
test_made_by_kubernetes(void)
{
    struct decision d;
    char *c;

    /* Claims from a template copy the mutated template: not refused for lacking the selector,
     * when the resource-claim controller made them. */
    c = claim("pod-gpu-x1", "`resource.kubernetes.io/pod-claim-name`:`gpu`",
              ONE("gpu.nvidia.com", ""));
    decide(DECIDE_VALIDATE, "resource.k8s.io", "ResourceClaim", "ml", "CREATE", CLAIM_CONTROLLER, c,
           &d);
    CHECK(d.allowed && !d.violation && d.nwarnings == 0);
    decision_clear(&d);
    decide(DECIDE_VALIDATE, "resource.k8s.io", "ResourceClaim", "ml", "CREATE", USER, c, &d);
    CHECK(!d.allowed && d.message && strstr(d.message, "lacks the tenant's device selector"));
    decision_clear(&d);
    free(c);

    /* The scheduler's claims for extended resources: left alone. Anyone else's: judged. */
    c = claim("p-extended-resources-x", "`resource.kubernetes.io/extended-resource-claim`:`true`",
              ONE("gpu.nvidia.com", ",`count`:9"));
    for (int ep = 0; ep < 2; ep++) {
        decide(ep ? DECIDE_VALIDATE : DECIDE_MUTATE, "resource.k8s.io", "ResourceClaim", "ml",
               "CREATE", SCHEDULER, c, &d);
        CHECK(d.allowed && !d.violation && d.patch == NULL);
        decision_clear(&d);
    }
    expect("ResourceClaim", "ml", USER, c, 403, "allows at most 4 per pod");
    free(c);
}

static void
test_modes(void)
{
    struct decision d;
    char *c = claim("x", "", ONE("gpu.nvidia.com", ",`adminAccess`:true"));

    /* Warn: allowed with the reason, and still pinned to the tenant's devices. */
    decide(DECIDE_MUTATE, "resource.k8s.io", "ResourceClaim", "warned", "CREATE", NULL, c, &d);
    CHECK(d.allowed && d.violation && d.patch != NULL && d.nwarnings == 0);
    decision_clear(&d);
    decide(DECIDE_VALIDATE, "resource.k8s.io", "ResourceClaim", "warned", "CREATE", NULL, c, &d);
    CHECK(d.allowed && d.violation && d.nwarnings >= 1);
    {
        const char *want = "ResourceClaim \"x\": request \"gpu\" asks for adminAccess";

        CHECK(d.nwarnings >= 1 && strncmp(d.warnings[0], want, strlen(want)) == 0);
    }
    decision_clear(&d);
    free(c);

    /* All without any bound: allowed with a warning. */
    c = claim("x", "`resource.kubernetes.io/pod-claim-name`:`gpu`",
              "{`requests`:[{`name`:`gpu`,`exactly`:{`deviceClassName`:`gpu.nvidia.com`,"
              "`allocationMode`:`All`,`selectors`:[{`cel`:{`expression`:`" INF_SELECTOR "`}}]}}],"
              "`config`:[{`opaque`:{`driver`:`gpu.nvidia.com`,`parameters`:{" NV
              ",`kind`:`GpuConfig`,`sharing`:{`strategy`:`TimeSlicing`}}}}]}");
    decide(DECIDE_VALIDATE, "resource.k8s.io", "ResourceClaim", "inf", "CREATE", NULL, c, &d);
    CHECK(d.allowed && !d.violation && d.nwarnings == 1);
    CHECK(d.nwarnings > 0 &&
          strstr(d.warnings[0], "allocationMode All takes every matching") != NULL);
    decision_clear(&d);
    free(c);
}

/* ---------------------------------------------------------------------------------------- */
/* Pods                                                                                      */
/* ---------------------------------------------------------------------------------------- */

static void
decide_pod(enum decide_endpoint ep, const char *ns, const char *spec, struct decision *d)
{
    char *pod = xasprintf("{`metadata`:{`name`:`p`},`spec`:{%s}}", spec);

    decide(ep, "", "Pod", ns, "CREATE", NULL, pod, d);
    free(pod);
}

#define CLAIMS                                                                                     \
    "`resourceClaims`:[{`name`:`gpu`,`resourceClaimTemplateName`:`single-gpu`}],"                  \
    "`containers`:[{`name`:`c`,`resources`:{`claims`:[{`name`:`gpu`}]}}]"
#define IMPLICIT(cls, n)                                                                           \
    "`containers`:[{`name`:`c`,`resources`:{`limits`:{`deviceclass.resource.kubernetes.io/" cls    \
    "`:`" n "`}}}]"
#define TOLERATED ",`tolerations`:[{`key`:`has-gpu`,`operator`:`Exists`,`effect`:`NoSchedule`}]"

static void
test_pods(void)
{
    struct decision d;

    /* A pod with claims in a tenant namespace is a GPU pod: toleration and label, no affinity. */
    decide_pod(DECIDE_MUTATE, "ml", CLAIMS, &d);
    CHECK(d.allowed && d.patch != NULL && cJSON_GetArraySize(d.patch) == 2);
    CHECK_STR(at(d.patch, "/0/path"), "/spec/tolerations");
    CHECK_STR(at(d.patch, "/1/path"), "/metadata/labels");
    decision_clear(&d);
    decide_pod(DECIDE_VALIDATE, "ml", CLAIMS, &d);
    CHECK(!d.allowed && d.message && strstr(d.message, "lacks the GPU toleration"));
    decision_clear(&d);
    {
        char *pod = tick("{`metadata`:{`name`:`p`,`labels`:{`gpu-tenancy.io/tenant`:`research`}},"
                         "`spec`:{" CLAIMS TOLERATED "}}");
        decide(DECIDE_VALIDATE, "", "Pod", "ml", "CREATE", NULL, pod, &d);
        CHECK(d.allowed && !d.violation);
        decision_clear(&d);
        decide(DECIDE_MUTATE, "", "Pod", "ml", "CREATE", NULL, pod, &d);
        CHECK(d.allowed && d.patch == NULL);
        decision_clear(&d);
        free(pod);
    }
    decide_pod(DECIDE_VALIDATE, "ml", CLAIMS ",`serviceAccountName`:`web`", &d);
    CHECK(!d.allowed && d.message &&
          strstr(d.message, "service account \"web\" may not use GPUs of tenant \"research\""));
    decision_clear(&d);

    /* Elsewhere claims are no GPU pod's (GPU claims are refused there), so the taint rule holds. */
    decide_pod(DECIDE_MUTATE, "default", CLAIMS, &d);
    CHECK(d.allowed && d.patch == NULL && !d.violation);
    decision_clear(&d);
    decide_pod(DECIDE_VALIDATE, "default", CLAIMS TOLERATED, &d);
    CHECK(!d.allowed && d.message && strstr(d.message, "requests no GPU but tolerates"));
    decision_clear(&d);

    /* deviceclass.resource.kubernetes.io/<GPU class>: judged wherever it is. */
    decide_pod(DECIDE_VALIDATE, "default", IMPLICIT("gpu.nvidia.com", "1"), &d);
    CHECK(!d.allowed && d.message && strstr(d.message, "belongs to no GPU tenant"));
    decision_clear(&d);
    decide_pod(DECIDE_MUTATE, "ml", IMPLICIT("gpu.nvidia.com", "3"), &d);
    CHECK(d.allowed && !d.violation && d.patch != NULL);
    decision_clear(&d);
    decide_pod(DECIDE_MUTATE, "ml", IMPLICIT("gpu.nvidia.com", "4"), &d);
    CHECK(!d.allowed && d.message &&
          strstr(d.message, "pod asks for 4 deviceclass.resource.kubernetes.io/gpu.nvidia.com, "
                            "above tenant \"research\"'s quota of 3"));
    decision_clear(&d);
    decide_pod(DECIDE_MUTATE, "ml", IMPLICIT("vfio.gpu.nvidia.com", "1"), &d);
    CHECK(!d.allowed && d.message &&
          strstr(d.message, "may not use device class \"vfio.gpu.nvidia.com\""));
    decision_clear(&d);
    decide_pod(DECIDE_MUTATE, "inf", IMPLICIT("gpu.nvidia.com", "1"), &d);
    CHECK(!d.allowed && d.message &&
          strstr(d.message, "gets exclusive from settings.dra.defaultSharing"));
    decision_clear(&d);
    decide_pod(DECIDE_MUTATE, "ml", IMPLICIT("gpu.nvidia.com", "500m"), &d);
    CHECK(!d.allowed && d.code == 403 && d.message &&
          strstr(d.message, "devices come in whole numbers"));
    decision_clear(&d);
    /* Other classes' implicit resources are not GPUs. */
    decide_pod(DECIDE_MUTATE, "default", IMPLICIT("sriov.example.com", "1"), &d);
    CHECK(d.allowed && d.patch == NULL && !d.violation);
    decision_clear(&d);

    /* Mixed with nvidia.com/gpu: the core placement, and the DRA checks too. */
    decide_pod(DECIDE_MUTATE, "ml",
               "`resourceClaims`:[{`name`:`g`,`resourceClaimName`:`shared`}],"
               "`containers`:[{`name`:`c`,`resources`:{`limits`:{`nvidia.com/gpu`:`1`},"
               "`claims`:[{`name`:`g`}]}}]",
               &d);
    CHECK(d.allowed && d.patch != NULL && cJSON_GetArraySize(d.patch) == 3);
    decision_clear(&d);

    /* Workload templates with claims are judged like pods. */
    {
        char *dep = xasprintf("{`metadata`:{`name`:`train`},`spec`:{`template`:{`metadata`:{},"
                              "`spec`:{%s}}}}",
                              CLAIMS ",`serviceAccountName`:`web`");

        decide(DECIDE_VALIDATE, "apps", "Deployment", "ml", "CREATE", NULL, dep, &d);
        CHECK(!d.allowed && d.message &&
              strstr(d.message, "Deployment \"train\": service account \"web\""));
        decision_clear(&d);
        free(dep);
    }
}

static void
test_pods_with_claims_setting(void)
{
    struct policy *saved = policy;
    struct decision d;

    policy = test_policy("apiVersion: gpu-tenancy.io/v1alpha1\n"
                         "kind: GPUTenancyPolicy\n"
                         "settings:\n"
                         "  dra: {podsWithClaimsAreGpuPods: false}\n"
                         "tenants:\n"
                         "  - name: a\n"
                         "    namespaces: [ml]\n"
                         "    serviceAccounts: [trainer]\n"
                         "    sharing: [exclusive]\n"
                         "    products: [P]\n");
    decide_pod(DECIDE_MUTATE, "ml", CLAIMS, &d);
    CHECK(d.allowed && d.patch == NULL && !d.violation);
    decision_clear(&d);
    decide_pod(DECIDE_MUTATE, "ml", IMPLICIT("gpu.nvidia.com", "1"), &d);
    CHECK(!d.allowed && d.message && strstr(d.message, "service account \"default\""));
    decision_clear(&d);
    policy_free(policy);
    policy = saved;
}

/* ---------------------------------------------------------------------------------------- */
/* ResourceQuotas and DeviceClasses                                                          */
/* ---------------------------------------------------------------------------------------- */

static void
decide_quota(const char *ns, const char *op, const char *hard, struct decision *d)
{
    char *q = xasprintf("{`metadata`:{`name`:`q`},`spec`:{`hard`:{%s}}}", hard);

    decide(DECIDE_VALIDATE, "", "ResourceQuota", ns, op, NULL, q, d);
    free(q);
}

static void
test_quota(void)
{
    struct decision d;

    decide_quota("ml", "CREATE",
                 "`gpu.nvidia.com.deviceclass.resource.k8s.io/devices`:`3`,"
                 "`requests.deviceclass.resource.kubernetes.io/gpu.nvidia.com`:`2`",
                 &d);
    CHECK(d.allowed && !d.violation);
    decision_clear(&d);
    decide_quota("ml", "CREATE", "`gpu.nvidia.com.deviceclass.resource.k8s.io/devices`:`4`", &d);
    CHECK(!d.allowed && d.message &&
          strstr(d.message, "sets gpu.nvidia.com.deviceclass.resource.k8s.io/devices to 4, above "
                            "tenant \"research\"'s ceiling of 3"));
    decision_clear(&d);
    decide_quota("ml", "CREATE", "`requests.deviceclass.resource.kubernetes.io/gpu.nvidia.com`:`6`",
                 &d);
    CHECK(!d.allowed && d.message && strstr(d.message, "ceiling of 5"));
    decision_clear(&d);
    /* A class the quota does not list has ceiling 0. */
    decide_quota("ml", "CREATE", "`vfio.gpu.nvidia.com.deviceclass.resource.k8s.io/devices`:`1`",
                 &d);
    CHECK(!d.allowed && d.message && strstr(d.message, "ceiling of 0"));
    decision_clear(&d);
    decide_quota("ml", "CREATE", "`limits.deviceclass.resource.kubernetes.io/gpu.nvidia.com`:`9`",
                 &d);
    CHECK(d.allowed && d.nwarnings == 1);
    CHECK(d.nwarnings == 1 &&
          strstr(d.warnings[0], "use requests.deviceclass.resource.kubernetes.io/gpu.nvidia.com"));
    decision_clear(&d);
    decide_quota("default", "CREATE", "`mig.nvidia.com.deviceclass.resource.k8s.io/devices`:`1`",
                 &d);
    CHECK(!d.allowed && d.message && strstr(d.message, "GPUs are not given here"));
    decision_clear(&d);
    /* Classes that are not GPU classes are not guarded. */
    decide_quota("default", "CREATE", "`nic.example.com.deviceclass.resource.k8s.io/devices`:`8`",
                 &d);
    CHECK(d.allowed && !d.violation);
    decision_clear(&d);
    /* Deleting or emptying a DRA ceiling lifts it. */
    {
        char *q = tick("{`metadata`:{`name`:`q`},`spec`:{`hard`:"
                       "{`mig.nvidia.com.deviceclass.resource.k8s.io/devices`:`7`}}}");
        char *json = xasprintf("{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\","
                               "\"kind\":\"ResourceQuota\"},\"namespace\":\"ml\",\"name\":\"q\","
                               "\"operation\":\"DELETE\",\"userInfo\":{\"username\":\"alice\"},"
                               "\"object\":null,\"oldObject\":%s}",
                               q);
        cJSON *req = test_json(json);

        decide_request(policy, DECIDE_VALIDATE, req, &d);
        CHECK(!d.allowed && d.message && strstr(d.message, "would lift tenant \"research\""));
        decision_clear(&d);
        cJSON_Delete(req);
        free(json);
        free(q);
    }
}

static void
test_device_class(void)
{
    struct decision d;

    decide(DECIDE_VALIDATE, "resource.k8s.io", "DeviceClass", "", "CREATE", NULL,
           "{`metadata`:{`name`:`h100-only`},`spec`:{`selectors`:[{`cel`:{`expression`:"
           "`device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == "
           "'gpu'`}}]}}",
           &d);
    CHECK(d.allowed && d.nwarnings == 1);
    CHECK(d.nwarnings == 1 &&
          strcmp(d.warnings[0], "DeviceClass \"h100-only\" is not in settings.dra.deviceClasses: "
                                "any namespace can claim its GPUs") == 0);
    CHECK(d.nwarnings == 1 && strlen(d.warnings[0]) <= DECISION_WARNING_LEN);
    decision_clear(&d);
    /* A config naming the driver counts too; an update is warned about as well. */
    decide(DECIDE_VALIDATE, "resource.k8s.io", "DeviceClass", "", "UPDATE", NULL,
           "{`metadata`:{`name`:`ts`},`spec`:{`config`:[{`opaque`:{`driver`:`gpu.nvidia.com`,"
           "`parameters`:{}}}]}}",
           &d);
    CHECK(d.allowed && d.nwarnings == 1);
    decision_clear(&d);
    /* Listed classes and other drivers' classes: nothing to say. */
    decide(DECIDE_VALIDATE, "resource.k8s.io", "DeviceClass", "", "CREATE", NULL,
           "{`metadata`:{`name`:`a100-research`},`spec`:{`selectors`:[{`cel`:{`expression`:"
           "`device.driver == 'gpu.nvidia.com'`}}]}}",
           &d);
    CHECK(d.allowed && d.nwarnings == 0);
    decision_clear(&d);
    decide(DECIDE_VALIDATE, "resource.k8s.io", "DeviceClass", "", "CREATE", NULL,
           "{`metadata`:{`name`:`nic`},`spec`:{`selectors`:[{`cel`:{`expression`:"
           "`device.driver == 'sriov.example.com'`}}]}}",
           &d);
    CHECK(d.allowed && d.nwarnings == 0);
    decision_clear(&d);
}

int
main(void)
{
    xalloc_init_cjson();
    policy = test_policy(policy_yaml);
    test_load();
    test_selector();
    test_exclusive();
    test_untouched();
    test_rules();
    test_configs();
    test_shapes();
    test_made_by_kubernetes();
    test_modes();
    test_pods();
    test_pods_with_claims_setting();
    test_quota();
    test_device_class();
    policy_free(policy);
    return check_summary();
}
