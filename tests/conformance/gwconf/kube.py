# SPDX-License-Identifier: Apache-2.0
"""A small Kubernetes API client (HTTPS, bearer token, CA file) and the
API server double (/work/shared/kube/apiserver.py) as a subprocess.

Only what the runner needs: discovery (kind -> resource path), get, list,
create, replace (PUT with resourceVersion), JSON Patch, delete.
"""
import base64
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from .model import CLUSTER_SCOPED, Ref, RunnerError

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
KUBE_DIR = os.environ.get("GW_KUBE_DOUBLE") or os.path.join(os.path.dirname(ROOT), "shared",
                                                             "kube")
CRDS = os.path.join(KUBE_DIR, "crds", "gateway-api-v1.6.1-experimental.yaml")


class APIError(Exception):
    def __init__(self, code, body, what=""):
        self.code = code
        self.body = body
        try:
            msg = json.loads(body).get("message") or ""
        except (ValueError, AttributeError):
            msg = (body or b"")[:200].decode("utf-8", "replace") if isinstance(body, bytes) \
                else str(body)[:200]
        self.message = msg
        super().__init__(f"{what}: {code} {msg}")


class Client:
    """One keep-alive HTTPS connection, serialised by a lock (threads share it)."""

    def __init__(self, url, token, ca_file=None, ca_data=None, timeout=30.0):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port or 443
        self.token = token
        self.timeout = timeout
        self.ctx = ssl.create_default_context()
        if ca_file:
            self.ctx.load_verify_locations(ca_file)
        elif ca_data:
            self.ctx.load_verify_locations(cadata=ca_data)
        self.lock = threading.Lock()
        self.conn = None
        self.resources = {}   # (apiVersion, kind) -> (base path, plural, namespaced)
        self.groups = None

    @classmethod
    def from_state_dir(cls, d):
        with open(os.path.join(d, "url")) as fh:
            url = fh.read().strip()
        with open(os.path.join(d, "admin-token")) as fh:
            token = fh.read().strip()
        return cls(url, token, ca_file=os.path.join(d, "ca.crt"))

    @classmethod
    def from_kubeconfig(cls, path, context=None):
        import yaml
        with open(path) as fh:
            kc = yaml.safe_load(fh)
        ctxname = context or kc.get("current-context")
        ctx = next(c["context"] for c in kc["contexts"] if c["name"] == ctxname)
        cl = next(c["cluster"] for c in kc["clusters"] if c["name"] == ctx["cluster"])
        us = next(u["user"] for u in kc["users"] if u["name"] == ctx["user"])
        ca = cl.get("certificate-authority-data")
        return cls(cl["server"], us.get("token"),
                   ca_file=cl.get("certificate-authority"),
                   ca_data=base64.b64decode(ca).decode() if ca else None)

    # ---- raw requests ----------------------------------------------------------

    def request(self, method, path, body=None, ctype="application/json"):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = ctype
        with self.lock:
            for attempt in (0, 1):
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection(self.host, self.port,
                                                            context=self.ctx,
                                                            timeout=self.timeout)
                try:
                    self.conn.request(method, path, body=data, headers=headers)
                    r = self.conn.getresponse()
                    raw = r.read()
                    break
                except (OSError, http.client.HTTPException) as e:
                    self.conn.close()
                    self.conn = None
                    if attempt:
                        raise APIError(0, str(e).encode(), f"{method} {path}")
        if r.status >= 300:
            raise APIError(r.status, raw, f"{method} {path}")
        return json.loads(raw) if raw else {}

    def close(self):
        with self.lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None

    # ---- discovery --------------------------------------------------------------

    def resource(self, api_version, kind):
        key = (api_version, kind)
        if key not in self.resources:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            try:
                doc = self.request("GET", base)
            except APIError as e:
                raise RunnerError(f"discovery of {api_version}: {e}")
            for r in doc.get("resources") or []:
                if "/" not in r["name"]:
                    self.resources[(api_version, r["kind"])] = (base, r["name"],
                                                                r.get("namespaced", True))
            if key not in self.resources:
                raise RunnerError(f"the API server does not serve {kind} in {api_version}")
        return self.resources[key]

    def preferred_version(self, group):
        if self.groups is None:
            self.groups = {g["name"]: g["preferredVersion"]["groupVersion"]
                           for g in self.request("GET", "/apis").get("groups") or []}
            self.groups[""] = "v1"
        return self.groups.get(group)

    def path(self, api_version, kind, namespace=None, name=None, sub=None):
        base, plural, namespaced = self.resource(api_version, kind)
        p = base
        if namespaced and namespace:
            p += f"/namespaces/{namespace}"
        p += f"/{plural}"
        if name:
            p += f"/{name}"
        if sub:
            p += f"/{sub}"
        return p

    # ---- verbs ------------------------------------------------------------------

    def get(self, obj_or_ref, api_version=None):
        av, ref = _av_ref(obj_or_ref, api_version)
        return self.request("GET", self.path(av, ref.kind, ref.namespace, ref.name))

    def create(self, obj):
        md = obj.get("metadata") or {}
        return self.request("POST", self.path(obj["apiVersion"], obj["kind"],
                                              md.get("namespace")), obj)

    def replace(self, obj):
        md = obj.get("metadata") or {}
        return self.request("PUT", self.path(obj["apiVersion"], obj["kind"], md.get("namespace"),
                                             md["name"]), obj)

    def json_patch(self, api_version, ref, ops):
        return self.request("PATCH", self.path(api_version, ref.kind, ref.namespace, ref.name),
                            ops, ctype="application/json-patch+json")

    def delete(self, api_version, ref):
        return self.request("DELETE", self.path(api_version, ref.kind, ref.namespace, ref.name))

    def list(self, api_version, kind):
        doc = self.request("GET", self.path(api_version, kind))
        items = doc.get("items") or []
        for it in items:
            it.setdefault("apiVersion", api_version)
            it.setdefault("kind", kind)
        return items


