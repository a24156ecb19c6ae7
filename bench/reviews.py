#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Makes the benchmark's inputs: realistic AdmissionReviews, a 1,000-tenant policy, and the
validating view of each review, checked against the running webhook.

The reviews are what the kube-apiserver really sends for objects that controllers and kubectl
create: pods stamped out by a ReplicaSet carry ownerReferences, managedFields that mirror every
field the controller set, the projected service-account volume and default tolerations that
built-in admission plugins add before any webhook, and a status that is still empty. Everything
is deterministic (fixed uids and timestamps) so two runs measure the same bytes.

Commands:
  reviews.py generate DIR        writes DIR/<name>.json for every review in REVIEWS
  reviews.py policy FILE         writes the generated 1,000-tenant policy
  reviews.py prepare DIR PORT CA writes DIR/<name>.validate.json (the object after /mutate's
                                 patch, as validating webhooks see it) and checks every answer
"""

import base64
import copy
import hashlib
import http.client
import json
import os
import socket
import ssl
import sys

SERVICE_NAME = "gpu-tenancy-webhook.gpu-tenancy-system.svc"
CREATED = "2025-03-14T09:26:53Z"

# The sizes the issue asks for ("~6-8 KB" and 64 KB), in bytes of the compact JSON the apiserver
# sends. With its managedFields, ownerReferences and a dozen environment variables the GPU pod
# lands just over 8 KiB; the window allows that.
GPU_POD_SIZE = (6 * 1024, 8 * 1024 + 512)
LARGE_POD_SIZE = 64 * 1024

REPLICASET_CONTROLLER = {
    "username": "system:serviceaccount:kube-system:replicaset-controller",
    "uid": "5e7f1c3a-0b1e-4c2a-9d53-3f1c0c9a7e21",
    "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system",
               "system:authenticated"],
}
KUBECTL_USER = {
    "username": "alice@example.com",
    "uid": "8c1d3f0e-54a2-4b7e-9a61-2f7d5c3b9e10",
    "groups": ["ml-research-admins", "system:authenticated"],
    "extra": {"authentication.kubernetes.io/credential-id": ["X509SHA256=4b1f0c8e9d2a"]},
}


def uid_for(name):
    """A stable RFC 4122-shaped uid derived from name."""
    h = hashlib.sha256(name.encode()).hexdigest()
    return f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def compact(value):
    """The apiserver's encoding: compact JSON, no spaces."""
    return json.dumps(value, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# managedFields: the fieldsV1 set the controller owns, derived from the object it sent
# ---------------------------------------------------------------------------------------------

# List fields that server-side apply merges by key, and the key fields (Kubernetes' +listMapKey).
_LIST_KEYS = {
    "containers": ("name",),
    "initContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "ports": ("containerPort", "protocol"),
    "ownerReferences": ("uid",),
}


# Structs that Kubernetes marks atomic: owned whole, so fieldsV1 does not descend into them.
_ATOMIC = {"fieldRef", "secretKeyRef", "configMapKeyRef", "resourceFieldRef"}


def _fields(value, key=None):
    """Returns the fieldsV1 structure of value as its manager would own it."""
    if key in _ATOMIC:
        return {}
    if isinstance(value, dict):
        out = {".": {}} if key is not None else {}
        for k, v in value.items():
            out[f"f:{k}"] = _fields(v, k)
        return out
    if isinstance(value, list) and key in _LIST_KEYS and all(isinstance(x, dict) for x in value):
        out = {".": {}}
        for item in value:
            ident = {k: item[k] for k in _LIST_KEYS[key] if k in item}
            sub = _fields(item, key)
            for k in _LIST_KEYS[key]:
                sub.pop(f"f:{k}", None)
            sub.update({f"f:{k}": {} for k in ident})
            out["k:" + compact(ident)] = sub
        return out
    return {}


def managed_fields(manager, operation, obj, api_version="v1"):
    owned = {"metadata": {k: v for k, v in obj["metadata"].items()
                          if k in ("generateName", "labels", "annotations", "ownerReferences")},
             "spec": obj["spec"]}
    fields = _fields(owned)
    fields["f:metadata"].pop(".", None)
    fields["f:spec"].pop(".", None)
    return [{"manager": manager, "operation": operation, "apiVersion": api_version,
             "time": CREATED, "fieldsType": "FieldsV1", "fieldsV1": fields}]


# ---------------------------------------------------------------------------------------------
# Pods
# ---------------------------------------------------------------------------------------------


def _env(name, value):
    return {"name": name, "value": value}


def _env_field(name, path):
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}


