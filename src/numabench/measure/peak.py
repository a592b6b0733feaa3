"""Peak injection bandwidth (MLC's --peak_injection_bandwidth): every allowed CPU of a node streams
each read/write mix on memory of that node.

A plan is ordinary run specs (measure/spec.py: the same checks and refusals) whose kernels are the
peak kernels of constants.PEAK_KERNELS, measured by measure/runner.py like any bandwidth kernel:
the same placement proof, calibration, sampling and statistics. Byte counting is run's: bytes read
plus bytes written per pass, 8 per double, no write-allocate read counted (STREAM's rule). The
mixes 3:1, 2:1 and 1:1 update their first array in place, so no write-allocate read happens and the
counted reads:writes is also the memory traffic's; triad (a = b + s*c) stores to an array it does
not read, so its write-allocate read is real traffic, not counted, as in STREAM.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from numabench.constants import PEAK_KERNELS, PEAK_MIXES, PEAK_NATIVE_KERNELS
from numabench.errors import UsageError
from numabench.host.cgroups import CpusetView
from numabench.host.topology import Topology
from numabench.measure.spec import Plan, RunOptions, plan_run
from numabench.util.cpulist import format_cpulist

# mix -> the native kernel that runs it (tests and reference comparisons name mixes).
MIX_KERNELS = {mix: PEAK_NATIVE_KERNELS[PEAK_KERNELS[mix]] for mix in PEAK_MIXES}
# mix -> (elements read, elements written) per element index, 8 bytes each.
MIX_COUNTS = {"1:0": (1, 0), "3:1": (3, 1), "2:1": (2, 1), "1:1": (1, 1), "triad": (2, 1)}


def bytes_per_elem(mix: str) -> int:
    """Bytes counted per element index of a mix: 8 x (reads + writes)."""
    reads, writes = MIX_COUNTS[mix]
    return 8 * (reads + writes)


def parse_mixes(text: str) -> list[str]:
    """--mixes "1:0,3:1,triad" -> the mixes in MLC's order, each once. Raises UsageError for an
    unknown mix or an empty list."""
    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in PEAK_MIXES]
    if unknown or not names:
        raise UsageError(f"unknown read/write mix {', '.join(unknown) or repr(text)}",
                         f"choose from {','.join(PEAK_MIXES)} (reads:writes in bytes)")
    return [m for m in PEAK_MIXES if m in names]


def peak_nodes(topology: Topology, cpuset: CpusetView, nodes: Sequence[int] | None, all_nodes: bool) -> list[int]:
    """The CPU nodes to measure: those asked, every node with an allowed CPU (all_nodes), or the
    first such node. Raises UsageError for --node with --all-nodes, or when no node qualifies."""
    if nodes is not None and all_nodes:
        raise UsageError("--node and --all-nodes both given", "give one of them")
    if nodes is not None:
        return list(nodes)
    allowed = set(cpuset.cpus_allowed)
    usable = [n.id for n in topology.nodes if allowed & set(n.cpus)]
    if not usable:
        raise UsageError(f"no node has a CPU this process may use (allowed CPUs {format_cpulist(sorted(allowed))})",
                         "run where Cpus_allowed_list in /proc/self/status names online CPUs")
    return usable if all_nodes else usable[:1]


def plan_peak(topology: Topology, cpuset: CpusetView, *, nodes: Sequence[int] | None = None, all_nodes: bool = False,
              mem_node: int | None = None, mixes: Sequence[str] = PEAK_MIXES, pages: str = "4k",
              size_bytes: int, threads: int | None = None, thread_counts: Sequence[int] | None = None,
              repeat: int) -> Plan:
    """One spec per CPU node: every allowed CPU of it (or `threads`, or each of `thread_counts`)
    streaming each mix on the node's own memory (or mem_node's).

    Refusals are run's (measure/spec.plan_run): a node without CPUs, one outside the cpuset, more
    threads than allowed CPUs, memory that does not fit: UsageError and its kind (exit 2)."""
    kernels = [PEAK_KERNELS[m] for m in parse_mixes(",".join(mixes))]
    specs, notes = [], []
    for node in peak_nodes(topology, cpuset, nodes, all_nodes):
        plan = plan_run(topology, cpuset, RunOptions(
            cpu_nodes=[node], mem_nodes=None if mem_node is None else [mem_node], pages=[pages],
            size_bytes=size_bytes, threads=threads,
            thread_counts=None if thread_counts is None else list(thread_counts), kernels=["read"], repeat=repeat))
        notes += [n for n in plan.notes if n not in notes]
        specs += [dataclasses.replace(spec, kernels=tuple(kernels)) for spec in plan.specs]
    return Plan(specs=specs, notes=notes)
