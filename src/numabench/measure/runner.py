"""Run checked specs on the native core and keep every result already measured.

One buffer per spec: placed and verified once, then every kernel of the spec
runs on it (latency first: its chain overwrites the buffer, and bandwidth
kernels refill their arrays before they are timed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from numabench.errors import NumabenchError
from numabench.measure.session import Session
from numabench.measure.spec import Spec
from numabench.native import _native
from numabench.native.placement import place
from numabench.results.schema import Measurement
from numabench.util.stats import summarize
from numabench.util.units import format_size

CHASE_STRIDE_BYTES = 64  # one cache line per slot
# Per latency sample: long enough that timer and thread start-up costs
# (microseconds) vanish, short enough for a quick default run.
LATENCY_SAMPLE_SECONDS = 0.2
CALIBRATION_LOADS = 1 << 16
MIN_LOADS = 1 << 16
# Array starts and lengths are multiples of 4 KiB so vector stores stay aligned.
ELEMENT_QUANTUM = 512

Progress = Callable[[str], None]


def _spec_dict(spec) -> dict:
    return {
        "cpu_node": spec.cpu_node,
        "mem_node": spec.mem_node,
        "mem_nodes": list(spec.mem_nodes),
        "policy": spec.policy,
        "pages": spec.pages,
        "size_bytes": spec.size_bytes,
        "threads": spec.threads,
        "cpus": list(spec.cpus),
    }


def prepare_chase(arena, size_bytes: int, cpu: int, seed: int, sample_seconds: float) -> tuple:
    """Build the chain over the first size_bytes of the arena, warm it up and calibrate.

    Returns (the native Chain, loads per sample of about sample_seconds, cursor offset to continue from).
    """
    chain = _native.chase_build(arena, size_bytes, CHASE_STRIDE_BYTES, seed)
    lines = size_bytes // CHASE_STRIDE_BYTES
    # Warm-up walks up to one full cycle (caches, TLB, page tables) untimed.
    seconds, cursor = _native.chase_run(chain, 0, min(lines, 1 << 21), CALIBRATION_LOADS, cpu)
    per_load = max(seconds / CALIBRATION_LOADS, 1e-10)
    return chain, max(MIN_LOADS, int(sample_seconds / per_load) // 16 * 16), cursor


def measure_latency(arena, size_bytes: int, cpu: int, repeat: int, seed: int = 1,
                    sample_seconds: float = LATENCY_SAMPLE_SECONDS) -> dict:
    """Chase latency in ns per load over the first size_bytes of the arena.

    Fully random single cycle over 64-byte lines; each sample is one timed
    chase of a calibrated number of loads, continuing where the last stopped.
    """
    chain, loads, cursor = prepare_chase(arena, size_bytes, cpu, seed, sample_seconds)
    samples = []
    for _ in range(repeat):
        seconds, cursor = _native.chase_run(chain, cursor, 0, loads, cpu)
        samples.append(seconds / loads * 1e9)
    return {
        "samples": samples,
        "unit": "ns",
        "latency_ns": summarize(samples)["median"],
        "loads_per_sample": loads,
        "stride_bytes": CHASE_STRIDE_BYTES,
        "pattern": "random single cycle over cache lines (Sattolo)",
        "seed": seed,
    }


def bandwidth_layout(kernel: str, size_bytes: int) -> tuple[int, list[int]]:
    """(elements per array, byte offsets of the arrays): the buffer split across the kernel's arrays."""
    streams = _native.bw_streams(kernel)
    n = size_bytes // streams // 8 // ELEMENT_QUANTUM * ELEMENT_QUANTUM
    if n == 0:
        raise NumabenchError(f"{format_size(size_bytes)} is too small for {kernel}", "use --size 64K or more")
    return n, [i * n * 8 for i in range(streams)]


def measure_bandwidth(arena, kernel: str, size_bytes: int, cpus, repeat: int, isa: str = "auto") -> dict:
    """Bandwidth in bytes/s (STREAM counting) of one kernel on pinned threads.

    One untimed pass first; each sample is one pass over the arrays by all threads.
    """
    n, offsets = bandwidth_layout(kernel, size_bytes)
    # Arrays hold 1.0: finite values keep the FPU off slow paths (a chase
    # chain read as doubles is denormal) and give read a known sum.
    _native.bw_run("write", arena, n * len(offsets), [0], cpus, 1, 1.0, isa)
    seconds, checksum, isa_used = _native.bw_run(kernel, arena, n, offsets, cpus, repeat + 1, 3.0, isa)
    bytes_per_pass = n * _native.bw_bytes_per_elem(kernel)
    samples = [bytes_per_pass / s for s in seconds[1:]]
    out = {
        "samples": samples,
        "unit": "bytes/s",
        "bandwidth_bytes_per_s": summarize(samples)["median"],
        "bytes_per_pass": bytes_per_pass,
        "elements_per_array": n,
        "isa": isa_used,
    }
    if kernel == "read":
        out["checksum_ok"] = checksum == float(n)
    return out


