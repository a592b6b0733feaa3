"""numabench pod cleanup: remove what a killed `pod exec` or `pod run --backend local` left behind."""

from __future__ import annotations

import json

import click

from numabench.cli.common import one_line_errors


@click.command("cleanup")
@click.option("--json", "as_json", is_flag=True, help="Print the removed cgroups as JSON.")
@one_line_errors
def cleanup(as_json: bool) -> None:
    """Kill the commands left in cgroups numabench made whose owner is dead (a SIGKILLed pod exec or
    local pod run), remove those cgroups and numabench's empty kubepods levels. pod exec and pod run
    do this first by themselves. Exit 0 (nothing or all removed), 2 (a cgroup stays busy)."""
    from numabench.kube.experiment.executor import cleanup_orphans, find_hierarchies

    removed = cleanup_orphans(find_hierarchies(), remove_top=True)
    if as_json:
        click.echo(json.dumps({"removed": removed}, indent=2))
    elif removed:
        for path in removed:
            click.echo(f"removed {path}")
    else:
        click.echo("nothing left behind")
