"""container_state on a pod whose start failed before CreateContainer returned (found by mypy:
``CriPodHandle.container`` is None there, and was passed to ContainerStatus as the id)."""

from __future__ import annotations

import pytest

from numabench.errors import CriError
from numabench.kube.cri.backend import CriPodHandle, container_state


class NoCallRuntime:
    """A CriClient that records every call: none is expected."""

    socket = "/fake.sock"

    def __init__(self):
        self.calls = []

    def container_status(self, cid):
        self.calls.append(("ContainerStatus", cid))
        raise AssertionError("ContainerStatus called without a container id")


def test_a_pod_without_a_container_is_a_cri_error_and_no_call():
    handle = CriPodHandle(cgroup_parent="/numabench/kubepods/podx", cgroup_driver="cgroupfs", log_dir="",
                          sandbox="sb1", container=None)
    client = NoCallRuntime()
    with pytest.raises(CriError, match="has no container"):
        container_state(client, handle)
    assert client.calls == []
