"""Memory Manager ``Static`` (``pkg/kubelet/cm/memorymanager/policy_static.go``): the machine
state per NUMA node, its hints, allocation and init-container reuse; blocks as in ``memory_manager_state``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from numabench.errors import UsageError
from numabench.kube.admission.bitmask import iterate_masks, mask_nodes, node_count, node_mask
from numabench.kube.admission.hints import Hint, find_best_hint
from numabench.kube.admission.rejection import unexpected
from numabench.kube.resources import MEMORY

if TYPE_CHECKING:  # types only: node and state import this module
    from numabench.kube.admission.node import NodeDescription
    from numabench.kube.admission.state import AdmittedState
    from numabench.kube.podspec import PodSpec

__all__ = ["Block", "NodeState", "MemoryTable", "default_machine_state", "machine_state", "memory_hints",
           "pod_memory_request", "allocate_memory", "update_reusable",
           "shrink_init_blocks", "Reusable"]


@dataclass(frozen=True)
class Block:
    """A Memory Manager block: ``size`` bytes of ``type`` (memory, hugepages-2Mi...) on these nodes."""

    numa_affinity: tuple[int, ...]
    type: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"numaAffinity": list(self.numa_affinity), "type": self.type, "size": self.size}


@dataclass
class MemoryTable:
    total: int
    system_reserved: int
    allocatable: int
    reserved: int
    free: int


@dataclass
class NodeState:
    assignments: int
    cells: tuple[int, ...]
    tables: dict[str, MemoryTable]


def default_machine_state(node: NodeDescription) -> dict[int, NodeState]:
    """``getDefaultMachineState``: allocatable = total - reservedMemory (- hugepage pools, for memory)."""
    out: dict[int, NodeState] = {}
    for n in node.numa_nodes:
        reserved = node.reserved_memory.get(n.id, {})
        tables: dict[str, MemoryTable] = {}
        hugepages_total = 0
        for res, total in n.hugepages_bytes.items():
            sr = reserved.get(res, 0)
            tables[res] = MemoryTable(total, sr, total - sr, 0, total - sr)
            hugepages_total += total
        sr = reserved.get(MEMORY, 0)
        alloc = n.memory_bytes - sr - hugepages_total
        tables[MEMORY] = MemoryTable(n.memory_bytes, sr, alloc, 0, alloc)
        for res, t in tables.items():
            if t.allocatable < 0:
                raise UsageError(f"{node.source or 'node'}: NUMA node {n.id} reserves more {res} than it has "
                                 f"({reserved.get(res, 0)} reserved, {t.total} total)",
                                 "lower reservedMemory for that node")
        for res in reserved:
            if res not in tables:
                raise UsageError(f"{node.source or 'node'}: reservedMemory of NUMA node {n.id} names {res}, "
                                 "which that node has no pool of", "reserve only pools the node has")
        out[n.id] = NodeState(0, (n.id,), tables)
    return out


def fill(ms: dict[int, NodeState], affinity: tuple[int, ...], res: str, size: int) -> None:
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


def machine_state(node: NodeDescription, state: AdmittedState) -> dict[int, NodeState]:
    """The Memory Manager's machine state with ``state``'s pods replayed, block by block. A pod with
    pod-level entries (``podEntries``) counts those; its containers' blocks are slices of them."""
    ms = default_machine_state(node)
    replay: list[tuple[str, str, list[Block]]] = [(uid, "<pod>", bs) for uid, bs in state.pod_memory.items()]
    replay += [(uid, ctr, bs) for uid, cs in state.memory.items() if uid not in state.pod_memory
               for ctr, bs in cs.items()]
    for uid, ctr, blocks in replay:
        for b in blocks:
            for nid in b.numa_affinity:
                if nid not in ms:
                    raise UsageError(f"admitted pod {uid} container {ctr} uses NUMA node {nid}, which does not "
                                     "exist", "the state belongs to another node")
                if b.type not in ms[nid].tables:
                    raise UsageError(f"admitted pod {uid} container {ctr} uses {b.type} on NUMA node {nid}, "
                                     "which has no such pool", "the state belongs to another node")
            fill(ms, b.numa_affinity, b.type, b.size)
    return ms


Reusable = dict[int, dict[str, int]]  # ``initContainersReusableMemory``: mask -> resource -> bytes


def memory_hints(ms: dict[int, NodeState], requested: dict[str, int],
                 reusable: Reusable | None = None) -> dict[str, list[Hint]]:
    """``calculateHints``: ``{}`` when no mask fits (the Topology Manager reads that as "no preference").
    ``reusable``: this pod's init-container memory a mask may reuse (counts as free there)."""
    reusable = reusable or {}
    node_ids = sorted(ms)
    min_size = len(node_ids)
    masks: list[int] = []
    for mask in iterate_masks(node_ids):
        bits = mask_nodes(mask)
        single = len(bits) == 1

        def total(attr: str, res: str, bits=bits) -> int:
            return sum(getattr(ms[n].tables[res], attr) if res in ms[n].tables else 0 for n in bits)

        if any(total("allocatable", res) < size for res, size in requested.items()):
            continue
        min_size = min(min_size, node_count(mask))
        if single and len(ms[bits[0]].cells) > 1:
            continue  # the node is in a cross-NUMA group: no single-node allocation on it
        if _breaks_groups(ms, bits):
            continue
        if any(total("free", res) + reusable.get(mask, {}).get(res, 0) < size for res, size in requested.items()):
            continue
        masks.append(mask)
    if not masks:
        return {}
    return {res: [Hint(m, node_count(m) == min_size) for m in masks] for res in requested}


