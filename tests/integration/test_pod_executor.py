"""The local pod executor (kube/experiment/executor.py, `numabench pod exec`): real cgroups on this machine.

This host is hybrid: cgroup v1 cpuset at /sys/fs/cgroup/cpuset and memory at /sys/fs/cgroup/memory,
v2 at /sys/fs/cgroup/unified without cpuset. The pod (tests/data/pods/host-cpu1.yaml on
host-node.json: one NUMA node, CPUs 0-1, CPU 0 reserved) is planned onto exclusive CPU 1. Pure
cgroup v2 is exercised inside the multi-node guest (tests/vm/guest_checks.py).
"""

import glob
import json
import os
import re
import signal
import subprocess
import time

import pytest
from conftest import TESTS_DIR, numabench_command

from numabench.errors import UsageError
from numabench.kube.admission import load_node, plan_pod
from numabench.kube.experiment.executor import CgroupError, PodCgroup, container_cgroup_path, find_hierarchies
from numabench.kube.podspec import load_pod

PODS = os.path.join(TESTS_DIR, "data", "pods")
CGROUP_TREES = os.path.join(TESTS_DIR, "data", "cgroups")
POD = os.path.join(PODS, "host-cpu1.yaml")
NODE = os.path.join(PODS, "host-node.json")


def _leaf_dirs():
    plan = plan_pod(load_pod(POD), load_node(NODE))
    rel = container_cgroup_path(plan.pod.uid, "bench", plan.qos)
    return plan, [h.path(rel) for h in find_hierarchies()]


@pytest.fixture
def cpu1_cgroups():
    """Skip unless this machine can make a v1/v2 cpuset holding CPU 1; yields the planned directories and
    checks none is left behind."""
    if 1 not in os.sched_getaffinity(0):
        pytest.skip("CPU 1 is not available to this process")
    try:
        plan, dirs = _leaf_dirs()
    except CgroupError as exc:
        pytest.skip(f"no cpuset controller here: {exc}")
    for d in dirs:
        assert not os.path.exists(d), f"left over from an earlier run: {d}"
    yield plan, dirs
    for d in dirs:
        assert not os.path.exists(d), f"cgroup not removed: {d}"
        assert not os.path.exists(os.path.dirname(d)), f"pod cgroup not removed: {os.path.dirname(d)}"


def pod_exec(*command, record=None):
    args = [*numabench_command(), "pod", "exec", POD, "--node", NODE]
    if record:
        args += ["--record", str(record)]
    env = dict(os.environ)
    env.pop("NUMABENCH_SYSFS_ROOT", None)
    return [*args, "--", *map(str, command)], env


# --------------------------------------------------------------------------- without root


def test_container_paths_follow_the_kubelet_cgroupfs_names():
    assert container_cgroup_path("u-1", "app", "Guaranteed") == "numabench/kubepods/podu-1/app"
    assert container_cgroup_path("u-1", "app", "Burstable") == "numabench/kubepods/burstable/podu-1/app"
    assert container_cgroup_path("u-1", "app", "BestEffort") == "numabench/kubepods/besteffort/podu-1/app"
    with pytest.raises(UsageError, match="cannot name a cgroup"):
        container_cgroup_path("../x", "app", "Guaranteed")


def test_hierarchies_on_the_hybrid_host_capture():
    root = os.path.join(CGROUP_TREES, "hybrid-this-host")
    hs = find_hierarchies(os.path.join(root, "proc"), root)
    assert [(h.version, h.mount_point, h.base, h.controllers) for h in hs] == [
        (1, os.path.join(root, "sys/fs/cgroup/cpuset"), "/", ("cpuset",)),
        (1, os.path.join(root, "sys/fs/cgroup/memory"), "/process_api/e6fb4349e8e39be520188a7583fabc72", ("memory",)),
    ]


def test_hierarchies_on_pure_v2():
    root = os.path.join(CGROUP_TREES, "v2-restricted")
    hs = find_hierarchies(os.path.join(root, "proc"), root)
    # v2: under the mount root (no internal processes), not under the caller's own service cgroup
    assert [(h.version, h.mount_point, h.base, h.controllers) for h in hs] == [
        (2, os.path.join(root, "sys/fs/cgroup"), "/", ("cpuset", "memory"))]


def test_no_cpuset_controller_is_a_clear_error():
    root = os.path.join(CGROUP_TREES, "v2-no-cpuset")
    with pytest.raises(CgroupError, match="cpuset controller"):
        find_hierarchies(os.path.join(root, "proc"), root)


def test_exec_of_a_rejected_pod_is_one_line(cli):
    proc = cli("pod", "exec", os.path.join(PODS, "guaranteed-2cpu-8gi.yaml"), "--node",
               os.path.join(PODS, "node-two-numa.json"), "--policy", "single-numa-node", "--", "true")
    cli.one_line_error(proc, "would reject pod big", "TopologyAffinityError")


# --------------------------------------------------------------------------- real cgroups (root)


