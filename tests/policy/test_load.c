/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for policy/load.c and policy/policy.c: loading, defaults, lookups and error goldens. */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "policy/policy_int.h"
#include "policy/xalloc.h"

#define MINIMAL                                                                                    \
    "apiVersion: gpu-tenancy.io/v1alpha1\n"                                                        \
    "kind: GPUTenancyPolicy\n"                                                                     \
    "tenants:\n"                                                                                   \
    "  - name: research\n"                                                                         \
    "    namespaces: [ml-research]\n"                                                              \
    "    sharing: [exclusive]\n"                                                                   \
    "    products: [NVIDIA-A100-SXM4-80GB]\n"

/* ---------------------------------------------------------------------------------------- */
/* Utilities                                                                                 */
/* ---------------------------------------------------------------------------------------- */

static const char *
data_dir(void)
{
    const char *dir = getenv("GTW_TEST_DATA");

    return dir != NULL ? dir : "tests/data";
}

/* Returns the whole file at path (owned, NUL-terminated) and its length, or NULL. */
static char *
read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t cap = 0, used = 0, got;

    if (f == NULL)
        return NULL;
    do {
        xgrow(&data, &cap, used + 4097, 1);
        got = fread(data + used, 1, cap - used - 1, f);
        used += got;
    } while (got > 0);
    fclose(f);
    data[used] = '\0';
    *len = used;
    return data;
}

/* Returns the diagnostics as diags_print prints them (owned). */
static char *
diags_text(const struct diags *d)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);

    if (f == NULL)
        abort();
    diags_print(d, f);
    fclose(f);
    return text;
}

static char *
example_path(void)
{
    return xasprintf("%s/../../policy/examples/policy.yaml", data_dir());
}

/* Loads a policy from a string that must be valid; returns it or NULL after a failed check. */
static struct policy *
load_ok(const char *yaml)
{
    struct diags d;
    struct policy *p = NULL;

    diags_init(&d);
    CHECK_INT(policy_load_buffer("test.yaml", yaml, strlen(yaml), &p, &d), 0);
    CHECK_INT(d.errors, 0);
    if (d.errors != 0)
        diags_print(&d, stderr);
    diags_free(&d);
    return p;
}

/* Loads a policy that must fail and returns its diagnostics as text (owned). */
static char *
load_fail(const char *yaml, size_t len)
{
    struct diags d;
    struct policy *p = (struct policy *)&d; /* a sentinel: a failed load must not touch it */
    char *text;

    diags_init(&d);
    CHECK_INT(policy_load_buffer("test.yaml", yaml, len, &p, &d), -1);
    CHECK(p == (struct policy *)&d);
    CHECK(d.errors > 0);
    text = diags_text(&d);
    diags_free(&d);
    return text;
}

/* ---------------------------------------------------------------------------------------- */
/* The example policy, and lookups                                                           */
/* ---------------------------------------------------------------------------------------- */

