"""Check a KubeletConfiguration (kubelet.config.k8s.io/v1beta1) against Memory Manager's rules.

The rules the kubelet enforces at start (it refuses to start when one is broken):

- ``pkg/kubelet/apis/config/validation/validation_reserved_memory.go``: each ``reservedMemory``
  limit is ``memory`` or ``hugepages-<size>``; no zero value; no NUMA node + type twice.
- ``pkg/kubelet/cm/memorymanager/memory_manager.go`` (``validateReservedMemory``,
  ``getTotalMemoryTypeReserved``), Static policy only: every NUMA node named exists; for
  ``memory`` and each hugepage type, the sum over nodes of ``reservedMemory`` EQUALS (exact
  ``Quantity.Equal``) the node-allocatable reservation of that type: kubeReserved +
  systemReserved + the hard eviction threshold ``evictionHard["memory.available"]``.
- ``policy_static.go`` (``NewPolicyStatic``): the reserved ``memory`` may not total zero.

Hard eviction default: 100Mi when ``evictionHard`` is not set at all. When ``evictionHard`` is set
without ``memory.available`` the default is not inherited (it is 0) unless
``mergeDefaultEvictionSettings: true`` (Kubernetes docs, "Node-pressure Eviction").

Besides those, for NUMA alignment: Static memory needs ``cpuManagerPolicy: static`` (otherwise the
pod's CPUs stay in the shared pool, on every node) and a Topology Manager policy that merges hints
(``restricted`` or ``single-numa-node``).

Quantities are parsed by ``numabench.kube.resources.parse_quantity`` (as ``resource.Quantity``;
uppercase ``K`` is not a Kubernetes suffix). Sums are exact fractions.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from numabench.errors import QuantityError, UsageError
from numabench.host.topology import Topology, read_topology, read_topology_tree
from numabench.kube.admission.reserved import NodeAllocatableReservation, reserved_memory_problems
from numabench.kube.resources import (
    CPU,
    CPU_MANAGER_POLICIES,
    DEFAULT_EVICTION_HARD_MEMORY_BYTES,
    HUGEPAGES_PREFIX,
    MAX_NUMA_NODES,
    MEMORY_MANAGER_POLICIES,
    TOPOLOGY_MANAGER_POLICIES,
    TOPOLOGY_MANAGER_SCOPES,
    format_quantity,
    parse_quantity,
)
from numabench.util import docload
from numabench.util.cpulist import parse_cpulist

__all__ = [
    "Finding",
    "KubeletConfig",
    "lint_config",
    "load_kubelet_config",
    "parse_config",
    "lint_file",
    "load_config",
    "load_topology",
]


@dataclass(frozen=True)
class Finding:
    """One lint result: ``severity`` is "error" (the kubelet refuses, or alignment is impossible),
    "warning" or "info"."""

    severity: str
    rule: str
    message: str
    fix: str

    def line(self) -> str:
        return f"{self.severity}: {self.rule}: {self.message}; fix: {self.fix}"

    def to_dict(self) -> dict[str, str]:
        return {"severity": self.severity, "rule": self.rule, "message": self.message, "fix": self.fix}


def load_config(path: str) -> dict[str, Any]:
    """Read a KubeletConfiguration YAML file into a dict.

    Raises:
        UsageError: unreadable, not YAML, not a mapping, or not a KubeletConfiguration.
    """
    doc = docload.load_document(path, what="KubeletConfiguration file", max_bytes=16 << 20,
                                fix="give the kubelet's --config file (a KubeletConfiguration YAML)")
    if not isinstance(doc, dict):
        raise UsageError(f"{path} is not a YAML mapping", "give a KubeletConfiguration (kind: KubeletConfiguration)")
    kind = doc.get("kind")
    if kind != "KubeletConfiguration":
        raise UsageError(f"{path} has kind {kind!r}, not KubeletConfiguration",
                         "give the kubelet's --config file (apiVersion: kubelet.config.k8s.io/v1beta1)")
    return doc


def load_topology(source: str | None) -> Topology | None:
    """``"sysfs"``: this machine; a directory: a captured tree (``numabench topology --capture``);
    a file: the JSON of ``numabench topology --json``. None: no topology.

    Raises:
        UsageError / TopologyError: the source cannot be read.
    """
    if not source:
        return None
    if source == "sysfs":
        return read_topology("/sys", "/proc")
    if os.path.isdir(source):
        return read_topology_tree(source) if os.path.isdir(os.path.join(source, "sys")) else read_topology(source)
    fix = "use --topology-from sysfs, a captured tree, or `numabench topology --json` output"
    doc = docload.expect(docload.load_json(source, what="topology file", fix=fix), dict, f"the top of {source}",
                         fix=fix)
    try:
        return Topology.from_dict(doc.get("topology", doc))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"cannot read a topology from {source} ({type(exc).__name__}: {exc})",
                         "use --topology-from sysfs, a captured tree, or `numabench topology --json` output") from None


def _quantities(doc: dict, key: str, findings: list[Finding]) -> dict[str, Fraction]:
    raw = doc.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        findings.append(Finding("error", "config-type", f"{key} is {type(raw).__name__}, not a mapping",
                                f"write {key} as a mapping, e.g. {key}: {{memory: 512Mi}}"))
        return {}
    out: dict[str, Fraction] = {}
    for name, value in raw.items():
        if key == "evictionHard" and isinstance(value, str) and value.strip().endswith("%"):
            continue  # percentages are resolved against capacity by the caller
        try:
            out[str(name)] = parse_quantity(value, f"{key}.{name}")
        except QuantityError as exc:
            findings.append(Finding("error", "quantity", exc.message,
                                    "write a Kubernetes quantity such as 512Mi, 1Gi or 1.5Gi"))
    return out


def _eviction_memory(doc: dict, topo: Topology | None, findings: list[Finding]) -> Fraction | None:
    """The hard eviction reservation for memory, in bytes; None when it cannot be known."""
    hard = doc.get("evictionHard")
    if hard is None:
        return Fraction(DEFAULT_EVICTION_HARD_MEMORY_BYTES)
    if not isinstance(hard, dict):
        return None  # reported by _quantities
    if "memory.available" not in hard:
        if doc.get("mergeDefaultEvictionSettings") is True:
            return Fraction(DEFAULT_EVICTION_HARD_MEMORY_BYTES)
        findings.append(Finding(
            "info", "eviction-default",
            "evictionHard is set without memory.available: the 100Mi default is not inherited, the memory "
            "threshold is 0 (unless mergeDefaultEvictionSettings: true)",
            "set evictionHard memory.available explicitly (e.g. 100Mi) and account for it in reservedMemory"))
        return Fraction(0)
    value = hard["memory.available"]
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            pct = Fraction(value.strip()[:-1]) / 100
        except ValueError:
            findings.append(Finding("error", "quantity",
                                    f"evictionHard.memory.available: {value!r} is not a percentage",
                                    "write e.g. 5% or a quantity such as 100Mi"))
            return None
        if topo is None:
            findings.append(Finding(
                "warning", "eviction-percentage",
                f"evictionHard memory.available is {value}: the reservation depends on the node's memory capacity, "
                "so the reservedMemory sum cannot be checked without a topology",
                "pass --topology-from sysfs (on the node) or a captured tree"))
            return None
        capacity = sum(n.mem_total_bytes for n in topo.nodes) or topo.system_mem_total_bytes
        # eviction's GetThresholdQuantity: int64(float64(capacity) * float64(percentage))
        return Fraction(int(float(capacity) * float(pct)))
    try:
        return parse_quantity(value)
    except QuantityError:
        return None  # reported by _quantities


def _policies(doc: dict[str, Any], findings: list[Finding]) -> tuple[str, str, str | None]:
    """The three policies (memory, CPU, topology manager), with findings on their names and on
    combinations that cannot align."""
    mm = doc.get("memoryManagerPolicy", "None")
    cpu = doc.get("cpuManagerPolicy", "none")
    tm = doc.get("topologyManagerPolicy")
    if mm not in MEMORY_MANAGER_POLICIES:
        findings.append(Finding("error", "memory-manager-policy", f"memoryManagerPolicy {mm!r} is not a policy",
                                f"use one of {', '.join(MEMORY_MANAGER_POLICIES)} (case matters)"))
    if cpu not in CPU_MANAGER_POLICIES:
        findings.append(Finding("error", "cpu-manager-policy", f"cpuManagerPolicy {cpu!r} is not a policy",
                                "use none or static"))
    if tm is not None and tm not in TOPOLOGY_MANAGER_POLICIES:
        findings.append(Finding("error", "topology-manager-policy", f"topologyManagerPolicy {tm!r} is not a policy",
                                f"use one of {', '.join(TOPOLOGY_MANAGER_POLICIES)}"))
    static = mm == "Static"
    if static and cpu != "static":
        findings.append(Finding(
            "error", "static-needs-cpu-manager",
            f"memoryManagerPolicy Static with cpuManagerPolicy {cpu}: Guaranteed pods' memory is pinned to a NUMA "
            "node while their CPUs stay in the shared pool on every node, so nothing is aligned",
            "set cpuManagerPolicy: static (and reserve CPUs with reservedSystemCPUs or kube/systemReserved cpu)"))
    if static and tm is None:
        findings.append(Finding(
            "error", "static-needs-topology-manager",
            "memoryManagerPolicy Static without topologyManagerPolicy (default none): memory and CPU hints are "
            "never merged", "set topologyManagerPolicy: single-numa-node (or restricted)"))
    elif static and tm in ("none", "best-effort"):
        findings.append(Finding(
            "warning", "topology-manager-not-aligning",
            f"topologyManagerPolicy {tm} admits pods whose CPUs and memory land on different NUMA nodes",
            "use single-numa-node (or restricted) when alignment is the goal"))

    return mm, cpu, tm


def _supported_type(node: int, name: str, findings: list[Finding]) -> bool:
    if name == "memory" or name.startswith(HUGEPAGES_PREFIX):
        return True
    findings.append(Finding("error", "reserved-memory-resource",
                            f"reservedMemory NUMA node {node}: limit type {name!r} is not supported",
                            "use memory or hugepages-<size> (e.g. hugepages-2Mi, hugepages-1Gi)"))
    return False


def _limit_quantity(node: int, name: str, value: Any, findings: list[Finding]) -> Fraction | None:
    """One ``reservedMemory`` limit's quantity, or None (reported) when it is not one."""
    try:
        q = parse_quantity(value, f"reservedMemory NUMA node {node} {name}")
    except QuantityError as exc:
        findings.append(Finding("error", "quantity", exc.message,
                                "write a Kubernetes quantity such as 1124Mi or 1.5Gi"))
        return None
    if q == 0:
        findings.append(Finding("error", "reserved-memory-zero", f"reservedMemory NUMA node {node} {name} is zero",
                                "remove the entry or give it a positive size"))
    return q


