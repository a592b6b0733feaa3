"""numabench under containerd (``ctr run --seccomp``: the CRI's RuntimeDefault profile) in
kubelet-shaped cgroups.

containerd's default profile (1.6.16+, 1.7+) allows mbind/set_mempolicy only with CAP_SYS_NICE and
move_pages never, so a pod places by first touch and proves it from /proc/self/numa_maps. The
cgroup path is what the kubelet asks for (cgroupfs driver: ``kubepods[/besteffort|/burstable]/
pod<uid>/<id>``; systemd driver: ``kubepods-<qos>-pod<uid_>.slice/cri-containerd-<id>.scope``)
below the tests' own top directory; ``numabench pod inspect`` must read the QoS class, the pod uid,
the container id and the cpuset from inside.
"""

from __future__ import annotations

import os
import uuid

import pytest
from runtimes import IMAGE, make_cpuset, numabench_json, online_cpus, placements

RUN_ARGS = ["numabench", "run", "--json", "--size", "16M", "--kernels", "latency", "--repeat", "3", "--pages", "4k"]
INSPECT_ARGS = ["numabench", "pod", "inspect", "--json", "--probe-size", "8M"]


def _paths(top: str, driver: str, qos: str, uid: str, cid: str) -> tuple[str, str]:
    """(pod cgroup, container cgroup) as the kubelet and containerd name them."""
    if driver == "cgroupfs":
        pod = "/".join(p for p in (top, "kubepods", "" if qos == "Guaranteed" else qos.lower(), f"pod{uid}") if p)
        return f"/{pod}", f"/{pod}/{cid}"
    level = "" if qos == "Guaranteed" else f"-{qos.lower()}"
    slices = ["kubepods.slice"] + ([f"kubepods{level}.slice"] if level else [])
    pod = f"/{top}/" + "/".join(slices + [f"kubepods{level}-pod{uid.replace('-', '_')}.slice"])
    return pod, f"{pod}/cri-containerd-{cid}.scope"


def _ctr_run(containerd, cgroup: str, argv: list[str], *extra: str):
    name = "nb-" + uuid.uuid4().hex[:12]
    return containerd.ctr("run", "--rm", "--seccomp", "--cgroup", cgroup, "--net-host", *extra, IMAGE, name, *argv,
                          timeout=180)


CASES = [
    pytest.param("cgroupfs", "Guaranteed", id="guaranteed-cgroupfs"),
    pytest.param("cgroupfs", "BestEffort", id="besteffort-cgroupfs"),
    pytest.param("systemd", "Burstable", id="burstable-systemd-driver"),
]


@pytest.mark.parametrize("driver, qos", CASES)
def test_first_touch_in_kubelet_cgroup(containerd, clean_cgroups, driver, qos):
    uid, cid = str(uuid.uuid4()), os.urandom(32).hex()
    pod_cgroup, cgroup = _paths(clean_cgroups, driver, qos, uid, cid)
    cpus = online_cpus()
    if qos == "Guaranteed":
        cpus = cpus[-1:]  # an exclusive CPU, as the static CPU Manager gives
        make_cpuset(pod_cgroup, str(cpus[0]), "0")

    result = numabench_json(_ctr_run(containerd, cgroup, RUN_ARGS).stdout)
    assert placements(result) == {("first-touch", "numa_maps")}
    inspect = numabench_json(_ctr_run(containerd, cgroup, INSPECT_ARGS).stdout)

    pod = inspect["pod"]
    assert (pod["qos_class"], pod["pod_uid"], pod["container_id"], pod["driver"]) == (qos, uid, cid, driver)
    if driver == "systemd":
        assert pod["runtime"] == "cri-containerd"
    assert inspect["cpus"] == cpus
    assert inspect["mems"] == [0]
    assert (inspect["probe"]["method"], inspect["probe"]["verified_by"]) == ("first-touch", "numa_maps")


def test_cap_sys_nice_allows_mbind_never_move_pages(containerd, clean_cgroups):
    uid, cid = str(uuid.uuid4()), os.urandom(32).hex()
    _, cgroup = _paths(clean_cgroups, "cgroupfs", "BestEffort", uid, cid)
    result = numabench_json(_ctr_run(containerd, cgroup, RUN_ARGS, "--cap-add", "CAP_SYS_NICE").stdout)
    assert placements(result) == {("mbind", "numa_maps")}
