#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""`make bench`: gatehouse against nginx and HAProxy on loopback, and the
figures of issue "Benchmarks" (bench/README.md lists the scenarios and the
bar). Writes OUT/results.json, OUT/run.log and the report (bench/RESULTS.md
by default).

    bench/run.py [--smoke] [--out DIR] [--report FILE] [--only LIST]
                 [--floor-build DIR | --no-floor]

Topology: wrk -> contestant 127.0.0.1:18080 -> upstream nginx 127.0.0.1:18000
(`return 200 "ok"`, keep-alive, shared by every run); wrk -> upstream is the
ceiling ("direct"). Every server runs in its own session (setsid), so its CPU
time (utime+stime of every process of the session, from /proc) is measured
over each run and divided by the requests wrk completed (user and system
time apart as well). Contestants alternate (gatehouse, nginx, HAProxy, the
floors, direct, then again) and the report shows medians over the passes.
Scenarios 1-2 also run two non-HTTP lower bounds, floor-epoll and
floor-uring (bench/floor/, built here with ninja in --floor-build), that are
not part of the verdict. Everything has a time limit; only processes
started here are stopped (by session id).

Settings (environment): DURATION WARMUP REPEAT CONNS WORKERS UPSTREAM_WORKERS
GATEHOUSE (binary) FLOOR_URING_VARIANT (floor-uring -v) BENCH_URING (=1: scenarios
1-2 also run gatehouse-uring, gatehouse with --io uring) BENCH_PORT_BASE (=N:
listen on N, upstream on N+1, admin on N+2 instead of 18080, 18000, 18901, so
a run does not collide with another). --smoke shrinks everything to a few
seconds; --report FILE keeps a partial run out of bench/RESULTS.md.
"""
import argparse
import contextlib
import copy
import datetime
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

import s_edge  # scenario 10 (bench/s_edge.py)
import slices
import s_paths
import s_scale
import s_h2tls

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
H = "127.0.0.1"

def _ports():
    """BENCH_PORT_BASE=N moves the three ports to N (listener), N+1 (upstream)
    and N+2 (admin), so a run does not collide with another on the defaults."""
    base = os.environ.get("BENCH_PORT_BASE")
    if not base:
        return 18080, 18000, 18901
    n = int(base)
    if not 1024 <= n <= 65533:
        sys.exit(f"BENCH_PORT_BASE={base}: want 1024..65533")
    return n, n + 1, n + 2


HTTP_PORT, UP_PORT, ADMIN_PORT = _ports()
TCK = os.sysconf("SC_CLK_TCK")
LOGF = None


def log(msg):
    line = f"[{datetime.datetime.utcnow():%H:%M:%S}] {msg}"
    print(line, file=sys.stderr, flush=True)
    if LOGF:
        LOGF.write(line + "\n")
        LOGF.flush()


@contextlib.contextmanager
def timed(results, key):
    """Adds the wall time of the with-block to results["durations"][key]
    (seconds; the report lists each scenario's)."""
    t0 = time.monotonic()
    try:
        yield
    finally:
        d = results.setdefault("durations", {})
        d[key] = round(d.get(key, 0.0) + time.monotonic() - t0, 1)


# ------------------------------------------------------------------ processes

LIVE = []  # session ids of the servers started here


def start_session(argv, logpath, env=None):
    """Starts argv in a new session; returns the Popen (pid == sid)."""
    lf = open(logpath, "ab")
    p = subprocess.Popen(argv, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, env=env)
    lf.close()
    LIVE.append(p)
    return p


def session_pids(sid):
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(d))
    return pids


