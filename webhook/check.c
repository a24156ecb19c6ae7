/* SPDX-License-Identifier: Apache-2.0 */
/* The check command: manifests judged offline as the webhook would, and where their pods fit. */
#include "webhook/check.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "policy/decide.h"
#include "policy/diag.h"
#include "policy/json.h"
#include "policy/policy.h"
#include "policy/resources.h"
#include "policy/xalloc.h"
#include "webhook/jsonpatch.h"
#include "webhook/manifest.h"
#include "webhook/schedule.h"

#define PROGRAM "gpu-tenancy-webhook"

#define EXIT_DENIED 1
#define EXIT_BAD_INPUT 2

#define DEFAULT_USER "check"
#define DEFAULT_GROUP "system:authenticated"
#define DEFAULT_NAMESPACE "default"

static const char usage_text[] =
    "Usage: " PROGRAM " check --policy FILE [OPTION]... MANIFEST...\n"
    "Judge the objects of Kubernetes manifests offline, exactly as the webhook would judge them\n"
    "when they are created, and say where admitted pods could be scheduled.\n"
    "\n"
    "  --policy FILE           the GPU tenancy policy\n"
    "  --nodes FILE            the cluster's nodes (`kubectl get nodes -o json`, or YAML): list\n"
    "                          the nodes each admitted pod or pod template could run on\n"
    "  -o, --output FORMAT     text or json (default text)\n"
    "  -n, --namespace NAME    the namespace of objects that name none\n"
    "                          (default \"" DEFAULT_NAMESPACE "\")\n"
    "  --user NAME             the requesting user, for quotaAdmins (default " DEFAULT_USER ")\n"
    "  --group NAME            a group of the requesting user; repeat for several\n"
    "                          (default " DEFAULT_GROUP ")\n"
    "  -h, --help              show this help\n"
    "\n"
    "A MANIFEST is a YAML or JSON file of objects: several documents, Lists and `kubectl get`\n"
    "output all work; - reads standard input. Pods, Deployments, ReplicaSets, StatefulSets,\n"
    "DaemonSets, Jobs, CronJobs and ResourceQuotas are judged; other kinds pass untouched. For a\n"
    "pod, and for the pods of a workload's template, the patch the webhook applies is shown.\n"
    "\n"
    "Exits 0 when everything is allowed, 1 when something is denied (a workload whose pods\n"
    "would be denied included), 2 for unreadable or invalid input.\n";

struct check_options {
    const char *policy_path;
    const char *nodes_path;
    const char *user;
    const char *default_namespace;
    const char **groups; /* owned array of borrowed strings */
    size_t ngroups;
    bool json;
};

/* The GPU-relevant kinds, with where their pods are described. */
struct check_kind {
    const char *group;
    const char *kind;
    const char *template_path; /* a JSON Pointer to the pod template, or NULL */
    const char *template_name; /* the same, as kubectl explain spells it */
};

static const struct check_kind judged_kinds[] = {
    {"", "Pod", NULL, NULL},
    {"", "ResourceQuota", NULL, NULL},
    {"apps", "Deployment", "/spec/template", "spec.template"},
    {"apps", "ReplicaSet", "/spec/template", "spec.template"},
    {"apps", "StatefulSet", "/spec/template", "spec.template"},
    {"apps", "DaemonSet", "/spec/template", "spec.template"},
    {"batch", "Job", "/spec/template", "spec.template"},
    {"batch", "CronJob", "/spec/jobTemplate/spec/template", "spec.jobTemplate.spec.template"},
    {"resource.k8s.io", "ResourceClaim", NULL, NULL},
    {"resource.k8s.io", "ResourceClaimTemplate", NULL, NULL},
    {"resource.k8s.io", "DeviceClass", NULL, NULL},
};

/* Kinds without a namespace, among those found in manifests next to workloads. */
static const char *const cluster_kinds[] = {
    "DeviceClass",
    "Namespace",
    "Node",
    "PersistentVolume",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "RuntimeClass",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "APIService",
    "CSIDriver",
    "CSINode",
    "VolumeAttachment",
    "CertificateSigningRequest",
};

