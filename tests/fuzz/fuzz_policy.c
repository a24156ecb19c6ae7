/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes policy loading: any bytes in, a policy or diagnostics out, never a crash or a leak. */
#include "fuzz.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "policy/policy_int.h"
#include "policy/xalloc.h"

#define FUZZ_NAME "fuzz.yaml"
/* Loaded policies also judge a few pods; a bound keeps each input fast. */
#define FUZZ_TENANTS_JUDGED 2

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    xalloc_init_cjson();
    return 0;
}

/* Checks that every diagnostic is one line at a position inside (or just past) the input. */
static void
fuzz_check_diags(const struct diags *d, const char *data, size_t size)
{
    unsigned lines = 1;
    size_t errors = 0;
    char buf[DIAG_MESSAGE_MAX * 2];

    /*
     * An upper bound of the lines as YAML counts them: "\r" alone also breaks a line, and so do
     * NEL, LS and PS, whose UTF-8 forms end in these bytes.
     */
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)data[i];

        lines += c == '\n' || c == '\r' || c == 0x85 || c == 0xa8 || c == 0xa9;
    }
    for (size_t i = 0; i < d->count; i++) {
        const struct diag *item = &d->items[i];

        if (item->file == NULL || strcmp(item->file, FUZZ_NAME) != 0)
            fuzz_fail("diagnostic %zu names file %s", i, item->file ? item->file : "(null)");
        if (item->message[0] == '\0' || strchr(item->message, '\n') != NULL)
            fuzz_fail("diagnostic %zu is empty or spans lines: %s", i, item->message);
        /* libyaml may point one line past the end of the input, at the end of the stream. */
        if (item->line > lines + 1 || (item->line > 0 && item->column == 0))
            fuzz_fail("diagnostic %zu at %u:%u is outside the %u-line input: %s", i, item->line,
                      item->column, lines, item->message);
        diag_format(item, buf, sizeof(buf));
        errors += !item->warning;
    }
    if (errors != d->errors)
        fuzz_fail("diags counts %zu errors, but %zu items are errors", d->errors, errors);
}

