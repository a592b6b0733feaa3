"""Physical addresses of this process's pages, from /proc/<pid>/pagemap.

The kernel's pagemap (Documentation/admin-guide/mm/pagemap.rst) has one little-endian 64-bit
entry per virtual 4 KiB page, at file offset (virtual address / 4096) x 8:

    bits 0-54  page frame number (PFN) when present and not swapped
    bit  55    soft-dirty;  bit 56 exclusively mapped;  bit 57 uffd-wp
    bit  61    file page or shared anonymous;  bit 62 swapped;  bit 63 present

Since Linux 4.2 the PFN field reads as 0 without CAP_SYS_ADMIN (the Rowhammer fix): such
entries are "present, PFN unreadable", never a page at physical address 0. A hugepage has one
entry per 4 KiB of it, with consecutive PFNs, so the same reading covers every page kind.

A scan ties a slow chunk to physical memory (a DIMM, a channel, an interleave set) through these
ranges: the lowest and highest physical address and the runs of contiguous frames (extents).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numabench.errors import NumabenchError

ENTRY_BYTES = 8
# pagemap's unit, whatever the mapping's page size.
FRAME_BYTES = 4096
PFN_MASK = (1 << 55) - 1
PRESENT_BIT = 1 << 63
SWAPPED_BIT = 1 << 62
# Extents listed in a summary at most; the count is always exact.
MAX_EXTENTS_LISTED = 64


@dataclass(frozen=True)
class PhysicalRanges:
    """Where a virtual range sits in physical memory, in bytes.

    `readable` is False when no PFN could be read (`reason` says why: not root, no such file);
    then the address fields are None. `extents` are [start, end) physical byte ranges of
    contiguous frames in virtual order, at most MAX_EXTENTS_LISTED of `extent_count`.
    """

    readable: bool
    reason: str | None
    frames: int
    frames_present: int
    min_address: int | None = None
    max_address: int | None = None  # exclusive end of the highest frame
    extent_count: int = 0
    extents: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"readable": self.readable, "reason": self.reason, "frames": self.frames,
                "frames_present": self.frames_present, "min_address": self.min_address,
                "max_address": self.max_address, "extent_count": self.extent_count,
                "extents": [list(e) for e in self.extents], "extents_listed": len(self.extents)}


def parse_entries(data: bytes) -> tuple[NDArray[np.uint64], NDArray[np.bool_]]:
    """(PFN of each entry, present flag of each entry) from raw pagemap bytes.

    A swapped entry's low bits are a swap offset, not a frame: its PFN is returned as 0.
    Raises NumabenchError when the length is not a whole number of 8-byte entries.
    """
    if len(data) % ENTRY_BYTES:
        raise NumabenchError(f"pagemap data of {len(data)} bytes is not a whole number of 8-byte entries")
    raw = np.frombuffer(data, dtype="<u8")
    present = (raw & np.uint64(PRESENT_BIT)) != 0
    swapped = (raw & np.uint64(SWAPPED_BIT)) != 0
    pfns = np.where(present & ~swapped, raw & np.uint64(PFN_MASK), np.uint64(0)).astype(np.uint64)
    return pfns, present


def summarize(pfns: NDArray[np.uint64], present: NDArray[np.bool_]) -> PhysicalRanges:
    """Physical ranges of entries in virtual order (see PhysicalRanges).

    Present entries whose PFN reads 0 mean the PFNs are hidden (no CAP_SYS_ADMIN): when every
    present entry is so, the ranges are unreadable; absent entries (never faulted) are skipped.
    """
    frames = int(pfns.size)
    n_present = int(present.sum())
    known = pfns[present & (pfns != 0)]
    if n_present == 0:
        return PhysicalRanges(False, "no page of the range is present (not faulted in)", frames, 0)
    if known.size == 0:
        return PhysicalRanges(False, "PFNs read as 0: reading them needs CAP_SYS_ADMIN (run as root)",
                              frames, n_present)
    breaks = np.flatnonzero(np.diff(known.astype(np.int64)) != 1) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [known.size]))
    listed = [(int(known[s]) * FRAME_BYTES, (int(known[e - 1]) + 1) * FRAME_BYTES)
              for s, e in zip(starts[:MAX_EXTENTS_LISTED], ends[:MAX_EXTENTS_LISTED])]
    reason = None if known.size == n_present else f"{n_present - known.size} present frame(s) read PFN 0"
    return PhysicalRanges(True, reason, frames, n_present, int(known.min()) * FRAME_BYTES,
                          (int(known.max()) + 1) * FRAME_BYTES, int(starts.size), listed)


def read_entries(address: int, length: int, proc_root: str = "/proc",
                 pid: str = "self") -> tuple[NDArray[np.uint64], NDArray[np.bool_]]:
    """Read the pagemap entries of [address, address + length) of process `pid`.

    Raises NumabenchError naming the file when it cannot be opened or read in full.
    """
    path = os.path.join(proc_root, pid, "pagemap")
    first = address // FRAME_BYTES
    count = -(-(address + length) // FRAME_BYTES) - first
    try:
        with open(path, "rb", buffering=0) as f:
            data = os.pread(f.fileno(), count * ENTRY_BYTES, first * ENTRY_BYTES)
    except OSError as exc:
        raise NumabenchError(f"{path}: cannot be read ({exc.strerror})") from None
    if len(data) != count * ENTRY_BYTES:
        raise NumabenchError(f"{path}: short read ({len(data)} of {count * ENTRY_BYTES} bytes)")
    return parse_entries(data)


def physical_ranges(address: int, length: int, proc_root: str = "/proc") -> PhysicalRanges:
    """The physical ranges of this process's [address, address + length); never raises: an
    unreadable pagemap gives readable=False with the reason."""
    try:
        pfns, present = read_entries(address, length, proc_root)
    except NumabenchError as exc:
        return PhysicalRanges(False, str(exc), -(-length // FRAME_BYTES), 0)
    return summarize(pfns, present)


def frame_set(address: int, length: int, proc_root: str = "/proc") -> NDArray[np.uint64]:
    """The distinct non-zero PFNs of this process's [address, address + length), sorted (tests use it
    to prove two ranges share no frame). Raises NumabenchError as read_entries."""
    pfns, present = read_entries(address, length, proc_root)
    return np.unique(pfns[present & (pfns != 0)])