/* What the webhook made of one object, after /mutate, the patch, and /validate. */
struct check_verdict {
    bool allowed;
    int code;
    char *message; /* owned, or NULL */
    bool violation;
    enum policy_mode mode;
    const char *tenant;                        /* borrowed from the policy, or NULL */
    char *warnings[2 * DECISION_WARNINGS_MAX]; /* owned */
    size_t nwarnings;
    cJSON *patch;  /* owned; what /mutate returned, or NULL */
    cJSON *object; /* owned; the object as /validate saw it (patched), or NULL */
};

/* One object of a manifest and everything said about it. */
struct check_entry {
    const struct manifest *file;
    const struct manifest_object *at;
    const char *api_version, *kind, *name_space, *name; /* borrowed from the object */
    const struct check_kind *judged;                    /* NULL for a kind passed untouched */
    bool exempt;
    struct check_verdict v;
    bool have_pods; /* a workload whose template was judged as a pod */
    struct check_verdict pods;
};

struct check_ctx {
    const struct check_options *opts;
    const struct policy *policy;
    struct manifest nodes;
    bool have_nodes;
    unsigned long requests;
    cJSON *report; /* the JSON report being built, or NULL for text output */
    bool denied;
    bool bad_input;
};

static void
check_verdict_clear(struct check_verdict *v)
{
    free(v->message);
    for (size_t i = 0; i < v->nwarnings; i++)
        free(v->warnings[i]);
    cJSON_Delete(v->patch);
    cJSON_Delete(v->object);
    memset(v, 0, sizeof(*v));
}

/* ---------------------------------------------------------------------------------------- */
/* Admission requests                                                                        */
/* ---------------------------------------------------------------------------------------- */

/*
 * Guesses the resource (plural) of a kind the way client-go's UnsafeGuessKindToResource does,
 * which is right for every kind judged here. Returns a new string.
 */
static char *
check_resource_name(const char *kind)
{
    size_t len = strlen(kind);
    char *lower = xstrdup(kind), *out;

    for (size_t i = 0; i < len; i++)
        if (lower[i] >= 'A' && lower[i] <= 'Z')
            lower[i] = (char)(lower[i] - 'A' + 'a');
    if (len > 0 && lower[len - 1] == 's')
        out = xasprintf("%ses", lower);
    else if (len > 0 && lower[len - 1] == 'y')
        out = xasprintf("%.*sies", (int)(len - 1), lower);
    else
        out = xasprintf("%ss", lower);
    free(lower);
    return out;
}

/*
 * Builds the "request" of the AdmissionReview the apiserver sends for creating object (which is
 * copied) as the configured user. Returns a new cJSON object.
 */
static cJSON *
check_request_new(struct check_ctx *cx, const char *group, const char *version, const char *kind,
                  const char *name, const char *ns, const cJSON *object)
{
    cJSON *req = cJSON_CreateObject(), *gvk = cJSON_CreateObject(), *gvr = cJSON_CreateObject();
    cJSON *user = cJSON_CreateObject(), *groups = cJSON_CreateArray(), *options;
    char *resource = check_resource_name(kind), *uid;

    uid = xasprintf("00000000-0000-4000-8000-%012lu", ++cx->requests);
    cJSON_AddStringToObject(req, "uid", uid);
    cJSON_AddStringToObject(gvk, "group", group);
    cJSON_AddStringToObject(gvk, "version", version);
    cJSON_AddStringToObject(gvk, "kind", kind);
    cJSON_AddStringToObject(gvr, "group", group);
    cJSON_AddStringToObject(gvr, "version", version);
    cJSON_AddStringToObject(gvr, "resource", resource);
    cJSON_AddItemToObject(req, "kind", gvk);
    cJSON_AddItemToObject(req, "resource", gvr);
    cJSON_AddItemToObject(req, "requestKind", cJSON_Duplicate(gvk, true));
    cJSON_AddItemToObject(req, "requestResource", cJSON_Duplicate(gvr, true));
    cJSON_AddStringToObject(req, "name", name);
    cJSON_AddStringToObject(req, "namespace", ns);
    cJSON_AddStringToObject(req, "operation", "CREATE");
    cJSON_AddStringToObject(user, "username", cx->opts->user);
    for (size_t i = 0; i < cx->opts->ngroups; i++)
        cJSON_AddItemToArray(groups, cJSON_CreateString(cx->opts->groups[i]));
    cJSON_AddItemToObject(user, "groups", groups);
    cJSON_AddItemToObject(req, "userInfo", user);
    cJSON_AddItemToObject(req, "object", cJSON_Duplicate(object, true));
    cJSON_AddNullToObject(req, "oldObject");
    cJSON_AddFalseToObject(req, "dryRun");
    options = cJSON_AddObjectToObject(req, "options");
    cJSON_AddStringToObject(options, "apiVersion", "meta.k8s.io/v1");
    cJSON_AddStringToObject(options, "kind", "CreateOptions");
    free(resource);
    free(uid);
    return req;
}

