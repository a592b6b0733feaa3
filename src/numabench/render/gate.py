"""Rendering of a comparison (numabench.analysis.compare) for people and CI: text, Markdown, JUnit, JSON.

No computing and no I/O here: every function takes the comparison document and returns text or
JUnit cases. Status words only (no emoji), so PR comments read the same in every client.
"""

from __future__ import annotations

import json

from numabench.analysis.compare import INCONCLUSIVE, NOISY, REGRESSION, STATUSES
from numabench.render.junit import Case

__all__ = ["JUNIT_SUITE", "format_markdown", "format_text", "format_value", "junit_cases", "to_json"]

JUNIT_SUITE = "numabench compare"
_SEVERITY = {status: i for i, status in enumerate(STATUSES)}  # regression first, ok last


def format_value(value: float, unit: str) -> str:
    """``353.3 ns`` or ``24.84 GB/s`` (1e9 bytes/s)."""
    if unit == "bytes/s":
        return f"{value / 1e9:.2f} GB/s"
    return f"{value:.1f} {unit}"


def _pct(fraction: float) -> str:
    return f"{fraction * 100:+.1f}%"


def _p(p: float) -> str:
    return "<0.0001" if p < 0.0001 else f"{p:.4f}"


def _ci(row: dict) -> str:
    return f"[{_pct(row['ci_low'])}, {_pct(row['ci_high'])}]"


def _ordered(rows: list[dict]) -> list[dict]:
    """Worst first (regression, inconclusive, improved, ok); the file's order within a status."""
    return sorted(rows, key=lambda r: _SEVERITY[r["status"]])


def _summary(c: dict) -> str:
    s = c["summary"]
    return (f"{s['regression']} regression(s), {s['noisy']} noisy, {s['inconclusive']} inconclusive, "
            f"{s['improved']} improved, {s['ok']} ok; {s['added']} added, {s['removed']} removed")


def _rule(c: dict) -> str:
    thresholds = ", ".join(t["text"] for t in c["thresholds"])
    return (f"a regression is a change past its threshold ({thresholds}) that is significant "
            f"(two-sided Mann-Whitney U, p < {c['alpha']:g}); noisy: a side's median has a {c['confidence']:.0%} "
            f"CI wider than the threshold, no verdict; CI: {c['confidence']:.0%} bootstrap of the ratio of medians")


def _row_cells(r: dict) -> list[str]:
    return [r["status"], r["cell"]["label"], r["metric"], format_value(r["baseline"]["median"], r["unit"]),
            format_value(r["current"]["median"], r["unit"]), _pct(r["change"]), _ci(r), _p(r["p_value"]),
            f"{r['baseline']['n']}/{r['current']['n']}"]


_HEADER = ["status", "cell", "metric", "baseline", "current", "change", "CI", "p", "n"]


def format_text(c: dict) -> str:
    """A plain-text report: verdict line, one table row per compared cell, then added/removed cells,
    cells measured differently and warnings."""
    header = list(_HEADER)
    header[6] = f"{c['confidence']:.0%} CI"
    rows = [header] + [_row_cells(r) for r in _ordered(c["rows"])]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    left = {0, 1, 2, 6}
    lines = ["  ".join(cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in
                       enumerate(zip(row, widths))).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    out = [f"numabench compare: {c['verdict'].upper()}: {_summary(c)}",
           f"baseline {c['baseline']['name']}, current {c['current']['name']}; {_rule(c)}", ""]
    out += lines
    for r in _ordered(c["rows"]):
        for w in r["warnings"]:
            if not w.startswith("too few repetitions"):
                out.append(f"warning: {r['cell']['label']}: {w}")
    for kind in ("added", "removed"):
        where = c["current"]["name"] if kind == "added" else c["baseline"]["name"]
        for cell in c[kind]:
            out.append(f"{kind}: {cell['label']} ({cell['metric']}; only in {where})")
    for w in c["warnings"]:
        out.append(f"warning: {w}")
    return "\n".join(out)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(c: dict) -> str:
    """A PR comment: a bold verdict and summary line, the rule, a table (worst first), then added,
    removed and warnings. Status words, no emoji."""
    out = [f"**numabench compare: {c['verdict'].upper()}**: {_summary(c)}.", "",
           f"Baseline `{_md(c['baseline']['name'])}`, current `{_md(c['current']['name'])}`; {_rule(c)}.", ""]
    header = list(_HEADER)
    header[6] = f"{c['confidence']:.0%} CI"
    out.append("| " + " | ".join(header) + " |")
    out.append("|---|---|---|---:|---:|---:|---|---:|---:|")
    for r in _ordered(c["rows"]):
        cells = _row_cells(r)
        if r["status"] in (REGRESSION, NOISY, INCONCLUSIVE):
            cells[0] = f"**{cells[0]}**"
        out.append("| " + " | ".join(_md(x) for x in cells) + " |")
    row_warnings = [(r["cell"]["label"], w) for r in _ordered(c["rows"]) for w in r["warnings"]
                    if not w.startswith("too few repetitions")]
    for kind, title in (("added", "Added (only in the current result)"),
                        ("removed", "Removed (only in the baseline)")):
        if c[kind]:
            out += ["", f"**{title}**", ""]
            out += [f"- {_md(cell['label'])} ({cell['metric']})" for cell in c[kind]]
    if c["warnings"] or row_warnings:
        out += ["", "**Warnings**", ""]
        out += [f"- {_md(label)}: {_md(w)}" for label, w in row_warnings]
        out += [f"- {_md(w)}" for w in c["warnings"]]
    return "\n".join(out) + "\n"


def junit_cases(c: dict) -> list[Case]:
    """One JUnit case per compared cell and metric (failed: a regression; skipped: noisy, with the
    reason: samples that cannot support the threshold give no verdict), and one skipped case per
    added or removed cell."""
    cases = []
    for r in c["rows"]:
        threshold = r["threshold"]["text"] if r["threshold"] else "none"
        verdict = (f"{r['status']}: {r['metric']} {_pct(r['change'])} "
                   f"({format_value(r['baseline']['median'], r['unit'])} -> "
                   f"{format_value(r['current']['median'], r['unit'])}), {c['confidence']:.0%} CI {_ci(r)}, "
                   f"p {_p(r['p_value'])}, threshold {threshold}")
        details = "\n".join([verdict, (f"samples: {r['baseline']['n']} vs {r['current']['n']}; "
                                      f"U = {r['u']:g} ({r['test']})"), *r["warnings"]])
        if r["status"] == NOISY:
            verdict += "; " + "; ".join(w for w in r["warnings"] if " too noisy for " in w)
        cases.append(Case(name=f"{r['cell']['slug']}:{r['metric']}", classname=f"numabench.compare.{r['metric']}",
                          passed=r["status"] != REGRESSION, skipped=r["status"] == NOISY, message=verdict,
                          details=details))
    for kind in ("added", "removed"):
        where = c["current"]["name"] if kind == "added" else c["baseline"]["name"]
        for cell in c[kind]:
            cases.append(Case(name=f"{cell['slug']}:{cell['metric']}", classname=f"numabench.compare.{cell['metric']}",
                              passed=True, skipped=True, message=f"{kind}: only in {where}"))
    return cases


def to_json(c: dict) -> str:
    """The comparison document as indented JSON (its ``comparison_version`` says its shape)."""
    return json.dumps(c, indent=2) + "\n"
