"""The admission of one pod: the Topology Manager's scopes over the CPU and Memory Managers, and
the answer as a ``PodPlan`` (see the package docstring for the rules and sources)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from numabench.errors import AdmissionRejected, UsageError
from numabench.kube.admission.cpu import allocate_cpus, cpu_hints, guaranteed_cpus, pod_cpu_request, smt_check
from numabench.kube.admission.hints import Hint, merge_hints
from numabench.kube.admission.memory import (
    Block,
    Reusable,
    allocate_memory,
    machine_state,
    memory_hints,
    pod_memory_request,
    shrink_init_blocks,
    update_reusable,
)
from numabench.kube.admission.node import NodeDescription
from numabench.kube.admission.options import PolicyOptions, policy_options, version_has
from numabench.kube.admission.podlevel import (
    IGNORED,
    MANAGED,
    eligible,
    partition_cpus,
    partition_memory,
    pod_budget,
    pod_level_mode,
    validate_pod_scope,
)
from numabench.kube.admission.rejection import EMPTY_POD_SHARED_POOL, affinity_error
from numabench.kube.admission.state import AdmittedState
from numabench.kube.podspec import Container, PodSpec
from numabench.kube.qos import GUARANTEED, pod_qos
from numabench.kube.resources import CPU, MEMORY, TOPOLOGY_MANAGER_POLICIES, TOPOLOGY_MANAGER_SCOPES
from numabench.util.cpulist import format_cpulist

__all__ = ["ContainerPlacement", "KubeletSettings", "Rejection", "PodPlan", "plan_pod", "format_cpu"]


@dataclass(frozen=True)
class ContainerPlacement:
    """Where one container runs, as the kubelet would set its cgroup.

    ``cpus`` is ``cpuset.cpus`` (exclusive CPUs, or the shared pool after this pod's admission);
    ``mems`` is ``cpuset.mems`` (the Memory Manager's nodes, or every memory node when it does
    not pin the container); ``numa_affinity`` the nodes the managers aligned the container to
    (None when nothing was pinned); ``hint`` the Topology Manager's merged hint.
    """

    name: str
    init: bool
    qos: str
    cpus: tuple[int, ...]
    mems: tuple[int, ...]
    exclusive_cpus: bool
    memory_pinned: bool
    numa_affinity: tuple[int, ...] | None
    hint: Hint | None
    cpu_hints: list[Hint] | None
    memory_hints: list[Hint] | None
    memory_blocks: tuple[Block, ...]
    memory_limit_bytes: int | None
    cpu_nodes: tuple[int, ...]

    @property
    def aligned(self) -> bool:
        """Every CPU's node holds memory of this container (what an in-pod verdict checks)."""
        return bool(self.cpu_nodes) and set(self.cpu_nodes) <= set(self.mems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "init": self.init,
            "qos": self.qos,
            "cpuset_cpus": format_cpulist(self.cpus),
            "cpuset_mems": format_cpulist(self.mems),
            "cpus": list(self.cpus),
            "mems": list(self.mems),
            "cpu_nodes": list(self.cpu_nodes),
            "exclusive_cpus": self.exclusive_cpus,
            "memory_pinned": self.memory_pinned,
            "numa_affinity": None if self.numa_affinity is None else list(self.numa_affinity),
            "aligned": self.aligned,
            "hint": None if self.hint is None else self.hint.to_dict(),
            "hints": {"cpu": None if self.cpu_hints is None else [h.to_dict() for h in self.cpu_hints],
                      "memory": None if self.memory_hints is None else [h.to_dict() for h in self.memory_hints]},
            "memory_blocks": [b.to_dict() for b in self.memory_blocks],
            "memory_limit_bytes": self.memory_limit_bytes,
        }


@dataclass(frozen=True)
class KubeletSettings:
    """The kubelet configuration a plan was made under (CPU Manager static and Memory Manager
    Static always; the Topology Manager's ``policy`` and ``scope`` as given)."""

    policy: str = "none"
    scope: str = "container"
    strict_cpu_reservation: bool = False
    # The KubeletConfiguration's cpuManagerPolicyOptions and topologyManagerPolicyOptions, as
    # written there (string values, e.g. {"full-pcpus-only": "true"}).
    cpu_policy_options: Mapping[str, str] = field(default_factory=dict)
    topology_policy_options: Mapping[str, str] = field(default_factory=dict)
    # Whose rules apply: "latest" or a minor version such as "1.29".
    kubelet_version: str = "latest"
    # The KubeletConfiguration's featureGates that change admission (PodLevelResourceManagers).
    feature_gates: Mapping[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"topology_manager_policy": self.policy, "topology_manager_scope": self.scope,
                "cpu_manager_policy": "static", "memory_manager_policy": "Static",
                "strict_cpu_reservation": self.strict_cpu_reservation,
                "cpu_manager_policy_options": dict(sorted(self.cpu_policy_options.items())),
                "topology_manager_policy_options": dict(sorted(self.topology_policy_options.items())),
                "kubelet_version": self.kubelet_version,
                "feature_gates": dict(sorted(self.feature_gates.items()))}


@dataclass(frozen=True)
class Rejection:
    """Why the kubelet would reject a pod: ``reason`` (``TopologyAffinityError`` or
    ``UnexpectedAdmissionError``), ``message`` (the kubelet's text), ``detail`` (why, in this
    model's words) and ``container`` (where it failed; None: the pod as a whole)."""

    reason: str
    message: str
    detail: str
    container: str | None

    @classmethod
    def of(cls, exc: AdmissionRejected) -> Rejection:
        return cls(exc.reason, exc.kubelet_message, exc.detail, exc.container)

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "message": self.message, "detail": self.detail, "container": self.container}


