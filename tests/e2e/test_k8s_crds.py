# SPDX-License-Identifier: Apache-2.0
"""Policy kinds whose CRD is absent at the start (docs/kubernetes.md, "Lists
and watches"), against the API server double:

* with the CRDs watched (the shipped RBAC allows it): discovery runs once per
  API group, not once per kind; an absent kind costs no request at all in
  steady state (a window longer than the old 30 s re-discovery); a policy
  CRD installed later is picked up at once (its policy served within 2 s),
  deleting the CRD lifts the policy, installing it again brings it back; a
  410 on the CRD watch relists the CRDs and restarts nothing;
* without list/watch on CRDs (RBAC without that rule: 403), one warning,
  and a CRD installed later is found by the discovery poll (30 s).

Each test starts its own double, echo backend and gatehouse, and stops them.
"""
import copy
import os
import time

import pytest
import yaml

from gateway import (NS, GatewayProcess, backend, base_env, gatehouse_run,  # noqa: F401
                     httproute, prefix)
from kube import CRDS, OWN_CRDS, condition, have_double, wait_for
from test_k8s_mode import KubeStack

pytestmark = pytest.mark.skipif(not have_double(), reason="../shared/kube is not beside the repo")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
RLP_CRD = "ratelimitpolicies.gatehouse.dev"
SA_NS = "gatehouse-system"
SA_TOKEN = "gatehouse-crds-test-token"
# steady-state window: longer than the 30 s the absent kinds used to wait
# between two discoveries each
QUIET_S = float(os.environ.get("GW_CRDS_QUIET_S", "31"))


def own_crd(kind):
    with open(OWN_CRDS) as f:
        for d in yaml.safe_load_all(f):
            if d and d["spec"]["names"]["kind"] == kind:
                return d
    raise AssertionError(f"no CRD for {kind} in {OWN_CRDS}")


def rlp(name, requests):
    return {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "RateLimitPolicy",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io",
                                     "kind": "HTTPRoute", "name": "web"}],
                     "limits": [{"name": "l", "requests": requests, "interval": "1m"}]}}


def counts(kube):
    c = kube.counts()
    return {k: v for k, v in c.get("counts", c).items() if isinstance(v, int)}


def not_watch_or_lease(by):
    return {k: v for k, v in by.items() if not k.startswith("watch ") and "leases" not in k}


def limited(stack):
    """A request answered 429 (the 2-a-minute limit is in force)."""
    return any(stack.get("/x").status == 429 for _ in range(3))


def install_rlp_crd_and_policy(kube):
    kube.request("POST", CRD_PATH, own_crd("RateLimitPolicy"))
    wait_for(lambda: kube.request("GET", "/apis/gatehouse.dev/v1alpha1", ok=None)[0] == 200,
             what="gatehouse.dev served")
    kube.create(rlp("limit", 2))


@pytest.fixture
def kstack(gatehouse_run, tmp_path):
    # The Gateway API bundle only: every gatehouse.dev kind is absent.
    s = KubeStack(gatehouse_run, str(tmp_path), crds=False, double_args=["--manifest", CRDS])
    try:
        yield s
    finally:
        problems = s.close()
        assert not problems, "\n".join(problems)


@pytest.mark.deadline(150)
def test_absent_policy_crds_cost_nothing_and_start_when_installed(kstack):
    kstack.backend("web")
    kstack.base()
    kstack.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))
    gw = kstack.start_k8s()
    kstack.served_by("/x", "web")
    kube = kstack.kube

    # Discovery once per group: one GET /apis/gatehouse.dev for its eleven
    # absent kinds, one /apis/G and one /apis/G/v1 for the Gateway API's ten.
    start = counts(kube)
    disc = {k: v for k, v in start.items() if k.startswith("get /api")}
    assert disc.get("get /apis/gatehouse.dev") == 1, disc
    assert disc.get("get /apis/gateway.networking.k8s.io") == 1, disc
    assert max(disc.values()) == 1, disc
    err = gw.stderr()
    assert err.count("not served by the API server") == 1, err[-3000:]
    line = next(ln for ln in err.splitlines() if "not served by the API server" in ln)
    assert "gatehouse.dev: RateLimitPolicy, HealthCheckPolicy" in line, line
    assert "each starts as soon as its CRD is installed" in line, line
    assert gw.metric("gatehouse_kube_kind_installed", kind="RateLimitPolicy") == 0
    assert gw.metric("gatehouse_kube_crds_watched") == 1

    # Steady state, absent kinds included: no request but watches and the Lease.
    time.sleep(1)
    kube.control("DELETE", "requests")
    time.sleep(QUIET_S)
    quiet = not_watch_or_lease(counts(kube))
    assert not quiet, f"requests in {QUIET_S:g} s of steady state: {quiet}"

    # The CRD installed, then a policy: in force within 2 s, with a status.
    kube.control("DELETE", "requests")
    t0 = time.monotonic()
    install_rlp_crd_and_policy(kube)
    wait_for(lambda: limited(kstack), timeout=10, every=0.02, what="the rate limit in force")
    took = time.monotonic() - t0
    assert took < 2.0, f"the policy took {took:.2f} s after its CRD was installed"

    def accepted():
        anc = kube.status_of("RateLimitPolicy", "limit", NS).get("ancestors") or []
        c = anc and condition(anc[0], "Accepted")
        return c and c["status"] == "True"
    wait_for(accepted, what="RateLimitPolicy Accepted")
    # one discovery round for the one kind whose CRD came, then its list
    by = counts(kube)
    assert by.get("get /apis/gatehouse.dev", 0) <= 1, by
    assert by.get("list ratelimitpolicies.gatehouse.dev", 0) == 1, by
    assert gw.metric("gatehouse_kube_kind_installed", kind="RateLimitPolicy") == 1

    # The CRD deleted: the policy is gone with it; installed again: back.
    kube.request("DELETE", f"{CRD_PATH}/{RLP_CRD}", ok=(200, 202))
    wait_for(lambda: not limited(kstack), timeout=5, every=0.05, what="the limit lifted")
    t0 = time.monotonic()
    install_rlp_crd_and_policy(kube)
    wait_for(lambda: limited(kstack), timeout=10, every=0.02, what="the limit back")
    took = time.monotonic() - t0
    assert took < 2.0, f"the policy took {took:.2f} s after its CRD was installed again"

    # The CRD watch resumed past the history (410): it lists again, finds
    # the same CRDs, and starts nothing over (no discovery).
    kube.control("POST", "compact")
    kube.control("DELETE", "requests")
    kube.control("POST", "watches/drop")
    wait_for(lambda: any(k.startswith("list customresourcedefinitions") for k in counts(kube)),
             what="the CRDs listed again")
    time.sleep(1)
    by = counts(kube)
    assert not [k for k in by if k.startswith("get /api")], by
    assert sum(v for k, v in by.items() if k.startswith("list customresourcedefinitions")) == 1
    assert limited(kstack)