class Runner:
    """Measures specs: one buffer each, placed and verified once, then every kernel of the spec."""

    def __init__(self, progress: Progress | None = None, seed: int = 1, isa: str = "auto",
                 force_first_touch: bool = False, force_numa_maps: bool = False,
                 latency_sample_seconds: float = LATENCY_SAMPLE_SECONDS):
        self.progress = progress or (lambda message: None)
        self.seed = seed
        self.isa = isa
        self.force_first_touch = force_first_touch
        self.force_numa_maps = force_numa_maps
        self.latency_sample_seconds = latency_sample_seconds

    def run(self, session: Session, specs: Sequence[Spec]) -> list[Measurement]:
        """Measure each spec in the session; a failing spec is recorded there and the rest go on.

        Returns the measurements of these specs (the session keeps them too)."""
        out: list[Measurement] = []
        for index, spec in enumerate(specs, 1):
            label = (f"[{index}/{len(specs)}] {spec.pages} {format_size(spec.size_bytes)} "
                     f"cpu node {spec.cpu_node} -> mem node(s) {','.join(map(str, spec.mem_nodes))}")
            out += session.measure(label, lambda spec=spec, label=label: self.measure_spec(spec, label),
                                   failure=_spec_dict(spec))
            if session.interrupted:
                break
        return out

    def measure_spec(self, spec: Spec, label: str = "") -> Iterator[Measurement]:
        """Place and verify the spec's buffer, run each of its kernels on it (yielding each
        measurement as it is done), free it."""
        self.progress(f"{label}: placing and faulting in")
        started = time.monotonic()
        arena, placement = place(spec.size_bytes, spec.pages, spec.mem_nodes, spec.policy, spec.cpus[0],
                                 force_first_touch=self.force_first_touch, force_numa_maps=self.force_numa_maps)
        try:
            placed_seconds = time.monotonic() - started
            if not placement.ok:
                self.progress(f"{label}: WARNING pages not where asked: {placement.pages_by_node}")
            for kernel in spec.kernels:
                self.progress(f"{label}: {kernel}")
                if kernel == "latency":
                    figures = measure_latency(arena, spec.size_bytes, spec.cpus[0], spec.repeat, self.seed,
                                              self.latency_sample_seconds)
                    cpus = [spec.cpus[0]]
                else:
                    figures = measure_bandwidth(arena, kernel, spec.size_bytes, spec.cpus, spec.repeat, self.isa)
                    cpus = list(spec.cpus)
                yield measurement(kernel, spec, cpus, figures, placement.to_dict(), placement_seconds=placed_seconds)
        finally:
            arena.close()


def measurement(kernel: str, spec: Spec, cpus: list[int], figures: dict[str, Any], placement: dict[str, Any],
                **details: Any) -> Measurement:
    """The one builder of a Measurement from a spec, the CPUs that ran it and a kernel's figures.

    `figures` holds `samples`, `unit`, the median (`latency_ns` or `bandwidth_bytes_per_s`) and
    kernel-specific fields, which become the measurement's details."""
    known = ("samples", "unit", "latency_ns", "bandwidth_bytes_per_s")
    return Measurement(
        kernel=kernel, cpu_node=spec.cpu_node, mem_node=spec.mem_node, mem_nodes=list(spec.mem_nodes),
        policy=spec.policy, pages=spec.pages, size_bytes=spec.size_bytes, threads=len(cpus), cpus=cpus,
        samples=list(figures["samples"]), unit=figures["unit"],
        latency_ns=figures.get("latency_ns"), bandwidth_bytes_per_s=figures.get("bandwidth_bytes_per_s"),
        stats=summarize(figures["samples"]), pages_by_node=placement["pages_by_node"], placement=placement,
        details={**{k: v for k, v in figures.items() if k not in known}, **details},
    )
