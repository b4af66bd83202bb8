# SPDX-License-Identifier: Apache-2.0
"""Scenarios 11 ("h2tls": HTTP/2 and TLS downstream) and 12 ("handshake":
a TLS handshake per request) of bench/run.py, gatehouse against nginx and
HAProxy (bench/README.md has the method).

Each contestant runs with the same worker count and three listeners, all
to the bench's plaintext HTTP/1.1 upstream nginx over keep-alive:
HTTP_PORT (h2c, prior knowledge), HTTP_PORT+10 (TLS with an ECDSA P-256
certificate, ALPN h2 and http/1.1) and HTTP_PORT+11 (the same with an
RSA-2048 certificate). Both certificates are made per run with openssl.

11: h2load (-t 2, 50 connections, 10 streams each; --h1 without
pipelining for HTTP/1.1) over h2c, h2 over TLS and HTTP/1.1 over TLS, at
each worker count. 12 (1 worker): bench/loadgen/tlsload (built here with
ninja) keeps 32 connections in flight, each a new connection, handshake,
GET, response, close; TLS 1.3 and 1.2, ECDSA and RSA, with and without
resumption (the client offers its previous session; every contestant
issues tickets, TLS 1.2 included, so TLS 1.2 resumes by ticket; gatehouse
has no session-id cache). The proxy's CPU (utime+stime of its session,
run.py's session_cpu_s) over each measured run, per request or per
handshake, is the primary figure. Scenario 12 adds two floors, not
judged: tls-floor (bench/loadgen/tlsfloor, libssl alone with gatehouse's
TLS settings, one pass) and the public-key operations priced at
`openssl speed`'s figures. Both scenarios run their contestants at once,
each on its own ports (OFF), and measure them in short interleaved slices
(bench/slices.py): run one after the other, a contestant's req/s or CPU
per handshake moved by 50% from pass to pass with the machine's load,
more than a bar's margin.
"""
import base64
import contextlib
import os
import re
import shutil
import subprocess
import sys
import time

import slices

CASES11 = ("h2c", "h2tls", "h1tls")
CASE11_LABEL = {"h2c": "h2c (prior knowledge)", "h2tls": "h2 over TLS (ALPN h2)",
                "h1tls": "HTTP/1.1 over TLS, keep-alive"}
# (TLS version, certificate, resumption)
HS_ALL = tuple((v, c, r) for v in ("1.3", "1.2") for c in ("ecdsa", "rsa") for r in (False, True))
CONTESTANTS = ("gatehouse", "nginx", "haproxy")
# Scenario 12's reference row: libssl alone, with gatehouse's TLS settings
# (bench/loadgen/tlsfloor), one pass, not judged.
FLOOR = "tls-floor"
# Scenarios 11 and 12 run every contestant at once, each on its own ports
# (_ports(R, off)): all within BENCH_PORT_BASE..+99.
OFF = {"gatehouse": 0, "nginx": 20, "haproxy": 40, FLOOR: 60}


def _R():
    """bench/run.py's module (its helpers and ports): __main__ when run.py
    is the script, else the imported module."""
    m = sys.modules.get("__main__")
    if m is not None and hasattr(m, "start_session") and hasattr(m, "HTTP_PORT"):
        return m
    import run
    return run


def settings(smoke, env):
    """The scenario's sizes (run.py main: ctx.h2tls)."""
    return dict(
        # 11: per pass, duration s per contestant in `rounds` slices of
        # duration / rounds s (whole seconds: h2load -D)
        duration=float(env("H2TLS_DURATION", "1" if smoke else "3")),
        rounds=int(env("H2TLS_ROUNDS", "1" if smoke else "3")),
        warmup=float(env("H2TLS_WARMUP", "0" if smoke else "1")),
        repeat=int(env("H2TLS_REPEAT", "1" if smoke else "2")),
        workers=[1] if smoke else [1, 2],
        conns=50, streams=10, threads=2,
        hs_duration=float(env("HS_DURATION", "1" if smoke else "2")),
        hs_warmup=float(env("HS_WARMUP", "0" if smoke else "0.5")),
        hs_conns=32, hs_threads=2, hs_speed=not smoke, hs_rounds=1 if smoke else 4,
        hs_variants=[list(x) for x in (HS_ALL if not smoke else (("1.3", "ecdsa", True),))])


# ------------------------------------------------------------------ setup

