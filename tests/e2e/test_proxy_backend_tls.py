# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: TLS to backends (BackendTLSPolicy) and HTTP/2 to
backends. TLS: SNI = validation.hostname, the chain against the policy's
CA (ConfigMap ca.crt) or the system store, the hostname or the policy's
subjectAltNames (Hostname and URI), the Gateway's backend client
certificate (spec.tls.backend.clientCertificateRef), ALPN h2 for gRPC
routes; every verification failure answers 502 and is logged. HTTP/2:
h2c (appProtocol kubernetes.io/h2c) with request bodies streamed under flow
control, many concurrent requests multiplexed, HEAD, response headers, a
gRPC backend through a GRPCRoute from an HTTP/1.1 client, and a backend
that dies. The echo backends of conftest.tls_files serve HTTPS (certificate
for echo.example.com, *.example.com, abc.example.com; client certificates
verified when presented)."""
import collections
import os
import random
import threading

import pytest

from conftest import EchoProcess, _make_leaf, base_env, pick_address, pod_name, random_ports
from echoclient import decode_echo_response
from gateway import (backend, backend_of, endpointslice_obj, exact, gatehouse_run,  # noqa: F401
                     gateway_obj, httproute, listener, prefix, running_stack, service_obj)

NS = "e2e"
GRPC_SERVICE = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho"


def configmap(name, pem):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS},
            "data": {"ca.crt": pem}}


def tls_secret(name, crt, key):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
            "type": "kubernetes.io/tls", "stringData": {"tls.crt": crt, "tls.key": key}}


def policy(name, service, hostname, ca="ca", sans=None, system=False):
    validation = {"hostname": hostname}
    if system:
        validation["wellKnownCACertificates"] = "System"
    else:
        validation["caCertificateRefs"] = [{"group": "", "kind": "ConfigMap", "name": ca}]
    if sans:
        validation["subjectAltNames"] = sans
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": service}],
                     "validation": validation}}


def start_echo(st, name, env, ports):
    """An echo process registered with the stack (stopped and checked at
    teardown)."""
    for attempt in range(5):
        addr = pick_address(ports)
        kw = dict(POD_NAME=pod_name(name), NAMESPACE=NS, SERVICE_NAME=name, INGRESS_NAME="gw")
        kw.update(env)
        p = EchoProcess(st.binary, addr, base_env(**kw), ports, [], st.workdir)
        st.echos.append(p)
        try:
            p.wait_ready()
            return p
        except Exception:  # noqa: BLE001 - a port taken meanwhile: pick others
            if attempt == 4:
                raise
            ports = random_ports(len(ports))
            env = dict(env)
    raise AssertionError("unreachable")


def svc(name, addr, port, port_name="https", svc_port=443):
    return [service_obj(name, [{"name": port_name, "port": svc_port, "targetPort": port}], ns=NS),
            endpointslice_obj(name, [addr], [{"name": port_name, "port": port}], ns=NS)]


def grpcroute(name, svc_name, port, hostnames, parents=None):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"parentRefs": parents or [{"name": "gw"}], "hostnames": hostnames,
                     "rules": [{"backendRefs": [{"name": svc_name, "port": port}]}]}}


def grpc_body():
    return b"\x00\x00\x00\x00\x00"  # one uncompressed, empty message


@pytest.fixture(scope="module")
def uri_cert(tls_files):
    """A server certificate for abc.example.com that also carries a URI SAN."""
    d = tls_files.dir
    if not os.path.exists(os.path.join(d, "uri.crt")):
        _make_leaf(d, "uri", "ca", "abc.example.com",
                   "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:abc.example.com,"
                   "URI:spiffe://abc.example.com/test-identity\n")
    return os.path.join(d, "uri.crt"), os.path.join(d, "uri.key")


CASES = {
    # service: (policy kwargs, expect ok)
    "tls-ok": ({"hostname": "abc.example.com"}, True),
    "tls-wildcard": ({"hostname": "other.example.com"}, True),
    "tls-wrong-ca": ({"hostname": "abc.example.com", "ca": "other-ca"}, False),
    "tls-wrong-host": ({"hostname": "backend.invalid.test"}, False),
    "tls-system-ca": ({"hostname": "abc.example.com", "system": True}, False),
    "tls-san-dns": ({"hostname": "abc.example.com",
                     "sans": [{"type": "Hostname", "hostname": "echo.example.com"}]}, True),
    "tls-san-dns-mismatch": ({"hostname": "abc.example.com",
                              "sans": [{"type": "Hostname", "hostname": "dce.other.test"}]}, False),
    "tls-san-uri-mismatch": ({"hostname": "abc.example.com",
                              "sans": [{"type": "URI",
                                        "uri": "spiffe://abc.example.com/test-identity"}]}, False),
}
URI_CASES = {
    "uri-ok": ({"hostname": "abc.example.com",
                "sans": [{"type": "URI", "uri": "spiffe://abc.example.com/test-identity"}]}, True),
    "uri-mismatch": ({"hostname": "abc.example.com",
                      "sans": [{"type": "URI", "uri": "spiffe://def.example.com/test-identity"}]},
                     False),
    "uri-multi": ({"hostname": "abc.example.com",
                   "sans": [{"type": "URI", "uri": "spiffe://def.example.com/x"},
                            {"type": "Hostname", "hostname": "abc.example.com"}]}, True),
}


@pytest.fixture(scope="module")
def gw(gatehouse_run, tls_files, uri_cert, tmp_path_factory):
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("backend-tls"))) as st:
        st.pick_gateway_address()
        port2 = st.port + 1
        https, h2c, http = random_ports(3)
        main = start_echo(st, "tls-echo", {
            "HTTP_PORT": http, "H2C_PORT": h2c, "HTTPS_PORT": https,
            "TLS_SERVER_CERT": tls_files.server_cert, "TLS_SERVER_PRIVKEY": tls_files.server_key,
            "TLS_CLIENT_CACERTS": tls_files.ca}, [http, h2c, https])
        uhttps, uh2c, uhttp = random_ports(3)
        uri = start_echo(st, "uri-echo", {
            "HTTP_PORT": uhttp, "H2C_PORT": uh2c, "HTTPS_PORT": uhttps,
            "TLS_SERVER_CERT": uri_cert[0], "TLS_SERVER_PRIVKEY": uri_cert[1]},
            [uhttp, uh2c, uhttps])
        gport, = random_ports(1)
        grpc = start_echo(st, "grpc-echo", {"GRPC_ECHO_SERVER": "1", "HTTP_PORT": gport}, [gport])
        st.grpc = grpc
        st.echo = main
        st.port2 = port2
        objs = [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
                 "metadata": {"name": "gatehouse"},
                 "spec": {"controllerName": "gatehouse.dev/gateway-controller"}},
                {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": NS, "labels": {"kubernetes.io/metadata.name": NS}}}]
        gw1 = gateway_obj("gw", st.addr, [listener("http", st.port)], NS)
        gw1["spec"]["tls"] = {"backend": {"clientCertificateRef": {"name": "client-cert"}}}
        gw2 = gateway_obj("gw2", st.addr, [listener("http", port2)], NS)
        objs += [gw1, gw2,
                 configmap("ca", tls_files.pem(tls_files.ca)),
                 configmap("other-ca", tls_files.pem(tls_files.other_ca)),
                 tls_secret("client-cert", tls_files.pem(tls_files.client_cert),
                            tls_files.pem(tls_files.client_key))]
        routes = []
        both = [{"name": "gw"}, {"name": "gw2"}]
        for name, (kw, _) in CASES.items():
            objs += svc(name, main.addr, https)
            objs.append(policy(name, name, **kw))
            routes.append(httproute(name, [{"matches": [exact(f"/{name}")],
                                            "backendRefs": [backend(name, port=443)]}],
                                    hostnames=["tls.test"], parents=both))
        for name, (kw, _) in URI_CASES.items():
            objs += svc(name, uri.addr, uhttps)
            objs.append(policy(name, name, **kw))
            routes.append(httproute(name, [{"matches": [exact(f"/{name}")],
                                            "backendRefs": [backend(name, port=443)]}],
                                    hostnames=["tls.test"], parents=both))
        # gRPC over TLS (ALPN h2) to the HTTPS echo, and plaintext h2c gRPC.
        objs += svc("tls-grpc", main.addr, https)
        objs.append(policy("tls-grpc", "tls-grpc", hostname="abc.example.com"))
        routes.append(grpcroute("tls-grpc", "tls-grpc", 443, ["grpc-tls.test"]))
        objs += svc("grpc", grpc.addr, gport, port_name="grpc", svc_port=9000)
        routes.append(grpcroute("grpc", "grpc", 9000, ["grpc.test"]))
        # h2c to the HTTP echo's h2c port
        objs += svc("h2c", main.addr, h2c, port_name="h2c", svc_port=8081)
        objs[-2]["spec"]["ports"][0]["appProtocol"] = "kubernetes.io/h2c"
        routes.append(httproute("h2c", [{"matches": [prefix("/")],
                                         "backendRefs": [backend("h2c", port=8081)]}],
                                hostnames=["h2c.test"]))
        st.write("base.yaml", objs)
        st.write("routes.yaml", routes)
        st.check_config()
        st.start()
        st.wait_listening()
        yield st


# ------------------------------------------------------------------ TLS

@pytest.mark.parametrize("name", sorted(CASES) + sorted(URI_CASES))
def test_backend_tls_verification(gw, name):
    kw, ok = CASES.get(name) or URI_CASES[name]
    r = gw.request(f"/{name}", host="tls.test")
    if not ok:
        assert r.status == 502, f"{name}: verification must fail with 502, got {r!r}"
        return
    assert r.status == 200, f"{name}: {r!r}"
    j = r.json()
    assert j["path"] == f"/{name}" and j["host"] == "tls.test"
    assert j["proto"] == "HTTP/1.1"
    assert j["tls"]["serverName"] == kw["hostname"], j["tls"]
    assert j["tls"]["negotiatedProtocol"] == "http/1.1", j["tls"]
    assert j["tls"]["version"] in ("TLSv1.2", "TLSv1.3")


def test_verification_failure_is_logged(gw):
    r = gw.request("/tls-wrong-ca", host="tls.test")
    assert r.status == 502
    logs = gw.gw.logs()
    assert "tls-wrong-ca" in logs and "certificate" in logs, logs[-3000:]


def test_client_certificate_presented(gw, tls_files):
    r = gw.request("/tls-ok", host="tls.test")
    assert r.status == 200
    peers = r.json()["tls"].get("peerCertificates") or []
    want = tls_files.pem(tls_files.client_cert).strip()
    assert peers and peers[0].strip() == want, "the Gateway's client certificate was not presented"


def test_no_client_certificate_without_gateway_setting(gw):
    """The second Gateway sets no backend client certificate: its pooled
    connections must not be shared with the first one's."""
    for _ in range(3):
        r = gw.request("/tls-ok", host="tls.test", port=gw.port2)
        assert r.status == 200, r
        assert not r.json()["tls"].get("peerCertificates"), r.json()["tls"]
        r = gw.request("/tls-ok", host="tls.test")
        assert r.status == 200 and r.json()["tls"].get("peerCertificates")


