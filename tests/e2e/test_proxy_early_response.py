# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: an upstream that answers a request before it has read
the request body (src/proxy/conn.c "Early responses"), on both I/O backends.

When the upstream keeps its connection, the rest of the body still goes to
it (buffered or spliced), and both the client's and the upstream's
connections are kept: the client's next request works on the same
connection, and no byte of it is taken for the previous body (RFC 9112
§9.3). When the upstream's answer says it closes, the client gets the
answer and a clean close (no reset), and so does it when the upstream goes
after an answer that said it stays."""
import hashlib
import os
import socket
import threading
import time

import pytest

from echoclient import build_request
from gateway import Recorder, backend, gatehouse_run, httproute, prefix, running_stack  # noqa: F401

MIB = 1 << 20


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
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("early"))) as st:
        e = EarlyAnswer("early", st.ns)
        st.backends["early"] = e
        st.recorders.append(e)
        st.up([httproute("early", [{"matches": [prefix("/")], "backendRefs": [backend("early")]}])],
              args=("--io", request.param))
        yield st


def _head(path, n):
    return b"POST %s HTTP/1.1\r\nHost: gw.test\r\nContent-Length: %d\r\n\r\n" % (path.encode(), n)


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
        r = c.request("GET", "/next")
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
        t = _send_in_background(c.sock, body[FIRST:] + build_request("GET", "/p2", "gw.test"))
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
    r = gw.request("/after")
    assert r.status == 200 and r.body == b"early\n"
