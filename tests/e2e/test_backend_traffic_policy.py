# SPDX-License-Identifier: Apache-2.0
"""XBackendTrafficPolicy (gateway.networking.x-k8s.io/v1alpha1), the Gateway
API's experimental policy of a Service, served by `gatehouse run`.

* retryConstraint (GEP-1731's retry budget): a backend that always answers
  503 behind a rule that retries 503 three times. Without a policy every
  request costs the backend four attempts; with a budget of 20% the
  attempts stay within the requests plus 20% plus minRetryRate's count, a
  refused retry answers the client 503 (the spec's "additional retries to
  the backend MUST return a 503 response to the client") and each refusal
  is counted. At low load minRetryRate lets every retry through.
* sessionPersistence (GEP-1619) for a Service: a rule without its own
  sticks to one of three echo replicas across 100 requests and a reload; a
  rule with its own keeps its own.
* status.ancestors: Accepted, Conflicted (the older policy wins),
  TargetNotFound, Invalid (a target that is no Service); `gatehouse check`
  reports schema and CEL errors with their file:line:col.

The 503 backend is a small threaded Python server that counts requests by
path (the echo cannot answer 503 to everything)."""
import http.server
import random
import subprocess
import threading

import pytest

from echoclient import H1
from gateway import (NS, backend, endpointslice_obj, gatehouse_run, httproute,  # noqa: F401
                     pick_address, prefix, service_obj, stack)

REFUSED = "gatehouse_retry_budget_refused_total"
RETRIES = "gatehouse_upstream_retries_total"


