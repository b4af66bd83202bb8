# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: HTTPRoute matching, observed through the echo reply
(which backend answered, and the request-URI it received unchanged).

Path Exact / PathPrefix (element-wise) / RegularExpression, header, query
and method matches, hostnames with wildcards, precedence across rules and
routes (Gateway API HTTPRouteRule docs: exact path > longest prefix > method
> most headers > most query params > oldest route > ns/name), 404 when
nothing matches, and listener isolation (GatewayHTTPListenerIsolation)."""
import pytest

from gateway import (backend, backend_of, exact, gatehouse_run, httproute, listener,  # noqa: F401
                     prefix, running_stack)

V1, V2, V3 = "infra-v1", "infra-v2", "infra-v3"


def rule(matches, to, **kw):
    r = {"matches": matches, "backendRefs": [backend(to)]}
    r.update(kw)
    return r


def header_match(name, value, type_=None):
    m = {"name": name, "value": value}
    if type_:
        m["type"] = type_
    return m


ROUTES = [
    httproute("paths", hostnames=["paths.test"], rules=[
        rule([exact("/exact")], V1),
        rule([prefix("/prefix")], V2),
        rule([prefix("/prefix/deeper/")], V3),
        rule([{"path": {"type": "RegularExpression", "value": "/regex/[0-9]+"}}], V3),
    ]),
    # HTTPRoutePathMatchOrder
    httproute("order", hostnames=["order.test"], rules=[
        rule([exact("/match")], V1),
        rule([exact("/match/exact")], V2),
        rule([exact("/match/exact/one")], V3),
        rule([prefix("/match/")], V3),
        rule([prefix("/match/prefix/")], V1),
        rule([prefix("/match/prefix/one")], V2),
    ]),
    httproute("headers", hostnames=["headers.test"], rules=[
        rule([{"headers": [header_match("version", "one")]}], V1),
        rule([{"headers": [header_match("version", "two")]}], V2),
        rule([{"headers": [header_match("version", "two"), header_match("color", "blue")]}], V3),
    ]),
    # HTTPRouteQueryParamMatching, abridged
    httproute("query", hostnames=["query.test"], rules=[
        rule([{"queryParams": [{"name": "animal", "value": "whale"}]}], V1),
        rule([{"queryParams": [{"name": "animal", "value": "dolphin"}]}], V2),
        rule([{"queryParams": [{"name": "animal", "value": "dolphin"},
                               {"name": "color", "value": "blue"}]},
              {"queryParams": [{"name": "ANIMAL", "value": "Whale"}]}], V3),
    ]),
    httproute("methods", hostnames=["method.test"], rules=[
        rule([{"method": "POST"}], V1),
        rule([{"method": "GET"}], V2),
        rule([{"path": {"type": "Exact", "value": "/m"}}], V3),
    ]),
    httproute("wild", hostnames=["*.wild.test"], rules=[rule([prefix("/")], V1)]),
    httproute("exact-host", hostnames=["foo.wild.test"], rules=[rule([prefix("/")], V2)]),
    # precedence across routes on one hostname
    httproute("prec-a", hostnames=["prec.test"], rules=[rule([prefix("/p")], V1)]),
    httproute("prec-b", hostnames=["prec.test"], rules=[rule([prefix("/p/longer")], V2)]),
    httproute("prec-c", hostnames=["prec.test"], rules=[rule([exact("/p/exact")], V3)]),
    httproute("prec-d", hostnames=["prec.test"],
              rules=[rule([{"path": {"type": "PathPrefix", "value": "/p"}, "method": "PUT"}], V3)]),
    httproute("prec-e", hostnames=["prec.test"],
              rules=[rule([{"path": {"type": "PathPrefix", "value": "/p"},
                            "headers": [header_match("x-a", "1")]}], V2)]),
]


def _ts(route, when):
    route["metadata"]["creationTimestamp"] = when
    return route


# ties: same creationTimestamp -> alphabetical ns/name; else the oldest wins
ROUTES += [
    _ts(httproute("tie-b", hostnames=["tie.test"], rules=[rule([prefix("/tie")], V2)]),
        "2024-01-01T00:00:00Z"),
    _ts(httproute("tie-a", hostnames=["tie.test"], rules=[rule([prefix("/tie")], V1)]),
        "2024-01-01T00:00:00Z"),
    _ts(httproute("old-z", hostnames=["tie.test"], rules=[rule([prefix("/old")], V3)]),
        "2023-01-01T00:00:00Z"),
    _ts(httproute("old-y", hostnames=["tie.test"], rules=[rule([prefix("/old")], V1)]),
        "2024-06-01T00:00:00Z"),
]


@pytest.fixture(scope="module")
def gw(gatehouse_run, tmp_path_factory):
    with running_stack(gatehouse_run, str(tmp_path_factory.mktemp("routing"))) as st:
        for name in (V1, V2, V3):
            st.backend(name)
        st.up(ROUTES)
        yield st


def expect(gw, path, want, host, headers=(), method="GET"):
    body = "x" if method in ("POST", "PUT") else None
    r = gw.request(path, host=host, headers=headers, method=method, body=body)
    if want is None:
        assert r.status == 404, f"{method} {host}{path}: expected 404, got {r!r}"
        return r
    assert r.status == 200, f"{method} {host}{path}: expected 200 from {want}, got {r!r}"
    j = r.json()
    assert backend_of(r) == want, f"{method} {host}{path} {headers}: answered by {j['pod']}"
    assert j["path"] == path, f"backend saw {j['path']!r}, client sent {path!r}"
    assert j["method"] == method
    return r


@pytest.mark.parametrize("path,want", [
    ("/exact", V1),
    ("/exact?q=1", V1),        # the query is not part of the path
    ("/exact/", None),         # Exact: no trailing-slash leniency
    ("/exactly", None),
    ("/prefix", V2),
    ("/prefix/", V2),
    ("/prefix/a/b", V2),
    ("/prefixed", None),       # element-wise: /prefix does not match /prefixed
    ("/prefix/deeper", V3),    # prefix "/prefix/deeper/" matches "/prefix/deeper" too
    ("/prefix/deeper/x", V3),
    ("/prefix/deeperx", V2),
    ("/regex/123", V3),
    ("/regex/abc", None),
    ("/nothing", None),
])
def test_path_match_types(gw, path, want):
    expect(gw, path, want, "paths.test")


@pytest.mark.parametrize("path,want", [
    ("/match/exact/one", V3),
    ("/match/exact", V2),
    ("/match", V1),
    ("/match/prefix/one/any", V2),
    ("/match/prefix/any", V1),
    ("/match/any", V3),
])
def test_path_match_order(gw, path, want):
    expect(gw, path, want, "order.test")


@pytest.mark.parametrize("headers,want", [
    ([("version", "one")], V1),
    ([("Version", "one")], V1),          # header names are case-insensitive
    ([("VERSION", "one")], V1),
    ([("version", "ONE")], None),        # values are case-sensitive
    ([("version", "two")], V2),
    ([("version", "two"), ("color", "blue")], V3),   # more header matches win
    ([("color", "blue"), ("version", "two")], V3),
    ([("version", "two"), ("color", "red")], V2),
    ([("color", "blue")], None),
    ([], None),
])
def test_header_match(gw, headers, want):
    expect(gw, "/h", want, "headers.test", headers=headers)


@pytest.mark.parametrize("path,want", [
    ("/?animal=whale", V1),
    ("/?animal=dolphin", V2),
    ("/?animal=dolphin&color=blue", V3),
    ("/?color=blue&animal=dolphin", V3),
    ("/?ANIMAL=Whale", V3),
    ("/?animal=whale&otherparam=irrelevant", V1),
    ("/?animal=dolphin&color=yellow", V2),
    ("/any/path?animal=whale", V1),
    ("/?color=blue", None),
    ("/?animal=dog", None),
    ("/?animal=whaledolphin", None),
    ("/?animal=Whale", None),
    ("/", None),
])
def test_query_match(gw, path, want):
    expect(gw, path, want, "query.test")


@pytest.mark.parametrize("method,path,want", [
    ("POST", "/", V1),
    ("GET", "/", V2),
    ("GET", "/anything", V2),
    ("PUT", "/", None),
    ("DELETE", "/x", None),
    ("GET", "/m", V3),      # a path match outranks a method match
    ("PUT", "/m", V3),
])
def test_method_match(gw, method, path, want):
    expect(gw, path, want, "method.test", method=method)


@pytest.mark.parametrize("host,want", [
    ("foo.wild.test", V2),          # the exact hostname beats the wildcard
    ("bar.wild.test", V1),
    ("a.b.wild.test", V1),          # a wildcard covers one or more labels
    ("BAR.Wild.TEST", V1),          # hostnames compare case-insensitively
    ("bar.wild.test:8080", V1),     # the port is not part of the hostname
    ("foo.wild.test:1", V2),
    ("wild.test", None),            # *.wild.test does not match the apex
    ("xwild.test", None),
    ("unknown.test", None),
])
def test_hostnames(gw, host, want):
    r = expect(gw, "/", want, host)
    if want is not None:
        assert r.json()["host"] == host, "the Host header must reach the backend unchanged"


@pytest.mark.parametrize("method,path,headers,want", [
    ("GET", "/p", [], V1),
    ("GET", "/p/other", [], V1),
    ("GET", "/p/longer", [], V2),       # longest prefix across routes
    ("GET", "/p/longer/x", [], V2),
    ("GET", "/p/exact", [], V3),        # exact over any prefix
    ("GET", "/p/exact/x", [], V1),
    ("PUT", "/p/x", [], V3),            # method match over none, same prefix
    ("GET", "/p/x", [("x-a", "1")], V2),  # header match over none
])
def test_precedence_across_routes(gw, method, path, headers, want):
    expect(gw, path, want, "prec.test", headers=headers, method=method)


def test_tie_same_timestamp_alphabetical(gw):
    expect(gw, "/tie", V1, "tie.test")


def test_tie_oldest_route_wins(gw):
    expect(gw, "/old", V3, "tie.test")


def test_404_when_nothing_matches_is_from_the_gateway(gw):
    r = gw.request("/nothing/here", host="nobody.test")
    assert r.status == 404
    assert r.header_all("content-type") != ["application/json"] or b'"pod"' not in r.body


def test_many_requests_on_one_connection_route_independently(gw):
    with gw.conn() as c:
        for host, path, want in [("paths.test", "/exact", V1), ("query.test", "/?animal=dolphin", V2),
                                 ("nobody.test", "/", None), ("prec.test", "/p/exact", V3),
                                 ("foo.wild.test", "/", V2)] * 3:
            r = c.request("GET", path, host=host)
            if want is None:
                assert r.status == 404
            else:
                assert r.status == 200 and backend_of(r) == want, (host, path, r)


# ------------------------------------------------------- listener isolation

def test_listener_isolation(gatehouse_run, tmp_path):
    """GatewayHTTPListenerIsolation: four listeners on one port; a request
    is handled by the most specific listener whose hostname matches, and
    only routes attached to that listener may serve it."""
    with running_stack(gatehouse_run, str(tmp_path)) as st:
        names = ["empty", "wildcard-example", "wildcard-foo", "abc-foo"]
        for n in names:
            st.backend(f"be-{n}")
        addr, port = st.pick_gateway_address()
        listeners = [listener("empty-hostname", port),
                     listener("wildcard-example-com", port, hostname="*.example.com"),
                     listener("wildcard-foo-example-com", port, hostname="*.foo.example.com"),
                     listener("abc-foo-example-com", port, hostname="abc.foo.example.com")]
        routes = []
        for n, lst in zip(names, listeners):
            routes.append(httproute(f"attached-to-{n}",
                                    parents=[{"name": "gw", "sectionName": lst["name"]}],
                                    rules=[rule([prefix(f"/{n}")], f"be-{n}")]))
        st.up(routes, listeners=listeners)
        cases = [
            ("bar.com", "empty", True), ("bar.com", "wildcard-example", False),
            ("bar.com", "wildcard-foo", False), ("bar.com", "abc-foo", False),
            ("bar.example.com", "wildcard-example", True), ("bar.example.com", "empty", False),
            ("bar.example.com", "wildcard-foo", False), ("bar.example.com", "abc-foo", False),
            ("bar.foo.example.com", "wildcard-foo", True),
            ("bar.foo.example.com", "wildcard-example", False),
            ("bar.foo.example.com", "empty", False), ("bar.foo.example.com", "abc-foo", False),
            ("abc.foo.example.com", "abc-foo", True), ("abc.foo.example.com", "wildcard-foo", False),
            ("abc.foo.example.com", "wildcard-example", False),
            ("abc.foo.example.com", "empty", False),
        ]
        for host, n, ok in cases:
            r = st.request(f"/{n}", host=host)
            if ok:
                assert r.status == 200 and backend_of(r) == f"be-{n}", (host, n, r)
            else:
                assert r.status == 404, f"{host}/{n}: listener isolation broken: {r!r}"