def rbac_without_crd_rule():
    """deploy/base/rbac.yaml with the ClusterRole's CRD rule removed."""
    with open(os.path.join(ROOT, "deploy", "base", "rbac.yaml")) as f:
        objs = [o for o in yaml.safe_load_all(f) if o]
    out = []
    for o in objs:
        o = copy.deepcopy(o)
        if o["kind"] == "ClusterRole":
            n = len(o["rules"])
            o["rules"] = [r for r in o["rules"]
                          if "customresourcedefinitions" not in r["resources"]]
            assert len(o["rules"]) == n - 1, "the ClusterRole has no CRD rule"
        out.append(o)
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SA_NS}},
            {"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {"name": "gatehouse", "namespace": SA_NS}}] + out


@pytest.mark.deadline(150)
def test_crds_forbidden_falls_back_to_polling(gatehouse_run, tmp_path):
    work = str(tmp_path)
    man = os.path.join(work, "rbac.yaml")
    with open(man, "w") as f:
        yaml.safe_dump_all(rbac_without_crd_rule(), f)
    sa_dir = os.path.join(work, "sa")
    s = KubeStack(gatehouse_run, work, crds=False, double_args=[
        "--manifest", CRDS, "--manifest", man, "--authorization-mode", "RBAC",
        "--sa-token", f"{SA_NS}/gatehouse={SA_TOKEN}", "--incluster-dir", sa_dir,
        "--incluster-sa", f"{SA_NS}/gatehouse"])
    try:
        s.backend("web")
        s.base()
        s.put(httproute("web", [{"matches": [prefix("/")], "backendRefs": [backend("web")]}]))
        port = s.kube.url.rsplit(":", 1)[1]
        env = base_env(KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=port)
        # in-cluster, as the ServiceAccount (not the admin kubeconfig)
        gw = GatewayProcess(s.binary, work, work, workers=1, env=env, argv=[
            s.binary, "run", "--kubernetes", "--service-account-dir", sa_dir,
            "--lease-namespace", SA_NS])
        s.gws.append(gw)
        gw.wait_ready()
        s.served_by("/x", "web")
        wait_for(lambda: "cannot list and watch CustomResourceDefinitions (HTTP 403"
                 in gw.stderr(), what="the fallback warning")
        err = gw.stderr()
        assert err.count("cannot list and watch CustomResourceDefinitions") == 1, err[-3000:]
        denied = [e for e in s.kube.control("GET", "log")["requests"] if e["code"] == 403]
        assert {e["resource"] for e in denied} == {"customresourcedefinitions"}, denied
        assert len(denied) == 1, denied   # refused once, not retried
        assert gw.metric("gatehouse_kube_crds_watched") == 0

        # A CRD installed now: found by the poll (30 s after the refusal,
        # +10% jitter at most), not before the poll and not much after.
        t0 = time.monotonic()
        install_rlp_crd_and_policy(s.kube)
        wait_for(lambda: limited(s), timeout=45, every=0.2, what="the rate limit in force")
        took = time.monotonic() - t0
        assert took < 40, took
        by = counts(s.kube)
        assert by.get("get /apis/gatehouse.dev", 0) <= 2, by
    finally:
        problems = s.close()
        assert not problems, "\n".join(problems)
