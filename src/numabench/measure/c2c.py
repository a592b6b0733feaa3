"""Cache-to-cache transfer latency between CPU pairs (Intel MLC's --c2c_latency).

Pairs are ordered (initiator, responder): the initiator is the timed side, reading the line from
the responder's cache. By default every ordered pair of the CPUs asked for (the CPU x CPU matrix),
or the `--pairs` given. Each pair gets its line on a page of its own, bound to the asked node (by
default the initiator's node) and located before it is measured, as every numabench figure is.

A pair's relation says what the transfer crosses, nearest first (constants.C2C_RELATIONS): "smt"
(siblings of one core), "same-llc" (cores sharing a last-level cache), "other-llc" (same node,
another last-level cache: another chiplet/CCX), "same-node" (same node, sysfs does not say which
CPUs share a cache), "other-node". Relations come from the CPUs' places (host.cpus) and the NUMA
topology, never from timings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from numabench.constants import C2C_KERNEL, C2C_MODES, C2C_RELATIONS
from numabench.errors import CpusetError, TopologyError, UsageError
from numabench.host.cgroups import CpusetView
from numabench.host.cpus import CpuPlace
from numabench.host.topology import Topology
from numabench.measure.session import Session
from numabench.native import _native
from numabench.native.placement import place
from numabench.results.schema import Measurement
from numabench.util.cpulist import format_cpulist
from numabench.util.stats import summarize

# Samples per pair at most, and by default.
MAX_C2C_SAMPLES = 10_000
DEFAULT_C2C_SAMPLES = 7
# Each sample lasts about this long: thousands of round trips, short enough that a 100-CPU matrix
# (9,900 pairs) stays within minutes.
C2C_SAMPLE_SECONDS = 0.005
# Samples per native call at most (each call starts both threads and warms up again).
C2C_SAMPLES_PER_CALL = 20
# Round trips of the calibration call (also its warm-up), and the fewest per sample.
C2C_CALIBRATION_ROUND_TRIPS = 200
C2C_MIN_ROUND_TRIPS = 100
# The longest any one wait may spin before the pair fails with a timeout (a descheduled partner).
C2C_TIMEOUT_S = 2.0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class C2cPair:
    """One ordered pair: the initiator reads the line from the responder's cache."""

    initiator: int
    responder: int
    initiator_node: int
    responder_node: int
    relation: str

    def to_dict(self) -> dict[str, Any]:
        return {"initiator_cpu": self.initiator, "responder_cpu": self.responder,
                "initiator_node": self.initiator_node, "responder_node": self.responder_node,
                "relation": self.relation}


@dataclass(frozen=True)
class C2cPlan:
    """Checked pairs and settings. `line_node` None: each pair's line on its initiator's node."""

    cpus: tuple[int, ...]
    pairs: tuple[C2cPair, ...]
    mode: str
    line_node: int | None
    samples: int

    def to_dict(self) -> dict[str, Any]:
        return {"cpus": list(self.cpus), "mode": self.mode, "line_node": self.line_node, "samples": self.samples,
                "pairs": len(self.pairs)}


# --------------------------------------------------------------------------- relations


def relation(a: int, b: int, places: dict[int, CpuPlace], topology: Topology) -> str:
    """The relation of CPUs a and b (one of constants.C2C_RELATIONS).

    Raises TopologyError when a CPU is in no node (offline) or in several."""
    if topology.cpu_node(a) != topology.cpu_node(b):
        return "other-node"
    pa, pb = places[a], places[b]
    if b in pa.siblings:
        return "smt"
    if not pa.llc or not pb.llc:
        return "same-node"
    return "same-llc" if b in pa.llc else "other-llc"


def enumerate_pairs(cpus: Sequence[int], places: dict[int, CpuPlace], topology: Topology,
                    pairs: Sequence[tuple[int, int]] | None = None) -> tuple[C2cPair, ...]:
    """Every ordered pair of distinct `cpus` (initiator-major: the matrix row by row), or the
    given `pairs` in their order, each with its nodes and relation."""
    chosen = pairs if pairs is not None else [(a, b) for a in cpus for b in cpus if a != b]
    return tuple(C2cPair(a, b, topology.cpu_node(a), topology.cpu_node(b), relation(a, b, places, topology))
                 for a, b in chosen)


def group_by_relation(pairs: Sequence[C2cPair]) -> dict[str, list[C2cPair]]:
    """Pairs by relation, relations nearest first; relations without a pair are left out."""
    out: dict[str, list[C2cPair]] = {r: [] for r in C2C_RELATIONS}
    for p in pairs:
        out[p.relation].append(p)
    return {r: ps for r, ps in out.items() if ps}


