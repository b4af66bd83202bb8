# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: XBackend (gateway.networking.x-k8s.io/v1alpha1) as a
backendRef. The proxy resolves the external hostname through DNS (c-ares,
on a thread of its own) against a tiny DNS server this test runs (UDP on a
loopback address, `--dns-server`): every address of the answer is an
endpoint, a TTL that runs out with a changed answer moves the traffic, a
DNS server that stopped answering leaves the last answer in use, NXDOMAIN
answers 503 (logged, counted), TLS origination reuses the BackendTLSPolicy
client (CA from a ConfigMap, SNI, client certificate), a missing XBackend
answers 500 with ResolvedRefs=False, and `gatehouse check` reports a bad
XBackend with its position."""
import os
import re
import subprocess
import time

import pytest

from conftest import EchoProcess, base_env, pick_address, pod_name, random_ports
from dnsserver import DNSServer
from gateway import (backend_of, exact, gatehouse_run, gateway_obj, httproute,  # noqa: F401
                     listener, running_stack)

NS = "e2e"
X_GROUP = "gateway.networking.x-k8s.io"


# ------------------------------------------------------------ objects

def xbackend(name, hostname, port, tls=None, protocol=None):
    spec = {"type": "ExternalHostname", "externalHostname": {"hostname": hostname},
            "port": {"port": port}}
    if tls:
        spec["tls"] = tls
    if protocol:
        spec["protocol"] = protocol
    return {"apiVersion": f"{X_GROUP}/v1alpha1", "kind": "XBackend",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def xref(name, **extra):
    ref = {"group": X_GROUP, "kind": "XBackend", "name": name}
    ref.update(extra)
    return ref


def configmap(name, pem):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS},
            "data": {"ca.crt": pem}}


def tls_secret(name, crt, key):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
            "type": "kubernetes.io/tls", "stringData": {"tls.crt": crt, "tls.key": key}}


def start_echo(st, name, addr, env, ports):
    kw = dict(POD_NAME=pod_name(name), NAMESPACE=NS, SERVICE_NAME=name, INGRESS_NAME="gw")
    kw.update(env)
    p = EchoProcess(st.binary, addr, base_env(**kw), ports, [], st.workdir)
    st.echos.append(p)
    p.wait_ready()
    return p


ROUTES = {
    # path: XBackend
    "/pair": "pair",
    "/move": "move",
    "/keep": "keep",
    "/nx": "nx",
    "/tls": "tls",
    "/mtls": "mtls",
    "/missing": "missing",
}


@pytest.fixture(scope="module")
def gw(gatehouse_run, tls_files, tmp_path_factory):
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("xbackend"))) as st:
        st.pick_gateway_address()
        # Three plain echoes on the same port (an XBackend has one port),
        # each on its own loopback address; one HTTPS echo.
        for _ in range(20):
            port, h2c = random_ports(2)
            addrs = [pick_address([port, h2c]) for _ in range(3)]
            if len(set(addrs)) == 3:
                break
        st.echo_a = start_echo(st, "echo-a", addrs[0], {"HTTP_PORT": port, "H2C_PORT": h2c},
                               [port, h2c])
        st.echo_b = start_echo(st, "echo-b", addrs[1], {"HTTP_PORT": port, "H2C_PORT": h2c},
                               [port, h2c])
        st.echo_c = start_echo(st, "echo-c", addrs[2], {"HTTP_PORT": port, "H2C_PORT": h2c},
                               [port, h2c])
        https, thttp = random_ports(2)
        taddr = pick_address([https, thttp])
        st.tls_echo = start_echo(st, "tls-echo", taddr, {
            "HTTP_PORT": thttp, "HTTPS_PORT": https,
            "TLS_SERVER_CERT": tls_files.server_cert, "TLS_SERVER_PRIVKEY": tls_files.server_key,
            "TLS_CLIENT_CACERTS": tls_files.ca}, [thttp, https])

        dns = DNSServer(pick_address())
        st.dns = dns
        dns.set("pair.example.test", 30, [addrs[0], addrs[1]])
        dns.set("move.example.test", 1, [addrs[0]])
        dns.set("keep.example.test", 1, [addrs[1]])
        dns.set("api.example.com", 30, [taddr])
        st.addrs = addrs

        ca = {"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "ca"}],
              "hostname": "api.example.com"}
        objs = [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
                 "metadata": {"name": "gatehouse"},
                 "spec": {"controllerName": "gatehouse.dev/gateway-controller"}},
                {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": NS, "labels": {"kubernetes.io/metadata.name": NS}}},
                gateway_obj("gw", st.addr, [listener("http", st.port)], NS),
                configmap("ca", tls_files.pem(tls_files.ca)),
                tls_secret("client-cert", tls_files.pem(tls_files.client_cert),
                           tls_files.pem(tls_files.client_key)),
                xbackend("pair", "pair.example.test", port),
                xbackend("move", "move.example.test", port),
                xbackend("keep", "keep.example.test", port),
                xbackend("nx", "nx.example.test", port),
                xbackend("tls", "api.example.com", https,
                         tls={"mode": "ServerOnly", "validation": ca}),
                xbackend("mtls", "api.example.com", https,
                         tls={"mode": "ClientAndServer", "validation": ca,
                              "clientCertificateRef": {"name": "client-cert"}})]
        rules = [{"matches": [exact(path)], "backendRefs": [xref(name)]}
                 for path, name in ROUTES.items() if name != "missing"]
        routes = [httproute("xb", rules, hostnames=["xb.test"]),
                  httproute("xb-missing", [{"matches": [exact("/missing")],
                                            "backendRefs": [xref("missing")]}],
                            hostnames=["xb.test"])]
        st.write("base.yaml", objs)
        st.write("routes.yaml", routes)
        st.check_config()
        st.start(args=("--dns-server", f"{dns.addr}:{dns.port}", "--dns-min-ttl", "1s"))
        st.wait_listening()
        yield st
        dns.stop()


def served_by(st, path, n=20):
    seen = set()
    for _ in range(n):
        r = st.request(path, host="xb.test")
        assert r.status == 200, (path, r)
        seen.add(backend_of(r))
    return seen


def wait_served(st, path, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        r = st.request(path, host="xb.test")
        if r.status == 200:
            last = backend_of(r)
            if last == want:
                return
        else:
            last = r.status
        time.sleep(0.1)
    raise AssertionError(f"{path}: not served by {want} within {timeout} s (last: {last})")


def metrics(st):
    status, body, _ = st.gw.admin("/metrics")
    assert status == 200
    return body.decode()


def test_every_address_gets_traffic(gw):
    wait_served(gw, "/pair", "echo-a")
    assert served_by(gw, "/pair") == {"echo-a", "echo-b"}


def test_ttl_expiry_with_a_new_answer_moves_traffic(gw):
    wait_served(gw, "/move", "echo-a")
    before = gw.dns.count("move.example.test")
    gw.dns.set("move.example.test", 1, [gw.addrs[2]])
    wait_served(gw, "/move", "echo-c", timeout=8)
    assert gw.dns.count("move.example.test") > before
    assert served_by(gw, "/move", 10) == {"echo-c"}


def test_ttl_is_honoured_not_polled(gw):
    """pair has a TTL of 30 s: not asked again within a few seconds."""
    wait_served(gw, "/pair", "echo-a")
    n = gw.dns.count("pair.example.test")
    time.sleep(2.5)
    assert gw.dns.count("pair.example.test") == n


def test_nxdomain_answers_503_logged_and_counted(gw):
    deadline = time.monotonic() + 10
    while True:
        r = gw.request("/nx", host="xb.test")
        if r.status == 503:
            break
        assert time.monotonic() < deadline, r
        time.sleep(0.1)
    assert re.search(r"dns: nx\.example\.test: NXDOMAIN", gw.gw.logs()), gw.gw.logs()[-2000:]
    m = metrics(gw)
    got = re.search(r'gatehouse_dns_resolutions_total\{hostname="nx\.example\.test",'
                    r'result="nxdomain"\} (\d+)', m)
    assert got and int(got.group(1)) >= 1, m[-2000:]
    assert 'gatehouse_dns_endpoints{hostname="nx.example.test"} 0' in m
    assert 'gatehouse_dns_endpoints{hostname="pair.example.test"} 2' in m


def test_tls_origination(gw):
    wait_served(gw, "/tls", "tls-echo")
    r = gw.request("/tls", host="xb.test")
    j = r.json()
    assert j["tls"]["serverName"] == "api.example.com", j["tls"]
    assert not j["tls"].get("peerCertificates"), "ServerOnly must not present a certificate"


def test_tls_client_certificate(gw, tls_files):
    wait_served(gw, "/mtls", "tls-echo")
    r = gw.request("/mtls", host="xb.test")
    peers = r.json()["tls"].get("peerCertificates") or []
    assert peers and peers[0].strip() == tls_files.pem(tls_files.client_cert).strip()


def test_missing_xbackend_500_and_resolved_refs_false(gw):
    r = gw.request("/missing", host="xb.test")
    assert r.status == 500, r
    for it in gw.gw.status_json()["items"]:
        if it["kind"] == "HTTPRoute" and it["metadata"]["name"] == "xb-missing":
            c = {c["type"]: c for c in it["status"]["parents"][0]["conditions"]}
            assert c["ResolvedRefs"]["status"] == "False", c
            assert c["ResolvedRefs"]["reason"] == "BackendNotFound", c
            assert "XBackend not found" in c["ResolvedRefs"]["message"], c
            break
    else:
        raise AssertionError("no status for xb-missing")


def test_ir_dump_names_the_host(gw):
    status, body, _ = gw.gw.admin("/config")
    assert status == 200
    assert b"pair.example.test" in body


def test_dns_server_stopped_keeps_the_last_answer(gw):
    """Last: the DNS server goes away for good."""
    wait_served(gw, "/keep", "echo-b")
    gw.dns.stop()
    time.sleep(3.5)  # the 1 s TTL ran out more than once: every query failed
    assert served_by(gw, "/keep", 10) == {"echo-b"}
    assert served_by(gw, "/pair") == {"echo-a", "echo-b"}
    m = metrics(gw)
    got = re.search(r'gatehouse_dns_resolutions_total\{hostname="keep\.example\.test",'
                    r'result="error"\} (\d+)', m)
    assert got and int(got.group(1)) >= 1, m[-2000:]
    assert "keeping the last answer" in gw.gw.logs()


# ------------------------------------------------------------ check

def test_check_reports_a_bad_xbackend_with_position(gatehouse, tmp_path):
    bad = f"""apiVersion: {X_GROUP}/v1alpha1
