#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The binary's commands, its refusals to start, TLS (versions, key types, chains, names),
keep-alive and shutdown, tested by running the real gpu-tenancy-webhook."""

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import apiserver  # noqa: E402
from apiserver import make_pod  # noqa: E402

POLICY = apiserver.data_path("policy-it.yaml")
TMP = None
EC = RSA = CHAIN = OTHER = None
CERTS = {}


def setUpModule():
    global TMP, EC, RSA, CHAIN, OTHER
    TMP = tempfile.TemporaryDirectory(prefix="gtw-server-")
    EC = apiserver.make_certs(os.path.join(TMP.name, "ec"), "ec")
    RSA = apiserver.make_certs(os.path.join(TMP.name, "rsa"), "rsa")
    CHAIN = apiserver.make_certs(os.path.join(TMP.name, "chain"), "ec", chain=True)
    OTHER = apiserver.make_certs(os.path.join(TMP.name, "other"), "ec")
    CERTS.update(ec=EC, rsa=RSA, chain=CHAIN)


def tearDownModule():
    if TMP is not None:
        TMP.cleanup()


def write(name, text):
    path = os.path.join(TMP.name, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


GOOD_POLICY = """apiVersion: gpu-tenancy.io/v1alpha1
kind: GPUTenancyPolicy
tenants:
  - name: research
    namespaces: [ml-research]
    sharing: [exclusive]
    products: [NVIDIA-A100-SXM4-80GB]
"""

# Line 7, column 5: a key the format does not have.
BAD_KEY_POLICY = """apiVersion: gpu-tenancy.io/v1alpha1
kind: GPUTenancyPolicy
tenants:
  - name: research
    namespaces: [ml-research]
    sharing: [exclusive]
    prodcts: [NVIDIA-A100-SXM4-80GB]
"""

# Two independent problems: an unknown strategy on line 6, a fractional cap on line 13.
TWO_PROBLEMS_POLICY = """apiVersion: gpu-tenancy.io/v1alpha1
kind: GPUTenancyPolicy
tenants:
  - name: research
    namespaces: [ml-research]
    sharing: [exclusive, timeslicing]
    products: [NVIDIA-A100-SXM4-80GB]
  - name: inference
    namespaces: [serving]
    sharing: [exclusive]
    products: [NVIDIA-A100-SXM4-80GB]
    maxGpusPerPod: 4
    quota: {nvidia.com/gpu: 1.5}
