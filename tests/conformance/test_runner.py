# SPDX-License-Identifier: Apache-2.0
"""Rewrites, the emulated API server, mutations, the report, and the whole runner
against a fake gatehouse; plus one end-to-end smoke test against the real binary."""
import datetime
import os
import subprocess
import sys

import pytest
import yaml

from gwconf import mutations as M
from gwconf import report as R
from gwconf import tlsgen
from gwconf.corpus import Case, Corpus, check_kind, parse_profiles
from gwconf.drivers import CheckDriver
from gwconf.model import Env, ObjectStore, Ref, RunnerError, rewrite
from gwconf.runner import FAIL, PASS, SKIP, CaseResult

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FAKE = os.path.join(HERE, "testdata", "fake_gatehouse.py")
CORPUS = os.environ.get("GW_CONFORMANCE") or os.path.join(os.path.dirname(ROOT), "shared",
                                                            "conformance")
ENV = Env("gatehouse", "gatehouse.dev/gateway-controller", ["127.0.10.254"], ["192.0.2.1"])
need_corpus = pytest.mark.skipif(not os.path.isfile(os.path.join(CORPUS, "INDEX.md")),
                                 reason="conformance corpus not found")


def clock():
    return datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def test_rewrite_placeholders_and_namespace_label():
    gw = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
          "metadata": {"name": "g", "namespace": "ns"},
          "spec": {"gatewayClassName": "{GATEWAY_CLASS_NAME}", "addresses": [
              {"type": "test/fake-invalid-type", "value": "x"},
              {"value": "PLACEHOLDER_UNUSABLE_ADDRS"}, {"value": "PLACEHOLDER_USABLE_ADDRS"}]}}
    out = rewrite(gw, ENV)
    assert out["spec"]["gatewayClassName"] == "gatehouse"
    assert out["spec"]["addresses"] == [{"type": "test/fake-invalid-type", "value": "x"},
                                        {"type": "IPAddress", "value": "192.0.2.1"},
                                        {"type": "IPAddress", "value": "127.0.10.254"}]
    assert gw["spec"]["gatewayClassName"] == "{GATEWAY_CLASS_NAME}"  # input untouched
    gc = rewrite({"kind": "GatewayClass", "metadata": {"name": "x"},
                  "spec": {"controllerName": "{GATEWAY_CONTROLLER_NAME}"}}, ENV)
    assert gc["spec"]["controllerName"] == "gatehouse.dev/gateway-controller"
    ns = rewrite({"kind": "Namespace", "metadata": {"name": "a", "labels": {"x": "y"}}}, ENV)
    assert ns["metadata"]["labels"] == {"x": "y", "kubernetes.io/metadata.name": "a"}


def test_store_generation_rules():
    s = ObjectStore(clock)
    ref = s.apply({"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"},
                   "data": {"a": "1"}})
    gref = s.apply({"kind": "GatewayClass", "metadata": {"name": "gc", "namespace": "bogus"},
                    "spec": {"controllerName": "x"}})
    assert gref == Ref("GatewayClass", "", "gc")
    assert s.get(gref)["metadata"]["creationTimestamp"] == "2026-01-01T00:00:00Z"
    uid = s.get(gref)["metadata"]["uid"]
    s.update(gref, lambda o: o["metadata"].setdefault("labels", {}).update(a="b"))
    assert s.generation(gref) == 1  # metadata only
    s.update(gref, lambda o: o["spec"].update(description="new"))
    assert s.generation(gref) == 2 and s.get(gref)["metadata"]["uid"] == uid
    s2 = s.copy()
    s2.delete(ref)
    assert ref in s and ref not in s2
    with pytest.raises(RunnerError):
        s2.delete(ref)


