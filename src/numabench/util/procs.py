"""Processes: whether one is still running (for cleaning up what a killed run left behind)."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True when process `pid` exists on this machine (another user's counts: EPERM means alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
