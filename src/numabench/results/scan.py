"""A memory scan's figures as data: its kernels, each chunk's deviation from the node's median,
the flagged chunks and the slowest chunk's shortfall.

One implementation for every reader: `numabench scan` flags chunks with it, `qualify` judges
`scan_slowest_chunk_pct_max` with it and the reports render what it returns. Pure: no I/O.

A scan measurement is one chunk: kernel `scan_read` (read bandwidth, bytes/s) or `scan_latency`
(pointer-chase latency, ns), with `chunk` (its index, in allocation order) in its details.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from numabench.constants import SCAN_LATENCY, SCAN_READ

# kernel -> (median field, True when a higher value is worse)
SCAN_KERNELS = {SCAN_READ: ("bandwidth_bytes_per_s", False), SCAN_LATENCY: ("latency_ns", True)}
DEFAULT_THRESHOLD_PCT = 10.0


@dataclass(frozen=True)
class ChunkFigure:
    """One chunk's median and how far it is from the node's median, in percent.

    `deviation_pct` is (value - median) / median x 100; `shortfall_pct` the same signed so that a
    positive value is worse (slower bandwidth, higher latency)."""

    chunk: int
    value: float
    deviation_pct: float
    shortfall_pct: float
    flagged: bool


def chunk_figures(values: Iterable[tuple[int, float]], kernel: str,
                  threshold_pct: float = DEFAULT_THRESHOLD_PCT) -> tuple[float | None, list[ChunkFigure]]:
    """(the node's median, one ChunkFigure per (chunk, value)) for one kernel of one node's scan.

    A chunk is flagged when its value is outside the median by more than threshold_pct, either way
    (a region much faster than the rest is as suspicious as a slow one). (None, []) for no values.
    """
    pairs = list(values)
    if not pairs:
        return None, []
    worse_up = SCAN_KERNELS[kernel][1]
    median = statistics.median(v for _, v in pairs)
    out = []
    for chunk, value in pairs:
        deviation = (value - median) / median * 100.0 if median else 0.0
        out.append(ChunkFigure(chunk, value, deviation, deviation if worse_up else -deviation,
                               abs(deviation) > threshold_pct))
    return median, out


def scan_groups(measurements: Iterable[dict[str, Any]]) -> dict[tuple[int, str], list[tuple[int, float]]]:
    """(memory node, scan kernel) -> [(chunk, median figure)] from result measurements (dicts)."""
    groups: dict[tuple[int, str], list[tuple[int, float]]] = {}
    for m in measurements:
        kernel = m.get("kernel")
        if kernel not in SCAN_KERNELS or m.get("mem_node") is None:
            continue
        value = m.get(SCAN_KERNELS[kernel][0])
        if value is None:
            continue
        groups.setdefault((int(m["mem_node"]), str(kernel)), []).append((int(m.get("chunk", 0)), float(value)))
    return groups


def slowest_chunk(values: Iterable[tuple[int, float]], kernel: str) -> ChunkFigure | None:
    """The chunk with the largest shortfall against the node's median (None: no chunk)."""
    _, figures = chunk_figures(values, kernel)
    return max(figures, key=lambda f: f.shortfall_pct) if figures else None
