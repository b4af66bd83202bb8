# SPDX-License-Identifier: Apache-2.0
"""`gatehouse echo`, HTTP mode on H2C_PORT (ECHO.md 2): HTTP/2 with prior
knowledge, HTTP/1.1 `Upgrade: h2c`, and `400 Expected h2c request` for any
other HTTP/1.1 request."""
import socket

import pytest

from echoclient import H1, H2Client


@pytest.fixture
def h2(http_echo):
    c = H2Client.connect(http_echo.addr, http_echo.h2c_port)
    yield c
    c.close()


def test_prior_knowledge_echo_fields(http_echo, h2):
    r = h2.request(path="/h2/path?x=1&y=%20", authority="h2.example.com:8080",
                   headers=[("x-header-add", "one"), ("x-header-add", "two"),
                            ("user-agent", "e2e-h2")])
    assert r.status == 200
    j = r.json()
    assert j["proto"] == "HTTP/2.0"
    assert j["path"] == "/h2/path?x=1&y=%20"
    assert j["host"] == "h2.example.com:8080"
    assert j["method"] == "GET"
    assert j["httpPort"] == str(http_echo.http_port)
    assert j["pod"] == http_echo.env["POD_NAME"]
    assert j["namespace"] == http_echo.env["NAMESPACE"]
    h = j["headers"]
    assert h.get("X-Header-Add") == ["one", "two"], h
    assert h.get("User-Agent") == ["e2e-h2"], h
    assert not [k for k in h if k.lower() == "host"], h
    # pseudo-headers are not request headers (upstream Go never lists them)
    assert not [k for k in h if k.startswith(":")], h
    assert "tls" not in j


def test_prior_knowledge_content_type_and_nosniff(h2):
    r = h2.request(path="/ct")
    assert r.header_all("content-type") == ["application/json"]
    assert r.header_all("x-content-type-options") == ["nosniff"]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH"])
def test_prior_knowledge_methods_and_bodies(h2, method):
    body = b"h2-body" * 1000 if method in ("POST", "PUT", "PATCH") else b""
    r = h2.request(method=method, path="/m", body=body,
                   headers=[("content-length", str(len(body)))] if body else [])
    assert r.status == 200
    assert r.json()["method"] == method


def test_prior_knowledge_endpoints(h2):
    assert h2.request(path="/health").body == b"OK"
    r = h2.request(path="/status/503")
    assert r.status == 503 and r.body == b""
    assert h2.request(path="/status/50x").status == 400
    assert h2.request(path="//status/200").status == 400
    assert h2.request(path="//health").body == b"OK"


def test_prior_knowledge_set_header(h2):
    r = h2.request(path="/", headers=[("x-echo-set-header", "X-Header-Set: v1, X-Dup:a, X-Dup:b")])
    assert r.header_all("x-header-set") == ["v1"]
    assert r.header_all("x-dup") == ["a,b"]


def test_prior_knowledge_many_concurrent_streams(h2):
    sids = [h2.send(path=f"/s{i}?i={i}") for i in range(50)]
    got = h2.wait(sids, timeout=15)
    assert [r.json()["path"] for r in got] == [f"/s{i}?i={i}" for i in range(50)]


def test_prior_knowledge_many_sequential_requests(h2):
    for i in range(100):
        assert h2.request(path=f"/seq{i}").json()["path"] == f"/seq{i}"


def test_prior_knowledge_request_log(http_echo, h2):
    assert h2.request(path="/h2-log?id=1").status == 200
    ip, port = h2.sock.getsockname()
    http_echo.wait_log(f"Echoing back request made to /h2-log?id=1 to client ({ip}:{port})")


