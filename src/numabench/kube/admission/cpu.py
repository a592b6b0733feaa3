"""CPU Manager ``static`` (``pkg/kubelet/cm/cpumanager/policy_static.go``): exclusive CPUs for
Guaranteed containers with whole CPUs, their topology hints and their allocation (CPUs chosen by
``cputopo.take_by_topology``)."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from numabench.kube.admission.bitmask import iterate_masks, mask_nodes, node_count
from numabench.kube.admission.cputopo import take_by_topology
from numabench.kube.admission.hints import Hint
from numabench.kube.admission.rejection import smt_error, unexpected
from numabench.kube.qos import GUARANTEED
from numabench.kube.resources import CPU

if TYPE_CHECKING:
    from numabench.kube.admission.node import NodeDescription
    from numabench.kube.admission.options import PolicyOptions
    from numabench.kube.podspec import Container, PodSpec

__all__ = ["guaranteed_cpus", "cpu_hints", "pod_cpu_request", "allocate_cpus", "smt_check"]


def guaranteed_cpus(qos: str, c: Container) -> int:
    """``guaranteedCPUs``: whole CPUs of a Guaranteed container, 0 for fractional or other QoS."""
    if qos != GUARANTEED:
        return 0
    cpu = Fraction(c.requests.get(CPU, 0))
    if cpu.denominator != 1:
        return 0
    return int(cpu)


def cpu_hints(node: NodeDescription, available: set[int], request: int,
              reusable: set[int] | frozenset[int] = frozenset(), align_by_socket: bool = False) -> list[Hint]:
    """``generateCPUTopologyHints``: masks over the nodes with CPUs that hold ``request`` CPUs,
    counting the pod's ``reusable`` init-container CPUs, which every mask must then contain;
    preferred = as few nodes as the request needs on an empty machine (with ``align-by-socket``,
    also any mask over as few sockets as that needs)."""
    cpu_nodes = node.cpu_node_ids
    min_size = len(cpu_nodes)
    reusable_nodes = {node.cpu_node(c) for c in reusable}
    fitting: list[int] = []
    for mask in iterate_masks(cpu_nodes):
        in_mask = node.cpus_of(mask)
        if len(in_mask) >= request and node_count(mask) < min_size:
            min_size = node_count(mask)
        if not reusable_nodes <= set(mask_nodes(mask)):
            continue
        if len(reusable) + len(in_mask & available) >= request:
            fitting.append(mask)
    hints = []
    for mask in fitting:
        preferred = node_count(mask) == min_size
        if align_by_socket and _socket_aligned(node, mask, min_size):
            preferred = True
        hints.append(Hint(mask, preferred))
    return hints


def _socket_aligned(node: NodeDescription, mask: int, min_size: int) -> bool:
    """``isHintSocketAligned``: the mask spans as few sockets as ``min_size`` NUMA nodes need."""
    topo = node.cpu_topology()
    per_socket = topo.num_numa // max(topo.num_sockets, 1)
    if per_socket == 0:
        return False
    min_sockets = (min_size + per_socket - 1) // per_socket
    return len(topo.sockets_of_numa(mask_nodes(mask))) == min_sockets


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


def allocate_cpus(node: NodeDescription, allocatable: set[int], n: int, hint: Hint, container: str,
                  options: PolicyOptions) -> tuple[int, ...]:
    """``allocateCPUs``: ``n`` of the ``allocatable`` CPUs (available plus reusable), taken by
    topology from the hint's nodes first (with ``align-by-socket``, from the hint's sockets), the
    rest by topology from anywhere.

    Raises:
        AdmissionRejected: UnexpectedAdmissionError, fewer than ``n`` CPUs available.
    """
    if n > len(allocatable):
        raise unexpected(f"not enough cpus available to satisfy request: requested={n}, "
                         f"available={len(allocatable)}", container)
    topo = node.cpu_topology()
    group = topo.cpus_per_core if options.full_pcpus_only else 1

    def take(pool: set[int], k: int) -> set[int]:
        return take_by_topology(topo, pool, k, container, distribute_numa=options.distribute_numa, group=group,
                                spread=options.spread_cores)

    result: set[int] = set()
    if hint.mask is not None:
        aligned = allocatable & node.cpus_of(hint.mask)
        if options.align_by_socket:
            sockets = topo.sockets_of_numa(mask_nodes(hint.mask))
            aligned = allocatable & topo.of(topo.socket, sockets)
        result = take(aligned, min(n, len(aligned)))
    result |= take(allocatable - result, n - len(result))
    return tuple(sorted(result))


def smt_check(node: NodeDescription, available_physical: set[int], n: int, container: str) -> None:
    """``full-pcpus-only``: whole cores only, from cores no reserved CPU is on.

    Raises:
        AdmissionRejected: SMTAlignmentError.
    """
    per_core = node.cpu_topology().cpus_per_core
    if per_core and n % per_core:
        raise smt_error(f"SMT Alignment Error: requested {n} cpus not multiple cpus per core = {per_core}",
                        container)
    if n > len(available_physical):
        raise smt_error(f"SMT Alignment Error: not enough free physical CPUs: available physical CPUs = "
                        f"{len(available_physical)}, requested CPUs = {n}, CPUs per core = {per_core}", container)
