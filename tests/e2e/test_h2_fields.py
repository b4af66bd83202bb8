# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: request fields from HTTP/2 clients as upstreams see them.

* A client may split its cookie into one `cookie` field per crumb (RFC 9113
  8.2.3, for header compression); towards an HTTP/1.1 upstream they are
  joined into one field with "; " (the exact bytes are checked on the
  recording backend, the echo shows what a server makes of them), and an
  h2c upstream gets the same single field.

The client is python3-h2 (echoclient.H2Client) over h2c prior knowledge."""
import pytest

from echoclient import H2Client
from gateway import backend, gatehouse_run, httproute, prefix, running_stack  # noqa: F401

V1 = "infra-v1"
CRUMBS = [("cookie", "a=1"), ("x-between", "y"), ("cookie", "b=2"), ("cookie", "c=3")]
JOINED = "a=1; b=2; c=3"


@pytest.fixture(scope="module")
def gw(gatehouse_run, tmp_path_factory):
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("h2f"))) as st:
        st.backend(V1)
        st.recorder("rec")
        st.up([
            httproute("echo", [{"matches": [prefix("/h1")], "backendRefs": [backend(V1)]},
                               {"matches": [prefix("/h2c")],
                                "backendRefs": [backend(V1, port=8081)]}]),
            httproute("rec", hostnames=["rec.test"],
                      rules=[{"matches": [prefix("/")], "backendRefs": [backend("rec")]}]),
        ], app_protocols=True)
        yield st


def h2_request(st, path, headers, authority="h2.test", **kw):
    c = H2Client.connect(st.addr, st.port)
    try:
        return c.request(path=path, authority=authority, headers=headers, **kw)
    finally:
        c.close()


def fields(j, name):
    return [v for k, vs in j["headers"].items() if k.lower() == name for v in vs]


@pytest.mark.parametrize("path", ["/h1", "/h2c"])
def test_cookie_crumbs_joined_for_echo(gw, path):
    r = h2_request(gw, path, CRUMBS)
    assert r.status == 200
    j = r.json()
    assert fields(j, "cookie") == [JOINED], j["headers"]
    assert fields(j, "x-between") == ["y"], j["headers"]


def test_cookie_crumbs_one_field_on_the_wire(gw):
    rec = gw.backends["rec"]
    m = rec.mark()
    r = h2_request(gw, "/crumbs", CRUMBS + [("cookie", "")], authority="rec.test")
    assert r.status == 200
    reqs, bad, _ = rec.since(m)
    assert not bad and len(reqs) == 1, (bad, reqs)
    cookies = [v for k, v in reqs[0]["headers"] if k.lower() == "cookie"]
    assert cookies == [JOINED], reqs[0]["headers"]


def test_single_cookie_untouched(gw):
    rec = gw.backends["rec"]
    m = rec.mark()
    r = h2_request(gw, "/one", [("cookie", "session=abc; theme=dark")], authority="rec.test")
    assert r.status == 200
    reqs, _, _ = rec.since(m)
    assert [v for k, v in reqs[0]["headers"] if k.lower() == "cookie"] == \
        ["session=abc; theme=dark"]
