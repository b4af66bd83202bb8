# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: half-close under backpressure in the L4 splice (src/l4).

A side whose socket is shut both ways (we sent our FIN, its FIN came) while
the other direction still has bytes to deliver used to stay registered with
nothing to do; level-triggered epoll reports EPOLLHUP whatever the interest,
so the worker spun until the slow peer caught up. Each case here parks one
peer for a while and checks that the gateway's CPU time stays flat meanwhile,
then that every byte still arrives, in order, followed by the EOF:

* the client sends a request and half-closes, the backend answers with a
  large stream and closes, the client reads slowly (the upstream socket is
  done, or has unread bytes behind the full buffer);
* the backend half-closes at once and reads slowly, the client uploads a
  large body and half-closes (the client socket is done, or has unread
  bytes behind the full buffer);
* both again with TLS terminated at the gateway (close_notify as the
  gateway's half-close, a bare FIN as the client's).

The backend is a small Python TCP server on a loopback address."""
import array
import os
import socket
import threading
import time

import pytest

from conftest import pick_address, random_ports
from gateway import accept_loop, endpointslice_obj, gatehouse_run, listener, service_obj
from gateway import stack, tls_wrap  # noqa: F401
from test_l4 import ports_on, ref, tcproute, tlsroute, up
from test_l4_terminate import TERMINATE, Extra, cert_secret

ANSWER = 1 << 20  # bytes the backend answers (the client's buffers are small)
UPLOAD = 8 << 20  # bytes the client uploads
IDLE = 1.5  # seconds the slow peer waits
CPU_LIMIT = 0.35  # gateway CPU seconds allowed while it waits (a spin burns ~IDLE)
TCP_CLOSE = 7  # tcp_info.tcpi_state


def pattern(n, seed):
    """n bytes that show reordering or loss (a counter per 4-byte word)."""
    a = array.array("I", range(seed, seed + (n + 3) // 4))
    return a.tobytes()[:n]


def cpu_seconds(pid):
    """User + system CPU time of the process (all threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fin_acked(sock, timeout=30.0):
    """After both FINs: waits until ours was acknowledged (TCP_CLOSE), i.e.
    it reached the gateway behind every byte we sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] == TCP_CLOSE:
            return True
        time.sleep(0.005)
    return False


class StreamBackend:
    """A TCP server. mode 'answer': read until EOF, send `size` bytes, FIN,
    and set `fin` once the gateway acknowledged it. mode 'sink': FIN at
    once, then read slowly until `pause`, not at all until `go`, then fast
    until EOF. Either records
    each non-empty request (empty ones are the harness's readiness
    probes)."""

    def __init__(self, name, mode, size):
        self.name, self.mode, self.size = name, mode, size
        self.port = random_ports(1)[0]
        self.addr = pick_address([self.port])
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # small kernel buffers here and towards us at the gateway (its send
        # buffer is sized from the MSS): the splice buffer fills first
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1024)
        self.ls.bind((self.addr, self.port))
        self.ls.listen(16)
        self.ls.settimeout(0.2)
        self.fin = threading.Event()
        self.pause = threading.Event()
        self.go = threading.Event()
        self.got = []
        self.errors = []
        self.stopping = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        accept_loop(self.ls, lambda: self.stopping, self._serve)

    def _serve(self, c):
        try:
            c.settimeout(30)
            if self.mode == "answer":
                req = b""
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    req += d
                if not req:
                    return
                self.got.append(req)
                c.sendall(pattern(self.size, 7))
                c.shutdown(socket.SHUT_WR)
                if fin_acked(c):
                    self.fin.set()
            else:
                c.shutdown(socket.SHUT_WR)
                buf = bytearray()
                while True:
                    if self.pause.is_set():
                        self.go.wait(30)
                    if not self.go.is_set():
                        time.sleep(0.01)
                    d = c.recv(65536 if not self.go.is_set() else 1 << 20)
                    if not d:
                        break
                    buf += d
                if buf:
                    self.got.append(bytes(buf))
        except OSError as exc:
            self.errors.append(repr(exc))
        finally:
            c.close()

    def stop(self):
        self.stopping = True
        self.go.set()
        self.ls.close()
        self.t.join(5)

    def objects(self):
        return [service_obj(self.name, [{"name": "main", "port": 9000, "targetPort": self.port}]),
                endpointslice_obj(self.name, [self.addr], [{"name": "main", "port": self.port}])]


@pytest.fixture
def backends():
    made = []

    def make(*a, **kw):
        b = StreamBackend(*a, **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()


def gateway(stack, tls_files, backend, terminate):
    addr, _ = stack.pick_gateway_address()
    tcp, tls = ports_on(addr, 2)
    listeners = [listener("tcp", tcp, "TCP")]
    routes = [tcproute("tcp", [ref(backend.name)])]
    extra = [backend]
    if terminate:
        listeners.append(listener("tls", tls, "TLS", tls=TERMINATE))
        routes.append(tlsroute("t", ["abc.example.com"], [ref(backend.name)]))
        extra.append(Extra(cert_secret(tls_files)))
    up(stack, listeners, routes, extra, tcp)
    return addr, (tls if terminate else tcp)


def client(addr, port, tls_files, terminate, small=False):
    """small: small kernel buffers here and towards us at the gateway."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if small:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1024)
    raw.settimeout(20)
    raw.connect((addr, port))
    return tls_wrap(raw, "abc.example.com", tls_files.ca) if terminate else raw


def fin(sock):
    """shutdown(SHUT_WR) on the socket itself: for TLS a bare FIN with no
    close_notify (ssl.SSLSocket.shutdown would drop the TLS state)."""
    socket.socket.shutdown(sock, socket.SHUT_WR)


def read_all(sock, limit):
    buf = bytearray()
    while True:
        d = sock.recv(min(1 << 20, limit + 1 - len(buf)))
        if not d:
            return bytes(buf)
        buf += d
        assert len(buf) <= limit, "more bytes than were sent"


def idle_cpu(pid):
    """Gateway CPU seconds over IDLE seconds."""
    t0 = cpu_seconds(pid)
    time.sleep(IDLE)
    return cpu_seconds(pid) - t0


@pytest.mark.deadline(90)
@pytest.mark.parametrize("terminate", [False, True], ids=["tcp", "tls-terminate"])
def test_client_halfclose_slow_reader(stack, tls_files, backends, terminate):
    """Client: request, FIN, then reads slowly; backend: large answer, FIN.
    Once the backend's FIN is at the gateway the client stops reading: the
    upstream socket is shut both ways while its bytes wait for the client."""
    b = backends("hc-answer", "answer", ANSWER)
    addr, port = gateway(stack, tls_files, b, terminate)
    s = client(addr, port, tls_files, terminate, small=True)
    try:
        s.sendall(b"request\n")
        fin(s)
        got = bytearray()
        while not b.fin.is_set():
            d = s.recv(4096)
            assert d, "EOF before the backend's FIN was acknowledged"
            got += d
            time.sleep(0.01)
        used = idle_cpu(stack.gw.proc.pid)
        got += read_all(s, b.size - len(got))
    finally:
        s.close()
    assert bytes(got) == pattern(b.size, 7), "bytes lost or reordered"
    assert b.got == [b"request\n"] and not b.errors, (b.got, b.errors)
    assert used < CPU_LIMIT, f"gateway burnt {used:.2f} s CPU in {IDLE} s waiting for the client"


@pytest.mark.deadline(90)
@pytest.mark.parametrize("terminate", [False, True], ids=["tcp", "tls-terminate"])
def test_backend_halfclose_slow_reader(stack, tls_files, backends, terminate):
    """Backend: FIN at once, then reads slowly; client: large upload, FIN.
    Once the client's FIN is at the gateway the backend stops reading: the
    client socket is shut both ways while its bytes wait for the backend."""
    b = backends("hc-sink", "sink", 0)
    addr, port = gateway(stack, tls_files, b, terminate)
    s = client(addr, port, tls_files, terminate)
    body = pattern(UPLOAD, 11)
    try:
        assert read_all(s, 0) == b"", "the backend's half-close reaches the client"
        s.sendall(body)
        fin(s)
        raw = socket.socket(fileno=s.fileno())
        try:
            assert fin_acked(raw)
        finally:
            raw.detach()
        b.pause.set()
        used = idle_cpu(stack.gw.proc.pid)
        b.go.set()
        deadline = time.monotonic() + 30
        while not b.got and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        s.close()
    assert b.got and b.got[0] == body, "bytes lost or reordered"
    assert not b.errors, b.errors
    assert used < CPU_LIMIT, f"gateway burnt {used:.2f} s CPU in {IDLE} s waiting for the backend"
