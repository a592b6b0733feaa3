"""CPU Manager ``static`` (``pkg/kubelet/cm/cpumanager/policy_static.go``): exclusive CPUs for
Guaranteed containers with whole CPUs, their topology hints and their allocation.

Simplified on purpose: CPUs are taken lowest id first within the aligned nodes, not by
``takeByTopology`` (see docs/pod-model.md)."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from numabench.kube.admission.bitmask import iterate_masks, node_count
from numabench.kube.admission.hints import Hint
from numabench.kube.admission.rejection import unexpected
from numabench.kube.qos import GUARANTEED
from numabench.kube.resources import CPU

if TYPE_CHECKING:
    from numabench.kube.admission.node import NodeDescription
    from numabench.kube.podspec import Container, PodSpec

__all__ = ["guaranteed_cpus", "cpu_hints", "pod_cpu_request", "allocate_cpus"]


def guaranteed_cpus(qos: str, c: Container) -> int:
    """``guaranteedCPUs``: whole CPUs of a Guaranteed container, 0 for fractional or other QoS."""
    if qos != GUARANTEED:
        return 0
    cpu = Fraction(c.requests.get(CPU, 0))
    if cpu.denominator != 1:
        return 0
    return int(cpu)


def cpu_hints(node: NodeDescription, available: set[int], request: int) -> list[Hint]:
    """``generateCPUTopologyHints``: masks over the nodes with CPUs that hold ``request`` available
    CPUs; preferred = as few nodes as the request needs on an empty machine."""
    cpu_nodes = node.cpu_node_ids
    min_size = len(cpu_nodes)
    fitting: list[int] = []
    for mask in iterate_masks(cpu_nodes):
        in_mask = node.cpus_of(mask)
        if len(in_mask) >= request and node_count(mask) < min_size:
            min_size = node_count(mask)
        if len(in_mask & available) >= request:
            fitting.append(mask)
    return [Hint(mask, node_count(mask) == min_size) for mask in fitting]


def pod_cpu_request(qos: str, pod: PodSpec) -> int:
    """``podGuaranteedCPUs``: max(app containers + sidecars, the largest init container)."""
    init_max = restartable = apps = 0
    for c in pod.init_containers:
        if CPU not in c.requests:
            continue
        n = guaranteed_cpus(qos, c)
        if c.restartable:
            restartable += n
        else:
            init_max = max(init_max, restartable + n)
    for c in pod.containers:
        if CPU in c.requests:
            apps += guaranteed_cpus(qos, c)
    return max(init_max, apps + restartable)


def allocate_cpus(node: NodeDescription, available: set[int], n: int, hint: Hint, container: str) -> tuple[int, ...]:
    """``allocateCPUs``: ``n`` of the ``available`` CPUs, those of the hint's nodes first.

    Raises:
        AdmissionRejected: UnexpectedAdmissionError, fewer than ``n`` CPUs available.
    """
    if n > len(available):
        raise unexpected(f"not enough cpus available to satisfy request: requested={n}, "
                         f"available={len(available)}", container)
    result: list[int] = []
    if hint.mask is not None:
        aligned = sorted(available & node.cpus_of(hint.mask))
        result += aligned[:n]  # simpler than takeByTopology: lowest ids first
    rest = sorted(available - set(result))
    result += rest[: n - len(result)]
    return tuple(sorted(result))
