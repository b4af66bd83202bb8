# SPDX-License-Identifier: Apache-2.0
"""Object references, condition specs and the emulated API server.

The runner plays the cluster's part (FORMAT.md section 2): it owns the
objects, stamps what the API server would stamp (generation, uid,
resourceVersion, creationTimestamp, the kubernetes.io/metadata.name label on
Namespaces) and rewrites the placeholders of the upstream manifests. The
gateway under test only ever sees the result, through a driver.
"""
import copy
import datetime
import uuid
from collections import namedtuple

GW_GROUP = "gateway.networking.k8s.io"
CLUSTER_SCOPED = frozenset({"GatewayClass", "Namespace"})
NS_NAME_LABEL = "kubernetes.io/metadata.name"
SKIP_READINESS = "gateway-api/skip-this-for-readiness"
CLASS_PLACEHOLDER = "{GATEWAY_CLASS_NAME}"
CONTROLLER_PLACEHOLDER = "{GATEWAY_CONTROLLER_NAME}"
USABLE_PLACEHOLDER = "PLACEHOLDER_USABLE_ADDRS"
UNUSABLE_PLACEHOLDER = "PLACEHOLDER_UNUSABLE_ADDRS"


class RunnerError(Exception):
    """A problem of the runner or the corpus, not of the gateway under test."""


class Ref(namedtuple("Ref", "kind namespace name")):
    """`Kind/namespace/name`, or `Kind/name` for cluster-scoped kinds."""

    __slots__ = ()

    @classmethod
    def parse(cls, text):
        parts = str(text).split("/")
        if len(parts) == 2:
            return cls(parts[0], "", parts[1])
        if len(parts) == 3:
            return cls(parts[0], parts[1], parts[2])
        raise RunnerError(f"bad object reference {text!r}")

    @classmethod
    def of(cls, obj):
        md = obj.get("metadata") or {}
        return cls(obj.get("kind", ""), md.get("namespace") or "", md.get("name", ""))

    def __str__(self):
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"


def parse_nsname(text):
    """`ns/name` (traffic targets) -> (ns, name)."""
    ns, _, name = str(text).partition("/")
    return ns, name


class Cond(namedtuple("Cond", "type status reason")):
    """`Type`, `Type=Status` or `Type=Status/Reason` (FORMAT.md section 4)."""

    __slots__ = ()

    @classmethod
    def parse(cls, text):
        text = str(text)
        ctype, eq, rest = text.partition("=")
        status = reason = None
        if eq:
            status, slash, reason = rest.partition("/")
            reason = reason if slash else None
        if not ctype or (eq and status not in ("True", "False", "Unknown")):
            raise RunnerError(f"bad condition spec {text!r}")
        return cls(ctype, status, reason)

    def matches(self, cond):
        if cond.get("type") != self.type:
            return False
        if self.status is not None and cond.get("status") != self.status:
            return False
        if self.reason is not None and cond.get("reason") != self.reason:
            return False
        return True

    def __str__(self):
        s = self.type
        if self.status is not None:
            s += "=" + self.status
        if self.reason is not None:
            s += "/" + self.reason
        return s


def fmt_conds(conds):
    """Conditions as `Type=Status/Reason@gen` for messages."""
    if not conds:
        return "[]"
    out = []
    for c in conds:
        s = f"{c.get('type')}={c.get('status')}/{c.get('reason')}"
        if "observedGeneration" in c:
            s += f"@{c['observedGeneration']}"
        out.append(s)
    return "[" + ", ".join(out) + "]"


