# SPDX-License-Identifier: Apache-2.0
"""Gateway drivers: how the runner puts objects in front of gatehouse and reads status back.

The runner only talks to a GatewayDriver:

  sync(store)          make the gateway see exactly the store's objects
  statuses()           the latest Snapshot of object statuses
  diagnostics()        what the gateway printed about the last sync (for failure reports)
  pods_ready(ns)       readiness of the backends the runner started in those namespaces
  cleanup(base)        back to the base objects after a case
  now() / sleep(s)     the clock creationTimestamps come from
  deterministic        True when status only changes on sync (wait-until = evaluate once)
  can_send_traffic     True when traffic checks can run
  target(gw, port)     (host, port) to send a case's traffic to (RunDriver)

CheckDriver runs `gatehouse check -o json` on a temp directory per sync.
RunDriver keeps one `gatehouse run` watching a directory, starts echo
backends for the Deployments, and reads the admin API. KubeDriver is
RunDriver with a Kubernetes API server (the double) in place of the
directory and of the admin /status: objects and statuses go through the API.
"""
import copy
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from .judge import Snapshot
from .model import Ref, RunnerError

# Kinds a Kubernetes gateway controller watches; the rest (Deployments...)
# is the runner's business (it starts backends for them).
WATCHED_KINDS = frozenset({
    "GatewayClass", "Gateway", "ListenerSet", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute",
    "UDPRoute", "ReferenceGrant", "BackendTLSPolicy", "Service", "EndpointSlice", "Secret",
    "ConfigMap", "Namespace",
})


class DriverError(Exception):
    """The gateway under test did not give a usable answer (crash, bad output)."""


def gateway_objects(store):
    return [o for o in store if o.get("kind") in WATCHED_KINDS]


def _tail(text, n=6):
    lines = [ln for ln in (text or "").splitlines() if ln.strip()]
    return lines[-n:]


class GatewayDriver:
    deterministic = False
    can_send_traffic = False
    poll_interval = 0.1

    def sync(self, store, writes=()):
        raise NotImplementedError

    def statuses(self):
        raise NotImplementedError

    def diagnostics(self):
        return []

    def pods_ready(self, namespaces):
        return True, ""

    def cleanup(self, base):
        self.sync(base)

    def now(self):
        return datetime.datetime.now(datetime.timezone.utc)

    def sleep(self, seconds):
        time.sleep(seconds)

    def target(self, gateway, port):
        raise NotImplementedError("this driver sends no traffic")

    def close(self):
        pass


class CheckDriver(GatewayDriver):
    """One `gatehouse check -f DIR -o json --address-pool CIDR` per sync.

    gatehouse check is a pure function of its input, so status never
    changes between syncs: deterministic. The clock is virtual (one second
    per sync, plus every sleep), so creationTimestamps order objects the way
    the case applied them without the runner having to wait.
    """

    deterministic = True

    def __init__(self, binary, address_pool, workdir=None, extra_args=(), timeout=120):
        self.binary = binary
        self.pool = address_pool
        self.extra = list(extra_args)
        self.timeout = timeout
        self._own = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="gwconf-check-")
        self._clock = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        self._snap = Snapshot()
        self._diag = []
        self.runs = 0

    @staticmethod
    def supports_json(binary):
        try:
            out = subprocess.run([binary, "check", "--help"], capture_output=True, text=True,
                                 timeout=30)
        except OSError:
            return False
        return re.search(r"(^|[\s,\[])(-o|--output)\b", out.stdout + out.stderr) is not None

    def now(self):
        return self._clock

    def sleep(self, seconds):
        self._clock += datetime.timedelta(seconds=float(seconds))

    def command(self):
        return [self.binary, "check", "-f", self.manifests_dir, "-o", "json", "--address-pool",
                self.pool] + self.extra

    @property
    def manifests_dir(self):
        return os.path.join(self.dir, "manifests")

    def _write(self, store):
        d = self.manifests_dir
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for i, obj in enumerate(gateway_objects(store)):
            md = obj["metadata"]
            name = f"{i:04d}-{obj['kind']}-{md.get('namespace') or '_'}-{md['name']}.json"
            with open(os.path.join(d, name), "w") as fh:
                json.dump(obj, fh, indent=1)

    def sync(self, store, writes=()):
        self._write(store)
        self._clock += datetime.timedelta(seconds=1)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        self.runs += 1
        try:
            proc = subprocess.run(self.command(), capture_output=True, text=True,
                                  timeout=self.timeout, env=env)
        except subprocess.TimeoutExpired:
            raise DriverError(f"gatehouse check timed out after {self.timeout} s")
        self._diag = _tail(proc.stderr, 20)
        if proc.returncode not in (0, 1):
            raise DriverError(f"gatehouse check exited {proc.returncode}: "
                              + " | ".join(_tail(proc.stderr) or _tail(proc.stdout)))
        try:
            doc = json.loads(proc.stdout)
        except ValueError as e:
            raise DriverError(f"gatehouse check -o json printed no JSON ({e}); exit "
                              f"{proc.returncode}; stdout starts {proc.stdout[:200]!r}; stderr: "
                              + " | ".join(_tail(proc.stderr)))
        try:
            self._snap = Snapshot.from_list(doc)
        except RunnerError as e:
            raise DriverError(f"gatehouse check -o json: {e}")

    def statuses(self):
        return self._snap

    def diagnostics(self):
        return list(self._diag)

    def cleanup(self, base):
        # Every sync writes the whole object set, so the next case starts
        # from the base objects anyway; no gatehouse run needed here.
        pass

    def close(self):
        if self._own:
            shutil.rmtree(self.dir, ignore_errors=True)


