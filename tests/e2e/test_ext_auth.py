# SPDX-License-Identifier: Apache-2.0
"""ExtAuthPolicy (gatehouse.dev/v1alpha1, docs/policies.md): each request
of a covered route is first put to an HTTP authorization service (a small
server the test starts). 2xx lets it through with headersFromAuth copied
(a client's copies removed); any other answer goes back to the client as
it came; a service that hangs times out into failureMode (Closed: 503,
Open: through), bounded in time; includeBody forwards a bounded body;
HTTP/2 clients too; statuses; `gatehouse check` positions."""
import http.server
import json
import threading
import time

import pytest

from echoclient import H1, H2Client
from gateway import (NS, backend, endpointslice_obj, free_port, gatehouse_run,  # noqa: F401
                     httproute, prefix, service_obj, stack)

GROUP = "gateway.networking.k8s.io"


class AuthServer:
    """Allows when X-Token: good (answering X-User and X-Auth-Seen), sleeps
    `delay` seconds first when X-Token: slow; else 403 with a body and
    X-Deny-Reason."""

    def __init__(self):
        self.port = free_port()
        self.seen = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.seen.append((self.command, self.path, dict(self.headers), body))
                tok = self.headers.get("X-Token")
                if tok == "slow":
                    time.sleep(2)
                if tok in ("good", "slow"):
                    self.send_response(200)
                    self.send_header("X-User", "alice")
                    self.send_header("X-Other", "not-copied")
                    self.send_header("X-Body-Len", str(len(body)))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                b = b'{"error":"denied"}'
                self.send_response(403)
                self.send_header("X-Deny-Reason", "bad token")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def objects(self, name="authz"):
        return [service_obj(name, [{"name": "http", "port": 8080, "targetPort": self.port}]),
                endpointslice_obj(name, ["127.0.0.1"], [{"name": "http", "port": self.port}])]

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def authz():
    a = AuthServer()
    yield a
    a.close()


def policy(name, targets, svc="authz", fail=None, timeout=None, body=None, prefix_=None):
    http = {"backendRef": {"name": svc, "port": 8080},
            "headersToAuth": ["X-Token"], "headersFromAuth": ["X-User", "X-Body-Len"]}
    if prefix_:
        http["pathPrefix"] = prefix_
    if body:
        http["includeBody"] = {"maxBytes": body}
    spec = {"targetRefs": targets, "http": http}
    if fail:
        spec["failureMode"] = fail
    if timeout:
        spec["timeout"] = timeout
    return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "ExtAuthPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def target(kind, name, section=None):
    t = {"group": GROUP, "kind": kind, "name": name}
    if section:
        t["sectionName"] = section
    return t


def routes():
    return [httproute("r", [
        {"name": "closed", "matches": [prefix("/c")], "backendRefs": [backend("svc")]},
        {"name": "open", "matches": [prefix("/o")], "backendRefs": [backend("svc")]},
        {"name": "body", "matches": [prefix("/b")], "backendRefs": [backend("svc")]},
        {"name": "free", "matches": [prefix("/")], "backendRefs": [backend("svc")]},
    ])]


def req(st, path, headers=(), method="GET", body=None):
    with H1(st.addr, st.port, timeout=10) as c:
        return c.request(method, path, host="gw.test", headers=list(headers), body=body)


def ancestors(gw, kind, name):
    for it in gw.status_json()["items"]:
        if it["kind"] == kind and it["metadata"]["name"] == name:
            return it["status"]["ancestors"]
    raise AssertionError(f"no status for {kind} {name}")


def accepted(anc):
    return [[c["reason"] for c in a["conditions"] if c["type"] == "Accepted"][0] for a in anc]


def outcomes(stack, outcome):
    return stack.gw.metric("gatehouse_extauth_total", outcome=outcome)


def up(stack, authz, extra):
    stack.backend("svc")
    stack.up(routes(), extra=authz.objects() + extra)


