# SPDX-License-Identifier: Apache-2.0
"""`gatehouse echo`, HTTP mode on HTTPS_PORT (ECHO.md 2 and the `tls`
object of 2.2): ALPN h2 and http/1.1, version, SNI, cipher suite names,
client certificates with and without TLS_CLIENT_CACERTS."""
import socket
import ssl
import subprocess

import pytest

from echoclient import H1, H2Client, get, pem_to_der, tls_client

IANA_TLS12 = {
    "ECDHE-RSA-AES128-GCM-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-RSA-CHACHA20-POLY1305": "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}
TLS13_SUITES = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                "TLS_CHACHA20_POLY1305_SHA256"}


def _https(srv, tls_files, path="/", sni=None, **ctxkw):
    sni = tls_files.server_name if sni is None else sni
    ctx = tls_client(ca=tls_files.ca, **ctxkw)
    with H1(srv.addr, srv.https_port, tls=ctx, sni=sni or None) as c:
        r = c.request("GET", path, host=sni or "example.com")
        return r, c.sock.version(), c.sock.cipher()[0], c.sock.selected_alpn_protocol()


def test_https_http11_fields(http_echo, tls_files):
    r, version, cipher, alpn = _https(http_echo, tls_files, "/tls?x=1", alpn=["http/1.1"])
    assert alpn == "http/1.1"
    j = r.json()
    assert j["proto"] == "HTTP/1.1"
    assert j["path"] == "/tls?x=1"
    assert j["host"] == tls_files.server_name
    assert j["httpPort"] == str(http_echo.http_port), "httpPort is HTTP_PORT even over HTTPS"
    t = j["tls"]
    assert t["negotiatedProtocol"] == "http/1.1"
    assert t["serverName"] == tls_files.server_name
    assert t["version"] == version
    assert t["cipherSuite"] == cipher
    assert "peerCertificates" not in t, "no client certificate was presented"


def test_https_h2_fields(http_echo, tls_files):
    ctx = tls_client(ca=tls_files.ca, alpn=["h2", "http/1.1"])
    c = H2Client.connect(http_echo.addr, http_echo.https_port, tls=ctx, sni="h2.example.com")
    try:
        r = c.request(path="/tls-h2?q", authority="h2.example.com:8443", scheme="https")
        j = r.json()
        assert j["proto"] == "HTTP/2.0"
        assert j["host"] == "h2.example.com:8443"
        assert j["path"] == "/tls-h2?q"
        t = j["tls"]
        assert t["negotiatedProtocol"] == "h2"
        assert t["serverName"] == "h2.example.com"
        assert t["version"] == "TLSv1.3"
        assert t["cipherSuite"] in TLS13_SUITES
        assert t["cipherSuite"] == c.sock.cipher()[0]
        assert r.header_all("content-type") == ["application/json"]
        assert c.request(path="/health", scheme="https").body == b"OK"
    finally:
        c.close()


def test_https_without_alpn_is_http11_and_omits_negotiated_protocol(http_echo, tls_files):
    r, _, _, alpn = _https(http_echo, tls_files, "/no-alpn")
    assert alpn is None
    j = r.json()
    assert j["proto"] == "HTTP/1.1"
    assert "negotiatedProtocol" not in j["tls"], j["tls"]


@pytest.mark.parametrize("maxv,name", [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                                       (ssl.TLSVersion.TLSv1_3, "TLSv1.3")])
def test_https_version_names(http_echo, tls_files, maxv, name):
    r, version, _, _ = _https(http_echo, tls_files, "/v", max_version=maxv)
    assert version == name
    assert r.json()["tls"]["version"] == name


@pytest.mark.parametrize("openssl_name", sorted(IANA_TLS12))
def test_https_cipher_suite_iana_name_tls12(http_echo, tls_files, openssl_name):
    r, version, cipher, _ = _https(http_echo, tls_files, "/c", max_version=ssl.TLSVersion.TLSv1_2,
                                   ciphers=openssl_name)
    assert version == "TLSv1.2" and cipher == openssl_name
    assert r.json()["tls"]["cipherSuite"] == IANA_TLS12[openssl_name]


def test_https_cipher_suite_iana_name_tls13(http_echo, tls_files):
    r, version, cipher, _ = _https(http_echo, tls_files, "/c13")
    assert version == "TLSv1.3"
    assert cipher in TLS13_SUITES
    assert r.json()["tls"]["cipherSuite"] == cipher


@pytest.mark.parametrize("sni", ["abc.example.com", "other.example.com", "echo.example.com"])
def test_https_server_name_is_sni(http_echo, tls_files, sni):
    r, _, _, _ = _https(http_echo, tls_files, "/sni", sni=sni)
    assert r.json()["tls"]["serverName"] == sni


def test_https_without_sni_reports_empty_server_name(http_echo, tls_files):
    ctx = tls_client(ca=tls_files.ca, verify=False)
    with H1(http_echo.addr, http_echo.https_port, tls=ctx, sni=None) as c:
        j = c.request("GET", "/nosni", host="example.com").json()
    assert "serverName" in j["tls"] and j["tls"]["serverName"] == ""


