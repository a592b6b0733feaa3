"""Qualification specs and verdicts, without measuring: strict spec validation, verdicts on the
synthetic two-node result of tests/data/qualify (known medians, see make_data.py), one-node and
memory-only topologies from captured trees, and the HTML report."""

import base64
import copy
import json
import os
import re

import pytest

from numabench.analysis.qualify import (
    CHECKS,
    FAIL,
    NEEDS_TWO_NODES,
    PASS,
    SKIPPED,
    evaluate,
    load_spec,
    needs,
    overall,
    parse_spec,
    qualification_section,
)
from numabench.errors import NumabenchError, SpecError, UsageError
from numabench.host.topology import read_topology_tree
from numabench.render.html import render_html, write_html
from numabench.render.qualify import format_verdicts, junit_cases

DATA = os.path.join(os.path.dirname(__file__), "..", "data")
QDATA = os.path.join(DATA, "qualify")
EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "qualify-spec.yaml")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def two_node():
    with open(os.path.join(QDATA, "two-node-result.json")) as f:
        return json.load(f)


def by_check(verdicts):
    return {v.check: v for v in verdicts}


def write(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# --------------------------------------------------------------------------- the spec


def test_good_spec_parses_with_its_settings():
    spec = load_spec(os.path.join(QDATA, "pass.yaml"))
    assert spec.name == "two-node pass"
    assert spec.measure.size_bytes == 64 << 20
    assert spec.measure.repeat == 3
    assert spec.measure.pages == "4k"
    assert spec.measure.latency_sweep.enabled is False
    assert spec.measure.loaded_latency.enabled is False
    assert list(spec.checks) == ["local_latency_ns_max", "remote_local_latency_ratio_max",
                                 "node_read_bandwidth_gbps_min", "symmetry_pct_max", "hugepages_2m_min_per_node",
                                 "hugepages_1g_min_per_node", "distances", "nodes", "memory_only_nodes", "placement"]
    assert spec.checks["distances"] == [[10, 21], [21, 10]]
    assert needs(spec) == ["latency", "read"]


def test_measurement_settings_and_sweep_range():
    spec = parse_spec({"measure": {"size": "16M", "pages": "thp", "repeat": 2, "threads": 1,
                                   "latency_sweep": {"sizes": "16K..64K"},
                                   "loaded_latency": {"delays": [0, 100], "size": 8388608, "kind": "rw"}},
                       "checks": {"nodes": 1}})
    m = spec.measure
    assert (m.size_bytes, m.pages, m.repeat, m.threads) == (16 << 20, "thp", 2, 1)
    assert m.latency_sweep.enabled and m.latency_sweep.sizes_bytes == (16384, 32768, 65536)
    assert m.loaded_latency.enabled and m.loaded_latency.delays == (0, 100)
    assert m.loaded_latency.size_bytes == 8 << 20 and m.loaded_latency.inject_size_bytes == 8 << 20
    assert m.loaded_latency.kind == "rw"
    assert parse_spec({"measure": {"latency_sweep": False}, "checks": {"nodes": 1}}).measure.latency_sweep.enabled \
        is False


def test_example_spec_is_valid():
    spec = load_spec(EXAMPLE)
    assert spec.measure.latency_sweep.enabled and spec.measure.loaded_latency.enabled
    assert set(spec.checks) == set(CHECKS)


@pytest.mark.parametrize("checks,needed", [
    ({"nodes": 2, "hugepages_2m_min_per_node": 1, "distances": [[10]], "memory_only_nodes": []}, []),
    ({"nodes": 2, "placement": True}, ["latency"]),
    ({"local_latency_ns_max": 100}, ["latency"]),
    ({"remote_local_latency_ratio_max": 2}, ["latency"]),
    ({"node_read_bandwidth_gbps_min": 10}, ["read"]),
    ({"symmetry_pct_max": 5}, ["latency", "read"]),
])
def test_only_what_the_checks_need_is_measured(checks, needed):
    assert needs(parse_spec({"checks": checks})) == needed


@pytest.mark.parametrize("text,needles", [
    ("checks:\n  local_latency_max: 150\n",
     ["checks.local_latency_max", "unknown key", "did you mean local_latency_ns_max"]),
    ("chekcs:\n  nodes: 1\n", ["chekcs", "unknown key", "did you mean checks"]),
    ("measure:\n  sise: 1G\nchecks:\n  nodes: 1\n", ["measure.sise", "unknown key", "did you mean size"]),
    ("measure:\n  loaded_latency:\n    delay: [0]\nchecks:\n  nodes: 1\n",
     ["measure.loaded_latency.delay", "did you mean delays"]),
])
def test_unknown_key_is_named_with_a_suggestion(tmp_path, text, needles):
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text))
    message = str(info.value)
    assert message.startswith(str(tmp_path / "spec.yaml"))
    for needle in needles:
        assert needle in message


