# SPDX-License-Identifier: Apache-2.0
"""JWTPolicy (gatehouse.dev/v1alpha1, docs/policies.md): tokens verified
against a JWK Set (or one PEM key) from a Secret or ConfigMap, with real
traffic. RS256, ES256 and EdDSA pass; alg none, HS256 keyed with the RSA
public key, expired, not yet valid, wrong issuer or audience, unknown kid
and garbage answer 401 with RFC 6750's WWW-Authenticate; claims reach the
backend as headers a client cannot forge; a rotated JWKS Secret takes
effect on reload; statuses; `gatehouse check`."""
import subprocess
import time

import pytest

from echoclient import H1, H2Client
from gateway import (NS, backend, gatehouse_run, httproute, prefix,  # noqa: F401
                     stack)
from jwtutil import Signer, claims, hs256_with_public_key, jwks, unsigned

GROUP = "gateway.networking.k8s.io"


def target(kind, name, section=None):
    t = {"group": GROUP, "kind": kind, "name": name}
    if section:
        t["sectionName"] = section
    return t


def provider(name="main", secret="jwks", key="jwks.json", **extra):
    p = {"name": name, "issuer": "https://issuer.test", "audiences": ["api"],
         "jwks": {"secretRef": {"name": secret, "key": key}},
         "claimsToHeaders": [{"claim": "sub", "header": "X-User"},
                             {"claim": "scope", "header": "X-Scope"}]}
    p.update(extra)
    return p


def policy(name, targets, providers, realm=None):
    spec = {"targetRefs": targets, "providers": providers}
    if realm:
        spec["realm"] = realm
    return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "JWTPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def secret(name, data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
            "stringData": data}


def routes():
    return [httproute("r", [
        {"name": "api", "matches": [prefix("/api")], "backendRefs": [backend("svc")]},
        {"name": "open", "matches": [prefix("/")], "backendRefs": [backend("svc")]},
    ])]


def get(st, path, token=None, headers=()):
    h = list(headers)
    if token is not None:
        h.append(("Authorization", f"Bearer {token}"))
    with H1(st.addr, st.port, timeout=10) as c:
        return c.request("GET", path, host="gw.test", headers=h)


def ancestors(gw, kind, name):
    for it in gw.status_json()["items"]:
        if it["kind"] == kind and it["metadata"]["name"] == name:
            return it["status"]["ancestors"]
    raise AssertionError(f"no status for {kind} {name}")


def accepted(anc):
    out = []
    for a in anc:
        c = [c for c in a["conditions"] if c["type"] == "Accepted"][0]
        out.append((a["ancestorRef"]["kind"], a["ancestorRef"]["name"], c["reason"]))
    return out


@pytest.fixture
def signers():
    return [Signer("RS256", "rsa1"), Signer("ES256", "ec1"), Signer("EdDSA", "ed1")]


