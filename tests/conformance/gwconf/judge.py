# SPDX-License-Identifier: Apache-2.0
"""The status checks of FORMAT.md section 4, as pure functions.

Each check is `fn(args, ctx) -> Verdict`. `ctx` is a Ctx: the status
snapshot the driver reported (a `kubectl get -o yaml`-shaped status per
object), the emulated API server's objects (for metadata.generation and
the applied spec), our controller name, the recorded values and the
address pools. No I/O here: the runner does the polling.
"""
from collections import namedtuple

from .model import GW_GROUP, SKIP_READINESS, Cond, Ref, RunnerError, fmt_conds

Verdict = namedtuple("Verdict", "ok msg")
PASS = Verdict(True, "")


def fail(msg):
    return Verdict(False, msg)


class Snapshot:
    """Statuses as the gateway reported them: {Ref: item}."""

    def __init__(self, items=()):
        self.items = {}
        for it in items:
            ref = Ref.of(it)
            st = it.get("status") or {}
            # The API server defaults status.addresses[].type to IPAddress.
            for a in st.get("addresses") or []:
                if isinstance(a, dict) and not a.get("type"):
                    a["type"] = "IPAddress"
            self.items[ref] = it

    @classmethod
    def from_list(cls, doc):
        if not isinstance(doc, dict) or doc.get("kind") != "List":
            raise RunnerError("status output is not a v1 List")
        return cls(doc.get("items") or [])

    def has(self, ref):
        return ref in self.items

    def status(self, ref):
        it = self.items.get(ref)
        return (it or {}).get("status") or {}

    def reported_generation(self, ref):
        it = self.items.get(ref)
        if it is None:
            return None
        return (it.get("metadata") or {}).get("generation")


class Ctx:
    def __init__(self, snap, store, controller, usable=(), unusable=(), recorded=None,
                 pods_ready=None):
        self.snap = snap
        self.store = store
        self.controller = controller
        self.usable = list(usable)
        self.unusable = list(unusable)
        self.recorded = recorded if recorded is not None else {}
        self.pods_ready = pods_ready or (lambda namespaces: (True, ""))

    def generation(self, ref):
        """The API server's generation (what observedGeneration must equal)."""
        g = self.store.generation(ref) if self.store is not None else None
        if g is None:
            g = self.snap.reported_generation(ref)
        return g if g is not None else 1

    def status(self, ref):
        return self.snap.status(ref)


# ---- helpers ---------------------------------------------------------------

def _conds(x):
    return (x or {}).get("conditions") or []


def _stale(conds, gen):
    return [c for c in conds if c.get("observedGeneration") != gen]


def _stale_msg(what, conds, gen):
    bad = _stale(conds, gen)
    if not bad:
        return None
    return f"{what}: conditions not current (generation {gen}): {fmt_conds(bad)}"


def _missing(specs, conds):
    return [s for s in specs if not any(s.matches(c) for c in conds)]


def _cond_specs(args):
    return [Cond.parse(c) for c in args.get("conditions") or []]


def _need(args, *keys):
    for k in keys:
        if k not in args:
            raise RunnerError(f"check is missing {k!r}")


def _find_listener(listeners, name):
    for li in listeners:
        if li.get("name") == name:
            return li
    return None


def _names(listeners):
    return [li.get("name") for li in listeners]


def _route_parents(ctx, route):
    return (ctx.status(route).get("parents")) or []


def _fmt_parent(p):
    pr = p.get("parentRef") or {}
    key = "/".join(str(pr.get(k, "-")) for k in ("group", "kind", "namespace", "name"))
    sec = f"#{pr['sectionName']}" if pr.get("sectionName") else ""
    return f"{{{p.get('controllerName')} {key}{sec} {fmt_conds(p.get('conditions'))}}}"


def _fmt_parents(parents):
    return "[" + ", ".join(_fmt_parent(p) for p in parents) + "]" if parents else "no parents"


def _all_parents_current(ctx, route):
    gen = ctx.generation(route)
    for p in _route_parents(ctx, route):
        m = _stale_msg(f"{route} parent {(p.get('parentRef') or {}).get('name')}",
                       _conds(p), gen)
        if m:
            return m
    return None


# ---- Gateway/ListenerSet/GatewayClass checks -------------------------------

def _object_conditions(kind_word, args, ctx, key):
    _need(args, key, "conditions")
    ref = Ref.parse(args[key])
    conds = _conds(ctx.status(ref))
    m = _stale_msg(str(ref), conds, ctx.generation(ref))
    if m:
        return fail(m)
    missing = _missing(_cond_specs(args), conds)
    if missing:
        return fail(f"{ref}: missing {', '.join(map(str, missing))}; has {fmt_conds(conds)}")
    return PASS


