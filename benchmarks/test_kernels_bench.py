"""pytest-benchmark suites of numabench's native kernels, called directly through numabench.native._native.

Run and keep a baseline, then gate a later build against it:

    pytest benchmarks/ --benchmark-autosave
    pytest benchmarks/ --benchmark-compare --benchmark-compare-fail=median:5%

Each benchmark is one call into the native code (thread team start-up included; 16 passes of a
bandwidth kernel, or 2^20 dependent loads), 5 rounds of one iteration, on 64 MiB buffers with 4 KiB
pages, prefaulted and pinned on one CPU. Every benchmark also checks the kernel's result, so a fast
wrong kernel fails here. extra_info holds the native timer's figures (bytes/s STREAM counting, or ns
per load). This directory is not under tests/, so the project's `pytest tests/` never collects it;
on a 2-vCPU VM that drifts 5-25%, a 5% gate needs a quiet machine and a baseline taken the same
hour.
"""

from __future__ import annotations

import os

import pytest

np = pytest.importorskip("numpy")
_native = pytest.importorskip("numabench.native._native")

pytestmark = pytest.mark.native

BUF_BYTES = 64 << 20
CHASE_LOADS = 1 << 20  # about 0.1-0.2 s at 64 MiB: enough to dwarf the call overhead
ROUNDS = 5
# Passes of a bandwidth kernel per timed call: one 64 MiB pass takes 3-8 ms, too short for a 5%
# gate against timer and scheduling noise; 16 passes make a call of about 50-130 ms.
PASSES_PER_CALL = 16
SCALAR = 3.0


def _cpu() -> int:
    return min(os.sched_getaffinity(0))


@pytest.fixture(scope="module")
def cpu() -> int:
    return _cpu()


@pytest.fixture
def arena(cpu):
    """A prefaulted 64 MiB arena on 4 KiB pages (the VM backs memory lazily: fault before timing)."""
    a = _native.Arena(BUF_BYTES, pages="4k")
    a.populate(cpu)
    yield a
    a.close()


def _layout(kernel: str) -> tuple[int, list[int]]:
    """Elements per array and their byte offsets: the buffer split across the kernel's arrays, 4 KiB aligned."""
    streams = _native.bw_streams(kernel)
    n = BUF_BYTES // streams // 8 // 512 * 512
    return n, [i * n * 8 for i in range(streams)]


def _fill(arena, cpu, n_elems: int, offset: int, value: float) -> None:
    _native.bw_run("write", arena, n_elems, [offset], [cpu], 1, value)


# Distinct inputs per array, so a kernel reading the wrong array or not storing shows.
INPUTS = {"a": 1.0, "b": 0.0, "c": 2.0}


def _bandwidth(benchmark, kernel, arena, cpu, n, offsets):
    """Benchmarks PASSES_PER_CALL passes of kernel per call; returns the checksum of the last pass."""
    out = {}

    def once():
        seconds, checksum, isa = _native.bw_run(kernel, arena, n, offsets, [cpu], PASSES_PER_CALL, SCALAR)
        out.setdefault("seconds", []).extend(float(x) for x in seconds)
        out["checksum"], out["isa"] = checksum, isa

    once()  # untimed warm pass: page tables, caches, thread start paths
    out["seconds"].clear()
    benchmark.pedantic(once, rounds=ROUNDS, iterations=1)
    bytes_per_pass = n * _native.bw_bytes_per_elem(kernel)
    benchmark.extra_info.update({
        "kernel": kernel, "isa": out["isa"], "buffer_bytes": BUF_BYTES, "bytes_per_pass": bytes_per_pass,
        "passes_per_call": PASSES_PER_CALL,
        "native_median_bytes_per_s": bytes_per_pass / float(np.median(out["seconds"])),
        "counting": "STREAM: read + write bytes, no write-allocate",
    })
    return out["checksum"]


@pytest.mark.parametrize("kernel", ["read", "write", "write_nt", "copy", "copy_nt", "triad"])
def test_bandwidth(benchmark, arena, cpu, kernel):
    n, offsets = _layout(kernel)
    for name, offset in zip("abc", offsets):
        _fill(arena, cpu, n, offset, INPUTS[name])
    checksum = _bandwidth(benchmark, kernel, arena, cpu, n, offsets)
    if kernel == "read":
        # Every element is 1.0, so the sum is exact in float64 (n < 2^53).
        assert checksum == float(n)
    assert _arrays_hold(arena, kernel, n, offsets), f"{kernel} left wrong values in its arrays"


def _arrays_hold(arena, kernel, n, offsets) -> bool:
    """Whether the arrays hold what the kernel should leave. The numpy views die with this frame,
    before the arena closes (Arena.close refuses while views exist)."""
    view = np.frombuffer(arena, dtype=np.float64)
    a = view[:n]
    if kernel in ("write", "write_nt"):
        return bool(np.all(a == SCALAR))
    if kernel in ("copy", "copy_nt"):
        b = view[offsets[1] // 8: offsets[1] // 8 + n]
        return bool(np.all(a == INPUTS["a"]) and np.all(b == INPUTS["a"]))
    if kernel == "triad":
        # a = b + s*c with b = 0 and c = 2 before the first pass; later passes read the same b, c.
        return bool(np.all(a == INPUTS["b"] + SCALAR * INPUTS["c"]))
    return bool(np.all(a == INPUTS["a"]))


def test_chase(benchmark, arena, cpu):
    """Dependent loads over a random single cycle of 64 MiB (one slot per 64-byte line)."""
    lines = BUF_BYTES // 64
    chain = _native.chase_build(arena, BUF_BYTES, 64, 1)
    # A single cycle comes back to its start after exactly `lines` loads, and not before.
    _, end = _native.chase_run(chain, 0, 0, lines, cpu)
    assert end == 0
    _, end = _native.chase_run(chain, 0, 0, lines - 1, cpu)
    assert end != 0
    state = {"cursor": 0, "seconds": []}
    _native.chase_run(chain, 0, min(lines, 1 << 21), 1, cpu)  # warm: caches, TLB, page tables

    def once():
        seconds, state["cursor"] = _native.chase_run(chain, state["cursor"], 0, CHASE_LOADS, cpu)
        state["seconds"].append(seconds)

    benchmark.pedantic(once, rounds=ROUNDS, iterations=1)
    assert state["cursor"] % 64 == 0 and state["cursor"] < BUF_BYTES
    benchmark.extra_info.update({
        "buffer_bytes": BUF_BYTES, "loads": CHASE_LOADS, "stride_bytes": 64,
        "pattern": "random single cycle over cache lines (Sattolo), seed 1",
        "native_median_ns_per_load": float(np.median(state["seconds"])) / CHASE_LOADS * 1e9,
    })
