# SPDX-License-Identifier: Apache-2.0
"""The prose edits of FORMAT.md section 6, one small function each.

A `mutate` or `apply` check names an object and describes the edit in
words; upstream does these edits in Go code. Each edit the corpus uses is a
function here, keyed by (case, object, change text), so a reworded case
fails loudly ("no mutation implemented") instead of doing the wrong edit.
Updates go through ObjectStore.update, which bumps metadata.generation
when anything outside metadata changed, as the API server does.
"""
import copy

from .model import Ref, RunnerError


class NeedsDataPlane(Exception):
    """The edit needs something only a running data plane has (pod addresses...)."""


class MutationCtx:
    def __init__(self, store, fixtures=None, env=None, driver=None):
        self.store = store
        self.fixtures = fixtures or {}  # {Ref: object} of the generated TLS material
        self.env = env
        self.driver = driver


def _set(store, ref, fn):
    store.update(ref, fn)


# ---- the edits -----------------------------------------------------------------

def btls_hostname_bump(ctx, ref):
    def fn(o):
        v = o["spec"]["validation"]
        if v.get("hostname") != "abc.example.com":
            raise RunnerError(f"{ref}: hostname is {v.get('hostname')!r}, not abc.example.com")
        v["hostname"] = "foo.example.com"
    _set(ctx.store, ref, fn)


def gatewayclass_description(ctx, ref):
    def fn(o):
        o.setdefault("spec", {})["description"] = "new"
    _set(ctx.store, ref, fn)


def gateway_append_alternate(ctx, ref):
    def fn(o):
        o["spec"]["listeners"].append({
            "name": "alternate", "hostname": "foo.com", "port": 80, "protocol": "HTTP",
            "allowedRoutes": {"namespaces": {"from": "All"}}})
    _set(ctx.store, ref, fn)


def _remove_address(ctx, ref, value):
    def fn(o):
        addrs = o["spec"].get("addresses") or []
        keep = [a for a in addrs if a.get("value") != value]
        if len(keep) != len(addrs) - 1:
            raise RunnerError(f"{ref}: expected one spec.addresses entry {value!r}, have {addrs}")
        o["spec"]["addresses"] = keep
    _set(ctx.store, ref, fn)


def gateway_remove_fake_address(ctx, ref):
    _remove_address(ctx, ref, "fake address teehee!")


def gateway_remove_unusable_address(ctx, ref):
    if len(ctx.env.unusable_addrs) != 1:
        raise RunnerError("the unusable pool must hold exactly one address")
    _remove_address(ctx, ref, ctx.env.unusable_addrs[0])


def httproute_backend_v2(ctx, ref):
    def fn(o):
        br = o["spec"]["rules"][0]["backendRefs"][0]
        if br.get("name") != "infra-backend-v1":
            raise RunnerError(f"{ref}: rules[0].backendRefs[0] is {br.get('name')!r}")
        br["name"] = "infra-backend-v2"
    _set(ctx.store, ref, fn)


_RECONCILE_CM = "tls-checks-ca-certificate-reconcile-test"


def _tls_checks_ca(ctx):
    ref = Ref("ConfigMap", "gateway-conformance-infra", "tls-checks-ca-certificate")
    obj = ctx.store.get(ref) or ctx.fixtures.get(ref)
    if obj is None:
        raise RunnerError(f"{ref} is missing (fixtures not generated?)")
    return obj["data"]["ca.crt"]


def btls_point_at_missing_cm(ctx, ref):
    def fn(o):
        o["spec"]["validation"]["caCertificateRefs"] = [
            {"group": "", "kind": "ConfigMap", "name": _RECONCILE_CM}]
    _set(ctx.store, ref, fn)


def apply_reconcile_cm(ctx, ref):
    ctx.store.apply({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": ref.name, "namespace": ref.namespace},
                     "data": {"ca.crt": _tls_checks_ca(ctx)}})


def cm_empty_ca(ctx, ref):
    def fn(o):
        o.setdefault("data", {})["ca.crt"] = ""
    _set(ctx.store, ref, fn)


def cm_restore_ca(ctx, ref):
    ca = _tls_checks_ca(ctx)

    def fn(o):
        o.setdefault("data", {})["ca.crt"] = ca
    _set(ctx.store, ref, fn)


def btls_restore_cm(ctx, ref):
    def fn(o):
        o["spec"]["validation"]["caCertificateRefs"] = [
            {"group": "", "kind": "ConfigMap", "name": "tls-checks-ca-certificate"}]
    _set(ctx.store, ref, fn)


