"""numabench scan, without memory: chunk planning against free memory and the margin, node and CPU
choice on the captured four-node CXL tree, flagging against the node's median, the qualify check,
and the scan's figures in the schema, compare cells and Prometheus."""

import os

import pytest
from conftest import cgroup_v2_view as cpuset

from numabench.analysis.compare import cell_of
from numabench.analysis.qualify import FAIL, PASS, evaluate, needs, needs_scan, parse_spec
from numabench.errors import CpusetError, HugepageError, InsufficientMemoryError, TopologyError, UsageError
from numabench.host.topology import Topology, read_topology_tree
from numabench.measure.scan_plan import default_margin, parse_margin, plan_chunks, plan_scan
from numabench.render.prometheus import textfile
from numabench.results.scan import SCAN_LATENCY, SCAN_READ, chunk_figures, scan_groups, slowest_chunk
from numabench.results.schema import Measurement, csv_text, parse

CXL = os.path.join(os.path.dirname(__file__), "..", "data", "trees", "four-node-cxl")
MiB, GiB = 1 << 20, 1 << 30


@pytest.fixture(scope="module")
def topo():
    # nodes 0 (CPUs 0-7, 64 GiB, 256 free 2M pages), 1 (CPUs 8-15, 32 GiB), 2 and 3 memory-only.
    return read_topology_tree(CXL)


# --------------------------------------------------------------------------- chunk planning


def test_default_margin_is_1g_or_5_percent():
    assert default_margin(4 * GiB) == GiB
    assert default_margin(100 * GiB) == 5 * GiB


@pytest.mark.parametrize("text,total,expected", [("2G", 0, 2 * GiB), ("10%", 100 * GiB, 10 * GiB), ("0", 5, 0),
                                                 ("0%", GiB, 0), (" 512M ", 0, 512 * MiB)])
def test_parse_margin(text, total, expected):
    assert parse_margin(text, total) == expected


@pytest.mark.parametrize("text", ["100%", "-1%", "x%", "lots"])
def test_bad_margin(text):
    with pytest.raises(UsageError):
        parse_margin(text, GiB)


def test_all_chunks_the_margin_leaves():
    assert plan_chunks(10 * GiB + 5 * MiB, GiB, GiB) == 9
    assert plan_chunks(10 * GiB, GiB, 0) == 10
    assert plan_chunks(10 * GiB, GiB, GiB, max_chunks=3) == 3
    assert plan_chunks(10 * GiB, GiB, GiB, max_chunks=30) == 9


def test_an_explicit_size_is_scanned_exactly_or_refused():
    assert plan_chunks(10 * GiB, GiB, GiB, size_bytes=4 * GiB) == 4
    with pytest.raises(InsufficientMemoryError) as info:
        plan_chunks(10 * GiB, GiB, GiB, size_bytes=10 * GiB)
    message = str(info.value)
    assert "10 GiB" in message and "margin 1 GiB" in message and "leaves 9 GiB" in message
    assert "--chunk" in message or "--size" in message
    with pytest.raises(UsageError, match="multiple of --chunk"):
        plan_chunks(10 * GiB, GiB, GiB, size_bytes=GiB + 1)


def test_not_one_chunk_fits():
    with pytest.raises(InsufficientMemoryError, match="not even one 2 GiB chunk fits"):
        plan_chunks(2 * GiB, 2 * GiB, GiB)
    with pytest.raises(InsufficientMemoryError):
        plan_chunks(0, MiB, 0)


@pytest.mark.parametrize("chunk,max_chunks", [(0, None), (-1, None), (GiB, 0)])
def test_zero_chunk_or_count(chunk, max_chunks):
    with pytest.raises(UsageError):
        plan_chunks(10 * GiB, chunk, GiB, max_chunks=max_chunks)


# --------------------------------------------------------------------------- plan_scan on the CXL tree


