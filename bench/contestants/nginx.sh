#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Contestant hook: nginx as a reverse proxy with a keep-alive upstream pool
# (copied from ../shared/bench/contestants/nginx.sh, HTTP/1.1 listener only).
#   nginx.sh name | supports FEATURE | prepare DIR | run DIR
# Environment: BENCH_LISTEN_HOST BENCH_HTTP_PORT BENCH_UPSTREAM_HOST
# BENCH_UPSTREAM_PORT BENCH_WORKERS BENCH_ROUTE_MODE (none|path|host)
# BENCH_ROUTES_FILE BENCH_NOFILE (see ../README.md).
set -euo pipefail
verb=${1:?usage: nginx.sh name|supports FEATURE|prepare DIR|run DIR}

case "$verb" in
name)
    echo "nginx $(nginx -v 2>&1 | sed 's|.*nginx/||')"
    ;;
supports)
    case "${2:-}" in h1|routes-path|routes-host) exit 0 ;; *) exit 1 ;; esac
    ;;
prepare)
    dir=${2:?dir}
    mkdir -p "$dir/tmp"
    H="$BENCH_LISTEN_HOST"
    listen="listen $H:$BENCH_HTTP_PORT reuseport backlog=4096 default_server;"
    {
        cat <<CONF
worker_processes $BENCH_WORKERS;
worker_rlimit_nofile $BENCH_NOFILE;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $((BENCH_NOFILE / 2)); }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    server_names_hash_max_size 65536;
    server_names_hash_bucket_size 128;
    upstream up {
        server $BENCH_UPSTREAM_HOST:$BENCH_UPSTREAM_PORT;
        keepalive 1024;
        keepalive_requests 1000000000;
        keepalive_timeout 300s;
    }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$http_host;
CONF
        case "$BENCH_ROUTE_MODE" in
        none)
            echo "    server { $listen location / { proxy_pass http://up; } }" ;;
        path)
            echo "    server {"
            echo "        $listen"
            awk '$1=="path"{printf "        location %s { proxy_pass http://up; }\n", $2}' "$BENCH_ROUTES_FILE"
            echo "        location / { return 404; }"
            echo "    }" ;;
        host)
            echo "    server { $listen server_name _; location / { return 404; } }"
            awk -v l="listen $H:$BENCH_HTTP_PORT;" '$1=="host"{printf "    server { %s server_name %s; location / { proxy_pass http://up; } }\n", l, $2}' "$BENCH_ROUTES_FILE" ;;
        *) echo "unknown BENCH_ROUTE_MODE=$BENCH_ROUTE_MODE" >&2; exit 2 ;;
        esac
        echo "}"
    } > "$dir/nginx.conf"
    ;;
run)
    dir=${2:?dir}
    exec nginx -p "$dir/" -c "$dir/nginx.conf" -g 'daemon off;'
    ;;
*)
    echo "unknown verb $verb" >&2; exit 2 ;;
esac
