/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes manifests: YAML or JSON files of objects, read into cJSON with their positions. */
#ifndef GTW_MANIFEST_H
#define GTW_MANIFEST_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "policy/diag.h"

#define MANIFEST_MAX_BYTES ((size_t)128 * 1024 * 1024)
#define MANIFEST_MAX_DEPTH 100
#define MANIFEST_STDIN_NAME "<stdin>"

/* One Kubernetes object of a manifest file. */
struct manifest_object {
    cJSON *object;   /* owned; a JSON object with non-empty string apiVersion and kind */
    size_t index;    /* 0-based position among the file's objects, List items counted */
    unsigned line;   /* 1-based position of the object in the file, or of the List holding */
    unsigned column; /* it when the item's own is unknown; 0 when there is none */
};

struct manifest {
    char *file; /* owned; the name diagnostics use */
    struct manifest_object *items;
    size_t count, cap;
};

/*
 * Reads the manifest file at path, or standard input for "-": JSON (one or more values) when it
 * starts with '{' or '[', else YAML (any number of documents, YAML 1.1 scalars as Kubernetes
 * reads them). Empty documents are skipped; a List (kind List, or FooList with items) gives its
 * items. On success returns 0 and fills out (free it with manifest_clear). Otherwise returns
 * -1, leaves out untouched, and has added each problem to diags as FILE:LINE:COLUMN: message.
 */
int manifest_read_file(const char *path, struct manifest *out, struct diags *diags);

/* Like manifest_read_file, from len bytes of data; name is the file name for diagnostics. */
int manifest_read_buffer(const char *name, const char *data, size_t len, struct manifest *out,
                         struct diags *diags);

/* Frees the objects of m and empties it; a cleared or zeroed manifest may be cleared again. */
void manifest_clear(struct manifest *m);

#endif
