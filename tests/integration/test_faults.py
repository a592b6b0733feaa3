"""Faults a measuring command must survive with nothing lost and nothing left behind: SIGKILL and
SIGINT at seeded random moments, a full file system (tmpfs) and a read-only one (bind mount) as the
output, concurrent runs racing for one -o, and a SIGKILLed `pod exec` whose command and cgroup
`numabench pod cleanup` must then remove, a SIGKILLed `qualify` and `pod run --backend local`, and a
hugepage pool shrunk while a run provably holds its pages. Sizes are small and samples short, so each
takes seconds."""

import glob
import json
import os
import random
import signal
import subprocess
import time

import pytest
from conftest import IS_ROOT, TESTS_DIR, numabench_command

from numabench.results.schema import load as load_result

SEED = 14
SMALL_RUN = ["run", "--size", "4M", "--kernels", "latency,read", "--repeat", "2", "--pages", "4k",
             "--sample-seconds", "0.05"]
PODS = os.path.join(TESTS_DIR, "data", "pods")
POD, NODE = os.path.join(PODS, "host-cpu1.yaml"), os.path.join(PODS, "host-node.json")


def start(args, cwd=None):
    env = dict(os.environ)
    env.pop("NUMABENCH_SYSFS_ROOT", None)
    return subprocess.Popen([*numabench_command(), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def one_line_error(rc, err, *needles):
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("numabench: error:") and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[-1], (needle, lines[-1])


def leftovers(folder):
    return sorted(n for n in os.listdir(folder) if n.startswith(".numabench-"))


# --------------------------------------------------------------------------- signals at random moments


@pytest.mark.native
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
@pytest.mark.parametrize("command", [
    SMALL_RUN,
    ["matrix", "--kind", "latency", "--size", "4M", "--repeat", "2"],
    pytest.param(["loaded", "--size", "4M", "--inject-size", "4M", "--delays", "0,100,400", "--repeat", "2"],
                 marks=pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="loaded needs 2 CPUs")),
], ids=["run", "matrix", "loaded"])
def test_signal_at_a_random_moment_never_loses_the_earlier_result(tmp_path, command, sig):
    """A complete earlier -o survives a kill at any moment of a --force rerun; after SIGINT the file is
    a complete result (the earlier or the new, interrupted one); nothing partial is ever there."""
    out = tmp_path / "r.json"
    rc, _, err = finish(start([*command, "-o", out]))
    assert rc == 0, err
    before = out.read_text()
    rng = random.Random(f"{SEED}-{command[0]}-{sig}")
    for _ in range(3):
        proc = start([*command, "-o", out, "--force"])
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(sig)
        rc, _, err = finish(proc)
        assert "Traceback" not in err, err
        assert rc in ((0, -signal.SIGKILL) if sig == signal.SIGKILL else (0, 130)), (rc, err)  # 0: done first
        load_result(str(out))  # complete and valid, whichever it is
        if sig == signal.SIGKILL:
            assert out.read_text() == before or json.loads(out.read_text())["finished_unix"]
    # a temporary file a SIGKILL left behind is removed by the next writer
    rc, _, err = finish(start([*command, "-o", out, "--force"]))
    assert rc == 0, err
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- full and read-only outputs


@pytest.fixture
def tiny_tmpfs(tmp_path):
    if not IS_ROOT:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "full"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        # fill it to the last byte
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"x" * 512):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


@pytest.mark.native
def test_full_file_system_output_is_one_line_and_leaves_nothing(tiny_tmpfs, tmp_path):
    csv = tmp_path / "r.csv"
    rc, _, err = finish(start([*SMALL_RUN, "-o", tiny_tmpfs / "r.json", "--csv", csv]))
    one_line_error(rc, err, "r.json", "No space left on device")
    assert sorted(os.listdir(tiny_tmpfs)) == ["filler"]  # no partial result, no temporary file


@pytest.mark.native
def test_read_only_output_is_one_line(tmp_path):
    if not IS_ROOT:
        pytest.skip("a read-only bind mount needs root")
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "--bind", str(ro), str(ro)]).returncode != 0:
        pytest.skip("cannot bind-mount here")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)]).returncode != 0:
            pytest.skip("cannot remount read-only here")
        rc, _, err = finish(start([*SMALL_RUN, "-o", ro / "r.json"]))
        one_line_error(rc, err, str(ro), "Read-only file system")
        assert os.listdir(ro) == []
    finally:
        subprocess.run(["umount", "-l", str(ro)])


# --------------------------------------------------------------------------- two runs, one -o


