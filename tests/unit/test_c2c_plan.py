"""numabench c2c without measuring: pair enumeration, relation grouping (hand-made CPU places and
hwloc's captured trees), the checks that refuse bad input, the c2c section and its renderings."""

import collections
import json
import os

import pytest
from conftest import TESTS_DIR, extract_tree
from conftest import cgroup_v2_view as view

from numabench.analysis.compare import cell_of
from numabench.constants import C2C_RELATIONS
from numabench.errors import CpusetError, TopologyError, UsageError
from numabench.host.cpus import CpuPlace, read_cpu_places
from numabench.host.topology import read_topology_tree
from numabench.measure.c2c import (
    build_c2c_section,
    enumerate_pairs,
    group_by_relation,
    line_node_of,
    parse_pairs,
    plan_c2c,
    relation,
)
from numabench.render.c2c import csv_text, format_c2c
from numabench.render.prometheus import textfile

CXL = os.path.join(TESTS_DIR, "data", "trees", "four-node-cxl")  # nodes 0 (CPUs 0-7), 1 (8-15), 2, 3 memory-only
HWLOC = os.path.join(TESTS_DIR, "data", "hwloc")


@pytest.fixture(scope="module")
def topo():
    return read_topology_tree(CXL)


def hand_places(cpus):
    """Node 0: two L3s (CPUs 0-3, 4-7), cores of two SMT threads (0,1), (2,3), ...; node 1 alike."""
    out = {}
    for c in cpus:
        core = c // 2 * 2
        llc = tuple(range(c // 4 * 4, c // 4 * 4 + 4))
        out[c] = CpuPlace(c, c // 8, 0, core, (core, core + 1), llc, 3)
    return out


# --------------------------------------------------------------------------- relations


def test_relation_nearest_first_on_hand_made_places(topo):
    places = hand_places(range(16))
    assert relation(0, 1, places, topo) == "smt"
    assert relation(0, 2, places, topo) == "same-llc"
    assert relation(0, 4, places, topo) == "other-llc"
    assert relation(0, 8, places, topo) == "other-node"
    assert relation(9, 8, places, topo) == "smt"
    assert relation(12, 8, places, topo) == "other-llc"


def test_without_cache_information_the_relation_says_only_same_node(topo):
    places = {c: CpuPlace(c, 0, 0, c, (c,), (), None) for c in range(16)}
    assert relation(0, 5, places, topo) == "same-node"
    assert relation(0, 9, places, topo) == "other-node"


def test_the_full_matrix_is_every_ordered_pair_once(topo):
    cpus = [0, 1, 4, 8]
    pairs = enumerate_pairs(cpus, hand_places(cpus), topo)
    assert [(p.initiator, p.responder) for p in pairs] == [(a, b) for a in cpus for b in cpus if a != b]
    assert len(pairs) == len(set((p.initiator, p.responder) for p in pairs)) == 12
    by = group_by_relation(pairs)
    assert list(by) == ["smt", "other-llc", "other-node"]  # nearest first, empty relations left out
    assert {(p.initiator, p.responder) for p in by["smt"]} == {(0, 1), (1, 0)}
    assert all(p.initiator_node != p.responder_node for p in by["other-node"]) and len(by["other-node"]) == 6


def test_given_pairs_keep_their_order(topo):
    pairs = enumerate_pairs([], hand_places(range(16)), topo, [(8, 0), (0, 2)])
    assert [(p.initiator, p.responder, p.relation) for p in pairs] == [(8, 0, "other-node"), (0, 2, "same-llc")]
    assert (pairs[0].initiator_node, pairs[0].responder_node) == (1, 0)


# --------------------------------------------------------------------------- hwloc's captured trees


def _tree(tmp_path, name):
    root = extract_tree(os.path.join(HWLOC, f"{name}.tar.bz2"), tmp_path)
    topology = read_topology_tree(root)
    cpus = [c for n in topology.nodes for c in n.cpus]
    return topology, cpus, read_cpu_places(cpus, os.path.join(root, "sys"))


def _expected_counts(topology, cpus, places):
    """The relation counts from the raw places, written without measure.c2c's code."""
    counts = collections.Counter()
    for a in cpus:
        for b in cpus:
            if a == b:
                continue
            if topology.cpu_node(a) != topology.cpu_node(b):
                counts["other-node"] += 1
            elif b in places[a].siblings:
                counts["smt"] += 1
            elif not places[a].llc:
                counts["same-node"] += 1
            else:
                counts["same-llc" if b in places[a].llc else "other-llc"] += 1
    return counts


@pytest.mark.parametrize("name, expected", [
    # 4 packages x 2 nodes, 8 CPUs a node sharing one L3, in SMT pairs (Bulldozer compute units).
    ("64amd64-4s2n4ca2co", {"smt": 64, "same-llc": 384, "other-node": 3584}),
    # One node, 2 packages x 2 L3s x 2 cores: several last-level caches on one node.
    ("8em64t-2s2ca2c", {"same-llc": 8, "other-llc": 48}),
    # SMT siblings and a shared L3 per node, 4 nodes.
    ("memorysidecaches", {"smt": 80, "same-llc": 1440, "other-node": 4800}),
    # Without cache directories: same-node, never a guess at the cache; SMT pairs from the old
    # kernel's thread_siblings masks (4 sockets x 2 cores x 2 threads).
    ("16em64t-4s2c2t", {"smt": 16, "same-node": 224}),
])
def test_relations_on_hwloc_trees(tmp_path, name, expected):
    topology, cpus, places = _tree(tmp_path, name)
    pairs = enumerate_pairs(cpus, places, topology)
    got = collections.Counter(p.relation for p in pairs)
    assert got == expected == _expected_counts(topology, cpus, places)
    assert len(pairs) == len(cpus) * (len(cpus) - 1)
    for p in pairs:  # a relation is a property of the unordered pair
        assert relation(p.responder, p.initiator, places, topology) == p.relation
        assert (p.relation == "other-node") == (p.initiator_node != p.responder_node)
    assert list(group_by_relation(pairs)) == [r for r in C2C_RELATIONS if r in expected]


# --------------------------------------------------------------------------- planning and bad input


def test_default_plan_is_every_allowed_cpu(topo):
    plan = plan_c2c(topo, view(cpus=(0, 1, 8)), hand_places)
    assert plan.cpus == (0, 1, 8) and len(plan.pairs) == 6 and plan.mode == "hitm"


def test_nodes_and_cpus_select(topo):
    plan = plan_c2c(topo, view(), hand_places, nodes=[1])
    assert plan.cpus == tuple(range(8, 16))
    plan = plan_c2c(topo, view(), hand_places, nodes=[0, 1], cpus=[0, 8, 9])
    assert plan.cpus == (0, 8, 9)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(cpus=[0, 16]), CpusetError, "--cpus CPU(s) 16 outside"),
    (dict(cpus=[3]), UsageError, "c2c needs two CPUs"),
    (dict(pairs=[(0, 20)]), CpusetError, "--pairs CPU(s) 20 outside"),
    (dict(nodes=[2]), UsageError, "node 2 has no CPUs"),
    (dict(nodes=[7]), TopologyError, "node 7 does not exist"),
    (dict(line_node=9), TopologyError, "--line-node 9 does not exist"),
    (dict(mode="dirty"), UsageError, "unknown c2c mode"),
    (dict(samples=0), UsageError, "--samples 0"),
    (dict(pairs=[(0, 1)], cpus=[0, 1]), UsageError, "not both"),
    (dict(nodes=[0], cpus=[0, 8]), UsageError, "--cpus 8 not on --nodes 0"),
])
def test_bad_input_is_refused_with_exit_2(topo, kwargs, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")) as info:
        plan_c2c(topo, view(), hand_places, **kwargs)
    assert info.value.exit_code == 2


def test_a_cpuset_of_one_cpu_is_refused(topo):
    with pytest.raises(UsageError, match="c2c needs two CPUs"):
        plan_c2c(topo, view(cpus=(5,)), hand_places)


def test_line_node_outside_the_cpuset_mems(topo):
    with pytest.raises(CpusetError, match="--line-node 3 is outside"):
        plan_c2c(topo, view(mems=(0, 1)), hand_places, line_node=3)


def test_where_each_line_goes(topo):
    plan = plan_c2c(topo, view(), hand_places, pairs=[(8, 0), (0, 8)])
    assert [line_node_of(plan, p, topo, view()) for p in plan.pairs] == [1, 0]  # the initiator's node
    assert [line_node_of(plan, p, topo, view(mems=(0, 2))) for p in plan.pairs] == [0, 0]
    plan = plan_c2c(topo, view(), hand_places, pairs=[(8, 0)], line_node=3)  # CXL memory
    assert line_node_of(plan, plan.pairs[0], topo, view()) == 3


@pytest.mark.parametrize("text, pairs", [("0:1", [(0, 1)]), ("0:1, 1:0,0:1", [(0, 1), (1, 0)])])
def test_parse_pairs(text, pairs):
    assert parse_pairs(text) == pairs


@pytest.mark.parametrize("text", ["0", "0:1:2", "a:b", "0:0", "-1:2", ""])
def test_parse_pairs_refuses(text):
    with pytest.raises(UsageError):
        parse_pairs(text)


# --------------------------------------------------------------------------- section and renderings


def _measurement(a, b, ns, relation, node=0):
    return {"kernel": "c2c", "cpu_node": 0, "mem_node": node, "mem_nodes": [node], "policy": "bind", "pages": "4k",
            "size_bytes": 4096, "threads": 2, "cpus": [a, b], "samples": [ns, ns + 1.0], "unit": "ns",
            "latency_ns": ns, "c2c_mode": "hitm", "initiator_cpu": a, "responder_cpu": b, "initiator_node": 0,
            "responder_node": 0 if b < 8 else 1, "relation": relation, "round_trips_per_sample": 1000,
            "stats": {"min": ns, "max": ns + 1.0, "cv": 0.01}, "pages_by_node": {str(node): 1},
            "placement": {"ok": True}}


def test_section_matrix_and_relation_summary(topo):
    plan = plan_c2c(topo, view(), hand_places, cpus=[0, 1, 8])
    ms = [_measurement(0, 1, 20.0, "smt"), _measurement(1, 0, 22.0, "smt"), _measurement(0, 8, 150.0, "other-node")]
    errors = [{"kernel": "c2c", "initiator_cpu": 8, "responder_cpu": 0, "error": "timed out"}]
    section = build_c2c_section(plan, ms, errors)
    assert section["latency_ns"] == {"0": {"1": 20.0, "8": 150.0}, "1": {"0": 22.0, "8": None},
                                     "8": {"0": None, "1": None}}
    assert section["relations"]["smt"] == {"pairs": 2, "measured": 2, "median_ns": 21.0, "min_ns": 20.0,
                                           "max_ns": 22.0}
    assert section["relations"]["other-node"]["pairs"] == 4 and section["relations"]["other-node"]["measured"] == 1
    assert section["failed"] == [{"initiator_cpu": 8, "responder_cpu": 0, "error": "timed out"}]
    json.dumps(section)  # JSON as it is

    doc = {"c2c": section, "measurements": ms, "environment": {"hostname": "h"}}
    text = format_c2c(doc)
    assert "init\\resp" in text and "150.0" in text and "error: CPU 8 <- 0: timed out" in text
    assert [line.split()[0] for line in text.splitlines() if line.startswith(("smt", "other-node"))] == \
        ["smt", "other-node"]
    rows = csv_text(doc).splitlines()
    assert rows[0].startswith("c2c_mode,initiator_cpu,responder_cpu") and len(rows) == 4
    assert rows[3].startswith("hitm,0,8,0,1,0,other-node,150.0,")
    prom = textfile(doc)
    assert ('numabench_c2c_latency_seconds{node="h",mode="hitm",initiator_cpu="0",responder_cpu="8",'
            'initiator_node="0",responder_node="1",line_node="0",relation="other-node"} 1.5e-07') in prom


def test_compare_keys_a_cell_by_mode_and_pair():
    a, b = cell_of(_measurement(0, 1, 20.0, "smt")), cell_of(_measurement(1, 0, 20.0, "smt"))
    assert a != b
    assert dict(a.extra) == {"c2c_mode": "hitm", "initiator_cpu": 0, "responder_cpu": 1}


def test_html_heatmap_page_and_the_qualify_report_section(topo):
    pytest.importorskip("matplotlib", reason="the HTML heatmap needs matplotlib (the report extra)")
    from numabench.render.c2c import render_c2c_html
    from numabench.render.html import _c2c_section

    plan = plan_c2c(topo, view(), hand_places, cpus=[0, 1, 8])
    doc = {"c2c": build_c2c_section(plan, [_measurement(0, 1, 20.0, "smt")], []), "environment": {"hostname": "h"}}
    page = render_c2c_html(doc)
    assert page.startswith("<!DOCTYPE html>") and page.count("data:image/png;base64,") == 1
    assert "<td>smt</td><td>1/2</td><td>20.0</td>" in page
    assert "data:image/png;base64," in _c2c_section(doc)
    assert "not measured" in _c2c_section({})
