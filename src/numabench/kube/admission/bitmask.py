"""NUMA node masks as the Topology Manager handles them
(``pkg/kubelet/cm/topologymanager/bitmask/bitmask.go``): a mask is an int, bit n for node n."""

from __future__ import annotations

__all__ = ["node_mask", "mask_nodes", "node_count", "is_narrower", "iterate_masks"]


def node_mask(nodes) -> int:
    """The mask of NUMA node ids ``nodes`` (bit n set for node n)."""
    m = 0
    for n in nodes:
        m |= 1 << int(n)
    return m


def mask_nodes(mask: int) -> tuple[int, ...]:
    """The node ids of ``mask``, ascending."""
    out = []
    i = 0
    while mask:
        if mask & 1:
            out.append(i)
        mask >>= 1
        i += 1
    return tuple(out)


def node_count(mask: int) -> int:
    """How many nodes ``mask`` holds."""
    return bin(mask).count("1")


def is_narrower(a: int, b: int) -> bool:
    """``IsNarrowerThan``: fewer nodes, or as many and a lower value (lower-numbered nodes)."""
    if node_count(a) == node_count(b):
        return a < b
    return node_count(a) < node_count(b)


def iterate_masks(nodes) -> list[int]:
    """``IterateBitMasks``: every non-empty subset of ``nodes``, by size, then in combination order."""
    nodes = sorted(nodes)
    out: list[int] = []

    def rec(rest, accum, size):
        if len(accum) == size:
            out.append(node_mask(accum))
            return
        for i in range(len(rest)):
            rec(rest[i + 1:], accum + [rest[i]], size)

    for size in range(1, len(nodes) + 1):
        rec(nodes, [], size)
    return out