/* Returns an AdmissionReview creating a pod in ns, run by sa, asking for one of resource. */
static char *
fuzz_pod_review(const char *ns, const char *sa, const char *resource)
{
    cJSON *root = cJSON_CreateObject(), *req = cJSON_CreateObject(), *kind = cJSON_CreateObject();
    cJSON *pod = cJSON_CreateObject(), *meta = cJSON_CreateObject(), *spec = cJSON_CreateObject();
    cJSON *containers = cJSON_CreateArray(), *c = cJSON_CreateObject();
    cJSON *res = cJSON_CreateObject(), *limits = cJSON_CreateObject();
    char *text;

    cJSON_AddStringToObject(root, "apiVersion", "admission.k8s.io/v1");
    cJSON_AddStringToObject(root, "kind", "AdmissionReview");
    cJSON_AddItemToObject(root, "request", req);
    cJSON_AddStringToObject(req, "uid", "0b5e6f2c-fuzz");
    cJSON_AddStringToObject(kind, "group", "");
    cJSON_AddStringToObject(kind, "version", "v1");
    cJSON_AddStringToObject(kind, "kind", "Pod");
    cJSON_AddItemToObject(req, "kind", kind);
    cJSON_AddStringToObject(req, "namespace", ns);
    cJSON_AddStringToObject(req, "operation", "CREATE");
    cJSON_AddItemToObject(req, "object", pod);
    cJSON_AddStringToObject(meta, "name", "p");
    cJSON_AddStringToObject(meta, "namespace", ns);
    cJSON_AddItemToObject(pod, "metadata", meta);
    cJSON_AddItemToObject(pod, "spec", spec);
    cJSON_AddStringToObject(spec, "serviceAccountName", sa);
    cJSON_AddItemToObject(spec, "containers", containers);
    cJSON_AddItemToArray(containers, c);
    cJSON_AddStringToObject(c, "name", "main");
    cJSON_AddItemToObject(c, "resources", res);
    cJSON_AddItemToObject(res, "limits", limits);
    cJSON_AddStringToObject(limits, resource, "1");
    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

static void
fuzz_judge_pod(const struct policy *p, const char *ns, const char *sa, const char *resource)
{
    char *review = fuzz_pod_review(ns, sa, resource);

    fuzz_check_review(p, review, strlen(review));
    free(review);
}

/* Runs the lookups on a loaded policy and checks that they agree with what was loaded. */
static void
fuzz_check_policy(const struct policy *p)
{
    /* A name that makes a careless pattern backtrack: the match limits must stop it. */
    static const char slow[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!";

    if (strlen(policy_digest(p)) != 16)
        fuzz_fail("digest %s is not 16 hex digits", policy_digest(p));
    if (policy_tenant_count(p) != p->ntenants || p->ntenants == 0)
        fuzz_fail("policy_tenant_count is %zu for %zu tenants", policy_tenant_count(p),
                  p->ntenants);
    (void)policy_mode_name(policy_mode_for(p, NULL));
    if (policy_tenant_for_namespace(p, "") != NULL)
        fuzz_fail("the empty namespace belongs to a tenant");
    for (size_t i = 0; i < p->exempt_namespaces.count; i++) {
        const char *ns = p->exempt_namespaces.items[i];

        if (!policy_namespace_is_exempt(p, ns) || policy_tenant_for_namespace(p, ns) != NULL)
            fuzz_fail("exempt namespace %s is not exempt, or belongs to a tenant", ns);
    }
    for (size_t i = 0; i < p->ntenants; i++) {
        const struct policy_tenant *t = &p->tenants[i];
        const char *sa = t->npatterns > 0 ? t->patterns[0].source : "default";

        if (strcmp(policy_tenant_name(t), t->name) != 0)
            fuzz_fail("tenant %zu is named %s and %s", i, policy_tenant_name(t), t->name);
        if (t->npatterns == 0 && !policy_tenant_allows_service_account(t, "default"))
            fuzz_fail("tenant %s has no patterns but refuses \"default\"", t->name);
        (void)policy_tenant_allows_service_account(t, slow);
        (void)policy_mode_name(policy_mode_for(p, t));
        for (size_t k = 0; k < t->namespaces.count; k++) {
            if (policy_tenant_for_namespace(p, t->namespaces.items[k]) != t)
                fuzz_fail("namespace %s does not map back to tenant %s", t->namespaces.items[k],
                          t->name);
        }
        if (i >= FUZZ_TENANTS_JUDGED || t->namespaces.count == 0)
            continue;
        fuzz_judge_pod(p, t->namespaces.items[0], sa, "nvidia.com/gpu");
        if (t->sharing & (SHARING_TIME_SLICING | SHARING_MPS))
            fuzz_judge_pod(p, t->namespaces.items[0], sa, "nvidia.com/gpu.shared");
        if (t->mig_profiles.count > 0) {
            char *resource = xasprintf("nvidia.com/mig-%s", t->mig_profiles.items[0]);

            fuzz_judge_pod(p, t->namespaces.items[0], sa, resource);
            free(resource);
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct policy *p = NULL;
    struct diags d;
    int rc;

    diags_init(&d);
    rc = policy_load_buffer(FUZZ_NAME, text, size, &p, &d);
    fuzz_check_diags(&d, text, size);
    if (rc == 0 && (p == NULL || d.errors != 0))
        fuzz_fail("policy_load_buffer succeeded with %zu errors or no policy", d.errors);
    if (rc != 0 && (rc != -1 || p != NULL || d.errors == 0))
        fuzz_fail("policy_load_buffer failed (%d) without an error, or wrote its out-parameter",
                  rc);
    if (p != NULL)
        fuzz_check_policy(p);
    policy_free(p);
    diags_free(&d);
    return 0;
}
