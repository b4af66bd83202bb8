# SPDX-License-Identifier: Apache-2.0
"""HTTPRouteRetryConnectionError and HTTPRouteRetryBackendTimeout, end to end.

gatehouse claims both features (GatewayClass supportedFeatures) but no
upstream v1.6.1 conformance test uses them, so they are proved here against
`gatehouse run`: an HTTPRoute rule with a `retry` stanza in front of a
scripted backend (`Flaky`) that, per request key, fails the first N
requests it receives and answers the next ones, and counts every request.

* Connection errors (GEP-1731: a `retry` stanza retries connection errors):
  the backend resets the connection (SO_LINGER 0) after reading the request,
  or an endpoint refuses connections; the client gets the answer of a later
  attempt, and the backend saw exactly 1 + attempts tries when every try
  fails.
* Backend timeouts (HTTPRouteRetryBackendTimeout: a try that exceeds
  `timeouts.backendRequest` is retried): the backend holds the request
  without answering; the gateway gives up on that try after backendRequest
  and retries; `timeouts.request` still bounds the whole request, retries
  included (GEP-1742).
"""
import socket
import struct
import threading
import time
import uuid

import pytest

from gateway import (endpointslice_obj, gatehouse_run, httproute, pick_address,  # noqa: F401
                     prefix, random_ports, running_stack, service_obj, accept_loop, NS)

FLAKY = "flaky"
MIXED = "mixed"   # one live Flaky endpoint and one that refuses connections


class Flaky:
    """HTTP/1.1 backend scripted by the query: ?key=K&fail=N&mode=reset|stall.
    The first N requests of key K fail (reset: the connection is reset with
    no answer; stall: held without answer until the test ends or 10 s pass,
    then closed); later ones get 200 `attempt=<n>`. One request per
    connection (it answers with Connection: close)."""

    def __init__(self, name, ns=NS):
        self.name, self.ns = name, ns
        self.counts = {}
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.port = random_ports(1)[0]
        self.addr = pick_address([self.port])
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.addr, self.port))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.threads = []
        self.acceptor = threading.Thread(
            target=accept_loop, args=(self.sock, lambda: self.stopping, self._serve,
                                      self.threads), daemon=True)
        self.acceptor.start()

    def objects(self, app_protocols=False):
        return [service_obj(self.name, [{"name": "http", "port": 80, "targetPort": self.port}],
                            ns=self.ns),
                endpointslice_obj(self.name, [self.addr], [{"name": "http", "port": self.port}],
                                  ns=self.ns)]

    def count(self, key):
        with self.lock:
            return self.counts.get(key, 0)

    def _serve(self, c):
        try:
            c.settimeout(10)
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            target = buf.split(b"\r\n", 1)[0].split(b" ")[1].decode()
            q = dict(kv.split("=", 1) for kv in target.partition("?")[2].split("&") if "=" in kv)
            key, fail, mode = q.get("key", ""), int(q.get("fail", "0")), q.get("mode", "reset")
            with self.lock:
                n = self.counts.get(key, 0) + 1
                self.counts[key] = n
            if n <= fail:
                if mode == "stall":
                    self.release.wait(10)
                    return
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            body = f"attempt={n}".encode()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                      b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.release.set()
        self.stopping = True
        self.acceptor.join(2)
        self.sock.close()
        for t in self.threads:
            t.join(2)


class Mixed:
    """A Service whose EndpointSlice lists a live Flaky endpoint and an
    address where nothing listens (connection refused)."""

    def __init__(self, live, ns=NS):
        self.name, self.ns, self.live = MIXED, ns, live
        self.dead_port = live.port
        self.dead = pick_address([self.dead_port])

    def objects(self, app_protocols=False):
        return [service_obj(self.name, [{"name": "http", "port": 80,
                                         "targetPort": self.live.port}], ns=self.ns),
                endpointslice_obj(self.name, [self.dead, self.live.addr],
                                  [{"name": "http", "port": self.live.port}], ns=self.ns)]

    def stop(self):
        pass


