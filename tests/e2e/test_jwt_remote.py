# SPDX-License-Identifier: Apache-2.0
"""JWTPolicy with a remote JWKS (jwks.remote, docs/policies.md): the data
plane's fetcher thread gets the JWK Set over HTTPS from a server the test
runs on 127.0.0.1 (a throwaway CA, tls_files), at start and on an unknown
kid (key rotation). An endpoint that is down, slow, answers garbage or too
much, or whose certificate is not trusted never makes a request wait or
fail with 500: tokens get 401 "keys unavailable" until a set arrives, and a
good set is kept through later failures. The hostile tokens are refused
with fetched keys as with local ones."""
import http.server
import json
import socket
import ssl
import threading
import time

import pytest

from echoclient import H1
from gateway import (NS, backend, gatehouse_run, httproute, prefix,  # noqa: F401
                     stack)
from jwtutil import Signer, claims, hs256_with_public_key, jwks, unsigned

GROUP = "gateway.networking.k8s.io"


class JwksServer:
    """An HTTPS server of one JWK Set; `mode` picks a misbehaviour."""

    def __init__(self, tls, port=None):
        self.tls = tls
        self.doc = json.dumps({"keys": []})
        self.mode = "ok"
        self.hits = 0
        self.port = port or free_port()
        self.httpd = None

    def start(self):
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                srv.hits += 1
                mode = srv.mode
                if mode == "slow":
                    time.sleep(6)
                body = srv.doc.encode()
                code = 200
                if mode == "garbage":
                    body = b"<html>not json</html>"
                elif mode == "big":
                    body = b'{"keys": [' + b" " * (2 << 20) + b"]}"
                elif mode == "500":
                    code = 500
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.tls.server_cert, self.tls.server_key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    @property
    def uri(self):
        return f"https://127.0.0.1:{self.port}/keys/jwks.json"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def server(tls_files):
    s = JwksServer(tls_files)
    yield s
    s.stop()


def up(st, srv, trusted=True, timeout="1s"):
    remote = {"uri": srv.uri, "timeout": timeout, "refreshInterval": "10s"}
    extra = []
    if trusted:
        remote["caCertificateRefs"] = [{"group": "", "kind": "ConfigMap", "name": "jwks-ca"}]
        extra.append({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "jwks-ca", "namespace": NS},
                      "data": {"ca.crt": srv.tls.pem(srv.tls.ca)}})
    pol = {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "JWTPolicy",
           "metadata": {"name": "remote", "namespace": NS},
           "spec": {"targetRefs": [{"group": GROUP, "kind": "HTTPRoute", "name": "r"}],
                    "providers": [{"name": "idp", "issuer": "https://issuer.test",
                                   "audiences": ["api"], "jwks": {"remote": remote},
                                   "claimsToHeaders": [{"claim": "sub", "header": "X-User"}]}]}}
    st.backend("svc")
    st.up([httproute("r", [{"matches": [prefix("/")], "backendRefs": [backend("svc")]}])],
          extra=extra + [pol])


def get(st, token, timeout=10):
    h = [("Authorization", f"Bearer {token}")] if token else []
    t0 = time.monotonic()
    with H1(st.addr, st.port, timeout=timeout) as c:
        r = c.request("GET", "/x", host="gw.test", headers=h)
    r.elapsed = time.monotonic() - t0
    return r


def wait_status(st, token, want, within=15.0):
    deadline = time.monotonic() + within
    while True:
        r = get(st, token)
        if r.status == want:
            return r
        if time.monotonic() > deadline:
            raise AssertionError(f"still {r.status} ({r.header('WWW-Authenticate')}), not {want};"
                                 f" {st.gw.metric('gatehouse_jwks_fetches_total', result='ok')} ok"
                                 f" stderr: {st.gw.stderr()[-3000:]}")
        time.sleep(0.2)


@pytest.mark.deadline(90)
def test_fetched_keys_rotation_and_hostile_tokens(stack, server):
    a, b = Signer("RS256", "a"), Signer("ES256", "b")
    server.doc = jwks(a)
    server.start()
    up(stack, server)
    r = wait_status(stack, a.token({"sub": "alice"}), 200)
    assert r.json()["headers"]["X-User"] == ["alice"]
    assert stack.gw.metric("gatehouse_jwks_keys", uri=server.uri) == 1
    assert stack.gw.metric("gatehouse_jwks_fetches_total", result="ok") >= 1
    assert stack.gw.metric("gatehouse_jwks_last_success_timestamp_seconds") > time.time() - 60

    now = int(time.time())
    bad = {
        "alg none": unsigned(claims(), kid="a"),
        "HS256 with the RSA public key": hs256_with_public_key(a, claims()),
        "expired": a.token(exp=now - 3600),
        "not yet valid": a.token(nbf=now + 3600),
        "another key, same kid": Signer("RS256", "a").token(),
    }
    for what, tok in bad.items():
        r = get(stack, tok)
        assert r.status == 401, (what, r.status)
        assert 'error="invalid_token"' in r.header("WWW-Authenticate"), what

    # Rotation: the server now has b only. A token with kid b is unknown:
    # refused at first, it asks for an early fetch, then passes; a's token,
    # verified (and cached) before, fails once the set no longer holds a.
    old = a.token()
    assert get(stack, old).status == 200
    server.doc = jwks(b)
    wait_status(stack, b.token({"sub": "bob"}), 200, within=5)
    r = get(stack, old)
    assert r.status == 401, r.status
    assert "no key fits" in r.header("WWW-Authenticate")
    assert stack.gw.metric("gatehouse_jwks_keys", uri=server.uri) == 1

    # Garbage, then an oversized body: the last good set (b) stays.
    for mode in ("garbage", "big", "500"):
        server.mode = mode
        before = server.hits
        time.sleep(0.1)
        # an unknown kid asks for a fetch, granted at most every 10 s
        deadline = time.monotonic() + 14
        while server.hits == before and time.monotonic() < deadline:
            get(stack, Signer("RS256", "zz").token())
            time.sleep(0.3)
        assert server.hits > before, mode
        time.sleep(0.5)
        assert get(stack, b.token()).status == 200, mode
    assert stack.gw.metric("gatehouse_jwks_fetches_total", result="invalid") >= 2
    assert stack.gw.metric("gatehouse_jwks_fetches_total", result="http") >= 1
    err = stack.gw.stderr()
    assert "JWTPolicy ns1/remote" in err or "JWTPolicy" in err
    assert server.uri in err and "fetch failed" in err