@pytest.mark.native
def test_concurrent_runs_on_one_output_one_wins_the_other_refuses(tmp_path):
    out = tmp_path / "r.json"
    procs = [start([*SMALL_RUN, "-o", out]) for _ in range(2)]
    results = [finish(p) for p in procs]
    codes = sorted(rc for rc, _, _ in results)
    assert codes == [0, 2], results
    loser = next(err for rc, _, err in results if rc == 2)
    one_line_error(2, loser, "already exists")
    load_result(str(out))
    assert leftovers(tmp_path) == []


@pytest.mark.native
def test_concurrent_forced_runs_replace_atomically(tmp_path):
    out = tmp_path / "r.json"
    procs = [start([*SMALL_RUN, "-o", out, "--force"]) for _ in range(2)]
    assert [finish(p)[0] for p in procs] == [0, 0]
    load_result(str(out))
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- pod exec killed


def _cpu1_cgroup_parents():
    from numabench.kube.admission.node import load_node
    from numabench.kube.admission.plan import plan_pod
    from numabench.kube.experiment.executor import CgroupError, container_cgroup_path, find_hierarchies
    from numabench.kube.podspec import load_pod

    if not IS_ROOT:
        pytest.skip("making cgroups needs root")
    if 1 not in os.sched_getaffinity(0):
        pytest.skip("CPU 1 is not available to this process")
    try:
        hierarchies = find_hierarchies()
    except CgroupError as exc:
        pytest.skip(f"no cpuset controller here: {exc}")
    plan = plan_pod(load_pod(POD), load_node(NODE))
    rel = container_cgroup_path(plan.pod.uid, "bench", plan.qos)
    return [h.path(rel) for h in hierarchies]


def _wait_for_leaves(prefixes, count, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        leaves = sorted(d for p in prefixes for d in glob.glob(p + ".nb-*"))
        procs = [d for d in leaves if _pids(d)]
        if len(procs) >= count:
            return leaves
        time.sleep(0.05)
    raise AssertionError(f"no command appeared in {prefixes}")


def _running(pids):
    """The pids that still exist and are not zombies (state Z in /proc/PID/stat, after the comm)."""
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            out.append(pid)
    return out


def _pids(directory):
    pids = set()
    for name in ("tasks", "cgroup.procs"):
        try:
            with open(os.path.join(directory, name)) as f:
                pids.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return pids


@pytest.mark.root
def test_sigkilled_pod_exec_is_cleaned_up(tmp_path):
    prefixes = _cpu1_cgroup_parents()
    proc = start(["pod", "exec", POD, "--node", NODE, "--", "sleep", "300"])
    try:
        leaves = _wait_for_leaves(prefixes, 1)
        orphans = set().union(*(_pids(d) for d in leaves))
        proc.kill()  # the executor dies at once: no cleanup of its own
        proc.wait(timeout=30)
        assert all(os.path.isdir(d) for d in leaves) and orphans, "nothing to clean up: the test proves nothing"
        rc, out, err = finish(start(["pod", "cleanup", "--json"]))
        assert rc == 0, err
        removed = json.loads(out)["removed"]
        assert set(leaves) <= set(removed), (leaves, removed)
        assert not any(os.path.exists(d) for d in leaves)
        assert not any(os.path.exists(os.path.dirname(d)) for d in leaves), "empty pod<uid> level left"
        time.sleep(0.2)
        assert not _running(orphans), "orphan still running"
    finally:
        if proc.poll() is None:
            proc.kill()
        finish(start(["pod", "cleanup"]))


@pytest.mark.root
def test_concurrent_execs_of_one_pod_have_their_own_cgroups(tmp_path):
    prefixes = _cpu1_cgroup_parents()
    seen = [tmp_path / "a", tmp_path / "b"]
    procs = [start(["pod", "exec", POD, "--node", NODE, "--", "sh", "-c", f"cat /proc/self/cgroup > {f}; sleep {s}"])
             for f, s in zip(seen, (0.2, 2))]
    # the first to end must not kill the other's command: both exit 0
    assert [finish(p)[0] for p in procs] == [0, 0], [p.stderr for p in procs]
    paths = [next(ln for ln in f.read_text().splitlines() if "numabench/kubepods" in ln) for f in seen]
    assert paths[0] != paths[1]
    assert not any(glob.glob(p + ".nb-*") for p in prefixes)


@pytest.mark.root
def test_cgroup_removed_under_a_running_pod_exec(tmp_path):
    """The command is killed with its cgroup (what an admin's cleanup does); the executor reports it
    and exits with the command's status, no traceback, nothing left."""
    prefixes = _cpu1_cgroup_parents()
    proc = start(["pod", "exec", POD, "--node", NODE, "--", "sleep", "300"])
    try:
        leaves = _wait_for_leaves(prefixes, 1)
        from numabench.kube.experiment.executor import PodCgroup

        for d in leaves:
            PodCgroup._empty(d)
        for d in leaves:
            for _ in range(100):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.05)
        rc, _, err = finish(proc)
        assert "Traceback" not in err, err
        assert rc == 128 + signal.SIGKILL, (rc, err)
        assert not any(os.path.exists(d) for d in leaves)
    finally:
        if proc.poll() is None:
            proc.kill()
        finish(start(["pod", "cleanup"]))


