# SPDX-License-Identifier: Apache-2.0
"""`gatehouse echo`, gRPC mode (ECHO.md 3): Echo and EchoTwo answer OK with
the assertions, EchoThree and unknown methods answer UNIMPLEMENTED, TLS on
HTTPS_PORT with TLS_SERVER_PRIV_KEY, server reflection."""
import grpc
import pytest

from echoclient import decode_echo_response, pb_encode_string, pb_fields, pem_to_der

SERVICE = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho"
OPTS = [("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0)]


def _call(channel, method, metadata=(), service=SERVICE, timeout=10):
    fn = channel.unary_unary(f"/{service}/{method}")  # raw bytes in and out
    resp, call = fn.with_call(b"", metadata=list(metadata), timeout=timeout)
    return decode_echo_response(resp), call


@pytest.fixture
def grpc_echo(echo):
    return echo("grpc")


@pytest.fixture
def channel(grpc_echo):
    ch = grpc.insecure_channel(f"{grpc_echo.addr}:{grpc_echo.http_port}", options=OPTS)
    yield ch
    ch.close()


@pytest.mark.parametrize("method", ["Echo", "EchoTwo"])
def test_echo_methods_ok_with_assertions(grpc_echo, channel, method):
    res, call = _call(channel, method)
    assert call.code() == grpc.StatusCode.OK
    assert res["fully_qualified_method"] == f"/{SERVICE}/{method}"
    assert res["authority"] == f"{grpc_echo.addr}:{grpc_echo.http_port}"
    ctx = res["context"]
    assert ctx is not None, "assertions.context missing"
    assert ctx["namespace"] == grpc_echo.env["NAMESPACE"]
    assert ctx["pod"] == grpc_echo.env["POD_NAME"]
    assert ctx["pod"].startswith("infra-backend-v1")
    assert ctx["service_name"] == grpc_echo.env["SERVICE_NAME"]
    assert ctx["ingress"] == grpc_echo.env["INGRESS_NAME"]
    assert res["tls"] is None, "tls_assertions only on the TLS port"


def test_authority_from_channel_option(grpc_echo):
    ch = grpc.insecure_channel(f"{grpc_echo.addr}:{grpc_echo.http_port}",
                               options=OPTS + [("grpc.default_authority", "example.com")])
    try:
        res, _ = _call(ch, "Echo")
    finally:
        ch.close()
    assert res["authority"] == "example.com"
    assert (":authority", "example.com") in res["headers"], res["headers"]


def test_headers_include_metadata_and_pseudo_headers(grpc_echo, channel):
    md = [("version", "one"), ("x-multi", "a"), ("x-multi", "b"), ("x-bin-bin", b"\x00\x01")]
    res, _ = _call(channel, "Echo", metadata=md)
    hdrs = res["headers"]
    keys = [k for k, _ in hdrs]
    assert ("version", "one") in hdrs, hdrs
    assert [v for k, v in hdrs if k == "x-multi"] == ["a", "b"], "one Header per value, in order"
    assert (":authority", f"{grpc_echo.addr}:{grpc_echo.http_port}") in hdrs, hdrs
    assert ":authority" in keys and "content-type" in keys, keys


def test_empty_context_when_identity_unset(echo):
    srv = echo("grpc", identity=False)
    ch = grpc.insecure_channel(f"{srv.addr}:{srv.http_port}", options=OPTS)
    try:
        res, call = _call(ch, "Echo")
    finally:
        ch.close()
    assert call.code() == grpc.StatusCode.OK
    ctx = res["context"] or {"namespace": "", "pod": "", "service_name": "", "ingress": ""}
    assert ctx == {"namespace": "", "pod": "", "service_name": "", "ingress": ""}


@pytest.mark.parametrize("method,service", [
    ("EchoThree", SERVICE),
    ("NoSuchMethod", SERVICE),
    ("Echo", "gateway_api_conformance.echo_basic.grpcecho.Other"),
    ("Echo", "grpcecho.GrpcEcho"),
])
def test_unimplemented(channel, method, service):
    with pytest.raises(grpc.RpcError) as ei:
        _call(channel, method, service=service)
    assert ei.value.code() == grpc.StatusCode.UNIMPLEMENTED, ei.value


def test_many_calls_on_one_channel(channel):
    for i in range(100):
        res, _ = _call(channel, "Echo" if i % 2 else "EchoTwo",
                       metadata=[("i", str(i))])
        assert ("i", str(i)) in res["headers"]


def test_concurrent_calls(channel):
    fn = channel.unary_unary(f"/{SERVICE}/Echo")
    futures = [fn.future(b"", metadata=[("n", str(i))], timeout=10) for i in range(50)]
    for i, f in enumerate(futures):
        res = decode_echo_response(f.result(timeout=15))
        assert ("n", str(i)) in res["headers"]


def _reflection_services(channel):
    req = pb_encode_string(7, "*")  # ServerReflectionRequest.list_services
    errors = []
    for svc in ("grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"):
        fn = channel.stream_stream(f"/{svc}/ServerReflectionInfo")
        try:
            resp = next(iter(fn(iter([req]), timeout=10)))
        except grpc.RpcError as exc:
            errors.append(f"{svc}: {exc.code()} {exc.details()}")
            continue
        names = []
        for f, v in pb_fields(resp):
            if f == 6:  # list_services_response
                for sf, sv in pb_fields(v):
                    if sf == 1:
                        names += [n.decode() for nf, n in pb_fields(sv) if nf == 1]
        return names
    raise AssertionError(f"no reflection service answered: {errors}")


def test_server_reflection_lists_the_service(channel):
    assert SERVICE in _reflection_services(channel)


# ------------------------------------------------------------------- TLS

@pytest.fixture
def grpc_tls_echo(echo):
    return echo("grpc", tls=True)


def _secure_channel(srv, tls_files, name="grpc.example.com", cert=False):
    with open(tls_files.ca, "rb") as f:
        root = f.read()
    creds = grpc.ssl_channel_credentials(root_certificates=root)
    return grpc.secure_channel(f"{srv.addr}:{srv.https_port}", creds,
                               options=OPTS + [("grpc.ssl_target_name_override", name)])


def test_tls_port_echo_with_tls_assertions(grpc_tls_echo, tls_files):
    ch = _secure_channel(grpc_tls_echo, tls_files)
    try:
        res, call = _call(ch, "Echo")
    finally:
        ch.close()
    assert call.code() == grpc.StatusCode.OK
    assert res["fully_qualified_method"] == f"/{SERVICE}/Echo"
    t = res["tls"]
    assert t is not None, "tls_assertions must be present on the TLS port"
    assert t["server_name"] == "grpc.example.com"
    assert t["negotiated_protocol"] == "h2"
    assert t["version"] in ("TLSv1.3", "TLSv1.2"), t
    assert t["cipher_suite"].startswith("TLS_"), t
    assert res["context"]["pod"] == grpc_tls_echo.env["POD_NAME"]


def test_tls_port_serves_configured_certificate(grpc_tls_echo, tls_files):
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=tls_files.ca)
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection((grpc_tls_echo.addr, grpc_tls_echo.https_port), timeout=10) as r:
        with ctx.wrap_socket(r, server_hostname=tls_files.server_name) as s:
            assert s.selected_alpn_protocol() == "h2"
            der = s.getpeercert(binary_form=True)
    assert der == pem_to_der(tls_files.pem(tls_files.server_cert))


def test_plaintext_port_still_serves_with_tls_enabled(grpc_tls_echo):
    ch = grpc.insecure_channel(f"{grpc_tls_echo.addr}:{grpc_tls_echo.http_port}", options=OPTS)
    try:
        res, _ = _call(ch, "EchoTwo")
    finally:
        ch.close()
    assert res["fully_qualified_method"] == f"/{SERVICE}/EchoTwo"
    assert res["tls"] is None


def test_tls_port_unimplemented(grpc_tls_echo, tls_files):
    ch = _secure_channel(grpc_tls_echo, tls_files)
    try:
        with pytest.raises(grpc.RpcError) as ei:
            _call(ch, "EchoThree")
    finally:
        ch.close()
    assert ei.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_unknown_request_fields_are_ignored(channel):
    fn = channel.unary_unary(f"/{SERVICE}/Echo")
    resp = fn(b"\x0a\x03abc\x10\x07", timeout=10)  # unknown fields 1 and 2
    assert decode_echo_response(resp)["fully_qualified_method"] == f"/{SERVICE}/Echo"
