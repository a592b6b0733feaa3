import json
import os
import shutil

import pytest

from numabench.errors import TopologyError, UsageError
from numabench.host.cgroups import CpusetView, read_process_cpuset
from numabench.host.topology import (
    HugepagePool,
    Topology,
    capture_tree,
    format_size,
    format_topology,
    read_topology,
    read_topology_tree,
)

TREES = os.path.join(os.path.dirname(__file__), "..", "data", "trees")
KB = 1024


def tree(name):
    return os.path.join(TREES, name)


def load(name):
    return read_topology_tree(tree(name))


@pytest.mark.parametrize("name", ["this-machine", "two-socket-smt", "four-node-cxl", "no-numa",
                                  "guest-four-node-hmat-v2"])
def test_tree_matches_expected_json(name):
    with open(os.path.join(tree(name), "expected.json")) as f:
        expected = json.load(f)
    got = load(name).to_dict()
    assert got.pop("source") == f"sysfs={tree(name)}/sys procfs={tree(name)}/proc"
    assert got == expected


def test_this_machine_capture():
    topo = load("this-machine")
    assert topo.node_ids == (0,)
    assert topo.online_cpus == (0, 1)
    assert topo.node(0).cpus == (0, 1)
    assert sorted(topo.node(0).hugepages) == [2 * 1024 * KB, 1024 * 1024 * KB]
    assert topo.distance(0, 0) == 10


def test_two_socket_smt():
    topo = load("two-socket-smt")
    assert topo.node_ids == (0, 1)
    assert topo.node(0).cpus == tuple(range(16)) + tuple(range(32, 48))
    assert topo.node(1).cpus == tuple(range(16, 32)) + tuple(range(48, 64))
    assert topo.cpu_node(40) == 0
    assert topo.cpu_node(48) == 1
    assert topo.distance(0, 1) == 21 and topo.distance(1, 0) == 21 and topo.distance(1, 1) == 10
    assert topo.node(0).hugepages[2048 * KB] == HugepagePool(2048 * KB, 1024, 1000, 0)
    assert topo.node(1).hugepages[2048 * KB] == HugepagePool(2048 * KB, 512, 512, 2)
    assert topo.node(1).mem_total_bytes == 264241152 * KB
    assert topo.cpu_nodes == (0, 1) and topo.memory_nodes == (0, 1)
    assert not topo.node(0).memory_only


def test_four_node_cxl():
    topo = load("four-node-cxl")
    assert topo.node_ids == (0, 1, 2, 3)
    assert topo.possible_nodes == tuple(range(8))
    assert topo.cpu_nodes == (0, 1)
    assert topo.memory_nodes == (0, 1, 2, 3)
    assert [n.memory_only for n in topo.nodes] == [False, False, True, True]
    assert topo.node(2).cpus == ()
    assert not topo.node(3).has_cpus and topo.node(3).has_memory
    # asymmetric SLIT
    assert topo.distance(0, 2) == 24
    assert topo.distance(1, 2) == 30
    assert topo.distance(2, 0) == 26
    assert topo.distance(3, 1) == 26
    assert topo.node(2).mem_total_bytes == 134217728 * KB
    assert topo.node(2).hugepages[1024 * 1024 * KB].free == 3


def test_no_numa_is_one_node():
    topo = load("no-numa")
    assert topo.node_ids == (0,)
    assert topo.possible_nodes == (0,)
    assert topo.node(0).cpus == (0, 1, 2, 3)
    assert topo.node(0).mem_total_bytes == 8000000 * KB
    assert topo.node(0).hugepages == {2048 * KB: HugepagePool(2048 * KB, 16, 8, 0)}
    assert topo.distance(0, 0) == 10


def test_missing_node_message():
    with pytest.raises(TopologyError) as exc:
        load("two-socket-smt").node(5)
    assert exc.value.message == "NUMA node 5 does not exist on this machine (nodes: 0-1)"