# --------------------------------------------------------------------------- hugepage pool shrunk


@pytest.mark.native
@pytest.mark.root
def test_hugepage_pool_shrunk_during_a_run(tmp_path, hugepage_pool):
    """The pool is shrunk to nothing while `run --pages 2M` provably measures (its progress line is
    out and HugePages_Free has dropped) and stays shrunk to the end of the run. Linux does not take
    mapped pages back: the pages in use become surplus pages (HugePages_Surp), still the run's, freed
    when it unmaps them. The run maps its buffer before it measures and keeps it for every kernel, so
    nothing fails: it ends 0 with every kernel measured, never SIGBUS, and the pool ends as it was
    (no surplus left). Were the run ever to map a buffer after the shrink, that must be one line and
    exit 2 naming hugepages, never a signal death."""
    from conftest import HUGEPAGE_DIR, NR_HUGEPAGES_2M, read_int, write_int

    free_path = f"{HUGEPAGE_DIR}/hugepages-2048kB/free_hugepages"
    surplus_path = f"{HUGEPAGE_DIR}/hugepages-2048kB/surplus_hugepages"
    before = read_int(NR_HUGEPAGES_2M)
    hugepage_pool.require(NR_HUGEPAGES_2M, 8)
    total = read_int(NR_HUGEPAGES_2M)
    out = tmp_path / "r.json"
    proc = start(["run", "--pages", "2M", "--size", "8M", "--kernels", "latency,read,copy", "--repeat", "20",
                  "--sample-seconds", "0.05", "-o", out])
    seen, in_use = [], None
    try:
        for line in proc.stderr:  # wait until it measures on its huge pages
            seen.append(line)
            if ": latency" in line and "placing" not in line:
                in_use = total - read_int(free_path)
                break
        assert in_use, f"the run never measured on huge pages: {''.join(seen)}"
        write_int(NR_HUGEPAGES_2M, 0)  # shrink below what the run holds
        surplus = read_int(surplus_path)
        alive = proc.poll() is None
    finally:
        try:
            rc, _, err = finish(proc)  # the pool stays shrunk to the end of the run
        finally:
            if proc.poll() is None:
                proc.kill()
            write_int(NR_HUGEPAGES_2M, before)  # and the fixture's teardown again
    err = "".join(seen) + err
    print(f"{in_use} of {total} pages in use at the shrink, {surplus} surplus after it (run alive: {alive}); "
          f"run ended {rc}: {err.strip().splitlines()[-1:]}")
    assert rc >= 0 and "Traceback" not in err and "SIGBUS" not in err, (rc, err)
    assert rc in (0, 2), (rc, err)
    if rc == 2:
        one_line_error(rc, err, "hugepage")
    else:
        load_result(str(out))  # complete and valid
        doc = json.loads(out.read_text())
    if alive:  # the shrink came while it measured (the normal case): its pages were kept
        assert surplus > 0, "the pages the run held were not kept as surplus"
        assert rc == 0, err
        assert {m["kernel"] for m in doc["measurements"]} == {"latency", "read", "copy"}
    assert read_int(NR_HUGEPAGES_2M) == before
    assert read_int(surplus_path) == 0


# --------------------------------------------------------------------------- qualify killed

QUALIFY_SPEC = ("name: killed\nmeasure:\n  size: 4M\n  repeat: 3\n  latency_sweep: {sizes: [16K, 1M, 4M]}\n"
                "checks:\n  nodes: 1\n  placement: true\n")


