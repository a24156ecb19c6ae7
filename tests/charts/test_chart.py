#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Tests the Helm chart with the real Helm: lint --strict and template for every TLS choice, a
custom release name and namespace, and values the schema must refuse; each rendering goes through
check_render.py.

Environment: GTW_BINARY (for `gpu-tenancy-webhook lint` on the rendered policy), GTW_HELM (a helm
binary to use instead of the one scripts/fetch-helm provides).
"""

import base64
import copy
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHART = os.path.join(ROOT, "charts", "gpu-tenancy-webhook")
EXAMPLE_POLICY = os.path.join(ROOT, "policy", "examples", "policy.yaml")
DRA_POLICY = os.path.join(ROOT, "tests", "data", "good-dra-policy.yaml")
SCHEMA_ERROR = "values don't meet the specifications of the schema"

sys.path.insert(0, HERE)
import check_render  # noqa: E402

passed = failed = 0


def report(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok - " + name)
    else:
        failed += 1
        print("FAIL - " + name)
        for line in detail.strip().splitlines():
            print("    " + line)
    return ok


def find_helm():
    if os.environ.get("GTW_HELM"):
        return os.environ["GTW_HELM"]
    r = subprocess.run([os.path.join(ROOT, "scripts", "fetch-helm")], capture_output=True,
                       text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        sys.exit("cannot get helm through scripts/fetch-helm")
    return r.stdout.strip().splitlines()[-1]


def merge(base, over):
    """Merges values the way Helm does: mappings merge key by key, everything else replaces."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class Helm:
    def __init__(self, path, tmp):
        self.path = path
        self.tmp = tmp
        self.count = 0
        with open(os.path.join(CHART, "values.yaml")) as f:
            self.defaults = yaml.safe_load(f)

    def values_file(self, overrides):
        self.count += 1
        path = os.path.join(self.tmp, "values-%d.yaml" % self.count)
        with open(path, "w") as f:
            yaml.safe_dump(overrides, f)
        return path

    def run(self, args):
        # No kubeconfig: lint and template must work with no cluster in reach.
        env = dict(os.environ, KUBECONFIG=os.path.join(self.tmp, "no-kubeconfig"),
                   HELM_CACHE_HOME=os.path.join(self.tmp, "cache"),
                   HELM_CONFIG_HOME=os.path.join(self.tmp, "config"),
                   HELM_DATA_HOME=os.path.join(self.tmp, "data"))
        return subprocess.run([self.path] + args, capture_output=True, text=True, env=env)

    def lint(self, name, overrides):
        r = self.run(["lint", "--strict", CHART, "-f", self.values_file(overrides)])
        report(r.returncode == 0, "helm lint --strict: " + name, r.stdout + r.stderr)

    def template(self, name, release, namespace, overrides, extra=()):
        """Renders and checks; returns the rendered text, or None."""
        args = ["template", release, CHART, "-n", namespace, "-f", self.values_file(overrides)]
        r = self.run(args + list(extra))
        if not report(r.returncode == 0, "helm template: " + name, r.stderr):
            return None
        values = merge(self.defaults, overrides)
        problems = check_render.check_render(r.stdout, release, namespace, values,
                                             os.environ.get("GTW_BINARY"))
        report(not problems, "rendered output checks: " + name, "\n".join(problems))
        return r.stdout

    def refuse(self, name, overrides, want):
        """The schema (or the chart) must refuse these values, with Helm's error naming want."""
        r = self.run(["template", "x", CHART, "-f", self.values_file(overrides)])
        ok = r.returncode != 0 and want in r.stderr
        report(ok, "refused: " + name, "exit %d\n%s" % (r.returncode, r.stderr))