@dataclass
class _Reserved:
    """``reservedMemory`` summed per type; the nodes it names; types that cannot be summed."""

    sums: dict[str, Fraction]
    nodes: list[int]
    unparsed: set[str]
    entries: list
    per_node: dict[int, dict[str, Fraction]] = field(default_factory=dict)  # the parsable limits


def _reserved_memory(doc: dict[str, Any], findings: list[Finding]) -> _Reserved:
    """``reservedMemory: [{numaNode: 0, limits: {memory: 1124Mi, hugepages-2Mi: 2Gi}}]``, checked as
    ``validation_reserved_memory.go`` does (types, zero values, duplicates)."""
    reserved = doc.get("reservedMemory") or []
    out = _Reserved({}, [], set(), reserved if isinstance(reserved, list) else [])
    seen: set[tuple[int, str]] = set()
    if not isinstance(reserved, list):
        findings.append(Finding("error", "config-type", "reservedMemory is not a list",
                                "write reservedMemory as a list of {numaNode: N, limits: {memory: ...}}"))
    for i, entry in enumerate(out.entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("limits", {}), dict):
            findings.append(Finding("error", "config-type", f"reservedMemory[{i}] is not {{numaNode, limits}}",
                                    "write {numaNode: 0, limits: {memory: 1124Mi}}"))
            continue
        node = entry.get("numaNode", 0)
        if isinstance(node, bool) or not isinstance(node, int) or not -(1 << 31) <= node < (1 << 31):
            findings.append(Finding("error", "config-type", f"reservedMemory[{i}].numaNode {node!r} is not an int32",
                                    "write the NUMA node id, e.g. numaNode: 0"))
            continue
        out.nodes.append(node)
        for name, value in (entry.get("limits") or {}).items():
            name = str(name)
            if not _supported_type(node, name, findings):
                out.unparsed.add(name)  # reported; no sum for it
            q = _limit_quantity(node, name, value, findings)
            if q is None:
                out.unparsed.add(name)
                continue
            if (node, name) in seen:
                findings.append(Finding("error", "reserved-memory-duplicate",
                                        f"reservedMemory has NUMA node {node} {name} twice",
                                        "merge the two entries into one"))
            seen.add((node, name))
            out.sums[name] = out.sums.get(name, Fraction(0)) + q
            limits = out.per_node.setdefault(node, {})
            limits[name] = limits.get(name, Fraction(0)) + q
    return out


