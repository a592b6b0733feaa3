"""The regression gate through the console script: numabench compare, baseline, system show.

Exit codes are asserted exactly: 0 no regression, 1 regression, 2 bad input (one stderr line).
"""

import json
import os
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from numabench.host.system import read_environment
from numabench.host.topology import read_topology

TREE = os.path.join(os.path.dirname(__file__), "..", "data", "trees", "two-socket-smt")
TREE_SYS, TREE_PROC = os.path.join(TREE, "sys"), os.path.join(TREE, "proc")
MIB64 = 64 << 20


def tree_machine():
    """environment and topology of the two-socket-smt tree, as a run there would record them."""
    return read_environment(TREE_SYS, TREE_PROC), read_topology(TREE_SYS, TREE_PROC).to_dict()


def measurement(kernel, samples):
    key = "latency_ns" if kernel == "latency" else "bandwidth_bytes_per_s"
    return {"kernel": kernel, "cpu_node": 0, "mem_node": 0, "mem_nodes": [0], "policy": "bind", "pages": "4k",
            "size_bytes": MIB64, "threads": 1 if kernel == "latency" else 2, "samples": list(map(float, samples)),
            key: float(np.median(samples)), "pages_by_node": {"0": MIB64 // 4096},
            "placement": {"ok": True, "method": "mbind"}}


def write_result(path, latency_factor=1.0, bandwidth_factor=1.0, seed=0, n=15, **env):
    environment, topo = tree_machine()
    environment.update(env)
    rng = np.random.default_rng(seed)
    doc = {"schema_version": 1, "numabench_version": "0.1.0", "finished_unix": 1700000000.0,
           "environment": environment, "topology": topo, "notes": [], "errors": [], "interrupted": False,
           "measurements": [measurement("latency", rng.normal(100.0 * latency_factor, 2.0, n)),
                            measurement("read", rng.normal(20e9 * bandwidth_factor, 0.4e9, n))]}
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.fixture
def files(tmp_path):
    base = write_result(tmp_path / "base.json", seed=1)
    return tmp_path, base


def test_no_change_exits_0(cli, files):
    tmp, base = files
    cur = write_result(tmp / "cur.json", seed=2)
    proc = cli.run("compare", base, cur)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("numabench compare: PASS: 0 regression(s)")
    assert proc.stderr == ""


def test_three_percent_in_the_noise_exits_0(cli, files):
    tmp, base = files
    cur = write_result(tmp / "cur.json", latency_factor=1.03, bandwidth_factor=0.97, seed=3)
    proc = cli.run("compare", base, cur, "--fail-on", "latency:+5%", "--fail-on", "bandwidth:-5%")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("numabench compare: PASS: 0 regression(s)")
    rows = [line.split()[0] for line in proc.stdout.splitlines()[5:]]
    assert rows == ["ok", "ok"]


def test_ten_percent_regression_exits_1_with_every_report(cli, files):
    tmp, base = files
    cur = write_result(tmp / "cur.json", latency_factor=1.10, bandwidth_factor=0.90, seed=4)
    md, xml, js = tmp / "gate.md", tmp / "gate.xml", tmp / "gate.json"
    proc = cli.run("compare", base, cur, "--markdown", md, "--junit", xml, "--json", js)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("numabench compare: FAIL: 2 regression(s)")
    assert md.read_text().startswith("**numabench compare: FAIL**: 2 regression(s)")
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "2"
    doc = json.loads(js.read_text())
    assert doc["verdict"] == "fail" and [r["status"] for r in doc["rows"]] == ["regression", "regression"]
    assert doc["baseline"]["name"] == base and doc["current"]["name"] == str(tmp / "cur.json")


def test_a_looser_threshold_passes_the_same_regression(cli, files):
    tmp, base = files
    cur = write_result(tmp / "cur.json", latency_factor=1.10, bandwidth_factor=0.90, seed=4)
    proc = cli.run("compare", base, cur, "--fail-on", "latency:+20%", "--fail-on", "read:-20%")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("content, needle", [
    ("{not json", "not valid JSON"),
    ('{"benchmarks": [], "machine_info": {}}', "no integer schema_version; not a numabench result"),
    ('{"schema_version": 99, "measurements": []}', "schema_version 99 is not supported"),
    ("[1, 2]", "not a numabench result"),
])
def test_bad_files_exit_2_naming_the_file(cli, files, content, needle):
    tmp, base = files
    bad = tmp / "bad.json"
    bad.write_text(content)
    cli.one_line_error(cli.run("compare", base, bad), str(bad), needle)
    cli.one_line_error(cli.run("compare", bad, base), str(bad), needle)


def test_missing_file_exits_2(cli, files):
    tmp, base = files
    cli.one_line_error(cli.run("compare", base, tmp / "nope.json"), "nope.json: no such file")


@pytest.mark.parametrize("args, needle", [
    (["--fail-on", "latency:-5%"], "latency gets worse when it rises: write latency:+5%"),
    (["--fail-on", "median:5%"], "'median' is neither a metric nor a kernel"),
    (["--fail-on", "bandwidth-5"], "is not METRIC:CHANGE%"),
    (["--alpha", "2"], "--alpha 2.0 is not between 0 and 1"),
])
def test_bad_options_exit_2(cli, files, args, needle):
    _tmp, base = files
    cli.one_line_error(cli.run("compare", base, base, *args), needle)


def test_wrong_number_of_files_exits_2(cli, files):
    tmp, base = files
    cli.one_line_error(cli.run("compare", base), "compare needs BASELINE.json and CURRENT.json (got 1 file(s))")
    cli.one_line_error(cli.run("compare", base, base, "--baseline-dir", tmp),
                       "with --baseline-dir give only CURRENT.json (got 2 files)")


def test_different_machine_refused_then_allowed(cli, files):
    tmp, base = files
    cur = write_result(tmp / "cur.json", seed=2, cpu_model="Intel Xeon 8480+", thp_enabled="always")
    line = cli.one_line_error(cli.run("compare", base, cur), "cannot compare", "cpu_model", "'Intel Xeon 8480+'",
                              "thp_enabled", "--allow-different-machine")
    assert "kernel_release" not in line and "node_count" not in line
    proc = cli.run("compare", base, cur, "--allow-different-machine")
    assert proc.returncode == 0, proc.stderr
    assert "warning: different machines: cpu_model" in proc.stdout


def test_baseline_save_show_and_compare_from_the_directory(cli, files):
    tmp, base = files
    bdir = tmp / "baselines"
    proc = cli.run("baseline", "save", base, "--dir", bdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"saved {base} as {bdir}/")
    stored = [p for p in os.listdir(bdir) if p.endswith(".json")]
    assert len(stored) == 1
    fp = stored[0][:-5]
    cli.one_line_error(cli.run("baseline", "save", base, "--dir", bdir), "already holds the baseline", "--force")
    assert cli.run("baseline", "save", base, "--dir", bdir, "--force").returncode == 0

    # show: the tree's machine is the one the result was measured on
    proc = cli.run("baseline", "show", "--dir", bdir, "--json", "--sysfs-root", TREE)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["this_machine"]["fingerprint"] == fp
    assert [(b["fingerprint"], b["matches_this_machine"]) for b in doc["baselines"]] == [(fp, True)]
    proc = cli.run("baseline", "show", "--dir", bdir, "--sysfs-root", TREE)
    assert proc.returncode == 0 and f"* {fp}" in proc.stdout and "<- this machine" in proc.stdout

    # compare picks it and says so
    cur = write_result(tmp / "cur.json", latency_factor=1.10, seed=4)
    proc = cli.run("compare", "--baseline-dir", bdir, cur)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"baseline: {bdir}/{fp}.json (fingerprint {fp}, the machine of {cur}")

    # another machine has none
    other = write_result(tmp / "other.json", seed=5, cpu_model="Intel Xeon 8480+")
    cli.one_line_error(cli.run("compare", "--baseline-dir", bdir, other), "no baseline in", "Intel Xeon 8480+",
                       "numabench baseline save RESULT.json")


