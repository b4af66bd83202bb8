# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run`: hot reload of the config directory.

* a route file added is served within a deadline (p50/p99 of file write ->
  first 200 printed), deleted -> 404;
* a file whose YAML breaks keeps its last good version in force and the
  error shows with file:line:col in /status or the log; fixing it applies;
* an invalid object is rejected alone while the others serve;
* an editor's save (old file renamed away, new one written) never serves
  the tree without the file;
* reload under load: keep-alive clients send requests without pause while
  the test applies >= 500 changes (routes added/removed/edited, backend
  weights flipped, EndpointSlice endpoints swapped between two live echo
  backends): zero failed requests (every answer a 200 from an expected
  backend, no connection errors) and every change observed within its
  deadline."""
import os
import re
import statistics
import threading
import time

import pytest

from echoclient import H1
from gateway import (backend, backend_of, dump, endpointslice_obj, exact, gateway_class,  # noqa: F401
                     gateway_obj, gatehouse_run, httproute, listener, namespace, prefix, stack)

DEADLINE = float(os.environ.get("GW_E2E_RELOAD_DEADLINE", "5"))
CHANGES = int(os.environ.get("GW_E2E_RELOAD_CHANGES", "500"))


def route_to(name, host, path, to, filters=None, path_type="PathPrefix"):
    r = {"matches": [{"path": {"type": path_type, "value": path}}], "backendRefs": [backend(to)]}
    if filters:
        r["filters"] = filters
    return httproute(name, hostnames=[host], rules=[r])


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def report(label, lat):
    if lat:
        print(f"\n{label}: n={len(lat)} p50={statistics.median(lat) * 1000:.0f} ms "
              f"p99={pct(lat, 99) * 1000:.0f} ms max={max(lat) * 1000:.0f} ms")


class Hammer:
    """A client sending GETs for / on host without pause, on one keep-alive
    connection, in a thread, while the `with` block runs: `seen` has the
    backend of every 200, `bad` every other status or the exception."""

    def __init__(self, st, host):
        self.st, self.host = st, host
        self.seen, self.bad = [], []
        self.stop = threading.Event()
        self.th = threading.Thread(target=self._run)

    def _run(self):
        try:
            with self.st.conn() as c:
                while not self.stop.is_set():
                    r = c.request("GET", "/", host=self.host)
                    if r.status != 200:
                        self.bad.append(r.status)
                    else:
                        self.seen.append(backend_of(r))
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.bad.append(repr(exc))

    def __enter__(self):
        self.th.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.th.join()
        return False

    def assert_all_ok(self, what):
        total = len(self.bad) + len(self.seen)
        assert not self.bad, (f"{len(self.bad)} of {total} requests not 200 {what}: "
                              f"{self.bad[:5]}\nlog tail: {self.st.gw.logs()[-3000:]}")


def wait_error_shown(st, fname, timeout=DEADLINE):
    """Waits until /status or the gateway's log names fname:line:col."""
    pat = re.compile(re.escape(fname) + r":\d+:\d+")
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        try:
            status, body, _ = st.gw.admin("/status")
            seen = body.decode("utf-8", "replace")
            if pat.search(seen):
                return "status"
        except (OSError, EOFError, AssertionError):
            pass
        if pat.search(st.gw.logs()):
            return "log"
        time.sleep(0.05)
    raise AssertionError(f"no {fname}:line:col in /status or the log within {timeout} s; "
                         f"/status: {seen[:1500]}\nlog tail: {st.gw.logs()[-1500:]}")


@pytest.fixture
def simple(stack):
    stack.backend("svc-a")
    stack.backend("svc-b")
    stack.up([route_to("base", "base.test", "/", "svc-a")])
    return stack


@pytest.mark.deadline(90)
def test_add_and_delete_route_file(simple):
    st = simple
    add_lat, del_lat = [], []
    for i in range(20):
        name = f"added-{i}.yaml"
        assert st.request(f"/n{i}", host="new.test").status == 404
        t0 = time.monotonic()
        st.write(name, [route_to(f"added-{i}", "new.test", f"/n{i}", "svc-b")])
        r, _ = st.wait_status(f"/n{i}", 200, host="new.test", timeout=DEADLINE,
                              pred=lambda r: backend_of(r) == "svc-b")
        add_lat.append(time.monotonic() - t0)
        t0 = time.monotonic()
        st.remove(name)
        st.wait_status(f"/n{i}", 404, host="new.test", timeout=DEADLINE)
        del_lat.append(time.monotonic() - t0)
    report("route file added -> first 200", add_lat)
    report("route file deleted -> first 404", del_lat)
    assert st.request("/", host="base.test").status == 200


