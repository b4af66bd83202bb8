# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: HTTPRoute filters, observed through the echo reply and
the response the client gets: RequestHeaderModifier, ResponseHeaderModifier
(set/add/remove), RequestRedirect (scheme, hostname, port, path full/prefix,
status codes, the Location port rules of HTTPRequestRedirectFilter),
URLRewrite (hostname, path full/prefix with the HTTPPathModifier table),
RequestMirror (the mirror's request log shows the copy) and CORS (preflight
answered by the gateway)."""
import time
import uuid
from urllib.parse import urlsplit

import pytest

from gateway import (backend, backend_of, exact, gatehouse_run, httproute, prefix,  # noqa: F401
                     running_stack)

V1, V2, DEAD = "infra-v1", "infra-v2", "dead-mirror"


def f_req_mod(set_=(), add=(), remove=()):
    m = {}
    if set_:
        m["set"] = [{"name": k, "value": v} for k, v in set_]
    if add:
        m["add"] = [{"name": k, "value": v} for k, v in add]
    if remove:
        m["remove"] = list(remove)
    return {"type": "RequestHeaderModifier", "requestHeaderModifier": m}


def f_resp_mod(set_=(), add=(), remove=()):
    m = f_req_mod(set_, add, remove)["requestHeaderModifier"]
    return {"type": "ResponseHeaderModifier", "responseHeaderModifier": m}


def f_redirect(**kw):
    return {"type": "RequestRedirect", "requestRedirect": kw}


def f_rewrite(**kw):
    return {"type": "URLRewrite", "urlRewrite": kw}


def r_to(match, filters=(), to=V1):
    r = {"matches": [match], "filters": list(filters)}
    if to:
        r["backendRefs"] = [backend(to)]
    return r


def full(p):
    return {"type": "ReplaceFullPath", "replaceFullPath": p}


def repl(p):
    return {"type": "ReplacePrefixMatch", "replacePrefixMatch": p}


ROUTES = [
    httproute("headers", hostnames=["mod.test"], rules=[
        r_to(exact("/set"), [f_req_mod(set_=[("X-Header-Set", "set-overwrites-values")])]),
        r_to(exact("/add"), [f_req_mod(add=[("X-Header-Add", "add-appends-values")])]),
        r_to(exact("/remove"), [f_req_mod(remove=["X-Header-Remove"])]),
        r_to(exact("/multiple"), [f_req_mod(
            set_=[("X-Header-Set-1", "header-set-1"), ("X-Header-Set-2", "header-set-2")],
            add=[("X-Header-Add-1", "header-add-1"), ("X-Header-Add-2", "header-add-2"),
                 ("X-Header-Add-3", "header-add-3")],
            remove=["X-Header-Remove-1", "X-Header-Remove-2"])]),
        r_to(exact("/case-insensitivity"), [f_req_mod(
            set_=[("x-Header-sET", "header-set")], add=[("x-header-ADD", "header-add")],
            remove=["X-HEADER-remove"])]),
        r_to(exact("/resp-set"), [f_resp_mod(set_=[("X-Header-Set", "set-overwrites-values")])]),
        r_to(exact("/resp-add"), [f_resp_mod(add=[("X-Header-Add", "add-appends-values")])]),
        r_to(exact("/resp-remove"), [f_resp_mod(remove=["X-Header-Remove"])]),
        r_to(exact("/resp-case"), [f_resp_mod(set_=[("X-HEADER-SET", "s")],
                                              remove=["x-HEADER-remove"])]),
    ]),
    httproute("redirects", hostnames=["redirect.test"], rules=[
        r_to(exact("/scheme"), [f_redirect(scheme="https")], to=None),
        r_to(exact("/scheme-443"), [f_redirect(scheme="https", port=443)], to=None),
        r_to(exact("/host"), [f_redirect(hostname="example.org")], to=None),
        r_to(exact("/port"), [f_redirect(port=8083)], to=None),
        r_to(exact("/http-80"), [f_redirect(scheme="http", port=80)], to=None),
        r_to(prefix("/original-prefix"),
             [f_redirect(path=repl("/replacement-prefix"))], to=None),
        r_to(prefix("/full"), [f_redirect(path=full("/full-path-replacement"))], to=None),
        r_to(exact("/s301"), [f_redirect(statusCode=301)], to=None),
        r_to(exact("/s302"), [f_redirect(statusCode=302)], to=None),
        r_to(exact("/s303"), [f_redirect(statusCode=303)], to=None),
        r_to(exact("/s307"), [f_redirect(statusCode=307)], to=None),
        r_to(exact("/s308"), [f_redirect(statusCode=308)], to=None),
        r_to(exact("/all"), [f_redirect(scheme="https", hostname="example.org", port=8443,
                                        path=full("/elsewhere"), statusCode=301)], to=None),
    ]),
    httproute("rewrites", hostnames=["rewrite.test"], rules=[
        r_to(prefix("/prefix/one"), [f_rewrite(path=repl("/one"))]),
        r_to(prefix("/strip-prefix"), [f_rewrite(path=repl("/"))]),
        r_to(prefix("/full/one"), [f_rewrite(path=full("/one"))]),
        r_to(exact("/host"), [f_rewrite(hostname="one.example.org")]),
        r_to(prefix("/both"), [f_rewrite(hostname="two.example.org", path=repl("/b")),
                               f_req_mod(add=[("X-Header-Add", "header-val-1")])]),
        # rows of the HTTPPathModifier ReplacePrefixMatch table
        r_to(prefix("/ta"), [f_rewrite(path=repl("/xyz"))]),
        r_to(prefix("/tb"), [f_rewrite(path=repl("/xyz/"))]),
        r_to(prefix("/tc/"), [f_rewrite(path=repl("/xyz"))]),
        r_to(prefix("/td/"), [f_rewrite(path=repl("/xyz/"))]),
        r_to(prefix("/te"), [f_rewrite(path=repl("/"))]),
    ]),
    httproute("mirror", hostnames=["mirror.test"], rules=[
        {"matches": [exact("/mirror")],
         "filters": [{"type": "RequestMirror",
                      "requestMirror": {"backendRef": {"name": V2, "port": 80}}}],
         "backendRefs": [backend(V1)]},
        {"matches": [exact("/mirror-and-modify-headers")],
         "filters": [f_req_mod(add=[("X-Header-Add", "header-val-1")], remove=["X-Header-Remove"]),
                     {"type": "RequestMirror",
                      "requestMirror": {"backendRef": {"name": V2, "port": 80}}}],
         "backendRefs": [backend(V1)]},
        {"matches": [exact("/mirror-dead")],
         "filters": [{"type": "RequestMirror",
                      "requestMirror": {"backendRef": {"name": DEAD, "port": 80}}}],
         "backendRefs": [backend(V1)]},
    ]),
    httproute("cors", hostnames=["cors.test"], rules=[
        {"matches": [prefix("/cors-1")],
         "filters": [{"type": "CORS", "cors": {
             "allowOrigins": ["https://www.foo.com", "https://*.bar.com"],
             "allowMethods": ["GET", "OPTIONS"],
             "allowHeaders": ["x-header-1", "x-header-2"],
             "exposeHeaders": ["x-header-3", "x-header-4"],
             "allowCredentials": True, "maxAge": 3600}}],
         "backendRefs": [backend(V1)]},
        {"matches": [prefix("/cors-wildcard")],
         "filters": [{"type": "CORS", "cors": {"allowOrigins": ["*"], "allowMethods": ["PUT"],
                                               "allowCredentials": False}}],
         "backendRefs": [backend(V1)]},
    ]),
]


@pytest.fixture(scope="module")
def gw(gatehouse_run, tmp_path_factory):
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("filters"))) as st:
        st.backend(V1)
        st.backend(V2)
        dead = st.recorder(DEAD)
        dead.stop()  # its address stays in the EndpointSlice: nothing listens there
        st.up(ROUTES)
        yield st


def joined(echo_json, name):
    """The judge's view of a request header at the backend: values joined by ','."""
    for k, v in echo_json["headers"].items():
        if k.lower() == name.lower():
            return ",".join(v)
    return None