def _container_defaults(c):
    """What defaulting adds to every container of a template before a pod is made from it."""
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("imagePullPolicy", "IfNotPresent")
    return c


def _service_account_volume(suffix):
    """The projected token volume the ServiceAccount admission plugin adds before webhooks."""
    return {
        "name": f"kube-api-access-{suffix}",
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt",
                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
            "defaultMode": 420,
        },
    }


def _token_mount(suffix):
    return {"name": f"kube-api-access-{suffix}", "readOnly": True,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}


DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
]


def training_env(extra):
    """The trainer's environment: NCCL and framework settings, downward API, extra filler."""
    env = [
        _env_field("POD_NAME", "metadata.name"),
        _env_field("POD_IP", "status.podIP"),
        _env_field("NODE_NAME", "spec.nodeName"),
        _env("MASTER_ADDR", "llm-7b-0.llm-7b"),
        _env("MASTER_PORT", "29500"),
        _env("WORLD_SIZE", "32"),
        _env("NCCL_DEBUG", "WARN"),
        _env("NCCL_SOCKET_IFNAME", "eth0"),
        _env("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True"),
        _env("OMP_NUM_THREADS", "8"),
        _env("HF_HOME", "/cache/hf"),
        {"name": "WANDB_API_KEY", "valueFrom": {"secretKeyRef": {
            "name": "wandb", "key": "api-key"}}},
    ]
    for i in range(extra):
        env.append(_env(f"TRAIN_OPT_{i:04d}", f"value-{i * 7919 % 100000:05d}"))
    return env


def gpu_pod(service_account="trainer-llm", extra_env=0):
    """A GPU training pod as a ReplicaSet's controller creates it, before any webhook ran: a
    trainer with four GPUs, an init container, a log-shipping sidecar (an init container that
    restarts), shared memory and a data volume."""
    rs = "llm-7b-5d8f9c7b6d"
    token = "x7k2p"
    spec = {
        "volumes": [
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Gi"}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "pile-v2", "readOnly": True}},
            _service_account_volume(token),
        ],
        "initContainers": [
            _container_defaults({
                "name": "fetch-tokenizer",
                "image": "registry.example.com/ml/tools:2025.02",
                "args": ["fetch", "tokenizer"],
                "resources": {"limits": {"cpu": "1", "memory": "2Gi"},
                              "requests": {"cpu": "1", "memory": "2Gi"}},
                "volumeMounts": [_token_mount(token)],
            }),
            _container_defaults({
                "name": "log-shipper",
                "image": "cr.fluentbit.io/fluent/fluent-bit:3.1.9",
                "resources": {"limits": {"cpu": "200m", "memory": "256Mi"},
                              "requests": {"cpu": "50m", "memory": "64Mi"}},
                "volumeMounts": [_token_mount(token)],
                "restartPolicy": "Always",
            }),
        ],
        "containers": [
            _container_defaults({
                "name": "trainer",
                "image": "nvcr.io/nvidia/pytorch:24.05-py3",
                "command": ["torchrun"],
                "args": ["--nnodes=8", "--nproc-per-node=4", "train.py"],
                "env": training_env(extra_env),
                "resources": {"limits": {"cpu": "32", "memory": "256Gi", "nvidia.com/gpu": "4"},
                              "requests": {"cpu": "24", "memory": "200Gi",
                                           "nvidia.com/gpu": "4"}},
                "volumeMounts": [
                    {"name": "dshm", "mountPath": "/dev/shm"},
                    {"name": "data", "readOnly": True, "mountPath": "/data"},
                    _token_mount(token),
                ],
            }),
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 300,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": service_account,
        "serviceAccount": service_account,
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}},
        "schedulerName": "default-scheduler",
        "tolerations": copy.deepcopy(DEFAULT_TOLERATIONS),
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    }
    meta = {
        "generateName": f"{rs}-",
        "namespace": "ml-research",
        "labels": {"app": "llm-7b", "pod-template-hash": "5d8f9c7b6d", "team": "research"},
        "annotations": {"kubectl.kubernetes.io/default-container": "trainer"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                             "uid": uid_for(rs), "controller": True,
                             "blockOwnerDeletion": True}],
    }
    pod = {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec, "status": {}}
    meta["managedFields"] = managed_fields("kube-controller-manager", "Update", pod)
    return pod


