"""host/pagemap on synthetic pagemap bytes (the kernel's layout, pagemap.rst) and on this process."""

import mmap
import os
import struct

import numpy as np
import pytest

from numabench.errors import NumabenchError
from numabench.host.pagemap import (
    FRAME_BYTES,
    MAX_EXTENTS_LISTED,
    PRESENT_BIT,
    SWAPPED_BIT,
    parse_entries,
    physical_ranges,
    read_entries,
    summarize,
)

SOFT_DIRTY, EXCLUSIVE = 1 << 55, 1 << 56


def entries(*values):
    return struct.pack(f"<{len(values)}Q", *values)


def present(pfn, *flags):
    return PRESENT_BIT | pfn | sum(flags)


def test_parse_keeps_the_pfn_bits_only_of_present_unswapped_entries():
    pfns, here = parse_entries(entries(present(0x1234, SOFT_DIRTY, EXCLUSIVE), 0, SWAPPED_BIT | PRESENT_BIT | 77,
                                       present((1 << 55) - 1)))
    assert pfns.tolist() == [0x1234, 0, 0, (1 << 55) - 1]
    assert here.tolist() == [True, False, True, True]


def test_parse_refuses_a_partial_entry():
    with pytest.raises(NumabenchError, match="8-byte"):
        parse_entries(b"\0" * 12)


def test_extents_min_max_in_bytes():
    pfns, here = parse_entries(entries(present(100), present(101), present(102), 0, present(200), present(50),
                                       present(51)))
    r = summarize(pfns, here)
    assert r.readable and r.reason is None
    assert (r.frames, r.frames_present) == (7, 6)
    assert (r.min_address, r.max_address) == (50 * FRAME_BYTES, 201 * FRAME_BYTES)
    assert r.extent_count == 3
    assert r.extents == [(100 * FRAME_BYTES, 103 * FRAME_BYTES), (200 * FRAME_BYTES, 201 * FRAME_BYTES),
                         (50 * FRAME_BYTES, 52 * FRAME_BYTES)]
    assert r.to_dict()["extents_listed"] == 3


def test_hidden_pfns_are_unreadable_not_address_zero():
    pfns, here = parse_entries(entries(present(0), present(0)))
    r = summarize(pfns, here)
    assert not r.readable and "CAP_SYS_ADMIN" in r.reason and r.min_address is None


def test_nothing_present():
    r = summarize(*parse_entries(entries(0, 0)))
    assert not r.readable and "not faulted in" in r.reason


def test_extents_listed_are_capped_the_count_is_not():
    scattered = [present(10 * i + 1) for i in range(MAX_EXTENTS_LISTED + 5)]
    r = summarize(*parse_entries(entries(*scattered)))
    assert r.extent_count == MAX_EXTENTS_LISTED + 5 and len(r.extents) == MAX_EXTENTS_LISTED


def test_a_missing_pagemap_is_a_reason(tmp_path):
    r = physical_ranges(0x10000, 8192, proc_root=str(tmp_path))
    assert not r.readable and "pagemap" in r.reason
    with pytest.raises(NumabenchError, match="pagemap"):
        read_entries(0, 4096, proc_root=str(tmp_path))


def test_this_process_pages():
    """A faulted-in anonymous mapping: every entry present; PFNs readable as root, else said why."""
    size = 16 * FRAME_BYTES
    buf = mmap.mmap(-1, size)
    buf.write(b"x" * size)
    address = np.frombuffer(buf, dtype=np.uint8).ctypes.data
    r = physical_ranges(address, size)
    assert r.frames == 16 and r.frames_present == 16
    if os.geteuid() != 0 or not r.readable:
        pytest.skip(f"PFNs not readable here: {r.reason}")
    assert r.min_address < r.max_address and 1 <= r.extent_count <= 16
