/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for webhook/manifest.c: YAML and JSON manifests into objects, and errors at their marks. */
#include "check.h"

#include <stdlib.h>

#include "policy/xalloc.h"
#include "webhook/manifest.h"

/*
 * Reads text as a manifest named name and returns its objects as one compact JSON array,
 * each followed by "@line:column", or the diagnostics, one per line. The caller frees it.
 */
static char *
read_as(const char *name, const char *text)
{
    struct manifest m = {0};
    struct diags d;
    char *out = xstrdup(""), *next;

    diags_init(&d);
    if (manifest_read_buffer(name, text, strlen(text), &m, &d) < 0) {
        CHECK(m.count == 0 && m.items == NULL);
        for (size_t i = 0; i < d.count; i++) {
            char line[DIAG_MESSAGE_MAX + 256];
            diag_format(&d.items[i], line, sizeof(line));
            next = xasprintf("%s%s%s", out, i ? "\n" : "", line);
            free(out);
            out = next;
        }
    } else {
        CHECK_INT(d.count, 0);
        for (size_t i = 0; i < m.count; i++) {
            char *json = cJSON_PrintUnformatted(m.items[i].object);
            CHECK_INT(m.items[i].index, i);
            next = xasprintf("%s%s%s@%u:%u", out, i ? " " : "", json, m.items[i].line,
                             m.items[i].column);
            free(json);
            free(out);
            out = next;
        }
    }
    manifest_clear(&m);
    manifest_clear(&m); /* a cleared manifest may be cleared again */
    diags_free(&d);
    return out;
}

static void
expect(int line, const char *name, const char *text, const char *want)
{
    char *got = read_as(name, text);

    if (strcmp(got, want) == 0) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "%s:%d: got\n  %s\nwant\n  %s\n", __FILE__, line, got, want);
    }
    free(got);
}

#define EXPECT(text, want) expect(__LINE__, "m.yaml", text, want)
#define EXPECT_JSON(text, want) expect(__LINE__, "m.json", text, want)

#define HEAD "apiVersion: v1\nkind: X\n"
#define JHEAD "\"apiVersion\":\"v1\",\"kind\":\"X\""

static void
test_scalars(void)
{
    /* YAML 1.1 as Go's decoder reads it: booleans, nulls, integers (octal, hex), floats. */
    EXPECT(HEAD "a: [true, False, ~, null, '', 12, -3, 0755, 0x1F, 1.5, 1e3, .5, 08]\n",
           "{" JHEAD ",\"a\":[true,false,null,null,\"\",12,-3,493,31,1.5,1000,0.5,8]}@1:1");
    /* Quoted and block scalars are strings; so are yes/no/on/off, which Kubernetes keeps. */
    EXPECT(HEAD "a: ['true', \"12\", yes, off, 1.2.3, 0x, .inf]\nb: |\n  text\n",
           "{" JHEAD ",\"a\":[\"true\",\"12\",\"yes\",\"off\",\"1.2.3\",\"0x\",\".inf\"],"
           "\"b\":\"text\\n\"}@1:1");
    /* Explicit tags. */
    EXPECT(HEAD "a: [!!str 12, !!int \"7\", !!float '2', ! true, !!null '']\n",
           "{" JHEAD ",\"a\":[\"12\",7,2,\"true\",null]}@1:1");
    EXPECT(HEAD "a: !!int seven\n", "m.yaml:3:4: \"seven\" is not a valid tag:yaml.org,2002:int");
    /* Where Kubernetes has strings, plain scalars keep their text. */
    EXPECT(HEAD "metadata: {name: 2024, labels: {v: 1.10, on: true}, annotations: {n: 08}}\n"
                "spec:\n"
                "  nodeSelector: {gpu.count: 8}\n"
                "  tolerations: [{key: k, value: 1, effect: NoSchedule, tolerationSeconds: 30}]\n"
                "  containers: [{resources: {limits: {nvidia.com/gpu: 1, cpu: 0.5}}}]\n"
                "  affinity: [{matchExpressions: [{key: c, operator: Gt, values: [4, 010]}]}]\n",
           "{" JHEAD ",\"metadata\":{\"name\":\"2024\",\"labels\":{\"v\":\"1.10\",\"on\":\"true\"},"
           "\"annotations\":{\"n\":\"08\"}},\"spec\":{\"nodeSelector\":{\"gpu.count\":\"8\"},"
           "\"tolerations\":[{\"key\":\"k\",\"value\":\"1\",\"effect\":\"NoSchedule\","
           "\"tolerationSeconds\":30}],\"containers\":[{\"resources\":{\"limits\":"
           "{\"nvidia.com/gpu\":\"1\",\"cpu\":\"0.5\"}}}],\"affinity\":[{\"matchExpressions\":"
           "[{\"key\":\"c\",\"operator\":\"Gt\",\"values\":[\"4\",\"010\"]}]}]}}@1:1");
    /* Keys are always strings. */
    EXPECT(HEAD "1: a\ntrue: b\n", "{" JHEAD ",\"1\":\"a\",\"true\":\"b\"}@1:1");
    EXPECT(HEAD "a: \"x\\0y\"\n", "m.yaml:3:4: NUL characters are not allowed in values");
}

