"""Run checked specs on the native core and keep every result already measured.

One buffer per spec: placed and verified once, then every kernel of the spec
runs on it (latency first: its chain overwrites the buffer, and bandwidth
kernels refill their arrays before they are timed).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from numabench.constants import (
    DEFAULT_ARRAY_OFFSET,
    MAX_ARRAY_OFFSET,
    PEAK_KERNELS,
    PEAK_NATIVE_KERNELS,
    SAMPLE_SECONDS,
)
from numabench.errors import NumabenchError
from numabench.measure.session import Session
from numabench.measure.spec import Spec
from numabench.native import _native
from numabench.native.placement import place
from numabench.results.schema import Measurement
from numabench.util.stats import (
    CI_NOT_REACHED,
    SKEW_FLAG_FRACTION,
    START_SKEW,
    ci_rel_halfwidth,
    paired_scores,
    summarize,
)
from numabench.util.units import format_size

CHASE_STRIDE_BYTES = 64  # one cache line per slot
CALIBRATION_LOADS = 1 << 16
MIN_LOADS = 1 << 16
# Array lengths are multiples of 512 elements (4 KiB) so every thread's chunk stays vector aligned.
ELEMENT_QUANTUM = 512
# Calibration times passes until they last this share of a sample (fewer: too noisy to scale up).
CALIBRATION_SHARE = 0.25
MAX_CALIBRATION_PASSES = 1 << 20
# Untimed passes of the kernel before its first timed sample, in the same team start.
WARMUP_PASSES = 1
# `--isa auto` tries these kernel sets, widest first, and keeps the fastest (choose_isa). Wider is
# not always faster from memory: on the AMD EPYC VMs of DEVELOPERS.md, AVX-512 streams 10-30% less
# than SSE2 (likwid-bench's _avx512 and _sse tests show the same). The plain C kernel is the
# reference the vector kernels are tested against, not a candidate.
AUTO_ISA_CANDIDATES = ("avx512", "avx2", "sse2")
ISA_PROBE_ROUNDS = 3
ISA_PROBE_SECONDS = 0.02  # one probe timing: whole passes lasting about this (at most a quarter sample)
# Adaptive sampling grows by this share of the samples taken so far (at least one) per round.
GROWTH = 0.25

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Sampling:
    """How many samples a measurement takes, each of about sample_seconds.

    Fixed (target_ci None): exactly min_samples (= max_samples). Adaptive: min_samples, then more
    until the median's bootstrap CI half-width over the median is at most target_ci (0.01 = 1%)
    or max_samples are taken, as pyperf and Google Benchmark sample until time or precision runs out.
    """

    min_samples: int
    max_samples: int
    target_ci: float | None = None
    sample_seconds: float = SAMPLE_SECONDS

    @classmethod
    def fixed(cls, samples: int, sample_seconds: float = SAMPLE_SECONDS) -> Sampling:
        return cls(samples, samples, None, sample_seconds)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": "fixed" if self.target_ci is None else "adaptive", "min_samples": self.min_samples,
                "max_samples": self.max_samples, "target_ci": self.target_ci, "sample_seconds": self.sample_seconds}


def take_samples(draw: Callable[[int], Sequence[float]], sampling: Sampling) -> tuple[list[float], dict[str, Any]]:
    """Samples from draw(k) (k new samples a call) as `sampling` says.

    Returns (samples, the sampling record: its settings, the samples taken, the CI half-width
    reached and whether the target was reached; null target in fixed mode)."""
    samples = list(draw(sampling.min_samples))
    target = sampling.target_ci
    while target is not None and len(samples) < sampling.max_samples and ci_rel_halfwidth(samples) > target:
        more = min(sampling.max_samples - len(samples), max(1, int(len(samples) * GROWTH)))
        samples += list(draw(more))
    reached = ci_rel_halfwidth(samples)
    record = {**sampling.to_dict(), "samples_taken": len(samples),
              "ci_rel_halfwidth": None if reached == float("inf") else reached,
              "target_reached": None if target is None else reached <= target}
    return samples, record


def _spec_dict(spec: Spec) -> dict[str, Any]:
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


def prepare_chase(arena: _native.Arena, size_bytes: int, cpu: int, seed: int,
                  sample_seconds: float) -> tuple[_native.Chain, int, int]:
    """Build the chain over the first size_bytes of the arena, warm it up and calibrate.

    Returns (the native Chain, loads per sample of about sample_seconds, cursor offset to continue from).
    """
    chain = _native.chase_build(arena, size_bytes, CHASE_STRIDE_BYTES, seed)
    lines = size_bytes // CHASE_STRIDE_BYTES
    # Warm-up walks up to one full cycle (caches, TLB, page tables) untimed.
    seconds, cursor = _native.chase_run(chain, 0, min(lines, 1 << 21), CALIBRATION_LOADS, cpu)
    per_load = max(seconds / CALIBRATION_LOADS, 1e-10)
    return chain, max(MIN_LOADS, int(sample_seconds / per_load) // 16 * 16), cursor


def measure_latency(arena: _native.Arena, size_bytes: int, cpu: int, sampling: Sampling | int,
                    seed: int = 1) -> dict[str, Any]:
    """Chase latency in ns per load over the first size_bytes of the arena.

    Fully random single cycle over 64-byte lines; each sample is one timed chase of a calibrated
    number of loads (about sampling.sample_seconds), continuing where the last stopped. An int
    `sampling` is a fixed count. Raises the native errors of chase_build / chase_run.
    """
    sampling = Sampling.fixed(sampling) if isinstance(sampling, int) else sampling
    chain, loads, cursor = prepare_chase(arena, size_bytes, cpu, seed, sampling.sample_seconds)

    def draw(k: int) -> list[float]:
        nonlocal cursor
        out = []
        for _ in range(k):
            seconds, cursor = _native.chase_run(chain, cursor, 0, loads, cpu)
            out.append(seconds / loads * 1e9)
        return out

    samples, record = take_samples(draw, sampling)
    return {
        "samples": samples,
        "unit": "ns",
        "latency_ns": float(np.median(samples)),
        "loads_per_sample": loads,
        "stride_bytes": CHASE_STRIDE_BYTES,
        "pattern": "random single cycle over cache lines (Sattolo)",
        "seed": seed,
        "sampling": record,
    }


def bandwidth_layout(kernel: str, size_bytes: int, array_offset: int = DEFAULT_ARRAY_OFFSET) -> tuple[int, list[int]]:
    """(elements per array, byte offsets of the arrays): the buffer split across the kernel's arrays,
    array i starting at i x (n x 8 + array_offset) bytes.

    Raises NumabenchError when the buffer is too small, or array_offset is not a multiple of 64
    between 0 and MAX_ARRAY_OFFSET."""
    if array_offset % 64 or not 0 <= array_offset <= MAX_ARRAY_OFFSET:
        raise NumabenchError(f"array offset {array_offset} is not a multiple of 64 between 0 and {MAX_ARRAY_OFFSET}",
                             f"use --array-offset {DEFAULT_ARRAY_OFFSET} (the default) or another multiple of 64")
    streams = _native.bw_streams(kernel)
    usable = size_bytes - (streams - 1) * array_offset
    n = max(usable, 0) // streams // 8 // ELEMENT_QUANTUM * ELEMENT_QUANTUM
    if n == 0:
        raise NumabenchError(f"{format_size(size_bytes)} is too small for {kernel}", "use --size 64K or more")
    return n, [i * (n * 8 + array_offset) for i in range(streams)]


def _passes_per_sample(arena: Any, kernel: str, n: int, offsets: list[int], cpus: Sequence[int], isa: str,
                       sample_seconds: float) -> int:
    """Whole passes that last about sample_seconds, as Google Benchmark grows its iterations:
    time 1 pass (after the warm-up, fastest of 3), then up to 10x more at most each time, until the timed passes last
    at least CALIBRATION_SHARE of a sample; scale that up."""
    passes, warmup = 1, WARMUP_PASSES
    while True:
        # The fastest of 3 timings: one preempted timing must not shrink every sample.
        timed, _, _ = _native.bw_run(kernel, arena, n, offsets, cpus, 3, 3.0, isa, passes, warmup)
        seconds = max(float(timed.min()), 1e-9)
        if seconds >= CALIBRATION_SHARE * sample_seconds or passes >= MAX_CALIBRATION_PASSES:
            return max(1, int(round(sample_seconds / (seconds / passes))))
        growth = min(10, math.ceil(CALIBRATION_SHARE * sample_seconds / seconds * 1.4))
        passes = min(MAX_CALIBRATION_PASSES, passes * growth)
        warmup = 0


def choose_isa(arena: Any, kernel: str, n: int, offsets: list[int], cpus: Sequence[int],
               sample_seconds: float = SAMPLE_SECONDS) -> tuple[str, dict[str, Any]]:
    """(the fastest supported ISA for this kernel, threads and buffer, the probe's record).

    ISA_PROBE_ROUNDS rounds, each timing every candidate once (whole passes lasting about
    ISA_PROBE_SECONDS, or a quarter of sample_seconds if shorter) in a rotating order. Rounds are
    compared in pairs (util.stats.paired_scores), so a slow stretch of the machine that hits one
    round drops out; the highest score wins, a tie going to the wider ISA."""
    candidates = [isa for isa in AUTO_ISA_CANDIDATES if _native.isa_supported(isa)] or ["scalar"]
    if len(candidates) == 1:  # nothing to choose between: no timing at all
        return candidates[0], {"candidates": candidates, "median_bytes_per_s": {}, "paired_scores": {},
                               "rounds": 0, "passes_per_timing": 0, "chosen": candidates[0]}
    timed, _, _ = _native.bw_run(kernel, arena, n, offsets, cpus, 1, 3.0, candidates[-1], 1, 1)
    probe_seconds = min(ISA_PROBE_SECONDS, sample_seconds / 4)
    passes = max(1, int(round(probe_seconds / max(float(timed[0]), 1e-9))))
    rates: dict[str, list[float]] = {isa: [] for isa in candidates}
    bytes_per_timing = n * _native.bw_bytes_per_elem(kernel) * passes
    for r in range(ISA_PROBE_ROUNDS):
        for isa in candidates[r % len(candidates):] + candidates[:r % len(candidates)]:
            timed, _, _ = _native.bw_run(kernel, arena, n, offsets, cpus, 1, 3.0, isa, passes, 0)
            rates[isa].append(bytes_per_timing / max(float(timed[0]), 1e-9))
    medians = {isa: float(np.median(v)) for isa, v in rates.items() if v}
    scores = paired_scores(rates)
    best = max(candidates, key=lambda isa: scores.get(isa, 0.0))
    return best, {"candidates": candidates, "median_bytes_per_s": medians, "paired_scores": scores,
                  "rounds": ISA_PROBE_ROUNDS, "passes_per_timing": passes, "chosen": best}


def measure_bandwidth(arena: _native.Arena, kernel: str, size_bytes: int, cpus: Sequence[int],
                      sampling: Sampling | int, isa: str = "auto",
                      array_offset: int = DEFAULT_ARRAY_OFFSET) -> dict[str, Any]:
    """Bandwidth in bytes/s (STREAM counting) of one kernel on pinned threads.

    Calibrated (_passes_per_sample): each sample is as many whole passes as last about
    sampling.sample_seconds,
    after WARMUP_PASSES untimed passes in the same start of the threads. Every sample's start skew
    between the threads is kept (ns); samples whose skew passes SKEW_FLAG_FRACTION of their time
    are listed in skewed_samples. An int `sampling` is a fixed count. Raises NumabenchError for a
    bad layout, and the native errors of bw_run.
    """
    sampling = Sampling.fixed(sampling) if isinstance(sampling, int) else sampling
    n, offsets = bandwidth_layout(kernel, size_bytes, array_offset)
    # Arrays hold 1.0: finite values keep the FPU off slow paths (a chase chain read as doubles
    # is denormal) and give read a known sum. Filled array by array: the offsets leave gaps.
    for offset in offsets:
        _native.bw_run("write", arena, n, [offset], cpus, 1, 1.0, isa)
    probe = None
    if isa == "auto":
        isa, probe = choose_isa(arena, kernel, n, offsets, cpus, sampling.sample_seconds)
    passes = _passes_per_sample(arena, kernel, n, offsets, cpus, isa, sampling.sample_seconds)
    bytes_per_sample = n * _native.bw_bytes_per_elem(kernel) * passes
    seconds_all: list[float] = []
    skew_all: list[float] = []
    state = {}

    def draw(k: int) -> list[float]:
        skew = np.zeros(k)
        seconds, state["checksum"], state["isa"] = _native.bw_run(kernel, arena, n, offsets, cpus, k, 3.0, isa,
                                                                  passes, WARMUP_PASSES, skew)
        seconds_all.extend(float(s) for s in seconds)
        skew_all.extend(float(x) for x in skew)
        return [bytes_per_sample / s for s in seconds]

    samples, record = take_samples(draw, sampling)
    skewed = [i for i, (s, k) in enumerate(zip(seconds_all, skew_all)) if k * 1e-9 > SKEW_FLAG_FRACTION * s]
    out = {
        "samples": samples,
        "unit": "bytes/s",
        "bandwidth_bytes_per_s": float(np.median(samples)),
        "bytes_per_pass": n * _native.bw_bytes_per_elem(kernel),
        # The two parts of bytes_per_pass: what the kernel loads and what it stores (no write-allocate).
        "bytes_read_per_pass": n * 8 * _native.bw_reads_per_elem(kernel),
        "bytes_written_per_pass": n * 8 * _native.bw_writes_per_elem(kernel),
        "passes_per_sample": passes,
        "warmup_passes": WARMUP_PASSES,
        "elements_per_array": n,
        "array_offsets_bytes": offsets,
        "array_offset_bytes": array_offset,
        "start_skew_ns": skew_all,
        "skewed_samples": skewed,
        "isa": state["isa"],
        "sampling": record,
    }
    if probe is not None:
        out["isa_probe"] = probe
    if kernel == "read":
        out["checksum_ok"] = state["checksum"] == float(n)
    return out


class Runner:
    """Measures specs: one buffer each, placed and verified once, then every kernel of the spec."""

    def __init__(self, progress: Progress | None = None, seed: int = 1, isa: str = "auto",
                 force_first_touch: bool = False, force_numa_maps: bool = False,
                 sample_seconds: float = SAMPLE_SECONDS, adaptive: Sampling | None = None,
                 array_offset: int = DEFAULT_ARRAY_OFFSET):
        """`sample_seconds`: the time of one sample (latency and bandwidth). `adaptive`: sample every
        kernel until its CI target (its own sample_seconds then applies); None: each spec's
        `repeat` samples. `array_offset`: bytes between a bandwidth kernel's arrays."""
        self.progress = progress or (lambda message: None)
        self.seed = seed
        self.isa = isa
        self.force_first_touch = force_first_touch
        self.force_numa_maps = force_numa_maps
        self.sample_seconds = sample_seconds
        self.adaptive = adaptive
        self.array_offset = array_offset

    def run(self, session: Session, specs: Sequence[Spec]) -> list[Measurement]:
        """Measure each spec in the session; a failing spec is recorded there and the rest go on.

        Returns the measurements of these specs (the session keeps them too)."""
        out: list[Measurement] = []
        for index, spec in enumerate(specs, 1):
            label = (f"[{index}/{len(specs)}] {spec.pages} {format_size(spec.size_bytes)} "
                     f"cpu node {spec.cpu_node} -> mem node(s) {','.join(map(str, spec.mem_nodes))}")
            out += session.measure(label, functools.partial(self.measure_spec, spec, label),
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
            sampling = self.adaptive or Sampling.fixed(spec.repeat, self.sample_seconds)
            for kernel in spec.kernels:
                if kernel == "latency":
                    self.progress(f"{label}: {kernel}")
                    figures = measure_latency(arena, spec.size_bytes, spec.cpus[0], sampling, self.seed)
                    yield measurement(kernel, spec, [spec.cpus[0]], figures, placement.to_dict(),
                                      placement_seconds=placed_seconds)
                    continue
                for count in spec.bandwidth_thread_counts:
                    yield self._bandwidth(arena, spec, kernel, count, sampling, placement.to_dict(), label,
                                          placement_seconds=placed_seconds)
        finally:
            arena.close()

    def _bandwidth(self, arena: _native.Arena, spec: Spec, kernel: str, count: int, sampling: Sampling,
                   placement: dict[str, Any], label: str, **details: Any) -> Measurement:
        """One bandwidth kernel on the spec's first `count` CPUs (one pinned thread each). A peak
        mix (constants.PEAK_NATIVE_KERNELS) runs its native kernel and records its mix."""
        cpus = list(spec.cpus[:count])
        self.progress(f"{label}: {kernel}" + (f", {count} thread(s)" if spec.thread_counts else ""))
        native = PEAK_NATIVE_KERNELS.get(kernel, kernel)
        figures = measure_bandwidth(arena, native, spec.size_bytes, cpus, sampling, self.isa, self.array_offset)
        if native != kernel:
            details["mix"] = next(mix for mix, name in PEAK_KERNELS.items() if name == kernel)
            details["native_kernel"] = native
        if spec.thread_counts:
            details["thread_sweep"] = list(spec.thread_counts)
        return measurement(kernel, spec, cpus, figures, placement, **details)


def measurement(kernel: str, spec: Spec, cpus: list[int], figures: dict[str, Any], placement: dict[str, Any],
                **details: Any) -> Measurement:
    """The one builder of a Measurement from a spec, the CPUs that ran it and a kernel's figures.

    `figures` holds `samples`, `unit`, the median (`latency_ns` or `bandwidth_bytes_per_s`) and
    kernel-specific fields, which become the measurement's details."""
    known = ("samples", "unit", "latency_ns", "bandwidth_bytes_per_s")
    stats = summarize(figures["samples"])
    if figures.get("skewed_samples"):
        stats["flags"].append(START_SKEW)
    if (figures.get("sampling") or {}).get("target_reached") is False:
        stats["flags"].append(CI_NOT_REACHED)
    return Measurement(
        kernel=kernel, cpu_node=spec.cpu_node, mem_node=spec.mem_node, mem_nodes=list(spec.mem_nodes),
        policy=spec.policy, pages=spec.pages, size_bytes=spec.size_bytes, threads=len(cpus), cpus=cpus,
        samples=list(figures["samples"]), unit=figures["unit"],
        latency_ns=figures.get("latency_ns"), bandwidth_bytes_per_s=figures.get("bandwidth_bytes_per_s"),
        stats=stats, pages_by_node=placement["pages_by_node"], placement=placement,
        details={**{k: v for k, v in figures.items() if k not in known}, **details},
    )
