# SPDX-License-Identifier: Apache-2.0
"""ClientTrafficPolicy (gatehouse.dev/v1alpha1, docs/policies.md): the
client address of a connection and of a request.

* proxyProtocol: the targeted listeners' ports take a PROXY v1 or v2 header
  from trusted peers; its source becomes the client address (the access
  log, X-Forwarded-For sent upstream, ClientAddress rate limit keys,
  SourceAddressPolicy). A header from another peer, a malformed one, or,
  when required, none (or none in time) closes the connection, counted in
  gatehouse_proxy_protocol_refused_total{reason}. A header split over two
  writes works; HTTP, TCP and TLS passthrough listeners all take it.
* clientAddress.xForwardedFor: trustedHops or trustedCIDRs pick the client
  out of X-Forwarded-For; entries the client wrote on the left never
  count, and too few entries mean the peer, never the leftmost one.
* a port shared by listeners whose policies disagree on proxyProtocol takes
  the oldest one's settings; the other is Conflicted."""
import ipaddress
import json
import socket
import struct
import time

import pytest

from echoclient import H1
from gateway import (NS, backend, gatehouse_run, gateway_obj, httproute, listener,  # noqa: F401
                     prefix, stack, tls_wrap)
from test_l4 import echo_session, ports_on, ref, start_echo, tcproute, tlsroute

GROUP = "gateway.networking.k8s.io"
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def ctp(name, targets, proxy=None, xff=None, created=None):
    md = {"name": name, "namespace": NS}
    if created:
        md["creationTimestamp"] = created
    spec = {"targetRefs": targets}
    if proxy is not None:
        spec["proxyProtocol"] = proxy
    if xff is not None:
        spec["clientAddress"] = {"xForwardedFor": xff}
    return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "ClientTrafficPolicy",
            "metadata": md, "spec": spec}


def sap(name, targets, allow=None, deny=None):
    spec = {"targetRefs": targets}
    if allow is not None:
        spec["allow"] = allow
    if deny is not None:
        spec["deny"] = deny
    return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "SourceAddressPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def target(kind, name, section=None):
    t = {"group": GROUP, "kind": kind, "name": name}
    if section:
        t["sectionName"] = section
    return t


def v1(src, dst="10.0.0.1", sport=5555, dport=80):
    fam = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode()


def v2(src, dst=None, sport=5555, dport=80, local=False):
    if local:
        return V2_SIG + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    a = ipaddress.ip_address(src)
    d = ipaddress.ip_address(dst or ("10.0.0.1" if a.version == 4 else "2001:db8::1"))
    body = a.packed + d.packed + struct.pack("!HH", sport, dport)
    fam = 0x11 if a.version == 4 else 0x21
    return V2_SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def req(path="/", host="gw.test", headers=()):
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def exchange(st, pieces, source="127.0.0.2", port=None, gap=0.1):
    """Sends pieces (a pause between them) on a connection from source;
    the response, or None when the gateway closed without one."""
    c = H1(st.addr, port or st.port, timeout=10, source=source)
    try:
        for i, p in enumerate(pieces):
            if i:
                time.sleep(gap)
            c.send(p)
        try:
            return c.read_response()
        except (EOFError, ConnectionResetError):
            return None
    finally:
        c.close()


def xff_last(r):
    j = r.json()
    for k, v in j["headers"].items():
        if k.lower() == "x-forwarded-for":
            return ",".join(v).split(",")[-1].strip()
    raise AssertionError(f"no X-Forwarded-For in {j['headers']}")


def log_clients(st, marker, n, timeout=5.0):
    """The `client` of the JSON access log lines whose path holds marker."""
    deadline = time.monotonic() + timeout
    while True:
        with open(st.gw.stdout_path, "rb") as f:
            got = [json.loads(ln) for ln in f.read().split(b"\n") if marker.encode() in ln]
        if len(got) >= n or time.monotonic() > deadline:
            return [g["client"] for g in got]
        time.sleep(0.05)


