"""Planning a memory scan (numabench scan), before any memory is touched: which node, read from
which CPUs, how many chunks of what size fit in its free memory less the safety margin.

Pure checks against a Topology and a CpusetView; no native code (the unit tests and `qualify`'s
planning run without the compiled extension). The scan itself: measure/scan.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from numabench.constants import HUGETLB_PAGE_BYTES, PAGE_KINDS, SCAN_LATENCY, SCAN_READ
from numabench.errors import CpusetError, HugepageError, InsufficientMemoryError, UsageError
from numabench.host.cgroups import CpusetView
from numabench.host.memlimit import memory_headroom_bytes
from numabench.host.topology import Topology, read_topology
from numabench.measure.spec import MAX_REPEAT, Spec, _allowed_cpus_on, _check_cpu_node, _check_mem_node
from numabench.results.scan import DEFAULT_THRESHOLD_PCT
from numabench.util.cpulist import format_cpulist
from numabench.util.units import format_size, parse_size

DEFAULT_CHUNK_BYTES = 1 << 30
# Left below a memory cgroup's limit besides the chunks: this process's own growth (numpy, results).
CGROUP_CUSHION_BYTES = 128 << 20
MARGIN_MIN_BYTES = 1 << 30
MARGIN_FRACTION = 0.05

FreeReader = Callable[[], int]


def default_margin(total_bytes: int) -> int:
    """The default safety margin: max(1 GiB, 5% of the node's total memory), in bytes."""
    return max(MARGIN_MIN_BYTES, int(total_bytes * MARGIN_FRACTION))


def parse_margin(text: str, total_bytes: int) -> int:
    """--margin as bytes: a size (2G) or a percentage of the node's total memory (10%).

    Raises UsageError for anything else, or a percentage outside [0, 100)."""
    text = text.strip()
    if text.endswith("%"):
        try:
            pct = float(text[:-1])
        except ValueError:
            raise UsageError(f"--margin {text!r} is not a percentage",
                             "write e.g. --margin 5% or --margin 2G") from None
        if not 0 <= pct < 100:
            raise UsageError(f"--margin {text} is not between 0% and 100%", "write e.g. --margin 5%")
        return int(total_bytes * pct / 100.0)
    if text == "0":
        return 0
    return parse_size(text)


def plan_chunks(free_bytes: int, chunk_bytes: int, margin_bytes: int, max_chunks: int | None = None,
                size_bytes: int | None = None) -> int:
    """How many chunks of chunk_bytes to scan: all that free_bytes less margin_bytes holds, at most
    max_chunks, exactly size_bytes / chunk_bytes when a total is asked.

    Raises UsageError for a zero chunk, count or size, or a size that is not a whole number of
    chunks; InsufficientMemoryError (exit 2) when the request does not fit, naming the figures.
    """
    if chunk_bytes < 1:
        raise UsageError("--chunk must be a positive size", "write e.g. --chunk 1G")
    if max_chunks is not None and max_chunks < 1:
        raise UsageError(f"--max-chunks {max_chunks} is not positive", "use --max-chunks 1 or more, or leave it out")
    usable = max(0, free_bytes - margin_bytes)
    fit = usable // chunk_bytes
    figures = (f"free {format_size(free_bytes)} less the margin {format_size(margin_bytes)} "
               f"leaves {format_size(usable)}")
    if size_bytes is not None:
        if size_bytes % chunk_bytes:
            raise UsageError(f"--size {format_size(size_bytes)} is not a whole number of {format_size(chunk_bytes)} "
                             "chunks", "give a --size that is a multiple of --chunk")
        wanted = size_bytes // chunk_bytes
        if wanted > fit:
            raise InsufficientMemoryError(f"a scan of {format_size(size_bytes)} does not fit: {figures}",
                                          _fix(usable, chunk_bytes))
        return wanted if max_chunks is None else min(wanted, max_chunks)
    if fit == 0:
        raise InsufficientMemoryError(f"not even one {format_size(chunk_bytes)} chunk fits: {figures}",
                                      _fix(usable, chunk_bytes))
    return fit if max_chunks is None else min(fit, max_chunks)


def _fix(usable: int, chunk_bytes: int) -> str:
    if usable >= 64 << 20:
        return f"use a smaller --chunk (at most {usable >> 20}M) or --size, or a smaller --margin"
    return "free memory on the node, or give a smaller --margin"


@dataclass(frozen=True)
class ScanPlan:
    """A checked scan: which node, from which CPUs, how many chunks of what size."""

    node: int
    cpu_node: int
    cpus: tuple[int, ...]
    pages: str
    chunk_bytes: int
    chunks: int
    margin_bytes: int
    free_bytes: int
    total_bytes: int
    repeat: int
    latency: bool
    threshold_pct: float
    notes: list[str] = field(default_factory=list)

    def spec(self) -> Spec:
        kernels = (SCAN_LATENCY, SCAN_READ) if self.latency else (SCAN_READ,)
        return Spec(cpu_node=self.cpu_node, mem_nodes=(self.node,), policy="bind", pages=self.pages,
                    size_bytes=self.chunk_bytes, cpus=self.cpus, kernels=kernels, repeat=self.repeat)

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "cpu_node": self.cpu_node, "cpus": list(self.cpus), "pages": self.pages,
                "chunk_bytes": self.chunk_bytes, "chunks_planned": self.chunks, "margin_bytes": self.margin_bytes,
                "free_bytes_at_start": self.free_bytes, "node_total_bytes": self.total_bytes,
                "repeat": self.repeat, "latency": self.latency, "threshold_pct": self.threshold_pct}


