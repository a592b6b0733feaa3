"""Reading small sysfs/procfs files: the one helper every reader module shares."""

from __future__ import annotations

from numabench.errors import NumabenchError
from numabench.util.docload import read_bytes

MAX_KERNEL_FILE_BYTES = 16 << 20  # far above any sysfs/procfs attribute; a captured tree can hold anything


def read_text(path: str) -> str | None:
    """The file's text, or None when it is missing or unreadable (kernel files
    come and go with the kernel's configuration; a reader decides what that means). A FIFO,
    device or directory where a file should be (in a captured tree) is unreadable too, never a hang."""
    try:
        return read_bytes(path, max_bytes=MAX_KERNEL_FILE_BYTES).decode("utf-8", errors="replace")
    except NumabenchError:
        return None
