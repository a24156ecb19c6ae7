#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""GPUs through Dynamic Resource Allocation, through the real server as the kube-apiserver sends
them: ResourceClaims and ResourceClaimTemplates in the shapes of NVIDIA's demo specs, pinned to
the tenant's devices by /mutate (patches applied with python3-jsonpatch, a second /mutate adds
nothing) and judged by /validate; pods that use claims; DRA ResourceQuota keys; DeviceClasses."""

import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import apiserver  # noqa: E402
from apiserver import make_pod  # noqa: E402

POLICY_FILE = apiserver.data_path("good-dra-policy.yaml")
TENANT_LABEL = "gpu-tenancy.io/tenant"
HAS_GPU = {"key": "has-gpu", "operator": "Exists", "effect": "NoSchedule"}
NV = "resource.nvidia.com/v1beta1"


def kind(name, resource, group="resource.k8s.io"):
    return ({"group": group, "version": "v1", "kind": name},
            {"group": group, "version": "v1", "resource": resource})


CLAIM = kind("ResourceClaim", "resourceclaims")
TEMPLATE = kind("ResourceClaimTemplate", "resourceclaimtemplates")
DEVICE_CLASS = kind("DeviceClass", "deviceclasses")
QUOTA = kind("ResourceQuota", "resourcequotas", group="")
USER = {"username": "alice", "uid": "1", "groups": ["system:authenticated"]}
CLAIM_CONTROLLER = {"username": "system:serviceaccount:kube-system:resource-claim-controller",
                    "uid": "2", "groups": ["system:serviceaccounts", "system:authenticated"]}
SCHEDULER = {"username": "system:kube-scheduler", "uid": "3", "groups": ["system:authenticated"]}

SERVER = None


def setUpModule():
    global SERVER
    SERVER = apiserver.start_shared(POLICY_FILE, "gtw-dra-")


def tearDownModule():
    apiserver.stop_shared(SERVER)


# ---------------------------------------------------------------------------------------------
# Objects, as NVIDIA's demo specs (demo/specs/quickstart/v1) write them
# ---------------------------------------------------------------------------------------------


def exactly(name, device_class, **fields):
    return {"name": name, "exactly": {"deviceClassName": device_class, **fields}}


def gpu_config(requests, sharing=None, config_kind="GpuConfig", driver="gpu.nvidia.com",
               **params):
    parameters = {"apiVersion": NV, "kind": config_kind, **params}
    if sharing is not None:
        parameters["sharing"] = sharing
    out = {"opaque": {"driver": driver, "parameters": parameters}}
    if requests is not None:
        out["requests"] = requests
    return out


def devices(requests, config=None, constraints=None):
    out = {"requests": requests}
    if config:
        out["config"] = config
    if constraints:
        out["constraints"] = constraints
    return out


def claim(namespace, name, devs, annotations=None, labels=None):
    meta = {"name": name, "namespace": namespace, "uid": "0d6c3a51-7f3e-4b53-9d8e-1c2b3a4d5e6f"}
    if annotations:
        meta["annotations"] = dict(annotations)
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": meta,
            "spec": {"devices": devs}}


def template(namespace, name, devs):
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"spec": {"devices": devs}}}


def single_gpu(device_class="gpu.nvidia.com"):
    """gpu-test1 and gpu-test3: one GPU of the class, nothing else said."""
    return devices([exactly("gpu", device_class)])


def time_sliced():
    """gpu-test6: time-slicing with an interval, and a selector of the user's own."""
    return devices(
        [exactly("gpu", "gpu.nvidia.com", selectors=[{"cel": {"expression": (
            "device.attributes['gpu.nvidia.com'].productName.lowerAscii().matches('^.*a100.*$')")}}])],
        config=[gpu_config(["gpu"], {"strategy": "TimeSlicing",
                                     "timeSlicingConfig": {"interval": "Long"}})])


def mps_shared():
    """gpu-test-mps: MPS with mpsConfig."""
    return devices(
        [exactly("mps-gpu", "gpu.nvidia.com")],
        config=[gpu_config(["mps-gpu"], {"strategy": "MPS", "mpsConfig": {
            "defaultActiveThreadPercentage": 50, "defaultPinnedDeviceMemoryLimit": "10Gi"}})])


