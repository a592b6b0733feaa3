"""Put a buffer on NUMA node(s) and prove where every page landed.

The preferred path binds with mbind(2) and verifies with move_pages(2). What a
container may call depends on its runtime's default seccomp profile (without
CAP_SYS_NICE; see docs/pods.md, "Container runtimes"):

- containerd 1.6.16+/1.7+ (ctr --seccomp, CRI RuntimeDefault): EPERM from both
  (mbind/set_mempolicy are allowed only with CAP_SYS_NICE, move_pages never);
- podman and CRI-O (containers/common's profile since 2021): mbind is allowed,
  move_pages gets EPERM;
- unconfined: both work.

When mbind is refused the buffer is placed by first touch from a thread pinned
inside the cgroup's cpuset (the kernel allocates on the toucher's node,
restricted to cpuset.mems); when move_pages is refused the pages are located
from /proc/self/numa_maps. The method and the verification are always
recorded (placement.method, placement.verified_by).
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from numabench.constants import HUGETLB_PAGE_BYTES, POLICIES, hugepage_sysfs_file
from numabench.errors import (
    CpusetError,
    HugepageError,
    InsufficientMemoryError,
    NativeArgumentError,
    NativeMemoryError,
    NativePermissionError,
    NativeUnsupportedError,
)
from numabench.host.numamaps import pages_by_node_in_range, read_anon_huge_bytes, read_numa_maps
from numabench.native import _native
from numabench.util.stats import fraction_on

# Pages on the asked node(s) for a placement to count as right. Not 100%: the
# kernel may put a stray page elsewhere under pressure (preferred/local).
ON_TARGET_MIN = 0.99
# What a locked-down pod gets from mbind/move_pages (EPERM under the runtime's seccomp
# profile, ENOSYS from some): the native map already turned the errno into one of these.
_DENIED = (NativePermissionError, NativeUnsupportedError)


@dataclass
class Placement:
    """Where a buffer's pages are, and how that was achieved and proven."""

    policy: str
    method: str
    verified_by: str | None
    target_nodes: tuple[int, ...]
    page_bytes: int
    pages_by_node: dict[int, int]
    pages_unlocated: int
    on_target_fraction: float
    notes: list[str] = field(default_factory=list)
    # THP only: share of the buffer the kernel really backed with huge pages.
    thp_huge_fraction: float | None = None

    @property
    def ok(self) -> bool:
        return self.verified_by is not None and self.on_target_fraction >= ON_TARGET_MIN

    def to_dict(self) -> dict:
        return {
            "policy": self.policy,
            "method": self.method,
            "verified_by": self.verified_by,
            "target_nodes": list(self.target_nodes),
            "page_bytes": self.page_bytes,
            "pages_by_node": {str(k): v for k, v in sorted(self.pages_by_node.items())},
            "pages_unlocated": self.pages_unlocated,
            "on_target_fraction": self.on_target_fraction,
            "ok": self.ok,
            "thp_huge_fraction": self.thp_huge_fraction,
            "notes": list(self.notes),
        }


