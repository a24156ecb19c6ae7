/* SPDX-License-Identifier: Apache-2.0 */
/* The properties every AdmissionReview answer must have, checked the way the apiserver would. */
#include "fuzz.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "policy/arena.h"
#include "policy/xalloc.h"
#include "webhook/jsonpatch.h"
#include "webhook/review.h"

#define FUZZ_API_VERSION "admission.k8s.io/v1"
#define FUZZ_WHY_MAX 512

/*
 * The words /validate uses when a pod lacks what /mutate adds (policy/decide.c). Seeing them
 * about a pod that /mutate has just patched means the two endpoints disagree.
 */
/*
 * How the decisions end the reason "the mutation is missing" (policy/decide.c). Matched at the
 * end, since the rest of a message may quote names the client chose.
 */
#define FUZZ_MUTATION_MISSING "mutating webhook adds: was it skipped?"

void
fuzz_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("fuzz: property violated: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static const char *
fuzz_string(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int
fuzz_base64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Decodes padded base64 (RFC 4648, the alphabet Kubernetes uses for a []byte field). Returns a
 * new NUL-terminated buffer owned by the caller, or NULL when in is not strict base64.
 */
static char *
fuzz_base64_decode(const char *in)
{
    size_t len = strlen(in), n = 0;
    char *out;

    if (len % 4 != 0)
        return NULL;
    out = xmalloc(len / 4 * 3 + 1);
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        bool last = i + 4 == len;

        for (int k = 0; k < 4; k++) {
            v[k] = fuzz_base64_value(in[i + k]);
            /* Padding only at the very end: "xx==" or "xxx=". */
            if (v[k] < 0 && !(last && in[i + k] == '=' && k >= 2 && (k == 3 || in[i + 3] == '='))) {
                free(out);
                return NULL;
            }
        }
        out[n++] = (char)((v[0] << 2) | (v[1] >> 4));
        if (v[2] >= 0)
            out[n++] = (char)(((v[1] & 0x0f) << 4) | (v[2] >> 2));
        if (v[2] >= 0 && v[3] >= 0)
            out[n++] = (char)(((v[2] & 0x03) << 6) | v[3]);
    }
    out[n] = '\0';
    return out;
}

/* Returns true when text, or one of the answer's warnings, mentions what only /mutate adds. */
static bool
fuzz_ends_with_mutation_missing(const char *text)
{
    size_t n = strlen(text), m = strlen(FUZZ_MUTATION_MISSING);

    return n >= m && strcmp(text + n - m, FUZZ_MUTATION_MISSING) == 0;
}

static bool
fuzz_mentions_mutation(const cJSON *response, const char *reason)
{
    /* In every mode the reason is the decision's message; warnings are copies of it, cut. */
    (void)response;
    return reason != NULL && fuzz_ends_with_mutation_missing(reason);
}

/*
 * Checks one answer of review_handle against the AdmissionReview v1 contract. review is the
 * parsed request body (NULL when it does not parse). Returns the parsed answer (owned by the
 * caller) for a 200, NULL otherwise; stores the decoded patch, if any, in *patch.
 */
static cJSON *
fuzz_check_reply(const struct review_reply *r, enum decide_endpoint ep, const cJSON *review,
                 cJSON **patch)
{
    const char *name = ep == DECIDE_MUTATE ? "/mutate" : "/validate";
    const cJSON *response, *allowed, *warnings, *w, *status;
    const char *uid, *b64;
    cJSON *answer, *ops;
    char *text;
    int nwarnings = 0;

    *patch = NULL;
    if (r->body == NULL || strlen(r->body) != r->len)
        fuzz_fail("%s: reply body is NULL or its length is wrong", name);
    if (r->verdict == NULL)
        fuzz_fail("%s: reply has no verdict", name);
    if (r->status != 200) {
        if (r->status != 400 || r->json || strcmp(r->verdict, "error") != 0 || r->len < 2 ||
            r->body[r->len - 1] != '\n')
            fuzz_fail("%s: HTTP %u with verdict %s is not a plain 400", name, r->status,
                      r->verdict);
        return NULL;
    }
    if (!r->json)
        fuzz_fail("%s: a 200 answer that is not JSON", name);
    uid = fuzz_string(cJSON_GetObjectItemCaseSensitive(review, "request"), "uid");
    if (uid == NULL)
        fuzz_fail("%s: a 200 answer to a review without request.uid", name);
    answer = cJSON_Parse(r->body);
    if (answer == NULL)
        fuzz_fail("%s: the answer does not parse as JSON: %s", name, r->body);
    response = cJSON_GetObjectItemCaseSensitive(answer, "response");
    if (!cJSON_IsObject(answer) || !cJSON_IsObject(response) ||
        strcmp(fuzz_string(answer, "apiVersion") ? fuzz_string(answer, "apiVersion") : "",
               FUZZ_API_VERSION) != 0 ||
        strcmp(fuzz_string(answer, "kind") ? fuzz_string(answer, "kind") : "", "AdmissionReview") !=
            0)
        fuzz_fail("%s: the answer is no AdmissionReview v1 response: %s", name, r->body);
    if (fuzz_string(response, "uid") == NULL || strcmp(fuzz_string(response, "uid"), uid) != 0)
        fuzz_fail("%s: response.uid is not request.uid: %s", name, r->body);
    allowed = cJSON_GetObjectItemCaseSensitive(response, "allowed");
    if (!cJSON_IsBool(allowed))
        fuzz_fail("%s: response.allowed is not a bool: %s", name, r->body);
    status = cJSON_GetObjectItemCaseSensitive(response, "status");
    if (cJSON_IsFalse(allowed)) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(status, "code");
        const char *message = fuzz_string(status, "message");

        if (!cJSON_IsNumber(code) || (code->valueint != 400 && code->valueint != 403) ||
            message == NULL || *message == '\0')
            fuzz_fail("%s: a denial without status.code 400/403 and a message: %s", name, r->body);
        if (strcmp(r->verdict, code->valueint == 400 ? "error" : "denied") != 0)
            fuzz_fail("%s: a denial with verdict %s: %s", name, r->verdict, r->body);
    } else if (strcmp(r->verdict, "allowed") != 0 && strcmp(r->verdict, "warned") != 0 &&
               strcmp(r->verdict, "audited") != 0) {
        fuzz_fail("%s: an admission with verdict %s: %s", name, r->verdict, r->body);
    }
    warnings = cJSON_GetObjectItemCaseSensitive(response, "warnings");
    if (warnings != NULL && (!cJSON_IsArray(warnings) || cJSON_GetArraySize(warnings) == 0))
        fuzz_fail("%s: warnings is not a non-empty array: %s", name, r->body);
    cJSON_ArrayForEach(w, warnings)
    {
        if (!cJSON_IsString(w) || *w->valuestring == '\0' ||
            strlen(w->valuestring) > DECISION_WARNING_LEN)
            fuzz_fail("%s: a warning that is empty or over %d bytes: %s", name,
                      DECISION_WARNING_LEN, r->body);
        nwarnings++;
    }
    if (nwarnings > DECISION_WARNINGS_MAX)
        fuzz_fail("%s: %d warnings", name, nwarnings);

    b64 = fuzz_string(response, "patch");
    if (b64 == NULL && cJSON_GetObjectItemCaseSensitive(response, "patch") == NULL &&
        cJSON_GetObjectItemCaseSensitive(response, "patchType") == NULL)
        return answer;
    if (ep != DECIDE_MUTATE || cJSON_IsFalse(allowed) || b64 == NULL ||
        fuzz_string(response, "patchType") == NULL ||
        strcmp(fuzz_string(response, "patchType"), "JSONPatch") != 0)
        fuzz_fail("%s: a patch where none may be, or without patchType JSONPatch: %s", name,
                  r->body);
    text = fuzz_base64_decode(b64);
    if (text == NULL)
        fuzz_fail("%s: the patch is not base64: %s", name, b64);
    ops = cJSON_Parse(text);
    if (!cJSON_IsArray(ops) || cJSON_GetArraySize(ops) == 0)
        fuzz_fail("%s: the patch is not a non-empty JSON array: %s", name, text);
    free(text);
    *patch = ops;
    return answer;
}

