"""`numabench peak` for people: MLC's peak-injection table, one column per CPU node."""

from __future__ import annotations

from numabench.constants import PEAK_KERNELS, PEAK_MIXES

# MLC's row names for the mixes (mlc --peak_injection_bandwidth).
MIX_TITLES = {"1:0": "ALL Reads", "3:1": "3:1 Reads-Writes", "2:1": "2:1 Reads-Writes",
              "1:1": "1:1 Reads-Writes", "triad": "Stream-triad like"}


def format_peak_summary(result: dict) -> str:
    """Rows: the mixes measured; columns: CPU node -> memory node (threads); cells GB/s (1e9 B/s),
    the median of the samples. Empty when the result has no peak measurement."""
    kernels = {name: mix for mix, name in PEAK_KERNELS.items()}
    ms = [m for m in result.get("measurements", []) if m.get("kernel") in kernels]
    if not ms:
        return ""
    columns: list[tuple] = []
    cells: dict[tuple, str] = {}
    for m in ms:
        mem = "+".join(map(str, m.get("mem_nodes") or [m.get("mem_node")]))
        column = (m["cpu_node"], mem, m["threads"])
        if column not in columns:
            columns.append(column)
        cells[(kernels[m["kernel"]], column)] = f"{m['bandwidth_bytes_per_s'] / 1e9:.2f}"
    header = ["GB/s"] + [f"node {c}->{mem} ({t} thr)" for c, mem, t in columns]
    rows = [header] + [[MIX_TITLES[mix]] + [cells.get((mix, col), "-") for col in columns]
                       for mix in PEAK_MIXES if any((mix, col) in cells for col in columns)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return ("peak injection bandwidth (reads:writes in bytes counted; no write-allocate read counted):\n"
            + "\n".join(lines))
