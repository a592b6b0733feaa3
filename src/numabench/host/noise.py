"""What on this machine may add noise to a measurement (pyperf's ``system show``, for NUMA runs).

``read_noise(cpus)`` reads, under roots that tests point at captured trees:

- ``cpufreq_governor``: every chosen CPU's ``cpufreq/scaling_governor`` (ok: all ``performance``);
- ``turbo``: ``intel_pstate/no_turbo`` or ``cpufreq/boost`` (ok: disabled; boost changes clocks with
  temperature and how many cores are busy);
- ``thp``: ``transparent_hugepage/enabled`` (ok: ``madvise`` or ``never``; with ``always``
  khugepaged may collapse other processes' pages during a run);
- ``load_average``: 1-minute load per online CPU (ok: below 0.5);
- ``runnable_tasks``: ``procs_running`` in ``/proc/stat`` less this process (ok: none; machine-wide);
- ``cpu_busy``: each chosen CPU's busy share over a short sample of ``/proc/stat`` (ok: below 10%);
- ``smt_siblings_busy``: the same for the SMT siblings of the chosen CPUs
  (``topology/thread_siblings_list``) that are not chosen themselves: a busy sibling shares the
  core's caches and load/store units (ok: below 10%).

ASLR is left out: it moves nothing numabench measures (buffers are page aligned and placed).
Each finding is ``{name, value, ok, advice}``; ``ok`` is None when the figure cannot be read
(a VM without cpufreq, a captured tree without /proc/stat deltas) and advice says so.
Nothing here changes a setting: the advice says which file to write.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from numabench.errors import UsageError
from numabench.host.system import bracketed_mode
from numabench.util.cpulist import format_cpulist, parse_cpulist
from numabench.util.fsread import read_text

__all__ = ["BUSY_LIMIT", "LOAD_PER_CPU_LIMIT", "SAMPLE_SECONDS", "read_noise"]

SAMPLE_SECONDS = 0.1
BUSY_LIMIT = 0.10  # share of a CPU's time not idle during the sample
LOAD_PER_CPU_LIMIT = 0.5


def _finding(name: str, value: Any, ok: bool | None, advice: str) -> dict[str, Any]:
    return {"name": name, "value": value, "ok": ok, "advice": advice}


def _online(sysfs_root: str) -> tuple[int, ...] | None:
    text = read_text(os.path.join(sysfs_root, "devices/system/cpu/online"))
    try:
        return parse_cpulist(text) if text is not None else None
    except ValueError:
        return None


def _proc_stat(procfs_root: str) -> tuple[dict[int, tuple[int, int]], int | None]:
    """({cpu: (busy ticks, total ticks)}, procs_running) from /proc/stat ({} and None if unreadable).

    Fields: user nice system idle iowait irq softirq steal guest guest_nice (proc(5)); guest time
    is already inside user, so only the first eight count; idle and iowait are not busy.
    """
    text = read_text(os.path.join(procfs_root, "stat"))
    cpus: dict[int, tuple[int, int]] = {}
    running = None
    if text is None:
        return cpus, running
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0].startswith("cpu") and parts[0][3:].isdigit():
            try:
                ticks = [int(v) for v in parts[1:9]]
            except ValueError:
                continue
            ticks += [0] * (8 - len(ticks))
            total = sum(ticks)
            cpus[int(parts[0][3:])] = (total - ticks[3] - ticks[4], total)
        elif parts[0] == "procs_running" and len(parts) > 1 and parts[1].isdigit():
            running = int(parts[1])
    return cpus, running


def _busy(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]],
          cpus: Iterable[int]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for cpu in cpus:
        if cpu not in before or cpu not in after:
            out[str(cpu)] = None
            continue
        busy = after[cpu][0] - before[cpu][0]
        total = after[cpu][1] - before[cpu][1]
        out[str(cpu)] = round(busy / total, 3) if total > 0 else None
    return out


def _busy_finding(name: str, busy: dict[str, float | None], what: str, fix: str) -> dict[str, Any]:
    known = {c: v for c, v in busy.items() if v is not None}
    if not known:
        return _finding(name, busy, None, f"could not sample {what}: /proc/stat unreadable or did not move")
    hot = {c: v for c, v in known.items() if v >= BUSY_LIMIT}
    if hot:
        listed = ", ".join(f"CPU {c} {v:.0%}" for c, v in hot.items())
        return _finding(name, busy, False, f"{what} busy ({listed}, limit {BUSY_LIMIT:.0%}): {fix}")
    return _finding(name, busy, True, f"{what} idle (below {BUSY_LIMIT:.0%} busy)")


def _governor(sysfs_root: str, cpus: tuple[int, ...]) -> dict[str, Any]:
    govs = {str(c): (read_text(os.path.join(sysfs_root, f"devices/system/cpu/cpu{c}/cpufreq/scaling_governor"))
                     or "").strip() or None for c in cpus}
    if all(g is None for g in govs.values()):
        return _finding("cpufreq_governor", govs, None,
                        "no cpufreq on these CPUs (a VM, or no driver): clock speed is not under this kernel's control")
    slow = sorted(int(c) for c, g in govs.items() if g is not None and g != "performance")
    if slow:
        listed = format_cpulist(slow)
        return _finding("cpufreq_governor", govs, False,
                        f"CPUs {listed} are not on the performance governor: write performance to "
                        f"{sysfs_root}/devices/system/cpu/cpu{slow[0]}/cpufreq/scaling_governor (each CPU), "
                        "or run cpupower frequency-set -g performance")
    return _finding("cpufreq_governor", govs, True, "performance governor on every chosen CPU")


def _turbo(sysfs_root: str) -> dict[str, Any]:
    no_turbo_path = os.path.join(sysfs_root, "devices/system/cpu/intel_pstate/no_turbo")
    boost_path = os.path.join(sysfs_root, "devices/system/cpu/cpufreq/boost")
    no_turbo = (read_text(no_turbo_path) or "").strip()
    if no_turbo in ("0", "1"):
        if no_turbo == "1":
            return _finding("turbo", "disabled", True, "turbo boost disabled (intel_pstate/no_turbo = 1)")
        return _finding("turbo", "enabled", False,
                        f"turbo boost changes clocks with temperature and busy cores: echo 1 > {no_turbo_path}")
    boost = (read_text(boost_path) or "").strip()
    if boost in ("0", "1"):
        if boost == "0":
            return _finding("turbo", "disabled", True, "frequency boost disabled (cpufreq/boost = 0)")
        return _finding("turbo", "enabled", False,
                        f"frequency boost changes clocks with temperature and busy cores: echo 0 > {boost_path}")
    return _finding("turbo", None, None, "no intel_pstate/no_turbo or cpufreq/boost: turbo state unknown")


def _thp(sysfs_root: str) -> dict[str, Any]:
    path = os.path.join(sysfs_root, "kernel/mm/transparent_hugepage/enabled")
    mode = bracketed_mode(read_text(path))
    if mode is None:
        return _finding("thp", None, None, "no transparent_hugepage/enabled: THP mode unknown")
    if mode == "always":
        return _finding("thp", mode, False,
                        f"THP always: khugepaged may collapse pages of other processes during a run "
                        f"(numabench asks for THP per buffer with --pages thp): echo madvise > {path}")
    return _finding("thp", mode, True, f"THP {mode}: numabench chooses THP per buffer")


def _load(procfs_root: str, n_online: int) -> dict[str, Any]:
    text = read_text(os.path.join(procfs_root, "loadavg"))
    try:
        one, five, fifteen = (float(v) for v in (text or "").split()[:3])
    except ValueError:
        return _finding("load_average", None, None, "no /proc/loadavg: load unknown")
    value = {"1min": one, "5min": five, "15min": fifteen, "cpus": n_online}
    per_cpu = one / max(1, n_online)
    if per_cpu >= LOAD_PER_CPU_LIMIT:
        return _finding("load_average", value, False,
                        f"load {one:.2f} on {n_online} CPU(s) ({per_cpu:.2f} per CPU, limit {LOAD_PER_CPU_LIMIT}): "
                        "stop other work on this machine before measuring")
    return _finding("load_average", value, True, f"load {one:.2f} on {n_online} CPU(s)")


def _runnable(running: int | None) -> dict[str, Any]:
    if running is None:
        return _finding("runnable_tasks", None, None, "no procs_running in /proc/stat")
    others = max(0, running - 1)  # this process was running while it read /proc/stat
    if others:
        return _finding("runnable_tasks", others, False,
                        f"{others} other task(s) runnable machine-wide when sampled: "
                        "see cpu_busy for the chosen CPUs; stop other work on this machine")
    return _finding("runnable_tasks", 0, True, "no other runnable task when sampled")


def _siblings(sysfs_root: str, cpus: tuple[int, ...]) -> tuple[int, ...] | None:
    """SMT siblings of ``cpus`` that are not in ``cpus`` (None when no CPU has a siblings file)."""
    found = False
    out: set[int] = set()
    for cpu in cpus:
        text = read_text(os.path.join(sysfs_root, f"devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"))
        if text is None:
            continue
        found = True
        try:
            out.update(parse_cpulist(text))
        except ValueError:
            continue
    return tuple(sorted(out - set(cpus))) if found else None


def read_noise(cpus: Iterable[int], sysfs_root: str = "/sys", procfs_root: str = "/proc", *,
               sample_seconds: float = SAMPLE_SECONDS,
               sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """The noise findings for measuring on ``cpus`` (OS CPU ids), JSON-ready.

    Returns ``{"cpus": [...], "sample_seconds": s, "findings": [{name, value, ok, advice}, ...],
    "ok": bool}``; ``ok`` is False when any finding is False (unknown findings do not count).
    Takes ``sample_seconds`` (0.1 s) to sample CPU busy time: ``sleep`` is called once between the
    two reads of ``/proc/stat`` (tests pass one that rewrites a captured file).

    Raises:
        UsageError: ``cpus`` is empty, or names a CPU that is not online (per
            ``devices/system/cpu/online``, when that file exists).
    """
    chosen = tuple(sorted({int(c) for c in cpus}))
    if not chosen:
        raise UsageError("no CPUs to check for noise", "give CPUs, e.g. --cpus 0-1")
    online = _online(sysfs_root)
    if online is not None:
        missing = [c for c in chosen if c not in online]
        if missing:
            raise UsageError(f"CPU(s) {format_cpulist(missing)} are not online (online: {format_cpulist(online)})",
                             "choose online CPUs")
    siblings = _siblings(sysfs_root, chosen)
    before, _ = _proc_stat(procfs_root)
    sleep(sample_seconds)
    after, running = _proc_stat(procfs_root)
    findings = [
        _governor(sysfs_root, chosen),
        _turbo(sysfs_root),
        _thp(sysfs_root),
        _load(procfs_root, len(online) if online else len(after) or len(chosen)),
        _runnable(running),
        _busy_finding("cpu_busy", _busy(before, after, chosen), "the chosen CPUs",
                      "move other work off them (taskset, cpusets, isolcpus) or choose other CPUs"),
    ]
    if siblings is None:
        findings.append(_finding("smt_siblings_busy", None, None, "no topology/thread_siblings_list: SMT unknown"))
    elif not siblings:
        findings.append(_finding("smt_siblings_busy", {}, True, "no SMT sibling outside the chosen CPUs"))
    else:
        findings.append(_busy_finding(
            "smt_siblings_busy", _busy(before, after, siblings), "SMT siblings of the chosen CPUs",
            "they share cores with the chosen CPUs; keep them idle, choose them too, or turn SMT off "
            f"(echo off > {sysfs_root}/devices/system/cpu/smt/control)"))
    return {"cpus": list(chosen), "sample_seconds": sample_seconds, "findings": findings,
            "ok": all(f["ok"] is not False for f in findings)}
