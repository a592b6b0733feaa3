"""The numabench command: one click group, one module per command."""

from __future__ import annotations

import click

from numabench import __version__
from numabench.cli.baseline_cmd import baseline
from numabench.cli.compare_cmd import compare
from numabench.cli.kubelet_cmd import kubelet
from numabench.cli.loaded_cmd import loaded
from numabench.cli.matrix_cmd import matrix
from numabench.cli.pod_cmd import pod
from numabench.cli.qualify_cmd import qualify
from numabench.cli.run_cmd import run
from numabench.cli.system_cmd import system
from numabench.cli.topology_cmd import topology


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="numabench")
def main() -> None:
    """NUMA memory benchmarks with verified page placement."""


for command in (topology, run, matrix, loaded, compare, baseline, qualify, system, pod, kubelet):
    main.add_command(command)
