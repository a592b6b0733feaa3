"""numabench run: latency and bandwidth on chosen CPU and memory nodes."""

from __future__ import annotations

import click

from numabench.cli.common import Outputs, conclude, one_line_errors, output_options, progress
from numabench.constants import DEFAULT_KERNELS, DEFAULT_REPEAT, KERNELS
from numabench.errors import UsageError
from numabench.host.cgroups import read_process_cpuset
from numabench.host.topology import read_topology
from numabench.measure.spec import RunOptions, parse_kernels, parse_pages, plan_run
from numabench.render.text import format_run_table
from numabench.util.units import parse_int_list, parse_size, parse_size_range


@click.command()
@click.option("--cpu-node", "cpu_node", metavar="N[,N..]", help="NUMA node(s) whose CPUs run the kernels.")
@click.option("--mem-node", "mem_node", metavar="M[,M..]",
              help="NUMA node(s) holding the buffer (differs from --cpu-node: remote). Default: the CPU node.")
@click.option("--pages", metavar="KIND[,KIND..]",
              help="Page kinds: 4k, thp, 2m, 1g. Default: 4k, and 2m when hugepages are reserved.")
@click.option("--size", default="1G", show_default=True, metavar="SIZE",
              help="Buffer size (K/M/G binary suffixes), split across a kernel's arrays.")
@click.option("--sizes", metavar="A..B|A,B,..", help="Latency-vs-size sweep, e.g. 16K..2G (powers of two).")
@click.option("--threads", type=int,
              help="Pinned threads for bandwidth kernels. Default: every allowed CPU of the node.")
@click.option("--kernels", default=",".join(DEFAULT_KERNELS), show_default=True, metavar="K[,K..]",
              help=f"From: {','.join(KERNELS)}.")
@click.option("--repeat", type=int, default=DEFAULT_REPEAT, show_default=True, help="Samples per measurement.")
@click.option("--policy", default="bind", show_default=True,
              type=click.Choice(["bind", "interleave", "preferred", "local"]),
              help="Memory policy: mbind mode, or local = first touch only.")
@click.option("--first-touch", is_flag=True,
              help="Never call mbind; place by first touch (what a pod without CAP_SYS_NICE gets).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the chase permutation.")
@click.option("--isa", default="auto", type=click.Choice(["auto", "avx512", "avx2", "scalar"]),
              show_default=True, help="Vector ISA of the bandwidth kernels.")
@output_options()
@one_line_errors
def run(cpu_node, mem_node, pages, size, sizes, threads, kernels, repeat, policy, first_touch, seed, isa,
        output, csv_path, as_json, prometheus_path, force) -> None:
    """Measure latency and bandwidth on the CPUs and memory this process may use."""
    options = RunOptions(
        cpu_nodes=parse_int_list(cpu_node, "--cpu-node") if cpu_node is not None else None,
        mem_nodes=parse_int_list(mem_node, "--mem-node") if mem_node is not None else None,
        pages=parse_pages(pages) if pages is not None else None,
        size_bytes=parse_size(size),
        sweep_sizes=parse_size_range(sizes) if sizes else None,
        threads=threads,
        kernels=parse_kernels(kernels),
        repeat=repeat,
        policy=policy,
    )
    # The native core only when measuring: `pod` validates run options through this module.
    from numabench.measure.runner import Runner
    from numabench.measure.session import Session
    from numabench.native._native import isa_best, isa_supported

    if not isa_supported(isa):
        raise UsageError(f"this CPU does not support the {isa} bandwidth kernels", f"use --isa {isa_best()} or auto")
    outputs = Outputs(output, csv_path, prometheus_path, as_json, force)
    outputs.check()
    topology = read_topology()
    plan = plan_run(topology, read_process_cpuset(), options)
    for note in plan.notes:
        progress(f"note: {note}")
    if not plan.specs:
        raise UsageError("nothing to measure with these options", "see the notes above")

    runner = Runner(progress=progress, seed=seed, isa=isa, force_first_touch=first_touch)
    with Session(topology=topology, options={**options.__dict__, "seed": seed, "isa": isa, "first_touch": first_touch},
                 notes=plan.notes, progress=progress) as session:
        session.sample_noise(c for spec in plan.specs for c in spec.cpus)
        runner.run(session, plan.specs)
    result = session.result()
    # Results first, verdicts after: nothing measured is lost to a later error.
    outputs.write(result)
    outputs.show(result, format_run_table(result.to_dict()))
    conclude(session, result)
