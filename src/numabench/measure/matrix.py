"""CPU node x memory node matrices (Intel MLC's --latency_matrix / --bandwidth_matrix).

Rows are nodes with CPUs, columns nodes with memory (memory-only nodes are
columns only). A cell the cgroup's cpuset forbids is shown as such, not
measured; a cell that cannot be measured (no hugepages there, say) carries
its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from numabench.errors import CpusetError, NumabenchError
from numabench.host.cgroups import CpusetView
from numabench.host.topology import Topology
from numabench.measure.spec import RunOptions, Spec, plan_run

LATENCY_KERNEL = "latency"
BANDWIDTH_KERNEL = "read"


@dataclass
class MatrixPlan:
    rows: list[int]
    columns: list[int]
    specs: list[Spec]
    # (cpu node, mem node) -> why the cell is not measured
    skipped: dict[tuple[int, int], str] = field(default_factory=dict)


def plan_matrix(topology: Topology, cpuset: CpusetView, *, kernels: Iterable[str], pages: str, size_bytes: int,
                threads: int | None, repeat: int) -> MatrixPlan:
    """One spec per allowed cell; forbidden or impossible cells get a reason instead."""
    rows = [n.id for n in topology.nodes if n.has_cpus]
    columns = [n.id for n in topology.nodes if n.has_memory]
    plan = MatrixPlan(rows=rows, columns=columns, specs=[])
    for cpu_node in rows:
        for mem_node in columns:
            options = RunOptions(cpu_nodes=[cpu_node], mem_nodes=[mem_node], pages=[pages], size_bytes=size_bytes,
                                 threads=threads, kernels=list(kernels), repeat=repeat)
            try:
                plan.specs.extend(plan_run(topology, cpuset, options).specs)
            except CpusetError as exc:
                plan.skipped[(cpu_node, mem_node)] = f"forbidden by cpuset: {exc.message}"
            except NumabenchError as exc:
                plan.skipped[(cpu_node, mem_node)] = str(exc)
    return plan


_Cell = TypeVar("_Cell")


def _grid(rows: Iterable[int], columns: Sequence[int], fill: _Cell) -> dict[str, dict[str, _Cell]]:
    return {str(r): {str(c): fill for c in columns} for r in rows}


def claimed_grid(topology: Topology, rows: Iterable[int],
                 columns: Sequence[int]) -> dict[str, dict[str, dict[str, Any] | None]]:
    """The firmware's claimed figures (ACPI HMAT) per cell, as ``AccessClass.to_dict()``, or None
    where the memory node lists the row's node among none of its best initiators."""
    grid: dict[str, dict[str, dict[str, Any] | None]] = _grid(rows, columns, None)
    for r in rows:
        for c in columns:
            claim = topology.claimed(r, c)
            grid[str(r)][str(c)] = None if claim is None else claim.to_dict()
    return grid


def build_matrix(topology: Topology, plan: MatrixPlan, measurements: list[dict[str, Any]],
                 errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The matrix document: values, local/remote ratios, distances and cell status.

    Keys are node ids as strings (JSON). A ratio is cell / the row's local
    cell (same node), present only when the row node has memory and both
    cells were measured: > 1 means slower for latency, < 1 less for bandwidth.
    """
    rows, columns = plan.rows, plan.columns
    doc: dict[str, Any] = {"rows": rows, "columns": columns, "memory_only": [c for c in columns if c not in rows],
           "distances": {str(r): {str(c): topology.node(r).distances.get(c) for c in columns} for r in rows},
           "status": _grid(rows, columns, "measured")}
    claimed = claimed_grid(topology, rows, columns)
    if any(v is not None for row in claimed.values() for v in row.values()):
        doc["claimed"] = claimed  # only where the firmware gives figures (HMAT)
    for (r, c), reason in plan.skipped.items():
        doc["status"][str(r)][str(c)] = reason
    for e in errors:
        for c in e["mem_nodes"]:
            doc["status"][str(e["cpu_node"])][str(c)] = e["error"]
    for key, kernel in (("latency_ns", LATENCY_KERNEL), ("bandwidth_bytes_per_s", BANDWIDTH_KERNEL)):
        values: dict[str, dict[str, float | None]] = _grid(rows, columns, None)
        found = False
        for m in measurements:
            if m["kernel"] == kernel and m["mem_node"] is not None:
                values[str(m["cpu_node"])][str(m["mem_node"])] = m[key]
                found = True
        if not found:
            continue
        ratios: dict[str, dict[str, float | None]] = _grid(rows, columns, None)
        for r in rows:
            local = values[str(r)].get(str(r))
            for c in columns:
                v = values[str(r)][str(c)]
                if local and v is not None:
                    ratios[str(r)][str(c)] = v / local
        doc[key] = values
        doc[key.replace("_ns", "").replace("_bytes_per_s", "") + "_ratio_to_local"] = ratios
    return doc
