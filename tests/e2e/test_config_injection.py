# SPDX-License-Identifier: Apache-2.0
"""Control characters in configuration (docs/hardening.md): header values,
header names, paths, hostnames and CORS fields carrying CR, LF, NUL or other
control characters are refused at decode.

* `gatehouse check` on a file with one injection exits 1 with the
  `file:line:col: Kind ns/name: field.path: Invalid value: ...` line;
* `gatehouse run` serving a good route keeps serving it when a file with
  a bad route is added; the bad route is left out (404)."""
import os
import re
import subprocess
import time

import pytest

from gateway import (backend, exact, gatehouse_run, httproute, running_stack)  # noqa: F401

DIAG = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<kind>\w+) "
                  r"(?P<ns>[^/ ]*)/(?P<name>\S+): (?P<path>\S+): (?P<msg>.*)$")

HEAD = """apiVersion: gateway.networking.k8s.io/v1
kind: {kind}
metadata:
  name: r
  namespace: ns
spec:
  parentRefs:
  - name: gw
  rules:
"""

# (case id, kind, rule body (YAML, indented for `rules:`; the bad value is
#  its one double-quoted scalar), the field path, the line and column of the
#  bad value (checked against where the quote is), a piece of the message)
CTL = "must not contain control characters"
CASES = [
    ("req-set-value-crlf", "HTTPRoute", """\
  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set:
        - name: X-A
          value: "a\\r\\nTransfer-Encoding: chunked"
""", "spec.rules[0].filters[0].requestHeaderModifier.set[0].value", 15, 18, CTL),
    ("req-add-value-lf", "HTTPRoute", """\
  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        add:
        - name: X-A
          value: "a\\nb"
""", "spec.rules[0].filters[0].requestHeaderModifier.add[0].value", 15, 18, CTL),
    ("resp-set-value-cr", "HTTPRoute", """\
  - filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set:
        - name: X-A
          value: "a\\rSet-Cookie: s=1"
""", "spec.rules[0].filters[0].responseHeaderModifier.set[0].value", 15, 18, CTL),
    ("resp-add-value-del", "HTTPRoute", """\
  - filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        add:
        - name: X-A
          value: "a\\x7fb"
""", "spec.rules[0].filters[0].responseHeaderModifier.add[0].value", 15, 18, CTL),
    ("remove-name-space", "HTTPRoute", """\
  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        remove: ["X-A B"]
""", "spec.rules[0].filters[0].requestHeaderModifier.remove[0]", 13, 18, "should match"),
    ("set-name-colon", "HTTPRoute", """\
  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set:
        - name: "X-A: b"
          value: v
""", "spec.rules[0].filters[0].requestHeaderModifier.set[0].name", 14, 17, "should match"),
    ("rewrite-full-path-crlf", "HTTPRoute", """\
  - filters:
    - type: URLRewrite
      urlRewrite:
        path:
          type: ReplaceFullPath
          replaceFullPath: "/a HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /b"
""", "spec.rules[0].filters[0].urlRewrite.path.replaceFullPath", 15, 28, CTL),
    ("redirect-prefix-crlf", "HTTPRoute", """\
  - matches:
    - path:
        type: PathPrefix
        value: /p
    filters:
    - type: RequestRedirect
      requestRedirect:
        path:
          type: ReplacePrefixMatch
          replacePrefixMatch: "/x\\r\\nSet-Cookie: s=1"
""", "spec.rules[0].filters[0].requestRedirect.path.replacePrefixMatch", 19, 31, CTL),
    ("redirect-hostname-crlf", "HTTPRoute", """\
  - filters:
    - type: RequestRedirect
      requestRedirect:
        hostname: "h.test\\r\\nSet-Cookie: s=1"
""", "spec.rules[0].filters[0].requestRedirect.hostname", 13, 19, "should match"),
    ("rewrite-hostname-nul-like", "HTTPRoute", """\
  - filters:
    - type: URLRewrite
      urlRewrite:
        hostname: "h.test\\tx"
""", "spec.rules[0].filters[0].urlRewrite.hostname", 13, 19, "should match"),
    ("match-path-regex-lf", "HTTPRoute", """\
  - matches:
    - path:
        type: RegularExpression
        value: "/a\\nb"
""", "spec.rules[0].matches[0].path.value", 13, 16, CTL),
    ("match-path-exact-cr", "HTTPRoute", """\
  - matches:
    - path:
        type: Exact
        value: "/a\\rb"
""", "spec.rules[0].matches[0].path.value", 13, 16, CTL),
    ("match-header-value-lf", "HTTPRoute", """\
  - matches:
    - headers:
      - name: X-A
        value: "a\\nb"
""", "spec.rules[0].matches[0].headers[0].value", 13, 16, CTL),
    ("match-header-name-bad", "HTTPRoute", """\
  - matches:
    - headers:
      - name: "X(A)"
        value: a
""", "spec.rules[0].matches[0].headers[0].name", 12, 15, "should match"),
    ("cors-origin-crlf", "HTTPRoute", """\
  - filters:
    - type: CORS
      cors:
        allowOrigins: ["https://a.test\\r\\nX: y"]
""", "spec.rules[0].filters[0].cors.allowOrigins[0]", 13, 24, CTL),
    ("cors-expose-header-lf", "HTTPRoute", """\
  - filters:
    - type: CORS
      cors:
        exposeHeaders: ["X-A\\nX-B"]
""", "spec.rules[0].filters[0].cors.exposeHeaders[0]", 13, 25, "should match"),
    ("backend-filter-value-crlf", "HTTPRoute", """\
  - backendRefs:
    - name: svc
      port: 80
      filters:
      - type: RequestHeaderModifier
        requestHeaderModifier:
          set:
          - name: X-A
            value: "a\\r\\nb"
""", "spec.rules[0].backendRefs[0].filters[0].requestHeaderModifier.set[0].value", 18, 20,
     CTL),
    ("grpc-header-value-crlf", "GRPCRoute", """\
  - filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        add:
        - name: X-A
          value: "a\\r\\nb"
""", "spec.rules[0].filters[0].responseHeaderModifier.add[0].value", 15, 18, CTL),
    ("grpc-match-header-cr", "GRPCRoute", """\
  - matches:
    - headers:
      - name: x-a
        value: "a\\rb"
""", "spec.rules[0].matches[0].headers[0].value", 13, 16, CTL),
]


