# SPDX-License-Identifier: Apache-2.0
"""Plays the kube-apiserver against the real gpu-tenancy-webhook binary, for the integration tests.

It makes throwaway certificates with the openssl CLI, starts `gpu-tenancy-webhook serve` on an
ephemeral port, calls /mutate and /validate over TLS the way the apiserver does (CA bundle, the
Service's DNS name as TLS server name, keep-alive), checks every answer against the
AdmissionReview v1 contract, applies patches with python3-jsonpatch, and simulates the scheduler's
node filtering so tests can say exactly where an admitted pod could run.
"""

import base64
import copy
import functools
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid

import jsonpatch
import tempfile
import yaml

SERVICE = "gpu-tenancy-webhook"
NAMESPACE = "gpu-tenancy-system"
SERVICE_NAMES = [
    SERVICE,
    f"{SERVICE}.{NAMESPACE}",
    f"{SERVICE}.{NAMESPACE}.svc",
    f"{SERVICE}.{NAMESPACE}.svc.cluster.local",
]
# The name the apiserver puts in SNI and checks the certificate against for a Service reference.
SERVER_NAME = f"{SERVICE}.{NAMESPACE}.svc"
WARNING_MAX = 120
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))


def binary():
    """Returns the path of the gpu-tenancy-webhook binary under test."""
    path = os.environ.get("GTW_BINARY")
    if not path:
        path = os.path.join(SOURCE_ROOT, "build", "gpu-tenancy-webhook")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"no gpu-tenancy-webhook binary at {path} (set GTW_BINARY)")
    return path


def data_dir():
    """Returns the directory of the test fixtures (tests/data)."""
    return os.environ.get("GTW_TEST_DATA") or os.path.join(SOURCE_ROOT, "tests", "data")


def data_path(name):
    return os.path.join(data_dir(), name)


def example_policy():
    return os.path.join(SOURCE_ROOT, "policy", "examples", "policy.yaml")


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


# ---------------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------------


class Certs:
    """Paths of one set of throwaway certificates: ca (the bundle), cert (leaf, maybe with its
    intermediate) and key."""

    def __init__(self, directory, ca, cert, key):
        self.dir = directory
        self.ca = ca
        self.cert = cert
        self.key = key


def _openssl(*args, cwd):
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{proc.stderr}")


def _new_key(path, key_type, cwd):
    if key_type == "ec":
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", path, cwd=cwd)
    elif key_type == "rsa":
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", path, cwd=cwd)
    else:
        raise ValueError(f"unknown key type {key_type}")


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _sign(directory, name, subject, issuer, extensions, key_type):
    """Makes name.key and name.crt for subject, signed by issuer (a prefix, or None: self)."""
    key, crt = f"{name}.key", f"{name}.crt"
    _new_key(key, key_type, directory)
    _write(os.path.join(directory, f"{name}.ext"), extensions)
    if issuer is None:
        _openssl("req", "-new", "-x509", "-key", key, "-out", crt, "-days", "2", "-subj", subject,
                 "-extensions", "v3", "-config", f"{name}.ext", cwd=directory)
        return
    _openssl("req", "-new", "-key", key, "-out", f"{name}.csr", "-subj", subject,
             "-config", f"{name}.ext", cwd=directory)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.crt", "-CAkey",
             f"{issuer}.key", "-set_serial", str(uuid.uuid4().int >> 64), "-out", crt,
             "-days", "2", "-extfile", f"{name}.ext", "-extensions", "v3", cwd=directory)


_CA_EXT = """[req]
distinguished_name = dn
[dn]
[v3]
basicConstraints = critical, CA:TRUE{pathlen}
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
{akid}
"""

_LEAF_EXT = """[req]
distinguished_name = dn
[dn]
[v3]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature{rsa}
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
subjectAltName = {sans}
"""


