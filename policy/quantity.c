/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes resource quantities ("1", "2k", "500m", "1Ki", "1e3") as whole numbers. */
#include "policy/quantity.h"

#include <stdbool.h>
#include <string.h>

#define QUANTITY_DIGITS_MAX 18 /* significant digits that always fit in int64_t */

/*
 * Looks up a suffix: decimal SI as a power of ten, binary SI as a power of two. Returns false for
 * anything else. An empty suffix is 10^0.
 */
static bool
quantity_suffix(const char *s, size_t len, int *exp10, int *exp2)
{
    static const struct {
        const char *name;
        int exp10, exp2;
    } suffixes[] = {
        {"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},
        {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
        {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
    };

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (strlen(suffixes[i].name) == len && memcmp(suffixes[i].name, s, len) == 0) {
            *exp10 = suffixes[i].exp10;
            *exp2 = suffixes[i].exp2;
            return true;
        }
    }
    return false;
}

/*
 * The value is digits * 10^exp10 * 2^exp2, where digits holds the significant digits without
 * leading or trailing zeros. It is whole when, after applying the power of two, the negative
 * power of ten divides it.
 */
enum quantity_result
quantity_parse(const char *s, size_t len, int64_t *out)
{
    const char *p = s, *end = s + len;
    bool negative = false, seen_digit = false, seen_point = false;
    uint64_t digits = 0;
    int ndigits = 0, exp10 = 0, exp2 = 0, sexp10, sexp2;
    int pending_zeros = 0; /* zeros not yet folded into digits: they may be trailing */

    if (p < end && (*p == '+' || *p == '-'))
        negative = *p++ == '-';
    for (; p < end; p++) {
        if (*p == '.' && !seen_point) {
            seen_point = true;
            continue;
        }
        if (*p < '0' || *p > '9')
            break;
        seen_digit = true;
        if (*p == '0') {
            if (ndigits > 0)
                pending_zeros++;
            if (seen_point)
                exp10--;
            continue;
        }
        if (ndigits + pending_zeros + 1 > QUANTITY_DIGITS_MAX)
            return QUANTITY_INVALID;
        for (; pending_zeros > 0; pending_zeros--, ndigits++)
            digits *= 10;
        digits = digits * 10 + (uint64_t)(*p - '0');
        ndigits++;
        if (seen_point)
            exp10--;
    }
    if (!seen_digit)
        return QUANTITY_INVALID;
    /*
     * Zeros after the last significant digit were never folded in: each scales the value by ten,
     * which also undoes the decrement a zero after the point made.
     */
    exp10 += pending_zeros;

    if (p < end && (*p == 'e' || *p == 'E') && p + 1 < end &&
        (p[1] == '+' || p[1] == '-' || (p[1] >= '0' && p[1] <= '9'))) {
        bool eneg = false;
        int e = 0;

        p++;
        if (*p == '+' || *p == '-')
            eneg = *p++ == '-';
        if (p == end)
            return QUANTITY_INVALID;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9' || e > 1000)
                return QUANTITY_INVALID;
            e = e * 10 + (*p - '0');
        }
        exp10 += eneg ? -e : e;
    } else {
        if (!quantity_suffix(p, (size_t)(end - p), &sexp10, &sexp2))
            return QUANTITY_INVALID;
        exp10 += sexp10;
        exp2 += sexp2;
    }

    if (digits == 0) {
        *out = 0;
        return QUANTITY_OK;
    }
    if (negative)
        return QUANTITY_INVALID;
    for (; exp2 > 0; exp2--) {
        if (digits > (uint64_t)INT64_MAX / 2)
            return QUANTITY_INVALID;
        digits *= 2;
    }
    for (; exp10 > 0; exp10--) {
        if (digits > (uint64_t)INT64_MAX / 10)
            return QUANTITY_INVALID;
        digits *= 10;
    }
    for (; exp10 < 0; exp10++) {
        if (digits % 10 != 0)
            return QUANTITY_FRACTIONAL;
        digits /= 10;
    }
    *out = (int64_t)digits;
    return QUANTITY_OK;
}