@pytest.mark.parametrize("text,key,problem", [
    ("checks:\n  nodes: two\n", "checks.nodes", "expected a non-negative integer"),
    ("checks:\n  nodes: true\n", "checks.nodes", "expected a non-negative integer"),
    ("checks:\n  local_latency_ns_max: fast\n", "checks.local_latency_ns_max", "expected a non-negative number"),
    ("checks:\n  symmetry_pct_max: -1\n", "checks.symmetry_pct_max", "expected a non-negative number"),
    ("checks:\n  distances: [[10, 21]]\n", "checks.distances", "square list of lists"),
    ("checks:\n  memory_only_nodes: 2\n", "checks.memory_only_nodes", "expected a list of node ids"),
    ("checks:\n  placement: false\n", "checks.placement", "expected true"),
    ("checks: [nodes]\n", "checks", "expected a mapping"),
    ("name: [a]\nchecks:\n  nodes: 1\n", "name", "expected a string"),
    ("measure:\n  size: big\nchecks:\n  nodes: 1\n", "measure.size", "expected a size"),
    ("measure:\n  repeat: 0\nchecks:\n  nodes: 1\n", "measure.repeat", "expected a positive integer"),
    ("measure:\n  pages: 3m\nchecks:\n  nodes: 1\n", "measure.pages", "unknown page kind"),
    ("measure:\n  latency_sweep: {sizes: 1G..16K}\nchecks:\n  nodes: 1\n", "measure.latency_sweep.sizes",
     "invalid size range"),
    ("measure:\n  loaded_latency: {delays: [-1]}\nchecks:\n  nodes: 1\n", "measure.loaded_latency.delays",
     "non-negative integers"),
    ("measure:\n  loaded_latency: {kind: write}\nchecks:\n  nodes: 1\n", "measure.loaded_latency.kind",
     "unknown injection kind"),
    ("measure:\n  loaded_latency: {enabled: maybe}\nchecks:\n  nodes: 1\n", "measure.loaded_latency.enabled",
     "expected true or false"),
])
def test_wrong_types_name_the_key_and_the_fix(tmp_path, text, key, problem):
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text))
    err = info.value
    assert f": {key}: " in err.message
    assert problem in err.message
    assert err.fix  # every refusal says what to write instead


def test_spec_errors_are_usage_errors_with_exit_code_2(tmp_path):
    with pytest.raises(UsageError) as info:
        load_spec(write(tmp_path, "checks: {}\n"))
    assert isinstance(info.value, NumabenchError) and info.value.exit_code == 2
    assert "no check given" in str(info.value)


def test_a_key_given_twice_is_refused(tmp_path):
    with pytest.raises(SpecError, match="key 'nodes' appears twice"):
        load_spec(write(tmp_path, "checks:\n  nodes: 1\n  nodes: 2\n"))


def test_invalid_yaml_gives_the_line(tmp_path):
    with pytest.raises(SpecError, match=r"not valid YAML at line 2"):
        load_spec(write(tmp_path, "checks:\n\tnodes: 1\n"))


def test_missing_spec_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="cannot read the spec"):
        load_spec(str(tmp_path / "absent.yaml"))


# --------------------------------------------------------------------------- verdicts


def test_every_check_passes_on_the_two_node_result(two_node):
    verdicts = evaluate(load_spec(os.path.join(QDATA, "pass.yaml")), two_node)
    assert [v.status for v in verdicts] == [PASS] * 10
    assert overall(verdicts) == PASS


def test_fail_verdicts_carry_the_measured_worst_value(two_node):
    spec = load_spec(os.path.join(QDATA, "fail.yaml"))
    v = by_check(evaluate(spec, two_node))
    assert {k: x.status for k, x in v.items()} == {**{k: FAIL for k in spec.checks}, "placement": PASS}
    assert v["local_latency_ns_max"].measured == 95.0 and v["local_latency_ns_max"].bound == 92
    assert v["remote_local_latency_ratio_max"].measured == pytest.approx(2.0)
    assert v["node_read_bandwidth_gbps_min"].measured == pytest.approx(92.0)
    assert v["symmetry_pct_max"].measured == pytest.approx((100 - 92) / 92 * 100)
    assert "local latency spread 5.6%" in v["symmetry_pct_max"].detail
    assert v["hugepages_2m_min_per_node"].measured == 512
    assert "node 0: 1024 reserved, 1000 free" in v["hugepages_2m_min_per_node"].detail
    assert v["hugepages_1g_min_per_node"].measured == 0
    assert v["distances"].measured == [[10, 21], [21, 10]]
    assert "differs at 0->1, 1->0" in v["distances"].detail
    assert v["nodes"].measured == 2
    assert v["memory_only_nodes"].measured == []
    assert overall(list(v.values())) == FAIL


