"""A model of one node's kubelet admission: CPU Manager ``static``, Memory Manager ``Static`` and the
Topology Manager (policies ``none``, ``best-effort``, ``restricted``, ``single-numa-node``; scopes
``container`` and ``pod``). Given a node, the pods already admitted and a pod spec, it answers what
the kubelet would do: per container the exclusive CPUs or the shared pool (``cpuset.cpus``), the
NUMA nodes of its memory (``cpuset.mems``), or the rejection (``TopologyAffinityError``, or an
allocation error the kubelet reports as ``UnexpectedAdmissionError``).

Sources (kubernetes/kubernetes; written afresh in Python, same rules):

- ``pkg/kubelet/cm/topologymanager/bitmask/bitmask.go``: masks, ``IsNarrowerThan`` (fewer bits,
  then the lower value), ``IterateBitMasks`` (all non-empty subsets, by size).
- ``pkg/kubelet/cm/topologymanager/policy.go``: ``filterProvidersHints`` (a provider without
  hints is a preferred "don't care"; a resource with an empty hint list is a non-preferred
  "don't care"), ``mergePermutation`` (bitwise AND; preferred only if every hint is preferred
  *and* every non-nil affinity is equal), ``HintMerger.compare`` (preferred beats
  non-preferred; among preferred the narrowest; among non-preferred the one closest to the
  largest "narrowest hint" of any provider), nothing mergeable gives ``{all nodes, false}``.
- ``policy_best_effort.go`` (always admit), ``policy_restricted.go`` (admit iff preferred),
  ``policy_single_numa_node.go`` (keep only preferred single-node or don't-care hints, merge,
  an all-nodes result becomes nil, admit iff preferred), ``policy_none.go`` / ``scope.go``
  ``admitPolicyNone`` (no merge: every manager allocates with an empty hint).
- ``scope_container.go`` (hints, merge and allocate per container, init containers first,
  each allocation seen by the next container), ``scope_pod.go`` (one merge for the pod, every
  container allocated with that hint).
- ``pkg/kubelet/cm/memorymanager/policy_static.go``: Guaranteed pods only, fractional CPUs
  included; ``calculateHints`` (every node mask with enough allocatable memory sets the minimal
  mask size; masks that break the "single NUMA node or cross NUMA group" rules or lack free
  memory are dropped; preferred = minimal size), ``Allocate`` (empty hint -> the best default
  hint; a hint too small -> extended to the narrowest containing mask; a mask breaking the
  group rules -> error), ``updateMachineState`` (fill node by node), ``getPodRequestedResources``
  (pod scope: app containers plus sidecars, at least the largest init container),
  ``getDefaultMachineState`` (allocatable = total - reserved - hugepages).
- ``pkg/kubelet/cm/cpumanager/policy_static.go``: exclusive CPUs only for Guaranteed containers
  with a whole CPU count (``guaranteedCPUs``); ``generateCPUTopologyHints`` over the nodes
  with CPUs (preferred = as few nodes as could hold the request on an empty machine);
  ``allocateCPUs`` (aligned CPUs first, the rest from anywhere; too few -> error); reserved CPUs
  are never given exclusively and stay in the shared pool unless ``strict-cpu-reservation``.
- ``pkg/kubelet/cm/admission/errors.go``: rejection reasons.

Simplified, on purpose (docs/pod-model.md lists these):

- CPUs are taken lowest id first within the aligned nodes, not by ``takeByTopology`` (which
  prefers whole sockets, then whole cores, i.e. SMT siblings together). CPU Manager policy
  options (``full-pcpus-only``, ``distribute-cpus-across-numa``...) are not modelled.
- Init containers are planned first, then their exclusive CPUs and memory are given back
  before the app containers are planned (the kubelet reuses them more narrowly, per NUMA mask).
  Sidecars (``restartPolicy: Always``) keep theirs.
- The Topology Manager option ``prefer-closest-numa-nodes`` is not modelled (narrowest wins);
  more than 8 NUMA nodes are refused, as the kubelet does without ``max-allowable-numa-nodes``.
- Device plugins (GPUs, NICs) give no hints here; the kubelet's general resource-fit check
  (``OutOfcpu``/``OutOfmemory``) is not modelled: only the managers' own checks are.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from numabench.util.cpulist import format_cpulist, parse_cpulist
from numabench.errors import UsageError
from numabench.kube.podspec import (
    CPU,
    HUGEPAGES_PREFIX,
    MEMORY,
    Container,
    PodSpec,
    hugepage_resource_name,
    hugepage_size_bytes,
    parse_quantity,
)
from numabench.kube.qos import GUARANTEED, pod_qos

__all__ = [
    "POLICIES",
    "SCOPES",
    "Hint",
    "NumaNode",
    "NodeDescription",
    "Block",
    "AdmittedState",
    "ContainerPlacement",
    "PodPlan",
    "load_node",
    "load_state",
    "plan_pod",
    "merge_hints",
    "iterate_masks",
    "is_narrower",
    "format_cpu",
]

POLICIES = ("none", "best-effort", "restricted", "single-numa-node")
SCOPES = ("container", "pod")
MAX_NUMA_NODES = 8  # topologymanager defaultMaxAllowableNUMANodes
TOPOLOGY_AFFINITY_ERROR = "TopologyAffinityError"
UNEXPECTED_ADMISSION_ERROR = "UnexpectedAdmissionError"
DEFAULT_RESERVED_MEMORY_BYTES = 100 << 20  # evictionHard memory.available default, kubeReserved = systemReserved = 0


# --------------------------------------------------------------------------- bitmasks (bitmask.go)


def _mask(nodes) -> int:
    m = 0
    for n in nodes:
        m |= 1 << int(n)
    return m


def _bits(mask: int) -> tuple[int, ...]:
    out = []
    i = 0
    while mask:
        if mask & 1:
            out.append(i)
        mask >>= 1
        i += 1
    return tuple(out)


def _count(mask: int) -> int:
    return bin(mask).count("1")


def is_narrower(a: int, b: int) -> bool:
    """``IsNarrowerThan``: fewer nodes, or as many and a lower value (lower-numbered nodes)."""
    if _count(a) == _count(b):
        return a < b
    return _count(a) < _count(b)


def iterate_masks(nodes) -> list[int]:
    """``IterateBitMasks``: every non-empty subset of ``nodes``, by size, then in combination order."""
    nodes = sorted(nodes)
    out: list[int] = []

    def rec(rest, accum, size):
        if len(accum) == size:
            out.append(_mask(accum))
            return
        for i in range(len(rest)):
            rec(rest[i + 1:], accum + [rest[i]], size)

    for size in range(1, len(nodes) + 1):
        rec(nodes, [], size)
    return out


# --------------------------------------------------------------------------- hints and merging


@dataclass(frozen=True)
class Hint:
    """A ``TopologyHint``: a NUMA node mask (None: no preference, "any node") and whether preferred."""

    mask: int | None
    preferred: bool

    @property
    def nodes(self) -> tuple[int, ...] | None:
        return None if self.mask is None else _bits(self.mask)

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": None if self.mask is None else list(self.nodes), "preferred": self.preferred}

    def __str__(self) -> str:
        where = "any" if self.mask is None else "{" + ",".join(map(str, self.nodes)) + "}"
        return f"{where} {'preferred' if self.preferred else 'not preferred'}"


ProviderHints = "dict[str, list[Hint] | None] | None"


def _filter_providers_hints(providers: list) -> list[list[Hint]]:
    """``filterProvidersHints``: one hint list per (provider, resource)."""
    out: list[list[Hint]] = []
    for hints in providers:
        if not hints:  # nil or empty map: no preference for any resource
            out.append([Hint(None, True)])
            continue
        for resource in sorted(hints):
            lst = hints[resource]
            if lst is None:
                out.append([Hint(None, True)])
            elif not lst:
                out.append([Hint(None, False)])
            else:
                out.append(list(lst))
    return out


def _merge_permutation(default: int, permutation: list[Hint]) -> Hint:
    preferred = True
    masks: list[int] = []
    for h in permutation:
        if h.mask is not None:
            masks.append(h.mask)
            if h.mask != masks[0]:  # preferred only if all affinities are equal
                preferred = False
        if not h.preferred:
            preferred = False
    merged = default
    for m in masks:
        merged &= m
    return Hint(merged, preferred)


def _narrowest_count(hints: list[Hint]) -> int | None:
    best = None
    for h in hints:
        if h.mask is None:
            continue
        if best is None or is_narrower(h.mask, best):
            best = h.mask
    return None if best is None else _count(best)


def _compare(current: Hint | None, candidate: Hint, best_np_count: int) -> Hint | None:
    """``HintMerger.compare`` (without ``prefer-closest-numa-nodes``)."""
    if _count(candidate.mask) == 0:
        return current
    if current is None:
        return candidate
    if not current.preferred and candidate.preferred:
        return candidate
    if current.preferred and not candidate.preferred:
        return current

    def fitter(a: Hint, b: Hint) -> Hint:
        if b.mask == a.mask:
            return a
        return b if is_narrower(b.mask, a.mask) else a

    if current.preferred and candidate.preferred:
        return fitter(current, candidate)
    cur, cand = _count(current.mask), _count(candidate.mask)
    if cur > best_np_count:
        return fitter(current, candidate)
    if cur == best_np_count:
        return fitter(current, candidate) if cand == best_np_count else current
    if cand > best_np_count:
        return current
    if cand == best_np_count:
        return candidate
    if cand > cur:
        return candidate
    if cand < cur:
        return current
    return fitter(current, candidate)


def _hint_merger(numa_nodes, filtered: list[list[Hint]]) -> Hint:
    default = _mask(numa_nodes)
    best_np_count = max([c for c in (_narrowest_count(h) for h in filtered) if c is not None], default=0)
    best: Hint | None = None

    def rec(i: int, accum: list[Hint]) -> None:
        nonlocal best
        if i == len(filtered):
            best = _compare(best, _merge_permutation(default, accum), best_np_count)
            return
        for h in filtered[i]:
            rec(i + 1, accum + [h])

    rec(0, [])
    return best if best is not None else Hint(default, False)


def merge_hints(policy: str, numa_nodes, providers: list) -> tuple[Hint, bool]:
    """Merge the hint providers' answers as Topology Manager ``policy`` does; (best hint, admit).

    ``providers``: per hint provider (CPU Manager, Memory Manager), None (no preference) or a
    mapping resource -> list of Hint (None: no preference for that resource; []: nothing fits).
    Policy ``none`` never merges: (Hint(None, False), True).

    Raises:
        UsageError: an unknown policy.
    """
    if policy == "none":
        return Hint(None, False), True
    filtered = _filter_providers_hints(providers)
    if policy in ("best-effort", "restricted"):
        best = _hint_merger(numa_nodes, filtered)
        return best, (True if policy == "best-effort" else best.preferred)
    if policy == "single-numa-node":
        single = [[h for h in lst if h.preferred and (h.mask is None or _count(h.mask) == 1)] for lst in filtered]
        best = _hint_merger(numa_nodes, single)
        if best.mask == _mask(numa_nodes):
            best = Hint(None, best.preferred)
        return best, best.preferred
    raise UsageError(f"unknown Topology Manager policy {policy!r}", f"use one of: {', '.join(POLICIES)}")


# --------------------------------------------------------------------------- the node


def _quantity_bytes(value: Any, what: str) -> int:
    q = parse_quantity(value, what)
    if q < 0 or q != int(q):
        raise UsageError(f"{what}: {value!r} is not a whole number of bytes", "write e.g. 1Gi or 1073741824")
    return int(q)


def _cpu_list(value: Any, what: str) -> tuple[int, ...]:
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
    node and resource (bytes) and ``reservedSystemCPUs``. ``assumptions`` lists defaults applied."""

    numa_nodes: tuple[NumaNode, ...]
    reserved_memory: dict[int, dict[str, int]]
    reserved_cpus: tuple[int, ...]
    source: str = ""
    assumptions: tuple[str, ...] = ()

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
        nodes = set(_bits(mask))
        return {c for n in self.numa_nodes if n.id in nodes for c in n.cpus}

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "nodes": [n.to_dict() for n in self.numa_nodes],
            "reservedMemory": [{"numaNode": nid, "limits": dict(sorted(lim.items()))}
                               for nid, lim in sorted(self.reserved_memory.items())],
            "reservedSystemCPUs": format_cpulist(self.reserved_cpus),
            "assumptions": list(self.assumptions),
        }

    @classmethod
    def build(cls, numa_nodes, reserved_memory=None, reserved_cpus=None, source: str = "") -> NodeDescription:
        """Check a description and apply the kubelet's defaults where a reservation is missing.

        Defaults: ``reservedMemory`` 100Mi of ``memory`` on the lowest memory node (with no
        kubeReserved/systemReserved, the only value a kubelet with the Static policy accepts:
        the sum must equal the default hard eviction threshold, 100Mi); ``reservedSystemCPUs``
        the lowest CPU (the static CPU policy needs at least one reserved CPU).

        Raises:
            UsageError: duplicate node or CPU ids, no CPU at all, more than 8 NUMA nodes (the
                kubelet's ``max-allowable-numa-nodes``), a reservation on a node that does not
                exist or larger than the node's memory, reserved CPUs that are not online.
        """
        nodes = tuple(sorted(numa_nodes, key=lambda n: n.id))
        where = source or "the node description"
        ids = [n.id for n in nodes]
        if not nodes:
            raise UsageError(f"{where} has no NUMA node", "list at least one node with its CPUs and memory")
        if len(set(ids)) != len(ids):
            raise UsageError(f"{where} lists a NUMA node twice ({ids})", "give each node once")
        if len(nodes) > MAX_NUMA_NODES:
            raise UsageError(f"{where} has {len(nodes)} NUMA nodes; the Topology Manager refuses more than "
                             f"{MAX_NUMA_NODES}", "the kubelet needs the max-allowable-numa-nodes option here")
        cpus = [c for n in nodes for c in n.cpus]
        if len(set(cpus)) != len(cpus):
            raise UsageError(f"{where} puts a CPU in two NUMA nodes", "list every CPU under one node")
        if not cpus:
            raise UsageError(f"{where} has no CPU", "list the CPUs of each node")
        assumptions: list[str] = []
        if not reserved_memory:
            first = min((n.id for n in nodes if n.memory_bytes > 0), default=nodes[0].id)
            reserved_memory = {first: {MEMORY: DEFAULT_RESERVED_MEMORY_BYTES}}
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
        desc = cls(nodes, {int(k): dict(v) for k, v in reserved_memory.items()}, reserved_cpus, source,
                   tuple(assumptions))
        _default_machine_state(desc)  # raises on a reservation larger than a node
        return desc

    @classmethod
    def from_topology(cls, topology, reserved_memory=None, reserved_cpus=None) -> NodeDescription:
        """From a ``numabench.host.topology.Topology`` (live sysfs or a captured tree): each node's MemTotal
        and its hugepage pools (``nr_hugepages`` x page size), as cadvisor reports them."""
        nodes = []
        for n in topology.nodes:
            pools = {hugepage_resource_name(size): pool.total * size for size, pool in n.hugepages.items()}
            nodes.append(NumaNode(n.id, tuple(n.cpus), n.mem_total_bytes, pools))
        return cls.build(nodes, reserved_memory, reserved_cpus, source=topology.source)

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
            memory = _quantity_bytes(mem_raw, f"{where}: node {nid} memory")
            pools_raw = raw.get("hugepages", raw.get("hugepages_bytes")) or {}
            if not isinstance(pools_raw, dict):
                raise UsageError(f"{where}: node {nid} hugepages is not a mapping", "write {hugepages-2Mi: 1Gi}")
            pools = {}
            for res, size in pools_raw.items():
                hugepage_size_bytes(str(res))
                pools[str(res)] = _quantity_bytes(size, f"{where}: node {nid} {res}")
            nodes.append(NumaNode(nid, _cpu_list(raw["cpus"], f"{where}: node {nid} cpus"), memory, pools))
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
                value = _quantity_bytes(size, f"{where}: reservedMemory node {nid} {res}")
                if value == 0:
                    raise UsageError(f"{where}: reservedMemory node {nid} {res} is zero", "leave zero values out")
                limits[str(res)] = value
            reserved[nid] = limits
        cpus_raw = data.get("reservedSystemCPUs")
        reserved_cpus = None if cpus_raw in (None, "") else _cpu_list(cpus_raw, f"{where}: reservedSystemCPUs")
        return cls.build(nodes, reserved, reserved_cpus, source=source)


