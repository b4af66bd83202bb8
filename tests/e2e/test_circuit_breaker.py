# SPDX-License-Identifier: Apache-2.0
"""CircuitBreakerPolicy (gatehouse.dev/v1alpha1, docs/policies.md): limits
per endpoint of a Service, counted across workers. 500 concurrent requests
against a slow backend with maxRequests 50: the backend never has more than
50 in flight, the excess is answered 503 at once without reaching it,
gatehouse_circuit_breaker_open_total counts each refusal, and everything
is served again once the slow requests are done. maxConnections likewise
bounds the upstream connections. The backend here is a small threaded
Python server that counts what it has in flight (the echo cannot)."""
import asyncio
import http.server
import threading
import time
import urllib.parse

import pytest

from echoclient import H1
from gateway import (NS, backend, endpointslice_obj, gatehouse_run, httproute,  # noqa: F401
                     pick_address, prefix, service_obj, stack)

OPEN = "gatehouse_circuit_breaker_open_total"


class SlowBackend:
    """GET ?d=SECONDS sleeps that long, then 200 (500 under /fail); counts
    requests in flight and the most seen at once."""

    def __init__(self, name, ns=NS):
        self.name, self.ns = name, ns
        self.lock = threading.Lock()
        self.active = self.peak = self.served = self.connections = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with owner.lock:
                    owner.connections += 1

            def do_GET(self):  # noqa: N802 - the http.server API
                q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                with owner.lock:
                    owner.active += 1
                    owner.peak = max(owner.peak, owner.active)
                try:
                    time.sleep(float(q.get("d", ["0"])[0]))
                finally:
                    with owner.lock:
                        owner.active -= 1
                        owner.served += 1
                body = b"ok\n"
                self.send_response(500 if self.path.startswith("/fail") else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 1024
            daemon_threads = True

        for _ in range(50):
            import random
            self.port = random.randrange(32100, 60000)
            self.addr = pick_address([self.port])
            try:
                self.srv = Server((self.addr, self.port), Handler)
                break
            except OSError:
                continue
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def reset(self):
        with self.lock:
            self.peak = self.served = 0

    def objects(self, app_protocols=False):
        return [service_obj(self.name, [{"name": "http", "port": 80, "targetPort": self.port}],
                            ns=self.ns),
                endpointslice_obj(self.name, [self.addr], [{"name": "http", "port": self.port}],
                                  ns=self.ns)]

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def policy(name, svc="slow", **limits):
    return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "CircuitBreakerPolicy",
            "metadata": {"name": name, "namespace": NS},
            "spec": dict({"targetRefs": [{"group": "", "kind": "Service", "name": svc}]},
                         **limits)}


async def one(addr, port, path, results):
    t0 = time.monotonic()
    try:
        r, w = await asyncio.open_connection(addr, port)
        w.write(f"GET {path} HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n".encode())
        await w.drain()
        data = await asyncio.wait_for(r.read(), 30)
        w.close()
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else -1
    except (OSError, asyncio.TimeoutError, ValueError, IndexError):
        status = -1
    results.append((status, time.monotonic() - t0))


def burst(st, path, n):
    """n concurrent requests, each on its own connection: [(status, s)]."""
    results = []

    async def run():
        await asyncio.gather(*(one(st.addr, st.port, path, results) for _ in range(n)))
    asyncio.run(run())
    return results


def up(st, *policies):
    slow = SlowBackend("slow")
    st.backends["slow"] = slow
    st.recorders.append(slow)
    st.up([httproute("r", [
        {"matches": [prefix("/fail")], "backendRefs": [backend("slow")],
         "retry": {"codes": [500], "attempts": 3, "backoff": "10ms"}},
        {"matches": [prefix("/")], "backendRefs": [backend("slow")]}])],
        extra=list(policies))
    return slow