def test_missing_cpu_and_distance_errors():
    topo = load("four-node-cxl")
    with pytest.raises(TopologyError, match=r"CPU 16 is not online on this machine \(online CPUs: 0-15\)"):
        topo.cpu_node(16)
    with pytest.raises(TopologyError, match="NUMA node 4 does not exist"):
        topo.distance(0, 4)


def test_hugepage_sysfs_hint():
    pool = load("two-socket-smt").node(1).hugepages[2048 * KB]
    assert pool.sysfs_hint(1) == "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"
    gig = HugepagePool(1 << 30, 0, 0, 0)
    assert gig.sysfs_hint(3, sysfs_root="/host/sys") == (
        "/host/sys/devices/system/node/node3/hugepages/hugepages-1048576kB/nr_hugepages"
    )


# -- node_mem_free_bytes rule ------------------------------------------------------------------


def test_free_single_memory_node_uses_system_available_when_larger():
    topo = load("this-machine")
    assert topo.node(0).mem_free_bytes == 3552312 * KB
    assert topo.node_mem_free_bytes(0) == 24380164 * KB  # MemAvailable of proc/meminfo


def test_free_multi_node_uses_node_memfree():
    assert load("two-socket-smt").node_mem_free_bytes(1) == 255000000 * KB
    # memory-only node among several memory nodes: its own MemFree
    assert load("four-node-cxl").node_mem_free_bytes(2) == 134000000 * KB


def test_free_single_node_keeps_memfree_when_available_is_smaller():
    # no-numa: MemFree 6000000 kB, MemAvailable 7000000 kB -> MemAvailable
    assert load("no-numa").node_mem_free_bytes(0) == 7000000 * KB


def test_free_single_node_available_below_memfree(tmp_path):
    shutil.copytree(tree("no-numa"), tmp_path / "t")
    meminfo = tmp_path / "t" / "proc" / "meminfo"
    meminfo.write_text("MemTotal: 8000000 kB\nMemFree: 6000000 kB\nMemAvailable: 5000000 kB\n")
    assert read_topology_tree(str(tmp_path / "t")).node_mem_free_bytes(0) == 6000000 * KB


# -- fallbacks and errors ----------------------------------------------------------------------


def test_missing_procfs_meminfo_sums_nodes(tmp_path):
    topo = read_topology(os.path.join(tree("four-node-cxl"), "sys"), str(tmp_path / "noproc"))
    assert topo.system_mem_total_bytes == (67108864 + 33554432 + 134217728 + 16777216) * KB
    assert topo.system_mem_free_bytes == (60000000 + 30000000 + 134000000 + 16700000) * KB
    assert topo.system_mem_available_bytes == topo.system_mem_free_bytes


