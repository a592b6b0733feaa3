"""numabench peak and the bandwidth-vs-threads sweep as data: option parsing, plans against the
captured four-node CXL tree, the result schema round trip, curves, qualify checks, compare cells
and Prometheus series. Nothing here measures."""

import copy
import json
import os

import pytest

from numabench.analysis.compare import cell_of, compare_results, parse_threshold
from numabench.analysis.qualify import FAIL, PASS, evaluate, measures_extra, needs, parse_spec
from numabench.analysis.sweep import format_sweep_table, sweep_curves
from numabench.constants import KERNEL_METRICS, PEAK_KERNELS, PEAK_MIXES, PEAK_NATIVE_KERNELS
from numabench.errors import SpecError, UsageError
from numabench.host.cgroups import CpusetView
from numabench.host.topology import read_topology_tree
from numabench.measure.peak import MIX_COUNTS, bytes_per_elem, parse_mixes, peak_nodes, plan_peak
from numabench.measure.spec import RunOptions, parse_threads, plan_run
from numabench.render.peak import format_peak_summary
from numabench.render.prometheus import textfile
from numabench.results.schema import Measurement, parse
from numabench.util.stats import summarize

DATA = os.path.join(os.path.dirname(__file__), "..", "data")
CXL = os.path.join(DATA, "trees", "four-node-cxl")
MiB = 1 << 20


@pytest.fixture(scope="module")
def topo():
    # nodes 0 (CPUs 0-7), 1 (CPUs 8-15), 2 and 3 memory-only.
    return read_topology_tree(CXL)


def cpuset(cpus=tuple(range(16)), mems=(0, 1, 2, 3)):
    return CpusetView(cgroup_version=2, cgroup_path="/x", cpuset_cpus=cpus, cpuset_mems=mems, cpus_allowed=cpus,
                      mems_allowed=mems, cpuset_dir=None)


# --------------------------------------------------------------------------- options


def test_mixes_parse_in_mlc_order_and_refuse_unknown_ones():
    assert parse_mixes("triad, 1:0,3:1,1:0") == ["1:0", "3:1", "triad"]
    assert parse_mixes(",".join(PEAK_MIXES)) == list(PEAK_MIXES)
    for bad in ("4:1", "", "read"):
        with pytest.raises(UsageError, match="mix") as info:
            parse_mixes(bad)
        assert info.value.exit_code == 2


def test_mix_names_counts_and_kernels_agree():
    assert PEAK_KERNELS == {"1:0": "peak_1to0", "3:1": "peak_3to1", "2:1": "peak_2to1", "1:1": "peak_1to1",
                            "triad": "peak_triad"}
    assert set(PEAK_NATIVE_KERNELS) == set(PEAK_KERNELS.values())
    assert all(KERNEL_METRICS[k] == "bandwidth" for k in PEAK_KERNELS.values())
    # reads:writes in bytes is the name; bytes counted are reads plus writes, 8 each.
    assert {m: bytes_per_elem(m) for m in PEAK_MIXES} == {"1:0": 8, "3:1": 32, "2:1": 24, "1:1": 16, "triad": 24}
    for mix in ("3:1", "2:1", "1:1"):
        reads, writes = MIX_COUNTS[mix]
        assert f"{reads}:{writes}" == mix


@pytest.mark.parametrize("text, expected", [
    ("4", (4, None)), (" 1,2,4,8 ", (None, [1, 2, 4, 8])), ("8,2,2,1", (None, [1, 2, 8])),
    ("1..8", (None, [1, 2, 4, 8])), ("1..6", (None, [1, 2, 4, 6])), ("3..13", (None, [3, 6, 12, 13])),
    ("2..2", (None, [2])),
])
def test_thread_counts_parse_ascending(text, expected):
    assert parse_threads(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "a", "1,x", "4..2", "0..4", "1..", "2,0"])
def test_bad_thread_counts_are_usage_errors(text):
    with pytest.raises(UsageError, match="--threads"):
        parse_threads(text)


# --------------------------------------------------------------------------- plans


