"""How the kubelet words a rejection (``pkg/kubelet/cm/admission/errors.go``,
``topologymanager/scope.go``); the exception itself is ``numabench.errors.AdmissionRejected``."""

from __future__ import annotations

from numabench.errors import AdmissionRejected

__all__ = ["TOPOLOGY_AFFINITY_ERROR", "UNEXPECTED_ADMISSION_ERROR", "SMT_ALIGNMENT_ERROR", "EMPTY_POD_SHARED_POOL",
           "affinity_error",
           "unexpected", "smt_error"]

TOPOLOGY_AFFINITY_ERROR = "TopologyAffinityError"
UNEXPECTED_ADMISSION_ERROR = "UnexpectedAdmissionError"
SMT_ALIGNMENT_ERROR = "SMTAlignmentError"  # cpumanager/policy_static.go SMTAlignmentError.Type()
EMPTY_POD_SHARED_POOL = "EmptyPodSharedPoolError"  # admission/errors.go, pod-level resources in pod scope


def unexpected(detail: str, container: str) -> AdmissionRejected:
    """An allocation error, wrapped as ``admission.GetPodAdmitResult`` does."""
    return AdmissionRejected(UNEXPECTED_ADMISSION_ERROR, f"Allocate failed due to {detail}, which is unexpected",
                             detail, container)


def affinity_error(detail: str, container: str | None) -> AdmissionRejected:
    """Hints that the Topology Manager's policy cannot admit."""
    return AdmissionRejected(TOPOLOGY_AFFINITY_ERROR, "Resources cannot be allocated with Topology locality", detail,
                             container)


def smt_error(message: str, container: str) -> AdmissionRejected:
    """``full-pcpus-only`` refused the request: the error's own reason, not UnexpectedAdmissionError."""
    return AdmissionRejected(SMT_ALIGNMENT_ERROR, message, message, container)
