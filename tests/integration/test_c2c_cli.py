"""numabench c2c end to end on this machine: the pair's figures in every output, the line proven on
its node, bad input as one line with exit 2, and SIGINT/SIGTERM keeping the pairs measured."""

import csv
import json
import os
import signal

import pytest
from conftest import run_cli
from test_interrupt_cli import interrupt_when

from numabench.host.cgroups import read_process_cpuset

pytestmark = pytest.mark.native

CPUS = sorted(os.sched_getaffinity(0))
TWO = pytest.mark.skipif(len(CPUS) < 2, reason=f"c2c needs two allowed CPUs; this process has {CPUS}")


@TWO
def test_one_pair_in_every_output(tmp_path):
    a, b = CPUS[0], CPUS[1]
    out, table, prom, page = tmp_path / "c.json", tmp_path / "c.csv", tmp_path / "c.prom", tmp_path / "c.html"
    proc = run_cli("c2c", "--pairs", f"{a}:{b}", "--samples", "3", "-o", out, "--csv", table, "--prometheus", prom,
                   "--html", page, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    (m,) = doc["measurements"]
    assert m["kernel"] == "c2c" and m["c2c_mode"] == "hitm" and m["cpus"] == [a, b]
    assert (m["initiator_cpu"], m["responder_cpu"]) == (a, b) and len(m["samples"]) == 3
    assert m["relation"] in ("smt", "same-llc", "other-llc", "same-node", "other-node")
    # The line's one page was located where it was bound (the initiator's node by default).
    assert m["placement"]["ok"] and m["placement"]["verified_by"] in ("move_pages", "numa_maps")
    assert m["pages_by_node"] == {str(m["mem_node"]): 1} and m["mem_node"] == m["initiator_node"]
    assert m["round_trips_done"] == m["responses_done"] > 3 * m["round_trips_per_sample"]
    section = doc["c2c"]
    assert section["latency_ns"][str(a)][str(b)] == m["latency_ns"]
    assert section["relations"][m["relation"]]["measured"] == 1
    assert "error" not in proc.stderr
    text_row = [line for line in proc.stdout.splitlines() if line.startswith(m["relation"])]
    assert text_row and "1/1" in text_row[0]
    (row,) = list(csv.DictReader(table.open()))
    assert (row["initiator_cpu"], row["responder_cpu"], row["relation"]) == (str(a), str(b), m["relation"])
    assert "numabench_c2c_latency_seconds{" in prom.read_text()
    assert page.read_text().startswith("<!DOCTYPE html>") and "data:image/png;base64," in page.read_text()


@TWO
def test_clean_mode_and_a_chosen_line_node_on_the_matrix(tmp_path):
    node = min(read_process_cpuset().mems_allowed)
    proc = run_cli("c2c", "--cpus", f"{CPUS[0]},{CPUS[1]}", "--mode", "clean", "--line-node", node, "--samples", "2",
                   "--json", cwd=tmp_path)
    if proc.returncode == 2 and "clflush" in proc.stderr:
        pytest.skip("clean-line c2c needs clflush (x86)")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert sorted((m["initiator_cpu"], m["responder_cpu"]) for m in doc["measurements"]) == \
        [(CPUS[0], CPUS[1]), (CPUS[1], CPUS[0])]
    assert all(m["c2c_mode"] == "clean" and m["mem_node"] == node and m["pages_by_node"] == {str(node): 1}
               for m in doc["measurements"])


@pytest.mark.parametrize("args, words", [
    (["--cpus", f"{CPUS[0]},4095"], "outside this process's allowed online CPUs"),
    (["--cpus", str(CPUS[0])], "c2c needs two CPUs"),
    (["--line-node", "4000"], "--line-node 4000 does not exist"),
    (["--nodes", "4000"], "NUMA node 4000 does not exist"),
    (["--pairs", "0:0"], "paired with itself"),
    (["--samples", "0"], "--samples 0"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, words):
    proc = run_cli("c2c", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("numabench: error: ") and words in proc.stderr
    assert "Traceback" not in proc.stderr and os.listdir(tmp_path) == []


@TWO
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interruption_keeps_the_pairs_measured(tmp_path, sig, code):
    a, b = CPUS[0], CPUS[1]
    out = tmp_path / "c.json"
    # 100 samples (0.5 s or more): the second pair is still running when the signal comes.
    rc, _, err = interrupt_when(["c2c", "--pairs", f"{a}:{b},{b}:{a}", "--samples", "100", "-o", out],
                                "c2c hitm 2/2", sig, tmp_path)
    assert rc == code, err
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and doc["interrupted_by"] == sig.name
    assert [(m["initiator_cpu"], m["responder_cpu"]) for m in doc["measurements"]] == [(a, b)]
    assert doc["c2c"]["latency_ns"][str(a)][str(b)] == doc["measurements"][0]["latency_ns"]
    assert doc["c2c"]["latency_ns"][str(b)][str(a)] is None


def test_qualify_skips_the_c2c_check_on_one_cpu_node(tmp_path):
    from numabench.host.topology import read_topology

    if len(read_topology().cpu_nodes) != 1:
        pytest.skip("this machine has several CPU nodes: the guest checks cover them")
    spec = tmp_path / "spec.yaml"
    spec.write_text("checks:\n  c2c_other_node_ns_max: 100\n")
    out = tmp_path / "q.json"
    proc = run_cli("qualify", spec, "-o", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    (check,) = doc["qualification"]["checks"]
    assert check["status"] == "skipped" and "2+ NUMA nodes" in check["detail"]
    assert any("c2c not measured" in n for n in doc["notes"]) and doc["measurements"] == []
