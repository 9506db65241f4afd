#!/usr/bin/env bash
# Build both container images with buildah, from the same Dockerfiles production uses (docs/hosted-image.md).
#   deploy/images.sh            (or ./dev images)
# The base image is a build argument. HMMTRADE_BASE_IMAGE picks it; by default the official python:3.12-slim
# is pulled, and where no registry is reachable a Debian bookworm base with Debian's Python 3.11 is made once
# with debootstrap (localhost/hmmtrade-base:bookworm) and reused. buildah's layer cache (--layers) makes a
# second run reuse every unchanged step.
# Env: HMMTRADE_IMAGE (control plane tag), HMMTRADE_BOT_IMAGE (bot tag), HMMTRADE_BASE_IMAGE, DEBIAN_MIRROR.
set -euo pipefail
cd "$(dirname "$0")/.."

CP_IMAGE=${HMMTRADE_IMAGE:-localhost/hmmtrade:dev}
BOT_IMAGE=${HMMTRADE_BOT_IMAGE:-localhost/hmmtrade-bot:dev}
OFFICIAL_BASE=docker.io/library/python:3.12-slim
LOCAL_BASE=localhost/hmmtrade-base:bookworm
# Debian's packages the Dockerfiles' RUN steps need: python3 (+ venv and ensurepip's pip), useradd (passwd),
# CA certificates for pip's HTTPS downloads.
BASE_PACKAGES=python3,python3-venv,passwd,ca-certificates

command -v buildah >/dev/null || { echo "images: buildah is not installed (apt-get install buildah debootstrap)" >&2; exit 2; }

# The Debian mirror apt is configured with: the first deb.sources URI, else the first sources.list line.
debian_mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
    local uri
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | grep -v security | awk '{print $2; exit}')
    [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | grep -v security | awk '{print $2; exit}')
    echo "${uri:-http://deb.debian.org/debian}"
}

make_local_base() {
    if buildah inspect --type image "$LOCAL_BASE" >/dev/null 2>&1; then
        echo "images: reusing $LOCAL_BASE" >&2
        return
    fi
    command -v debootstrap >/dev/null || { echo "images: no registry and no debootstrap (apt-get install debootstrap)" >&2; exit 2; }
    local mirror rootfs ctr
    mirror=$(debian_mirror)
    rootfs=$(mktemp -d /var/tmp/hmmtrade-rootfs.XXXXXX)
    echo "images: no registry reachable; debootstrap bookworm from $mirror" >&2
    local t0
    t0=$(date +%s)
    debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$rootfs" "$mirror" >/dev/null
    # Trim what an image never uses: apt's package lists and caches, documentation and manual pages.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
    ctr=$(buildah from scratch)
    buildah copy --quiet "$ctr" "$rootfs" / >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 --cmd python3 "$ctr"
    buildah commit --quiet --rm "$ctr" "$LOCAL_BASE" >/dev/null
    rm -rf "$rootfs"
    echo "images: made $LOCAL_BASE in $(( $(date +%s) - t0 )) s" >&2
}

pick_base() {
    if [ -n "${HMMTRADE_BASE_IMAGE:-}" ]; then echo "$HMMTRADE_BASE_IMAGE"; return; fi
    if buildah inspect --type image "$OFFICIAL_BASE" >/dev/null 2>&1 \
        || timeout 60 buildah pull --quiet "$OFFICIAL_BASE" >/dev/null 2>&1; then
        echo "$OFFICIAL_BASE"
        return
    fi
    make_local_base
    echo "$LOCAL_BASE"
}

image_size() {  # the image's uncompressed size in MB (buildah's own figure)
    buildah images --format '{{.Size}}' "$1" | head -n 1
}

# A host whose HTTPS goes through an intercepting proxy trusts its CA via PIP_CERT (or SSL_CERT_FILE): the RUN
# steps' pip gets the same bundle and a pip.conf naming it, bind-mounted for the build only (never in a layer).
build_mounts=()
host_ca=${PIP_CERT:-${SSL_CERT_FILE:-}}
if [ -n "$host_ca" ] && [ -f "$host_ca" ]; then
    pip_conf=$(mktemp)
    trap 'rm -f "$pip_conf"' EXIT
    printf '[global]\ncert = /run/host-ca.crt\n' >"$pip_conf"
    build_mounts=(-v "$host_ca:/run/host-ca.crt:ro" -v "$pip_conf:/etc/pip.conf:ro")
fi

start=$(date +%s)
base=$(pick_base)
echo "images: base image $base" >&2
build() {  # TAG DOCKERFILE
    local t0
    t0=$(date +%s)
    buildah bud --isolation chroot --layers --format docker --quiet "${build_mounts[@]}" --build-arg "BASE_IMAGE=$base" \
        -f "$2" -t "$1" . >/dev/null
    echo "images: built $1 from $2 in $(( $(date +%s) - t0 )) s" >&2
}
build "$CP_IMAGE" Dockerfile
build "$BOT_IMAGE" fly/Dockerfile
echo "images: done in $(( $(date +%s) - start )) s"
printf '%-40s %s\n' "$CP_IMAGE" "$(image_size "$CP_IMAGE")" "$BOT_IMAGE" "$(image_size "$BOT_IMAGE")"
