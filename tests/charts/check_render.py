#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Checks the output of `helm template` for the gpu-tenancy-webhook chart: that it parses, that
names and ports line up, that the TLS material verifies, and that the policy, the quotas, the
security context and the probes are what the chart promises.

Used by test_chart.py; also runs alone:
  check_render.py --release NAME --namespace NS --values VALUES.yaml RENDERED.yaml
"""

import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile

import yaml

CONTAINER_PORT = 8443
POLICY_PATH = "/etc/gpu-tenancy/policy.yaml"
CERT_PATH = "/etc/gpu-tenancy/tls/tls.crt"
KEY_PATH = "/etc/gpu-tenancy/tls/tls.key"
DEFAULT_EXEMPT = ["gpu-operator", "kube-system"]
CLUSTER_SCOPED = {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

VALIDATE_RULES = [
    ([""], ["pods"], ["CREATE", "UPDATE"]),
    (["apps"], ["deployments", "replicasets", "statefulsets", "daemonsets"], ["CREATE", "UPDATE"]),
    (["batch"], ["jobs", "cronjobs"], ["CREATE", "UPDATE"]),
    ([""], ["resourcequotas"], ["CREATE", "UPDATE", "DELETE"]),
    (["resource.k8s.io"], ["resourceclaims", "resourceclaimtemplates"], ["CREATE", "UPDATE"]),
]
MUTATE_RULES = [
    ([""], ["pods"], ["CREATE"]),
    (["resource.k8s.io"], ["resourceclaims", "resourceclaimtemplates"], ["CREATE"]),
]
# DeviceClasses are cluster objects, only warned about: a webhook of their own that never blocks.
DEVICECLASS_WEBHOOK = "validate-deviceclasses.gpu-tenancy.io"
DEVICECLASS_RULES = [(["resource.k8s.io"], ["deviceclasses"], ["CREATE", "UPDATE"])]
DRA_DEVICES_SUFFIX = ".deviceclass.resource.k8s.io/devices"


class Problems:
    """Collects failed checks, each a line naming the object it is about."""

    def __init__(self):
        self.items = []

    def check(self, ok, message):
        if not ok:
            self.items.append(message)
        return ok


def fullname(release, values):
    """Mirrors the chart's gtw.fullname helper."""
    if values.get("fullnameOverride"):
        return values["fullnameOverride"][:52].rstrip("-")
    name = values.get("nameOverride") or "gpu-tenancy-webhook"
    if name in release:
        return release[:52].rstrip("-")
    return ("%s-%s" % (release, name))[:52].rstrip("-")


def load_documents(text, p):
    """Parses every document; returns the non-empty ones."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        p.check(False, "the output is not valid YAML: %s" % e)
        return []
    for d in docs:
        what = "%s %s" % (d.get("kind", "?"), (d.get("metadata") or {}).get("name", "?"))
        p.check(isinstance(d, dict), "a document is not a mapping")
        p.check(isinstance(d.get("apiVersion"), str) and d["apiVersion"],
                "%s: no apiVersion" % what)
        p.check(isinstance(d.get("kind"), str) and d["kind"], "%s: no kind" % what)
        meta = d.get("metadata")
        if not p.check(isinstance(meta, dict) and isinstance(meta.get("name"), str),
                       "%s: no metadata.name" % what):
            continue
        p.check(len(meta["name"]) <= 253 and DNS_SUBDOMAIN.match(meta["name"]),
                "%s: the name is not a DNS subdomain" % what)
        if d.get("kind") not in CLUSTER_SCOPED:
            p.check(isinstance(meta.get("namespace"), str) and meta["namespace"],
                    "%s: no metadata.namespace" % what)
        else:
            p.check("namespace" not in meta, "%s: a cluster-scoped object has a namespace" % what)
    keys = [(d.get("kind"), (d.get("metadata") or {}).get("namespace"),
             (d.get("metadata") or {}).get("name")) for d in docs]
    p.check(len(keys) == len(set(keys)), "two objects have the same kind, namespace and name")
    return docs


def find(docs, kind, name=None, namespace=None):
    return [d for d in docs if d.get("kind") == kind
            and (name is None or d["metadata"]["name"] == name)
            and (namespace is None or d["metadata"].get("namespace") == namespace)]


def selects(selector, labels):
    """True when every label of selector is on labels (and selector is not empty)."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def openssl(args, stdin=None):
    return subprocess.run(["openssl"] + args, input=stdin, capture_output=True)


