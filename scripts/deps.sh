#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages that building and testing gatehouse need,
# only when some are missing: one `apt-get update`, one `apt-get install`.
# Usage: scripts/deps.sh [build|test|bench|deploy|image]   (default: test)
set -eu

build="gcc pkg-config meson ninja-build libyaml-dev libssl-dev libnghttp2-dev libpcre2-dev
       liburing-dev libcurl4-openssl-dev libcrypt-dev libhiredis-dev"
# XBackend hostnames are resolved through c-ares (src/proxy/dns.c)
build="$build libc-ares-dev"
# CompressionPolicy codes responses with zlib, brotli and zstd (src/proxy/compress.c)
build="$build zlib1g-dev libbrotli-dev libzstd-dev"
test="$build clang clang-format libclang-rt-14-dev git openssl curl nghttp2-client python3
      python3-pytest python3-httpx python3-h2 python3-grpcio python3-protobuf python3-websockets redis-server"
bench="$build python3 wrk nginx-light haproxy nghttp2-client openssl redis-server"
# scenario 13 (bench/s_paths.py): nginx stream (TCP/UDP) as a contestant
bench="$bench libnginx-mod-stream"
# make image (scripts/image.sh): the OCI image, built offline FROM scratch
image="buildah"
# scripts/helm.sh (helm from an npm package) and the deploy/ + charts/ tests
# (kubectl is not a Debian 12 package: tests/e2e/test_deploy.py skips without it)
# (npm only when no npm is on PATH: a NodeSource nodejs ships its own, and
# Debian's npm would conflict with it)
deploy="unzip python3 python3-pytest python3-yaml"
command -v npm >/dev/null 2>&1 || deploy="$deploy npm"
# make test also runs the benchmark's smoke run (tests/run.py)
test="$test wrk nginx-light haproxy"
# the authentication policy tests sign JWTs (tests/e2e/jwtutil.py)
test="$test python3-cryptography"
# the compression tests decode br and zstd (tests/e2e/test_compression.py)
test="$test python3-brotli python3-zstandard"

case "${1:-test}" in
build) want=$build ;;
test) want=$test ;;
bench) want=$bench ;;
deploy) want=$deploy ;;
image) want=$image ;;
*) echo "usage: $0 [build|test|bench|deploy|image]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
