"""Calibrated bandwidth samples (issue 12): K passes per timed sample and warm-up passes in one start
of the threads, the per-sample start skew, the offset array layout. Properties only, no timings."""

import os

import numpy as np
import pytest

from numabench.constants import DEFAULT_ARRAY_OFFSET
from numabench.errors import NativeArgumentError, NumabenchError
from numabench.measure import runner
from numabench.native import _native

pytestmark = pytest.mark.native

ONLINE = sorted(os.sched_getaffinity(0))
CPU_SETS = [ONLINE[:1]] + ([ONLINE[:2]] if len(ONLINE) >= 2 else [])
N = 64 * 100 + 5


@pytest.fixture
def arena():
    a = _native.Arena(4 << 20)
    a.populate(ONLINE[0])
    yield a
    a.close()


@pytest.mark.parametrize("cpus", CPU_SETS, ids=lambda c: f"{len(c)}thr")
def test_passes_and_warmup_run_the_kernel_and_skew_is_per_sample(arena, cpus):
    mem = np.frombuffer(arena, dtype=np.float64)
    offsets = [0, (8 * N + 63) // 64 * 64 + 1344]
    mem[: N] = np.arange(N) % 7
    skew = np.full(4, -1.0)
    seconds, _, _ = _native.bw_run("copy", arena, N, offsets, cpus, 4, 3.0, "auto", 3, 2, skew)
    b = mem[offsets[1] // 8: offsets[1] // 8 + N]
    assert (b == np.arange(N) % 7).all()
    assert seconds.shape == (4,) and (seconds > 0).all()
    assert (skew >= 0).all()
    if len(cpus) == 1:
        assert (skew == 0).all()  # one thread: the first start is the last


def test_read_checksum_is_one_pass_whatever_the_passes(arena):
    mem = np.frombuffer(arena, dtype=np.float64)
    mem[:N] = 1.0
    _, checksum, _ = _native.bw_run("read", arena, N, [0], CPU_SETS[-1], 2, 3.0, "auto", 5, 1)
    assert checksum == float(N)


def test_skew_buffer_and_counts_are_checked(arena):
    with pytest.raises(NativeArgumentError, match="passes must be between 1"):
        _native.bw_run("read", arena, N, [0], ONLINE[:1], 1, 3.0, "auto", 0)
    with pytest.raises(NativeArgumentError, match="warmup_passes must be between 0"):
        _native.bw_run("read", arena, N, [0], ONLINE[:1], 1, 3.0, "auto", 1, -1)
    with pytest.raises(NativeArgumentError, match="skew_ns holds 2 values"):
        _native.bw_run("read", arena, N, [0], ONLINE[:1], 3, 3.0, "auto", 1, 0, np.zeros(2))
    with pytest.raises(NativeArgumentError, match="skew_ns must be a writable contiguous float64"):
        _native.bw_run("read", arena, N, [0], ONLINE[:1], 1, 3.0, "auto", 1, 0, np.zeros(2, dtype=np.int32))
    with pytest.raises(NativeArgumentError, match="skew_ns must be a writable contiguous float64"):
        _native.bw_run("read", arena, N, [0], ONLINE[:1], 1, 3.0, "auto", 1, 0, "xx")


@pytest.mark.parametrize("kernel", ["read", "copy", "triad"])
def test_layout_offsets_streams_apart_modulo_4k(kernel):
    size = 1 << 30
    n, offsets = runner.bandwidth_layout(kernel, size)
    assert n % runner.ELEMENT_QUANTUM == 0
    assert all(o % 64 == 0 for o in offsets)
    assert len({o % 4096 for o in offsets}) == len(offsets)  # no two streams alias modulo 4 KiB
    ends = [o + 8 * n for o in offsets]
    assert all(end <= nxt for end, nxt in zip(ends, offsets[1:]))  # no overlap
    assert ends[-1] <= size
    n0, plain = runner.bandwidth_layout(kernel, size, 0)
    assert plain == [i * n0 * 8 for i in range(len(plain))]  # --array-offset 0: the old layout


def test_layout_refuses_a_bad_offset():
    with pytest.raises(NumabenchError, match="multiple of 64"):
        runner.bandwidth_layout("copy", 1 << 20, 100)
    with pytest.raises(NumabenchError, match="too small"):
        runner.bandwidth_layout("triad", 4096)


@pytest.mark.parametrize("kernel", ["read", "copy_nt", "triad"])
def test_measure_bandwidth_calibrates_and_keeps_skew(arena, kernel):
    figures = runner.measure_bandwidth(arena, kernel, 1 << 20, CPU_SETS[-1], runner.Sampling.fixed(3, 0.002))
    assert len(figures["samples"]) == 3 and len(figures["start_skew_ns"]) == 3
    assert figures["passes_per_sample"] >= 1 and figures["warmup_passes"] == runner.WARMUP_PASSES
    assert figures["array_offset_bytes"] == DEFAULT_ARRAY_OFFSET
    assert set(figures["skewed_samples"]) <= {0, 1, 2}
    assert figures["sampling"]["mode"] == "fixed" and figures["sampling"]["samples_taken"] == 3
    if kernel == "read":
        assert figures["checksum_ok"] is True


@pytest.mark.parametrize("kernel", ["read", "triad"])
def test_auto_isa_is_the_fastest_of_the_probe(arena, kernel):
    n, offsets = runner.bandwidth_layout(kernel, 1 << 20)
    isa, probe = runner.choose_isa(arena, kernel, n, offsets, CPU_SETS[-1], 0.002)
    candidates = [i for i in runner.AUTO_ISA_CANDIDATES if _native.isa_supported(i)]
    assert probe["candidates"] == candidates and probe["chosen"] == isa
    assert probe["rounds"] == (runner.ISA_PROBE_ROUNDS if len(candidates) > 1 else 0)
    if len(candidates) > 1:
        medians, scores = probe["median_bytes_per_s"], probe["paired_scores"]
        assert set(medians) == set(scores) == set(candidates) and all(v > 0 for v in medians.values())
        assert scores[isa] == max(scores.values())


def test_measure_bandwidth_records_the_probe_only_for_auto(arena):
    auto = runner.measure_bandwidth(arena, "copy", 1 << 20, CPU_SETS[0], runner.Sampling.fixed(2, 0.002))
    assert auto["isa"] == auto["isa_probe"]["chosen"]
    pinned = runner.measure_bandwidth(arena, "copy", 1 << 20, CPU_SETS[0], runner.Sampling.fixed(2, 0.002), "sse2")
    assert pinned["isa"] == "sse2" and "isa_probe" not in pinned


def test_adaptive_latency_sampling_respects_its_budget(arena):
    sampling = runner.Sampling(3, 6, 1e-9, 0.002)  # a target no machine meets: runs to the budget
    figures = runner.measure_latency(arena, 1 << 20, ONLINE[0], sampling)
    assert len(figures["samples"]) == 6
    assert figures["sampling"]["target_reached"] is False