class RunDriver(GatewayDriver):
    """One long-running `gatehouse run` for the whole run.

    sync() starts or stops the echo replicas of the store's Deployments
    (backends.Pods), then writes the watched kinds plus the EndpointSlices
    of the running replicas into the watched directory, one JSON file per
    object (temp file + rename; removed objects are unlinked; unchanged files
    are left alone), and waits (bounded) until a reload that started after
    the last write has ended and /readyz says the data plane serves it.
    statuses() GETs the admin /status; the runner polls it every 100 ms with
    the upstream timeouts. target() maps a Gateway to status.addresses[0].
    """

    can_send_traffic = True
    BARRIER_WAIT = 15.0

    def __init__(self, binary, address_pool, workdir, workers=2, log=None, extra_args=(),
                 pods_first_addr="127.0.20.1", echo_cmd=None):
        from .backends import Pods
        os.makedirs(workdir, exist_ok=True)
        self.dir = workdir
        # A private copy: the build directory may be relinked while we run.
        self.binary = os.path.join(workdir, "gatehouse")
        shutil.copy2(binary, self.binary)
        self.cfg = os.path.join(workdir, "config")
        os.makedirs(self.cfg, exist_ok=True)
        self.log = log or (lambda s: None)
        self.env = dict(os.environ)
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        self.env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        self.pods = Pods(self.binary, os.path.join(workdir, "pods"), env=self.env,
                         first_addr=pods_first_addr, log=self.log, echo_cmd=echo_cmd)
        self.files = {}        # file name -> content written
        self.store = None
        self._snap = Snapshot()
        self._errors = []
        self.admin_port = _free_port()
        self._start_gatehouse(["run", "-f", self.cfg, "--address-pool", address_pool,
                               "--admin", f"127.0.0.1:{self.admin_port}",
                               "--workers", str(workers)] + list(extra_args))

    def _start_gatehouse(self, args, up_wait=30):
        self.stderr_path = os.path.join(self.dir, "gatehouse.stderr")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary] + list(args), env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self._err)
        deadline = time.monotonic() + up_wait
        while True:
            if self.proc.poll() is not None:
                raise DriverError(f"gatehouse run exited {self.proc.returncode} at start: "
                                  + " | ".join(self.stderr_tail()))
            try:
                self._get("/healthz", timeout=1)
                break
            except (OSError, DriverError):
                if time.monotonic() > deadline:
                    raise DriverError(f"gatehouse run: admin API not up within {up_wait} s")
                time.sleep(0.05)

    # ---- admin API ---------------------------------------------------------------

    def _get(self, path, timeout=5.0, tries=2):
        """GET path from the admin server; a connection the server reset
        (it may shed connections under load) is tried once more."""
        import http.client
        for attempt in range(tries):
            c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
            try:
                c.request("GET", path)
                r = c.getresponse()
                body = r.read()
                return r.status, body
            except (ConnectionResetError, http.client.RemoteDisconnected) as e:
                self._check_alive()
                if attempt + 1 == tries:
                    raise DriverError(f"admin {path}: {e}")
            except (OSError, http.client.HTTPException) as e:
                self._check_alive()
                raise DriverError(f"admin {path}: {e}")
            finally:
                c.close()

    def _check_alive(self):
        if self.proc.poll() is not None:
            raise DriverError(f"gatehouse run exited {self.proc.returncode}: "
                              + " | ".join(self.stderr_tail()))

    def stderr_tail(self, n=8):
        try:
            self._err.flush()
            with open(self.stderr_path, "rb") as fh:
                return _tail(fh.read().decode("utf-8", "replace"), n)
        except OSError:
            return []

    def _metric(self, text, name):
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    # ---- sync --------------------------------------------------------------------

    def sync(self, store, writes=()):
        self._check_alive()
        self.store = store
        if self.pods.ensure(store):
            problems = self.pods.wait_ready()
            for p in problems:
                self.log(f"  pod problem: {p}")
        objs = gateway_objects(store) + self.pods.endpoint_slices(store)
        want = {}
        for obj in objs:
            md = obj["metadata"]
            name = f"{obj['kind']}-{md.get('namespace') or '_'}-{md['name']}.json"
            want[name] = json.dumps(obj, indent=1, sort_keys=True)
        t_last = None
        for name in sorted(set(self.files) - set(want)):
            t_last = time.time()
            try:
                os.unlink(os.path.join(self.cfg, name))
            except FileNotFoundError:
                pass
            del self.files[name]
        for name, text in sorted(want.items()):
            if self.files.get(name) == text:
                continue
            tmp = os.path.join(self.cfg, "." + name + ".tmp")
            with open(tmp, "w") as fh:
                fh.write(text)
            t_last = time.time()
            os.rename(tmp, os.path.join(self.cfg, name))
            self.files[name] = text
        if t_last is not None:
            self._barrier(t_last)

    def _barrier(self, t_last):
        """Until a reload that started after t_last has ended and /readyz is 200."""
        deadline = time.monotonic() + self.BARRIER_WAIT
        while time.monotonic() < deadline:
            try:
                st, body = self._get("/metrics")
                text = body.decode("utf-8", "replace")
                end = self._metric(text, "gatehouse_config_last_reload_timestamp_seconds")
                dur = self._metric(text, "gatehouse_config_last_reload_duration_seconds") or 0
                if st == 200 and end is not None and end - dur >= t_last - 0.002:
                    rst, _ = self._get("/readyz")
                    if rst == 200:
                        return
            except DriverError:
                self._check_alive()
            time.sleep(0.01)
        self.log("  sync: no reload observed within the barrier wait; going on")

    # ---- status ------------------------------------------------------------------

    def statuses(self):
        st, body = self._get("/status")
        if st != 200:
            raise DriverError(f"admin /status answered {st}: {body[:200]!r}")
        try:
            doc = json.loads(body)
        except ValueError as e:
            raise DriverError(f"admin /status is not JSON: {e}")
        self._errors = doc.get("errors") or []
        try:
            self._snap = Snapshot.from_list(doc)
        except RunnerError as e:
            raise DriverError(f"admin /status: {e}")
        return self._snap

    def diagnostics(self):
        out = []
        for e in self._errors[:5]:
            out.append(json.dumps(e)[:300] if not isinstance(e, str) else e[:300])
        return out + self.stderr_tail(6)

    def pods_ready(self, namespaces):
        probs = self.pods.problems(set(namespaces))
        return (not probs), "; ".join(probs[:3])

    def cleanup(self, base):
        self.sync(base)

    def target(self, gateway, port):
        ns, _, name = str(gateway).partition("/")
        ref = Ref("Gateway", ns, name)
        addrs = self.statuses().status(ref).get("addresses") or []
        if not addrs or not addrs[0].get("value"):
            raise TargetError(f"Gateway {gateway} has no status.addresses")
        return addrs[0]["value"], int(port)

    def backend_log(self, ns, svc):
        return self.pods.service_log(ns, svc, self.store)

    def service_endpoints(self, store, ns, svc, family="IPv4"):
        """[(address, pod, namespace)] of the ready replicas behind Service ns/svc."""
        return self.pods.service_endpoints(store, ns, svc, family)

    def pod_addresses(self, ns, deployment):
        return [(r.addr, r.pod) for r in self.pods.replicas(ns, deployment) if r.ready]

    def close(self):
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        finally:
            self.pods.close()
            self._err.close()


