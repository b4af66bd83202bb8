# SPDX-License-Identifier: Apache-2.0
"""The traffic judges (gwconf/tjudge.py) and the pure parts of the traffic
clients, on hand-made responses: no binary, no sockets."""
import json

from gwconf import tjudge as T
from gwconf import traffic as TR
from gwconf.traffic import consistent

NS = "gateway-conformance-infra"


def echo(path="/", ns=NS, pod="infra-backend-v1-abcde12345-xyz12", method="GET",
         host="example.com", headers=None, **extra):
    body = dict(path=path, host=host, method=method, proto="HTTP/1.1", namespace=ns, pod=pod,
                headers=headers or {}, httpPort="3000", **extra)
    return T.Seen(200, [("Content-Type", "application/json")], json.dumps(body).encode())


def ok(v):
    assert v.ok, v.msg
    return v


def bad(v, *words):
    assert not v.ok
    for w in words:
        assert w in v.msg, v.msg
    return v


def test_status_and_timeout_equivalence():
    assert T.status_ok(504, [408]) and T.status_ok(408, [504])
    assert not T.status_ok(500, [408])
    assert T.status_list({"status": [200, 404]}) == [200, 404]
    bad(T.judge_http({"path": "/"}, {"status": 404}, T.Seen(200, []), "/"), "status 200")
    ok(T.judge_http({"path": "/"}, {"status": 500}, T.Seen(500, []), "/"))


def test_backend_identity_and_default_request():
    req = {"path": "/v2?x=1", "host": "example.com", "headers": {"Version": "one"}}
    exp = {"backend": f"{NS}/infra-backend-v1"}
    good = echo("/v2?x=1", headers={"Version": ["one"]})
    ok(T.judge_http(req, exp, good, "/v2?x=1"))
    bad(T.judge_http(req, {"backend": f"{NS}/infra-backend-v2"}, good, "/v2?x=1"),
        "infra-backend-v2")
    bad(T.judge_http(req, {"backend": "other/infra-backend-v1"}, good, "/v2?x=1"), "namespace")
    bad(T.judge_http(req, exp, echo("/v2", headers={"Version": ["one"]}), "/v2?x=1"), "path")
    bad(T.judge_http(req, exp, echo("/v2?x=1", host="a.com", headers={"Version": ["one"]}),
                     "/v2?x=1"), "host")
    bad(T.judge_http(req, exp, echo("/v2?x=1"), "/v2?x=1"), "lacks header Version")
    # ns/* accepts any pod of the namespace
    ok(T.judge_http(req, {"backend": f"{NS}/*"}, echo("/v2?x=1", pod="x-y-z",
                                                       headers={"Version": ["one"]}), "/v2?x=1"))
    # a 200 expectation without a backend fails on an echo reply (namespace mismatch)
    bad(T.judge_http({"path": "/"}, {}, echo("/"), "/"), "namespace")


def test_backend_request_explicit_keys_and_method_default():
    req = {"path": "/prefix/one", "method": "POST"}
    exp = {"backend": f"{NS}/infra-backend-v1", "backend_request": {"path": "/one"}}
    # backend_request given: method defaults to GET, not to the request method
    ok(T.judge_http(req, exp, echo("/one", method="GET"), "/prefix/one"))
    bad(T.judge_http(req, exp, echo("/one", method="POST"), "/prefix/one"), "method")
    exp2 = {"backend": f"{NS}/infra-backend-v1",
            "backend_request": {"path": "/one", "headers": {"X-Add": "a,b"},
                                "absent_headers": ["X-Remove"]}}
    ok(T.judge_http(req, exp2, echo("/one", headers={"x-add": ["a", "b"]}), "/prefix/one"))
    bad(T.judge_http(req, exp2, echo("/one", headers={"X-Add": ["a,b"], "X-Remove": ["v"]}),
                     "/prefix/one"), "X-Remove")


