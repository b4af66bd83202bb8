#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Contestant hook: gatehouse.sh with the io_uring data plane (run --io uring,
# through GATEHOUSE_IO). bench/run.py runs it with BENCH_URING=1.
set -euo pipefail
export GATEHOUSE_IO=uring
exec "$(dirname "$0")/gatehouse.sh" "$@"
