"""The native boundary cannot crash Python: None arenas, sizes past 2^64 or negative, overflowing
products, chases without a chain (or with one overwritten since), and every C status reaching
Python as one exception class that keeps the status code, the errno and the call."""

import errno
import os

import numpy as np
import pytest

from numabench.errors import (
    CpusetError,
    NativeArgumentError,
    NativeError,
    NativeMemoryError,
    NativePermissionError,
    NativeTimeoutError,
    NativeUnsupportedError,
    NumabenchError,
)
from numabench.native import _native, placement

pytestmark = pytest.mark.native

MiB = 1 << 20
CPU = min(os.sched_getaffinity(0))
U64 = 1 << 64
# Past the 47- (or 56-) bit user address space: mmap refuses it whatever the overcommit mode.
UNMAPPABLE = 1 << 60


@pytest.fixture
def arena():
    a = _native.Arena(MiB)
    yield a
    a.close()


@pytest.fixture
def chain(arena):
    return _native.chase_build(arena, MiB, 64, 7)


# --------------------------------------------------------------------------- None arenas


def test_none_arena_is_refused_everywhere(chain):
    # Each of these followed a NULL arena into C and crashed the interpreter.
    with pytest.raises(TypeError):
        _native.chase_build(None, MiB)
    with pytest.raises(TypeError):
        _native.chase_run(None, 0, 0, 1, CPU)
    with pytest.raises(TypeError):
        _native.bw_run("read", None, 8, [0], [CPU])
    with pytest.raises(TypeError):
        _native.loaded_run(None, 0, 1, CPU, chain.arena, 0, [])
    with pytest.raises(TypeError):
        _native.loaded_run(chain, 0, 1, CPU, None, 0, [])


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("size", [-1, U64, U64 + 4096, 2**100, 1.5, "1G"])
def test_arena_size_outside_size_t_is_a_numabench_error(size):
    with pytest.raises(NativeArgumentError) as info:
        _native.Arena(size)
    assert isinstance(info.value, NumabenchError) and isinstance(info.value, ValueError)
    assert info.value.status == _native.STATUS["invalid"] and info.value.errno == errno.EINVAL


@pytest.mark.parametrize("size", [U64 - 1, U64 - 4096, U64 - 3 * 4096])
@pytest.mark.parametrize("pages", ["4k", "thp", "2m", "1g"])
def test_size_that_wraps_when_rounded_up_is_refused_in_c(size, pages):
    # nb_round_up(2^64 - 1, 4096) wrapped to 0: a "successful" arena of 0 mapped bytes.
    with pytest.raises(NativeArgumentError) as info:
        _native.Arena(size, pages)
    assert info.value.syscall == "nb_arena_map", str(info.value)
    assert "address space" in str(info.value)


def test_bw_run_element_count_that_wraps_times_8_is_refused(arena):
    # (2^61 + 16) * 8 wraps to 128 bytes: the range check passed and the kernel wrote 2^61 doubles.
    for n in (2**61 + 16, 2**62, U64 - 1):
        with pytest.raises(NativeArgumentError, match="n_elems"):
            _native.bw_run("write", arena, n, [0], [CPU])
    with pytest.raises(NativeArgumentError, match="n_elems"):
        _native.bw_run("write", arena, -1, [0], [CPU])
    with pytest.raises(NativeArgumentError, match="outside the arena"):
        _native.bw_run("write", arena, 8, [U64 - 64], [CPU])
    with pytest.raises(NativeArgumentError, match="offset"):
        _native.bw_run("write", arena, 8, [U64], [CPU])


def test_counts_and_cpus_outside_their_c_types_are_refused(arena, chain):
    with pytest.raises(NativeArgumentError, match="seed"):
        _native.chase_build(arena, MiB, 64, -1)
    with pytest.raises(NativeArgumentError, match="seed"):
        _native.chase_build(arena, MiB, 64, U64)
    chain = _native.chase_build(arena, MiB, 64, U64 - 1)  # the largest seed is fine
    with pytest.raises(NativeArgumentError, match="stride_bytes"):
        _native.chase_build(arena, MiB, 0)
    with pytest.raises(NativeArgumentError, match="loads"):
        _native.chase_run(chain, 0, 0, U64, CPU)
    with pytest.raises(NativeArgumentError, match="warmup_loads"):
        _native.chase_run(chain, 0, -1, 1, CPU)
    with pytest.raises(NativeArgumentError, match="cpu"):
        _native.chase_run(chain, 0, 0, 1, 2**40)
    with pytest.raises(NativeArgumentError, match="cpu"):
        _native.bw_run("read", arena, 8, [0], [2**40])
    with pytest.raises(NativeArgumentError, match="samples"):
        _native.bw_run("read", arena, 8, [0], [CPU], 2**40)
    with pytest.raises(NativeArgumentError, match="cpu"):
        arena.populate(2**40)
    other = _native.Arena(MiB)
    try:
        with pytest.raises(NativeArgumentError, match="delay"):
            _native.loaded_run(chain, 0, 1, CPU, other, MiB, [CPU], "read", 2**32)
        with pytest.raises(NativeArgumentError, match="cpu"):
            _native.loaded_run(chain, 0, 1, CPU, other, MiB, [2**40])
    finally:
        other.close()


