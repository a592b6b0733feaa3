import os
import shutil

import pytest

from numabench.errors import CgroupError
from numabench.host.cgroups import (
    CpusetView,
    kube_cgroup,
    parse_mountinfo,
    parse_proc_cgroup,
    read_process_cpuset,
)

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "cgroups")
CTR = "3f4a9c2b" * 8


def read(name, **kw):
    root = os.path.join(DATA, name)
    return read_process_cpuset(proc_root=os.path.join(root, "proc"), fs_root=root, **kw)


def under(name, path):
    return os.path.join(DATA, name, path.lstrip("/"))


def test_v1_restricted():
    v = read("v1-restricted")
    assert v == CpusetView(
        cgroup_version=1,
        cgroup_path="/batch/job1",
        cpuset_cpus=(2, 3),
        cpuset_mems=(1,),
        cpus_allowed=(2, 3),
        mems_allowed=(1,),
        cpuset_dir=under("v1-restricted", "/sys/fs/cgroup/cpuset/batch/job1"),
    )


def test_v1_without_effective_files_uses_cpuset_cpus():
    v = read("v1-legacy-no-effective")
    assert (v.cgroup_version, v.cgroup_path) == (1, "/legacy")
    assert (v.cpuset_cpus, v.cpuset_mems) == ((4, 5), (0,))


def test_v1_container_mount_root_is_own_cgroup():
    v = read("v1-kubepods-cgroupfs-container")
    assert v.cgroup_version == 1
    assert v.cpuset_dir == under("v1-kubepods-cgroupfs-container", "/sys/fs/cgroup/cpuset")
    assert (v.cpuset_cpus, v.cpuset_mems) == ((6, 7), (1,))
    assert v.kube is not None
    assert v.kube.qos_class == "Burstable"
    assert v.kube.pod_uid == "0c6b2f4e-1a2b-4c3d-9e8f-001122334455"
    assert v.kube.container_id == CTR
    assert v.kube.driver == "cgroupfs"


def test_v2_restricted():
    v = read("v2-restricted")
    assert v == CpusetView(
        cgroup_version=2,
        cgroup_path="/system.slice/bench.service",
        cpuset_cpus=(0, 1),
        cpuset_mems=(1,),
        cpus_allowed=(0, 1),
        mems_allowed=(1,),
        cpuset_dir=under("v2-restricted", "/sys/fs/cgroup/system.slice/bench.service"),
    )


def test_v2_container_namespace_reads_mount_root():
    v = read("v2-container-ns")
    assert v.cgroup_version == 2
    assert v.cgroup_path == "/"
    assert v.cpuset_dir == under("v2-container-ns", "/sys/fs/cgroup")
    assert (v.cpuset_cpus, v.cpuset_mems) == ((4, 5, 6, 7), (0,))
    assert v.kube is None


def test_hybrid_host_uses_v1_cpuset_not_unified():
    v = read("hybrid-this-host")
    assert v.cgroup_version == 1
    assert v.cgroup_path == "/"
    assert v.cpuset_dir == under("hybrid-this-host", "/sys/fs/cgroup/cpuset")
    assert (v.cpuset_cpus, v.cpuset_mems) == ((0, 1), (0,))
    assert (v.cpus_allowed, v.mems_allowed) == ((0, 1), (0,))


def test_kubepods_systemd_path():
    v = read("v2-kubepods-systemd")
    pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_abcd.slice"
    assert v.cgroup_path == f"{pod}/cri-containerd-{CTR}.scope"
    assert (v.cpuset_cpus, v.cpuset_mems) == ((8, 9, 10, 11), (1,))
    assert v.to_dict()["kube"] == {
        "qos_class": "Burstable",
        "pod_uid": "1234-abcd",
        "container_id": CTR,
        "runtime": "cri-containerd",
        "driver": "systemd",
    }


def test_no_cpuset_controller_keeps_status():
    v = read("v2-no-cpuset")
    assert v == CpusetView(
        cgroup_version=None,
        cgroup_path="/user.slice/user-1000.slice/session-3.scope",
        cpuset_cpus=None,
        cpuset_mems=None,
        cpus_allowed=(0, 1, 2),
        mems_allowed=(0,),
        cpuset_dir=None,
    )


def test_missing_cgroup_files_fall_back_to_status(tmp_path):
    shutil.copytree(os.path.join(DATA, "v1-restricted"), tmp_path / "t")
    os.remove(tmp_path / "t/proc/self/cgroup")
    v = read_process_cpuset(str(tmp_path / "t/proc"), str(tmp_path / "t"))
    assert (v.cgroup_version, v.cgroup_path, v.cpuset_cpus, v.cpuset_dir) == (None, None, None, None)
    assert (v.cpus_allowed, v.mems_allowed) == ((2, 3), (1,))


