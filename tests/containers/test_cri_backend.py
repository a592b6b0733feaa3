"""``numabench pod run --backend cri`` and ``pod exec --runtime cri`` end to end against a real
containerd (its CRI plugin, our own daemon under /var/tmp), with a locally built pause image.

The aligned (Guaranteed, one whole CPU) and misaligned (Burstable, shared pool) pods of
tests/data/experiments/local.yaml run through RunPodSandbox / CreateContainer / StartContainer. While
they run, a thread reads each container's cpuset from the host's cgroup files (the real cgroup the
runtime made under the kubelet-named pod cgroup); afterwards each result must show that cpuset, the
placement containerd's RuntimeDefault profile allows a non-root pod without capabilities
(first-touch / numa_maps), and the verdict of the in-pod inspection. Nothing may be left behind: no
sandbox labelled by numabench, no pod cgroup, no log directory, also after SIGTERM, and after a
SIGKILL of the runner once a later run has started.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest
import yaml
from runtimes import IMAGE, REPO, remove_cgroups

EXPERIMENT = os.path.join(REPO, "tests", "data", "experiments", "local.yaml")
NUMABENCH = os.path.join(REPO, ".venv", "bin", "numabench")
TOP = "numabench-ci-cri"  # this file's cgroups, apart from the other container tests'
_CID = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture
def cri_cgroups():
    """The cgroup root given to --cgroup-root; fails the test if anything stayed below it."""
    remove_cgroups(TOP)
    yield f"/{TOP}"
    left = remove_cgroups(TOP)
    assert not left, f"cgroups left behind: {left}"


@pytest.fixture
def experiment(tmp_path) -> str:
    """local.yaml with the image under test; a few repetitions of the kernel so a pod runs long
    enough (a second or two) for its cgroup to be read from the host."""
    with open(EXPERIMENT) as f:
        raw = yaml.safe_load(f)
    raw["image"] = IMAGE
    raw["numabench"]["args"] = ["--size", "32M", "--repeat", "5", "--kernels", "latency", "--pages", "4k",
                                "--threads", "1"]
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _cpuset_mount() -> tuple[str, bool]:
    """(mount point holding cpuset files, is v1)."""
    v1 = "/sys/fs/cgroup/cpuset"
    if os.path.exists(os.path.join(v1, "cpuset.cpus")):
        return v1, True
    return "/sys/fs/cgroup", False


class CgroupWatch(threading.Thread):
    """Reads, every 20 ms until stopped, the cpuset of every container cgroup below the pod cgroups
    under ``top``: {pod cgroup (as the CRI was given it): {(cpuset.cpus, cpuset.mems), ...}}."""

    def __init__(self, top: str):
        super().__init__(daemon=True)
        self.mount, v1 = _cpuset_mount()
        self.suffix = "" if v1 else ".effective"
        self.top = top
        self.seen: dict[str, set[tuple[str, str]]] = {}
        self.containers: dict[str, set[str]] = {}
        self.stop = threading.Event()
        self.base = os.path.join(self.mount, self.top.strip("/"))
        self.before = {os.path.join(p, d) for p, ds, _ in os.walk(self.base) for d in ds}  # not this run's

    def run(self) -> None:
        while not self.stop.wait(0.02):
            for dirpath, dirs, _files in os.walk(self.base):
                for d in dirs:
                    if (_CID.match(d) and os.path.basename(dirpath).startswith("pod")
                            and os.path.join(dirpath, d) not in self.before):
                        pod = "/" + os.path.relpath(dirpath, self.mount)
                        self.containers.setdefault(pod, set()).add(d)
                        got = self._read(os.path.join(dirpath, d))
                        if got:
                            self.seen.setdefault("/" + os.path.relpath(dirpath, self.mount), set()).add(got)

    def _read(self, path: str) -> tuple[str, str] | None:
        try:
            with open(os.path.join(path, "cpuset.cpus" + self.suffix)) as c, \
                 open(os.path.join(path, "cpuset.mems" + self.suffix)) as m:
                return c.read().strip(), m.read().strip()
        except OSError:
            return None  # it went while we looked


def _managed(containerd) -> list:
    from numabench.kube.cri.client import CriClient
    from numabench.kube.cri.configs import MANAGED_LABEL

    with CriClient(containerd.socket) as c:
        return c.list_pod_sandboxes({MANAGED_LABEL: "numabench"})


def _pod_dirs(top: str) -> list[str]:
    """Pod cgroups (``pod<uid>`` or ``...-pod<uid>.slice``) still present in any hierarchy."""
    out = []
    for mount in ("/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/memory", "/sys/fs/cgroup"):
        for dirpath, dirs, _ in os.walk(os.path.join(mount, top.strip("/"))):
            out += [os.path.join(dirpath, d) for d in dirs if d.startswith("pod") or "-pod" in d]
    return out


def _pod_run(containerd, experiment: str, out: str, top: str, tmp_path, **kw) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmp_path / "logs")}  # the log directories go there
    os.makedirs(env["TMPDIR"], exist_ok=True)
    argv = [NUMABENCH, "pod", "run", experiment, "--backend", "cri", "--cri-socket", containerd.socket,
            "--cgroup-driver", "cgroupfs", "--cgroup-root", top, "--timeout", "240", "-o", out]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def _wait_for_cgroups(watch: CgroupWatch, proc: subprocess.Popen, count: int, timeout_s: float = 120) -> None:
    """Until a pod has ``count`` container cgroups: 1 = its sandbox (RunPodSandbox under way),
    2 = the sandbox and the container (StartContainer under way or done)."""
    deadline = time.monotonic() + timeout_s
    while not any(len(v) >= count for v in watch.containers.values()):
        assert proc.poll() is None, f"pod run ended early ({proc.returncode}): {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "no container cgroup appeared"
        time.sleep(0.05)


def _assert_nothing_left(containerd, top: str, tmp_path) -> None:
    assert _managed(containerd) == []
    assert _pod_dirs(top) == []
    assert os.listdir(tmp_path / "logs") == []


def test_aligned_and_misaligned_pods(containerd, cri_cgroups, experiment, tmp_path):
    from numabench.host.topology import read_topology
    from numabench.util.cpulist import format_cpulist

    out = str(tmp_path / "results.json")
    watch = CgroupWatch(cri_cgroups)
    watch.start()
    proc = _pod_run(containerd, experiment, out, cri_cgroups, tmp_path)
    try:
        _stdout, stderr = proc.communicate(timeout=480)
    finally:
        watch.stop.set()
        watch.join()
    assert proc.returncode == 0, stderr[-3000:]
    with open(out) as f:
        rs = json.load(f)
    assert rs["backend"] == "cri" and rs["cleanup_errors"] == [] and rs["errors"] == []
    one_node = len(read_topology().nodes) == 1
    runs = {r["variant"]: r for r in rs["runs"]}
    for name, qos in (("aligned", "Guaranteed"), ("misaligned", "Burstable")):
        r = runs[name]
        assert (r["status"], r["exit_code"], r["qos_class"]) == ("ok", 0, qos), r["message"] or r["result_error"]
        planned = r["planned"]
        level = "" if qos == "Guaranteed" else "/burstable"
        assert re.fullmatch(rf"{cri_cgroups}/kubepods{level}/pod[0-9a-f-]{{36}}", planned["cgroup_parent"])
        # The host's view of the container's real cgroup: the planned cpuset, under the pod cgroup.
        assert (planned["cpuset_cpus"], planned["cpuset_mems"]) in watch.seen.get(planned["cgroup_parent"], set()), \
            (planned, watch.seen)
        result = r["result"]
        assert {(m["placement"]["method"], m["placement"]["verified_by"]) for m in result["measurements"]} == \
            {("first-touch", "numa_maps")}
        pod = result["environment"]["pod"]
        # The container's view (the CRI mounts its cgroup): the same cgroup and cpuset.
        assert pod["pod"]["qos_class"] == qos and pod["pod"]["driver"] == "cgroupfs"
        assert pod["cgroup"]["cgroup_path"].startswith(planned["cgroup_parent"] + "/")
        assert format_cpulist(pod["cpus"]) == planned["cpuset_cpus"] and pod["mems"] == planned["mems"]
        # One NUMA node proves no alignment either way: the verdict says so and is not judged.
        assert r["verdict"] == ("single-node" if one_node else r["verdict_expected"])
        assert r["verdict_ok"] is (None if one_node else True)
    assert runs["aligned"]["planned"]["exclusive_cpus"] is True
    assert runs["misaligned"]["planned"]["exclusive_cpus"] is False
    assert runs["aligned"]["planned"]["cpus"] != runs["misaligned"]["planned"]["cpus"]
    _assert_nothing_left(containerd, cri_cgroups, tmp_path)


def test_sigterm_removes_the_pod_being_made(containerd, cri_cgroups, experiment, tmp_path):
    """SIGTERM as soon as the sandbox's cgroup appears, i.e. while RunPodSandbox is in flight: the
    signal waits for the call's answer, so the sandbox is known and removed."""
    watch = CgroupWatch(cri_cgroups)
    watch.start()
    proc = _pod_run(containerd, experiment, str(tmp_path / "r.json"), cri_cgroups, tmp_path)
    try:
        _wait_for_cgroups(watch, proc, 1)
        proc.send_signal(signal.SIGTERM)
        _stdout, stderr = proc.communicate(timeout=180)
    finally:
        watch.stop.set()
        watch.join()
    assert proc.returncode == 130, stderr[-3000:]
    assert "interrupted" in stderr
    _assert_nothing_left(containerd, cri_cgroups, tmp_path)