def _read_doc(path: str, what: str) -> Any:
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise UsageError(f"cannot read the {what} {path}: {exc.strerror}", f"give the path of a {what}") from None
    try:
        return json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{path} is not valid JSON/YAML: {first}", f"fix the {what}") from None


def load_node(path: str) -> NodeDescription:
    """Read a node file (JSON or YAML, see ``NodeDescription.from_dict``).

    Raises:
        UsageError: unreadable, unparsable or malformed.
    """
    return NodeDescription.from_dict(_read_doc(path, "node file"), source=os.path.basename(path))


# --------------------------------------------------------------------------- admitted pods


@dataclass(frozen=True)
class Block:
    """A Memory Manager block: ``size`` bytes of ``type`` (memory, hugepages-2Mi...) on these nodes."""

    numa_affinity: tuple[int, ...]
    type: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"numaAffinity": list(self.numa_affinity), "type": self.type, "size": self.size}


@dataclass
class AdmittedState:
    """Pods already admitted on the node, shaped like the kubelet's checkpoint ``entries``:
    ``memory[pod uid][container] = [Block...]`` (memory_manager_state) and
    ``cpus[pod uid][container] = exclusive CPUs`` (cpu_manager_state); ``names[pod uid]`` for display."""

    memory: dict[str, dict[str, list[Block]]] = field(default_factory=dict)
    cpus: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def copy(self) -> AdmittedState:
        return AdmittedState({u: {c: list(b) for c, b in cs.items()} for u, cs in self.memory.items()},
                             {u: dict(cs) for u, cs in self.cpus.items()}, dict(self.names))

    @property
    def exclusive_cpus(self) -> set[int]:
        return {c for cs in self.cpus.values() for cpus in cs.values() for c in cpus}

    def has_pod(self, uid: str) -> bool:
        return uid in self.memory or uid in self.cpus

    def to_dict(self) -> dict[str, Any]:
        return {
            "pods": dict(sorted(self.names.items())),
            "memory": {u: {c: [b.to_dict() for b in bs] for c, bs in sorted(cs.items())}
                       for u, cs in sorted(self.memory.items())},
            "cpus": {u: {c: format_cpulist(v) for c, v in sorted(cs.items())} for u, cs in sorted(self.cpus.items())},
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "state") -> AdmittedState:
        """Read ``to_dict``'s shape; a ``pod plan --json`` output (its ``state``) is accepted too.

        Raises:
            UsageError: malformed entries (named).
        """
        if isinstance(data, dict) and isinstance(data.get("state"), dict):
            data = data["state"]
        if not isinstance(data, dict):
            raise UsageError(f"{source}: not an admitted-pods state", "give the state (or a pod plan --json output)")
        state = cls(names={str(k): str(v) for k, v in (data.get("pods") or {}).items()})
        try:
            for uid, containers in (data.get("memory") or {}).items():
                for ctr, blocks in containers.items():
                    state.memory.setdefault(str(uid), {})[str(ctr)] = [
                        Block(tuple(int(n) for n in b["numaAffinity"]), str(b["type"]), int(b["size"])) for b in blocks
                    ]
            for uid, containers in (data.get("cpus") or {}).items():
                for ctr, cpus in containers.items():
                    state.cpus.setdefault(str(uid), {})[str(ctr)] = _cpu_list(cpus, f"{source}: cpus of {uid}/{ctr}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"{source}: malformed admitted-pods entry ({type(exc).__name__}: {exc})",
                             "memory entries are [{numaAffinity: [0], type: memory, size: BYTES}]") from None
        return state


