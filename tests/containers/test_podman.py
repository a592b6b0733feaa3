"""numabench in podman + runc: the placement method each security setting allows.

podman's default seccomp profile (containers/common's, since June 2021) allows mbind, set_mempolicy
and get_mempolicy for everyone and answers move_pages and migrate_pages with EPERM, with or
without CAP_SYS_NICE; unconfined allows both. numabench must record what it could do.
"""

from __future__ import annotations

import pytest
from runtimes import numabench_json, online_cpus, placements, run

RUN_ARGS = ["run", "--json", "--size", "16M", "--kernels", "latency", "--repeat", "3", "--pages", "4k"]

CASES = [
    pytest.param([], ("mbind", "numa_maps"), id="default-seccomp"),
    pytest.param(["--cap-add", "SYS_NICE"], ("mbind", "numa_maps"), id="cap-sys-nice"),
    pytest.param(["--security-opt", "seccomp=unconfined"], ("mbind", "move_pages"), id="unconfined"),
    pytest.param(["--user", "65532", "--read-only", "--cap-drop", "ALL"], ("mbind", "numa_maps"),
                 id="nonroot-readonly-nocaps"),
]


@pytest.mark.parametrize("options, expected", CASES)
def test_placement_method_recorded(podman_env, image, options, expected):
    cpu = online_cpus()[-1]
    proc = run(["podman", "run", "--rm", "--network", "none", f"--cpuset-cpus={cpu}", "--cpuset-mems=0",
                *options, image, *RUN_ARGS], env=podman_env, timeout=180)
    result = numabench_json(proc.stdout)
    assert placements(result) == {expected}, proc.stderr[-2000:]
    pod = result["environment"]["pod"]
    assert pod["cgroup"]["cpus_allowed"] == [cpu]


def test_image_runs_as_65532_read_only(podman_env, image):
    """The image's own user, and nothing written: a read-only root with no tmpfs on /tmp."""
    proc = run(["podman", "run", "--rm", "--network", "none", "--read-only", "--read-only-tmpfs=false",
                "--cap-drop", "ALL", "--entrypoint", "python3", image, "-c",
                "import os, sys, numabench.cli; print(os.getuid(), os.getgid(), sys.flags.dont_write_bytecode)"],
               env=podman_env)
    assert proc.stdout.split() == ["65532", "65532", "1"]


def test_image_has_no_compiler_and_no_pyc(podman_env, image):
    proc = run(["podman", "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", image, "-c",
                "for c in gcc cc cc1 ld; do command -v $c; done; find /opt/numabench -name '*.pyc' | head -3; "
                "echo end"], env=podman_env)
    assert proc.stdout.split() == ["end"], f"compiler or .pyc in the image: {proc.stdout}"
