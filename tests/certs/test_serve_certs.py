#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Integration test for `gpu-tenancy-webhook certs`: makes certificates, serves with them, and
calls the server as the kube-apiserver does, trusting only the CA and naming the Service's DNS
name as TLS server name. Also checks that renewal keeps the CA and that RSA keys serve too.

Environment: GTW_BINARY (the binary), GTW_POLICY (a valid policy file).
"""

import base64
import http.client
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading

BINARY = os.environ.get("GTW_BINARY", "gpu-tenancy-webhook")
HERE = os.path.dirname(os.path.abspath(__file__))
POLICY = os.environ.get("GTW_POLICY",
                        os.path.join(HERE, "..", "..", "policy", "examples", "policy.yaml"))
SERVICE, NAMESPACE = "gpu-tenancy-webhook", "gpu-tenancy-system"
HOST = "%s.%s.svc" % (SERVICE, NAMESPACE)
START_TIMEOUT = 30  # seconds; the sanitizers make the start slow

passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("FAIL - %s%s" % (what, ("\n    " + detail.strip()) if detail else ""))
    return ok


def certs(out, *extra):
    return subprocess.run([BINARY, "certs", "--service", SERVICE, "--namespace", NAMESPACE,
                           "--out", out] + list(extra), capture_output=True, text=True)


class Server:
    """The real server on 127.0.0.1, port chosen by the kernel."""

    def __init__(self, cert, key):
        self.proc = subprocess.Popen(
            [BINARY, "serve", "--policy", POLICY, "--tls-cert", cert, "--tls-key", key,
             "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.port = None
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))
                m = re.search(r"listening on https://127\.0\.0\.1:(\d+)", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        ready.wait(START_TIMEOUT)

    def log(self):
        return "\n".join(self.lines[-20:])

    def stop(self):
        """Sends SIGTERM; returns the exit status, or None when it did not exit in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self.reader.join(timeout=5)
        return rc


class ServiceConnection(http.client.HTTPSConnection):
    """Connects to 127.0.0.1:port but verifies the certificate for server_hostname, as the
    kube-apiserver calls a Service's address and checks the Service's DNS name."""

    def __init__(self, port, context, server_hostname):
        super().__init__("127.0.0.1", port, context=context, timeout=10)
        self.server_hostname = server_hostname

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.server_hostname)


def get(port, cafile, server_hostname, path="/healthz"):
    """Returns (status, None) or (None, the exception)."""
    ctx = ssl.create_default_context(cafile=cafile)
    conn = ServiceConnection(port, ctx, server_hostname)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status, None
    except (ssl.SSLError, OSError) as e:
        return None, e
    finally:
        conn.close()


def serve_and_call(name, cert_dir, cafile):
    """Serves with cert_dir's pair and checks /healthz through cafile; SIGTERM then exits 0."""
    srv = Server(os.path.join(cert_dir, "tls.crt"), os.path.join(cert_dir, "tls.key"))
    if not check(srv.port is not None, "%s: serve starts" % name, srv.log()):
        srv.stop()
        return
    status, err = get(srv.port, cafile, HOST)
    check(status == 200, "%s: GET /healthz as %s, trusting only the CA, is 200" % (name, HOST),
          "status %s, error %r" % (status, err))
    status, err = get(srv.port, cafile, SERVICE + ".other-namespace.svc")
    check(isinstance(err, ssl.SSLCertVerificationError),
          "%s: a name the certificate lacks is refused" % name, "status %s, error %r"
          % (status, err))
    rc = srv.stop()
    check(rc == 0, "%s: SIGTERM exits 0" % name, "exit %s\n%s" % (rc, srv.log()))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        ec = os.path.join(tmp, "ec")
        r = certs(ec)
        if not check(r.returncode == 0, "certs makes a CA and a serving certificate",
                     r.stderr):
            print("%d passed, %d failed" % (passed, failed))
            return 1
        ca = os.path.join(ec, "ca.crt")
        with open(ca, "rb") as f:
            ca_pem = f.read()
        bundle = r.stdout.strip()
        check(base64.b64decode(bundle) == ca_pem, "certs prints ca.crt as the base64 caBundle")
        for key in ("ca.key", "tls.key"):
            mode = stat.S_IMODE(os.stat(os.path.join(ec, key)).st_mode)
            check(mode == 0o600, "%s has mode 0600" % key, "mode %o" % mode)

        serve_and_call("ECDSA", ec, ca)

        # Renewal: the CA stays, so the caBundle registered in the cluster still verifies.
        with open(os.path.join(ec, "tls.crt"), "rb") as f:
            old_leaf = f.read()
        r = certs(ec, "--days", "30")
        check(r.returncode == 0 and r.stdout.strip() == bundle,
              "a second run reuses the CA and prints the same caBundle", r.stderr)
        with open(ca, "rb") as f:
            check(f.read() == ca_pem, "a second run leaves ca.crt as it was")
        with open(os.path.join(ec, "tls.crt"), "rb") as f:
            check(f.read() != old_leaf, "a second run issues a new serving certificate")
        serve_and_call("renewed", ec, ca)

        # RSA keys serve too.
        rsa = os.path.join(tmp, "rsa")
        r = certs(rsa, "--key-type", "rsa")
        if check(r.returncode == 0, "certs --key-type rsa", r.stderr):
            serve_and_call("RSA", rsa, os.path.join(rsa, "ca.crt"))

        # Another CA is not trusted, and a key from elsewhere is refused at start.
        other = os.path.join(tmp, "other")
        r = certs(other)
        if check(r.returncode == 0, "certs in another folder", r.stderr):
            srv = Server(os.path.join(ec, "tls.crt"), os.path.join(ec, "tls.key"))
            if check(srv.port is not None, "serve starts again", srv.log()):
                status, err = get(srv.port, os.path.join(other, "ca.crt"), HOST)
                check(isinstance(err, ssl.SSLCertVerificationError),
                      "a client trusting another CA refuses the server", "status %s, error %r"
                      % (status, err))
            srv.stop()
            p = subprocess.run([BINARY, "serve", "--policy", POLICY,
                                "--tls-cert", os.path.join(ec, "tls.crt"),
                                "--tls-key", os.path.join(other, "tls.key"),
                                "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"],
                               capture_output=True, text=True, timeout=START_TIMEOUT)
            check(p.returncode == 2, "serve refuses a key that does not match its certificate",
                  "exit %d\n%s" % (p.returncode, p.stderr))

        # Usage errors.
        r = subprocess.run([BINARY, "certs", "--service", SERVICE, "--out", tmp],
                           capture_output=True, text=True)
        check(r.returncode == 2 and "--namespace" in r.stderr,
              "certs without --namespace is a usage error", r.stderr)

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
