"""The experiment file's checks, the comparison (ratios, seeded bootstrap, evidence) and the
manifests/compare/emit commands."""

import copy
import json
import os
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from numabench.cli.pod_experiment_cmd import check_run_args, compare_cmd, emit, manifests
from numabench.errors import UsageError
from numabench.kube.experiment.compare import bootstrap_ratio, compare_pods, format_markdown, format_text
from numabench.kube.experiment.manifests import parse_framed
from numabench.kube.experiment.spec import experiment_from_dict, load_experiment

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
EXAMPLE = os.path.join(ROOT, "examples", "experiment.yaml")

BASE = {"name": "e", "image": "numabench:1", "numabench": {"args": ["--size", "16M"]},
        "variants": [{"name": "aligned", "qos": "Guaranteed", "expect": "aligned",
                      "resources": {"limits": {"cpu": 2, "memory": "1Gi"}}},
                     {"name": "misaligned", "qos": "Burstable", "resources": {"requests": {"cpu": "500m"}}}]}


def with_(**changes):
    raw = copy.deepcopy(BASE)
    raw.update(changes)
    return raw


def test_example_loads_with_defaults():
    exp = load_experiment(EXAMPLE, check_run_args=check_run_args)
    assert [v.name for v in exp.variants] == ["aligned", "misaligned", "shared"]
    assert [v.qos for v in exp.variants] == ["Guaranteed", "Burstable", "BestEffort"]
    assert exp.baseline == "aligned" and exp.repetitions == 3 and exp.warnings == ()
    assert exp.variants[0].hugepage_resources == {"hugepages-2Mi": "1Gi"}


def test_quantities_become_strings_and_defaults_fill_in():
    exp = experiment_from_dict(BASE)
    assert exp.variants[0].resources == {"limits": {"cpu": "2", "memory": "1Gi"}}
    assert (exp.namespace, exp.repetitions, exp.backoff_limit, exp.baseline) == ("default", 1, 0, "aligned")
    assert exp.to_dict()["variants"][1]["qos"] == "Burstable"


@pytest.mark.parametrize("raw, needle", [
    (with_(colour="red"), "unknown key colour"),
    (with_(name="Bad_Name"), "not a valid name"),
    (with_(name="x" * 25), "not a valid name"),
    (with_(variants=[]), "non-empty list"),
    (with_(variants=[{"name": "a", "qos": "Guaranteed", "resources": {"requests": {"cpu": 2}}}]),
     "promises QoS Guaranteed but its resources make it Burstable"),
    (with_(variants=[{"name": "a", "qos": "BestEffort", "resources": {"limits": {"memory": "1Gi"}}}]),
     "make it Burstable"),
    (with_(variants=[{"name": "a", "expect": "aligned", "resources": {"requests": {"cpu": 1}}}]),
     "expects the aligned verdict but is Burstable"),
    (with_(variants=[{"name": "a", "resources": {"limits": {"cpu": "two"}}}]), "is not a quantity"),
    (with_(variants=[{"name": "a", "resources": {"limits": {"hugepages-2Mi": "1Gi"},
                                                 "requests": {"hugepages-2Mi": "2Mi"}}}]), "differs from its limit"),
    (with_(variants=[{"name": "a"}, {"name": "a"}]), "named twice"),
    (with_(variants=[{"name": "a", "memNode": -1}]), "memNode"),
    (with_(variants=[{"name": "a", "memNode": 1, "args": ["--mem-node", "0"]}]), "both set the node"),
    (with_(numabench={"args": ["--json"]}), "--json is set by the harness"),
    (with_(numabench={"args": ["-o", "x.json"]}), "-o is set by the harness"),
    (with_(baseline="nope"), "baseline"),
    (with_(repetitions=0), "repetitions"),
    (with_(repetitions=True), "repetitions"),
    (with_(fleet={"nodes": ["a"], "discover": True}), "either nodes or discover"),
    (with_(fleet={"nodes": ["a", "a"]}), "named twice"),
    (with_(nodeSelector={"numa zone": "x"}), "not a label key"),
    (with_(tolerations=[{"key": "k", "colour": "x"}]), "unknown key colour"),
    (with_(imagePullPolicy="Sometimes"), "imagePullPolicy"),
    (with_(local={"topologyManagerPolicy": "strict"}), "topologyManagerPolicy"),
    (with_(version=2), "version 2"),
])
def test_strict_validation_names_the_problem(raw, needle):
    with pytest.raises(UsageError) as info:
        experiment_from_dict(raw, source="exp.yaml", check_run_args=check_run_args)
    assert needle in str(info.value)
    assert str(info.value).startswith("exp.yaml")


