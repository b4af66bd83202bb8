# SPDX-License-Identifier: Apache-2.0
"""CompressionPolicy (gatehouse.dev/v1alpha1, docs/policies.md): responses
coded with gzip, br or zstd by the request's Accept-Encoding (qvalues,
identity, "*") and the policy's order; small bodies, other types, ranges,
already-coded responses, HEAD, 204/304 and no-transform go as they are;
Vary merged, ETag made weak, Content-Length dropped (chunks on HTTP/1.1,
DATA on HTTP/2); a long body streamed as it comes; a request body with
Content-Encoding (a gzip bomb) forwarded untouched; statuses; `gatehouse
check` positions. The origin is a small server the test runs."""
import gzip
import hashlib
import http.server
import socket
import subprocess
import threading
import time
import zlib

import brotli
import pytest
import zstandard

from echoclient import H1, H2Client
from gateway import (NS, backend, endpointslice_obj, free_port, gatehouse_run,  # noqa: F401
                     httproute, prefix, service_obj, stack)

GROUP = "gateway.networking.k8s.io"
TEXT = b"".join(b"line %d of a text that compresses well, again and again\n" % i
                for i in range(400))


class Origin:
    """/text (Content-Length, ETag, Vary), /chunked (chunked JSON), /png,
    /small, /coded (already gzip), /nt (no-transform), /204, /304, /stream
    (a chunk, then waits for `go`, then the rest), POST /upload (answers
    the digest and size of the raw body and its Content-Encoding); any
    request with Range gets a 206."""

    def __init__(self):
        self.port = free_port()
        self.go = threading.Event()
        self.stream_done = threading.Event()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, status, ctype, body, extra=()):
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for k, v in extra:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _chunked(self, ctype, parts, wait=None):
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i, p in enumerate(parts):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
                    self.wfile.flush()
                    if wait and i == 0:
                        wait.wait(10)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def do_GET(self):
                p = self.path.split("?")[0]
                if self.headers.get("Range"):
                    self._send(206, "text/plain", TEXT[:100],
                               [("Content-Range", f"bytes 0-99/{len(TEXT)}")])
                elif p == "/text":
                    self._send(200, "text/plain; charset=utf-8", TEXT,
                               [("ETag", '"v1"'), ("Vary", "Origin")])
                elif p == "/vary2":
                    self._send(200, "text/css", TEXT, [("Vary", "Origin"), ("Vary", "Cookie")])
                elif p == "/weak":
                    self._send(200, "text/html", TEXT, [("ETag", 'W/"v2"'),
                                                         ("Vary", "Accept-Encoding")])
                elif p == "/chunked":
                    self._chunked("application/json", [TEXT[:5000], TEXT[5000:]])
                elif p == "/png":
                    self._send(200, "image/png", TEXT)
                elif p == "/small":
                    self._send(200, "text/plain", b"tiny")
                elif p == "/coded":
                    self._send(200, "text/plain", gzip.compress(TEXT),
                               [("Content-Encoding", "gzip")])
                elif p == "/nt":
                    self._send(200, "text/plain", TEXT, [("Cache-Control", "no-transform")])
                elif p == "/204":
                    self.send_response(204)
                    self.end_headers()
                elif p == "/304":
                    self.send_response(304)
                    self.send_header("ETag", '"v1"')
                    self.end_headers()
                elif p == "/stream":
                    self._chunked("text/plain", [TEXT, TEXT * 50], wait=outer.go)
                    outer.stream_done.set()
                else:
                    self._send(404, "text/plain", b"no")

            do_HEAD = do_GET

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                self._send(200, "text/plain", b"ok", [
                    ("X-Sha", hashlib.sha256(body).hexdigest()), ("X-Len", str(len(body))),
                    ("X-Enc", self.headers.get("Content-Encoding") or "-")])

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def objects(self, name="origin"):
        return [service_obj(name, [{"name": "http", "port": 8080, "targetPort": self.port}]),
                endpointslice_obj(name, ["127.0.0.1"], [{"name": "http", "port": self.port}])]

    def close(self):
        self.go.set()
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.close()


def policy(name, targets, encodings=None, types=None, min_size=None):
    spec = {"targetRefs": targets}
    if encodings is not None:
        spec["encodings"] = encodings
    if types is not None:
        spec["contentTypes"] = types
    if min_size is not None:
        spec["minSize"] = min_size
    return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "CompressionPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def target(kind, name, section=None):
    t = {"group": GROUP, "kind": kind, "name": name}
    if section:
        t["sectionName"] = section
    return t