def _scan_cpus(topology: Topology, cpuset: CpusetView, node: int, cpu_node: int | None,
               notes: list[str]) -> tuple[int, tuple[int, ...]]:
    """(CPU node, its allowed CPUs): the one asked, else the node itself, else (a memory-only node,
    or one whose CPUs this cpuset forbids) the nearest node with allowed CPUs, by SLIT distance."""
    if cpu_node is not None:
        return cpu_node, _check_cpu_node(topology, cpuset, cpu_node)
    own = _allowed_cpus_on(topology, cpuset, node)
    if own:
        return node, own
    candidates = [n.id for n in topology.nodes if _allowed_cpus_on(topology, cpuset, n.id)]
    if not candidates:
        raise CpusetError("no online CPU is allowed to this process", "check Cpus_allowed_list in /proc/self/status")
    nearest = min(candidates, key=lambda n: (topology.node(n).distances.get(node, 255), n))
    notes.append(f"node {node} has no CPU this process may use; measuring from the nearest CPU node {nearest} "
                 f"(CPUs {format_cpulist(_allowed_cpus_on(topology, cpuset, nearest))})")
    return nearest, _allowed_cpus_on(topology, cpuset, nearest)


def node_free_bytes(topology: Topology, node: int, pages: str) -> int:
    """What the scan may draw from: the node's free memory, or its free hugepages of this kind."""
    if pages in HUGETLB_PAGE_BYTES:
        pool = topology.node(node).hugepages.get(HUGETLB_PAGE_BYTES[pages])
        return 0 if pool is None else pool.free * HUGETLB_PAGE_BYTES[pages]
    return topology.node_mem_free_bytes(node)


def scan_free_bytes(node_free: int, margin_bytes: int, headroom: int | None) -> int:
    """The free memory a scan plans with: the node's, lowered so that free - margin never passes the
    memory cgroup's headroom less CGROUP_CUSHION_BYTES (crossing a cgroup limit is an OOM kill)."""
    if headroom is None:
        return node_free
    return min(node_free, max(0, headroom - CGROUP_CUSHION_BYTES) + margin_bytes)


