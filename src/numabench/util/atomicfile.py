"""Writing output files atomically: readers (a CI job, node_exporter's textfile collector, a
browser) see the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile

from numabench.errors import NumabenchError, ResultError


def write_atomic(path: str, text: str, *, fix: str = "choose a writable path",
                 error_type: type[NumabenchError] = ResultError, fsync: bool = False, mode: int = 0o644) -> None:
    """Write `text` to a temporary file beside `path` (named `.numabench-*.tmp`, so no reader's
    pattern matches it), then rename it over `path`.

    The file is made `mode` (world-readable by default: collectors often run as another user);
    `fsync` flushes it to disk first. Raises `error_type` naming the directory when it cannot
    be written; nothing is left behind on any failure.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".numabench-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise error_type(f"cannot write into {directory}: {exc.strerror}", fix) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
