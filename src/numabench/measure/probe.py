"""The first-touch probe of `numabench pod inspect`: where a pod's memory really goes.

A probe buffer is faulted in by first touch from a CPU of the cpuset (`placement.place` with
policy `local`, which needs no capability) and located with `move_pages` or, where that is
denied, `/proc/self/numa_maps`.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any

from numabench.errors import NumabenchError
from numabench.host.topology import Topology
from numabench.native.placement import place
from numabench.util.cpulist import format_cpulist


def first_touch_probe(topo: Topology, cpus: Collection[int], probe_bytes: int) -> dict[str, Any]:
    """Fault in ``probe_bytes`` by first touch from the first usable CPU and locate the pages
    (a ``podview.Prober``); the memory is released before returning. Never raises for a probe that
    fails: the dict says ``skipped`` or ``error``."""
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