def test_sweep_plan_runs_ascending_counts_on_distinct_cpus(topo):
    plan = plan_run(topo, cpuset(), RunOptions(cpu_nodes=[1], kernels=["latency", "read", "triad"], pages=["4k"],
                                              size_bytes=64 * MiB, thread_counts=[4, 1, 2, 8]))
    (spec,) = plan.specs
    assert spec.thread_counts == (1, 2, 4, 8) == spec.bandwidth_thread_counts
    assert spec.cpus == tuple(range(8, 16))
    # Each count pins that many distinct CPUs of the node: a prefix of the node's allowed CPUs.
    for count in spec.bandwidth_thread_counts:
        cpus = spec.cpus[:count]
        assert len(set(cpus)) == count and set(cpus) <= set(topo.node(1).cpus)


def test_threads_sweep_is_powers_of_two_and_every_allowed_cpu(topo):
    allowed = (0, 1, 2, 3, 4, 5)  # 6 CPUs of node 0 allowed
    (spec,) = plan_run(topo, cpuset(cpus=allowed), RunOptions(cpu_nodes=[0], kernels=["read"], pages=["4k"],
                                                             size_bytes=64 * MiB, threads_sweep=True)).specs
    assert spec.thread_counts == (1, 2, 4, 6)
    assert spec.cpus == allowed


def test_without_a_sweep_the_spec_runs_once(topo):
    (spec,) = plan_run(topo, cpuset(), RunOptions(cpu_nodes=[0], kernels=["read"], pages=["4k"],
                                                 size_bytes=64 * MiB, threads=3)).specs
    assert spec.thread_counts == () and spec.bandwidth_thread_counts == (3,)


def test_sweep_beyond_the_allowed_cpus_is_refused(topo):
    with pytest.raises(UsageError, match="--threads 9 but CPU node 0 has 8 allowed CPUs") as info:
        plan_run(topo, cpuset(), RunOptions(cpu_nodes=[0], kernels=["read"], pages=["4k"], size_bytes=64 * MiB,
                                            thread_counts=[1, 9]))
    assert info.value.exit_code == 2
    with pytest.raises(UsageError, match="not both"):
        plan_run(topo, cpuset(), RunOptions(kernels=["read"], pages=["4k"], threads=2, threads_sweep=True))


def test_latency_only_sweep_says_so(topo):
    plan = plan_run(topo, cpuset(), RunOptions(cpu_nodes=[0], kernels=["latency"], pages=["4k"], size_bytes=64 * MiB,
                                              thread_counts=[1, 2]))
    assert plan.specs[0].thread_counts == ()
    assert any("bandwidth kernels only" in n for n in plan.notes)


def test_peak_plan_every_node_every_mix(topo):
    plan = plan_peak(topo, cpuset(), all_nodes=True, size_bytes=64 * MiB, repeat=3)
    assert [(s.cpu_node, s.mem_nodes) for s in plan.specs] == [(0, (0,)), (1, (1,))]
    for spec in plan.specs:
        assert spec.kernels == tuple(PEAK_KERNELS[m] for m in PEAK_MIXES)
        assert spec.cpus == topo.node(spec.cpu_node).cpus  # every allowed CPU streams
        assert spec.policy == "bind" and spec.repeat == 3


def test_peak_plan_on_a_memory_only_node_and_with_threads(topo):
    (spec,) = plan_peak(topo, cpuset(), nodes=[1], mem_node=2, mixes=["triad"], size_bytes=64 * MiB, threads=2,
                        repeat=1).specs
    assert (spec.cpu_node, spec.mem_nodes, spec.cpus, spec.kernels) == (1, (2,), (8, 9), ("peak_triad",))


@pytest.mark.parametrize("kwargs, match", [
    ({"nodes": [2]}, "node 2 has no CPUs"),
    ({"nodes": [0], "threads": 9}, "--threads 9 but CPU node 0 has 8"),
    ({"nodes": [0], "all_nodes": True}, "--node and --all-nodes"),
    ({"nodes": [0], "mixes": ["5:1"]}, "unknown read/write mix 5:1"),
])
def test_peak_bad_input_is_exit_2(topo, kwargs, match):
    with pytest.raises(UsageError, match=match) as info:
        plan_peak(topo, cpuset(), size_bytes=64 * MiB, repeat=1, **kwargs)
    assert info.value.exit_code == 2