def test_generic_mutations():
    s = ObjectStore(clock)
    ref = s.apply({"kind": "HTTPRoute", "metadata": {"name": "observed-generation-bump",
                                                     "namespace": "gateway-conformance-infra"},
                   "spec": {"rules": [{"backendRefs": [{"name": "infra-backend-v1"}]}]}})
    ctx = M.MutationCtx(s, env=ENV)
    patch = [{"op": "test", "path": "/spec/rules/0/backendRefs/0/name",
              "value": "infra-backend-v1"},
             {"op": "replace", "path": "/spec/rules/0/backendRefs/0/name",
              "value": "infra-backend-v2"}]
    M.perform("mutate", {"object": str(ref), "change": "prose is ignored", "patch": patch}, ctx)
    assert s.get(ref)["spec"]["rules"][0]["backendRefs"][0]["name"] == "infra-backend-v2"
    assert s.generation(ref) == 2
    assert ctx.writes[-1][0] == "patch" and ctx.writes[-1][1] == ref
    with pytest.raises(M.PatchTestFailed):   # the precondition no longer holds
        M.perform("mutate", {"object": str(ref), "patch": patch}, ctx)
    assert s.generation(ref) == 2
    with pytest.raises(RunnerError):          # prose only
        M.perform("mutate", {"object": str(ref), "change": "something else"}, ctx)
    # add/-, remove, placeholders in values, move/copy
    g = s.apply({"kind": "Gateway", "metadata": {"name": "g", "namespace": "n"},
                 "spec": {"addresses": [{"value": "x"}, {"value": "192.0.2.1"}],
                          "listeners": []}})
    M.perform("mutate", {"object": str(g), "patch": [
        {"op": "test", "path": "/spec/addresses/1/value", "value": "PLACEHOLDER_UNUSABLE_ADDRS"},
        {"op": "remove", "path": "/spec/addresses/1"},
        {"op": "add", "path": "/spec/addresses/-", "value": {"value": "PLACEHOLDER_USABLE_ADDRS"}},
        {"op": "add", "path": "/spec/listeners/-", "value": {"name": "a~b/c", "port": 80}},
        {"op": "copy", "from": "/spec/listeners/0", "path": "/spec/listeners/0"},
        {"op": "add", "path": "/spec/gatewayClassName", "value": "{GATEWAY_CLASS_NAME}"}]}, ctx)
    spec = s.get(g)["spec"]
    assert spec["addresses"] == [{"value": "x"}, {"type": "IPAddress", "value": "127.0.10.254"}]
    assert len(spec["listeners"]) == 2 and spec["gatewayClassName"] == "gatehouse"
    assert M.resolve(s.get(g), "/spec/listeners/1/name") == "a~b/c"
    # apply with a value_from patch
    cm = Ref("ConfigMap", "n", "src")
    s.apply({"kind": "ConfigMap", "metadata": {"name": "src", "namespace": "n"},
             "data": {"ca.crt": "PEM"}})
    M.perform("apply", {"object": "ConfigMap/n/dst", "manifest": {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dst", "namespace": "n"},
        "data": {"ca.crt": ""}}, "patch": [{"op": "replace", "path": "/data/ca.crt",
                                            "value_from": {"object": str(cm),
                                                           "path": "/data/ca.crt"}}]}, ctx)
    assert s.get(Ref("ConfigMap", "n", "dst"))["data"] == {"ca.crt": "PEM"}
    # endpoints_of needs a data plane
    with pytest.raises(M.NeedsDataPlane):
        M.perform("mutate", {"object": "ConfigMap/n/dst", "patch": [
            {"op": "replace", "path": "/data", "value_from": {"endpoints_of": "Service/n/s",
                                                              "family": "IPv4"}}]}, ctx)

    class FakeDriver:
        def service_endpoints(self, store, ns, svc, family):
            return [("127.0.20.1", "s-abc-def", ns)] if family == "IPv4" else []
    ctx.driver = FakeDriver()
    M.perform("mutate", {"object": "ConfigMap/n/dst", "patch": [
        {"op": "add", "path": "/endpoints", "value_from": {
            "endpoints_of": "Service/n/s", "family": "IPv4",
            "conditions": {"ready": True}, "target_ref_kind": "Pod"}}]}, ctx)
    assert s.get(Ref("ConfigMap", "n", "dst"))["endpoints"] == [
        {"addresses": ["127.0.20.1"], "conditions": {"ready": True},
         "targetRef": {"kind": "Pod", "name": "s-abc-def", "namespace": "n"}}]
    M.perform("delete", {"object": str(ref)}, ctx)
    assert ref not in s


