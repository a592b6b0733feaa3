"""numabench compare: the CI regression gate between two result files (or a stored baseline)."""

from __future__ import annotations

import sys

import click

from numabench.analysis.compare import DEFAULT_ALPHA, DEFAULT_THRESHOLDS, compare_results, exit_code, resolve_thresholds
from numabench.cli.common import one_line_errors, progress
from numabench.errors import NumabenchError, UsageError
from numabench.render.gate import JUNIT_SUITE, format_markdown, format_text, junit_cases, to_json
from numabench.render.junit import junit_xml
from numabench.results import schema as results
from numabench.results.baseline import describe_identity, find_baseline, fingerprint, machine_identity
from numabench.util.atomicfile import write_atomic

EXIT_REGRESSION = 1


def _write(path: str, text: str) -> None:
    """Write a report atomically; reports are replaced, as CI reruns do."""
    write_atomic(path, text, fix="choose a writable path", error_type=NumabenchError)


@click.command("compare")
@click.argument("files", nargs=-1, metavar="[BASELINE.json] CURRENT.json")
@click.option("--baseline-dir", metavar="DIR",
              help="Take the baseline from DIR (numabench baseline save): the one of CURRENT's machine.")
@click.option("--fail-on", "fail_on", multiple=True, metavar="WHAT:CHANGE%",
              help=f"Regression threshold, repeatable: latency:+5%, bandwidth:-5%, or per kernel read:-3%. "
                   f"Defaults: {', '.join(DEFAULT_THRESHOLDS)}; each replaces the one for its metric or kernel.")
@click.option("--alpha", type=float, default=DEFAULT_ALPHA, show_default=True,
              help="Significance level of the Mann-Whitney U test: a regression needs p < alpha.")
@click.option("--allow-different-machine", is_flag=True,
              help="Compare results of different machines (CPU model, kernel, nodes, THP) or page kinds/sizes.")
@click.option("--markdown", "markdown_path", metavar="FILE", help="Write a Markdown report (a PR comment).")
@click.option("--junit", "junit_path", metavar="FILE", help="Write JUnit XML: one test case per cell and metric.")
@click.option("--json", "json_path", metavar="FILE", help="Write the comparison as JSON.")
@one_line_errors
def compare(files, baseline_dir, fail_on, alpha, allow_different_machine, markdown_path, junit_path,
            json_path) -> None:
    """Compare CURRENT with BASELINE cell by cell; exit 1 on a significant regression past a threshold.

    Exit codes: 0 no regression, 1 regression, 2 bad input (files, thresholds, different machines).
    """
    thresholds = resolve_thresholds(fail_on)
    if not 0 < alpha < 1:
        raise UsageError(f"--alpha {alpha} is not between 0 and 1", "use e.g. --alpha 0.05")
    if baseline_dir is not None:
        if len(files) != 1:
            raise UsageError(f"with --baseline-dir give only CURRENT.json (got {len(files)} files)",
                             "drop BASELINE.json or --baseline-dir")
        current_path = files[0]
        current = results.load(current_path).to_dict()
        identity = machine_identity(current)
        fp = fingerprint(identity)
        stored = find_baseline(baseline_dir, fp, identity)
        progress(f"baseline: {stored.path} (fingerprint {fp}, the machine of {current_path}: "
                 f"{describe_identity(identity)})")
        baseline_path = stored.path
        baseline = results.load(baseline_path).to_dict()
    else:
        if len(files) != 2:
            raise UsageError(f"compare needs BASELINE.json and CURRENT.json (got {len(files)} file(s))",
                             "give both files, or CURRENT.json with --baseline-dir DIR")
        baseline_path, current_path = files
        baseline = results.load(baseline_path).to_dict()
        current = results.load(current_path).to_dict()
    comparison = compare_results(baseline, current, baseline_name=baseline_path, current_name=current_path,
                                 thresholds=thresholds, alpha=alpha,
                                 allow_different_machine=allow_different_machine)
    if markdown_path:
        _write(markdown_path, format_markdown(comparison))
    if junit_path:
        _write(junit_path, junit_xml(JUNIT_SUITE, junit_cases(comparison)))
    if json_path:
        _write(json_path, to_json(comparison))
    click.echo(format_text(comparison))
    if exit_code(comparison) == EXIT_REGRESSION:
        sys.exit(EXIT_REGRESSION)
