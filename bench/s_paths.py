# SPDX-License-Identifier: Apache-2.0
"""Scenario 13 "paths": gatehouse against nginx and HAProxy beyond small
HTTP/1.1 responses (issue 18): gRPC unary and server streaming, WebSocket
echo over 1,000 connections, 1 MiB responses and uploads (and memory with
slow readers), TCP throughput, UDP datagrams and TLS passthrough
connections. 1 worker each; the load generators and upstreams are in
bench/loadgen/ (built here with ninja, like bench/floor). bench/README.md
describes the method; run.py calls run(), report.py calls render().

Ports: gatehouse's HTTP/1.1 listener is run.py's HTTP_PORT, its others and
the upstreams sit at HTTP_PORT+10.. +23; nginx, HAProxy and the floors run
at the same time on their own (PORTS: HTTP_PORT+30.. +63), so that every
case measures them in interleaved slices (bench/slices.py). All within
base..+99 of BENCH_PORT_BASE.
"""
import importlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

import slices

R = None  # bench/run.py's module, bound by _bind() (run.py imports this module first)
H = "127.0.0.1"
P = UP_GRPC = UP_WS = UP_BIG = UP_TLS = SINK_TCP = SINK_UDP = PX_TCP = PX_UDP = PX_TLS = PX_GRPC = 0
PORTS = {}  # name -> {"http", "tcp", "udp", "tls", "grpc"}: where it listens


def _bind():
    """Binds R to run.py as it runs (as __main__: its LIVE list and log file,
    not a second copy) and the ports to its HTTP_PORT."""
    global R, H, P, UP_GRPC, UP_WS, UP_BIG, UP_TLS, SINK_TCP, SINK_UDP, PX_TCP, PX_UDP, PX_TLS, PX_GRPC
    main = sys.modules["__main__"]
    R = main if hasattr(main, "start_session") else importlib.import_module("run")
    H, P = R.H, R.HTTP_PORT
    UP_GRPC, UP_WS, UP_BIG, UP_TLS, SINK_TCP, SINK_UDP = (P + 10 + i for i in range(6))
    PX_TCP, PX_UDP, PX_TLS, PX_GRPC = P + 20, P + 21, P + 22, P + 23
    PORTS.clear()
    PORTS["gatehouse"] = dict(http=P, tcp=PX_TCP, udp=PX_UDP, tls=PX_TLS, grpc=PX_GRPC)
    for name, off in (("nginx", 30), ("haproxy", 40), ("floor-epoll", 50), ("floor-uring", 60)):
        PORTS[name] = dict(http=P + off, tcp=P + off + 1, udp=P + off + 2, tls=P + off + 3,
                           grpc=P + off + 4)
    PORTS["direct"] = dict(http=UP_BIG)
MIB = 1 << 20
SNI = "tls.bench.test"
LOADGEN = ("grpcup", "wsload", "l4load")
UPSTREAM = []  # the upstream nginx's Popen while run() runs

# what each contestant runs (the issue names the rivals of each path)
CASES = {
    "grpc-unary": ("gatehouse", "nginx", "haproxy"),
    "grpc-stream": ("gatehouse", "nginx", "haproxy"),
    "ws": ("gatehouse", "nginx", "haproxy"),
    "big-get": ("gatehouse", "nginx", "haproxy", "direct", "floor-epoll", "floor-uring"),
    "big-post": ("gatehouse", "nginx", "haproxy", "direct", "floor-epoll", "floor-uring"),
    "slow": ("gatehouse", "nginx", "haproxy"),
    "tcp": ("gatehouse", "haproxy"),
    "udp": ("gatehouse", "nginx"),
    "tls": ("gatehouse", "haproxy", "floor-epoll", "floor-uring"),
}
# run.py's non-HTTP lower bounds (bench/floor/): rows for reference, never the verdict
FLOORS = ("floor-epoll", "floor-uring")


def settings(smoke):
    env = os.environ.get
    return dict(
        # per pass and contestant, duration s measured in `rounds` interleaved slices of
        # duration / rounds s (whole seconds: wrk, h2load); the floors (first pass only)
        # in the first floor_rounds rounds
        duration=int(env("PATHS_DURATION", "1" if smoke else "6")),
        rounds=int(env("PATHS_ROUNDS", "1" if smoke else "3")),
        floor_rounds=1 if smoke else 2,
        # a warm-up per contestant and case before its first slice; the loadgens that
        # warm up in-process (wsload, l4load) then open each later slice with slice_warm s
        warmup=int(env("PATHS_WARMUP", "0" if smoke else "1")),
        slice_warm=0 if smoke else 0.25,
        repeat=int(env("PATHS_REPEAT", "1")),
        grpc_conns=10 if smoke else 50, grpc_streams=10, stream_msgs=10,
        ws_conns=50 if smoke else 1000, ws_bytes=32,
        big_conns=4 if smoke else 16,
        slow_conns=20 if smoke else 200, slow_rate=10 * 1024, slow_s=0.5 if smoke else 3.0,
        tcp_conns=2, udp_sockets=4, udp_bytes=64, tls_threads=4,
        contestants=tuple(x for x in env("PATHS_CONTESTANTS", "").split(",") if x)
        or (("gatehouse",) if smoke else ("gatehouse", "nginx", "haproxy")),
        # PATHS_CASES=big-get,tls: only those (a focused measurement; not for the report)
        cases=tuple(x for x in env("PATHS_CASES", "").split(",") if x) or tuple(CASES),
    )