def two_shared():
    """gpu-test5: two requests, each with its own config (time-slicing, MPS)."""
    return devices(
        [exactly("ts-gpu", "gpu.nvidia.com"), exactly("mps-gpu", "gpu.nvidia.com")],
        config=[gpu_config(["ts-gpu"], {"strategy": "TimeSlicing",
                                        "timeSlicingConfig": {"interval": "Long"}}),
                gpu_config(["mps-gpu"], {"strategy": "MPS", "mpsConfig": {
                    "defaultActiveThreadPercentage": 50,
                    "defaultPinnedDeviceMemoryLimit": "10Gi"}})])


def mig_by_profile(profiles=("1g.10gb", "1g.10gb", "3g.40gb")):
    """gpu-test4: MIG devices by profile on one parent GPU."""
    reqs = [exactly(f"mig-{i}", "mig.nvidia.com", selectors=[{"cel": {"expression": (
        f"device.attributes['gpu.nvidia.com'].profile == '{p}'")}}])
        for i, p in enumerate(profiles)]
    return devices(reqs, constraints=[{"requests": [],
                                       "matchAttribute": "gpu.nvidia.com/parentUUID"}])


def first_available():
    """A whole GPU if there is one, else two MIG slices."""
    return devices([{"name": "gpu", "firstAvailable": [
        {"name": "whole", "deviceClassName": "gpu.nvidia.com"},
        {"name": "slices", "deviceClassName": "mig.nvidia.com", "count": 2}]}])


