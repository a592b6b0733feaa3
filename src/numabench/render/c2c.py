"""Cache-to-cache latency for people and tools: the CPU x CPU matrix as text, one CSV row per pair,
and a self-contained HTML page with the heatmap. Reads the result's `c2c` section and its
measurements; measures nothing.
"""

from __future__ import annotations

import csv
import html
import io
from typing import Any

from numabench.constants import C2C_KERNEL, C2C_RELATIONS
from numabench.util.atomicfile import write_atomic

CSV_FIELDS = ("c2c_mode", "initiator_cpu", "responder_cpu", "initiator_node", "responder_node", "line_node",
              "relation", "latency_ns", "min_ns", "max_ns", "cv", "samples", "round_trips_per_sample",
              "placement_ok", "pages_by_node")

_MODE_WORDS = {"hitm": "HitM: modified line, ping-pong (one-way = round trip / 2)",
               "clean": "clean line read from the other core's cache"}


def _c2c_measurements(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in result.get("measurements", []) if m.get("kernel") == C2C_KERNEL]


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_c2c(result: dict[str, Any]) -> str:
    """The matrix (rows: initiator CPU, columns: responder CPU, median one-way ns; "." on the
    diagonal, "-" where not measured), then per relation the pairs and the median, min and max."""
    section = result.get("c2c") or {}
    cpus = section.get("cpus", [])
    matrix = section.get("latency_ns", {})
    lines = [f"cache-to-cache latency, {_MODE_WORDS.get(section.get('mode', ''), section.get('mode'))}; "
             f"ns, median of {section.get('samples')} samples; line on "
             + (f"node {section['line_node']}" if section.get("line_node") is not None else "the initiator's node")]
    width = max([6] + [len(str(c)) + 1 for c in cpus])
    lines.append("init\\resp".ljust(9) + "".join(str(c).rjust(width) for c in cpus))
    for a in cpus:
        row = matrix.get(str(a), {})
        lines.append(str(a).ljust(9) + "".join(
            (".".rjust(width) if a == b else _cell(row.get(str(b))).rjust(width)) for b in cpus))
    lines.append("")
    lines.append(f"{'relation':<11} {'pairs':>6} {'median':>9} {'min':>9} {'max':>9}")
    for rel in C2C_RELATIONS:
        r = (section.get("relations") or {}).get(rel)
        if r:
            lines.append(f"{rel:<11} {r['measured']:>3}/{r['pairs']:<2} {_cell(r['median_ns']):>9} "
                         f"{_cell(r['min_ns']):>9} {_cell(r['max_ns']):>9}")
    misplaced = [m for m in _c2c_measurements(result) if not (m.get("placement") or {}).get("ok", True)]
    for m in misplaced:
        lines.append(f"MISPLACED: CPU {m['initiator_cpu']} <- {m['responder_cpu']}: line's page on "
                     f"{m.get('pages_by_node')}, asked node {m.get('mem_node')}")
    for e in section.get("failed", []):
        lines.append(f"error: CPU {e.get('initiator_cpu')} <- {e.get('responder_cpu')}: {e.get('error')}")
    for note in result.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def csv_text(result: dict[str, Any]) -> str:
    """One row per measured pair (CSV_FIELDS)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CSV_FIELDS), lineterminator="\n")
    writer.writeheader()
    for m in _c2c_measurements(result):
        stats = m.get("stats", {})
        writer.writerow({
            **{k: m.get(k) for k in ("c2c_mode", "initiator_cpu", "responder_cpu", "initiator_node",
                                     "responder_node", "relation", "latency_ns", "round_trips_per_sample")},
            "line_node": m.get("mem_node"), "min_ns": stats.get("min"), "max_ns": stats.get("max"),
            "cv": stats.get("cv"), "samples": len(m.get("samples", [])),
            "placement_ok": (m.get("placement") or {}).get("ok"),
            "pages_by_node": ";".join(f"{k}:{v}" for k, v in m.get("pages_by_node", {}).items())})
    return out.getvalue()


def write_csv(path: str, result: dict[str, Any]) -> None:
    write_atomic(path, csv_text(result), fix="choose a writable --csv path")


def html_section(result: dict[str, Any]) -> str:
    """The heatmap and the per-relation table, as an HTML fragment ("" when the result has no c2c)."""
    from numabench.render.html import plots

    section = result.get("c2c")
    if not section:
        return ""
    cpus = section["cpus"]
    png = plots().c2c_heatmap_png(section["latency_ns"], cpus, title=f"Cache-to-cache latency ({section['mode']}, ns)")
    rows = "".join(
        f"<tr><td>{html.escape(rel)}</td><td>{r['measured']}/{r['pairs']}</td><td>{_cell(r['median_ns'])}</td>"
        f"<td>{_cell(r['min_ns'])}</td><td>{_cell(r['max_ns'])}</td></tr>"
        for rel in C2C_RELATIONS if (r := section["relations"].get(rel)))
    caption = (f"{html.escape(_MODE_WORDS.get(section['mode'], section['mode']))}: initiator CPU (rows) reads "
               "from responder CPU (columns); median one-way ns.")
    return (f'<figure><img src="{plots().data_uri(png)}" alt="c2c heatmap"><figcaption>{caption}</figcaption>'
            "</figure>\n<table><tr><th>relation</th><th>pairs measured</th><th>median ns</th><th>min ns</th>"
            f"<th>max ns</th></tr>{rows}</table>")


def render_c2c_html(result: dict[str, Any]) -> str:
    """A whole self-contained HTML page for a c2c result. Raises UsageError without matplotlib."""
    host = html.escape(str((result.get("environment") or {}).get("hostname", "")))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>numabench c2c</title>\n</head>\n<body style=\"font-family: system-ui, sans-serif\">\n"
            f"<h1>numabench c2c</h1>\n<p>Host {host}.</p>\n{html_section(result)}\n</body>\n</html>\n")


def write_html(path: str, text: str) -> None:
    write_atomic(path, text, fix="choose a writable --html path")
