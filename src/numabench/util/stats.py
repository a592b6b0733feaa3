"""Summary statistics of samples and their stability: pure numpy, no I/O.

Stability is a measured property of every measurement (issue 12): the spread (cv), a bootstrap
confidence interval of the median, and a gap test for two modes. The thresholds below are what
the text output flags and what `numabench run --target-ci` stops on.
"""

from __future__ import annotations

import numpy as np

# Bootstrap of the median: fixed seed, so the same samples always give the same interval.
CI_CONFIDENCE = 0.95
CI_RESAMPLES = 2000
CI_SEED = 20240601
# A measurement whose samples spread more than this (stdev / mean) is flagged: on a quiet machine
# numabench's 0.2 s samples stay well under it.
CV_FLAG = 0.03
# Gap test for two modes: sorted samples split at their largest gap are bimodal when both sides
# hold at least BIMODAL_MIN_SIDE samples, the gap is more than BIMODAL_GAP_FACTOR times the wider
# side's range, and at least BIMODAL_MIN_GAP of the median (a 0.3% step between two tight
# clusters is not worth a flag).
BIMODAL_MIN_SIDE = 2
BIMODAL_GAP_FACTOR = 3.0
BIMODAL_MIN_GAP = 0.01
# A sample whose threads started further apart than this share of its duration is flagged: the
# late thread's work spills past the others' and the figure under-reads by about that share.
SKEW_FLAG_FRACTION = 0.01

# Flag codes kept in a summary's "flags"; render.text explains each with its likely cause.
HIGH_CV, BIMODAL, START_SKEW, CI_NOT_REACHED = "high_cv", "bimodal", "start_skew", "ci_not_reached"


def _array(samples) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError("no samples to summarize")
    return x


def median_ci(samples, confidence: float = CI_CONFIDENCE, resamples: int = CI_RESAMPLES,
              seed: int = CI_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval (low, high) of the median, in the samples' unit.

    `resamples` resamplings with replacement from a fixed `seed`: the same samples always give the
    same interval. One sample gives (x, x). Raises ValueError on no samples, confidence outside
    (0, 1) or resamples < 1.
    """
    x = _array(samples)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} is not between 0 and 1")
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    medians = np.median(x[rng.integers(0, x.size, size=(resamples, x.size))], axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(medians, [tail, 1.0 - tail])
    return float(low), float(high)


def ci_rel_halfwidth(samples, **ci_options) -> float:
    """Half the width of the median's bootstrap interval over the median (0.01 = +-1%).

    A single sample gives infinity: one sample supports no interval. Raises ValueError as median_ci.
    """
    x = _array(samples)
    if x.size < 2:
        return float("inf")
    low, high = median_ci(x, **ci_options)
    median = float(np.median(x))
    return (high - low) / 2.0 / abs(median) if median else float("inf")


def gap_split(samples) -> dict | None:
    """The gap test for two modes: None when the samples are not bimodal, else where they split.

    Sorted samples are split at their largest gap; bimodal when each side has at least
    BIMODAL_MIN_SIDE samples and the gap exceeds both BIMODAL_GAP_FACTOR x the wider side's range
    and BIMODAL_MIN_GAP x the median. Returns {"low_n", "high_n", "low_median", "high_median",
    "gap"} in the samples' unit. Raises ValueError on no samples.
    """
    x = np.sort(_array(samples))
    if x.size < 2 * BIMODAL_MIN_SIDE:
        return None
    gaps = np.diff(x)
    i = int(np.argmax(gaps))  # the split is between x[i] and x[i + 1]
    low, high = x[: i + 1], x[i + 1:]
    if min(low.size, high.size) < BIMODAL_MIN_SIDE:
        return None
    gap = float(gaps[i])
    spread = max(float(np.ptp(low)), float(np.ptp(high)))
    if gap <= BIMODAL_GAP_FACTOR * spread or gap < BIMODAL_MIN_GAP * abs(float(np.median(x))):
        return None
    return {"low_n": int(low.size), "high_n": int(high.size), "low_median": float(np.median(low)),
            "high_median": float(np.median(high)), "gap": gap}


def summarize(samples) -> dict:
    """Median, mean, min, max, stdev, cv, the median's bootstrap CI and the stability flags.

    Keys: n, median, mean, min, max, stdev, cv (stdev / mean), ci_low, ci_high (the median's
    CI_CONFIDENCE bootstrap interval, the samples' unit), ci_confidence, ci_rel_halfwidth (half
    the interval over the median; null for one sample), bimodal (gap_split's answer or null),
    flags (codes: high_cv when cv > CV_FLAG, bimodal). `samples` is any sequence of numbers in one
    unit; the summary keeps it. Raises ValueError on an empty sequence.
    """
    x = _array(samples)
    mean = float(x.mean())
    stdev = float(x.std(ddof=1)) if x.size > 1 else 0.0
    cv = stdev / mean if mean else 0.0
    low, high = median_ci(x)
    halfwidth = ci_rel_halfwidth(x)
    split = gap_split(x)
    flags = [code for code, on in ((HIGH_CV, cv > CV_FLAG), (BIMODAL, split is not None)) if on]
    return {
        "n": int(x.size),
        "median": float(np.median(x)),
        "mean": mean,
        "min": float(x.min()),
        "max": float(x.max()),
        "stdev": stdev,
        "cv": cv,
        "ci_low": low,
        "ci_high": high,
        "ci_confidence": CI_CONFIDENCE,
        "ci_rel_halfwidth": None if np.isinf(halfwidth) else halfwidth,
        "bimodal": split,
        "flags": flags,
    }


def paired_scores(rates: dict[str, list[float]]) -> dict[str, float]:
    """Each candidate's median, over rounds, of its figure / the mean of all candidates' figures in
    that round. Rounds are paired: a slow stretch of the machine that spans a round lowers every
    candidate of that round alike and drops out of the ratio, where the median of raw figures would
    follow it. All lists must have the same length; a round with a non-positive mean is skipped."""
    names = list(rates)
    ratios: dict[str, list[float]] = {name: [] for name in names}
    for figures in zip(*(rates[name] for name in names)):
        mean = sum(figures) / len(figures)
        if mean > 0:
            for name, figure in zip(names, figures):
                ratios[name].append(figure / mean)
    return {name: float(np.median(v)) for name, v in ratios.items() if v}


def fraction_on(pages_by_node: dict, nodes) -> float:
    """Share of located pages that are on any of `nodes` (0.0 when none located)."""
    total = sum(pages_by_node.values())
    if total == 0:
        return 0.0
    wanted = {int(n) for n in nodes}
    return sum(v for k, v in pages_by_node.items() if int(k) in wanted) / total
