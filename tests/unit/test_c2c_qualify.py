"""The qualify check c2c_other_node_ns_max: judged on the cross-node HitM pairs of a result, skipped on
one CPU node, failed (never passed) without figures; and the pairs qualify measures."""

import dataclasses
import os

import pytest
from conftest import TESTS_DIR

from numabench.analysis.qualify import FAIL, PASS, SKIPPED, evaluate, needs, needs_c2c, parse_spec
from numabench.host.cgroups import CpusetView
from numabench.host.topology import read_topology_tree
from numabench.measure.c2c import node_pairs

CXL = os.path.join(TESTS_DIR, "data", "trees", "four-node-cxl")  # CPU nodes 0 (0-7) and 1 (8-15)


@pytest.fixture(scope="module")
def topo():
    return read_topology_tree(CXL)


def _m(a, b, ns, relation="other-node", mode="hitm"):
    return {"kernel": "c2c", "c2c_mode": mode, "initiator_cpu": a, "responder_cpu": b, "relation": relation,
            "latency_ns": ns}


def _verdict(topology, measurements, bound=200, errors=()):
    spec = parse_spec({"checks": {"c2c_other_node_ns_max": bound}})
    (v,) = evaluate(spec, {"topology": topology.to_dict(), "measurements": measurements, "errors": list(errors)})
    return v


def test_the_slowest_cross_node_pair_is_judged(topo):
    ms = [_m(0, 8, 150.0), _m(8, 0, 190.0), _m(0, 1, 900.0, "same-llc"), _m(0, 8, 999.0, mode="clean")]
    v = _verdict(topo, ms)
    assert v.status == PASS and v.measured == 190.0 and "worst CPU 8 <- 0" in v.detail
    assert _verdict(topo, ms, bound=180).status == FAIL


def test_without_figures_it_fails_and_says_why(topo):
    v = _verdict(topo, [])
    assert v.status == FAIL and v.measured is None and "no cross-node c2c pair" in v.detail
    v = _verdict(topo, [], errors=[{"kernel": "c2c", "error": "responder did not answer"}])
    assert v.status == FAIL and "did not answer" in v.detail


def test_one_cpu_node_skips(topo):
    one = dataclasses.replace(topo, nodes=topo.nodes[:1])
    assert _verdict(one, [_m(0, 1, 10.0, "same-llc")]).status == SKIPPED


def test_the_check_asks_for_c2c_and_no_matrix():
    spec = parse_spec({"checks": {"c2c_other_node_ns_max": 200}})
    assert needs_c2c(spec) and needs(spec) == []
    assert not needs_c2c(parse_spec({"checks": {"nodes": 1}}))


def test_qualify_measures_the_first_cpu_of_every_two_nodes(topo):
    view = CpusetView(cgroup_version=2, cgroup_path="/", cpuset_cpus=None, cpuset_mems=None,
                      cpus_allowed=tuple(range(2, 16)), mems_allowed=(0, 1, 2, 3), cpuset_dir=None)
    assert node_pairs(topo, view) == [(2, 8), (8, 2)]
    view1 = CpusetView(cgroup_version=2, cgroup_path="/", cpuset_cpus=None, cpuset_mems=None,
                       cpus_allowed=(0, 1), mems_allowed=(0,), cpuset_dir=None)
    assert node_pairs(topo, view1) == []
