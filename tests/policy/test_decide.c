/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for policy/decide.c: every rule for pods, in each mode, on /mutate and /validate. */
#include "check.h"
#include "testutil.h"

#include "policy/decide.h"
#include "policy/xalloc.h"

static const char *policy_yaml = "apiVersion: gpu-tenancy.io/v1alpha1\n"
                                 "kind: GPUTenancyPolicy\n"
                                 "settings:\n"
                                 "  exemptNamespaces: [kube-system]\n"
                                 "tenants:\n"
                                 "  - name: research\n"
                                 "    namespaces: [ml]\n"
                                 "    serviceAccounts: [\"trainer-.*\", default]\n"
                                 "    sharing: [exclusive, time-slicing, mig]\n"
                                 "    products: [A100]\n"
                                 "    migProfiles: [1g.10gb]\n"
                                 "    maxGpusPerPod: 4\n"
                                 "    quota: {nvidia.com/gpu: 3, nvidia.com/mig-1g.10gb: 7}\n"
                                 "  - name: warned\n"
                                 "    namespaces: [warned]\n"
                                 "    sharing: [exclusive]\n"
                                 "    products: [A100]\n"
                                 "    mode: warn\n"
                                 "  - name: audited\n"
                                 "    namespaces: [audited]\n"
                                 "    sharing: [exclusive]\n"
                                 "    products: [A100]\n"
                                 "    mode: audit\n";

