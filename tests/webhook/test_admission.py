#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Admission decisions through the real server: /mutate and /validate as the kube-apiserver calls
them, patches applied with python3-jsonpatch, and admitted pods placed on GPU Feature Discovery
labelled nodes by a scheduler simulator."""

import copy
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import apiserver  # noqa: E402
from apiserver import container, make_pod  # noqa: E402

POLICY_FILE = apiserver.data_path("policy-it.yaml")
POLICY = apiserver.load_yaml(POLICY_FILE)
TENANTS = {t["name"]: t for t in POLICY["tenants"]}
SETTINGS = POLICY["settings"]
PRODUCT_LABEL = SETTINGS["productLabel"]
SHARING_LABEL = SETTINGS["sharingLabel"]
TOLERATION = SETTINGS["toleration"]
TENANT_LABEL = "gpu-tenancy.io/tenant"
NODES = apiserver.load_nodes()

A100 = "NVIDIA-A100-SXM4-80GB"
H100 = "NVIDIA-H100-80GB-HBM3"
V100 = "Tesla-V100-SXM2-16GB"
GPU = "nvidia.com/gpu"
SHARED = "nvidia.com/gpu.shared"
MIG1 = "nvidia.com/mig-1g.10gb"
MIG3 = "nvidia.com/mig-3g.40gb"
MIG1_SHARED = "nvidia.com/mig-1g.10gb.shared"
MIG3_SHARED = "nvidia.com/mig-3g.40gb.shared"

HAS_GPU = {"key": "has-gpu", "operator": "Exists", "effect": "NoSchedule"}
DEDICATED = {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}

SERVER = None


def setUpModule():
    global SERVER
    SERVER = apiserver.start_shared(POLICY_FILE, "gtw-admission-")


def tearDownModule():
    apiserver.stop_shared(SERVER)


# ---------------------------------------------------------------------------------------------
# The placement rules of the issue, written out independently of the server.
# ---------------------------------------------------------------------------------------------


def expected_placement(tenant_name, resources):
    """The node selector requirements issue 3 gives for a tenant and the GPU resources a pod
    asks for, as sorted matchExpressions; None when the tenant cannot be placed."""
    t = TENANTS[tenant_name]
    products, sharing = set(t["products"]), set(t["sharing"])
    profiles = set(t.get("migProfiles") or [])
    shared_modes = sharing & {"time-slicing", "mps"}
    reqs = {}

    def need(key, values):
        reqs[key] = reqs[key] & set(values) if key in reqs else set(values)

    for r in resources:
        m = re.fullmatch(r"nvidia\.com/mig-(.+?)(\.shared)?", r)
        if r == GPU:
            prod = set()
            if "exclusive" in sharing:
                prod |= products
            if shared_modes:
                prod |= {p + "-SHARED" for p in products}
            if "mig" in sharing:
                prod |= {f"{p}-MIG-{m}" for p in products for m in profiles}
                if "time-slicing" in sharing:
                    prod |= {f"{p}-MIG-{m}-SHARED" for p in products for m in profiles}
            modes = set(shared_modes)
            if sharing & {"exclusive", "mig"}:
                modes.add("none")
            need(PRODUCT_LABEL, prod)
            need(SHARING_LABEL, modes)
        elif r == SHARED:
            if not shared_modes:
                return None
            need(PRODUCT_LABEL, products)
            need(SHARING_LABEL, shared_modes)
        elif m:
            profile, is_shared = m.group(1), bool(m.group(2))
            if "mig" not in sharing or profile not in profiles:
                return None
            if is_shared and "time-slicing" not in sharing:
                return None
            need(PRODUCT_LABEL, products)
            modes = {"time-slicing"} if is_shared else {"none"} | (sharing & {"time-slicing"})
            need(f"nvidia.com/mig-{profile}.sharing-strategy", modes)
        else:
            raise ValueError(r)
    if any(not v for v in reqs.values()):
        return None
    return [{"key": k, "operator": "In", "values": sorted(reqs[k])} for k in sorted(reqs)]


def canonical_toleration(t):
    return {k: v for k, v in t.items() if v not in ("", None)}


def expected_mutation(pod, tenant_name, exprs):
    """The pod /mutate must produce: the toleration unless an identical one is there, exprs ANDed
    into every required term (created where absent), the tenant label; nothing else changed."""
    want = copy.deepcopy(pod)
    spec = want["spec"]
    tols = spec.setdefault("tolerations", [])
    if not any(canonical_toleration(t) == canonical_toleration(TOLERATION) for t in tols):
        tols.append(copy.deepcopy(TOLERATION))
    want["metadata"].setdefault("labels", {})[TENANT_LABEL] = tenant_name
    required = (spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
                .setdefault("requiredDuringSchedulingIgnoredDuringExecution", {}))
    terms = required.setdefault("nodeSelectorTerms", [])
    if not terms:
        terms.append({})
    for term in terms:
        term.setdefault("matchExpressions", []).extend(copy.deepcopy(exprs))
    return want


def canonical_pod(pod):
    """pod with each term's matchExpressions in a fixed order and tolerations without empty
    fields, so that two pods compare equal when they mean the same thing to the scheduler."""
    pod = copy.deepcopy(pod)
    spec = pod.get("spec", {})
    if "tolerations" in spec:
        spec["tolerations"] = [canonical_toleration(t) for t in spec["tolerations"]]
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required:
        for term in required.get("nodeSelectorTerms") or []:
            if "matchExpressions" in term:
                term["matchExpressions"] = sorted(term["matchExpressions"],
                                                  key=lambda e: json.dumps(e, sort_keys=True))
    return pod


def required_terms(pod):
    return (pod["spec"].get("affinity", {}).get("nodeAffinity", {})
            .get("requiredDuringSchedulingIgnoredDuringExecution", {})
            .get("nodeSelectorTerms", []))


def has_text(message, fragment):
    """fragment (a string, or a tuple meaning any of them) occurs in message, ignoring case."""
    options = fragment if isinstance(fragment, tuple) else (fragment,)
    return any(f.lower() in message.lower() for f in options)


def all_warnings(*responses):
    out = []
    for r in responses:
        out += r.get("warnings") or []
    return out


class AdmissionCase(unittest.TestCase, metaclass=apiserver.TranscriptMeta):
    """One keep-alive client per class against the module's server."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.client = apiserver.Client(SERVER.port, SERVER.certs.ca)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def assert_nodes(self, pod, expected):
        got = apiserver.schedulable_nodes(pod, NODES)
        self.assertEqual(got, set(expected),
                         "the admitted pod schedules on the wrong nodes:\n"
                         + apiserver.explain_nodes(pod, NODES))

    def assert_placed(self, pod, tenant, nodes, resources=None, **kwargs):
        """Admits pod, checks the result is exactly the issue's mutation for tenant and that it
        schedules on exactly nodes. Returns (final, mutate_response, validate_response)."""
        final, mutated, validated = self.client.admit(pod, **kwargs)
        if resources is None:
            resources = sorted(apiserver.effective_requests(pod))
        exprs = expected_placement(tenant, resources)
        self.assertIsNotNone(exprs, "the test expects a placement the issue's rules refuse")
        self.assertEqual(canonical_pod(final),
                         canonical_pod(expected_mutation(pod, tenant, exprs)),
                         "the mutated pod is not the original plus toleration, placement and "
                         "tenant label")
        self.assert_nodes(final, nodes)
        return final, mutated, validated

    def assert_denied(self, pod, *fragments, code=403, **kwargs):
        """Checks that pod is refused: /mutate denies it or lets it through unpatched, and
        /validate denies it with code and a message containing every fragment. Returns the
        /validate message."""
        mutate = self.client.review("/mutate", pod, **kwargs)
        response = mutate.answer["response"]
        if response["allowed"]:
            self.assertIsNone(mutate.patch, "a pod the policy refuses was mutated")
        else:
            self.check_denial(response, fragments, code)
        validate = self.client.review("/validate", pod, **kwargs)
        response = validate.answer["response"]
        self.assertFalse(response["allowed"], "/validate allowed a pod the policy refuses")
        self.check_denial(response, fragments, code)
        return response["status"]["message"]

    def check_denial(self, response, fragments, code):
        status = response["status"]
        if isinstance(code, tuple):
            self.assertIn(status["code"], code)
        else:
            self.assertEqual(status["code"], code)
        for f in fragments:
            self.assertTrue(has_text(status["message"], f),
                            f"the denial message {status['message']!r} does not mention {f!r}")

    def assert_untouched(self, obj, **kwargs):
        """Checks obj is allowed by both endpoints without a patch or a warning."""
        for endpoint in ("/mutate", "/validate"):
            ex = self.client.review(endpoint, obj, **kwargs)
            response = ex.answer["response"]
            self.assertTrue(response["allowed"], f"{endpoint} refused it")
            self.assertIsNone(ex.patch, f"{endpoint} patched it")
            self.assertFalse(response.get("warnings"), f"{endpoint} warned")