# --------------------------------------------------------------------------- planning


def parse_pairs(text: str) -> list[tuple[int, int]]:
    """'0:1,0:2' -> [(0, 1), (0, 2)]. Raises UsageError for anything else, or a CPU paired with itself."""
    out: list[tuple[int, int]] = []
    for item in text.split(","):
        parts = item.strip().split(":")
        try:
            a, b = (int(p) for p in parts)
        except ValueError:
            raise UsageError(f"--pairs {text!r}: {item.strip()!r} is not INITIATOR:RESPONDER",
                             "give CPU pairs like --pairs 0:1,0:2") from None
        if a < 0 or b < 0:
            raise UsageError(f"--pairs {text!r}: CPU ids are not negative", "give CPU pairs like --pairs 0:1,0:2")
        if a == b:
            raise UsageError(f"--pairs {text!r}: CPU {a} is paired with itself",
                             "a transfer needs two CPUs: give pairs of distinct CPUs")
        out.append((a, b))
    return list(dict.fromkeys(out))


def _allowed(topology: Topology, cpuset: CpusetView) -> tuple[int, ...]:
    return tuple(c for c in cpuset.cpus_allowed if c in topology.online_cpus)


def _check_cpus(cpus: Sequence[int], allowed: tuple[int, ...], cpuset: CpusetView, what: str) -> None:
    outside = [c for c in cpus if c not in allowed]
    if outside:
        raise CpusetError(f"{what} CPU(s) {format_cpulist(outside)} outside this process's allowed online CPUs "
                          f"({format_cpulist(allowed) or 'none'}; Cpus_allowed_list "
                          f"{format_cpulist(cpuset.cpus_allowed)})", f"choose CPUs among {format_cpulist(allowed)}")


def _cpus_of_nodes(topology: Topology, nodes: Sequence[int], allowed: tuple[int, ...]) -> list[int]:
    out: list[int] = []
    for n in nodes:
        node = topology.node(n)  # TopologyError (exit 2) for a node that does not exist
        if not node.cpus:
            raise UsageError(f"node {n} has no CPUs (memory-only); c2c measures transfers between CPUs",
                             "give nodes with CPUs in --nodes, and use the memory node as --line-node")
        mine = [c for c in node.cpus if c in allowed]
        if not mine:
            raise CpusetError(f"node {n}'s CPUs ({format_cpulist(node.cpus)}) are all outside this process's "
                              f"allowed CPUs ({format_cpulist(allowed)})", "choose --nodes with allowed CPUs")
        out += mine
    return out


def _check_line_node(topology: Topology, cpuset: CpusetView, node_id: int) -> None:
    if node_id not in topology.node_ids:
        raise TopologyError(f"--line-node {node_id} does not exist (nodes: {format_cpulist(topology.node_ids)})",
                            "choose a node with memory (numabench topology)")
    node = topology.node(node_id)
    if not node.has_memory:
        raise UsageError(f"--line-node {node_id} has no memory", "choose a node with memory (numabench topology)")
    if node_id not in cpuset.mems_allowed:
        raise CpusetError(f"--line-node {node_id} is outside this process's cpuset.mems "
                          f"({format_cpulist(cpuset.mems_allowed)})",
                          f"choose --line-node {format_cpulist(cpuset.mems_allowed)}")


