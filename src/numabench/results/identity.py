"""Machine identity: the one definition of "the same machine", for the baseline fingerprint and
for `compare`'s refusal to compare results of different machines.

What makes figures comparable: the CPU model, the kernel release, the THP modes, the NUMA layout
(node ids, CPUs per node, memory-only nodes) and the hugetlb page sizes the nodes offer (not
their pool counts, which change while tests run). Hostnames are left out on purpose: CI runners
of one machine type share baselines.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from numabench.errors import ResultError
from numabench.util.cpulist import format_cpulist

FINGERPRINT_CHARS = 12
# In the order differences are reported.
IDENTITY_FIELDS = ("cpu_model", "kernel_release", "thp_enabled", "thp_defrag", "nodes", "hugepage_sizes_bytes")


def machine_identity(result: dict[str, Any]) -> dict[str, Any]:
    """What the fingerprint hashes, from a result's (or a live) ``environment`` and ``topology``:
    ``cpu_model``, ``kernel_release``, ``thp_enabled``, ``thp_defrag``, ``nodes`` (``[{id, cpus,
    memory_only}]`` by id) and ``hugepage_sizes_bytes`` (sorted, over all nodes). Missing parts are None."""
    try:
        return _identity(result)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a hand-edited or damaged file
        raise ResultError(f"a result's environment or topology is malformed ({type(exc).__name__}: {exc})",
                          "give results written by numabench run/matrix/qualify -o") from None


def _identity(result: dict[str, Any]) -> dict[str, Any]:
    env = result.get("environment") or {}
    nodes = (result.get("topology") or {}).get("nodes") or []
    sizes = sorted({int(p["page_size_bytes"]) for n in nodes for p in (n.get("hugepages") or [])})
    return {
        "cpu_model": env.get("cpu_model"),
        "kernel_release": env.get("kernel_release"),
        "thp_enabled": env.get("thp_enabled"),
        "thp_defrag": env.get("thp_defrag"),
        "nodes": sorted(({"id": _id(n["id"]), "cpus": sorted(_id(c) for c in n.get("cpus") or []),
                          "memory_only": bool(n.get("memory_only"))} for n in nodes), key=lambda n: n["id"]),
        "hugepage_sizes_bytes": sizes,
    }


def _id(value: Any) -> int:
    ident = int(value)
    if ident < 0:
        raise ValueError(f"negative node or CPU id {ident}")
    return ident


def fingerprint(identity: dict[str, Any]) -> str:
    """A short hex hash (12 characters of SHA-256) of the identity's canonical JSON."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:FINGERPRINT_CHARS]


def machine_differences(baseline: dict[str, Any], current: dict[str, Any]) -> list[dict[str, Any]]:
    """[{field, baseline, current}] for each identity field that differs between two results."""
    a, b = machine_identity(baseline), machine_identity(current)
    return [{"field": f, "baseline": a[f], "current": b[f]} for f in IDENTITY_FIELDS if a[f] != b[f]]


def format_field(field: str, value: Any) -> str:
    """A difference's value for people: nodes as ``0:0-7 1:8-15 2:(memory)``, others as repr."""
    if field == "nodes" and isinstance(value, list):
        return " ".join(f"{n['id']}:{format_cpulist(n['cpus']) or '(memory)'}" for n in value) or "(none)"
    return repr(value)


def live_identity(sysfs_root: str = "/sys", procfs_root: str = "/proc") -> dict[str, Any]:
    """The identity of the running machine (the same fields as machine_identity of a result measured here).

    Raises TopologyError when sysfs cannot be read."""
    from numabench.host.system import read_environment
    from numabench.host.topology import read_topology

    return machine_identity({"environment": read_environment(sysfs_root, procfs_root),
                             "topology": read_topology(sysfs_root, procfs_root).to_dict()})


def describe_identity(identity: dict[str, Any]) -> str:
    """One line for people: ``AMD EPYC, kernel 6.1.0, 2 nodes (1 memory-only), THP madvise``."""
    nodes = identity.get("nodes") or []
    mem_only = sum(1 for n in nodes if n.get("memory_only"))
    extra = f" ({mem_only} memory-only)" if mem_only else ""
    return (f"{identity.get('cpu_model') or 'unknown CPU'}, kernel {identity.get('kernel_release') or '?'}, "
            f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}{extra}, THP {identity.get('thp_enabled') or '?'}")
