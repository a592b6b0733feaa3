"""Stability as a measured property (issue 12): the median's bootstrap CI, the gap test for two
modes, the flags, adaptive sampling's stopping rule and the run table's flags, on synthetic sample
sets whose truth is known. Nothing here times anything."""

import numpy as np
import pytest

from numabench.cli import run_cmd
from numabench.render.text import format_run_table
from numabench.util import stats
from numabench.util.stats import BIMODAL, HIGH_CV, ci_rel_halfwidth, gap_split, median_ci, summarize

STABLE = list(np.random.default_rng(1).normal(20e9, 20e9 * 0.005, 15))  # cv 0.5%
NOISY = list(np.random.default_rng(2).normal(20e9, 20e9 * 0.10, 15))   # cv 10%, one mode
BIMODAL_SET = [17.0, 17.2, 17.3, 22.3, 22.4, 22.35]                    # issue 12's copy runs, two modes
ISSUE_RUN = [30.8, 29.0, 26.9, 22.9, 21.6]                             # spread, but no clean gap


def test_stable_samples_have_no_flags_and_a_narrow_ci():
    s = summarize(STABLE)
    assert s["flags"] == [] and s["bimodal"] is None
    assert s["cv"] < 0.01
    assert s["ci_low"] <= s["median"] <= s["ci_high"]
    assert 0 < s["ci_rel_halfwidth"] < 0.01


def test_noisy_samples_are_flagged_high_cv_not_bimodal():
    s = summarize(NOISY)
    assert s["flags"] == [HIGH_CV]
    assert s["ci_rel_halfwidth"] > 0.02


def test_bimodal_samples_are_split_at_the_gap():
    s = summarize(BIMODAL_SET)
    assert BIMODAL in s["flags"] and HIGH_CV in s["flags"]
    assert s["bimodal"] == {"low_n": 3, "high_n": 3, "low_median": 17.2, "high_median": 22.35,
                            "gap": pytest.approx(5.0)}


def test_gap_test_needs_two_samples_a_side_and_a_real_gap():
    assert gap_split([10.0, 10.1, 10.2, 30.0]) is None          # an outlier is not a mode
    assert gap_split(ISSUE_RUN) is None                          # gap 4.0 < 3 x the upper side's range
    assert gap_split([1.0, 1.0001, 1.003, 1.0031]) is None       # 0.3% apart: below BIMODAL_MIN_GAP
    assert gap_split([1.0, 1.01, 1.5, 1.51]) is not None
    assert gap_split([5.0, 5.0, 5.0]) is None


def test_median_ci_is_deterministic_and_holds_the_median():
    assert median_ci(NOISY) == median_ci(NOISY)
    low, high = median_ci(NOISY)
    assert low <= float(np.median(NOISY)) <= high
    assert median_ci([3.0]) == (3.0, 3.0)
    assert ci_rel_halfwidth([3.0]) == float("inf")
    assert summarize([3.0])["ci_rel_halfwidth"] is None
    # With 5 samples the 95% percentile bootstrap interval of the median is [min, max].
    assert median_ci([1.0, 2.0, 3.0, 4.0, 5.0]) == (1.0, 5.0)
    with pytest.raises(ValueError):
        median_ci([])
    with pytest.raises(ValueError):
        median_ci([1.0, 2.0], confidence=1.5)


def test_more_samples_narrow_the_ci():
    draws = np.random.default_rng(3).normal(100.0, 3.0, 60)
    assert ci_rel_halfwidth(draws[:60]) < ci_rel_halfwidth(draws[:6])


# --------------------------------------------------------------------------- adaptive sampling


class Source:
    """draw(k) hands out the next k values of a fixed sequence and counts the calls."""

    def __init__(self, values):
        self.values = list(values)
        self.taken = 0
        self.calls = []

    def __call__(self, k):
        self.calls.append(k)
        out = self.values[self.taken:self.taken + k]
        self.taken += k
        return out


@pytest.fixture
def runner():
    return pytest.importorskip("numabench.measure.runner", reason="needs the native extension built")


def test_fixed_sampling_takes_exactly_the_count(runner):
    src = Source(NOISY)
    samples, record = runner.take_samples(src, runner.Sampling.fixed(5))
    assert samples == NOISY[:5] and src.calls == [5]
    assert record["mode"] == "fixed" and record["target_reached"] is None and record["samples_taken"] == 5


def test_adaptive_sampling_stops_at_the_minimum_when_stable(runner):
    src = Source(STABLE)
    samples, record = runner.take_samples(src, runner.Sampling(5, 15, 0.01))
    assert len(samples) == 5 and src.calls == [5]
    assert record["target_reached"] is True and record["ci_rel_halfwidth"] <= 0.01


def test_adaptive_sampling_runs_to_the_budget_when_noisy(runner):
    src = Source(list(np.random.default_rng(4).normal(100.0, 30.0, 40)))
    samples, record = runner.take_samples(src, runner.Sampling(4, 12, 0.01))
    assert len(samples) == 12 and sum(src.calls) == 12 and src.calls[0] == 4
    assert all(k >= 1 for k in src.calls)
    assert record["target_reached"] is False and record["ci_rel_halfwidth"] > 0.01


def test_adaptive_sampling_stops_once_the_ci_is_narrow(runner):
    # Noisy at first, then steady: stops after the steady values narrow the CI, before the budget.
    values = [80.0, 120.0, 100.0] + [100.0 + 0.01 * i for i in range(40)]
    src = Source(values)
    samples, record = runner.take_samples(src, runner.Sampling(3, 40, 0.01))
    assert 3 < len(samples) < 40 and record["target_reached"] is True


