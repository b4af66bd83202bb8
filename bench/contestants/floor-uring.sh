#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Contestant hook: floor-uring (bench/floor/floor-uring.c), floor-epoll's
# forwarding with io_uring: one io_uring_enter per loop turn, multishot recv
# into a provided buffer ring, DEFER_TASKRUN, registered files and ring fd
# by default. A non-HTTP lower bound for scenarios 1-2 only, not part of the
# verdict.
#   floor-uring.sh name | supports FEATURE | prepare DIR | run DIR
# Extra environment: BENCH_FLOOR_DIR (BUILD/bench/floor), FLOOR_URING_VARIANT
# (floor-uring's -v, e.g. "ss,pollfirst,defer,fixed,regring"; default its own).
set -euo pipefail
verb=${1:?usage: floor-uring.sh name|supports FEATURE|prepare DIR|run DIR}
bin=${BENCH_FLOOR_DIR:?BENCH_FLOOR_DIR}/floor-uring
variant=${FLOOR_URING_VARIANT:-}

case "$verb" in
name) echo "floor-uring${variant:+ -v $variant} (non-HTTP lower bound)" ;;
supports) [ "${2:-}" = h1 ] ;;
prepare) : ;;
run)
    exec "$bin" -l "$BENCH_LISTEN_HOST:$BENCH_HTTP_PORT" \
        -u "$BENCH_UPSTREAM_HOST:$BENCH_UPSTREAM_PORT" -w "$BENCH_WORKERS" \
        ${variant:+-v "$variant"}
    ;;
*) echo "unknown verb $verb" >&2; exit 2 ;;
esac
