/* SPDX-License-Identifier: Apache-2.0 */
/* The libFuzzer entry points of the fuzz targets and the properties they check on every input. */
#ifndef GTW_FUZZ_H
#define GTW_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

/*
 * libFuzzer's entry points, named by its contract. Every target defines both; the replay driver
 * (replay.c) calls them the same way libFuzzer does, so CTest runs the targets with gcc too.
 */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints "fuzz: property violated: ..." and aborts, so that the fuzzer records the input. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Sends body (len bytes, not necessarily NUL-terminated) through review_handle for /mutate and
 * /validate with policy p, and aborts through fuzz_fail when an answer breaks the AdmissionReview
 * contract, when a patch does not apply to the request's object, when /mutate on the patched
 * object patches again, or when /validate refuses the patched object.
 */
void fuzz_check_review(const struct policy *p, const char *body, size_t len);

#endif
