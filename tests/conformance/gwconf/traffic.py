# SPDX-License-Identifier: Apache-2.0
"""The traffic checks of FORMAT.md section 5: clients and retry loops.

Every check is `run_<kind>(args, tctx) -> Verdict`; the judging itself is in
tjudge.py. All traffic goes to loopback addresses the driver hands out, every
socket has a timeout and every loop a deadline. Clients are small on
purpose: a raw HTTP/1.1 client (we need the headers exactly as sent), h2 for
HTTP/2 (h2c prior knowledge, or TLS with ALPN h2), grpcio with raw-bytes
serializers (the EchoResponse is decoded by hand), the TCP-echo line
protocol, UDP datagrams, a DNS question and a minimal WebSocket client.
"""
import base64
import concurrent.futures
import hashlib
import os
import random
import re
import socket
import ssl
import struct
import threading
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit

from . import tjudge as T
from .judge import PASS, fail
from .model import Ref, RunnerError

HTTP_TIMEOUT = 10.0
CONSISTENT_PASSES = 3
CONSISTENT_LIMIT = 30.0
FAIL_PAUSE = 1.0


class TrafficCtx:
    """What a traffic check needs from the runner.

    target(gateway, port) -> (addr, port) or raises RunnerError/TargetError;
    resolve(ref_text) -> object of the store; backend_log(ns, svc) -> lines
    the echo replicas of that Service printed; tmpdir for PEM files.
    """

    def __init__(self, target, resolve, backend_log, tmpdir, phase_target=None, phase_name="",
                 scale=1.0):
        self._target = target
        self.resolve = resolve
        self.backend_log = backend_log
        self.tmpdir = tmpdir
        self.phase_target = phase_target
        self.phase_name = phase_name
        self.scale = scale
        self._lock = threading.Lock()
        self._files = {}

    def target_of(self, args):
        t = args.get("target") or self.phase_target
        if not t:
            raise RunnerError("traffic check without a target (none in the phase either)")
        return self._target(t["gateway"], int(t["port"]))

    def pem_file(self, ref_text, part):
        """A temp file with the PEM of a Secret (tls.crt / tls.key) or ConfigMap (ca.crt)."""
        with self._lock:
            key = (ref_text, part)
            if key in self._files:
                return self._files[key]
            obj = self.resolve(ref_text)
            if obj is None:
                raise RunnerError(f"{ref_text} does not exist")
            data = obj.get("data") or {}
            if obj.get("kind") == "Secret":
                raw = data.get(part)
                text = base64.b64decode(raw).decode() if raw else ""
            else:
                text = data.get("ca.crt" if part == "tls.crt" else part) or ""
            if not text:
                raise RunnerError(f"{ref_text} has no {part}")
            path = os.path.join(self.tmpdir, f"{Ref.parse(ref_text).name}-{len(self._files)}"
                                f"-{part}.pem")
            with open(path, "w") as fh:
                fh.write(text)
            self._files[key] = path
            return path


# ---------------------------------------------------------------- HTTP/1.1

def _bracket(addr):
    """An IPv6 literal in [] for a Host header, authority or URL."""
    return f"[{addr}]" if ":" in addr and not addr.startswith("[") else addr


def _host_default(addr, port):
    return _bracket(addr) if port in (80, 443) else f"{_bracket(addr)}:{port}"


class _CertWatch:
    """Notices, through OpenSSL's message callback, whether the server sent
    a CertificateRequest (handshake type 13) or the client a Certificate (11)."""

    def __init__(self):
        self.requested = False

    def __call__(self, conn, direction, version, content_type, msg_type, data):
        try:
            if content_type == ssl._TLSContentType.HANDSHAKE:
                if direction == "read" and msg_type == ssl._TLSMessageType.CERTIFICATE_REQUEST:
                    self.requested = True
        except Exception:  # noqa: BLE001 - never break the handshake over bookkeeping
            pass


