"""Matrix planning and assembly on the captured four-node CXL topology: memory-only
nodes are columns only, forbidden cells are shown and not measured, ratios and
distances sit beside the values."""

import os

import pytest
from conftest import cgroup_v2_view

from numabench.host.topology import read_topology_tree
from numabench.measure.matrix import build_matrix, plan_matrix
from numabench.render.text import format_matrix

CXL = os.path.join(os.path.dirname(__file__), "..", "data", "trees", "four-node-cxl")


@pytest.fixture(scope="module")
def topo():
    return read_topology_tree(CXL)


def plan(topo, mems, **kw):
    args = dict(kernels=["latency", "read"], pages="4k", size_bytes=64 << 20, threads=1, repeat=1)
    args.update(kw)
    return plan_matrix(topo, cgroup_v2_view(mems=mems), **args)


def fake_measurements(specs, latency_of):
    out = []
    for s in specs:
        out.append({"kernel": "latency", "cpu_node": s.cpu_node, "mem_node": s.mem_node,
                    "latency_ns": latency_of(s.cpu_node, s.mem_node)})
        out.append({"kernel": "read", "cpu_node": s.cpu_node, "mem_node": s.mem_node,
                    "bandwidth_bytes_per_s": 1e10 / latency_of(s.cpu_node, s.mem_node)})
    return out


def test_rows_are_cpu_nodes_and_columns_memory_nodes(topo):
    p = plan(topo, (0, 1, 2, 3))
    assert p.rows == [0, 1]
    assert p.columns == [0, 1, 2, 3]
    assert sorted((s.cpu_node, s.mem_node) for s in p.specs) == [(r, c) for r in (0, 1) for c in (0, 1, 2, 3)]
    assert p.skipped == {}


def test_forbidden_cells_are_not_planned(topo):
    p = plan(topo, (0, 2))
    assert sorted((s.cpu_node, s.mem_node) for s in p.specs) == [(0, 0), (0, 2), (1, 0), (1, 2)]
    assert set(p.skipped) == {(0, 1), (0, 3), (1, 1), (1, 3)}
    assert all(reason.startswith("forbidden by cpuset") for reason in p.skipped.values())


def test_matrix_values_ratios_and_distances(topo):
    p = plan(topo, (0, 1, 2, 3))
    latency = {(0, 0): 100.0, (0, 1): 150.0, (0, 2): 250.0, (0, 3): 300.0,
               (1, 0): 180.0, (1, 1): 90.0, (1, 2): 270.0, (1, 3): 360.0}
    doc = build_matrix(topo, p, fake_measurements(p.specs, lambda c, m: latency[(c, m)]), [])
    assert doc["memory_only"] == [2, 3]
    assert doc["latency_ns"]["1"]["0"] == 180.0
    assert doc["latency_ratio_to_local"]["0"]["1"] == pytest.approx(1.5)
    assert doc["latency_ratio_to_local"]["1"]["3"] == pytest.approx(4.0)
    assert doc["bandwidth_ratio_to_local"]["0"]["2"] == pytest.approx(100.0 / 250.0)
    for r in (0, 1):
        for c in (0, 1, 2, 3):
            assert doc["distances"][str(r)][str(c)] == topo.distance(r, c)
    text = format_matrix(doc)
    assert "150.0 x1.50" in text
    assert "2*" in text and "3*" in text
    assert "memory-only node" in text


def test_forbidden_and_failed_cells_render_without_values(topo):
    p = plan(topo, (0, 1))
    doc = build_matrix(topo, p, fake_measurements([s for s in p.specs if (s.cpu_node, s.mem_node) != (1, 1)],
                                                 lambda c, m: 100.0 + 10 * (c != m)),
                       [{"cpu_node": 1, "mem_nodes": [1], "error": "node 1's 2M hugepage pool ran out"}])
    assert doc["status"]["0"]["2"].startswith("forbidden by cpuset")
    assert doc["status"]["1"]["1"] == "node 1's 2M hugepage pool ran out"
    assert doc["latency_ns"]["1"]["1"] is None
    # Without a local value, row 1 has no ratios.
    assert doc["latency_ratio_to_local"]["1"]["0"] is None
    text = format_matrix(doc)
    assert "forbidden" in text
    assert "cpu node 1 -> mem node 1: node 1's 2M hugepage pool ran out" in text