# ---------------------------------------------------------------------------------------------
# Placement for every tenant shape
# ---------------------------------------------------------------------------------------------


class PlacementTest(AdmissionCase):
    def test_exclusive_gpu_lands_on_exclusive_a100s(self):
        pod = make_pod("team-excl", {GPU: "1"})
        self.assert_placed(pod, "excl", {"a100-exclusive-1", "a100-exclusive-2"})

    def test_time_slicing_gpu_lands_on_shared_product(self):
        pod = make_pod("team-ts", {GPU: "1"})
        self.assert_placed(pod, "ts", {"a100-timesliced-1"})

    def test_time_slicing_gpu_shared_lands_on_renamed_node(self):
        pod = make_pod("team-ts", {SHARED: "1"})
        self.assert_placed(pod, "ts", {"a100-timesliced-renamed"})

    def test_mps_gpu_lands_on_mps_node(self):
        pod = make_pod("team-mps", {GPU: "1"})
        self.assert_placed(pod, "mps", {"a100-mps-1"})

    def test_mps_gpu_shared_lands_on_renamed_mps_node(self):
        pod = make_pod("team-mps", {SHARED: "1"})
        self.assert_placed(pod, "mps", {"a100-mps-renamed"})

    def test_time_slicing_or_mps_gpu(self):
        pod = make_pod("team-tsmps", {GPU: "1"})
        self.assert_placed(pod, "tsmps", {"a100-timesliced-1", "a100-mps-1"})

    def test_time_slicing_or_mps_gpu_shared(self):
        pod = make_pod("team-tsmps", {SHARED: "1"})
        self.assert_placed(pod, "tsmps", {"a100-timesliced-renamed", "a100-mps-renamed"})

    def test_mig_gpu_lands_on_single_strategy_node(self):
        pod = make_pod("team-mig", {GPU: "1"})
        self.assert_placed(pod, "mig", {"h100-mig-single"})

    def test_mig_profile_lands_on_mixed_strategy_node(self):
        pod = make_pod("team-mig", {MIG1: "1"})
        self.assert_placed(pod, "mig", {"h100-mig-mixed"})

    def test_mig_time_slicing_gpu_lands_on_single_strategy_nodes(self):
        pod = make_pod("team-migts", {GPU: "1"})
        self.assert_placed(pod, "migts", {"h100-mig-single", "h100-mig-single-ts"})

    def test_mig_time_slicing_profile_lands_on_mixed_nodes(self):
        pod = make_pod("team-migts", {MIG1: "1"})
        self.assert_placed(pod, "migts", {"h100-mig-mixed", "h100-mig-mixed-ts"})

    def test_mig_shared_profile_lands_on_renamed_mixed_node(self):
        pod = make_pod("team-migts", {MIG1_SHARED: "1"})
        self.assert_placed(pod, "migts", {"h100-mig-mixed-ts-renamed"})

    def test_mig_larger_profile(self):
        pod = make_pod("team-migts", {MIG3: "1"})
        self.assert_placed(pod, "migts",
                           {"h100-mig-mixed", "h100-mig-mixed-ts", "h100-mig-mixed-ts-renamed"})

    def test_two_mig_profiles(self):
        pod = make_pod("team-migts", {MIG1: "1", MIG3: "1"})
        self.assert_placed(pod, "migts", {"h100-mig-mixed", "h100-mig-mixed-ts"})

    def test_mixture_gpu(self):
        pod = make_pod("ml-research", {GPU: "1"})
        self.assert_placed(pod, "research",
                           {"a100-exclusive-1", "a100-exclusive-2", "a100-timesliced-1",
                            "h100-exclusive", "h100-mig-single", "h100-mig-single-ts"})

    def test_mixture_gpu_shared(self):
        pod = make_pod("ml-staging", {SHARED: "1"})
        self.assert_placed(pod, "research", {"a100-timesliced-renamed"})

    def test_mixture_mig_profile(self):
        pod = make_pod("ml-research", {MIG3: "2"})
        self.assert_placed(pod, "research",
                           {"h100-mig-mixed", "h100-mig-mixed-ts", "h100-mig-mixed-ts-renamed"})

    def test_exclusive_or_mig_gpu(self):
        pod = make_pod("team-quota", {GPU: "1"})
        self.assert_placed(pod, "quota", {"h100-exclusive", "h100-mig-single"})

    def test_several_resources_intersect_on_the_same_key(self):
        pod = make_pod("ml-research", {GPU: "1", MIG1: "1"})
        final, _, _ = self.assert_placed(pod, "research", set())
        exprs = required_terms(final)[0]["matchExpressions"]
        product = [e for e in exprs if e["key"] == PRODUCT_LABEL]
        self.assertEqual(product, [{"key": PRODUCT_LABEL, "operator": "In",
                                    "values": [A100, H100]}])

    def test_generate_name_pod(self):
        pod = make_pod("team-excl", {GPU: "2"}, name="worker", generate_name=True)
        self.assert_placed(pod, "excl", {"a100-exclusive-1", "a100-exclusive-2"})

    def test_job_pod_from_fixture(self):
        pod = apiserver.load_yaml(apiserver.data_path("pods/job-trainer.yaml"))
        final, _, _ = self.assert_placed(pod, "research",
                                         {"a100-exclusive-1", "a100-exclusive-2",
                                          "a100-timesliced-1", "h100-exclusive",
                                          "h100-mig-single", "h100-mig-single-ts"})
        self.assertEqual(final["spec"]["nodeSelector"], {"kubernetes.io/os": "linux"})

    def test_sidecar_pod_from_fixture(self):
        pod = apiserver.load_yaml(apiserver.data_path("pods/inference-shared.yaml"))
        self.assert_placed(pod, "tsmps", {"a100-timesliced-renamed", "a100-mps-renamed"})

    def test_placement_values_are_sorted_and_unique(self):
        final, _, _ = self.client.admit(make_pod("ml-research", {GPU: "1", SHARED: "1"}))
        for term in required_terms(final):
            for e in term["matchExpressions"]:
                self.assertEqual(e["values"], sorted(set(e["values"])), e)


