"""The node the admission model plans on: its NUMA nodes (CPUs, memory, hugepage pools), the
kubelet's ``reservedMemory`` and ``reservedSystemCPUs``, read from a node file or a topology."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from numabench.errors import TopologyError, UsageError
from numabench.host.cpus import CpuPlace, places_from_dict
from numabench.kube.admission.bitmask import mask_nodes
from numabench.kube.admission.cputopo import CpuTopology
from numabench.kube.admission.memory import default_machine_state
from numabench.kube.resources import (
    DEFAULT_EVICTION_HARD_MEMORY_BYTES,
    HUGEPAGES_PREFIX,
    MEMORY,
    hugepage_resource_name,
    hugepage_size_bytes,
    parse_quantity,
)
from numabench.util import docload
from numabench.util.cpulist import format_cpulist, parse_cpulist

__all__ = ["NumaNode", "NodeDescription", "load_node", "read_document", "cpu_list", "whole_bytes"]


def whole_bytes(value: Any, what: str) -> int:
    """A node file's size in bytes: a quantity that is a whole, non-negative number of bytes.

    Raises:
        UsageError: not a quantity, negative or fractional.
    """
    q = parse_quantity(value, what)
    if q < 0 or q != int(q):
        raise UsageError(f"{what}: {value!r} is not a whole number of bytes", "write e.g. 1Gi or 1073741824")
    return int(q)


def cpu_list(value: Any, what: str) -> tuple[int, ...]:
    """CPU ids from a list (``[0, 1]``) or a CPU list string (``"0-3,8"``), sorted, unique.

    Raises:
        UsageError: neither.
    """
    if isinstance(value, (list, tuple)):
        try:
            return tuple(sorted({int(v) for v in value}))
        except (TypeError, ValueError):
            raise UsageError(f"{what}: {value!r} is not a list of CPU ids", "write e.g. [0, 1] or \"0-3,8\"") from None
    try:
        return parse_cpulist(str(value))
    except ValueError as exc:
        raise UsageError(f"{what}: {exc}", "write a CPU list such as 0-3,8") from None


@dataclass(frozen=True)
class NumaNode:
    """One NUMA node as the kubelet's managers see it: CPUs, memory (bytes), hugepage pools (bytes)."""

    id: int
    cpus: tuple[int, ...]
    memory_bytes: int
    hugepages_bytes: dict[str, int] = field(default_factory=dict)  # "hugepages-2Mi" -> pool bytes

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "cpus": list(self.cpus), "memory_bytes": self.memory_bytes,
                "hugepages_bytes": dict(sorted(self.hugepages_bytes.items()))}


