"""How much more memory this process's memory cgroup lets it charge before the OOM killer acts.

A memory scan takes a node's free memory less a margin; inside a pod (or any memory-limited
cgroup) the limit is usually far below the node's free memory, and crossing it kills the process
with everything measured. The headroom is the smallest (limit - usage) over the process's cgroup
and its ancestors, since a parent's limit binds its children too:

- cgroup v2: ``memory.max`` ("max" = no limit) and ``memory.current``
  (Documentation/admin-guide/cgroup-v2.rst, "Memory Interface Files");
- cgroup v1: ``memory.limit_in_bytes`` (a value near 2^63 = no limit) and ``memory.usage_in_bytes``.

Read under proc_root/fs_root like the other host readers; None when no limit applies or none can be
read.
"""

from __future__ import annotations

import os

from numabench.host.cgroups import cgroup_dir, parse_mountinfo, parse_proc_cgroup
from numabench.util.fsread import read_text

# cgroup v1 reports "no limit" as PAGE_COUNTER_MAX x page size: about 2^63 rounded down to a page.
_V1_UNLIMITED = 1 << 60


def _int(path: str) -> int | None:
    text = read_text(path)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _headroom(directory: str, stop: str, limit_file: str, usage_file: str) -> int | None:
    """min(limit - usage) from `directory` up to `stop` (the mount point), None when no level limits."""
    best: int | None = None
    d = directory
    while True:
        limit, usage = _int(os.path.join(d, limit_file)), _int(os.path.join(d, usage_file))
        if limit is not None and limit < _V1_UNLIMITED and usage is not None:
            room = max(0, limit - usage)
            best = room if best is None else min(best, room)
        if os.path.normpath(d) == os.path.normpath(stop) or d in ("/", ""):
            return best
        d = os.path.dirname(d)


def memory_headroom_bytes(proc_root: str = "/proc", fs_root: str = "/", pid: str = "self") -> int | None:
    """Bytes this process may still charge to its memory cgroup (the tightest level), None for no limit."""
    cgroup_text = read_text(os.path.join(proc_root, pid, "cgroup"))
    mount_text = read_text(os.path.join(proc_root, pid, "mountinfo"))
    if cgroup_text is None or mount_text is None:
        return None
    v1, v2 = parse_proc_cgroup(cgroup_text)
    for mount in parse_mountinfo(mount_text):
        top = os.path.join(fs_root, mount.mount_point.lstrip("/"))
        if mount.fstype == "cgroup" and "memory" in mount.super_options and "memory" in v1:
            d = cgroup_dir(fs_root, mount, v1["memory"])
            if d is not None:
                return _headroom(d, top, "memory.limit_in_bytes", "memory.usage_in_bytes")
        if mount.fstype == "cgroup2" and v2 is not None and "memory" not in v1:
            d = cgroup_dir(fs_root, mount, v2)
            if d is not None:
                return _headroom(d, top, "memory.max", "memory.current")
    return None
