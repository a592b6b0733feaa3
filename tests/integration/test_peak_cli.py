"""`numabench peak` and `numabench run --threads 1,2 / --threads-sweep` end to end, on tiny buffers
and short samples: what each measurement claims (mix, byte counts, threads, CPUs, placement), the
outputs, one-line refusals with exit 2, and interruption. Nothing here judges a timing."""

import json
import os
import signal

import pytest
from conftest import run_cli
from test_interrupt_cli import interrupt_when

pytestmark = pytest.mark.native

CPUS = sorted(os.sched_getaffinity(0))
FAST = ["--size", "4M", "--sample-seconds", "0.01", "--repeat", "2"]
READS_WRITES = {"1:0": (1, 0), "3:1": (3, 1), "2:1": (2, 1), "1:1": (1, 1), "triad": (2, 1)}


def one_error_line(proc):
    lines = proc.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("numabench: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[-1]


def test_peak_measures_every_mix_on_every_allowed_cpu(tmp_path):
    out, csv, prom, html = tmp_path / "p.json", tmp_path / "p.csv", tmp_path / "p.prom", tmp_path / "p.html"
    proc = run_cli("peak", *FAST, "-o", out, "--csv", csv, "--prometheus", prom, "--html", html, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    ms = doc["measurements"]
    assert [m["kernel"] for m in ms] == ["peak_1to0", "peak_3to1", "peak_2to1", "peak_1to1", "peak_triad"]
    node = ms[0]["cpu_node"]
    for m in ms:
        reads, writes = READS_WRITES[m["mix"]]
        # Byte counting: reads plus writes per pass, in the mix's ratio.
        assert m["bytes_read_per_pass"] * writes == m["bytes_written_per_pass"] * reads
        assert m["bytes_per_pass"] == m["bytes_read_per_pass"] + m["bytes_written_per_pass"]
        assert m["bytes_read_per_pass"] == 8 * reads * m["elements_per_array"]
        # Every allowed CPU of the node, each once; the pages proven on the node.
        assert m["threads"] == len(m["cpus"]) == len(set(m["cpus"]))
        assert set(m["cpus"]) <= set(CPUS)
        assert m["placement"]["ok"] is True and set(m["pages_by_node"]) == {str(node)}
        assert len(m["samples"]) == 2 and m["stats"]["n"] == 2
    node_cpus = next(n["cpus"] for n in doc["topology"]["nodes"] if n["id"] == node)
    assert {m["threads"] for m in ms} == {len(set(node_cpus) & set(CPUS))}
    assert "ALL Reads" in proc.stdout and "Stream-triad like" in proc.stdout
    assert csv.read_text().count("\npeak_") == 5
    assert prom.read_text().count('numabench_bandwidth_bytes_per_second{') == 5
    assert "<h2>Measurements</h2>" in html.read_text() and "peak_triad" in html.read_text()


def test_peak_mixes_and_threads_options(tmp_path):
    proc = run_cli("peak", *FAST, "--mixes", "triad,1:1", "--threads", "1", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ms = json.loads(proc.stdout)["measurements"]
    assert [(m["mix"], m["threads"], m["native_kernel"]) for m in ms] == [("1:1", 1, "mix_1to1"),
                                                                          ("triad", 1, "triad")]


@pytest.mark.parametrize("args, needle", [
    (["--mixes", "4:1"], "unknown read/write mix 4:1"),
    (["--threads", str(len(CPUS) + 1)], f"--threads {len(CPUS) + 1} but CPU node"),
    (["--threads", f"1,{len(CPUS) + 5}"], f"--threads {len(CPUS) + 5} but CPU node"),
    (["--node", "0", "--all-nodes"], "--node and --all-nodes"),
    (["--node", "63"], "63"),
])
def test_peak_bad_input_is_one_line_and_exit_2(tmp_path, args, needle):
    proc = run_cli("peak", *FAST, *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert needle in one_error_line(proc)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(len(CPUS) < 2, reason=f"a sweep of 1 and 2 threads needs 2 CPUs, this process may use {len(CPUS)}")
def test_run_threads_sweep_measures_each_count_on_distinct_cpus(tmp_path):
    out = tmp_path / "s.json"
    proc = run_cli("run", *FAST, "--kernels", "latency,read,triad", "--pages", "4k", "--threads", "2,1", "-o", out,
                   "--csv", tmp_path / "s.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ms = json.loads(out.read_text())["measurements"]
    assert [(m["kernel"], m["threads"]) for m in ms] == [("latency", 1), ("read", 1), ("read", 2), ("triad", 1),
                                                         ("triad", 2)]
    for m in ms[1:]:
        assert m["thread_sweep"] == [1, 2]
        assert len(set(m["cpus"])) == m["threads"] and m["cpus"] == ms[2]["cpus"][:m["threads"]]
        assert m["placement"]["ok"] is True
    assert "bandwidth vs threads (GB/s):" in proc.stdout and "saturation: read node" in proc.stdout
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert [r.split(",")[6] for r in rows[1:]] == ["1", "1", "2", "1", "2"]  # the threads column


def test_run_threads_sweep_flag(tmp_path):
    proc = run_cli("run", *FAST, "--kernels", "read", "--pages", "4k", "--threads-sweep", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    threads = [m["threads"] for m in json.loads(proc.stdout)["measurements"]]
    expected = sorted({len(CPUS)} | {2 ** i for i in range(8) if 2 ** i < len(CPUS)})
    assert threads == expected


def test_run_threads_sweep_refusals(tmp_path):
    proc = run_cli("run", *FAST, "--threads", "1..x", cwd=tmp_path)
    assert proc.returncode == 2 and "--threads" in one_error_line(proc)
    proc = run_cli("run", *FAST, "--threads", "1", "--threads-sweep", cwd=tmp_path)
    assert proc.returncode == 2 and "not both" in one_error_line(proc)


def test_sigterm_during_peak_keeps_the_finished_mixes(tmp_path):
    out = tmp_path / "p.json"
    rc, _, err = interrupt_when(["peak", "--size", "16M", "--repeat", "10", "--sample-seconds", "0.05", "-o", out],
                                ": peak_2to1", signal.SIGTERM, tmp_path)
    assert rc == 143, err
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and doc["interrupted_by"] == "SIGTERM"
    assert [m["kernel"] for m in doc["measurements"]] == ["peak_1to0", "peak_3to1"]


def test_peak_samples_adaptively_as_run_does(tmp_path):
    proc = run_cli("peak", "--size", "4M", "--sample-seconds", "0.01", "--mixes", "1:1", "--min-samples", "3",
                   "--max-samples", "4", "--target-ci", "50%", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (m,) = json.loads(proc.stdout)["measurements"]
    assert m["sampling"]["mode"] == "adaptive" and 3 <= m["sampling"]["samples_taken"] <= 4
    assert len(m["samples"]) == m["sampling"]["samples_taken"]