def quota(namespace, hard, name="gpus"):
    return {"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"hard": hard}}


def pod_with_claims(namespace, template_name="single-gpu", **kwargs):
    pod = make_pod(namespace, None, **kwargs)
    pod["spec"]["resourceClaims"] = [{"name": "gpu",
                                      "resourceClaimTemplateName": template_name}]
    pod["spec"]["containers"][0]["resources"]["claims"] = [{"name": "gpu"}]
    return pod


# ---------------------------------------------------------------------------------------------


class Base(unittest.TestCase, metaclass=apiserver.TranscriptMeta):
    def setUp(self):
        self.client = apiserver.Client(SERVER.port, SERVER.certs.ca)

    def tearDown(self):
        self.client.close()

    def review(self, endpoint, obj, what=CLAIM, **kwargs):
        k, r = what
        kwargs.setdefault("user", USER)
        return self.client.review(endpoint, obj, kind=k, resource=r, **kwargs)

    def admit(self, obj, what=CLAIM, user=USER):
        """/mutate, patch, /mutate again (nothing added), /validate; returns the final object,
        the first patch and the /validate response."""
        k, r = what
        first = self.client.review("/mutate", obj, kind=k, resource=r, user=user)
        self.assertTrue(first.answer["response"]["allowed"], apiserver.status_message(first))
        final, _, validated = self.client.admit(obj, kind=k, resource=r, user=user)
        return final, first.patch, validated

    def assertDenied(self, obj, *fragments, what=CLAIM, code=403, user=USER):
        for endpoint in ("/mutate", "/validate"):
            ex = self.review(endpoint, obj, what, user=user)
            response = ex.answer["response"]
            self.assertFalse(response["allowed"], f"{endpoint} allowed it")
            self.assertEqual(response["status"]["code"], code)
            for f in fragments:
                self.assertIn(f, response["status"]["message"])
            self.assertNotIn("patch", response)

    def selectors(self, request):
        body = request.get("exactly", request)
        return [s["cel"]["expression"] for s in body.get("selectors", [])]


class Selector:
    """The selectors the policy's tenants get: the CEL harness (tests/dra) evaluates them."""

    RESEARCH_GPU = ("'productName' in device.attributes['gpu.nvidia.com'] && "
                    "device.attributes['gpu.nvidia.com'].productName.replace(' ', '-') in "
                    "['NVIDIA-A100-SXM4-80GB', 'NVIDIA-H100-80GB-HBM3']")
    RESEARCH_MIG = (RESEARCH_GPU + " && 'profile' in device.attributes['gpu.nvidia.com'] && "
                    "device.attributes['gpu.nvidia.com'].profile in ['1g.10gb', '3g.40gb']")
    INFERENCE_GPU = ("'productName' in device.attributes['gpu.nvidia.com'] && "
                     "device.attributes['gpu.nvidia.com'].productName.replace(' ', '-') in "
                     "['NVIDIA-H100-80GB-HBM3']")


class Claims(Base):
    def test_exclusive_template_is_pinned_and_labelled(self):
        final, patch, validated = self.admit(
            template("ml-research", "single-gpu", single_gpu()), TEMPLATE)
        req = final["spec"]["spec"]["devices"]["requests"][0]
        self.assertEqual(self.selectors(req), [Selector.RESEARCH_GPU])
        self.assertEqual(final["metadata"]["labels"][TENANT_LABEL], "research")
        # Claims made from the template copy spec.metadata: they carry the label too.
        self.assertEqual(final["spec"]["metadata"]["labels"][TENANT_LABEL], "research")
        self.assertEqual([op["op"] for op in patch], ["add"] * 3)
        self.assertFalse(validated.get("warnings"))

    def test_standalone_claim_is_warned_about(self):
        final, _, validated = self.admit(claim("ml-research", "single-gpu", single_gpu()))
        self.assertEqual(self.selectors(final["spec"]["devices"]["requests"][0]),
                         [Selector.RESEARCH_GPU])
        self.assertEqual(len(validated["warnings"]), 1)
        self.assertIn('standalone ResourceClaim "single-gpu": every pod that names it shares',
                      validated["warnings"][0])

    def test_time_slicing_keeps_the_users_selector_first(self):
        final, patch, _ = self.admit(template("ml-research", "a100", time_sliced()), TEMPLATE)
        req = final["spec"]["spec"]["devices"]["requests"][0]
        self.assertEqual(len(self.selectors(req)), 2)
        self.assertIn("lowerAscii", self.selectors(req)[0])
        self.assertEqual(self.selectors(req)[1], Selector.RESEARCH_GPU)
        self.assertEqual(patch[0]["path"], "/spec/spec/devices/requests/0/exactly/selectors/-")
        # A tenant without time-slicing may not have it.
        self.assertDenied(template("gpu-monitoring", "a100", time_sliced()),
                          'request "gpu" gets time-slicing from its GpuConfig (config[0])',
                          "(allowed: exclusive)", what=TEMPLATE)

    def test_mps(self):
        final, _, _ = self.admit(template("inference", "shared-gpu", mps_shared()), TEMPLATE)
        self.assertEqual(self.selectors(final["spec"]["spec"]["devices"]["requests"][0]),
                         [Selector.INFERENCE_GPU])
        self.assertDenied(template("ml-research", "shared-gpu", mps_shared()),
                          'request "mps-gpu" gets mps from its GpuConfig (config[0])',
                          'tenant "research" does not allow', what=TEMPLATE)

    def test_config_for_one_request_of_two(self):
        self.admit(template("inference", "multiple-gpus", two_shared()), TEMPLATE)
        self.assertDenied(template("ml-research", "multiple-gpus", two_shared()),
                          'request "mps-gpu" gets mps from its GpuConfig (config[1])',
                          what=TEMPLATE)
        # Without its config the second request gets the default: exclusive.
        devs = two_shared()
        del devs["config"][1]
        self.assertDenied(template("inference", "multiple-gpus", devs),
                          'request "mps-gpu" gets exclusive from settings.dra.defaultSharing',
                          what=TEMPLATE)

    def test_mig_by_profile(self):
        final, patch, _ = self.admit(template("ml-research", "mig-devices", mig_by_profile()),
                                     TEMPLATE)
        for req in final["spec"]["spec"]["devices"]["requests"]:
            self.assertEqual(self.selectors(req)[1:], [Selector.RESEARCH_MIG])
        self.assertEqual(len(patch), 5)
        self.assertDenied(template("inference", "mig-devices", mig_by_profile()),
                          'device class "mig.nvidia.com" hands out MIG devices, but tenant '
                          '"inference"\'s sharing does not have mig', what=TEMPLATE)
        # MIG with MPS needs both.
        devs = mig_by_profile(("1g.10gb",))
        devs["config"] = [gpu_config([], {"strategy": "MPS"}, config_kind="MigDeviceConfig")]
        self.assertDenied(template("ml-research", "mig-mps", devs),
                          'request "mig-0" gets mig with mps from its MigDeviceConfig',
                          what=TEMPLATE)

    def test_first_available(self):
        final, patch, _ = self.admit(claim("ml-research", "fa", first_available()))
        subs = final["spec"]["devices"]["requests"][0]["firstAvailable"]
        self.assertEqual(self.selectors(subs[0]), [Selector.RESEARCH_GPU])
        self.assertEqual(self.selectors(subs[1]), [Selector.RESEARCH_MIG])
        self.assertEqual(patch[0]["path"], "/spec/devices/requests/0/firstAvailable/0/selectors")
        self.assertEqual(patch[1]["path"], "/spec/devices/requests/0/firstAvailable/1/selectors")
        # A team with MIG only may not even list a whole GPU as an alternative.
        self.assertDenied(claim("team-mig", "fa", first_available()),
                          'request "gpu/whole": device class "gpu.nvidia.com" hands out whole '
                          'GPUs, but tenant "mig" allows only mig')

    def test_admin_access(self):
        devs = devices([exactly("gpu", "gpu.nvidia.com", adminAccess=True,
                                allocationMode="All")])
        self.assertDenied(claim("ml-research", "monitor", devs),
                          'request "gpu" asks for adminAccess, which tenant "research" is not '
                          'given in the policy (the namespace label alone is not enough)')
        _, _, validated = self.admit(claim("gpu-monitoring", "monitor", devs))
        self.assertTrue(any("allocationMode All takes every matching device" in w
                            for w in validated["warnings"]))

    def test_allocation_mode_all_and_counts(self):
        self.assertDenied(claim("ml-research", "all", devices(
            [exactly("gpu", "gpu.nvidia.com", allocationMode="All")])),
            "allocationMode All, which cannot be bounded")
        self.assertDenied(claim("ml-research", "five", devices(
            [exactly("gpu", "gpu.nvidia.com", count=5)])),
            'claim asks for up to 5 devices of class "gpu.nvidia.com"; tenant "research" '
            'allows at most 4 per pod')
        self.assertDenied(claim("ml-research", "three", devices(
            [exactly("gpu", "a100-research", count=3)])),
            'up to 3 devices of class "a100-research", above tenant "research"\'s quota of 2')
        self.admit(claim("ml-research", "two", devices(
            [exactly("gpu", "a100-research", count=2)])))

    def test_outside_tenants(self):
        self.assertDenied(claim("default", "single-gpu", single_gpu()),
                          'ResourceClaim "single-gpu": namespace "default" belongs to no GPU '
                          'tenant')
        self.assertDenied(claim("ml-research", "vfio", single_gpu("vfio.gpu.nvidia.com")),
                          'tenant "research" may not use device class "vfio.gpu.nvidia.com"')
        # Exempt namespaces, and classes that hand out no GPUs, are left alone.
        for obj in (claim("kube-system", "single-gpu", single_gpu()),
                    claim("default", "nic", single_gpu("sriov.example.com"))):
            for endpoint in ("/mutate", "/validate"):
                response = self.review(endpoint, obj).answer["response"]
                self.assertTrue(response["allowed"])
                self.assertNotIn("patch", response)
                self.assertFalse(response.get("warnings"))

    def test_unreadable_configs_are_400(self):
        cases = [
            (gpu_config(["gpu"], None, config_kind="GpuConfg"), 'unknown kind "GpuConfg"'),
            (gpu_config(["gpu"], {"strategy": "Exclusive"}),
             'unknown sharing strategy "Exclusive" in GpuConfig (expected TimeSlicing or MPS)'),
            (gpu_config(["gpu"], {"strategy": "TimeSlicing",
                                  "timeSlicingConfig": {"interval": "Eternal"}}),
             "interval of Default, Short, Medium or Long"),
        ]
        for config, fragment in cases:
            with self.subTest(fragment=fragment):
                devs = single_gpu()
                devs["config"] = [config]
                self.assertDenied(claim("ml-research", "bad", devs),
                                  "config[0] for driver gpu.nvidia.com", fragment, code=400)
        # Another driver's config is its own business.
        devs = single_gpu()
        devs["config"] = [gpu_config(["gpu"], {"strategy": "Anything"}, driver="nic.example.com")]
        self.admit(claim("ml-research", "other-driver", devs))

    def test_validate_wants_the_selector(self):
        obj = template("ml-research", "single-gpu", single_gpu())
        response = self.review("/validate", obj, TEMPLATE).answer["response"]
        self.assertFalse(response["allowed"])
        self.assertIn("lacks the tenant's device selector", response["status"]["message"])
        # A user-written copy of another tenant's selector is not the tenant's.
        obj["spec"]["spec"]["devices"]["requests"][0]["exactly"]["selectors"] = [
            {"cel": {"expression": Selector.INFERENCE_GPU}}]
        response = self.review("/validate", obj, TEMPLATE).answer["response"]
        self.assertFalse(response["allowed"])

    def test_claims_kubernetes_makes(self):
        # From a template: the resource-claim controller copies the mutated template.
        annotations = {"resource.kubernetes.io/pod-claim-name": "gpu"}
        obj = claim("ml-research", "pod1-gpu-x7k2p", single_gpu(), annotations=annotations)
        response = self.review("/validate", obj, user=CLAIM_CONTROLLER).answer["response"]
        self.assertTrue(response["allowed"])
        self.assertFalse(response.get("warnings"))
        # The annotation alone, from anyone else, exempts nothing.
        response = self.review("/validate", obj, user=USER).answer["response"]
        self.assertFalse(response["allowed"])
        # The scheduler's claim for a pod's extended resources: left as it is.
        annotations = {"resource.kubernetes.io/extended-resource-claim": "true"}
        obj = claim("ml-research", "pod1-extended-resources-8r9k5",
                    devices([exactly("container-0-request-0", "gpu.nvidia.com",
                                     allocationMode="ExactCount", count=1)]),
                    annotations=annotations)
        for endpoint in ("/mutate", "/validate"):
            response = self.review(endpoint, obj, user=SCHEDULER).answer["response"]
            self.assertTrue(response["allowed"])
            self.assertNotIn("patch", response)
        self.admit(obj, user=USER)

    def test_updates_are_allowed(self):
        old = claim("ml-research", "single-gpu", single_gpu())
        new = copy.deepcopy(old)
        new["status"] = {"reservedFor": [{"resource": "pods", "name": "p", "uid": "1"}]}
        response = self.review("/validate", new, operation="UPDATE", old=old).answer["response"]
        self.assertTrue(response["allowed"])

    def test_warn_mode(self):
        obj = claim("trial", "two", devices([exactly("gpu", "gpu.nvidia.com", count=2)]))
        first = self.review("/mutate", obj)
        self.assertTrue(first.answer["response"]["allowed"])
        self.assertIsNotNone(first.patch)
        response = self.review("/validate", first.patched).answer["response"]
        self.assertTrue(response["allowed"])
        self.assertTrue(response["warnings"][0].startswith(
            'ResourceClaim "two": claim asks for up to 2 devices of class "gpu.nvidia.com"; '
            'tenant "trial" allows at most 1 per pod'))


class Pods(Base):
    def test_pod_with_claims_gets_toleration_and_label_only(self):
        pod = pod_with_claims("ml-research")
        final, mutated, validated = self.client.admit(pod)
        self.assertIn(HAS_GPU, final["spec"]["tolerations"])
        self.assertEqual(final["metadata"]["labels"][TENANT_LABEL], "research")
        self.assertNotIn("affinity", final["spec"])
        self.assertTrue(validated["allowed"])

    def test_pod_with_claims_is_judged_as_a_gpu_pod(self):
        response = self.review("/validate", pod_with_claims(
            "ml-research", service_account="web"), what=(apiserver.POD_KIND,
                                                          apiserver.POD_RESOURCE)).answer
        self.assertFalse(response["response"]["allowed"])
        self.assertIn('service account "web" may not use GPUs of tenant "research"',
                      response["response"]["status"]["message"])
        # Without the mutation: refused as for every GPU pod.
        response = self.review("/validate", pod_with_claims("ml-research"),
                               what=(apiserver.POD_KIND, apiserver.POD_RESOURCE)).answer
        self.assertIn("lacks the GPU toleration", response["response"]["status"]["message"])

    def test_pod_with_claims_outside_tenants_is_no_gpu_pod(self):
        pod = pod_with_claims("default")
        for endpoint in ("/mutate", "/validate"):
            response = self.client.review(endpoint, pod).answer["response"]
            self.assertTrue(response["allowed"])
            self.assertNotIn("patch", response)
        pod = pod_with_claims("default", tolerations=[HAS_GPU])
        response = self.client.review("/validate", pod).answer["response"]
        self.assertFalse(response["allowed"])
        self.assertIn("requests no GPU but tolerates", response["status"]["message"])

    def test_pod_with_deviceclass_resources(self):
        res = "deviceclass.resource.kubernetes.io/gpu.nvidia.com"
        final, _, _ = self.client.admit(make_pod("ml-research", {res: "2"}))
        self.assertNotIn("affinity", final["spec"])
        self.assertIn(HAS_GPU, final["spec"]["tolerations"])
        response = self.client.review("/mutate", make_pod("ml-research", {res: "5"})).answer
        self.assertIn("allows at most 4 per pod", response["response"]["status"]["message"])
        response = self.client.review("/validate", make_pod("default", {res: "1"})).answer
        self.assertIn('namespace "default" belongs to no GPU tenant',
                      response["response"]["status"]["message"])
        response = self.client.review("/validate", make_pod(
            "inference", {res: "1"})).answer["response"]
        self.assertIn("gets exclusive from settings.dra.defaultSharing",
                      response["status"]["message"])


class Quotas(Base):
    def send(self, obj, operation="CREATE", old=None):
        return self.review("/validate", obj, QUOTA, operation=operation,
                           old=old).answer["response"]

    def test_dra_keys_are_gpu_entries(self):
        ok = quota("ml-research", {"gpu.nvidia.com.deviceclass.resource.k8s.io/devices": "4",
                                   "requests.deviceclass.resource.kubernetes.io/gpu.nvidia.com":
                                   "4"})
        self.assertTrue(self.send(ok)["allowed"])
        r = self.send(quota("ml-research",
                            {"mig.nvidia.com.deviceclass.resource.k8s.io/devices": "8"}))
        self.assertFalse(r["allowed"])
        self.assertIn("to 8, above tenant \"research\"'s ceiling of 7", r["status"]["message"])
        r = self.send(quota("default", {"gpu.nvidia.com.deviceclass.resource.k8s.io/devices": "1"}))
        self.assertIn("GPUs are not given here", r["status"]["message"])
        r = self.send(quota("ml-research",
                            {"limits.deviceclass.resource.kubernetes.io/gpu.nvidia.com": "1"}))
        self.assertTrue(r["allowed"])
        self.assertTrue(r["warnings"][0].startswith(
            "use requests.deviceclass.resource.kubernetes.io/gpu.nvidia.com"))
        # Removing a DRA ceiling lifts it.
        r = self.send(quota("ml-research", {"requests.cpu": "8"}), operation="UPDATE", old=ok)
        self.assertFalse(r["allowed"])
        self.assertIn("would lift", r["status"]["message"])
        # Classes that hand out no GPUs are not guarded.
        self.assertTrue(self.send(quota(
            "default", {"nic.example.com.deviceclass.resource.k8s.io/devices": "8"}))["allowed"])


class DeviceClasses(Base):
    def test_unlisted_class_of_the_gpu_driver_is_warned_about(self):
        cls = {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass",
               "metadata": {"name": "h100.gpu.nvidia.com"},
               "spec": {"selectors": [{"cel": {"expression": (
                   "device.driver == 'gpu.nvidia.com' && "
                   "device.attributes['gpu.nvidia.com'].type == 'gpu'")}}],
                   "extendedResourceName": "example.com/h100"}}
        response = self.review("/validate", cls, DEVICE_CLASS, namespace="").answer["response"]
        self.assertTrue(response["allowed"])
        self.assertEqual(response["warnings"], [
            'DeviceClass "h100.gpu.nvidia.com" is not in settings.dra.deviceClasses: any '
            'namespace can claim its GPUs'])
        cls["metadata"]["name"] = "a100-research"
        response = self.review("/validate", cls, DEVICE_CLASS, namespace="",
                               operation="UPDATE", old=cls).answer["response"]
        self.assertTrue(response["allowed"])
        self.assertFalse(response.get("warnings"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