def routes():
    return [httproute("r", [
        {"name": "plain", "matches": [prefix("/plain")], "backendRefs": [backend("origin", 8080)],
         "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {
             "type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}]},
        {"name": "main", "matches": [prefix("/")], "backendRefs": [backend("origin", 8080)]},
    ])]


def up(stack, origin, extra):
    stack.up(routes(), extra=origin.objects() + extra)


def get(st, path, ae=None, method="GET", headers=()):
    hs = list(headers)
    if ae is not None:
        hs.append(("Accept-Encoding", ae))
    with H1(st.addr, st.port, timeout=10) as c:
        return c.request(method, path, host="gw.test", headers=hs)


def decode(enc, body):
    if enc == "gzip":
        return gzip.decompress(body)
    if enc == "br":
        return brotli.decompress(body)
    if enc == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    return body


def ancestors(gw, name):
    for it in gw.status_json()["items"]:
        if it["kind"] == "CompressionPolicy" and it["metadata"]["name"] == name:
            return it["status"]["ancestors"]
    raise AssertionError(f"no status for CompressionPolicy {name}")


def reasons(anc):
    return sorted((a["ancestorRef"]["kind"], a["ancestorRef"]["name"],
                   [c["reason"] for c in a["conditions"] if c["type"] == "Accepted"][0])
                  for a in anc)


@pytest.mark.deadline(90)
def test_codings_by_accept_encoding(stack, origin):
    up(stack, origin, [policy("p", [target("HTTPRoute", "r", "main")])])
    cases = [
        ("gzip", "gzip"), ("br", "br"), ("zstd", "zstd"),
        ("gzip, deflate, br, zstd", "zstd"),             # the policy's order: zstd, br, gzip
        ("gzip;q=1, br;q=0.5, zstd;q=0.2", "gzip"),      # the client's weights first
        ("br;q=0, gzip;q=0.3, zstd;q=0", "gzip"),
        ("*", "zstd"), ("*;q=0.5, zstd;q=0", "br"),
        ("identity", None), ("gzip;q=0, br;q=0, zstd;q=0", None), ("deflate", None),
        ("gzip;q=0.5, identity", None),                  # identity weighs more
        ("", None), (None, None), ("gzip;q=2", None),
    ]
    for ae, want in cases:
        r = get(stack, "/text", ae)
        assert r.status == 200, (ae, r.status)
        assert r.header("Content-Encoding") == want, (ae, r.headers)
        assert decode(want, r.body) == TEXT, ae
        if want:
            assert r.header("Content-Length") is None and \
                r.header("Transfer-Encoding") == "chunked", r.headers
            assert r.header("ETag") == 'W/"v1"', r.headers
            assert r.header("Vary") == "Origin, Accept-Encoding", r.headers
            assert len(r.body) < len(TEXT) / 4
        else:
            assert r.header("Content-Length") == str(len(TEXT)), r.headers
            assert r.header("ETag") == '"v1"' and r.header("Vary") == "Origin", r.headers
    # a route the policy does not cover
    r = get(stack, "/plain/text", "gzip")
    assert r.header("Content-Encoding") is None and r.body == TEXT
    assert reasons(ancestors(stack.gw, "p")) == [("Gateway", "gw", "Accepted")]


@pytest.mark.deadline(90)
def test_what_is_left_alone(stack, origin):
    up(stack, origin, [policy("p", [target("Gateway", "gw")], encodings=[
        {"name": "gzip", "level": 6}, {"name": "br"}])])
    # chunked upstream body of a listed type; Vary already naming it; weak ETag kept
    r = get(stack, "/chunked", "gzip")
    assert r.header("Content-Encoding") == "gzip" and gzip.decompress(r.body) == TEXT
    r = get(stack, "/weak", "br")
    assert r.header("Content-Encoding") == "br" and brotli.decompress(r.body) == TEXT
    assert r.header("ETag") == 'W/"v2"' and r.header("Vary") == "Accept-Encoding", r.headers
    # two Vary lines become one, with Accept-Encoding added
    r = get(stack, "/vary2", "gzip")
    assert r.header_all("Vary") == ["Origin, Cookie, Accept-Encoding"], r.headers
    # an HTTP/1.0 client reads no chunks: its answer goes as it is
    s = socket.create_connection((stack.addr, stack.port), timeout=10)
    s.sendall(b"GET /text HTTP/1.0\r\nHost: gw.test\r\nAccept-Encoding: gzip\r\n\r\n")
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"content-encoding" not in head.lower() and body == TEXT, head
    # zstd is not offered by this policy
    assert get(stack, "/text", "zstd").header("Content-Encoding") is None
    for path, headers, status in [
            ("/png", (), 200),                       # type not listed
            ("/small", (), 200),                     # below minSize
            ("/coded", (), 200),                     # already coded
            ("/nt", (), 200),                        # Cache-Control: no-transform
            ("/text", [("Range", "bytes=0-99")], 206),
            ("/204", (), 204), ("/304", (), 304)]:
        r = get(stack, path, "gzip, br", headers=headers)
        assert r.status == status, (path, r.status)
        assert r.header("Content-Encoding") in (None, "gzip" if path == "/coded" else None), \
            (path, r.headers)
        if path == "/coded":
            assert gzip.decompress(r.body) == TEXT
    r = get(stack, "/text", "gzip", method="HEAD")
    assert r.status == 200 and r.header("Content-Encoding") is None, r.headers
    assert r.header("Content-Length") == str(len(TEXT))
    # a response of the gateway's own (404 of no route) is not the upstream's
    assert get(stack, "/nothing", "gzip").status == 404


@pytest.mark.deadline(90)
def test_streamed_progressively(stack, origin):
    up(stack, origin, [policy("p", [target("HTTPRoute", "r")], encodings=[{"name": "gzip"}])])
    s = socket.create_connection((stack.addr, stack.port), timeout=10)
    s.sendall(b"GET /stream HTTP/1.1\r\nHost: gw.test\r\nAccept-Encoding: gzip\r\n\r\n")
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    buf, out = b"", b""
    head = None
    # the first chunk arrives (decodable) while the origin still waits
    while len(out) < len(TEXT):
        data = s.recv(65536)
        assert data, "closed early"
        buf += data
        if head is None and b"\r\n\r\n" in buf:
            head, buf = buf.split(b"\r\n\r\n", 1)
            assert b"content-encoding: gzip" in head.lower(), head
        while head is not None:
            line, sep, rest = buf.partition(b"\r\n")
            if not sep:
                break
            n = int(line, 16)
            if len(rest) < n + 2:
                break
            out += d.decompress(rest[:n])
            buf = rest[n + 2:]
    assert out == TEXT and not origin.stream_done.is_set()
    origin.go.set()
    s.settimeout(10)
    while not buf.endswith(b"0\r\n\r\n"):
        data = s.recv(65536)
        assert data
        buf += data
    s.close()
    # the rest decodes too (chunk framing parsed again from a clean copy)
    r = get(stack, "/chunked", "gzip")
    assert gzip.decompress(r.body) == TEXT
    # the same over HTTP/2: DATA before the origin has finished
    origin.go.clear()
    origin.stream_done.clear()
    c = H2Client.connect(stack.addr, stack.port)
    try:
        sid = c.send(path="/stream", authority="gw.test", headers=[("accept-encoding", "gzip")])
        deadline = time.monotonic() + 10

        def decoded():  # what the DATA so far decodes to (each read flushed)
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(c.streams[sid]["data"])
        while len(decoded()) < len(TEXT):
            assert time.monotonic() < deadline, "no DATA before the origin finished"
            c.sock.settimeout(deadline - time.monotonic())
            data = c.sock.recv(65536)
            assert data
            c._events(c.conn.receive_data(data))
            c.flush()
        assert dict(c.streams[sid]["headers"])["content-encoding"] == "gzip"
        assert not origin.stream_done.is_set()
        origin.go.set()
        r = c.wait([sid])[0]
        assert gzip.decompress(r.body) == TEXT + TEXT * 50
    finally:
        c.close()


@pytest.mark.deadline(90)
def test_http2_clients(stack, origin):
    up(stack, origin, [policy("p", [target("Gateway", "gw", "http")])])
    c = H2Client.connect(stack.addr, stack.port)
    try:
        for ae, want in [("br", "br"), ("gzip", "gzip"), ("zstd, gzip", "zstd"), ("x", None)]:
            r = c.request(path="/text", authority="gw.test", headers=[("accept-encoding", ae)])
            assert r.status == 200
            assert r.header("content-encoding") == want, r.headers
            assert decode(want, r.body) == TEXT
            if want:
                assert r.header("content-length") is None, r.headers
                assert r.header("vary") == "Origin, Accept-Encoding"
        r = c.request(path="/chunked", authority="gw.test", headers=[("accept-encoding", "gzip")])
        assert gzip.decompress(r.body) == TEXT
        r = c.request(method="HEAD", path="/text", authority="gw.test",
                      headers=[("accept-encoding", "gzip")])
        assert r.header("content-encoding") is None
    finally:
        c.close()
    assert reasons(ancestors(stack.gw, "p")) == [("Gateway", "gw", "Accepted")]


def rss_kb(pid):
    total = 0
    for p in [pid] + [int(x) for x in open(f"/proc/{pid}/task/{pid}/children").read().split()]:
        for line in open(f"/proc/{p}/status"):
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


@pytest.mark.deadline(90)
def test_request_body_bomb_passes_untouched(stack, origin):
    up(stack, origin, [policy("p", [target("HTTPRoute", "r")])])
    bomb = gzip.compress(b"\0" * (10 * 1024 * 1024), 9)
    assert len(bomb) < 64 * 1024
    before = rss_kb(stack.gw.proc.pid)
    t = time.monotonic()
    for _ in range(5):
        with H1(stack.addr, stack.port, timeout=10) as c:
            r = c.request("POST", "/upload", host="gw.test", body=bomb,
                          headers=[("Content-Encoding", "gzip"), ("Content-Type", "text/plain")])
        assert r.status == 200
        assert r.header("X-Len") == str(len(bomb)) and r.header("X-Enc") == "gzip"
        assert r.header("X-Sha") == hashlib.sha256(bomb).hexdigest()
    assert time.monotonic() - t < 5
    assert rss_kb(stack.gw.proc.pid) - before < 8 * 1024


@pytest.mark.deadline(90)
def test_precedence_and_statuses(stack, origin):
    up(stack, origin, [
        policy("gw", [target("Gateway", "gw")], encodings=[{"name": "br"}]),
        policy("rule", [target("HTTPRoute", "r", "plain")], encodings=[{"name": "gzip"}],
               types=["text/*"], min_size=10),
        policy("lost", [target("HTTPRoute", "nope"), target("Gateway", "gw", "nope")]),
    ])
    assert get(stack, "/text", "gzip, br").header("Content-Encoding") == "br"
    assert get(stack, "/plain/text", "gzip, br").header("Content-Encoding") == "gzip"
    # the rule's policy lists text/* only: JSON stays plain there
    assert get(stack, "/plain/chunked", "gzip, br").header("Content-Encoding") is None
    assert get(stack, "/chunked", "gzip, br").header("Content-Encoding") == "br"
    assert reasons(ancestors(stack.gw, "gw")) == [("Gateway", "gw", "Accepted")]
    assert reasons(ancestors(stack.gw, "rule")) == [("Gateway", "gw", "Accepted")]
    assert reasons(ancestors(stack.gw, "lost")) == [("Gateway", "gw", "TargetNotFound"),
                                                     ("HTTPRoute", "nope", "TargetNotFound")]


def test_check_reports_positions(gatehouse_run, tmp_path):
    (tmp_path / "p.yaml").write_text(
        "apiVersion: gatehouse.dev/v1alpha1\nkind: CompressionPolicy\n"
        "metadata: {name: bad, namespace: default}\nspec:\n"
        "  targetRefs: [{group: gateway.networking.k8s.io, kind: Service, name: s}]\n"
        "  encodings:\n  - name: gzip\n    level: 12\n  - name: deflate\n"
        "  contentTypes: [text, 'application/json']\n  minSize: -1\n")
    p = subprocess.run([gatehouse_run, "check", "-f", str(tmp_path)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1
    out = p.stdout
    assert "p.yaml:5:15: CompressionPolicy default/bad: spec.targetRefs: Invalid value" in out, out
    assert "p.yaml:8:12: CompressionPolicy default/bad: spec.encodings[0].level" in out, out
    assert "p.yaml:9:11: CompressionPolicy default/bad: spec.encodings[1].name: Unsupported " \
        "value" in out, out
    assert "p.yaml:10:18: CompressionPolicy default/bad: spec.contentTypes[0]" in out, out
    assert "p.yaml:11:12: CompressionPolicy default/bad: spec.minSize" in out, out
