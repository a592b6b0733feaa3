"""numabench.analysis.compare and numabench.render.gate on synthetic results whose truth is known.

Reference p-values were computed once with scipy 1.17.1 (scipy.stats.mannwhitneyu, method
"exact" or "asymptotic", two-sided) on the same inputs; numabench itself never imports scipy.
"""

import copy
import json
import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from numabench import __version__
from numabench.analysis.compare import (
    DEFAULT_THRESHOLDS,
    FEW_REPETITIONS,
    KERNEL_METRICS,
    Threshold,
    _exact_u_distribution,
    bootstrap_change_ci,
    cell_of,
    compare_results,
    exit_code,
    mann_whitney_u,
    parse_threshold,
    resolve_thresholds,
    threshold_for,
)
from numabench.errors import IncomparableError, NumabenchError, ResultError, ThresholdError
from numabench.render.gate import JUNIT_SUITE, format_markdown, format_text, junit_cases, to_json
from numabench.render.junit import junit_xml
from numabench.results.identity import machine_differences
from numabench.results.schema import validate

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "data", "golden")
REGEN = os.environ.get("NUMABENCH_REGEN_GOLDEN") == "1"
MIB64 = 64 << 20

ENV = {"hostname": "ci-1", "kernel_release": "6.1.0-18-amd64", "cpu_model": "AMD EPYC 9654",
       "thp_enabled": "madvise", "thp_defrag": "madvise"}


def topology(nodes=1):
    return {"nodes": [{"id": i, "cpus": [2 * i, 2 * i + 1], "memory_only": False,
                       "hugepages": [{"page_size_bytes": 2 << 20, "total": 0, "free": 0, "surplus": 0}]}
                      for i in range(nodes)]}