static void
test_documents(void)
{
    /* Empty documents are skipped; positions are those of each object. */
    EXPECT("---\n---\n# nothing\n---\n" HEAD "---\nnull\n---\n  {apiVersion: v1, kind: X}\n",
           "{" JHEAD "}@5:1 {" JHEAD "}@10:3");
    EXPECT("", "");
    EXPECT("# only a comment\n", "");
    /* A List gives its items, each at its own position; nested Lists are flattened. */
    EXPECT("apiVersion: v1\nkind: List\nitems:\n"
           "  - apiVersion: v1\n    kind: X\n    a: 1\n"
           "  - {apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: Y}]}\n",
           "{" JHEAD ",\"a\":1}@4:5 {\"apiVersion\":\"v1\",\"kind\":\"Y\"}@7:5");
    EXPECT("apiVersion: v1\nkind: List\nitems: []\n", "");
    EXPECT("apiVersion: v1\nkind: List\n", "");
    /* A typed list from the API leaves kind and apiVersion off its items. */
    EXPECT("apiVersion: apps/v1\nkind: DeploymentList\nitems:\n  - metadata: {name: a}\n"
           "  - {kind: Other, apiVersion: v2}\n",
           "{\"metadata\":{\"name\":\"a\"},\"kind\":\"Deployment\",\"apiVersion\":\"apps/v1\"}"
           "@4:5 {\"kind\":\"Other\",\"apiVersion\":\"v2\"}@5:5");
    /* A kind that merely ends in List, without items, is an object. */
    EXPECT("apiVersion: v1\nkind: AllowList\n",
           "{\"apiVersion\":\"v1\",\"kind\":\"AllowList\"}@1:1");
}

static void
test_aliases(void)
{
    EXPECT(HEAD "base: &b {x: 1, y: [2]}\ncopy: *b\nlist: &l [a]\nagain: *l\n",
           "{" JHEAD ",\"base\":{\"x\":1,\"y\":[2]},\"copy\":{\"x\":1,\"y\":[2]},"
           "\"list\":[\"a\"],\"again\":[\"a\"]}@1:1");
    /* Merge keys: the mapping's own keys win, then earlier merged mappings. */
    EXPECT(HEAD "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  x: 0\n",
           "{" JHEAD ",\"a\":{\"x\":1,\"y\":1},\"b\":{\"y\":2,\"z\":2},"
           "\"c\":{\"x\":0,\"y\":1,\"z\":2}}@1:1");
    EXPECT(HEAD "a: &a {x: 1}\nc: {<<: *a, w: 2}\nd: {\"<<\": 3}\n",
           "{" JHEAD ",\"a\":{\"x\":1},\"c\":{\"w\":2,\"x\":1},\"d\":{\"<<\":3}}@1:1");
    EXPECT(HEAD "c: {<<: 3}\n", "m.yaml:3:5: the merge key << takes a mapping or a sequence of "
                                "mappings");
    EXPECT(HEAD "a: *nowhere\n",
           "m.yaml:3:4: unknown anchor \"nowhere\" (or an alias inside its own anchor)");
    EXPECT(HEAD "a: &a [1, *a]\n",
           "m.yaml:3:11: unknown anchor \"a\" (or an alias inside its own anchor)");
    /* Anchors belong to their document. */
    EXPECT(HEAD "a: &a 1\n---\n" HEAD "b: *a\n",
           "m.yaml:7:4: unknown anchor \"a\" (or an alias inside its own anchor)");
    /* A billion laughs stops at the budget. */
    EXPECT(HEAD "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
                "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
           "m.yaml:8:29: aliases expand to more than 1000000 values");
}

