"""The kubelet's own unit tests, translated into `pod plan` inputs (tests/data/kubelet-conformance).

Each case folder holds pod.yaml, node.yaml, options.yaml, an optional state.yaml (pods already
admitted) and expected.yaml, which names its upstream ``file::Test/case`` and says what that test
checks: admitted or rejected (reason, message), per container the cpuset, whether the CPUs are
exclusive, the memory blocks, the CPU or memory hints, the merged hint; for the pod the shared
pool and what the node keeps reserved. Only what the expected file names is compared.

Cases the model does not match yet are listed in MISMATCHES.yaml with the reason; they run as
strict xfails, so a fix that makes one pass must also take it off the list.

Folders with a case.yaml of ``kind: merge`` (tm-*) are the Topology Manager's own merge tables
(topologymanager/policy_*_test.go): per provider its hints per resource, run through ``merge_hints``
and compared with the merged hint and the admit decision the expected block names.
"""

import os

import pytest
import yaml
from conftest import TESTS_DIR

from numabench.kube.admission import KubeletSettings, load_node, load_state, plan_pod
from numabench.kube.admission.bitmask import node_mask
from numabench.kube.admission.hints import Hint, merge_hints
from numabench.kube.admission.memory import machine_state
from numabench.kube.podspec import load_pod
from numabench.util.cpulist import format_cpulist

SUITE = os.path.join(TESTS_DIR, "data", "kubelet-conformance")
CASES = sorted(d for d in os.listdir(SUITE) if os.path.isfile(os.path.join(SUITE, d, "pod.yaml")))
MERGE_CASES = sorted(d for d in os.listdir(SUITE) if os.path.isfile(os.path.join(SUITE, d, "case.yaml")))
with open(os.path.join(SUITE, "MISMATCHES.yaml"), encoding="utf-8") as _f:
    MISMATCHES = yaml.safe_load(_f) or {}


def _read(case: str, name: str):
    with open(os.path.join(SUITE, case, name), encoding="utf-8") as f:
        return yaml.safe_load(f)


def run_case(case: str):
    """(plan, expected) for one case folder."""
    d = os.path.join(SUITE, case)
    opts = _read(case, "options.yaml")
    settings = KubeletSettings(
        policy=opts["topologyManagerPolicy"], scope=opts["topologyManagerScope"],
        cpu_policy_options=opts.get("cpuManagerPolicyOptions") or {},
        topology_policy_options=opts.get("topologyManagerPolicyOptions") or {},
        kubelet_version=str(opts.get("kubeletVersion", "latest")),
        feature_gates=opts.get("featureGates") or {})
    state_path = os.path.join(d, "state.yaml")
    state = load_state(state_path) if os.path.exists(state_path) else None
    plan = plan_pod(load_pod(os.path.join(d, "pod.yaml")), load_node(os.path.join(d, "node.yaml")), state,
                    settings=settings)
    return plan, _read(case, "expected.yaml")


def _hints(hints):
    return sorted((tuple(h["nodes"]) if h["nodes"] is not None else (), h["preferred"]) for h in hints or [])


def differences(plan, expected) -> list[str]:
    """What the plan says differently from ``expected`` (empty: the case matches)."""
    out = []
    if plan.admitted != expected["admitted"]:
        out.append(f"admitted {plan.admitted} ({plan.reason}: {plan.detail}), expected {expected['admitted']}")
        return out
    if not plan.admitted:
        if plan.reason != expected["reason"]:
            out.append(f"reason {plan.reason}, expected {expected['reason']}")
        want = expected.get("message_contains")
        if want and want not in f"{plan.message} {plan.detail}":
            out.append(f"message {plan.message!r} / {plan.detail!r} lacks {want!r}")
        return out
    for name, want in (expected.get("containers") or {}).items():
        got = plan.placement(name)
        if "cpus" in want and format_cpulist(got.cpus) != want["cpus"]:
            out.append(f"{name}: cpus {format_cpulist(got.cpus)}, expected {want['cpus']}")
        if "exclusive" in want and got.exclusive_cpus != want["exclusive"]:
            out.append(f"{name}: exclusive {got.exclusive_cpus}, expected {want['exclusive']}")
        if "memory" in want:
            blocks = sorted((b.type, list(b.numa_affinity), b.size) for b in got.memory_blocks)
            wanted = sorted((b["type"], b["numaAffinity"], b["size"]) for b in want["memory"])
            if blocks != wanted:
                out.append(f"{name}: memory blocks {blocks}, expected {wanted}")
        for key, have in (("cpu_hints", got.cpu_hints), ("memory_hints", got.memory_hints)):
            if key in want and want[key] is None:  # null: the provider gives no hints at all
                if have is not None:
                    out.append(f"{name}: {key} {[str(h) for h in have]}, expected none (no preference)")
            elif key in want and _hints([h.to_dict() for h in have or []]) != _hints(want[key]):
                out.append(f"{name}: {key} {[str(h) for h in have or []]}, expected {want[key]}")
        if "hint" in want and (got.hint is None or got.hint.to_dict() != want["hint"]):
            out.append(f"{name}: hint {got.hint}, expected {want['hint']}")
    if "shared_pool" in expected:
        pool = sorted(set(plan.node.all_cpus) - plan.state.exclusive_cpus)
        if format_cpulist(pool) != expected["shared_pool"]:
            out.append(f"shared pool {format_cpulist(pool)}, expected {expected['shared_pool']}")
    for nid, per in (expected.get("reserved_bytes") or {}).items():
        ms = machine_state(plan.node, plan.state)[int(nid)]
        for res, size in per.items():
            if ms.tables[res].reserved != size:
                out.append(f"NUMA {nid} {res}: reserved {ms.tables[res].reserved}, expected {size}")
    return out