def load_state(path: str) -> AdmittedState:
    """Read an admitted-pods state file (JSON or YAML; see ``AdmittedState``).

    Raises:
        UsageError: unreadable, unparsable or malformed.
    """
    return AdmittedState.from_dict(_read_doc(path, "admitted-pods state"), source=os.path.basename(path))


# --------------------------------------------------------------------------- machine state (memory manager)


@dataclass
class _Table:
    total: int
    system_reserved: int
    allocatable: int
    reserved: int
    free: int


@dataclass
class _NodeState:
    assignments: int
    cells: tuple[int, ...]
    tables: dict[str, _Table]


def _default_machine_state(node: NodeDescription) -> dict[int, _NodeState]:
    """``getDefaultMachineState``: allocatable = total - reservedMemory (- hugepage pools, for memory)."""
    out: dict[int, _NodeState] = {}
    for n in node.numa_nodes:
        reserved = node.reserved_memory.get(n.id, {})
        tables: dict[str, _Table] = {}
        hugepages_total = 0
        for res, total in n.hugepages_bytes.items():
            sr = reserved.get(res, 0)
            tables[res] = _Table(total, sr, total - sr, 0, total - sr)
            hugepages_total += total
        sr = reserved.get(MEMORY, 0)
        alloc = n.memory_bytes - sr - hugepages_total
        tables[MEMORY] = _Table(n.memory_bytes, sr, alloc, 0, alloc)
        for res, t in tables.items():
            if t.allocatable < 0:
                raise UsageError(f"{node.source or 'node'}: NUMA node {n.id} reserves more {res} than it has "
                                 f"({reserved.get(res, 0)} reserved, {t.total} total)",
                                 "lower reservedMemory for that node")
        for res in reserved:
            if res not in tables:
                raise UsageError(f"{node.source or 'node'}: reservedMemory of NUMA node {n.id} names {res}, "
                                 "which that node has no pool of", "reserve only pools the node has")
        out[n.id] = _NodeState(0, (n.id,), tables)
    return out


