# SPDX-License-Identifier: Apache-2.0
"""The status judges on hand-made `gatehouse check -o json` Lists."""
import copy
import datetime

import pytest

from gwconf import judge as J
from gwconf.model import Cond, ObjectStore, Ref, RunnerError

CTRL = "gatehouse.dev/gateway-controller"
NS = "gateway-conformance-infra"
GW = f"Gateway/{NS}/same-namespace"
ROUTE = f"HTTPRoute/{NS}/matching"


def clock():
    return datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def c(t, s, r, g=1):
    return {"type": t, "status": s, "reason": r, "message": "m", "observedGeneration": g,
            "lastTransitionTime": "2026-01-01T00:00:00Z"}


def listener(name, attached=0, conds=None, kinds=("HTTPRoute",)):
    return {"name": name, "attachedRoutes": attached,
            "supportedKinds": [{"group": "gateway.networking.k8s.io", "kind": k} for k in kinds],
            "conditions": conds if conds is not None else
            [c("Accepted", "True", "Accepted"), c("ResolvedRefs", "True", "ResolvedRefs"),
             c("Programmed", "True", "Programmed")]}


def gateway_item(name="same-namespace", gen=1, conds=None, listeners=None, addresses=None,
                 extra=None):
    st = {"addresses": addresses if addresses is not None else
          [{"type": "IPAddress", "value": "127.0.10.1"}],
          "conditions": conds if conds is not None else
          [c("Accepted", "True", "Accepted", gen), c("Programmed", "True", "Programmed", gen)],
          "listeners": listeners if listeners is not None else [listener("http")]}
    st.update(extra or {})
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": name, "namespace": NS, "generation": gen}, "status": st}


def parent(name="same-namespace", ns=None, kind="Gateway", conds=None, ctrl=CTRL, section=None):
    ref = {"group": "gateway.networking.k8s.io", "kind": kind, "name": name}
    if ns:
        ref["namespace"] = ns
    if section:
        ref["sectionName"] = section
    return {"controllerName": ctrl, "parentRef": ref,
            "conditions": conds if conds is not None else
            [c("Accepted", "True", "Accepted"), c("ResolvedRefs", "True", "ResolvedRefs")]}


def route_item(parents, name="matching", ns=NS, gen=1, kind="HTTPRoute"):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
            "metadata": {"name": name, "namespace": ns, "generation": gen},
            "status": {"parents": parents}}


def make_ctx(items, store_objs=(), **kw):
    doc = {"apiVersion": "v1", "kind": "List", "items": copy.deepcopy(list(items))}
    store = ObjectStore(clock)
    for o in store_objs:
        store.apply(o)
    return J.Ctx(J.Snapshot.from_list(doc), store, CTRL, **kw)


def gw_obj(name="same-namespace", annotations=None):
    md = {"name": name, "namespace": NS}
    if annotations:
        md["annotations"] = annotations
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": md,
            "spec": {"gatewayClassName": "gatehouse", "listeners": []}}


# ---- model -------------------------------------------------------------------

def test_cond_parse_and_match():
    assert Cond.parse("Accepted") == Cond("Accepted", None, None)
    assert Cond.parse("Accepted=False") == Cond("Accepted", "False", None)
    assert Cond.parse("Accepted=False/NotAllowedByListeners") == \
        Cond("Accepted", "False", "NotAllowedByListeners")
    assert Cond.parse("Accepted=False/X").matches(c("Accepted", "False", "X"))
    assert not Cond.parse("Accepted=False/X").matches(c("Accepted", "False", "Y"))
    assert Cond.parse("Accepted").matches(c("Accepted", "Unknown", "Pending"))
    with pytest.raises(RunnerError):
        Cond.parse("Accepted=Yes")


def test_ref_parse():
    assert Ref.parse("GatewayClass/gc") == Ref("GatewayClass", "", "gc")
    assert str(Ref.parse(GW)) == GW
    with pytest.raises(RunnerError):
        Ref.parse("nonsense")


def test_snapshot_defaults_address_type():
    item = gateway_item(addresses=[{"value": "127.0.10.1"}])
    ctx = make_ctx([item])
    assert ctx.status(Ref.parse(GW))["addresses"][0]["type"] == "IPAddress"


