/* SPDX-License-Identifier: Apache-2.0 */
/* A tiny assertion helper for the unit tests: reports file and line, counts, keeps going. */
#ifndef GTW_TEST_CHECK_H
#define GTW_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static unsigned check_passed, check_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_INT(got, want)                                                                       \
    do {                                                                                           \
        long long check_g_ = (long long)(got), check_w_ = (long long)(want);                      \
        if (check_g_ == check_w_) {                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: %s is %lld, want %lld\n", __FILE__, __LINE__, #got, check_g_,  \
                    check_w_);                                                                     \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *check_g_ = (got), *check_w_ = (want);                                          \
        if (check_g_ != NULL && check_w_ != NULL && strcmp(check_g_, check_w_) == 0) {             \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: %s is\n  \"%s\"\nwant\n  \"%s\"\n", __FILE__, __LINE__, #got,  \
                    check_g_ ? check_g_ : "(null)", check_w_ ? check_w_ : "(null)");               \
        }                                                                                          \
    } while (0)

/* Prints the plain summary line and returns the exit status for main. */
static inline int
check_summary(void)
{
    printf("%u passed, %u failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
