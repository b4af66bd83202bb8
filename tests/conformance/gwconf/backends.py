# SPDX-License-Identifier: Apache-2.0
"""The pods a cluster would run: echo replicas for Deployments, EndpointSlices.

For every Deployment of the echo image in the object set, `Pods.ensure`
keeps `replicas` echo processes running (`gatehouse echo`, or the command
given as `echo_cmd`, e.g. the independent ../shared/conformance/echo/echo.py), each on its own
loopback address (127.0.20.x, 127.0.21.x, ...; never reused during a run),
with POD_NAME `<deployment>-<hash>-<hash>`, NAMESPACE, the container's
env, and the Secret/ConfigMap files its volumeMounts name written to a
private directory (env values under a mountPath are rewritten to it). The
coredns Deployment is replaced by a tiny DNS responder (UDP, answers every
question). `endpoint_slices` writes what the EndpointSlice controller
would: for each Service with a selector, the ready replicas whose pod
labels match, ports by Service port name with the targetPort number.
"""
import base64
import hashlib
import ipaddress
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time

from .model import Ref

ECHO_IMAGE = "echo-basic"
DNS_IMAGE = "coredns"
START_WAIT = 20.0
STOP_WAIT = 5.0
_ALNUM = "bcdfghjklmnpqrstvwxz2456789"


def _hash(n, seed):
    rnd = random.Random(seed)
    return "".join(rnd.choice(_ALNUM) for _ in range(n))


class Replica:
    def __init__(self, deployment, ns, pod, addr, labels, tcp_ports, udp_ports):
        self.deployment, self.ns, self.pod, self.addr = deployment, ns, pod, addr
        self.labels = labels
        self.tcp_ports, self.udp_ports = tcp_ports, udp_ports
        self.lines = []
        self.lock = threading.Lock()
        self.proc = None
        self.dns = None
        self.ready = False
        self.problem = None

    def log(self):
        with self.lock:
            return list(self.lines)


class _DNSResponder(threading.Thread):
    """Answers every DNS question with one A record 127.0.0.1 (a coredns stand-in)."""

    def __init__(self, addr, port):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET,
                                  socket.SOCK_DGRAM)
        self.sock.bind((addr, port))
        self.sock.settimeout(0.2)
        self.stopping = False

    def run(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) < 12:
                continue
            q = data[12:]
            end = 0
            while end < len(q) and q[end] != 0:
                end += q[end] + 1
            question = q[:end + 5]
            answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x01"
            reply = (data[:2] + b"\x84\x00" + b"\x00\x01\x00\x01\x00\x00\x00\x00" + question +
                     answer)
            try:
                self.sock.sendto(reply, peer)
            except OSError:
                pass

    def stop(self):
        self.stopping = True
        self.join(2)
        self.sock.close()


def _udp_bound(addr, port):
    if ":" in addr:
        # /proc/net/udp6 prints each 32-bit word of the address in host order.
        raw = socket.inet_pton(socket.AF_INET6, addr)
        hexa = "".join(raw[i:i + 4][::-1].hex().upper() for i in range(0, 16, 4))
        table = "/proc/net/udp6"
    else:
        hexa = socket.inet_aton(addr)[::-1].hex().upper()
        table = "/proc/net/udp"
    want = f"{hexa}:{port:04X}"
    try:
        with open(table) as f:
            return any(want in line.split()[1:2] for line in f)
    except OSError:
        return False


def _deployment_key(obj):
    """What a restart depends on: the pod template (and the data it mounts)."""
    return json.dumps(obj.get("spec"), sort_keys=True)


