# SPDX-License-Identifier: Apache-2.0
"""The runner is as strict as upstream's Go suite: deliberately broken data
planes (fake servers on loopback that answer wrongly) that a lenient client
would let pass must fail. Each test also shows the check still passes when
the server behaves (so the strictness is not a blanket failure)."""
import json
import socket
import threading

from gwconf import tjudge as T
from gwconf import traffic as TR

NS = "gateway-conformance-infra"


class FakeServer:
    """Accepts on 127.0.0.1:<ephemeral>; connection i (0-based) is handed to
    handlers[min(i, len-1)](sock). Stops with close()."""

    def __init__(self, handlers, family=socket.AF_INET, addr="127.0.0.1"):
        self.handlers = list(handlers)
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, 0))
        self.sock.listen(16)
        self.addr, self.port = addr, self.sock.getsockname()[1]
        self.conns = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            h = self.handlers[min(self.conns, len(self.handlers) - 1)]
            self.conns += 1
            threading.Thread(target=self._serve, args=(h, c), daemon=True).start()

    @staticmethod
    def _serve(h, c):
        try:
            c.settimeout(5)
            h(c)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def close(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def tctx_for(srv, scale=0.2):
    return TR.TrafficCtx(lambda gw, port: (srv.addr, srv.port), lambda r: None,
                         lambda ns, svc: [], "/tmp", phase_target={"gateway": "x/y", "port": 1},
                         scale=scale)


# ---------------------------------------------------------------- TCP / TLS streams

def tcp_echo(pod, ns=NS, is_tls=False):
    def handler(c):
        f = c.makefile("rwb", buffering=0)
        f.write(b"Gateway API Test TCP Server\n")
        for line in f:
            cmd = line.strip()
            if cmd == b"PING":
                f.write(b"PONG\n")
            elif cmd == b"IS_TLS":
                f.write(b"true\n" if is_tls else b"false\n")
            elif cmd == b"TEST":
                f.write(json.dumps({"namespace": ns, "pod": pod, "isTLS": is_tls}).encode() +
                        b"\n")
    return handler


def slam(c):
    """A connection closed before any answer (a listener not programmed yet)."""
    c.close()


STREAM = {"tls": False, "expect": {"backend": f"{NS}/tcp-echo-one", "backend_is_tls": False}}


def test_tcp_stream_fails_on_first_wrong_answer():
    # The first connection reaches the wrong backend, the next ones the right
    # one: the old "any success within 30 s" rule passed this; upstream fails.
    srv = FakeServer([tcp_echo("tcp-echo-two-abcde12345-xyz12"),
                      tcp_echo("tcp-echo-one-abcde12345-xyz12")])
    try:
        v = TR.run_check("tcp_stream", STREAM, tctx_for(srv))
    finally:
        srv.close()
    assert not v.ok and "answered wrongly" in v.msg and "tcp-echo-one" in v.msg, v.msg
    assert srv.conns == 1


def test_tcp_stream_retries_transport_failures():
    srv = FakeServer([slam, slam, tcp_echo("tcp-echo-one-abcde12345-xyz12")])
    try:
        v = TR.run_check("tcp_stream", STREAM, tctx_for(srv, scale=0.5))
    finally:
        srv.close()
    assert v.ok, v.msg
    assert srv.conns == 3


def test_tcp_stream_wrong_is_tls_and_welcome_fail_at_once():
    srv = FakeServer([tcp_echo("tcp-echo-one-abcde12345-xyz12", is_tls=True),
                      tcp_echo("tcp-echo-one-abcde12345-xyz12")])
    try:
        v = TR.run_check("tcp_stream", STREAM, tctx_for(srv))
    finally:
        srv.close()
    assert not v.ok and "IS_TLS" in v.msg, v.msg

    def other_server(c):
        c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
    srv = FakeServer([other_server, tcp_echo("tcp-echo-one-abcde12345-xyz12")])
    try:
        v = TR.run_check("tcp_stream", STREAM, tctx_for(srv))
    finally:
        srv.close()
    assert not v.ok and "welcome" in v.msg, v.msg


def test_tls_stream_fails_on_first_wrong_sni(tmp_path):
    # TLS passthrough that hands the first connection to a backend with the
    # wrong SNI seen (e.g. a stale route): the old rule retried into a pass.
    import ssl
    import subprocess
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=abc.example.com", "-addext",
                    "subjectAltName=DNS:abc.example.com", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(str(crt), str(key))

    def tls_echo(sni_seen):
        def handler(c):
            with sctx.wrap_socket(c, server_side=True) as t:
                f = t.makefile("rwb", buffering=0)
                f.write(b"Gateway API Test TCP Server\n")
                for line in f:
                    cmd = line.strip()
                    if cmd == b"PING":
                        f.write(b"PONG\n")
                    elif cmd == b"IS_TLS":
                        f.write(b"true\n")
                    elif cmd == b"TEST":
                        f.write(json.dumps({"namespace": NS, "pod": "tcp-backend-a-b",
                                            "isTLS": True,
                                            "tls": {"serverName": sni_seen}}).encode() + b"\n")
        return handler

    ca = {"kind": "ConfigMap", "data": {"ca.crt": crt.read_text()}}
    args = {"sni": "abc.example.com", "trust": f"ConfigMap/{NS}/ca",
            "expect": {"backend": f"{NS}/tcp-backend", "backend_is_tls": True,
                       "sni_seen": "abc.example.com"}}
    for handlers, ok in (([tls_echo("other.example.com"), tls_echo("abc.example.com")], False),
                         ([slam, tls_echo("abc.example.com")], True)):
        srv = FakeServer(handlers)
        tctx = TR.TrafficCtx(lambda gw, port: (srv.addr, srv.port), lambda r: ca,
                             lambda ns, svc: [], str(tmp_path),
                             phase_target={"gateway": "x/y", "port": 1}, scale=0.3)
        try:
            v = TR.run_check("tls_stream", args, tctx)
        finally:
            srv.close()
        assert v.ok == ok, v.msg
        if not ok:
            assert "answered wrongly" in v.msg and "SNI" in v.msg, v.msg


def test_tcp_stream_judge_messages():
    v = T.judge_tcp_exchange(STREAM["expect"], T.TCP_WELCOME, "PONG", "false",
                             json.dumps({"namespace": NS, "pod": "tcp-echo-one-a-b"}))
    assert v.ok, v.msg


# ---------------------------------------------------------------- HTTP/1.1 client

def http_echo(head_extra=b"", status=b"200 OK", cl_extra=b"", pod="infra-backend-v1-abcde-xyz12",
              raw_body=None):
    """An echo-like HTTP/1.1 server; head_extra is spliced into the response head."""
    def handler(c):
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return
            buf += d
        req = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target, _ = req[0].split(" ", 2)
        hdrs = {}
        host = ""
        for ln in req[1:]:
            k, _, v = ln.partition(":")
            if k.lower() == "host":
                host = v.strip()
            else:
                hdrs.setdefault(k.strip().title(), []).append(v.strip())
        body = raw_body if raw_body is not None else json.dumps(
            {"path": target, "host": host, "method": method, "proto": "HTTP/1.1",
             "headers": hdrs, "namespace": NS, "pod": pod}).encode()
        c.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n" +
                  head_extra + b"Content-Length: " + str(len(body)).encode() + b"\r\n" +
                  cl_extra + b"\r\n" + body)
    return handler