def test_missing_sysfs_root(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(TopologyError) as exc:
        read_topology(missing)
    assert missing in str(exc.value)
    assert "captured tree" in str(exc.value) and "--sysfs-root" in str(exc.value)


def test_no_numa_without_meminfo_is_an_error(tmp_path):
    with pytest.raises(TopologyError, match="memory of node 0 is unknown"):
        read_topology(os.path.join(tree("no-numa"), "sys"), str(tmp_path))


def test_distance_count_mismatch(tmp_path):
    shutil.copytree(tree("two-socket-smt"), tmp_path / "t")
    (tmp_path / "t/sys/devices/system/node/node1/distance").write_text("21 10 30\n")
    with pytest.raises(TopologyError, match="lists 3 distances but 2 nodes are online"):
        read_topology_tree(str(tmp_path / "t"))


def test_missing_cpulist(tmp_path):
    shutil.copytree(tree("two-socket-smt"), tmp_path / "t")
    os.remove(tmp_path / "t/sys/devices/system/node/node1/cpulist")
    with pytest.raises(TopologyError, match="cannot read the CPUs of node 1"):
        read_topology_tree(str(tmp_path / "t"))


def test_node_list_without_online_file(tmp_path):
    shutil.copytree(tree("two-socket-smt"), tmp_path / "t")
    os.remove(tmp_path / "t/sys/devices/system/node/online")
    os.remove(tmp_path / "t/sys/devices/system/cpu/online")
    topo = read_topology_tree(str(tmp_path / "t"))
    assert topo.node_ids == (0, 1)
    assert topo.online_cpus == tuple(range(64))


# -- capture -----------------------------------------------------------------------------------


def test_capture_round_trip(tmp_path):
    src = tree("four-node-cxl")
    written = capture_tree(str(tmp_path), os.path.join(src, "sys"), os.path.join(src, "proc"))
    assert "proc/meminfo" in written
    assert "sys/devices/system/node/node3/distance" in written
    assert "sys/kernel/mm/transparent_hugepage/enabled" in written
    assert "sys/devices/system/node/node2/hugepages/hugepages-1048576kB/free_hugepages" in written
    again = read_topology_tree(str(tmp_path)).to_dict()
    original = load("four-node-cxl").to_dict()
    again.pop("source"), original.pop("source")
    assert again == original


def test_capture_refuses_to_overwrite(tmp_path):
    src = tree("no-numa")
    capture_tree(str(tmp_path), os.path.join(src, "sys"), os.path.join(src, "proc"))
    with pytest.raises(UsageError, match="already exists"):
        capture_tree(str(tmp_path), os.path.join(src, "sys"), os.path.join(src, "proc"))


def test_capture_no_numa_keeps_global_pools(tmp_path):
    src = tree("no-numa")
    written = capture_tree(str(tmp_path), os.path.join(src, "sys"), os.path.join(src, "proc"))
    assert "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages" in written
    assert read_topology_tree(str(tmp_path)).node(0).hugepages[2048 * KB].total == 16


# -- dict round trip and rendering -------------------------------------------------------------


def test_from_dict_round_trip():
    topo = load("four-node-cxl")
    again = Topology.from_dict(json.loads(json.dumps(topo.to_dict())))
    assert again == topo


@pytest.mark.parametrize("size, text", [
    (2 * 1024 * 1024, "2 MiB"), (1 << 30, "1 GiB"), (64 * 1024, "64 KiB"), (16 << 30, "16 GiB"), (1000, "1000 B"),
])
def test_format_size(size, text):
    assert format_size(size) == text


def test_format_two_socket_with_cpuset():
    view = CpusetView(
        cgroup_version=2,
        cgroup_path="/system.slice/bench.service",
        cpuset_cpus=(0, 1, 32, 33),
        cpuset_mems=(0,),
        cpus_allowed=(0, 1, 32, 33),
        mems_allowed=(0,),
        cpuset_dir="/sys/fs/cgroup/system.slice/bench.service",
    )
    text = format_topology(load("two-socket-smt"), view)
    cpus0 = " ".join(str(c) for c in list(range(16)) + list(range(32, 48)))
    cpus1 = " ".join(str(c) for c in list(range(16, 32)) + list(range(48, 64)))
    assert text == (
        "available: 2 nodes (0-1)\n"
        f"node 0 cpus: {cpus0}\n"
        "node 0 size: 257735 MB\n"
        "node 0 free: 244251 MB\n"
        "node 0 hugepages 2 MiB: 1000 free / 1024 total\n"
        "node 0 hugepages 1 GiB: 0 free / 0 total\n"
        f"node 1 cpus: {cpus1}\n"
        "node 1 size: 258048 MB\n"
        "node 1 free: 249023 MB\n"
        "node 1 hugepages 2 MiB: 512 free / 512 total (2 surplus)\n"
        "node 1 hugepages 1 GiB: 0 free / 0 total\n"
        "node distances:\n"
        "node     0    1 \n"
        "   0:   10   21 \n"
        "   1:   21   10 \n"
        "\n"
        "this process:\n"
        "cgroup: v2, path /system.slice/bench.service\n"
        "cpuset dir: /sys/fs/cgroup/system.slice/bench.service\n"
        "cpuset.cpus: 0-1,32-33\n"
        "cpuset.mems: 0\n"
        "Cpus_allowed_list: 0-1,32-33\n"
        "Mems_allowed_list: 0\n"
        "node 0 allowed: cpus 0-1,32-33 (4 of 32), memory yes\n"
        "node 1 allowed: cpus none (0 of 32), memory no\n"
    )


def test_format_cxl_memory_only_and_matrix():
    text = format_topology(load("four-node-cxl"))
    lines = text.splitlines()
    assert "node 2 cpus:" in lines  # numactl prints the empty list
    assert "node 2: memory-only" in lines and "node 3: memory-only" in lines
    assert "node 0: memory-only" not in lines
    assert lines[-6:] == [
        "node distances:",
        "node     0    1    2    3 ",
        "   0:   10   21   24   30 ",
        "   1:   21   10   30   24 ",
        "   2:   26   32   10   40 ",
        "   3:   32   26   40   10 ",
    ]
    assert "this process:" not in text


def test_format_lagging_node_shows_usable_free():
    text = format_topology(load("this-machine"))
    assert "node 0 free: 3469 MB\n" in text
    assert "node 0 usable free: 23808 MB (system MemAvailable" in text


def test_format_no_cpuset_controller():
    view = CpusetView(None, "/user.slice", None, None, (0, 1), (0,), None)
    text = format_topology(load("this-machine"), view)
    assert "cgroup: none (no cpuset controller found), path /user.slice\n" in text
    assert "cpuset.cpus: n/a\n" in text
    assert "node 0 allowed: cpus 0-1 (2 of 2), memory yes\n" in text


# -- live --------------------------------------------------------------------------------------

HAS_SYSFS_CPU = os.path.exists("/sys/devices/system/cpu/online")


@pytest.mark.skipif(not HAS_SYSFS_CPU, reason="needs sysfs")
def test_live_topology():
    topo = read_topology()
    for cpu in topo.online_cpus:
        owners = [n.id for n in topo.nodes if cpu in n.cpus]
        assert len(owners) == 1, f"CPU {cpu} in nodes {owners}"
    for cpu in os.sched_getaffinity(0):
        assert cpu in topo.online_cpus
        topo.cpu_node(cpu)
    for n in topo.nodes:
        assert topo.distance(n.id, n.id) == 10
        assert n.mem_free_bytes <= n.mem_total_bytes
    assert topo.memory_nodes, "some node has memory"
    assert 0 < topo.system_mem_available_bytes <= topo.system_mem_total_bytes
    assert set(topo.node_ids) <= set(topo.possible_nodes)


@pytest.mark.skipif(not HAS_SYSFS_CPU, reason="needs sysfs")
def test_live_capture_matches_live_read(tmp_path):
    capture_tree(str(tmp_path))
    captured = read_topology_tree(str(tmp_path))
    live = read_topology()
    assert captured.node_ids == live.node_ids
    assert [n.cpus for n in captured.nodes] == [n.cpus for n in live.nodes]
    assert captured.online_cpus == live.online_cpus
    assert captured.system_mem_total_bytes == live.system_mem_total_bytes


def test_a_real_kernels_hmat_capture_from_the_guest():
    """A capture the multi-node guest's kernel wrote (tests/vm, four-node boot with QEMU's
    hmat-lb/hmat-cache entries), taken inside a cgroup v2 cpuset child: the claims QEMU was given,
    the memory-side cache, the memory tier and the restricted cpuset all read back."""
    root = tree("guest-four-node-hmat-v2")
    topo = read_topology_tree(root)
    assert topo.claimed(0, 0).read_latency_ns == 110 and topo.claimed(0, 3).read_latency_ns == 250
    assert topo.claimed(0, 3).read_bandwidth_mb_s == 8000
    assert topo.to_dict()["memory_tiers"]
    view = read_process_cpuset(os.path.join(root, "proc"), root)
    assert (view.cgroup_version, view.cgroup_path, view.cpuset_cpus, view.cpuset_mems) == (2, "/nb-capture", (2,), (3,))
