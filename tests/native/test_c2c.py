"""Cache-to-cache latency's native part: the ping-pong completes every round trip it is asked for,
the clean chase goes through its lines, a partner that stops ends in a timeout (never a hang), and
the line sits on the node it was placed on. Nothing here is timed: latencies are only checked to
be positive and finite."""

import errno
import math
import os

import numpy as np
import pytest

from numabench.errors import NativeArgumentError, NativeTimeoutError
from numabench.native import _native
from numabench.native.placement import place

pytestmark = pytest.mark.native

CPUS = sorted(os.sched_getaffinity(0))
TWO_CPUS = pytest.mark.skipif(len(CPUS) < 2, reason=f"c2c needs two allowed CPUs; this process has {CPUS}")
CLEAN = pytest.mark.skipif(not _native.c2c_mode_supported("clean"),
                           reason="clean-line c2c needs clflush (x86); not on this CPU architecture")


@pytest.fixture
def arena():
    a = _native.Arena(2 * _native.C2C_REGION_BYTES)
    a.populate(CPUS[0])
    yield a
    a.close()


def _words(arena, offset, n):
    view = np.frombuffer(arena, dtype=np.uint64)
    out = view[offset // 8: offset // 8 + n].copy()
    del view
    return out


@TWO_CPUS
def test_hitm_ping_pong_completes_every_round_trip(arena):
    ns, done, answered = _native.c2c_run(arena, CPUS[0], CPUS[1], "hitm", round_trips=300, samples=4,
                                         warmup_round_trips=50)
    assert ns.shape == (4,) and all(math.isfinite(v) and v > 0 for v in ns)
    assert done == answered == 50 + 4 * 300
    # The counter went 1, 2, 3, ... : the responder's last store is 2 x the round trips.
    assert _words(arena, 0, 1)[0] == 2 * done


@TWO_CPUS
def test_hitm_uses_only_the_line_at_the_offset(arena):
    offset = _native.C2C_REGION_BYTES
    view = np.frombuffer(arena, dtype=np.uint64)
    view[:] = 7
    del view
    _native.c2c_run(arena, CPUS[1], CPUS[0], "hitm", round_trips=10, samples=1, warmup_round_trips=0, offset=offset)
    words = _words(arena, 0, 2 * _native.C2C_REGION_BYTES // 8)
    assert words[offset // 8] == 20
    rest = np.delete(words, offset // 8)
    assert (rest == 7).all()  # nothing else of the arena was written


@TWO_CPUS
@CLEAN
def test_clean_reads_go_through_one_cycle_of_lines(arena):
    ns, done, answered = _native.c2c_run(arena, CPUS[0], CPUS[1], "clean", round_trips=20, samples=3,
                                         warmup_round_trips=5)
    assert ns.shape == (3,) and all(math.isfinite(v) and v > 0 for v in ns)
    assert done == answered == 5 + 3 * 20
    # Each chased line points to another of the region's lines; following them visits all once.
    base, stride, lines = arena.address, 128, _native.C2C_CLEAN_LINES
    pointers = _words(arena, 0, _native.C2C_REGION_BYTES // 8)[::stride // 8][:lines]
    seen, at = set(), 0
    for _ in range(lines):
        seen.add(at)
        target = int(pointers[at]) - base
        assert target % stride == 0 and 0 <= target < lines * stride
        at = target // stride
    assert at == 0 and len(seen) == lines


@TWO_CPUS
@pytest.mark.parametrize("mode", ["hitm", pytest.param("clean", marks=CLEAN)])
def test_a_partner_that_stops_answering_times_out(arena, mode):
    with pytest.raises(NativeTimeoutError) as info:
        _native.c2c_run(arena, CPUS[0], CPUS[1], mode, round_trips=100, samples=2, warmup_round_trips=10,
                        timeout_s=0.05, responder_limit=30)
    exc = info.value
    assert isinstance(exc, TimeoutError) and exc.status == _native.STATUS["timeout"]
    assert exc.errno == errno.ETIMEDOUT and "did not answer" in str(exc)
    assert exc.responses_done == 30 and exc.round_trips_done == 30


@TWO_CPUS
def test_the_line_stays_on_the_node_it_was_placed_on():
    node = 0
    line, placement = place(_native.C2C_REGION_BYTES, "4k", [node], "bind", CPUS[0])
    try:
        assert placement.ok and placement.pages_by_node == {node: 1}
        _native.c2c_run(line, CPUS[1], CPUS[0], "hitm", round_trips=100, samples=1)
        assert list(line.locate()) == [node]
    finally:
        line.close()


def test_bad_arguments_are_refused_before_any_thread_starts(arena):
    other = CPUS[1] if len(CPUS) > 1 else CPUS[0] + 1
    outside = max(os.cpu_count() or 1, max(CPUS) + 1, 1024)
    cases = [
        dict(initiator_cpu=CPUS[0], responder_cpu=CPUS[0]),
        dict(initiator_cpu=CPUS[0], responder_cpu=outside),
        dict(initiator_cpu=-1, responder_cpu=other),
        dict(initiator_cpu=CPUS[0], responder_cpu=other, mode="dirty"),
        dict(initiator_cpu=CPUS[0], responder_cpu=other, round_trips=0),
        dict(initiator_cpu=CPUS[0], responder_cpu=other, round_trips=2**33),
        dict(initiator_cpu=CPUS[0], responder_cpu=other, samples=0),
        dict(initiator_cpu=CPUS[0], responder_cpu=other, samples=1.5),
        dict(initiator_cpu=CPUS[0], responder_cpu=other, warmup_round_trips=-1),
        dict(initiator_cpu=CPUS[0], responder_cpu=other, timeout_s=0.0),
        dict(initiator_cpu=CPUS[0], responder_cpu=other, timeout_s=float("nan")),
        dict(initiator_cpu=CPUS[0], responder_cpu=other, timeout_s=float("inf")),
        dict(initiator_cpu=CPUS[0], responder_cpu=other, offset=32),
        dict(initiator_cpu=CPUS[0], responder_cpu=other, offset=_native.C2C_REGION_BYTES + 64),
    ]
    for kwargs in cases:
        with pytest.raises(NativeArgumentError) as info:
            _native.c2c_run(arena, **kwargs)
        assert info.value.syscall == "c2c_run", kwargs
    with pytest.raises(NativeArgumentError, match="outside this process's allowed CPUs"):
        _native.c2c_run(arena, CPUS[0], outside)


def test_a_closed_arena_is_refused():
    a = _native.Arena(_native.C2C_REGION_BYTES)
    a.close()
    with pytest.raises(NativeArgumentError, match="closed"):
        _native.c2c_run(a, 0, 1)


def test_modes_the_core_knows():
    assert _native.c2c_mode_supported("hitm")
    with pytest.raises(NativeArgumentError):
        _native.c2c_mode_supported("dirty")
