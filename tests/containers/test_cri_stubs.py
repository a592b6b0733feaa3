"""The committed CRI stubs are exactly what proto/generate.sh makes from the vendored api.proto,
with the grpcio-tools version named in proto/__init__.py (the CRI messages the backend builds are
checked in tests/unit/test_cri_configs.py)."""

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

