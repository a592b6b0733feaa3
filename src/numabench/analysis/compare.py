"""Compare two result documents cell by cell: the CI regression gate, as data.

Modelled on google/benchmark's ``tools/gbench/report.py``: :func:`compare_results` computes and
returns plain JSON-ready data; :mod:`numabench.render.gate` renders it (text, Markdown, JUnit).
Nothing here reads files or prints.

A *cell* is one configuration (kernel, CPU node, memory node(s), page kind, buffer size, threads,
policy; plus delay and injector settings for loaded latency). Its *metric* is ``latency`` (median
``latency_ns``, higher is worse) or ``bandwidth`` (median ``bandwidth_bytes_per_s``, lower is worse).
For every cell in both files: the medians, the relative change of the median, a bootstrap confidence
interval of that change, and a two-sided Mann-Whitney U test of the samples. A cell *regresses*
when its change is past its threshold in the bad direction AND the test is significant (p < alpha):
a gate fails on a change that is both large and real, never on noise alone.

Thresholds use pytest-benchmark-like text: ``latency:+5%``, ``bandwidth:-5%``, or per kernel
``read:-3%``. A kernel's threshold beats its metric's; the defaults are ``latency:+5%`` and
``bandwidth:-5%`` and each ``--fail-on`` replaces the one for its selector.

Samples must be able to support the threshold asked: when the bootstrap confidence interval of
either side's median is wider than the threshold (its half-width over the median, e.g. +-6% against
a 5% gate), no change can be told from noise, so the cell is ``noisy`` whatever its change, is never
called significant, and says which side is too noisy and by how much.

Statuses of a compared cell: ``regression`` (fails the gate), ``noisy`` (a side's median is too
uncertain for the threshold: no verdict; does not fail the gate), ``improved`` (past the threshold
in the good direction, significant), ``inconclusive`` (past the threshold in the bad direction but
not significant: more repetitions would tell), ``ok`` (anything else). Cells in one file only are
``added`` or ``removed``; they never fail the gate but are always listed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numabench import __version__
from numabench.constants import KERNEL_METRICS
from numabench.errors import IncomparableError, ResultError, ThresholdError
from numabench.results.identity import format_field, machine_differences, machine_identity
from numabench.util.stats import ci_rel_halfwidth
from numabench.util.units import format_size

__all__ = [
    "COMPARISON_VERSION",
    "DEFAULT_ALPHA",
    "DEFAULT_THRESHOLDS",
    "FEW_REPETITIONS",
    "MIN_REPETITIONS",
    "NOISY",
    "Cell",
    "IncomparableError",
    "Threshold",
    "ThresholdError",
    "bootstrap_change_ci",
    "cell_of",
    "compare_results",
    "exit_code",
    "mann_whitney_u",
    "metric_of",
    "parse_threshold",
    "resolve_thresholds",
]

# Version of the comparison document (--json); independent of the result schema.
#   1  first version.
#   2  status "noisy"; each side carries ci_rel_halfwidth (the median's CI half-width / median) and
#      each row noisy_sides; summary counts noisy.
COMPARISON_VERSION = 2

DEFAULT_ALPHA = 0.05
DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 20240601
# google/benchmark (tools/gbench/report.py): "at least 9 repetitions" before a U test means much.
MIN_REPETITIONS = 9
FEW_REPETITIONS = "too few repetitions for a significant result; use --repeat 9 or more"
DEFAULT_THRESHOLDS = ("latency:+5%", "bandwidth:-5%")
# Exact U distribution up to this many samples per side (no ties); normal approximation beyond.
EXACT_MAX_SAMPLES = 50

REGRESSION, IMPROVED, INCONCLUSIVE, OK = "regression", "improved", "inconclusive", "ok"
NOISY = "noisy"
ADDED, REMOVED = "added", "removed"
STATUSES = (REGRESSION, NOISY, INCONCLUSIVE, IMPROVED, OK)

# metric -> (median key in a measurement, sample unit, +1 when higher is worse / -1 when lower is)
METRICS = {
    "latency": ("latency_ns", "ns", +1),
    "bandwidth": ("bandwidth_bytes_per_s", "bytes/s", -1),
}
# Spec fields of loaded-latency measurements that are part of their cell.
EXTRA_CELL_FIELDS: tuple[str, ...] = ("delay", "inject_kind", "inject_node", "inject_size_bytes")
# c2c: the CPU pair and the mode (hitm/clean) are part of the cell (the line's node is mem_nodes).
EXTRA_CELL_FIELDS += ("c2c_mode", "initiator_cpu", "responder_cpu")
# A memory scan's chunk index (scan_read/scan_latency): chunk i of one scan is compared with chunk i
# of the other.
EXTRA_CELL_FIELDS += ("chunk",)


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class Threshold:
    """``selector`` is a metric (latency, bandwidth) or a kernel (read, ...); ``percent`` is the
    signed relative change of the median, in percent, past which the cell regresses (+5.0: a rise
    of more than 5%; -3.0: a fall of more than 3%)."""

    selector: str
    percent: float

    @property
    def text(self) -> str:
        return f"{self.selector}:{self.percent:+g}%"

    def to_dict(self) -> dict[str, Any]:
        return {"selector": self.selector, "percent": self.percent, "text": self.text}


# Kernel names may hold digits after their first letter (peak_3to1).
_THRESHOLD_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([+-]?)\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$")


def _metric_of_selector(selector: str) -> str | None:
    if selector in METRICS:
        return selector
    return KERNEL_METRICS.get(selector)


def parse_threshold(text: str) -> Threshold:
    """Parse ``latency:+5%``, ``bandwidth:-5%``, ``read:-3%`` (a missing sign means the bad direction).

    Raises:
        ThresholdError: malformed text, an unknown metric or kernel, or a sign in the good direction
            (``latency:-5%``); the message quotes the text and the fix gives the right spelling.
    """
    m = _THRESHOLD_RE.match(text)
    if not m:
        raise ThresholdError(f"--fail-on {text!r} is not METRIC:CHANGE%",
                             "write e.g. latency:+5%, bandwidth:-5% or read:-3%")
    selector, sign, number = m.group(1).lower(), m.group(2), float(m.group(3))
    metric = _metric_of_selector(selector)
    if metric is None:
        names = ", ".join(list(METRICS) + sorted(k for k in KERNEL_METRICS if k not in METRICS))
        raise ThresholdError(f"--fail-on {text!r}: {selector!r} is neither a metric nor a kernel "
                             "(numabench always compares medians)", f"use one of {names}")
    bad = METRICS[metric][2]
    if sign and (+1 if sign == "+" else -1) != bad:
        right = "+" if bad > 0 else "-"
        worse = "rises" if bad > 0 else "falls"
        raise ThresholdError(f"--fail-on {text!r}: {metric} gets worse when it {worse}",
                             f"write {selector}:{right}{m.group(3)}%")
    if bad < 0 and number >= 100:
        raise ThresholdError(f"--fail-on {text!r}: {metric} cannot fall by 100% or more",
                             "give a fall below 100%, e.g. bandwidth:-5%")
    return Threshold(selector, bad * number)


def resolve_thresholds(texts: Iterable[str] = ()) -> dict[str, Threshold]:
    """The defaults (``latency:+5%``, ``bandwidth:-5%``) with each given threshold replacing the
    one for its selector (the last one given wins). Raises ThresholdError as parse_threshold."""
    out = {t.selector: t for t in map(parse_threshold, DEFAULT_THRESHOLDS)}
    for text in texts:
        t = parse_threshold(text)
        out[t.selector] = t
    return out


def threshold_for(thresholds: dict[str, Threshold], kernel: str, metric: str) -> Threshold | None:
    """The kernel's own threshold if there is one, else the metric's (None: this cell is not gated)."""
    return thresholds.get(kernel) or thresholds.get(metric)


# --------------------------------------------------------------------------- cells


# A cell less its page kind and buffer size: (kernel, cpu node, memory nodes, threads, policy, extra).
ShapeKey = tuple[str, int | None, tuple[int, ...], int, str | None, tuple[tuple[str, Any], ...]]


@dataclass(frozen=True)
class Cell:
    """What was measured, without the figures: the key two results are matched by."""

    kernel: str
    cpu_node: int | None
    mem_nodes: tuple[int, ...]
    pages: str
    size_bytes: int
    threads: int
    policy: str | None
    extra: tuple[tuple[str, Any], ...] = ()

    def key_without_shape(self) -> ShapeKey:
        """The cell less its page kind and buffer size: two cells that agree here but not in
        full measured the same thing differently."""
        return (self.kernel, self.cpu_node, self.mem_nodes, self.threads, self.policy, self.extra)

    @property
    def label(self) -> str:
        mem = "+".join(map(str, self.mem_nodes)) or "?"
        parts = [self.kernel, self.pages, format_size(self.size_bytes), f"node {self.cpu_node}->{mem}",
                 f"{self.threads} thr"]
        if self.policy and self.policy != "bind":
            parts.append(self.policy)
        for k, v in self.extra:
            parts.append(f"{k} {format_size(v) if k.endswith('_bytes') else v}")
        return " ".join(parts)

    @property
    def slug(self) -> str:
        """A name without spaces (JUnit test case names)."""
        mem = "+".join(map(str, self.mem_nodes)) or "x"
        parts = [self.kernel, self.pages, format_size(self.size_bytes).replace(" ", ""),
                 f"cpu{self.cpu_node}-mem{mem}", f"t{self.threads}", self.policy or "-"]
        parts += [f"{k}={v}" for k, v in self.extra]
        return "/".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "cpu_node": self.cpu_node, "mem_nodes": list(self.mem_nodes),
                "pages": self.pages, "size_bytes": self.size_bytes, "threads": self.threads,
                "policy": self.policy, **dict(self.extra), "label": self.label, "slug": self.slug}


def cell_of(m: dict[str, Any]) -> Cell:
    """The cell of one measurement (``mem_nodes`` when present, else ``[mem_node]``)."""
    mem_nodes = m.get("mem_nodes")
    if mem_nodes is None:
        mem_nodes = [] if m.get("mem_node") is None else [m["mem_node"]]
    extra = tuple((k, m[k]) for k in EXTRA_CELL_FIELDS if m.get(k) is not None)
    return Cell(kernel=str(m["kernel"]), cpu_node=m["cpu_node"], mem_nodes=tuple(int(n) for n in mem_nodes),
                pages=str(m["pages"]), size_bytes=int(m["size_bytes"]), threads=int(m["threads"]),
                policy=m.get("policy"), extra=extra)


def metric_of(m: dict[str, Any]) -> str:
    """``latency`` for a measurement with ``latency_ns``, ``bandwidth`` for one with ``bandwidth_bytes_per_s``."""
    return "latency" if "latency_ns" in m else "bandwidth"


def _samples(m: dict[str, Any], name: str, index: int) -> NDArray[np.float64]:
    try:
        x = np.asarray(m["samples"], dtype=np.float64)
    except (TypeError, ValueError):
        raise ResultError(f"{name}: measurement {index} has samples that are not numbers") from None
    if x.ndim != 1 or x.size == 0:
        raise ResultError(f"{name}: measurement {index} has no samples")
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ResultError(f"{name}: measurement {index} has a sample that is not a positive number")
    return x


def _cells(result: dict[str, Any], name: str, warnings: list[str]) -> dict[tuple[Cell, str], dict[str, Any]]:
    """(cell, metric) -> {"samples", "placement_ok", "indexes", "isas"}; duplicates are pooled, and said so."""
    out: dict[tuple[Cell, str], dict[str, Any]] = {}
    for i, m in enumerate(result["measurements"]):
        key = (cell_of(m), metric_of(m))
        x = _samples(m, name, i)
        placed = (m.get("placement") or {}).get("ok", True) is not False
        isas = {m["isa"]} if m.get("isa") else set()
        if key in out:
            entry = out[key]
            entry["samples"] = np.concatenate([entry["samples"], x])
            entry["placement_ok"] = entry["placement_ok"] and placed
            entry["indexes"].append(i)
            entry["isas"] |= isas
        else:
            out[key] = {"samples": x, "placement_ok": placed, "indexes": [i], "isas": isas}
    for (cell, _), entry in out.items():
        if len(entry["indexes"]) > 1:
            warnings.append(f"{name}: {cell.label} was measured {len(entry['indexes'])} times "
                            f"(measurements {', '.join(map(str, entry['indexes']))}); their samples were pooled")
    return out


# --------------------------------------------------------------------------- statistics


def _midranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks from 1 (ties get the mean of their ranks) and the size of every tie group."""
    _uniques, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    rank_of_unique = ends - (counts - 1) / 2.0
    return rank_of_unique[inverse.reshape(-1)], counts