def echo_of(gw, path, host, headers=()):
    r = gw.request(path, host=host, headers=headers)
    assert r.status == 200, f"{host}{path}: {r!r}"
    return r, r.json()


# ------------------------------------------------ RequestHeaderModifier

def test_request_header_set_overwrites(gw):
    _, j = echo_of(gw, "/set", "mod.test", [("X-Header-Set", "some-other-value")])
    assert joined(j, "X-Header-Set") == "set-overwrites-values", j["headers"]


def test_request_header_set_when_absent(gw):
    _, j = echo_of(gw, "/set", "mod.test")
    assert joined(j, "X-Header-Set") == "set-overwrites-values", j["headers"]


def test_request_header_add_appends(gw):
    _, j = echo_of(gw, "/add", "mod.test", [("X-Header-Add", "some-other-value")])
    assert joined(j, "X-Header-Add").replace(", ", ",") == \
        "some-other-value,add-appends-values", j["headers"]


def test_request_header_add_when_absent(gw):
    _, j = echo_of(gw, "/add", "mod.test")
    assert joined(j, "X-Header-Add") == "add-appends-values", j["headers"]


def test_request_header_remove(gw):
    _, j = echo_of(gw, "/remove", "mod.test", [("X-Header-Remove", "val"), ("X-Keep", "k")])
    assert joined(j, "X-Header-Remove") is None, j["headers"]
    assert joined(j, "X-Keep") == "k"


