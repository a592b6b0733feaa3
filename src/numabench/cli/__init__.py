"""The numabench command: one click group, one module per command."""

from __future__ import annotations

import click

from numabench import __version__
from numabench.cli.loaded_cmd import loaded
from numabench.cli.matrix_cmd import matrix
from numabench.cli.run_cmd import run
from numabench.cli.topology_cmd import topology


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="numabench")
def main() -> None:
    """NUMA memory benchmarks with verified page placement."""


main.add_command(topology)
main.add_command(run)
main.add_command(matrix)
main.add_command(loaded)