def test_numabench_run_parser_judges_the_options():
    with pytest.raises(UsageError, match="numabench run refuses"):
        experiment_from_dict(with_(numabench={"args": ["--repeat", "many"]}), check_run_args=check_run_args)
    with pytest.raises(UsageError, match="numabench run refuses"):
        experiment_from_dict(with_(numabench={"args": ["--no-such-option"]}), check_run_args=check_run_args)


def test_hugepage_mismatches_warn():
    raw = with_(variants=[{"name": "a", "resources": {"limits": {"cpu": 1, "memory": "1Gi", "hugepages-2Mi": "64Mi"}}},
                          {"name": "b", "resources": {"limits": {"cpu": 1, "memory": "1Gi"}},
                           "args": ["--pages", "1g"]}])
    exp = experiment_from_dict(raw)
    assert any("hugepages stay unused" in w for w in exp.warnings)
    assert any("without a hugepages-1Gi limit" in w for w in exp.warnings)


def test_load_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_experiment(str(bad))
    two = tmp_path / "two.yaml"
    two.write_text("name: a\n---\nname: b\n")
    with pytest.raises(UsageError, match="2 documents"):
        load_experiment(str(two))
    with pytest.raises(UsageError, match="cannot read"):
        load_experiment(str(tmp_path / "missing.yaml"))


# --------------------------------------------------------------------------- comparison


def result_set(aligned, misaligned, reps=2, verdicts=("aligned", "unpinned"), fleet=False):
    def res(samples, verdict, cpus):
        return {"schema_version": 1, "environment": {"pod": {"verdict": verdict, "reason": "r", "cpus": cpus,
                                                             "mems": [0], "cpu_nodes": [0]}},
                "measurements": [{"kernel": "latency", "pages": "4k", "size_bytes": 1 << 24, "threads": 1,
                                  "cpu_node": 0, "mem_node": 0, "samples": samples, "latency_ns": np.median(samples),
                                  "pages_by_node": {"0": 10, "1": 2}, "placement": {"method": "mbind"}}]}

    runs = []
    for rep in range(reps):
        for name, samples, verdict, cpus in (("aligned", aligned[rep], verdicts[0], [2, 3]),
                                             ("misaligned", misaligned[rep], verdicts[1], [0, 1, 2, 3])):
            runs.append({"variant": name, "repetition": rep, "node_target": None, "node": "w1", "pod": f"{name}-{rep}",
                         "status": "ok", "reason": None, "qos_class": "Guaranteed", "qos_expected": "Guaranteed",
                         "qos_ok": True, "verdict": verdict, "verdict_expected": "any", "verdict_ok": None,
                         "planned": None, "result": res(samples, verdict, cpus)})
    return {"kind": "numabench-pod-results", "pod_results_version": 1, "backend": "kubernetes", "run_id": "x",
            "experiment": {"name": "e", "baseline": "aligned", "fleet": None,
                           "variants": [{"name": "aligned"}, {"name": "misaligned"}]}, "runs": runs}