def test_decorated_expected_path():
    req = {"path": "/retry", "query": {"succeedAfter": "2"}, "query_fresh_uuid": "uuid"}
    sent = "/retry?succeedAfter=2&uuid=123"
    assert T.expected_backend_request(req, {}, sent)["path"] == sent
    req2 = {"path": "/mirror", "request_id": True}
    sent2 = f"/mirror?{T.REQUEST_ID_PARAM}=abc"
    br = T.expected_backend_request(req2, {"backend_request": {"path": "/m?x=1"}}, sent2)
    assert br["path"] == f"/m?x=1&{T.REQUEST_ID_PARAM}=abc"
    assert T.with_query("/a", {"b": "2", "a": "1"}) == "/a?a=1&b=2"


def test_non_json_and_answered_by_gateway():
    plain = T.Seen(200, [("Content-Type", "text/plain")], b"hi",)
    bad(T.judge_http({"path": "/"}, {"backend": f"{NS}/infra-backend-v1"}, plain, "/"),
        "non-echo")
    # Content-Type must be exactly application/json for the body to count
    almost = T.Seen(200, [("Content-Type", "application/json; charset=utf-8")],
                    json.dumps({"namespace": NS, "pod": "infra-backend-v1-a-b"}).encode())
    bad(T.judge_http({"path": "/"}, {"backend": f"{NS}/infra-backend-v1"}, almost, "/"))
    exp = {"status": [200, 204], "answered_by_gateway": True,
           "response_headers": {"Access-Control-Allow-Origin": "*"}}
    pre = T.Seen(204, [("Access-Control-Allow-Origin", "*")])
    ok(T.judge_http({"path": "/", "method": "OPTIONS"}, exp, pre, "/"))
    bad(T.judge_http({"path": "/", "method": "OPTIONS"}, exp, echo("/", method="OPTIONS"),
                     "/"), "gateway itself")


def test_response_headers():
    s = T.Seen(200, [("X-A", "1"), ("X-A", "2"), ("X-B", "a, b")])
    ok(T.judge_response_headers({"response_headers": {"x-a": "1,2"}}, s))
    bad(T.judge_response_headers({"response_headers": {"X-B": "a,b"}}, s), "X-B")
    ok(T.judge_response_headers({"response_headers": {"X-B": "a,b"}, "ignore_whitespace": True},
                                s))
    ok(T.judge_response_headers({"response_headers_one_of": {"X-B": ["x", "a, b"]}}, s))
    bad(T.judge_response_headers({"absent_response_headers": ["X-A"]}, s), "absent")
    bad(T.judge_response_headers({"response_headers": {"X-C": "v"}}, s), "lacks")


def test_redirects():
    def loc(v, status=302):
        return T.Seen(status, [("Location", v)])
    req = {"path": "/foo?x=1"}
    ok(T.judge_http(req, {"status": 302, "redirect": {"host": "example.org"}},
                    loc("http://example.org/foo"), "/foo?x=1"))
    ok(T.judge_http(req, {"status": 302, "redirect": {"host": "example.org"}},
                    loc("http://example.org:80/foo"), "/foo?x=1"))
    bad(T.judge_http(req, {"status": 302, "redirect": {"host": "example.org"}},
                     loc("http://example.org:8080/foo"), "/foo?x=1"), "port")
    ok(T.judge_http(req, {"status": 301, "redirect": {"scheme": "https", "port": ""}},
                    loc("https://x/foo", 301), "/foo?x=1"))
    bad(T.judge_http(req, {"status": 301, "redirect": {"scheme": "https"}},
                     loc("http://x/foo", 301), "/foo?x=1"), "scheme")
    ok(T.judge_http(req, {"status": 302, "redirect": {"scheme": "https", "port": "8443",
                                                      "path": "/bar"}},
                    loc("https://x:8443/bar"), "/foo?x=1"))
    bad(T.judge_http(req, {"status": 302, "redirect": {"path": "/bar"}},
                     loc("http://x/baz"), "/foo?x=1"), "path")
    bad(T.judge_http(req, {"status": 302, "redirect": {}}, T.Seen(302, []), "/"), "Location")


