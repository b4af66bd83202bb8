# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run --tunnel-idle-timeout`: an upgraded (WebSocket) tunnel with
no byte either way for that long is closed, so idle tunnels cannot hold every
connection slot; an active one stays open."""
import base64
import os
import time

from echoclient import H1
from gateway import backend, gatehouse_run, httproute, prefix, stack  # noqa: F401
from test_proxy_backends import ws_frame, ws_read


def open_ws(st):
    c = H1(st.addr, st.port, timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    c.send((f"GET /ws HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: ws://gateway/e2e\r\n\r\n").encode())
    r = c.read_response()
    assert r.status == 101, r
    return c


def echo_once(c, payload):
    c.send(ws_frame(1, payload))
    op, got = ws_read(c._exact)
    assert op == 1 and got == payload


def test_idle_tunnel_is_closed_active_one_is_not(stack):
    stack.backend("svc")
    stack.up([httproute("ws", hostnames=["ws.test"], parents=[{"name": "gw"}],
                        rules=[{"matches": [prefix("/")],
                                "backendRefs": [backend("svc", port=8082)]}])],
             app_protocols=True, args=["--tunnel-idle-timeout", "1s"])
    idle, active = open_ws(stack), open_ws(stack)
    try:
        echo_once(idle, b"hello")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.5:  # the active one talks every 0.3 s
            echo_once(active, b"ping")
            time.sleep(0.3)
        assert idle.is_closed_by_peer(2), "idle tunnel still open past the 1 s idle timeout"
        echo_once(active, b"still here")
    finally:
        idle.close()
        active.close()
