/* SPDX-License-Identifier: Apache-2.0 */
/* AdmissionReview v1 in, AdmissionReview v1 out: the admission protocol around the decisions. */
#include "webhook/review.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "policy/arena.h"
#include "policy/json.h"
#include "policy/xalloc.h"

#define REVIEW_API_VERSION "admission.k8s.io/v1"

static void
review_copy(char *dst, size_t size, const char *src)
{
    size_t len = src ? strnlen(src, size - 1) : 0;

    memcpy(dst, src ? src : "", len);
    dst[len] = '\0';
}

/*
 * Writes the base64 (RFC 4648, padded) encoding of len bytes of data to out, which has room for
 * (len + 2) / 3 * 4 bytes and a NUL. Returns the length written, NUL not counted.
 */
static size_t
review_base64(const char *data, size_t len, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = (const unsigned char *)data;
    char *o = out;
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
    return (size_t)(o - out);
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
    const cJSON *object = json_get(request, "object");
    const cJSON *meta;
    const char *name = json_string(request, "name");

    if (!cJSON_IsObject(object))
        object = json_get(request, "oldObject");
    meta = json_get(object, "metadata");
    if (name == NULL || *name == '\0')
        name = json_string(meta, "name");
    if (name == NULL || *name == '\0')
        name = json_string(meta, "generateName");
    review_copy(out->kind, sizeof(out->kind), json_string(json_get(request, "kind"), "kind"));
    review_copy(out->name_space, sizeof(out->name_space), json_string(request, "namespace"));
    review_copy(out->name, sizeof(out->name), name);
}

/* A growing text buffer for the answer, written directly rather than through cJSON objects. */
struct review_buf {
    char *data;
    size_t len, cap;
};

#define REVIEW_BUF_START 2048 /* an answer with a patch, in one allocation */

static void
review_put(struct review_buf *b, const char *s, size_t n)
{
    if (b->cap - b->len <= n)
        xgrow(&b->data, &b->cap,
              b->len + n + 1 > REVIEW_BUF_START ? b->len + n + 1 : REVIEW_BUF_START, 1);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void
review_puts(struct review_buf *b, const char *s)
{
    review_put(b, s, strlen(s));
}

/* Appends s as a JSON string: quoted, with '"', '\\' and control characters escaped. */
static void
review_put_string(struct review_buf *b, const char *s)
{
    const char *run = s;

    review_put(b, "\"", 1);
    for (;; s++) {
        unsigned char c;
        char esc[8];

        while ((unsigned char)*s >= 0x20 && *s != '"' && *s != '\\')
            s++;
        if ((c = (unsigned char)*s) == '\0')
            break;
        review_put(b, run, (size_t)(s - run));
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            review_put(b, esc, 2);
        } else {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            review_put(b, esc, 6);
        }
        run = s + 1;
    }
    review_put(b, run, (size_t)(s - run));
    review_put(b, "\"", 1);
}

/*
 * Appends item as compact JSON. A patch is a few small objects; cJSON's printer spent more on
 * them than the whole decision did. A number that is not finite prints as null, as cJSON does.
 */
static void
review_put_json(struct review_buf *b, const cJSON *item)
{
    const cJSON *c;
    char num[32];

    switch (item->type & 0xFF) {
    case cJSON_String:
        review_put_string(b, item->valuestring);
        return;
    case cJSON_Number:
        if (isfinite(item->valuedouble)) {
            snprintf(num, sizeof(num), "%.17g", item->valuedouble);
            review_puts(b, num);
        } else {
            review_puts(b, "null");
        }
        return;
    case cJSON_True:
        review_puts(b, "true");
        return;
    case cJSON_False:
        review_puts(b, "false");
        return;
    case cJSON_Array:
    case cJSON_Object:
        review_put(b, cJSON_IsArray(item) ? "[" : "{", 1);
        for (c = item->child; c != NULL; c = c->next) {
            if (c != item->child)
                review_put(b, ",", 1);
            if (cJSON_IsObject(item)) {
                review_put_string(b, c->string);
                review_put(b, ":", 1);
            }
            review_put_json(b, c);
        }
        review_put(b, cJSON_IsArray(item) ? "]" : "}", 1);
        return;
    default:
        review_puts(b, "null");
        return;
    }
}

/* Writes the AdmissionReview answer for d into a new buffer owned by the caller. */
static char *
review_response(const char *uid, const struct decision *d, size_t *len)
{
    struct review_buf b = {NULL, 0, 0};

    review_puts(&b, "{\"apiVersion\":\"" REVIEW_API_VERSION "\",\"kind\":\"AdmissionReview\","
                    "\"response\":{\"uid\":");
    review_put_string(&b, uid);
    review_puts(&b, d->allowed ? ",\"allowed\":true" : ",\"allowed\":false");
    if (!d->allowed) {
        char code[96];
        snprintf(code, sizeof(code),
                 ",\"status\":{\"code\":%d,\"reason\":\"%s\",\"message\":", d->code,
                 d->code == 400 ? "BadRequest" : "Forbidden");
        review_puts(&b, code);
        review_put_string(&b, d->message ? d->message : "denied");
        review_puts(&b, "}");
    }
    if (d->nwarnings > 0) {
        review_puts(&b, ",\"warnings\":[");
        for (size_t i = 0; i < d->nwarnings; i++) {
            if (i > 0)
                review_puts(&b, ",");
            review_put_string(&b, d->warnings[i]);
        }
        review_puts(&b, "]");
    }
    if (d->allowed && d->patch != NULL) {
        struct review_buf json = {NULL, 0, 0};

        review_put_json(&json, d->patch);
        /* base64 needs no escaping, so it is encoded straight into the answer. */
        review_puts(&b, ",\"patchType\":\"JSONPatch\",\"patch\":\"");
        xgrow(&b.data, &b.cap, b.len + (json.len + 2) / 3 * 4 + 1, 1);
        b.len += review_base64(json.data, json.len, b.data + b.len);
        review_puts(&b, "\"");
        free(json.data);
    }
    review_puts(&b, "}}");
    *len = b.len;
    return b.data;
}

void
review_handle(const struct policy *p, enum decide_endpoint ep, const char *body, size_t len,
              struct review_reply *out)
{
    cJSON *root = NULL;
    const cJSON *request;
    const char *api, *kind, *uid;
    struct decision d;

    memset(out, 0, sizeof(*out));
    if (len == 0) {
        review_fail(out, "empty body: expected an AdmissionReview");
        return;
    }
    /* Every JSON node of this review lives in the thread's arena until arena_end below. */
    arena_begin();
    root = review_parse(body, len);
    if (root == NULL) /* not vouched for: cJSON says whether it is JSON at all */
        root = cJSON_ParseWithLength(body, len);
    if (root == NULL) {
        review_fail(out, "malformed JSON: expected an AdmissionReview");
        goto out;
    }
    api = json_string(root, "apiVersion");
    kind = json_string(root, "kind");
    request = json_get(root, "request");
    uid = json_string(request, "uid");
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
    out->status = 200;
    out->json = true;
    out->body = review_response(uid, &d, &out->len); /* malloc'd: it outlives the arena */
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
    d.patch = NULL; /* in the arena, like root: arena_end releases them all at once */
    decision_clear(&d);
out:
    arena_end();
}

void
review_reply_clear(struct review_reply *r)
{
    free(r->body);
    free(r->reason);
    memset(r, 0, sizeof(*r));
}
