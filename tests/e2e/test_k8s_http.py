# SPDX-License-Identifier: Apache-2.0
"""The k8s API client (src/k8s/http.c, config.c) against the API server double.

Runs tests/tools/k8s_probe (found next to the gatehouse binary's build
directory, or at env K8S_PROBE) against /work/shared/kube/apiserver.py on
127.0.0.1: a buffered GET (/version, a 404 Status), a wrong token (401), a
streamed watch delivering ADDED events, in-cluster configuration, a leaf
certificate as the trust anchor (Go semantics), an unrelated CA refused, a
429 with Retry-After, and cancelling one watch from another's data callback.
"""
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

import pytest

DOUBLE = os.environ.get("KUBE_DOUBLE", "/work/shared/kube/apiserver.py")
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")


def _probe_path():
    p = os.environ.get("K8S_PROBE")
    if not p:
        gh = os.path.abspath(os.environ.get("GATEHOUSE") or
                             "/work/main/build-asan/src/cmd/gatehouse")
        p = os.path.join(os.path.dirname(gh), "..", "..", "tests", "tools", "k8s_probe")
    return os.path.abspath(p)


@pytest.fixture(scope="module")
def probe():
    p = _probe_path()
    if not os.access(p, os.X_OK):
        pytest.skip(f"k8s_probe not built at {p}")
    return p


@pytest.fixture(scope="module")
def double(tmp_path_factory):
    if not os.path.exists(DOUBLE):
        pytest.skip(f"API server double not found at {DOUBLE}")
    d = tmp_path_factory.mktemp("kube")
    state, sa = d / "state", d / "sa"
    proc = subprocess.Popen([sys.executable, DOUBLE, "--address", "127.0.0.1", "--port", "0",
                             "--state-dir", str(state), "--incluster-dir", str(sa)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (state / "url").exists():
            assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
            assert time.monotonic() < deadline, "API server double did not start"
            time.sleep(0.1)
        time.sleep(0.1)  # the url file is written last; give it a moment to be whole
        yield {"url": (state / "url").read_text().strip(), "state": state, "sa": sa}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def run(probe, *args, env=None, timeout=30):
    e = dict(os.environ)
    e.update(env or {})
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    r = subprocess.run([probe, *args], capture_output=True, text=True, timeout=timeout, env=e)
    for mark in SANITIZER_MARKS:
        assert mark not in r.stderr, r.stderr
    assert r.returncode == 0, f"rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def lines(out, prefix):
    return [ln for ln in out.splitlines() if ln.startswith(prefix)]


def control(double, method, path, body=None):
    tok = (double["state"] / "control-token").read_text().strip()
    ctx = ssl.create_default_context(cafile=str(double["state"] / "ca.crt"))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(double["url"] + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {tok}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        return resp.read()


def test_get_version_and_404(probe, double):
    kc = str(double["state"] / "kubeconfig")
    out = run(probe, "--kubeconfig", kc, "--get", "/version", "--get",
              "/api/v1/namespaces/does-not-exist")
    assert f"CONFIG server={double['url']}" in out
    assert "GET /version code=200 err=0" in out, out
    body = lines(out, "BODY ")[0][5:]
    assert json.loads(body)["major"] == "1"
    assert "GET /api/v1/namespaces/does-not-exist code=404 err=0" in out, out
    assert '"reason":"NotFound"' in out
    assert "STATS in_flight=0 200=1" in out


def test_wrong_token_401(probe, double):
    kc = str(double["state"] / "kubeconfig")
    out = run(probe, "--kubeconfig", kc, "--token", "wrong", "--get", "/api/v1/namespaces",
              "--watch", "/api/v1/namespaces?watch=1&timeoutSeconds=2")
    assert "GET /api/v1/namespaces code=401 err=0" in out, out
    # A streamed request that fails gives the Status body in done, no chunks.
    assert "WATCH /api/v1/namespaces?watch=1&timeoutSeconds=2 code=401 err=0" in out, out
    assert not lines(out, "CHUNK ")
    assert "Unauthorized" in out


def test_watch_streams_added(probe, double):
    kc = str(double["state"] / "kubeconfig")
    t0 = time.monotonic()
    out = run(probe, "--kubeconfig", kc, "--watch",
              "/api/v1/namespaces?watch=1&timeoutSeconds=2")
    chunks = "".join(ln.split(": ", 1)[1] for ln in lines(out, "CHUNK "))
    assert chunks.count('"type":"ADDED"') >= 4, out
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert f'"name":"{ns}"' in chunks
    assert "WATCH /api/v1/namespaces?watch=1&timeoutSeconds=2 code=200 err=0" in out, out
    assert time.monotonic() - t0 < 20


def test_incluster(probe, double):
    port = (double["state"] / "port").read_text().strip()
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}
    out = run(probe, "--incluster-dir", str(double["sa"]), "--get", "/api/v1/namespaces/default",
              env=env)
    assert f"CONFIG server=https://127.0.0.1:{port}" in out
    assert "GET /api/v1/namespaces/default code=200 err=0" in out, out


def test_incluster_missing_env(probe, double):
    env = {"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": ""}
    out = run(probe, "--incluster-dir", str(double["sa"]), "--get", "/version", env=env)
    assert "CONFIG error" in out and "KUBERNETES_SERVICE_HOST" in out, out


def test_leaf_as_trust_anchor(probe, double):
    kc = str(double["state"] / "kubeconfig")
    out = run(probe, "--kubeconfig", kc, "--ca", str(double["state"] / "apiserver.crt"),
              "--get", "/version")
    assert "GET /version code=200 err=0" in out, out


def test_unrelated_ca_refused(probe, double, tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(tmp_path / "o.key"),
                    "-out", str(tmp_path / "o.crt"), "-days", "1", "-subj", "/CN=other"],
                   check=True, capture_output=True, timeout=30)
    kc = str(double["state"] / "kubeconfig")
    out = run(probe, "--kubeconfig", kc, "--ca", str(tmp_path / "o.crt"), "--get", "/version")
    assert "GET /version code=0 err=-1008" in out, out  # GW_ETLS
    assert "STATS in_flight=0 200=0 401=0 0=1" in out


def test_retry_after(probe, double):
    control(double, "POST", "/_double/faults",
            {"count": 1, "path": "^/api/v1/namespaces/kube-system$", "method": "GET",
             "code": 429, "retryAfterSeconds": 7})
    try:
        kc = str(double["state"] / "kubeconfig")
        out = run(probe, "--kubeconfig", kc, "--get", "/api/v1/namespaces/kube-system")
        assert "code=429 err=0" in out and "retry_after=7" in out, out
    finally:
        control(double, "DELETE", "/_double/faults")


def test_cancel_from_data_callback(probe, double):
    kc = str(double["state"] / "kubeconfig")
    out = run(probe, "--kubeconfig", kc, "--cancel-test",
              "--watch", "/api/v1/namespaces?watch=1&timeoutSeconds=2",
              "--watch", "/api/v1/namespaces?watch=1&timeoutSeconds=8")
    assert "CANCELLED second watch" in out, out
    assert "GET /version code=200 err=0" in out, out
    assert "WATCH /api/v1/namespaces?watch=1&timeoutSeconds=8" not in out
    assert "WATCH /api/v1/namespaces?watch=1&timeoutSeconds=2 code=200 err=0" in out
    assert "STATS in_flight=0" in out


def test_token_file_rotation(probe, double, tmp_path):
    sa = tmp_path / "sa"
    sa.mkdir()
    for name in ("token", "ca.crt", "namespace"):
        (sa / name).write_bytes((double["sa"] / name).read_bytes())
    port = (double["state"] / "port").read_text().strip()
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}
    out = run(probe, "--incluster-dir", str(sa), "--rotate-token", "rotated-but-wrong",
              "--get", "/api/v1/namespaces/default", env=env)
    got = lines(out, "GET /api/v1/namespaces/default ")
    assert "ROTATED token file" in out, out
    assert len(got) == 2 and "code=200" in got[0] and "code=401" in got[1], out