@pytest.mark.deadline(90)
def test_algorithms_claims_and_refusals(stack, signers):
    rsa_, ec_, ed_ = signers
    stack.backend("svc")
    stack.up(routes(), extra=[
        secret("jwks", {"jwks.json": jwks(*signers)}),
        policy("p", [target("HTTPRoute", "r", "api")], [provider()], realm="api"),
    ])
    assert get(stack, "/open").status == 200  # the other rule: no policy
    for s in signers:
        r = get(stack, "/api/x", s.token({"sub": f"user-{s.kid}", "scope": "read write"}),
                headers=[("X-User", "forged"), ("x-user", "forged2")])
        assert r.status == 200, (s.kind, r.status, r.header("WWW-Authenticate"))
        h = r.json()["headers"]
        assert h["X-User"] == [f"user-{s.kid}"], h  # the client's copies are gone
        assert h["X-Scope"] == ["read write"], h
        assert h["Authorization"][0].startswith("Bearer ")  # the token is forwarded

    r = get(stack, "/api/x")
    assert r.status == 401
    assert r.header("WWW-Authenticate") == 'Bearer realm="api"'  # RFC 6750 3.1: no error
    now = int(time.time())
    bad = {
        "alg none": unsigned(claims()),
        "HS256 with the RSA public key": hs256_with_public_key(rsa_, claims()),
        "expired": rsa_.token(exp=now - 3600),
        "not yet valid": ec_.token(nbf=now + 3600),
        "wrong issuer": ed_.token(iss="https://evil.test"),
        "wrong audience": rsa_.token(aud="other"),
        "unknown kid": Signer("RS256", "rsa1").token(),  # same kid, another key
        "kid not in set": rsa_.token(kid="nope"),
        "garbage": "not.a.jwt",
    }
    for what, tok in bad.items():
        r = get(stack, "/api/x", tok, headers=[("X-User", "forged")])
        assert r.status == 401, (what, r.status)
        w = r.header("WWW-Authenticate")
        assert w.startswith('Bearer realm="api", error="invalid_token", error_description="'), \
            (what, w)
    # within the clock skew (30 s): still good
    assert get(stack, "/api/x", rsa_.token(exp=now - 5)).status == 200

    # the per-worker cache: the same token again is a hit
    tok = ec_.token()
    for _ in range(6):
        assert get(stack, "/api/x", tok).status == 200
    m = stack.gw.admin("/metrics")[1].decode()
    hits = [ln for ln in m.splitlines() if ln.startswith('gatehouse_jwt_cache_total{result="hit"}')]
    assert hits and int(hits[0].split()[-1]) >= 4, hits
    assert 'gatehouse_auth_refused_total{kind="jwt"} 10' in m
    assert accepted(ancestors(stack.gw, "JWTPolicy", "p")) == [("Gateway", "gw", "Accepted")]


@pytest.mark.deadline(90)
def test_sources_providers_and_configmap(stack, signers):
    """Two providers, either may pass: one reads Authorization (a PEM key
    from a ConfigMap), the other a cookie; a third reads a header with a
    prefix of its own."""
    rsa_, ec_, ed_ = signers
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pem", "namespace": NS},
          "data": {"key.pem": rsa_.public_pem().decode()}}
    stack.backend("svc")
    stack.up(routes(), extra=[
        cm, secret("jwks", {"jwks.json": jwks(ec_, ed_)}),
        policy("p", [target("Gateway", "gw")], [
            provider("pem", jwks={"configMapRef": {"name": "pem", "key": "key.pem"}}),
            provider("cookie", **{"from": {"cookie": "session"}}),
            provider("hdr", **{"from": {"header": {"name": "X-Token", "prefix": "JWT "}}}),
        ]),
    ])
    assert get(stack, "/open", rsa_.token()).status == 200
    r = get(stack, "/open", headers=[("Cookie", f"a=b; session={ec_.token(sub='c')}; z=1")])
    assert r.status == 200 and r.json()["headers"]["X-User"] == ["c"]
    assert get(stack, "/open", headers=[("X-Token", f"JWT {ed_.token()}")]).status == 200
    assert get(stack, "/open", headers=[("X-Token", ed_.token())]).status == 401
    assert get(stack, "/open", ed_.token()).status == 401  # ed1 is not the PEM provider's
    assert get(stack, "/open").header("WWW-Authenticate") == 'Bearer realm="gatehouse"'


@pytest.mark.deadline(90)
def test_jwks_rotation_takes_effect_on_reload(stack):
    old, new = Signer("RS256", "k1"), Signer("RS256", "k2")
    stack.backend("svc")
    stack.up(routes(), extra=[policy("p", [target("HTTPRoute", "r")], [provider()])])
    stack.write("jwks.yaml", [secret("jwks", {"jwks.json": jwks(old)})])
    t_old, t_new = old.token(), new.token()
    deadline = time.monotonic() + 10
    while get(stack, "/api", t_old).status != 200:
        assert time.monotonic() < deadline, "the Secret never applied"
        time.sleep(0.1)
    assert get(stack, "/api", t_new).status == 401
    stack.write("jwks.yaml", [secret("jwks", {"jwks.json": jwks(new)})])
    deadline = time.monotonic() + 10
    while get(stack, "/api", t_new).status != 200:
        assert time.monotonic() < deadline, "the rotated key never applied"
        time.sleep(0.1)
    # the old key's cached success does not outlive the set it came from
    assert get(stack, "/api", t_old).status == 401


