/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for policy/placement.c: the node label sets each tenant's GPU pods may land on. */
#include "check.h"
#include "testutil.h"

#include "policy/placement.h"
#include "policy/xalloc.h"

static const char *policy_yaml = "apiVersion: gpu-tenancy.io/v1alpha1\n"
                                 "kind: GPUTenancyPolicy\n"
                                 "tenants:\n"
                                 "  - name: all\n"
                                 "    namespaces: [all]\n"
                                 "    sharing: [exclusive, time-slicing, mps, mig]\n"
                                 "    products: [H100, A100]\n"
                                 "    migProfiles: [3g.40gb, 1g.10gb]\n"
                                 "  - name: excl\n"
                                 "    namespaces: [excl]\n"
                                 "    sharing: [exclusive]\n"
                                 "    products: [A100]\n"
                                 "  - name: ts\n"
                                 "    namespaces: [ts]\n"
                                 "    sharing: [time-slicing]\n"
                                 "    products: [A100]\n"
                                 "  - name: mig\n"
                                 "    namespaces: [mig]\n"
                                 "    sharing: [mig]\n"
                                 "    products: [H100]\n"
                                 "    migProfiles: [1g.10gb]\n";

/* Computes the placement of one resource and renders it as "key=v1,v2;key=...". */
static int
render(const struct policy *p, const char *ns, const char *resources, char *buf, size_t size)
{
    const struct policy_tenant *t = policy_tenant_for_namespace(p, ns);
    struct gpu_amounts a = {.count = 0};
    struct placement pl;
    char why[512];
    size_t used = 0;

    for (const char *r = resources; *r;) {
        const char *end = strchr(r, ' ');
        size_t len = end ? (size_t)(end - r) : strlen(r);
        struct gpu_resource *g = &a.items[a.count++];

        snprintf(g->name, sizeof(g->name), "%.*s", (int)len, r);
        resources_classify(g->name, &g->kind, g->profile, sizeof(g->profile));
        g->amount = 1;
        r += len + (end ? 1 : 0);
    }
    if (placement_for_pod(p, t, &a, &pl, why, sizeof(why)) < 0) {
        snprintf(buf, size, "DENY %s", why);
        return -1;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < pl.count; i++) {
        used += (size_t)snprintf(buf + used, size - used, "%s%s=", i ? ";" : "", pl.reqs[i].key);
        for (size_t v = 0; v < pl.reqs[i].values.count; v++)
            used += (size_t)snprintf(buf + used, size - used, "%s%s", v ? "," : "",
                                     pl.reqs[i].values.items[v]);
    }
    placement_clear(&pl);
    return 0;
}

int
main(void)
{
    struct policy *p;
    char buf[4096];

    xalloc_init_cjson();
    p = test_policy(policy_yaml);

    CHECK_INT(render(p, "all", "nvidia.com/gpu", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "nvidia.com/gpu.product=A100,A100-MIG-1g.10gb,A100-MIG-1g.10gb-SHARED,"
                   "A100-MIG-3g.40gb,A100-MIG-3g.40gb-SHARED,A100-SHARED,H100,H100-MIG-1g.10gb,"
                   "H100-MIG-1g.10gb-SHARED,H100-MIG-3g.40gb,H100-MIG-3g.40gb-SHARED,H100-SHARED;"
                   "nvidia.com/gpu.sharing-strategy=mps,none,time-slicing");

    CHECK_INT(render(p, "excl", "nvidia.com/gpu", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "nvidia.com/gpu.product=A100;nvidia.com/gpu.sharing-strategy=none");

    CHECK_INT(render(p, "ts", "nvidia.com/gpu", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "nvidia.com/gpu.product=A100-SHARED;"
                   "nvidia.com/gpu.sharing-strategy=time-slicing");

    CHECK_INT(render(p, "ts", "nvidia.com/gpu.shared", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "nvidia.com/gpu.product=A100;nvidia.com/gpu.sharing-strategy=time-slicing");

    CHECK_INT(render(p, "excl", "nvidia.com/gpu.shared", buf, sizeof(buf)), -1);
    CHECK_STR(buf, "DENY tenant \"excl\" may not use nvidia.com/gpu.shared: it needs sharing "
                   "time-slicing or mps (allowed: exclusive)");

    /* MIG single strategy: whole "GPUs" are MIG slices, the product says which. */
    CHECK_INT(render(p, "mig", "nvidia.com/gpu", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "nvidia.com/gpu.product=H100-MIG-1g.10gb;nvidia.com/gpu.sharing-strategy=none");

    /* MIG mixed strategy. */
    CHECK_INT(render(p, "mig", "nvidia.com/mig-1g.10gb", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "nvidia.com/gpu.product=H100;nvidia.com/mig-1g.10gb.sharing-strategy=none");
    CHECK_INT(render(p, "all", "nvidia.com/mig-1g.10gb", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "nvidia.com/gpu.product=A100,H100;"
                   "nvidia.com/mig-1g.10gb.sharing-strategy=none,time-slicing");
    CHECK_INT(render(p, "all", "nvidia.com/mig-1g.10gb.shared", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "nvidia.com/gpu.product=A100,H100;"
                   "nvidia.com/mig-1g.10gb.sharing-strategy=time-slicing");
    CHECK_INT(render(p, "mig", "nvidia.com/mig-1g.10gb.shared", buf, sizeof(buf)), -1);
    CHECK(strstr(buf, "time-slicing with mig") != NULL);
    CHECK_INT(render(p, "mig", "nvidia.com/mig-2g.20gb", buf, sizeof(buf)), -1);
    CHECK_STR(buf, "DENY tenant \"mig\" may not use MIG profile 2g.20gb (nvidia.com/mig-2g.20gb); "
                   "allowed profiles: 1g.10gb");
    CHECK_INT(render(p, "excl", "nvidia.com/mig-1g.10gb", buf, sizeof(buf)), -1);
    CHECK(strstr(buf, "needs sharing mig (allowed: exclusive)") != NULL);

    /* Several resources: the same key keeps the intersection. */
    CHECK_INT(render(p, "all", "nvidia.com/gpu nvidia.com/mig-1g.10gb", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "nvidia.com/gpu.product=A100,H100;"
                   "nvidia.com/gpu.sharing-strategy=mps,none,time-slicing;"
                   "nvidia.com/mig-1g.10gb.sharing-strategy=none,time-slicing");
    CHECK_INT(render(p, "ts", "nvidia.com/gpu nvidia.com/gpu.shared", buf, sizeof(buf)), -1);
    CHECK(strstr(buf, "no GPU node can serve") != NULL);

    policy_free(p);
    return check_summary();
}
