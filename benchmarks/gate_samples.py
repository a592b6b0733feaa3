#!/usr/bin/env python3
"""How many samples does a gate of THRESHOLD% need on this machine? Read from a numabench result.

    numabench run --kernels latency,read,copy --repeat 30 -o samples.json
    python benchmarks/gate_samples.py samples.json --threshold 5

For every measurement in the file, and for the first n of its samples (n = 3, 5, 9, 15, 20, 30, ...
up to all of them), the half-width of the median's 95% bootstrap CI over the median: the same figure
`numabench compare` checks against the threshold (a side whose half-width is wider than the
threshold makes the cell "noisy": no verdict). The last column is the smallest n at which the
half-width is within the threshold and stays there for every larger n tried (at least 4: below
that the two-sided Mann-Whitney U test cannot reach p < 0.05 however far apart the samples are).
--model prints, instead, the share of normally distributed sample sets of a given cv whose median
CI is within the threshold at each n (100 sets each, fixed seed): what the rule costs on a machine
of that noise. Uses numabench.util.stats, so run it with the interpreter numabench is installed in.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from numabench.util.stats import ci_rel_halfwidth

STEPS = (3, 5, 9, 15, 20, 30, 50, 100)
MIN_FOR_SIGNIFICANCE = 4  # exact U test, 4 vs 4 samples: smallest two-sided p is 2/70 = 0.029


def needed(samples: list[float], limit: float) -> tuple[list[tuple[int, float]], int | None]:
    """(half-width at each step, the smallest step from which every half-width is within limit)."""
    steps = [n for n in STEPS if n <= len(samples)] or [len(samples)]
    if steps[-1] != len(samples):
        steps.append(len(samples))
    widths = [(n, ci_rel_halfwidth(samples[:n])) for n in steps]
    enough = None
    for n, w in reversed(widths):
        if w > limit:
            break
        enough = n
    return widths, None if enough is None else max(enough, MIN_FOR_SIGNIFICANCE)


def model(limit: float) -> None:
    """Share of normal sample sets (cv 0.5-10%) whose median CI half-width is within limit, per n."""
    rng = np.random.default_rng(7)
    print(f"# share of 100 normal sample sets whose median's 95% CI half-width <= {limit:.0%}")
    for cv in (0.005, 0.01, 0.02, 0.03, 0.05, 0.10):
        shares = [np.mean([ci_rel_halfwidth(rng.normal(1.0, cv, n), resamples=500) <= limit for _ in range(100)])
                  for n in STEPS[:-1]]
        print(f"cv {cv:5.1%}  " + "  ".join(f"n={n}: {s:4.0%}" for n, s in zip(STEPS[:-1], shares)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("result", nargs="?", help="a numabench result file (numabench run -o FILE)")
    ap.add_argument("--model", action="store_true", help="the share of normal sample sets within the threshold")
    ap.add_argument("--threshold", type=float, default=5.0, help="the gate's threshold in percent (default 5)")
    args = ap.parse_args(argv)
    limit = args.threshold / 100.0
    if args.model:
        model(limit)
        return 0
    if not args.result:
        ap.error("give a result file, or --model")
    with open(args.result) as f:
        doc = json.load(f)
    print(f"# {args.result}: median's 95% CI half-width / median, by number of samples; gate {args.threshold:g}%")
    for m in doc.get("measurements", []):
        samples = m["samples"]
        widths, enough = needed(samples, limit)
        label = f"{m['kernel']} {m['pages']} {m['size_bytes'] >> 20} MiB {m['threads']} thr"
        cv = m.get("stats", {}).get("cv")
        cells = "  ".join(f"n={n}: {w * 100:.1f}%" if w != float("inf") else f"n={n}: -" for n, w in widths)
        print(f"{label:28s} cv {cv * 100 if cv is not None else float('nan'):5.1f}%  {cells}  "
              f"-> {enough if enough else f'more than {len(samples)}'} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
