"""numabench loaded: the latency-vs-bandwidth curve under injected traffic."""

from __future__ import annotations

import os
import sys
import time

import click

from numabench.host.cgroups import read_process_cpuset
from numabench.cli.common import EXIT_PARTIAL, fail, one_line_errors, progress
from numabench.host.environment import collect_environment
from numabench.errors import UsageError
from numabench.measure.spec import PAGE_KINDS
from numabench.measure.loaded import DEFAULT_DELAYS, INJECT_KINDS, measure_loaded, plan_loaded
from numabench.render.text import format_loaded
from numabench.results.schema import build_result, dumps, save
from numabench.measure.runner import RunOutcome
from numabench.host.topology import read_topology
from numabench.util.units import parse_int_list, parse_size


@click.command()
@click.option("--cpu-node", type=int, help="Node of the chase and injector CPUs.")
@click.option("--mem-node", type=int, help="Node of the chase buffer. Default: the CPU node.")
@click.option("--inject-cpu-node", type=int, help="Node of the injector CPUs. Default: the chase's CPU node.")
@click.option("--inject-node", type=int, help="Node of the injectors' buffer. Default: the chase's memory node.")
@click.option("--injectors", type=int, help="Injector threads. Default: every other allowed CPU of the node.")
@click.option("--kind", type=click.Choice(INJECT_KINDS), default="read", show_default=True,
              help="Injected traffic: reads, or reads and writes 1:1.")
@click.option("--delays", default=",".join(map(str, DEFAULT_DELAYS)), show_default=True,
              help="Throttle delays (empty loop iterations per 512 bytes), from full load to almost idle.")
@click.option("--pages", type=click.Choice(PAGE_KINDS), default="4k", show_default=True)
@click.option("--size", default="1G", show_default=True, help="Chase buffer size.")
@click.option("--inject-size", default="1G", show_default=True, help="Injectors' buffer size.")
@click.option("--repeat", type=int, default=3, show_default=True, help="Samples per delay.")
@click.option("-o", "--output", metavar="FILE")
@click.option("--json", "as_json", is_flag=True)
@click.option("--force", is_flag=True)
@one_line_errors
def loaded(cpu_node, mem_node, inject_cpu_node, inject_node, injectors, kind, delays, pages, size, inject_size,
           repeat, output, as_json, force) -> None:
    """Loaded latency (MLC --loaded_latency): chase latency while injectors stream memory."""
    if output and os.path.exists(output) and not force:
        raise UsageError(f"{output} already exists", "choose another file or pass --force")
    if repeat < 1:
        raise UsageError(f"--repeat {repeat} is not positive", "use --repeat 1 or more")
    topology = read_topology()
    spec = plan_loaded(topology, read_process_cpuset(), cpu_node=cpu_node, mem_node=mem_node,
                       inject_node=inject_node, inject_cpu_node=inject_cpu_node, injectors=injectors, pages=pages,
                       size_bytes=parse_size(size), inject_size_bytes=parse_size(inject_size), kind=kind,
                       delays=tuple(parse_int_list(delays, "--delays")),
                       repeat=repeat)
    started = time.time()
    outcome = RunOutcome()
    outcome.measurements = measure_loaded(spec, progress)
    result = build_result(environment=collect_environment(), topology=topology.to_dict(), command=sys.argv,
                          options={**spec.__dict__}, notes=[], outcome=outcome, started=started,
                          finished=time.time())
    if output:
        save(result, output, force=True)
        progress(f"wrote {output}")
    click.echo(dumps(result) if as_json else format_loaded(result), nl=not as_json)
    if any(not m["placement"]["ok"] or not m["inject_placement"]["ok"] for m in outcome.measurements):
        fail("some pages were not where asked (see placement)", EXIT_PARTIAL)
