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
  containers. A pod whose exclusive containers leave no shared pool for a container that needs
  one, or whose exclusive init container does not fit, gets no hints (so ``restricted`` and
  ``single-numa-node`` reject it with ``TopologyAffinityError``) and is otherwise refused with
  ``EmptyPodSharedPoolError`` (``cm/admission/errors.go``).

Memory rules from the newest ``memorymanager/policy_static.go`` (``validatePodScopeResources``,
``AllocatePod``, ``getContainerRequestedResources``: a container is exclusive only when
``IsContainerEquivalentQOSGuaranteed``); the CPU side applies the same rules to whole CPUs (the CPU
manager's pod-level code was not read; its ``TestStaticPolicyAllocatePod`` cases are in
tests/data/kubelet-conformance and match).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from numabench.errors import UsageError
from numabench.kube.admission.memory import Block
from numabench.kube.podspec import Container, PodSpec
from numabench.kube.qos import GUARANTEED, qos_class
from numabench.kube.resources import CPU, HUGEPAGES_PREFIX, MEMORY

__all__ = ["IGNORED", "MANAGED", "pod_level_mode", "eligible", "pod_budget", "validate_pod_scope", "partition_memory",
           "partition_cpus"]

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


def _validate(pod: PodSpec, budget: dict[str, int], reqs) -> str | None:
    """``validatePodScopeResources`` for one manager: ``reqs(c)`` is a container's exclusive request
    per resource (empty: it runs in the pod's shared pool). None when the pod is acceptable."""
    shared = False
    long_running: dict[str, int] = {}
    for c in pod.init_containers:
        want = reqs(c)
        if not c.restartable:
            for res, total in budget.items():
                pool = total - long_running.get(res, 0)
                if want and want.get(res, 0) > pool:
                    return (f"pod rejected, largest exclusive init container requests {want[res]} of {res}, "
                            f"but only {pool} available")
                if not want and long_running.get(res, 0) >= total:
                    return f"pod rejected, pod has shared init containers but no {res} available for them"
            continue
        if not want:
            shared = True
        for res, v in want.items():
            long_running[res] = long_running.get(res, 0) + v
    for c in pod.containers:
        want = reqs(c)
        if not want:
            shared = True
        for res, v in want.items():
            long_running[res] = long_running.get(res, 0) + v
    for res, total in budget.items():
        if shared and long_running.get(res, 0) >= total:
            what = "cpus" if res == CPU else res  # the CPU manager's wording says "cpus"
            return (f"pod rejected, sum of exclusive container {res} requests equals pod budget, leaving no "
                    f"{what} for shared containers")
    return None


def validate_pod_scope(pod: PodSpec, cpus_of, memory_of) -> str | None:
    """The CPU and Memory Managers' pod-scope checks (memory: ``validatePodScopeResources`` of
    ``memorymanager/policy_static.go``; CPU: the same rule on whole CPUs); the first failure's text."""
    n, mem = pod_budget(pod)

    def cpu_reqs(c: Container) -> dict[str, int]:
        return {CPU: cpus_of(c)} if cpus_of(c) else {}

    return ((_validate(pod, {CPU: n}, cpu_reqs) if n else None)
            or (_validate(pod, mem, memory_of) if mem else None))


def partition_memory(pod: PodSpec, mask: tuple[int, ...], total: dict[str, int],
                     memory_of) -> dict[str, list[Block]]:
    """``AllocatePod``'s memory partition: every container's blocks inside the pod's ``total`` on
    ``mask``: its own request when exclusive; a shared regular init container gets the pod's
    memory less the sidecars started before it; the others the pod shared pool (the pod's memory
    less the sidecars' and the exclusive app containers')."""
    out: dict[str, list[Block]] = {}
    sidecar: dict[str, int] = {}

    def blocks(sizes: dict[str, int]) -> list[Block]:
        return [Block(mask, res, size) for res, size in sorted(sizes.items()) if size > 0]

    for c in pod.init_containers:
        want = memory_of(c)
        if not want:
            if not c.restartable:
                out[c.name] = blocks({r: t - sidecar.get(r, 0) for r, t in total.items()})
            continue
        out[c.name] = blocks(want)
        if c.restartable:
            for r, v in want.items():
                sidecar[r] = sidecar.get(r, 0) + v
    pool = {r: t - sidecar.get(r, 0) for r, t in total.items()}
    for c in pod.containers:
        want = memory_of(c)
        if want:
            out[c.name] = blocks(want)
            for r, v in want.items():
                pool[r] = pool.get(r, 0) - v
    shared = blocks(pool)
    for c in pod.all_containers:
        out.setdefault(c.name, shared)
    return out


def partition_cpus(pod: PodSpec, pool: set[int], cpus_of, take) -> tuple[dict[str, tuple[int, ...]],
                                                                          dict[str, tuple[int, ...]]]:
    """The same partition for CPUs (by analogy with the memory manager's ``AllocatePod``; the CPU
    manager's pod-level code was not read): (exclusive slices, shared CPUs) per container.
    ``take(candidates, n, name)`` picks CPUs (``takeByTopology``)."""
    exclusive: dict[str, tuple[int, ...]] = {}
    shared: dict[str, tuple[int, ...]] = {}
    sidecars: set[int] = set()
    for c in pod.init_containers:
        n = cpus_of(c)
        if not n:
            if not c.restartable:
                shared[c.name] = tuple(sorted(pool - sidecars))
            continue
        exclusive[c.name] = take(pool - sidecars, n, c.name)
        if c.restartable:
            sidecars |= set(exclusive[c.name])
    apps: set[int] = set()
    for c in pod.containers:
        n = cpus_of(c)
        if n:
            exclusive[c.name] = take(pool - sidecars - apps, n, c.name)
            apps |= set(exclusive[c.name])
    rest = tuple(sorted(pool - sidecars - apps))
    for c in pod.all_containers:
        if c.name not in exclusive:
            shared.setdefault(c.name, rest)
    return exclusive, shared