"""


def diag_lines(text, path):
    """The `path:line:column: message` lines of text, as (line, column, message)."""
    pattern = re.compile(re.escape(path) + r":(\d+):(\d+): (.+)")
    return [(int(m.group(1)), int(m.group(2)), m.group(3))
            for m in map(pattern.match, text.splitlines()) if m]


class CommandTest(unittest.TestCase):
    def test_lint_example_policy(self):
        status, out, err = apiserver.run_binary("lint", apiserver.example_policy())
        self.assertEqual(status, 0, out + err)

    def test_lint_test_policy(self):
        status, out, err = apiserver.run_binary("lint", POLICY)
        self.assertEqual(status, 0, out + err)

    def test_lint_bad_policy(self):
        path = write("bad-key.yaml", BAD_KEY_POLICY)
        status, out, err = apiserver.run_binary("lint", path)
        self.assertEqual(status, 1, out + err)
        diags = diag_lines(out + err, path)
        self.assertTrue(diags, f"no '{path}:LINE:COLUMN: message' line in:\n{out}{err}")
        typo = [d for d in diags if "prodcts" in d[2]]
        self.assertTrue(typo, f"no message names the unknown key: {diags}")
        self.assertEqual(typo[0][:2], (7, 5), diags)

    def test_lint_reports_every_problem(self):
        path = write("two-problems.yaml", TWO_PROBLEMS_POLICY)
        status, out, err = apiserver.run_binary("lint", path)
        self.assertEqual(status, 1, out + err)
        lines = {d[0] for d in diag_lines(out + err, path)}
        self.assertIn(6, lines, out + err)
        self.assertIn(13, lines, out + err)

    def test_lint_good_and_bad_files(self):
        good = write("good.yaml", GOOD_POLICY)
        bad = write("bad-key-2.yaml", BAD_KEY_POLICY)
        status, out, err = apiserver.run_binary("lint", good, bad)
        self.assertEqual(status, 1, out + err)
        self.assertTrue(diag_lines(out + err, bad), out + err)
        self.assertFalse(diag_lines(out + err, good), out + err)

    def test_lint_missing_file(self):
        path = os.path.join(TMP.name, "does-not-exist.yaml")
        status, out, err = apiserver.run_binary("lint", path)
        self.assertEqual(status, 1, out + err)
        self.assertIn(path, out + err)

    def test_version(self):
        status, out, err = apiserver.run_binary("version")
        self.assertEqual(status, 0, out + err)
        self.assertRegex(out + err, r"\d+\.\d+\.\d+")

    def test_help(self):
        for args in (["--help"], ["serve", "--help"], ["lint", "--help"]):
            with self.subTest(args=args):
                status, out, err = apiserver.run_binary(*args)
                self.assertEqual(status, 0, out + err)
                self.assertRegex(out + err, r"(?i)usage")
        status, out, err = apiserver.run_binary("serve", "--help")
        for flag in ("--policy", "--tls-cert", "--tls-key", "--listen"):
            self.assertIn(flag, out + err)

    def test_unknown_command(self):
        status, out, err = apiserver.run_binary("frobnicate")
        self.assertNotEqual(status, 0)
        self.assertTrue((out + err).strip(), "no message for an unknown command")


class RefuseToStartTest(unittest.TestCase):
    """serve must exit with status 2 and say why, instead of serving something half-broken."""

    def serve(self, policy=POLICY, cert=None, key=None, listen="127.0.0.1:0"):
        args = ["serve", "--policy", policy, "--tls-cert", cert or EC.cert,
                "--tls-key", key or EC.key, "--listen", listen, "--metrics-listen", "127.0.0.1:0"]
        try:
            status, out, err = apiserver.run_binary(*args, timeout=10)
        except subprocess.TimeoutExpired:
            self.fail(f"serve {' '.join(args)} kept running instead of refusing to start")
        self.assertEqual(status, 2, f"exit status {status}\n{out}{err}")
        self.assertTrue(err.strip(), "no message on stderr")
        self.assertNotRegex(err, r"listening on https://")
        return err

    def test_invalid_policy(self):
        path = write("serve-bad.yaml", BAD_KEY_POLICY)
        err = self.serve(policy=path)
        self.assertTrue(diag_lines(err, path), f"no '{path}:LINE:COLUMN: message' in:\n{err}")

    def test_missing_policy(self):
        path = os.path.join(TMP.name, "no-policy.yaml")
        self.assertIn(path, self.serve(policy=path))

    def test_missing_cert(self):
        path = os.path.join(TMP.name, "no-such.crt")
        self.assertIn(path, self.serve(cert=path))

    def test_missing_key(self):
        path = os.path.join(TMP.name, "no-such.key")
        self.assertIn(path, self.serve(key=path))

    def test_garbage_cert(self):
        self.serve(cert=write("garbage.crt", "this is not a certificate\n"))

    def test_key_of_another_cert(self):
        self.serve(key=OTHER.key)

    def test_port_in_use(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            self.serve(listen=f"127.0.0.1:{port}")


class TlsTest(unittest.TestCase):
    """An ECDSA-keyed server, called as the apiserver calls it."""

    KEY_SET = "ec"

    @classmethod
    def setUpClass(cls):
        cls.certs = CERTS[cls.KEY_SET]
        cls.server = apiserver.Server(POLICY, cls.certs).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def review_once(self, server_hostname=apiserver.SERVER_NAME):
        client = apiserver.Client(self.server.port, self.certs.ca, server_hostname)
        try:
            ex = client.send_review("/mutate", apiserver.review_request(
                make_pod("team-excl", {"nvidia.com/gpu": "1"})))
            self.assertTrue(ex.answer["response"]["allowed"])
            self.assertIsNotNone(ex.patch)
            return client.conn.sock.version()
        finally:
            client.close()

    def handshake(self, version):
        ctx = apiserver.tls_context(self.certs.ca, version, version)
        with apiserver.tls_connect(self.server.port, context=ctx) as sock:
            return sock.version()

    def test_review(self):
        self.review_once()

    def test_tls_1_2(self):
        self.assertEqual(self.handshake(ssl.TLSVersion.TLSv1_2), "TLSv1.2")

    def test_tls_1_3(self):
        self.assertEqual(self.handshake(ssl.TLSVersion.TLSv1_3), "TLSv1.3")

    def test_tls_1_1_refused(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.certs.ca)
        try:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1_1
                ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        except (ssl.SSLError, ValueError) as e:
            self.skipTest(f"this OpenSSL cannot offer TLS 1.1: {e}")
        with self.assertRaises(ssl.SSLError) as cm:
            apiserver.tls_connect(self.server.port, context=ctx).close()
        if "NO_PROTOCOLS_AVAILABLE" in str(cm.exception).upper():
            self.skipTest(f"this OpenSSL cannot offer TLS 1.1: {cm.exception}")

    def test_every_service_name(self):
        for name in apiserver.SERVICE_NAMES:
            with self.subTest(name=name):
                self.review_once(name)

    def test_wrong_name_is_rejected_by_the_client(self):
        with self.assertRaises(ssl.SSLCertVerificationError):
            apiserver.tls_connect(self.server.port, self.certs.ca, "other-webhook.default.svc")

    def test_other_ca_is_rejected_by_the_client(self):
        with self.assertRaises(ssl.SSLCertVerificationError):
            apiserver.tls_connect(self.server.port, OTHER.ca)

    def test_plain_http_is_not_served(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            try:
                data = s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                data = b""
            self.assertFalse(data.startswith(b"HTTP/1.1 200"), data)
        self.assertTrue(self.server.alive())

    def test_keep_alive(self):
        client = apiserver.Client(self.server.port, self.certs.ca)
        try:
            for i in range(50):
                endpoint = "/mutate" if i % 2 else "/validate"
                ex = client.send_review(endpoint, apiserver.review_request(
                    make_pod("team-excl", {"nvidia.com/gpu": "1"}, name=f"p{i}")))
                self.assertIn("allowed", ex.answer["response"])
                self.assertNotEqual((ex.http.header("Connection") or "").lower(), "close")
            self.assertEqual(client.conn.connects, 1, "the server did not keep the connection")
        finally:
            client.close()

    def test_health_endpoints(self):
        client = apiserver.Client(self.server.port, self.certs.ca)
        try:
            self.assertEqual(client.request("GET", "/healthz").status, 200)
            self.assertEqual(client.request("GET", "/readyz").status, 200)
        finally:
            client.close()


class RsaTest(TlsTest):
    """The same calls against an RSA-keyed server."""

    KEY_SET = "rsa"

    def test_server_key_is_rsa(self):
        with apiserver.tls_connect(self.server.port, RSA.ca) as sock:
            der = sock.getpeercert(binary_form=True)
        text = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-text"],
                              input=der, capture_output=True).stdout.decode()
        self.assertIn("rsaEncryption", text)


class ChainTest(TlsTest):
    """A cert file with leaf and intermediate; the client trusts only the root."""

    KEY_SET = "chain"


class ShutdownTest(unittest.TestCase):
    def test_sigterm_when_idle(self):
        server = apiserver.Server(POLICY, EC).start()
        self.assertEqual(server.stop(), 0)

    def test_sigterm_with_an_open_keep_alive_connection(self):
        server = apiserver.Server(POLICY, EC).start()
        client = apiserver.Client(server.port, EC.ca)
        try:
            client.send_review("/validate", apiserver.review_request(make_pod("team-excl")))
            start = time.monotonic()
            self.assertEqual(server.stop(), 0)
            self.assertLess(time.monotonic() - start, 5.0, "shutdown waited on an idle client")
        finally:
            client.close()
            if server.alive():
                server.proc.send_signal(signal.SIGKILL)


if __name__ == "__main__":
    unittest.main(verbosity=2)
