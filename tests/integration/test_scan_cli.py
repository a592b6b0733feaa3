"""numabench scan from the command line: outputs of a tiny scan, bad input as one line with exit 2,
and SIGINT after the first chunk keeping what was measured."""

import json
import os
import shlex
import signal
import subprocess

import pytest
from conftest import numabench_command, scratch_cgroup
from test_interrupt_cli import interrupt_when

from numabench.host.topology import read_topology

pytestmark = pytest.mark.native

FAST = ["--repeat", "1", "--sample-seconds", "0.02"]


def numabench(*args, cwd=None):
    return subprocess.run([*numabench_command(), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def node0_free_gib():
    return read_topology().node_mem_free_bytes(0) >> 30


def test_a_tiny_scan_writes_every_output(tmp_path):
    out, csv, prom, html = (tmp_path / n for n in ("s.json", "s.csv", "s.prom", "s.html"))
    p = numabench("scan", "--node", "0", "--chunk", "64M", "--max-chunks", "3", *FAST, "-o", out, "--csv", csv,
                  "--prometheus", prom, "--html", html)
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    reads = [m for m in doc["measurements"] if m["kernel"] == "scan_read"]
    assert [m["chunk"] for m in reads] == [0, 1, 2]
    assert all(m["placement"]["ok"] and m["pages_by_node"] == {"0": 16384} for m in reads)
    assert doc["scan"]["chunks_done"] == 3 and doc["scan"]["node"] == 0
    assert "slowest chunk" in p.stdout and "physical" in p.stdout
    assert csv.read_text().splitlines()[0].endswith(",chunk") and len(csv.read_text().splitlines()) == 4
    assert prom.read_text().count("numabench_scan_chunk_bandwidth_bytes_per_second{") == 3
    page = html.read_text()
    assert "data:image/png;base64," in page and "numabench memory scan: node 0" in page and page.count("<tr>") >= 4


@pytest.mark.parametrize("args,words", [
    (["--node", "9"], "node 9"),
    (["--node", "0", "--chunk", "0"], "--chunk"),
    (["--node", "0", "--chunk", "4096G"], "not even one 4 TiB chunk fits"),
    (["--node", "0", "--chunk", "1G", "--size", "4096G"], "does not fit"),
    (["--node", "0", "--margin", "150%"], "--margin"),
    (["--node", "0", "--max-chunks", "0"], "--max-chunks"),
])
def test_bad_input_is_one_line_and_exit_2(args, words, tmp_path):
    p = numabench("scan", *args, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("numabench: error: ") and words in lines[0], p.stderr
    assert "Traceback" not in p.stderr and not list(tmp_path.iterdir())


def test_a_scan_larger_than_free_memory_names_the_figures():
    p = numabench("scan", "--node", "0", "--chunk", "1G", "--size", f"{node0_free_gib() + 1}G")
    assert p.returncode == 2
    assert "free" in p.stderr and "margin" in p.stderr and "leaves" in p.stderr


def test_sigint_after_the_first_chunk_keeps_it(tmp_path):
    out = tmp_path / "s.json"
    rc, _, err = interrupt_when(["scan", "--node", "0", "--chunk", "64M", "--max-chunks", "20", "--repeat", "3",
                                 "-o", out], "[chunk 2/", signal.SIGINT, tmp_path)
    assert rc == 130, err
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and doc["interrupted_by"] == "SIGINT"
    chunks = [m["chunk"] for m in doc["measurements"] if m["kernel"] == "scan_read"]
    assert chunks[:1] == [0] and len(chunks) < 20
    assert doc["scan"]["chunks_done"] == len(chunks) and "interrupted" in doc["scan"]["stopped"]


def test_qualify_scans_when_the_check_is_asked_and_judges_a_scan_result(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: scan\nmeasure:\n  repeat: 1\n  scan: {nodes: [0], chunk: 64M, max_chunks: 2}\n"
                    "checks:\n  scan_slowest_chunk_pct_max: 1000\n")
    out, html = tmp_path / "q.json", tmp_path / "q.html"
    p = numabench("qualify", spec, "-o", out, "--html", html)
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    assert [m["kernel"] for m in doc["measurements"]] == ["scan_read", "scan_read"]
    assert doc["scans"][0]["node"] == 0 and doc["scans"][0]["chunks_done"] == 2
    [check] = doc["qualification"]["checks"]
    assert check["status"] == "pass" and "node 0: slowest chunk" in check["detail"]
    assert "Memory scan" in html.read_text() and "data:image/png;base64," in html.read_text()
    # The same check on a numabench scan result, without measuring.
    scan = tmp_path / "s.json"
    assert numabench("scan", "--node", "0", "--chunk", "64M", "--max-chunks", "2", *FAST, "-o", scan).returncode == 0
    spec.write_text("checks:\n  scan_slowest_chunk_pct_max: 1000\n")
    p = numabench("qualify", spec, "--from", scan, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["qualification"]["checks"][0]["measured"] >= 0


def _memory_cgroup_v1_dir():
    """This process's cgroup v1 memory directory, or None."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if "memory" in controllers.split(","):
                d = os.path.join("/sys/fs/cgroup/memory", path.lstrip("/"))
                return d if os.path.isdir(d) else None
    return None


@pytest.fixture
def memory_cgroup_1g():
    """A child memory cgroup (v1) limited to 1 GiB; removed at teardown."""
    parent = _memory_cgroup_v1_dir()
    if parent is None or not os.access(parent, os.W_OK):
        pytest.skip("no writable cgroup v1 memory hierarchy for this process")
    with scratch_cgroup(parent, "numabench-scan", (("memory.limit_in_bytes", 1 << 30),)) as path:
        yield path


@pytest.mark.root
def test_a_memory_cgroup_limit_bounds_the_scan_instead_of_an_oom_kill(memory_cgroup_1g, tmp_path):
    out = tmp_path / "s.json"
    argv = " ".join(shlex.quote(str(a)) for a in [*numabench_command(), "scan", "--node", "0", "--chunk", "64M",
                                                  *FAST, "-o", out])
    script = f"echo $$ > {shlex.quote(os.path.join(memory_cgroup_1g, 'cgroup.procs'))} && exec {argv}"
    p = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr  # an OOM kill would be -9
    doc = json.loads(out.read_text())
    assert any("memory cgroup allows" in n for n in doc["notes"]), doc["notes"]
    done = doc["scan"]["chunks_done"]
    assert 1 <= done <= (1 << 30) // (64 << 20) - 2, done
