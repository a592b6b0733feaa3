"""The pods a node already admitted, from its kubelet's checkpoints, and back.

``replay_checkpoints`` reads ``memory_manager_state`` and ``cpu_manager_state`` (every format the
kubelet wrote, checksums verified by ``kube.kubelet.checkpoint``) into an ``AdmittedState``:
``entries`` -> per-container memory blocks and exclusive CPUs, ``podEntries`` -> pod-level ones.
``write_checkpoints`` writes an ``AdmittedState`` on a node as the kubelet would (machine state
per NUMA node from the model's ``machine_state``, the shared pool as ``defaultCpuSet``), so a chain
of ``pod plan`` runs can be replayed, and the files read by ``numabench kubelet state``.
"""

from __future__ import annotations

import os

from numabench.errors import CheckpointError, UsageError
from numabench.kube.admission.memory import Block, machine_state
from numabench.kube.admission.node import NodeDescription
from numabench.kube.admission.state import AdmittedState
from numabench.kube.kubelet.checkpoint import (
    CpuManagerState,
    MemoryManagerState,
    dump_cpu_manager_state,
    dump_memory_manager_state,
    load_cpu_manager_state,
    load_memory_manager_state,
    state_paths,
)
from numabench.util.atomicfile import write_atomic
from numabench.util.units import format_size

__all__ = ["machine_state_differences", "node_machine_state", "replay_checkpoints", "state_from_checkpoints",
           "write_checkpoints"]


def _blocks(raw: list[dict]) -> list[Block]:
    return [Block(tuple(b["numa_affinity"]), b["type"], b["size_bytes"]) for b in raw]


def _as_dicts(blocks: list[Block]) -> list[dict]:
    return [{"numa_affinity": list(b.numa_affinity), "type": b.type, "size_bytes": b.size} for b in blocks]


def state_from_checkpoints(mem: MemoryManagerState | None,
                           cpu: CpuManagerState | None) -> tuple[AdmittedState, list[str]]:
    """The admitted pods of two decoded checkpoints (either may be absent), and notes for the plan.

    Raises:
        CheckpointError: a v1 cpu_manager_state (keyed by container id: no pod to replay).
    """
    state, notes = AdmittedState(), []
    if mem is not None:
        if mem.policy_name.lower() != "static":
            notes.append(f"{mem.path}: memory manager policy {mem.policy_name!r}, not Static: the node pins no memory "
                         "(its entries, if any, are replayed)")
        for uid, containers in mem.entries.items():
            state.memory[uid] = {c: _blocks(bl) for c, bl in containers.items()}
        state.pod_memory.update({uid: _blocks(bl) for uid, bl in mem.pod_entries.items()})
        if not mem.checksum.verified:
            notes.append(f"{mem.path}: {mem.checksum.detail}")
    if cpu is not None:
        if "" in cpu.entries:
            raise CheckpointError(f"{cpu.path} is in the v1 format (entries keyed by container id, not pod uid): "
                                  "its pods cannot be replayed, and current kubelets refuse it",
                                  "remove it as the kubelet's recovery says (drain, stop the kubelet, remove the "
                                  "file, start, uncordon), or replay only memory_manager_state")
        if cpu.policy_name != "static":
            notes.append(f"{cpu.path}: CPU manager policy {cpu.policy_name!r}, not static: no exclusive CPUs")
        for uid, cpusets in cpu.entries.items():
            state.cpus[uid] = dict(cpusets)
        state.pod_cpus.update({uid: tuple(cpus) for uid, cpus in cpu.pod_entries.items()})
        if not cpu.checksum.verified:
            notes.append(f"{cpu.path}: {cpu.checksum.detail}")
    for uid in sorted({*state.memory, *state.cpus, *state.pod_memory, *state.pod_cpus}):
        state.names[uid] = uid  # checkpoints hold pod uids only
    return state, notes


def replay_checkpoints(state_dir: str, node: NodeDescription | None = None) -> tuple[AdmittedState, list[str]]:
    """The pods admitted on a node, from the kubelet's checkpoints under ``state_dir`` (its
    ``--root-dir``, /var/lib/kubelet). A file that is absent replays as no pods for its manager,
    and a note says so; with ``node``, a note also says where the checkpoint's machine state
    differs from the node's (the kubelet there would refuse the file).

    Raises:
        CheckpointError: neither file exists, ``state_dir`` is not a directory, or a file the kubelet
            would refuse (corrupt, bad checksum, wrong types: ``load_*_manager_state``).
    """
    if not os.path.isdir(state_dir):
        raise CheckpointError(f"{state_dir} is not a directory",
                              "give the kubelet's --root-dir (default /var/lib/kubelet) to --state-dir")
    mem_path, cpu_path = state_paths(state_dir)
    have_mem, have_cpu = os.path.lexists(mem_path), os.path.lexists(cpu_path)
    if not have_mem and not have_cpu:
        raise CheckpointError(f"neither {mem_path} nor {cpu_path} exists",
                              "give the kubelet's --root-dir (default /var/lib/kubelet) to --state-dir")
    mem = load_memory_manager_state(mem_path) if have_mem else None
    cpu = load_cpu_manager_state(cpu_path) if have_cpu else None
    state, notes = state_from_checkpoints(mem, cpu)
    if mem is not None and node is not None and mem.machine_state:
        diffs = machine_state_differences(mem, node, state)
        if diffs:
            notes.append(f"{mem_path}: its machineState does not match this node and its pods ({'; '.join(diffs)}): "
                         "a kubelet on this node would refuse it (validateState); the pods are replayed anyway")
    notes += [f"{p} is absent: no pods replayed from it" for p, have in ((mem_path, have_mem), (cpu_path, have_cpu))
              if not have]
    return state, notes