def check(binary, *args):
    p = subprocess.run([binary, "check", *args], capture_output=True, text=True, timeout=60)
    for mark in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert mark not in p.stderr, p.stderr[-4000:]
    return p


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_check_rejects_injection(gatehouse, tmp_path, case):
    cid, kind, body, field, line, col, piece = case
    text = HEAD.format(kind=kind) + body
    at = text.index('"')
    where = (text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at))
    assert where == (line, col), f"case table out of date: value at {where}"
    f = tmp_path / f"{cid}.yaml"
    f.write_text(text)
    p = check(gatehouse, "-f", str(f))
    assert p.returncode == 1, f"exit {p.returncode}\n{p.stdout}{p.stderr}"
    lines = [m for m in (DIAG.match(ln) for ln in (p.stdout + p.stderr).splitlines()) if m]
    assert len(lines) == 1, p.stdout + p.stderr
    m = lines[0]
    assert os.path.basename(m["file"]) == f.name
    assert (m["kind"], m["ns"], m["name"], m["path"]) == (kind, "ns", "r", field), m.group(0)
    assert (int(m["line"]), int(m["col"])) == (line, col), m.group(0)
    assert m["msg"].startswith("Invalid value: "), m.group(0)
    assert piece in m["msg"], m.group(0)
    # The diagnostic quotes the value escaped: no raw control byte in the output.
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", p.stdout + p.stderr)


def test_check_accepts_htab_and_obs_text(gatehouse, tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text(HEAD.format(kind="HTTPRoute") + """\
  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set:
        - name: X-A
          value: "a\\tb \\u00e9t\\u00e9"
        add:
        - name: "X-B!#$%&'*+-.^_`|~"
          value: "x"
""")
    p = check(gatehouse, "-f", str(f))
    assert p.returncode == 0, p.stdout + p.stderr


def bad_route():
    r = httproute("bad", hostnames=["bad.test"], rules=[{
        "matches": [exact("/")],
        "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {
            "set": [{"name": "X-A", "value": "a\r\nTransfer-Encoding: chunked"}]}}],
        "backendRefs": [backend("v1")]}])
    return r


def test_run_keeps_serving_and_leaves_bad_route_out(gatehouse_run, tmp_path):
    with running_stack(gatehouse_run, str(tmp_path)) as st:
        st.backend("v1")
        good = httproute("good", hostnames=["good.test"], rules=[
            {"matches": [exact("/")], "backendRefs": [backend("v1")]}])
        st.up([good])
        assert st.request("/", host="good.test").status == 200
        st.write("bad.yaml", [bad_route()])
        # Wait until the reload has looked at bad.yaml (its error shows in /status).
        deadline = time.monotonic() + 10
        seen = ""
        while time.monotonic() < deadline:
            try:
                _, body, _ = st.gw.admin("/status")
                seen = body.decode("utf-8", "replace")
            except (OSError, EOFError, AssertionError):
                seen = ""
            if re.search(r"bad\.yaml:\d+:\d+", seen) or re.search(
                    r"bad\.yaml:\d+:\d+", st.gw.logs()):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"bad.yaml's error never shown: {seen[-2000:]}")
        assert CTL in seen or CTL in st.gw.logs()
        for _ in range(5):
            assert st.request("/", host="good.test").status == 200
            assert st.request("/", host="bad.test").status == 404
        st.remove("bad.yaml")
        assert st.request("/", host="good.test").status == 200
