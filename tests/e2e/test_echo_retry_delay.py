# SPDX-License-Identifier: Apache-2.0
"""`gatehouse echo`: the `delay=` query parameter (ECHO.md 2.2) and the
retry simulator (2.4), including that a delay never blocks other clients."""
import json
import socket
import threading
import time
import uuid as uuidlib

import pytest

from echoclient import H1, H2Client, get


def _uuid():
    return str(uuidlib.uuid4())


# -------------------------------------------------------------------- delay

@pytest.mark.parametrize("dur,seconds", [("300ms", 0.3), ("0.4s", 0.4), ("1s", 1.0),
                                         ("100ms150ms", 0.25), ("250000us", 0.25)])
def test_delay_waits_at_least_that_long(http_echo, dur, seconds):
    t0 = time.monotonic()
    r = get(http_echo.addr, http_echo.http_port, f"/d?delay={dur}")
    took = time.monotonic() - t0
    assert r.status == 200
    assert r.json()["path"] == f"/d?delay={dur}"
    assert took >= seconds - 0.01, f"delay={dur} answered after {took:.3f} s"
    assert took < seconds + 5, f"delay={dur} took {took:.3f} s"


def test_delay_among_other_query_parameters(http_echo):
    t0 = time.monotonic()
    r = get(http_echo.addr, http_echo.http_port, "/d?a=1&delay=400ms&b=2")
    assert r.status == 200
    assert time.monotonic() - t0 >= 0.39


@pytest.mark.parametrize("q", ["xdelay=5s", "delayx=5s", "a=delay=5s"])
def test_only_the_delay_parameter_delays(http_echo, q):
    t0 = time.monotonic()
    r = get(http_echo.addr, http_echo.http_port, f"/nd?{q}")
    assert r.status == 200
    assert time.monotonic() - t0 < 3.0, f"?{q} must not delay"


def test_zero_delay_answers(http_echo):
    r = get(http_echo.addr, http_echo.http_port, "/d?delay=0s")
    assert r.status == 200


@pytest.mark.parametrize("dur", ["abc", "10", "1x", "ms", "1.2.3s", "-"])
def test_bad_delay_is_500_with_json_message(http_echo, dur):
    r = get(http_echo.addr, http_echo.http_port, f"/d?delay={dur}")
    assert r.status == 500, r
    j = json.loads(r.body)
    assert isinstance(j, dict) and isinstance(j.get("message"), str) and j["message"], j


def test_delay_does_not_block_other_connections(http_echo):
    """While one request sleeps 3 s, other connections are served at once."""
    result = {}

    def slow():
        t0 = time.monotonic()
        result["status"] = get(http_echo.addr, http_echo.http_port, "/slow?delay=3s").status
        result["took"] = time.monotonic() - t0

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.3)  # let the slow request arrive
    try:
        for path in ("/fast", "/health", "/status/204"):
            t0 = time.monotonic()
            r = get(http_echo.addr, http_echo.http_port, path)
            assert r.status in (200, 204)
            assert time.monotonic() - t0 < 2.0, f"{path} was held up by a delayed request"
    finally:
        th.join(10)
    assert result.get("status") == 200 and result["took"] >= 2.99


def test_concurrent_delays_overlap(http_echo):
    """Ten requests with delay=1s on ten connections finish in far less than
    ten seconds (the delays run concurrently)."""
    n, errors = 10, []

    def one(i):
        try:
            r = get(http_echo.addr, http_echo.http_port, f"/c{i}?delay=1s")
            assert r.status == 200
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    took = time.monotonic() - t0
    assert not errors, errors
    assert took < 5.0, f"{n} concurrent 1 s delays took {took:.1f} s"


def test_delay_on_h2_stream_does_not_block_other_streams(http_echo):
    c = H2Client.connect(http_echo.addr, http_echo.h2c_port)
    try:
        slow = c.send(path="/slow?delay=2s")
        fast = [c.send(path=f"/fast{i}") for i in range(5)]
        t0 = time.monotonic()
        got = c.wait(fast, timeout=10)
        assert time.monotonic() - t0 < 1.5, "fast streams waited for the delayed one"
        assert [r.json()["path"] for r in got] == [f"/fast{i}" for i in range(5)]
        assert c.wait([slow], timeout=10)[0].json()["path"] == "/slow?delay=2s"
    finally:
        c.close()


# ------------------------------------------------------------------- retry

def test_retry_uuid_required(http_echo):
    r = get(http_echo.addr, http_echo.http_port, "/retry/x?succeedAfter=1")
    assert r.status == 400
    assert r.body.decode().strip() == "uuid is required"


@pytest.mark.parametrize("q", ["", "&succeedAfter=", "&succeedAfter=abc", "&succeedAfter=1.5"])
def test_retry_succeed_after_required(http_echo, q):
    r = get(http_echo.addr, http_echo.http_port, f"/retry/x?uuid={_uuid()}{q}")
    assert r.status == 400
    assert r.body.decode().strip() == "succeedAfter is required"


