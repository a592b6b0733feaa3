"""`numabench run` end to end: refusals before any memory is touched, a full small
run and its result files, the latency sweep, first-touch placement."""

import json
import os
import statistics

import pandas as pd
import pytest

from numabench.errors import ResultError
from numabench.measure.spec import KERNELS
from numabench.native import _native
from numabench.results import schema as results

MiB = 1 << 20
SIZE = 64 * MiB
PAGES_4K = SIZE // 4096
ALL_KERNELS = "latency,read,write,write_nt,copy,copy_nt,triad"


def live_node_ids():
    base = "/sys/devices/system/node"
    if not os.path.isdir(base):
        return [0]
    return sorted(int(d[4:]) for d in os.listdir(base) if d.startswith("node") and d[4:].isdigit())


def missing_node(preferred):
    live = live_node_ids()
    return next(n for n in (preferred, 63, 255, 1023) if n not in live)


def mem_total_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


# --------------------------------------------------------------------------- refusals


def test_cpu_node_that_does_not_exist(cli):
    node = missing_node(7)
    proc = cli("run", "--cpu-node", node, "--size", "1M", "--repeat", "1")
    line = cli.one_line_error(proc, f"node {node}", "does not exist")
    assert "numabench topology" in line  # the fix: how to see the nodes


def test_mem_node_that_does_not_exist(cli):
    node = missing_node(3)
    proc = cli("run", "--mem-node", node, "--size", "1M", "--repeat", "1")
    cli.one_line_error(proc, f"node {node}", "does not exist")


def test_unknown_kernel_lists_the_valid_ones(cli):
    proc = cli("run", "--kernels", "bogus", "--size", "1M")
    line = cli.one_line_error(proc, "bogus")
    for kernel in KERNELS:
        assert kernel in line.split("bogus", 1)[1], kernel


def test_size_larger_than_free_memory_is_refused_before_allocating(cli):
    if mem_total_bytes() >= 1 << 40:
        pytest.skip("this machine has 1 TiB or more: 1T might fit")
    proc = cli("run", "--size", "1T", "--kernels", "latency", "--repeat", "1")
    # One line: no "placing and faulting in" progress line came before it.
    line = cli.one_line_error(proc, "1 TiB", "free memory")
    assert "--size" in line


def test_invalid_size(cli):
    proc = cli("run", "--size", "12Q")
    cli.one_line_error(proc, "invalid size", "12Q")


def test_too_many_threads(cli):
    threads = (os.cpu_count() or 1) + 7
    proc = cli("run", "--threads", threads, "--size", "1M", "--kernels", "read", "--repeat", "1")
    cli.one_line_error(proc, f"--threads {threads}", "allowed CPUs")


def test_unknown_page_kind(cli):
    proc = cli("run", "--pages", "5m", "--size", "1M")
    line = cli.one_line_error(proc, "5m")
    assert "4k" in line and "2m" in line and "1g" in line


@pytest.mark.skipif(_native.isa_supported("avx512"), reason="this CPU has AVX-512: nothing to refuse")
def test_unsupported_isa_is_named(cli):
    proc = cli("run", "--isa", "avx512", "--kernels", "read", "--size", "1M", "--pages", "4k", "--repeat", "1")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("numabench: error:")
    assert "avx512" in last.lower(), last


@pytest.mark.parametrize("which", ["-o", "--csv"])
def test_existing_output_is_not_overwritten(cli, tmp_path, which):
    existing = tmp_path / "old.out"
    existing.write_text("keep me\n")
    proc = cli("run", which, existing, "--size", "1M", "--kernels", "latency", "--repeat", "1")
    cli.one_line_error(proc, str(existing), "--force")
    assert existing.read_text() == "keep me\n"


def test_force_overwrites(cli, tmp_path):
    existing = tmp_path / "old.json"
    existing.write_text("keep me\n")
    proc = cli("run", "-o", existing, "--force", "--size", "1M", "--kernels", "latency", "--repeat", "1",
               "--pages", "4k")
    assert proc.returncode == 0, proc.stderr
    loaded = results.load(str(existing))
    assert [m.kernel for m in loaded.measurements] == ["latency"]
    # The atomic write left no temporary file behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]


