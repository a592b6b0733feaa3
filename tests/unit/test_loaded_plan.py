"""plan_loaded on the captured four-node topology: CPUs for the chase and the injectors."""

import os

import pytest
from conftest import cgroup_v2_view as view

from numabench.errors import CpusetError, UsageError
from numabench.host.topology import read_topology_tree
from numabench.measure.spec import plan_loaded

CXL = os.path.join(os.path.dirname(__file__), "..", "data", "trees", "four-node-cxl")


@pytest.fixture(scope="module")
def topo():
    return read_topology_tree(CXL)


def plan(topo, cs=None, **kw):
    args = dict(cpu_node=0, mem_node=None, inject_node=None, injectors=None, pages="4k", size_bytes=64 << 20,
                inject_size_bytes=64 << 20, kind="read", delays=(0, 100), repeat=1)
    args.update(kw)
    return plan_loaded(topo, cs or view(), **args)


def test_default_injectors_are_the_other_cpus_of_the_node(topo):
    spec = plan(topo)
    assert spec.chase_cpu == 0
    assert spec.inject_cpus == tuple(range(1, 8))
    assert spec.mem_node == 0 and spec.inject_node == 0


def test_injectors_on_another_node_and_memory(topo):
    spec = plan(topo, injectors=2, inject_cpu_node=1, inject_node=2)
    assert spec.inject_cpus == (8, 9)
    assert spec.inject_node == 2


def test_too_many_injectors(topo):
    with pytest.raises(UsageError, match="--injectors 7"):
        plan(topo, injectors=8)


def test_forbidden_inject_node(topo):
    with pytest.raises(CpusetError, match="cpuset"):
        plan(topo, cs=view(mems=(0,)), inject_node=1)


def test_bad_kind_and_delays(topo):
    with pytest.raises(UsageError, match="injection kind"):
        plan(topo, kind="write")
    with pytest.raises(UsageError, match="delays"):
        plan(topo, delays=())
