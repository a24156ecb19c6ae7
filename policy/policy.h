/* SPDX-License-Identifier: Apache-2.0 */
/* The loaded GPU tenancy policy: loading, lookups and freeing. A loaded policy never changes. */
#ifndef GTW_POLICY_H
#define GTW_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/diag.h"

struct policy;
struct policy_tenant;

enum policy_mode {
    POLICY_MODE_ENFORCE,
    POLICY_MODE_WARN,
    POLICY_MODE_AUDIT,
};

/*
 * Loads and checks the policy file at path. On success returns 0 and stores a new policy,
 * owned by the caller (free with policy_free), in *out. Every problem found, errors and
 * warnings alike, is appended to diags; returns -1 and leaves *out untouched if any is an error.
 */
int policy_load_file(const char *path, struct policy **out, struct diags *diags);

/* Like policy_load_file, from a buffer; name is used as the file name in diagnostics. */
int policy_load_buffer(const char *name, const char *data, size_t len, struct policy **out,
                       struct diags *diags);

/* Frees a policy; NULL is a no-op. */
void policy_free(struct policy *p);

/* Returns the tenant owning namespace ns, or NULL. The tenant lives as long as the policy. */
const struct policy_tenant *policy_tenant_for_namespace(const struct policy *p, const char *ns);

/* Returns true when ns is one of settings.exemptNamespaces. */
bool policy_namespace_is_exempt(const struct policy *p, const char *ns);

/* Returns true when the service account name sa matches one of the tenant's patterns whole. */
bool policy_tenant_allows_service_account(const struct policy_tenant *t, const char *sa);

/* Returns the mode in force for tenant t (NULL: the policy's default mode). */
enum policy_mode policy_mode_for(const struct policy *p, const struct policy_tenant *t);

const char *policy_mode_name(enum policy_mode mode);
const char *policy_tenant_name(const struct policy_tenant *t);
size_t policy_tenant_count(const struct policy *p);

/* Returns a short hex digest of the policy file's content, for logs and metrics. */
const char *policy_digest(const struct policy *p);

#endif