def node_machine_state(node: NodeDescription, state: AdmittedState) -> dict[int, dict]:
    """The Memory Manager's ``machineState`` for ``state`` on ``node``, shaped as
    ``MemoryManagerState.machine_state`` (bytes): what the kubelet rebuilds and checks at start.

    Raises:
        UsageError: a block on a NUMA node or pool the node does not have.
    """
    ms = machine_state(node, state)  # pod-level entries included (they stand for their pod's containers)
    return {nid: {"number_of_assignments": st.assignments, "cells": list(st.cells),
                  "memory": {res: {"total": t.total, "systemReserved": t.system_reserved,
                                   "allocatable": t.allocatable, "reserved": t.reserved, "free": t.free}
                             for res, t in st.tables.items()}}
            for nid, st in ms.items()}


def _table_differences(nid: int, ours: dict, theirs: dict) -> list[str]:
    diffs: list[str] = []
    for res in sorted(set(ours) | set(theirs)):
        ta, tb = ours.get(res), theirs.get(res)
        if ta is None or tb is None:
            if (ta or tb or {}).get("total"):  # a zero-sized pool missing on one side is the same
                diffs.append(f"node {nid} {res} is only in {'the checkpoint' if tb else 'the node description'}")
            continue
        diffs += [f"node {nid} {res} {key} {format_size(tb[key])} (expected {format_size(ta[key])})"
                  for key in ("total", "systemReserved", "allocatable", "reserved", "free") if ta[key] != tb[key]]
    return diffs


def machine_state_differences(mem: MemoryManagerState, node: NodeDescription, state: AdmittedState) -> list[str]:
    """Where the checkpoint's ``machineState`` differs from the one the node description and the
    replayed pods give (``policy_static.go`` ``validateState`` compares the same: a kubelet on that
    node refuses such a file). Empty when they agree; at most 4 differences named.

    Raises:
        UsageError: a replayed block on a NUMA node or pool the node does not have.
    """
    ours, theirs = node_machine_state(node, state), mem.machine_state
    diffs: list[str] = []
    for nid in sorted(set(ours) | set(theirs)):
        if nid not in ours or nid not in theirs:
            diffs.append(f"NUMA node {nid} is only in {'the checkpoint' if nid in theirs else 'the node description'}")
            continue
        a, b = ours[nid], theirs[nid]
        if a["number_of_assignments"] != b["number_of_assignments"]:
            diffs.append(f"node {nid} numberOfAssignments {b['number_of_assignments']} (expected "
                         f"{a['number_of_assignments']})")
        diffs += _table_differences(nid, a["memory"], b["memory"] or {})
    return diffs[:4] + ([f"and {len(diffs) - 4} more"] if len(diffs) > 4 else [])


def write_checkpoints(state_dir: str, node: NodeDescription, state: AdmittedState,
                      strict_cpu_reservation: bool = False) -> tuple[str, str]:
    """Write ``state`` on ``node`` as the kubelet's two checkpoints in ``state_dir`` (made if
    missing; files replaced atomically). ``defaultCpuSet`` is every CPU not exclusive (reserved
    CPUs included unless ``strict_cpu_reservation``). Returns the two paths.

    Raises:
        UsageError: the directory cannot be made or written; a state that does not fit the node.
    """
    try:
        os.makedirs(state_dir, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot make {state_dir}: {exc.strerror}", "choose a writable --write-checkpoints DIR") \
            from None
    machine = node_machine_state(node, state)
    entries = {u: {c: _as_dicts(bl) for c, bl in cs.items()} for u, cs in state.memory.items()}
    mem_text = dump_memory_manager_state("Static", machine, entries,
                                         {u: _as_dicts(bl) for u, bl in state.pod_memory.items()})
    taken = state.exclusive_cpus | (set(node.reserved_cpus) if strict_cpu_reservation else set())
    default = tuple(c for c in node.all_cpus if c not in taken)
    cpu_text = dump_cpu_manager_state("static", default, state.cpus, state.pod_cpus)
    mem_path, cpu_path = state_paths(state_dir)
    for path, text in ((mem_path, mem_text), (cpu_path, cpu_text)):
        write_atomic(path, text, fix="choose a writable --write-checkpoints DIR", error_type=UsageError)
    return mem_path, cpu_path
