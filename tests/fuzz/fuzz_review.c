/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes AdmissionReview handling end to end: bytes in, answers, patches and a second pass out. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>

#include "policy/xalloc.h"

/* The policy every input is judged against, loaded once: a fixed policy keeps inputs replayable. */
static struct policy *fuzz_policy;

/*
 * Loads the policy named by $GTW_FUZZ_POLICY, or the integration tests' policy (one tenant per
 * sharing shape and mode) built in as GTW_FUZZ_POLICY_DEFAULT. A policy that does not load is a
 * setup error, not a finding, so it exits rather than aborts.
 */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *path = getenv("GTW_FUZZ_POLICY");
    struct diags d;

    (void)argc;
    (void)argv;
    xalloc_init_cjson();
    if (path == NULL || *path == '\0')
        path = GTW_FUZZ_POLICY_DEFAULT;
    diags_init(&d);
    if (policy_load_file(path, &fuzz_policy, &d) < 0) {
        diags_print(&d, stderr);
        fprintf(stderr, "fuzz_review: cannot load the policy %s (set GTW_FUZZ_POLICY)\n", path);
        exit(2);
    }
    diags_free(&d);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_check_review(fuzz_policy, (const char *)data, size);
    return 0;
}
