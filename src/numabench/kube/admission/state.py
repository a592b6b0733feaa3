"""Pods already admitted on the node, shaped like the kubelet's checkpoint ``entries``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from numabench.errors import UsageError
from numabench.kube.admission.memory import Block
from numabench.kube.admission.node import cpu_list, read_document
from numabench.util.cpulist import format_cpulist

__all__ = ["AdmittedState", "load_state"]

@dataclass
class AdmittedState:
    """Pods already admitted on the node, shaped like the kubelet's checkpoint ``entries``:
    ``memory[pod uid][container] = [Block...]`` (memory_manager_state) and
    ``cpus[pod uid][container] = exclusive CPUs`` (cpu_manager_state); ``names[pod uid]`` for display.
    Pods managed as one unit (pod-level resources, KEP-5526) also hold ``pod_memory[pod uid]``
    (the checkpoint's ``podEntries``) and ``pod_cpus[pod uid]``."""

    memory: dict[str, dict[str, list[Block]]] = field(default_factory=dict)
    cpus: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    pod_memory: dict[str, list[Block]] = field(default_factory=dict)
    pod_cpus: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def copy(self) -> AdmittedState:
        return AdmittedState({u: {c: list(b) for c, b in cs.items()} for u, cs in self.memory.items()},
                             {u: dict(cs) for u, cs in self.cpus.items()}, dict(self.names),
                             {u: list(b) for u, b in self.pod_memory.items()}, dict(self.pod_cpus))

    @property
    def exclusive_cpus(self) -> set[int]:
        return ({c for cs in self.cpus.values() for cpus in cs.values() for c in cpus}
                | {c for cpus in self.pod_cpus.values() for c in cpus})

    def has_pod(self, uid: str) -> bool:
        return uid in self.memory or uid in self.cpus or uid in self.pod_memory or uid in self.pod_cpus

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pods": dict(sorted(self.names.items())),
            "memory": {u: {c: [b.to_dict() for b in bs] for c, bs in sorted(cs.items())}
                       for u, cs in sorted(self.memory.items())},
            "cpus": {u: {c: format_cpulist(v) for c, v in sorted(cs.items())} for u, cs in sorted(self.cpus.items())},
        }
        if self.pod_memory or self.pod_cpus:  # pods managed as one unit (pod-level resources)
            out["pod_memory"] = {u: [b.to_dict() for b in bs] for u, bs in sorted(self.pod_memory.items())}
            out["pod_cpus"] = {u: format_cpulist(v) for u, v in sorted(self.pod_cpus.items())}
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str = "state") -> AdmittedState:
        """Read ``to_dict``'s shape; a ``pod plan --json`` output (its ``state``) is accepted too.

        Raises:
            UsageError: malformed entries (named).
        """
        if isinstance(data, dict) and isinstance(data.get("state"), dict):
            data = data["state"]
        if not isinstance(data, dict):
            raise UsageError(f"{source}: not an admitted-pods state", "give the state (or a pod plan --json output)")
        state = cls(names={str(k): str(v) for k, v in (data.get("pods") or {}).items()})
        try:
            for uid, containers in (data.get("memory") or {}).items():
                for ctr, blocks in containers.items():
                    state.memory.setdefault(str(uid), {})[str(ctr)] = [
                        Block(tuple(int(n) for n in b["numaAffinity"]), str(b["type"]), int(b["size"])) for b in blocks
                    ]
            for uid, containers in (data.get("cpus") or {}).items():
                for ctr, cpus in containers.items():
                    state.cpus.setdefault(str(uid), {})[str(ctr)] = cpu_list(cpus, f"{source}: cpus of {uid}/{ctr}")
            for uid, blocks in (data.get("pod_memory") or {}).items():
                state.pod_memory[str(uid)] = [
                    Block(tuple(int(n) for n in b["numaAffinity"]), str(b["type"]), int(b["size"])) for b in blocks]
            for uid, cpus in (data.get("pod_cpus") or {}).items():
                state.pod_cpus[str(uid)] = cpu_list(cpus, f"{source}: pod cpus of {uid}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"{source}: malformed admitted-pods entry ({type(exc).__name__}: {exc})",
                             "memory entries are [{numaAffinity: [0], type: memory, size: BYTES}]") from None
        return state


def load_state(path: str) -> AdmittedState:
    """Read an admitted-pods state file (JSON or YAML; see ``AdmittedState``).

    Raises:
        UsageError: unreadable, unparsable or malformed.
    """
    return AdmittedState.from_dict(read_document(path, "admitted-pods state"), source=os.path.basename(path))
