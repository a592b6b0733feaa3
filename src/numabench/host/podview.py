"""What a process (a pod's container, or any process) sees of its NUMA alignment: the pure verdict
and the files it reads. Pure host code: never imports the native extension nor ``numabench.kube``
(``numabench.kube.inspect`` adds the first-touch probe and the text report).

Pod identity comes from the cgroup path (``numabench.host.cgroups.kube_cgroup``: cgroupfs and systemd
drivers, every QoS class). Inside a container with a cgroup namespace the path is ``/`` and says
nothing; the pod UID (and container name) can still be read from the kubelet's bind mounts in
``/proc/self/mountinfo`` (``/var/lib/kubelet/pods/<uid>/etc-hosts``,
``.../pods/<uid>/containers/<name>/<id>`` for the termination log). The QoS class then stays
unknown.

Verdicts:

- ``aligned``: the cpuset's CPUs are on one node, ``cpuset.mems`` is that node, and the probe's
  pages are there (at least 99%), or the probe was skipped (then the reason says so).
- ``misaligned``: memory is allowed or placed off the CPUs' node: remote-only memory, CPUs on one
  node with mems spanning several, CPUs spanning nodes, or probe pages elsewhere.
- ``unpinned``: the shared pool: every online CPU and every memory node (BestEffort, Burstable,
  or Guaranteed without the static CPU/Memory Manager policies).
- ``single-node``: the machine has one NUMA node. Every CPU and page is local, so alignment cannot
  differ and there is nothing to prove; calling it ``aligned`` would credit a pod with a pinning it
  may not have (the kubelet's own node e2e test skips the NUMA check on such hosts). The reason
  still says whether the cgroup shows a Guaranteed pod.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any, Callable

from numabench.host.cgroups import CpusetView, cgroup_dir, parse_mountinfo, parse_proc_cgroup, read_process_cpuset
from numabench.host.topology import Topology, read_topology
from numabench.util.cpulist import format_cpulist
from numabench.util.fsread import read_text

__all__ = [
    "VERDICTS",
    "ON_NODE_MIN",
    "Prober",
    "alignment_verdict",
    "inspect_process",
    "nodes_of",
    "pod_from_mountinfo",
    "pod_identity",
    "read_hugetlb_limits",
]

VERDICTS = ("aligned", "misaligned", "unpinned", "single-node")
ON_NODE_MIN = 0.99  # same bar as placement.ON_TARGET_MIN
# cgroup v1 reports "no limit" as the largest page-aligned long.
_V1_UNLIMITED = 1 << 62

_UID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_POD_MOUNT = re.compile(rf"/pods/({_UID})/(?:containers/([^/]+)/|etc-hosts$|volumes/)")

# (topology, cpus, bytes) -> the probe's dict (see inspect_process)
Prober = Callable[[Topology, Any, int], dict[str, Any]]


def pod_from_mountinfo(mountinfo_text: str) -> tuple[str | None, str | None]:
    """(pod uid, container name) from the kubelet's bind mounts, or (None, None)."""
    uid = name = None
    for mount in parse_mountinfo(mountinfo_text):
        m = _POD_MOUNT.search(mount.root)
        if m:
            uid = uid or m.group(1)
            name = name or m.group(2)
    return uid, name


def read_hugetlb_limits(proc_root: str = "/proc", fs_root: str = "/", pid: int | str = "self") -> dict[str, Any] | None:
    """The hugetlb controller's limits for the process's cgroup: ``{"2MB": bytes or "max", ...}``.

    cgroup v2 ``hugetlb.<size>.max``; v1 ``hugetlb.<size>.limit_in_bytes`` (its "unlimited" value
    is shown as ``"max"``). None when no hugetlb controller is visible. Never raises.
    """
    pid_dir = os.path.join(proc_root, str(pid))
    cgroup_text = read_text(os.path.join(pid_dir, "cgroup"))
    mountinfo_text = read_text(os.path.join(pid_dir, "mountinfo"))
    if cgroup_text is None or mountinfo_text is None:
        return None
    v1, v2 = parse_proc_cgroup(cgroup_text)
    mounts = parse_mountinfo(mountinfo_text)
    candidates = []
    if "hugetlb" in v1:
        candidates += [(m, v1["hugetlb"], ".limit_in_bytes") for m in mounts
                       if m.fstype == "cgroup" and "hugetlb" in m.super_options]
    if v2 is not None:
        candidates += [(m, v2, ".max") for m in mounts if m.fstype == "cgroup2"]
    for mount, path, suffix in candidates:
        d = cgroup_dir(fs_root, mount, path)
        if d is None:
            continue
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        limits: dict[str, Any] = {}
        for name in names:
            m = re.fullmatch(r"hugetlb\.(\d+[KMG]B)" + re.escape(suffix), name)
            if not m:
                continue
            text = (read_text(os.path.join(d, name)) or "").strip()
            if text == "max" or (text.isdigit() and int(text) >= _V1_UNLIMITED):
                limits[m.group(1)] = "max"
            elif text.isdigit():
                limits[m.group(1)] = int(text)
        if limits:
            return limits
    return None


