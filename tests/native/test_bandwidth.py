"""Bandwidth kernels compute what they claim, for every ISA this CPU has, on 1 and 2
pinned threads, with array lengths that leave vector tails; pinning errors are
NativeErrors naming the system call."""

import errno
import os

import numpy as np
import pytest
from conftest import CPU_ISAS, cpu_flags, kernel_arrays

from numabench.errors import NativeError
from numabench.native import _native

pytestmark = pytest.mark.native

ISAS = ("scalar", "sse2", "avx2", "avx512")

FLAGS = cpu_flags()
SUPPORTED = CPU_ISAS
UNSUPPORTED = [isa for isa in ISAS if isa not in SUPPORTED]
KERNELS = ("read", "write", "write_nt", "copy", "copy_nt", "triad")
ONLINE = sorted(os.sched_getaffinity(0))
CPU_SETS = [ONLINE[:1]] + ([ONLINE[:2]] if len(ONLINE) >= 2 else [])
BAD_CPU = (os.cpu_count() or 1) + 7
# Not a multiple of 64 (nor of 32, 16, 4): every kernel runs its scalar tail,
# and with 2 threads the second takes a chunk plus the remainder.
N_ELEMS = 64 * 123 + 37
SCALAR = 3.0
SENTINEL = -12345.25


def layout(n):
    """Byte offsets of arrays a, b, c: 64-byte aligned, with one free cache line
    between arrays so the element just past each one can be checked."""
    stride = (n * 8 + 64 + 63) // 64 * 64
    start = 64 * 3  # 64-byte aligned, deliberately not 4 KiB aligned
    return [start + i * stride for i in range(3)], start + 3 * stride + 64


@pytest.fixture
def arrays():
    """(arena, f64 view, [a, b, c] slices, offsets) with sentinels around every array."""
    offsets, total = layout(N_ELEMS)
    with kernel_arrays(N_ELEMS, offsets, total, SENTINEL) as state:
        yield state


def neighbours_untouched(mem, offset, n):
    first = offset // 8
    return mem[first - 1] == SENTINEL and mem[first + n] == SENTINEL


@pytest.mark.parametrize("cpus", CPU_SETS, ids=lambda c: f"{len(c)}thr")
@pytest.mark.parametrize("isa", SUPPORTED)
@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_results(arrays, kernel, isa, cpus):
    arena, mem, (a, b, c), offsets = arrays["arena"], arrays["mem"], arrays["views"], arrays["offsets"]
    a0, b0, c0 = a.copy(), b.copy(), c.copy()
    seconds, checksum, isa_used = _native.bw_run(kernel, arena, N_ELEMS, offsets, cpus, 2, SCALAR, isa)
    assert isa_used == isa
    assert seconds.shape == (2,)
    if kernel == "read":
        assert checksum == a0.sum()
        assert (a == a0).all()
    elif kernel in ("write", "write_nt"):
        assert (a == SCALAR).all(), np.flatnonzero(a != SCALAR)[:10]
        assert (b == b0).all()
    elif kernel in ("copy", "copy_nt"):
        assert (b == a0).all(), np.flatnonzero(b != a0)[:10]
        assert (a == a0).all()
    else:  # triad: a = b + s*c
        assert (a == b0 + SCALAR * c0).all(), np.flatnonzero(a != b0 + SCALAR * c0)[:10]
        assert (b == b0).all() and (c == c0).all()
    for offset in offsets:
        assert neighbours_untouched(mem, offset, N_ELEMS), f"a kernel wrote outside the array at {offset}"


