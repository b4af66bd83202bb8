# SPDX-License-Identifier: Apache-2.0
"""`gatehouse echo`, TCP mode (ECHO.md 4: welcome line, PING, IS_TLS, TEST,
TLS port) and UDP mode (ECHO.md 5: one JSON datagram per datagram)."""
import json
import socket
import ssl

import pytest

from echoclient import tls_client

WELCOME = b"Gateway API Test TCP Server\n"


class LineConn:
    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(10)
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            d = self.sock.recv(4096)
            if not d:
                raise EOFError(f"closed; pending {self.buf!r}")
            self.buf += d
        ln, self.buf = self.buf.split(b"\n", 1)
        return ln + b"\n"

    def cmd(self, c):
        self.sock.sendall(c.encode() + b"\n")
        return self.line()

    def close(self):
        self.sock.close()


def _plain(srv):
    return LineConn(socket.create_connection((srv.addr, srv.tcp_port), timeout=10))


def _tls(srv, tls_files, sni="abc.example.com", **kw):
    ctx = tls_client(ca=tls_files.ca, min_version=ssl.TLSVersion.TLSv1_2, **kw)
    raw = socket.create_connection((srv.addr, srv.tls_port), timeout=10)
    return LineConn(ctx.wrap_socket(raw, server_hostname=sni))


@pytest.fixture
def tcp_echo(echo):
    return echo("tcp", tls=True, env={"SERVICE_NAME": "tcp-backend",
                                      "POD_NAME": "tcp-backend-5f6d7c8b9-abcde"})


def test_welcome_ping_is_tls(tcp_echo):
    c = _plain(tcp_echo)
    try:
        assert c.line() == WELCOME
        assert c.cmd("PING") == b"PONG\n"
        assert c.cmd("IS_TLS") == b"false\n"
        assert c.cmd("PING") == b"PONG\n"
    finally:
        c.close()


def test_test_command_json(tcp_echo):
    c = _plain(tcp_echo)
    try:
        c.line()
        raw = c.cmd("TEST")
    finally:
        c.close()
    j = json.loads(raw)
    assert j["namespace"] == tcp_echo.env["NAMESPACE"]
    assert j["pod"] == "tcp-backend-5f6d7c8b9-abcde"
    assert j["pod"].startswith("tcp-backend-")
    assert j["service"] == "tcp-backend"
    assert j["ingress"] == tcp_echo.env["INGRESS_NAME"]
    assert str(j["tcpport"]) == str(tcp_echo.tcp_port)
    assert str(j["tlsport"]) == str(tcp_echo.tls_port)
    assert j["isTLS"] is False
    assert "tls" not in j or j["tls"] in (None, {}), j


def test_unknown_command_gets_no_answer(tcp_echo):
    c = _plain(tcp_echo)
    try:
        c.line()
        c.sock.sendall(b"HELLO\nping\nPING\n")
        assert c.line() == b"PONG\n"
        c.sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            c.sock.recv(100)
    finally:
        c.close()


def test_commands_in_one_segment_and_split(tcp_echo):
    c = _plain(tcp_echo)
    try:
        c.line()
        c.sock.sendall(b"PING\nIS_TLS\nPI")
        assert c.line() == b"PONG\n"
        assert c.line() == b"false\n"
        c.sock.sendall(b"NG\n")
        assert c.line() == b"PONG\n"
    finally:
        c.close()


def test_many_connections_served_concurrently(tcp_echo):
    conns = [_plain(tcp_echo) for _ in range(20)]
    try:
        for c in conns:
            assert c.line() == WELCOME
        for c in reversed(conns):
            assert c.cmd("PING") == b"PONG\n"
    finally:
        for c in conns:
            c.close()


def test_tlsport_omitted_when_unset(echo):
    srv = echo("tcp", tls=False, env={"TLS_PORT": ""})
    c = _plain(srv)
    try:
        c.line()
        j = json.loads(c.cmd("TEST"))
    finally:
        c.close()
    assert "tlsport" not in j, j


@pytest.mark.parametrize("maxv,name", [(ssl.TLSVersion.TLSv1_3, "TLS 1.3"),
                                       (ssl.TLSVersion.TLSv1_2, "TLS 1.2")])