@pytest.mark.deadline(60)
def test_endpoint_down_at_start_then_up(stack, server):
    a = Signer("EdDSA", "ed")
    server.doc = jwks(a)
    up(stack, server)  # nothing listens yet
    tok = a.token()
    r = get(stack, tok)
    assert r.status == 401, r.status
    w = r.header("WWW-Authenticate")
    assert 'error_description="keys unavailable"' in w, w
    assert get(stack, None).status == 401
    assert stack.gw.metric("gatehouse_jwks_keys", uri=server.uri) == 0
    time.sleep(1.5)
    server.start()
    wait_status(stack, tok, 200, within=20)
    assert stack.gw.metric("gatehouse_jwks_fetches_total", result="error") >= 1
    assert "no keys yet" in stack.gw.stderr()


@pytest.mark.deadline(60)
def test_slow_endpoint_never_stalls_requests(stack, server):
    a = Signer("RS256", "a")
    server.doc = jwks(a)
    server.mode = "slow"  # answers after 6 s; the policy's timeout is 1 s
    server.start()
    up(stack, server)
    tok = a.token()
    worst = 0.0
    t_end = time.monotonic() + 3
    while time.monotonic() < t_end:
        r = get(stack, tok)
        assert r.status == 401, r.status
        worst = max(worst, r.elapsed)
    assert worst < 0.5, worst
    assert stack.gw.metric("gatehouse_jwks_fetches_total", result="error") >= 1
    server.mode = "ok"
    wait_status(stack, tok, 200, within=20)


@pytest.mark.deadline(60)
def test_untrusted_certificate_is_refused(stack, server):
    a = Signer("RS256", "a")
    server.doc = jwks(a)
    server.start()
    up(stack, server, trusted=False)  # the system trust store: the test CA is not in it
    deadline = time.monotonic() + 10
    while "fetch failed" not in stack.gw.stderr() and time.monotonic() < deadline:
        time.sleep(0.2)
    err = stack.gw.stderr()
    assert "fetch failed" in err and server.uri in err, err[-2000:]
    assert "certificate" in err.lower(), err[-2000:]
    r = get(stack, a.token())
    assert r.status == 401 and "keys unavailable" in r.header("WWW-Authenticate")
    assert stack.gw.metric("gatehouse_jwks_fetches_total", result="ok") == 0


@pytest.mark.deadline(30)
def test_remote_validation(stack, tls_files):
    """Bad URIs and durations are decode errors; a missing CA ConfigMap
    makes the policy Invalid (its route answers 500)."""
    st = stack
    srv = JwksServer(tls_files)
    st.backend("svc")
    for uri, msg in [("http://127.0.0.1/jwks", "https://"),
                     ("https://user:pw@127.0.0.1/jwks", "userinfo"),
                     ("https:///jwks", "host"),
                     ("https://127.0.0.1/j#frag", "fragment")]:
        pol = {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "JWTPolicy",
               "metadata": {"name": "remote", "namespace": NS},
               "spec": {"targetRefs": [{"group": GROUP, "kind": "HTTPRoute", "name": "r"}],
                        "providers": [{"name": "idp", "jwks": {"remote": {"uri": uri}}}]}}
        st.write("base.yaml", st.base_objects() + [pol])
        import subprocess
        p = subprocess.run([st.binary, "check", "-f", st.cfgdir], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode != 0 and msg in p.stdout + p.stderr, (uri, p.stdout, p.stderr)
    pol["spec"]["providers"][0]["jwks"]["remote"] = {
        "uri": srv.uri, "refreshInterval": "1s",
        "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "nope"}]}
    st.write("base.yaml", st.base_objects() + [pol])
    p = subprocess.run([st.binary, "check", "-f", st.cfgdir], capture_output=True, text=True,
                       timeout=30)
    assert "refreshInterval must be at least 10s" in p.stdout + p.stderr
    pol["spec"]["providers"][0]["jwks"]["remote"]["refreshInterval"] = "1m"
    st.write("base.yaml", st.base_objects() + [pol])
    st.write("routes.yaml", [httproute("r", [{"matches": [prefix("/")],
                                              "backendRefs": [backend("svc")]}])])
    st.start()
    st.wait_listening()
    r = get(st, Signer("RS256", "a").token())
    assert r.status == 500
    for it in st.gw.status_json()["items"]:
        if it["kind"] == "JWTPolicy":
            c = [c for c in it["status"]["ancestors"][0]["conditions"]
                 if c["type"] == "Accepted"][0]
            assert c["status"] == "False"
            assert "ConfigMap ns1/nope not found" in c["message"].replace(NS, "ns1"), c
