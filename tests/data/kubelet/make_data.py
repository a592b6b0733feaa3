"""Writes tests/data/kubelet/{state,configs} and the pod cgroup trees tests/data/cgroups/pod-*.

Run from anywhere: ``python3 tests/data/kubelet/make_data.py``. The files are committed; this
script documents how they were made. The state files marked "kubelet vector" are copied from the
kubelet's own tests (pkg/kubelet/cm/{memory,cpu}manager/state/state_checkpoint_test.go), checksums
included; ``two-node`` is crafted, its checksum made with numabench (a display fixture only).
"""

from __future__ import annotations

import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from make_trees import CTR, MI_BASE, make_cgroup_tree, v1_mounts, write

UID = "0c6b2f4e-1a2b-4c3d-9e8f-001122334455"
UID_ = UID.replace("-", "_")

MEM_V1 = ('{"policyName":"static","machineState":{"0":{"numberOfAssignments":0,"memoryMap":{"memory":{"total":2048,'
          '"systemReserved":512,"allocatable":1536,"reserved":512,"free":1024}},"cells":[]}},"entries":{"pod":'
          '{"container1":[{"numaAffinity":[0],"type":"memory","size":512}]}},"checksum":4215593881}')
MEM_V2 = ('{"policyName":"static","machineState":{"0":{"numberOfAssignments":0,"memoryMap":{"memory":{"total":2048,'
          '"systemReserved":512,"allocatable":1536,"reserved":512,"free":1024}},"cells":[]}},"entries":{"pod":'
          '{"container1":[{"numaAffinity":[0],"type":"memory","size":512}]}},"podEntries":{"pod":{"memoryBlocks":'
          '[{"numaAffinity":[0],"type":"memory","size":512}]}},"checksum": 1278640530}')
MEM_V3 = r'''{
  "policyName":"other",
  "machineState":{"0":{"numberOfAssignments":5,"memoryMap":{"memory":{"total":1024,"systemReserved":256,"allocatable":768,"reserved":256,"free":512}},"cells":[]}},
  "entries":{"pod":{"containerX":[{"numaAffinity":[0],"type":"memory","size":128}]}},
  "checksum": 1234,
  "data": "{\"policyName\":\"static\",\"machineState\":{\"0\":{\"numberOfAssignments\":0,\"memoryMap\":{\"memory\":{\"total\":2048,\"systemReserved\":512,\"allocatable\":1536,\"reserved\":512,\"free\":1024}},\"cells\":[]}},\"entries\":{\"pod\":{\"container1\":[{\"numaAffinity\":[0],\"type\":\"memory\",\"size\":512}]}}}",
  "dataChecksum": 1849615440
}'''
CPU_V1 = ('{"policyName": "static", "defaultCPUSet": "7-9", "entries": {"containerID1": "4-6", "containerID2": "1-3"}, '
          '"checksum": 2026311253}')
CPU_V2 = ('{"policyName": "static", "defaultCPUSet": "7-9", "entries": {"pod": {"container1": "4-6", '
          '"container2": "1-3"}}, "checksum": 1942532442}')
CPU_V3 = ('{"policyName": "static", "defaultCPUSet": "1-2", "entries": {"pod1": {"container1": "5-6", '
          '"container2": "3-4"}}, "podEntries": {"pod2": {"cpuSet":"7-9"}}, "checksum": 766259872}')
CPU_V4 = r'''{"policyName": "other", "defaultCPUSet": "1-9", "checksum": 1234,
  "data": "{\"policyName\":\"static\",\"defaultCPUSet\":\"7-9\",\"entries\":{\"pod\":{\"container1\":\"4-6\",\"container2\":\"1-3\"}}}",
  "dataChecksum": 1420829534}'''


def two_node_state() -> tuple[str, str]:
    """A two-node Static node with two Guaranteed pods (crafted)."""
    sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "src"))
    import json

    from numabench.kube.kubelet.checkpoint import _CPU_LAYOUTS, _MEM_LAYOUTS, _load_json, _Obj, fnv32a, spew_for_hash

    gi, mi = 1 << 30, 1 << 20
    def table(total, sysres, reserved):
        return {"total": total, "systemReserved": sysres, "allocatable": total - sysres, "reserved": reserved,
                "free": total - sysres - reserved}
    mem = {
        "policyName": "Static",
        "machineState": {
            "0": {"numberOfAssignments": 2, "memoryMap": {
                "memory": table(64 * gi, 562 * mi, 4 * gi), "hugepages-2Mi": table(2 * gi, 0, gi),
                "hugepages-1Gi": table(0, 0, 0)}, "cells": [0]},
            "1": {"numberOfAssignments": 1, "memoryMap": {
                "memory": table(64 * gi, 562 * mi, 8 * gi), "hugepages-2Mi": table(0, 0, 0),
                "hugepages-1Gi": table(4 * gi, 0, 0)}, "cells": [1]},
        },
        "entries": {
            UID: {"bench": [{"numaAffinity": [0], "type": "memory", "size": 4 * gi},
                            {"numaAffinity": [0], "type": "hugepages-2Mi", "size": gi}]},
            "7d2e9f10-5b6a-4c8d-9e0f-a1b2c3d4e5f6": {"db": [{"numaAffinity": [1], "type": "memory", "size": 8 * gi}]},
        },
        "checksum": 0,
    }
    lay = _MEM_LAYOUTS[0]
    value = lay.struct.decode(_load_json(json.dumps(mem)), dict(lay.initial), "")
    mem["checksum"] = fnv32a(spew_for_hash(lay.struct, value, "MemoryManagerCheckpoint").encode())
    cpu = {"policyName": "static", "defaultCpuSet": "0,2-15,18-63",
           "entries": {UID: {"bench": "1"}, "7d2e9f10-5b6a-4c8d-9e0f-a1b2c3d4e5f6": {"db": "16-17"}}, "checksum": 0}
    lay = _CPU_LAYOUTS[1]
    value = lay.struct.decode(_load_json(json.dumps(cpu)), dict(lay.initial), "")
    cpu["checksum"] = fnv32a(spew_for_hash(lay.struct, value, "CPUManagerCheckpoint").encode())
    assert isinstance(_load_json("{}"), _Obj)
    return json.dumps(mem), json.dumps(cpu)