# ---------------------------------------------------------------------------------------------
# The shape of the patch
# ---------------------------------------------------------------------------------------------


class PatchTest(AdmissionCase):
    EXCL_NODES = {"a100-exclusive-1", "a100-exclusive-2"}

    def test_tolerations_created_when_absent(self):
        pod = make_pod("team-excl", {GPU: "1"}, tolerations=None)
        final, _, _ = self.assert_placed(pod, "excl", self.EXCL_NODES)
        self.assertEqual([canonical_toleration(t) for t in final["spec"]["tolerations"]],
                         [TOLERATION])

    def test_toleration_appended_to_existing_ones(self):
        pod = make_pod("team-excl", {GPU: "1"},
                       tolerations=apiserver.DEFAULT_TOLERATIONS + [DEDICATED])
        final, _, _ = self.assert_placed(pod, "excl", self.EXCL_NODES)
        self.assertEqual(final["spec"]["tolerations"][:3],
                         apiserver.DEFAULT_TOLERATIONS + [DEDICATED])
        self.assertEqual(canonical_toleration(final["spec"]["tolerations"][3]), TOLERATION)

    def test_equivalent_toleration_not_duplicated(self):
        pod = make_pod("team-excl", {GPU: "1"},
                       tolerations=[dict(HAS_GPU)] + apiserver.DEFAULT_TOLERATIONS)
        final, mutated, _ = self.assert_placed(pod, "excl", self.EXCL_NODES)
        self.assertEqual(final["spec"]["tolerations"], pod["spec"]["tolerations"])
        patch = self.client.transcript[0].patch
        self.assertFalse([op for op in patch if op["path"].startswith("/spec/tolerations")],
                         "the patch touches tolerations that already tolerate the taint")

    def test_tenant_label_path_is_escaped(self):
        pod = make_pod("team-excl", {GPU: "1"}, labels={"app": "train"})
        final, _, _ = self.assert_placed(pod, "excl", self.EXCL_NODES)
        patch = self.client.transcript[0].patch
        ops = [op for op in patch if op["path"] == "/metadata/labels/gpu-tenancy.io~1tenant"]
        self.assertEqual(len(ops), 1,
                         "no single operation on /metadata/labels/gpu-tenancy.io~1tenant")
        self.assertEqual(ops[0]["value"], "excl")
        self.assertEqual(final["metadata"]["labels"], {"app": "train", TENANT_LABEL: "excl"})

    def test_labels_created_when_absent(self):
        pod = make_pod("team-excl", {GPU: "1"})
        final, _, _ = self.assert_placed(pod, "excl", self.EXCL_NODES)
        self.assertEqual(final["metadata"]["labels"], {TENANT_LABEL: "excl"})

    def test_wrong_tenant_label_is_overwritten(self):
        pod = make_pod("team-excl", {GPU: "1"}, labels={TENANT_LABEL: "research", "app": "x"})
        final, _, _ = self.assert_placed(pod, "excl", self.EXCL_NODES)
        self.assertEqual(final["metadata"]["labels"][TENANT_LABEL], "excl")

    def test_placement_anded_into_every_existing_term(self):
        zone_a = {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                                        "values": ["zone-a"]}]}
        zone_b = {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                                        "values": ["zone-b"]}]}
        affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [zone_a, zone_b]}}}
        pod = make_pod("team-excl", {GPU: "1"}, affinity=affinity)
        final, _, _ = self.assert_placed(pod, "excl", self.EXCL_NODES)
        self.assertEqual(len(required_terms(final)), 2, "a term was added or removed")

    def test_placement_narrows_a_single_term(self):
        # Appending a new term instead would let the pod onto GPUs outside zone-a.
        affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone-a"]}]}]}}}
        pod = make_pod("team-excl", {GPU: "1"}, affinity=affinity)
        self.assert_placed(pod, "excl", {"a100-exclusive-1"})

    def test_match_fields_only_term_gets_match_expressions(self):
        affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": ["a100-exclusive-2"]}]}]}}}
        pod = make_pod("team-excl", {GPU: "1"}, affinity=affinity)
        final, _, _ = self.assert_placed(pod, "excl", {"a100-exclusive-2"})
        self.assertEqual(required_terms(final)[0]["matchFields"],
                         affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                         ["nodeSelectorTerms"][0]["matchFields"])

    def test_match_fields_term_on_cpu_node_is_not_widened(self):
        affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["cpu-1"]}]},
                {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                                       "values": ["zone-b"]}]}]}}}
        pod = make_pod("team-excl", {GPU: "1"}, affinity=affinity)
        self.assert_placed(pod, "excl", {"a100-exclusive-2"})

    def test_preferred_terms_and_pod_affinity_untouched(self):
        affinity = {
            "nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "preference": {"matchExpressions": [
                    {"key": "topology.kubernetes.io/zone", "operator": "In",
                     "values": ["zone-b"]}]}}]},
            "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": "topology.kubernetes.io/zone",
                 "labelSelector": {"matchLabels": {"app": "cache"}}}]},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {
                    "topologyKey": "kubernetes.io/hostname",
                    "labelSelector": {"matchLabels": {"app": "train"}}}}]},
        }
        pod = make_pod("team-excl", {GPU: "1"}, affinity=affinity)
        final, _, _ = self.assert_placed(pod, "excl", self.EXCL_NODES)
        for key in ("podAffinity", "podAntiAffinity"):
            self.assertEqual(final["spec"]["affinity"][key], affinity[key])
        preferred = "preferredDuringSchedulingIgnoredDuringExecution"
        self.assertEqual(final["spec"]["affinity"]["nodeAffinity"][preferred],
                         affinity["nodeAffinity"][preferred])

    def test_existing_term_with_both_expressions_and_fields(self):
        affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{
                "matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In",
                                      "values": ["amd64"]}],
                "matchFields": [{"key": "metadata.name", "operator": "NotIn",
                                 "values": ["a100-exclusive-1"]}]}]}}}
        pod = make_pod("team-excl", {GPU: "1"}, affinity=affinity)
        self.assert_placed(pod, "excl", {"a100-exclusive-2"})

    def test_own_node_selector_kept(self):
        pod = make_pod("team-excl", {GPU: "1"},
                       node_selector={"topology.kubernetes.io/zone": "zone-b"})
        final, _, _ = self.assert_placed(pod, "excl", {"a100-exclusive-2"})
        self.assertEqual(final["spec"]["nodeSelector"], {"topology.kubernetes.io/zone": "zone-b"})

    def test_node_selector_on_an_allowed_product(self):
        pod = make_pod("team-excl", {GPU: "1"}, node_selector={PRODUCT_LABEL: A100})
        self.assert_placed(pod, "excl", self.EXCL_NODES)

    def test_reinvocation_after_another_webhook_adds_a_term(self):
        # With reinvocationPolicy IfNeeded the apiserver calls /mutate again after a later
        # webhook changed the pod; a term that webhook ORed in must be narrowed too.
        final, _, _ = self.client.admit(make_pod("team-excl", {GPU: "1"}))
        changed = copy.deepcopy(final)
        required_terms(changed).append({"matchExpressions": [
            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]})
        again, _, _ = self.client.admit(changed)
        exprs = expected_placement("excl", [GPU])
        for term in required_terms(again):
            for e in exprs:
                self.assertIn(e, term["matchExpressions"])
        self.assert_nodes(again, self.EXCL_NODES)

    def test_mutation_is_deterministic(self):
        pod = make_pod("ml-research", {GPU: "1", MIG1: "1"}, labels={"a": "b"},
                       tolerations=apiserver.DEFAULT_TOLERATIONS + [DEDICATED])
        first = self.client.review("/mutate", pod).answer["response"]
        second = self.client.review("/mutate", copy.deepcopy(pod)).answer["response"]
        self.assertIn("patch", first)
        self.assertEqual(first["patch"], second["patch"], "the same pod gave different patches")


