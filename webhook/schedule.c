/* SPDX-License-Identifier: Apache-2.0 */
/* Node fitting: the kube-scheduler's filters that decide which nodes a GPU pod could land on. */
#include "webhook/schedule.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/json.h"
#include "policy/quantity.h"

/* The taint the node lifecycle controller treats a cordoned node as having. */
#define UNSCHEDULABLE_TAINT "node.kubernetes.io/unschedulable"

/* Label values quoted in reasons are cut to this many bytes. */
#define QUOTE_MAX 63

/* Compares two optional strings, a missing one being empty, as Go's zero value is. */
static bool
schedule_streq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/*
 * Returns the text of a scalar as Kubernetes would hold it in a string field, or NULL for a
 * collection or null. Labels and selector values are strings in the API, but a hand-written
 * JSON manifest may carry 8 or true where "8" or "true" was meant; both sides of a comparison
 * go through here so that they compare by text.
 */
static const char *
schedule_text(const cJSON *v, char *buf, size_t size)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;

        /* Whole numbers print as integers while a double holds them exactly (below 2^53). */
        if (d > -9007199254740992.0 && d < 9007199254740992.0 && d == (double)(long long)d)
            snprintf(buf, size, "%lld", (long long)d);
        else
            snprintf(buf, size, "%.17g", d);
        return buf;
    }
    return NULL;
}

/* Parses a whole decimal number the way Go's strconv.ParseInt(s, 10, 64) does. */
static bool
schedule_parse_int(const char *s, long long *out)
{
    char *end;
    long long n;

    if (s == NULL || *s == '\0' || (*s != '-' && *s != '+' && (*s < '0' || *s > '9')))
        return false;
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = n;
    return true;
}

const char *
schedule_node_name(const cJSON *node)
{
    return json_string(json_get(node, "metadata"), "name");
}

/* ---------------------------------------------------------------------------------------- */
/* Node affinity                                                                             */
/* ---------------------------------------------------------------------------------------- */

/* Writes the values of a requirement into buf as "a, b, c", cut short with "..." when long. */
static void
schedule_join_values(const cJSON *values, char *buf, size_t size)
{
    const cJSON *v;
    char vbuf[64];
    size_t used = 0;

    buf[0] = '\0';
    cJSON_ArrayForEach(v, values)
    {
        const char *text = schedule_text(v, vbuf, sizeof(vbuf));
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", text ? text : "?");

        if (n < 0 || (size_t)n >= size - used) {
            if (size >= 4)
                memcpy(buf + size - 4, "...", 4);
            return;
        }
        used += (size_t)n;
    }
}

/*
 * Returns true when labels (an object of label values, may be NULL) satisfy one node selector
 * requirement {key, operator, values}; otherwise writes into why what the node lacks. An unknown
 * operator matches nothing: the apiserver would have refused the pod.
 */
static bool
schedule_requirement_matches(const cJSON *expr, const cJSON *labels, char *why, size_t why_size)
{
    const char *key = json_string(expr, "key"), *op = json_string(expr, "operator");
    const cJSON *values = json_get(expr, "values"), *v;
    char buf[64], vbuf[64], list[128];
    const char *have = NULL;
    long long got, want;

    if (key == NULL || op == NULL) {
        snprintf(why, why_size, "a requirement without key or operator");
        return false;
    }
    have = schedule_text(json_get(labels, key), buf, sizeof(buf));
    if (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) {
        bool found = false, in = strcmp(op, "In") == 0;

        cJSON_ArrayForEach(v, values)
        {
            const char *text = schedule_text(v, vbuf, sizeof(vbuf));
            if (have != NULL && text != NULL && strcmp(text, have) == 0)
                found = true;
        }
        if (found == in)
            return true;
        schedule_join_values(values, list, sizeof(list));
        if (!in)
            snprintf(why, why_size, "%.*s is \"%.*s\", which the pod excludes", QUOTE_MAX, key,
                     QUOTE_MAX, have);
        else if (have != NULL)
            snprintf(why, why_size, "%.*s is \"%.*s\", not one of %s", QUOTE_MAX, key, QUOTE_MAX,
                     have, list);
        else
            snprintf(why, why_size, "no %.*s label (wants one of %s)", QUOTE_MAX, key, list);
        return false;
    }
    if (strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0) {
        bool exists = strcmp(op, "Exists") == 0;

        if ((have != NULL) == exists)
            return true;
        if (exists)
            snprintf(why, why_size, "no %.*s label", QUOTE_MAX, key);
        else
            snprintf(why, why_size, "%.*s is set, which the pod excludes", QUOTE_MAX, key);
        return false;
    }
    if (strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0) {
        bool gt = strcmp(op, "Gt") == 0;
        const char *limit = cJSON_GetArraySize(values) == 1
                                ? schedule_text(cJSON_GetArrayItem(values, 0), vbuf, sizeof(vbuf))
                                : NULL;

        if (have != NULL && limit != NULL && schedule_parse_int(have, &got) &&
            schedule_parse_int(limit, &want) && (gt ? got > want : got < want))
            return true;
        if (limit == NULL)
            snprintf(why, why_size, "%s on %.*s takes exactly one value", op, QUOTE_MAX, key);
        else if (have == NULL)
            snprintf(why, why_size, "no %.*s label", QUOTE_MAX, key);
        else
            snprintf(why, why_size, "%.*s is \"%.*s\", not %s %.*s", QUOTE_MAX, key, QUOTE_MAX,
                     have, gt ? ">" : "<", QUOTE_MAX, limit);
        return false;
    }
    snprintf(why, why_size, "unknown operator \"%.*s\"", QUOTE_MAX, op);
    return false;
}