def make_states() -> None:
    root = os.path.join(HERE, "state")
    shutil.rmtree(root, ignore_errors=True)
    cases = {
        "v1": {"memory_manager_state": MEM_V1, "cpu_manager_state": CPU_V2},
        "v2-pod-entries": {"memory_manager_state": MEM_V2, "cpu_manager_state": CPU_V3},
        "data-format": {"memory_manager_state": MEM_V3, "cpu_manager_state": CPU_V4},
        "cpu-v1-only": {"cpu_manager_state": CPU_V1},
    }
    mem, cpu = two_node_state()
    cases["two-node"] = {"memory_manager_state": mem, "cpu_manager_state": cpu}
    for case, files in cases.items():
        for name, text in files.items():
            write(os.path.join(root, case, name), text)


CONFIG_HEAD = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
ALIGNED = ("memoryManagerPolicy: Static\ncpuManagerPolicy: static\ntopologyManagerPolicy: single-numa-node\n"
           "kubeReserved: {cpu: 500m, memory: 512Mi}\nsystemReserved: {memory: 512Mi}\n"
           "evictionHard: {memory.available: 100Mi, nodefs.available: 10%}\n")
CONFIGS = {
    # 512Mi + 512Mi + 100Mi = 1124Mi = 562Mi on each node.
    "valid.yaml": ALIGNED + "reservedMemory:\n- numaNode: 0\n  limits: {memory: 562Mi}\n"
                            "- numaNode: 1\n  limits: {memory: 562Mi}\n",
    "sum-mismatch.yaml": ALIGNED + "reservedMemory:\n- numaNode: 0\n  limits: {memory: 1Gi}\n",
    "no-cpu-manager.yaml": "memoryManagerPolicy: Static\ntopologyManagerPolicy: restricted\n"
                           "reservedMemory:\n- numaNode: 0\n  limits: {memory: 100Mi}\n",
    "unknown-resource.yaml": ALIGNED + "reservedMemory:\n- numaNode: 0\n  limits: {memory: 1124Mi, cpu: '1'}\n",
    "duplicate.yaml": ALIGNED + "reservedMemory:\n- numaNode: 0\n  limits: {memory: 1000Mi}\n"
                                "- numaNode: 0\n  limits: {memory: 124Mi}\n",
    "zero.yaml": ALIGNED + "reservedMemory:\n- numaNode: 0\n  limits: {memory: 1124Mi, hugepages-2Mi: '0'}\n",
    # hugepages reserved on node 0 with no matching kube/systemReserved: refused.
    "hugepages-unbalanced.yaml": ALIGNED + "reservedMemory:\n- numaNode: 0\n  limits: {memory: 1124Mi, "
                                           "hugepages-2Mi: 2Mi}\n",
    # systemReserved hugepages-1Gi: 1Gi balanced by node 1; memory as 1.5Gi-style decimals:
    # 1Gi + 0.5Gi + 100Mi = 1636Mi = 1.5Gi + 100Mi.
    "hugepages-decimal.yaml": "memoryManagerPolicy: Static\ncpuManagerPolicy: static\n"
                              "topologyManagerPolicy: single-numa-node\n"
                              "kubeReserved: {memory: 1Gi}\nsystemReserved: {memory: 0.5Gi, hugepages-1Gi: 1Gi}\n"
                              "reservedMemory:\n- numaNode: 0\n  limits: {memory: 1.5Gi}\n"
                              "- numaNode: 1\n  limits: {memory: 100Mi, hugepages-1Gi: 1Gi}\n",
    "uppercase-k.yaml": ALIGNED + "reservedMemory:\n- numaNode: 0\n  limits: {memory: 1150976K}\n",
    "best-effort-topology.yaml": ALIGNED.replace("single-numa-node", "best-effort")
                                 + "reservedMemory:\n- numaNode: 0\n  limits: {memory: 1124Mi}\n",
    "node-missing.yaml": ALIGNED + "reservedMemory:\n- numaNode: 0\n  limits: {memory: 562Mi}\n"
                                   "- numaNode: 5\n  limits: {memory: 562Mi}\n",
    "eviction-partial.yaml": "memoryManagerPolicy: Static\ncpuManagerPolicy: static\n"
                             "topologyManagerPolicy: single-numa-node\nsystemReserved: {memory: 1Gi}\n"
                             "evictionHard: {nodefs.available: 10%}\n"
                             "reservedMemory:\n- numaNode: 0\n  limits: {memory: 1Gi}\n",
}


