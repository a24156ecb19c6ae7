/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for webhook/review_parse.c: the one-pass parser against cJSON, byte for byte. */
#include "check.h"

#include <dirent.h>
#include <stdlib.h>

#include "policy/arena.h"
#include "policy/xalloc.h"
#include "webhook/review.h"

/* What review_parse should do with a text: build it, or leave it to cJSON, which accepts or not. */
enum want { FAST, DEFERRED, REFUSED };

/* Parses text both ways and checks the outcome is want, and the trees agree when both are built. */
static void
check_parse(const char *text, size_t len, enum want want)
{
    cJSON *full = cJSON_ParseWithLength(text, len), *lean;
    unsigned failed = check_failed;

    arena_begin();
    lean = review_parse(text, len);
    CHECK((lean != NULL) == (want == FAST));
    CHECK((full != NULL) == (want != REFUSED));
    if (lean != NULL)
        CHECK(review_parse_matches(full, lean));
    arena_end();
    cJSON_Delete(full);
    if (check_failed != failed)
        fprintf(stderr, "  in the case: %.*s\n", (int)(len < 200 ? len : 200), text);
}

#define PARSE(text, want) check_parse(text, sizeof(text) - 1, want)
#define LEAN(text) review_parse(text, sizeof(text) - 1)

/* Every review in dir: what cJSON accepts must take the fast path; the rest must be refused. */
static void
check_corpus(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    unsigned n = 0;

    CHECK(d != NULL);
    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[4096], *text;
        FILE *f;
        long len;
        cJSON *full;

        if (e->d_name[0] == '.' ||
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
            continue;
        f = fopen(path, "rb");
        CHECK(f != NULL);
        if (f == NULL)
            continue;
        fseek(f, 0, SEEK_END);
        len = ftell(f);
        rewind(f);
        text = xmalloc((size_t)len + 1);
        CHECK(fread(text, 1, (size_t)len, f) == (size_t)len);
        fclose(f);
        full = cJSON_ParseWithLength(text, (size_t)len);
        check_parse(text, (size_t)len, full != NULL ? FAST : REFUSED);
        cJSON_Delete(full);
        free(text);
        n++;
    }
    if (d != NULL)
        closedir(d);
    CHECK(n >= 10);
}

/* A text of n nested arrays. */
static char *
nested(unsigned n)
{
    char *text = xmalloc(2 * (size_t)n + 1);

    memset(text, '[', n);
    memset(text + n, ']', n);
    text[2 * n] = '\0';
    return text;
}