def _fill(ms: dict[int, _NodeState], affinity: tuple[int, ...], res: str, size: int) -> None:
    """``updateMachineState``: count the assignment on every node of the group, take the memory
    from the nodes in order (the rest spills to the next node)."""
    for nid in affinity:
        ms[nid].assignments += 1
        ms[nid].cells = tuple(affinity)
        if size == 0:
            continue
        t = ms[nid].tables[res]
        if t.free <= 0:
            continue
        take = min(t.free, size)
        t.reserved += take
        t.free -= take
        size -= take


def _machine_state(node: NodeDescription, state: AdmittedState) -> dict[int, _NodeState]:
    ms = _default_machine_state(node)
    for uid, containers in state.memory.items():
        for ctr, blocks in containers.items():
            for b in blocks:
                for nid in b.numa_affinity:
                    if nid not in ms:
                        raise UsageError(f"admitted pod {uid} container {ctr} uses NUMA node {nid}, which does not "
                                         "exist", "the state belongs to another node")
                    if b.type not in ms[nid].tables:
                        raise UsageError(f"admitted pod {uid} container {ctr} uses {b.type} on NUMA node {nid}, "
                                         "which has no such pool", "the state belongs to another node")
                _fill(ms, b.numa_affinity, b.type, b.size)
    return ms