static void
test_example(void)
{
    char *path = example_path();
    struct diags d;
    struct policy *p = NULL;
    const struct policy_tenant *research, *inference;
    char *text;

    diags_init(&d);
    CHECK_INT(policy_load_file(path, &p, &d), 0);
    CHECK_INT(d.errors, 0);
    /* The example is clean: every tenant that shares GPUs has a quota. */
    text = diags_text(&d);
    CHECK_STR(text, "");
    CHECK_INT(d.count, 0);
    free(text);
    if (p == NULL)
        goto out;

    CHECK_STR(p->file, path);
    CHECK_INT(strlen(policy_digest(p)), 16);
    CHECK_INT(strspn(policy_digest(p), "0123456789abcdef"), 16);
    CHECK_INT(policy_tenant_count(p), 2);
    CHECK_INT(p->mode, POLICY_MODE_ENFORCE);
    CHECK_STR(p->toleration.key, "has-gpu");
    CHECK_STR(p->toleration.operator, "Exists");
    CHECK(p->toleration.value == NULL);
    CHECK_STR(p->toleration.effect, "NoSchedule");
    CHECK_STR(p->product_label, "nvidia.com/gpu.product");
    CHECK_STR(p->sharing_label, "nvidia.com/gpu.sharing-strategy");
    CHECK_INT(p->quota_admin_users.count, 0);
    CHECK_INT(p->quota_admin_groups.count, 1);
    CHECK(policy_strings_contains(&p->quota_admin_groups, "system:masters"));
    CHECK(p->deny_toleration_without_gpu);

    research = policy_tenant_for_namespace(p, "ml-research");
    inference = policy_tenant_for_namespace(p, "serving");
    CHECK(research != NULL && inference != NULL);
    if (research == NULL || inference == NULL)
        goto out;
    CHECK_STR(policy_tenant_name(research), "research");
    CHECK_STR(policy_tenant_name(inference), "inference");
    CHECK(policy_tenant_for_namespace(p, "ml-staging") == research);
    CHECK(policy_tenant_for_namespace(p, "ml-researc") == NULL);
    CHECK(policy_tenant_for_namespace(p, "default") == NULL);
    CHECK(policy_tenant_for_namespace(p, "") == NULL);
    CHECK(policy_tenant_for_namespace(p, NULL) == NULL);

    CHECK(policy_namespace_is_exempt(p, "kube-system"));
    CHECK(policy_namespace_is_exempt(p, "gpu-operator"));
    CHECK(!policy_namespace_is_exempt(p, "ml-research"));
    CHECK(!policy_namespace_is_exempt(p, "kube"));

    /* Patterns match the whole name: no search inside it, no prefix match. */
    CHECK(policy_tenant_allows_service_account(research, "trainer-1"));
    CHECK(policy_tenant_allows_service_account(research, "trainer-"));
    CHECK(policy_tenant_allows_service_account(research, "trainer-1x"));
    CHECK(!policy_tenant_allows_service_account(research, "xtrainer-1"));
    CHECK(!policy_tenant_allows_service_account(research, "trainer"));
    CHECK(policy_tenant_allows_service_account(research, "notebook"));
    CHECK(!policy_tenant_allows_service_account(research, "notebook2"));
    CHECK(!policy_tenant_allows_service_account(research, "my-notebook"));
    CHECK(!policy_tenant_allows_service_account(research, "default"));
    CHECK(!policy_tenant_allows_service_account(research, ""));
    CHECK(policy_tenant_allows_service_account(inference, "default"));
    CHECK(policy_tenant_allows_service_account(inference, "anything-at-all"));

    CHECK_INT(policy_mode_for(p, research), POLICY_MODE_ENFORCE);
    CHECK_INT(policy_mode_for(p, inference), POLICY_MODE_WARN);
    CHECK_INT(policy_mode_for(p, NULL), POLICY_MODE_ENFORCE);
    CHECK_STR(policy_mode_name(POLICY_MODE_ENFORCE), "enforce");
    CHECK_STR(policy_mode_name(POLICY_MODE_WARN), "warn");
    CHECK_STR(policy_mode_name(POLICY_MODE_AUDIT), "audit");

    CHECK_INT(research->sharing, SHARING_EXCLUSIVE | SHARING_TIME_SLICING | SHARING_MIG);
    CHECK_INT(inference->sharing, SHARING_TIME_SLICING | SHARING_MPS);
    CHECK_INT(research->products.count, 2);
    if (research->products.count == 2) {
        CHECK_STR(research->products.items[0], "NVIDIA-A100-SXM4-80GB");
        CHECK_STR(research->products.items[1], "NVIDIA-H100-80GB-HBM3");
    }
    CHECK_INT(research->mig_profiles.count, 2);
    if (research->mig_profiles.count == 2) {
        CHECK_STR(research->mig_profiles.items[0], "1g.10gb");
        CHECK_STR(research->mig_profiles.items[1], "3g.40gb");
    }
    CHECK_INT(research->max_gpus_per_pod, 4);
    CHECK_INT(inference->max_gpus_per_pod, 1);

    CHECK_INT(policy_tenant_quota_for(research, "nvidia.com/gpu"), 8);
    CHECK_INT(policy_tenant_quota_for(research, "nvidia.com/mig-1g.10gb"), 14);
    CHECK_INT(policy_tenant_quota_for(research, "nvidia.com/mig-3g.40gb"), 4);
    CHECK_INT(policy_tenant_quota_for(research, "nvidia.com/gpu.shared"), 0);
    CHECK_INT(policy_tenant_quota_for(research, "nvidia.com/mig-2g.20gb"), 0);
    CHECK_INT(policy_tenant_quota_for(inference, "nvidia.com/gpu"), 4);
    CHECK_INT(policy_tenant_quota_for(inference, "nvidia.com/gpu.shared"), 8);
    CHECK_INT(policy_tenant_quota_for(inference, "nvidia.com/mig-1g.10gb"), 0);
out:
    policy_free(p);
    diags_free(&d);
    free(path);
}