# ------------------------------------------------------------------ build, upstreams

def build(ctx):
    """Builds the loadgen targets in ctx.floor_build, else in the build
    directory of the gatehouse under test (GATEHOUSE=BUILD/src/cmd/gatehouse,
    as tests/run.py's smoke run passes with --no-floor), else build-release;
    returns their directory."""
    own = os.path.dirname(os.path.dirname(os.path.dirname(ctx.gatehouse)))
    b = ctx.floor_build or (own if os.path.exists(os.path.join(own, "build.ninja"))
                            else os.path.join(R.ROOT, "build-release"))
    argv = ["ninja", "-C", b] + [f"bench/loadgen/{t}" for t in LOADGEN]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if r.returncode != 0 and "unknown target" in r.stderr:
        subprocess.run(["meson", "setup", "--reconfigure", b], capture_output=True, timeout=600)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"bench/loadgen did not build:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return os.path.join(b, "bench", "loadgen")


def tls_files(d):
    key, crt = os.path.join(d, "tls.key"), os.path.join(d, "tls.crt")
    if not os.path.exists(crt):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                        "-days", "30", "-subj", f"/CN={SNI}", "-addext", f"subjectAltName=DNS:{SNI}"],
                       check=True, capture_output=True, timeout=60)
    return crt, key


