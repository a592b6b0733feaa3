#!/usr/bin/env bash
# Install what the multi-node guest rig needs (see tests/vm/rig.py):
# QEMU (software emulation), Debian's kernel (it has 9p as modules), busybox
# for virtme-ng's guest init, and virtme-ng in its own venv at .vng/.
# Needs root and apt; without them the multi-node tests skip and say why.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "tests/vm/setup.sh: not root or no apt-get; the multi-node tests will skip" >&2
    exit 0
fi
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
ls /lib/modules/*/kernel/fs/9p >/dev/null 2>&1 || need+=(linux-image-amd64)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -x .vng/bin/vng ]; then
    python="${PYTHON:-python3}"
    "$python" -m venv .vng
    log=$(mktemp)
    if ! .vng/bin/python -m pip install -q --disable-pip-version-check virtme-ng >"$log" 2>&1; then
        grep -v "^WARNING: Location" "$log" >&2
        echo "tests/vm/setup.sh: pip install virtme-ng failed" >&2
        exit 1
    fi
    rm -f "$log"
fi
