"""Writing output files atomically: readers (a CI job, node_exporter's textfile collector, a
browser) see the old file or the new one, never half of one.

Every output numabench writes goes through `write_atomic`: a result, a CSV, JUnit, HTML, a
Prometheus textfile, a baseline. It never leaves a partial or temporary file behind, never
replaces something that is not a regular file (a device or FIFO is written in place, a directory
is refused), and turns every OS error into one line naming the path and the errno's meaning.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile

from numabench.errors import NumabenchError, ResultError
from numabench.util.procs import pid_alive

# Temporary files are `.numabench-<pid>-<random>.tmp` beside the target: the pid lets a later
# writer remove what a killed one left (SIGKILL between write and rename).
_TMP_PREFIX = ".numabench-"
_TMP_SUFFIX = ".tmp"


def write_atomic(path: str, text: str, *, fix: str = "choose a writable path",
                 error_type: type[NumabenchError] = ResultError, fsync: bool = False, mode: int = 0o644,
                 exclusive: bool = False) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`.

    The file is made `mode` (world-readable by default: collectors often run as another user);
    `fsync` flushes it to disk first. An existing character device or FIFO (`-o /dev/stdout`) is
    written in place instead; a directory is refused. Raises `error_type` with one line naming
    the path and the problem (ENOSPC, EROFS, EACCES, ...); nothing is left behind on any failure.
    ``exclusive``: never replace a file that appeared meanwhile (two runs racing for one ``-o``
    without ``--force``: the second refuses); the temporary file is hard-linked into place.
    """
    try:
        existing = os.stat(path)
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise error_type(f"cannot write {path}: {_reason(exc)}", fix) from None
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        raise error_type(f"cannot write {path}: it is a directory", "give a file name inside it")
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        _write_in_place(path, text, fix, error_type)
        return
    directory = os.path.dirname(os.path.abspath(path))
    remove_stale_temporaries(directory)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", suffix=_TMP_SUFFIX, dir=directory)
    except OSError as exc:
        raise error_type(f"cannot write into {directory}: {_reason(exc)}", fix) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if not (exclusive and _link_exclusive(tmp, path, error_type)):
            os.replace(tmp, path)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise error_type(f"cannot write {path}: {_reason(exc)}", fix) from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _link_exclusive(tmp: str, path: str, error_type: type[NumabenchError]) -> bool:
    """Hard-link ``tmp`` to ``path`` unless ``path`` exists; True when done (``tmp`` removed), False
    where the file system has no hard links (the caller renames). Raises error_type on EEXIST."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        _unlink_quietly(tmp)
        raise error_type(f"{path} already exists (another run wrote it meanwhile)",
                         "choose another -o file or pass --force to overwrite it") from None
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            return False
        raise
    _unlink_quietly(tmp)
    return True


def _write_in_place(path: str, text: str, fix: str, error_type: type[NumabenchError]) -> None:
    # A device, FIFO or socket is never replaced by a regular file (as root, `-o /dev/null`
    # would otherwise turn the device into a file).
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise error_type(f"cannot write {path}: {_reason(exc)}", fix) from None


def remove_stale_temporaries(directory: str) -> list[str]:
    """Remove `.numabench-<pid>-*.tmp` files in `directory` whose writer is no longer running.

    Returns the names removed. Files of live writers, and anything not named so, are left alone."""
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(_TMP_PREFIX) and name.endswith(_TMP_SUFFIX)):
            continue
        pid_text = name[len(_TMP_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        if _unlink_quietly(os.path.join(directory, name)):
            removed.append(name)
    return removed


def _unlink_quietly(path: str) -> bool:
    with contextlib.suppress(OSError):
        os.unlink(path)
        return True
    return False


def _reason(exc: OSError) -> str:
    """The errno's meaning in words (`No space left on device`), never a traceback."""
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__

