# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run` as a process: usage errors, readiness, graceful stop
(SIGTERM drains in-flight requests, exit 0), --address-pool, two Gateways
on one port at different addresses, a port that cannot be bound, the admin
API (/healthz, /readyz, /status, /config, /metrics), --access-log and
--log-format json."""
import ipaddress
import json
import signal
import socket
import subprocess
import threading
import time

import pytest

from gateway import (backend, backend_of, gateway_class, gateway_obj, gatehouse_run,  # noqa: F401
                     httproute, listener, namespace, prefix, stack)
from conftest import pick_address


def route(name, to, hosts=None, parent="gw"):
    return httproute(name, hostnames=hosts, parents=[{"name": parent}],
                     rules=[{"matches": [prefix("/")], "backendRefs": [backend(to)]}])


def test_usage_errors(gatehouse_run, tmp_path):
    p = subprocess.run([gatehouse_run, "run"], capture_output=True, text=True, timeout=20)
    assert p.returncode == 2, p.stderr
    p = subprocess.run([gatehouse_run, "run", "--bogus"], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == 2, p.stderr
    # a missing directory: either an error exit, or (waiting for it to
    # appear) never ready -- but not a silent success
    proc = subprocess.Popen([gatehouse_run, "run", "-f", str(tmp_path / "missing"), "--admin",
                             "127.0.0.1:0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        rc = proc.wait(3)
        assert rc != 0, "a missing config directory was accepted with exit 0"
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    finally:
        proc.stderr.close()
    p = subprocess.run([gatehouse_run, "run", "--help"], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == 0 and "--address-pool" in p.stdout


def test_sigterm_drains_in_flight_request(stack):
    stack.backend("svc")
    stack.up([route("r", "svc")])
    result = {}

    def slow():
        try:
            result["r"] = stack.request("/slow?delay=1500ms", timeout=15)
        except Exception as exc:  # noqa: BLE001
            result["e"] = exc

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.4)
    t0 = time.monotonic()
    stack.gw.proc.send_signal(signal.SIGTERM)
    t.join(15)
    assert "r" in result, f"in-flight request lost on SIGTERM: {result.get('e')!r}"
    assert result["r"].status == 200 and result["r"].json()["path"] == "/slow?delay=1500ms"
    rc = stack.gw.proc.wait(15)
    assert rc == 0, f"exit {rc}: {stack.gw.stderr()[-2000:]}"
    assert time.monotonic() - t0 < 12
    with pytest.raises(OSError):
        socket.create_connection((stack.addr, stack.port), timeout=1).close()


def test_sigterm_idle_exits_fast(stack):
    stack.backend("svc")
    stack.up([route("r", "svc")])
    with stack.conn() as c:
        assert c.request("GET", "/").status == 200
        t0 = time.monotonic()
        stack.gw.proc.send_signal(signal.SIGTERM)
        rc = stack.gw.proc.wait(15)
        took = time.monotonic() - t0
    assert rc == 0
    assert took < 5, f"an idle keep-alive connection held the drain for {took:.1f} s"


@pytest.mark.parametrize("prefixlen", [28, 32])
def test_address_pool(stack, prefixlen):
    """A Gateway without spec.addresses gets one from --address-pool, says
    so in status.addresses and serves there. A /32 pool holds exactly one
    usable address (as in LoadBalancer IP pools)."""
    stack.backend("svc")
    port = stack.pick_gateway_address()[1]
    net = ipaddress.ip_network(f"{stack.addr}/{prefixlen}", strict=False)
    base = stack.base_objects(gateways=[gateway_obj("gw", None, [listener("http", port)],
                                                    stack.ns)])
    stack.write("base.yaml", base)
    stack.write("routes.yaml", [route("r", "svc")])
    stack.start(args=["--address-pool", str(net)])
    doc = stack.gw.status_json()
    gws = [i for i in doc["items"] if i["kind"] == "Gateway"]
    addrs = [a["value"] for a in gws[0]["status"].get("addresses", [])]
    conds = {c["type"]: (c["status"], c.get("reason")) for c in gws[0]["status"]["conditions"]}
    assert len(addrs) == 1 and ipaddress.ip_address(addrs[0]) in net, \
        f"status.addresses {addrs} not from pool {net}; conditions {conds}"
    assert conds.get("Programmed", ("",))[0] == "True", conds
    stack.addr = addrs[0]
    stack.wait_listening()
    r = stack.request("/pooled")
    assert r.status == 200 and backend_of(r) == "svc"


def test_two_gateways_same_port_different_addresses(stack):
    stack.backend("one")
    stack.backend("two")
    addr1, port = stack.pick_gateway_address()
    addr2 = pick_address([port])
    gws = [gateway_obj("gw1", addr1, [listener("http", port)], stack.ns),
           gateway_obj("gw2", addr2, [listener("http", port)], stack.ns)]
    stack.up([route("r1", "one", parent="gw1"), route("r2", "two", parent="gw2")], gateways=gws)
    assert backend_of(stack.request("/")) == "one"
    with socket.create_connection((addr2, port), timeout=5):
        pass
    from echoclient import get
    assert backend_of(get(addr2, port, "/", host="x.test")) == "two"


def test_port_in_use_is_reported_others_serve_and_it_binds_once_free(stack):
    stack.backend("svc")
    addr, port = stack.pick_gateway_address()
    busy = socket.socket()
    busy_port = port + 1 if port < 65000 else port - 1
    busy.bind((addr, busy_port))
    busy.listen(1)
    try:
        stack.up([route("r", "svc")],
                 listeners=[listener("http", port), listener("busy", busy_port)])
        assert stack.request("/").status == 200
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            text = stack.gw.logs() + stack.gw.admin("/status")[1].decode("utf-8", "replace")
            if str(busy_port) in text and ("in use" in text.lower() or "Programmed" in text):
                break
            time.sleep(0.1)
        text = stack.gw.logs()
        assert f"{busy_port}" in text and "in use" in text.lower(), \
            f"the unbindable port is not reported: {text[-1500:]}"
        # Once the other process lets go, the port is bound with no
        # configuration change (retried 250 ms doubling to 8 s).
        busy.close()
        from echoclient import get
        deadline = time.monotonic() + 10
        while True:
            try:
                if get(addr, busy_port, "/", host="example.com").status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the freed port was never bound"
            time.sleep(0.1)
        assert f"{busy_port} bound" in stack.gw.logs()
    finally:
        busy.close()


def test_admin_api(stack):
    stack.backend("svc")
    stack.up([route("r", "svc")])
    for _ in range(5):
        assert stack.request("/m").status == 200
    assert stack.gw.admin("/healthz")[0] == 200
    assert stack.gw.admin("/readyz")[0] == 200
    doc = stack.gw.status_json()
    assert doc["apiVersion"] == "v1" and doc["kind"] == "List"
    rt = [i for i in doc["items"] if i["kind"] == "HTTPRoute"][0]
    conds = {c["type"]: c["status"] for c in rt["status"]["parents"][0]["conditions"]}
    assert conds.get("Accepted") == "True" and conds.get("ResolvedRefs") == "True", rt["status"]
    status, body, r = stack.gw.admin("/metrics")
    assert status == 200
    text = body.decode()
    assert "# TYPE" in text
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines, text[:500]
    status, body, _ = stack.gw.admin("/config")
    assert status == 200
    json.loads(body) if body[:1] in (b"{", b"[") else None
    assert stack.gw.admin("/no-such-endpoint")[0] == 404


def test_access_log_json_and_log_format_json(stack):
    stack.backend("svc")
    stack.up([route("r", "svc")], args=["--access-log", "json", "--log-format", "json"])
    marker = "/access-log-marker?x=1"
    assert stack.request(marker).status == 200
    deadline = time.monotonic() + 5
    entry = None
    while time.monotonic() < deadline and entry is None:
        for ln in stack.gw.stdout().splitlines():
            if "access-log-marker" in ln:
                entry = json.loads(ln)
                break
        time.sleep(0.05)
    assert entry is not None, f"no access-log line on stdout: {stack.gw.stdout()[-1000:]}"
    flat = json.dumps(entry)
    assert "200" in flat and "GET" in flat
    for ln in stack.gw.stderr().splitlines():
        if ln.startswith("=") or not ln.strip():
            continue
        json.loads(ln)  # every log line is JSON