@need_corpus
def test_every_corpus_mutation_is_structured():
    n = 0
    for case in Corpus(CORPUS).cases(mesh=True):
        for ph in case.phases:
            for ch in ph["checks"]:
                kind, args = check_kind(ch)
                if kind in ("mutate", "apply", "delete"):
                    n += 1
                    assert M.unsupported(kind, args) == "", (case.name, kind, args)
    assert n > 0


def test_san_classification():
    assert tlsgen.san_entry("*") == "URI:*"
    assert tlsgen.san_entry("*.wildcard.org") == "DNS:*.wildcard.org"
    assert tlsgen.san_entry("abc.example.com") == "DNS:abc.example.com"
    assert tlsgen.san_entry("spiffe://abc.example.com/x") == "URI:spiffe://abc.example.com/x"
    assert tlsgen.san_entry("10.0.0.1") == "IP:10.0.0.1"


def test_parse_profiles_and_channels():
    text = ("| GATEWAY-HTTP | Gateway, HTTPRoute, ReferenceGrant | ListenerSet, HTTPRouteRetry |\n"
            "| `HTTPRouteRetry` | HTTPRouteExtendedFeatures | experimental | – | x | y | 1 |\n")
    assert parse_profiles(text) == {"GATEWAY-HTTP": ({"Gateway", "HTTPRoute", "ReferenceGrant"},
                                                     {"ListenerSet", "HTTPRouteRetry"})}
    assert R.parse_channels(text) == {"HTTPRouteRetry": "experimental"}


def _case(name, features, profiles, provisional=False):
    return Case(name, {"format": "gwconf-case/1", "test": name, "features": features,
                       "profiles": profiles, "provisional": provisional, "phases": []})


def test_report_shape():
    profiles = {"GATEWAY-HTTP": ({"Gateway", "HTTPRoute"}, {"HTTPRouteRetry", "ListenerSet"})}
    results = [CaseResult(_case("A", ["Gateway"], ["GATEWAY-HTTP"]), PASS),
               CaseResult(_case("B", ["Gateway", "HTTPRouteRetry"], ["GATEWAY-HTTP"]), SKIP),
               CaseResult(_case("C", ["Gateway", "HTTPRoute"], ["GATEWAY-HTTP"]), FAIL),
               CaseResult(_case("P", ["Gateway"], ["GATEWAY-HTTP"], provisional=True), PASS)]
    rep = R.build(results, profiles, ["GATEWAY-HTTP"], ["Gateway", "HTTPRoute", "ListenerSet"],
                  {"organization": "gatehouse"}, {"HTTPRouteRetry": "experimental"})
    assert rep["kind"] == "ConformanceReport"
    assert rep["apiVersion"] == "gateway.networking.k8s.io/v1alpha1"
    assert rep["gatewayAPIVersion"] == "v1.6.1" and rep["mode"] == "default"
    assert rep["gatewayAPIChannel"] == "standard"
    assert rep["inferredSupportedFeatures"] is True
    p = rep["profiles"][0]
    # the provisional P counts (upstream counts provisional tests unless told not to)
    assert p["core"]["statistics"] == {"Passed": 2, "Failed": 1, "Skipped": 0}
    assert p["core"]["result"] == "failure" and p["core"]["failedTests"] == ["C"]
    assert p["extended"]["statistics"] == {"Passed": 0, "Failed": 0, "Skipped": 1}
    assert p["extended"]["result"] == "partial"
    assert p["extended"]["supportedFeatures"] == ["ListenerSet"]
    assert p["extended"]["unsupportedFeatures"] == ["HTTPRouteRetry"]
    assert p["summary"] == ("Core tests failed with 1 test failures. Extended tests partially "
                            "succeeded with 1 test skips.")
    assert rep["succeededProvisionalTests"] == ["P"]
    yaml.safe_dump(rep)