# ---------------------------------------------------------------------------------------------
# Denials
# ---------------------------------------------------------------------------------------------


class DenialTest(AdmissionCase):
    def test_namespace_of_no_tenant(self):
        self.assert_denied(make_pod("default", {GPU: "1"}), "default")

    def test_service_account_must_match_whole_name(self):
        self.assert_denied(make_pod("team-excl", {GPU: "1"}, service_account="xtrainer-1"),
                           "xtrainer-1", "trainer-.*")

    def test_service_account_with_suffix_refused(self):
        self.assert_denied(make_pod("team-excl", {GPU: "1"}, service_account="notebook-2"),
                           "notebook-2", "notebook")

    def test_allowed_service_accounts(self):
        for sa in ("trainer-1", "trainer-bert-large", "notebook"):
            with self.subTest(service_account=sa):
                self.client.admit(make_pod("team-excl", {GPU: "1"}, service_account=sa))

    def test_empty_service_account_is_default(self):
        self.assert_denied(make_pod("team-excl", {GPU: "1"}, service_account=None), "default")

    def test_shared_resource_for_exclusive_tenant(self):
        self.assert_denied(make_pod("team-excl", {SHARED: "1"}), SHARED, "exclusive")

    def test_mig_resource_for_tenant_without_mig(self):
        self.assert_denied(make_pod("team-excl", {MIG1: "1"}), MIG1)

    def test_mig_profile_not_allowed(self):
        self.assert_denied(make_pod("team-mig", {MIG3: "1"}), "3g.40gb", "1g.10gb")

    def test_shared_mig_without_time_slicing(self):
        self.assert_denied(make_pod("team-mig", {MIG1_SHARED: "1"}), MIG1_SHARED)

    def test_shared_mig_profile_not_allowed(self):
        self.assert_denied(make_pod("team-mig", {MIG3_SHARED: "1"}), MIG3_SHARED)

    def test_mig_for_time_slicing_tenant(self):
        self.assert_denied(make_pod("team-ts", {MIG1: "1"}), MIG1)

    def test_requirements_with_empty_intersection(self):
        # nvidia.com/gpu for time-slicing wants the -SHARED product, gpu.shared the plain one.
        self.assert_denied(make_pod("team-ts", {GPU: "1", SHARED: "1"}))

    def test_fractional_quantity(self):
        self.assert_denied(make_pod("team-ts", {GPU: "0.5"}), ("time-slicing", "mig"))

    def test_milli_quantity(self):
        self.assert_denied(make_pod("team-ts", {GPU: "500m"}), ("time-slicing", "mig"))

    def test_invalid_quantity(self):
        self.assert_denied(make_pod("team-excl", {GPU: "lots"}), GPU, code=(400, 403))

    def test_requests_differ_from_limits(self):
        c = container(limits={GPU: "2"}, requests={GPU: "1"})
        self.assert_denied(make_pod("team-excl", containers=[c]), GPU)

    def test_over_max_gpus_per_pod(self):
        self.assert_denied(make_pod("team-excl", {GPU: "5"}), GPU, "4")

    def test_at_max_gpus_per_pod(self):
        self.assert_placed(make_pod("team-excl", {GPU: "4"}), "excl",
                           {"a100-exclusive-1", "a100-exclusive-2"})

    def test_over_quota_ceiling(self):
        self.assert_denied(make_pod("team-quota", {GPU: "3"}), GPU, "2")

    def test_at_quota_ceiling(self):
        self.assert_placed(make_pod("team-quota", {MIG1: "14"}), "quota", {"h100-mig-mixed"})

    def test_over_quota_ceiling_mig(self):
        self.assert_denied(make_pod("team-quota", {MIG1: "15"}), MIG1, "14")

    def test_resource_missing_from_quota_has_ceiling_zero(self):
        self.assert_denied(make_pod("team-quota", {MIG3: "1"}), MIG3)

    def test_node_selector_pins_other_product(self):
        self.assert_denied(make_pod("team-excl", {GPU: "1"}, node_selector={PRODUCT_LABEL: V100}),
                           V100)

    def test_required_affinity_pins_other_product(self):
        affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": PRODUCT_LABEL, "operator": "In", "values": [H100]}]}]}}}
        self.assert_denied(make_pod("team-excl", {GPU: "1"}, affinity=affinity), H100)

    def test_node_name_set(self):
        self.assert_denied(make_pod("team-excl", {GPU: "1"}, node_name="a100-exclusive-1"),
                           "nodeName")

    def test_validate_without_mutation(self):
        pod = make_pod("team-excl", {GPU: "1"})
        ex = self.client.review("/validate", pod)
        response = ex.answer["response"]
        self.assertFalse(response["allowed"], "/validate admitted a GPU pod /mutate never saw")
        self.assertEqual(response["status"]["code"], 403)
        self.assertTrue(has_text(response["status"]["message"],
                                 ("toleration", "placement", "affinity", "mutat")),
                        response["status"]["message"])

    def test_validate_with_placement_undone(self):
        final, _, _ = self.client.admit(make_pod("team-excl", {GPU: "1"}))
        undone = copy.deepcopy(final)
        del undone["spec"]["affinity"]
        ex = self.client.review("/validate", undone)
        response = ex.answer["response"]
        self.assertFalse(response["allowed"], "/validate admitted a GPU pod with the "
                         "toleration but without the placement")
        self.assertEqual(response["status"]["code"], 403)

    def test_validate_with_placement_widened(self):
        # A second term ORed in by hand lets the pod onto any tolerated node.
        final, _, _ = self.client.admit(make_pod("team-excl", {GPU: "1"}))
        widened = copy.deepcopy(final)
        required_terms(widened).append({"matchExpressions": [
            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]})
        self.assertIn("v100-exclusive", apiserver.schedulable_nodes(widened, NODES))
        ex = self.client.review("/validate", widened)
        self.assertFalse(ex.answer["response"]["allowed"],
                         "/validate admitted a GPU pod whose placement was widened")

    def test_unreadable_object(self):
        pod = make_pod("team-excl", {GPU: "1"})
        pod["spec"]["containers"] = "not a list"
        ex = self.client.review("/validate", pod)
        response = ex.answer["response"]
        self.assertFalse(response["allowed"])
        self.assertEqual(response["status"]["code"], 400)


