"""numabench pod inspect: this process's pod identity, cpuset, NUMA nodes, where its memory lands,
and an alignment verdict."""

from __future__ import annotations

import json

import click

from numabench.cli.common import one_line_errors
from numabench.kube.inspect import format_inspection, inspect_process
from numabench.util.units import parse_size


@click.command("inspect")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--probe-size", default="64M", show_default=True, metavar="SIZE",
              help="First-touch probe buffer (K/M/G binary suffixes); 0 skips the probe.")
@one_line_errors
def inspect(as_json: bool, probe_size: str) -> None:
    """Alignment verdict from inside a pod: QoS, pod UID, cpuset, NUMA nodes, where pages land."""
    probe_bytes = 0 if probe_size.strip() in ("0", "0B", "0b") else parse_size(probe_size)
    prober = None
    if probe_bytes:
        from numabench.measure.probe import first_touch_probe  # the native core, only to probe

        prober = first_touch_probe
    doc = inspect_process(probe_bytes=probe_bytes, prober=prober)
    click.echo(json.dumps(doc, indent=2) if as_json else format_inspection(doc))
