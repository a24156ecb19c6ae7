/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for policy/arena.c: cJSON allocations of one request from a reused per-thread arena. */
#include <pthread.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "policy/arena.h"
#include "policy/xalloc.h"

/* Builds and prints a document with n members, as a review would. */
static char *
build(int n)
{
    cJSON *root = cJSON_CreateObject();
    char *text, *copy;

    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof(key), "k%d", i);
        cJSON_AddStringToObject(root, key, "a value long enough to need its own allocation");
    }
    text = cJSON_PrintUnformatted(root);
    copy = xstrdup(text);
    cJSON_free(text);
    cJSON_Delete(root);
    return copy;
}

static void *
thread_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++) {
        arena_begin();
        free(build(100));
        arena_end();
    }
    return NULL;
}

int
main(void)
{
    char *small, *large, *outside;
    size_t kept;
    pthread_t t[2];

    xalloc_init_cjson();

    /* Outside the arena cJSON uses malloc; the result survives arena_end. */
    outside = build(3);

    arena_begin();
    small = build(10);
    CHECK(arena_capacity() > 0);
    arena_end();
    kept = arena_capacity();
    CHECK(kept > 0); /* the chunk is kept for the next request */

    /* A large document spills into more chunks; only a few are kept afterwards. */
    arena_begin();
    large = build(20000);
    CHECK(arena_capacity() > kept);
    arena_end();
    CHECK(arena_capacity() <= 4 * 64 * 1024);
    CHECK(strlen(large) > 20000 * 40);

    /* The same request again gives the same text: nothing was clobbered. */
    arena_begin();
    {
        char *again = build(10);
        CHECK_STR(again, small);
        free(again);
    }
    /* Frees inside the arena do nothing: arena_end releases it all. */
    cJSON_Delete(cJSON_Parse("[1,2,3]"));
    arena_end();
    CHECK_STR(outside, "{\"k0\":\"a value long enough to need its own allocation\","
                       "\"k1\":\"a value long enough to need its own allocation\","
                       "\"k2\":\"a value long enough to need its own allocation\"}");

    /* Each thread has its own arena, freed when the thread exits (LeakSanitizer checks). */
    for (int i = 0; i < 2; i++)
        CHECK_INT(pthread_create(&t[i], NULL, thread_main, NULL), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);

    free(small);
    free(large);
    free(outside);
    return check_summary();
}