def plan_c2c(topology: Topology, cpuset: CpusetView, places: Callable[[list[int]], dict[int, CpuPlace]], *,
             cpus: Sequence[int] | None = None, nodes: Sequence[int] | None = None,
             pairs: Sequence[tuple[int, int]] | None = None, mode: str = "hitm", line_node: int | None = None,
             samples: int = DEFAULT_C2C_SAMPLES) -> C2cPlan:
    """Check the choices against this machine and process; the pairs to measure.

    `places(cpus)` reads the CPUs' places (host.cpus.read_cpu_places under a root). Raises
    UsageError, CpusetError or TopologyError (all exit 2) naming the fix: a CPU outside the cpuset,
    fewer than two CPUs, a node without CPUs, a --line-node that does not exist or has no memory.
    """
    if mode not in C2C_MODES:
        raise UsageError(f"unknown c2c mode {mode!r}", f"choose from {', '.join(C2C_MODES)}")
    if not 1 <= samples <= MAX_C2C_SAMPLES:
        raise UsageError(f"--samples {samples} is not between 1 and {MAX_C2C_SAMPLES}", "use --samples 7")
    allowed = _allowed(topology, cpuset)
    if pairs is not None and (cpus is not None or nodes is not None):
        raise UsageError("--pairs names the CPUs itself", "give --pairs, or --cpus/--nodes, not both")
    if pairs is not None:
        _check_cpus([c for p in pairs for c in p], allowed, cpuset, "--pairs")
        chosen = sorted({c for p in pairs for c in p})
    else:
        chosen = list(allowed)
        if nodes is not None:
            chosen = _cpus_of_nodes(topology, nodes, allowed)
        if cpus is not None:
            _check_cpus(cpus, allowed, cpuset, "--cpus")
            elsewhere = [c for c in cpus if c not in chosen]
            if elsewhere:  # only possible with --nodes: never drop a CPU the user named
                raise UsageError(f"--cpus {format_cpulist(elsewhere)} not on --nodes {format_cpulist(nodes or [])}",
                                 "give CPUs of those nodes, or leave --nodes out")
            chosen = list(cpus)
        chosen = sorted(set(chosen))
        if len(chosen) < 2:
            raise UsageError(f"c2c needs two CPUs; only {format_cpulist(chosen) or 'none'} chosen "
                             f"(allowed: {format_cpulist(allowed) or 'none'})",
                             "give --cpus with two or more allowed CPUs, or run in a cpuset with 2+ CPUs")
    if line_node is not None:
        _check_line_node(topology, cpuset, line_node)
    return C2cPlan(cpus=tuple(chosen), pairs=enumerate_pairs(chosen, places(chosen), topology, pairs), mode=mode,
                   line_node=line_node, samples=samples)


def line_node_of(plan: C2cPlan, pair: C2cPair, topology: Topology, cpuset: CpusetView) -> int:
    """Where the pair's line goes: --line-node, else the initiator's node when it has memory this
    process may use, else the first allowed memory node (a CPU-only node's CPUs)."""
    if plan.line_node is not None:
        return plan.line_node
    if pair.initiator_node in cpuset.mems_allowed and topology.node(pair.initiator_node).has_memory:
        return pair.initiator_node
    return min(cpuset.mems_allowed)


# --------------------------------------------------------------------------- measuring


def _round_trips_per_sample(line: Any, pair: C2cPair, mode: str) -> int:
    """Round trips that last about C2C_SAMPLE_SECONDS, from the wall time of a calibration call
    (which also warms the pair up: caches, TLB, both threads' CPUs out of idle)."""
    n = C2C_CALIBRATION_ROUND_TRIPS
    t0 = time.perf_counter()
    ns, _, _ = _native.c2c_run(line, pair.initiator, pair.responder, mode, round_trips=n, samples=1,
                               warmup_round_trips=n, timeout_s=C2C_TIMEOUT_S)
    # A HitM round trip is two one-way transfers, all timed; a clean round also holds the responder's
    # untimed flush and reread, so its wall time (thread start included: small beside n rounds) counts.
    wall = (time.perf_counter() - t0) / (2 * n)
    per_round = max(2 * float(ns[0]) * 1e-9 if mode == "hitm" else wall, 1e-9)
    return max(C2C_MIN_ROUND_TRIPS, int(C2C_SAMPLE_SECONDS / per_round))


def measure_pair(plan: C2cPlan, pair: C2cPair, node: int) -> Measurement:
    """One pair: its line placed on `node` and located, calibrated, then plan.samples samples of
    one-way latency (ns). Raises the placement errors, NativeTimeoutError when a partner stops
    answering, and the native errors of c2c_run."""
    line, placement = place(_native.C2C_REGION_BYTES, "4k", [node], "bind", pair.initiator)
    samples: list[float] = []
    done = answered = 0
    try:
        round_trips = _round_trips_per_sample(line, pair, plan.mode)
        # At most C2C_SAMPLES_PER_CALL samples per native call (about 0.1 s): Ctrl-C and SIGTERM are
        # handled between calls, never held off for a long pair.
        while len(samples) < plan.samples:
            ns, d, a = _native.c2c_run(line, pair.initiator, pair.responder, plan.mode, round_trips=round_trips,
                                       samples=min(C2C_SAMPLES_PER_CALL, plan.samples - len(samples)),
                                       warmup_round_trips=C2C_CALIBRATION_ROUND_TRIPS, timeout_s=C2C_TIMEOUT_S)
            samples += [float(v) for v in ns]
            done, answered = done + d, answered + a
    finally:
        line.close()
    stats = summarize(samples)
    where = placement.to_dict()
    return Measurement(
        kernel=C2C_KERNEL, cpu_node=pair.initiator_node, mem_node=node, mem_nodes=[node], policy="bind", pages="4k",
        size_bytes=_native.C2C_REGION_BYTES, threads=2, cpus=[pair.initiator, pair.responder], samples=samples,
        unit="ns", latency_ns=stats["median"], stats=stats, pages_by_node=where["pages_by_node"], placement=where,
        details={"c2c_mode": plan.mode, **pair.to_dict(), "round_trips_per_sample": round_trips,
                 "warmup_round_trips": C2C_CALIBRATION_ROUND_TRIPS, "round_trips_done": done,
                 "responses_done": answered, "timeout_s": C2C_TIMEOUT_S,
                 "figure": "one-way latency: round trip / 2 (hitm); chase time / lines (clean)"},
    )


