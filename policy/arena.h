/* SPDX-License-Identifier: Apache-2.0 */
/* A per-thread bump allocator for the JSON of one admission request. */
#ifndef GTW_ARENA_H
#define GTW_ARENA_H

#include <stddef.h>

/*
 * Between arena_begin and arena_end, cJSON's allocations on this thread come from the thread's
 * arena: a bump pointer in a few reused chunks instead of hundreds of malloc and free calls per
 * review. cJSON's frees inside do nothing; arena_end releases it all at once, so no cJSON object
 * allocated inside may be used after it, and none allocated before may be freed inside. Outside,
 * and on other threads, cJSON uses malloc as usual. Calls do not nest.
 */
void arena_begin(void);
void arena_end(void);

/* The cJSON hooks; xalloc_init_cjson installs them. */
void *arena_cjson_malloc(size_t size);
void arena_cjson_free(void *ptr);

/* Bytes the calling thread's arena holds in chunks (for tests and metrics). */
size_t arena_capacity(void);

#endif