/*
 * Returns true when node matches one node selector term: all its matchExpressions on the
 * node's labels and all its matchFields on the node's fields (only metadata.name exists);
 * otherwise writes into why the first requirement that fails. A term with neither matches no
 * node.
 */
static bool
schedule_term_matches(const cJSON *term, const cJSON *labels, const cJSON *fields, char *why,
                      size_t why_size)
{
    const cJSON *exprs = json_get(term, "matchExpressions");
    const cJSON *field_exprs = json_get(term, "matchFields");
    const cJSON *e;

    if (cJSON_GetArraySize(exprs) == 0 && cJSON_GetArraySize(field_exprs) == 0) {
        snprintf(why, why_size, "an empty term matches no node");
        return false;
    }
    cJSON_ArrayForEach(e, exprs)
    {
        if (!schedule_requirement_matches(e, labels, why, why_size))
            return false;
    }
    cJSON_ArrayForEach(e, field_exprs)
    {
        if (!schedule_requirement_matches(e, fields, why, why_size))
            return false;
    }
    return true;
}

/*
 * Returns true when node matches one of the required terms (they are ORed); otherwise writes
 * into why what the first term wants, and how many there were.
 */
static bool
schedule_affinity_matches(const cJSON *required, const cJSON *labels, const char *name, char *why,
                          size_t why_size)
{
    const cJSON *terms = json_get(required, "nodeSelectorTerms"), *term;
    cJSON *fields = cJSON_CreateObject();
    char first[SCHEDULE_REASON_MAX] = "", other[SCHEDULE_REASON_MAX];
    int n = 0;
    bool matched = false;

    if (name != NULL)
        cJSON_AddStringToObject(fields, "metadata.name", name);
    cJSON_ArrayForEach(term, terms)
    {
        if (schedule_term_matches(term, labels, fields, n == 0 ? first : other,
                                  n == 0 ? sizeof(first) : sizeof(other))) {
            matched = true;
            break;
        }
        n++;
    }
    cJSON_Delete(fields);
    if (matched)
        return true;
    if (n == 0)
        snprintf(why, why_size, "required node affinity has no nodeSelectorTerms");
    else if (n == 1)
        snprintf(why, why_size, "required node affinity: %.200s", first);
    else
        snprintf(why, why_size,
                 "required node affinity: none of %d terms matches (the first: %.180s)", n, first);
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* Taints and tolerations                                                                    */
/* ---------------------------------------------------------------------------------------- */

/* Toleration.ToleratesTaint of k8s.io/api/core/v1, line for line. */
static bool
schedule_tolerates(const cJSON *tol, const char *key, const char *value, const char *effect)
{
    const char *tkey = json_string(tol, "key"), *op = json_string(tol, "operator");
    const char *teffect = json_string(tol, "effect");

    if (tkey == NULL && json_get(tol, "key") != NULL)
        return false; /* a key that is not a string tolerates nothing */
    if (teffect != NULL && *teffect != '\0' && !schedule_streq(teffect, effect))
        return false;
    if (tkey != NULL && *tkey != '\0' && !schedule_streq(tkey, key))
        return false;
    if (op == NULL || *op == '\0' || strcmp(op, "Equal") == 0) {
        char buf[64];
        const char *tvalue = schedule_text(json_get(tol, "value"), buf, sizeof(buf));
        return schedule_streq(tvalue, value);
    }
    return strcmp(op, "Exists") == 0;
}

static bool
schedule_tolerated(const cJSON *tolerations, const char *key, const char *value, const char *effect)
{
    const cJSON *tol;

    cJSON_ArrayForEach(tol,
                       tolerations) if (schedule_tolerates(tol, key, value, effect)) return true;
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* The filters                                                                               */
/* ---------------------------------------------------------------------------------------- */

/* Returns the node's amount of resource name, or 0 when it advertises none it can read. */
static int64_t
schedule_node_amount(const cJSON *available, const char *name)
{
    const cJSON *v = json_get(available, name);
    char buf[64];
    const char *text = schedule_text(v, buf, sizeof(buf));
    int64_t n;

    if (text == NULL || quantity_parse(text, strlen(text), &n) != QUANTITY_OK)
        return 0;
    return n;
}

bool
schedule_pod_fits_node(const cJSON *spec, const struct gpu_amounts *amounts, const cJSON *node,
                       char *why, size_t why_size)
{
    const cJSON *meta = json_get(node, "metadata");
    const cJSON *labels = json_get(meta, "labels");
    const cJSON *node_spec = json_get(node, "spec");
    const cJSON *status = json_get(node, "status");
    const cJSON *tolerations = json_get(spec, "tolerations");
    const cJSON *selector = json_get(spec, "nodeSelector");
    const cJSON *required = json_get(json_get(json_get(spec, "affinity"), "nodeAffinity"),
                                     "requiredDuringSchedulingIgnoredDuringExecution");
    const cJSON *available = json_get(status, "allocatable");
    const char *name = schedule_node_name(node), *node_name = json_string(spec, "nodeName");
    const cJSON *item;
    bool fits = false;
    char buf[64], vbuf[64];

    /* A pod bound by name skips the scheduler; it can only be on that node. */
    if (node_name != NULL && *node_name != '\0' && !schedule_streq(node_name, name)) {
        snprintf(why, why_size, "spec.nodeName is \"%.*s\"", QUOTE_MAX, node_name);
        goto out;
    }
    if (cJSON_IsTrue(json_get(node_spec, "unschedulable")) &&
        !schedule_tolerated(tolerations, UNSCHEDULABLE_TAINT, NULL, "NoSchedule")) {
        snprintf(why, why_size, "node is unschedulable (cordoned)");
        goto out;
    }
    cJSON_ArrayForEach(item, selector)
    {
        const char *want = schedule_text(item, vbuf, sizeof(vbuf)), *have;

        if (item->string == NULL)
            continue; /* not an object: the apiserver would have refused the pod */
        have = schedule_text(json_get(labels, item->string), buf, sizeof(buf));
        if (want != NULL && have != NULL && strcmp(want, have) == 0)
            continue;
        if (have != NULL)
            snprintf(why, why_size, "nodeSelector wants %.*s=%.*s, node has %.*s", QUOTE_MAX,
                     item->string, QUOTE_MAX, want ? want : "", QUOTE_MAX, have);
        else
            snprintf(why, why_size, "nodeSelector wants %.*s=%.*s, node has no such label",
                     QUOTE_MAX, item->string, QUOTE_MAX, want ? want : "");
        goto out;
    }
    if (required != NULL && !cJSON_IsNull(required) &&
        !schedule_affinity_matches(required, labels, name, why, why_size))
        goto out;
    cJSON_ArrayForEach(item, json_get(node_spec, "taints"))
    {
        const char *key = json_string(item, "key"), *effect = json_string(item, "effect");
        const char *value = json_string(item, "value");

        if (effect == NULL ||
            (strcmp(effect, "NoSchedule") != 0 && strcmp(effect, "NoExecute") != 0))
            continue;
        if (!schedule_tolerated(tolerations, key, value, effect)) {
            snprintf(why, why_size, "untolerated taint %.*s:%s", QUOTE_MAX, key ? key : "", effect);
            goto out;
        }
    }
    /* The kubelet always reports allocatable; capacity stands in for hand-written nodes. */
    if (!cJSON_IsObject(available))
        available = json_get(status, "capacity");
    for (size_t i = 0; i < amounts->count; i++) {
        const struct gpu_resource *g = &amounts->items[i];
        int64_t have = schedule_node_amount(available, g->name);

        if (g->amount > have) {
            snprintf(why, why_size, "insufficient %s (%" PRId64 " > %" PRId64 ")", g->name,
                     g->amount, have);
            goto out;
        }
    }
    fits = true;
out:
    return fits;
}
