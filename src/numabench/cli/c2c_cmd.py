"""numabench c2c: cache-to-cache transfer latency between CPU pairs (Intel MLC's --c2c_latency).

Exit codes as every measuring command: 0 ok; 2 bad input (a CPU outside the cpuset, one CPU, a
node without CPUs, a --line-node that does not exist); 3 some pair failed or its line was not on
the asked node; 130/143 interrupted (the pairs measured so far are kept and written).
"""

from __future__ import annotations

import click

from numabench.cli.common import Outputs, conclude, one_line_errors, output_options, progress
from numabench.constants import C2C_MODES
from numabench.host.cgroups import read_process_cpuset
from numabench.host.cpus import read_cpu_places
from numabench.host.topology import read_topology
from numabench.measure.c2c import DEFAULT_C2C_SAMPLES, parse_pairs, plan_c2c, run_c2c
from numabench.measure.session import Session
from numabench.render.c2c import format_c2c, render_c2c_html, write_csv, write_html
from numabench.util.units import parse_int_list


@click.command()
@click.option("--cpus", "cpus_text", metavar="LIST", help="CPUs of the matrix, e.g. 0-7. Default: every allowed CPU.")
@click.option("--nodes", "nodes_text", metavar="LIST", help="Take the allowed CPUs of these NUMA nodes.")
@click.option("--pairs", "pairs_text", metavar="A:B,...",
              help="Only these ordered pairs (A initiator, reading from B's cache), e.g. 0:1,0:8.")
@click.option("--mode", type=click.Choice(C2C_MODES), default="hitm", show_default=True,
              help="hitm: a modified line ping-ponged (MLC's HitM); clean: a clean line read from the other cache.")
@click.option("--line-node", type=int, help="Put the line on this NUMA node. Default: the initiator's node.")
@click.option("--samples", type=int, default=DEFAULT_C2C_SAMPLES, show_default=True, help="Samples per pair.")
@click.option("--html", "html_path", metavar="FILE", help="Also write a self-contained HTML page with the heatmap.")
@output_options(csv=False)
@click.option("--csv", "csv_path", metavar="FILE", help="Also write one CSV row per pair.")
@one_line_errors
def c2c(cpus_text, nodes_text, pairs_text, mode, line_node, samples, html_path, output, as_json, force,
        prometheus_path, csv_path) -> None:
    """Cache-to-cache latency (MLC --c2c_latency): CPU x CPU matrix, grouped by SMT/L3/node."""
    outputs = Outputs(output, None, prometheus_path, as_json, force)
    outputs.check(csv_path, html_path)
    if html_path:
        from numabench.render.html import plots

        plots()  # a missing matplotlib is refused before measuring
    topology, cpuset = read_topology(), read_process_cpuset()
    plan = plan_c2c(topology, cpuset, read_cpu_places,
                    cpus=None if cpus_text is None else parse_int_list(cpus_text, "--cpus"),
                    nodes=None if nodes_text is None else parse_int_list(nodes_text, "--nodes"),
                    pairs=None if pairs_text is None else parse_pairs(pairs_text),
                    mode=mode, line_node=line_node, samples=samples)
    with Session(topology=topology, options=plan.to_dict(), progress=progress) as session:
        session.sample_noise(plan.cpus)
        run_c2c(session, plan, topology, cpuset, progress)
    result = session.result()
    doc = result.to_dict()
    outputs.write(result)
    if csv_path:
        write_csv(csv_path, doc)
        progress(f"wrote {csv_path}")
    if html_path:
        write_html(html_path, render_c2c_html(doc))
        progress(f"wrote {html_path}")
    outputs.show(result, format_c2c(doc))
    conclude(session, result, "pair(s)")