/*
 * Plays the apiserver after /mutate answered with a patch: applies it to the request's object,
 * sends the patched object to /mutate again (reinvocation) and expects no patch, then to
 * /validate and expects no complaint that the mutation is missing.
 */
static void
fuzz_check_patched(const struct policy *p, const cJSON *review, const cJSON *ops)
{
    cJSON *again = cJSON_Duplicate(review, true), *answer, *second;
    cJSON *request = cJSON_GetObjectItemCaseSensitive(again, "request");
    cJSON *object = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(request, "object"), true);
    struct review_reply r;
    char why[FUZZ_WHY_MAX];
    char *body, *patch_text;

    if (jsonpatch_apply(&object, ops, why, sizeof(why)) < 0) {
        patch_text = cJSON_PrintUnformatted(ops);
        fuzz_fail("/mutate returned a patch that does not apply: %s\npatch: %s", why, patch_text);
    }
    /* Replaced in place: with a duplicate "object" member, the first one is the one judged. */
    cJSON_ReplaceItemInObjectCaseSensitive(request, "object", object);
    body = cJSON_PrintUnformatted(again);

    review_handle(p, DECIDE_MUTATE, body, strlen(body), &r);
    answer = fuzz_check_reply(&r, DECIDE_MUTATE, again, &second);
    if (answer == NULL)
        fuzz_fail("/mutate answered HTTP %u to its own patched object", r.status);
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(answer, "response"), "allowed")))
        fuzz_fail("/mutate denied its own patched object: %s", r.body);
    if (second != NULL) {
        patch_text = cJSON_PrintUnformatted(second);
        fuzz_fail("/mutate is not idempotent: a second pass patched again: %s\nobject: %s",
                  patch_text, body);
    }
    cJSON_Delete(answer);
    review_reply_clear(&r);

    /* What /mutate admitted and patched, /validate must admit too, in every mode. */
    review_handle(p, DECIDE_VALIDATE, body, strlen(body), &r);
    answer = fuzz_check_reply(&r, DECIDE_VALIDATE, again, &second);
    if (answer == NULL)
        fuzz_fail("/validate answered HTTP %u to a patched object", r.status);
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(answer, "response"), "allowed")))
        fuzz_fail("/validate denied what /mutate admitted and patched: %s\nobject: %s", r.body,
                  body);
    if (fuzz_mentions_mutation(cJSON_GetObjectItemCaseSensitive(answer, "response"), r.reason))
        fuzz_fail("/validate says the mutation is missing from a patched object: %s (%s)\n"
                  "object: %s",
                  r.body, r.reason ? r.reason : "", body);
    cJSON_Delete(answer);
    review_reply_clear(&r);
    free(body);
    cJSON_Delete(again);
}

