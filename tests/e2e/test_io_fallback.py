# SPDX-License-Identifier: Apache-2.0
"""The data plane's socket I/O backend (`gatehouse run --io`).

* Where the kernel refuses io_uring (here: a seccomp filter installed by
  tests/tools/no-io-uring, so nothing machine-wide changes), `run` warns,
  falls back to epoll, serves and exits cleanly.
* `--io epoll` serves; `--io bogus` (or GATEHOUSE_IO=bogus) is a usage error.
* io_uring with its provided-buffer pool exhausted by slow readers
  (GATEHOUSE_URING_BUFS makes the pool small): other connections are still
  served, at their own pace, and the slow downloads complete intact.
"""
import os
import socket
import stat
import subprocess
import threading
import time

import pytest

from gateway import (GatewayProcess, backend, base_env, gatehouse_run, httproute,  # noqa: F401
                     pattern, prefix, stack)

FALLBACK_WARNING = "io_uring unavailable"


def _route(name, to):
    return httproute(name, rules=[{"matches": [prefix("/")], "backendRefs": [backend(to)]}])


def _no_io_uring(binary):
    """<build>/tests/tools/no-io-uring next to <build>/src/cmd/gatehouse."""
    build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(binary))))
    path = os.path.join(build, "tests", "tools", "no-io-uring")
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not built")
    return path


def _start(stack, binary, workers=2, args=(), env=None):
    """Like Stack.start, with another argv[0] and environment."""
    stack.gw = GatewayProcess(binary, stack.cfgdir, stack.workdir, workers=workers, args=args,
                              env=env)
    stack.gw.wait_ready()
    stack.wait_listening()
    return stack.gw


def _serves(stack):
    """A few requests: new connections, keep-alive, a body each way."""
    for i in range(3):
        r = stack.request(f"/one/{i}")
        assert r.status == 200 and r.json()["path"] == f"/one/{i}"
    with stack.conn() as c:
        for i in range(5):
            r = c.request("GET", f"/keep/{i}", host="gw.test")
            assert r.status == 200 and r.json()["path"] == f"/keep/{i}"
        body = pattern(200_000)
        r = c.request("POST", "/upload", host="gw.test", body=body)
        assert r.status == 200, r


