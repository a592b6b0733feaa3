"""Rendering of results for people: plain text tables. No measuring, no I/O."""

from __future__ import annotations

from numabench.util.stats import BIMODAL, CI_NOT_REACHED, CV_FLAG, HIGH_CV, SKEW_FLAG_FRACTION, START_SKEW
from numabench.util.units import format_size

# Short names of the stability flags in the run table's "flags" column.
_FLAG_WORDS = {HIGH_CV: "NOISY", BIMODAL: "BIMODAL", START_SKEW: "SKEW", CI_NOT_REACHED: "WIDE-CI"}


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


def _label(m: dict) -> str:
    return f"{m['kernel']} {m['pages']} {format_size(m['size_bytes'])} {m['threads']} thr"


def _explain(code: str, m: dict) -> str:
    """What a stability flag means for this measurement, and its likely cause."""
    stats = m.get("stats", {})
    unit = 1e9 if m.get("unit") == "bytes/s" else 1.0
    if code == HIGH_CV:
        return (f"samples spread {stats.get('cv', 0):.1%} (over {CV_FLAG:.0%}): likely other work on these CPUs, "
                "a CPU frequency change or a noisy neighbour VM; check `numabench system show` and rerun quietly")
    if code == BIMODAL:
        b = stats.get("bimodal") or {}
        return (f"two groups of samples, {b.get('low_n')} near {b.get('low_median', 0) / unit:.4g} and "
                f"{b.get('high_n')} near {b.get('high_median', 0) / unit:.4g}: the machine changed state during "
                "the run (another task on one CPU for part of it, a frequency or power state, khugepaged)")
    if code == START_SKEW:
        return (f"{len(m.get('skewed_samples', []))} sample(s) whose threads started more than "
                f"{SKEW_FLAG_FRACTION:.0%} of the sample apart: a CPU was busy with other work when the sample began")
    if code == CI_NOT_REACHED:
        s = m.get("sampling", {})
        return (f"the median's CI stayed at +-{(s.get('ci_rel_halfwidth') or 0):.1%} after {s.get('samples_taken')} "
                f"samples (target {(s.get('target_ci') or 0):.1%}): too noisy for that target; quiet the machine "
                "or raise --max-samples")
    return code


def _isa_line(measurements: list[dict]) -> str:
    """'isa: sse2 for triad, copy; avx2 for read (auto: ...)': which kernel set measured what."""
    by_isa: dict[str, list[str]] = {}
    for m in measurements:
        if m.get("isa") and m["kernel"] not in by_isa.setdefault(m["isa"], []):
            by_isa[m["isa"]].append(m["kernel"])
    if not by_isa:
        return ""
    probed = any("isa_probe" in m for m in measurements)
    return ("isa: " + "; ".join(f"{isa} for {', '.join(kernels)}" for isa, kernels in by_isa.items())
            + (" (auto: the fastest of a short probe of each kernel set, figures in the JSON's isa_probe)"
               if probed else ""))


