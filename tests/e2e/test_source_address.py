# SPDX-License-Identifier: Apache-2.0
"""SourceAddressPolicy (gatehouse.dev/v1alpha1, docs/policies.md): allow and
deny lists of CIDRs on a Gateway, a listener, an HTTPRoute/GRPCRoute or a
rule. The Gateway/listener level and the route/rule level (each the most
specific target that has a policy) must both allow, so a route owner can
narrow what the Gateway owner lets in but never widen it; deny wins over
allow. HTTP refusals are 403 (gRPC too: gRPC maps HTTP 403 to
PERMISSION_DENIED); TCP and TLS listeners close the connection at accept.
Counted in gatehouse_source_address_refused_total{protocol}."""
import socket
import subprocess
import time

import pytest

from echoclient import H1
from gateway import (NS, backend, gatehouse_run, gateway_obj, httproute, listener,  # noqa: F401
                     prefix, stack, tls_wrap)
from test_client_address import ancestors, sap, target
from test_l4 import echo_session, ports_on, ref, start_echo, tcproute, tlsroute


def routes():
    return [httproute("r", [
        {"name": "api", "matches": [prefix("/api")], "backendRefs": [backend("svc")]},
        {"name": "web", "matches": [prefix("/")], "backendRefs": [backend("svc")]},
    ])]


def get(st, path, source, addr=None):
    with H1(addr or st.addr, st.port, timeout=10, source=source) as c:
        return c.request("GET", path, host="gw.test").status


