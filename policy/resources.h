/* SPDX-License-Identifier: Apache-2.0 */
/* GPU resources: which resource names are GPUs, and how many of each a pod asks for. */
#ifndef GTW_RESOURCES_H
#define GTW_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "policy/quantity.h"

#define RESOURCES_MAX 16 /* distinct GPU resources one pod may name */
#define RESOURCE_NAME_MAX 128
#define MIG_PROFILE_MAX 64

enum gpu_kind {
    GPU_WHOLE,      /* nvidia.com/gpu */
    GPU_SHARED,     /* nvidia.com/gpu.shared */
    GPU_MIG,        /* nvidia.com/mig-<profile> */
    GPU_MIG_SHARED, /* nvidia.com/mig-<profile>.shared */
};

struct gpu_resource {
    enum gpu_kind kind;
    char name[RESOURCE_NAME_MAX];  /* the full resource name */
    char profile[MIG_PROFILE_MAX]; /* MIG kinds only, e.g. "1g.10gb" */
    int64_t amount;                /* effective amount for the pod, > 0 */
};

struct gpu_amounts {
    struct gpu_resource items[RESOURCES_MAX]; /* sorted by name */
    size_t count;
};

enum resources_result {
    RESOURCES_OK,
    RESOURCES_FRACTIONAL, /* a GPU quantity that is not a whole number */
    RESOURCES_MISMATCH,   /* requests and limits of a GPU resource differ */
    RESOURCES_INVALID,    /* a quantity or structure that cannot be read */
};

/*
 * Classifies a resource name. Returns true for a GPU resource and then stores its kind and,
 * for MIG kinds, its profile (NUL-terminated, cut to profile_size) when profile is not NULL.
 */
bool resources_classify(const char *name, enum gpu_kind *kind, char *profile, size_t profile_size);

/*
 * Computes the effective amount of every GPU resource a pod spec asks for, the way the
 * scheduler does: containers and sidecar init containers (restartPolicy Always) summed, and at
 * least the largest regular init container (plus the sidecars started before it). Limits win
 * over requests; a request without a limit counts. On anything but RESOURCES_OK, why gets a
 * one-line reason naming the container and resource. out is written in every case.
 */
enum resources_result resources_for_pod_spec(const cJSON *spec, struct gpu_amounts *out, char *why,
                                             size_t why_size);

/*
 * Reads one quantity member of a resources list; Kubernetes sends quantities as strings, and a
 * bare JSON number is accepted too. Stores the whole value in *out on QUANTITY_OK only.
 */
enum quantity_result resources_read_quantity(const cJSON *item, int64_t *out);

/* Writes the quantity as the user wrote it into text, for a message. */
void resources_quantity_text(const cJSON *item, char *text, size_t size);

/* Returns the amount of resource name in a, or 0. */
int64_t resources_amount(const struct gpu_amounts *a, const char *name);

#endif
