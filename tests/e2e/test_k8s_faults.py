# SPDX-License-Identifier: Apache-2.0
"""Kubernetes mode under faults of the API server (the double's control API):
dropped watches, compacted history, a paused server, bursts of 500 and 429,
a rotated TLS Secret, and a leader SIGKILLed with two replicas serving.
Traffic keeps flowing on the last configuration throughout."""
import base64
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from gateway import NS, backend, exact, gatehouse_run, httproute, listener, prefix  # noqa: F401
from echoclient import H1
from kube import condition, wait_for
from test_k8s_mode import accepted_route, have_double, kstack  # noqa: F401

pytestmark = pytest.mark.skipif(not have_double(), reason="../shared/kube is not beside the repo")


class Traffic:
    """A client hammering one path on a keep-alive connection (reconnecting
    on error) until stopped; counts answers by status and errors."""

    def __init__(self, stack, path):
        self.stack, self.path = stack, path
        self.codes, self.errors = {}, []
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        c = None
        while not self.stop_ev.is_set():
            try:
                if c is None:
                    c = H1(self.stack.addr, self.stack.port, timeout=3.0)
                    c.__enter__()
                r = c.request("GET", self.path, host="example.com")
                self.codes[r.status] = self.codes.get(r.status, 0) + 1
            except (OSError, EOFError, AssertionError) as exc:
                self.errors.append(repr(exc))
                c = None
            time.sleep(0.005)

    def stop(self):
        self.stop_ev.set()
        self.t.join(10)
        return self.codes, self.errors


def lists_of(kstack, resource="httproutes.gateway.networking.k8s.io"):
    counts = kstack.kube.counts()
    by = counts.get("counts", counts)
    return sum(v for k, v in by.items() if isinstance(v, int) and k.startswith("list ")
               and k.split(" ", 1)[1] == resource)


def base_with_route(kstack):
    kstack.backend("web")
    kstack.backend("other")
    kstack.base()
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))


@pytest.mark.deadline(90)
def test_dropped_watches_resume_without_a_relist(kstack):
    base_with_route(kstack)
    kstack.start_k8s()
    kstack.served_by("/", "web")
    traffic = Traffic(kstack, "/")
    lists = lists_of(kstack)
    for mode in ("clean", "abort"):
        kstack.kube.control("POST", "watches/drop" + ("?mode=abort" if mode == "abort" else ""))
        name = f"after-{mode}"
        kstack.put(httproute(name, [{"matches": [exact("/" + name)],
                                     "backendRefs": [backend("other")]}]))
        kstack.served_by("/" + name, "other")
    codes, errors = traffic.stop()
    assert lists_of(kstack) == lists, "a dropped watch relisted"
    assert set(codes) == {200} and not errors, (codes, errors[:3])


@pytest.mark.deadline(90)
def test_compacted_history_relists_nothing_lost_nothing_duplicated(kstack):
    base_with_route(kstack)
    kstack.put(httproute("doomed", [{"matches": [exact("/doomed")],
                                     "backendRefs": [backend("other")]}]))
    gw = kstack.start_k8s()
    kstack.served_by("/doomed", "other")
    traffic = Traffic(kstack, "/")
    # Keep the watches down while the objects change and history goes.
    kstack.kube.control("POST", "faults", {"count": -1, "path": "watch=", "code": 500})
    kstack.kube.control("POST", "watches/drop?mode=abort")
    kstack.kube.delete("HTTPRoute", "doomed", NS)
    kstack.put(httproute("born", [{"matches": [exact("/born")],
                                   "backendRefs": [backend("other")]}]))
    kstack.kube.control("POST", "compact")
    relists = gw.metrics()['gatehouse_kube_relists_total{kind="HTTPRoute"}']
    kstack.kube.control("DELETE", "faults")
    kstack.served_by("/born", "other", timeout=40)
    kstack.served_by("/doomed", "web", timeout=10)  # gone: the catch-all answers
    wait_for(lambda: gw.metrics()['gatehouse_kube_relists_total{kind="HTTPRoute"}'] > relists,
             what="a relist after 410")
    names = [i["metadata"]["name"] for i in gw.status_json()["items"] if i["kind"] == "HTTPRoute"]
    assert sorted(names) == ["born", "web"], names
    accepted_route(kstack, "born")
    codes, errors = traffic.stop()
    assert set(codes) == {200} and not errors, (codes, errors[:3])


@pytest.mark.deadline(120)
def test_paused_api_server_traffic_flows_and_status_catches_up(kstack):
    base_with_route(kstack)
    gw = kstack.start_k8s()
    kstack.served_by("/", "web")
    traffic = Traffic(kstack, "/")
    kstack.kube.control("POST", "pause")
    try:
        time.sleep(30)
        status, _, _ = gw.admin("/readyz")
        assert status == 200  # serving the last configuration is ready
    finally:
        kstack.kube.control("POST", "resume")
    kstack.put(httproute("late", [{"matches": [exact("/late")],
                                   "backendRefs": [backend("other")]}]))
    kstack.served_by("/late", "other", timeout=40)
    accepted_route(kstack, "late")
    codes, errors = traffic.stop()
    assert set(codes) == {200} and not errors, (codes, errors[:3])
    assert sum(codes.values()) > 100


