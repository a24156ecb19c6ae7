#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpus of fuzz_review: AdmissionReviews as the kube-apiserver sends them.

The reviews come from the integration tests' own helpers (tests/webhook/apiserver.py) and cover
what tests/data/policy-it.yaml decides: GPU pods of every sharing shape and mode, denials,
workloads, ResourceQuotas, pod updates and deletes, and a few bodies that are no review at all.
Run it again after changing the helpers or the policy; it rewrites corpus/fuzz_review/.
"""

import copy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "webhook"))

import apiserver  # noqa: E402
from apiserver import container, make_pod, review_request  # noqa: E402

OUT = os.path.join(HERE, "corpus", "fuzz_review")
GPU, SHARED = "nvidia.com/gpu", "nvidia.com/gpu.shared"
HAS_GPU = {"key": "has-gpu", "operator": "Exists", "effect": "NoSchedule"}
PRODUCT = "nvidia.com/gpu.product"
USER = {"username": "alice", "uid": "1", "groups": ["system:authenticated"]}
ADMIN = {"username": "root", "uid": "0", "groups": ["system:masters", "system:authenticated"]}
QUOTA_KIND = {"group": "", "version": "v1", "kind": "ResourceQuota"}
QUOTA_RESOURCE = {"group": "", "version": "v1", "resource": "resourcequotas"}


def term(*exprs, fields=None):
    t = {"matchExpressions": [{"key": k, "operator": op, "values": v} for k, op, v in exprs]}
    if fields is not None:
        t["matchFields"] = fields
    return t


def required(*terms):
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}}


def workload(kind, group, namespace, pod, cron=False):
    meta = {k: v for k, v in pod["metadata"].items() if k not in ("name", "namespace")}
    spec = {"template": {"metadata": meta, "spec": copy.deepcopy(pod["spec"])}}
    if not cron:
        spec["replicas"] = 2
        spec["selector"] = {"matchLabels": {"app": "train"}}
    else:
        spec = {"schedule": "0 3 * * *", "jobTemplate": {"spec": spec}}
    obj = {"apiVersion": f"{group}/v1", "kind": kind,
           "metadata": {"name": "train", "namespace": namespace}, "spec": spec}
    return obj, {"group": group, "version": "v1", "kind": kind}


def quota(namespace, hard):
    return {"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": "gpus", "namespace": namespace}, "spec": {"hard": hard}}


def fixture_pod(name):
    return apiserver.load_yaml(os.path.join(apiserver.data_dir(), "pods", name))


def reviews():
    """Yields (file name, body bytes) pairs."""

    def review(name, obj, **kwargs):
        kwargs.setdefault("uid", "705ab4f5-6393-11e8-b7cc-42010a800002")
        body = review_request(obj, **kwargs)
        return name, json.dumps(body, separators=(",", ":")).encode()

    # GPU pods admitted and patched, one per sharing shape.
    yield review("pod-excl-gpu", make_pod("team-excl", {GPU: "1"}))
    yield review("pod-ts-gpu-replicas", make_pod("team-ts", {GPU: "2"}, service_account="x"))
    yield review("pod-ts-shared", make_pod("team-ts", {SHARED: "1"}, tolerations=None))
    yield review("pod-mps-gpu", make_pod("team-mps", {GPU: "1"}))
    yield review("pod-tsmps-shared", make_pod("team-tsmps", {SHARED: "3"}))
    yield review("pod-mig-profile", make_pod("team-mig", {"nvidia.com/mig-1g.10gb": "1"}))
    yield review("pod-mig-gpu", make_pod("team-mig", {GPU: "1"}))
    yield review("pod-migts-shared-profile",
                 make_pod("team-migts", {"nvidia.com/mig-3g.40gb.shared": "1"}))
    yield review("pod-research-mixture",
                 make_pod("ml-research", {GPU: "1", "nvidia.com/mig-1g.10gb": "2"},
                          service_account="notebook"))
    yield review("pod-quota-unlisted-profile",
                 make_pod("team-quota", {"nvidia.com/mig-3g.40gb": "1"}))
    yield review("pod-job-trainer", fixture_pod("job-trainer.yaml"))
    yield review("pod-inference-sidecar", fixture_pod("inference-shared.yaml"))
    yield review("pod-init-and-sidecar", make_pod(
        "team-excl", containers=[container(limits={GPU: "1"})],
        init_containers=[container("init", limits={GPU: "2"}),
                         container("side", limits={GPU: "1"}, restart_policy="Always")]))
    yield review("pod-generate-name-no-labels",
                 make_pod("team-excl", {GPU: "1"}, generate_name=True))

    # Merging into what the pod already has.
    yield review("pod-existing-terms", make_pod("ml-research", {GPU: "1"}, affinity={
        **required(term(("zone", "In", ["a"])), term(fields=[
            {"key": "metadata.name", "operator": "In", "values": ["n1"]}]),
            {"matchExpressions": []}),
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}))
    yield review("pod-terms-already-placed", make_pod("team-excl", {GPU: "1"}, affinity=required(
        term((PRODUCT, "In", ["NVIDIA-A100-SXM4-80GB"]),
             ("nvidia.com/gpu.sharing-strategy", "In", ["none"])))))
    yield review("pod-forged-tenant-label", make_pod(
        "team-excl", {GPU: "1"}, labels={"gpu-tenancy.io/tenant": "research", "app": "x"},
        tolerations=[HAS_GPU]))
    yield review("pod-tolerates-everything", make_pod(
        "team-excl", {GPU: "1"}, tolerations=[{"operator": "Exists"}]))

    # Denials, and the same violation in warn and audit modes.
    yield review("pod-excl-wrong-sa", make_pod("team-excl", {GPU: "1"}, service_account="xtrainer"))
    yield review("pod-warn-wrong-sa", make_pod("team-warn", {GPU: "1"}, service_account="bob"))
    yield review("pod-audit-over-cap", make_pod("team-audit", {GPU: "8"}))
    yield review("pod-excl-over-cap", make_pod("team-excl", {GPU: "5"}))
    yield review("pod-fractional", make_pod("team-excl", {GPU: "0.5"}))
    yield review("pod-milli", make_pod("team-excl", {GPU: "500m"}))
    yield review("pod-requests-differ", make_pod("team-excl", containers=[
        container(limits={GPU: "2"}, requests={GPU: "1"})]))
    yield review("pod-shared-for-exclusive", make_pod("team-excl", {SHARED: "1"}))
    yield review("pod-pinned-product", make_pod(
        "team-excl", {GPU: "1"}, node_selector={PRODUCT: "NVIDIA-H100-80GB-HBM3"}))
    yield review("pod-affinity-pinned-product", make_pod("team-excl", {GPU: "1"}, affinity=required(
        term((PRODUCT, "In", ["Tesla-T4"])))))
    yield review("pod-node-name", make_pod("team-excl", {GPU: "1"}, node_name="gpu-1"))
    yield review("pod-no-tenant", make_pod("default", {GPU: "1"}))
    yield review("pod-exempt", make_pod("kube-system", {GPU: "4"}, service_account=None))
    yield review("pod-no-gpu-tolerates-taint", make_pod("default", tolerations=[HAS_GPU]))
    yield review("pod-no-gpu", make_pod("team-excl"))

    # Pods after creation.
    old = make_pod("team-excl")
    new = make_pod("team-excl", tolerations=[HAS_GPU])
    yield review("pod-update-adds-toleration", new, operation="UPDATE", old=old)
    yield review("pod-update-labels", make_pod("team-excl", {GPU: "1"}, labels={"a": "b"}),
                 operation="UPDATE", old=make_pod("team-excl", {GPU: "1"}))
    yield review("pod-delete", None, operation="DELETE", old=make_pod("team-excl", {GPU: "1"}))
    status = review_request(make_pod("team-excl", {GPU: "1"}), operation="UPDATE",
                            old=make_pod("team-excl", {GPU: "1"}), uid="u-status")
    status["request"]["subResource"] = "status"
    yield "pod-status-subresource", json.dumps(status, separators=(",", ":")).encode()

    # Workloads: templates judged like pods.
    ok = make_pod("team-excl", {GPU: "2"})
    bad = make_pod("team-excl", {GPU: "1"}, service_account="xtrainer-1")
    for kind, group, cron, pod in (("Deployment", "apps", False, ok),
                                   ("StatefulSet", "apps", False, bad),
                                   ("CronJob", "batch", True, bad)):
        obj, k = workload(kind, group, "team-excl", pod, cron)
        yield review(f"workload-{kind.lower()}", obj, kind=k,
                     resource={"group": group, "version": "v1",
                               "resource": kind.lower() + "s"})
    obj, k = workload("Job", "batch", "team-warn", bad)
    scaled = copy.deepcopy(obj)
    scaled["spec"]["parallelism"] = 4
    yield review("workload-job-update", scaled, kind=k, operation="UPDATE", old=obj,
                 resource={"group": "batch", "version": "v1", "resource": "jobs"})

    # ResourceQuotas.
    def send_quota(name, obj, operation="CREATE", old=None, user=USER):
        return review(name, obj, operation=operation, old=old, kind=QUOTA_KIND,
                      resource=QUOTA_RESOURCE, user=user)

    yield send_quota("quota-within", quota("ml-research", {"requests.nvidia.com/gpu": "8",
                                                           "requests.cpu": "64"}))
    yield send_quota("quota-above", quota("ml-research", {"requests.nvidia.com/gpu": 9}))
    yield send_quota("quota-ignored-keys", quota("ml-research", {"limits.nvidia.com/gpu": "99",
                                                                 "nvidia.com/gpu": "99"}))
    yield send_quota("quota-no-tenant", quota("default", {"requests.nvidia.com/gpu": "1"}))
    yield send_quota("quota-bad-number", quota("team-quota",
                                               {"requests.nvidia.com/mig-1g.10gb": "1.5"}))
    held = quota("ml-research", {"requests.nvidia.com/gpu": "8"})
    yield send_quota("quota-update-drops", quota("ml-research", {"requests.cpu": "8"}),
                     operation="UPDATE", old=held)
    yield send_quota("quota-delete", None, operation="DELETE", old=held)
    yield send_quota("quota-delete-admin", None, operation="DELETE", old=held, user=ADMIN)

    # Bodies that are no admission review, answered with HTTP 400.
    good = review_request(make_pod("team-excl", {GPU: "1"}), uid="u-1")
    no_uid = copy.deepcopy(good)
    del no_uid["request"]["uid"]
    yield "bad-no-uid", json.dumps(no_uid).encode()
    wrong = copy.deepcopy(good)
    wrong["apiVersion"] = "admission.k8s.io/v1beta1"
    yield "bad-v1beta1", json.dumps(wrong).encode()
    yield "bad-truncated", json.dumps(good).encode()[:300]
    yield "bad-array", b"[{\"kind\":\"AdmissionReview\"}]"
    no_object = copy.deepcopy(good)
    del no_object["request"]["object"]
    yield "bad-no-object", json.dumps(no_object).encode()
    no_kind = copy.deepcopy(good)
    del no_kind["request"]["kind"]
    yield "bad-no-kind", json.dumps(no_kind).encode()


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.endswith(".json"):
            os.unlink(os.path.join(OUT, old))
    count = 0
    for name, body in reviews():
        with open(os.path.join(OUT, name + ".json"), "wb") as f:
            f.write(body)
        count += 1
    print(f"wrote {count} reviews to {OUT}")


if __name__ == "__main__":
    main()
