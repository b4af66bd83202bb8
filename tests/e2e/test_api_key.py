# SPDX-License-Identifier: Apache-2.0
"""APIKeyPolicy (gatehouse.dev/v1alpha1, docs/policies.md): keys of a
Secret (each data key a client's name, its value the key), presented in a
header or a query parameter; 401 when missing or unknown; the credential
never reaches the backend, the client's name does (clientHeader, a
client's copy removed). Authentication runs before the rate limits: a
refused request does not spend a token."""
import pytest

from echoclient import H1
from gateway import (NS, backend, gatehouse_run, httproute, prefix,  # noqa: F401
                     stack)

GROUP = "gateway.networking.k8s.io"


def policy(name, targets, frm=None, client_header=None, secret="keys"):
    spec = {"targetRefs": targets, "keys": {"secretRef": {"name": secret}}}
    if frm:
        spec["from"] = frm
    if client_header:
        spec["clientHeader"] = client_header
    return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "APIKeyPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def target(kind, name, section=None):
    t = {"group": GROUP, "kind": kind, "name": name}
    if section:
        t["sectionName"] = section
    return t


KEYS = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keys", "namespace": NS},
        "stringData": {"alice": "k-alice-0123456789\n", "bob": "k bob/+?&="}}


def routes():
    return [httproute("r", [
        {"name": "hdr", "matches": [prefix("/h")], "backendRefs": [backend("svc")]},
        {"name": "query", "matches": [prefix("/q")], "backendRefs": [backend("svc")]},
        {"name": "open", "matches": [prefix("/")], "backendRefs": [backend("svc")]},
    ])]


def get(st, path, headers=()):
    with H1(st.addr, st.port, timeout=10) as c:
        return c.request("GET", path, host="gw.test", headers=list(headers))


@pytest.mark.deadline(90)
def test_header_and_query_keys(stack):
    stack.backend("svc")
    stack.up(routes(), extra=[
        KEYS,
        policy("h", [target("HTTPRoute", "r", "hdr")], client_header="X-Client"),
        policy("q", [target("HTTPRoute", "r", "query")], frm={"query": "api_key"}),
    ])
    r = get(stack, "/h", [("X-API-Key", "k-alice-0123456789"), ("X-Client", "admin")])
    assert r.status == 200, r.status
    h = r.json()["headers"]
    assert "X-Api-Key" not in h, h
    assert h["X-Client"] == ["alice"], h
    for hdrs in ([], [("X-API-Key", "nope")], [("X-API-Key", "k-alice-0123456789\n"[:-2])]):
        r = get(stack, "/h", hdrs)
        assert r.status == 401, hdrs
        assert r.header("WWW-Authenticate") == 'APIKey realm="gatehouse", header="x-api-key"'
    r = get(stack, "/q/x?a=1&api_key=k%20bob%2F%2B%3F%26%3D&b=2")
    assert r.status == 200, r.status
    assert r.json()["path"] == "/q/x?a=1&b=2"
    r = get(stack, "/q/x?api_key=k-alice-0123456789")
    assert r.status == 200 and r.json()["path"] == "/q/x"
    assert get(stack, "/q/x?api_key=bad").status == 401
    assert get(stack, "/q/x", [("X-API-Key", "k-alice-0123456789")]).status == 401
    assert get(stack, "/open").status == 200
    m = stack.gw.admin("/metrics")[1].decode()
    assert 'gatehouse_auth_refused_total{kind="apikey"} 5' in m


@pytest.mark.deadline(90)
def test_auth_runs_before_rate_limits(stack):
    stack.backend("svc")
    rl = {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "RateLimitPolicy",
          "metadata": {"name": "rl", "namespace": NS},
          "spec": {"targetRefs": [target("HTTPRoute", "r")],
                   "limits": [{"name": "l", "requests": 1, "interval": "1m"}]}}
    stack.up(routes(), extra=[KEYS, rl, policy("k", [target("Gateway", "gw")])])
    assert [get(stack, "/").status for _ in range(3)] == [401] * 3
    good = [("X-API-Key", "k-alice-0123456789")]
    assert [get(stack, "/", good).status for _ in range(2)] == [200, 429]


@pytest.mark.deadline(60)
def test_missing_secret_is_invalid(stack):
    stack.backend("svc")
    stack.up(routes(), extra=[policy("k", [target("HTTPRoute", "r")], secret="missing")])
    for it in stack.gw.status_json()["items"]:
        if it["kind"] == "APIKeyPolicy":
            c = [c for c in it["status"]["ancestors"][0]["conditions"]
                 if c["type"] == "Accepted"][0]
            assert c["reason"] == "Invalid" and "Secret e2e/missing not found" in c["message"]
            break
    else:
        raise AssertionError("no status")
    assert get(stack, "/", [("X-API-Key", "x")]).status == 500


def test_check_reports_errors_with_position(gatehouse_run, tmp_path):
    import subprocess
    (tmp_path / "p.yaml").write_text(
        "apiVersion: gatehouse.dev/v1alpha1\nkind: APIKeyPolicy\n"
        "metadata: {name: bad, namespace: default}\nspec:\n"
        "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]\n"
        "  keys: {secretRef: {name: k}}\n"
        "  from: {header: X-Key, query: key}\n"
        "---\n"
        "apiVersion: gatehouse.dev/v1alpha1\nkind: BasicAuthPolicy\n"
        "metadata: {name: bad, namespace: default}\nspec:\n"
        "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]\n"
        "  htpasswd: {secretRef: {name: u}}\n"
        "  realm: 'say \"hi\"'\n")
    p = subprocess.run([gatehouse_run, "check", "-f", str(tmp_path)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1, p.stdout
    assert "p.yaml:7:9: APIKeyPolicy default/bad: spec.from" in p.stdout, p.stdout
    assert "at most one of header and query may be set" in p.stdout, p.stdout
    assert "p.yaml:15:10: BasicAuthPolicy default/bad: spec.realm" in p.stdout, p.stdout
    assert "realm may not contain a double quote or a backslash" in p.stdout, p.stdout
