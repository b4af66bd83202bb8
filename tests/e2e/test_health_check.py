# SPDX-License-Identifier: Apache-2.0
"""HealthCheckPolicy (gatehouse.dev/v1alpha1, docs/policies.md): active
HTTP, TCP and gRPC health checks of a Service's endpoints, run by one
checker thread of the gateway; an endpoint failing unhealthyThreshold
checks in a row gets no traffic until it passes healthyThreshold; every
endpoint out fails open; the states survive a reload; they show in
/metrics and /health; status.ancestors says Accepted, Conflicted or
TargetNotFound.

The HTTP endpoints here are small Python servers (several behind one
Service, each on its own loopback address) whose /healthz answer the test
sets, and that name themselves in every other answer: traffic keeps
working while only the check fails, so what takes an endpoint out is the
check, never passive ejection."""
import json
import subprocess
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import EchoProcess, pick_address, random_ports
from gateway import (NS, backend, endpointslice_obj, gatehouse_run, httproute,  # noqa: F401
                     prefix, service_obj, stack)

SLACK = 1.5  # seconds on top of interval x threshold (scheduling, a loaded CI)


# ------------------------------------------------------------------ pods

class Pod:
    """An HTTP/1.1 server on its own loopback address: /healthz answers
    self.health, everything else 200 with the pod's name as the body."""

    def __init__(self, name, port):
        self.name, self.port, self.health = name, port, 200
        self.addr = pick_address([port])
        self.checks = 0
        pod = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if self.path == "/healthz":
                    pod.checks += 1
                    code, body = pod.health, b"health"
                else:
                    code, body = 200, pod.name.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer((self.addr, port), H)
        self.srv.daemon_threads = True
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def pods():
    made = []

    def make(n, svc="web"):
        port = random_ports(1)[0]
        v = [Pod(f"{svc}-{i}", port) for i in range(n)]
        made.extend(v)
        return v
    yield make
    for p in made:
        p.close()


def svc_objects(name, addrs, port, port_name="http"):
    return [service_obj(name, [{"name": port_name, "port": 80, "targetPort": port}]),
            endpointslice_obj(name, addrs, [{"name": port_name, "port": port}])]


def policy(name, targets, type_="HTTP", interval="200ms", created=None, **spec):
    md = {"name": name, "namespace": NS}
    if created:
        md["creationTimestamp"] = created
    s = {"targetRefs": targets, "type": type_, "interval": interval, "timeout": "150ms"}
    s.update(spec)
    return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "HealthCheckPolicy",
            "metadata": md, "spec": s}


def svc_ref(name, section=None):
    t = {"group": "", "kind": "Service", "name": name}
    if section:
        t["sectionName"] = section
    return t


def route(svc="web"):
    return [httproute("r", [{"matches": [prefix("/")], "backendRefs": [backend(svc)]}])]


def bodies(stack, n):
    out = []
    for _ in range(n):
        r = stack.request("/x")
        assert r.status == 200, (r.status, r.body[:200])
        out.append(r.body.decode())
    return out


def health(gw):
    status, body, _ = gw.admin("/health")
    assert status == 200, body
    return {(e["backend"], e["endpoint"]): e for e in json.loads(body)["endpoints"]}


def state(gw, ep, backend_name=f"{NS}/web:80"):
    return health(gw)[(backend_name, ep)]


def wait_health(gw, ep, healthy, timeout, backend_name=f"{NS}/web:80"):
    t0 = time.monotonic()
    while True:
        e = health(gw).get((backend_name, ep))
        if e is not None and e["healthy"] == healthy:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{ep} not healthy={healthy} within {timeout} s: {e}")
        time.sleep(0.02)


def health_metric(stack, name, endpoint):
    return stack.gw.metric(name, backend=f"{NS}/web:80", endpoint=endpoint)


def ep(p):
    return f"{p.addr}:{p.port}"


def ancestors(gw, name):
    for it in gw.status_json()["items"]:
        if it["kind"] == "HealthCheckPolicy" and it["metadata"]["name"] == name:
            return it["status"]["ancestors"]
    raise AssertionError(f"no status for HealthCheckPolicy {name}")


def accepted(anc):
    return sorted((a["ancestorRef"]["kind"], a["ancestorRef"]["name"],
                   [c for c in a["conditions"] if c["type"] == "Accepted"][0]["reason"])
                  for a in anc)


# ----------------------------------------------------------------- tests