def rule(path, ref, retry=None, timeouts=None):
    r = {"matches": [prefix(path)], "backendRefs": [{"name": ref, "port": 80}]}
    if retry is not None:
        r["retry"] = retry
    if timeouts is not None:
        r["timeouts"] = timeouts
    return r


def routes():
    return [httproute("retry-policy", hostnames=["retry.test"], rules=[
        rule("/conn/attempts-2", FLAKY, retry={"codes": [500], "attempts": 2}),
        rule("/conn/none", FLAKY),
        rule("/refused/attempts-3", MIXED, retry={"attempts": 3}),
        rule("/timeout/attempts-2", FLAKY, retry={"attempts": 2},
             timeouts={"request": "10s", "backendRequest": "400ms"}),
        rule("/timeout/none", FLAKY, timeouts={"request": "10s", "backendRequest": "400ms"}),
        rule("/timeout/capped", FLAKY, retry={"attempts": 10},
             timeouts={"request": "1500ms", "backendRequest": "400ms"}),
    ])]


@pytest.fixture(scope="module")
def gw(gatehouse_run, tmp_path_factory):
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("retry"))) as st:
        flaky = Flaky(FLAKY, st.ns)
        st.backends[FLAKY] = flaky
        st.recorders.append(flaky)
        mixed = Mixed(flaky, st.ns)
        st.backends[MIXED] = mixed
        st.up(routes())
        st.flaky = flaky
        yield st


def ask(gw, path, fail, mode, timeout=15.0):
    key = str(uuid.uuid4())
    t0 = time.monotonic()
    r = gw.request(f"{path}?key={key}&fail={fail}&mode={mode}", host="retry.test",
                   timeout=timeout)
    return r, key, time.monotonic() - t0


# ------------------------------------------------------------ connection errors

def test_reset_is_retried(gw):
    r, key, _ = ask(gw, "/conn/attempts-2", 2, "reset")
    assert r.status == 200, r
    assert r.body == b"attempt=3"
    assert gw.flaky.count(key) == 3


def test_reset_retries_bounded_by_attempts(gw):
    r, key, _ = ask(gw, "/conn/attempts-2", 5, "reset")
    assert r.status in (502, 503), r
    assert gw.flaky.count(key) == 3, "attempts: 2 means one try and two retries"


def test_reset_without_retry_stanza_fails(gw):
    r, key, _ = ask(gw, "/conn/none", 1, "reset")
    assert r.status in (502, 503), r
    assert gw.flaky.count(key) == 1


def test_refused_endpoint_is_retried(gw):
    # One endpoint of two refuses connections: with a retry stanza every
    # request is answered by the live one.
    for _ in range(12):
        r, key, _ = ask(gw, "/refused/attempts-3", 0, "reset")
        assert r.status == 200, r
        assert gw.flaky.count(key) == 1


# ------------------------------------------------------------- backend timeouts

def test_backend_timeout_is_retried(gw):
    r, key, took = ask(gw, "/timeout/attempts-2", 1, "stall")
    assert r.status == 200, r
    assert r.body == b"attempt=2"
    assert gw.flaky.count(key) == 2
    assert 0.35 < took < 3.0, f"one backendRequest timeout (400ms) then an answer: {took:.2f} s"


def test_backend_timeout_retries_bounded_by_attempts(gw):
    r, key, took = ask(gw, "/timeout/attempts-2", 10, "stall")
    assert r.status == 504, r
    assert gw.flaky.count(key) == 3
    assert 1.1 < took < 5.0, f"three tries of 400ms: {took:.2f} s"


def test_backend_timeout_without_retry_stanza(gw):
    r, key, took = ask(gw, "/timeout/none", 1, "stall")
    assert r.status == 504, r
    assert gw.flaky.count(key) == 1
    assert took < 3.0


def test_request_timeout_bounds_the_retries(gw):
    # timeouts.request covers the whole request, retries included (GEP-1742):
    # 10 attempts of 400 ms do not fit in 1.5 s.
    r, key, took = ask(gw, "/timeout/capped", 20, "stall")
    assert r.status == 504, r
    assert took < 3.0, f"request timeout 1.5 s, answered after {took:.2f} s"
    assert 2 <= gw.flaky.count(key) <= 5, gw.flaky.count(key)