def _exact_u_distribution(n1: int, n2: int) -> np.ndarray:
    """P(U = u) for u = 0..n1*n2 under the null hypothesis, no ties.

    The largest of the n1+n2 values is from the first sample with probability n1/(n1+n2), and
    then beats all n2 values of the second: f(i, j) = i/(i+j) q^j f(i-1, j) + j/(i+j) f(i, j-1).
    Probabilities, not counts: no overflow and no cancellation (only sums of positive terms).
    """
    prev = [np.ones(1) for _ in range(n2 + 1)]  # i = 0: U = 0 whatever j
    for i in range(1, n1 + 1):
        cur = [np.ones(1)]
        for j in range(1, n2 + 1):
            dist = np.zeros(i * j + 1)
            dist[j:j + prev[j].size] += prev[j] * (i / (i + j))
            dist[:cur[j - 1].size] += cur[j - 1] * (j / (i + j))
            cur.append(dist)
        prev = cur
    return prev[n2]


def mann_whitney_u(x: Sequence[float], y: Sequence[float], method: str = "auto") -> tuple[float, float, str]:
    """Two-sided Mann-Whitney U test of samples ``x`` and ``y``: (U of x, p-value, method used).

    U of x counts the pairs where x's value is larger (ties count one half). ``method``:
    ``exact`` (the null distribution of U; only without ties), ``asymptotic`` (normal
    approximation with tie correction and continuity correction, as scipy.stats.mannwhitneyu), or
    ``auto``: exact without ties when both samples have at most 50 values, else asymptotic.
    The p-value is at most 1; when every value is equal it is 1.

    Raises:
        ValueError: an empty sample, an unknown method, or ``exact`` asked with ties.
    """
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    b = np.asarray(y, dtype=np.float64).reshape(-1)
    n1, n2 = a.size, b.size
    if n1 == 0 or n2 == 0:
        raise ValueError("the Mann-Whitney U test needs at least one value on each side")
    if method not in ("auto", "exact", "asymptotic"):
        raise ValueError(f"unknown method {method!r} (auto, exact or asymptotic)")
    ranks, tie_counts = _midranks(np.concatenate([a, b]))
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    u2 = n1 * n2 - u1
    has_ties = bool(np.any(tie_counts > 1))
    if method == "auto":
        method = "exact" if not has_ties and max(n1, n2) <= EXACT_MAX_SAMPLES else "asymptotic"
    if method == "exact":
        if has_ties:
            raise ValueError("the exact Mann-Whitney U distribution assumes no ties")
        dist = _exact_u_distribution(n1, n2)
        p = 2.0 * float(dist[: round(min(u1, u2)) + 1].sum())
        return u1, min(1.0, p), "exact"
    n = n1 + n2
    tie_term = float(np.sum(tie_counts.astype(np.float64) ** 3 - tie_counts))
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:
        return u1, 1.0, "asymptotic"
    z = (max(u1, u2) - n1 * n2 / 2.0 - 0.5) / math.sqrt(variance)
    p = math.erfc(z / math.sqrt(2.0))  # 2 * normal survival function at z
    return u1, min(1.0, p), "asymptotic"


