"""Issue 9 (kube part): one quantity parser, cells kept apart in pod compare, an unreadable OOM
counter is unknown (not 0), the pod result set's file format kept by its typed record, and the
layering (the core never imports kube; kube never imports native when imported)."""

import json
import os
import subprocess
import sys
from fractions import Fraction

import pytest
from click.testing import CliRunner

from numabench.cli import main
from numabench.errors import QuantityError, UsageError
from numabench.kube.experiment.backends import _ended, _oom_kills
from numabench.kube.experiment.compare import compare_pods, format_text
from numabench.kube.podspec import pod_from_dict
from numabench.kube.resources import parse_quantity
from numabench.results.podset import PodResultSet, PodRun

DATA = os.path.join(os.path.dirname(__file__), "..", "data")
FIFTY = "12345678901234567890123456789012345678901234567890"

# --------------------------------------------------------------------------- quantities


def _pod(memory):
    return pod_from_dict({"kind": "Pod", "metadata": {"name": "p"},
                          "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": memory}}}]}})


def test_fifty_digits_parse_the_same_on_every_path(tmp_path):
    """Pod specs and the kubelet lint used two parsers: the lint refused 50 digits ("out of range",
    ValueError) while the pod spec took them. Kubernetes keeps such numbers (inf.Dec): one answer."""
    assert parse_quantity(FIFTY) == int(FIFTY)
    assert _pod(FIFTY).containers[0].limits["memory"] == int(FIFTY)
    config = tmp_path / "kubelet.yaml"
    config.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                      "memoryManagerPolicy: Static\ncpuManagerPolicy: static\ntopologyManagerPolicy: restricted\n"
                      f"reservedMemory: [{{numaNode: 0, limits: {{memory: \"{FIFTY}\"}}}}]\n")
    out = CliRunner().invoke(main, ["kubelet", "lint", str(config)]).output
    assert "error: quantity" not in out  # parsed, then judged by the sum rule
    assert "error: reserved-memory-sum" in out


@pytest.mark.parametrize("text", ["1K", "1KB", "lots", "1e999999999", "1" * 1200])
def test_one_exception_type_for_bad_quantities(text):
    with pytest.raises(QuantityError, match="limits.memory"):
        parse_quantity(text, "container c: limits.memory")
    with pytest.raises(UsageError):  # the pod path raises the same type (QuantityError is a UsageError)
        _pod(text)


@pytest.mark.parametrize("text,value", [
    ("0.1n", Fraction(1, 10**9)),          # quantity.go rounds a non-zero value up to 1n
    ("-0.1n", Fraction(-1, 10**9)),        # away from zero
    ("9Ei", (1 << 63) - 1),                # a binary suffix is capped at 2^63-1
    ("1e30", 10**30),                      # decimal exponents are not capped
    ("1.5Gi", 3 << 29), ("500m", Fraction(1, 2)),
])
def test_quantities_follow_quantity_go(text, value):
    assert parse_quantity(text) == value


def test_uppercase_k_hint_in_the_lint(tmp_path):
    config = tmp_path / "kubelet.yaml"
    config.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                      "kubeReserved: {memory: 1K}\n")
    out = CliRunner().invoke(main, ["kubelet", "lint", str(config)]).output
    line = next(x for x in out.splitlines() if x.startswith("error: quantity"))
    assert "kubeReserved.memory: '1K' is not a quantity (Kubernetes has no K suffix" in line


# --------------------------------------------------------------------------- pod compare cells