def test_in_place_edit_is_applied(simple):
    st = simple
    st.write("routes.yaml", [route_to("base", "base.test", "/", "svc-b")], atomic=False)
    st.wait_status("/", 200, host="base.test", timeout=DEADLINE,
                   pred=lambda r: backend_of(r) == "svc-b")


def test_broken_yaml_keeps_last_good_version(simple):
    st = simple
    st.write("extra.yaml", [route_to("extra", "extra.test", "/", "svc-b")])
    st.wait_status("/", 200, host="extra.test", timeout=DEADLINE)
    # the same file, now not YAML at all
    st.write("extra.yaml", "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
                           "metadata:\n  name: extra\n  namespace: e2e\nspec:\n"
                           "  hostnames: [extra.test\n  rules: {\n")
    where = wait_error_shown(st, "extra.yaml")
    print(f"\nparse error shown in {where}")
    for _ in range(20):
        r = st.request("/", host="extra.test")
        assert r.status == 200 and backend_of(r) == "svc-b", \
            f"the last good version of extra.yaml is no longer in force: {r!r}"
        time.sleep(0.025)
    assert st.request("/", host="base.test").status == 200
    # fixed: the new content applies
    st.write("extra.yaml", [route_to("extra", "extra.test", "/", "svc-a")])
    st.wait_status("/", 200, host="extra.test", timeout=DEADLINE,
                   pred=lambda r: backend_of(r) == "svc-a")


def test_editor_save_keeps_the_file_in_force(simple):
    """A finished write goes live at once, but a save that first renames the
    old version away (vim's backup, then the new file, then the backup
    removed) must not serve the tree without the file in between: a client
    sending requests without pause sees only 200s from either version."""
    st = simple
    st.write("edited.yaml", [route_to("edited", "edited.test", "/", "svc-a")])
    st.wait_status("/", 200, host="edited.test", timeout=DEADLINE)
    with Hammer(st, "edited.test") as h:
        path = st.path("edited.yaml")
        for i in range(30):
            os.rename(path, path + "~")
            st.write("edited.yaml", [route_to("edited", "edited.test", "/",
                                              "svc-b" if i % 2 == 0 else "svc-a")], atomic=False)
            os.unlink(path + "~")
            time.sleep(0.08)
    h.assert_all_ok("during editor saves")
    assert "svc-b" in h.seen and "svc-a" in h.seen


def test_rewrite_in_place_under_traffic_never_404(simple):
    """A file rewritten in place (truncate, then write, as `cp` or a shell's
    `>` do) is empty for a moment. Writes that never pause for the quiet
    period reload at the debounce's cap, whatever is half-written then: a
    reload that reads the file empty must not serve the tree without its
    route. A client sending requests without pause sees only 200s."""
    st = simple
    st.write("inplace.yaml", [route_to("inplace", "inplace.test", "/", "svc-a")])
    st.wait_status("/", 200, host="inplace.test", timeout=DEADLINE)
    with Hammer(st, "inplace.test") as h:
        path = st.path("inplace.yaml")
        t_end = time.monotonic() + 2.5
        while time.monotonic() < t_end:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                time.sleep(0.01)  # empty for 10 ms of every 15
                os.write(fd, dump([route_to("inplace", "inplace.test", "/",
                                            "svc-a")]).encode())
            finally:
                os.close(fd)
            time.sleep(0.005)
    h.assert_all_ok("during in-place rewrites")
    # Written and closed: the last version goes live.
    st.write("inplace.yaml", [route_to("inplace", "inplace.test", "/", "svc-b")], atomic=False)
    st.wait_status("/", 200, host="inplace.test", timeout=DEADLINE,
                   pred=lambda r: backend_of(r) == "svc-b")


def test_file_written_in_pieces_under_traffic_never_404(simple):
    """A writer that writes a file in pieces (a shell redirect of a slow
    command, a large file written a block at a time) leaves a valid prefix
    for a moment: the first route but not the second. While the watch says
    the file is still open for writing, a reload (here at the debounce's
    cap) keeps its last version: the second route never vanishes."""
    st = simple
    docs = [route_to("piece-1", "piece1.test", "/", "svc-a"),
            route_to("piece-2", "piece2.test", "/", "svc-a")]
    st.write("pieces.yaml", docs)
    st.wait_status("/", 200, host="piece2.test", timeout=DEADLINE)
    with Hammer(st, "piece2.test") as h:
        path = st.path("pieces.yaml")
        first, second = dump(docs[:1]), dump(docs[1:])
        t_end = time.monotonic() + 2.5
        while time.monotonic() < t_end:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, (first + "---\n").encode())
                time.sleep(0.01)  # only the first route, for 10 ms of every 15
                os.write(fd, second.encode())
            finally:
                os.close(fd)
            time.sleep(0.005)
    h.assert_all_ok("while the file was written in pieces")


