"""Helpers for the container tests: commands, results, our own containerd, kubelet-shaped cgroups."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest  # skip/fail from helpers called inside tests and fixtures

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_IMAGE = os.path.join(REPO, "scripts", "build-image.sh")
IS_ROOT = os.geteuid() == 0
PAUSE_IMAGE = "localhost/numabench-pause:catatonit"
CTR_NAMESPACE = "k8s.io"


def _version() -> str:
    from numabench import __version__

    return __version__


IMAGE = os.environ.get("NUMABENCH_IMAGE") or f"localhost/numabench:{_version()}"


def _need(*tools: str) -> None:
    if not IS_ROOT:
        pytest.skip(f"needs root (euid {os.geteuid()}): the runtimes run rootful here")
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed: apt-get install -y --no-install-recommends podman runc "
                        "catatonit netavark containerd mmdebstrap (or run .ci/stage-containers.sh)")


def run(argv: list[str], *, env=None, timeout=300, check=True, input=None) -> subprocess.CompletedProcess:
    """Run a command; on failure the assertion shows its stderr."""
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, input=input)
    if check:
        assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc




def numabench_json(stdout: str) -> dict:
    """The result document that `numabench run --json` printed."""
    start = stdout.find("{")
    assert start >= 0, f"no JSON on stdout: {stdout[:500]!r}"
    return json.loads(stdout[start:])


def placements(result: dict) -> set[tuple[str, str | None]]:
    """Every measurement's (placement.method, placement.verified_by)."""
    got = {(m["placement"]["method"], m["placement"]["verified_by"]) for m in result["measurements"]}
    assert got, "the result has no measurement"
    return got


# --------------------------------------------------------------------------- containerd


CONTAINERD_CONFIG = """version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  disable_tcp_service = true
  # The pause container gets oom_score_adj -998; lowering it needs CAP_SYS_RESOURCE, which root
  # lacks on these machines (runc then fails with "can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
"""


class Containerd:
    """A containerd of our own; ``ctr(...)`` runs ctr against it in the ``k8s.io`` namespace."""

    def __init__(self, directory: str, pause: str):
        self.dir = directory
        self.socket = os.path.join(directory, "containerd.sock")
        os.makedirs(os.path.join(directory, "cni", "conf"), exist_ok=True)
        os.makedirs(os.path.join(directory, "cni", "bin"), exist_ok=True)
        self.config = os.path.join(directory, "config.toml")
        with open(self.config, "w") as f:
            f.write(CONTAINERD_CONFIG.format(d=directory, pause=pause))
        self.log = open(os.path.join(directory, "containerd.log"), "w")
        self.proc = subprocess.Popen(["containerd", "--config", self.config], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"containerd did not start: see {self.log.name}")
            time.sleep(0.1)
        while self.ctr("version", check=False).returncode != 0:
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"containerd does not answer: see {self.log.name}")
            time.sleep(0.2)

    def ctr(self, *args: str, check=True, timeout=300) -> subprocess.CompletedProcess:
        return run(["ctr", "--address", self.socket, "--namespace", CTR_NAMESPACE, *args],
                   check=check, timeout=timeout)

    def import_image(self, podman_env, image: str) -> None:
        if image in self.ctr("images", "list", "-q").stdout.split():
            return
        archive = os.path.join(self.dir, "image.tar")
        run(["podman", "save", "--format", "oci-archive", "-o", archive, image], env=podman_env)
        # oci-archive keeps the name as the ref annotation; --base-name gives it back in full.
        self.ctr("images", "import", "--base-name", image.rsplit(":", 1)[0], "--digests", archive, timeout=600)
        os.unlink(archive)
        listed = self.ctr("images", "list", "-q").stdout.split()
        assert image in listed, f"{image} not in containerd after import: {listed}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()



# --------------------------------------------------------------------------- kubelet-shaped cgroups

# Every container test's cgroups live under this top directory, kubelet-shaped below it (the parsers
# key on kubepods/..., pod<uid>, kubepods-...-pod<uid_>.slice), so a real kubelet's /kubepods is never
# touched and a leftover is easy to find.
CGROUP_TOP = "numabench-ci"
CGROUP_ROOT = "/sys/fs/cgroup"


def _hierarchies() -> list[str]:
    """Mount points of every cgroup hierarchy (v1 controllers and the v2 mount)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                out.append(fields[4])
    return out


def make_cpuset(rel: str, cpus: str, mems: str) -> None:
    """Create cgroup ``rel`` (and its parents) with ``cpus``/``mems``, as the kubelet's pod cgroup is
    before the runtime makes the container's cgroup under it (runc copies a new v1 cpuset from its
    parent). v1: the cpuset mount; v2: the unified mount, +cpuset enabled down the chain."""
    parts = [p for p in rel.split("/") if p]
    v1 = os.path.join(CGROUP_ROOT, "cpuset")
    if os.path.exists(os.path.join(v1, "cpuset.cpus")):
        path = v1
        for p in parts:
            parent, path = path, os.path.join(path, p)
            os.makedirs(path, exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):
                with open(os.path.join(parent, name)) as src, open(os.path.join(path, name), "w") as dst:
                    dst.write(src.read().strip() or "\n")
        with open(os.path.join(path, "cpuset.mems"), "w") as f:
            f.write(mems)
        with open(os.path.join(path, "cpuset.cpus"), "w") as f:
            f.write(cpus)
        return
    path = CGROUP_ROOT
    if "cpuset" not in open(os.path.join(path, "cgroup.controllers")).read().split():
        pytest.skip("no cpuset controller in cgroup v1 or v2: cannot give the pod a cpuset")
    for p in parts:
        with open(os.path.join(path, "cgroup.subtree_control"), "w") as f:
            f.write("+cpuset")
        path = os.path.join(path, p)
        os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "cpuset.cpus"), "w") as f:
        f.write(cpus)
    with open(os.path.join(path, "cpuset.mems"), "w") as f:
        f.write(mems)


def remove_cgroups(top: str = CGROUP_TOP) -> list[str]:
    """rmdir ``top`` and everything below it in every hierarchy, deepest first; returns what stayed."""
    left = []
    for mount in _hierarchies():
        base = os.path.join(mount, top)
        if not os.path.isdir(base):
            continue
        for dirpath, _dirs, _files in os.walk(base, topdown=False):
            try:
                os.rmdir(dirpath)
            except OSError:
                left.append(dirpath)
    return left


def online_cpus() -> list[int]:
    from numabench.util.cpulist import parse_cpulist

    with open("/sys/devices/system/cpu/online") as f:
        return sorted(parse_cpulist(f.read().strip()))