def bootstrap_change_ci(baseline: Sequence[float], current: Sequence[float], confidence: float = DEFAULT_CONFIDENCE,
                        resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of ``median(current) / median(baseline) - 1``.

    Each side is resampled with replacement on its own, ``resamples`` times, from a fixed seed
    (the same inputs always give the same interval). Returns (low, high) as fractions (0.05 = +5%).

    Raises:
        ValueError: an empty side, confidence outside (0, 1), or resamples < 1.
    """
    b = np.asarray(baseline, dtype=np.float64).reshape(-1)
    c = np.asarray(current, dtype=np.float64).reshape(-1)
    if b.size == 0 or c.size == 0:
        raise ValueError("a bootstrap needs at least one value on each side")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} is not between 0 and 1")
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    rng = np.random.default_rng(seed)
    med_b = np.median(b[rng.integers(0, b.size, size=(resamples, b.size))], axis=1)
    med_c = np.median(c[rng.integers(0, c.size, size=(resamples, c.size))], axis=1)
    change = med_c / med_b - 1.0
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(change, [tail, 1.0 - tail])
    return float(low), float(high)


# --------------------------------------------------------------------------- machines


def _shape_mismatches(only_base: list[Cell], only_cur: list[Cell]) -> list[dict[str, Any]]:
    """Groups of cells that agree on all but page kind / buffer size and exist on both sides only
    with different ones: the same measurement, taken differently."""
    groups: dict[ShapeKey, tuple[list[Cell], list[Cell]]] = {}
    for side, cells in ((0, only_base), (1, only_cur)):
        for cell in cells:
            groups.setdefault(cell.key_without_shape(), ([], []))[side].append(cell)
    out = []
    for base_cells, cur_cells in groups.values():
        if not base_cells or not cur_cells:
            continue
        fields = []
        for field, fmt in (("pages", str), ("size_bytes", format_size)):
            bv = sorted({getattr(c, field) for c in base_cells})
            cv = sorted({getattr(c, field) for c in cur_cells})
            if bv != cv:
                fields.append({"field": field, "baseline": bv, "current": cv,
                               "text": f"{field} {','.join(map(fmt, bv))} vs {','.join(map(fmt, cv))}"})
        first = base_cells[0]
        what = f"{first.kernel} node {first.cpu_node}->{'+'.join(map(str, first.mem_nodes))} {first.threads} thr"
        out.append({"cell": what, "fields": fields})
    return out


def _refusal(differences: list[dict[str, Any]], mismatches: list[dict[str, Any]], baseline_name: str,
             current_name: str) -> str:
    parts = []
    if differences:
        parts.append("machine differs: " + ", ".join(
            f"{d['field']} {format_field(d['field'], d['baseline'])} vs {format_field(d['field'], d['current'])}"
            for d in differences))
    if mismatches:
        parts.append("cells measured differently: " + "; ".join(
            f"{m['cell']}: {', '.join(f['text'] for f in m['fields'])}" for m in mismatches))
    return f"cannot compare {baseline_name} with {current_name}: " + "; ".join(parts)


# --------------------------------------------------------------------------- the comparison


def _status(change: float, significant: bool, threshold: Threshold | None, metric: str) -> str:
    if threshold is None:
        return OK
    worse = change * METRICS[metric][2]  # > 0: the bad direction
    limit = abs(threshold.percent) / 100.0
    if worse > limit:
        return REGRESSION if significant else INCONCLUSIVE
    if -worse > limit and significant:
        return IMPROVED
    return OK


def _side(samples: np.ndarray, placement_ok: bool, confidence: float, resamples: int, seed: int) -> dict[str, Any]:
    halfwidth = ci_rel_halfwidth(samples, confidence=confidence, resamples=resamples, seed=seed)
    return {"median": float(np.median(samples)), "n": int(samples.size), "placement_ok": placement_ok,
            "min": float(samples.min()), "max": float(samples.max()),
            "ci_rel_halfwidth": None if math.isinf(halfwidth) else halfwidth}


def _noisy_sides(sides: dict[str, dict[str, Any]], threshold: Threshold | None) -> list[str]:
    """Names of the sides whose median's CI half-width is wider than the threshold (one sample: always)."""
    if threshold is None:
        return []
    limit = abs(threshold.percent) / 100.0
    return [name for name, side in sides.items()
            if side["ci_rel_halfwidth"] is None or side["ci_rel_halfwidth"] > limit]


def _noise_warning(name: str, side: dict[str, Any], threshold: Threshold | None, confidence: float) -> str:
    width = "undefined (one sample)" if side["ci_rel_halfwidth"] is None else f"+-{side['ci_rel_halfwidth']:.1%}"
    what = threshold.text if threshold is not None else "its threshold"
    return (f"{name} too noisy for {what}: its median's {confidence:.0%} CI is {width} over "
            f"{side['n']} samples, wider than the threshold; no verdict (take more samples with "
            "numabench run --min-samples/--target-ci, or measure on a quieter machine)")


def compare_results(baseline: dict[str, Any], current: dict[str, Any], *, baseline_name: str = "baseline",
                    current_name: str = "current", thresholds: dict[str, Threshold] | None = None,
                    alpha: float = DEFAULT_ALPHA, allow_different_machine: bool = False,
                    confidence: float = DEFAULT_CONFIDENCE, resamples: int = DEFAULT_RESAMPLES,
                    seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """Compare two validated result documents (``results.load``/``results.validate``).

    Returns the comparison as JSON-ready data: ``comparison_version``, the two names and machines,
    ``alpha``, ``confidence``, ``thresholds``, ``machine_differences``, ``rows`` (one per cell and
    metric in both files, in the current file's order: ``cell``, ``metric``, ``unit``,
    ``higher_is_worse``, ``baseline``/``current`` {median, n, min, max, placement_ok, ci_rel_halfwidth
    (the median's CI half-width over the median; null for one sample)}, ``change`` (fraction),
    ``ci_low``/``ci_high`` (fractions), ``u`` (U of the current samples), ``p_value``, ``test``,
    ``significant`` (p < alpha and neither side noisy), ``threshold``, ``status``, ``noisy_sides``
    (``baseline``/``current`` whose CI is wider than the threshold), ``warnings``),
    ``added``/``removed`` (cells in one file only),
    ``mismatched`` (cells measured with another page kind or size), ``warnings``, ``summary``
    (count per status) and ``verdict`` (``pass`` or ``fail``).

    Raises:
        IncomparableError: the machines differ (CPU model, kernel release, node count, THP mode), or
            a cell was measured with different pages or sizes, and allow_different_machine is False;
            the message names every differing field.
        ResultError: a measurement has no samples or a non-positive one; or no cell is in both files.
        ValueError: alpha or confidence outside (0, 1).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha {alpha} is not between 0 and 1")
    thresholds = resolve_thresholds() if thresholds is None else thresholds
    warnings: list[str] = []
    base_cells = _cells(baseline, baseline_name, warnings)
    cur_cells = _cells(current, current_name, warnings)
    only_base = [c for c, _ in base_cells if (c, _) not in cur_cells]
    only_cur = [c for c, _ in cur_cells if (c, _) not in base_cells]
    mismatches = _shape_mismatches(only_base, only_cur)
    differences = machine_differences(baseline, current)
    warnings += _comparability(differences, mismatches, allow_different_machine, baseline_name, current_name)
    rows = []
    for (cell, metric), cur in cur_cells.items():
        base = base_cells.get((cell, metric))
        if base is not None:
            rows.append(_row(cell, metric, base, cur, (baseline_name, current_name), thresholds, alpha,
                             confidence, resamples, seed))
    if not rows:
        raise ResultError(f"no cell of {current_name} is in {baseline_name}: nothing to compare",
                          "compare results of the same numabench run options")
    warnings += _run_warnings(rows, ((baseline_name, baseline), (current_name, current)))
    summary = {s: sum(1 for r in rows if r["status"] == s) for s in STATUSES}
    summary[ADDED], summary[REMOVED] = len(only_cur), len(only_base)
    return {
        "comparison_version": COMPARISON_VERSION,
        "numabench_version": __version__,
        "baseline": {"name": baseline_name, "machine": machine_identity(baseline)},
        "current": {"name": current_name, "machine": machine_identity(current)},
        "alpha": alpha,
        "confidence": confidence,
        "resamples": resamples,
        "seed": seed,
        "thresholds": [t.to_dict() for t in thresholds.values()],
        "allow_different_machine": allow_different_machine,
        "machine_differences": differences,
        "rows": rows,
        "added": _cell_list(only_cur, {c: m for c, m in cur_cells}),
        "removed": _cell_list(only_base, {c: m for c, m in base_cells}),
        "mismatched": mismatches,
        "warnings": warnings,
        "summary": summary,
        "verdict": "fail" if summary[REGRESSION] else "pass",
    }


def _comparability(differences: list[dict[str, Any]], mismatches: list[dict[str, Any]], allowed: bool,
                   baseline_name: str, current_name: str) -> list[str]:
    """Refuse results of different machines or cells measured differently, unless allowed; then
    the warnings that say what was allowed."""
    if (differences or mismatches) and not allowed:
        raise IncomparableError(_refusal(differences, mismatches, baseline_name, current_name),
                                "compare results of one machine run with the same --pages and --size, "
                                "or pass --allow-different-machine")
    warnings = [f"different machines: {d['field']} {format_field(d['field'], d['baseline'])} vs "
                f"{format_field(d['field'], d['current'])} (allowed by --allow-different-machine)"
                for d in differences]
    warnings += [f"{m['cell']} was measured differently ({', '.join(f['text'] for f in m['fields'])}): "
                 "listed as removed and added, not compared" for m in mismatches]
    return warnings


def _row(cell: Cell, metric: str, base: dict[str, Any], cur: dict[str, Any], names: tuple[str, str],
         thresholds: dict[str, Threshold], alpha: float, confidence: float, resamples: int,
         seed: int) -> dict[str, Any]:
    """One cell and metric in both files: the change, its CI, the U test, the threshold's status."""
    b, c = base["samples"], cur["samples"]
    change = float(np.median(c)) / float(np.median(b)) - 1.0
    low, high = bootstrap_change_ci(b, c, confidence, resamples, seed)
    u, p, test = mann_whitney_u(c, b)
    threshold = threshold_for(thresholds, cell.kernel, metric)
    sides = {"baseline": _side(b, base["placement_ok"], confidence, resamples, seed),
             "current": _side(c, cur["placement_ok"], confidence, resamples, seed)}
    noisy = _noisy_sides(sides, threshold)
    # Samples that cannot support the threshold support no claim of significance either.
    significant = p < alpha and not noisy
    shown = dict(zip(("baseline", "current"), names))
    row_warnings = []
    if min(b.size, c.size) < MIN_REPETITIONS:
        row_warnings.append(f"{FEW_REPETITIONS} ({b.size} vs {c.size} samples)")
    row_warnings += [_noise_warning(shown[key], sides[key], threshold, confidence) for key in noisy]
    if base["isas"] and cur["isas"] and base["isas"] != cur["isas"]:
        # `--isa auto` keeps the fastest kernel set of a probe; a close call can go either way.
        row_warnings.append(f"kernel sets differ: {names[0]} {'/'.join(sorted(base['isas']))}, "
                            f"{names[1]} {'/'.join(sorted(cur['isas']))}; for a gate, pin one with --isa")
    for side, entry in zip(names, (base, cur)):
        if not entry["placement_ok"]:
            row_warnings.append(f"{side}: pages were not where asked (placement not ok)")
    return {
        "cell": cell.to_dict(),
        "metric": metric,
        "unit": METRICS[metric][1],
        "higher_is_worse": METRICS[metric][2] > 0,
        "baseline": sides["baseline"],
        "current": sides["current"],
        "change": change,
        "ci_low": low,
        "ci_high": high,
        "u": u,
        "p_value": p,
        "test": test,
        "significant": significant,
        "threshold": threshold.to_dict() if threshold else None,
        "status": NOISY if noisy else _status(change, significant, threshold, metric),
        "noisy_sides": noisy,
        "warnings": row_warnings,
    }


def _run_warnings(rows: list[dict[str, Any]], docs: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    """Warnings about the runs as a whole: too few samples, interruptions, failed configurations."""
    warnings = []
    few = [r["cell"]["label"] for r in rows if min(r["baseline"]["n"], r["current"]["n"]) < MIN_REPETITIONS]
    if few:
        warnings.append(f"{FEW_REPETITIONS} (fewer than {MIN_REPETITIONS} samples: {', '.join(few)})")
    noisy = [r["cell"]["label"] for r in rows if r["status"] == NOISY]
    if noisy:
        warnings.append(f"{len(noisy)} cell(s) too noisy to support their threshold, so no verdict: "
                        f"{', '.join(noisy)}")
    for name, doc in docs:
        if doc.get("interrupted"):
            warnings.append(f"{name} was interrupted: some cells may be missing")
        for err in doc.get("errors") or []:
            warnings.append(f"{name}: a configuration failed: {err.get('error', err)}")
    return warnings


def _cell_list(cells: list[Cell], metric_of_cell: dict[Cell, str]) -> list[dict[str, Any]]:
    return [{**c.to_dict(), "metric": metric_of_cell[c]} for c in cells]


def exit_code(comparison: dict[str, Any]) -> int:
    """1 when a cell regressed, else 0 (usage and input errors exit 2 before a comparison exists)."""
    return 1 if comparison["verdict"] == "fail" else 0