@pytest.mark.native
def test_sigkilled_qualify_leaves_no_partial_output(tmp_path):
    """A SIGKILL at any moment of a --force rerun leaves the earlier -o and --junit as they were or a
    complete new pair member; never a partial file, and the next writer removes any temporary file."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(QUALIFY_SPEC)
    out, junit = tmp_path / "q.json", tmp_path / "q.xml"
    args = ["qualify", spec, "-o", out, "--junit", junit]
    rc, _, err = finish(start(args))
    assert rc == 0, err
    before = out.read_text(), junit.read_text()
    rng = random.Random(f"{SEED}-qualify-kill")
    killed = 0
    for _ in range(3):
        proc = start([*args, "--force"])
        time.sleep(rng.uniform(0.0, 2.5))
        proc.kill()
        rc, _, err = finish(proc)
        assert rc in (0, -signal.SIGKILL), (rc, err)
        killed += rc == -signal.SIGKILL
        load_result(str(out))  # complete and valid, whichever it is
        assert out.read_text() == before[0] or json.loads(out.read_text())["finished_unix"]
        xml = junit.read_text()
        assert xml == before[1] or xml.rstrip().endswith("</testsuites>"), xml
    assert killed, "every run ended before its kill: the test proves nothing"
    rc, _, err = finish(start([*args, "--force"]))
    assert rc == 0, err
    assert leftovers(tmp_path) == []


@pytest.mark.native
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_qualify_interrupted_at_a_random_moment_is_never_a_pass(tmp_path, sig):
    """Once it measures, SIGINT/SIGTERM at a seeded moment: exit 130/143, the result marked interrupted,
    verdict `interrupted` in the JSON, a failure in the JUnit; a pass only if it had already ended."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(QUALIFY_SPEC)
    out, junit = tmp_path / "q.json", tmp_path / "q.xml"
    rng = random.Random(f"{SEED}-qualify-{sig}")
    code, name = (130, "SIGINT") if sig == signal.SIGINT else (143, "SIGTERM")
    interrupted = 0
    for _ in range(3):
        proc = start(["qualify", spec, "-o", out, "--junit", junit, "--force"])
        seen = [proc.stderr.readline()]  # the first line: its handlers are in place, it is under way
        time.sleep(rng.uniform(0.0, 1.5))
        done_first = proc.poll() is not None
        proc.send_signal(sig)
        rc, stdout, err = finish(proc)
        err = "".join(seen) + err
        assert "Traceback" not in err, err
        doc = json.loads(out.read_text())
        xml = junit.read_text()
        if rc == 0:
            assert done_first or not doc["interrupted"], (rc, err)  # it had ended: a real verdict
            continue
        assert rc == code, (rc, err)
        assert doc["interrupted"] is True and doc["interrupted_by"] == name
        assert doc["qualification"]["verdict"] == "interrupted" != "pass"
        assert "qualification: INTERRUPTED" in stdout
        assert 'name="complete run"' in xml and "<failure" in xml
        assert leftovers(tmp_path) == []
        interrupted += 1
    assert interrupted, "every run ended before its signal: the test proves nothing"


# --------------------------------------------------------------------------- pod run killed

EXPERIMENT = os.path.join(TESTS_DIR, "data", "experiments", "local.yaml")


def _numabench_cgroups(hierarchies):
    from numabench.kube.experiment.executor import TOP

    found = []
    for h in hierarchies:
        for root, dirs, _ in os.walk(h.path(TOP)):
            found += [os.path.join(root, d) for d in dirs]
    return sorted(found)


@pytest.mark.root
@pytest.mark.native
def test_sigkilled_pod_run_is_cleaned_up(tmp_path):
    """`pod run --backend local` SIGKILLed while a variant measures in its cgroup: `pod cleanup` then
    kills the orphaned command and removes every cgroup of numabench's (cpuset and memory)."""
    from numabench.kube.experiment.executor import TOP, CgroupError, find_hierarchies

    if 1 not in os.sched_getaffinity(0) or 0 not in os.sched_getaffinity(0):
        pytest.skip("the local experiment needs CPUs 0 and 1")
    try:
        hierarchies = find_hierarchies()
    except CgroupError as exc:
        pytest.skip(f"no cpuset controller here: {exc}")
    finish(start(["pod", "cleanup"]))
    assert _numabench_cgroups(hierarchies) == [], "cgroups of numabench's were left before this test"
    proc = start(["pod", "run", EXPERIMENT, "--backend", "local", "-o", tmp_path / "r.json"])
    try:
        deadline, leaves = time.monotonic() + 120, []
        while time.monotonic() < deadline and proc.poll() is None:
            leaves = [d for d in _numabench_cgroups(hierarchies) if ".nb-" in os.path.basename(d) and _pids(d)]
            if leaves:
                break
            time.sleep(0.05)
        assert leaves, f"no command appeared under {TOP}: {proc.poll()}"
        time.sleep(random.Random(f"{SEED}-pod-run").uniform(0.0, 0.3))
        orphans = set().union(*(_pids(d) for d in leaves))
        proc.kill()
        proc.wait(timeout=30)
        assert _numabench_cgroups(hierarchies), "nothing left to clean up: the test proves nothing"
        rc, out, err = finish(start(["pod", "cleanup", "--json"]))
        assert rc == 0, err
        assert _numabench_cgroups(hierarchies) == [], json.loads(out)["removed"]
        time.sleep(0.2)
        assert not _running(orphans), "orphan still running"
    finally:
        if proc.poll() is None:
            proc.kill()
        finish(start(["pod", "cleanup"]))
