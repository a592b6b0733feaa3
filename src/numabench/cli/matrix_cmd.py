"""numabench matrix: latency and bandwidth, every CPU node x every memory node."""

from __future__ import annotations

import sys
import time

import click

from numabench.host.cgroups import read_process_cpuset
from numabench.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_PARTIAL,
    fail,
    one_line_errors,
    progress,
    refuse_existing,
    write_outputs,
)
from numabench.host.environment import collect_environment, sample_noise
from numabench.errors import UsageError
from numabench.measure.spec import DEFAULT_REPEAT, PAGE_KINDS
from numabench.measure.matrix import BANDWIDTH_KERNEL, LATENCY_KERNEL, build_matrix, plan_matrix
from numabench.render.prometheus import check_textfile_path
from numabench.render.text import format_matrix
from numabench.results.schema import build_result, dumps
from numabench.measure.runner import Runner
from numabench.host.topology import read_topology
from numabench.util.units import parse_size


@click.command()
@click.option("--kind", type=click.Choice(["latency", "bandwidth", "both"]), default="both", show_default=True)
@click.option("--pages", type=click.Choice(PAGE_KINDS), default="4k", show_default=True)
@click.option("--size", default="1G", show_default=True, help="Buffer size per cell.")
@click.option("--threads", type=int, help="Bandwidth threads per cell. Default: every allowed CPU of the row's node.")
@click.option("--repeat", type=int, default=DEFAULT_REPEAT, show_default=True)
@click.option("-o", "--output", metavar="FILE", help="Write the JSON result (with a 'matrix' section).")
@click.option("--csv", "csv_path", metavar="FILE", help="Also write one CSV row per measured cell.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON result instead of the tables.")
@click.option("--prometheus", "prometheus_path", metavar="FILE.prom",
              help="Also write the results for node_exporter's textfile collector (replaced on every run).")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@one_line_errors
def matrix(kind, pages, size, threads, repeat, output, csv_path, as_json, prometheus_path, force) -> None:
    """Latency/bandwidth matrix: CPU node (rows) x memory node (columns), with distances and ratios."""
    refuse_existing((output, csv_path), force)
    if prometheus_path:
        check_textfile_path(prometheus_path)
    kernels = {"latency": [LATENCY_KERNEL], "bandwidth": [BANDWIDTH_KERNEL],
               "both": [LATENCY_KERNEL, BANDWIDTH_KERNEL]}[kind]
    topology = read_topology()
    cpuset = read_process_cpuset()
    plan = plan_matrix(topology, cpuset, kernels=kernels, pages=pages, size_bytes=parse_size(size),
                       threads=threads, repeat=repeat)
    if not plan.specs:
        raise UsageError("no cell of the matrix can be measured here: " + "; ".join(plan.skipped.values()),
                         "check the cpuset and hugepage reservations")
    noise = sample_noise((c for spec in plan.specs for c in spec.cpus), progress)
    started = time.time()
    outcome = Runner(progress=progress).run(plan.specs)
    result = build_result(environment=collect_environment(noise), topology=topology.to_dict(), command=sys.argv,
                          options={"kind": kind, "pages": pages, "size_bytes": parse_size(size),
                                   "threads": threads, "repeat": repeat},
                          notes=[], outcome=outcome, started=started, finished=time.time())
    result["matrix"] = build_matrix(topology, plan, outcome.measurements, outcome.errors)
    write_outputs(result, output=output, csv_path=csv_path, prometheus_path=prometheus_path)
    click.echo(dumps(result) if as_json else format_matrix(result["matrix"]), nl=not as_json)
    if outcome.interrupted:
        fail("interrupted; the measurements so far were kept", EXIT_INTERRUPTED)
    misplaced = [m for m in outcome.measurements if not m["placement"]["ok"]]
    if outcome.errors or misplaced:
        fail(f"{len(outcome.errors)} cell(s) failed, {len(misplaced)} measured on misplaced pages", EXIT_PARTIAL)