def tls_context(tctx, req, alpn=None, verify=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify and req.get("trust"):
        ctx.load_verify_locations(tctx.pem_file(req["trust"], "tls.crt"))
        # Like Go's crypto/tls: any certificate in the root pool is a trust
        # anchor, a leaf (self-signed or not) included.
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        # The chain is verified by OpenSSL; the name is checked after the
        # handshake the way upstream's Go client does (wrap_tls), because
        # OpenSSL refuses wildcards right under a top-level domain ("*.org")
        # that Go accepts and the fixtures use.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.gw_check_host = bool(req.get("sni"))
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if req.get("client_cert"):
        ctx.load_cert_chain(tctx.pem_file(req["client_cert"], "tls.crt"),
                            tctx.pem_file(req["client_cert"], "tls.key"))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    watch = _CertWatch()
    ctx._msg_callback = watch
    return ctx, watch


def _go_host_matches(pattern, host):
    """Go's crypto/x509 matchHostnames: case-insensitive, a leading "*" label
    matches exactly one label, no partial wildcards."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if not pattern or not host:
        return False
    p, h = pattern.split("."), host.split(".")
    if len(p) != len(h):
        return False
    return all((i == 0 and a == "*") or a == b for i, (a, b) in enumerate(zip(p, h)))


def wrap_tls(ctx, sock, sni):
    """Handshake on sock; with a trust anchor and an SNI, the certificate's
    DNS SANs (or its CN when it has none, as Go did for legacy certs) must
    match the SNI."""
    tsock = ctx.wrap_socket(sock, server_hostname=sni or None)
    if getattr(ctx, "gw_check_host", False) and sni:
        cert = tsock.getpeercert() or {}
        names = [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
        if not names:
            names = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
        if not any(_go_host_matches(n, sni) for n in names):
            tsock.close()
            raise ssl.SSLCertVerificationError(
                f"certificate is not valid for {sni!r} (names: {', '.join(names) or 'none'})")
    return tsock


def _recv_until(sock, buf, marker, limit=1 << 22):
    while marker not in buf:
        if len(buf) > limit:
            raise ValueError("response too large")
        d = sock.recv(65536)
        if not d:
            raise EOFError("connection closed by the gateway")
        buf += d
    return buf


class MalformedResponse(ValueError):
    """The gateway's HTTP/1.1 response is one Go's net/http client refuses."""


# RFC 9110 token characters: what Go's textproto accepts in a header name.
_TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789"
                   b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _head_end(buf):
    """(end of the head, start of the body) in buf, or None. Lines end in
    CRLF or a bare LF (Go's textproto accepts both)."""
    i = 0
    while True:
        j = buf.find(b"\n", i)
        if j < 0:
            return None
        line = buf[i:j]
        if line in (b"", b"\r"):
            return i, j + 1
        i = j + 1


def parse_response_head(head):
    """Status line and header lines (bytes, without the empty line) the way
    Go's http.ReadResponse and textproto.ReadMIMEHeader read them. Returns
    (proto, status, [(name, value)]); raises MalformedResponse for what Go
    refuses: a status line without a space or a status code that is not
    three digits, a protocol that is not HTTP/x.y, a header line without a
    colon, a header name that is empty or has a character outside RFC 9110's
    token set (but a space: Go keeps `Name :` as the name "Name ", which then
    matches nothing), a value with a control character other than HTAB, a
    continuation line before any header. Obsolete line folding is joined
    with a space, as Go does."""
    lines = [ln[:-1] if ln.endswith(b"\r") else ln for ln in head.split(b"\n")]
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise MalformedResponse("empty response head")
    status_line = lines[0].decode("latin-1")
    proto, sp, rest = status_line.partition(" ")
    if not sp:
        raise MalformedResponse(f"malformed HTTP response {status_line!r}")
    code = rest.partition(" ")[0]
    if len(code) != 3 or not code.isdigit() or not code.isascii():
        raise MalformedResponse(f"malformed HTTP status code {code!r}")
    if not re.fullmatch(r"HTTP/[0-9]\.[0-9]", proto):
        raise MalformedResponse(f"malformed HTTP version {proto!r}")
    hdrs = []
    for raw in lines[1:]:
        if raw[:1] in (b" ", b"\t"):
            if not hdrs:
                raise MalformedResponse(f"malformed MIME header initial line: {raw!r}")
            value = raw.strip(b" \t")
            _check_value(value, raw)
            k, v = hdrs[-1]
            hdrs[-1] = (k, (v + " " + value.decode("latin-1")).strip())
            continue
        k, colon, v = raw.partition(b":")
        if not colon:
            raise MalformedResponse(f"malformed MIME header line: {raw!r}")
        if not k or any(c not in _TCHAR and c != 0x20 for c in k):
            raise MalformedResponse(f"malformed MIME header line: {raw!r}")
        v = v.strip(b" \t")
        _check_value(v, raw)
        hdrs.append((k.decode("latin-1"), v.decode("latin-1")))
    return proto, int(code), hdrs


def _check_value(v, raw):
    if any((c < 0x20 and c != 0x09) or c == 0x7F for c in v):
        raise MalformedResponse(f"malformed MIME header line (control character): {raw!r}")


def response_framing(seen, method):
    """What Go's net/http (transfer.go) makes of the framing headers: 'none'
    (no body: HEAD, 1xx, 204, 304), 'chunked', an int Content-Length, or
    'close' (read to EOF). Raises MalformedResponse for repeated
    Content-Length headers that differ, a Content-Length that is not a
    decimal number, more than one Transfer-Encoding, or a coding other than
    chunked (for HTTP/1.1)."""
    cls = seen.header_all("content-length")
    if len(cls) > 1:
        first = cls[0].strip(" \t")
        if any(c.strip(" \t") != first for c in cls[1:]):
            raise MalformedResponse(
                f"message cannot contain multiple Content-Length headers; got {cls!r}")
        cls = [first]
    tes = seen.header_all("transfer-encoding")
    chunked = False
    if tes and seen.proto != "HTTP/1.0":
        if len(tes) > 1:
            raise MalformedResponse(f"too many transfer encodings: {tes!r}")
        if tes[0].strip(" \t").lower() != "chunked":
            raise MalformedResponse(f"unsupported transfer encoding: {tes[0]!r}")
        chunked = True
    if method == "HEAD" or seen.status // 100 == 1 or seen.status in (204, 304):
        return "none"
    if chunked:
        return "chunked"
    if cls:
        c = cls[0].strip(" \t")
        if c == "":
            return "close"
        if not c.isdigit() or not c.isascii() or len(c) > 18:
            raise MalformedResponse(f"bad Content-Length {cls[0]!r}")
        return int(c)
    return "close"


def _read_chunked(sock, buf):
    """A chunked body as Go's httputil chunked reader takes it: hex size
    (extensions after ';' ignored), CRLF (or LF) after each chunk's data,
    trailers after the last chunk up to an empty line."""
    out = b""
    while True:
        buf = _recv_until(sock, buf, b"\n")
        line, buf = buf.split(b"\n", 1)
        line = line[:-1] if line.endswith(b"\r") else line
        size_txt = line.split(b";")[0].strip(b" \t")
        if not size_txt or any(c not in b"0123456789abcdefABCDEF" for c in size_txt) or \
                len(size_txt) > 16:
            raise MalformedResponse(f"malformed chunked encoding: size line {line[:40]!r}")
        size = int(size_txt, 16)
        if size == 0:
            break
        while len(buf) < size + 2:
            d = sock.recv(65536)
            if not d:
                raise EOFError("connection closed inside a chunk")
            buf += d
        out += buf[:size]
        rest = buf[size:]
        if rest.startswith(b"\r\n"):
            buf = rest[2:]
        elif rest.startswith(b"\n"):
            buf = rest[1:]
        else:
            raise MalformedResponse("malformed chunked encoding: no CRLF after chunk data")
    while True:  # trailers
        buf = _recv_until(sock, buf, b"\n")
        line, buf = buf.split(b"\n", 1)
        if line in (b"", b"\r"):
            return out


def h1_roundtrip(addr, port, method, path, host, headers, body, tls=None, sni=None):
    """One request on a new connection (Connection: close). Returns a Seen.
    The response is read as strictly as Go's net/http client reads it
    (parse_response_head, response_framing): what Go refuses raises
    MalformedResponse (a ValueError), i.e. a failed attempt."""
    sock = socket.create_connection((addr, port), timeout=HTTP_TIMEOUT)
    watch = None
    try:
        sock.settimeout(HTTP_TIMEOUT)
        if tls is not None:
            ctx, watch = tls
            sock = wrap_tls(ctx, sock, sni)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in headers]
        payload = b""
        if body is not None:
            payload = body.encode() if isinstance(body, str) else body
            lines.append(f"Content-Length: {len(payload)}")
        lines.append("Connection: close")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        buf = b""
        while True:
            while _head_end(buf) is None:
                if len(buf) > 1 << 22:
                    raise MalformedResponse("response head too large")
                d = sock.recv(65536)
                if not d:
                    raise EOFError("connection closed by the gateway")
                buf += d
            end, body_at = _head_end(buf)
            head, buf = buf[:end], buf[body_at:]
            proto, status, hdrs = parse_response_head(head)
            if 100 <= status < 200 and status != 101:
                continue
            break
        seen = T.Seen(status, hdrs, b"", proto, watch.requested if watch else None)
        framing = response_framing(seen, method)
        if framing == "none":
            return seen
        if framing == "chunked":
            seen.body = _read_chunked(sock, buf)
        elif framing != "close":
            n = framing
            while len(buf) < n:
                d = sock.recv(65536)
                if not d:
                    raise EOFError("connection closed inside the body")
                buf += d
            seen.body = buf[:n]
        else:
            while True:
                try:
                    d = sock.recv(65536)
                except (ssl.SSLError, ConnectionResetError):
                    break
                if not d:
                    break
                buf += d
            seen.body = buf
        return seen
    finally:
        try:
            sock.close()
        except OSError:
            pass


def h2_roundtrip(addr, port, method, path, host, headers, body, tls=None, sni=None):
    import h2.config
    import h2.connection
    import h2.events
    sock = socket.create_connection((addr, port), timeout=HTTP_TIMEOUT)
    watch = None
    try:
        sock.settimeout(HTTP_TIMEOUT)
        scheme = "http"
        if tls is not None:
            ctx, watch = tls
            sock = wrap_tls(ctx, sock, sni)
            scheme = "https"
            if sock.selected_alpn_protocol() != "h2":
                raise ValueError(f"ALPN selected {sock.selected_alpn_protocol()!r}, not h2")
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                    header_encoding=None))
        conn.initiate_connection()
        hdrs = [(b":method", method.encode()), (b":scheme", scheme.encode()),
                (b":authority", host.encode()), (b":path", path.encode())]
        hdrs += [(k.lower().encode(), str(v).encode()) for k, v in headers]
        payload = (body.encode() if isinstance(body, str) else body) if body else b""
        conn.send_headers(1, hdrs, end_stream=not payload)
        if payload:
            conn.send_data(1, payload, end_stream=True)
        sock.sendall(conn.data_to_send())
        status, rh, data, done = None, [], b"", False
        deadline = time.monotonic() + HTTP_TIMEOUT
        while not done:
            if time.monotonic() > deadline:
                raise TimeoutError("HTTP/2 response not complete")
            d = sock.recv(65536)
            if not d:
                raise EOFError("HTTP/2 connection closed by the gateway")
            for ev in conn.receive_data(d):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == 1:
                    for k, v in ev.headers:
                        if k == b":status":
                            status = int(v)
                        else:
                            rh.append((k.decode("latin-1"), v.decode("latin-1")))
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == 1:
                    data += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, 1)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == 1:
                    done = True
                elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == 1:
                    raise ConnectionResetError(f"HTTP/2 stream reset ({ev.error_code})")
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    if not done:
                        raise ConnectionResetError(f"HTTP/2 GOAWAY ({ev.error_code})")
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
        if status is None:
            raise ValueError("HTTP/2 response without :status")
        return T.Seen(status, rh, data, "HTTP/2.0", watch.requested if watch else None)
    finally:
        try:
            sock.close()
        except OSError:
            pass