def test_plan_uses_the_node_free_memory_less_the_margin(topo):
    plan = plan_scan(topo, cpuset(), node=1, chunk_bytes=GiB)
    free = topo.node(1).mem_free_bytes
    assert plan.margin_bytes == max(GiB, int(topo.node(1).mem_total_bytes * 0.05))
    assert plan.chunks == (free - plan.margin_bytes) // GiB
    assert (plan.cpu_node, plan.cpus) == (1, tuple(range(8, 16)))
    assert plan.spec().mem_nodes == (1,) and plan.spec().kernels == (SCAN_READ,)


def test_memory_only_node_is_read_from_the_nearest_cpu_node(topo):
    plan = plan_scan(topo, cpuset(), node=3, chunk_bytes=GiB, max_chunks=2, latency=True)
    assert plan.cpu_node == 1  # distance 24 from node 1, 30 from node 0
    assert plan.chunks == 2 and "nearest CPU node 1" in plan.notes[0]
    assert plan.spec().kernels == (SCAN_LATENCY, SCAN_READ)


def test_hugepage_scan_draws_on_the_pool_without_margin(topo):
    plan = plan_scan(topo, cpuset(), node=0, chunk_bytes=64 * MiB, pages="2m")
    assert (plan.margin_bytes, plan.chunks) == (0, 256 * 2 * MiB // (64 * MiB))
    with pytest.raises(UsageError, match="whole number of 2M pages"):
        plan_scan(topo, cpuset(), node=0, chunk_bytes=3 * MiB, pages="2m")
    with pytest.raises(InsufficientMemoryError):
        plan_scan(topo, cpuset(), node=1, chunk_bytes=64 * MiB, pages="2m")


def test_bad_nodes_are_refused(topo):
    with pytest.raises(TopologyError):
        plan_scan(topo, cpuset(), node=9)
    with pytest.raises(CpusetError):
        plan_scan(topo, cpuset(mems=(0,)), node=1)
    with pytest.raises(InsufficientMemoryError):
        plan_scan(topo, cpuset(), node=3, chunk_bytes=64 * GiB)
    with pytest.raises(UsageError):
        plan_scan(topo, cpuset(), node=0, threads=9)
    with pytest.raises(UsageError):
        plan_scan(topo, cpuset(), node=0, threshold_pct=0)
    with pytest.raises(InsufficientMemoryError, match="free 0 B"):  # node 0's 1G pool is empty
        plan_scan(topo, cpuset(), node=0, pages="1g", chunk_bytes=GiB)
    doc = topo.to_dict()
    doc["nodes"][0]["hugepages"] = []
    with pytest.raises(HugepageError, match="no 1G hugepages on node 0"):
        plan_scan(Topology.from_dict(doc), cpuset(), node=0, pages="1g", chunk_bytes=GiB)


def test_a_node_without_memory_is_refused(topo):
    doc = topo.to_dict()
    doc["nodes"][1]["mem_total_bytes"] = doc["nodes"][1]["mem_free_bytes"] = 0
    with pytest.raises(UsageError, match="node 1 has no memory"):
        plan_scan(Topology.from_dict(doc), cpuset(), node=1, chunk_bytes=MiB)


# --------------------------------------------------------------------------- flagging


def test_chunks_outside_the_median_by_more_than_the_threshold_are_flagged():
    median, figures = chunk_figures([(0, 100.0), (1, 95.0), (2, 80.0), (3, 112.0), (4, 100.0)], SCAN_READ, 10)
    assert median == 100.0
    assert [f.flagged for f in figures] == [False, False, True, True, False]
    assert figures[2].deviation_pct == pytest.approx(-20.0) and figures[2].shortfall_pct == pytest.approx(20.0)
    assert slowest_chunk([(0, 100.0), (1, 80.0), (2, 100.0)], SCAN_READ).chunk == 1
    # Latency: higher is worse.
    assert slowest_chunk([(0, 100.0), (1, 130.0), (2, 100.0)], SCAN_LATENCY).shortfall_pct == pytest.approx(30.0)
    assert chunk_figures([], SCAN_READ) == (None, [])


# --------------------------------------------------------------------------- records and readers


def scan_measurement(chunk, gbps, node=0, kernel=SCAN_READ):
    figure = {"bandwidth_bytes_per_s": gbps * 1e9} if kernel == SCAN_READ else {"latency_ns": gbps}
    return Measurement(kernel=kernel, cpu_node=0, mem_node=node, mem_nodes=[node], policy="bind", pages="4k",
                       size_bytes=GiB, threads=2, cpus=[0, 1], samples=[gbps * 1e9] * 3,
                       unit="bytes/s" if kernel == SCAN_READ else "ns", pages_by_node={str(node): 262144},
                       placement={"ok": True}, details={"chunk": chunk, "flagged": False,
                                                        "physical": {"readable": False, "reason": "test"}},
                       **figure)


def scan_result(values, topo):
    return {"schema_version": 1, "topology": topo.to_dict(), "environment": {"hostname": "h"},
            "measurements": [scan_measurement(c, v, node).to_dict() for node, c, v in values]}


def test_scan_measurement_round_trips_and_has_a_csv_chunk(topo):
    doc = scan_result([(0, 0, 10.0), (0, 1, 9.0)], topo)
    again = parse(doc).to_dict()["measurements"]
    assert again == doc["measurements"]
    assert again[1]["chunk"] == 1 and again[1]["physical"]["reason"] == "test"
    lines = csv_text(parse(doc)).splitlines()
    assert lines[0].endswith(",chunk") and lines[1].endswith(",0") and lines[2].endswith(",1")


def test_compare_cells_and_groups_keep_chunks_apart(topo):
    doc = scan_result([(0, 0, 10.0), (0, 1, 9.0), (1, 0, 7.0)], topo)
    cells = {cell_of(m) for m in doc["measurements"]}
    assert len(cells) == 3 and "chunk 1" in cell_of(doc["measurements"][1]).label
    assert scan_groups(doc["measurements"]) == {(0, SCAN_READ): [(0, 10e9), (1, 9e9)], (1, SCAN_READ): [(0, 7e9)]}


def test_prometheus_writes_one_series_per_chunk_and_the_shortfall(topo):
    text = textfile(scan_result([(0, 0, 10.0), (0, 1, 8.0), (0, 2, 10.0)], topo))
    assert text.count("numabench_scan_chunk_bandwidth_bytes_per_second{") == 3
    assert 'chunk="2"' in text and "duplicate" not in text
    assert 'numabench_scan_slowest_chunk_shortfall_percent{node="h",mem_node="0",kernel="scan_read"} 20.0' in text
    assert "numabench_bandwidth_bytes_per_second{" not in text


# --------------------------------------------------------------------------- qualify


def spec(bound=10, **scan):
    return parse_spec({"measure": {"scan": scan} if scan else {}, "checks": {"scan_slowest_chunk_pct_max": bound}})


def test_the_check_needs_a_scan_and_no_matrix():
    s = spec(chunk="256M", max_chunks=4, nodes=[1, 0], margin="5%")
    assert needs_scan(s) and needs(s) == []
    assert (s.measure.scan.chunk_bytes, s.measure.scan.max_chunks, s.measure.scan.nodes) == (256 * MiB, 4, (0, 1))
    assert not needs_scan(parse_spec({"checks": {"nodes": 1}}))


@pytest.mark.parametrize("scan", [{"nodes": []}, {"chunk": "x"}, {"max_chunks": 0}, {"slices": 3}])
def test_bad_scan_settings(scan):
    with pytest.raises(UsageError):
        spec(**scan)


def test_slowest_chunk_check(topo):
    doc = scan_result([(0, 0, 10.0), (0, 1, 9.5), (0, 2, 10.0), (1, 0, 10.0), (1, 1, 8.0), (1, 2, 10.0)], topo)
    [v] = evaluate(spec(10), doc)
    assert v.status == FAIL and v.measured == pytest.approx(20.0) and "node 1: slowest chunk 1" in v.detail
    [v] = evaluate(spec(25), doc)
    assert v.status == PASS


def test_slowest_chunk_check_fails_without_a_scan_or_with_one_chunk(topo):
    [v] = evaluate(spec(10), scan_result([], topo))
    assert v.status == FAIL and "no memory scan" in v.detail
    [v] = evaluate(spec(10), scan_result([(0, 0, 10.0)], topo))
    assert v.status == FAIL and "2+ chunks" in v.detail


# --------------------------------------------------------------------------- memory cgroup headroom


def cgroup_tree(tmp_path, cgroup_line, mount_line, files):
    proc = tmp_path / "proc" / "self"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text(cgroup_line + "\n")
    (proc / "mountinfo").write_text(mount_line + "\n")
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return str(tmp_path / "proc"), str(tmp_path)


def test_headroom_is_the_tightest_level_of_a_v2_hierarchy(tmp_path):
    from numabench.host.memlimit import memory_headroom_bytes

    proc, root = cgroup_tree(tmp_path, "0::/kubepods/pod1/c1",
                             "41 31 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw",
                             {"sys/fs/cgroup/kubepods/pod1/c1/memory.max": "max",
                              "sys/fs/cgroup/kubepods/pod1/c1/memory.current": "100",
                              "sys/fs/cgroup/kubepods/pod1/memory.max": str(4 * GiB),
                              "sys/fs/cgroup/kubepods/pod1/memory.current": str(GiB),
                              "sys/fs/cgroup/kubepods/memory.max": "max",
                              "sys/fs/cgroup/kubepods/memory.current": str(9 * GiB)})
    assert memory_headroom_bytes(proc, root) == 3 * GiB


def test_no_limit_in_v1_is_none(tmp_path):
    from numabench.host.memlimit import memory_headroom_bytes

    proc, root = cgroup_tree(tmp_path, "4:memory:/a",
                             "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
                             {"sys/fs/cgroup/memory/a/memory.limit_in_bytes": "9223372036854771712",
                              "sys/fs/cgroup/memory/a/memory.usage_in_bytes": "5000",
                              "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712",
                              "sys/fs/cgroup/memory/memory.usage_in_bytes": "5000"})
    assert memory_headroom_bytes(proc, root) is None
    (tmp_path / "sys/fs/cgroup/memory/a/memory.limit_in_bytes").write_text(str(2 * GiB))
    assert memory_headroom_bytes(proc, root) == 2 * GiB - 5000
    assert memory_headroom_bytes(str(tmp_path / "absent"), root) is None


def test_a_memory_limit_bounds_the_scan(topo):
    from numabench.measure.scan_plan import CGROUP_CUSHION_BYTES, scan_free_bytes

    assert scan_free_bytes(10 * GiB, GiB, None) == 10 * GiB
    assert scan_free_bytes(10 * GiB, GiB, 3 * GiB) == 4 * GiB - CGROUP_CUSHION_BYTES
    assert scan_free_bytes(10 * GiB, GiB, 30 * GiB) == 10 * GiB
    plan = plan_scan(topo, cpuset(), node=1, chunk_bytes=GiB, memory_headroom_bytes=3 * GiB + CGROUP_CUSHION_BYTES)
    assert plan.chunks == 3 and "memory cgroup allows" in plan.notes[-1]
    with pytest.raises(InsufficientMemoryError):
        plan_scan(topo, cpuset(), node=1, chunk_bytes=GiB, memory_headroom_bytes=GiB // 2)
    # Hugepages are charged to the hugetlb controller, not memory.max.
    assert plan_scan(topo, cpuset(), node=0, chunk_bytes=64 * MiB, pages="2m", memory_headroom_bytes=0).chunks == 8
