#!/usr/bin/env bash
# Install (if needed) and run the whole test suite, in two named stages. Extra arguments go to
# pytest. As root, hugepage and cgroup tests reserve what they need and give it back, and the
# multi-node tests boot QEMU guests with 2 and 4 NUMA nodes (about 10 minutes).
# The container-runtime tests (tests/containers) need podman, containerd and an image: CI runs
# them as a stage of their own (.ci/stage-containers.sh installs all that), as it does the
# sanitizer build (scripts/sanitize.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash tests/vm/setup.sh   # QEMU + virtme-ng for the multi-node guest tests (root only)
echo "=== tests: unit, native, integration"
.venv/bin/python -m pytest tests --ignore=tests/vm --ignore=tests/containers "$@"
echo "=== tests: multi-node QEMU guests"
.venv/bin/python -m pytest tests/vm "$@"
