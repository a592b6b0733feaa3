"""A memory scan for people: a text table of chunks, and the per-chunk plot of the HTML report.

Reads the result's `scan` section and its scan_read / scan_latency measurements (one per chunk).
No measuring, no I/O; matplotlib only inside `chunks_png`.
"""

from __future__ import annotations

from typing import Any

from numabench.constants import SCAN_LATENCY, SCAN_READ
from numabench.util.units import format_size


def _address(value: int | None) -> str:
    return "-" if value is None else f"{value:#x}"


def scan_sections(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The result's scan sections: `scan` (numabench scan) or `scans` (qualify, one per node)."""
    return list(result.get("scans") or []) + ([result["scan"]] if result.get("scan") else [])


def chunk_rows(result: dict[str, Any], node: int | None = None) -> list[dict[str, Any]]:
    """One dict per scanned chunk of `node` (None: any), in chunk order: its figures, deviations,
    flags, placement and physical range."""
    rows: dict[int, dict[str, Any]] = {}
    for m in result.get("measurements", []):
        if m.get("kernel") not in (SCAN_READ, SCAN_LATENCY) or (node is not None and m.get("mem_node") != node):
            continue
        row = rows.setdefault(int(m.get("chunk", 0)), {"chunk": int(m.get("chunk", 0)), "flagged": False})
        prefix = "read" if m["kernel"] == SCAN_READ else "latency"
        row[prefix] = m.get("bandwidth_bytes_per_s") if prefix == "read" else m.get("latency_ns")
        row[f"{prefix}_deviation_pct"] = m.get("deviation_pct")
        row["flagged"] = row["flagged"] or bool(m.get("flagged"))
        row["placement_ok"] = (m.get("placement") or {}).get("ok")
        row["pages_by_node"] = m.get("pages_by_node", {})
        row["physical"] = m.get("physical") or {}
    return [rows[k] for k in sorted(rows)]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}%"


def format_scan(result: dict[str, Any]) -> str:
    """The scan as a text table and a summary (median, flagged chunks, physical range, why it stopped)."""
    scan = result.get("scan") or {}
    rows = chunk_rows(result, scan.get("node"))
    header = ("chunk", "read GB/s", "dev", "latency ns", "dev", "flag", "pages by node", "physical range", "extents")
    table = [header]
    for r in rows:
        phys = r["physical"]
        table.append((str(r["chunk"]), "-" if r.get("read") is None else f"{r['read'] / 1e9:.2f}",
                      _pct(r.get("read_deviation_pct")), "-" if r.get("latency") is None else f"{r['latency']:.1f}",
                      _pct(r.get("latency_deviation_pct")), "FLAG" if r["flagged"] else "-",
                      ",".join(f"n{k}:{v}" for k, v in r["pages_by_node"].items())
                      + ("" if r.get("placement_ok", True) else " MISPLACED"),
                      f"{_address(phys.get('min_address'))}-{_address(phys.get('max_address'))}"
                      if phys.get("readable") else "unreadable",
                      str(phys.get("extent_count", "-")) if phys.get("readable") else "-"))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines += summary_lines(scan)
    for note in result.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def summary_lines(scan: dict[str, Any]) -> list[str]:
    """The scan section in a few lines (shared by the text and the HTML report)."""
    if not scan:
        return ["no scan section in this result"]
    out = [f"node {scan.get('node')}: {scan.get('chunks_done')} of {scan.get('chunks_planned')} chunk(s) of "
           f"{format_size(scan.get('chunk_bytes', 0))} ({scan.get('pages')} pages), read by "
           f"{len(scan.get('cpus', []))} CPU(s) of node {scan.get('cpu_node')}; margin "
           f"{format_size(scan.get('margin_bytes', 0))}, threshold {scan.get('threshold_pct')}%"]
    for kernel, unit, scale in ((SCAN_READ, "GB/s", 1e-9), (SCAN_LATENCY, "ns", 1.0)):
        k = scan.get(kernel)
        if k:
            flagged = ", ".join(map(str, k["flagged"])) or "none"
            out.append(f"{kernel}: median {k['median'] * scale:.2f} {unit}; slowest chunk {k['slowest_chunk']} "
                       f"({k['slowest_shortfall_pct']:.1f}% worse than the median); flagged: {flagged}")
    phys = scan.get("physical") or {}
    if phys.get("readable"):
        out.append(f"physical: {_address(phys['min_address'])}-{_address(phys['max_address'])}, "
                   f"{phys['extent_count']} contiguous extent(s) over {phys['chunks_readable']} chunk(s)")
    else:
        out.append(f"physical addresses not readable: {phys.get('reason', 'no chunk')}")
    if scan.get("stopped"):
        out.append(f"stopped early: {scan['stopped']}")
    return out


def chunks_png(result: dict[str, Any], scan: dict[str, Any]) -> bytes:
    """Per-chunk read bandwidth (GB/s) of one scan section's node as bars in chunk order, the node's
    median and the threshold band drawn across, flagged chunks in red. Needs matplotlib (the
    `report` extra)."""
    from matplotlib.figure import Figure

    from numabench.render.plots import _png

    rows = [r for r in chunk_rows(result, scan.get("node")) if r.get("read") is not None]
    fig = Figure(figsize=(max(6.0, 0.25 * len(rows) + 2), 4))
    ax = fig.add_subplot()
    xs = [r["chunk"] for r in rows]
    ax.bar(xs, [r["read"] / 1e9 for r in rows], color=["#b00020" if r["flagged"] else "#3b75af" for r in rows])
    median = (scan.get(SCAN_READ) or {}).get("median")
    if median:
        band = float(scan.get("threshold_pct") or 0) / 100.0
        ax.axhline(median / 1e9, color="black", linewidth=1, label="node median")
        ax.axhspan(median * (1 - band) / 1e9, median * (1 + band) / 1e9, color="gray", alpha=0.2,
                   label=f"+-{scan.get('threshold_pct')}%")
        ax.legend(loc="lower right")
    ax.set_xlabel(f"chunk ({format_size(scan.get('chunk_bytes', 0))} each, in allocation order)")
    ax.set_ylabel("read bandwidth (GB/s)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Memory scan, node {scan.get('node')}")
    ax.grid(True, axis="y", alpha=0.3)
    return _png(fig)
