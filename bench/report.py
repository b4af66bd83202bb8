#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Renders bench/run.py's results.json as markdown (bench/RESULTS.md):
medians over the passes, ratios to gatehouse and to the direct ceiling, the
figures of scenarios 3 to 8 (8: Kubernetes mode) and the bar of issue "Benchmarks", met or not.
The floor rows of scenarios 1-2 (floor-epoll, floor-uring: non-HTTP lower
bounds, bench/floor/) are shown and compared but never enter the bar.

    bench/report.py OUT/results.json > bench/RESULTS.md
"""
import json
import statistics
import sys

import s_edge  # scenario 10 (bench/s_edge.py)
import slices
import s_paths
import s_scale
import s_h2tls


def med(rows, key):
    v = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(v) if v else None


def f_rps(x):
    return "-" if x is None else f"{x / 1000:.1f}k"


def f_ms(us):
    return "-" if us is None else f"{us / 1000:.2f}"


def f_us(x):
    return "-" if x is None else f"{x:.1f}"


def f_x(a, b):
    return "-" if a is None or not b else f"{a / b:.2f}x"


def f_split(u, s):
    return "-" if u is None or s is None else f"{u:.2f} / {s:.2f}"


FLOORS = ("floor-epoll", "floor-uring")


def pct_s(x):
    return "-" if x is None else f"{x:.0f}%"


def passes(rows):
    return " / ".join(f"{r['rps'] / 1000:.1f}" for r in rows if r.get("rps"))


def verdict(ok, smoke):
    if smoke:
        return "(smoke: no verdict)"
    if ok is None:
        return "not met (no figure)"
    return "**met**" if ok else "**not met**"


def kube_section(w, k, smoke):
    """Scenario 8, `gatehouse run --kubernetes`: its table and its rows of the bar."""
    n, q, b = k["routes"], k["qps"], k["burst"]

    def g(key, fmt="{}", none="-"):
        x = k.get(key)
        return none if x is None else fmt.format(x)

    w("## Scenario 8: Kubernetes mode (1 worker)")
    w("")
    w(f"`gatehouse run --kubernetes --workers 1 --status-qps {q} --status-burst {b}` against the API "
      f"server double (../shared/kube/apiserver.py, HTTPS, admin kubeconfig) preloaded with "
      f"{n:,} HTTPRoutes (`/rNNNNN/`, each to its own Service), {n:,} Services and their {n:,} "
      "EndpointSlices (the bench's upstream), one Gateway with an HTTP listener on 127.0.0.1. "
      "Statuses are read back from the API (every route's status.parents has "
      "gatehouse.dev/gateway-controller with Accepted True). The status write rate is judged on "
      "what gatehouse sent: its own count of status requests (gatehouse_kube_status_requests_total), "
      "sampled about every 0.1 s, may not grow by more than burst + qps·dt between any two samples "
      "(dt taken short: from the end of one read to the start of the other). The double's request "
      "log is shown for information: its timestamps are completions, which its queue bunches, and "
      "its first one comes after the first send. "
      f"Creation: {k['changes']} times, POST a new HTTPRoute to the API, then request its path "
      "through the gateway over keep-alive in a tight loop until 200 (clock from before the POST). "
      f"Steady state: the double's request counts over {k['steady_s']:g} s after everything settled, "
      "watches and Lease get/update left out.")
    if k.get("status_conns_peak") is not None:
        w("")
        w(f"While the statuses were written: {k['status_conns_peak']} TCP connections to the API server "
          f"at once at most, {k['status_conns_seen']} in all (ours included), CPU gatehouse "
          f"{k.get('status_gatehouse_cpu_pct')}%, API server double {k.get('status_double_cpu_pct')}% "
          f"(of one core); writes per second {k.get('writes_per_s')}; gatehouse's RSS after them "
          f"{k.get('status_rss_kb', 0) / 1024:.1f} MiB.")
    w("")
    bar = []
    if k.get("skipped"):
        w(f"**Skipped**: {k['skipped']}")
        w("")
    elif k.get("error"):
        w(f"**The scenario failed**: {k['error']}")
        w("")
    w("| figure | measured | bar | verdict |")
    w("|---|---|---|---|")

    def row(what, meas, crit, ok, label, short=None):
        w(f"| {what} | {meas} | {crit} | {verdict(ok, smoke)} |")
        if label:
            bar.append((label, short or meas, ok))

    rd = k.get("ready_ms")
    row("start to /readyz 200", g("ready_ms", "{} ms"), "< 1 s", None if rd is None else rd < 1000,
        f"8: Kubernetes mode, {n:,} routes: start to /readyz < 1 s")
    rss = k.get("ready_rss_kb")
    row("RSS 0.3 s after ready", "-" if rss is None else f"{rss / 1024:.1f} MiB", "< 60 MB",
        None if rss is None else rss * 1024 < 60e6, f"8: Kubernetes mode, {n:,} routes: RSS < 60 MB")
    st, left = k.get("status_s"), k.get("status_left")
    meas = "-" if st is None else f"{st} s from start ({g('status_after_ready_s')} s after ready)"
    if st is None and left is not None:
        meas = f"{left:,} of {n:,} not Accepted"
    row(f"all {n:,} route statuses Accepted", meas, "< 10 s",
        None if st is None else st < 10, f"8: initial statuses of {n:,} routes < 10 s",
        "-" if st is None else f"{st} s")
    m1, ex = k.get("max_1s"), k.get("excess_over_qps")
    sx = k.get("sent_excess_over_qps")
    ok = None if sx is None else sx <= b
    meas = "-" if sx is None else (f"sent (gatehouse's count, sampled every ~0.1 s): between any "
                                   f"two samples at most {sx:g} above {q}·dt")
    if ex is not None:
        meas += (f"; done, from the double's log: at most {ex:g} above {q}·T after the first "
                 f"completion, max {m1} in any 1-s window, {g('max_1s_after_first')} in those "
                 f"from 1 s after the first write; {g('status_writes')} writes over "
                 f"{g('status_span_s')} s")
    if ex is not None and not k.get("status_log_complete", True):
        meas += f" (the log lost writes: {k.get('status_logged')} logged)"
    row("status writes against --status-qps", meas,
        f"sent: at most burst {b} above {q}·dt in any interval (the double's figures for "
        "information: its timestamps are completions, which its queue bunches, and T starts at "
        "the first completion, after the first send)", ok,
        f"8: status writes never above --status-qps {q} (burst {b})",
        "-" if sx is None else f"sent: {sx:g} above {q}·dt (max 1-s window done {m1})")
    p99 = k.get("create_p99_ms")
    meas = "-" if p99 is None else (f"p50 {k['create_p50_ms']} ms, p99 {p99} ms, max "
                                    f"{g('create_max_ms')} ms, {k.get('create_timeouts', 0)} "
                                    f"timeouts (POST alone p50 {g('post_p50_ms')} ms)")
    row(f"HTTPRoute created through the API -> first 200 ({k['changes']}x)", meas, "p99 < 50 ms",
        None if p99 is None else p99 < 50 and not k.get("create_timeouts"),
        "8: HTTPRoute created -> first 200, p99 < 50 ms",
        "-" if p99 is None else f"p99 {p99} ms (p50 {k['create_p50_ms']} ms)")
    sr = k.get("steady_requests")
    other = k.get("steady_other") or {}
    meas = "-" if sr is None else (f"{sr}" + (f" ({', '.join(f'{x}: {v}' for x, v in other.items())})"
                                              if other else ""))
    row(f"API requests in {k['steady_s']:g} s of steady state (not watches, Lease get/update)", meas,
        "0", None if sr is None else sr == 0, "8: no API requests in steady state but watches and Lease")
    if k.get("steady_rss_kb"):
        w(f"| RSS at the end (after the creations) | {k['steady_rss_kb'] / 1024:.1f} MiB | - | - |")
    w("")
    return bar


def _scenario_order(kv):
    """"1-2", "3", ..., "14" in number order."""
    return int(kv[0].split("-")[0]) if kv[0].split("-")[0].isdigit() else 99


def render(res, outrel):
    m, s, v, smoke = res["machine"], res["settings"], res["versions"], res.get("smoke")
    runs = res["runs"]
    L = []
    w = L.append
    w("# Benchmark results" + (" (smoke run: sizes and durations are tiny, no verdict)" if smoke else ""))
    w("")
    w("Generated by `make bench` (bench/run.py, bench/report.py); do not edit by hand. "
      "bench/README.md describes the method.")
    w("")
    w(f"- **Machine**: {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB, kernel {m['kernel']}; "
      f"load average at start {' '.join(m['loadavg'])} (the machine is shared: expect noise)")
    w(f"- **Date**: {m['date']}; whole run {res.get('elapsed_s', '?')} s; raw output in `{outrel}/`")
    if res.get("durations"):
        w("- **Duration per scenario**: " + ", ".join(
            f"{k} {x:.0f} s" for k, x in sorted(res["durations"].items(), key=_scenario_order))
          + " (wall time, set-up included; the rest is start-up and the report)")
    w(f"- **Software**: {'; '.join(f'{k}: {x}' for k, x in v.items())}; upstream nginx "
      f"`return 200 \"ok\"` with {s['upstream_workers']} workers, shared by every run")
    w(f"- **Method**: wrk 2 threads, keep-alive, {s['duration']:g} s per measured run after a "
      f"{s['warmup']:g} s discarded warm-up (scenarios 1-2: before the first connection count on "
      "each freshly started server; the next count finds it warm); "
      f"{s['repeat']} passes, contestants alternating "
      "(gatehouse, nginx, HAProxy, the floors, then direct) within each pass; every figure is the **median "
      "over the passes**. CPU µs/req = the proxy's utime+stime (all its processes and threads, "
      "from /proc) over the run / requests completed: the primary figure on this noisy machine.")
    w("")

    def rows(**kw):
        return [r for r in runs if all(r.get(k) == x for k, x in kw.items())]

    # ---------------------------------------------------------------- 1-2
    w("## Scenarios 1-2: small response (`GET /` -> 200 \"ok\")")
    w("")
    w("\"vs gatehouse\" is this contestant's figure over gatehouse's (req/s and CPU/req); "
      "\"vs ceiling\" is its req/s over wrk straight to the upstream. upstream and wrk µs/req: the CPU "
      "the upstream nginx and the load generator spent per request in the same run (all three share "
      "the 2 cores); CPUs busy: share of all CPU time busy during the run. "
      "bad = non-2xx + socket errors. user / sys: the proxy's CPU µs/req split into user and "
      "kernel time. *floor-epoll* and *floor-uring* are **not HTTP proxies and not part of the "
      "verdict**: bench-only programs (bench/floor/) that pair each client connection with one "
      "upstream connection and copy bytes both ways unparsed, with epoll (one recv + one send per "
      "side and request, like gatehouse) and with io_uring (one io_uring_enter per loop turn); "
      "they show the kernel's floor for this traffic, measured in the first pass only.")
    w("")
    w("| workers | conns | contestant | req/s | req/s per pass | p50 ms | p99 ms | CPU µs/req "
      "| user / sys µs/req | req/s vs gatehouse | CPU/req vs gatehouse | vs ceiling "
      "| upstream µs/req | wrk µs/req | CPUs busy | bad |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    bar = []
    floor_rows = []
    for wk in s["workers"]:
        for c in s["conns"]:
            direct = rows(case="h1", proxy="direct", conns=c)
            d_rps = med(direct, "rps")
            figs = {}
            for px in ("gatehouse", "gatehouse-uring", "nginx", "haproxy") + FLOORS:
                rr = rows(case="h1", proxy=px, workers=wk, conns=c)
                if (px in FLOORS or px == "gatehouse-uring") and not rr:
                    continue
                figs[px] = dict(rps=med(rr, "rps"), p50=med(rr, "p50_us"), p99=med(rr, "p99_us"),
                                cpu=med(rr, "cpu_us_req"), bad=sum(r["bad"] for r in rr),
                                usr=med(rr, "user_us_req"), sys=med(rr, "sys_us_req"),
                                up=med(rr, "upstream_us_req"), cl=med(rr, "client_us_req"),
                                busy=med(rr, "busy_pct"),
                                passes=passes(rr))
            g = figs["gatehouse"]
            for px, f in figs.items():
                label = f"*{px}* (non-HTTP floor)" if px in FLOORS else px
                w(f"| {wk} | {c} | {label} | {f_rps(f['rps'])} | {f['passes']} | {f_ms(f['p50'])} | "
                  f"{f_ms(f['p99'])} | {f_us(f['cpu'])} | {f_split(f['usr'], f['sys'])} | "
                  f"{f_x(f['rps'], g['rps'])} | "
                  f"{f_x(f['cpu'], g['cpu'])} | {f_x(f['rps'], d_rps)} | {f_us(f['up'])} | "
                  f"{f_us(f['cl'])} | {pct_s(f['busy'])} | {f['bad']} |")
            w(f"| - | {c} | direct (ceiling) | {f_rps(d_rps)} | "
              f"{passes(direct)} | "
              f"{f_ms(med(direct, 'p50_us'))} | {f_ms(med(direct, 'p99_us'))} | - | - | - | - | 1.00x | "
              f"{f_us(med(direct, 'upstream_us_req'))} | {f_us(med(direct, 'client_us_req'))} | "
              f"{pct_s(med(direct, 'busy_pct'))} | {sum(r['bad'] for r in direct)} |")
            others = [figs[p] for p in ("nginx", "haproxy") if figs[p]["rps"]]
            if others and g["rps"]:
                best = max(others, key=lambda f: f["rps"])
                best_name = "nginx" if best is figs["nginx"] else "haproxy"
                cpus = [f["cpu"] for f in others if f["cpu"]]
                if cpus:
                    floor_rows.append((wk, c, min(cpus), best["rps"], g, figs.get("floor-epoll"),
                                       figs.get("floor-uring")))
                p99s = [f["p99"] for f in others if f["p99"]]
                sc = f"{'1' if wk == 1 else '2'}: {wk} worker{'s' if wk > 1 else ''}, {c} conns"
                bar.append((f"{sc}: req/s >= 1.2x the better of nginx/HAProxy ({best_name})",
                            f"{g['rps'] / best['rps']:.2f}x ({f_rps(g['rps'])} vs {f_rps(best['rps'])})",
                            g["rps"] >= 1.2 * best["rps"] and g["bad"] == 0))
                if cpus and g["cpu"]:
                    bar.append((f"{sc}: CPU/req <= 0.75x the better (lower) of nginx/HAProxy",
                                f"{g['cpu'] / min(cpus):.2f}x ({f_us(g['cpu'])} vs {f_us(min(cpus))} µs)",
                                g["cpu"] <= 0.75 * min(cpus)))
                if p99s and g["p99"]:
                    bar.append((f"{sc}: p99 no worse than the better of nginx/HAProxy",
                                f"{f_ms(g['p99'])} ms vs {f_ms(min(p99s))} ms", g["p99"] <= min(p99s)))
    w("")
    if any(fe or fu for *_, fe, fu in floor_rows):
        w("**The floors against the bar** (not a verdict): CPU/req over the lower of nginx/HAProxy "
          "(the bar asks gatehouse for <= 0.75x) and req/s over the better of them (the bar asks "
          ">= 1.2x), for gatehouse and for the two non-HTTP floors.")
        w("")
        w("| workers | conns | 0.75x lower CPU µs/req | gatehouse CPU | floor-epoll CPU "
          "| floor-uring CPU | gatehouse req/s | floor-epoll req/s | floor-uring req/s |")
        w("|---|---|---|---|---|---|---|---|---|")
        for wk, c, low, best_rps, g, fe, fu in floor_rows:
            def cpu(f):
                return "-" if not f or not f["cpu"] else f"{f['cpu']:.1f} ({f['cpu'] / low:.2f}x)"

            def rps(f):
                return "-" if not f or not f["rps"] else f"{f_rps(f['rps'])} ({f['rps'] / best_rps:.2f}x)"
            w(f"| {wk} | {c} | {0.75 * low:.1f} | {cpu(g)} | {cpu(fe)} | {cpu(fu)} | {rps(g)} | "
              f"{rps(fe)} | {rps(fu)} |")
        w("")

    # ---------------------------------------------------------------- 3
    w(f"## Scenario 3: route count (1 worker, {s['route_conns']} connections)")
    w("")
    w(f"gatehouse with {s['big_routes']:,} HTTPRoutes ({s['big_routes'] // 10:,} hostnames x 10 "
      "PathPrefix rules, one rule per route), every request to the first rule or every request "
      f"to the last. Then {s['spread_routes']:,} PathPrefix routes `/rNNNNN/` with requests spread "
      "evenly over all of them (lua/spread.lua), against the same traffic through a catch-all "
      "route; HAProxy uses one `map_beg` lookup (its indexed form), nginx `location` prefixes. "
      "The first and the last rule, and each contestant's catch-all and spread configs (run "
      "at once), are measured in interleaved slices (rotated each round, after a warm-up of "
      "each), pooled: requests, time and CPU summed over the slices.")
    w("")
    w("| contestant | routes | req/s | req/s per slice | p50 ms | p99 ms | CPU µs/req | req/s vs baseline "
      "| CPU/req vs baseline | bad |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    sp = f"spread-{s['spread_routes']}"
    fig3 = {}
    for px, base, variants in (("gatehouse", f"first-of-{s['big_routes']}",
                                (f"first-of-{s['big_routes']}", f"last-of-{s['big_routes']}")),
                               ("gatehouse", "catch-all", ("catch-all", sp)),
                               ("nginx", "catch-all", ("catch-all", sp)),
                               ("haproxy", "catch-all", ("catch-all", sp))):
        for var in variants:
            # interleaved slices (run.scenario_routes, scenario_spread): pooled, their range shown
            rr = rows(case="routes", proxy=px, variant=var)
            fig3[(px, var)] = dict(slices.pooled(rr) if rr else dict(rps=None, cpu=None),
                                   per=" ".join(x for x in (f"{len(rr)} slices", slices.spread(
                                       [r["rps"] for r in rr], lambda x: f"{x / 1000:.1f}")) if x))
        for var in variants:
            rr = rows(case="routes", proxy=px, variant=var)
            f, b = fig3[(px, var)], fig3[(px, base)]
            w(f"| {px} | {var} | {f_rps(f['rps'])} | {f['per']} | "
              f"{f_ms(med(rr, 'p50_us'))} | {f_ms(med(rr, 'p99_us'))} | {f_us(f['cpu'])} | "
              f"{f_x(f['rps'], b['rps'])} | {f_x(f['cpu'], b['cpu'])} | "
              f"{sum(r['bad'] for r in rr)} |")
    d = rows(case="routes", proxy="direct")
    w(f"| direct (ceiling) | {sp} | {f_rps(med(d, 'rps'))} | - | {f_ms(med(d, 'p50_us'))} | "
      f"{f_ms(med(d, 'p99_us'))} | - | - | - | {sum(r['bad'] for r in d)} |")
    w("")
    fi, la = fig3.get(("gatehouse", f"first-of-{s['big_routes']}")), fig3.get(("gatehouse", f"last-of-{s['big_routes']}"))
    if fi and la and fi["cpu"] and la["cpu"] and fi["rps"] and la["rps"]:
        bar.append((f"3: last rule within 5% of first rule ({s['big_routes']:,} routes), CPU/req and req/s",
                    f"CPU/req {la['cpu'] / fi['cpu']:.3f}x, req/s {la['rps'] / fi['rps']:.3f}x",
                    abs(la["cpu"] / fi["cpu"] - 1) <= 0.05 and la["rps"] >= 0.95 * fi["rps"]))
    ca, spr = fig3.get(("gatehouse", "catch-all")), fig3.get(("gatehouse", sp))
    if ca and spr and ca["cpu"] and spr["cpu"] and ca["rps"] and spr["rps"]:
        bar.append((f"3: {s['spread_routes']:,} spread routes >= 0.95x catch-all (req/s, and CPU/req "
                    "catch-all/spread)",
                    f"req/s {spr['rps'] / ca['rps']:.3f}x, CPU {ca['cpu'] / spr['cpu']:.3f}x",
                    spr["rps"] >= 0.95 * ca["rps"] and ca["cpu"] >= 0.95 * spr["cpu"]))

    # ---------------------------------------------------------------- 9
    pol = rows(case="policy")
    if pol:
        w(f"## Scenario 9: what a policy costs per request (gatehouse, 1 worker, "
          f"{s['route_conns']} connections)")
        w("")
        w("The same catch-all route and traffic as scenario 1, with a gatehouse.dev policy on the "
          "Gateway whose limit is never reached, against none, alternating within each pass: "
          "ratelimit-route is one token bucket for every request, ratelimit-client one per client "
          "address (a hashed key), lb-hash a LoadBalancerPolicy hashing the client address "
          "(Maglev), ratelimit-global a limit whose bucket is in Redis (a redis-server on "
          "loopback: one round trip per request; its figure is the cost, not held to the 5% bar).")
        w("")
        w("| policy | req/s | req/s per pass | p99 ms | CPU µs/req | CPU/req vs none | bad |")
        w("|---|---|---|---|---|---|---|")
        base = rows(case="policy", variant="none")
        b_cpu = med(base, "cpu_us_req")
        for var in sorted({r["variant"] for r in pol}, key=lambda v: (v != "none", v)):
            rr = rows(case="policy", variant=var)
            cpu = med(rr, "cpu_us_req")
            w(f"| {var} | {f_rps(med(rr, 'rps'))} | {passes(rr)} | {f_ms(med(rr, 'p99_us'))} | "
              f"{f_us(cpu)} | {f_x(cpu, b_cpu)} | {sum(r['bad'] for r in rr)} |")
            if var not in ("none", "ratelimit-global") and cpu and b_cpu:
                bar.append((f"9: {var} adds under 5% CPU/req", f"{cpu / b_cpu:.3f}x "
                            f"({f_us(cpu)} vs {f_us(b_cpu)} µs)", cpu <= 1.05 * b_cpu))
        w("")

    bar += s_edge.render(res, w, smoke)

    # ---------------------------------------------------------------- 4-7
    other = {r["case"]: r for r in res["other"]}
    w("## Scenarios 4-7: gatehouse's control plane (1 worker)")
    w("")
    ch = other.get("churn")
    if ch:
        w(f"**4. Route churn.** {ch['routes']:,} PathPrefix routes, one file each, traffic spread over "
          f"all of them (wrk, {s['route_conns']} connections, spread.lua) while {ch['changes']:,} file "
          f"writes land in the watched directory over {ch['churn_s']} s: every other write rewrites a "
          "route under traffic in place (same match, a new RequestHeaderModifier value), the others "
          "add or delete a route file nobody requests. "
          f"Result: {ch['requests']:,} requests, **{ch['bad']} failed** (non-2xx + socket errors), "
          f"{ch['reloads']} reloads, {f_rps(ch['rps'])} req/s, p99 {f_ms(ch['p99_us'])} ms, "
          f"{f_us(ch['cpu_us_req'])} µs CPU/req (reloads included).")
        w("")
        bar.append(("4: zero failed requests during 1,000 route changes" if not smoke else "4: churn",
                    f"{ch['bad']} failed of {ch['requests']:,}", ch["bad"] == 0 and ch["requests"] > 0))
    pr = other.get("propagation")
    if pr:
        w(f"**5. Propagation.** {pr['routes']:,} routes and {s['services']:,} Services loaded; "
          f"{pr['changes']} times: write a new file with one new HTTPRoute, then request its path over "
          "a keep-alive connection in a tight loop until it answers 200 (404 before). "
          f"p50 **{pr['p50_ms']} ms**, p99 **{pr['p99_ms']} ms**, min {pr['min_ms']:.1f} ms, "
          f"max {pr['max_ms']:.1f} ms, {pr['timeouts']} never appeared within 5 s.")
        w("")
        bar.append(("5: propagation p99 < 10 ms", f"p99 {pr['p99_ms']} ms (p50 {pr['p50_ms']} ms)",
                    pr["p99_ms"] is not None and pr["p99_ms"] < 10 and pr["timeouts"] == 0))
    me = other.get("memory")
    if me:
        oth = ", ".join(f"{k} {x / 1024:.1f} MiB" for k, x in me["others_idle_rss_kb"].items())
        w(f"**6. Memory (RSS, VmRSS of the process, 0.3 s after ready, no traffic yet).** Idle "
          f"(one catch-all route): **{me['idle_rss_kb'] / 1024:.1f} MiB**; with {me['routes']:,} "
          f"HTTPRoutes and {me['services']:,} Services (+ EndpointSlices): "
          f"**{me['big_rss_kb'] / 1024:.1f} MiB** (medians of {len(me['idle_all'])} starts). "
          f"For context, idle with 1 worker and a catch-all: {oth or '-'}.")
        w("")
        bar.append(("6: RSS idle < 10 MB", f"{me['idle_rss_kb'] / 1024:.1f} MiB", me["idle_rss_kb"] * 1024 < 10e6))
        bar.append((f"6: RSS with {me['routes']:,} routes and {me['services']:,} Services < 50 MB",
                    f"{me['big_rss_kb'] / 1024:.1f} MiB", me["big_rss_kb"] * 1024 < 50e6))
    st = other.get("startup")
    if st:
        w(f"**7. Start-up.** Process start to the first 200 from /readyz (polled every 2 ms) with "
          f"{st['routes']:,} HTTPRoutes and {st['services']:,} Services: median **{st['ready_ms']} ms** "
          f"(each start: {', '.join(str(x) for x in st['all_ms'])} ms).")
        w("")
        bar.append(("7: start to /readyz < 1 s", f"{st['ready_ms']} ms", st["ready_ms"] < 1000))

    # ---------------------------------------------------------------- 8
    ku = other.get("kube")
    if ku:
        bar += kube_section(w, ku, smoke)

    bar += s_paths.render(res, w, smoke)
    bar += s_scale.render(res, w, smoke)
    bar += s_h2tls.render(res, w, smoke)

    # ---------------------------------------------------------------- bar
    w("## The bar")
    w("")
    w("| criterion | measured (medians of this run) | verdict |")
    w("|---|---|---|")
    for crit, meas, ok in bar:
        w(f"| {crit} | {meas} | {verdict(ok, smoke)} |")
    w("")
    return "\n".join(L)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        sys.stdout.write(render(json.load(f), sys.argv[2] if len(sys.argv) > 2 else "."))
