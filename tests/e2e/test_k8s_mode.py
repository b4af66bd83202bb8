# SPDX-License-Identifier: Apache-2.0
"""`gatehouse run --kubernetes` against the API server double: objects
applied through the API, statuses read back from the API, traffic through
the gateway.

Each test starts its own double, echo backends and gatehouse, and stops
them. Helpers shared by the fault tests live in KubeStack below.
"""
import os
import random
import socket
import subprocess
import time

import pytest

from gateway import (NS, Stack, backend, endpointslice_obj, exact, gatehouse_run,  # noqa: F401
                     httproute, listener, prefix, service_obj)
from echoclient import H1
from kube import KubeDouble, KubeGateway, condition, have_double, wait_for

CONTROLLER = "gatehouse.dev/gateway-controller"

pytestmark = pytest.mark.skipif(not have_double(), reason="../shared/kube is not beside the repo")


class KubeStack(Stack):
    """Echo backends + an API server double + `gatehouse run --kubernetes`:
    the objects go to the API server instead of a directory."""

    def __init__(self, binary, workdir, crds=True, double_args=()):
        super().__init__(binary, workdir)
        self.kube = KubeDouble(workdir, crds=crds, args=double_args)
        self.gws = []

    def put(self, *objs):
        for o in objs:
            self.kube.apply(o)

    def base(self, listeners=None):
        """Namespace, GatewayClass, Gateway `gw` and every backend's Service
        and EndpointSlice, through the API."""
        self.put(*self.base_objects(listeners=listeners))

    def start_k8s(self, args=(), workers=1, ready=True, admin_port=None):
        gw = KubeGateway(self.binary, self.kube, self.workdir, workers=workers, args=args,
                         admin_port=admin_port)
        self.gws.append(gw)
        self.gw = gw
        if ready:
            gw.wait_ready()
        return gw

    def get(self, path, host="example.com", timeout=3.0):
        with H1(self.addr, self.port, timeout=timeout) as c:
            return c.request("GET", path, host=host)

    def served_by(self, path, name, timeout=10.0):
        seen = []

        def ok():
            try:
                r = self.get(path)
            except (OSError, EOFError, AssertionError) as exc:
                seen[:] = [repr(exc)]
                return False
            pod = r.json().get("pod", "") if r.status == 200 else ""
            seen[:] = [f"{r.status} from {pod or '?'}"]
            return pod.startswith(name + "-")
        try:
            return wait_for(ok, timeout, what=f"{path} served by {name}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last answer at {self.addr}:{self.port}: {seen}") from None

    def status_is(self, path, code, timeout=10.0):
        def ok():
            try:
                return self.get(path).status == code
            except (OSError, EOFError, AssertionError):
                return False
        return wait_for(ok, timeout, what=f"{path} answering {code}")

    def route_parent(self, name, ns=NS, controller=CONTROLLER):
        st = self.kube.status_of("HTTPRoute", name, ns)
        for p in st.get("parents") or []:
            if p.get("controllerName") == controller:
                return p
        return None

    def close(self):
        problems = []
        for gw in self.gws:
            problems += gw.problems()
        for e in self.echos:
            e.stop()
        self.kube.stop()
        return problems


@pytest.fixture
def kstack(gatehouse_run, tmp_path):
    s = KubeStack(gatehouse_run, str(tmp_path))
    try:
        yield s
    finally:
        problems = s.close()
        assert not problems, "\n".join(problems)


def accepted_route(kstack, name, ns=NS):
    def ok():
        p = kstack.route_parent(name, ns)
        c = p and condition(p, "Accepted")
        return c if c and c["status"] == "True" else None
    return wait_for(ok, 10, what=f"HTTPRoute {name} Accepted")


@pytest.mark.deadline(90)
def test_objects_from_the_api_are_served_and_get_status(kstack):
    web = kstack.backend("web")
    kstack.backend("other")
    kstack.base()
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))
    t0 = time.time()
    gw = kstack.start_k8s()
    kstack.served_by("/x", "web")

    # Statuses in the API, with observedGeneration and real transition times.
    # (the CRD's default, Unknown "Waiting for controller", is there first)
    def written(kind, name, ns, ctype):
        c = condition(kstack.kube.status_of(kind, name, ns), ctype)
        return c if c and c["status"] != "Unknown" else None
    gc = wait_for(lambda: written("GatewayClass", "gatehouse", None, "Accepted"),
                  what="GatewayClass status")
    assert gc["status"] == "True"
    assert gc["lastTransitionTime"] != "1970-01-01T00:00:00Z"
    assert abs(time.mktime(time.strptime(gc["lastTransitionTime"], "%Y-%m-%dT%H:%M:%SZ"))
               - time.mktime(time.gmtime(t0))) < 60
    prog = wait_for(lambda: written("Gateway", "gw", NS, "Programmed"), what="Gateway Programmed")
    assert prog["status"] == "True"
    g = kstack.kube.get("Gateway", "gw", NS)
    assert prog["observedGeneration"] == g["metadata"]["generation"]
    assert g["status"]["addresses"][0]["value"] == kstack.addr
    acc = accepted_route(kstack, "web")
    assert acc["observedGeneration"] == 1
    assert web.addrs  # the backend really ran

    # A route created through the API is served; an update moves it; a
    # delete removes it.
    kstack.put(httproute("two", [{"matches": [exact("/two")],
                                  "backendRefs": [backend("other")]}]))
    kstack.served_by("/two", "other")
    accepted_route(kstack, "two")
    kstack.put(httproute("two", [{"matches": [exact("/deux")],
                                  "backendRefs": [backend("other")]}]))
    kstack.served_by("/deux", "other")
    kstack.served_by("/two", "web")  # back to the catch-all
    wait_for(lambda: kstack.route_parent("two")["conditions"][0]["observedGeneration"] == 2,
             what="observedGeneration 2")
    kstack.kube.delete("HTTPRoute", "two", NS)
    kstack.served_by("/deux", "web")

    # A transition time stays while the condition's status does not change.
    before = condition(kstack.kube.status_of("GatewayClass", "gatehouse"), "Accepted")
    kstack.put(httproute("three", [{"matches": [exact("/three")],
                                    "backendRefs": [backend("other")]}]))
    kstack.served_by("/three", "other")
    after = condition(kstack.kube.status_of("GatewayClass", "gatehouse"), "Accepted")
    assert after["lastTransitionTime"] == before["lastTransitionTime"]
    assert gw.metrics()["gatehouse_kube_leader"] == 1