def pod_memory_request(pod: PodSpec) -> dict[str, int]:
    """``getPodRequestedResources`` (pod scope): bytes per resource, app containers plus sidecars,
    at least the largest init container."""
    init_max: dict[str, int] = {}
    restartable: dict[str, int] = {}
    for c in pod.init_containers:
        for res, size in c.memory_requests().items():
            init_max.setdefault(res, 0)
            if c.restartable:
                restartable[res] = restartable.get(res, 0) + size
            elif restartable.get(res, 0) + size > init_max[res]:
                init_max[res] = restartable.get(res, 0) + size
    apps: dict[str, int] = {}
    for c in pod.containers:
        for res, size in c.memory_requests().items():
            apps[res] = apps.get(res, 0) + size
    return {res: max(total + restartable.get(res, 0), init_max.get(res, 0)) for res, total in apps.items()}


def _free(ms: dict[int, NodeState], nodes, res: str) -> int:
    return sum(ms[n].tables[res].free if res in ms[n].tables else 0 for n in nodes)


def _breaks_groups(ms: dict[int, NodeState], bits: tuple[int, ...]) -> bool:
    """A multi-node mask over a node already used alone, or in another group."""
    return len(bits) > 1 and any(ms[n].assignments > 0 and (len(ms[n].cells) == 1 or sorted(ms[n].cells) != list(bits))
                                 for n in bits)


def _best_mask(ms: dict[int, NodeState], requested: dict[str, int], hint: Hint, container: str,
               reusable: Reusable) -> tuple[int, ...]:
    """The nodes to allocate on (``Allocate``): the default hint for an empty one, extended to the
    narrowest containing mask when it is too small.

    Raises:
        AdmissionRejected: UnexpectedAdmissionError, as the Static policy's errors.
    """
    best = hint
    if best.mask is None:
        hints = memory_hints(ms, requested, reusable).get(MEMORY)
        if not hints:
            raise unexpected("[memorymanager] failed to get the default NUMA affinity, no NUMA nodes with "
                             "enough memory is available", container)
        default = find_best_hint(hints)
        if not default.preferred and best.preferred:
            raise unexpected("[memorymanager] failed to find the default preferred hint", container)
        best = default
    bits = mask_nodes(best.affinity())
    if any(_free(ms, bits, res) < size for res, size in requested.items()):
        # isAffinitySatisfyRequest counts free memory only; the extension's hints count reuse too
        candidates = [h for h in memory_hints(ms, requested, reusable).get(MEMORY, [])
                      if set(bits) <= set(mask_nodes(h.affinity()))]
        if not candidates:
            raise unexpected("[memorymanager] failed to find NUMA nodes to extend the current topology hint",
                             container)
        extended = find_best_hint(candidates)
        if not extended.preferred and best.preferred:
            raise unexpected("[memorymanager] failed to find the extended preferred hint", container)
        bits = mask_nodes(extended.affinity())
    return bits


def allocate_memory(ms: dict[int, NodeState], requested: dict[str, int], hint: Hint, container: str,
                    reusable: Reusable | None = None) -> list[Block]:
    """Allocate ``requested`` (bytes per resource) under ``hint`` and update ``ms``; the blocks.
    Memory that ``reusable`` holds for the chosen mask is not reserved again (``Allocate``:
    requestedSize minus ``getPodReusableMemory``).

    Raises:
        AdmissionRejected: UnexpectedAdmissionError (no node fits, or the hint breaks the groups).
    """
    reusable = reusable or {}
    bits = _best_mask(ms, requested, hint, container, reusable)
    if _breaks_groups(ms, bits):
        raise unexpected("[memorymanager] preferred hint violates NUMA node allocation", container)
    blocks = []
    again = reusable.get(node_mask(bits), {})
    for res in sorted(requested):
        blocks.append(Block(bits, res, requested[res]))
        fill(ms, bits, res, max(requested[res] - again.get(res, 0), 0))
    return blocks


def update_reusable(reusable: Reusable, blocks: list[Block], regular_init: bool) -> None:
    """``updatePodReusableMemory``: a regular init container offers the largest block per mask and
    type; an app (or sidecar) container uses that offer up."""
    for b in blocks:
        per = reusable.setdefault(node_mask(b.numa_affinity), {})
        if regular_init:
            per[b.type] = max(per.get(b.type, 0), b.size)
        elif per.get(b.type):
            per[b.type] = max(per[b.type] - b.size, 0)


def shrink_init_blocks(earlier: list[list[Block]], blocks: list[Block]) -> list[list[Block]]:
    """``updateInitContainerMemoryBlocks``: the earlier regular init containers' blocks (in order)
    on the same mask and type shrink by what ``blocks`` reused, so that the blocks of the pod
    sum to what it holds: max(init containers, app containers)."""
    out = [list(bs) for bs in earlier]
    for b in blocks:
        size = b.size
        for bs in out:
            for i, ib in enumerate(bs):
                if ib.type != b.type or set(ib.numa_affinity) != set(b.numa_affinity):
                    continue
                used = min(ib.size, size)
                bs[i] = Block(ib.numa_affinity, ib.type, ib.size - used)
                size -= used
    return out