def measurement(kernel, samples, *, cpu=0, mem=0, pages="4k", size=MIB64, threads=None, policy="bind",
                placement_ok=True, **extra):
    metric_key = "latency_ns" if kernel in ("latency", "loaded_latency") else "bandwidth_bytes_per_s"
    mem_nodes = list(mem) if isinstance(mem, (list, tuple)) else [mem]
    return {"kernel": kernel, "cpu_node": cpu, "mem_node": mem_nodes[0] if len(mem_nodes) == 1 else None,
            "mem_nodes": mem_nodes, "policy": policy, "pages": pages, "size_bytes": size,
            "threads": threads if threads is not None else (1 if metric_key == "latency_ns" else 2),
            "samples": [float(s) for s in samples], metric_key: float(np.median(samples)),
            "pages_by_node": {str(mem_nodes[0]): size // 4096}, "placement": {"ok": placement_ok}, **extra}


def result(measurements, env=None, nodes=1):
    return validate({"schema_version": 1, "environment": {**ENV, **(env or {})}, "topology": topology(nodes),
                     "measurements": measurements, "errors": [], "interrupted": False})


def draws(seed, center, cv, n):
    return np.random.default_rng(seed).normal(center, center * cv, n)


def pair(latency_factor=1.0, bandwidth_factor=1.0, n=15, cv=0.02):
    """A baseline and a current result: latency and read bandwidth, the current scaled by factors."""
    base = result([measurement("latency", draws(1, 100.0, cv, n)), measurement("read", draws(2, 20e9, cv, n))])
    cur = result([measurement("latency", draws(3, 100.0 * latency_factor, cv, n)),
                  measurement("read", draws(4, 20e9 * bandwidth_factor, cv, n))])
    return base, cur


def statuses(c):
    return {(r["cell"]["kernel"], r["metric"]): r["status"] for r in c["rows"]}


# --------------------------------------------------------------------------- Mann-Whitney U


def test_mwu_fully_separated_small_samples_exact():
    u, p, method = mann_whitney_u([6, 7, 8, 9, 10], [1, 2, 3, 4, 5])
    assert (u, method) == (25.0, "exact")
    assert p == pytest.approx(2 / 252, rel=1e-12)  # 2 of C(10,5) orderings are as extreme


@pytest.mark.parametrize("x, y, method, u, p", [
    ([1.5, 2.2, 3.3, 9, 10, 11], [1.1, 2.5, 3, 4.2, 5], "exact", 20.0, 0.42857142857142855),
    ([0.1, 0.2, 0.25, 0.5, 0.9, 1.1, 1.3], [0.3, 1.7, 2.2], "exact", 4.0, 0.18333333333333335),
    ([3, 3, 4, 6, 7, 8, 8, 9, 10], [1, 2, 2, 3, 4, 5, 5, 5], "asymptotic", 59.5, 0.025864128151900007),
    ([5, 6, 6, 7, 8, 8, 9, 9, 10, 11, 12, 12, 12], [3, 3, 4, 5, 5, 5, 6, 7, 7, 9, 10, 10], "asymptotic",
     121.5, 0.018601656221769115),
])
def test_mwu_matches_scipy(x, y, method, u, p):
    got_u, got_p, used = mann_whitney_u(x, y)
    assert used == method
    assert got_u == u
    assert got_p == pytest.approx(p, rel=1e-12)


def test_mwu_seeded_normals_exact_and_asymptotic_match_scipy():
    rng = np.random.default_rng(7)
    x = rng.normal(100, 5, 20)
    y = rng.normal(104, 5, 15)
    assert x[0] == pytest.approx(100.00615077)  # the same draws scipy's reference was computed on
    assert mann_whitney_u(y, x, "exact")[:2] == (204.0, pytest.approx(0.07428213983892501, rel=1e-12))
    assert mann_whitney_u(y, x, "asymptotic")[:2] == (204.0, pytest.approx(0.0745320583716847, rel=1e-12))
    assert mann_whitney_u(y, x)[2] == "exact"
    rng = np.random.default_rng(11)
    x = rng.normal(100, 5, 80)
    y = rng.normal(102, 5, 70)
    u, p, method = mann_whitney_u(y, x)  # beyond 50 per side: the normal approximation
    assert (u, method) == (3331.0, "asymptotic")
    assert p == pytest.approx(0.045667777310998844, rel=1e-12)


def test_mwu_is_symmetric_and_all_equal_gives_one():
    x, y = [1.0, 4.0, 6.0, 8.0], [2.0, 3.0, 5.0, 7.0, 9.0]
    ux, px, _ = mann_whitney_u(x, y)
    uy, py, _ = mann_whitney_u(y, x)
    assert ux + uy == len(x) * len(y)
    assert px == pytest.approx(py)
    assert mann_whitney_u([3, 3, 3], [3, 3])[1] == 1.0


def test_exact_distribution_is_a_symmetric_distribution():
    dist = _exact_u_distribution(4, 6)
    assert dist.size == 25
    assert dist.sum() == pytest.approx(1.0)
    assert np.allclose(dist, dist[::-1])
    assert dist[0] == pytest.approx(1 / 210)  # C(10, 4) orderings, one with U = 0


def test_mwu_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one value"):
        mann_whitney_u([], [1.0])
    with pytest.raises(ValueError, match="no ties"):
        mann_whitney_u([1.0, 2.0], [2.0, 3.0], "exact")
    with pytest.raises(ValueError, match="unknown method"):
        mann_whitney_u([1.0], [2.0], "permutation")


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_is_seeded_and_covers_the_true_change():
    b, c = draws(5, 100.0, 0.02, 15), draws(6, 110.0, 0.02, 15)
    low, high = bootstrap_change_ci(b, c)
    assert (low, high) == bootstrap_change_ci(b, c)  # fixed seed: the same interval every time
    assert bootstrap_change_ci(b, c, seed=1) != (low, high)
    assert low < 0.10 < high
    assert low > 0.05  # a 10% shift with 2% noise is far from 0
    wide = bootstrap_change_ci(b, c, confidence=0.99)
    assert wide[0] <= low and wide[1] >= high


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError):
        bootstrap_change_ci([], [1.0])
    with pytest.raises(ValueError):
        bootstrap_change_ci([1.0], [1.0], confidence=1.0)
    with pytest.raises(ValueError):
        bootstrap_change_ci([1.0], [1.0], resamples=0)


# --------------------------------------------------------------------------- thresholds


@pytest.mark.parametrize("text, selector, percent", [
    ("latency:+5%", "latency", 5.0),
    ("latency:5%", "latency", 5.0),
    ("bandwidth:-5%", "bandwidth", -5.0),
    ("bandwidth:5%", "bandwidth", -5.0),
    ("read:-3%", "read", -3.0),
    (" triad : - 2.5 % ", "triad", -2.5),
    ("loaded_latency:+10%", "loaded_latency", 10.0),
    ("LATENCY:+0%", "latency", 0.0),
])
def test_parse_threshold(text, selector, percent):
    assert parse_threshold(text) == Threshold(selector, percent)


@pytest.mark.parametrize("text, needle, fix", [
    ("latency:-5%", "gets worse when it rises", "latency:+5%"),
    ("read:+3%", "gets worse when it falls", "read:-3%"),
    ("median:5%", "neither a metric nor a kernel", "latency, bandwidth"),
    ("latency+5%", "is not METRIC:CHANGE%", "latency:+5%"),
    ("latency:+5", "is not METRIC:CHANGE%", "latency:+5%"),
    ("bandwidth:-100%", "cannot fall by 100%", "bandwidth:-5%"),
])
def test_bad_thresholds_say_how_to_write_them(text, needle, fix):
    with pytest.raises(ThresholdError) as info:
        parse_threshold(text)
    assert needle in info.value.message and text in info.value.message
    assert fix in info.value.fix
    assert info.value.exit_code == 2


def test_thresholds_default_and_override():
    assert [t.text for t in resolve_thresholds().values()] == list(DEFAULT_THRESHOLDS)
    t = resolve_thresholds(["latency:+10%", "read:-3%", "latency:+8%"])
    assert t["latency"].percent == 8.0  # the last one given wins
    assert t["bandwidth"].percent == -5.0  # default kept
    assert threshold_for(t, "read", "bandwidth").text == "read:-3%"  # a kernel's beats its metric's
    assert threshold_for(t, "copy", "bandwidth").text == "bandwidth:-5%"


def test_threshold_kernels_are_the_run_kernels():
    from numabench.constants import PEAK_NATIVE_KERNELS
    from numabench.measure.spec import KERNELS

    assert set(KERNEL_METRICS) == (set(KERNELS) | {"loaded_latency", "c2c", "scan_read", "scan_latency"}
                                   | set(PEAK_NATIVE_KERNELS))


# --------------------------------------------------------------------------- the gate


def test_no_change_passes():
    base, cur = pair()
    c = compare_results(base, cur)
    assert set(statuses(c).values()) == {"ok"}
    assert c["verdict"] == "pass" and exit_code(c) == 0
    assert all(not r["significant"] for r in c["rows"])
    assert c["summary"] == {"regression": 0, "noisy": 0, "inconclusive": 0, "improved": 0, "ok": 2, "added": 0,
                            "removed": 0}


def test_three_percent_inside_the_noise_does_not_fail_a_five_percent_gate():
    base, cur = pair(latency_factor=1.03, bandwidth_factor=0.97, cv=0.02)
    c = compare_results(base, cur)
    assert statuses(c) == {("latency", "latency"): "ok", ("read", "bandwidth"): "ok"}
    assert exit_code(c) == 0
    lat = next(r for r in c["rows"] if r["metric"] == "latency")
    assert 0.0 < lat["change"] < 0.05


def test_ten_percent_regression_with_fifteen_samples_fails():
    base, cur = pair(latency_factor=1.10, bandwidth_factor=0.90)
    c = compare_results(base, cur)
    assert statuses(c) == {("latency", "latency"): "regression", ("read", "bandwidth"): "regression"}
    assert c["verdict"] == "fail" and exit_code(c) == 1
    for r in c["rows"]:
        assert r["significant"] and r["p_value"] < 0.001
        assert r["ci_low"] <= r["change"] <= r["ci_high"]
        assert r["warnings"] == []  # 15 samples each: no repetition warning
    lat = next(r for r in c["rows"] if r["metric"] == "latency")
    assert 0.07 < lat["change"] < 0.13 and lat["higher_is_worse"] is True
    bw = next(r for r in c["rows"] if r["metric"] == "bandwidth")
    assert -0.13 < bw["change"] < -0.07 and bw["higher_is_worse"] is False


def test_improvements_are_not_regressions():
    base, cur = pair(latency_factor=0.90, bandwidth_factor=1.10)
    c = compare_results(base, cur)
    assert set(statuses(c).values()) == {"improved"}
    assert exit_code(c) == 0


def test_large_change_without_significance_is_inconclusive_and_warns():
    # Tight samples (each median's CI within +-1%), but 3 a side: the U test cannot reach p < 0.05.
    base = result([measurement("latency", [99.0, 100.0, 101.0])])
    cur = result([measurement("latency", [109.0, 110.0, 111.0])])  # median +10%
    c = compare_results(base, cur)
    lat = c["rows"][0]
    assert lat["change"] == pytest.approx(0.10) and not lat["significant"]
    assert lat["status"] == "inconclusive"
    assert exit_code(c) == 0
    assert any(w.startswith(FEW_REPETITIONS) for w in lat["warnings"])
    assert f"{FEW_REPETITIONS} (fewer than 9 samples: latency 4k 64 MiB node 0->0 1 thr)" in c["warnings"]
    assert lat["noisy_sides"] == []


def test_per_kernel_threshold():
    base = result([measurement("read", draws(1, 20e9, 0.005, 15)), measurement("copy", draws(2, 20e9, 0.005, 15))])
    cur = result([measurement("read", draws(3, 19.2e9, 0.005, 15)), measurement("copy", draws(4, 19.2e9, 0.005, 15))])
    default = statuses(compare_results(base, cur))
    assert default == {("read", "bandwidth"): "ok", ("copy", "bandwidth"): "ok"}  # -4% is within -5%
    strict = compare_results(base, cur, thresholds=resolve_thresholds(["read:-3%"]))
    assert statuses(strict) == {("read", "bandwidth"): "regression", ("copy", "bandwidth"): "ok"}
    assert next(r for r in strict["rows"] if r["cell"]["kernel"] == "read")["threshold"]["text"] == "read:-3%"


def test_alpha_decides_significance():
    base, cur = pair(latency_factor=1.10, n=5, cv=0.01)  # tight enough for a 5% gate: not noisy
    p = next(r for r in compare_results(base, cur)["rows"] if r["metric"] == "latency")["p_value"]
    strict = compare_results(base, cur, alpha=p / 2)
    assert next(r for r in strict["rows"] if r["metric"] == "latency")["status"] == "inconclusive"
    loose = compare_results(base, cur, alpha=min(0.99, p * 2))
    assert next(r for r in loose["rows"] if r["metric"] == "latency")["status"] == "regression"
    with pytest.raises(ValueError):
        compare_results(base, cur, alpha=1.5)


def test_added_and_removed_cells_are_listed():
    base = result([measurement("latency", draws(1, 100, 0.02, 9)), measurement("read", draws(2, 2e10, 0.02, 9))])
    cur = result([measurement("latency", draws(3, 100, 0.02, 9)), measurement("triad", draws(4, 2e10, 0.02, 9))])
    c = compare_results(base, cur)
    assert [r["cell"]["kernel"] for r in c["rows"]] == ["latency"]
    assert [a["kernel"] for a in c["added"]] == ["triad"]
    assert [r["kernel"] for r in c["removed"]] == ["read"]
    assert c["summary"]["added"] == 1 and c["summary"]["removed"] == 1
    text = format_text(c)
    assert "added: triad 4k 64 MiB node 0->0 2 thr (bandwidth; only in current)" in text
    assert "removed: read 4k 64 MiB node 0->0 2 thr (bandwidth; only in baseline)" in text


def test_a_sweep_with_an_extra_size_is_added_not_refused():
    base = result([measurement("latency", draws(1, 100, 0.02, 9), size=s) for s in (1 << 20, 1 << 30)])
    cur = result([measurement("latency", draws(2, 100, 0.02, 9), size=s) for s in (1 << 20, 1 << 30, 2 << 30)])
    c = compare_results(base, cur)
    assert len(c["rows"]) == 2 and [a["size_bytes"] for a in c["added"]] == [2 << 30]
    assert c["mismatched"] == []


def test_different_machines_are_refused_naming_the_fields():
    base, cur = pair()
    cur = copy.deepcopy(cur)
    cur["environment"].update(cpu_model="Intel Xeon 8480+", kernel_release="6.8.0")
    cur["topology"] = topology(2)
    with pytest.raises(IncomparableError) as info:
        compare_results(base, cur, baseline_name="a.json", current_name="b.json")
    msg = str(info.value)
    assert "a.json" in msg and "b.json" in msg
    assert "cpu_model 'AMD EPYC 9654' vs 'Intel Xeon 8480+'" in msg
    assert "kernel_release '6.1.0-18-amd64' vs '6.8.0'" in msg and "nodes 0:0-1 vs 0:0-1 1:2-3" in msg
    assert "thp_enabled" not in msg
    assert "--allow-different-machine" in info.value.fix
    assert isinstance(info.value, NumabenchError) and info.value.exit_code == 2
    c = compare_results(base, cur, allow_different_machine=True)
    assert [d["field"] for d in c["machine_differences"]] == ["cpu_model", "kernel_release", "nodes"]
    assert any("different machines: cpu_model" in w for w in c["warnings"])
    assert c["verdict"] == "pass"


def test_thp_mode_is_a_machine_field():
    base, cur = pair()
    cur["environment"]["thp_enabled"] = "always"
    assert machine_differences(base, cur) == [{"field": "thp_enabled", "baseline": "madvise", "current": "always"}]


def test_same_cell_with_other_pages_or_size_is_refused_then_listed():
    base = result([measurement("latency", draws(1, 100, 0.02, 9)), measurement("read", draws(2, 2e10, 0.02, 9))])
    cur = result([measurement("latency", draws(3, 100, 0.02, 9), size=128 << 20),
                  measurement("read", draws(4, 2e10, 0.02, 9), pages="2m")])
    with pytest.raises(NumabenchError) as info:
        compare_results(base, cur)
    msg = str(info.value)
    assert "latency node 0->0 1 thr: size_bytes 64 MiB vs 128 MiB" in msg
    assert "read node 0->0 2 thr: pages 4k vs 2m" in msg
    with pytest.raises(ResultError, match="nothing to compare"):  # allowed, but no cell is left to compare
        compare_results(base, cur, allow_different_machine=True)
    cur["measurements"].append(measurement("triad", draws(5, 2e10, 0.02, 9)))
    base["measurements"].append(measurement("triad", draws(6, 2e10, 0.02, 9)))
    c = compare_results(base, cur, allow_different_machine=True)
    assert [r["cell"]["kernel"] for r in c["rows"]] == ["triad"]
    assert sorted(a["kernel"] for a in c["added"]) == ["latency", "read"]
    assert sorted(r["kernel"] for r in c["removed"]) == ["latency", "read"]
    assert any("measured differently (size_bytes 64 MiB vs 128 MiB)" in w for w in c["warnings"])


def test_cells_key_on_nodes_policy_threads_and_loaded_settings():
    inter = measurement("read", [1e10], mem=[0, 1], policy="interleave")
    assert cell_of(inter).mem_nodes == (0, 1) and cell_of(inter).policy == "interleave"
    assert cell_of(inter) != cell_of(measurement("read", [1e10], mem=0))
    assert cell_of(measurement("read", [1e10], threads=4)) != cell_of(measurement("read", [1e10], threads=2))
    a = measurement("loaded_latency", [100.0], delay=0, inject_kind="read", inject_node=0, inject_size_bytes=1 << 28)
    b = measurement("loaded_latency", [100.0], delay=200, inject_kind="read", inject_node=0, inject_size_bytes=1 << 28)
    assert cell_of(a) != cell_of(b)
    assert "delay 200" in cell_of(b).label and "inject_size_bytes 256 MiB" in cell_of(b).label
    assert "/delay=200/" in cell_of(b).slug + "/"


def test_duplicate_cells_are_pooled_and_said():
    base = result([measurement("latency", draws(1, 100, 0.02, 5)), measurement("latency", draws(2, 100, 0.02, 5))])
    cur = result([measurement("latency", draws(3, 100, 0.02, 10))])
    c = compare_results(base, cur, baseline_name="b.json")
    assert c["rows"][0]["baseline"]["n"] == 10
    assert any("b.json: latency 4k 64 MiB node 0->0 1 thr was measured 2 times" in w for w in c["warnings"])


def test_misplaced_pages_warn():
    base, cur = pair()
    cur["measurements"][0]["placement"]["ok"] = False
    c = compare_results(base, cur, current_name="cur.json")
    row = next(r for r in c["rows"] if r["metric"] == "latency")
    assert row["current"]["placement_ok"] is False
    assert "cur.json: pages were not where asked (placement not ok)" in row["warnings"]
    assert "warning: latency 4k 64 MiB node 0->0 1 thr: cur.json: pages were not where asked" in format_text(c)


@pytest.mark.parametrize("samples, needle", [([], "has no samples"),
                                             ([1.0, -2.0], "has a sample that is not a positive number"),
                                             (["x"], "has samples that are not numbers"),
                                             ([float("nan")], "has a sample that is not a positive number")])
def test_bad_samples_are_result_errors(samples, needle):
    base, cur = pair()
    cur["measurements"][1]["samples"] = samples
    with pytest.raises(ResultError, match=f"cur.json: measurement 1 {needle}"):
        compare_results(base, cur, current_name="cur.json")


def test_failed_configurations_and_interruptions_are_warned():
    base, cur = pair()
    cur["errors"] = [{"error": "hugepage pool of node 0 is empty"}]
    cur["interrupted"] = True
    c = compare_results(base, cur, current_name="cur.json")
    assert "cur.json: a configuration failed: hugepage pool of node 0 is empty" in c["warnings"]
    assert "cur.json was interrupted: some cells may be missing" in c["warnings"]


# --------------------------------------------------------------------------- rendering, golden files


def golden_comparison():
    """A fixed comparison with every status, an added and a removed cell, and a few-samples warning."""
    # copy_nt: 3 tight samples a side, -10%: past the threshold, cannot be significant: inconclusive.
    base = result([
        measurement("latency", draws(10, 110.0, 0.02, 15)),
        measurement("read", draws(11, 25e9, 0.02, 15)),
        measurement("copy", draws(12, 18e9, 0.02, 15)),
        measurement("triad", draws(13, 17e9, 0.25, 5)),
        measurement("write", draws(14, 12e9, 0.02, 15)),
        measurement("copy_nt", draws(15, 20e9, 0.005, 3)),
    ])
    cur = result([
        measurement("latency", draws(20, 121.0, 0.02, 15)),   # +10%: regression
        measurement("read", draws(21, 27.5e9, 0.02, 15)),     # +10%: improved
        measurement("copy", draws(22, 18e9, 0.02, 15)),       # unchanged: ok
        measurement("triad", draws(23, 14.5e9, 0.25, 5)),     # -15% on 5 samples spread 25%: noisy
        measurement("write_nt", draws(24, 12e9, 0.02, 15)),   # added; write removed
        measurement("copy_nt", draws(25, 18e9, 0.005, 3)),    # -10% on 3 tight samples: inconclusive
    ])
    return compare_results(base, cur, baseline_name="baseline.json", current_name="current.json")


def check_golden(name, text):
    path = os.path.join(GOLDEN, name)
    if REGEN:
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        assert text == f.read(), f"{name} differs; if on purpose: NUMABENCH_REGEN_GOLDEN=1 pytest {__file__}"


def test_golden_comparison_statuses():
    c = golden_comparison()
    assert [r["status"] for r in c["rows"]] == ["regression", "improved", "ok", "noisy", "inconclusive"]
    assert c["verdict"] == "fail"


def test_golden_markdown():
    md = format_markdown(golden_comparison())
    check_golden("compare.md", md)
    lines = md.splitlines()
    assert lines[0] == ("**numabench compare: FAIL**: 1 regression(s), 1 noisy, 1 inconclusive, 1 improved, 1 ok; "
                        "1 added, 1 removed.")
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].startswith("| status | cell | metric | baseline | current | change | 95% CI | p | n |")
    assert [row.split(" | ")[0] for row in table[1:]] == ["| **regression**", "| **noisy**", "| **inconclusive**",
                                                          "| improved", "| ok"]
    assert "| **regression** | latency 4k 64 MiB node 0->0 1 thr | latency |" in md
    assert "- write_nt 4k 64 MiB node 0->0 2 thr (bandwidth)" in md
    assert "- write 4k 64 MiB node 0->0 2 thr (bandwidth)" in md
    assert ("- too few repetitions for a significant result; use --repeat 9 or more (fewer than 9 samples: "
            "triad 4k 64 MiB node 0->0 2 thr, copy_nt 4k 64 MiB node 0->0 2 thr)") in md
    assert "- triad 4k 64 MiB node 0->0 2 thr: current.json too noisy for bandwidth:-5%" in md
    assert not any(ord(ch) > 0x2000 for ch in md)  # status words, no emoji