# Timeout scale for fakes that must fail: 30 s x 0.03, one attempt or two.
FAST = 0.03
HTTP = {"request": {"path": "/", "host": "example.com"},
        "expect": {"status": 200, "backend": f"{NS}/infra-backend-v1"}}


def run_http_against(handler, scale=0.1):
    """The http check against a fake; a failing fake is retried for 30 s x scale."""
    srv = FakeServer([handler])
    try:
        return TR.run_check("http", HTTP, tctx_for(srv, scale=scale))
    finally:
        srv.close()


def test_http_well_formed_response_passes():
    v = run_http_against(http_echo())
    assert v.ok, v.msg
    # obs-fold is accepted (joined), as by Go
    v = run_http_against(http_echo(b"X-Folded: a\r\n  b\r\n"))
    assert v.ok, v.msg


def test_http_header_line_without_colon_fails():
    v = run_http_against(http_echo(b"X-Broken-Header-Line\r\n"), FAST)
    assert not v.ok and "malformed MIME header line" in v.msg, v.msg


def test_http_conflicting_content_length_fails():
    v = run_http_against(http_echo(cl_extra=b"Content-Length: 3\r\n"), FAST)
    assert not v.ok and "multiple Content-Length" in v.msg, v.msg


def test_http_other_go_refusals_fail():
    for extra, words in ((b"X Bad\x01: v\r\n", "malformed MIME header line"),
                         (b"X-Ctl: a\x00b\r\n", "control character"),
                         (b"Transfer-Encoding: gzip\r\n", "unsupported transfer encoding")):
        v = run_http_against(http_echo(extra), FAST)
        assert not v.ok and words in v.msg, (extra, v.msg)
    v = run_http_against(http_echo(status=b"20 OK"), FAST)
    assert not v.ok and "status code" in v.msg, v.msg