# ---------------------------------------------------------------------------------------------
# Effective amounts
# ---------------------------------------------------------------------------------------------


class AmountTest(AdmissionCase):
    """The excl tenant caps each GPU resource at 4 per pod, which shows how the server adds up."""

    EXCL_NODES = {"a100-exclusive-1", "a100-exclusive-2"}

    def pod(self, containers, init=None):
        return make_pod("team-excl", containers=containers, init_containers=init)

    def test_containers_are_summed(self):
        self.assert_denied(self.pod([container("a", {GPU: "2"}), container("b", {GPU: "3"})]),
                           GPU)

    def test_containers_summed_within_cap(self):
        self.assert_placed(self.pod([container("a", {GPU: "2"}), container("b", {GPU: "2"})]),
                           "excl", self.EXCL_NODES)

    def test_sidecars_are_added(self):
        init = [container("side", {GPU: "3"}, restart_policy="Always")]
        self.assert_denied(self.pod([container("a", {GPU: "2"})], init), GPU)

    def test_sidecars_within_cap(self):
        init = [container("side", {GPU: "2"}, restart_policy="Always")]
        self.assert_placed(self.pod([container("a", {GPU: "2"})], init), "excl", self.EXCL_NODES)

    def test_largest_regular_init_container_counts(self):
        init = [container("init", {GPU: "5"})]
        self.assert_denied(self.pod([container("a", {GPU: "1"})], init), GPU)

    def test_regular_init_containers_are_not_summed(self):
        init = [container("i1", {GPU: "3"}), container("i2", {GPU: "3"})]
        self.assert_placed(self.pod([container("a", {GPU: "2"})], init), "excl", self.EXCL_NODES)

    def test_gpu_only_in_an_init_container(self):
        init = [container("init", {GPU: "1"})]
        self.assert_placed(self.pod([container("a", {"cpu": "1"})], init), "excl",
                           self.EXCL_NODES)

    def test_init_container_after_a_sidecar_counts_both(self):
        init = [container("side", {GPU: "2"}, restart_policy="Always"),
                container("init", {GPU: "3"})]
        self.assert_denied(self.pod([container("a", {GPU: "1"})], init), GPU)

    def test_init_container_before_a_sidecar(self):
        init = [container("init", {GPU: "3"}),
                container("side", {GPU: "2"}, restart_policy="Always")]
        self.assert_placed(self.pod([container("a", {GPU: "1"})], init), "excl", self.EXCL_NODES)

    def test_limits_only(self):
        self.assert_placed(self.pod([container("a", limits={GPU: "3"})]), "excl",
                           self.EXCL_NODES)

    def test_equal_requests_and_limits(self):
        self.assert_placed(self.pod([container("a", limits={GPU: "3"}, requests={GPU: "3"})]),
                           "excl", self.EXCL_NODES)

    def test_requests_only_count(self):
        self.assert_placed(self.pod([container("a", requests={GPU: "2"})]), "excl",
                           self.EXCL_NODES)

    def test_requests_only_over_cap(self):
        self.assert_denied(self.pod([container("a", requests={GPU: "5"})]), GPU)

    def test_zero_is_no_request(self):
        self.assert_untouched(self.pod([container("a", limits={GPU: "0", "cpu": "1"})]))

    def test_zero_outside_any_tenant(self):
        self.assert_untouched(make_pod("default", {GPU: "0"}))


