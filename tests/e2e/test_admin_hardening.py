# SPDX-License-Identifier: Apache-2.0
"""Hardening of the accept paths and the admin server (docs/hardening.md):
slow-drip connections cannot lock probes out of /healthz, and running out of
file descriptors makes accept back off (low CPU, rate-limited log lines)
instead of spinning; gatehouse serves again once descriptors free up."""
import socket
import threading
import time

from gateway import (GatewayProcess, backend, gatehouse_run, httproute,  # noqa: F401
                     prefix, stack)


def probe(port, timeout=1.0):
    """Seconds /healthz took to answer 200 on a fresh connection, or None."""
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(max(0.05, timeout - (time.monotonic() - t0)))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    if not data.startswith(b"HTTP/1.1 200"):
        return None
    return time.monotonic() - t0


def dripper(port, src, stop, opened):
    """One slow-drip client: a request head one byte per second, reconnecting
    whenever the server closes it."""
    head = b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"x" * 200
    s, i = None, 0
    while not stop.is_set():
        try:
            if s is None:
                s = socket.socket()
                s.settimeout(1.0)
                s.bind((src, 0))
                s.connect(("127.0.0.1", port))
                opened[0] += 1
                i = 0
            s.send(head[i % len(head):i % len(head) + 1])
            i += 1
        except OSError:
            if s:
                s.close()
            s = None
        stop.wait(1.0)
    if s:
        s.close()


def test_admin_survives_slow_drip(stack):
    stack.write("base.yaml", stack.base_objects())
    stack.start(workers=1)
    port = stack.gw.admin_port
    stop = threading.Event()
    opened = [0]
    # 64 from the probe's own address, 32 more from 8 others: both caps hit
    srcs = ["127.0.0.1"] * 64 + [f"127.0.0.{2 + i % 8}" for i in range(32)]
    threads = [threading.Thread(target=dripper, args=(port, s, stop, opened), daemon=True)
               for s in srcs]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        lat, fails = [], 0
        end = time.monotonic() + 8.0  # past the 5 s request deadline
        while time.monotonic() < end:
            d = probe(port)
            if d is None:
                fails += 1
            else:
                lat.append(d)
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(5)
    assert fails == 0 and max(lat) < 1.0, \
        f"/healthz during the drip: {fails} failures, max {max(lat or [0]):.3f} s"
    assert probe(port) is not None


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = 100.0
    return (int(fields[11]) + int(fields[12])) / tick


def route():
    return httproute("r", hostnames=["gw.test"], parents=[{"name": "gw"}],
                     rules=[{"matches": [prefix("/")], "backendRefs": [backend("svc")]}])


def test_accept_backs_off_when_out_of_fds(stack):
    stack.backend("svc")
    stack.pick_gateway_address()
    stack.write("base.yaml", stack.base_objects())
    stack.write("routes.yaml", [route()])
    stack.gw = GatewayProcess(stack.binary, stack.cfgdir, stack.workdir, workers=1, argv=[
        "prlimit", "--nofile=64:64", "--", stack.binary, "run", "-f", stack.cfgdir])
    stack.gw.wait_ready()
    stack.wait_listening()
    pid = stack.gw.proc.pid
    before_lines = stack.gw.stderr().count("accept")
    clients = []
    try:
        # the admin server holds up to 64 connections (8 per address)...
        for i in range(64):
            try:
                s = socket.socket()
                s.bind((f"127.0.0.{2 + i % 8}", 0))
                s.connect(("127.0.0.1", stack.gw.admin_port))
                clients.append(s)
            except OSError:
                break
        # ...and the proxy port gets more than the descriptors left
        for _ in range(40):
            try:
                clients.append(socket.create_connection((stack.addr, stack.port), timeout=2))
            except OSError:
                break
        time.sleep(0.5)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(3.0)
        cpu = cpu_seconds(pid) - cpu0
        wall = time.monotonic() - t0
        lines = stack.gw.stderr().count("accept") - before_lines
    finally:
        for s in clients:
            s.close()
    print(f"out of fds: {cpu:.2f} CPU-s in {wall:.1f} s, {lines} accept log lines")
    assert cpu < 0.5 * wall, f"accept spins: {cpu:.2f} CPU-s in {wall:.1f} s"
    assert lines <= 20, f"{lines} accept log lines in {wall:.1f} s"
    # recovers: the admin and the proxy answer again
    deadline = time.monotonic() + 10
    while probe(stack.gw.admin_port) is None:
        assert time.monotonic() < deadline, "/healthz never answered again"
        time.sleep(0.1)
    stack.wait_status("/", 200, timeout=10)