def nginx_head(ctx, d, workers):
    """run.py's nginx.conf start, a quarter of the descriptors per worker."""
    return R.nginx_head(ctx, d, workers, ctx.nofile // 4)


def start_upstreams(ctx, lg, s):
    """nginx (1 MiB file, upload sink, TLS) + grpcup + two wsload echoes, each
    in its own session; returns their Popens."""
    d = os.path.join(ctx.out, "paths", "upstream")
    os.makedirs(os.path.join(d, "www"), exist_ok=True)
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    with open(os.path.join(d, "www", "big"), "wb") as f:
        f.write(b"b" * MIB)
    crt, key = tls_files(d)
    R.write_file(os.path.join(d, "nginx.conf"), nginx_head(ctx, d, 2) + f"""
    default_type application/octet-stream;
    sendfile on;
    server {{
        listen {H}:{UP_BIG} reuseport backlog=4096;
        client_max_body_size 2m;
        root {d}/www;
        location = /big {{ }}
        location = /up {{ return 200 "ok"; }}
        location / {{ return 200 "ok"; }}
    }}
    server {{
        listen {H}:{UP_TLS} ssl reuseport backlog=4096;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        ssl_session_cache off;
        ssl_session_tickets off;
        location / {{ return 200 "ok"; }}
    }}
}}
""")
    if not R.wait_ports_free(UP_BIG, UP_TLS, UP_GRPC, UP_WS):
        raise RuntimeError("scenario 13: upstream ports busy")
    ps = []
    try:  # on failure stop what did start: later scenarios would find its ports busy
        ps.append(R.start_session(["nginx", "-p", d + "/", "-c", d + "/nginx.conf", "-g",
                                   "daemon off;"], os.path.join(d, "nginx.log")))
        ps.append(R.start_session([os.path.join(lg, "grpcup"), "-l", f"{H}:{UP_GRPC}", "-w", "2",
                                   "-n", str(s["stream_msgs"])], os.path.join(d, "grpcup.log")))
        for i in range(2):  # two echo processes behind one SO_REUSEPORT port
            ps.append(R.start_session([os.path.join(lg, "wsload"), "-e", f"{H}:{UP_WS}"],
                                      os.path.join(d, f"wsecho{i}.log")))
        if R.wait_status(UP_BIG, "/big", 200, 10, proc=ps[0]) is None:
            raise RuntimeError("scenario 13: upstream nginx did not start")
        for port in (UP_GRPC, UP_WS, UP_TLS):
            t0 = time.monotonic()
            while not R.port_busy(port):
                if time.monotonic() - t0 > 10:
                    raise RuntimeError(f"scenario 13: upstream on {port} did not start")
                time.sleep(0.05)
    except BaseException:
        for p in ps:
            R.stop_session(p)
        raise
    return ps


# ------------------------------------------------------------------ contestants

def gw_config(d):
    svc = []
    for name, port, proto in (("big", UP_BIG, "TCP"), ("grpc", UP_GRPC, "TCP"), ("ws", UP_WS, "TCP"),
                              ("tcpsink", SINK_TCP, "TCP"), ("udpsink", SINK_UDP, "UDP"),
                              ("tlsback", UP_TLS, "TCP")):
        svc.append(f"""---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: bench}}
spec:
  ports: [{{name: p, port: {port}, targetPort: {port}, protocol: {proto}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: {name}-1, namespace: bench, labels: {{kubernetes.io/service-name: {name}}}}}
addressType: IPv4
ports: [{{name: p, port: {port}, protocol: {proto}}}]
endpoints: [{{addresses: [{H}], conditions: {{ready: true}}}}]
""")
    lst = "  listeners:\n" + "".join(
        f"  - {{name: {n}, protocol: {pr}, port: {port}, allowedRoutes: {{namespaces: {{from: Same}}}}"
        + (", tls: {mode: Passthrough}" if pr == "TLS" else "") + "}\n"
        for n, pr, port in (("http", "HTTP", P), ("grpc", "HTTP", PX_GRPC), ("tcp", "TCP", PX_TCP),
                            ("udp", "UDP", PX_UDP), ("tls", "TLS", PX_TLS)))
    gw = R.GW_BASE.format(h=H, port=P).split("  listeners:\n")[0] + lst
    routes = f"""---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: http, namespace: bench}}
spec:
  parentRefs: [{{name: bench, sectionName: http}}]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: /ws}}}}]
    backendRefs: [{{name: ws, port: {UP_WS}}}]
  - backendRefs: [{{name: big, port: {UP_BIG}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {{name: grpc, namespace: bench}}
spec:
  parentRefs: [{{name: bench, sectionName: grpc}}]
  rules:
  - backendRefs: [{{name: grpc, port: {UP_GRPC}}}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {{name: tcp, namespace: bench}}
spec:
  parentRefs: [{{name: bench, sectionName: tcp}}]
  rules: [{{backendRefs: [{{name: tcpsink, port: {SINK_TCP}}}]}}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: UDPRoute
metadata: {{name: udp, namespace: bench}}
spec:
  parentRefs: [{{name: bench, sectionName: udp}}]
  rules: [{{backendRefs: [{{name: udpsink, port: {SINK_UDP}}}]}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {{name: tls, namespace: bench}}
spec:
  parentRefs: [{{name: bench, sectionName: tls}}]
  hostnames: [{SNI}]
  rules: [{{backendRefs: [{{name: tlsback, port: {UP_TLS}}}]}}]
"""
    os.makedirs(d, exist_ok=True)
    R.write_file(os.path.join(d, "paths.yaml"), gw + "".join(svc) + routes)


def nginx_config(ctx, d):
    pt = PORTS["nginx"]
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    R.write_file(os.path.join(d, "nginx.conf"), "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n"
                 + nginx_head(ctx, d, 1) + f"""
    http2_max_requests 1000000000;
    upstream big {{ server {H}:{UP_BIG}; keepalive 64; keepalive_requests 1000000000; }}
    upstream grpcb {{ server {H}:{UP_GRPC}; keepalive 64; keepalive_requests 1000000000; }}
    upstream ws {{ server {H}:{UP_WS}; }}
    server {{
        listen {H}:{pt["http"]} reuseport backlog=4096;
        client_max_body_size 2m;
        location /ws {{
            proxy_pass http://ws;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 300s;
        }}
        location / {{
            proxy_pass http://big;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
    server {{
        listen {H}:{pt["grpc"]} http2 reuseport backlog=4096;
        location / {{ grpc_pass grpc://grpcb; }}
    }}
}}
stream {{
    server {{ listen {H}:{pt["tcp"]} reuseport backlog=4096; proxy_pass {H}:{SINK_TCP}; }}
    server {{ listen {H}:{pt["udp"]} udp reuseport; proxy_pass {H}:{SINK_UDP}; proxy_timeout 60s; }}
}}
""")
    return ["nginx", "-p", d + "/", "-c", d + "/nginx.conf", "-g", "daemon off;"]


def haproxy_config(ctx, d):
    pt = PORTS["haproxy"]
    os.makedirs(d, exist_ok=True)
    R.write_file(os.path.join(d, "haproxy.cfg"), f"""global
    nbthread 1
    maxconn {ctx.nofile // 2 - 100}
    log stderr format raw local0 warning
defaults
    log global
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout tunnel 300s
    timeout http-keep-alive 300s
frontend http
    mode http
    bind {H}:{pt["http"]}
    use_backend ws if {{ path_beg /ws }}
    default_backend big
frontend grpc
    mode http
    bind {H}:{pt["grpc"]} proto h2
    default_backend grpcb
frontend tcp
    mode tcp
    bind {H}:{pt["tcp"]}
    default_backend tcpb
frontend tls
    mode tcp
    bind {H}:{pt["tls"]}
    tcp-request inspect-delay 5s
    tcp-request content accept if {{ req.ssl_hello_type 1 }}
    use_backend tlsb if {{ req.ssl_sni -i {SNI} }}
backend big
    mode http
    http-reuse always
    server s {H}:{UP_BIG}
backend ws
    mode http
    server s {H}:{UP_WS}
backend grpcb
    mode http
    http-reuse always
    server s {H}:{UP_GRPC} proto h2
backend tcpb
    mode tcp
    server s {H}:{SINK_TCP}
backend tlsb
    mode tcp
    server s {H}:{UP_TLS}
""")
    return ["haproxy", "-db", "-f", os.path.join(d, "haproxy.cfg")]


def start(ctx, name, tag):
    d = os.path.join(ctx.out, "paths", name, tag)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    pt = PORTS[name]
    ports = (pt["http"], pt["grpc"], pt["tcp"], pt["tls"]) + \
        ((R.ADMIN_PORT,) if name == "gatehouse" else ())
    if not R.wait_ports_free(*ports):
        raise RuntimeError("scenario 13: contestant ports busy")
    if name in FLOORS:
        # one session, two copiers: the HTTP port to the file/upload nginx, the TLS port
        # to its TLS server (a floor pairs each client connection with an upstream one)
        b = os.path.join(ctx.floor_dir, name)
        p = R.start_session(["timeout", "3600", "sh", "-c",
                             f'"$0" -l {H}:{pt["tls"]} -u {H}:{UP_TLS} -w 1 & '
                             f'exec "$0" -l {H}:{pt["http"]} -u {H}:{UP_BIG} -w 1', b],
                            os.path.join(d, "server.log"))
    elif name == "gatehouse":
        gw_config(os.path.join(d, "cfg"))
        p, _ = R.gw_start(ctx, f"paths-{tag}", os.path.join(d, "cfg"))
    else:
        argv = nginx_config(ctx, d) if name == "nginx" else haproxy_config(ctx, d)
        p = R.start_session(["timeout", "3600"] + argv, os.path.join(d, "server.log"))
    if R.wait_status(pt["http"], "/", 200, 30, proc=p) is None:
        R.stop_session(p)
        raise RuntimeError(f"scenario 13: {name} did not answer 200 (see {d})")
    return p


# ------------------------------------------------------------------ one measured run

def cpu(sid):
    return R.session_cpu_s(sid) if sid else 0.0


def timed_lines(argv, sid, limit, rawpath):
    """Runs a loadgen that prints `counting` when its measured window opens
    and its result line when it closes; returns (result line, proxy CPU s over
    the window)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    c0 = c1 = None
    out = []
    t0 = time.monotonic()
    try:
        for line in p.stdout:
            out.append(line)
            if line.startswith("counting"):
                c0 = cpu(sid)
            elif c0 is not None and c1 is None:
                c1 = cpu(sid)
            if time.monotonic() - t0 > limit:
                break
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
    with open(rawpath, "w") as f:
        f.write(" ".join(argv) + "\n" + "".join(out))
    res = [x for x in out if not x.startswith("counting")]
    return (res[-1] if res else ""), (c1 - c0 if c0 is not None and c1 is not None else None)


def grpc_argv(ctx, s, name, case, d):
    """h2load's argv for d s of gRPC case (grpc-unary, grpc-stream) to name."""
    body = os.path.join(ctx.out, "paths", "grpc-body.bin")
    if not os.path.exists(body):
        with open(body, "wb") as f:  # gRPC prefix + protobuf field 1 = "hello"
            f.write(b"\x00\x00\x00\x00\x07\x0a\x05hello")
    meth = "Unary" if case == "grpc-unary" else "Stream"
    return ["h2load", "-t", "2", "-c", str(s["grpc_conns"]), "-m", str(s["grpc_streams"]),
            "-D", f"{d:g}", "-d", body, "-H", "content-type: application/grpc",
            "-H", "te: trailers", f"http://{H}:{PORTS[name]['grpc']}/bench.Bench/{meth}"]


def big_args(ctx, name, case):
    """(url, wrk keyword arguments) of case big-get or big-post to name."""
    kw = {}
    if case == "big-post":
        lua = os.path.join(ctx.out, "paths", "post1m.lua")
        if not os.path.exists(lua):
            R.write_file(lua, 'wrk.method = "POST"\nwrk.body = string.rep("p", 1048576)\n'
                         'wrk.headers["Content-Type"] = "application/octet-stream"\n')
        kw["script"] = lua
    path = "/up" if case == "big-post" else "/big"
    return f"http://{H}:{PORTS[name]['http']}{path}", kw


# the loadgens that warm up in-process (-W, outside their measured window)
INPROC = ("ws", "tcp", "udp", "tls")


def warm_up(ctx, s, name, case):
    """A discarded s["warmup"] s run of an h2load or wrk case against name
    (the INPROC cases warm up in their loadgen's first slice instead)."""
    if s["warmup"] <= 0 or case in INPROC:
        return
    if case in ("grpc-unary", "grpc-stream"):
        subprocess.run(grpc_argv(ctx, s, name, case, s["warmup"]), capture_output=True,
                       timeout=s["warmup"] + 30)
    else:
        url, kw = big_args(ctx, name, case)
        R.wrk(url, s["big_conns"], s["warmup"], **kw)


def h2load(ctx, s, sid, name, case, dur, rawpath):
    c0 = cpu(sid)
    t0 = time.monotonic()
    r = subprocess.run(grpc_argv(ctx, s, name, case, dur), capture_output=True, text=True,
                       timeout=dur + 30)
    out = r.stdout + r.stderr
    wall = time.monotonic() - t0
    c = cpu(sid) - c0
    with open(rawpath, "w") as f:
        f.write(out)
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", out)
    ok = int(m.group(1)) if m else 0
    bad = int(m.group(2)) if m else 0
    m = re.search(r"status codes: (\d+) 2xx", out)
    if m and int(m.group(1)) < ok:
        bad += ok - int(m.group(1))
    return dict(rate=ok / dur, units=ok, secs=dur, cpu_s=c, bad=bad, wall_s=round(wall, 2))


def slow_readers(s, sid, port):
    """slow_conns connections each GET /big and read about slow_rate bytes/s
    (16 KiB receive buffers); RSS growth of the proxy's session / connection."""
    r0 = R.session_rss_kb(sid)
    socks = []
    for _ in range(s["slow_conns"]):
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        c.settimeout(2)
        c.connect((H, port))
        c.sendall(b"GET /big HTTP/1.1\r\nHost: bench.test\r\n\r\n")
        c.setblocking(False)
        socks.append(c)
    tick = 0.1
    per_tick = int(s["slow_rate"] * tick)
    got = 0
    t0 = time.monotonic()
    peak = r0
    while time.monotonic() - t0 < s["slow_s"]:
        for c in socks:
            try:
                got += len(c.recv(per_tick))
            except BlockingIOError:
                pass
            except OSError:
                pass
        peak = max(peak, R.session_rss_kb(sid))
        time.sleep(tick)
    r1 = R.session_rss_kb(sid)
    for c in socks:
        c.close()
    n = len(socks)
    return dict(rss0_kb=r0, rss1_kb=r1, peak_kb=max(peak, r1), conns=n,
                kb_per_conn=(max(peak, r1) - r0) / n, read_kib_s=got / 1024 / s["slow_s"] / n)


def one(ctx, s, lg, name, case, sid, tag, dur, warm=0):
    """One measured run (a slice) of `case` against contestant `name`
    (session sid, None for direct), dur s after the loadgen's own warm-up
    of warm s (INPROC cases; the others: warm_up()); returns a row."""
    raw = os.path.join(ctx.raw, f"paths-{case}-{name}-{tag}.txt")
    pt = PORTS[name]
    row = dict(case=case, name=name, tag=tag)
    if case in ("grpc-unary", "grpc-stream"):
        row.update(h2load(ctx, s, sid, name, case, dur, raw))
    elif case in ("big-get", "big-post"):
        pctx = type("C", (), dict(vars(ctx)))()
        pctx.duration, pctx.warmup = dur, 0
        pctx.up = UPSTREAM[0]  # measure() reads the upstream's CPU over the run
        url, kw = big_args(ctx, name, case)
        r = R.measure(pctx, f"paths-{case}-{name}-{tag}", url, s["big_conns"], sid, **kw)
        row.update(rate=r["rps"] or 0, units=r["requests"], cpu_s=r["cpu_s"], bad=r["bad"],
                   secs=r["secs"],
                   p99_us=r["p99_us"], up_us=r["upstream_us_req"], client_us=r["client_us_req"],
                   busy_pct=r["busy_pct"])
    elif case == "ws":
        line, c = timed_lines([os.path.join(lg, "wsload"), "-c", f"{H}:{pt['http']}", "-n", str(s["ws_conns"]),
                               "-d", f"{dur:g}", "-W", f"{warm:g}", "-s", str(s["ws_bytes"])],
                              sid, dur + warm + 60, raw)
        m = re.match(r"open (\d+) messages (\d+) secs ([\d.]+) errors (\d+)", line)
        if m:
            row.update(rate=int(m.group(2)) / float(m.group(3)), units=int(m.group(2)), cpu_s=c,
                       secs=float(m.group(3)), open=int(m.group(1)), bad=int(m.group(4)))
    elif case == "tcp":
        line, c = timed_lines([os.path.join(lg, "l4load"), "tcp", "-c", f"{H}:{pt['tcp']}",
                               "-u", f"{H}:{SINK_TCP}", "-n", str(s["tcp_conns"]), "-d", f"{dur:g}",
                               "-W", f"{warm:g}"], sid, dur + warm + 30, raw)
        m = re.match(r"bytes (\d+) secs ([\d.]+) errors (\d+)", line)
        if m:
            row.update(rate=int(m.group(1)) / float(m.group(2)), units=int(m.group(1)), cpu_s=c,
                       secs=float(m.group(2)), bad=int(m.group(3)))
    elif case == "udp":
        line, c = timed_lines([os.path.join(lg, "l4load"), "udp", "-c", f"{H}:{pt['udp']}",
                               "-u", f"{H}:{SINK_UDP}", "-n", str(s["udp_sockets"]),
                               "-s", str(s["udp_bytes"]), "-d", f"{dur:g}", "-W", f"{warm:g}"],
                              sid, dur + warm + 30, raw)
        m = re.match(r"datagrams (\d+) sent (\d+) secs ([\d.]+)", line)
        if m:
            row.update(rate=int(m.group(1)) / float(m.group(3)), units=int(m.group(1)), cpu_s=c,
                       secs=float(m.group(3)), sent=int(m.group(2)), bad=0)
    elif case == "tls":
        line, c = timed_lines([os.path.join(lg, "l4load"), "tls", "-c", f"{H}:{pt['tls']}",
                               "-n", str(s["tls_threads"]), "-S", SNI, "-d", f"{dur:g}",
                               "-W", f"{warm:g}"], sid, dur + warm + 30, raw)
        m = re.match(r"conns (\d+) secs ([\d.]+) errors (\d+)", line)
        if m:
            row.update(rate=int(m.group(1)) / float(m.group(2)), units=int(m.group(1)), cpu_s=c,
                       secs=float(m.group(2)), bad=int(m.group(3)))
    elif case == "slow":
        row.update(slow_readers(s, sid, pt["http"]))
    if row.get("units") and row.get("cpu_s") is not None:
        row["cpu_us"] = row["cpu_s"] * 1e6 / row["units"]
    R.log(f"  paths {case} {name}: " + ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in row.items() if k not in ("case", "name", "tag")))
    return row


