# SPDX-License-Identifier: Apache-2.0
"""Helpers and fixtures for the end-to-end tests of `gatehouse run` (the
gateway: controller + data plane) and `gatehouse check`.

A test describes a small cluster as manifests in a config directory: a
GatewayClass (controllerName gatehouse.dev/gateway-controller), one Gateway
whose spec.addresses is a loopback address picked for the test, HTTPRoutes,
and for every backend a Service plus an EndpointSlice that points at
`gatehouse echo` processes started on other loopback addresses (POD_NAME
`<svc>-<hash>-<hash>`, so the echo reply says which backend answered).
Then `gatehouse run -f DIR --admin 127.0.0.1:PORT --workers 2` is started,
/readyz is polled (bounded), and the test talks to the Gateway with the raw
HTTP/1.1 client of echoclient.py. At teardown the gateway gets SIGTERM and
must exit 0 with no sanitizer report on stderr; the echo processes likewise.

* `gatehouse_run` (session): the binary, once its --help lists `run`. Until
  then every test that needs it is skipped, unless GW_E2E_REQUIRE_RUN=1.
* `stack` (function): a `Stack` -- backends(), write_config(), start().
* `Stack` can also be driven by hand from a module-scoped fixture
  (test_hostile.py does, to replay hundreds of cases against one gateway).

Import the fixtures into a test module with
`from gateway import gatehouse_run, stack  # noqa: F401`.
"""
import contextlib
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest
import yaml

from conftest import (SANITIZER_MARKS, EarlyExit, EchoProcess, base_env, pick_address,
                      pod_name, random_ports)
from echoclient import H1, Response, build_request  # noqa: F401 - re-exported

CONTROLLER = "gatehouse.dev/gateway-controller"
CLASS = "gatehouse"
NS = "e2e"
READY_WAIT = float(os.environ.get("GW_E2E_READY_WAIT", "30"))
STOP_WAIT = 15.0
LOG_LINE = re.compile(r"^Echoing back request made to (\S*) to client \((.*)\)$")


# ------------------------------------------------------------------ binary

def _help_lists(binary, command):
    try:
        out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(line.split()[:1] == [command] for line in (out.stdout + out.stderr).splitlines())


def require_run(binary):
    """Skips (or fails with GW_E2E_REQUIRE_RUN=1) while `run` is missing."""
    if not _help_lists(binary, "run"):
        msg = f"{binary} --help does not list the `run` subcommand yet"
        if os.environ.get("GW_E2E_REQUIRE_RUN") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return binary


@pytest.fixture(scope="session")
def gatehouse_run(gatehouse):
    return require_run(gatehouse)


def free_port(addr="127.0.0.1"):
    s = socket.socket()
    try:
        s.bind((addr, 0))
        return s.getsockname()[1]
    finally:
        s.close()


# -------------------------------------------------------------- manifests

def gateway_class(name=CLASS):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
            "metadata": {"name": name}, "spec": {"controllerName": CONTROLLER}}


def namespace(name=NS):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}}


def listener(name, port, protocol="HTTP", hostname=None, allowed_from=None, tls=None):
    lst = {"name": name, "port": port, "protocol": protocol}
    if hostname:
        lst["hostname"] = hostname
    if allowed_from:
        lst["allowedRoutes"] = {"namespaces": {"from": allowed_from}}
    if tls:
        lst["tls"] = tls
    return lst


def gateway_obj(name, addr, listeners, ns=NS):
    spec = {"gatewayClassName": CLASS, "listeners": listeners}
    if addr:
        spec["addresses"] = [{"type": "IPAddress", "value": addr}]
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def service_obj(name, ports, ns=NS):
    """ports: list of dicts {name, port, targetPort, appProtocol?, protocol?}
    (protocol TCP unless given)."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app": name},
                     "ports": [dict({"protocol": "TCP"}, **p) for p in ports]}}


def endpointslice_obj(service, addrs, ports, ns=NS, name=None):
    """ports: list of dicts {name, port, appProtocol?, protocol?} (protocol TCP
    unless given); addrs: IPv4 strings."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name or f"{service}-1", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "ports": [dict({"protocol": "TCP"}, **p) for p in ports],
            "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addrs]}