def web_pod():
    """A CPU-only web frontend pod from a ReplicaSet, in a namespace no tenant owns."""
    rs = "storefront-6c9d7f4b8"
    token = "q9w4m"
    spec = {
        "volumes": [{"name": "nginx-conf", "configMap": {"name": "storefront-nginx",
                                                         "defaultMode": 420}},
                    {"name": "tmp", "emptyDir": {}},
                    _service_account_volume(token)],
        "containers": [
            _container_defaults({
                "name": "app",
                "image": "registry.example.com/shop/storefront:4.18.2",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "env": [_env_field("POD_NAME", "metadata.name"),
                        _env_field("POD_IP", "status.podIP"),
                        _env("SPRING_PROFILES_ACTIVE", "production"),
                        _env("JAVA_TOOL_OPTIONS", "-XX:MaxRAMPercentage=75 -XX:+UseG1GC"),
                        _env("CATALOG_URL", "http://catalog.shop.svc.cluster.local:8080"),
                        _env("CART_URL", "http://cart.shop.svc.cluster.local:8080"),
                        _env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4317"),
                        _env("OTEL_SERVICE_NAME", "storefront"),
                        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {
                            "name": "storefront-db", "key": "password"}}}],
                "resources": {"limits": {"cpu": "2", "memory": "2Gi"},
                              "requests": {"cpu": "500m", "memory": "1Gi"}},
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, _token_mount(token)],
                "livenessProbe": {"httpGet": {"path": "/actuator/health/liveness",
                                              "port": 8080, "scheme": "HTTP"},
                                  "initialDelaySeconds": 30, "timeoutSeconds": 1,
                                  "periodSeconds": 10, "successThreshold": 1,
                                  "failureThreshold": 3},
                "readinessProbe": {"httpGet": {"path": "/actuator/health/readiness",
                                               "port": 8080, "scheme": "HTTP"},
                                   "timeoutSeconds": 1, "periodSeconds": 5,
                                   "successThreshold": 1, "failureThreshold": 3},
                "securityContext": {"runAsNonRoot": True, "readOnlyRootFilesystem": True,
                                    "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]}},
            }),
            _container_defaults({
                "name": "proxy",
                "image": "nginx:1.27-alpine",
                "ports": [{"name": "https", "containerPort": 8443, "protocol": "TCP"}],
                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                              "requests": {"cpu": "100m", "memory": "64Mi"}},
                "volumeMounts": [{"name": "nginx-conf", "mountPath": "/etc/nginx/conf.d"},
                                 _token_mount(token)],
            }),
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "storefront",
        "serviceAccount": "storefront",
        "securityContext": {"runAsUser": 10001, "fsGroup": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "schedulerName": "default-scheduler",
        "tolerations": copy.deepcopy(DEFAULT_TOLERATIONS),
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    }
    meta = {
        "generateName": f"{rs}-",
        "namespace": "shop",
        "labels": {"app": "storefront", "pod-template-hash": "6c9d7f4b8", "tier": "web",
                   "version": "4.18.2"},
        "annotations": {"prometheus.io/scrape": "true",
                        "prometheus.io/path": "/actuator/prometheus"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                             "uid": uid_for(rs), "controller": True,
                             "blockOwnerDeletion": True}],
    }
    pod = {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec, "status": {}}
    meta["managedFields"] = managed_fields("kube-controller-manager", "Update", pod)
    return pod


