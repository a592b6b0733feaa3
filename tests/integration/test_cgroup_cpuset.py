"""numabench inside a real cgroup v1 cpuset that allows CPU 1 only.

This one-node machine cannot forbid a memory node for real (cpuset.mems must hold
node 0); the multi-node VM tests do that. tests/unit/test_experiment.py covers the
forbidden-node refusals against a captured four-node topology.
"""

import json
import os
import shlex
import subprocess

import pytest
from conftest import numabench_command, scratch_cgroup

pytestmark = pytest.mark.root

CPUSET_ROOT = "/sys/fs/cgroup/cpuset"


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


@pytest.fixture
def cpuset_cpu1():
    """A child cpuset with cpuset.cpus=1, cpuset.mems=0; removed at teardown."""
    if not os.path.isdir(CPUSET_ROOT) or not os.access(CPUSET_ROOT, os.W_OK):
        pytest.skip(f"{CPUSET_ROOT} is not a writable cgroup v1 cpuset hierarchy")
    if 1 not in os.sched_getaffinity(0):
        pytest.skip("CPU 1 is not available to this process")
    # v1 needs cpus and mems set before a task may join.
    with scratch_cgroup(CPUSET_ROOT, "numabench-test", (("cpuset.cpus", "1"), ("cpuset.mems", "0"))) as path:
        yield path


def run_in(cgroup, *args, timeout=120):
    """Run numabench ARGS as a process that first moves itself into `cgroup`."""
    argv = " ".join(shlex.quote(str(a)) for a in [*numabench_command(), *args])
    script = f"echo $$ > {shlex.quote(os.path.join(cgroup, 'cgroup.procs'))} && exec {argv}"
    env = dict(os.environ)
    env.pop("NUMABENCH_SYSFS_ROOT", None)
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=timeout)


def test_topology_sees_the_cpuset(cpuset_cpu1):
    proc = run_in(cpuset_cpu1, "topology", "--json")
    assert proc.returncode == 0, proc.stderr
    cs = json.loads(proc.stdout)["cpuset"]
    name = os.path.basename(cpuset_cpu1)
    assert cs["cgroup_version"] == 1
    assert cs["cgroup_path"] == f"/{name}"
    assert cs["cpuset_dir"] == cpuset_cpu1
    assert cs["cpuset_cpus"] == [1]
    assert cs["cpuset_mems"] == [0]
    assert cs["cpus_allowed"] == [1]
    assert cs["mems_allowed"] == [0]


def test_topology_text_inside_the_cpuset(cpuset_cpu1):
    proc = run_in(cpuset_cpu1, "topology")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "cpuset.cpus: 1" in lines
    assert "Cpus_allowed_list: 1" in lines
    node0 = [line for line in lines if line.startswith("node 0 allowed:")]
    assert node0 and node0[0].startswith("node 0 allowed: cpus 1 (1 of "), node0


def test_two_threads_refused_with_one_allowed_cpu(cpuset_cpu1):
    proc = run_in(cpuset_cpu1, "run", "--cpu-node", "0", "--threads", "2", "--size", "1M", "--kernels", "read",
                  "--repeat", "1")
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1 and lines[0].startswith("numabench: error:"), proc.stderr
    assert "allowed CPUs" in lines[0] and "--threads 1" in lines[0], lines[0]


def test_run_inside_the_cpuset_uses_cpu1(cpuset_cpu1):
    proc = run_in(cpuset_cpu1, "run", "--size", "64M", "--kernels", "latency,read", "--repeat", "1", "--json",
                  "--pages", "4k")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    ms = doc["measurements"]
    assert [m["kernel"] for m in ms] == ["latency", "read"]
    for m in ms:
        assert m["cpus"] == [1]
        assert m["threads"] == 1
        assert m["pages_by_node"] == {"0": (64 << 20) // 4096}
        assert m["placement"]["ok"] is True
    assert ms[1]["checksum_ok"] is True
    assert doc["environment"]["cpuset"]["cpuset_cpus"] == [1]
    assert doc["environment"]["cpuset"]["cgroup_path"] == f"/{os.path.basename(cpuset_cpu1)}"
