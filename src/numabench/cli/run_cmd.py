"""numabench run: latency and bandwidth on chosen CPU and memory nodes."""

from __future__ import annotations

import sys
import time

import click

from numabench.native._native import isa_best, isa_supported
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
from numabench.measure.spec import (
    DEFAULT_KERNELS,
    DEFAULT_REPEAT,
    KERNELS,
    RunOptions,
    parse_kernels,
    parse_pages,
    plan_run,
)
from numabench.render.prometheus import check_textfile_path
from numabench.render.text import format_run_table
from numabench.results.schema import build_result, dumps
from numabench.measure.runner import Runner
from numabench.host.topology import read_topology
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
@click.option("-o", "--output", metavar="FILE", help="Write the JSON result to FILE.")
@click.option("--csv", "csv_path", metavar="FILE", help="Also write one CSV row per measurement.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON result on stdout instead of the table.")
@click.option("--prometheus", "prometheus_path", metavar="FILE.prom",
              help="Also write the results for node_exporter's textfile collector (replaced on every run).")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
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
    if not isa_supported(isa):
        raise UsageError(f"this CPU does not support the {isa} bandwidth kernels", f"use --isa {isa_best()} or auto")
    refuse_existing((output, csv_path), force)
    if prometheus_path:
        check_textfile_path(prometheus_path)
    topology = read_topology()
    cpuset = read_process_cpuset()
    plan = plan_run(topology, cpuset, options)
    for note in plan.notes:
        progress(f"note: {note}")
    if not plan.specs:
        raise UsageError("nothing to measure with these options", "see the notes above")

    noise = sample_noise((c for spec in plan.specs for c in spec.cpus), progress)
    started = time.time()
    outcome = Runner(progress=progress, seed=seed, isa=isa, force_first_touch=first_touch).run(plan.specs)
    result = build_result(
        environment=collect_environment(noise),
        topology=topology.to_dict(),
        command=sys.argv,
        options={**options.__dict__, "seed": seed, "isa": isa, "first_touch": first_touch},
        notes=plan.notes,
        outcome=outcome,
        started=started,
        finished=time.time(),
    )
    # Results first, verdicts after: nothing measured is lost to a later error.
    write_outputs(result, output=output, csv_path=csv_path, prometheus_path=prometheus_path)
    if as_json:
        click.echo(dumps(result), nl=False)
    else:
        click.echo(format_run_table(result))
    if outcome.interrupted:
        fail("interrupted; the measurements so far were kept", EXIT_INTERRUPTED)
    misplaced = [m for m in outcome.measurements if not m["placement"]["ok"]]
    if outcome.errors or misplaced:
        problems = [e["error"] for e in outcome.errors]
        if misplaced:
            problems.append(f"{len(misplaced)} measurement(s) ran on pages not where asked")
        if not outcome.measurements:
            fail(problems[0], 2)
        fail("; ".join(problems), EXIT_PARTIAL)