def refused(st, reason):
    return st.gw.metric("gatehouse_proxy_protocol_refused_total", reason=reason)


def ancestors(st, kind, name):
    for it in st.gw.status_json()["items"]:
        if it["kind"] == kind and it["metadata"]["name"] == name:
            return [(a["ancestorRef"]["name"],
                     [c for c in a["conditions"] if c["type"] == "Accepted"][0]["reason"],
                     [c for c in a["conditions"] if c["type"] == "Accepted"][0]["message"])
                    for a in it["status"]["ancestors"]]
    raise AssertionError(f"no status for {kind} {name}")


def http_up(st, extra, listeners=None):
    st.backend("svc")
    st.up([httproute("r", [{"matches": [prefix("/")], "backendRefs": [backend("svc")]}])],
          listeners=listeners, extra=extra, args=["--access-log", "json"])


# ------------------------------------------------------------ PROXY, HTTP

@pytest.mark.deadline(90)
def test_proxy_v1_v2_from_trusted_peer(stack):
    http_up(stack, [ctp("pp", [target("Gateway", "gw")],
                        proxy={"trustedCIDRs": ["127.0.0.0/8", "::1"]})])
    r = exchange(stack, [v1("198.51.100.7") + req("/v1-one")])
    assert r is not None and r.status == 200, r
    assert xff_last(r) == "198.51.100.7"
    r = exchange(stack, [v2("2001:db8::7") + req("/v2-one")])
    assert r.status == 200 and xff_last(r) == "2001:db8::7"
    r = exchange(stack, [v2("203.0.113.9") + req("/v2-two")])
    assert r.status == 200 and xff_last(r) == "203.0.113.9"
    # LOCAL (a health check of the balancer): the peer's own address
    r = exchange(stack, [v2(None, local=True) + req("/v2-local")])
    assert r.status == 200 and xff_last(r) == "127.0.0.2"
    # No header at all (not required): the peer's address
    r = exchange(stack, [req("/none")], source="127.0.0.4")
    assert r.status == 200 and xff_last(r) == "127.0.0.4"
    assert log_clients(stack, "/v1-one", 1) == ["198.51.100.7"]
    assert log_clients(stack, "/v2-one", 1) == ["2001:db8::7"]
    assert log_clients(stack, "/none", 1) == ["127.0.0.4"]
    assert [a[1] for a in ancestors(stack, "ClientTrafficPolicy", "pp")] == ["Accepted"]


@pytest.mark.deadline(90)
def test_proxy_header_split_over_writes(stack):
    http_up(stack, [ctp("pp", [target("Gateway", "gw")], proxy={"trustedCIDRs": ["127.0.0.2"]})])
    h = v1("198.51.100.8")
    r = exchange(stack, [h[:9], h[9:] + req("/split-v1")])
    assert r is not None and r.status == 200 and xff_last(r) == "198.51.100.8"
    h = v2("198.51.100.9")
    r = exchange(stack, [h[:7], h[7:20], h[20:] + req("/split-v2")])
    assert r is not None and r.status == 200 and xff_last(r) == "198.51.100.9"
    # the request itself split from the header
    r = exchange(stack, [h, req("/split-after")])
    assert r is not None and r.status == 200 and xff_last(r) == "198.51.100.9"


@pytest.mark.deadline(90)
def test_untrusted_and_garbage_close(stack):
    http_up(stack, [ctp("pp", [target("Gateway", "gw")], proxy={"trustedCIDRs": ["127.0.0.2"]})])
    assert exchange(stack, [v1("198.51.100.7") + req()], source="127.0.0.3") is None
    assert exchange(stack, [v2("198.51.100.7") + req()], source="127.0.0.3") is None
    assert refused(stack, "untrusted") == 2
    # the untrusted peer without a header is served as itself
    r = exchange(stack, [req()], source="127.0.0.3")
    assert r.status == 200 and xff_last(r) == "127.0.0.3"
    for bad in (b"PROXY TCP4 bogus\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
                b"PROXY " + b"A" * 120, V2_SIG + b"\x21\x11\xff\xff",
                V2_SIG + b"\x2f\x11\x00\x00"):
        assert exchange(stack, [bad + req()]) is None, bad
    assert refused(stack, "malformed") == 5