def _topology_findings(doc: dict[str, Any], topo: Topology, nodes_named: list[int], tm: str | None,
                       findings: list[Finding]) -> None:
    """Rules that need the machine: nodes that exist, at most 8 NUMA nodes for the Topology Manager."""
    for node in sorted(set(nodes_named)):
        if node not in topo.node_ids:
            findings.append(Finding(
                "error", "reserved-memory-node",
                f"reservedMemory names NUMA node {node}, which this machine does not have "
                f"(nodes: {', '.join(map(str, topo.node_ids))})",
                "reserve memory only on existing nodes"))
    options = doc.get("topologyManagerPolicyOptions") or {}
    if (len(topo.nodes) > MAX_NUMA_NODES and tm not in (None, "none")
            and "max-allowable-numa-nodes" not in options):
        findings.append(Finding(
            "error", "topology-manager-numa-nodes",
            f"this machine has {len(topo.nodes)} NUMA nodes; the Topology Manager refuses more than "
            f"{MAX_NUMA_NODES}", "set topologyManagerPolicyOptions max-allowable-numa-nodes"))


def _node_allocatable(doc: dict[str, Any], topo: Topology | None,
                      findings: list[Finding]) -> NodeAllocatableReservation:
    """kubeReserved, systemReserved and the hard eviction threshold for memory (None: not known)."""
    kube_reserved = _quantities(doc, "kubeReserved", findings)
    system_reserved = _quantities(doc, "systemReserved", findings)
    _quantities(doc, "evictionHard", findings)
    return NodeAllocatableReservation(kube_reserved, system_reserved, _eviction_memory(doc, topo, findings))


