"""Each CPU's place in the machine: package (socket), die, core, SMT siblings and the CPUs sharing
its last-level cache, from ``/sys/devices/system/cpu/cpuN/{topology,cache}``.

The kubelet's ``takeByTopology`` (sockets, then NUMA nodes, then cores, then threads) and the
cache-to-cache latency groups (SMT sibling, same L3, other L3, other node) both need it; the NUMA
view (``host.topology``) does not. Kernels without a file (old ones, s390, containers that hide
``cache/``) get the conservative reading: a CPU alone on its core and package 0, no shared cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from numabench.errors import TopologyError
from numabench.util.cpulist import clean_list_text, parse_cpulist, parse_cpumask
from numabench.util.fsread import read_text

__all__ = ["CpuPlace", "read_cpu_places", "places_from_dict"]

_CPU_DIR = "devices/system/cpu"


@dataclass(frozen=True)
class CpuPlace:
    """Where one logical CPU sits. ``core`` is the kernel's ``core_id`` (unique only within a
    package, and not even there on some AMD parts); ``core_key``, the lowest id of the SMT
    siblings, is unique machine-wide (the kubelet's ``getUniqueCoreID`` does the same).
    ``siblings`` includes the CPU itself. ``llc`` is the set of CPUs sharing its highest-level
    unified (or data) cache, ``llc_level`` that level
    (None when sysfs has no cache directory)."""

    cpu: int
    package: int
    die: int
    core: int
    siblings: tuple[int, ...]
    llc: tuple[int, ...]
    llc_level: int | None

    @property
    def core_key(self) -> int:
        return self.siblings[0]

    def to_dict(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "package": self.package, "die": self.die, "core": self.core,
                "siblings": list(self.siblings), "llc": list(self.llc), "llc_level": self.llc_level}


def places_from_dict(items: Any) -> dict[int, CpuPlace]:
    """Read ``to_dict``'s list back (a node file or a capture).

    Raises:
        TopologyError: an entry that is not such a dict.
    """
    out: dict[int, CpuPlace] = {}
    try:
        for d in items:
            cpu = int(d["cpu"])
            out[cpu] = CpuPlace(cpu, int(d.get("package", 0)), int(d.get("die", 0)), int(d.get("core", cpu)),
                                tuple(int(c) for c in d.get("siblings", [cpu])),
                                tuple(int(c) for c in d.get("llc", [])),
                                None if d.get("llc_level") is None else int(d["llc_level"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TopologyError(f"malformed CPU place entry ({type(exc).__name__}: {exc})",
                            "entries are {cpu: N, package: P, core: C, siblings: [..]}") from None
    return out


def read_cpu_places(cpus: tuple[int, ...] | list[int], sysfs_root: str = "/sys") -> dict[int, CpuPlace]:
    """The place of each CPU in ``cpus`` (online CPUs; an offline CPU has no topology files).

    Raises:
        TopologyError: a file that exists but does not parse (named).
    """
    return {cpu: _read_one(os.path.join(sysfs_root, _CPU_DIR, f"cpu{cpu}"), cpu) for cpu in cpus}


def _read_one(d: str, cpu: int) -> CpuPlace:
    topo = os.path.join(d, "topology")
    package = _int(os.path.join(topo, "physical_package_id"), 0)
    die = _int(os.path.join(topo, "die_id"), 0)
    core = _int(os.path.join(topo, "core_id"), cpu)
    # core_cpus_list is the newer name (5.x); thread_siblings_list the older one; kernels before
    # 2.6.2x have only the hexadecimal masks.
    siblings = (_list(os.path.join(topo, "core_cpus_list")) or _list(os.path.join(topo, "thread_siblings_list"))
                or _mask(os.path.join(topo, "thread_siblings")) or (cpu,))
    llc, level = _last_level_cache(os.path.join(d, "cache"))
    return CpuPlace(cpu, max(package, 0), max(die, 0), core, tuple(sorted(set(siblings) | {cpu})), llc, level)


def _last_level_cache(cache_dir: str) -> tuple[tuple[int, ...], int | None]:
    best: tuple[tuple[int, ...], int | None] = ((), None)
    try:
        names = sorted(n for n in os.listdir(cache_dir) if n.startswith("index"))
    except OSError:
        return best
    for name in names:
        idx = os.path.join(cache_dir, name)
        kind = (read_text(os.path.join(idx, "type")) or "").strip()
        level = _int(os.path.join(idx, "level"), -1)
        if kind == "Instruction" or level < 0:
            continue
        shared = _list(os.path.join(idx, "shared_cpu_list"))
        if shared and (best[1] is None or level > best[1]):
            best = (shared, level)
    return best


def _int(path: str, default: int) -> int:
    text = read_text(path)
    if text is None:
        return default
    text = clean_list_text(text)
    try:
        return int(text)
    except ValueError:
        raise TopologyError(f"{path}: expected an integer, got {text!r}",
                            "check the sysfs tree (or --sysfs-root) is a Linux one") from None


def _mask(path: str) -> tuple[int, ...] | None:
    text = read_text(path)
    if text is None or not clean_list_text(text):
        return None
    try:
        return parse_cpumask(text) or None
    except ValueError as exc:
        raise TopologyError(f"{path}: {exc}", "check the sysfs tree (or --sysfs-root) is a Linux one") from None


def _list(path: str) -> tuple[int, ...] | None:
    text = read_text(path)
    if text is None or not clean_list_text(text):
        return None
    try:
        return parse_cpulist(text)
    except ValueError as exc:
        raise TopologyError(f"{path}: {exc}", "check the sysfs tree (or --sysfs-root) is a Linux one") from None