def httproute(name, rules, hostnames=None, parents=None, ns=NS):
    spec = {"parentRefs": parents or [{"name": "gw"}], "rules": rules}
    if hostnames:
        spec["hostnames"] = hostnames
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def backend(name, port=80, weight=None, ns=None, **extra):
    ref = {"name": name, "port": port}
    if weight is not None:
        ref["weight"] = weight
    if ns:
        ref["namespace"] = ns
    ref.update(extra)
    return ref


def prefix(value):
    return {"path": {"type": "PathPrefix", "value": value}}


def exact(value):
    return {"path": {"type": "Exact", "value": value}}


def dump(objs):
    return yaml.safe_dump_all(objs, sort_keys=False, default_flow_style=False)


# ------------------------------------------------------------------ echo

class Backend:
    """A Service with `replicas` echo processes sharing one port number."""

    def __init__(self, name, ns, procs, port, h2c_port):
        self.name, self.ns, self.procs = name, ns, procs
        self.port, self.h2c_port = port, h2c_port

    @property
    def addrs(self):
        return [p.addr for p in self.procs]

    @property
    def pods(self):
        return [p.env["POD_NAME"] for p in self.procs]

    def service(self, app_protocols=False):
        ports = [{"name": "http", "port": 80, "targetPort": self.port}]
        if app_protocols:
            ports += [{"name": "h2c", "port": 8081, "targetPort": self.h2c_port,
                       "appProtocol": "kubernetes.io/h2c"},
                      {"name": "ws", "port": 8082, "targetPort": self.port,
                       "appProtocol": "kubernetes.io/ws"}]
        return service_obj(self.name, ports, ns=self.ns)

    def slice(self, procs=None, app_protocols=False):
        procs = self.procs if procs is None else procs
        ports = [{"name": "http", "port": self.port}]
        if app_protocols:
            ports += [{"name": "h2c", "port": self.h2c_port, "appProtocol": "kubernetes.io/h2c"},
                      {"name": "ws", "port": self.port, "appProtocol": "kubernetes.io/ws"}]
        return endpointslice_obj(self.name, [p.addr for p in procs], ports, ns=self.ns)

    def objects(self, app_protocols=False):
        return [self.service(app_protocols), self.slice(app_protocols=app_protocols)]

    def log_lines(self):
        return [ln for p in self.procs for ln in list(p.lines)]

    def wait_log(self, pred, timeout=10.0):
        """Waits until any replica's stdout has a line satisfying pred."""
        deadline = time.monotonic() + timeout
        while True:
            for p in self.procs:
                with p.cond:
                    for ln in p.lines:
                        if pred(ln):
                            return ln
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line of {self.name} matches within {timeout} s; "
                                     f"last lines: {self.log_lines()[-10:]!r}")
            time.sleep(0.02)


def backend_of(resp):
    """The deployment (service) name of the echo that answered."""
    j = resp.json()
    return j["pod"].rsplit("-", 2)[0]


# ---------------------------------------------------------------- metrics

METRIC_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric_value(text, series, total=False, **labels):
    """A sample's value from Prometheus exposition text, or None if there is
    none. series is a metric name, or a whole series written out
    ('name{k="v"}', matched exactly); labels= keeps the samples of that name
    whose labels include these. total=True sums every sample that matches
    (all label sets of a name; 0 when none) instead of taking the first."""
    found = 0.0 if total else None
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        key, value = ln.rsplit(" ", 1)
        if "{" in series:
            if key != series:
                continue
        else:
            name, _, rest = key.partition("{")
            if name != series:
                continue
            have = dict(METRIC_LABEL.findall(rest))
            if any(have.get(k) != str(v) for k, v in labels.items()):
                continue
        if not total:
            return float(value)
        found += float(value)
    return found


# ---------------------------------------------------------------- gateway

