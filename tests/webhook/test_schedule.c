/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for webhook/schedule.c: which nodes the scheduler's filters leave to a pod. */
#include "check.h"
#include "policy/testutil.h"

#include <stdlib.h>

#include "policy/xalloc.h"
#include "webhook/schedule.h"

/* A GPU node like tests/data/nodes.yaml's: labels, the has-gpu taint, 8 GPUs allocatable. */
#define GPU_NODE(name, extra_labels, taints, status)                                               \
    "{\"metadata\":{\"name\":\"" name "\",\"labels\":{\"zone\":\"a\",\"gpu.count\":\"8\","         \
    "\"nvidia.com/gpu.product\":\"A100\"" extra_labels "}},"                                       \
    "\"spec\":{\"taints\":[" taints "]},\"status\":" status "}"
#define HAS_GPU_TAINT "{\"key\":\"has-gpu\",\"effect\":\"NoSchedule\"}"
#define ALLOC8 "{\"allocatable\":{\"cpu\":\"94\",\"nvidia.com/gpu\":\"8\"}}"
#define TOLERATE_GPU "\"tolerations\":[{\"key\":\"has-gpu\",\"operator\":\"Exists\"}]"
#define GPUS(n) "\"containers\":[{\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"" n "\"}}}]"

/*
 * Returns "fits" or the reason the pod spec (a JSON object's members, without braces) does not
 * fit the node; the caller frees it.
 */
static char *
fit(const char *spec_members, const char *node_text)
{
    char *spec_text = xasprintf("{%s}", spec_members), why[SCHEDULE_REASON_MAX], rwhy[256];
    cJSON *spec = test_json(spec_text), *node = test_json(node_text);
    struct gpu_amounts amounts;
    char *out;

    if (resources_for_pod_spec(spec, &amounts, rwhy, sizeof(rwhy)) != RESOURCES_OK) {
        fprintf(stderr, "bad test pod: %s\n", rwhy);
        abort();
    }
    if (schedule_pod_fits_node(spec, &amounts, node, why, sizeof(why)))
        out = xstrdup("fits");
    else
        out = xstrdup(why);
    cJSON_Delete(spec);
    cJSON_Delete(node);
    free(spec_text);
    return out;
}

static void
expect(int line, const char *spec, const char *node, const char *want)
{
    char *got = fit(spec, node);

    if (strcmp(got, want) == 0) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__, line, got, want);
    }
    free(got);
}

#define EXPECT(spec, node, want) expect(__LINE__, spec, node, want)

static const char *const node = GPU_NODE("n1", "", HAS_GPU_TAINT, ALLOC8);

static void
test_taints(void)
{
    const char *multi = GPU_NODE("n1", "",
                                 HAS_GPU_TAINT ",{\"key\":\"dedicated\",\"value\":\"ml\","
                                               "\"effect\":\"NoExecute\"},"
                                               "{\"key\":\"soft\",\"effect\":\"PreferNoSchedule\"}",
                                 ALLOC8);

    EXPECT(GPUS("1"), node, "untolerated taint has-gpu:NoSchedule");
    EXPECT(TOLERATE_GPU "," GPUS("1"), node, "fits");
    /* An empty key with Exists tolerates every taint; PreferNoSchedule never filters. */
    EXPECT("\"tolerations\":[{\"operator\":\"Exists\"}]," GPUS("1"), multi, "fits");
    EXPECT(TOLERATE_GPU "," GPUS("1"), multi, "untolerated taint dedicated:NoExecute");
    /* Equal (the default operator) compares values; an empty effect matches every effect. */
    EXPECT("\"tolerations\":[{\"key\":\"has-gpu\",\"operator\":\"Exists\"},"
           "{\"key\":\"dedicated\",\"value\":\"ml\"}]," GPUS("1"),
           multi, "fits");
    EXPECT("\"tolerations\":[{\"key\":\"has-gpu\",\"operator\":\"Exists\"},"
           "{\"key\":\"dedicated\",\"operator\":\"Equal\",\"value\":\"web\"}]," GPUS("1"),
           multi, "untolerated taint dedicated:NoExecute");
    /* A toleration for another effect does not count. */
    EXPECT("\"tolerations\":[{\"key\":\"has-gpu\",\"operator\":\"Exists\","
           "\"effect\":\"NoExecute\"}]," GPUS("1"),
           node, "untolerated taint has-gpu:NoSchedule");
    EXPECT("\"tolerations\":[{\"key\":\"has-gpu\",\"operator\":\"Exists\","
           "\"effect\":\"NoSchedule\"}]," GPUS("1"),
           node, "fits");
    /* An unknown operator tolerates nothing. */
    EXPECT("\"tolerations\":[{\"key\":\"has-gpu\",\"operator\":\"Maybe\"}]," GPUS("1"), node,
           "untolerated taint has-gpu:NoSchedule");
}