def summed(case, name, tag, sl):
    """One row from the slices sl of a contestant in a pass: rate = units
    over the measured seconds, CPU per unit over its slices."""
    ok = [x for x in sl if x.get("units") and x.get("secs")]
    row = dict(case=case, name=name, tag=tag, slices=len(sl),
               slice_rate=[x.get("rate") for x in sl])
    if not ok:
        row["error"] = "; ".join(x["error"] for x in sl if x.get("error")) or "no figures"
        return row
    row.update(slices.summed(ok, ("units", "secs", "bad")))
    n = row["units"]
    row["rate"] = n / row["secs"]
    cs = [x.get("cpu_s") for x in ok]
    row["cpu_s"] = None if None in cs else sum(cs)
    if row["cpu_s"] is not None:
        row["cpu_us"] = row["cpu_s"] * 1e6 / n
    for key in ("up_us", "client_us"):  # per unit: weighted by the slices' units
        v = [(x.get(key), x["units"]) for x in ok]
        if all(a is not None for a, _ in v):
            row[key] = sum(a * q for a, q in v) / n
    row["p99_us"] = slices.median(x.get("p99_us") for x in ok)
    row["open"] = min((x["open"] for x in ok if "open" in x), default=None)
    row["slice_rate"] = [x.get("rate") and round(x["rate"], 1) for x in sl]
    R.log(f"  paths {case} {name} {tag}: rate={row['rate']:.4g} cpu_us="
          f"{row.get('cpu_us') and round(row['cpu_us'], 2)} over {len(ok)} slices "
          f"{row['slice_rate']}")
    return row


