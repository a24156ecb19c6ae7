/* SPDX-License-Identifier: Apache-2.0 */
/* AdmissionReview v1 in, AdmissionReview v1 out: the admission protocol around the decisions. */
#include "webhook/review.h"

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
 * Members no decision reads, left out before parsing: managedFields alone is close to half of a
 * pod's bytes, and environments, volumes, mounts, probes and images most of the rest. Label or
 * annotation keys with these names go too, which is harmless for the same reason.
 */
#define UNREAD(name)                                                                               \
    {                                                                                              \
        name, sizeof(name) - 1                                                                     \
    }
static const struct {
    const char *name;
    size_t len;
} review_unread[] = {
    UNREAD("managedFields"),
    UNREAD("ownerReferences"),
    UNREAD("env"),
    UNREAD("envFrom"),
    UNREAD("volumes"),
    UNREAD("volumeMounts"),
    UNREAD("image"),
    UNREAD("command"),
    UNREAD("args"),
    UNREAD("ports"),
    UNREAD("livenessProbe"),
    UNREAD("readinessProbe"),
    UNREAD("startupProbe"),
    UNREAD("lifecycle"),
    UNREAD("securityContext"),
    UNREAD("imagePullPolicy"),
    UNREAD("terminationMessagePath"),
    UNREAD("terminationMessagePolicy"),
};
#undef UNREAD

/*
 * The body is copied once through a small validating scanner before cJSON sees it: it leaves out
 * the members named in review_unread and accepts only what cJSON itself accepts (its whitespace,
 * escapes, numbers, literals and nesting limit), so a body is valid after the copy exactly when
 * it was before. When the scanner cannot vouch for the body, cJSON parses the body as it came.
 */
struct review_scan {
    const char *in;
    size_t len, i;
    char *out; /* NULL while a value is only checked, not copied */
    size_t o;
};

#define REVIEW_NESTING_MAX 1000 /* cJSON's CJSON_NESTING_LIMIT */

static void
review_emit(struct review_scan *s, const char *p, size_t n)
{
    if (s->out != NULL) {
        memcpy(s->out + s->o, p, n);
        s->o += n;
    }
}

/* cJSON's whitespace: every byte up to and including the space. */
static void
review_scan_space(struct review_scan *s)
{
    while (s->i < s->len && (unsigned char)s->in[s->i] <= ' ')
        s->i++;
}

static bool
review_hex4(const char *p, unsigned *code)
{
    *code = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        unsigned v = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16;
        if (v == 16)
            return false;
        *code = *code << 4 | v;
    }
    return true;
}

/* A string at s->i ('"'): copied whole; escapes as cJSON reads them, \u with surrogate pairs. */
static bool
review_scan_string(struct review_scan *s)
{
    size_t start = s->i, i = s->i + 1;

    for (;;) {
        unsigned code, low;

        /* Most strings are short keys: a plain loop beats two memchr calls. */
        while (i < s->len && s->in[i] != '"' && s->in[i] != '\\')
            i++;
        if (i >= s->len)
            return false;
        if (s->in[i++] == '"')
            break;
        if (i >= s->len)
            return false;
        switch (s->in[i]) {
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
        case '"':
        case '\\':
        case '/':
            i++;
            break;
        case 'u':
            if (s->len - i < 5 || !review_hex4(s->in + i + 1, &code) ||
                (code >= 0xDC00 && code <= 0xDFFF))
                return false;
            i += 5;
            if (code >= 0xD800 && code <= 0xDBFF) {
                if (s->len - i < 6 || s->in[i] != '\\' || s->in[i + 1] != 'u' ||
                    !review_hex4(s->in + i + 2, &low) || low < 0xDC00 || low > 0xDFFF)
                    return false;
                i += 6;
            }
            break;
        default:
            return false;
        }
    }
    review_emit(s, s->in + start, i - start);
    s->i = i;
    return true;
}

/* A number, read as cJSON reads it: its characters, at most 63, then strtod. */
static bool
review_scan_number(struct review_scan *s)
{
    char buf[64], *end;
    size_t n = 0;

    while (n < sizeof(buf) - 1 && s->i + n < s->len && strchr("0123456789+-eE.", s->in[s->i + n]) &&
           s->in[s->i + n] != '\0') {
        buf[n] = s->in[s->i + n];
        n++;
    }
    buf[n] = '\0';
    strtod(buf, &end);
    if (end == buf)
        return false;
    review_emit(s, s->in + s->i, (size_t)(end - buf));
    s->i += (size_t)(end - buf);
    return true;
}

static bool
review_is_unread(const char *key, size_t len)
{
    /* The first letters of review_unread's names: most keys are passed over on one lookup. */
    static const bool first[256] = {
        ['a'] = true, ['c'] = true, ['e'] = true, ['i'] = true, ['l'] = true, ['m'] = true,
        ['o'] = true, ['p'] = true, ['r'] = true, ['s'] = true, ['t'] = true, ['v'] = true};

    if (len == 0 || !first[(unsigned char)key[0]])
        return false;
    for (size_t i = 0; i < sizeof(review_unread) / sizeof(review_unread[0]); i++)
        if (review_unread[i].len == len && memcmp(review_unread[i].name, key, len) == 0)
            return true;
    return false;
}

static bool review_scan_value(struct review_scan *s, unsigned depth);

