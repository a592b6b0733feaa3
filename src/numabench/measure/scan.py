"""Memory scan (Intel MLC's --memory_bandwidth_scan): read bandwidth of every chunk of a node's
free memory, each chunk with its own placement proof and, where readable, its physical ranges.

How a scan goes:
- Plan (`plan_scan`, before any memory is touched): as many chunks as the node's free memory
  less a safety margin holds (default margin: max(1 GiB, 5% of the node's total memory)); a
  request that does not fit (`--size`, or a single chunk) is refused (InsufficientMemoryError,
  exit 2) naming the figures and the fix. Hugepage scans take chunks from the node's free
  hugepage pool instead: that memory is reserved already, so no margin applies to it.
- Each chunk is mapped, bound to the node with mbind and faulted in from a CPU of the scan
  (`placement.place`), then located page by page (move_pages; numa_maps in a pod): its own
  placement proof. Its physical ranges come from /proc/self/pagemap (`host.pagemap`).
- The chunk's read bandwidth is measured with the `read` kernel on every CPU of the scan (and with
  latency=True its pointer-chase latency on the first), the same calibrated kernels as `run`.
- Chunks are kept until the scan ends: a scan is meant to cover distinct memory, and a chunk
  freed after its measurement would hand the same frames to the next one. All are freed at the
  end (or when the scan stops early).
- Before each chunk the node's free memory is read again; the scan stops, keeping what it has,
  when another chunk would leave less than the margin (other processes allocate too).
- SIGINT/SIGTERM (through the Session) keep every finished chunk; the chunk in progress is dropped.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from numabench.constants import HUGETLB_PAGE_BYTES, PAGE_KINDS
from numabench.errors import CpusetError, HugepageError, InsufficientMemoryError, UsageError
from numabench.host.cgroups import CpusetView
from numabench.host.pagemap import physical_ranges
from numabench.host.topology import Topology, read_topology
from numabench.measure.runner import Sampling, measure_bandwidth, measure_latency, measurement
from numabench.measure.session import Session
from numabench.measure.spec import MAX_REPEAT, Spec, _allowed_cpus_on, _check_cpu_node, _check_mem_node
from numabench.native import _native
from numabench.native.placement import place
from numabench.results.scan import DEFAULT_THRESHOLD_PCT, SCAN_LATENCY, SCAN_READ, chunk_figures
from numabench.results.schema import Measurement
from numabench.util.cpulist import format_cpulist
from numabench.util.units import format_size, parse_size

DEFAULT_CHUNK_BYTES = 1 << 30
MARGIN_MIN_BYTES = 1 << 30
MARGIN_FRACTION = 0.05

Progress = Callable[[str], None]
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


def plan_scan(topology: Topology, cpuset: CpusetView, *, node: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
              margin: str | None = None, max_chunks: int | None = None, size_bytes: int | None = None,
              pages: str = "4k", cpu_node: int | None = None, threads: int | None = None, repeat: int = 5,
              latency: bool = False, threshold_pct: float = DEFAULT_THRESHOLD_PCT) -> ScanPlan:
    """Check a scan against this machine and process before any memory is touched.

    Raises TopologyError (no such node), UsageError (no memory on the node, bad page kind, chunk,
    margin, count or threshold), CpusetError (node outside cpuset.mems), HugepageError (no pool),
    InsufficientMemoryError (the request does not fit in free memory less the margin).
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
    free = node_free_bytes(topology, node, pages)
    chunks = plan_chunks(free, chunk_bytes, margin_bytes, max_chunks, size_bytes)
    return ScanPlan(node=node, cpu_node=cpu, cpus=cpus, pages=pages, chunk_bytes=chunk_bytes, chunks=chunks,
                    margin_bytes=margin_bytes, free_bytes=free, total_bytes=the_node.mem_total_bytes,
                    repeat=repeat, latency=latency, threshold_pct=threshold_pct, notes=notes)


def live_free_reader(plan: ScanPlan, sysfs_root: str = "/sys", procfs_root: str = "/proc") -> FreeReader:
    """A callable reading the node's free memory (or free hugepages) now, in bytes."""
    return lambda: node_free_bytes(read_topology(sysfs_root, procfs_root), plan.node, plan.pages)