@dataclass(frozen=True)
class PodPlan:
    """The model's answer for one pod. ``rejection`` is None when the pod is admitted; ``state`` is
    the admitted-pods state after this pod (unchanged when rejected)."""

    pod: PodSpec
    qos: str
    kubelet: KubeletSettings
    node: NodeDescription
    state: AdmittedState
    containers: tuple[ContainerPlacement, ...] = ()
    rejection: Rejection | None = None
    notes: tuple[str, ...] = ()

    @property
    def admitted(self) -> bool:
        return self.rejection is None

    @property
    def policy(self) -> str:
        return self.kubelet.policy

    @property
    def scope(self) -> str:
        return self.kubelet.scope

    @property
    def strict_cpu_reservation(self) -> bool:
        return self.kubelet.strict_cpu_reservation

    @property
    def reason(self) -> str | None:
        return None if self.rejection is None else self.rejection.reason

    @property
    def message(self) -> str | None:
        return None if self.rejection is None else self.rejection.message

    @property
    def detail(self) -> str | None:
        return None if self.rejection is None else self.rejection.detail

    @property
    def failed_container(self) -> str | None:
        return None if self.rejection is None else self.rejection.container

    def placement(self, name: str | None = None) -> ContainerPlacement:
        """The placement of container ``name`` (default: the first app container).

        Raises:
            UsageError: the pod was rejected, or has no such container.
        """
        if not self.admitted:
            raise UsageError(f"the kubelet would reject pod {self.pod.name}: {self.reason}: {self.detail}",
                             "change the pod, the node or the policy (numabench pod plan explains)")
        for c in self.containers:
            if (name is None and not c.init) or c.name == name:
                return c
        raise UsageError(f"pod {self.pod.name} has no container {name!r}",
                         "pick one of: " + ", ".join(c.name for c in self.containers))

    def to_dict(self) -> dict[str, Any]:
        return {
            "pod": {"name": self.pod.name, "namespace": self.pod.namespace, "uid": self.pod.uid,
                    "source": self.pod.source, "qos": self.qos},
            "kubelet": self.kubelet.to_dict(),
            "admitted": self.admitted,
            "rejection": None if self.rejection is None else self.rejection.to_dict(),
            "containers": [c.to_dict() for c in self.containers],
            "node": self.node.to_dict(),
            "notes": list(self.notes),
            "state": self.state.to_dict(),
        }


@dataclass
class _Allocated:
    """What one container got: its merged hint, exclusive CPUs, memory blocks and the hints seen."""

    hint: Hint | None
    cpus: tuple[int, ...] | None
    blocks: list[Block] | None
    cpu_hints: list[Hint] | None
    memory_hints: list[Hint] | None


