"""PodResultSet.from_dict types its top-level fields: a missing backend or run_id was loaded as
None into a record that says str (found by mypy)."""

from __future__ import annotations

import json
import os

import pytest

from numabench.errors import ResultError
from numabench.results.podset import PodResultSet

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "data", "pod-results", "v1-fake-cluster.json")


def golden() -> dict:
    with open(GOLDEN) as f:
        return json.load(f)


@pytest.mark.parametrize("key", ["backend", "run_id"])
def test_missing_backend_or_run_id_is_refused_by_name(key):
    data = golden()
    del data[key]
    with pytest.raises(ResultError, match=f"'{key}' is missing"):
        PodResultSet.from_dict(data, "f.json")


@pytest.mark.parametrize("key, value", [("run_id", 7), ("started_unix", "soon"), ("started_unix", True),
                                        ("numabench_version", 1.0)])
def test_wrong_type_is_refused_by_name(key, value):
    data = golden()
    data[key] = value
    with pytest.raises(ResultError, match=f"f.json: '{key}' .* wrong type"):
        PodResultSet.from_dict(data, "f.json")


def test_version_and_start_default_as_in_the_result_schema():
    data = golden()
    del data["numabench_version"], data["started_unix"]
    rs = PodResultSet.from_dict(data, "f.json")
    assert (rs.numabench_version, rs.started_unix) == ("unknown", 0.0)
    assert (rs.backend, rs.run_id) == ("kubernetes", "abc123")