def make_certs(directory, key_type="ec", chain=False, names=None):
    """Makes a CA and a serving certificate for the Service's DNS names in directory.

    key_type is "ec" (P-256) or "rsa" (2048 bits) for the serving key. With chain=True the leaf
    is signed by an intermediate CA and the cert file holds leaf then intermediate, while ca
    holds only the root, as a caBundle would.
    """
    os.makedirs(directory, exist_ok=True)
    names = names or SERVICE_NAMES
    _sign(directory, "ca", "/CN=gpu-tenancy-webhook test CA", None,
          _CA_EXT.format(pathlen="", akid=""), "ec")
    issuer = "ca"
    if chain:
        _sign(directory, "intermediate", "/CN=gpu-tenancy-webhook test intermediate", "ca",
              _CA_EXT.format(pathlen=", pathlen:0",
                             akid="authorityKeyIdentifier = keyid, issuer"), "ec")
        issuer = "intermediate"
    sans = ", ".join(f"DNS:{n}" for n in names)
    _sign(directory, "tls", f"/CN={names[0]}", issuer,
          _LEAF_EXT.format(rsa=", keyEncipherment" if key_type == "rsa" else "", sans=sans),
          key_type)
    cert = os.path.join(directory, "tls.crt")
    if chain:
        cert = os.path.join(directory, "tls-chain.crt")
        with open(cert, "w", encoding="utf-8") as out:
            for part in ("tls.crt", "intermediate.crt"):
                with open(os.path.join(directory, part), encoding="utf-8") as f:
                    out.write(f.read())
    return Certs(directory, os.path.join(directory, "ca.crt"), cert,
                 os.path.join(directory, "tls.key"))


# ---------------------------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------------------------

_LISTENING = re.compile(r"listening on https://127\.0\.0\.1:(\d+)")
_METRICS_ON = re.compile(r"metrics on http://127\.0\.0\.1:(\d+)/metrics")


class ServerError(AssertionError):
    pass


class Server:
    """One running `gpu-tenancy-webhook serve`, its port and everything it wrote to stderr."""

    def __init__(self, policy, certs, extra_args=()):
        self.policy = policy
        self.certs = certs
        # The metrics port defaults to 0.0.0.0:9090; tests that run side by side each take a
        # free loopback port instead (metrics_port), unless they choose their own.
        metrics = [] if "--metrics-listen" in extra_args else ["--metrics-listen", "127.0.0.1:0"]
        self.args = [binary(), "serve", "--policy", policy, "--tls-cert", certs.cert,
                     "--tls-key", certs.key, "--listen", "127.0.0.1:0", *metrics, *extra_args]
        self.proc = None
        self.port = None
        self.metrics_port = None
        self._stderr = []
        self._lock = threading.Lock()
        self._reader = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Drain stderr in a thread so a chatty server never blocks on a full pipe.
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            m = _LISTENING.search(self.stderr())
            if m:
                self.port = int(m.group(1))
                metrics = _METRICS_ON.search(self.stderr())
                self.metrics_port = int(metrics.group(1)) if metrics else None
                return self
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise ServerError(f"server exited with status {self.proc.returncode} before "
                                  f"listening: {' '.join(self.args)}\nstderr:\n{self.stderr()}")
            time.sleep(0.02)
        self.proc.kill()
        self.proc.wait()
        raise ServerError(f"server did not say 'listening on https://127.0.0.1:PORT' within "
                          f"{START_TIMEOUT:.0f} s: {' '.join(self.args)}\nstderr:\n{self.stderr()}")

    def _drain(self):
        fd = self.proc.stderr.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            with self._lock:
                self._stderr.append(chunk.decode("utf-8", "replace"))

    def stderr(self):
        with self._lock:
            return "".join(self._stderr)

    def wait_for_stderr(self, predicate, timeout=3.0):
        """Returns the first stderr line for which predicate is true, or None after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.stderr().splitlines():
                if predicate(line):
                    return line
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, expect_status=0):
        """Sends SIGTERM, waits, and checks the exit status (ASan leak reports make it fail)."""
        if self.proc is None or self.proc.returncode is not None and self._reader is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise ServerError(f"server did not exit within {STOP_TIMEOUT:.0f} s of SIGTERM\n"
                              f"stderr:\n{self.stderr()}")
        finally:
            if self._reader:
                self._reader.join(5)
                self._reader = None
            self.proc.stderr.close()
        if expect_status is not None and status != expect_status:
            raise ServerError(f"server exited with status {status} after SIGTERM, expected "
                              f"{expect_status}\nstderr:\n{self.stderr()}")
        return status

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop(expect_status=None if exc[0] else 0)


def start_shared(policy, prefix):
    """Starts the server that a test module's tests share, with throwaway certificates in a
    temporary directory named with prefix; stop_shared stops it and removes them."""
    tmp = tempfile.TemporaryDirectory(prefix=prefix)
    try:
        server = Server(policy, make_certs(tmp.name)).start()
    except BaseException:
        tmp.cleanup()
        raise
    server.cert_dir = tmp
    return server


def stop_shared(server):
    if server is None:
        return
    try:
        server.stop()
    finally:
        server.cert_dir.cleanup()


def run_binary(*args, timeout=15):
    """Runs the binary with args; returns (exit status, stdout, stderr)."""
    proc = subprocess.run([binary(), *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


# ---------------------------------------------------------------------------------------------
# TLS clients
# ---------------------------------------------------------------------------------------------


def tls_context(cafile, minimum=None, maximum=None):
    """The client context the apiserver uses: trust only the caBundle, check the name."""
    ctx = ssl.create_default_context(cafile=cafile)
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


def tls_connect(port, cafile=None, server_hostname=SERVER_NAME, context=None, timeout=10.0):
    """Opens a TLS connection to 127.0.0.1:port, verifying the server as server_hostname."""
    ctx = context or tls_context(cafile)
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(sock, server_hostname=server_hostname)
    except BaseException:
        sock.close()
        raise


class _Connection(http.client.HTTPSConnection):
    """An HTTPS connection to 127.0.0.1 that presents and checks the Service's DNS name, the way
    the apiserver reaches a webhook through a Service. Counts the TCP connections it opens."""

    def __init__(self, port, ctx, server_hostname, timeout):
        super().__init__(server_hostname, port, context=ctx, timeout=timeout)
        self._ctx = ctx
        self.connects = 0

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self.host)
        self.connects += 1


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"HTTP {self.status} {self.headers!r}\n{self.text()[:2000]}"


def read_http_response(sock, timeout=10.0):
    """Reads one HTTP/1.1 response from a socket (Content-Length, chunked or until close).
    Returns a Response, or None when the peer closed before sending a status line."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            chunk = b""
        if not chunk:
            if not buf:
                return None
            raise AssertionError(f"connection closed inside the response headers: {buf!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
    resp = Response(status, headers, b"")
    length = resp.header("Content-Length")
    chunked = (resp.header("Transfer-Encoding") or "").lower() == "chunked"

    def more():
        try:
            return sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            return b""

    if length is not None:
        n = int(length)
        while len(rest) < n:
            chunk = more()
            if not chunk:
                raise AssertionError(f"connection closed inside a {n}-byte body: {rest!r}")
            rest += chunk
        resp.body = rest[:n]
    elif chunked:
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += more()
            size_line, rest = rest.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                chunk = more()
                if not chunk:
                    raise AssertionError("connection closed inside a chunk")
                rest += chunk
            if size == 0:
                break
            body += rest[:size]
            rest = rest[size + 2:]
        resp.body = body
    else:
        while True:
            chunk = more()
            if not chunk:
                break
            rest += chunk
        resp.body = rest
    return resp


# ---------------------------------------------------------------------------------------------
# AdmissionReviews
# ---------------------------------------------------------------------------------------------

POD_KIND = {"group": "", "version": "v1", "kind": "Pod"}
POD_RESOURCE = {"group": "", "version": "v1", "resource": "pods"}
_OPTIONS = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}
DEFAULT_USER = {
    "username": "system:serviceaccount:kube-system:replicaset-controller",
    "uid": "5e7f1c3a-0b1e-4c2a-9d53-3f1c0c9a7e21",
    "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system",
               "system:authenticated"],
}


