#!/usr/bin/env bash
# CI stage "containers": real runtimes, as root, on a fresh Debian 12 machine with no registry.
# Installs podman + runc and containerd from Debian, builds the pod image from nothing
# (mmdebstrap bases), checks its size, and runs tests/containers (marker `containers`).
# A few minutes: ~10 s of apt, ~3 min of image build, ~2 min of tests.
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_IMAGE_MB=${MAX_IMAGE_MB:-250}

[ "$(id -u)" = 0 ] || { echo "stage-containers.sh: needs root" >&2; exit 2; }
need=()
for t in podman runc catatonit mmdebstrap containerd; do command -v "$t" >/dev/null || need+=("$t"); done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    # Without recommends: fuse3 would rebuild the initramfs (~70 s) for nothing.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        podman runc catatonit netavark aardvark-dns mmdebstrap containerd >/dev/null
fi
bash scripts/install.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash scripts/build-image.sh --write-containers-conf "$work/containers.conf"
export CONTAINERS_CONF="$work/containers.conf"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
export NUMABENCH_IMAGE="localhost/numabench:$version"
bash scripts/build-image.sh -t "$NUMABENCH_IMAGE"
size=$(podman image inspect --format '{{.Size}}' "$NUMABENCH_IMAGE")
if [ "$size" -gt $((MAX_IMAGE_MB * 1000000)) ]; then
    echo "stage-containers.sh: $NUMABENCH_IMAGE is $((size / 1000000)) MB, over the $MAX_IMAGE_MB MB target" >&2
    exit 1
fi
exec .venv/bin/python -m pytest tests/containers -m containers -v -rs "$@"
