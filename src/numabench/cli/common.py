"""What every command shares: one-line errors with distinct exit codes, progress on stderr."""

from __future__ import annotations

import functools
import os
import sys

import click

from numabench.errors import NumabenchError

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
