/* SPDX-License-Identifier: Apache-2.0 */
/* Node fitting: the kube-scheduler's filters that decide which nodes a GPU pod could land on. */
#ifndef GTW_SCHEDULE_H
#define GTW_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "policy/resources.h"

/* Long enough for every reason schedule_pod_fits_node gives, label values included. */
#define SCHEDULE_REASON_MAX 256

/*
 * Returns true when the scheduler could place a pod with spec (its "spec" object) and effective
 * GPU amounts (from resources_for_pod_spec) on node, a Node object as `kubectl get nodes -o json`
 * shows it. The filters are those a GPU pod meets: spec.nodeName, a cordoned node
 * (spec.unschedulable), spec.nodeSelector, required node affinity (terms ORed, expressions
 * ANDed, matchFields on metadata.name), NoSchedule and NoExecute taints against the pod's
 * tolerations, and the node's allocatable (else capacity) amount of each GPU resource. Pods
 * already running are not counted. Otherwise returns false and writes a short reason into why.
 */
bool schedule_pod_fits_node(const cJSON *spec, const struct gpu_amounts *amounts, const cJSON *node,
                            char *why, size_t why_size);

/* Returns the node's metadata.name, borrowed from node, or NULL when it has none. */
const char *schedule_node_name(const cJSON *node);

#endif