def test_emptied_file_removes_its_routes(simple):
    """A file that stays empty is taken as it is (after a short hold)."""
    st = simple
    st.write("gone.yaml", [route_to("gone", "gone.test", "/", "svc-b")])
    st.wait_status("/", 200, host="gone.test", timeout=DEADLINE)
    t0 = time.monotonic()
    st.write("gone.yaml", "", atomic=False)
    st.wait_status("/", 404, host="gone.test", timeout=DEADLINE)
    print(f"\nfile emptied -> first 404 in {(time.monotonic() - t0) * 1000:.0f} ms")
    assert st.request("/", host="base.test").status == 200


def test_invalid_object_rejected_alone(simple):
    st = simple
    bad = route_to("bad", "bad.test", "/", "svc-b")
    bad["spec"]["rules"][0]["matches"][0]["path"]["value"] = "no-leading-slash"
    good = route_to("good", "good.test", "/", "svc-b")
    st.write("mixed.yaml", [bad, good])
    st.wait_status("/", 200, host="good.test", timeout=DEADLINE)
    wait_error_shown(st, "mixed.yaml")
    assert st.request("/", host="bad.test").status == 404
    assert st.request("/", host="base.test").status == 200


def test_invalid_edit_of_live_route_keeps_it_serving(simple):
    """An object that turns invalid: the rest is served; the route itself
    is left out (or kept at its last good version) -- never a crash."""
    st = simple
    st.write("live.yaml", [route_to("live", "live.test", "/", "svc-a")])
    st.wait_status("/", 200, host="live.test", timeout=DEADLINE)
    bad = route_to("live", "live.test", "/", "svc-a")
    bad["spec"]["rules"][0]["backendRefs"][0]["weight"] = -5
    st.write("live.yaml", [bad])
    wait_error_shown(st, "live.yaml")
    assert st.request("/", host="base.test").status == 200
    assert st.request("/", host="live.test").status in (200, 404)


def test_status_and_admin_endpoints(simple):
    st = simple
    status, body, _ = st.gw.admin("/healthz")
    assert status == 200
    status, body, _ = st.gw.admin("/readyz")
    assert status == 200
    doc = st.gw.status_json()
    assert doc.get("kind") == "List", str(doc)[:300]
    names = {(i.get("kind"), i.get("metadata", {}).get("name")) for i in doc.get("items", [])}
    assert ("HTTPRoute", "base") in names and ("Gateway", "gw") in names, names
    status, body, _ = st.gw.admin("/metrics")
    assert status == 200 and b"# TYPE" in body
    status, body, _ = st.gw.admin("/config")
    assert status == 200 and body


def test_sighup_reload(simple):
    import signal
    st = simple
    st.write("hup.yaml", [route_to("hup", "hup.test", "/", "svc-b")])
    st.gw.proc.send_signal(signal.SIGHUP)
    st.wait_status("/", 200, host="hup.test", timeout=DEADLINE)


# ---------------------------------------------------------- under load

class Load:
    """Keep-alive clients hammering stable routes while config changes."""

    def __init__(self, st, clients, targets):
        self.st = st
        self.targets = targets  # list of (host, path, set of acceptable pod names)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.errors = []
        self.reconnects = 0
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(clients)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(15)

    def _err(self, msg):
        with self.lock:
            self.errors.append(f"{time.monotonic():.3f} {msg}")

    def _run(self, k):
        c = None
        i = k
        while not self.stop.is_set():
            host, path, pods = self.targets[i % len(self.targets)]
            i += 1
            try:
                if c is None:
                    c = H1(self.st.addr, self.st.port, timeout=10)
                r = c.request("GET", path, host=host)
            except Exception as exc:  # noqa: BLE001 - every failure counts
                self._err(f"{host}{path}: connection error {exc!r}")
                if c:
                    c.close()
                c = None
                continue
            if r.status != 200:
                self._err(f"{host}{path}: status {r.status} {r.body[:120]!r}")
            else:
                try:
                    pod = r.json()["pod"]
                except AssertionError as exc:
                    pod = f"<bad body: {exc}>"
                if pod not in pods():
                    self._err(f"{host}{path}: answered by {pod}, expected one of {pods()}")
                else:
                    with self.lock:
                        self.ok += 1
            if r.header("Connection") == "close":
                c.close()
                c = None
                with self.lock:
                    self.reconnects += 1
        if c:
            c.close()