def rfc3339(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Env(namedtuple("Env", "gateway_class controller_name usable_addrs unusable_addrs")):
    """What the placeholder rewrites substitute (FORMAT.md section 2)."""

    __slots__ = ()


def _pool_entries(addrs):
    return [{"type": "IPAddress", "value": a} for a in addrs]


def rewrite(obj, env):
    """Applies the FORMAT.md section 2 rewrites to a copy of one manifest object."""
    obj = copy.deepcopy(obj)
    kind = obj.get("kind")
    spec = obj.get("spec")
    md = obj.setdefault("metadata", {})
    if kind == "Gateway" and isinstance(spec, dict):
        if spec.get("gatewayClassName") == CLASS_PLACEHOLDER:
            spec["gatewayClassName"] = env.gateway_class
        addrs = spec.get("addresses")
        if isinstance(addrs, list):
            out = []
            for a in addrs:
                v = a.get("value") if isinstance(a, dict) else None
                if v == USABLE_PLACEHOLDER:
                    out.extend(_pool_entries(env.usable_addrs))
                elif v == UNUSABLE_PLACEHOLDER:
                    out.extend(_pool_entries(env.unusable_addrs))
                else:
                    out.append(a)
            spec["addresses"] = out
    elif kind == "GatewayClass" and isinstance(spec, dict):
        if spec.get("controllerName") == CONTROLLER_PLACEHOLDER:
            spec["controllerName"] = env.controller_name
    elif kind == "Namespace":
        labels = md.get("labels") or {}
        labels[NS_NAME_LABEL] = md.get("name", "")
        md["labels"] = labels
    return obj


def _content(obj):
    """What the generation depends on: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class ObjectStore:
    """The emulated API server: objects by Ref, in creation order.

    `clock` is a callable returning an aware datetime; drivers supply it
    (CheckDriver a virtual clock, so creation order is deterministic).
    """

    def __init__(self, clock):
        self.clock = clock
        self.objects = {}
        self._rv = 0

    def copy(self):
        other = ObjectStore(self.clock)
        other.objects = copy.deepcopy(self.objects)
        other._rv = self._rv
        return other

    def __contains__(self, ref):
        return ref in self.objects

    def __iter__(self):
        return iter(list(self.objects.values()))

    def get(self, ref):
        return self.objects.get(ref)

    def refs(self, kind=None, namespace=None):
        return [r for r in self.objects if (kind is None or r.kind == kind) and
                (namespace is None or r.namespace == namespace)]

    def generation(self, ref):
        obj = self.objects.get(ref)
        if obj is None:
            return None
        return obj["metadata"].get("generation", 1)

    def _next_rv(self):
        self._rv += 1
        return str(self._rv)

    def apply(self, obj):
        """Creates the object or updates it in place (kubectl apply).

        Returns its Ref. An update bumps metadata.generation when anything
        other than metadata/status changed, as the API server does for CRDs.
        """
        obj = copy.deepcopy(obj)
        obj.pop("status", None)
        if obj.get("kind") in CLUSTER_SCOPED:
            obj.setdefault("metadata", {}).pop("namespace", None)
        ref = Ref.of(obj)
        if not ref.kind or not ref.name:
            raise RunnerError(f"object without kind or name: {obj!r:.200}")
        if ref.kind == "EndpointSlice":
            # The API server always serializes `endpoints` (no omitempty), so
            # a JSON Patch can replace it on a slice created without it.
            if obj.get("endpoints") is None:
                obj["endpoints"] = []
        md = obj["metadata"]
        old = self.objects.get(ref)
        if old is None:
            md["generation"] = 1
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = rfc3339(self.clock())
        else:
            omd = old["metadata"]
            md["uid"] = omd["uid"]
            md["creationTimestamp"] = omd["creationTimestamp"]
            gen = omd.get("generation", 1)
            md["generation"] = gen + 1 if _content(old) != _content(obj) else gen
        md["resourceVersion"] = self._next_rv()
        self.objects[ref] = obj
        return ref

    def update(self, ref, fn):
        """Applies `fn` to a copy of the object and stores the result (a PUT)."""
        old = self.objects.get(ref)
        if old is None:
            raise RunnerError(f"cannot update {ref}: no such object")
        new = copy.deepcopy(old)
        fn(new)
        if Ref.of(new) != ref:
            raise RunnerError(f"update of {ref} changed its identity")
        return self.apply(new)

    def delete(self, ref):
        if self.objects.pop(ref, None) is None:
            raise RunnerError(f"cannot delete {ref}: no such object")