def test_upgrade_h2c(http_echo):
    c, head, _ = H2Client.upgrade(http_echo.addr, http_echo.h2c_port, path="/up?x=1",
                                  authority="up.example.com", headers=[("X-Up", "1")])
    try:
        status_line = head.split("\r\n", 1)[0]
        assert status_line.startswith("HTTP/1.1 101"), head
        hdrs = {k.strip().lower(): v.strip() for k, _, v in
                (ln.partition(":") for ln in head.split("\r\n")[1:])}
        assert hdrs.get("upgrade", "").lower() == "h2c", head
        r = c.wait([1])[0]
        assert r.status == 200
        j = r.json()
        assert j["path"] == "/up?x=1"
        assert j["host"] == "up.example.com"
        assert j["headers"].get("X-Up") == ["1"], j["headers"]
        # the answer to the upgraded request travels on HTTP/2 stream 1
        assert j["proto"] == "HTTP/2.0"
        # and the connection is a working HTTP/2 connection afterwards
        assert c.request(path="/after-upgrade").json()["path"] == "/after-upgrade"
    finally:
        c.close()


@pytest.mark.parametrize("path", ["/plain", "/health", "/status/200"])
def test_plain_http1_on_h2c_port_is_400(http_echo, path):
    with H1(http_echo.addr, http_echo.h2c_port) as c:
        r = c.request("GET", path)
    assert r.status == 400
    assert b"Expected h2c request" in r.body, r.body


def test_other_upgrade_on_h2c_port_is_400(http_echo):
    """Only h2c (prior knowledge or Upgrade: h2c) is accepted on H2C_PORT."""
    with H1(http_echo.addr, http_echo.h2c_port) as c:
        r = c.request("GET", "/x", headers=[("Connection", "Upgrade"), ("Upgrade", "websocket2")])
    assert r.status == 400


def test_http_port_is_http1_only_for_h2c_upgrade(http_echo):
    """HTTP_PORT is cleartext HTTP/1.1 only: an h2c upgrade request there is
    served as plain HTTP/1.1 (no 101)."""
    with H1(http_echo.addr, http_echo.http_port) as c:
        r = c.request("GET", "/no-upgrade", headers=[
            ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
            ("HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA")])
    assert r.status == 200
    assert r.json()["proto"] == "HTTP/1.1"


def test_h2c_port_survives_bad_preface(http_echo):
    s = socket.create_connection((http_echo.addr, http_echo.h2c_port), timeout=5)
    try:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x04\x09garbage-frame")
        s.settimeout(3)
        try:
            while s.recv(4096):
                pass
        except (socket.timeout, ConnectionResetError):
            pass
    finally:
        s.close()
    c = H2Client.connect(http_echo.addr, http_echo.h2c_port)
    try:
        assert c.request(path="/ok").status == 200
    finally:
        c.close()


def test_large_request_body_flow_control(h2):
    """A body far above the initial 64 KiB window: the server must grant
    WINDOW_UPDATEs (and drain the body) for the request to complete."""
    body = b"f" * 400_000
    r = h2.request(method="POST", path="/big", body=body,
                   headers=[("content-length", str(len(body)))])
    assert r.status == 200 and r.json()["method"] == "POST"
    assert h2.request(path="/after-big").json()["path"] == "/after-big"


def test_large_response_respects_client_window(h2):
    """A reply bigger than the client's initial window (65535) and than one
    frame (16 KiB): it has to arrive complete across WINDOW_UPDATEs."""
    hdrs = [(f"x-big-{i}", "v" * 2000) for i in range(60)]
    r = h2.request(path="/big-reply", headers=hdrs)
    assert len(r.body) > 120_000
    h = r.json()["headers"]
    assert all(h.get(f"X-Big-{i}") == ["v" * 2000] for i in range(60))


def test_retry_and_status_over_h2(h2):
    import uuid
    u = uuid.uuid4()
    path = f"/retry/h2?uuid={u}&succeedAfter=1&responseCode=503"
    assert h2.request(path=path).status == 503
    r = h2.request(path=path)
    assert r.status == 200 and r.json()["proto"] == "HTTP/2.0"