@pytest.mark.root
@pytest.mark.native
def test_numabench_run_inside_the_planned_cgroup(cpu1_cgroups, tmp_path):
    plan, dirs = cpu1_cgroups
    record = tmp_path / "record.json"
    argv, env = pod_exec(*numabench_command(), "run", "--size", "16M", "--repeat", "1", "--kernels", "latency",
                         "--pages", "4k", "--json", record=record)
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    m = doc["measurements"][0]
    assert m["cpus"] == [1]
    assert m["pages_by_node"] == {"0": (16 << 20) // 4096}
    cs = doc["environment"]["cpuset"]
    assert cs["cpuset_cpus"] == [1] and cs["cpus_allowed"] == [1]
    assert cs["cpuset_mems"] == [0]
    # each exec its own cgroup: the container's name plus the owner tag (.nb-<pid>-<start time>)
    assert re.fullmatch(rf"/numabench/kubepods/pod{plan.pod.uid}/bench\.nb-\d+-\d+", cs["cgroup_path"])
    assert cs["kube"]["qos_class"] == "Guaranteed" and cs["kube"]["pod_uid"] == plan.pod.uid
    rec = json.loads(record.read_text())
    assert rec["exit_code"] == 0 and rec["container"]["cpuset_cpus"] == "1"
    assert [os.path.dirname(d) for d in rec["cgroup"]["directories"]] == [os.path.dirname(d) for d in dirs]
    assert rec["cgroup"]["memory_max_bytes"] == 256 << 20
    assert "cgroup removed" in proc.stderr


@pytest.mark.root
def test_failing_command_exit_code_and_cleanup(cpu1_cgroups, tmp_path):
    plan, _ = cpu1_cgroups
    seen = tmp_path / "cgroup.txt"
    argv, env = pod_exec("sh", "-c", f"cat /proc/self/cgroup > {seen}; grep Cpus_allowed_list /proc/self/status "
                                     f">> {seen}; exit 3")
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 3, proc.stderr
    text = seen.read_text()
    assert re.search(rf"/numabench/kubepods/pod{plan.pod.uid}/bench\.nb-\d+-\d+\n", text)  # ran in the cgroup
    assert "Cpus_allowed_list:\t1\n" in text


def _wait_for_command(directory, comm, timeout_s=60):
    """The pid of the process named ``comm`` once it is in the cgroup (polls: the executor forks, the
    child joins the cgroup, then execs the command)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # the leaf carries its owner's tag: <container>.nb-<pid>-<start time>
        for name in [os.path.join(d, n) for d in glob.glob(directory + ".nb-*") for n in ("tasks", "cgroup.procs")]:
            try:
                with open(name) as f:
                    pids = f.read().split()
            except OSError:
                pids = []
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        if f.read().strip() == comm:
                            return int(pid)
                except OSError:
                    pass
        time.sleep(0.05)
    raise AssertionError(f"no {comm} process appeared in {directory}")


def _stop(proc):
    """Ask a still-running executor to clean up (SIGTERM is forwarded, then it removes the cgroup)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.root
def test_killed_command_cleanup(cpu1_cgroups):
    _, dirs = cpu1_cgroups
    argv, env = pod_exec("sleep", "300")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        pid = _wait_for_command(dirs[0], "sleep")
        os.kill(pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        _stop(proc)
    assert proc.returncode == 128 + signal.SIGKILL, err
    assert "command exited 137; cgroup removed" in err


@pytest.mark.root
def test_sigterm_to_the_executor_is_forwarded(cpu1_cgroups):
    _, dirs = cpu1_cgroups
    argv, env = pod_exec("sleep", "300")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        child = _wait_for_command(dirs[0], "sleep")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        _stop(proc)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "command exited 143; cgroup removed" in err
    assert not os.path.exists(f"/proc/{child}")


@pytest.mark.root
def test_missing_command_one_line_and_cleanup(cpu1_cgroups, cli):
    argv, env = pod_exec("/nonexistent/bench")
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("numabench: error:")]
    assert lines == ["numabench: error: cannot run /nonexistent/bench: No such file or directory: "
                     "give a command on PATH or its full path"], proc.stderr


@pytest.mark.root
def test_context_manager_kills_leftovers_on_error(cpu1_cgroups):
    plan, dirs = cpu1_cgroups
    c = plan.placement()
    sleeper = None
    with pytest.raises(RuntimeError, match="boom"):
        with PodCgroup(plan.pod.uid, c.name, plan.qos, c.cpus, c.mems, c.memory_limit_bytes) as cg:
            assert cg.paths == [d + cg.rel[cg.rel.rindex(".nb-"):] for d in dirs]  # owner-tagged
            assert all(os.path.isdir(p) for p in cg.paths)
            with open(os.path.join(cg.paths[0], "cpuset.cpus")) as f:
                assert f.read().strip() == "1"
            sleeper = subprocess.Popen(["sleep", "300"], preexec_fn=lambda: cg.attach(os.getpid()))
            assert sleeper.pid in cg.pids()
            raise RuntimeError("boom")
    assert sleeper.wait(timeout=60) == -signal.SIGKILL


@pytest.mark.root
def test_cpus_outside_the_machine_refused_and_nothing_left(cpu1_cgroups):
    plan, _ = cpu1_cgroups
    with pytest.raises(CgroupError, match="cpuset.cpus"):
        with PodCgroup(plan.pod.uid, "bench", plan.qos, (4095,), (0,)):
            pass