def test_tls_port(tcp_echo, tls_files, maxv, name):
    c = _tls(tcp_echo, tls_files, max_version=maxv)
    try:
        assert c.line() == WELCOME
        assert c.cmd("PING") == b"PONG\n"
        assert c.cmd("IS_TLS") == b"true\n"
        j = json.loads(c.cmd("TEST"))
        version = c.sock.version()
    finally:
        c.close()
    assert version == {"TLS 1.3": "TLSv1.3", "TLS 1.2": "TLSv1.2"}[name]
    assert j["isTLS"] is True
    t = j["tls"]
    assert t["version"] == name, "TCP mode spells versions 'TLS 1.x'"
    assert t["serverName"] == "abc.example.com"
    assert t["cipherSuite"], t
    assert "negotiatedProtocol" not in t or t["negotiatedProtocol"] == "", t
    assert j["pod"] == "tcp-backend-5f6d7c8b9-abcde"


@pytest.mark.parametrize("sni", ["abc.example.com", "other.example.com"])
def test_tls_server_name_is_sni(tcp_echo, tls_files, sni):
    c = _tls(tcp_echo, tls_files, sni=sni)
    try:
        c.line()
        j = json.loads(c.cmd("TEST"))
    finally:
        c.close()
    assert j["tls"]["serverName"] == sni


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls_port_minimum_is_tls12(tcp_echo, tls_files):
    ctx = tls_client(ca=tls_files.ca, max_version=ssl.TLSVersion.TLSv1_1,
                     min_version=ssl.TLSVersion.TLSv1)
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except ssl.SSLError:
        pytest.skip("client OpenSSL cannot offer TLS 1.1")
    raw = socket.create_connection((tcp_echo.addr, tcp_echo.tls_port), timeout=10)
    try:
        with pytest.raises((ssl.SSLError, ConnectionResetError, EOFError)):
            ctx.wrap_socket(raw, server_hostname="abc.example.com")
    finally:
        raw.close()


def test_tcp_mode_identity_unset(echo):
    srv = echo("tcp", identity=False)
    c = _plain(srv)
    try:
        c.line()
        j = json.loads(c.cmd("TEST"))
    finally:
        c.close()
    for k in ("namespace", "ingress", "service", "pod"):
        assert j[k] == "", (k, j)


# -------------------------------------------------------------------- UDP

@pytest.fixture
def udp_echo(echo):
    return echo("udp", env={"SERVICE_NAME": "udp-echo-one", "POD_NAME": "udp-echo-one-6c9-x1y2z"})


def _udp(srv, payload, timeout=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(payload, (srv.addr, srv.udp_port))
        data, peer = s.recvfrom(65536)
        return data, peer
    finally:
        s.close()


def test_udp_reply_fields(udp_echo):
    data, peer = _udp(udp_echo, b"gateway-api-conformance-udp-echo")
    assert peer == (udp_echo.addr, udp_echo.udp_port)
    j = json.loads(data)
    assert j["request"] == "gateway-api-conformance-udp-echo"
    assert j["service"] == "udp-echo-one"
    assert j["pod"] == "udp-echo-one-6c9-x1y2z"
    assert j["namespace"] == udp_echo.env["NAMESPACE"]
    assert j["ingress"] == udp_echo.env["INGRESS_NAME"]


@pytest.mark.parametrize("payload", [b"x", b'quote " and \\ backslash', b"line\nbreak\ttab",
                                     b"a" * 1024])
def test_udp_payload_echoed_as_string(udp_echo, payload):
    data, _ = _udp(udp_echo, payload)
    assert json.loads(data)["request"] == payload.decode()


def test_udp_reads_at_most_1024_bytes(udp_echo):
    data, _ = _udp(udp_echo, b"b" * 1500)
    assert json.loads(data)["request"] == "b" * 1024


def test_udp_many_senders(udp_echo):
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(10)]
    try:
        for i, s in enumerate(socks):
            s.settimeout(3)
            s.sendto(f"sender-{i}".encode(), (udp_echo.addr, udp_echo.udp_port))
        for i, s in enumerate(socks):
            assert json.loads(s.recvfrom(65536)[0])["request"] == f"sender-{i}"
    finally:
        for s in socks:
            s.close()


def test_udp_many_datagrams_one_sender(udp_echo):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    try:
        got = []
        for i in range(100):
            s.sendto(f"d{i}".encode(), (udp_echo.addr, udp_echo.udp_port))
            got.append(json.loads(s.recvfrom(65536)[0])["request"])
        assert got == [f"d{i}" for i in range(100)]
    finally:
        s.close()