def _pages_needed(size_bytes: int, pages: str) -> int:
    page = HUGETLB_PAGE_BYTES[pages]
    return -(-size_bytes // page)


def _map(size_bytes: int, pages: str) -> _native.Arena:
    try:
        return _native.Arena(size_bytes, pages)
    except NativeMemoryError as exc:
        if pages in HUGETLB_PAGE_BYTES:
            n = _pages_needed(size_bytes, pages)
            raise HugepageError(
                f"not enough free {pages.upper()} hugepages for {n} pages ({exc})",
                f"reserve them: echo {n} > {hugepage_sysfs_file(pages)}",
            ) from exc
        raise InsufficientMemoryError(f"cannot map {size_bytes} bytes ({exc})", "use a smaller --size") from exc
    except NativeUnsupportedError as exc:
        if pages in HUGETLB_PAGE_BYTES:
            raise HugepageError(
                f"this kernel or CPU has no {pages.upper()} hugepages ({exc})", "use --pages 4k or thp"
            ) from exc
        raise


def locate(arena: _native.Arena, proc_root: str = "/proc", force_numa_maps: bool = False):
    """(pages_by_node, unlocated pages, verified_by) for the arena's pages.

    move_pages when allowed; /proc/self/numa_maps when it is denied (EPERM in
    pods) or when forced.
    """
    if not force_numa_maps:
        try:
            nodes = arena.locate()
        except _DENIED:
            pass
        else:
            located = nodes[nodes >= 0]
            counts = np.bincount(located) if located.size else np.zeros(0, dtype=np.int64)
            by_node = {int(n): int(c) for n, c in enumerate(counts) if c}
            return by_node, int((nodes < 0).sum()), "move_pages"
    entries = read_numa_maps(proc_root=proc_root)
    by_node, page_size = pages_by_node_in_range(entries, arena.address, arena.address + arena.map_bytes)
    if not by_node:
        return {}, arena.map_bytes // arena.page_bytes, None
    # numa_maps counts pages of the mapping's kernel page size.
    expected = arena.map_bytes // (page_size or arena.page_bytes)
    return dict(by_node), max(0, expected - sum(by_node.values())), "numa_maps"


def place(
    size_bytes: int,
    pages: str,
    target_nodes: Iterable[int],
    policy: str,
    cpu: int,
    *,
    force_first_touch: bool = False,
    force_numa_maps: bool = False,
    proc_root: str = "/proc",
) -> tuple[_native.Arena, Placement]:
    """Map `size_bytes` of `pages`, place it on `target_nodes` with `policy`,
    fault it in from `cpu`, and locate every page.

    Raises HugepageError / InsufficientMemoryError when the memory cannot be
    had (NativeMemoryError from the core), CpusetError when the kernel refuses the
    nodes (NativeArgumentError from mbind), NativeError for any other failure.
    The caller owns the returned arena.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}")
    targets = tuple(int(n) for n in target_nodes)
    notes: list[str] = []
    arena = _map(size_bytes, pages)
    try:
        method = "first-touch"
        if policy != "local":
            method = _bind(arena, policy, targets, cpu, force_first_touch, notes)
        _populate(arena, size_bytes, pages, targets, cpu)
        by_node, unlocated, verified_by = locate(arena, proc_root, force_numa_maps)
        if verified_by is None:
            notes.append("page placement could not be verified (move_pages and numa_maps unavailable)")
        thp_huge_fraction = _thp_backing(arena, proc_root, notes) if pages == "thp" else None
        placement = Placement(
            policy=policy,
            method=method,
            verified_by=verified_by,
            target_nodes=targets,
            page_bytes=arena.page_bytes,
            pages_by_node=by_node,
            pages_unlocated=unlocated,
            on_target_fraction=fraction_on(by_node, targets),
            notes=notes,
            thp_huge_fraction=thp_huge_fraction,
        )
        return arena, placement
    except BaseException:
        arena.close()
        raise


def _bind(arena: _native.Arena, policy: str, targets: tuple[int, ...], cpu: int, force_first_touch: bool,
          notes: list[str]) -> str:
    """mbind the arena, or say why not and leave it to first touch; returns the method."""
    if force_first_touch:
        notes.append("mbind skipped on request; placed by first touch")
        return "first-touch"
    try:
        arena.bind(policy, targets)
        return "mbind"
    except _DENIED as exc:
        err = exc.errno or 0  # NativeError's errno is 0 when there is none
        notes.append(f"mbind denied ({errno.errorcode.get(err, str(err))}: no CAP_SYS_NICE under the "
                     f"runtime's seccomp profile?); placed by first touch from CPU {cpu}")
        return "first-touch"
    except NativeArgumentError as exc:
        raise CpusetError(
            f"the kernel refused memory on node(s) {list(targets)} ({exc})",
            "they are outside this process's cpuset.mems; choose an allowed --mem-node",
        ) from exc


def _populate(arena: _native.Arena, size_bytes: int, pages: str, targets: tuple[int, ...], cpu: int) -> None:
    """Fault every page in from `cpu`; an empty pool or node is an error naming the fix, never a SIGBUS."""
    try:
        arena.populate(cpu)
    except NativeMemoryError as exc:
        if pages in HUGETLB_PAGE_BYTES:
            node = targets[0] if len(targets) == 1 else None
            where = f"node {node}'s" if node is not None else "the asked nodes'"
            raise HugepageError(
                f"{where} {pages.upper()} hugepage pool ran out while faulting in {size_bytes} bytes",
                f"reserve {_pages_needed(size_bytes, pages)} pages: "
                f"echo N > {hugepage_sysfs_file(pages, node)}",
            ) from exc
        raise InsufficientMemoryError(
            f"node(s) {list(targets)} could not supply {size_bytes} bytes", "use a smaller --size"
        ) from exc


def _thp_backing(arena: _native.Arena, proc_root: str, notes: list[str]) -> float | None:
    """Share of a THP buffer the kernel really backed with huge pages (None: not readable)."""
    huge = read_anon_huge_bytes(arena.address, arena.address + arena.map_bytes, proc_root=proc_root)
    if huge is None:
        return None
    fraction = huge / arena.map_bytes
    if fraction < 0.9:
        notes.append(f"only {fraction:.0%} of the THP buffer is backed by huge pages "
                     "(THP disabled, fragmented memory, or defrag mode too lazy)")
    return fraction
