# SPDX-License-Identifier: Apache-2.0
"""Scenario 14, "scale": gatehouse (standalone, 1 worker) with many routes
and many Gateways, against the route-scale bars of issue 18.

- 10,000 host routes (one HTTPRoute per hostname hNNNNN.scale.test, one
  catch-all rule): start to /readyz 200 (median of the starts), PSS and RSS
  0.3 s after ready (summed over the session's processes, from
  /proc/PID/smaps_rollup and /proc/PID/status). The anchors, memory only, with
  the same hostnames through the existing hooks' `host` mode: HAProxy with
  one map_str lookup in a map file, nginx with one server block per name.
- 100,000 routes, hostnames and paths mixed: 10,000 hostnames x 10
  PathPrefix rules, one HTTPRoute (one rule) each, as scenario 3 with 10x
  the routes: ready time, PSS, RSS; then short wrk runs to the first route
  and to the last one, alternating, CPU/req and req/s of the last over the
  first.
- 1,000 Gateways with 10 HTTP listeners each: every Gateway on an address of
  its own (127.2.x.y), listeners on 2 ports x 5 hostnames, one HTTPRoute per
  Gateway: ready time.

Gatehouse's configs are written many routes to a file (ctx.scale_per_file),
as run.gw_big_config does. Everything bounded: each start is given
ctx.scale_ready_limit seconds.

    run(ctx, results)           appends a dict (case "scale") to results["other"]
    render(res, w, smoke)       writes the section, returns the bar rows
"""
import copy
import os
import shutil
import socket
import statistics
import sys
import time

import slices

R = None  # bench/run.py, the running driver (see _driver)


def _driver():
    """run.py's module: the running one when run.py is the main script (so
    its log file and its list of live sessions are the ones used), else an
    import."""
    global R
    if R is None:
        m = sys.modules.get("__main__")
        if m is None or not hasattr(m, "gw_start"):
            import run as m
        R = m
    return R

SCALE_DOMAIN = "scale.test"


# ------------------------------------------------------------------ configs

def _base(svc_port, gateways=None):
    """GatewayClass, the bench Gateway (unless gateways, a list of YAML
    Gateways, replaces it) and the upstream's Service."""
    gw = gateways if gateways is not None else [f"""---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: bench, namespace: bench}}
spec:
  gatewayClassName: gatehouse
  addresses: [{{type: IPAddress, value: {R.H}}}]
  listeners:
  - {{name: http, protocol: HTTP, port: {R.HTTP_PORT}, allowedRoutes: {{namespaces: {{from: Same}}}}}}
"""]
    return ("""apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: gatehouse}
spec: {controllerName: gatehouse.dev/gateway-controller}
""" + "".join(gw) + f"""---
apiVersion: v1
kind: Service
metadata: {{name: up, namespace: bench}}
spec:
  ports: [{{name: http, port: {svc_port}, targetPort: {svc_port}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: up-1, namespace: bench, labels: {{kubernetes.io/service-name: up}}}}
addressType: IPv4
ports: [{{name: http, port: {svc_port}, protocol: TCP}}]
endpoints: [{{addresses: [{R.H}], conditions: {{ready: true}}}}]
""")


def _route(name, host, path, parent="bench"):
    m = f"matches: [{{path: {{type: PathPrefix, value: \"{path}\"}}}}], " if path else ""
    return (f"---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
            f"metadata: {{name: {name}, namespace: bench}}\nspec:\n"
            f"  parentRefs: [{{name: {parent}}}]\n  hostnames: [{host}]\n"
            f"  rules: [{{{m}backendRefs: [{{name: up, port: {R.UP_PORT}}}]}}]\n")


def host_name(i):
    return f"h{i:05d}.{SCALE_DOMAIN}"


def _write_routes(d, routes, per_file):
    """routes: an iterable of YAML documents, per_file to a file."""
    buf, k = [], 0
    for doc in routes:
        buf.append(doc)
        if len(buf) == per_file:
            R.write_file(os.path.join(d, f"routes-{k:04d}.yaml"), "".join(buf))
            buf, k = [], k + 1
    if buf:
        R.write_file(os.path.join(d, f"routes-{k:04d}.yaml"), "".join(buf))


