# SPDX-License-Identifier: Apache-2.0
"""sessionPersistence on HTTPRoute and GRPCRoute rules (GEP-1619).

Three echo replicas behind one Service; the echo's JSON names the pod that
answered. A client that comes back with its cookie (or header) reaches the
same pod on new connections (2 workers), across a reload, until the pod is
removed or fails; a forged token is ignored (ordinary pick, new token);
absoluteTimeout and idleTimeout end sessions; a restarted gateway (or
another replica) honours the tokens; HTTP/2 clients and gRPC
(header type) alike, over TLS too (Secure cookies); status says what is
served and what is not."""
import base64
import time

import pytest

from conftest import EchoProcess, base_env, pick_address, pod_name, random_ports
from echoclient import H1, H2Client, decode_echo_response, tls_client
from gateway import (NS, backend, endpointslice_obj, gatehouse_run, httproute,  # noqa: F401
                     listener, prefix, running_stack, service_obj, stack)

GRPC_SERVICE = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho"


def sp(name=None, type_=None, lifetime=None, absolute=None, idle=None):
    s = {}
    if name:
        s["sessionName"] = name
    if type_:
        s["type"] = type_
    if lifetime:
        s["cookieConfig"] = {"lifetimeType": lifetime}
    if absolute:
        s["absoluteTimeout"] = absolute
    if idle:
        s["idleTimeout"] = idle
    return s


def rule(match, session=None, backends=None):
    r = {"matches": [match], "backendRefs": backends or [backend("svc")]}
    if session is not None:
        r["sessionPersistence"] = session
    return r


def regex(value):
    return {"path": {"type": "RegularExpression", "value": value}}


def grpcroute(name, svc, session):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["grpc.test"],
                     "rules": [{"backendRefs": [{"name": svc, "port": 80}],
                                "sessionPersistence": session}]}}


def routes():
    return [
        httproute("sp", hostnames=["sp.test"], rules=[
            rule(prefix("/c"), sp("sp-c")),
            rule(prefix("/perm"), sp("sp-p", lifetime="Permanent", absolute="1h")),
            rule(prefix("/h"), sp("X-Session", type_="Header")),
            rule(prefix("/gen"), sp()),
            rule(prefix("/idle"), sp("sp-i", idle="1s")),
            rule(prefix("/abs"), sp("sp-a", absolute="2s")),
            rule(regex("/rx/[a-z]+/x"), sp("sp-r")),
            rule(prefix("/plain")),
        ]),
        httproute("half", hostnames=["half.test"], rules=[
            rule(prefix("/ok"), sp("ok")),
            rule(prefix("/bad"), sp("bad name")),
        ]),
        grpcroute("g", "gsvc", sp("x-grpc-session", type_="Header")),
    ]


def grpc_echos(st, name, n):
    """n gRPC echo processes on one port number: the Service's objects."""
    for attempt in range(5):
        port = random_ports(1)[0]
        procs = []
        try:
            for _ in range(n):
                kw = dict(POD_NAME=pod_name(name), NAMESPACE=NS, SERVICE_NAME=name,
                          INGRESS_NAME="gw", GRPC_ECHO_SERVER="1", HTTP_PORT=port)
                p = EchoProcess(st.binary, pick_address([port]), base_env(**kw), [port], [],
                                st.workdir)
                st.echos.append(p)
                procs.append(p)
                p.wait_ready()
        except Exception:  # noqa: BLE001 - a port taken meanwhile: pick another
            if attempt == 4:
                raise
            continue
        return [service_obj(name, [{"name": "grpc", "port": 80, "targetPort": port}],
                            ns=NS),
                endpointslice_obj(name, [p.addr for p in procs], [{"name": "grpc", "port": port}],
                                  ns=NS)]
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def gw(gatehouse_run, tmp_path_factory):
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("sp"))) as st:
        st.backend("svc", replicas=3)
        st.up(routes(), extra=grpc_echos(st, "gsvc", 3))
        yield st


