"""Parse /proc/<pid>/numa_maps: where each mapping's pages are, per node.

This is how numabench proves placement where ``move_pages`` is forbidden (pods under the
default seccomp profile). Format (``Documentation/filesystems/proc.rst``, "numa_maps";
``show_numa_map()`` in ``fs/proc/task_mmu.c``)::

    7f12a4000000 bind:1 anon=262144 dirty=262144 N1=262144 kernelpagesize_kB=4

The address is a mapping's (VMA's) start; the policy is ``mpol_to_str()``: ``default``,
``local``, ``prefer:1``, ``bind:0-1``, ``interleave:0-3``, ``weighted interleave:0-1``,
``prefer (many):0-1``, optionally with ``=static``/``=relative`` flags before the colon.
``N<k>=<pages>`` count pages in units of ``kernelpagesize_kB``.
"""

from __future__ import annotations

import mmap
import os
import re
from dataclasses import dataclass, field
from typing import Any

from numabench.errors import TopologyError
from numabench.util import docload
from numabench.util.cpulist import parse_cpulist

__all__ = ["NumaMapsEntry", "parse_numa_maps", "pages_by_node_in_range", "read_numa_maps"]

_LINE = re.compile(
    r"^(?P<addr>[0-9a-fA-F]+)\s+"
    r"(?P<mode>weighted interleave|prefer \(many\)|[a-z]+)"
    r"(?:=(?P<flags>[a-z|]+))?"
    r"(?::(?P<nodes>\S*))?"
    r"(?:\s+(?P<rest>.*))?$"
)
_NODE_KEY = re.compile(r"^N(\d+)$")


@dataclass(frozen=True)
class NumaMapsEntry:
    """One mapping of numa_maps."""

    start: int  # the mapping's start address
    policy: str  # the mode: "default", "bind", "interleave", "prefer", "local", ...
    policy_nodes: tuple[int, ...]  # nodes after the colon; () for default/local
    pages_by_node: dict[int, int]  # node -> pages (of kernel_page_size_bytes)
    kernel_page_size_bytes: int
    raw: dict[str, Any] = field(default_factory=dict)  # every key; bare flags ("huge") -> True

    @property
    def total_pages(self) -> int:
        return sum(self.pages_by_node.values())


def _parse_line(line: str) -> NumaMapsEntry:
    m = _LINE.match(line.strip())
    if not m:
        raise ValueError(f"malformed numa_maps line: {line.strip()!r}")
    raw: dict[str, Any] = {}
    pages: dict[int, int] = {}
    for token in (m.group("rest") or "").split():
        key, sep, value = token.partition("=")
        if not sep:
            raw[key] = True  # huge, heap, stack, stack:<tid> (old kernels)
            continue
        raw[key] = value
        nm = _NODE_KEY.match(key)
        if nm:
            pages[int(nm.group(1))] = int(value)
    if m.group("flags"):
        raw["policy_flags"] = m.group("flags")
    page_kb = raw.get("kernelpagesize_kB")
    # Kernels before 2.6.39 lack kernelpagesize_kB; this machine's base page is the best guess.
    page_size = int(page_kb) * 1024 if isinstance(page_kb, str) else mmap.PAGESIZE
    return NumaMapsEntry(
        start=int(m.group("addr"), 16),
        policy=m.group("mode"),
        policy_nodes=parse_cpulist(m.group("nodes") or ""),
        pages_by_node=dict(sorted(pages.items())),
        kernel_page_size_bytes=page_size,
        raw=raw,
    )


def parse_numa_maps(text: str) -> list[NumaMapsEntry]:
    """Parse numa_maps text into entries, in file order (ascending addresses).

    Raises:
        ValueError: a non-empty line is malformed (the message quotes it).
    """
    return [_parse_line(line) for line in text.splitlines() if line.strip()]


def pages_by_node_in_range(entries: list[NumaMapsEntry], start: int, end: int) -> tuple[dict[int, int], int]:
    """Sum the per-node pages of the entries whose start lies in ``[start, end)``.

    Returns ``({node: pages}, page_size_bytes)``; ``({}, 0)`` when no entry starts in the range.
    A mapping that the kernel merged with a neighbour below ``start`` starts outside the range
    and is not counted: map benchmark buffers so that they begin a VMA (e.g. with a distinct
    policy or a guard page), or check the total against the buffer's size.

    Raises:
        ValueError: ``end < start``, or the entries in range have different page sizes.
    """
    if end < start:
        raise ValueError(f"range end {end:#x} is below its start {start:#x}")
    counts: dict[int, int] = {}
    sizes: set[int] = set()
    for e in entries:
        if start <= e.start < end:
            sizes.add(e.kernel_page_size_bytes)
            for node, n in e.pages_by_node.items():
                counts[node] = counts.get(node, 0) + n
    if len(sizes) > 1:
        raise ValueError(
            f"mappings in [{start:#x}, {end:#x}) have different page sizes "
            f"({', '.join(str(s) for s in sorted(sizes))} bytes); count them separately"
        )
    return dict(sorted(counts.items())), (sizes.pop() if sizes else 0)


def read_numa_maps(pid: int | str = "self", proc_root: str = "/proc") -> list[NumaMapsEntry]:
    """Read and parse ``<proc_root>/<pid>/numa_maps``.

    Raises:
        TopologyError: the file cannot be read (kernel without CONFIG_NUMA, or no such process).
    """
    path = os.path.join(proc_root, str(pid), "numa_maps")
    text = docload.read_bytes(path, what="numa_maps", error=TopologyError,
                              fix="numa_maps needs a kernel with CONFIG_NUMA and a live process"
                              ).decode("utf-8", errors="replace")
    return parse_numa_maps(text)


_SMAPS_HEADER = re.compile(r"^([0-9a-fA-F]+)-([0-9a-fA-F]+)\s")


def anon_huge_bytes_in_range(smaps_text: str, start: int, end: int) -> int:
    """Bytes backed by transparent hugepages (smaps ``AnonHugePages``) in mappings
    that start inside [start, end)."""
    total = 0
    inside = False
    for line in smaps_text.splitlines():
        header = _SMAPS_HEADER.match(line)
        if header:
            inside = start <= int(header.group(1), 16) < end
        elif inside and line.startswith("AnonHugePages:"):
            total += int(line.split()[1]) * 1024
    return total


def read_anon_huge_bytes(start: int, end: int, pid: int | str = "self", proc_root: str = "/proc") -> int | None:
    """``anon_huge_bytes_in_range`` on ``/proc/<pid>/smaps``; None when it cannot be read."""
    try:
        with open(os.path.join(proc_root, str(pid), "smaps")) as f:
            return anon_huge_bytes_in_range(f.read(), start, end)
    except OSError:
        return None