def test_request_header_multiple(gw):
    _, j = echo_of(gw, "/multiple", "mod.test", [
        ("X-Header-Set-2", "set-val-2"), ("X-Header-Add-2", "add-val-2"),
        ("X-Header-Add-3", "add-val-3"), ("X-Header-Remove-1", "r1"),
        ("X-Header-Remove-2", "r2"), ("Another-Header", "another")])
    assert joined(j, "X-Header-Set-1") == "header-set-1"
    assert joined(j, "X-Header-Set-2") == "header-set-2"
    assert joined(j, "X-Header-Add-1") == "header-add-1"
    assert joined(j, "X-Header-Add-2").replace(", ", ",") == "add-val-2,header-add-2"
    assert joined(j, "X-Header-Add-3").replace(", ", ",") == "add-val-3,header-add-3"
    assert joined(j, "X-Header-Remove-1") is None and joined(j, "X-Header-Remove-2") is None
    assert joined(j, "Another-Header") == "another"


def test_request_header_names_case_insensitive(gw):
    _, j = echo_of(gw, "/case-insensitivity", "mod.test", [
        ("X-Header-Set", "original"), ("X-Header-Add", "original"), ("x-header-remove", "gone")])
    assert joined(j, "X-Header-Set") == "header-set", j["headers"]
    assert joined(j, "X-Header-Add").replace(", ", ",") == "original,header-add", j["headers"]
    assert joined(j, "X-Header-Remove") is None, j["headers"]


# ----------------------------------------------- ResponseHeaderModifier

def resp_values(r, name):
    return ",".join(v.strip() for v in r.header_all(name)).replace(", ", ",")


def test_response_header_set(gw):
    r, _ = echo_of(gw, "/resp-set", "mod.test",
                   [("X-Echo-Set-Header", "X-Header-Set: original, Some-Other-Header: val")])
    assert resp_values(r, "X-Header-Set") == "set-overwrites-values", r.headers
    assert resp_values(r, "Some-Other-Header") == "val", r.headers


def test_response_header_set_when_absent(gw):
    r, _ = echo_of(gw, "/resp-set", "mod.test", [("X-Echo-Set-Header", "")])
    assert resp_values(r, "X-Header-Set") == "set-overwrites-values", r.headers


def test_response_header_add(gw):
    r, _ = echo_of(gw, "/resp-add", "mod.test",
                   [("X-Echo-Set-Header", "X-Header-Add: some-other-value")])
    assert resp_values(r, "X-Header-Add") == "some-other-value,add-appends-values", r.headers


def test_response_header_remove(gw):
    r, _ = echo_of(gw, "/resp-remove", "mod.test",
                   [("X-Echo-Set-Header", "X-Header-Remove: val, Keep-Me: yes")])
    assert r.header_all("X-Header-Remove") == [], r.headers
    assert resp_values(r, "Keep-Me") == "yes"


def test_response_header_case_insensitive(gw):
    r, _ = echo_of(gw, "/resp-case", "mod.test",
                   [("X-Echo-Set-Header", "x-header-set: original, x-header-remove: val")])
    assert resp_values(r, "X-Header-Set") == "s", r.headers
    assert r.header_all("X-Header-Remove") == [], r.headers