def _sum_findings(mm: str, reserved: _Reserved, alloc: NodeAllocatableReservation, findings: list[Finding]) -> None:
    """``validateReservedMemory`` (``kube.admission.reserved``): per memory type, the sum over NUMA
    nodes must equal kubeReserved + systemReserved (+ the hard eviction threshold, for memory).
    An error under Static; a warning under the other policies, which ignore it."""
    for p in reserved_memory_problems(reserved.per_node, alloc, None, reserved.unparsed):
        rtype, have, want = p.rtype or "", p.have or Fraction(0), p.want or Fraction(0)
        message = (f"{rtype}: reservedMemory totals {format_quantity(have)} over NUMA nodes, but "
                   f"{alloc.parts(rtype)} = {format_quantity(want)}; they must be equal")
        fix_sum = f"make the {rtype} limits of reservedMemory add up to exactly {format_quantity(want)}"
        if mm == "Static":
            findings.append(Finding("error", "reserved-memory-sum", message + " (the kubelet refuses to start)",
                                    fix_sum))
        elif reserved.entries:
            findings.append(Finding("warning", "reserved-memory-sum",
                                    message + f" (ignored under memoryManagerPolicy {mm}; Static would refuse it)",
                                    fix_sum))


@dataclass(frozen=True)
class KubeletConfig:
    """The settings of a KubeletConfiguration that the CPU, Memory and Topology Managers use, typed;
    ``findings`` is what ``kubelet lint`` reports on it. Sizes in bytes (exact fractions)."""

    path: str
    memory_manager_policy: str  # "None" when not set, as the kubelet
    cpu_manager_policy: str  # "none" when not set
    topology_manager_policy: str | None  # None: not set (the kubelet's default, none)
    topology_manager_scope: str | None  # None: not set (container)
    cpu_manager_policy_options: dict[str, str]
    topology_manager_policy_options: dict[str, str]
    reserved_system_cpus: tuple[int, ...] | None  # None: not set
    reserved_memory: dict[int, dict[str, Fraction]]  # NUMA node -> type -> bytes (parsable entries)
    reservation: NodeAllocatableReservation
    reserved_cpu_count: int  # ceil(kubeReserved cpu + systemReserved cpu), used without reservedSystemCPUs
    findings: tuple[Finding, ...] = field(default=())
    feature_gates: dict[str, bool] = field(default_factory=dict)  # featureGates (PodLevelResourceManagers...)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


def _string_map(doc: dict[str, Any], key: str, findings: list[Finding]) -> dict[str, str]:
    """A ``map[string]string`` field (policy options): YAML ``true`` unquoted is a bool, which the
    kubelet's decoder refuses."""
    raw = doc.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        findings.append(Finding("error", "config-type", f"{key} must map option names to strings (got {raw!r})",
                                f"quote the values, e.g. {key}: {{full-pcpus-only: \"true\"}}"))
        return {}
    return {str(k): v for k, v in raw.items()}


def _feature_gates(doc: dict[str, Any], findings: list[Finding]) -> dict[str, bool]:
    """``featureGates``, a ``map[string]bool``: a quoted "true" is refused by the kubelet's decoder."""
    raw = doc.get("featureGates")
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, bool) for v in raw.values()):
        findings.append(Finding("error", "config-type", f"featureGates must map gate names to true/false (got {raw!r})",
                                "write e.g. featureGates: {PodLevelResourceManagers: true}, unquoted"))
        return {}
    return {str(k): v for k, v in raw.items()}


