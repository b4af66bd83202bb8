# SPDX-License-Identifier: Apache-2.0
"""The Kubernetes API server double (../shared/kube) for end-to-end tests.

* `KubeDouble`: starts `apiserver.py` on a free port of 127.0.0.1 with its
  state in a temporary directory (the Gateway API CRDs installed by default
  with --manifest; `install_crds_kubectl()` does it as a user would), and
  speaks to it over HTTPS with the admin token: `create`, `get`, `replace`,
  `patch`, `delete`, `apply` (create or replace), and the `/_double/`
  control API (`control`). Stopped with `stop()`.
* `KubeGateway`: one `gatehouse run --kubernetes` against a double (a
  GatewayProcess with other arguments: same logs, readiness, teardown).

Objects are plain dicts; the API path comes from the kind (RESOURCES).
"""
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

from gateway import GatewayProcess, base_env, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("GW_SHARED") or os.path.join(os.path.dirname(ROOT), "shared")
DOUBLE = os.path.join(SHARED, "kube", "apiserver.py")
CRDS = os.path.join(SHARED, "kube", "crds", "gateway-api-v1.6.1-experimental.yaml")
# gatehouse's own policy kinds (deploy/crds/), installed beside the bundle.
OWN_CRDS = os.path.join(ROOT, "deploy", "crds", "gatehouse.dev-v1alpha1.yaml")
GW = "gateway.networking.k8s.io"

