# SPDX-License-Identifier: Apache-2.0
"""The traffic judges of FORMAT.md section 5, as pure functions.

Everything here judges what a client saw (a `Seen` HTTP response, an echo
reply, a TCP-echo exchange, a sample of backends) against the case's
expectations, with no I/O, so test_tjudge.py can pin the rules down.
gwconf/traffic.py does the sending and the retry loops.
"""
import base64
import json
import math
import ssl
from urllib.parse import urlencode, urlsplit

from .judge import PASS, Verdict, fail
from .model import parse_nsname

REDIRECT_CODES = frozenset({300, 301, 302, 303, 304, 305, 307, 308})
TIMEOUT_CODES = frozenset({408, 504})
REQUEST_ID_PARAM = "gateway-api-conformance-request-id"
TCP_WELCOME = "Gateway API Test TCP Server"
GRPC_SERVICE = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho"


class Seen:
    """One HTTP response as the client saw it."""

    def __init__(self, status, headers=(), body=b"", proto="HTTP/1.1", cert_requested=None):
        self.status = status
        self.headers = list(headers)     # [(name, value)] in arrival order
        self.body = body
        self.proto = proto
        self.cert_requested = cert_requested

    def header_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def echo(self):
        """The echo reply (dict), or None when the body is not the echo's JSON.

        Upstream only parses the body when Content-Type is exactly
        application/json."""
        if self.header_all("content-type") != ["application/json"]:
            return None
        try:
            obj = json.loads(self.body)
        except ValueError:
            return None
        return obj if isinstance(obj, dict) else None


# ---- helpers -----------------------------------------------------------------

def status_list(expect):
    st = expect.get("status", 200)
    return [int(s) for s in st] if isinstance(st, list) else [int(st)]


def status_ok(actual, expected):
    if actual in expected:
        return True
    return actual in TIMEOUT_CODES and any(e in TIMEOUT_CODES for e in expected)


def with_query(path, params):
    """Appends params (sorted by key) to path's query."""
    if not params:
        return path
    q = urlencode(sorted((str(k), str(v)) for k, v in params.items()))
    return path + ("&" if "?" in path else "?") + q


def echo_headers(echo):
    """{lower name: joined value} of the echo's `headers`."""
    out = {}
    for k, v in (echo.get("headers") or {}).items():
        vals = v if isinstance(v, list) else [v]
        out[str(k).lower()] = ",".join(str(x) for x in vals)
    return out


def _norm(v, ignore_ws):
    return v.replace(" ", "") if ignore_ws else v


def pod_matches(pod, svc):
    return svc in ("", "*") or str(pod).startswith(svc)


def backend_of_pod(pod):
    """`<deployment>-<rs hash>-<pod hash>` -> deployment."""
    parts = str(pod).split("-")
    return "-".join(parts[:-2]) if len(parts) > 2 else str(pod)


def pem_der(pem):
    try:
        return ssl.PEM_cert_to_DER_cert(pem.strip() + "\n")
    except (ValueError, TypeError):
        return None


def secret_cert_pem(obj):
    """tls.crt of a Secret (base64) or ca.crt of a ConfigMap, as PEM text."""
    if obj is None:
        return None
    if obj.get("kind") == "Secret":
        data = (obj.get("data") or {}).get("tls.crt")
        return base64.b64decode(data).decode() if data else None
    return (obj.get("data") or {}).get("ca.crt")


# ---- http --------------------------------------------------------------------

def expected_backend_request(request, expect, sent_path):
    """The backend request the judge compares with (FORMAT.md section 5, http).

    `sent_path` is the path actually sent (query and request id included).
    Returns a dict with the keys to compare: path, method, host, headers,
    absent_headers, sni, client_cert, http_port.
    """
    br = expect.get("backend_request")
    if br is None:
        out = {"path": sent_path, "method": request.get("method", "GET"),
               "headers": dict(request.get("headers") or {})}
        if request.get("host"):
            out["host"] = request["host"]
        return out
    out = {k: v for k, v in br.items()}
    if "path" not in out:
        out["path"] = sent_path
    else:
        out["path"] = _decorate_path(out["path"], request, sent_path)
    out.setdefault("method", "GET")
    return out


