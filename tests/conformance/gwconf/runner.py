# SPDX-License-Identifier: Apache-2.0
"""Runs cases against a GatewayDriver: base setup, phases, polling, results."""
import concurrent.futures
import time

from . import judge as J
from . import traffic as TR
from . import mutations as M
from . import tlsgen
from .corpus import (BOOKKEEPING_CHECKS, CLUSTER_ONLY_CHECKS, MUTATIONS, STATUS_CHECKS,
                     TRAFFIC_CHECKS, check_kind)
from .drivers import DriverError
from .model import GW_GROUP, ObjectStore, Ref, RunnerError, rewrite

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
MESH_CHECKS = frozenset({"mesh_http", "mesh_weights"})
# Upstream's GWCMustBeAccepted timeout (s).
GATEWAYCLASS_WAIT = 180.0
# How long generated resources may take to appear (upstream: 60 s).
GENERATED_WAIT = 60.0
# Cases whose structured edits (FORMAT.md section 6) are known not to say
# what their prose says, so no generic runner can perform them: skipped,
# with the defect as the reason, until the corpus is fixed. Not edits: the
# runner never makes up an edit for a case.
CORPUS_DEFECTS = {
    "HTTPRouteServiceTypes": (
        "corpus defect: the mutate's structured patch fills manual-endpointslices-ip4 only; "
        "its prose (and a YAML comment) says the same edit applies to "
        "headless-manual-endpointslices-ip4 too, which no structured edit does, so "
        "/headless-manual-endpointslices has no endpoints"),
}
# Hard caps (s) on one batch of traffic checks, well above their own limits.
TRAFFIC_CAPS = {"weights": 900, "mirror_distribution": 600, "udp": 120, "dns_query": 120}
BASE_READY_NAMESPACES = ["gateway-conformance-infra", "gateway-conformance-app-backend",
                         "gateway-conformance-web-backend"]


class CaseResult:
    def __init__(self, case, outcome, reason="", details=(), status_checks=0, pending=(),
                 kind=None):
        self.case = case
        self.outcome = outcome
        # Upstream's result type where it differs from the outcome:
        # "not_supported" (a feature not claimed), "provisional_skipped"
        # (--skip-provisional-tests); neither is counted in the report.
        self.kind = kind
        self.reason = reason
        self.details = list(details)        # extra lines (what gatehouse printed)
        self.status_checks = status_checks  # status checks that passed
        self.pending = list(pending)        # traffic/cluster-only checks not run

    @property
    def name(self):
        return self.case.name

    def line(self):
        s = f"{self.outcome}  {self.name}"
        return s + (f": {self.reason}" if self.reason else "")


class CaseFailed(Exception):
    def __init__(self, reason, details=()):
        super().__init__(reason)
        self.reason = reason
        self.details = list(details)


class CaseSkipped(Exception):
    pass


def claimed_features(snap, gateway_class):
    """GatewayClass.status.supportedFeatures: [{name: X}] (v1.2+) or [X]."""
    st = snap.status(Ref("GatewayClass", "", gateway_class))
    out = []
    for f in st.get("supportedFeatures") or []:
        name = f.get("name") if isinstance(f, dict) else f
        if name:
            out.append(str(name))
    return out