@pytest.mark.deadline(90)
def test_other_controllers_parent_entries_are_kept(kstack):
    kstack.backend("web")
    kstack.base()
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}],
                         parents=[{"name": "gw"}, {"name": "elsewhere"}]))
    theirs = {"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                            "namespace": NS, "name": "elsewhere"},
              "controllerName": "example.com/other-controller",
              "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                              "message": "theirs", "observedGeneration": 1,
                              "lastTransitionTime": "2020-01-01T00:00:00Z"}]}
    kstack.kube.patch("HTTPRoute", "web", NS, {"status": {"parents": [theirs]}}, sub="status")
    kstack.start_k8s()
    kstack.served_by("/", "web")
    accepted_route(kstack, "web")
    parents = kstack.kube.status_of("HTTPRoute", "web", NS)["parents"]
    assert theirs in parents
    ours = [p for p in parents if p["controllerName"] == CONTROLLER]
    assert len(ours) == 1 and ours[0]["parentRef"]["name"] == "gw"

    # A parent of ours that goes away takes our entry with it; theirs stays.
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}],
                         parents=[{"name": "elsewhere"}]))
    wait_for(lambda: kstack.route_parent("web") is None, what="our entry removed")
    assert kstack.kube.status_of("HTTPRoute", "web", NS)["parents"] == [theirs]


@pytest.mark.deadline(90)
def test_an_invalid_object_gets_its_status_and_the_rest_serves(kstack):
    kstack.backend("web")
    kstack.base()
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))
    kstack.start_k8s()
    kstack.served_by("/", "web")
    # The double, like a cluster without CEL, admits what decode refuses: a
    # path match that is not absolute.
    bad = httproute("bad", [{"matches": [{"path": {"type": "PathPrefix", "value": "nope"}}],
                             "backendRefs": [backend("web")]}])
    kstack.put(bad)

    def rejected():
        p = kstack.route_parent("bad")
        c = p and condition(p, "Accepted")
        return c if c and c["status"] == "False" else None
    c = wait_for(rejected, 10, what="the invalid route's Accepted=False")
    assert c["reason"] == "UnsupportedValue"
    assert "spec.rules[0].matches[0].path" in c["message"]
    kstack.served_by("/", "web")
    # Fixed by its owner: accepted and served.
    kstack.put(httproute("bad", [{"matches": [exact("/fixed")],
                                  "backendRefs": [backend("web")]}]))
    accepted_route(kstack, "bad")
    kstack.served_by("/fixed", "web")


@pytest.mark.deadline(90)
def test_steady_state_makes_no_requests_but_watches_and_lease(kstack):
    kstack.backend("web")
    kstack.base()
    for i in range(20):
        kstack.put(httproute(f"r{i}", [{"matches": [exact(f"/r{i}")],
                                        "backendRefs": [backend("web")]}]))
    kstack.start_k8s()
    kstack.served_by("/r19", "web")
    for i in range(20):
        accepted_route(kstack, f"r{i}")
    time.sleep(1.5)
    kstack.kube.control("DELETE", "requests")
    time.sleep(5)
    counts = kstack.kube.counts()
    by = counts.get("counts", counts)
    others = {k: v for k, v in by.items() if isinstance(v, int)
              and not k.startswith("watch ") and "leases" not in k}
    assert not others, f"requests in steady state besides watches and the lease: {others}"
    # Lease renewals: one every 2 s at most (retry period), get + update.
    lease = sum(v for k, v in by.items() if isinstance(v, int) and "leases" in k)
    assert lease <= 8, by


@pytest.mark.deadline(60)
def test_status_lists_api_state_in_metrics(kstack):
    kstack.backend("web")
    kstack.base()
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))
    gw = kstack.start_k8s()
    kstack.served_by("/", "web")
    m = gw.metrics()
    assert m['gatehouse_kube_kind_installed{kind="HTTPRoute"}'] == 1
    assert m['gatehouse_kube_lists_total{kind="HTTPRoute"}'] >= 1
    assert m['gatehouse_kube_watch_events_total{kind="HTTPRoute",event="added"}'] >= 1
    assert m['gatehouse_kube_requests_total{code="200"}'] >= 1
    wait_for(lambda: gw.metrics()['gatehouse_kube_status_writes_total{result="ok"}'] >= 3,
             what="three status writes (class, gateway, route)")
    assert 'gatehouse_kube_last_event_age_seconds{kind="HTTPRoute"}' in m
    st = gw.status_json()
    kinds = {i["kind"] for i in st["items"]}
    assert {"GatewayClass", "Gateway", "HTTPRoute"} <= kinds


@pytest.mark.deadline(60)
def test_readyz_waits_for_the_first_list(kstack):
    kstack.backend("web")
    kstack.base()
    # Every HTTPRoute list fails for a while: not ready until one succeeds.
    kstack.kube.control("POST", "faults", {"count": 3, "path": "httproutes", "method": "GET",
                                           "code": 500})
    gw = kstack.start_k8s(ready=False)
    time.sleep(0.3)
    status, _, _ = gw.admin("/readyz")
    assert status != 200
    gw.wait_ready()


