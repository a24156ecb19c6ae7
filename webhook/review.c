/* SPDX-License-Identifier: Apache-2.0 */
/* AdmissionReview v1 in, AdmissionReview v1 out: the admission protocol around the decisions. */
#include "webhook/review.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "policy/arena.h"
#include "policy/xalloc.h"

#define REVIEW_API_VERSION "admission.k8s.io/v1"

static const char *
review_string(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
review_copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

/* Returns a newly allocated base64 (RFC 4648, padded) encoding of len bytes of data. */
static char *
review_base64(const char *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = (const unsigned char *)data;
    char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;
    size_t i;

    for (i = 0; i + 2 < len; i += 3) {
        *o++ = alphabet[in[i] >> 2];
        *o++ = alphabet[((in[i] & 0x03) << 4) | (in[i + 1] >> 4)];
        *o++ = alphabet[((in[i + 1] & 0x0f) << 2) | (in[i + 2] >> 6)];
        *o++ = alphabet[in[i + 2] & 0x3f];
    }
    if (i < len) {
        *o++ = alphabet[in[i] >> 2];
        if (i + 1 < len) {
            *o++ = alphabet[((in[i] & 0x03) << 4) | (in[i + 1] >> 4)];
            *o++ = alphabet[(in[i + 1] & 0x0f) << 2];
        } else {
            *o++ = alphabet[(in[i] & 0x03) << 4];
            *o++ = '=';
        }
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

static void
review_fail(struct review_reply *out, const char *reason)
{
    out->status = 400;
    out->body = xasprintf("%s\n", reason);
    out->len = strlen(out->body);
    out->json = false;
    out->verdict = "error";
}

/* Fills the log fields of out from the request. */
static void
review_describe(struct review_reply *out, const cJSON *request)
{
    const cJSON *object = cJSON_GetObjectItemCaseSensitive(request, "object");
    const cJSON *meta;
    const char *name = review_string(request, "name");

    if (!cJSON_IsObject(object))
        object = cJSON_GetObjectItemCaseSensitive(request, "oldObject");
    meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    if (name == NULL || *name == '\0')
        name = review_string(meta, "name");
    if (name == NULL || *name == '\0')
        name = review_string(meta, "generateName");
    review_copy(out->kind, sizeof(out->kind),
                review_string(cJSON_GetObjectItemCaseSensitive(request, "kind"), "kind"));
    review_copy(out->name_space, sizeof(out->name_space), review_string(request, "namespace"));
    review_copy(out->name, sizeof(out->name), name);
}

static cJSON *
review_response(const char *uid, const struct decision *d)
{
    cJSON *root = cJSON_CreateObject(), *resp = cJSON_CreateObject();

    cJSON_AddStringToObject(root, "apiVersion", REVIEW_API_VERSION);
    cJSON_AddStringToObject(root, "kind", "AdmissionReview");
    cJSON_AddItemToObject(root, "response", resp);
    cJSON_AddStringToObject(resp, "uid", uid);
    cJSON_AddBoolToObject(resp, "allowed", d->allowed);
    if (!d->allowed) {
        cJSON *status = cJSON_CreateObject();
        cJSON_AddNumberToObject(status, "code", d->code);
        cJSON_AddStringToObject(status, "reason", d->code == 400 ? "BadRequest" : "Forbidden");
        cJSON_AddStringToObject(status, "message", d->message ? d->message : "denied");
        cJSON_AddItemToObject(resp, "status", status);
    }
    if (d->nwarnings > 0) {
        cJSON *warnings = cJSON_CreateArray();
        for (size_t i = 0; i < d->nwarnings; i++)
            cJSON_AddItemToArray(warnings, cJSON_CreateString(d->warnings[i]));
        cJSON_AddItemToObject(resp, "warnings", warnings);
    }
    if (d->allowed && d->patch != NULL) {
        char *json = cJSON_PrintUnformatted(d->patch);
        char *b64 = review_base64(json, strlen(json));
        cJSON_AddStringToObject(resp, "patchType", "JSONPatch");
        cJSON_AddStringToObject(resp, "patch", b64);
        free(b64);
        cJSON_free(json);
    }
    return root;
}

void
review_handle(const struct policy *p, enum decide_endpoint ep, const char *body, size_t len,
              struct review_reply *out)
{
    cJSON *root = NULL, *answer = NULL;
    const cJSON *request;
    const char *api, *kind, *uid;
    char *json;
    struct decision d;

    memset(out, 0, sizeof(*out));
    if (len == 0) {
        review_fail(out, "empty body: expected an AdmissionReview");
        return;
    }
    /* Every JSON node of this review lives in the thread's arena until arena_end below. */
    arena_begin();
    root = cJSON_ParseWithLength(body, len);
    if (root == NULL) {
        review_fail(out, "malformed JSON: expected an AdmissionReview");
        goto out;
    }
    api = review_string(root, "apiVersion");
    kind = review_string(root, "kind");
    request = cJSON_GetObjectItemCaseSensitive(root, "request");
    uid = review_string(request, "uid");
    if (!cJSON_IsObject(root) || kind == NULL || strcmp(kind, "AdmissionReview") != 0) {
        review_fail(out, "body is not an AdmissionReview");
        goto out;
    }
    if (api == NULL || strcmp(api, REVIEW_API_VERSION) != 0) {
        review_fail(out, "unsupported AdmissionReview apiVersion: expected " REVIEW_API_VERSION);
        goto out;
    }
    if (!cJSON_IsObject(request) || uid == NULL || *uid == '\0') {
        review_fail(out, "AdmissionReview has no request.uid");
        goto out;
    }

    decide_request(p, ep, request, &d);
    answer = review_response(uid, &d);
    out->status = 200;
    out->json = true;
    json = cJSON_PrintUnformatted(answer);
    out->len = strlen(json);
    out->body = xstrndup(json, out->len); /* outlives the arena */
    review_copy(out->uid, sizeof(out->uid), uid);
    review_describe(out, request);
    review_copy(out->tenant, sizeof(out->tenant), d.tenant);
    if (!d.allowed)
        out->verdict = d.code == 400 ? "error" : "denied";
    else if (d.violation)
        out->verdict = d.mode == POLICY_MODE_WARN ? "warned" : "audited";
    else
        out->verdict = "allowed";
    if (d.message != NULL) {
        out->reason = d.message;
        d.message = NULL;
    }
    decision_clear(&d);
out:
    cJSON_Delete(answer);
    cJSON_Delete(root);
    arena_end();
}

void
review_reply_clear(struct review_reply *r)
{
    free(r->body);
    free(r->reason);
    memset(r, 0, sizeof(*r));
}