def cookie_of(r, name):
    """The value and attributes of Set-Cookie `name` in r, or None."""
    for v in r.header_all("set-cookie"):
        parts = [p.strip() for p in v.split(";")]
        k, _, val = parts[0].partition("=")
        if k == name:
            attrs = {}
            for a in parts[1:]:
                ak, _, av = a.partition("=")
                attrs[ak.lower()] = av
            return val, attrs
    return None


def created_ms(token):
    raw = base64.urlsafe_b64decode(token + "==")
    return int.from_bytes(raw[9:15], "big")


def pod(r):
    assert r.status == 200, r
    return r.json()["pod"]


def get(st, path, cookie=None, headers=(), host="sp.test"):
    h = list(headers)
    if cookie:
        h.append(("Cookie", cookie))
    return st.request(path, host=host, headers=h)


# ------------------------------------------------------------------ cookie

def test_cookie_set_and_followed_on_new_connections(gw):
    r = get(gw, "/c/a")
    tok, attrs = cookie_of(r, "sp-c")
    assert len(tok) == 50
    assert attrs.get("path") == "/c" and "httponly" in attrs and "max-age" not in attrs, attrs
    first = pod(r)
    # Many new connections: both workers serve them, each finds the pod.
    for i in range(40):
        r = get(gw, f"/c/{i}", cookie=f"other=1; sp-c={tok}; x=y")
        assert pod(r) == first
        assert cookie_of(r, "sp-c") is None  # nothing to refresh
    # Without the cookie, requests spread over the replicas.
    seen = {pod(get(gw, "/c/x")) for _ in range(30)}
    assert len(seen) >= 2, seen


def test_every_pod_can_be_pinned(gw):
    pins = {}
    for _ in range(30):
        r = get(gw, "/c/p")
        pins[pod(r)] = cookie_of(r, "sp-c")[0]
    assert len(pins) == 3, pins
    for p, tok in pins.items():
        for _ in range(5):
            assert pod(get(gw, "/c/q", cookie=f"sp-c={tok}")) == p


def test_permanent_cookie_has_max_age(gw):
    r = get(gw, "/perm")
    tok, attrs = cookie_of(r, "sp-p")
    assert attrs.get("max-age") in ("3600", "3599"), attrs
    assert pod(get(gw, "/perm", cookie=f"sp-p={tok}")) == pod(r)


def test_generated_name_and_regex_path(gw):
    r = get(gw, "/gen")
    names = [v.split("=", 1)[0] for v in r.header_all("set-cookie")]
    assert len(names) == 1 and names[0].startswith("gw-session-"), names
    r = get(gw, "/rx/abc/x")
    tok, attrs = cookie_of(r, "sp-r")
    assert attrs.get("path") == "/rx", attrs


def test_plain_rule_untouched(gw):
    r = get(gw, "/plain")
    assert r.status == 200 and not r.header_all("set-cookie")


def test_forged_or_foreign_token_is_ordinary_pick(gw):
    r = get(gw, "/c/f")
    tok, _ = cookie_of(r, "sp-c")
    flip = tok[:20] + ("A" if tok[20] != "A" else "B") + tok[21:]
    for bad in (flip, "x" * 50, "garbage", tok[:-1]):
        r2 = get(gw, "/c/f", cookie=f"sp-c={bad}")
        assert r2.status == 200
        assert cookie_of(r2, "sp-c") is not None, bad  # a new session
    # A token of another rule (another key) does not carry over.
    other = cookie_of(get(gw, "/perm"), "sp-p")[0]
    r3 = get(gw, "/c/f", cookie=f"sp-c={other}")
    assert cookie_of(r3, "sp-c") is not None


# ------------------------------------------------------------------ header

def test_header_type(gw):
    r = get(gw, "/h")
    tok = r.header("x-session")
    assert tok and len(tok) == 50 and not r.header_all("set-cookie")
    first = pod(r)
    for _ in range(20):
        r = get(gw, "/h", headers=[("X-Session", tok)])
        assert pod(r) == first
        assert r.header("x-session")  # the response carries it each time


# ---------------------------------------------------------------- timeouts

