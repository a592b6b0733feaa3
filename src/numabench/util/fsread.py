"""Reading small sysfs/procfs files: the one helper every reader module shares."""

from __future__ import annotations


def read_text(path: str) -> str | None:
    """The file's text, or None when it is missing or unreadable (kernel files
    come and go with the kernel's configuration; a reader decides what that means)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None