class PreparedRequest:
    """An `http` request block resolved against its target."""

    def __init__(self, args, tctx, fresh=True):
        req = dict(args.get("request") or {})
        self.req = req
        self.addr, self.port = tctx.target_of(args)
        self.scheme = req.get("scheme", "http")
        self.protocol = req.get("protocol", "HTTP/1.1")
        self.method = req.get("method", "GET")
        self.host = req.get("host") or _host_default(self.addr, self.port)
        self.base_path = req.get("path", "/")
        self.request_id = str(uuid.uuid4()) if req.get("request_id") else None
        self.tctx = tctx
        self.tls = None
        if self.scheme == "https" or self.protocol == "h2":
            alpn = ["h2"] if self.protocol == "h2" else ["http/1.1"]
            self.tls = tls_context(tctx, req, alpn=alpn)
        echo_set = req.get("echo_set_response_headers") or {}
        self.headers = [(k, str(v)) for k, v in (req.get("headers") or {}).items()]
        self.headers.append(("X-Echo-Set-Header",
                             ",".join(f"{k}:{v}" for k, v in echo_set.items())))

    def path(self):
        q = dict(self.req.get("query") or {})
        if self.req.get("query_fresh_uuid"):
            q[self.req["query_fresh_uuid"]] = str(uuid.uuid4())
        p = T.with_query(self.base_path, q)
        if self.request_id:
            p += ("&" if "?" in p else "?") + f"{T.REQUEST_ID_PARAM}={self.request_id}"
        return p

    def send(self, path, extra_headers=()):
        """One exchange (a Seen). Follows redirects when asked, on loopback only."""
        addr, port, host, scheme = self.addr, self.port, self.host, self.scheme
        follow = self.req.get("follow_redirects", True)
        headers = self.headers + list(extra_headers)
        seen = self._one(addr, port, host, path, scheme, headers)
        hops = 0
        while follow and seen.status in T.REDIRECT_CODES and hops < 10:
            locs = seen.header_all("location")
            if not locs:
                break
            u = urlsplit(locs[0])
            nhost = u.hostname
            if nhost and not _is_loopback(nhost):
                break  # traffic stays on loopback: judge the redirect itself
            scheme = u.scheme or scheme
            if nhost:
                addr = nhost
                port = u.port or (443 if scheme == "https" else 80)
                host = u.netloc
            path = (u.path or "/") + (f"?{u.query}" if u.query else "")
            seen = self._one(addr, port, host, path, scheme, headers)
            hops += 1
        return seen

    def _one(self, addr, port, host, path, scheme, headers):
        tls = self.tls if scheme == "https" or self.protocol == "h2" else None
        if tls is None and scheme == "https":
            tls = tls_context(self.tctx, self.req)
        sni = self.req.get("sni")
        if self.protocol in ("h2", "h2c-prior-knowledge"):
            return h2_roundtrip(addr, port, self.method, path, host, headers,
                                self.req.get("body"), tls=tls, sni=sni)
        return h1_roundtrip(addr, port, self.method, path, host, headers,
                            self.req.get("body"), tls=tls, sni=sni)

    def attempt(self, path=None, extra_headers=()):
        """(Seen or None, sent path, error text or None). Thread-safe."""
        path = path or self.path()
        try:
            return self.send(path, extra_headers), path, None
        except (OSError, EOFError, ValueError, ssl.SSLError, TimeoutError) as e:
            return None, path, _err(e)