def make_ca_bundle(tmp):
    """A throwaway CA, made with the openssl command, as a user-provided caBundle."""
    key, crt = os.path.join(tmp, "user-ca.key"), os.path.join(tmp, "user-ca.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=user CA", "-days", "1",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    with open(crt, "rb") as f:
        return base64.b64encode(f.read()).decode()


LOOKUP = '{{- $old := lookup "v1" "Secret" .Release.Namespace $caName }}'


def check_upgrade(h, tmp):
    """The upgrade path of tls.mode generated, which needs a cluster for Helm's lookup: a copy of
    the chart whose lookup returns a Secret given in the values shows that an upgrade keeps the
    CA and that rotateCA trusts the old CA and the new one."""
    chart = os.path.join(tmp, "chart-upgrade")
    shutil.copytree(CHART, chart)
    path = os.path.join(chart, "templates", "webhooks.yaml")
    with open(path) as f:
        text = f.read()
    if not report(LOOKUP in text, "upgrade path: the chart looks the CA Secret up"):
        return
    with open(path, "w") as f:
        f.write(text.replace(LOOKUP, "{{- $old := .Values.testExistingCA | default dict }}"))

    def render(*extra):
        r = h.run(["template", "gpu-tenancy-webhook", chart, "-n", "gpu-tenancy-system",
                   "--skip-schema-validation", "--show-only", "templates/webhooks.yaml"]
                  + list(extra))
        if r.returncode != 0:
            report(False, "upgrade path: helm template", r.stderr)
            return None
        docs = [d for d in yaml.safe_load_all(r.stdout) if d]
        ca = [d for d in docs if d["metadata"]["name"] == "gpu-tenancy-webhook-ca"][0]
        tls = [d for d in docs if d["metadata"]["name"] == "gpu-tenancy-webhook-tls"][0]
        cfg = [d for d in docs if d["kind"] == "ValidatingWebhookConfiguration"][0]
        return (ca["data"], base64.b64decode(cfg["webhooks"][0]["clientConfig"]["caBundle"]),
                {k: base64.b64decode(v) for k, v in tls["data"].items()})

    first = render()
    if first is None:
        return
    first_tls = first[2]["tls.crt"]
    existing = h.values_file({"testExistingCA": {"data": first[0]}})
    old_ca = base64.b64decode(first[0]["ca.crt"])
    again = render("-f", existing)
    if again is not None:
        report(again[0] == first[0] and again[1] == old_ca,
               "upgrade path: an upgrade keeps the CA and the caBundle")
        p = check_render.Problems()
        host = "gpu-tenancy-webhook.gpu-tenancy-system.svc"
        check_render.check_chain(p, again[1], again[2]["tls.crt"], again[2]["tls.key"], host,
                                 ["gpu-tenancy-webhook", "gpu-tenancy-webhook.gpu-tenancy-system",
                                  host, host + ".cluster.local"], "upgraded Secret")
        report(not p.items and again[2]["tls.crt"] != first_tls,
               "upgrade path: the new serving certificate is signed by the kept CA",
               "\n".join(p.items))
    rotated = render("-f", existing, "--set", "tls.generated.rotateCA=true")
    if rotated is not None:
        new_ca = base64.b64decode(rotated[0]["ca.crt"])
        report(new_ca != old_ca and rotated[1] == new_ca + old_ca,
               "upgrade path: rotateCA makes a new CA and trusts both until the next upgrade")


def annotation(text, key):
    for d in yaml.safe_load_all(text):
        if d and d.get("kind") == "Deployment":
            return d["spec"]["template"]["metadata"]["annotations"].get(key)
    return None


def main():
    helm_path = find_helm()
    r = subprocess.run([helm_path, "version", "--short"], capture_output=True, text=True)
    print("# helm %s (%s)" % (r.stdout.strip(), helm_path))
    if not os.environ.get("GTW_BINARY"):
        print("# GTW_BINARY is not set: the rendered policy is not linted")

    with open(EXAMPLE_POLICY) as f:
        example_policy = yaml.safe_load(f)
    with open(DRA_POLICY) as f:
        dra_policy = yaml.safe_load(f)

    with tempfile.TemporaryDirectory() as tmp:
        h = Helm(helm_path, tmp)
        ca_bundle = make_ca_bundle(tmp)
        cert_manager = {"tls": {"mode": "certManager"}}
        user_secret = {"tls": {"mode": "secret",
                               "secret": {"name": "my-webhook-tls", "caBundle": ca_bundle}}}

        # Lint with every TLS choice.
        h.lint("default values (tls generated)", {})
        h.lint("tls certManager", cert_manager)
        h.lint("tls secret", user_secret)
        h.lint("example policy with quotas", {"policy": example_policy})
        h.lint("policy with DRA settings and quotas", {"policy": dra_policy})

        # Render and check.
        default = h.template("default values", "gpu-tenancy-webhook", "gpu-tenancy-system", {})
        h.template("tls certManager", "gpu-tenancy-webhook", "gpu-tenancy-system", cert_manager,
                   ["--api-versions", "cert-manager.io/v1"])
        h.template("tls certManager with a ClusterIssuer", "gpu-tenancy-webhook",
                   "gpu-tenancy-system",
                   {"tls": {"mode": "certManager", "certManager": {
                       "issuerRef": {"name": "corp-ca", "kind": "ClusterIssuer",
                                     "group": "cert-manager.io"}}}},
                   ["--api-versions", "cert-manager.io/v1"])
        h.template("tls secret", "gpu-tenancy-webhook", "gpu-tenancy-system", user_secret)
        custom = {"policy": example_policy,
                  "webhook": {"failurePolicy": "Ignore", "timeoutSeconds": 10},
                  "metrics": {"serviceMonitor": {"enabled": True}},
                  "networkPolicy": {"metricsFrom": [
                      {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]}}
        h.template("custom release name and namespace, example policy", "team-gpu", "platform",
                   custom)
        h.template("fullnameOverride", "x", "gpu", {"fullnameOverride": "gtw"})
        # DRA: settings.dra, tenants' deviceClasses and adminAccess, DRA quota keys rendered.
        h.template("policy with DRA settings and quotas", "gpu-tenancy-webhook",
                   "gpu-tenancy-system", {"policy": dra_policy})
        no_settings = copy.deepcopy(example_policy)
        del no_settings["settings"]
        h.template("policy without settings (default exempt namespaces)", "gpu-tenancy-webhook",
                   "gpu-tenancy-system", {"policy": no_settings})
        h.template("resourceQuotas.create false", "gpu-tenancy-webhook", "gpu-tenancy-system",
                   {"policy": example_policy, "resourceQuotas": {"create": False},
                    "podDisruptionBudget": {"enabled": False},
                    "networkPolicy": {"enabled": False}})

        # A policy edit changes the pod template, so `helm upgrade` rolls the pods.
        edited = h.run(["template", "gpu-tenancy-webhook", CHART, "-n", "gpu-tenancy-system",
                        "--set", "policy.settings.mode=warn"])
        before = annotation(default, "checksum/policy") if default else None
        after = annotation(edited.stdout, "checksum/policy") if edited.returncode == 0 else None
        report(before and after and before != after, "a policy edit changes checksum/policy")

        check_upgrade(h, tmp)

        # Values the schema must refuse, with Helm's own error.
        typo = copy.deepcopy(example_policy)
        typo["tenants"][0]["namspaces"] = typo["tenants"][0].pop("namespaces")
        h.refuse("a typo in a tenant's key", {"policy": typo}, SCHEMA_ERROR)
        typo = copy.deepcopy(example_policy)
        typo["settings"]["exemptNamespace"] = typo["settings"].pop("exemptNamespaces")
        h.refuse("a typo in the policy's settings", {"policy": typo}, SCHEMA_ERROR)
        wrong = copy.deepcopy(example_policy)
        wrong["tenants"][0]["maxGpusPerPod"] = "4"
        h.refuse("a string for maxGpusPerPod", {"policy": wrong}, SCHEMA_ERROR)
        wrong = copy.deepcopy(example_policy)
        wrong["tenants"][0]["quota"]["nvidia.com/gpu"] = 1.5
        h.refuse("a fractional quota", {"policy": wrong}, SCHEMA_ERROR)
        wrong = copy.deepcopy(example_policy)
        wrong["tenants"][0]["quota"]["limits.nvidia.com/gpu"] = 1
        h.refuse("a quota key that is no GPU resource", {"policy": wrong}, SCHEMA_ERROR)
        wrong = copy.deepcopy(example_policy)
        wrong["tenants"][1]["sharing"] = ["time-slice"]
        h.refuse("an unknown sharing strategy", {"policy": wrong}, SCHEMA_ERROR)
        wrong = copy.deepcopy(example_policy)
        del wrong["tenants"][0]["migProfiles"]
        h.refuse("mig without migProfiles", {"policy": wrong}, SCHEMA_ERROR)
        wrong = copy.deepcopy(dra_policy)
        wrong["settings"]["dra"]["deviceClass"] = wrong["settings"]["dra"].pop("deviceClasses")
        h.refuse("a typo in settings.dra", {"policy": wrong}, SCHEMA_ERROR)
        wrong = copy.deepcopy(dra_policy)
        wrong["settings"]["dra"]["deviceClasses"]["gpu.nvidia.com"] = "whole"
        h.refuse("a device class kind that is neither gpu nor mig", {"policy": wrong},
                 SCHEMA_ERROR)
        wrong = copy.deepcopy(dra_policy)
        wrong["tenants"][0]["quota"]["gpu.nvidia.com.deviceclass/devices"] = 1
        h.refuse("a DRA quota key of no known form", {"policy": wrong}, SCHEMA_ERROR)
        wrong = copy.deepcopy(dra_policy)
        wrong["tenants"][0]["adminAccess"] = "yes"
        h.refuse("a string for adminAccess", {"policy": wrong}, SCHEMA_ERROR)
        h.refuse("a string for replicaCount", {"replicaCount": "two"}, SCHEMA_ERROR)
        h.refuse("an unknown top-level value", {"replicas": 3}, SCHEMA_ERROR)
        h.refuse("tls secret without a Secret name",
                 {"tls": {"mode": "secret", "secret": {"caBundle": ca_bundle}}}, SCHEMA_ERROR)
        h.refuse("an unknown TLS choice", {"tls": {"mode": "self-signed"}}, SCHEMA_ERROR)

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