class Pods:
    def __init__(self, binary, workdir, env=None, first_addr="127.0.20.1", log=None,
                 echo_cmd=None):
        self.binary = binary
        # The echo backend's argv before `--address ADDR`: `gatehouse echo`
        # by default; an independent implementation of ECHO.md when given.
        self.echo_cmd = list(echo_cmd) if echo_cmd else [binary, "echo"]
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.base_env = dict(env or {})
        self.next_addr = int(ipaddress.ip_address(first_addr))
        self.running = {}   # Ref(Deployment) -> (key, [Replica])
        self.log = log or (lambda s: None)
        self.lock = threading.Lock()

    # ---- addresses ---------------------------------------------------------------

    def _addr(self):
        while True:
            a = ipaddress.ip_address(self.next_addr)
            self.next_addr += 1
            last = int(a) & 0xFF
            if last in (0, 255):
                continue
            return str(a)

    # ---- lifecycle ---------------------------------------------------------------

    def ensure(self, store):
        """Starts/stops replicas so that they match the store's Deployments.

        Returns True when anything changed."""
        want = {}
        for ref in store.refs("Deployment"):
            obj = store.get(ref)
            img = self._image(obj)
            if ECHO_IMAGE in img or DNS_IMAGE in img:
                want[ref] = obj
        changed = False
        for ref in list(self.running):
            key, _ = self.running[ref]
            if ref not in want or _deployment_key(want[ref]) != key:
                self._stop(ref)
                changed = True
        for ref, obj in want.items():
            if ref not in self.running:
                self._start(ref, obj, store)
                changed = True
        return changed

    @staticmethod
    def _image(obj):
        cs = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers") or []
        return str(cs[0].get("image", "")) if cs else ""

    def _start(self, ref, obj, store):
        spec = obj.get("spec") or {}
        tmpl = spec.get("template") or {}
        labels = dict((tmpl.get("metadata") or {}).get("labels") or {})
        pspec = tmpl.get("spec") or {}
        c = (pspec.get("containers") or [{}])[0]
        n = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        rs = _hash(10, f"{ref}-{_deployment_key(obj)}")
        reps = []
        for i in range(n):
            pod = f"{ref.name}-{rs}-{_hash(5, f'{ref}-{i}-{time.monotonic_ns()}')}"
            addr = self._addr()
            if DNS_IMAGE in self._image(obj):
                r = Replica(ref.name, ref.namespace, pod, addr, labels, [], [53])
                try:
                    r.dns = _DNSResponder(addr, 53)
                    r.dns.start()
                except OSError as e:
                    r.problem = f"DNS responder on {addr}:53: {e}"
                reps.append(r)
                continue
            env, problem = self._env(ref, pod, c, pspec, store)
            tcp, udp = self._ports(env)
            r = Replica(ref.name, ref.namespace, pod, addr, labels, tcp, udp)
            if problem:
                r.problem = problem  # like a pod stuck in ContainerCreating
                reps.append(r)
                continue
            full = dict(self.base_env)
            full.update(env)
            errf = open(os.path.join(self.dir, f"{pod}.stderr"), "wb")
            r.proc = subprocess.Popen(self.echo_cmd + ["--address", addr], env=full,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=errf)
            errf.close()
            threading.Thread(target=self._reader, args=(r,), daemon=True).start()
            reps.append(r)
        self.running[ref] = (_deployment_key(obj), reps)
        self.log(f"  started {len(reps)} replica(s) of {ref}: "
                 f"{', '.join(r.pod + '@' + r.addr for r in reps)}")

    @staticmethod
    def _reader(r):
        for raw in r.proc.stdout:
            with r.lock:
                r.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def _env(self, ref, pod, c, pspec, store):
        env = {}
        mounts = {}
        vols = {v.get("name"): v for v in pspec.get("volumes") or []}
        for m in c.get("volumeMounts") or []:
            v = vols.get(m.get("name"))
            if v is None:
                return env, f"volume {m.get('name')} not defined"
            d = os.path.join(self.dir, pod, m.get("name"))
            os.makedirs(d, exist_ok=True)
            if "secret" in v:
                src = store.get(Ref("Secret", ref.namespace, v["secret"].get("secretName")))
                decode = True
                items = v["secret"].get("items")
            elif "configMap" in v:
                src = store.get(Ref("ConfigMap", ref.namespace, v["configMap"].get("name")))
                decode = False
                items = v["configMap"].get("items")
            else:
                return env, f"volume {m.get('name')}: unsupported kind"
            if src is None:
                return env, f"volume {m.get('name')}: its Secret/ConfigMap does not exist"
            data = src.get("data") or {}
            pairs = [(it["key"], it["path"]) for it in items] if items else \
                [(k, k) for k in data]
            for key, path in pairs:
                if key not in data:
                    return env, f"volume {m.get('name')}: no key {key}"
                raw = base64.b64decode(data[key]) if decode else str(data[key]).encode()
                with open(os.path.join(d, path), "wb") as fh:
                    fh.write(raw)
            mounts[m.get("mountPath", "").rstrip("/")] = d
        for e in c.get("env") or []:
            name = e.get("name")
            if "value" in e:
                val = str(e["value"])
                for mp, d in mounts.items():
                    if mp and (val == mp or val.startswith(mp + "/")):
                        val = d + val[len(mp):]
                env[name] = val
            else:
                fp = ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
                if fp == "metadata.name":
                    env[name] = pod
                elif fp == "metadata.namespace":
                    env[name] = ref.namespace
        env.setdefault("POD_NAME", pod)
        env.setdefault("NAMESPACE", ref.namespace)
        return env, None

    @staticmethod
    def _ports(env):
        if env.get("UDP_ECHO_SERVER"):
            return [], [int(env.get("UDP_PORT") or 8080)]
        if env.get("TCP_ECHO_SERVER"):
            tcp = [int(env.get("TCP_PORT") or 3000)]
            if env.get("TLS_SERVER_CERT") and env.get("TLS_SERVER_PRIV_KEY"):
                tcp.append(int(env.get("TLS_PORT") or 8443))
            return tcp, []
        if env.get("GRPC_ECHO_SERVER"):
            tcp = [int(env.get("HTTP_PORT") or 3000)]
            if env.get("TLS_SERVER_CERT") and env.get("TLS_SERVER_PRIV_KEY"):
                tcp.append(int(env.get("HTTPS_PORT") or 8443))
            return tcp, []
        tcp = [int(env.get("HTTP_PORT") or 3000), int(env.get("H2C_PORT") or 3001)]
        if env.get("TLS_SERVER_CERT") and env.get("TLS_SERVER_PRIVKEY"):
            tcp.append(int(env.get("HTTPS_PORT") or 8443))
        return tcp, []

    def wait_ready(self, timeout=START_WAIT):
        """Waits until every replica's ports accept. Returns problems (strings)."""
        deadline = time.monotonic() + timeout
        pending = [r for _, reps in self.running.values() for r in reps
                   if not r.ready and not r.problem]
        while pending:
            for r in list(pending):
                if r.proc is not None and r.proc.poll() is not None:
                    r.problem = f"echo {r.pod} exited with {r.proc.returncode}: " + \
                        self.stderr_tail(r)
                    pending.remove(r)
                    continue
                ok = all(_tcp_accepts(r.addr, p) for p in r.tcp_ports) and \
                    all(_udp_bound(r.addr, p) for p in r.udp_ports)
                if ok:
                    r.ready = True
                    pending.remove(r)
            if not pending:
                break
            if time.monotonic() > deadline:
                for r in pending:
                    r.problem = f"echo {r.pod} on {r.addr} did not open {r.tcp_ports}" \
                        f"{r.udp_ports} within {timeout} s"
                break
            time.sleep(0.02)
        return self.problems()

    def problems(self, namespaces=None):
        return [f"{r.ns}/{r.pod}: {r.problem}" for _, reps in self.running.values()
                for r in reps if r.problem and (namespaces is None or r.ns in namespaces)]

    def stderr_tail(self, r, n=5):
        try:
            with open(os.path.join(self.dir, f"{r.pod}.stderr"), "rb") as fh:
                lines = fh.read().decode("utf-8", "replace").splitlines()
            return " | ".join(lines[-n:])
        except OSError:
            return ""

    def _stop(self, ref):
        _, reps = self.running.pop(ref)
        for r in reps:
            if r.dns is not None:
                r.dns.stop()
            if r.proc is not None and r.proc.poll() is None:
                r.proc.send_signal(signal.SIGTERM)
        for r in reps:
            if r.proc is not None:
                try:
                    r.proc.wait(STOP_WAIT)
                except subprocess.TimeoutExpired:
                    r.proc.kill()
                    r.proc.wait(5)

    def close(self):
        for ref in list(self.running):
            self._stop(ref)

    # ---- what the cluster would publish ------------------------------------------

    def replicas(self, ns=None, deployment=None):
        return [r for ref, (_, reps) in self.running.items() for r in reps
                if (ns is None or ref.namespace == ns) and
                (deployment is None or ref.name == deployment)]

    def service_log(self, ns, svc, store):
        """The request log of the replicas behind Service ns/svc (its selector)."""
        obj = store.get(Ref("Service", ns, svc)) if store is not None else None
        sel = ((obj or {}).get("spec") or {}).get("selector")
        reps = self._selected(ns, sel) if sel else self.replicas(ns, svc)
        return [ln for r in reps for ln in r.log()]

    def _selected(self, ns, selector):
        return [r for r in self.replicas(ns) if r.labels and
                all(r.labels.get(k) == v for k, v in selector.items())]

    def service_endpoints(self, store, ns, svc, family="IPv4"):
        """[(address, pod, namespace)] of the ready replicas the Service selects."""
        obj = store.get(Ref("Service", ns, svc))
        if obj is None:
            return []
        sel = (obj.get("spec") or {}).get("selector")
        if not sel:
            return []
        want = 6 if family == "IPv6" else 4
        return [(r.addr, r.pod, r.ns) for r in self._selected(ns, sel)
                if r.ready and ipaddress.ip_address(r.addr).version == want]

    def endpoint_slices(self, store):
        out = []
        for ref in store.refs("Service"):
            svc = store.get(ref)
            spec = svc.get("spec") or {}
            sel = spec.get("selector")
            if not sel:
                continue
            reps = [r for r in self._selected(ref.namespace, sel) if r.ready]
            ports = []
            for p in spec.get("ports") or []:
                tp = p.get("targetPort", p.get("port"))
                try:
                    tp = int(tp)
                except (TypeError, ValueError):
                    continue
                ep = {"name": p.get("name", ""), "port": tp, "protocol": p.get("protocol", "TCP")}
                if p.get("appProtocol"):
                    ep["appProtocol"] = p["appProtocol"]
                ports.append(ep)
            h = hashlib.sha1(str(ref).encode()).hexdigest()[:5]
            # One slice per address family, as the EndpointSlice controller
            # writes them (an IPv6 run's replicas have IPv6 addresses).
            v6 = [r for r in reps if ":" in r.addr]
            if v6:
                out.append(_slice_doc(ref, f"{ref.name}-{h}6", "IPv6", ports, v6))
                reps = [r for r in reps if ":" not in r.addr]
                if not reps:
                    continue
            out.append({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": f"{ref.name}-{h}", "namespace": ref.namespace,
                             "labels": {"kubernetes.io/service-name": ref.name,
                                        "endpointslice.kubernetes.io/managed-by":
                                            "endpointslice-controller.k8s.io"},
                             "generation": 1},
                "addressType": "IPv4",
                "ports": ports,
                "endpoints": [{"addresses": [r.addr],
                               "conditions": {"ready": True, "serving": True,
                                              "terminating": False},
                               "targetRef": {"kind": "Pod", "name": r.pod,
                                             "namespace": r.ns}} for r in reps],
            })
        return out


def _slice_doc(ref, name, family, ports, reps):
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": ref.namespace,
                     "labels": {"kubernetes.io/service-name": ref.name,
                                "endpointslice.kubernetes.io/managed-by":
                                    "endpointslice-controller.k8s.io"},
                     "generation": 1},
        "addressType": family,
        "ports": ports,
        "endpoints": [{"addresses": [r.addr],
                       "conditions": {"ready": True, "serving": True, "terminating": False},
                       "targetRef": {"kind": "Pod", "name": r.pod, "namespace": r.ns}}
                      for r in reps],
    }


def _tcp_accepts(addr, port):
    try:
        socket.create_connection((addr, port), timeout=0.5).close()
        return True
    except OSError:
        return False