def test_report_counts_as_upstream():
    # Profile core = {Gateway, HTTPRoute}; HTTPRouteQueryParamMatching is in
    # neither list of the profile: a case needing it is extended (upstream
    # isTestExtended: any feature that is not core), not core.
    profiles = {"GATEWAY-HTTP": ({"Gateway", "HTTPRoute"}, {"HTTPRouteRetry"})}
    odd = _case("Q", ["Gateway", "HTTPRouteQueryParamMatching"], ["GATEWAY-HTTP"])
    prov = _case("P", ["Gateway"], ["GATEWAY-HTTP"], provisional=True)
    unsup = _case("U", ["HTTPRouteRetry"], ["GATEWAY-HTTP"])
    results = [CaseResult(odd, PASS), CaseResult(prov, PASS),
               CaseResult(unsup, SKIP, "unsupported features: HTTPRouteRetry",
                          kind="not_supported")]
    rep = R.build(results, profiles, ["GATEWAY-HTTP"], ["Gateway", "HTTPRoute"], {}, {},
                  features_inferred=False)
    p = rep["profiles"][0]
    assert p["core"]["statistics"] == {"Passed": 1, "Failed": 0, "Skipped": 0}   # P
    assert p["extended"]["statistics"] == {"Passed": 1, "Failed": 0, "Skipped": 0}  # Q; U not
    assert p["summary"] == "Core tests succeeded. Extended tests succeeded."
    assert rep["inferredSupportedFeatures"] is False
    # --skip-provisional-tests: the provisional case is neither counted nor listed
    results[1] = CaseResult(prov, SKIP, "provisional", kind="provisional_skipped")
    rep = R.build(results, profiles, ["GATEWAY-HTTP"], ["Gateway", "HTTPRoute"], {}, {})
    assert rep["profiles"][0]["core"]["statistics"] == {"Passed": 0, "Failed": 0, "Skipped": 0}
    assert "succeededProvisionalTests" not in rep
    # no extended case counted: no extended block (upstream leaves it nil)
    rep = R.build([CaseResult(prov, PASS)], profiles, ["GATEWAY-HTTP"], ["Gateway"], {}, {})
    assert "extended" not in rep["profiles"][0]
    assert rep["profiles"][0]["summary"] == "Core tests succeeded."


def _run(args, env_extra=None, binary=FAKE):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, os.path.join(HERE, "run.py"), "--gatehouse", binary,
                           "--corpus", CORPUS] + args, capture_output=True, text=True, env=env,
                          timeout=300)


@need_corpus
def test_runner_against_fake_gatehouse(tmp_path):
    rep = tmp_path / "report.yaml"
    p = _run(["--case", "GatewayObservedGenerationBump", "--case", "HTTPRouteSimpleSameNamespace",
              "--case", "GatewayInvalidRouteKind", "--case", "TCPRouteReferenceGrant",
              "--report", str(rep)], {"FAKE_FEATURES": "Gateway,HTTPRoute"})
    out = p.stdout
    assert "PASS  GatewayObservedGenerationBump" in out, out + p.stderr
    assert "SKIP  HTTPRouteSimpleSameNamespace: status checks passed (2), 1 traffic check " \
        "pending data plane" in out
    assert "FAIL  GatewayInvalidRouteKind: phase" in out  # the fake accepts every listener
    assert "SKIP  TCPRouteReferenceGrant: unsupported features: TCPRoute, ReferenceGrant" in out
    assert out.rstrip().splitlines()[-2] == "1 passed, 1 failed, 2 skipped"
    assert p.returncode == 1
    doc = yaml.safe_load(rep.read_text())
    assert doc["kind"] == "ConformanceReport" and doc["implementation"]["version"] == "0.0.0-fake"


