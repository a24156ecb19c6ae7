/* SPDX-License-Identifier: Apache-2.0 */
/* JSON Patch (RFC 6902) applied to cJSON documents, with JSON Pointers (RFC 6901) as paths. */
#ifndef GTW_JSONPATCH_H
#define GTW_JSONPATCH_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * Applies patch, a JSON array of RFC 6902 operations (add, remove, replace, move, copy, test),
 * to *doc. The operations run on a copy, in order; when all succeed, *doc is freed and replaced
 * by the result (owned by the caller) and 0 is returned. When one fails, -1 is returned, *doc is
 * left as it was, and why gets a one-line reason naming the operation.
 */
int jsonpatch_apply(cJSON **doc, const cJSON *patch, char *why, size_t why_size);

/*
 * Returns the value that pointer (a JSON Pointer such as "/metadata/labels/a~1b", or "" for the
 * whole document) designates in doc, borrowed from doc, or NULL when there is none.
 */
cJSON *jsonpatch_pointer_get(const cJSON *doc, const char *pointer);

#endif
