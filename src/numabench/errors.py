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
    """A cgroup could not be found, made, written, joined or removed, or this process's cpuset view
    (``/proc/<pid>/status``, ``/proc/<pid>/cgroup``) cannot be read; the message names the path."""


class ResultError(NumabenchError):
    """A result file is malformed, of an unknown schema version, or would be overwritten."""


class NativeError(NumabenchError, OSError):
    """A call into the native core failed; psutil style, the exception names the call.

    ``status`` is the core's status code (csrc/nb_status.h: 1 a system call failed, 2 an invalid
    argument, 3 memory could not be had, 4 unsupported here, 5 denied, 6 timed out), ``errno`` the OS error
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


class NativeTimeoutError(NativeError, TimeoutError):
    """A bounded wait in the core ran out: a partner thread never answered (descheduled, stopped).
    Also a TimeoutError."""

    status = 6  # NB_ERR_TIMEOUT


class BaselineError(NumabenchError):
    """No baseline for a machine, or the baseline directory cannot be used."""


class IncomparableError(NumabenchError):
    """Two results come from different machines, or measured the same cell differently."""


class ThresholdError(UsageError):
    """A --fail-on threshold is malformed or points the wrong way."""


class SpecError(UsageError):
    """The qualification spec is malformed: the message names the key, the fix says what to write."""


# --------------------------------------------------------------------------- Kubernetes (numabench.kube)
# Kept together so that kube's errors are part of the one tree; kube modules import them from here.


class QuantityError(UsageError):
    """A Kubernetes quantity (``500m``, ``1Gi``) cannot be parsed; the message names the field."""


class AdmissionRejected(NumabenchError):
    """The kubelet model rejects a pod. Caught inside ``kube.admission.plan``, which returns it as a
    ``PodPlan`` with ``admitted=False``; ``reason`` is the kubelet's (``TopologyAffinityError``,
    ``UnexpectedAdmissionError``), ``detail`` says why, ``container`` where (None: the pod)."""

    def __init__(self, reason: str, message: str, detail: str, container: str | None):
        super().__init__(detail)
        self.reason, self.kubelet_message, self.detail, self.container = reason, message, detail, container


class CheckpointError(NumabenchError):
    """A kubelet state file is missing, unreadable, or one the kubelet would refuse."""


class GoDecodeError(CheckpointError):
    """Go's ``json.Unmarshal`` would fail on a state file: the kubelet refuses it. Raised and caught
    inside ``kube.kubelet.checkpoint``, which reports it as a CheckpointError with the path."""


class FramingError(NumabenchError):
    """A pod's log holds no complete, intact result block."""


class BackendError(NumabenchError):
    """A backend call failed (the API refused or could not be reached); the message names the call."""


class CriError(BackendError):
    """A CRI call to the node's container runtime failed; the message names the call and the
    runtime's answer (``kube.cri.client``)."""
