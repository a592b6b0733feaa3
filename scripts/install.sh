#!/usr/bin/env bash
# Install numabench into ./.venv, building its C/Cython extension.
# Needs a C compiler and the kernel's uapi headers (linux-libc-dev); as root on
# Debian they are installed with apt when missing. libnuma is not needed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    need=()
    command -v gcc >/dev/null 2>&1 || need+=(gcc)
    [ -e /usr/include/linux/mempolicy.h ] || need+=(linux-libc-dev)
    [ -e /usr/include/pthread.h ] || need+=(libc6-dev)
    if [ ${#need[@]} -gt 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
    fi
fi

python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
log=$(mktemp)
if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" >&2
    echo "install.sh: pip install failed (log above)" >&2
    exit 1
fi
rm -f "$log"
.venv/bin/python -c "import numabench.native._native" \
    || { echo "install.sh: the native extension did not build" >&2; exit 1; }