# --------------------------------------------------------------------------- a full small run


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    from conftest import run_cli

    d = tmp_path_factory.mktemp("run")
    out, csv = d / "OUT.json", d / "OUT.csv"
    # --pages 4k: without it a run adds 2m measurements whenever someone has
    # reserved 2 MiB hugepages on this machine.
    proc = run_cli("run", "--size", "64M", "--repeat", "2", "--kernels", ALL_KERNELS, "-o", out, "--csv", csv,
                   "--pages", "4k", timeout=300)
    return proc, out, csv


def test_full_run_exits_0(full_run):
    proc, out, csv = full_run
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.exists() and csv.exists()


def test_full_run_json(full_run):
    proc, out, _ = full_run
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 1 and type(doc["schema_version"]) is int
    env = doc["environment"]
    assert env["kernel_release"] == os.uname().release
    assert isinstance(env["cpu_model"], str) and env["cpu_model"]
    assert env["thp_enabled"] in ("always", "madvise", "never")
    assert env["cpuset"]["cpus_allowed"] == sorted(os.sched_getaffinity(0))
    assert doc["errors"] == [] and doc["interrupted"] is False
    ms = doc["measurements"]
    assert [m["kernel"] for m in ms] == ALL_KERNELS.split(",")
    node0_cpus = [n for n in doc["topology"]["nodes"] if n["id"] == 0][0]["cpus"]
    allowed = sorted(set(node0_cpus) & os.sched_getaffinity(0))
    for m in ms:
        assert m["cpu_node"] == 0 and m["mem_node"] == 0, m["kernel"]
        assert m["pages"] == "4k"
        assert m["size_bytes"] == SIZE
        assert len(m["samples"]) == 2
        assert m["pages_by_node"] == {"0": PAGES_4K}
        assert m["placement"]["ok"] is True
        assert m["placement"]["method"] == "mbind"
        assert m["placement"]["verified_by"] == "move_pages"
        assert m["threads"] == len(m["cpus"])
        if m["kernel"] == "latency":
            assert m["threads"] == 1 and m["cpus"] == allowed[:1]
            assert m["latency_ns"] == statistics.median(m["samples"])
            assert "bandwidth_bytes_per_s" not in m
            assert all(s > 0 for s in m["samples"])
        else:
            assert m["cpus"] == allowed
            assert m["bandwidth_bytes_per_s"] == statistics.median(m["samples"])
            assert "latency_ns" not in m
            assert all(s > 0 for s in m["samples"])
    read = [m for m in ms if m["kernel"] == "read"][0]
    assert read["checksum_ok"] is True


def test_full_run_csv(full_run):
    _, out, csv = full_run
    df = pd.read_csv(csv)
    assert len(df) == 7
    assert list(df["kernel"]) == ALL_KERNELS.split(",")
    assert set(df["size_bytes"]) == {SIZE}
    assert set(df["pages_by_node"]) == {f"0:{PAGES_4K}"}
    assert df["placement_ok"].all()
    doc = json.loads(out.read_text())
    lat = doc["measurements"][0]["latency_ns"]
    assert df.loc[0, "latency_ns"] == pytest.approx(lat, rel=1e-12)


def test_results_load_accepts_and_rejects(full_run, tmp_path):
    _, out, _ = full_run
    loaded = results.load(str(out))
    assert len(loaded.measurements) == 7
    doc = json.loads(out.read_text())

    future = tmp_path / "future.json"
    future.write_text(json.dumps({**doc, "schema_version": 99}))
    with pytest.raises(ResultError, match="99") as info:
        results.load(str(future))
    assert str(future) in str(info.value)

    no_measurements = tmp_path / "nomeas.json"
    no_measurements.write_text(json.dumps({k: v for k, v in doc.items() if k != "measurements"}))
    with pytest.raises(ResultError, match="measurements") as info:
        results.load(str(no_measurements))
    assert str(no_measurements) in str(info.value)

    incomplete = tmp_path / "incomplete.json"
    bad = json.loads(json.dumps(doc))
    del bad["measurements"][3]["pages_by_node"]
    incomplete.write_text(json.dumps(bad))
    with pytest.raises(ResultError, match="measurement 3 lacks pages_by_node") as info:
        results.load(str(incomplete))
    assert str(incomplete) in str(info.value)

    garbage = tmp_path / "garbage.json"
    garbage.write_text("{ this is not json")
    with pytest.raises(ResultError, match="not valid JSON") as info:
        results.load(str(garbage))
    assert str(garbage) in str(info.value)

    with pytest.raises(ResultError, match="no such file"):
        results.load(str(tmp_path / "absent.json"))