def test_flags_are_checked(gatehouse_run):
    p = subprocess.run([gatehouse_run, "run", "--kubernetes", "-f", "/tmp"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "exclusive" in p.stderr
    p = subprocess.run([gatehouse_run, "run", "-f", "/tmp", "--lease-name", "x"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "--kubernetes" in p.stderr
    p = subprocess.run([gatehouse_run, "run", "--kubernetes", "--kubeconfig", "/nonexistent"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and "/nonexistent" in p.stderr
    assert "kubernetes" in subprocess.run([gatehouse_run, "run", "--help"], capture_output=True,
                                          text=True, timeout=10).stdout


@pytest.mark.deadline(60)
def test_libcurl_is_loaded_by_the_kubernetes_source_only(kstack, tmp_path):
    """The standalone mode does not map libcurl (nor what it brings); the
    Kubernetes mode loads it, and says so clearly when it cannot."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    p = subprocess.Popen([kstack.binary, "run", "-f", str(cfg), "--workers", "1", "--admin",
                          "127.0.0.1:0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)
        assert p.poll() is None
        maps = open(f"/proc/{p.pid}/maps").read()
        assert "libcurl" not in maps and "libgnutls" not in maps
    finally:
        p.terminate()
        p.wait(10)

    kstack.base()
    gw = kstack.start_k8s()
    maps = open(f"/proc/{gw.proc.pid}/maps").read()
    assert "libcurl.so.4" in maps

    # A libcurl.so.4 without curl's symbols: an error naming it, exit 1.
    fake = tmp_path / "lib"
    fake.mkdir()
    src = tmp_path / "empty.c"
    src.write_text("int gatehouse_not_curl;\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(fake / "libcurl.so.4"), str(src)],
                   check=True, timeout=60)
    p = subprocess.run([kstack.binary, "run", "--kubernetes", "--kubeconfig",
                        kstack.kube.kubeconfig], capture_output=True, text=True, timeout=20,
                       env=dict(os.environ, LD_LIBRARY_PATH=str(fake)))
    assert p.returncode == 1, p.stderr
    assert "libcurl" in p.stderr and "curl_global_init" in p.stderr, p.stderr


@pytest.mark.deadline(60)
def test_gateway_addresses_from_the_fronting_service(kstack):
    kstack.backend("web")
    port = kstack.pick_gateway_address()[1]
    kstack.base()
    # A Gateway without spec.addresses: it binds the wildcard, and reports
    # the addresses of the Service that fronts the gatehouse pods.
    kstack.put({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                "metadata": {"name": "gw", "namespace": NS},
                "spec": {"gatewayClassName": "gatehouse",
                         "listeners": [{"name": "http", "port": port, "protocol": "HTTP"}]}})
    svc = kstack.kube.create({"apiVersion": "v1", "kind": "Service",
                              "metadata": {"name": "gatehouse", "namespace": "default"},
                              "spec": {"type": "LoadBalancer", "selector": {"app": "gatehouse"},
                                       "ports": [{"name": "http", "port": 80}]}})
    cluster_ip = svc["spec"]["clusterIP"]
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))
    kstack.start_k8s(args=["--gateway-service", "default/gatehouse", "--no-gateway-services"])

    def addresses():
        return [a["value"] for a in kstack.kube.status_of("Gateway", "gw", NS).get("addresses")
                or []]
    wait_for(lambda: addresses() == [cluster_ip], what="the clusterIP reported")
    # A cloud fills the load balancer's address: it is reported instead.
    kstack.kube.patch("Service", "gatehouse", "default",
                      {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"},
                                                               {"hostname": "lb.example"}]}}},
                      sub="status")
    wait_for(lambda: addresses() == ["192.0.2.10", "lb.example"], what="the ingress reported")
    types = [a["type"] for a in kstack.kube.status_of("Gateway", "gw", NS)["addresses"]]
    assert types == ["IPAddress", "Hostname"]
    kstack.addr = "127.0.0.1"
    kstack.served_by("/", "web")


@pytest.mark.deadline(60)
def test_watch_namespaces_limits_what_is_seen(kstack):
    kstack.backend("web")
    port = kstack.pick_gateway_address()[1]
    kstack.base(listeners=[listener("http", port, allowed_from="All")])
    kstack.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "elsewhere"}})
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))
    # A route in a namespace not watched, allowed by the listener if seen.
    kstack.put(httproute("far", [{"matches": [exact("/far")],
                                  "backendRefs": [backend("web", ns=NS)]}],
                         parents=[{"name": "gw", "namespace": NS}], ns="elsewhere"))
    gw = kstack.start_k8s(args=["--watch-namespaces", NS])
    kstack.served_by("/", "web")
    names = {(i["kind"], i["metadata"].get("namespace")) for i in gw.status_json()["items"]}
    assert ("HTTPRoute", "elsewhere") not in names
    assert kstack.route_parent("far", ns="elsewhere") is None
    # The same objects, every namespace watched: the route is served.
    gw.stop()
    kstack.start_k8s()
    wait_for(lambda: kstack.route_parent("far", ns="elsewhere"), what="far accepted")


@pytest.mark.deadline(90)
def test_a_service_no_route_names_is_not_translated(kstack):
    """A Service or EndpointSlice no backendRef names cannot change what is
    served: it costs no translation. One a route names does, even when the
    route named it before it existed."""
    kstack.backend("web")
    kstack.base()
    late = kstack.backend("late")  # after base(): its objects are not in the API yet
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]),
               httproute("late", [{"matches": [prefix("/late")],
                                   "backendRefs": [backend("late")]}]))
    gw = kstack.start_k8s()
    kstack.served_by("/x", "web")
    wait_for(lambda: condition(kstack.route_parent("late") or {}, "ResolvedRefs"),
             what="the late route's ResolvedRefs")
    assert condition(kstack.route_parent("late"), "ResolvedRefs")["reason"] == "BackendNotFound"
    m = gw.metrics()
    translations, ignored = (m["gatehouse_config_translations_total"],
                             m["gatehouse_kube_events_ignored_total"])
    services = m['gatehouse_config_objects{kind="Service"}']

    unrelated = service_obj("unrelated", [{"name": "http", "port": 80, "targetPort": 9}])
    kstack.put(unrelated, endpointslice_obj("unrelated", ["127.0.0.9"], [{"name": "http",
                                                                           "port": 9}]))
    unrelated["metadata"]["labels"] = {"changed": "yes"}
    kstack.put(unrelated)
    wait_for(lambda: gw.metrics()["gatehouse_kube_events_ignored_total"] >= ignored + 3,
             what="three ignored events")
    m = gw.metrics()
    assert m["gatehouse_config_translations_total"] == translations
    assert m['gatehouse_config_objects{kind="Service"}'] == services + 1

    # The Service the late route names: translated, resolved, served.
    kstack.put(late.service(), late.slice())
    wait_for(lambda: condition(kstack.route_parent("late"), "ResolvedRefs")["status"] == "True",
             what="the late route resolved")
    kstack.served_by("/late", "late")
    assert gw.metrics()["gatehouse_config_translations_total"] > translations
    kstack.kube.delete("Service", "unrelated", NS)
    kstack.served_by("/late", "late")


def free_wildcard_ports(n):
    """The first of n consecutive ports free on the dual-stack wildcard,
    below the kernel's ephemeral range (32768 up), so that no client
    socket of this run can hold one by chance."""
    for _ in range(200):
        base = random.randrange(12000, 20000 - n)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                socks.append(s)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                s.bind(("::", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free wildcard ports")


@pytest.mark.deadline(90)
def test_a_service_per_gateway(kstack):
    """Two Gateways without addresses, both on one port: each gets a Service
    of its own (owned by it, with its infrastructure labels and annotations,
    type and annotations from the class's parameters ConfigMap), which maps
    the listener port to the pod port gatehouse binds for that Gateway."""
    kstack.backend("web")
    kstack.backend("other")
    port = kstack.pick_gateway_address()[1]
    base = free_wildcard_ports(2)
    kstack.base()
    kstack.put({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "gw-defaults", "namespace": NS},
                "data": {"serviceType": "NodePort",
                         "serviceAnnotations": "example.com/lb: internal\n"}})
    cls = kstack.kube.get("GatewayClass", "gatehouse")
    cls["spec"]["parametersRef"] = {"group": "", "kind": "ConfigMap", "name": "gw-defaults",
                                    "namespace": NS}
    kstack.kube.request("PUT", "/apis/gateway.networking.k8s.io/v1/gatewayclasses/gatehouse", cls)
    infra = {"labels": {"team": "a"}, "annotations": {"note": "one"}}
    for name, extra in (("one", {"infrastructure": infra}), ("two", {})):
        kstack.put({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                    "metadata": {"name": name, "namespace": NS},
                    "spec": dict({"gatewayClassName": "gatehouse",
                                  "listeners": [{"name": "http", "port": port,
                                                 "protocol": "HTTP"}]}, **extra)})
    kstack.put(httproute("r1", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}],
                         parents=[{"name": "one"}]),
               httproute("r2", [{"matches": [prefix("/")], "backendRefs": [backend("other")]}],
                         parents=[{"name": "two"}]))
    gw = kstack.start_k8s(args=["--gateway-port-base", str(base)])

    def svc(name):
        return kstack.kube.get("Service", f"{name}-gatehouse", NS)
    one = wait_for(lambda: svc("one"), what="Service one-gatehouse")
    two = wait_for(lambda: svc("two"), what="Service two-gatehouse")
    uid = kstack.kube.get("Gateway", "one", NS)["metadata"]["uid"]
    assert one["metadata"]["ownerReferences"][0]["uid"] == uid
    assert one["metadata"]["ownerReferences"][0]["controller"] is True
    assert one["metadata"]["labels"]["team"] == "a"
    assert one["metadata"]["labels"]["gateway.networking.k8s.io/gateway-name"] == "one"
    assert one["metadata"]["annotations"]["note"] == "one"
    assert one["metadata"]["annotations"]["example.com/lb"] == "internal"
    assert one["spec"]["type"] == "NodePort"
    assert one["spec"]["selector"] == {"app.kubernetes.io/name": "gatehouse"}
    p1, p2 = one["spec"]["ports"][0], two["spec"]["ports"][0]
    # The Services coming back as applied cost no second translation.
    wait_for(lambda: gw.metrics()["gatehouse_kube_events_ignored_total"] >= 2,
             what="the generated Services' events ignored")
    assert gw.metrics()["gatehouse_config_translations_total"] == 1
    assert p1["port"] == p2["port"] == port
    assert {p1["targetPort"], p2["targetPort"]} == {base, base + 1}

    # Each Gateway's pods port serves its own routes.
    for svc_port, name in ((p1["targetPort"], "web"), (p2["targetPort"], "other")):
        kstack.addr, kstack.port = "127.0.0.1", svc_port
        kstack.served_by("/", name)
    # Addresses: the Service's clusterIP, then the load balancer's.
    wait_for(lambda: kstack.kube.status_of("Gateway", "one", NS)["addresses"][0]["value"]
             == one["spec"]["clusterIP"], what="clusterIP as the address")
    kstack.kube.patch("Service", "one-gatehouse", NS,
                      {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.7"}]}}},
                      sub="status")
    wait_for(lambda: kstack.kube.status_of("Gateway", "one", NS)["addresses"]
             == [{"type": "IPAddress", "value": "192.0.2.7"}], what="the ingress as the address")

    # Steady: no more applies.
    time.sleep(1)
    kstack.kube.control("DELETE", "requests")
    time.sleep(2)
    by = kstack.kube.counts()["counts"]
    assert not [k for k in by if "services" in k and not k.startswith("watch")], by

    # The mapping is kept across restarts; a deleted Gateway takes its Service.
    gw.stop()
    kstack.start_k8s(args=["--gateway-port-base", str(base)])
    kstack.addr, kstack.port = "127.0.0.1", p2["targetPort"]
    kstack.served_by("/", "other")
    kstack.kube.delete("Gateway", "one", NS)
    wait_for(lambda: svc("one") is None, what="Service one-gatehouse deleted")
    assert svc("two")["spec"]["ports"][0]["targetPort"] == p2["targetPort"]


@pytest.mark.deadline(90)
def test_ratelimitpolicy_from_the_api(kstack):
    """A RateLimitPolicy (gatehouse.dev CRD) through the API: its limit is
    served, its status.ancestors written back (Accepted; a second policy on
    the same route is Conflicted), an edit takes effect, a delete lifts it."""
    kstack.backend("web")
    kstack.base()
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))

    def rlp(name, requests):
        return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "RateLimitPolicy",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io",
                                         "kind": "HTTPRoute", "name": "web"}],
                         "limits": [{"name": "l", "requests": requests, "interval": "1m"}]}}
    kstack.put(rlp("first", 2))
    kstack.start_k8s()
    kstack.served_by("/x", "web")

    def reason(name):
        anc = kstack.kube.status_of("RateLimitPolicy", name, NS).get("ancestors") or []
        return anc and condition(anc[0], "Accepted")["reason"]
    wait_for(lambda: reason("first") == "Accepted", what="first Accepted")
    # served_by spent one token or two: the third request at most is refused
    assert 429 in [kstack.get("/x").status for _ in range(2)]
    time.sleep(1.1)  # creationTimestamp has second resolution: "second" is younger
    kstack.put(rlp("second", 1000))
    wait_for(lambda: reason("second") == "Conflicted", what="second Conflicted")
    kstack.kube.delete("RateLimitPolicy", "first", NS)
    kstack.served_by("/x", "web")  # the second one's 1000 now
    wait_for(lambda: reason("second") == "Accepted", what="second Accepted")
    kstack.kube.delete("RateLimitPolicy", "second", NS)
    for _ in range(5):
        assert kstack.get("/x").status == 200
    # A rule only the CRD's CEL states (the double does not run CEL):
    # rejected by gatehouse's decoder, Invalid in its status, nothing served.
    bad = rlp("bad", 1)
    bad["spec"]["limits"][0]["key"] = {"type": "Header"}
    kstack.put(bad)
    wait_for(lambda: reason("bad") == "Invalid", what="bad Invalid")
    anc = kstack.kube.status_of("RateLimitPolicy", "bad", NS)["ancestors"][0]
    assert "header must be set when type is Header" in condition(anc, "Accepted")["message"]
    assert anc["ancestorRef"]["kind"] == "HTTPRoute"
    for _ in range(3):
        assert kstack.get("/x").status == 200


@pytest.mark.deadline(90)
def test_healthcheckpolicy_from_the_api(kstack):
    """A HealthCheckPolicy (gatehouse.dev CRD) through the API: a stopped
    replica fails its TCP check and gets no traffic, status.ancestors is
    written back (Accepted; TargetNotFound for a missing Service), and a
    policy the decoder rejects is Invalid."""
    import json
    b = kstack.backend("web", replicas=2)
    kstack.base()
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))

    def hcp(name, svc, **spec):
        s = {"targetRefs": [{"group": "", "kind": "Service", "name": svc}], "type": "TCP",
             "interval": "200ms", "timeout": "150ms", "unhealthyThreshold": 2}
        s.update(spec)
        return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "HealthCheckPolicy",
                "metadata": {"name": name, "namespace": NS}, "spec": s}
    kstack.put(hcp("web", "web"), hcp("nope", "nope"))
    kstack.start_k8s()
    kstack.served_by("/x", "web")

    def reason(name):
        anc = kstack.kube.status_of("HealthCheckPolicy", name, NS).get("ancestors") or []
        return anc and condition(anc[0], "Accepted")["reason"]
    wait_for(lambda: reason("web") == "Accepted", what="web Accepted")
    wait_for(lambda: reason("nope") == "TargetNotFound", what="nope TargetNotFound")

    p0, p1 = b.procs
    e0 = f"{p0.addr}:{b.port}"

    def healthy(ep):
        status, body, _ = kstack.gw.admin("/health")
        for e in json.loads(body)["endpoints"]:
            if e["backend"] == f"{NS}/web:80" and e["endpoint"] == ep:
                return e["healthy"]
        return None
    wait_for(lambda: healthy(e0) is True, what="web-0 checked healthy")
    p0.stop()
    wait_for(lambda: healthy(e0) is False, timeout=3, what="web-0 unhealthy")
    for _ in range(10):
        r = kstack.get("/x")
        assert r.status == 200 and r.json()["pod"] == p1.env["POD_NAME"]
    # A rule only the CRD's CEL states: Invalid from gatehouse's decoder.
    kstack.put(hcp("bad", "web", http={"path": "/healthz"}))
    wait_for(lambda: reason("bad") == "Invalid", what="bad Invalid")
    anc = kstack.kube.status_of("HealthCheckPolicy", "bad", NS)["ancestors"][0]
    assert "http may be set only when type is HTTP" in condition(anc, "Accepted")["message"]


@pytest.mark.deadline(120)
def test_edge_policies_from_the_api(kstack):
    """SourceAddressPolicy and ClientTrafficPolicy (gatehouse.dev CRDs)
    through the API: a route-level deny of our own address is served (403)
    and Accepted; a Gateway-wide X-Forwarded-For rule makes the client the
    address our request names, which the deny no longer matches; a policy
    only gatehouse's decoder rejects is Invalid; a delete lifts the deny."""
    kstack.backend("web")
    kstack.base()
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))
    gwref = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}
    deny = {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "SourceAddressPolicy",
            "metadata": {"name": "deny-me", "namespace": NS},
            "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io",
                                     "kind": "HTTPRoute", "name": "web"}],
                     "deny": ["127.0.0.0/8"]}}

    def ctp(name, xff):
        return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "ClientTrafficPolicy",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"targetRefs": [gwref], "clientAddress": {"xForwardedFor": xff}}}

    def reason(kind, name):
        anc = (kstack.kube.status_of(kind, name, NS) or {}).get("ancestors") or []
        return anc and condition(anc[0], "Accepted")["reason"]

    def get_xff(xff):
        with H1(kstack.addr, kstack.port, timeout=3) as c:
            return c.request("GET", "/x", host="example.com",
                             headers=[("X-Forwarded-For", xff)]).status

    kstack.start_k8s()
    kstack.served_by("/x", "web")
    kstack.put(deny)
    wait_for(lambda: kstack.get("/x").status == 403, what="403 from the route's deny")
    wait_for(lambda: reason("SourceAddressPolicy", "deny-me") == "Accepted", what="Accepted")
    kstack.put(ctp("xff", {"trustedHops": 1}))
    wait_for(lambda: get_xff("198.51.100.1") == 200, what="XFF client let through")
    assert get_xff("6.6.6.6, 127.0.0.9") == 403  # the rightmost entry is the client
    wait_for(lambda: reason("ClientTrafficPolicy", "xff") == "Accepted", what="ctp Accepted")
    # Only the decoder states this one (the double runs no CEL): Invalid.
    kstack.put(ctp("bad", {"trustedHops": 1, "trustedCIDRs": ["10.0.0.0/8"]}))
    wait_for(lambda: reason("ClientTrafficPolicy", "bad") == "Invalid", what="bad Invalid")
    anc = kstack.kube.status_of("ClientTrafficPolicy", "bad", NS)["ancestors"][0]
    assert "exactly one of trustedHops and trustedCIDRs" in condition(anc, "Accepted")["message"]
    kstack.kube.delete("SourceAddressPolicy", "deny-me", NS)
    wait_for(lambda: kstack.get("/x").status == 200, what="deny lifted")


