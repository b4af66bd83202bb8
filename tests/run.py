#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Runs every test of gatehouse and prints one closing line.

1. `meson test` in the given build directory: the unit suites (TAP; each
   "ok"/"not ok" line counts as one test), the fuzz corpus replays and the
   style checks (one test each).
2. pytest over tests/e2e against the same build's binary.

Closing line: "N passed, N failed"; exit status 1 on any failure.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAP_LINE = re.compile(r"^(not )?ok \d+")


def run_meson(build):
    """Returns (passed, failed, failures) counted from meson's test log."""
    proc = subprocess.run(["meson", "test", "-C", build, "--print-errorlogs",
                           "--num-processes", str(os.cpu_count() or 2)])
    log = os.path.join(build, "meson-logs", "testlog.json")
    passed = failed = 0
    failures = []
    try:
        with open(log) as f:
            entries = [json.loads(line) for line in f if line.strip()]
    except OSError:
        return 0, 1, ["meson test wrote no log"]
    for e in entries:
        result = e.get("result")
        tap = [ln for ln in e.get("stdout", "").splitlines() if TAP_LINE.match(ln)]
        if tap:
            bad = [ln for ln in tap if ln.startswith("not ok")]
            passed += len(tap) - len(bad)
            failed += len(bad)
            if bad or result not in ("OK", "EXPECTEDFAIL"):
                if not bad:
                    failed += 1
                failures.append(f"{e['name']}: {result} {bad[:3]}")
        elif result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            pass
        else:
            failed += 1
            failures.append(f"{e['name']}: {result}")
    if proc.returncode != 0 and failed == 0:
        failed += 1
        failures.append(f"meson test exited {proc.returncode}")
    return passed, failed, failures


def run_pytest(build, conformance):
    e2e = os.path.join(ROOT, "tests", "e2e")
    if not any(n.startswith("test_") for n in os.listdir(e2e)):
        return 0, 0, []
    env = dict(os.environ)
    env["GATEHOUSE"] = os.path.abspath(os.path.join(build, "src", "cmd", "gatehouse"))
    env["GW_CONFORMANCE"] = conformance
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    with tempfile.TemporaryDirectory() as tmp:
        xml = os.path.join(tmp, "junit.xml")
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "--junitxml", xml, e2e], env=env, cwd=ROOT)
        if proc.returncode == 5:  # nothing collected
            return 0, 0, []
        try:
            import xml.etree.ElementTree as ET
            root = ET.parse(xml).getroot()
            suite = root if root.tag == "testsuite" else root.find("testsuite")
            tests = int(suite.get("tests", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped = int(suite.get("skipped", 0))
        except Exception as exc:  # noqa: BLE001 - any broken report is a failure
            return 0, 1, [f"pytest report unreadable: {exc}"]
        failures = [] if proc.returncode == 0 else [f"pytest exited {proc.returncode}"]
        if proc.returncode != 0 and bad == 0:
            bad = 1
        return tests - bad - skipped, bad, failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-asan")
    ap.add_argument("--conformance", default=os.path.join(ROOT, "..", "shared", "conformance"))
    args = ap.parse_args()

    p1, f1, why1 = run_meson(args.build)
    p2, f2, why2 = run_pytest(args.build, args.conformance)
    for w in why1 + why2:
        print("FAILED:", w)
    passed, failed = p1 + p2, f1 + f2
    print(f"unit/fuzz/style: {p1} passed, {f1} failed; e2e: {p2} passed, {f2} failed")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
