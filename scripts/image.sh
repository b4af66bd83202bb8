#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds the gatehouse OCI image offline with buildah, FROM scratch: the
# release binary (stripped), every shared library `ldd` lists (the dynamic
# loader included, at the paths ldd prints), the CA bundle and a passwd/group
# naming user 65532 (nonroot). Nothing else: no shell, no package manager.
# The Containerfile at the repository root stages the same files (--stage).
#
#   scripts/image.sh [options] [BINARY]   (default build-release/src/cmd/gatehouse)
#     --archive PATH   also save an OCI archive there
#                      (`make image`: build-release/gatehouse-image.tar)
#     --root DIR, --runroot DIR
#                      buildah storage (default: buildah's own); the tests use
#                      a temporary one
#     --name NAME      image name (default localhost/gatehouse); tag: the version
#     --stage DIR      only stage the root filesystem into DIR (no buildah)
#
# Storage driver vfs and chroot isolation: they work without overlay, fuse or
# user namespaces, and no registry is needed. Prints the image name, then its
# size (uncompressed, the rootfs) and the archive's.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build-release/src/cmd/gatehouse
archive=
stage_only=
name=localhost/gatehouse
source_url=${GATEHOUSE_SOURCE_URL:-https://gatehouse.dev}
set -- "$@" --end
bflags="--storage-driver vfs"
while [ "$1" != --end ]; do
    case "$1" in
    --archive) archive=$2; shift 2 ;;
    --root | --runroot) bflags="$bflags $1 $2"; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --stage) stage_only=$2; shift 2 ;;
    -*) echo "image.sh: unknown option $1" >&2; exit 2 ;;
    *) bin=$1; shift ;;
    esac
done

[ -x "$bin" ] || { echo "image.sh: no binary at $bin (make release)" >&2; exit 1; }
version=$("$bin" version | sed -n '1s/^gatehouse //p')
[ -n "$version" ] || { echo "image.sh: $bin version printed no version" >&2; exit 1; }
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || { echo "image.sh: no CA bundle at $ca (apt-get install ca-certificates)" >&2; exit 1; }

# stage DIR: the image's whole root filesystem.
stage() {
    d=$1
    mkdir -p "$d/etc/ssl/certs"
    strip --strip-unneeded -o "$d/gatehouse" "$bin"
    # "libx.so.1 => /lib/x86_64-linux-gnu/libx.so.1 (0x...)" and the loader
    # "/lib64/ld-linux-x86-64.so.2 (0x...)": copied to the path ldd prints,
    # symlinks resolved (Debian's /lib is a link to /usr/lib).
    # libcurl is loaded at run time by the Kubernetes mode (dlopen of
    # libcurl.so.4, src/k8s/libcurl.c): it and what it links come too.
    curl=$(ldconfig -p | awk '$1 == "libcurl.so.4" { print $NF; exit }')
    [ -n "$curl" ] || { echo "image.sh: libcurl.so.4 not found (scripts/deps.sh build)" >&2; exit 1; }
    libs=$({ ldd "$bin"; ldd "$curl"; echo "$curl"; } |
        awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
    [ -n "$libs" ] || { echo "image.sh: ldd listed no libraries for $bin" >&2; exit 1; }
    for lib in $libs; do
        mkdir -p "$d$(dirname "$lib")"
        cp -L "$lib" "$d$lib"
    done
    cp -L "$ca" "$d$ca"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
        >"$d/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' >"$d/etc/group"
    chmod -R u=rwX,go=rX "$d"
}

if [ -n "$stage_only" ]; then
    stage "$stage_only"
    exit 0
fi

command -v buildah >/dev/null 2>&1 || { echo "image.sh: buildah not found (scripts/deps.sh image)" >&2; exit 1; }
tmp=$(mktemp -d)
ctr=
cleanup() {
    # shellcheck disable=SC2086
    [ -z "$ctr" ] || buildah $bflags rm "$ctr" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

stage "$tmp/rootfs"
size=$(du -sb "$tmp/rootfs" | cut -f1)

# shellcheck disable=SC2086
{
    ctr=$(buildah $bflags from scratch)
    buildah $bflags copy --quiet "$ctr" "$tmp/rootfs" / >/dev/null
    buildah $bflags config \
        --user 65532:65532 --workingdir / \
        --entrypoint '["/gatehouse"]' --cmd '["run", "--kubernetes"]' \
        --env SSL_CERT_FILE=$ca \
        --label org.opencontainers.image.title=gatehouse \
        --label org.opencontainers.image.source="$source_url" \
        --label org.opencontainers.image.version="$version" \
        --label org.opencontainers.image.licenses=Apache-2.0 \
        "$ctr"
    buildah $bflags commit --quiet --rm "$ctr" "$name:$version" >/dev/null
    # The image must run as its own user with nothing from the host. In a
    # container of its own: `buildah run` leaves empty /etc/hosts,
    # /etc/hostname and /etc/resolv.conf behind in the container it runs in.
    ctr=$(buildah $bflags from --pull-never "$name:$version")
    buildah $bflags run --isolation chroot --user 65532:65532 "$ctr" -- /gatehouse version >/dev/null
    buildah $bflags rm "$ctr" >/dev/null
    ctr=
    echo "$name:$version"
    echo "size: $size bytes uncompressed (du -sb of the staged rootfs)"
    if [ -n "$archive" ]; then
        rm -f "$archive"
        buildah $bflags push --quiet "$name:$version" "oci-archive:$archive:$name:$version" >/dev/null
        echo "archive: $archive, $(stat -c %s "$archive") bytes (gzip-compressed layer)"
    fi
}
