"""Summary statistics of samples: pure numpy, no I/O."""

from __future__ import annotations

import numpy as np


def summarize(samples) -> dict:
    """Median, mean, min, max, standard deviation and coefficient of variation.

    `samples` is any sequence of numbers in one unit; the summary keeps it.
    Raises ValueError on an empty sequence.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples to summarize")
    mean = float(x.mean())
    stdev = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return {
        "n": int(x.size),
        "median": float(np.median(x)),
        "mean": mean,
        "min": float(x.min()),
        "max": float(x.max()),
        "stdev": stdev,
        "cv": stdev / mean if mean else 0.0,
    }


def fraction_on(pages_by_node: dict, nodes) -> float:
    """Share of located pages that are on any of `nodes` (0.0 when none located)."""
    total = sum(pages_by_node.values())
    if total == 0:
        return 0.0
    wanted = {int(n) for n in nodes}
    return sum(v for k, v in pages_by_node.items() if int(k) in wanted) / total