# --------------------------------------------------------------------------- hint providers


def _guaranteed_cpus(qos: str, c: Container) -> int:
    """``guaranteedCPUs``: whole CPUs of a Guaranteed container, 0 for fractional or other QoS."""
    if qos != GUARANTEED:
        return 0
    cpu = Fraction(c.requests.get(CPU, 0))
    if cpu.denominator != 1:
        return 0
    return int(cpu)


def _cpu_hints(node: NodeDescription, available: set[int], request: int) -> list[Hint]:
    """``generateCPUTopologyHints``: masks over the nodes with CPUs that hold ``request`` available
    CPUs; preferred = as few nodes as the request needs on an empty machine."""
    cpu_nodes = node.cpu_node_ids
    min_size = len(cpu_nodes)
    hints: list[Hint] = []
    for mask in iterate_masks(cpu_nodes):
        in_mask = node.cpus_of(mask)
        if len(in_mask) >= request and _count(mask) < min_size:
            min_size = _count(mask)
        if len(in_mask & available) >= request:
            hints.append(Hint(mask, False))
    return [Hint(h.mask, _count(h.mask) == min_size) for h in hints]


def _memory_hints(ms: dict[int, _NodeState], requested: dict[str, int]) -> dict[str, list[Hint]]:
    """``calculateHints``: ``{}`` when no mask fits (the Topology Manager reads that as "no preference")."""
    node_ids = sorted(ms)
    min_size = len(node_ids)
    masks: list[int] = []
    for mask in iterate_masks(node_ids):
        bits = _bits(mask)
        single = len(bits) == 1

        def total(attr: str, res: str, bits=bits) -> int:
            return sum(getattr(ms[n].tables[res], attr) if res in ms[n].tables else 0 for n in bits)

        if any(total("allocatable", res) < size for res, size in requested.items()):
            continue
        min_size = min(min_size, _count(mask))
        if single and len(ms[bits[0]].cells) > 1:
            continue  # the node is in a cross-NUMA group: no single-node allocation on it
        if not single and any(ms[n].assignments > 0 and (len(ms[n].cells) == 1 or sorted(ms[n].cells) != list(bits))
                              for n in bits):
            continue  # a node already used alone, or in another group
        if any(total("free", res) < size for res, size in requested.items()):
            continue
        masks.append(mask)
    if not masks:
        return {}
    return {res: [Hint(m, _count(m) == min_size) for m in masks] for res in requested}


def _find_best_hint(hints: list[Hint]) -> Hint:
    """``findBestHint``: preferred first, then the narrowest."""
    best = None
    for h in hints:
        if best is None:
            best = h
        elif h.preferred and not best.preferred:
            best = h
        elif h.preferred == best.preferred and is_narrower(h.mask, best.mask):
            best = h
    return best


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class ContainerPlacement:
    """Where one container runs, as the kubelet would set its cgroup.

    ``cpus`` is ``cpuset.cpus`` (exclusive CPUs, or the shared pool after this pod's admission);
    ``mems`` is ``cpuset.mems`` (the Memory Manager's nodes, or every memory node when it does
    not pin the container); ``numa_affinity`` the nodes the managers aligned the container to
    (None when nothing was pinned); ``hint`` the Topology Manager's merged hint.
    """

    name: str
    init: bool
    qos: str
    cpus: tuple[int, ...]
    mems: tuple[int, ...]
    exclusive_cpus: bool
    memory_pinned: bool
    numa_affinity: tuple[int, ...] | None
    hint: Hint | None
    cpu_hints: list[Hint] | None
    memory_hints: list[Hint] | None
    memory_blocks: tuple[Block, ...]
    memory_limit_bytes: int | None
    cpu_nodes: tuple[int, ...]

    @property
    def aligned(self) -> bool:
        """Every CPU's node holds memory of this container (what an in-pod verdict checks)."""
        return bool(self.cpu_nodes) and set(self.cpu_nodes) <= set(self.mems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "init": self.init,
            "qos": self.qos,
            "cpuset_cpus": format_cpulist(self.cpus),
            "cpuset_mems": format_cpulist(self.mems),
            "cpus": list(self.cpus),
            "mems": list(self.mems),
            "cpu_nodes": list(self.cpu_nodes),
            "exclusive_cpus": self.exclusive_cpus,
            "memory_pinned": self.memory_pinned,
            "numa_affinity": None if self.numa_affinity is None else list(self.numa_affinity),
            "aligned": self.aligned,
            "hint": None if self.hint is None else self.hint.to_dict(),
            "hints": {"cpu": None if self.cpu_hints is None else [h.to_dict() for h in self.cpu_hints],
                      "memory": None if self.memory_hints is None else [h.to_dict() for h in self.memory_hints]},
            "memory_blocks": [b.to_dict() for b in self.memory_blocks],
            "memory_limit_bytes": self.memory_limit_bytes,
        }


