import ctypes
import mmap
import os

import pytest

from numabench.errors import TopologyError
from numabench.host.numamaps import pages_by_node_in_range, parse_numa_maps, read_numa_maps
from numabench.util.cpulist import parse_cpulist

SAMPLE = """\
55d0c8a00000 default file=/usr/bin/python3.11 mapped=120 mapmax=3 active=0 N0=120 kernelpagesize_kB=4
7f12a4000000 bind:1 anon=262144 dirty=262144 N1=262144 kernelpagesize_kB=4
7f12e4000000 interleave:0-3 anon=1000 dirty=1000 N0=250 N1=250 N2=250 N3=250 kernelpagesize_kB=4
7f1300000000 prefer:1 anon=10 dirty=10 N0=2 N1=8 kernelpagesize_kB=4
7f1400000000 default file=/dev/hugepages/buf huge dirty=4 N0=4 kernelpagesize_kB=2048
7f1500000000 local anon=3 dirty=3 N2=3 kernelpagesize_kB=4
7f1600000000 bind=static:0-1 anon=6 dirty=6 N0=3 N1=3 kernelpagesize_kB=4
7f1700000000 weighted interleave:0-1 anon=4 dirty=4 N0=3 N1=1 kernelpagesize_kB=4
7f1800000000 prefer (many):2-3 anon=2 dirty=2 N3=2 kernelpagesize_kB=4
7ffd1c000000 default stack anon=33 dirty=33 N0=33 kernelpagesize_kB=4
"""


@pytest.fixture
def entries():
    return parse_numa_maps(SAMPLE)


def test_parse_bind(entries):
    e = entries[1]
    assert e.start == 0x7F12A4000000
    assert (e.policy, e.policy_nodes) == ("bind", (1,))
    assert e.pages_by_node == {1: 262144}
    assert e.kernel_page_size_bytes == 4096
    assert e.raw["anon"] == "262144"
    assert e.total_pages == 262144


def test_parse_policies(entries):
    got = [(e.policy, e.policy_nodes) for e in entries]
    assert got == [
        ("default", ()),
        ("bind", (1,)),
        ("interleave", (0, 1, 2, 3)),
        ("prefer", (1,)),
        ("default", ()),
        ("local", ()),
        ("bind", (0, 1)),
        ("weighted interleave", (0, 1)),
        ("prefer (many)", (2, 3)),
        ("default", ()),
    ]
    assert entries[6].raw["policy_flags"] == "static"


def test_parse_keys(entries):
    assert entries[0].raw["file"] == "/usr/bin/python3.11"
    assert entries[0].raw["mapmax"] == "3"
    assert entries[0].raw["active"] == "0"
    huge = entries[4]
    assert huge.raw["huge"] is True
    assert huge.kernel_page_size_bytes == 2 * 1024 * 1024
    assert entries[9].raw["stack"] is True
    assert entries[2].pages_by_node == {0: 250, 1: 250, 2: 250, 3: 250}


def test_missing_page_size_uses_base_page():
    [e] = parse_numa_maps("7f0000000000 default anon=1 N0=1\n")
    assert e.kernel_page_size_bytes == mmap.PAGESIZE


def test_malformed_line():
    with pytest.raises(ValueError, match="malformed numa_maps line: 'zzz default'"):
        parse_numa_maps("zzz default\n")


def test_range_sums(entries):
    counts, page = pages_by_node_in_range(entries, 0x7F12A4000000, 0x7F1400000000)
    assert counts == {0: 252, 1: 262144 + 250 + 8, 2: 250, 3: 250}
    assert page == 4096


def test_range_excludes_end_and_below_start(entries):
    counts, page = pages_by_node_in_range(entries, 0x7F12E4000000, 0x7F1300000000)
    assert counts == {0: 250, 1: 250, 2: 250, 3: 250}
    assert pages_by_node_in_range(entries, 0x1000, 0x2000) == ({}, 0)


def test_range_huge(entries):
    assert pages_by_node_in_range(entries, 0x7F1400000000, 0x7F1400000001) == ({0: 4}, 2 * 1024 * 1024)


def test_range_mixed_page_sizes(entries):
    with pytest.raises(ValueError, match="different page sizes"):
        pages_by_node_in_range(entries, 0x7F1300000000, 0x7F1500000001)


def test_range_reversed(entries):
    with pytest.raises(ValueError, match="below its start"):
        pages_by_node_in_range(entries, 10, 5)


def test_read_missing(tmp_path):
    with pytest.raises(TopologyError, match="cannot read .*/999/numa_maps"):
        read_numa_maps(999, proc_root=str(tmp_path))


def _mems_allowed():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Mems_allowed_list:"):
                return set(parse_cpulist(line.split(":", 1)[1]))
    raise AssertionError("no Mems_allowed_list in /proc/self/status")


@pytest.mark.skipif(not os.path.exists("/proc/self/numa_maps"), reason="kernel without CONFIG_NUMA")
def test_live_touched_buffer_is_counted():
    size = 64 * mmap.PAGESIZE
    buf = mmap.mmap(-1, size)
    view = ctypes.c_char.from_buffer(buf)
    start = ctypes.addressof(view)
    del view  # release the buffer export so that buf can close
    try:
        for off in range(0, size, mmap.PAGESIZE):
            buf[off] = 1
        entries = read_numa_maps()
        # The VMA holding the buffer: the last one starting at or below it (the kernel may have
        # merged the buffer with an anonymous neighbour below).
        vma = max((e for e in entries if e.start <= start), key=lambda e: e.start)
        counts, page = pages_by_node_in_range(entries, vma.start, vma.start + 1)
        assert page == mmap.PAGESIZE
        assert sum(counts.values()) >= size // page
        assert set(counts) <= _mems_allowed()
    finally:
        buf.close()


SMAPS = """\
7f0000000000-7f0000400000 rw-p 00000000 00:00 0
Size:               4096 kB
AnonHugePages:      2048 kB
7f0000400000-7f0000401000 ---p 00000000 00:00 0
Size:                  4 kB
AnonHugePages:         0 kB
7f1000000000-7f1000200000 rw-p 00000000 00:00 0
AnonHugePages:      2048 kB
"""


def test_anon_huge_bytes_counts_only_mappings_in_range():
    from numabench.host.numamaps import anon_huge_bytes_in_range

    assert anon_huge_bytes_in_range(SMAPS, 0x7F0000000000, 0x7F0000400000) == 2 << 20
    assert anon_huge_bytes_in_range(SMAPS, 0x7F0000000000, 0x7F2000000000) == 4 << 20
    assert anon_huge_bytes_in_range(SMAPS, 0x7E0000000000, 0x7F0000000000) == 0