def test_https_serves_the_configured_certificate(http_echo, tls_files):
    ctx = tls_client(ca=tls_files.ca)
    with socket.create_connection((http_echo.addr, http_echo.https_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=tls_files.server_name) as s:
            der = s.getpeercert(binary_form=True)
    assert der == pem_to_der(tls_files.pem(tls_files.server_cert))


def test_https_keep_alive_and_endpoints(http_echo, tls_files):
    ctx = tls_client(ca=tls_files.ca)
    with H1(http_echo.addr, http_echo.https_port, tls=ctx, sni=tls_files.server_name) as c:
        for i in range(50):
            assert c.request("GET", f"/k{i}").json()["path"] == f"/k{i}"
        assert c.request("GET", "/health").body == b"OK"
        assert c.request("GET", "/status/418").status == 418
        r = c.request("POST", "/b", body=b"z" * 70000)
        assert r.json()["headers"]["Content-Length"] == ["70000"]


def test_https_request_log(http_echo, tls_files):
    ctx = tls_client(ca=tls_files.ca)
    with H1(http_echo.addr, http_echo.https_port, tls=ctx, sni=tls_files.server_name) as c:
        assert c.request("GET", "/tls-log?id=9").status == 200
        ip, port = c.local()
    http_echo.wait_log(f"Echoing back request made to /tls-log?id=9 to client ({ip}:{port})")


def test_no_https_listener_without_certificate(echo):
    srv = echo("http", tls=False)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((srv.addr, srv.https_port), timeout=5).close()


def test_no_peer_certificates_without_client_ca(http_echo, tls_files):
    r, _, _, _ = _https(http_echo, tls_files, "/cc", cert=tls_files.client_cert,
                        key=tls_files.client_key)
    assert r.status == 200
    assert "peerCertificates" not in r.json()["tls"]


# ------------------------------------------------------ client certificates

@pytest.fixture
def mtls_echo(echo):
    return echo("http", tls=True, client_ca=True)


@pytest.mark.parametrize("maxv", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3],
                         ids=["TLSv1.2", "TLSv1.3"])
def test_client_cert_reported_as_pem(mtls_echo, tls_files, maxv):
    r, _, _, _ = _https(mtls_echo, tls_files, "/mtls", cert=tls_files.client_cert,
                        key=tls_files.client_key, max_version=maxv)
    assert r.status == 200
    _check_peers(r.json()["tls"].get("peerCertificates"), tls_files)


def _check_peers(peers, tls_files):
    """Leaf first. OpenSSL clients append the CA from their trust store to
    the Certificate message (auto chain), so the CA may follow the leaf."""
    assert isinstance(peers, list) and peers, peers
    for p in peers:
        assert p.lstrip().startswith("-----BEGIN CERTIFICATE-----"), p[:80]
        assert p.rstrip().endswith("-----END CERTIFICATE-----"), p[-80:]
    assert pem_to_der(peers[0]) == pem_to_der(tls_files.pem(tls_files.client_cert))
    ca = pem_to_der(tls_files.pem(tls_files.ca))
    assert all(pem_to_der(p) == ca for p in peers[1:]), "only leaf and CA were sent"


def test_client_cert_over_h2(mtls_echo, tls_files):
    ctx = tls_client(ca=tls_files.ca, alpn=["h2"], cert=tls_files.client_cert,
                     key=tls_files.client_key)
    c = H2Client.connect(mtls_echo.addr, mtls_echo.https_port, tls=ctx,
                         sni=tls_files.server_name)
    try:
        j = c.request(path="/mtls-h2", scheme="https").json()
        _check_peers(j["tls"].get("peerCertificates"), tls_files)
    finally:
        c.close()


def test_no_client_cert_still_accepted(mtls_echo, tls_files):
    r, _, _, _ = _https(mtls_echo, tls_files, "/anon")
    assert r.status == 200
    assert "peerCertificates" not in r.json()["tls"]


def test_server_requests_client_certificate(mtls_echo, tls_files):
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"{mtls_echo.addr}:{mtls_echo.https_port}",
         "-servername", tls_files.server_name, "-CAfile", tls_files.ca, "-msg"],
        input=b"", capture_output=True, timeout=20)
    text = out.stdout.decode("latin-1", "replace")
    assert "CertificateRequest" in text, text[-3000:]


def test_server_does_not_request_client_certificate_without_ca(http_echo, tls_files):
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"{http_echo.addr}:{http_echo.https_port}",
         "-servername", tls_files.server_name, "-CAfile", tls_files.ca, "-msg"],
        input=b"", capture_output=True, timeout=20)
    text = out.stdout.decode("latin-1", "replace")
    assert "ServerHello" in text, text[-3000:]
    assert "CertificateRequest" not in text


@pytest.mark.parametrize("maxv", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3],
                         ids=["TLSv1.2", "TLSv1.3"])
def test_untrusted_client_cert_rejected(mtls_echo, tls_files, maxv):
    ctx = tls_client(ca=tls_files.ca, cert=tls_files.rogue_cert, key=tls_files.rogue_key,
                     max_version=maxv)
    with pytest.raises((ssl.SSLError, ConnectionResetError, EOFError, BrokenPipeError)):
        with H1(mtls_echo.addr, mtls_echo.https_port, tls=ctx, sni=tls_files.server_name) as c:
            c.request("GET", "/should-not-echo")
    # the server keeps serving
    r, _, _, _ = _https(mtls_echo, tls_files, "/after-reject")
    assert r.status == 200
    assert not [ln for ln in mtls_echo.lines if "/should-not-echo" in ln]


def test_cleartext_port_still_works_with_tls_enabled(mtls_echo):
    r = get(mtls_echo.addr, mtls_echo.http_port, "/plain")
    assert r.status == 200 and "tls" not in r.json()


def test_plain_http_on_https_port_does_not_echo(http_echo):
    s = socket.create_connection((http_echo.addr, http_echo.https_port), timeout=5)
    try:
        s.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        data = b""
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                data += d
        except (ConnectionResetError, socket.timeout):
            pass
        assert b'"path"' not in data
    finally:
        s.close()
    assert get(http_echo.addr, http_echo.http_port, "/still-up").status == 200
