# SPDX-License-Identifier: Apache-2.0
"""Upstream connections within limits (issue 15, finding 3): each worker
counts its upstream sockets with its clients against its share of the
descriptors, and opens at most --max-endpoint-connections to one endpoint.
A request over a limit answers 503 at once; the endpoint is not blamed (no
ejection), and the admin server and later requests are served."""
import shutil
import threading
import time

import pytest

from echoclient import H1, H2Client
from gateway import (GatewayProcess, backend, gatehouse_run, httproute, prefix,  # noqa: F401
                     stack)


def metric(gw, name):
    status, body, _ = gw.admin("/metrics")
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


REFUSED = "gatehouse_upstream_connections_refused_total"


def get(st, path, timeout=10):
    with H1(st.addr, st.port, timeout=timeout) as c:
        return c.request("GET", path, host="example.com")


@pytest.mark.deadline(60)
def test_endpoint_connection_limit(stack):
    stack.backend("svc")
    stack.up([httproute("r", [{"matches": [prefix("/")], "backendRefs": [backend("svc")]}])],
             args=["--max-endpoint-connections", "2", "--workers", "1"])
    results = {}

    def slow(i):
        t0 = time.monotonic()
        r = get(stack, "/slow?delay=2s")
        results[i] = (r.status, time.monotonic() - t0)

    threads = [threading.Thread(target=slow, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # both hold their upstream connection
    t0 = time.monotonic()
    r = get(stack, "/now")
    assert r.status == 503 and time.monotonic() - t0 < 1.0, r
    for t in threads:
        t.join(10)
    assert sorted(s for s, _ in results.values()) == [200, 200], results
    assert metric(stack.gw, REFUSED + '{limit="endpoint"}') == 1
    # Not an endpoint failure: nothing ejected, the next request is served.
    assert metric(stack.gw, "gatehouse_upstream_ejections_total") == 0
    assert get(stack, "/after").status == 200


@pytest.mark.deadline(90)
@pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit (util-linux) not found")
def test_h2_fan_out_stays_within_the_descriptors(stack):
    """400 HTTP/2 streams, each waiting on its own upstream connection, with
    400 descriptors for the whole process: without the budget, connects
    failed with EMFILE, the endpoint was ejected and the admin server could
    not accept. With it, what does not fit answers 503 and all else works."""
    stack.backend("svc")
    stack.write("base.yaml", stack.base_objects())
    stack.write("routes.yaml", [httproute("r", [{"matches": [prefix("/")],
                                                 "backendRefs": [backend("svc")]}])])
    gw = GatewayProcess(stack.binary, stack.cfgdir, stack.workdir, workers=1,
                        argv=["prlimit", "--nofile=400:400", "--", stack.binary, "run", "-f",
                              stack.cfgdir])
    stack.gw = gw
    gw.wait_ready()
    stack.wait_listening()
    clients, sids = [], []
    try:
        for _ in range(4):
            c = H2Client.connect(stack.addr, stack.port)
            clients.append(c)
            sids.append([c.send(path="/fan?delay=3s") for _ in range(100)])
        time.sleep(1.0)
        # While they wait: the admin server answers.
        assert gw.admin("/healthz")[0] == 200
        statuses = []
        for c, s in zip(clients, sids):
            statuses += [r.status for r in c.wait(s, timeout=30)]
    finally:
        for c in clients:
            c.close()
    ok, refused = statuses.count(200), statuses.count(503)
    print(f"fan-out: {ok} served, {refused} refused with 503")
    assert ok + refused == 400, sorted(set(statuses))
    assert ok >= 200 and refused >= 1, (ok, refused)
    assert metric(gw, REFUSED + '{limit="descriptors"}') == refused
    assert metric(gw, "gatehouse_upstream_ejections_total") == 0
    assert get(stack, "/after").status == 200
