#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Runs the real server under valgrind over a few thousand requests, reloads and a SIGTERM, and
requires a clean exit: no leaked memory, no invalid read or write, no use of freed memory.

valgrind cannot run a binary built with AddressSanitizer, so a sanitizing build points GTW_BINARY
at a plain build's binary (-DGTW_VALGRIND_BINARY; scripts/test builds build/plain for it).
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import apiserver  # noqa: E402
from apiserver import container, make_pod  # noqa: E402

# CTest reports this exit status as a skipped test (SKIP_RETURN_CODE in tests/CMakeLists.txt).
SKIP_STATUS = 77
CORPUS = os.path.join(apiserver.SOURCE_ROOT, "tests", "fuzz", "corpus", "fuzz_review")
GPU = "nvidia.com/gpu"
CONNECTIONS = 4
ROUNDS = 3
REQUESTS_PER_ROUND = 200  # per connection: 4 x 3 x 200 = 2400 reviews, plus the odd requests
VALGRIND_EXIT = 99
VALGRIND_ARGS = [
    "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
    f"--error-exitcode={VALGRIND_EXIT}", "--track-fds=no",
    # PCRE2 JIT-compiles the service-account patterns and a reload frees and recompiles them;
    # without this, valgrind could run a stale translation of code at a reused address.
    "--smc-check=all-non-file",
    "--num-callers=30",
]
# Seconds: valgrind makes start-up and the exit's leak scan many times slower.
START_TIMEOUT = 90.0
STOP_TIMEOUT = 90.0


def check_not_sanitized(binary):
    """Fails early, with the reason, for a binary built with AddressSanitizer."""
    with open(binary, "rb") as f:
        if b"__asan_init" in f.read():
            raise AssertionError(
                f"{binary} is built with AddressSanitizer, which valgrind cannot run: point "
                "GTW_BINARY (CMake: -DGTW_VALGRIND_BINARY) at a build without -DGTW_SANITIZE=ON")


def corpus_bodies():
    """The fuzz seed reviews: pods, workloads, quotas, and bodies that are no review at all."""
    bodies = []
    for name in sorted(os.listdir(CORPUS)):
        with open(os.path.join(CORPUS, name), "rb") as f:
            bodies.append(f.read())
    return bodies


def review_body(obj, **kwargs):
    return json.dumps(apiserver.review_request(obj, **kwargs)).encode()


def generated_bodies():
    """Reviews of GPU pods admitted, warned and denied, with fresh uids so no two are alike."""
    bodies = []
    for i in range(8):
        bodies.append(review_body(make_pod("team-excl", {GPU: str(1 + i % 4)}, name=f"p{i}")))
        bodies.append(review_body(make_pod("team-warn", {GPU: "1"}, service_account=f"sa{i}")))
        bodies.append(review_body(make_pod("team-ts", {"nvidia.com/gpu.shared": "2"})))
        bodies.append(review_body(make_pod("team-mig", {f"nvidia.com/mig-{i % 2 + 1}g.10gb": "1"})))
        bodies.append(review_body(make_pod("ml-research", containers=[
            container(limits={GPU: "1"}), container("b", limits={"nvidia.com/mig-1g.10gb": "2"})],
            labels={"app": f"x{i}"})))
        bodies.append(review_body(make_pod("default", {GPU: "1"})))
    return bodies


class Traffic:
    """Sends reviews and odd requests over one keep-alive connection; counts what came back."""

    def __init__(self, server, bodies):
        self.server = server
        self.bodies = bodies
        self.counts = {}
        self.error = None

    def count(self, status):
        self.counts[status] = self.counts.get(status, 0) + 1

    def run(self, offset, n):
        client = apiserver.Client(self.server.port, self.server.certs.ca, timeout=60.0)
        try:
            for i in range(n):
                body = self.bodies[(offset + i) % len(self.bodies)]
                path = "/mutate" if i % 2 == 0 else "/validate"
                r = client.request("POST", path, body, {"Content-Type": "application/json"})
                if r.status not in (200, 400):
                    raise AssertionError(f"POST {path} answered HTTP {r.status}: {r.text()[:300]}")
                self.count(r.status)
                if i % 50 == 7:
                    self.odd_requests(client)
        except Exception as e:  # reported by the main thread
            self.error = e
        finally:
            client.close()

    def odd_requests(self, client):
        """Requests the server refuses before any review is judged."""
        checks = [
            ("GET", "/mutate", None, {}, 405),
            ("POST", "/nowhere", b"{}", {"Content-Type": "application/json"}, 404),
            ("POST", "/validate", b"{}", {"Content-Type": "text/plain"}, 415),
            ("POST", "/validate", b"{\"kind\": [", {"Content-Type": "application/json"}, 400),
            ("GET", "/healthz", None, {}, 200),
            ("GET", "/readyz", None, {}, 200),
        ]
        for method, path, body, headers, want in checks:
            r = client.request(method, path, body, headers)
            if r.status != want:
                raise AssertionError(f"{method} {path} answered HTTP {r.status}, expected {want}")
            self.count(r.status)


