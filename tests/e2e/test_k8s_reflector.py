# SPDX-License-Identifier: Apache-2.0
"""The k8s reflector against the kube double (/work/shared/kube): a paged
initial list, watch events, a dropped watch resumed without a relist, a
compaction (410) relisted with the objects deleted meanwhile gone, a
namespace-restricted reflector, and 429/500 answered with a bounded number
of retries. The reflectors run in tests/tools/k8s_reflect, which prints one
line per event; everything stays on 127.0.0.1 and is bounded in time.
"""
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest

KUBE = os.environ.get("GW_KUBE_DOUBLE", "/work/shared/kube")
CRDS = os.path.join(KUBE, "crds", "gateway-api-v1.6.1-experimental.yaml")
DEFAULT_BIN = "/work/main/build-asan/src/cmd/gatehouse"
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")
GROUP = "gateway.networking.k8s.io"


def _tool():
    gh = os.path.abspath(os.environ.get("GATEHOUSE") or DEFAULT_BIN)
    return os.path.normpath(os.path.join(os.path.dirname(gh), "..", "..", "tests", "tools",
                                         "k8s_reflect"))


class Double:
    """The API server double in a temporary state directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gw-kube-")
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen(
            ["python3", os.path.join(KUBE, "apiserver.py"), "--address", "127.0.0.1",
             "--port", "0", "--state-dir", self.dir, "--manifest", CRDS,
             "--bookmark-interval", "1"],
            stdout=self.log, stderr=subprocess.STDOUT)
        url_file = os.path.join(self.dir, "url")
        deadline = time.monotonic() + 20
        while not (os.path.exists(url_file) and os.path.getsize(url_file) > 0):
            assert self.proc.poll() is None, "the kube double exited"
            assert time.monotonic() < deadline, "the kube double did not start"
            time.sleep(0.05)
        self.url = open(url_file).read().strip()
        self.admin = open(os.path.join(self.dir, "admin-token")).read().strip()
        self.control = open(os.path.join(self.dir, "control-token")).read().strip()
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def call(self, method, path, body=None, control=False, ok=(200, 201)):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + (self.control if control else self.admin))
        if data is not None:
            req.add_header("Content-Type", "application/merge-patch+json" if method == "PATCH"
                           else "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as resp:
                code, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            code, raw = e.code, e.read()
        assert code in ok, f"{method} {path}: {code} {raw[:300]!r}"
        return json.loads(raw) if raw else None

    def route_path(self, ns, name=None):
        p = f"/apis/{GROUP}/v1/namespaces/{ns}/httproutes"
        return p + "/" + name if name else p

    def create_route(self, ns, name):
        return self.call("POST", self.route_path(ns), {
            "apiVersion": f"{GROUP}/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"parentRefs": [{"name": "gw"}]}})

    def delete_route(self, ns, name):
        self.call("DELETE", self.route_path(ns, name))

    def create_namespace(self, ns):
        self.call("POST", "/api/v1/namespaces",
                  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    def requests(self, verb, resource="httproutes"):
        counts = self.call("GET", "/_double/requests", control=True)["counts"]
        return sum(n for k, n in counts.items()
                   if k.split(" ")[0] == verb and k.split(" ")[1].split(".")[0] == resource)


class Reflect:
    """tests/tools/k8s_reflect, its stdout read line by line."""

    def __init__(self, double, kinds, args=(), seconds=120):
        tool = _tool()
        if not os.access(tool, os.X_OK):
            pytest.skip(f"{tool} not built")
        self.lines = []
        self.cv = threading.Condition()
        self.err = open(os.path.join(double.dir, "reflect.err"), "w+b")
        self.proc = subprocess.Popen(
            [tool, "--kubeconfig", double.kubeconfig, "--seconds", str(seconds), *args, *kinds],
            stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()

    def wait(self, pred, timeout=15, what="a line"):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                if pred(self.lines):
                    return list(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not self.reader.is_alive():
                    raise AssertionError(f"timed out waiting for {what}; got:\n" +
                                         "\n".join(self.lines[-40:]))
                self.cv.wait(min(left, 0.2))

    def wait_line(self, line, count=1, timeout=15):
        return self.wait(lambda ls: ls.count(line) >= count, timeout, repr(line))

    def wait_prefix(self, prefix, timeout=15):
        return self.wait(lambda ls: any(l.startswith(prefix) for l in ls), timeout, repr(prefix))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=5)
        self.err.seek(0)
        err = self.err.read().decode(errors="replace")
        self.err.close()
        for mark in SANITIZER_MARKS:
            assert mark not in err, err[-4000:]
        assert self.proc.returncode == 0, f"k8s_reflect exited {self.proc.returncode}: {err[-2000:]}"
        return err

    def stats(self, kind):
        for line in self.lines:
            if line.startswith(f"STATS {kind} "):
                return dict(f.split("=") for f in line.split()[2:])
        raise AssertionError(f"no STATS line for {kind}")


def last_list(lines, kind):
    """The ADDED names of kind's last complete list."""
    begin = max(i for i, l in enumerate(lines) if l == f"{kind} LIST_BEGIN")
    end = lines.index(f"{kind} LIST_END", begin)
    return {l.split()[2] for l in lines[begin:end] if l.startswith(f"{kind} ADDED ")}