def test_baseline_dir_from_the_environment(cli, files):
    tmp, base = files
    bdir = tmp / "from-env"
    proc = cli.run("baseline", "save", base, env={"NUMABENCH_BASELINE_DIR": str(bdir)})
    assert proc.returncode == 0, proc.stderr
    assert len(os.listdir(bdir)) == 1
    proc = cli.run("baseline", "show", "--sysfs-root", TREE, env={"NUMABENCH_BASELINE_DIR": str(bdir)})
    assert proc.returncode == 0 and f"baselines in {bdir}:" in proc.stdout


def test_baseline_show_of_an_empty_directory(cli, tmp_path):
    proc = cli.run("baseline", "show", "--dir", tmp_path / "none", "--sysfs-root", TREE)
    assert proc.returncode == 0
    assert f"no baselines in {tmp_path / 'none'}" in proc.stdout


def test_system_show_on_a_tree(cli, tmp_path):
    root = tmp_path / "tree"
    shutil.copytree(TREE, root)
    (root / "proc" / "loadavg").write_text("0.10 0.10 0.10 1/100 1\n")
    proc = cli.run("system", "show", "--cpus", "0-1", "--json", "--sysfs-root", root)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["cpus"] == [0, 1]
    found = {f["name"]: f for f in doc["findings"]}
    assert found["thp"]["value"] == "madvise" and found["thp"]["ok"] is True
    assert found["load_average"]["value"]["1min"] == 0.1
    proc = cli.run("system", "show", "--cpus", "0-1", "--sysfs-root", root)
    assert proc.returncode == 0
    assert proc.stdout.startswith("noise check of CPUs 0-1 (100 ms sample of /proc/stat)")
    assert "ok       thp" in proc.stdout


