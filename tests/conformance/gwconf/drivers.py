# SPDX-License-Identifier: Apache-2.0
"""Gateway drivers: how the runner puts objects in front of gatehouse and reads status back.

The runner only talks to a GatewayDriver:

  sync(store)          make the gateway see exactly the store's objects
  statuses()           the latest Snapshot of object statuses
  diagnostics()        what the gateway printed about the last sync (for failure reports)
  pods_ready(ns)       readiness of the backends the runner started in those namespaces
  cleanup(base)        back to the base objects after a case
  now() / sleep(s)     the clock creationTimestamps come from
  deterministic        True when status only changes on sync (wait-until = evaluate once)
  can_send_traffic     True when traffic checks can run
  target(gw, port)     (host, port) to send a case's traffic to (RunDriver)

CheckDriver (today) runs `gatehouse check -o json` on a temp directory per
sync. RunDriver (next) keeps one `gatehouse run` watching a directory,
starts echo backends for the Deployments, and reads the admin API.
"""
import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from .judge import Snapshot
from .model import RunnerError

# Kinds a Kubernetes gateway controller watches; the rest (Deployments...)
# is the runner's business (it starts backends for them).
WATCHED_KINDS = frozenset({
    "GatewayClass", "Gateway", "ListenerSet", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute",
    "UDPRoute", "ReferenceGrant", "BackendTLSPolicy", "Service", "EndpointSlice", "Secret",
    "ConfigMap", "Namespace",
})


class DriverError(Exception):
    """The gateway under test did not give a usable answer (crash, bad output)."""


def gateway_objects(store):
    return [o for o in store if o.get("kind") in WATCHED_KINDS]


def _tail(text, n=6):
    lines = [ln for ln in (text or "").splitlines() if ln.strip()]
    return lines[-n:]


class GatewayDriver:
    deterministic = False
    can_send_traffic = False
    poll_interval = 0.1

    def sync(self, store):
        raise NotImplementedError

    def statuses(self):
        raise NotImplementedError

    def diagnostics(self):
        return []

    def pods_ready(self, namespaces):
        return True, ""

    def cleanup(self, base):
        self.sync(base)

    def now(self):
        return datetime.datetime.now(datetime.timezone.utc)

    def sleep(self, seconds):
        time.sleep(seconds)

    def target(self, gateway, port):
        raise NotImplementedError("this driver sends no traffic")

    def close(self):
        pass


class CheckDriver(GatewayDriver):
    """One `gatehouse check -f DIR -o json --address-pool CIDR` per sync.

    gatehouse check is a pure function of its input, so status never
    changes between syncs: deterministic. The clock is virtual (one second
    per sync, plus every sleep), so creationTimestamps order objects the way
    the case applied them without the runner having to wait.
    """

    deterministic = True

    def __init__(self, binary, address_pool, workdir=None, extra_args=(), timeout=120):
        self.binary = binary
        self.pool = address_pool
        self.extra = list(extra_args)
        self.timeout = timeout
        self._own = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="gwconf-check-")
        self._clock = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        self._snap = Snapshot()
        self._diag = []
        self.runs = 0

    @staticmethod
    def supports_json(binary):
        try:
            out = subprocess.run([binary, "check", "--help"], capture_output=True, text=True,
                                 timeout=30)
        except OSError:
            return False
        return re.search(r"(^|[\s,\[])(-o|--output)\b", out.stdout + out.stderr) is not None

    def now(self):
        return self._clock

    def sleep(self, seconds):
        self._clock += datetime.timedelta(seconds=float(seconds))

    def command(self):
        return [self.binary, "check", "-f", self.manifests_dir, "-o", "json", "--address-pool",
                self.pool] + self.extra

    @property
    def manifests_dir(self):
        return os.path.join(self.dir, "manifests")

    def _write(self, store):
        d = self.manifests_dir
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for i, obj in enumerate(gateway_objects(store)):
            md = obj["metadata"]
            name = f"{i:04d}-{obj['kind']}-{md.get('namespace') or '_'}-{md['name']}.json"
            with open(os.path.join(d, name), "w") as fh:
                json.dump(obj, fh, indent=1)

    def sync(self, store):
        self._write(store)
        self._clock += datetime.timedelta(seconds=1)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        self.runs += 1
        try:
            proc = subprocess.run(self.command(), capture_output=True, text=True,
                                  timeout=self.timeout, env=env)
        except subprocess.TimeoutExpired:
            raise DriverError(f"gatehouse check timed out after {self.timeout} s")
        self._diag = _tail(proc.stderr, 20)
        if proc.returncode not in (0, 1):
            raise DriverError(f"gatehouse check exited {proc.returncode}: "
                              + " | ".join(_tail(proc.stderr) or _tail(proc.stdout)))
        try:
            doc = json.loads(proc.stdout)
        except ValueError as e:
            raise DriverError(f"gatehouse check -o json printed no JSON ({e}); exit "
                              f"{proc.returncode}; stdout starts {proc.stdout[:200]!r}; stderr: "
                              + " | ".join(_tail(proc.stderr)))
        try:
            self._snap = Snapshot.from_list(doc)
        except RunnerError as e:
            raise DriverError(f"gatehouse check -o json: {e}")

    def statuses(self):
        return self._snap

    def diagnostics(self):
        return list(self._diag)

    def cleanup(self, base):
        # Every sync writes the whole object set, so the next case starts
        # from the base objects anyway; no gatehouse run needed here.
        pass

    def close(self):
        if self._own:
            shutil.rmtree(self.dir, ignore_errors=True)


class RunDriver(GatewayDriver):
    """Next step: one long-running `gatehouse run` (not implemented yet).

    Plan: sync() writes the gateway objects into the directory gatehouse
    watches (atomically: write to a temp name, rename), starts or stops one
    `gatehouse echo` per Deployment replica (POD_NAME
    `<deployment>-<hash>-<hash>`, env and mounted certificate files as in the
    manifest) and writes EndpointSlices for their Services that point at the
    echo processes' loopback addresses; statuses() GETs the admin API's
    /status (the same v1 List as `check -o json`); deterministic is False,
    so the runner polls with the upstream timeouts; can_send_traffic is True
    and target() maps a Gateway to its status.addresses[0] and listener port.
    """

    can_send_traffic = True

    def __init__(self, *args, **kwargs):
        raise RunnerError("RunDriver is not implemented yet (needs `gatehouse run`)")
