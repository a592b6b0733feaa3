"""``numabench pod inspect``: the alignment verdict of ``numabench.host.podview`` plus a measured
probe, and its text report.

Where memory really goes is measured, not assumed, by a probe the caller passes in
(``numabench.measure.probe.first_touch_probe``): ``kube`` never imports the native extension, so
``pod plan``, ``kubelet lint`` and the rest of ``kube`` work where it is not built.
"""
from __future__ import annotations

from typing import Any

from numabench.host import podview
from numabench.util.cpulist import format_cpulist

__all__ = ["DEFAULT_PROBE_BYTES", "format_inspection", "inspect_process"]

DEFAULT_PROBE_BYTES = 64 << 20


def inspect_process(proc_root: str = "/proc", fs_root: str = "/", sysfs_root: str = "/sys",
                    probe_bytes: int = DEFAULT_PROBE_BYTES, pid: int | str = "self",
                    prober: podview.Prober | None = None) -> dict[str, Any]:
    """Everything ``numabench pod inspect`` reports: ``podview.inspect_process`` with the probe
    ``prober`` makes of ``probe_bytes`` (0: none; the CLI passes ``measure.probe.first_touch_probe``).
    See there for the keys and what it raises."""
    return podview.inspect_process(proc_root, fs_root, sysfs_root, probe_bytes, pid, prober=prober)


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