class KubeDriver(RunDriver):
    """`gatehouse run --kubernetes` against the kube API server double.

    Starts the double (gwconf.kube.APIServer: CRDs installed with `kubectl
    apply --server-side`), then one `gatehouse run --kubernetes --kubeconfig
    ...` with leader election on. sync() writes the store's objects (every
    kind: Namespaces first, then in creation order) and the EndpointSlices of
    the running replicas through the API: create, or GET + PUT with the
    current resourceVersion; a mutation the runner made as a JSON Patch is
    sent as one (PATCH application/json-patch+json); objects gone from the
    store are DELETEd (Namespaces last). The API's generation, uid,
    resourceVersion and creationTimestamp are copied back into the store, so
    the judges compare against what the API server says. statuses() lists
    every Gateway API kind of the store (and GatewayClass) from the API.
    """

    # Status judges poll and traffic checks retry anyway; a translation that
    # never comes (a write gatehouse ignores) should not cost 15 s.
    BARRIER_WAIT = 5.0

    def __init__(self, binary, address_pool, workdir, workers=2, log=None, extra_args=(),
                 pods_first_addr="127.0.20.1", kube_args=(), echo_cmd=None):
        from .backends import Pods
        from .kube import APIServer
        os.makedirs(workdir, exist_ok=True)
        self.dir = workdir
        self.binary = os.path.join(workdir, "gatehouse")
        shutil.copy2(binary, self.binary)
        self.log = log or (lambda s: None)
        self.env = dict(os.environ)
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        self.env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        self.pods = Pods(self.binary, os.path.join(workdir, "pods"), env=self.env,
                         first_addr=pods_first_addr, log=self.log, echo_cmd=echo_cmd)
        self.store = None
        self._snap = Snapshot()
        self._errors = []
        self.written = {}          # Ref -> (apiVersion, body text last written)
        self.rvs = {}              # Ref -> resourceVersion of the last write
        self.proc = None
        self._err = None
        self.api = None
        try:
            self.api = APIServer(os.path.join(workdir, "kube"), log=self.log)
        except RunnerError as e:
            self.pods.close()
            raise DriverError(str(e))
        self.client = self.api.client
        self.admin_port = _free_port()
        try:
            self._start_gatehouse(["run", "--kubernetes", "--kubeconfig", self.api.kubeconfig,
                                   "--address-pool", address_pool,
                                   "--admin", f"127.0.0.1:{self.admin_port}",
                                   "--workers", str(workers)] + list(kube_args) +
                                  list(extra_args), up_wait=60)
        except DriverError:
            self.close()
            raise

    # ---- writes ------------------------------------------------------------------

    @staticmethod
    def _body(obj):
        body = copy.deepcopy(obj)
        body.pop("status", None)
        md = body.get("metadata") or {}
        body["metadata"] = {k: v for k, v in md.items() if k in (
            "name", "namespace", "labels", "annotations", "ownerReferences", "finalizers")}
        return body

    def _api_call(self, what, fn, *a):
        from .kube import APIError
        try:
            return fn(*a)
        except APIError as e:
            if e.code == 0:
                raise DriverError(f"API server unreachable: {e}")
            raise RunnerError(f"API server refused {what}: {e.code} {e.message}")

    def _put(self, body):
        from .kube import APIError
        for attempt in range(3):
            cur = self._api_call("GET", self.client.get, body)
            b = copy.deepcopy(body)
            b["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            if b.get("kind") == "Service":
                cspec, bspec = cur.get("spec") or {}, b.setdefault("spec", {})
                for k in ("clusterIP", "clusterIPs"):
                    if k in cspec and k not in bspec:
                        bspec[k] = cspec[k]
            try:
                return self.client.replace(b)
            except APIError as e:
                if e.code != 409 or attempt == 2:
                    return self._api_call(f"PUT {Ref.of(body)}", self.client.replace, b)

    def _write(self, ref, obj, patch):
        from .kube import APIError
        body = self._body(obj)
        av = body.get("apiVersion") or "v1"
        if ref in self.written and patch is not None:
            return self._api_call(f"PATCH {ref}", self.client.json_patch, av, ref, patch)
        if ref in self.written:
            return self._put(body)
        try:
            return self.client.create(body)
        except APIError as e:
            if e.code == 409:
                return self._put(body)
            if e.code == 0:
                raise DriverError(f"API server unreachable: {e}")
            raise RunnerError(f"API server refused creating {ref}: {e.code} {e.message}")

    @staticmethod
    def _adopt(store, ref, resp):
        obj = store.objects.get(ref) if store is not None else None
        rmd = (resp or {}).get("metadata") or {}
        if obj is None or not rmd:
            return
        md = obj["metadata"]
        for k in ("generation", "uid", "resourceVersion", "creationTimestamp"):
            if k in rmd:
                md[k] = rmd[k]

    def sync(self, store, writes=()):
        from .kube import APIError
        self._check_alive()
        self.store = store
        if self.pods.ensure(store):
            for p in self.pods.wait_ready():
                self.log(f"  pod problem: {p}")
        patches = {w[1]: w[2] for w in writes if w[0] == "patch"}
        want = {}
        for obj in store:
            want[Ref.of(obj)] = obj
        for es in self.pods.endpoint_slices(store):
            want[Ref.of(es)] = es
        t_last = None
        gone = sorted((r for r in self.written if r not in want),
                      key=lambda r: r.kind == "Namespace")
        # t_last: the last write gatehouse gets a watch event for (a watched
        # kind, and not a no-op: the API server drops writes that change nothing).
        for ref in gone:
            av = self.written.pop(ref)[0]
            self.rvs.pop(ref, None)
            try:
                self.client.delete(av, ref)
            except APIError as e:
                if e.code == 0:
                    raise DriverError(f"API server unreachable: {e}")
                if e.code != 404:
                    raise RunnerError(f"API server refused deleting {ref}: {e.code} {e.message}")
                continue
            if ref.kind in WATCHED_KINDS:
                t_last = time.time()
        order = sorted(want.items(), key=lambda kv: kv[0].kind != "Namespace")
        for ref, obj in order:
            text = json.dumps(self._body(obj), sort_keys=True)
            if self.written.get(ref, (None, None))[1] == text:
                continue
            resp = self._write(ref, obj, patches.get(ref))
            self.written[ref] = (obj.get("apiVersion") or "v1", text)
            self._adopt(store, ref, resp)
            rv = ((resp or {}).get("metadata") or {}).get("resourceVersion")
            if ref.kind in WATCHED_KINDS and (rv is None or rv != self.rvs.get(ref)):
                t_last = time.time()
            self.rvs[ref] = rv
        if t_last is not None:
            self._barrier(t_last)

    def _barrier(self, t_last):
        """Until a reload that started after t_last has ended (or, without that
        metric, 0.3 s after the write) and /readyz is 200."""
        deadline = time.monotonic() + self.BARRIER_WAIT
        while time.monotonic() < deadline:
            try:
                st, body = self._get("/metrics")
                text = body.decode("utf-8", "replace")
                end = self._metric(text, "gatehouse_config_last_reload_timestamp_seconds")
                dur = self._metric(text, "gatehouse_config_last_reload_duration_seconds") or 0
                fresh = (end - dur >= t_last - 0.002) if end is not None else \
                    time.time() - t_last >= 0.3
                if fresh and self._get("/readyz")[0] == 200:
                    return
            except DriverError:
                self._check_alive()
            time.sleep(0.02)
        self.log("  sync: gatehouse not ready with the new objects within the barrier wait")

    # ---- status ------------------------------------------------------------------

    # Core v1 kinds generated_resources may name.
    LABELLED_PLURALS = {"Service": "services", "Pod": "pods",
                        "ServiceAccount": "serviceaccounts"}

    def list_labelled(self, kind, namespace, labels):
        """Objects of a core kind in namespace with every label of labels."""
        plural = self.LABELLED_PLURALS.get(kind)
        if plural is None:
            raise DriverError(f"generated_resources: cannot list kind {kind}")
        from urllib.parse import quote
        sel = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        path = f"/api/v1/namespaces/{namespace}/{plural}?labelSelector={quote(sel)}"
        return self.client.request("GET", path).get("items") or []

    def statuses(self):
        from .kube import APIError
        kinds = {("gateway.networking.k8s.io/v1", "GatewayClass")}
        for obj in (self.store or ()):
            av = obj.get("apiVersion") or ""
            if av.startswith("gateway.networking.") and obj["kind"] in WATCHED_KINDS:
                kinds.add((av, obj["kind"]))
        items = []
        try:
            for av, kind in sorted(kinds):
                items.extend(self.client.list(av, kind))
        except APIError as e:
            raise DriverError(f"API server: {e}")
        self._snap = Snapshot(items)
        return self._snap

    def diagnostics(self):
        return self.stderr_tail(8)

    def close(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        finally:
            self.pods.close()
            if self._err is not None:
                self._err.close()
            if self.api is not None:
                self.api.close()

    @staticmethod
    def supported(binary):
        try:
            out = subprocess.run([binary, "run", "--help"], capture_output=True, text=True,
                                 timeout=30)
        except OSError:
            return False
        return "--kubernetes" in out.stdout + out.stderr


class TargetError(DriverError):
    """A traffic target cannot be resolved (e.g. the Gateway has no address)."""


def _free_port():
    import socket
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()
