# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: the L4 data plane (src/l4).

* TCPRoute: the TCP echo line protocol through the gateway (welcome, PING,
  IS_TLS, TEST), half-close both ways, weighted backends (70/30/0), a route
  whose backend does not resolve closes the client at once;
* UDPRoute: datagrams through the gateway to the UDP echo and back
  unchanged, one session per client;
* TLSRoute passthrough: SNI routes to two TLS echo backends (exact, then
  wildcard); the client sees the backend's own certificate and the backend
  sees the SNI; an unknown SNI or a non-TLS client is reset;
* a TCP connection keeps its backend across a reload that moves the route.

Echo backends run in TCP_ECHO_SERVER / UDP_ECHO_SERVER mode (ECHO.md 4-5)."""
import json
import random
import socket
import ssl
import time

import pytest

from conftest import EarlyExit, EchoProcess, base_env, pick_address, pod_name, random_ports
from gateway import NS, endpointslice_obj, gatehouse_run, listener, service_obj  # noqa: F401
from gateway import stack, tls_wrap, udp_ask  # noqa: F401


# ------------------------------------------------------------------ helpers

class L4Backend:
    """A Service in TCP or UDP echo mode (optionally with its TLS port)."""

    def __init__(self, name, procs, port, tls_port=None, udp=False):
        self.name, self.procs, self.port, self.tls_port, self.udp = name, procs, port, tls_port, udp

    def objects(self):
        proto = "UDP" if self.udp else "TCP"
        sports = [{"name": "main", "port": 9000, "targetPort": self.port, "protocol": proto}]
        eports = [{"name": "main", "port": self.port, "protocol": proto}]
        if self.tls_port:
            sports.append({"name": "tls", "port": 9443, "targetPort": self.tls_port,
                           "protocol": "TCP"})
            eports.append({"name": "tls", "port": self.tls_port, "protocol": "TCP"})
        return [service_obj(self.name, sports),
                endpointslice_obj(self.name, [p.addr for p in self.procs], eports)]


def start_echo(st, name, mode="tcp", tls_files=None, replicas=1):
    """Starts `replicas` echo processes for Service `name` (tracked by the
    stack for teardown)."""
    for attempt in range(5):
        ports = random_ports(2)
        procs = []
        try:
            for _ in range(replicas):
                kw = dict(POD_NAME=pod_name(name), NAMESPACE=NS, SERVICE_NAME=name,
                          INGRESS_NAME="gw")
                if mode == "udp":
                    kw.update(UDP_ECHO_SERVER="1", UDP_PORT=ports[0])
                    tcp, udp = [], [ports[0]]
                else:
                    kw.update(TCP_ECHO_SERVER="1", TCP_PORT=ports[0], TLS_PORT=ports[1])
                    tcp, udp = [ports[0]], []
                    if tls_files:
                        kw.update(TLS_SERVER_CERT=tls_files.server_cert,
                                  TLS_SERVER_PRIV_KEY=tls_files.server_key)
                        tcp.append(ports[1])
                addr = pick_address(tcp, udp)
                p = EchoProcess(st.binary, addr, base_env(**kw), tcp, udp, st.workdir)
                st.echos.append(p)
                procs.append(p)
                p.wait_ready()
        except EarlyExit as exc:
            if attempt == 4 or "in use" not in exc.stderr.lower():
                raise
            continue
        return L4Backend(name, procs, ports[0], ports[1] if tls_files else None, mode == "udp")
    raise AssertionError("unreachable")


def ref(name, port=9000, weight=None):
    r = {"name": name, "port": port}
    if weight is not None:
        r["weight"] = weight
    return r


def tcproute(name, refs, section="tcp"):
    return {"apiVersion": "gateway.networking.k8s.io/v1alpha2", "kind": "TCPRoute",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"parentRefs": [{"name": "gw", "sectionName": section}],
                     "rules": [{"backendRefs": refs}]}}


def udproute(name, refs, section="udp"):
    return {"apiVersion": "gateway.networking.k8s.io/v1alpha2", "kind": "UDPRoute",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"parentRefs": [{"name": "gw", "sectionName": section}],
                     "rules": [{"backendRefs": refs}]}}


def tlsroute(name, hostnames, refs, section="tls"):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "TLSRoute",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"parentRefs": [{"name": "gw", "sectionName": section}],
                     "hostnames": hostnames, "rules": [{"backendRefs": refs}]}}


def ports_on(addr, n, udp=()):
    """n ports free on addr for TCP (and UDP for the indexes in udp)."""
    for _ in range(200):
        ps = random.sample(range(32100, 60000), n)
        okay = True
        for i, p in enumerate(ps):
            kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if i in udp else [])
            for k in kinds:
                s = socket.socket(socket.AF_INET, k)
                try:
                    s.bind((addr, p))
                except OSError:
                    okay = False
                finally:
                    s.close()
        if okay:
            return ps
    raise AssertionError("no free ports")


def up(st, listeners, routes, backends, tcp_port):
    """Starts the gateway with the given listeners; waits for tcp_port."""
    st.port = tcp_port
    extra = [o for b in backends for o in b.objects()]
    st.up(routes, listeners=listeners, extra=extra)


class Line:
    """A line reader over a socket (plain or TLS)."""

    def __init__(self, sock):
        self.s, self.buf = sock, b""

    def line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError(f"EOF with {self.buf!r} pending")
            self.buf += d
        ln, self.buf = self.buf.split(b"\n", 1)
        return ln.decode()

    def cmd(self, c):
        self.s.sendall(c.encode() + b"\n")
        return self.line()


def echo_session(sock):
    """Welcome, PING, IS_TLS, TEST: returns (is_tls, TEST json)."""
    r = Line(sock)
    assert r.line() == "Gateway API Test TCP Server"
    assert r.cmd("PING") == "PONG"
    is_tls = r.cmd("IS_TLS")
    return is_tls, json.loads(r.cmd("TEST"))


def service_of(j):
    return j["pod"].rsplit("-", 2)[0]


def tcp_test(addr, port, timeout=5.0):
    with socket.create_connection((addr, port), timeout=timeout) as s:
        return echo_session(s)


def eventually(fn, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except (OSError, EOFError, AssertionError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def closed_at_once(addr, port, send=b"", timeout=3.0):
    """True when the gateway closes or resets the connection without sending
    a byte (after `send`)."""
    s = socket.create_connection((addr, port), timeout=timeout)
    try:
        if send:
            s.sendall(send)
        t0 = time.monotonic()
        try:
            d = s.recv(4096)
        except ConnectionResetError:
            return True, time.monotonic() - t0
        return d == b"", time.monotonic() - t0
    finally:
        s.close()


# ------------------------------------------------------------------- TCP

@pytest.mark.deadline(90)
def test_tcp_echo_through_gateway(stack):
    a = start_echo(stack, "tcp-echo-one")
    addr, _ = stack.pick_gateway_address()
    (tcp,) = ports_on(addr, 1)
    up(stack, [listener("tcp", tcp, "TCP")], [tcproute("tcp", [ref("tcp-echo-one")])], [a], tcp)

    is_tls, j = eventually(lambda: tcp_test(addr, tcp))
    assert is_tls == "false"
    assert service_of(j) == "tcp-echo-one" and j["namespace"] == NS and j["isTLS"] is False

    # Half-close: the client's FIN reaches the echo, whose close comes back
    # as our EOF after the answer.
    with socket.create_connection((addr, tcp), timeout=5) as s:
        r = Line(s)
        assert r.line() == "Gateway API Test TCP Server"
        s.sendall(b"PING\nTEST\n")
        s.shutdown(socket.SHUT_WR)
        assert r.line() == "PONG"
        assert service_of(json.loads(r.line())) == "tcp-echo-one"
        s.settimeout(5)
        rest = r.buf
        while True:
            d = s.recv(4096)
            if not d:
                break
            rest += d
        assert rest == b""

    # Many commands in one write, answered in order (bytes pass unchanged).
    with socket.create_connection((addr, tcp), timeout=5) as s:
        r = Line(s)
        r.line()
        s.sendall(b"PING\n" * 2000)
        assert all(r.line() == "PONG" for _ in range(2000))

    # 8 MiB of lines the echo ignores, then a PING: every byte went through
    # the bounded buffers in order (the sender is paused, not dropped).
    with socket.create_connection((addr, tcp), timeout=20) as s:
        r = Line(s)
        r.line()
        s.sendall((b"x" * 1023 + b"\n") * 8192 + b"PING\n")
        assert r.line() == "PONG"


@pytest.mark.deadline(120)
def test_tcp_weighted_backends(stack):
    a = start_echo(stack, "tcp-w-a")
    b = start_echo(stack, "tcp-w-b")
    c = start_echo(stack, "tcp-w-c")
    addr, _ = stack.pick_gateway_address()
    (tcp,) = ports_on(addr, 1)
    route = tcproute("w", [ref("tcp-w-a", weight=70), ref("tcp-w-b", weight=30),
                           ref("tcp-w-c", weight=0)])
    up(stack, [listener("tcp", tcp, "TCP")], [route], [a, b, c], tcp)
    eventually(lambda: tcp_test(addr, tcp))
    counts = {}
    n = 400
    for _ in range(n):
        with socket.create_connection((addr, tcp), timeout=5) as s:
            r = Line(s)
            r.line()
            svc = service_of(json.loads(r.cmd("TEST")))
        counts[svc] = counts.get(svc, 0) + 1
    assert set(counts) <= {"tcp-w-a", "tcp-w-b"}, counts
    share = counts.get("tcp-w-a", 0) / n
    assert abs(share - 0.7) < 0.08, counts


@pytest.mark.deadline(90)
def test_tcp_unresolved_backend_is_reset(stack):
    a = start_echo(stack, "tcp-echo-one")
    addr, _ = stack.pick_gateway_address()
    tcp, bad = ports_on(addr, 2)
    listeners = [listener("tcp", tcp, "TCP"), listener("bad", bad, "TCP")]
    routes = [tcproute("tcp", [ref("tcp-echo-one")]),
              tcproute("bad", [ref("does-not-exist")], section="bad")]
    up(stack, listeners, routes, [a], tcp)
    eventually(lambda: tcp_test(addr, tcp))
    closed, took = eventually(lambda: closed_at_once(addr, bad))
    assert closed and took < 1.0


@pytest.mark.deadline(90)
def test_tcp_dead_endpoint_is_skipped(stack):
    """One endpoint refuses connections: the gateway tries the next one, so
    every client reaches the live replica."""
    a = start_echo(stack, "tcp-echo-one")
    dead = pick_address([a.port])
    addr, _ = stack.pick_gateway_address()
    (tcp,) = ports_on(addr, 1)
    objs = a.objects()
    objs[1]["endpoints"].insert(0, {"addresses": [dead], "conditions": {"ready": True}})
    stack.port = tcp
    stack.up([tcproute("tcp", [ref("tcp-echo-one")])], listeners=[listener("tcp", tcp, "TCP")],
             extra=objs)
    eventually(lambda: tcp_test(addr, tcp))
    for _ in range(20):
        _, j = tcp_test(addr, tcp)
        assert service_of(j) == "tcp-echo-one"


# ------------------------------------------------------------------- UDP

@pytest.mark.deadline(90)
def test_udp_echo_through_gateway(stack):
    u = start_echo(stack, "udp-echo", mode="udp")
    t = start_echo(stack, "tcp-echo-one")
    addr, _ = stack.pick_gateway_address()
    tcp, udp = ports_on(addr, 2, udp=(1,))
    listeners = [listener("tcp", tcp, "TCP"), listener("udp", udp, "UDP")]
    routes = [tcproute("tcp", [ref("tcp-echo-one")]), udproute("udp", [ref("udp-echo")])]
    up(stack, listeners, routes, [u, t], tcp)

    def probe(sock, payload):
        sock.sendto(payload, (addr, udp))
        data, src = sock.recvfrom(65536)
        assert src == (addr, udp), src  # replies come from the address we wrote to
        return json.loads(data)

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1.0)
        j = eventually(lambda: probe(s, b"gateway-api-conformance-udp-echo"))
        assert j["request"] == "gateway-api-conformance-udp-echo"
        assert j["service"] == "udp-echo" and j["namespace"] == NS
        for i in range(20):
            payload = f"datagram {i} ".encode() * 10
            assert probe(s, payload)["request"] == payload.decode()

    # several clients at once, each its own session
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
    try:
        for i, s in enumerate(socks):
            s.settimeout(2.0)
            s.sendto(f"client {i}".encode(), (addr, udp))
        for i, s in enumerate(socks):
            data, _ = s.recvfrom(65536)
            assert json.loads(data)["request"] == f"client {i}"
    finally:
        for s in socks:
            s.close()


@pytest.mark.deadline(90)
def test_udp_weighted_backends(stack):
    a = start_echo(stack, "udp-w-a", mode="udp")
    b = start_echo(stack, "udp-w-b", mode="udp")
    t = start_echo(stack, "tcp-echo-one")
    addr, _ = stack.pick_gateway_address()
    tcp, udp = ports_on(addr, 2, udp=(1,))
    listeners = [listener("tcp", tcp, "TCP"), listener("udp", udp, "UDP")]
    routes = [tcproute("tcp", [ref("tcp-echo-one")]),
              udproute("udp", [ref("udp-w-a", weight=3), ref("udp-w-b", weight=1)])]
    up(stack, listeners, routes, [a, b, t], tcp)

    def one():
        d = udp_ask(addr, udp, b"weights")
        assert d is not None
        return json.loads(d)["service"]

    eventually(one)
    n = 300
    counts = {}
    for _ in range(n):
        svc = eventually(one, timeout=5)  # a fresh client (session) per probe
        counts[svc] = counts.get(svc, 0) + 1
    assert set(counts) == {"udp-w-a", "udp-w-b"}, counts
    assert abs(counts["udp-w-a"] / n - 0.75) < 0.08, counts


# ---------------------------------------------------------- TLS passthrough

def tls_test(addr, port, sni, ca, timeout=5.0):
    """TLS to the gateway with SNI, verifying against the e2e CA: returns
    (is_tls, TEST json, peer certificate DER)."""
    raw = socket.create_connection((addr, port), timeout=timeout)
    with tls_wrap(raw, sni, ca) as s:
        is_tls, j = echo_session(s)
        return is_tls, j, s.getpeercert(binary_form=True)


def tls_rejected(addr, port, sni):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((addr, port), timeout=5)
    try:
        with ctx.wrap_socket(raw, server_hostname=sni):
            return False
    except (ConnectionResetError, ssl.SSLEOFError, BrokenPipeError):
        return True
    except ssl.SSLError as exc:
        return "EOF" in str(exc) or "reset" in str(exc).lower()
    finally:
        raw.close()


def tls_trickled(addr, port, sni, ca, piece=7):
    """TLS through memory BIOs so the ClientHello goes out `piece` bytes at a
    time (split records and reads at the gateway); returns the TEST json."""
    ctx = ssl.create_default_context(cafile=ca)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    raw = socket.create_connection((addr, port), timeout=5)
    try:
        def step(fn):
            while True:
                try:
                    return fn()
                except ssl.SSLWantReadError:
                    pending = out.read()
                    if pending:
                        raw.sendall(pending)
                    d = raw.recv(65536)
                    if not d:
                        raise EOFError("gateway closed")
                    inc.write(d)

        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = out.read()
        for i in range(0, len(hello), piece):
            raw.sendall(hello[i:i + piece])
            time.sleep(0.002)
        step(obj.do_handshake)
        buf = b""

        def line():
            nonlocal buf
            while b"\n" not in buf:
                buf += step(lambda: obj.read(65536))
            ln, buf = buf.split(b"\n", 1)
            return ln.decode()

        assert line() == "Gateway API Test TCP Server"
        obj.write(b"TEST\n")
        raw.sendall(out.read())
        return json.loads(line())
    finally:
        raw.close()


@pytest.mark.deadline(120)
def test_tls_passthrough_by_sni(stack, tls_files):
    exact = start_echo(stack, "tls-exact", tls_files=tls_files)
    wild = start_echo(stack, "tls-wild", tls_files=tls_files)
    t = start_echo(stack, "tcp-echo-one")
    addr, _ = stack.pick_gateway_address()
    tcp, tls = ports_on(addr, 2)
    listeners = [listener("tcp", tcp, "TCP"),
                 listener("tls", tls, "TLS", tls={"mode": "Passthrough"})]
    routes = [tcproute("tcp", [ref("tcp-echo-one")]),
              tlsroute("wild", ["*.example.com"], [ref("tls-wild", port=9443)]),
              tlsroute("exact", ["abc.example.com"], [ref("tls-exact", port=9443)])]
    up(stack, listeners, routes, [exact, wild, t], tcp)

    with open(tls_files.server_cert) as f:
        want_der = ssl.PEM_cert_to_DER_cert(f.read())

    is_tls, j, der = eventually(lambda: tls_test(addr, tls, "abc.example.com", tls_files.ca))
    assert is_tls == "true" and j["isTLS"] is True
    assert service_of(j) == "tls-exact"
    assert j["tls"]["serverName"] == "abc.example.com"
    assert der == want_der, "the client must see the backend's own certificate"

    is_tls, j, _ = tls_test(addr, tls, "foo.example.com", tls_files.ca)
    assert service_of(j) == "tls-wild" and j["tls"]["serverName"] == "foo.example.com"

    assert tls_rejected(addr, tls, "unknown.test"), "unknown SNI must be reset or closed"
    closed, took = closed_at_once(addr, tls, send=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert closed and took < 1.0, "plain HTTP on a passthrough port is not TLS"
    # A ClientHello declaring 20 KiB is past the peek bound: reset at once.
    closed, took = closed_at_once(addr, tls, send=b"\x16\x03\x01\x00\x04\x01\x00\x50\x00")
    assert closed and took < 1.0, "oversized ClientHello must be refused"

    # A ClientHello trickled in small pieces still routes.
    j = tls_trickled(addr, tls, "abc.example.com", tls_files.ca)
    assert service_of(j) == "tls-exact" and j["tls"]["serverName"] == "abc.example.com"


# ---------------------------------------------------------------- reload

@pytest.mark.deadline(120)
def test_tcp_connection_survives_reload(stack):
    one = start_echo(stack, "tcp-echo-one")
    two = start_echo(stack, "tcp-echo-two")
    addr, _ = stack.pick_gateway_address()
    (tcp,) = ports_on(addr, 1)
    up(stack, [listener("tcp", tcp, "TCP")], [tcproute("tcp", [ref("tcp-echo-one")])],
       [one, two], tcp)
    eventually(lambda: tcp_test(addr, tcp))

    s = socket.create_connection((addr, tcp), timeout=5)
    try:
        r = Line(s)
        assert r.line() == "Gateway API Test TCP Server"
        assert service_of(json.loads(r.cmd("TEST"))) == "tcp-echo-one"

        stack.write("routes.yaml", [tcproute("tcp", [ref("tcp-echo-two")])])

        def moved():
            _, j = tcp_test(addr, tcp)
            assert service_of(j) == "tcp-echo-two"
        eventually(moved, timeout=15)

        # the old connection kept its upstream
        assert r.cmd("PING") == "PONG"
        assert service_of(json.loads(r.cmd("TEST"))) == "tcp-echo-one"
    finally:
        s.close()