# Networks the runner's traffic may follow redirects into besides loopback
# (run.py adds the private IPv6 prefix of an --ipv6 run).
LOCAL_NETS = []


def _is_loopback(host):
    try:
        import ipaddress
        a = ipaddress.ip_address(host)
        return a.is_loopback or any(a in n for n in LOCAL_NETS)
    except ValueError:
        return False


def _err(e):
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _sleep_until(deadline, secs):
    time.sleep(max(0.0, min(secs, deadline - time.monotonic())))


def consistent(attempt, limit=CONSISTENT_LIMIT, passes=CONSISTENT_PASSES, pause=FAIL_PAUSE):
    """Repeats attempt() -> Verdict until `passes` in a row; 1 s pause after a
    failure; gives up after `limit` s with the last failure."""
    deadline = time.monotonic() + limit
    streak, last = 0, None
    n = 0
    while True:
        v = attempt()
        n += 1
        if v.ok:
            streak += 1
            if streak >= passes:
                return PASS
        else:
            streak, last = 0, v
        if time.monotonic() >= deadline:
            msg = last.msg if last else "not consistent"
            return fail(f"{msg} (not {passes} passes in a row within {limit:.0f} s, "
                        f"{n} attempts)")
        if not v.ok:
            _sleep_until(deadline, pause)


# ---------------------------------------------------------------- checks

def run_http(args, tctx):
    pr = PreparedRequest(args, tctx)
    expect = args.get("expect") or {}
    last = {}

    def attempt():
        seen, sent, err = pr.attempt()
        if err:
            return fail(f"request {pr.method} {sent} to {pr.addr}:{pr.port} failed: {err}")
        v = T.judge_http(pr.req, expect, seen, sent, pr.scheme, resolve=tctx.resolve)
        if not v.ok:
            return fail(f"{pr.method} {sent} (Host {pr.host}): {v.msg}")
        last["sent"] = sent
        return v

    v = consistent(attempt, CONSISTENT_LIMIT * tctx.scale)
    if not v.ok or not expect.get("mirrored_to"):
        return v
    want = T.expected_backend_request(pr.req, expect, last["sent"])["path"]
    needle = f"Echoing back request made to {want} to client"
    for b in expect["mirrored_to"]:
        ns, svc = b.split("/", 1)
        deadline = time.monotonic() + 10 * tctx.scale
        while not any(ln.startswith(needle) for ln in tctx.backend_log(ns, svc)):
            if time.monotonic() > deadline:
                return fail(f"mirror {b} never logged a request to {want!r}")
            time.sleep(0.1)
    return PASS


def run_http_not_ok(args, tctx):
    pr = PreparedRequest(args, tctx)
    deadline = time.monotonic() + CONSISTENT_LIMIT * tctx.scale
    streak, last = 0, "no attempt"
    while True:
        seen, sent, err = pr.attempt()
        if err:
            streak, last = 0, f"request failed: {err}"
        else:
            k = T.judge_not_ok_status(seen.status)
            if k == "fatal":
                return fail(f"{pr.method} {sent} (Host {pr.host}) answered 200; expected a "
                            "failure status")
            if k == "count":
                streak += 1
                if streak >= 5:
                    return PASS
                continue
            streak, last = 0, f"status {seen.status} (does not count)"
        if time.monotonic() > deadline:
            return fail(f"no 5 consecutive non-200 answers within 30 s; last: {last}")
        _sleep_until(deadline, FAIL_PAUSE)