@pytest.mark.deadline(90)
def test_required_header(stack):
    http_up(stack, [ctp("pp", [target("Gateway", "gw")],
                        proxy={"trustedCIDRs": ["127.0.0.2"], "required": True,
                               "timeout": "1s"})])
    assert exchange(stack, [req()]) is None
    assert refused(stack, "missing") == 1
    assert exchange(stack, [v1("198.51.100.7") + req()], source="127.0.0.3") is None
    assert exchange(stack, [req()], source="127.0.0.3") is None
    assert refused(stack, "untrusted") >= 2
    # silence, then a half header: both time out
    t0 = time.monotonic()
    c = H1(stack.addr, stack.port, timeout=10, source="127.0.0.2")
    assert c.is_closed_by_peer(wait=5.0)
    c.close()
    assert 0.8 < time.monotonic() - t0 < 4
    assert exchange(stack, [b"PROXY TCP4 1.2", b""], gap=0) is None
    assert refused(stack, "timeout") == 2
    r = exchange(stack, [v1("198.51.100.7") + req()])
    assert r.status == 200 and xff_last(r) == "198.51.100.7"


@pytest.mark.deadline(90)
def test_proxy_client_reaches_rules_and_limits(stack):
    """The header's source is what SourceAddressPolicy and ClientAddress
    rate limits see."""
    rl = {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "RateLimitPolicy",
          "metadata": {"name": "rl", "namespace": NS},
          "spec": {"targetRefs": [target("HTTPRoute", "r")],
                   "limits": [{"name": "ip", "requests": 1, "interval": "1m",
                               "key": {"type": "ClientAddress"}}]}}
    http_up(stack, [ctp("pp", [target("Gateway", "gw")], proxy={"trustedCIDRs": ["127.0.0.2"]}),
                    sap("deny", [target("Gateway", "gw")], deny=["198.51.100.66"]), rl])
    assert exchange(stack, [v1("198.51.100.66") + req()]).status == 403
    assert exchange(stack, [v1("198.51.100.1") + req()]).status == 200
    assert exchange(stack, [v1("198.51.100.2") + req()]).status == 200
    assert exchange(stack, [v1("198.51.100.1") + req()]).status == 429


# --------------------------------------------------------- PROXY, L4