class Scanner:
    """Runs a ScanPlan in a Session: one part per chunk, every chunk kept until `close`."""

    def __init__(self, plan: ScanPlan, *, free_reader: FreeReader, progress: Progress | None = None,
                 isa: str = "auto", sample_seconds: float = 0.2, seed: int = 1, proc_root: str = "/proc"):
        self.plan = plan
        self.free_reader = free_reader
        self.progress: Progress = progress or (lambda message: None)
        self.isa = isa
        self.sampling = Sampling.fixed(plan.repeat, sample_seconds)
        self.seed = seed
        self.proc_root = proc_root
        self.arenas: list[_native.Arena] = []
        self.chunks: list[dict[str, Any]] = []
        self.stopped: str | None = None

    def run(self, session: Session) -> dict[str, Any]:
        """Scan chunk after chunk until the plan's count, the margin, an error or a signal stops it;
        then flag chunks (details deviation_pct and flagged). Returns the scan's section (the
        `scan` command writes it as the result's `scan`, qualify one per node in `scans`)."""
        try:
            self._scan(session)
        except KeyboardInterrupt:
            # A signal between two chunks (while reading free memory): the same end as within one.
            session.interrupted_by = session.interrupted_by or "SIGINT"
            self.stopped = self.stopped or f"interrupted ({session.interrupted_by}) between chunks"
        return self.section(session.measurements)

    def _scan(self, session: Session) -> None:
        spec = self.plan.spec()
        for index in range(self.plan.chunks):
            if not self._room_for_another(index):
                break
            label = f"[chunk {index + 1}/{self.plan.chunks}] node {self.plan.node}"
            errors_before = len(session.errors)
            session.measure(label, functools.partial(self._chunk, spec, index, label),
                            failure={"cpu_node": spec.cpu_node, "mem_nodes": [self.plan.node], "pages": spec.pages,
                                     "size_bytes": spec.size_bytes, "kernel": SCAN_READ, "chunk": index})
            if session.interrupted:
                self.stopped = f"interrupted ({session.interrupted_by}) during chunk {index}"
                break
            if len(session.errors) > errors_before:
                # Memory ran out or the node refused: the next chunk would fail the same way.
                self.stopped = f"chunk {index} failed: {session.errors[-1]['error']}"
                break

    def _room_for_another(self, index: int) -> bool:
        """False (with the reason kept) when one more chunk would leave less than the margin free."""
        free = self.free_reader()
        if free - self.plan.chunk_bytes >= self.plan.margin_bytes:
            return True
        self.stopped = (f"stopped before chunk {index}: node {self.plan.node} has {format_size(free)} free; "
                        f"another {format_size(self.plan.chunk_bytes)} would leave less than the margin "
                        f"{format_size(self.plan.margin_bytes)}")
        self.progress(self.stopped)
        return False

    def _chunk(self, spec: Spec, index: int, label: str) -> Iterator[Measurement]:
        """Place, prove and measure one chunk; the arena is kept (see the module docstring)."""
        self.progress(f"{label}: placing and faulting in {format_size(spec.size_bytes)}")
        started = time.monotonic()
        arena, placement = place(spec.size_bytes, spec.pages, spec.mem_nodes, "bind", spec.cpus[0])
        self.arenas.append(arena)
        placed_seconds = time.monotonic() - started
        physical = physical_ranges(arena.address, arena.map_bytes, self.proc_root).to_dict()
        if not placement.ok:
            self.progress(f"{label}: WARNING pages not where asked: {placement.pages_by_node}")
        details = {"chunk": index, "placement_seconds": placed_seconds, "physical": physical}
        if self.plan.latency:
            self.progress(f"{label}: latency")
            figures = measure_latency(arena, spec.size_bytes, spec.cpus[0], self.sampling, self.seed)
            yield measurement(SCAN_LATENCY, spec, [spec.cpus[0]], figures, placement.to_dict(), **details)
        self.progress(f"{label}: read bandwidth")
        figures = measure_bandwidth(arena, "read", spec.size_bytes, spec.cpus, self.sampling, self.isa)
        # Recorded with its last figure: a chunk cut short by a signal is dropped whole.
        self.chunks.append({"chunk": index, "placement_ok": placement.ok, "physical": physical})
        yield measurement(SCAN_READ, spec, list(spec.cpus), figures, placement.to_dict(), **details)

    def section(self, measurements: list[Measurement]) -> dict[str, Any]:
        """The result's `scan` section; also writes deviation_pct and flagged into each chunk's details."""
        out: dict[str, Any] = {**self.plan.to_dict(), "chunks_done": 0, "stopped": self.stopped,
                               "notes": list(self.plan.notes)}
        mine = [m for m in measurements if m.kernel in (SCAN_READ, SCAN_LATENCY) and m.mem_node == self.plan.node]
        out["chunks_done"] = len({m.details["chunk"] for m in mine if m.kernel == SCAN_READ})
        for kernel, key in ((SCAN_READ, "bandwidth_bytes_per_s"), (SCAN_LATENCY, "latency_ns")):
            ms = {m.details["chunk"]: m for m in mine if m.kernel == kernel and m.value is not None}
            median, figures = chunk_figures(((c, float(m.value or 0.0)) for c, m in ms.items()), kernel,
                                            self.plan.threshold_pct)
            for f in figures:
                ms[f.chunk].details.update(deviation_pct=f.deviation_pct, flagged=f.flagged)
            if figures:
                worst = max(figures, key=lambda f: f.shortfall_pct)
                out[kernel] = {"median": median, "unit": key, "flagged": [f.chunk for f in figures if f.flagged],
                               "slowest_chunk": worst.chunk, "slowest_shortfall_pct": worst.shortfall_pct}
        out["chunks"] = [{**c, "figures": {m.kernel: m.value for m in mine if m.details["chunk"] == c["chunk"]}}
                         for c in self.chunks]
        out["physical"] = _physical_summary(self.chunks)
        return out

    def close(self) -> None:
        """Free every chunk (the scan's end, or its interruption)."""
        while self.arenas:
            self.arenas.pop().close()


def _physical_summary(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Lowest and highest physical address over the chunks and their extents (None: unreadable)."""
    readable = [c["physical"] for c in chunks if c["physical"]["readable"]]
    if not readable:
        reasons = {c["physical"]["reason"] for c in chunks}
        return {"readable": False, "reason": "; ".join(sorted(r for r in reasons if r)) or "no chunk"}
    return {"readable": True, "min_address": min(p["min_address"] for p in readable),
            "max_address": max(p["max_address"] for p in readable),
            "extent_count": sum(p["extent_count"] for p in readable), "chunks_readable": len(readable)}