@pytest.fixture
def double():
    d = Double()
    try:
        yield d
    finally:
        d.stop()


@pytest.mark.deadline(60)
def test_paged_list_then_watch_events(double):
    for i in range(7):
        double.create_route("default", f"r{i}")
    double.call("DELETE", "/_double/requests", control=True)
    r = Reflect(double, ["HTTPRoute", "Namespace"], ["--page-size", "3"])
    try:
        lines = r.wait_line("HTTPRoute LIST_END")
        assert last_list(lines, "HTTPRoute") == {f"default/r{i}" for i in range(7)}
        assert double.requests("list") == 3, "7 objects, pages of 3"
        r.wait_line("Namespace LIST_END")

        double.create_route("default", "late")
        r.wait_prefix("HTTPRoute ADDED default/late ")
        double.call("PATCH", double.route_path("default", "late"),
                    {"metadata": {"labels": {"x": "y"}}})
        r.wait_prefix("HTTPRoute MODIFIED default/late ")
        double.delete_route("default", "r3")
        r.wait_prefix("HTTPRoute DELETED default/r3 ")
        double.create_namespace("later")
        r.wait_prefix("Namespace ADDED later ")
    finally:
        r.stop()
    assert r.stats("HTTPRoute")["relists"] == "0"
    assert r.stats("HTTPRoute")["synced"] == "1"


@pytest.mark.deadline(60)
def test_dropped_watch_resumes_without_relist(double):
    double.create_route("default", "a")
    r = Reflect(double, ["HTTPRoute"])
    try:
        r.wait_line("HTTPRoute LIST_END")
        time.sleep(1.5)  # a bookmark or two move the resume point
        double.call("DELETE", "/_double/requests", control=True)
        double.call("POST", "/_double/watches/drop", control=True)
        double.create_route("default", "b")
        r.wait_prefix("HTTPRoute ADDED default/b ")
        double.call("POST", "/_double/watches/drop?mode=abort", control=True)
        double.create_route("default", "c")
        r.wait_prefix("HTTPRoute ADDED default/c ", timeout=20)
        assert r.lines.count("HTTPRoute LIST_BEGIN") == 1
        assert double.requests("list") == 0, "resumed from the last resourceVersion"
        assert 2 <= double.requests("watch") <= 4
    finally:
        r.stop()
    assert r.stats("HTTPRoute")["relists"] == "0"


@pytest.mark.deadline(90)
def test_compaction_relists_without_deleted_objects(double):
    for name in ("keep", "gone"):
        double.create_route("default", name)
    r = Reflect(double, ["HTTPRoute"])
    try:
        r.wait_line("HTTPRoute LIST_END")
        # Hold the watch down while the world changes, then forget history.
        double.call("POST", "/_double/faults", {"count": -1, "path": "httproutes.*watch=1",
                                                "method": "GET", "code": 500}, control=True)
        double.call("POST", "/_double/watches/drop", control=True)
        time.sleep(0.5)
        double.delete_route("default", "gone")
        double.create_route("default", "new")
        double.call("POST", "/_double/compact", control=True)
        double.call("DELETE", "/_double/faults", control=True)
        lines = r.wait_line("HTTPRoute LIST_END", count=2, timeout=30)
        assert last_list(lines, "HTTPRoute") == {"default/keep", "default/new"}
        assert not any(l.startswith("HTTPRoute DELETED default/gone ") for l in lines)
        double.create_route("default", "after")
        r.wait_prefix("HTTPRoute ADDED default/after ")
    finally:
        r.stop()
    st = r.stats("HTTPRoute")
    assert st["relists"] == "1" and st["lists"] == "2"


