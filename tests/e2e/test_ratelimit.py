# SPDX-License-Identifier: Apache-2.0
"""RateLimitPolicy (gatehouse.dev/v1alpha1, docs/policies.md): local token
buckets attached to a Gateway, a listener, a route or a rule (GEP-713: the
most specific target wins, the oldest policy of one target wins, status in
status.ancestors). Refusals are 429 with Retry-After and the IETF draft's
RateLimit-Policy and RateLimit fields; buckets are shared by the workers
and kept across reloads."""
import time

import pytest

from echoclient import H1
from gateway import (NS, backend, gatehouse_run, httproute, prefix,  # noqa: F401
                     stack)

GROUP = "gateway.networking.k8s.io"


def policy(name, targets, limits, created=None):
    md = {"name": name, "namespace": NS}
    if created:
        md["creationTimestamp"] = created
    return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "RateLimitPolicy",
            "metadata": md, "spec": {"targetRefs": targets, "limits": limits}}


def target(kind, name, section=None):
    t = {"group": GROUP, "kind": kind, "name": name}
    if section:
        t["sectionName"] = section
    return t


def limit(name, requests, interval, burst=None, key=None, header=None):
    lim = {"name": name, "requests": requests, "interval": interval}
    if burst:
        lim["burst"] = burst
    if key:
        lim["key"] = {"type": key}
        if header:
            lim["key"]["header"] = header
    return lim


def routes():
    return [httproute("r", [
        {"name": "api", "matches": [prefix("/api")], "backendRefs": [backend("svc")]},
        {"name": "web", "matches": [prefix("/")], "backendRefs": [backend("svc")]},
    ])]


def get(st, path, headers=(), source=None):
    with H1(st.addr, st.port, timeout=10, source=source) as c:
        return c.request("GET", path, host="gw.test", headers=list(headers))


def statuses(st, path, n, **kw):
    return [get(st, path, **kw).status for _ in range(n)]


def ancestors(gw, name):
    for it in gw.status_json()["items"]:
        if it["kind"] == "RateLimitPolicy" and it["metadata"]["name"] == name:
            return it["status"]["ancestors"]
    raise AssertionError(f"no status for RateLimitPolicy {name}")


def accepted(anc):
    return [(a["ancestorRef"]["kind"], a["ancestorRef"]["name"],
             [c for c in a["conditions"] if c["type"] == "Accepted"][0]["reason"]) for a in anc]


@pytest.mark.deadline(60)
def test_route_limit_answers_429_with_fields(stack):
    stack.backend("svc")
    stack.up(routes(), extra=[policy("p", [target("HTTPRoute", "r")],
                                     [limit("per-route", 3, "1m")])])
    got = statuses(stack, "/api/x", 3)
    assert got == [200] * 3, got
    r = get(stack, "/anything")  # the other rule: the same route's bucket
    assert r.status == 429, r.status
    assert r.header("RateLimit-Policy") == '"per-route";q=3;w=60'
    assert r.header("RateLimit").startswith('"per-route";r=0;t=')
    retry = int(r.header("Retry-After"))
    assert 1 <= retry <= 20, retry  # one token back in 20 s
    assert b"429" in r.body
    m = stack.gw.admin("/metrics")[1].decode()
    assert "gatehouse_ratelimit_refused_total 1" in m
    assert accepted(ancestors(stack.gw, "p")) == [("Gateway", "gw", "Accepted")]


@pytest.mark.deadline(60)
def test_most_specific_target_wins(stack):
    """Gateway: 100/min; rule api: 2/min. The api rule is held at 2, the
    other rule only by the Gateway's limit; a listener-level policy beats
    the Gateway's."""
    stack.backend("svc")
    stack.up(routes(), extra=[
        policy("gw", [target("Gateway", "gw")], [limit("gw", 100, "1m")]),
        policy("rule", [target("HTTPRoute", "r", "api")], [limit("api", 2, "1m")]),
    ])
    assert statuses(stack, "/api", 3) == [200, 200, 429]
    assert statuses(stack, "/web", 5) == [200] * 5
    stack.write("more.yaml", [policy("lis", [target("Gateway", "gw", "http")],
                                     [limit("lis", 1, "1m")])])
    deadline = time.monotonic() + 10
    while get(stack, "/web").status != 429:
        assert time.monotonic() < deadline, "the listener's limit never applied"
        time.sleep(0.1)
    assert get(stack, "/api").status == 429  # still the rule's (spent) bucket


