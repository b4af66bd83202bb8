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


class UdpSetup:
    """A TCP and a UDP listener (plus `extra_ports` more TCP ports), a
    TCPRoute and a UDPRoute to echo backends, served, with sessions on both
    workers' sockets."""

    def __init__(self, stack, extra_ports=0):
        self.stack = stack
        self.backends = [start_echo(stack, "udp-echo", mode="udp"),
                         start_echo(stack, "tcp-echo-one")]
        self.addr, _ = stack.pick_gateway_address()
        ports = ports_on(self.addr, 2 + extra_ports, udp=(1,))
        self.tcp, self.udp, self.more = ports[0], ports[1], ports[2:]
        self.with_udp = [listener("tcp", self.tcp, "TCP"), listener("udp", self.udp, "UDP")]
        routes = [tcproute("tcp", [ref("tcp-echo-one")]), udproute("udp", [ref("udp-echo")])]
        up(stack, self.with_udp, routes, self.backends, self.tcp)
        assert eventually(self.answered)["service"] == "udp-echo"
        for _ in range(40):  # sessions on both workers' sockets
            assert udp_ask(self.addr, self.udp) is not None

    def answered(self):
        d = udp_ask(self.addr, self.udp)
        assert d is not None
        return json.loads(d)

    def write_base(self, listeners):
        self.stack.write("base.yaml", self.stack.base_objects(listeners) +
                         [o for b in self.backends for o in b.objects()])

    def lost_of(self, n, timeout=None):
        kw = {} if timeout is None else {"timeout": timeout}
        return sum(udp_ask(self.addr, self.udp, **kw) is None for _ in range(n))


@pytest.mark.deadline(120)
def test_udp_listener_readded_answers_every_client(stack):
    s = UdpSetup(stack)

    # The UDP listener goes away; its sessions must not keep the port.
    s.write_base([listener("tcp", s.tcp, "TCP")])

    def refused():
        try:
            udp_ask(s.addr, s.udp, timeout=0.5)
        except ConnectionRefusedError:
            return
        raise AssertionError("a datagram to the removed listener was not refused")

    eventually(refused, timeout=15)

    s.write_base(s.with_udp)
    eventually(s.answered, timeout=15)
    lost = s.lost_of(60)
    assert lost == 0, f"{lost} of 60 fresh clients got no reply from the re-added listener"


@pytest.mark.deadline(120)
def test_udp_listener_readded_within_a_sweep(stack):
    """Removed and added back at once (two reloads well inside the sweep
    period): the old listener's sessions must let go of its socket when the
    proxy closes it, or the orphan takes its share of the first datagrams."""
    s = UdpSetup(stack, extra_ports=1)
    mark = s.more[0]
    # the marker TCP listener shows when the workers have adopted a reload
    without_udp = [listener("tcp", s.tcp, "TCP"), listener("mark", mark, "TCP")]

    def connects(want):
        def check():
            try:
                socket.create_connection((s.addr, mark), timeout=1).close()
                ok = True
            except ConnectionRefusedError:
                ok = False
            assert ok == want
        return check

    s.write_base(without_udp)
    eventually(connects(True), timeout=15)
    s.write_base(s.with_udp)
    eventually(connects(False), timeout=15)
    lost = s.lost_of(60, timeout=0.5)
    assert lost == 0, f"{lost} of 60 fresh clients got no reply from the re-added listener"
