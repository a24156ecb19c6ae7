/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for webhook/jsonpatch.c: RFC 6902 operations and RFC 6901 pointers on cJSON documents. */
#include "check.h"
#include "policy/testutil.h"

#include <stdbool.h>
#include <stdlib.h>

#include "policy/xalloc.h"
#include "webhook/jsonpatch.h"

/*
 * Applies patch to doc and returns the result as compact JSON, or "error: <why>" when the patch
 * fails, after checking that a failed patch leaves the document untouched. The caller frees it.
 */
static char *
apply(const char *doc_text, const char *patch_text)
{
    cJSON *doc = test_json(doc_text), *patch = test_json(patch_text),
          *before = cJSON_Duplicate(doc, true);
    char why[256], *out;

    if (jsonpatch_apply(&doc, patch, why, sizeof(why)) < 0) {
        CHECK(cJSON_Compare(doc, before, true));
        out = xasprintf("error: %s", why);
    } else {
        out = cJSON_PrintUnformatted(doc);
    }
    cJSON_Delete(before);
    cJSON_Delete(patch);
    cJSON_Delete(doc);
    return out;
}

static void
expect(const char *doc, const char *patch, const char *want)
{
    char *got = apply(doc, patch);
    CHECK_STR(got, want);
    free(got);
}

/* Checks that the patch fails and that the reason contains fragment. */
static void
expect_error(const char *doc, const char *patch, const char *fragment)
{
    char *got = apply(doc, patch);

    CHECK(strncmp(got, "error: ", 7) == 0);
    if (strstr(got, fragment) == NULL) {
        check_failed++;
        fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, got,
                fragment);
    } else {
        check_passed++;
    }
    free(got);
}

/* The operations patch.c emits, on the pod shapes it meets. */
static void
test_webhook_patches(void)
{
    expect("{\"spec\":{}}",
           "[{\"op\":\"add\",\"path\":\"/spec/tolerations\",\"value\":[{\"key\":\"has-gpu\"}]}]",
           "{\"spec\":{\"tolerations\":[{\"key\":\"has-gpu\"}]}}");
    expect("{\"spec\":{\"tolerations\":[{\"key\":\"a\"}]}}",
           "[{\"op\":\"add\",\"path\":\"/spec/tolerations/-\",\"value\":{\"key\":\"b\"}}]",
           "{\"spec\":{\"tolerations\":[{\"key\":\"a\"},{\"key\":\"b\"}]}}");
    /* "~1" is '/', so the label key keeps its slash. */
    expect(
        "{\"metadata\":{\"labels\":{\"app\":\"x\"}}}",
        "[{\"op\":\"add\",\"path\":\"/metadata/labels/gpu-tenancy.io~1tenant\",\"value\":\"t\"}]",
        "{\"metadata\":{\"labels\":{\"app\":\"x\",\"gpu-tenancy.io/tenant\":\"t\"}}}");
    /* "add" on an existing member replaces it, in place. */
    expect("{\"metadata\":{\"labels\":{\"a/b\":\"forged\",\"z\":\"1\"}}}",
           "[{\"op\":\"add\",\"path\":\"/metadata/labels/a~1b\",\"value\":\"real\"}]",
           "{\"metadata\":{\"labels\":{\"a/b\":\"real\",\"z\":\"1\"}}}");
    expect("{\"t\":[{\"e\":[1]},{\"e\":[2]}]}",
           "[{\"op\":\"add\",\"path\":\"/t/1/e/-\",\"value\":3},"
           "{\"op\":\"add\",\"path\":\"/t/0/e/0\",\"value\":0}]",
           "{\"t\":[{\"e\":[0,1]},{\"e\":[2,3]}]}");
}

static void
test_pointers(void)
{
    cJSON *doc = test_json("{\"a/b\":{\"m~n\":[10,20]},\"\":{\"\":5},\"0\":\"zero\"}");

    CHECK(jsonpatch_pointer_get(doc, "") == doc);
    CHECK_INT(cJSON_GetNumberValue(jsonpatch_pointer_get(doc, "/a~1b/m~0n/1")), 20);
    CHECK_INT(cJSON_GetNumberValue(jsonpatch_pointer_get(doc, "//")), 5);
    CHECK_STR(cJSON_GetStringValue(jsonpatch_pointer_get(doc, "/0")), "zero");
    CHECK(jsonpatch_pointer_get(doc, "/a~1b/m~0n/2") == NULL);
    CHECK(jsonpatch_pointer_get(doc, "/a~1b/m~0n/01") == NULL); /* no leading zeros */
    CHECK(jsonpatch_pointer_get(doc, "/a~1b/m~0n/-") == NULL);  /* "-" is past the end */
    CHECK(jsonpatch_pointer_get(doc, "/a~2b") == NULL);         /* an undefined escape */
    CHECK(jsonpatch_pointer_get(doc, "a") == NULL);             /* not a pointer */
    CHECK(jsonpatch_pointer_get(doc, "/a/b") == NULL);
    cJSON_Delete(doc);
}

