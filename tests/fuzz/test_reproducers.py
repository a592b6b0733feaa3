"""Every input the fuzz ever broke numabench with (tests/data/fuzz/*.json), replayed: each must now
end with a documented exit code, one line on exit 2, no traceback and no hang. Runs by default."""

import glob
import json
import os

import fuzzlib
import pytest

CASES = sorted(glob.glob(os.path.join(fuzzlib.REPRODUCERS, "*.json")))


@pytest.mark.parametrize("path", CASES, ids=[os.path.basename(p)[:-5] for p in CASES])
def test_reproducer(path, tmp_path):
    with open(path) as f:
        case = fuzzlib.Case.from_json(json.load(f))
    fuzzlib.warm_up()
    outcome = fuzzlib.run_case(case, str(tmp_path / "case"), timeout_s=60)
    assert outcome.status == "ok", (outcome.status, outcome.detail[-2000:])


def test_reproducers_exist():
    # The fuzz found these; if the folder were lost the replay above would pass vacuously.
    assert len(CASES) >= 5, CASES
