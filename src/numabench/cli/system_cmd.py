"""numabench system show: what on this machine may add noise to measurements (pyperf's system show)."""

from __future__ import annotations

import json
import os

import click

from numabench.cli.common import one_line_errors, resolve_roots, sysfs_root_option
from numabench.errors import UsageError
from numabench.host.noise import read_noise
from numabench.util.cpulist import format_cpulist, parse_cpulist

_WORDS = {True: "ok", False: "WARNING", None: "unknown"}


def format_noise(report: dict) -> str:
    """One line per finding: ok / WARNING / unknown, its name and the advice; then a verdict."""
    lines = [(f"noise check of CPUs {format_cpulist(report['cpus'])} "
             f"({report['sample_seconds'] * 1000:.0f} ms sample of /proc/stat)")]
    width = max(len(f["name"]) for f in report["findings"])
    for f in report["findings"]:
        lines.append(f"{_WORDS[f['ok']]:<7}  {f['name']:<{width}}  {f['advice']}")
    warnings = sum(1 for f in report["findings"] if f["ok"] is False)
    lines.append(f"{warnings} warning(s): measurements may be noisy; fix them before a regression-gate run"
                 if warnings else "no source of noise found")
    return "\n".join(lines)


@click.group("system")
def system() -> None:
    """The machine's state as it matters for stable measurements."""


@system.command("show")
@click.option("--cpus", metavar="LIST", help="CPUs to check, e.g. 0-1 (default: the CPUs this process may use).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@sysfs_root_option
@one_line_errors
def show(cpus: str | None, as_json: bool, sysfs_root: str | None) -> None:
    """Governor, turbo, THP, load, runnable tasks and busy CPUs / SMT siblings: what to fix before measuring.

    Exit code 0 whatever is found (warnings are advice); 2 on bad input.
    """
    sys_root, proc_root, _ = resolve_roots(sysfs_root)
    if cpus is None:
        chosen = tuple(sorted(os.sched_getaffinity(0)))
    else:
        try:
            chosen = parse_cpulist(cpus)
        except ValueError as exc:
            raise UsageError(f"--cpus: {exc}", "give a CPU list such as 0-3,8") from None
    report = read_noise(chosen, sys_root, proc_root)
    click.echo(json.dumps(report, indent=2) if as_json else format_noise(report))
