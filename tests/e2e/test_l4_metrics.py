# SPDX-License-Identifier: Apache-2.0
"""/metrics for TCPRoute and UDPRoute listeners (src/l4 counting through
src/proxy/metrics.c): sessions accepted and active, bytes both ways,
datagrams, upstream connect failures, by gateway, listener and route; the
counters stay monotonic across a reload."""
import socket

import pytest

from conftest import pick_address
from gateway import gatehouse_run, listener, stack  # noqa: F401
from test_l4 import NS, Line, eventually, ports_on, ref, start_echo, tcproute, udproute, up
from test_metrics import parse


def scrape(st):
    status, body, _ = st.gw.admin("/metrics")
    assert status == 200
    return parse(body.decode())


def l4(samples, fam, listener_name, route):
    key = (fam, tuple(sorted([("gateway", f"{NS}/gw"), ("listener", listener_name),
                              ("route", route)])))
    return samples.get(key)


@pytest.mark.deadline(120)
def test_l4_metrics(stack):
    t = start_echo(stack, "tcp-echo-one")
    u = start_echo(stack, "udp-echo", mode="udp")
    dead = start_echo(stack, "tcp-dead")
    addr, _ = stack.pick_gateway_address()
    tcp, udp, bad = ports_on(addr, 3, udp=(1,))
    dead_objs = dead.objects()
    # the dead Service's only endpoint refuses connections
    dead_objs[1]["endpoints"] = [{"addresses": [pick_address([dead.port])],
                                  "conditions": {"ready": True}}]
    listeners = [listener("tcp", tcp, "TCP"), listener("udp", udp, "UDP"),
                 listener("bad", bad, "TCP")]
    routes = [tcproute("tcp", [ref("tcp-echo-one")]), udproute("udp", [ref("udp-echo")]),
              tcproute("bad", [ref("tcp-dead")], section="bad")]
    stack.port = tcp
    stack.up(routes, listeners=listeners, extra=t.objects() + u.objects() + dead_objs)
    rt, ru, rb = f"TCPRoute {NS}/tcp", f"UDPRoute {NS}/udp", f"TCPRoute {NS}/bad"

    # one TCP connection held open: counted, active, its bytes both ways
    s = eventually(lambda: socket.create_connection((addr, tcp), timeout=5))
    r = Line(s)
    assert r.line() == "Gateway API Test TCP Server"
    assert r.cmd("PING") == "PONG"
    m = scrape(stack)
    assert l4(m, "gatehouse_l4_sessions_total", "tcp", rt) >= 1, m
    assert l4(m, "gatehouse_l4_sessions_active", "tcp", rt) >= 1
    assert l4(m, "gatehouse_l4_received_bytes_total", "tcp", rt) >= len("PING\n")
    assert l4(m, "gatehouse_l4_sent_bytes_total", "tcp", rt) >= len(
        "Gateway API Test TCP Server\nPONG\n")
    s.close()

    def idle():
        m = scrape(stack)
        assert l4(m, "gatehouse_l4_sessions_active", "tcp", rt) == 0
        return m
    eventually(idle)

    # UDP: one session, 5 datagrams each way
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(1.0)
        c.connect((addr, udp))
        for i in range(5):
            c.send(f"datagram {i}".encode())
            assert c.recv(65536)

    def counted():
        # The worker counts a datagram after sendto returns: the client
        # may hold the fifth before it is counted.
        m = scrape(stack)
        assert l4(m, "gatehouse_l4_received_datagrams_total", "udp", ru) == 5, m
        assert l4(m, "gatehouse_l4_sent_datagrams_total", "udp", ru) == 5
        return m
    m = eventually(counted)
    assert l4(m, "gatehouse_l4_sessions_total", "udp", ru) == 1
    assert l4(m, "gatehouse_l4_sessions_active", "udp", ru) == 1
    assert l4(m, "gatehouse_l4_received_bytes_total", "udp", ru) == sum(
        len(f"datagram {i}") for i in range(5))

    # a route whose endpoint refuses: connect failures
    for _ in range(3):
        try:  # reset at once, maybe before connect() returns
            with socket.create_connection((addr, bad), timeout=5) as b:
                b.settimeout(5)
                assert b.recv(100) == b""
        except ConnectionResetError:
            pass
    m = scrape(stack)
    assert l4(m, "gatehouse_l4_upstream_connect_failures_total", "bad", rb) >= 3, m
    assert l4(m, "gatehouse_l4_sessions_total", "bad", rb) == 3

    # a reload keeps every L4 series counting up
    stack.write("base.yaml", stack.base_objects(listeners + [listener("more", bad + 1, "TCP")]) +
                t.objects() + u.objects() + dead_objs)
    eventually(lambda: socket.create_connection((addr, bad + 1), timeout=1).close())
    m2 = scrape(stack)
    for k, v in m.items():
        if k[0].startswith("gatehouse_l4_") and k[0].endswith("_total"):
            assert k in m2 and m2[k] >= v, (k, v, m2.get(k))
