# SPDX-License-Identifier: Apache-2.0
# A thin layer over meson: each target installs what it needs, configures
# its build directory once and builds. Build directories sit side by side:
#   build/          debug (default for development)
#   build-release/  -O2 with LTO, what `make run` and the benchmarks use
#   build-asan/     ASan + UBSan, halt on error: what `make test` runs
#   build-fuzz/     clang + libFuzzer targets
MESON ?= meson
CONFORMANCE ?= $(abspath ../shared/conformance)

.PHONY: all deps build release asan fuzz test conformance run bench bench-smoke image check-format format clean

all: build

deps:
	@scripts/deps.sh build

build: deps
	@test -f build/build.ninja || $(MESON) setup build
	@ninja -C build

release:
	@scripts/deps.sh build
	@test -f build-release/build.ninja || \
		$(MESON) setup build-release --buildtype=release -Db_lto=true
	@ninja -C build-release

asan:
	@scripts/deps.sh test
	@test -f build-asan/build.ninja || \
		$(MESON) setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
	@ninja -C build-asan

fuzz:
	@scripts/deps.sh test
	@test -f build-fuzz/build.ninja || CC=clang $(MESON) setup build-fuzz \
		-Dfuzzers=true -Db_sanitize=address,undefined -Db_lundef=false
	@ninja -C build-fuzz

# Every test: unit (TAP), fuzz corpus replay, style, end-to-end (pytest),
# all against the sanitizer build. Ends with "N passed, N failed".
test: asan
	@scripts/deps.sh deploy
	@/usr/bin/python3 tests/run.py --build build-asan --conformance $(CONFORMANCE)

# The Gateway API conformance cases against the sanitizer build: one
# `gatehouse run` with echo backends, status from its admin API and every
# traffic check (STATUS_ONLY=1: status checks through `gatehouse check`, as
# `make test` does). One line per case, then "N passed, N failed, N skipped";
# report in build/conformance-report.yaml.
#   make conformance [CORPUS=dir] [PROFILE="GATEWAY-HTTP ..."] [CASE="Name ..."] [STATUS_ONLY=1]
CORPUS ?= $(CONFORMANCE)
PROFILE ?=
CASE ?=
STATUS_ONLY ?=
conformance: asan
	@/usr/bin/python3 tests/conformance/run.py --gatehouse build-asan/src/cmd/gatehouse \
		--corpus $(CORPUS) $(foreach p,$(PROFILE),--profile $(p)) \
		$(foreach c,$(CASE),--case $(c)) $(if $(STATUS_ONLY),--status-only,--run) \
		--report build/conformance-report.yaml

# Builds, then runs the gateway on the bundled example (see README.md).
run: release
	@scripts/run-example.sh build-release/src/cmd/gatehouse

# gatehouse against nginx and HAProxy on loopback, plus route count, churn,
# propagation, memory and start-up (bench/README.md); about 15 minutes on 2
# cores. Regenerates bench/RESULTS.md; raw output under bench/out/.
bench: release
	@scripts/deps.sh bench
	@/usr/bin/python3 bench/run.py

# The same script end to end with tiny sizes (about 20 s), no thresholds: for CI.
bench-smoke: release
	@scripts/deps.sh bench
	@/usr/bin/python3 bench/run.py --smoke

# The OCI image, offline, FROM scratch with buildah (scripts/image.sh): the
# stripped release binary, the libraries it links, the CA bundle, user 65532.
# Commits localhost/gatehouse:<version>; also build-release/gatehouse-image.tar.
image: release
	@scripts/deps.sh image
	@scripts/image.sh --archive build-release/gatehouse-image.tar

check-format:
	@scripts/check-format.sh

format:
	@git ls-files --cached --others --exclude-standard -- 'src/*.[ch]' 'tests/*.[ch]' | \
		xargs clang-format -i

clean:
	rm -rf build build-release build-asan build-fuzz
