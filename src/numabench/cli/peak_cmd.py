"""numabench peak: peak injection bandwidth per read/write mix (MLC --peak_injection_bandwidth).

Every allowed CPU of a node (or --threads of them) streams each mix over a buffer on that node's
memory, placed and proven like `run`'s (pages_by_node), sampled and judged by the same statistics.
Exit codes: 0 measured; 2 bad input (an unknown mix, more threads than allowed CPUs, a node without
CPUs) with one line on stderr; 3 some node failed or its pages were not where asked; 130/143
interrupted (what was measured is kept and written).
"""

from __future__ import annotations

import click

from numabench.cli.common import Outputs, conclude, isa_option, one_line_errors, output_options, progress
from numabench.cli.run_cmd import _adaptive, _array_offset
from numabench.constants import DEFAULT_ARRAY_OFFSET, DEFAULT_REPEAT, PAGE_KINDS, PEAK_MIXES, SAMPLE_SECONDS
from numabench.host.cgroups import read_process_cpuset
from numabench.host.topology import read_topology
from numabench.measure.spec import parse_threads
from numabench.util.units import parse_int_list, parse_size


@click.command("peak")
@click.option("--node", "node", metavar="N[,N..]", help="CPU node(s) to measure. Default: the first usable node.")
@click.option("--all-nodes", is_flag=True, help="Every node with a CPU this process may use, one after another.")
@click.option("--mem-node", "mem_node", type=int, metavar="M",
              help="Memory node of the buffer (a memory-only node, say). Default: each CPU node's own.")
@click.option("--mixes", default=",".join(PEAK_MIXES), show_default=True, metavar="MIX[,MIX..]",
              help="Read/write mixes, reads:writes in bytes: 1:0 (all reads), 3:1, 2:1, 1:1, triad.")
@click.option("--pages", type=click.Choice(PAGE_KINDS), default="4k", show_default=True)
@click.option("--size", default="1G", show_default=True, metavar="SIZE",
              help="Buffer size per node (K/M/G binary suffixes), split across a mix's arrays.")
@click.option("--threads", metavar="N|A,B,..|A..B",
              help="Pinned threads: a count, or a sweep (bandwidth vs threads). Default: every allowed CPU.")
@click.option("--repeat", type=int, default=None, help=f"Samples per mix, a fixed count. [default: {DEFAULT_REPEAT}]")
@click.option("--min-samples", "min_samples", type=int, metavar="N", help="As `run`: sample until --target-ci ...")
@click.option("--max-samples", "max_samples", type=int, metavar="M", help="... or M samples ...")
@click.option("--target-ci", "target_ci", metavar="PCT", help="... is reached (the median's CI half-width, e.g. 1%).")
@click.option("--sample-seconds", "sample_seconds", type=float, default=SAMPLE_SECONDS, show_default=True,
              help="Duration of one sample: a calibrated number of passes.")
@click.option("--array-offset", "array_offset", metavar="BYTES", default=str(DEFAULT_ARRAY_OFFSET),
              show_default=True, help="Bytes added between a mix's arrays (a multiple of 64).")
@click.option("--first-touch", is_flag=True, help="Never call mbind; place by first touch.")
@isa_option("the kernels")
@click.option("--html", "html_path", metavar="FILE", help="Also write a self-contained HTML report.")
@output_options()
@one_line_errors
def peak(node, all_nodes, mem_node, mixes, pages, size, threads, repeat, min_samples, max_samples, target_ci,
         sample_seconds, array_offset, first_touch, isa, html_path, output, csv_path, as_json, prometheus_path,
         force) -> None:
    """Peak injection bandwidth per read/write mix (MLC --peak_injection_bandwidth).

    Bytes are counted as in `run`: bytes read plus bytes written per pass, a write-allocate read
    never counted (STREAM's rule). 3:1, 2:1 and 1:1 update an array in place, so they cause no
    write-allocate read at all; triad (a = b + s*c, 2:1) does, uncounted, as STREAM."""
    from numabench.measure.peak import parse_mixes, plan_peak

    adaptive = _adaptive(repeat, min_samples, max_samples, target_ci, sample_seconds)
    if adaptive is not None:
        repeat = adaptive.min_samples
    offset = _array_offset(array_offset)
    count, counts = parse_threads(threads) if threads is not None else (None, None)
    outputs = Outputs(output, csv_path, prometheus_path, as_json, force)
    outputs.check(html_path)
    if html_path:
        from numabench.render.html import plots

        plots()  # a missing matplotlib is refused before measuring
    topology = read_topology()
    plan = plan_peak(topology, read_process_cpuset(),
                     nodes=parse_int_list(node, "--node") if node is not None else None, all_nodes=all_nodes,
                     mem_node=mem_node, mixes=parse_mixes(mixes), pages=pages, size_bytes=parse_size(size),
                     threads=count, thread_counts=counts, repeat=DEFAULT_REPEAT if repeat is None else repeat)
    for note in plan.notes:
        progress(f"note: {note}")
    _measure_and_report(plan, topology, isa, first_touch, (adaptive, sample_seconds), offset, outputs, html_path,
                        {"mixes": parse_mixes(mixes), "repeat": plan.specs[0].repeat, "threads": threads})


def _measure_and_report(plan, topology, isa, first_touch, sampling_choice, offset, outputs, html_path,
                        options) -> None:
    # The native core only when measuring.
    from numabench.measure.runner import Runner, Sampling
    from numabench.measure.session import Session

    adaptive, sample_seconds = sampling_choice
    runner = Runner(progress=progress, isa=isa, force_first_touch=first_touch, sample_seconds=sample_seconds,
                    adaptive=adaptive, array_offset=offset)
    sampling = (adaptive or Sampling.fixed(plan.specs[0].repeat, sample_seconds)).to_dict()
    with Session(topology=topology, options={**options, "isa": isa, "first_touch": first_touch, "sampling": sampling,
                                             "array_offset_bytes": offset, "size_bytes": plan.specs[0].size_bytes,
                                             "pages": plan.specs[0].pages},
                 notes=plan.notes, progress=progress) as session:
        session.sample_noise(c for spec in plan.specs for c in spec.cpus)
        runner.run(session, plan.specs)
    result = session.result()
    outputs.write(result)
    if html_path:
        from numabench.render.html import render_measurements_html, write_html

        write_html(html_path, render_measurements_html(result.to_dict(), "numabench peak"))
        progress(f"wrote {html_path}")
    outputs.show(result, _text(result.to_dict()))
    conclude(session, result)


def _text(doc: dict) -> str:
    from numabench.analysis.sweep import format_sweep_table, sweep_curves
    from numabench.render.peak import format_peak_summary
    from numabench.render.text import format_run_table

    parts = [format_run_table(doc), format_peak_summary(doc), format_sweep_table(sweep_curves(doc["measurements"]))]
    return "\n\n".join(p for p in parts if p)