@pytest.mark.deadline(120)
def test_proxy_on_tcp_and_tls_passthrough(stack, tls_files):
    t = start_echo(stack, "tcp-echo-one")
    tl = start_echo(stack, "tls-exact", tls_files=tls_files)
    addr, _ = stack.pick_gateway_address()
    tcp, tls = ports_on(addr, 2)
    stack.port = tcp
    listeners = [listener("tcp", tcp, "TCP"),
                 listener("tls", tls, "TLS", tls={"mode": "Passthrough"})]
    routes = [tcproute("tcp", [ref("tcp-echo-one")]),
              tlsroute("exact", ["abc.example.com"], [ref("tls-exact", port=9443)])]
    extra = t.objects() + tl.objects() + [
        ctp("pp", [target("Gateway", "gw")], proxy={"trustedCIDRs": ["127.0.0.2"]}),
        sap("deny", [target("Gateway", "gw")], deny=["198.51.100.66"])]
    stack.up(routes, listeners=listeners, extra=extra)

    def tcp_via(header, source="127.0.0.2"):
        s = socket.create_connection((addr, tcp), timeout=5, source_address=(source, 0))
        try:
            s.sendall(header)
            return echo_session(s)
        finally:
            s.close()

    deadline = time.monotonic() + 10
    while True:
        try:
            is_tls, j = tcp_via(v1("198.51.100.7"))
            break
        except (OSError, EOFError):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert is_tls == "false" and j["isTLS"] is False
    # split v2, then the echo protocol on the same bytes stream
    s = socket.create_connection((addr, tcp), timeout=5, source_address=("127.0.0.2", 0))
    h = v2("198.51.100.8")
    s.sendall(h[:5])
    time.sleep(0.1)
    s.sendall(h[5:])
    assert echo_session(s)[0] == "false"
    s.close()
    # the header's source is checked at accept: refused, closed
    with pytest.raises((EOFError, ConnectionResetError)):
        tcp_via(v1("198.51.100.66"))
    # from an untrusted peer: closed
    with pytest.raises((EOFError, ConnectionResetError)):
        tcp_via(v1("198.51.100.7"), source="127.0.0.3")

    raw = socket.create_connection((addr, tls), timeout=5, source_address=("127.0.0.2", 0))
    raw.sendall(v2("2001:db8::9"))
    with tls_wrap(raw, "abc.example.com", tls_files.ca) as s:
        is_tls, j = echo_session(s)
    assert is_tls == "true" and j["tls"]["serverName"] == "abc.example.com"
    raw = socket.create_connection((addr, tls), timeout=5, source_address=("127.0.0.2", 0))
    raw.sendall(v1("198.51.100.66"))
    with pytest.raises((OSError, EOFError)):
        with tls_wrap(raw, "abc.example.com", tls_files.ca) as s:
            echo_session(s)
    m = stack.gw.admin("/metrics")[1].decode()
    assert 'gatehouse_source_address_refused_total{protocol="tcp"} 1' in m
    assert 'gatehouse_source_address_refused_total{protocol="tls"} 1' in m


# ------------------------------------------------------ X-Forwarded-For

@pytest.mark.deadline(90)
def test_xff_trusted_hops_cannot_be_spoofed(stack):
    http_up(stack, [ctp("xff", [target("Gateway", "gw")], xff={"trustedHops": 1}),
                    sap("deny", [target("Gateway", "gw")], deny=["203.0.113.5"])])

    def get(path, xff, source="127.0.0.2"):
        with H1(stack.addr, stack.port, timeout=10, source=source) as c:
            return c.request("GET", path, host="gw.test", headers=[("X-Forwarded-For", xff)])

    # the trusted proxy appended 203.0.113.5; the client wrote 6.6.6.6
    assert get("/hop-a", "6.6.6.6, 203.0.113.5").status == 403
    # prepending more entries changes nothing
    assert get("/hop-b", "1.1.1.1, 2.2.2.2, 203.0.113.5").status == 403
    r = get("/hop-c", "203.0.113.5, 198.51.100.4")
    assert r.status == 200
    assert xff_last(r) == "127.0.0.2"  # what we append upstream is our peer
    assert log_clients(stack, "/hop-c", 1) == ["198.51.100.4"]
    # no header, or a malformed rightmost entry: the peer
    with H1(stack.addr, stack.port, timeout=10, source="127.0.0.2") as c:
        assert c.request("GET", "/hop-none", host="gw.test").status == 200
    assert get("/hop-bad", "203.0.113.5, nonsense").status == 200
    assert log_clients(stack, "/hop-none", 1) == ["127.0.0.2"]
    assert log_clients(stack, "/hop-bad", 1) == ["127.0.0.2"]


@pytest.mark.deadline(90)
def test_xff_too_few_entries_is_the_peer(stack):
    http_up(stack, [ctp("xff", [target("Gateway", "gw")], xff={"trustedHops": 2})])
    with H1(stack.addr, stack.port, timeout=10, source="127.0.0.2") as c:
        r = c.request("GET", "/few", host="gw.test", headers=[("X-Forwarded-For", "203.0.113.5")])
        assert r.status == 200
        r = c.request("GET", "/two", host="gw.test",
                      headers=[("X-Forwarded-For", "203.0.113.5, 10.9.9.9")])
        assert r.status == 200
    assert log_clients(stack, "/few", 1) == ["127.0.0.2"]
    assert log_clients(stack, "/two", 1) == ["203.0.113.5"]


