#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A stand-in for `gatehouse` in the runner's own tests: `version`, `check --help`
and `check -f DIR -o json --address-pool CIDR`. It plays an idealised
controller (every GatewayClass/Gateway/listener accepted, every route
attached to every parentRef) so the runner's plumbing can be tested
without the real binary. FAKE_FEATURES (comma-separated) sets the
GatewayClass's supportedFeatures; FAKE_STALE=1 writes observedGeneration 0
(on every object but the GatewayClass); FAKE_GWC=stale gives the
GatewayClass a stale Accepted condition, FAKE_GWC=rejected Accepted=False.
"""
import ipaddress
import json
import os
import sys

CONTROLLER = "gatehouse.dev/gateway-controller"


def cond(t, s, r, gen):
    return {"type": t, "status": s, "reason": r, "message": "", "observedGeneration": gen,
            "lastTransitionTime": "2026-01-01T00:00:00Z"}


def main(argv):
    if argv[:1] == ["version"]:
        print("gatehouse 0.0.0-fake\ncontrollerName: " + CONTROLLER)
        return 0
    if argv[:2] == ["check", "--help"]:
        print("usage: gatehouse check -f PATH [-o json] [--address-pool CIDR]")
        return 0
    args = dict(zip(argv[1::2], argv[2::2]))
    objs = []
    for n in sorted(os.listdir(args["-f"])):
        with open(os.path.join(args["-f"], n)) as fh:
            objs.append(json.load(fh))
    hosts = ipaddress.ip_network(args["--address-pool"]).hosts()
    features = [f for f in os.environ.get("FAKE_FEATURES", "").split(",") if f]
    items = []
    for o in objs:
        md = o["metadata"]
        gen = 0 if os.environ.get("FAKE_STALE") else md.get("generation", 1)
        meta = {"name": md["name"], "generation": md.get("generation", 1)}
        if md.get("namespace"):
            meta["namespace"] = md["namespace"]
        st = None
        k = o["kind"]
        if k == "GatewayClass":
            gwc = os.environ.get("FAKE_GWC", "")
            gen = md.get("generation", 1) + (1 if gwc == "stale" else 0)
            acc = ("False", "InvalidParameters") if gwc == "rejected" else ("True", "Accepted")
            st = {"conditions": [cond("Accepted", acc[0], acc[1], gen)],
                  "supportedFeatures": [{"name": f} for f in features]}
        elif k == "Gateway":
            st = {"addresses": [{"type": "IPAddress", "value": str(next(hosts))}],
                  "conditions": [cond("Accepted", "True", "Accepted", gen),
                                 cond("Programmed", "True", "Programmed", gen)],
                  "listeners": [{"name": li["name"], "attachedRoutes": 0,
                                 "supportedKinds": [{"group": "gateway.networking.k8s.io",
                                                     "kind": "HTTPRoute"}],
                                 "conditions": [cond(t, "True", t, gen) for t in
                                                ("Accepted", "Programmed", "ResolvedRefs")]}
                                for li in o["spec"].get("listeners", [])]}
        elif k.endswith("Route"):
            st = {"parents": []}
            for pr in o["spec"].get("parentRefs", []):
                ref = {"group": "gateway.networking.k8s.io", "kind": "Gateway"}
                ref.update(pr)
                st["parents"].append({"controllerName": CONTROLLER, "parentRef": ref,
                                      "conditions": [cond("Accepted", "True", "Accepted", gen),
                                                     cond("ResolvedRefs", "True",
                                                          "ResolvedRefs", gen)]})
        if st is not None:
            items.append({"apiVersion": o["apiVersion"], "kind": k, "metadata": meta,
                          "status": st})
    json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
