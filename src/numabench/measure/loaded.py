"""Loaded latency: chase latency while pinned injectors load the memory system.

Like Intel MLC's --loaded_latency: one chase thread, N injector threads, a
series of throttle delays from none (full load) to large (almost idle); each
point gives (injected bandwidth, latency). Injectors may use memory on a
different node than the chase.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from numabench.constants import LOADED_KERNEL
from numabench.measure.runner import prepare_chase
from numabench.measure.spec import LoadedSpec
from numabench.native import _native
from numabench.native.placement import place
from numabench.results.schema import Measurement
from numabench.util.stats import summarize


def measure_loaded(spec: LoadedSpec, progress: Callable[[str], None] = lambda m: None, seed: int = 1,
                   sample_seconds: float = 0.1) -> Iterator[Measurement]:
    """One measurement per delay (yielded as each is done): median chase latency and injected bandwidth."""
    chase_arena, chase_place = place(spec.size_bytes, spec.pages, [spec.mem_node], "bind", spec.chase_cpu)
    try:
        inject_arena, inject_place = place(spec.inject_size_bytes, spec.pages, [spec.inject_node], "bind",
                                           spec.inject_cpus[0] if spec.inject_cpus else spec.chase_cpu)
        try:
            chain, loads, cursor = prepare_chase(chase_arena, spec.size_bytes, spec.chase_cpu, seed, sample_seconds)
            for delay in spec.delays:
                progress(f"loaded latency: delay {delay}, {len(spec.inject_cpus)} injector(s)")
                latencies, bandwidths = [], []
                for _ in range(spec.repeat):
                    secs, cursor, moved, inject_secs = _native.loaded_run(
                        chain, cursor, loads, spec.chase_cpu, inject_arena, spec.inject_size_bytes,
                        spec.inject_cpus, spec.kind, delay)
                    latencies.append(secs / loads * 1e9)
                    bandwidths.append(moved / inject_secs if inject_secs > 0 else 0.0)
                yield _point(spec, delay, latencies, bandwidths, loads, chase_place.to_dict(), inject_place.to_dict())
        finally:
            inject_arena.close()
    finally:
        chase_arena.close()


def _point(spec: LoadedSpec, delay: int, latencies: list[float], bandwidths: list[float], loads: int,
           placement: dict[str, Any], inject_placement: dict[str, Any]) -> Measurement:
    return Measurement(
        kernel=LOADED_KERNEL, cpu_node=spec.chase_node, mem_node=spec.mem_node, mem_nodes=[spec.mem_node],
        policy="bind", pages=spec.pages, size_bytes=spec.size_bytes, threads=1 + len(spec.inject_cpus),
        cpus=[spec.chase_cpu], samples=latencies, unit="ns", latency_ns=summarize(latencies)["median"],
        stats=summarize(latencies), pages_by_node=placement["pages_by_node"], placement=placement,
        details={
            "inject_cpus": list(spec.inject_cpus),
            "inject_node": spec.inject_node,
            "inject_kind": spec.kind,
            "inject_size_bytes": spec.inject_size_bytes,
            "delay": delay,
            "inject_bandwidth_samples": bandwidths,
            "inject_bandwidth_bytes_per_s": summarize(bandwidths)["median"],
            "loads_per_sample": loads,
            "inject_placement": inject_placement,
        },
    )


def failure_fields(spec: LoadedSpec) -> dict[str, Any]:
    """What a failed loaded-latency series records in the result's errors."""
    return {"cpu_node": spec.chase_node, "mem_node": spec.mem_node, "mem_nodes": [spec.mem_node],
            "pages": spec.pages, "size_bytes": spec.size_bytes, "kernel": LOADED_KERNEL}