def review_request(obj, namespace=None, operation="CREATE", old=None, kind=None, resource=None,
                   user=None, uid=None):
    """Builds an AdmissionReview v1 as the apiserver sends it for obj (a dict, or None)."""
    subject = obj if obj is not None else old
    meta = (subject or {}).get("metadata", {})
    if namespace is None:
        namespace = meta.get("namespace", "")
    request = {
        "uid": uid or str(uuid.uuid4()),
        "kind": kind or POD_KIND,
        "resource": resource or POD_RESOURCE,
        "requestKind": kind or POD_KIND,
        "requestResource": resource or POD_RESOURCE,
        "name": meta.get("name", ""),
        "namespace": namespace,
        "operation": operation,
        "userInfo": user or DEFAULT_USER,
        "object": obj,
        "oldObject": old,
        "dryRun": False,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": _OPTIONS[operation]},
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def _dump(value, limit=6000):
    text = json.dumps(value, indent=2, sort_keys=True)
    if len(text) > limit:
        text = text[:limit] + f"\n... ({len(text) - limit} more characters)"
    return text


class Exchange:
    """One review sent and what came back, kept for failure messages."""

    def __init__(self, endpoint, review):
        self.endpoint = endpoint
        self.review = review
        self.http = None
        self.answer = None
        self.patch = None
        self.patched = None

    def __str__(self):
        parts = [f"--- POST {self.endpoint}", "request:", _dump(self.review)]
        if self.http is not None and self.answer is None:
            parts += [f"HTTP answer: {self.http!r}"]
        if self.answer is not None:
            parts += ["response:", _dump(self.answer)]
        if self.patch is not None:
            parts += ["decoded patch:", _dump(self.patch)]
        if self.patched is not None:
            parts += ["patched object:", _dump(self.patched)]
        return "\n".join(parts)


class Client:
    """Talks to the webhook as the kube-apiserver does: one keep-alive TLS connection, CA-checked
    with the Service's DNS name, AdmissionReview v1 in and out."""

    def __init__(self, port, cafile, server_hostname=SERVER_NAME, timeout=10.0):
        self.port = port
        self.ctx = tls_context(cafile)
        self.conn = _Connection(port, self.ctx, server_hostname, timeout)
        self.transcript = []

    def close(self):
        self.conn.close()

    def request(self, method, path, body=None, headers=None):
        """Sends one request on the keep-alive connection; returns a Response."""
        hdrs = dict(headers or {})
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.conn.request(method, path, body=body, headers=hdrs)
        r = self.conn.getresponse()
        data = r.read()
        return Response(r.status, r.getheaders(), data)

    def format_transcript(self, last=4):
        if not self.transcript:
            return ""
        shown = self.transcript[-last:]
        head = f"=== the last {len(shown)} of {len(self.transcript)} reviews of this test ==="
        return "\n".join([head] + [str(e) for e in shown])

    def send_review(self, endpoint, review):
        """POSTs review to endpoint, checks the answer as the apiserver would and returns the
        Exchange (with answer, decoded patch and the patched object filled in)."""
        ex = Exchange(endpoint, review)
        self.transcript.append(ex)
        body = json.dumps(review).encode("utf-8")
        resp = self.request("POST", endpoint, body, {"Content-Type": "application/json",
                                                     "Accept": "application/json"})
        ex.http = resp
        if resp.status != 200:
            raise AssertionError(f"{endpoint} answered HTTP {resp.status}, expected 200: "
                                 f"{resp.text()[:500]}")
        ctype = resp.header("Content-Type") or ""
        if not ctype.startswith("application/json"):
            raise AssertionError(f"{endpoint} answered Content-Type {ctype!r}, expected JSON")
        try:
            answer = json.loads(resp.body)
        except ValueError as e:
            raise AssertionError(f"{endpoint} answered a body that is not JSON ({e}): "
                                 f"{resp.text()[:500]}") from None
        ex.answer = answer
        check_answer(endpoint, review, answer)
        response = answer["response"]
        if "patch" in response:
            ex.patch = json.loads(base64.b64decode(response["patch"], validate=True))
            obj = review["request"]["object"]
            try:
                ex.patched = jsonpatch.JsonPatch(ex.patch).apply(obj)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
                raise AssertionError(f"the patch from {endpoint} does not apply: {e}") from None
        return ex

    def review(self, endpoint, obj, **kwargs):
        """Sends a review of obj (see review_request for kwargs); returns the Exchange."""
        return self.send_review(endpoint, review_request(obj, **kwargs))

    def admit(self, pod, **kwargs):
        """Plays the whole apiserver flow for a pod CREATE that must be admitted: /mutate, apply
        the patch, /mutate again on the result expecting no patch (reinvocation), then /validate
        on the final pod. Returns (final_pod, mutate_response, validate_response)."""
        first = self.review("/mutate", pod, **kwargs)
        if not first.answer["response"]["allowed"]:
            raise AssertionError(f"/mutate denied the pod: {status_message(first)}")
        final = first.patched if first.patched is not None else copy.deepcopy(pod)
        again = self.review("/mutate", final, **kwargs)
        if not again.answer["response"]["allowed"]:
            raise AssertionError(f"/mutate denied its own output: {status_message(again)}")
        if again.patch is not None:
            raise AssertionError("/mutate is not idempotent: a second call on its own output "
                                 f"returned a patch: {again.patch}")
        check = self.review("/validate", final, **kwargs)
        if not check.answer["response"]["allowed"]:
            raise AssertionError(f"/validate denied the mutated pod: {status_message(check)}")
        return final, first.answer["response"], check.answer["response"]


def status_message(ex):
    status = ex.answer["response"].get("status") or {}
    return f"{status.get('code')} {status.get('message')!r}"


def check_answer(endpoint, review, answer):
    """Checks an answer against the AdmissionReview v1 contract the apiserver enforces."""
    if not isinstance(answer, dict):
        raise AssertionError(f"{endpoint} answered {type(answer).__name__}, not an object")
    if answer.get("apiVersion") != "admission.k8s.io/v1":
        raise AssertionError(f"apiVersion is {answer.get('apiVersion')!r}")
    if answer.get("kind") != "AdmissionReview":
        raise AssertionError(f"kind is {answer.get('kind')!r}")
    response = answer.get("response")
    if not isinstance(response, dict):
        raise AssertionError("no response object")
    if response.get("uid") != review["request"]["uid"]:
        raise AssertionError(f"response.uid {response.get('uid')!r} is not request.uid "
                             f"{review['request']['uid']!r}")
    if not isinstance(response.get("allowed"), bool):
        raise AssertionError(f"response.allowed is {response.get('allowed')!r}, not a bool")
    if not response["allowed"]:
        status = response.get("status")
        if not isinstance(status, dict):
            raise AssertionError("a denial without status")
        if not isinstance(status.get("code"), int):
            raise AssertionError(f"a denial with status.code {status.get('code')!r}")
        if not isinstance(status.get("message"), str) or not status["message"]:
            raise AssertionError(f"a denial with status.message {status.get('message')!r}")
    warnings = response.get("warnings")
    if warnings is not None:
        if not isinstance(warnings, list):
            raise AssertionError(f"warnings is {warnings!r}, not a list")
        for w in warnings:
            if not isinstance(w, str) or not w:
                raise AssertionError(f"warning {w!r} is not a non-empty string")
            if len(w.encode("utf-8")) > WARNING_MAX:
                raise AssertionError(f"warning of {len(w.encode('utf-8'))} bytes, over "
                                     f"{WARNING_MAX}: {w!r}")
    if "patch" in response or "patchType" in response:
        if endpoint != "/mutate":
            raise AssertionError(f"{endpoint} returned a patch; only /mutate may")
        if response.get("patchType") != "JSONPatch":
            raise AssertionError(f"patchType is {response.get('patchType')!r}")
        if not response["allowed"]:
            raise AssertionError("a denial that carries a patch")
        try:
            ops = json.loads(base64.b64decode(response.get("patch", ""), validate=True))
        except ValueError as e:
            raise AssertionError(f"patch is not base64 of JSON: {e}") from None
        if not isinstance(ops, list) or not ops:
            raise AssertionError(f"patch is {ops!r}, not a non-empty JSON array")
        for op in ops:
            if not isinstance(op, dict) or op.get("op") not in (
                    "add", "remove", "replace", "move", "copy", "test") or \
                    not isinstance(op.get("path"), str):
                raise AssertionError(f"patch operation {op!r} is not RFC 6902")


def with_transcript(method):
    """Wraps a test method so a failure message ends with the reviews the test exchanged."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        client = getattr(self, "client", None)
        if client is not None:
            client.transcript.clear()
        try:
            return method(self, *args, **kwargs)
        except AssertionError as e:
            if client is None or not client.transcript:
                raise
            raise AssertionError(f"{e}\n\n{client.format_transcript()}").with_traceback(
                e.__traceback__) from None

    return wrapper


class TranscriptMeta(type):
    """Applies with_transcript to every test_* method of a TestCase class."""

    def __new__(mcs, name, bases, ns):
        for key, value in list(ns.items()):
            if key.startswith("test") and callable(value):
                ns[key] = with_transcript(value)
        return super().__new__(mcs, name, bases, ns)


# ---------------------------------------------------------------------------------------------
# The scheduler simulator
# ---------------------------------------------------------------------------------------------


def load_nodes(path=None):
    doc = load_yaml(path or data_path("nodes.yaml"))
    return doc["items"] if isinstance(doc, dict) else doc


def quantity_int(value):
    """Parses a whole Kubernetes quantity as the tests use them ("8", 8, "0"); None if not."""
    text = str(value).strip()
    return int(text) if re.fullmatch(r"[0-9]+", text) else None


def effective_requests(pod, prefix="nvidia.com/"):
    """The pod's effective request of each resource starting with prefix, as the scheduler
    computes it: containers plus sidecars, at least the largest init container phase."""

    def reqs(c):
        res = c.get("resources") or {}
        out = {}
        limits = res.get("limits") or {}
        requests = res.get("requests") or {}
        for name in set(limits) | set(requests):
            if not name.startswith(prefix):
                continue
            # Extended resources: requests default to limits; they must be equal otherwise.
            value = limits.get(name, requests.get(name))
            n = quantity_int(value)
            if n is None:
                raise ValueError(f"cannot schedule a non-integer {name} quantity {value!r}")
            out[name] = n
        return out

    def add(a, b):
        r = dict(a)
        for k, v in b.items():
            r[k] = r.get(k, 0) + v
        return r

    def maximum(a, b):
        r = dict(a)
        for k, v in b.items():
            r[k] = max(r.get(k, 0), v)
        return r

    spec = pod.get("spec", {})
    containers = {}
    for c in spec.get("containers") or []:
        containers = add(containers, reqs(c))
    sidecars, init_max = {}, {}
    for c in spec.get("initContainers") or []:
        if c.get("restartPolicy") == "Always":
            sidecars = add(sidecars, reqs(c))
            init_max = maximum(init_max, sidecars)
        else:
            init_max = maximum(init_max, add(reqs(c), sidecars))
    total = maximum(add(containers, sidecars), init_max)
    return {k: v for k, v in total.items() if v > 0}


def _expression_matches(expr, labels):
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    has = key in labels
    if op == "In":
        return has and labels[key] in values
    if op == "NotIn":
        return not has or labels[key] not in values
    if op == "Exists":
        return has
    if op == "DoesNotExist":
        return not has
    if op in ("Gt", "Lt"):
        if not has or len(values) != 1:
            return False
        try:
            got, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return got > want if op == "Gt" else got < want
    raise ValueError(f"unknown node selector operator {op!r}")


def _term_matches(term, node):
    labels = node["metadata"].get("labels") or {}
    fields = {"metadata.name": node["metadata"]["name"]}
    exprs = term.get("matchExpressions") or []
    field_exprs = term.get("matchFields") or []
    if not exprs and not field_exprs:
        return False  # an empty term matches no node
    return all(_expression_matches(e, labels) for e in exprs) and \
        all(_expression_matches(e, fields) for e in field_exprs)


def _tolerates(toleration, taint):
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    op = toleration.get("operator") or "Equal"
    if not key:
        return op == "Exists"
    if key != taint.get("key"):
        return False
    if op == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "")


def node_fits(pod, node, requests=None):
    """Returns None when pod fits node, else the reason it does not."""
    spec = pod.get("spec", {})
    labels = node["metadata"].get("labels") or {}
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return f"nodeSelector {k}={v}"
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is not None:
        terms = required.get("nodeSelectorTerms") or []
        if not any(_term_matches(t, node) for t in terms):
            return "required node affinity"
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(_tolerates(t, taint) for t in spec.get("tolerations") or []):
            return f"untolerated taint {taint.get('key')}:{taint.get('effect')}"
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    for name, amount in (requests if requests is not None else effective_requests(pod)).items():
        have = quantity_int(allocatable.get(name, 0)) or 0
        if amount > have:
            return f"insufficient {name} ({amount} > {have})"
    return None


def schedulable_nodes(pod, nodes):
    """Returns the set of node names the scheduler could place pod on."""
    requests = effective_requests(pod)
    return {n["metadata"]["name"] for n in nodes if node_fits(pod, n, requests) is None}


def explain_nodes(pod, nodes):
    """One line per node saying whether pod fits it and why not, for failure messages."""
    requests = effective_requests(pod)
    return "\n".join(f"  {n['metadata']['name']}: {node_fits(pod, n, requests) or 'fits'}"
                     for n in nodes)


# ---------------------------------------------------------------------------------------------
# Pods
# ---------------------------------------------------------------------------------------------

# The tolerations the DefaultTolerationSeconds admission plugin adds before any webhook runs.
DEFAULT_TOLERATIONS = [
    {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists",
     "tolerationSeconds": 300},
    {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists",
     "tolerationSeconds": 300},
]


def container(name="main", limits=None, requests=None, restart_policy=None, image=None):
    """A container as the apiserver has defaulted it; limits/requests map resource -> quantity."""
    c = {
        "name": name,
        "image": image or "nvcr.io/nvidia/pytorch:24.05-py3",
        "imagePullPolicy": "IfNotPresent",
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                          "name": "kube-api-access", "readOnly": True}],
    }
    if limits is not None:
        c["resources"]["limits"] = dict(limits)
    if requests is not None:
        c["resources"]["requests"] = dict(requests)
    if restart_policy is not None:
        c["restartPolicy"] = restart_policy
    return c


_UNSET = object()


def make_pod(namespace, gpus=None, name="p", service_account="trainer-1", containers=None,
             init_containers=None, labels=None, tolerations=_UNSET, affinity=None,
             node_selector=None, node_name=None, generate_name=False):
    """A pod CREATE object as it reaches the webhooks (defaulted by the apiserver).

    gpus maps resource -> quantity for the limits of a single container (ignored when
    containers is given). tolerations defaults to the DefaultTolerationSeconds pair; pass None
    for a pod with no tolerations at all. service_account None leaves serviceAccountName out.
    """
    if containers is None:
        containers = [container(limits={"cpu": "4", "memory": "16Gi", **(gpus or {})},
                                requests={"cpu": "4", "memory": "16Gi"})]
    meta = {"namespace": namespace}
    if generate_name:
        meta["generateName"] = name + "-"
    else:
        meta["name"] = name
    if labels is not None:
        meta["labels"] = dict(labels)
    spec = {
        "containers": containers,
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "restartPolicy": "Never",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "terminationGracePeriodSeconds": 30,
        "volumes": [{"name": "kube-api-access",
                     "projected": {"defaultMode": 420, "sources": [
                         {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}],
    }
    if service_account is not None:
        spec["serviceAccountName"] = service_account
        spec["serviceAccount"] = service_account
    if init_containers is not None:
        spec["initContainers"] = init_containers
    if tolerations is _UNSET:
        spec["tolerations"] = copy.deepcopy(DEFAULT_TOLERATIONS)
    elif tolerations is not None:
        spec["tolerations"] = copy.deepcopy(tolerations)
    if affinity is not None:
        spec["affinity"] = copy.deepcopy(affinity)
    if node_selector is not None:
        spec["nodeSelector"] = dict(node_selector)
    if node_name is not None:
        spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": {}}


# ---------------------------------------------------------------------------------------------
# Metrics, certificate rotation and the server process's memory (the reliability tests)
# ---------------------------------------------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_metrics(text):
    """Parses Prometheus text exposition format 0.0.4 strictly enough for tests.

    Returns (samples, types, helps): samples maps (name, frozenset of (label, value)) to a
    float; types and helps map a metric family name to its TYPE and HELP. Raises AssertionError
    on a line that is none of a comment, a sample or blank, on a sample whose family has no
    TYPE and HELP before it, and on a duplicate sample.
    """
    samples, types, helps = {}, {}, {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in (
                            "counter", "gauge", "histogram", "summary", "untyped"):
                        raise AssertionError(f"line {number}: bad TYPE line {line!r}")
                    types[parts[2]] = parts[3]
                else:
                    helps[parts[2]] = parts[3] if len(parts) == 4 else ""
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError(f"line {number}: not a sample: {line!r}")
        name, label_text, value = m.groups()
        labels = []
        rest = label_text or ""
        while rest:
            lm = _LABEL.match(rest)
            if not lm:
                raise AssertionError(f"line {number}: bad labels {label_text!r}")
            labels.append((lm.group(1), lm.group(2)))
            rest = rest[lm.end():]
        try:
            number_value = float(value)
        except ValueError:
            raise AssertionError(f"line {number}: value {value!r} is not a number") from None
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and types.get(name[:-len(suffix)]) == "histogram":
                family = name[:-len(suffix)]
        if family not in types or family not in helps:
            raise AssertionError(f"line {number}: {name} has no TYPE and HELP before it")
        key = (name, frozenset(labels))
        if key in samples:
            raise AssertionError(f"line {number}: duplicate sample {line!r}")
        samples[key] = number_value
    return samples, types, helps


def scrape(metrics_port, path="/metrics", timeout=10.0):
    """GETs path from the plain-HTTP metrics listener; returns (status, content type, text)."""
    conn = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type") or "", r.read().decode("utf-8")
    finally:
        conn.close()


class Metrics:
    """One scrape of /metrics, parsed."""

    def __init__(self, metrics_port):
        status, self.content_type, self.text = scrape(metrics_port)
        if status != 200:
            raise AssertionError(f"/metrics answered HTTP {status}: {self.text[:500]}")
        self.samples, self.types, self.helps = parse_metrics(self.text)

    def get(self, name, **labels):
        """The value of the sample name{labels} (labels given must match; others may exist
        only when the sample is unique), or None when there is none."""
        found = [v for (n, ls), v in self.samples.items()
                 if n == name and set(labels.items()) <= set(ls)]
        if len(found) > 1:
            raise AssertionError(f"{name}{labels} matches {len(found)} samples")
        return found[0] if found else None

    def labels(self, name):
        """The label sets of every sample called name, as dicts."""
        return [dict(ls) for (n, ls) in self.samples if n == name]


def wait_for_metric(metrics_port, predicate, timeout=10.0, interval=0.05):
    """Scrapes until predicate(Metrics) is true; returns that Metrics, or raises AssertionError
    with the last scrape after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        m = Metrics(metrics_port)
        if predicate(m):
            return m
        if time.monotonic() >= deadline:
            raise AssertionError(f"metrics did not reach the expected state within {timeout} s:"
                                 f"\n{m.text}")
        time.sleep(interval)


def make_leaf(certs, directory, key_type="ec", names=None):
    """Makes a new serving certificate and key signed by the CA of certs (from make_certs), as
    cert-manager renews one, in directory. Returns a Certs whose ca is the same bundle."""
    os.makedirs(directory, exist_ok=True)
    for part in ("ca.crt", "ca.key"):
        with open(os.path.join(certs.dir, part), "rb") as src, \
                open(os.path.join(directory, part), "wb") as dst:
            dst.write(src.read())
    names = names or SERVICE_NAMES
    sans = ", ".join(f"DNS:{n}" for n in names)
    _sign(directory, "tls", f"/CN={names[0]}", "ca",
          _LEAF_EXT.format(rsa=", keyEncipherment" if key_type == "rsa" else "", sans=sans),
          key_type)
    return Certs(directory, os.path.join(directory, "ca.crt"), os.path.join(directory, "tls.crt"),
                 os.path.join(directory, "tls.key"))


def make_expired_leaf(certs, directory):
    """Makes a serving certificate and key signed by the CA of certs that expired yesterday
    (python3-cryptography: the openssl CLI cannot date a certificate in the past)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(certs.dir, "ca.crt"), "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(certs.dir, "ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVICE)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=3))
            .not_valid_after(now - datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in SERVICE_NAMES]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path = os.path.join(directory, "tls.crt")
    key_path = os.path.join(directory, "tls.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return Certs(directory, os.path.join(certs.dir, "ca.crt"), cert_path, key_path)


def cert_serial(path_or_der):
    """The serial number of a PEM certificate file (its first certificate) or of DER bytes."""
    if isinstance(path_or_der, (bytes, bytearray)):
        args, data = ["x509", "-inform", "DER", "-noout", "-serial"], bytes(path_or_der)
    else:
        args, data = ["x509", "-in", path_or_der, "-noout", "-serial"], None
    proc = subprocess.run(["openssl", *args], input=data, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {proc.stderr.decode()}")
    return int(proc.stdout.decode().strip().split("=", 1)[1], 16)


def peer_serial(port, cafile):
    """Opens a new TLS connection as the apiserver would and returns the serial number of the
    certificate the server presented."""
    with tls_connect(port, cafile) as sock:
        return cert_serial(sock.getpeercert(binary_form=True))


def atomic_symlink(target, link):
    """Points link at target in one rename, as a ConfigMap or Secret volume swaps `..data`."""
    tmp = f"{link}.tmp-{uuid.uuid4().hex[:8]}"
    os.symlink(target, tmp)
    os.replace(tmp, link)


class ProjectedDir:
    """A directory laid out as the kubelet lays out a ConfigMap or Secret volume: each file is a
    symlink `name -> ..data/name`, `..data` a symlink to a timestamped directory holding the
    files, and an update writes a new timestamped directory and swaps `..data` in one rename."""

    def __init__(self, directory, files):
        self.dir = directory
        self.current = None
        os.makedirs(directory, exist_ok=True)
        self.update(files)
        for name in files:
            link = os.path.join(directory, name)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", name), link)

    def path(self, name):
        return os.path.join(self.dir, name)

    def update(self, files):
        """Publishes files ({name: bytes or str}) as the volume's new content."""
        stamp = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{uuid.uuid4().hex[:8]}"
        new = os.path.join(self.dir, stamp)
        os.mkdir(new)
        for name, content in files.items():
            mode = "wb" if isinstance(content, (bytes, bytearray)) else "w"
            with open(os.path.join(new, name), mode) as f:
                f.write(content)
        atomic_symlink(stamp, os.path.join(self.dir, "..data"))
        old, self.current = self.current, new
        if old is not None:
            for name in os.listdir(old):
                os.unlink(os.path.join(old, name))
            os.rmdir(old)


def rss_kib(pid):
    """The resident set size of process pid, in KiB (VmRSS of /proc/PID/status)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def uses_asan(pid):
    """True when process pid runs with AddressSanitizer, whose quarantine and shadow memory
    make its RSS say nothing about leaks."""
    with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as f:
        return "libasan" in f.read()