def nodes_of(topo: Topology, cpus: Iterable[int]) -> list[int]:
    """The NUMA nodes of ``cpus`` on ``topo``, ascending."""
    nodes: set[int] = set()
    for c in cpus:
        for n in topo.nodes:
            if c in n.cpus:
                nodes.add(n.id)
    return sorted(nodes)


def _qos_words(pod: dict[str, Any]) -> str:
    if pod.get("qos_class"):
        return f"the cgroup shows a {pod['qos_class']} pod"
    if pod.get("pod_uid"):
        return "a pod whose QoS class the cgroup namespace hides"
    return "no pod in the cgroup path"


def alignment_verdict(topo: Topology, cpus: Iterable[int], mems: Iterable[int], pod: dict[str, Any] | None = None,
                      probe_pages_by_node: dict[int, int] | None = None) -> tuple[str, str]:
    """(verdict, reason in words) for a cpuset on ``topo``; see the module docstring.

    ``probe_pages_by_node`` (node -> pages) is where a first-touch probe's pages landed, or None
    when no probe was made.
    """
    pod = pod or {}
    cpus, mems = sorted(set(cpus)), sorted(set(mems))
    cpu_nodes = nodes_of(topo, cpus)
    if len(topo.nodes) == 1:
        return "single-node", (
            f"this machine has one NUMA node ({topo.nodes[0].id}): CPUs {format_cpulist(cpus)} and all memory are "
            f"on it, so alignment cannot differ; {_qos_words(pod)}")
    all_cpus, all_mems = set(topo.online_cpus), set(topo.memory_nodes)
    if set(cpus) >= all_cpus and set(mems) >= all_mems:
        return "unpinned", (
            f"shared pool: the cpuset is every online CPU ({format_cpulist(cpus)}) and every memory node "
            f"({format_cpulist(mems)}), so pages go to whichever node the thread runs on; {_qos_words(pod)}")
    c, m = format_cpulist(cpu_nodes) or "none", format_cpulist(mems) or "none"
    if not set(mems) & set(cpu_nodes):
        return "misaligned", f"remote-only memory: CPUs on node(s) {c}, memory allowed only on node(s) {m}"
    if len(cpu_nodes) > 1:
        return "misaligned", (f"CPUs {format_cpulist(cpus)} span nodes {c} (memory on {m}): part of every "
                              "thread's accesses is remote")
    node = cpu_nodes[0]
    if len(mems) > 1:
        return "misaligned", (f"CPUs on node {node}, but cpuset.mems allows nodes {m}: pages may be placed "
                              "on a remote node")
    if probe_pages_by_node is None:
        return "aligned", (f"CPUs {format_cpulist(cpus)} and memory on node {node} (probe skipped: where pages "
                           "land was not checked)")
    total = sum(probe_pages_by_node.values())
    here = probe_pages_by_node.get(node, 0)
    if total == 0:
        return "aligned", f"CPUs {format_cpulist(cpus)} and memory on node {node} (probe pages could not be located)"
    if here / total < ON_NODE_MIN:
        found = ", ".join(f"node {n}: {p}" for n, p in sorted(probe_pages_by_node.items()))
        return "misaligned", (f"cpuset says node {node}, but only {here / total:.1%} of the probe's pages are "
                              f"there ({found})")
    return "aligned", f"CPUs {format_cpulist(cpus)}, memory and all {total} probe pages on node {node}"