def make_configs() -> None:
    root = os.path.join(HERE, "configs")
    shutil.rmtree(root, ignore_errors=True)
    for name, body in CONFIGS.items():
        write(os.path.join(root, name), CONFIG_HEAD + body)
    write(os.path.join(root, "invalid.yaml"), CONFIG_HEAD + "reservedMemory: [\n  - numaNode: 0\n")
    write(os.path.join(root, "not-kubelet.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n")


def make_pod_trees() -> None:
    cg = "sys/fs/cgroup"
    v2_mount = [("30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
                "rw,nsdelegate,memory_recursiveprot")]
    ctrl = "cpuset cpu io memory hugetlb pids"

    # Guaranteed, systemd driver, containerd, seen from the host: CPUs 2-3 and memory on node 0.
    pod = f"/kubepods.slice/kubepods-pod{UID_}.slice"
    kp = f"{pod}/cri-containerd-{CTR}.scope"
    make_cgroup_tree("pod-v2-systemd-guaranteed", f"0::{kp}", v2_mount, {
        f"{cg}/cgroup.controllers": ctrl, f"{cg}/cpuset.cpus.effective": "0-63", f"{cg}/cpuset.mems.effective": "0-1",
        f"{cg}{kp}/cpuset.cpus.effective": "2-3", f"{cg}{kp}/cpuset.mems.effective": "0",
        f"{cg}{kp}/hugetlb.2MB.max": str(1 << 30), f"{cg}{kp}/hugetlb.1GB.max": "max",
    }, [2, 3], [0])

    # Burstable, systemd driver, CRI-O: the shared pool.
    pod = f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice"
    kp = f"{pod}/crio-{CTR}.scope"
    make_cgroup_tree("pod-v2-systemd-burstable-crio", f"0::{kp}", v2_mount, {
        f"{cg}/cgroup.controllers": ctrl, f"{cg}{kp}/cpuset.cpus.effective": "0-63",
        f"{cg}{kp}/cpuset.mems.effective": "0-1",
    }, list(range(64)), [0, 1])

    # BestEffort, cgroupfs driver, cgroup v1, host view; hugetlb v1 unlimited.
    kp = f"/kubepods/besteffort/pod{UID}/{CTR}"
    mounts = v1_mounts() + [("40 31 0:40 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:20 "
                            "- cgroup cgroup rw,hugetlb")]
    make_cgroup_tree("pod-v1-cgroupfs-besteffort", f"6:hugetlb:{kp}\n4:cpuset:{kp}\n3:memory:{kp}\n", mounts, {
        f"{cg}/cpuset{kp}/cpuset.effective_cpus": "0-63", f"{cg}/cpuset{kp}/cpuset.effective_mems": "0-1",
        f"{cg}/hugetlb{kp}/hugetlb.2MB.limit_in_bytes": "9223372036854771712",
        f"{cg}/hugetlb{kp}/hugetlb.1GB.limit_in_bytes": "9223372036854771712",
    }, list(range(64)), [0, 1])

    # Guaranteed, cgroupfs, v1: CPUs on node 1, memory only on node 0 (remote-only).
    kp = f"/kubepods/pod{UID}/{CTR}"
    make_cgroup_tree("pod-v1-cgroupfs-guaranteed-remote", f"4:cpuset:{kp}\n3:memory:{kp}\n", v1_mounts(), {
        f"{cg}/cpuset{kp}/cpuset.effective_cpus": "16-17", f"{cg}/cpuset{kp}/cpuset.effective_mems": "0",
    }, [16, 17], [0])

    # Inside a container with a cgroup namespace ("/"): CPUs on node 0, mems spanning 0-1; the pod
    # UID and container name only in the kubelet's bind mounts.
    ns_mounts = [
        "1500 1400 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate",
        f"1510 1400 254:1 /var/lib/kubelet/pods/{UID}/etc-hosts /etc/hosts rw,relatime - ext4 /dev/vda1 rw",
        (f"1511 1400 254:1 /var/lib/kubelet/pods/{UID}/containers/bench/5a1b2c3d /dev/termination-log rw,relatime "
        "- ext4 /dev/vda1 rw"),
    ]
    make_cgroup_tree("pod-v2-ns-spanning", "0::/", ns_mounts, {
        f"{cg}/cgroup.controllers": ctrl, f"{cg}/cpuset.cpus.effective": "4-7", f"{cg}/cpuset.mems.effective": "0-1",
        f"{cg}/hugetlb.2MB.max": "0",
    }, [4, 5, 6, 7], [0, 1])


if __name__ == "__main__":
    assert MI_BASE
    make_states()
    make_configs()
    make_pod_trees()