static void
test_node_selector(void)
{
    EXPECT(TOLERATE_GPU ",\"nodeSelector\":{\"zone\":\"a\"}," GPUS("1"), node, "fits");
    EXPECT(TOLERATE_GPU ",\"nodeSelector\":{\"zone\":\"b\"}," GPUS("1"), node,
           "nodeSelector wants zone=b, node has a");
    EXPECT(TOLERATE_GPU ",\"nodeSelector\":{\"missing\":\"x\"}," GPUS("1"), node,
           "nodeSelector wants missing=x, node has no such label");
    /* A number written where the API has a string compares by its text. */
    EXPECT(TOLERATE_GPU ",\"nodeSelector\":{\"gpu.count\":8}," GPUS("1"), node, "fits");
}

/* A pod with one required node affinity, given as its nodeSelectorTerms. */
#define AFFINITY(terms)                                                                            \
    TOLERATE_GPU ",\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuring"        \
                 "Execution\":{\"nodeSelectorTerms\":" terms "}}}," GPUS("1")
#define EXPR(key, op, values) "{\"key\":\"" key "\",\"operator\":\"" op "\",\"values\":" values "}"

static void
test_affinity(void)
{
    EXPECT(AFFINITY("[{\"matchExpressions\":[" EXPR("zone", "In", "[\"a\",\"b\"]") "]}]"), node,
           "fits");
    EXPECT(AFFINITY("[{\"matchExpressions\":[" EXPR("zone", "In", "[\"b\"]") "]}]"), node,
           "required node affinity: zone is \"a\", not one of b");
    /* Expressions of a term are ANDed, terms are ORed. */
    EXPECT(AFFINITY("[{\"matchExpressions\":[" EXPR("zone", "In", "[\"a\"]") "," EXPR(
               "nvidia.com/gpu.product", "In", "[\"H100\"]") "]}]"),
           node, "required node affinity: nvidia.com/gpu.product is \"A100\", not one of H100");
    EXPECT(AFFINITY("[{\"matchExpressions\":[" EXPR(
               "zone", "In", "[\"b\"]") "]},"
                                        "{\"matchExpressions\":[" EXPR("nvidia.com/gpu.product",
                                                                       "In", "[\"A100\"]") "]}]"),
           node, "fits");
    EXPECT(AFFINITY("[{\"matchExpressions\":[" EXPR("zone", "NotIn", "[\"b\"]") "," EXPR(
               "absent", "NotIn", "[\"x\"]") "]}]"),
           node, "fits");
    EXPECT(AFFINITY("[{\"matchExpressions\":[" EXPR("zone", "NotIn", "[\"a\"]") "]}]"), node,
           "required node affinity: zone is \"a\", which the pod excludes");
    EXPECT(AFFINITY("[{\"matchExpressions\":[" EXPR("zone", "Exists", "[]") "," EXPR(
               "absent", "DoesNotExist", "[]") "]}]"),
           node, "fits");
    EXPECT(AFFINITY("[{\"matchExpressions\":[" EXPR("absent", "Exists", "[]") "]}]"), node,
           "required node affinity: no absent label");
    EXPECT(AFFINITY("[{\"matchExpressions\":[" EXPR("zone", "DoesNotExist", "[]") "]}]"), node,
           "required node affinity: zone is set, which the pod excludes");
    /* Gt and Lt compare whole numbers; a label that is none matches neither. */
    EXPECT(AFFINITY("[{\"matchExpressions\":[" EXPR("gpu.count", "Gt", "[\"4\"]") "," EXPR(
               "gpu.count", "Lt", "[\"16\"]") "]}]"),
           node, "fits");
    EXPECT(AFFINITY("[{\"matchExpressions\":[" EXPR("gpu.count", "Gt", "[\"8\"]") "]}]"), node,
           "required node affinity: gpu.count is \"8\", not > 8");
    EXPECT(AFFINITY("[{\"matchExpressions\":[" EXPR("zone", "Lt", "[\"9\"]") "]}]"), node,
           "required node affinity: zone is \"a\", not < 9");
    EXPECT(AFFINITY("[{\"matchExpressions\":[" EXPR("gpu.count", "Gt", "[\"1\",\"2\"]") "]}]"),
           node, "required node affinity: Gt on gpu.count takes exactly one value");
    /* matchFields knows metadata.name. */
    EXPECT(AFFINITY("[{\"matchFields\":[" EXPR("metadata.name", "In", "[\"n1\"]") "]}]"), node,
           "fits");
    EXPECT(AFFINITY("[{\"matchFields\":[" EXPR("metadata.name", "NotIn", "[\"n1\"]") "]}]"), node,
           "required node affinity: metadata.name is \"n1\", which the pod excludes");
    /* When no term matches, the first one says why. */
    EXPECT(AFFINITY("[{\"matchExpressions\":[" EXPR(
               "zone", "In", "[\"b\",\"c\"]") "]},"
                                              "{\"matchFields\":[" EXPR("metadata.name", "In",
                                                                        "[\"n2\"]") "]}]"),
           node,
           "required node affinity: none of 2 terms matches (the first: zone is \"a\", not one "
           "of b, c)");
    /* An empty term, or no term at all, matches no node; an unknown operator matches none. */
    EXPECT(AFFINITY("[{}]"), node, "required node affinity: an empty term matches no node");
    EXPECT(AFFINITY("[]"), node, "required node affinity has no nodeSelectorTerms");
    EXPECT(AFFINITY("[{\"matchExpressions\":[" EXPR("zone", "Near", "[\"a\"]") "]}]"), node,
           "required node affinity: unknown operator \"Near\"");
}

