"""The numabench command: one click group, one module per command, each imported only when run.

Loading lazily keeps `numabench --version` and the commands that measure nothing free of numpy,
pandas, the kubernetes client and the native extension (click's documented LazyGroup pattern).
"""

from __future__ import annotations

import importlib
import signal
import sys
from collections.abc import Sequence
from typing import Any

import click

from numabench import __version__

# name -> "module:attribute", in the order `--help` lists them.
COMMANDS = {
    "topology": "numabench.cli.topology_cmd:topology",
    "run": "numabench.cli.run_cmd:run",
    "matrix": "numabench.cli.matrix_cmd:matrix",
    "loaded": "numabench.cli.loaded_cmd:loaded",
    "peak": "numabench.cli.peak_cmd:peak",
    "c2c": "numabench.cli.c2c_cmd:c2c",
    "scan": "numabench.cli.scan_cmd:scan",
    "compare": "numabench.cli.compare_cmd:compare",
    "baseline": "numabench.cli.baseline_cmd:baseline",
    "qualify": "numabench.cli.qualify_cmd:qualify",
    "system": "numabench.cli.system_cmd:system",
    "pod": "numabench.cli.pod_cmd:pod",
    "kubelet": "numabench.cli.kubelet_cmd:kubelet",
}
# One line each, so that `numabench --help` imports no command module.
SUMMARIES = {
    "topology": "Show NUMA nodes, CPUs, memory, hugepages, distances and this process's cpuset.",
    "run": "Measure latency and bandwidth on the CPUs and memory this process may use.",
    "matrix": "Latency/bandwidth matrix: CPU node (rows) x memory node (columns).",
    "loaded": "Loaded latency (MLC --loaded_latency): chase latency while injectors stream memory.",
    "peak": "Peak injection bandwidth per read/write mix (MLC --peak_injection_bandwidth).",
    "c2c": "Cache-to-cache latency (MLC --c2c_latency): CPU x CPU matrix, grouped by SMT/L3/node.",
    "scan": "Memory scan (MLC --memory_bandwidth_scan): read bandwidth of every chunk of a node's memory.",
    "compare": "Compare CURRENT with BASELINE cell by cell; exit 1 on a significant regression.",
    "baseline": "Keep results per machine as baselines for `numabench compare`.",
    "qualify": "Check this machine against a YAML spec of expectations; exit 1 when a check fails.",
    "system": "The machine's state as it matters for stable measurements.",
    "pod": "Pods: alignment verdict from inside, admission model, local executor, experiments.",
    "kubelet": "The kubelet's state files (state) and configuration (lint).",
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use; usage errors are one line."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.lazy) + [c for c in super().list_commands(ctx) if c not in self.lazy]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attribute = self.lazy[name].split(":")
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUMMARIES.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            # Never click's standalone mode: errors are turned into one line below.
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except (click.Abort, KeyboardInterrupt):  # Ctrl-C outside a command's own handling
            click.echo("numabench: error: interrupted", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            sys.exit(_one_line(exc))


def _one_line(exc: click.ClickException) -> int:
    """click's usage errors as the one line every numabench error is (exit 2), naming the help to read."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        message += f": see '{exc.ctx.command_path} --help'"
    click.echo(f"numabench: error: {message}", err=True)
    return exc.exit_code


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="numabench")
def main() -> None:
    """NUMA memory benchmarks with verified page placement."""


def entry() -> None:
    """The ``numabench`` command: ``main``, then no signal can turn a finished command into a death
    by signal. A SIGINT or SIGTERM arriving after the outputs were written, while the interpreter
    shuts down (when Python has put back the default handlers), would otherwise end the process
    with that signal instead of the command's exit status."""
    try:
        main(prog_name="numabench")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