def test_sigkilled_runner_leaves_what_the_next_run_removes(containerd, cri_cgroups, experiment, tmp_path):
    """SIGKILL cannot be cleaned up after; the next run removes the dead runner's sandbox, its pod
    cgroup and its log directory (all named on the sandbox), then runs as usual."""
    from numabench.kube.cri.configs import CGROUP_PARENT_ANNOTATION, LOG_DIR_ANNOTATION

    watch = CgroupWatch(cri_cgroups)
    watch.start()
    proc = _pod_run(containerd, experiment, str(tmp_path / "killed.json"), cri_cgroups, tmp_path)
    try:
        _wait_for_cgroups(watch, proc, 2)
        proc.kill()
        proc.communicate(timeout=60)
    finally:
        watch.stop.set()
        watch.join()
    left = _managed(containerd)
    assert len(left) == 1
    notes = dict(left[0].annotations)
    assert os.path.isdir(notes[LOG_DIR_ANNOTATION]) and _pod_dirs(cri_cgroups)
    assert notes[CGROUP_PARENT_ANNOTATION] in watch.seen

    proc = _pod_run(containerd, experiment, str(tmp_path / "next.json"), cri_cgroups, tmp_path)
    _stdout, stderr = proc.communicate(timeout=480)
    assert proc.returncode == 0, stderr[-3000:]
    assert f"removed 1 pod sandbox(es) left by a killed numabench run: {left[0].id[:13]}" in stderr
    assert not os.path.exists(notes[LOG_DIR_ANNOTATION])
    _assert_nothing_left(containerd, cri_cgroups, tmp_path)


