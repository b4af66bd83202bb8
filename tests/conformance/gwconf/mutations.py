# SPDX-License-Identifier: Apache-2.0
"""The structured edits of FORMAT.md section 6, executed generically.

* `mutate: {object, patch}`: an RFC 6902 JSON Patch applied to the object as
  it stands in the store (its last written version); `test` operations are
  preconditions, so a failing one is a RunnerError (the case is broken, not
  the gateway).
* `apply: {object, manifest[, patch]}`: the manifest (rewritten like any
  manifest, section 2), patched with `patch`, then created or replaced.
* `delete: {object}`.
* `value_from` in a patch operation stands in for `value`:
  `{object: Kind/ns/name, path: /pointer}` copies a value of another object;
  `{endpoints_of: Service/ns/name, family, conditions, target_ref_kind}` is
  the EndpointSlice `endpoints` list of the runner's ready replicas behind
  that Service (needs a data plane: NeedsDataPlane otherwise).

Patch values get the section 2 placeholder rewrites. Nothing here is keyed
on a case's name or on the prose `change`/`content` text. Updates go through
ObjectStore.update, which bumps metadata.generation when anything outside
metadata changed, as the API server does. perform() also returns the writes
it made (ctx.writes) so that a driver with a real API server can send a
mutation as the JSON Patch it is.
"""
import copy

from .model import (CLASS_PLACEHOLDER, CONTROLLER_PLACEHOLDER, UNUSABLE_PLACEHOLDER,
                    USABLE_PLACEHOLDER, Ref, RunnerError, rewrite)

OPS = ("add", "remove", "replace", "move", "copy", "test")
ENDPOINTS_KEYS = {"endpoints_of", "family", "conditions", "target_ref_kind"}


class NeedsDataPlane(Exception):
    """The edit needs something only a running data plane has (pod addresses...)."""


class PatchTestFailed(RunnerError):
    """A `test` operation of a patch did not hold (the case's precondition)."""


class MutationCtx:
    def __init__(self, store, fixtures=None, env=None, driver=None):
        self.store = store
        self.fixtures = fixtures or {}  # {Ref: object} of the generated TLS material
        self.env = env
        self.driver = driver
        self.writes = []                # ("patch", ref, ops) | ("apply", ref) | ("delete", ref)


# ---- JSON Pointer (RFC 6901) and JSON Patch (RFC 6902) ------------------------------

def parse_pointer(ptr):
    if not isinstance(ptr, str) or (ptr and not ptr.startswith("/")):
        raise RunnerError(f"bad JSON pointer {ptr!r}")
    if ptr == "":
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in ptr[1:].split("/")]


def _index(container, tok, ptr, allow_end=False):
    if allow_end and tok == "-":
        return len(container)
    if not tok.isdigit() or (len(tok) > 1 and tok[0] == "0"):
        raise RunnerError(f"JSON pointer {ptr}: {tok!r} is not an array index")
    i = int(tok)
    limit = len(container) + (1 if allow_end else 0)
    if i >= limit:
        raise RunnerError(f"JSON pointer {ptr}: index {i} out of range ({len(container)})")
    return i


def resolve(doc, ptr):
    """The value at JSON pointer `ptr` of `doc` (RunnerError when absent)."""
    cur = doc
    for tok in parse_pointer(ptr):
        if isinstance(cur, dict):
            if tok not in cur:
                raise RunnerError(f"JSON pointer {ptr}: no member {tok!r}")
            cur = cur[tok]
        elif isinstance(cur, list):
            cur = cur[_index(cur, tok, ptr)]
        else:
            raise RunnerError(f"JSON pointer {ptr}: cannot descend into a scalar")
    return cur


def _parent(doc, ptr):
    toks = parse_pointer(ptr)
    if not toks:
        raise RunnerError("a patch cannot target the whole document")
    parent = doc
    for tok in toks[:-1]:
        if isinstance(parent, dict):
            if tok not in parent:
                raise RunnerError(f"JSON pointer {ptr}: no member {tok!r}")
            parent = parent[tok]
        elif isinstance(parent, list):
            parent = parent[_index(parent, tok, ptr)]
        else:
            raise RunnerError(f"JSON pointer {ptr}: cannot descend into a scalar")
    return parent, toks[-1]


def _add(doc, ptr, value):
    parent, tok = _parent(doc, ptr)
    if isinstance(parent, dict):
        parent[tok] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, tok, ptr, allow_end=True), value)
    else:
        raise RunnerError(f"JSON pointer {ptr}: parent is a scalar")


