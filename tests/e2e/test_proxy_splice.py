# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: HTTP/1.1 bodies of known length spliced (socket -> pipe
-> socket, src/proxy/conn.c "Bodies spliced"), on both I/O backends (io_uring,
where the sockets are first taken back from the loop, and epoll).

Large bodies both ways arrive byte-exact, on one keep-alive connection,
with a pipelined request right behind an upload; a slow reader of a large
response costs the gateway little memory and still gets every byte; a
client that aborts mid-upload and an upstream that closes mid-response end
their request (the client sees the truncation) and leave the gateway
serving.

An upstream that answers before it has read the request body ("Early
responses"): when it keeps its connection, the rest of the body still goes
to it (spliced or buffered), and both the client's and the upstream's
connections are kept: the client's next request works on the same
connection, and no byte of it is taken for the previous body (RFC 9112
§9.3). When its answer says it closes, or it goes after an answer that said
it stays, the client gets the answer and a clean close (no reset)."""
import hashlib
import os
import socket
import threading
import time

import pytest

from echoclient import build_request
from gateway import (Recorder, backend, gatehouse_run, httproute, pattern, prefix,  # noqa: F401
                     read_until_close, rss_bytes, running_stack)

MIB = 1 << 20


class Truncator(Recorder):
    """A backend that answers every request with a Content-Length of
    /n bytes and closes after sending /m of them."""

    def _serve(self, c):
        c.settimeout(5)
        try:
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            target = buf.split(b" ", 2)[1].decode()
            q = dict(kv.split("=") for kv in target.partition("?")[2].split("&") if "=" in kv)
            n, m = int(q.get("n", MIB)), int(q.get("m", 0))
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n + pattern(m))
            time.sleep(0.2)
        except OSError:
            pass
        finally:
            c.close()


class EarlyAnswer(Recorder):
    """A backend that answers each request as soon as its head is in, then
    reads its Content-Length body (recording the body's length and SHA-256
    on the request). /close answers with Connection: close and closes
    (lingering: write side shut, input drained) without reading the body;
    /vanish answers as if it kept the connection, then closes without
    reading the body."""

    def _serve(self, c):
        with self.lock:
            self.connections += 1
        c.settimeout(10)
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(262144)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                req = self._parse_head(head)
                with self.lock:
                    self.requests.append(req)
                if req["target"].startswith("/close"):
                    c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n"
                              b"Connection: close\r\n\r\nnope\n")
                    c.shutdown(socket.SHUT_WR)
                    c.settimeout(1)
                    while c.recv(262144):
                        pass
                    return
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nearly\n")
                if req["target"].startswith("/vanish"):
                    c.shutdown(socket.SHUT_WR)  # gone, the body unread
                    time.sleep(1)
                    return
                n = 0
                for k, v in req["headers"]:
                    if k.lower() == "content-length":
                        n = int(v)
                while len(buf) < n:
                    d = c.recv(262144)
                    if not d:
                        return
                    buf += d
                body, buf = buf[:n], buf[n:]
                with self.lock:
                    req["body_len"] = len(body)
                    req["body_sha"] = hashlib.sha256(body).hexdigest()
                    req["complete"] = True
        except OSError:
            pass
        finally:
            c.close()


@pytest.fixture(scope="module", params=["uring", "epoll"])
def gw(gatehouse_run, tmp_path_factory, request):
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("splice"))) as st:
        st.recorder("rec")
        t = Truncator("trunc", st.ns)
        st.backends["trunc"] = t
        st.recorders.append(t)
        e = EarlyAnswer("early", st.ns)
        st.backends["early"] = e
        st.recorders.append(e)
        st.up([
            httproute("rec", [{"matches": [prefix("/")], "backendRefs": [backend("rec")]}]),
            httproute("trunc", hostnames=["trunc.test"],
                      rules=[{"matches": [prefix("/")], "backendRefs": [backend("trunc")]}]),
            httproute("early", hostnames=["early.test"],
                      rules=[{"matches": [prefix("/")], "backendRefs": [backend("early")]}]),
        ], args=("--io", request.param))
        yield st


def _put(c, path, body, host="gw.test"):
    c.send(b"PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n"
           % (path.encode(), host.encode(), len(body)))
    for i in range(0, len(body), MIB):
        c.send(body[i:i + MIB])
    return c.read_response()


@pytest.mark.deadline(60)
def test_large_bodies_both_ways_byte_exact(gw):
    with gw.conn(timeout=30) as c:
        local = c.local()
        for size in (3 * MIB + 17, 8 * MIB):
            body = os.urandom(size)
            r = _put(c, "/up", body)
            assert r.status == 200, r
            assert r.header("X-Body-Length") == str(size)
            assert r.header("X-Body-Sha256") == hashlib.sha256(body).hexdigest()
            n = size + 4099
            r = c.request("GET", f"/big?n={n}")
            assert r.status == 200 and len(r.body) == n
            assert r.body == pattern(n), "response body altered"
        r = c.request("GET", "/big?n=10")
        assert r.body == pattern(10)
        assert c.local() == local, "the keep-alive connection was not kept"


@pytest.mark.deadline(60)
def test_upload_with_pipelined_request_behind(gw):
    body = os.urandom(2 * MIB + 5)
    data = (b"POST /p1 HTTP/1.1\r\nHost: gw.test\r\nContent-Length: %d\r\n\r\n" % len(body) +
            body + build_request("GET", "/big?n=300000", "gw.test"))
    with gw.conn(timeout=30) as c:
        c.send(data)
        r = c.read_response()
        assert r.status == 200 and r.header("X-Body-Sha256") == hashlib.sha256(body).hexdigest()
        r = c.read_response()
        assert r.status == 200 and r.body == pattern(300000)


@pytest.mark.deadline(60)
def test_slow_reader_bounded_memory_and_exact(gw):
    n = 48 * MIB
    pid = gw.gw.proc.pid
    rss0 = rss_bytes(pid)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(20)
    s.connect((gw.addr, gw.port))
    try:
        s.sendall(b"GET /big?n=%d HTTP/1.1\r\nHost: gw.test\r\n\r\n" % n)
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        head, got = head.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200"), head
        peak = rss0
        for _ in range(15):  # a trickle: the gateway must hold back, not buffer
            got += s.recv(4096)
            peak = max(peak, rss_bytes(pid))
            time.sleep(0.1)
        growth = peak - rss0
        assert growth < 4 * MIB, f"gateway RSS grew {growth} bytes under one slow reader"
        h = hashlib.sha256(got)
        total = len(got)
        while total < n:
            d = s.recv(1 << 18)
            assert d, f"closed after {total} of {n} bytes"
            h.update(d)
            total += len(d)
        assert total == n
        assert h.hexdigest() == hashlib.sha256(pattern(n)).hexdigest()
    finally:
        s.close()


@pytest.mark.deadline(60)
def test_client_aborts_mid_upload(gw):
    rec = gw.backends["rec"]
    m = rec.mark()
    s = socket.create_connection((gw.addr, gw.port), timeout=10)
    s.sendall(b"PUT /abort HTTP/1.1\r\nHost: gw.test\r\nContent-Length: %d\r\n\r\n" % (8 * MIB))
    s.sendall(os.urandom(2 * MIB))
    time.sleep(0.3)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # a reset, mid-body
    rec.wait_requests(m, 1, timeout=5)  # (the head; the body never completes)
    time.sleep(0.3)
    reqs, bad, _ = rec.since(m)
    assert reqs and not any(r["complete"] for r in reqs), "the truncated upload reached the backend whole"
    assert not bad, bad
    # the gateway serves on, uploads included
    body = os.urandom(MIB + 1)
    with gw.conn(timeout=30) as c:
        r = _put(c, "/after-abort", body)
        assert r.header("X-Body-Sha256") == hashlib.sha256(body).hexdigest()


@pytest.mark.deadline(60)
def test_upstream_closes_mid_response(gw):
    n, m = 4 * MIB, MIB + 3
    s = socket.create_connection((gw.addr, gw.port), timeout=10)
    try:
        s.sendall(build_request("GET", f"/t?n={n}&m={m}", "trunc.test"))
        buf, closed = read_until_close(s, 10)
        assert closed, "the client was not told the response is truncated"
        head, _, body = buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:100]
        assert b"Content-Length: %d" % n in head
        assert len(body) <= m and body == pattern(len(body))
    finally:
        s.close()
    r = gw.request("/big?n=100000")
    assert r.status == 200 and r.body == pattern(100000)


@pytest.mark.deadline(60)
def test_client_half_closed_after_request_gets_whole_response(gw):
    # The client's socket has nothing left to say (EOF read), which must not
    # keep the response from being spliced to it.
    n = 6 * MIB + 1
    s = socket.create_connection((gw.addr, gw.port), timeout=10)
    try:
        s.sendall(build_request("GET", f"/big?n={n}", "gw.test"))
        s.shutdown(socket.SHUT_WR)
        buf, closed = read_until_close(s, 20)
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    assert len(body) == n and body == pattern(n)


def _head(path, n):
    return b"POST %s HTTP/1.1\r\nHost: early.test\r\nContent-Length: %d\r\n\r\n" % (path.encode(), n)


def _send_in_background(s, data):
    def run():
        try:
            s.sendall(data)
        except OSError:
            pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


# The client sends the head and the body's first bytes, reads the answer,
# then sends the rest: the answer is early whatever the timing.
FIRST = 1000


@pytest.mark.deadline(60)
@pytest.mark.parametrize("size", [3 * MIB + 7, 20000], ids=["spliced", "buffered"])
def test_early_answer_keeps_both_connections(gw, size):
    e = gw.backends["early"]
    m = e.mark()
    conns0 = e.connections
    bodies = [os.urandom(size) for _ in range(3)]
    with gw.conn(timeout=30) as c:
        local = c.local()
        for i, body in enumerate(bodies):
            c.send(_head(f"/up{i}", len(body)) + body[:FIRST])
            r = c.read_response()
            assert r.status == 200 and r.body == b"early\n", r
            assert (r.header("Connection") or "").lower() != "close"
            c.send(body[FIRST:])
        r = c.request("GET", "/next", host="early.test")
        assert r.status == 200 and r.body == b"early\n"
        assert c.local() == local, "the client's connection was not kept"
    reqs = e.wait_requests(m, 4, timeout=10)
    assert [q["target"] for q in reqs] == ["/up0", "/up1", "/up2", "/next"], reqs
    for q, body in zip(reqs, bodies):
        assert q["body_len"] == len(body)
        assert q["body_sha"] == hashlib.sha256(body).hexdigest(), "body altered"
    assert e.connections - conns0 <= 1, "the upstream connection was not kept"


@pytest.mark.deadline(60)
@pytest.mark.parametrize("size", [2 * MIB + 1, 30000], ids=["spliced", "buffered"])
def test_early_answer_with_pipelined_request_behind(gw, size):
    e = gw.backends["early"]
    m = e.mark()
    body = os.urandom(size)
    with gw.conn(timeout=30) as c:
        c.send(_head("/p1", len(body)) + body[:FIRST])
        r1 = c.read_response()
        # the rest of the body and the next request in one write
        t = _send_in_background(c.sock, body[FIRST:] + build_request("GET", "/p2", "early.test"))
        r2 = c.read_response()
        t.join(30)
        assert r1.status == 200 and r2.status == 200 and r2.body == b"early\n"
    reqs = e.wait_requests(m, 2, timeout=10)
    assert [q["target"] for q in reqs] == ["/p1", "/p2"], reqs
    assert reqs[0]["body_sha"] == hashlib.sha256(body).hexdigest()
    assert reqs[1]["method"] == "GET" and reqs[1]["body_len"] == 0


@pytest.mark.deadline(60)
@pytest.mark.parametrize("size", [MIB, 20000], ids=["spliced", "buffered"])
@pytest.mark.parametrize("path", ["/close", "/vanish"])
def test_early_answer_and_close_closes_cleanly(gw, size, path):
    body = os.urandom(size)
    s = socket.create_connection((gw.addr, gw.port), timeout=10)
    try:
        s.sendall(_head(path, size) + body[:FIRST])
        buf, reset, sent_rest = b"", False, False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                reset = True
                break
            except socket.timeout:
                pytest.fail(f"no close within 10 s after {buf[:200]!r}")
            if not d:
                break
            buf += d
            if b"\r\n\r\n" in buf and not sent_rest:
                # the client goes on sending (the gateway drops it), then
                # ends its side
                sent_rest = True
                try:
                    s.sendall(body[FIRST:])
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
    finally:
        s.close()
    assert not reset, f"reset instead of a clean close after {buf[:200]!r}"
    head, _, rest = buf.partition(b"\r\n\r\n")
    if path == "/close":
        assert head.startswith(b"HTTP/1.1 403"), buf[:200]
        assert b"connection: close" in head.lower()
        assert rest == b"nope\n"
    else:
        assert head.startswith(b"HTTP/1.1 200") and rest == b"early\n", buf[:200]
    r = gw.request("/after", host="early.test")
    assert r.status == 200 and r.body == b"early\n"