def test_backend_policies_from_the_api(kstack):
    """LoadBalancerPolicy and CircuitBreakerPolicy (gatehouse.dev CRDs)
    through the API: served (a key reaches one pod on both workers), their
    status.ancestors written back (Accepted; a second LoadBalancerPolicy on
    the Service is Conflicted), and one the decoder rejects is Invalid."""
    kstack.backend("web", replicas=3)
    kstack.base()
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))

    def pol(kind, name, **spec):
        return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": kind,
                "metadata": {"name": name, "namespace": NS},
                "spec": dict({"targetRefs": [{"group": "", "kind": "Service", "name": "web"}]},
                             **spec)}
    kstack.put(pol("LoadBalancerPolicy", "lb", type="ConsistentHash",
                   consistentHash={"key": "Header", "header": "X-User"}),
               pol("CircuitBreakerPolicy", "cb", maxRequests=100))
    kstack.start_k8s(workers=2)
    kstack.served_by("/x", "web")

    def reason(kind, name):
        anc = kstack.kube.status_of(kind, name, NS).get("ancestors") or []
        return anc and condition(anc[0], "Accepted")["reason"]
    wait_for(lambda: reason("LoadBalancerPolicy", "lb") == "Accepted", what="lb Accepted")
    wait_for(lambda: reason("CircuitBreakerPolicy", "cb") == "Accepted", what="cb Accepted")

    def pod_of(user):
        with H1(kstack.addr, kstack.port, timeout=5) as c:
            r = c.request("GET", "/k", host="example.com", headers=[("X-User", user)])
        assert r.status == 200, r
        return r.json()["pod"]
    owners = set()
    for u in range(12):
        seen = {pod_of(f"u{u}") for _ in range(3)}
        assert len(seen) == 1, seen
        owners |= seen
    assert len(owners) >= 2, owners

    time.sleep(1.1)  # creationTimestamp has second resolution: "second" is younger
    kstack.put(pol("LoadBalancerPolicy", "second", type="LeastRequest"))
    wait_for(lambda: reason("LoadBalancerPolicy", "second") == "Conflicted",
             what="second Conflicted")
    bad = pol("LoadBalancerPolicy", "bad", type="ConsistentHash",
              consistentHash={"key": "Header"})
    kstack.put(bad)
    wait_for(lambda: reason("LoadBalancerPolicy", "bad") == "Invalid", what="bad Invalid")
    anc = kstack.kube.status_of("LoadBalancerPolicy", "bad", NS)["ancestors"][0]
    assert "header must be set when key is Header" in condition(anc, "Accepted")["message"]
    assert (anc["ancestorRef"]["kind"], anc["ancestorRef"]["name"]) == ("Service", "web")
    assert len({pod_of("u1") for _ in range(3)}) == 1  # the valid one still serves