static void
test_resources(void)
{
    const char *capacity =
        GPU_NODE("n2", "", HAS_GPU_TAINT, "{\"capacity\":{\"nvidia.com/gpu\":4}}");
    const char *cpu = "{\"metadata\":{\"name\":\"cpu\"},\"spec\":{},"
                      "\"status\":{\"allocatable\":{\"cpu\":\"31\"}}}";

    EXPECT(TOLERATE_GPU "," GPUS("8"), node, "fits");
    EXPECT(TOLERATE_GPU "," GPUS("9"), node, "insufficient nvidia.com/gpu (9 > 8)");
    /* Capacity stands in when a node shows no allocatable. */
    EXPECT(TOLERATE_GPU "," GPUS("4"), capacity, "fits");
    EXPECT(TOLERATE_GPU "," GPUS("5"), capacity, "insufficient nvidia.com/gpu (5 > 4)");
    EXPECT(GPUS("1"), cpu, "insufficient nvidia.com/gpu (1 > 0)");
    /* Init containers and sidecars count the way the scheduler counts them. */
    EXPECT(TOLERATE_GPU ",\"initContainers\":[{\"resources\":{\"limits\":{\"nvidia.com/gpu\":"
                        "\"9\"}}}]," GPUS("1"),
           node, "insufficient nvidia.com/gpu (9 > 8)");
    EXPECT(TOLERATE_GPU ",\"initContainers\":[{\"restartPolicy\":\"Always\",\"resources\":"
                        "{\"limits\":{\"nvidia.com/gpu\":\"2\"}}}]," GPUS("7"),
           node, "insufficient nvidia.com/gpu (9 > 8)");
    /* A pod without GPUs fits a CPU node; its CPU is not looked at. */
    EXPECT("\"containers\":[{\"resources\":{\"limits\":{\"cpu\":\"64\"}}}]", cpu, "fits");
}

static void
test_node_state(void)
{
    const char *cordoned = "{\"metadata\":{\"name\":\"c\"},\"spec\":{\"unschedulable\":true},"
                           "\"status\":{\"allocatable\":{}}}";

    EXPECT("\"containers\":[{}]", cordoned, "node is unschedulable (cordoned)");
    EXPECT("\"tolerations\":[{\"key\":\"node.kubernetes.io/unschedulable\",\"operator\":"
           "\"Exists\",\"effect\":\"NoSchedule\"}],\"containers\":[{}]",
           cordoned, "fits");
    EXPECT(TOLERATE_GPU ",\"nodeName\":\"n1\"," GPUS("1"), node, "fits");
    EXPECT(TOLERATE_GPU ",\"nodeName\":\"n7\"," GPUS("1"), node, "spec.nodeName is \"n7\"");
}

static void
test_node_name(void)
{
    cJSON *n = test_json(node), *nameless = test_json("{\"metadata\":{}}");

    CHECK_STR(schedule_node_name(n), "n1");
    CHECK(schedule_node_name(nameless) == NULL);
    cJSON_Delete(n);
    cJSON_Delete(nameless);
}

int
main(void)
{
    xalloc_init_cjson();
    test_taints();
    test_node_selector();
    test_affinity();
    test_resources();
    test_node_state();
    test_node_name();
    return check_summary();
}
