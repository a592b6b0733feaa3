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

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from numabench.util.fsread import read_text

from numabench.util.cpulist import format_cpulist, parse_cpulist
from numabench.errors import TopologyError, UsageError

if TYPE_CHECKING:  # only for the type of format_topology's argument
    from numabench.host.cgroups import CpusetView

__all__ = [
    "HugepagePool",
    "Node",
    "Topology",
    "read_topology",
    "read_topology_tree",
    "capture_tree",
    "format_topology",
    "format_size",
]

_NODE_DIR = "devices/system/node"
_CPU_DIR = "devices/system/cpu"
_HUGEPAGE_DIR_RE = re.compile(r"^hugepages-(\d+)kB$")
_NODE_NAME_RE = re.compile(r"^node(\d+)$")
_FIX_ROOT = "pass a captured tree (numabench topology --capture) or fix --sysfs-root"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class HugepagePool:
    """One hugetlb pool (one page size) of one node, counts in pages."""

    page_size_bytes: int
    total: int  # nr_hugepages: pages reserved in the pool
    free: int  # free_hugepages: reserved and not in use
    surplus: int  # surplus_hugepages: allocated beyond nr_hugepages (overcommit)

    @property
    def page_size_kb(self) -> int:
        return self.page_size_bytes // 1024

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
class Node:
    """One NUMA node. Memory in bytes as the node's ``meminfo`` reports it."""

    id: int
    cpus: tuple[int, ...]
    mem_total_bytes: int
    mem_free_bytes: int
    hugepages: dict[int, HugepagePool] = field(default_factory=dict)  # by page size in bytes
    distances: dict[int, int] = field(default_factory=dict)  # by other node id; self is 10

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

        Raises:
            TopologyError: the CPU is in no node (offline or nonexistent).
        """
        for n in self.nodes:
            if cpu in n.cpus:
                return n.id
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
    try:
        return int(text.strip())
    except ValueError:
        raise TopologyError(f"{path}: expected an integer, got {text.strip()!r}") from None


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

    Reads ``devices/system/node/{online,possible}``, per node ``cpulist``, ``meminfo``,
    ``distance`` and ``hugepages/hugepages-*kB/{nr,free,surplus}_hugepages``;
    ``devices/system/cpu/online``; and ``<procfs_root>/meminfo``. ``has_cpu``/``has_memory``
    are captured for bug reports but the per-node files are the truth (a node "has memory"
    when its MemTotal is above 0).

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
    source = f"sysfs={sysfs_root} procfs={procfs_root}"
    node_dir = os.path.join(sysfs_root, _NODE_DIR)
    cpu_online_path = os.path.join(sysfs_root, _CPU_DIR, "online")
    online_cpus = _read_list(cpu_online_path)
    meminfo_text = read_text(os.path.join(procfs_root, "meminfo"))
    sysmem = parse_meminfo(meminfo_text) if meminfo_text is not None else None

    if not os.path.isdir(node_dir):
        # No NUMA support: still one node (hwloc's model).
        if online_cpus is None:
            raise TopologyError(
                f"cannot read the online CPUs from {cpu_online_path} "
                f"(and {node_dir} does not exist)",
                fix=_FIX_ROOT,
            )
        if sysmem is None or "MemTotal" not in sysmem:
            raise TopologyError(
                f"{node_dir} does not exist and {os.path.join(procfs_root, 'meminfo')} "
                "cannot be read, so the memory of node 0 is unknown",
                fix="pass --procfs-root (or capture /proc/meminfo with the tree)",
            )
        node0 = Node(
            id=0,
            cpus=online_cpus,
            mem_total_bytes=sysmem["MemTotal"],
            mem_free_bytes=sysmem.get("MemFree", 0),
            hugepages=_read_pools(os.path.join(sysfs_root, "kernel/mm/hugepages")),
            distances={0: 10},
        )
        nodes: tuple[Node, ...] = (node0,)
        possible: tuple[int, ...] = (0,)
    else:
        online_nodes = _read_list(os.path.join(node_dir, "online"))
        if online_nodes is None:
            online_nodes = _node_ids_in(node_dir)
        if not online_nodes:
            raise TopologyError(f"no online NUMA node under {node_dir}", fix=_FIX_ROOT)
        possible = _read_list(os.path.join(node_dir, "possible")) or online_nodes
        nodes = tuple(_read_node(node_dir, nid, online_nodes) for nid in online_nodes)
        if online_cpus is None:
            online_cpus = tuple(sorted(c for n in nodes for c in n.cpus))

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
        source=source,
    )


def read_topology_tree(tree_dir: str) -> Topology:
    """``read_topology`` on a tree written by ``capture_tree`` (``<tree>/sys``, ``<tree>/proc``)."""
    return read_topology(os.path.join(tree_dir, "sys"), os.path.join(tree_dir, "proc"))


def _read_node(node_dir: str, nid: int, online_nodes: tuple[int, ...]) -> Node:
    d = os.path.join(node_dir, f"node{nid}")
    cpulist_path = os.path.join(d, "cpulist")
    cpus = _read_list(cpulist_path)
    if cpus is None:
        raise TopologyError(f"cannot read the CPUs of node {nid} from {cpulist_path}", fix=_FIX_ROOT)
    meminfo_path = os.path.join(d, "meminfo")
    mem = parse_meminfo(_require_text(meminfo_path, f"the memory of node {nid}"))
    if "MemTotal" not in mem:
        raise TopologyError(f"{meminfo_path} has no MemTotal line", fix=_FIX_ROOT)
    distances: dict[int, int] = {}
    distance_path = os.path.join(d, "distance")
    text = read_text(distance_path)
    if text is not None and text.strip():
        # The kernel prints one figure per online node, in node order (node_read_distance).
        try:
            values = [int(v) for v in text.split()]
        except ValueError:
            raise TopologyError(f"{distance_path}: malformed distances {text.strip()!r}") from None
        if len(values) != len(online_nodes):
            raise TopologyError(
                f"{distance_path} lists {len(values)} distances but "
                f"{len(online_nodes)} nodes are online ({format_cpulist(online_nodes)})",
                fix="capture the tree again in one go; nodes went on- or offline meanwhile",
            )
        distances = dict(zip(online_nodes, values))
    return Node(
        id=nid,
        cpus=cpus,
        mem_total_bytes=mem["MemTotal"],
        mem_free_bytes=mem.get("MemFree", 0),
        hugepages=_read_pools(os.path.join(d, "hugepages")),
        distances=distances,
    )


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
            rel += [f"{base}/cpulist", f"{base}/meminfo", f"{base}/distance"]
            rel += pools(f"{base}/hugepages")
    return rel


def capture_tree(dest_dir: str, sysfs_root: str = "/sys", procfs_root: str = "/proc") -> list[str]:
    """Copy the files ``read_topology`` reads (and THP modes, global pools) into ``dest_dir``.

    Layout: ``<dest>/sys/<path under sysfs_root>`` and ``<dest>/proc/meminfo`` (see the module
    docstring). Files missing on the machine are skipped. Returns the written paths, relative to
    ``dest_dir``, sorted.

    Raises:
        TopologyError: the sysfs root is missing.
        UsageError: ``<dest>/sys`` or ``<dest>/proc`` already exists (nothing is overwritten).
    """
    if not os.path.isdir(sysfs_root):
        raise TopologyError(f"sysfs root {sysfs_root} is missing or not a directory", fix=_FIX_ROOT)
    for sub in ("sys", "proc"):
        if os.path.exists(os.path.join(dest_dir, sub)):
            raise UsageError(
                f"{os.path.join(dest_dir, sub)} already exists",
                fix="capture into an empty directory",
            )
    written: list[str] = []
    sources = [(os.path.join(sysfs_root, r), f"sys/{r}") for r in _capture_paths(sysfs_root)]
    sources.append((os.path.join(procfs_root, "meminfo"), "proc/meminfo"))
    for src, rel in sources:
        # Read then write (not copyfile): sysfs files report a size of 4096 and some are
        # unreadable (e.g. hugepage "demote" files); only readable text is kept.
        text = read_text(src)
        if text is None:
            continue
        dst = os.path.join(dest_dir, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "w", encoding="ascii") as f:
            f.write(text)
        written.append(rel)
    return sorted(written)


# --------------------------------------------------------------------------- rendering


def format_size(size_bytes: int) -> str:
    """A page size for humans: ``2097152 -> "2 MiB"``, ``1073741824 -> "1 GiB"``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size_bytes >= scale and size_bytes % scale == 0:
            return f"{size_bytes // scale} {unit}"
    return f"{size_bytes} B"


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
    lines += _format_distances(topo)
    if cpuset is not None:
        lines.append("")
        lines += _format_cpuset(topo, cpuset)
    return "\n".join(lines) + "\n"


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