class _Admission:
    """One pod's admission against a copy of the node's state. As the kubelet does, every
    container's CPUs and memory blocks stay in the state; a regular init container's CPUs and
    memory are offered to the containers after it (``cpusToReuse``,
    ``initContainersReusableMemory``), sidecars' are not."""

    def __init__(self, pod: PodSpec, node: NodeDescription, state: AdmittedState, settings: KubeletSettings,
                 options: PolicyOptions):
        self.pod, self.node, self.settings, self.options = pod, node, settings, options
        self.qos = pod_qos(pod)
        self.state = state.copy()
        self.ms = machine_state(node, self.state)
        taken = self.state.exclusive_cpus
        bad = sorted(taken & set(node.reserved_cpus))
        if bad:
            raise UsageError(f"admitted pods hold reserved CPUs {format_cpulist(bad)} exclusively",
                             "the state belongs to another reservedSystemCPUs")
        unknown = sorted(taken - set(node.all_cpus))
        if unknown:
            raise UsageError(f"admitted pods hold CPUs {format_cpulist(unknown)}, which the node does not have",
                             "the state belongs to another node")
        self.exclusive: dict[str, tuple[int, ...]] = {}
        self.blocks: dict[str, list[Block]] = {}
        self.reusable_cpus: set[int] = set()
        self.reusable_memory: Reusable = {}
        self.sidecars = version_has("sidecar-containers", options.version)
        self.pod_level, self.pod_level_notes = pod_level_mode(pod, options.version, settings.feature_gates)
        # pod scope with pod-level resources: the pod's own CPUs and memory blocks (podEntries)
        self.pod_pool: tuple[int, ...] | None = None
        self.pod_blocks: list[Block] | None = None
        self.pod_shared_cpus: dict[str, tuple[int, ...]] = {}

    def _taken(self) -> set[int]:
        return (self.state.exclusive_cpus | {c for v in self.exclusive.values() for c in v}
                | set(self.pod_pool or ()))

    def pod_partitioned(self) -> bool:
        """Pod scope (a policy other than none) over a Guaranteed pod with pod-level resources
        (KEP-5526): one pool for the pod, partitioned among its containers."""
        return (self.pod_level == MANAGED and self.settings.scope == "pod" and self.settings.policy != "none"
                and self.qos == GUARANTEED)

    def memory_of(self, c: Container) -> dict[str, int]:
        """``getContainerRequestedResources``: what the Memory Manager pins for ``c``."""
        return c.memory_requests() if self.pins_memory(c) else {}

    def container_cpus(self, c: Container) -> int:
        """Exclusive CPUs ``c`` asks for (``guaranteedCPUs``, with the pod-level resource rules)."""
        if self.pod_level == IGNORED or (self.pod_level == MANAGED and not eligible(c)):
            return 0
        return guaranteed_cpus(self.qos, c)

    def pins_memory(self, c: Container) -> bool:
        """Whether the Memory Manager pins ``c``'s memory."""
        if self.qos != GUARANTEED or not c.memory_requests() or self.pod_level == IGNORED:
            return False
        return self.pod_level is None or eligible(c)

    def available_cpus(self) -> set[int]:
        """``GetAvailableCPUs``: the shared pool minus reserved CPUs."""
        return set(self.node.all_cpus) - self._taken() - set(self.node.reserved_cpus)

    def available_physical_cpus(self) -> set[int]:
        """``GetAvailablePhysicalCPUs``: the shared pool minus every core a reserved CPU is on."""
        topo = self.node.cpu_topology()
        reserved_cores = {topo.core[c] for c in self.node.reserved_cpus}
        return set(self.node.all_cpus) - self._taken() - topo.of(topo.core, reserved_cores)

    def shared_pool(self) -> tuple[int, ...]:
        pool = set(self.node.all_cpus) - self._taken()
        if self.options.strict_reservation:
            pool -= set(self.node.reserved_cpus)
        return tuple(sorted(pool))

    def regular_init(self, c: Container) -> bool:
        """An init container whose CPUs and memory later containers may reuse (not a sidecar)."""
        return c.init and not (c.restartable and self.sidecars)

    # --- hint providers
    def cpu_provider(self, n: int, reusable: set[int]) -> dict[str, list[Hint]] | None:
        if n == 0:
            return None
        return {CPU: cpu_hints(self.node, self.available_cpus(), n, reusable, self.options.align_by_socket)}

    def memory_provider(self, requested: dict[str, int], reusable: Reusable) -> dict[str, list[Hint]] | None:
        return memory_hints(self.ms, requested, reusable) if self.qos == GUARANTEED and requested else None

    def merge(self, providers: list, who: str, container: str | None) -> Hint:
        """The Topology Manager's merge; raises AdmissionRejected when the policy refuses it."""
        policy = self.settings.policy
        hint, admit = merge_hints(policy, self.node.node_ids, providers,
                                  distance=self.node.distance if self.options.prefer_closest else None)
        if not admit:
            raise affinity_error(_why(policy, hint, providers[0], providers[1], who), container)
        return hint

    def pod_hint(self) -> tuple[Hint, Any, Any]:
        """Pod scope: one merge for the whole pod (on ``spec.resources`` when it manages them);
        (hint, CPU hints, memory hints). Raises AdmissionRejected."""
        if self.pod_level == IGNORED:
            return self.merge([None, None], "the pod", None), None, None
        if self.pod_partitioned():
            n, requested = pod_budget(self.pod)
        else:
            n, requested = pod_cpu_request(self.qos, self.pod), pod_memory_request(self.pod)
        cpu = self.cpu_provider(n, set())
        mem = self.memory_provider(requested, {}) if requested else None
        if self.pod_partitioned() and validate_pod_scope(self.pod, self.container_cpus, self.memory_of):
            # GetPodTopologyHints: an empty hint list per resource, so the merge cannot prefer anything
            cpu = {CPU: []} if cpu is not None else None
            mem = {res: [] for res in requested} if mem is not None else None
        return self.merge([cpu, mem], "the pod", None), cpu, mem

    def allocate_pod_partitioned(self, hint: Hint) -> None:
        """KEP-5526 ``AllocatePod``: the pod's CPUs and memory from ``spec.resources``, partitioned
        into exclusive slices and the pod's shared pool. Raises AdmissionRejected."""
        why = validate_pod_scope(self.pod, self.container_cpus, self.memory_of)
        if why:
            raise AdmissionRejected(EMPTY_POD_SHARED_POOL, why, why, None)
        n, requested = pod_budget(self.pod)
        if n:
            self.pod_pool = allocate_cpus(self.node, self.available_cpus(), n, hint, "<pod>", self.options)

            def take(pool: set[int], k: int, name: str) -> tuple[int, ...]:
                return allocate_cpus(self.node, pool, k, hint, name, self.options)

            self.exclusive, self.pod_shared_cpus = partition_cpus(self.pod, set(self.pod_pool),
                                                                  self.container_cpus, take)
        if requested:
            self.pod_blocks = allocate_memory(self.ms, requested, hint, "<pod>")
            self.blocks = partition_memory(self.pod, self.pod_blocks[0].numa_affinity, requested, self.memory_of)

    # --- allocation
    def allocate(self, c: Container, pod_scope: tuple[Hint, Any, Any] | None) -> _Allocated:
        """Hints (container scope; ``pod_scope`` is ``pod_hint()``'s answer in pod scope), merge and
        allocation for one container. Raises AdmissionRejected."""
        n = self.container_cpus(c)
        requested = c.memory_requests() if self.pins_memory(c) else {}
        cpu = mem = None
        if self.settings.policy == "none":
            hint = Hint(None, False)
        elif pod_scope is not None:
            hint, cpu, mem = pod_scope
        else:
            cpu = self.cpu_provider(n, self.reusable_cpus)
            mem = self.memory_provider(requested, self.reusable_memory)
            hint = self.merge([cpu, mem], f"container {c.name}", c.name)
        cpus = None if n == 0 else self.allocate_cpus(c, n, hint)
        blocks = None
        if requested:
            blocks = self.allocate_memory(c, requested, hint)
        return _Allocated(None if self.settings.policy == "none" else hint, cpus, blocks,
                          None if cpu is None else cpu.get(CPU, []), None if mem is None else mem.get(MEMORY, []))

    def allocate_cpus(self, c: Container, n: int, hint: Hint) -> tuple[int, ...]:
        """CPU Manager ``Allocate`` and ``updateCPUsToReuse``."""
        if self.options.full_pcpus_only:
            smt_check(self.node, self.available_physical_cpus(), n, c.name)
        cpus = allocate_cpus(self.node, self.available_cpus() | self.reusable_cpus, n, hint, c.name, self.options)
        self.exclusive[c.name] = cpus
        if self.regular_init(c):
            self.reusable_cpus |= set(cpus)
        else:  # an app container or a sidecar keeps what it reused (updateCPUsToReuse falls through)
            self.reusable_cpus -= set(cpus)
        return cpus

    def allocate_memory(self, c: Container, requested: dict[str, int], hint: Hint) -> list[Block]:
        """Memory Manager ``Allocate``: reuse, ``updatePodReusableMemory``, ``updateInitContainerMemoryBlocks``."""
        blocks = allocate_memory(self.ms, requested, hint, c.name, self.reusable_memory)
        update_reusable(self.reusable_memory, blocks, self.regular_init(c))
        self.blocks[c.name] = blocks
        earlier = []
        for ic in self.pod.init_containers:
            if ic.name == c.name:
                break
            if self.regular_init(ic) and ic.name in self.blocks:
                earlier.append(ic.name)
        shrunk = shrink_init_blocks([self.blocks[name] for name in earlier], blocks)
        for name, bs in zip(earlier, shrunk, strict=True):
            self.blocks[name] = bs
        return blocks

    def admit_all(self) -> dict[str, _Allocated]:
        """Every container in admission order (init containers first). Raises AdmissionRejected."""
        settings = self.settings
        pod_scope = self.pod_hint() if settings.policy != "none" and settings.scope == "pod" else None
        if pod_scope is not None and self.pod_partitioned():
            hint, cpu, mem = pod_scope
            self.allocate_pod_partitioned(hint)
            return {c.name: _Allocated(hint, self.exclusive.get(c.name), self.blocks.get(c.name),
                                       None if cpu is None else cpu.get(CPU, []),
                                       None if mem is None else mem.get(MEMORY, []))
                    for c in self.pod.all_containers}
        return {c.name: self.allocate(c, pod_scope) for c in self.pod.all_containers}

    def placements(self, per: dict[str, _Allocated], notes: list[str]) -> tuple[ContainerPlacement, ...]:
        """Each container's cgroup cpuset after the pod's admission; notes on fractional CPUs. Memory
        blocks are those of the state: an init container's shrink by what later containers reused."""
        shared, node = self.shared_pool(), self.node
        out = []
        for c in self.pod.all_containers:
            a = per[c.name]
            blocks = self.blocks.get(c.name, [])
            mems = tuple(sorted({n for b in blocks for n in b.numa_affinity})) or node.memory_node_ids
            cpus = a.cpus or self.pod_shared_cpus.get(c.name) or shared
            affinity = None
            if blocks:
                affinity = mems
            elif a.cpus:
                affinity = tuple(sorted({node.cpu_node(x) for x in a.cpus}))
            out.append(ContainerPlacement(
                name=c.name, init=c.init, qos=self.qos, cpus=cpus, mems=mems,
                exclusive_cpus=a.cpus is not None, memory_pinned=bool(blocks), numa_affinity=affinity,
                hint=a.hint, cpu_hints=a.cpu_hints, memory_hints=a.memory_hints, memory_blocks=tuple(blocks),
                memory_limit_bytes=c.memory_limit_bytes, cpu_nodes=tuple(sorted({node.cpu_node(x) for x in cpus}))))
            if a.cpus is None and self.qos == GUARANTEED and c.requests.get(CPU) and self.pod_level is None:
                notes.append(f"container {c.name}: {format_cpu(c.requests[CPU])} CPU is not a whole number: shared "
                             "CPUs (the CPU Manager gives exclusive CPUs only for whole CPUs)")
        return tuple(out)

    def new_state(self) -> AdmittedState:
        """The admitted-pods state with this pod's entries added: every container's exclusive CPUs
        and memory blocks, init containers' included (shrunk by what later containers reused), as
        the kubelet's checkpoints hold them until the pod goes; their blocks sum to max(init
        containers, app containers) per mask, what the node keeps reserved."""
        state, pod = self.state, self.pod
        for name, cpus in self.exclusive.items():
            state.cpus.setdefault(pod.uid, {})[name] = cpus
        for name, blocks in self.blocks.items():
            state.memory.setdefault(pod.uid, {})[name] = blocks
        if self.pod_pool is not None:
            state.pod_cpus[pod.uid] = self.pod_pool
        if self.pod_blocks is not None:
            state.pod_memory[pod.uid] = self.pod_blocks
        if state.has_pod(pod.uid):
            state.names[pod.uid] = f"{pod.namespace}/{pod.name}"
        return state