@pytest.mark.deadline(90)
def test_statuses_and_fail_closed(stack, signers):
    stack.backend("svc")
    stack.up(routes(), extra=[
        secret("jwks", {"jwks.json": jwks(*signers), "empty": '{"keys": []}'}),
        policy("ok", [target("HTTPRoute", "r", "open")], [provider()]),
        policy("nosecret", [target("HTTPRoute", "r", "api")], [provider(secret="missing")]),
        policy("nokeys", [target("HTTPRoute", "nope")], [provider(key="empty")]),
        policy("nolis", [target("Gateway", "gw", "nolistener")], [provider()]),
    ])
    assert accepted(ancestors(stack.gw, "JWTPolicy", "ok")) == [("Gateway", "gw", "Accepted")]
    anc = ancestors(stack.gw, "JWTPolicy", "nosecret")
    assert accepted(anc) == [("Gateway", "gw", "Invalid")]
    msg = [c for c in anc[0]["conditions"] if c["type"] == "Accepted"][0]["message"]
    assert "Secret e2e/missing not found" in msg, msg
    assert accepted(ancestors(stack.gw, "JWTPolicy", "nokeys")) == [
        ("HTTPRoute", "nope", "Invalid")]
    assert accepted(ancestors(stack.gw, "JWTPolicy", "nolis")) == [
        ("Gateway", "gw", "TargetNotFound")]
    # an Invalid policy fails closed: its rule answers 500, not unprotected
    assert get(stack, "/api", signers[0].token()).status == 500
    assert get(stack, "/open", signers[0].token()).status == 200
    assert get(stack, "/open").status == 401


@pytest.mark.deadline(60)
def test_http2_clients(stack, signers):
    """The same checks on HTTP/2 streams (prior knowledge): a token per
    stream, claims set, the forged field gone, 401 with the field."""
    stack.backend("svc")
    stack.up(routes(), extra=[
        secret("jwks", {"jwks.json": jwks(*signers)}),
        policy("p", [target("HTTPRoute", "r")], [provider()]),
    ])
    c = H2Client.connect(stack.addr, stack.port)
    ok = c.request(path="/api", authority="gw.test",
                   headers=[("authorization", f"Bearer {signers[2].token(sub='h2')}"),
                            ("x-user", "forged")])
    assert ok.status == 200, ok.status
    assert ok.json()["headers"]["X-User"] == ["h2"]
    bad = c.request(path="/api", authority="gw.test", headers=[("x-user", "forged")])
    assert bad.status == 401
    assert bad.header("www-authenticate") == 'Bearer realm="gatehouse"'


def test_check_reports_errors_with_position(gatehouse_run, tmp_path):
    (tmp_path / "p.yaml").write_text(
        "apiVersion: gatehouse.dev/v1alpha1\nkind: JWTPolicy\n"
        "metadata: {name: bad, namespace: default}\nspec:\n"
        "  targetRefs: [{group: gateway.networking.k8s.io, kind: Service, name: s}]\n"
        "  providers:\n  - name: a\n"
        "    jwks:\n      secretRef: {name: s, key: k}\n      configMapRef: {name: c, key: k}\n"
        "    from: {header: {name: 'bad header'}}\n")
    p = subprocess.run([gatehouse_run, "check", "-f", str(tmp_path)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1, p.stdout
    out = p.stdout
    assert "p.yaml:5:15: JWTPolicy default/bad: spec.targetRefs" in out, out
    assert "a JWTPolicy targets a Gateway, an HTTPRoute or a GRPCRoute" in out, out
    assert "p.yaml:9:7: JWTPolicy default/bad: spec.providers[0].jwks" in out, out
    assert "exactly one of secretRef, configMapRef and remote must be set" in out, out
    assert "spec.providers[0].from.header.name" in out, out
