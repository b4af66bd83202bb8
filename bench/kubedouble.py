# SPDX-License-Identifier: Apache-2.0
"""The Kubernetes API server double (../shared/kube/apiserver.py) for the
`kube` scenario of bench/run.py: its objects, and a keep-alive HTTPS client
for its API and its /_double/ control API (standard library only).

tests/e2e/kube.py has the full test client; it needs pytest, h2 and yaml
(through tests/e2e/gateway.py), which `make bench` does not install, so this
is the bench's own small one.
"""
import http.client
import json
import os
import ssl
import time

SHARED = os.environ.get("GW_SHARED") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "shared")
DOUBLE = os.path.join(SHARED, "kube", "apiserver.py")
CRDS = os.path.join(SHARED, "kube", "crds", "gateway-api-v1.6.1-experimental.yaml")
GW = "gateway.networking.k8s.io"
CONTROLLER = "gatehouse.dev/gateway-controller"
NS = "bench"


# ------------------------------------------------------------------ objects

def namespace():
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}


def gatewayclass():
    return {"apiVersion": f"{GW}/v1", "kind": "GatewayClass", "metadata": {"name": "gatehouse"},
            "spec": {"controllerName": CONTROLLER}}


def gateway(addr, port):
    return {"apiVersion": f"{GW}/v1", "kind": "Gateway", "metadata": {"name": "bench", "namespace": NS},
            "spec": {"gatewayClassName": "gatehouse", "addresses": [{"type": "IPAddress", "value": addr}],
                     "listeners": [{"name": "http", "protocol": "HTTP", "port": port,
                                    "allowedRoutes": {"namespaces": {"from": "Same"}}}]}}


def service(name, addr, port):
    """A Service and its EndpointSlice (one ready endpoint addr:port)."""
    return [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
             "spec": {"ports": [{"name": "http", "port": port, "targetPort": port}]}},
            {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
             "metadata": {"name": f"{name}-1", "namespace": NS,
                          "labels": {"kubernetes.io/service-name": name}},
             "addressType": "IPv4", "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
             "endpoints": [{"addresses": [addr], "conditions": {"ready": True}}]}]


def httproute(name, path, svc, port):
    return {"apiVersion": f"{GW}/v1", "kind": "HTTPRoute", "metadata": {"name": name, "namespace": NS},
            "spec": {"parentRefs": [{"name": "bench"}],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}],
                                "backendRefs": [{"name": svc, "port": port}]}]}}


def accepted(route):
    """True once route's status has our parent entry with Accepted True."""
    for p in (route.get("status") or {}).get("parents") or []:
        if p.get("controllerName") == CONTROLLER:
            for c in p.get("conditions") or []:
                if c.get("type") == "Accepted" and c.get("status") == "True":
                    return True
    return False


# ------------------------------------------------------------------ client

class ApiError(Exception):
    pass


class Double:
    """Speaks to a running double whose --state-dir is state (its url,
    ca.crt, admin-token and control-token files); one keep-alive
    connection, reopened after an error."""

    def __init__(self, state, timeout=10.0):
        def rd(n):
            with open(os.path.join(state, n)) as f:
                return f.read().strip()
        self.url = rd("url")
        self.kubeconfig = os.path.join(state, "kubeconfig")
        self.token, self.control_token = rd("admin-token"), rd("control-token")
        hostport = self.url.split("://", 1)[1]
        self.host, _, port = hostport.rpartition(":")
        self.port = int(port)
        self.ssl = ssl.create_default_context(cafile=os.path.join(state, "ca.crt"))
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn:
            self.conn.close()
        self.conn = None

    def request(self, method, path, body=None, control=False, ok=(200, 201)):
        data = json.dumps(body).encode() if body is not None else None
        hdr = {"Authorization": "Bearer " + (self.control_token if control else self.token),
               "Accept": "application/json"}
        if data is not None:
            hdr["Content-Type"] = "application/json"
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ssl,
                                                            timeout=self.timeout)
                self.conn.request(method, path, body=data, headers=hdr)
                r = self.conn.getresponse()
                raw = r.read()
                break
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        if r.status not in ok:
            raise ApiError(f"{method} {path}: HTTP {r.status}: {raw[:300]!r}")
        return json.loads(raw) if raw else None

    def control(self, method, what):
        return self.request(method, "/_double/" + what, control=True, ok=(200, 201, 204))

    def routes(self):
        return self.request("GET", f"/apis/{GW}/v1/namespaces/{NS}/httproutes")["items"]

    def create_route(self, obj):
        return self.request("POST", f"/apis/{GW}/v1/namespaces/{NS}/httproutes", obj)


def wait_started(state, proc, limit):
    """Waits for the double's url file (written once it listens, after the
    manifests are loaded); returns seconds waited or None."""
    t0 = time.monotonic()
    url = os.path.join(state, "url")
    while time.monotonic() - t0 < limit:
        if os.path.exists(url) and os.path.getsize(url):
            return time.monotonic() - t0
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None
