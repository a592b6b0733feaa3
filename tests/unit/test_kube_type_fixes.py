"""What mypy found in the kube modules: an evidence row over a pod section without ``mems`` (a
TypeError before), and the kubelet's findBestHint on no hints."""

from __future__ import annotations

import json
import os

import pytest

from numabench.kube.admission.hints import Hint, find_best_hint
from numabench.kube.experiment.compare import compare_pods

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "data", "pod-results", "v1-fake-cluster.json")


def _golden_with_planned(mems):
    with open(GOLDEN) as f:
        data = json.load(f)
    run = data["runs"][0]
    pod = run["result"]["environment"]["pod"]
    run["planned"] = {"cpus": list(pod["cpus"]), "mems": list(pod["mems"])}
    pod["mems"] = mems
    return data


def test_evidence_without_pod_mems_is_unknown_not_a_crash():
    row = compare_pods(_golden_with_planned(None), rounds=20)["evidence"][0]
    assert row["cpuset_as_planned"] is None and row["cpuset_mems"] is None


def test_evidence_with_pod_mems_still_compares_to_the_plan():
    with open(GOLDEN) as f:
        mems = json.load(f)["runs"][0]["result"]["environment"]["pod"]["mems"]
    assert compare_pods(_golden_with_planned(mems), rounds=20)["evidence"][0]["cpuset_as_planned"] is True
    assert compare_pods(_golden_with_planned([9]), rounds=20)["evidence"][0]["cpuset_as_planned"] is False


def test_find_best_hint_of_nothing_is_the_empty_topology_hint():
    assert find_best_hint([]) == Hint(None, False)
    assert find_best_hint([Hint(0b11, True), Hint(0b01, False), Hint(0b10, True)]) == Hint(0b10, True)


def test_a_no_preference_hint_has_no_affinity():
    assert Hint(0b101, False).affinity() == 0b101
    with pytest.raises(ValueError, match="no node mask"):
        Hint(None, True).affinity()
