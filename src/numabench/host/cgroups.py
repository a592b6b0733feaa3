"""This process's cpuset: the cgroup's ``cpuset.cpus``/``cpuset.mems`` (v1 or v2) and the
kernel's ``Cpus_allowed_list``/``Mems_allowed_list``.

How the cgroup directory is found (``Documentation/admin-guide/cgroup-v2.rst``, "Namespace"):

1. ``/proc/<pid>/cgroup`` names the process's cgroup per hierarchy: v1 lines
   ``3:cpuset:/path``, the v2 line ``0::/path``. Hybrid hosts have both.
2. ``/proc/<pid>/mountinfo`` gives each hierarchy's mount: v1 ``cgroup`` with the ``cpuset``
   super option; v2 ``cgroup2`` whose ``cgroup.controllers`` lists ``cpuset``. The 4th field
   is the cgroup the mount shows at its mount point, so the directory is
   ``<mountpoint>/<path relative to that root>``. In a container with a cgroup namespace the
   path is ``/`` and the mount root is ``/``: the directory is the mount point itself.
3. Effective values are read: v2 ``cpuset.{cpus,mems}.effective``; v1
   ``cpuset.effective_{cpus,mems}``, else ``cpuset.{cpus,mems}``.

Missing cgroup files never raise: the cpuset fields are then None and the ``/proc`` status
values (which the kernel always enforces) remain. Mount points are joined under ``fs_root`` so
a captured tree can stand for ``/``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from numabench.errors import CgroupError
from numabench.util.cpulist import parse_cpulist
from numabench.util.fsread import read_text

__all__ = [
    "CpusetView",
    "KubeCgroup",
    "read_process_cpuset",
    "parse_proc_cgroup",
    "parse_mountinfo",
    "MountInfo",
    "kube_cgroup",
    "process_capture_files",
]


@dataclass(frozen=True)
class CpusetView:
    """What CPUs and memory nodes a process may use, and where that comes from."""

    cgroup_version: int | None  # 1, 2, or None when no cpuset controller was found
    cgroup_path: str | None  # as /proc/<pid>/cgroup names it, for the cpuset hierarchy
    cpuset_cpus: tuple[int, ...] | None  # effective cpuset.cpus; None if unreadable
    cpuset_mems: tuple[int, ...] | None  # effective cpuset.mems; None if unreadable
    cpus_allowed: tuple[int, ...]  # Cpus_allowed_list of /proc/<pid>/status
    mems_allowed: tuple[int, ...]  # Mems_allowed_list of /proc/<pid>/status
    cpuset_dir: str | None  # the directory the cpuset files were read from (under fs_root)

    @property
    def kube(self) -> KubeCgroup | None:
        """The pod identity in ``cgroup_path``, if it is a kubelet path."""
        return kube_cgroup(self.cgroup_path) if self.cgroup_path else None

    def to_dict(self) -> dict[str, Any]:
        kube = self.kube
        return {
            "cgroup_version": self.cgroup_version,
            "cgroup_path": self.cgroup_path,
            "cpuset_dir": self.cpuset_dir,
            "cpuset_cpus": None if self.cpuset_cpus is None else list(self.cpuset_cpus),
            "cpuset_mems": None if self.cpuset_mems is None else list(self.cpuset_mems),
            "cpus_allowed": list(self.cpus_allowed),
            "mems_allowed": list(self.mems_allowed),
            "kube": None if kube is None else kube.to_dict(),
        }


@dataclass(frozen=True)
class MountInfo:
    """One line of /proc/<pid>/mountinfo (``Documentation/filesystems/proc.rst`` 3.5)."""

    root: str  # 4th field: the path inside the filesystem shown at the mount point
    mount_point: str
    fstype: str
    super_options: tuple[str, ...]


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[MountInfo]:
    """Parse mountinfo text; malformed lines are skipped."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        lf = left.split()
        rf = right.split()
        if len(lf) < 6 or len(rf) < 2:
            continue
        mounts.append(
            MountInfo(
                root=_unescape(lf[3]),
                mount_point=_unescape(lf[4]),
                fstype=rf[0],
                super_options=tuple(rf[2].split(",")) if len(rf) > 2 else (),
            )
        )
    return mounts


def parse_proc_cgroup(text: str) -> tuple[dict[str, str], str | None]:
    """Parse /proc/<pid>/cgroup: ``({v1 controller: path}, v2 path or None)``.

    Named v1 hierarchies appear under their ``name=...`` key.
    """
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, controllers, path = parts
        if hid == "0" and controllers == "":
            v2 = path
            continue
        for ctrl in controllers.split(","):
            if ctrl:
                v1[ctrl] = path
    return v1, v2


def _read_list(path: str) -> tuple[int, ...] | None:
    text = read_text(path)
    if text is None:
        return None
    try:
        return parse_cpulist(text)
    except ValueError:
        return None


def _under(fs_root: str, path: str) -> str:
    return os.path.join(fs_root, path.lstrip("/"))


