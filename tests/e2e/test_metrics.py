# SPDX-License-Identifier: Apache-2.0
"""/metrics and the access log (docs/observability.md): requests by
gateway, listener, route and status class (route "" for 404s), the upstream
latency histogram, connections by port, the text exposition format (every
line parsed, HELP/TYPE once per family), counters monotonic across a reload,
a removed route's series gone while the listener and gateway totals keep
its counts; the access log in JSON and text, one line per
request with the documented fields."""
import json
import re
import time

from gateway import backend, gatehouse_run, httproute, prefix, stack  # noqa: F401

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL})(?:,{LABEL})*)?\}})? (\S+)$")


def route(name, path, to):
    return httproute(name, parents=[{"name": "gw"}],
                     rules=[{"matches": [prefix(path)], "backendRefs": [backend(to)]}])


def parse(text):
    """Parses the exposition text strictly; returns {(name, labels): value}
    where labels is a sorted tuple of (key, unescaped value)."""
    assert text.endswith("\n")
    helps, types, samples = set(), {}, {}
    for ln in text.splitlines():
        assert ln, "empty line"
        if ln.startswith("# HELP "):
            fam = ln.split(" ")[2]
            assert fam not in helps, f"HELP twice for {fam}"
            helps.add(fam)
            continue
        if ln.startswith("# TYPE "):
            _, _, fam, kind = ln.split(" ")
            assert fam not in types, f"TYPE twice for {fam}"
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), ln
            types[fam] = kind
            continue
        assert not ln.startswith("#"), ln
        m = SAMPLE.match(ln)
        assert m, f"bad sample line: {ln!r}"
        name, value = m.group(1), m.group(m.lastindex)
        labels = tuple(sorted(
            (k, v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\"))
            for k, v in re.findall(LABEL, m.group(2) or "")))
        float(value)
        fam = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert fam in types, f"sample before its TYPE: {ln}"
        assert (name, labels) not in samples, f"duplicate series {ln}"
        samples[(name, labels)] = float(value)
    return samples


def scrape(st):
    status, body, _ = st.gw.admin("/metrics")
    assert status == 200
    return parse(body.decode())


def reqs(samples, gw, route_name, code="2xx", listener="http"):
    key = ("gatehouse_http_requests_total",
           tuple(sorted([("code", code), ("gateway", gw), ("listener", listener),
                         ("route", route_name)])))
    return samples.get(key, 0)


def totals(samples, gw, code="2xx", listener="http"):
    """(listener total, gateway total)."""
    lk = ("gatehouse_http_listener_requests_total",
          tuple(sorted([("code", code), ("gateway", gw), ("listener", listener)])))
    gk = ("gatehouse_http_gateway_requests_total", tuple(sorted([("code", code), ("gateway", gw)])))
    return samples.get(lk, 0), samples.get(gk, 0)


def test_metrics_requests_routes_404_reload(stack):
    stack.backend("a")
    stack.backend("b")
    stack.up([route("ra", "/a", "a"), route("rb", "/b", "b")])
    gw = f"{stack.ns}/gw"
    ra, rb = f"HTTPRoute {stack.ns}/ra", f"HTTPRoute {stack.ns}/rb"
    for _ in range(3):
        assert stack.request("/a/x").status == 200
    for _ in range(2):
        assert stack.request("/b/y").status == 200
    assert stack.request("/nowhere").status == 404
    s = scrape(stack)
    assert reqs(s, gw, ra) == 3 and reqs(s, gw, rb) == 2, s
    assert reqs(s, gw, "", "4xx") == 1, [k for k in s if k[0] == "gatehouse_http_requests_total"]
    assert totals(s, gw) == (5, 5), totals(s, gw)
    # histogram: cumulative buckets, +Inf == count, 5 upstream responses
    h = "gatehouse_upstream_request_duration_seconds"
    buckets = sorted((float(dict(k[1])["le"]), v) for k, v in s.items()
                     if k[0] == h + "_bucket")
    assert buckets[-1][0] == float("inf") and buckets[-1][1] == s[(h + "_count", ())] == 5
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
    conns = [(dict(k[1]), v) for k, v in s.items()
             if k[0] == "gatehouse_downstream_connections_total"]
    assert any(lb["port"] == str(stack.port) and v >= 6 for lb, v in conns), conns

    # reload: rb removed, ra kept (a new snapshot; ra's counts carry over)
    stack.write("routes.yaml", [route("ra", "/a", "a")])
    stack.wait_status("/b/y", 404)
    for _ in range(2):
        assert stack.request("/a/x").status == 200
    s2 = scrape(stack)
    assert reqs(s2, gw, ra) == 5, "counter not monotonic across the reload"
    assert not [k for k in s2 if k[0] == "gatehouse_http_requests_total" and
                ("route", rb) in k[1]], "removed route's series still shown"
    assert reqs(s2, gw, "", "4xx") >= 2  # the old 404 plus the polling ones
    # the listener and gateway totals keep the removed route's requests
    # (7, or more when polling reached rb before the reload took)
    lt, gt = totals(s2, gw)
    assert lt >= 7 and gt == lt, (lt, gt)
    # every counter of the first scrape that still exists did not go down
    for k, v in s.items():
        if k in s2 and re.search(r"_(total|bucket|count)$", k[0]):
            assert s2[k] >= v, (k, v, s2[k])


def _wait_lines(st, marker, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        lines = [ln for ln in st.gw.stdout().splitlines() if marker in ln]
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_access_log_json(stack):
    stack.backend("a")
    stack.up([route("ra", "/a", "a")], args=["--access-log", "json"])
    assert stack.request("/a/mk-json?q=1").status == 200
    assert stack.request("/mk-json-404").status == 404
    lines = _wait_lines(stack, "mk-json", 2)
    assert len(lines) == 2, stack.gw.stdout()[-2000:]
    ok, nf = (json.loads(ln) for ln in lines)
    for e in (ok, nf):
        assert set(e) >= {"time", "client", "method", "path", "host", "status", "bytes",
                          "duration_ms", "route", "backend", "upstream", "local"}, e
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", e["time"]), e
        assert e["method"] == "GET" and e["host"] == "gw.test"
        assert isinstance(e["bytes"], int) and e["bytes"] > 0
        assert isinstance(e["duration_ms"], int)
    assert ok["path"] == "/a/mk-json?q=1" and ok["status"] == 200 and ok["local"] is False
    assert ok["route"] == f"HTTPRoute {stack.ns}/ra" and ok["backend"].startswith(f"{stack.ns}/a")
    assert re.match(r"^[\d.]+:\d+$|^\[.*\]:\d+$", ok["upstream"]), ok
    assert nf["status"] == 404 and nf["route"] is None and nf["upstream"] is None
    assert nf["local"] is True


def test_access_log_text(stack):
    stack.backend("a")
    stack.up([route("ra", "/a", "a")], args=["--access-log", "text"])
    assert stack.request("/a/mk-text").status == 200
    assert stack.request("/mk-text-404").status == 404
    lines = _wait_lines(stack, "mk-text", 2)
    assert len(lines) == 2, stack.gw.stdout()[-2000:]
    pat = re.compile(r'^(\S+Z) (\S+) "(\S+) (\S+)" (\d{3}) (\d+) (\d+)ms host=(\S+) '
                     r'route="([^"]*)" backend=(\S+) upstream=(\S+)( gateway)?$')
    m1, m2 = (pat.match(ln) for ln in lines)
    assert m1 and m2, lines
    assert m1.group(3) == "GET" and m1.group(4) == "/a/mk-text" and m1.group(5) == "200"
    assert m1.group(9) == f"HTTPRoute {stack.ns}/ra" and m1.group(11) != "-"
    assert m2.group(5) == "404" and m2.group(9) == "-" and m2.group(12) == " gateway"