@pytest.mark.deadline(90)
def test_xff_trusted_cidrs(stack):
    http_up(stack, [ctp("xff", [target("Gateway", "gw")],
                        xff={"trustedCIDRs": ["127.0.0.2/32", "10.0.0.0/8"]})])

    def get(path, xff, source):
        with H1(stack.addr, stack.port, timeout=10, source=source) as c:
            return c.request("GET", path, host="gw.test", headers=[("X-Forwarded-For", xff)])

    assert get("/cidr-a", "6.6.6.6, 203.0.113.5, 10.1.1.1, 10.2.2.2", "127.0.0.2").status == 200
    assert get("/cidr-b", "203.0.113.5", "127.0.0.4").status == 200  # peer not trusted
    assert get("/cidr-c", "10.1.1.1, 10.2.2.2", "127.0.0.2").status == 200  # all trusted
    assert log_clients(stack, "/cidr-a", 1) == ["203.0.113.5"]
    assert log_clients(stack, "/cidr-b", 1) == ["127.0.0.4"]
    assert log_clients(stack, "/cidr-c", 1) == ["10.1.1.1"]


# --------------------------------------------------------------- status

@pytest.mark.deadline(90)
def test_shared_port_conflict_and_not_found(stack):
    """Two HTTP listeners on one port; the listener b's policy wants other
    PROXY settings than the Gateway-wide one: the port takes the older
    one's (the Gateway's), b's policy is Conflicted, and both listeners
    take PROXY headers from the Gateway policy's trusted peers."""
    addr, port = stack.pick_gateway_address()
    listeners = [listener("a", port, hostname="a.test"), listener("b", port, hostname="b.test")]
    http_up(stack, [
        ctp("gw-wide", [target("Gateway", "gw")], proxy={"trustedCIDRs": ["127.0.0.2"]},
            created="2024-01-01T00:00:00Z"),
        ctp("b-only", [target("Gateway", "gw", "b")],
            proxy={"trustedCIDRs": ["127.0.0.3"], "required": True},
            created="2025-01-01T00:00:00Z"),
        ctp("lost", [target("Gateway", "nope")], xff={"trustedHops": 1}),
        ctp("nolis", [target("Gateway", "gw", "zz")], xff={"trustedHops": 1}),
    ], listeners=listeners)
    assert ancestors(stack, "ClientTrafficPolicy", "gw-wide")[0][1] == "Accepted"
    (b,) = ancestors(stack, "ClientTrafficPolicy", "b-only")
    assert b[1] == "Conflicted" and "gw-wide" in b[2], b
    assert ancestors(stack, "ClientTrafficPolicy", "lost")[0][1] == "TargetNotFound"
    assert ancestors(stack, "ClientTrafficPolicy", "nolis")[0][1] == "TargetNotFound"
    for host in ("a.test", "b.test"):
        r = exchange(stack, [v1("198.51.100.7") + req(host=host)])
        assert r.status == 200 and xff_last(r) == "198.51.100.7", host
    assert exchange(stack, [v1("198.51.100.7") + req(host="b.test")], source="127.0.0.3") is None


@pytest.mark.deadline(60)
def test_stop_with_headers_pending(stack):
    """Connections still in the PROXY pre-phase when the gateway stops are
    closed with it: a clean exit (no leak, no sanitizer report)."""
    http_up(stack, [ctp("pp", [target("Gateway", "gw")],
                        proxy={"trustedCIDRs": ["127.0.0.2"], "timeout": "30s"})])
    conns = []
    for piece in (b"", b"PROXY TCP4 1.2", V2_SIG[:5]):
        c = H1(stack.addr, stack.port, timeout=10, source="127.0.0.2")
        if piece:
            c.send(piece)
        conns.append(c)
    time.sleep(0.3)
    rc, _ = stack.gw.stop()
    assert rc == 0, stack.gw.stderr()[-3000:]
    for c in conns:
        c.close()
