#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Hostile clients against the real server: a slowloris (headers, a body, or a kept-alive
connection's next request trickled), oversized and cut-off bodies, deeply nested JSON, a
service-account name that makes a backtracking pattern run away, many idle connections, the
connection cap. Throughout, another client keeps getting correct answers within a latency bound,
and the server is alive afterwards. Then SIGTERM during load: requests in flight complete, the
exit status is 0."""

import json
import multiprocessing
import os
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
from apiserver import make_pod  # noqa: E402

P = "gpu_tenancy_webhook_"
REQUEST_TIMEOUT = 2  # seconds, --request-timeout of the server under test
MAX_BODY = 1 << 20
# Generous bounds: the suite runs under AddressSanitizer on two shared cores.
P99_BOUND = 0.2
MAX_BOUND = 2.0
PROMPT = 5.0

POLICY = """apiVersion: gpu-tenancy.io/v1alpha1
kind: GPUTenancyPolicy
tenants:
  - name: good
    namespaces: [team-good]
    serviceAccounts: ["trainer-.*"]
    sharing: [exclusive]
    products: [NVIDIA-A100-SXM4-80GB]
  # A pattern that backtracks exponentially on a long run of a's without a b.
  - name: evil
    namespaces: [team-evil]
    serviceAccounts: ["(a+)+b"]
    sharing: [exclusive]
    products: [NVIDIA-A100-SXM4-80GB]
"""


TMP = None
CERTS = None
POLICY_PATH = None


def setUpModule():
    global TMP, CERTS, POLICY_PATH
    TMP = tempfile.TemporaryDirectory(prefix="gtw-hostile-")
    CERTS = apiserver.make_certs(os.path.join(TMP.name, "certs"))
    POLICY_PATH = os.path.join(TMP.name, "policy.yaml")
    with open(POLICY_PATH, "w", encoding="utf-8") as f:
        f.write(POLICY)


def tearDownModule():
    if TMP is not None:
        TMP.cleanup()


def good_review():
    return apiserver.review_request(make_pod("team-good", {"nvidia.com/gpu": "1"}))


def head(method, path, headers):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {apiserver.SERVER_NAME}:443"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post_bytes(path, body, extra=None):
    headers = {"Content-Type": "application/json", "Content-Length": len(body), **(extra or {})}
    return head("POST", path, headers) + body


class Prober:
    """Keeps asking /mutate about an admissible GPU pod on one kept-alive connection, as the
    apiserver would, and records every latency and every failure (a wrong answer included).
    It runs in a process of its own, so that the attacking threads of the test do not slow
    it down by holding Python's interpreter lock."""

    def __init__(self, server):
        self.port = server.port
        self.ca = server.certs.ca
        self.latencies = []
        self.errors = []
        ctx = multiprocessing.get_context("fork")
        self.stopping = ctx.Event()
        self.ready = ctx.Event()
        self.receiver, sender = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=self.run, args=(sender,), daemon=True)

    def run(self, sender):
        latencies, errors = [], []
        client = apiserver.Client(self.port, self.ca)
        # The connection is made before the clock starts: the apiserver keeps its connections.
        try:
            client.review("/mutate", make_pod("team-good", {"nvidia.com/gpu": "1"}))
        except Exception as e:  # noqa: BLE001
            errors.append(f"first request: {type(e).__name__}: {e}")
        self.ready.set()
        while not self.stopping.is_set():
            start = time.monotonic()
            try:
                ex = client.review("/mutate", make_pod("team-good", {"nvidia.com/gpu": "1"}))
                if not ex.answer["response"]["allowed"] or ex.patch is None:
                    errors.append(f"wrong answer: {ex.answer}")
            except Exception as e:  # noqa: BLE001 - every failure is a finding
                errors.append(f"{type(e).__name__}: {e}")
                client.close()
                client = apiserver.Client(self.port, self.ca)
            latencies.append(time.monotonic() - start)
            client.transcript.clear()
            time.sleep(0.01)
        client.close()
        sender.send((latencies, errors))
        sender.close()

    def __enter__(self):
        self.process.start()
        self.ready.wait(15)
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        if self.receiver.poll(30):
            self.latencies, self.errors = self.receiver.recv()
        else:
            self.errors = ["the probing process did not report"]
        self.process.join(10)

    def check(self, test):
        test.assertFalse(self.errors, f"the probing client saw failures: {self.errors[:5]}")
        test.assertGreater(len(self.latencies), 5, "the probing client hardly got to ask")
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        if os.environ.get("GTW_TEST_VERBOSE"):
            print(f"[probe] {len(ordered)} requests, p99 {p99 * 1000:.1f} ms, "
                  f"max {ordered[-1] * 1000:.1f} ms", file=sys.stderr)
        test.assertLess(p99, P99_BOUND, f"p99 latency {p99 * 1000:.1f} ms over "
                                        f"{len(ordered)} requests")
        test.assertLess(ordered[-1], MAX_BOUND, f"max latency {ordered[-1] * 1000:.1f} ms")


class HostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.certs = CERTS
        cls.server = apiserver.Server(POLICY_PATH, CERTS, [
            "--request-timeout", str(REQUEST_TIMEOUT), "--idle-timeout", "20",
            "--max-body-bytes", str(MAX_BODY)]).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def tearDown(self):
        self.assertTrue(self.server.alive(), "the server died:\n" + self.server.stderr()[-3000:])
        client = apiserver.Client(self.server.port, self.certs.ca)
        try:
            ex = client.send_review("/mutate", good_review())
            self.assertTrue(ex.answer["response"]["allowed"])
        finally:
            client.close()

    def metric(self, name, **labels):
        return apiserver.Metrics(self.server.metrics_port).get(P + name, **labels)

    def connect(self):
        return apiserver.tls_connect(self.server.port, self.certs.ca)

    def raw(self, data, timeout=PROMPT):
        """Sends data on a new connection and reads one answer; returns (Response, seconds)."""
        with self.connect() as sock:
            start = time.monotonic()
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass  # the server may answer and close before reading everything
            resp = apiserver.read_http_response(sock, timeout=timeout)
            return resp, time.monotonic() - start

    def trickle_until_closed(self, sock, data, interval=0.25, limit=15.0):
        """Sends data a byte at a time, interval apart, until the server closes the connection.
        Returns the seconds it took, or fails when the server kept it for limit seconds."""
        start = time.monotonic()
        sock.settimeout(interval)
        for i in range(10 ** 6):
            try:
                if sock.recv(4096) == b"":
                    break  # orderly close
            except socket.timeout:
                pass
            except (ConnectionResetError, ssl.SSLError, OSError):
                break
            if time.monotonic() - start > limit:
                self.fail(f"the server kept a trickling connection for {limit} s")
            try:
                sock.sendall(data[i % len(data):i % len(data) + 1])
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                break
        return time.monotonic() - start

    # -- slowloris ----------------------------------------------------------------------------

    def test_slowloris(self):
        """Headers, a body, and a kept-alive connection's second request, each trickled a byte
        every quarter second: the idle timeout never fires, the request timeout does."""
        body = json.dumps(good_review()).encode()
        cases = {
            "headers": lambda sock: head("POST", "/mutate", {"Content-Type": "application/json",
                                                             "Content-Length": len(body)}),
            "body": lambda sock: self.send_head(sock, body) or body,
            "second request": lambda sock: self.first_request(sock, body) or post_bytes(
                "/mutate", body),
        }
        before = self.metric("connections_closed_total", reason="request_timeout")
        took = {}

        def attack(name, make):
            with self.connect() as sock:
                took[name] = self.trickle_until_closed(sock, make(sock))

        # Meanwhile a connection that waits between requests, as the apiserver's pool does, is
        # not taken for a slowloris: it outlives the request timeout and still works.
        idle = apiserver.Client(self.server.port, self.certs.ca)
        try:
            idle.send_review("/mutate", good_review())
            with Prober(self.server) as prober:
                threads = [threading.Thread(target=attack, args=(name, make))
                           for name, make in cases.items() for _ in range(3)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(30)
            idle.send_review("/mutate", good_review())
            self.assertEqual(idle.conn.connects, 1, "the idle connection was closed")
        finally:
            idle.close()
        prober.check(self)
        for name, seconds in took.items():
            # The sweep runs each second; allow it and some scheduling slack.
            self.assertLess(seconds, REQUEST_TIMEOUT + 4, f"{name}: closed after {seconds:.1f} s")
        self.assertEqual(len(took), len(cases))
        after = self.metric("connections_closed_total", reason="request_timeout")
        self.assertGreaterEqual(after - before, 3 * len(cases))

    def send_head(self, sock, body):
        sock.sendall(head("POST", "/mutate", {"Content-Type": "application/json",
                                              "Content-Length": len(body)}))

    def first_request(self, sock, body):
        sock.sendall(post_bytes("/mutate", body))
        resp = apiserver.read_http_response(sock)
        self.assertEqual(resp.status, 200)

    # -- bodies -------------------------------------------------------------------------------

    def test_oversized_bodies(self):
        body = b'{"pad": "' + b"x" * (MAX_BODY + 1024) + b'"}'
        with Prober(self.server) as prober:
            # Refused on its Content-Length, before the body: send only its start.
            resp, took = self.raw(post_bytes("/validate", body)[:65536])
            self.assertEqual(resp.status, 413, resp)
            resp, took = self.raw(head("POST", "/mutate", {"Content-Type": "application/json",
                                                           "Content-Length": 10 ** 12}))
            self.assertEqual(resp.status, 413, resp)
            self.assertLess(took, PROMPT)
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                              for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
            resp, _ = self.raw(head("POST", "/validate", {"Content-Type": "application/json",
                                                          "Transfer-Encoding": "chunked"}) + chunks)
            self.assertEqual(resp.status, 413, resp)
        prober.check(self)

    def test_bodies_cut_off(self):
        body = json.dumps(good_review()).encode()
        baseline = self.metric("connections")
        with Prober(self.server) as prober:
            for i in range(40):
                sock = self.connect()
                sock.sendall(post_bytes("/validate", body)[:200 + 37 * i])
                sock.close()
        prober.check(self)
        # Every cut-off connection is closed and forgotten: the count goes back down.
        apiserver.wait_for_metric(self.server.metrics_port,
                                  lambda m: m.get(P + "connections") <= baseline, 10)

    def test_pipelining_without_reading(self):
        # Requests sent back to back and no answer read: once the socket can take no more
        # answers, the server closes the connection (at once when an answer cannot be sent, at
        # the latest at the request deadline) instead of holding a worker for it.
        body = json.dumps(good_review()).encode()
        request = post_bytes("/mutate", body)
        with Prober(self.server) as prober:
            sock = self.connect()
            sock.settimeout(PROMPT)
            try:
                with self.assertRaises((ConnectionError, ssl.SSLError),
                                       msg="the server kept the connection"):
                    for _ in range(100000):
                        sock.sendall(request)
            finally:
                sock.close()
        prober.check(self)

    # -- JSON and patterns --------------------------------------------------------------------

    def test_deeply_nested_json(self):
        with Prober(self.server) as prober:
            for body in (b"[" * 100000, b'{"a":' * 100000, b"[" * 100000 + b"]" * 100000):
                resp, took = self.raw(post_bytes("/validate", body))
                self.assertEqual(resp.status, 400, resp)
                self.assertTrue(resp.body.strip(), "a 400 without a reason")
                self.assertLess(took, PROMPT)
            # Nesting within the parser's bound, inside an otherwise valid review: an answer.
            review = good_review()
            review["request"]["object"]["spec"]["deep"] = json.loads("[" * 900 + "]" * 900)
            resp, _ = self.raw(post_bytes("/validate", json.dumps(review).encode()))
            self.assertIn(resp.status, (200, 400), resp)
        prober.check(self)

    def test_pathological_service_account(self):
        name = "a" * 10000 + "!"
        pod = make_pod("team-evil", {"nvidia.com/gpu": "1"}, service_account=name)
        client = apiserver.Client(self.server.port, self.certs.ca)
        try:
            with Prober(self.server) as prober:
                # Long enough for the probing client to see whether it is slowed down.
                until = time.monotonic() + 1.0
                while time.monotonic() < until:
                    for endpoint in ("/validate", "/mutate"):
                        start = time.monotonic()
                        ex = client.review(endpoint, pod)
                        took = time.monotonic() - start
                        self.assertFalse(ex.answer["response"]["allowed"], ex.answer)
                        self.assertLess(took, 1.0, f"{endpoint} took {took:.2f} s")
            prober.check(self)
            # The same pattern still admits a name it matches.
            ok = make_pod("team-evil", {"nvidia.com/gpu": "1"}, service_account="aaab")
            self.assertTrue(client.review("/mutate", ok).answer["response"]["allowed"])
        finally:
            client.close()

    # -- connections --------------------------------------------------------------------------

    def test_many_idle_connections(self):
        """500 connections that never send a request: 400 bare TCP, 100 after a TLS handshake.
        The server keeps answering, and closes them once their first request is overdue."""
        socks = []
        try:
            with Prober(self.server) as prober:
                for _ in range(400):
                    socks.append(socket.create_connection(("127.0.0.1", self.server.port), 5))
                # All held at once (they start to be closed REQUEST_TIMEOUT after they opened).
                apiserver.wait_for_metric(self.server.metrics_port,
                                          lambda m: m.get(P + "connections") >= 400,
                                          REQUEST_TIMEOUT / 2)
                for _ in range(100):
                    socks.append(self.connect())
                apiserver.wait_for_metric(self.server.metrics_port,
                                          lambda m: m.get(P + "connections") < 10,
                                          REQUEST_TIMEOUT + 8)
            prober.check(self)
        finally:
            for s in socks:
                s.close()


class ConnectionLimitTest(unittest.TestCase):
    """--max-connections: connections past the cap are closed at once and counted, and the
    connections already open keep working."""

    def test_cap(self):
        with apiserver.Server(POLICY_PATH, CERTS, ["--max-connections", "20"]) as server:
            client = apiserver.Client(server.port, CERTS.ca)
            socks = []
            try:
                client.send_review("/mutate", good_review())
                for _ in range(40):
                    socks.append(socket.create_connection(("127.0.0.1", server.port), 5))
                m = apiserver.wait_for_metric(
                    server.metrics_port,
                    lambda m: m.get(P + "connections_closed_total",
                                    reason="connection_limit") >= 20, 10)
                self.assertLessEqual(m.get(P + "connections"), 20)
                ex = client.send_review("/mutate", good_review())
                self.assertTrue(ex.answer["response"]["allowed"])
                self.assertEqual(client.conn.connects, 1)
            finally:
                for s in socks:
                    s.close()
                client.close()


class ShutdownUnderLoadTest(unittest.TestCase):
    """SIGTERM while clients keep sending: every request that reached the server is answered
    correctly, one sent in pieces across the signal included; new connections are refused; the
    process exits 0 within the grace period."""

    def test_sigterm_during_load(self):
        server = apiserver.Server(POLICY_PATH, CERTS, ["--shutdown-grace", "10"]).start()
        try:
            self.run_load(server, CERTS)
        finally:
            if server.alive():
                server.proc.kill()

    def run_load(self, server, certs):
        body = json.dumps(good_review()).encode()
        request = post_bytes("/mutate", body)
        answered, failures, refused = [], [], []
        stop = threading.Event()

        def load():
            sock = None
            while not stop.is_set():
                if sock is None:
                    try:
                        sock = apiserver.tls_connect(server.port, certs.ca, timeout=5)
                    except (ConnectionRefusedError, ConnectionResetError, ssl.SSLError,
                            OSError) as e:
                        # Not yet accepted: the apiserver would try another replica.
                        refused.append(type(e).__name__)
                        return
                try:
                    sock.sendall(request)
                    resp = apiserver.read_http_response(sock, timeout=10)
                except (OSError, AssertionError) as e:
                    failures.append(f"{type(e).__name__}: {e}")
                    return
                if resp is None or resp.status != 200:
                    failures.append(f"answer {resp!r}")
                    return
                answer = json.loads(resp.body)
                if not answer["response"]["allowed"]:
                    failures.append(f"wrong answer {answer}")
                    return
                answered.append(time.monotonic())
                if (resp.header("Connection") or "").lower() == "close":
                    sock.close()
                    sock = None
            if sock is not None:
                sock.close()

        # One request in flight across the signal: headers and half its body before, the rest
        # after.
        slow = apiserver.tls_connect(server.port, certs.ca)
        half = len(request) - len(body) // 2
        slow.sendall(request[:half])
        threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        slow.sendall(request[half:])
        resp = apiserver.read_http_response(slow, timeout=10)
        slow.close()
        status = server.stop()
        stop.set()
        for t in threads:
            t.join(15)
        self.assertIsNotNone(resp, "the request in flight got no answer")
        self.assertEqual(resp.status, 200, resp)
        self.assertTrue(json.loads(resp.body)["response"]["allowed"])
        self.assertEqual(status, 0)
        self.assertFalse(failures, f"requests that reached the server failed: {failures[:5]}")
        self.assertGreater(len(answered), 20)
        self.assertLess(time.monotonic() - signalled, 10)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", server.port), 2).close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
