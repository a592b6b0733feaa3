"""A local pod executor: no cluster, no container runtime. It makes a container's cgroup the way the
kubelet would after admission (``cpuset.cpus``, ``cpuset.mems``, the memory limit), runs a command
inside it, waits, and removes the cgroup again, also when the command fails or is killed.

Where the cgroup goes (the kubelet's cgroupfs-driver names, under our own top directory so that
a real kubelet's ``/kubepods`` is never touched, while ``numabench.host.cgroups.kube_cgroup`` still
reads the QoS class and pod uid from the path inside the command)::

    numabench/kubepods/pod<uid>/<container>                (Guaranteed)
    numabench/kubepods/burstable/pod<uid>/<container>      (Burstable)
    numabench/kubepods/besteffort/pod<uid>/<container>     (BestEffort)

Each controller (``cpuset``, ``memory``) is taken from a cgroup v1 hierarchy when one is mounted
with it, else from the cgroup v2 mount. On hybrid hosts (v1 cpuset and memory, v2 without
controllers) that means v1 for both; inside a pure v2 system one directory has both.

- cgroup v1: the directory is made under this process's own cgroup of that hierarchy (it stays
  inside whatever limits the caller is under). A new v1 cpuset starts empty, so every
  intermediate directory gets its parent's ``cpuset.cpus``/``cpuset.mems`` first
  (``Documentation/admin-guide/cgroup-v1/cpusets.rst``); the memory limit is
  ``memory.limit_in_bytes``. A task joins by its pid written to ``tasks``.
- cgroup v2: under the mount root, as the kubelet's ``kubepods`` is, because v2 does not let a
  cgroup that holds processes enable controllers for its children ("no internal processes",
  ``Documentation/admin-guide/cgroup-v2.rst``). ``+cpuset``/``+memory`` are written to
  ``cgroup.subtree_control`` from the root down; the limit is ``memory.max``. A process joins
  by its pid written to ``cgroup.procs``.

The child moves itself into the cgroup before ``exec`` (so even its first instruction runs
there), in its own process group; SIGINT and SIGTERM sent to the executor are forwarded to it.
Removal kills whatever is left inside (``cgroup.kill`` where the kernel has it, else SIGKILL to
every pid listed) and retries ``rmdir`` while the kernel still reports the cgroup busy. If the
executor itself is SIGKILLed nothing can clean up: the directories stay, named as above.

Hugepage limits (``hugetlb.*``) are not written: the hugetlb controller is not needed to place
pages, and numabench refuses to allocate from an empty pool anyway.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from numabench.errors import CgroupError, UsageError
from numabench.host.cgroups import parse_mountinfo, parse_proc_cgroup
from numabench.kube.qos import BEST_EFFORT, BURSTABLE
from numabench.util.cpulist import format_cpulist
from numabench.util.procs import pid_alive

__all__ = ["CgroupError", "Hierarchy", "find_hierarchies", "container_cgroup_path", "PodCgroup", "run_in_cgroup",
           "TOP", "owner_tag", "cleanup_orphans"]

TOP = "numabench/kubepods"
CONTROLLERS = ("cpuset", "memory")
_RMDIR_TRIES = 200  # x 0.05 s: the kernel may take a moment to let go of an exited task


@dataclass(frozen=True)
class Hierarchy:
    """Where one or more of our controllers live: ``version`` 1 or 2, the mount point (under the
    fs root), the cgroup below which our directories go (relative to the mount point) and the
    controllers (``cpuset``, ``memory``) this hierarchy carries for us."""

    version: int
    mount_point: str
    base: str
    controllers: tuple[str, ...]

    def path(self, rel: str) -> str:
        return os.path.join(self.mount_point, self.base.strip("/"), rel).rstrip("/")

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "mount_point": self.mount_point, "base": self.base,
                "controllers": list(self.controllers)}


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def find_hierarchies(proc_root: str = "/proc", fs_root: str = "/") -> list[Hierarchy]:
    """The hierarchies that carry ``cpuset`` and ``memory`` for this process (see the module docstring).

    ``memory`` is optional (without it no limit is set); ``cpuset`` is required.

    Raises:
        CgroupError: no cgroup v1 or v2 hierarchy offers the cpuset controller.
    """
    mountinfo = _read(os.path.join(proc_root, "self", "mountinfo")) or ""
    own_v1, _ = parse_proc_cgroup(_read(os.path.join(proc_root, "self", "cgroup")) or "")
    mounts = parse_mountinfo(mountinfo)
    found: dict[str, Hierarchy] = {}
    for ctrl in CONTROLLERS:
        for m in mounts:
            if m.fstype == "cgroup" and ctrl in m.super_options:
                own = own_v1.get(ctrl, "/")
                root = m.root.rstrip("/")
                base = own[len(root):] if root and own.startswith(root) else (own if not root else "/")
                point = os.path.join(fs_root, m.mount_point.lstrip("/"))
                key = f"1:{point}"
                prev = found.get(key)
                found[key] = Hierarchy(1, point, base or "/", (prev.controllers if prev else ()) + (ctrl,))
                break
    v1_ctrls = {c for h in found.values() for c in h.controllers}
    missing = [c for c in CONTROLLERS if c not in v1_ctrls]
    if missing:
        for m in mounts:
            if m.fstype != "cgroup2":
                continue
            point = os.path.join(fs_root, m.mount_point.lstrip("/"))
            available = (_read(os.path.join(point, "cgroup.controllers")) or "").split()
            ctrls = tuple(c for c in missing if c in available)
            if ctrls:
                found[f"2:{point}"] = Hierarchy(2, point, "/", ctrls)
            break
    if not any("cpuset" in h.controllers for h in found.values()):
        raise CgroupError("no cgroup hierarchy offers the cpuset controller (neither a v1 cpuset mount nor a "
                          "cgroup2 mount listing cpuset in cgroup.controllers)",
                          "mount the cpuset controller, or run on a host where the kubelet could pin pods")
    return sorted(found.values(), key=lambda h: (h.version, h.mount_point))


def container_cgroup_path(pod_uid: str, container: str, qos: str) -> str:
    """``numabench/kubepods[/burstable|/besteffort]/pod<uid>/<container>`` (cgroupfs-driver names).

    Raises:
        UsageError: a uid or container name that is not a plain path component.
    """
    for what, value in (("pod uid", pod_uid), ("container name", container)):
        if not value or "/" in value or value in (".", "..") or "\0" in value:
            raise UsageError(f"{what} {value!r} cannot name a cgroup", "use a DNS-1123 name / a UUID")
    level = {BURSTABLE: "burstable", BEST_EFFORT: "besteffort"}.get(qos)
    parts = TOP.split("/") + ([level] if level else []) + [f"pod{pod_uid}", container]
    return "/".join(parts)


# The owner's mark in each container directory's name: cgroupfs cannot hold a marker file, and the
# name survives a SIGKILL of the owner. ``<container>.nb-<pid>-<start time>``: the start time (clock
# ticks after boot, /proc/<pid>/stat field 22) tells a reused pid from the owner. The suffix also
# makes every exec's cgroup its own, so two execs of one pod never kill each other's command.
_OWNER_RE = re.compile(r"\.nb-(\d+)-(\d+)$")


def _start_time(pid: int, proc_root: str = "/proc") -> int | None:
    text = _read(os.path.join(proc_root, str(pid), "stat"))
    if not text or ")" not in text:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def owner_tag(pid: int | None = None) -> str:
    """``.nb-<pid>-<start time>`` of ``pid`` (default: this process), the suffix of its cgroups."""
    pid = os.getpid() if pid is None else pid
    return f".nb-{pid}-{_start_time(pid) or 0}"


def _owner_alive(name: str, proc_root: str = "/proc") -> bool | None:
    """True/False for a directory named with an owner tag (its owner runs / is gone); None: no tag."""
    m = _OWNER_RE.search(name)
    if not m:
        return None
    pid, started = int(m.group(1)), int(m.group(2))
    return pid_alive(pid) and _start_time(pid, proc_root) == started


def cleanup_orphans(hierarchies: list[Hierarchy] | None = None, remove_top: bool = False) -> list[str]:
    """Kill what runs in the cgroups numabench made whose owner is dead (a SIGKILLed ``pod exec`` or
    ``pod run --backend local``), remove them, then every directory of numabench's own tree
    (``numabench/kubepods/...``) left empty; with ``remove_top`` (``pod cleanup``) the empty
    ``numabench/kubepods`` and ``numabench`` too (not before every exec: a concurrent one may be
    making its directories below them). A real kubelet's cgroups are never looked at.

    Returns the directories removed. Raises CgroupError: an orphan cgroup stays busy.
    """
    removed: list[str] = []
    for h in hierarchies if hierarchies is not None else find_hierarchies():
        top = h.path(TOP)
        if not os.path.isdir(top):
            continue
        for dirpath, dirnames, _ in os.walk(top, topdown=False):
            for name in dirnames:
                path = os.path.join(dirpath, name)
                if _owner_alive(name) is False:
                    PodCgroup._empty(path)
                    _rmdir_retrying(path)
                    removed.append(path)
                elif _owner_alive(name) is None:
                    try:
                        os.rmdir(path)  # an empty kubepods/burstable/pod<uid> level; busy ones stay
                        removed.append(path)
                    except OSError:
                        pass
        if remove_top:
            for level in (top, os.path.dirname(top)):
                try:
                    os.rmdir(level)
                    removed.append(level)
                except OSError:
                    break  # still in use
    return removed


def _rmdir_retrying(path: str) -> None:
    for attempt in range(_RMDIR_TRIES):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY) or attempt == _RMDIR_TRIES - 1:
                raise CgroupError(f"cannot remove the cgroup {path}: {exc.strerror}",
                                  f"kill the processes listed in {path}/cgroup.procs, then rmdir it") from None
            PodCgroup._empty(path)
            time.sleep(0.05)


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        raise CgroupError(f"cannot write {value!r} to {path}: {exc.strerror}",
                          "run as root; CPUs and nodes must be online and inside numabench's own cpuset") from None


class PodCgroup:
    """A container's cgroup, made on ``__enter__`` (or ``create``) and removed on ``__exit__``
    (or ``remove``), also after an exception.

    ``cpus``/``mems``: the CPU and NUMA node ids for ``cpuset.cpus``/``cpuset.mems``;
    ``memory_max_bytes``: the memory limit, None for none.
    """

    def __init__(self, pod_uid: str, container: str, qos: str, cpus, mems, memory_max_bytes: int | None = None,
                 hierarchies: list[Hierarchy] | None = None):
        if not cpus or not mems:
            raise UsageError(f"container {container}: an empty cpuset (cpus {list(cpus)}, mems {list(mems)})",
                             "plan the pod first: numabench pod plan")
        self.rel = container_cgroup_path(pod_uid, container, qos) + owner_tag()
        self.cpus = tuple(sorted(cpus))
        self.mems = tuple(sorted(mems))
        self.memory_max_bytes = memory_max_bytes
        self.hierarchies = hierarchies if hierarchies is not None else find_hierarchies()
        self._created: list[str] = []  # directories made by us, parents first

    @property
    def paths(self) -> list[str]:
        """The container's directory in each hierarchy."""
        return [h.path(self.rel) for h in self.hierarchies]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.rel, "directories": self.paths, "hierarchies": [h.to_dict() for h in self.hierarchies],
                "cpuset_cpus": format_cpulist(self.cpus), "cpuset_mems": format_cpulist(self.mems),
                "memory_max_bytes": self.memory_max_bytes}

    def __enter__(self) -> PodCgroup:
        self.create()
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    # --- making
    def create(self) -> None:
        """Make the directories and write the limits.

        Raises:
            CgroupError: a directory or file could not be made or written (what was made is removed).
        """
        cleanup_orphans(self.hierarchies)  # what a killed exec or local pod run left behind
        try:
            for h in self.hierarchies:
                self._create_in(h)
        except BaseException:
            self.remove()
            raise

    def _mkdir(self, path: str) -> bool:
        try:
            os.mkdir(path)
        except FileExistsError:
            return False
        except OSError as exc:
            raise CgroupError(f"cannot create the cgroup {path}: {exc.strerror}", "run as root") from None
        self._created.append(path)
        return True

    def _create_in(self, h: Hierarchy) -> None:
        parts = self.rel.split("/")
        parent = h.path("")
        if not os.path.isdir(parent):
            raise CgroupError(f"the cgroup {parent} does not exist", "check the cgroup mounts (/proc/self/mountinfo)")
        for i, part in enumerate(parts):
            if h.version == 2:
                self._enable_controllers(parent, h.controllers)
            here = os.path.join(parent, part)
            self._mkdir(here)
            leaf = i == len(parts) - 1
            if h.version == 1 and "cpuset" in h.controllers and not leaf:
                # A new v1 cpuset is empty: no task could join anything below it.
                for name in ("cpuset.cpus", "cpuset.mems"):
                    if not (_read(os.path.join(here, name)) or "").strip():
                        _write(os.path.join(here, name), (_read(os.path.join(parent, name)) or "").strip())
            parent = here
        if "cpuset" in h.controllers:
            # v1 wants cpus before mems before tasks; either order works on v2.
            _write(os.path.join(parent, "cpuset.cpus"), format_cpulist(self.cpus))
            _write(os.path.join(parent, "cpuset.mems"), format_cpulist(self.mems))
        if "memory" in h.controllers and self.memory_max_bytes:
            name = "memory.max" if h.version == 2 else "memory.limit_in_bytes"
            _write(os.path.join(parent, name), str(self.memory_max_bytes))

    @staticmethod
    def _enable_controllers(directory: str, controllers) -> None:
        enabled = (_read(os.path.join(directory, "cgroup.subtree_control")) or "").split()
        wanted = [c for c in controllers if c not in enabled]
        if wanted:
            _write(os.path.join(directory, "cgroup.subtree_control"), " ".join(f"+{c}" for c in wanted))

    # --- joining
    def attach(self, pid: int) -> None:
        """Move process ``pid`` into the container's cgroup in every hierarchy.

        Raises:
            CgroupError: a write was refused.
        """
        for h in self.hierarchies:
            name = "cgroup.procs" if h.version == 2 else "tasks"
            _write(os.path.join(h.path(self.rel), name), str(pid))

    def pids(self) -> set[int]:
        """Every pid still inside the container's cgroup (any hierarchy)."""
        out: set[int] = set()
        for d in self.paths:
            for name in ("cgroup.procs", "tasks"):
                text = _read(os.path.join(d, name))
                if text:
                    out.update(int(p) for p in text.split())
        return out

    # --- removing
    def remove(self) -> None:
        """Kill what is left inside, then remove the container's directories and every parent we
        made that is now empty. Safe to call twice.

        Raises:
            CgroupError: the container's directory is still busy after the retries.
        """
        for d in self.paths:
            if os.path.isdir(d):
                self._empty(d)
        leaves = set(self.paths)
        for path in reversed(self._created):
            for attempt in range(_RMDIR_TRIES):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if path not in leaves:
                        break  # a parent another pod still uses
                    if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY) or attempt == _RMDIR_TRIES - 1:
                        raise CgroupError(f"cannot remove the cgroup {path}: {exc.strerror}",
                                          f"kill the processes listed in {path}/cgroup.procs, then rmdir it") from None
                    self._empty(path)
                    time.sleep(0.05)
        self._created = [p for p in self._created if os.path.isdir(p)]

    @staticmethod
    def _empty(directory: str) -> None:
        kill = os.path.join(directory, "cgroup.kill")
        if os.path.exists(kill):
            try:
                _write(kill, "1")
                return
            except CgroupError:
                pass
        for name in ("cgroup.procs", "tasks"):
            for pid in (_read(os.path.join(directory, name)) or "").split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass


