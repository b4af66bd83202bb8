# SPDX-License-Identifier: Apache-2.0
"""The ConformanceReport, in the shape of upstream's (conformance/utils/suite/reports.go).

Per requested profile, a case counts when its `profiles` list the profile
(upstream: all its features are core or extended there). It is an
*extended* test when any of its features is extended in that profile, else
a core test. Provisional cases are left out of the statistics; the ones
that passed are listed in succeededProvisionalTests.
"""
import datetime
import re

import yaml

from .runner import FAIL, PASS, SKIP

REPORT_API_VERSION = "gateway.networking.k8s.io/v1alpha1"


def parse_channels(features_md):
    """{feature: channel} from the 'All features' table of FEATURES.md."""
    out = {}
    for line in features_md.splitlines():
        m = re.match(r"^\|\s*`([A-Za-z0-9]+)`\s*\|[^|]*\|\s*(standard|experimental)\s*\|", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _result(stats):
    if stats["Failed"]:
        return "failure"
    if stats["Skipped"]:
        return "partial"
    return "success"


def _status(results):
    stats = {"Passed": 0, "Failed": 0, "Skipped": 0}
    failed, skipped = [], []
    for r in results:
        if r.outcome == PASS:
            stats["Passed"] += 1
        elif r.outcome == FAIL:
            stats["Failed"] += 1
            failed.append(r.name)
        else:
            stats["Skipped"] += 1
            skipped.append(r.name)
    st = {"result": _result(stats), "statistics": stats}
    if failed:
        st["failedTests"] = sorted(failed)
    if skipped:
        st["skippedTests"] = sorted(skipped)
    return st


def build(results, profiles, requested, claimed, implementation, channels, api_version="v1.6.1",
          mode="default", now=None):
    """results: CaseResults; profiles: {name: (core, extended)}; requested: profile names."""
    claimed = set(claimed)
    out_profiles = []
    for name in requested:
        core_set, ext_set = profiles[name]
        core, ext = [], []
        for r in results:
            c = r.case
            if name not in c.profiles or c.provisional:
                continue
            (ext if any(f in ext_set for f in c.features) else core).append(r)
        prof = {"name": name, "summary": "", "core": _status(core)}
        e = _status(ext)
        e["supportedFeatures"] = sorted(ext_set & claimed)
        e["unsupportedFeatures"] = sorted(ext_set - claimed)
        prof["extended"] = e
        prof["summary"] = (f"core: {prof['core']['statistics']['Passed']} passed, "
                           f"{prof['core']['statistics']['Failed']} failed, "
                           f"{prof['core']['statistics']['Skipped']} skipped; extended: "
                           f"{e['statistics']['Passed']} passed, {e['statistics']['Failed']} "
                           f"failed, {e['statistics']['Skipped']} skipped")
        out_profiles.append(prof)
    experimental = any(channels.get(f) == "experimental" for f in claimed)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {
        "apiVersion": REPORT_API_VERSION,
        "kind": "ConformanceReport",
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "implementation": implementation,
        "gatewayAPIVersion": api_version,
        "gatewayAPIChannel": "experimental" if experimental else "standard",
        "mode": mode,
        "profiles": out_profiles,
        "succeededProvisionalTests": sorted(r.name for r in results
                                            if r.case.provisional and r.outcome == PASS),
    }


def dump(report, path):
    with open(path, "w") as fh:
        yaml.safe_dump(report, fh, sort_keys=False, default_flow_style=False)


__all__ = ["build", "dump", "parse_channels", "PASS", "FAIL", "SKIP"]
