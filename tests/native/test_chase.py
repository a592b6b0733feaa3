"""The pointer chase: its permutation is a single cycle through every slot, and
chase_run follows exactly the number of loads asked."""

import numpy as np
import pytest

from numabench.native import _native

pytestmark = pytest.mark.native

MiB = 1 << 20
STRIDE = 64


def chain_indices(arena, size_bytes, stride=STRIDE):
    """The chain as slot indices: next[i] is the slot that slot i points to.

    Reading through a numpy view invalidates the arena's chains (a view may write):
    build again (same seed, same chain) before chasing."""
    n = size_bytes // stride
    words = np.frombuffer(arena, dtype=np.uint64)
    slots = words[:: stride // 8][:n].copy()
    del words
    offsets = slots.astype(np.int64) - arena.address
    assert (offsets >= 0).all() and (offsets < size_bytes).all(), "a pointer leaves the chased range"
    assert (offsets % stride == 0).all(), "a pointer is not on a slot boundary"
    return offsets // stride


def assert_single_cycle(nxt):
    n = len(nxt)
    seen = np.zeros(n, dtype=bool)
    i = 0
    for _ in range(n):
        assert not seen[i], f"slot {i} visited twice before {n} steps"
        seen[i] = True
        i = int(nxt[i])
    assert i == 0, "the walk does not return to slot 0 after n steps"
    assert seen.all()


@pytest.mark.parametrize(
    "size_bytes, seed",
    [(MiB, 1), (MiB, 2), (MiB, 0xDEADBEEF), (3 * 64 * 1000 + 64 * 7, 5), (128, 9), (64 * 3, 1)],
)
def test_permutation_is_one_cycle(size_bytes, seed):
    # Includes a non-power-of-two slot count (3007) and the smallest chains (2, 3 slots).
    arena = _native.Arena(MiB)
    try:
        _native.chase_build(arena, size_bytes, STRIDE, seed)
        nxt = chain_indices(arena, size_bytes)
        assert len(nxt) == size_bytes // STRIDE
        assert sorted(nxt.tolist()) == list(range(len(nxt)))  # a permutation
        assert not (nxt == np.arange(len(nxt))).any()  # no fixed point
        assert_single_cycle(nxt)
    finally:
        arena.close()


def test_wider_stride_is_one_cycle():
    arena = _native.Arena(MiB)
    try:
        _native.chase_build(arena, MiB, 256, 3)
        assert_single_cycle(chain_indices(arena, MiB, 256))
    finally:
        arena.close()


def test_seeds_give_different_permutations_and_a_seed_repeats():
    arena = _native.Arena(MiB)
    try:
        chains = {}
        for seed in (1, 2, 3, 1):
            _native.chase_build(arena, MiB, STRIDE, seed)
            nxt = chain_indices(arena, MiB)
            if seed in chains:
                assert (chains[seed] == nxt).all(), "the same seed gave another permutation"
            chains[seed] = nxt
        assert not (chains[1] == chains[2]).all()
        assert not (chains[2] == chains[3]).all()
        assert not (chains[1] == chains[3]).all()
    finally:
        arena.close()


@pytest.mark.parametrize("size_bytes", [MiB, 64 * 3001])
def test_chase_run_follows_exactly_the_asked_loads(size_bytes):
    n = size_bytes // STRIDE
    arena = _native.Arena(MiB)
    try:
        _native.chase_build(arena, size_bytes, STRIDE, 11)
        nxt = chain_indices(arena, size_bytes)
        chain = _native.chase_build(arena, size_bytes, STRIDE, 11)
        seconds, end = _native.chase_run(chain, 0, 0, n, 0)
        assert end == 0  # n loads: back at the start
        assert seconds >= 0
        _, end = _native.chase_run(chain, 0, 0, n - 1, 0)
        assert end != 0
        # n-1 loads end on the slot whose successor is slot 0.
        assert nxt[end // STRIDE] == 0
        # Warm-up loads count too: 5 + (n - 5) loads is a full cycle.
        _, end = _native.chase_run(chain, 0, 5, n - 5, 0)
        assert end == 0
        # Starting elsewhere: 1 load from slot k lands on nxt[k].
        k = int(nxt[0])
        _, end = _native.chase_run(chain, k * STRIDE, 0, 1, 0)
        assert end == int(nxt[k]) * STRIDE
        # Past the 16-load unrolled steps: 37 loads from slot 0 follow nxt 37 times.
        i = 0
        for _ in range(37):
            i = int(nxt[i])
        _, end = _native.chase_run(chain, 0, 0, 37, 0)
        assert end == i * STRIDE
    finally:
        arena.close()


def test_chase_argument_errors():
    arena = _native.Arena(MiB)
    try:
        with pytest.raises(ValueError):
            _native.chase_build(arena, 64, STRIDE, 1)  # one slot only
        with pytest.raises(ValueError):
            _native.chase_build(arena, MiB, 12, 1)  # not a multiple of a pointer
        with pytest.raises(ValueError, match="outside the arena"):
            _native.chase_build(arena, 2 * MiB, STRIDE, 1)
        chain = _native.chase_build(arena, MiB, STRIDE, 1)
        with pytest.raises(ValueError):
            _native.chase_run(chain, 0, 0, 0, 0)  # zero loads
        with pytest.raises(ValueError, match="not a slot of the chain"):
            _native.chase_run(chain, MiB, 0, 1, 0)
    finally:
        arena.close()


def test_close_refused_while_numpy_view_of_chain_exists():
    arena = _native.Arena(MiB)
    _native.chase_build(arena, MiB, STRIDE, 1)
    words = np.frombuffer(arena, dtype=np.uint64)
    slots = words[::8]  # a view of a view still holds the buffer
    del words
    with pytest.raises(BufferError):
        arena.close()
    assert int(slots[0]) - arena.address < MiB
    del slots
    arena.close()
    assert arena.closed