def test_client_cert_requested_and_protocol():
    s = echo("/")
    s.cert_requested = False
    bad(T.judge_http({"path": "/"}, {"backend": f"{NS}/infra-backend-v1",
                                      "client_cert_requested": True}, s, "/"), "client cert")
    s.cert_requested = True
    ok(T.judge_http({"path": "/"}, {"backend": f"{NS}/infra-backend-v1",
                                     "client_cert_requested": True}, s, "/"))
    bad(T.judge_http({"path": "/"}, {"backend": f"{NS}/infra-backend-v1",
                                      "protocol": "HTTP/2.0"}, s, "/"), "protocol")


def test_backend_tls_sni_and_http_port():
    s = echo("/", tls={"serverName": "abc.example.com"})
    exp = {"backend": f"{NS}/infra-backend-v1",
           "backend_request": {"path": "/", "sni": "abc.example.com", "http_port": "3000"}}
    ok(T.judge_http({"path": "/"}, exp, s, "/"))
    exp["backend_request"]["sni"] = "other"
    bad(T.judge_http({"path": "/"}, exp, s, "/"), "SNI")


def test_not_ok_and_repeat():
    assert T.judge_not_ok_status(200) == "fatal"
    assert T.judge_not_ok_status(504) == "reset"
    assert T.judge_not_ok_status(404) == "count"
    s = echo("/", pod="infra-backend-v2-aaa-bbb", headers={"Backend": ["infra-backend-v2"]})
    ok(T.judge_repeat_each({"backend_header_names_pod": "backend"}, s))
    bad(T.judge_repeat_each({"backend_header_names_pod": "Backend"},
                            echo("/", headers={"Backend": ["infra-backend-v2"]})), "start")


def test_grpc_judge_and_decoder():
    fqm = f"/{T.GRPC_SERVICE}/Echo"
    reply = {"fully_qualified_method": fqm,
             "context": {"namespace": NS, "pod": "grpc-infra-backend-v1-a-b"}}
    exp = {"code": "OK", "backend": f"{NS}/grpc-infra-backend-v1"}
    ok(T.judge_grpc("Echo", exp, "OK", reply))
    bad(T.judge_grpc("EchoTwo", exp, "OK", reply), "fully_qualified_method")
    bad(T.judge_grpc("Echo", {"code": "OK", "backend": f"{NS}/grpc-infra-backend-v2"}, "OK",
                     reply), "pod")
    ok(T.judge_grpc("EchoThree", {"code": "UNIMPLEMENTED"}, "UNIMPLEMENTED", None))
    bad(T.judge_grpc("Echo", exp, "UNAVAILABLE", None), "UNAVAILABLE")

    def s(field, b):
        b = b.encode() if isinstance(b, str) else b
        n, ln = len(b), bytearray()
        while n >= 0x80:
            ln.append((n & 0x7F) | 0x80)
            n >>= 7
        ln.append(n)
        return bytes([(field << 3) | 2]) + bytes(ln) + b
    ctx = s(1, NS) + s(4, "grpc-infra-backend-v1-a-b")
    msg = s(1, s(1, fqm) + s(3, "example.com") + s(4, ctx))
    got = TR.decode_echo_response(msg)
    assert got["fully_qualified_method"] == fqm and got["authority"] == "example.com"
    assert got["context"] == {"namespace": NS, "pod": "grpc-infra-backend-v1-a-b"}