def pod_identity(view: CpusetView, proc_root: str, pid: int | str) -> dict[str, Any]:
    """qos_class, pod_uid, container_id, container_name, runtime, driver and source (None where
    unknown), from the cgroup path and, inside a cgroup namespace, the kubelet's bind mounts."""
    kube = view.kube
    pod: dict[str, Any] = {"qos_class": None, "pod_uid": None, "container_id": None, "container_name": None,
                           "runtime": None, "driver": None, "source": None}
    if kube is not None:
        pod.update(kube.to_dict(), source="cgroup path")
    mi = read_text(os.path.join(proc_root, str(pid), "mountinfo"))
    if mi is not None:
        uid, name = pod_from_mountinfo(mi)
        if pod["pod_uid"] is None and uid is not None:
            pod.update(pod_uid=uid, source="kubelet bind mounts in mountinfo")
        if name is not None and (pod["pod_uid"] in (None, uid)):
            pod["container_name"] = name
    return pod


def inspect_process(proc_root: str = "/proc", fs_root: str = "/", sysfs_root: str = "/sys",
                    probe_bytes: int = 0, pid: int | str = "self", prober: Prober | None = None) -> dict[str, Any]:
    """Everything ``numabench pod inspect`` reports, as a JSON-ready dict.

    Keys: ``verdict`` (one of VERDICTS), ``reason``, ``pod`` (qos_class, pod_uid, container_id,
    container_name, runtime, driver, source; None where unknown), ``cgroup`` (CpusetView.to_dict),
    ``cpus``/``mems`` (effective cpuset, falling back to /proc status), ``cpu_nodes``, ``machine``
    (nodes, memory_nodes, online_cpus), ``probe`` (None when ``probe_bytes`` is 0; else size_bytes,
    cpu, node, method, verified_by, page_bytes, pages_by_node {"node": pages}, pages_unlocated,
    on_node_fraction, notes; or {"skipped": why} / {"error": message}), ``hugetlb_limits``
    ({"2MB": bytes or "max"} or None) and ``notes``.

    Cost: reading a few small files, plus, when ``probe_bytes`` > 0, what ``prober(topology,
    cpus, probe_bytes)`` costs (``numabench.measure.probe.first_touch_probe`` maps and faults in
    that many bytes and locates each page; this module never maps memory nor imports the native
    extension). The probe always measures this live process, whatever ``proc_root`` says; it is
    skipped when ``pid`` is not "self" or no prober is given.

    Raises:
        TopologyError: ``<proc_root>/<pid>/status`` or the sysfs topology cannot be read.
    """
    view = read_process_cpuset(proc_root, fs_root, pid)
    topo = read_topology(sysfs_root, proc_root)
    notes: list[str] = []
    cpus = view.cpuset_cpus if view.cpuset_cpus is not None else view.cpus_allowed
    mems = view.cpuset_mems if view.cpuset_mems is not None else view.mems_allowed
    if view.cpuset_cpus is None:
        notes.append("no cgroup cpuset visible: CPUs and memory nodes from /proc status "
                     "(Cpus_allowed_list, Mems_allowed_list)")
    if view.cgroup_path == "/":
        notes.append("cgroup path is / (the root cgroup, or a cgroup namespace): "
                     "the cpuset was read at the cgroup mount's root")
    pod = pod_identity(view, proc_root, pid)
    if pod["pod_uid"] is not None and pod["qos_class"] is None:
        notes.append("the QoS class is not visible from inside a cgroup namespace")

    found: dict[str, Any] | None = None
    if probe_bytes > 0:
        if str(pid) != "self":
            found = {"skipped": "the probe measures this process only (pid is not self)"}
        elif prober is None:
            found = {"skipped": "no probe was given (this layer never maps memory itself)"}
        else:
            found = prober(topo, cpus, probe_bytes)
    pages = None
    if found is not None and "pages_by_node" in found and found.get("verified_by"):
        pages = {int(k): v for k, v in found["pages_by_node"].items()}
    verdict, reason = alignment_verdict(topo, cpus, mems, pod, pages)
    return {
        "verdict": verdict,
        "reason": reason,
        "pod": pod,
        "cgroup": view.to_dict(),
        "cpus": list(cpus),
        "mems": list(mems),
        "cpu_nodes": nodes_of(topo, cpus),
        "machine": {"nodes": list(topo.node_ids), "memory_nodes": list(topo.memory_nodes),
                    "online_cpus": list(topo.online_cpus)},
        "probe": found,
        "hugetlb_limits": read_hugetlb_limits(proc_root, fs_root, pid),
        "notes": notes,
    }