# ---------------------------------------------------------------------------------------------
# Pods without GPUs, exempt namespaces
# ---------------------------------------------------------------------------------------------


class NonGpuTest(AdmissionCase):
    def test_plain_pod_in_tenant_namespace(self):
        self.assert_untouched(make_pod("team-excl", service_account="anyone"))

    def test_plain_pod_outside_any_tenant(self):
        self.assert_untouched(make_pod("default", service_account=None))

    def test_plain_pod_with_other_tolerations(self):
        self.assert_untouched(make_pod("default", tolerations=apiserver.DEFAULT_TOLERATIONS
                                       + [DEDICATED]))

    def check_toleration_refused(self, toleration):
        pod = make_pod("default", tolerations=apiserver.DEFAULT_TOLERATIONS + [toleration])
        ex = self.client.review("/mutate", pod)
        self.assertIsNone(ex.patch, "a pod without GPUs was mutated")
        ex = self.client.review("/validate", pod)
        response = ex.answer["response"]
        self.assertFalse(response["allowed"], f"a pod without GPUs may tolerate {toleration}")
        self.assertEqual(response["status"]["code"], 403)
        self.assertTrue(has_text(response["status"]["message"], ("has-gpu", "toleration")),
                        response["status"]["message"])

    def test_gpu_toleration_without_gpu(self):
        self.check_toleration_refused(dict(HAS_GPU))

    def test_gpu_toleration_of_every_effect_without_gpu(self):
        self.check_toleration_refused({"key": "has-gpu", "operator": "Exists"})

    def test_tolerate_everything_without_gpu(self):
        self.check_toleration_refused({"operator": "Exists"})

    def test_tolerate_every_no_schedule_taint_without_gpu(self):
        self.check_toleration_refused({"operator": "Exists", "effect": "NoSchedule"})

    def test_gpu_toleration_without_gpu_in_tenant_namespace(self):
        pod = make_pod("team-excl", tolerations=[dict(HAS_GPU)])
        ex = self.client.review("/validate", pod)
        self.assertFalse(ex.answer["response"]["allowed"])

    def test_exempt_namespace_with_gpus(self):
        self.assert_untouched(make_pod("kube-system", {GPU: "1"}, service_account="anyone"))

    def test_exempt_namespace_fractional_and_tolerating(self):
        self.assert_untouched(make_pod("gpu-operator", {GPU: "0.5"},
                                       tolerations=[{"operator": "Exists"}]))