@dataclass(frozen=True)
class PodPlan:
    """The model's answer for one pod. ``admitted`` False comes with ``reason`` (the kubelet's
    ``TopologyAffinityError`` or ``UnexpectedAdmissionError``), ``message`` (the kubelet's text),
    ``detail`` (why, in this model's words) and ``container`` (where it failed). ``state`` is the
    admitted-pods state after this pod (unchanged when rejected)."""

    pod: PodSpec
    qos: str
    policy: str
    scope: str
    strict_cpu_reservation: bool
    admitted: bool
    reason: str | None
    message: str | None
    detail: str | None
    failed_container: str | None
    containers: tuple[ContainerPlacement, ...]
    node: NodeDescription
    state: AdmittedState
    notes: tuple[str, ...] = ()

    def placement(self, name: str | None = None) -> ContainerPlacement:
        """The placement of container ``name`` (default: the first app container).

        Raises:
            UsageError: the pod was rejected, or has no such container.
        """
        if not self.admitted:
            raise UsageError(f"the kubelet would reject pod {self.pod.name}: {self.reason}: {self.detail}",
                             "change the pod, the node or the policy (numabench pod plan explains)")
        for c in self.containers:
            if (name is None and not c.init) or c.name == name:
                return c
        raise UsageError(f"pod {self.pod.name} has no container {name!r}",
                         "pick one of: " + ", ".join(c.name for c in self.containers))

    def to_dict(self) -> dict[str, Any]:
        return {
            "pod": {"name": self.pod.name, "namespace": self.pod.namespace, "uid": self.pod.uid,
                    "source": self.pod.source, "qos": self.qos},
            "kubelet": {"topology_manager_policy": self.policy, "topology_manager_scope": self.scope,
                        "cpu_manager_policy": "static", "memory_manager_policy": "Static",
                        "strict_cpu_reservation": self.strict_cpu_reservation},
            "admitted": self.admitted,
            "rejection": None if self.admitted else {
                "reason": self.reason, "message": self.message, "detail": self.detail,
                "container": self.failed_container},
            "containers": [c.to_dict() for c in self.containers],
            "node": self.node.to_dict(),
            "notes": list(self.notes),
            "state": self.state.to_dict(),
        }


class _Rejected(Exception):
    def __init__(self, reason: str, message: str, detail: str, container: str | None):
        super().__init__(detail)
        self.reason, self.message, self.detail, self.container = reason, message, detail, container


def _unexpected(detail: str, container: str) -> _Rejected:
    # admission.GetPodAdmitResult wraps an allocation error this way
    return _Rejected(UNEXPECTED_ADMISSION_ERROR, f"Allocate failed due to {detail}, which is unexpected", detail,
                     container)


def _affinity_error(detail: str, container: str | None) -> _Rejected:
    return _Rejected(TOPOLOGY_AFFINITY_ERROR, "Resources cannot be allocated with Topology locality", detail,
                     container)