def _decorate_path(path, request, sent_path):
    """What the runner added to the request path (query, fresh uuid, request id)
    is added to an explicit expected path too."""
    base = request.get("path", "/")
    if not sent_path.startswith(base) or sent_path == base:
        return path
    suffix = sent_path[len(base):]
    if suffix[:1] in ("?", "&"):
        suffix = ("&" if "?" in path else "?") + suffix[1:]
    return path + suffix


def judge_http(request, expect, seen, sent_path, scheme="http", resolve=None):
    """CompareRoundTrip: one response against an `http` expectation.

    resolve(ref_text) -> object is used for backend_request.client_cert."""
    want = status_list(expect)
    if not status_ok(seen.status, want):
        extra = ""
        if seen.status in REDIRECT_CODES:
            extra = f" (Location {seen.header_all('location')})"
        return fail(f"status {seen.status}{extra}, expected {want[0] if len(want) == 1 else want}")
    if expect.get("client_cert_requested") and not seen.cert_requested:
        return fail("the server did not ask for a client certificate during the handshake")
    if seen.status in (200, 204):
        return _judge_echo(request, expect, seen, sent_path, resolve)
    if seen.status in REDIRECT_CODES and expect.get("redirect") is not None:
        return judge_redirect(expect["redirect"], seen, scheme, request.get("path", "/"))
    return PASS


def _judge_echo(request, expect, seen, sent_path, resolve):
    echo = seen.echo()
    if expect.get("answered_by_gateway"):
        if echo is not None:
            return fail(f"expected the gateway itself to answer, but backend pod "
                        f"{echo.get('pod')!r} answered")
        return judge_response_headers(expect, seen)
    got = echo or {}
    ns, svc = parse_nsname(expect.get("backend") or "")
    if got.get("namespace", "") != ns:
        if echo is None:
            return fail(f"expected an echo reply from {expect.get('backend')!r}, got a "
                        f"non-echo body (Content-Type {seen.header_all('content-type')}): "
                        f"{seen.body[:120]!r}")
        return fail(f"backend namespace {got.get('namespace')!r}, expected {ns!r} "
                    f"(pod {got.get('pod')!r})")
    if svc != "*" and not pod_matches(got.get("pod", ""), svc):
        return fail(f"served by pod {got.get('pod')!r}, expected a pod of {svc!r}")
    br = expected_backend_request(request, expect, sent_path)
    if got.get("path", "") != br["path"]:
        return fail(f"backend saw path {got.get('path')!r}, expected {br['path']!r}")
    if "method" in br and got.get("method", "") != br["method"]:
        return fail(f"backend saw method {got.get('method')!r}, expected {br['method']!r}")
    if "host" in br and got.get("host", "") != br["host"]:
        return fail(f"backend saw host {got.get('host')!r}, expected {br['host']!r}")
    hdrs = echo_headers(got)
    for k, v in (br.get("headers") or {}).items():
        actual = hdrs.get(str(k).lower())
        if actual is None:
            return fail(f"backend request lacks header {k} (expected {v!r}); has "
                        f"{sorted(hdrs)}")
        if actual != str(v):
            return fail(f"backend request header {k}: {actual!r}, expected {v!r}")
    for k in br.get("absent_headers") or []:
        if str(k).lower() in hdrs:
            return fail(f"backend request header {k} should be absent, is "
                        f"{hdrs[str(k).lower()]!r}")
    tls = got.get("tls") or {}
    if "sni" in br and tls.get("serverName", "") != br["sni"]:
        return fail(f"backend saw SNI {tls.get('serverName')!r}, expected {br['sni']!r}")
    if "http_port" in br and str(got.get("httpPort", "")) != str(br["http_port"]):
        return fail(f"backend httpPort {got.get('httpPort')!r}, expected {br['http_port']!r}")
    if "client_cert" in br:
        pem = secret_cert_pem(resolve(br["client_cert"])) if resolve else None
        want = pem_der(pem) if pem else None
        if want is None:
            return fail(f"cannot read the expected client certificate {br['client_cert']}")
        peers = [pem_der(p) for p in tls.get("peerCertificates") or []]
        if want not in peers:
            return fail(f"backend did not see client certificate {br['client_cert']} "
                        f"({len(peers)} peer certificates)")
    if expect.get("protocol") and seen.proto != expect["protocol"]:
        return fail(f"response protocol {seen.proto}, expected {expect['protocol']}")
    return judge_response_headers(expect, seen)


