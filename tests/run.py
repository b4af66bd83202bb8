#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Runs every test of gatehouse and prints one closing line.

1. `meson test` in the given build directory: the unit suites (TAP; each
   "ok"/"not ok" line counts as one test), the fuzz corpus replays and the
   style checks (one test each).
2. pytest over tests/e2e and tests/conformance (the conformance runner's own
   tests) against the same build's binary.
3. The conformance runner over every gateway case of the corpus, against one
   long-running `gatehouse run` with real echo backends (status and traffic
   checks): one test per case. This run's backends are the independent echo
   of the corpus (`--echo independent`: ../shared/conformance/echo/echo.py,
   written from ECHO.md alone), so a bug that gatehouse's proxy and
   `gatehouse echo` share cannot hide; and it runs on IPv6 (`--ipv6`: a
   private network namespace, Gateways, echo replicas and EndpointSlices all
   IPv6) when `unshare -n` works here, on IPv4 otherwise. Then again in
   Kubernetes mode (`--kubernetes
   --run`: the kube API server double, `gatehouse run --kubernetes`, statuses
   read from the API; output lines prefixed `[k8s] `), one test per case
   again, with `gatehouse echo` backends; skipped when `gatehouse run` has no
   --kubernetes option.
4. The benchmark's smoke run (bench/run.py --smoke: every scenario end to
   end with tiny sizes, no thresholds) against the same binary: one test.

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
    dirs = [os.path.join(ROOT, "tests", d) for d in ("e2e", "conformance")]
    dirs = [d for d in dirs if os.path.isdir(d)
            and any(n.startswith("test_") for n in os.listdir(d))]
    if not dirs:
        return 0, 0, []
    env = dict(os.environ)
    env["GATEHOUSE"] = os.path.abspath(os.path.join(build, "src", "cmd", "gatehouse"))
    env["GW_CONFORMANCE"] = conformance
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    with tempfile.TemporaryDirectory() as tmp:
        xml = os.path.join(tmp, "junit.xml")
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "--junitxml", xml] + dirs, env=env, cwd=ROOT)
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


