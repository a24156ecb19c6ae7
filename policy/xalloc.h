/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation wrappers that abort on failure, so error paths handle real errors only. */
#ifndef GTW_XALLOC_H
#define GTW_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Grows *ptr (an array of *cap elements of elem bytes) to hold at least need elements. */
void xgrow(void *ptr, size_t *cap, size_t need, size_t elem);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a newly allocated string formatted like printf. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Routes cJSON's allocations through the wrappers above, or a thread's arena (policy/arena.h). */
void xalloc_init_cjson(void);

#endif
