"""The measured-vs-claimed checks (ACPI HMAT): per cell that the firmware gives a figure for,
the measured median as a percentage of the claim. Synthetic results on hwloc's trees that carry
HMAT (fakememinitiators-*, fakeheteromemtiers, memorysidecaches) and on the two-node result of
tests/data/qualify, which has no claims."""

import copy
import json
import os
import re
import xml.etree.ElementTree as ET

import pytest
from conftest import TESTS_DIR, extract_tree

from numabench.analysis.qualify import (
    CHECKS,
    FAIL,
    PASS,
    SKIPPED,
    claimed_comparison,
    evaluate,
    needs,
    parse_spec,
    qualification_section,
)
from numabench.host.topology import read_topology_tree
from numabench.render.html import render_html
from numabench.render.junit import junit_xml
from numabench.render.qualify import format_verdicts, junit_cases

HWLOC = os.path.join(TESTS_DIR, "data", "hwloc")
QDATA = os.path.join(TESTS_DIR, "data", "qualify")
LAT = "measured_vs_claimed_latency_pct_max"
BW = "measured_vs_claimed_bandwidth_pct_min"
INITIATORS = "fakememinitiators-1np2c+1npp+gi"


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """name -> Topology of the hwloc trees that carry HMAT files."""
    base = tmp_path_factory.mktemp("hmat")
    out = {}
    for name in (INITIATORS, "fakeheteromemtiers", "memorysidecaches"):
        out[name] = read_topology_tree(extract_tree(os.path.join(HWLOC, f"{name}.tar.bz2"), base / name))
    return out


def result_on(topo, latency=None, bandwidth=None, with_grid=True):
    """A `matrix`-shaped result on `topo`: every cell given in `latency` (ns) / `bandwidth` (bytes/s),
    {(row, column): value}, is measured; the claimed grid is built from the topology as `matrix` does."""
    rows, columns = list(topo.cpu_nodes), list(topo.memory_nodes)
    matrix = {"rows": rows, "columns": columns,
              "status": {str(r): {str(c): "measured" for c in columns} for r in rows}}
    for key, values in (("latency_ns", latency), ("bandwidth_bytes_per_s", bandwidth)):
        if values is not None:
            matrix[key] = {str(r): {str(c): values.get((r, c)) for c in columns} for r in rows}
    if with_grid:
        matrix["claimed"] = {str(r): {str(c): (topo.claimed(r, c).to_dict() if topo.claimed(r, c) else None)
                                      for c in columns} for r in rows}
    return {"topology": topo.to_dict(), "measurements": [], "matrix": matrix}


def verdicts(result, **checks):
    return {v.check: v for v in evaluate(parse_spec({"checks": checks}), result)}


# The claimed cells of the fakememinitiators tree (read latency ns, read bandwidth MB/s), from its
# node*/access1/initiators files (the CPU initiators; see test_hwloc_corpus for the oracle).
INITIATOR_CLAIMS = {(0, 5): (26, 131072), (0, 7): (77, 78644), (1, 8): (26, 131072), (1, 10): (77, 78644),
                    (2, 6): (26, 131072), (2, 7): (77, 78644), (3, 9): (26, 131072), (3, 10): (77, 78644)}


def all_cells(topo, value):
    return {(r, c): value for r in topo.cpu_nodes for c in topo.memory_nodes}


# --------------------------------------------------------------------------- the spec


def test_the_checks_are_in_the_spec_and_say_what_they_measure():
    spec = parse_spec({"checks": {LAT: 125, BW: 80}})
    assert spec.checks == {LAT: 125, BW: 80}
    assert needs(spec) == ["latency", "read"]
    assert needs(parse_spec({"checks": {LAT: 125}})) == ["latency"]
    assert needs(parse_spec({"checks": {BW: 80.5}})) == ["read"]
    assert (CHECKS[LAT].comparison, CHECKS[LAT].unit, CHECKS[LAT].placement_based) == ("<=", "%", False)
    assert (CHECKS[BW].comparison, CHECKS[BW].unit, CHECKS[BW].placement_based) == (">=", "%", False)


@pytest.mark.parametrize("value", ["fast", -5, True, [80], None])
def test_a_bad_bound_names_the_key_and_an_example(value):
    from numabench.errors import SpecError

    with pytest.raises(SpecError) as info:
        parse_spec({"checks": {BW: value}}, "spec.yaml")
    assert info.value.message.startswith(f"spec.yaml: checks.{BW}: expected a non-negative number")
    assert f"{BW}: 80" in info.value.fix


def test_a_misspelt_key_is_suggested():
    from numabench.errors import SpecError

    with pytest.raises(SpecError, match=f"did you mean {LAT}"):
        parse_spec({"checks": {"measured_vs_claimed_latency_max": 125}})


# --------------------------------------------------------------------------- verdicts on HMAT trees