def test_snapshot_rejects_non_list():
    with pytest.raises(RunnerError):
        J.Snapshot.from_list({"kind": "Gateway"})


# ---- gateway / listeners ----------------------------------------------------------

def test_gateway_conditions():
    ctx = make_ctx([gateway_item()], [gw_obj()])
    assert J.judge("gateway_conditions", {"gateway": GW, "conditions": ["Accepted=True"]}, ctx).ok
    v = J.judge("gateway_conditions", {"gateway": GW, "conditions": ["Programmed=False/Invalid"]},
                ctx)
    assert not v.ok and "missing Programmed=False/Invalid" in v.msg
    assert "Programmed=True/Programmed@1" in v.msg


def test_gateway_conditions_stale_generation():
    store = [gw_obj()]
    ctx = make_ctx([gateway_item()], store)
    ctx.store.update(Ref.parse(GW), lambda o: o["spec"].update(listeners=[{"name": "x"}]))
    assert ctx.generation(Ref.parse(GW)) == 2
    v = J.judge("gateway_conditions", {"gateway": GW, "conditions": ["Accepted=True"]}, ctx)
    assert not v.ok and "not current (generation 2)" in v.msg


def test_missing_object_has_no_conditions():
    ctx = make_ctx([])
    v = J.judge("gateway_conditions", {"gateway": GW, "conditions": ["Accepted"]}, ctx)
    assert not v.ok and "has []" in v.msg


def test_listener_conditions_ignores_generation():
    li = listener("https", conds=[c("ResolvedRefs", "False", "InvalidCertificateRef", g=7)])
    ctx = make_ctx([gateway_item(listeners=[li], conds=[c("Accepted", "True", "Accepted", 9)])])
    args = {"gateway": GW, "listeners": ["https"],
            "conditions": ["ResolvedRefs=False/InvalidCertificateRef"]}
    assert J.judge("listener_conditions", args, ctx).ok
    args["listeners"] = ["nope"]
    assert "not in status" in J.judge("listener_conditions", args, ctx).msg


def test_listeners_status():
    lis = [listener("http-unattached"), listener("http", attached=1)]
    ctx = make_ctx([gateway_item(listeners=lis)])
    exp = [{"name": "http-unattached", "supported_kinds": ["HTTPRoute"], "attached_routes": 0,
            "conditions": ["Accepted=True", "ResolvedRefs=True"]},
           {"name": "http", "supported_kinds": ["HTTPRoute"], "attached_routes": 1,
            "conditions": ["Accepted=True", "ResolvedRefs=True"]}]
    assert J.judge("listeners_status", {"gateway": GW, "listeners": exp}, ctx).ok
    # count must be exact
    v = J.judge("listeners_status", {"gateway": GW, "listeners": exp[:1]}, ctx)
    assert not v.ok and "2 listeners" in v.msg
    # attachedRoutes compared
    exp2 = copy.deepcopy(exp)
    exp2[1]["attached_routes"] = 2
    v = J.judge("listeners_status", {"gateway": GW, "listeners": exp2}, ctx)
    assert not v.ok and "attachedRoutes 1, expected 2" in v.msg


def test_listeners_status_supported_kinds_empty_means_empty():
    li = listener("http", conds=[c("ResolvedRefs", "False", "InvalidRouteKinds")])
    ctx = make_ctx([gateway_item(listeners=[li])])
    exp = [{"name": "http", "supported_kinds": [], "attached_routes": 0,
            "conditions": ["ResolvedRefs=False/InvalidRouteKinds"]}]
    v = J.judge("listeners_status", {"gateway": GW, "listeners": exp}, ctx)
    assert not v.ok and "expected none" in v.msg
    li["supportedKinds"] = []
    ctx = make_ctx([gateway_item(listeners=[li])])
    assert J.judge("listeners_status", {"gateway": GW, "listeners": exp}, ctx).ok
    exp[0]["supported_kinds"] = ["GRPCRoute"]
    li["supportedKinds"] = [{"kind": "HTTPRoute"}]  # group defaults to the Gateway API group
    ctx = make_ctx([gateway_item(listeners=[li])])
    assert "lacks GRPCRoute" in J.judge("listeners_status", {"gateway": GW, "listeners": exp},
                                        ctx).msg


