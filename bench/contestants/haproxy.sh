#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Contestant hook: HAProxy in http mode with server-side keep-alive (http-reuse
# safe, the default); copied from ../shared/bench/contestants/haproxy.sh,
# HTTP/1.1 listener only. Routes are one map lookup (map_beg for path
# prefixes, map_str for hosts), HAProxy's indexed way; HAPROXY_ROUTES=acl
# writes one use_backend rule per route instead (linear, see
# ../shared/bench/RESULTS.md).
#   haproxy.sh name | supports FEATURE | prepare DIR | run DIR
set -euo pipefail
verb=${1:?usage: haproxy.sh name|supports FEATURE|prepare DIR|run DIR}
impl=${HAPROXY_ROUTES:-map}

case "$verb" in
name)
    echo "haproxy $(haproxy -v | awk 'NR==1{print $3}') routes=$impl"
    ;;
supports)
    case "${2:-}" in h1|routes-path|routes-host) exit 0 ;; *) exit 1 ;; esac
    ;;
prepare)
    dir=${2:?dir}
    H="$BENCH_LISTEN_HOST"
    {
        cat <<CONF
global
    nbthread $BENCH_WORKERS
    maxconn $((BENCH_NOFILE / 2 - 100))
    log stderr format raw local0 warning
defaults
    mode http
    log global
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 300s
frontend fe
    bind $H:$BENCH_HTTP_PORT
CONF
        case "$BENCH_ROUTE_MODE:$impl" in
        none:*)
            echo "    default_backend be_up" ;;
        path:acl)
            awk '$1=="path"{printf "    use_backend be_up if { path_beg %s }\n", $2}' "$BENCH_ROUTES_FILE"
            echo "    default_backend be_404" ;;
        host:acl)
            awk '$1=="host"{printf "    use_backend be_up if { hdr(host) -i %s }\n", $2}' "$BENCH_ROUTES_FILE"
            echo "    default_backend be_404" ;;
        path:map)
            awk '$1=="path"{print $2, "be_up"}' "$BENCH_ROUTES_FILE" > "$dir/routes.map"
            echo "    use_backend %[path,map_beg($dir/routes.map,be_404)]" ;;
        host:map)
            awk '$1=="host"{print tolower($2), "be_up"}' "$BENCH_ROUTES_FILE" > "$dir/routes.map"
            echo "    use_backend %[req.hdr(host),lower,map_str($dir/routes.map,be_404)]" ;;
        *) echo "unknown BENCH_ROUTE_MODE=$BENCH_ROUTE_MODE / impl=$impl" >&2; exit 2 ;;
        esac
        cat <<CONF
backend be_up
    server s1 $BENCH_UPSTREAM_HOST:$BENCH_UPSTREAM_PORT
backend be_404
    http-request return status 404
CONF
    } > "$dir/haproxy.cfg"
    ;;
run)
    dir=${2:?dir}
    exec haproxy -db -f "$dir/haproxy.cfg"
    ;;
*)
    echo "unknown verb $verb" >&2; exit 2 ;;
esac
