"""NUMA topology from sysfs: nodes, their CPUs, memory, hugepage pools and distances.

Modelled on hwloc (``include/hwloc.h``): OS indexes are the truth, a machine without NUMA still
has one node 0, and memory-only nodes (CXL, HBM, PMEM as RAM) are nodes without CPUs.

Every reader takes its roots as parameters so tests and bug reports can point them at a captured
tree (hwloc's ``HWLOC_FSROOT``, psutil's ``PROCFS_PATH``). ``capture_tree`` writes such a tree:

    <dest>/sys/devices/system/node/{online,possible,has_cpu,has_memory,has_normal_memory}
    <dest>/sys/devices/system/node/node<N>/{cpulist,meminfo,distance}
    <dest>/sys/devices/system/node/node<N>/hugepages/hugepages-<kB>kB/
                                            {nr_hugepages,free_hugepages,surplus_hugepages}
    <dest>/sys/devices/system/cpu/{online,possible}
    <dest>/sys/kernel/mm/transparent_hugepage/{enabled,defrag}
    <dest>/sys/kernel/mm/hugepages/hugepages-<kB>kB/{nr_hugepages,free_hugepages,surplus_hugepages}
    <dest>/proc/meminfo

Read it back with ``read_topology(sysfs_root=<dest>/sys, procfs_root=<dest>/proc)`` or
``read_topology_tree(<dest>)``. Files that the machine lacks are simply absent from the tree.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from numabench.errors import TopologyError, UsageError
from numabench.host.cgroups import process_capture_files
from numabench.util.cpulist import clean_list_text, format_cpulist, parse_cpulist, parse_cpumask
from numabench.util.fsread import read_text
from numabench.util.units import format_size

if TYPE_CHECKING:  # only for the type of format_topology's argument
    from numabench.host.cgroups import CpusetView

__all__ = [
    "AccessClass",
    "MemorySideCache",
    "HugepagePool",
    "Node",
    "Topology",
    "read_topology",
    "read_topology_tree",
    "capture_tree",
    "format_topology",
]

_NODE_DIR = "devices/system/node"
_CPU_DIR = "devices/system/cpu"
_HUGEPAGE_DIR_RE = re.compile(r"^hugepages-(\d+)kB$")
_NODE_NAME_RE = re.compile(r"^node(\d+)$")
_CPU_NAME_RE = re.compile(r"^cpu(\d+)$")
_ACCESS_RE = re.compile(r"^access(\d+)$")
_INDEX_RE = re.compile(r"^index(\d+)$")
_TIER_RE = re.compile(r"^memory_tier(\d+)$")
_TIER_DIR = "devices/virtual/memory_tiering"
_ACCESS_FILES = ("read_latency", "write_latency", "read_bandwidth", "write_bandwidth")
_FIX_ROOT = "pass a captured tree (numabench topology --capture) or fix --sysfs-root"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class HugepagePool:
    """One hugetlb pool (one page size) of one node, counts in pages."""

    page_size_bytes: int
    total: int  # nr_hugepages: pages reserved in the pool
    free: int  # free_hugepages: reserved and not in use
    surplus: int  # surplus_hugepages: allocated beyond nr_hugepages (overcommit)

    def sysfs_hint(self, node_id: int, sysfs_root: str = "/sys") -> str:
        """The file to write a page count to, to reserve pages of this size on ``node_id``.

        E.g. ``/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages``
        (kernel ``Documentation/admin-guide/mm/hugetlbpage.rst``, "Interaction of Task Memory
        Policy with Huge Page Allocation/Freeing").
        """
        return hugepage_reserve_path(node_id, self.page_size_bytes, sysfs_root)

    def to_dict(self) -> dict[str, int]:
        return {
            "page_size_bytes": self.page_size_bytes,
            "total": self.total,
            "free": self.free,
            "surplus": self.surplus,
        }


def hugepage_reserve_path(node_id: int, page_size_bytes: int, sysfs_root: str = "/sys") -> str:
    """``<sysfs_root>/devices/system/node/node<N>/hugepages/hugepages-<kB>kB/nr_hugepages``."""
    return os.path.join(
        sysfs_root,
        _NODE_DIR,
        f"node{node_id}",
        "hugepages",
        f"hugepages-{page_size_bytes // 1024}kB",
        "nr_hugepages",
    )


@dataclass(frozen=True)
class AccessClass:
    """What the firmware (ACPI HMAT) claims for reaching a memory node from its best initiators.

    From ``node<N>/access<A>/initiators/`` (kernel ``Documentation/admin-guide/mm/numaperf.rst``):
    access class 0 is the best of any initiator, class 1 the best CPU initiator. Latencies in
    nanoseconds, bandwidths in MB/s, as the kernel gives them; None when a file is missing or
    reads 0 (the firmware gave no figure).
    """

    access: int
    initiators: tuple[int, ...]  # node ids the figures apply to
    read_latency_ns: int | None
    write_latency_ns: int | None
    read_bandwidth_mb_s: int | None
    write_bandwidth_mb_s: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "access": self.access,
            "initiators": list(self.initiators),
            "read_latency_ns": self.read_latency_ns,
            "write_latency_ns": self.write_latency_ns,
            "read_bandwidth_mb_s": self.read_bandwidth_mb_s,
            "write_bandwidth_mb_s": self.write_bandwidth_mb_s,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AccessClass:
        return cls(int(d["access"]), tuple(int(i) for i in d["initiators"]), d.get("read_latency_ns"),
                   d.get("write_latency_ns"), d.get("read_bandwidth_mb_s"), d.get("write_bandwidth_mb_s"))


# The kernel's enum cache_indexing / cache_write_policy (include/linux/node.h).
_CACHE_INDEXING = {0: "direct-mapped", 1: "indexed", 2: "other"}
_CACHE_WRITE_POLICY = {0: "write-back", 1: "write-through", 2: "other"}


@dataclass(frozen=True)
class MemorySideCache:
    """A memory-side cache in front of a node (``node<N>/memory_side_cache/index<L>/``), in bytes."""

    level: int
    size_bytes: int | None
    line_size_bytes: int | None
    indexing: str | None  # "direct-mapped", "indexed", "other"
    write_policy: str | None  # "write-back", "write-through", "other"

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "size_bytes": self.size_bytes, "line_size_bytes": self.line_size_bytes,
                "indexing": self.indexing, "write_policy": self.write_policy}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MemorySideCache:
        return cls(int(d["level"]), d.get("size_bytes"), d.get("line_size_bytes"), d.get("indexing"),
                   d.get("write_policy"))


@dataclass(frozen=True)
class Node:
    """One NUMA node. Memory in bytes as the node's ``meminfo`` reports it."""

    id: int
    cpus: tuple[int, ...]
    mem_total_bytes: int
    mem_free_bytes: int
    hugepages: dict[int, HugepagePool] = field(default_factory=dict)  # by page size in bytes
    distances: dict[int, int] = field(default_factory=dict)  # by other node id; self is 10
    access: tuple[AccessClass, ...] = ()  # firmware claims (HMAT), by access class
    memory_side_caches: tuple[MemorySideCache, ...] = ()  # by level

    @property
    def has_cpus(self) -> bool:
        return bool(self.cpus)

    @property
    def has_memory(self) -> bool:
        return self.mem_total_bytes > 0

    @property
    def memory_only(self) -> bool:
        """Memory but no CPUs (CXL expanders, HBM, PMEM onlined as RAM)."""
        return self.has_memory and not self.has_cpus

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "cpus": list(self.cpus),
            "mem_total_bytes": self.mem_total_bytes,
            "mem_free_bytes": self.mem_free_bytes,
            "memory_only": self.memory_only,
            "hugepages": [self.hugepages[size].to_dict() for size in sorted(self.hugepages)],
            # JSON object keys must be strings.
            "distances": {str(other): d for other, d in sorted(self.distances.items())},
            "access": [a.to_dict() for a in self.access],
            "memory_side_caches": [c.to_dict() for c in self.memory_side_caches],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Node:
        pools = {
            int(p["page_size_bytes"]): HugepagePool(
                int(p["page_size_bytes"]), int(p["total"]), int(p["free"]), int(p["surplus"])
            )
            for p in data.get("hugepages", [])
        }
        return cls(
            id=int(data["id"]),
            cpus=tuple(int(c) for c in data["cpus"]),
            mem_total_bytes=int(data["mem_total_bytes"]),
            mem_free_bytes=int(data["mem_free_bytes"]),
            hugepages=pools,
            distances={int(k): int(v) for k, v in data.get("distances", {}).items()},
            access=tuple(AccessClass.from_dict(a) for a in data.get("access", [])),
            memory_side_caches=tuple(MemorySideCache.from_dict(c) for c in data.get("memory_side_caches", [])),
        )


@dataclass(frozen=True)
class Topology:
    """The machine's NUMA nodes, online CPUs and system-wide memory (bytes)."""

    nodes: tuple[Node, ...]
    online_cpus: tuple[int, ...]
    possible_nodes: tuple[int, ...]
    system_mem_free_bytes: int
    system_mem_available_bytes: int
    system_mem_total_bytes: int
    source: str  # where it was read from, e.g. "sysfs=/sys procfs=/proc"
    # What the kernel gave that is odd but readable (offline CPUs in a node's list,
    # overlapping node CPU lists, ...), one sentence each; shown by `numabench topology`.
    warnings: tuple[str, ...] = ()
    # Memory tiers (/sys/devices/virtual/memory_tiering/memory_tier<T>/nodelist): tier -> nodes.
    memory_tiers: dict[int, tuple[int, ...]] = field(default_factory=dict)

    @property
    def node_ids(self) -> tuple[int, ...]:
        return tuple(n.id for n in self.nodes)

    @property
    def cpu_nodes(self) -> tuple[int, ...]:
        """Ids of the nodes that have CPUs."""
        return tuple(n.id for n in self.nodes if n.has_cpus)

    @property
    def memory_nodes(self) -> tuple[int, ...]:
        """Ids of the nodes that have memory."""
        return tuple(n.id for n in self.nodes if n.has_memory)

    def node(self, node_id: int) -> Node:
        """The node with OS index ``node_id``.

        Raises:
            TopologyError: no such node.
        """
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise TopologyError(
            f"NUMA node {node_id} does not exist on this machine "
            f"(nodes: {format_cpulist(self.node_ids)})",
            fix="run `numabench topology` to see the nodes",
        )

    def cpu_node(self, cpu: int) -> int:
        """The id of the node that holds CPU ``cpu``.

        Never guesses: a CPU that several nodes list (overlapping node CPU lists, a firmware
        bug; see ``warnings``) is refused rather than given to the first node.

        Raises:
            TopologyError: the CPU is in no node (offline or nonexistent), or in several.
        """
        holders = [n.id for n in self.nodes if cpu in n.cpus]
        if len(holders) > 1:
            raise TopologyError(
                f"CPU {cpu} is listed by nodes {format_cpulist(holders)} (overlapping node CPU lists, "
                "a firmware bug), so its node is unknown",
                fix="pick CPUs of one node only; `numabench topology` lists the overlaps under warnings",
            )
        if holders:
            return holders[0]
        raise TopologyError(
            f"CPU {cpu} is not online on this machine "
            f"(online CPUs: {format_cpulist(self.online_cpus)})",
            fix="pick an online CPU; `numabench topology` lists them by node",
        )

    def distance(self, a: int, b: int) -> int:
        """The SLIT distance from node ``a`` to node ``b`` (10 = local). Not symmetric in general.

        Raises:
            TopologyError: a node does not exist, or the kernel gave no distance between them.
        """
        node_a = self.node(a)
        self.node(b)
        try:
            return node_a.distances[b]
        except KeyError:
            raise TopologyError(
                f"no distance information from node {a} to node {b}",
                fix="the firmware provides no SLIT; attach a captured tree to a bug report",
            ) from None

    def claimed(self, cpu_node: int, mem_node: int) -> AccessClass | None:
        """The firmware's claimed figures for CPUs of ``cpu_node`` reaching ``mem_node``.

        HMAT sysfs lists only each memory node's best initiators, so a pair that is not among
        them has no claim (None). Access class 1 (CPU initiators) is preferred to class 0.

        Raises:
            TopologyError: ``mem_node`` does not exist.
        """
        for access in sorted(self.node(mem_node).access, key=lambda a: -a.access):
            if cpu_node in access.initiators:
                return access
        return None

    def node_mem_free_bytes(self, node_id: int) -> int:
        """The free memory of a node that a benchmark may plan to use, in bytes.

        Rule: if exactly one node has memory and the system-wide ``MemAvailable`` of
        /proc/meminfo exceeds that node's ``MemFree``, return ``MemAvailable``; otherwise
        return the node's ``MemFree`` (page cache that could be reclaimed, e.g. the node's
        ``Inactive(file)``, is not added). The first case exists because some VM kernels do
        not update the per-node ``meminfo`` after memory is hot-plugged (seen: node0 says 3.8 GB
        while /proc/meminfo says 24 GB); with one memory node all memory is that node's anyway.

        Raises:
            TopologyError: no such node.
        """
        node = self.node(node_id)
        memory_nodes = self.memory_nodes
        if (
            memory_nodes == (node_id,)
            and self.system_mem_available_bytes > node.mem_free_bytes
        ):
            return self.system_mem_available_bytes
        return node.mem_free_bytes

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``Topology.from_dict`` reads it back."""
        return {
            "source": self.source,
            "online_cpus": list(self.online_cpus),
            "possible_nodes": list(self.possible_nodes),
            "system_mem_total_bytes": self.system_mem_total_bytes,
            "system_mem_free_bytes": self.system_mem_free_bytes,
            "system_mem_available_bytes": self.system_mem_available_bytes,
            "nodes": [n.to_dict() for n in self.nodes],
            "memory_tiers": {str(t): list(ids) for t, ids in sorted(self.memory_tiers.items())},
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Topology:
        return cls(
            nodes=tuple(Node.from_dict(n) for n in data["nodes"]),
            online_cpus=tuple(int(c) for c in data["online_cpus"]),
            possible_nodes=tuple(int(n) for n in data["possible_nodes"]),
            system_mem_free_bytes=int(data["system_mem_free_bytes"]),
            system_mem_available_bytes=int(data["system_mem_available_bytes"]),
            system_mem_total_bytes=int(data["system_mem_total_bytes"]),
            source=str(data["source"]),
            warnings=tuple(str(w) for w in data.get("warnings", [])),
            memory_tiers={int(t): tuple(int(i) for i in ids) for t, ids in data.get("memory_tiers", {}).items()},
        )


# --------------------------------------------------------------------------- reading


def _require_text(path: str, what: str) -> str:
    text = read_text(path)
    if text is None:
        raise TopologyError(f"cannot read {what} from {path}", fix=_FIX_ROOT)
    return text


def _read_list(path: str) -> tuple[int, ...] | None:
    text = read_text(path)
    if text is None:
        return None
    try:
        return parse_cpulist(text)
    except ValueError as exc:
        raise TopologyError(f"{path}: {exc}", fix=_FIX_ROOT) from None


def _read_int(path: str) -> int | None:
    text = read_text(path)
    if text is None:
        return None
    text = clean_list_text(text)
    try:
        return int(text)
    except ValueError:
        raise TopologyError(f"{path}: expected an integer, got {text!r}", fix=_FIX_ROOT) from None


def parse_meminfo(text: str) -> dict[str, int]:
    """Parse /proc/meminfo or a node's meminfo into ``{key: bytes}`` (``kB`` values scaled).

    Node lines carry a ``Node <N>`` prefix, which is dropped. Values without a unit
    (``HugePages_Total``) are kept as they are.
    """
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        if key.startswith("Node "):
            key = key.split(None, 2)[-1]
        fields = rest.split()
        if not fields:
            continue
        try:
            value = int(fields[0])
        except ValueError:
            continue
        if len(fields) > 1 and fields[1].lower() == "kb":
            value *= 1024
        out[key] = value
    return out


def _read_pools(hugepages_dir: str) -> dict[int, HugepagePool]:
    try:
        names = os.listdir(hugepages_dir)
    except OSError:
        return {}
    pools: dict[int, HugepagePool] = {}
    for name in names:
        m = _HUGEPAGE_DIR_RE.match(name)
        if not m:
            continue
        size = int(m.group(1)) * 1024
        d = os.path.join(hugepages_dir, name)
        pools[size] = HugepagePool(
            page_size_bytes=size,
            total=_read_int(os.path.join(d, "nr_hugepages")) or 0,
            free=_read_int(os.path.join(d, "free_hugepages")) or 0,
            surplus=_read_int(os.path.join(d, "surplus_hugepages")) or 0,
        )
    return dict(sorted(pools.items()))


def _node_ids_in(node_dir: str) -> tuple[int, ...]:
    ids = []
    for name in os.listdir(node_dir):
        m = _NODE_NAME_RE.match(name)
        if m:
            ids.append(int(m.group(1)))
    return tuple(sorted(ids))


def read_topology(sysfs_root: str = "/sys", procfs_root: str = "/proc") -> Topology:
    """Read the NUMA topology under ``sysfs_root`` (and system memory from ``procfs_root``).

    Reads ``devices/system/node/{online,possible}``, per node ``cpulist`` (else ``cpumap``),
    ``meminfo``, ``distance``, ``hugepages/hugepages-*kB/{nr,free,surplus}_hugepages``, HMAT
    ``access<A>/initiators/`` and ``memory_side_cache/``; ``devices/system/cpu/online`` (else
    each ``cpu<N>/online``); ``devices/virtual/memory_tiering``; and ``<procfs_root>/meminfo``.
    ``has_cpu``/``has_memory`` are captured for bug reports but the per-node files are the
    truth (a node "has memory" when its MemTotal is above 0).

    Kernel quirks tolerated, each noted in ``Topology.warnings`` where the reading changes:
    lists ending in NUL; offline CPUs in a node's list (dropped); overlapping node CPU lists
    (kept, and ``cpu_node`` refuses the shared CPUs); a ``distance`` file with one figure per
    possible rather than online node.

    A kernel without ``devices/system/node`` (CONFIG_NUMA off) gives one node 0 with all online
    CPUs, the memory of /proc/meminfo and the pools of ``kernel/mm/hugepages``. If
    ``<procfs_root>/meminfo`` is missing (a partial capture), system figures are the sums of
    the nodes' (MemAvailable then equals the sum of MemFree).

    Raises:
        TopologyError: the sysfs root is missing, or a file the topology needs is missing or
            malformed; the message names the path.
    """
    if not os.path.isdir(sysfs_root):
        raise TopologyError(f"sysfs root {sysfs_root} is missing or not a directory", fix=_FIX_ROOT)
    warnings: list[str] = []
    node_dir = os.path.join(sysfs_root, _NODE_DIR)
    online_cpus = _read_online_cpus(sysfs_root)
    meminfo_path = os.path.join(procfs_root, "meminfo")
    meminfo_text = read_text(meminfo_path)
    sysmem = parse_meminfo(meminfo_text) if meminfo_text is not None else None

    if not os.path.isdir(node_dir):
        nodes, possible = _single_node(sysfs_root, node_dir, online_cpus, sysmem, meminfo_path)
        online_cpus = nodes[0].cpus
    else:
        online_nodes = _read_list(os.path.join(node_dir, "online"))
        if online_nodes is None:
            online_nodes = _node_ids_in(node_dir)
        if not online_nodes:
            raise TopologyError(f"no online NUMA node under {node_dir}", fix=_FIX_ROOT)
        possible = _read_list(os.path.join(node_dir, "possible")) or online_nodes
        raw = tuple(_read_node(node_dir, nid, online_nodes, possible) for nid in online_nodes)
        nodes, online_cpus = _reconcile_cpus(raw, online_cpus, warnings)

    if sysmem is not None and "MemTotal" in sysmem:
        total = sysmem["MemTotal"]
        free = sysmem.get("MemFree", 0)
        # MemAvailable appeared in Linux 3.14; before that MemFree is the best figure.
        available = sysmem.get("MemAvailable", free)
    else:
        total = sum(n.mem_total_bytes for n in nodes)
        free = sum(n.mem_free_bytes for n in nodes)
        available = free
    return Topology(
        nodes=nodes,
        online_cpus=online_cpus,
        possible_nodes=possible,
        system_mem_free_bytes=free,
        system_mem_available_bytes=available,
        system_mem_total_bytes=total,
        source=f"sysfs={sysfs_root} procfs={procfs_root}",
        warnings=tuple(warnings),
        memory_tiers=_read_memory_tiers(sysfs_root),
    )


def read_topology_tree(tree_dir: str) -> Topology:
    """``read_topology`` on a tree written by ``capture_tree`` (``<tree>/sys``, ``<tree>/proc``)."""
    return read_topology(os.path.join(tree_dir, "sys"), os.path.join(tree_dir, "proc"))


def _read_online_cpus(sysfs_root: str) -> tuple[int, ...] | None:
    """``cpu/online``; without it (old kernels), the ``cpu<N>`` directories whose ``online`` is
    not 0 (``cpu0`` often has no ``online`` file: it cannot be offlined). None if neither."""
    cpu_dir = os.path.join(sysfs_root, _CPU_DIR)
    online = _read_list(os.path.join(cpu_dir, "online"))
    if online is not None:
        return online
    try:
        names = os.listdir(cpu_dir)
    except OSError:
        return None
    ids = [int(m.group(1)) for m in map(_CPU_NAME_RE.match, names) if m]
    if not ids:
        return None
    # Only an explicit "0" is offline: an empty file (seen in captures) says nothing.
    return tuple(sorted(
        c for c in ids if clean_list_text(read_text(os.path.join(cpu_dir, f"cpu{c}", "online")) or "") != "0"))


def _single_node(sysfs_root: str, node_dir: str, online_cpus: tuple[int, ...] | None,
                 sysmem: dict[str, int] | None, meminfo_path: str) -> tuple[tuple[Node, ...], tuple[int, ...]]:
    """No NUMA support (no ``devices/system/node``): still one node 0 (hwloc's model)."""
    if online_cpus is None:
        raise TopologyError(
            f"cannot read the online CPUs from {os.path.join(sysfs_root, _CPU_DIR, 'online')} "
            f"(and {node_dir} does not exist)",
            fix=_FIX_ROOT,
        )
    if sysmem is None or "MemTotal" not in sysmem:
        raise TopologyError(
            f"{node_dir} does not exist and {meminfo_path} cannot be read, so the memory of node 0 "
            "is unknown",
            fix=f"copy the machine's /proc/meminfo to {meminfo_path}, or capture the machine with "
            "`numabench topology --capture DIR` and pass --sysfs-root DIR",
        )
    node0 = Node(
        id=0,
        cpus=online_cpus,
        mem_total_bytes=sysmem["MemTotal"],
        mem_free_bytes=sysmem.get("MemFree", 0),
        hugepages=_read_pools(os.path.join(sysfs_root, "kernel/mm/hugepages")),
        distances={0: 10},
    )
    return (node0,), (0,)


def _reconcile_cpus(raw: tuple[Node, ...], online_cpus: tuple[int, ...] | None,
                    warnings: list[str]) -> tuple[tuple[Node, ...], tuple[int, ...]]:
    """Nodes' CPUs intersected with the online CPUs; overlaps and strays noted in ``warnings``.

    Returns the nodes and the (distinct, sorted) online CPUs.
    """
    listed = sorted({c for n in raw for c in n.cpus})
    if online_cpus is None:
        online_cpus = tuple(listed)
        if listed:
            warnings.append("cpu/online is missing: every CPU the nodes list is taken as online")
    online = set(online_cpus)
    nodes = []
    for n in raw:
        offline = [c for c in n.cpus if c not in online]
        if offline:
            warnings.append(f"node {n.id} lists offline CPUs {format_cpulist(offline)}: not counted as its CPUs")
            n = replace(n, cpus=tuple(c for c in n.cpus if c in online))
        nodes.append(n)
    holders: dict[int, list[int]] = {}
    for n in nodes:
        for c in n.cpus:
            holders.setdefault(c, []).append(n.id)
    shared = sorted(c for c, ids in holders.items() if len(ids) > 1)
    if shared:
        by = sorted({i for c in shared for i in holders[c]})
        warnings.append(
            f"overlapping node CPU lists: CPUs {format_cpulist(shared)} are listed by several nodes "
            f"({format_cpulist(by)}), a firmware bug; their node is unknown (hwloc keeps one node)"
        )
    strays = sorted(online - holders.keys())
    if strays and holders:
        warnings.append(f"online CPUs {format_cpulist(strays)} are in no node's CPU list")
    return tuple(nodes), tuple(sorted(online))


def _read_node_cpus(d: str, nid: int) -> tuple[int, ...]:
    """``cpulist``, else ``cpumap`` (kernels before 2.6.27 have only the mask)."""
    cpus = _read_list(os.path.join(d, "cpulist"))
    if cpus is not None:
        return cpus
    cpumap_path = os.path.join(d, "cpumap")
    text = read_text(cpumap_path)
    if text is None:
        raise TopologyError(
            f"cannot read the CPUs of node {nid}: neither {os.path.join(d, 'cpulist')} nor {cpumap_path} exists",
            fix=_FIX_ROOT,
        )
    try:
        return parse_cpumask(text)
    except ValueError as exc:
        raise TopologyError(f"{cpumap_path}: {exc}", fix=_FIX_ROOT) from None


def _read_distances(path: str, online_nodes: tuple[int, ...], possible: tuple[int, ...]) -> dict[int, int]:
    """One figure per online node, in node order (``node_read_distance``). Some kernels print
    one per possible node (seen with an offline node 0); those are mapped by possible id."""
    text = read_text(path)
    if text is None or not clean_list_text(text):
        return {}
    try:
        values = [int(v) for v in clean_list_text(text).split()]
    except ValueError:
        raise TopologyError(f"{path}: malformed distances {clean_list_text(text)!r}", fix=_FIX_ROOT) from None
    if len(values) == len(online_nodes):
        return dict(zip(online_nodes, values))
    if len(values) == len(possible):
        return {k: v for k, v in zip(possible, values) if k in online_nodes}
    raise TopologyError(
        f"{path} lists {len(values)} distances but {len(online_nodes)} nodes are online "
        f"({format_cpulist(online_nodes)})",
        fix="capture the tree again in one go (numabench topology --capture); nodes went on- or offline meanwhile",
    )


def _read_node(node_dir: str, nid: int, online_nodes: tuple[int, ...], possible: tuple[int, ...]) -> Node:
    d = os.path.join(node_dir, f"node{nid}")
    meminfo_path = os.path.join(d, "meminfo")
    mem = parse_meminfo(_require_text(meminfo_path, f"the memory of node {nid}"))
    if "MemTotal" not in mem:
        raise TopologyError(f"{meminfo_path} has no MemTotal line", fix=_FIX_ROOT)
    return Node(
        id=nid,
        cpus=_read_node_cpus(d, nid),
        mem_total_bytes=mem["MemTotal"],
        mem_free_bytes=mem.get("MemFree", 0),
        hugepages=_read_pools(os.path.join(d, "hugepages")),
        distances=_read_distances(os.path.join(d, "distance"), online_nodes, possible),
        access=_read_access(d),
        memory_side_caches=_read_memory_side_caches(d),
    )


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _read_access(d: str) -> tuple[AccessClass, ...]:
    """HMAT claims: ``access<A>/initiators/{read,write}_{latency,bandwidth}`` and the
    ``node<I>`` links naming the initiators (numaperf.rst)."""
    out = []
    for name in _listdir(d):
        m = _ACCESS_RE.match(name)
        if not m:
            continue
        ini = os.path.join(d, name, "initiators")
        initiators = tuple(sorted(int(x.group(1)) for x in map(_NODE_NAME_RE.match, _listdir(ini)) if x))
        # 0 is what the kernel shows for a figure the firmware did not give (hwloc ignores it too).
        figures = {f: _read_int(os.path.join(ini, f)) or None for f in _ACCESS_FILES}
        if not initiators and all(v is None for v in figures.values()):
            continue
        out.append(AccessClass(int(m.group(1)), initiators, figures["read_latency"], figures["write_latency"],
                               figures["read_bandwidth"], figures["write_bandwidth"]))
    return tuple(sorted(out, key=lambda a: a.access))


def _read_memory_side_caches(d: str) -> tuple[MemorySideCache, ...]:
    """``memory_side_cache/index<L>/{size,line_size,indexing,write_policy}`` (numaperf.rst)."""
    base = os.path.join(d, "memory_side_cache")
    out = []
    for name in _listdir(base):
        m = _INDEX_RE.match(name)
        if not m:
            continue
        c = os.path.join(base, name)
        indexing, policy = _read_int(os.path.join(c, "indexing")), _read_int(os.path.join(c, "write_policy"))
        out.append(MemorySideCache(
            level=int(m.group(1)),
            size_bytes=_read_int(os.path.join(c, "size")),
            line_size_bytes=_read_int(os.path.join(c, "line_size")),
            indexing=None if indexing is None else _CACHE_INDEXING.get(indexing, f"unknown ({indexing})"),
            write_policy=None if policy is None else _CACHE_WRITE_POLICY.get(policy, f"unknown ({policy})"),
        ))
    return tuple(sorted(out, key=lambda c: c.level))


def _read_memory_tiers(sysfs_root: str) -> dict[int, tuple[int, ...]]:
    """``devices/virtual/memory_tiering/memory_tier<T>/nodelist`` (Linux 6.1+): tier -> nodes."""
    base = os.path.join(sysfs_root, _TIER_DIR)
    tiers = {}
    for name in _listdir(base):
        m = _TIER_RE.match(name)
        if m:
            ids = _read_list(os.path.join(base, name, "nodelist"))
            if ids is not None:
                tiers[int(m.group(1))] = ids
    return dict(sorted(tiers.items()))


# --------------------------------------------------------------------------- capturing

_POOL_FILES = ("nr_hugepages", "free_hugepages", "surplus_hugepages")


def _capture_paths(sysfs_root: str) -> list[str]:
    """Paths, relative to the sysfs root, that capture_tree copies (existing ones only)."""
    rel: list[str] = [
        f"{_CPU_DIR}/online",
        f"{_CPU_DIR}/possible",
        "kernel/mm/transparent_hugepage/enabled",
        "kernel/mm/transparent_hugepage/defrag",
    ]
    rel += [
        f"{_NODE_DIR}/{name}"
        for name in ("online", "possible", "has_cpu", "has_memory", "has_normal_memory")
    ]

    def pools(rel_dir: str) -> list[str]:
        try:
            names = sorted(os.listdir(os.path.join(sysfs_root, rel_dir)))
        except OSError:
            return []
        return [f"{rel_dir}/{n}/{f}" for n in names if _HUGEPAGE_DIR_RE.match(n) for f in _POOL_FILES]

    rel += pools("kernel/mm/hugepages")
    node_dir = os.path.join(sysfs_root, _NODE_DIR)
    if os.path.isdir(node_dir):
        for nid in _node_ids_in(node_dir):
            base = f"{_NODE_DIR}/node{nid}"
            rel += [f"{base}/{f}" for f in ("cpulist", "cpumap", "meminfo", "distance")]
            rel += pools(f"{base}/hugepages")
            rel += _hmat_paths(sysfs_root, base)
    tiers = _listdir(os.path.join(sysfs_root, _TIER_DIR))
    rel += [f"{_TIER_DIR}/{t}/nodelist" for t in tiers if _TIER_RE.match(t)]
    return rel


def _hmat_paths(sysfs_root: str, base: str) -> list[str]:
    """A node's HMAT access-class figures and memory-side cache files, relative to sysfs."""
    rel = []
    for access in (n for n in _listdir(os.path.join(sysfs_root, base)) if _ACCESS_RE.match(n)):
        rel += [f"{base}/{access}/initiators/{f}" for f in _ACCESS_FILES]
    msc = f"{base}/memory_side_cache"
    for index in (n for n in _listdir(os.path.join(sysfs_root, msc)) if _INDEX_RE.match(n)):
        rel += [f"{msc}/{index}/{f}" for f in ("size", "line_size", "indexing", "write_policy")]
    return rel


# Only these lines of /proc/self/status: what the cpuset section shows, nothing personal.
_STATUS_KEYS = ("Cpus_allowed", "Cpus_allowed_list", "Mems_allowed", "Mems_allowed_list")


def _capture_sources(sysfs_root: str, procfs_root: str, fs_root: str) -> list[tuple[str, str]]:
    """(source path, path relative to the capture) for everything ``numabench topology`` shows."""
    sources = [(os.path.join(sysfs_root, r), f"sys/{r}") for r in _capture_paths(sysfs_root)]
    sources += [(os.path.join(procfs_root, name), f"proc/{name}")
                for name in ("meminfo", "version", "self/cgroup", "self/mountinfo")]
    for path in process_capture_files(procfs_root, fs_root):
        sources.append((path, os.path.relpath(path, fs_root)))
    return sources


def capture_tree(dest_dir: str, sysfs_root: str = "/sys", procfs_root: str = "/proc",
                 fs_root: str = "/") -> list[str]:
    """Copy everything ``numabench topology`` shows into ``dest_dir``: a support artefact.

    Layout: ``<dest>/sys/<path under sysfs_root>`` (node, CPU, hugepage, HMAT, memory-tier
    files; see ``_capture_paths``), ``<dest>/proc/{meminfo,version}``,
    ``<dest>/proc/self/{status,cgroup,mountinfo}`` (status: the allowed CPU and memory lines
    only), the process's cgroup cpuset and hugetlb files at their paths under ``fs_root``
    (``<dest>/sys/fs/cgroup/...``), and ``<dest>/capture.json`` (kernel, date, numabench
    version). Files missing on the machine are skipped; HMAT initiator links are kept as links.
    ``numabench topology --sysfs-root <dest>`` reads it back, cpuset section included.
    Returns the written paths, relative to ``dest_dir``, sorted.

    Raises:
        TopologyError: the sysfs root is missing.
        UsageError: ``<dest>/sys``, ``<dest>/proc`` or ``<dest>/capture.json`` already exists.
    """
    if not os.path.isdir(sysfs_root):
        raise TopologyError(f"sysfs root {sysfs_root} is missing or not a directory", fix=_FIX_ROOT)
    for sub in ("sys", "proc", "capture.json"):
        if os.path.exists(os.path.join(dest_dir, sub)):
            raise UsageError(f"{os.path.join(dest_dir, sub)} already exists", fix="capture into an empty directory")
    written: list[str] = []
    for src, rel in _capture_sources(sysfs_root, procfs_root, fs_root):
        # Read then write (not copyfile): sysfs files report a size of 4096 and some are
        # unreadable (e.g. hugepage "demote" files); only readable text is kept.
        text = read_text(src)
        if text is not None:
            written.append(_write_capture(dest_dir, rel, text))
    status = read_text(os.path.join(procfs_root, "self", "status"))
    if status is not None:
        kept = [line for line in status.splitlines() if line.partition(":")[0] in _STATUS_KEYS]
        written.append(_write_capture(dest_dir, "proc/self/status", "\n".join(kept) + "\n"))
    written += _capture_initiator_links(dest_dir, sysfs_root)
    info = json.dumps(_capture_info(sysfs_root, procfs_root), indent=2)
    written.append(_write_capture(dest_dir, "capture.json", info + "\n"))
    return sorted(written)


def _write_capture(dest_dir: str, rel: str, text: str) -> str:
    dst = os.path.join(dest_dir, rel)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "w", encoding="utf-8") as f:
        f.write(text)
    return rel


def _capture_initiator_links(dest_dir: str, sysfs_root: str) -> list[str]:
    """HMAT ``access<A>/initiators/node<I>`` are links to the initiator's node directory."""
    out = []
    node_dir = os.path.join(sysfs_root, _NODE_DIR)
    for nid in _node_ids_in(node_dir) if os.path.isdir(node_dir) else ():
        base = f"{_NODE_DIR}/node{nid}"
        for access in (n for n in _listdir(os.path.join(sysfs_root, base)) if _ACCESS_RE.match(n)):
            rel_dir = f"{base}/{access}/initiators"
            for name in (n for n in _listdir(os.path.join(sysfs_root, rel_dir)) if _NODE_NAME_RE.match(n)):
                dst = os.path.join(dest_dir, "sys", rel_dir, name)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                os.symlink(f"../../../{name}", dst)
                out.append(f"sys/{rel_dir}/{name}")
    return out


def _capture_info(sysfs_root: str, procfs_root: str) -> dict[str, Any]:
    from numabench import __version__

    uname = os.uname()
    return {
        "numabench_version": __version__,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "kernel_release": uname.release,
        "kernel_version": uname.version,
        "machine": uname.machine,
        "sysfs_root": os.path.abspath(sysfs_root),
        "procfs_root": os.path.abspath(procfs_root),
    }


# --------------------------------------------------------------------------- rendering


def _list_or(ids: tuple[int, ...] | None, none: str = "n/a") -> str:
    if ids is None:
        return none
    return format_cpulist(ids) or "(empty)"


def format_topology(topo: Topology, cpuset: CpusetView | None = None) -> str:
    """Render ``topo`` like ``numactl --hardware`` (numactl 2.0.18), then what this process may use.

    Per node: ``cpus``, ``size`` and ``free`` in MB (MiB, as numactl: bytes >> 20) from the
    node's meminfo; numabench adds ``usable free`` when it differs (see
    ``Topology.node_mem_free_bytes``), hugepage pools and ``memory-only``. The distance
    matrix uses numactl's layout. With ``cpuset``, a section on the cgroup cpuset and the
    process's allowed CPUs and memory nodes follows.
    """
    lines = [f"available: {len(topo.nodes)} nodes ({format_cpulist(topo.node_ids)})"]
    for n in topo.nodes:
        lines.append(f"node {n.id} cpus:" + "".join(f" {c}" for c in n.cpus))
        lines.append(f"node {n.id} size: {n.mem_total_bytes >> 20} MB")
        lines.append(f"node {n.id} free: {n.mem_free_bytes >> 20} MB")
        usable = topo.node_mem_free_bytes(n.id)
        if usable != n.mem_free_bytes:
            lines.append(
                f"node {n.id} usable free: {usable >> 20} MB "
                "(system MemAvailable; the node's meminfo lags the system's)"
            )
        for size, pool in n.hugepages.items():
            line = f"node {n.id} hugepages {format_size(size)}: {pool.free} free / {pool.total} total"
            if pool.surplus:
                line += f" ({pool.surplus} surplus)"
            lines.append(line)
        if n.memory_only:
            lines.append(f"node {n.id}: memory-only")
        lines += _format_claims(n)
    lines += _format_distances(topo)
    for tier, ids in topo.memory_tiers.items():
        lines.append(f"memory tier {tier}: nodes {format_cpulist(ids) or 'none'}")
    lines += [f"warning: {w}" for w in topo.warnings]
    if cpuset is not None:
        lines.append("")
        lines += _format_cpuset(topo, cpuset)
    return "\n".join(lines) + "\n"


def _figure(value: int | None, unit: str) -> str:
    return "n/a" if value is None else f"{value} {unit}"


def _format_claims(n: Node) -> list[str]:
    """HMAT claims and memory-side caches of one node, one line each."""
    out = []
    for a in n.access:
        out.append(
            f"node {n.id} claimed (HMAT access{a.access}, initiators {format_cpulist(a.initiators) or 'none'}): "
            f"read {_figure(a.read_latency_ns, 'ns')} {_figure(a.read_bandwidth_mb_s, 'MB/s')}, "
            f"write {_figure(a.write_latency_ns, 'ns')} {_figure(a.write_bandwidth_mb_s, 'MB/s')}"
        )
    for c in n.memory_side_caches:
        size = "size n/a" if c.size_bytes is None else format_size(c.size_bytes)
        line = "line n/a" if c.line_size_bytes is None else f"line {c.line_size_bytes} B"
        out.append(f"node {n.id} memory-side cache L{c.level}: {size}, {line}, "
                   f"{c.indexing or 'indexing n/a'}, {c.write_policy or 'write policy n/a'}")
    return out


def _format_distances(topo: Topology) -> list[str]:
    ids = topo.node_ids
    if not all(other in topo.node(i).distances for i in ids for other in ids):
        return ["No distance information available."]
    # numactl: printf("node  "); printf("% 4d ", i) ...; printf("% 4d: ", i) — trailing blanks kept.
    out = ["node distances:", "node  " + "".join(f"{i:4d} " for i in ids)]
    for i in ids:
        out.append(f"{i:4d}: " + "".join(f"{topo.distance(i, k):4d} " for k in ids))
    return out


def _format_cpuset(topo: Topology, cs: CpusetView) -> list[str]:
    if cs.cgroup_version is None:
        version = "none (no cpuset controller found)"
    else:
        version = f"v{cs.cgroup_version}"
    out = [
        "this process:",
        f"cgroup: {version}, path {cs.cgroup_path if cs.cgroup_path is not None else 'n/a'}",
        f"cpuset dir: {cs.cpuset_dir if cs.cpuset_dir is not None else 'n/a'}",
        f"cpuset.cpus: {_list_or(cs.cpuset_cpus)}",
        f"cpuset.mems: {_list_or(cs.cpuset_mems)}",
        f"Cpus_allowed_list: {_list_or(cs.cpus_allowed)}",
        f"Mems_allowed_list: {_list_or(cs.mems_allowed)}",
    ]
    allowed_cpus = set(cs.cpus_allowed)
    allowed_mems = set(cs.mems_allowed)
    for n in topo.nodes:
        mine = tuple(c for c in n.cpus if c in allowed_cpus)
        cpus = f"cpus {format_cpulist(mine) or 'none'} ({len(mine)} of {len(n.cpus)})"
        memory = "yes" if n.id in allowed_mems else "no"
        if not n.has_memory:
            memory += " (no memory)"
        out.append(f"node {n.id} allowed: {cpus}, memory {memory}")
    return out