def test_gateway_zero_routes():
    ok = make_ctx([gateway_item(listeners=[])])
    assert J.judge("gateway_zero_routes", {"gateway": GW}, ok).ok
    ok = make_ctx([gateway_item(listeners=[listener("http", attached=0)])])
    assert J.judge("gateway_zero_routes", {"gateway": GW}, ok).ok
    bad = make_ctx([gateway_item(listeners=[listener("http", attached=1)])])
    assert not J.judge("gateway_zero_routes", {"gateway": GW}, bad).ok


def stale_gateway(**kw):
    """A Gateway at generation 2 whose conditions still say generation 1."""
    g = gateway_item(gen=2, **kw)
    for cond in g["status"]["conditions"]:
        cond["observedGeneration"] = 1
    return g


def test_freshness_as_upstream():
    # GatewayMustHaveZeroRoutes, the ListenerSet count and WaitForGatewayAddress
    # (both `accepted` variants) poll until the Gateway's conditions are current.
    v = J.judge("gateway_zero_routes", {"gateway": GW}, make_ctx([stale_gateway(listeners=[])]))
    assert not v.ok and "not current" in v.msg, v.msg
    v = J.judge("gateway_attached_listenersets", {"gateway": GW, "count": 2},
                make_ctx([stale_gateway(extra={"attachedListenerSets": 2})]))
    assert not v.ok and "not current" in v.msg, v.msg
    v = J.judge("accepted", {"parent": GW, "routes": [ROUTE], "listener_checks": False},
                make_ctx([stale_gateway(), route_item([parent()])]))
    assert not v.ok and "not current" in v.msg, v.msg


def test_gateway_attached_listenersets():
    ctx = make_ctx([gateway_item(extra={"attachedListenerSets": 2})])
    assert J.judge("gateway_attached_listenersets", {"gateway": GW, "count": 2}, ctx).ok
    assert not J.judge("gateway_attached_listenersets", {"gateway": GW, "count": 1}, ctx).ok
    ctx = make_ctx([gateway_item()])
    assert J.judge("gateway_attached_listenersets", {"gateway": GW, "count": 0}, ctx).ok


def test_gateway_addresses():
    ctx = make_ctx([gateway_item()], usable=["127.0.10.254"], unusable=["192.0.2.1"])
    assert J.judge("gateway_addresses", {"gateway": GW, "expect": "at least one entry with a "
                                         "type set"}, ctx).ok
    v = J.judge("gateway_addresses", {"gateway": GW, "expect": "eventually (within 180 s) "
                                      "exactly 1 status address; it equals the usable address"},
                ctx)
    assert not v.ok and "127.0.10.254" in v.msg
    ctx = make_ctx([gateway_item(addresses=[])])
    assert not J.judge("gateway_addresses", {"gateway": GW, "expect": "at least one entry with "
                                             "a type set"}, ctx).ok
    with pytest.raises(RunnerError):
        J.judge("gateway_addresses", {"gateway": GW, "expect": "something new"}, ctx)


def test_gatewayclass_conditions_any_status():
    gc = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
          "metadata": {"name": "gc", "generation": 1},
          "status": {"conditions": [c("Accepted", "False", "InvalidParameters")]}}
    ctx = make_ctx([gc])
    assert J.judge("gatewayclass_conditions", {"gatewayclass": "GatewayClass/gc",
                                               "conditions": ["Accepted"]}, ctx).ok


# ---- routes --------------------------------------------------------------------

def test_accepted_happy_and_namespace_rules():
    ctx = make_ctx([gateway_item(), route_item([parent()])])
    args = {"parent": GW, "routes": [ROUTE]}
    assert J.judge("accepted", args, ctx).ok
    # namespace may be omitted only when the route lives in the parent's namespace
    other = route_item([parent()], ns="gateway-conformance-web-backend")
    ctx = make_ctx([gateway_item(), other])
    v = J.judge("accepted", {"parent": GW, "routes":
                             ["HTTPRoute/gateway-conformance-web-backend/matching"]}, ctx)
    assert not v.ok and "expected 1 parent entry" in v.msg