def _ports(R, off=0):
    """(h2c, TLS ECDSA, TLS RSA) ports of a contestant placed off ports up
    (scenarios 11 and 12 run them all at once: OFF)."""
    return R.HTTP_PORT + off, R.HTTP_PORT + 10 + off, R.HTTP_PORT + 11 + off


def _certs(d):
    """ECDSA P-256 and RSA-2048 self-signed certificates for bench.test:
    {kind: (cert, key, cert+key pem)}."""
    os.makedirs(d, exist_ok=True)
    out = {}
    for kind, newkey in (("ecdsa", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]),
                         ("rsa", ["-newkey", "rsa:2048"])):
        crt, key, pem = (os.path.join(d, f"{kind}.{x}") for x in ("crt", "key", "pem"))
        subprocess.run(["openssl", "req", "-x509"] + newkey +
                       ["-nodes", "-days", "2", "-subj", "/CN=bench.test",
                        "-addext", "subjectAltName=DNS:bench.test,IP:127.0.0.1",
                        "-keyout", key, "-out", crt], check=True, capture_output=True, timeout=60)
        with open(pem, "w") as f:
            f.write(open(crt).read() + open(key).read())
        out[kind] = (crt, key, pem)
    return out


def _gatehouse_cfg(R, d, certs):
    p, pe, pr = _ports(R)

    def b64(path):
        return base64.b64encode(open(path, "rb").read()).decode()

    def listener(name, port, secret):
        return (f"  - {{name: {name}, protocol: HTTPS, port: {port}, allowedRoutes: "
                f"{{namespaces: {{from: Same}}}}, tls: {{mode: Terminate, certificateRefs: "
                f"[{{name: {secret}}}]}}}}\n")
    text = R.GW_BASE.format(h=R.H, port=p) + listener("tls-ecdsa", pe, "ecdsa") + \
        listener("tls-rsa", pr, "rsa")
    for kind in ("ecdsa", "rsa"):
        crt, key, _ = certs[kind]
        text += (f"---\napiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\n"
                 f"metadata: {{name: {kind}, namespace: bench}}\n"
                 f"data: {{tls.crt: {b64(crt)}, tls.key: {b64(key)}}}\n")
    text += R.gw_service("up") + R.gw_route("all", "/", "up")
    cfg = os.path.join(d, "cfg")
    os.makedirs(cfg, exist_ok=True)
    R.write_file(os.path.join(cfg, "bench.yaml"), text)
    return cfg


def _nginx_cfg(R, ctx, d, w, certs, off=0):
    p, pe, pr = _ports(R, off)
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    H = R.H

    def tls_server(port, kind):
        crt, key, _ = certs[kind]
        return (f"    server {{ listen {H}:{port} ssl http2 reuseport backlog=4096; "
                f"ssl_certificate {crt}; ssl_certificate_key {key}; "
                f"location / {{ proxy_pass http://up; }} }}\n")
    conf = R.nginx_head(ctx, d, w) + f"""
    http2_max_requests 1000000000;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_timeout 1h;
    ssl_session_tickets on;
    upstream up {{
        server {H}:{R.UP_PORT};
        keepalive 1024;
        keepalive_requests 1000000000;
        keepalive_timeout 300s;
    }}
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    server {{ listen {H}:{p} http2 reuseport backlog=4096; location / {{ proxy_pass http://up; }} }}
{tls_server(pe, "ecdsa")}{tls_server(pr, "rsa")}}}
"""
    path = os.path.join(d, "nginx.conf")
    R.write_file(path, conf)
    return ["nginx", "-p", d + "/", "-c", path, "-g", "daemon off;"]


def _haproxy_cfg(R, ctx, d, w, certs, off=0):
    p, pe, pr = _ports(R, off)
    H = R.H
    conf = f"""global
    nbthread {w}
    maxconn {ctx.nofile // 2 - 100}
    log stderr format raw local0 warning
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode http
    log global
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 300s
    http-reuse always
frontend fe
    bind {H}:{p} proto h2
    bind {H}:{pe} ssl crt {certs["ecdsa"][2]} alpn h2,http/1.1
    bind {H}:{pr} ssl crt {certs["rsa"][2]} alpn h2,http/1.1
    default_backend be_up
backend be_up
    server s1 {H}:{R.UP_PORT}
"""
    path = os.path.join(d, "haproxy.cfg")
    R.write_file(path, conf)
    return ["haproxy", "-db", "-f", path]


# ------------------------------------------------------------------ load

