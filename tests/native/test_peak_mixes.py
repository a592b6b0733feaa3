"""The read/write mixes of `numabench peak` (MLC's --peak_injection_bandwidth) count their bytes
right and really read and write what they claim: for every ISA this CPU has, on 1 and 2 pinned
threads, with lengths that leave vector tails, and never outside their arrays."""

import os

import numpy as np
import pytest
from conftest import CPU_ISAS, kernel_arrays

from numabench.constants import PEAK_MIXES as MIXES
from numabench.measure.peak import MIX_KERNELS, bytes_per_elem
from numabench.native import _native

pytestmark = pytest.mark.native

SUPPORTED = CPU_ISAS  # the CPU's own flags decide the ISAs to test (tests/conftest.py)
ONLINE = sorted(os.sched_getaffinity(0))
CPU_SETS = [ONLINE[:1]] + ([ONLINE[:2]] if len(ONLINE) >= 2 else [])
# Not a multiple of 64 (nor 32, 16, 4): every kernel runs its scalar tail; with 2 threads the
# second takes a chunk plus the remainder.
N = 64 * 77 + 29
SCALAR = 3.0
SENTINEL = -777.5

# mix -> (reads, writes) per element, as MLC names the mix (reads:writes in bytes).
EXPECTED_COUNTS = {"1:0": (1, 0), "3:1": (3, 1), "2:1": (2, 1), "1:1": (1, 1), "triad": (2, 1)}


@pytest.fixture
def arrays():
    stride = (N * 8 + 64 + 63) // 64 * 64
    offsets = [128 + i * stride for i in range(3)]
    with kernel_arrays(N, offsets, offsets[-1] + stride + 64, SENTINEL) as state:
        yield state


def test_every_mix_counts_reads_and_writes_as_mlc_names_them():
    assert list(MIXES) == ["1:0", "3:1", "2:1", "1:1", "triad"]
    for mix, (reads, writes) in EXPECTED_COUNTS.items():
        kernel = MIX_KERNELS[mix]
        assert _native.bw_reads_per_elem(kernel) == reads, mix
        assert _native.bw_writes_per_elem(kernel) == writes, mix
        # Reads plus writes, 8 bytes each, no write-allocate: the counting `run` uses.
        assert _native.bw_bytes_per_elem(kernel) == 8 * (reads + writes) == bytes_per_elem(mix), mix
    # The ratio in the name is the ratio of bytes counted (triad is 2:1 like STREAM's).
    for mix in ("3:1", "2:1", "1:1"):
        r, w = (int(x) for x in mix.split(":"))
        assert _native.bw_reads_per_elem(MIX_KERNELS[mix]) * w == _native.bw_writes_per_elem(MIX_KERNELS[mix]) * r


def test_the_existing_kernels_keep_their_counts():
    for kernel, expected in {"read": 8, "write": 8, "write_nt": 8, "copy": 16, "copy_nt": 16, "triad": 24}.items():
        assert _native.bw_bytes_per_elem(kernel) == expected, kernel


@pytest.mark.parametrize("cpus", CPU_SETS, ids=lambda c: f"{len(c)}thr")
@pytest.mark.parametrize("isa", SUPPORTED)
@pytest.mark.parametrize("mix", ["3:1", "2:1", "1:1", "triad", "1:0"])
def test_mix_writes_what_it_claims(arrays, mix, isa, cpus):
    arena, mem, (a, b, c), offsets = arrays["arena"], arrays["mem"], arrays["views"], arrays["offsets"]
    a0, b0, c0 = a.copy(), b.copy(), c.copy()
    kernel = MIX_KERNELS[mix]
    passes = 3  # in place: each pass adds once more, so every pass's writes are seen
    seconds, checksum, used = _native.bw_run(kernel, arena, N, offsets, cpus, 1, SCALAR, isa, passes, 0)
    assert used == isa and seconds.shape == (1,)
    expected = {
        "1:1": a0 + passes * SCALAR,
        "2:1": a0 + passes * b0,
        "3:1": a0 + passes * (b0 + c0),
        "triad": b0 + SCALAR * c0,
        "1:0": a0,
    }[mix]
    bad = np.flatnonzero(a != expected)
    assert bad.size == 0, (mix, isa, bad[:10])
    # What a mix only reads is left as it was.
    assert (b == b0).all() and (c == c0).all()
    if mix == "1:0":
        assert checksum == a0.sum()
    streams = _native.bw_streams(kernel)
    for offset in offsets[:streams]:
        first = offset // 8
        assert mem[first - 1] == SENTINEL and mem[first + N] == SENTINEL, f"{mix} wrote outside its array"


@pytest.mark.parametrize("isa", SUPPORTED)
def test_isas_agree_bit_for_bit(arrays, isa):
    # Same inputs through the scalar and the vector kernel: the same bits (sums grouped alike).
    arena, (a, b, c), offsets = arrays["arena"], arrays["views"], arrays["offsets"]
    b[:] = np.linspace(-1.0, 1.0, N) / 3.0
    c[:] = np.linspace(2.0, -5.0, N) / 7.0
    start = np.linspace(0.1, 9.0, N) / 11.0
    results = {}
    for which in ("scalar", isa):
        a[:] = start
        _native.bw_run("mix_3to1", arena, N, offsets, CPU_SETS[-1], 1, SCALAR, which, 1, 0)
        results[which] = a.copy()
    assert (results["scalar"] == results[isa]).all()


def test_mix_needs_its_arrays(arrays):
    with pytest.raises(ValueError, match="needs 3 arrays"):
        _native.bw_run("mix_3to1", arrays["arena"], N, arrays["offsets"][:2], [ONLINE[0]])
    with pytest.raises(ValueError, match="needs 2 arrays"):
        _native.bw_run("mix_2to1", arrays["arena"], N, arrays["offsets"][:1], [ONLINE[0]])
    with pytest.raises(ValueError, match="unknown bandwidth kernel"):
        _native.bw_reads_per_elem("mix_4to1")


def test_a_mix_invalidates_chains_in_its_arena():
    # The mixes write: a chain built in the arena before them must be refused afterwards.
    arena = _native.Arena(1 << 20)
    try:
        chain = _native.chase_build(arena, 1 << 19, 64, 1)
        assert chain.valid
        _native.bw_run("mix_1to1", arena, 1024, [1 << 19], [ONLINE[0]])
        assert not chain.valid
    finally:
        arena.close()
