"""The memory scan on this machine's real memory, with tiny chunks: every chunk placed on the node and
proven page by page, the chunks' physical frames distinct (pagemap, as root), the free-memory watch
stopping before the margin, and the chunks freed at the end."""

import os

import numpy as np
import pytest

from numabench.host.cgroups import read_process_cpuset
from numabench.host.pagemap import frame_set, physical_ranges
from numabench.host.topology import read_topology
from numabench.measure.scan import Scanner, plan_scan
from numabench.measure.session import Session
from numabench.results.scan import SCAN_LATENCY, SCAN_READ

pytestmark = pytest.mark.native

MiB = 1 << 20
CHUNK = 16 * MiB


def first_memory_node():
    topo = read_topology()
    allowed = read_process_cpuset().mems_allowed
    return topo, next(n for n in topo.memory_nodes if n in allowed)


def scanner_for(chunks, free_reader=None, latency=False):
    topo, node = first_memory_node()
    plan = plan_scan(topo, read_process_cpuset(), node=node, chunk_bytes=CHUNK, max_chunks=chunks, repeat=1,
                     latency=latency, margin="0")
    reader = free_reader or (lambda: 1 << 50)
    return topo, plan, Scanner(plan, free_reader=reader, sample_seconds=0.01)


def test_every_chunk_is_placed_proven_and_on_distinct_frames():
    topo, plan, scanner = scanner_for(3, latency=True)
    with Session(topology=topo, options={}) as session:
        try:
            section = scanner.run(session)
            assert len(scanner.arenas) == 3
            # Chunks are kept until the end: while they live, no two share a physical frame.
            frames = [frame_set(a.address, a.map_bytes) for a in scanner.arenas]
            readable = physical_ranges(scanner.arenas[0].address, CHUNK).readable
        finally:
            scanner.close()
    assert not scanner.arenas
    reads = [m for m in session.measurements if m.kernel == SCAN_READ]
    assert [m.details["chunk"] for m in reads] == [0, 1, 2]
    assert len([m for m in session.measurements if m.kernel == SCAN_LATENCY]) == 3
    for m in reads:
        assert m.placement["ok"] and m.placement["verified_by"] == "move_pages", m.placement
        assert m.pages_by_node == {str(plan.node): CHUNK // 4096}
        assert m.details["checksum_ok"] and m.bandwidth_bytes_per_s > 0
        assert "flagged" in m.details and "deviation_pct" in m.details
    assert section["chunks_done"] == 3 and section["stopped"] is None
    assert section[SCAN_READ]["slowest_chunk"] in (0, 1, 2)
    if os.geteuid() != 0 or not readable:
        pytest.skip(f"PFNs not readable here ({reads[0].details['physical']['reason']}); placement was checked")
    for m in reads:
        assert m.details["physical"]["readable"] and m.details["physical"]["frames_present"] == CHUNK // 4096
    assert all(f.size == CHUNK // 4096 for f in frames)
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.intersect1d(frames[i], frames[j]).size == 0, (i, j)
    assert section["physical"]["readable"] and section["physical"]["extent_count"] >= 3


def test_the_scan_stops_before_crossing_the_margin():
    # Free memory as another process eats it: room for two chunks, then not.
    readings = iter([3 * CHUNK, 2 * CHUNK, CHUNK // 2])
    topo, plan, scanner = scanner_for(5, free_reader=lambda: next(readings))
    with Session(topology=topo, options={}) as session:
        try:
            section = scanner.run(session)
        finally:
            scanner.close()
    assert section["chunks_done"] == 2 and section["chunks_planned"] == 5
    assert "stopped before chunk 2" in section["stopped"] and "margin" in section["stopped"]
    assert not session.errors and not session.interrupted