def test_idle_timeout_refreshed_then_expires(gw):
    r = get(gw, "/idle")
    tok, _ = cookie_of(r, "sp-i")
    start = created_ms(tok)
    # Used every 0.5 s: refreshed, the session goes on past 1 s.
    for _ in range(4):
        time.sleep(0.5)
        r = get(gw, "/idle", cookie=f"sp-i={tok}")
        tok2, _ = cookie_of(r, "sp-i")
        assert created_ms(tok2) == start
        tok = tok2
    time.sleep(1.3)
    r = get(gw, "/idle", cookie=f"sp-i={tok}")
    assert created_ms(cookie_of(r, "sp-i")[0]) > start  # a new session


def test_absolute_timeout(gw):
    r = get(gw, "/abs")
    tok, attrs = cookie_of(r, "sp-a")
    assert "max-age" not in attrs  # Session lifetime: the gateway enforces it
    r = get(gw, "/abs", cookie=f"sp-a={tok}")
    assert cookie_of(r, "sp-a") is None
    time.sleep(2.2)
    r = get(gw, "/abs", cookie=f"sp-a={tok}")
    assert cookie_of(r, "sp-a") is not None


# ------------------------------------------------------------ HTTP/2, gRPC

def test_http2_client_cookie(gw):
    c = H2Client.connect(gw.addr, gw.port)
    try:
        r = c.request(path="/c/h2", authority="sp.test")
        tok, attrs = cookie_of(r, "sp-c")
        assert attrs.get("path") == "/c"
        first = pod(r)
        for _ in range(10):
            r = c.request(path="/c/h2", authority="sp.test",
                          headers=[("cookie", "a=b"), ("cookie", f"sp-c={tok}")])
            assert pod(r) == first
    finally:
        c.close()


def grpc_call(st, token=None):
    c = H2Client.connect(st.addr, st.port)
    try:
        h = [("content-type", "application/grpc"), ("te", "trailers")]
        if token:
            h.append(("x-grpc-session", token))
        r = c.request(method="POST", path=f"/{GRPC_SERVICE}/Echo", authority="grpc.test",
                      headers=h, body=b"\x00\x00\x00\x00\x00")
    finally:
        c.close()
    assert r.status == 200, r
    return r, decode_echo_response(r.body[5:])["context"]["pod"]


def test_grpc_header_session(gw):
    r, first = grpc_call(gw)
    tok = r.header("x-grpc-session")
    assert tok and len(tok) == 50
    for _ in range(15):
        _, p = grpc_call(gw, tok)
        assert p == first
    seen = {grpc_call(gw)[1] for _ in range(20)}
    assert len(seen) >= 2, seen


# ------------------------------------------------------------------ status

def route_conditions(st, name):
    for it in st.gw.status_json()["items"]:
        if it["kind"] in ("HTTPRoute", "GRPCRoute") and it["metadata"]["name"] == name:
            return {c["type"]: c for c in it["status"]["parents"][0]["conditions"]}
    raise AssertionError(name)


def test_status_says_what_is_served(gw):
    c = route_conditions(gw, "sp")
    assert c["Accepted"]["status"] == "True"
    assert "sessionPersistence served" in c["Accepted"]["message"]
    assert "PartiallyInvalid" not in c
    c = route_conditions(gw, "half")
    assert c["Accepted"]["status"] == "True"
    assert c["PartiallyInvalid"]["status"] == "True"
    assert c["PartiallyInvalid"]["reason"] == "UnsupportedValue"
    assert "bad name" in c["PartiallyInvalid"]["message"]
    assert get(gw, "/ok", host="half.test").status == 200
    assert get(gw, "/bad", host="half.test").status == 404  # the dropped rule


# ----------------------------------------------------- reloads, endpoints

def one_rule(session, weights=None):
    bs = [backend("svc")] if not weights else [backend("svc", weight=weights[0]),
                                               backend("svc2", weight=weights[1])]
    return [httproute("sp", hostnames=["sp.test"], rules=[rule(prefix("/"), session, bs)])]