class Runner:
    def __init__(self, corpus, driver, env, status_only=True, workdir=None, log=None,
                 timeout_scale=1.0, features=None, kubernetes=False, skip_provisional=False):
        self.corpus = corpus
        self.driver = driver
        self.env = env
        self.status_only = status_only
        self.workdir = workdir
        self.log = log or (lambda s: None)
        self.timeout_scale = timeout_scale
        self.features_override = features
        self.kubernetes = kubernetes
        self.skip_provisional = skip_provisional
        self.base = None
        self.fixtures = {}
        self.claimed = []
        self.setup_problem = None

    # ---- setup -------------------------------------------------------------------

    def gatewayclass(self):
        return {"apiVersion": f"{GW_GROUP}/v1", "kind": "GatewayClass",
                "metadata": {"name": self.env.gateway_class},
                "spec": {"controllerName": self.env.controller_name}}

    def setup(self):
        """Base setup (FORMAT.md section 2). Returns the claimed features."""
        store = ObjectStore(self.driver.now)
        store.apply(self.gatewayclass())
        for obj in self.corpus.load_manifest("upstream/base/manifests.yaml"):
            store.apply(rewrite(obj, self.env))
        if self.workdir is not None:
            objs, _files = tlsgen.generate(self.corpus.fixtures(), self.workdir)
            for obj in objs:
                ref = store.apply(rewrite(obj, self.env))
                self.fixtures[ref] = store.get(ref)
        self.base = store
        self.driver.sync(store)
        # Upstream's suite setup (GWCMustHaveAcceptedConditionTrue): the
        # GatewayClass must be Accepted=True with current conditions within
        # 180 s, or nothing runs.
        gwc = {"gatewayclass": f"GatewayClass/{self.env.gateway_class}",
               "conditions": ["Accepted=True"]}
        v = self._wait("gatewayclass_conditions", gwc, self._ctx_factory(store, {}),
                       timeout=GATEWAYCLASS_WAIT)
        if not v.ok:
            raise RunnerError(f"GatewayClass not accepted: {v.msg}")
        v = self._wait("ready_namespaces", BASE_READY_NAMESPACES, self._ctx_factory(store, {}))
        if not v.ok:
            self.setup_problem = v.msg
        if self.features_override is not None:
            self.claimed = list(self.features_override)
        else:
            self.claimed = claimed_features(self.driver.statuses(), self.env.gateway_class)
        return self.claimed

    # ---- one case ----------------------------------------------------------------

    def _ctx_factory(self, store, recorded):
        def make():
            return J.Ctx(self.driver.statuses(), store, self.env.controller_name,
                         self.env.usable_addrs, self.env.unusable_addrs, recorded,
                         self.driver.pods_ready)
        return make

    def _wait(self, kind, args, make_ctx, timeout=None):
        """Wait-until semantics; a deterministic driver is asked once."""
        once = kind in J.ONCE or (isinstance(args, dict) and args.get("once"))
        if timeout is None:
            timeout = J.TIMEOUTS.get(kind, J.DEFAULT_TIMEOUT)
        timeout *= self.timeout_scale
        deadline = time.monotonic() + timeout
        first_ok = None
        while True:
            v = J.judge(kind, args, make_ctx())
            if v.ok:
                # "no parents" must hold on two polls at least 1 s apart.
                if kind != "route_not_accepted" or self.driver.deterministic:
                    return v
                if first_ok is None:
                    first_ok = time.monotonic()
                elif time.monotonic() - first_ok >= 1.0:
                    return v
            else:
                first_ok = None
            if once or self.driver.deterministic or time.monotonic() > deadline:
                return v
            time.sleep(self.driver.poll_interval)

    def _generated_resources(self, args):
        """FORMAT.md generated_resources against a driver that can list the
        cluster's objects by label: waits until some kind has an object
        (at_least_one), then the first object of each kind found must carry
        the labels and annotations asked for."""
        sel = args.get("selector_label") or {}
        want = args.get("each_found_kind_first_item_has") or {}
        deadline = time.monotonic() + GENERATED_WAIT * self.timeout_scale
        while True:
            found = {k: self.driver.list_labelled(k, args.get("namespace"), sel)
                     for k in args.get("kinds") or []}
            found = {k: v for k, v in found.items() if v}
            if found or not args.get("at_least_one") or time.monotonic() > deadline:
                break
            time.sleep(self.driver.poll_interval)
        if args.get("at_least_one") and not found:
            return False, f"no {', '.join(args.get('kinds') or [])} labelled {sel}"
        for k, items in found.items():
            md = items[0].get("metadata") or {}
            for field in ("labels", "annotations"):
                have = md.get(field) or {}
                miss = {a: b for a, b in (want.get(field) or {}).items() if have.get(a) != b}
                if miss:
                    return False, (f"{k} {md.get('name')}: {field} lack {miss} "
                                   f"(has {have})")
        return True, f"found {', '.join(sorted(found))}"

    def _run_traffic(self, batch, phase, pname, store):
        """Runs a phase's consecutive traffic checks in parallel (as upstream);
        raises CaseFailed with the first failing one in check order."""
        if not batch:
            return 0
        tctx = TR.TrafficCtx(self.driver.target, lambda r: self._resolve(store, r),
                             self.driver.backend_log, self.workdir,
                             phase_target=phase.get("target"), phase_name=pname,
                             scale=self.timeout_scale)

        def one(item):
            where, kind, args = item
            try:
                return TR.run_check(kind, args, tctx)
            except DriverError as e:
                return J.fail(f"gatehouse: {e}")
            except RunnerError as e:
                return J.Verdict(None, f"runner: {e}")
            except Exception as e:  # noqa: BLE001 - a client bug must not hang the run
                return J.Verdict(None, f"runner: {type(e).__name__}: {e}")

        # Every client call is bounded; the cap only guards against a client bug
        # hanging the whole run (the thread is then abandoned).
        cap = max(TRAFFIC_CAPS.get(kind, 120) for _, kind, _ in batch) * self.timeout_scale
        ex = concurrent.futures.ThreadPoolExecutor(max_workers=len(batch))
        futs = [ex.submit(one, item) for item in batch]
        done, _ = concurrent.futures.wait(futs, timeout=cap)
        ex.shutdown(wait=False)
        verdicts = [f.result() if f in done else
                    J.Verdict(None, f"runner: check did not finish within {cap:.0f} s")
                    for f in futs]
        for (where, kind, args), v in zip(batch, verdicts):
            if v.ok is None:
                raise CaseFailed(f"{where}: {v.msg}")
            if not v.ok:
                raise CaseFailed(f"{where}: {v.msg}", self.driver.diagnostics())
        return len(batch)

    @staticmethod
    def _resolve(store, ref_text):
        return store.get(Ref.parse(ref_text))

    def skip_reason(self, case):
        claimed = set(self.claimed)
        unmet = [f for f in case.features if f not in claimed]
        if unmet:
            return SKIP, "unsupported features: " + ", ".join(unmet), "not_supported"
        if case.provisional and self.skip_provisional:
            return SKIP, "provisional (--skip-provisional-tests)", "provisional_skipped"
        if case.skip_if_supported and any(f in claimed for f in case.skip_if_supported):
            return PASS, ("vacuous, as upstream: claims " +
                          ", ".join(f for f in case.skip_if_supported if f in claimed))
        if case.run_only_if_supported and not all(f in claimed for f in
                                                  case.run_only_if_supported):
            return PASS, ("vacuous, as upstream: does not claim " +
                          ", ".join(f for f in case.run_only_if_supported if f not in claimed))
        if case.mesh:
            return SKIP, "mesh cases need a cluster (client pods)"
        if case.name in CORPUS_DEFECTS:
            return SKIP, CORPUS_DEFECTS[case.name]
        return None

    def run_case(self, case):
        pre = self.skip_reason(case)
        if pre:
            return CaseResult(case, pre[0], pre[1], kind=pre[2] if len(pre) > 2 else None)
        store = self.base.copy()
        recorded = {}
        passed = 0
        pending = []
        make_ctx = self._ctx_factory(store, recorded)
        where = "manifests"
        try:
            for rel in case.manifests:
                for obj in self.corpus.load_manifest(rel):
                    store.apply(rewrite(obj, self.env))
            self.driver.sync(store)
            for pi, phase in enumerate(case.phases):
                pname = phase.get("name") or f"phase {pi + 1}"
                batch = []
                for ci, check in enumerate(phase.get("checks") or []):
                    kind, args = check_kind(check)
                    where = f"phase '{pname}' check {ci + 1} {kind}"
                    if kind in TRAFFIC_CHECKS:
                        if self.status_only or not self.driver.can_send_traffic or \
                                kind in MESH_CHECKS:
                            pending.append(kind)
                            continue
                        batch.append((where, kind, args))
                        continue
                    # Traffic checks run in parallel up to the next other check.
                    passed += self._run_traffic(batch, phase, pname, store)
                    batch = []
                    if kind in CLUSTER_ONLY_CHECKS:
                        if not hasattr(self.driver, "list_labelled"):
                            pending.append(kind)
                            continue
                        ok, msg = self._generated_resources(args)
                        if not ok:
                            raise CaseFailed(f"{where}: {msg}", self.driver.diagnostics())
                        passed += 1
                        continue
                    if kind in MUTATIONS:
                        mctx = M.MutationCtx(store, self.fixtures, self.env, self.driver)
                        try:
                            self.log(f"  {case.name}: {M.perform(kind, args, mctx)}")
                        except M.NeedsDataPlane as e:
                            if self.status_only or not self.driver.can_send_traffic:
                                raise CaseSkipped(f"{where}: needs the data plane: {e}")
                            raise
                        self.driver.sync(store, writes=mctx.writes)
                        continue
                    if kind == "record":
                        if args.get("what") != "generation":
                            raise RunnerError(f"record: cannot record {args.get('what')!r}")
                        recorded[args["as"]] = store.generation(Ref.parse(args["object"]))
                        continue
                    if kind == "sleep":
                        secs = args if isinstance(args, (int, float)) else args.get("seconds")
                        self.driver.sleep(float(secs))
                        continue
                    assert kind in STATUS_CHECKS or kind in BOOKKEEPING_CHECKS, kind
                    v = self._wait(kind, args, make_ctx)
                    if not v.ok:
                        raise CaseFailed(f"{where}: {v.msg}", self.driver.diagnostics())
                    passed += 1
                passed += self._run_traffic(batch, phase, pname, store)
        except CaseFailed as e:
            return CaseResult(case, FAIL, e.reason, e.details, passed, pending)
        except CaseSkipped as e:
            return CaseResult(case, SKIP, str(e), (), passed, pending)
        except DriverError as e:
            return CaseResult(case, FAIL, f"{where}: gatehouse: {e}", (), passed, pending)
        except RunnerError as e:
            return CaseResult(case, FAIL, f"{where}: runner: {e}", (), passed, pending)
        finally:
            try:
                self.driver.cleanup(self.base)
            except DriverError as e:
                self.log(f"  {case.name}: cleanup failed: {e}")
        if pending:
            traffic = [k for k in pending if k in TRAFFIC_CHECKS]
            other = [k for k in pending if k not in TRAFFIC_CHECKS]
            bits = []
            if traffic:
                bits.append(f"{len(traffic)} traffic check{'s' if len(traffic) != 1 else ''} "
                            f"pending data plane")
            if other:
                bits.append("cluster-only: " + ", ".join(sorted(set(other))))
            label = "status checks" if self.status_only else "checks"
            return CaseResult(case, SKIP, f"{label} passed ({passed}), " + "; ".join(bits),
                              (), passed, pending)
        return CaseResult(case, PASS, "", (), passed)


def summary(results):
    n = {PASS: 0, FAIL: 0, SKIP: 0}
    for r in results:
        n[r.outcome] += 1
    return f"{n[PASS]} passed, {n[FAIL]} failed, {n[SKIP]} skipped"
