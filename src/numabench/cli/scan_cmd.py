"""numabench scan: read bandwidth (and latency) of every chunk of a node's free memory (MLC's
--memory_bandwidth_scan), each chunk placed, proven and tied to its physical addresses.

Exit codes: 0 scanned; 2 bad input or a request larger than free memory less the margin (one
line, nothing allocated); 3 a chunk failed or landed off the node (what was measured is written);
130/143 interrupted by SIGINT/SIGTERM (finished chunks are kept and written).
"""

from __future__ import annotations

import click

from numabench.cli.common import Outputs, conclude, isa_option, one_line_errors, output_options, progress
from numabench.constants import DEFAULT_REPEAT, PAGE_KINDS, SAMPLE_SECONDS
from numabench.errors import UsageError
from numabench.host.cgroups import read_process_cpuset
from numabench.host.memlimit import memory_headroom_bytes
from numabench.host.topology import read_topology
from numabench.results.scan import DEFAULT_THRESHOLD_PCT
from numabench.util.units import format_size, parse_size


@click.command()
@click.option("--node", type=int, required=True, help="NUMA node whose memory is scanned.")
@click.option("--cpu-node", type=int,
              help="Node whose CPUs read the chunks. Default: the scanned node, or the nearest node with CPUs.")
@click.option("--chunk", default="1G", show_default=True, metavar="SIZE", help="Size of each chunk.")
@click.option("--size", metavar="SIZE",
              help="Scan exactly this much (a multiple of --chunk); refused when it does not fit. "
                   "Default: all the free memory the margin leaves.")
@click.option("--margin", metavar="SIZE|PCT",
              help="Free memory left untouched: a size (2G) or a percentage of the node's total (5%). "
                   "Default: max(1 GiB, 5% of the node's total). Not applied to hugepage pools.")
@click.option("--max-chunks", "max_chunks", type=int, metavar="K", help="Scan at most K chunks.")
@click.option("--latency", is_flag=True, help="Also measure each chunk's pointer-chase latency (one CPU).")
@click.option("--threshold-pct", "threshold_pct", type=float, default=DEFAULT_THRESHOLD_PCT, show_default=True,
              help="Flag chunks whose figure is outside the node's median by more than this percentage.")
@click.option("--pages", type=click.Choice(PAGE_KINDS), default="4k", show_default=True)
@click.option("--threads", type=int, help="Reader threads. Default: every allowed CPU of the CPU node.")
@click.option("--repeat", type=int, default=DEFAULT_REPEAT, show_default=True, help="Samples per chunk and kernel.")
@click.option("--sample-seconds", "sample_seconds", type=float, default=SAMPLE_SECONDS, show_default=True,
              help="Duration of one sample.")
@isa_option("the read kernel")
@click.option("--html", "html_path", metavar="FILE", help="Write a self-contained HTML report with the per-chunk plot.")
@output_options()
@one_line_errors
def scan(node, cpu_node, chunk, size, margin, max_chunks, latency, threshold_pct, pages, threads, repeat,
         sample_seconds, isa, html_path, output, as_json, force, csv_path, prometheus_path) -> None:
    """Scan a node's free memory chunk by chunk (MLC --memory_bandwidth_scan)."""
    outputs = Outputs(output, csv_path, prometheus_path, as_json, force)
    outputs.check(html_path)
    if html_path:
        from numabench.render.html import plots

        plots()  # a missing matplotlib is refused before anything is allocated
    if not 0 < sample_seconds <= 60:
        raise UsageError(f"--sample-seconds {sample_seconds:g} is not in (0, 60]", "use e.g. --sample-seconds 0.2")
    chunk_bytes = parse_size(chunk) if chunk.strip() != "0" else 0
    # The native core only when measuring.
    from numabench.measure.scan import Scanner, live_free_reader, plan_scan
    from numabench.measure.session import Session
    from numabench.render.scan import format_scan

    topology = read_topology()
    plan = plan_scan(topology, read_process_cpuset(), node=node, chunk_bytes=chunk_bytes, margin=margin,
                     max_chunks=max_chunks, size_bytes=parse_size(size) if size else None, pages=pages,
                     cpu_node=cpu_node, threads=threads, repeat=repeat, latency=latency, threshold_pct=threshold_pct,
                     memory_headroom_bytes=memory_headroom_bytes())
    for note in plan.notes:
        progress(f"note: {note}")
    progress(f"scan: node {plan.node}, {plan.chunks} chunk(s) of {format_size(plan.chunk_bytes)} "
             f"({format_size(plan.free_bytes)} free, margin {format_size(plan.margin_bytes)}), "
             f"{len(plan.cpus)} CPU(s) of node {plan.cpu_node}")
    scanner = Scanner(plan, free_reader=live_free_reader(plan), progress=progress, isa=isa,
                      sample_seconds=sample_seconds)
    options = {**plan.to_dict(), "isa": isa, "sample_seconds": sample_seconds}
    with Session(topology=topology, options=options, notes=plan.notes, progress=progress) as session:
        session.sample_noise(plan.cpus)
        try:
            session.sections["scan"] = scanner.run(session)
        finally:
            scanner.close()
    result = session.result()
    outputs.write(result)
    if html_path:
        from numabench.render.html import render_scan_html, write_html

        write_html(html_path, render_scan_html(result.to_dict()))
        progress(f"wrote {html_path}")
    outputs.show(result, format_scan(result.to_dict()))
    conclude(session, result, "chunk(s)")