def plan_scan(topology: Topology, cpuset: CpusetView, *, node: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
              margin: str | None = None, max_chunks: int | None = None, size_bytes: int | None = None,
              pages: str = "4k", cpu_node: int | None = None, threads: int | None = None, repeat: int = 5,
              latency: bool = False, threshold_pct: float = DEFAULT_THRESHOLD_PCT,
              memory_headroom_bytes: int | None = None) -> ScanPlan:
    """Check a scan against this machine and process before any memory is touched.

    Raises TopologyError (no such node), UsageError (no memory on the node, bad page kind, chunk,
    margin, count or threshold), CpusetError (node outside cpuset.mems), HugepageError (no pool),
    InsufficientMemoryError (the request does not fit in free memory less the margin).
    `memory_headroom_bytes`: what this process's memory cgroup still allows (host.memlimit; None:
    no limit); a hugepage scan is charged to the hugetlb controller instead and ignores it.
    """
    if pages not in PAGE_KINDS:
        raise UsageError(f"unknown page kind {pages!r}", f"choose from {','.join(PAGE_KINDS)}")
    if not 1 <= repeat <= MAX_REPEAT:
        raise UsageError(f"--repeat {repeat} is not between 1 and {MAX_REPEAT}", "use --repeat 3 or more")
    if not threshold_pct > 0:
        raise UsageError(f"--threshold-pct {threshold_pct:g} is not positive", "use e.g. --threshold-pct 10")
    the_node = topology.node(node)  # TopologyError naming the known nodes
    notes: list[str] = []
    cpu, cpus = _scan_cpus(topology, cpuset, node, cpu_node, notes)
    _check_mem_node(topology, cpuset, node, cpu)
    if threads is not None:
        if not 1 <= threads <= len(cpus):
            raise UsageError(f"--threads {threads} but CPU node {cpu} has {len(cpus)} allowed CPUs "
                             f"({format_cpulist(cpus)})", f"use --threads {len(cpus)} or less")
        cpus = cpus[:threads]
    if pages in HUGETLB_PAGE_BYTES:
        page = HUGETLB_PAGE_BYTES[pages]
        if chunk_bytes % page:
            raise UsageError(f"--chunk {format_size(chunk_bytes)} is not a whole number of {pages.upper()} pages",
                             f"use a multiple of {format_size(page)}")
        if the_node.hugepages.get(page) is None:
            raise HugepageError(f"this kernel offers no {pages.upper()} hugepages on node {node}", "use --pages 4k")
        margin_bytes = 0
        if margin is not None:
            notes.append("--margin does not apply to a hugepage scan: its pool is reserved memory already")
    else:
        margin_bytes = default_margin(the_node.mem_total_bytes) if margin is None else parse_margin(
            margin, the_node.mem_total_bytes)
    node_free = node_free_bytes(topology, node, pages)
    free = node_free if pages in HUGETLB_PAGE_BYTES else scan_free_bytes(node_free, margin_bytes,
                                                                        memory_headroom_bytes)
    if free < node_free:
        notes.append(f"this process's memory cgroup allows {format_size(memory_headroom_bytes or 0)} more: the "
                     f"scan plans with {format_size(free)} free instead of node {node}'s {format_size(node_free)}")
    chunks = plan_chunks(free, chunk_bytes, margin_bytes, max_chunks, size_bytes)
    return ScanPlan(node=node, cpu_node=cpu, cpus=cpus, pages=pages, chunk_bytes=chunk_bytes, chunks=chunks,
                    margin_bytes=margin_bytes, free_bytes=free, total_bytes=the_node.mem_total_bytes,
                    repeat=repeat, latency=latency, threshold_pct=threshold_pct, notes=notes)


def live_free_reader(plan: ScanPlan, sysfs_root: str = "/sys", procfs_root: str = "/proc",
                     fs_root: str = "/") -> FreeReader:
    """A callable reading now, in bytes, the node's free memory (or free hugepages), lowered to what
    the memory cgroup still allows (scan_free_bytes)."""

    def read() -> int:
        free = node_free_bytes(read_topology(sysfs_root, procfs_root), plan.node, plan.pages)
        if plan.pages in HUGETLB_PAGE_BYTES:
            return free
        return scan_free_bytes(free, plan.margin_bytes, memory_headroom_bytes(procfs_root, fs_root))

    return read