kind: XBackend
metadata:
  name: bad
  namespace: default
spec:
  type: ExternalHostname
  externalHostname:
    hostname: db.svc.cluster.local
  port:
    port: 70000
  tls:
    mode: ClientAndServer
"""
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    p = subprocess.run([gatehouse, "check", "-f", str(path)], capture_output=True, text=True,
                       timeout=30)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert re.search(r"bad\.yaml:9:\d+.*hostname.*cluster\.local", out), out
    assert re.search(r"bad\.yaml:11:\d+.*port", out), out
    assert re.search(r"bad\.yaml:1[23]:\d+.*clientCertificateRef must be set", out), out


def test_check_accepts_a_good_xbackend(gatehouse, tmp_path):
    good = f"""apiVersion: {X_GROUP}/v1alpha1
kind: XBackend
metadata:
  name: good
  namespace: default
spec:
  type: ExternalHostname
  externalHostname:
    hostname: api.example.com
  port:
    port: 443
  protocol: HTTP
  tls:
    mode: ServerOnly
    validation:
      wellKnownCACertificates: System
      hostname: api.example.com
"""
    path = tmp_path / "good.yaml"
    path.write_text(good)
    p = subprocess.run([gatehouse, "check", "-f", str(path)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert os.path.exists(path)
