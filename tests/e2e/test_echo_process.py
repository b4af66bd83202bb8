# SPDX-License-Identifier: Apache-2.0
"""`gatehouse echo` as a process: default ports, --address, SIGTERM ends it
with status 0 promptly in every mode (also with clients connected), and a
small load sanity check (not a benchmark)."""
import socket
import threading
import time

import pytest

from echoclient import H1, H2Client, get


@pytest.mark.parametrize("mode", ["http", "grpc", "tcp", "udp"])
def test_sigterm_exits_zero_promptly(echo, mode):
    srv = echo(mode)
    rc, took = srv.stop()
    assert rc == 0, f"exit status {rc!r}; stderr: {srv.stderr()[-2000:]}"
    assert took < 3.0, f"took {took:.2f} s to exit after SIGTERM"
    srv.check_clean()


def test_sigterm_with_open_connections(echo, tls_files):
    from echoclient import tls_client
    srv = echo("http", tls=True)
    idle = H1(srv.addr, srv.http_port)
    assert idle.request("GET", "/warm").status == 200
    h2 = H2Client.connect(srv.addr, srv.h2c_port)
    assert h2.request(path="/warm").status == 200
    half = socket.create_connection((srv.addr, srv.http_port), timeout=5)
    half.sendall(b"GET /never-finished HTTP/1.1\r\nHost: x\r\n")
    tls = H1(srv.addr, srv.https_port, tls=tls_client(ca=tls_files.ca),
             sni=tls_files.server_name)
    assert tls.request("GET", "/warm").status == 200
    slow = threading.Thread(target=lambda: _swallow(get, srv.addr, srv.http_port,
                                                    "/s?delay=30s"))
    slow.start()
    time.sleep(0.3)
    try:
        rc, took = srv.stop()
        assert rc == 0, f"exit status {rc!r}; stderr: {srv.stderr()[-2000:]}"
        assert took < 3.0, f"took {took:.2f} s to exit with clients connected"
        srv.check_clean()
    finally:
        for c in (idle, h2, tls):
            c.close()
        half.close()
        slow.join(15)


def _swallow(fn, *a):
    try:
        fn(*a)
    except Exception:  # noqa: BLE001 - the server goes away on purpose
        pass


def test_default_ports(echo, tls_files):
    srv = echo("http", tls=True, ports="default")
    j = get(srv.addr, 3000, "/d").json()
    assert j["httpPort"] == "3000"
    c = H2Client.connect(srv.addr, 3001)
    try:
        assert c.request(path="/d").json()["proto"] == "HTTP/2.0"
    finally:
        c.close()
    from echoclient import tls_client
    r = get(srv.addr, 8443, "/d", tls=tls_client(ca=tls_files.ca), sni=tls_files.server_name)
    assert r.json()["tls"]["serverName"] == tls_files.server_name


@pytest.mark.parametrize("mode,port", [("grpc", 3000), ("tcp", 3000)])
def test_default_ports_other_modes(echo, mode, port):
    srv = echo(mode, ports="default")
    socket.create_connection((srv.addr, port), timeout=5).close()


def test_default_udp_port(echo):
    srv = echo("udp", ports="default")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    try:
        s.sendto(b"dflt", (srv.addr, 8080))
        assert b"dflt" in s.recvfrom(4096)[0]
    finally:
        s.close()


def test_listens_only_on_the_given_address(echo):
    srv = echo("http")
    a, b, c, d = (int(x) for x in srv.addr.split("."))
    other = f"{a}.{b}.{c}.{d + 1 if d < 254 else d - 1}"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((other, srv.http_port), timeout=3).close()


def test_http_port_env_is_honoured_and_reported(echo):
    srv = echo("http")
    j = get(srv.addr, srv.http_port, "/").json()
    assert j["httpPort"] == srv.env["HTTP_PORT"]
    c = H2Client.connect(srv.addr, srv.h2c_port)
    try:
        assert c.request(path="/").json()["httpPort"] == srv.env["HTTP_PORT"]
    finally:
        c.close()


