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
  with CPUs (preferred = as few nodes as could hold the request on an empty machine);
  ``allocateCPUs`` (aligned CPUs first, the rest from anywhere; too few -> error); reserved CPUs
  are never given exclusively and stay in the shared pool unless ``strict-cpu-reservation``.
- ``pkg/kubelet/cm/admission/errors.go``: rejection reasons.

Simplified, on purpose (docs/pod-model.md lists these):

- CPUs are taken lowest id first within the aligned nodes, not by ``takeByTopology`` (which
  prefers whole sockets, then whole cores, i.e. SMT siblings together). CPU Manager policy
  options (``full-pcpus-only``, ``distribute-cpus-across-numa``...) are not modelled.
- Init containers are planned first, then their exclusive CPUs and memory are given back
  before the app containers are planned (the kubelet reuses them more narrowly, per NUMA mask).
  Sidecars (``restartPolicy: Always``) keep theirs.
- The Topology Manager option ``prefer-closest-numa-nodes`` is not modelled (narrowest wins);
  more than 8 NUMA nodes are refused, as the kubelet does without ``max-allowable-numa-nodes``.
- Device plugins (GPUs, NICs) give no hints here; the kubelet's general resource-fit check
  (``OutOfcpu``/``OutOfmemory``) is not modelled: only the managers' own checks are.

Modules: ``bitmask`` (masks), ``hints`` (Topology Manager merge), ``node`` (the node file),
``state`` (admitted pods), ``memory`` (Memory Manager), ``cpu`` (CPU Manager), ``rejection``
(the kubelet's rejection reasons), ``plan`` (one pod's admission, ``PodPlan``).
"""

from __future__ import annotations

from numabench.kube.admission.hints import Hint, merge_hints
from numabench.kube.admission.memory import Block
from numabench.kube.admission.node import NodeDescription, NumaNode, load_node
from numabench.kube.admission.plan import ContainerPlacement, KubeletSettings, PodPlan, Rejection, format_cpu, plan_pod
from numabench.kube.admission.state import AdmittedState, load_state

__all__ = [
    "AdmittedState",
    "Block",
    "ContainerPlacement",
    "Hint",
    "KubeletSettings",
    "NodeDescription",
    "NumaNode",
    "PodPlan",
    "Rejection",
    "format_cpu",
    "load_node",
    "load_state",
    "merge_hints",
    "plan_pod",
]
