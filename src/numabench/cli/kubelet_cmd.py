"""numabench kubelet: the kubelet's resource-manager state files and configuration, read from the node."""

from __future__ import annotations

import json
import os
import sys

import click

from numabench.cli.common import one_line_errors
from numabench.kube.kubelet.checkpoint import (
    CheckpointError,
    CpuManagerState,
    MemoryManagerState,
    load_cpu_manager_state,
    load_memory_manager_state,
    state_paths,
)
from numabench.kube.kubelet.config import lint_file
from numabench.util.cpulist import format_cpulist
from numabench.util.units import format_size

_COLUMNS = ("total", "systemReserved", "allocatable", "reserved", "free")


def _size(n) -> str:
    return "-" if n is None else format_size(int(n))


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def format_state(mem: MemoryManagerState | None, cpu: CpuManagerState | None, kubelet_dir: str) -> str:
    """Per NUMA node and per pod/container tables of the two state files."""
    mem_path, cpu_path = state_paths(kubelet_dir)
    lines: list[str] = []
    if mem is None:
        lines.append(f"{mem_path}: absent")
    else:
        lines.append(f"{mem.path}: policy {mem.policy_name}, format {mem.format}, "
                     f"{mem.checksum.field} {mem.checksum.stored}: {mem.checksum.detail}")
        rows = [["NUMA node", "resource", *_COLUMNS, "assignments", "cells"]]
        for node, st in sorted(mem.machine_state.items()):
            for res, t in (st["memory"] or {"(none)": None}).items():
                rows.append([str(node), res, *(_size(t[c]) if t else "-" for c in _COLUMNS),
                             str(st["number_of_assignments"]), format_cpulist(st["cells"]) or "-"])
        lines += _table(rows)
    if cpu is None:
        lines.append(f"{cpu_path}: absent")
    else:
        lines.append(f"{cpu.path}: policy {cpu.policy_name}, format {cpu.format}, "
                     f"{cpu.checksum.field} {cpu.checksum.stored}: {cpu.checksum.detail}")
        lines.append(f"defaultCpuSet (shared pool): {format_cpulist(cpu.default_cpuset) or '(empty)'}")
        lines += [f"note: {n}" for n in cpu.notes]
    # One row per pod/container found in either file.
    keys: set[tuple[str, str]] = set()
    if mem is not None:
        keys |= {(p, c) for p, cs in mem.entries.items() for c in cs}
        keys |= {(p, "(pod)") for p in mem.pod_entries}
    if cpu is not None:
        keys |= {(p, c) for p, cs in cpu.entries.items() for c in cs}
        keys |= {(p, "(pod)") for p in cpu.pod_entries}
    if keys:
        types = sorted({b["type"] for p, c in keys for b in _blocks_of(mem, p, c)}, key=lambda t: (t != "memory", t))
        rows = [["pod", "container", "NUMA", *types, "CPUs"]]
        for pod, container in sorted(keys):
            blocks = _blocks_of(mem, pod, container)
            numa = sorted({n for b in blocks for n in b["numa_affinity"]})
            sizes = {t: sum(b["size_bytes"] for b in blocks if b["type"] == t) for t in types}
            cpus = _cpus_of(cpu, pod, container)
            rows.append([pod or "(v1: container id)", container, format_cpulist(numa) or "-",
                         *(_size(sizes[t]) if sizes[t] else "-" for t in types),
                         "-" if cpus is None else (format_cpulist(cpus) or "(empty)")])
        lines += _table(rows)
    else:
        lines.append("no pod has exclusive CPUs or NUMA-pinned memory")
    return "\n".join(lines)


def _blocks_of(mem, pod, container):
    if mem is None:
        return []
    if container == "(pod)":
        return mem.pod_entries.get(pod, [])
    return mem.entries.get(pod, {}).get(container, [])


def _cpus_of(cpu, pod, container):
    if cpu is None:
        return None
    if container == "(pod)":
        return cpu.pod_entries.get(pod)
    return cpu.entries.get(pod, {}).get(container)


@click.group("kubelet")
def kubelet() -> None:
    """The kubelet's state files (state) and configuration (lint)."""


@kubelet.command("state")
@click.option("--dir", "kubelet_dir", default="/var/lib/kubelet", show_default=True, metavar="DIR",
              help="The kubelet's --root-dir, holding memory_manager_state and cpu_manager_state.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@one_line_errors
def state(kubelet_dir: str, as_json: bool) -> None:
    """Memory and CPU Manager checkpoints: per NUMA node and per container, checksums verified."""
    mem_path, cpu_path = state_paths(kubelet_dir)
    missing = [p for p in (mem_path, cpu_path) if not os.path.exists(p)]
    mem = load_memory_manager_state(mem_path) if mem_path not in missing else None
    cpu = load_cpu_manager_state(cpu_path) if cpu_path not in missing else None
    if mem is None and cpu is None:
        raise CheckpointError(f"neither {mem_path} nor {cpu_path} exists",
                              "pass the kubelet's --root-dir with --dir (default /var/lib/kubelet)")
    if as_json:
        click.echo(json.dumps({"dir": kubelet_dir, "memory_manager": mem.to_dict() if mem else None,
                               "cpu_manager": cpu.to_dict() if cpu else None, "missing": missing}, indent=2))
    else:
        click.echo(format_state(mem, cpu, kubelet_dir))


@kubelet.command("lint")
@click.argument("config", metavar="CONFIG.yaml")
@click.option("--topology-from", default=None, metavar="sysfs|FILE",
              help="Check NUMA node ids (and percentage eviction thresholds) against this machine (sysfs), "
                   "a captured tree, or `numabench topology --json` output.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@one_line_errors
def lint(config: str, topology_from: str | None, as_json: bool) -> None:
    """Check a KubeletConfiguration against Memory Manager's rules. Exit 0 ok, 1 errors, 2 unreadable."""
    findings = lint_file(config, topology_from)
    errors = sum(f.severity == "error" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    if as_json:
        click.echo(json.dumps({"config": config, "errors": errors, "warnings": warnings,
                               "findings": [f.to_dict() for f in findings]}, indent=2))
    else:
        for f in findings:
            click.echo(f.line())
        click.echo(f"{config}: {errors} error(s), {warnings} warning(s)")
    sys.exit(1 if errors else 0)
