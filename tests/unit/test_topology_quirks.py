"""Kernel quirks, each on a small synthetic tree (issue 10); the hwloc corpus has the real ones."""

import json
import os

import pytest

from numabench.errors import TopologyError
from numabench.host.topology import AccessClass, Topology, format_topology, read_topology_tree

NODE = "sys/devices/system/node"
CPU = "sys/devices/system/cpu"
MEMINFO = "Node {n} MemTotal: 1048576 kB\nNode {n} MemFree: 524288 kB\n"


def make_tree(root, files):
    """Write ``{relative path: text}`` under ``root``; a meminfo for every node is added."""
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return str(root)


def two_nodes(tmp_path, **overrides):
    files = {
        f"{NODE}/online": "0-1\n",
        f"{NODE}/possible": "0-1\n",
        f"{NODE}/node0/cpulist": "0-1\n",
        f"{NODE}/node1/cpulist": "2-3\n",
        f"{NODE}/node0/distance": "10 20\n",
        f"{NODE}/node1/distance": "20 10\n",
        f"{NODE}/node0/meminfo": MEMINFO.format(n=0),
        f"{NODE}/node1/meminfo": MEMINFO.format(n=1),
        f"{CPU}/online": "0-3\n",
    }
    files.update(overrides)
    return make_tree(tmp_path, {k: v for k, v in files.items() if v is not None})


def test_nul_terminated_lists_everywhere(tmp_path):
    # 2.6.23 to ~3.x wrote "0-3\n\0"; every list file and the distance file carry it here.
    topo = read_topology_tree(two_nodes(
        tmp_path, **{f"{NODE}/online": "0-1\n\0", f"{NODE}/possible": "0-1\n\0",
                     f"{NODE}/node0/cpulist": "0-1\n\0", f"{NODE}/node1/cpulist": "2-3\n\0",
                     f"{NODE}/node0/distance": "10 20\n\0", f"{CPU}/online": "0-3\n\0"}))
    assert topo.node_ids == (0, 1)
    assert topo.node(1).cpus == (2, 3)
    assert topo.distance(0, 1) == 20
    assert topo.warnings == ()


def test_cpumap_when_cpulist_is_missing(tmp_path):
    topo = read_topology_tree(two_nodes(
        tmp_path, **{f"{NODE}/node0/cpulist": None, f"{NODE}/node0/cpumap": "00000000,00000003\n",
                     f"{NODE}/node1/cpulist": None, f"{NODE}/node1/cpumap": "0000000c\n"}))
    assert topo.node(0).cpus == (0, 1) and topo.node(1).cpus == (2, 3)


def test_neither_cpulist_nor_cpumap_names_both(tmp_path):
    root = two_nodes(tmp_path, **{f"{NODE}/node1/cpulist": None})
    with pytest.raises(TopologyError, match="neither .*cpulist nor .*cpumap"):
        read_topology_tree(root)


def test_offline_cpus_are_dropped_and_named(tmp_path):
    topo = read_topology_tree(two_nodes(tmp_path, **{f"{CPU}/online": "0,2-3\n"}))
    assert topo.node(0).cpus == (0,)
    assert topo.online_cpus == (0, 2, 3)
    assert any("node 0 lists offline CPUs 1" in w for w in topo.warnings)
    assert "warning: node 0 lists offline CPUs 1" in format_topology(topo)


def test_without_cpu_online_the_cpu_dirs_decide(tmp_path):
    # cpu0 has no online file (it cannot be offlined); cpu3 says 0.
    topo = read_topology_tree(two_nodes(
        tmp_path, **{f"{CPU}/online": None, f"{CPU}/cpu0/topology/x": "", f"{CPU}/cpu1/online": "1\n",
                     f"{CPU}/cpu2/online": "1\n\0", f"{CPU}/cpu3/online": "0\n"}))
    assert topo.online_cpus == (0, 1, 2)
    assert topo.node(1).cpus == (2,)


def test_without_any_cpu_information_the_union_is_taken_and_said(tmp_path):
    topo = read_topology_tree(two_nodes(tmp_path, **{f"{CPU}/online": None}))
    assert topo.online_cpus == (0, 1, 2, 3)
    assert any("cpu/online is missing" in w for w in topo.warnings)


