#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""`gpu-tenancy-webhook check` on fixture manifests: verdicts, patches, exit statuses, error
positions, and node lists that must agree with the scheduler simulator of apiserver.py."""

import copy
import json
import os
import subprocess
import sys
import unittest

import jsonpatch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import apiserver  # noqa: E402
from apiserver import container, make_pod  # noqa: E402

POLICY_FILE = apiserver.data_path("policy-it.yaml")
NODES_FILE = apiserver.data_path("nodes.yaml")
CHECK_DIR = apiserver.data_path("check")
NODES = apiserver.load_nodes(NODES_FILE)
NODE_NAMES = [n["metadata"]["name"] for n in NODES]
TENANT_LABEL = "gpu-tenancy.io/tenant"
HAS_GPU = {"key": "has-gpu", "operator": "Exists", "effect": "NoSchedule"}

GPU = "nvidia.com/gpu"
SHARED = "nvidia.com/gpu.shared"
MIG1 = "nvidia.com/mig-1g.10gb"
MIG3 = "nvidia.com/mig-3g.40gb"
MIG1_SHARED = "nvidia.com/mig-1g.10gb.shared"

# Where the pods of each workload kind are described.
TEMPLATES = {
    "Deployment": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def fixture(name):
    return os.path.join(CHECK_DIR, name)


def check(*args, stdin=None, cwd=None, nodes=False, policy=POLICY_FILE):
    """Runs `check --policy POLICY [--nodes NODES] ARGS`; returns (status, stdout, stderr)."""
    argv = [apiserver.binary(), "check"]
    if policy is not None:
        argv += ["--policy", policy]
    if nodes:
        argv += ["--nodes", NODES_FILE]
    proc = subprocess.run(argv + list(args), input=stdin if stdin is not None else "",
                          capture_output=True, text=True, cwd=cwd, timeout=60)
    # The sanitizer build reports leaks and UB on stderr and fails the exit status with them.
    if "Sanitizer" in proc.stderr:
        raise AssertionError(f"sanitizer report from {' '.join(argv + list(args))}:\n"
                             f"{proc.stderr}")
    return proc.returncode, proc.stdout, proc.stderr


def check_json(*args, **kwargs):
    status, out, err = check("--output", "json", *args, **kwargs)
    try:
        report = json.loads(out)
    except ValueError as e:
        raise AssertionError(f"--output json printed no JSON ({e}): {out!r}\nstderr: {err}")
    return status, report, err


def objects_of(text):
    """The objects of a manifest as kubectl reads them: documents, List items, empties skipped."""
    docs = json.loads(text) if text.lstrip().startswith("{") else list(yaml.safe_load_all(text))
    if isinstance(docs, dict):
        docs = [docs]
    out = []
    for doc in docs:
        if not doc:
            continue
        if doc.get("kind", "").endswith("List"):
            single = doc["kind"][:-4]
            for item in doc.get("items") or []:
                item = dict(item)
                if single:
                    item.setdefault("kind", single)
                    item.setdefault("apiVersion", doc["apiVersion"])
                out.append(item)
        else:
            out.append(doc)
    return out


def pod_of(obj, namespace):
    """The pod that is placed for an object: itself, or the pod made from its template."""
    obj = copy.deepcopy(obj)
    if obj["kind"] == "Pod":
        obj.setdefault("metadata", {})["namespace"] = namespace
        return obj
    tmpl = obj
    for key in TEMPLATES[obj["kind"]]:
        tmpl = tmpl[key]
    meta = copy.deepcopy(tmpl.get("metadata") or {})
    meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tmpl["spec"]}


class CheckTest(unittest.TestCase):
    maxDiff = None

    def assert_nodes_agree(self, text, report):
        """For every admitted pod or template of the report, applies its patch with
        python3-jsonpatch and checks that check's node list is the simulator's."""
        objects = objects_of(text)
        self.assertEqual(len(objects), len(report))
        compared = 0
        for obj, entry in zip(objects, report):
            self.assertEqual((entry["kind"], entry["name"]),
                             (obj["kind"], obj["metadata"].get("name") or
                              obj["metadata"].get("generateName")))
            if entry["nodes"] is None:
                continue
            pod = pod_of(obj, entry["namespace"])
            if entry["patch"] is not None:
                pod = jsonpatch.JsonPatch(entry["patch"]).apply(pod)
            want = apiserver.schedulable_nodes(pod, NODES)
            got = {n["name"] for n in entry["nodes"] if n["fits"]}
            self.assertEqual(got, want, f"{entry['kind']} {entry['name']}:\n"
                             f"{apiserver.explain_nodes(pod, NODES)}")
            self.assertEqual([n["name"] for n in entry["nodes"]], NODE_NAMES)
            for n in entry["nodes"]:
                self.assertEqual("reason" in n, not n["fits"], n)
            compared += 1
        return compared

    def check_file_agrees(self, name):
        with open(fixture(name), encoding="utf-8") as f:
            text = f.read()
        status, report, err = check_json(fixture(name), nodes=True)
        self.assertIn(status, (0, 1), err)
        self.assertEqual(err, "")
        return report, self.assert_nodes_agree(text, report)

    # ---- one object per kind ----------------------------------------------------------------

    def test_gpu_pod(self):
        status, out, err = check(fixture("gpu-pod.yaml"), nodes=True)
        self.assertEqual((status, err), (0, ""))
        lines = out.splitlines()
        self.assertEqual(lines[0], "Pod team-excl/train-resnet: allowed")
        self.assertEqual(lines[1], "  patch:")
        ops = [json.loads(line) for line in lines[2:5]]
        self.assertEqual(ops[0], {"op": "add", "path": "/spec/tolerations", "value": [HAS_GPU]})
        self.assertEqual(ops[2], {"op": "add", "path": "/metadata/labels/gpu-tenancy.io~1tenant",
                                  "value": "excl"})
        self.assertEqual(lines[5], "  nodes: a100-exclusive-1, a100-exclusive-2")
        self.assertEqual(len(lines), 6)

    def test_gpu_pod_nodes_agree(self):
        report, compared = self.check_file_agrees("gpu-pod.yaml")
        self.assertEqual(compared, 1)
        entry = report[0]
        self.assertEqual(entry["file"], fixture("gpu-pod.yaml"))
        self.assertEqual((entry["index"], entry["line"]), (0, 3))
        self.assertEqual((entry["allowed"], entry["verdict"], entry["code"], entry["message"]),
                         (True, "allowed", None, None))
        self.assertEqual((entry["tenant"], entry["judged"], entry["pods"], entry["template"]),
                         ("excl", True, None, None))
        reasons = {n["name"]: n.get("reason") for n in entry["nodes"]}
        self.assertEqual(reasons["cpu-1"], "required node affinity: no nvidia.com/gpu.product "
                                           "label (wants one of NVIDIA-A100-SXM4-80GB)")
        self.assertEqual(reasons["a100-timesliced-1"],
                         "required node affinity: nvidia.com/gpu.product is "
                         "\"NVIDIA-A100-SXM4-80GB-SHARED\", not one of NVIDIA-A100-SXM4-80GB")
        self.assertIsNone(reasons["a100-exclusive-2"])

    def test_denied_pod(self):
        status, out, err = check(fixture("denied-pod.yaml"), nodes=True)
        self.assertEqual((status, err), (1, ""))
        self.assertEqual(out.splitlines(), [
            "Pod team-excl/notebook-shared: denied: tenant \"excl\" may not use "
            "nvidia.com/gpu.shared: it needs sharing time-slicing or mps (allowed: exclusive)"])
        status, report, _ = check_json(fixture("denied-pod.yaml"), nodes=True)
        self.assertEqual(status, 1)
        self.assertEqual((report[0]["allowed"], report[0]["verdict"], report[0]["code"]),
                         (False, "denied", 403))
        self.assertIsNone(report[0]["patch"])
        self.assertIsNone(report[0]["nodes"])

    def test_deployment(self):
        status, out, err = check(fixture("deployment.yaml"), nodes=True)
        self.assertEqual((status, err), (0, ""))
        lines = out.splitlines()
        self.assertEqual(lines[0], "Deployment team-ts/llm-serve: allowed")
        self.assertEqual(lines[1], "  patch for the pods of spec.template:")
        # The zone term of the template is narrowed, not joined by a wider one.
        paths = [json.loads(line)["path"] for line in lines[2:-1]]
        self.assertEqual(paths.count(
            "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/"
            "nodeSelectorTerms/0/matchExpressions/-"), 2)
        self.assertEqual(lines[-1], "  nodes: a100-timesliced-1")
        report, compared = self.check_file_agrees("deployment.yaml")
        self.assertEqual(compared, 1)
        self.assertEqual(report[0]["template"], "spec.template")
        self.assertEqual(report[0]["pods"], {"allowed": True, "verdict": "allowed", "code": None,
                                             "message": None})

    def test_cronjob(self):
        status, out, err = check(fixture("cronjob.yaml"), nodes=True)
        self.assertEqual((status, err), (0, ""))
        self.assertIn("  patch for the pods of spec.jobTemplate.spec.template:\n", out)
        self.assertTrue(out.endswith("  nodes: h100-mig-mixed\n"), out)
        report, compared = self.check_file_agrees("cronjob.yaml")
        self.assertEqual((compared, report[0]["tenant"]), (1, "mig"))

    def test_quota_and_user(self):
        status, out, err = check(fixture("quota.yaml"))
        self.assertEqual((status, err), (1, ""))
        self.assertRegex(out,
                         r"^ResourceQuota team-quota/gpus: denied: .*requests\.nvidia\.com/gpu")
        # quotaAdmins are judged by the request's user and groups.
        status, out, err = check("--user", "root", "--group", "system:masters",
                                 "--group", "system:authenticated", fixture("quota.yaml"))
        self.assertEqual((status, out, err), (0, "ResourceQuota team-quota/gpus: allowed\n", ""))
        status, out, _ = check("--user", "system:masters", fixture("quota.yaml"))
        self.assertEqual(status, 1, out)

    # ---- several objects --------------------------------------------------------------------

    def test_list(self):
        status, out, err = check(fixture("list.yaml"), nodes=True)
        self.assertEqual((status, err), (1, ""))
        heads = [line for line in out.splitlines() if not line.startswith(" ")]
        self.assertEqual(heads, [
            "ConfigMap ml-research/eval-config: allowed (not a kind the webhook judges)",
            "Job ml-research/bert-finetune: allowed",
            "Pod ml-research/squatter: denied: pod requests no GPU but tolerates the GPU nodes' "
            "taint has-gpu: only GPU pods may run there"])
        report, compared = self.check_file_agrees("list.yaml")
        self.assertEqual(compared, 1)
        self.assertEqual([e["index"] for e in report], [0, 1, 2])
        self.assertEqual([e["line"] for e in report], [6, 10, 23])
        self.assertEqual([e["judged"] for e in report], [False, True, True])
        self.assertIsNone(report[0]["nodes"])

    def test_multiple_documents(self):
        status, out, err = check(fixture("multi.yaml"), nodes=True)
        self.assertEqual((status, err), (1, ""))
        heads = [line for line in out.splitlines() if not line.startswith(" ")]
        self.assertEqual(heads, [
            "Namespace team-mps: allowed (not a kind the webhook judges)",
            "StatefulSet team-mps/vector-db: allowed",
            "Pod default/web: allowed",
            "Pod default/stray-gpu: denied: namespace \"default\" belongs to no GPU tenant: GPUs "
            "are not given here"])
        self.assertIn("Pod default/web: allowed\n  patch: none\n  nodes: cpu-1, cpu-2\n", out)
        report, compared = self.check_file_agrees("multi.yaml")
        self.assertEqual(compared, 2)
        self.assertEqual([e["line"] for e in report], [4, 11, 30, 39])
        self.assertEqual(report[0]["namespace"], "")

    def test_default_namespace(self):
        status, out, _ = check("-n", "team-ts", fixture("multi.yaml"), nodes=True)
        self.assertEqual(status, 0, out)
        self.assertIn("Pod team-ts/stray-gpu: allowed\n", out)
        self.assertTrue(out.endswith("  nodes: a100-timesliced-1\n"), out)

    def test_json_pod_list(self):
        report, compared = self.check_file_agrees("pods.json")
        self.assertEqual(compared, 1)
        self.assertEqual([(e["kind"], e["name"], e["verdict"]) for e in report],
                         [("Pod", "mig-mixed", "allowed"), ("Pod", "too-many", "denied")])
        self.assertEqual(len(report[0]["warnings"]), 1)
        self.assertIn("replicas", report[0]["warnings"][0])
        # JSON has no positions for List items but the List's own.
        self.assertEqual([e["line"] for e in report], [1, 1])

    def test_stdin(self):
        with open(fixture("gpu-pod.yaml"), encoding="utf-8") as f:
            text = f.read()
        status, out, err = check("-", stdin=text)
        self.assertEqual((status, err), (0, ""))
        self.assertTrue(out.startswith("Pod team-excl/train-resnet: allowed\n"), out)
        status, report, _ = check_json("-", stdin=text)
        self.assertEqual((status, report[0]["file"]), (0, "<stdin>"))
        # Without --nodes there is no placement to report.
        self.assertIsNone(report[0]["nodes"])
        self.assertIsNotNone(report[0]["patch"])

    def test_warn_and_audit_modes(self):
        pods = [make_pod("team-warn", {GPU: "1"}, name="w", service_account="intruder"),
                make_pod("team-audit", {GPU: "1"}, name="a", service_account="intruder")]
        status, report, err = check_json("-", stdin=json.dumps({"apiVersion": "v1",
                                                                "kind": "List", "items": pods}),
                                         nodes=True)
        self.assertEqual((status, err), (0, ""))
        self.assertEqual([e["verdict"] for e in report], ["warned", "audited"])
        self.assertTrue(report[0]["warnings"][0].startswith("service account \"intruder\""))
        self.assertEqual(report[1]["warnings"], [])
        self.assertIn("intruder", report[1]["message"])
        # Both are mutated so that they land where the policy intends.
        for entry in report:
            self.assertEqual({n["name"] for n in entry["nodes"] if n["fits"]},
                             {"a100-exclusive-1", "a100-exclusive-2"})
        status, out, _ = check("-", stdin=json.dumps(pods[0]))
        self.assertTrue(out.startswith("Pod team-warn/w: allowed (warn mode): service account "
                                       "\"intruder\""), out)

    def test_exempt_namespace(self):
        pod = make_pod("kube-system", {GPU: "1"}, name="driver", tolerations=[HAS_GPU])
        status, out, err = check("-", stdin=json.dumps(pod), nodes=True)
        self.assertEqual((status, err), (0, ""))
        lines = out.splitlines()
        self.assertEqual(lines[0], "Pod kube-system/driver: allowed (exempt namespace)")
        # Never mutated, so it may run on any GPU node that has a whole GPU.
        want = apiserver.schedulable_nodes(pod, NODES)
        self.assertEqual(lines[1], "  nodes: " + ", ".join(n for n in NODE_NAMES if n in want))

    # ---- agreement with the simulator over every tenant and resource --------------------------

    def test_nodes_agree_for_every_tenant(self):
        policy = apiserver.load_yaml(POLICY_FILE)
        pods = []
        for tenant in policy["tenants"]:
            ns = tenant["namespaces"][0]
            for resource in (GPU, SHARED, MIG1, MIG3, MIG1_SHARED):
                for amount in ("1", "2"):
                    pods.append(make_pod(ns, {resource: amount},
                                         name=f"{tenant['name']}-{resource[11:]}-{amount}"))
            # The pod's own constraints are kept: a zone in a required term, a nodeSelector.
            pods.append(make_pod(ns, {GPU: "1"}, name=f"{tenant['name']}-zoned", affinity={
                "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "topology.kubernetes.io/zone",
                                               "operator": "In", "values": ["zone-b"]}]},
                        {"matchFields": [{"key": "metadata.name", "operator": "In",
                                          "values": ["h100-mig-single"]}]}]}}}))
            pods.append(make_pod(ns, {MIG1: "1"}, name=f"{tenant['name']}-selected",
                                 node_selector={"topology.kubernetes.io/zone": "zone-a"}))
            pods.append(make_pod(ns, None, name=f"{tenant['name']}-cpu",
                                 containers=[container(limits={"cpu": "1"})]))
            pods.append(make_pod(ns, {GPU: "1"}, name=f"{tenant['name']}-init", init_containers=[
                container("init", limits={GPU: "2"})]))
        text = json.dumps({"apiVersion": "v1", "kind": "List", "items": pods})
        status, report, err = check_json("-", stdin=text, nodes=True)
        self.assertEqual((status, err), (1, ""))
        compared = self.assert_nodes_agree(text, report)
        # Enough pods were admitted for the comparison to mean much.
        self.assertGreater(compared, 30)

    # ---- bad input and exit statuses ---------------------------------------------------------

    def test_resource_claim_template(self):
        claim = ("apiVersion: resource.k8s.io/v1\nkind: ResourceClaimTemplate\n"
                 "metadata: {name: one-gpu, namespace: ml-research}\n"
                 "spec:\n  spec:\n    devices:\n      requests:\n"
                 "        - name: gpu\n          exactly: {deviceClassName: gpu.nvidia.com}\n")
        policy = apiserver.data_path("good-dra-policy.yaml")
        status, report, err = check_json("-", stdin=claim, policy=policy)
        self.assertEqual((status, err), (0, ""))
        self.assertTrue(report[0]["judged"])
        paths = [op["path"] for op in report[0]["patch"]]
        self.assertIn("/spec/spec/devices/requests/0/exactly/selectors", paths)
        status, out, _ = check("-", stdin=claim.replace("ml-research", "nobody"), policy=policy)
        self.assertEqual(status, 1, out)
        self.assertIn("ResourceClaimTemplate nobody/one-gpu: denied", out)

    def test_bad_input_golden_errors(self):
        for name in ("bad-syntax.yaml", "bad-no-kind.yaml", "bad-json.json"):
            with self.subTest(name=name):
                with open(fixture(os.path.splitext(name)[0] + ".err"), encoding="utf-8") as f:
                    want = f.read()
                status, out, err = check(name, cwd=CHECK_DIR)
                self.assertEqual((status, out, err), (2, "", want))

    def test_bad_input_does_not_hide_verdicts(self):
        # The good file is still judged; the exit status says that some input was bad.
        status, out, err = check(fixture("gpu-pod.yaml"), "bad-syntax.yaml", cwd=CHECK_DIR)
        self.assertEqual(status, 2)
        self.assertTrue(out.startswith("Pod team-excl/train-resnet: allowed\n"), out)
        self.assertTrue(err.startswith("bad-syntax.yaml:6:5: "), err)

    def test_unreadable_files(self):
        status, out, err = check("/nonexistent/pod.yaml")
        self.assertEqual((status, out), (2, ""))
        self.assertEqual(err, "/nonexistent/pod.yaml: cannot open: No such file or directory\n")
        status, out, err = check("--nodes", "/nonexistent/nodes.json", fixture("gpu-pod.yaml"))
        self.assertEqual((status, out), (2, ""))
        self.assertIn("/nonexistent/nodes.json: cannot open", err)

    def test_invalid_policy(self):
        data = apiserver.data_dir()
        with open(os.path.join(data, "bad-mode.err"), encoding="utf-8") as f:
            want = f.read()
        status, out, err = check(fixture("gpu-pod.yaml"), policy="bad-mode.yaml", cwd=data)
        self.assertEqual((status, out, err), (2, "", want))

    def test_nodes_file_must_hold_nodes(self):
        status, out, err = check("--nodes", fixture("gpu-pod.yaml"), fixture("gpu-pod.yaml"))
        self.assertEqual((status, out), (2, ""))
        self.assertEqual(err, f"{fixture('gpu-pod.yaml')}:3:1: expected a Node (from `kubectl get "
                              "nodes -o json`), found a Pod\n")
        # A single Node, in JSON, is fine.
        node = json.dumps(NODES[0])
        status, out, err = check("--nodes", "-", fixture("gpu-pod.yaml"), stdin=node)
        self.assertEqual((status, err), (0, ""))
        self.assertTrue(out.endswith("  nodes: a100-exclusive-1\n"), out)

    def test_exit_statuses(self):
        self.assertEqual(check(fixture("gpu-pod.yaml"), fixture("deployment.yaml"))[0], 0)
        self.assertEqual(check(fixture("gpu-pod.yaml"), fixture("denied-pod.yaml"))[0], 1)
        self.assertEqual(check(fixture("denied-pod.yaml"), fixture("bad-json.json"))[0], 2)
        # Nothing to judge is nothing denied.
        self.assertEqual(check("-", stdin="---\n# nothing\n")[:2], (0, ""))

    def test_usage(self):
        status, out, err = check("--help", policy=None)
        self.assertEqual((status, err), (0, ""))
        self.assertTrue(out.startswith("Usage: gpu-tenancy-webhook check --policy FILE"), out)
        for args, message in ((["x.yaml"], "--policy is required"),
                              (["--policy", POLICY_FILE], "no manifest given"),
                              (["--policy", POLICY_FILE, "-o", "xml", "x"],
                               "--output wants text or json, not 'xml'"),
                              (["--policy", POLICY_FILE, "--bogus", "x"], "unknown option --bogus"),
                              (["--policy"], "option --policy needs a value")):
            with self.subTest(args=args):
                status, out, err = check(*args, policy=None)
                self.assertEqual((status, out), (2, ""))
                self.assertTrue(err.startswith(f"gpu-tenancy-webhook check: {message}"), err)
                self.assertIn("\n\nUsage: gpu-tenancy-webhook check", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
