"""numabench qualify: measure what a spec's checks need and give a verdict per check.

Exit codes: 0 every check passed (or was skipped with its reason); 1 some check failed;
2 bad spec, bad input or a missing resource (one line on stderr, nothing measured);
130 interrupted (what was measured is still evaluated and written).
"""

from __future__ import annotations

import os
import sys
import time

import click

from numabench.host.cgroups import read_process_cpuset
from numabench.cli.common import EXIT_INTERRUPTED, fail, one_line_errors, progress
from numabench.host.environment import collect_environment
from numabench.errors import NumabenchError, UsageError
from numabench.measure.spec import RunOptions, plan_run
from numabench.render.junit import write_junit
from numabench.measure.loaded import measure_loaded, plan_loaded
from numabench.measure.matrix import build_matrix, plan_matrix
from numabench.host.numastat import delta, read_numastat
from numabench.analysis.qualify import (
    FAIL,
    QualifySpec,
    evaluate,
    format_verdicts,
    junit_cases,
    load_spec,
    needs,
    qualification_section,
)
from numabench.results.schema import build_result, dumps, load, save
from numabench.measure.runner import Runner, RunOutcome
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
    return plans


def _numastat(notes: list[str]):
    try:
        return read_numastat()
    except NumabenchError as exc:
        notes.append(f"numastat not read: {exc}")
        return None


def _measure(spec: QualifySpec) -> dict:
    topology = read_topology()
    cpuset = read_process_cpuset()
    plans = _plan(spec, topology, cpuset)
    notes = list(plans["notes"])
    runner = Runner(progress=progress)
    outcome = RunOutcome()
    extra: dict = {}
    started = time.time()
    before = _numastat(notes)

    def absorb(part: RunOutcome) -> None:
        outcome.measurements.extend(part.measurements)
        outcome.errors.extend(part.errors)
        outcome.interrupted = outcome.interrupted or part.interrupted

    if "matrix" in plans:
        part = runner.run(plans["matrix"].specs)
        absorb(part)
        extra["matrix"] = build_matrix(topology, plans["matrix"], part.measurements, part.errors)
    if "sweep" in plans and not outcome.interrupted:
        part = runner.run(plans["sweep"])
        absorb(part)
        first = plans["sweep"][0]
        extra["latency_sweep"] = {
            "cpu_node": first.cpu_node, "mem_node": first.mem_node, "pages": first.pages,
            "points": [{"size_bytes": x["size_bytes"], "latency_ns": x["latency_ns"]} for x in part.measurements],
        }
    if "loaded_skipped" in plans:
        extra["loaded_latency"] = {"skipped": plans["loaded_skipped"], "points": []}
    if "loaded" in plans and not outcome.interrupted:
        ls = plans["loaded"]
        points = []
        try:
            points = measure_loaded(ls, progress)
        except KeyboardInterrupt:
            outcome.interrupted = True
        except NumabenchError as exc:
            outcome.errors.append({"cpu_node": ls.chase_node, "mem_node": ls.mem_node, "mem_nodes": [ls.mem_node],
                                   "pages": ls.pages, "size_bytes": ls.size_bytes, "kernel": "loaded_latency",
                                   "error": str(exc), "type": type(exc).__name__})
            progress(f"loaded latency: {exc}")
        outcome.measurements.extend(points)
        extra["loaded_latency"] = {
            "cpu_node": ls.chase_node, "mem_node": ls.mem_node, "inject_node": ls.inject_node, "kind": ls.kind,
            "injectors": len(ls.inject_cpus), "pages": ls.pages,
            "points": [{"delay": p["delay"], "latency_ns": p["latency_ns"],
                        "inject_bandwidth_bytes_per_s": p["inject_bandwidth_bytes_per_s"]} for p in points],
        }
    after = _numastat(notes) if before is not None else None
    result = build_result(environment=collect_environment(), topology=topology.to_dict(), command=sys.argv,
                          options=spec.to_dict()["measure"], notes=notes, outcome=outcome, started=started,
                          finished=time.time())
    result.update(extra)
    if before is not None and after is not None:
        # JSON object keys are strings.
        result["numastat_delta"] = {str(k): v for k, v in delta(before, after).items()}
    return result


@click.command("qualify")
@click.argument("spec_path", metavar="SPEC.yaml")
@click.option("-o", "--output", metavar="FILE", help="Write the JSON result (measurements plus 'qualification').")
@click.option("--junit", "junit_path", metavar="FILE", help="Write JUnit XML, one test case per check.")
@click.option("--html", "html_path", metavar="FILE", help="Write a self-contained HTML report with plots.")
@click.option("--prometheus", "prometheus_path", metavar="FILE.prom",
              help="Write a node_exporter textfile-collector file (replaced atomically on every run).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON result instead of the verdict table.")
@click.option("--from", "from_path", metavar="RESULT.json",
              help="Evaluate the spec against an existing qualify/matrix result instead of measuring.")
@click.option("--force", is_flag=True, help="Overwrite existing -o/--junit/--html files.")
@one_line_errors
def qualify(spec_path, output, junit_path, html_path, prometheus_path, as_json, from_path, force) -> None:
    """Check this machine against a YAML spec of expectations; exit 1 when a check fails."""
    spec = load_spec(spec_path)
    for path in (output, junit_path, html_path):
        if path and os.path.exists(path) and not force:
            raise UsageError(f"{path} already exists", "choose another file or pass --force")
    if prometheus_path:
        from numabench.render.prometheus import check_textfile_path

        check_textfile_path(prometheus_path)
    if from_path:
        result = load(from_path)
        result.setdefault("notes", []).append(
            f"qualification evaluated from {from_path} without measuring; the spec's measure settings were not used")
    else:
        result = _measure(spec)
    verdicts = evaluate(spec, result)
    result["qualification"] = qualification_section(spec, verdicts, evaluated_from=from_path)

    if output:
        save(result, output, force=True)
        progress(f"wrote {output}")
    if junit_path:
        write_junit(junit_path, f"numabench qualify {spec.name}", junit_cases(verdicts))
        progress(f"wrote {junit_path}")
    if html_path:
        from numabench.render.html import render_html, write_html

        write_html(html_path, render_html(result))
        progress(f"wrote {html_path}")
    if prometheus_path:
        from numabench.render.prometheus import write_result

        write_result(prometheus_path, result)
        progress(f"wrote {prometheus_path}")
    click.echo(dumps(result) if as_json else format_verdicts(verdicts, f"qualification: {spec.name}"), nl=not as_json)
    if result.get("interrupted"):
        fail("interrupted; the measurements so far were evaluated and written", EXIT_INTERRUPTED)
    failed = [v.check for v in verdicts if v.status == FAIL]
    if failed:
        click.echo(f"numabench: qualification failed: {', '.join(failed)}", err=True)
        sys.exit(EXIT_CHECKS_FAILED)
