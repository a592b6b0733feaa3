"""A model of one node's kubelet admission: CPU Manager ``static``, Memory Manager ``Static`` and the
Topology Manager (policies ``none``, ``best-effort``, ``restricted``, ``single-numa-node``; scopes
``container`` and ``pod``). Given a node, the pods already admitted and a pod spec, it answers what
the kubelet would do: per container the exclusive CPUs or the shared pool (``cpuset.cpus``), the
NUMA nodes of its memory (``cpuset.mems``), or the rejection (``TopologyAffinityError``, or an
allocation error the kubelet reports as ``UnexpectedAdmissionError``).

Sources (kubernetes/kubernetes; written afresh in Python, same rules):

- ``pkg/kubelet/cm/topologymanager/bitmask/bitmask.go``: masks, ``IsNarrowerThan`` (fewer bits,
  then the lower value), ``IterateBitMasks`` (all non-empty subsets, by size).
- ``pkg/kubelet/cm/topologymanager/policy.go``: ``filterProvidersHints`` (a provider without
  hints is a preferred "don't care"; a resource with an empty hint list is a non-preferred
  "don't care"), ``mergePermutation`` (bitwise AND; preferred only if every hint is preferred
  *and* every non-nil affinity is equal), ``HintMerger.compare`` (preferred beats
  non-preferred; among preferred the narrowest; among non-preferred the one closest to the
  largest "narrowest hint" of any provider), nothing mergeable gives ``{all nodes, false}``.
- ``policy_best_effort.go`` (always admit), ``policy_restricted.go`` (admit iff preferred),
  ``policy_single_numa_node.go`` (keep only preferred single-node or don't-care hints, merge,
  an all-nodes result becomes nil, admit iff preferred), ``policy_none.go`` / ``scope.go``
  ``admitPolicyNone`` (no merge: every manager allocates with an empty hint).
- ``scope_container.go`` (hints, merge and allocate per container, init containers first,
  each allocation seen by the next container), ``scope_pod.go`` (one merge for the pod, every
  container allocated with that hint).
- ``pkg/kubelet/cm/memorymanager/policy_static.go``: Guaranteed pods only, fractional CPUs
  included; ``calculateHints`` (every node mask with enough allocatable memory sets the minimal
  mask size; masks that break the "single NUMA node or cross NUMA group" rules or lack free
  memory are dropped; preferred = minimal size), ``Allocate`` (empty hint -> the best default
  hint; a hint too small -> extended to the narrowest containing mask; a mask breaking the
  group rules -> error), ``updateMachineState`` (fill node by node), ``getPodRequestedResources``
  (pod scope: app containers plus sidecars, at least the largest init container),
  ``getDefaultMachineState`` (allocatable = total - reserved - hugepages).
- ``pkg/kubelet/cm/cpumanager/policy_static.go``: exclusive CPUs only for Guaranteed containers
  with a whole CPU count (``guaranteedCPUs``); ``generateCPUTopologyHints`` over the nodes
  with CPUs, every mask holding the pod's reusable init-container CPUs (preferred = as few nodes as
  could hold the request on an empty machine; ``align-by-socket``: or as few sockets);
  ``allocateCPUs`` (aligned CPUs first, the rest from anywhere, both by ``takeByTopology``; too few
  -> error); ``updateCPUsToReuse`` (a regular init container's CPUs offered to later containers,
  not a sidecar's); ``full-pcpus-only`` (``SMTAlignmentError``); reserved CPUs are never given
  exclusively and stay in the shared pool unless ``strict-cpu-reservation``.
- ``pkg/kubelet/cm/cpumanager/cpu_assignment.go``: ``takeByTopologyNUMAPacked`` and
  ``takeByTopologyNUMADistributed`` (module ``cputopo``).
- ``memorymanager/policy_static.go`` init-container reuse: ``getPodReusableMemory``,
  ``updatePodReusableMemory``, ``updateInitContainerMemoryBlocks`` (per NUMA mask and type;
  sidecars excluded).
- ``topologymanager/topology_manager.go`` ``NewManager``: more than 8 NUMA nodes (or
  ``max-allowable-numa-nodes``) refused under every policy but ``none``; ``policy_options.go``
  and ``numa_info.go`` (``prefer-closest-numa-nodes``: ``NUMAInfo.Closest``).
- ``pkg/kubelet/cm/admission/errors.go``: rejection reasons.

Checked against the kubelet's own unit tests: tests/data/kubelet-conformance (docs/pod-model.md
gives the figure and lists every remaining difference).

Simplified, on purpose (docs/pod-model.md lists these with the upstream test or source):

- Pod-level resources (``spec.resources``, module ``podlevel``): the memory side as the newest
  memory manager does it; the CPU side by the same rules (checked against the CPU manager's tests).
- ``prefer-align-cpus-by-uncorecache`` is accepted but has no effect; the CPU order of
  ``distribute-cpus-across-cores`` (``sortAvailableCPUsSpread``) is unchecked against upstream tests.
- Device plugins (GPUs, NICs) give no hints; the kubelet's general resource-fit check
  (``OutOfcpu``/``OutOfmemory``) is not modelled: only the managers' own checks are.
- A pod already in the state is refused; containers are never removed.

Modules: ``bitmask`` (masks), ``hints`` (Topology Manager merge), ``node`` (the node file, CPU
places, distances), ``state`` (admitted pods), ``memory`` (Memory Manager), ``cpu`` (CPU Manager),
``cputopo`` (``takeByTopology``), ``options`` (policy options and the kubelet version table),
``podlevel`` (pod-level resources),
``rejection`` (the kubelet's rejection reasons), ``plan`` (one pod's admission, ``PodPlan``).
"""

from __future__ import annotations

from numabench.kube.admission.hints import Hint, merge_hints
from numabench.kube.admission.memory import Block
from numabench.kube.admission.node import NodeDescription, NumaNode, load_node
from numabench.kube.admission.options import CPU_OPTIONS, LATEST, TOPOLOGY_OPTIONS, PolicyOptions, policy_options
from numabench.kube.admission.plan import ContainerPlacement, KubeletSettings, PodPlan, Rejection, format_cpu, plan_pod
from numabench.kube.admission.state import AdmittedState, load_state

__all__ = [
    "CPU_OPTIONS",
    "LATEST",
    "TOPOLOGY_OPTIONS",
    "AdmittedState",
    "Block",
    "ContainerPlacement",
    "Hint",
    "KubeletSettings",
    "NodeDescription",
    "NumaNode",
    "PodPlan",
    "PolicyOptions",
    "Rejection",
    "format_cpu",
    "load_node",
    "load_state",
    "merge_hints",
    "plan_pod",
    "policy_options",
]