class _Admission:
    """One pod's admission against a copy of the node's state."""

    def __init__(self, pod: PodSpec, node: NodeDescription, state: AdmittedState, policy: str, scope: str,
                 strict: bool):
        self.pod, self.node, self.policy, self.scope, self.strict = pod, node, policy, scope, strict
        self.qos = pod_qos(pod)
        self.state = state.copy()
        self.ms = _machine_state(node, self.state)
        taken = self.state.exclusive_cpus
        reserved = set(node.reserved_cpus)
        bad = sorted(taken & reserved)
        if bad:
            raise UsageError(f"admitted pods hold reserved CPUs {format_cpulist(bad)} exclusively",
                             "the state belongs to another reservedSystemCPUs")
        unknown = sorted(taken - set(node.all_cpus))
        if unknown:
            raise UsageError(f"admitted pods hold CPUs {format_cpulist(unknown)}, which the node does not have",
                             "the state belongs to another node")
        self.exclusive: dict[str, tuple[int, ...]] = {}
        self.blocks: dict[str, list[Block]] = {}

    # --- what is free now
    def available_cpus(self) -> set[int]:
        """``GetAvailableCPUs``: the shared pool minus reserved CPUs."""
        taken = self.state.exclusive_cpus | {c for v in self.exclusive.values() for c in v}
        return set(self.node.all_cpus) - taken - set(self.node.reserved_cpus)

    def shared_pool(self) -> tuple[int, ...]:
        taken = self.state.exclusive_cpus | {c for v in self.exclusive.values() for c in v}
        pool = set(self.node.all_cpus) - taken
        if self.strict:
            pool -= set(self.node.reserved_cpus)
        return tuple(sorted(pool))

    # --- hint providers (container scope)
    def cpu_provider(self, c: Container) -> dict[str, list[Hint]] | None:
        n = _guaranteed_cpus(self.qos, c)
        if n == 0:
            return None
        return {CPU: _cpu_hints(self.node, self.available_cpus(), n)}

    def memory_provider(self, c: Container) -> dict[str, list[Hint]] | None:
        if self.qos != GUARANTEED:
            return None
        return _memory_hints(self.ms, c.memory_requests())

    # --- hint providers (pod scope)
    def pod_cpu_request(self) -> int:
        """``podGuaranteedCPUs``: max(app containers + sidecars, the largest init container)."""
        init_max = restartable = apps = 0
        for c in self.pod.init_containers:
            if CPU not in c.requests:
                continue
            n = _guaranteed_cpus(self.qos, c)
            if c.restartable:
                restartable += n
            else:
                init_max = max(init_max, restartable + n)
        for c in self.pod.containers:
            if CPU in c.requests:
                apps += _guaranteed_cpus(self.qos, c)
        return max(init_max, apps + restartable)

    def pod_memory_request(self) -> dict[str, int]:
        """``getPodRequestedResources``."""
        init_max: dict[str, int] = {}
        restartable: dict[str, int] = {}
        for c in self.pod.init_containers:
            for res, size in c.memory_requests().items():
                init_max.setdefault(res, 0)
                if c.restartable:
                    restartable[res] = restartable.get(res, 0) + size
                elif restartable.get(res, 0) + size > init_max[res]:
                    init_max[res] = restartable.get(res, 0) + size
        apps: dict[str, int] = {}
        for c in self.pod.containers:
            for res, size in c.memory_requests().items():
                apps[res] = apps.get(res, 0) + size
        return {res: max(total + restartable.get(res, 0), init_max.get(res, 0)) for res, total in apps.items()}

    # --- allocation
    def allocate_cpus(self, c: Container, hint: Hint) -> tuple[int, ...] | None:
        n = _guaranteed_cpus(self.qos, c)
        if n == 0:
            return None
        allocatable = self.available_cpus()
        if n > len(allocatable):
            raise _unexpected(f"not enough cpus available to satisfy request: requested={n}, "
                              f"available={len(allocatable)}", c.name)
        result: list[int] = []
        if hint.mask is not None:
            aligned = sorted(allocatable & self.node.cpus_of(hint.mask))
            result += aligned[:n]  # simpler than takeByTopology: lowest ids first
        rest = sorted(allocatable - set(result))
        result += rest[: n - len(result)]
        cpus = tuple(sorted(result))
        self.exclusive[c.name] = cpus
        return cpus

    def allocate_memory(self, c: Container, hint: Hint) -> list[Block] | None:
        if self.qos != GUARANTEED:
            return None
        requested = c.memory_requests()
        if not requested:
            return None
        best = hint
        if best.mask is None:
            hints = _memory_hints(self.ms, requested).get(MEMORY)
            if not hints:
                raise _unexpected("[memorymanager] failed to get the default NUMA affinity, no NUMA nodes with "
                                  "enough memory is available", c.name)
            default = _find_best_hint(hints)
            if not default.preferred and best.preferred:
                raise _unexpected("[memorymanager] failed to find the default preferred hint", c.name)
            best = default
        bits = _bits(best.mask)
        if any(sum(self.ms[n].tables[res].free if res in self.ms[n].tables else 0 for n in bits) < size
               for res, size in requested.items()):
            candidates = [h for h in _memory_hints(self.ms, requested).get(MEMORY, [])
                          if set(bits) <= set(_bits(h.mask))]
            if not candidates:
                raise _unexpected("[memorymanager] failed to find NUMA nodes to extend the current topology hint",
                                  c.name)
            extended = _find_best_hint(candidates)
            if not extended.preferred and best.preferred:
                raise _unexpected("[memorymanager] failed to find the extended preferred hint", c.name)
            best = extended
            bits = _bits(best.mask)
        if len(bits) > 1 and any(self.ms[n].assignments > 0 and
                                 (len(self.ms[n].cells) == 1 or sorted(self.ms[n].cells) != list(bits)) for n in bits):
            raise _unexpected("[memorymanager] preferred hint violates NUMA node allocation", c.name)
        blocks = []
        for res in sorted(requested):
            blocks.append(Block(bits, res, requested[res]))
            _fill(self.ms, bits, res, requested[res])
        self.blocks[c.name] = blocks
        return blocks

    def release(self, c: Container) -> None:
        """Give an init container's CPUs and memory back (``RemoveContainer``)."""
        self.exclusive.pop(c.name, None)
        for b in self.blocks.pop(c.name, []):
            size = b.size
            for nid in b.numa_affinity:
                st = self.ms[nid]
                st.assignments -= 1
                if st.assignments == 0:
                    st.cells = (nid,)
                t = st.tables[b.type]
                give = min(t.reserved, size)
                t.reserved -= give
                t.free += give
                size -= give


