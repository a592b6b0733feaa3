"""Loaded latency: chase latency while pinned injectors load the memory system.

Like Intel MLC's --loaded_latency: one chase thread, N injector threads, a
series of throttle delays from none (full load) to large (almost idle); each
point gives (injected bandwidth, latency). Injectors may use memory on a
different node than the chase.
"""

from __future__ import annotations

from dataclasses import dataclass

from numabench.native import _native
from numabench.errors import UsageError
from numabench.measure.spec import RunOptions, plan_run
from numabench.native.placement import place
from numabench.measure.runner import prepare_chase
from numabench.util.stats import summarize

DEFAULT_DELAYS = (0, 20, 50, 100, 200, 500, 1000, 2000, 5000, 20000)
INJECT_KINDS = ("read", "rw")


@dataclass(frozen=True)
class LoadedSpec:
    chase_cpu: int
    chase_node: int
    mem_node: int
    inject_cpus: tuple[int, ...]
    inject_node: int
    pages: str
    size_bytes: int
    inject_size_bytes: int
    kind: str
    delays: tuple[int, ...]
    repeat: int


def plan_loaded(topology, cpuset, *, cpu_node, mem_node, inject_node, injectors, pages, size_bytes,
                inject_size_bytes, kind, delays, repeat, inject_cpu_node=None) -> LoadedSpec:
    """Check nodes, cpusets, hugepages and memory for both buffers; pick the CPUs."""
    if kind not in INJECT_KINDS:
        raise UsageError(f"unknown injection kind {kind!r}", f"choose from {','.join(INJECT_KINDS)}")
    if not delays or any(d < 0 for d in delays):
        raise UsageError("delays must be a non-empty list of non-negative numbers", "e.g. --delays 0,100,1000")
    chase = plan_run(topology, cpuset, RunOptions(cpu_nodes=None if cpu_node is None else [cpu_node],
                                                  mem_nodes=None if mem_node is None else [mem_node],
                                                  pages=[pages], size_bytes=size_bytes, kernels=["latency", "read"],
                                                  repeat=repeat)).specs[0]
    inject_cpu_node = chase.cpu_node if inject_cpu_node is None else inject_cpu_node
    inject_mem_node = chase.mem_nodes[0] if inject_node is None else inject_node
    inject = plan_run(topology, cpuset, RunOptions(cpu_nodes=[inject_cpu_node], mem_nodes=[inject_mem_node],
                                                   pages=[pages], size_bytes=inject_size_bytes, kernels=["read"],
                                                   repeat=repeat)).specs[0]
    others = [c for c in inject.cpus if c != chase.cpus[0]]
    if injectors is None:
        injectors = len(others)
    if injectors > len(others):
        raise UsageError(f"{injectors} injector(s) asked but CPU node {inject_cpu_node} has {len(others)} allowed "
                         "CPU(s) besides the chase thread's", f"use --injectors {len(others)} or less")
    if injectors < 1:
        raise UsageError("loaded latency needs at least one injector CPU besides the chase CPU",
                         "choose --inject-cpu-node with free CPUs, or use numabench run for idle latency")
    return LoadedSpec(chase_cpu=chase.cpus[0], chase_node=chase.cpu_node, mem_node=chase.mem_nodes[0],
                      inject_cpus=tuple(others[:injectors]), inject_node=inject.mem_nodes[0], pages=pages,
                      size_bytes=size_bytes, inject_size_bytes=inject_size_bytes, kind=kind,
                      delays=tuple(delays), repeat=repeat)


def measure_loaded(spec: LoadedSpec, progress=lambda m: None, seed: int = 1,
                   sample_seconds: float = 0.1) -> list[dict]:
    """One measurement per delay: median chase latency and injected bandwidth."""
    chase_arena, chase_place = place(spec.size_bytes, spec.pages, [spec.mem_node], "bind", spec.chase_cpu)
    try:
        inject_arena, inject_place = place(spec.inject_size_bytes, spec.pages, [spec.inject_node], "bind",
                                           spec.inject_cpus[0] if spec.inject_cpus else spec.chase_cpu)
        try:
            chain, loads, cursor = prepare_chase(chase_arena, spec.size_bytes, spec.chase_cpu, seed, sample_seconds)
            out = []
            for delay in spec.delays:
                progress(f"loaded latency: delay {delay}, {len(spec.inject_cpus)} injector(s)")
                latencies, bandwidths = [], []
                for _ in range(spec.repeat):
                    secs, cursor, moved, inject_secs = _native.loaded_run(
                        chain, cursor, loads, spec.chase_cpu, inject_arena, spec.inject_size_bytes,
                        spec.inject_cpus, spec.kind, delay)
                    latencies.append(secs / loads * 1e9)
                    bandwidths.append(moved / inject_secs if inject_secs > 0 else 0.0)
                out.append({
                    "kernel": "loaded_latency",
                    "cpu_node": spec.chase_node,
                    "mem_node": spec.mem_node,
                    "mem_nodes": [spec.mem_node],
                    "policy": "bind",
                    "pages": spec.pages,
                    "size_bytes": spec.size_bytes,
                    "threads": 1 + len(spec.inject_cpus),
                    "cpus": [spec.chase_cpu],
                    "inject_cpus": list(spec.inject_cpus),
                    "inject_node": spec.inject_node,
                    "inject_kind": spec.kind,
                    "inject_size_bytes": spec.inject_size_bytes,
                    "delay": delay,
                    "samples": latencies,
                    "unit": "ns",
                    "latency_ns": summarize(latencies)["median"],
                    "stats": summarize(latencies),
                    "inject_bandwidth_samples": bandwidths,
                    "inject_bandwidth_bytes_per_s": summarize(bandwidths)["median"],
                    "loads_per_sample": loads,
                    "pages_by_node": chase_place.to_dict()["pages_by_node"],
                    "placement": chase_place.to_dict(),
                    "inject_placement": inject_place.to_dict(),
                })
            return out
        finally:
            inject_arena.close()
    finally:
        chase_arena.close()