def _scope_and_cpus(doc: dict[str, Any], findings: list[Finding]) -> tuple[str | None, tuple[int, ...] | None]:
    scope = doc.get("topologyManagerScope")
    if scope is not None and scope not in TOPOLOGY_MANAGER_SCOPES:
        findings.append(Finding("error", "topology-manager-scope", f"topologyManagerScope {scope!r} is not a scope",
                                f"use one of {', '.join(TOPOLOGY_MANAGER_SCOPES)}"))
        scope = None
    raw = doc.get("reservedSystemCPUs")
    cpus = None
    if raw not in (None, ""):
        try:
            cpus = parse_cpulist(str(raw)) if isinstance(raw, (str, int)) and not isinstance(raw, bool) else None
            if cpus is None:
                raise ValueError(f"{raw!r} is not a string")
        except ValueError as exc:
            findings.append(Finding("error", "config-type", f"reservedSystemCPUs: {exc}",
                                    "write a CPU list string such as \"0,32\""))
    return scope, cpus


def _reserved_cpu_count(alloc: NodeAllocatableReservation) -> int:
    # cpumanager NewManager: the static policy reserves ceil(kubeReserved cpu + systemReserved cpu) CPUs.
    total = Fraction(alloc.kube_reserved.get(CPU, 0)) + Fraction(alloc.system_reserved.get(CPU, 0))
    return math.ceil(total)


def parse_config(doc: dict[str, Any], topo: Topology | None = None, path: str = "",
                 state_dir: str = "/var/lib/kubelet") -> KubeletConfig:
    """A KubeletConfiguration mapping as typed settings, with the lint findings (rule order)."""
    findings: list[Finding] = []
    mm, cpu, tm = _policies(doc, findings)
    static = mm == "Static"
    alloc = _node_allocatable(doc, topo, findings)
    reserved = _reserved_memory(doc, findings)
    if topo is not None:
        _topology_findings(doc, topo, reserved.nodes, tm, findings)
    _sum_findings(mm, reserved, alloc, findings)
    unparsed, sums = reserved.unparsed, reserved.sums
    if static and "memory" not in unparsed and sums.get("memory", Fraction(0)) <= 0:
        findings.append(Finding("error", "static-needs-reserved-memory",
                                "memoryManagerPolicy Static with no memory in reservedMemory: the Static policy "
                                "refuses to start (\"you should specify the system reserved memory\")",
                                "reserve memory on a NUMA node, e.g. reservedMemory: [{numaNode: 0, limits: "
                                "{memory: 100Mi}}], matching kube/systemReserved + evictionHard"))
    if static or cpu == "static":
        findings.append(Finding(
            "info", "policy-change-needs-state-removal",
            f"the kubelet refuses a state file written under another policy "
            f"({state_dir}/memory_manager_state, {state_dir}/cpu_manager_state)",
            "when changing memoryManagerPolicy or cpuManagerPolicy: drain the node, stop the kubelet, remove the "
            "state file(s), start the kubelet, uncordon"))
    scope, cpus = _scope_and_cpus(doc, findings)
    cpu_options = _string_map(doc, "cpuManagerPolicyOptions", findings)
    tm_options = _string_map(doc, "topologyManagerPolicyOptions", findings)
    gates = _feature_gates(doc, findings)
    return KubeletConfig(path, mm, cpu, tm, scope, cpu_options, tm_options, cpus, reserved.per_node, alloc,
                         _reserved_cpu_count(alloc), tuple(findings), gates)


def lint_config(doc: dict[str, Any], topo: Topology | None = None,
                state_dir: str = "/var/lib/kubelet") -> list[Finding]:
    """Check a KubeletConfiguration mapping; findings in rule order (errors, warnings, infos mixed)."""
    return list(parse_config(doc, topo, state_dir=state_dir).findings)


def load_kubelet_config(path: str, topo: Topology | None = None) -> KubeletConfig:
    """``parse_config(load_config(path), topo, path)``.

    Raises:
        UsageError: what ``load_config`` raises.
    """
    return parse_config(load_config(path), topo, path)


def lint_file(path: str, topology_from: str | None = None) -> list[Finding]:
    """``lint_config(load_config(path), load_topology(topology_from))``. Raises UsageError for
    unreadable files, invalid YAML, or a document that is not a KubeletConfiguration."""
    doc = load_config(path)
    topo = load_topology(topology_from)
    return lint_config(doc, topo)
