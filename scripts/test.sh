#!/usr/bin/env bash
# Install (if needed) and run the whole test suite. Extra arguments go to pytest.
# As root, hugepage and cgroup tests reserve what they need and give it back.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m pytest tests "$@"