def test_peak_nodes_follow_the_cpuset(topo):
    assert peak_nodes(topo, cpuset(cpus=(9, 10)), None, True) == [1]
    assert peak_nodes(topo, cpuset(), None, False) == [0]


# --------------------------------------------------------------------------- results


def bw(kernel, threads, gbps, cpu_node=0, **details):
    samples = [gbps * 1e9 * (1 + (i - 4) / 400) for i in range(9)]  # 9: enough for the U test
    return Measurement(kernel=kernel, cpu_node=cpu_node, mem_node=cpu_node, mem_nodes=[cpu_node], policy="bind",
                       pages="4k", size_bytes=64 * MiB, threads=threads, cpus=list(range(threads)), samples=samples,
                       unit="bytes/s", pages_by_node={str(cpu_node): 16384}, bandwidth_bytes_per_s=gbps * 1e9,
                       stats=summarize(samples), placement={"ok": True, "method": "mbind", "verified_by": "move_pages"},
                       details=details)


@pytest.fixture
def doc():
    """A two-node qualify result with peak and sweep measurements added."""
    with open(os.path.join(DATA, "qualify", "two-node-result.json")) as f:
        result = json.load(f)
    ms = []
    for node in (0, 1):
        for mix, gbps in zip(PEAK_MIXES, (100.0, 90.0, 85.0, 80.0, 70.0)):
            ms.append(bw(PEAK_KERNELS[mix], 8, gbps - node, node, mix=mix, native_kernel=PEAK_NATIVE_KERNELS[
                PEAK_KERNELS[mix]]))
        for t, gbps in ((1, 20.0), (2, 39.0), (4, 70.0), (8, 68.0)):
            ms.append(bw("read", t, gbps - node, node, thread_sweep=[1, 2, 4, 8]))
    result["measurements"] = [m.to_dict() for m in ms]
    return result


def test_schema_round_trip_keeps_mix_and_sweep(doc):
    result = parse(copy.deepcopy(doc))
    back = result.to_dict()["measurements"]
    assert back == doc["measurements"]
    assert back[2]["mix"] == "2:1" and back[2]["kernel"] == "peak_2to1"
    assert back[5]["thread_sweep"] == [1, 2, 4, 8]


def test_curves_and_saturation(doc):
    curves = sweep_curves(doc["measurements"])
    assert [(c.kernel, c.cpu_node) for c in curves] == [("read", 0), ("read", 1)]
    c0 = curves[0]
    assert [p.threads for p in c0.points] == [1, 2, 4, 8]
    assert c0.saturation.threads == 4 and c0.saturation.bandwidth_bytes_per_s == 70e9
    assert c0.to_dict()["saturation_threads"] == 4
    table = format_sweep_table(curves)
    assert "saturation: read node 0->0 4k: 70.00 GB/s at 4 thread(s)" in table
    # Peak measurements are not sweeps.
    assert all(c.kernel == "read" for c in curves)


def test_peak_summary_rows_are_mlc_names(doc):
    text = format_peak_summary(doc)
    assert "ALL Reads" in text and "Stream-triad like" in text
    assert "node 1->1 (8 thr)" in text
    row = next(line for line in text.splitlines() if line.startswith("3:1 Reads-Writes"))
    assert row.split()[-2:] == ["90.00", "89.00"]


def spec_of(checks):
    return parse_spec({"checks": checks}, "test.yaml")


