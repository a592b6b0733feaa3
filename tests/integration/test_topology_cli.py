"""`numabench topology` as a user runs it: live machine, captured trees, errors."""

import json
import os
import subprocess
import sys

from conftest import TREES_DIR

from numabench.util.cpulist import parse_cpulist

CXL = os.path.join(TREES_DIR, "four-node-cxl")


def online_cpus():
    with open("/sys/devices/system/cpu/online") as f:
        return list(parse_cpulist(f.read()))


def live_node_ids():
    base = "/sys/devices/system/node"
    if not os.path.isdir(base):
        return [0]  # no NUMA: still one node
    return sorted(int(d[4:]) for d in os.listdir(base) if d.startswith("node") and d[4:].isdigit())


def test_text_output_of_this_machine(cli):
    proc = cli("topology")
    assert proc.returncode == 0, proc.stderr
    nodes = live_node_ids()
    first = proc.stdout.splitlines()[0]
    if nodes == [0]:
        assert first == "available: 1 nodes (0)"
        assert f"node 0 cpus: {' '.join(map(str, online_cpus()))}" in proc.stdout.splitlines()
    else:
        assert first.startswith(f"available: {len(nodes)} nodes")
    assert "node distances:" in proc.stdout.splitlines()
    # The process section follows the numactl part.
    assert "this process:" in proc.stdout
    assert "Cpus_allowed_list: " in proc.stdout


def test_json_of_this_machine(cli):
    proc = cli("topology", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    topo = doc["topology"]
    assert topo["online_cpus"] == online_cpus()
    ids = [n["id"] for n in topo["nodes"]]
    assert ids == live_node_ids()
    all_cpus = sorted(c for n in topo["nodes"] for c in n["cpus"])
    assert all_cpus == online_cpus()
    if ids == [0]:
        assert topo["nodes"][0]["cpus"] == online_cpus()
        assert topo["nodes"][0]["distances"] == {"0": 10}
    cpuset = doc["cpuset"]
    # What the kernel lets this process (the CLI child inherits our mask) run on.
    assert cpuset["cpus_allowed"] == sorted(os.sched_getaffinity(0))
    assert 0 in cpuset["mems_allowed"]


def check_cxl_text(stdout):
    lines = stdout.splitlines()
    assert lines[0] == "available: 4 nodes (0-3)"
    assert "node 0 cpus: 0 1 2 3 4 5 6 7" in lines
    assert "node 1 cpus: 8 9 10 11 12 13 14 15" in lines
    assert "node 2 cpus:" in lines and "node 3 cpus:" in lines
    assert "node 2: memory-only" in lines and "node 3: memory-only" in lines
    assert "node 0: memory-only" not in lines and "node 1: memory-only" not in lines
    assert "node 2 hugepages 1 GiB: 3 free / 4 total" in lines
    assert "node distances:" in lines
    assert "   2:   26   32   10   40 " in lines  # asymmetric SLIT kept as captured
    # A captured tree without proc/self has no process section.
    assert "this process:" not in stdout


def test_captured_tree_via_option(cli):
    proc = cli("topology", "--sysfs-root", CXL)
    assert proc.returncode == 0, proc.stderr
    check_cxl_text(proc.stdout)


def test_captured_tree_via_environment(cli):
    proc = cli("topology", env={"NUMABENCH_SYSFS_ROOT": CXL})
    assert proc.returncode == 0, proc.stderr
    check_cxl_text(proc.stdout)
    # The environment and the option give the same output.
    assert proc.stdout == cli("topology", "--sysfs-root", CXL).stdout


def test_captured_tree_json(cli):
    proc = cli("topology", "--json", "--sysfs-root", CXL)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    nodes = {n["id"]: n for n in doc["topology"]["nodes"]}
    assert sorted(nodes) == [0, 1, 2, 3]
    assert nodes[2]["cpus"] == [] and nodes[2]["memory_only"] is True
    assert nodes[0]["memory_only"] is False
    assert doc["cpuset"] is None


def test_missing_sysfs_root(cli, tmp_path):
    missing = tmp_path / "nowhere"
    proc = cli("topology", "--sysfs-root", missing)
    cli.one_line_error(proc, str(missing))
    assert proc.stdout == ""


def test_python_dash_m_numabench():
    # `python -m numabench` is the module entry point (numabench.cli has no __main__).
    proc = subprocess.run([sys.executable, "-m", "numabench", "topology", "--sysfs-root", CXL],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    check_cxl_text(proc.stdout)
