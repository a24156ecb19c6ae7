#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Workload controllers and GPU ResourceQuotas through the real server, as the kube-apiserver
sends them: templates judged like pods at apply time, quotas guarded against being lifted."""

import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import apiserver  # noqa: E402
from apiserver import make_pod  # noqa: E402

POLICY_FILE = apiserver.data_path("policy-it.yaml")
GPU = "nvidia.com/gpu"
HAS_GPU = {"key": "has-gpu", "operator": "Exists", "effect": "NoSchedule"}
QUOTA_KIND = {"group": "", "version": "v1", "kind": "ResourceQuota"}
QUOTA_RESOURCE = {"group": "", "version": "v1", "resource": "resourcequotas"}
USER = {"username": "alice", "uid": "1", "groups": ["system:authenticated"]}
ADMIN = {"username": "root", "uid": "0", "groups": ["system:masters", "system:authenticated"]}

SERVER = None


def setUpModule():
    global SERVER
    SERVER = apiserver.start_shared(POLICY_FILE, "gtw-workloads-")


def tearDownModule():
    apiserver.stop_shared(SERVER)


def template_of(pod):
    """A pod template as controllers carry it: the pod's metadata (less name) and spec."""
    meta = {k: v for k, v in pod["metadata"].items() if k not in ("name", "namespace")}
    return {"metadata": meta, "spec": copy.deepcopy(pod["spec"])}


WORKLOADS = {
    "Deployment": ("apps", "deployments", False),
    "ReplicaSet": ("apps", "replicasets", False),
    "StatefulSet": ("apps", "statefulsets", False),
    "DaemonSet": ("apps", "daemonsets", False),
    "Job": ("batch", "jobs", False),
    "CronJob": ("batch", "cronjobs", True),
}