def gateway_conditions(args, ctx):
    return _object_conditions("Gateway", args, ctx, "gateway")


def gatewayclass_conditions(args, ctx):
    return _object_conditions("GatewayClass", args, ctx, "gatewayclass")


def listenerset_conditions(args, ctx):
    return _object_conditions("ListenerSet", args, ctx, "listenerset")


def _listener_conditions(ref, names, specs, ctx, require_current):
    st = ctx.status(ref)
    if require_current:
        m = _stale_msg(str(ref), _conds(st), ctx.generation(ref))
        if m:
            return fail(m)
    listeners = st.get("listeners") or []
    if names is None:
        names = _names(listeners)
        if not names:
            return fail(f"{ref}: no listeners in status")
    for n in names:
        li = _find_listener(listeners, n)
        if li is None:
            return fail(f"{ref}: listener {n!r} not in status (has {_names(listeners)})")
        missing = _missing(specs, _conds(li))
        if missing:
            return fail(f"{ref} listener {n}: missing {', '.join(map(str, missing))}; "
                        f"has {fmt_conds(_conds(li))}")
    return PASS


def listener_conditions(args, ctx):
    _need(args, "gateway", "conditions")
    return _listener_conditions(Ref.parse(args["gateway"]), args.get("listeners"),
                                _cond_specs(args), ctx, require_current=False)


def listenerset_listener_conditions(args, ctx):
    _need(args, "listenerset", "conditions")
    return _listener_conditions(Ref.parse(args["listenerset"]), args.get("listeners"),
                                _cond_specs(args), ctx, require_current=True)


def _kind_present(want, actual):
    for k in actual:
        if k.get("kind") == want.get("kind") and \
                (k.get("group") or GW_GROUP) == (want.get("group") or GW_GROUP):
            return True
    return False


def _listeners_status(ref, expected, ctx):
    st = ctx.status(ref)
    m = _stale_msg(str(ref), _conds(st), ctx.generation(ref))
    if m:
        return fail(m)
    listeners = st.get("listeners") or []
    if len(listeners) != len(expected):
        return fail(f"{ref}: {len(listeners)} listeners in status {_names(listeners)}, "
                    f"expected {len(expected)} {[e.get('name') for e in expected]}")
    for e in expected:
        name = e.get("name")
        li = _find_listener(listeners, name)
        if li is None:
            return fail(f"{ref}: listener {name!r} not in status (has {_names(listeners)})")
        actual_kinds = li.get("supportedKinds") or []
        if "supported_kinds" in e:
            want = [k if isinstance(k, dict) else {"kind": k} for k in e["supported_kinds"]]
            shown = [k.get("kind") for k in actual_kinds]
            if not want and actual_kinds:
                return fail(f"{ref} listener {name}: supportedKinds {shown}, expected none")
            for w in want:
                if not _kind_present(w, actual_kinds):
                    return fail(f"{ref} listener {name}: supportedKinds {shown} lacks "
                                f"{w.get('kind')}")
        if "attached_routes" in e and li.get("attachedRoutes") != e["attached_routes"]:
            return fail(f"{ref} listener {name}: attachedRoutes {li.get('attachedRoutes')}, "
                        f"expected {e['attached_routes']}")
        specs = [Cond.parse(c) for c in e.get("conditions") or []]
        missing = _missing(specs, _conds(li))
        if missing:
            return fail(f"{ref} listener {name}: missing {', '.join(map(str, missing))}; "
                        f"has {fmt_conds(_conds(li))}")
    return PASS


def listeners_status(args, ctx):
    _need(args, "gateway", "listeners")
    return _listeners_status(Ref.parse(args["gateway"]), args["listeners"], ctx)


def listenerset_listeners_status(args, ctx):
    _need(args, "listenerset", "listeners")
    return _listeners_status(Ref.parse(args["listenerset"]), args["listeners"], ctx)


def gateway_zero_routes(args, ctx):
    """Upstream GatewayMustHaveZeroRoutes: the Gateway's conditions are
    current, then no listeners or one with attachedRoutes 0."""
    _need(args, "gateway")
    ref = Ref.parse(args["gateway"])
    st = ctx.status(ref)
    m = _stale_msg(str(ref), _conds(st), ctx.generation(ref))
    if m:
        return fail(m)
    listeners = st.get("listeners") or []
    if not listeners:
        return PASS
    if len(listeners) == 1 and listeners[0].get("attachedRoutes") == 0:
        return PASS
    seen = {li.get("name"): li.get("attachedRoutes") for li in listeners}
    return fail(f"{ref}: expected no listeners or one with attachedRoutes 0, got {seen}")