@pytest.mark.deadline(90)
def test_allow_deny_and_headers(stack, authz):
    up(stack, authz, [policy("p", [target("HTTPRoute", "r", "closed")], prefix_="/check")])
    r = req(stack, "/c/x?q=1", [("X-Token", "good"), ("X-User", "forged")])
    assert r.status == 200, r.status
    h = r.json()["headers"]
    assert h["X-User"] == ["alice"], h
    assert "X-Other" not in h, h
    m, path, hd, _ = authz.seen[-1]
    assert (m, path) == ("GET", "/check/c/x?q=1"), authz.seen[-1]
    assert hd["Host"] == "gw.test" and hd["X-Token"] == "good", hd
    # a client's copy of a headersFromAuth header never reaches the backend
    r = req(stack, "/c/y", [("X-Token", "bad"), ("X-User", "forged")])
    assert r.status == 403, r.status
    assert r.header("X-Deny-Reason") == "bad token"
    assert r.header("Content-Type") == "application/json"
    assert r.body == b'{"error":"denied"}', r.body
    r = req(stack, "/c/y")
    assert r.status == 403
    # routes not covered are not checked
    n = len(authz.seen)
    assert req(stack, "/free").status == 200
    assert len(authz.seen) == n
    assert accepted(ancestors(stack.gw, "ExtAuthPolicy", "p")) == ["Accepted"]
    assert outcomes(stack, "allowed") >= 1 and outcomes(stack, "denied") >= 2


@pytest.mark.deadline(90)
def test_timeout_failure_modes(stack, authz):
    up(stack, authz, [
        policy("c", [target("HTTPRoute", "r", "closed")], timeout="300ms"),
        policy("o", [target("HTTPRoute", "r", "open")], timeout="300ms", fail="Open"),
    ])
    t = time.monotonic()
    r = req(stack, "/c", [("X-Token", "slow")])
    assert r.status == 503, r.status
    assert time.monotonic() - t < 1.5
    t = time.monotonic()
    r = req(stack, "/o", [("X-Token", "slow")])
    assert r.status == 200, r.status
    assert time.monotonic() - t < 1.5
    assert "X-User" not in r.json()["headers"]
    assert outcomes(stack, "timeout") >= 2 and outcomes(stack, "fail_open") >= 1
    # the service going away: a connection failure, the same failureMode
    authz.close()
    assert req(stack, "/c", [("X-Token", "good")]).status == 503
    assert req(stack, "/o", [("X-Token", "good")]).status == 200
    assert outcomes(stack, "error") >= 2


@pytest.mark.deadline(90)
def test_include_body(stack, authz):
    up(stack, authz, [policy("b", [target("HTTPRoute", "r", "body")], body=1024)])
    r = req(stack, "/b", [("X-Token", "good")], method="POST", body=b"x" * 600)
    assert r.status == 200, r.status
    assert r.json()["headers"]["X-Body-Len"] == ["600"]
    assert authz.seen[-1][3] == b"x" * 600
    assert r.json()["body"] == "x" * 600 if "body" in r.json() else True
    r = req(stack, "/b", [("X-Token", "good")], method="POST", body=b"y" * 2000)
    assert r.status == 413, r.status


@pytest.mark.deadline(90)
def test_http2_and_gateway_target(stack, authz):
    up(stack, authz, [policy("g", [target("Gateway", "gw")])])
    c = H2Client.connect(stack.addr, stack.port)
    ok = c.request(path="/free", authority="gw.test",
                   headers=[("x-token", "good"), ("x-user", "forged")])
    assert ok.status == 200, ok.status
    assert ok.json()["headers"]["X-User"] == ["alice"]
    bad = c.request(path="/free", authority="gw.test", headers=[("x-token", "no")])
    assert bad.status == 403 and bad.header("x-deny-reason") == "bad token"


@pytest.mark.deadline(90)
def test_statuses(stack, authz):
    up(stack, authz, [
        policy("missing", [target("HTTPRoute", "r", "closed")], svc="nope"),
        policy("lost", [target("HTTPRoute", "gone")]),
    ])
    anc = ancestors(stack.gw, "ExtAuthPolicy", "missing")
    assert accepted(anc) == ["Invalid"], anc
    assert "Service not found" in json.dumps(anc)
    assert req(stack, "/c", [("X-Token", "good")]).status == 500
    anc = ancestors(stack.gw, "ExtAuthPolicy", "lost")
    assert "TargetNotFound" in json.dumps(anc), anc


def test_check_errors(gatehouse_run, tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("""apiVersion: gatehouse.dev/v1alpha1
kind: ExtAuthPolicy
metadata: {name: p, namespace: e2e}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  http:
    backendRef: {name: authz, port: 8080}
    pathPrefix: check/
    includeBody: {maxBytes: 1000000}
  timeout: 0s
  failureMode: Sometimes
""")
    import subprocess
    p = subprocess.run([gatehouse_run, "check", "-f", str(f)], capture_output=True, text=True)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    for needle in ("p.yaml:8:", "pathPrefix", "p.yaml:9:", "maxBytes", "p.yaml:10:",
                   "timeout", "p.yaml:11:", "failureMode"):
        assert needle in out, (needle, out)
