#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The device selectors the webhook writes, compiled and evaluated by a CEL implementation this
project did not write (Buf's @bufbuild/cel, fetched by scripts/fetch-cel), against the device
attributes NVIDIA's DRA driver publishes for an A100, an H100 and MIG devices of two profiles:
each tenant's selector, ANDed with its device class's own selector as the scheduler does, must
admit exactly that tenant's devices.

The selectors come from the real server: each claim goes through /mutate and its patch is
applied with python3-jsonpatch.

Environment: GTW_BINARY, GTW_TEST_DATA as for the other integration tests; GTW_CEL_DIR (a
folder with node_modules/@bufbuild/cel) instead of the one scripts/fetch-cel provides.
"""

import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "webhook"))

import apiserver  # noqa: E402

POLICY_FILE = apiserver.data_path("good-dra-policy.yaml")
CLAIM_KIND = {"group": "resource.k8s.io", "version": "v1", "kind": "ResourceClaim"}
CLAIM_RESOURCE = {"group": "resource.k8s.io", "version": "v1", "resource": "resourceclaims"}
USER = {"username": "alice", "uid": "1", "groups": ["system:authenticated"]}
DOMAIN = "gpu.nvidia.com"

# The selectors of the DeviceClasses NVIDIA's chart installs (deployments/helm/.../templates).
CLASS_SELECTORS = {
    "gpu.nvidia.com": "device.driver == 'gpu.nvidia.com' && "
                      "device.attributes['gpu.nvidia.com'].type == 'gpu'",
    "mig.nvidia.com": "device.driver == 'gpu.nvidia.com' && "
                      "device.attributes['gpu.nvidia.com'].type == 'mig'",
}


def gpu(product, arch, uuid, index):
    """A whole GPU as the driver publishes it (cmd/gpu-kubelet-plugin/deviceinfo.go)."""
    return {"driver": DOMAIN, "attributes": {DOMAIN: {
        "type": "gpu", "uuid": uuid, "productName": product, "brand": "Nvidia",
        "architecture": arch, "index": index, "cudaComputeCapability": "9.0.0",
        "driverVersion": "570.124.6", "cudaDriverVersion": "12.8.0"}}}


def mig(parent, profile, uuid):
    """A MIG device: its parent's productName, brand and architecture, and its profile
    (cmd/gpu-kubelet-plugin/mig.go CommonAttributesMig)."""
    a = parent["attributes"][DOMAIN]
    return {"driver": DOMAIN, "attributes": {DOMAIN: {
        "type": "mig", "uuid": uuid, "parentUUID": a["uuid"], "profile": profile,
        "productName": a["productName"], "brand": a["brand"], "architecture": a["architecture"],
        "cudaComputeCapability": "9.0.0", "driverVersion": "570.124.6",
        "cudaDriverVersion": "12.8.0"}}}


# NVML names: GPU Feature Discovery's product label is the same with each space made '-', so
# the H100's (with spaces) is the case that needs the replacement.
A100 = gpu("NVIDIA A100-SXM4-80GB", "Ampere", "GPU-5a1f2b3c-0000-4000-8000-000000000001", 0)
A100_40 = gpu("NVIDIA A100-SXM4-40GB", "Ampere", "GPU-5a1f2b3c-0000-4000-8000-000000000002", 1)
H100 = gpu("NVIDIA H100 80GB HBM3", "Hopper", "GPU-5a1f2b3c-0000-4000-8000-000000000003", 2)
DEVICES = {
    "a100-80gb": A100,
    "a100-40gb": A100_40,
    "h100": H100,
    "h100-mig-1g.10gb": mig(H100, "1g.10gb", "MIG-0d6c3a51-0000-4000-8000-000000000001"),
    "h100-mig-3g.40gb": mig(H100, "3g.40gb", "MIG-0d6c3a51-0000-4000-8000-000000000002"),
    "a100-mig-1g.10gb": mig(A100, "1g.10gb", "MIG-0d6c3a51-0000-4000-8000-000000000003"),
    "a100-mig-2g.20gb": mig(A100, "2g.20gb", "MIG-0d6c3a51-0000-4000-8000-000000000004"),
    "a100-40gb-mig-1g.10gb": mig(A100_40, "1g.10gb", "MIG-0d6c3a51-0000-4000-8000-000000000005"),
    # Another driver's device: the GPU domain is empty for it, as in Kubernetes.
    "nic": {"driver": "sriov.example.com",
            "attributes": {"sriov.example.com": {"pfName": "eth0", "numa": 0}}},
    # A device of the GPU driver without the attributes the selectors read.
    "bare": {"driver": DOMAIN, "attributes": {DOMAIN: {"type": "gpu"}}},
}

# What each tenant of good-dra-policy.yaml may get through each class: exactly these devices.
EXPECTED = {
    ("research", "gpu.nvidia.com"): {"a100-80gb", "h100"},
    ("research", "mig.nvidia.com"): {"h100-mig-1g.10gb", "h100-mig-3g.40gb", "a100-mig-1g.10gb"},
    ("inference", "gpu.nvidia.com"): {"h100"},
    ("mig", "mig.nvidia.com"): {"h100-mig-1g.10gb"},
    ("monitoring", "gpu.nvidia.com"): {"a100-80gb"},
}
NAMESPACES = {"research": "ml-research", "inference": "inference", "mig": "team-mig",
              "monitoring": "gpu-monitoring"}
CONFIGS = {
    # The inference tenant has no whole GPUs: its claims say how they are shared.
    "inference": [{"opaque": {"driver": DOMAIN, "parameters": {
        "apiVersion": "resource.nvidia.com/v1beta1", "kind": "GpuConfig",
        "sharing": {"strategy": "TimeSlicing", "timeSlicingConfig": {"interval": "Short"}}}}}],
}

SERVER = None
CEL_DIR = None


def cel_dir():
    if os.environ.get("GTW_CEL_DIR"):
        return os.environ["GTW_CEL_DIR"]
    r = subprocess.run([os.path.join(ROOT, "scripts", "fetch-cel")], capture_output=True,
                       text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise RuntimeError("cannot get a CEL implementation through scripts/fetch-cel")
    return r.stdout.strip().splitlines()[-1]


def setUpModule():
    global SERVER, CEL_DIR
    CEL_DIR = cel_dir()
    SERVER = apiserver.start_shared(POLICY_FILE, "gtw-cel-")


def tearDownModule():
    apiserver.stop_shared(SERVER)


def evaluate(selectors, devices=None):
    """Returns {selectors name: {device name: True, False or "error: ..."}}."""
    payload = {"domains": [DOMAIN], "selectors": selectors, "devices": devices or DEVICES}
    r = subprocess.run(["node", os.path.join(HERE, "cel_eval.mjs"), CEL_DIR],
                       input=json.dumps(payload), capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"cel_eval.mjs failed ({r.returncode}):\n{r.stderr}")
    return json.loads(r.stdout)


class Selectors(unittest.TestCase, metaclass=apiserver.TranscriptMeta):
    def setUp(self):
        self.client = apiserver.Client(SERVER.port, SERVER.certs.ca)

    def tearDown(self):
        self.client.close()

    def mutated_request(self, namespace, device_class, user_selectors=()):
        """Admits a claim with one request of device_class as the apiserver would, and returns
        the request's selectors after the patch."""
        body = {"deviceClassName": device_class}
        if user_selectors:
            body["selectors"] = [{"cel": {"expression": e}} for e in user_selectors]
        tenant = [t for t, ns in NAMESPACES.items() if ns == namespace][0]
        devs = {"requests": [{"name": "gpu", "exactly": body}]}
        if tenant in CONFIGS:
            devs["config"] = CONFIGS[tenant]
        obj = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
               "metadata": {"name": "c", "namespace": namespace}, "spec": {"devices": devs}}
        final, _, _ = self.client.admit(obj, kind=CLAIM_KIND, resource=CLAIM_RESOURCE, user=USER)
        sel = final["spec"]["devices"]["requests"][0]["exactly"]["selectors"]
        return [s["cel"]["expression"] for s in sel]

    def test_each_tenant_gets_exactly_its_devices(self):
        selectors = {}
        for (tenant, cls) in EXPECTED:
            written = self.mutated_request(NAMESPACES[tenant], cls)
            self.assertEqual(len(written), 1)
            selectors[f"{tenant} {cls}"] = [CLASS_SELECTORS[cls]] + written
        results = evaluate(selectors)
        for (tenant, cls), want in EXPECTED.items():
            got = results[f"{tenant} {cls}"]
            with self.subTest(tenant=tenant, device_class=cls):
                errors = {d: v for d, v in got.items() if v not in (True, False)}
                self.assertEqual(errors, {}, "selectors must evaluate to a bool on every device")
                self.assertEqual({d for d, v in got.items() if v is True}, want)

    def test_the_selector_alone_never_errs(self):
        # Without the class's selector in front: devices of other drivers, and devices that lack
        # productName or profile, give false, not an evaluation error.
        selectors = {}
        for (tenant, cls) in EXPECTED:
            selectors[f"{tenant} {cls}"] = self.mutated_request(NAMESPACES[tenant], cls)
        results = evaluate(selectors)
        for name, got in results.items():
            with self.subTest(selectors=name):
                self.assertEqual({d: v for d, v in got.items() if v not in (True, False)}, {})
                self.assertIs(got["nic"], False)
                self.assertIs(got["bare"], False)
        # The guard matters: reading a missing attribute is an error in CEL, not false.
        unguarded = evaluate({"unguarded": [
            "device.attributes['gpu.nvidia.com'].productName == 'x'"]})["unguarded"]
        self.assertTrue(str(unguarded["bare"]).startswith("error:"), unguarded["bare"])
        self.assertTrue(str(unguarded["nic"]).startswith("error:"), unguarded["nic"])

    def test_the_users_selectors_only_narrow(self):
        # NVIDIA's gpu-test4 asks for MIG devices by profile; ANDed with the tenant's selector a
        # profile the tenant has is found, and one it does not have finds nothing.
        profile = "device.attributes['gpu.nvidia.com'].profile == '%s'"
        sel = {
            "research 1g.10gb": [CLASS_SELECTORS["mig.nvidia.com"]] + self.mutated_request(
                "ml-research", "mig.nvidia.com", [profile % "1g.10gb"]),
            "research 2g.20gb": [CLASS_SELECTORS["mig.nvidia.com"]] + self.mutated_request(
                "ml-research", "mig.nvidia.com", [profile % "2g.20gb"]),
            # gpu-test6's own product filter: only the A100 of the tenant's two products.
            "research a100 only": [CLASS_SELECTORS["gpu.nvidia.com"]] + self.mutated_request(
                "ml-research", "gpu.nvidia.com",
                ["device.attributes['gpu.nvidia.com'].productName.lowerAscii()"
                 ".matches('^.*a100.*$')"]),
        }
        results = evaluate(sel)
        admitted = {k: {d for d, v in got.items() if v is True} for k, got in results.items()}
        self.assertEqual(admitted["research 1g.10gb"], {"h100-mig-1g.10gb", "a100-mig-1g.10gb"})
        self.assertEqual(admitted["research 2g.20gb"], set())
        self.assertEqual(admitted["research a100 only"], {"a100-80gb"})

    def test_a_selector_that_does_not_compile_is_reported(self):
        # The harness itself: a broken expression is an error, never a silent false.
        got = evaluate({"broken": ["device.attributes['gpu.nvidia.com'].productName in ["]})
        self.assertTrue(all(str(v).startswith("error:") for v in got["broken"].values()))


if __name__ == "__main__":
    unittest.main(verbosity=2)
