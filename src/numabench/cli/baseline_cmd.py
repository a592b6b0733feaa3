"""numabench baseline save|show: result files kept per machine fingerprint for the regression gate."""

from __future__ import annotations

import json
import time

import click

from numabench.cli.common import one_line_errors, resolve_roots, sysfs_root_option
from numabench.results import schema as results
from numabench.results.baseline import (
    BASELINE_DIR_ENV,
    default_dir,
    describe_identity,
    fingerprint,
    list_baselines,
    live_identity,
    save_baseline,
)

_DIR_HELP = f"Baseline directory. Default: ${BASELINE_DIR_ENV}, else ~/.local/share/numabench/baselines."


@click.group("baseline")
def baseline() -> None:
    """Keep results per machine as baselines for `numabench compare --baseline-dir`."""


@baseline.command("save")
@click.argument("result_path", metavar="RESULT.json")
@click.option("--dir", "directory", metavar="DIR", help=_DIR_HELP)
@click.option("--force", is_flag=True, help="Replace this machine's existing baseline.")
@one_line_errors
def save(result_path: str, directory: str | None, force: bool) -> None:
    """Store RESULT.json as the baseline of the machine it was measured on."""
    directory = directory or default_dir()
    result = results.load(result_path).to_dict()
    stored = save_baseline(result, directory, force=force)
    click.echo(f"saved {result_path} as {stored.path} (fingerprint {stored.fingerprint}: "
               f"{describe_identity(stored.identity)}, {stored.measurements} measurement(s))")


@baseline.command("show")
@click.option("--dir", "directory", metavar="DIR", help=_DIR_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@sysfs_root_option
@one_line_errors
def show(directory: str | None, as_json: bool, sysfs_root: str | None) -> None:
    """List the stored baselines and which one matches this machine."""
    directory = directory or default_dir()
    sys_root, proc_root, _ = resolve_roots(sysfs_root)
    identity = live_identity(sys_root, proc_root)
    fp = fingerprint(identity)
    stored = list_baselines(directory)
    if as_json:
        doc = {"dir": directory, "this_machine": {"fingerprint": fp, "identity": identity},
               "baselines": [{**b.to_dict(), "matches_this_machine": b.fingerprint == fp and b.error is None}
                             for b in stored]}
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"this machine: fingerprint {fp} ({describe_identity(identity)})")
    if not stored:
        click.echo(f"no baselines in {directory}")
        return
    click.echo(f"baselines in {directory}:")
    for b in stored:
        if b.error:
            click.echo(f"  ! {b.fingerprint}  {b.path}: {b.error}")
            continue
        mark = "*" if b.fingerprint == fp else " "
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(b.finished_unix)) if b.finished_unix else "?"
        match = "  <- this machine" if b.fingerprint == fp else ""
        click.echo(f"  {mark} {b.fingerprint}  {describe_identity(b.identity)}, {b.measurements} measurement(s), "
                   f"measured {when}{match}")
    if not any(b.fingerprint == fp and b.error is None for b in stored):
        click.echo("none matches this machine: save one with numabench baseline save RESULT.json")