def test_missing_cpuset_files_keep_version(tmp_path):
    shutil.copytree(os.path.join(DATA, "v2-restricted"), tmp_path / "t")
    d = tmp_path / "t/sys/fs/cgroup/system.slice/bench.service"
    os.remove(d / "cpuset.cpus.effective")
    v = read_process_cpuset(str(tmp_path / "t/proc"), str(tmp_path / "t"))
    assert v.cgroup_version == 2
    assert v.cpuset_cpus is None  # cpuset.cpus (the request) is not the effective set
    assert v.cpuset_mems == (1,)


def test_unmounted_v1_hierarchy(tmp_path):
    shutil.copytree(os.path.join(DATA, "v1-restricted"), tmp_path / "t")
    mi = tmp_path / "t/proc/self/mountinfo"
    mi.write_text("".join(line for line in mi.read_text().splitlines(True) if "cpuset" not in line))
    v = read_process_cpuset(str(tmp_path / "t/proc"), str(tmp_path / "t"))
    assert (v.cgroup_version, v.cgroup_path, v.cpuset_cpus, v.cpuset_dir) == (1, "/batch/job1", None, None)


def test_unreadable_status_raises(tmp_path):
    with pytest.raises(CgroupError) as exc:
        read_process_cpuset(str(tmp_path))
    assert str(tmp_path / "self" / "status") in str(exc.value)


def test_status_without_allowed_lists_raises(tmp_path):
    (tmp_path / "self").mkdir()
    (tmp_path / "self/status").write_text("Name:\tx\n")
    with pytest.raises(CgroupError, match="has no Cpus_allowed_list line"):
        read_process_cpuset(str(tmp_path))


def test_parse_proc_cgroup_hybrid():
    v1, v2 = parse_proc_cgroup("4:memory:/a\n3:cpuset,cpu:/b\n1:name=systemd:/c\n0::/d\n")
    assert v1 == {"memory": "/a", "cpuset": "/b", "cpu": "/b", "name=systemd": "/c"}
    assert v2 == "/d"


def test_parse_mountinfo_escapes_and_optional_fields():
    [m] = parse_mountinfo(
        r"36 25 0:31 /a\040b /mnt/my\040cg rw,relatime shared:9 master:2 - cgroup cgroup rw,cpuset,cpu"
    )
    assert (m.root, m.mount_point, m.fstype) == ("/a b", "/mnt/my cg", "cgroup")
    assert m.super_options == ("rw", "cpuset", "cpu")


@pytest.mark.parametrize("path, expected", [
    (f"/kubepods.slice/kubepods-pod9f3e_77aa.slice/crio-{CTR}.scope",
     ("Guaranteed", "9f3e-77aa", CTR, "crio", "systemd")),
    ("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podab_cd.slice",
     ("BestEffort", "ab-cd", None, None, "systemd")),
    (f"/kubepods/pod11-22/{CTR}", ("Guaranteed", "11-22", CTR, None, "cgroupfs")),
    ("/kubepods/besteffort/pod33-44", ("BestEffort", "33-44", None, None, "cgroupfs")),
    (f"/kubepods/burstable/pod55-66/crio-{CTR}", ("Burstable", "55-66", CTR, "crio", "cgroupfs")),
])
def test_kube_cgroup(path, expected):
    k = kube_cgroup(path)
    assert (k.qos_class, k.pod_uid, k.container_id, k.runtime, k.driver) == expected


@pytest.mark.parametrize("path", ["/", "/user.slice", "/system.slice/pod.service", "/pod123"])
def test_not_kube(path):
    assert kube_cgroup(path) is None


def test_live_process_cpuset():
    v = read_process_cpuset()
    mine = os.sched_getaffinity(0)
    assert mine <= set(v.cpus_allowed)
    assert v.mems_allowed, "a process may always use some node"
    if v.cpuset_cpus is not None:
        # the kernel's allowed CPUs lie within the cgroup's effective cpuset
        assert set(v.cpus_allowed) <= set(v.cpuset_cpus)
    if v.cpuset_mems is not None:
        assert set(v.mems_allowed) <= set(v.cpuset_mems)
    if v.cgroup_version is not None:
        assert v.cgroup_version in (1, 2)
        assert v.cgroup_path.startswith("/")