def workload(kind, namespace, pod, name="train", replicas=1):
    group, _, cron = WORKLOADS[kind]
    spec = {"template": template_of(pod)}
    if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        spec["replicas"] = replicas
        spec["selector"] = {"matchLabels": {"app": name}}
    if cron:
        spec = {"schedule": "0 3 * * *", "jobTemplate": {"spec": spec}}
    return {"apiVersion": f"{group}/v1", "kind": kind,
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def quota(namespace, hard, name="gpus"):
    return {"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"hard": hard}}


class Base(unittest.TestCase):
    def setUp(self):
        self.client = apiserver.Client(SERVER.port, SERVER.certs.ca)

    def tearDown(self):
        self.client.close()

    def review(self, endpoint, obj, **kwargs):
        return self.client.review(endpoint, obj, **kwargs).answer["response"]

    def assertDenied(self, response, *fragments, code=403):
        self.assertFalse(response["allowed"], response)
        self.assertEqual(response["status"]["code"], code, response)
        for f in fragments:
            self.assertIn(f, response["status"]["message"])


class Workloads(Base):
    def send(self, kind, obj, operation="CREATE", old=None, endpoint="/validate"):
        group, resource, _ = WORKLOADS[kind]
        return self.review(endpoint, obj, operation=operation, old=old,
                           kind={"group": group, "version": "v1", "kind": kind},
                           resource={"group": group, "version": "v1", "resource": resource})

    def test_every_kind_says_what_the_pod_would_be_told(self):
        pod = make_pod("team-excl", {GPU: "1"}, service_account="xtrainer-1")
        told = self.review("/validate", pod)
        self.assertFalse(told["allowed"])
        for kind in WORKLOADS:
            with self.subTest(kind=kind):
                r = self.send(kind, workload(kind, "team-excl", pod))
                self.assertDenied(r, f'{kind} "train": ', told["status"]["message"])

    def test_allowed_template_is_neither_denied_nor_patched(self):
        pod = make_pod("team-excl", {GPU: "2"})
        for kind in WORKLOADS:
            with self.subTest(kind=kind):
                obj = workload(kind, "team-excl", pod)
                self.assertTrue(self.send(kind, obj)["allowed"])
                m = self.send(kind, obj, endpoint="/mutate")
                self.assertTrue(m["allowed"])
                self.assertNotIn("patch", m)

    def test_template_rules(self):
        cases = [
            ("default", {GPU: "1"}, {}, "belongs to no GPU tenant"),
            ("team-excl", {GPU: "5"}, {}, "allows at most 4 per pod"),
            ("team-excl", {GPU: "500m"}, {}, "time-slicing or MIG"),
            ("team-excl", {"nvidia.com/gpu.shared": "1"}, {}, "may not use nvidia.com/gpu.shared"),
            ("team-mig", {"nvidia.com/mig-3g.40gb": "1"}, {}, "MIG profile 3g.40gb"),
            ("team-quota", {"nvidia.com/mig-3g.40gb": "1"}, {}, "quota of 0"),
            ("team-excl", {GPU: "1"}, {"node_name": "n1"}, "spec.nodeName is set"),
            ("team-excl", {GPU: "1"},
             {"node_selector": {"nvidia.com/gpu.product": "Tesla-V100-SXM2-16GB"}},
             'pins nvidia.com/gpu.product to "Tesla-V100-SXM2-16GB"'),
            ("team-excl", None, {"tolerations": [HAS_GPU]}, "requests no GPU but tolerates"),
        ]
        for ns, gpus, extra, fragment in cases:
            with self.subTest(ns=ns, gpus=gpus, extra=extra):
                pod = make_pod(ns, gpus, **extra)
                self.assertDenied(self.send("Deployment", workload("Deployment", ns, pod)),
                                  'Deployment "train": ', fragment)

    def test_template_without_gpus_is_untouched(self):
        pod = make_pod("default", None)
        self.assertTrue(self.send("Job", workload("Job", "default", pod))["allowed"])

    def test_update_of_template_is_judged(self):
        old = workload("Deployment", "team-excl", make_pod("team-excl", {GPU: "1"}))
        new = workload("Deployment", "team-excl", make_pod("team-excl", {GPU: "9"}))
        self.assertDenied(self.send("Deployment", new, operation="UPDATE", old=old),
                          "allows at most 4 per pod")

    def test_scaling_a_now_refused_workload_is_allowed(self):
        bad = workload("Deployment", "team-excl", make_pod("team-excl", {GPU: "9"}), replicas=5)
        scaled = copy.deepcopy(bad)
        scaled["spec"]["replicas"] = 0
        scaled["metadata"]["labels"] = {"scaled": "down"}
        self.assertTrue(self.send("Deployment", scaled, operation="UPDATE", old=bad)["allowed"])

    def test_warn_and_audit_modes(self):
        pod = make_pod("team-warn", {GPU: "9"})
        r = self.send("StatefulSet", workload("StatefulSet", "team-warn", pod))
        self.assertTrue(r["allowed"])
        self.assertEqual(len(r["warnings"]), 1)
        self.assertTrue(r["warnings"][0].startswith('StatefulSet "train": pod asks for 9'))
        pod = make_pod("team-audit", {GPU: "9"})
        r = self.send("Job", workload("Job", "team-audit", pod, name="audited-job"))
        self.assertTrue(r["allowed"])
        self.assertFalse(r.get("warnings"))
        SERVER.wait_for_stderr(lambda text: "audited-job" in text and "allows at most 4" in text)

    def test_delete_is_allowed(self):
        obj = workload("Deployment", "team-excl", make_pod("team-excl", {GPU: "9"}))
        self.assertTrue(self.send("Deployment", None, operation="DELETE", old=obj)["allowed"])


class Quotas(Base):
    def send(self, obj, operation="CREATE", old=None, user=USER, dry_run=False):
        review = apiserver.review_request(obj, operation=operation, old=old, kind=QUOTA_KIND,
                                          resource=QUOTA_RESOURCE, user=user)
        review["request"]["dryRun"] = dry_run
        return self.client.send_review("/validate", review).answer["response"]

    def test_within_the_ceiling(self):
        r = self.send(quota("ml-research", {"requests.nvidia.com/gpu": "8", "requests.cpu": "64"}))
        self.assertTrue(r["allowed"], r)
        self.assertFalse(r.get("warnings"))

    def test_above_the_ceiling_names_resource_value_and_ceiling(self):
        r = self.send(quota("ml-research", {"requests.nvidia.com/gpu": "9"}))
        self.assertDenied(r, "requests.nvidia.com/gpu", "to 9", "ceiling of 8")

    def test_unlisted_resource_has_ceiling_zero(self):
        r = self.send(quota("team-quota", {"requests.nvidia.com/mig-3g.40gb": "1"}))
        self.assertDenied(r, "requests.nvidia.com/mig-3g.40gb", "ceiling of 0")
        r = self.send(quota("team-quota", {"requests.nvidia.com/mig-3g.40gb": "0"}))
        self.assertTrue(r["allowed"], r)

    def test_keys_kubernetes_ignores_are_warned(self):
        r = self.send(quota("ml-research", {"limits.nvidia.com/gpu": "99", "nvidia.com/gpu": "99"}))
        self.assertTrue(r["allowed"], r)
        self.assertEqual(len(r["warnings"]), 2)
        for w in r["warnings"]:
            self.assertIn("use requests.nvidia.com/gpu", w)
            self.assertLessEqual(len(w.encode()), 120)

    def test_no_gpus_outside_tenants(self):
        self.assertDenied(self.send(quota("default", {"requests.nvidia.com/gpu": "1"})),
                          'namespace "default" belongs to no GPU tenant')
        self.assertTrue(self.send(quota("default", {"requests.nvidia.com/gpu": "0"}))["allowed"])
        self.assertTrue(self.send(quota("default", {"requests.cpu": "10"}))["allowed"])

    def test_exempt_namespace(self):
        self.assertTrue(self.send(quota("kube-system", {"requests.nvidia.com/gpu": "64"}))["allowed"])

    def test_delete_arrives_with_the_quota_in_old_object(self):
        old = quota("ml-research", {"requests.nvidia.com/gpu": "8"})
        self.assertDenied(self.send(None, operation="DELETE", old=old), "would lift")
        self.assertTrue(self.send(None, operation="DELETE", old=old, user=ADMIN)["allowed"])
        cpu_only = quota("ml-research", {"requests.cpu": "8"})
        self.assertTrue(self.send(None, operation="DELETE", old=cpu_only)["allowed"])

    def test_update_that_drops_or_raises_the_entry(self):
        old = quota("ml-research", {"requests.nvidia.com/gpu": "8"})
        self.assertDenied(self.send(quota("ml-research", {"requests.cpu": "8"}),
                                    operation="UPDATE", old=old), "removes requests.nvidia.com/gpu")
        self.assertDenied(self.send(quota("ml-research", {"requests.nvidia.com/gpu": "16"}),
                                    operation="UPDATE", old=old), "ceiling of 8")
        lower = quota("ml-research", {"requests.nvidia.com/gpu": "4"})
        self.assertTrue(self.send(lower, operation="UPDATE", old=old)["allowed"])

    def test_quota_admins_may_do_anything(self):
        r = self.send(quota("ml-research", {"requests.nvidia.com/gpu": "64"}), user=ADMIN)
        self.assertTrue(r["allowed"], r)

    def test_dry_run_is_judged_the_same(self):
        r = self.send(quota("ml-research", {"requests.nvidia.com/gpu": "9"}), dry_run=True)
        self.assertDenied(r, "ceiling of 8")


if __name__ == "__main__":
    unittest.main(verbosity=2)