@pytest.mark.deadline(60)
def test_client_address_and_header_keys(stack):
    stack.backend("svc")
    stack.up(routes(), extra=[
        policy("client", [target("HTTPRoute", "r", "web")], [limit("ip", 2, "1m", key="ClientAddress")]),
        policy("hdr", [target("HTTPRoute", "r", "api")],
               [limit("key", 1, "1m", key="Header", header="X-Api-Key")]),
    ])
    assert statuses(stack, "/", 3, source="127.0.0.2") == [200, 200, 429]
    assert statuses(stack, "/", 2, source="127.0.0.3") == [200, 200]
    assert statuses(stack, "/api", 2, headers=[("X-Api-Key", "a")]) == [200, 429]
    assert statuses(stack, "/api", 1, headers=[("x-api-key", "b")]) == [200]
    # Without the header a request is not counted by that limit.
    assert statuses(stack, "/api", 3) == [200] * 3


@pytest.mark.deadline(60)
def test_buckets_shared_by_workers_and_kept_across_reload(stack):
    stack.backend("svc")
    stack.up(routes(), extra=[policy("p", [target("HTTPRoute", "r")], [limit("l", 10, "1m")])],
             args=["--workers", "2"])
    got = statuses(stack, "/", 14)  # a new connection each: both workers serve
    assert got.count(200) == 10 and got[-1] == 429, got
    stack.write("routes.yaml", routes() + [httproute("other", [
        {"matches": [prefix("/o")], "backendRefs": [backend("svc")]}], hostnames=["o.test"])])
    deadline = time.monotonic() + 10
    while True:
        with H1(stack.addr, stack.port) as c:
            if c.request("GET", "/o", host="o.test").status == 200:
                break
        assert time.monotonic() < deadline, "reload never served"
        time.sleep(0.1)
    assert get(stack, "/").status == 429  # the bucket survived the reload


@pytest.mark.deadline(60)
def test_rate_is_held(stack):
    """20 requests/s with a burst of 1, asked 3 s long as fast as possible:
    about 60 let through (GCRA admits one per 50 ms)."""
    stack.backend("svc")
    stack.up(routes(), extra=[policy("p", [target("HTTPRoute", "r")],
                                     [limit("l", 20, "1s", burst=1)])])
    ok = 0
    t0 = time.monotonic()
    with H1(stack.addr, stack.port) as c:
        while time.monotonic() - t0 < 3.0:
            ok += c.request("GET", "/", host="gw.test").status == 200
    took = time.monotonic() - t0
    want = 20 * took + 1
    assert abs(ok - want) <= 0.05 * want + 1, (ok, want)


@pytest.mark.deadline(60)
def test_status_conflicted_and_target_not_found(stack):
    stack.backend("svc")
    stack.up(routes(), extra=[
        policy("old", [target("HTTPRoute", "r")], [limit("a", 1, "1m")],
               created="2026-01-01T00:00:00Z"),
        policy("new", [target("HTTPRoute", "r"), target("HTTPRoute", "nope")],
               [limit("b", 100, "1m")], created="2026-02-01T00:00:00Z"),
        policy("lis", [target("Gateway", "gw", "nolistener")], [limit("c", 1, "1m")]),
    ])
    assert accepted(ancestors(stack.gw, "old")) == [("Gateway", "gw", "Accepted")]
    assert sorted(accepted(ancestors(stack.gw, "new"))) == [
        ("Gateway", "gw", "Conflicted"), ("HTTPRoute", "nope", "TargetNotFound")]
    assert accepted(ancestors(stack.gw, "lis")) == [("Gateway", "gw", "TargetNotFound")]
    assert statuses(stack, "/", 2) == [200, 429]  # the older policy's limit


def test_check_reports_invalid_policy_with_position(gatehouse_run, tmp_path):
    import subprocess
    (tmp_path / "p.yaml").write_text(
        "apiVersion: gatehouse.dev/v1alpha1\nkind: RateLimitPolicy\n"
        "metadata: {name: bad, namespace: default}\nspec:\n"
        "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]\n"
        "  limits:\n  - name: a\n    requests: 0\n    interval: 1s\n")
    p = subprocess.run([gatehouse_run, "check", "-f", str(tmp_path)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1
    assert "p.yaml:8:15: RateLimitPolicy default/bad: spec.limits[0].requests" in p.stdout, \
        p.stdout