def test_every_claimed_cell_is_judged_and_the_others_named(trees):
    topo = trees[INITIATORS]
    # Every cell measured at 1.5x its claim, but 3->10 at 2x: the worst latency cell.
    latency = {cell: 1.5 * lat for cell, (lat, _) in INITIATOR_CLAIMS.items()}
    latency[(3, 10)] = 154.0
    bandwidth = {cell: 0.9 * bw * 1e6 for cell, (_, bw) in INITIATOR_CLAIMS.items()}
    bandwidth[(0, 5)] = 0.5 * 131072e6
    v = verdicts(result_on(topo, latency, bandwidth), **{LAT: 150, BW: 80})
    assert v[LAT].status == FAIL and v[LAT].measured == pytest.approx(200.0)
    assert v[LAT].detail.startswith("worst 3->10: 200% (154.0 ns of 77 ns); 0->5: 150% (39.0 ns of 26 ns)")
    assert v[BW].status == FAIL and v[BW].measured == pytest.approx(50.0)
    assert v[BW].detail.startswith("worst 0->5: 50% (65.54 of 131.07 GB/s)")
    # 4 CPU rows x 6 memory columns: 8 claimed, the other 16 named as not judged.
    for verdict in v.values():
        unclaimed = re.search(r"no claim, not judged: (.*)$", verdict.detail).group(1).split(", ")
        assert len(unclaimed) == 16 and "0->6" in unclaimed and "0->5" not in unclaimed
    looser = verdicts(result_on(topo, latency, bandwidth), **{LAT: 200, BW: 50})
    assert looser[LAT].status == PASS and looser[BW].status == PASS  # bounds are inclusive


def test_unclaimed_cells_need_no_measurement(trees):
    """Only the claimed cells are read: an unclaimed cell that failed to measure changes nothing."""
    topo = trees[INITIATORS]
    latency = {cell: float(lat) for cell, (lat, _) in INITIATOR_CLAIMS.items()}
    result = result_on(topo, latency)
    result["matrix"]["status"]["0"]["6"] = "forbidden by cpuset: ..."
    v = verdicts(result, **{LAT: 100})
    assert v[LAT].status == PASS and v[LAT].measured == pytest.approx(100.0)


def test_a_claimed_cell_not_measured_fails_with_its_reason(trees):
    topo = trees[INITIATORS]
    latency = {cell: float(lat) for cell, (lat, _) in INITIATOR_CLAIMS.items()}
    del latency[(1, 8)]
    result = result_on(topo, latency)
    result["matrix"]["status"]["1"]["8"] = "node 8's 2M hugepage pool has 0 free pages"
    v = verdicts(result, **{LAT: 1000, BW: 1})
    assert v[LAT].status == FAIL
    assert v[LAT].detail.startswith("cell 1->8 not measured: node 8's 2M hugepage pool has 0 free pages")
    assert v[LAT].measured == pytest.approx(100.0)  # the worst of what was measured, still shown
    # No bandwidth matrix at all, yet the firmware claims bandwidth: a failure, not a skip.
    assert v[BW].status == FAIL and v[BW].measured is None
    assert v[BW].detail.startswith("the result has no read bandwidth matrix; no claim, not judged: ")


def test_a_tree_with_bandwidth_claims_only_skips_the_latency_check(trees):
    topo = trees["fakeheteromemtiers"]
    bandwidth = all_cells(topo, 5e9)
    v = verdicts(result_on(topo, all_cells(topo, 100.0), bandwidth), **{LAT: 125, BW: 80})
    assert v[LAT].status == SKIPPED and v[LAT].measured is None
    assert v[LAT].detail == ("the firmware's HMAT claims give no read latency for any node "
                             "(the kernel shows 0: not given)")
    # Claims: 0->0 1000, 0->8 100, 1->1 1000, 1->4 10000, 1->6 100, 2->2 10000, 2->9 100 MB/s.
    assert v[BW].status == FAIL and v[BW].measured == pytest.approx(50.0)  # 5 GB/s of 10 GB/s
    assert "0->8: 5000%" in v[BW].detail
    assert [(c.cpu_node, c.mem_node) for c in claimed_comparison(result_on(topo, None, bandwidth), "bandwidth")] == \
        [(0, 0), (0, 8), (1, 1), (1, 4), (1, 6), (2, 2), (2, 9)]


def test_initiators_without_figures_skip_both_checks(trees):
    topo = trees["memorysidecaches"]  # access0 names the initiators; every figure reads 0
    assert all(n.access and n.memory_side_caches for n in topo.nodes)
    v = verdicts(result_on(topo, all_cells(topo, 100.0), all_cells(topo, 1e10)), **{LAT: 125, BW: 80})
    assert v[LAT].status == SKIPPED and "give no read latency" in v[LAT].detail
    assert v[BW].status == SKIPPED and "give no read bandwidth" in v[BW].detail