def _check_request(pod: PodSpec, node: NodeDescription, state: AdmittedState,
                   settings: KubeletSettings) -> PolicyOptions:
    """The options in force; raises UsageError where the kubelet would not start or the request is bad."""
    if settings.policy not in TOPOLOGY_MANAGER_POLICIES:
        raise UsageError(f"unknown Topology Manager policy {settings.policy!r}",
                         f"use one of: {', '.join(TOPOLOGY_MANAGER_POLICIES)}")
    if settings.scope not in TOPOLOGY_MANAGER_SCOPES:
        raise UsageError(f"unknown Topology Manager scope {settings.scope!r}",
                         f"use one of: {', '.join(TOPOLOGY_MANAGER_SCOPES)}")
    if state.has_pod(pod.uid):
        raise UsageError(f"pod {pod.name} (uid {pod.uid}) is already admitted in the state",
                         "give the pod another metadata.uid, or drop it from the state")
    options = policy_options(settings.cpu_policy_options, settings.topology_policy_options, settings.kubelet_version,
                             settings.strict_cpu_reservation)
    count = len(node.numa_nodes)
    if settings.policy != "none" and count > options.max_numa_nodes:
        # topologymanager NewManager: every policy but none
        raise UsageError(f"{node.source or 'the node'} has {count} NUMA nodes; the Topology Manager "
                         f"({settings.policy}) "
                         f"refuses more than {options.max_numa_nodes}",
                         "set the topologyManagerPolicyOptions max-allowable-numa-nodes, or use policy none")
    if options.align_by_socket:
        topo = node.cpu_topology()
        if settings.policy == "single-numa-node":
            raise UsageError("CPU Manager policy option align-by-socket with Topology Manager policy single-numa-node",
                             "the kubelet refuses this pair: drop one")
        if topo.num_sockets > topo.num_numa:
            raise UsageError("align-by-socket on a node with more sockets than NUMA nodes",
                             "the kubelet refuses it there: drop the option")
    return options

