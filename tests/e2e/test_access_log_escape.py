# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run --access-log json|text`: whatever bytes a client sends,
every line is one valid line.

The parsers refuse a request line or field holding bytes 0x80-0xff or
control characters (400); the access log then shows the refused request
line as received (method, and target up to the next space). JSON strings
hold one code point per byte (printable ASCII as is, '"' and '\\'
backslashed, every other byte as \\u00XX), so `json.loads(line)["path"]
.encode("latin-1")` gives back the bytes sent; the text format writes those
bytes as \\xHH. docs/observability.md documents both."""
import json
import time

import pytest

from gateway import backend, gatehouse_run, httproute, prefix, stack  # noqa: F401

HIGH = bytes(range(0x80, 0x100))
# every control byte a request line can hold (CR and LF end it), and DEL
CONTROLS = bytes(c for c in range(0x01, 0x20) if c not in (0x0a, 0x0d)) + b"\x7f"


def up(st, mode):
    st.backend("a")
    st.up([httproute("r", rules=[{"matches": [prefix("/")], "backendRefs": [backend("a")]}])],
          args=["--access-log", mode])


def raw_lines(st, marker, n, timeout=5.0):
    """stdout lines (bytes) holding marker, once n of them are there."""
    deadline = time.monotonic() + timeout
    while True:
        with open(st.gw.stdout_path, "rb") as f:
            lines = [ln for ln in f.read().split(b"\n") if marker in ln]
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def send(st, head):
    data, _ = st.raw(head, timeout=5)
    return data


def clean(line):
    """Only printable ASCII: no byte a terminal or a JSON reader trips on."""
    return all(0x20 <= c < 0x7f for c in line)


@pytest.mark.deadline(60)
def test_json_log_escapes_every_byte(stack):
    up(stack, "json")
    sent = {
        b"/mk-high-" + HIGH: b"GET",
        b"/mk-ctl-" + CONTROLS: b"GET",
        b'/mk-quote-"\\-%00': b"GET",
        b"/mk-method": b"G\x80\x01T",
    }
    for target, method in sent.items():
        resp = send(stack, method + b" " + target + b" HTTP/1.1\r\nHost: gw.test\r\n"
                    b"Connection: close\r\n\r\n")
        assert resp.startswith(b"HTTP/1.1 400 "), resp[:100]
    # A valid request line, bytes the parser refuses in a field.
    resp = send(stack, b"GET /mk-field HTTP/1.1\r\nHost: gw.test\xc3\xa9\x01\r\n"
                b"Connection: close\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 400 "), resp[:100]
    # Accepted: obs-text in a field value (not logged) and a plain request.
    resp = send(stack, b"GET /mk-ok HTTP/1.1\r\nHost: gw.test\r\nX-Obs: a\x80\xff\tb\r\n"
                b"Connection: close\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 200 "), resp[:100]

    lines = raw_lines(stack, b"/mk-", len(sent) + 2)
    assert len(lines) == len(sent) + 2, stack.gw.stdout()[-3000:]
    got = {}
    for ln in lines:
        assert clean(ln), ln
        e = json.loads(ln)
        got[e["path"].encode("latin-1")] = e
    for target, method in sent.items():
        e = got.get(target)
        assert e is not None, (target, sorted(got))
        assert e["method"].encode("latin-1") == method, e
        assert e["status"] == 400 and e["local"] is True and e["host"] == "", e
        assert 0 <= e["duration_ms"] < 60000, e
    # one \u00XX escape per byte, lower-case hex, nothing else
    hi = next(ln for ln in lines if b"mk-high" in ln)
    assert b"".join(b"\\u00%02x" % c for c in HIGH) in hi, hi
    assert b'"path":"/mk-quote-\\"\\\\-%00"' in next(ln for ln in lines if b"mk-quote" in ln)
    assert got[b"/mk-field"]["method"] == "GET" and got[b"/mk-field"]["status"] == 400
    assert got[b"/mk-ok"]["status"] == 200 and got[b"/mk-ok"]["host"] == "gw.test"


@pytest.mark.deadline(60)
def test_text_log_escapes_every_byte(stack):
    up(stack, "text")
    target = b"/mk-text-" + HIGH[:4] + CONTROLS[:3] + b'"\\'
    resp = send(stack, b"GE\xffT " + target + b" HTTP/1.1\r\nHost: gw.test\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 400 "), resp[:100]
    resp = send(stack, b"GET /mk-text-ok HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 200 "), resp[:100]
    lines = raw_lines(stack, b"/mk-text", 2)
    assert len(lines) == 2, stack.gw.stdout()[-3000:]
    bad = next(ln for ln in lines if b"mk-text-ok" not in ln)
    assert clean(bad), bad
    assert (b' "GE\\xffT /mk-text-\\x80\\x81\\x82\\x83\\x01\\x02\\x03\\x22\\x5c" 400 ' in bad), bad
    ok = next(ln for ln in lines if b"mk-text-ok" in ln)
    assert b' "GET /mk-text-ok" 200 ' in ok and b" host=gw.test " in ok, ok