def cases_pass(ctx, s, lg, entry, rep, procs, floors):
    """One pass of scenario 13 over the running contestants procs
    ({name: Popen}, direct: None): slow readers first, on the fresh
    processes (growth over their idle RSS), one after the other; then per
    case a warm-up each, then s["rounds"] rounds of one slice each, the order
    rotated each round (the floors sit out after s["floor_rounds"])."""
    tag = f"p{rep}"
    k = max(1, s["rounds"])
    dur = s["duration"] / k
    for name in procs:
        if name in CASES["slow"] and "slow" in s["cases"]:
            try:
                entry["rows"].append(one(ctx, s, lg, name, "slow", procs[name].pid, tag, 0))
            except Exception as e:  # one failed case must not hide the others
                R.log(f"  paths slow {name}: failed: {e}")
                entry["rows"].append(dict(case="slow", name=name, tag=tag, error=str(e)))
    for case in (c for c in CASES if c != "slow" and c in s["cases"]):
        names = [n for n in procs if n in CASES[case]]
        if not names:
            continue

        def slice_(name, rnd, case=case):
            p = procs[name]
            warm = (s["warmup"] if rnd == 0 else s["slice_warm"]) if case in INPROC else 0
            try:
                return one(ctx, s, lg, name, case, p.pid if p else None, f"{tag}-s{rnd + 1}",
                           dur, warm)
            except Exception as e:  # one failed slice must not hide the others
                R.log(f"  paths {case} {name} slice {rnd + 1}: failed: {e}")
                return dict(case=case, name=name, error=str(e))
        acc = slices.interleave(names, k, slice_,
                                warm=lambda name, case=case: warm_up(ctx, s, name, case),
                                take=lambda name, rnd: name not in floors or rnd < s["floor_rounds"])
        for name in names:
            entry["rows"].append(summed(case, name, tag, acc[name]))