def test_measurement_carries_skew_and_ci_flags(runner):
    from numabench.measure.spec import Spec  # noqa: F401  (the builder's input type)

    class FakeSpec:
        cpu_node, mem_node, mem_nodes, policy, pages, size_bytes = 0, 0, [0], "bind", "4k", 1 << 20

    figures = {"samples": STABLE, "unit": "bytes/s", "bandwidth_bytes_per_s": float(np.median(STABLE)),
               "skewed_samples": [2], "sampling": {"target_reached": False}}
    m = runner.measurement("copy", FakeSpec, [0, 1], figures, {"pages_by_node": {"0": 256}})
    assert m.stats["flags"] == [stats.START_SKEW, stats.CI_NOT_REACHED]


# --------------------------------------------------------------------------- the run table


def _row(kernel, samples, **extra):
    return {"kernel": kernel, "pages": "4k", "size_bytes": 1 << 30, "cpu_node": 0, "mem_node": 0, "threads": 2,
            "bandwidth_bytes_per_s": float(np.median(samples)), "unit": "bytes/s", "stats": summarize(samples),
            "pages_by_node": {"0": 262144}, "placement": {"ok": True, "method": "mbind"}, **extra}


def test_run_table_flags_unstable_measurements_with_a_cause():
    result = {"measurements": [_row("read", STABLE), _row("copy", [x * 1e9 for x in BIMODAL_SET])]}
    text = format_run_table(result)
    lines = text.splitlines()
    assert "flags" in lines[0]
    read = next(line for line in lines if line.startswith("read"))
    copy = next(line for line in lines if line.startswith("copy"))
    assert " - " in read and "NOISY,BIMODAL" in copy
    assert any(line.startswith("flag BIMODAL: copy 4k 1 GiB 2 thr: two groups of samples, 3 near 17.2 and 3 near "
                               "22.35") for line in lines)
    assert any(line.startswith("flag NOISY: copy 4k 1 GiB 2 thr: samples spread") for line in lines)
    assert not any(line.startswith("flag") and ": read 4k" in line for line in lines)


def test_run_table_explains_skew_and_a_missed_target():
    m = _row("copy", STABLE, skewed_samples=[0, 3],
             sampling={"ci_rel_halfwidth": 0.02, "samples_taken": 30, "target_ci": 0.01})
    m["stats"]["flags"] += [stats.START_SKEW, stats.CI_NOT_REACHED]
    text = format_run_table({"measurements": [m]})
    assert "flag SKEW: copy 4k 1 GiB 2 thr: 2 sample(s) whose threads started more than 1% of the sample apart" in text
    assert "flag WIDE-CI: copy 4k 1 GiB 2 thr: the median's CI stayed at +-2.0% after 30 samples (target 1.0%)" in text


def test_paired_scores_see_through_a_slow_stretch():
    # B is 10% faster than A. A slow stretch hits B alone in round 1 and both in round 2: the
    # medians of the raw figures would pick A, the paired rounds pick B.
    rates = {"A": [1.0, 1.0, 0.6], "B": [1.1, 0.65, 0.66]}
    assert np.median(rates["A"]) > np.median(rates["B"])
    scores = stats.paired_scores(rates)
    assert scores["B"] > scores["A"]
    assert scores["B"] == pytest.approx(1.1 / 1.05)
    assert stats.paired_scores({"A": [0.0], "B": [0.0]}) == {}


def test_run_table_says_which_kernel_set_measured_what():
    probe = {"candidates": ["avx512", "avx2", "sse2"], "chosen": "sse2"}
    text = format_run_table({"measurements": [_row("triad", STABLE, isa="sse2", isa_probe=probe),
                                              _row("copy", STABLE, isa="sse2", isa_probe=probe),
                                              _row("read", STABLE, isa="avx2", isa_probe=probe)]})
    assert "isa: sse2 for triad, copy; avx2 for read (auto: the fastest of a short probe" in text
    pinned = format_run_table({"measurements": [_row("read", STABLE, isa="avx512")]})
    assert "isa: avx512 for read" in pinned and "auto" not in pinned


# --------------------------------------------------------------------------- run's options


def test_adaptive_options(runner):
    assert run_cmd._adaptive(None, None, None, None, 0.2) is None
    s = run_cmd._adaptive(None, None, None, "1%", 0.2)
    assert (s.min_samples, s.max_samples, s.target_ci) == (5, 30, 0.01)
    s = run_cmd._adaptive(None, 9, 50, "0.5", 0.1)
    assert (s.min_samples, s.max_samples, s.target_ci, s.sample_seconds) == (9, 50, 0.005, 0.1)


@pytest.mark.parametrize("args", [(5, 5, None, None, 0.2), (None, 1, 10, None, 0.2), (None, 9, 3, None, 0.2),
                                  (None, None, None, "0%", 0.2), (None, None, None, "x", 0.2),
                                  (None, None, None, None, 0.0)])
def test_bad_sampling_options_are_refused(args):
    with pytest.raises(run_cmd.UsageError):
        run_cmd._adaptive(*args)


def test_array_offset_option():
    assert run_cmd._array_offset("0") == 0
    assert run_cmd._array_offset("1344") == 1344
    assert run_cmd._array_offset("4K") == 4096
    for bad in ("100", "2M", "-64"):
        with pytest.raises(run_cmd.UsageError):
            run_cmd._array_offset(bad)