def judge_response_headers(expect, seen):
    ws = bool(expect.get("ignore_whitespace"))
    for k, v in (expect.get("response_headers") or {}).items():
        vals = seen.header_all(k)
        if not vals:
            return fail(f"response lacks header {k} (expected {v!r})")
        actual = ",".join(vals)
        if _norm(actual, ws) != _norm(str(v), ws):
            return fail(f"response header {k}: {actual!r}, expected {v!r}")
    for k, options in (expect.get("response_headers_one_of") or {}).items():
        vals = seen.header_all(k)
        if not vals:
            return fail(f"response lacks header {k} (expected one of {options})")
        actual = ",".join(vals)
        if not any(_norm(actual, ws) == _norm(str(o), ws) for o in options):
            return fail(f"response header {k}: {actual!r}, expected one of {options}")
    for k in expect.get("absent_response_headers") or []:
        if seen.header_all(k):
            return fail(f"response header {k} should be absent, is {seen.header_all(k)}")
    return PASS


def judge_redirect(want, seen, scheme, req_path):
    locs = seen.header_all("location")
    if not locs:
        return fail(f"redirect {seen.status} without a Location header")
    u = urlsplit(locs[0])
    host = u.hostname or ""
    try:
        port = "" if u.port is None else str(u.port)
    except ValueError:
        return fail(f"Location {locs[0]!r} has a bad port")
    got_scheme = u.scheme or scheme
    exp_scheme = want.get("scheme", scheme)
    if got_scheme != exp_scheme:
        return fail(f"redirect scheme {got_scheme!r} (Location {locs[0]!r}), expected "
                    f"{exp_scheme!r}")
    if "host" in want and host != want["host"]:
        return fail(f"redirect host {host!r} (Location {locs[0]!r}), expected {want['host']!r}")
    exp_path = want.get("path", urlsplit(req_path).path)
    if u.path != exp_path:
        return fail(f"redirect path {u.path!r} (Location {locs[0]!r}), expected {exp_path!r}")
    if "port" in want:
        if port != str(want["port"]):
            return fail(f"redirect port {port!r} (Location {locs[0]!r}), expected "
                        f"{want['port']!r}")
    else:
        ok = {"http": ("", "80"), "https": ("", "443")}.get(exp_scheme, ("",))
        if port not in ok:
            return fail(f"redirect port {port!r} (Location {locs[0]!r}), expected none or "
                        f"{ok[-1]}")
    return PASS


def judge_not_ok_status(status):
    """http_not_ok: 'count' (a non-200 answer other than 408/504), 'reset' or 'fatal'."""
    if status == 200:
        return "fatal"
    if status in TIMEOUT_CODES:
        return "reset"
    return "count"


