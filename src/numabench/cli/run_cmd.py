"""numabench run: latency and bandwidth on chosen CPU and memory nodes."""

from __future__ import annotations

import click

from numabench.cli.common import Outputs, conclude, isa_option, one_line_errors, output_options, progress
from numabench.constants import (
    DEFAULT_ARRAY_OFFSET,
    DEFAULT_KERNELS,
    DEFAULT_REPEAT,
    KERNELS,
    MAX_ARRAY_OFFSET,
    SAMPLE_SECONDS,
)
from numabench.errors import UsageError
from numabench.host.cgroups import read_process_cpuset
from numabench.host.topology import read_topology
from numabench.measure.spec import RunOptions, parse_kernels, parse_pages, parse_threads, plan_run
from numabench.render.text import format_run_table
from numabench.util.stats import CI_CONFIDENCE
from numabench.util.units import parse_int_list, parse_size, parse_size_range

DEFAULT_MAX_SAMPLES = 30
DEFAULT_TARGET_CI = 1.0  # percent
MAX_SAMPLE_SECONDS = 60.0


@click.command()
@click.option("--cpu-node", "cpu_node", metavar="N[,N..]", help="NUMA node(s) whose CPUs run the kernels.")
@click.option("--mem-node", "mem_node", metavar="M[,M..]",
              help="NUMA node(s) holding the buffer (differs from --cpu-node: remote). Default: the CPU node.")
@click.option("--pages", metavar="KIND[,KIND..]",
              help="Page kinds: 4k, thp, 2m, 1g. Default: 4k, and 2m when hugepages are reserved.")
@click.option("--size", default="1G", show_default=True, metavar="SIZE",
              help="Buffer size (K/M/G binary suffixes), split across a kernel's arrays.")
@click.option("--sizes", metavar="A..B|A,B,..", help="Latency-vs-size sweep, e.g. 16K..2G (powers of two).")
@click.option("--threads", metavar="N|A,B,..|A..B",
              help="Pinned threads for bandwidth kernels, or a sweep of counts (bandwidth vs threads: "
                   "1,2,4,8, or 1..8 for powers of two up to 8). Default: every allowed CPU of the node.")
@click.option("--threads-sweep", "threads_sweep", is_flag=True,
              help="Bandwidth vs threads: 1, 2, 4, ... and every allowed CPU of the node.")
@click.option("--kernels", default=",".join(DEFAULT_KERNELS), show_default=True, metavar="K[,K..]",
              help=f"From: {','.join(KERNELS)}.")
@click.option("--repeat", type=int, default=None,
              help=f"Samples per measurement, a fixed count. [default: {DEFAULT_REPEAT}]")
@click.option("--min-samples", "min_samples", type=int, metavar="N",
              help=f"Sample until --target-ci is reached: at least N samples. [default: {DEFAULT_REPEAT}]")
@click.option("--max-samples", "max_samples", type=int, metavar="M",
              help=f"... and at most M samples. [default: {DEFAULT_MAX_SAMPLES}]")
@click.option("--target-ci", "target_ci", metavar="PCT",
              help=f"... until the median's {CI_CONFIDENCE:.0%} CI half-width is at most PCT of the median, "
                   f"e.g. 1%. [default: {DEFAULT_TARGET_CI:g}%]")
@click.option("--sample-seconds", "sample_seconds", type=float, default=SAMPLE_SECONDS, show_default=True,
              help="Duration of one sample: a calibrated number of chase loads or kernel passes.")
@click.option("--array-offset", "array_offset", metavar="BYTES", default=str(DEFAULT_ARRAY_OFFSET), show_default=True,
              help="Bytes added between a bandwidth kernel's arrays so their streams do not alias modulo "
                   "4 KiB (a multiple of 64; 0 for none).")
@click.option("--policy", default="bind", show_default=True,
              type=click.Choice(["bind", "interleave", "preferred", "local"]),
              help="Memory policy: mbind mode, or local = first touch only.")
@click.option("--first-touch", is_flag=True,
              help="Never call mbind; place by first touch (what a pod without CAP_SYS_NICE gets).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the chase permutation.")
