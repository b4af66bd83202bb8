#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Contestant hook: floor-epoll (bench/floor/floor-epoll.c), a non-HTTP lower
# bound for scenarios 1-2 only: each client connection paired with one
# upstream keep-alive connection, bytes copied both ways unparsed, one
# edge-triggered epoll loop per worker process. Not part of the verdict.
#   floor-epoll.sh name | supports FEATURE | prepare DIR | run DIR
# Extra environment: BENCH_FLOOR_DIR (the directory holding the binary,
# BUILD/bench/floor).
set -euo pipefail
verb=${1:?usage: floor-epoll.sh name|supports FEATURE|prepare DIR|run DIR}
bin=${BENCH_FLOOR_DIR:?BENCH_FLOOR_DIR}/floor-epoll

case "$verb" in
name) echo "floor-epoll (non-HTTP lower bound)" ;;
supports) [ "${2:-}" = h1 ] ;;
prepare) : ;;
run)
    exec "$bin" -l "$BENCH_LISTEN_HOST:$BENCH_HTTP_PORT" \
        -u "$BENCH_UPSTREAM_HOST:$BENCH_UPSTREAM_PORT" -w "$BENCH_WORKERS"
    ;;
*) echo "unknown verb $verb" >&2; exit 2 ;;
esac