@pytest.mark.parametrize("isa", SUPPORTED)
@pytest.mark.parametrize("kernel", ["write_nt", "copy_nt", "read"])
def test_tiny_array_on_two_threads(arrays, kernel, isa):
    # Fewer elements than one 64-element chunk: thread 0 gets nothing, thread 1 all.
    arena, mem, (a, b, _), offsets = arrays["arena"], arrays["mem"], arrays["views"], arrays["offsets"]
    n = 37
    a0, b0 = a.copy(), b.copy()
    cpus = CPU_SETS[-1]
    _, checksum, _ = _native.bw_run(kernel, arena, n, offsets, cpus, 1, SCALAR, isa)
    if kernel == "read":
        assert checksum == a0[:n].sum()
    elif kernel == "write_nt":
        assert (a[:n] == SCALAR).all()
    else:
        assert (b[:n] == a0[:n]).all()
    # Nothing past the n elements changed.
    assert (a[n:] == a0[n:]).all()
    assert (b[n:] == b0[n:]).all()
    assert mem[offsets[0] // 8 - 1] == SENTINEL


def test_auto_uses_the_best_isa(arrays):
    _, _, isa_used = _native.bw_run("read", arrays["arena"], N_ELEMS, arrays["offsets"], [ONLINE[0]])
    assert isa_used == _native.isa_best()
    assert _native.isa_supported(isa_used)


def test_isa_probe_agrees_with_cpuinfo():
    for isa in ISAS:
        flags = sorted(FLAGS & {"sse2", "avx2", "fma", "avx512f"})
        assert _native.isa_supported(isa) == (isa in SUPPORTED), (isa, flags)
    assert _native.isa_best() == SUPPORTED[-1]


def test_isa_names():
    assert _native.isa_supported("scalar")
    with pytest.raises(ValueError, match="sse9"):
        _native.isa_supported("sse9")


@pytest.mark.skipif(not UNSUPPORTED, reason="this CPU supports every ISA numabench knows")
@pytest.mark.parametrize("isa", UNSUPPORTED)
def test_unsupported_isa_is_refused_by_name(arrays, isa):
    with pytest.raises(NativeError) as info:
        _native.bw_run("read", arrays["arena"], N_ELEMS, arrays["offsets"], [ONLINE[0]], 1, SCALAR, isa)
    assert info.value.errno == errno.ENOTSUP
    # The message must say which ISA is missing, so the user knows what to pass instead.
    assert isa in str(info.value).lower(), str(info.value)


def test_bandwidth_argument_errors(arrays):
    arena, offsets = arrays["arena"], arrays["offsets"]
    with pytest.raises(ValueError, match="bogus"):
        _native.bw_run("bogus", arena, N_ELEMS, offsets, [0])
    with pytest.raises(ValueError, match="64-byte"):
        _native.bw_run("read", arena, N_ELEMS, [offsets[0] + 8], [0])
    with pytest.raises(ValueError, match="needs 3 arrays"):
        _native.bw_run("triad", arena, N_ELEMS, offsets[:2], [0])
    with pytest.raises(ValueError, match="outside the arena"):
        _native.bw_run("read", arena, arena.map_bytes // 8, [offsets[0]], [0])
    with pytest.raises(ValueError, match="CPU"):
        _native.bw_run("read", arena, N_ELEMS, offsets, [])
    with pytest.raises(ValueError, match="samples"):
        _native.bw_run("read", arena, N_ELEMS, offsets, [0], 0)


# --------------------------------------------------------------------------- pinning


def assert_pinning_error(exc):
    assert isinstance(exc, NativeError)
    assert isinstance(exc, OSError)
    assert exc.syscall == "pthread_setaffinity_np"
    assert exc.errno == errno.EINVAL
    assert "pthread_setaffinity_np" in str(exc) and "EINVAL" in str(exc)


@pytest.mark.parametrize("cpus", [[BAD_CPU], [ONLINE[0], BAD_CPU]], ids=["alone", "with-a-good-cpu"])
def test_bw_run_on_missing_cpu(arrays, cpus):
    with pytest.raises(OSError) as info:
        _native.bw_run("read", arrays["arena"], N_ELEMS, arrays["offsets"], cpus)
    assert_pinning_error(info.value)


def test_chase_run_on_missing_cpu():
    arena = _native.Arena(1 << 20)
    try:
        chain = _native.chase_build(arena, 1 << 20, 64, 1)
        with pytest.raises(NativeError) as info:
            _native.chase_run(chain, 0, 0, 100, BAD_CPU)
        assert_pinning_error(info.value)
    finally:
        arena.close()


def test_populate_on_missing_cpu():
    arena = _native.Arena(1 << 20)
    try:
        with pytest.raises(NativeError) as info:
            arena.populate(BAD_CPU)
        assert_pinning_error(info.value)
        # The calling thread's own affinity was not left changed.
        assert sorted(os.sched_getaffinity(0)) == ONLINE
        assert (arena.locate() < 0).all()  # nothing was faulted in
    finally:
        arena.close()


def test_cpu_beyond_cpu_setsize_is_refused():
    # 4095 is past glibc's CPU_SETSIZE (1024): the core refuses it before any
    # syscall (ValueError today). Whatever the type, it must never run unpinned.
    arena = _native.Arena(1 << 20)
    try:
        chain = _native.chase_build(arena, 1 << 20, 64, 1)
        with pytest.raises((ValueError, NativeError)):
            _native.chase_run(chain, 0, 0, 100, 4095)
        with pytest.raises((ValueError, NativeError)):
            _native.bw_run("read", arena, 1024, [0], [4095])
    finally:
        arena.close()