@isa_option()
@output_options()
@one_line_errors
def run(cpu_node, mem_node, pages, size, sizes, threads, threads_sweep, kernels, repeat, min_samples, max_samples,
        target_ci, sample_seconds, array_offset, policy, first_touch, seed, isa, output, csv_path, as_json,
        prometheus_path, force) -> None:
    """Measure latency and bandwidth on the CPUs and memory this process may use.

    Each sample lasts about --sample-seconds. Either --repeat N samples per measurement, or with
    --min-samples/--max-samples/--target-ci: sample until the median's confidence interval is narrow
    enough or --max-samples are taken."""
    adaptive = _adaptive(repeat, min_samples, max_samples, target_ci, sample_seconds)
    offset = _array_offset(array_offset)
    if adaptive is not None:
        repeat = adaptive.min_samples
    count, counts = parse_threads(threads) if threads is not None else (None, None)
    options = RunOptions(
        cpu_nodes=parse_int_list(cpu_node, "--cpu-node") if cpu_node is not None else None,
        mem_nodes=parse_int_list(mem_node, "--mem-node") if mem_node is not None else None,
        pages=parse_pages(pages) if pages is not None else None,
        size_bytes=parse_size(size),
        sweep_sizes=parse_size_range(sizes) if sizes else None,
        threads=count,
        thread_counts=counts,
        threads_sweep=threads_sweep,
        kernels=parse_kernels(kernels),
        repeat=DEFAULT_REPEAT if repeat is None else repeat,
        policy=policy,
    )
    # The native core only when measuring: `pod` validates run options through this module.
    from numabench.measure.runner import Runner, Sampling
    from numabench.measure.session import Session

    outputs = Outputs(output, csv_path, prometheus_path, as_json, force)
    outputs.check()
    topology = read_topology()
    plan = plan_run(topology, read_process_cpuset(), options)
    for note in plan.notes:
        progress(f"note: {note}")
    if not plan.specs:
        raise UsageError("nothing to measure with these options", "see the notes above")

    runner = Runner(progress=progress, seed=seed, isa=isa, force_first_touch=first_touch,
                    sample_seconds=sample_seconds, adaptive=adaptive, array_offset=offset)
    sampling = (adaptive or Sampling.fixed(options.repeat, sample_seconds)).to_dict()
    with Session(topology=topology, options={**options.__dict__, "seed": seed, "isa": isa, "first_touch": first_touch,
                                             "sampling": sampling, "array_offset_bytes": offset},
                 notes=plan.notes, progress=progress) as session:
        session.sample_noise(c for spec in plan.specs for c in spec.cpus)
        runner.run(session, plan.specs)
    result = session.result()
    # Results first, verdicts after: nothing measured is lost to a later error.
    outputs.write(result)
    outputs.show(result, _text(result.to_dict()))
    conclude(session, result)


def _text(doc: dict) -> str:
    """The run table, and the bandwidth-vs-threads table when the run swept threads."""
    from numabench.analysis.sweep import format_sweep_table, sweep_curves

    sweep = format_sweep_table(sweep_curves(doc["measurements"]))
    return format_run_table(doc) + (f"\n\n{sweep}" if sweep else "")


def _percent(text: str) -> float:
    """'1%' or '1' -> 0.01; UsageError unless strictly between 0 and 100."""
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        raise UsageError(f"--target-ci {text!r} is not a percentage", "write e.g. --target-ci 1%") from None
    if not 0 < value < 100:
        raise UsageError(f"--target-ci {text} is not between 0% and 100%", "write e.g. --target-ci 1%")
    return value / 100.0


def _adaptive(repeat, min_samples, max_samples, target_ci, sample_seconds):
    """The adaptive Sampling when any of --min-samples/--max-samples/--target-ci is given, else None.

    Raises UsageError for a bad count or duration, or --repeat given with them."""
    from numabench.measure.spec import MAX_REPEAT

    if not 0 < sample_seconds <= MAX_SAMPLE_SECONDS:
        raise UsageError(f"--sample-seconds {sample_seconds:g} is not in (0, {MAX_SAMPLE_SECONDS:g}]",
                         "use e.g. --sample-seconds 0.2")
    if min_samples is None and max_samples is None and target_ci is None:
        return None
    if repeat is not None:
        raise UsageError("--repeat is a fixed count; --min-samples/--max-samples/--target-ci sample until a target",
                         "give --repeat alone, or --min-samples/--max-samples/--target-ci without --repeat")
    from numabench.measure.runner import Sampling

    low = DEFAULT_REPEAT if min_samples is None else min_samples
    high = max(DEFAULT_MAX_SAMPLES, low) if max_samples is None else max_samples
    if not 2 <= low <= high <= MAX_REPEAT:
        raise UsageError(f"--min-samples {low} and --max-samples {high} need 2 <= min <= max <= {MAX_REPEAT}",
                         "use e.g. --min-samples 5 --max-samples 30")
    target = DEFAULT_TARGET_CI / 100.0 if target_ci is None else _percent(target_ci)
    return Sampling(low, high, target, sample_seconds)


def _array_offset(text: str) -> int:
    """--array-offset in bytes (K/M suffixes allowed): a multiple of 64 up to 1 MiB, else UsageError."""
    offset = parse_size(text) if text.strip() not in ("0", "") else 0
    if offset % 64 or not 0 <= offset <= MAX_ARRAY_OFFSET:
        raise UsageError(f"--array-offset {text} is not a multiple of 64 between 0 and {MAX_ARRAY_OFFSET}",
                         f"use --array-offset {DEFAULT_ARRAY_OFFSET} (the default) or another multiple of 64")
    return offset
