# SPDX-License-Identifier: Apache-2.0
"""The ConformanceReport, in the shape of upstream's (conformance/utils/suite/reports.go).

Per requested profile, a case counts when its `profiles` list the profile
(upstream: all its features are core or extended there). It is an
*extended* test when any of its features is not a core feature of that
profile (upstream isTestExtended), else a core test. What is counted, as
upstream's addTestResults: passed, failed and skipped cases; a case skipped
because a feature is not claimed (upstream testNotSupported) and a
provisional case left out with --skip-provisional-tests are not counted.
Provisional cases are otherwise counted like any other, and the ones that
passed are also listed in succeededProvisionalTests. A profile's `extended`
block is there only when an extended case was counted (upstream leaves it
nil otherwise). The summary is upstream's buildSummary text.

When the claimed features come from --supported-features instead of the
GatewayClass's status, the report says so: `inferredSupportedFeatures:
false` (true when read from the GatewayClass).
"""
import datetime
import re

import yaml

from .runner import FAIL, PASS, SKIP

REPORT_API_VERSION = "gateway.networking.k8s.io/v1alpha1"
# CaseResult.kind values that upstream does not count in the statistics.
NOT_COUNTED = frozenset({"not_supported", "provisional_skipped"})


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


def _summary_part(st):
    if st["result"] == "success":
        return "succeeded"
    if st["result"] == "partial":
        return f"partially succeeded with {st['statistics']['Skipped']} test skips"
    return f"failed with {st['statistics']['Failed']} test failures"


def counted(result):
    """Whether upstream counts this result in a profile's statistics."""
    return getattr(result, "kind", None) not in NOT_COUNTED


def build(results, profiles, requested, claimed, implementation, channels, api_version="v1.6.1",
          mode="default", now=None, features_inferred=True):
    """results: CaseResults; profiles: {name: (core, extended)}; requested: profile names;
    features_inferred: False when the claimed features came from --supported-features."""
    claimed = set(claimed)
    out_profiles = []
    for name in requested:
        core_set, ext_set = profiles[name]
        core, ext = [], []
        for r in results:
            c = r.case
            if name not in c.profiles or not counted(r):
                continue
            (ext if any(f not in core_set for f in c.features) else core).append(r)
        prof = {"name": name, "summary": "", "core": _status(core)}
        summary = f"Core tests {_summary_part(prof['core'])}"
        if ext:
            e = _status(ext)
            e["supportedFeatures"] = sorted(ext_set & claimed)
            e["unsupportedFeatures"] = sorted(ext_set - claimed)
            prof["extended"] = e
            summary += f". Extended tests {_summary_part(e)}"
        prof["summary"] = summary + "."
        out_profiles.append(prof)
    experimental = any(channels.get(f) == "experimental" for f in claimed)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    rep = {
        "apiVersion": REPORT_API_VERSION,
        "kind": "ConformanceReport",
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "implementation": implementation,
        "gatewayAPIVersion": api_version,
        "gatewayAPIChannel": "experimental" if experimental else "standard",
        "mode": mode,
        "inferredSupportedFeatures": bool(features_inferred),
        "profiles": out_profiles,
    }
    succeeded = sorted(r.name for r in results if r.case.provisional and r.outcome == PASS
                       and counted(r))
    if succeeded:
        rep["succeededProvisionalTests"] = succeeded
    return rep


def dump(report, path):
    with open(path, "w") as fh:
        yaml.safe_dump(report, fh, sort_keys=False, default_flow_style=False)


__all__ = ["build", "dump", "parse_channels", "PASS", "FAIL", "SKIP"]