def _conformance_pass(args, prefix, conformance):
    """One run of the conformance runner; (passed, failed, failure lines).
    Output lines are printed with `prefix` (so the modes are told apart)."""
    runner = os.path.join(ROOT, "tests", "conformance", "run.py")
    proc = subprocess.run([sys.executable, runner, "--corpus", conformance] + args,
                          stdout=subprocess.PIPE, text=True, cwd=ROOT)
    for ln in proc.stdout.splitlines():
        print(prefix + ln)
    sys.stdout.flush()
    m = re.search(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", proc.stdout, re.M)
    if not m:
        return 0, 1, [f"{prefix}conformance runner printed no summary (exit {proc.returncode})"]
    passed, failed = int(m.group(1)), int(m.group(2))
    fails = [prefix + ln for ln in proc.stdout.splitlines()
             if ln.startswith("FAIL") or ln.startswith("SETUP FAIL")]
    if proc.returncode != 0 and failed == 0:
        failed = 1
        fails.append(f"{prefix}conformance runner exited {proc.returncode}")
    return passed, failed, fails


def netns_works():
    """Whether the conformance runner's --ipv6 can make its network namespace."""
    cmd = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    try:
        return subprocess.run(cmd + ["sh", "-c", "ip link set lo up && ip -6 route add local "
                                     "fd00::/16 dev lo && sysctl -qw net.ipv6.ip_nonlocal_bind=1"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def kubernetes_mode_supported(gatehouse):
    try:
        out = subprocess.run([gatehouse, "run", "--help"], capture_output=True, text=True,
                             timeout=30)
    except OSError:
        return False
    return "--kubernetes" in out.stdout + out.stderr


def run_conformance(build, conformance):
    """Runs every gateway conformance case twice: against `gatehouse run` watching
    a directory (file mode) with the corpus's independent echo backend, and
    against `gatehouse run --kubernetes` with the kube API server double and
    `gatehouse echo` backends (lines prefixed `[k8s] `); one test per case and
    mode. Without the independent echo (an older corpus) the file-mode run
    uses `gatehouse echo` too. The file-mode run is on IPv6 when a network
    namespace can be made (netns_works)."""
    runner = os.path.join(ROOT, "tests", "conformance", "run.py")
    if not os.path.exists(runner):
        return 0, 0, []
    if not os.path.isdir(conformance):
        return 0, 1, [f"conformance corpus not found at {conformance}"]
    gatehouse = os.path.abspath(os.path.join(build, "src", "cmd", "gatehouse"))
    report = os.path.join(ROOT, build, "conformance-report.yaml")
    independent = os.path.join(conformance, "echo", "echo.py")
    extra = ["--echo", "independent"] if os.path.exists(independent) else []
    if netns_works():
        extra.append("--ipv6")
    else:
        print("[ipv6] skipped: cannot make a network namespace (unshare -n); file mode on IPv4")
    passed, failed, fails = _conformance_pass(
        ["--run", "--gatehouse", gatehouse, "--report", report] + extra, "", conformance)
    if kubernetes_mode_supported(gatehouse):
        report_k8s = os.path.join(ROOT, build, "conformance-report-kubernetes.yaml")
        p2, f2, why2 = _conformance_pass(
            ["--kubernetes", "--run", "--gatehouse", gatehouse, "--report", report_k8s],
            "[k8s] ", conformance)
        passed, failed, fails = passed + p2, failed + f2, fails + why2
    else:
        print("[k8s] skipped: gatehouse run has no --kubernetes option")
    return passed, failed, fails


def free_port_run(n):
    """The first of n consecutive TCP ports free on 127.0.0.1 (so a test run
    beside another, or beside a benchmark, does not collide)."""
    import random
    import socket
    for _ in range(200):
        base = random.randint(20000, 30000)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    return 28080


def run_bench_smoke(build):
    """`make bench`'s script end to end with tiny sizes; one test. No
    thresholds (a sanitizer build is slow): it fails only if the script
    does, e.g. a scenario produced no figures."""
    script = os.path.join(ROOT, "bench", "run.py")
    if not os.path.exists(script):
        return 0, 0, []
    env = dict(os.environ)
    env["GATEHOUSE"] = os.path.abspath(os.path.join(build, "src", "cmd", "gatehouse"))
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    # the scenarios use BENCH_PORT_BASE..+99 (bench/README.md; +71 at most today): all free now
    env.setdefault("BENCH_PORT_BASE", str(free_port_run(100)))
    with tempfile.TemporaryDirectory() as tmp:
        # readable by the nginx workers the scenarios start (as root they
        # drop to another user, which must reach the files they serve)
        os.chmod(tmp, 0o755)
        try:
            proc = subprocess.run([sys.executable, script, "--smoke", "--no-floor", "--out", tmp],
                                  env=env, cwd=ROOT, timeout=600, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        except subprocess.TimeoutExpired:
            return 0, 1, ["bench smoke: timed out after 600 s"]
        tail = proc.stdout.strip().splitlines()[-15:]
        if proc.returncode != 0:
            sys.stdout.write("\n".join(tail) + "\n")
            # which scenario failed and why (the report's "Failed" lines)
            rep = os.path.join(tmp, "report.md")
            if os.path.exists(rep):
                with open(rep) as f:
                    sys.stdout.write("".join(ln for ln in f if "ailed" in ln))
            return 0, 1, [f"bench smoke exited {proc.returncode}"]
        print("bench smoke: ok" + (f" ({tail[-1].strip()})" if tail else ""))
        return 1, 0, []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-asan")
    ap.add_argument("--conformance", default=os.path.join(ROOT, "..", "shared", "conformance"))
    args = ap.parse_args()

    p1, f1, why1 = run_meson(args.build)
    p2, f2, why2 = run_pytest(args.build, args.conformance)
    p3, f3, why3 = run_conformance(args.build, args.conformance)
    p4, f4, why4 = run_bench_smoke(args.build)
    for w in why1 + why2 + why3 + why4:
        print("FAILED:", w)
    passed, failed = p1 + p2 + p3 + p4, f1 + f2 + f3 + f4
    print(f"unit/fuzz/style: {p1} passed, {f1} failed; e2e: {p2} passed, {f2} failed; "
          f"conformance: {p3} passed, {f3} failed; bench smoke: {p4} passed, {f4} failed")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