def run(ctx, results):
    """Scenario 13: every pass starts each contestant (and in the first
    the floors) at once, each on its own ports, and measures every case in
    interleaved slices, direct among them (cases_pass); appends one `paths`
    entry to results["other"]."""
    _bind()
    s = settings(results.get("smoke"))
    entry = dict(case="paths", settings=s, rows=[], versions={})
    results["other"].append(entry)
    ups = []
    try:
        lg = build(ctx)
        # the floors run.py built for scenarios 1-2, else built here (none with --no-floor)
        floors = tuple(c.name for c in (getattr(ctx, "floors", None) or R.build_floors(ctx)))
        os.makedirs(os.path.join(ctx.out, "paths"), exist_ok=True)
        ups = start_upstreams(ctx, lg, s)
        UPSTREAM[:] = ups[:1]
        entry["versions"]["h2load"] = subprocess.run(["h2load", "--version"], capture_output=True,
                                                     text=True).stdout.strip()
        for rep in range(1, s["repeat"] + 1):
            R.log(f"scenario 13 (paths): pass {rep}/{s['repeat']}")
            procs = {}
            try:
                # the floors are a reference, not the verdict: first pass only, like scenarios 1-2
                for name in s["contestants"] + (floors if rep == 1 else ()):
                    try:
                        procs[name] = start(ctx, name, f"p{rep}")
                    except Exception as e:
                        R.log(f"  paths {name}: {e}")
                        entry["rows"].append(dict(case="start", name=name, tag=f"p{rep}",
                                                  error=str(e)))
                procs["direct"] = None
                cases_pass(ctx, s, lg, entry, rep, procs, floors)
            finally:
                for p in procs.values():
                    R.stop_session(p)
    except Exception as e:
        R.log(f"scenario 13 failed: {e}")
        entry["error"] = str(e)
    finally:
        for p in ups:
            R.stop_session(p)
    bad = sorted({f"{r['case']}/{r['name']}" for r in entry["rows"]
                  if r.get("error") or (r.get("rate") is None and r.get("kb_per_conn") is None)})
    if bad and not entry.get("error"):
        entry["error"] = "no figures from " + ", ".join(bad)


# ------------------------------------------------------------------ report

UNIT = {
    "grpc-unary": ("calls/s", "µs/call", 1e-3, "k"),
    "grpc-stream": ("calls/s (10 msgs)", "µs/call", 1e-3, "k"),
    "ws": ("messages/s", "µs/msg", 1e-3, "k"),
    "big-get": ("MiB/s", "µs/MiB", 1, ""),
    "big-post": ("MiB/s", "µs/MiB", 1, ""),
    "tcp": ("GB/s", "µs/GB", 1e-9, ""),
    "udp": ("datagrams/s", "µs/datagram", 1e-3, "k"),
    "tls": ("connections/s", "µs/conn", 1, ""),
}
TITLE = {
    "grpc-unary": "gRPC unary (GRPCRoute, h2c both sides)",
    "grpc-stream": "gRPC server streaming (10 messages per call)",
    "ws": "WebSocket echo",
    "big-get": "1 MiB responses",
    "big-post": "1 MiB uploads",
    "tcp": "TCPRoute throughput",
    "udp": "UDPRoute datagrams (64 bytes)",
    "tls": "TLS passthrough (TLSRoute), new connection each",
}


