# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: request trailers reach the upstream.

A request body that ends with trailer fields (HTTP/2 HEADERS after the
DATA, or the trailer section of an HTTP/1.1 chunked body) is forwarded
with them: to an HTTP/1.1 upstream as the trailer section of a chunked
body, to an h2c upstream as HEADERS that end the stream. Framing and
hop-by-hop fields among them are dropped. An HTTP/2 request with a
content-length goes upstream length-delimited: its trailers cannot follow
there and are dropped, the request itself still goes through. Response
trailers from an HTTP/1.1 upstream reach an HTTP/2 client the same way,
without framing, routing and hop-by-hop fields.

Backends: the recording ones of gateway.py (Recorder for HTTP/1.1,
H2Recorder for h2c)."""
import pytest

from echoclient import H2Client
from gateway import (RESPONSE_TRAILERS, backend, gatehouse_run, httproute, pattern,  # noqa: F401
                     prefix, raw_exchange, running_stack)


TRAILERS = [("x-checksum", "abc123"), ("x-count", "3")]
HOP = [("connection", "close"), ("content-length", "5"), ("host", "evil.test")]


@pytest.fixture(scope="module")
def gw(gatehouse_run, tmp_path_factory):
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("h2t"))) as st:
        st.recorder("rec")
        st.recorder("rec2", h2c=True)
        st.up([httproute("h1", hostnames=["h1.test"],
                         rules=[{"matches": [prefix("/")], "backendRefs": [backend("rec")]}]),
               httproute("h2", hostnames=["h2.test"],
                         rules=[{"matches": [prefix("/")], "backendRefs": [backend("rec2")]}])])
        yield st


def h2_with_trailers(st, authority, body, trailers, length=False):
    """POST (with a content-length if `length`): DATA (if any), then the
    trailers with END_STREAM. Returns the response status."""
    c = H2Client.connect(st.addr, st.port)
    try:
        sid = c.conn.get_next_available_stream_id()
        head = [(b":method", b"POST"), (b":scheme", b"http"),
                (b":authority", authority.encode()), (b":path", b"/t")]
        if length:
            head.append((b"content-length", str(len(body)).encode()))
        c.conn.send_headers(sid, head)
        if body:
            c.conn.send_data(sid, body)
        # python3-h2 refuses connection-specific fields it knows; send the rest
        c.conn.send_headers(sid, [(k.encode(), v.encode()) for k, v in trailers],
                            end_stream=True)
        c.streams[sid] = {"headers": None, "data": b"", "ended": False, "reset": None}
        c.flush()
        return c.wait([sid])[0].status
    finally:
        c.close()


def h1_chunked_with_trailers(st, host, body, trailers):
    req = (f"POST /t HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
           "Connection: close\r\n\r\n").encode()
    if body:
        req += b"%x\r\n" % len(body) + body + b"\r\n"
    req += b"0\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in trailers) + b"\r\n"
    data = raw_exchange(st.addr, st.port, req)
    return int(data.split(b" ", 2)[1])


def lower(fields):
    return [(k.lower(), v) for k, v in fields]


@pytest.mark.parametrize("body", [b"hello", b""], ids=["data", "no-data"])
def test_h2_trailers_to_h1_upstream(gw, body):
    rec = gw.backends["rec"]
    m = rec.mark()
    assert h2_with_trailers(gw, "h1.test", body, TRAILERS + HOP[2:]) == 200
    reqs, bad, _ = rec.since(m)
    assert not bad and len(reqs) == 1, (bad, reqs)
    assert reqs[0]["body"] == body
    assert lower(reqs[0]["trailers"]) == TRAILERS


@pytest.mark.parametrize("body", [b"hello", b""], ids=["data", "no-data"])
def test_h2_trailers_to_h2c_upstream(gw, body):
    rec = gw.backends["rec2"]
    m = rec.mark()
    assert h2_with_trailers(gw, "h2.test", body, TRAILERS + HOP[2:]) == 200
    reqs = rec.wait_requests(m, 1)
    assert len(reqs) == 1, reqs
    assert reqs[0]["body"] == body
    assert reqs[0]["trailers"] == TRAILERS


def test_h2_trailers_dropped_with_content_length(gw):
    """Length-delimited upstream request: no trailer section to carry them."""
    rec, rec2 = gw.backends["rec"], gw.backends["rec2"]
    m, m2 = rec.mark(), rec2.mark()
    assert h2_with_trailers(gw, "h1.test", b"hello", TRAILERS, length=True) == 200
    assert h2_with_trailers(gw, "h2.test", b"hello", TRAILERS, length=True) == 200
    reqs, bad, _ = rec.since(m)
    assert not bad and len(reqs) == 1, (bad, reqs)
    assert reqs[0]["body"] == b"hello" and reqs[0]["trailers"] == []
    reqs = rec2.wait_requests(m2, 1)
    assert len(reqs) == 1, reqs
    assert reqs[0]["body"] == b"hello" and reqs[0]["trailers"] == []


def test_h1_chunked_trailers_to_h1_upstream(gw):
    rec = gw.backends["rec"]
    m = rec.mark()
    assert h1_chunked_with_trailers(gw, "h1.test", b"hello", TRAILERS + HOP) == 200
    reqs, bad, _ = rec.since(m)
    assert not bad and len(reqs) == 1, (bad, reqs)
    assert reqs[0]["body"] == b"hello"
    assert lower(reqs[0]["trailers"]) == TRAILERS


def test_h1_chunked_trailers_to_h2c_upstream(gw):
    rec = gw.backends["rec2"]
    m = rec.mark()
    assert h1_chunked_with_trailers(gw, "h2.test", b"hello", TRAILERS + HOP) == 200
    reqs = rec.wait_requests(m, 1)
    assert len(reqs) == 1, reqs
    assert reqs[0]["body"] == b"hello"
    assert reqs[0]["trailers"] == TRAILERS


def test_no_trailers_still_plain(gw):
    rec = gw.backends["rec"]
    m = rec.mark()
    assert h1_chunked_with_trailers(gw, "h1.test", b"hello", []) == 200
    reqs, _, _ = rec.since(m)
    assert reqs[0]["trailers"] == [] and reqs[0]["body"] == b"hello"


def test_h1_response_trailers_to_h2_client(gw):
    """An HTTP/1.1 upstream's chunked trailer section reaches an HTTP/2
    client as trailing HEADERS, without its framing and routing fields."""
    c = H2Client.connect(gw.addr, gw.port)
    try:
        sid = c.send(method="GET", path="/chunked?n=2500&trailers=1", authority="h1.test")
        resp = c.wait([sid])[0]
        assert resp.status == 200 and resp.body == pattern(2500)
        assert c.streams[sid].get("trailers") == RESPONSE_TRAILERS[:2]
    finally:
        c.close()