def test_jwtpolicy_from_the_api(kstack):
    """A JWTPolicy and its JWKS Secret through the API: tokens checked,
    status.ancestors written back; the Secret rotated to a new key takes
    effect; the Secret deleted makes the policy Invalid and the route fail
    closed (500)."""
    import base64
    from jwtutil import Signer, jwks
    old, new = Signer("RS256", "k1"), Signer("EdDSA", "k2")
    kstack.backend("web")
    kstack.base()
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))

    def secret(*signers):
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "jwks", "namespace": NS},
                "data": {"jwks.json": base64.b64encode(jwks(*signers).encode()).decode()}}
    kstack.put(secret(old), {
        "apiVersion": "gatehouse.dev/v1alpha1", "kind": "JWTPolicy",
        "metadata": {"name": "jwt", "namespace": NS},
        "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                 "name": "web"}],
                 "providers": [{"name": "p", "issuer": "https://issuer.test",
                                "jwks": {"secretRef": {"name": "jwks", "key": "jwks.json"}},
                                "claimsToHeaders": [{"claim": "sub", "header": "X-User"}]}]}})
    kstack.start_k8s()

    def status(token=None):
        h = [("Authorization", f"Bearer {token}")] if token else []
        with H1(kstack.addr, kstack.port, timeout=3) as c:
            return c.request("GET", "/x", host="example.com", headers=h).status

    def reason():
        anc = (kstack.kube.status_of("JWTPolicy", "jwt", NS) or {}).get("ancestors") or []
        return anc and condition(anc[0], "Accepted")["reason"]
    wait_for(lambda: reason() == "Accepted", what="JWTPolicy Accepted")
    wait_for(lambda: status() == 401, what="401 without a token")
    assert status(old.token()) == 200
    t_old, t_new = old.token(), new.token()
    kstack.put(secret(new))
    wait_for(lambda: status(t_new) == 200, what="the rotated key served")
    assert status(t_old) == 401
    kstack.kube.delete("Secret", "jwks", NS)
    wait_for(lambda: reason() == "Invalid", what="JWTPolicy Invalid")
    assert status(t_new) == 500