@need_corpus
def test_runner_stale_generation_fails(tmp_path):
    p = _run(["--case", "GatewayObservedGenerationBump"],
             {"FAKE_FEATURES": "Gateway", "FAKE_STALE": "1"})
    assert "SETUP FAIL: base Gateways not ready" in p.stdout
    assert "FAIL  GatewayObservedGenerationBump" in p.stdout and "not current" in p.stdout
    assert p.returncode == 1


@need_corpus
def test_setup_requires_gatewayclass_accepted(tmp_path):
    # Upstream's setup (GWCMustHaveAcceptedConditionTrue) stops the suite
    # when the GatewayClass is not Accepted=True with current conditions.
    for mode, words in (("rejected", "Accepted=True"), ("stale", "not current")):
        p = _run(["--case", "GatewayObservedGenerationBump"],
                 {"FAKE_FEATURES": "Gateway", "FAKE_GWC": mode})
        assert "SETUP FAIL: GatewayClass not accepted" in p.stdout, p.stdout + p.stderr
        assert words in p.stdout, p.stdout
        assert "GatewayObservedGenerationBump" not in p.stdout
        assert p.returncode == 1


GATEHOUSE = os.environ.get("GATEHOUSE")


@need_corpus
@pytest.mark.skipif(not GATEHOUSE or not os.access(GATEHOUSE, os.X_OK) or
                    not CheckDriver.supports_json(GATEHOUSE),
                    reason="gatehouse check has no -o json yet (or GATEHOUSE unset)")
def test_smoke_real_gatehouse_status_only_case():
    p = _run(["--case", "GatewayInvalidRouteKind", "--supported-features", "Gateway"],
             binary=GATEHOUSE)
    assert "GatewayInvalidRouteKind" in p.stdout, p.stdout + p.stderr
    assert "PASS  GatewayInvalidRouteKind" in p.stdout, p.stdout + p.stderr


# ---- Kubernetes mode (the kube API server double) ------------------------------------

FAKE_K8S = os.path.join(HERE, "testdata", "fake_gatehouse_k8s.py")
KUBE_DOUBLE = os.path.join(os.path.dirname(ROOT), "shared", "kube", "apiserver.py")
need_kube = pytest.mark.skipif(not os.path.isfile(os.environ.get("GW_KUBE_DOUBLE", "") +
                                                  "/apiserver.py")
                               and not os.path.isfile(KUBE_DOUBLE),
                               reason="kube API server double not found")


@need_kube
def test_kube_client_verbs(tmp_path):
    from gwconf.kube import APIError, APIServer
    api = APIServer(str(tmp_path / "kube"))
    try:
        c = api.client
        c.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})
        gw = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
              "metadata": {"name": "g", "namespace": "n"},
              "spec": {"gatewayClassName": "x", "listeners": [
                  {"name": "http", "port": 80, "protocol": "HTTP"}]}}
        got = c.create(gw)
        assert got["metadata"]["generation"] == 1
        # CRD defaults applied by the server
        assert got["spec"]["listeners"][0]["allowedRoutes"]["namespaces"]["from"] == "Same"
        ref = Ref("Gateway", "n", "g")
        got = c.json_patch("gateway.networking.k8s.io/v1", ref, [
            {"op": "test", "path": "/spec/gatewayClassName", "value": "x"},
            {"op": "replace", "path": "/spec/gatewayClassName", "value": "y"}])
        assert got["metadata"]["generation"] == 2
        with pytest.raises(APIError):   # the server checks `test` too
            c.json_patch("gateway.networking.k8s.io/v1", ref, [
                {"op": "test", "path": "/spec/gatewayClassName", "value": "x"}])
        items = c.list("gateway.networking.k8s.io/v1", "Gateway")
        assert [Ref.of(i) for i in items] == [ref]
        c.delete("gateway.networking.k8s.io/v1", ref)
        with pytest.raises(APIError) as e:
            c.get(ref, "gateway.networking.k8s.io/v1")
        assert e.value.code == 404
    finally:
        api.close()