@pytest.mark.deadline(170)
def test_reload_under_load(stack):
    st = stack
    a = st.backend("svc-a")
    b = st.backend("svc-b")
    c = st.backend("svc-c", replicas=2)
    st.pick_gateway_address()
    base = [gateway_class(), namespace(st.ns),
            gateway_obj("gw", st.addr, [listener("http", st.port)], st.ns)]
    base += a.objects() + b.objects() + [c.service()]
    st.write("base.yaml", base)

    def slice_c(i):
        return [endpointslice_obj("svc-c", [c.procs[i].addr], [{"name": "http", "port": c.port}],
                                  ns=st.ns)]

    def load_route(r):
        wa, wb = (1, 0) if r % 2 == 0 else (0, 1)
        return [httproute("load", hostnames=["load.test"], rules=[
            {"matches": [prefix("/")], "backendRefs": [backend("svc-a", weight=wa),
                                                       backend("svc-b", weight=wb)]},
            {"matches": [prefix("/c")], "backendRefs": [backend("svc-c")]}])]

    def edit_route(r):
        return [route_to("edit", "edit.test", "/", "svc-a", filters=[
            {"type": "RequestHeaderModifier",
             "requestHeaderModifier": {"set": [{"name": "X-Version", "value": str(r)}]}}])]

    st.write("slice-c.yaml", slice_c(0))
    st.write("load.yaml", load_route(0))
    st.write("edit.yaml", edit_route(0))
    st.check_config()
    st.start()
    st.wait_listening()
    st.wait_status("/", 200, host="load.test", timeout=DEADLINE)

    ab = set(a.pods) | set(b.pods)
    cpods = set(c.pods)
    load = Load(st, clients=4, targets=[("load.test", "/", lambda: ab),
                                        ("load.test", "/c", lambda: cpods),
                                        ("load.test", "/x/y?z=1", lambda: ab)])
    probe = [None]

    def get(host, path):
        for _ in range(3):
            try:
                if probe[0] is None:
                    probe[0] = H1(st.addr, st.port, timeout=5)
                r = probe[0].request("GET", path, host=host)
                if r.header("Connection") == "close":
                    probe[0].close()
                    probe[0] = None
                return r
            except (OSError, EOFError):
                if probe[0]:
                    probe[0].close()
                probe[0] = None
        raise AssertionError(f"probe {host}{path} failed 3 times")

    lat = {"add": [], "remove": [], "edit": [], "weights": [], "slice": []}
    late = []
    changes = 0
    r = 0
    load.start()
    t_start = time.monotonic()
    try:
        while changes < CHANGES:
            r += 1
            checks = []
            st.write(f"add-{r}.yaml", [route_to(f"add-{r}", "add.test", f"/r/{r}", "svc-b",
                                                path_type="Exact")])
            checks.append(("add", lambda r=r: (lambda x: x.status == 200 and
                                               backend_of(x) == "svc-b")(get("add.test",
                                                                             f"/r/{r}"))))
            if r > 3:
                st.remove(f"add-{r - 3}.yaml")
                checks.append(("remove", lambda r=r: get("add.test", f"/r/{r - 3}").status == 404))
            st.write("edit.yaml", edit_route(r))
            checks.append(("edit", lambda r=r: (lambda x: x.status == 200 and
                                                x.json()["headers"].get("X-Version") == [str(r)])(
                get("edit.test", "/"))))
            st.write("load.yaml", load_route(r))
            want_w = "svc-a" if r % 2 == 0 else "svc-b"
            checks.append(("weights", lambda w=want_w: backend_of(get("load.test", "/w")) == w))
            st.write("slice-c.yaml", slice_c(r % 2))
            want_pod = c.procs[r % 2].env["POD_NAME"]
            checks.append(("slice", lambda p=want_pod: get("load.test", "/c").json()["pod"] == p))
            t0 = time.monotonic()
            for kind, ok in checks:
                while True:
                    if ok():
                        lat[kind].append(time.monotonic() - t0)
                        break
                    if time.monotonic() - t0 > DEADLINE:
                        late.append(f"round {r}: {kind} not served within {DEADLINE} s")
                        break
                    time.sleep(0.005)
            changes += len(checks)
            if late and len(late) > 5:
                break
    finally:
        load.finish()
        if probe[0]:
            probe[0].close()
    took = time.monotonic() - t_start
    all_lat = [x for v in lat.values() for x in v]
    print(f"\nreload under load: {changes} changes in {r} rounds, {took:.1f} s; "
          f"{load.ok} requests ok, {len(load.errors)} failed, {load.reconnects} reconnects")
    for kind, v in lat.items():
        report(f"  {kind}", v)
    report("  all changes (write -> observed)", all_lat)
    assert not late, "\n".join(late[:10])
    assert not load.errors, f"{len(load.errors)} failed requests under reload, first: " + \
        "\n".join(load.errors[:10])
    assert changes >= CHANGES
    assert load.ok > 500, f"the load generator only got {load.ok} answers"
    assert st.gw.proc.poll() is None
