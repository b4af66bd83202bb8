#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# DEV TOOL (not a registered test): replays ../shared/hostile/requests.yaml
# HTTP/1.x cases (and the te-obfuscation family) against a running proxy
# that routes h.test to `gatehouse echo`, and checks the first status, the
# close expectation and the /smuggled canary (through the echo's log).
#   hostile.py HOST:PORT ECHO_LOG [REQUESTS_YAML]
import re, socket, sys, time, yaml

addr, echolog = sys.argv[1], sys.argv[2]
path = sys.argv[3] if len(sys.argv) > 3 else "/work/shared/hostile/requests.yaml"
host, port = addr.rsplit(":", 1)
doc = yaml.safe_load(open(path, encoding="utf-8"))


def raw(case):
    if "raw" in case:
        return case["raw"].encode("latin-1")
    out = b""
    for p in case["raw_parts"]:
        out += (p["text"] * p["repeat"]).encode("latin-1") if isinstance(p, dict) else p.encode("latin-1")
    return out


def exchange(data, timeout=3.0):
    s = socket.create_connection((host, int(port)))
    s.settimeout(timeout)
    try:
        s.sendall(data)
    except OSError:
        pass
    buf = b""
    closed = False
    end = time.time() + timeout
    while time.time() < end:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        buf += chunk
    s.close()
    statuses = [int(m.group(1)) for m in re.finditer(rb"HTTP/1\.[01] (\d\d\d) ", buf)]
    statuses = [x for x in statuses if x != 100]
    return statuses, closed, buf


def log_lines():
    try:
        return open(echolog, encoding="latin-1").read().count("Echoing back request made to")
    except OSError:
        return 0


cases = list(doc["cases"])
for fam in doc.get("families", []):
    for key, tpl in fam["templates"].items():
        for b in fam["bytes"]:
            c = {"id": "%s-%s-%02x" % (fam["id"], key, ord(b)), "raw": tpl.replace("{B}", b),
                 "expect": {"invariant": True}}
            cases.append(c)

fails = 0
for c in cases:
    before = log_lines()
    exp = c["expect"]
    want_close = exp.get("close")
    # wait for close only when a close is expected or a refusal
    statuses, closed, buf = exchange(raw(c), timeout=1.5)
    time.sleep(0.05)
    fwd = log_lines() - before
    smuggled = "/smuggled" in open(echolog, encoding="latin-1").read()
    ok = True
    why = []
    if "status" in exp:
        allowed = [s for s in exp["status"] if s != "close"]
        if statuses:
            if statuses[0] not in allowed:
                ok = False
                why.append("status %s not in %s" % (statuses[0], exp["status"]))
        elif "close" not in exp["status"] or not closed:
            ok = False
            why.append("no response (closed=%s)" % closed)
        n = exp.get("responses", 1)
        if len(statuses) != n and statuses:
            ok = False
            why.append("%d responses, want %d" % (len(statuses), n))
    if want_close is True and not closed:
        ok = False
        why.append("not closed")
    if want_close is False and closed:
        ok = False
        why.append("closed")
    up = exp.get("upstream")
    if up == "none" and fwd:
        ok = False
        why.append("forwarded %d" % fwd)
    if up == "one" and fwd != 1:
        ok = False
        why.append("forwarded %d, want 1" % fwd)
    if up == "two" and fwd != 2:
        ok = False
        why.append("forwarded %d, want 2" % fwd)
    if exp.get("invariant"):
        if statuses and 200 <= statuses[0] < 300:
            if b"chunked" in buf.lower() and not closed:
                pass
        elif statuses and (statuses[0] == 404 or not closed):
            ok = False
            why.append("invariant: %s closed=%s" % (statuses, closed))
    if smuggled:
        ok = False
        why.append("CANARY FORWARDED")
    if not ok:
        fails += 1
        print("FAIL %-40s %s got=%s closed=%s fwd=%d" % (c["id"], "; ".join(why), statuses, closed, fwd))
print("%d cases, %d failed" % (len(cases), fails))
