"""Memory scan (Intel MLC's --memory_bandwidth_scan): read bandwidth of every chunk of a node's
free memory, each chunk with its own placement proof and, where readable, its physical ranges.

How a scan goes:
- Plan (`scan_plan.plan_scan`, before any memory is touched): as many chunks as the node's free
  memory less a safety margin holds (default margin: max(1 GiB, 5% of the node's total memory));
  a request that does not fit (`--size`, or a single chunk) is refused (InsufficientMemoryError,
  exit 2) naming the figures and the fix. A memory cgroup's limit (host.memlimit) lowers the free
  memory planned with: crossing it is an OOM kill that loses every chunk. Hugepage scans take
  chunks from the node's free hugepage pool instead: that memory is reserved already, so no
  margin applies to it.
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
from typing import Any

from numabench.constants import SCAN_LATENCY, SCAN_READ
from numabench.host.pagemap import physical_ranges
from numabench.measure.runner import Sampling, measure_bandwidth, measure_latency, measurement
from numabench.measure.scan_plan import FreeReader, ScanPlan, live_free_reader, plan_scan
from numabench.measure.session import Session
from numabench.measure.spec import Spec
from numabench.native import _native
from numabench.native.placement import place
from numabench.results.scan import chunk_figures
from numabench.results.schema import Measurement
from numabench.util.units import format_size

__all__ = ["Scanner", "ScanPlan", "live_free_reader", "plan_scan"]
Progress = Callable[[str], None]


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
        # `auto` is probed on the first chunk only: every chunk then runs the same kernel, so a
        # chunk's deviation is the memory's, not a change of ISA.
        self.isa = figures["isa"]
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
