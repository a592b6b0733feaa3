"""Pods with pod-level resources (``spec.resources``): what each kubelet version's CPU and Memory
Managers do with them.

- Before 1.32 the API has no ``spec.resources``.
- From 1.32 (``PodLevelResources``; alpha, beta and on by default from 1.34): the pod's QoS
  class comes from ``spec.resources``, but the static CPU and Memory Manager policies do not
  manage such pods: every container runs in the node's shared pool, nothing is pinned
  (``cpumanager/policy_static.go`` ``Allocate``: "CPU Manager allocation skipped, pod is using
  pod-level resources which are not supported by the static CPU manager policy"). This stays so
  in 1.35 unless the alpha gate below is on.
- From 1.35, with the feature gate ``PodLevelResourceManagers`` on (alpha, KEP-5526, "Design
  Details"): in
  ``container`` scope the managers ignore ``spec.resources`` and give exclusive CPUs and pinned
  memory only to containers that are Guaranteed on their own (requests equal to limits for cpu and
  memory; whole CPUs for exclusive CPUs); the others run in the node's shared pool. In ``pod`` scope
  the Topology Manager aligns the pod as one unit on its ``spec.resources``; the pod gets that many
  CPUs and that much memory (the checkpoint's ``podEntries``), carves exclusive slices out of them
  for the containers Guaranteed on their own, and the rest is the pod's shared pool for the other
  containers. A pod whose exclusive containers take more than the budget, or all of it while some
  container needs the shared pool, is rejected.

Written from the KEP's design, not from kubelet sources (the alpha code was not read): the
rejection's wording and reason are this model's.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from numabench.errors import UsageError
from numabench.kube.admission.cpu import pod_cpu_request
from numabench.kube.admission.memory import pod_memory_request
from numabench.kube.admission.rejection import unexpected
from numabench.kube.podspec import Container, PodSpec
from numabench.kube.qos import GUARANTEED, qos_class
from numabench.kube.resources import CPU, HUGEPAGES_PREFIX, MEMORY

__all__ = ["IGNORED", "MANAGED", "pod_level_mode", "eligible", "pod_budget", "check_budget"]

IGNORED = "ignored"  # 1.32-1.34: the managers leave such pods in the shared pool
MANAGED = "managed"  # 1.35+: PodLevelResourceManagers
_FIRST, _MANAGERS = 32, 35


def pod_level_mode(pod: PodSpec, version: tuple[int, int],
                   gates: Mapping[str, bool]) -> tuple[str | None, list[str]]:
    """(mode, notes) for ``pod`` under kubelet ``version`` with feature ``gates``: None for a pod
    without pod-level resources.

    Raises:
        UsageError: pod-level resources on a kubelet older than 1.32.
    """
    if not pod.has_pod_resources:
        return None, []
    if version[1] < _FIRST:
        raise UsageError(f"pod {pod.name} sets spec.resources, which kubelet 1.{version[1]} does not know "
                         f"(pod-level resources start in 1.{_FIRST})", "give the resources per container")
    gate = bool(gates.get("PodLevelResourceManagers", False))
    if version[1] < _MANAGERS or not gate:
        notes = [f"kubelet 1.{version[1]}: the CPU and Memory Managers do not manage pods with pod-level "
                 "resources: every container runs in the shared pool, nothing is pinned"]
        if version[1] >= _MANAGERS:
            notes[0] += " (the alpha feature gate PodLevelResourceManagers changes that)"
        elif gate:
            notes.append(f"PodLevelResourceManagers does not exist in kubelet 1.{version[1]} (alpha in 1.35)")
        if version[1] < 34:
            notes.append("pod-level resources need the feature gate PodLevelResources before 1.34")
        return IGNORED, notes
    return MANAGED, ["pod-level resources managed as in KEP-5526 (feature gate PodLevelResourceManagers, alpha)"]


def eligible(c: Container) -> bool:
    """A container Guaranteed on its own (requests equal to limits for cpu and memory): it may get
    exclusive resources inside a pod with pod-level resources."""
    return qos_class([c]) == GUARANTEED


def pod_budget(pod: PodSpec) -> tuple[int, dict[str, int]]:
    """(whole CPUs, memory and hugepages bytes) of ``spec.resources`` requests; 0 CPUs when the
    pod-level cpu is not a whole number (no exclusive CPU pool then)."""
    cpu = Fraction(pod.pod_requests.get(CPU, 0))
    mem = {k: int(v) for k, v in pod.pod_requests.items() if k == MEMORY or k.startswith(HUGEPAGES_PREFIX)}
    return (int(cpu) if cpu.denominator == 1 else 0), mem


def check_budget(pod: PodSpec) -> None:
    """Pod scope: the exclusive containers must leave a pod shared pool for the others.

    Raises:
        AdmissionRejected: UnexpectedAdmissionError (over budget, or an empty pod shared pool).
    """
    mine = PodSpec(pod.name, pod.namespace, pod.uid, tuple(c for c in pod.init_containers if eligible(c)),
                    tuple(c for c in pod.containers if eligible(c)))
    cpus, mem = pod_budget(pod)
    wanted = {CPU: pod_cpu_request(GUARANTEED, mine), **pod_memory_request(mine)}
    budget = {CPU: cpus, **mem}
    shared = any(not eligible(c) for c in pod.containers)
    for res, want in wanted.items():
        have = budget.get(res, 0)
        if want > have:
            raise unexpected(f"pod-level resources: the containers' exclusive {res} ({want}) exceeds "
                             f"spec.resources ({have})", "<pod>")
        if shared and want and want == have:
            raise unexpected(f"pod-level resources: the exclusive containers take all of the pod's {res}, "
                             "leaving an empty pod shared pool for the other containers", "<pod>")
