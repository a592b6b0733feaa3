"""One exception tree. Every message names the problem and, where there is one, the fix."""

from __future__ import annotations


class NumabenchError(Exception):
    """Base of every error numabench reports to a user as one line."""

    exit_code = 2

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        if self.fix:
            return f"{self.message}: {self.fix}"
        return self.message


class UsageError(NumabenchError):
    """Bad input from the user (unknown kernel, malformed size, ...)."""


class TopologyError(NumabenchError):
    """The machine's topology cannot be read, or a node/CPU does not exist."""


class CpusetError(NumabenchError):
    """A node or CPU exists but this process's cgroup cpuset forbids it."""


class HugepageError(NumabenchError):
    """Hugepages of the asked size are missing on the asked node."""


class InsufficientMemoryError(NumabenchError):
    """The buffer does not fit in the node's free memory."""


class PlacementError(NumabenchError):
    """Pages did not land where they were asked to."""


class CgroupError(NumabenchError):
    """A cgroup could not be found, made, written, joined or removed; the message names the path."""


class ResultError(NumabenchError):
    """A result file is malformed, of an unknown schema version, or would be overwritten."""


class NativeError(NumabenchError, OSError):
    """A system call in the native core failed. `syscall` names it; `errno` is the OS error."""

    def __init__(self, syscall: str, err: int, message: str, fix: str | None = None):
        NumabenchError.__init__(self, message, fix)
        self.errno = err
        self.syscall = syscall
        self.strerror = message


class BaselineError(NumabenchError):
    """No baseline for a machine, or the baseline directory cannot be used."""


class IncomparableError(NumabenchError):
    """Two results come from different machines, or measured the same cell differently."""


class ThresholdError(UsageError):
    """A --fail-on threshold is malformed or points the wrong way."""


class SpecError(UsageError):
    """The qualification spec is malformed: the message names the key, the fix says what to write."""