def deployment():
    """A GPU Deployment created with `kubectl apply` (so with last-applied-configuration)."""
    pod = gpu_pod(extra_env=0)
    template_meta = {k: v for k, v in pod["metadata"].items()
                     if k in ("labels", "annotations")}
    template_meta["labels"] = {k: v for k, v in template_meta["labels"].items()
                               if k != "pod-template-hash"}
    spec = copy.deepcopy(pod["spec"])
    # The token volume and default tolerations are added to pods, not to templates.
    spec["volumes"] = [v for v in spec["volumes"] if not v["name"].startswith("kube-api-access")]
    del spec["tolerations"]
    for c in spec["initContainers"] + spec["containers"]:
        c["volumeMounts"] = [m for m in c["volumeMounts"]
                             if not m["name"].startswith("kube-api-access")]
        if not c["volumeMounts"]:
            del c["volumeMounts"]
    for key in ("priority", "preemptionPolicy", "serviceAccount", "enableServiceLinks"):
        spec.pop(key, None)
    applied = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "llm-pretrain-7b", "namespace": "ml-research",
                     "labels": {"app.kubernetes.io/name": "llm-pretrain"}},
        "spec": {"replicas": 8,
                 "selector": {"matchLabels": {"app.kubernetes.io/instance": "llm-pretrain-7b"}},
                 "template": {"metadata": template_meta, "spec": spec}},
    }
    obj = copy.deepcopy(applied)
    obj["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": compact(applied) + "\n"}
    obj["spec"].update({"progressDeadlineSeconds": 600, "revisionHistoryLimit": 10,
                        "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                            "maxUnavailable": "25%", "maxSurge": "25%"}}})
    obj["status"] = {}
    obj["metadata"]["managedFields"] = managed_fields("kubectl-client-side-apply", "Update",
                                                      obj, "apps/v1")
    return obj


# ---------------------------------------------------------------------------------------------
# Reviews
# ---------------------------------------------------------------------------------------------

POD_KIND = {"group": "", "version": "v1", "kind": "Pod"}
POD_RESOURCE = {"group": "", "version": "v1", "resource": "pods"}
DEPLOYMENT_KIND = {"group": "apps", "version": "v1", "kind": "Deployment"}
DEPLOYMENT_RESOURCE = {"group": "apps", "version": "v1", "resource": "deployments"}


def review(name, obj, user, kind=POD_KIND, resource=POD_RESOURCE):
    meta = obj["metadata"]
    request = {
        "uid": uid_for("review-" + name),
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "name": meta.get("name", ""),
        "namespace": meta["namespace"],
        "operation": "CREATE",
        "userInfo": user,
        "object": obj,
        "oldObject": None,
        "dryRun": False,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
    }
    return {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": request}


def make_reviews():
    """Returns {name: review} for the benchmark's reviews."""
    gpu = review("gpu-pod", gpu_pod(), REPLICASET_CONTROLLER)
    size = len(compact(gpu))
    if not GPU_POD_SIZE[0] <= size < GPU_POD_SIZE[1]:
        raise SystemExit(f"the GPU pod review is {size} bytes, not in {GPU_POD_SIZE}")
    # The same pod with a long environment, as configuration injected through env makes it.
    extra = (LARGE_POD_SIZE - size) // 150
    while True:
        large = review("gpu-pod-64k", gpu_pod(extra_env=extra), REPLICASET_CONTROLLER)
        if len(compact(large)) >= LARGE_POD_SIZE:
            break
        extra += 1
    return {
        "gpu-pod": gpu,
        "cpu-pod": review("cpu-pod", web_pod(), REPLICASET_CONTROLLER),
        "denied-pod": review("denied-pod", gpu_pod(service_account="image-builder"),
                             REPLICASET_CONTROLLER),
        "deployment": review("deployment", deployment(), KUBECTL_USER, DEPLOYMENT_KIND,
                             DEPLOYMENT_RESOURCE),
        "gpu-pod-64k": large,
    }


def cmd_generate(directory):
    os.makedirs(directory, exist_ok=True)
    for name, r in make_reviews().items():
        text = compact(r)
        with open(os.path.join(directory, f"{name}.json"), "w", encoding="utf-8") as f:
            f.write(text)
        print(f"{name:12} {len(text):6d} bytes")


# ---------------------------------------------------------------------------------------------
# The generated policy
# ---------------------------------------------------------------------------------------------

TENANTS = 1000
NAMESPACES_PER_TENANT = 10
PATTERNS_PER_TENANT = 5


def cmd_policy(path):
    """Writes a policy of 1,000 tenants, 10,000 namespaces and 5 patterns each. The benchmark
    pod's namespace belongs to the last tenant, and its service account matches that tenant's
    last pattern: the worst place for a linear search. That tenant is the example policy's
    "research", by name and rules, and the settings are the example's, so that both policies
    make the same decisions on the same reviews (the tenant's name is in the patch /validate
    checks) and only the policy's size differs."""
    lines = [
        "# Generated by bench/reviews.py: 1,000 tenants, 10,000 namespaces, 5 patterns each.",
        "apiVersion: gpu-tenancy.io/v1alpha1",
        "kind: GPUTenancyPolicy",
        "settings:",
        "  mode: enforce",
        "  toleration: {key: has-gpu, operator: Exists, effect: NoSchedule}",
        "  productLabel: nvidia.com/gpu.product",
        "  sharingLabel: nvidia.com/gpu.sharing-strategy",
        "  exemptNamespaces: [kube-system, gpu-operator]",
        '  quotaAdmins: {users: [], groups: ["system:masters"]}',
        "  denyTolerationWithoutGpu: true",
        "tenants:",
    ]
    for t in range(TENANTS):
        last = t == TENANTS - 1
        namespaces = [f"team-{t:04d}-ns-{n}" for n in range(NAMESPACES_PER_TENANT)]
        if last:
            namespaces[-1] = "ml-research"
        patterns = [f"svc-{t:04d}-.*", f"ci-runner-{t:04d}", "notebook",
                    f"job-{t:04d}-[0-9]+", "batch-[a-z]+-worker"]
        if last:
            patterns[-1] = "trainer-.*"
        lines += [
            f"  - name: {'research' if last else f'tenant-{t:04d}'}",
            f"    namespaces: [{', '.join(namespaces)}]",
            f"    serviceAccounts: [{', '.join(json.dumps(p) for p in patterns)}]",
            "    sharing: [exclusive, time-slicing, mig]",
            "    products: [NVIDIA-A100-SXM4-80GB, NVIDIA-H100-80GB-HBM3]",
            "    migProfiles: [1g.10gb, 3g.40gb]",
            "    maxGpusPerPod: 4",
            "    quota: {nvidia.com/gpu: 8, nvidia.com/mig-1g.10gb: 14, nvidia.com/mig-3g.40gb: 4}",
        ]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------------
# Prepare: the validating view of each review, and a check of every answer
# ---------------------------------------------------------------------------------------------

# What each review must get, so the benchmark measures the path it says it does. None: any
# well-formed answer. "patch" is only checked on /mutate.
EXPECT = {
    "gpu-pod": {"/mutate": (True, True), "/validate": (True, False)},
    "gpu-pod-64k": {"/mutate": (True, True), "/validate": (True, False)},
    "cpu-pod": {"/mutate": (True, False), "/validate": (True, False)},
    "denied-pod": {"/mutate": (None, False), "/validate": (False, False)},
    "deployment": {"/mutate": (None, None), "/validate": (None, None)},
}


class Client:
    """One keep-alive TLS connection that checks the certificate as the apiserver does."""

    def __init__(self, port, cafile):
        ctx = ssl.create_default_context(cafile=cafile)
        self.port = port
        self.ctx = ctx
        self.conn = None
        self.tls = None

    def post(self, path, body):
        if self.conn is None:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            tls = self.ctx.wrap_socket(sock, server_hostname=SERVICE_NAME)
            self.tls = f"{tls.version()} {tls.cipher()[0]}"
            self.conn = http.client.HTTPSConnection(SERVICE_NAME, self.port, context=self.ctx)
            self.conn.sock = tls
        self.conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise SystemExit(f"POST {path} answered HTTP {resp.status}: {data[:300]!r}")
        return json.loads(data)


def check(name, path, sent, answer):
    """Checks answer against the AdmissionReview contract and EXPECT; returns its response."""
    resp = answer.get("response") or {}
    if answer.get("kind") != "AdmissionReview" or resp.get("uid") != sent["request"]["uid"]:
        raise SystemExit(f"{name} {path}: not an AdmissionReview answer to it: {answer}")
    allowed, patch = EXPECT[name][path]
    if allowed is not None and resp.get("allowed") is not allowed:
        raise SystemExit(f"{name} {path}: expected allowed={allowed}, got {json.dumps(resp)}")
    if patch is not None and ("patch" in resp) is not patch:
        raise SystemExit(f"{name} {path}: expected patch={patch}, got {json.dumps(resp)}")
    return resp


def apply_patch(obj, ops):
    """Applies the RFC 6902 add/replace operations of a JSON Patch (all /mutate emits)."""
    for op in ops:
        if op["op"] not in ("add", "replace"):
            raise SystemExit(f"unexpected patch operation {op}")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        target = obj
        for p in parts[:-1]:
            target = target[int(p)] if isinstance(target, list) else target[p]
        last = parts[-1]
        if isinstance(target, list):
            if last == "-":
                target.append(op["value"])
            elif op["op"] == "add":
                target.insert(int(last), op["value"])
            else:
                target[int(last)] = op["value"]
        else:
            target[last] = op["value"]


def validating_view(r, patch_ops, name):
    """The review a validating webhook gets: the object after mutation, with the name, uid and
    creation time the apiserver fills in before validation."""
    out = copy.deepcopy(r)
    obj = out["request"]["object"]
    if patch_ops:
        apply_patch(obj, patch_ops)
    meta = obj["metadata"]
    if "generateName" in meta and not meta.get("name"):
        meta["name"] = meta["generateName"] + "k8x2q"
        out["request"]["name"] = meta["name"]
    meta.setdefault("uid", uid_for("object-" + name))
    meta.setdefault("resourceVersion", "")
    meta.setdefault("creationTimestamp", CREATED)
    out["request"]["uid"] = uid_for("review-validate-" + name)
    return out


def cmd_prepare(directory, port, cafile):
    client = Client(int(port), cafile)
    for name in EXPECT:
        path = os.path.join(directory, f"{name}.json")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        sent = json.loads(text)
        resp = check(name, "/mutate", sent, client.post("/mutate", text))
        ops = json.loads(base64.b64decode(resp["patch"])) if "patch" in resp else []
        view = validating_view(sent, ops, name)
        vtext = compact(view)
        with open(os.path.join(directory, f"{name}.validate.json"), "w", encoding="utf-8") as f:
            f.write(vtext)
        vresp = check(name, "/validate", view, client.post("/validate", vtext))
        # The mutated object must not be patched again: /mutate is idempotent.
        again = client.post("/mutate", compact(validating_view(view, [], name)))
        if EXPECT[name]["/mutate"][1] and "patch" in again.get("response", {}):
            raise SystemExit(f"{name}: /mutate patched its own output again")
        verdict = lambda x: "allowed" if x.get("allowed") else "denied"  # noqa: E731
        print(f"{name:12} /mutate {verdict(resp)}{' +patch' if ops else ''}, "
              f"/validate {verdict(vresp)}; {len(text)} / {len(vtext)} bytes")
    print(f"TLS as Python's OpenSSL negotiates it: {client.tls}")


def main(argv):
    if len(argv) == 3 and argv[1] == "generate":
        cmd_generate(argv[2])
    elif len(argv) == 3 and argv[1] == "policy":
        cmd_policy(argv[2])
    elif len(argv) == 5 and argv[1] == "prepare":
        cmd_prepare(argv[2], argv[3], argv[4])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