static void
test_defaults(void)
{
    struct policy *p = load_ok(MINIMAL);
    const struct policy_tenant *t;

    if (p == NULL)
        return;
    CHECK_INT(p->mode, POLICY_MODE_ENFORCE);
    CHECK_STR(p->toleration.key, "has-gpu");
    CHECK_STR(p->toleration.operator, "Exists");
    CHECK(p->toleration.value == NULL);
    CHECK_STR(p->toleration.effect, "NoSchedule");
    CHECK_STR(p->product_label, "nvidia.com/gpu.product");
    CHECK_STR(p->sharing_label, "nvidia.com/gpu.sharing-strategy");
    CHECK(policy_namespace_is_exempt(p, "kube-system"));
    CHECK(policy_namespace_is_exempt(p, "gpu-operator"));
    CHECK_INT(p->exempt_namespaces.count, 2);
    CHECK_INT(p->quota_admin_users.count, 0);
    CHECK_INT(p->quota_admin_groups.count, 1);
    CHECK(policy_strings_contains(&p->quota_admin_groups, "system:masters"));
    CHECK(p->deny_toleration_without_gpu);
    CHECK_STR(p->file, "test.yaml");

    t = policy_tenant_for_namespace(p, "ml-research");
    CHECK(t != NULL);
    if (t != NULL) {
        CHECK_INT(t->npatterns, 0);
        CHECK(policy_tenant_allows_service_account(t, "default"));
        CHECK_INT(t->max_gpus_per_pod, -1);
        CHECK(!t->has_quota);
        CHECK_INT(policy_tenant_quota_for(t, "nvidia.com/gpu"), -1);
        CHECK(!t->has_mode);
        CHECK_INT(policy_mode_for(p, t), POLICY_MODE_ENFORCE);
        CHECK_INT(t->mig_profiles.count, 0);
    }
    policy_free(p);
}

static void
test_settings_written_out(void)
{
    static const char yaml[] =
        "apiVersion: gpu-tenancy.io/v1alpha1\n"
        "kind: GPUTenancyPolicy\n"
        "settings:\n"
        "  mode: audit\n"
        "  toleration: {key: example.com/gpu, operator: Equal, value: \"yes\", effect: \"\"}\n"
        "  productLabel: example.com/model\n"
        "  sharingLabel: sharing\n"
        "  exemptNamespaces: []\n"
        "  quotaAdmins: {users: [alice]}\n"
        "  denyTolerationWithoutGpu: false\n"
        "tenants:\n"
        "  - name: a\n"
        "    namespaces: [a, b]\n"
        "    sharing: [exclusive, exclusive]\n"
        "    products: [z, a, m, a, z]\n"
        "    mode: enforce\n";
    struct policy *p = load_ok(yaml);
    const struct policy_tenant *t;

    if (p == NULL)
        return;
    CHECK_INT(p->mode, POLICY_MODE_AUDIT);
    CHECK_STR(p->toleration.key, "example.com/gpu");
    CHECK_STR(p->toleration.operator, "Equal");
    CHECK_STR(p->toleration.value, "yes");
    CHECK(p->toleration.effect == NULL); /* empty: every effect */
    CHECK_STR(p->product_label, "example.com/model");
    CHECK_STR(p->sharing_label, "sharing");
    CHECK_INT(p->exempt_namespaces.count, 0);
    CHECK(!policy_namespace_is_exempt(p, "kube-system"));
    CHECK_INT(p->quota_admin_users.count, 1);
    CHECK(policy_strings_contains(&p->quota_admin_users, "alice"));
    /* A quotaAdmins written out is taken as written: no default group. */
    CHECK_INT(p->quota_admin_groups.count, 0);
    CHECK(!p->deny_toleration_without_gpu);
    t = policy_tenant_for_namespace(p, "b");
    CHECK(t != NULL);
    if (t != NULL) {
        CHECK_INT(t->sharing, SHARING_EXCLUSIVE);
        CHECK_INT(t->products.count, 3);
        if (t->products.count == 3) {
            CHECK_STR(t->products.items[0], "a");
            CHECK_STR(t->products.items[1], "m");
            CHECK_STR(t->products.items[2], "z");
        }
        CHECK(t->has_mode);
        CHECK_INT(policy_mode_for(p, t), POLICY_MODE_ENFORCE);
        CHECK_INT(policy_mode_for(p, NULL), POLICY_MODE_AUDIT);
    }
    policy_free(p);
}

