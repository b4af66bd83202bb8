#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A stand-in for `gatehouse run --kubernetes` in the runner's own tests.

`run --kubernetes --kubeconfig K --address-pool P --admin HOST:PORT ...`
polls the API server (every 0.2 s) for the kinds a gateway controller
watches, writes them into a directory, runs `REAL check -f DIR -o json
--address-pool P` whenever an object changed, and PUTs the statuses it
printed to the objects' /status subresources (only those that differ). The
admin server answers /healthz, /readyz (200 after the first round) and
/metrics (the reload timestamp/duration gauges the runner's barrier reads).
No data plane: traffic checks cannot pass against it, unless
FAKE_K8S_DATAPLANE=1: then it runs `REAL run -f DIR` as the data plane,
writes the listed objects into DIR, and copies the statuses of REAL's admin
/status to the API (its /readyz and /metrics are REAL's).

Everything else (`version`, `check ...`) is passed to REAL: the binary in
FAKE_K8S_REAL (default: the real gatehouse in GATEHOUSE, else
fake_gatehouse.py). FAKE_K8S_GWCONF is the directory holding gwconf/.
"""
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.environ.get("FAKE_K8S_GWCONF") or
                os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gwconf.kube import APIError, Client  # noqa: E402

KINDS = [("gateway.networking.k8s.io/v1", k) for k in (
    "GatewayClass", "Gateway", "ListenerSet", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute",
    "UDPRoute", "ReferenceGrant", "BackendTLSPolicy")] + [
    ("v1", "Service"), ("discovery.k8s.io/v1", "EndpointSlice"), ("v1", "Secret"),
    ("v1", "ConfigMap"), ("v1", "Namespace")]
STATE = {"ready": False, "end": 0.0, "dur": 0.0}


def real():
    r = os.environ.get("FAKE_K8S_REAL") or os.environ.get("GATEHOUSE")
    if r and os.access(r, os.X_OK):
        return r
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_gatehouse.py")


def child_get(path):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", STATE["child"], timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Admin(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if STATE.get("child") and self.path in ("/readyz", "/metrics", "/status"):
            try:
                code, body = child_get(self.path)
            except OSError as e:
                code, body = 503, str(e).encode()
            if self.path == "/readyz" and not STATE["ready"]:
                code = 503
        elif self.path == "/healthz":
            code, body = 200, b"ok\n"
        elif self.path == "/readyz":
            code, body = (200, b"ok\n") if STATE["ready"] else (503, b"not ready\n")
        elif self.path == "/metrics":
            code = 200
            body = (f"gatehouse_config_last_reload_timestamp_seconds {STATE['end']:.6f}\n"
                    f"gatehouse_config_last_reload_duration_seconds {STATE['dur']:.6f}\n").encode()
        else:
            code, body = 404, b"not found\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def run(args):
    opts = {}
    it = iter(args)
    for a in it:
        if a in ("--kubeconfig", "--address-pool", "--admin", "--context", "--workers"):
            opts[a] = next(it)
    if "--kubernetes" not in args:
        print("fake: only run --kubernetes", file=sys.stderr)
        return 2
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))   # runs the finally below
    host, _, port = opts["--admin"].rpartition(":")
    srv = http.server.ThreadingHTTPServer((host, int(port)), Admin)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    client = Client.from_kubeconfig(opts["--kubeconfig"], opts.get("--context"))
    work = tempfile.mkdtemp(prefix="fake-k8s-")
    last = None
    child = None
    files = {}
    if os.environ.get("FAKE_K8S_DATAPLANE"):
        import socket
        sk = socket.socket()
        sk.bind(("127.0.0.1", 0))
        STATE["child"] = sk.getsockname()[1]
        sk.close()
        cfg = os.path.join(work, "cfg")
        os.makedirs(cfg)
        child = subprocess.Popen([real(), "run", "-f", cfg, "--address-pool",
                                  opts["--address-pool"], "--admin",
                                  f"127.0.0.1:{STATE['child']}",
                                  "--workers", opts.get("--workers", "1")])
    try:
        while True:
            if child is not None:
                if child.poll() is not None:
                    print(f"fake: data plane exited {child.returncode}", file=sys.stderr)
                    return 1
                objs = list_all(client)
                write_files(objs, os.path.join(work, "cfg"), files)
                try:
                    code, body = child_get("/status")
                    if code == 200:
                        put_statuses(client, objs, json.loads(body).get("items") or [])
                        STATE["ready"] = True
                except (OSError, ValueError) as e:
                    print(f"fake: data plane /status: {e}", file=sys.stderr)
                time.sleep(0.1)
                continue
            t0 = time.time()
            objs = []
            for av, kind in KINDS:
                try:
                    objs.extend(client.list(av, kind))
                except APIError as e:
                    print(f"fake: list {kind}: {e}", file=sys.stderr)
            fp = sorted((o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"],
                         o["metadata"].get("resourceVersion")) for o in objs)
            if fp != last:
                last = fp
                publish(client, objs, work, opts["--address-pool"])
                STATE["end"], STATE["dur"] = time.time(), time.time() - t0
                print(f"fake: round with {len(objs)} objects", file=sys.stderr, flush=True)
            STATE["ready"] = True
            time.sleep(0.2)
    finally:
        if child is not None and child.poll() is None:
            child.terminate()
            child.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def list_all(client):
    objs = []
    for av, kind in KINDS:
        try:
            objs.extend(client.list(av, kind))
        except APIError as e:
            print(f"fake: list {kind}: {e}", file=sys.stderr)
    return objs


def write_files(objs, cfg, files):
    """The listed objects (status and volatile metadata dropped) as one file each."""
    want = {}
    for o in objs:
        o2 = {k: v for k, v in o.items() if k != "status"}
        o2["metadata"] = {k: v for k, v in o["metadata"].items()
                          if k not in ("resourceVersion", "managedFields")}
        md = o["metadata"]
        want[f"{o['kind']}-{md.get('namespace') or '_'}-{md['name']}.json"] = \
            json.dumps(o2, sort_keys=True)
    for name in set(files) - set(want):
        os.unlink(os.path.join(cfg, name))
        del files[name]
    for name, text in want.items():
        if files.get(name) != text:
            tmp = os.path.join(cfg, "." + name)
            with open(tmp, "w") as fh:
                fh.write(text)
            os.rename(tmp, os.path.join(cfg, name))
            files[name] = text


def put_statuses(client, objs, items):
    by_ref = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
              for o in objs}
    for item in items:
        md = item.get("metadata") or {}
        o = by_ref.get((item.get("kind"), md.get("namespace", ""), md.get("name")))
        if o is None or "status" not in item or o.get("status") == item["status"]:
            continue
        body = dict(o, status=item["status"])
        path = client.path(o["apiVersion"], o["kind"], md.get("namespace"), md["name"], "status")
        try:
            client.request("PUT", path, body)
        except APIError as e:
            print(f"fake: status of {o['kind']}/{md.get('name')}: {e}", file=sys.stderr)


def publish(client, objs, work, pool):
    d = os.path.join(work, "m")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for i, o in enumerate(objs):
        with open(os.path.join(d, f"{i:04d}.json"), "w") as fh:
            json.dump(o, fh)
    p = subprocess.run([real(), "check", "-f", d, "-o", "json", "--address-pool", pool],
                       capture_output=True, text=True)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        print(f"fake: check printed no JSON: {p.stderr[-300:]}", file=sys.stderr)
        return
    put_statuses(client, objs, doc.get("items") or [])


def echo(args):
    """fake_gatehouse.py has no echo server: just accept on the ports the runner
    waits for (so the replicas count as ready), until SIGTERM."""
    import signal
    import socket
    from gwconf.backends import Pods
    addr = args[args.index("--address") + 1]
    tcp, udp = Pods._ports(os.environ)
    socks = []
    for port in tcp:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(16)
        socks.append(s)
    for port in udp:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, port))
        socks.append(s)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(1)


def main(argv):
    if argv[:2] == ["run", "--help"]:
        print("usage: gatehouse run [--kubernetes [--kubeconfig PATH]] --address-pool CIDR "
              "--admin ADDR")
        return 0
    if argv[:1] == ["run"]:
        return run(argv[1:])
    if argv[:1] == ["echo"] and real().endswith("fake_gatehouse.py"):
        return echo(argv[1:])
    os.execv(real(), [real()] + argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