POD_UID = "5b1c0d2e-0000-4000-8000-00000000c41e"
POD = f"""apiVersion: v1
kind: Pod
metadata: {{name: cri-exec, namespace: default, uid: {POD_UID}}}
spec:
  containers:
    - name: bench
      image: ignored
      resources: {{limits: {{cpu: "1", memory: 256Mi}}}}
"""


def test_pod_exec_through_the_cri_reads_back_its_pod(containerd, cri_cgroups, tmp_path):
    """One Guaranteed pod by ``pod exec --runtime cri``: ``pod inspect`` inside it reads the QoS class,
    the pod uid, the exclusive CPU the plan gave, and where its probe's pages are."""
    pod_file = tmp_path / "pod.yaml"
    pod_file.write_text(POD)
    record = tmp_path / "record.json"
    env = {**os.environ, "TMPDIR": str(tmp_path / "logs")}
    os.makedirs(env["TMPDIR"])
    proc = subprocess.run([NUMABENCH, "pod", "exec", str(pod_file), "--runtime", "cri", "--image", IMAGE,
                           "--assume-default-reservations",
                           "--cri-socket", containerd.socket, "--cgroup-root", cri_cgroups, "--record", str(record),
                           "--", "numabench", "pod", "inspect", "--json", "--probe-size", "8M"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    inspect = json.loads(proc.stdout)
    rec = json.loads(record.read_text())
    planned = rec["container"]
    assert rec["cri"]["cgroup_parent"] == f"{cri_cgroups}/kubepods/pod{POD_UID}"
    assert (inspect["pod"]["qos_class"], inspect["pod"]["pod_uid"]) == ("Guaranteed", POD_UID)
    assert inspect["cpus"] == planned["cpus"] and len(planned["cpus"]) == 1 and inspect["mems"] == planned["mems"]
    assert (inspect["probe"]["method"], inspect["probe"]["verified_by"]) == ("first-touch", "numa_maps")
    assert inspect["verdict"] in ("aligned", "single-node")
    _assert_nothing_left(containerd, cri_cgroups, tmp_path)
