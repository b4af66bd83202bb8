# SPDX-License-Identifier: Apache-2.0
"""LoadBalancerPolicy (gatehouse.dev/v1alpha1, docs/policies.md): how the
endpoints of a Service (or of one port of it) are chosen once the
backendRef is. Three echo replicas behind one Service; the echo's JSON
names the pod that answered. Consistent hashing (Maglev) sends a key to one
pod on every worker and across a reload, and a removed pod moves only its
own keys; least request avoids the pod with requests in flight; slow start
gives a new pod a small share at first and its full share after the
window; round robin is today's default; sessionPersistence wins over the
policy; status.ancestors says Accepted, Conflicted or TargetNotFound."""
import subprocess
import time

import pytest

from echoclient import H1
from gateway import (NS, backend, endpointslice_obj, gatehouse_run, httproute,  # noqa: F401
                     prefix, service_obj, stack)

KIND = "LoadBalancerPolicy"


def policy(name, svc="svc", type_=None, section=None, created=None, **spec):
    md = {"name": name, "namespace": NS}
    if created:
        md["creationTimestamp"] = created
    ref = {"group": "", "kind": "Service", "name": svc}
    if section:
        ref["sectionName"] = section
    s = {"targetRefs": [ref]}
    if type_:
        s["type"] = type_
    s.update(spec)
    return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": KIND, "metadata": md, "spec": s}


def header_hash(name="X-User"):
    return {"consistentHash": {"key": "Header", "header": name}}


def route(svc="svc", extra_rules=()):
    return [httproute("r", [{"matches": [prefix("/")], "backendRefs": [backend(svc)]}]
                      + list(extra_rules))]


def pod(r):
    assert r.status == 200, r
    return r.json()["pod"]


def get(st, path="/", headers=()):
    with H1(st.addr, st.port, timeout=10) as c:
        return c.request("GET", path, host="gw.test", headers=list(headers))


def pods_of_keys(st, keys, conns=2):
    """key -> pod; each key asked on `conns` new connections (both workers
    serve some of them) and must get one answer."""
    out = {}
    for k in keys:
        seen = {pod(get(st, "/k", headers=[("X-User", k)])) for _ in range(conns)}
        assert len(seen) == 1, (k, seen)
        out[k] = seen.pop()
    return out


def ancestors(st, name):
    for it in st.gw.status_json()["items"]:
        if it["kind"] == KIND and it["metadata"]["name"] == name:
            return it["status"]["ancestors"]
    raise AssertionError(f"no status for {KIND} {name}")


def accepted(anc):
    return sorted((a["ancestorRef"]["kind"], a["ancestorRef"]["name"],
                   [c for c in a["conditions"] if c["type"] == "Accepted"][0]["reason"])
                  for a in anc)


def without_slice(st, svc):
    return [o for o in st.base_objects()
            if not (o["kind"] == "EndpointSlice" and o["metadata"]["name"].startswith(svc + "-"))]


@pytest.mark.deadline(120)
def test_consistent_hash_on_a_header(stack):
    st = stack
    svc = st.backend("svc", replicas=3)
    session_rule = {"matches": [prefix("/sp")], "backendRefs": [backend("svc")],
                    "sessionPersistence": {"sessionName": "sid"}}
    st.up(route(extra_rules=[session_rule]), extra=[policy("lb", type_="ConsistentHash",
                                                           **header_hash())])
    keys = [f"user-{i}" for i in range(60)]
    before = pods_of_keys(st, keys)
    assert len(set(before.values())) == 3, before  # every pod owns some keys
    # Without the key: balanced as usual.
    assert len({pod(get(st, "/nokey")) for _ in range(12)}) >= 2

    # A reload (another route added) keeps every key where it was.
    st.write("routes.yaml", route(extra_rules=[session_rule, {
        "matches": [prefix("/other")], "backendRefs": [backend("svc")]}]))
    st.wait_status("/other", 200)
    assert pods_of_keys(st, keys, conns=1) == before

    # sessionPersistence wins when the request carries a valid token.
    r = get(st, "/sp")
    tok = [v for v in r.header_all("set-cookie") if v.startswith("sid=")][0].split(";")[0]
    pinned = pod(r)
    key = next(k for k, p in before.items() if p != pinned)
    for _ in range(5):
        assert pod(get(st, "/sp", headers=[("X-User", key), ("Cookie", tok)])) == pinned
    # ...and without a token the key decides.
    assert pod(get(st, "/sp", headers=[("X-User", key)])) == before[key]

    # A pod leaves the EndpointSlice: only its keys move.
    gone = svc.pods[0]
    st.write("base.yaml", without_slice(st, "svc") + [
        svc.slice(procs=svc.procs[1:]), policy("lb", type_="ConsistentHash", **header_hash())])
    probe = next(k for k, p in before.items() if p == gone)
    deadline = time.monotonic() + 10
    while pod(get(st, "/k", headers=[("X-User", probe)])) == gone:
        assert time.monotonic() < deadline, "the removed pod still gets its keys"
        time.sleep(0.05)
    after = pods_of_keys(st, keys, conns=1)
    mine = [k for k in keys if before[k] == gone]
    others_moved = [k for k in keys if before[k] != gone and after[k] != before[k]]
    assert all(after[k] != gone for k in mine)
    moved = len(mine) + len(others_moved)
    # Maglev: about 1/N of the keys, the removed pod's, plus a little churn.
    assert len(others_moved) <= 2, others_moved
    assert moved <= len(keys) // 3 + 8, (moved, len(mine))


