"""The committed CRI stubs are exactly what proto/generate.sh makes from the vendored api.proto,
with the grpcio-tools version named in proto/__init__.py; and the CRI messages the backend builds."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from runtimes import REPO

PROTO_DIR = os.path.join(REPO, "src", "numabench", "kube", "cri", "proto")


def test_stubs_match_the_vendored_proto(tmp_path):
    tools = pytest.importorskip("grpc_tools", reason="grpcio-tools (the test extra) regenerates the stubs")
    from importlib.metadata import version

    from numabench.kube.cri.proto import GRPC_TOOLS_VERSION

    assert version("grpcio-tools") == GRPC_TOOLS_VERSION, "regenerate with the pinned grpcio-tools"
    assert tools is not None
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run(["bash", os.path.join(PROTO_DIR, "generate.sh"), str(tmp_path)], check=True, env=env)
    for name in ("api_pb2.py", "api_pb2_grpc.py"):
        with open(os.path.join(PROTO_DIR, name)) as a, open(tmp_path / "numabench/kube/cri/proto" / name) as b:
            assert a.read() == b.read(), f"{name} is not what generate.sh makes from api.proto"


def test_kubelet_cgroup_parents_and_resources():
    from numabench.kube.cri.configs import CriPod, cgroup_parent, container_config, parse_cri_log

    uid = "0f0e0d0c-0b0a-0908-0706-050403020100"
    assert cgroup_parent("Guaranteed", uid, root="/") == f"/kubepods/pod{uid}"
    assert cgroup_parent("BestEffort", uid) == f"/numabench/kubepods/besteffort/pod{uid}"
    assert cgroup_parent("Burstable", uid, "systemd") == f"kubepods-burstable-pod{uid.replace('-', '_')}.slice"
    pod = CriPod("p", uid, "ns", "Guaranteed", "img", ("numabench",), "2-3", "1", 1 << 30, {2 << 20: 64 << 20})
    cfg = container_config(pod)
    res = cfg.linux.resources
    assert (res.cpuset_cpus, res.cpuset_mems, res.memory_limit_in_bytes) == ("2-3", "1", 1 << 30)
    assert {(h.page_size, h.limit) for h in res.hugepage_limits} == {("2MB", 64 << 20), ("1GB", 0)}
    sc = cfg.linux.security_context
    assert sc.run_as_user.value == 65532 and sc.readonly_rootfs and list(sc.capabilities.drop_capabilities) == ["ALL"]
    log = ("2026-01-01T00:00:00Z stdout P abc\n2026-01-01T00:00:00Z stderr F err\n"
           "2026-01-01T00:00:00Z stdout F def\n")
    assert parse_cri_log(log) == "err\nabcdef\n"
