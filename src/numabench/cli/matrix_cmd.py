"""numabench matrix: latency and bandwidth, every CPU node x every memory node."""

from __future__ import annotations

import click

from numabench.cli.common import Outputs, conclude, one_line_errors, output_options, progress
from numabench.constants import DEFAULT_REPEAT, PAGE_KINDS
from numabench.errors import UsageError
from numabench.host.cgroups import read_process_cpuset
from numabench.host.topology import read_topology
from numabench.measure.matrix import BANDWIDTH_KERNEL, LATENCY_KERNEL, build_matrix, plan_matrix
from numabench.measure.runner import Runner
from numabench.measure.session import Session
from numabench.render.text import format_matrix
from numabench.util.units import parse_size


@click.command()
@click.option("--kind", type=click.Choice(["latency", "bandwidth", "both"]), default="both", show_default=True)
@click.option("--pages", type=click.Choice(PAGE_KINDS), default="4k", show_default=True)
@click.option("--size", default="1G", show_default=True, help="Buffer size per cell.")
@click.option("--threads", type=int, help="Bandwidth threads per cell. Default: every allowed CPU of the row's node.")
@click.option("--repeat", type=int, default=DEFAULT_REPEAT, show_default=True)
@output_options()
@one_line_errors
def matrix(kind, pages, size, threads, repeat, output, csv_path, as_json, prometheus_path, force) -> None:
    """Latency/bandwidth matrix: CPU node (rows) x memory node (columns), with distances and ratios."""
    outputs = Outputs(output, csv_path, prometheus_path, as_json, force)
    outputs.check()
    kernels = {"latency": [LATENCY_KERNEL], "bandwidth": [BANDWIDTH_KERNEL],
               "both": [LATENCY_KERNEL, BANDWIDTH_KERNEL]}[kind]
    topology = read_topology()
    plan = plan_matrix(topology, read_process_cpuset(), kernels=kernels, pages=pages, size_bytes=parse_size(size),
                       threads=threads, repeat=repeat)
    if not plan.specs:
        raise UsageError("no cell of the matrix can be measured here: " + "; ".join(plan.skipped.values()),
                         "check the cpuset and hugepage reservations")
    options = {"kind": kind, "pages": pages, "size_bytes": parse_size(size), "threads": threads, "repeat": repeat}
    with Session(topology=topology, options=options, progress=progress) as session:
        session.sample_noise(c for spec in plan.specs for c in spec.cpus)
        Runner(progress=progress).run(session, plan.specs)
        session.sections["matrix"] = build_matrix(topology, plan, [m.to_dict() for m in session.measurements],
                                                  session.errors)
    result = session.result()
    outputs.write(result)
    outputs.show(result, format_matrix(result.sections["matrix"]))
    conclude(session, result)