class GatewayProcess:
    """One running `gatehouse run`."""

    def __init__(self, binary, cfgdir, logdir, workers=2, args=(), env=None, admin_port=None,
                 argv=None):
        """argv: what runs instead of `gatehouse run -f cfgdir` (the admin,
        workers and args are added to it)."""
        self.admin_port = admin_port or free_port()
        self.argv = (argv or [binary, "run", "-f", cfgdir]) + [
            "--admin", f"127.0.0.1:{self.admin_port}", "--workers", str(workers), *args]
        stamp = time.monotonic_ns()
        self.stdout_path = os.path.join(logdir, f"gatehouse-{stamp}.stdout")
        self.stderr_path = os.path.join(logdir, f"gatehouse-{stamp}.stderr")
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.argv, env=env or base_env(), stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err)
        self.stopped = False
        self.returncode = None

    def _read(self, path, f):
        if not f.closed:
            f.flush()
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")

    def stdout(self):
        return self._read(self.stdout_path, self._out)

    def stderr(self):
        return self._read(self.stderr_path, self._err)

    def logs(self):
        return self.stdout() + "\n" + self.stderr()

    def admin(self, path, method="GET", timeout=5.0):
        """(status, body bytes, Response) from the admin listener."""
        with H1("127.0.0.1", self.admin_port, timeout=timeout) as c:
            r = c.request(method, path, host=f"127.0.0.1:{self.admin_port}")
        return r.status, r.body, r

    def wait_ready(self, timeout=READY_WAIT):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"gatehouse run exited early with {self.proc.returncode}; "
                                     f"stderr: {self.stderr()[-4000:]}")
            try:
                status, body, _ = self.admin("/readyz", timeout=1.0)
                if status == 200:
                    return
                last = f"{status} {body[:200]!r}"
            except (OSError, EOFError, AssertionError) as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise AssertionError(f"/readyz not 200 within {timeout} s (last: {last}); "
                                     f"stderr: {self.stderr()[-3000:]}")
            time.sleep(0.05)

    def metric(self, series, total=False, **labels):
        """metric_value() of this process's /metrics."""
        status, body, _ = self.admin("/metrics")
        assert status == 200, f"/metrics answered {status}"
        return metric_value(body.decode(), series, total=total, **labels)

    def status_json(self):
        status, body, _ = self.admin("/status")
        assert status == 200, f"/status answered {status}: {body[:300]!r}"
        return json.loads(body)

    def stop(self, wait=STOP_WAIT):
        if self.stopped:
            return self.returncode, 0.0
        self.stopped = True
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(wait)
            self.returncode = self.proc.returncode
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            self.returncode = "killed after SIGTERM timeout"
        self._out.close()
        self._err.close()
        return self.returncode, time.monotonic() - t0

    def problems(self):
        """Teardown findings: exit status and sanitizer reports."""
        out = []
        rc, took = self.stop()
        err = self.stderr()
        if rc != 0:
            out.append(f"gatehouse run: exit {rc!r} after SIGTERM ({took:.1f} s); "
                       f"stderr: {err[-3000:]}")
        for mark in SANITIZER_MARKS:
            if mark in err:
                out.append(f"sanitizer report on stderr of gatehouse run:\n{err[-6000:]}")
                break
        return out