def test_bounds_are_inclusive(two_node):
    spec = parse_spec({"checks": {"local_latency_ns_max": 95, "node_read_bandwidth_gbps_min": 92,
                                  "remote_local_latency_ratio_max": 2.0}})
    assert [v.status for v in evaluate(spec, two_node)] == [PASS, PASS, PASS]


def one_node_result():
    topo = read_topology_tree(os.path.join(DATA, "trees", "this-machine"))
    return {
        "topology": topo.to_dict(), "measurements": [],
        "matrix": {"rows": [0], "columns": [0], "memory_only": [], "status": {"0": {"0": "measured"}},
                   "latency_ns": {"0": {"0": 120.0}}, "bandwidth_bytes_per_s": {"0": {"0": 20e9}}},
    }


def test_ratio_and_symmetry_are_skipped_on_a_one_node_machine():
    spec = parse_spec({"checks": {"remote_local_latency_ratio_max": 2.2, "symmetry_pct_max": 10,
                                  "local_latency_ns_max": 150, "nodes": 1}})
    v = by_check(evaluate(spec, one_node_result()))
    for key in ("remote_local_latency_ratio_max", "symmetry_pct_max"):
        assert v[key].status == SKIPPED
        assert v[key].detail == NEEDS_TWO_NODES == "needs 2+ NUMA nodes"
        assert v[key].measured is None
    assert v["local_latency_ns_max"].status == PASS and v["local_latency_ns_max"].measured == 120.0
    assert v["nodes"].status == PASS
    assert overall(list(v.values())) == PASS


def test_memory_only_nodes_and_ratios_on_the_cxl_tree():
    topo = read_topology_tree(os.path.join(DATA, "trees", "four-node-cxl"))
    latency = {"0": {"0": 100.0, "1": 150.0, "2": 250.0, "3": 300.0},
               "1": {"0": 160.0, "1": 100.0, "2": 280.0, "3": 240.0}}
    result = {"topology": topo.to_dict(), "measurements": [],
              "matrix": {"rows": [0, 1], "columns": [0, 1, 2, 3], "latency_ns": latency,
                         "status": {r: {c: "measured" for c in latency[r]} for r in latency}}}
    spec = parse_spec({"checks": {"memory_only_nodes": [3, 2], "remote_local_latency_ratio_max": 2.5,
                                  "hugepages_1g_min_per_node": 1, "symmetry_pct_max": 1}})
    v = by_check(evaluate(spec, result))
    assert v["memory_only_nodes"].status == PASS and v["memory_only_nodes"].measured == [2, 3]
    assert v["remote_local_latency_ratio_max"].status == FAIL
    assert v["remote_local_latency_ratio_max"].measured == pytest.approx(3.0)  # 0->3: 300 / 100
    assert v["remote_local_latency_ratio_max"].detail.startswith("worst 0->3: x3.00")
    # 1 GiB pages only on node 2 (4 reserved): the other memory nodes have none.
    assert v["hugepages_1g_min_per_node"].status == FAIL and v["hugepages_1g_min_per_node"].measured == 0
    assert "node 2: 4 reserved, 3 free" in v["hugepages_1g_min_per_node"].detail
    # Two nodes with CPUs and memory, but no bandwidth matrix: missing data fails, it is not skipped.
    assert v["symmetry_pct_max"].status == FAIL and "no read bandwidth matrix" in v["symmetry_pct_max"].detail


def test_a_missing_cell_fails_with_its_reason(two_node):
    broken = copy.deepcopy(two_node)
    broken["matrix"]["latency_ns"]["1"]["1"] = None
    broken["matrix"]["status"]["1"]["1"] = "node 1's 2M hugepage pool has 0 free pages"
    v = by_check(evaluate(parse_spec({"checks": {"local_latency_ns_max": 1000}}), broken))
    assert v["local_latency_ns_max"].status == FAIL
    assert "cell 1->1 not measured: node 1's 2M hugepage pool has 0 free pages" in v["local_latency_ns_max"].detail


