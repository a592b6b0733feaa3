#!/usr/bin/env bash
# Build the numabench pod image from ./Containerfile with podman (or buildah).
#
#   scripts/build-image.sh [-t TAG] [--base IMAGE] [--debian-bases] [--rebuild-bases]
#   scripts/build-image.sh --write-containers-conf FILE     # the runtime settings this host needs, then exit
#   scripts/build-image.sh --pause TAG                      # a pause (sandbox) image from catatonit -P, no registry
#
# With --base IMAGE (e.g. docker.io/library/debian:bookworm-slim) the image is built FROM it, as anyone
# with a registry would. Without it, the default base is pulled when a registry answers; otherwise
# (no registry, as in CI) two bases are made from Debian packages with mmdebstrap and `podman import`ed:
#   localhost/numabench-base:bookworm        python3 and libstdc++6 only (the run stage)
#   localhost/numabench-build-base:bookworm  python3-dev, gcc, libc6-dev, linux-libc-dev (the build stage)
# They are reused when present (--rebuild-bases makes them anew). Needs root for mmdebstrap.
# pip in the build stage reaches the package index with the host's CA bundle, mounted for the build only.
# Prints the image's size and each layer's share. Exit 2: bad arguments; 1: a step failed.
set -euo pipefail
cd "$(dirname "$0")/.."

DEFAULT_BASE=docker.io/library/debian:bookworm-slim
SUITE=bookworm
RUN_BASE=localhost/numabench-base:$SUITE
BUILD_BASE=localhost/numabench-build-base:$SUITE
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
tag="localhost/numabench:$version"
base=""
debian_bases=0
rebuild=0
pause=""

die() { echo "build-image.sh: $1" >&2; exit "${2:-1}"; }
usage() { sed -n '3,7p' "$0" >&2; exit 2; }

# The settings podman needs on hosts like this one (../shared/containers.md): crun refuses cgroup v1
# hybrid hosts, and a root without CAP_SYS_RESOURCE cannot raise nofile or nproc past their hard limits. Debian's
# podman package leaves a CNI config whose plugins are not installed: netavark is what works.
write_containers_conf() {
    local nofile nproc
    nofile=$(ulimit -Hn)
    nproc=$(ulimit -Hu)
    [ "$nofile" = unlimited ] || [ "$nofile" -gt 1048576 ] && nofile=1048576
    [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
    local manager=cgroupfs
    [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && manager=systemd
    cat >"$1" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "$manager"
events_logger = "file"
[network]
network_backend = "netavark"
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        -t|--tag) [ $# -ge 2 ] || usage; tag=$2; shift 2 ;;
        --base) [ $# -ge 2 ] || usage; base=$2; shift 2 ;;
        --debian-bases) debian_bases=1; shift ;;
        --rebuild-bases) rebuild=1; debian_bases=1; shift ;;
        --write-containers-conf) [ $# -ge 2 ] || usage; write_containers_conf "$2"; exit 0 ;;
        --pause) [ $# -ge 2 ] || usage; pause=$2; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "build-image.sh: unknown argument $1" >&2; usage ;;
    esac
done
[ -n "$base" ] && [ "$debian_bases" = 1 ] && die "--base and --debian-bases exclude each other" 2

if command -v podman >/dev/null; then
    engine=podman
elif command -v buildah >/dev/null; then
    engine=buildah
else
    die "neither podman nor buildah is installed: apt-get install podman runc (see docs/pods.md)" 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "${CONTAINERS_CONF:-}" ] && [ "$(id -u)" = 0 ]; then
    write_containers_conf "$work/containers.conf"
    export CONTAINERS_CONF="$work/containers.conf"
fi

# The CRI's sandbox ("pause") container only holds the pod's namespaces: catatonit -P (static, the
# binary podman's own pause image runs) does exactly that, so no registry.k8s.io/pause is needed.
if [ -n "$pause" ]; then
    catatonit=$(command -v catatonit || echo /usr/libexec/podman/catatonit)
    [ -x "$catatonit" ] || die "catatonit is not installed: apt-get install catatonit" 2
    cp "$catatonit" "$work/catatonit"
    printf 'FROM scratch\nCOPY catatonit /pause\nUSER 65535:65535\nENTRYPOINT ["/pause", "-P"]\n' >"$work/Containerfile"
    "$engine" build --quiet -t "$pause" -f "$work/Containerfile" "$work" >/dev/null
    echo "build-image.sh: built $pause"
    exit 0
fi

exists() { "$engine" image exists "$1" 2>/dev/null || "$engine" inspect --type image "$1" >/dev/null 2>&1; }

# One mmdebstrap root file system, imported as IMAGE. Documentation, manuals, locales and (run base)
# glibc's iconv modules are left out: Python's codecs do not use them.
make_base() {
    local image=$1 packages=$2 extra=()
    if exists "$image" && [ "$rebuild" = 0 ]; then
        echo "build-image.sh: reusing $image"
        return
    fi
    command -v mmdebstrap >/dev/null || die "no registry and no mmdebstrap: apt-get install mmdebstrap" 2
    [ "$(id -u)" = 0 ] || die "mmdebstrap needs root here (or pass --base IMAGE from a registry)" 2
    [ "$image" = "$RUN_BASE" ] && extra=(--dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/gconv/*')
    echo "build-image.sh: making $image with mmdebstrap ($packages)"
    # merged-usr hook: the usrmerge package would pull in perl (40 MB).
    mmdebstrap --quiet --variant=essential --include="$packages" \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' "${extra[@]}" \
        --customize-hook='rm -rf "$1"/var/cache/debconf/*-old "$1"/var/log/*' \
        "$SUITE" "$work/rootfs.tar"
    "$engine" import --quiet "$work/rootfs.tar" "$image" >/dev/null
    rm -f "$work/rootfs.tar"
}

registry_answers() {
    timeout 60 "$engine" pull --quiet "$DEFAULT_BASE" >/dev/null 2>&1
}

args=(--build-arg "VERSION=$version")
if [ -n "$base" ]; then
    args+=(--build-arg "BASE=$base")
elif [ "$debian_bases" = 1 ] || ! registry_answers; then
    [ "$debian_bases" = 1 ] || echo "build-image.sh: no registry answers for $DEFAULT_BASE: making Debian bases"
    make_base "$RUN_BASE" python3,libstdc++6   # numpy 2 links libstdc++
    make_base "$BUILD_BASE" python3-venv,python3-dev,gcc,libc6-dev,linux-libc-dev,ca-certificates
    args+=(--build-arg "BASE=$RUN_BASE" --build-arg "BUILD_BASE=$BUILD_BASE")
fi
ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
if [ -r "$ca" ]; then
    args+=(-v "$ca:/etc/ssl/certs/host-ca.crt:ro" --build-arg PIP_CERT=/etc/ssl/certs/host-ca.crt)
fi

echo "build-image.sh: building $tag with $engine"
if [ "$engine" = podman ]; then
    podman build --network=host --layers -f Containerfile -t "$tag" "${args[@]}" .
else
    buildah bud --network=host --layers -f Containerfile -t "$tag" "${args[@]}" .
fi

size=$("$engine" image inspect --format '{{.Size}}' "$tag")
echo "build-image.sh: $tag is $((size / 1000000)) MB; its layers:"
"$engine" history --format '{{.Size}}\t{{.CreatedBy}}' "$tag" | cut -c1-110 | sed 's/^/  /'
