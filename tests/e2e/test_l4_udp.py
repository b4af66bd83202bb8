# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: UDPRoute sessions across listener changes (src/l4/udp.c).

* a UDP listener removed by a reload, then added back on the same address
  and port, answers every fresh client: the sessions of the old listener
  must not keep its socket bound (an orphan in the SO_REUSEPORT group that
  nobody reads takes its hash share of the new clients' datagrams);
* while the listener is gone, a client's datagram is refused (ICMP port
  unreachable), not swallowed.

Echo backends run in UDP_ECHO_SERVER / TCP_ECHO_SERVER mode (ECHO.md 4-5)."""
import json
import socket

import pytest

from gateway import gatehouse_run, listener, stack, udp_ask  # noqa: F401
from test_l4 import eventually, ports_on, ref, start_echo, tcproute, udproute, up


@pytest.mark.deadline(120)
def test_udp_listener_readded_answers_every_client(stack):
    u = start_echo(stack, "udp-echo", mode="udp")
    t = start_echo(stack, "tcp-echo-one")
    addr, _ = stack.pick_gateway_address()
    tcp, udp = ports_on(addr, 2, udp=(1,))
    with_udp = [listener("tcp", tcp, "TCP"), listener("udp", udp, "UDP")]
    routes = [tcproute("tcp", [ref("tcp-echo-one")]), udproute("udp", [ref("udp-echo")])]
    extra = [u, t]
    up(stack, with_udp, routes, extra, tcp)

    def answered():
        d = udp_ask(addr, udp)
        assert d is not None
        return json.loads(d)

    assert eventually(answered)["service"] == "udp-echo"
    for _ in range(40):  # sessions on both workers' sockets
        assert udp_ask(addr, udp) is not None

    # The UDP listener goes away; its sessions must not keep the port.
    def write_base(listeners):
        stack.write("base.yaml", stack.base_objects(listeners) +
                    [o for b in extra for o in b.objects()])

    write_base([listener("tcp", tcp, "TCP")])

    def refused():
        try:
            udp_ask(addr, udp, timeout=0.5)
        except ConnectionRefusedError:
            return
        raise AssertionError("a datagram to the removed listener was not refused")

    eventually(refused, timeout=15)

    write_base(with_udp)
    eventually(answered, timeout=15)
    lost = sum(udp_ask(addr, udp) is None for _ in range(60))
    assert lost == 0, f"{lost} of 60 fresh clients got no reply from the re-added listener"


@pytest.mark.deadline(120)
def test_udp_listener_readded_within_a_sweep(stack):
    """Removed and added back at once (two reloads well inside the sweep
    period): the old listener's sessions must let go of its socket when the
    proxy closes it, or the orphan takes its share of the first datagrams."""
    u = start_echo(stack, "udp-echo", mode="udp")
    t = start_echo(stack, "tcp-echo-one")
    addr, _ = stack.pick_gateway_address()
    tcp, udp, mark = ports_on(addr, 3, udp=(1,))
    with_udp = [listener("tcp", tcp, "TCP"), listener("udp", udp, "UDP")]
    # the marker TCP listener shows when the workers have adopted a reload
    without_udp = [listener("tcp", tcp, "TCP"), listener("mark", mark, "TCP")]
    routes = [tcproute("tcp", [ref("tcp-echo-one")]), udproute("udp", [ref("udp-echo")])]
    extra = [u, t]
    up(stack, with_udp, routes, extra, tcp)

    def answered():
        d = udp_ask(addr, udp)
        assert d is not None
        return json.loads(d)

    assert eventually(answered)["service"] == "udp-echo"
    for _ in range(40):  # sessions on both workers' sockets
        assert udp_ask(addr, udp) is not None

    def write_base(listeners):
        stack.write("base.yaml", stack.base_objects(listeners) +
                    [o for b in extra for o in b.objects()])

    def connects(want):
        def check():
            try:
                socket.create_connection((addr, mark), timeout=1).close()
                ok = True
            except ConnectionRefusedError:
                ok = False
            assert ok == want
        return check

    write_base(without_udp)
    eventually(connects(True), timeout=15)
    write_base(with_udp)
    eventually(connects(False), timeout=15)
    lost = sum(udp_ask(addr, udp, timeout=0.5) is None for _ in range(60))
    assert lost == 0, f"{lost} of 60 fresh clients got no reply from the re-added listener"