def test_overlapping_node_cpu_lists_are_warned_and_refused(tmp_path):
    topo = read_topology_tree(two_nodes(tmp_path, **{f"{NODE}/node1/cpulist": "1-3\n"}))
    assert topo.online_cpus == (0, 1, 2, 3)  # no duplicate CPU 1
    (warning,) = [w for w in topo.warnings if "overlapping" in w]
    assert "CPUs 1 " in warning and "(0-1)" in warning
    # Never a silent answer for the shared CPU; unshared CPUs still have their node.
    with pytest.raises(TopologyError, match="CPU 1 is listed by nodes 0-1"):
        topo.cpu_node(1)
    assert topo.cpu_node(0) == 0 and topo.cpu_node(3) == 1
    assert "warning: overlapping node CPU lists" in format_topology(topo)


def test_overlap_warning_in_cli_json_and_text(tmp_path, cli):
    root = two_nodes(tmp_path, **{f"{NODE}/node1/cpulist": "0-3\n"})
    doc = json.loads(cli("topology", "--json", "--sysfs-root", root).stdout)
    assert any("overlapping node CPU lists" in w for w in doc["warnings"])
    assert doc["topology"]["warnings"] == doc["warnings"]
    assert "warning: overlapping node CPU lists" in cli("topology", "--sysfs-root", root).stdout


def test_distances_per_possible_node(tmp_path):
    # Seen (hwloc's offline-cpu0-node0): node 0 offline, node1/distance still has two figures.
    topo = read_topology_tree(two_nodes(
        tmp_path, **{f"{NODE}/online": "1\n", f"{NODE}/node0/cpulist": None, f"{NODE}/node0/meminfo": None,
                     f"{NODE}/node0/distance": None, f"{NODE}/node1/distance": "21 10\n"}))
    assert topo.node_ids == (1,) and topo.node(1).distances == {1: 10}


def test_huge_list_is_refused_not_materialised(tmp_path):
    root = two_nodes(tmp_path, **{f"{CPU}/online": "0-4294967295\n"})
    with pytest.raises(TopologyError, match="above the largest possible id"):
        read_topology_tree(root)


def test_hmat_claims_caches_and_tiers(tmp_path):
    ini = f"{NODE}/node1/access1/initiators"
    root = two_nodes(tmp_path, **{
        f"{ini}/read_latency": "120\n", f"{ini}/write_latency": "140\n",
        f"{ini}/read_bandwidth": "20000\n", f"{ini}/write_bandwidth": "0\n",
        f"{NODE}/node1/memory_side_cache/index1/size": "1073741824\n",
        f"{NODE}/node1/memory_side_cache/index1/line_size": "64\n",
        f"{NODE}/node1/memory_side_cache/index1/indexing": "0\n",
        f"{NODE}/node1/memory_side_cache/index1/write_policy": "1\n",
        "sys/devices/virtual/memory_tiering/memory_tier4/nodelist": "0\n",
        "sys/devices/virtual/memory_tiering/memory_tier22/nodelist": "1\n\0",
    })
    os.symlink("../../../node0", os.path.join(root, ini, "node0"))
    topo = read_topology_tree(root)
    (claim,) = topo.node(1).access
    assert claim == AccessClass(1, (0,), 120, 140, 20000, None)  # 0 = not given by the firmware
    assert topo.claimed(0, 1) == claim and topo.claimed(1, 1) is None and topo.claimed(0, 0) is None
    (cache,) = topo.node(1).memory_side_caches
    assert (cache.size_bytes, cache.line_size_bytes, cache.indexing, cache.write_policy) == (
        1 << 30, 64, "direct-mapped", "write-through")
    assert topo.memory_tiers == {4: (0,), 22: (1,)}
    text = format_topology(topo)
    assert "node 1 claimed (HMAT access1, initiators 0): read 120 ns 20000 MB/s, write 140 ns n/a" in text
    assert "node 1 memory-side cache L1: 1 GiB, line 64 B, direct-mapped, write-through" in text
    assert "memory tier 22: nodes 1" in text
    assert Topology.from_dict(json.loads(json.dumps(topo.to_dict()))) == topo