def _h2load(url, conns, streams, threads, duration, h1=False, rawpath=None):
    argv = ["h2load", f"-t{threads}", f"-c{conns}", f"-m{1 if h1 else streams}",
            f"-D{duration:g}"]
    if h1:
        argv.append("--h1")
    argv.append(url)
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30).stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    if rawpath:
        with open(rawpath, "w") as f:
            f.write(out)
    r = {"rps": None, "requests": 0, "bad": 0, "mean_us": None, "max_us": None}
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", out)
    if m:
        r["requests"] = int(m.group(1))
        r["bad"] = int(m.group(2)) + int(m.group(3)) + int(m.group(4))
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if m:
        r["bad"] += int(m.group(3)) + int(m.group(4))
        r["requests"] = min(r["requests"], int(m.group(1)))
    m = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", out)
    if m:
        R = _R()
        r["max_us"], r["mean_us"] = R.to_us(m.group(2)), R.to_us(m.group(3))
    return r


def _tlsload(binary, port, variant, conns, threads, duration, rawpath=None):
    ver, _, resume = variant
    argv = [binary, "-a", f"127.0.0.1:{port}", "-c", str(conns), "-t", str(threads),
            "-d", f"{duration:g}", "-v", ver, "-n", "bench.test"]
    if resume:
        argv.append("-r")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30).stdout
    if rawpath:
        with open(rawpath, "w") as f:
            f.write(out)
    m = re.search(r"handshakes (\d+) resumed (\d+) errors (\d+) seconds ([\d.]+)", out)
    if not m:
        return {"handshakes": 0, "resumed": 0, "errors": 0, "seconds": 0.0, "hps": None}
    n, res, err, s = int(m.group(1)), int(m.group(2)), int(m.group(3)), float(m.group(4))
    hps = n / s if s and n else None
    return {"handshakes": n, "resumed": res, "errors": err, "seconds": s, "hps": hps, "rps": hps}


def _ready(R, proc, urls, limit=30.0):
    """Polls until each h2load URL answers 5 requests with 2xx."""
    t0 = time.monotonic()
    left = list(urls)
    while left and time.monotonic() - t0 < limit:
        if proc.poll() is not None:
            return False
        url, h1 = left[0]
        argv = ["h2load", "-n5", "-c1"] + (["--h1"] if h1 else []) + [url]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
        if re.search(r"status codes: 5 2xx", out):
            left.pop(0)
        else:
            time.sleep(0.1)
    return not left


def _start(R, ctx, name, w, certs, off=0):
    """Starts contestant name with w workers on its ports (_ports(R, off);
    gatehouse: off 0 and the admin port); returns its Popen or None."""
    d = os.path.join(ctx.out, "h2tls", f"{name}-w{w}")
    os.makedirs(d, exist_ok=True)
    p, pe, pr = _ports(R, off)
    ports = (p, pe, pr) + ((R.ADMIN_PORT,) if name == "gatehouse" else ())
    if not R.wait_ports_free(*ports):
        R.log(f"  h2tls: one of ports {', '.join(map(str, ports))} busy")
        return None
    if name == "gatehouse":
        try:
            proc, _ = R.gw_start(ctx, f"h2tls-w{w}", _gatehouse_cfg(R, d, certs), w)
        except RuntimeError as e:
            R.log(f"  h2tls: {e}")
            return None
    else:
        argv = (_nginx_cfg if name == "nginx" else _haproxy_cfg)(R, ctx, d, w, certs, off)
        proc = R.start_session(["timeout", "3600"] + argv, os.path.join(d, "server.log"))
    urls = [(f"http://{R.H}:{p}/", False), (f"https://{R.H}:{pe}/", False),
            (f"https://{R.H}:{pe}/", True), (f"https://{R.H}:{pr}/", False)]
    if not _ready(R, proc, urls):
        R.log(f"  h2tls: {name} w{w} did not answer on every port (see {d})")
        R.stop_session(proc)
        return None
    return proc


