"""A qualification result as one self-contained HTML file.

Styles are inline and every plot is a PNG embedded as a ``data:`` URI, so the file opens from disk,
from a CI artifact or an e-mail without a server and without fetching anything.
Sections: the verdict table, latency and bandwidth matrices (heatmaps), measured vs the firmware's
claimed figures (HMAT) per claimed cell, the latency-vs-size curve,
the loaded-latency curve, the cache-to-cache heatmap, the topology, the environment, notes and
errors. A plot whose data the result lacks is replaced by a line saying it was not measured.
"""

from __future__ import annotations

import html

from numabench.analysis.qualify import verdicts_from_section
from numabench.errors import ResultError, UsageError
from numabench.util.atomicfile import write_atomic
from numabench.util.cpulist import format_cpulist
from numabench.util.units import format_size

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 72em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.pass { background: #d9f2d9; } td.fail { background: #f8d0d0; } td.skipped { background: #eee; color: #555; }
.verdict-pass { color: #1a7f1a; } .verdict-fail { color: #b00020; }
figure { display: inline-block; margin: 0.5em 1em 1em 0; vertical-align: top; }
figcaption { font-size: 0.9em; color: #555; }
.note { color: #555; font-size: 0.9em; }
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _table(header: list[str], rows: list[list[str]], cls: str = "", cell_classes=None) -> str:
    out = [f'<table class="{cls}">' if cls else "<table>", "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header)
           + "</tr>"]
    for i, row in enumerate(rows):
        classes = cell_classes[i] if cell_classes else [""] * len(row)
        out.append("<tr>" + "".join(f'<td class="{c}">{v}</td>' if c else f"<td>{v}</td>"
                                    for v, c in zip(row, classes)) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def plots():
    """The plotting module (matplotlib, the ``[report]`` extra); call it before measuring to fail early.

    Raises:
        UsageError: matplotlib is not installed.
    """
    try:
        from numabench.render import plots as module
    except ImportError:
        raise UsageError("qualify --html needs matplotlib", "pip install 'numabench[report]'") from None
    return module


def _figure(png: bytes, alt: str, caption: str) -> str:
    return (f'<figure><img src="{plots().data_uri(png)}" alt="{_e(alt)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _verdict_section(section: dict) -> str:
    from numabench.analysis.qualify import format_measured

    verdicts = verdicts_from_section(section)
    rows, classes = [], []
    for v in verdicts:
        rows.append([f"<code>{_e(v.check)}</code>", _e(v.status.upper()), _e(format_measured(v)), _e(v.expected),
                     "placement" if v.placement_based else "timing", _e(v.detail)])
        classes.append(["", v.status, "", "", "", ""])
    counts = section["counts"]
    verdict = section["verdict"]
    head = (f'<p><strong class="verdict-{_e(verdict)}">{_e(verdict.upper())}</strong>: {counts["pass"]} passed, '
            f'{counts["fail"]} failed, {counts["skipped"]} skipped.</p>')
    note = ('<p class="note">Inside a virtual machine only placement checks (node count, distances, memory-only '
            'nodes, hugepages per node, page placement) mean anything: timings there say nothing about the '
            "hardware.</p>")
    return (head + _table(["check", "verdict", "measured", "expected", "kind", "detail"], rows, "verdicts", classes)
            + note)


def _matrix_section(result: dict) -> str:
    matrix = result.get("matrix")
    if not matrix:
        return '<p class="note">No matrix in this result.</p>'
    parts = []
    if matrix.get("latency_ns"):
        parts.append(_figure(plots().heatmap_png(matrix["latency_ns"], matrix["rows"], matrix["columns"],
                                         title="Idle latency (ns)", unit="ns"),
                             "latency matrix", "Idle latency, CPU node (rows) x memory node (columns), ns."))
    else:
        parts.append('<p class="note">Latency matrix: not measured.</p>')
    if matrix.get("bandwidth_bytes_per_s"):
        parts.append(_figure(plots().heatmap_png(matrix["bandwidth_bytes_per_s"], matrix["rows"], matrix["columns"],
                                         title="Read bandwidth (GB/s)", unit="GB/s", scale=1e-9),
                             "bandwidth matrix",
                             "Read bandwidth, CPU node (rows) x memory node (columns), GB/s (1e9 bytes/s)."))
    else:
        parts.append('<p class="note">Bandwidth matrix: not measured.</p>')
    odd = [(r, c, s) for r, row in matrix.get("status", {}).items() for c, s in row.items() if s != "measured"]
    if odd:
        parts.append(_table(["CPU node", "memory node", "status"], [[_e(r), _e(c), _e(s)] for r, c, s in odd]))
    return "\n".join(parts)


def _claims_section(result: dict) -> str:
    """Each cell the firmware claims a figure for (ACPI HMAT): measured, claimed, and measured as a
    percentage of the claim, as the measured_vs_claimed_* checks judge them."""
    from numabench.analysis.qualify import claimed_comparison

    by_cell: dict = {}
    for figure in ("latency", "bandwidth"):
        for cell in claimed_comparison(result, figure):
            by_cell.setdefault((cell.cpu_node, cell.mem_node), {})[figure] = cell
    if not by_cell:
        return '<p class="note">Firmware claims (ACPI HMAT): none on this machine.</p>'

    def show(cell, scale: float, unit: str, digits: int) -> list[str]:
        if cell is None:
            return ["-", "no claim", "-"]
        measured = "-" if cell.measured is None else f"{cell.measured * scale:.{digits}f} {unit}"
        claimed = f"{cell.claimed * scale:.{0 if unit == 'ns' else 2}f} {unit}"
        return [_e(measured), _e(claimed), "-" if cell.pct is None else f"{cell.pct:.0f}%"]

    rows = [[_e(r), _e(c)] + show(cells.get("latency"), 1.0, "ns", 1) + show(cells.get("bandwidth"), 1e-9, "GB/s", 2)
            for (r, c), cells in sorted(by_cell.items())]
    note = ('<p class="note">Claimed: the firmware\'s read figures for the row\'s CPUs reaching the column\'s '
            "memory (node&lt;N&gt;/access&lt;A&gt;/initiators/, CPU initiators preferred). Cells without a claim "
            "are not listed.</p>")
    return _table(["CPU node", "memory node", "latency measured", "latency claimed", "% of claim",
                   "read bandwidth measured", "bandwidth claimed", "% of claim"], rows, "claims") + note


def _sweep_section(result: dict) -> str:
    sweep = result.get("latency_sweep")
    if not sweep or not sweep.get("points"):
        return '<p class="note">Latency vs size: not measured.</p>'
    caption = (f"CPU node {sweep['cpu_node']}, memory node {sweep['mem_node']}, {sweep['pages']} pages; "
               "x axis log2.")
    return _figure(plots().latency_sweep_png(sweep["points"]), "latency vs size", caption)


def _loaded_section(result: dict) -> str:
    loaded = result.get("loaded_latency")
    if not loaded or not loaded.get("points"):
        reason = (loaded or {}).get("skipped")
        return f'<p class="note">Loaded latency: {_e(reason) if reason else "not measured"}.</p>'
    caption = (f"Chase on CPU node {loaded['cpu_node']} -> memory node {loaded['mem_node']}; "
               f"{loaded['injectors']} injector(s), {loaded['kind']} traffic to node {loaded['inject_node']}.")
    return _figure(plots().loaded_latency_png(loaded["points"]), "loaded latency", caption)


def _thread_sweep_section(result: dict) -> str:
    """Bandwidth vs threads (run --threads-sweep), one plot per CPU node -> memory node."""
    from numabench.analysis.sweep import sweep_curves

    curves = sweep_curves(result.get("measurements", []))
    if not curves:
        return '<p class="note">Bandwidth vs threads: not measured.</p>'
    groups: dict = {}
    for c in curves:
        groups.setdefault((c.cpu_node, c.mem_nodes, c.pages, c.size_bytes), []).append(c)
    parts = []
    for (cpu, mem, pages, size), group in groups.items():
        where = f"CPU node {cpu} -> memory node {'+'.join(map(str, mem))}, {pages} pages, {format_size(size)}"
        data = [{"label": c.kernel, "points": [{"threads": p.threads, "bandwidth_bytes_per_s": p.bandwidth_bytes_per_s}
                                               for p in c.points]} for c in group]
        tops = "; ".join(f"{c.kernel} {c.saturation.bandwidth_bytes_per_s / 1e9:.2f} GB/s at {c.saturation.threads} "
                         "thr" for c in group)
        parts.append(_figure(plots().thread_sweep_png(data), "bandwidth vs threads",
                             f"{where}; saturation (ringed): {tops}. Median per point, GB/s = 1e9 bytes/s."))
    return "\n".join(parts)


def _peak_section(result: dict) -> str:
    """numabench peak: GB/s per read/write mix, one bar per CPU node -> memory node (and thread count)."""
    from numabench.constants import PEAK_KERNELS, PEAK_MIXES

    mix_of = {kernel: mix for mix, kernel in PEAK_KERNELS.items()}
    columns: dict = {}
    for m in result.get("measurements", []):
        if m.get("kernel") in mix_of and m.get("bandwidth_bytes_per_s") is not None:
            label = f"node {m['cpu_node']}->{'+'.join(map(str, m.get('mem_nodes') or [m.get('mem_node')]))}, " \
                    f"{m['threads']} thr"
            columns.setdefault(label, {})[mix_of[m["kernel"]]] = m["bandwidth_bytes_per_s"]
    if not columns:
        return '<p class="note">Peak injection bandwidth: not measured.</p>'
    mixes = [mix for mix in PEAK_MIXES if any(mix in c for c in columns.values())]
    return _figure(plots().peak_bars_png(columns, mixes), "peak injection bandwidth",
                   "Median GB/s (1e9 bytes/s) per mix, reads:writes in bytes counted (no write-allocate read).")


def _measurements_section(result: dict) -> str:
    rows = []
    for m in result.get("measurements", []):
        figure = (f"{m['latency_ns']:.1f} ns" if m.get("latency_ns") is not None
                  else f"{m['bandwidth_bytes_per_s'] / 1e9:.2f} GB/s")
        cv = (m.get("stats") or {}).get("cv")
        pages = ", ".join(f"node {k}: {v}" for k, v in (m.get("pages_by_node") or {}).items())
        ok = (m.get("placement") or {}).get("ok")
        rows.append([_e(m["kernel"]), _e(m.get("mix", "")), _e(m["cpu_node"]),
                     _e("+".join(map(str, m.get("mem_nodes") or [m.get("mem_node")]))), _e(m["pages"]),
                     _e(format_size(m["size_bytes"])), _e(m["threads"]), _e(figure),
                     "-" if cv is None else f"{cv:.1%}", _e(pages) + ("" if ok is not False else " (MISPLACED)")])
    return _table(["kernel", "mix", "CPU node", "memory node", "pages", "size", "threads", "median", "cv",
                   "pages by node"], rows)


def _notes(result: dict) -> list[str]:
    """The Notes section, when the result has notes."""
    if not result.get("notes"):
        return []
    return ["<h2>Notes</h2>", "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in result["notes"]) + "</ul>"]


def _page(title: str, body: list[str], result: dict | None = None) -> str:
    """One self-contained HTML document: the body's parts, then the result's notes when given."""
    parts = body + (_notes(result) if result is not None else [])
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(parts) + "\n</body>\n</html>\n")


def render_measurements_html(result: dict, title: str) -> str:
    """A measuring command's result (peak, run) as one HTML file: the measurements with their
    placement proof, bandwidth vs threads when swept, topology and environment.

    Raises:
        UsageError: matplotlib (the ``[report]`` extra) is not installed.
    """
    plots()
    body = [f"<h1>{_e(title)}</h1>",
            "<h2>Measurements</h2>", _measurements_section(result),
            '<p class="note">Bandwidth counts bytes read plus bytes written per pass (STREAM\'s rule); a '
            "write-allocate read is never counted. GB/s = 1e9 bytes/s.</p>",
            "<h2>Peak injection bandwidth</h2>", _peak_section(result),
            "<h2>Bandwidth vs threads</h2>", _thread_sweep_section(result),
            "<h2>Topology</h2>", _topology_section(result),
            "<h2>Environment</h2>", _environment_section(result)]
    return _page(title, body, result)


def _c2c_section(result: dict) -> str:
    from numabench.render.c2c import html_section

    return html_section(result) or '<p class="note">Cache-to-cache latency: not measured.</p>'


def _topology_section(result: dict) -> str:
    topo = result.get("topology") or {}
    nodes = topo.get("nodes", [])
    rows = []
    for n in nodes:
        pools = {p["page_size_bytes"]: p for p in n.get("hugepages", [])}

        def pool(size, pools=pools):
            p = pools.get(size)
            return f"{p['total']} ({p['free']} free)" if p else "-"

        rows.append([_e(n["id"]), _e(format_cpulist(n["cpus"]) or "none"), _e(format_size(n["mem_total_bytes"])),
                     _e(pool(2 << 20)), _e(pool(1 << 30)), "yes" if n.get("memory_only") else "no"])
    out = [_table(["node", "CPUs", "memory", "2 MiB pages", "1 GiB pages", "memory-only"], rows)]
    ids = [n["id"] for n in nodes]
    dist_rows = [[_e(n["id"])] + [_e(n.get("distances", {}).get(str(j), "-")) for j in ids] for n in nodes]
    out.append("<h3>Distances (SLIT)</h3>" + _table(["node"] + [str(i) for i in ids], dist_rows))
    return "\n".join(out)


def _environment_section(result: dict) -> str:
    env = dict(result.get("environment") or {})
    cpuset = env.pop("cpuset", None)
    rows = [[_e(k), _e(v)] for k, v in env.items()]
    if isinstance(cpuset, dict):
        rows += [[_e(f"cpuset.{k}"), _e(v)] for k, v in cpuset.items()]
    rows.append(["numabench result", _e(f"schema {result.get('schema_version')}, "
                                        f"numabench {result.get('numabench_version')}")])
    rows.append(["command", _e(" ".join(map(str, result.get("command") or [])))])
    return _table(["", ""], rows)


def render_html(result: dict) -> str:
    """The whole report as one HTML string.

    Raises:
        ResultError: the result has no qualification section.
        UsageError: matplotlib (the ``[report]`` extra) is not installed.
    """
    plots()
    section = result.get("qualification")
    if not section:
        raise ResultError("the result has no qualification section", "evaluate a spec first (numabench qualify)")
    title = f"numabench qualification: {section['spec_name']}"
    host = (result.get("environment") or {}).get("hostname", "")
    body = [
        f"<h1>{_e(title)}</h1>",
        (f'<p class="note">Host {_e(host)}; evaluated from '
         f'{_e(section.get("evaluated_from") or "a new measurement")}.</p>'),
        "<h2>Verdicts</h2>", _verdict_section(section),
        "<h2>Matrices</h2>", _matrix_section(result),
        "<h2>Measured vs claimed (ACPI HMAT)</h2>", _claims_section(result),
        "<h2>Latency vs buffer size</h2>", _sweep_section(result),
        "<h2>Loaded latency</h2>", _loaded_section(result),
        "<h2>Peak injection bandwidth</h2>", _peak_section(result),
        "<h2>Bandwidth vs threads</h2>", _thread_sweep_section(result),
        "<h2>Cache-to-cache latency</h2>", _c2c_section(result),
        *(["<h2>Memory scan</h2>", _scan_sections(result)] if result.get("scan") or result.get("scans") else []),
        "<h2>Topology</h2>", _topology_section(result),
        "<h2>Environment</h2>", _environment_section(result),
    ]
    body += _notes(result)
    if result.get("errors"):
        body += ["<h2>Errors</h2>", _table(["CPU node", "memory nodes", "pages", "error"],
                                          [[_e(e.get("cpu_node")), _e(e.get("mem_nodes")), _e(e.get("pages")),
                                            _e(e.get("error"))] for e in result["errors"]])]
    return _page(title, body)


# --------------------------------------------------------------------------- memory scan (numabench scan)


def _scan_sections(result: dict) -> str:
    from numabench.render.scan import scan_sections

    return "\n".join(_scan_section(result, scan) for scan in scan_sections(result))


def _scan_section(result: dict, scan: dict) -> str:
    """One node's scan: its summary, the per-chunk bandwidth plot and one table row per chunk."""
    from numabench.render.scan import chunk_rows, chunks_png, summary_lines

    rows = chunk_rows(result, scan.get("node"))
    if not rows:
        return f'<p class="note">Memory scan of node {_e(scan.get("node"))}: no chunk measured.</p>'
    parts = ["<ul>" + "".join(f"<li>{_e(line)}</li>" for line in summary_lines(scan)) + "</ul>"]
    if any(r.get("read") is not None for r in rows):
        parts.append(_figure(chunks_png(result, scan), "memory scan", "Read bandwidth per chunk (GB/s, 1e9 bytes/s); "
                             "red: outside the node's median by more than the threshold."))

    def fmt(value, scale=1.0, digits=2):
        return "-" if value is None else f"{value * scale:.{digits}f}"

    table, classes = [], []
    for r in rows:
        phys = r.get("physical") or {}
        where = (f"{phys['min_address']:#x}-{phys['max_address']:#x} ({phys['extent_count']} extents)"
                 if phys.get("readable") else f"unreadable: {phys.get('reason')}")
        table.append([_e(r["chunk"]), fmt(r.get("read"), 1e-9), fmt(r.get("read_deviation_pct"), digits=1),
                      fmt(r.get("latency"), digits=1), _e(r.get("pages_by_node")), _e(where)])
        classes.append(["fail" if r["flagged"] else "", "", "", "", "" if r.get("placement_ok") else "fail", ""])
    parts.append(_table(["chunk", "read GB/s", "deviation %", "latency ns", "pages by node", "physical range"],
                        table, "scan", classes))
    return "\n".join(parts)


def render_scan_html(result: dict) -> str:
    """A `numabench scan` result as one HTML page: the scan section, topology and environment.

    Raises:
        ResultError: the result has no scan section.
        UsageError: matplotlib (the ``[report]`` extra) is not installed.
    """
    plots()
    scan = result.get("scan")
    if not scan:
        raise ResultError("the result has no scan section", "write one with numabench scan")
    title = f"numabench memory scan: node {scan.get('node')}"
    host = (result.get("environment") or {}).get("hostname", "")
    body = [f"<h1>{_e(title)}</h1>", f'<p class="note">Host {_e(host)}.</p>', _scan_section(result, scan),
            "<h2>Topology</h2>", _topology_section(result), "<h2>Environment</h2>", _environment_section(result)]
    return _page(title, body, result)


def write_html(path: str, text: str) -> None:
    """Write atomically (temporary file in the same directory, then rename)."""
    write_atomic(path, text, fix="choose a writable --html path")
