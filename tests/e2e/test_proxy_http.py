# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: HTTP/1.1 proxying behaviour seen from both sides.

X-Forwarded-For/-Proto/-Host, hop-by-hop headers not forwarded, Host passed
through, keep-alive and pipelining through the gateway (raw socket), chunked
request and response bodies, a 5 MB request body streamed to the backend, a
large response, HEAD, HTTP/1.0, Expect: 100-continue, slow clients (a head
sent byte by byte still works; a stalled head gets closed, bounded), and 421
Misdirected Request on HTTPS listeners sharing a port (SNI vs :authority)."""
import base64
import hashlib
import os
import socket
import ssl
import time

import pytest

from echoclient import H1, H2Client, build_request, tls_client
from gateway import (backend, backend_of, gatehouse_run, httproute, listener,  # noqa: F401
                     parse_responses, pattern, prefix, read_until_close, running_stack)

V1 = "infra-v1"
HEADER_TIMEOUT = 10.0   # hostile/requests.yaml target.request_header_timeout_s
GRACE = 2.0


@pytest.fixture(scope="module")
def gw(gatehouse_run, tmp_path_factory):
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("http"))) as st:
        st.backend(V1)
        st.recorder("rec")
        st.up([
            httproute("echo", [{"matches": [prefix("/")], "backendRefs": [backend(V1)]}]),
            httproute("rec", hostnames=["rec.test"],
                      rules=[{"matches": [prefix("/")], "backendRefs": [backend("rec")]}]),
        ])
        yield st


def hdr(j, name):
    for k, v in j["headers"].items():
        if k.lower() == name.lower():
            return v
    return None


# ------------------------------------------------------------ forwarding

def test_x_forwarded_headers(gw):
    with gw.conn() as c:
        client_ip = c.local()[0]
        r = c.request("GET", "/xff", host="orig.test:1234")
    j = r.json()
    xff = hdr(j, "X-Forwarded-For")
    assert xff, f"no X-Forwarded-For in {j['headers']}"
    assert ",".join(xff).split(",")[-1].strip() == client_ip
    assert hdr(j, "X-Forwarded-Proto") == ["http"], j["headers"]
    assert hdr(j, "X-Forwarded-Host") == ["orig.test:1234"], j["headers"]


def test_client_x_forwarded_for_does_not_hide_the_peer(gw):
    with gw.conn() as c:
        client_ip = c.local()[0]
        r = c.request("GET", "/xff2", headers=[("X-Forwarded-For", "203.0.113.9")])
    xff = ",".join(hdr(r.json(), "X-Forwarded-For") or [])
    assert xff.split(",")[-1].strip() == client_ip, f"XFF {xff!r}: the last hop must be the peer"


def test_host_passed_through(gw):
    for host in ("gw.test", "gw.test:8080", "Mixed.Case.Test"):
        j = gw.request("/host", host=host).json()
        assert j["host"] == host


def test_path_and_query_passed_unchanged(gw):
    for path in ("/a%20b/c?x=%2F&y=1&y=2", "/semi;p=1?q", "/UPPER/Case", "/trailing/?"):
        j = gw.request(path).json()
        assert j["path"] == path


def test_hop_by_hop_headers_not_forwarded(gw):
    r = gw.request("/hop", headers=[
        ("Connection", "keep-alive, X-Hop-Custom"), ("X-Hop-Custom", "secret"),
        ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"),
        ("X-End-To-End", "kept")])
    j = r.json()
    for name in ("X-Hop-Custom", "Keep-Alive", "Proxy-Connection"):
        assert hdr(j, name) is None, f"{name} was forwarded: {j['headers']}"
    conn = ",".join(hdr(j, "Connection") or []).lower()
    assert "x-hop-custom" not in conn
    assert hdr(j, "X-End-To-End") == ["kept"]


def test_end_to_end_headers_keep_order_and_values(gw):
    j = gw.request("/multi", headers=[("X-Multi", "a"), ("X-Multi", "b"), ("X-Multi", "c, d")]).json()
    assert ",".join(hdr(j, "X-Multi")).replace(", ", ",") == "a,b,c,d"


# ---------------------------------------------- keep-alive and pipelining

def test_keep_alive_many_requests_one_connection(gw):
    with gw.conn() as c:
        local = c.local()
        for i in range(50):
            r = c.request("GET", f"/ka/{i}")
            assert r.status == 200 and r.json()["path"] == f"/ka/{i}"
            assert r.header("Connection") != "close"
        assert c.local() == local


def test_pipelining_answers_in_order(gw):
    n = 20
    data = b"".join(build_request("GET", f"/pipe/{i}?n={i}", "gw.test") for i in range(n))
    with gw.conn() as c:
        c.send(data)
        for i in range(n):
            r = c.read_response()
            assert r.status == 200
            assert r.json()["path"] == f"/pipe/{i}?n={i}", f"response {i} out of order"


def test_pipelining_mixed_methods_and_bodies(gw):
    reqs = [build_request("POST", "/p/0", "gw.test", body=b"x" * 1000),
            build_request("HEAD", "/p/1", "gw.test"),
            build_request("GET", "/p/2", "gw.test"),
            build_request("PUT", "/p/3", "gw.test", body=b"y" * 10, chunked=True),
            build_request("DELETE", "/p/4", "gw.test")]
    with gw.conn() as c:
        c.send(b"".join(reqs))
        methods = ["POST", "HEAD", "GET", "PUT", "DELETE"]
        for i, m in enumerate(methods):
            r = c.read_response(m)
            assert r.status == 200, (m, r)
            if m != "HEAD":
                assert r.json()["path"] == f"/p/{i}" and r.json()["method"] == m


def test_head_through_gateway(gw):
    with gw.conn() as c:
        r = c.request("HEAD", "/head")
        assert r.status == 200 and r.body == b""
        r = c.request("GET", "/after-head")
        assert r.json()["path"] == "/after-head"


def test_http10_client(gw):
    data, closed = gw.raw(b"GET /old HTTP/1.0\r\nHost: gw.test\r\n\r\n", timeout=10)
    resps = parse_responses(data)
    assert resps and resps[0][0] == 200, data[:300]
    assert closed, "HTTP/1.0 without keep-alive: the gateway must close"


def test_expect_100_continue(gw):
    with gw.conn() as c:
        c.send(b"POST /expect HTTP/1.1\r\nHost: rec.test\r\nContent-Length: 5\r\n"
               b"Expect: 100-continue\r\n\r\n")
        c.sock.settimeout(2)
        try:
            first = c.sock.recv(65536)
        except socket.timeout:
            first = b""
        c.sock.settimeout(10)
        c.buf = first
        if first and not first.startswith(b"HTTP/1.1 100"):
            r = c.read_response()
            pytest.fail(f"final answer before the body: {r!r}")
        c.send(b"hello")
        r = c.read_response()
        assert r.status == 200 and r.header("X-Body-Length") == "5"


# ----------------------------------------------------------------- bodies

def test_chunked_request_body_to_recorder(gw):
    rec = gw.backends["rec"]
    body = os.urandom(100_000)
    m = rec.mark()
    r = gw.request("/chunked-in", host="rec.test", method="POST", body=body, chunked=True)
    assert r.status == 200
    assert r.header("X-Body-Length") == str(len(body))
    assert r.header("X-Body-Sha256") == hashlib.sha256(body).hexdigest()
    reqs, bad, _ = rec.since(m)
    assert not bad, bad
    assert len(reqs) == 1
    names = [k.lower() for k, _ in reqs[0]["headers"]]
    assert names.count("content-length") + names.count("transfer-encoding") == 1, names


def test_chunked_request_body_to_echo(gw):
    body = b"z" * 30000
    with gw.conn() as c:
        r = c.request("POST", "/chunked-echo", body=body, chunked=True)
        assert r.status == 200
        j = r.json()
        assert j["method"] == "POST" and j["path"] == "/chunked-echo"
        # forwarded either de-chunked with a Content-Length or still chunked
        assert hdr(j, "Content-Length") in ([str(len(body))], None), j["headers"]
        r = c.request("GET", "/after-chunked")
        assert r.json()["path"] == "/after-chunked"


def test_5mb_request_body_streamed(gw):
    rec = gw.backends["rec"]
    body = os.urandom(5 * 1024 * 1024)
    m = rec.mark()
    with gw.conn(timeout=30) as c:
        c.send(b"PUT /upload HTTP/1.1\r\nHost: rec.test\r\nContent-Length: %d\r\n\r\n" % len(body))
        c.send(body[:1024 * 1024])
        # streaming: the backend sees the head before the client is done
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not rec.since(m)[0]:
            time.sleep(0.02)
        seen_early = bool(rec.since(m)[0])
        c.send(body[1024 * 1024:])
        r = c.read_response()
    assert r.status == 200, r
    assert r.header("X-Body-Length") == str(len(body))
    assert r.header("X-Body-Sha256") == hashlib.sha256(body).hexdigest()
    assert seen_early, "the gateway buffered the whole 5 MB body before forwarding the head"


def test_5mb_request_body_to_echo(gw):
    body = b"e" * (5 * 1024 * 1024)
    with gw.conn(timeout=30) as c:
        r = c.request("POST", "/big-upload", body=body)
        assert r.status == 200
        j = r.json()
        assert hdr(j, "Content-Length") in ([str(len(body))], None), j["headers"]
        if r.header("Connection") == "close":
            # the echo may answer before reading the whole body; closing is
            # then the gateway's right, as long as it says so
            assert c.is_closed_by_peer(5)
            return
        r = c.request("GET", "/after-big")
        assert r.json()["path"] == "/after-big"


def test_large_response(gw):
    n = 20 * 1024 * 1024
    with gw.conn(timeout=30) as c:
        r = c.request("GET", f"/big?n={n}", host="rec.test")
        assert r.status == 200 and len(r.body) == n
        assert r.body == pattern(n)
        r = c.request("GET", "/big?n=10", host="rec.test")
        assert r.body == pattern(10)


def test_chunked_response(gw):
    with gw.conn() as c:
        r = c.request("GET", "/chunked?n=300001", host="rec.test")
        assert r.status == 200 and r.body == pattern(300001)
        r = c.request("GET", "/chunked?n=0", host="rec.test")
        assert r.status == 200 and r.body == b""


# ----------------------------------------------------------- slow clients

@pytest.mark.deadline(40)
def test_head_sent_byte_by_byte_is_served(gw):
    req = b"GET /slow-head HTTP/1.1\r\nHost: gw.test\r\nX-Slow: 1\r\n\r\n"
    with gw.conn(timeout=15) as c:
        for b in req:
            c.send(bytes([b]))
            time.sleep(0.03)
        r = c.read_response()
        assert r.status == 200 and r.json()["path"] == "/slow-head"


@pytest.mark.deadline(40)
def test_stalled_head_is_closed(gw):
    s = socket.create_connection((gw.addr, gw.port), timeout=5)
    try:
        t0 = time.monotonic()
        s.sendall(b"GET /stalled HTTP/1.1\r\nHost: gw.test\r\n")
        data, closed = read_until_close(s, HEADER_TIMEOUT + GRACE + 5)
        took = time.monotonic() - t0
    finally:
        s.close()
    assert closed, f"stalled head still open after {took:.1f} s"
    assert took <= HEADER_TIMEOUT + GRACE, f"closed only after {took:.1f} s"
    if data:
        resps = parse_responses(data)
        assert resps and resps[0][0] == 408, data[:200]
    r = gw.request("/after-stall")
    assert r.status == 200


@pytest.mark.deadline(40)
def test_slowloris_header_drip_is_closed(gw):
    s = socket.create_connection((gw.addr, gw.port), timeout=5)
    closed = False
    t0 = time.monotonic()
    try:
        s.sendall(b"GET /drip HTTP/1.1\r\nHost: gw.test\r\n")
        while time.monotonic() - t0 < HEADER_TIMEOUT + GRACE + 5:
            try:
                s.sendall(b"X-a: b\r\n")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            s.settimeout(0.25)
            try:
                d = s.recv(4096)
                if not d:
                    closed = True
                    break
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed = True
                break
    finally:
        s.close()
    took = time.monotonic() - t0
    assert closed, "header drip kept the connection open"
    assert took <= HEADER_TIMEOUT + GRACE, f"closed only after {took:.1f} s"


# -------------------------------------------------------------- 421 (TLS)

def _secret(tls_files):
    def b64(path):
        with open(path, "rb") as f:
            return base64.b64encode(f.read()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "cert", "namespace": "e2e"},
            "data": {"tls.crt": b64(tls_files.server_cert), "tls.key": b64(tls_files.server_key)}}


@pytest.fixture(scope="module")
def https_gw(gatehouse_run, tls_files, tmp_path_factory):
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("https"))) as st:
        for n in ("be-1", "be-2", "be-3"):
            st.backend(n)
        addr, port = st.pick_gateway_address()
        tls = {"mode": "Terminate", "certificateRefs": [{"name": "cert"}]}
        listeners = [listener("https", port, "HTTPS", tls=tls),
                     listener("https-second", port, "HTTPS", hostname="second.example.com",
                              tls=tls),
                     listener("https-wild", port, "HTTPS", hostname="*.wild.example.com",
                              tls=tls)]

        def r(name, section, hosts, to):
            return httproute(name, parents=[{"name": "gw", "sectionName": section}],
                             hostnames=hosts,
                             rules=[{"matches": [prefix("/detect")], "backendRefs": [backend(to)]}])

        st.up([r("t1", "https", ["example.org"], "be-1"),
               r("t2", "https-second", ["second.example.com"], "be-2"),
               r("t3", "https-wild", None, "be-3")],
              listeners=listeners, extra=[_secret(tls_files)])
        yield st


def _h2(st, sni, host):
    ctx = tls_client(alpn=["h2"], verify=False)
    c = H2Client.connect(st.addr, st.port, tls=ctx, sni=sni)
    try:
        return c.request(path="/detect", authority=host, scheme="https")
    finally:
        c.close()


@pytest.mark.parametrize("sni,host,want", [
    ("example.org", "example.org", "be-1"),
    ("example.org", "second.example.com", 421),
    ("example.org", "unknown.example.org", 404),
    ("second.example.com", "second.example.com", "be-2"),
    ("second.example.com", "example.org", 421),
    ("second.example.com", "unknown.example.org", 421),
    ("a.wild.example.com", "a.wild.example.com", "be-3"),
    ("a.wild.example.com", "b.wild.example.com", "be-3"),
    ("a.wild.example.com", "second.example.com", 421),
    ("unknown.example.org", "example.org", "be-1"),
    ("unknown.example.org", "unknown.example.org", 404),
])
def test_misdirected_request_421(https_gw, sni, host, want):
    r = _h2(https_gw, sni, host)
    if isinstance(want, int):
        assert r.status == want, f"SNI {sni} Host {host}: {r!r}"
    else:
        assert r.status == 200 and backend_of(r) == want, f"SNI {sni} Host {host}: {r!r}"
        assert r.json()["host"] == host


def test_https_http11(https_gw):
    ctx = tls_client(alpn=["http/1.1"], verify=False)
    with H1(https_gw.addr, https_gw.port, tls=ctx, sni="second.example.com") as c:
        r = c.request("GET", "/detect", host="second.example.com")
        assert r.status == 200 and backend_of(r) == "be-2"
        xfp = r.json()["headers"].get("X-Forwarded-Proto")
        assert xfp == ["https"], r.json()["headers"]


def test_https_offers_h2_and_no_old_tls(https_gw):
    ctx = tls_client(alpn=["h2", "http/1.1"], verify=False)
    with socket.create_connection((https_gw.addr, https_gw.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="example.org") as s:
            assert s.selected_alpn_protocol() == "h2"
            assert s.version() in ("TLSv1.2", "TLSv1.3")
    old = tls_client(verify=False, max_version=ssl.TLSVersion.TLSv1_1)
    try:
        old.minimum_version = ssl.TLSVersion.TLSv1
    except ValueError:
        pytest.skip("this OpenSSL cannot offer TLS 1.1")
    with socket.create_connection((https_gw.addr, https_gw.port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, OSError)):
            old.wrap_socket(raw, server_hostname="example.org").close()