def test_golden_junit():
    xml = junit_xml(JUNIT_SUITE, junit_cases(golden_comparison()))
    check_golden("compare.junit.xml", xml)
    suite = ET.fromstring(xml).find("testsuite")
    assert suite.get("tests") == "7" and suite.get("failures") == "1" and suite.get("skipped") == "3"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    failed = cases["latency/4k/64MiB/cpu0-mem0/t1/bind:latency"]
    assert failed.get("classname") == "numabench.compare.latency"
    assert failed.find("failure").get("message").startswith("regression: latency +")
    assert "threshold latency:+5%" in failed.find("failure").get("message")
    assert cases["triad/4k/64MiB/cpu0-mem0/t2/bind:bandwidth"].find("failure") is None
    assert cases["triad/4k/64MiB/cpu0-mem0/t2/bind:bandwidth"].find("skipped").get("message").startswith("noisy: ")
    assert cases["write_nt/4k/64MiB/cpu0-mem0/t2/bind:bandwidth"].find("skipped").get("message") == \
        "added: only in current.json"
    assert cases["write/4k/64MiB/cpu0-mem0/t2/bind:bandwidth"].find("skipped").get("message") == \
        "removed: only in baseline.json"


def test_golden_json():
    c = golden_comparison()
    doc = json.loads(to_json(c))
    assert doc["numabench_version"] == __version__
    doc["numabench_version"] = "X"
    if REGEN:
        check_golden("compare.json", json.dumps(doc, indent=2) + "\n")
    with open(os.path.join(GOLDEN, "compare.json")) as f:
        golden = json.load(f)
    assert doc == _approx(golden)
    assert doc["comparison_version"] == 2 and doc["verdict"] == "fail"
    assert doc["rows"][0]["cell"]["slug"] == "latency/4k/64MiB/cpu0-mem0/t1/bind"