def cgroup_dir(fs_root: str, mount: MountInfo, cgroup_path: str) -> str | None:
    """The directory of ``cgroup_path`` through ``mount``, or None if the mount does not show it."""
    root = mount.root.rstrip("/") or "/"
    path = cgroup_path.rstrip("/") or "/"
    if root == "/":
        rel = path
    elif path == root:
        rel = "/"
    elif path.startswith(root + "/"):
        rel = path[len(root):]
    else:
        return None
    if "/.." in rel:  # outside the namespace root: not reachable through this mount
        return None
    return _under(fs_root, mount.mount_point.rstrip("/") + rel) if rel != "/" else _under(
        fs_root, mount.mount_point
    )


def read_process_cpuset(proc_root: str = "/proc", fs_root: str = "/", pid: int | str = "self") -> CpusetView:
    """Read the cpuset of process ``pid`` (see the module docstring for the method).

    Raises:
        CgroupError: ``<proc_root>/<pid>/status`` cannot be read, or lacks
            ``Cpus_allowed_list``/``Mems_allowed_list``.
    """
    pid_dir = os.path.join(proc_root, str(pid))
    status_path = os.path.join(pid_dir, "status")
    status = read_text(status_path)
    if status is None:
        raise CgroupError(
            f"cannot read {status_path}",
            fix="check that /proc is mounted, or capture it with `numabench topology --capture DIR`",
        )
    fields: dict[str, str] = {}
    for line in status.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    allowed: dict[str, tuple[int, ...]] = {}
    for key in ("Cpus_allowed_list", "Mems_allowed_list"):
        if key not in fields:
            raise CgroupError(f"{status_path} has no {key} line", fix="use Linux 2.6.26 or later")
        try:
            allowed[key] = parse_cpulist(fields[key])
        except ValueError as exc:
            raise CgroupError(f"{status_path}: {key}: {exc}") from None

    version, cgroup_path, cpus, mems, cpuset_dir = _find_cpuset(pid_dir, fs_root)
    return CpusetView(
        cgroup_version=version,
        cgroup_path=cgroup_path,
        cpuset_cpus=cpus,
        cpuset_mems=mems,
        cpus_allowed=allowed["Cpus_allowed_list"],
        mems_allowed=allowed["Mems_allowed_list"],
        cpuset_dir=cpuset_dir,
    )


# (cgroup version, cgroup path, cpuset cpus, cpuset mems, cpuset directory), as CpusetView holds them.
_CpusetFound = tuple[int | None, str | None, tuple[int, ...] | None, tuple[int, ...] | None, str | None]


def _find_cpuset(pid_dir: str, fs_root: str) -> _CpusetFound:
    cgroup_text = read_text(os.path.join(pid_dir, "cgroup"))
    mountinfo_text = read_text(os.path.join(pid_dir, "mountinfo"))
    if cgroup_text is None:
        return None, None, None, None, None
    v1, v2 = parse_proc_cgroup(cgroup_text)
    mounts = parse_mountinfo(mountinfo_text) if mountinfo_text is not None else []

    if "cpuset" in v1:
        path = v1["cpuset"]
        for mount in mounts:
            if mount.fstype != "cgroup" or "cpuset" not in mount.super_options:
                continue
            d = cgroup_dir(fs_root, mount, path)
            if d is None:
                continue
            cpus = _read_list(os.path.join(d, "cpuset.effective_cpus"))
            if cpus is None:
                cpus = _read_list(os.path.join(d, "cpuset.cpus"))
            mems = _read_list(os.path.join(d, "cpuset.effective_mems"))
            if mems is None:
                mems = _read_list(os.path.join(d, "cpuset.mems"))
            return 1, path, cpus, mems, d
        # The controller is listed but its hierarchy is not mounted (or not visible here).
        return 1, path, None, None, None

    if v2 is not None:
        for mount in mounts:
            if mount.fstype != "cgroup2":
                continue
            controllers = read_text(os.path.join(_under(fs_root, mount.mount_point), "cgroup.controllers"))
            if controllers is None or "cpuset" not in controllers.split():
                continue
            d = cgroup_dir(fs_root, mount, v2)
            if d is None:
                return 2, v2, None, None, None
            cpus = _read_list(os.path.join(d, "cpuset.cpus.effective"))
            mems = _read_list(os.path.join(d, "cpuset.mems.effective"))
            return 2, v2, cpus, mems, d
    # No cpuset controller: keep the unified path as the process's cgroup, if any.
    return None, v2, None, None, None


# --------------------------------------------------------------------------- capture

_CPUSET_FILES_V1: tuple[str, ...] = ("cpuset.cpus", "cpuset.mems", "cpuset.effective_cpus", "cpuset.effective_mems")
_CPUSET_FILES_V2: tuple[str, ...] = ("cpuset.cpus", "cpuset.mems", "cpuset.cpus.effective", "cpuset.mems.effective",
                    "cgroup.controllers")