@pytest.mark.deadline(120)
@pytest.mark.parametrize("code", [500, 429])
def test_error_bursts_back_off(kstack, code):
    base_with_route(kstack)
    kstack.kube.control("DELETE", "requests")
    fault = {"count": 4, "path": "httproutes", "method": "GET", "code": code}
    if code == 429:
        fault["retryAfterSeconds"] = 1
    kstack.kube.control("POST", "faults", fault)
    t0 = time.monotonic()
    kstack.start_k8s(ready=False)
    kstack.gw.wait_ready(timeout=60)
    took = time.monotonic() - t0
    kstack.served_by("/", "web")
    counts = kstack.kube.counts()
    by = counts.get("counts", counts)
    n = sum(v for k, v in by.items() if isinstance(v, int) and "httproutes" in k
            and k.split(" ")[0] in ("list", "watch", "get"))
    # 4 failures then success: every retry went through the backoff
    # (doubling from 0.5 s, jitter on top; Retry-After 1 s a floor), so a
    # list, a watch and few more requests than the failures, spread over
    # seconds.
    assert n <= 8, by
    assert took >= (4 if code == 429 else 3.5), took


def make_cert(tmp, cn):
    key, crt = os.path.join(tmp, cn + ".key"), os.path.join(tmp, cn + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", f"/CN={cn}", "-addext",
                    f"subjectAltName=DNS:{cn}"], check=True, capture_output=True, timeout=60)
    with open(crt, "rb") as f1, open(key, "rb") as f2:
        return f1.read(), f2.read()


def tls_secret(name, crt, key, ns=NS):
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": ns},
            "data": {"tls.crt": base64.b64encode(crt).decode(),
                     "tls.key": base64.b64encode(key).decode()}}


def served_cert(addr, port, host):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((addr, port), timeout=3) as s:
        with ctx.wrap_socket(s, server_hostname=host) as t:
            return t.getpeercert(binary_form=True)


@pytest.mark.deadline(90)
def test_rotated_tls_secret_is_served_within_a_second(kstack, tmp_path):
    kstack.backend("web")
    crt1, key1 = make_cert(str(tmp_path), "one.example.com")
    addr, port = kstack.pick_gateway_address()
    tls = {"mode": "Terminate", "certificateRefs": [{"name": "cert"}]}
    kstack.base(listeners=[listener("https", port, "HTTPS", tls=tls)])
    kstack.put(tls_secret("cert", crt1, key1))
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))
    kstack.start_k8s()

    def pem_der(pem):
        return ssl.PEM_cert_to_DER_cert(pem.decode())
    wait_for(lambda: served_cert(addr, port, "one.example.com") == pem_der(crt1), what="cert 1")
    # A keep-alive TLS connection opened before the rotation...
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((addr, port), timeout=3)
    conn = ctx.wrap_socket(raw, server_hostname="one.example.com")

    def ask():
        conn.sendall(b"GET /k HTTP/1.1\r\nHost: one.example.com\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += conn.recv(65536)
        head, _, body = buf.partition(b"\r\n\r\n")
        n = int([ln.split(b":")[1] for ln in head.split(b"\r\n")
                 if ln.lower().startswith(b"content-length")][0])
        while len(body) < n:
            body += conn.recv(65536)
        return head.split(b" ")[1]
    assert ask() == b"200"
    crt2, key2 = make_cert(str(tmp_path), "two.example.com")
    t0 = time.monotonic()
    kstack.put(tls_secret("cert", crt2, key2))
    wait_for(lambda: served_cert(addr, port, "one.example.com") == pem_der(crt2), timeout=5,
             every=0.02, what="cert 2")
    took = time.monotonic() - t0
    assert took < 1.0, f"the new certificate took {took:.3f} s"
    assert ask() == b"200"  # ...is still served
    conn.close()


@pytest.mark.deadline(120)
def test_leader_killed_the_other_replica_takes_over(kstack):
    base_with_route(kstack)
    a = kstack.start_k8s(args=["--lease-namespace", "default"])
    wait_for(lambda: a.metrics()["gatehouse_kube_leader"] == 1, what="replica a leads")
    b = kstack.start_k8s(args=["--lease-namespace", "default"])
    kstack.served_by("/", "web")
    assert b.metrics()["gatehouse_kube_leader"] == 0
    traffic = Traffic(kstack, "/")
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(10)
    a.stopped, a.returncode = True, 0
    t0 = time.monotonic()
    kstack.put(httproute("after", [{"matches": [exact("/after")],
                                    "backendRefs": [backend("other")]}]))
    kstack.served_by("/after", "other")  # b serves at once
    accepted_route_within(kstack, "after", 20)
    took = time.monotonic() - t0
    assert b.metrics()["gatehouse_kube_leader"] == 1
    codes, errors = traffic.stop()
    # Connections the killed replica held break; the client reconnects to b
    # and no request is answered other than 200.
    assert set(codes) == {200}, codes
    assert took < 20, took
    lease = kstack.kube.get("Lease", "gatehouse", "default")
    assert lease["spec"]["holderIdentity"] != ""


def accepted_route_within(kstack, name, timeout):
    def ok():
        p = kstack.route_parent(name)
        c = p and condition(p, "Accepted")
        return c if c and c["status"] == "True" else None
    return wait_for(ok, timeout, what=f"HTTPRoute {name} Accepted")



@pytest.mark.deadline(90)
def test_leader_stopped_releases_the_lease(kstack):
    base_with_route(kstack)
    a = kstack.start_k8s(args=["--lease-namespace", "default"])
    wait_for(lambda: a.metrics()["gatehouse_kube_leader"] == 1, what="replica a leads")
    b = kstack.start_k8s(args=["--lease-namespace", "default"])
    kstack.served_by("/", "web")
    t0 = time.monotonic()
    assert a.stop()[0] == 0
    # b retries every 2 s: a released Lease is taken at its next try, not
    # after the 15 s lease.
    wait_for(lambda: b.metrics()["gatehouse_kube_leader"] == 1, timeout=8, what="b leads")
    assert time.monotonic() - t0 < 5
    lease = kstack.kube.get("Lease", "gatehouse", "default")
    assert lease["spec"]["leaseTransitions"] >= 1
