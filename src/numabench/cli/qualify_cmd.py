"""numabench qualify: measure what a spec's checks need and give a verdict per check.

Exit codes: 0 every check passed (or was skipped with its reason); 1 some check failed;
2 bad spec, bad input or a missing resource (one line on stderr, nothing measured);
130/143 interrupted by SIGINT/SIGTERM (what was measured is still evaluated and written, and
the verdict is never a pass).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from numabench.analysis.qualify import (
    FAIL,
    QualifySpec,
    evaluate,
    load_spec,
    measures_extra,
    needs,
    needs_c2c,
    needs_scan,
    qualification_section,
)
from numabench.cli.common import EXIT_INTERRUPTED, Outputs, conclude, fail, one_line_errors, output_options, progress
from numabench.errors import UsageError
from numabench.host.cgroups import read_process_cpuset
from numabench.measure.matrix import build_matrix, plan_matrix
from numabench.measure.spec import RunOptions, plan_loaded, plan_run
from numabench.render.junit import write_junit
from numabench.render.qualify import format_verdicts, junit_cases
from numabench.results.schema import Result, load

if TYPE_CHECKING:
    from numabench.measure.runner import Runner
    from numabench.measure.session import Session
from numabench.host.topology import read_topology

EXIT_CHECKS_FAILED = 1


def _plan(spec: QualifySpec, topology, cpuset) -> dict:
    """Every plan, checked before any memory is touched (refusals exit 2 with their fix)."""
    m = spec.measure
    plans: dict = {"notes": []}
    kernels = needs(spec)
    if kernels:
        plans["matrix"] = plan_matrix(topology, cpuset, kernels=kernels, pages=m.pages, size_bytes=m.size_bytes,
                                      threads=m.threads, repeat=m.repeat)
        if not plans["matrix"].specs:
            raise UsageError("no cell of the matrix can be measured here: "
                             + "; ".join(plans["matrix"].skipped.values()),
                             "check the cpuset and hugepage reservations, or measure.pages in the spec")
    _plan_peak_and_sweep(spec, topology, cpuset, plans)
    if m.latency_sweep.enabled:
        sweep = plan_run(topology, cpuset, RunOptions(pages=[m.pages], sweep_sizes=list(m.latency_sweep.sizes_bytes),
                                                      kernels=["latency"], repeat=m.repeat))
        plans["sweep"] = sweep.specs
        plans["notes"] += sweep.notes
    if m.loaded_latency.enabled:
        ll = m.loaded_latency
        # The node plan_run picks by default, with every allowed CPU of it (a bandwidth kernel asks for all).
        probe = plan_run(topology, cpuset, RunOptions(pages=[m.pages], size_bytes=ll.size_bytes, kernels=["read"],
                                                      repeat=m.repeat)).specs[0]
        if probe.threads < 2:
            plans["loaded_skipped"] = (f"skipped: CPU node {probe.cpu_node} has {probe.threads} allowed CPU; loaded "
                                       "latency needs 2+ (one chase thread and at least one injector)")
            plans["notes"].append(f"loaded latency {plans['loaded_skipped']}")
        else:
            plans["loaded"] = plan_loaded(topology, cpuset, cpu_node=probe.cpu_node, mem_node=probe.mem_nodes[0],
                                          inject_node=None, injectors=None, pages=m.pages, size_bytes=ll.size_bytes,
                                          inject_size_bytes=ll.inject_size_bytes, kind=ll.kind, delays=ll.delays,
                                          repeat=m.repeat)
    if needs_c2c(spec):
        _plan_c2c(plans, spec, topology, cpuset)
    if needs_scan(spec):
        plans["scans"] = _plan_scans(spec, topology, cpuset)
    return plans


def _plan_peak_and_sweep(spec: QualifySpec, topology, cpuset, plans: dict) -> None:
    """Peak (every usable node, the mixes the check names) and the read thread sweep (every usable
    node), when the spec's checks need them."""
    from numabench.constants import PEAK_MIXES
    from numabench.measure.peak import peak_nodes, plan_peak

    m, extra = spec.measure, measures_extra(spec)
    if "peak" in extra:
        bound = spec.checks["peak_bandwidth_gbps_min"]
        mixes = list(bound) if isinstance(bound, dict) else list(PEAK_MIXES)
        plans["peak"] = plan_peak(topology, cpuset, all_nodes=True, mixes=mixes, pages=m.pages,
                                  size_bytes=m.size_bytes, threads=m.threads, repeat=m.repeat).specs
    if "thread_sweep" in extra:
        plans["thread_sweep"] = [s for node in peak_nodes(topology, cpuset, None, True) for s in plan_run(
            topology, cpuset, RunOptions(cpu_nodes=[node], pages=[m.pages], size_bytes=m.size_bytes, kernels=["read"],
                                         repeat=m.repeat, threads_sweep=True)).specs]


