# SPDX-License-Identifier: Apache-2.0
"""The conformance corpus: case files, profiles and fixtures (read-only)."""
import glob
import os
import re

import yaml

from .model import RunnerError

# Check kinds by what they need (FORMAT.md sections 4-6).
STATUS_CHECKS = frozenset({
    "accepted", "route_conditions", "route_parents", "route_not_accepted",
    "gateway_conditions", "listener_conditions", "listeners_status", "gateway_zero_routes",
    "gatewayclass_conditions", "listenerset_conditions", "listenerset_listener_conditions",
    "listenerset_listeners_status", "policy_conditions", "gateway_attached_listenersets",
    "observed_generation", "ready_namespaces", "gateway_addresses", "spec_has",
})
BOOKKEEPING_CHECKS = frozenset({"record", "generation_changed", "sleep"})
MUTATIONS = frozenset({"mutate", "apply", "delete"})
TRAFFIC_CHECKS = frozenset({
    "http", "http_not_ok", "https_handshake_fails", "grpc", "http_repeat", "tls_stream",
    "tcp_stream", "tcp_repeat", "tcp_connect", "tls_rejected", "udp", "udp_repeat", "dns_query",
    "weights", "mirror_distribution", "websocket", "mesh_http", "mesh_weights",
})
CLUSTER_ONLY_CHECKS = frozenset({"generated_resources"})
KNOWN_CHECKS = STATUS_CHECKS | BOOKKEEPING_CHECKS | MUTATIONS | TRAFFIC_CHECKS | CLUSTER_ONLY_CHECKS


def check_kind(check):
    """A check is a one-key mapping; returns (kind, args)."""
    if not isinstance(check, dict) or len(check) != 1:
        raise RunnerError(f"a check must be a one-key mapping, got {check!r:.120}")
    ((kind, args),) = check.items()
    if kind not in KNOWN_CHECKS:
        raise RunnerError(f"unknown check kind {kind!r}")
    return kind, args


class Case:
    """One case file (`gwconf-case/1`)."""

    def __init__(self, path, data):
        if data.get("format") != "gwconf-case/1":
            raise RunnerError(f"{path}: not a gwconf-case/1 file")
        self.path = path
        self.data = data
        self.name = data["test"]
        self.provisional = bool(data.get("provisional"))
        self.features = list(data.get("features") or [])
        self.profiles = list(data.get("profiles") or [])
        self.manifests = list(data.get("manifests") or [])
        self.needs = list(data.get("needs") or [])
        self.skip_if_supported = list(data.get("skip_if_supported") or [])
        self.run_only_if_supported = list(data.get("run_only_if_supported") or [])
        self.phases = list(data.get("phases") or [])
        self.mesh = "Mesh" in self.features

    def check_kinds(self):
        return [check_kind(c)[0] for p in self.phases for c in p.get("checks") or []]

    def has_traffic(self):
        return any(k in TRAFFIC_CHECKS for k in self.check_kinds())

    def __repr__(self):
        return f"Case({self.name})"


class Corpus:
    def __init__(self, root):
        self.root = os.path.abspath(root)
        if not os.path.isfile(os.path.join(self.root, "INDEX.md")):
            raise RunnerError(f"{root}: not a conformance corpus (no INDEX.md)")

    def path(self, rel):
        return os.path.join(self.root, rel)

    def cases(self, mesh=False):
        files = sorted(glob.glob(self.path("cases/*.yaml")))
        if mesh:
            files += sorted(glob.glob(self.path("cases/mesh/*.yaml")))
        out = []
        for f in files:
            if os.path.basename(f).startswith("_"):
                continue
            with open(f) as fh:
                out.append(Case(f, yaml.safe_load(fh)))
        return out

    def load_manifest(self, rel):
        """All objects of one manifest file, in order (empty documents dropped)."""
        with open(self.path(rel)) as fh:
            return [d for d in yaml.safe_load_all(fh) if d]

    def fixtures(self):
        with open(self.path("cases/_fixtures.yaml")) as fh:
            return yaml.safe_load(fh)

    def profiles(self):
        """{profile: (core set, extended set)} from the table in FEATURES.md."""
        return parse_profiles(open(self.path("FEATURES.md")).read())


_ROW = re.compile(r"^\|\s*((?:GATEWAY|MESH)-[A-Z]+)\s*\|([^|]*)\|([^|]*)\|\s*$")


def parse_profiles(text):
    out = {}
    for line in text.splitlines():
        m = _ROW.match(line.strip())
        if not m:
            continue

        def names(cell):
            return {n.strip() for n in cell.split(",") if n.strip() and n.strip() != "–"}

        out[m.group(1)] = (names(m.group(2)), names(m.group(3)))
    if not out:
        raise RunnerError("FEATURES.md: no profile table found")
    return out
