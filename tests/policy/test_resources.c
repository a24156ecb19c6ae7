/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for policy/resources.c: GPU resource names and a pod's effective amounts. */
#include <stdlib.h>

#include "check.h"
#include "policy/resources.h"
#include "policy/xalloc.h"

static enum resources_result
amounts_of(const char *spec_json, struct gpu_amounts *a, char *why, size_t size)
{
    cJSON *spec = cJSON_Parse(spec_json);
    enum resources_result r;

    if (spec == NULL) {
        fprintf(stderr, "bad test JSON: %s\n", spec_json);
        abort();
    }
    r = resources_for_pod_spec(spec, a, why, size);
    cJSON_Delete(spec);
    return r;
}

static void
test_classify(void)
{
    enum gpu_kind kind;
    char profile[MIG_PROFILE_MAX];

    CHECK(resources_classify("nvidia.com/gpu", &kind, profile, sizeof(profile)));
    CHECK_INT(kind, GPU_WHOLE);
    CHECK(resources_classify("nvidia.com/gpu.shared", &kind, profile, sizeof(profile)));
    CHECK_INT(kind, GPU_SHARED);
    CHECK(resources_classify("nvidia.com/mig-1g.10gb", &kind, profile, sizeof(profile)));
    CHECK_INT(kind, GPU_MIG);
    CHECK_STR(profile, "1g.10gb");
    CHECK(resources_classify("nvidia.com/mig-3g.40gb.shared", &kind, profile, sizeof(profile)));
    CHECK_INT(kind, GPU_MIG_SHARED);
    CHECK_STR(profile, "3g.40gb");
    CHECK(!resources_classify("nvidia.com/mig-", &kind, profile, sizeof(profile)));
    CHECK(!resources_classify("cpu", &kind, profile, sizeof(profile)));
    CHECK(!resources_classify("amd.com/gpu", &kind, profile, sizeof(profile)));
    CHECK(!resources_classify("nvidia.com/gpu2", &kind, profile, sizeof(profile)));
}

static void
test_amounts(void)
{
    struct gpu_amounts a;
    char why[512];

    /* Limits win; a request alone counts; 0 is no request; CPU is ignored. */
    CHECK_INT(amounts_of("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":"
                         "{\"nvidia.com/gpu\":\"2\",\"cpu\":\"500m\"},\"requests\":"
                         "{\"nvidia.com/gpu\":\"2\"}}},{\"name\":\"b\",\"resources\":"
                         "{\"requests\":{\"nvidia.com/gpu\":\"1\"}}},{\"name\":\"c\","
                         "\"resources\":{\"limits\":{\"nvidia.com/mig-1g.10gb\":\"0\"}}}]}",
                         &a, why, sizeof(why)),
              RESOURCES_OK);
    CHECK_INT(a.count, 1);
    CHECK_INT(resources_amount(&a, "nvidia.com/gpu"), 3);
    CHECK_INT(resources_amount(&a, "nvidia.com/mig-1g.10gb"), 0);

    /* No GPUs at all. */
    CHECK_INT(amounts_of("{\"containers\":[{\"name\":\"a\"}]}", &a, why, sizeof(why)),
              RESOURCES_OK);
    CHECK_INT(a.count, 0);

    /* A regular init container that asks for more than the containers sets the floor. */
    CHECK_INT(amounts_of("{\"initContainers\":[{\"name\":\"i\",\"resources\":{\"limits\":"
                         "{\"nvidia.com/gpu\":\"4\"}}}],\"containers\":[{\"name\":\"a\","
                         "\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"1\"}}}]}",
                         &a, why, sizeof(why)),
              RESOURCES_OK);
    CHECK_INT(resources_amount(&a, "nvidia.com/gpu"), 4);

    /* Sidecars (restartPolicy Always) add to the containers and to later init containers. */
    CHECK_INT(amounts_of("{\"initContainers\":[{\"name\":\"s\",\"restartPolicy\":\"Always\","
                         "\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"1\"}}},{\"name\":\"i\","
                         "\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"3\"}}}],\"containers\":"
                         "[{\"name\":\"a\",\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"1\"}}},"
                         "{\"name\":\"b\",\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"1\"}}}]}",
                         &a, why, sizeof(why)),
              RESOURCES_OK);
    CHECK_INT(resources_amount(&a, "nvidia.com/gpu"), 4); /* max(1+1+1, 3+1) */

    /* Several resources come out sorted by name. */
    CHECK_INT(amounts_of("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":"
                         "{\"nvidia.com/mig-3g.40gb\":1,\"nvidia.com/gpu.shared\":\"2\"}}}]}",
                         &a, why, sizeof(why)),
              RESOURCES_OK);
    CHECK_INT(a.count, 2);
    CHECK_STR(a.items[0].name, "nvidia.com/gpu.shared");
    CHECK_STR(a.items[1].name, "nvidia.com/mig-3g.40gb");
    CHECK_STR(a.items[1].profile, "3g.40gb");
    CHECK_INT(a.items[1].amount, 1);

    /* Fractions point to sharing instead. */
    CHECK_INT(amounts_of("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":"
                         "{\"nvidia.com/gpu\":\"500m\"}}}]}",
                         &a, why, sizeof(why)),
              RESOURCES_FRACTIONAL);
    CHECK(strstr(why, "time-slicing or MIG") != NULL);
    CHECK(strstr(why, "\"a\"") != NULL);

    CHECK_INT(amounts_of("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":"
                         "{\"nvidia.com/gpu\":\"2\"},\"requests\":{\"nvidia.com/gpu\":\"1\"}}}]}",
                         &a, why, sizeof(why)),
              RESOURCES_MISMATCH);
    CHECK(strstr(why, "differs") != NULL);

    CHECK_INT(amounts_of("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":"
                         "{\"nvidia.com/gpu\":\"lots\"}}}]}",
                         &a, why, sizeof(why)),
              RESOURCES_INVALID);
    CHECK_INT(amounts_of("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":"
                         "{\"nvidia.com/gpu\":true}}}]}",
                         &a, why, sizeof(why)),
              RESOURCES_INVALID);
    CHECK_INT(amounts_of("{\"containers\":{}}", &a, why, sizeof(why)), RESOURCES_INVALID);
    CHECK_INT(amounts_of("{\"containers\":[1]}", &a, why, sizeof(why)), RESOURCES_INVALID);
    CHECK_INT(amounts_of("{\"containers\":[{\"resources\":[]}]}", &a, why, sizeof(why)),
              RESOURCES_INVALID);
    CHECK_INT(amounts_of("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":"
                         "{\"nvidia.com/gpu\":\"9E\"}}},{\"name\":\"b\",\"resources\":{\"limits\":"
                         "{\"nvidia.com/gpu\":\"9E\"}}}]}",
                         &a, why, sizeof(why)),
              RESOURCES_INVALID);
}

int
main(void)
{
    xalloc_init_cjson();
    test_classify();
    test_amounts();
    return check_summary();
}