# hugetlb limits: v1 hugetlb.<size>.limit_in_bytes (and rsvd), v2 hugetlb.<size>.max (and rsvd).
_HUGETLB_LIMIT = re.compile(r"^hugetlb\.\w+\.(?:rsvd\.)?(?:limit_in_bytes|max)$")


def process_capture_files(proc_root: str = "/proc", fs_root: str = "/", pid: int | str = "self") -> list[str]:
    """The cgroup files behind process ``pid``'s cpuset view and hugetlb limits, for a capture.

    Paths are absolute under ``fs_root`` (existing files only): for each v1 hierarchy with the
    cpuset or hugetlb controller, and for the v2 hierarchy, the process's cgroup directory's
    ``cpuset.*`` files (configured and effective) and ``hugetlb.*`` limits, plus each v2
    mount's ``cgroup.controllers``, which ``read_process_cpuset`` checks. Never raises.
    """
    pid_dir = os.path.join(proc_root, str(pid))
    cgroup_text = read_text(os.path.join(pid_dir, "cgroup"))
    mountinfo_text = read_text(os.path.join(pid_dir, "mountinfo"))
    if cgroup_text is None or mountinfo_text is None:
        return []
    v1, v2 = parse_proc_cgroup(cgroup_text)
    out: list[str] = []
    for mount in parse_mountinfo(mountinfo_text):
        if mount.fstype == "cgroup":
            ctrl = next((c for c in ("cpuset", "hugetlb") if c in mount.super_options and c in v1), None)
            d = cgroup_dir(fs_root, mount, v1[ctrl]) if ctrl else None
            names = _CPUSET_FILES_V1
        elif mount.fstype == "cgroup2" and v2 is not None:
            out.append(os.path.join(_under(fs_root, mount.mount_point), "cgroup.controllers"))
            d = cgroup_dir(fs_root, mount, v2)
            names = _CPUSET_FILES_V2
        else:
            continue
        if d is None or not os.path.isdir(d):
            continue
        listed = sorted(os.listdir(d))
        out += [os.path.join(d, n) for n in listed if n in names or _HUGETLB_LIMIT.match(n)]
    return sorted(p for p in set(out) if os.path.isfile(p))


# --------------------------------------------------------------------------- kubelet paths


@dataclass(frozen=True)
class KubeCgroup:
    """The pod identity a kubelet cgroup path encodes."""

    qos_class: str  # "Guaranteed", "Burstable" or "BestEffort"
    pod_uid: str  # with dashes, as the API shows it
    container_id: str | None  # 64 hex digits, when the path goes down to the container
    runtime: str | None  # "cri-containerd", "crio", "docker" (systemd driver only)
    driver: str  # "systemd" or "cgroupfs"

    def to_dict(self) -> dict[str, Any]:
        return {
            "qos_class": self.qos_class,
            "pod_uid": self.pod_uid,
            "container_id": self.container_id,
            "runtime": self.runtime,
            "driver": self.driver,
        }


_QOS = {"": "Guaranteed", "burstable": "Burstable", "besteffort": "BestEffort"}
_SYSTEMD_POD = re.compile(r"^kubepods(?:-(burstable|besteffort))?-pod([0-9a-fA-F_]+)\.slice$")
_SYSTEMD_CTR = re.compile(r"^(?:([a-z-]+)-)?([0-9a-f]{64})\.scope$")
_CGROUPFS_POD = re.compile(r"^pod([0-9a-fA-F-]+)$")


def kube_cgroup(path: str) -> KubeCgroup | None:
    """Parse a kubelet cgroup path (systemd or cgroupfs driver); None if it is not one.

    systemd: ``/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/
    cri-containerd-<id>.scope`` (the uid's ``-`` written ``_``); cgroupfs:
    ``/kubepods/burstable/pod<uid>/<id>``. See the kubelet's ``cgroup_manager_linux.go``.
    """
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        m = _SYSTEMD_POD.match(part)
        if m:
            container = runtime = None
            if i + 1 < len(parts):
                c = _SYSTEMD_CTR.match(parts[i + 1])
                if c:
                    runtime, container = c.group(1), c.group(2)
            return KubeCgroup(
                qos_class=_QOS[m.group(1) or ""],
                pod_uid=m.group(2).replace("_", "-"),
                container_id=container,
                runtime=runtime,
                driver="systemd",
            )
        m = _CGROUPFS_POD.match(part)
        if m and i > 0 and (parts[i - 1] in ("kubepods", "burstable", "besteffort")):
            qos = "" if parts[i - 1] == "kubepods" else parts[i - 1]
            container = runtime = None
            if i + 1 < len(parts):
                # containerd names the directory by the bare id; CRI-O as crio-<id>.
                c = re.fullmatch(r"(?:(crio)-)?([0-9a-f]{64})", parts[i + 1])
                if c:
                    runtime, container = c.group(1), c.group(2)
            return KubeCgroup(
                qos_class=_QOS[qos],
                pod_uid=m.group(1),
                container_id=container,
                runtime=runtime,
                driver="cgroupfs",
            )
    return None