def test_http2_multiplexed(probe, double, tmp_path):
    """gatehouse echo offers h2: every request on one connection."""
    import socket
    gh = os.path.abspath(os.environ.get("GATEHOUSE") or "/work/main/build-asan/src/cmd/gatehouse")
    if not os.access(gh, os.X_OK):
        pytest.skip(f"gatehouse binary not found at {gh}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, HTTP_PORT="0", H2C_PORT="0", HTTPS_PORT=str(port),
               TLS_SERVER_CERT=str(double["state"] / "apiserver.crt"),
               TLS_SERVER_PRIVKEY=str(double["state"] / "apiserver.key"))
    echo = subprocess.Popen([gh, "echo", "--address", "127.0.0.1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "echo did not start"
                time.sleep(0.1)
        kc = (double["state"] / "kubeconfig").read_text()
        kc = "\n".join(f"    server: https://127.0.0.1:{port}" if ln.strip().startswith("server:")
                       else ln for ln in kc.splitlines()) + "\n"
        (tmp_path / "kc").write_text(kc)
        out = run(probe, "--kubeconfig", str(tmp_path / "kc"), "--get", "/a", "--get", "/b",
                  "--get", "/c")
        assert out.count('"proto": "HTTP/2.0"') == 3, out
        assert out.count('"negotiatedProtocol": "h2"') == 3
    finally:
        echo.send_signal(signal.SIGTERM)
        try:
            log, _ = echo.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            echo.kill()
            log, _ = echo.communicate(timeout=5)
    clients = {ln.rsplit("(", 1)[1] for ln in log.splitlines() if "client (" in ln}
    assert len(clients) == 1, log
