"""plan_run against the captured four-node CXL topology and fake cpusets: what a
forbidding cgroup (e.g. Kubernetes Memory Manager) and empty hugepage pools do."""

import os
import re

import pytest

from numabench.errors import CpusetError, HugepageError, InsufficientMemoryError, TopologyError, UsageError
from numabench.host.cgroups import CpusetView
from numabench.host.topology import read_topology_tree
from numabench.measure.spec import RunOptions, parse_kernels, parse_pages, plan_run
from numabench.util.units import parse_size

CXL = os.path.join(os.path.dirname(__file__), "..", "data", "trees", "four-node-cxl")
MiB = 1 << 20
GiB = 1 << 30
ALL_CPUS = tuple(range(16))


@pytest.fixture(scope="module")
def topo():
    # nodes 0 (CPUs 0-7, 256 free 2M pages), 1 (CPUs 8-15, no hugepages),
    # 2 and 3 memory-only (2 has three free 1G pages).
    return read_topology_tree(CXL)


def cpuset(mems=(0,), cpus=ALL_CPUS, version=1):
    return CpusetView(
        cgroup_version=version,
        cgroup_path="/kubepods/pod1234/abcd",
        cpuset_cpus=cpus,
        cpuset_mems=mems,
        cpus_allowed=cpus,
        mems_allowed=mems,
        cpuset_dir="/sys/fs/cgroup/cpuset/kubepods/pod1234/abcd",
    )


def opts(**kw):
    base = dict(size_bytes=64 * MiB, kernels=["latency", "read"], repeat=1, pages=["4k"])
    base.update(kw)
    return RunOptions(**base)


def test_forbidden_mem_node(topo):
    with pytest.raises(CpusetError) as info:
        plan_run(topo, cpuset(mems=(0,)), opts(cpu_nodes=[0], mem_nodes=[1]))
    message = str(info.value)
    assert "cpuset" in message
    assert "Memory Manager" in message
    assert "node 1" in message
    assert "--mem-node 0" in message  # the fix names the allowed node


def test_allowed_remote_mem_node(topo):
    plan = plan_run(topo, cpuset(mems=(0, 1)), opts(cpu_nodes=[0], mem_nodes=[1]))
    (spec,) = plan.specs
    assert spec.cpu_node == 0 and spec.mem_nodes == (1,)
    assert spec.cpus == tuple(range(8))[: spec.threads]


def test_memory_only_node_as_cpu_node(topo):
    with pytest.raises(UsageError) as info:
        plan_run(topo, cpuset(mems=(0, 1, 2, 3)), opts(cpu_nodes=[2]))
    assert not isinstance(info.value, CpusetError)
    assert "memory-only" in str(info.value)
    assert "--mem-node" in str(info.value)


def test_memory_only_node_as_mem_node_is_fine(topo):
    plan = plan_run(topo, cpuset(mems=(0, 2)), opts(cpu_nodes=[0], mem_nodes=[2]))
    assert [s.mem_nodes for s in plan.specs] == [(2,)]


def test_cpu_node_outside_the_cpuset(topo):
    with pytest.raises(CpusetError) as info:
        plan_run(topo, cpuset(mems=(0, 1), cpus=tuple(range(8))), opts(cpu_nodes=[1]))
    assert "allowed CPUs" in str(info.value)
    assert "--cpu-node 0" in str(info.value)


def test_2m_with_empty_pool_names_the_nodes_file(topo):
    with pytest.raises(HugepageError) as info:
        plan_run(topo, cpuset(mems=(0, 1)), opts(cpu_nodes=[0], mem_nodes=[1], pages=["2m"]))
    assert "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages" in str(info.value)


def test_1g_with_empty_pool_on_node0(topo):
    with pytest.raises(HugepageError) as info:
        plan_run(topo, cpuset(mems=(0,)), opts(cpu_nodes=[0], mem_nodes=[0], pages=["1g"], size_bytes=GiB))
    assert "/sys/devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages" in str(info.value)