def _build_tlsload(R, ctx):
    build = ctx.floor_build or os.path.join(R.ROOT, "build-release")
    if not os.path.exists(os.path.join(build, "build.ninja")):
        R.log(f"handshake: no {build}/build.ninja; scenario 12 skipped")
        return None
    argv = ["ninja", "-C", build, "bench/loadgen/tlsload", "bench/loadgen/tlsfloor"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if r.returncode != 0 and "unknown target" in r.stderr:
        subprocess.run(["meson", "setup", "--reconfigure", build], capture_output=True, timeout=600)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        R.log(f"handshake: tlsload did not build; scenario 12 skipped\n{r.stdout[-2000:]}"
              f"{r.stderr[-2000:]}")
        return None
    return os.path.join(build, "bench", "loadgen", "tlsload")


def _crypto_floor():
    """openssl speed's figures (µs per operation) for the public-key work
    of the server side of a handshake: {"x25519", "ecdsa", "rsa"}; {} if
    openssl speed fails."""
    try:
        out = subprocess.run(["openssl", "speed", "-seconds", "1", "-mr", "rsa2048", "ecdsap256",
                              "ecdhx25519"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    us = {}
    for key, rx in (("rsa", r"^\+F2:\d+:2048:([\d.]+):"), ("ecdsa", r"^\+F4:\d+:256:([\d.]+):"),
                    ("x25519", r"^\+F5:\d+:253:([\d.]+):")):
        m = re.search(rx, out, re.M)
        if m and float(m.group(1)) > 0:
            us[key] = 1e6 / float(m.group(1))
    return us


def crypto_floor_us(v, speed):
    """The public-key operations of the server side of handshake variant v
    priced at openssl speed's figures: an X25519 key generation and
    derivation (each priced as one ecdhx25519 operation) in every handshake
    but a TLS 1.2 resumption, plus a signature in a full handshake."""
    ver, cert, resume = v
    if ver == "1.2" and resume:
        return 0.0
    if "x25519" not in speed or (not resume and cert not in speed):
        return None
    return 2 * speed["x25519"] + (0 if resume else speed[cert])


def _start_floor(R, ctx, certs):
    """The libssl floor (bench/loadgen/tlsfloor) on its two TLS ports, or
    None when it is not built or does not answer."""
    _, pe, pr = _ports(R, OFF[FLOOR])
    build = ctx.floor_build or os.path.join(R.ROOT, "build-release")
    binary = os.path.join(build, "bench", "loadgen", "tlsfloor")
    if not os.path.exists(binary) or not R.wait_ports_free(pe, pr):
        return None
    d = os.path.join(ctx.out, "h2tls", FLOOR)
    os.makedirs(d, exist_ok=True)
    argv = ["timeout", "3600", binary]
    for port, kind in ((pe, "ecdsa"), (pr, "rsa")):
        argv += [f"{R.H}:{port}", certs[kind][0], certs[kind][1]]
    proc = R.start_session(argv, os.path.join(d, "server.log"))
    tlsload = os.path.join(build, "bench", "loadgen", "tlsload")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10 and proc.poll() is None:
        if all(_tlsload(tlsload, port, ("1.3", "", False), 1, 1, 0.1)["handshakes"]
               for port in (pe, pr)):
            return proc
        time.sleep(0.1)
    R.log(f"  handshake: {FLOOR} did not answer (see {d})")
    R.stop_session(proc)
    return None


def hs_tag(v):
    ver, cert, resume = v
    return f"tls{ver}-{cert}-{'resumed' if resume else 'full'}"


# ------------------------------------------------------------------ run

def run(ctx, results, only):
    """Scenarios 11 ("h2tls" in only) and 12 ("handshake" in only): their
    rows go to results["runs"] (case h2tls / handshake)."""
    R = _R()
    st = ctx.h2tls
    do11, do12 = "h2tls" in only, "handshake" in only
    if not (do11 or do12):
        return
    if not shutil.which("h2load"):
        R.log("h2tls: h2load missing (nghttp2-client, scripts/deps.sh bench); skipped")
        return
    certs = _certs(os.path.join(ctx.out, "h2tls", "certs"))
    tlsload = _build_tlsload(R, ctx) if do12 else None
    if do12 and st["hs_speed"]:
        results["settings"]["handshake_speed_us"] = _crypto_floor()
    results["versions"]["h2load"] = subprocess.run(["h2load", "--version"], capture_output=True,
                                                   text=True).stdout.strip()
    results["settings"]["h2tls"] = st
    for rep in range(1, st["repeat"] + 1):
        R.log(f"pass {rep}/{st['repeat']}: scenarios 11-12 (HTTP/2, TLS, handshakes)")
        for w in (st["workers"] if do11 else []):
            with R.timed(results, "11"):
                _pass11(R, ctx, st, results, rep, w, certs)
        if do12 and tlsload:
            with R.timed(results, "12"):
                _pass12(R, ctx, st, results, rep, certs, tlsload)


@contextlib.contextmanager
def _running(R, ctx, w, certs, floor=False):
    """Every contestant at once, each on its own ports (OFF) with w
    workers, and tls-floor if floor: {name: Popen} of those that answered;
    all stopped after the with-block."""
    procs = {}
    try:
        for name in CONTESTANTS:
            proc = _start(R, ctx, name, w, certs, OFF[name])
            if proc is not None:
                procs[name] = proc
        if floor:
            proc = _start_floor(R, ctx, certs)
            if proc is not None:
                procs[FLOOR] = proc
        yield procs
    finally:
        for proc in procs.values():
            R.stop_session(proc)


def _pass11(R, ctx, st, results, rep, w, certs):
    """One pass of scenario 11 at w workers: every contestant at once on
    its own ports, measured in interleaved slices."""
    with _running(R, ctx, w, certs) as procs:
        _run11(R, ctx, st, results, rep, w, procs)


def _run11(R, ctx, st, results, rep, w, procs):
    """One pass of scenario 11 at w workers, every contestant running (procs,
    each on its own ports): a warm-up each (h2c; every slice opens its own
    connections and TLS sessions, so later cases need none), then per case
    st["rounds"] rounds of one slice each (st["duration"] / rounds s), the
    order rotated each round; a pass's figures sum its slices."""
    names = list(procs)
    k = max(1, st["rounds"])
    sl_s = st["duration"] / k

    def url(name, case):
        p, pe, _ = _ports(R, OFF[name])
        return f"http://{R.H}:{p}/" if case == "h2c" else f"https://{R.H}:{pe}/"

    def warm(name):
        if st["warmup"] > 0:
            _h2load(url(name, "h2c"), st["conns"], st["streams"], st["threads"], st["warmup"])
    for i, case in enumerate(CASES11):
        h1 = case == "h1tls"

        def one(name, rnd):
            tag = f"{rep}-{case}-{name}-w{w}-s{rnd + 1}"
            return slices.cpu_run(R, procs[name].pid, lambda: _h2load(
                url(name, case), st["conns"], st["streams"], st["threads"], sl_s, h1,
                os.path.join(ctx.raw, tag + ".txt")))
        acc = slices.interleave(names, k, one, warm if i == 0 else None)
        for name in names:
            sl = acc[name]
            r = slices.summed(sl, ("requests", "bad", "cpu_s", "cpu_user_s", "cpu_sys_s"))
            n = r["requests"] or 0
            secs = sum(x["requests"] / x["rps"] for x in sl if x["rps"])
            r["rps"] = n / secs if n and secs else None
            r["slice_rps"] = [x["rps"] and round(x["rps"]) for x in sl]
            r["mean_us"] = slices.median(x["mean_us"] for x in sl)
            r["max_us"] = max((x["max_us"] for x in sl if x["max_us"] is not None), default=None)
            r["cpu_us_req"] = r["cpu_s"] * 1e6 / n if n and r["cpu_s"] is not None else None
            r["user_us_req"] = r["cpu_user_s"] * 1e6 / n if n and r["cpu_s"] is not None else None
            r["sys_us_req"] = r["cpu_sys_s"] * 1e6 / n if n and r["cpu_s"] is not None else None
            R.log(f"  {rep}-{case}-{name}-w{w}: {r['rps'] or 0:.0f} req/s mean={r['mean_us']}us "
                  f"bad={r['bad']} cpu/req={r['cpu_us_req'] and round(r['cpu_us_req'], 2)}us "
                  f"(user {r['user_us_req'] and round(r['user_us_req'], 2)} "
                  f"sys {r['sys_us_req'] and round(r['sys_us_req'], 2)}) busy={r['busy_pct']}% "
                  f"slices {r['slice_rps']}")
            results["runs"].append(dict(r, rep=rep, case="h2tls", variant=case, proxy=name,
                                        workers=w, conns=st["conns"]))


def _pass12(R, ctx, st, results, rep, certs, tlsload):
    """One pass of scenario 12: every contestant at once on its own ports
    (tls-floor in the first pass only), measured in interleaved slices."""
    with _running(R, ctx, 1, certs, floor=rep == 1) as procs:
        _run12(R, ctx, st, results, rep, procs, tlsload)


def _run12(R, ctx, st, results, rep, procs, tlsload):
    """Per variant: a warm-up per contestant, then hs_rounds rounds of one
    slice each (hs_duration / hs_rounds seconds), the order rotated each
    round, so that every contestant sees about the same load; a pass's
    figures sum its slices."""
    names = list(procs)
    k = max(1, st["hs_rounds"])
    for v in st["hs_variants"]:
        v = tuple(v)

        def port(name):
            _, pe, pr = _ports(R, OFF[name])
            return pe if v[1] == "ecdsa" else pr
        def warm(name):
            if st["hs_warmup"] > 0:
                _tlsload(tlsload, port(name), v, st["hs_conns"], st["hs_threads"], st["hs_warmup"])

        def one(name, rnd):
            tag = f"{rep}-hs-{hs_tag(v)}-{name}-s{rnd + 1}"
            return slices.cpu_run(R, procs[name].pid, lambda: _tlsload(
                tlsload, port(name), v, st["hs_conns"], st["hs_threads"], st["hs_duration"] / k,
                os.path.join(ctx.raw, tag + ".txt")))
        acc = slices.interleave(names, k, one, warm)
        for name in names:
            sl = acc[name]
            r = slices.summed(sl, ("handshakes", "resumed", "errors", "seconds", "cpu_s",
                                   "cpu_user_s", "cpu_sys_s"))
            n = r["handshakes"]
            r["hps"] = r["rps"] = n / r["seconds"] if n and r["seconds"] else None
            r["cpu_us_hs"] = r["cpu_s"] * 1e6 / n if n else None
            # Each slice's tlsload starts every connection slot with a full
            # handshake: it has no session yet to offer.
            r["offered"] = sum(max(0, x["handshakes"] - st["hs_conns"]) for x in sl)
            R.log(f"  {rep}-hs-{hs_tag(v)}-{name}: {r['hps'] or 0:.0f} handshakes/s "
                  f"resumed={r['resumed']} errors={r['errors']} "
                  f"cpu/handshake={r['cpu_us_hs'] and round(r['cpu_us_hs'], 1)}us "
                  f"busy={r['busy_pct']}% ({len(sl)} slices)")
            results["runs"].append(dict(r, rep=rep, case="handshake", variant=hs_tag(v),
                                        proxy=name, workers=1, conns=st["hs_conns"]))


# ------------------------------------------------------------------ report

def render(res, w, smoke):
    """Appends the sections of scenarios 11 and 12 through w (a line
    writer); returns the bar rows [(criterion, measured, ok)]."""
    import report as rp
    runs = res["runs"]
    st = res["settings"].get("h2tls")
    bar = []
    if not st:
        return bar

    def rows(**kw):
        return [r for r in runs if all(r.get(k) == x for k, x in kw.items())]

    h2 = rows(case="h2tls")
    if h2:
        w("## Scenario 11: HTTP/2 and TLS downstream (`GET /` -> 200 \"ok\", upstream HTTP/1.1)")
        w("")
        w(f"h2load -t {st['threads']}, {st['conns']} connections, {st['streams']} concurrent streams "
          "each for h2 (h2c with prior knowledge; h2 over TLS by ALPN), `--h1` with one request at "
          "a time per connection for HTTP/1.1 over TLS (keep-alive); TLS with an ECDSA P-256 "
          "certificate made for the run. nginx: `listen ... http2` / `ssl http2`, keep-alive "
          "upstream pool, `ssl_session_cache`; HAProxy: `proto h2` / `ssl crt ... alpn "
          "h2,http/1.1`, `http-reuse always`, `nbthread` = workers. The three contestants run "
          "at once, each on its own ports, and are measured interleaved (like scenario 12): per "
          f"worker count a {st['warmup']:g} s warm-up each, then per downstream "
          f"{st.get('rounds', 1)} rounds of one {st['duration'] / st.get('rounds', 1):g} s slice "
          "each, the order rotated each round (every slice opens its own connections and TLS "
          f"sessions); a pass sums its slices ({st['duration']:g} s per contestant); "
          f"{st['repeat']} passes, medians. h2load gives no percentiles: mean is its mean time "
          "per request (the median of the slices'). CPU µs/req = the proxy's utime+stime over its "
          "slices / requests that succeeded. \"req/s per pass\": thousands, then the range of "
          "the slices.")
        w("")
        w("| workers | downstream | contestant | req/s | req/s per pass | mean ms | CPU µs/req "
          "| user / sys µs/req | req/s vs gatehouse | CPU/req vs gatehouse | CPUs busy | bad |")
        w("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for wk in st["workers"]:
            for case in CASES11:
                figs = {}
                for px in CONTESTANTS:
                    rr = rows(case="h2tls", variant=case, proxy=px, workers=wk)
                    if not rr:
                        continue
                    figs[px] = dict(rps=rp.med(rr, "rps"), cpu=rp.med(rr, "cpu_us_req"),
                                    mean=rp.med(rr, "mean_us"), usr=rp.med(rr, "user_us_req"),
                                    sys=rp.med(rr, "sys_us_req"), busy=rp.med(rr, "busy_pct"),
                                    bad=sum(r["bad"] or 0 for r in rr),
                                    passes=_passes(rp, rr))
                g = figs.get("gatehouse")
                for px, f in figs.items():
                    w(f"| {wk} | {CASE11_LABEL[case]} | {px} | {rp.f_rps(f['rps'])} | {f['passes']} "
                      f"| {rp.f_ms(f['mean'])} | {rp.f_us(f['cpu'])} | {rp.f_split(f['usr'], f['sys'])} "
                      f"| {rp.f_x(f['rps'], g and g['rps'])} | {rp.f_x(f['cpu'], g and g['cpu'])} "
                      f"| {rp.pct_s(f['busy'])} | {f['bad']} |")
                others = [(px, figs[px]) for px in ("nginx", "haproxy") if px in figs and figs[px]["rps"]]
                if not g or not g["rps"] or not others:
                    continue
                bn, best = max(others, key=lambda x: x[1]["rps"])
                sc = f"11: {CASE11_LABEL[case]}, {wk} worker{'s' if wk > 1 else ''}"
                bar.append((f"{sc}: req/s >= 1.2x the better of nginx/HAProxy ({bn})",
                            f"{g['rps'] / best['rps']:.2f}x ({rp.f_rps(g['rps'])} vs "
                            f"{rp.f_rps(best['rps'])})", g["rps"] >= 1.2 * best["rps"] and g["bad"] == 0))
                cpus = [(px, f["cpu"]) for px, f in others if f["cpu"]]
                if cpus and g["cpu"]:
                    ln, low = min(cpus, key=lambda x: x[1])
                    bar.append((f"{sc}: CPU/req <= 0.75x the lower of nginx/HAProxy ({ln})",
                                f"{g['cpu'] / low:.2f}x ({rp.f_us(g['cpu'])} vs {rp.f_us(low)} µs)",
                                g["cpu"] <= 0.75 * low))
        w("")
    hs = rows(case="handshake")
    if hs:
        w("## Scenario 12: TLS handshakes (a new connection per request, 1 worker)")
        w("")
        w(f"bench/loadgen/tlsload ({st['hs_threads']} threads, {st['hs_conns']} connections in "
          "flight): each connects, completes the handshake, sends `GET /` over HTTP/1.1, reads the "
          "response and closes (close_notify, then a reset). \"resumed\": the client offers the "
          "session of its previous connection; every contestant issues session tickets (TLS 1.3 "
          "tickets; TLS 1.2 resumes by ticket too) and the share of the handshakes offering a "
          "session (all but each connection's first in a slice) that the server resumed is shown. Same contestants, listeners and certificates as scenario 11, but all running "
          "at once, each on its own ports, so that they are measured interleaved: per variant a "
          f"{st['hs_warmup']:g} s warm-up each, then {st.get('hs_rounds', 1)} rounds of one "
          f"{st['hs_duration'] / st.get('hs_rounds', 1):g} s slice each, the order rotated each "
          f"round; a pass sums its slices; {st['repeat']} passes, medians. CPU µs/handshake = the "
          "proxy's utime+stime over its slices / exchanges completed (handshake, request and "
          "response; the upstream request rides a keep-alive connection). The bar (handshakes/s >= 1.2x at the same CPU) is judged as "
          "CPU µs/handshake <= 1/1.2 (0.83x) the lower of nginx/HAProxy; handshakes/s are shown "
          "beside it.")
        w("")
        w("| TLS | certificate | session | contestant | handshakes/s | per pass | resumed "
          "| CPU µs/handshake | handshakes/s vs gatehouse | CPU vs gatehouse | CPUs busy | errors |")
        w("|---|---|---|---|---|---|---|---|---|---|---|---|")
        speed = res["settings"].get("handshake_speed_us") or {}
        floors = []
        for v in st["hs_variants"]:
            ver, cert, resume = v
            tag = hs_tag(tuple(v))
            figs = {}
            for px in CONTESTANTS + (FLOOR,):
                rr = rows(case="handshake", variant=tag, proxy=px)
                if not rr:
                    continue
                figs[px] = dict(hps=rp.med(rr, "hps"), cpu=rp.med(rr, "cpu_us_hs"),
                                busy=rp.med(rr, "busy_pct"), err=sum(r["errors"] for r in rr),
                                resumed=_resumed_pct(rr),
                                passes=" / ".join(f"{r['hps'] / 1000:.2f}" for r in rr if r.get("hps")))
            g = figs.get("gatehouse")
            for px, f in figs.items():
                label = f"*{px}* (libssl alone)" if px == FLOOR else px
                w(f"| {ver} | {cert} | {'resumed' if resume else 'full'} | {label} | "
                  f"{rp.f_rps(f['hps'])} | {f['passes']} | {rp.pct_s(f['resumed'])} | "
                  f"{rp.f_us(f['cpu'])} | {rp.f_x(f['hps'], g and g['hps'])} | "
                  f"{rp.f_x(f['cpu'], g and g['cpu'])} | {rp.pct_s(f['busy'])} | {f['err']} |")
            others = [(px, figs[px]) for px in ("nginx", "haproxy") if px in figs and figs[px]["cpu"]]
            if not g or not g["cpu"] or not others:
                continue
            ln, low = min(others, key=lambda x: x[1]["cpu"])
            bn, best = max(others, key=lambda x: x[1]["hps"] or 0)
            fl = figs.get(FLOOR)
            floors.append((v, g["cpu"], low["cpu"] / 1.2, fl and fl["cpu"],
                           crypto_floor_us(tuple(v), speed)))
            ok = g["cpu"] <= low["cpu"] / 1.2
            if resume:
                ok = ok and (g["resumed"] or 0) >= 90
            bar.append((f"12: TLS {ver} {cert} {'resumed' if resume else 'full'} handshakes: "
                        f"CPU/handshake <= 0.83x the lower of nginx/HAProxy ({ln})"
                        + (", >= 90% resumed" if resume else ""),
                        f"{g['cpu'] / low['cpu']:.2f}x ({rp.f_us(g['cpu'])} vs {rp.f_us(low['cpu'])} "
                        f"µs); handshakes/s {rp.f_x(g['hps'], best['hps'])} of {bn}"
                        + (f"; {rp.pct_s(g['resumed'])} resumed" if resume else ""), ok))
        w("")
        _render_floors(w, rp, floors, speed)
    return bar


def _passes(rp, rr):
    """Per-pass req/s (thousands), then the range of the slices'."""
    sp = slices.spread([x for r in rr for x in r.get("slice_rps") or []],
                       lambda x: f"{x / 1000:.1f}")
    return rp.passes(rr) + (f" (slices {sp})" if sp else "")


def _resumed_pct(rr):
    """The share of handshakes that offered a session (rows with
    "offered") which the server resumed, else of all handshakes."""
    n = sum(r.get("offered", r["handshakes"]) for r in rr)
    return 100.0 * min(n, sum(r["resumed"] for r in rr)) / n if n else None


def _render_floors(w, rp, floors, speed):
    """Scenario 12's floors beside each bar: the public-key operations
    alone, and libssl alone (the tls-floor row)."""
    if not floors:
        return
    w(f"**Floors.** *{FLOOR}* (bench/loadgen/tlsfloor, one pass, not judged) is libssl alone: "
      "one thread terminating TLS with gatehouse's TLS settings (same suites, tickets only, one "
      "ticket per handshake, read-ahead) and answering `200 ok` itself, without routing nor "
      "upstream: the part of a handshake's CPU that belongs to libssl with these settings, "
      "which a proxy on this libssl pays too. The "
      "public-key floor prices the server's public-key operations at `openssl speed`'s figures "
      "from this run"
      + (f" (X25519 {speed['x25519']:.1f} µs per key generation or derivation"
         + (f", ECDSA P-256 sign {speed['ecdsa']:.1f} µs" if "ecdsa" in speed else "")
         + (f", RSA-2048 sign {speed['rsa']:.1f} µs" if "rsa" in speed else "") + ")"
         if "x25519" in speed else "")
      + ": two X25519 operations in every handshake but a TLS 1.2 resumption, plus a signature "
      "in a full one.")
    w("")
    w("| TLS | certificate | session | public-key floor µs | libssl floor CPU µs/handshake "
      "| bar: 0.83x the lower of nginx/HAProxy µs | gatehouse µs | gatehouse vs libssl floor |")
    w("|---|---|---|---|---|---|---|---|")
    for (ver, cert, resume), g, bar_us, fl, cf in floors:
        w(f"| {ver} | {cert} | {'resumed' if resume else 'full'} | {rp.f_us(cf)} | {rp.f_us(fl)} "
          f"| {rp.f_us(bar_us)} | {rp.f_us(g)} | {rp.f_x(g, fl)} |")
    w("")