def config_hosts(d, n, per_file):
    """n HTTPRoutes, each one hostname with a catch-all rule."""
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    R.write_file(os.path.join(d, "base.yaml"), _base(R.UP_PORT))
    _write_routes(d, (_route(f"h{i:05d}", host_name(i), None) for i in range(n)), per_file)


def config_mixed(d, hosts, paths, per_file):
    """hosts x paths HTTPRoutes, each one hostname and one PathPrefix /pN/."""
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    R.write_file(os.path.join(d, "base.yaml"), _base(R.UP_PORT))
    _write_routes(d, (_route(f"m{k:06d}", host_name(k // paths), f"/p{k % paths}/")
                      for k in range(hosts * paths)), per_file)


def gateway_addr(i):
    return f"127.2.{i // 250}.{i % 250 + 1}"


def scale_ports(ctx):
    """The two listener ports of the Gateways case, inside the run's port
    block (BENCH_PORT_BASE + 10, + 11)."""
    return R.HTTP_PORT + 10, R.HTTP_PORT + 11


def config_gateways(ctx, d, n, listeners, per_file):
    """n Gateways, each on an address of its own, listeners HTTP listeners
    (2 ports x listeners/2 hostnames), one HTTPRoute each."""
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    ports = scale_ports(ctx)
    gws = []
    for i in range(n):
        lis = "".join(
            f"  - {{name: l{j}, protocol: HTTP, port: {ports[j % 2]}, "
            f"hostname: l{j}.g{i:04d}.{SCALE_DOMAIN}, allowedRoutes: {{namespaces: {{from: Same}}}}}}\n"
            for j in range(listeners))
        gws.append(f"---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
                   f"metadata: {{name: g{i:04d}, namespace: bench}}\nspec:\n"
                   f"  gatewayClassName: gatehouse\n"
                   f"  addresses: [{{type: IPAddress, value: {gateway_addr(i)}}}]\n"
                   f"  listeners:\n{lis}")
    R.write_file(os.path.join(d, "base.yaml"), _base(R.UP_PORT, gws))
    _write_routes(d, (_route(f"g{i:04d}", f"\"*.g{i:04d}.{SCALE_DOMAIN}\"", None, f"g{i:04d}")
                      for i in range(n)), per_file)


# ------------------------------------------------------------------ measures

def session_pss_kb(sid):
    """PSS (kB) of every live process of session sid, from smaps_rollup."""
    t = 0
    for pid in R.session_pids(sid):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        t += int(line.split()[1])
                        break
        except OSError:
            pass
    return t


def _memory(sid):
    time.sleep(0.3)
    return session_pss_kb(sid), R.session_rss_kb(sid)


def starts(ctx, tag, cfg, probe=None):
    """ctx.scale_starts starts of gatehouse on cfg: ready seconds and memory
    of each; probe (host, path) must answer 200 after the first start."""
    out = []
    for i in range(ctx.scale_starts):
        p, ready = R.gw_start(ctx, tag, cfg, 1)
        try:
            if probe and i == 0 and R.wait_status(R.HTTP_PORT, probe[1], 200, 5,
                                                  host=probe[0]) is None:
                R.log(f"  scale {tag}: {probe[0]}{probe[1]} not served after /readyz")
            pss, rss = _memory(p.pid)
        finally:
            R.stop_session(p)
        out.append(dict(ready_ms=round(ready * 1e3, 1), pss_kb=pss, rss_kb=rss))
        R.log(f"  scale {tag}: ready {ready * 1e3:.0f} ms, PSS {pss} kB, RSS {rss} kB")
    return out


def summary(rows):
    return dict(ready_ms=round(statistics.median(r["ready_ms"] for r in rows), 1),
                pss_kb=statistics.median(r["pss_kb"] for r in rows),
                rss_kb=statistics.median(r["rss_kb"] for r in rows), all=rows)


def anchors(ctx, n):
    """HAProxy (map file) and nginx (server blocks) with the n hostnames:
    PSS and RSS 0.3 s after they first answer."""
    f = os.path.join(ctx.out, f"routes-scale-host-{n}.txt")
    with open(f, "w") as o:
        o.writelines(f"host {host_name(i)}\n" for i in range(n))
    out = {}
    for c in ctx.contestants[1:]:
        try:
            t0 = time.monotonic()
            sid = c.start(f"scale-host-{n}", 1, "host", f, probe=("/x", host_name(n - 1)))
            ready = time.monotonic() - t0
            pss, rss = _memory(sid)
            out[c.name] = dict(pss_kb=pss, rss_kb=rss, ready_ms=round(ready * 1e3, 1))
            R.log(f"  scale {c.name} {n} hosts: answered in {ready * 1e3:.0f} ms (config "
                  f"written included), PSS {pss} kB, RSS {rss} kB")
        except Exception as e:  # noqa: BLE001 - logged, the row stays empty
            R.log(f"  scale {c.name} {n} hosts: {e}")
        c.stop()
    return out


def first_last(ctx, cfg, hosts, paths):
    """With the mixed config: wrk to the first route and to the last in
    short interleaved slices (bench/slices.py: ctx.scale_passes rounds,
    ctx.scale_wrk_s each, the order rotated each round), after one warm-up
    of each: the two are measured moments apart, so the machine's drifting
    load falls on both alike (3 long passes each had put 8% between two
    routes that cost the same 7,604 instructions per request under
    callgrind)."""
    sub = copy.copy(ctx)
    sub.duration, sub.warmup = ctx.scale_wrk_s, 0
    p, _ = R.gw_start(ctx, "scale-mixed-traffic", cfg, 1)
    targets = {"first": (host_name(0), "/p0/x"),
               "last": (host_name(hosts - 1), f"/p{paths - 1}/x")}

    def warm(var):
        host, path = targets[var]
        if R.wait_status(R.HTTP_PORT, path, 200, 5, host=host) is None:
            raise RuntimeError(f"{host}{path} not served")
        if ctx.scale_wrk_warmup > 0:
            R.wrk(f"http://{R.H}:{R.HTTP_PORT}{path}", ctx.route_conns, ctx.scale_wrk_warmup,
                  extra=[f"Host: {host}"])

    def measure(var, rnd):
        host, path = targets[var]
        r = R.measure(sub, f"{rnd + 1}-scale-{var}", f"http://{R.H}:{R.HTTP_PORT}{path}",
                      ctx.route_conns, p.pid, extra=[f"Host: {host}"])
        return dict(r, rep=rnd + 1, variant=var)

    try:
        acc = slices.interleave(list(targets), ctx.scale_passes, measure, warm=warm)
    finally:
        R.stop_session(p)
    return [r for var in targets for r in acc[var]]


def run(ctx, results):
    _driver()
    r = dict(case="scale", error=None, hosts=ctx.scale_hosts, mixed_hosts=ctx.scale_mixed_hosts,
             mixed_paths=ctx.scale_mixed_paths, gateways=ctx.scale_gateways,
             listeners=ctx.scale_listeners, starts=ctx.scale_starts)
    results["other"].append(r)
    base = os.path.join(ctx.out, "gatehouse", "scale")
    try:
        d = os.path.join(base, "hosts")
        t0 = time.monotonic()
        config_hosts(d, ctx.scale_hosts, ctx.scale_per_file)
        R.log(f"  scale: {ctx.scale_hosts:,} host routes written in {time.monotonic() - t0:.1f} s")
        r["host"] = summary(starts(ctx, "scale-hosts", d,
                                   (host_name(ctx.scale_hosts - 1), "/x")))
        r["anchors"] = anchors(ctx, ctx.scale_hosts)

        d = os.path.join(base, "mixed")
        h, n = ctx.scale_mixed_hosts, ctx.scale_mixed_paths
        t0 = time.monotonic()
        config_mixed(d, h, n, ctx.scale_per_file)
        R.log(f"  scale: {h * n:,} mixed routes written in {time.monotonic() - t0:.1f} s")
        r["mixed"] = summary(starts(ctx, "scale-mixed", d, (host_name(h - 1), f"/p{n - 1}/x")))
        r["mixed_runs"] = first_last(ctx, d, h, n)

        d = os.path.join(base, "gateways")
        config_gateways(ctx, d, ctx.scale_gateways, ctx.scale_listeners, ctx.scale_per_file)
        last = ctx.scale_gateways - 1
        r["gw"] = summary(starts(ctx, "scale-gateways", d))
        # the last Gateway's last listener answers through its route
        p, _ = R.gw_start(ctx, "scale-gateways-probe", d, 1)
        try:
            host = f"l{ctx.scale_listeners - 1}.g{last:04d}.{SCALE_DOMAIN}"
            port = scale_ports(ctx)[(ctx.scale_listeners - 1) % 2]
            r["gw_last_served"] = _status_at(gateway_addr(last), port, host) == 200
        finally:
            R.stop_session(p)
        if not r["gw_last_served"]:
            R.log(f"  scale: Gateway g{last:04d} did not answer 200 for {host}")
    except Exception as e:  # noqa: BLE001 - recorded, the report shows it
        r["error"] = str(e)
        R.log(f"  scale: ERROR {e}")


def _status_at(addr, port, host, limit=5.0):
    """The first status line's code of GET /x (Host: host) on addr:port,
    retried until 200 or limit seconds; 0 on failure."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((addr, port), timeout=1.0) as s:
                s.sendall(f"GET /x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                head = s.recv(4096)
                code = int(head.split(b" ", 2)[1])
                if code == 200:
                    return code
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.05)
    return 0


# ------------------------------------------------------------------ report

def _mib(kb):
    return f"{kb / 1024:.1f} MiB"


def render(res, w, smoke):
    """The scenario 14 section; returns the bar rows (criterion, measured, ok)."""
    sc = next((r for r in res["other"] if r.get("case") == "scale"), None)
    if not sc:
        return []
    bar = []
    w("## Scenario 14: route and Gateway scale (standalone, 1 worker)")
    w("")
    w(f"Start to the first 200 from /readyz (polled every 2 ms; median of {sc['starts']} starts), "
      "then PSS (/proc/PID/smaps_rollup) and RSS 0.3 s later, summed over the server's processes. "
      f"**Host routes**: {sc['hosts']:,} HTTPRoutes, each one hostname (hNNNNN.scale.test) with a "
      "catch-all rule; the anchors (memory only) serve the same names, HAProxy with one `map_str` "
      "lookup in a map file, nginx with one server block per name (their time is to the first 200 "
      "for the last name, config writing included). **Mixed**: "
      f"{sc['mixed_hosts'] * sc['mixed_paths']:,} HTTPRoutes, {sc['mixed_hosts']:,} hostnames x "
      f"{sc['mixed_paths']} PathPrefix rules `/pN/`, one rule each; then wrk (50 connections, "
      "interleaved 1-s slices, the order rotated each round) to the first route and to the "
      "last, after a warm-up of each; requests, time and CPU summed over each route's slices. "
      f"**Gateways**: {sc['gateways']:,} Gateways, each on an address of its own (127.2.x.y), "
      f"{sc['listeners']} HTTP listeners each (2 ports x {sc['listeners'] // 2} hostnames), one "
      "HTTPRoute per Gateway.")
    w("")
    if sc.get("error"):
        w(f"**Error**: {sc['error']}")
        w("")
    w("| case | contestant | ready ms (median) | each start ms | PSS | RSS |")
    w("|---|---|---|---|---|---|")
    for key, label in (("host", f"{sc['hosts']:,} host routes"),
                       ("mixed", f"{sc['mixed_hosts'] * sc['mixed_paths']:,} mixed routes"),
                       ("gw", f"{sc['gateways']:,} Gateways x {sc['listeners']} listeners")):
        x = sc.get(key)
        if not x:
            continue
        each = ", ".join(f"{a['ready_ms']:.0f}" for a in x["all"])
        w(f"| {label} | gatehouse | {x['ready_ms']} | {each} | {_mib(x['pss_kb'])} | "
          f"{_mib(x['rss_kb'])} |")
        if key == "host":
            for name, a in sorted(sc.get("anchors", {}).items()):
                w(f"| {label} | {name} | ({a['ready_ms']:.0f}) | - | {_mib(a['pss_kb'])} | "
                  f"{_mib(a['rss_kb'])} |")
    w("")
    runs = sc.get("mixed_runs") or []
    fl = {}
    if runs:
        w("| route | req/s | req/s per slice | p50 ms | p99 ms | CPU µs/req | bad |")
        w("|---|---|---|---|---|---|---|")
        for var in ("first", "last"):
            rr = [x for x in runs if x["variant"] == var]
            fl[var] = slices.pooled(rr)
            per = " / ".join(f"{(x['rps'] or 0) / 1e3:.1f}" for x in rr)
            w(f"| {var} of {sc['mixed_hosts'] * sc['mixed_paths']:,} | {fl[var]['rps'] / 1e3:.1f}k | "
              f"{per} | {statistics.median(x['p50_us'] or 0 for x in rr) / 1e3:.2f} | "
              f"{statistics.median(x['p99_us'] or 0 for x in rr) / 1e3:.2f} | "
              f"{fl[var]['cpu']:.1f} | {sum(x['bad'] for x in rr)} |")
        w("")
    ho, mi, gw = sc.get("host"), sc.get("mixed"), sc.get("gw")
    n_mixed = sc["mixed_hosts"] * sc["mixed_paths"]
    if ho:
        bar.append((f"14: {sc['hosts']:,} host routes: start to /readyz < 0.25 s",
                    f"{ho['ready_ms']} ms", ho["ready_ms"] < 250))
        anc = sc.get("anchors", {})
        ctxt = ", ".join(f"{k} {_mib(a['pss_kb'])}" for k, a in sorted(anc.items()))
        bar.append((f"14: {sc['hosts']:,} host routes: PSS < 30 MB",
                    f"{_mib(ho['pss_kb'])}" + (f" ({ctxt})" if ctxt else ""),
                    ho["pss_kb"] * 1024 < 30e6))
    if mi:
        bar.append((f"14: {n_mixed:,} routes: start to /readyz < 2 s", f"{mi['ready_ms']} ms",
                    mi["ready_ms"] < 2000))
        bar.append((f"14: {n_mixed:,} routes: PSS < 150 MB", _mib(mi["pss_kb"]),
                    mi["pss_kb"] * 1024 < 150e6))
    if fl.get("first") and fl["first"]["rps"] and fl["first"]["cpu"]:
        cpu = fl["last"]["cpu"] / fl["first"]["cpu"]
        rps = fl["last"]["rps"] / fl["first"]["rps"]
        bar.append((f"14: last of {n_mixed:,} routes within 5% of the first, CPU/req and req/s",
                    f"CPU/req {cpu:.3f}x, req/s {rps:.3f}x", cpu <= 1.05 and rps >= 0.95))
    if gw:
        bar.append((f"14: {sc['gateways']:,} Gateways x {sc['listeners']} listeners: start to "
                    "/readyz < 1 s", f"{gw['ready_ms']} ms"
                    + ("" if sc.get("gw_last_served") else " (last Gateway not served)"),
                    gw["ready_ms"] < 1000 and bool(sc.get("gw_last_served"))))
    w("| criterion | measured | verdict |")
    w("|---|---|---|")
    for crit, meas, ok in bar:
        w(f"| {crit} | {meas} | {_verdict(ok, smoke)} |")
    w("")
    return bar


def _verdict(ok, smoke):
    import report
    return report.verdict(ok, smoke)