def test_retry_with_response_code_then_success(http_echo):
    u = _uuid()
    path = f"/retry/code-500-attempts-3?responseCode=500&succeedAfter=2&uuid={u}"
    with H1(http_echo.addr, http_echo.http_port) as c:
        for _ in range(2):
            r = c.request("GET", path)
            assert r.status == 500
            assert r.body == b""
        for _ in range(2):  # and stays successful
            r = c.request("GET", path)
            assert r.status == 200
            j = r.json()
            assert j["path"] == path
            assert j["pod"] == http_echo.env["POD_NAME"]


@pytest.mark.parametrize("code", [502, 503, 504, 429])
def test_retry_response_codes(http_echo, code):
    u = _uuid()
    path = f"/retry/r?uuid={u}&succeedAfter=1&responseCode={code}"
    assert get(http_echo.addr, http_echo.http_port, path).status == code
    assert get(http_echo.addr, http_echo.http_port, path).status == 200


def test_retry_succeed_after_zero_succeeds_at_once(http_echo):
    r = get(http_echo.addr, http_echo.http_port, f"/retry/z?uuid={_uuid()}&succeedAfter=0")
    assert r.status == 200
    assert r.json()["method"] == "GET"


def _expect_reset(addr, port, path):
    s = socket.create_connection((addr, port), timeout=10)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: example.com\r\n\r\n".encode())
        data = b""
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                data += d
        except ConnectionResetError:
            assert data == b"", f"got bytes before the reset: {data!r}"
            return
        raise AssertionError(f"expected a TCP reset, got {'EOF' if not data else data!r}")
    finally:
        s.close()


def test_retry_without_response_code_resets_connection(http_echo):
    u = _uuid()
    path = f"/retry/reset?uuid={u}&succeedAfter=2"
    _expect_reset(http_echo.addr, http_echo.http_port, path)
    _expect_reset(http_echo.addr, http_echo.http_port, path)
    r = get(http_echo.addr, http_echo.http_port, path)
    assert r.status == 200 and r.json()["path"] == path


def test_retry_counter_is_per_uuid(http_echo):
    a, b = _uuid(), _uuid()
    pa = f"/retry/a?uuid={a}&succeedAfter=2&responseCode=503"
    pb = f"/retry/b?uuid={b}&succeedAfter=1&responseCode=500"
    got = [get(http_echo.addr, http_echo.http_port, p).status for p in (pa, pb, pb, pa, pa)]
    assert got == [503, 500, 200, 503, 200]


def test_retry_counter_shared_across_connections_and_paths(http_echo):
    u = _uuid()
    assert get(http_echo.addr, http_echo.http_port,
               f"/retry/one?uuid={u}&succeedAfter=2&responseCode=500").status == 500
    assert get(http_echo.addr, http_echo.http_port,
               f"/retry/two?succeedAfter=2&responseCode=500&uuid={u}").status == 500
    assert get(http_echo.addr, http_echo.http_port,
               f"/retry/three?uuid={u}&succeedAfter=2&responseCode=500").status == 200


def test_retry_delay_retry_applies_to_failures(http_echo):
    u = _uuid()
    path = f"/retry/d?uuid={u}&succeedAfter=1&responseCode=500&delayRetry=1500ms"
    t0 = time.monotonic()
    assert get(http_echo.addr, http_echo.http_port, path).status == 500
    assert time.monotonic() - t0 >= 1.49
    t0 = time.monotonic()
    assert get(http_echo.addr, http_echo.http_port, path).status == 200
    assert time.monotonic() - t0 < 1.0, "the successful answer must not sleep delayRetry"


def test_retry_success_is_logged(http_echo):
    u = _uuid()
    path = f"/retry/log?uuid={u}&succeedAfter=0"
    with H1(http_echo.addr, http_echo.http_port) as c:
        assert c.request("GET", path).status == 200
        ip, port = c.local()
    http_echo.wait_log(f"Echoing back request made to {path} to client ({ip}:{port})")


def test_retry_over_double_slash_routes_to_simulator(http_echo):
    u = _uuid()
    path = f"//retry//x?uuid={u}&succeedAfter=1&responseCode=503"
    assert get(http_echo.addr, http_echo.http_port, path).status == 503
    r = get(http_echo.addr, http_echo.http_port, path)
    assert r.status == 200 and r.json()["path"] == path


def test_retry_delay_retry_before_reset(http_echo):
    u = _uuid()
    path = f"/retry/dr?uuid={u}&succeedAfter=1&delayRetry=500ms"
    t0 = time.monotonic()
    _expect_reset(http_echo.addr, http_echo.http_port, path)
    assert time.monotonic() - t0 >= 0.49
    assert get(http_echo.addr, http_echo.http_port, path).status == 200


def test_retry_counter_under_concurrency(http_echo):
    """Ten concurrent attempts for one uuid with succeedAfter=5: exactly five
    fail and five succeed (the counter is updated under one lock)."""
    u = _uuid()
    path = f"/retry/conc?uuid={u}&succeedAfter=5&responseCode=500"
    codes, errors = [], []

    def one():
        try:
            codes.append(get(http_echo.addr, http_echo.http_port, path).status)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert not errors, errors
    assert sorted(codes) == [200] * 5 + [500] * 5