/* The examples of RFC 6902 appendix A, the ones that succeed. */
static void
test_rfc_examples(void)
{
    expect("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
           "{\"foo\":\"bar\",\"baz\":\"qux\"}");
    expect("{\"foo\":[\"bar\",\"baz\"]}",
           "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
           "{\"foo\":[\"bar\",\"qux\",\"baz\"]}");
    expect("{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]",
           "{\"foo\":\"bar\"}");
    expect("{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
           "{\"foo\":[\"bar\",\"baz\"]}");
    expect("{\"baz\":\"qux\",\"foo\":\"bar\"}",
           "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
           "{\"baz\":\"boo\",\"foo\":\"bar\"}");
    expect("{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
           "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
           "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}");
    expect("{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
           "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
           "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}");
    expect("{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
           "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
           "{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
           "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}");
    expect("{\"foo\":\"bar\"}",
           "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
           "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}");
    expect("{\"foo\":[\"bar\"]}",
           "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
           "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}");
    expect("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]",
           "{\"/\":9,\"~1\":10}");
    expect("{\"a\":{\"b\":1}}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"}]",
           "{\"a\":{\"b\":1},\"c\":{\"b\":1}}");
    /* In the middle of arrays. */
    expect("{\"a\":[1,2,3]}", "[{\"op\":\"replace\",\"path\":\"/a/1\",\"value\":9}]",
           "{\"a\":[1,9,3]}");
    expect("{\"a\":[1,2,3]}", "[{\"op\":\"move\",\"from\":\"/a/0\",\"path\":\"/a/1\"}]",
           "{\"a\":[2,1,3]}");
    expect("{\"a\":[1,2,3],\"b\":{\"c\":4}}",
           "[{\"op\":\"move\",\"from\":\"/b/c\",\"path\":\"/a/2\"}]", "{\"a\":[1,2,4,3],\"b\":{}}");
    /* The whole document. */
    expect("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[1]}]", "[1]");
    expect("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"\",\"value\":{\"b\":2}}]", "{\"b\":2}");
    expect("{\"a\":1}", "[]", "{\"a\":1}");
    /* Objects compare regardless of member order. */
    expect("{\"o\":{\"x\":1,\"y\":[true,null]}}",
           "[{\"op\":\"test\",\"path\":\"/o\",\"value\":{\"y\":[true,null],\"x\":1}}]",
           "{\"o\":{\"x\":1,\"y\":[true,null]}}");
}

/* Failures, and that a failure part way leaves the document as it was. */
static void
test_errors(void)
{
    expect_error("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
                 "operation 0 (add /baz/bat): \"/baz/bat\" does not exist");
    expect_error("{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]",
                 "does not hold the tested value");
    expect_error("{\"foo\":[1]}", "[{\"op\":\"add\",\"path\":\"/foo/2\",\"value\":0}]",
                 "no index 2 in an array of 1");
    expect_error("{\"foo\":[1]}", "[{\"op\":\"add\",\"path\":\"/foo/01\",\"value\":0}]",
                 "no index 01");
    expect_error("{\"foo\":[1]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]", "does not exist");
    expect_error("{\"foo\":1}", "[{\"op\":\"replace\",\"path\":\"/bar\",\"value\":0}]",
                 "does not exist");
    expect_error("{\"foo\":1}", "[{\"op\":\"remove\",\"path\":\"\"}]", "whole document");
    expect_error("{\"foo\":1}", "[{\"op\":\"add\",\"path\":\"/foo/x\",\"value\":0}]",
                 "neither an object nor an array");
    expect_error("{\"a\":{\"b\":{}}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b/c\"}]",
                 "into itself");
    expect_error("{}", "[{\"op\":\"add\",\"path\":\"/a~\",\"value\":0}]", "'~'");
    expect_error("{}", "[{\"op\":\"add\",\"path\":\"/a\"}]", "needs a \"value\"");
    expect_error("{}", "[{\"op\":\"move\",\"path\":\"/a\"}]", "needs a string \"from\"");
    expect_error("{}", "[{\"op\":\"frobnicate\",\"path\":\"/a\"}]", "unknown operation");
    expect_error("{}", "[{\"path\":\"/a\"}]", "\"op\" and \"path\"");
    expect_error("{}", "[7]", "operation 0 is not an object");
    expect_error("{}", "{\"op\":\"add\"}", "must be an array");
    /* The first operation succeeds on the copy; the second fails; nothing changes. */
    expect_error("{\"a\":1}",
                 "[{\"op\":\"add\",\"path\":\"/b\",\"value\":2},"
                 "{\"op\":\"remove\",\"path\":\"/zzz\"}]",
                 "operation 1 (remove /zzz)");
}

int
main(void)
{
    xalloc_init_cjson();
    test_webhook_patches();
    test_pointers();
    test_rfc_examples();
    test_errors();
    return check_summary();
}