@pytest.mark.deadline(60)
def test_http_check_takes_endpoint_out_and_back(stack, pods):
    v = pods(3)
    stack.up(route(), extra=svc_objects("web", [p.addr for p in v], v[0].port) + [
        policy("web", [svc_ref("web", "http")], unhealthyThreshold=2, healthyThreshold=2,
               http={"path": "/healthz", "expectedStatuses": [{"start": 200, "end": 299}]})])
    assert set(bodies(stack, 30)) == {"web-0", "web-1", "web-2"}
    wait_health(stack.gw, ep(v[0]), True, 5)
    assert v[0].checks > 0
    # Out: two failed checks 200 ms apart, the first one up to 200 ms away.
    v[0].health = 503
    took = wait_health(stack.gw, ep(v[0]), False, 0.2 * 2 + 0.2 + SLACK)
    assert took <= 0.2 * 2 + 0.2 + SLACK, took
    assert state(stack.gw, ep(v[0]))["last"] == "status"
    assert state(stack.gw, ep(v[0]))["lastCode"] == 503
    got = bodies(stack, 60)
    assert "web-0" not in got and set(got) == {"web-1", "web-2"}, got
    assert health_metric(stack, "gatehouse_endpoint_health", ep(v[0])) == 0
    assert health_metric(stack, "gatehouse_endpoint_health", ep(v[1])) == 1
    # Back after two good checks.
    v[0].health = 204
    took = wait_health(stack.gw, ep(v[0]), True, 0.2 * 2 + 0.2 + SLACK)
    assert took <= 0.2 * 2 + 0.2 + SLACK, took
    assert "web-0" in bodies(stack, 30)
    assert health_metric(stack, "gatehouse_endpoint_health_transitions_total", ep(v[0])) == 2
    assert health_metric(stack, "gatehouse_endpoint_health", ep(v[0])) == 1


@pytest.mark.deadline(60)
def test_every_endpoint_unhealthy_fails_open(stack, pods):
    v = pods(2)
    stack.up(route(), extra=svc_objects("web", [p.addr for p in v], v[0].port) + [
        policy("web", [svc_ref("web")], unhealthyThreshold=1, http={"path": "/healthz"})])
    for p in v:
        p.health = 500
    for p in v:
        wait_health(stack.gw, ep(p), False, 0.2 + 0.2 + SLACK)
    # Panic mode: every endpoint is fair game again, as with ejection.
    assert set(bodies(stack, 30)) == {"web-0", "web-1"}


@pytest.mark.deadline(60)
def test_state_survives_reload(stack, pods):
    v = pods(2)
    objs = svc_objects("web", [p.addr for p in v], v[0].port) + [
        # A long interval: a state reset by the reload would make web-0
        # healthy (new states start healthy) for seconds.
        policy("web", [svc_ref("web")], interval="3s", timeout="500ms", unhealthyThreshold=1,
               healthyThreshold=1, http={"path": "/healthz"})]
    v[0].health = 503
    stack.up(route(), extra=objs)
    wait_health(stack.gw, ep(v[0]), False, 3 + SLACK)
    before = state(stack.gw, ep(v[0]))
    stack.write("routes.yaml", route() + [httproute("other", [
        {"matches": [prefix("/o")], "backendRefs": [backend("web")]}], hostnames=["o.test"])])
    stack.wait_status("/o", 200, host="o.test")
    after = state(stack.gw, ep(v[0]))
    assert after["healthy"] is False and after["transitions"] == before["transitions"], after
    got = bodies(stack, 30)
    assert set(got) == {"web-1"}, got


@pytest.mark.deadline(60)
def test_tcp_check_against_a_stopped_process(stack):
    b = stack.backend("web", replicas=2)
    stack.up(route(), extra=[policy("web", [svc_ref("web", "http")], type_="TCP",
                                    unhealthyThreshold=2, healthyThreshold=1)])
    p0, p1 = b.procs
    e0 = f"{p0.addr}:{b.port}"
    wait_health(stack.gw, e0, True, 5)
    p0.stop()
    took = wait_health(stack.gw, e0, False, 0.2 * 2 + 0.2 + SLACK)
    assert took <= 0.2 * 2 + 0.2 + SLACK, took
    assert state(stack.gw, e0)["last"] in ("connect", "timeout")
    pods_seen = set()
    for _ in range(30):
        r = stack.request("/x")
        assert r.status == 200, r.status  # not one request sent to the dead one
        pods_seen.add(r.json()["pod"])
    assert pods_seen == {p1.env["POD_NAME"]}
    # Started again on the same address: back after one good check.
    again = EchoProcess(p0.argv[0], p0.addr, p0.env, p0.tcp_ports, [], stack.workdir)
    stack.echos.append(again)
    again.wait_ready()
    wait_health(stack.gw, e0, True, 0.2 + 0.2 + SLACK)
    seen = {stack.request("/x").json()["pod"] for _ in range(30)}
    assert p0.env["POD_NAME"] in seen


def grpc_pod(addr, port, status):
    """A grpc.health.v1 server (python grpcio, raw protobuf bytes):
    status["serving"] decides SERVING (1) or NOT_SERVING (2); services
    other than "" and "app" are NOT_FOUND."""
    import grpc

    def check(req, ctx):
        svc = req[2:].decode() if req[:1] == b"\x0a" else ""
        if svc not in ("", "app"):
            ctx.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return b"\x08\x01" if status["serving"] else b"\x08\x02"

    handler = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(check)})
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    srv.add_generic_rpc_handlers((handler,))
    srv.add_insecure_port(f"{addr}:{port}")
    srv.start()
    return srv