def format_run_table(result: dict) -> str:
    """A readable table of a run's measurements: one line per kernel and configuration."""
    header = ("kernel", "pages", "size", "cpu", "mem", "thr", "median", "cv", "flags", "pages by node (method)")
    rows = [header]
    for m in result["measurements"]:
        mem = m["mem_node"] if m["mem_node"] is not None else "+".join(map(str, m.get("mem_nodes", [])))
        cv = m.get("stats", {}).get("cv")
        rows.append((m["kernel"], m["pages"], format_size(m["size_bytes"]), str(m["cpu_node"]), str(mem),
                     str(m["threads"]), _figure(m), f"{cv:.1%}" if cv is not None else "-",
                     ",".join(_FLAG_WORDS.get(f, f) for f in m.get("stats", {}).get("flags", [])) or "-",
                     _placement(m)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i in (0, 1, 8, 9) else cell.rjust(w) for i, (cell, w) in
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
    for m in result["measurements"]:
        tail += [f"flag {_FLAG_WORDS.get(code, code)}: {_label(m)}: {_explain(code, m)}"
                 for code in m.get("stats", {}).get("flags", [])]
    isa_line = _isa_line(result["measurements"])
    if isa_line:
        tail.append(isa_line)
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


def _matrix_value(key: str, value) -> str:
    if value is None:
        return "-"
    if key == "latency_ns":
        return f"{value:.1f}"
    return f"{value / 1e9:.2f}"


def _claimed_suffix(doc: dict, key: str, r, c) -> str:
    """' (claimed 120)' beside a measured cell: the firmware's HMAT read figure, same unit."""
    claim = (doc.get("claimed") or {}).get(str(r), {}).get(str(c))
    if not claim:
        return ""
    if key == "latency_ns" and claim.get("read_latency_ns"):
        return f" (claimed {claim['read_latency_ns']})"
    if key != "latency_ns" and claim.get("read_bandwidth_mb_s"):
        return f" (claimed {claim['read_bandwidth_mb_s'] * 1e6 / 1e9:.2f})"  # MB/s -> GB/s
    return ""


def format_matrix(doc: dict) -> str:
    """Latency and bandwidth matrices, rows = CPU nodes, columns = memory nodes,
    each cell with its SLIT distance and its ratio to the row's local cell."""
    rows, columns = doc["rows"], doc["columns"]
    memory_only = set(doc.get("memory_only", []))
    blocks = []
    titles = {"latency_ns": ("Idle latency (ns)", "latency_ratio_to_local"),
              "bandwidth_bytes_per_s": ("Read bandwidth (GB/s)", "bandwidth_ratio_to_local")}
    for key, (title, ratio_key) in titles.items():
        if key not in doc:
            continue
        header = ["cpu\\mem"] + [f"{c}{'*' if c in memory_only else ''}" for c in columns]
        table = [header]
        for r in rows:
            line = [str(r)]
            for c in columns:
                status = doc["status"][str(r)][str(c)]
                value = doc[key][str(r)][str(c)]
                if status != "measured" and value is None:
                    line.append("forbidden" if status.startswith("forbidden") else "n/a")
                    continue
                ratio = doc[ratio_key][str(r)][str(c)]
                dist = doc["distances"][str(r)][str(c)]
                cell = _matrix_value(key, value)
                if ratio is not None and r != c:
                    cell += f" x{ratio:.2f}"
                cell += f" [{dist}]" if dist is not None else ""
                cell += _claimed_suffix(doc, key, r, c)
                line.append(cell)
            table.append(line)
        widths = [max(len(t[i]) for t in table) for i in range(len(header))]
        text = "\n".join("  ".join(cell.rjust(w) for cell, w in zip(t, widths)) for t in table)
        blocks.append(f"{title}: rows = CPU node, columns = memory node; xR = ratio to the row's local "
                      f"node, [d] = SLIT distance\n{text}")
    notes = []
    if memory_only:
        notes.append("* memory-only node (no CPUs): a column, never a row")
    for r in rows:
        for c in columns:
            status = doc["status"][str(r)][str(c)]
            if status != "measured":
                notes.append(f"cpu node {r} -> mem node {c}: {status}")
    return "\n\n".join(blocks + (["\n".join(notes)] if notes else []))


def format_loaded(result: dict) -> str:
    """The loaded-latency curve: one line per delay, injected bandwidth and latency."""
    points = [m for m in result["measurements"] if m["kernel"] == "loaded_latency"]
    if not points:
        return "no loaded-latency points"
    first = points[0]
    lines = [f"Loaded latency: chase on CPU {first['cpus'][0]} (node {first['cpu_node']}) over node "
             f"{first['mem_node']}, {len(first['inject_cpus'])} {first['inject_kind']} injector(s) on CPUs "
             f"{','.join(map(str, first['inject_cpus'])) or '-'} over node {first['inject_node']}, "
             f"{first['pages']} pages",
             f"{'delay':>8}  {'injected GB/s':>13}  {'latency ns':>10}"]
    for m in points:
        lines.append(f"{m['delay']:>8}  {m['inject_bandwidth_bytes_per_s'] / 1e9:>13.2f}  {m['latency_ns']:>10.1f}")
    return "\n".join(lines)