def plan_pod(pod: PodSpec, node: NodeDescription, state: AdmittedState | None = None, policy: str = "none",
             scope: str = "container", strict_cpu_reservation: bool = False) -> PodPlan:
    """Admit ``pod`` on ``node`` (with ``state``'s pods already there) as the kubelet would, with
    CPU Manager static, Memory Manager Static and Topology Manager ``policy``/``scope``.

    Never raises for a pod the kubelet would reject: the PodPlan says ``admitted=False`` and why.

    Raises:
        UsageError: an unknown policy or scope, a pod already in ``state``, a state that does
            not fit the node.
    """
    if policy not in POLICIES:
        raise UsageError(f"unknown Topology Manager policy {policy!r}", f"use one of: {', '.join(POLICIES)}")
    if scope not in SCOPES:
        raise UsageError(f"unknown Topology Manager scope {scope!r}", f"use one of: {', '.join(SCOPES)}")
    state = state or AdmittedState()
    if state.has_pod(pod.uid):
        raise UsageError(f"pod {pod.name} (uid {pod.uid}) is already admitted in the state",
                         "give the pod another metadata.uid, or drop it from the state")
    adm = _Admission(pod, node, state, policy, scope, strict_cpu_reservation)
    notes = list(node.assumptions)
    if any(c.other for c in pod.all_containers):
        notes.append("device and other extended resources give no hints in this model")
    per: dict[str, dict[str, Any]] = {}
    try:
        if policy != "none" and scope == "pod":
            n = adm.pod_cpu_request()
            cpu = None if n == 0 else {CPU: _cpu_hints(node, adm.available_cpus(), n)}
            mem = _memory_hints(adm.ms, adm.pod_memory_request()) if adm.qos == GUARANTEED else None
            pod_hint, admit = merge_hints(policy, node.node_ids, [cpu, mem])
            if not admit:
                raise _affinity_error(_why(policy, pod_hint, cpu, mem, "the pod"), None)
        released = False
        for c in pod.all_containers:
            if not c.init and not released:
                for ic in pod.init_containers:
                    if not ic.restartable:
                        adm.release(ic)
                released = True
            if policy == "none":
                cpu = mem = None
                hint = Hint(None, False)
            elif scope == "pod":
                hint = pod_hint
            else:
                cpu, mem = adm.cpu_provider(c), adm.memory_provider(c)
                hint, admit = merge_hints(policy, node.node_ids, [cpu, mem])
                if not admit:
                    raise _affinity_error(_why(policy, hint, cpu, mem, f"container {c.name}"), c.name)
            cpus = adm.allocate_cpus(c, hint)
            blocks = adm.allocate_memory(c, hint)
            per[c.name] = {"hint": None if policy == "none" else hint, "cpus": cpus, "blocks": blocks,
                           "cpu_hints": None if cpu is None else cpu.get(CPU, []),
                           "memory_hints": None if mem is None else mem.get(MEMORY, [])}
    except _Rejected as rej:
        return PodPlan(pod, adm.qos, policy, scope, strict_cpu_reservation, False, rej.reason, rej.message,
                       rej.detail, rej.container, (), node, state, tuple(notes))

    shared = adm.shared_pool()
    memory_nodes = node.memory_node_ids
    placements = []
    for c in pod.all_containers:
        p = per[c.name]
        blocks = p["blocks"] or []
        mems = tuple(sorted({n for b in blocks for n in b.numa_affinity})) or memory_nodes
        cpus = p["cpus"] or shared
        affinity = None
        if blocks:
            affinity = mems
        elif p["cpus"]:
            affinity = tuple(sorted({node.cpu_node(x) for x in p["cpus"]}))
        placements.append(ContainerPlacement(
            name=c.name, init=c.init, qos=adm.qos, cpus=cpus, mems=mems,
            exclusive_cpus=p["cpus"] is not None, memory_pinned=bool(blocks), numa_affinity=affinity,
            hint=p["hint"], cpu_hints=p["cpu_hints"], memory_hints=p["memory_hints"], memory_blocks=tuple(blocks),
            memory_limit_bytes=c.memory_limit_bytes, cpu_nodes=tuple(sorted({node.cpu_node(x) for x in cpus}))))
        if p["cpus"] is None and adm.qos == GUARANTEED and c.requests.get(CPU):
            notes.append(f"container {c.name}: {format_cpu(c.requests[CPU])} CPU is not a whole number: shared CPUs "
                         "(the CPU Manager gives exclusive CPUs only for whole CPUs)")
    new_state = adm.state
    for name, cpus in adm.exclusive.items():
        new_state.cpus.setdefault(pod.uid, {})[name] = cpus
    for name, blocks in adm.blocks.items():
        new_state.memory.setdefault(pod.uid, {})[name] = blocks
    if pod.uid in new_state.cpus or pod.uid in new_state.memory:
        new_state.names[pod.uid] = f"{pod.namespace}/{pod.name}"
    return PodPlan(pod, adm.qos, policy, scope, strict_cpu_reservation, True, None, None, None, None,
                   tuple(placements), node, new_state, tuple(notes))


def format_cpu(cores) -> str:
    """Cores as the API writes them: ``2``, ``500m``."""
    q = Fraction(cores)
    return str(int(q)) if q.denominator == 1 else f"{float(q * 1000):g}m"


def _fmt_hints(provider) -> str:
    if provider is None:
        return "no preference"
    if not provider:
        return "no NUMA node mask has enough free memory"
    parts = []
    for res, hints in sorted(provider.items()):
        shown = ", ".join(str(h) for h in hints) if hints else "none fit"
        parts.append(f"{res}: {shown}")
    return "; ".join(parts)


def _why(policy: str, hint: Hint, cpu, mem, who: str) -> str:
    base = f"{who}: merged hint {hint}; CPU hints [{_fmt_hints(cpu)}]; memory hints [{_fmt_hints(mem)}]"
    if policy == "single-numa-node":
        return base + "; single-numa-node admits only a preferred hint on one NUMA node"
    return base + f"; {policy} admits only a preferred hint"
