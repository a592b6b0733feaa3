"""Rendering of qualification verdicts (numabench.analysis.qualify) as text and JUnit cases."""

from __future__ import annotations

from numabench.analysis.qualify import FAIL, PASS, SKIPPED, Verdict, counts_of, format_measured, overall
from numabench.render.junit import Case


def junit_cases(verdicts: list[Verdict], interrupted: bool = False) -> list[Case]:
    """JUnit cases, one per check, and a failing one when the run was interrupted (a CI job must
    not read an interrupted qualification as a pass)."""
    cases = []
    for v in verdicts:
        message = f"{v.check}: measured {format_measured(v)}, expected {v.expected}"
        if v.status == SKIPPED:
            message = f"{v.check}: skipped: {v.detail}"
        cases.append(Case(name=v.check, classname="numabench.qualify", passed=v.status == PASS, message=message,
                          details=v.detail, skipped=v.status == SKIPPED))
    if interrupted:
        cases.append(Case(name="complete run", classname="numabench.qualify", passed=False,
                          message="the run was interrupted (SIGINT/SIGTERM); its checks saw only part of the machine",
                          details=""))
    return cases


def format_verdicts(verdicts: list[Verdict], title: str = "", interrupted: bool = False) -> str:
    """A plain-text verdict table, one row per check, and the overall verdict."""
    rows = [("check", "verdict", "measured", "expected", "detail")]
    for v in verdicts:
        rows.append((v.check, v.status.upper(), format_measured(v), v.expected, v.detail))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [title] if title else []
    for r in rows:
        lines.append("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    counts = counts_of(verdicts)
    verdict = overall(verdicts, interrupted).upper()
    lines.append(f"qualification: {verdict} ({counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIPPED]} skipped)")
    return "\n".join(lines) + "\n"
