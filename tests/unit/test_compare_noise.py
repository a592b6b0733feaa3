"""numabench compare never calls a change significant from samples that cannot support the threshold
(issue 12): such cells are "noisy", named in text, Markdown and JUnit, and never fail the gate."""

import xml.etree.ElementTree as ET

import numpy as np

from numabench.analysis.compare import NOISY, compare_results, exit_code, resolve_thresholds
from numabench.render.gate import JUNIT_SUITE, format_markdown, format_text, junit_cases
from numabench.render.junit import junit_xml
from numabench.results.schema import validate

ENV = {"hostname": "ci-1", "kernel_release": "6.1.0-18-amd64", "cpu_model": "AMD EPYC 9654",
       "thp_enabled": "madvise", "thp_defrag": "madvise"}
TOPOLOGY = {"nodes": [{"id": 0, "cpus": [0, 1], "memory_only": False, "hugepages": []}]}


def result(kernel, samples):
    key = "latency_ns" if kernel == "latency" else "bandwidth_bytes_per_s"
    m = {"kernel": kernel, "cpu_node": 0, "mem_node": 0, "mem_nodes": [0], "policy": "bind", "pages": "4k",
         "size_bytes": 1 << 30, "threads": 1 if kernel == "latency" else 2, "samples": [float(x) for x in samples],
         key: float(np.median(samples)), "pages_by_node": {"0": 262144}, "placement": {"ok": True}}
    return validate({"schema_version": 1, "environment": ENV, "topology": TOPOLOGY, "measurements": [m],
                     "errors": [], "interrupted": False})


def draws(seed, center, cv, n):
    return np.random.default_rng(seed).normal(center, center * cv, n)


def test_a_noisy_current_blocks_a_clear_regression():
    # -20% and a tiny p, but the current side spreads 15%: 15 samples cannot support a 5% gate.
    base = result("copy", draws(1, 20e9, 0.005, 15))
    cur = result("copy", np.concatenate([draws(2, 13e9, 0.01, 8), draws(3, 19e9, 0.01, 7)]))
    c = compare_results(base, cur, baseline_name="b.json", current_name="c.json")
    row = c["rows"][0]
    assert row["p_value"] < 0.05 and row["change"] < -0.05
    assert row["status"] == NOISY and row["significant"] is False
    assert row["noisy_sides"] == ["current"]
    assert row["current"]["ci_rel_halfwidth"] > 0.05 >= row["baseline"]["ci_rel_halfwidth"]
    assert c["verdict"] == "pass" and exit_code(c) == 0 and c["summary"]["noisy"] == 1
    assert any(w.startswith("c.json too noisy for bandwidth:-5%: its median's 95% CI is +-") for w in row["warnings"])


def test_a_noisy_baseline_is_named_and_the_same_samples_pass_a_looser_gate():
    base = result("latency", [100.0, 80.0, 120.0, 95.0, 105.0])
    cur = result("latency", [110.0, 85.0, 135.0, 104.0, 118.0])
    c = compare_results(base, cur)
    assert c["rows"][0]["status"] == NOISY and set(c["rows"][0]["noisy_sides"]) == {"baseline", "current"}
    loose = compare_results(base, cur, thresholds=resolve_thresholds(["latency:+40%"]))
    assert loose["rows"][0]["noisy_sides"] == [] and loose["rows"][0]["status"] != NOISY


def test_one_sample_supports_no_threshold():
    c = compare_results(result("read", [20e9]), result("read", [10e9]))
    row = c["rows"][0]
    assert row["status"] == NOISY and row["baseline"]["ci_rel_halfwidth"] is None
    assert "its median's 95% CI is undefined (one sample)" in " ".join(row["warnings"])


def test_tight_samples_are_never_noisy():
    base, cur = result("read", draws(5, 20e9, 0.005, 15)), result("read", draws(6, 17e9, 0.005, 15))
    c = compare_results(base, cur)
    assert c["rows"][0]["status"] == "regression" and c["rows"][0]["noisy_sides"] == []


def test_noisy_cells_in_every_rendering():
    base = result("copy", draws(1, 20e9, 0.005, 15))
    cur = result("copy", np.concatenate([draws(2, 13e9, 0.01, 8), draws(3, 19e9, 0.01, 7)]))
    c = compare_results(base, cur, baseline_name="b.json", current_name="c.json")
    text = format_text(c)
    assert text.splitlines()[0] == ("numabench compare: PASS: 0 regression(s), 1 noisy, 0 inconclusive, 0 improved, "
                                    "0 ok; 0 added, 0 removed")
    assert "warning: copy 4k 1 GiB node 0->0 2 thr: c.json too noisy for bandwidth:-5%" in text
    assert ("warning: 1 cell(s) too noisy to support their threshold, so no verdict: "
            "copy 4k 1 GiB node 0->0 2 thr") in text
    md = format_markdown(c)
    assert "| **noisy** | copy 4k 1 GiB node 0->0 2 thr |" in md
    case = ET.fromstring(junit_xml(JUNIT_SUITE, junit_cases(c))).find("testsuite").find("testcase")
    assert case.find("failure") is None
    assert case.find("skipped").get("message").startswith("noisy: bandwidth ")
    assert "c.json too noisy for bandwidth:-5%" in case.find("skipped").get("message")