def measure_c2c(plan: C2cPlan, topology: Topology, cpuset: CpusetView,
                progress: Progress = lambda m: None) -> Iterator[tuple[C2cPair, Callable[[], Iterator[Measurement]]]]:
    """(pair, part) for each pair, in order: the part measures that pair alone, so a session keeps
    every pair already done and records a failing pair without stopping the others."""
    for i, pair in enumerate(plan.pairs):
        node = line_node_of(plan, pair, topology, cpuset)

        def part(pair: C2cPair = pair, node: int = node, i: int = i) -> Iterator[Measurement]:
            progress(f"c2c {plan.mode} {i + 1}/{len(plan.pairs)}: CPU {pair.initiator} <- CPU {pair.responder} "
                     f"({pair.relation}), line on node {node}")
            yield measure_pair(plan, pair, node)

        yield pair, part


def failure_fields(plan: C2cPlan, pair: C2cPair) -> dict[str, Any]:
    """What a failed pair records in the result's errors."""
    return {"kernel": C2C_KERNEL, "cpu_node": pair.initiator_node, "mem_nodes": [plan.line_node]
            if plan.line_node is not None else [], "c2c_mode": plan.mode, **pair.to_dict()}


# --------------------------------------------------------------------------- the section


def build_c2c_section(plan: C2cPlan, measurements: Sequence[dict[str, Any]],
                      errors: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The `c2c` section: the matrix (initiator rows, responder columns, median one-way ns; null
    where not measured), each pair's relation, and per relation the pairs' count and the median,
    min and max of their medians. Keys are CPU ids as strings (JSON)."""
    cpus = list(plan.cpus)
    matrix: dict[str, dict[str, float | None]] = {str(a): {str(b): None for b in cpus if b != a} for a in cpus}
    for m in measurements:
        if m.get("kernel") == C2C_KERNEL and m.get("c2c_mode") == plan.mode:
            matrix.setdefault(str(m["initiator_cpu"]), {})[str(m["responder_cpu"])] = m["latency_ns"]
    relations: dict[str, Any] = {}
    for rel, pairs in group_by_relation(plan.pairs).items():
        values = [v for p in pairs if (v := matrix.get(str(p.initiator), {}).get(str(p.responder))) is not None]
        relations[rel] = {"pairs": len(pairs), "measured": len(values),
                          "median_ns": summarize(values)["median"] if values else None,
                          "min_ns": min(values) if values else None, "max_ns": max(values) if values else None}
    return {**plan.to_dict(), "pairs": [p.to_dict() for p in plan.pairs], "latency_ns": matrix,
            "relations": relations, "failed": [{k: e.get(k) for k in ("initiator_cpu", "responder_cpu", "error")}
                                               for e in errors if e.get("kernel") == C2C_KERNEL]}


def run_c2c(session: Session, plan: C2cPlan, topology: Topology, cpuset: CpusetView,
            progress: Progress = lambda m: None) -> None:
    """Measure every pair of the plan in the session (one part per pair), then set its `c2c` section.
    An interruption stops at the pair in progress; what is done stays."""
    for pair, part in measure_c2c(plan, topology, cpuset, progress):
        session.measure(f"c2c {pair.initiator}<-{pair.responder}", part, failure=failure_fields(plan, pair))
    session.sections["c2c"] = build_c2c_section(plan, [m.to_dict() for m in session.measurements], session.errors)


def node_pairs(topology: Topology, cpuset: CpusetView) -> list[tuple[int, int]]:
    """One ordered pair per two CPU nodes, the first allowed CPU of each (what qualification measures:
    MLC's fixed cores per socket, not the whole matrix). [] with fewer than two such nodes."""
    allowed = set(_allowed(topology, cpuset))
    first = [min(c) for n in topology.nodes if (c := [x for x in n.cpus if x in allowed])]
    return [(a, b) for a in first for b in first if a != b]