@dataclass(frozen=True)
class NodeDescription:
    """A Kubernetes node for the model: its NUMA nodes, the kubelet's ``reservedMemory`` per NUMA
    node and resource (bytes) and ``reservedSystemCPUs``. ``assumptions`` lists defaults applied.
    ``places``: each CPU's package, core and SMT siblings (``host.cpus.CpuPlace``), which
    ``takeByTopology`` needs; without them every CPU is its own core and each NUMA node its own
    package (an assumption the plan states). ``distances``: the NUMA distance table
    (``prefer-closest-numa-nodes``); without it 10 to itself and 20 to any other node."""

    numa_nodes: tuple[NumaNode, ...]
    reserved_memory: dict[int, dict[str, int]]
    reserved_cpus: tuple[int, ...]
    source: str = ""
    assumptions: tuple[str, ...] = ()
    places: Mapping[int, CpuPlace] | None = None
    distances: Mapping[int, Mapping[int, int]] | None = None

    def cpu_topology(self) -> CpuTopology:
        """The CPU Manager's view: per CPU its NUMA node, socket (package) and core key."""
        numa = {c: n.id for n in self.numa_nodes for c in n.cpus}
        places = self.places or {}
        socket = {c: places[c].package if c in places else numa[c] for c in numa}
        core = {c: places[c].core_key if c in places else c for c in numa}
        return CpuTopology(numa, socket, core)

    def distance(self, a: int, b: int) -> int:
        """NUMA distance from node ``a`` to ``b`` (10 to itself, 20 elsewhere when not given)."""
        if self.distances and a in self.distances and b in self.distances[a]:
            return int(self.distances[a][b])
        return 10 if a == b else 20

    @property
    def node_ids(self) -> tuple[int, ...]:
        return tuple(n.id for n in self.numa_nodes)

    @property
    def cpu_node_ids(self) -> tuple[int, ...]:
        return tuple(n.id for n in self.numa_nodes if n.cpus)

    @property
    def memory_node_ids(self) -> tuple[int, ...]:
        return tuple(n.id for n in self.numa_nodes if n.memory_bytes > 0)

    @property
    def all_cpus(self) -> tuple[int, ...]:
        return tuple(sorted(c for n in self.numa_nodes for c in n.cpus))

    def cpu_node(self, cpu: int) -> int:
        for n in self.numa_nodes:
            if cpu in n.cpus:
                return n.id
        raise UsageError(f"CPU {cpu} is in no NUMA node of {self.source or 'the node description'}",
                         "list every CPU under its node")

    def cpus_of(self, mask: int) -> set[int]:
        nodes = set(mask_nodes(mask))
        return {c for n in self.numa_nodes if n.id in nodes for c in n.cpus}

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "nodes": [n.to_dict() for n in self.numa_nodes],
            "reservedMemory": [{"numaNode": nid, "limits": dict(sorted(lim.items()))}
                               for nid, lim in sorted(self.reserved_memory.items())],
            "reservedSystemCPUs": format_cpulist(self.reserved_cpus),
            "assumptions": list(self.assumptions),
            "cpuPlaces": None if self.places is None else [p.to_dict() for _, p in sorted(self.places.items())],
            "distances": None if self.distances is None else {str(a): {str(b): d for b, d in sorted(row.items())}
                                                              for a, row in sorted(self.distances.items())},
        }

    @classmethod
    def build(cls, numa_nodes, reserved_memory=None, reserved_cpus=None, source: str = "", *,
              places: Mapping[int, CpuPlace] | None = None,
              distances: Mapping[int, Mapping[int, int]] | None = None) -> NodeDescription:
        """Check a description and apply the kubelet's defaults where a reservation is missing.

        Defaults: ``reservedMemory`` 100Mi of ``memory`` on the lowest memory node (with no
        kubeReserved/systemReserved, the only value a kubelet with the Static policy accepts:
        the sum must equal the default hard eviction threshold, 100Mi); ``reservedSystemCPUs``
        the lowest CPU (the static CPU policy needs at least one reserved CPU).

        Raises:
            UsageError: duplicate node or CPU ids, no CPU at all, a reservation on a node that does not
                exist or larger than the node's memory, reserved CPUs that are not online.
        """
        nodes = tuple(sorted(numa_nodes, key=lambda n: n.id))
        where = source or "the node description"
        ids = [n.id for n in nodes]
        if not nodes:
            raise UsageError(f"{where} has no NUMA node", "list at least one node with its CPUs and memory")
        if len(set(ids)) != len(ids):
            raise UsageError(f"{where} lists a NUMA node twice ({ids})", "give each node once")
        cpus = [c for n in nodes for c in n.cpus]
        if len(set(cpus)) != len(cpus):
            raise UsageError(f"{where} puts a CPU in two NUMA nodes", "list every CPU under one node")
        if not cpus:
            raise UsageError(f"{where} has no CPU", "list the CPUs of each node")
        assumptions: list[str] = []
        if not reserved_memory:
            first = min((n.id for n in nodes if n.memory_bytes > 0), default=nodes[0].id)
            reserved_memory = {first: {MEMORY: DEFAULT_EVICTION_HARD_MEMORY_BYTES}}
            assumptions.append(f"reservedMemory: 100Mi of memory on NUMA node {first} (kubelet default "
                               "reservations: hard eviction threshold 100Mi)")
        for nid, limits in reserved_memory.items():
            if nid not in ids:
                raise UsageError(f"{where}: reservedMemory names NUMA node {nid}, which does not exist",
                                 f"use one of the nodes {format_cpulist(ids)}")
            for res in limits:
                if res != MEMORY and not res.startswith(HUGEPAGES_PREFIX):
                    raise UsageError(f"{where}: reservedMemory of node {nid} has type {res!r}",
                                     "only memory and hugepages-<size> can be reserved")
        if reserved_cpus is None:
            reserved_cpus = (min(cpus),)
            assumptions.append(f"reservedSystemCPUs: {min(cpus)} (the static CPU policy reserves at least one CPU)")
        reserved_cpus = tuple(sorted(set(reserved_cpus)))
        missing = sorted(set(reserved_cpus) - set(cpus))
        if missing:
            raise UsageError(f"{where}: reserved CPUs {format_cpulist(missing)} are in no NUMA node",
                             "reserve CPUs the node has")
        if places is None:
            assumptions.append("CPU places unknown: each CPU taken as its own core, each NUMA node as its own "
                               "socket (give cpuPlaces or smt in the node file)")
        else:
            _check_places(places, cpus, where)
        desc = cls(nodes, {int(k): dict(v) for k, v in reserved_memory.items()}, reserved_cpus, source,
                   tuple(assumptions), None if places is None else dict(places),
                   None if distances is None else {int(a): dict(r) for a, r in distances.items()})
        default_machine_state(desc)  # raises on a reservation larger than a node
        return desc

    @classmethod
    def from_topology(cls, topology, reserved_memory=None, reserved_cpus=None,
                      places: Mapping[int, CpuPlace] | None = None) -> NodeDescription:
        """From a ``numabench.host.topology.Topology`` (live sysfs or a captured tree): each node's MemTotal
        and its hugepage pools (``nr_hugepages`` x page size), as cadvisor reports them; its NUMA
        distances when the topology has them. ``places``: ``host.cpus.read_cpu_places`` of its CPUs.

        Raises:
            UsageError: what ``build`` refuses.
        """
        nodes = []
        distances: dict[int, dict[int, int]] = {}
        for n in topology.nodes:
            pools = {hugepage_resource_name(size): pool.total * size for size, pool in n.hugepages.items()}
            nodes.append(NumaNode(n.id, tuple(n.cpus), n.mem_total_bytes, pools))
            row = dict(getattr(n, "distances", None) or {})
            if {m.id for m in topology.nodes} <= set(row):
                distances[n.id] = {int(b): int(d) for b, d in row.items()}
        return cls.build(nodes, reserved_memory, reserved_cpus, source=topology.source, places=places,
                         distances=distances if len(distances) == len(nodes) else None)

    @classmethod
    def from_dict(cls, data: Any, source: str = "") -> NodeDescription:
        """From a node file's content (JSON or YAML)::

            nodes:
              - {id: 0, cpus: "0-3", memory: 8Gi, hugepages: {hugepages-2Mi: 1Gi}}
              - {id: 1, cpus: [4, 5, 6, 7], memory: 8Gi}
            reservedMemory:                    # as in the KubeletConfiguration
              - {numaNode: 0, limits: {memory: 1100Mi}}
            reservedSystemCPUs: "0"

        ``memory`` and hugepage pool sizes are quantities (``8Gi``) or bytes. A file written by
        ``NodeDescription.to_dict`` (``memory_bytes``, ``hugepages_bytes``) reads back too.

        Raises:
            UsageError: a missing or malformed field (named), and what ``build`` refuses.
        """
        where = source or "node file"
        if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
            raise UsageError(f"{where}: no 'nodes' list", "write nodes: [{id: 0, cpus: \"0-3\", memory: 8Gi}, ...]")
        nodes = []
        for i, raw in enumerate(data["nodes"]):
            if not isinstance(raw, dict) or "id" not in raw or "cpus" not in raw:
                raise UsageError(f"{where}: nodes[{i}] needs id and cpus", "write {id: 0, cpus: \"0-3\", memory: 8Gi}")
            try:
                nid = int(raw["id"])
            except (TypeError, ValueError):
                raise UsageError(f"{where}: nodes[{i}].id {raw['id']!r} is not an integer", "number nodes 0, 1, ...") \
                    from None
            mem_raw = raw.get("memory", raw.get("memory_bytes"))
            if mem_raw is None:
                raise UsageError(f"{where}: node {nid} has no memory", "give memory: 8Gi (0 for a node without)")
            memory = whole_bytes(mem_raw, f"{where}: node {nid} memory")
            pools_raw = raw.get("hugepages", raw.get("hugepages_bytes")) or {}
            if not isinstance(pools_raw, dict):
                raise UsageError(f"{where}: node {nid} hugepages is not a mapping", "write {hugepages-2Mi: 1Gi}")
            pools = {}
            for res, size in pools_raw.items():
                hugepage_size_bytes(str(res))
                pools[str(res)] = whole_bytes(size, f"{where}: node {nid} {res}")
            nodes.append(NumaNode(nid, cpu_list(raw["cpus"], f"{where}: node {nid} cpus"), memory, pools))
        reserved: dict[int, dict[str, int]] = {}
        for i, entry in enumerate(data.get("reservedMemory") or []):
            if not isinstance(entry, dict) or "numaNode" not in entry or not isinstance(entry.get("limits"), dict):
                raise UsageError(f"{where}: reservedMemory[{i}] needs numaNode and limits",
                                 "write {numaNode: 0, limits: {memory: 1100Mi}}")
            nid = int(entry["numaNode"])
            if nid in reserved:
                raise UsageError(f"{where}: reservedMemory names NUMA node {nid} twice",
                                 "merge its limits into one entry")
            limits = {}
            for res, size in entry["limits"].items():
                value = whole_bytes(size, f"{where}: reservedMemory node {nid} {res}")
                if value == 0:
                    raise UsageError(f"{where}: reservedMemory node {nid} {res} is zero", "leave zero values out")
                limits[str(res)] = value
            reserved[nid] = limits
        cpus_raw = data.get("reservedSystemCPUs")
        reserved_cpus = None if cpus_raw in (None, "") else cpu_list(cpus_raw, f"{where}: reservedSystemCPUs")
        return cls.build(nodes, reserved, reserved_cpus, source=source, places=_places_of(data, nodes, where),
                         distances=_distances_of(data, where))


