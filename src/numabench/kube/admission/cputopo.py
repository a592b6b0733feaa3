"""The CPU Manager's CPU choice: ``takeByTopology`` (``pkg/kubelet/cm/cpumanager/cpu_assignment.go``).

``takeByTopologyNUMAPacked`` is a best fit by topology: whole NUMA nodes or sockets first (the
larger of the two first), then whole cores, then single CPUs, always from the unit with the
fewest free CPUs (ties: the lower id). ``takeByTopologyNUMADistributed``
(``distribute-cpus-across-numa``) spreads the CPUs evenly over the fewest NUMA nodes that keep the
free CPUs per node most balanced (smallest standard deviation). The ``Spread`` CPU order
(``distribute-cpus-across-cores``) skips the whole-core step and takes CPUs socket by socket in id
order (``sortAvailableCPUsSpread``).

Written afresh in Python from the rules of the Go code; the unit tests in
``cpu_assignment_test.go`` are part of tests/data/kubelet-conformance.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass

from numabench.kube.admission.rejection import unexpected

__all__ = ["CpuTopology", "take_by_topology", "NOT_ENOUGH_CPUS"]

NOT_ENOUGH_CPUS = "not enough cpus available to satisfy request"


@dataclass(frozen=True)
class CpuTopology:
    """The CPU Manager's ``CPUTopology``: per CPU its NUMA node, socket and core (the core's
    machine-unique key: its lowest SMT sibling)."""

    numa: dict[int, int]
    socket: dict[int, int]
    core: dict[int, int]

    @property
    def cpus(self) -> tuple[int, ...]:
        return tuple(sorted(self.numa))

    @property
    def num_sockets(self) -> int:
        return len(set(self.socket.values()))

    @property
    def num_numa(self) -> int:
        return len(set(self.numa.values()))

    @property
    def num_cores(self) -> int:
        return len(set(self.core.values()))

    @property
    def cpus_per_core(self) -> int:
        """``CPUsPerCore``: CPUs / cores (0 for no CPU)."""
        return len(self.numa) // self.num_cores if self.numa else 0

    def of(self, kind: dict[int, int], ids: Iterable[int], within: Iterable[int] | None = None) -> set[int]:
        """CPUs (of ``within``, default all) whose ``kind`` (numa/socket/core map) is in ``ids``."""
        ids = set(ids)
        pool = self.numa.keys() if within is None else within
        return {c for c in pool if kind[c] in ids}

    def sockets_of_numa(self, numa_ids: Iterable[int]) -> set[int]:
        """``SocketsInNUMANodes``."""
        numa_ids = set(numa_ids)
        return {self.socket[c] for c in self.numa if self.numa[c] in numa_ids}


class _Acc:
    """``cpuAccumulator``: what is still free (``free``), what was taken (``result``)."""

    def __init__(self, topo: CpuTopology, available: Iterable[int], n: int, spread: bool):
        self.topo, self.free, self.need, self.spread = topo, set(available), n, spread
        self.result: set[int] = set()
        # numaFirst when a NUMA node holds one or more sockets (NumSockets >= NumNUMANodes).
        self.numa_first = topo.num_sockets >= topo.num_numa

    def take(self, cpus: set[int]) -> None:
        self.result |= cpus
        self.free -= cpus
        self.need -= len(cpus)

    def satisfied(self) -> bool:
        return self.need < 1

    def failed(self) -> bool:
        return self.need > len(self.free)

    def _sort(self, ids: Iterable[int], kind: dict[int, int]) -> list[int]:
        """Fewest free CPUs first, then the lower id (``cpuAccumulator.sort``)."""
        return sorted(ids, key=lambda i: (len(self.topo.of(kind, [i], self.free)), i))

    def _ids(self, kind: dict[int, int], cpus: Iterable[int]) -> set[int]:
        return {kind[c] for c in cpus}

    def numa_nodes(self) -> list[int]:
        t = self.topo
        if self.numa_first:
            return self._sort(self._ids(t.numa, self.free), t.numa)
        return [n for s in self.sockets()
                for n in self._sort(self._ids(t.numa, t.of(t.socket, [s], self.free)), t.numa)]

    def sockets(self) -> list[int]:
        t = self.topo
        if not self.numa_first:
            return self._sort(self._ids(t.socket, self.free), t.socket)
        return [s for n in self.numa_nodes() for s in self._sort(self._ids(t.socket, t.of(t.numa, [n], self.free)),
                                                                 t.socket)]

    def cores(self) -> list[int]:
        t = self.topo
        outer, kind = (self.sockets(), t.socket) if self.numa_first else (self.numa_nodes(), t.numa)
        return [c for o in outer for c in self._sort(self._ids(t.core, t.of(kind, [o], self.free)), t.core)]

    def cpus_sorted(self) -> list[int]:
        """``sortAvailableCPUsPacked`` (core by core, in ``cores()`` order) or ``...Spread``
        (socket by socket, in ``sockets()`` order, CPUs by id: on the usual numbering one thread of
        every core before any sibling)."""
        if self.spread:
            return [cpu for s in self.sockets() for cpu in sorted(self.topo.of(self.topo.socket, [s], self.free))]
        return [cpu for c in self.cores() for cpu in sorted(self.topo.of(self.topo.core, [c], self.free))]

    def _take_full(self, ids: list[int], kind: dict[int, int]) -> None:
        for i in ids:
            whole = self.topo.of(kind, [i])
            if whole <= self.free and self.need >= len(whole):
                self.take(whole)
                if self.satisfied():
                    return

    def take_packed(self) -> None:
        t = self.topo
        levels = [(self.numa_nodes, t.numa), (self.sockets, t.socket)]
        if not self.numa_first:
            levels.reverse()
        for order, kind in levels:
            if not self.satisfied():
                self._take_full(order(), kind)
        if not self.satisfied() and not self.spread:
            self._take_full(self.cores(), t.core)
        for cpu in self.cpus_sorted():
            if self.satisfied():
                return
            self.take({cpu})


def _packed(topo: CpuTopology, available: set[int], n: int, spread: bool, container: str) -> set[int]:
    acc = _Acc(topo, available, n, spread)
    if acc.satisfied():
        return set()
    if acc.failed():
        raise unexpected(NOT_ENOUGH_CPUS, container)
    acc.take_packed()
    return acc.result


def _stdev(values: list[int]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def _numa_range(acc: _Acc, group: int) -> tuple[int, int] | None:
    """``rangeNUMANodesNeededToSatisfy``: (min, max) NUMA nodes, None when min > max."""
    t = acc.topo
    groups = (len(t.numa) - 1) // group + 1
    per_numa = (groups - 1) // t.num_numa + 1
    needed = (acc.need - 1) // group + 1
    lo = (needed - 1) // per_numa + 1
    hi = min(needed, len(acc._ids(t.numa, acc.free)))
    return None if lo > hi else (lo, hi)


def _balance(acc: _Acc, numas: list[int], combo: tuple[int, ...], n: int, group: int):
    """(balance score, remainder nodes) of distributing ``n`` CPUs over ``combo``; None: it cannot."""
    t = acc.topo
    free_in = {m: len(t.of(t.numa, [m], acc.free)) for m in numas}
    if sum(free_in[m] for m in combo) < n or sum(free_in[m] // group for m in combo) * group < n:
        return None
    dist = (n // len(combo) // group) * group
    if any(free_in[m] < dist for m in combo):
        return None
    after = dict(free_in)
    for m in combo:
        after[m] -= dist
    remainder = n - dist * len(combo)
    if remainder == 0:
        return _stdev(list(after.values())), ()
    candidates = [m for m in combo if after[m] >= group]
    best: tuple[float, tuple[int, ...]] | None = None
    for k in range(len(candidates), 0, -1):
        for subset in itertools.combinations(candidates, k):
            if sum(after[m] for m in subset) < remainder:
                continue
            left, rem = dict(after), remainder
            while rem > 0:
                for m in subset:
                    if rem == 0:
                        break
                    if left[m] >= group:
                        left[m] -= group
                        rem -= group
            score = _stdev(list(left.values()))
            if best is None or score < best[0]:
                best = (score, subset)
    return best


def _distributed(topo: CpuTopology, available: set[int], n: int, group: int, spread: bool, container: str) -> set[int]:
    """``takeByTopologyNUMADistributed`` (see the module docstring)."""
    if n % group:
        return _packed(topo, available, n, spread, container)
    acc = _Acc(topo, available, n, spread)
    if acc.satisfied():
        return set()
    if acc.failed():
        raise unexpected(NOT_ENOUGH_CPUS, container)
    numas = acc.numa_nodes()
    rng = _numa_range(acc, group)
    best: tuple[float, tuple[int, ...], tuple[int, ...]] | None = None
    # The fewest NUMA nodes that can take an even share win; among them the best balanced.
    for k in range(rng[0], rng[1] + 1) if rng else ():
        for combo in itertools.combinations(numas, k):
            if best is not None and best[0] == 0:
                break
            scored = _balance(acc, numas, combo, n, group)
            if scored is not None and (best is None or scored[0] < best[0]):
                best = (scored[0], combo, scored[1])
        if best is not None:
            break
    if best is None:
        return _packed(topo, available, n, spread, container)
    _, combo, rest = best
    dist = (n // len(combo) // group) * group
    for m in combo:
        acc.take(_packed(topo, topo.of(topo.numa, [m], acc.free), dist, spread, container))
    remainder = n - dist * len(combo)
    while remainder > 0:
        for m in rest:
            if remainder == 0:
                break
            acc.take(_packed(topo, topo.of(topo.numa, [m], acc.free), group, spread, container))
            remainder -= group
    return acc.result


def take_by_topology(topo: CpuTopology, available: Iterable[int], n: int, container: str, *,
                     distribute_numa: bool = False, group: int = 1, spread: bool = False) -> set[int]:
    """``n`` of the ``available`` CPUs as the static policy's ``takeByTopology`` picks them.

    ``distribute_numa``: ``distribute-cpus-across-numa`` (``group``: CPUs handed out together,
    the SMT level under ``full-pcpus-only``); ``spread``: ``distribute-cpus-across-cores``.

    Raises:
        AdmissionRejected: UnexpectedAdmissionError, fewer than ``n`` CPUs available.
    """
    available = set(available)
    if distribute_numa:
        return _distributed(topo, available, n, max(group, 1), spread, container)
    return _packed(topo, available, n, spread, container)
