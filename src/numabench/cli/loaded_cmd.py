"""numabench loaded: the latency-vs-bandwidth curve under injected traffic."""

from __future__ import annotations

import click

from numabench.cli.common import Outputs, conclude, one_line_errors, output_options, progress
from numabench.constants import DEFAULT_DELAYS, DEFAULT_REPEAT, INJECT_KINDS, PAGE_KINDS
from numabench.host.cgroups import read_process_cpuset
from numabench.host.topology import read_topology
from numabench.measure.loaded import failure_fields, measure_loaded
from numabench.measure.session import Session
from numabench.measure.spec import plan_loaded
from numabench.render.text import format_loaded
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
@click.option("--repeat", type=int, default=DEFAULT_REPEAT, show_default=True, help="Samples per delay.")
@output_options()
@one_line_errors
def loaded(cpu_node, mem_node, inject_cpu_node, inject_node, injectors, kind, delays, pages, size, inject_size,
           repeat, output, as_json, force, csv_path, prometheus_path) -> None:
    """Loaded latency (MLC --loaded_latency): chase latency while injectors stream memory."""
    outputs = Outputs(output, csv_path, prometheus_path, as_json, force)
    outputs.check()
    topology = read_topology()
    spec = plan_loaded(topology, read_process_cpuset(), cpu_node=cpu_node, mem_node=mem_node,
                       inject_node=inject_node, inject_cpu_node=inject_cpu_node, injectors=injectors, pages=pages,
                       size_bytes=parse_size(size), inject_size_bytes=parse_size(inject_size), kind=kind,
                       delays=tuple(parse_int_list(delays, "--delays")),
                       repeat=repeat)
    with Session(topology=topology, options={**spec.__dict__}, progress=progress) as session:
        session.sample_noise((spec.chase_cpu, *spec.inject_cpus))
        session.measure("loaded latency", lambda: measure_loaded(spec, progress), failure=failure_fields(spec))
    result = session.result()
    outputs.write(result)
    outputs.show(result, format_loaded(result.to_dict()))
    conclude(session, result)