def plan_pod(pod: PodSpec, node: NodeDescription, state: AdmittedState | None = None, policy: str = "none",
             scope: str = "container", strict_cpu_reservation: bool = False, *,
             settings: KubeletSettings | None = None) -> PodPlan:
    """Admit ``pod`` on ``node`` (with ``state``'s pods already there) as the kubelet would, with
    CPU Manager static, Memory Manager Static and Topology Manager ``policy``/``scope``.

    ``settings``, when given, replaces ``policy``, ``scope`` and ``strict_cpu_reservation``.

    Never raises for a pod the kubelet would reject: the PodPlan says ``admitted=False`` and why.

    Raises:
        UsageError: an unknown policy or scope, a pod already in ``state``, a state that does
            not fit the node.
    """
    if settings is None:  # the keyword form; ``settings`` carries the options too
        settings = KubeletSettings(policy, scope, strict_cpu_reservation)
    state = state or AdmittedState()
    options = _check_request(pod, node, state, settings)
    adm = _Admission(pod, node, state, settings, options)
    notes = list(node.assumptions) + list(options.notes) + adm.pod_level_notes
    if not adm.sidecars and any(c.restartable for c in pod.init_containers):
        notes.append(f"kubelet 1.{options.version[1]} has no sidecar containers (SidecarContainers is on from 1.29): "
                     "restartPolicy Always init containers are planned as regular init containers")
    if any(c.other for c in pod.all_containers):
        notes.append("device and other extended resources give no hints in this model")
    try:
        per = adm.admit_all()
    except AdmissionRejected as rej:
        return PodPlan(pod, adm.qos, settings, node, state, rejection=Rejection.of(rej), notes=tuple(notes))
    placements = adm.placements(per, notes)
    return PodPlan(pod, adm.qos, settings, node, adm.new_state(), containers=placements, notes=tuple(notes))


def format_cpu(cores) -> str:
    """Cores as the API writes them: ``2``, ``500m``."""
    q = Fraction(cores)
    return str(int(q)) if q.denominator == 1 else f"{float(q * 1000):g}m"


def _fmt_hints(provider) -> str:
    """A provider's hints in words (for a rejection's detail)."""
    if provider is None:
        return "no preference"
    if not provider:
        return "no NUMA node mask has enough free memory"
    parts = []
    for res, hints in sorted(provider.items()):
        shown = ", ".join(str(h) for h in hints) if hints else "none fit"
        parts.append(f"{res}: {shown}")
    return "; ".join(parts)


def _why(policy: str, hint: Hint, cpu, mem, who: str) -> str:
    base = f"{who}: merged hint {hint}; CPU hints [{_fmt_hints(cpu)}]; memory hints [{_fmt_hints(mem)}]"
    if policy == "single-numa-node":
        return base + "; single-numa-node admits only a preferred hint on one NUMA node"
    return base + f"; {policy} admits only a preferred hint"
