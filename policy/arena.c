/* SPDX-License-Identifier: Apache-2.0 */
/* A per-thread bump allocator for the JSON of one admission request. */
#include "policy/arena.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "policy/xalloc.h"

#define ARENA_CHUNK (64 * 1024) /* holds the JSON of a typical 8 KB review several times */
#define ARENA_KEEP 4            /* chunks kept between requests; larger reviews' are freed */
#define ARENA_ALIGN 16

struct arena_chunk {
    struct arena_chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    /* the memory follows, aligned */
};

struct arena {
    struct arena_chunk *chunks; /* the chunk allocated from first; others follow */
    bool active;
};

static _Thread_local struct arena arena_self;
static pthread_key_t arena_key;
static pthread_once_t arena_key_once = PTHREAD_ONCE_INIT;

#define ARENA_HEADER ((sizeof(struct arena_chunk) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

static unsigned char *
arena_chunk_base(struct arena_chunk *c)
{
    return (unsigned char *)c + ARENA_HEADER;
}

static void
arena_release(void *unused)
{
    struct arena_chunk *c = arena_self.chunks, *next;

    (void)unused;
    for (; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    arena_self.chunks = NULL;
}

static void
arena_key_create(void)
{
    /* The destructor frees a thread's chunks when the thread exits. */
    pthread_key_create(&arena_key, arena_release);
}

void
arena_begin(void)
{
    pthread_once(&arena_key_once, arena_key_create);
    if (arena_self.chunks == NULL)
        pthread_setspecific(arena_key, &arena_self);
    arena_self.active = true;
}

void
arena_end(void)
{
    struct arena_chunk *c = arena_self.chunks, *next;
    unsigned kept = 0;

    arena_self.active = false;
    arena_self.chunks = NULL;
    for (; c != NULL; c = next) {
        next = c->next;
        if (kept < ARENA_KEEP && c->size == ARENA_CHUNK) {
            c->used = 0;
            c->next = arena_self.chunks;
            arena_self.chunks = c;
            kept++;
        } else {
            free(c);
        }
    }
}

static struct arena_chunk *
arena_chunk_new(size_t size, struct arena_chunk *next)
{
    struct arena_chunk *c = xmalloc(ARENA_HEADER + size);

    c->next = next;
    c->size = size;
    c->used = 0;
    return c;
}

void *
arena_cjson_malloc(size_t size)
{
    struct arena_chunk *c = arena_self.chunks;
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);

    if (!arena_self.active)
        return xmalloc(size);
    /* A bump pointer in the first chunk, not a search. */
    if (c != NULL && c->size - c->used >= need)
        goto found;
    if (need > ARENA_CHUNK / 4) {
        /* A large string (a printed answer, a long value) gets a chunk of its own, behind. */
        c = arena_chunk_new(need, NULL);
        if (arena_self.chunks == NULL) {
            arena_self.chunks = c;
        } else {
            c->next = arena_self.chunks->next;
            arena_self.chunks->next = c;
        }
    } else {
        c = arena_chunk_new(ARENA_CHUNK, arena_self.chunks);
        arena_self.chunks = c;
    }
found:
    c->used += need;
    return arena_chunk_base(c) + c->used - need;
}

void
arena_cjson_free(void *ptr)
{
    /*
     * While the arena is active every cJSON allocation on this thread comes from it, so there is
     * nothing to free one by one: arena_end releases it all.
     */
    if (arena_self.active)
        return;
    free(ptr);
}

size_t
arena_capacity(void)
{
    size_t total = 0;

    for (struct arena_chunk *c = arena_self.chunks; c != NULL; c = c->next)
        total += c->size;
    return total;
}
