/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the policy tests: load a policy or JSON from a string, or die. */
#ifndef GTW_TEST_TESTUTIL_H
#define GTW_TEST_TESTUTIL_H

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "policy/policy.h"

static inline struct policy *
test_policy(const char *yaml)
{
    struct policy *p = NULL;
    struct diags d;

    diags_init(&d);
    if (policy_load_buffer("test.yaml", yaml, strlen(yaml), &p, &d) < 0) {
        diags_print(&d, stderr);
        abort();
    }
    diags_free(&d);
    return p;
}

static inline cJSON *
test_json(const char *text)
{
    cJSON *j = cJSON_Parse(text);

    if (j == NULL) {
        fprintf(stderr, "bad test JSON: %s\n", text);
        abort();
    }
    return j;
}

#endif