# ------------------------------------------------------- RequestRedirect

def location(gw, path, status=302):
    r = gw.request(path, host="redirect.test")
    assert r.status == status, f"{path}: {r!r}"
    loc = r.header("Location")
    assert loc, f"{path}: no Location in {r.headers}"
    return urlsplit(loc)


def test_redirect_scheme_https_drops_listener_port(gw):
    u = location(gw, "/scheme")
    assert u.scheme == "https" and u.hostname == "redirect.test" and u.path == "/scheme"
    assert u.port in (None, 443), f"port must be absent or 443, got {u.port}"


def test_redirect_scheme_https_explicit_443(gw):
    u = location(gw, "/scheme-443")
    assert u.scheme == "https" and u.port in (None, 443)


def test_redirect_hostname_keeps_listener_port(gw):
    # no scheme, no port: the Gateway listener's port (not 80 here)
    u = location(gw, "/host")
    assert u.scheme == "http" and u.hostname == "example.org" and u.path == "/host"
    assert u.port == gw.port, f"expected listener port {gw.port}, got {u.port}"


def test_redirect_port(gw):
    u = location(gw, "/port")
    assert (u.scheme, u.hostname, u.port, u.path) == ("http", "redirect.test", 8083, "/port")


def test_redirect_http_80_omits_port(gw):
    u = location(gw, "/http-80")
    assert u.scheme == "http" and u.port in (None, 80)


@pytest.mark.parametrize("path,want", [
    ("/original-prefix/lemon", "/replacement-prefix/lemon"),
    ("/original-prefix", "/replacement-prefix"),
    ("/full/path/original", "/full-path-replacement"),
    ("/full", "/full-path-replacement"),
])
def test_redirect_path(gw, path, want):
    u = location(gw, path)
    assert u.path == want and u.hostname == "redirect.test"


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_status_codes(gw, code):
    u = location(gw, f"/s{code}", status=code)
    assert u.path == f"/s{code}"


def test_redirect_everything(gw):
    u = location(gw, "/all", status=301)
    assert (u.scheme, u.hostname, u.port, u.path) == ("https", "example.org", 8443, "/elsewhere")


def test_redirect_reaches_no_backend(gw):
    b1 = gw.backends[V1]
    rid = uuid.uuid4().hex
    location(gw, f"/s307?rid={rid}", status=307)
    time.sleep(0.3)
    assert not [ln for ln in b1.log_lines() if rid in ln]


# ------------------------------------------------------------ URLRewrite

@pytest.mark.parametrize("path,want", [
    ("/prefix/one/two", "/one/two"),
    ("/prefix/one", "/one"),
    ("/prefix/one/two?x=1&y=2", "/one/two?x=1&y=2"),
    ("/strip-prefix/three", "/three"),
    ("/strip-prefix", "/"),
    ("/strip-prefix/", "/"),
    ("/full/one/two", "/one"),
    ("/full/one", "/one"),
    # HTTPPathModifier table
    ("/ta/bar", "/xyz/bar"),
    ("/ta", "/xyz"),
    ("/ta/", "/xyz/"),
    ("/tb/bar", "/xyz/bar"),
    ("/tc/bar", "/xyz/bar"),
    ("/td/bar", "/xyz/bar"),
    ("/te/", "/"),
    ("/te", "/"),
    ("/te/bar", "/bar"),
])
def test_rewrite_path(gw, path, want):
    _, j = echo_of(gw, path, "rewrite.test")
    assert j["path"] == want, f"{path}: backend saw {j['path']!r}, spec says {want!r}"
    assert j["host"] == "rewrite.test"


def test_rewrite_hostname(gw):
    _, j = echo_of(gw, "/host", "rewrite.test")
    assert j["host"] == "one.example.org" and j["path"] == "/host"


def test_rewrite_hostname_and_path_with_header_modifier(gw):
    _, j = echo_of(gw, "/both/x", "rewrite.test")
    assert j["host"] == "two.example.org" and j["path"] == "/b/x"
    assert joined(j, "X-Header-Add") == "header-val-1"


# ---------------------------------------------------------- RequestMirror