# --------------------------------------------------------------------------- sweep, first touch


def test_latency_sweep(cli):
    proc = cli("run", "--sizes", "16K..1M", "--repeat", "1", "--pages", "4k", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    ms = doc["measurements"]
    expected = [16 << 10 << k for k in range(7)]  # 16K, 32K, ..., 1M
    assert [m["size_bytes"] for m in ms] == expected
    assert {m["kernel"] for m in ms} == {"latency"}
    for m in ms:
        assert len(m["samples"]) == 1
        assert m["latency_ns"] == m["samples"][0]
        assert m["pages_by_node"] == {"0": m["size_bytes"] // 4096}
    # The default kernels included bandwidth ones: the run says they were ignored.
    assert any("latency only" in note for note in doc["notes"])


def test_first_touch(cli):
    proc = cli("run", "--first-touch", "--size", "64M", "--kernels", "latency", "--repeat", "1", "--json",
               "--pages", "4k")
    assert proc.returncode == 0, proc.stderr
    (m,) = json.loads(proc.stdout)["measurements"]
    assert m["placement"]["method"] == "first-touch"
    assert m["placement"]["ok"] is True
    assert m["pages_by_node"] == {"0": PAGES_4K}
    assert any("first touch" in note for note in m["placement"]["notes"])


def test_matrix_on_this_machine(cli, tmp_path):
    out = tmp_path / "matrix.json"
    proc = cli("matrix", "--size", "16M", "--repeat", "1", "-o", out, "--csv", tmp_path / "matrix.csv")
    assert proc.returncode == 0, proc.stderr
    assert "Idle latency (ns)" in proc.stdout and "Read bandwidth (GB/s)" in proc.stdout
    doc = json.loads(out.read_text())
    mx = doc["matrix"]
    assert mx["rows"] == mx["columns"] == [n["id"] for n in doc["topology"]["nodes"] if n["cpus"]]
    for m in doc["measurements"]:
        assert m["pages_by_node"] == {str(m["mem_node"]): 4096}
        assert mx["status"][str(m["cpu_node"])][str(m["mem_node"])] == "measured"


def test_loaded_latency_curve(cli):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("loaded latency needs two CPUs")
    proc = cli("loaded", "--size", "16M", "--inject-size", "16M", "--delays", "0,500", "--repeat", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    points = json.loads(proc.stdout)["measurements"]
    assert [p["delay"] for p in points] == [0, 500]
    for p in points:
        assert p["kernel"] == "loaded_latency"
        assert p["latency_ns"] > 0 and p["inject_bandwidth_bytes_per_s"] > 0
        assert p["placement"]["ok"] and p["inject_placement"]["ok"]


def test_run_records_pod_verdict_numastat_and_writes_prometheus(cli, tmp_path):
    out, prom = tmp_path / "r.json", tmp_path / "numabench.prom"
    proc = cli("run", "--size", "16M", "--repeat", "1", "--kernels", "latency", "--pages", "4k", "-o", out,
               "--prometheus", prom)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    pod = result["environment"]["pod"]
    assert pod["verdict"] in ("aligned", "misaligned", "unpinned", "single-node")
    noise = result["environment"]["noise"]
    assert noise["cpus"] == [result["measurements"][0]["cpus"][0]]
    assert {f["name"] for f in noise["findings"]} >= {"cpufreq_governor", "load_average", "cpu_busy"}
    assert pod["cpus"] == sorted(os.sched_getaffinity(0))
    # The run faulted in 4096 pages: numastat saw at least that many local hits.
    hits = sum(c["numa_hit"] for c in result["numastat_delta"].values())
    assert hits >= 4096
    lines = prom.read_text().splitlines()
    (latency,) = [line for line in lines if line.startswith("numabench_latency_seconds{")]
    assert float(latency.rsplit(" ", 1)[1]) == result["measurements"][0]["latency_ns"] / 1e9


def test_prometheus_file_must_end_in_prom(cli, tmp_path):
    proc = cli("run", "--size", "16M", "--repeat", "1", "--kernels", "latency", "--prometheus", tmp_path / "x.txt")
    cli.one_line_error(proc, ".prom")
