/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for webhook/review.c: the AdmissionReview v1 contract around the decisions. */
#include "check.h"
#include "policy/testutil.h"

#include "policy/xalloc.h"
#include "webhook/review.h"

static const char *policy_yaml = "apiVersion: gpu-tenancy.io/v1alpha1\n"
                                 "kind: GPUTenancyPolicy\n"
                                 "tenants:\n"
                                 "  - name: excl\n"
                                 "    namespaces: [excl]\n"
                                 "    sharing: [exclusive]\n"
                                 "    products: [A100]\n";

#define REVIEW(ns, spec)                                                                           \
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"           \
    "\"uid\":\"705ab4f5-6393-11e8-b7cc-42010a800002\",\"kind\":{\"group\":\"\",\"version\":"       \
    "\"v1\",\"kind\":\"Pod\"},\"namespace\":\"" ns "\",\"operation\":\"CREATE\",\"object\":"       \
    "{\"metadata\":{\"generateName\":\"job-\"},\"spec\":{" spec "}}}}"
#define GPU1 "\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{\"nvidia.com/gpu\":1}}}]"

static cJSON *
handle(const struct policy *p, enum decide_endpoint ep, const char *body, unsigned status,
       struct review_reply *r)
{
    cJSON *answer;

    review_handle(p, ep, body, strlen(body), r);
    CHECK_INT(r->status, status);
    if (status != 200) {
        CHECK(!r->json);
        CHECK(r->len > 0 && r->body[r->len - 1] == '\n');
        return NULL;
    }
    CHECK(r->json);
    answer = cJSON_ParseWithLength(r->body, r->len);
    CHECK(answer != NULL);
    CHECK_STR(cJSON_GetObjectItem(answer, "apiVersion")->valuestring, "admission.k8s.io/v1");
    CHECK_STR(cJSON_GetObjectItem(answer, "kind")->valuestring, "AdmissionReview");
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(answer, "response"), "uid")->valuestring,
              "705ab4f5-6393-11e8-b7cc-42010a800002");
    return answer;
}

int
main(void)
{
    struct policy *p;
    struct review_reply r;
    cJSON *a, *resp;

    xalloc_init_cjson();
    p = test_policy(policy_yaml);

    /* A mutation: base64 of the JSON Patch, with its type. */
    a = handle(p, DECIDE_MUTATE, REVIEW("excl", GPU1), 200, &r);
    resp = cJSON_GetObjectItem(a, "response");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(resp, "allowed")));
    CHECK_STR(cJSON_GetObjectItem(resp, "patchType")->valuestring, "JSONPatch");
    CHECK(strncmp(cJSON_GetObjectItem(resp, "patch")->valuestring, "W3sib3AiOiJhZGQiLCJwYXRoIjoi",
                  28) == 0); /* [{"op":"add","path":" */
    CHECK_STR(r.verdict, "allowed");
    CHECK_STR(r.name, "job-");
    CHECK_STR(r.tenant, "excl");
    CHECK_STR(r.kind, "Pod");
    cJSON_Delete(a);
    review_reply_clear(&r);

    /* A denial: 403 with the reason; /validate never patches. */
    a = handle(p, DECIDE_VALIDATE, REVIEW("other", GPU1), 200, &r);
    resp = cJSON_GetObjectItem(a, "response");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(resp, "allowed")));
    CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "status"), "code")->valueint, 403);
    CHECK(strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "status"), "message")->valuestring,
                 "belongs to no GPU tenant") != NULL);
    CHECK(cJSON_GetObjectItem(resp, "patch") == NULL);
    CHECK_STR(r.verdict, "denied");
    CHECK(r.reason != NULL);
    cJSON_Delete(a);
    review_reply_clear(&r);

    /* An object that cannot be read: 400 inside the review. */
    a = handle(p, DECIDE_VALIDATE,
               REVIEW("excl", "\"containers\":[{\"resources\":{\"limits\":{\"nvidia.com/gpu\":"
                              "\"many\"}}}]"),
               200, &r);
    resp = cJSON_GetObjectItem(a, "response");
    CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "status"), "code")->valueint, 400);
    CHECK_STR(r.verdict, "error");
    cJSON_Delete(a);
    review_reply_clear(&r);

    /*
     * Members no decision reads are left out before parsing, wherever they stand: first, last,
     * alone, nested, with odd spacing, next to strings that merely contain their names.
     */
    a = handle(p, DECIDE_MUTATE,
               "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
               "\"request\":{\"uid\":\"705ab4f5-6393-11e8-b7cc-42010a800002\",\"kind\":"
               "{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},\"namespace\":\"excl\","
               "\"operation\":\"CREATE\",\"object\":{\"metadata\":{\"managedFields\":[{\"f:x\":"
               "{\"}\\\"]\":{}}}],\"name\":\"p\",\"labels\":{ \"env\" : \"a,\\\"b\" },"
               "\"annotations\":{\"note\":\"\\\"env\\\": 1\"}},\"spec\":{\"volumes\":[],"
               "\"containers\":[{\"env\":[{\"name\":\"A\",\"value\":\"{[\"}],\"name\":\"c\","
               "\"resources\":{\"limits\":{\"nvidia.com/gpu\":1}},\"image\":\"x\"}],"
               "\"tolerations\":[]   ,  \"ports\" : 7}}}}",
               200, &r);
    resp = cJSON_GetObjectItem(a, "response");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(resp, "allowed")));
    CHECK(cJSON_GetObjectItem(resp, "patch") != NULL);
    CHECK_STR(r.name, "p");
    cJSON_Delete(a);
    review_reply_clear(&r);
    /* What is not JSON stays not JSON. */
    handle(p, DECIDE_MUTATE,
           "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
           "\"request\":{\"uid\":\"u\",\"env\":",
           400, &r);
    review_reply_clear(&r);
    handle(p, DECIDE_MUTATE, "{\"env\":[1,2", 400, &r);
    review_reply_clear(&r);

    /* Bodies that are no AdmissionReview: HTTP 400 with a reason. */
    handle(p, DECIDE_MUTATE, "", 400, &r);
    review_reply_clear(&r);
    handle(p, DECIDE_MUTATE, "{\"apiVersion\":", 400, &r);
    CHECK(strstr(r.body, "malformed JSON") != NULL);
    review_reply_clear(&r);
    handle(p, DECIDE_MUTATE, "[]", 400, &r);
    review_reply_clear(&r);
    handle(p, DECIDE_MUTATE,
           "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\","
           "\"request\":{\"uid\":\"x\"}}",
           400, &r);
    CHECK(strstr(r.body, "apiVersion") != NULL);
    review_reply_clear(&r);
    handle(p, DECIDE_MUTATE,
           "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
           "\"request\":{\"uid\":\"\"}}",
           400, &r);
    CHECK(strstr(r.body, "request.uid") != NULL);
    review_reply_clear(&r);
    handle(p, DECIDE_MUTATE,
           "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}", 400, &r);
    review_reply_clear(&r);

    policy_free(p);
    return check_summary();
}