def _check_places(places: Mapping[int, CpuPlace], cpus: list[int], where: str) -> None:
    missing = sorted(set(cpus) - set(places))
    if missing:
        raise UsageError(f"{where}: CPUs {format_cpulist(missing)} have no place (package, core)",
                         "give a place for every CPU, or none at all")
    for p in places.values():
        if not set(p.siblings) <= set(cpus) or p.cpu not in p.siblings:
            raise UsageError(f"{where}: CPU {p.cpu} has siblings {format_cpulist(p.siblings)} outside the node",
                             "list siblings (the CPU itself included) among the node's CPUs")


def _places_of(data: dict, nodes: list[NumaNode], where: str) -> dict[int, CpuPlace] | None:
    """``cpuPlaces`` (``CpuPlace.to_dict`` entries) or the compact ``smt: K`` with an optional
    ``smtLayout`` (``split``, the default: CPU i's siblings are i + j*N/K, as the kernel numbers
    most x86 machines; ``adjacent``: K consecutive ids); package: a node's ``socket``, else its id."""
    if data.get("cpuPlaces") is not None:
        try:
            return places_from_dict(data["cpuPlaces"])
        except TopologyError as exc:
            raise UsageError(f"{where}: cpuPlaces: {exc}",
                             "entries are {cpu: N, package: P, siblings: [..]}") from None
    if data.get("smt") is None:
        return None
    try:
        smt = int(data["smt"])
    except (TypeError, ValueError):
        smt = 0
    cpus = sorted(c for n in nodes for c in n.cpus)
    if smt < 1 or len(cpus) % smt:
        raise UsageError(f"{where}: smt {data['smt']!r} does not divide the {len(cpus)} CPUs",
                         "give the number of threads per core (1, 2, 4)")
    sockets = {}
    for i, raw in enumerate(data["nodes"]):
        sockets[nodes[i].id] = int(raw.get("socket", nodes[i].id)) if isinstance(raw, dict) else nodes[i].id
    numa = {c: n.id for n in nodes for c in n.cpus}
    layout = data.get("smtLayout", "split")
    if layout not in ("split", "adjacent"):
        raise UsageError(f"{where}: smtLayout {layout!r}", "write split or adjacent")
    step = len(cpus) // smt
    out = {}
    for idx, c in enumerate(cpus):
        if layout == "split":
            sib = tuple(cpus[(idx % step) + j * step] for j in range(smt))
        else:
            sib = tuple(cpus[idx - idx % smt + j] for j in range(smt))
        out[c] = CpuPlace(c, sockets[numa[c]], 0, sib[0], sib, (), None)
    return out