def test_suite_size_and_provenance():
    assert len(CASES) >= 80
    unknown = sorted(set(MISMATCHES) - set(CASES) - set(MERGE_CASES))
    assert not unknown, f"MISMATCHES.yaml names cases that do not exist: {unknown}"
    for case in CASES:
        up = _read(case, "expected.yaml")["upstream"]
        assert up["project"] == "kubernetes/kubernetes" and up["file"].startswith("pkg/kubelet/cm/")
        assert up["test"] and up["read_from"]


@pytest.mark.parametrize("case", CASES)
def test_conformance(case, request):
    if case in MISMATCHES:
        request.applymarker(pytest.mark.xfail(reason=MISMATCHES[case], strict=True))
    plan, expected = run_case(case)
    assert differences(plan, expected) == []


def _hint(raw: dict) -> Hint:
    return Hint(None if raw["affinity"] is None else node_mask(raw["affinity"]), bool(raw["preferred"]))


def run_merge_case(case: str):
    """((best hint, admit), expected) for one ``kind: merge`` case folder.

    case.yaml ``providers``: per hint provider null (a nil map: no preference) or a mapping
    resource -> null (nil hint list) or a list of {affinity: [nodes] or null, preferred: bool};
    ``distances`` (node -> row in node-id order) with option prefer-closest-numa-nodes.
    """
    data = _read(case, "case.yaml")
    providers = [None if prov is None else
                 {res: None if hints is None else [_hint(h) for h in hints] for res, hints in prov.items()}
                 for prov in data["providers"]]
    distance = None
    if str((data.get("options") or {}).get("prefer-closest-numa-nodes", "false")).lower() == "true":
        table = {int(a): row for a, row in data["distances"].items()}
        def distance(a: int, b: int) -> int:
            return int(table[a][b])
    return merge_hints(data["policy"], data["numa_nodes"], providers, distance), data["expected"]


def test_merge_suite_provenance():
    assert len(MERGE_CASES) >= 30
    assert not set(CASES) & set(MERGE_CASES)
    for case in MERGE_CASES:
        data = _read(case, "case.yaml")
        assert data["kind"] == "merge"
        assert data["upstream"].startswith("pkg/kubelet/cm/topologymanager/") and "::" in data["upstream"]
        assert data["read_from"]


@pytest.mark.parametrize("case", MERGE_CASES)
def test_merge_conformance(case, request):
    if case in MISMATCHES:
        request.applymarker(pytest.mark.xfail(reason=MISMATCHES[case], strict=True))
    (best, admit), expected = run_merge_case(case)
    assert {"affinity": None if best.nodes is None else list(best.nodes), "preferred": best.preferred,
            "admit": admit} == expected


def test_not_expressible_list_is_valid_yaml_with_a_reason_each():
    """The list of upstream subtests left out is read by people, so it must parse and say why."""
    with open(os.path.join(SUITE, "NOT-EXPRESSIBLE.yaml")) as f:
        entries = yaml.safe_load(f)
    assert isinstance(entries, list) and entries
    for e in entries:
        assert e["upstream"].startswith("pkg/kubelet/cm/") and e["kind"] in ("not-expressible", "not-translated",
                                                                              "not-read"), e
        assert e["reason"].strip(), e