def check_chain(p, ca_pem, cert_pem, key_pem, host, dns_names, what):
    """Verifies cert_pem against ca_pem for host with openssl, and that key_pem is its key."""
    with tempfile.TemporaryDirectory() as tmp:
        ca, cert, key = (os.path.join(tmp, n) for n in ("ca.crt", "tls.crt", "tls.key"))
        for path, data in ((ca, ca_pem), (cert, cert_pem), (key, key_pem)):
            with open(path, "wb") as f:
                f.write(data)
        r = openssl(["verify", "-CAfile", ca, "-purpose", "sslserver", "-verify_hostname", host,
                     cert])
        p.check(r.returncode == 0, "%s: the caBundle does not verify the serving certificate for "
                "%s: %s" % (what, host, (r.stdout + r.stderr).decode().strip()))
        r = openssl(["x509", "-in", cert, "-noout", "-ext", "subjectAltName"])
        sans = re.findall(r"DNS:([^,\s]+)", r.stdout.decode())
        p.check(sorted(sans) == sorted(dns_names),
                "%s: the SANs are %s, want %s" % (what, sans, dns_names))
        cert_pub = openssl(["x509", "-in", cert, "-noout", "-pubkey"]).stdout
        key_pub = openssl(["pkey", "-in", key, "-pubout"]).stdout
        p.check(cert_pub and cert_pub == key_pub, "%s: tls.key is not the certificate's key" % what)
        r = openssl(["x509", "-in", cert, "-noout", "-text"])
        p.check("TLS Web Server Authentication" in r.stdout.decode(),
                "%s: the serving certificate lacks extendedKeyUsage serverAuth" % what)


def check_webhook(p, wh, kind, path, rules, svc, svc_port, values, skipped, ca_bundle,
                  failure_policy=None, scope="Namespaced"):
    what = "%s webhook %s" % (kind, wh.get("name"))
    failure_policy = failure_policy or values["webhook"]["failurePolicy"]
    p.check(wh.get("admissionReviewVersions") == ["v1"], "%s: admissionReviewVersions" % what)
    p.check(wh.get("sideEffects") == "None", "%s: sideEffects must be None" % what)
    p.check(wh.get("timeoutSeconds") == values["webhook"]["timeoutSeconds"]
            and 1 <= wh["timeoutSeconds"] <= 30, "%s: timeoutSeconds" % what)
    p.check(wh.get("failurePolicy") == failure_policy,
            "%s: failurePolicy is %s" % (what, wh.get("failurePolicy")))
    p.check(wh.get("matchPolicy") == "Equivalent", "%s: matchPolicy must be Equivalent" % what)
    if kind == "MutatingWebhookConfiguration":
        p.check(wh.get("reinvocationPolicy") == "IfNeeded", "%s: reinvocationPolicy" % what)
    cc = wh.get("clientConfig") or {}
    s = cc.get("service") or {}
    p.check(s.get("name") == svc["metadata"]["name"]
            and s.get("namespace") == svc["metadata"]["namespace"],
            "%s: calls Service %s/%s, not the chart's" % (what, s.get("namespace"), s.get("name")))
    p.check(s.get("port") == svc_port, "%s: calls port %s, the Service has %s"
            % (what, s.get("port"), svc_port))
    p.check(s.get("path") == path, "%s: path %s, want %s" % (what, s.get("path"), path))
    p.check("url" not in cc, "%s: must call the Service, not a URL" % what)
    p.check(cc.get("caBundle") == ca_bundle, "%s: caBundle is not the expected one" % what)
    got = [(sorted(r.get("apiGroups", [])), sorted(r.get("resources", [])),
            sorted(r.get("operations", []))) for r in wh.get("rules", [])]
    want = [(sorted(g), sorted(r), sorted(o)) for g, r, o in rules]
    p.check(sorted(got) == sorted(want), "%s: rules are %s, want %s" % (what, got, want))
    for r in wh.get("rules", []):
        p.check(r.get("scope") == scope and r.get("apiVersions") == ["v1"],
                "%s: a rule is not v1 and %s" % (what, scope))
    if scope == "Cluster":
        # A namespaceSelector does not apply to cluster objects; none is written.
        p.check("namespaceSelector" not in wh, "%s: a namespaceSelector on cluster objects" % what)
        return
    sel = (wh.get("namespaceSelector") or {}).get("matchExpressions") or []
    p.check(len(sel) == 1 and sel[0].get("key") == "kubernetes.io/metadata.name"
            and sel[0].get("operator") == "NotIn" and sorted(sel[0].get("values", [])) == skipped,
            "%s: namespaceSelector %s must skip %s" % (what, sel, skipped))


