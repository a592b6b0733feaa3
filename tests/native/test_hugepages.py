"""hugetlbfs pages (2 MiB, 1 GiB): placement, the node pool's free count, and the
errors when the pool is short. Reserves pages as root and gives the old values back."""

import json
import os

import pytest
from conftest import NR_HUGEPAGES_1G, NR_HUGEPAGES_2M, node_hugepage_file, read_int

from numabench.errors import HugepageError
from numabench.native.placement import place

pytestmark = [pytest.mark.native, pytest.mark.root]

MiB = 1 << 20
GiB = 1 << 30
FREE_2M_NODE0 = node_hugepage_file(0, 2048, "free_hugepages")
FREE_1G_NODE0 = node_hugepage_file(0, 1048576, "free_hugepages")


def test_2m_pages_on_node0(hugepage_pool):
    hugepage_pool.require(NR_HUGEPAGES_2M, 8)
    free_before = read_int(FREE_2M_NODE0)
    assert free_before >= 8
    arena, placement = place(16 * MiB, "2m", [0], "bind", 0)
    try:
        assert arena.page_bytes == 2 * MiB
        assert placement.page_bytes == 2 * MiB
        assert arena.address % (2 * MiB) == 0
        assert placement.ok and placement.method == "mbind" and placement.verified_by == "move_pages"
        assert placement.pages_by_node == {0: 8}
        assert placement.pages_unlocated == 0
        assert list(arena.locate()) == [0] * 8
        assert read_int(FREE_2M_NODE0) == free_before - 8
    finally:
        arena.close()
    assert read_int(FREE_2M_NODE0) == free_before


def test_2m_numa_maps_counts_hugepages(hugepage_pool):
    hugepage_pool.require(NR_HUGEPAGES_2M, 4)
    arena, placement = place(8 * MiB, "2m", [0], "bind", 0, force_numa_maps=True)
    try:
        assert placement.verified_by == "numa_maps"
        assert placement.pages_by_node == {0: 4}
        assert placement.ok
    finally:
        arena.close()


def test_1g_page_on_node0(hugepage_pool):
    hugepage_pool.require(NR_HUGEPAGES_1G, 1)
    free_before = read_int(FREE_1G_NODE0)
    arena, placement = place(GiB, "1g", [0], "bind", 0)
    try:
        assert arena.page_bytes == GiB
        assert arena.address % GiB == 0
        assert placement.pages_by_node == {0: 1}
        assert placement.ok and placement.verified_by == "move_pages"
        assert read_int(FREE_1G_NODE0) == free_before - 1
    finally:
        arena.close()
    assert read_int(FREE_1G_NODE0) == free_before


def test_short_2m_pool_raises_hugepage_error(hugepage_pool):
    pages = hugepage_pool.short_by_one(NR_HUGEPAGES_2M)
    with pytest.raises(HugepageError) as info:
        place(pages * 2 * MiB, "2m", [0], "bind", 0)
    message = str(info.value)
    assert "nr_hugepages" in message
    assert "hugepages-2048kB" in message  # the right pool's file, not the 1 GiB one


def test_cli_2m_without_enough_reserved_pages(hugepage_pool, cli):
    pages = hugepage_pool.short_by_one(NR_HUGEPAGES_2M)
    proc = cli("run", "--pages", "2m", "--size", f"{pages * 2}M", "--kernels", "read", "--repeat", "1")
    cli.one_line_error(proc, "nr_hugepages")
    assert proc.stdout == ""


def test_cli_2m_with_reserved_pages(hugepage_pool, cli):
    hugepage_pool.require(NR_HUGEPAGES_2M, 32)
    proc = cli("run", "--pages", "2m", "--size", "64M", "--kernels", "read", "--repeat", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    (m,) = result["measurements"]
    assert m["kernel"] == "read"
    assert m["pages"] == "2m"
    assert m["pages_by_node"] == {"0": 32}
    assert m["placement"]["page_bytes"] == 2 * MiB
    assert m["placement"]["ok"] is True
    assert m["checksum_ok"] is True


def test_pool_fixture_restores(hugepage_pool):
    before = read_int(NR_HUGEPAGES_2M)
    hugepage_pool.reserve(NR_HUGEPAGES_2M, before + 2)
    hugepage_pool.restore()
    assert read_int(NR_HUGEPAGES_2M) == before
    assert os.path.exists(FREE_2M_NODE0)
