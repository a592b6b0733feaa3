"""The kubelet's rule for ``reservedMemory`` under the Memory Manager's Static policy: the one place
numabench checks it (``kubelet lint`` reports it as findings, ``pod plan`` refuses a node that breaks it).

Sources (kubernetes/kubernetes, ``pkg/kubelet/cm/memorymanager``):

- ``memory_manager.go`` ``NewManager`` (Static policy): ``getSystemReservedMemory`` ->
  ``validateReservedMemory``: for ``memory`` and every ``hugepages-<size>`` named by either side,
  the sum over NUMA nodes of ``reservedMemory`` must EQUAL (``Quantity.Equal``) the node-allocatable
  reservation of that type; ``getTotalMemoryTypeReserved`` refuses a NUMA node the machine lacks.
- The node-allocatable reservation (``GetNodeAllocatableReservation``): kubeReserved +
  systemReserved, plus the hard eviction threshold ``evictionHard["memory.available"]`` for
  ``memory`` only (hugepages have no eviction threshold).
- ``policy_static.go`` ``NewPolicyStatic``: the reserved ``memory`` over all nodes must not be zero
  ("you should specify the system reserved memory").

Sizes are exact fractions of bytes (quantities such as ``1.5Gi`` are exact); node ids are ints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from numabench.errors import UsageError
from numabench.kube.resources import DEFAULT_EVICTION_HARD_MEMORY_BYTES, HUGEPAGES_PREFIX, MEMORY, format_quantity

__all__ = ["NodeAllocatableReservation", "ReservedMemoryProblem", "check_static_reserved_memory",
           "reserved_memory_problems", "static_problems"]

Sizes = Mapping[str, Fraction | int]
_ASSUME = ", or pass --assume-default-reservations to plan with the reservation on the first memory node"


def _memory_type(name: str) -> bool:
    return name == MEMORY or name.startswith(HUGEPAGES_PREFIX)


@dataclass(frozen=True)
class NodeAllocatableReservation:
    """What the kubelet takes out of the node's allocatable memory: ``kube_reserved`` and
    ``system_reserved`` per resource (bytes; other resources such as cpu are ignored here) and the
    hard eviction threshold for memory, ``eviction_memory`` (bytes; None: not known, e.g. a
    percentage without the node's capacity)."""

    kube_reserved: Mapping[str, Fraction] = field(default_factory=dict)
    system_reserved: Mapping[str, Fraction] = field(default_factory=dict)
    eviction_memory: Fraction | None = Fraction(DEFAULT_EVICTION_HARD_MEMORY_BYTES)  # kubelet default

    def per_type(self) -> dict[str, Fraction | None]:
        """The reservation per memory type (``memory``, ``hugepages-*``); ``memory`` is None when
        the eviction threshold is not known."""
        out: dict[str, Fraction | None] = {}
        for source in (self.kube_reserved, self.system_reserved):
            for name, q in source.items():
                if _memory_type(name):
                    prev = out.get(name) or Fraction(0)
                    out[name] = prev + Fraction(q)
        mem = out.get(MEMORY) or Fraction(0)
        out[MEMORY] = None if self.eviction_memory is None else mem + self.eviction_memory
        return out

    def parts(self, rtype: str) -> str:
        """``kubeReserved 512Mi + systemReserved 512Mi + evictionHard 100Mi``: the terms of a type's sum."""
        terms = [f"kubeReserved {format_quantity(Fraction(self.kube_reserved.get(rtype, 0)))}",
                 f"systemReserved {format_quantity(Fraction(self.system_reserved.get(rtype, 0)))}"]
        if rtype == MEMORY and self.eviction_memory is not None:
            terms.append(f"evictionHard {format_quantity(self.eviction_memory)}")
        return " + ".join(terms)


@dataclass(frozen=True)
class ReservedMemoryProblem:
    """One broken rule: ``rule`` (``reserved-memory-sum``, ``reserved-memory-node``,
    ``static-needs-reserved-memory``), the resource type it is about (or None), the kubelet's own
    error text, the reserved total and the wanted total (bytes; None where not a sum)."""

    rule: str
    rtype: str | None
    kubelet_error: str
    have: Fraction | None = None
    want: Fraction | None = None


def _sums(reserved: Mapping[int, Sizes]) -> dict[str, Fraction]:
    sums: dict[str, Fraction] = {}
    for limits in reserved.values():
        for name, q in limits.items():
            sums[name] = sums.get(name, Fraction(0)) + Fraction(q)
    return sums


def reserved_memory_problems(reserved: Mapping[int, Sizes], reservation: NodeAllocatableReservation,
                             numa_nodes: Iterable[int] | None = None,
                             skip_types: Iterable[str] = ()) -> list[ReservedMemoryProblem]:
    """``validateReservedMemory`` (with ``getTotalMemoryTypeReserved``): the NUMA nodes named must
    exist (checked when ``numa_nodes`` is given), and per memory type the sum over nodes of
    ``reserved`` must equal ``reservation``'s. Types in ``skip_types`` (e.g. unparsable) and a
    ``memory`` reservation that is not known are not compared. Memory first, then hugepages by name."""
    problems: list[ReservedMemoryProblem] = []
    if numa_nodes is not None:
        known = set(numa_nodes)
        for node in sorted(set(reserved) - known):
            problems.append(ReservedMemoryProblem(
                "reserved-memory-node", None,
                f"the reserved memory configuration references a NUMA node {node} that does not exist on this machine"))
    sums, want_per_type, skip = _sums(reserved), reservation.per_type(), set(skip_types)
    types = sorted({t for t in sums if _memory_type(t)} | set(want_per_type), key=lambda t: (t != MEMORY, t))
    for rtype in types:
        want = want_per_type.get(rtype, Fraction(0))
        if want is None or rtype in skip:
            continue
        have = sums.get(rtype, Fraction(0))
        if have != want:
            problems.append(ReservedMemoryProblem(
                "reserved-memory-sum", rtype,
                f"the total amount \"{format_quantity(have)}\" of type \"{rtype}\" is not equal to the value "
                f"\"{format_quantity(want)}\" determined by Node Allocatable feature", have, want))
    return problems


def static_problems(reserved: Mapping[int, Sizes], reservation: NodeAllocatableReservation,
                    numa_nodes: Iterable[int] | None = None,
                    skip_types: Iterable[str] = ()) -> list[ReservedMemoryProblem]:
    """``NewManager`` with the Static policy: ``reserved_memory_problems``, then ``NewPolicyStatic``'s
    rule that the reserved ``memory`` over all nodes is not zero."""
    problems = reserved_memory_problems(reserved, reservation, numa_nodes, skip_types)
    if problems:  # the kubelet stops at the first error
        return problems
    if MEMORY not in set(skip_types) and _sums(reserved).get(MEMORY, Fraction(0)) <= 0:
        problems.append(ReservedMemoryProblem("static-needs-reserved-memory", MEMORY,
                                              "[memorymanager] you should specify the system reserved memory"))
    return problems


def check_static_reserved_memory(reserved: Mapping[int, Sizes], reservation: NodeAllocatableReservation,
                                 numa_nodes: Iterable[int], where: str) -> None:
    """Refuse a node the kubelet with the Static Memory Manager policy would refuse to start on.

    ``where`` names the node's description (a file, a flag) in the message.

    Raises:
        UsageError: the first problem of ``static_problems``, in one line naming the rule, the
            numbers and the fix.
    """
    problems = static_problems(reserved, reservation, numa_nodes)
    if not problems:
        return
    p = problems[0]
    if p.rule == "reserved-memory-sum":
        assert p.rtype is not None and p.have is not None and p.want is not None
        raise UsageError(
            f"{where}: reservedMemory {p.rtype} totals {format_quantity(p.have)} over NUMA nodes, but "
            f"{reservation.parts(p.rtype)} = {format_quantity(p.want)}; the kubelet (Memory Manager Static) "
            f"refuses to start: {p.kubelet_error}",
            f"make the {p.rtype} limits of reservedMemory add up to exactly {format_quantity(p.want)} "
            "(or change kubeReserved/systemReserved/evictionHard)" + ("" if any(reserved.values()) else _ASSUME))
    if p.rule == "reserved-memory-node":
        raise UsageError(f"{where}: {p.kubelet_error} (nodes: {', '.join(map(str, sorted(numa_nodes)))})",
                         "reserve memory only on existing NUMA nodes")
    want = reservation.per_type().get(MEMORY)
    raise UsageError(
        f"{where}: no memory in reservedMemory; the kubelet (Memory Manager Static) refuses to start: "
        f"{p.kubelet_error}",
        "give reservedMemory (--kubelet-config, --reserved-memory or the node file)"
        + (f" adding up to {format_quantity(want)} of memory" if want else "") + _ASSUME)
