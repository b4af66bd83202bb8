# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: TLS termination and HTTP/2 from clients.

Frontend client certificate validation (AllowValidOnly refuses the
handshake without a certificate the CA signed; AllowInsecureFallback asks
but takes none), a listener whose certificate PEM is broken does not stop
the others on the port, HTTP/2 over TLS with request bodies (content-length
and without), many concurrent streams on one connection, and h2c prior
knowledge with bodies both ways."""
import base64
import hashlib
import os
import ssl
import time

import pytest

from echoclient import H1, H2Client, tls_client
from gateway import backend, backend_of, gatehouse_run, httproute, listener, prefix  # noqa: F401
from gateway import gateway_obj, pattern, raw_exchange, running_stack

V1 = "infra-v1"


def _b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def _secret(name, cert, key, ns="e2e"):
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": ns},
            "data": {"tls.crt": cert, "tls.key": key}}


def _ca_map(name, path, ns="e2e"):
    with open(path) as f:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
                "data": {"ca.crt": f.read()}}


@pytest.fixture(scope="module")
def mtls(gatehouse_run, tls_files, tmp_path_factory):
    """Port P: AllowValidOnly (default). Port P+1: AllowInsecureFallback (perPort)."""
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("mtls"))) as st:
        st.backend(V1)
        addr, port = st.pick_gateway_address()
        tls = {"mode": "Terminate", "certificateRefs": [{"name": "cert"}]}
        gw = gateway_obj("gw", addr, [listener("strict", port, "HTTPS", tls=tls),
                                      listener("loose", port + 1, "HTTPS", tls=tls)], st.ns)
        ref = [{"group": "", "kind": "ConfigMap", "name": "client-ca"}]
        gw["spec"]["tls"] = {"frontend": {
            "default": {"validation": {"caCertificateRefs": ref}},
            "perPort": [{"port": port + 1, "tls": {"validation": {
                "caCertificateRefs": ref, "mode": "AllowInsecureFallback"}}}]}}
        st.up([httproute("r", [{"matches": [prefix("/")], "backendRefs": [backend(V1)]}])],
              gateways=[gw],
              extra=[_secret("cert", _b64(tls_files.server_cert), _b64(tls_files.server_key)),
                     _ca_map("client-ca", tls_files.ca)])
        yield st


def _get(st, port, ctx, sni="a.example.com"):
    with H1(st.addr, port, tls=ctx, sni=sni) as c:
        return c.request("GET", "/mtls", host=sni)


def test_valid_client_certificate_accepted(mtls, tls_files):
    ctx = tls_client(verify=False, cert=tls_files.client_cert, key=tls_files.client_key)
    r = _get(mtls, mtls.port, ctx)
    assert r.status == 200 and backend_of(r) == V1


def test_missing_client_certificate_refused(mtls):
    with pytest.raises((ssl.SSLError, OSError, EOFError)):
        _get(mtls, mtls.port, tls_client(verify=False))


def test_rogue_client_certificate_refused(mtls, tls_files):
    ctx = tls_client(verify=False, cert=tls_files.rogue_cert, key=tls_files.rogue_key)
    with pytest.raises((ssl.SSLError, OSError, EOFError)):
        _get(mtls, mtls.port, ctx)


def test_insecure_fallback_takes_no_certificate(mtls, tls_files):
    r = _get(mtls, mtls.port + 1, tls_client(verify=False))
    assert r.status == 200 and backend_of(r) == V1
    ctx = tls_client(verify=False, cert=tls_files.rogue_cert, key=tls_files.rogue_key)
    r = _get(mtls, mtls.port + 1, ctx)
    assert r.status == 200


# ------------------------------------------------------------ broken PEM

@pytest.fixture(scope="module")
def broken(gatehouse_run, tls_files, tmp_path_factory):
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("broken"))) as st:
        st.backend(V1)
        addr, port = st.pick_gateway_address()
        good = {"mode": "Terminate", "certificateRefs": [{"name": "good"}]}
        bad = {"mode": "Terminate", "certificateRefs": [{"name": "bad"}]}
        junk = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                                b"-----END CERTIFICATE-----\n").decode()
        st.up([httproute("r", [{"matches": [prefix("/")], "backendRefs": [backend(V1)]}])],
              listeners=[listener("good", port, "HTTPS", tls=good),
                         listener("bad", port, "HTTPS", hostname="bad.example.com", tls=bad)],
              extra=[_secret("good", _b64(tls_files.server_cert), _b64(tls_files.server_key)),
                     _secret("bad", junk, _b64(tls_files.server_key))], check=False)
        yield st


def test_broken_certificate_listener_skipped(broken):
    ctx = tls_client(verify=False)
    r = _get(broken, broken.port, ctx, sni="ok.example.com")
    assert r.status == 200 and backend_of(r) == V1
    # whatever the bad listener does (no certificate: handshake refused, or
    # translate dropped it and the catch-all answers), the worker lives
    try:
        _get(broken, broken.port, ctx, sni="bad.example.com")
    except (ssl.SSLError, OSError, EOFError):
        pass
    r = _get(broken, broken.port, ctx, sni="ok.example.com")
    assert r.status == 200


# ------------------------------------------------------------ HTTP/2

@pytest.fixture(scope="module")
def h2gw(gatehouse_run, tls_files, tmp_path_factory):
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("h2"))) as st:
        st.backend(V1)
        st.recorder("rec")
        addr, port = st.pick_gateway_address()
        tls = {"mode": "Terminate", "certificateRefs": [{"name": "cert"}]}
        st.up([httproute("r", [{"matches": [prefix("/big")], "backendRefs": [backend("rec")]},
                               {"matches": [prefix("/")], "backendRefs": [backend(V1)]}],
                         parents=[{"name": "gw"}])],
              listeners=[listener("http", port), listener("https", port + 1, "HTTPS", tls=tls)],
              extra=[_secret("cert", _b64(tls_files.server_cert), _b64(tls_files.server_key))])
        yield st


def _h2(st, tls):
    if tls:
        return H2Client.connect(st.addr, st.port + 1, tls=tls_client(alpn=["h2"], verify=False),
                                sni="h2.example.com")
    return H2Client.connect(st.addr, st.port)


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
def test_h2_bodies_both_ways(h2gw, tls):
    body = os.urandom(300_000)
    c = _h2(h2gw, tls)
    try:
        r = c.request(method="POST", path="/echo-body", authority="h2.example.com",
                      headers=[("content-length", str(len(body)))], body=body,
                      scheme="https" if tls else "http")
        assert r.status == 200 and backend_of(r) == V1
        j = r.json()
        assert j["headers"].get("X-Forwarded-Proto") == ["https" if tls else "http"]
        # without content-length: chunked upstream
        r = c.request(method="PUT", path="/nolength", authority="h2.example.com", body=b"x" * 70000,
                      scheme="https" if tls else "http")
        assert r.status == 200
    finally:
        c.close()


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
def test_h2_many_streams(h2gw, tls):
    c = _h2(h2gw, tls)
    try:
        sids = [c.send(path=f"/s{i}", authority="h2.example.com",
                       scheme="https" if tls else "http") for i in range(50)]
        rs = c.wait(sids)
        assert [r.status for r in rs] == [200] * 50
        assert [r.json()["path"] for r in rs] == [f"/s{i}" for i in range(50)]
    finally:
        c.close()


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
def test_h2_large_response_flow_control(h2gw, tls):
    """A 2 MB response (the recording backend's /big) is far past the
    client's 64 KiB initial windows: it arrives whole and byte-exact only if
    the gateway sends within the windows and resumes on WINDOW_UPDATE."""
    n = 2_000_000
    c = _h2(h2gw, tls)
    try:
        r = c.request(path=f"/big?n={n}", authority="h2.example.com",
                      scheme="https" if tls else "http")
        assert r.status == 200 and len(r.body) == n
        assert r.body == pattern(n), "response body altered"
    finally:
        c.close()


def test_h2_tls_idle_then_busy(h2gw):
    """OpenSSL's record buffers are kept while streams run and given back a
    second after the last one moved (down_h2.c H2_TLS_KEEP_MS): the same
    connection serves on after that, and a large response goes through the
    loop's send queue (its EAGAIN reaches OpenSSL through the BIO)."""
    c = _h2(h2gw, True)
    try:
        r = c.request(path="/first", authority="h2.example.com", scheme="https")
        assert r.status == 200 and r.json()["path"] == "/first"
        time.sleep(1.6)
        # 40 echoes of an 8 KB field: over 300 KB at once, past the send queue
        big = "x" * 8000
        sids = [c.send(path=f"/s{i}", authority="h2.example.com", scheme="https",
                       headers=[("x-big", big)]) for i in range(40)]
        rs = c.wait(sids)
        assert [r.json()["path"] for r in rs] == [f"/s{i}" for i in range(40)]
        assert all(r.json()["headers"]["X-Big"] == [big] for r in rs)
        time.sleep(1.6)
        r = c.request(path="/last", authority="h2.example.com", scheme="https")
        assert r.status == 200 and r.json()["path"] == "/last"
    finally:
        c.close()


def test_h1_still_served_next_to_h2c(h2gw):
    data = raw_exchange(h2gw.addr, h2gw.port,
                        b"GET /plain HTTP/1.1\r\nHost: h2.example.com\r\nConnection: close\r\n\r\n",
                        timeout=5)
    assert data.startswith(b"HTTP/1.1 200")
    assert hashlib.sha256(data).digest()  # read to the end
