# SPDX-License-Identifier: Apache-2.0
"""Small, strict clients for the end-to-end tests of `gatehouse echo`.

Everything here talks to loopback only and every socket operation has a
timeout. The HTTP/1.1 client is hand-written on purpose: the tests need to
see header names exactly as they are on the wire, to pipeline requests and to
notice a connection reset. HTTP/2 goes through the `h2` state machine over a
plain or TLS socket (h2c prior knowledge, h2c upgrade, ALPN h2). The protobuf
helpers decode the few gRPC messages of ECHO.md section 3 by hand so that the
tests do not depend on generated code.
"""
import json
import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events

TIMEOUT = 10.0


# ---------------------------------------------------------------- HTTP/1.1

class Response:
    """One HTTP response: status, reason, version, raw header list, body."""

    def __init__(self, version, status, reason, headers, body, proto="HTTP/1.1"):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) exactly as received
        self.body = body
        self.proto = proto

    def header_all(self, name):
        """Every value of header `name` (case-insensitive), in arrival order."""
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def header(self, name):
        vals = self.header_all(name)
        assert len(vals) <= 1, f"header {name} appears {len(vals)} times: {vals}"
        return vals[0] if vals else None

    def names(self):
        return [k for k, _ in self.headers]

    def json(self):
        ctype = self.header_all("content-type")
        assert ctype == ["application/json"], \
            f"Content-Type must be exactly application/json, got {ctype}"
        try:
            obj = json.loads(self.body)
        except ValueError as exc:
            raise AssertionError(f"body is not JSON ({exc}): {self.body[:300]!r}") from None
        assert isinstance(obj, dict), f"echo body is not a JSON object: {obj!r}"
        return obj

    def __repr__(self):
        return f"<Response {self.proto} {self.status} {self.headers} {self.body[:200]!r}>"


