/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for policy/patch.c: the JSON Patch for an admitted GPU pod, and its idempotence. */
#include "check.h"
#include "testutil.h"

#include "policy/patch.h"
#include "policy/xalloc.h"

static const char *policy_yaml = "apiVersion: gpu-tenancy.io/v1alpha1\n"
                                 "kind: GPUTenancyPolicy\n"
                                 "tenants:\n"
                                 "  - name: excl\n"
                                 "    namespaces: [excl]\n"
                                 "    sharing: [exclusive]\n"
                                 "    products: [A100]\n";

#define TOL "{\"key\":\"has-gpu\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}"
#define PRODUCT "{\"key\":\"nvidia.com/gpu.product\",\"operator\":\"In\",\"values\":[\"A100\"]}"
#define SHARING                                                                                    \
    "{\"key\":\"nvidia.com/gpu.sharing-strategy\",\"operator\":\"In\",\"values\":[\"none\"]}"
#define REQ "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution"

/* Returns the patch for pod_json as compact JSON ("null" for none); the caller frees it. */
static char *
patch_of(const struct policy *p, const char *pod_json)
{
    const struct policy_tenant *t = policy_tenant_for_namespace(p, "excl");
    struct gpu_amounts a = {.count = 1};
    struct placement pl;
    char why[256], *text;
    cJSON *pod = test_json(pod_json), *patch;

    snprintf(a.items[0].name, sizeof(a.items[0].name), "nvidia.com/gpu");
    a.items[0].kind = GPU_WHOLE;
    a.items[0].amount = 1;
    if (placement_for_pod(p, t, &a, &pl, why, sizeof(why)) < 0)
        abort();
    patch = patch_for_pod(p, t, pod, &pl);
    text = patch ? cJSON_PrintUnformatted(patch) : xstrdup("null");
    cJSON_Delete(patch);
    cJSON_Delete(pod);
    placement_clear(&pl);
    return text;
}

static void
expect(const struct policy *p, const char *pod_json, const char *want)
{
    char *got = patch_of(p, pod_json);
    CHECK_STR(got, want);
    free(got);
}

int
main(void)
{
    struct policy *p;

    xalloc_init_cjson();
    p = test_policy(policy_yaml);

    /* A bare pod gets everything created. */
    expect(p, "{\"metadata\":{\"name\":\"a\"},\"spec\":{}}",
           "[{\"op\":\"add\",\"path\":\"/spec/tolerations\",\"value\":[" TOL "]},"
           "{\"op\":\"add\",\"path\":\"/spec/affinity\",\"value\":{\"nodeAffinity\":"
           "{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":"
           "[{\"matchExpressions\":[" PRODUCT "," SHARING "]}]}}}},"
           "{\"op\":\"add\",\"path\":\"/metadata/labels\",\"value\":"
           "{\"gpu-tenancy.io/tenant\":\"excl\"}}]");

    /* Existing pieces are extended, never replaced; every term is narrowed. */
    expect(p,
           "{\"metadata\":{\"labels\":{\"app\":\"x\",\"gpu-tenancy.io/tenant\":\"forged\"}},"
           "\"spec\":{\"tolerations\":[{\"key\":\"other\",\"operator\":\"Exists\"}],"
           "\"affinity\":{\"podAffinity\":{},\"nodeAffinity\":{"
           "\"preferredDuringSchedulingIgnoredDuringExecution\":[],"
           "\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":["
           "{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"a\"]}]},"
           "{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"n\"]}]},"
           "{}]}}}}}",
           "[{\"op\":\"add\",\"path\":\"/spec/tolerations/-\",\"value\":" TOL "},"
           "{\"op\":\"add\",\"path\":\"" REQ "/nodeSelectorTerms/0/matchExpressions/-\","
           "\"value\":" PRODUCT "},"
           "{\"op\":\"add\",\"path\":\"" REQ "/nodeSelectorTerms/0/matchExpressions/-\","
           "\"value\":" SHARING "},"
           "{\"op\":\"add\",\"path\":\"" REQ "/nodeSelectorTerms/1/matchExpressions\","
           "\"value\":[" PRODUCT "," SHARING "]},"
           "{\"op\":\"add\",\"path\":\"/metadata/labels/gpu-tenancy.io~1tenant\","
           "\"value\":\"excl\"}]");

    /* The innermost missing level is the one created. */
    expect(p,
           "{\"metadata\":{\"labels\":{\"gpu-tenancy.io/tenant\":\"excl\"}},\"spec\":{"
           "\"tolerations\":[{\"operator\":\"Exists\"}],\"affinity\":{\"nodeAffinity\":{}}}}",
           "[{\"op\":\"add\",\"path\":\"" REQ "\",\"value\":{\"nodeSelectorTerms\":"
           "[{\"matchExpressions\":[" PRODUCT "," SHARING "]}]}}]");
    expect(p,
           "{\"metadata\":{\"labels\":{\"gpu-tenancy.io/tenant\":\"excl\"}},\"spec\":{"
           "\"tolerations\":[" TOL "],\"affinity\":{\"nodeAffinity\":{"
           "\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":[]}}}}}",
           "[{\"op\":\"add\",\"path\":\"" REQ "/nodeSelectorTerms\",\"value\":"
           "[{\"matchExpressions\":[" PRODUCT "," SHARING "]}]}]");
    expect(p, "{\"spec\":{\"tolerations\":[" TOL "],\"affinity\":{}}}",
           "[{\"op\":\"add\",\"path\":\"/spec/affinity/nodeAffinity\",\"value\":"
           "{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":"
           "[{\"matchExpressions\":[" PRODUCT "," SHARING "]}]}}},"
           "{\"op\":\"add\",\"path\":\"/metadata\",\"value\":{\"labels\":"
           "{\"gpu-tenancy.io/tenant\":\"excl\"}}}]");

    /* A pod that already has it all gets no patch: reinvocation changes nothing. */
    expect(p,
           "{\"metadata\":{\"labels\":{\"gpu-tenancy.io/tenant\":\"excl\"}},\"spec\":{"
           "\"tolerations\":[{\"key\":\"has-gpu\",\"operator\":\"Exists\"}],"
           "\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":"
           "{\"nodeSelectorTerms\":[{\"matchExpressions\":[" SHARING ","
           "{\"key\":\"nvidia.com/gpu.product\",\"operator\":\"In\",\"values\":[\"A100\"]}]}]}}}}}",
           "null");

    /* A toleration for another effect, or Equal with a value, is not equivalent. */
    {
        cJSON *tols = test_json("[{\"key\":\"has-gpu\",\"operator\":\"Exists\","
                                "\"effect\":\"NoExecute\"},{\"key\":\"has-gpu\",\"value\":\"x\"}]");
        CHECK(!patch_tolerates_gpu_taint(p, tols));
        cJSON_Delete(tols);
        tols = test_json("[{\"operator\":\"Exists\"}]");
        CHECK(patch_tolerates_gpu_taint(p, tols));
        cJSON_Delete(tols);
        CHECK(!patch_tolerates_gpu_taint(p, NULL));
    }

    policy_free(p);
    return check_summary();
}