/* The same policy loads the same in flow and in block style, with keys in any order. */
static void
test_styles(void)
{
    static const char flow[] =
        "{tenants: [{products: [NVIDIA-A100-SXM4-80GB], sharing: [exclusive],\n"
        "  namespaces: [ml-research], name: research}],\n"
        " kind: GPUTenancyPolicy, apiVersion: gpu-tenancy.io/v1alpha1}\n";
    struct policy *a = load_ok(MINIMAL), *b = load_ok(flow);

    if (a != NULL && b != NULL) {
        CHECK_INT(policy_tenant_count(a), policy_tenant_count(b));
        CHECK_STR(policy_tenant_name(policy_tenant_for_namespace(b, "ml-research")), "research");
        CHECK_STR(b->tenants[0].products.items[0], a->tenants[0].products.items[0]);
        CHECK_INT(b->tenants[0].sharing, a->tenants[0].sharing);
        /* The digest is of the bytes, so different text gives a different digest. */
        CHECK(strcmp(policy_digest(a), policy_digest(b)) != 0);
    }
    policy_free(a);
    policy_free(b);
}

static void
test_digest(void)
{
    struct policy *a = load_ok(MINIMAL), *b = load_ok(MINIMAL);
    char want[17];
    uint64_t h = 0xcbf29ce484222325u;

    for (const char *s = MINIMAL; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3u;
    }
    snprintf(want, sizeof(want), "%016" PRIx64, h);
    if (a != NULL && b != NULL) {
        CHECK_STR(policy_digest(a), want);
        CHECK_STR(policy_digest(a), policy_digest(b));
    }
    policy_free(a);
    policy_free(b);
}

/* Many tenants and namespaces: every namespace finds its tenant through the hash index. */
static void
test_many_namespaces(void)
{
    enum { TENANTS = 300, PER_TENANT = 4 };
    char *yaml = xstrdup("apiVersion: gpu-tenancy.io/v1alpha1\nkind: GPUTenancyPolicy\ntenants:\n");
    struct policy *p;

    for (int i = 0; i < TENANTS; i++) {
        char *next = xasprintf("%s  - name: t%d\n    sharing: [exclusive]\n    products: [x]\n"
                               "    namespaces: [ns-%d-0, ns-%d-1, ns-%d-2, ns-%d-3]\n",
                               yaml, i, i, i, i, i);
        free(yaml);
        yaml = next;
    }
    p = load_ok(yaml);
    free(yaml);
    if (p == NULL)
        return;
    CHECK_INT(policy_tenant_count(p), TENANTS);
    CHECK(p->ns_mask + 1 >= (size_t)2 * TENANTS * PER_TENANT);
    CHECK_INT((p->ns_mask + 1) & p->ns_mask, 0);
    for (int i = 0; i < TENANTS; i++) {
        for (int j = 0; j < PER_TENANT; j++) {
            char ns[32], name[16];
            const struct policy_tenant *t;

            snprintf(ns, sizeof(ns), "ns-%d-%d", i, j);
            snprintf(name, sizeof(name), "t%d", i);
            t = policy_tenant_for_namespace(p, ns);
            CHECK(t != NULL && strcmp(policy_tenant_name(t), name) == 0);
        }
    }
    CHECK(policy_tenant_for_namespace(p, "ns-300-0") == NULL);
    CHECK(policy_tenant_for_namespace(p, "ns-0-4") == NULL);
    policy_free(p);
}

