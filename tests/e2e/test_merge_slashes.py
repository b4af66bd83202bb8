# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: "//" and "..;" in request paths (docs/hardening.md).

By default both are forwarded as received (Envoy's default too): routing
sees "//a" as an empty segment then "a" (so PathPrefix /a does not match
it), and the backend gets the same bytes. With --merge-slashes every run of
'/' in the path (never the query) becomes one before routing, so route
matching, rewrites and the upstream all see the merged path. "..;" is never
a dot segment to gatehouse: forwarded as is either way."""
import pytest

from gateway import (backend, backend_of, exact, gatehouse_run, httproute, prefix,  # noqa: F401
                     running_stack)

A, B = "merge-a", "merge-b"

ROUTES = [httproute("merge", hostnames=["m.test"], rules=[
    {"matches": [prefix("/a")], "backendRefs": [backend(A)]},
    {"matches": [exact("/e/x")], "backendRefs": [backend(A)]},
    {"matches": [prefix("/r")], "backendRefs": [backend(A)],
     "filters": [{"type": "URLRewrite", "urlRewrite": {
         "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"}}}]},
    {"matches": [prefix("/")], "backendRefs": [backend(B)]},
])]


def start(gatehouse_run, tmp_path_factory, args):
    ctx = running_stack(gatehouse_run, str(tmp_path_factory.mktemp("merge")))
    st = ctx.__enter__()
    try:
        st.backend(A)
        st.backend(B)
        st.up(ROUTES, args=args)
    except BaseException:
        ctx.__exit__(None, None, None)
        raise
    return ctx, st


@pytest.fixture(scope="module")
def plain(gatehouse_run, tmp_path_factory):
    ctx, st = start(gatehouse_run, tmp_path_factory, [])
    yield st
    ctx.__exit__(None, None, None)


@pytest.fixture(scope="module")
def merged(gatehouse_run, tmp_path_factory):
    ctx, st = start(gatehouse_run, tmp_path_factory, ["--merge-slashes"])
    yield st
    ctx.__exit__(None, None, None)


def seen(st, path):
    """(the backend that answered, the path and query it saw)."""
    r = st.request(path, host="m.test")
    assert r.status == 200, (path, r.status, r.body[:200])
    j = r.json()
    return backend_of(r), j["path"]


DEFAULT = [
    ("//a//b", B, "//a//b"),       # "//a": an empty first segment, not /a
    ("/a//b", A, "/a//b"),
    ("/a//", A, "/a//"),
    ("/e//x", B, "/e//x"),         # Exact /e/x does not hold
    ("/a/..;/admin", A, "/a/..;/admin"),
    ("/r//x", A, "/new//x"),
    ("/a/b?q=//x", A, "/a/b?q=//x"),
]

MERGED = [
    ("//a//b", A, "/a/b"),
    ("/a//b", A, "/a/b"),
    ("/a///", A, "/a/"),
    ("/e//x", A, "/e/x"),
    ("///e/x", A, "/e/x"),
    ("/a/..;//admin", A, "/a/..;/admin"),
    ("//r//x", A, "/new/x"),
    ("/a//b?q=//x", A, "/a/b?q=//x"),  # the query is not a path
    ("/plain/path", B, "/plain/path"),
]


@pytest.mark.parametrize("path,want_backend,want_path", DEFAULT)
def test_default_forwards_verbatim(plain, path, want_backend, want_path):
    assert seen(plain, path) == (want_backend, want_path)


@pytest.mark.parametrize("path,want_backend,want_path", MERGED)
def test_merge_slashes(merged, path, want_backend, want_path):
    assert seen(merged, path) == (want_backend, want_path)


def test_merge_slashes_h2(merged):
    from echoclient import H2Client
    c = H2Client.connect(merged.addr, merged.port)
    try:
        r = c.request(path="//e//x?k=//v", authority="m.test")
    finally:
        c.close()
    assert r.status == 200
    assert backend_of(r) == A and r.json()["path"] == "/e/x?k=//v"