static void
test_errors(void)
{
    char *deep = xmalloc(2 * MANIFEST_MAX_DEPTH + 64), *p = deep + 3;
    int levels = MANIFEST_MAX_DEPTH + 1;

    EXPECT(HEAD "metadata: {name: a\nspec: {}\n",
           "m.yaml:4:5: did not find expected ',' or '}' (while parsing a flow mapping at line 3, "
           "column 11)");
    EXPECT(HEAD "a: 1\nb: 2\na: 3\n", "m.yaml:5:1: duplicate key \"a\" (first at line 3)");
    EXPECT(HEAD "? [k]\n: v\n", "m.yaml:3:3: mapping keys must be strings (Kubernetes objects are "
                                "JSON)");
    EXPECT("apiVersion: v1\nmetadata: {}\n---\nkind: X\n---\napiVersion: v1\nkind: ''\n",
           "m.yaml:1:1: object has no kind\nm.yaml:4:1: object has no apiVersion\n"
           "m.yaml:6:1: object has no kind");
    EXPECT("- a\n- b\n", "m.yaml:1:1: a document is a sequence, not a Kubernetes object");
    EXPECT("just text\n", "m.yaml:1:1: a document is a string, not a Kubernetes object");
    EXPECT("apiVersion: v1\nkind: List\nitems:\n  - 3\n  - {kind: X}\n",
           "m.yaml:1:1: List item 1 is a number, not a Kubernetes object\n"
           "m.yaml:5:5: object has no apiVersion");
    EXPECT("apiVersion: v1\nkind: List\nitems: {a: 1}\n",
           "m.yaml:1:1: List items is a value, not a sequence");
    EXPECT("a: \"\\xff\"\nb: \xff\n", "m.yaml:2:4: invalid leading UTF-8 octet");
    /* Nesting is bounded. */
    memcpy(deep, "a: ", 3);
    for (int i = 0; i < levels; i++)
        *p++ = '[';
    for (int i = 0; i < levels; i++)
        *p++ = ']';
    *p = '\0';
    /* The root mapping is the first level, so the 100th bracket is one too many. */
    expect(__LINE__, "m.yaml", deep, "m.yaml:1:103: YAML nested too deeply (at most 100 levels)");
    expect(__LINE__, "m.json", deep + 3, "m.json:1:1: JSON nested too deeply (at most 100 levels)");
    free(deep);
}

static void
test_json(void)
{
    /* One value, several in a row, Lists, null; positions are those of each value. */
    EXPECT_JSON("{" JHEAD "}", "{" JHEAD "}@1:1");
    EXPECT_JSON("\xEF\xBB\xBF {" JHEAD "}\n\n  {" JHEAD ",\"a\":[1,\"1\"]} null\n",
                "{" JHEAD "}@1:5 {" JHEAD ",\"a\":[1,\"1\"]}@3:3");
    EXPECT_JSON("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{" JHEAD
                "},{\"kind\":\"Y\"}]}",
                "m.json:1:1: List item 2 has no apiVersion");
    EXPECT_JSON("{\n  " JHEAD ",\n  \"a\": [1,]\n}\n", "m.json:3:11: invalid JSON");
    EXPECT_JSON("{" JHEAD "} x", "m.json:1:32: invalid JSON");
    /* A .json file must be JSON; elsewhere a flow mapping is YAML. */
    EXPECT_JSON("{apiVersion: v1, kind: X}", "m.json:1:3: invalid JSON");
    EXPECT("{apiVersion: v1, kind: X}", "{" JHEAD "}@1:1");
    EXPECT("[1, 2]", "m.yaml:1:1: a document is a sequence, not a Kubernetes object");
}

static void
test_files(void)
{
    struct manifest m = {0};
    struct diags d;
    const char *data = getenv("GTW_TEST_DATA");
    char *path;

    diags_init(&d);
    CHECK_INT(manifest_read_file("/nonexistent/x.yaml", &m, &d), -1);
    CHECK_INT(manifest_read_file("/", &m, &d), -1);
    CHECK_INT(d.count, 2);
    if (d.count == 2) {
        CHECK_STR(d.items[0].message, "cannot open: No such file or directory");
        CHECK_STR(d.items[1].message, "is a directory");
    }
    if (data != NULL) {
        path = xasprintf("%s/nodes.yaml", data);
        CHECK_INT(manifest_read_file(path, &m, &d), 0);
        CHECK_INT(m.count, 15);
        CHECK_STR(m.file, path);
        manifest_clear(&m);
        free(path);
    }
    diags_free(&d);
}

int
main(void)
{
    xalloc_init_cjson();
    test_scalars();
    test_documents();
    test_aliases();
    test_errors();
    test_json();
    test_files();
    return check_summary();
}