def test_system_show_bad_cpus_exit_2(cli):
    cli.one_line_error(cli.run("system", "show", "--cpus", "100", "--sysfs-root", TREE), "CPU(s) 100 are not online")
    cli.one_line_error(cli.run("system", "show", "--cpus", "x"), "--cpus", "malformed CPU/node list")


def test_system_show_on_this_machine(cli):
    proc = cli.run("system", "show", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["cpus"] == sorted(os.sched_getaffinity(0))
    assert {f["name"] for f in doc["findings"]} == {"cpufreq_governor", "turbo", "thp", "load_average",
                                                    "runnable_tasks", "cpu_busy", "smt_siblings_busy"}


@pytest.mark.native
def test_compare_real_runs(cli, tmp_path):
    """Two real runs of this machine are comparable, cell for cell; the exit code follows the verdict
    (which depends on this VM's noise, so it is not asserted)."""
    paths = []
    for name in ("a.json", "b.json"):
        path = tmp_path / name
        proc = cli.run("run", "--size", "16M", "--repeat", "3", "--kernels", "latency,read", "--pages", "4k",
                       "-o", path)
        assert proc.returncode == 0, proc.stderr
        paths.append(path)
    js = tmp_path / "c.json"
    proc = cli.run("compare", *paths, "--json", js)
    doc = json.loads(js.read_text())
    assert proc.returncode == (1 if doc["verdict"] == "fail" else 0), proc.stderr
    assert [r["cell"]["kernel"] for r in doc["rows"]] == ["latency", "read"]
    assert doc["added"] == [] and doc["removed"] == [] and doc["machine_differences"] == []
    assert all("too few repetitions" in r["warnings"][0] for r in doc["rows"])
    same = cli.run("compare", paths[0], paths[0])
    assert same.returncode == 0 and "0 regression(s)" in same.stdout
