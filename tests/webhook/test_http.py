#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Bad HTTP input against the real server: every error the issue lists gets its status, promptly,
and the server keeps answering good reviews afterwards."""

import json
import os
import socket
import ssl
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import apiserver  # noqa: E402
from apiserver import make_pod  # noqa: E402

MAX_BODY = 65536
PROMPT = 5.0  # seconds; generous for a sanitizer build


def good_review():
    return apiserver.review_request(make_pod("team-excl", {"nvidia.com/gpu": "1"}))


def padded_review(size):
    """A valid review of about size bytes, made long by an annotation."""
    review = good_review()
    review["request"]["object"]["metadata"]["annotations"] = {"padding": ""}
    base = len(json.dumps(review))
    review["request"]["object"]["metadata"]["annotations"]["padding"] = "x" * max(0, size - base)
    return json.dumps(review).encode()


class HttpTest(unittest.TestCase, metaclass=apiserver.TranscriptMeta):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="gtw-http-")
        certs = apiserver.make_certs(cls.tmp.name)
        cls.server = apiserver.Server(apiserver.data_path("policy-it.yaml"), certs,
                                      ["--max-body-bytes", str(MAX_BODY)]).start()
        cls.client = apiserver.Client(cls.server.port, certs.ca)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        try:
            cls.server.stop()
        finally:
            cls.tmp.cleanup()

    def tearDown(self):
        # Whatever the test sent, the server must still be up and answering.
        self.assertTrue(self.server.alive(), "the server died:\n" + self.server.stderr()[-3000:])
        fresh = apiserver.Client(self.server.port, self.server.certs.ca)
        try:
            ex = fresh.send_review("/validate", good_review())
            self.assertIn("allowed", ex.answer["response"])
        finally:
            fresh.close()

    # -- requests ---------------------------------------------------------------------------

    def raw(self, data, timeout=PROMPT):
        """Sends raw bytes on a new TLS connection and reads one response. Returns (Response,
        seconds until it arrived)."""
        sock = apiserver.tls_connect(self.server.port, self.server.certs.ca)
        try:
            start = time.monotonic()
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer and close before reading everything
            resp = apiserver.read_http_response(sock, timeout=timeout)
            return resp, time.monotonic() - start
        finally:
            sock.close()

    def head(self, method, path, headers):
        lines = [f"{method} {path} HTTP/1.1", f"Host: {apiserver.SERVER_NAME}:443"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def post(self, path, body, content_type="application/json"):
        headers = {"Content-Type": content_type} if content_type else {}
        return self.client.request("POST", path, body, headers)

    def assert_status(self, resp, status):
        self.assertIsNotNone(resp, f"the connection closed without an HTTP {status}")
        self.assertEqual(resp.status, status, repr(resp))

    def assert_reason(self, resp):
        self.assertTrue(resp.body.strip(), f"HTTP {resp.status} without a reason in the body")

    # -- how answers travel ----------------------------------------------------------------

    def records_of_answers(self, bodies):
        """Sends each body as a POST to /mutate on one keep-alive connection, with TLS run over
        memory buffers so that the bytes on the wire can be read, and returns for each answer
        its HTTP response and the content types of the TLS records it came in."""
        ctx = apiserver.tls_context(self.server.certs.ca)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname=apiserver.SERVER_NAME)
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=PROMPT)
        results = []
        try:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    sock.sendall(outgoing.read())
                    incoming.write(sock.recv(65536))
            sock.sendall(outgoing.read())
            for body in bodies:
                tls.write(self.head("POST", "/mutate", {"Content-Type": "application/json",
                                                        "Content-Length": len(body)}) + body)
                sock.sendall(outgoing.read())
                raw, plain = b"", b""
                while True:
                    data = sock.recv(65536)
                    self.assertTrue(data, "the connection closed before the answer")
                    raw += data
                    incoming.write(data)
                    try:
                        while True:
                            plain += tls.read(65536)
                    except ssl.SSLWantReadError:
                        pass
                    head, sep, rest = plain.partition(b"\r\n\r\n")
                    length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")]
                    if sep and length and len(rest) >= length[0]:
                        break
                types, i = [], 0
                while i + 5 <= len(raw):
                    types.append(raw[i])
                    i += 5 + int.from_bytes(raw[i + 3:i + 5], "big")
                self.assertEqual(i, len(raw), "the answer ended inside a TLS record")
                results.append((head.split(b"\r\n")[0].decode(), types))
        finally:
            sock.close()
        return results

    def test_answers_are_one_tls_record_each(self):
        # A patched answer is over 1,400 bytes: as two records (header, body) it would also be
        # two TCP segments, and the client would wait for the second. An error and a small
        # answer come the same way, on the same connection.
        big = json.dumps(good_review()).encode()
        bad = b'{"not": "a review"}'
        for status, types in self.records_of_answers([big, bad, big, bad]):
            self.assertEqual(types, [23], f"{status} came in TLS records of types {types}")

    # -- methods and paths ----------------------------------------------------------------

    def test_get_mutate_is_405(self):
        self.assert_status(self.client.request("GET", "/mutate"), 405)

    def test_get_validate_is_405(self):
        self.assert_status(self.client.request("GET", "/validate"), 405)

    def test_put_validate_is_405(self):
        resp = self.client.request("PUT", "/validate", json.dumps(good_review()),
                                   {"Content-Type": "application/json"})
        self.assert_status(resp, 405)

    def test_unknown_path_is_404(self):
        self.assert_status(self.post("/nope", json.dumps(good_review())), 404)

    def test_unknown_path_get_is_404(self):
        self.assert_status(self.client.request("GET", "/mutate/extra"), 404)

    def test_healthz(self):
        self.assert_status(self.client.request("GET", "/healthz"), 200)

    def test_readyz(self):
        self.assert_status(self.client.request("GET", "/readyz"), 200)

    # -- content type ---------------------------------------------------------------------

    def test_text_plain_is_415(self):
        self.assert_status(self.post("/mutate", json.dumps(good_review()), "text/plain"), 415)

    def test_form_is_415(self):
        self.assert_status(self.post("/validate", "a=b", "application/x-www-form-urlencoded"), 415)

    def test_json_with_charset_is_accepted(self):
        resp = self.post("/validate", json.dumps(good_review()), "application/json; charset=utf-8")
        self.assert_status(resp, 200)

    # -- bodies ---------------------------------------------------------------------------

    def test_body_under_the_cap_is_accepted(self):
        body = padded_review(MAX_BODY - 1024)
        self.assert_status(self.post("/validate", body), 200)

    def test_body_over_the_cap_is_413(self):
        body = padded_review(MAX_BODY + 4096)
        data = self.head("POST", "/validate", {"Content-Type": "application/json",
                                               "Content-Length": len(body)}) + body
        resp, _ = self.raw(data)
        self.assert_status(resp, 413)

    def test_huge_content_length_is_a_prompt_413(self):
        data = self.head("POST", "/mutate", {"Content-Type": "application/json",
                                             "Content-Length": 10 ** 12})
        resp, took = self.raw(data)
        self.assert_status(resp, 413)
        self.assertLess(took, PROMPT)

    def test_chunked_body_over_the_cap_is_413(self):
        body = padded_review(MAX_BODY * 2)
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 8192]), body[i:i + 8192])
                          for i in range(0, len(body), 8192)) + b"0\r\n\r\n"
        data = self.head("POST", "/validate", {"Content-Type": "application/json",
                                               "Transfer-Encoding": "chunked"}) + chunks
        resp, _ = self.raw(data)
        self.assert_status(resp, 413)

    def test_malformed_json_is_400(self):
        resp = self.post("/mutate", '{"apiVersion": "admission.k8s.io/v1", "kind": ')
        self.assert_status(resp, 400)
        self.assert_reason(resp)

    def test_json_that_is_not_an_object_is_400(self):
        resp = self.post("/validate", "[1, 2, 3]")
        self.assert_status(resp, 400)
        self.assert_reason(resp)

    def test_review_without_request_is_400(self):
        resp = self.post("/validate", json.dumps({"apiVersion": "admission.k8s.io/v1",
                                                  "kind": "AdmissionReview"}))
        self.assert_status(resp, 400)
        self.assert_reason(resp)

    def test_review_without_uid_is_400(self):
        review = good_review()
        del review["request"]["uid"]
        resp = self.post("/mutate", json.dumps(review))
        self.assert_status(resp, 400)
        self.assert_reason(resp)

    def test_empty_body_is_400(self):
        resp = self.post("/validate", b"")
        self.assert_status(resp, 400)
        self.assert_reason(resp)

    def test_body_cut_short_then_closed(self):
        body = json.dumps(good_review()).encode()
        data = self.head("POST", "/validate", {"Content-Type": "application/json",
                                               "Content-Length": len(body)}) + body[:100]
        sock = apiserver.tls_connect(self.server.port, self.server.certs.ca)
        sock.sendall(data)
        sock.close()  # tearDown checks the server shrugged it off

    # -- the connection after errors ------------------------------------------------------

    def test_same_connection_after_errors(self):
        self.assert_status(self.client.request("GET", "/mutate"), 405)
        self.assert_status(self.post("/nope", "{}"), 404)
        self.assert_status(self.post("/mutate", "{", "application/json"), 400)
        # http.client reconnects only when the server said "Connection: close"; a keep-alive
        # connection dropped silently fails here, as it would fail the apiserver's POST.
        ex = self.client.send_review("/mutate", good_review())
        self.assertTrue(ex.answer["response"]["allowed"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