/*
 * review_parse, the server's one-pass parser, may accept only what cJSON accepts, and must build
 * what cJSON builds less the members it leaves out; review is cJSON's parse of the same bytes.
 */
static void
fuzz_check_parse(const char *body, size_t len, const cJSON *review)
{
    cJSON *lean;

    arena_begin();
    lean = review_parse(body, len);
    if (lean != NULL && review == NULL)
        fuzz_fail("review_parse accepted a body cJSON refuses");
    if (lean != NULL && !review_parse_matches(review, lean))
        fuzz_fail("review_parse built a tree other than cJSON's");
    arena_end();
}

void
fuzz_check_review(const struct policy *p, const char *body, size_t len)
{
    cJSON *review = cJSON_ParseWithLength(body, len);
    struct review_reply r, again;
    cJSON *answer, *ops;

    fuzz_check_parse(body, len, review);

    review_handle(p, DECIDE_VALIDATE, body, len, &r);
    answer = fuzz_check_reply(&r, DECIDE_VALIDATE, review, &ops);
    cJSON_Delete(answer);
    review_reply_clear(&r);

    review_handle(p, DECIDE_MUTATE, body, len, &r);
    answer = fuzz_check_reply(&r, DECIDE_MUTATE, review, &ops);
    if (ops != NULL)
        fuzz_check_patched(p, review, ops);
    cJSON_Delete(ops);
    cJSON_Delete(answer);

    /* The same review must get the same answer, byte for byte: no state, no stray memory. */
    review_handle(p, DECIDE_MUTATE, body, len, &again);
    if (again.status != r.status || again.len != r.len || memcmp(again.body, r.body, r.len) != 0)
        fuzz_fail("/mutate answered the same review differently:\n%s\n%s", r.body, again.body);
    review_reply_clear(&again);
    review_reply_clear(&r);
    cJSON_Delete(review);
}