def test_accepted_wrong_controller_or_reason():
    ctx = make_ctx([gateway_item(), route_item([parent(ctrl="other.io/ctrl")])])
    assert not J.judge("accepted", {"parent": GW, "routes": [ROUTE]}, ctx).ok
    p = parent(conds=[c("Accepted", "True", "Whatever")])
    ctx = make_ctx([gateway_item(), route_item([p])])
    assert not J.judge("accepted", {"parent": GW, "routes": [ROUTE]}, ctx).ok


def test_accepted_section_names_count():
    ps = [parent(section="listener-3"), parent(section="listener-4")]
    ctx = make_ctx([gateway_item(), route_item(ps)])
    args = {"parent": GW, "section_names": ["listener-3", "listener-4"], "routes": [ROUTE]}
    assert J.judge("accepted", args, ctx).ok
    ctx = make_ctx([gateway_item(), route_item(ps[:1])])
    assert "expected 2 parent entries" in J.judge("accepted", args, ctx).msg


def test_accepted_listener_and_address_checks():
    bad = listener("http", conds=[c("Accepted", "True", "Accepted"),
                                  c("ResolvedRefs", "True", "ResolvedRefs"),
                                  c("Programmed", "False", "Invalid")])
    ctx = make_ctx([gateway_item(listeners=[bad]), route_item([parent()])])
    v = J.judge("accepted", {"parent": GW, "routes": [ROUTE]}, ctx)
    assert not v.ok and "Programmed=True" in v.msg
    # TLSRoute variant: listeners not checked
    assert J.judge("accepted", {"parent": GW, "routes": [ROUTE], "listener_checks": False},
                   ctx).ok
    ctx = make_ctx([gateway_item(addresses=[]), route_item([parent()])])
    assert "no status address" in J.judge("accepted", {"parent": GW, "routes": []}, ctx).msg


def test_accepted_stale_route_parent():
    p = parent(conds=[c("Accepted", "True", "Accepted", g=0)])
    ctx = make_ctx([gateway_item(), route_item([p])])
    v = J.judge("accepted", {"parent": GW, "routes": [ROUTE]}, ctx)
    assert not v.ok and "not current" in v.msg


def test_accepted_listenerset_parent():
    ls = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "ListenerSet",
          "metadata": {"name": "ls", "namespace": NS, "generation": 1},
          "status": {"conditions": [c("Accepted", "True", "Accepted")],
                     "listeners": [listener("l1")]}}
    ctx = make_ctx([ls, route_item([parent(name="ls", kind="ListenerSet", ns=NS)])])
    assert J.judge("accepted", {"parent": f"ListenerSet/{NS}/ls", "routes": [ROUTE]}, ctx).ok


def test_route_conditions():
    p = parent(ns=NS, conds=[c("Accepted", "False", "NotAllowedByListeners"),
                             c("ResolvedRefs", "True", "ResolvedRefs")])
    ctx = make_ctx([route_item([p])])
    args = {"route": ROUTE, "parent": GW, "conditions": ["Accepted=False/NotAllowedByListeners",
                                                         "ResolvedRefs=True/ResolvedRefs"]}
    assert J.judge("route_conditions", args, ctx).ok
    args["parent"] = f"Gateway/{NS}/other"
    assert "no parent entry" in J.judge("route_conditions", args, ctx).msg
    ctx = make_ctx([route_item([])])
    assert not J.judge("route_conditions", args, ctx).ok


def test_route_parents_exact_group_kind_and_namespace():
    exp = {"route": ROUTE, "namespace_required": True, "parents": [
        {"parent_ref": {"group": "gateway.networking.k8s.io", "kind": "ListenerSet",
                        "namespace": NS, "name": "ls"}, "conditions": ["Accepted=True"]}]}
    ctx = make_ctx([route_item([parent(name="ls", kind="ListenerSet", ns=NS)])])
    assert J.judge("route_parents", exp, ctx).ok
    ctx = make_ctx([route_item([parent(name="ls", kind="ListenerSet")])])  # no namespace
    assert not J.judge("route_parents", exp, ctx).ok
    exp["namespace_required"] = False
    assert J.judge("route_parents", exp, ctx).ok
    ctx = make_ctx([route_item([parent(name="ls", kind="Gateway", ns=NS)])])
    assert not J.judge("route_parents", exp, ctx).ok


