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
    """A call into the native core failed; psutil style, the exception names the call.

    ``status`` is the core's status code (csrc/nb_status.h: 1 a system call failed, 2 an invalid
    argument, 3 memory could not be had, 4 unsupported here, 5 denied), ``errno`` the OS error
    (0 when none) and ``syscall`` the failing system call, or the native function that refused.
    Each status has its subclass below; numabench.native._native holds the one status -> class map.
    """

    status = 1  # NB_ERR_SYSCALL

    def __init__(self, syscall: str, err: int, message: str, fix: str | None = None):
        NumabenchError.__init__(self, message, fix)
        self.errno = err
        self.syscall = syscall
        self.strerror = message


class NativeArgumentError(NativeError, ValueError):
    """An argument the native core cannot use: out of range, overflowing, a closed arena, a chain
    that is gone. Also a ValueError, as io.UnsupportedOperation is both an OSError and a ValueError."""

    status = 2  # NB_ERR_INVALID


class NativeMemoryError(NativeError):
    """Memory could not be had: an empty hugepage pool, a full node, mmap ENOMEM."""

    status = 3  # NB_ERR_NOMEM


class NativeUnsupportedError(NativeError):
    """This kernel or CPU lacks a needed feature (an ISA, a hugepage size, a system call)."""

    status = 4  # NB_ERR_UNSUPPORTED


class NativePermissionError(NativeError):
    """The kernel denied the call (EPERM/EACCES): the signature of a pod without CAP_SYS_NICE."""

    status = 5  # NB_ERR_DENIED