def _plan_c2c(plans: dict, spec: QualifySpec, topology, cpuset) -> None:
    """c2c between the first allowed CPU of every two CPU nodes (needs the compiled extension)."""
    from numabench.host.cpus import read_cpu_places
    from numabench.measure.c2c import node_pairs, plan_c2c

    pairs = node_pairs(topology, cpuset)
    if pairs:
        plans["c2c"] = plan_c2c(topology, cpuset, read_cpu_places, pairs=pairs, samples=spec.measure.repeat)
    else:
        plans["notes"].append("c2c not measured: fewer than two NUMA nodes with allowed CPUs")


def _plan_scans(spec: QualifySpec, topology, cpuset) -> list:
    """One scan plan per node of measure.scan.nodes (default: every memory node this process may use)."""
    from numabench.measure.scan_plan import plan_scan

    s, m = spec.measure.scan, spec.measure
    nodes = s.nodes if s.nodes is not None else [n for n in topology.memory_nodes if n in cpuset.mems_allowed]
    pages = m.pages if m.pages != "thp" else "4k"
    from numabench.host.memlimit import memory_headroom_bytes

    return [plan_scan(topology, cpuset, node=n, chunk_bytes=s.chunk_bytes, margin=s.margin, max_chunks=s.max_chunks,
                      pages=pages, threads=m.threads, repeat=m.repeat, memory_headroom_bytes=memory_headroom_bytes())
            for n in nodes]


def _measure_scans(session: Session, plans: list) -> None:
    """Scan each node in turn (each node's chunks are freed before the next node's scan)."""
    from numabench.measure.scan import Scanner, live_free_reader

    for plan in plans:
        if session.interrupted:
            return
        scanner = Scanner(plan, free_reader=live_free_reader(plan), progress=progress)
        try:
            session.sections.setdefault("scans", []).append(scanner.run(session))
        finally:
            scanner.close()


def _measure(spec: QualifySpec) -> tuple[Session, Result]:
    # The native core only when measuring: `qualify --from` works without the compiled extension.
    from numabench.measure.runner import Runner
    from numabench.measure.session import Session

    topology = read_topology()
    cpuset = read_process_cpuset()
    plans = _plan(spec, topology, cpuset)
    runner = Runner(progress=progress)
    with Session(topology=topology, options=spec.to_dict()["measure"], notes=plans["notes"],
                 progress=progress) as session:
        cpus = {c for key in ("matrix",) if key in plans for s in plans[key].specs for c in s.cpus}
        session.sample_noise(sorted(cpus) or sorted({c for key in ("sweep", "peak", "thread_sweep")
                                                     for s in plans.get(key, []) for c in s.cpus}))
        if "matrix" in plans:
            got = runner.run(session, plans["matrix"].specs)
            session.sections["matrix"] = build_matrix(topology, plans["matrix"], [m.to_dict() for m in got],
                                                      session.errors)
        for key in ("peak", "thread_sweep"):
            if key in plans:
                runner.run(session, plans[key])
        if "sweep" in plans:
            _measure_sweep(session, runner, plans["sweep"])
        if "loaded_skipped" in plans:
            session.sections["loaded_latency"] = {"skipped": plans["loaded_skipped"], "points": []}
        if "loaded" in plans:
            _measure_loaded(session, plans["loaded"])
        if "c2c" in plans:
            from numabench.measure.c2c import run_c2c

            run_c2c(session, plans["c2c"], topology, cpuset, progress)
        if "scans" in plans:
            _measure_scans(session, plans["scans"])
    return session, session.result()


