#!/usr/bin/env bash
# CI stage: the CLI mutation fuzz with a fixed seed (tests/fuzz). Every file-taking command gets
# mutated seeds from examples/ and tests/data/ in forked children with a per-invocation timeout;
# any traceback, hang or undocumented exit code fails the stage. Extra arguments go to pytest.
# Size: NUMABENCH_FUZZ_SEED (14), NUMABENCH_FUZZ_RUNS (10000), NUMABENCH_FUZZ_BUDGET_S (300).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/install.sh
export NUMABENCH_FUZZ_SEED="${NUMABENCH_FUZZ_SEED:-14}"
export NUMABENCH_FUZZ_RUNS="${NUMABENCH_FUZZ_RUNS:-10000}"
export NUMABENCH_FUZZ_BUDGET_S="${NUMABENCH_FUZZ_BUDGET_S:-300}"
.venv/bin/python -m pytest tests/fuzz -m fuzz -s -p no:cacheprovider "$@"