def session_cpu_split(sid):
    """(utime, stime) in seconds of every live process of session sid (a
    process's figures include all its threads, io_uring's kernel threads
    too)."""
    u = s = 0
    for pid in session_pids(sid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        u += int(fields[11])
        s += int(fields[12])
    return u / TCK, s / TCK


def session_cpu_s(sid):
    """utime+stime (seconds) of every live process of session sid."""
    return sum(session_cpu_split(sid))


def session_rss_kb(sid):
    t = 0
    for pid in session_pids(sid):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        t += int(line.split()[1])
        except OSError:
            pass
    return t


def stop_session(p, wait=5.0):
    if p is None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and session_pids(p.pid):
        p.poll()
        time.sleep(0.02)
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    if p in LIVE:
        LIVE.remove(p)


def cleanup():
    for p in list(LIVE):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def port_busy(port):
    s = socket.socket()
    try:
        s.settimeout(0.2)
        return s.connect_ex((H, port)) == 0
    finally:
        s.close()


def wait_ports_free(*ports, limit=10):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not any(port_busy(p) for p in ports):
            return True
        time.sleep(0.1)
    return False


# ------------------------------------------------------------------ HTTP

class Client:
    """A minimal keep-alive HTTP/1.1 client (Content-Length bodies only),
    reconnecting after any error; status() returns 0 on failure."""

    def __init__(self, port, timeout=2.0):
        self.port, self.timeout, self.sock, self.buf = port, timeout, None, b""

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock, self.buf = None, b""

    def status(self, path, host="bench.test"):
        try:
            if self.sock is None:
                self.sock = socket.create_connection((H, self.port), timeout=self.timeout)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            while b"\r\n\r\n" not in self.buf:
                d = self.sock.recv(65536)
                if not d:
                    raise OSError("closed")
                self.buf += d
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            code = int(head.split(b" ", 2)[1])
            m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            n = int(m.group(1)) if m else 0
            while len(rest) < n:
                d = self.sock.recv(65536)
                if not d:
                    raise OSError("closed")
                rest += d
            self.buf = rest[n:]
            if re.search(rb"(?im)^connection:\s*close", head):
                self.close()
            return code
        except (OSError, ValueError, IndexError):
            self.close()
            return 0


def wait_status(port, path, want=200, limit=60.0, host="bench.test", proc=None, poll=0.005):
    """Polls until path answers want; returns seconds waited or None."""
    c = Client(port, timeout=1.0)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < limit:
            if c.status(path, host) == want:
                return time.monotonic() - t0
            if proc is not None and proc.poll() is not None:
                return None
            c.close()
            time.sleep(poll)
        return None
    finally:
        c.close()


# ------------------------------------------------------------------ wrk

def to_us(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", v or "")
    if not m:
        return None
    x = float(m.group(1))
    return round(x * {"us": 1, "ms": 1e3, "s": 1e6, "m": 6e7}[m.group(2)])


def wrk(url, conns, duration, extra=(), script=None, sargs=(), threads=2, rawpath=None,
        warmup=0.0):
    def argv(d):
        a = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{d:g}s", "--timeout", "2s", "--latency"]
        for h in extra:
            a += ["-H", h]
        if script:
            a += ["-s", script]
        a.append(url)
        if sargs:
            a += ["--"] + list(sargs)
        return a
    if warmup > 0:
        subprocess.run(argv(warmup), capture_output=True, timeout=warmup + 30)
    out = subprocess.run(argv(duration), capture_output=True, text=True,
                         timeout=duration + 30).stdout
    if rawpath:
        with open(rawpath, "w") as f:
            f.write(out)
    r = {"rps": None, "p50_us": None, "p99_us": None, "requests": 0, "bad": 0}
    for line in out.splitlines():
        s = line.split()
        if line.startswith("Requests/sec:"):
            r["rps"] = float(s[1])
        elif s[:1] == ["50%"]:
            r["p50_us"] = to_us(s[1])
        elif s[:1] == ["99%"]:
            r["p99_us"] = to_us(s[1])
        elif "requests in" in line:
            r["requests"] = int(s[0])
        elif "Non-2xx or 3xx" in line:
            r["bad"] += int(s[-1])
        elif line.strip().startswith("Socket errors"):
            r["bad"] += sum(int(x) for x in re.findall(r"\d+", line))
    return r


def busy_ticks():
    """(busy, total) ticks over all CPUs from /proc/stat (steal counts as idle)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v) - v[3] - v[4] - v[7], sum(v)


def measure(ctx, tag, url, conns, sid, **kw):
    """One measured wrk run (after a discarded warm-up) with the CPU of
    session sid (None: direct) over the run."""
    kw.setdefault("warmup", ctx.warmup)
    if kw["warmup"] > 0:
        w = dict(kw)
        w["rawpath"] = None
        wrk(url, conns, kw["warmup"], **{k: v for k, v in w.items() if k != "warmup"})
    kw["warmup"] = 0
    c0 = session_cpu_split(sid) if sid else (0.0, 0.0)
    u0 = session_cpu_s(ctx.up.pid)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    b0 = busy_ticks()
    t0 = time.monotonic()
    r = wrk(url, conns, ctx.duration, rawpath=os.path.join(ctx.raw, tag + ".txt"), **kw)
    r["wall_s"] = time.monotonic() - t0
    # wrk's own measuring time (the wall time adds its start-up): what
    # slices.pooled sums over interleaved slices
    r["secs"] = r["requests"] / r["rps"] if r["rps"] else 0
    b1 = busy_ticks()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    c1 = session_cpu_split(sid) if sid else (0.0, 0.0)
    r["cpu_s"] = (c1[0] + c1[1]) - (c0[0] + c0[1]) if sid else None
    r["cpu_user_s"] = c1[0] - c0[0] if sid else None
    r["cpu_sys_s"] = c1[1] - c0[1] if sid else None
    r["upstream_cpu_s"] = session_cpu_s(ctx.up.pid) - u0
    r["client_cpu_s"] = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    r["busy_pct"] = round(100.0 * (b1[0] - b0[0]) / max(1, b1[1] - b0[1]), 1)
    n = max(1, r["requests"])
    r["cpu_us_req"] = (r["cpu_s"] * 1e6 / n) if sid and r["requests"] else None
    r["user_us_req"] = (r["cpu_user_s"] * 1e6 / n) if sid and r["requests"] else None
    r["sys_us_req"] = (r["cpu_sys_s"] * 1e6 / n) if sid and r["requests"] else None
    r["upstream_us_req"] = r["upstream_cpu_s"] * 1e6 / n
    r["client_us_req"] = r["client_cpu_s"] * 1e6 / n
    log(f"  {tag}: {r['rps'] or 0:.0f} req/s p50={r['p50_us']}us p99={r['p99_us']}us "
        f"bad={r['bad']} cpu/req={r['cpu_us_req'] and round(r['cpu_us_req'], 1)}us "
        f"(user {r['user_us_req'] and round(r['user_us_req'], 2)} "
        f"sys {r['sys_us_req'] and round(r['sys_us_req'], 2)}) "
        f"upstream={r['upstream_us_req']:.1f}us wrk={r['client_us_req']:.1f}us busy={r['busy_pct']}%")
    return r


# ------------------------------------------------------------------ contestants

class Contestant:
    def __init__(self, ctx, name, port=None, admin=None):
        """port, admin: where it listens (HTTP_PORT, ADMIN_PORT unless given:
        two of one contestant can run at once)."""
        self.ctx, self.name = ctx, name
        self.port, self.admin = port or HTTP_PORT, admin or ADMIN_PORT
        self.hook = os.path.join(BENCH, "contestants", name + ".sh")
        self.proc = None

    def env(self, workers, mode, routes_file, policy=""):
        e = dict(os.environ)
        e["BENCH_POLICY"] = policy
        e.update(BENCH_LISTEN_HOST=H, BENCH_HTTP_PORT=str(self.port), BENCH_UPSTREAM_HOST=H,
                 BENCH_UPSTREAM_PORT=str(UP_PORT), BENCH_WORKERS=str(workers),
                 BENCH_ROUTE_MODE=mode, BENCH_ROUTES_FILE=routes_file or "",
                 BENCH_NOFILE=str(self.ctx.nofile), BENCH_GATEHOUSE=self.ctx.gatehouse,
                 BENCH_ADMIN_PORT=str(self.admin), BENCH_FLOOR_DIR=self.ctx.floor_dir or "")
        return e

    def version(self):
        e = self.env(1, "none", None)
        return subprocess.run([self.hook, "name"], capture_output=True, text=True, env=e,
                              timeout=20).stdout.strip()

    def supports(self, feature):
        return subprocess.run([self.hook, "supports", feature], env=self.env(1, "none", None),
                              timeout=20).returncode == 0

    def start(self, tag, workers, mode="none", routes_file=None, probe=("/", "bench.test"),
              policy=""):
        d = os.path.join(self.ctx.out, self.name, tag)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        e = self.env(workers, mode, routes_file, policy)
        if not wait_ports_free(self.port, self.admin):
            raise RuntimeError("contestant ports busy")
        subprocess.run([self.hook, "prepare", d], env=e, check=True, timeout=120,
                       stdout=subprocess.DEVNULL)
        self.proc = start_session(["timeout", "3600", self.hook, "run", d],
                                  os.path.join(d, "server.log"), env=e)
        if wait_status(self.port, probe[0], 200, 60, probe[1], self.proc) is None:
            self.stop()
            raise RuntimeError(f"{self.name} {tag} did not answer 200 (see {d}/server.log)")
        return self.proc.pid

    def stop(self):
        stop_session(self.proc)
        self.proc = None


# ------------------------------------------------------------------ upstream

def nginx_head(ctx, d, workers, conns=None):
    """An nginx.conf's start, up to inside `http {` (files under d): what
    every nginx of the bench shares (the upstream, scenarios 11-13)."""
    return f"""worker_processes {workers};
worker_rlimit_nofile {ctx.nofile};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections {conns or ctx.nofile // 2}; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;"""


def start_upstream(ctx):
    d = os.path.join(ctx.out, "upstream")
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(nginx_head(ctx, d, ctx.upstream_workers) + f"""
    default_type text/plain;
    server {{
        listen {H}:{UP_PORT} reuseport backlog=4096;
        location / {{ return 200 "ok"; }}
    }}
}}
""")
    if not wait_ports_free(UP_PORT):
        raise RuntimeError(f"port {UP_PORT} busy")
    p = start_session(["nginx", "-p", d + "/", "-c", d + "/nginx.conf", "-g", "daemon off;"],
                      os.path.join(d, "server.log"))
    if wait_status(UP_PORT, "/", 200, 10, proc=p) is None:
        raise RuntimeError("upstream did not start")
    return p


# ------------------------------------------------------------------ gatehouse configs

GW_BASE = """apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: gatehouse}}
spec: {{controllerName: gatehouse.dev/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: bench, namespace: bench}}
spec:
  gatewayClassName: gatehouse
  addresses: [{{type: IPAddress, value: {h}}}]
  listeners:
  - {{name: http, protocol: HTTP, port: {port}, allowedRoutes: {{namespaces: {{from: Same}}}}}}
"""


def gw_service(name):
    return f"""---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: bench}}
spec:
  ports: [{{name: http, port: {UP_PORT}, targetPort: {UP_PORT}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: {name}-1, namespace: bench, labels: {{kubernetes.io/service-name: {name}}}}}
addressType: IPv4
ports: [{{name: http, port: {UP_PORT}, protocol: TCP}}]
endpoints: [{{addresses: [{H}], conditions: {{ready: true}}}}]
"""


def gw_route(name, path, svc, extra=""):
    return f"""---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: bench}}
spec:
  parentRefs: [{{name: bench}}]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: "{path}"}}}}]
{extra}    backendRefs: [{{name: {svc}, port: {UP_PORT}}}]
"""


def write_file(path, text):
    """One open/write/close, as an editor or `cp` would (not atomic)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def gw_big_config(d, routes, services, per_file=100):
    """A Gateway, `services` Services (+EndpointSlices, all to the upstream)
    and `routes` one-rule HTTPRoutes (/rNNNNN/), per_file to a file."""
    os.makedirs(d, exist_ok=True)
    write_file(os.path.join(d, "base.yaml"),
               GW_BASE.format(h=H, port=HTTP_PORT) + "".join(gw_service(f"svc{i:04d}")
                                                           for i in range(services)))
    for f0 in range(0, routes, per_file):
        write_file(os.path.join(d, f"routes-{f0 // per_file:04d}.yaml"),
                   "".join(gw_route(f"r{k:05d}", f"/r{k:05d}/", f"svc{k % services:04d}")
                           for k in range(f0, min(routes, f0 + per_file))))


def gw_start(ctx, tag, cfg, workers=1):
    d = os.path.join(ctx.out, "gatehouse", tag)
    os.makedirs(d, exist_ok=True)
    if not wait_ports_free(HTTP_PORT, ADMIN_PORT):
        raise RuntimeError("gatehouse ports busy")
    t0 = time.monotonic()
    p = start_session([ctx.gatehouse, "run", "-f", cfg, "--workers", str(workers),
                       "--admin", f"{H}:{ADMIN_PORT}"], os.path.join(d, "server.log"))
    ready = wait_status(ADMIN_PORT, "/readyz", 200, 60, proc=p, poll=0.002)
    if ready is None:
        stop_session(p)
        raise RuntimeError(f"gatehouse {tag} not ready (see {d}/server.log)")
    return p, time.monotonic() - t0


# ------------------------------------------------------------------ scenarios

def routes_file(ctx, kind, n):
    f = os.path.join(ctx.out, f"routes-{kind}-{n}.txt")
    if not os.path.exists(f):
        with open(f, "w") as o:
            if kind == "path":
                o.writelines(f"path /r{k:05d}/\n" for k in range(n))
            else:  # hostpath: n/10 hostnames x 10 PathPrefix rules
                o.writelines(f"hostpath h{k // 10:05d}.bench.test /p{k % 10}/\n" for k in range(n))
    return f


def build_floors(ctx):
    """Builds the floor proxies in ctx.floor_build (ninja, their meson
    targets are not built by default); returns the contestants that built."""
    if ctx.floor_build is None:
        return []
    ninja = os.path.join(ctx.floor_build, "build.ninja")
    if not os.path.exists(ninja):
        log(f"floors: no {ninja}; floor rows skipped")
        return []
    ctx.floor_dir = os.path.join(ctx.floor_build, "bench", "floor")
    floors = []
    for name in ("floor-epoll", "floor-uring"):
        argv = ["ninja", "-C", ctx.floor_build, f"bench/floor/{name}"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        if r.returncode != 0 and "unknown target" in r.stderr:
            # configured before liburing-dev was installed: meson looks again
            subprocess.run(["meson", "setup", "--reconfigure", ctx.floor_build],
                           capture_output=True, timeout=600)
            r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            log(f"floors: {name} did not build (liburing-dev missing?); its rows are skipped\n"
                f"{r.stdout[-2000:]}{r.stderr[-2000:]}")
            continue
        floors.append(Contestant(ctx, name))
    return floors


def scenario_proxy(ctx, rep, res):
    """Scenarios 1-2: small response, WORKERS x CONNS, each contestant, the
    floors and direct, alternating within each pass."""
    floors = ctx.floors if rep == 1 else []  # a reference, not the verdict: one pass
    for w in ctx.workers:
        for c in ctx.contestants + ctx.extra + floors:
            try:
                sid = c.start(f"h1-w{w}", w)
            except Exception as e:  # noqa: BLE001 - logged, the row stays empty
                log(f"  {c.name} w{w}: {e}")
                continue
            for i, n in enumerate(ctx.conns):
                # the first run warms the fresh server up; the next ones find it warm
                r = measure(ctx, f"{rep}-h1-{c.name}-w{w}-c{n}", f"http://{H}:{HTTP_PORT}/", n, sid,
                            warmup=ctx.warmup if i == 0 else 0)
                res.append(dict(r, rep=rep, case="h1", proxy=c.name, workers=w, conns=n))
            c.stop()
    for i, n in enumerate(ctx.conns):
        r = measure(ctx, f"{rep}-h1-direct-c{n}", f"http://{H}:{UP_PORT}/", n, None,
                    warmup=ctx.warmup if i == 0 else 0)
        res.append(dict(r, rep=rep, case="h1", proxy="direct", workers=0, conns=n))


def scenario_routes(ctx, res):
    """Scenario 3's first half: gatehouse with ctx.big_routes host+path
    rules, the first rule against the last, in ctx.route_rounds
    interleaved slices of ctx.route_slice_s each after a warm-up of each
    (bench/slices.py)."""
    n_big, conns = ctx.big_routes, ctx.route_conns
    gh = ctx.contestants[0]
    sub = copy.copy(ctx)
    sub.duration, sub.warmup = ctx.route_slice_s, 0
    last_host = f"h{(n_big - 1) // 10:05d}.bench.test"
    targets = {f"first-of-{n_big}": ("h00000.bench.test", "/p0/x"),
               f"last-of-{n_big}": (last_host, f"/p{(n_big - 1) % 10}/x")}
    try:
        sid = gh.start(f"routes-hostpath-{n_big}", 1, "hostpath", routes_file(ctx, "hostpath", n_big),
                       probe=("/p0/x", "h00000.bench.test"))

        def warm(var):
            host, path = targets[var]
            if ctx.warmup > 0:
                wrk(f"http://{H}:{HTTP_PORT}{path}", conns, ctx.warmup, extra=[f"Host: {host}"])

        def one(var, rnd):
            host, path = targets[var]
            r = measure(sub, f"{rnd + 1}-routes-gatehouse-{var}", f"http://{H}:{HTTP_PORT}{path}",
                        conns, sid, extra=[f"Host: {host}"])
            return dict(r, rep=rnd + 1, case="routes", proxy="gatehouse", variant=var, workers=1,
                        conns=conns)
        acc = slices.interleave(list(targets), ctx.route_rounds, one, warm=warm)
        for var in targets:
            res.extend(acc[var])
        if wait_status(HTTP_PORT, "/p0/x", 404, 2, host="nomatch.bench.test") is None:
            log("  gatehouse: an unmatched host did not get 404")
    except Exception as e:  # noqa: BLE001
        log(f"  gatehouse routes-hostpath: {e}")
    finally:
        if gh.proc is not None:
            gh.stop()


# Scenario 3's second half: each contestant's catch-all and its spread
# routes run at once (the spread one on SPREAD_OFFSET above the ports) and
# are measured in interleaved slices (bench/slices.py), so that both see
# the same machine: measured in passes one after the other, the first pass
# had put 6% between two configs that cost the same per request.
SPREAD_OFFSET = 80


def scenario_spread(ctx, res):
    """Every contestant with ctx.spread_routes path routes (spread.lua)
    against its catch-all, same traffic, in ctx.route_rounds rounds of
    ctx.route_slice_s slices each after a warm-up; direct for reference."""
    lua = os.path.join(BENCH, "lua", "spread.lua")
    n_sp, conns = ctx.spread_routes, ctx.route_conns
    sub = copy.copy(ctx)
    sub.duration, sub.warmup = ctx.route_slice_s, 0
    sp = f"spread-{n_sp}"
    for c in ctx.contestants:
        pair = {"catch-all": Contestant(ctx, c.name),
                sp: Contestant(ctx, c.name, HTTP_PORT + SPREAD_OFFSET, ADMIN_PORT + SPREAD_OFFSET)}
        sids = {}
        try:
            for var, cc in pair.items():
                path = var != "catch-all"
                sids[var] = cc.start(f"routes-{var}", 1, "path" if path else "none",
                                     routes_file(ctx, "path", n_sp) if path else None,
                                     probe=("/r00000/x", "bench.test"))
            if wait_status(pair[sp].port, "/nomatch/x", 404, 2) is None:
                log(f"  {c.name}: an unmatched path did not get 404")

            def url(var):
                return f"http://{H}:{pair[var].port}/"

            def warm(var):
                if ctx.warmup > 0:
                    wrk(url(var), conns, ctx.warmup, script=lua, sargs=("path", str(n_sp)))

            def one(var, rnd):
                r = measure(sub, f"{rnd + 1}-routes-{c.name}-{var}", url(var), conns, sids[var],
                            script=lua, sargs=("path", str(n_sp)))
                return dict(r, rep=rnd + 1, case="routes", proxy=c.name, variant=var, workers=1,
                            conns=conns)
            acc = slices.interleave(list(pair), ctx.route_rounds, one, warm=warm)
            for var in pair:
                res.extend(acc[var])
        except Exception as e:  # noqa: BLE001 - logged, the rows stay empty
            log(f"  {c.name} spread: {e}")
        finally:
            for cc in pair.values():
                if cc.proc is not None:
                    cc.stop()
    r = measure(ctx, "routes-direct", f"http://{H}:{UP_PORT}/", conns, None, script=lua,
                sargs=("path", str(n_sp)))
    res.append(dict(r, rep=1, case="routes", proxy="direct", variant=sp, workers=0, conns=conns))


# Scenario 9: what a gatehouse.dev policy adds per request (its limit is
# never reached), against the same gatehouse without it, alternating.
POLICIES = ("ratelimit-route", "ratelimit-client", "lb-hash", "ratelimit-global")


def start_redis(ctx):
    """A redis-server for the global limit (scenario 9), or None."""
    if not shutil.which("redis-server"):
        log("  redis-server missing: ratelimit-global is skipped")
        return None
    d = os.path.join(ctx.out, "redis")
    os.makedirs(d, exist_ok=True)
    port = ADMIN_PORT + 2
    proc = start_session(["timeout", "3600", "redis-server", "--port", str(port), "--bind", H,
                          "--save", "", "--appendonly", "no", "--dir", d],
                         os.path.join(d, "redis.log"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((H, port), timeout=0.5).close()
            return proc, f"{H}:{port}"
        except OSError:
            time.sleep(0.05)
    stop_session(proc)
    log("  redis-server did not start: ratelimit-global is skipped")
    return None


def scenario_policies(ctx, rep, res):
    gh = ctx.contestants[0]
    redis = start_redis(ctx)
    try:
        policies_runs(ctx, rep, res, gh, redis[1] if redis else None)
    finally:
        if redis:
            stop_session(redis[0])


def policies_runs(ctx, rep, res, gh, redis):
    for pol in ("",) + POLICIES:
        if pol == "ratelimit-global" and not redis:
            continue
        os.environ["BENCH_REDIS"] = redis if pol == "ratelimit-global" else ""
        name = pol or "none"
        try:
            sid = gh.start(f"policy-{name}", 1, policy=pol)
        except Exception as e:  # noqa: BLE001 - logged, the row stays empty
            log(f"  gatehouse policy {name}: {e}")
            continue
        r = measure(ctx, f"{rep}-policy-{name}", f"http://{H}:{HTTP_PORT}/", ctx.route_conns, sid)
        res.append(dict(r, rep=rep, case="policy", proxy="gatehouse", variant=name, workers=1,
                        conns=ctx.route_conns))
        gh.stop()


def scenario_churn(ctx, res):
    """Scenario 4: spread traffic over N path routes (one file each) while
    ctx.churn_changes file writes change routes: every other change rewrites
    a route under traffic (same match, a new request header value), the
    others add or delete a route file nobody requests."""
    n = ctx.spread_routes
    cfg = os.path.join(ctx.out, "gatehouse", "churn", "cfg")
    shutil.rmtree(cfg, ignore_errors=True)
    gw_big_config(cfg, 0, 1)
    for k in range(n):
        write_file(os.path.join(cfg, f"r{k:05d}.yaml"), gw_route(f"r{k:05d}", f"/r{k:05d}/", "svc0000"))
    p, _ = gw_start(ctx, "churn", cfg, 1)
    if wait_status(HTTP_PORT, "/r00000/x", 200, 10) is None:
        log("  churn: route r00000 not served")
    changes, span = ctx.churn_changes, ctx.churn_seconds
    done = {"writes": 0, "t": 0.0}

    def churn():
        time.sleep(1.0)
        t0 = time.monotonic()
        added = []
        for i in range(changes):
            if i % 2 == 0:
                k = (i * 7919) % n
                extra = ("    filters: [{type: RequestHeaderModifier, requestHeaderModifier: "
                         f"{{set: [{{name: x-churn, value: \"{i}\"}}]}}}}]\n")
                write_file(os.path.join(cfg, f"r{k:05d}.yaml"),
                           gw_route(f"r{k:05d}", f"/r{k:05d}/", "svc0000", extra))
            elif i % 4 == 1 or not added:
                write_file(os.path.join(cfg, f"x{i:05d}.yaml"), gw_route(f"x{i:05d}", f"/x{i:05d}/", "svc0000"))
                added.append(i)
            else:
                os.unlink(os.path.join(cfg, f"x{added.pop(0):05d}.yaml"))
            done["writes"] += 1
            delay = t0 + span * (i + 1) / changes - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        done["t"] = time.monotonic() - t0

    th = threading.Thread(target=churn)
    th.start()
    lua = os.path.join(BENCH, "lua", "spread.lua")
    c0 = session_cpu_s(p.pid)
    r = wrk(f"http://{H}:{HTTP_PORT}/", ctx.route_conns, int(span + 3), script=lua,
            sargs=("path", str(n)), rawpath=os.path.join(ctx.raw, "churn.txt"))
    th.join()
    r["cpu_us_req"] = (session_cpu_s(p.pid) - c0) * 1e6 / max(1, r["requests"])
    with open(os.path.join(ctx.out, "gatehouse", "churn", "server.log")) as f:
        r["reloads"] = sum(1 for line in f if "reload ok" in line)
    stop_session(p)
    r.update(case="churn", routes=n, changes=done["writes"], churn_s=round(done["t"], 2))
    log(f"  churn: {done['writes']} changes in {done['t']:.1f} s, {r['reloads']} reloads, "
        f"{r['requests']} requests, {r['bad']} failed, p99={r['p99_us']}us")
    res.append(r)


def scenario_propagation(ctx, res):
    """Scenario 5: with ctx.prop_routes routes loaded, time from writing a
    new route's file to the first 200 on it, ctx.prop_changes times."""
    cfg = os.path.join(ctx.out, "gatehouse", "propagation", "cfg")
    shutil.rmtree(cfg, ignore_errors=True)
    gw_big_config(cfg, ctx.prop_routes, ctx.services)
    p, _ = gw_start(ctx, "propagation", cfg, 1)
    c = Client(HTTP_PORT, timeout=1.0)
    lat, fails = [], 0
    for i in range(ctx.prop_changes):
        path = f"/new{i:04d}/x"
        if c.status(path) != 404:
            log(f"  propagation: {path} answered before its route existed")
        t0 = time.monotonic()
        write_file(os.path.join(cfg, f"new{i:04d}.yaml"), gw_route(f"new{i:04d}", f"/new{i:04d}/", "svc0000"))
        while True:
            code = c.status(path)
            t = time.monotonic() - t0
            if code == 200:
                lat.append(t * 1e3)
                break
            if t > 5:
                fails += 1
                break
        time.sleep(0.05)
    c.close()
    stop_session(p)
    # In write order, to line up with the reloads in the server log (with
    # 100 changes p99 is the slowest of them).
    samples = [round(x, 2) for x in lat]
    lat.sort()
    r = dict(case="propagation", routes=ctx.prop_routes, changes=ctx.prop_changes, timeouts=fails,
             p50_ms=pct(lat, 50), p99_ms=pct(lat, 99), max_ms=lat[-1] if lat else None,
             min_ms=lat[0] if lat else None, samples_ms=samples)
    log(f"  propagation: p50={r['p50_ms']} ms p99={r['p99_ms']} ms max={r['max_ms']} ms "
        f"timeouts={fails}")
    res.append(r)


def pct(v, p):
    """The p-th percentile of v by nearest rank: the ceil(p/100 * n)-th
    smallest value (p99 of 100 samples is the 99th, not the largest; the
    largest is reported as max). Round-half-to-even had made the rank of an
    integer p*n/100 one too high for odd products and right for even ones."""
    if not v:
        return None
    v = sorted(v)
    rank = math.ceil(len(v) * p / 100.0 - 1e-9)
    return round(v[min(len(v), max(1, rank)) - 1], 2)


def scenario_memory_startup(ctx, res):
    """Scenarios 6-7: RSS idle (catch-all), RSS with ctx.prop_routes routes
    and ctx.services Services; start to /readyz with that config."""
    idle_cfg = os.path.join(ctx.out, "gatehouse", "idle", "cfg")
    shutil.rmtree(idle_cfg, ignore_errors=True)
    gw_big_config(idle_cfg, 1, 1)
    big_cfg = os.path.join(ctx.out, "gatehouse", "big", "cfg")
    shutil.rmtree(big_cfg, ignore_errors=True)
    gw_big_config(big_cfg, ctx.prop_routes, ctx.services)
    idle, big, start = [], [], []
    for i in range(ctx.startups):
        for kind, cfg in (("idle", idle_cfg), ("big", big_cfg)):
            p, ready = gw_start(ctx, kind, cfg, 1)
            if wait_status(HTTP_PORT, "/r00000/x", 200, 5) is None:
                log(f"  {kind}: /r00000/ not served after /readyz")
            time.sleep(0.3)
            rss = session_rss_kb(p.pid)
            (idle if kind == "idle" else big).append(rss)
            if kind == "big":
                start.append(ready * 1e3)
            stop_session(p)
            log(f"  {kind}: ready {ready * 1e3:.0f} ms, RSS {rss} kB")
    # the other contestants, idle (catch-all, 1 worker), for context
    others = {}
    for c in ctx.contestants[1:]:
        try:
            sid = c.start("idle", 1)
            time.sleep(0.3)
            others[c.name] = session_rss_kb(sid)
        except Exception as e:  # noqa: BLE001
            log(f"  {c.name} idle: {e}")
        c.stop()
    res.append(dict(case="memory", routes=ctx.prop_routes, services=ctx.services,
                    idle_rss_kb=statistics.median(idle), big_rss_kb=statistics.median(big),
                    idle_all=idle, big_all=big, others_idle_rss_kb=others))
    res.append(dict(case="startup", routes=ctx.prop_routes, services=ctx.services,
                    ready_ms=round(statistics.median(start), 1), all_ms=[round(x, 1) for x in start]))


# ------------------------------------------------------------------ Kubernetes mode

KUBE_STATUS_RES = "httproutes"


def _status_writes(log_entries):
    """Server-side timestamps (seconds, float) of the HTTPRoute status
    writes in /_double/log entries."""
    out = []
    for e in log_entries:
        if e.get("resource") == KUBE_STATUS_RES and e.get("subresource") == "status" \
                and e.get("verb") in ("patch", "update"):
            t = datetime.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
            out.append((t.replace(tzinfo=datetime.timezone.utc).timestamp(), e.get("name"),
                        e.get("code")))
    return out


def _max_window(ts, width=1.0, start_after=None):
    """The most timestamps in any window [t, t + width) that starts at one
    of them (at or after start_after)."""
    best, j = 0, 0
    for i, t in enumerate(ts):
        if j < i:
            j = i
        while j < len(ts) and ts[j] < t + width:
            j += 1
        if start_after is None or t >= start_after:
            best = max(best, j - i)
    return best


def _status_count(counts):
    return sum(v for k, v in counts.get("counts", {}).items()
               if k.split(" ", 1)[-1] == f"{KUBE_STATUS_RES}/status.gateway.networking.k8s.io"
               and k.split(" ", 1)[0] in ("patch", "update"))


def _gatehouse_metric(port, name):
    """The value of an unlabelled metric of gatehouse's /metrics, or None."""
    try:
        with urllib.request.urlopen(f"http://{H}:{port}/metrics", timeout=2) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _client_conns(port):
    """Local ports of the established TCP connections to 127.0.0.1:port
    (/proc/net/tcp): the API server's clients."""
    out = set()
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                x = line.split()
                if x[3] == "01" and int(x[2].split(":")[1], 16) == port:
                    out.add(int(x[1].split(":")[1], 16))
    except OSError:
        pass
    return out


def _steady_noise(counts):
    """Every request counted except watches and Lease get/update."""
    return {k: v for k, v in counts.get("counts", {}).items()
            if not k.startswith("watch ")
            and k not in ("get leases.coordination.k8s.io", "update leases.coordination.k8s.io")}


def _save_admin(path, dest):
    """Saves gatehouse's admin answer to GET path (for a failed run's post-mortem)."""
    try:
        s = socket.create_connection((H, ADMIN_PORT), timeout=2)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        buf = b""
        while len(buf) < 8 << 20:
            x = s.recv(65536)
            if not x:
                break
            buf += x
        s.close()
        with open(dest, "wb") as f:
            f.write(buf)
    except OSError:
        pass


def scenario_kube(ctx, res):
    """Scenario 8: `gatehouse run --kubernetes` against the API server
    double (../shared/kube) preloaded with ctx.kube_routes HTTPRoutes, as
    many Services and EndpointSlices: start to /readyz and RSS; the initial
    route statuses (time, and writes per second against --status-qps); an
    HTTPRoute created through the API to its first 200, ctx.kube_changes
    times; then API requests over ctx.kube_steady_s of quiet."""
    if BENCH not in sys.path:
        sys.path.insert(0, BENCH)
    import kubedouble as kd
    n, q, b = ctx.kube_routes, ctx.kube_qps, ctx.kube_burst
    r = dict(case="kube", routes=n, services=n, qps=q, burst=b, changes=ctx.kube_changes,
             steady_s=ctx.kube_steady_s, error=None)
    res.append(r)
    if not os.path.exists(kd.DOUBLE):
        r["skipped"] = f"no API server double at {kd.DOUBLE} (GW_SHARED=DIR: DIR/kube/apiserver.py)"
        log(f"  kube: skipped: {r['skipped']}")
        return
    d = os.path.join(ctx.out, "kube")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    objs = [kd.namespace(), kd.gatewayclass(), kd.gateway(H, HTTP_PORT)]
    for i in range(n):
        objs += kd.service(f"svc-{i:05d}", H, UP_PORT)
    objs += [kd.httproute(f"r{i:05d}", f"/r{i:05d}/", f"svc-{i:05d}", UP_PORT) for i in range(n)]
    manifest = os.path.join(d, "objects.json")
    with open(manifest, "w") as f:
        json.dump(objs, f)
    state = os.path.join(d, "double")
    dp = gp = api = None
    try:
        dp = start_session(["timeout", "900", sys.executable, kd.DOUBLE, "--port", "0",
                            "--state-dir", state, "--manifest", kd.CRDS, "--manifest", manifest],
                           os.path.join(d, "apiserver.log"))
        t = kd.wait_started(state, dp, 120)
        if t is None:
            raise RuntimeError(f"the API server double did not start (see {d}/apiserver.log)")
        r["preload_s"] = round(t, 2)
        api = kd.Double(state)
        api.control("DELETE", "requests")
        log(f"  kube: double up with {len(objs):,} objects in {t:.1f} s")

        # 1. start to /readyz, RSS
        if not wait_ports_free(HTTP_PORT, ADMIN_PORT):
            raise RuntimeError("gatehouse ports busy")
        t0 = time.monotonic()
        gp = start_session([ctx.gatehouse, "run", "--kubernetes", "--kubeconfig",
                            api.kubeconfig, "--workers", "1", "--admin", f"{H}:{ADMIN_PORT}",
                            "--status-qps", str(q), "--status-burst", str(b)],
                           os.path.join(d, "gatehouse.log"))
        ready = wait_status(ADMIN_PORT, "/readyz", 200, ctx.kube_ready_limit, proc=gp, poll=0.002)
        if ready is None:
            why = "exited" if gp.poll() is not None else f"still 503 after {ctx.kube_ready_limit:g} s"
            raise RuntimeError(f"gatehouse --kubernetes: /readyz never 200 ({why}; "
                               f"see {d}/gatehouse.log, {d}/metrics.txt)")
        r["ready_ms"] = round((time.monotonic() - t0) * 1e3, 1)
        time.sleep(0.3)
        r["ready_rss_kb"] = session_rss_kb(gp.pid)
        log(f"  kube: ready in {r['ready_ms']:.0f} ms, RSS {r['ready_rss_kb']} kB")
        served = wait_status(HTTP_PORT, f"/r{n - 1:05d}/x", 200, 5)
        r["last_route_served"] = served is not None
        if served is None:
            log(f"  kube: /r{n - 1:05d}/ not served after /readyz")

        # 2. initial statuses: all Accepted, and writes per 1-s window
        seen, samples, last_log = {}, [], 0.0
        done_at, left = None, n
        cpu0 = (time.monotonic(), session_cpu_s(gp.pid), session_cpu_s(dp.pid))
        conns_seen, conns_peak = set(), 0
        deadline = t0 + ctx.kube_status_limit
        sent = []  # (monotonic before, after, gatehouse's own count of status requests sent)
        while time.monotonic() < deadline:
            tb = time.monotonic()
            c = _gatehouse_metric(ADMIN_PORT, "gatehouse_kube_status_requests_total")
            if c is not None:
                sent.append((tb, time.monotonic(), c))
            now = time.monotonic()
            cnt = _status_count(api.control("GET", "requests"))
            samples.append((now, cnt))
            cs = _client_conns(api.port)
            conns_seen |= cs
            conns_peak = max(conns_peak, len(cs))
            # the log keeps 5000 requests: read it every 2.5 s (<= 1,100
            # writes/s), not more often, as each read costs the double ~50 ms
            if now - last_log >= 2.5:
                for w in _status_writes(api.control("GET", "log")["requests"]):
                    seen[w] = True
                last_log = now
            if cnt >= n:
                left = sum(1 for x in api.routes() if not kd.accepted(x))
                if left == 0:
                    done_at = time.monotonic()
                    break
            time.sleep(0.1)
        for w in _status_writes(api.control("GET", "log")["requests"]):
            seen[w] = True
        if not done_at:
            left = sum(1 for x in api.routes() if not kd.accepted(x))
        r["status_conns_peak"], r["status_conns_seen"] = conns_peak, len(conns_seen)
        total = _status_count(api.control("GET", "requests"))
        el = max(1e-3, time.monotonic() - cpu0[0])
        r["status_gatehouse_cpu_pct"] = round(100 * (session_cpu_s(gp.pid) - cpu0[1]) / el)
        r["status_double_cpu_pct"] = round(100 * (session_cpu_s(dp.pid) - cpu0[2]) / el)
        r["status_rss_kb"] = session_rss_kb(gp.pid)
        r["status_writes"] = total
        r["status_left"] = left
        r["status_s"] = round(done_at - t0, 2) if done_at else None
        r["status_after_ready_s"] = round(done_at - t0 - r["ready_ms"] / 1e3, 2) if done_at else None
        ts = sorted(w[0] for w in seen)
        r["status_logged"] = len(ts)
        r["status_log_complete"] = len(ts) >= total
        with open(os.path.join(d, "status-writes.json"), "w") as f:
            json.dump(sorted(seen), f)
        if ts:
            r["status_span_s"] = round(ts[-1] - ts[0], 2)
            r["writes_per_s"] = [sum(1 for x in ts if k <= x - ts[0] < k + 1)
                                 for k in range(int(ts[-1] - ts[0]) + 1)]
            r["max_1s"] = _max_window(ts)
            # sound against queueing (which only delays completions): the
            # k-th write done by T s after the first may not exceed
            # burst + qps * T; the most above qps * T
            r["excess_over_qps"] = round(max(i + 1 - q * (t - ts[0]) for i, t in enumerate(ts)), 1)
            if ts[-1] >= ts[0] + 1.0:
                r["max_1s_after_first"] = _max_window(ts, start_after=ts[0] + 1.0)
        # gatehouse's own count of requests its status writer sent, sampled
        # every ~100 ms: between any two samples, at most burst + qps * the
        # time between them (taken short: from the end of the first read to
        # the start of the second), which is what the limiter promises
        if len(sent) >= 2:
            r["sent_excess_over_qps"] = round(max(
                sent[j][2] - sent[i][2] - q * max(0.0, sent[j][0] - sent[i][1])
                for i in range(len(sent)) for j in range(i + 1, len(sent))), 1)
            r["sent_samples"] = len(sent)
        # the counter sampled every ~100 ms: the most writes between two
        # samples at most 1 s apart (a cross-check of the log's figure)
        r["max_1s_sampled"] = max((samples[j][1] - samples[i][1] for i in range(len(samples))
                                   for j in range(i + 1, len(samples))
                                   if samples[j][0] - samples[i][0] <= 1.0), default=None)
        log(f"  kube: statuses {'all Accepted in %.2f s' % r['status_s'] if done_at else f'{left} not Accepted'}"
            f", {total} writes, max {r.get('max_1s')}/s (after the first second "
            f"{r.get('max_1s_after_first')}/s; counter {r['max_1s_sampled']}; at most "
            f"{r.get('excess_over_qps')} above qps*T; sent by gatehouse: at most "
            f"{r.get('sent_excess_over_qps')} above qps*dt), qps {q} burst {b}; "
            f"per second {r.get('writes_per_s')}; CPU gatehouse {r['status_gatehouse_cpu_pct']}% "
            f"double {r['status_double_cpu_pct']}%; connections to the API server: {conns_peak} at "
            f"once, {len(conns_seen)} in all (our client's included); RSS {r['status_rss_kb']} kB")
        if not done_at:
            raise RuntimeError(f"{left} of {n} routes without an Accepted status from "
                               f"{kd.CONTROLLER} after {ctx.kube_status_limit:g} s")

        # 3. HTTPRoute created through the API -> first 200 through the
        # gateway, once the status writes have stopped
        t1, last = time.monotonic(), (time.monotonic(), total)
        while time.monotonic() - t1 < 10 and time.monotonic() - last[0] < ctx.kube_settle_s:
            time.sleep(0.1)
            cnt = _status_count(api.control("GET", "requests"))
            if cnt != last[1]:
                last = (time.monotonic(), cnt)
        c = Client(HTTP_PORT, timeout=1.0)
        lat, post, fails = [], [], 0
        for i in range(ctx.kube_changes):
            path = f"/new{i:04d}/x"
            if c.status(path) != 404:
                log(f"  kube: {path} answered before its route existed")
            t1 = time.monotonic()
            api.create_route(kd.httproute(f"new{i:04d}", f"/new{i:04d}/", f"svc-{i % n:05d}", UP_PORT))
            post.append((time.monotonic() - t1) * 1e3)
            while True:
                code = c.status(path)
                el = time.monotonic() - t1
                if code == 200:
                    lat.append(el * 1e3)
                    break
                if el > 5:
                    fails += 1
                    break
            if fails >= 3:
                log(f"  kube: {fails} created routes never answered 200 within 5 s; stopping")
                break
            time.sleep(0.05)
        c.close()
        r["create_samples_ms"] = [round(x, 2) for x in lat]
        r["create_timeouts"] = fails
        r["create_p50_ms"], r["create_p99_ms"] = pct(lat, 50), pct(lat, 99)
        r["create_max_ms"] = round(max(lat), 2) if lat else None
        r["post_p50_ms"] = pct(post, 50)
        log(f"  kube: create -> 200: p50={r['create_p50_ms']} ms p99={r['create_p99_ms']} ms "
            f"max={r['create_max_ms']} ms (POST itself p50 {r['post_p50_ms']} ms), timeouts={fails}")

        # 4. steady state: every request but watches and Lease get/update
        t1 = time.monotonic()
        while time.monotonic() - t1 < 10:
            if all(kd.accepted(x) for x in api.routes()):
                break
            time.sleep(0.2)
        time.sleep(ctx.kube_settle_s)
        api.control("DELETE", "requests")
        time.sleep(ctx.kube_steady_s)
        counts = api.control("GET", "requests")
        r["steady_counts"] = counts.get("counts", {})
        noise = _steady_noise(counts)
        r["steady_other"] = noise
        r["steady_requests"] = sum(noise.values())
        r["steady_rss_kb"] = session_rss_kb(gp.pid)
        log(f"  kube: steady {ctx.kube_steady_s:g} s: {r['steady_requests']} requests besides "
            f"watches and Lease get/update {noise or ''}; RSS {r['steady_rss_kb']} kB")
    except Exception as e:  # noqa: BLE001 - recorded, the report shows it
        r["error"] = str(e)
        log(f"  kube: ERROR {e}")
        if gp is not None and gp.poll() is None:
            for what in ("metrics", "status"):
                _save_admin(f"/{what}", os.path.join(d, f"{what}.txt"))
        if api is not None:
            try:
                with open(os.path.join(d, "double-requests.json"), "w") as f:
                    json.dump(api.control("GET", "requests"), f, indent=1)
            except Exception:  # noqa: BLE001
                pass
    finally:
        if api is not None:
            api.close()
        stop_session(gp)
        stop_session(dp)


# ------------------------------------------------------------------ main

def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1])
    return dict(cpu=model, cores=os.cpu_count(), kernel=platform.release(),
                mem_gib=round(mem / 1048576, 1),
                date=datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
                loadavg=open("/proc/loadavg").read().split()[:3])


def main():
    global LOGF
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="a few seconds, tiny sizes, no verdict")
    ap.add_argument("--out", default=None)
    ap.add_argument("--report", default=None, help="markdown report (default bench/RESULTS.md; "
                    "smoke: OUT/report.md)")
    ap.add_argument("--only", default="proxy,routes,policies,edge,churn,propagation,memory,kube,h2tls,handshake,paths,scale")
    ap.add_argument("--floor-build", default=os.path.join(ROOT, "build-release"),
                    help="meson build directory to build and run the floor proxies from "
                    "(default build-release)")
    ap.add_argument("--no-floor", action="store_true", help="skip the floor-epoll/floor-uring rows")
    a = ap.parse_args()

    class Ctx:
        pass
    ctx = Ctx()
    env = os.environ.get
    smoke = a.smoke
    ctx.duration = float(env("DURATION", "1" if smoke else "7"))
    ctx.warmup = float(env("WARMUP", "0" if smoke else "1"))
    ctx.repeat = int(env("REPEAT", "1" if smoke else "3"))
    ctx.conns = [int(x) for x in env("CONNS", "50" if smoke else "50 256").split()]
    ctx.workers = [int(x) for x in env("WORKERS", "1" if smoke else "1 2").split()]
    ctx.upstream_workers = int(env("UPSTREAM_WORKERS", "2"))
    ctx.route_conns = 50
    ctx.big_routes = 100 if smoke else 10000
    ctx.spread_routes = 100 if smoke else 1000
    ctx.route_rounds, ctx.route_slice_s = (1, 1.0) if smoke else (10, 1.0)  # wrk: whole seconds
    ctx.churn_changes = 20 if smoke else 1000
    ctx.churn_seconds = 1.0 if smoke else 10.0
    ctx.prop_routes = 200 if smoke else 5000
    ctx.services = 40 if smoke else 1000
    ctx.prop_changes = 5 if smoke else 100
    ctx.startups = 1 if smoke else 5
    ctx.kube_routes = 50 if smoke else 5000  # and as many Services + EndpointSlices
    ctx.kube_qps, ctx.kube_burst = 1000, 100  # --status-qps, --status-burst
    ctx.kube_changes = 5 if smoke else 100
    ctx.kube_steady_s = 3.0 if smoke else 60.0
    ctx.kube_settle_s = 0.5 if smoke else 2.0
    ctx.kube_ready_limit = 10.0 if smoke else 15.0
    ctx.kube_status_limit = 10.0 if smoke else 30.0
    ctx.edge_duration, ctx.edge_warmup = min(ctx.duration, 5.0), min(ctx.warmup, 1.0)  # 10
    # scenario 14 (bench/s_scale.py)
    ctx.scale_hosts = 100 if smoke else 10000
    ctx.scale_mixed_hosts, ctx.scale_mixed_paths = (20, 5) if smoke else (10000, 10)
    ctx.scale_gateways, ctx.scale_listeners = (10, 10) if smoke else (1000, 10)
    ctx.scale_starts, ctx.scale_passes = (1, 1) if smoke else (3, 10)
    ctx.scale_wrk_s, ctx.scale_wrk_warmup = (1.0, 0.0) if smoke else (1.0, 1.0)
    ctx.scale_per_file = 1000
    ctx.floor_build = None if a.no_floor else os.path.abspath(a.floor_build)
    ctx.h2tls = s_h2tls.settings(smoke, env)  # scenarios 11-12
    ctx.floor_dir = None
    ctx.gatehouse = os.path.abspath(env("GATEHOUSE", os.path.join(ROOT, "build-release/src/cmd/gatehouse")))
    stamp = datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ")
    ctx.out = os.path.abspath(a.out or os.path.join(BENCH, "out", ("smoke-" if smoke else "") + stamp))
    ctx.raw = os.path.join(ctx.out, "raw")
    os.makedirs(ctx.raw, exist_ok=True)
    LOGF = open(os.path.join(ctx.out, "run.log"), "a")
    report = a.report or (os.path.join(ctx.out, "report.md") if smoke else os.path.join(BENCH, "RESULTS.md"))

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    ctx.nofile = want
    for tool in ("nginx", "haproxy", "wrk", "timeout"):
        if not shutil.which(tool):
            sys.exit(f"missing tool: {tool} (scripts/deps.sh bench)")
    if not os.access(ctx.gatehouse, os.X_OK):
        sys.exit(f"missing {ctx.gatehouse} (make release)")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    t_start = time.monotonic()
    ctx.contestants = [Contestant(ctx, n) for n in ("gatehouse", "nginx", "haproxy")]
    # gatehouse again with the io_uring data plane, scenarios 1-2 only
    ctx.extra = [Contestant(ctx, "gatehouse-uring")] if env("BENCH_URING") == "1" else []
    only = set(a.only.split(","))
    ctx.floors = build_floors(ctx) if "proxy" in only else []
    results = dict(machine=machine(), smoke=smoke,
                   versions={c.name: c.version() for c in ctx.contestants + ctx.extra + ctx.floors},
                   settings=dict(duration=ctx.duration, warmup=ctx.warmup, repeat=ctx.repeat,
                                 conns=ctx.conns, workers=ctx.workers,
                                 upstream_workers=ctx.upstream_workers, route_conns=ctx.route_conns,
                                 big_routes=ctx.big_routes, spread_routes=ctx.spread_routes,
                                 churn_changes=ctx.churn_changes, churn_seconds=ctx.churn_seconds,
                                 prop_routes=ctx.prop_routes, services=ctx.services,
                                 prop_changes=ctx.prop_changes, startups=ctx.startups,
                                 kube_routes=ctx.kube_routes, kube_qps=ctx.kube_qps,
                                 kube_burst=ctx.kube_burst, kube_changes=ctx.kube_changes,
                                 kube_steady_s=ctx.kube_steady_s),
                   runs=[], other=[])
    results["versions"]["wrk"] = (subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
                                  .split("\n")[0].split(" [")[0])
    log(f"bench: out {ctx.out}")
    try:
        ctx.up = start_upstream(ctx)
        for rep in range(1, ctx.repeat + 1):
            if "proxy" in only:
                log(f"pass {rep}/{ctx.repeat}: scenarios 1-2 (small response)")
                with timed(results, "1-2"):
                    scenario_proxy(ctx, rep, results["runs"])
            if "policies" in only:
                log(f"pass {rep}/{ctx.repeat}: scenario 9 (policy cost)")
                with timed(results, "9"):
                    scenario_policies(ctx, rep, results["runs"])
        if "routes" in only:
            log("scenario 3 (route count): first vs last rule, spread routes vs catch-all, "
                "interleaved")
            with timed(results, "3"):
                scenario_routes(ctx, results["runs"])
                scenario_spread(ctx, results["runs"])
        if "edge" in only:
            log("scenario 10: edge checks (JWT, source address) and gzip")
            with timed(results, "10"):
                s_edge.run(ctx, results)
        if "churn" in only:
            log("scenario 4: route churn under traffic")
            with timed(results, "4"):
                scenario_churn(ctx, results["other"])
        if "propagation" in only:
            log("scenario 5: propagation")
            with timed(results, "5"):
                scenario_propagation(ctx, results["other"])
        if "memory" in only:
            log("scenarios 6-7: memory and start-up")
            with timed(results, "6-7"):
                scenario_memory_startup(ctx, results["other"])
        if "kube" in only:
            log("scenario 8: Kubernetes mode (API server double)")
            with timed(results, "8"):
                scenario_kube(ctx, results["other"])
        if "paths" in only:
            log("scenario 13: paths (gRPC, WebSocket, large bodies, L4)")
            with timed(results, "13"):
                s_paths.run(ctx, results)
        if "scale" in only:
            log("scenario 14: route and Gateway scale")
            with timed(results, "14"):
                s_scale.run(ctx, results)
        s_h2tls.run(ctx, results, only)  # times 11 and 12 itself
    finally:
        cleanup()
    results["elapsed_s"] = round(time.monotonic() - t_start, 1)
    with open(os.path.join(ctx.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    sys.path.insert(0, BENCH)
    import report as rp
    md = rp.render(results, os.path.relpath(ctx.out, ROOT))
    with open(report, "w") as f:
        f.write(md)
    log(f"bench: done in {results['elapsed_s']} s ("
        + ", ".join(f"{k}: {v:g} s" for k, v in results.get("durations", {}).items())
        + f"); report {report}")
    failed = [r["case"] for r in results["other"] if r.get("error")]
    if failed:
        log(f"bench: scenario {', '.join(failed)} failed (see the report and run.log)")
    if smoke:
        bad = [r for r in results["runs"] if not r.get("rps")]
        if bad or not results["other"]:
            log("bench-smoke: some runs produced no figures")
            return 1
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        cleanup()
