#!/usr/bin/env bash
# Build the native extension a second time under AddressSanitizer and
# UndefinedBehaviorSanitizer, and run tests/native against that build.
# A CI stage of its own:  bash scripts/sanitize.sh [extra pytest arguments]
#
# The sanitized build lives in build/sanitize/ (ignored by git) and never
# replaces the normal extension in src/: a copy of the package is put on
# PYTHONPATH with the sanitized _native module in it, and the tests run with
# the project's .venv (made by scripts/install.sh when missing). The
# interpreter itself is not instrumented, so leak detection is off (CPython
# keeps memory until exit on purpose); any ASan error or UBSan finding aborts
# the run (-fno-sanitize-recover, halt_on_error=1).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=build/sanitize

# gcc's sanitizer runtimes (libasan, libubsan) ship in libgcc-N-dev on Debian.
need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc)
if command -v gcc >/dev/null 2>&1; then
    major=$(gcc -dumpversion | cut -d. -f1)
    [ -e "$(gcc -print-file-name=libasan.so)" ] || need+=("libgcc-$major-dev")
    [ -e "$(gcc -print-file-name=libubsan.so)" ] || need+=("libgcc-$major-dev")
fi
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
        if ! command -v gcc >/dev/null 2>&1 || [ ! -e "$(gcc -print-file-name=libasan.so)" ]; then
            # gcc itself was missing: install its version's runtime now that we know it.
            major=$(gcc -dumpversion | cut -d. -f1)
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "libgcc-$major-dev"
        fi
    else
        echo "sanitize.sh: missing ${need[*]}: install them (apt-get install ${need[*]}) or run as root" >&2
        exit 1
    fi
fi
libasan=$(gcc -print-file-name=libasan.so)

[ -x .venv/bin/python ] || bash scripts/install.sh

# A build-only venv with Cython and setuptools, from the same interpreter as .venv (same ABI).
if [ ! -x "$out/venv/bin/cython" ]; then
    .venv/bin/python -m venv "$out/venv"
    "$out/venv/bin/python" -m pip install -q --disable-pip-version-check "Cython>=3.0" "setuptools>=77" wheel \
        >"$out/pip.log" 2>&1 || { cat "$out/pip.log" >&2; echo "sanitize.sh: pip install failed" >&2; exit 1; }
fi

# -O1 keeps stack traces readable; setup.py's own -O2 comes later on the command line and wins,
# which is fine: the kernels are checked as they ship. UBSan findings are fatal in the code.
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
rm -rf "$out/lib" "$out/tmp" "$out/pkg"
CFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" \
    "$out/venv/bin/python" setup.py -q build_ext --force --build-lib "$out/lib" --build-temp "$out/tmp" >"$out/build.log" 2>&1 \
    || { cat "$out/build.log" >&2; echo "sanitize.sh: the sanitized build failed (log above)" >&2; exit 1; }

# The package as source, with the sanitized extension in place of the normal one.
mkdir -p "$out/pkg"
cp -r src/numabench "$out/pkg/"
find "$out/pkg" -name '*.so' -delete
find "$out/pkg" -name '__pycache__' -type d -prune -exec rm -rf {} +
cp "$out"/lib/numabench/native/_native*.so "$out/pkg/numabench/native/"

export PYTHONPATH="$root/$out/pkg"
# ASan must be the first library loaded; the interpreter is not built with it.
export LD_PRELOAD="$libasan"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

# Prove the tests will import the sanitized module, not the one in src/.
.venv/bin/python - "$root/$out/pkg" <<'EOF'
import sys
import numabench.native._native as native
where = native.__file__
if not where.startswith(sys.argv[1]):
    sys.exit(f"sanitize.sh: imported {where}, not the sanitized build under {sys.argv[1]}")
with open("/proc/self/maps") as f:
    if "libasan" not in f.read():
        sys.exit("sanitize.sh: libasan is not loaded")
print(f"sanitize.sh: testing {where} under ASan+UBSan")
EOF

# --capture=sys: pytest captures Python's sys.stdout/err only, so a sanitizer report (written
# to fd 2 just before the abort) reaches the CI log instead of a capture file lost with the process.
exec .venv/bin/python -m pytest tests/native -q -p no:cacheprovider --capture=sys "$@"