@pytest.mark.deadline(90)
def test_least_request_prefers_the_idle_pod(stack):
    """Pod A has requests in flight (held through a second Service `pin`
    that names only A's address: in-flight counts are per endpoint and
    shared by every backend and worker); least request sends new requests
    to the others while that lasts, and to all three after."""
    st = stack
    svc = st.backend("svc", replicas=3)
    a = svc.procs[0]
    pin = [service_obj("pin", [{"name": "http", "port": 80, "targetPort": svc.port}]),
           endpointslice_obj("pin", [a.addr], [{"name": "http", "port": svc.port}])]
    st.up(route(extra_rules=[{"matches": [prefix("/hold")], "backendRefs": [backend("pin")]}]),
          extra=pin + [policy("lr", type_="LeastRequest"), policy("pin", svc="pin")])
    import threading
    held = []

    def hold():
        held.append(get(st, "/hold?delay=3s").status)
    threads = [threading.Thread(target=hold) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.7)
    during = [pod(get(st, "/lr")) for _ in range(40)]
    for t in threads:
        t.join(10)
    assert held == [200] * 8, held
    busy = a.env["POD_NAME"]
    assert during.count(busy) <= 2, during  # two draws: the busy pod loses each one
    assert len(set(during)) == 2
    after = [pod(get(st, "/lr")) for _ in range(40)]
    assert len(set(after)) == 3, after


@pytest.mark.deadline(90)
def test_slow_start_ramps_a_new_pod(stack):
    st = stack
    svc = st.backend("svc", replicas=3)
    new = svc.procs[2].env["POD_NAME"]
    lbp = policy("ss", type_="RoundRobin", slowStart={"window": "3s"})
    st.write("base.yaml", without_slice(st, "svc") + [svc.slice(procs=svc.procs[:2]), lbp])
    st.write("routes.yaml", route())
    st.check_config()
    st.start()
    st.wait_listening()
    # Pods there at startup are not slow-started: an even split at once.
    first = [pod(get(st, "/")) for _ in range(30)]
    assert len(set(first)) == 2 and all(10 <= first.count(p) <= 20 for p in first), first

    # The third pod joins (the probe route tells when the reload is in).
    st.write("base.yaml", without_slice(st, "svc") + [svc.slice(), lbp])
    st.write("routes.yaml", route(extra_rules=[{"matches": [prefix("/probe")],
                                                "backendRefs": [backend("svc")]}]))
    st.wait_status("/probe", 200)
    seen_at = time.monotonic()
    early = []
    with H1(st.addr, st.port, timeout=10) as c:
        while time.monotonic() - seen_at < 0.9:
            early.append(c.request("GET", "/", host="gw.test").json()["pod"])
    share = early.count(new) / len(early)
    # Its weight ramps 0 -> 1 over 3 s: about 1/8 of a full share (1/3) in
    # the first 0.9 s.
    assert share < 0.2, (share, len(early))
    time.sleep(max(0.0, 3.3 - (time.monotonic() - seen_at)))
    late = []
    with H1(st.addr, st.port, timeout=10) as c:
        for _ in range(300):
            late.append(c.request("GET", "/", host="gw.test").json()["pod"])
    assert 0.28 < late.count(new) / len(late) < 0.39, late.count(new)


def test_round_robin_is_the_default_and_unchanged(stack):
    st = stack
    st.backend("svc", replicas=3)
    st.up(route(), extra=[policy("rr", type_="RoundRobin")])
    with H1(st.addr, st.port, timeout=10) as c:
        got = [c.request("GET", "/", host="gw.test").json()["pod"] for _ in range(30)]
    assert sorted(got.count(p) for p in set(got)) == [10, 10, 10], got
    assert accepted(ancestors(st, "rr")) == [("Gateway", "gw", "Accepted")]


def test_status_conflicted_target_not_found_and_port_beats_service(stack):
    st = stack
    st.backend("svc", replicas=3)
    st.up(route(), extra=[
        policy("old", type_="ConsistentHash", created="2026-01-01T00:00:00Z", **header_hash()),
        policy("new", type_="LeastRequest", created="2026-02-01T00:00:00Z"),
        policy("port", type_="RoundRobin", section="http", created="2026-03-01T00:00:00Z"),
        policy("nosvc", svc="nope"),
        policy("noport", section="nope"),
    ])
    assert accepted(ancestors(st, "old")) == [("Gateway", "gw", "Accepted")]
    assert accepted(ancestors(st, "new")) == [("Gateway", "gw", "Conflicted")]
    assert accepted(ancestors(st, "port")) == [("Gateway", "gw", "Accepted")]
    assert accepted(ancestors(st, "nosvc")) == [("Service", "nope", "TargetNotFound")]
    assert accepted(ancestors(st, "noport")) == [("Gateway", "gw", "TargetNotFound")]
    # The port's policy (round robin) is served, not the Service's (hash).
    with H1(st.addr, st.port, timeout=10) as c:
        got = {c.request("GET", "/", host="gw.test", headers=[("X-User", "u")]).json()["pod"]
               for _ in range(6)}
    assert len(got) == 3, got


def test_check_reports_invalid_policies_with_position(gatehouse_run, tmp_path):
    (tmp_path / "p.yaml").write_text(
        "apiVersion: gatehouse.dev/v1alpha1\n"
        "kind: LoadBalancerPolicy\n"
        "metadata: {name: p, namespace: default}\n"
        "spec:\n"
        "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]\n"
        "  type: RoundRobin\n"
        "  consistentHash: {key: Header}\n")
    p = subprocess.run([gatehouse_run, "check", "-q", "-f", str(tmp_path)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1
    out = p.stdout + p.stderr
    assert "p.yaml:7:19: LoadBalancerPolicy default/p: spec.consistentHash: Invalid value: " \
           "\"object\": header must be set when key is Header" in out, out
    assert "p.yaml:5:15:" in out and "targets a Service" in out, out
    assert "consistentHash may be set only when type is ConsistentHash" in out, out
