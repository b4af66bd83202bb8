#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `make run`: validates the bundled example and starts what it describes.
# Two echo backends on 127.0.0.11:3000 and 127.0.0.12:3000; once the data
# plane lands, the gateway itself on 127.0.0.1:8080. Ctrl-C stops everything
# this script started.
set -eu
bin=${1:-build-release/src/cmd/gatehouse}
dir=${2:-examples/quickstart}

pids=""
stop() {
    trap - INT TERM EXIT
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill $pids 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

echo "== gatehouse check -f $dir"
"$bin" check -f "$dir"

for v in 1 2; do
    POD_NAME=echo-v$v-5d8f7c-q$v HTTP_PORT=3000 H2C_PORT=310$v NAMESPACE=default \
        "$bin" echo --address 127.0.0.1$v >/dev/null &
    pids="$pids $!"
done

if "$bin" --help | grep -q '^  run '; then
    "$bin" run -f "$dir" --admin 127.0.0.1:9901 &
    pids="$pids $!"
    # Wait (bounded) until the configuration is programmed.
    i=0
    while [ $i -lt 50 ] && ! curl -sf -o /dev/null http://127.0.0.1:9901/readyz 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    cat <<'TXT'

gatehouse is serving examples/quickstart on 127.0.0.1:8080. Try:
  curl -s -H 'Host: example.local' http://127.0.0.1:8080/hello          # 90% echo-v1, 10% echo-v2
  curl -s -H 'Host: example.local' -H 'env: canary' http://127.0.0.1:8080/  # always echo-v2
  curl -si -H 'Host: example.local' http://127.0.0.1:8080/old/page       # 301 to /new/page
Edit a file under the example directory and it reloads. The admin server:
  curl -s http://127.0.0.1:9901/readyz    # /status, /config, /metrics too
TXT
else
    cat <<'TXT'

The example is valid. The data plane (`gatehouse run`) has not landed yet, so
only the two echo backends the example points at are running. Try them:
  curl -s http://127.0.0.11:3000/hello
  curl -s http://127.0.0.12:3000/hello
TXT
fi
echo "Ctrl-C stops everything."
wait
