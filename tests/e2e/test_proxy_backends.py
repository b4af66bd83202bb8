# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: backends. Weighted backendRefs (statistical, tolerant;
weight 0 gets nothing; an unresolved backend's share answers 500), request
and backendRequest timeouts (504 via the echo's ?delay=), retries (echo
/retry with responseCode, and connection resets), upstream down (502/503),
h2c backends (appProtocol kubernetes.io/h2c), h2c prior knowledge from the
client, and WebSocket through the gateway (appProtocol kubernetes.io/ws)."""
import base64
import collections
import hashlib
import os
import threading
import time
import uuid

import pytest

from echoclient import H1, H2Client
from gateway import (backend, backend_of, endpointslice_obj, exact, gatehouse_run,  # noqa: F401
                     httproute, prefix, running_stack, service_obj)

V1, V2, V3, RETRY = "infra-v1", "infra-v2", "infra-v3", "retry-v3"


def rule(match, refs, **kw):
    r = {"matches": [match], "backendRefs": refs}
    r.update(kw)
    return r


def routes():
    return [
        httproute("weights", hostnames=["weights.test"], rules=[
            rule(prefix("/"), [backend(V1, weight=70), backend(V2, weight=30),
                               backend(V3, weight=0)])]),
        httproute("partial", hostnames=["partial.test"], rules=[
            rule(prefix("/"), [backend(V1, weight=1), backend("nonexistent", weight=1)])]),
        httproute("missing", hostnames=["missing.test"], rules=[
            rule(prefix("/"), [backend("nonexistent")])]),
        httproute("unknown-kind", hostnames=["kind.test"], rules=[
            rule(prefix("/"), [backend("x", group="example.com", kind="Widget")])]),
        httproute("down", hostnames=["down.test"], rules=[rule(prefix("/"), [backend("down")])]),
        httproute("empty", hostnames=["empty.test"], rules=[rule(prefix("/"), [backend("empty")])]),
        httproute("timeouts", hostnames=["timeout.test"], rules=[
            rule(exact("/request-timeout"), [backend(V1)], timeouts={"request": "500ms"}),
            rule(exact("/disable-request-timeout"), [backend(V1)], timeouts={"request": "0s"}),
            rule(exact("/backend-timeout"), [backend(V1)],
                 timeouts={"request": "5s", "backendRequest": "500ms"}),
        ]),
        httproute("retries", hostnames=["retry.test"], rules=[
            rule(prefix("/retry/code-500-attempts-3"), [backend(RETRY)],
                 retry={"codes": [500], "attempts": 3}),
            rule(prefix("/retry/code-all-attempts-2"), [backend(RETRY)],
                 retry={"codes": [500, 502, 503, 504], "attempts": 2}),
            rule(prefix("/retry/none"), [backend(RETRY)]),
        ]),
        httproute("h2c", hostnames=["h2c.test"], rules=[
            rule(prefix("/"), [backend(V1, port=8081)])]),
        httproute("ws", hostnames=["ws.test"], rules=[
            rule(prefix("/"), [backend(V1, port=8082)])]),
        httproute("plain", hostnames=["plain.test"], rules=[rule(prefix("/"), [backend(V1)])]),
    ]


@pytest.fixture(scope="module")
def gw(gatehouse_run, tmp_path_factory):
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("backends"))) as st:
        for name in (V1, V2, V3, RETRY):
            st.backend(name)
        dead = st.recorder("down")
        dead.stop()  # nothing listens at the address of its only endpoint
        extra = [service_obj("empty", [{"name": "http", "port": 80, "targetPort": 3000}], ns=st.ns),
                 endpointslice_obj("empty", [], [{"name": "http", "port": 3000}], ns=st.ns)]
        st.write("base.yaml", st.base_objects(app_protocols=True) + extra)
        st.write("routes.yaml", routes())
        st.check_config()
        st.start()
        st.wait_listening()
        yield st


def sample(gw, host, n, concurrency=8, jitter=True):
    """n requests over `concurrency` keep-alive connections; returns a
    Counter of backend names (or status codes as ints for non-200)."""
    counts = collections.Counter()
    errors = []
    lock = threading.Lock()
    per = [n // concurrency + (1 if i < n % concurrency else 0) for i in range(concurrency)]

    def work(k):
        try:
            with gw.conn() as c:
                for i in range(k):
                    hdrs = [("X-Jitter", os.urandom(4).hex())] if jitter and i % 2 else []
                    r = c.request("GET", "/", host=host, headers=hdrs)
                    key = backend_of(r) if r.status == 200 else r.status
                    with lock:
                        counts[key] += 1
                    if r.header("Connection") == "close":
                        c.close()
                        c.__init__(gw.addr, gw.port)
        except Exception as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append(repr(exc))

    ts = [threading.Thread(target=work, args=(k,)) for k in per]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors[:5]
    assert sum(counts.values()) == n, counts
    return counts


# --------------------------------------------------------------- weights

def test_weights_distribution(gw):
    n = 600
    counts = sample(gw, "weights.test", n)
    assert set(counts) <= {V1, V2}, f"unexpected answers {counts} (weight-0 backend {V3} "\
        "must get nothing, every sample must be 200)"
    share = counts[V1] / n
    # 70/30; 600 samples: sd ~ 1.9 %, tolerate 7 points (upstream tolerance 5 %)
    assert abs(share - 0.7) < 0.07, f"v1 share {share:.3f}, wanted 0.70: {counts}"
    assert counts[V3] == 0


def test_unresolved_backend_share_answers_500(gw):
    n = 400
    counts = sample(gw, "partial.test", n)
    assert set(counts) <= {V1, 500}, counts
    share = counts[500] / n
    assert 0.35 < share < 0.65, f"500 share {share:.3f}, wanted ~0.5: {counts}"


@pytest.mark.parametrize("host", ["missing.test", "kind.test"])
def test_only_unresolved_backend_answers_500(gw, host):
    for _ in range(3):
        r = gw.request("/", host=host)
        assert r.status == 500, r


def test_upstream_down_answers_502_or_503(gw):
    for _ in range(3):
        t0 = time.monotonic()
        r = gw.request("/", host="down.test")
        assert r.status in (502, 503), r
        assert time.monotonic() - t0 < 10
    r = gw.request("/", host="plain.test")
    assert r.status == 200, "gateway unusable after upstream connect failures"


def test_service_without_endpoints_answers_503(gw):
    r = gw.request("/", host="empty.test")
    assert r.status in (500, 503), r


def test_backend_killed_mid_test(gatehouse_run, tmp_path):
    """A backend that dies is answered with 502/503, the gateway lives on."""
    with running_stack(gatehouse_run, str(tmp_path)) as st:
        b = st.backend("victim")
        st.up([httproute("v", [rule(prefix("/"), [backend("victim")])])])
        assert st.request("/").status == 200
        b.procs[0].stop()
        r = st.request("/")
        assert r.status in (502, 503), r
        r = st.request("/")
        assert r.status in (502, 503), r


# -------------------------------------------------------------- timeouts

def test_request_timeout_504(gw):
    r = gw.request("/request-timeout", host="timeout.test")
    assert r.status == 200 and backend_of(r) == V1
    t0 = time.monotonic()
    r = gw.request("/request-timeout?delay=3s", host="timeout.test")
    took = time.monotonic() - t0
    assert r.status in (504, 408), r
    assert took < 2.0, f"500ms request timeout took {took:.2f} s"


def test_request_timeout_zero_disables(gw):
    r = gw.request("/disable-request-timeout?delay=1500ms", host="timeout.test")
    assert r.status == 200, r
    assert r.json()["path"] == "/disable-request-timeout?delay=1500ms"


def test_backend_request_timeout_504(gw):
    t0 = time.monotonic()
    r = gw.request("/backend-timeout?delay=2s", host="timeout.test")
    assert r.status in (504, 408), r
    assert time.monotonic() - t0 < 1.8


def test_connection_usable_after_timeout(gw):
    with gw.conn() as c:
        r = c.request("GET", "/request-timeout?delay=2s", host="timeout.test")
        assert r.status in (504, 408)
        if r.header("Connection") != "close":
            r = c.request("GET", "/request-timeout", host="timeout.test")
            assert r.status == 200


# --------------------------------------------------------------- retries

def retry_path(prefix_, succeed_after, code=None):
    q = ""
    if code is not None:
        q += f"responseCode={code}&"
    q += f"succeedAfter={succeed_after}&uuid={uuid.uuid4()}"
    return f"{prefix_}?{q}"


@pytest.mark.parametrize("prefix_,code,after,want", [
    ("/retry/code-500-attempts-3", 500, 2, 200),
    ("/retry/code-500-attempts-3", 500, 4, 500),
    ("/retry/code-500-attempts-3", 503, 2, 503),
    ("/retry/code-all-attempts-2", 500, 1, 200),
    ("/retry/code-all-attempts-2", 500, 3, 500),
    ("/retry/code-all-attempts-2", 502, 1, 200),
    ("/retry/code-all-attempts-2", 502, 3, 502),
    ("/retry/code-all-attempts-2", 503, 1, 200),
    ("/retry/code-all-attempts-2", 503, 3, 503),
    ("/retry/code-all-attempts-2", 504, 1, 200),
    ("/retry/code-all-attempts-2", 504, 3, 504),
    ("/retry/none", 500, 1, 500),
])
def test_retry_codes(gw, prefix_, code, after, want):
    path = retry_path(prefix_, after, code)
    r = gw.request(path, host="retry.test")
    assert r.status == want, f"{path}: {r!r}"
    if want == 200:
        assert backend_of(r) == RETRY and r.json()["path"] == path


def test_retry_on_connection_reset(gw):
    """GEP-1731: with a retry stanza, connection errors SHOULD be retried."""
    path = retry_path("/retry/code-500-attempts-3", 1)
    r = gw.request(path, host="retry.test")
    assert r.status == 200, f"reset not retried: {r!r}"
    assert r.json()["path"] == path


def test_reset_without_retry_policy_is_answered(gw):
    """Without a retry stanza, retrying is implementation-specific (the
    HTTPRouteRetry docs): a retried 200 or a 502/503, never a hang or a
    dropped client connection."""
    path = retry_path("/retry/none", 1)
    r = gw.request(path, host="retry.test")
    assert r.status in (200, 502, 503), r
    if r.status == 200:
        assert r.json()["path"] == path


# -------------------------------------------------------------------- h2c

def test_h2c_backend_app_protocol(gw):
    r = gw.request("/h2c-path?x=1", host="h2c.test")
    assert r.status == 200, f"h2c backend (echo answers HTTP/1 with 400): {r!r}"
    j = r.json()
    assert j["proto"] == "HTTP/2.0" and j["path"] == "/h2c-path?x=1" and backend_of(r) == V1
    assert j["host"] == "h2c.test"


def test_h2c_prior_knowledge_from_client(gw):
    c = H2Client.connect(gw.addr, gw.port)
    try:
        r = c.request(path="/h2-client", authority="plain.test")
        assert r.status == 200 and backend_of(r) == V1
        assert r.json()["path"] == "/h2-client"
        r2 = c.request(path="/again", authority="h2c.test")
        assert r2.status == 200 and r2.json()["proto"] == "HTTP/2.0"
    finally:
        c.close()


# -------------------------------------------------------------- WebSocket

def ws_frame(opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_read(sock_reader):
    b0, b1 = sock_reader(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(sock_reader(2), "big")
    elif n == 127:
        n = int.from_bytes(sock_reader(8), "big")
    assert not b1 & 0x80, "server frames must not be masked"
    return b0 & 0x0F, sock_reader(n)


@pytest.mark.parametrize("attempt", range(3))
def test_websocket_through_gateway(gw, attempt):
    key = base64.b64encode(os.urandom(16)).decode()
    with H1(gw.addr, gw.port) as c:
        c.send((f"GET /ws HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: ws://gateway/e2e\r\n\r\n").encode())
        r = c.read_response()
        assert r.status == 101, r
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        assert r.header("Sec-WebSocket-Accept") == accept
        for opcode, payload in [(1, b"Websocket Support!"), (2, bytes([1, 2, 3, 4, 5, 6, 7])),
                                (2, os.urandom(70000))]:
            c.send(ws_frame(opcode, payload))
            op, got = ws_read(c._exact)
            assert op in (1, 2) and got == payload
        c.send(ws_frame(8, b"\x03\xe8"))
        op, _ = ws_read(c._exact)
        assert op == 8
        assert c.is_closed_by_peer(5)


def test_websocket_upgrade_on_plain_route_never_hangs(gw):
    """A non-ws route still forwards the upgrade or answers; never hangs."""
    key = base64.b64encode(os.urandom(16)).decode()
    with H1(gw.addr, gw.port, timeout=10) as c:
        c.send((f"GET /not-ws HTTP/1.1\r\nHost: plain.test\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        r = c.read_response()
        assert r.status in (101, 200, 400, 426, 404), r