/* An object's members, leaving out unread ones (checked, not copied). */
static bool
review_scan_object(struct review_scan *s, unsigned depth)
{
    bool first = true;

    review_emit(s, "{", 1);
    s->i++;
    review_scan_space(s);
    if (s->i < s->len && s->in[s->i] == '}')
        goto close;
    for (;;) {
        size_t key = s->i;
        char *out = s->out;
        bool unread;

        if (s->i >= s->len || s->in[s->i] != '"')
            return false;
        s->out = NULL; /* the key is copied below, once it is known to stay */
        if (!review_scan_string(s))
            return false;
        s->out = out;
        /* Inside a member being left out, nothing is copied, so nothing needs leaving out. */
        unread = out != NULL && review_is_unread(s->in + key + 1, s->i - key - 2);
        review_scan_space(s);
        if (s->i >= s->len || s->in[s->i] != ':')
            return false;
        s->i++;
        if (!unread) {
            if (!first)
                review_emit(s, ",", 1);
            review_emit(s, s->in + key, s->i - key - 1);
            review_emit(s, ":", 1);
            first = false;
        } else {
            s->out = NULL;
        }
        if (!review_scan_value(s, depth))
            return false;
        s->out = out;
        review_scan_space(s);
        if (s->i < s->len && s->in[s->i] == ',') {
            s->i++;
            review_scan_space(s);
            continue;
        }
        if (s->i < s->len && s->in[s->i] == '}')
            break;
        return false;
    }
close:
    review_emit(s, "}", 1);
    s->i++;
    return true;
}

static bool
review_scan_array(struct review_scan *s, unsigned depth)
{
    review_emit(s, "[", 1);
    s->i++;
    review_scan_space(s);
    if (s->i < s->len && s->in[s->i] == ']')
        goto close;
    for (;;) {
        if (!review_scan_value(s, depth))
            return false;
        review_scan_space(s);
        if (s->i < s->len && s->in[s->i] == ',') {
            review_emit(s, ",", 1);
            s->i++;
            continue;
        }
        if (s->i < s->len && s->in[s->i] == ']')
            break;
        return false;
    }
close:
    review_emit(s, "]", 1);
    s->i++;
    return true;
}

static bool
review_scan_literal(struct review_scan *s, const char *word)
{
    size_t n = strlen(word);

    if (s->len - s->i < n || memcmp(s->in + s->i, word, n) != 0)
        return false;
    review_emit(s, word, n);
    s->i += n;
    return true;
}

static bool
review_scan_value(struct review_scan *s, unsigned depth)
{
    review_scan_space(s);
    if (s->i >= s->len)
        return false;
    switch (s->in[s->i]) {
    case '{':
        return depth < REVIEW_NESTING_MAX && review_scan_object(s, depth + 1);
    case '[':
        return depth < REVIEW_NESTING_MAX && review_scan_array(s, depth + 1);
    case '"':
        return review_scan_string(s);
    case 'n':
        return review_scan_literal(s, "null");
    case 't':
        return review_scan_literal(s, "true");
    case 'f':
        return review_scan_literal(s, "false");
    default:
        if (s->in[s->i] == '-' || (s->in[s->i] >= '0' && s->in[s->i] <= '9'))
            return review_scan_number(s);
        return false;
    }
}

/*
 * Copies the JSON text in (len bytes) to out (room for len bytes) without the members named in
 * review_unread. Returns the length written, or 0 when the scanner cannot vouch for the text
 * (then out holds nothing of use and the caller parses in as it is).
 */
static size_t
review_strip_unread(const char *in, size_t len, char *out)
{
    struct review_scan s = {.in = in, .len = len, .i = 0, .out = out, .o = 0};

    if (!review_scan_value(&s, 0))
        return 0;
    return s.o;
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
    const char *name = json_string(request, "name");

    if (!cJSON_IsObject(object))
        object = cJSON_GetObjectItemCaseSensitive(request, "oldObject");
    meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    if (name == NULL || *name == '\0')
        name = json_string(meta, "name");
    if (name == NULL || *name == '\0')
        name = json_string(meta, "generateName");
    review_copy(out->kind, sizeof(out->kind),
                json_string(cJSON_GetObjectItemCaseSensitive(request, "kind"), "kind"));
    review_copy(out->name_space, sizeof(out->name_space), json_string(request, "namespace"));
    review_copy(out->name, sizeof(out->name), name);
}

/* A growing text buffer for the answer, written directly rather than through cJSON objects. */
struct review_buf {
    char *data;
    size_t len, cap;
};

static void
review_put(struct review_buf *b, const char *s, size_t n)
{
    xgrow(&b->data, &b->cap, b->len + n + 1, 1);
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
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
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
        char *json = cJSON_PrintUnformatted(d->patch);
        char *b64 = review_base64(json, strlen(json));

        /* base64 needs no escaping. */
        review_puts(&b, ",\"patchType\":\"JSONPatch\",\"patch\":\"");
        review_puts(&b, b64);
        review_puts(&b, "\"");
        free(b64);
        cJSON_free(json);
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
    char *stripped;
    size_t stripped_len;
    struct decision d;

    memset(out, 0, sizeof(*out));
    if (len == 0) {
        review_fail(out, "empty body: expected an AdmissionReview");
        return;
    }
    /* Every JSON node of this review lives in the thread's arena until arena_end below. */
    arena_begin();
    stripped = arena_cjson_malloc(len);
    stripped_len = review_strip_unread(body, len, stripped);
    if (stripped_len > 0)
        root = cJSON_ParseWithLength(stripped, stripped_len);
    else
        root = cJSON_ParseWithLength(body, len);
    if (root == NULL) {
        review_fail(out, "malformed JSON: expected an AdmissionReview");
        goto out;
    }
    api = json_string(root, "apiVersion");
    kind = json_string(root, "kind");
    request = cJSON_GetObjectItemCaseSensitive(root, "request");
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