def test_no_hmat_skips_with_the_reason():
    with open(os.path.join(QDATA, "two-node-result.json")) as f:
        two_node = json.load(f)
    v = verdicts(two_node, **{LAT: 125, BW: 80})
    for check in (LAT, BW):
        assert v[check].status == SKIPPED and v[check].measured is None
        assert v[check].detail.startswith("the firmware claims no figures (no ACPI HMAT")


def test_claims_read_from_the_topology_when_the_matrix_has_no_grid(trees):
    topo = trees[INITIATORS]
    latency = {cell: 2.0 * lat for cell, (lat, _) in INITIATOR_CLAIMS.items()}
    with_grid = verdicts(result_on(topo, latency), **{LAT: 150})[LAT]
    without = verdicts(result_on(topo, latency, with_grid=False), **{LAT: 150})[LAT]
    assert with_grid == without and without.status == FAIL and without.measured == pytest.approx(200.0)


def test_the_grid_is_what_is_judged(trees):
    """The grid is what `matrix` showed beside the cells, so a grid without a cell's claim wins."""
    topo = trees[INITIATORS]
    result = result_on(topo, {cell: float(lat) for cell, (lat, _) in INITIATOR_CLAIMS.items()})
    for row in result["matrix"]["claimed"].values():
        for c in row:
            row[c] = None
    assert verdicts(result, **{LAT: 100})[LAT].status == SKIPPED


def test_a_row_that_is_no_initiator_is_skipped_with_that_reason(trees):
    topo = trees[INITIATORS]
    result = result_on(topo, all_cells(topo, 100.0))
    result["matrix"]["rows"] = []  # no CPU node measured at all
    v = verdicts(result, **{LAT: 100})
    assert v[LAT].status == SKIPPED
    assert v[LAT].detail == "no CPU node of the matrix is an initiator the firmware gives a read latency for"


# --------------------------------------------------------------------------- outputs


def qualified(trees):
    topo = trees[INITIATORS]
    result = result_on(topo, {cell: 1.1 * lat for cell, (lat, _) in INITIATOR_CLAIMS.items()},
                       {cell: 0.5 * bw * 1e6 for cell, (_, bw) in INITIATOR_CLAIMS.items()})
    spec = parse_spec({"name": "hmat", "checks": {LAT: 125, BW: 80, "nodes": 11}})
    vs = evaluate(spec, result)
    result["qualification"] = qualification_section(spec, vs)
    return result, vs


def test_text_and_junit(trees):
    result, vs = qualified(trees)
    text = format_verdicts(vs)
    assert re.search(rf"^{LAT}\s+PASS\s+110.0 %\s+<= 125 %\s+worst ", text, re.MULTILINE)
    assert re.search(rf"^{BW}\s+FAIL\s+50.0 %\s+>= 80 %\s+worst ", text, re.MULTILINE)
    root = ET.fromstring(junit_xml("numabench qualify", junit_cases(vs)).split("\n", 1)[1])
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases[LAT].find("failure") is None and "0->5: 110%" in cases[LAT].find("system-out").text
    failure = cases[BW].find("failure")
    assert failure.get("message") == f"{BW}: measured 50.0 %, expected >= 80 %"
    assert "0->7: 50% (39.32 of 78.64 GB/s)" in failure.text


def test_junit_marks_a_skipped_claim_check_skipped_with_its_reason():
    with open(os.path.join(QDATA, "two-node-result.json")) as f:
        two_node = json.load(f)
    vs = evaluate(parse_spec({"checks": {LAT: 125}}), two_node)
    root = ET.fromstring(junit_xml("numabench qualify", junit_cases(vs)).split("\n", 1)[1])
    (case,) = root.iter("testcase")
    assert case.find("skipped").get("message").startswith(f"{LAT}: skipped: the firmware claims no figures")
    assert root.find("testsuite").get("skipped") == "1"


def test_html_has_the_claims_table(trees):
    result, _ = qualified(trees)
    text = render_html(result)
    table = re.search(r'<table class="claims">(.*?)</table>', text, re.DOTALL).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.DOTALL)
    assert len(rows) == 1 + len(INITIATOR_CLAIMS)
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r) for r in rows]
    assert cells[0] == ["CPU node", "memory node", "latency measured", "latency claimed", "% of claim",
                        "read bandwidth measured", "bandwidth claimed", "% of claim"]
    assert cells[1] == ["0", "5", "28.6 ns", "26 ns", "110%", "65.54 GB/s", "131.07 GB/s", "50%"]
    assert "<code>measured_vs_claimed_latency_pct_max</code>" in text


def test_html_without_claims_says_so():
    with open(os.path.join(QDATA, "two-node-result.json")) as f:
        result = json.load(f)
    spec = parse_spec({"checks": {LAT: 125}})
    result["qualification"] = qualification_section(spec, evaluate(spec, result))
    text = render_html(copy.deepcopy(result))
    assert 'class="claims"' not in text
    assert "Firmware claims (ACPI HMAT): none on this machine." in text
