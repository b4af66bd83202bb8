#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Runs the Gateway API conformance cases (../shared/conformance) against gatehouse.

The runner plays the cluster (FORMAT.md section 2): it builds the object set
(base manifests, generated TLS material, each case's manifests, with the
placeholder rewrites), hands it to a gateway driver, and judges the status
the gateway reports: `gatehouse check -o json` (--status-only, traffic
checks pending), one `gatehouse run` watching a directory (--run), or
`gatehouse run --kubernetes` against the kube API server double with every
object and status going through the API (--kubernetes, with or without --run).

Prints one line per case (PASS / FAIL with the first failing check / SKIP
with the reason), then "N passed, N failed, N skipped"; writes an upstream
shaped ConformanceReport with --report. Exit status 1 on any FAIL.
"""
import argparse
import faulthandler
import ipaddress
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gwconf import report as R  # noqa: E402
from gwconf.corpus import Corpus  # noqa: E402
from gwconf.drivers import CheckDriver, DriverError, KubeDriver, RunDriver  # noqa: E402
from gwconf.model import Env, RunnerError  # noqa: E402
from gwconf.runner import FAIL, Runner, summary  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "conformance")
GATEWAY_CLASS = "gatehouse"
DEFAULT_CONTROLLER = "gatehouse.dev/gateway-controller"
# Each run takes its own 127.N.0.0/16 (N from the process id) so that two
# runs on one machine never share Gateway or backend addresses: Gateways in
# 127.N.10.0/24, echo replicas from 127.N.20.1.
RUN_NET = 100 + os.getpid() % 150
DEFAULT_POOL = f"127.{RUN_NET}.10.0/24"
DEFAULT_PODS = f"127.{RUN_NET}.20.1"
# TEST-NET-1 (RFC 5737): a well-formed IPAddress outside the pool that no
# host interface carries, so a standalone gateway can never bind it.
DEFAULT_UNUSABLE = "192.0.2.1"
# --ipv6: everything on IPv6 inside a private network namespace (unshare -n)
# where fd00::/16 is routed to lo and non-local binds are allowed, so each
# echo replica and each Gateway gets an address of its own as on loopback.
IPV6_PREFIX = "fd00::/16"
IPV6_POOL = "fd00:10::/120"
IPV6_PODS = "fd00:20::1"
# RFC 3849 documentation prefix: on no interface, outside the pool.
IPV6_UNUSABLE = "2001:db8::1"


def version_info(binary):
    """(version, controllerName) from `gatehouse version`."""
    version, controller = "unknown", DEFAULT_CONTROLLER
    try:
        out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=30)
        for line in out.stdout.splitlines():
            if line.startswith("gatehouse "):
                version = line.split()[1]
            elif line.startswith("controllerName:"):
                controller = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return version, controller


def echo_command(echo, corpus):
    """argv of the echo backend before `--address ADDR`; None = `gatehouse echo`."""
    if echo in (None, "", "gatehouse"):
        return None
    if echo == "independent":
        return ["/usr/bin/python3", os.path.join(os.path.abspath(corpus), "echo", "echo.py")]
    return shlex.split(echo)


def mode_name(a):
    if a.kubernetes:
        return ("kubernetes (gatehouse run --kubernetes, API server double"
                + (", traffic)" if not a.status_only else ", status only)"))
    return "status-only (gatehouse check)" if a.status_only else "run (gatehouse run)"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--gatehouse", required=True, help="the gatehouse binary")
    p.add_argument("--corpus", default=DEFAULT_CORPUS, help="the conformance corpus root")
    p.add_argument("--profile", action="append", default=[],
                   help="run the cases of this profile (repeatable; default: all)")
    p.add_argument("--case", action="append", default=[], help="run this case (repeatable)")
    p.add_argument("--report", help="write the ConformanceReport (YAML) here")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--status-only", dest="status_only", action="store_true", default=True,
                      help="status checks through `gatehouse check`, traffic checks pending "
                      "(the default, what `make test` runs)")
    mode.add_argument("--run", dest="status_only", action="store_false",
                      help="everything against one `gatehouse run` with echo backends: "
                      "status from the admin API and every traffic check (`make conformance`)")
    p.add_argument("--kubernetes", action="store_true",
                   help="Kubernetes mode: start the kube API server double, write every "
                   "object through the API, run `gatehouse run --kubernetes` and read the "
                   "statuses from the API (with --run: traffic checks too)")
    p.add_argument("--echo", default="gatehouse", metavar="gatehouse|independent|CMD",
                   help="the echo backend of the replicas (--run): `gatehouse echo` "
                   "(default), `independent` (CORPUS/echo/echo.py, written from ECHO.md "
                   "alone, under /usr/bin/python3), or a command line run with "
                   "`--address ADDR` appended")
    p.add_argument("--workers", type=int, default=2, help="gatehouse run --workers (--run)")
    p.add_argument("--ipv6", action="store_true",
                   help="run on IPv6: Gateways, echo replicas and EndpointSlices (addressType "
                   f"IPv6) in a network namespace of its own (pool {IPV6_POOL}, pods from "
                   f"{IPV6_PODS}, unusable {IPV6_UNUSABLE}); needs unshare(1) and ip(8)")
    p.add_argument("--address-pool", default=None,
                   help=f"usable addresses, passed to gatehouse (default {DEFAULT_POOL}, "
                   f"with --ipv6 {IPV6_POOL})")
    p.add_argument("--usable-address", help="PLACEHOLDER_USABLE_ADDRS (default: the pool's "
                   "last host)")
    p.add_argument("--unusable-address", default=None,
                   help=f"PLACEHOLDER_UNUSABLE_ADDRS (default {DEFAULT_UNUSABLE}, with --ipv6 "
                   f"{IPV6_UNUSABLE})")
    p.add_argument("--supported-features",
                   help="comma-separated features to claim instead of the GatewayClass's "
                   "status.supportedFeatures (for development; the report says so)")
    p.add_argument("--skip-provisional-tests", action="store_true",
                   help="do not run provisional cases; the report leaves them out (as "
                   "upstream's flag of that name; by default they run and count)")
    p.add_argument("--keep-workdir", action="store_true",
                   help="keep the temp dir (manifests, certificates) and print its path")
    p.add_argument("-v", "--verbose", action="store_true", help="print mutations and details")
    return p.parse_args(argv)


def enter_netns(argv):
    """Re-runs this script inside a new network namespace (unshare -n, or
    -rn when not root); returns its exit status."""
    cmd = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    env = dict(os.environ, GWCONF_NETNS="1")
    try:
        return subprocess.run(cmd + [sys.executable, os.path.abspath(__file__)] + argv,
                              env=env).returncode
    except OSError as e:
        print(f"run.py: --ipv6: cannot run unshare: {e}", file=sys.stderr)
        return 2


def setup_netns():
    """Inside the namespace: lo up, fd00::/16 local on lo, non-local binds."""
    for cmd in (["ip", "link", "set", "lo", "up"],
                ["ip", "-6", "route", "add", "local", IPV6_PREFIX, "dev", "lo"],
                ["sysctl", "-qw", "net.ipv6.ip_nonlocal_bind=1"]):
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            return f"{' '.join(cmd)}: {p.stderr.strip()}"
    return None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    a = parse_args(argv)
    if a.ipv6 and os.environ.get("GWCONF_NETNS") != "1":
        return enter_netns(argv)
    pods_first = DEFAULT_PODS
    if a.ipv6:
        problem = setup_netns()
        if problem:
            print(f"run.py: --ipv6: {problem}", file=sys.stderr)
            return 2
        from gwconf import traffic as TR
        TR.LOCAL_NETS.append(ipaddress.ip_network(IPV6_PREFIX))
        pods_first = IPV6_PODS
    if a.address_pool is None:
        a.address_pool = IPV6_POOL if a.ipv6 else DEFAULT_POOL
    if a.unusable_address is None:
        a.unusable_address = IPV6_UNUSABLE if a.ipv6 else DEFAULT_UNUSABLE
    # `kill -USR1 <pid>` prints every thread's stack: a hung check shows where.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # SIGTERM and SIGINT unwind through the finally below, which stops
    # gatehouse and every echo replica this run started.
    def _stop(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        pool = ipaddress.ip_network(a.address_pool, strict=False)
    except ValueError as e:
        print(f"run.py: --address-pool: {e}", file=sys.stderr)
        return 2
    hosts = list(pool.hosts()) if pool.num_addresses > 2 else list(pool)
    usable = a.usable_address or str(hosts[-1])
    if ipaddress.ip_address(usable) not in pool:
        print(f"run.py: --usable-address {usable} is outside {pool}", file=sys.stderr)
        return 2
    if ipaddress.ip_address(a.unusable_address) in pool:
        print(f"run.py: --unusable-address {a.unusable_address} is inside {pool}",
              file=sys.stderr)
        return 2
    if not os.access(a.gatehouse, os.X_OK):
        print(f"run.py: {a.gatehouse}: not executable", file=sys.stderr)
        return 2
    if not CheckDriver.supports_json(a.gatehouse):
        print(f"run.py: {a.gatehouse} check has no -o option yet (status output missing)",
              file=sys.stderr)
        return 2

    version, controller = version_info(a.gatehouse)
    env = Env(GATEWAY_CLASS, controller, [usable], [a.unusable_address])
    try:
        corpus = Corpus(a.corpus)
        profiles = corpus.profiles()
        for name in a.profile:
            if name not in profiles:
                print(f"run.py: unknown profile {name} (know {', '.join(profiles)})",
                      file=sys.stderr)
                return 2
        cases = corpus.cases(mesh=any(p.startswith("MESH") for p in a.profile))
    except (RunnerError, OSError) as e:
        print(f"run.py: {e}", file=sys.stderr)
        return 2
    if a.case:
        known = {c.name for c in cases}
        unknown = [n for n in a.case if n not in known]
        if unknown:
            print(f"run.py: no such case: {', '.join(unknown)}", file=sys.stderr)
            return 2
        cases = [c for c in cases if c.name in a.case]
    if a.profile:
        cases = [c for c in cases if set(c.profiles) & set(a.profile)]

    echo_cmd = echo_command(a.echo, a.corpus)
    missing = echo_cmd and [w for w in echo_cmd[:2] if w.startswith("/") and
                            not os.path.exists(w)] + ([] if shutil.which(echo_cmd[0]) else
                                                      [echo_cmd[0]])
    if missing:
        print(f"run.py: --echo {a.echo}: {', '.join(sorted(set(missing)))} not found",
              file=sys.stderr)
        return 2

    work = tempfile.mkdtemp(prefix="gwconf-")
    log = print if a.verbose else None
    if a.kubernetes:
        if not KubeDriver.supported(a.gatehouse):
            print(f"SETUP FAIL: {a.gatehouse} run has no --kubernetes option")
            shutil.rmtree(work, ignore_errors=True)
            return 1
        try:
            driver = KubeDriver(a.gatehouse, str(pool), os.path.join(work, "run"),
                                workers=a.workers, log=log, pods_first_addr=pods_first,
                                echo_cmd=echo_cmd)
        except (DriverError, OSError) as e:
            print(f"SETUP FAIL: {e}")
            shutil.rmtree(work, ignore_errors=True)
            return 1
    elif a.status_only:
        driver = CheckDriver(a.gatehouse, str(pool), workdir=os.path.join(work, "check"))
    else:
        try:
            driver = RunDriver(a.gatehouse, str(pool), os.path.join(work, "run"),
                               workers=a.workers, log=log, pods_first_addr=pods_first,
                                echo_cmd=echo_cmd)
        except (DriverError, OSError) as e:
            print(f"SETUP FAIL: {e}")
            shutil.rmtree(work, ignore_errors=True)
            return 1
    features = None
    if a.supported_features is not None:
        features = [f.strip() for f in a.supported_features.split(",") if f.strip()]
    runner = Runner(corpus, driver, env, status_only=a.status_only,
                    workdir=os.path.join(work, "tls"), log=log, features=features,
                    kubernetes=a.kubernetes, skip_provisional=a.skip_provisional_tests)
    results = []
    failed_setup = False
    try:
        try:
            claimed = runner.setup()
        except (DriverError, RunnerError) as e:
            print(f"SETUP FAIL: {e}")
            for ln in driver.diagnostics()[:10]:
                print(f"    gatehouse: {ln}")
            return 1
        src = "--supported-features" if features is not None else "GatewayClass status"
        print(f"gatehouse {version}, controller {controller}, pool {pool}, usable {usable}, "
              f"unusable {a.unusable_address}, mode "
              f"{mode_name(a)}" + ("" if a.status_only else f", echo {a.echo}") +
              (", IPv6 (private network namespace)" if a.ipv6 else ""))
        print(f"claimed features ({src}): {', '.join(claimed) if claimed else '(none)'}")
        if runner.setup_problem:
            failed_setup = True
            print(f"SETUP FAIL: base Gateways not ready: {runner.setup_problem}")
        for case in cases:
            r = runner.run_case(case)
            results.append(r)
            print(r.line(), flush=True)
            for ln in r.details[:8]:
                print(f"    gatehouse: {ln}")
        print(summary(results))
        if a.report:
            impl = {"organization": "gatehouse", "project": "gatehouse",
                    "url": "https://gatehouse.dev", "version": version,
                    "contact": ["https://gatehouse.dev/maintainers"]}
            requested = a.profile or [p for p in profiles if p.startswith("GATEWAY-")]
            channels = R.parse_channels(open(corpus.path("FEATURES.md")).read())
            rep = R.build(results, profiles, requested, claimed, impl, channels,
                          features_inferred=features is None)
            os.makedirs(os.path.dirname(os.path.abspath(a.report)), exist_ok=True)
            R.dump(rep, a.report)
            print(f"report: {a.report}")
    finally:
        driver.close()
        if a.keep_workdir:
            print(f"workdir: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed_setup or any(r.outcome == FAIL for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