def test_locate_stride_is_checked(arena):
    with pytest.raises(NativeArgumentError, match="stride_bytes"):
        arena.locate(0)  # was a ZeroDivisionError
    with pytest.raises(NativeArgumentError, match="stride_bytes"):
        arena.locate(arena.map_bytes + 1)  # was zero pages and out[0] of an empty array
    assert len(arena.locate(arena.map_bytes)) == 1


# --------------------------------------------------------------------------- chains


def test_only_a_chain_is_chased(arena):
    # A fresh arena holds zeros: chasing it followed a NULL pointer.
    with pytest.raises(TypeError):
        _native.chase_run(arena, 0, 0, 10, CPU)
    with pytest.raises(TypeError):
        _native.loaded_run(arena, 0, 10, CPU, arena, 0, [])
    with pytest.raises(TypeError):
        _native.Chain()


def test_chain_records_what_was_built(arena):
    chain = _native.chase_build(arena, MiB - 100, 128, 9)  # the last, partial slot is not used
    assert chain.arena is arena
    assert chain.start_offset == 0
    assert chain.size_bytes == MiB - 128 and chain.stride_bytes == 128 and chain.seed == 9
    assert chain.slots == MiB // 128 - 1
    assert chain.valid
    _, end = _native.chase_run(chain, chain.start_offset, 0, chain.slots, CPU)
    assert end == chain.start_offset  # one cycle through every slot