def _measure_sweep(session: Session, runner: Runner, specs) -> None:
    got = runner.run(session, specs)
    if session.interrupted and not got:
        return
    first = specs[0]
    session.sections["latency_sweep"] = {
        "cpu_node": first.cpu_node, "mem_node": first.mem_node, "pages": first.pages,
        "points": [{"size_bytes": m.size_bytes, "latency_ns": m.latency_ns} for m in got],
    }


def _measure_loaded(session: Session, ls) -> None:
    from numabench.measure.loaded import failure_fields, measure_loaded

    points = session.measure("loaded latency", lambda: measure_loaded(ls, progress), failure=failure_fields(ls))
    if session.interrupted and not points:
        return
    session.sections["loaded_latency"] = {
        "cpu_node": ls.chase_node, "mem_node": ls.mem_node, "inject_node": ls.inject_node, "kind": ls.kind,
        "injectors": len(ls.inject_cpus), "pages": ls.pages,
        "points": [{"delay": p.details["delay"], "latency_ns": p.latency_ns,
                    "inject_bandwidth_bytes_per_s": p.details["inject_bandwidth_bytes_per_s"]} for p in points],
    }


@click.command("qualify")
@click.argument("spec_path", metavar="SPEC.yaml")
@output_options(csv=False)
@click.option("--junit", "junit_path", metavar="FILE", help="Write JUnit XML, one test case per check.")
@click.option("--html", "html_path", metavar="FILE", help="Write a self-contained HTML report with plots.")
@click.option("--from", "from_path", metavar="RESULT.json",
              help="Evaluate the spec against an existing qualify/matrix result instead of measuring.")
@one_line_errors
def qualify(spec_path, output, as_json, force, prometheus_path, junit_path, html_path, from_path) -> None:
    """Check this machine against a YAML spec of expectations; exit 1 when a check fails."""
    spec = load_spec(spec_path)
    outputs = Outputs(output, None, prometheus_path, as_json, force)
    outputs.check(junit_path, html_path)
    if html_path:
        from numabench.render.html import plots

        plots()  # a missing matplotlib is refused before measuring, naming numabench[report]
    session = None
    if from_path:
        result = load(from_path)
        result.notes.append(
            f"qualification evaluated from {from_path} without measuring; the spec's measure settings were not used")
    else:
        session, result = _measure(spec)
    verdicts = evaluate(spec, result.to_dict())
    result.sections["qualification"] = qualification_section(spec, verdicts, evaluated_from=from_path,
                                                             interrupted=result.interrupted)
    outputs.write(result)
    if junit_path:
        write_junit(junit_path, f"numabench qualify {spec.name}",
                    junit_cases(verdicts, interrupted=result.interrupted))
        progress(f"wrote {junit_path}")
    if html_path:
        from numabench.render.html import render_html, write_html

        write_html(html_path, render_html(result.to_dict()))
        progress(f"wrote {html_path}")
    outputs.show(result, format_verdicts(verdicts, f"qualification: {spec.name}", result.interrupted))
    if session is not None and session.interrupted:
        conclude(session, result)
    if result.interrupted:
        fail("the result evaluated was interrupted; a qualification needs a complete run", EXIT_INTERRUPTED)
    failed = [v.check for v in verdicts if v.status == FAIL]
    if failed:
        click.echo(f"numabench: qualification failed: {', '.join(failed)}", err=True)
        sys.exit(EXIT_CHECKS_FAILED)