@pytest.mark.deadline(120)
def test_max_requests_under_500_concurrent(stack):
    slow = up(stack, policy("cb", maxRequests=50))
    res = burst(stack, "/x?d=3", 500)
    ok = [t for s, t in res if s == 200]
    refused = [t for s, t in res if s == 503]
    assert len(ok) + len(refused) == 500, sorted({s for s, _ in res})
    print(f"500 concurrent, maxRequests 50: {len(ok)} served, {len(refused)} refused, "
          f"backend peak {slow.peak} in flight, slowest refusal {max(refused):.3f} s")
    # At most 50 in flight upstream, counted over both workers.
    assert slow.peak <= 50, slow.peak
    assert 50 <= len(ok) <= 100, len(ok)  # a freed slot may admit a late one
    # The excess answered at once, never waiting for the slow backend.
    assert max(refused) < 2.0, sorted(refused)[-5:]
    assert slow.served == len(ok)
    assert stack.gw.metric(OPEN + '{limit="requests"}') == len(refused)
    assert stack.gw.metric(OPEN + '{limit="connections"}') == 0
    # Not an endpoint failure: nothing ejected; all served again after.
    assert stack.gw.metric("gatehouse_upstream_ejections_total") == 0
    slow.reset()
    again = burst(stack, "/y?d=0.5", 50)
    assert [s for s, _ in again] == [200] * 50
    assert slow.peak <= 50


@pytest.mark.deadline(90)
def test_max_connections(stack):
    slow = up(stack, policy("cb", maxConnections=5))
    res = burst(stack, "/x?d=2", 40)
    statuses = sorted(s for s, _ in res)
    assert statuses.count(200) + statuses.count(503) == 40, statuses
    assert slow.connections <= 5 and slow.peak <= 5, (slow.connections, slow.peak)
    assert 5 <= statuses.count(200) <= 10
    assert stack.gw.metric(OPEN + '{limit="connections"}') == statuses.count(503)
    with H1(stack.addr, stack.port, timeout=10) as c:
        for _ in range(10):
            assert c.request("GET", "/after", host="gw.test").status == 200


def test_status_and_ir(stack):
    up(stack, policy("cb", maxRequests=10, maxRetries=2), policy("gone", svc="nope",
                                                                 maxRequests=1))
    kinds = {}
    for it in stack.gw.status_json()["items"]:
        if it["kind"] == "CircuitBreakerPolicy":
            a = it["status"]["ancestors"][0]
            kinds[it["metadata"]["name"]] = (a["ancestorRef"]["kind"], [
                c["reason"] for c in a["conditions"] if c["type"] == "Accepted"][0])
    assert kinds == {"cb": ("Gateway", "Accepted"), "gone": ("Service", "TargetNotFound")}
    import subprocess
    p = subprocess.run([stack.binary, "check", "--ir", "-f", stack.cfgdir], capture_output=True,
                       text=True, timeout=30)
    assert f"circuit {NS}/cb connections=- requests=10 retries=2" in p.stdout, p.stdout


@pytest.mark.deadline(60)
def test_max_retries(stack):
    """maxRetries 0: a rule's retry is refused (503 at once, counted), the
    backend sees the first attempt only; without the policy, all four."""
    slow = up(stack, policy("cb", maxRetries=0))
    with H1(stack.addr, stack.port, timeout=10) as c:
        assert c.request("GET", "/fail", host="gw.test").status == 503
    assert slow.served == 1
    assert stack.gw.metric(OPEN + '{limit="retries"}') == 1
    stack.write("base.yaml", [o for o in stack.base_objects()])  # the policy removed
    deadline = time.monotonic() + 10
    while True:
        slow.reset()
        with H1(stack.addr, stack.port, timeout=10) as c:
            st = c.request("GET", "/fail", host="gw.test").status
        if st == 500:
            break
        assert time.monotonic() < deadline, "the policy is never lifted"
        time.sleep(0.1)
    assert slow.served == 4  # the first attempt and 3 retries (GEP-1731 attempts)
