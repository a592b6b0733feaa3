"""The environment a result was measured in: kernel, CPU, THP modes, governors, cpuset."""

from __future__ import annotations

import os
import platform
import re
import socket
from typing import Any

from numabench import __version__
from numabench.errors import CgroupError
from numabench.host.cgroups import read_process_cpuset
from numabench.util.cpulist import parse_cpulist
from numabench.util.fsread import read_text

__all__ = ["read_environment", "bracketed_mode", "CPU_FLAGS_OF_INTEREST"]

CPU_FLAGS_OF_INTEREST = ("avx2", "avx512f", "pdpe1gb")


def bracketed_mode(text: str | None) -> str | None:
    """The selected word of a sysfs choice file: ``"always [madvise] never" -> "madvise"``."""
    if text is None:
        return None
    m = re.search(r"\[([^\]]+)\]", text)
    return m.group(1) if m else (text.strip() or None)


def _cpuinfo(procfs_root: str) -> tuple[str | None, dict[str, bool] | None]:
    text = read_text(os.path.join(procfs_root, "cpuinfo"))
    if text is None:
        return None, None
    model = None
    flags: set[str] | None = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        # x86: "model name"; arm64 has no model name, only "CPU part" etc.
        if key == "model name" and model is None:
            model = value.strip()
        elif key in ("flags", "Features") and flags is None:
            flags = set(value.split())
    if flags is None:
        return model, None
    return model, {f: f in flags for f in CPU_FLAGS_OF_INTEREST}


def _governors(sysfs_root: str, cpus: tuple[int, ...]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for cpu in cpus:
        text = read_text(os.path.join(sysfs_root, f"devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor"))
        if text is not None:
            out[str(cpu)] = text.strip()
    return out or None


def _loadavg(procfs_root: str) -> list[float] | None:
    text = read_text(os.path.join(procfs_root, "loadavg"))
    if text is None:
        return None
    try:
        return [float(v) for v in text.split()[:3]]
    except ValueError:
        return None


def read_environment(sysfs_root: str = "/sys", procfs_root: str = "/proc") -> dict[str, Any]:
    """A JSON-ready description of the machine and this process's cpuset.

    Keys: ``hostname``, ``kernel_release``, ``kernel_version``, ``machine`` (``os.uname()``,
    always of the running machine), ``cpu_model`` (cpuinfo ``model name``, None if absent),
    ``cpu_flags`` (``{flag: bool}`` for avx2, avx512f, pdpe1gb; None without a flags line),
    ``thp_enabled``/``thp_defrag`` (the bracketed mode; None if absent),
    ``cpufreq_governors`` (``{"<cpu>": governor}`` for online CPUs, None without cpufreq),
    ``python_version``, ``numabench_version``, ``cpuset`` (``CpusetView.to_dict()``, None if
    ``<procfs_root>/self/status`` is unreadable) and ``loadavg`` (1, 5, 15 min; None if absent).
    Cgroup mounts are looked up under the parent of ``procfs_root`` (``/`` for ``/proc``), so a
    captured tree with ``proc/`` and ``sys/`` side by side works.

    Raises nothing for missing files: each missing figure is None.
    """
    uname = os.uname()
    model, flags = _cpuinfo(procfs_root)
    online_text = read_text(os.path.join(sysfs_root, "devices/system/cpu/online"))
    try:
        online = parse_cpulist(online_text) if online_text is not None else ()
    except ValueError:
        online = ()
    fs_root = os.path.dirname(os.path.abspath(procfs_root)) or "/"
    try:
        cpuset: dict[str, Any] | None = read_process_cpuset(procfs_root, fs_root).to_dict()
    except CgroupError:  # no status file: the environment stays describable
        cpuset = None
    thp = os.path.join(sysfs_root, "kernel/mm/transparent_hugepage")
    return {
        "hostname": socket.gethostname(),
        "kernel_release": uname.release,
        "kernel_version": uname.version,
        "machine": uname.machine,
        "cpu_model": model,
        "cpu_flags": flags,
        "thp_enabled": bracketed_mode(read_text(os.path.join(thp, "enabled"))),
        "thp_defrag": bracketed_mode(read_text(os.path.join(thp, "defrag"))),
        "cpufreq_governors": _governors(sysfs_root, online),
        "python_version": platform.python_version(),
        "numabench_version": __version__,
        "cpuset": cpuset,
        "loadavg": _loadavg(procfs_root),
    }