@pytest.mark.deadline(90)
def test_jwtpolicy_remote_jwks_from_the_api(kstack, tls_files):
    """A JWTPolicy whose JWKS is fetched over HTTPS (jwks.remote), its CA in
    a ConfigMap, all through the API: 401 "keys unavailable" while the JWKS
    server is down, tokens verified once it answers; the CA ConfigMap
    deleted makes the policy Invalid."""
    from jwtutil import Signer, jwks
    from test_jwt_remote import JwksServer
    signer = Signer("ES256", "k1")
    srv = JwksServer(tls_files)
    srv.doc = jwks(signer)
    kstack.backend("web")
    kstack.base()
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))
    kstack.put({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "jwks-ca", "namespace": NS},
                "data": {"ca.crt": tls_files.pem(tls_files.ca)}}, {
        "apiVersion": "gatehouse.dev/v1alpha1", "kind": "JWTPolicy",
        "metadata": {"name": "jwt", "namespace": NS},
        "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                 "name": "web"}],
                 "providers": [{"name": "p", "issuer": "https://issuer.test", "jwks": {"remote": {
                     "uri": srv.uri, "timeout": "1s", "refreshInterval": "10s",
                     "caCertificateRefs": [{"group": "", "kind": "ConfigMap",
                                            "name": "jwks-ca"}]}}}]}})
    kstack.start_k8s()

    def get(token):
        with H1(kstack.addr, kstack.port, timeout=3) as c:
            r = c.request("GET", "/x", host="example.com",
                          headers=[("Authorization", f"Bearer {token}")])
            return r.status, r.header("WWW-Authenticate") or ""

    def reason():
        anc = (kstack.kube.status_of("JWTPolicy", "jwt", NS) or {}).get("ancestors") or []
        return anc and condition(anc[0], "Accepted")["reason"]
    try:
        wait_for(lambda: reason() == "Accepted", what="JWTPolicy Accepted")
        st, www = get(signer.token())
        assert st == 401 and "keys unavailable" in www, (st, www)
        srv.start()
        wait_for(lambda: get(signer.token())[0] == 200, 20, what="served with fetched keys")
        kstack.kube.delete("ConfigMap", "jwks-ca", NS)
        wait_for(lambda: reason() == "Invalid", what="JWTPolicy Invalid")
        assert get(signer.token())[0] == 500
    finally:
        srv.stop()