def _med(rows, key):
    v = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(v) if v else None


def render(res, w, smoke):
    """Appends scenario 13's section to the report (w: append a line);
    returns the rows of the bar: (criterion, measured, ok)."""
    e = next((r for r in res.get("other", []) if r.get("case") == "paths"), None)
    if e is None:
        return []
    s, rows = e["settings"], e["rows"]
    bar = []
    w("## Scenario 13: paths beyond small HTTP/1.1 (1 worker)")
    w("")
    if e.get("error"):
        w(f"**Failed**: {e['error']}")
        w("")
    k = max(1, s.get("rounds", 1))
    w(f"Each contestant runs with 1 worker and one configuration holding every path; all of them "
      "(and in the first pass the floors) run at once, each on its own ports, and each case measures "
      f"them interleaved: a {s['warmup']:g} s warm-up each (wsload and l4load warm up in their first "
      f"slice, and open each later one with {s.get('slice_warm', 0):g} s), then {k} rounds of one "
      f"{s['duration'] / k:g} s slice each (direct among them for the 1 MiB bodies; the floors in "
      f"the first {s.get('floor_rounds', k)}), the order rotated each round, so that the slices a "
      f"ratio compares were taken seconds apart; a pass sums its slices ({s['duration']:g} s per "
      f"contestant), {s['repeat']} pass{'es, figures are medians over the passes' if s['repeat'] > 1 else ''}"
      "; the slow readers run first, one contestant after the other, on the fresh processes. "
      "CPU is the proxy's utime+stime over the measured windows divided by the units completed; "
      "\"passes (rate)\" gives each pass's rate, then the range of the slices'. "
      "Load: gRPC h2load (2 threads, "
      f"{s['grpc_conns']} connections x {s['grpc_streams']} streams, a 12-byte gRPC request, "
      "`content-type: application/grpc`, `te: trailers`) to bench/loadgen/grpcup (h2c, 2 workers, "
      f"one 23-byte message or {s['stream_msgs']}, then grpc-status 0 trailers); WebSocket "
      f"bench/loadgen/wsload, {s['ws_conns']} upgraded connections each keeping one masked "
      f"{s['ws_bytes']}-byte text message in flight, echoed by two wsload -e processes; 1 MiB "
      f"bodies wrk ({s['big_conns']} connections) GET of a 1 MiB file / POST of 1 MiB to an "
      "upstream nginx (sendfile; `return 200` discards the upload), nginx with its default "
      "buffering; TCP bench/loadgen/l4load, "
      f"{s['tcp_conns']} connections sending 64 KiB writes to a sink behind the proxy (bytes "
      f"counted at the sink); UDP l4load, one thread blasting {s['udp_bytes']}-byte datagrams from "
      f"{s['udp_sockets']} source ports (sendmmsg), datagrams counted at the sink; TLS passthrough "
      f"l4load, {s['tls_threads']} threads each: connect, full TLS 1.3 handshake (P-256 "
      "certificate, no resumption) with the upstream nginx through the proxy, close. "
      "*floor-epoll* and *floor-uring* are **not HTTP proxies and not part of the verdict**: "
      "run.py's bench/floor/ programs (first pass only) that pair each client connection with "
      "one upstream connection and copy bytes both ways unparsed (16 KiB buffers); the verdict "
      "lines give gatehouse's ratio to them, what this machine allows any proxy in the path.")
    w("")
    w("| path | contestant | rate | CPU | passes (rate; slices) | errors |")
    w("|---|---|---|---|---|---|")

    def fig(case, name):
        rr = [r for r in rows if r["case"] == case and r["name"] == name and r.get("rate")]
        return (_med(rr, "rate"), _med(rr, "cpu_us"), rr)

    def f_rate(case, x):
        unit, _, scale, suf = UNIT[case]
        if x is None:
            return "-"
        if case in ("big-get", "big-post"):
            return f"{x:.0f} MiB/s"  # 1 request = 1 MiB
        return f"{x * scale:.2f}{suf}" if scale != 1 else f"{x:.0f}"

    def f_cpu(case, x):
        if x is None:
            return "-"
        if case == "tcp":
            return f"{x * 1e9 / 1e3:.0f} ms/GB"
        return f"{x:.1f} {UNIT[case][1]}".replace("µs/MiB", "µs/MiB")

    def slice_spread(case, rr):
        sp = slices.spread([x for r in rr for x in r.get("slice_rate") or []],
                           lambda x: f_rate(case, x).replace(" MiB/s", ""))
        return f" ({sp})" if sp else ""

    figs = {}
    for case in UNIT:
        for name in CASES[case]:
            rate, c, rr = fig(case, name)
            if not rr and not any(r["case"] == case and r["name"] == name for r in rows):
                continue
            figs[(case, name)] = (rate, c)
            bad = sum(r.get("bad", 0) for r in rr)
            label = f"*{name}* (non-HTTP floor)" if name in FLOORS else name
            w(f"| {TITLE[case]} ({UNIT[case][0]}) | {label} | {f_rate(case, rate)} | "
              f"{f_cpu(case, c if name != 'direct' else None)} | "
              f"{' / '.join(f_rate(case, r['rate']) for r in rr)}{slice_spread(case, rr)} | {bad} |")
    w("")

    def get(case, name, i=0):
        return figs.get((case, name), (None, None))[i]

    g = lambda case: get(case, "gatehouse")  # noqa: E731

    def vs_floors(case):
        """"; x of floor-epoll (rate, CPU), ..." for the floors that ran: what the
        machine allows a proxy that copies bytes without looking at them."""
        out = []
        for n in FLOORS:
            fr, fc = get(case, n), get(case, n, 1)
            if g(case) and fr:
                unit = "" if case in ("big-get", "big-post") else " " + UNIT[case][0]  # f_rate has it
                out.append(f"{g(case) / fr:.2f}x of {n} ({f_rate(case, fr)}{unit}, {f_cpu(case, fc)})")
        return ("; non-HTTP floor: " + ", ".join(out)) if out else ""
    for case in ("grpc-unary", "grpc-stream"):
        others = [(n, get(case, n)) for n in ("nginx", "haproxy") if get(case, n)]
        if g(case) and others:
            n, best = max(others, key=lambda t: t[1])
            cpus = [get(case, n2, 1) for n2 in ("nginx", "haproxy") if get(case, n2, 1)]
            extra = (f"; CPU {get(case, 'gatehouse', 1):.1f} vs {min(cpus):.1f} µs/call"
                     if cpus and get(case, 'gatehouse', 1) else "")
            bar.append((f"13: {TITLE[case]} calls/s >= 1.2x the better of nginx/HAProxy",
                        f"{g(case) / best:.2f}x ({f_rate(case, g(case))} vs {n} "
                        f"{f_rate(case, best)}){extra}", g(case) >= 1.2 * best))
        else:
            bar.append((f"13: {TITLE[case]} >= 1.2x", "-", None))
    gc = get("ws", "gatehouse", 1)
    oc = [(n, get("ws", n, 1)) for n in ("nginx", "haproxy") if get("ws", n, 1)]
    if gc and oc:
        n, low = min(oc, key=lambda t: t[1])
        bar.append(("13: WebSocket CPU/message <= 0.75x the lower of nginx/HAProxy",
                    f"{gc / low:.2f}x ({gc:.2f} vs {n} {low:.2f} µs/msg)", gc <= 0.75 * low))
    else:
        bar.append(("13: WebSocket CPU/message <= 0.75x", "-", None))
    for case in ("big-get", "big-post"):
        d = get(case, "direct")
        # With both cores busy, throughput follows the CPU each MiB costs the machine:
        # client + upstream directly, client + upstream + proxy through it.
        rd = [r for r in rows if r["case"] == case and r["name"] == "direct" and r.get("rate")]
        rg = [r for r in rows if r["case"] == case and r["name"] == "gatehouse" and r.get("rate")]
        tot_d = _med([dict(t=r["client_us"] + r["up_us"]) for r in rd if r.get("up_us") is not None], "t")
        tot_g = _med([dict(t=r["client_us"] + r["up_us"] + r["cpu_us"]) for r in rg
                      if r.get("up_us") is not None and r.get("cpu_us")], "t")
        busy = _med(rd + rg, "busy_pct")
        bound = (f"; machine busy {busy:.0f}%: each MiB costs client+upstream {tot_d:.0f} µs of CPU "
                 f"direct, client+upstream+gatehouse {tot_g:.0f} µs through it ({tot_g / tot_d:.2f}x)"
                 if tot_d and tot_g and busy else "")
        bar.append((f"13: {TITLE[case]} >= 0.95x the upstream served directly",
                    f"{g(case) / d:.2f}x ({g(case):.0f} vs {d:.0f} MiB/s, gatehouse "
                    f"{f_cpu(case, get(case, 'gatehouse', 1))}{bound}){vs_floors(case)}"
                    if g(case) and d else "-",
                    (g(case) >= 0.95 * d) if g(case) and d else None))
    sl = [r for r in rows if r["case"] == "slow" and r["name"] == "gatehouse" and "kb_per_conn" in r]
    if sl:
        kb = _med(sl, "kb_per_conn")
        oth = []
        for n in ("nginx", "haproxy"):
            x = _med([r for r in rows if r["case"] == "slow" and r["name"] == n], "kb_per_conn")
            if x is not None:
                oth.append(f"{n} {x:.0f} KiB")
        bar.append((f"13: memory per slow reader ({s['slow_conns']} connections reading 1 MiB at "
                    f"{s['slow_rate'] // 1024} KiB/s) <= 256 KiB",
                    f"{kb:.0f} KiB/connection (RSS growth over idle; {', '.join(oth) or '-'})",
                    kb <= 256))
    for case, rival, what in (("tcp", "haproxy", "HAProxy mode tcp"), ("udp", "nginx", "nginx stream udp"),
                              ("tls", "haproxy", "HAProxy mode tcp + req.ssl_sni")):
        gr, rr = g(case), get(case, rival)
        bar.append((f"13: {TITLE[case]} >= 1.0x {what}",
                    f"{gr / rr:.2f}x ({f_rate(case, gr)} vs {f_rate(case, rr)} {UNIT[case][0]}; CPU "
                    f"{f_cpu(case, get(case, 'gatehouse', 1))} vs {f_cpu(case, get(case, rival, 1))})"
                    + (vs_floors(case) if case == "tls" else "")
                    if gr and rr else "-", (gr >= rr) if gr and rr else None))
    return bar