def _approx(value):
    """Floats compared to 1e-9 relative (the last digits of a bootstrap may move between numpy builds)."""
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9, abs=1e-12)
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_approx(v) for v in value]
    return value


def test_text_report_lists_worst_first():
    text = format_text(golden_comparison())
    lines = text.splitlines()
    assert lines[0].startswith("numabench compare: FAIL: 1 regression(s)")
    body = [line.split()[0] for line in lines[5:10]]
    assert body == ["regression", "noisy", "inconclusive", "improved", "ok"]


def test_a_change_of_kernel_set_is_said_on_the_row():
    # `--isa auto` picks the fastest kernel set per run; a gate must say when the two runs differ.
    base = result([measurement("read", draws(2, 20e9, 0.02, 15), isa="avx512")])
    cur = result([measurement("read", draws(4, 20e9, 0.02, 15), isa="sse2")])
    same = result([measurement("read", draws(4, 20e9, 0.02, 15), isa="avx512")])
    c = compare_results(base, cur)
    row = c["rows"][0]
    assert any("kernel sets differ: baseline avx512, current sse2" in w for w in row["warnings"]), row["warnings"]
    for shown in (format_text(c), format_markdown(c), str(junit_cases(c))):
        assert "kernel sets differ" in shown
    assert compare_results(base, same)["rows"][0]["warnings"] == []
