"""Writes the synthetic trees under tests/data/trees and tests/data/cgroups.

Run from anywhere: ``python3 tests/data/make_trees.py``. The trees are committed; this script
documents how they were made. Each expected.json is written from the same specification
as the files, not by reading them back with numabench. ``trees/this-machine`` is a real
capture (``numabench.host.topology.capture_tree``) and is not rewritten here.
"""

from __future__ import annotations

import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
KB = 1024
POOL_FILES = ("nr_hugepages", "free_hugepages", "surplus_hugepages")


def write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")


def fmt(ids) -> str:
    ids = sorted(ids)
    out, i = [], 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        out.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ",".join(out)


def node_meminfo(nid: int, total_kb: int, free_kb: int) -> str:
    used = total_kb - free_kb
    rows = [("MemTotal", total_kb), ("MemFree", free_kb), ("MemUsed", used),
            ("SwapCached", 0), ("Active", used // 4), ("Inactive", used // 4),
            ("Inactive(file)", used // 8), ("HugePages_Total", None)]
    lines = []
    for key, val in rows:
        if val is None:
            lines.append(f"Node {nid} HugePages_Total:     0")
        else:
            lines.append(f"Node {nid} {key + ':':<16}{val:>10} kB")
    return "\n".join(lines)


def proc_meminfo(total_kb: int, free_kb: int, avail_kb: int) -> str:
    return (f"MemTotal:       {total_kb:>10} kB\nMemFree:        {free_kb:>10} kB\n"
            f"MemAvailable:   {avail_kb:>10} kB\nBuffers:              1024 kB\n"
            "HugePages_Total:       0\nHugepagesize:       2048 kB\n")


def make_numa_tree(name: str, spec: dict) -> None:
    root = os.path.join(HERE, "trees", name)
    shutil.rmtree(root, ignore_errors=True)
    sys_ = os.path.join(root, "sys")
    ndir = os.path.join(sys_, "devices/system/node")
    nodes = spec["nodes"]
    ids = sorted(nodes)
    write(f"{ndir}/online", fmt(ids))
    write(f"{ndir}/possible", spec["possible"])
    write(f"{ndir}/has_cpu", fmt(i for i in ids if nodes[i]["cpus"]))
    write(f"{ndir}/has_memory", fmt(i for i in ids if nodes[i]["total_kb"]))
    all_cpus = sorted(c for i in ids for c in nodes[i]["cpus"])
    write(f"{sys_}/devices/system/cpu/online", fmt(all_cpus))
    write(f"{sys_}/devices/system/cpu/possible", spec["possible_cpus"])
    write(f"{sys_}/kernel/mm/transparent_hugepage/enabled", "always [madvise] never")
    write(f"{sys_}/kernel/mm/transparent_hugepage/defrag", "always defer defer+madvise [madvise] never")
    for i in ids:
        n = nodes[i]
        d = f"{ndir}/node{i}"
        write(f"{d}/cpulist", fmt(n["cpus"]))  # "" + newline for memory-only nodes
        write(f"{d}/meminfo", node_meminfo(i, n["total_kb"], n["free_kb"]))
        write(f"{d}/distance", " ".join(str(v) for v in n["distance"]))
        for size_kb in (2048, 1048576):
            total, free, surplus = n["pools"].get(size_kb, (0, 0, 0))
            for fname, v in zip(POOL_FILES, (total, free, surplus)):
                write(f"{d}/hugepages/hugepages-{size_kb}kB/{fname}", str(v))
    total = sum(nodes[i]["total_kb"] for i in ids)
    free = sum(nodes[i]["free_kb"] for i in ids)
    write(os.path.join(root, "proc/meminfo"), proc_meminfo(total, free, spec["available_kb"]))

    expected = {
        "online_cpus": all_cpus,
        "possible_nodes": spec["possible_ids"],
        "system_mem_total_bytes": total * KB,
        "system_mem_free_bytes": free * KB,
        "system_mem_available_bytes": spec["available_kb"] * KB,
        "nodes": [
            {
                "id": i,
                "cpus": sorted(nodes[i]["cpus"]),
                "mem_total_bytes": nodes[i]["total_kb"] * KB,
                "mem_free_bytes": nodes[i]["free_kb"] * KB,
                "memory_only": bool(nodes[i]["total_kb"]) and not nodes[i]["cpus"],
                "hugepages": [
                    {"page_size_bytes": s * KB, "total": t, "free": f, "surplus": su}
                    for s in (2048, 1048576)
                    for (t, f, su) in [nodes[i]["pools"].get(s, (0, 0, 0))]
                ],
                "distances": {str(k): v for k, v in zip(ids, nodes[i]["distance"])},
            }
            for i in ids
        ],
    }
    with open(os.path.join(root, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")


def make_no_numa() -> None:
    root = os.path.join(HERE, "trees", "no-numa")
    shutil.rmtree(root, ignore_errors=True)
    sys_ = os.path.join(root, "sys")
    write(f"{sys_}/devices/system/cpu/online", "0-3")
    write(f"{sys_}/devices/system/cpu/possible", "0-3")
    write(f"{sys_}/kernel/mm/transparent_hugepage/enabled", "[always] madvise never")
    write(f"{sys_}/kernel/mm/transparent_hugepage/defrag", "always defer defer+madvise [madvise] never")
    for fname, v in zip(POOL_FILES, (16, 8, 0)):
        write(f"{sys_}/kernel/mm/hugepages/hugepages-2048kB/{fname}", str(v))
    write(os.path.join(root, "proc/meminfo"), proc_meminfo(8000000, 6000000, 7000000))
    expected = {
        "online_cpus": [0, 1, 2, 3],
        "possible_nodes": [0],
        "system_mem_total_bytes": 8000000 * KB,
        "system_mem_free_bytes": 6000000 * KB,
        "system_mem_available_bytes": 7000000 * KB,
        "nodes": [{
            "id": 0, "cpus": [0, 1, 2, 3],
            "mem_total_bytes": 8000000 * KB, "mem_free_bytes": 6000000 * KB,
            "memory_only": False,
            "hugepages": [{"page_size_bytes": 2048 * KB, "total": 16, "free": 8, "surplus": 0}],
            "distances": {"0": 10},
        }],
    }
    with open(os.path.join(root, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")


# ----------------------------------------------------------------------------- cgroups

STATUS = """Name:\tpython3
Umask:\t0022
State:\tR (running)
Pid:\t4242
Cpus_allowed:\t{mask}
Cpus_allowed_list:\t{cpus}
Mems_allowed:\t{mems_mask}
Mems_allowed_list:\t{mems}
voluntary_ctxt_switches:\t3
"""

MI_BASE = [
    "22 27 0:21 / /proc rw,relatime - proc proc rw",
    "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw",
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
]

V1_CONTROLLERS = ["cpu", "cpuacct", "cpuset", "memory", "pids"]
CTR = "3f4a9c2b" * 8  # 64 hex digits


def mask(ids) -> str:
    v = 0
    for i in ids:
        v |= 1 << i
    return f"{v:x}"


def make_cgroup_tree(name: str, cgroup: str, mountinfo: list[str], files: dict[str, str],
                     cpus: list[int], mems: list[int]) -> None:
    root = os.path.join(HERE, "cgroups", name)
    shutil.rmtree(root, ignore_errors=True)
    write(f"{root}/proc/self/cgroup", cgroup)
    write(f"{root}/proc/self/mountinfo", "\n".join(MI_BASE + mountinfo))
    write(f"{root}/proc/self/status", STATUS.format(
        mask=mask(cpus), cpus=fmt(cpus), mems_mask=mask(mems), mems=fmt(mems)))
    for rel, text in files.items():
        write(f"{root}/{rel}", text)


def v1_mounts(extra_root: str = "/") -> list[str]:
    lines = ["31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755"]
    for k, c in enumerate(V1_CONTROLLERS):
        r = extra_root if c == "cpuset" else "/"
        lines.append(f"{32 + k} 31 0:{29 + k} {r} /sys/fs/cgroup/{c} rw,nosuid,nodev,noexec,relatime shared:{9 + k} - cgroup cgroup rw,{c}")
    return lines


def make_cgroup_trees() -> None:
    cg = "/sys/fs/cgroup"

    # cgroup v1, a restricted cpuset below the root; the root allows more.
    path = "/batch/job1"
    make_cgroup_tree(
        "v1-restricted",
        "\n".join(f"{5 - k}:{c}:{path if c == 'cpuset' else '/'}" for k, c in enumerate(V1_CONTROLLERS)),
        v1_mounts(),
        {f"{cg[1:]}/cpuset/cpuset.cpus": "0-7", f"{cg[1:]}/cpuset/cpuset.mems": "0-1",
         f"{cg[1:]}/cpuset/cpuset.effective_cpus": "0-7", f"{cg[1:]}/cpuset/cpuset.effective_mems": "0-1",
         f"{cg[1:]}{'/cpuset' + path}/cpuset.cpus": "2-3", f"{cg[1:]}{'/cpuset' + path}/cpuset.mems": "1",
         f"{cg[1:]}{'/cpuset' + path}/cpuset.effective_cpus": "2-3",
         f"{cg[1:]}{'/cpuset' + path}/cpuset.effective_mems": "1"},
        [2, 3], [1])

    # cgroup v1 on an old kernel: no effective_* files.
    make_cgroup_tree(
        "v1-legacy-no-effective",
        "4:cpuset:/legacy\n3:memory:/\n",
        v1_mounts(),
        {f"{cg[1:]}/cpuset/legacy/cpuset.cpus": "4-5", f"{cg[1:]}/cpuset/legacy/cpuset.mems": "0"},
        [4, 5], [0])

    # cgroup v1 in a container without cgroup namespace (cgroupfs driver): the cpuset mount
    # shows the container's own cgroup (4th field) at /sys/fs/cgroup/cpuset.
    kpath = f"/kubepods/burstable/pod0c6b2f4e-1a2b-4c3d-9e8f-001122334455/{CTR}"
    make_cgroup_tree(
        "v1-kubepods-cgroupfs-container",
        f"4:cpuset:{kpath}\n3:memory:{kpath}\n",
        v1_mounts(extra_root=kpath),
        {f"{cg[1:]}/cpuset/cpuset.cpus": "6-7", f"{cg[1:]}/cpuset/cpuset.mems": "1",
         f"{cg[1:]}/cpuset/cpuset.effective_cpus": "6-7", f"{cg[1:]}/cpuset/cpuset.effective_mems": "1"},
        [6, 7], [1])

    v2_mount = [f"30 23 0:26 / {cg} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot"]
    # cgroup v2 on a host, restricted service.
    svc = "/system.slice/bench.service"
    make_cgroup_tree(
        "v2-restricted", f"0::{svc}", v2_mount,
        {f"{cg[1:]}/cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc",
         f"{cg[1:]}/cpuset.cpus.effective": "0-15", f"{cg[1:]}/cpuset.mems.effective": "0-1",
         f"{cg[1:]}{svc}/cgroup.controllers": "cpuset cpu io memory pids",
         f"{cg[1:]}{svc}/cpuset.cpus": "0-1", f"{cg[1:]}{svc}/cpuset.mems": "1",
         f"{cg[1:]}{svc}/cpuset.cpus.effective": "0-1", f"{cg[1:]}{svc}/cpuset.mems.effective": "1"},
        [0, 1], [1])

    # cgroup v2 in a container with a cgroup namespace: the path is "/".
    make_cgroup_tree(
        "v2-container-ns", "0::/",
        [f"1500 1400 0:26 / {cg} ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate"],
        {f"{cg[1:]}/cgroup.controllers": "cpuset cpu io memory hugetlb pids",
         f"{cg[1:]}/cpuset.cpus.effective": "4-7", f"{cg[1:]}/cpuset.mems.effective": "0"},
        [4, 5, 6, 7], [0])

    # cgroup v2, a Burstable pod's container seen from the host (systemd driver).
    pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_abcd.slice"
    kp = f"{pod}/cri-containerd-{CTR}.scope"
    make_cgroup_tree(
        "v2-kubepods-systemd", f"0::{kp}", v2_mount,
        {f"{cg[1:]}/cgroup.controllers": "cpuset cpu io memory hugetlb pids",
         f"{cg[1:]}/cpuset.cpus.effective": "0-15", f"{cg[1:]}/cpuset.mems.effective": "0-1",
         f"{cg[1:]}{pod}/cpuset.cpus.effective": "0-15", f"{cg[1:]}{pod}/cpuset.mems.effective": "0-1",
         f"{cg[1:]}{kp}/cpuset.cpus.effective": "8-11", f"{cg[1:]}{kp}/cpuset.mems.effective": "1"},
        [8, 9, 10, 11], [1])

    # cgroup v2 without the cpuset controller (e.g. a minimal VM or a delegated user slice).
    make_cgroup_tree(
        "v2-no-cpuset", "0::/user.slice/user-1000.slice/session-3.scope", v2_mount,
        {f"{cg[1:]}/cgroup.controllers": "cpu io memory pids"},
        [0, 1, 2], [0])


if __name__ == "__main__":
    make_numa_tree("two-socket-smt", {
        "possible": "0-1", "possible_ids": [0, 1], "possible_cpus": "0-63",
        "available_kb": 500000000,
        "nodes": {
            0: {"cpus": list(range(0, 16)) + list(range(32, 48)), "total_kb": 263921480,
                "free_kb": 250113024, "distance": [10, 21], "pools": {2048: (1024, 1000, 0)}},
            1: {"cpus": list(range(16, 32)) + list(range(48, 64)), "total_kb": 264241152,
                "free_kb": 255000000, "distance": [21, 10], "pools": {2048: (512, 512, 2)}},
        },
    })
    make_numa_tree("four-node-cxl", {
        "possible": "0-7", "possible_ids": list(range(8)), "possible_cpus": "0-15",
        "available_kb": 230000000,
        "nodes": {
            0: {"cpus": list(range(0, 8)), "total_kb": 67108864, "free_kb": 60000000,
                "distance": [10, 21, 24, 30], "pools": {2048: (256, 256, 0)}},
            1: {"cpus": list(range(8, 16)), "total_kb": 33554432, "free_kb": 30000000,
                "distance": [21, 10, 30, 24], "pools": {}},
            2: {"cpus": [], "total_kb": 134217728, "free_kb": 134000000,
                "distance": [26, 32, 10, 40], "pools": {1048576: (4, 3, 0)}},
            3: {"cpus": [], "total_kb": 16777216, "free_kb": 16700000,
                "distance": [32, 26, 40, 10], "pools": {}},
        },
    })
    make_no_numa()
    make_cgroup_trees()
