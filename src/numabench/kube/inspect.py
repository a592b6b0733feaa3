"""``numabench pod inspect``: the alignment verdict of ``numabench.host.podview`` plus a measured
probe, and its text report.

Where memory really goes is measured, not assumed: a probe buffer is faulted in by first touch
from a CPU of the cpuset (``placement.place`` with policy ``local``, which needs no capability and
verifies with ``move_pages`` or, where that is denied, ``/proc/self/numa_maps``).

The probe needs the native extension, which ``kube`` never imports at module import time: it is
imported inside ``first_touch_probe`` only, so ``pod plan``, ``kubelet lint`` and the rest of
``kube`` work where the extension is not built. (It stays here rather than in ``native``: it is
the pod inspection's own measurement, and ``native`` is not this package's to extend.)
"""

from __future__ import annotations

import os
from typing import Any

from numabench.errors import NumabenchError
from numabench.host import podview
from numabench.host.topology import Topology
from numabench.util.cpulist import format_cpulist

__all__ = ["DEFAULT_PROBE_BYTES", "first_touch_probe", "format_inspection", "inspect_process"]

DEFAULT_PROBE_BYTES = 64 << 20


def first_touch_probe(topo: Topology, cpus, probe_bytes: int) -> dict[str, Any]:
    """Fault in ``probe_bytes`` by first touch from the first usable CPU and locate the pages
    (a ``podview.Prober``); the memory is released before returning. Never raises for a probe that
    fails: the dict says ``skipped`` or ``error``."""
    from numabench.native.placement import place  # the native extension: loaded only when probing

    live = set(os.sched_getaffinity(0))
    usable = [c for c in sorted(cpus) if c in live]
    if not usable:
        return {"skipped": f"no CPU of the cpuset ({format_cpulist(cpus)}) is in this process's affinity"}
    cpu = usable[0]
    node = topo.cpu_node(cpu)
    try:
        arena, placement = place(probe_bytes, "4k", [node], "local", cpu)
    except NumabenchError as exc:
        return {"error": str(exc), "size_bytes": probe_bytes, "cpu": cpu, "node": node}
    try:
        return {
            "size_bytes": probe_bytes,
            "cpu": cpu,
            "node": node,
            "method": placement.method,
            "verified_by": placement.verified_by,
            "page_bytes": placement.page_bytes,
            "pages_by_node": {str(k): v for k, v in sorted(placement.pages_by_node.items())},
            "pages_unlocated": placement.pages_unlocated,
            "on_node_fraction": placement.on_target_fraction,
            "notes": list(placement.notes),
        }
    finally:
        arena.close()


def inspect_process(proc_root: str = "/proc", fs_root: str = "/", sysfs_root: str = "/sys",
                    probe_bytes: int = DEFAULT_PROBE_BYTES, pid: int | str = "self") -> dict[str, Any]:
    """Everything ``numabench pod inspect`` reports: ``podview.inspect_process`` with the first-touch
    probe of ``probe_bytes`` (0: none). See there for the keys and what it raises."""
    return podview.inspect_process(proc_root, fs_root, sysfs_root, probe_bytes, pid, prober=first_touch_probe)


def format_inspection(doc: dict[str, Any]) -> str:
    """The text report of ``numabench pod inspect``."""
    pod, cg = doc["pod"], doc["cgroup"]
    lines = [f"verdict: {doc['verdict']}: {doc['reason']}"]
    ident = [f"{k.replace('_', ' ')} {pod[k]}" for k in ("qos_class", "pod_uid", "container_name", "container_id",
                                                         "runtime", "driver") if pod.get(k)]
    lines.append("pod: " + (", ".join(ident) + f" (from the {pod['source']})" if ident else "not visible"))
    lines.append(f"cgroup: v{cg['cgroup_version']} {cg['cgroup_path']}" if cg["cgroup_version"]
                 else f"cgroup: no cpuset controller ({cg['cgroup_path'] or 'unknown path'})")
    lines.append(f"cpuset.cpus {format_cpulist(doc['cpus'])} (NUMA node(s) {format_cpulist(doc['cpu_nodes'])}), "
                 f"cpuset.mems {format_cpulist(doc['mems'])}; machine nodes {format_cpulist(doc['machine']['nodes'])}")
    probe = doc["probe"]
    if probe is None:
        lines.append("probe: skipped (--probe-size 0)")
    elif "skipped" in probe:
        lines.append(f"probe: skipped: {probe['skipped']}")
    elif "error" in probe:
        lines.append(f"probe: failed: {probe['error']}")
    else:
        where = ", ".join(f"node {k}: {v}" for k, v in probe["pages_by_node"].items()) or "not located"
        lines.append(f"probe: {probe['size_bytes'] >> 20} MiB by {probe['method']} from CPU {probe['cpu']}, "
                     f"verified by {probe['verified_by'] or 'nothing'}: pages {where}")
        lines += [f"  note: {n}" for n in probe["notes"]]
    limits = doc["hugetlb_limits"]
    if limits:
        lines.append("hugetlb limits: " + ", ".join(
            f"{k} {v if v == 'max' else str(v >> 20) + ' MiB'}" for k, v in limits.items()))
    lines += [f"note: {n}" for n in doc["notes"]]
    return "\n".join(lines)