def run_https_handshake_fails(args, tctx):
    req = dict(args.get("request") or {})
    addr, port = tctx.target_of(args)
    ctx, watch = tls_context(tctx, req)
    host = req.get("host") or _host_default(addr, port)
    try:
        seen = h1_roundtrip(addr, port, req.get("method", "GET"), req.get("path", "/"), host,
                            [], None, tls=(ctx, watch), sni=req.get("sni"))
    except (OSError, EOFError, ssl.SSLError, ValueError) as e:
        if req.get("client_cert") and not watch.requested:
            return fail(f"the request failed ({_err(e)}) but the server never asked for a "
                        "client certificate")
        return PASS
    return fail(f"the request succeeded with status {seen.status}; expected a transport error")


def run_http_repeat(args, tctx):
    pr = PreparedRequest(args, tctx)
    each = args.get("expect_each") or args.get("expect") or {}
    for i in range(int(args.get("count", 10))):
        seen, sent, err = pr.attempt()
        if err:
            return fail(f"request {i + 1}: {err}")
        v = T.judge_repeat_each(each, seen)
        if not v.ok:
            return fail(f"request {i + 1}: {v.msg}")
    return PASS


# ---------------------------------------------------------------- gRPC

def grpc_call(addr, port, method, authority=None, metadata=None, timeout=HTTP_TIMEOUT):
    """(status code name, decoded EchoResponse or None, detail)."""
    import grpc
    opts = [("grpc.use_local_subchannel_pool", 1), ("grpc.enable_retries", 0)]
    if authority:
        opts.append(("grpc.default_authority", authority))
    ch = grpc.insecure_channel(f"{_bracket(addr)}:{port}", options=opts)
    try:
        call = ch.unary_unary(f"/{T.GRPC_SERVICE}/{method}", request_serializer=None,
                              response_deserializer=None)
        md = [(str(k).lower(), str(v)) for k, v in (metadata or {}).items()]
        try:
            data = call(b"", timeout=timeout, metadata=md or None)
        except grpc.RpcError as e:
            return e.code().name, None, e.details() or ""
        try:
            return "OK", decode_echo_response(data), ""
        except (ValueError, IndexError) as e:
            return "OK", None, f"undecodable reply: {e}"
    finally:
        ch.close()


def _varint(data, i):
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def pb_fields(data):
    out, i = [], 0
    while i < len(data):
        tag, i = _varint(data, i)
        field, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = _varint(data, i)
        elif wt == 2:
            n, i = _varint(data, i)
            v = bytes(data[i:i + n])
            if len(v) != n:
                raise ValueError("truncated protobuf")
            i += n
        elif wt == 1:
            v, i = data[i:i + 8], i + 8
        elif wt == 5:
            v, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"bad protobuf wire type {wt}")
        out.append((field, v))
    return out


def decode_echo_response(data):
    """EchoResponse (ECHO.md section 3): assertions.{fully_qualified_method, context}."""
    res = {"fully_qualified_method": "", "authority": "", "context": {}, "headers": []}
    for f, v in pb_fields(data):
        if f != 1 or not isinstance(v, bytes):
            continue
        for af, av in pb_fields(v):
            if af == 1:
                res["fully_qualified_method"] = av.decode()
            elif af == 2:
                h = dict(pb_fields(av))
                res["headers"].append((h.get(1, b"").decode(), h.get(2, b"").decode()))
            elif af == 3:
                res["authority"] = av.decode()
            elif af == 4:
                names = {1: "namespace", 2: "ingress", 3: "service_name", 4: "pod"}
                res["context"] = {names[k]: x.decode() for k, x in pb_fields(av) if k in names}
    return res


def run_grpc(args, tctx):
    addr, port = tctx.target_of(args)
    req = args.get("request") or {}
    expect = args.get("expect") or {}
    method = req.get("method", "Echo")

    def attempt():
        code, reply, detail = grpc_call(addr, port, method, req.get("authority"),
                                        req.get("metadata"))
        v = T.judge_grpc(method, expect, code, reply)
        if not v.ok:
            return fail(f"{method} to {addr}:{port}: {v.msg}" + (f" ({detail})" if detail
                                                                   else ""))
        return v

    return consistent(attempt, CONSISTENT_LIMIT * tctx.scale)


# ---------------------------------------------------------------- TCP / TLS streams

class _Lines:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def line(self):
        while b"\n" not in self.buf:
            d = self.sock.recv(4096)
            if not d:
                raise EOFError("connection closed by the peer")
            self.buf += d
            if len(self.buf) > 1 << 16:
                raise ValueError("line too long")
        ln, self.buf = self.buf.split(b"\n", 1)
        return ln.decode("utf-8", "replace").rstrip("\r")

    def ask(self, cmd):
        self.sock.sendall(cmd.encode() + b"\n")
        return self.line()


def tcp_exchange(addr, port, expect, tls_ctx=None, sni=None, timeout=HTTP_TIMEOUT, full=True):
    sock = socket.create_connection((addr, port), timeout=timeout)
    try:
        sock.settimeout(timeout)
        if tls_ctx is not None:
            sock = wrap_tls(tls_ctx, sock, sni)
        ln = _Lines(sock)
        welcome = ln.line()
        if welcome != T.TCP_WELCOME:
            return T.judge_tcp_exchange(expect, welcome, None, None, "{}")
        pong = ln.ask("PING") if full else None
        is_tls = ln.ask("IS_TLS") if full else None
        test = ln.ask("TEST")
        if full:
            return T.judge_tcp_exchange(expect, welcome, pong, is_tls, test)
        return T.judge_tcp_identity(expect, test)
    finally:
        try:
            sock.close()
        except OSError:
            pass