# ---------------------------------------------------------------------------------------------
# Updates, deletes and other kinds
# ---------------------------------------------------------------------------------------------


class UpdateTest(AdmissionCase):
    def update(self, old, new):
        return self.client.review("/validate", new, operation="UPDATE", old=old)

    def test_label_change_on_admitted_gpu_pod(self):
        final, _, _ = self.client.admit(make_pod("team-excl", {GPU: "1"}))
        new = copy.deepcopy(final)
        new["metadata"]["labels"]["stage"] = "done"
        self.assertTrue(self.update(final, new).answer["response"]["allowed"])

    def test_label_change_on_gpu_pod_created_before_the_webhook(self):
        old = make_pod("team-excl", {GPU: "1"}, service_account="legacy")
        new = copy.deepcopy(old)
        new["metadata"]["labels"] = {"stage": "done"}
        self.assertTrue(self.update(old, new).answer["response"]["allowed"])

    def test_finalizer_removal_on_old_pod(self):
        old = make_pod("default", {GPU: "1"})
        old["metadata"]["finalizers"] = ["batch.kubernetes.io/job-tracking"]
        new = copy.deepcopy(old)
        new["metadata"]["finalizers"] = []
        self.assertTrue(self.update(old, new).answer["response"]["allowed"])

    def test_adding_gpu_toleration_to_pod_without_gpu(self):
        old = make_pod("team-excl")
        new = copy.deepcopy(old)
        new["spec"]["tolerations"].append(dict(HAS_GPU))
        response = self.update(old, new).answer["response"]
        self.assertFalse(response["allowed"], "an update gave a pod without GPUs the GPU "
                         "toleration")
        self.assertEqual(response["status"]["code"], 403)

    def test_adding_tolerate_everything_to_pod_without_gpu(self):
        old = make_pod("default")
        new = copy.deepcopy(old)
        new["spec"]["tolerations"].append({"operator": "Exists"})
        self.assertFalse(self.update(old, new).answer["response"]["allowed"])

    def test_adding_other_toleration_to_pod_without_gpu(self):
        old = make_pod("default")
        new = copy.deepcopy(old)
        new["spec"]["tolerations"].append(DEDICATED)
        self.assertTrue(self.update(old, new).answer["response"]["allowed"])

    def test_label_change_keeping_an_old_toleration(self):
        old = make_pod("default", tolerations=[dict(HAS_GPU)])
        new = copy.deepcopy(old)
        new["metadata"]["labels"] = {"stage": "done"}
        self.assertTrue(self.update(old, new).answer["response"]["allowed"])

    def test_adding_toleration_to_gpu_pod(self):
        final, _, _ = self.client.admit(make_pod("team-excl", {GPU: "1"}))
        new = copy.deepcopy(final)
        new["spec"]["tolerations"].append({"key": "has-gpu", "operator": "Exists"})
        self.assertTrue(self.update(final, new).answer["response"]["allowed"])

    def test_update_in_exempt_namespace(self):
        old = make_pod("kube-system")
        new = copy.deepcopy(old)
        new["spec"]["tolerations"].append({"operator": "Exists"})
        self.assertTrue(self.update(old, new).answer["response"]["allowed"])

    def test_delete(self):
        old = make_pod("team-excl", {GPU: "1"}, service_account="intruder")
        for endpoint in ("/mutate", "/validate"):
            ex = self.client.review(endpoint, None, operation="DELETE", old=old)
            self.assertTrue(ex.answer["response"]["allowed"], endpoint)
            self.assertIsNone(ex.patch)

    def test_other_kind(self):
        cm = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "settings", "namespace": "team-excl"},
              "data": {"nvidia.com/gpu": "8"}}
        self.assert_untouched(cm, kind={"group": "", "version": "v1", "kind": "ConfigMap"},
                              resource={"group": "", "version": "v1", "resource": "configmaps"})