def test_2m_fits_node0_pool(topo):
    plan = plan_run(topo, cpuset(), opts(cpu_nodes=[0], pages=["2m"], size_bytes=256 * 2 * MiB))
    assert [(s.pages, s.size_bytes) for s in plan.specs] == [("2m", 512 * MiB)]
    with pytest.raises(HugepageError, match="256 free pages, 257 needed"):
        plan_run(topo, cpuset(), opts(cpu_nodes=[0], pages=["2m"], size_bytes=257 * 2 * MiB))


def test_implicit_hugepages_are_skipped_with_a_note(topo):
    # No --pages: 4k and 2m; node 1 has no 2M pages, so 2m is dropped, not an error.
    plan = plan_run(topo, cpuset(mems=(0, 1)), opts(cpu_nodes=[1], pages=None))
    assert [s.pages for s in plan.specs] == ["4k"]
    assert any(note.startswith("2m skipped") and "nr_hugepages" in note for note in plan.notes), plan.notes


def test_interleave(topo):
    with pytest.raises(CpusetError):
        plan_run(topo, cpuset(mems=(0,)), opts(cpu_nodes=[0], mem_nodes=[0, 1], policy="interleave"))
    plan = plan_run(topo, cpuset(mems=(0, 1)), opts(cpu_nodes=[0], mem_nodes=[0, 1], policy="interleave"))
    (spec,) = plan.specs
    assert spec.mem_nodes == (0, 1) and spec.mem_node is None and spec.policy == "interleave"


def test_bind_over_two_nodes_is_two_specs(topo):
    plan = plan_run(topo, cpuset(mems=(0, 1)), opts(cpu_nodes=[0], mem_nodes=[0, 1]))
    assert [s.mem_nodes for s in plan.specs] == [(0,), (1,)]


def test_default_mem_node_outside_cpuset_falls_back_with_a_note(topo):
    plan = plan_run(topo, cpuset(mems=(1,)), opts(cpu_nodes=[0]))
    assert [s.mem_nodes for s in plan.specs] == [(1,)]
    assert any("outside this cgroup's cpuset.mems" in note for note in plan.notes)


def test_nonexistent_nodes(topo):
    with pytest.raises(TopologyError, match="node 7 does not exist"):
        plan_run(topo, cpuset(), opts(cpu_nodes=[7]))
    with pytest.raises(TopologyError, match="node 5 does not exist"):
        plan_run(topo, cpuset(), opts(cpu_nodes=[0], mem_nodes=[5]))


def test_threads_and_size_limits(topo):
    with pytest.raises(UsageError, match="--threads 9 but CPU node 0 has 8"):
        plan_run(topo, cpuset(), opts(cpu_nodes=[0], threads=9))
    plan = plan_run(topo, cpuset(), opts(cpu_nodes=[0], threads=3))
    assert plan.specs[0].cpus == (0, 1, 2)
    with pytest.raises(InsufficientMemoryError, match="free memory"):
        plan_run(topo, cpuset(), opts(cpu_nodes=[0], size_bytes=1 << 40))


def test_too_large_size_suggests_a_size_that_parses(topo):
    # The fix in the message must itself be accepted by --size. Node 0 has
    # 58593 MiB free; 80% of it is not a whole number of GiB.
    with pytest.raises(InsufficientMemoryError) as info:
        plan_run(topo, cpuset(), opts(cpu_nodes=[0], size_bytes=1 << 40))
    m = re.search(r"use --size (\S+) or less", str(info.value))
    assert m, str(info.value)
    suggested = parse_size(m.group(1))
    assert 0 < suggested <= topo.node_mem_free_bytes(0)


def test_parsers():
    assert parse_kernels("read, latency,read") == ["read", "latency"]
    with pytest.raises(UsageError, match="bogus"):
        parse_kernels("read,bogus")
    assert parse_pages("4K,2m") == ["4k", "2m"]
    with pytest.raises(UsageError, match="5m"):
        parse_pages("5m")


@pytest.mark.parametrize("repeat", [0, -1, 10_001, 10**20])
def test_repeat_is_bounded_before_anything_runs(topo, repeat):
    # `run --repeat 99999999999999999999` was accepted and ran forever.
    with pytest.raises(UsageError, match=f"--repeat {repeat} is not between 1 and 10000"):
        plan_run(topo, cpuset(), opts(repeat=repeat))