def _distances_of(data: dict, where: str) -> dict[int, dict[int, int]] | None:
    """Per node ``distances`` (a list in node-id order, as sysfs ``node*/distance`` writes it)."""
    rows = {}
    ids = sorted(int(n["id"]) for n in data["nodes"])
    for raw in data["nodes"]:
        if raw.get("distances") is None:
            continue
        row = raw["distances"]
        if not isinstance(row, list) or len(row) != len(ids):
            raise UsageError(f"{where}: node {raw['id']} distances must list one distance per node",
                             "write distances: [10, 20] (one per node, in id order)")
        rows[int(raw["id"])] = {b: int(d) for b, d in zip(ids, row, strict=True)}
    return rows or None


def read_document(path: str, what: str) -> Any:
    """A JSON (``.json``) or YAML file's content.

    Raises:
        UsageError: unreadable or unparsable; the message names the ``what``.
    """
    return docload.load_document(path, what=what)


def load_node(path: str) -> NodeDescription:
    """Read a node file (JSON or YAML, see ``NodeDescription.from_dict``).

    Raises:
        UsageError: unreadable, unparsable or malformed.
    """
    doc = read_document(path, "node file")
    fix = "see `numabench pod plan --help` for the node file's fields"
    try:
        node = NodeDescription.from_dict(doc, source=os.path.basename(path))
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a type the field checks missed
        raise UsageError(f"{path}: malformed node file ({type(exc).__name__}: {str(exc)[:200]})", fix) from None
    ids = [n.id for n in node.numa_nodes] + [c for n in node.numa_nodes for c in n.cpus] + list(node.reserved_cpus)
    if any(i < 0 for i in ids):
        raise UsageError(f"{path}: a negative NUMA node or CPU id", fix)
    return node
