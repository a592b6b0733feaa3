"""Topology hints and the Topology Manager's merge (``pkg/kubelet/cm/topologymanager/policy.go``,
``policy_best_effort.go``, ``policy_restricted.go``, ``policy_single_numa_node.go``, ``policy_none.go``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from numabench.errors import UsageError
from numabench.kube.admission.bitmask import is_narrower, mask_nodes, node_count, node_mask
from numabench.kube.resources import TOPOLOGY_MANAGER_POLICIES

__all__ = ["Hint", "merge_hints", "find_best_hint"]


@dataclass(frozen=True)
class Hint:
    """A ``TopologyHint``: a NUMA node mask (None: no preference, "any node") and whether preferred."""

    mask: int | None
    preferred: bool

    @property
    def nodes(self) -> tuple[int, ...] | None:
        return None if self.mask is None else mask_nodes(self.mask)

    def affinity(self) -> int:
        """The mask of a hint that has one: a provider's hint, or a merged one.

        Raises:
            ValueError: a "no preference" hint (mask None), where the kubelet would use a nil mask.
        """
        if self.mask is None:
            raise ValueError("a hint without NUMA affinity has no node mask")
        return self.mask

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": None if self.mask is None else list(mask_nodes(self.mask)), "preferred": self.preferred}

    def __str__(self) -> str:
        where = "any" if self.mask is None else "{" + ",".join(map(str, mask_nodes(self.mask))) + "}"
        return f"{where} {'preferred' if self.preferred else 'not preferred'}"


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
    return None if best is None else node_count(best)


def _closest(distance: Callable[[int, int], int]) -> Callable[[int, int], bool]:
    """``NUMAInfo.Closest``: the narrower; for as many nodes the lower average distance, then the lower mask."""
    def average(mask: int) -> float:
        bits = mask_nodes(mask)
        return sum(distance(a, b) for a in bits for b in bits) / (len(bits) ** 2)

    def closer(a: int, b: int) -> bool:
        if node_count(a) != node_count(b):
            return is_narrower(a, b)
        da, db = average(a), average(b)
        return a < b if da == db else da < db
    return closer


def _compare(current: Hint | None, candidate: Hint, best_np_count: int,
             better: Callable[[int, int], bool] = is_narrower) -> Hint | None:
    """``HintMerger.compare``; both hints are merged ones, which always have a mask. ``better``:
    ``IsNarrowerThan``, or ``Closest`` under ``prefer-closest-numa-nodes``."""
    if node_count(candidate.affinity()) == 0:
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
        return b if better(b.affinity(), a.affinity()) else a

    if current.preferred and candidate.preferred:
        return fitter(current, candidate)
    cur, cand = node_count(current.affinity()), node_count(candidate.affinity())
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


def _hint_merger(numa_nodes, filtered: list[list[Hint]], better: Callable[[int, int], bool] = is_narrower) -> Hint:
    default = node_mask(numa_nodes)
    best_np_count = max([c for c in (_narrowest_count(h) for h in filtered) if c is not None], default=0)
    best: Hint | None = None

    def rec(i: int, accum: list[Hint]) -> None:
        nonlocal best
        if i == len(filtered):
            best = _compare(best, _merge_permutation(default, accum), best_np_count, better)
            return
        for h in filtered[i]:
            rec(i + 1, accum + [h])

    rec(0, [])
    return best if best is not None else Hint(default, False)


def merge_hints(policy: str, numa_nodes, providers: list,
                distance: Callable[[int, int], int] | None = None) -> tuple[Hint, bool]:
    """Merge the hint providers' answers as Topology Manager ``policy`` does; (best hint, admit).

    ``providers``: per hint provider (CPU Manager, Memory Manager), None (no preference) or a
    mapping resource -> list of Hint (None: no preference for that resource; []: nothing fits).
    Policy ``none`` never merges: (Hint(None, False), True). ``distance`` (NUMA node a to b):
    given, equally wide hints are ranked by average distance (``prefer-closest-numa-nodes``).

    Raises:
        UsageError: an unknown policy.
    """
    if policy == "none":
        return Hint(None, False), True
    filtered = _filter_providers_hints(providers)
    better = is_narrower if distance is None else _closest(distance)
    if policy in ("best-effort", "restricted"):
        best = _hint_merger(numa_nodes, filtered, better)
        return best, (True if policy == "best-effort" else best.preferred)
    if policy == "single-numa-node":
        single = [[h for h in lst if h.preferred and (h.mask is None or node_count(h.mask) == 1)] for lst in filtered]
        best = _hint_merger(numa_nodes, single, better)
        if best.mask == node_mask(numa_nodes):
            best = Hint(None, best.preferred)
        return best, best.preferred
    raise UsageError(f"unknown Topology Manager policy {policy!r}",
                     f"use one of: {', '.join(TOPOLOGY_MANAGER_POLICIES)}")


def find_best_hint(hints: list[Hint]) -> Hint:
    """``findBestHint``: preferred first, then the narrowest; for no hints, the kubelet's empty
    ``TopologyHint{}`` (no mask, not preferred)."""
    best = Hint(None, False)
    for h in hints:
        if best.mask is None:
            best = h
        elif h.preferred and not best.preferred:
            best = h
        elif h.preferred == best.preferred and is_narrower(h.affinity(), best.affinity()):
            best = h
    return best