@pytest.mark.deadline(60)
def test_namespaces_listed_and_watched_apart(double):
    for ns in ("a", "b", "c"):
        double.create_namespace(ns)
        double.create_route(ns, "r")
    r = Reflect(double, ["HTTPRoute", "GatewayClass"],
                ["--namespace", "a", "--namespace", "b"])
    try:
        lines = r.wait_line("HTTPRoute LIST_END")
        assert last_list(lines, "HTTPRoute") == {"a/r", "b/r"}
        r.wait_line("GatewayClass LIST_END")
        double.create_route("c", "x")
        double.create_route("b", "x")
        r.wait_prefix("HTTPRoute ADDED b/x ")
        # A compaction relists every namespace in one LIST_BEGIN ... LIST_END.
        double.call("POST", "/_double/compact", control=True)
        double.call("POST", "/_double/watches/drop", control=True)
        double.delete_route("a", "r")
        lines = r.wait_line("HTTPRoute LIST_END", count=2, timeout=30)
        assert last_list(lines, "HTTPRoute") == {"b/r", "b/x"}
        assert not any(" c/" in l for l in lines)
    finally:
        r.stop()


@pytest.mark.deadline(60)
def test_faults_back_off_with_bounded_requests(double):
    double.create_route("default", "a")
    double.call("DELETE", "/_double/requests", control=True)
    double.call("POST", "/_double/faults", {"count": 1, "path": "/httproutes\\?limit=",
                                            "method": "GET", "code": 429,
                                            "retryAfterSeconds": 2}, control=True)
    double.call("POST", "/_double/faults", {"count": 2, "path": "/httproutes\\?limit=",
                                            "method": "GET", "code": 500}, control=True)
    start = time.monotonic()
    r = Reflect(double, ["HTTPRoute"])
    try:
        lines = r.wait_line("HTTPRoute LIST_END", timeout=20)
        took = time.monotonic() - start
        # Retry-After 2 s, then 1..2 s and 2..4 s of backoff.
        assert took >= 4.5, f"listed after {took:.1f} s: no backoff"
        assert last_list(lines, "HTTPRoute") == {"default/a"}
        # Failed requests are not counted: the rules being used up shows them.
        assert double.requests("list") == 1
        assert double.call("GET", "/_double/faults", control=True)["faults"] == []

        # Every watch fails for 3 s: a handful of attempts, not a storm.
        double.call("DELETE", "/_double/requests", control=True)
        double.call("POST", "/_double/faults", {"count": 1000, "path": "httproutes.*watch=1",
                                                "method": "GET", "code": 500}, control=True)
        double.call("POST", "/_double/watches/drop", control=True)
        time.sleep(3)
        rules = double.call("GET", "/_double/faults", control=True)["faults"]
        double.call("DELETE", "/_double/faults", control=True)
        failed = 1000 - rules[0]["count"]
        assert 1 <= failed <= 5, f"{failed} failed watch requests in 3 s"
        double.create_route("default", "b")
        r.wait_prefix("HTTPRoute ADDED default/b ", timeout=20)
        assert double.requests("list") == 0, "a failed watch resumes, no relist"
    finally:
        r.stop()


@pytest.mark.deadline(60)
def test_missing_crd_warns_once_and_counts_as_synced(double):
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
    double.call("DELETE", crds + "listenersets." + GROUP, ok=(200, 202))
    double.create_route("default", "a")
    r = Reflect(double, ["ListenerSet", "HTTPRoute"])
    try:
        r.wait_line("HTTPRoute LIST_END")
        # Deleting a watched kind's CRD: its objects go with it.
        double.call("DELETE", crds + "httproutes." + GROUP, ok=(200, 202))
        lines = r.wait_line("HTTPRoute LIST_END", count=2, timeout=20)
        assert last_list(lines, "HTTPRoute") == set()
        time.sleep(1)
    finally:
        err = r.stop()
    # The absent kind's first (empty) list: no object, ever.
    ls = [ln.split()[1] for ln in r.lines if ln.startswith("ListenerSet ")]
    assert ls == ["LIST_BEGIN", "LIST_END"], ls
    st = r.stats("ListenerSet")
    assert st["installed"] == "0" and st["synced"] == "1"
    assert r.stats("HTTPRoute")["installed"] == "0"
    assert err.count("listenersets.gateway.networking.k8s.io is not served") == 1