def _mirror_check(gw, path, headers=()):
    rid = uuid.uuid4().hex
    full_path = f"{path}?gateway-api-conformance-request-id={rid}"
    r, j = echo_of(gw, full_path, "mirror.test", headers)
    assert backend_of(r) == V1 and j["path"] == full_path
    mirror = gw.backends[V2]
    ln = mirror.wait_log(lambda s: s.startswith(f"Echoing back request made to {full_path} to client"),
                         timeout=10)
    assert ln
    # the mirror copy is not answered to the client; the primary saw exactly one
    time.sleep(0.2)
    primary = [x for x in gw.backends[V1].log_lines() if rid in x]
    assert len(primary) == 1, primary
    return j


def test_mirror_copies_request(gw):
    _mirror_check(gw, "/mirror")


def test_mirror_after_header_modifier(gw):
    j = _mirror_check(gw, "/mirror-and-modify-headers",
                      [("X-Header-Remove", "remove-val"), ("X-Header-Add", "append-val-1")])
    assert joined(j, "X-Header-Remove") is None
    assert joined(j, "X-Header-Add").replace(", ", ",") == "append-val-1,header-val-1"


def test_mirror_backend_down_does_not_affect_response(gw):
    for _ in range(5):
        t0 = time.monotonic()
        r, j = echo_of(gw, "/mirror-dead", "mirror.test")
        assert backend_of(r) == V1
        assert time.monotonic() - t0 < 3, "the primary response waited for the dead mirror"


# ------------------------------------------------------------------- CORS

def _preflight(gw, path, origin, method="GET", req_headers="x-header-1, x-header-2"):
    rid = uuid.uuid4().hex
    hdrs = [("Origin", origin), ("Access-Control-Request-Method", method)]
    if req_headers:
        hdrs.append(("Access-Control-Request-Headers", req_headers))
    r = gw.request(f"{path}?rid={rid}", host="cors.test", method="OPTIONS", headers=hdrs)
    return r, rid


def _set(value):
    return sorted(x.strip().lower() for x in (value or "").split(",") if x.strip())


@pytest.mark.parametrize("origin", ["https://www.foo.com", "https://www.bar.com",
                                    "https://xpto.www.bar.com"])
def test_cors_preflight_allowed_origin_answered_by_gateway(gw, origin):
    r, rid = _preflight(gw, "/cors-1", origin)
    assert r.status in (200, 204), r
    assert r.header("Access-Control-Allow-Origin") == origin, r.headers
    assert _set(r.header("Access-Control-Allow-Methods")) == ["get", "options"], r.headers
    assert _set(r.header("Access-Control-Allow-Headers")) == ["x-header-1", "x-header-2"]
    assert _set(r.header("Access-Control-Expose-Headers")) == ["x-header-3", "x-header-4"]
    assert r.header("Access-Control-Max-Age") == "3600"
    assert r.header("Access-Control-Allow-Credentials") == "true"
    assert b'"pod"' not in r.body, "the preflight was forwarded to the echo backend"
    time.sleep(0.2)
    assert not [ln for ln in gw.backends[V1].log_lines() if rid in ln], \
        "the preflight reached the backend"


@pytest.mark.parametrize("origin", ["https://foobar.com", "https://bar.com",
                                    "http://www.foo.com", "https://www.foo.com.evil"])
def test_cors_preflight_other_origin_not_allowed(gw, origin):
    r, _ = _preflight(gw, "/cors-1", origin)
    assert r.header("Access-Control-Allow-Origin") is None, r.headers


def test_cors_simple_request_forwarded_with_headers(gw):
    r = gw.request("/cors-1/simple", host="cors.test",
                   headers=[("Origin", "https://www.foo.com")])
    assert r.status == 200 and backend_of(r) == V1
    assert r.json()["path"] == "/cors-1/simple"
    assert r.header("Access-Control-Allow-Origin") == "https://www.foo.com", r.headers
    assert r.header("Access-Control-Allow-Credentials") == "true"


def test_cors_wildcard_origin(gw):
    r, _ = _preflight(gw, "/cors-wildcard", "https://anything.example", method="PUT",
                      req_headers=None)
    assert r.status in (200, 204), r
    assert r.header("Access-Control-Allow-Origin") in ("*", "https://anything.example")
    assert "put" in _set(r.header("Access-Control-Allow-Methods"))
    assert r.header("Access-Control-Allow-Credentials") in (None, "false")