def check_render(text, release, namespace, values, binary=None):
    """Returns the list of problems found in text, the output of helm template."""
    p = Problems()
    docs = load_documents(text, p)
    if not docs:
        p.check(False, "nothing rendered")
        return p.items
    name = fullname(release, values)
    policy = values["policy"]
    tls_mode = values["tls"]["mode"]
    host = "%s.%s.svc" % (name, namespace)
    dns_names = [name, "%s.%s" % (name, namespace), host, host + ".cluster.local"]

    # The Deployment and its pods.
    deps = find(docs, "Deployment")
    if not p.check(len(deps) == 1, "want one Deployment, found %d" % len(deps)):
        return p.items
    dep = deps[0]
    p.check(dep["metadata"]["name"] == name and dep["metadata"]["namespace"] == namespace,
            "Deployment is %s/%s, want %s/%s" % (dep["metadata"]["namespace"],
                                                dep["metadata"]["name"], namespace, name))
    spec = dep["spec"]
    tmpl = spec["template"]
    pod_labels = tmpl["metadata"]["labels"]
    pod = tmpl["spec"]
    p.check(spec.get("replicas") == values["replicaCount"], "Deployment replicas")
    p.check(selects(spec["selector"]["matchLabels"], pod_labels),
            "the Deployment's selector does not select its own pods")
    p.check(any(c.get("topologyKey") == "kubernetes.io/hostname"
                and selects(c["labelSelector"]["matchLabels"], pod_labels)
                for c in pod.get("topologySpreadConstraints", [])),
            "the pods are not spread across nodes")
    ann = tmpl["metadata"].get("annotations") or {}
    p.check(re.fullmatch(r"[0-9a-f]{64}", str(ann.get("checksum/policy", ""))),
            "the pod template has no checksum/policy annotation")

    # Security context.
    psc = pod.get("securityContext") or {}
    p.check(psc.get("runAsNonRoot") is True, "pod securityContext.runAsNonRoot must be true")
    p.check(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0,
            "pod securityContext.runAsUser must be a non-root uid")
    p.check((psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
            "pod seccompProfile must be RuntimeDefault")
    p.check(pod.get("automountServiceAccountToken") is False,
            "the pod must not mount a service account token")
    for k in ("hostNetwork", "hostPID", "hostIPC"):
        p.check(not pod.get(k), "the pod must not use %s" % k)
    containers = pod["containers"]
    if not p.check(len(containers) == 1, "want one container, found %d" % len(containers)):
        return p.items
    c = containers[0]
    csc = c.get("securityContext") or {}
    p.check(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation must be false")
    p.check(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem must be true")
    p.check(not csc.get("privileged"), "the container must not be privileged")
    p.check((csc.get("capabilities") or {}).get("drop") == ["ALL"], "capabilities must drop ALL")
    p.check(not (csc.get("capabilities") or {}).get("add"), "no capability may be added")
    res = c.get("resources") or {}
    for kind in ("requests", "limits"):
        p.check(set((res.get(kind) or {}).keys()) >= {"cpu", "memory"},
                "the container needs cpu and memory %s" % kind)
    p.check(c.get("image") == "%s:%s" % (values["image"]["repository"],
                                          values["image"]["tag"] or "0.1.0"),
            "image is %s" % c.get("image"))

    # The command line, and the ports it listens on.
    args = c.get("args") or []
    want_args = ["serve", "--policy", POLICY_PATH, "--tls-cert", CERT_PATH, "--tls-key", KEY_PATH,
                 "--listen", "0.0.0.0:%d" % CONTAINER_PORT,
                 "--metrics-listen", "0.0.0.0:%d" % values["metrics"]["port"]]
    p.check(args[:len(want_args)] == want_args, "container args are %s" % args)
    ports = {cp["name"]: cp["containerPort"] for cp in c.get("ports", [])}
    p.check(ports.get("https") == CONTAINER_PORT, "no container port https = %d" % CONTAINER_PORT)
    p.check(ports.get("metrics") == values["metrics"]["port"], "no container port metrics")

    def port_number(port):
        return ports.get(port) if isinstance(port, str) else port

    # Probes.
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = (c.get(probe) or {}).get("httpGet") or {}
        p.check(get.get("path") == path and get.get("scheme") == "HTTPS"
                and port_number(get.get("port")) == CONTAINER_PORT,
                "%s must GET %s over HTTPS on port %d, is %s" % (probe, path, CONTAINER_PORT, get))

    # The volume: the policy ConfigMap and the TLS Secret, at the paths the args name.
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    files = {}
    for vname, m in mounts.items():
        v = vols.get(vname)
        if not p.check(v is not None, "volumeMount %s has no volume" % vname):
            continue
        p.check(m.get("readOnly") is True, "volumeMount %s must be read-only" % vname)
        p.check("subPath" not in m, "volumeMount %s uses subPath, which never sees updates" % vname)
        for src in (v.get("projected") or {}).get("sources", []):
            for kind in ("configMap", "secret"):
                if kind in src:
                    for item in src[kind].get("items", []):
                        files[os.path.join(m["mountPath"], item["path"])] = (
                            kind, src[kind]["name"], item["key"])
        for kind in ("configMap", "secret"):
            if kind in v:
                for item in v[kind].get("items", []):
                    files[os.path.join(m["mountPath"], item["path"])] = (
                        kind, v[kind].get("name") or v[kind].get("secretName"), item["key"])
    policy_src = files.get(POLICY_PATH)
    cert_src = files.get(CERT_PATH)
    key_src = files.get(KEY_PATH)
    p.check(policy_src is not None and policy_src[0] == "configMap"
            and policy_src[2] == "policy.yaml", "%s is not mounted from a ConfigMap" % POLICY_PATH)
    p.check(cert_src is not None and cert_src[0] == "secret" and cert_src[2] == "tls.crt",
            "%s is not mounted from a Secret's tls.crt" % CERT_PATH)
    p.check(key_src is not None and key_src[0] == "secret" and key_src[2] == "tls.key"
            and cert_src is not None and key_src[1] == cert_src[1],
            "%s is not mounted from the same Secret's tls.key" % KEY_PATH)
    for v in vols.values():
        mode = (v.get("projected") or v.get("secret") or {}).get("defaultMode")
        p.check(mode is not None and mode & 0o007 == 0,
                "volume %s: the key must not be readable by others (defaultMode %s)"
                % (v["name"], oct(mode) if mode is not None else None))

    # The policy ConfigMap: the values' policy, and valid for the webhook itself.
    if policy_src is not None:
        cms = find(docs, "ConfigMap", policy_src[1], namespace)
        if p.check(len(cms) == 1, "the mounted ConfigMap %s is not rendered" % policy_src[1]):
            text_policy = (cms[0].get("data") or {}).get("policy.yaml")
            if p.check(isinstance(text_policy, str), "ConfigMap %s has no policy.yaml"
                       % policy_src[1]):
                p.check(yaml.safe_load(text_policy) == policy,
                        "the rendered policy differs from the values' policy")
                if binary:
                    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
                        f.write(text_policy)
                        f.flush()
                        r = subprocess.run([binary, "lint", f.name], capture_output=True)
                    p.check(r.returncode == 0, "gpu-tenancy-webhook lint refuses the rendered "
                            "policy: %s" % (r.stdout + r.stderr).decode().strip())

    # The Services.
    svcs = find(docs, "Service", name, namespace)
    if not p.check(len(svcs) == 1, "no Service %s/%s" % (namespace, name)):
        return p.items
    svc = svcs[0]
    p.check(selects(svc["spec"].get("selector"), pod_labels),
            "Service %s does not select the Deployment's pods" % name)
    svc_ports = svc["spec"]["ports"]
    p.check(len(svc_ports) == 1 and port_number(svc_ports[0].get("targetPort")) == CONTAINER_PORT,
            "Service %s does not reach container port %d" % (name, CONTAINER_PORT))
    metrics = find(docs, "Service", name + "-metrics", namespace)
    if p.check(len(metrics) == 1, "no metrics Service"):
        m = metrics[0]
        p.check(selects(m["spec"].get("selector"), pod_labels),
                "the metrics Service does not select the pods")
        p.check([(sp["port"], port_number(sp["targetPort"])) for sp in m["spec"]["ports"]]
                == [(values["metrics"]["port"], values["metrics"]["port"])],
                "the metrics Service does not expose port %d" % values["metrics"]["port"])
    mons = find(docs, "ServiceMonitor")
    if values["metrics"]["serviceMonitor"]["enabled"]:
        p.check(len(mons) == 1 and len(metrics) == 1
                and selects(mons[0]["spec"]["selector"]["matchLabels"],
                            metrics[0]["metadata"]["labels"])
                and mons[0]["spec"]["endpoints"][0]["port"] == "metrics",
                "the ServiceMonitor does not select the metrics Service")
    else:
        p.check(not mons, "a ServiceMonitor is rendered though it is disabled")

    # The ServiceAccount, the PodDisruptionBudget, the NetworkPolicy.
    sa_name = pod.get("serviceAccountName")
    if values["serviceAccount"]["create"]:
        sas = find(docs, "ServiceAccount", sa_name, namespace)
        p.check(len(sas) == 1 and sas[0].get("automountServiceAccountToken") is False,
                "ServiceAccount %s is missing or mounts its token" % sa_name)
    pdbs = find(docs, "PodDisruptionBudget")
    if values["podDisruptionBudget"]["enabled"]:
        p.check(len(pdbs) == 1 and selects(pdbs[0]["spec"]["selector"]["matchLabels"], pod_labels),
                "no PodDisruptionBudget for the pods")
    nps = find(docs, "NetworkPolicy")
    if values["networkPolicy"]["enabled"] and p.check(len(nps) == 1, "no NetworkPolicy"):
        np = nps[0]["spec"]
        p.check(selects(np["podSelector"]["matchLabels"], pod_labels),
                "the NetworkPolicy does not select the pods")
        open_ports = sorted(port_number(pp["port"]) for rule in np.get("ingress", [])
                            for pp in rule.get("ports", []))
        p.check(open_ports == sorted([CONTAINER_PORT, values["metrics"]["port"]]),
                "the NetworkPolicy admits ports %s" % open_ports)
        p.check(all(rule.get("ports") for rule in np.get("ingress", [])),
                "a NetworkPolicy ingress rule admits every port")
        p.check("Ingress" in np.get("policyTypes", []), "the NetworkPolicy has no Ingress type")

    # TLS: where the mounted Secret comes from, and which caBundle the webhooks get.
    secret_name = cert_src[1] if cert_src else None
    ca_bundle = None
    inject = None
    if tls_mode == "generated":
        secrets = find(docs, "Secret", secret_name, namespace)
        if p.check(len(secrets) == 1, "the mounted Secret %s is not rendered" % secret_name):
            data = secrets[0].get("data") or {}
            p.check(secrets[0].get("type") == "kubernetes.io/tls", "Secret type")
            webhooks = find(docs, "ValidatingWebhookConfiguration")
            ca_bundle = webhooks[0]["webhooks"][0]["clientConfig"].get("caBundle") if webhooks \
                else None
            if p.check(ca_bundle and {"tls.crt", "tls.key"} <= set(data),
                       "no caBundle, or the Secret lacks tls.crt and tls.key"):
                check_chain(p, base64.b64decode(ca_bundle), base64.b64decode(data["tls.crt"]),
                            base64.b64decode(data["tls.key"]), host, dns_names,
                            "Secret %s" % secret_name)
        cas = find(docs, "Secret", name + "-ca", namespace)
        p.check(len(cas) == 1 and ca_bundle is not None
                and cas[0]["data"].get("ca.crt") == ca_bundle,
                "the CA Secret %s-ca does not hold the caBundle's CA" % name)
    elif tls_mode == "certManager":
        certs = [d for d in find(docs, "Certificate", namespace=namespace)
                 if d["spec"].get("secretName") == secret_name]
        if p.check(len(certs) == 1, "no cert-manager Certificate produces the mounted Secret %s"
                   % secret_name):
            cert = certs[0]
            inject = "%s/%s" % (namespace, cert["metadata"]["name"])
            p.check(sorted(cert["spec"].get("dnsNames", [])) == sorted(dns_names),
                    "the Certificate's dnsNames are not the Service's")
            p.check("server auth" in cert["spec"].get("usages", []), "Certificate usages")
            ref = cert["spec"]["issuerRef"]
            want_ref = values["tls"]["certManager"]["issuerRef"]
            if want_ref:
                p.check(ref.get("name") == want_ref["name"], "the Certificate's issuerRef")
            else:
                issuers = find(docs, "Issuer", ref.get("name"), namespace)
                if p.check(len(issuers) == 1 and ref.get("kind") == "Issuer",
                           "the Certificate's Issuer %s is not rendered" % ref.get("name")):
                    ca_secret = issuers[0]["spec"].get("ca", {}).get("secretName")
                    ca_certs = [d for d in find(docs, "Certificate", namespace=namespace)
                                if d["spec"].get("secretName") == ca_secret]
                    p.check(len(ca_certs) == 1 and ca_certs[0]["spec"].get("isCA") is True,
                            "no CA Certificate produces the CA Issuer's Secret %s" % ca_secret)
        p.check(not find(docs, "Secret", secret_name), "the Secret is rendered as well")
    elif tls_mode == "secret":
        want_secret = values["tls"]["secret"]["name"]
        p.check(secret_name == want_secret,
                "the mounted Secret is %s, want %s" % (secret_name, want_secret))
        ca_bundle = values["tls"]["secret"]["caBundle"]
        pem = base64.b64decode(ca_bundle)
        r = openssl(["x509", "-noout"], stdin=pem)
        p.check(r.returncode == 0, "the caBundle is not a base64 PEM certificate")
        p.check(not find(docs, "Secret", secret_name), "the user's Secret is rendered")

    # The webhooks.
    exempt = (policy.get("settings") or {}).get("exemptNamespaces", DEFAULT_EXEMPT)
    skipped = sorted(set([namespace] + list(exempt)))
    for kind, path, rules in (("MutatingWebhookConfiguration", "/mutate", MUTATE_RULES),
                              ("ValidatingWebhookConfiguration", "/validate", VALIDATE_RULES)):
        cfgs = find(docs, kind)
        if not p.check(len(cfgs) == 1, "want one %s, found %d" % (kind, len(cfgs))):
            continue
        cfg = cfgs[0]
        annotations = cfg["metadata"].get("annotations") or {}
        p.check(annotations.get("cert-manager.io/inject-ca-from") == inject,
                "%s: cert-manager.io/inject-ca-from is %s, want %s"
                % (kind, annotations.get("cert-manager.io/inject-ca-from"), inject))
        webhooks = cfg.get("webhooks", [])
        extra = [wh for wh in webhooks if wh.get("name") == DEVICECLASS_WEBHOOK]
        main = [wh for wh in webhooks if wh.get("name") != DEVICECLASS_WEBHOOK]
        p.check(len(main) == 1, "%s: want one webhook for namespaced objects" % kind)
        for wh in main:
            check_webhook(p, wh, kind, path, rules, svc, svc_ports[0]["port"], values, skipped,
                          ca_bundle)
        if kind == "MutatingWebhookConfiguration":
            p.check(not extra, "%s: DeviceClasses are not mutated" % kind)
            continue
        if p.check(len(extra) == 1, "%s: want the webhook %s" % (kind, DEVICECLASS_WEBHOOK)):
            check_webhook(p, extra[0], kind, path, DEVICECLASS_RULES, svc, svc_ports[0]["port"],
                          values, skipped, ca_bundle, failure_policy="Ignore", scope="Cluster")

    # The ResourceQuotas: one per namespace of each tenant with a quota, requests.<resource>, but
    # a DRA class's devices count (and a key already written with requests.) as it is.
    def quota_key(r):
        return r if r.endswith(DRA_DEVICES_SUFFIX) or r.startswith("requests.") else "requests." + r

    want_quotas = {}
    if values["resourceQuotas"]["create"]:
        for t in policy["tenants"]:
            if t.get("quota"):
                for ns in t["namespaces"]:
                    want_quotas[(ns, "gpu-tenancy-" + t["name"])] = {
                        quota_key(r): str(v) for r, v in t["quota"].items()}
    got_quotas = {(d["metadata"]["namespace"], d["metadata"]["name"]): d["spec"]["hard"]
                  for d in find(docs, "ResourceQuota")}
    p.check(got_quotas == want_quotas,
            "ResourceQuotas are %s, want %s" % (got_quotas, want_quotas))
    return p.items


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--values", required=True, help="the chart's values, merged, as YAML")
    ap.add_argument("--binary", default=os.environ.get("GTW_BINARY"))
    ap.add_argument("rendered")
    a = ap.parse_args()
    with open(a.values) as f:
        values = yaml.safe_load(f)
    with open(a.rendered) as f:
        problems = check_render(f.read(), a.release, a.namespace, values, a.binary)
    for line in problems:
        print("check_render: " + line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