def test_reload_restart_endpoint_removed_and_failed(stack):
    st = stack
    svc = st.backend("svc", replicas=3)
    st.backend("svc2", replicas=1)
    st.up(one_rule(sp("s")))
    pins = {}
    for _ in range(30):
        r = get(st, "/")
        pins[pod(r)] = cookie_of(r, "s")[0]
    assert len(pins) == 3

    # A reload that changes the rule's backends and weights (svc2 joins and
    # takes all the weight, svc keeps 0): existing sessions stay where they
    # are (GEP-1619: even on a weight-0 backend), new ones go to svc2.
    st.write("routes.yaml", one_rule(sp("s"), weights=(0, 100)))
    st.wait_status("/", 200, host="sp.test",
                   pred=lambda r: r.json()["pod"].startswith("svc2-"))
    for p, tok in pins.items():
        for _ in range(5):
            assert pod(get(st, "/", cookie=f"s={tok}")) == p
    assert all(pod(get(st, "/")).startswith("svc2-") for _ in range(5))
    st.write("routes.yaml", one_rule(sp("s"), weights=(1, 99)))

    # A new gateway process (a restart, or another replica: the key comes
    # from the configuration, not from the process) honours the tokens.
    problems = st.gw.problems()  # stops it; a clean exit
    assert not problems, problems
    st.start()
    st.wait_listening()
    for p, tok in pins.items():
        for _ in range(3):
            assert pod(get(st, "/", cookie=f"s={tok}")) == p

    # An endpoint leaves the EndpointSlice: its sessions move, get a new
    # token, and stay on their new endpoint.
    gone = svc.pods[0]
    objs = [o for o in st.base_objects()
            if not (o["kind"] == "EndpointSlice" and o["metadata"]["name"].startswith("svc-"))]
    objs.append(svc.slice(procs=svc.procs[1:]))
    st.write("base.yaml", objs)
    deadline = time.monotonic() + 10
    while True:
        r = get(st, "/", cookie=f"s={pins[gone]}")
        if pod(r) != gone:
            break
        assert time.monotonic() < deadline, "the removed endpoint still serves its sessions"
        time.sleep(0.05)
    new_tok, _ = cookie_of(r, "s")
    moved = pod(r)
    for _ in range(10):
        assert pod(get(st, "/", cookie=f"s={new_tok}")) == moved
    # The others did not move.
    for p, tok in pins.items():
        if p != gone:
            assert pod(get(st, "/", cookie=f"s={tok}")) == p

    # A pinned endpoint that fails: once ejected, its sessions move.
    victim = svc.procs[1]
    vpod = victim.env["POD_NAME"]
    victim.stop()
    deadline = time.monotonic() + 10
    while True:
        r = get(st, "/", cookie=f"s={pins[vpod]}")
        if r.status == 200 and pod(r) != vpod:
            break
        assert time.monotonic() < deadline, "sessions never left the failed endpoint"
        time.sleep(0.02)
    assert cookie_of(r, "s") is not None


# ------------------------------------------------------------------- HTTPS

def test_https_cookie_is_secure(stack, tls_files):
    st = stack
    st.backend("svc", replicas=3)
    addr, port = st.pick_gateway_address()

    def b64(path):
        with open(path, "rb") as f:
            return base64.b64encode(f.read()).decode()

    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
              "metadata": {"name": "cert", "namespace": NS},
              "data": {"tls.crt": b64(tls_files.server_cert), "tls.key": b64(tls_files.server_key)}}
    tls = {"mode": "Terminate", "certificateRefs": [{"name": "cert"}]}
    st.up([httproute("sp", [rule(prefix("/"), sp("s"))])],
          listeners=[listener("http", port), listener("https", port + 1, "HTTPS", tls=tls)],
          extra=[secret])
    assert "secure" not in cookie_of(get(st, "/", host="a.example.com"), "s")[1]
    with H1(addr, port + 1, tls=tls_client(verify=False), sni="a.example.com") as c:
        r = c.request("GET", "/", host="a.example.com")
    tok, attrs = cookie_of(r, "s")
    assert "secure" in attrs and "httponly" in attrs, attrs
    first = pod(r)
    c = H2Client.connect(addr, port + 1, tls=tls_client(alpn=["h2"], verify=False),
                         sni="a.example.com")
    try:
        for _ in range(10):
            r = c.request(path="/", authority="a.example.com", headers=[("cookie", f"s={tok}")])
            assert pod(r) == first
    finally:
        c.close()