def judge_repeat_each(expect_each, seen, echo_header_pod=None):
    """http_repeat: status/backend of one reply; backend_header_names_pod rule."""
    want = status_list(expect_each)
    if not status_ok(seen.status, want):
        return fail(f"status {seen.status}, expected {want}")
    echo = seen.echo() or {}
    if expect_each.get("backend"):
        ns, svc = parse_nsname(expect_each["backend"])
        if echo.get("namespace", "") != ns:
            return fail(f"backend namespace {echo.get('namespace')!r}, expected {ns!r}")
        if svc != "*" and not pod_matches(echo.get("pod", ""), svc):
            return fail(f"pod {echo.get('pod')!r}, expected a pod of {svc!r}")
    name = expect_each.get("backend_header_names_pod")
    if name:
        vals = (echo.get("headers") or {})
        vals = next((v for k, v in vals.items() if k.lower() == name.lower()), None)
        vals = vals if isinstance(vals, list) else ([vals] if vals else [])
        if len(vals) != 1:
            return fail(f"echo lists {len(vals)} values for request header {name}: {vals}")
        if not str(echo.get("pod", "")).startswith(vals[0]):
            return fail(f"pod {echo.get('pod')!r} does not start with {name} {vals[0]!r}")
    return PASS


# ---- grpc --------------------------------------------------------------------

def judge_grpc(method, expect, code, reply):
    """code: gRPC status name; reply: decoded EchoResponse dict or None."""
    want = str(expect.get("code", "OK"))
    if code != want:
        return fail(f"gRPC status {code}, expected {want}")
    if code != "OK":
        return PASS
    if reply is None:
        return fail("gRPC OK without a decodable EchoResponse")
    fqm = f"/{GRPC_SERVICE}/{method}"
    if reply.get("fully_qualified_method") != fqm:
        return fail(f"fully_qualified_method {reply.get('fully_qualified_method')!r}, "
                    f"expected {fqm!r}")
    ctx = reply.get("context") or {}
    if expect.get("backend"):
        ns, svc = parse_nsname(expect["backend"])
        if ns and ctx.get("namespace", "") != ns:
            return fail(f"backend namespace {ctx.get('namespace')!r}, expected {ns!r}")
        if svc != "*" and not pod_matches(ctx.get("pod", ""), svc):
            return fail(f"served by pod {ctx.get('pod')!r}, expected a pod of {svc!r}")
    return PASS


# ---- tcp / tls streams -------------------------------------------------------

def judge_tcp_exchange(expect, welcome, pong, is_tls, test_json):
    """The TCP-echo line protocol: welcome, PING, IS_TLS, TEST."""
    if welcome != TCP_WELCOME:
        return fail(f"welcome line {welcome!r}, expected {TCP_WELCOME!r}")
    if pong is not None and pong != "PONG":
        return fail(f"PING answered {pong!r}, expected 'PONG'")
    if "backend_is_tls" in expect and is_tls is not None:
        want = "true" if expect["backend_is_tls"] else "false"
        if is_tls != want:
            return fail(f"IS_TLS answered {is_tls!r}, expected {want!r}")
    return judge_tcp_identity(expect, test_json)


def judge_tcp_identity(expect, test_json):
    try:
        info = json.loads(test_json) if isinstance(test_json, str) else test_json
    except ValueError:
        return fail(f"TEST answered no JSON: {test_json!r:.200}")
    if not isinstance(info, dict):
        return fail(f"TEST answered {info!r:.200}")
    if expect.get("backend"):
        ns, svc = parse_nsname(expect["backend"])
        if info.get("namespace", "") != ns:
            return fail(f"backend namespace {info.get('namespace')!r}, expected {ns!r}")
        if svc != "*" and not str(info.get("pod", "")).startswith(svc + "-"):
            return fail(f"served by pod {info.get('pod')!r}, expected a pod of {svc!r}")
    if expect.get("sni_seen") is not None:
        sni = (info.get("tls") or {}).get("serverName", "")
        if sni != expect["sni_seen"]:
            return fail(f"backend saw SNI {sni!r}, expected {expect['sni_seen']!r}")
    return PASS