# kind -> (API prefix, plural, namespaced)
RESOURCES = {
    "GatewayClass": (f"/apis/{GW}/v1", "gatewayclasses", False),
    "Gateway": (f"/apis/{GW}/v1", "gateways", True),
    "ListenerSet": (f"/apis/{GW}/v1", "listenersets", True),
    "HTTPRoute": (f"/apis/{GW}/v1", "httproutes", True),
    "GRPCRoute": (f"/apis/{GW}/v1", "grpcroutes", True),
    "TLSRoute": (f"/apis/{GW}/v1", "tlsroutes", True),
    "TCPRoute": (f"/apis/{GW}/v1alpha2", "tcproutes", True),
    "UDPRoute": (f"/apis/{GW}/v1alpha2", "udproutes", True),
    "ReferenceGrant": (f"/apis/{GW}/v1", "referencegrants", True),
    "BackendTLSPolicy": (f"/apis/{GW}/v1", "backendtlspolicies", True),
    "RateLimitPolicy": ("/apis/gatehouse.dev/v1alpha1", "ratelimitpolicies", True),
    "HealthCheckPolicy": ("/apis/gatehouse.dev/v1alpha1", "healthcheckpolicies", True),
    "ClientTrafficPolicy": ("/apis/gatehouse.dev/v1alpha1", "clienttrafficpolicies", True),
    "SourceAddressPolicy": ("/apis/gatehouse.dev/v1alpha1", "sourceaddresspolicies", True),
    "CircuitBreakerPolicy": ("/apis/gatehouse.dev/v1alpha1", "circuitbreakerpolicies", True),
    "LoadBalancerPolicy": ("/apis/gatehouse.dev/v1alpha1", "loadbalancerpolicies", True),
    "JWTPolicy": ("/apis/gatehouse.dev/v1alpha1", "jwtpolicies", True),
    "BasicAuthPolicy": ("/apis/gatehouse.dev/v1alpha1", "basicauthpolicies", True),
    "APIKeyPolicy": ("/apis/gatehouse.dev/v1alpha1", "apikeypolicies", True),
    "XBackendTrafficPolicy": ("/apis/gateway.networking.x-k8s.io/v1alpha1",
                              "xbackendtrafficpolicies", True),
    "Service": ("/api/v1", "services", True),
    "EndpointSlice": ("/apis/discovery.k8s.io/v1", "endpointslices", True),
    "Secret": ("/api/v1", "secrets", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Namespace": ("/api/v1", "namespaces", False),
    "Lease": ("/apis/coordination.k8s.io/v1", "leases", True),
    "ExtAuthPolicy": ("/apis/gatehouse.dev/v1alpha1", "extauthpolicies", True),
    "XBackend": ("/apis/gateway.networking.x-k8s.io/v1alpha1", "xbackends", True),
    "CompressionPolicy": ("/apis/gatehouse.dev/v1alpha1", "compressionpolicies", True),
}


def have_double():
    return os.path.exists(DOUBLE)


def object_path(kind, name=None, ns=None, sub=None):
    prefix, plural, namespaced = RESOURCES[kind]
    p = prefix
    if namespaced and ns:
        p += f"/namespaces/{ns}"
    p += f"/{plural}"
    if name:
        p += f"/{name}"
    if sub:
        p += f"/{sub}"
    return p


def path_of(obj, sub=None):
    md = obj["metadata"]
    return object_path(obj["kind"], md["name"], md.get("namespace", "default")
                       if RESOURCES[obj["kind"]][2] else None, sub)


class ApiError(Exception):
    def __init__(self, code, body):
        super().__init__(f"HTTP {code}: {body!r:.400}")
        self.code = code
        self.body = body


class KubeDouble:
    def __init__(self, workdir, crds=True, args=()):
        self.state = os.path.join(workdir, f"kube-{time.monotonic_ns()}")
        os.makedirs(self.state)
        argv = [sys.executable, DOUBLE, "--port", "0", "--state-dir", self.state,
                "--bookmark-interval", "1"]
        if crds:
            argv += ["--manifest", CRDS, "--manifest", OWN_CRDS]
        argv += list(args)
        self.log_path = os.path.join(self.state, "apiserver.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        url_file = os.path.join(self.state, "url")
        while not (os.path.exists(url_file) and os.path.getsize(url_file)):
            if self.proc.poll() is not None:
                raise AssertionError(f"API server double exited {self.proc.returncode}: "
                                     f"{self.log()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("API server double not listening within 30 s")
            time.sleep(0.05)
        with open(url_file) as f:
            self.url = f.read().strip()
        self.kubeconfig = os.path.join(self.state, "kubeconfig")
        self.ca = os.path.join(self.state, "ca.crt")
        self.token = self._read("admin-token")
        self.control_token = self._read("control-token")
        self.ctx = ssl.create_default_context(cafile=self.ca)

    def _read(self, name):
        with open(os.path.join(self.state, name)) as f:
            return f.read().strip()

    def log(self):
        self._log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    # requests --------------------------------------------------------------
    def request(self, method, path, body=None, ctype="application/json", token=None,
                timeout=10.0, ok=(200, 201)):
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as r:
                code, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            code, raw = e.code, e.read()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = raw
        if ok and code not in ok:
            raise ApiError(code, doc)
        return doc if ok else (code, doc)

    def create(self, obj):
        md = obj["metadata"]
        ns = md.get("namespace", "default") if RESOURCES[obj["kind"]][2] else None
        return self.request("POST", object_path(obj["kind"], ns=ns), obj)

    def get(self, kind, name, ns=None):
        code, doc = self.request("GET", object_path(kind, name, ns), ok=None)
        return doc if code == 200 else None

    def list(self, kind, ns=None):
        return self.request("GET", object_path(kind, ns=ns))["items"]

    def replace(self, obj):
        cur = self.request("GET", path_of(obj))
        new = json.loads(json.dumps(obj))
        new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        return self.request("PUT", path_of(obj), new)

    def apply(self, obj):
        """Creates obj, or replaces the object of that name."""
        code, doc = self.request("POST", path_of(obj).rsplit("/", 1)[0], obj, ok=None)
        if code == 409:
            return self.replace(obj)
        if code not in (200, 201):
            raise ApiError(code, doc)
        return doc

    def patch(self, kind, name, ns, patch, ctype="application/merge-patch+json", sub=None):
        return self.request("PATCH", object_path(kind, name, ns, sub), patch, ctype=ctype)

    def delete(self, kind, name, ns=None):
        code, doc = self.request("DELETE", object_path(kind, name, ns), ok=None)
        if code not in (200, 202, 404):
            raise ApiError(code, doc)

    def status_of(self, kind, name, ns=None):
        obj = self.get(kind, name, ns)
        return (obj or {}).get("status") or {}

    # control API -----------------------------------------------------------
    def control(self, method, path, body=None):
        return self.request(method, "/_double/" + path, body, token=self.control_token,
                            ok=(200, 201, 204))

    def counts(self):
        return self.control("GET", "requests")

    def install_crds_kubectl(self):
        """The Gateway API CRDs with kubectl, server-side, as on a real cluster."""
        kubectl = shutil.which("kubectl")
        assert kubectl, "kubectl not found"
        p = subprocess.run([kubectl, "--kubeconfig", self.kubeconfig, "apply", "--server-side",
                            "-f", CRDS], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


class KubeGateway(GatewayProcess):
    """`gatehouse run --kubernetes` against a KubeDouble."""

    def __init__(self, binary, kube, logdir, workers=1, args=(), env=None, admin_port=None):
        self.kube = kube
        super().__init__(binary, logdir, logdir, workers=workers, args=args,
                         env=env or base_env(), admin_port=admin_port,
                         argv=[binary, "run", "--kubernetes", "--kubeconfig", kube.kubeconfig])

    def metrics(self):
        status, body, _ = self.admin("/metrics")
        assert status == 200
        out = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out


def wait_for(pred, timeout=10.0, every=0.05, what="condition"):
    """pred()'s first truthy value within timeout, else AssertionError."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
            if last:
                return last
        except (ApiError, OSError, KeyError, IndexError, TypeError) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s (last: {last!r:.500})")
        time.sleep(every)


def condition(status, ctype, path=("conditions",)):
    """The condition of type ctype under status[path...], or None."""
    node = status
    for p in path:
        node = node[p] if isinstance(node, dict) or isinstance(p, int) else None
        if node is None:
            return None
    for c in node or []:
        if c.get("type") == ctype:
            return c
    return None