def gateway_attached_listenersets(args, ctx):
    """The Gateway's conditions are current (as upstream's poll requires),
    then status.attachedListenerSets equals count."""
    _need(args, "gateway", "count")
    ref = Ref.parse(args["gateway"])
    st = ctx.status(ref)
    m = _stale_msg(str(ref), _conds(st), ctx.generation(ref))
    if m:
        return fail(m)
    got = st.get("attachedListenerSets", 0)
    if got != args["count"]:
        return fail(f"{ref}: attachedListenerSets {got}, expected {args['count']}")
    return PASS


# ---- addresses and spec ------------------------------------------------------

def _has_typed_address(addrs):
    return any(isinstance(a, dict) and a.get("type") and a.get("value") is not None
               for a in addrs)


def _gateway_has_address(ref, ctx, current):
    st = ctx.status(ref)
    if current:
        m = _stale_msg(str(ref), _conds(st), ctx.generation(ref))
        if m:
            return fail(m)
    addrs = st.get("addresses") or []
    if not _has_typed_address(addrs):
        return fail(f"{ref}: no status address with a type set (addresses {addrs})")
    return PASS


def gateway_addresses(args, ctx):
    _need(args, "gateway", "expect")
    ref = Ref.parse(args["gateway"])
    expect = str(args["expect"])
    if expect.startswith("at least one entry with a type set"):
        return _gateway_has_address(ref, ctx, "conditions current" in expect)
    if expect.startswith("eventually (within 180 s) exactly 1 status address"):
        addrs = ctx.status(ref).get("addresses") or []
        if len(ctx.usable) != 1:
            raise RunnerError("gateway_addresses: the usable pool must hold one address")
        want = {"type": "IPAddress", "value": ctx.usable[0]}
        got = [{"type": a.get("type"), "value": a.get("value")} for a in addrs]
        if got != [want]:
            return fail(f"{ref}: status.addresses {got}, expected exactly [{want}]")
        return PASS
    raise RunnerError(f"gateway_addresses: no judge for expectation {expect!r}")


def spec_has(args, ctx):
    _need(args, "object", "what")
    ref = Ref.parse(args["object"])
    what = str(args["what"])
    obj = ctx.store.get(ref) if ctx.store is not None else None
    if obj is None:
        return fail(f"{ref}: not applied")
    if what == "exactly 3 spec.addresses: [invalid, unusable, usable]":
        addrs = [a.get("value") for a in (obj.get("spec") or {}).get("addresses") or []]
        if len(ctx.usable) != 1 or len(ctx.unusable) != 1:
            raise RunnerError("spec_has: each address pool must hold exactly one address")
        want = ["fake address teehee!", ctx.unusable[0], ctx.usable[0]]
        if addrs != want:
            return fail(f"{ref}: spec.addresses values {addrs}, expected {want}")
        return PASS
    raise RunnerError(f"spec_has: no judge for {what!r}")


# ---- routes ------------------------------------------------------------------

def _accepted_parent_match(p, parent, route, controller):
    pr = p.get("parentRef") or {}
    if p.get("controllerName") != controller:
        return False
    if pr.get("group") != GW_GROUP or pr.get("kind") != parent.kind:
        return False
    if pr.get("name") != parent.name:
        return False
    ns = pr.get("namespace")
    if ns is None:
        return route.namespace == parent.namespace
    return ns == parent.namespace


