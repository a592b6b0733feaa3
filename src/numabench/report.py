"""Rendering of results for people: plain text tables. No measuring, no I/O."""

from __future__ import annotations

from numabench.units import format_size


def _figure(m: dict) -> str:
    if "latency_ns" in m:
        return f"{m['latency_ns']:.1f} ns"
    return f"{m['bandwidth_bytes_per_s'] / 1e9:.2f} GB/s"


def _placement(m: dict) -> str:
    p = m.get("placement", {})
    pages = m.get("pages_by_node", {})
    where = ",".join(f"n{k}:{v}" for k, v in pages.items()) or "?"
    flag = "" if p.get("ok", True) else " MISPLACED"
    return f"{where} ({p.get('method', '?')}/{p.get('verified_by') or 'unverified'}){flag}"


def format_run_table(result: dict) -> str:
    """A readable table of a run's measurements: one line per kernel and configuration."""
    header = ("kernel", "pages", "size", "cpu", "mem", "thr", "median", "cv", "pages by node (method)")
    rows = [header]
    for m in result["measurements"]:
        mem = m["mem_node"] if m["mem_node"] is not None else "+".join(map(str, m.get("mem_nodes", [])))
        cv = m.get("stats", {}).get("cv")
        rows.append((m["kernel"], m["pages"], format_size(m["size_bytes"]), str(m["cpu_node"]), str(mem),
                     str(m["threads"]), _figure(m), f"{cv:.1%}" if cv is not None else "-", _placement(m)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i in (0, 1, 8) else cell.rjust(w) for i, (cell, w) in
                       enumerate(zip(row, widths))).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    out = "\n".join(lines)
    tail = []
    env = result.get("environment", {})
    if env:
        tail.append(f"machine: {env.get('cpu_model', '?')}, kernel {env.get('kernel_release', '?')}, "
                    f"THP {env.get('thp_enabled', '?')}")
    for note in result.get("notes", []):
        tail.append(f"note: {note}")
    for err in result.get("errors", []):
        tail.append(f"error: {err['pages']} {format_size(err['size_bytes'])} node {err['cpu_node']}->"
                    f"{err['mem_nodes']}: {err['error']}")
    if result.get("interrupted"):
        tail.append("interrupted: the measurements above were kept")
    bw = [m for m in result["measurements"] if "bandwidth_bytes_per_s" in m]
    if bw:
        tail.append("bandwidth counts bytes as STREAM does: every array element read or written, once; "
                    "write-allocate traffic is not counted. GB/s = 1e9 bytes/s.")
    return out + ("\n" + "\n".join(tail) if tail else "")
