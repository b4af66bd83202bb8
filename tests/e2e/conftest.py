# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the end-to-end tests of `gatehouse echo` (ECHO.md).

* `gatehouse`: path of the binary under test (env GATEHOUSE, default the
  ASan build). If its `--help` does not list `echo` yet, every echo test is
  skipped with a loud reason, unless GW_E2E_REQUIRE_ECHO=1 (then they fail).
* `tls_files`: per-session TLS material made with the openssl CLI: a CA, a
  server certificate for the echo (RSA 2048, PKCS#1 key like the conformance
  fixtures), a client certificate signed by that CA, and a client
  certificate from an unrelated CA.
* `echo`: a factory that starts `gatehouse echo --address 127.a.b.c` on its
  own random loopback address (and random ports checked free on it), waits
  until every port answers, reads stdout live (the request log, ECHO.md 2.5)
  and at teardown sends SIGTERM, asserts exit status 0 within a bounded
  time (else kills) and that stderr holds no sanitizer report.
* Every test runs under a SIGALRM deadline (default 60 s, marker
  `deadline(seconds)`), since pytest-timeout is not installed.
"""
import os
import random
import signal
import socket
import subprocess
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BIN = "/work/main/build-asan/src/cmd/gatehouse"
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:", "ThreadSanitizer", "MemorySanitizer")
STOP_WAIT = 5.0
START_WAIT = 15.0


def pytest_configure(config):
    config.addinivalue_line("markers", "deadline(seconds): per-test time limit (SIGALRM)")


# ------------------------------------------------------------- deadlines

class TestDeadline(Exception):
    pass


@pytest.fixture(autouse=True)
def _deadline(request):
    m = request.node.get_closest_marker("deadline")
    seconds = m.args[0] if m else 60

    def fire(signum, frame):
        raise TestDeadline(f"test exceeded its {seconds} s deadline")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------- binary

def _bin():
    return os.path.abspath(os.environ.get("GATEHOUSE") or DEFAULT_BIN)


@pytest.fixture(scope="session")
def gatehouse():
    path = _bin()
    assert os.access(path, os.X_OK), f"gatehouse binary not found at {path}"
    out = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10)
    listed = any(line.split()[:1] == ["echo"] for line in (out.stdout + out.stderr).splitlines())
    if not listed:
        msg = f"{path} --help does not list the `echo` subcommand yet"
        if os.environ.get("GW_E2E_REQUIRE_ECHO") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


# ------------------------------------------------------------ TLS material

def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(d, name, cn):
    _openssl("genrsa", "-traditional", "-out", f"{name}.key", "2048", cwd=d)
    _openssl("req", "-x509", "-new", "-key", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
             "-subj", f"/CN={cn}/O=gatehouse e2e", "-addext",
             "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", cwd=d)


def _make_leaf(d, name, ca, cn, ext):
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write(ext)
    _openssl("genrsa", "-traditional", "-out", f"{name}.key", "2048", cwd=d)
    _openssl("req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={cn}/O=Acme Co", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-set_serial", str(random.randrange(1 << 40)), "-days", "2",
             "-out", f"{name}.crt", "-extfile", f"{name}.ext", cwd=d)


class TLSFiles:
    def __init__(self, d):
        self.dir = d
        p = lambda n: os.path.join(d, n)  # noqa: E731
        self.ca, self.ca_key = p("ca.crt"), p("ca.key")
        self.server_cert, self.server_key = p("server.crt"), p("server.key")
        self.client_cert, self.client_key = p("client.crt"), p("client.key")
        self.other_ca = p("other-ca.crt")
        self.rogue_cert, self.rogue_key = p("rogue.crt"), p("rogue.key")
        self.server_name = "echo.example.com"

    def pem(self, path):
        with open(path) as f:
            return f.read()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tls"))
    _make_ca(d, "ca", "gatehouse-e2e-ca")
    _make_ca(d, "other-ca", "gatehouse-e2e-unknown-ca")
    _make_leaf(d, "server", "ca", "echo.example.com",
               "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
               "extendedKeyUsage=serverAuth\n"
               "subjectAltName=DNS:echo.example.com,DNS:*.example.com,DNS:abc.example.com,"
               "IP:127.0.0.1\n")
    _make_leaf(d, "client", "ca", "e2e-client",
               "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
               "extendedKeyUsage=clientAuth\n")
    _make_leaf(d, "rogue", "other-ca", "e2e-rogue-client",
               "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
               "extendedKeyUsage=clientAuth\n")
    return TLSFiles(d)


# ---------------------------------------------------------- echo process

def _free_on(addr, port, kind):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_address(tcp_ports=(), udp_ports=()):
    """A random loopback address on which the given ports are free."""
    for _ in range(200):
        addr = f"127.{random.randint(10, 250)}.{random.randint(0, 255)}.{random.randint(2, 254)}"
        if all(_free_on(addr, p, socket.SOCK_STREAM) for p in tcp_ports) and \
                all(_free_on(addr, p, socket.SOCK_DGRAM) for p in udp_ports):
            return addr
    raise RuntimeError("no free loopback address found")


def random_ports(n):
    base = random.randrange(20000, 32000 - n)
    return list(range(base, base + n))


def pod_name(deployment):
    alnum = "bcdfghjklmnpqrstvwxz2456789"
    return (f"{deployment}-{''.join(random.choices(alnum, k=10))}-"
            f"{''.join(random.choices(alnum, k=5))}")


class EchoProcess:
    """One running `gatehouse echo`."""

    def __init__(self, binary, addr, env, tcp_ports, udp_ports, logdir, args=()):
        self.addr = addr
        self.env = env
        self.tcp_ports = tcp_ports
        self.udp_ports = udp_ports
        self.lines = []
        self.cond = threading.Condition()
        self.stderr_path = os.path.join(logdir, f"echo-{addr}-{time.monotonic_ns()}.stderr")
        self._stderr = open(self.stderr_path, "wb")
        self.argv = [binary, "echo", "--address", addr, *args]
        self.proc = subprocess.Popen(self.argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._stderr)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.stopped = False
        self.returncode = None

    # ports by name, from the environment we gave it
    def port(self, name, default):
        return int(self.env.get(name) or default)

    @property
    def http_port(self):
        return self.port("HTTP_PORT", 3000)

    @property
    def h2c_port(self):
        return self.port("H2C_PORT", 3001)

    @property
    def https_port(self):
        return self.port("HTTPS_PORT", 8443)

    @property
    def tcp_port(self):
        return self.port("TCP_PORT", 3000)

    @property
    def tls_port(self):
        return self.port("TLS_PORT", 8443)

    @property
    def udp_port(self):
        return self.port("UDP_PORT", 8080)

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()

    def stderr(self):
        if not self._stderr.closed:
            self._stderr.flush()
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, pred, timeout=5.0):
        """Waits until a stdout line satisfies `pred` (a str: exact line)."""
        test = (lambda ln: ln == pred) if isinstance(pred, str) else pred
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for ln in self.lines:
                    if test(ln):
                        return ln
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no log line matching {pred!r} within {timeout} s; stdout so far: "
                        f"{self.lines[-20:]!r}")
                self.cond.wait(left)

    def wait_ready(self):
        deadline = time.monotonic() + START_WAIT
        pending_tcp = list(self.tcp_ports)
        pending_udp = list(self.udp_ports)
        while pending_tcp or pending_udp:
            if self.proc.poll() is not None:
                raise EarlyExit(self.proc.returncode, self.stderr())
            if time.monotonic() > deadline:
                raise AssertionError(f"echo on {self.addr} did not open ports "
                                     f"{pending_tcp + pending_udp} within {START_WAIT} s; "
                                     f"stderr: {self.stderr()[-2000:]}")
            for p in list(pending_tcp):
                try:
                    socket.create_connection((self.addr, p), timeout=0.5).close()
                    pending_tcp.remove(p)
                except OSError:
                    pass
            for p in list(pending_udp):
                if _udp_bound(self.addr, p):
                    pending_udp.remove(p)
            if pending_tcp or pending_udp:
                time.sleep(0.02)

    def stop(self, wait=STOP_WAIT):
        """SIGTERM; returns (exit code, seconds taken). Kills after `wait`."""
        if self.stopped:
            return self.returncode, 0.0
        self.stopped = True
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            self.returncode = "killed after SIGTERM timeout"
        else:
            self.returncode = self.proc.returncode
        took = time.monotonic() - t0
        self.reader.join(5)
        self._stderr.close()
        return self.returncode, took

    def check_clean(self):
        err = self.stderr()
        for mark in SANITIZER_MARKS:
            assert mark not in err, f"sanitizer report on stderr of {self.argv}:\n{err[-6000:]}"


class EarlyExit(Exception):
    def __init__(self, rc, stderr):
        super().__init__(f"echo exited early with {rc}: {stderr[-3000:]}")
        self.rc, self.stderr = rc, stderr


def _udp_bound(addr, port):
    """True when a UDP socket is bound to addr:port (from /proc/net/udp)."""
    a = socket.inet_aton(addr)
    want = f"{a[::-1].hex().upper()}:{port:04X}"
    try:
        with open("/proc/net/udp") as f:
            return any(want in line.split()[1:2] for line in f)
    except OSError:
        return False


def base_env(**kw):
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "GATEHOUSE_IO")}
    env["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env["UBSAN_OPTIONS"] = os.environ.get("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    env.update({k: str(v) for k, v in kw.items() if v is not None})
    return env


@pytest.fixture
def echo(gatehouse, tls_files, tmp_path):
    """Factory: echo(mode="http"|"grpc"|"tcp"|"udp", tls=..., client_ca=...,
    identity=True, ports="random"|"default", env={...}) -> EchoProcess.
    Stops every started process at teardown and checks it ended cleanly."""
    started = []

    def start(mode="http", tls=False, client_ca=False, identity=True, ports="random", env=None,
              expect_tcp=None, expect_udp=None):
        for attempt in range(5):
            kw = {}
            if identity:
                kw.update(POD_NAME=pod_name("infra-backend-v1"),
                          NAMESPACE="gateway-conformance-infra",
                          SERVICE_NAME="infra-backend-v1", INGRESS_NAME="e2e-ingress")
            tcp, udp = [], []
            if mode == "http":
                p = random_ports(3) if ports == "random" else [3000, 3001, 8443]
                if ports == "random":
                    kw.update(HTTP_PORT=p[0], H2C_PORT=p[1], HTTPS_PORT=p[2])
                tcp = p[:2] + ([p[2]] if tls else [])
                if tls:
                    kw.update(TLS_SERVER_CERT=tls_files.server_cert,
                              TLS_SERVER_PRIVKEY=tls_files.server_key)
                if client_ca:
                    kw.update(TLS_CLIENT_CACERTS=tls_files.ca)
            elif mode == "grpc":
                p = random_ports(2) if ports == "random" else [3000, 8443]
                kw["GRPC_ECHO_SERVER"] = "1"
                if ports == "random":
                    kw.update(HTTP_PORT=p[0], HTTPS_PORT=p[1])
                tcp = p[:1] + ([p[1]] if tls else [])
                if tls:
                    kw.update(TLS_SERVER_CERT=tls_files.server_cert,
                              TLS_SERVER_PRIV_KEY=tls_files.server_key)
            elif mode == "tcp":
                p = random_ports(2) if ports == "random" else [3000, 8443]
                kw["TCP_ECHO_SERVER"] = "1"
                if ports == "random":
                    kw.update(TCP_PORT=p[0], TLS_PORT=p[1])
                tcp = p[:1] + ([p[1]] if tls else [])
                if tls:
                    kw.update(TLS_SERVER_CERT=tls_files.server_cert,
                              TLS_SERVER_PRIV_KEY=tls_files.server_key)
            elif mode == "udp":
                p = random_ports(1) if ports == "random" else [8080]
                kw["UDP_ECHO_SERVER"] = "1"
                if ports == "random":
                    kw["UDP_PORT"] = p[0]
                udp = p
            else:
                raise ValueError(mode)
            kw.update(env or {})
            if expect_tcp is not None:
                tcp = expect_tcp
            if expect_udp is not None:
                udp = expect_udp
            addr = pick_address(tcp, udp)
            proc = EchoProcess(gatehouse, addr, base_env(**kw), tcp, udp, str(tmp_path))
            started.append(proc)
            try:
                proc.wait_ready()
                return proc
            except EarlyExit as exc:
                # a port may have been taken between our check and its bind
                proc.stop()
                started.remove(proc)
                if attempt == 4 or "in use" not in exc.stderr.lower():
                    raise
        raise AssertionError("unreachable")

    yield start
    problems = []
    for proc in started:
        rc, took = proc.stop()
        if rc != 0:
            problems.append(f"{proc.argv} on {proc.addr}: exit {rc!r} after SIGTERM "
                            f"({took:.1f} s); stderr: {proc.stderr()[-3000:]}")
        try:
            proc.check_clean()
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)


@pytest.fixture
def http_echo(echo):
    """The usual HTTP-mode echo: HTTP + h2c + HTTPS (no client CA)."""
    return echo("http", tls=True)