static void
test_index_duplicate(void)
{
    struct policy_tenant tenants[2];
    char x[] = "x", y[] = "y", z[] = "z";
    char *a[] = {x, y}, *b[] = {z, x};
    struct policy p;

    memset(&p, 0, sizeof(p));
    memset(tenants, 0, sizeof(tenants));
    tenants[0].namespaces.items = a;
    tenants[0].namespaces.count = 2;
    tenants[1].namespaces.items = b;
    tenants[1].namespaces.count = 2;
    p.tenants = tenants;
    p.ntenants = 2;
    CHECK_INT(policy_index_namespaces(&p), -1);
    CHECK(p.ns_slots == NULL);
    tenants[1].namespaces.count = 1;
    CHECK_INT(policy_index_namespaces(&p), 0);
    CHECK(policy_tenant_for_namespace(&p, "z") == &tenants[1]);
    CHECK(policy_tenant_for_namespace(&p, "x") == &tenants[0]);
    free(p.ns_slots);
}

static void
test_strings(void)
{
    struct policy_strings l = {0};
    const char *in[] = {"b", "a", "c", "a", "b", "b"};

    l.items = xcalloc(6, sizeof(char *));
    for (size_t i = 0; i < 6; i++)
        l.items[l.count++] = xstrdup(in[i]);
    policy_strings_sort_unique(&l);
    CHECK_INT(l.count, 3);
    if (l.count == 3) {
        CHECK_STR(l.items[0], "a");
        CHECK_STR(l.items[1], "b");
        CHECK_STR(l.items[2], "c");
    }
    CHECK(policy_strings_contains(&l, "c"));
    CHECK(!policy_strings_contains(&l, "d"));
    policy_strings_clear(&l);
    CHECK_INT(l.count, 0);
    CHECK(l.items == NULL);
    policy_strings_sort_unique(&l);
    policy_free(NULL);
}

