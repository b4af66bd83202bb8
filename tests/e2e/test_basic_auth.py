# SPDX-License-Identifier: Apache-2.0
"""BasicAuthPolicy (gatehouse.dev/v1alpha1, docs/policies.md): users of an
htpasswd Secret (bcrypt, SHA-512-crypt), real traffic. A good password
passes once per worker through bcrypt and then from the worker's cache;
the Authorization field never reaches the backend, the user's name does
(userHeader, a client's copy removed); a wrong or missing password is 401
with WWW-Authenticate: Basic; a flood of wrong passwords is held to the
worker's budget of hashes per second (503 with Retry-After beyond) while
cached users still pass; a missing Secret is Invalid and fails closed."""
import base64
import time

import pytest

from echoclient import H1
from gateway import (NS, backend, gatehouse_run, httproute, prefix,  # noqa: F401
                     stack)

GROUP = "gateway.networking.k8s.io"
# alice: s3cret (bcrypt, cost 10); bob: hunter2 (SHA-512-crypt)
HTPASSWD = ("# users\n"
            "alice:$2b$10$MJBfFrAl7E7fiEWlfArqNOX6sqYQ7CGmtuCsssxJQg1B6FxqaxnIO\n"
            "bob:$6$abcdefgh$M/eYsB4rVXAm3ZNc88J.UD9rCKAT6FB1rahiwJCHtEndQNORCub5qhjxn50qbqVV"
            "thkM.9HpEwtf0t.iV9uH0/\n")


def policy(name, targets, secret="users", key=None, realm=None, user_header=None):
    ref = {"name": secret}
    if key:
        ref["key"] = key
    spec = {"targetRefs": targets, "htpasswd": {"secretRef": ref}}
    if realm:
        spec["realm"] = realm
    if user_header:
        spec["userHeader"] = user_header
    return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "BasicAuthPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def secret(name, data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
            "stringData": data}


def target(kind, name, section=None):
    t = {"group": GROUP, "kind": kind, "name": name}
    if section:
        t["sectionName"] = section
    return t


def routes():
    return [httproute("r", [
        {"name": "api", "matches": [prefix("/api")], "backendRefs": [backend("svc")]},
        {"name": "open", "matches": [prefix("/")], "backendRefs": [backend("svc")]},
    ])]


def basic(user, pw):
    return ("Authorization", "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode())


def get(st, path, headers=()):
    with H1(st.addr, st.port, timeout=10) as c:
        return c.request("GET", path, host="gw.test", headers=list(headers))


def accepted(gw, name):
    for it in gw.status_json()["items"]:
        if it["kind"] == "BasicAuthPolicy" and it["metadata"]["name"] == name:
            return [(a["ancestorRef"]["kind"], a["ancestorRef"]["name"],
                     [c for c in a["conditions"] if c["type"] == "Accepted"][0])
                    for a in it["status"]["ancestors"]]
    raise AssertionError(f"no status for {name}")


@pytest.mark.deadline(90)
def test_users_stripped_credentials_and_refusals(stack):
    stack.backend("svc")
    stack.up(routes(), args=["--workers", "1"], extra=[
        secret("users", {".htpasswd": HTPASSWD}),
        policy("p", [target("HTTPRoute", "r", "api")], realm="staff", user_header="X-User"),
    ])
    r = get(stack, "/api/x", [basic("alice", "s3cret"), ("X-User", "root")])
    assert r.status == 200, (r.status, r.body)
    h = r.json()["headers"]
    assert "Authorization" not in h, h
    assert h["X-User"] == ["alice"], h
    t0 = time.monotonic()
    for _ in range(20):  # cached: no bcrypt each time
        assert get(stack, "/api/x", [basic("alice", "s3cret")]).status == 200
    cached = (time.monotonic() - t0) / 20
    assert cached < 0.04, cached
    r = get(stack, "/api/x", [basic("bob", "hunter2")])
    assert r.status == 200 and r.json()["headers"]["X-User"] == ["bob"]
    for hdrs in ([basic("alice", "wrong")], [basic("carol", "s3cret")], [],
                 [("Authorization", "Basic !!!")], [("Authorization", "Bearer x")]):
        r = get(stack, "/api/x", hdrs)
        assert r.status == 401, (hdrs, r.status)
        assert r.header("WWW-Authenticate") == 'Basic realm="staff", charset="UTF-8"'
    assert get(stack, "/open").status == 200  # another rule, no policy
    assert accepted(stack.gw, "p")[0][2]["reason"] == "Accepted"


@pytest.mark.deadline(90)
def test_wrong_password_flood_is_bounded(stack):
    """One worker, bcrypt at cost 10: of 30 wrong passwords sent back to
    back, at most the budget per second get hashed, the rest are 503 with
    Retry-After; alice (cached) still passes meanwhile."""
    stack.backend("svc")
    stack.up(routes(), args=["--workers", "1"], extra=[
        secret("users", {".htpasswd": HTPASSWD}),
        policy("p", [target("Gateway", "gw")]),
    ])
    assert get(stack, "/", [basic("alice", "s3cret")]).status == 200
    got = []
    t0 = time.monotonic()
    with H1(stack.addr, stack.port, timeout=10) as c:
        for i in range(30):
            r = c.request("GET", "/", host="gw.test", headers=[basic("alice", f"w{i}")])
            got.append(r.status)
            if r.status == 503:
                assert r.header("Retry-After") == "1"
    took = time.monotonic() - t0
    assert set(got) <= {401, 503}, got
    assert got.count(503) >= 30 - 8 * (int(took) + 2), (got, took)
    assert get(stack, "/", [basic("alice", "s3cret")]).status == 200
    m = stack.gw.admin("/metrics")[1].decode()
    assert f"gatehouse_auth_busy_total {got.count(503)}" in m


@pytest.mark.deadline(60)
def test_missing_secret_is_invalid_and_fails_closed(stack):
    stack.backend("svc")
    stack.up(routes(), extra=[
        secret("users", {"other": HTPASSWD, "junk": "plain:text\n"}),
        policy("nosecret", [target("HTTPRoute", "r", "api")], secret="missing"),
        policy("nokey", [target("HTTPRoute", "r", "open")]),
        policy("junk", [target("HTTPRoute", "nope")], key="junk"),
    ])
    (_, _, c), = accepted(stack.gw, "nosecret")
    assert c["reason"] == "Invalid" and "Secret e2e/missing not found" in c["message"], c
    (_, _, c), = accepted(stack.gw, "nokey")
    assert c["reason"] == "Invalid" and "has no key .htpasswd" in c["message"], c
    (_, _, c), = accepted(stack.gw, "junk")
    assert c["reason"] == "Invalid" and "no usable user" in c["message"], c
    assert get(stack, "/api", [basic("alice", "s3cret")]).status == 500
    assert get(stack, "/", [basic("alice", "s3cret")]).status == 500