def accepted(args, ctx):
    """Upstream GatewayAndRoutesMustBeAccepted (or, listener_checks false, the
    TLSRoute variant). Both wait for the Gateway's address with
    WaitForGatewayAddress, which requires the Gateway's conditions to be
    current: that freshness check is made in both variants."""
    _need(args, "parent")
    parent = Ref.parse(args["parent"])
    full = args.get("listener_checks", True)
    pst = ctx.status(parent)
    if parent.kind == "Gateway":
        v = _gateway_has_address(parent, ctx, current=True)
        if not v.ok:
            return v
    elif full:
        m = _stale_msg(str(parent), _conds(pst), ctx.generation(parent))
        if m:
            return fail(m)
    want = max(1, len(args.get("section_names") or []))
    acc = Cond("Accepted", "True", "Accepted")
    for r in args.get("routes") or []:
        route = Ref.parse(r)
        parents = _route_parents(ctx, route)
        good = [p for p in parents if _accepted_parent_match(p, parent, route, ctx.controller)
                and any(acc.matches(c) for c in _conds(p))]
        if len(good) < want:
            return fail(f"{route}: expected {want} parent entr{'y' if want == 1 else 'ies'} "
                        f"for {parent} by {ctx.controller} with Accepted=True/Accepted; "
                        f"status.parents: {_fmt_parents(parents)}")
        if full:
            m = _all_parents_current(ctx, route)
            if m:
                return fail(m)
    if full:
        listeners = pst.get("listeners") or []
        specs = [Cond.parse(c) for c in ("ResolvedRefs=True", "Accepted=True", "Programmed=True")]
        for li in listeners:
            missing = _missing(specs, _conds(li))
            if missing:
                return fail(f"{parent} listener {li.get('name')}: missing "
                            f"{', '.join(map(str, missing))}; has {fmt_conds(_conds(li))}")
    return PASS


def _parent_named(p, parent):
    pr = p.get("parentRef") or {}
    return pr.get("name") == parent.name and pr.get("namespace") in (None, "", parent.namespace)


def route_conditions(args, ctx):
    _need(args, "route", "parent", "conditions")
    route, parent = Ref.parse(args["route"]), Ref.parse(args["parent"])
    m = _all_parents_current(ctx, route)
    if m:
        return fail(m)
    parents = _route_parents(ctx, route)
    mine = [p for p in parents if _parent_named(p, parent)]
    if not mine:
        return fail(f"{route}: no parent entry for {parent}; status.parents: "
                    f"{_fmt_parents(parents)}")
    for spec in _cond_specs(args):
        if not any(spec.matches(c) for p in mine for c in _conds(p)):
            return fail(f"{route}: no parent entry for {parent} holds {spec}; "
                        f"status.parents: {_fmt_parents(mine)}")
    return PASS


def _parent_ref_equal(exp, act, namespace_required):
    for k in ("group", "kind"):
        if exp.get(k) != act.get(k):
            return False
    if exp.get("name") != act.get("name"):
        return False
    if namespace_required or act.get("namespace") is not None:
        return exp.get("namespace") == act.get("namespace")
    return True


def route_parents(args, ctx):
    _need(args, "route", "parents")
    route = Ref.parse(args["route"])
    nsreq = bool(args.get("namespace_required", False))
    parents = _route_parents(ctx, route)
    for e in args["parents"]:
        eref = e.get("parent_ref") or {}
        specs = [Cond.parse(c) for c in e.get("conditions") or []]
        found = [p for p in parents if p.get("controllerName") == ctx.controller and
                 _parent_ref_equal(eref, p.get("parentRef") or {}, nsreq)]
        if not any(not _missing(specs, _conds(p)) for p in found):
            want = "/".join(str(eref.get(k, "-")) for k in ("group", "kind", "namespace", "name"))
            return fail(f"{route}: no parent {want} by {ctx.controller} with "
                        f"{', '.join(map(str, specs))}; status.parents: {_fmt_parents(parents)}")
    m = _all_parents_current(ctx, route)
    if m:
        return fail(m)
    return PASS


def route_not_accepted(args, ctx):
    """One poll's verdict; the runner asks for two polls 1 s apart on live drivers."""
    _need(args, "route")
    route = Ref.parse(args["route"])
    parents = _route_parents(ctx, route)
    if not parents:
        return PASS
    if len(parents) == 1:
        p = parents[0]
        if any(Cond("Accepted", "False", None).matches(c) for c in _conds(p)):
            m = _all_parents_current(ctx, route)
            return fail(m) if m else PASS
    return fail(f"{route}: expected no parents or one with Accepted=False; status.parents: "
                f"{_fmt_parents(parents)}")


# ---- policies ------------------------------------------------------------------

def policy_conditions(args, ctx):
    _need(args, "policy", "ancestor", "conditions")
    pol, anc = Ref.parse(args["policy"]), Ref.parse(args["ancestor"])
    ancestors = ctx.status(pol).get("ancestors") or []
    gen = ctx.generation(pol)
    for a in ancestors:
        m = _stale_msg(f"{pol} ancestor {(a.get('ancestorRef') or {}).get('name')}",
                       _conds(a), gen)
        if m:
            return fail(m)
    mine = [a for a in ancestors if (a.get("ancestorRef") or {}).get("name") == anc.name and
            (a.get("ancestorRef") or {}).get("namespace") in (None, "", anc.namespace)]
    shown = [((a.get("ancestorRef") or {}).get("name"), fmt_conds(_conds(a))) for a in ancestors]
    if not mine:
        return fail(f"{pol}: no ancestor entry for {anc}; ancestors: {shown}")
    for spec in _cond_specs(args):
        if not any(spec.matches(c) for a in mine for c in _conds(a)):
            return fail(f"{pol}: no ancestor entry for {anc} holds {spec}; ancestors: {shown}")
    return PASS


