"""The CLI mutation fuzz (marked `fuzz`: not in the default run; CI runs it as .ci/stage-fuzz.sh).

NUMABENCH_FUZZ_SEED (default 14), NUMABENCH_FUZZ_RUNS (default 10000) and NUMABENCH_FUZZ_BUDGET_S
(default 300: the run stops there even if fewer invocations were made, and says how many) set the
size. Every failure is kept as a reproducer in tests/data/fuzz/, replayed by test_reproducers.py.
"""

import os

import fuzzlib
import pytest

pytestmark = pytest.mark.fuzz


def test_cli_mutation_fuzz(tmp_path):
    seed = int(os.environ.get("NUMABENCH_FUZZ_SEED", "14"))
    runs = int(os.environ.get("NUMABENCH_FUZZ_RUNS", "10000"))
    budget = float(os.environ.get("NUMABENCH_FUZZ_BUDGET_S", "300"))
    keep = os.environ.get("NUMABENCH_FUZZ_KEEP") == "1"  # write reproducers into tests/data/fuzz

    def found(case, outcome):
        if keep:
            fuzzlib.save_reproducer(case, outcome, f"seed{seed}-{len(tally_failures)}")
        tally_failures.append(outcome)

    tally_failures: list = []
    tally = fuzzlib.fuzz(seed, runs, budget, str(tmp_path / "case"), on_failure=found)
    print(f"\nfuzz seed {seed}: {tally.line()}")
    details = [f"{o.status}: {o.detail.strip().splitlines()[-1:] if o.detail.strip() else ''}"
               for _, o in tally.failures[:10]]
    assert not tally.failures, f"{len(tally.failures)} failures, first: {details}"
    assert tally.runs > 0