def numabench_argv() -> list[str]:
    """How to call this numabench: the console script beside this interpreter, else ``python -m numabench``."""
    script = os.path.join(os.path.dirname(sys.executable), "numabench")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "numabench"]


def run_in_cgroup(cgroup: PodCgroup, argv: list[str], env: dict[str, str] | None = None) -> int:
    """Run ``argv`` inside ``cgroup`` (already made) and wait. Returns its exit status, or
    128 + N when signal N ended it (as a shell reports it). SIGINT/SIGTERM received meanwhile are
    forwarded to the command. stdin, stdout and stderr are inherited.

    Raises:
        UsageError: the command does not exist or cannot be executed.
        CgroupError: the child could not join the cgroup (nothing was run).
    """
    if not argv:
        raise UsageError("no command to run", "give the command after --")

    def join() -> None:  # in the child, between fork and exec
        cgroup.attach(os.getpid())

    started: list[subprocess.Popen] = []
    pending: list[int] = []

    def forward(signum, _frame) -> None:
        if not started:  # arrived while the child was being started: deliver it right after
            pending.append(signum)
            return
        try:
            started[0].send_signal(signum)
        except ProcessLookupError:
            pass

    # Installed before the child exists, so that no SIGTERM can end the executor without cleanup.
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            started.append(subprocess.Popen(argv, env=env, preexec_fn=join, process_group=0))
        except (FileNotFoundError, PermissionError) as exc:
            raise UsageError(f"cannot run {argv[0]}: {exc.strerror}", "give a command on PATH or its full path") \
                from None
        except subprocess.SubprocessError:
            raise CgroupError(f"the command could not join the cgroup {cgroup.paths[0]}",
                              "run as root; the cpuset must hold online CPUs and memory nodes") from None
        for signum in pending:
            started[0].send_signal(signum)
        rc = started[0].wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 - rc if rc < 0 else rc
