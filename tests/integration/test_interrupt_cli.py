"""SIGINT and SIGTERM (what Kubernetes sends on deletion and eviction) in the middle of a measuring
command: what was measured is written, the result says it was interrupted, the exit status is
130 or 143, and an interrupted qualification is never a pass."""

import json
import os
import signal
import subprocess
import time

import pytest
from conftest import numabench_command

pytestmark = pytest.mark.native

CPUS = sorted(os.sched_getaffinity(0))


def interrupt_when(args, trigger, sig, cwd, timeout=120):
    """Start `numabench ARGS`, send `sig` once a stderr line contains `trigger`, wait for the end."""
    proc = subprocess.Popen([*numabench_command(), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd)
    seen = []
    deadline = time.monotonic() + timeout
    try:
        for line in proc.stderr:
            seen.append(line)
            if trigger in line:
                proc.send_signal(sig)
                break
            assert time.monotonic() < deadline, "".join(seen)
        else:
            pytest.fail(f"never saw {trigger!r}: {''.join(seen)}")
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, "".join(seen) + err


def test_sigterm_during_run_keeps_the_finished_kernels(tmp_path):
    out = tmp_path / "r.json"
    rc, _, err = interrupt_when(["run", "--size", "64M", "--kernels", "latency,read,copy", "--repeat", "10",
                                 "--pages", "4k", "-o", out, "--csv", tmp_path / "r.csv"],
                                ": read", signal.SIGTERM, tmp_path)
    assert rc == 143, err
    assert "interrupted by SIGTERM" in err.splitlines()[-1]
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and doc["interrupted_by"] == "SIGTERM"
    assert [m["kernel"] for m in doc["measurements"]][:1] == ["latency"]
    assert "noise" in doc["environment"]
    assert (tmp_path / "r.csv").read_text().startswith("kernel,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.json"]


@pytest.mark.skipif(len(CPUS) < 2, reason=f"loaded latency needs 2 CPUs, this process may use {len(CPUS)}")
def test_sigint_during_loaded_keeps_the_finished_points(tmp_path):
    out = tmp_path / "l.json"
    rc, _, err = interrupt_when(["loaded", "--size", "16M", "--inject-size", "16M", "--delays", "0,20,50,100,200",
                                 "--repeat", "5", "-o", out], "delay 50,", signal.SIGINT, tmp_path)
    assert rc == 130, err
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and doc["interrupted_by"] == "SIGINT"
    assert [m["delay"] for m in doc["measurements"]] == [0, 20]
    assert "numastat_delta" in doc and "noise" in doc["environment"]


def test_an_interrupted_qualification_is_never_a_pass(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: cut short\nmeasure:\n  size: 16M\n  repeat: 10\n"
                    "  latency_sweep: {sizes: [16K, 1M, 4M, 16M]}\nchecks:\n  nodes: 1\n  placement: true\n")
    out, junit = tmp_path / "q.json", tmp_path / "q.xml"
    rc, stdout, err = interrupt_when(["qualify", spec, "-o", out, "--junit", junit], "[3/4]", signal.SIGTERM,
                                     tmp_path)
    assert rc == 143, err
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and doc["qualification"]["verdict"] == "interrupted"
    assert "qualification: INTERRUPTED" in stdout
    xml = junit.read_text()
    assert 'name="complete run"' in xml and "<failure" in xml
