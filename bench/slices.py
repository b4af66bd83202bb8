# SPDX-License-Identifier: Apache-2.0
"""Interleaved slices, shared by the scenarios that judge a ratio between
contestants running at once on their own ports (11 and 12 in
bench/s_h2tls.py, 13 in bench/s_paths.py): on this shared 2-core machine
the load drifts within a minute, so two contestants measured one after the
other can differ by more than a bar's margin. Instead every contestant is
warmed up, then measured in `rounds` short slices, one per contestant per
round, the order rotated by one each round: the slices a ratio compares
were taken seconds apart, and each contestant goes first as often as the
others.
"""
import statistics


def rotated(names, rnd):
    """names in round rnd's order: rotated left by rnd."""
    k = rnd % len(names) if names else 0
    return names[k:] + names[:k]


def interleave(names, rounds, measure, warm=None, take=None):
    """warm(name) for each name (if given), then `rounds` rounds of
    measure(name, rnd) once per name, in rotated(names, rnd) order (a name
    for which take(name, rnd) is false sits that round out); returns
    {name: [measure's results, round by round]}."""
    names = list(names)
    if warm is not None:
        for name in names:
            warm(name)
    acc = {name: [] for name in names}
    for rnd in range(max(1, rounds)):
        for name in rotated(names, rnd):
            if take is None or take(name, rnd):
                acc[name].append(measure(name, rnd))
    return acc


def cpu_run(R, sid, fn):
    """fn() (a dict) with the CPU (utime, stime; seconds) of session sid
    over it, and the share of all CPUs busy meanwhile (R: bench/run.py)."""
    c0 = R.session_cpu_split(sid)
    b0 = R.busy_ticks()
    r = fn()
    b1 = R.busy_ticks()
    c1 = R.session_cpu_split(sid)
    r["cpu_s"], r["cpu_user_s"], r["cpu_sys_s"] = (c1[0] + c1[1]) - (c0[0] + c0[1]), \
        c1[0] - c0[0], c1[1] - c0[1]
    r["busy_pct"] = round(100.0 * (b1[0] - b0[0]) / max(1, b1[1] - b0[1]), 1)
    return r


def summed(sl, keys):
    """One figure for a contestant's slices sl: the sums of keys (None if
    a slice lacks one), busy_pct their mean, slices their number."""
    r = {}
    for key in keys:
        v = [x.get(key) for x in sl]
        r[key] = None if not v or None in v else sum(v)
    b = [x["busy_pct"] for x in sl if x.get("busy_pct") is not None]
    r["busy_pct"] = round(sum(b) / len(b), 1) if b else None
    r["slices"] = len(sl)
    return r


def pooled(runs):
    """req/s and CPU µs/req of a contestant's wrk slices (bench/run.py's
    measure) taken together: the requests, wrk's time and CPU summed over
    them (0 where there is nothing to divide)."""
    t = summed(runs, ("requests", "secs", "cpu_s"))
    n = t["requests"] or 0
    return dict(rps=n / t["secs"] if t["secs"] else 0, cpu=(t["cpu_s"] or 0) * 1e6 / n if n else 0)


def spread(values, fmt):
    """"min-max" of the slices' figures, formatted by fmt; "" for fewer
    than two."""
    v = [x for x in values if x is not None]
    if len(v) < 2:
        return ""
    return f"{fmt(min(v))}–{fmt(max(v))}"


def median(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None