def test_parse_response_head_unit():
    proto, st, h = TR.parse_response_head(b"HTTP/1.1 204 No Content\r\nA: 1\r\n\tfold\r\nB :x\r\n")
    assert (proto, st) == ("HTTP/1.1", 204)
    assert h == [("A", "1 fold"), ("B ", "x")]   # Go keeps "B " (space before colon)
    for bad in (b"HTTP/1.1 200 OK\r\n folded-first\r\n", b"HTTP/1.1\r\n", b"HTTP/1.1 2000 OK\r\n",
                b"HTTX/1.1 200 OK\r\n", b"HTTP/1.1 200 OK\r\n: empty-name\r\n"):
        try:
            TR.parse_response_head(bad)
        except TR.MalformedResponse:
            continue
        raise AssertionError(f"accepted {bad!r}")
    seen = T.Seen(200, [("Content-Length", "5"), ("Content-Length", " 5")])
    assert TR.response_framing(seen, "GET") == 5
    for hdrs in ([("Content-Length", "+5")], [("Content-Length", "5, 5")],
                 [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")]):
        try:
            TR.response_framing(T.Seen(200, hdrs), "GET")
        except TR.MalformedResponse:
            continue
        raise AssertionError(f"accepted {hdrs!r}")


# ---------------------------------------------------------------- WebSocket handshake

def test_websocket_handshake_as_strict_as_go():
    import base64
    import hashlib
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    acc = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                        .encode()).digest())
    good = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + acc + b"\r\n")
    assert TR.judge_ws_handshake(good, key).ok
    for bad, words in (
            # the accept value somewhere in the head but not as Sec-WebSocket-Accept:
            # the old substring test passed this one
            (good.replace(b"Sec-WebSocket-Accept", b"X-Accept"), "Sec-WebSocket-Accept"),
            (good.replace(b"101 Switching", b"1010 Switching"), "status code"),
            (good.replace(b"Upgrade: websocket", b"Upgrade: h2c"), "Upgrade"),
            (good + b"Broken header line\r\n", "malformed MIME header line"),
            (good + b"Sec-WebSocket-Extensions: permessage-deflate\r\n", "extensions")):
        v = TR.judge_ws_handshake(bad, key)
        assert not v.ok and words in v.msg, (bad, v.msg)


def ws_fake(accept_header=b"Sec-WebSocket-Accept"):
    """A WebSocket echo whose 101 carries the accept value under accept_header."""
    import base64
    import hashlib

    def handler(c):
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        key = [ln.split(b":", 1)[1].strip() for ln in head.split(b"\r\n")
               if ln.lower().startswith(b"sec-websocket-key:")][0]
        acc = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                               .digest())
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\n" + accept_header + b": " + acc + b"\r\n\r\n")
        try:
            while True:
                op, payload, buf = TR._ws_read(c, buf)
                c.sendall(TR._ws_frame(op, payload))
        except EOFError:
            pass
    return handler


def test_websocket_check_fails_a_wrong_accept_header():
    args = {"url_path": "/ws", "origin": "http://example.com",
            "exchange": [{"send_text": "hello", "expect_text": "hello"},
                         {"send_binary": [1, 2, 3], "expect_binary": [1, 2, 3]}]}
    for accept_header, ok in ((b"Sec-WebSocket-Accept", True), (b"X-Accept", False)):
        srv = FakeServer([ws_fake(accept_header)])
        try:
            v = TR.run_check("websocket", args, tctx_for(srv, scale=0.1 if ok else FAST))
        finally:
            srv.close()
        assert v.ok == ok, v.msg
        if not ok:
            assert "Sec-WebSocket-Accept" in v.msg, v.msg