def test_chain_keeps_its_arena_alive():
    chain = _native.chase_build(_native.Arena(MiB), MiB, 64, 3)
    import gc

    gc.collect()
    _, end = _native.chase_run(chain, 0, 0, MiB // 64, CPU)
    assert end == 0


def test_cursor_must_be_a_slot_of_the_chain(chain):
    # Offset 8 is inside slot 0, not a pointer: chasing from it read garbage.
    for offset in (8, 63, MiB, MiB + 64, -64, U64):
        with pytest.raises(NativeArgumentError):
            _native.chase_run(chain, offset, 0, 1, CPU)
    _, end = _native.chase_run(chain, 64, 0, 1, CPU)
    assert end % 64 == 0 and end < MiB


@pytest.mark.parametrize("writer", ["write", "copy", "populate", "view", "rebuild"])
def test_chain_overwritten_since_it_was_built_is_refused(arena, chain, writer):
    if writer in ("write", "copy"):
        _native.bw_run(writer, arena, MiB // 16, [0, MiB // 2], [CPU])
    elif writer == "populate":
        arena.populate(CPU)
    elif writer == "view":
        view = np.frombuffer(arena, dtype=np.uint64)
        view[:] = 0
        del view
    else:
        _native.chase_build(arena, MiB, 256, 1)
    assert not chain.valid
    with pytest.raises(NativeArgumentError, match="build it again"):
        _native.chase_run(chain, 0, 0, 10, CPU)
    with pytest.raises(NativeArgumentError, match="build it again"):
        _native.loaded_run(chain, 0, 10, CPU, arena, 0, [])
    # The same seed builds the same chain again, and it runs.
    again = _native.chase_build(arena, MiB, 64, 7)
    _, end = _native.chase_run(again, 0, 0, MiB // 64, CPU)
    assert end == 0


def test_reading_kernel_leaves_the_chain_valid(arena, chain):
    _native.bw_run("read", arena, MiB // 8, [0], [CPU])
    assert chain.valid
    _, end = _native.chase_run(chain, 0, 0, MiB // 64, CPU)
    assert end == 0


def test_chain_refused_while_a_view_of_its_arena_exists(arena):
    view = np.frombuffer(arena, dtype=np.uint8)
    chain = _native.chase_build(arena, MiB, 64, 1)
    with pytest.raises(NativeArgumentError, match="views"):
        _native.chase_run(chain, 0, 0, 1, CPU)
    del view
    _native.chase_run(chain, 0, 0, 1, CPU)


def test_chain_of_a_closed_arena_is_refused():
    arena = _native.Arena(MiB)
    chain = _native.chase_build(arena, MiB, 64, 1)
    arena.close()
    assert not chain.valid
    with pytest.raises(NativeArgumentError, match="closed"):
        _native.chase_run(chain, 0, 0, 1, CPU)


def test_rw_injection_into_the_chains_own_arena_is_refused(arena, chain):
    with pytest.raises(NativeArgumentError, match="own arena"):
        _native.loaded_run(chain, 0, 10, CPU, arena, MiB, [CPU], "rw")


@pytest.mark.parametrize("loads", [1, 15, 16, 17, 37, 16 * 5 + 3])
def test_loaded_chase_follows_exactly_the_asked_loads(arena, loads):
    # loaded_run and chase_run share one (unrolled) walk: same loads, same end slot.
    chain = _native.chase_build(arena, MiB, 64, 5)
    _, expected = _native.chase_run(chain, 0, 0, loads, CPU)
    _, end, _, _ = _native.loaded_run(chain, 0, loads, CPU, arena, 0, [])
    assert end == expected


# --------------------------------------------------------------------------- status -> exception


def test_status_map_keeps_code_errno_and_call():
    cases = [
        ("syscall", NativeError, errno.EIO),
        ("invalid", NativeArgumentError, errno.EINVAL),
        ("nomem", NativeMemoryError, errno.ENOMEM),
        ("unsupported", NativeUnsupportedError, errno.ENOSYS),
        ("denied", NativePermissionError, errno.EPERM),
        ("timeout", NativeTimeoutError, errno.ETIMEDOUT),
    ]
    assert sorted(_native.STATUS) == sorted(name for name, _, _ in cases)
    for name, cls, err in cases:
        exc = _native.status_error(_native.STATUS[name], err, "mbind")
        assert type(exc) is cls, name
        assert isinstance(exc, NativeError) and isinstance(exc, OSError) and isinstance(exc, NumabenchError)
        assert exc.status == _native.STATUS[name] and exc.errno == err and exc.syscall == "mbind"
        assert str(exc) == f"mbind failed: {errno.errorcode[err]} ({os.strerror(err)})"
    refusal = _native.status_error(_native.STATUS["invalid"], errno.EINVAL, "nb_chase_build", "too small")
    assert str(refusal) == "nb_chase_build: too small"


def test_mmap_enomem_is_a_memory_error_with_its_code():
    # NB_ERR_NOMEM used to be computed in C and thrown away.
    with pytest.raises(NativeMemoryError) as info:
        _native.Arena(UNMAPPABLE)
    exc = info.value
    assert exc.status == _native.STATUS["nomem"] and exc.errno == errno.ENOMEM and exc.syscall == "mmap"


def test_refusals_in_c_name_the_function(arena):
    with pytest.raises(NativeArgumentError) as info:
        _native.chase_build(arena, MiB, 12)
    assert info.value.syscall == "nb_chase_build" and info.value.status == _native.STATUS["invalid"]
    assert "multiple of a pointer" in str(info.value)


def test_pinning_failure_keeps_the_syscall(chain):
    with pytest.raises(NativeError) as info:
        _native.chase_run(chain, 0, 0, 1, (os.cpu_count() or 1) + 7)
    assert type(info.value) is NativeError
    assert info.value.status == _native.STATUS["syscall"] and info.value.syscall == "pthread_setaffinity_np"


def test_mbind_to_a_missing_node_is_refused_in_c_and_placed_as_cpuset_error(arena):
    missing = max(int(d[4:]) for d in os.listdir("/sys/devices/system/node") if d[4:].isdigit()) + 1
    with pytest.raises(NativeArgumentError) as info:
        arena.bind("bind", [missing])
    assert info.value.syscall == "mbind" and info.value.errno == errno.EINVAL
    with pytest.raises(CpusetError, match="mbind"):
        placement.place(MiB, "4k", [missing], "bind", CPU)


class _LockedDownArena:
    """A real arena whose mbind and move_pages are refused as in a pod under the runtime's
    seccomp profile: the status map's classes, not errnos, steer placement."""

    def __init__(self, status, err):
        self._status, self._err = status, err

    real = _native.Arena  # the class itself, before the test patches the module

    def __call__(self, size_bytes, pages):
        self._arena = self.real(size_bytes, pages)
        return self

    def bind(self, *args):
        raise _native.status_error(_native.STATUS[self._status], self._err, "mbind")

    def locate(self, *args):
        raise _native.status_error(_native.STATUS[self._status], self._err, "move_pages")

    def __getattr__(self, name):
        return getattr(self._arena, name)


@pytest.mark.parametrize("status, err", [("denied", errno.EPERM), ("unsupported", errno.ENOSYS)])
def test_placement_falls_back_to_first_touch_on_denied_or_unsupported(monkeypatch, status, err):
    locked = _LockedDownArena(status, err)
    monkeypatch.setattr(placement._native, "Arena", locked)
    arena, placed = placement.place(MiB, "4k", [0], "bind", CPU)
    try:
        assert placed.method == "first-touch"
        assert placed.verified_by == "numa_maps"
        assert any("mbind denied" in note and errno.errorcode[err] in note for note in placed.notes)
        assert placed.pages_by_node.get(0) and placed.ok
    finally:
        arena.close()