def _retry_once(attempt, limit, pause=1.0):
    """Attempts until one passes, one per `pause` s, for up to `limit` s."""
    deadline = time.monotonic() + limit
    last = None
    while True:
        v = attempt()
        if v.ok:
            return v
        last = v
        if time.monotonic() >= deadline:
            return fail(f"{last.msg} (no success within {limit:.0f} s)")
        _sleep_until(deadline, pause)


class _Answered(Exception):
    """A stream connection that got through to something that answered."""


def tcp_exchange_strict(addr, port, expect, tls_ctx=None, sni=None, timeout=HTTP_TIMEOUT):
    """tcp_exchange, but telling a transport failure (connect refused, reset,
    EOF before an answer, TLS handshake failure: a Verdict is returned) from
    a connection that was answered wrongly (raises _Answered with the
    verdict's message): upstream retries the former and fails the test on the
    latter."""
    sock = socket.create_connection((addr, port), timeout=timeout)
    try:
        sock.settimeout(timeout)
        if tls_ctx is not None:
            sock = wrap_tls(tls_ctx, sock, sni)
        ln = _Lines(sock)
        welcome = ln.line()
        if welcome != T.TCP_WELCOME:
            raise _Answered(T.judge_tcp_exchange(expect, welcome, None, None, "{}").msg)
        pong = ln.ask("PING")
        is_tls = ln.ask("IS_TLS")
        test = ln.ask("TEST")
        v = T.judge_tcp_exchange(expect, welcome, pong, is_tls, test)
        if not v.ok:
            raise _Answered(v.msg)
        return v
    finally:
        try:
            sock.close()
        except OSError:
            pass


def _stream_check(args, tctx, use_tls):
    """As upstream: connections are retried once a second for up to 30 s
    while they fail (refused, reset, closed, handshake failure); the first
    connection that is answered decides: a wrong answer (wrong backend, wrong
    SNI seen, wrong IS_TLS, not the echo's welcome) fails the check at once."""
    addr, port = tctx.target_of(args)
    expect = args.get("expect") or {}
    ctx = None
    if use_tls:
        ctx, _ = tls_context(tctx, {"trust": args.get("trust"), "sni": args.get("sni")})
    what = (f"{'TLS' if use_tls else 'TCP'} to {addr}:{port}"
            f"{' SNI ' + args['sni'] if args.get('sni') else ''}")

    def attempt():
        try:
            return tcp_exchange_strict(addr, port, expect, ctx, args.get("sni"))
        except (OSError, EOFError, ValueError, ssl.SSLError) as e:
            return fail(f"{what}: {_err(e)}")

    try:
        return _retry_once(attempt, 30 * tctx.scale)
    except _Answered as e:
        return fail(f"{what}: answered wrongly: {e}")


def run_tls_stream(args, tctx):
    return _stream_check(args, tctx, True)


def run_tcp_stream(args, tctx):
    return _stream_check(args, tctx, bool(args.get("tls")))


def run_tcp_repeat(args, tctx):
    addr, port = tctx.target_of(args)
    expect = args.get("expect_each") or args.get("expect") or {}
    for i in range(int(args.get("count", 10))):
        try:
            v = tcp_exchange(addr, port, expect, full=False)
        except (OSError, EOFError, ValueError) as e:
            return fail(f"connection {i + 1}: {_err(e)}")
        if not v.ok:
            return fail(f"connection {i + 1}: {v.msg}")
    return PASS


def run_tcp_connect(args, tctx):
    addr, port = tctx.target_of(args)
    limit = float(args.get("within_s", 30)) * tctx.scale
    poll = float(args.get("poll_ms", 100)) / 1000.0
    deadline = time.monotonic() + limit
    last = None
    while True:
        try:
            socket.create_connection((addr, port), timeout=2).close()
            return PASS
        except OSError as e:
            last = _err(e)
        if time.monotonic() >= deadline:
            return fail(f"no TCP connection to {addr}:{port} within {limit:.0f} s ({last})")
        _sleep_until(deadline, poll)