/* Adds text to the verdict's warnings unless it is there already (from the other endpoint). */
static void
check_add_warning(struct check_verdict *v, const char *text)
{
    for (size_t i = 0; i < v->nwarnings; i++)
        if (strcmp(v->warnings[i], text) == 0)
            return;
    if (v->nwarnings < sizeof(v->warnings) / sizeof(v->warnings[0]))
        v->warnings[v->nwarnings++] = xstrdup(text);
}

/* Moves a decision's verdict (not its patch) into v. */
static void
check_take_decision(struct check_verdict *v, struct decision *d)
{
    v->allowed = d->allowed;
    v->code = d->code;
    free(v->message);
    v->message = d->message;
    d->message = NULL;
    v->violation = d->violation;
    v->mode = d->mode;
    v->tenant = d->tenant;
    for (size_t i = 0; i < d->nwarnings; i++)
        check_add_warning(v, d->warnings[i]);
}

/*
 * Plays the apiserver's admission of creating object in namespace ns: /mutate, its patch
 * applied, then /validate on the result. Fills out (clear it with check_verdict_clear).
 */
static void
check_admit(struct check_ctx *cx, const char *group, const char *version, const char *kind,
            const char *name, const char *ns, const cJSON *object, struct check_verdict *out)
{
    struct decision d;
    cJSON *req;
    char why[512];

    memset(out, 0, sizeof(*out));
    req = check_request_new(cx, group, version, kind, name, ns, object);
    decide_request(cx->policy, DECIDE_MUTATE, req, &d);
    cJSON_Delete(req);
    check_take_decision(out, &d);
    out->object = cJSON_Duplicate(object, true);
    if (!d.allowed) {
        decision_clear(&d);
        return;
    }
    out->patch = d.patch;
    d.patch = NULL;
    decision_clear(&d);
    if (out->patch != NULL && jsonpatch_apply(&out->object, out->patch, why, sizeof(why)) < 0) {
        /* The webhook's own patch must apply; if it does not, the apiserver refuses the object. */
        free(out->message);
        out->message = xasprintf("the webhook's patch does not apply: %s", why);
        out->allowed = false;
        out->code = 500;
        return;
    }
    req = check_request_new(cx, group, version, kind, name, ns, out->object);
    decide_request(cx->policy, DECIDE_VALIDATE, req, &d);
    cJSON_Delete(req);
    check_take_decision(out, &d);
    decision_clear(&d);
}

/*
 * Makes the pod a controller would create from a workload's template: the template's metadata
 * and spec, in the workload's namespace, named after it. Returns a new object, or NULL when the
 * workload has no template with a spec.
 */
static cJSON *
check_template_pod(const cJSON *object, const struct check_kind *k, const char *ns,
                   const char *owner)
{
    const cJSON *tmpl = jsonpatch_pointer_get(object, k->template_path);
    const cJSON *meta = json_get(tmpl, "metadata");
    const cJSON *spec = json_get(tmpl, "spec");
    cJSON *pod, *m;

    if (!cJSON_IsObject(spec))
        return NULL;
    pod = cJSON_CreateObject();
    cJSON_AddStringToObject(pod, "apiVersion", "v1");
    cJSON_AddStringToObject(pod, "kind", "Pod");
    m = cJSON_IsObject(meta) ? cJSON_Duplicate(meta, true) : cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(m, "namespace");
    cJSON_AddStringToObject(m, "namespace", ns);
    if (json_string(m, "name") == NULL && json_string(m, "generateName") == NULL) {
        char *gen = xasprintf("%s-", owner);
        cJSON_AddStringToObject(m, "generateName", gen);
        free(gen);
    }
    cJSON_AddItemToObject(pod, "metadata", m);
    cJSON_AddItemToObject(pod, "spec", cJSON_Duplicate(spec, true));
    return pod;
}