def test_a_result_without_bandwidth_fails_the_bandwidth_check(two_node):
    del two_node["matrix"]["bandwidth_bytes_per_s"]
    v = by_check(evaluate(parse_spec({"checks": {"node_read_bandwidth_gbps_min": 1}}), two_node))
    assert v["node_read_bandwidth_gbps_min"].status == FAIL
    assert "no read bandwidth matrix" in v["node_read_bandwidth_gbps_min"].detail


def test_misplaced_pages_fail_the_placement_check(two_node):
    m = two_node["measurements"][3]
    m["placement"]["ok"] = False
    m["pages_by_node"] = {"0": 10, "1": 16374}
    v = by_check(evaluate(parse_spec({"checks": {"placement": True}}), two_node))
    assert v["placement"].status == FAIL
    assert "7 of 8 measurements" in v["placement"].detail
    assert "'0': 10" in v["placement"].detail


def test_placement_is_skipped_when_nothing_was_measured(two_node):
    two_node["measurements"] = []
    v = by_check(evaluate(parse_spec({"checks": {"placement": True}}), two_node))
    assert v["placement"].status == SKIPPED and v["placement"].detail == "nothing was measured"


def test_a_result_without_topology_is_refused():
    with pytest.raises(NumabenchError, match="no topology section"):
        evaluate(parse_spec({"checks": {"nodes": 1}}), {"measurements": []})


def test_section_junit_cases_and_text(two_node):
    spec = load_spec(os.path.join(QDATA, "fail.yaml"))
    verdicts = evaluate(spec, two_node)
    section = qualification_section(spec, verdicts, evaluated_from="x.json")
    assert section["verdict"] == FAIL and section["counts"] == {"pass": 1, "fail": 9, "skipped": 0}
    assert section["checks"][0]["expected"] == "<= 92 ns"
    cases = junit_cases(verdicts)
    assert [c.name for c in cases] == list(spec.checks)
    assert cases[0].passed is False and cases[0].message == "local_latency_ns_max: measured 95.0 ns, expected <= 92 ns"
    assert cases[-1].passed is True
    text = format_verdicts(verdicts)
    assert re.search(r"^local_latency_ns_max\s+FAIL\s+95.0 ns\s+<= 92 ns", text, re.MULTILINE)
    assert text.rstrip().endswith("qualification: FAIL (1 passed, 9 failed, 0 skipped)")


# --------------------------------------------------------------------------- HTML


def qualified(result, spec_name="pass.yaml"):
    spec = load_spec(os.path.join(QDATA, spec_name))
    result["qualification"] = qualification_section(spec, evaluate(spec, result))
    return result


def test_html_is_self_contained_with_a_plot_per_section(two_node, tmp_path):
    result = qualified(two_node, "fail.yaml")
    result["latency_sweep"] = {"cpu_node": 0, "mem_node": 0, "pages": "4k",
                               "points": [{"size_bytes": 16384 << i, "latency_ns": 1.5 + 10 * i} for i in range(6)]}
    result["loaded_latency"] = {"cpu_node": 0, "mem_node": 0, "inject_node": 0, "kind": "read", "injectors": 3,
                                "points": [{"delay": d, "latency_ns": 300.0 - d / 10,
                                            "inject_bandwidth_bytes_per_s": 50e9 / (1 + d)} for d in (0, 100, 1000)]}
    text = render_html(result)
    assert text.startswith("<!DOCTYPE html>")
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"""(?:src|href)=["'](?!data:)""", text)  # nothing fetched from elsewhere
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)"', text)
    assert [alt for _, alt in images] == ["latency matrix", "bandwidth matrix", "latency vs size", "loaded latency"]
    for data, _ in images:
        assert base64.b64decode(data).startswith(PNG_SIGNATURE)
    table = re.search(r'<table class="verdicts">(.*?)</table>', text, re.DOTALL).group(1)
    assert table.count("<tr>") == 1 + 10
    assert '<td class="fail">FAIL</td>' in table and '<td class="pass">PASS</td>' in table
    assert "<code>local_latency_ns_max</code>" in table
    assert "Synthetic CPU" in text and "gold-1" in text
    path = tmp_path / "report.html"
    write_html(str(path), text)
    assert path.read_text() == text


def test_html_says_what_was_not_measured(two_node):
    text = render_html(qualified(two_node))
    assert "Latency vs size: not measured." in text
    assert "Loaded latency: not measured." in text
    assert len(re.findall(r'<img src="data:image/png;base64,', text)) == 2


def test_html_escapes_what_it_shows(two_node):
    two_node["environment"]["hostname"] = "<script>alert(1)</script>"
    text = render_html(qualified(two_node))
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_html_needs_a_qualification_section(two_node):
    with pytest.raises(NumabenchError, match="no qualification section"):
        render_html(two_node)