class Stack:
    """Echo backends + a config directory + one `gatehouse run`."""

    def __init__(self, binary, workdir, ns=NS):
        self.binary = binary
        self.workdir = workdir
        self.cfgdir = os.path.join(workdir, "config")
        os.makedirs(self.cfgdir, exist_ok=True)
        self.ns = ns
        self.echos = []
        self.recorders = []
        self.backends = {}
        self.gw = None
        self.addr = None
        self.port = None

    # backends ------------------------------------------------------------
    def backend(self, name, replicas=1, ns=None, env=None):
        ns = ns or self.ns
        for attempt in range(5):
            port, h2c = random_ports(2)
            procs = []
            try:
                for _ in range(replicas):
                    addr = pick_address([port, h2c])
                    kw = dict(POD_NAME=pod_name(name), NAMESPACE=ns, SERVICE_NAME=name,
                              INGRESS_NAME="gw", HTTP_PORT=port, H2C_PORT=h2c)
                    kw.update(env or {})
                    p = EchoProcess(self.binary, addr, base_env(**kw), [port, h2c], [],
                                    self.workdir)
                    self.echos.append(p)
                    procs.append(p)
                    p.wait_ready()
            except EarlyExit as exc:
                if attempt == 4 or "in use" not in exc.stderr.lower():
                    raise
                continue
            b = Backend(name, ns, procs, port, h2c)
            self.backends[name] = b
            return b
        raise AssertionError("unreachable")

    # config --------------------------------------------------------------
    def pick_gateway_address(self, port=None):
        self.port = port or random.randrange(32100, 60000)
        self.addr = pick_address([self.port])
        return self.addr, self.port

    def base_objects(self, listeners=None, app_protocols=False, gateways=None):
        """GatewayClass, Namespace, Gateway `gw` and every backend's objects."""
        if self.addr is None:
            self.pick_gateway_address()
        objs = [gateway_class(), namespace(self.ns)]
        objs += gateways or [gateway_obj("gw", self.addr,
                                         listeners or [listener("http", self.port)], self.ns)]
        for b in self.backends.values():
            objs += b.objects(app_protocols)
        return objs

    def path(self, name):
        return os.path.join(self.cfgdir, name)

    def write(self, name, content, atomic=True):
        """Writes a config file (objects or text); atomic = write + rename."""
        text = content if isinstance(content, str) else dump(content)
        final = self.path(name)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        if atomic:
            tmp = os.path.join(os.path.dirname(final), f".{os.path.basename(name)}.tmp")
            with open(tmp, "w") as f:
                f.write(text)
            os.rename(tmp, final)
        else:
            with open(final, "w") as f:
                f.write(text)

    def remove(self, name):
        os.unlink(self.path(name))

    # gateway -------------------------------------------------------------
    def start(self, args=(), workers=2, ready=True):
        self.gw = GatewayProcess(self.binary, self.cfgdir, self.workdir, workers=workers,
                                 args=args)
        if ready:
            self.gw.wait_ready()
        return self.gw

    def check_config(self):
        """`gatehouse check` on the config dir must pass: a fixture bug shows
        here, not as a confusing gateway failure."""
        p = subprocess.run([self.binary, "check", "-q", "-f", self.cfgdir], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 0, f"test manifests invalid:\n{p.stdout}{p.stderr}"

    def up(self, routes, listeners=None, app_protocols=False, args=(), extra=(), check=True,
           gateways=None):
        """Writes base.yaml + routes.yaml, starts the gateway, waits until
        it serves (readyz, then one request reaches the listener)."""
        self.write("base.yaml", self.base_objects(listeners, app_protocols, gateways) +
                   list(extra))
        self.write("routes.yaml", routes)
        if check:
            self.check_config()
        self.start(args=args)
        self.wait_listening()
        return self

    def wait_listening(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((self.addr, self.port), timeout=1).close()
                return
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise AssertionError(f"gateway listener {self.addr}:{self.port} not open "
                                         f"after readyz: {exc}; stderr: "
                                         f"{self.gw.stderr()[-2000:]}") from None
                time.sleep(0.05)

    # traffic -------------------------------------------------------------
    def conn(self, timeout=10.0, port=None):
        return H1(self.addr, port or self.port, timeout=timeout)

    def request(self, path="/", host="gw.test", method="GET", headers=(), body=None,
                chunked=False, port=None, timeout=10.0):
        with self.conn(timeout=timeout, port=port) as c:
            return c.request(method, path, host=host, headers=headers, body=body,
                             chunked=chunked)

    def raw(self, data, timeout=10.0, port=None):
        """Sends raw bytes on a fresh connection; returns everything read
        until the peer closes or `timeout` passes: (bytes, closed)."""
        s = socket.create_connection((self.addr, port or self.port), timeout=timeout)
        try:
            s.sendall(data)
            return read_until_close(s, timeout)
        finally:
            s.close()

    def wait_status(self, path, status, host="gw.test", timeout=10.0, headers=(),
                    pred=None):
        """Polls until a request answers `status` (and pred(resp) holds);
        returns (response, seconds waited)."""
        t0 = time.monotonic()
        last = None
        while True:
            try:
                r = self.request(path, host=host, headers=headers, timeout=5)
                last = r
                if r.status == status and (pred is None or pred(r)):
                    return r, time.monotonic() - t0
            except (OSError, EOFError) as exc:
                last = exc
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"{host}{path}: no {status} within {timeout} s; last: "
                                     f"{last!r}")
            time.sleep(0.01)

    # teardown ------------------------------------------------------------
    def close(self):
        problems = []
        if self.gw is not None:
            problems += self.gw.problems()
        for p in self.echos:
            rc, took = p.stop()
            if rc != 0:
                problems.append(f"echo {p.addr}: exit {rc!r} after SIGTERM ({took:.1f} s); "
                                f"stderr: {p.stderr()[-2000:]}")
            try:
                p.check_clean()
            except AssertionError as exc:
                problems.append(str(exc))
        for r in self.recorders:
            r.stop()
        return problems

    def recorder(self, name, h2c=False):
        """A recording backend: HTTP/1.1 (Recorder) or h2c (H2Recorder)."""
        return add_recorder(self, name, h2c)


def read_until_close(sock, timeout):
    """(bytes read, True if the peer closed/reset) within `timeout`."""
    buf = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return buf, False
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except socket.timeout:
            return buf, False
        except (ConnectionResetError, BrokenPipeError):
            return buf, True
        if not d:
            return buf, True
        buf += d


def raw_exchange(addr, port, data, timeout=10.0):
    """Sends `data` on a fresh TCP connection and returns every byte the
    gateway sends back until it closes (or `timeout` runs out: what came so
    far)."""
    with socket.create_connection((addr, port), timeout=timeout) as s:
        s.sendall(data)
        return read_until_close(s, timeout)[0]


def udp_ask(addr, port, payload=b"probe", timeout=1.0):
    """One datagram from a fresh connected socket (a fresh session at the
    gateway): the reply, or None on timeout. ConnectionRefusedError when the
    port is closed (ICMP port unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((addr, port))
        s.send(payload)
        try:
            return s.recv(65536)
        except socket.timeout:
            return None


def tls_wrap(raw, sni, ca):
    """`raw` (a connected TCP socket) wrapped in TLS 1.2+ with SNI `sni`,
    verifying the peer against the CA file `ca`."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx.wrap_socket(raw, server_hostname=sni)


def accept_loop(sock, stopping, serve, threads=None):
    """Accepts on the listening `sock` (which has a timeout) until
    stopping() is true or the socket is closed; each connection goes to
    serve(conn) on a daemon thread, appended to `threads` when given."""
    while not stopping():
        try:
            c, _ = sock.accept()
        except socket.timeout:
            continue
        except OSError:
            return
        t = threading.Thread(target=serve, args=(c,), daemon=True)
        if threads is not None:
            threads.append(t)
        t.start()


@contextlib.contextmanager
def running_stack(binary, workdir):
    """A Stack that is closed (and checked clean) on exit."""
    st = Stack(binary, workdir)
    try:
        yield st
    finally:
        problems = st.close()
        assert not problems, "\n".join(problems)


@pytest.fixture
def stack(gatehouse_run, tmp_path):
    """A fresh Stack; stops everything at teardown and asserts a clean exit."""
    st = Stack(gatehouse_run, str(tmp_path))
    try:
        yield st
    finally:
        problems = st.close()
        assert not problems, "\n".join(problems)


# ------------------------------------------------------- response parsing

def parse_responses(data, head_only_methods=()):
    """Splits raw bytes into a list of (status, headers, body) responses;
    stops at the first incomplete one. HEAD answers: pass the index."""
    out = []
    i = 0
    while True:
        end = data.find(b"\r\n\r\n", i)
        if end < 0:
            return out
        head = data[i:end].decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            return out
        status = int(parts[1])
        headers = []
        for ln in head[1:]:
            k, _, v = ln.partition(":")
            headers.append((k.strip(), v.strip()))
        low = {k.lower(): v for k, v in headers}
        pos = end + 4
        if len(out) in head_only_methods or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in low.get("transfer-encoding", "").lower():
            body = b""
            while True:
                nl = data.find(b"\r\n", pos)
                if nl < 0:
                    return out
                size = int(data[pos:nl].split(b";")[0], 16)
                pos = nl + 2
                if size == 0:
                    t = data.find(b"\r\n\r\n", pos - 2)
                    if t < 0:
                        return out
                    pos = t + 4
                    break
                if len(data) < pos + size + 2:
                    return out
                body += data[pos:pos + size]
                pos += size + 2
        elif "content-length" in low:
            n = int(low["content-length"])
            if len(data) < pos + n:
                return out
            body = data[pos:pos + n]
            pos += n
        else:
            body = data[pos:]
            pos = len(data)
        if 100 <= status < 200 and status != 101:
            i = pos
            continue
        out.append((status, headers, body))
        i = pos
        if status == 101:
            return out


# ------------------------------------------------------- recording backend

class Recorder:
    """A strict HTTP/1.1 recording backend (Python, one thread per
    connection) for what the echo cannot show: exact bytes and bodies.

    Records every request head as soon as its header block ends (so a head
    forwarded before a body error is seen), then its body and the trailer
    fields of a chunked one. Answers:
      /big?n=N          200, Content-Length N, body = pattern(N)
      /chunked?n=N      200, chunked, body = pattern(N) in 1000-byte chunks;
                        with &trailers=1 the last chunk carries RESPONSE_TRAILERS
      anything else     200, small body; headers X-Body-Length and X-Body-Sha256
                        describe the request body received.
    A request it cannot parse closes the connection (recorded as bad)."""

    def __init__(self, name, ns=NS):
        self.name, self.ns = name, ns
        self.requests = []
        self.bad = []
        self.connections = 0
        self.bytes_in = 0
        self.lock = threading.Lock()
        for _ in range(50):
            self.port = random.randrange(32100, 60000)
            self.addr = pick_address([self.port])
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.sock.bind((self.addr, self.port))
                break
            except OSError:
                self.sock.close()
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.threads = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    # k8s objects
    def service(self, app_protocols=False):
        return service_obj(self.name, [{"name": "http", "port": 80, "targetPort": self.port}],
                           ns=self.ns)

    def slice(self, procs=None, app_protocols=False):
        return endpointslice_obj(self.name, [self.addr], [{"name": "http", "port": self.port}],
                                 ns=self.ns)

    def objects(self, app_protocols=False):
        return [self.service(), self.slice()]

    def mark(self):
        with self.lock:
            return len(self.requests), len(self.bad), self.bytes_in

    def since(self, mark):
        with self.lock:
            return self.requests[mark[0]:], self.bad[mark[1]:], self.bytes_in - mark[2]

    def wait_requests(self, mark, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reqs, _, _ = self.since(mark)
            if len(reqs) >= n and all(r["complete"] for r in reqs[:n]):
                return reqs
            time.sleep(0.01)
        return self.since(mark)[0]

    def stop(self):
        self.stopping = True
        self.acceptor.join(2)
        self.sock.close()
        for t in self.threads:
            t.join(2)

    def _accept(self):
        accept_loop(self.sock, lambda: self.stopping, self._serve, self.threads)

    def _serve(self, c):
        with self.lock:
            self.connections += 1
        c.settimeout(0.5)
        buf = b""
        idle = 0.0

        def fill():
            nonlocal buf, idle
            while True:
                if self.stopping:
                    raise EOFError
                try:
                    d = c.recv(262144)
                except socket.timeout:
                    idle += 0.5
                    if idle > 60:
                        raise EOFError
                    continue
                if not d:
                    raise EOFError
                idle = 0.0
                with self.lock:
                    self.bytes_in += len(d)
                buf += d
                return

        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    if len(buf) > 1 << 20:
                        raise ValueError("head too long")
                    fill()
                head, buf = buf.split(b"\r\n\r\n", 1)
                req = self._parse_head(head)
                with self.lock:
                    self.requests.append(req)
                hdrs = {}
                for k, v in req["headers"]:
                    hdrs.setdefault(k.lower(), []).append(v)
                te = hdrs.get("transfer-encoding", [])
                cl = hdrs.get("content-length", [])
                if te and cl:
                    raise ValueError("both Transfer-Encoding and Content-Length forwarded")
                if len(te) > 1 or len(cl) > 1:
                    raise ValueError("repeated framing header forwarded")
                body = b""
                req["trailers"] = []
                if te:
                    if te[0].lower() != "chunked":
                        raise ValueError(f"forwarded Transfer-Encoding {te[0]!r}")
                    while True:
                        while b"\r\n" not in buf:
                            fill()
                        line, buf = buf.split(b"\r\n", 1)
                        size = int(line.split(b";")[0], 16)
                        if size == 0:
                            while True:
                                while b"\r\n" not in buf:
                                    fill()
                                line, buf = buf.split(b"\r\n", 1)
                                if not line:
                                    break
                                k, _, v = line.decode("latin-1").partition(":")
                                req["trailers"].append((k, v.strip()))
                            break
                        while len(buf) < size + 2:
                            fill()
                        body += buf[:size]
                        if buf[size:size + 2] != b"\r\n":
                            raise ValueError("bad chunk end")
                        buf = buf[size + 2:]
                elif cl:
                    n = int(cl[0])
                    while len(buf) < n:
                        fill()
                    body, buf = buf[:n], buf[n:]
                req["body"] = body
                req["complete"] = True
                close = "close" in ",".join(hdrs.get("connection", [])).lower() or \
                    req["version"] == "HTTP/1.0"
                c.settimeout(30)
                c.sendall(self._answer(req, close))
                c.settimeout(0.5)
                if close:
                    break
        except EOFError:
            pass
        except (ValueError, IndexError) as exc:
            with self.lock:
                self.bad.append(f"{exc}: {buf[:200]!r}")
        except OSError:
            pass
        finally:
            c.close()

    @staticmethod
    def _parse_head(head):
        if b"\n" in head.replace(b"\r\n", b""):
            raise ValueError(f"bare LF in forwarded head {head[:200]!r}")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise ValueError(f"non-canonical request line {lines[0]!r}")
        headers = []
        for ln in lines[1:]:
            if ln[:1] in (" ", "\t"):
                raise ValueError(f"obs-fold forwarded: {ln!r}")
            k, sep, v = ln.partition(":")
            if not sep or k != k.strip() or not k:
                raise ValueError(f"bad forwarded header line {ln!r}")
            headers.append((k, v.strip(" \t")))
        return {"method": parts[0], "target": parts[1], "version": parts[2],
                "headers": headers, "head": head, "body": b"", "complete": False}

    @staticmethod
    def _answer(req, close):
        import hashlib
        from urllib.parse import parse_qs, urlsplit
        u = urlsplit(req["target"])
        q = parse_qs(u.query)
        conn = b"Connection: close\r\n" if close else b""
        if u.path == "/big":
            n = int(q.get("n", ["0"])[0])
            return (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                    b"Content-Length: %d\r\n" % n + conn + b"\r\n" + pattern(n))
        if u.path == "/chunked":
            n = int(q.get("n", ["0"])[0])
            data = pattern(n)
            out = [b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                   b"Transfer-Encoding: chunked\r\n" + conn + b"\r\n"]
            for i in range(0, n, 1000):
                piece = data[i:i + 1000]
                out.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
            tr = "".join(f"{k}: {v}\r\n" for k, v in RESPONSE_TRAILERS) if q.get("trailers") else ""
            out.append(b"0\r\n" + tr.encode() + b"\r\n")
            return b"".join(out)
        body = b"recorded\n"
        return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                % len(body) + b"X-Body-Length: %d\r\n" % len(req["body"]) +
                b"X-Body-Sha256: " + hashlib.sha256(req["body"]).hexdigest().encode() +
                b"\r\n" + conn + b"\r\n" + body)


# The trailer section of Recorder's /chunked?trailers=1: two fields a proxy
# passes on, then framing and routing fields it must not (RFC 9110 6.5.1).
RESPONSE_TRAILERS = [("x-checksum", "abc123"), ("x-count", "3"), ("content-length", "5"),
                     ("host", "evil.test"), ("trailer", "x-checksum")]


def rss_bytes(pid):
    """The resident set size of process pid, bytes (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pattern(n):
    block = bytes(range(256)) * 64
    reps = n // len(block) + 1
    return (block * reps)[:n]


def add_recorder(stack, name, h2c=False):
    r = (H2Recorder if h2c else Recorder)(name, stack.ns)
    stack.backends[name] = r
    stack.recorders.append(r)
    return r


class H2Recorder:
    """An h2c backend (prior knowledge; python3-h2, one thread per
    connection) that records each request: {"headers", "body",
    "trailers"} (field lists as (name, value) strings). Answers 200 with
    an empty body once the request stream ended. Its Service port 80 has
    appProtocol kubernetes.io/h2c."""

    def __init__(self, name, ns=NS):
        self.name, self.ns = name, ns
        self.requests = []
        self.lock = threading.Lock()
        self.port = random_ports(1)[0]
        self.addr = pick_address([self.port])
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.addr, self.port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.threads = []
        self.acceptor = threading.Thread(
            target=accept_loop, args=(self.sock, lambda: self.stopping, self._serve, self.threads),
            daemon=True)
        self.acceptor.start()

    def objects(self, app_protocols=False):
        h2c = "kubernetes.io/h2c"
        return [service_obj(self.name, [{"name": "h2c", "port": 80, "targetPort": self.port,
                                         "appProtocol": h2c}], ns=self.ns),
                endpointslice_obj(self.name, [self.addr],
                                  [{"name": "h2c", "port": self.port, "appProtocol": h2c}],
                                  ns=self.ns)]

    def mark(self):
        with self.lock:
            return len(self.requests)

    def wait_requests(self, mark, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= mark + n:
                    break
            time.sleep(0.01)
        with self.lock:
            return self.requests[mark:]

    def stop(self):
        self.stopping = True
        self.acceptor.join(2)
        self.sock.close()
        for t in self.threads:
            t.join(2)

    def _serve(self, c):
        cfg = h2.config.H2Configuration(client_side=False, header_encoding=None)
        conn = h2.connection.H2Connection(config=cfg)
        streams = {}

        def text(fields):
            return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in fields]

        try:
            conn.initiate_connection()
            c.sendall(conn.data_to_send())
            c.settimeout(0.5)
            while not self.stopping:
                try:
                    d = c.recv(65536)
                except socket.timeout:
                    continue
                if not d:
                    break
                for ev in conn.receive_data(d):
                    if isinstance(ev, h2.events.RequestReceived):
                        streams[ev.stream_id] = {"headers": text(ev.headers), "body": b"",
                                                 "trailers": []}
                    elif isinstance(ev, h2.events.DataReceived):
                        streams[ev.stream_id]["body"] += ev.data
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.TrailersReceived):
                        streams[ev.stream_id]["trailers"] = text(ev.headers)
                    elif isinstance(ev, h2.events.StreamEnded):
                        with self.lock:
                            self.requests.append(streams.pop(ev.stream_id))
                        conn.send_headers(ev.stream_id, [(b":status", b"200"),
                                                         (b"content-length", b"0")],
                                          end_stream=True)
                c.sendall(conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            pass
        finally:
            c.close()