# ---- generations and readiness -------------------------------------------------

def _all_conditions(ref, st):
    """(label, conditions) groups observed_generation covers for this kind."""
    if ref.kind.endswith("Route"):
        return [(f"parent {(p.get('parentRef') or {}).get('name')}", _conds(p))
                for p in st.get("parents") or []]
    if ref.kind == "BackendTLSPolicy" or ref.kind.endswith("Policy"):
        return [(f"ancestor {(a.get('ancestorRef') or {}).get('name')}", _conds(a))
                for a in st.get("ancestors") or []]
    return [("", _conds(st))]


def observed_generation(args, ctx):
    _need(args, "object")
    ref = Ref.parse(args["object"])
    st = ctx.status(ref)
    gen = ctx.generation(ref)
    groups = _all_conditions(ref, st)
    if ref.kind in ("Gateway", "GatewayClass", "ListenerSet") and not groups[0][1]:
        return fail(f"{ref}: no status conditions")
    for label, conds in groups:
        m = _stale_msg(f"{ref} {label}".rstrip(), conds, gen)
        if m:
            return fail(m)
    return PASS


def ready_namespaces(args, ctx):
    namespaces = args if isinstance(args, list) else args.get("list") or []
    specs = [Cond("Accepted", "True", None), Cond("Programmed", "True", None)]
    for ns in namespaces:
        for ref in ctx.store.refs("Gateway", ns):
            obj = ctx.store.get(ref)
            ann = (obj.get("metadata") or {}).get("annotations") or {}
            if str(ann.get(SKIP_READINESS, "")).lower() == "true":
                continue
            conds = _conds(ctx.status(ref))
            m = _stale_msg(str(ref), conds, ctx.generation(ref))
            if m:
                return fail(m)
            missing = _missing(specs, conds)
            if missing:
                return fail(f"{ref}: not ready: missing {', '.join(map(str, missing))}; "
                            f"has {fmt_conds(conds)}")
    ok, why = ctx.pods_ready(namespaces)
    if not ok:
        return fail(f"pods not ready: {why}")
    return PASS


def generation_changed(args, ctx):
    _need(args, "object", "since")
    ref = Ref.parse(args["object"])
    if args["since"] not in ctx.recorded:
        raise RunnerError(f"generation_changed: nothing recorded as {args['since']!r}")
    before, now = ctx.recorded[args["since"]], ctx.generation(ref)
    if before == now:
        return fail(f"{ref}: generation still {now}")
    return PASS


JUDGES = {
    "accepted": accepted,
    "route_conditions": route_conditions,
    "route_parents": route_parents,
    "route_not_accepted": route_not_accepted,
    "gateway_conditions": gateway_conditions,
    "listener_conditions": listener_conditions,
    "listeners_status": listeners_status,
    "gateway_zero_routes": gateway_zero_routes,
    "gatewayclass_conditions": gatewayclass_conditions,
    "listenerset_conditions": listenerset_conditions,
    "listenerset_listener_conditions": listenerset_listener_conditions,
    "listenerset_listeners_status": listenerset_listeners_status,
    "policy_conditions": policy_conditions,
    "gateway_attached_listenersets": gateway_attached_listenersets,
    "observed_generation": observed_generation,
    "ready_namespaces": ready_namespaces,
    "gateway_addresses": gateway_addresses,
    "spec_has": spec_has,
    "generation_changed": generation_changed,
}

# Upstream wait-until timeouts (FORMAT.md section 3), in seconds.
TIMEOUTS = {"gateway_conditions": 180, "gateway_addresses": 180, "ready_namespaces": 300,
            "accepted": 180}
DEFAULT_TIMEOUT = 60
# Checks that are single reads, never polled.
ONCE = frozenset({"spec_has", "generation_changed"})


def judge(kind, args, ctx):
    fn = JUDGES.get(kind)
    if fn is None:
        raise RunnerError(f"no judge for {kind!r}")
    return fn(args or {}, ctx)
