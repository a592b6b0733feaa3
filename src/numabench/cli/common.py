"""What every command shares: one-line errors with distinct exit codes, progress on stderr."""

from __future__ import annotations

import functools
import os
import sys

import click

from numabench.errors import NumabenchError, UsageError

# Exit codes: 0 ok; 2 bad input or missing resource; 3 measured, but some
# configuration failed or its pages were not where asked; 130 interrupted.
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_INTERRUPTED = 130

SYSFS_ENV = "NUMABENCH_SYSFS_ROOT"


def fail(message: str, code: int = EXIT_USAGE) -> None:
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
    """Never overwrite a result file unless --force: checked before anything is measured."""
    for path in paths:
        if path and not force and os.path.exists(path):
            raise UsageError(f"{path} already exists", "choose another file or pass --force")


def write_outputs(result: dict, *, output: str | None = None, csv_path: str | None = None,
                  prometheus_path: str | None = None) -> None:
    """Write the result files asked for, before any verdict: nothing measured is lost."""
    from numabench.render.prometheus import write_result
    from numabench.results.schema import save, save_csv

    if output:
        save(result, output, force=True)
        progress(f"wrote {output}")
    if csv_path:
        save_csv(result, csv_path)
        progress(f"wrote {csv_path}")
    if prometheus_path:
        write_result(prometheus_path, result)
        progress(f"wrote {prometheus_path}")
