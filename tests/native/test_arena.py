"""Arenas on this machine's real memory: where every page is (move_pages), numa_maps
agreeing with it, argument errors, views blocking close, and no leaked mappings."""

import errno
import gc

import numpy as np
import pytest

from numabench.native import _native
from numabench.native.placement import Placement, place

pytestmark = pytest.mark.native

MiB = 1 << 20
SIZE = 64 * MiB
BASE_PAGE = 4096


@pytest.mark.parametrize("pages", ["4k", "thp"])
def test_every_page_lands_on_node0(pages):
    arena = _native.Arena(SIZE, pages)
    try:
        assert arena.size_bytes == SIZE
        assert arena.map_bytes == SIZE
        assert arena.page_bytes == BASE_PAGE
        if pages == "thp":
            assert arena.address % (2 * MiB) == 0
        arena.bind("bind", [0])
        before = arena.locate()
        assert before.shape == (SIZE // BASE_PAGE,)
        # Nothing faulted in yet: move_pages reports -ENOENT for every page.
        assert (before == -errno.ENOENT).all()
        arena.populate(0)
        nodes = arena.locate()
        assert nodes.shape == (16384,)
        assert (nodes == 0).all(), np.unique(nodes, return_counts=True)
        huge_kib = _anon_huge_kib(arena.address)
        if pages == "4k":
            # MADV_NOHUGEPAGE: no THP even when the system mode is "always".
            assert huge_kib == 0
        elif _thp_mode() != "never":
            # MADV_HUGEPAGE took effect: at least part of the arena is THP-backed.
            assert huge_kib > 0
    finally:
        arena.close()
    assert arena.closed


def _thp_mode():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            text = f.read()
    except OSError:
        return "never"
    return text[text.index("[") + 1 : text.index("]")]


def _anon_huge_kib(address):
    """AnonHugePages of the mapping holding `address`, from /proc/self/smaps."""
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and all(c in "0123456789abcdef-" for c in head):
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= address < hi
            elif inside and line.startswith("AnonHugePages:"):
                return int(line.split()[1])
    raise AssertionError(f"no mapping holds {address:#x} in /proc/self/smaps")


def test_locate_reports_partly_populated_arena():
    # Only the pages written through a view are present; the others stay -ENOENT.
    arena = _native.Arena(16 * BASE_PAGE, "4k")
    try:
        view = np.frombuffer(arena, dtype=np.uint8)
        view[0] = 1
        view[5 * BASE_PAGE + 17] = 1
        del view
        nodes = arena.locate()
        assert nodes[0] == 0 and nodes[5] == 0
        rest = np.delete(nodes, [0, 5])
        assert (rest == -errno.ENOENT).all(), nodes
    finally:
        arena.close()


@pytest.mark.parametrize("pages", ["4k", "thp"])
def test_place_binds_and_verifies_with_move_pages(pages):
    arena, placement = place(SIZE, pages, [0], "bind", 0)
    try:
        assert isinstance(placement, Placement)
        assert placement.ok
        assert placement.method == "mbind"
        assert placement.verified_by == "move_pages"
        assert placement.pages_by_node == {0: SIZE // BASE_PAGE}
        assert placement.pages_unlocated == 0
        assert placement.on_target_fraction == 1.0
        assert placement.page_bytes == BASE_PAGE
        assert placement.to_dict()["pages_by_node"] == {"0": SIZE // BASE_PAGE}
    finally:
        arena.close()


def test_place_first_touch():
    arena, placement = place(SIZE, "4k", [0], "bind", 0, force_first_touch=True)
    try:
        assert placement.method == "first-touch"
        assert placement.verified_by == "move_pages"
        assert placement.pages_by_node == {0: SIZE // BASE_PAGE}
        assert placement.ok
        assert any("first touch" in note for note in placement.notes), placement.notes
    finally:
        arena.close()


@pytest.mark.parametrize("pages", ["4k", "thp"])
def test_numa_maps_agrees_with_move_pages(pages):
    # The guard pages keep the arena's VMA (and numa_maps line) its own: a
    # neighbouring mapping merged into it would inflate the counts.
    neighbours = [_native.Arena(4 * MiB, pages) for _ in range(3)]
    try:
        for n in neighbours:
            n.populate(0)
        arena, by_numa_maps = place(SIZE, pages, [0], "bind", 0, force_numa_maps=True)
        try:
            by_move_pages, unlocated, verified_by = _locate_move_pages(arena)
            assert verified_by == "move_pages"
            assert by_numa_maps.verified_by == "numa_maps"
            assert by_numa_maps.pages_by_node == by_move_pages == {0: SIZE // BASE_PAGE}
            assert by_numa_maps.pages_unlocated == unlocated == 0
            assert by_numa_maps.ok
        finally:
            arena.close()
    finally:
        for n in neighbours:
            n.close()


def _locate_move_pages(arena):
    from numabench.native.placement import locate

    return locate(arena)


def test_arena_argument_errors():
    with pytest.raises(ValueError):
        _native.Arena(0)
    with pytest.raises(ValueError, match="bogus"):
        _native.Arena(1 << 30, "bogus")
    arena = _native.Arena(MiB)
    try:
        with pytest.raises(ValueError, match="policy"):
            arena.bind("sideways", [0])
        with pytest.raises(ValueError):
            arena.bind("bind", [])
        with pytest.raises(ValueError):
            arena.bind("bind", [4096])
    finally:
        arena.close()
    # A closed arena refuses everything but a second close.
    with pytest.raises(ValueError, match="closed"):
        arena.populate()
    with pytest.raises(ValueError, match="closed"):
        arena.locate()
    with pytest.raises(ValueError, match="closed"):
        np.frombuffer(arena, dtype=np.uint8)
    arena.close()


def test_close_refused_while_a_view_exists():
    arena = _native.Arena(MiB)
    view = np.frombuffer(arena, dtype=np.float64)
    with pytest.raises(BufferError):
        arena.close()
    assert not arena.closed
    view[:] = 2.0  # still mapped and writable after the refused close
    assert view.sum() == 2.0 * (MiB // 8)
    del view
    arena.close()
    assert arena.closed


def _vm_size_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1])
    raise AssertionError("no VmSize in /proc/self/status")


def test_no_leaked_mappings():
    size = 8 * MiB

    def cycle(explicit_close):
        arena = _native.Arena(size, "thp" if explicit_close else "4k")
        view = np.frombuffer(arena, dtype=np.uint8)
        view[:: BASE_PAGE * 64] = 1
        del view
        assert (arena.locate()[::64] == 0).all()
        if explicit_close:
            arena.close()
        # else: the garbage collector's __dealloc__ unmaps it

    for explicit in (True, False):
        cycle(explicit)  # warm-up: numpy/allocator arenas reach their steady size
        gc.collect()
        before = _vm_size_kib()
        for _ in range(200):
            cycle(explicit)
        gc.collect()
        grown_kib = _vm_size_kib() - before
        # 200 leaked 8 MiB arenas would be 1.6 GiB; allow a few MiB of allocator noise.
        assert grown_kib < 4 * 1024, f"VmSize grew {grown_kib} KiB over 200 arenas (close={explicit})"