def test_tls_keep_alive_and_bodies(gw):
    body = os.urandom(200_000)
    c = gw.conn()
    try:
        for i in range(20):
            r = c.request("POST" if i % 2 else "GET", "/tls-ok", host="tls.test",
                          body=body if i % 2 else None, chunked=i % 4 == 1)
            assert r.status == 200, r
            assert backend_of(r) == "tls-echo"
            if r.header("Connection") == "close":
                # the echo may answer before it read the body: no keep-alive then
                c.close()
                c = gw.conn()
    finally:
        c.close()


def test_tls_concurrent(gw):
    errors, counts = [], collections.Counter()
    lock = threading.Lock()

    def work():
        try:
            with gw.conn() as c:
                for _ in range(15):
                    r = c.request("GET", random.choice(["/tls-ok", "/tls-san-dns", "/uri-ok"]),
                                  host="tls.test")
                    with lock:
                        counts[r.status] += 1
        except Exception as exc:  # noqa: BLE001
            with lock:
                errors.append(repr(exc))

    ts = [threading.Thread(target=work) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors[:3]
    assert counts == {200: 120}, counts


def test_grpc_over_tls_uses_h2(gw):
    r = gw.request(f"/{GRPC_SERVICE}/Echo", host="grpc-tls.test", method="POST",
                   headers=[("Content-Type", "application/grpc"), ("TE", "trailers")],
                   body=grpc_body())
    assert r.status == 200, r
    j = r.json()  # the HTTP echo answers any path
    assert j["proto"] == "HTTP/2.0" and j["tls"]["negotiatedProtocol"] == "h2", j
    assert j["tls"]["serverName"] == "abc.example.com"
    assert [v.lower() for v in j["headers"].get("Te", [])] == ["trailers"], j["headers"]


# ---------------------------------------------------------------- HTTP/2

def test_h2c_basic(gw):
    r = gw.request("/h2c-path?x=1", host="h2c.test",
                   headers=[("X-Echo-Set-Header", "X-From-Backend: yes"), ("X-Custom", "a")])
    assert r.status == 200, r
    j = r.json()
    assert j["proto"] == "HTTP/2.0" and j["path"] == "/h2c-path?x=1" and j["host"] == "h2c.test"
    assert j["headers"]["X-Custom"] == ["a"]
    assert "X-Forwarded-For" in j["headers"]
    assert "Connection" not in j["headers"] and "Te" not in j["headers"]
    assert r.header("X-From-Backend") == "yes"


def test_h2c_head(gw):
    with gw.conn() as c:
        r = c.request("HEAD", "/head", host="h2c.test")
        assert r.status == 200 and r.body == b""
        r = c.request("GET", "/after-head", host="h2c.test")
        assert r.status == 200 and r.json()["path"] == "/after-head"


@pytest.mark.parametrize("chunked", [False, True])
def test_h2c_request_body_flow_control(gw, chunked):
    """A body larger than every HTTP/2 window goes through (backpressure)."""
    body = os.urandom(3 * 1024 * 1024 + 17)
    r = gw.request("/upload", host="h2c.test", method="POST", body=body, chunked=chunked,
                   timeout=30)
    assert r.status == 200, r
    j = r.json()
    assert j["method"] == "POST" and j["proto"] == "HTTP/2.0"
    if not chunked:
        assert j["headers"]["Content-Length"] == [str(len(body))]


def test_h2c_multiplexed(gw):
    errors, counts = [], collections.Counter()
    lock = threading.Lock()

    def work(k):
        try:
            with gw.conn() as c:
                for i in range(25):
                    r = c.request("GET", f"/m/{k}/{i}?delay=10ms", host="h2c.test")
                    ok = r.status == 200 and r.json()["path"] == f"/m/{k}/{i}?delay=10ms"
                    with lock:
                        counts[ok] += 1
        except Exception as exc:  # noqa: BLE001
            with lock:
                errors.append(repr(exc))

    ts = [threading.Thread(target=work, args=(k,)) for k in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors[:3]
    assert counts == {True: 400}, counts


def test_grpc_from_http1_client(gw):
    r = gw.request(f"/{GRPC_SERVICE}/Echo", host="grpc.test", method="POST",
                   headers=[("Content-Type", "application/grpc"), ("TE", "trailers")],
                   body=grpc_body())
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("application/grpc")
    body = r.body
    assert len(body) >= 5 and body[0] == 0
    n = int.from_bytes(body[1:5], "big")
    res = decode_echo_response(body[5:5 + n])
    assert res["fully_qualified_method"] == f"/{GRPC_SERVICE}/Echo"
    assert res["authority"] == "grpc.test"


def test_h2c_timeout_and_recovery(gw):
    r = gw.request("/slow?delay=200ms", host="h2c.test")
    assert r.status == 200
    r = gw.request("/health", host="h2c.test")
    assert r.status == 200


def test_h2c_backend_killed(gatehouse_run, tmp_path):
    with running_stack(gatehouse_run, str(tmp_path)) as st:
        b = st.backend("victim")
        st.up([httproute("v", [{"matches": [prefix("/")],
                                "backendRefs": [backend("victim", port=8081)]}])],
              app_protocols=True)
        r = st.request("/")
        assert r.status == 200 and r.json()["proto"] == "HTTP/2.0"
        b.procs[0].stop()
        for _ in range(2):
            r = st.request("/")
            assert r.status in (502, 503), r


def test_grpc_client_through_gateway(gw):
    """A real gRPC client (h2c prior knowledge to the gateway): grpc-status
    arrives as a trailer from the h2c backend."""
    grpc = pytest.importorskip("grpc")
    opts = [("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0),
            ("grpc.default_authority", "grpc.test")]
    ch = grpc.insecure_channel(f"{gw.addr}:{gw.port}", options=opts)
    try:
        fn = ch.unary_unary(f"/{GRPC_SERVICE}/Echo")
        resp, call = fn.with_call(b"", timeout=10)
        assert call.code() == grpc.StatusCode.OK
        res = decode_echo_response(resp)
        assert res["fully_qualified_method"] == f"/{GRPC_SERVICE}/Echo"
        with pytest.raises(grpc.RpcError) as ei:
            ch.unary_unary(f"/{GRPC_SERVICE}/EchoThree").with_call(b"", timeout=10)
        assert ei.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        ch.close()