# ---------------------------------------------------------------------------------------------
# Modes and warnings
# ---------------------------------------------------------------------------------------------


def as_if_in(text, tenant, namespace):
    """text from the excl tenant rewritten as if it came from another tenant of the same shape."""
    return re.sub(r"\bexcl\b", tenant, text.replace("team-excl", namespace))


class ModeTest(AdmissionCase):
    def enforce_message(self, pod):
        return self.assert_denied(pod)

    def check_warning_starts_with_reason(self, warnings, reason):
        for w in warnings:
            cut = re.sub(r"(\.\.\.|…)$", "", w)
            if reason.startswith(cut) and len(cut) >= min(len(reason), 40):
                return
        self.fail(f"no warning starts with the reason {reason!r}: {warnings!r}")

    def test_warn_mode_allows_and_warns_with_the_reason(self):
        reason = self.enforce_message(make_pod("team-excl", {GPU: "1"}, service_account="intruder"))
        pod = make_pod("team-warn", {GPU: "1"}, service_account="intruder")
        _, mutated, validated = self.client.admit(pod)
        self.check_warning_starts_with_reason(all_warnings(mutated, validated),
                                              as_if_in(reason, "warn", "team-warn"))

    def test_warn_mode_still_mutates(self):
        pod = make_pod("team-warn", {GPU: "5"}, service_account="intruder")
        self.assert_placed(pod, "warn", {"a100-exclusive-1", "a100-exclusive-2"})

    def test_warn_mode_unusable_resource_left_alone(self):
        pod = make_pod("team-warn", {SHARED: "1"})
        mutate = self.client.review("/mutate", pod)
        self.assertTrue(mutate.answer["response"]["allowed"])
        self.assertIsNone(mutate.patch, "a pod whose resources the tenant cannot use was "
                          "mutated")
        validate = self.client.review("/validate", pod).answer["response"]
        self.assertTrue(validate["allowed"])
        warnings = all_warnings(mutate.answer["response"], validate)
        self.assertTrue(any(SHARED in w for w in warnings), warnings)

    def test_warn_mode_node_name(self):
        reason = self.enforce_message(make_pod("team-excl", {GPU: "1"}, node_name="cpu-1"))
        pod = make_pod("team-warn", {GPU: "1"}, node_name="cpu-1")
        _, mutated, validated = self.client.admit(pod)
        self.check_warning_starts_with_reason(all_warnings(mutated, validated),
                                              as_if_in(reason, "warn", "team-warn"))

    def test_audit_mode_allows_silently_and_logs(self):
        pod = make_pod("team-audit", {GPU: "1"}, service_account="intruder")
        final, mutated, validated = self.assert_placed(
            pod, "audit", {"a100-exclusive-1", "a100-exclusive-2"})
        self.assertFalse(all_warnings(mutated, validated), "audit mode warned the user")
        uids = [ex.review["request"]["uid"] for ex in self.client.transcript]
        # The namespace alone puts "audit" on every line; the reason names the service account.
        line = SERVER.wait_for_stderr(
            lambda l: any(u in l for u in uids) and "intruder" in l)
        self.assertIsNotNone(line, "no log line with the request uid and the reason on "
                             "stderr:\n" + SERVER.stderr()[-3000:])
        self.assertNotIn("nvcr.io", line, "the log line carries the object's contents")


class WarningTest(AdmissionCase):
    def replica_warnings(self, responses):
        return [w for w in all_warnings(*responses) if "replica" in w.lower()]

    def test_several_shared_replicas(self):
        _, m, v = self.client.admit(make_pod("team-ts", {SHARED: "2"}))
        self.assertTrue(self.replica_warnings((m, v)), all_warnings(m, v))

    def test_several_gpus_where_tenant_shares(self):
        _, m, v = self.client.admit(make_pod("team-ts", {GPU: "2"}))
        self.assertTrue(self.replica_warnings((m, v)), all_warnings(m, v))

    def test_several_gpus_where_tenant_may_use_mps(self):
        _, m, v = self.client.admit(make_pod("team-mps", {GPU: "3"}))
        self.assertTrue(self.replica_warnings((m, v)), all_warnings(m, v))

    def test_several_gpus_where_tenant_may_also_share(self):
        _, m, v = self.client.admit(make_pod("ml-research", {GPU: "2"}))
        self.assertTrue(self.replica_warnings((m, v)), all_warnings(m, v))

    def test_sidecar_replicas_add_up(self):
        pod = apiserver.load_yaml(apiserver.data_path("pods/inference-shared.yaml"))
        _, m, v = self.client.admit(pod)
        self.assertTrue(self.replica_warnings((m, v)), all_warnings(m, v))

    def test_one_shared_replica(self):
        _, m, v = self.client.admit(make_pod("team-ts", {SHARED: "1"}))
        self.assertFalse(all_warnings(m, v))

    def test_several_exclusive_gpus(self):
        _, m, v = self.client.admit(make_pod("team-excl", {GPU: "2"}))
        self.assertFalse(all_warnings(m, v))

    def test_several_mig_slices(self):
        _, m, v = self.client.admit(make_pod("team-mig", {MIG1: "2"}))
        self.assertFalse(all_warnings(m, v))


if __name__ == "__main__":
    unittest.main(verbosity=2)