def test_tcp_exchange_judge():
    info = json.dumps({"namespace": NS, "pod": "tcp-backend-abc-xyz",
                       "tls": {"serverName": "abc.example.com"}})
    exp = {"backend": f"{NS}/tcp-backend", "backend_is_tls": True, "sni_seen": "abc.example.com"}
    ok(T.judge_tcp_exchange(exp, T.TCP_WELCOME, "PONG", "true", info))
    bad(T.judge_tcp_exchange(exp, "hello", "PONG", "true", info), "welcome")
    bad(T.judge_tcp_exchange(exp, T.TCP_WELCOME, "PONG", "false", info), "IS_TLS")
    bad(T.judge_tcp_exchange(dict(exp, sni_seen="x"), T.TCP_WELCOME, "PONG", "true", info), "SNI")
    # pod must start with "<service>-"
    bad(T.judge_tcp_identity({"backend": f"{NS}/tcp-backend-v1"}, info), "pod")


def test_udp_and_dns():
    data = json.dumps({"service": "udp-backend-v1", "namespace": NS, "pod": "p-a-b"}).encode()
    ok(T.judge_udp_reply({"service": "udp-backend-v1", "namespace": NS}, data))
    bad(T.judge_udp_reply({"service": "udp-backend-v2"}, data), "service")
    ok(T.judge_udp_reply({"any_reply": True}, b"garbage"))
    q = T.dns_query_bytes(0x1234, "foo.bar.com.")
    assert q[:2] == b"\x12\x34" and b"\x03foo\x03bar\x03com\x00" in q
    ok(T.dns_reply_ok(0x1234, b"\x12\x34\x81\x80" + b"\x00" * 8))
    bad(T.dns_reply_ok(0x1234, b"\x12\x35\x81\x80" + b"\x00" * 8), "id")
    bad(T.dns_reply_ok(0x1234, b"\x12\x34\x01\x00" + b"\x00" * 8), "QR")


def test_weights():
    exp = {"v1": 0.7, "v2": 0.3, "v3": 0.0}
    ok(T.judge_shares(exp, {"v1": 352, "v2": 148}, 0.05))
    bad(T.judge_shares(exp, {"v1": 400, "v2": 100}, 0.05), "share")
    bad(T.judge_shares(exp, {"v1": 350, "v2": 140, "v3": 10}, 0.05), "backends got traffic")
    bad(T.judge_shares(exp, {"v1": 350, "v2": 140, "other": 10}, 0.05), "unexpected")
    bad(T.judge_shares(exp, {"v1": 350}, 0.05, errors=["boom"]), "failed")
    assert T.backend_of_pod("infra-backend-v1-7d9f5c-x2kq8") == "infra-backend-v1"


def test_mirror_bounds():
    lo, hi = T.mirror_bounds(500, 0.2, 3)
    assert round(lo) == 73 and round(hi) == 127
    ok(T.judge_mirror_count(500, 0.2, 3, 100))
    bad(T.judge_mirror_count(500, 0.2, 3, 150), "mirror got 150")


def test_websocket_frames_roundtrip():
    frame = TR._ws_frame(0x1, b"hello")
    assert frame[0] == 0x81 and frame[1] == 0x80 | 5
    mask, payload = frame[2:6], frame[6:]
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) == b"hello"
    ok(T.judge_ws_message({"expect_binary": [1, 2]}, "text", b"\x01\x02"))
    bad(T.judge_ws_message({"expect_text": "a"}, "text", b"b"), "expected")


def test_consistency_loop(monkeypatch):
    monkeypatch.setattr(TR.time, "sleep", lambda s: None)
    seq = iter([False, True, True, False, True, True, True])
    calls = []

    def attempt():
        calls.append(1)
        return T.PASS if next(seq) else T.fail("nope")
    ok(consistent(attempt, limit=30))
    assert len(calls) == 7
    clock = [0.0]
    monkeypatch.setattr(TR.time, "monotonic", lambda: clock[0])

    def always_bad():
        clock[0] += 11
        return T.fail("still bad")
    bad(consistent(always_bad, limit=30), "still bad", "3 passes in a row")