def wait_get(st, path, source, want, addr=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = get(st, path, source, addr)
        except OSError as exc:  # the address may be bound a moment later
            got = exc
        if got == want:
            return
        assert time.monotonic() < deadline, f"{path} from {source}: {got}, want {want}"
        time.sleep(0.1)


def refused(st, proto):
    return st.gw.metric("gatehouse_source_address_refused_total", protocol=proto)


def v6_ok():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@pytest.mark.deadline(90)
def test_gateway_allow_deny_ipv4_ipv6(stack):
    stack.backend("svc")
    addr, port = stack.pick_gateway_address()
    gw = gateway_obj("gw", addr, [listener("http", port)], NS)
    v6 = v6_ok()
    if v6:
        gw["spec"]["addresses"].append({"type": "IPAddress", "value": "::1"})
    stack.up(routes(), gateways=[gw], extra=[
        sap("gw", [target("Gateway", "gw")], allow=["127.0.0.0/8", "::1"],
            deny=["127.0.0.3", "127.0.0.128/25"])])
    assert get(stack, "/", "127.0.0.2") == 200
    assert get(stack, "/", "127.0.0.3") == 403
    assert get(stack, "/api", "127.0.0.200") == 403
    assert get(stack, "/api", "127.0.0.127") == 200
    with H1(addr, port, timeout=10, source="127.0.0.3") as c:
        r = c.request("GET", "/", host="gw.test")
        assert r.status == 403 and b"403" in r.body
    assert refused(stack, "http") == 3
    if v6:
        wait_get(stack, "/", "::1", 200, addr="::1")
    # deny ::1, and allow a single IPv4 address only
    stack.write("more.yaml", [])
    stack.write("base.yaml", stack.base_objects(gateways=[gw]) + [
        sap("gw", [target("Gateway", "gw")], allow=["127.0.0.2/32"], deny=["::1/128"])])
    wait_get(stack, "/", "127.0.0.4", 403)
    if v6:
        wait_get(stack, "/", "::1", 403, addr="::1")
    assert get(stack, "/", "127.0.0.2") == 200
    assert [a[1] for a in ancestors(stack, "SourceAddressPolicy", "gw")] == ["Accepted"]


@pytest.mark.deadline(90)
def test_route_deny_on_top_of_gateway_allow(stack):
    stack.backend("svc")
    stack.up(routes(), extra=[
        sap("gw", [target("Gateway", "gw")], allow=["127.0.0.0/8"]),
        sap("api", [target("HTTPRoute", "r", "api")], deny=["127.0.0.2"]),
    ])
    assert get(stack, "/api/x", "127.0.0.2") == 403
    assert get(stack, "/web", "127.0.0.2") == 200
    assert get(stack, "/api/x", "127.0.0.4") == 200


@pytest.mark.deadline(90)
def test_route_allow_cannot_widen_gateway_deny(stack):
    stack.backend("svc")
    stack.up(routes(), extra=[
        sap("gw", [target("Gateway", "gw", "http")], deny=["127.0.0.3"]),
        sap("route", [target("HTTPRoute", "r")], allow=["127.0.0.0/8"]),
        sap("rule", [target("HTTPRoute", "r", "web")], allow=["127.0.0.3"]),
    ])
    assert get(stack, "/api", "127.0.0.3") == 403
    assert get(stack, "/web", "127.0.0.3") == 403
    assert get(stack, "/api", "127.0.0.2") == 200
    # the rule's policy is the most specific for /web: .2 is not in it
    assert get(stack, "/web", "127.0.0.2") == 403


@pytest.mark.deadline(120)
def test_tcp_and_tls_refusal_closes(stack, tls_files):
    t = start_echo(stack, "tcp-echo-one")
    tl = start_echo(stack, "tls-exact", tls_files=tls_files)
    addr, _ = stack.pick_gateway_address()
    tcp, tls = ports_on(addr, 2)
    stack.port = tcp
    listeners = [listener("tcp", tcp, "TCP"),
                 listener("tls", tls, "TLS", tls={"mode": "Passthrough"})]
    rts = [tcproute("tcp", [ref("tcp-echo-one")]),
           tlsroute("exact", ["abc.example.com"], [ref("tls-exact", port=9443)])]
    stack.up(rts, listeners=listeners, extra=t.objects() + tl.objects() + [
        sap("gw", [target("Gateway", "gw")], deny=["127.0.0.3"])])

    def session(port, source, sni=None):
        raw = socket.create_connection((addr, port), timeout=5, source_address=(source, 0))
        try:
            if sni:
                with tls_wrap(raw, sni, tls_files.ca) as s:
                    return echo_session(s)[0]
            return echo_session(raw)[0]
        finally:
            raw.close()

    deadline = time.monotonic() + 10
    while True:
        try:
            assert session(tcp, "127.0.0.2") == "false"
            break
        except (OSError, EOFError):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert session(tls, "127.0.0.2", "abc.example.com") == "true"
    with pytest.raises((EOFError, ConnectionResetError)):
        session(tcp, "127.0.0.3")
    with pytest.raises((OSError, EOFError)):
        session(tls, "127.0.0.3", "abc.example.com")
    assert refused(stack, "tcp") == 1
    assert refused(stack, "tls") == 1


@pytest.mark.deadline(90)
def test_statuses(stack):
    stack.backend("svc")
    stack.up(routes(), extra=[
        dict(sap("old", [target("Gateway", "gw")], deny=["127.0.0.3"]),
             metadata={"name": "old", "namespace": NS,
                       "creationTimestamp": "2024-01-01T00:00:00Z"}),
        dict(sap("new", [target("Gateway", "gw")], deny=["127.0.0.2"]),
             metadata={"name": "new", "namespace": NS,
                       "creationTimestamp": "2025-01-01T00:00:00Z"}),
        sap("missing", [target("HTTPRoute", "nope")], deny=["127.0.0.2"]),
        sap("norule", [target("HTTPRoute", "r", "zz")], deny=["127.0.0.2"]),
    ])
    assert [a[1] for a in ancestors(stack, "SourceAddressPolicy", "old")] == ["Accepted"]
    (new,) = ancestors(stack, "SourceAddressPolicy", "new")
    assert new[1] == "Conflicted" and "old" in new[2], new
    assert ancestors(stack, "SourceAddressPolicy", "missing")[0][1] == "TargetNotFound"
    assert ancestors(stack, "SourceAddressPolicy", "norule")[0][1] == "TargetNotFound"
    assert get(stack, "/", "127.0.0.3") == 403  # the older one is served
    assert get(stack, "/", "127.0.0.2") == 200


def test_check_errors(gatehouse_run, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("""\
apiVersion: gatehouse.dev/v1alpha1
kind: SourceAddressPolicy
metadata: {name: s, namespace: default}
spec:
  targetRefs:
  - {group: gateway.networking.k8s.io, kind: TCPRoute, name: t}
  allow: [10.0.0.0/33, "::1", nonsense]
  deny: ["2001:db8::/129"]
---
apiVersion: gatehouse.dev/v1alpha1
kind: ClientTrafficPolicy
metadata: {name: c, namespace: default}
spec:
  targetRefs:
  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}
  proxyProtocol: {trustedCIDRs: [1.2.3.4/40], timeout: 0s}
  clientAddress:
    xForwardedFor: {trustedHops: 1, trustedCIDRs: [10.0.0.0/8]}
---
apiVersion: gatehouse.dev/v1alpha1
kind: ClientTrafficPolicy
metadata: {name: d, namespace: default}
spec:
  targetRefs:
  - {group: gateway.networking.k8s.io, kind: Gateway, name: g}
  proxyProtocol: {trustedCIDRs: []}
  clientAddress:
    xForwardedFor: {trustedHops: 65}
""")
    p = subprocess.run([gatehouse_run, "check", "-f", str(bad)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1
    out = p.stdout + p.stderr
    want = [
        "bad.yaml:6:3: SourceAddressPolicy default/s: spec.targetRefs: Invalid value: "
        "\"array\": a SourceAddressPolicy targets a Gateway, an HTTPRoute or a GRPCRoute",
        "bad.yaml:7:11: SourceAddressPolicy default/s: spec.allow[0]: Invalid value: "
        "\"10.0.0.0/33\": must be an IPv4 or IPv6 address or CIDR",
        "bad.yaml:7:31: SourceAddressPolicy default/s: spec.allow[2]: Invalid value: \"nonsense\"",
        "bad.yaml:8:10: SourceAddressPolicy default/s: spec.deny[0]: Invalid value: "
        "\"2001:db8::/129\"",
        "ClientTrafficPolicy default/c: spec.targetRefs: Invalid value: \"array\": a "
        "ClientTrafficPolicy targets a Gateway",
        "bad.yaml:16:34: ClientTrafficPolicy default/c: spec.proxyProtocol.trustedCIDRs[0]: "
        "Invalid value: \"1.2.3.4/40\"",
        "ClientTrafficPolicy default/c: spec.proxyProtocol.timeout: Invalid value: \"string\": "
        "timeout must be longer than 0s",
        "ClientTrafficPolicy default/c: spec.clientAddress.xForwardedFor: Invalid value: "
        "\"object\": exactly one of trustedHops and trustedCIDRs must be set",
        "ClientTrafficPolicy default/d: spec.proxyProtocol.trustedCIDRs",
        "ClientTrafficPolicy default/d: spec.clientAddress.xForwardedFor.trustedHops",
    ]
    missing = [w for w in want if w not in out]
    assert not missing, f"missing {missing} in:\n{out}"