def _av_ref(obj_or_ref, api_version):
    if isinstance(obj_or_ref, Ref):
        return api_version, obj_or_ref
    return obj_or_ref["apiVersion"], Ref.of(obj_or_ref)


class APIServer:
    """The kube double as a subprocess; CRDs installed with
    `kubectl apply --server-side` (or --manifest when kubectl is missing)."""

    def __init__(self, workdir=None, log=None, crds=CRDS):
        self.own = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="gwconf-kube-")
        os.makedirs(self.dir, exist_ok=True)
        self.log = log or (lambda s: None)
        script = os.path.join(KUBE_DIR, "apiserver.py")
        if not os.path.isfile(script):
            raise RunnerError(f"no API server double at {script} (GW_KUBE_DOUBLE)")
        kubectl = shutil.which("kubectl")
        cmd = [sys.executable if sys.version_info >= (3, 11) else "python3", script, "--port", "0", "--state-dir", self.dir,
               "--bookmark-interval", "1"]
        if not kubectl:
            cmd += ["--manifest", crds]
        self.stderr_path = os.path.join(self.dir, "apiserver.log")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._err,
                                     stderr=self._err)
        url = os.path.join(self.dir, "url")
        deadline = time.monotonic() + 60
        while not (os.path.exists(url) and os.path.getsize(url) > 0):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RunnerError("kube API server double did not start: " + self.tail())
            time.sleep(0.05)
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        if kubectl:
            env = dict(os.environ, KUBECONFIG=self.kubeconfig)
            p = subprocess.run([kubectl, "apply", "--server-side", "-f", crds],
                               capture_output=True, text=True, env=env, timeout=120)
            if p.returncode != 0:
                self.close()
                raise RunnerError(f"kubectl apply --server-side -f {crds}: "
                                  f"{(p.stderr or p.stdout).strip()[:300]}")
            self.log(f"  CRDs installed with kubectl --server-side ({crds})")
        self.client = Client.from_state_dir(self.dir)

    def tail(self, n=5):
        try:
            with open(self.stderr_path, "rb") as fh:
                return " | ".join(fh.read().decode("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""

    def close(self):
        if getattr(self, "client", None) is not None:
            self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._err.close()
        if self.own:
            shutil.rmtree(self.dir, ignore_errors=True)


def cluster_scoped(kind):
    return kind in CLUSTER_SCOPED