def test_ratio_and_interval():
    rs = result_set([[100, 101, 99], [102, 100, 101]], [[150, 152, 149], [151, 150, 153]])
    cmp = compare_pods(rs, rounds=500, seed=3)
    cell = cmp["groups"]["all"]["comparisons"][0]["cells"][0]
    assert cell["baseline"] == 100.5 and cell["variant"] == 150.5
    assert cell["ratio"] == pytest.approx(150.5 / 100.5)
    low, high = cell["ci95"]
    assert 1.4 < low <= cell["ratio"] <= high < 1.6
    assert cell["pods"] == [2, 2]
    ev = {e["pod"]: e for e in cmp["evidence"]}
    assert ev["aligned-0"]["cpuset_cpus"] == "2-3" and ev["misaligned-1"]["cpuset_cpus"] == "0-3"
    assert ev["aligned-0"]["pages_by_node"] == {"0": 10, "1": 2} and ev["aligned-0"]["verdict"] == "aligned"


def test_bootstrap_is_seeded_and_widens_with_spread():
    base = [np.array([100.0, 101, 99]), np.array([100.0, 102, 98])]
    tight = [np.array([150.0, 151, 149]), np.array([150.0, 150, 151])]
    loose = [np.array([120.0, 180, 140]), np.array([160.0, 130, 175])]
    assert bootstrap_ratio(base, tight, 300, 7) == bootstrap_ratio(base, tight, 300, 7)
    t, lo = bootstrap_ratio(base, tight, 300, 7), bootstrap_ratio(base, loose, 300, 7)
    assert (lo[1] - lo[0]) > (t[1] - t[0])
    with pytest.raises(ValueError):
        bootstrap_ratio([], tight)


def test_single_pod_note_and_renderers():
    rs = result_set([[100, 101]], [[150, 151]], reps=1)
    cmp = compare_pods(rs, rounds=100)
    assert any("one pod on a side" in n for n in cmp["groups"]["all"]["notes"])
    text, md = format_text(cmp), format_markdown(cmp)
    assert "misaligned" in text and "1.4" in text and "2-3" in text
    assert md.startswith("# e:") and "| node | variant |" in md and "| aligned | r0 |" in md


def test_failed_pod_appears_in_evidence_and_notes():
    rs = result_set([[100]], [[150]], reps=1)
    rs["runs"][1].update(status="failed", reason="OOMKilled", message="killed", result=None)
    cmp = compare_pods(rs, rounds=100)
    assert cmp["groups"]["all"]["comparisons"][0]["cells"] == []
    assert any("OOMKilled" in n for n in cmp["notes"])
    assert "failed (OOMKilled)" in format_text(cmp)


# --------------------------------------------------------------------------- commands


def test_manifests_command_writes_files(tmp_path):
    out = tmp_path / "m"
    res = CliRunner().invoke(manifests, [EXAMPLE, "-o", str(out)])
    assert res.exit_code == 0, res.output
    names = sorted(os.listdir(out))
    assert "rbac.yaml" in names and len(names) == 10
    assert "least privilege" in (out / "rbac.yaml").read_text()


def test_manifests_command_one_line_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: e\nimage: i\nvariants: [{name: a, qos: Guaranteed}]\n")
    res = CliRunner().invoke(manifests, [str(bad)])
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "promises QoS Guaranteed" in res.output


def test_compare_command_outputs(tmp_path):
    path = tmp_path / "rs.json"
    path.write_text(json.dumps(result_set([[100, 101]], [[150, 151]], reps=1)))
    md, js = tmp_path / "r.md", tmp_path / "r.json"
    res = CliRunner().invoke(compare_cmd, [str(path), "--markdown", str(md), "--json", str(js), "--rounds", "100"])
    assert res.exit_code == 0, res.output
    assert "alignment evidence per pod" in res.output
    assert json.loads(js.read_text())["baseline"] == "aligned" and md.read_text().startswith("# e")


def test_emit_frames_stdout_and_keeps_the_exit_code(capfd):
    code = "import sys; print('{\"a\": 1}'); print('progress', file=sys.stderr); sys.exit(3)"
    with pytest.raises(SystemExit) as info:
        emit.main(["--", sys.executable, "-c", code], standalone_mode=False)
    assert info.value.code == 3
    out, err = capfd.readouterr()
    framed = parse_framed(out)
    assert (framed.payload, framed.exit_code) == (b'{"a": 1}\n', 3)
    assert "progress" in err