@pytest.mark.deadline(90)
def test_xbackend_from_the_api(kstack):
    """An XBackend (gateway.networking.x-k8s.io/v1alpha1) through the API:
    its hostname resolved by the proxy (--dns-server: a DNS server this test
    runs) and served; ResolvedRefs True on its route; a route naming a
    missing XBackend answers 500 with ResolvedRefs False (BackendNotFound);
    the XBackend created later is picked up."""
    from conftest import pick_address
    from dnsserver import DNSServer
    b = kstack.backend("web")
    dns = DNSServer(pick_address())
    try:
        dns.set("web.example.test", 30, [b.procs[0].addr])
        x = "gateway.networking.x-k8s.io"

        def xb(name):
            return {"apiVersion": f"{x}/v1alpha1", "kind": "XBackend",
                    "metadata": {"name": name, "namespace": NS},
                    "spec": {"type": "ExternalHostname",
                             "externalHostname": {"hostname": "web.example.test"},
                             "port": {"port": b.port}}}
        kstack.base()
        kstack.put(xb("ext"),
                   httproute("ext", [{"matches": [prefix("/")],
                                      "backendRefs": [{"group": x, "kind": "XBackend",
                                                       "name": "ext"}]}]),
                   httproute("late", [{"matches": [prefix("/late")],
                                       "backendRefs": [{"group": x, "kind": "XBackend",
                                                        "name": "later"}]}]))
        kstack.start_k8s(args=("--dns-server", f"{dns.addr}:{dns.port}"))
        kstack.served_by("/x", "web")
        wait_for(lambda: condition(kstack.route_parent("ext") or {}, "ResolvedRefs"),
                 what="the route's ResolvedRefs")
        assert condition(kstack.route_parent("ext"), "ResolvedRefs")["status"] == "True"
        wait_for(lambda: condition(kstack.route_parent("late") or {}, "ResolvedRefs"),
                 what="the late route's ResolvedRefs")
        rr = condition(kstack.route_parent("late"), "ResolvedRefs")
        assert rr["status"] == "False" and rr["reason"] == "BackendNotFound", rr
        assert kstack.get("/late").status == 500
        kstack.put(xb("later"))
        kstack.served_by("/late", "web")
        wait_for(lambda: condition(kstack.route_parent("late"), "ResolvedRefs")["status"] == "True",
                 what="the late route resolved")
    finally:
        dns.stop()