def endpointslices_from_pods(ctx, ref):
    pods = getattr(ctx.driver, "pod_addresses", None)
    if pods is None:
        raise NeedsDataPlane("EndpointSlices must hold the infra-backend-v1 pod addresses")
    v4 = pods("gateway-conformance-infra", "infra-backend-v1")
    if not v4:
        raise RunnerError("no ready infra-backend-v1 pods")
    for name in ("manual-endpointslices-ip4", "headless-manual-endpointslices-ip4"):
        sref = Ref("EndpointSlice", ref.namespace, name)
        if sref not in ctx.store:
            continue

        def fn(o):
            o["endpoints"] = [{"addresses": [addr],
                               "conditions": {"ready": True, "serving": True,
                                              "terminating": False},
                               "targetRef": {"kind": "Pod", "name": pod,
                                             "namespace": ref.namespace}}
                              for addr, pod in v4]
        _set(ctx.store, sref, fn)
    # The -ip6 slices stay as they are: the replicas have no IPv6 address, and
    # the case says to skip a slice that would have no endpoints.


MUTATIONS = {
    ("BackendTLSPolicyObservedGenerationBump",
     "BackendTLSPolicy/gateway-conformance-infra/observed-generation-bump",
     "spec.validation.hostname: abc.example.com -> foo.example.com"): btls_hostname_bump,
    ("GatewayClassObservedGenerationBump", "GatewayClass/gatewayclass-observed-generation-bump",
     "spec.description: old -> new"): gatewayclass_description,
    ("GatewayObservedGenerationBump",
     "Gateway/gateway-conformance-infra/gateway-observed-generation-bump",
     "append listener {name: alternate, hostname: foo.com, port: 80, protocol: HTTP, "
     "allowedRoutes.namespaces.from: All}"): gateway_append_alternate,
    ("GatewayStaticAddresses", "Gateway/gateway-conformance-infra/gateway-static-addresses",
     "remove the spec.addresses entry whose value is 'fake address teehee!'"):
        gateway_remove_fake_address,
    ("GatewayStaticAddresses", "Gateway/gateway-conformance-infra/gateway-static-addresses",
     "remove the spec.addresses entry holding the unusable address"):
        gateway_remove_unusable_address,
    ("HTTPRouteObservedGenerationBump",
     "HTTPRoute/gateway-conformance-infra/observed-generation-bump",
     "rules[0].backendRefs[0].name: infra-backend-v1 -> infra-backend-v2 (merge patch)"):
        httproute_backend_v2,
    ("BackendTLSPolicy", "BackendTLSPolicy/gateway-conformance-infra/reconcile-test",
     'spec.validation.caCertificateRefs := [{group: "", kind: ConfigMap, name: '
     'tls-checks-ca-certificate-reconcile-test}] (a ConfigMap that does not exist yet)'):
        btls_point_at_missing_cm,
    ("BackendTLSPolicy",
     "ConfigMap/gateway-conformance-infra/tls-checks-ca-certificate-reconcile-test",
     "data.ca.crt = the ca.crt value of ConfigMap tls-checks-ca-certificate"): apply_reconcile_cm,
    ("BackendTLSPolicy",
     "ConfigMap/gateway-conformance-infra/tls-checks-ca-certificate-reconcile-test",
     'data.ca.crt := "" (empty)'): cm_empty_ca,
    ("BackendTLSPolicy",
     "ConfigMap/gateway-conformance-infra/tls-checks-ca-certificate-reconcile-test",
     "data.ca.crt := the original CA PEM again"): cm_restore_ca,
    ("BackendTLSPolicy", "BackendTLSPolicy/gateway-conformance-infra/reconcile-test",
     "restore spec.validation.caCertificateRefs to the original (tls-checks-ca-certificate) - "
     "cleanup, not checked"): btls_restore_cm,
    ("HTTPRouteServiceTypes", "EndpointSlice/gateway-conformance-infra/manual-endpointslices-ip4",
     "set endpoints to the IPv4 addresses of the infra-backend-v1 pods (conditions ready=true, "
     "serving=true, terminating=false; targetRef kind Pod). Same for manual-endpointslices-ip6 "
     "(IPv6 addresses), headless-manual-endpointslices-ip4 and headless-manual-endpointslices-"
     "ip6; skip a slice if it would have no endpoints."): endpointslices_from_pods,
}


def perform(case, kind, args, ctx):
    """Runs one `mutate`/`apply`/`delete` against ctx.store. Returns a short description."""
    ref = Ref.parse(args["object"])
    if kind == "delete":
        ctx.store.delete(ref)
        return f"deleted {ref}"
    text = args.get("change") if kind == "mutate" else args.get("content")
    fn = MUTATIONS.get((case, str(ref), text))
    if fn is None:
        raise RunnerError(f"no mutation implemented for {case}: {kind} {ref}: {text!r}")
    fn(ctx, ref)
    return f"{kind} {ref}"


def snapshot_objects(store):
    return copy.deepcopy(store.objects)