@pytest.mark.deadline(90)
def test_load_2000_requests_over_20_keepalive_connections(http_echo):
    per_conn, nconn = 100, 20
    errors, done = [], [0]
    lock = threading.Lock()

    def worker(w):
        try:
            with H1(http_echo.addr, http_echo.http_port) as c:
                for i in range(per_conn):
                    path = f"/load/{w}/{i}?x={i}"
                    r = c.request("GET", path, headers=[("X-Echo-Set-Header", "")])
                    if r.status != 200 or r.json()["path"] != path:
                        raise AssertionError(f"{path}: {r}")
                    with lock:
                        done[0] += 1
        except Exception as exc:  # noqa: BLE001
            errors.append(f"worker {w}: {exc!r}")

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(nconn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, 60 - (time.monotonic() - t0)))
    took = time.monotonic() - t0
    assert not errors, errors[:5]
    assert done[0] == per_conn * nconn
    assert took < 30, f"2000 requests took {took:.1f} s"


def test_http_mode_ignores_grpc_key_spelling(echo, tls_files):
    """HTTP mode takes TLS_SERVER_PRIVKEY; TLS_SERVER_PRIV_KEY alone (the
    gRPC/TCP spelling) does not enable HTTPS."""
    srv = echo("http", env={"TLS_SERVER_CERT": tls_files.server_cert,
                            "TLS_SERVER_PRIV_KEY": tls_files.server_key})
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((srv.addr, srv.https_port), timeout=5).close()
    assert get(srv.addr, srv.http_port, "/").status == 200


def test_grpc_mode_ignores_http_key_spelling(echo, tls_files):
    """gRPC mode takes TLS_SERVER_PRIV_KEY; TLS_SERVER_PRIVKEY alone does not
    enable the TLS port."""
    srv = echo("grpc", env={"TLS_SERVER_CERT": tls_files.server_cert,
                            "TLS_SERVER_PRIVKEY": tls_files.server_key})
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((srv.addr, srv.https_port), timeout=5).close()


@pytest.mark.parametrize("var", ["GRPC_ECHO_SERVER", "TCP_ECHO_SERVER", "UDP_ECHO_SERVER"])
def test_empty_mode_variable_means_http_mode(echo, var):
    srv = echo("http", env={var: ""})
    j = get(srv.addr, srv.http_port, "/mode").json()
    assert j["proto"] == "HTTP/1.1" and j["path"] == "/mode"


def test_stalled_clients_do_not_block_others(echo, tls_files):
    """Half-open handshakes and partial requests on every port must not stop
    the server from answering other clients (event-driven, never blocks)."""
    from echoclient import tls_client
    srv = echo("http", tls=True)
    stalled = []
    try:
        for port, data in ((srv.http_port, b"GET /partial HTTP/1.1\r\nHost:"),
                           (srv.h2c_port, b"PR"),
                           (srv.https_port, b"\x16\x03\x01\x00"),
                           (srv.https_port, b"")):
            s = socket.create_connection((srv.addr, port), timeout=5)
            if data:
                s.sendall(data)
            stalled.append(s)
        t0 = time.monotonic()
        assert get(srv.addr, srv.http_port, "/ok").status == 200
        c = H2Client.connect(srv.addr, srv.h2c_port)
        try:
            assert c.request(path="/ok").status == 200
        finally:
            c.close()
        r = get(srv.addr, srv.https_port, "/ok", tls=tls_client(ca=tls_files.ca),
                sni=tls_files.server_name)
        assert r.status == 200
        assert time.monotonic() - t0 < 5
    finally:
        for s in stalled:
            s.close()


@pytest.mark.parametrize("mode", ["tcp", "grpc"])
def test_stalled_tls_handshake_does_not_block_other_modes(echo, tls_files, mode):
    srv = echo(mode, tls=True)
    port = srv.tls_port if mode == "tcp" else srv.https_port
    s = socket.create_connection((srv.addr, port), timeout=5)
    s.sendall(b"\x16\x03\x01")
    try:
        if mode == "tcp":
            c = socket.create_connection((srv.addr, srv.tcp_port), timeout=5)
            c.settimeout(5)
            try:
                buf = b""
                while b"\n" not in buf:
                    d = c.recv(100)
                    assert d, f"closed before the welcome line: {buf!r}"
                    buf += d
                assert buf == b"Gateway API Test TCP Server\n"
            finally:
                c.close()
        else:
            import grpc
            ch = grpc.insecure_channel(f"{srv.addr}:{srv.http_port}",
                                       options=[("grpc.enable_http_proxy", 0)])
            try:
                fn = ch.unary_unary("/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/Echo")
                assert fn(b"", timeout=5) is not None
            finally:
                ch.close()
    finally:
        s.close()