int
main(void)
{
    const char *data = getenv("GTW_TEST_DATA");
    char dir[4096], *deep;
    cJSON *lean, *s;

    xalloc_init_cjson();

    /* Every kind of value, with cJSON's whitespace, NUL bytes included, between the tokens. */
    PARSE("{\"a\":1}", FAST);
    PARSE(" \t\r\n{ \"a\" : [ 1 , -2.5e3 , 0.125 , true , false , null , \"x\" , { } , [ ] ] } ",
          FAST);
    PARSE("{\0\"a\"\0:\0{}}", FAST);
    PARSE("\"a string\"", FAST);
    PARSE("-12", FAST);
    PARSE("{\"big\":1e300,\"huge\":1e999,\"neg\":-3000000000,\"lead\":01}", FAST);
    PARSE("{\"raw\":\"\x01\x1f\xc3\xa9\xff\"}", FAST); /* cJSON takes bytes as they are */
    /* cJSON reads one value and ignores what follows it. */
    PARSE("{\"a\":1} trailing", FAST);
    PARSE("1.5x", FAST);
    /* Duplicate members stay, in order. */
    PARSE("{\"a\":1,\"a\":2}", FAST);

    /* Escapes decode as cJSON decodes them, keys included. */
    PARSE("{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20ac\\ud83d\\ude00x\"}", FAST);
    arena_begin();
    lean = LEAN("{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20ac\\ud83d\\ude00x\"}");
    s = lean ? cJSON_GetObjectItemCaseSensitive(lean, "s") : NULL;
    CHECK(cJSON_IsString(s));
    if (cJSON_IsString(s))
        CHECK_STR(s->valuestring, "\"\\/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80x");
    arena_end();

    /* Unread members are left out wherever they are, by their decoded name. */
    PARSE("{\"env\":[{\"name\":\"X\"}],\"b\":{\"managedFields\":[1,2],\"c\":3},\"volumes\":{}}",
          FAST);
    arena_begin();
    lean = LEAN("{\"\\u0065nv\":1,\"b\":{\"managedFields\":[],\"image\":\"x\"},\"c\":2}");
    CHECK(lean != NULL);
    if (lean != NULL) {
        CHECK(cJSON_GetObjectItemCaseSensitive(lean, "env") == NULL);
        CHECK(cJSON_GetObjectItemCaseSensitive(lean, "b")->child == NULL);
        CHECK_INT(cJSON_GetObjectItemCaseSensitive(lean, "c")->valueint, 2);
        CHECK_INT(cJSON_GetArraySize(lean), 2);
    }
    arena_end();
    /* An unread member must still be valid JSON. */
    PARSE("{\"env\":[1,}", REFUSED);
    PARSE("{\"managedFields\":\"\\q\"}", REFUSED);

    /* What cJSON refuses, refused. */
    PARSE("", REFUSED);
    PARSE("   ", REFUSED);
    PARSE("{\"a\":\"x", REFUSED);
    PARSE("{\"a\":\"x\\", REFUSED);
    PARSE("{\"a\":\"x\\\"}", REFUSED);
    PARSE("{\"a\":1,}", REFUSED);
    PARSE("{\"a\" 1}", REFUSED);
    PARSE("{a:1}", REFUSED);
    PARSE("[1 2]", REFUSED);
    PARSE("[1,", REFUSED);
    PARSE("{\"a\":tru}", REFUSED);
    PARSE("{\"a\":nul", REFUSED);
    PARSE("{\"a\":+1}", REFUSED);
    PARSE("{\"a\":-}", REFUSED);
    PARSE("{\"a\":1e}", REFUSED);
    PARSE("{\"a\":\"\\q\"}", REFUSED);
    PARSE("{\"a\":\"\\udc00\"}", REFUSED);
    PARSE("{\"a\":\"\\ud800x\"}", REFUSED);
    PARSE("{\"a\":\"\\ud800\\u0041\"}", REFUSED);
    PARSE("{\"a\":\"\\u12\"}", REFUSED);

    /* What cJSON accepts but this parser leaves to it. */
    PARSE("{\"a\":\"\\u00zz\"}", DEFERRED); /* cJSON reads the bad digits as zero */
    PARSE("{\"a\":\"\\u0000b\"}", DEFERRED);
    PARSE("{\"a\":\"x\0y\"}", DEFERRED);
    PARSE("\xef\xbb\xbf{\"a\":1}", DEFERRED); /* a byte order mark */
    PARSE("{\"a\":123456789012345678901234567890123456789012345678901234567890123456789}",
          DEFERRED);

    /* cJSON's nesting limit: 1,000 containers. */
    deep = nested(1000);
    check_parse(deep, strlen(deep), FAST);
    free(deep);
    deep = nested(1001);
    check_parse(deep, strlen(deep), REFUSED);
    free(deep);

    /* The comparison the fuzzer relies on can fail. */
    {
        cJSON *full = cJSON_Parse("{\"a\":1,\"b\":[true,\"x\"],\"env\":1}");

        arena_begin();
        CHECK(review_parse_matches(full, LEAN("{\"a\":1,\"b\":[true,\"x\"]}")));
        CHECK(!review_parse_matches(full, LEAN("{\"a\":1,\"b\":[true,\"y\"]}")));
        CHECK(!review_parse_matches(full, LEAN("{\"a\":2,\"b\":[true,\"x\"]}")));
        CHECK(!review_parse_matches(full, LEAN("{\"c\":1,\"b\":[true,\"x\"]}")));
        CHECK(!review_parse_matches(full, LEAN("{\"a\":1,\"b\":[true]}")));
        CHECK(!review_parse_matches(full, LEAN("{\"a\":1,\"b\":[false,\"x\"]}")));
        CHECK(!review_parse_matches(full, LEAN("{\"a\":1}")));
        CHECK(!review_parse_matches(full, NULL));
        arena_end();
        cJSON_Delete(full);
    }

    /* Real reviews, as the apiserver sends them, all take the fast path. */
    CHECK(data != NULL);
    if (data != NULL) {
        snprintf(dir, sizeof(dir), "%s/../fuzz/corpus/fuzz_review", data);
        check_corpus(dir);
    }
    return check_summary();
}