@need_corpus
@need_kube
def test_runner_kubernetes_mode_against_fake_controller():
    """The whole Kubernetes-mode runner: objects, mutations (JSON Patch), deletes and
    statuses all go through the API server double; fake_gatehouse_k8s.py writes the
    statuses of the (idealised) fake check through the API."""
    env = {"FAKE_FEATURES": "Gateway,HTTPRoute,ReferenceGrant,GatewayInfrastructurePropagation",
           "FAKE_K8S_REAL": FAKE, "FAKE_K8S_GWCONF": HERE}
    p = _run(["--kubernetes", "--case", "GatewayObservedGenerationBump",
              "--case", "HTTPRouteReferenceGrant"], env,
             binary=FAKE_K8S)
    out = p.stdout
    assert "mode kubernetes" in out, out + p.stderr
    assert "PASS  GatewayObservedGenerationBump" in out, out + p.stderr
    assert "SKIP  HTTPRouteReferenceGrant: status checks passed" in out, out


def test_tls_trust_accepts_a_leaf_as_anchor(tmp_path):
    """Like Go's crypto/tls, a certificate in the root pool is a trust anchor even
    when it is not a CA (X509_V_FLAG_PARTIAL_CHAIN)."""
    import ssl
    from gwconf import traffic
    crt = tmp_path / "tls.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(tmp_path / "k"),
                    "-out", str(crt), "-subj", "/CN=leaf", "-days", "1"],
                   check=True, capture_output=True)

    class T:
        def pem_file(self, ref, key):
            return str(crt)
    ctx, _ = traffic.tls_context(T(), {"trust": "Secret/ns/x"})
    assert ctx.verify_flags & ssl.VERIFY_X509_PARTIAL_CHAIN
    assert ctx.verify_mode == ssl.CERT_REQUIRED


def test_ipv6_plumbing(tmp_path):
    """--ipv6: replicas on IPv6 get IPv6 EndpointSlices (one slice per family,
    as the EndpointSlice controller writes them), the IPv6 /proc/net/udp6
    encoding is read right, and IPv6 literals are bracketed in authorities."""
    import socket
    from gwconf import backends as B
    from gwconf import traffic as TR
    store = ObjectStore(clock)
    store.apply({"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": "web", "namespace": "ns"},
                 "spec": {"selector": {"app": "web"},
                          "ports": [{"name": "http", "port": 80, "targetPort": 3000}]}})
    pods = B.Pods("/bin/true", str(tmp_path))
    reps = [B.Replica("web", "ns", "web-a-b", "fd00:20::1", {"app": "web"}, [3000], []),
            B.Replica("web", "ns", "web-a-c", "127.0.20.9", {"app": "web"}, [3000], [])]
    for r in reps:
        r.ready = True
    pods.running[Ref("Deployment", "ns", "web")] = ("k", reps)
    slices = pods.endpoint_slices(store)
    fams = sorted((s["addressType"], [e["addresses"][0] for e in s["endpoints"]]) for s in slices)
    assert fams == [("IPv4", ["127.0.20.9"]), ("IPv6", ["fd00:20::1"])]
    assert len({s["metadata"]["name"] for s in slices}) == 2
    assert pods.service_endpoints(store, "ns", "web", "IPv6") == [("fd00:20::1", "web-a-b", "ns")]
    assert TR._host_default("fd00:10::ff", 80) == "[fd00:10::ff]"
    assert TR._host_default("fd00:10::ff", 8080) == "[fd00:10::ff]:8080"
    assert TR._host_default("127.0.0.1", 8080) == "127.0.0.1:8080"
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.bind(("::1", 0))
        assert B._udp_bound("::1", s.getsockname()[1])
    finally:
        s.close()
