#!/usr/bin/env bash
# Install (if needed) and run the whole test suite. Extra arguments go to pytest.
# As root, hugepage and cgroup tests reserve what they need and give it back, and the
# multi-node tests boot QEMU guests with 2 and 4 NUMA nodes (about 10 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash tests/vm/setup.sh   # QEMU + virtme-ng for the multi-node guest tests (root only)
exec .venv/bin/python -m pytest tests "$@"