def build_request(method="GET", path="/", host="example.com", headers=(), body=None,
                  chunked=False, version="HTTP/1.1"):
    """Raw request bytes. `headers` is a list of (name, value) sent verbatim;
    host=None sends no Host line (the caller may put one in `headers`)."""
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    for k, v in headers:
        lines.append(f"{k}: {v}")
    payload = b""
    if body is not None:
        if isinstance(body, str):
            body = body.encode()
        if chunked:
            lines.append("Transfer-Encoding: chunked")
            parts = []
            step = max(1, len(body) // 3)
            for i in range(0, len(body), step):
                c = body[i:i + step]
                parts.append(b"%x\r\n" % len(c) + c + b"\r\n")
            payload = b"".join(parts) + b"0\r\n\r\n"
        else:
            lines.append(f"Content-Length: {len(body)}")
            payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


class H1:
    """A raw HTTP/1.1 connection (optionally over TLS)."""

    def __init__(self, addr, port, timeout=TIMEOUT, tls=None, sni=None, source=None):
        self.sock = socket.create_connection((addr, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=sni)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def local(self):
        return self.sock.getsockname()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed by the server")
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 1 << 20:
                raise AssertionError("response line too long")
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def read_response(self, method="GET"):
        while True:
            status_line = self._line().decode("latin-1")
            parts = status_line.split(" ", 2)
            assert len(parts) >= 2 and parts[0].startswith("HTTP/"), \
                f"bad status line {status_line!r}"
            version, status = parts[0], int(parts[1])
            reason = parts[2] if len(parts) > 2 else ""
            headers = []
            while True:
                line = self._line()
                if not line:
                    break
                k, sep, v = line.decode("latin-1").partition(":")
                assert sep, f"bad header line {line!r}"
                headers.append((k, v.strip()))
            if 100 <= status < 200 and status != 101:
                continue  # interim response
            break
        resp = Response(version, status, reason, headers, b"", proto=version)
        if method == "HEAD" or status in (101, 204, 304) or 100 <= status < 200:
            return resp
        te = ",".join(resp.header_all("transfer-encoding")).lower()
        cl = resp.header_all("content-length")
        if "chunked" in te:
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._exact(size)
                assert self._exact(2) == b"\r\n"
            resp.body = body
        elif cl:
            resp.body = self._exact(int(cl[0]))
        else:
            # read until close
            try:
                while True:
                    self._fill()
            except EOFError:
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def request(self, method="GET", path="/", host="example.com", headers=(), body=None,
                chunked=False):
        self.send(build_request(method, path, host, headers, body, chunked))
        return self.read_response(method)

    def is_closed_by_peer(self, wait=3.0):
        """True when the server closes the connection (EOF or reset) within `wait`."""
        self.sock.settimeout(wait)
        try:
            d = self.sock.recv(1)
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False
        return d == b""


def get(addr, port, path="/", **kw):
    """One request on a fresh connection."""
    tls = kw.pop("tls", None)
    sni = kw.pop("sni", None)
    with H1(addr, port, tls=tls, sni=sni) as c:
        return c.request(path=path, **kw)


# ------------------------------------------------------------------ HTTP/2

class H2Client:
    """HTTP/2 client over an already connected socket (plain or TLS)."""

    def __init__(self, sock, preface=True):
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.streams = {}
        if preface:
            self.conn.initiate_connection()
            self.flush()

    @classmethod
    def connect(cls, addr, port, tls=None, sni=None):
        sock = socket.create_connection((addr, port), timeout=TIMEOUT)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=sni)
            assert sock.selected_alpn_protocol() == "h2", \
                f"ALPN selected {sock.selected_alpn_protocol()!r}, wanted h2"
        return cls(sock)

    @classmethod
    def upgrade(cls, addr, port, path="/", authority="example.com", headers=()):
        """HTTP/1.1 `Upgrade: h2c`; returns (client, raw 101 head). Stream 1
        carries the response to the upgraded request."""
        sock = socket.create_connection((addr, port), timeout=TIMEOUT)
        self = cls(sock, preface=False)
        settings = self.conn.initiate_upgrade_connection()
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
        req = (f"GET {path} HTTP/1.1\r\nHost: {authority}\r\n"
               "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
               f"HTTP2-Settings: {settings.decode()}\r\n{extra}\r\n").encode()
        sock.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = sock.recv(65536)
            if not d:
                raise EOFError(f"closed during upgrade, got {buf!r}")
            buf += d
        head, rest = buf.split(b"\r\n\r\n", 1)
        self.streams[1] = {"headers": None, "data": b"", "ended": False, "reset": None}
        if head.startswith(b"HTTP/1.1 101"):
            self.flush()  # client preface + SETTINGS
            if rest:
                self._events(self.conn.receive_data(rest))
                self.flush()
        return self, head.decode("latin-1"), rest

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except Exception:  # noqa: BLE001 - best effort
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send(self, method="GET", path="/", authority="example.com", headers=(), body=b"",
             scheme="http"):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(b":method", method.encode()), (b":scheme", scheme.encode()),
                (b":authority", authority.encode()), (b":path", path.encode())]
        hdrs += [(k.lower().encode(), v.encode()) for k, v in headers]
        self.conn.send_headers(sid, hdrs, end_stream=not body)
        self.streams[sid] = {"headers": None, "data": b"", "ended": False, "reset": None}
        self.flush()
        deadline = time.monotonic() + TIMEOUT
        while body:
            # respect the server's flow-control window and frame size
            n = min(len(body), self.conn.local_flow_control_window(sid),
                    self.conn.max_outbound_frame_size)
            if n <= 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("server never opened its flow-control window")
                self.sock.settimeout(left)
                d = self.sock.recv(65536)
                if not d:
                    raise EOFError("HTTP/2 connection closed while sending a body")
                self._events(self.conn.receive_data(d))
                self.flush()
                continue
            self.conn.send_data(sid, body[:n], end_stream=(n == len(body)))
            body = body[n:]
            self.flush()
        return sid

    def _events(self, events):
        for ev in events:
            sid = getattr(ev, "stream_id", None)
            st = self.streams.get(sid)
            if isinstance(ev, h2.events.ResponseReceived):
                st["headers"] = [(k.decode(), v.decode()) for k, v in ev.headers]
            elif isinstance(ev, h2.events.TrailersReceived):
                st["trailers"] = [(k.decode(), v.decode()) for k, v in ev.headers]
            elif isinstance(ev, h2.events.DataReceived):
                st["data"] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.StreamEnded):
                st["ended"] = True
                st["t_end"] = time.monotonic()
            elif isinstance(ev, h2.events.StreamReset):
                st["reset"] = ev.error_code
                st["ended"] = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.terminated = ev
                for s in self.streams.values():
                    if not s["ended"]:
                        s["reset"] = "GOAWAY"
                        s["ended"] = True

    def wait(self, sids, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while not all(self.streams[s]["ended"] for s in sids):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"HTTP/2 streams {sids} not finished")
            self.sock.settimeout(left)
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("HTTP/2 connection closed by the server")
            self._events(self.conn.receive_data(d))
            self.flush()
        return [self.response(s) for s in sids]

    def response(self, sid):
        st = self.streams[sid]
        assert st["reset"] is None, f"stream {sid} reset: {st['reset']}"
        hdrs = st["headers"] or []
        status = int(dict(hdrs)[":status"])
        return Response("HTTP/2", status, "", [(k, v) for k, v in hdrs if not k.startswith(":")],
                        st["data"], proto="HTTP/2.0")

    def request(self, **kw):
        return self.wait([self.send(**kw)])[0]