#define GPU(n) "\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{" n "}}}]"
#define MUTATED                                                                                    \
    "\"tolerations\":[{\"key\":\"has-gpu\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}],"   \
    "\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":"          \
    "{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"nvidia.com/gpu.product\","          \
    "\"operator\":\"In\",\"values\":[\"A100\",\"A100-MIG-1g.10gb\","                               \
    "\"A100-MIG-1g.10gb-SHARED\",\"A100-SHARED\"]},{\"key\":"                                      \
    "\"nvidia.com/gpu.sharing-strategy\",\"operator\":\"In\",\"values\":[\"none\","                \
    "\"time-slicing\"]}]}]}}}"

static struct policy *policy;

/* Decides a pod CREATE in ns on ep; spec is the inside of the pod's spec object. */
static void
decide_pod(enum decide_endpoint ep, const char *ns, const char *op, const char *labels,
           const char *spec, struct decision *d)
{
    char *json = xasprintf("{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\","
                           "\"kind\":\"Pod\"},\"namespace\":\"%s\",\"operation\":\"%s\","
                           "\"object\":{\"metadata\":{\"name\":\"p\",\"labels\":{%s}},"
                           "\"spec\":{%s}},\"oldObject\":{\"spec\":{}}}",
                           ns, op, labels, spec);
    cJSON *req = test_json(json);

    decide_request(policy, ep, req, d);
    cJSON_Delete(req);
    free(json);
}

/* Expects a denial whose message contains want (NULL: expects allowed, no violation). */
static void
expect(enum decide_endpoint ep, const char *ns, const char *spec, int code, const char *want)
{
    struct decision d;

    decide_pod(ep, ns, "CREATE", "", spec, &d);
    if (want == NULL) {
        CHECK(d.allowed);
        CHECK(!d.violation);
        if (d.message)
            fprintf(stderr, "unexpected: %s\n", d.message);
    } else {
        CHECK(!d.allowed);
        CHECK_INT(d.code, code);
        CHECK(d.message != NULL && strstr(d.message, want) != NULL);
        if (d.message == NULL || strstr(d.message, want) == NULL)
            fprintf(stderr, "message: %s\nwant: %s\n", d.message ? d.message : "(null)", want);
        CHECK(d.patch == NULL);
    }
    decision_clear(&d);
}

static void
test_pods(void)
{
    struct decision d;

    /* Non-GPU pods pass; tolerating the GPU taint without a GPU does not. */
    expect(DECIDE_VALIDATE, "default", "\"containers\":[{\"name\":\"c\"}]", 0, NULL);
    expect(DECIDE_VALIDATE, "ml",
           "\"containers\":[{\"name\":\"c\"}],\"tolerations\":[{\"key\":\"has-gpu\","
           "\"operator\":\"Equal\",\"value\":\"true\"}]",
           403, "requests no GPU but tolerates");
    expect(DECIDE_VALIDATE, "ml",
           "\"containers\":[{\"name\":\"c\"}],\"tolerations\":[{\"operator\":\"Exists\"}]", 403,
           "requests no GPU but tolerates");
    expect(DECIDE_VALIDATE, "ml",
           "\"containers\":[{\"name\":\"c\"}],\"tolerations\":[{\"key\":\"has-gpu\","
           "\"operator\":\"Exists\",\"effect\":\"NoExecute\"}]",
           0, NULL);

    /* Exempt namespaces are never inspected. */
    expect(DECIDE_VALIDATE, "kube-system", GPU("\"nvidia.com/gpu\":\"9\""), 0, NULL);

    expect(DECIDE_VALIDATE, "default", GPU("\"nvidia.com/gpu\":\"1\""), 403,
           "namespace \"default\" belongs to no GPU tenant");
    expect(DECIDE_VALIDATE, "ml",
           GPU("\"nvidia.com/gpu\":\"1\"") ",\"serviceAccountName\":\"xtrainer-1\"", 403,
           "service account \"xtrainer-1\" may not use GPUs of tenant \"research\" (allowed: "
           "trainer-.*, default)");
    expect(DECIDE_VALIDATE, "ml", GPU("\"nvidia.com/gpu\":\"0.5\""), 403, "time-slicing or MIG");
    expect(DECIDE_VALIDATE, "ml", GPU("\"nvidia.com/gpu\":\"x\""), 400, "not a valid quantity");
    expect(DECIDE_VALIDATE, "ml", GPU("\"nvidia.com/mig-2g.20gb\":\"1\""), 403,
           "may not use MIG profile 2g.20gb");
    expect(DECIDE_VALIDATE, "ml", GPU("\"nvidia.com/gpu\":\"5\""), 403,
           "pod asks for 5 nvidia.com/gpu; tenant \"research\" allows at most 4 per pod");
    expect(DECIDE_VALIDATE, "ml", GPU("\"nvidia.com/gpu\":\"4\""), 403,
           "above tenant \"research\"'s quota of 3");
    expect(DECIDE_VALIDATE, "ml", GPU("\"nvidia.com/mig-1g.10gb.shared\":\"1\""), 403,
           "nvidia.com/mig-1g.10gb.shared, above tenant \"research\"'s quota of 0");
    expect(
        DECIDE_VALIDATE, "ml",
        GPU("\"nvidia.com/gpu\":\"1\"") ",\"nodeSelector\":{\"nvidia.com/gpu.product\":\"V100\"}",
        403, "nodeSelector pins nvidia.com/gpu.product to \"V100\"");
    expect(DECIDE_VALIDATE, "ml", GPU("\"nvidia.com/gpu\":\"1\"") ",\"nodeName\":\"n1\"", 403,
           "spec.nodeName is set");
    expect(DECIDE_VALIDATE, "ml", GPU("\"nvidia.com/gpu\":\"1\""), 403,
           "lacks the GPU toleration, placement or tenant label");
    /* /mutate refuses what /validate refuses, with the same words. */
    expect(DECIDE_MUTATE, "default", GPU("\"nvidia.com/gpu\":\"1\""), 403,
           "namespace \"default\" belongs to no GPU tenant");

    /* The mutated pod passes /validate, with the replica warning when it asks for several. */
    decide_pod(DECIDE_VALIDATE, "ml", "CREATE", "\"gpu-tenancy.io/tenant\":\"research\"",
               GPU("\"nvidia.com/gpu\":\"2\"") "," MUTATED, &d);
    CHECK(d.allowed);
    CHECK(!d.violation);
    CHECK_INT(d.nwarnings, 1);
    CHECK(d.nwarnings == 1 && strstr(d.warnings[0], "do not add compute") != NULL);
    CHECK(d.nwarnings == 1 && strlen(d.warnings[0]) <= DECISION_WARNING_LEN);
    CHECK_STR(d.tenant, "research");
    decision_clear(&d);

    /* ... and /mutate has nothing more to add to it. */
    decide_pod(DECIDE_MUTATE, "ml", "CREATE", "\"gpu-tenancy.io/tenant\":\"research\"",
               GPU("\"nvidia.com/gpu\":\"1\"") "," MUTATED, &d);
    CHECK(d.allowed);
    CHECK(d.patch == NULL);
    decision_clear(&d);

    decide_pod(DECIDE_MUTATE, "ml", "CREATE", "", GPU("\"nvidia.com/gpu\":\"1\""), &d);
    CHECK(d.allowed);
    CHECK(d.patch != NULL);
    CHECK_INT(cJSON_GetArraySize(d.patch), 3);
    decision_clear(&d);
}

static void
test_modes(void)
{
    struct decision d;

    /* Warn: allowed, the reason is the warning, from /validate only; still mutated. */
    decide_pod(DECIDE_VALIDATE, "warned", "CREATE", "", GPU("\"nvidia.com/gpu.shared\":\"1\""), &d);
    CHECK(d.allowed);
    CHECK(d.violation);
    CHECK_INT(d.nwarnings, 1);
    CHECK(d.nwarnings == 1 && strncmp(d.warnings[0], "tenant \"warned\" may not use", 27) == 0);
    decision_clear(&d);
    decide_pod(DECIDE_MUTATE, "warned", "CREATE", "",
               GPU("\"nvidia.com/gpu\":\"1\"") ",\"nodeName\":\"n\"", &d);
    CHECK(d.allowed);
    CHECK(d.violation);
    CHECK_INT(d.nwarnings, 0);
    CHECK(d.patch != NULL);
    decision_clear(&d);
    /* No placement can be computed for an unusable resource: left as it is. */
    decide_pod(DECIDE_MUTATE, "warned", "CREATE", "", GPU("\"nvidia.com/gpu.shared\":\"1\""), &d);
    CHECK(d.allowed);
    CHECK(d.patch == NULL);
    decision_clear(&d);

    /* Audit: allowed silently, the reason kept for the log. */
    decide_pod(DECIDE_VALIDATE, "audited", "CREATE", "", GPU("\"nvidia.com/gpu\":\"1\""), &d);
    CHECK(d.allowed);
    CHECK(d.violation);
    CHECK_INT(d.nwarnings, 0);
    CHECK(d.message != NULL && strstr(d.message, "lacks") != NULL);
    decision_clear(&d);
}

static void
test_other_requests(void)
{
    struct decision d;
    cJSON *req;

    /* Updates: only a newly added GPU toleration is judged. */
    decide_pod(DECIDE_VALIDATE, "ml", "UPDATE", "\"x\":\"y\"", GPU("\"nvidia.com/gpu\":\"1\""), &d);
    CHECK(d.allowed);
    decision_clear(&d);
    decide_pod(DECIDE_VALIDATE, "ml", "UPDATE", "",
               "\"containers\":[{\"name\":\"c\"}],\"tolerations\":[{\"key\":\"has-gpu\","
               "\"operator\":\"Exists\"}]",
               &d);
    CHECK(!d.allowed);
    CHECK_INT(d.code, 403);
    decision_clear(&d);

    req = test_json("{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":"
                    "\"Pod\"},\"namespace\":\"ml\",\"operation\":\"DELETE\",\"object\":null}");
    decide_request(policy, DECIDE_VALIDATE, req, &d);
    CHECK(d.allowed);
    decision_clear(&d);
    cJSON_Delete(req);

    req = test_json("{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":"
                    "\"ConfigMap\"},\"namespace\":\"ml\",\"operation\":\"CREATE\",\"object\":{}}");
    decide_request(policy, DECIDE_VALIDATE, req, &d);
    CHECK(d.allowed);
    decision_clear(&d);
    cJSON_Delete(req);

    req = test_json("{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":"
                    "\"Pod\"},\"namespace\":\"ml\",\"operation\":\"CREATE\",\"object\":[]}");
    decide_request(policy, DECIDE_VALIDATE, req, &d);
    CHECK(!d.allowed);
    CHECK_INT(d.code, 400);
    decision_clear(&d);
    cJSON_Delete(req);

    req = test_json("{\"uid\":\"u\"}");
    decide_request(policy, DECIDE_MUTATE, req, &d);
    CHECK(!d.allowed);
    CHECK_INT(d.code, 400);
    decision_clear(&d);
    cJSON_Delete(req);
}

/* Decides a whole request given as JSON. */
static void
decide_json(enum decide_endpoint ep, const char *json, struct decision *d)
{
    cJSON *req = test_json(json);

    decide_request(policy, ep, req, d);
    cJSON_Delete(req);
}

#define DEPLOYMENT(op, ns, tmpl, old)                                                              \
    "{\"uid\":\"u\",\"kind\":{\"group\":\"apps\",\"version\":\"v1\",\"kind\":\"Deployment\"},"     \
    "\"namespace\":\"" ns "\",\"operation\":\"" op                                                 \
    "\",\"object\":{\"metadata\":{\"name\":\"train\"},"                                            \
    "\"spec\":{\"replicas\":3,\"template\":{\"spec\":{" tmpl "}}}},\"oldObject\":{\"spec\":"       \
    "{\"replicas\":1,\"template\":{\"spec\":{" old "}}}}}"

static void
test_workloads(void)
{
    struct decision d;

    /* A template is judged like a pod, named by its workload, and never patched. */
    decide_json(DECIDE_VALIDATE, DEPLOYMENT("CREATE", "default", GPU("\"nvidia.com/gpu\":1"), ""),
                &d);
    CHECK(!d.allowed);
    CHECK_INT(d.code, 403);
    CHECK_STR(d.message, "Deployment \"train\": namespace \"default\" belongs to no GPU tenant: "
                         "GPUs are not given here");
    decision_clear(&d);
    decide_json(DECIDE_MUTATE, DEPLOYMENT("CREATE", "ml", GPU("\"nvidia.com/gpu\":1"), ""), &d);
    CHECK(d.allowed);
    CHECK(d.patch == NULL);
    decision_clear(&d);
    /* ... but the missing mutation is no fault of a template. */
    decide_json(DECIDE_VALIDATE, DEPLOYMENT("CREATE", "ml", GPU("\"nvidia.com/gpu\":1"), ""), &d);
    CHECK(d.allowed);
    CHECK(!d.violation);
    decision_clear(&d);
    decide_json(
        DECIDE_VALIDATE,
        DEPLOYMENT("UPDATE", "ml", GPU("\"nvidia.com/gpu\":9"), GPU("\"nvidia.com/gpu\":1")), &d);
    CHECK(!d.allowed);
    CHECK(d.message && strstr(d.message, "Deployment \"train\": pod asks for 9") != NULL);
    decision_clear(&d);
    /* Scaling a workload whose template would now be refused is still allowed. */
    decide_json(
        DECIDE_VALIDATE,
        DEPLOYMENT("UPDATE", "ml", GPU("\"nvidia.com/gpu\":9"), GPU("\"nvidia.com/gpu\":9")), &d);
    CHECK(d.allowed);
    decision_clear(&d);
    /* CronJobs keep their template one level deeper. */
    decide_json(
        DECIDE_VALIDATE,
        "{\"uid\":\"u\",\"kind\":{\"group\":\"batch\",\"version\":\"v1\",\"kind\":"
        "\"CronJob\"},\"namespace\":\"ml\",\"operation\":\"CREATE\",\"object\":{\"metadata\":"
        "{\"name\":\"nightly\"},\"spec\":{\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{"
        "\"containers\":[{\"name\":\"c\"}],\"tolerations\":[{\"key\":\"has-gpu\","
        "\"operator\":\"Exists\"}]}}}}}}}",
        &d);
    CHECK(!d.allowed);
    CHECK(d.message && strstr(d.message, "CronJob \"nightly\": pod requests no GPU") == d.message);
    decision_clear(&d);
}

#define QUOTA(op, ns, user, hard, oldhard)                                                         \
    "{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"ResourceQuota\"},"      \
    "\"name\":\"gpus\",\"namespace\":\"" ns "\",\"operation\":\"" op "\",\"userInfo\":{"           \
    "\"username\":\"" user "\",\"groups\":[\"system:authenticated\"]},\"object\":" hard            \
    ",\"oldObject\":" oldhard "}"
#define HARD(entries) "{\"spec\":{\"hard\":{" entries "}}}"

static void
expect_quota(const char *json, bool allowed, const char *want, size_t nwarnings)
{
    struct decision d;

    decide_json(DECIDE_VALIDATE, json, &d);
    CHECK_INT(d.allowed, allowed);
    if (want != NULL) {
        CHECK(d.message != NULL && strstr(d.message, want) != NULL);
        if (d.message == NULL || strstr(d.message, want) == NULL)
            fprintf(stderr, "message: %s\nwant: %s\n", d.message ? d.message : "(null)", want);
    }
    CHECK_INT(d.nwarnings, nwarnings);
    decision_clear(&d);
}

static void
test_quotas(void)
{
    expect_quota(QUOTA("CREATE", "ml", "bob", HARD("\"requests.nvidia.com/gpu\":\"3\""), "null"),
                 true, NULL, 0);
    expect_quota(QUOTA("CREATE", "ml", "bob", HARD("\"requests.nvidia.com/gpu\":\"4\""), "null"),
                 false,
                 "ResourceQuota \"gpus\" sets requests.nvidia.com/gpu to 4, above tenant "
                 "\"research\"'s ceiling of 3",
                 0);
    expect_quota(
        QUOTA("CREATE", "ml", "bob", HARD("\"requests.nvidia.com/mig-3g.40gb\":1"), "null"), false,
        "ceiling of 0", 0);
    /* Keys Kubernetes does not enforce are allowed, with a pointer to the one it does. */
    expect_quota(QUOTA("CREATE", "ml", "bob",
                       HARD("\"limits.nvidia.com/gpu\":\"99\",\"nvidia.com/gpu\":\"99\","
                            "\"cpu\":\"99\""),
                       "null"),
                 true, NULL, 2);
    expect_quota(
        QUOTA("CREATE", "default", "bob", HARD("\"requests.nvidia.com/gpu\":\"1\""), "null"), false,
        "namespace \"default\" belongs to no GPU tenant", 0);
    expect_quota(
        QUOTA("CREATE", "default", "bob", HARD("\"requests.nvidia.com/gpu\":\"0\""), "null"), true,
        NULL, 0);
    expect_quota(
        QUOTA("CREATE", "kube-system", "bob", HARD("\"requests.nvidia.com/gpu\":\"9\""), "null"),
        true, NULL, 0);
    /* Lifting the ceiling: deleting the quota or dropping its GPU entry. */
    expect_quota(QUOTA("DELETE", "ml", "bob", "null", HARD("\"requests.nvidia.com/gpu\":\"3\"")),
                 false, "deleting ResourceQuota \"gpus\" would lift", 0);
    expect_quota(QUOTA("DELETE", "ml", "bob", "null", HARD("\"requests.cpu\":\"3\"")), true, NULL,
                 0);
    expect_quota(QUOTA("UPDATE", "ml", "bob", HARD("\"requests.cpu\":\"3\""),
                       HARD("\"requests.nvidia.com/gpu\":\"3\"")),
                 false, "removes requests.nvidia.com/gpu", 0);
    expect_quota(QUOTA("UPDATE", "ml", "bob", HARD("\"requests.nvidia.com/gpu\":\"2\""),
                       HARD("\"requests.nvidia.com/gpu\":\"3\"")),
                 true, NULL, 0);
    expect_quota(QUOTA("CREATE", "ml", "bob", HARD("\"requests.nvidia.com/gpu\":\"1.5\""), "null"),
                 false, "is not a whole number", 0);
    /* Quota admins may do anything. */
    {
        struct decision d;
        decide_json(
            DECIDE_VALIDATE,
            "{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":"
            "\"ResourceQuota\"},\"name\":\"gpus\",\"namespace\":\"ml\",\"operation\":"
            "\"DELETE\",\"userInfo\":{\"username\":\"root\",\"groups\":[\"system:masters\"]},"
            "\"object\":null,\"oldObject\":" HARD("\"requests.nvidia.com/gpu\":\"3\"") "}",
            &d);
        CHECK(d.allowed);
        decision_clear(&d);
    }
}

int
main(void)
{
    xalloc_init_cjson();
    policy = test_policy(policy_yaml);
    test_pods();
    test_modes();
    test_other_requests();
    test_workloads();
    test_quotas();
    policy_free(policy);
    return check_summary();
}
