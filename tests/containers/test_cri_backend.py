"""``CriBackend`` against a real containerd (its CRI plugin), with a locally built pause image.

An aligned (Guaranteed, one whole CPU) and a misaligned (Burstable, shared pool) pod run through
RunPodSandbox / CreateContainer / StartContainer; each result must show the planned cpuset read
from the container's real cgroup, the kubelet's pod cgroup for its QoS class, the placement that
containerd's RuntimeDefault profile allows a non-root pod without capabilities (first-touch /
numa_maps), and nothing may be left behind: no sandbox labelled by numabench, no cgroup, no log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import yaml

from runtimes import IMAGE, REPO

EXPERIMENT = os.path.join(REPO, "tests", "data", "experiments", "local.yaml")


@pytest.fixture
def exp():
    from numabench.kube.experiment import experiment_from_dict

    with open(EXPERIMENT) as f:
        raw = yaml.safe_load(f)
    raw["image"] = IMAGE
    return experiment_from_dict(raw, source=EXPERIMENT)


def _backend(exp, containerd, top, tmp_path):
    from numabench.kube.cri.backend import CriBackend

    return CriBackend(exp, containerd.socket, cgroup_root=f"/{top}", log_root=str(tmp_path))


def _managed(containerd) -> list[str]:
    from numabench.kube.cri.client import CriClient
    from numabench.kube.cri.configs import MANAGED_LABEL

    with CriClient(containerd.socket) as c:
        return [sb.id for sb in c.list_pod_sandboxes({MANAGED_LABEL: "numabench"})]


def test_aligned_and_misaligned_pods(exp, containerd, clean_cgroups, tmp_path):
    from numabench.kube.orchestrate import run_experiment
    from numabench.util.cpulist import format_cpulist

    backend = _backend(exp, containerd, clean_cgroups, tmp_path)
    rs = run_experiment(exp, backend, timeout_s=240, poll_s=0.5)
    assert rs["backend"] == "cri" and rs["cleanup_errors"] == [] and rs["errors"] == []
    runs = {r["variant"]: r for r in rs["runs"]}
    for name, qos in (("aligned", "Guaranteed"), ("misaligned", "Burstable")):
        r = runs[name]
        assert (r["status"], r["exit_code"], r["qos_class"]) == ("ok", 0, qos), r["message"] or r["result_error"]
        result = r["result"]
        assert {(m["placement"]["method"], m["placement"]["verified_by"]) for m in result["measurements"]} == \
            {("first-touch", "numa_maps")}
        pod = result["environment"]["pod"]
        assert pod["pod"]["qos_class"] == qos and pod["pod"]["driver"] == "cgroupfs"
        # The cgroup the container really ran in: the kubelet's pod cgroup, and the planned cpuset
        # read from its cpuset files (the CRI mounts the cgroup filesystem into the container).
        assert pod["cgroup"]["cgroup_path"].startswith(r["planned"]["cgroup_parent"] + "/")
        assert pod["cgroup"]["cpuset_cpus"] == r["planned"]["cpus"]
        assert format_cpulist(pod["cpus"]) == r["planned"]["cpuset_cpus"]
        assert pod["mems"] == r["planned"]["mems"]
    assert runs["aligned"]["planned"]["exclusive_cpus"] is True
    assert runs["misaligned"]["planned"]["exclusive_cpus"] is False
    assert runs["aligned"]["planned"]["cpus"] != runs["misaligned"]["planned"]["cpus"]
    assert _managed(containerd) == []
    assert os.listdir(tmp_path) == []


def test_sigkilled_runner_leaves_what_the_next_run_removes(exp, containerd, clean_cgroups, tmp_path):
    """SIGKILL cannot be cleaned up after; the next backend removes the dead runner's sandbox."""
    child = textwrap.dedent(f"""
        import os, signal, sys, yaml
        sys.path.insert(0, {os.path.join(REPO, "tests", "containers")!r})
        from numabench.kube.experiment import experiment_from_dict
        from numabench.kube.manifests import plan_runs
        from numabench.kube.cri.backend import CriBackend
        raw = yaml.safe_load(open({EXPERIMENT!r})); raw["image"] = {IMAGE!r}
        exp = experiment_from_dict(raw)
        be = CriBackend(exp, {containerd.socket!r}, cgroup_root="/{clean_cgroups}", log_root={str(tmp_path)!r})
        be.create(plan_runs(exp, "k1ll3d", None)[0], 60)
        print("created", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=180)
    assert proc.returncode == -signal.SIGKILL and "created" in proc.stdout, proc.stderr
    left = _managed(containerd)
    assert len(left) == 1
    backend = _backend(exp, containerd, clean_cgroups, tmp_path)
    assert backend.leftovers_removed == left
    assert _managed(containerd) == []