def tls_rejection(addr, port, sni, timeout=5.0):
    """'rejected' (EOF/reset), or a description of what happened instead."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        sock = socket.create_connection((addr, port), timeout=timeout)
    except OSError as e:
        return f"connect failed: {_err(e)}"
    try:
        sock.settimeout(timeout)
        s = ctx.wrap_socket(sock, server_hostname=sni)
        s.close()
        return "the TLS handshake succeeded"
    except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
        return "rejected"
    except ssl.SSLError as e:
        if "EOF" in str(e) or "UNEXPECTED_EOF" in str(e):
            return "rejected"
        return f"TLS error that is not a reset/close: {_err(e)}"
    except OSError as e:
        return f"{_err(e)}"
    finally:
        try:
            sock.close()
        except OSError:
            pass


def run_tls_rejected(args, tctx):
    addr, port = tctx.target_of(args)

    def attempt():
        r = tls_rejection(addr, port, args.get("sni"))
        return PASS if r == "rejected" else fail(f"TLS to {addr}:{port} SNI "
                                                 f"{args.get('sni')}: {r}")

    return _retry_once(attempt, 30 * tctx.scale)


# ---------------------------------------------------------------- UDP / DNS

UDP_PROBE = b"gateway-api-conformance-udp-echo"


def udp_ask(addr, port, payload, timeout=2.0):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.connect((addr, port))
        s.send(payload)
        return s.recv(65536)
    finally:
        s.close()


def run_udp(args, tctx):
    addr, port = tctx.target_of(args)
    expect = args.get("expect") or {}

    def attempt():
        try:
            data = udp_ask(addr, port, UDP_PROBE)
        except OSError as e:
            return fail(f"UDP to {addr}:{port}: no reply ({_err(e)})")
        return T.judge_udp_reply(expect, data)

    return _retry_once(attempt, float(args.get("within_s", 60)) * tctx.scale)


def run_udp_repeat(args, tctx):
    addr, port = tctx.target_of(args)
    expect = args.get("expect_each") or args.get("expect") or {}
    for i in range(int(args.get("count", 10))):
        try:
            data = udp_ask(addr, port, UDP_PROBE)
        except OSError as e:
            return fail(f"probe {i + 1}: no reply ({_err(e)})")
        v = T.judge_udp_reply(expect, data)
        if not v.ok:
            return fail(f"probe {i + 1}: {v.msg}")
    return PASS


def run_dns_query(args, tctx):
    addr, port = tctx.target_of(args)

    def attempt():
        qid = random.randrange(1, 65535)
        try:
            data = udp_ask(addr, port, T.dns_query_bytes(qid, args.get("name", "foo.bar.com."),
                                                         args.get("type", "A")))
        except OSError as e:
            return fail(f"DNS to {addr}:{port}: no reply ({_err(e)})")
        return T.dns_reply_ok(qid, data)

    return _retry_once(attempt, float(args.get("within_s", 60)) * tctx.scale)


# ---------------------------------------------------------------- distributions

def _sample_http(pr, each, jitter):
    extra = []
    if jitter and random.random() < 0.5:
        extra.append((jitter, str(random.randrange(1 << 30))))
    seen, sent, err = pr.attempt(extra_headers=extra)
    if err:
        return None, err
    if each:
        v = T.judge_http(pr.req, each, seen, sent, pr.scheme)
        if not v.ok:
            return None, v.msg
    echo = seen.echo() or {}
    return T.backend_of_pod(echo.get("pod", "")), None


def _sampler(args, tctx):
    req = dict(args.get("request") or {})
    kind = req.get("kind", "http")
    each = args.get("expect_each") or {}
    addr, port = tctx.target_of(args)
    per = float(req.get("per_request_timeout_s", HTTP_TIMEOUT))
    if kind == "http":
        pr = PreparedRequest({"request": {k: v for k, v in req.items()
                                          if k not in ("kind", "jitter_header",
                                                       "per_request_timeout_s")},
                              "target": {"gateway": "-", "port": port}},
                             _FixedTarget(tctx, addr, port))
        return lambda: _sample_http(pr, each, req.get("jitter_header"))
    if kind == "grpc":
        method = req.get("method", "Echo")

        def one():
            md = {}
            if req.get("jitter_metadata") and random.random() < 0.5:
                md[req["jitter_metadata"]] = str(random.randrange(1 << 30))
            code, reply, detail = grpc_call(addr, port, method, req.get("authority"), md,
                                            timeout=per)
            if each:
                v = T.judge_grpc(method, each, code, reply)
                if not v.ok:
                    return None, v.msg
            if code != "OK" or reply is None:
                return None, f"gRPC {code} {detail}"
            return T.backend_of_pod((reply.get("context") or {}).get("pod", "")), None
        return one
    if kind == "tcp":
        def one():
            try:
                sock = socket.create_connection((addr, port), timeout=per)
                try:
                    sock.settimeout(per)
                    ln = _Lines(sock)
                    w = ln.line()
                    if w != T.TCP_WELCOME:
                        return None, f"welcome {w!r}"
                    import json
                    info = json.loads(ln.ask("TEST"))
                finally:
                    sock.close()
            except (OSError, EOFError, ValueError) as e:
                return None, _err(e)
            return T.backend_of_pod(info.get("pod", "")), None
        return one
    if kind == "udp":
        payload = str(req.get("payload", UDP_PROBE.decode())).encode()

        def one():
            try:
                import json
                info = json.loads(udp_ask(addr, port, payload, timeout=per))
            except (OSError, ValueError) as e:
                return None, _err(e)
            return T.backend_of_pod(info.get("pod", "")), None
        return one
    raise RunnerError(f"weights: unknown request kind {kind!r}")


class _FixedTarget:
    def __init__(self, tctx, addr, port):
        self.__dict__.update(tctx.__dict__)
        self._fixed = (addr, port)
        self.pem_file = tctx.pem_file

    def target_of(self, args):
        return self._fixed


def _batch(fn, n, concurrency):
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, int(concurrency))) as ex:
        return list(ex.map(lambda _i: fn(), range(n)))


def run_weights(args, tctx):
    one = _sampler(args, tctx)
    expect = {str(k): float(v) for k, v in (args.get("expect") or {}).items()}
    samples, conc = int(args.get("samples", 500)), int(args.get("concurrency", 10))
    tol, attempts = float(args.get("tolerance", 0.05)), int(args.get("attempts", 10))
    last = None
    for _ in range(attempts):
        results = _batch(one, samples, conc)
        errors = [e for b, e in results if e]
        counts = Counter(b for b, e in results if not e)
        v = T.judge_shares(expect, counts, tol, errors)
        if v.ok:
            return v
        last = v
    return fail(f"{last.msg} (all {attempts} samples)")


def run_mirror_distribution(args, tctx):
    req = dict(args.get("request") or {})
    each = args.get("expect_each") or {}
    mirror = args.get("mirror") or {}
    n, conc = int(args.get("requests", 500)), int(args.get("concurrency", 10))
    sigmas, attempts = float(args.get("tolerance_sigmas", 3)), int(args.get("attempts", 5))
    ns, svc = mirror["backend"].split("/", 1)
    p = float(mirror["fraction"])
    last = None
    for _ in range(attempts):
        pr = PreparedRequest(dict(args, request=req), tctx)
        path = pr.path()
        errors = []

        def one():
            seen, sent, err = pr.attempt(path)
            if err:
                return err
            v = T.judge_http(pr.req, each, seen, sent, pr.scheme)
            return None if v.ok else v.msg

        results = _batch(one, n, conc)
        errors = [e for e in results if e]
        if errors:
            last = fail(f"{len(errors)} of {n} requests failed, first: {errors[0]}")
            continue
        want = T.expected_backend_request(req, each, path)["path"]
        needle = f"Echoing back request made to {want} to client"
        copies, stable_since, deadline = -1, time.monotonic(), time.monotonic() + 5
        while time.monotonic() < deadline:
            c = sum(1 for ln in tctx.backend_log(ns, svc) if ln.startswith(needle))
            if c != copies:
                copies, stable_since = c, time.monotonic()
            elif time.monotonic() - stable_since > 0.5:
                break
            time.sleep(0.1)
        v = T.judge_mirror_count(n, p, sigmas, copies)
        if v.ok:
            return v
        last = v
    return fail(f"{last.msg} (all {attempts} attempts)")


# ---------------------------------------------------------------- WebSocket

def _ws_frame(opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _ws_read(sock, buf):
    def need(k):
        nonlocal buf
        while len(buf) < k:
            d = sock.recv(65536)
            if not d:
                raise EOFError("websocket closed by the peer")
            buf += d
    while True:
        need(2)
        op, n = buf[0] & 0x0F, buf[1] & 0x7F
        off = 2
        if n == 126:
            need(4)
            n, off = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            need(10)
            n, off = struct.unpack("!Q", buf[2:10])[0], 10
        masked = buf[1] & 0x80
        if masked:
            off += 4
        need(off + n)
        payload = buf[off:off + n]
        if masked:
            m = buf[off - 4:off]
            payload = bytes(b ^ m[i % 4] for i, b in enumerate(payload))
        buf = buf[off + n:]
        if op == 0x9:  # ping: answer, keep reading
            sock.sendall(_ws_frame(0xA, payload))
            continue
        if op == 0x8:
            raise EOFError("websocket close frame")
        return op, payload, buf


def judge_ws_handshake(head, key):
    """The 101 answer to an upgrade, checked as upstream's client
    (golang.org/x/net/websocket over net/http's response reader) checks it:
    a head Go can parse, status 101, `Upgrade: websocket` and `Connection:
    upgrade` (case-insensitive, the whole value), Sec-WebSocket-Accept the
    hash of our key, no Sec-WebSocket-Extensions (none was offered)."""
    try:
        _proto, status, hdrs = parse_response_head(head)
    except MalformedResponse as e:
        return fail(f"websocket upgrade: {e}")
    seen = T.Seen(status, hdrs)

    def one(name):
        vals = seen.header_all(name)
        return vals[0] if vals else ""
    if status != 101:
        return fail(f"websocket upgrade answered {status}")
    if one("upgrade").lower() != "websocket" or one("connection").lower() != "upgrade":
        return fail(f"websocket upgrade: Upgrade {one('upgrade')!r}, Connection "
                    f"{one('connection')!r} (expected websocket, upgrade)")
    accept = base64.b64encode(hashlib.sha1(
        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    if one("sec-websocket-accept") != accept:
        return fail(f"websocket upgrade: Sec-WebSocket-Accept {one('sec-websocket-accept')!r}, "
                    f"expected {accept!r}")
    if seen.header_all("sec-websocket-extensions"):
        return fail("websocket upgrade: extensions in the answer, none offered")
    return PASS


def ws_session(addr, port, path, origin, exchange, host):
    sock = socket.create_connection((addr, port), timeout=HTTP_TIMEOUT)
    try:
        sock.settimeout(HTTP_TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n").encode())
        buf = b""
        while _head_end(buf) is None:
            if len(buf) > 1 << 20:
                raise MalformedResponse("websocket upgrade: response head too large")
            d = sock.recv(65536)
            if not d:
                raise EOFError("connection closed by the gateway")
            buf += d
        end, body_at = _head_end(buf)
        head, buf = buf[:end], buf[body_at:]
        v = judge_ws_handshake(head, key)
        if not v.ok:
            return v
        for entry in exchange:
            if "send_text" in entry:
                sock.sendall(_ws_frame(0x1, str(entry["send_text"]).encode()))
            else:
                sock.sendall(_ws_frame(0x2, bytes(entry.get("send_binary") or [])))
            op, payload, buf = _ws_read(sock, buf)
            v = T.judge_ws_message(entry, "text" if op == 1 else "binary", payload)
            if not v.ok:
                return v
        try:
            sock.sendall(_ws_frame(0x8, struct.pack("!H", 1000)))
        except OSError:
            pass
        return PASS
    finally:
        sock.close()


def run_websocket(args, tctx):
    addr, port = tctx.target_of(args)
    path = "/" + str(args.get("url_path", "/")).lstrip("/")
    origin = str(args.get("origin", "")).replace("<subtest name>", tctx.phase_name.replace(
        " ", "_"))

    def attempt():
        try:
            return ws_session(addr, port, path, origin, args.get("exchange") or [],
                              _host_default(addr, port))
        except (OSError, EOFError, ValueError) as e:
            return fail(f"websocket to {addr}:{port}{path}: {_err(e)}")

    return consistent(attempt, CONSISTENT_LIMIT * tctx.scale)


RUNNERS = {
    "http": run_http, "http_not_ok": run_http_not_ok,
    "https_handshake_fails": run_https_handshake_fails, "grpc": run_grpc,
    "http_repeat": run_http_repeat, "tls_stream": run_tls_stream, "tcp_stream": run_tcp_stream,
    "tcp_repeat": run_tcp_repeat, "tcp_connect": run_tcp_connect,
    "tls_rejected": run_tls_rejected, "udp": run_udp, "udp_repeat": run_udp_repeat,
    "dns_query": run_dns_query, "weights": run_weights,
    "mirror_distribution": run_mirror_distribution, "websocket": run_websocket,
}


def run_check(kind, args, tctx):
    fn = RUNNERS.get(kind)
    if fn is None:
        raise RunnerError(f"no traffic runner for {kind!r}")
    return fn(args or {}, tctx)