@pytest.mark.deadline(90)
def test_extauthpolicy_from_the_api(kstack):
    """An ExtAuthPolicy (gatehouse.dev CRD) through the API: the
    authorization service (a Service and EndpointSlice in the API) lets a
    good token through with its header copied, answers the others itself;
    status.ancestors Accepted, and Invalid while its Service is missing."""
    from test_ext_auth import AuthServer
    a = AuthServer()
    try:
        kstack.backend("web")
        kstack.base()
        kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))
        kstack.put(*a.objects())

        def eap(name, svc):
            return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "ExtAuthPolicy",
                    "metadata": {"name": name, "namespace": NS},
                    "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io",
                                             "kind": "HTTPRoute", "name": "web"}],
                             "http": {"backendRef": {"name": svc, "port": 8080},
                                      "headersToAuth": ["X-Token"],
                                      "headersFromAuth": ["X-User"]}}}
        kstack.put(eap("check", "authz"))
        kstack.start_k8s()

        def reason(name):
            anc = kstack.kube.status_of("ExtAuthPolicy", name, NS).get("ancestors") or []
            return anc and condition(anc[0], "Accepted")["reason"]
        wait_for(lambda: reason("check") == "Accepted", what="check Accepted")

        def get(token):
            with H1(kstack.addr, kstack.port, timeout=5) as c:
                return c.request("GET", "/x", host="example.com", headers=[("X-Token", token)])
        r = wait_for(lambda: (lambda r: r if r.status == 200 else None)(get("good")),
                     what="a good token served")
        assert r.json()["headers"]["X-User"] == ["alice"]
        bad = get("bad")
        assert bad.status == 403 and bad.header("X-Deny-Reason") == "bad token"
        kstack.kube.delete("Service", "authz", NS)
        wait_for(lambda: reason("check") == "Invalid", what="check Invalid without its Service")
    finally:
        a.close()


def test_xbackendtrafficpolicy_from_the_api(kstack):
    """An XBackendTrafficPolicy (the Gateway API's experimental CRD, group
    gateway.networking.x-k8s.io) through the API: its sessionPersistence is
    served to a rule without its own, its status.ancestors written back
    (Accepted; a younger policy on the same Service is Conflicted; a missing
    Service is TargetNotFound), a delete lifts it, and one the decoder
    rejects (a CEL rule the double does not run) is Invalid."""
    kstack.backend("web", replicas=2)
    kstack.base()
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))

    def xbtp(name, svc="web", **spec):
        return {"apiVersion": "gateway.networking.x-k8s.io/v1alpha1",
                "kind": "XBackendTrafficPolicy",
                "metadata": {"name": name, "namespace": NS},
                "spec": dict({"targetRefs": [{"group": "", "kind": "Service", "name": svc}]},
                             **spec)}
    kstack.put(xbtp("first", sessionPersistence={"sessionName": "xsp"},
                    retryConstraint={"budget": {"percent": 10}}),
               xbtp("nope", svc="nope", retryConstraint={}))
    kstack.start_k8s()
    kstack.served_by("/x", "web")

    def reason(name):
        anc = (kstack.kube.status_of("XBackendTrafficPolicy", name, NS) or {}).get(
            "ancestors") or []
        return anc and condition(anc[0], "Accepted")["reason"]
    wait_for(lambda: reason("first") == "Accepted", what="first Accepted")
    wait_for(lambda: reason("nope") == "TargetNotFound", what="nope TargetNotFound")

    def sticky_cookie():
        r = kstack.get("/x")
        for v in r.header_all("set-cookie"):
            if v.startswith("xsp="):
                return v.split(";", 1)[0]
        return None
    wait_for(lambda: sticky_cookie() is not None, what="the policy's session cookie")
    c = sticky_cookie()
    with H1(kstack.addr, kstack.port, timeout=3) as h:
        pods = {h.request("GET", "/x", host="example.com", headers=[("Cookie", c)]).json()["pod"]
                for _ in range(20)}
    assert len(pods) == 1, pods
    time.sleep(1.1)  # creationTimestamp has second resolution: "second" is younger
    kstack.put(xbtp("second", retryConstraint={}))
    wait_for(lambda: reason("second") == "Conflicted", what="second Conflicted")
    kstack.kube.delete("XBackendTrafficPolicy", "first", NS)
    wait_for(lambda: reason("second") == "Accepted", what="second Accepted")
    wait_for(lambda: sticky_cookie() is None, what="the session lifted")
    bad = xbtp("bad", sessionPersistence={"type": "Header", "cookieConfig": {
        "lifetimeType": "Session"}})
    kstack.put(bad)
    wait_for(lambda: reason("bad") == "Invalid", what="bad Invalid")
    anc = kstack.kube.status_of("XBackendTrafficPolicy", "bad", NS)["ancestors"][0]
    assert "cookieConfig can only be set with type Cookie" in condition(anc, "Accepted")["message"]


@pytest.mark.deadline(90)
def test_compressionpolicy_from_the_api(kstack):
    """A CompressionPolicy (gatehouse.dev CRD) through the API: the echo's
    JSON comes back br-coded to a client that accepts br, status.ancestors
    Accepted; once the policy is deleted, plain again."""
    import json

    import brotli
    kstack.backend("web")
    kstack.base()
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))
    kstack.put({"apiVersion": "gatehouse.dev/v1alpha1", "kind": "CompressionPolicy",
                "metadata": {"name": "zip", "namespace": NS},
                "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io",
                                         "kind": "HTTPRoute", "name": "web"}],
                         "encodings": [{"name": "br", "level": 5}], "minSize": 10}})
    kstack.start_k8s()

    def reason():
        anc = kstack.kube.status_of("CompressionPolicy", "zip", NS).get("ancestors") or []
        return anc and condition(anc[0], "Accepted")["reason"]
    wait_for(lambda: reason() == "Accepted", what="zip Accepted")

    def get():
        with H1(kstack.addr, kstack.port, timeout=5) as c:
            return c.request("GET", "/x", host="example.com",
                             headers=[("Accept-Encoding", "gzip, br")])
    r = wait_for(lambda: (lambda r: r if r.header("Content-Encoding") == "br" else None)(get()),
                 what="a br-coded answer")
    assert json.loads(brotli.decompress(r.body))["path"] == "/x"
    assert "Accept-Encoding" in r.header("Vary")
    kstack.kube.delete("CompressionPolicy", "zip", NS)
    r = wait_for(lambda: (lambda r: r if r.header("Content-Encoding") is None else None)(get()),
                 what="plain once the policy is gone")
    assert r.json()["path"] == "/x"