static bool
check_is_cluster_scoped(const char *kind)
{
    for (size_t i = 0; i < sizeof(cluster_kinds) / sizeof(cluster_kinds[0]); i++)
        if (strcmp(kind, cluster_kinds[i]) == 0)
            return true;
    return false;
}

static const struct check_kind *
check_find_kind(const char *group, const char *kind)
{
    for (size_t i = 0; i < sizeof(judged_kinds) / sizeof(judged_kinds[0]); i++)
        if (strcmp(judged_kinds[i].group, group) == 0 && strcmp(judged_kinds[i].kind, kind) == 0)
            return &judged_kinds[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Nodes                                                                                     */
/* ---------------------------------------------------------------------------------------- */

/* Reads the nodes file. Returns 0, or -1 after printing why. */
static int
check_load_nodes(struct check_ctx *cx, const char *path)
{
    struct diags d;
    int rc = -1;

    diags_init(&d);
    if (manifest_read_file(path, &cx->nodes, &d) < 0)
        goto out;
    for (size_t i = 0; i < cx->nodes.count; i++) {
        const struct manifest_object *o = &cx->nodes.items[i];
        const char *kind = json_string(o->object, "kind");

        if (strcmp(kind, "Node") != 0)
            diags_add(&d, false, cx->nodes.file, o->line, o->column,
                      "expected a Node (from `kubectl get nodes -o json`), found a %s", kind);
        else if (schedule_node_name(o->object) == NULL)
            diags_add(&d, false, cx->nodes.file, o->line, o->column, "a Node without a name");
    }
    if (d.errors > 0) {
        manifest_clear(&cx->nodes);
        goto out;
    }
    cx->have_nodes = true;
    rc = 0;
out:
    diags_print(&d, stderr);
    diags_free(&d);
    return rc;
}

/*
 * Returns a JSON array with one {name, fits, reason} per node for the pod, or NULL when no
 * nodes were given.
 */
static cJSON *
check_fit_nodes(const struct check_ctx *cx, const cJSON *pod)
{
    const cJSON *spec = json_get(pod, "spec");
    struct gpu_amounts amounts;
    enum resources_result r;
    char why[SCHEDULE_REASON_MAX], rwhy[256];
    cJSON *out;

    if (!cx->have_nodes)
        return NULL;
    out = cJSON_CreateArray();
    r = resources_for_pod_spec(spec, &amounts, rwhy, sizeof(rwhy));
    for (size_t i = 0; i < cx->nodes.count; i++) {
        const cJSON *node = cx->nodes.items[i].object;
        cJSON *item = cJSON_CreateObject();
        bool fits = false;

        /* The apiserver refuses a pod whose extended resources are not whole numbers. */
        if (r != RESOURCES_OK)
            snprintf(why, sizeof(why), "the GPU request cannot be scheduled: %.200s", rwhy);
        else
            fits = schedule_pod_fits_node(spec, &amounts, node, why, sizeof(why));
        cJSON_AddStringToObject(item, "name", schedule_node_name(node));
        cJSON_AddBoolToObject(item, "fits", fits);
        if (!fits)
            cJSON_AddStringToObject(item, "reason", why);
        cJSON_AddItemToArray(out, item);
    }
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* Reporting                                                                                 */
/* ---------------------------------------------------------------------------------------- */

static const char *
check_verdict_word(const struct check_verdict *v)
{
    if (!v->allowed)
        return "denied";
    if (v->violation)
        return v->mode == POLICY_MODE_WARN ? "warned" : "audited";
    return "allowed";
}

/* The pod whose placement is asked about: the patched pod, or the pod of the template. */
static const cJSON *
check_entry_pod(const struct check_entry *e)
{
    if (!e->v.allowed || e->judged == NULL)
        return NULL;
    if (e->have_pods)
        return e->pods.allowed ? e->pods.object : NULL;
    if (strcmp(e->judged->kind, "Pod") == 0)
        return e->v.object;
    return NULL;
}

/* The patch shown with the entry: the pod's, or that of the template's pods. */
static const cJSON *
check_entry_patch(const struct check_entry *e)
{
    return e->have_pods ? e->pods.patch : e->v.patch;
}

/* Returns true for an admitted object whose patch is worth showing: pods and claims. */
static bool
check_entry_shows_patch(const struct check_entry *e)
{
    if (check_entry_pod(e) != NULL)
        return true;
    return e->v.allowed && e->judged != NULL && !e->exempt &&
           (strcmp(e->judged->kind, "ResourceClaim") == 0 ||
            strcmp(e->judged->kind, "ResourceClaimTemplate") == 0);
}

static void
check_print_verdict(const char *prefix, const struct check_verdict *v, const char *note)
{
    if (!v->allowed)
        printf("%sdenied: %s\n", prefix, v->message ? v->message : "denied");
    else if (v->violation)
        printf("%sallowed (%s mode): %s\n", prefix, policy_mode_name(v->mode),
               v->message ? v->message : "");
    else if (note != NULL)
        printf("%sallowed (%s)\n", prefix, note);
    else
        printf("%sallowed\n", prefix);
}

static void
check_print_text(const struct check_entry *e, const cJSON *nodes)
{
    const cJSON *pod = check_entry_pod(e), *patch = check_entry_patch(e), *op;
    const char *note = NULL;
    char *head;

    if (e->judged == NULL)
        note = "not a kind the webhook judges";
    else if (e->exempt)
        note = "exempt namespace";
    if (*e->name_space != '\0')
        head = xasprintf("%s %s/%s: ", e->kind, e->name_space, e->name);
    else
        head = xasprintf("%s %s: ", e->kind, e->name);
    check_print_verdict(head, &e->v, note);
    free(head);
    for (size_t i = 0; i < e->v.nwarnings; i++)
        printf("  warning: %s\n", e->v.warnings[i]);
    if (e->have_pods && !e->pods.allowed)
        check_print_verdict("  its pods: ", &e->pods, NULL);
    if (check_entry_shows_patch(e) && e->judged != NULL && !e->exempt) {
        if (patch == NULL) {
            printf("  patch: none\n");
        } else {
            if (e->have_pods)
                printf("  patch for the pods of %s:\n", e->judged->template_name);
            else
                printf("  patch:\n");
            cJSON_ArrayForEach(op, patch)
            {
                char *text = cJSON_PrintUnformatted(op);
                printf("    %s\n", text);
                free(text);
            }
        }
    }
    if (pod != NULL && nodes != NULL) {
        const cJSON *n;
        bool any = false;

        printf("  nodes:");
        cJSON_ArrayForEach(n, nodes)
        {
            if (!cJSON_IsTrue(json_get(n, "fits")))
                continue;
            printf("%s %s", any ? "," : "", json_string(n, "name"));
            any = true;
        }
        printf("%s\n", any ? "" : " no node fits");
    }
}

static cJSON *
check_string_or_null(const char *s)
{
    return s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *
check_verdict_json(const struct check_verdict *v, cJSON *item)
{
    cJSON_AddBoolToObject(item, "allowed", v->allowed);
    cJSON_AddStringToObject(item, "verdict", check_verdict_word(v));
    if (v->allowed)
        cJSON_AddNullToObject(item, "code");
    else
        cJSON_AddNumberToObject(item, "code", v->code);
    cJSON_AddItemToObject(item, "message", check_string_or_null(v->message));
    return item;
}

static void
check_add_json(struct check_ctx *cx, const struct check_entry *e, cJSON *nodes)
{
    cJSON *item = cJSON_CreateObject(), *warnings = cJSON_CreateArray();
    const cJSON *pod = check_entry_pod(e), *patch = check_entry_patch(e);

    cJSON_AddStringToObject(item, "file", e->file->file);
    cJSON_AddNumberToObject(item, "index", (double)e->at->index);
    if (e->at->line > 0)
        cJSON_AddNumberToObject(item, "line", e->at->line);
    else
        cJSON_AddNullToObject(item, "line");
    cJSON_AddStringToObject(item, "apiVersion", e->api_version);
    cJSON_AddStringToObject(item, "kind", e->kind);
    cJSON_AddStringToObject(item, "namespace", e->name_space);
    cJSON_AddStringToObject(item, "name", e->name);
    cJSON_AddBoolToObject(item, "judged", e->judged != NULL && !e->exempt);
    check_verdict_json(&e->v, item);
    for (size_t i = 0; i < e->v.nwarnings; i++)
        cJSON_AddItemToArray(warnings, cJSON_CreateString(e->v.warnings[i]));
    cJSON_AddItemToObject(item, "warnings", warnings);
    cJSON_AddItemToObject(item, "tenant", check_string_or_null(e->v.tenant));
    cJSON_AddItemToObject(item, "template",
                          check_string_or_null(e->judged ? e->judged->template_name : NULL));
    if (e->have_pods)
        cJSON_AddItemToObject(item, "pods", check_verdict_json(&e->pods, cJSON_CreateObject()));
    else
        cJSON_AddNullToObject(item, "pods");
    if (check_entry_shows_patch(e) && patch != NULL)
        cJSON_AddItemToObject(item, "patch", cJSON_Duplicate(patch, true));
    else
        cJSON_AddNullToObject(item, "patch");
    if (pod != NULL && nodes != NULL)
        cJSON_AddItemToObject(item, "nodes", cJSON_Duplicate(nodes, true));
    else
        cJSON_AddNullToObject(item, "nodes");
    cJSON_AddItemToArray(cx->report, item);
}

/* ---------------------------------------------------------------------------------------- */
/* Judging                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* Splits apiVersion into group and version. Returns 0, or -1 for a malformed one. */
static int
check_split_api_version(const char *api, char *group, size_t gsize, char *version, size_t vsize)
{
    const char *slash = strchr(api, '/');

    if (slash == NULL) {
        snprintf(group, gsize, "%s", "");
        snprintf(version, vsize, "%s", api);
        return 0;
    }
    if (slash == api || slash[1] == '\0' || strchr(slash + 1, '/') != NULL)
        return -1;
    snprintf(group, gsize, "%.*s", (int)(slash - api), api);
    snprintf(version, vsize, "%s", slash + 1);
    return 0;
}

/* Judges one object of file m, then prints it or adds it to the report. */
static void
check_object(struct check_ctx *cx, const struct manifest *m, const struct manifest_object *at)
{
    struct check_entry e = {.file = m, .at = at};
    cJSON *object = cJSON_Duplicate(at->object, true), *meta, *pod = NULL, *nodes = NULL;
    char group[256], version[256];
    const char *ns, *request_name;

    e.api_version = json_string(object, "apiVersion");
    e.kind = json_string(object, "kind");
    if (strlen(e.api_version) >= sizeof(group) ||
        check_split_api_version(e.api_version, group, sizeof(group), version, sizeof(version)) <
            0) {
        fprintf(stderr, "%s:%u:%u: apiVersion \"%.64s\" is not GROUP/VERSION or VERSION\n", m->file,
                at->line, at->column, e.api_version);
        cx->bad_input = true;
        goto out;
    }
    meta = json_get(object, "metadata");
    if (!cJSON_IsObject(meta)) {
        cJSON_DeleteItemFromObjectCaseSensitive(object, "metadata");
        meta = cJSON_AddObjectToObject(object, "metadata");
    }
    e.name = json_string(meta, "name");
    if (e.name == NULL || *e.name == '\0')
        e.name = json_string(meta, "generateName");
    if (e.name == NULL)
        e.name = "";
    /* The apiserver fills in the namespace of a namespaced object before admission. */
    ns = json_string(meta, "namespace");
    if (check_is_cluster_scoped(e.kind)) {
        ns = "";
    } else if (ns == NULL || *ns == '\0') {
        ns = cx->opts->default_namespace;
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "namespace");
        cJSON_AddStringToObject(meta, "namespace", ns);
    }
    e.name_space = ns;
    e.judged = check_find_kind(group, e.kind);
    e.exempt = policy_namespace_is_exempt(cx->policy, ns);

    /* A generateName'd object reaches admission without a name. */
    request_name = json_string(meta, "name");
    check_admit(cx, group, version, e.kind, request_name ? request_name : "", ns, object, &e.v);
    if (e.v.allowed && e.judged != NULL && e.judged->template_path != NULL &&
        (pod = check_template_pod(object, e.judged, ns, e.name)) != NULL) {
        /* Templates are not mutated; the pods made from them are, and are judged again. */
        check_admit(cx, "", "v1", "Pod", "", ns, pod, &e.pods);
        e.have_pods = true;
    }
    if (check_entry_pod(&e) != NULL)
        nodes = check_fit_nodes(cx, check_entry_pod(&e));
    if (!e.v.allowed || (e.have_pods && !e.pods.allowed))
        cx->denied = true;
    if (cx->report != NULL)
        check_add_json(cx, &e, nodes);
    else
        check_print_text(&e, nodes);
out:
    cJSON_Delete(nodes);
    cJSON_Delete(pod);
    check_verdict_clear(&e.v);
    check_verdict_clear(&e.pods);
    cJSON_Delete(object);
}

/* ---------------------------------------------------------------------------------------- */
/* The command                                                                               */
/* ---------------------------------------------------------------------------------------- */

__attribute__((format(printf, 1, 2))) static int
check_usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs(PROGRAM " check: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    fputs(usage_text, stderr);
    return EXIT_BAD_INPUT;
}

/* Parses the options. Returns -1 to go on, else the exit status to return at once. */
static int
check_parse_options(int argc, char **argv, struct check_options *o)
{
    enum { OPT_POLICY = 256, OPT_NODES, OPT_USER, OPT_GROUP };
    static const struct option options[] = {
        {"policy", required_argument, NULL, OPT_POLICY},
        {"nodes", required_argument, NULL, OPT_NODES},
        {"output", required_argument, NULL, 'o'},
        {"namespace", required_argument, NULL, 'n'},
        {"user", required_argument, NULL, OPT_USER},
        {"group", required_argument, NULL, OPT_GROUP},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, ":ho:n:", options, NULL)) != -1) {
        switch (c) {
        case OPT_POLICY:
            o->policy_path = optarg;
            break;
        case OPT_NODES:
            o->nodes_path = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0)
                return check_usage_error("--output wants text or json, not '%s'", optarg);
            o->json = strcmp(optarg, "json") == 0;
            break;
        case 'n':
            if (*optarg == '\0')
                return check_usage_error("--namespace wants a name");
            o->default_namespace = optarg;
            break;
        case OPT_USER:
            o->user = optarg;
            break;
        case OPT_GROUP:
            o->groups = xrealloc(o->groups, (o->ngroups + 1) * sizeof(*o->groups));
            o->groups[o->ngroups++] = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case ':':
            return check_usage_error("option %s needs a value", argv[optind - 1]);
        default:
            if (optopt > ' ' && optopt < 127 && strncmp(argv[optind - 1], "--", 2) != 0)
                return check_usage_error("unknown option -%c", optopt);
            return check_usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (o->policy_path == NULL)
        return check_usage_error("--policy is required");
    if (optind == argc)
        return check_usage_error("no manifest given (use - for standard input)");
    return -1;
}

int
check_main(int argc, char **argv)
{
    static const char *const default_groups[] = {DEFAULT_GROUP};
    struct check_options opts = {.user = DEFAULT_USER, .default_namespace = DEFAULT_NAMESPACE};
    struct check_ctx cx = {.opts = &opts};
    struct policy *p = NULL;
    struct diags d;
    int status;

    diags_init(&d);
    status = check_parse_options(argc, argv, &opts);
    if (status >= 0)
        goto out;
    if (opts.ngroups == 0) {
        opts.groups = xmalloc(sizeof(*opts.groups));
        opts.groups[0] = default_groups[0];
        opts.ngroups = 1;
    }
    status = EXIT_BAD_INPUT;
    /* Only errors are shown: the policy's warnings are lint's business, not every check's. */
    if (policy_load_file(opts.policy_path, &p, &d) < 0) {
        diags_print(&d, stderr);
        goto out;
    }
    cx.policy = p;
    if (opts.nodes_path != NULL && check_load_nodes(&cx, opts.nodes_path) < 0)
        goto out;
    if (opts.json)
        cx.report = cJSON_CreateArray();
    for (int i = optind; i < argc; i++) {
        struct manifest m = {0};
        struct diags md;

        diags_init(&md);
        if (manifest_read_file(argv[i], &m, &md) < 0)
            cx.bad_input = true;
        diags_print(&md, stderr);
        diags_free(&md);
        for (size_t k = 0; k < m.count; k++)
            check_object(&cx, &m, &m.items[k]);
        manifest_clear(&m);
        fflush(stdout);
    }
    if (cx.report != NULL) {
        char *text = cJSON_Print(cx.report);
        printf("%s\n", text);
        free(text);
    }
    if (fflush(stdout) != 0) {
        perror(PROGRAM " check: stdout");
        status = EXIT_BAD_INPUT;
        goto out;
    }
    status = cx.bad_input ? EXIT_BAD_INPUT : cx.denied ? EXIT_DENIED : 0;
out:
    cJSON_Delete(cx.report);
    manifest_clear(&cx.nodes);
    policy_free(p);
    diags_free(&d);
    free(opts.groups);
    return status;
}