def test_qualify_peak_and_sweep_checks_pass_and_fail(doc):
    spec = spec_of({"peak_bandwidth_gbps_min": {"1:0": 99, "triad": 60}, "sweep_saturation_gbps_min": 69})
    assert needs(spec) == [] and measures_extra(spec) == ["peak", "thread_sweep"]
    peak, sweep = evaluate(spec, doc)
    assert (peak.status, sweep.status) == (PASS, PASS)
    assert sweep.measured == pytest.approx(69.0)  # node 1's saturation, the worst
    peak, sweep = evaluate(spec_of({"peak_bandwidth_gbps_min": 95, "sweep_saturation_gbps_min": 69.5}), doc)
    assert peak.status == FAIL and "node 0 3:1: 90.00 < 95" in peak.detail
    assert sweep.status == FAIL and sweep.measured == pytest.approx(69.0)


def test_qualify_never_passes_on_missing_figures(doc):
    doc["measurements"] = [m for m in doc["measurements"] if m.get("mix") != "triad" and not m.get("thread_sweep")]
    peak, sweep = evaluate(spec_of({"peak_bandwidth_gbps_min": {"triad": 1}, "sweep_saturation_gbps_min": 1}), doc)
    assert peak.status == FAIL and "mix triad not measured" in peak.detail
    assert sweep.status == FAIL and "no read thread sweep" in sweep.detail


@pytest.mark.parametrize("bound, match", [({"4:1": 3}, "unknown read/write mix"), ({"1:0": "x"}, "mapping of mixes"),
                                          (-1, "a number or a mapping"), ({60: 3}, "unknown read/write mix")])
def test_qualify_peak_bounds_are_checked(bound, match):
    with pytest.raises(SpecError, match=match):
        spec_of({"peak_bandwidth_gbps_min": bound})


def test_compare_cells_per_mix_and_per_thread_count(doc):
    cells = {cell_of(m) for m in doc["measurements"]}
    assert len(cells) == len(doc["measurements"])  # every mix and every thread count is its own cell
    assert parse_threshold("peak_3to1:-5%").selector == "peak_3to1"
    slower = copy.deepcopy(doc)
    for m in slower["measurements"]:
        if m["kernel"] == "peak_3to1":
            m["samples"] = [s * 0.8 for s in m["samples"]]
            m["bandwidth_bytes_per_s"] *= 0.8
    comparison = compare_results(doc, slower)
    rows = {(r["cell"]["kernel"], r["cell"]["cpu_node"], r["cell"]["threads"]): r for r in comparison["rows"]}
    assert rows[("peak_3to1", 0, 8)]["status"] == "regression"
    assert rows[("peak_1to1", 0, 8)]["status"] != "regression"
    assert rows[("read", 1, 4)]["cell"]["threads"] == 4


def test_prometheus_series_per_mix_and_thread_count(doc):
    text = textfile(doc)
    assert 'kernel="peak_3to1",cpu_node="0",mem_node="0",policy="bind",page_size="4k"' in text
    series = [line for line in text.splitlines() if line.startswith("numabench_bandwidth_bytes_per_second{")]
    assert len(series) == 18
    assert any('kernel="read"' in s and 'threads="4"' in s and s.endswith(" 70000000000.0") for s in series)


def test_prometheus_sweep_saturation_series(doc):
    lines = [line for line in textfile(doc).splitlines()
             if line.startswith("numabench_sweep_saturation_bytes_per_second{")]
    assert len(lines) == 2
    assert 'kernel="read",cpu_node="0",mem_node="0"' in lines[0] and 'threads="4"' in lines[0]
    assert lines[0].endswith(" 70000000000.0") and lines[1].endswith(" 69000000000.0")


def test_html_report_plots_peak_and_the_sweep(doc, tmp_path):
    pytest.importorskip("matplotlib", reason="the HTML report needs the [report] extra")
    from numabench.render.html import render_measurements_html

    text = render_measurements_html(doc, "numabench peak")
    assert text.count('src="data:image/png;base64,') == 3  # peak bars, one sweep plot per node
    assert "saturation (ringed): read 70.00 GB/s at 4 thr" in text
    assert "peak_3to1" in text and "3:1" in text
    doc["measurements"] = doc["measurements"][:1]
    assert "Bandwidth vs threads: not measured." in render_measurements_html(doc, "x")
