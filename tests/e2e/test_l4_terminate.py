# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: TLSRoute in Terminate mode (src/l4 with the proxy's
certificates).

* a TLS listener with mode Terminate: the client sees the listener's
  certificate (the e2e server certificate, verified against the e2e CA), the
  backend is the plain TCP echo (IS_TLS false), routing by SNI (exact, then
  wildcard), an unknown SNI is reset, a large transfer goes through the
  bounded buffers in order, the client's close_notify/FIN reaches the
  backend as EOF and the backend's close comes back;
* a port mixing a Passthrough and a Terminate listener: the SNI picks the
  listener, so one name reaches the TLS echo with its SNI, the other is
  terminated at the gateway;
* the listeners are Accepted with TLSRoute in supportedKinds.

Echo backends run in TCP_ECHO_SERVER mode (ECHO.md 4)."""
import base64
import json
import socket
import ssl

import pytest

from gateway import gatehouse_run, listener, stack  # noqa: F401
from test_l4 import (NS, Line, eventually, ports_on, ref, service_of, start_echo,
                     tcproute, tls_rejected, tls_test, tls_trickled, tlsroute, up)


def cert_secret(tls_files, name="cert"):
    def b64(path):
        with open(path, "rb") as f:
            return base64.b64encode(f.read()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": NS},
            "data": {"tls.crt": b64(tls_files.server_cert),
                     "tls.key": b64(tls_files.server_key)}}


class Extra:
    """Plain objects passed to `up` next to the echo backends."""

    def __init__(self, *objs):
        self.objs = list(objs)

    def objects(self):
        return self.objs


TERMINATE = {"mode": "Terminate", "certificateRefs": [{"name": "cert"}]}


def tls_conn(addr, port, sni, ca, timeout=5.0):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    raw = socket.create_connection((addr, port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname=sni)


def listener_status(stack, name):
    for obj in stack.gw.status_json().get("items", []):
        if obj.get("kind") != "Gateway":
            continue
        for ls in obj.get("status", {}).get("listeners", []):
            if ls["name"] == name:
                return ls
    raise AssertionError(f"listener {name} not in status")


@pytest.mark.deadline(120)
def test_tls_terminate_by_sni(stack, tls_files):
    exact = start_echo(stack, "plain-exact")
    wild = start_echo(stack, "plain-wild")
    t = start_echo(stack, "tcp-echo-one")
    addr, _ = stack.pick_gateway_address()
    tcp, tls = ports_on(addr, 2)
    listeners = [listener("tcp", tcp, "TCP"), listener("tls", tls, "TLS", tls=TERMINATE)]
    routes = [tcproute("tcp", [ref("tcp-echo-one")]),
              tlsroute("wild", ["*.example.com"], [ref("plain-wild")]),
              tlsroute("exact", ["abc.example.com"], [ref("plain-exact")])]
    up(stack, listeners, routes, [exact, wild, t, Extra(cert_secret(tls_files))], tcp)

    with open(tls_files.server_cert) as f:
        want_der = ssl.PEM_cert_to_DER_cert(f.read())

    is_tls, j, der = eventually(lambda: tls_test(addr, tls, "abc.example.com", tls_files.ca))
    assert is_tls == "false" and j["isTLS"] is False, "plain TCP behind the gateway"
    assert service_of(j) == "plain-exact" and j["namespace"] == NS
    assert der == want_der, "the client sees the listener's certificate"

    is_tls, j, _ = tls_test(addr, tls, "foo.example.com", tls_files.ca)
    assert is_tls == "false" and service_of(j) == "plain-wild"

    assert tls_rejected(addr, tls, "unknown.test"), "unknown SNI must be reset or closed"

    # A ClientHello trickled in small pieces: the peeked bytes feed OpenSSL.
    j = tls_trickled(addr, tls, "abc.example.com", tls_files.ca)
    assert service_of(j) == "plain-exact"

    # Many commands in one write, answered in order; then 8 MiB the echo
    # ignores, then a PING: every byte went through SSL_read/SSL_write and
    # the bounded buffers in order.
    with tls_conn(addr, tls, "abc.example.com", tls_files.ca, timeout=20) as s:
        r = Line(s)
        assert r.line() == "Gateway API Test TCP Server"
        s.sendall(b"PING\n" * 2000)
        assert all(r.line() == "PONG" for _ in range(2000))
        s.sendall((b"x" * 1023 + b"\n") * 8192 + b"PING\n")
        assert r.line() == "PONG"

    # Close: the client's close_notify reaches the echo as EOF, the echo's
    # close comes back as the gateway's close_notify, then FIN. (Python's
    # unwrap cannot read data after its own close_notify, so the answers
    # are read first.)
    with tls_conn(addr, tls, "abc.example.com", tls_files.ca) as s:
        r = Line(s)
        assert r.line() == "Gateway API Test TCP Server"
        s.sendall(b"PING\nTEST\n")
        assert r.line() == "PONG"
        assert service_of(json.loads(r.line())) == "plain-exact"
        raw = s.unwrap()  # sends close_notify, waits for the gateway's
        raw.settimeout(5)
        assert raw.recv(4096) == b""
        raw.close()

    ls = listener_status(stack, "tls")
    assert [k["kind"] for k in ls["supportedKinds"]] == ["TLSRoute"]
    acc = [c for c in ls["conditions"] if c["type"] == "Accepted"][0]
    assert acc["status"] == "True", acc
    assert ls["attachedRoutes"] == 2


@pytest.mark.deadline(120)
def test_tls_mixed_modes_on_one_port(stack, tls_files):
    passed = start_echo(stack, "tls-pass", tls_files=tls_files)
    plain = start_echo(stack, "plain-term")
    t = start_echo(stack, "tcp-echo-one")
    addr, _ = stack.pick_gateway_address()
    tcp, tls = ports_on(addr, 2)
    listeners = [listener("tcp", tcp, "TCP"),
                 listener("term", tls, "TLS", hostname="term.example.com", tls=TERMINATE),
                 listener("pass", tls, "TLS", hostname="abc.example.com",
                          tls={"mode": "Passthrough"})]
    routes = [tcproute("tcp", [ref("tcp-echo-one")]),
              tlsroute("term", ["term.example.com"], [ref("plain-term")], section="term"),
              tlsroute("pass", ["abc.example.com"], [ref("tls-pass", port=9443)],
                       section="pass")]
    up(stack, listeners, routes, [passed, plain, t, Extra(cert_secret(tls_files))], tcp)

    is_tls, j, _ = eventually(lambda: tls_test(addr, tls, "term.example.com", tls_files.ca))
    assert is_tls == "false" and service_of(j) == "plain-term"

    is_tls, j, _ = tls_test(addr, tls, "abc.example.com", tls_files.ca)
    assert is_tls == "true" and service_of(j) == "tls-pass"
    assert j["tls"]["serverName"] == "abc.example.com"

    assert tls_rejected(addr, tls, "other.example.com"), "no listener for that name"

    for name in ("term", "pass"):
        ls = listener_status(stack, name)
        acc = [c for c in ls["conditions"] if c["type"] == "Accepted"][0]
        assert acc["status"] == "True", (name, acc)
        assert [k["kind"] for k in ls["supportedKinds"]] == ["TLSRoute"]

    # A connection on each mode at once, interleaved.
    with tls_conn(addr, tls, "term.example.com", tls_files.ca) as a, \
            tls_conn(addr, tls, "abc.example.com", tls_files.ca) as b:
        ra, rb = Line(a), Line(b)
        assert ra.line() == rb.line() == "Gateway API Test TCP Server"
        for _ in range(50):
            assert ra.cmd("IS_TLS") == "false"
            assert rb.cmd("IS_TLS") == "true"
