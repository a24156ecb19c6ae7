#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The metrics listener and the logs: /metrics parses as Prometheus text, its counters move as
reviews are answered, reloads and the certificate show, and each denial or warning is one log
line with the review's identity and never the object's contents, in text and in JSON."""

import calendar
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import apiserver  # noqa: E402
from apiserver import make_pod  # noqa: E402

P = "gpu_tenancy_webhook_"
POLICY = apiserver.data_path("policy-it.yaml")

FAMILIES = {
    "admission_requests_total": "counter",
    "admission_duration_seconds": "histogram",
    "http_errors_total": "counter",
    "requests_in_flight": "gauge",
    "connections": "gauge",
    "connections_closed_total": "counter",
    "policy_reloads_total": "counter",
    "policy_last_reload_successful": "gauge",
    "policy_generation": "gauge",
    "policy_tenants": "gauge",
    "tls_certificate_not_after_seconds": "gauge",
    "tls_certificate_reloads_total": "counter",
    "tls_certificate_last_reload_successful": "gauge",
    "build_info": "gauge",
}

# An image name that must never reach a log line: it is part of the object, not its identity.
SECRET_IMAGE = "registry.example/secret-image-name:do-not-log"


def pod(namespace, gpus=None, **kwargs):
    p = make_pod(namespace, gpus, **kwargs)
    p["spec"]["containers"][0]["image"] = SECRET_IMAGE
    return p


def not_after_epoch(cert):
    out = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-enddate"],
                         capture_output=True, text=True, check=True).stdout
    text = out.strip().split("=", 1)[1]  # e.g. "Nov 27 17:16:37 2026 GMT"
    return calendar.timegm(time.strptime(text, "%b %d %H:%M:%S %Y %Z"))


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="gtw-metrics-")
        cls.certs = apiserver.make_certs(os.path.join(cls.tmp.name, "certs"))
        cls.policy = os.path.join(cls.tmp.name, "policy.yaml")
        with open(POLICY, encoding="utf-8") as src, open(cls.policy, "w", encoding="utf-8") as dst:
            dst.write(src.read())
        cls.server = apiserver.Server(cls.policy, cls.certs, ["--no-watch"]).start()
        cls.client = apiserver.Client(cls.server.port, cls.certs.ca)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        try:
            cls.server.stop()
        finally:
            cls.tmp.cleanup()

    def metrics(self):
        self.assertIsNotNone(self.server.metrics_port, "no 'metrics on http://...' line")
        return apiserver.Metrics(self.server.metrics_port)

    def test_format(self):
        m = self.metrics()
        self.assertTrue(m.content_type.startswith("text/plain"), m.content_type)
        self.assertIn("version=0.0.4", m.content_type)
        for name, kind in FAMILIES.items():
            with self.subTest(family=name):
                self.assertEqual(m.types.get(P + name), kind, f"TYPE of {P + name}")
                self.assertTrue(m.helps.get(P + name), f"HELP of {P + name}")
        for name in m.types:
            self.assertTrue(name.startswith(P), name)

    def test_histogram_is_consistent(self):
        self.client.review("/validate", pod("team-excl"))
        m = self.metrics()
        for endpoint in ("mutate", "validate"):
            buckets = sorted(
                ((float("inf") if ls["le"] == "+Inf" else float(ls["le"])),
                 m.get(P + "admission_duration_seconds_bucket", endpoint=endpoint, le=ls["le"]))
                for ls in m.labels(P + "admission_duration_seconds_bucket")
                if ls["endpoint"] == endpoint)
            bounds = [b for b, _ in buckets]
            self.assertEqual(bounds[0], 50e-6, bounds)
            self.assertEqual(bounds[-2], 1.0, bounds)
            self.assertEqual(bounds[-1], float("inf"), bounds)
            counts = [c for _, c in buckets]
            self.assertEqual(counts, sorted(counts), f"buckets not cumulative: {buckets}")
            self.assertEqual(counts[-1],
                             m.get(P + "admission_duration_seconds_count", endpoint=endpoint))
            self.assertGreaterEqual(m.get(P + "admission_duration_seconds_sum", endpoint=endpoint),
                                    0)
        self.assertGreater(m.get(P + "admission_duration_seconds_count", endpoint="validate"), 0)

    def test_counters_move_with_reviews(self):
        def requests(m, endpoint, decision):
            return m.get(P + "admission_requests_total", endpoint=endpoint, decision=decision)

        before = self.metrics()
        self.client.review("/validate", pod("team-excl"))  # allowed: no GPU
        self.client.review("/validate", pod("nobody", {"nvidia.com/gpu": "1"}))  # denied
        self.client.review("/validate", pod("team-warn", {"nvidia.com/gpu": "1"},
                                            service_account="intruder"))  # warned
        self.client.review("/validate", pod("team-audit", {"nvidia.com/gpu": "1"},
                                            service_account="intruder"))  # audited
        self.client.review("/mutate", pod("team-excl", {"nvidia.com/gpu": "1"},
                                          service_account="intruder"))  # denied
        bad = self.client.request("POST", "/validate", "{", {"Content-Type": "application/json"})
        self.assertEqual(bad.status, 400)
        wrong_type = self.client.request("POST", "/mutate", "{}", {"Content-Type": "text/plain"})
        self.assertEqual(wrong_type.status, 415)
        self.assertEqual(self.client.request("GET", "/nowhere").status, 404)
        after = self.metrics()
        expected = {
            ("validate", "allowed"): 1, ("validate", "denied"): 1, ("validate", "warned"): 1,
            ("validate", "audited"): 1, ("validate", "error"): 1, ("mutate", "denied"): 1,
            ("mutate", "error"): 1, ("mutate", "allowed"): 0,
        }
        for (endpoint, decision), delta in expected.items():
            with self.subTest(endpoint=endpoint, decision=decision):
                self.assertEqual(requests(after, endpoint, decision) -
                                 requests(before, endpoint, decision), delta)
        for code, delta in (("400", 1), ("415", 1), ("404", 1), ("413", 0)):
            with self.subTest(code=code):
                self.assertEqual(after.get(P + "http_errors_total", code=code) -
                                 before.get(P + "http_errors_total", code=code), delta)
        self.assertEqual(
            after.get(P + "admission_duration_seconds_count", endpoint="validate") -
            before.get(P + "admission_duration_seconds_count", endpoint="validate"), 5)

    def test_connections_and_in_flight(self):
        client = apiserver.Client(self.server.port, self.certs.ca)
        try:
            client.review("/validate", pod("team-excl"))
            # The worker counts a request done just after its last byte leaves, which may be
            # after the client has read it.
            m = apiserver.wait_for_metric(self.server.metrics_port,
                                          lambda m: m.get(P + "requests_in_flight") == 0, 5)
            # This client's kept-alive connection at least.
            self.assertGreaterEqual(m.get(P + "connections"), 1)
        finally:
            client.close()

    def test_policy_reload_and_generation(self):
        before = self.metrics()
        generation = before.get(P + "policy_generation")
        (digest,) = [ls["digest"] for ls in before.labels(P + "policy_generation")]
        self.assertRegex(digest, r"^[0-9a-f]{16}$")
        self.assertIn(f"digest={digest}", self.server.stderr())
        self.assertEqual(before.get(P + "policy_tenants"), 10)
        with open(self.policy, "a", encoding="utf-8") as f:
            f.write("# a comment changes the digest, not the decisions\n")
        self.server.proc.send_signal(signal.SIGHUP)
        after = apiserver.wait_for_metric(
            self.server.metrics_port, lambda m: m.get(P + "policy_generation") == generation + 1)
        (new_digest,) = [ls["digest"] for ls in after.labels(P + "policy_generation")]
        self.assertNotEqual(new_digest, digest)
        self.assertEqual(after.get(P + "policy_reloads_total", result="success") -
                         before.get(P + "policy_reloads_total", result="success"), 1)
        self.assertEqual(after.get(P + "policy_last_reload_successful"), 1)

    def test_certificate_expiry(self):
        m = self.metrics()
        self.assertEqual(m.get(P + "tls_certificate_not_after_seconds"),
                         not_after_epoch(self.certs.cert))

    def test_healthz_and_refusals_on_the_metrics_port(self):
        port = self.server.metrics_port
        self.assertEqual(apiserver.scrape(port, "/healthz")[0], 200)
        self.assertEqual(apiserver.scrape(port, "/nothing")[0], 404)
        conn = apiserver.http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("POST", "/metrics", body=b"x")
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 405)
        finally:
            conn.close()

    def test_build_info(self):
        (labels,) = self.metrics().labels(P + "build_info")
        self.assertRegex(labels["version"], r"^\d+\.\d+\.\d+")


class MetricsListenTest(unittest.TestCase):
    """--metrics-listen: off, and refusals to start."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="gtw-metrics-listen-")
        cls.certs = apiserver.make_certs(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_off(self):
        for value in ("off", ""):
            with self.subTest(value=value):
                with apiserver.Server(POLICY, self.certs, ["--metrics-listen", value]) as srv:
                    self.assertIsNone(srv.metrics_port)
                    self.assertNotIn("metrics on", srv.stderr())

    def refuses(self, value):
        status, out, err = apiserver.run_binary(
            "serve", "--policy", POLICY, "--tls-cert", self.certs.cert, "--tls-key",
            self.certs.key, "--listen", "127.0.0.1:0", "--metrics-listen", value, timeout=15)
        self.assertEqual(status, 2, out + err)
        self.assertNotIn("listening on", err)
        return err

    def test_bad_address(self):
        self.assertIn("not-an-address", self.refuses("not-an-address"))

    def test_port_in_use(self):
        with apiserver.socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            err = self.refuses(f"127.0.0.1:{s.getsockname()[1]}")
        self.assertIn("in use", err)


class LogTest(unittest.TestCase):
    """One line per denial or warning with uid, kind, namespace, name, tenant, decision, reason
    and microseconds; nothing of the object's content."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="gtw-logs-")
        cls.certs = apiserver.make_certs(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def exchange(self, fmt):
        """Sends a denial and a warning to a server logging in fmt; returns (uids, stderr)."""
        with apiserver.Server(POLICY, self.certs, ["--log-format", fmt]) as srv:
            client = apiserver.Client(srv.port, self.certs.ca)
            try:
                denied = client.review("/validate", pod("nobody", {"nvidia.com/gpu": "1"},
                                                        name="denied-pod"))
                warned = client.review("/validate", pod("team-warn", {"nvidia.com/gpu": "1"},
                                                        service_account="intruder",
                                                        name="warned-pod"))
                client.review("/validate", pod("team-excl", name="allowed-pod"))
            finally:
                client.close()
            uids = (denied.review["request"]["uid"], warned.review["request"]["uid"])
        return uids, srv.stderr()

    def check_fields(self, fields, uid, decision, namespace, name, tenant):
        self.assertEqual(fields["uid"], uid)
        self.assertEqual(fields["kind"], "Pod")
        self.assertEqual(fields["namespace"], namespace)
        self.assertEqual(fields["name"], name)
        self.assertEqual(fields["tenant"], tenant)
        self.assertEqual(fields["decision"], decision)
        self.assertTrue(fields["reason"])
        self.assertGreater(int(fields["duration_us"]), 0)

    def test_json(self):
        (denied, warned), err = self.exchange("json")
        lines = {}
        for line in err.splitlines():
            if line.startswith("{"):
                entry = json.loads(line)  # every log line is one JSON object
                self.assertIn(entry["level"], ("debug", "info", "warn", "error"))
                if entry.get("msg") == "review":
                    lines[entry["uid"]] = entry
        self.check_fields(lines[denied], denied, "denied", "nobody", "denied-pod", "")
        self.check_fields(lines[warned], warned, "warned", "team-warn", "warned-pod", "warn")
        # Allowed reviews log at debug, below the default level.
        self.assertEqual(len(lines), 2, lines)
        self.assertNotIn(SECRET_IMAGE, err)

    def test_text(self):
        (denied, warned), err = self.exchange("text")
        lines = {}
        for line in err.splitlines():
            if 'msg=review ' not in line:
                continue
            fields = dict(apiserver.re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line))
            fields = {k: json.loads(v) if v.startswith('"') else v for k, v in fields.items()}
            lines[fields["uid"]] = fields
        self.check_fields(lines[denied], denied, "denied", "nobody", "denied-pod", "")
        self.check_fields(lines[warned], warned, "warned", "team-warn", "warned-pod", "warn")
        self.assertEqual(len(lines), 2, lines)
        self.assertNotIn(SECRET_IMAGE, err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