@pytest.mark.deadline(60)
def test_grpc_check(stack):
    pytest.importorskip("grpc")
    port = random_ports(1)[0]
    addrs = [pick_address([port]) for _ in range(2)]
    states = [{"serving": True}, {"serving": True}]
    servers = [grpc_pod(a, port, s) for a, s in zip(addrs, states)]
    try:
        objs = (svc_objects("web", addrs, port, "grpc") + svc_objects("other", addrs, port) + [
            policy("web", [svc_ref("web")], type_="GRPC", unhealthyThreshold=2,
                   healthyThreshold=2, grpc={"service": "app"}),
            policy("other", [svc_ref("other")], type_="GRPC", unhealthyThreshold=1,
                   grpc={"service": "missing"})])
        stack.up(route() + [httproute("o", [{"matches": [prefix("/")],
                                              "backendRefs": [backend("other")]}],
                                      hostnames=["o.test"])], extra=objs)
        e0, e1 = f"{addrs[0]}:{port}", f"{addrs[1]}:{port}"
        wait_health(stack.gw, e0, True, 5)
        time.sleep(0.5)
        assert state(stack.gw, e0)["last"] == "ok" and state(stack.gw, e0)["checks"] >= 2
        states[0]["serving"] = False
        took = wait_health(stack.gw, e0, False, 0.2 * 2 + 0.2 + SLACK)
        assert took <= 0.2 * 2 + 0.2 + SLACK
        assert state(stack.gw, e0)["last"] == "not_serving"
        assert state(stack.gw, e1)["healthy"] is True
        states[0]["serving"] = True
        wait_health(stack.gw, e0, True, 0.2 * 2 + 0.2 + SLACK)
        # A service the server does not know: grpc-status 5 (NOT_FOUND).
        other = f"{NS}/other:80"
        wait_health(stack.gw, e0, False, 0.2 + 0.2 + SLACK, backend_name=other)
        e = state(stack.gw, e0, backend_name=other)
        assert e["last"] == "status" and e["lastCode"] == 5, e
    finally:
        for s in servers:
            s.stop(0)


@pytest.mark.deadline(60)
def test_status_accepted_conflicted_target_not_found(stack, pods):
    v = pods(2)
    stack.up(route(), extra=svc_objects("web", [p.addr for p in v], v[0].port) + [
        policy("old", [svc_ref("web")], created="2026-01-01T00:00:00Z",
               http={"path": "/healthz"}),
        policy("new", [svc_ref("web"), svc_ref("nope")], created="2026-02-01T00:00:00Z",
               type_="TCP"),
        policy("port", [svc_ref("web", "http")], created="2026-03-01T00:00:00Z",
               http={"path": "/healthz", "expectedStatuses": [{"start": 200}]}),
        policy("noport", [svc_ref("web", "nosuchport")], type_="TCP"),
    ])
    assert accepted(ancestors(stack.gw, "old")) == [("Gateway", "gw", "Accepted")]
    assert accepted(ancestors(stack.gw, "new")) == [("Gateway", "gw", "Conflicted"),
                                                    ("Service", "nope", "TargetNotFound")]
    assert accepted(ancestors(stack.gw, "port")) == [("Gateway", "gw", "Accepted")]
    assert accepted(ancestors(stack.gw, "noport")) == [("Gateway", "gw", "TargetNotFound")]
    # The port's policy beats the Service's: only 200 passes, 204 fails.
    _, body, _ = stack.gw.admin("/config")
    assert f'"policy":"{NS}/port"' in body.decode()
    v[0].health = 204
    wait_health(stack.gw, ep(v[0]), False, 0.2 * 3 + 0.2 + SLACK)


def test_check_reports_errors_with_position(gatehouse_run, tmp_path):
    (tmp_path / "p.yaml").write_text(
        "apiVersion: gatehouse.dev/v1alpha1\nkind: HealthCheckPolicy\n"
        "metadata: {name: bad, namespace: default}\nspec:\n"
        "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]\n"
        "  type: TCP\n"
        "  interval: 1s\n"
        "  timeout: 2s\n"
        "  healthyThreshold: 0\n"
        "  http: {path: /healthz, expectedStatuses: [{start: 300, end: 200}]}\n")
    p = subprocess.run([gatehouse_run, "check", "-f", str(tmp_path)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1, p.stdout
    out = p.stdout
    for want in [
        "p.yaml:5:15: HealthCheckPolicy default/bad: spec.targetRefs: Invalid value: \"array\": "
        "a HealthCheckPolicy targets a Service",
        "p.yaml:8:12: HealthCheckPolicy default/bad: spec.timeout: Invalid value: \"string\": "
        "timeout must not be longer than interval",
        "p.yaml:9:21: HealthCheckPolicy default/bad: spec.healthyThreshold",
        "HealthCheckPolicy default/bad: spec: Invalid value: \"object\": http may be set only "
        "when type is HTTP",
        "HealthCheckPolicy default/bad: spec.http.expectedStatuses[0]: Invalid value: "
        "\"object\": end must not be less than start",
    ]:
        assert want in out, out