def test_route_not_accepted():
    ctx = make_ctx([route_item([])])
    assert J.judge("route_not_accepted", {"route": ROUTE}, ctx).ok
    ctx = make_ctx([])
    assert J.judge("route_not_accepted", {"route": ROUTE}, ctx).ok
    p = parent(conds=[c("Accepted", "False", "NoMatchingParent")])
    assert J.judge("route_not_accepted", {"route": ROUTE}, make_ctx([route_item([p])])).ok
    assert not J.judge("route_not_accepted", {"route": ROUTE},
                       make_ctx([route_item([p, p])])).ok
    assert not J.judge("route_not_accepted", {"route": ROUTE},
                       make_ctx([route_item([parent()])])).ok


# ---- policies, generations, readiness ---------------------------------------------

def policy_item(ancestors, gen=1):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
            "metadata": {"name": "p", "namespace": NS, "generation": gen},
            "status": {"ancestors": ancestors}}


def test_policy_conditions():
    anc = {"ancestorRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                           "name": "same-namespace", "namespace": NS},
           "controllerName": CTRL, "conditions": [c("Accepted", "True", "Accepted")]}
    ctx = make_ctx([policy_item([anc])])
    args = {"policy": f"BackendTLSPolicy/{NS}/p", "ancestor": GW, "conditions": ["Accepted=True"]}
    assert J.judge("policy_conditions", args, ctx).ok
    args["conditions"] = ["Accepted=False"]
    assert not J.judge("policy_conditions", args, ctx).ok


def test_observed_generation():
    ctx = make_ctx([route_item([parent(conds=[c("Accepted", "True", "Accepted", g=1)])])])
    assert J.judge("observed_generation", {"object": ROUTE}, ctx).ok
    ctx = make_ctx([route_item([parent(conds=[c("Accepted", "True", "Accepted", g=1)])], gen=2)])
    assert not J.judge("observed_generation", {"object": ROUTE}, ctx).ok
    # a policy with no ancestors passes trivially; a Gateway without conditions does not
    assert J.judge("observed_generation", {"object": f"BackendTLSPolicy/{NS}/p"},
                   make_ctx([policy_item([])])).ok
    assert not J.judge("observed_generation", {"object": GW},
                       make_ctx([gateway_item(conds=[])])).ok


def test_ready_namespaces_respects_skip_annotation():
    skip = gw_obj("broken", {"gateway-api/skip-this-for-readiness": "true"})
    bad = gateway_item("broken", conds=[c("Accepted", "False", "Invalid")])
    ctx = make_ctx([gateway_item(), bad], [gw_obj(), skip])
    assert J.judge("ready_namespaces", [NS], ctx).ok
    ctx = make_ctx([gateway_item(), bad], [gw_obj(), gw_obj("broken")])
    v = J.judge("ready_namespaces", [NS], ctx)
    assert not v.ok and "broken" in v.msg
    ctx = make_ctx([gateway_item()], [gw_obj()], pods_ready=lambda ns: (False, "echo down"))
    assert "echo down" in J.judge("ready_namespaces", [NS], ctx).msg


def test_generation_changed_and_spec_has():
    obj = gw_obj()
    obj["spec"]["addresses"] = [{"type": "test/fake-invalid-type",
                                 "value": "fake address teehee!"},
                                {"type": "IPAddress", "value": "192.0.2.1"},
                                {"type": "IPAddress", "value": "127.0.10.254"}]
    ctx = make_ctx([], [obj], usable=["127.0.10.254"], unusable=["192.0.2.1"],
                   recorded={"original": 1})
    ref = Ref.parse(GW)
    assert J.judge("spec_has", {"object": GW, "what": "exactly 3 spec.addresses: [invalid, "
                                "unusable, usable]"}, ctx).ok
    assert not J.judge("generation_changed", {"object": GW, "since": "original"}, ctx).ok
    ctx.store.update(ref, lambda o: o["spec"]["addresses"].pop(0))
    assert J.judge("generation_changed", {"object": GW, "since": "original"}, ctx).ok
    assert not J.judge("spec_has", {"object": GW, "what": "exactly 3 spec.addresses: [invalid, "
                                    "unusable, usable]"}, ctx).ok
