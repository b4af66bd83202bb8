#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Contestant hook: gatehouse in standalone mode, the same hook interface as
# nginx.sh and haproxy.sh. Writes a directory of Gateway API YAML: a Gateway
# on BENCH_LISTEN_HOST:BENCH_HTTP_PORT, one Service + EndpointSlice for the
# upstream, and one HTTPRoute per route (each with exactly one rule).
#   gatehouse.sh name | supports FEATURE | prepare DIR | run DIR
# Extra environment: BENCH_GATEHOUSE (the binary), BENCH_ADMIN_PORT,
# BENCH_POLICY (scenario 9: ratelimit-route, ratelimit-client,
# ratelimit-global: a RateLimitPolicy on the Gateway whose limit is never
# reached; lb-hash: a LoadBalancerPolicy hashing the client address),
# BENCH_REDIS (HOST:PORT for --redis).
# Route modes: none (catch-all), path (/rNNNNN/ PathPrefix), host (exact
# hostname), hostpath (lines "hostpath HOST PATH": hostname + PathPrefix).
set -euo pipefail
verb=${1:?usage: gatehouse.sh name|supports FEATURE|prepare DIR|run DIR}
bin=${BENCH_GATEHOUSE:-gatehouse}

case "$verb" in
name)
    echo "gatehouse $("$bin" version 2>/dev/null | awk 'NR==1{print $2}')"
    ;;
supports)
    case "${2:-}" in h1|routes-path|routes-host|routes-hostpath) exit 0 ;; *) exit 1 ;; esac
    ;;
prepare)
    dir=${2:?dir}
    mkdir -p "$dir/cfg"
    cat > "$dir/cfg/base.yaml" <<CONF
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: gatehouse}
spec: {controllerName: gatehouse.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bench, namespace: bench}
spec:
  gatewayClassName: gatehouse
  addresses: [{type: IPAddress, value: $BENCH_LISTEN_HOST}]
  listeners:
  - {name: http, protocol: HTTP, port: $BENCH_HTTP_PORT, allowedRoutes: {namespaces: {from: Same}}}
---
apiVersion: v1
kind: Service
metadata: {name: up, namespace: bench}
spec:
  ports: [{name: http, port: $BENCH_UPSTREAM_PORT, targetPort: $BENCH_UPSTREAM_PORT}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: up-1, namespace: bench, labels: {kubernetes.io/service-name: up}}
addressType: IPv4
ports: [{name: http, port: $BENCH_UPSTREAM_PORT, protocol: TCP}]
endpoints: [{addresses: [$BENCH_UPSTREAM_HOST], conditions: {ready: true}}]
CONF
    route() { # route NAME HOSTNAMES MATCHES
        printf -- '---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: %s, namespace: bench}\nspec:\n  parentRefs: [{name: bench}]\n' "$1"
        [ -n "$2" ] && printf '  hostnames: [%s]\n' "$2"
        printf '  rules: [{%sbackendRefs: [{name: up, port: %s}]}]\n' "$3" "$BENCH_UPSTREAM_PORT"
    }
    case "${BENCH_ROUTE_MODE:-none}" in
    none) route all "" "" > "$dir/cfg/routes.yaml" ;;
    path|host|hostpath)
        awk -v port="$BENCH_UPSTREAM_PORT" '
            function out(host, path) {
                printf "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
                printf "metadata: {name: r%05d, namespace: bench}\nspec:\n  parentRefs: [{name: bench}]\n", n++
                if (host != "") printf "  hostnames: [%s]\n", host
                m = path != "" ? "matches: [{path: {type: PathPrefix, value: \"" path "\"}}], " : ""
                printf "  rules: [{%sbackendRefs: [{name: up, port: %s}]}]\n", m, port
            }
            $1 == "path" { out("", $2) }
            $1 == "host" { out($2, "") }
            $1 == "hostpath" { out($2, $3) }' "$BENCH_ROUTES_FILE" > "$dir/cfg/routes.yaml" ;;
    *) echo "unknown BENCH_ROUTE_MODE=$BENCH_ROUTE_MODE" >&2; exit 2 ;;
    esac
    # Scenario 9: a gatehouse.dev policy on every route (limits never reached)
    policy() { # policy KIND SPEC
        printf -- '---\napiVersion: gatehouse.dev/v1alpha1\nkind: %s\nmetadata: {name: bench, namespace: bench}\nspec:\n%s\n' "$1" "$2"
    }
    gw_target='  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: bench}]'
    case "${BENCH_POLICY:-}" in
    "") ;;
    ratelimit-route) policy RateLimitPolicy "$gw_target
  limits: [{name: all, requests: 1000000000, interval: 1s}]" > "$dir/cfg/policy.yaml" ;;
    ratelimit-client) policy RateLimitPolicy "$gw_target
  limits: [{name: client, requests: 1000000000, interval: 1s, key: {type: ClientAddress}}]" > "$dir/cfg/policy.yaml" ;;
    ratelimit-global) policy RateLimitPolicy "$gw_target
  limits: [{name: all, requests: 1000000000, interval: 1s, scope: Global}]" > "$dir/cfg/policy.yaml" ;;
    lb-hash) policy LoadBalancerPolicy "  targetRefs: [{group: \"\", kind: Service, name: up}]
  type: ConsistentHash
  consistentHash: {key: SourceIP}" > "$dir/cfg/policy.yaml" ;;
    *) echo "unknown BENCH_POLICY=$BENCH_POLICY" >&2; exit 2 ;;
    esac
    ;;
run)
    dir=${2:?dir}
    exec "$bin" run -f "$dir/cfg" --workers "$BENCH_WORKERS" \
        --admin "$BENCH_LISTEN_HOST:${BENCH_ADMIN_PORT:-18901}" \
        ${BENCH_REDIS:+--redis "$BENCH_REDIS"}
    ;;
*)
    echo "unknown verb $verb" >&2; exit 2 ;;
esac
