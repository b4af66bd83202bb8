# SPDX-License-Identifier: Apache-2.0
"""`gatehouse echo`, HTTP mode: WebSocket echo on /ws (ECHO.md 2.1), on the
cleartext HTTP port and on the HTTPS port."""
import asyncio
import socket

import pytest
import websockets

from echoclient import tls_client

MESSAGES = [
    "hello",
    "",
    "unicode: h\u00e9llo \u2603 \U0001F600",
    b"\x00\x01\x02\xff binary",
    b"",
    "x" * 125,
    "y" * 126,
    "z" * 70000,
    bytes(range(256)) * 1024,
]


def _same(sent, got):
    """Upstream may answer binary input with a text frame: compare payloads."""
    if isinstance(sent, str):
        return got == sent or got == sent.encode()
    return got == sent or (isinstance(got, str) and got.encode() == sent)


async def _exchange(uri, messages, **kw):
    async with websockets.connect(uri, open_timeout=10, close_timeout=5,
                                  max_size=None, **kw) as ws:
        out = []
        for m in messages:
            await asyncio.wait_for(ws.send(m), 10)
            out.append(await asyncio.wait_for(ws.recv(), 10))
        await ws.close()
        return out, ws.close_code


def _run(coro):
    return asyncio.run(asyncio.wait_for(coro, 40))


def test_ws_echo_text_and_binary(http_echo):
    uri = f"ws://{http_echo.addr}:{http_echo.http_port}/ws"
    got, code = _run(_exchange(uri, MESSAGES))
    for sent, back in zip(MESSAGES, got):
        assert _same(sent, back), f"sent {sent!r:.60}, got {back!r:.60}"
    assert code == 1000


@pytest.mark.parametrize("kind", ["text", "binary"])
def test_ws_echo_single_message(http_echo, kind):
    msg = "conformance-ws-text" if kind == "text" else b"conformance-ws-binary\x00"
    uri = f"ws://{http_echo.addr}:{http_echo.http_port}/ws"
    got, _ = _run(_exchange(uri, [msg], origin="http://example.com"))
    assert _same(msg, got[0])


def test_ws_many_messages_and_several_connections(http_echo):
    uri = f"ws://{http_echo.addr}:{http_echo.http_port}/ws"

    async def many():
        msgs = [f"m{i}" for i in range(200)]
        return await asyncio.gather(*(_exchange(uri, msgs) for _ in range(5)))

    for got, code in _run(many()):
        assert got == [f"m{i}" for i in range(200)]


def test_wss_echo_on_https_port(http_echo, tls_files):
    ctx = tls_client(ca=tls_files.ca)
    uri = f"wss://{http_echo.addr}:{http_echo.https_port}/ws"
    msgs = ["secure text", b"secure \x00 binary"]
    got, _ = _run(_exchange(uri, msgs, ssl=ctx, server_hostname=tls_files.server_name))
    for sent, back in zip(msgs, got):
        assert _same(sent, back)


def test_ws_fragmented_message_is_echoed_whole(http_echo):
    uri = f"ws://{http_echo.addr}:{http_echo.http_port}/ws"

    async def frag():
        async with websockets.connect(uri, open_timeout=10, close_timeout=5) as ws:
            await ws.send(iter(["frag", "men", "ted"]))
            return await asyncio.wait_for(ws.recv(), 10)

    assert _same("fragmented", _run(frag()))


def test_ws_ping_is_answered(http_echo):
    uri = f"ws://{http_echo.addr}:{http_echo.http_port}/ws"

    async def ping():
        async with websockets.connect(uri, open_timeout=10, close_timeout=5) as ws:
            waiter = await ws.ping(b"p1")
            await asyncio.wait_for(waiter, 10)
            await ws.send("after-ping")
            return await asyncio.wait_for(ws.recv(), 10)

    assert _same("after-ping", _run(ping()))


def test_ws_handshake_headers(http_echo):
    """RFC 6455 handshake checked on the wire (Sec-WebSocket-Accept)."""
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    s = socket.create_connection((http_echo.addr, http_echo.http_port), timeout=10)
    try:
        s.sendall((f"GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            assert d, f"closed during handshake: {buf!r}"
            buf += d
    finally:
        s.close()
    head = buf.split(b"\r\n\r\n")[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 101"), head
    hdrs = {k.strip().lower(): v.strip() for k, _, v in
            (ln.partition(":") for ln in head.split("\r\n")[1:])}
    assert hdrs.get("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", head
    assert hdrs.get("upgrade", "").lower() == "websocket"


def test_ws_server_survives_abrupt_client_close(http_echo):
    uri = f"ws://{http_echo.addr}:{http_echo.http_port}/ws"

    async def abrupt():
        ws = await websockets.connect(uri, open_timeout=10)
        await ws.send("bye")
        ws.transport.abort()

    _run(abrupt())
    got, _ = _run(_exchange(uri, ["still here"]))
    assert got == ["still here"]