def abandoned_requests(server):
    """Connections that give up half-way: the server must free what it had started."""
    ctx = apiserver.tls_context(server.certs.ca)
    partial = (b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 5000\r\n\r\n{\"apiVersion\": \"admission.k8s.io/v1\", ")
    for _ in range(5):
        sock = apiserver.tls_connect(server.port, context=ctx, timeout=30.0)
        sock.sendall(partial)
        sock.close()
    for _ in range(3):
        # A TCP connection that never starts TLS, then one that stops mid-handshake.
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        raw.sendall(b"\x16\x03\x01\x00\x05hello")
        raw.close()
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        raw.close()


def oversized_request(server, limit):
    """A body over --max-body-bytes: 413, on a connection of its own."""
    client = apiserver.Client(server.port, server.certs.ca, timeout=60.0)
    try:
        r = client.request("POST", "/validate", b"[" + b" " * limit + b"]",
                           {"Content-Type": "application/json"})
        if r.status != 413:
            raise AssertionError(f"an oversized body got HTTP {r.status}, expected 413")
    except (ConnectionError, ssl.SSLError):
        pass  # closing the connection on an oversized body is allowed too
    finally:
        client.close()


def scrape_metrics(server):
    """Reads the plain-HTTP metrics listener, when the server has one. Returns the count."""
    if server.metrics_port is None:
        return 0
    for path, want in (("/metrics", 200), ("/healthz", 200), ("/nowhere", 404)):
        status, _, _ = apiserver.scrape(server.metrics_port, path, timeout=30.0)
        if status != want:
            raise AssertionError(f"metrics listener: GET {path} answered {status}, not {want}")
    return 3


def rotate_certs(server):
    """Puts a new key and certificate (from a new CA) in place of the served ones, as a Secret
    rotation does, and returns the new set."""
    fresh = apiserver.make_certs(os.path.join(server.certs.dir, "next"))
    os.replace(fresh.key, server.certs.key)
    os.replace(fresh.cert, server.certs.cert)
    return fresh


def wait_for_certs(server, fresh, timeout=30.0):
    """Waits until new handshakes present the rotated certificate, then trusts only its CA."""
    ctx = apiserver.tls_context(fresh.ca)
    deadline = time.monotonic() + timeout
    while True:
        try:
            apiserver.tls_connect(server.port, context=ctx, timeout=10.0).close()
            break
        except (ssl.SSLError, OSError) as e:
            if time.monotonic() > deadline:
                raise AssertionError(f"the rotated certificate is not served after {timeout:.0f}"
                                     f" s: {e}\nstderr:\n{server.stderr()[-3000:]}") from None
            time.sleep(0.2)
    server.certs = apiserver.Certs(server.certs.dir, fresh.ca, server.certs.cert,
                                   server.certs.key)


class ValgrindServer(unittest.TestCase):
    def test_no_leaks_or_invalid_accesses(self):
        valgrind = shutil.which("valgrind")
        binary = apiserver.binary()
        check_not_sanitized(binary)
        apiserver.START_TIMEOUT = START_TIMEOUT
        apiserver.STOP_TIMEOUT = STOP_TIMEOUT

        with tempfile.TemporaryDirectory(prefix="gtw-valgrind-") as tmp:
            certs = apiserver.make_certs(os.path.join(tmp, "certs"))
            policy = os.path.join(tmp, "policy.yaml")
            with open(apiserver.data_path("policy-it.yaml"), encoding="utf-8") as f:
                original = f.read()
            with open(policy, "w", encoding="utf-8") as f:
                f.write(original)
            log = os.path.join(tmp, "valgrind.log")
            limit = 64 * 1024
            server = apiserver.Server(policy, certs, ["--max-body-bytes", str(limit),
                                                      "--threads", "2"])
            server.args = [valgrind, *VALGRIND_ARGS, f"--log-file={log}", *server.args]
            bodies = corpus_bodies() + generated_bodies()
            started = time.monotonic()
            server.start()
            try:
                total = self.drive(server, bodies, policy, original, limit)
            finally:
                if server.alive():
                    server.proc.send_signal(signal.SIGTERM)
                status = server.stop(expect_status=None)
            with open(log, encoding="utf-8", errors="replace") as f:
                report = f.read()
            elapsed = time.monotonic() - started
            print(f"{total} requests under valgrind in {elapsed:.1f} s, exit status {status}",
                  file=sys.stderr)
            for line in report.splitlines():
                if re.search(r"(in use at exit|total heap usage|lost:|ERROR SUMMARY)", line):
                    print(line, file=sys.stderr)
            self.check_report(report, status, server.stderr())

    def drive(self, server, bodies, policy, original, limit):
        """Sends the traffic in rounds, reloading the policy (and once the certificate) between
        them. Returns the number of requests answered."""
        total = 0
        edits = [
            # A valid change (a new tenant), then an invalid one that must be refused, then back.
            original + "\n  - name: extra\n    namespaces: [team-extra]\n"
                       "    sharing: [exclusive]\n    products: [NVIDIA-A100-SXM4-80GB]\n",
            original + "\n  - name: broken\n    namespaces: [team-excl]\n",
        ]
        for round_ in range(ROUNDS):
            traffic = [Traffic(server, bodies) for _ in range(CONNECTIONS)]
            threads = [threading.Thread(target=t.run, args=(k * 37 + round_ * 11,
                                                            REQUESTS_PER_ROUND))
                       for k, t in enumerate(traffic)]
            for t in threads:
                t.start()
            abandoned_requests(server)
            oversized_request(server, limit)
            for t in threads:
                t.join(120)
            for t in traffic:
                if t.error is not None:
                    raise AssertionError(f"round {round_}: {t.error}\nserver stderr:\n"
                                         f"{server.stderr()[-3000:]}")
                total += sum(t.counts.values())
            total += scrape_metrics(server)
            if round_ >= len(edits):
                continue
            with open(policy, "w", encoding="utf-8") as f:
                f.write(edits[round_])
            rotated = rotate_certs(server) if round_ == 1 else None
            mark = len(server.stderr())
            server.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 30.0
            while "reload" not in server.stderr()[mark:]:
                if time.monotonic() > deadline:
                    raise AssertionError("no reload logged within 30 s of SIGHUP\n"
                                         f"stderr:\n{server.stderr()[-3000:]}")
                time.sleep(0.05)
            if rotated is not None:
                wait_for_certs(server, rotated)
        return total

    def check_report(self, report, status, stderr):
        summary = re.search(r"ERROR SUMMARY: (\d+) errors", report)
        definite = re.search(r"definitely lost: ([\d,]+) bytes", report)
        indirect = re.search(r"indirectly lost: ([\d,]+) bytes", report)
        problems = []
        if status != 0:
            problems.append(f"exit status {status} (valgrind reports errors as {VALGRIND_EXIT})")
        if summary is None:
            problems.append("valgrind printed no ERROR SUMMARY")
        elif summary.group(1) != "0":
            problems.append(f"valgrind counted {summary.group(1)} errors")
        for name, m in (("definitely", definite), ("indirectly", indirect)):
            if m is not None and m.group(1) != "0":
                problems.append(f"{m.group(1)} bytes {name} lost")
        for kind in ("Invalid read", "Invalid write", "Invalid free", "uninitialised",
                     "Mismatched free", "overlap"):
            if kind in report:
                problems.append(f"valgrind reports: {kind}")
        if problems:
            self.fail("; ".join(problems) + f"\n\nvalgrind log:\n{report[-20000:]}\n\n"
                      f"server stderr (end):\n{stderr[-3000:]}")


if __name__ == "__main__":
    if shutil.which("valgrind") is None:
        print("SKIPPED: valgrind is not installed (apt-get install valgrind), so the leak "
              "check did not run", file=sys.stderr)
        sys.exit(SKIP_STATUS)
    unittest.main(verbosity=2)
