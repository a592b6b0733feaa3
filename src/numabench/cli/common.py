"""What every command shares: one-line errors with distinct exit codes, progress on stderr."""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from numabench.errors import NumabenchError, UsageError

if TYPE_CHECKING:
    from numabench.measure.session import Session
    from numabench.results.schema import Measurement, Result

# Exit codes: 0 ok; 2 bad input or missing resource; 3 measured, but some
# configuration failed or its pages were not where asked; 130 interrupted by SIGINT,
# 143 by SIGTERM (128 + the signal, as a shell reports it).
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_INTERRUPTED = 130

SYSFS_ENV = "NUMABENCH_SYSFS_ROOT"


def fail(message: str, code: int = EXIT_USAGE) -> None:
    # One line whatever the message quotes from a file: line breaks and control characters escaped.
    # Quoted content can be huge (a 500 KB line of a damaged file): its start and the fix at the end stay.
    message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
    if len(message) > 2000:
        message = f"{message[:1500]} [... {len(message) - 1800} characters ...] {message[-300:]}"
    click.echo(f"numabench: error: {message}", err=True)
    sys.exit(code)


def one_line_errors(func):
    """Turn numabench's errors into one line on stderr and a non-zero exit, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except NumabenchError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)

    return wrapper


def progress(message: str) -> None:
    click.echo(message, err=True)


def sysfs_root_option(func):
    return click.option(
        "--sysfs-root",
        envvar=SYSFS_ENV,
        default=None,
        metavar="DIR",
        help=f"Read a captured tree (from --capture, or a copy of /sys) instead of the live /sys. Env: {SYSFS_ENV}.",
    )(func)


def resolve_roots(sysfs_root: str | None) -> tuple[str, str, bool]:
    """(sysfs root, procfs root, is_captured). A capture has sys/ and proc/ side by side."""
    if not sysfs_root:
        return "/sys", "/proc", False
    if not os.path.isdir(sysfs_root):
        raise NumabenchError(f"--sysfs-root {sysfs_root} is not a directory", "give the folder of a captured tree")
    if os.path.isdir(os.path.join(sysfs_root, "sys")):
        return os.path.join(sysfs_root, "sys"), os.path.join(sysfs_root, "proc"), True
    return sysfs_root, os.path.join(os.path.dirname(os.path.abspath(sysfs_root)), "proc"), True


def refuse_existing(paths, force: bool) -> None:
    """Never overwrite a result file unless --force, and never write two outputs to one path:
    checked before anything is measured."""
    for path in paths:
        if path is not None and not path.strip():
            raise UsageError("an output file name is empty", "give a file name, or leave the option out")
    given = [p for p in paths if p]
    seen: dict[str, str] = {}
    for path in given:
        key = os.path.realpath(path)
        if key in seen:
            raise UsageError(f"{path} is named for two outputs", "give each output its own file")
        seen[key] = path
        if not force and os.path.isfile(path):
            raise UsageError(f"{path} already exists", "choose another file or pass --force")
        if os.path.isdir(path):
            raise UsageError(f"{path} is a directory", "give a file name inside it")


@dataclass
class Outputs:
    """The files a measuring command writes, checked before measuring and written before any verdict."""

    output: str | None = None
    csv_path: str | None = None
    prometheus_path: str | None = None
    as_json: bool = False
    force: bool = False

    def check(self, *others: str | None) -> None:
        """Refuse, before anything is measured, outputs that would overwrite or clash (`others`:
        the command's own extra output files)."""
        refuse_existing((self.output, self.csv_path, self.prometheus_path, *others), self.force)
        if self.prometheus_path:
            from numabench.render.prometheus import check_textfile_path

            check_textfile_path(self.prometheus_path)

    def write(self, result: Result) -> None:
        """Write the result files asked for: nothing measured is lost to a later verdict."""
        from numabench.render.prometheus import write_result
        from numabench.results.schema import save, save_csv

        doc = result.to_dict()
        if self.output:
            # not forced: a file another run wrote since check() is refused, never silently replaced
            save(doc, self.output, force=self.force)
            progress(f"wrote {self.output}")
        if self.csv_path:
            save_csv(result, self.csv_path)
            progress(f"wrote {self.csv_path}")
        if self.prometheus_path:
            write_result(self.prometheus_path, doc)
            progress(f"wrote {self.prometheus_path}")

    def show(self, result: Result, text: str) -> None:
        """The JSON document (--json) or the command's text on stdout."""
        from numabench.results.schema import dumps

        click.echo(dumps(result) if self.as_json else text, nl=not self.as_json)


ISA_CHOICES = ("auto", "avx512", "avx2", "sse2", "scalar")


def _supported_isa(ctx: click.Context, param: click.Parameter, isa: str) -> str:
    from numabench.native._native import isa_best, isa_supported

    if not isa_supported(isa):
        raise UsageError(f"this CPU does not support the {isa} bandwidth kernels", f"use --isa {isa_best()} or auto")
    return isa


def isa_option(what: str = "the bandwidth kernels"):
    """--isa, the same for every command that runs bandwidth kernels; refuses an ISA this CPU lacks."""
    return click.option(
        "--isa", default="auto", type=click.Choice(ISA_CHOICES), show_default=True, callback=_supported_isa,
        help=f"Vector ISA of {what}: auto probes each supported kernel set (avx512, avx2, sse2) on the "
             "measurement's own buffer and threads, and keeps the fastest (recorded as isa_probe); "
             "scalar is the plain C reference.")


def output_options(*, csv: bool = True, prometheus: bool = True):
    """-o/--csv/--json/--prometheus/--force, the same for every measuring command."""

    def decorate(func):
        options = [
            click.option("-o", "--output", metavar="FILE", help="Write the JSON result to FILE."),
            click.option("--json", "as_json", is_flag=True, help="Print the JSON result on stdout instead of text."),
            click.option("--force", is_flag=True, help="Overwrite existing output files."),
        ]
        if csv:
            options.append(click.option("--csv", "csv_path", metavar="FILE",
                                        help="Also write one CSV row per measurement."))
        if prometheus:
            options.append(click.option(
                "--prometheus", "prometheus_path", metavar="FILE.prom",
                help="Also write the results for node_exporter's textfile collector (replaced on every run)."))
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def conclude(session: Session, result: Result, what: str = "configuration(s)") -> None:
    """The exit status every measuring command shares, after its outputs are written.

    130/143 interrupted by SIGINT/SIGTERM (what was measured is kept and written); 3 some
    configuration failed or its pages were not where asked; 2 nothing could be measured."""
    if session.interrupted:
        fail(f"interrupted by {session.interrupted_by}; the measurements so far were kept",
             session.exit_code_if_interrupted)
    misplaced = [m for m in result.measurements if m.placement_ok is False or _inject_misplaced(m)]
    problems = [e["error"] for e in result.errors]
    if misplaced:
        problems.append(f"{len(misplaced)} measurement(s) ran on pages not where asked")
    if problems:
        fail(problems[0] if not result.measurements else "; ".join(problems),
             EXIT_USAGE if not result.measurements else EXIT_PARTIAL)


def _inject_misplaced(m: Measurement) -> bool:
    inject = m.details.get("inject_placement")
    return isinstance(inject, dict) and not inject.get("ok")