class Busy:
    """Answers every request 503 (body "busy"), keep-alive; counts requests
    by the first path segment."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - the http.server API
                key = self.path.split("/")[1]
                with owner.lock:
                    owner.counts[key] = owner.counts.get(key, 0) + 1
                body = b"busy\n"
                self.send_response(503)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 256
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # the gateway closes a connection whose 503 it retries

        for _ in range(50):
            self.port = random.randrange(32100, 60000)
            self.addr = pick_address([self.port])
            try:
                self.srv = Server((self.addr, self.port), Handler)
                break
            except OSError:
                continue
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def count(self, key):
        with self.lock:
            return self.counts.get(key, 0)

    def objects(self, app_protocols=False):
        # Two Services on the same server: one under a policy, one not.
        out = []
        for name in ("busy", "free"):
            out += [service_obj(name, [{"name": "http", "port": 80, "targetPort": self.port}]),
                    endpointslice_obj(name, [self.addr], [{"name": "http", "port": self.port}])]
        return out

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def xbtp(name, svc="busy", created="2024-01-01T00:00:00Z", targets=None, **spec):
    refs = targets or [{"group": "", "kind": "Service", "name": svc}]
    return {"apiVersion": "gateway.networking.x-k8s.io/v1alpha1",
            "kind": "XBackendTrafficPolicy",
            "metadata": {"name": name, "namespace": NS, "creationTimestamp": created},
            "spec": dict({"targetRefs": refs}, **spec)}


def retry_routes():
    retry = {"attempts": 3, "codes": [503], "backoff": "1ms"}
    return [httproute("storm", rules=[
        {"matches": [prefix("/busy")], "backendRefs": [backend("busy")], "retry": retry},
        {"matches": [prefix("/free")], "backendRefs": [backend("free")], "retry": retry},
    ])]


def up_busy(st, *policies):
    busy = Busy()
    st.backends["busy"] = busy
    st.recorders.append(busy)
    st.up(retry_routes(), extra=list(policies))
    return busy


GATEHOUSE_503 = b"503 Service Unavailable\n"


def hammer(st, path, n, conns=4, bodies_ok=(b"busy\n",)):
    """n GETs of path over `conns` keep-alive connections in parallel
    threads; every answer must be a 503 with one of bodies_ok (the
    backend's own, or gatehouse's for a retry the budget refused)."""
    bodies = []
    lock = threading.Lock()

    def run(k):
        with H1(st.addr, st.port, timeout=20) as c:
            for _ in range(k):
                r = c.request("GET", path, host="gw.test")
                with lock:
                    bodies.append((r.status, r.body))

    ts = [threading.Thread(target=run, args=(n // conns,)) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert len(bodies) == n
    assert all(s == 503 and b in bodies_ok for s, b in bodies), bodies[:3]
    return bodies


# ------------------------------------------------------------ retry budget

@pytest.mark.deadline(120)
def test_budget_stops_a_retry_storm(stack):
    n = 400
    pol = xbtp("budget", retryConstraint={"budget": {"percent": 20, "interval": "10s"},
                                           "minRetryRate": {"count": 1, "interval": "1h"}})
    busy = up_busy(stack, pol)
    r0, f0 = stack.gw.metric(RETRIES), stack.gw.metric(REFUSED)

    hammer(stack, "/free/x", n)
    free = busy.count("free")
    assert free == 4 * n, free  # no policy: every request costs four attempts
    r1 = stack.gw.metric(RETRIES)
    assert r1 - r0 == 3 * n
    assert stack.gw.metric(REFUSED) == f0

    got = hammer(stack, "/busy/x", n, bodies_ok=(b"busy\n", GATEHOUSE_503))
    seen = busy.count("busy")
    retries = stack.gw.metric(RETRIES) - r1
    refused = stack.gw.metric(REFUSED) - f0
    print(f"\n{n} requests: {free} attempts without the budget, {seen} with it "
          f"({retries:.0f} retries made, {refused:.0f} refused)")
    assert seen == n + retries
    # 20% of the requests plus minRetryRate's 1, plus at most one retry per
    # other worker taken in the same instant (2 workers).
    assert seen <= n + n * 20 // 100 + 1 + 1, seen
    assert seen >= n + n * 20 // 100 - 10, seen  # and the budget is used, not just refused
    assert refused >= n - n * 20 // 100 - 1, refused
    # each refusal answered by gatehouse, not by the backend's last attempt
    assert sum(1 for _, b in got if b == GATEHOUSE_503) == refused


@pytest.mark.deadline(60)
def test_budget_allows_every_retry_at_low_load(stack):
    pol = xbtp("budget", retryConstraint={"minRetryRate": {"count": 100, "interval": "10s"}})
    busy = up_busy(stack, pol)
    f0 = stack.gw.metric(REFUSED)
    with H1(stack.addr, stack.port, timeout=10) as c:
        for _ in range(10):
            r = c.request("GET", "/busy/low", host="gw.test")
            assert r.status == 503 and r.body == b"busy\n"
    assert busy.count("busy") == 40  # 1 + 3 retries each: 30 retries < 100 per 10 s
    assert stack.gw.metric(REFUSED) == f0


@pytest.mark.deadline(60)
def test_ir_shows_the_budget(stack):
    up_busy(stack, xbtp("budget", retryConstraint={"budget": {"percent": 5}}))
    p = subprocess.run([stack.binary, "check", "--ir", "-f", stack.cfgdir], capture_output=True,
                       text=True, timeout=30)
    assert f"retry-budget {NS}/budget percent=5 interval=10000ms min=10/1000ms" in p.stdout, \
        p.stdout
    # Only the Service the policy targets.
    assert p.stdout.count("retry-budget") == 1, p.stdout


# ----------------------------------------------------- sessionPersistence

def pod(r):
    assert r.status == 200, r
    return r.json()["pod"]


def cookie(r, name):
    for v in r.header_all("set-cookie"):
        k, _, rest = v.partition("=")
        if k == name:
            return rest.split(";", 1)[0]
    return None


def session_routes(extra_host=None):
    hosts = ["sp.test"] + ([extra_host] if extra_host else [])
    return [httproute("sp", hostnames=hosts, rules=[
        {"matches": [prefix("/p")], "backendRefs": [backend("svc")]},
        {"matches": [prefix("/own")], "backendRefs": [backend("svc")],
         "sessionPersistence": {"sessionName": "own"}},
    ])]


@pytest.mark.deadline(90)
def test_session_from_the_policy_sticks_across_requests_and_a_reload(stack):
    st = stack
    st.backend("svc", replicas=3)
    pol = xbtp("sticky", svc="svc", sessionPersistence={"sessionName": "xsp"})
    st.up(session_routes(), extra=[pol])
    r = st.request("/p/a", host="sp.test")
    tok = cookie(r, "xsp")
    assert tok and len(tok) == 50, r.header_all("set-cookie")
    first = pod(r)
    # Without the cookie the replicas share the load: stickiness is real.
    assert len({pod(st.request("/p/b", host="sp.test")) for _ in range(30)}) >= 2
    for i in range(100):
        assert pod(st.request(f"/p/{i}", host="sp.test", headers=[("Cookie", f"xsp={tok}")])) \
            == first
    # A reload (the route changes): the session holds.
    st.write("routes.yaml", session_routes("sp2.test"))
    st.wait_status("/p/r", 200, host="sp2.test")
    for i in range(20):
        assert pod(st.request(f"/p/{i}", host="sp.test", headers=[("Cookie", f"xsp={tok}")])) \
            == first
    # The rule's own sessionPersistence wins over the policy's.
    r = st.request("/own", host="sp.test")
    assert cookie(r, "own") and cookie(r, "xsp") is None, r.header_all("set-cookie")
    # The route's status says where the served session comes from.
    for it in st.gw.status_json()["items"]:
        if it["kind"] == "HTTPRoute" and it["metadata"]["name"] == "sp":
            acc = [c for c in it["status"]["parents"][0]["conditions"]
                   if c["type"] == "Accepted"][0]
            assert "rule 0 Cookie xsp (Session)" in acc["message"], acc
            assert f"from XBackendTrafficPolicy {NS}/sticky" in acc["message"], acc
            assert "rule 1 Cookie own" in acc["message"], acc


# ------------------------------------------------------------------ status

def ancestors(st, name):
    for it in st.gw.status_json()["items"]:
        if it["kind"] == "XBackendTrafficPolicy" and it["metadata"]["name"] == name:
            assert it["apiVersion"] == "gateway.networking.x-k8s.io/v1alpha1", it
            return [(a["ancestorRef"]["kind"], a["ancestorRef"]["name"],
                     [c["reason"] for c in a["conditions"] if c["type"] == "Accepted"][0])
                    for a in it["status"]["ancestors"]]
    raise AssertionError(f"no status for {name}")


@pytest.mark.deadline(60)
def test_statuses(stack):
    rc = {"retryConstraint": {"budget": {"percent": 10}}}
    up_busy(stack,
            xbtp("old", **rc),
            xbtp("young", created="2025-01-01T00:00:00Z", **rc),
            xbtp("gone", svc="nope", **rc),
            xbtp("gwtarget", targets=[{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                       "name": "gw"}], **rc))
    assert ancestors(stack, "old") == [("Gateway", "gw", "Accepted")]
    assert ancestors(stack, "young") == [("Gateway", "gw", "Conflicted")]
    assert ancestors(stack, "gone") == [("Service", "nope", "TargetNotFound")]
    assert ancestors(stack, "gwtarget") == [("Gateway", "gw", "Invalid")]


# ------------------------------------------------------------------- check

def test_check_reports_errors_with_position(gatehouse, tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("""apiVersion: gateway.networking.x-k8s.io/v1alpha1
kind: XBackendTrafficPolicy
metadata: {name: bad, namespace: default}
spec:
  targetRefs:
  - {group: "", kind: Service, name: a}
  retryConstraint:
    budget: {percent: 101, interval: 500ms}
    minRetryRate: {count: 0, interval: 2h}
  sessionPersistence:
    type: Header
    cookieConfig: {lifetimeType: Session}
""")
    p = subprocess.run([gatehouse, "check", "-q", "-f", str(f)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1
    out = p.stdout + p.stderr
    want = [
        ":8:23: XBackendTrafficPolicy default/bad: spec.retryConstraint.budget.percent: "
        "Invalid value: 101: should be less than or equal to 100",
        ":8:38: XBackendTrafficPolicy default/bad: spec.retryConstraint.budget.interval: "
        "Invalid value: \"string\": interval cannot be greater than one hour or less than one "
        "second",
        ":9:27: XBackendTrafficPolicy default/bad: spec.retryConstraint.minRetryRate.count: "
        "Invalid value: 0: should be greater than or equal to 1",
        ":9:40: XBackendTrafficPolicy default/bad: spec.retryConstraint.minRetryRate.interval: "
        "Invalid value: \"string\": interval cannot be greater than one hour",
        ":11:5: XBackendTrafficPolicy default/bad: spec.sessionPersistence: Invalid value: "
        "\"object\": cookieConfig can only be set with type Cookie",
    ]
    for w in want:
        assert w in out, (w, out)