# ---- udp ---------------------------------------------------------------------

def judge_udp_reply(expect, data):
    if expect.get("any_reply"):
        return PASS
    try:
        info = json.loads(data)
    except ValueError:
        return fail(f"UDP reply is not JSON: {data[:200]!r}")
    for key in ("service", "namespace"):
        if key in expect and info.get(key, "") != expect[key]:
            return fail(f"UDP reply {key} {info.get(key)!r}, expected {expect[key]!r}")
    if expect.get("backend"):
        ns, svc = parse_nsname(expect["backend"])
        if info.get("namespace", "") != ns or not pod_matches(info.get("pod", ""), svc):
            return fail(f"UDP reply from {info.get('namespace')}/{info.get('pod')}, expected "
                        f"{expect['backend']}")
    return PASS


def dns_reply_ok(query_id, data):
    """Any parsable DNS reply to our question (ID matches, QR set)."""
    if len(data) < 12:
        return fail(f"DNS reply too short ({len(data)} bytes)")
    rid = int.from_bytes(data[0:2], "big")
    if rid != query_id:
        return fail(f"DNS reply id {rid}, expected {query_id}")
    if not data[2] & 0x80:
        return fail("DNS message is not a response (QR clear)")
    return PASS


def dns_query_bytes(query_id, name, qtype="A"):
    types = {"A": 1, "AAAA": 28, "TXT": 16, "SRV": 33, "ANY": 255}
    out = query_id.to_bytes(2, "big") + b"\x01\x00" + b"\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00" + types.get(qtype, 1).to_bytes(2, "big") + b"\x00\x01"


# ---- distributions -------------------------------------------------------------

def judge_weights(expect, counts, errors=()):
    """expect: {backend: weight}; counts: {backend: replies}. Upstream's rules."""
    if errors:
        return fail(f"{len(errors)} request(s) failed, first: {errors[0]}")
    total = sum(counts.values())
    if total == 0:
        return fail("no replies")
    unknown = sorted(b for b in counts if b not in expect)
    if unknown:
        return fail(f"replies from unexpected backends {unknown} (counts {dict(counts)})")
    want_n = sum(1 for w in expect.values() if float(w) > 0)
    got_n = sum(1 for b, n in counts.items() if n > 0)
    if got_n != want_n:
        return fail(f"{got_n} backends got traffic, expected {want_n} (counts {dict(counts)})")
    return PASS


def judge_shares(expect, counts, tolerance, errors=()):
    v = judge_weights(expect, counts, errors)
    if not v.ok:
        return v
    total = sum(counts.values())
    wsum = float(sum(float(w) for w in expect.values())) or 1.0
    for b, w in sorted(expect.items()):
        share = counts.get(b, 0) / total
        frac = float(w) / wsum
        if abs(share - frac) > float(tolerance) + 1e-9:
            return fail(f"{b}: share {share:.3f}, expected {frac:.3f} ± {tolerance} "
                        f"(counts {dict(counts)}, {total} samples)")
    return PASS


def mirror_bounds(n, p, sigmas):
    sd = math.sqrt(n * p * (1 - p))
    return n * p - sigmas * sd, n * p + sigmas * sd


def judge_mirror_count(n, p, sigmas, copies):
    lo, hi = mirror_bounds(n, p, sigmas)
    if copies < lo - 1e-9 or copies > hi + 1e-9:
        return fail(f"mirror got {copies} of {n} requests, expected {n * p:.1f} "
                    f"(within [{lo:.1f}, {hi:.1f}])")
    return PASS


def judge_ws_message(entry, kind, data):
    if "expect_text" in entry:
        want = str(entry["expect_text"]).encode()
    else:
        want = bytes(entry.get("expect_binary") or [])
    if data != want:
        return fail(f"websocket echoed {kind} {data[:80]!r}, expected {want[:80]!r}")
    return PASS


__all__ = ["Seen", "Verdict"]