# -------------------------------------------------------------------- TLS

def tls_client(ca=None, alpn=None, cert=None, key=None, min_version=None, max_version=None,
               ciphers=None, verify=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify and ca:
        ctx.load_verify_locations(ca)
        ctx.check_hostname = True
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if cert:
        ctx.load_cert_chain(cert, key)
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


# --------------------------------------------------------------- protobuf

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
    """Decodes one protobuf message into a list of (field number, value);
    varints are ints, length-delimited fields bytes."""
    out, i = [], 0
    while i < len(data):
        tag, i = _varint(data, i)
        field, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = _varint(data, i)
        elif wt == 2:
            n, i = _varint(data, i)
            v = data[i:i + n]
            assert len(v) == n, "truncated protobuf"
            i += n
        elif wt == 1:
            v, i = data[i:i + 8], i + 8
        elif wt == 5:
            v, i = data[i:i + 4], i + 4
        else:
            raise AssertionError(f"bad protobuf wire type {wt}")
        out.append((field, v))
    return out


def pb_encode_string(field, s):
    b = s.encode() if isinstance(s, str) else s
    out = bytearray([(field << 3) | 2])
    n = len(b)
    while True:
        if n < 0x80:
            out.append(n)
            break
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(out) + b


def _strings(fields, names):
    d = {n: "" for n in names.values()}
    for f, v in fields:
        if f in names:
            d[names[f]] = v.decode()
    return d


def decode_echo_response(data):
    """EchoResponse (ECHO.md section 3) as a dict:
    {fully_qualified_method, headers: [(k, v)], authority, context: {...},
     tls: None or {...}, has_request: bool}."""
    top = pb_fields(data)
    res = {"fully_qualified_method": "", "headers": [], "authority": "", "context": None,
           "tls": None, "has_request": any(f == 2 for f, _ in top)}
    for f, v in top:
        if f != 1:
            continue
        for af, av in pb_fields(v):
            if af == 1:
                res["fully_qualified_method"] = av.decode()
            elif af == 2:
                h = _strings(pb_fields(av), {1: "key", 2: "value"})
                res["headers"].append((h["key"], h["value"]))
            elif af == 3:
                res["authority"] = av.decode()
            elif af == 4:
                res["context"] = _strings(pb_fields(av), {1: "namespace", 2: "ingress",
                                                          3: "service_name", 4: "pod"})
            elif af == 5:
                tf = pb_fields(av)
                t = _strings(tf, {1: "version", 2: "negotiated_protocol", 3: "server_name",
                                  4: "cipher_suite"})
                t["peer_certificates"] = [x.decode() for n, x in tf if n == 5]
                res["tls"] = t
    return res


def pem_to_der(pem):
    return ssl.PEM_cert_to_DER_cert(pem.strip() + "\n")