def _measurement(mem_node, samples):
    return {"kernel": "latency", "pages": "4k", "size_bytes": 1 << 24, "threads": 1, "cpu_node": 0,
            "mem_node": mem_node, "mem_nodes": [mem_node], "policy": "bind", "samples": samples,
            "latency_ns": sorted(samples)[len(samples) // 2]}


def _result_set(variant_measurements):
    def run(variant, rep, measurements):
        return {"variant": variant, "repetition": rep, "status": "ok", "node": "w1",
                "result": {"schema_version": 1, "environment": {"pod": {}}, "measurements": measurements}}

    runs = []
    for rep in range(2):
        runs.append(run("aligned", rep, [_measurement(0, [100.0, 101.0, 99.0, 100.0])]))
        runs.append(run("spread", rep, variant_measurements))
    return {"kind": "numabench-pod-results", "pod_results_version": 1, "backend": "local", "run_id": "x",
            "experiment": {"name": "e", "baseline": "aligned", "fleet": None,
                           "variants": [{"name": "aligned"}, {"name": "spread"}]}, "runs": runs}


def test_mem_node_0_1_variant_is_not_pooled():
    """A variant run with --mem-node 0,1 measures a local and a remote cell; pooling them gave one
    median between the two. Each cell keeps its own median and ratio."""
    rs = _result_set([_measurement(0, [100.0, 100.0, 100.0, 100.0]), _measurement(1, [200.0, 200.0, 200.0, 200.0])])
    rows = compare_pods(rs, rounds=200)["groups"]["all"]["comparisons"][0]["cells"]
    assert [(r["variant_cell"]["mem_nodes"], r["variant"]) for r in rows] == [([0], 100.0), ([1], 200.0)]
    assert [round(r["ratio"], 2) for r in rows] == [1.0, 2.0]
    text = format_text(compare_pods(rs, rounds=200))
    assert "0->0 vs 0->1" in text and "16 MiB" in text


def test_variants_on_other_nodes_still_compare():
    """Variants differ in placement by design: the baseline's cell is set against the variant's."""
    rs = _result_set([{**_measurement(1, [150.0, 151.0, 149.0, 150.0]), "cpu_node": 1}])
    rows = compare_pods(rs, rounds=200)["groups"]["all"]["comparisons"][0]["cells"]
    assert len(rows) == 1 and rows[0]["baseline_cell"]["cpu_node"] == 0 and rows[0]["variant_cell"]["cpu_node"] == 1


# --------------------------------------------------------------------------- OOM counter


class _Hierarchy:
    def __init__(self, root, version=2):
        self.root, self.version, self.controllers = root, version, ("cpuset", "memory")

    def path(self, rel):
        return os.path.join(self.root, rel)


class _Cgroup:
    def __init__(self, hierarchies):
        self.hierarchies, self.rel = hierarchies, "pod/c"


def test_unreadable_oom_counter_is_unknown_not_zero(tmp_path):
    assert _oom_kills(_Cgroup([_Hierarchy(str(tmp_path))])) is None  # no memory.events
    reason, message, _ = _ended(1, False, None, 60)
    assert reason == "Error" and "OOM kills: unknown" in message
    d = tmp_path / "pod" / "c"
    d.mkdir(parents=True)
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    assert _oom_kills(_Cgroup([_Hierarchy(str(tmp_path))])) == 0
    (d / "memory.events").write_text("oom_kill 2\n")
    assert _oom_kills(_Cgroup([_Hierarchy(str(tmp_path))])) == 2
    assert _ended(137, False, 2, 60)[0] == "OOMKilled"
    assert _ended(0, False, 0, 60) == (None, None, False)


# --------------------------------------------------------------------------- the result set's file format


def test_golden_pod_result_set_round_trips():
    """tests/data/pod-results/v1-fake-cluster.json was written by the dict-building code before
    the typed record; reading and writing it gives the same JSON, key order included."""
    path = os.path.join(DATA, "pod-results", "v1-fake-cluster.json")
    with open(path) as f:
        text = f.read()
    golden = json.loads(text)
    rs = PodResultSet.from_dict(golden, path)
    assert all(isinstance(r, PodRun) for r in rs.runs)
    assert json.dumps(rs.to_dict(), indent=1) == json.dumps(golden, indent=1)
    assert list(rs.to_dict()["runs"][0]) == list(golden["runs"][0])


def test_new_run_writes_the_golden_format():
    """The same fake cluster run today gives the golden file (times and version aside)."""
    sys.path.insert(0, os.path.dirname(__file__))
    import test_orchestrate as t

    logs = {"aligned": t.framed_log(t.fake_result("aligned", [100, 102, 101], [2e10, 2e10, 2e10])),
            "misaligned": t.framed_log(t.fake_result("unpinned", [150, 151, 149], [1e10, 1e10, 1e10],
                                                     cpus=(0, 1, 2, 3), mems=(0, 1)))}
    result, _ = t.go(t.FakeCluster(t.OK_FATES, logs=logs))
    result.update(started_unix=0.0, finished_unix=0.0, numabench_version="golden")
    with open(os.path.join(DATA, "pod-results", "v1-fake-cluster.json")) as f:
        assert json.dumps(result, indent=1) == json.dumps(json.load(f), indent=1)


def test_unknown_run_keys_are_refused():
    from numabench.errors import ResultError

    with pytest.raises(ResultError, match="unknown keys surprise"):
        PodRun.from_dict({"variant": "a", "repetition": 0, "status": "ok", "surprise": 1}, "runs[0]")


# --------------------------------------------------------------------------- layering


def test_core_does_not_import_kube_and_kube_does_not_import_native():
    code = (
        "import sys\n"
        "import numabench.host.environment, numabench.host.podview\n"
        "assert not [m for m in sys.modules if m.startswith('numabench.kube')], 'core imported kube'\n"
        "import numabench.kube.admission, numabench.kube.kubelet.config, numabench.kube.kubelet.checkpoint\n"
        "import numabench.kube.experiment.orchestrate, numabench.kube.experiment.compare, numabench.kube.inspect\n"
        "assert not [m for m in sys.modules if m.startswith('numabench.native')], 'kube imported native'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
