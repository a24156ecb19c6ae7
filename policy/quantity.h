/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes resource quantities ("1", "2k", "500m", "1Ki", "1e3") as whole numbers. */
#ifndef GTW_QUANTITY_H
#define GTW_QUANTITY_H

#include <stddef.h>
#include <stdint.h>

enum quantity_result {
    QUANTITY_OK,
    QUANTITY_FRACTIONAL, /* a valid quantity that is not a whole number, e.g. "0.5", "500m" */
    QUANTITY_INVALID,    /* not a Kubernetes quantity, negative, or too large */
};

/* Parses s (len bytes) and, on QUANTITY_OK only, stores the whole value in *out. */
enum quantity_result quantity_parse(const char *s, size_t len, int64_t *out);

#endif
