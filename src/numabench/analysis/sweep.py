"""Bandwidth vs threads (`numabench run --threads 1,2,4` or `--threads-sweep`): curves from a result.

A curve is every bandwidth measurement of one kernel, node pair, page kind, size and policy that
the sweep measured (detail ``thread_sweep``), one point per thread count in ascending order. Its
saturation is the largest median over the thread counts (where adding threads stops paying),
what the qualify check ``sweep_saturation_gbps_min`` judges. Pure: reads result documents only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SweepPoint:
    threads: int
    bandwidth_bytes_per_s: float
    cpus: tuple[int, ...]


@dataclass(frozen=True)
class SweepCurve:
    kernel: str
    cpu_node: int | None
    mem_nodes: tuple[int, ...]
    pages: str
    size_bytes: int
    policy: str | None
    points: tuple[SweepPoint, ...]  # ascending threads

    @property
    def saturation(self) -> SweepPoint:
        """The point with the largest median (the fewest threads among equals)."""
        return max(self.points, key=lambda p: (p.bandwidth_bytes_per_s, -p.threads))

    @property
    def label(self) -> str:
        mem = "+".join(map(str, self.mem_nodes)) or "?"
        return f"{self.kernel} node {self.cpu_node}->{mem} {self.pages}"

    def to_dict(self) -> dict[str, Any]:
        top = self.saturation
        return {"kernel": self.kernel, "cpu_node": self.cpu_node, "mem_nodes": list(self.mem_nodes),
                "pages": self.pages, "size_bytes": self.size_bytes, "policy": self.policy,
                "points": [{"threads": p.threads, "bandwidth_bytes_per_s": p.bandwidth_bytes_per_s,
                            "cpus": list(p.cpus)} for p in self.points],
                "saturation_bytes_per_s": top.bandwidth_bytes_per_s, "saturation_threads": top.threads}


def sweep_curves(measurements: list[dict[str, Any]]) -> list[SweepCurve]:
    """The thread-sweep curves among measurement dicts, in order of first appearance."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for m in measurements:
        if m.get("bandwidth_bytes_per_s") is None or not m.get("thread_sweep"):
            continue
        mem = tuple(m.get("mem_nodes") or ([] if m.get("mem_node") is None else [m["mem_node"]]))
        key = (m["kernel"], m["cpu_node"], mem, m["pages"], m["size_bytes"], m.get("policy"))
        groups.setdefault(key, []).append(m)
    curves = []
    for (kernel, cpu_node, mem, pages, size, policy), ms in groups.items():
        points = tuple(SweepPoint(int(m["threads"]), float(m["bandwidth_bytes_per_s"]), tuple(m.get("cpus", ())))
                       for m in sorted(ms, key=lambda m: m["threads"]))
        curves.append(SweepCurve(kernel, cpu_node, mem, pages, size, policy, points))
    return curves


def format_sweep_table(curves: list[SweepCurve]) -> str:
    """Threads (rows) x curves (columns) in GB/s (1e9 bytes/s), then each curve's saturation."""
    if not curves:
        return ""
    counts = sorted({p.threads for c in curves for p in c.points})
    header = ["threads"] + [c.label for c in curves]
    rows = [header]
    for t in counts:
        row = [str(t)]
        for c in curves:
            value = next((p.bandwidth_bytes_per_s for p in c.points if p.threads == t), None)
            row.append("-" if value is None else f"{value / 1e9:.2f}")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [f"saturation: {c.label}: {c.saturation.bandwidth_bytes_per_s / 1e9:.2f} GB/s at "
              f"{c.saturation.threads} thread(s)" for c in curves]
    return "bandwidth vs threads (GB/s):\n" + "\n".join(lines)