def test_fallback_when_io_uring_refused(stack, tmp_path):
    wrap = _no_io_uring(stack.binary)
    # The wrapper must refuse io_uring for real, or this test proves nothing.
    probe = subprocess.run([wrap, "/usr/bin/python3", "-c",
                            "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True);"
                            "r = libc.syscall(425, 8, 0);"  # io_uring_setup(8, NULL)
                            "print(r, ctypes.get_errno())"],
                           capture_output=True, text=True, timeout=20)
    assert probe.returncode == 0 and probe.stdout.split() == ["-1", "38"], probe
    script = tmp_path / "gatehouse-no-io-uring"
    script.write_text(f"#!/bin/sh\nexec '{wrap}' '{stack.binary}' \"$@\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    stack.backend("svc")
    stack.write("base.yaml", stack.base_objects())
    stack.write("routes.yaml", [_route("r", "svc")])
    stack.check_config()
    gw = _start(stack, str(script), args=["--io", "uring"])
    err = gw.stderr()
    assert FALLBACK_WARNING in err and "the data plane uses epoll" in err, err[-2000:]
    assert "data plane I/O: io_uring" not in err
    _serves(stack)
    rc, took = gw.stop()
    assert rc == 0 and took < 10, (rc, took, gw.stderr()[-2000:])


def test_io_epoll_serves(stack):
    stack.backend("svc")
    stack.up([_route("r", "svc")], args=["--io", "epoll"])
    err = stack.gw.stderr()
    assert FALLBACK_WARNING not in err and "data plane I/O: io_uring" not in err, err[-2000:]
    _serves(stack)


def test_io_uring_serves(stack):
    stack.backend("svc")
    stack.up([_route("r", "svc")], args=["--io", "uring"])
    err = stack.gw.stderr()
    if FALLBACK_WARNING in err:
        pytest.skip("this kernel refuses io_uring")
    assert "data plane I/O: io_uring" in err, err[-2000:]
    _serves(stack)


@pytest.mark.parametrize("how", ["option", "env"])
def test_io_bogus_is_a_usage_error(gatehouse_run, tmp_path, how):
    argv = [gatehouse_run, "run", "-f", str(tmp_path), "--admin", "127.0.0.1:0"]
    env = base_env()
    if how == "option":
        argv += ["--io", "bogus"]
    else:
        env["GATEHOUSE_IO"] = "bogus"
    p = subprocess.run(argv, capture_output=True, text=True, timeout=20, env=env)
    assert p.returncode == 2, p
    assert "--io must be uring or epoll, not 'bogus'" in p.stderr, p.stderr


@pytest.mark.parametrize("value", ["7", "0", "many", "1048576"])
def test_uring_bufs_bad_value_is_a_usage_error(gatehouse_run, tmp_path, value):
    p = subprocess.run([gatehouse_run, "run", "-f", str(tmp_path), "--admin", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=20,
                       env=base_env(GATEHOUSE_URING_BUFS=value))
    assert p.returncode == 2, p
    assert "GATEHOUSE_URING_BUFS" in p.stderr, p.stderr


def _read_response(s, timeout):
    """(status line, body) of one Content-Length response from s."""
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        assert d, f"closed before the head: {buf[:200]!r}"
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    n = next(int(ln.split(b":", 1)[1]) for ln in lines[1:]
             if ln.lower().startswith(b"content-length:"))
    while len(body) < n:
        d = s.recv(1 << 20)
        assert d, f"closed after {len(body)} of {n} body bytes"
        body += d
    return lines[0], body


def test_uring_pool_exhausted_by_slow_readers(stack):
    """Slow readers of large responses each leave HELD_MAX of provided
    buffers unread on their upstream socket. With a 32-buffer pool, eight
    of them take every buffer: a new request must still be answered (the
    starved sockets read by readiness into their own memory), and the slow
    downloads, once read, are complete and intact."""
    big = stack.recorder("big")
    stack.backend("svc")
    stack.write("base.yaml", stack.base_objects())
    stack.write("routes.yaml", [
        httproute("r-big", rules=[{"matches": [prefix("/big")],
                                   "backendRefs": [backend("big")]}]),
        _route("r", "svc")])
    stack.check_config()
    gw = _start(stack, stack.binary, workers=1, args=["--io", "uring"],
                env=base_env(GATEHOUSE_URING_BUFS=32))
    if FALLBACK_WARNING in gw.stderr():
        pytest.skip("this kernel refuses io_uring")
    n = 8 << 20
    slow = []
    try:
        for _ in range(8):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect((stack.addr, stack.port))
            s.sendall(f"GET /big?n={n} HTTP/1.1\r\nHost: gw.test\r\n\r\n".encode())
            slow.append(s)
        time.sleep(1.5)  # the proxy fills what it can, then holds the rest
        t0 = time.monotonic()
        for i in range(5):
            r = stack.request(f"/fresh/{i}", timeout=10)
            assert r.status == 200 and r.json()["path"] == f"/fresh/{i}"
        with stack.conn(timeout=10) as c:
            body = pattern(300_000)
            r = c.request("POST", "/up", host="gw.test", body=body)
            assert r.status == 200
        took = time.monotonic() - t0
        # Stalled, they would wait until the proxy's 10 s send timeout
        # drops the slow readers (and the assertions below fail).
        assert took < 5, f"served only after {took:.1f} s"
        results = [None] * len(slow)

        def drain(i):
            try:
                results[i] = _read_response(slow[i], 30)
            except Exception as exc:  # noqa: BLE001
                results[i] = exc

        threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(slow))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
        want = pattern(n)
        for res in results:
            assert isinstance(res, tuple), res
            assert res[0].startswith(b"HTTP/1.1 200") and res[1] == want, res[0]
    finally:
        for s in slow:
            s.close()
    assert big  # the recorder is stopped at teardown