def _remove(doc, ptr):
    parent, tok = _parent(doc, ptr)
    if isinstance(parent, dict):
        if tok not in parent:
            raise RunnerError(f"remove {ptr}: no such member")
        return parent.pop(tok)
    if isinstance(parent, list):
        return parent.pop(_index(parent, tok, ptr))
    raise RunnerError(f"JSON pointer {ptr}: parent is a scalar")


def _json_equal(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return a == b


def apply_patch(doc, ops):
    """Applies resolved RFC 6902 operations (each with `value` where needed) to a
    copy of doc and returns it. A failing `test` raises PatchTestFailed."""
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, path = op.get("op"), op.get("path")
        if kind not in OPS:
            raise RunnerError(f"unknown patch operation {kind!r}")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise RunnerError(f"patch {kind} {path}: no value")
        if kind == "add":
            _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            resolve(doc, path)  # must exist
            parent, tok = _parent(doc, path)
            if isinstance(parent, dict):
                parent[tok] = copy.deepcopy(op["value"])
            else:
                parent[_index(parent, tok, path)] = copy.deepcopy(op["value"])
        elif kind == "move":
            frm = op.get("from")
            if path == frm or str(path).startswith(str(frm) + "/"):
                if path != frm:
                    raise RunnerError(f"move {frm} into its own child {path}")
                continue
            _add(doc, path, _remove(doc, frm))
        elif kind == "copy":
            _add(doc, path, copy.deepcopy(resolve(doc, op.get("from"))))
        elif kind == "test":
            try:
                have = resolve(doc, path)
            except RunnerError as e:
                raise PatchTestFailed(f"patch precondition failed: {e}")
            if not _json_equal(have, op["value"]):
                raise PatchTestFailed(f"patch precondition failed: {path} is {have!r:.120}, "
                                      f"not {op['value']!r:.120}")
    return doc


# ---- placeholder rewrites of patch values -------------------------------------------

def rewrite_value(value, env):
    """FORMAT.md section 2 rewrites for a patch value (a fragment, not an object)."""
    if env is None:
        return copy.deepcopy(value)
    pools = {USABLE_PLACEHOLDER: list(env.usable_addrs),
             UNUSABLE_PLACEHOLDER: list(env.unusable_addrs)}
    if isinstance(value, str):
        if value == CLASS_PLACEHOLDER:
            return env.gateway_class
        if value == CONTROLLER_PLACEHOLDER:
            return env.controller_name
        if value in pools:
            if len(pools[value]) != 1:
                raise RunnerError(f"{value} stands for {len(pools[value])} addresses here; "
                                  "a scalar patch value needs exactly one")
            return pools[value][0]
        return value
    if isinstance(value, list):
        out = []
        for v in value:
            if isinstance(v, dict) and v.get("value") in pools and \
                    set(v) <= {"type", "value"}:
                out.extend({"type": v.get("type") or "IPAddress", "value": a}
                           for a in pools[v["value"]])
            else:
                out.append(rewrite_value(v, env))
        return out
    if isinstance(value, dict):
        if value.get("value") in pools and set(value) <= {"type", "value"}:
            addrs = pools[value["value"]]
            if len(addrs) != 1:
                raise RunnerError(f"{value['value']}: one address entry needs one address")
            return {"type": value.get("type") or "IPAddress", "value": addrs[0]}
        return {k: rewrite_value(v, env) for k, v in value.items()}
    return copy.deepcopy(value)


# ---- value_from ---------------------------------------------------------------------

def _object(ctx, ref):
    obj = ctx.store.get(ref) or ctx.fixtures.get(ref)
    if obj is None:
        raise RunnerError(f"value_from: {ref} does not exist")
    return obj


def _endpoints(ctx, src):
    unknown = set(src) - ENDPOINTS_KEYS
    if unknown:
        raise RunnerError(f"value_from: unsupported keys {sorted(unknown)}")
    sref = Ref.parse(src["endpoints_of"])
    if sref.kind != "Service":
        raise RunnerError(f"value_from.endpoints_of must name a Service, not {sref}")
    family = src.get("family", "IPv4")
    if family not in ("IPv4", "IPv6"):
        raise RunnerError(f"value_from: bad family {family!r}")
    fn = getattr(ctx.driver, "service_endpoints", None)
    if fn is None:
        raise NeedsDataPlane(f"the endpoints of {sref} are the runner's backend replicas")
    conds = src.get("conditions") or {"ready": True}
    out = []
    for addr, pod, ns in fn(ctx.store, sref.namespace, sref.name, family):
        ep = {"addresses": [addr], "conditions": dict(conds)}
        if src.get("target_ref_kind"):
            ep["targetRef"] = {"kind": src["target_ref_kind"], "name": pod, "namespace": ns}
        out.append(ep)
    return out


def resolve_ops(ops, ctx):
    """The patch with every value rewritten and every value_from resolved."""
    if not isinstance(ops, list):
        raise RunnerError("patch must be a list of operations")
    out = []
    for op in ops:
        if not isinstance(op, dict):
            raise RunnerError(f"bad patch operation {op!r:.100}")
        op = dict(op)
        src = op.pop("value_from", None)
        if src is not None:
            if "value" in op:
                raise RunnerError("a patch operation has both value and value_from")
            if not isinstance(src, dict):
                raise RunnerError(f"bad value_from {src!r:.100}")
            if "endpoints_of" in src:
                op["value"] = _endpoints(ctx, src)
            elif set(src) == {"object", "path"}:
                op["value"] = copy.deepcopy(resolve(_object(ctx, Ref.parse(src["object"])),
                                                    src["path"]))
            else:
                raise RunnerError(f"unsupported value_from {sorted(src)}")
        elif "value" in op:
            op["value"] = rewrite_value(op["value"], ctx.env)
        out.append(op)
    return out


# ---- the checks ---------------------------------------------------------------------

def perform(kind, args, ctx):
    """Runs one `mutate`/`apply`/`delete` against ctx.store. Returns a short description."""
    if not isinstance(args, dict) or "object" not in args:
        raise RunnerError(f"{kind}: needs an object")
    ref = Ref.parse(args["object"])
    if kind == "delete":
        ctx.store.delete(ref)
        ctx.writes.append(("delete", ref))
        return f"deleted {ref}"
    if kind == "mutate":
        if "patch" not in args:
            raise RunnerError(f"mutate {ref}: no structured patch (only prose: "
                              f"{args.get('change')!r:.80})")
        obj = ctx.store.get(ref)
        if obj is None:
            raise RunnerError(f"mutate {ref}: no such object")
        ops = resolve_ops(args["patch"], ctx)
        new = apply_patch(obj, ops)
        if Ref.of(new) != ref:
            raise RunnerError(f"mutate {ref}: the patch changes the object's identity")
        ctx.store.update(ref, lambda o: (o.clear(), o.update(new)))
        ctx.writes.append(("patch", ref, ops))
        return f"mutate {ref}: {len(ops)} patch operation(s)"
    if kind == "apply":
        if "manifest" not in args:
            raise RunnerError(f"apply {ref}: no structured manifest (only prose: "
                              f"{args.get('content')!r:.80})")
        obj = rewrite(args["manifest"], ctx.env) if ctx.env is not None else \
            copy.deepcopy(args["manifest"])
        if args.get("patch"):
            obj = apply_patch(obj, resolve_ops(args["patch"], ctx))
        got = Ref.of(obj)
        if got != ref:
            raise RunnerError(f"apply {ref}: the manifest is {got}")
        ctx.store.apply(obj)
        ctx.writes.append(("apply", ref))
        return f"apply {ref}"
    raise RunnerError(f"unknown mutation {kind!r}")


def unsupported(kind, args):
    """Why a corpus mutation cannot be executed generically ('' when it can)."""
    if not isinstance(args, dict) or "object" not in args:
        return "no object"
    try:
        Ref.parse(args["object"])
    except RunnerError as e:
        return str(e)
    if kind == "mutate":
        ops = args.get("patch")
        if not isinstance(ops, list) or not ops:
            return "no patch"
        for op in ops:
            if op.get("op") not in OPS:
                return f"patch op {op.get('op')!r}"
            src = op.get("value_from")
            if src is not None and not (set(src) == {"object", "path"} or
                                        ("endpoints_of" in src and set(src) <= ENDPOINTS_KEYS)):
                return f"value_from {sorted(src)}"
    elif kind == "apply":
        if not isinstance(args.get("manifest"), dict):
            return "no manifest"
    elif kind != "delete":
        return f"unknown kind {kind}"
    return ""


def snapshot_objects(store):
    return copy.deepcopy(store.objects)