/* A pattern that backtracks badly stops at the match limit and counts as no match. */
static void
test_pattern_limits(void)
{
    static const char yaml[] = "apiVersion: gpu-tenancy.io/v1alpha1\n"
                               "kind: GPUTenancyPolicy\n"
                               "tenants:\n"
                               "  - name: a\n"
                               "    namespaces: [a]\n"
                               "    serviceAccounts: ['(a|aa)+$b', 'ok']\n"
                               "    sharing: [exclusive]\n"
                               "    products: [x]\n";
    struct policy *p = load_ok(yaml);

    if (p == NULL)
        return;
    CHECK(!policy_tenant_allows_service_account(
        &p->tenants[0], "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    CHECK(policy_tenant_allows_service_account(&p->tenants[0], "ok"));
    policy_free(p);
}

struct match_job {
    const struct policy_tenant *t;
    unsigned wrong;
};

static void *
match_thread(void *arg)
{
    struct match_job *job = arg;

    for (int i = 0; i < 2000; i++) {
        char name[32];

        snprintf(name, sizeof(name), "trainer-%d", i);
        if (!policy_tenant_allows_service_account(job->t, name))
            job->wrong++;
        snprintf(name, sizeof(name), "x-trainer-%d", i);
        if (policy_tenant_allows_service_account(job->t, name))
            job->wrong++;
    }
    return NULL;
}

/* Matching from several threads at once: each keeps its own match data, freed when it ends. */
static void
test_threads(void)
{
    char *path = example_path();
    struct match_job jobs[4];
    pthread_t threads[4];
    struct diags d;
    struct policy *p = NULL;

    diags_init(&d);
    CHECK_INT(policy_load_file(path, &p, &d), 0);
    if (p != NULL) {
        for (int i = 0; i < 4; i++) {
            jobs[i].t = policy_tenant_for_namespace(p, "ml-research");
            jobs[i].wrong = 0;
            CHECK_INT(pthread_create(&threads[i], NULL, match_thread, &jobs[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(threads[i], NULL);
            CHECK_INT(jobs[i].wrong, 0);
        }
    }
    policy_free(p);
    diags_free(&d);
    free(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                    */
/* ---------------------------------------------------------------------------------------- */

static void
test_file_errors(void)
{
    struct diags d;
    struct policy *p = NULL;
    char *missing = xasprintf("%s/no-such-policy.yaml", data_dir());
    char *text, *want;

    diags_init(&d);
    CHECK_INT(policy_load_file(missing, &p, &d), -1);
    CHECK(p == NULL);
    text = diags_text(&d);
    want = xasprintf("%s: cannot read: No such file or directory\n", missing);
    CHECK_STR(text, want);
    free(text);
    free(want);
    diags_free(&d);

    CHECK_INT(policy_load_file(data_dir(), &p, &d), -1);
    CHECK(p == NULL);
    CHECK_INT(d.count, 1);
    if (d.count == 1) {
        CHECK_INT(d.items[0].line, 0);
        CHECK(strncmp(d.items[0].message, "cannot read: ", 13) == 0);
    }
    diags_free(&d);
    free(missing);
}

static void
test_too_large(void)
{
    size_t len = 16u * 1024 * 1024 + 1;
    char *big = xmalloc(len);
    char *text;

    memset(big, '#', len);
    text = load_fail(big, len);
    CHECK(strstr(text, "test.yaml: policy file is too large") == text);
    free(text);
    free(big);
}

/* Diagnostics of a load come after those already in diags, which stay as they were. */
static void
test_diags_appended(void)
{
    static const char yaml[] = "kind: nope\napiVersion: v1\n";
    struct diags d;
    struct policy *p = NULL;
    char *text;

    diags_init(&d);
    diags_add(&d, true, "other.yaml", 9, 9, "earlier");
    CHECK_INT(policy_load_buffer("test.yaml", yaml, strlen(yaml), &p, &d), -1);
    text = diags_text(&d);
    CHECK_STR(text, "other.yaml:9:9: warning: earlier\n"
                    "test.yaml:1:1: missing required key \"tenants\" in policy\n"
                    "test.yaml:1:7: unsupported kind \"nope\" (expected GPUTenancyPolicy)\n"
                    "test.yaml:2:13: unsupported apiVersion \"v1\" (expected "
                    "gpu-tenancy.io/v1alpha1)\n");
    free(text);
    diags_free(&d);
}

/* Long values are cut in messages, so a message always keeps what it expects. */
static void
test_long_values(void)
{
    char *yaml = xasprintf("apiVersion: gpu-tenancy.io/v1alpha1\nkind: GPUTenancyPolicy\n"
                           "tenants:\n  - name: a\n    namespaces: [a]\n    sharing: [%0300d]\n"
                           "    products: [x]\n",
                           7);
    char *text = load_fail(yaml, strlen(yaml));

    CHECK(strstr(text, "...\" (expected exclusive, time-slicing, mps or mig)\n") != NULL);
    free(text);
    free(yaml);
}

static bool
has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * Every tests/data/bad-NAME.yaml loads with exactly the diagnostics in bad-NAME.err. Loading
 * fails unless they are all warnings. Adding a pair of files adds a case.
 */
static void
test_golden(void)
{
    DIR *dir = opendir(data_dir());
    struct dirent *e;
    unsigned cases = 0;

    CHECK(dir != NULL);
    if (dir == NULL)
        return;
    while ((e = readdir(dir)) != NULL) {
        char *yaml_path, *err_path, *base, *yaml, *want, *got;
        size_t yaml_len, want_len;
        struct diags d;
        struct policy *p = NULL;
        int want_rc, rc;

        if (strncmp(e->d_name, "bad-", 4) != 0 || !has_suffix(e->d_name, ".yaml"))
            continue;
        base = xstrdup(e->d_name);
        yaml_path = xasprintf("%s/%s", data_dir(), base);
        err_path = xasprintf("%s/%.*s.err", data_dir(), (int)(strlen(base) - 5), base);
        yaml = read_whole(yaml_path, &yaml_len);
        want = read_whole(err_path, &want_len);
        CHECK(yaml != NULL);
        CHECK(want != NULL);
        if (yaml != NULL && want != NULL) {
            /* Only warnings expected: the file is valid and loads. */
            want_rc = 0;
            for (const char *line = want; *line != '\0';) {
                const char *end = strchr(line, '\n');
                size_t n = end ? (size_t)(end - line) : strlen(line);
                char *one = xstrndup(line, n);

                if (strstr(one, ": warning: ") == NULL)
                    want_rc = -1;
                free(one);
                line += n + (end ? 1 : 0);
            }
            diags_init(&d);
            rc = policy_load_buffer(base, yaml, yaml_len, &p, &d);
            got = diags_text(&d);
            if (rc != want_rc || strcmp(got, want) != 0)
                fprintf(stderr, "%s: returned %d, want %d; diagnostics:\n%swant:\n%s", base, rc,
                        want_rc, got, want);
            CHECK_INT(rc, want_rc);
            CHECK(strcmp(got, want) == 0);
            CHECK((rc == 0) == (p != NULL));
            free(got);
            policy_free(p);
            diags_free(&d);
            cases++;
        }
        free(yaml);
        free(want);
        free(yaml_path);
        free(err_path);
        free(base);
    }
    closedir(dir);
    /* Guards against a wrong GTW_TEST_DATA making the loop silently test nothing. */
    CHECK(cases >= 20);
}

/* Every tests/data/good-*.yaml loads without a single diagnostic. */
static void
test_good(void)
{
    DIR *dir = opendir(data_dir());
    struct dirent *e;
    unsigned cases = 0;

    CHECK(dir != NULL);
    if (dir == NULL)
        return;
    while ((e = readdir(dir)) != NULL) {
        char *path;
        struct diags d;
        struct policy *p = NULL;

        if (strncmp(e->d_name, "good-", 5) != 0 || !has_suffix(e->d_name, ".yaml"))
            continue;
        path = xasprintf("%s/%s", data_dir(), e->d_name);
        diags_init(&d);
        CHECK_INT(policy_load_file(path, &p, &d), 0);
        CHECK_INT(d.count, 0);
        if (d.count != 0)
            diags_print(&d, stderr);
        policy_free(p);
        diags_free(&d);
        free(path);
        cases++;
    }
    closedir(dir);
    CHECK(cases >= 3);
}

/* ---------------------------------------------------------------------------------------- */
/* Robustness                                                                                */
/* ---------------------------------------------------------------------------------------- */

/* Loads one input; whatever it is, the result must be consistent (and ASan must stay quiet). */
static void
load_any(const char *data, size_t len)
{
    struct diags d;
    struct policy *p = NULL;
    int rc;

    diags_init(&d);
    rc = policy_load_buffer("fuzz.yaml", data, len, &p, &d);
    if (rc == 0) {
        CHECK(p != NULL && d.errors == 0);
    } else {
        CHECK(p == NULL && d.errors > 0);
    }
    for (size_t i = 0; i < d.count; i++)
        CHECK(strchr(d.items[i].message, '\n') == NULL);
    policy_free(p);
    diags_free(&d);
}

static uint32_t
next_random(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

static void
test_fuzz(void)
{
    static const char alphabet[] = "{}[]:-,'\"&*!|>#%@ \t\n0aZ.~\\\x01\xc3\xff";
    char *path = example_path();
    size_t len = 0;
    char *example = read_whole(path, &len);
    uint32_t seed = 12345;

    CHECK(example != NULL);
    if (example == NULL) {
        free(path);
        return;
    }
    /* Every prefix: a policy cut short anywhere. */
    for (size_t n = 0; n <= len; n++) {
        char *copy = xstrndup(example, n);

        load_any(copy, n);
        free(copy);
    }
    /* Random damage: a few bytes replaced, dropped or doubled. */
    for (int round = 0; round < 3000; round++) {
        char *copy = xmalloc(len * 2 + 1);
        size_t n = len;

        memcpy(copy, example, len);
        for (int k = 0, edits = 1 + (int)(next_random(&seed) % 4); k < edits && n > 0; k++) {
            size_t at = next_random(&seed) % n;

            switch (next_random(&seed) % 3) {
            case 0:
                copy[at] = alphabet[next_random(&seed) % (sizeof(alphabet) - 1)];
                break;
            case 1:
                memmove(copy + at, copy + at + 1, n - at - 1);
                n--;
                break;
            default:
                memmove(copy + at + 1, copy + at, n - at);
                n++;
                break;
            }
        }
        load_any(copy, n);
        free(copy);
    }
    load_any(NULL, 0);
    free(example);
    free(path);
}

int
main(void)
{
    test_example();
    test_defaults();
    test_settings_written_out();
    test_styles();
    test_digest();
    test_many_namespaces();
    test_index_duplicate();
    test_strings();
    test_pattern_limits();
    test_threads();
    test_file_errors();
    test_too_large();
    test_diags_appended();
    test_long_values();
    test_golden();
    test_good();
    test_fuzz();
    return check_summary();
}
