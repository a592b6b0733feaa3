"""Hardware qualification: a YAML spec of expectations, checked as data.

A spec has three top-level keys::

    name: "dual-socket gold"         # optional, shown in reports
    measure: {size: 1G, pages: 4k, repeat: 3, threads: null,
              latency_sweep: {enabled: true, sizes: 16K..1G},
              loaded_latency: {enabled: true, delays: [0, 200, 2000], size: 256M, inject_size: 256M, kind: read}}
    checks: {local_latency_ns_max: 150, nodes: 2, ...}

`parse_spec` validates it strictly (unknown keys and wrong types raise SpecError naming the key and
the fix); `needs` says which matrix kernels the checks need; `evaluate` turns a result document
(one `numabench qualify` or `numabench matrix` wrote, or one being built) into one Verdict per
check. Nothing here measures or reads sysfs: the topology comes from the result.

Verdicts: "pass", "fail", or "skipped" when the machine's shape makes a check meaningless (a ratio
on a one-node machine: "needs 2+ NUMA nodes"). A check whose data should exist but does not (a
matrix cell that failed, a result without a bandwidth matrix) fails and says why: a qualification
never passes on figures it does not have.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from numabench.constants import (
    C2C_KERNEL,
    DEFAULT_DELAYS,
    DEFAULT_REPEAT,
    INJECT_KINDS,
    PAGE_KINDS,
    PEAK_KERNELS,
    PEAK_MIXES,
    SCAN_READ,
)
from numabench.errors import ResultError, SpecError, UsageError
from numabench.host.topology import Topology
from numabench.results.scan import scan_groups, slowest_chunk
from numabench.util import docload
from numabench.util.units import format_size, parse_size, parse_size_range

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
# An overall verdict only: a qualification cut short by SIGINT/SIGTERM.
INTERRUPTED = "interrupted"
NEEDS_TWO_NODES = "needs 2+ NUMA nodes"
HUGEPAGE_2M = 2 << 20
HUGEPAGE_1G = 1 << 30

DEFAULT_SIZE = "1G"
DEFAULT_SWEEP_SIZES = "16K..1G"
DEFAULT_LOADED_SIZE = "256M"


# --------------------------------------------------------------------------- the checks, as data


@dataclass(frozen=True)
class CheckDef:
    """One check a spec may ask for.

    `kind` is the type of its bound ("number", "count", "node_list", "matrix", "true");
    `needs` the matrix kernels it reads ("latency", "read"); `placement_based` is True when the
    check reads the machine's layout or where pages landed rather than timings (the only checks that
    mean anything inside a VM).
    """

    key: str
    kind: str
    needs: frozenset[str]
    unit: str
    comparison: str  # "<=", ">=", "=="
    example: str
    placement_based: bool
    description: str


CHECKS: dict[str, CheckDef] = {c.key: c for c in (
    CheckDef("local_latency_ns_max", "number", frozenset({"latency"}), "ns", "<=", "local_latency_ns_max: 150", False,
             "idle latency of every CPU node to its own memory"),
    CheckDef("remote_local_latency_ratio_max", "number", frozenset({"latency"}), "x", "<=",
             "remote_local_latency_ratio_max: 2.2", False,
             "every remote cell's latency divided by its row's local latency"),
    CheckDef("node_read_bandwidth_gbps_min", "number", frozenset({"read"}), "GB/s", ">=",
             "node_read_bandwidth_gbps_min: 80", False,
             "read bandwidth of every CPU node's allowed CPUs on its own memory (1 GB/s = 1e9 bytes/s)"),
    CheckDef("symmetry_pct_max", "number", frozenset({"latency", "read"}), "%", "<=", "symmetry_pct_max: 10", False,
             "spread between nodes' local latency and local bandwidth: (max - min) / min * 100, the larger of the two"),
    CheckDef("hugepages_2m_min_per_node", "count", frozenset(), "pages", ">=", "hugepages_2m_min_per_node: 512", True,
             "2 MiB pages reserved (nr_hugepages) on every node with memory"),
    CheckDef("hugepages_1g_min_per_node", "count", frozenset(), "pages", ">=", "hugepages_1g_min_per_node: 4", True,
             "1 GiB pages reserved (nr_hugepages) on every node with memory"),
    CheckDef("distances", "matrix", frozenset(), "", "==", "distances: [[10, 21], [21, 10]]", True,
             "the SLIT distance matrix, rows and columns in node id order"),
    CheckDef("nodes", "count", frozenset(), "", "==", "nodes: 2", True, "number of NUMA nodes"),
    CheckDef("memory_only_nodes", "node_list", frozenset(), "", "==", "memory_only_nodes: [2, 3]", True,
             "ids of the nodes with memory and no CPUs (CXL, HBM)"),
    # Asking for placement measures at least the latency matrix: every cell's pages get located.
    CheckDef("placement", "true", frozenset({"latency"}), "", "==", "placement: true", True,
             "every measurement's pages were on the node(s) asked (move_pages or numa_maps)"),
    # Measured as a percentage of the firmware's claim (ACPI HMAT), per cell that has one.
    CheckDef("measured_vs_claimed_latency_pct_max", "number", frozenset({"latency"}), "%", "<=",
             "measured_vs_claimed_latency_pct_max: 125", False,
             "every claimed cell's idle latency as a percentage of the firmware's claimed read latency (HMAT)"),
    CheckDef("measured_vs_claimed_bandwidth_pct_min", "number", frozenset({"read"}), "%", ">=",
             "measured_vs_claimed_bandwidth_pct_min: 80", False,
             "every claimed cell's read bandwidth as a percentage of the firmware's claimed read bandwidth (HMAT)"),
    # Issue 15: numabench peak and the bandwidth-vs-threads sweep (needs "peak" / "thread_sweep": not matrix kernels).
    CheckDef("peak_bandwidth_gbps_min", "mix_bounds", frozenset({"peak"}), "GB/s", ">=",
             'peak_bandwidth_gbps_min: {"1:0": 100, triad: 80}', False,
             "peak injection bandwidth of every CPU node on its own memory, per read/write mix (one number: "
             "every mix measured)"),
    CheckDef("sweep_saturation_gbps_min", "number", frozenset({"thread_sweep"}), "GB/s", ">=",
             "sweep_saturation_gbps_min: 90", False,
             "read bandwidth where each node saturates: the largest median over the thread counts of the sweep"),
    # numabench c2c: measured by qualify on the first allowed CPU of each CPU node, every ordered pair.
    CheckDef("c2c_other_node_ns_max", "number", frozenset({C2C_KERNEL}), "ns", "<=", "c2c_other_node_ns_max: 250",
             False, "cache-to-cache (HitM) one-way latency of every measured CPU pair on different nodes"),
    # From a memory scan's scan_read measurements: qualify scans (measure.scan) when this check is asked.
    CheckDef("scan_slowest_chunk_pct_max", "number", frozenset(), "%", "<=", "scan_slowest_chunk_pct_max: 10", False,
             "memory scan: the slowest chunk's read-bandwidth shortfall against its node's median, worst node"),
)}


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class SweepSettings:
    enabled: bool = False
    sizes_bytes: tuple[int, ...] = ()


@dataclass(frozen=True)
class LoadedSettings:
    enabled: bool = False
    delays: tuple[int, ...] = tuple(DEFAULT_DELAYS)
    size_bytes: int = 256 << 20
    inject_size_bytes: int = 256 << 20
    kind: str = "read"


@dataclass(frozen=True)
class ScanSettings:
    """How `qualify` scans memory for scan_slowest_chunk_pct_max: `nodes` None = every memory node
    this process may use; `margin` as `numabench scan --margin` (None: its default)."""

    nodes: tuple[int, ...] | None = None
    chunk_bytes: int = 1 << 30
    max_chunks: int | None = None
    margin: str | None = None


@dataclass(frozen=True)
class MeasureSettings:
    size_bytes: int = 1 << 30
    pages: str = "4k"
    repeat: int = DEFAULT_REPEAT
    threads: int | None = None
    latency_sweep: SweepSettings = field(default_factory=SweepSettings)
    loaded_latency: LoadedSettings = field(default_factory=LoadedSettings)
    scan: ScanSettings = field(default_factory=ScanSettings)


@dataclass(frozen=True)
class QualifySpec:
    """A checked spec. `checks` maps check keys (see CHECKS) to their bounds, in the spec's order."""

    name: str
    measure: MeasureSettings
    checks: dict[str, Any]  # bounds are JSON values whose type follows CheckDef.kind
    source: str = "<spec>"

    def to_dict(self) -> dict[str, Any]:
        m = self.measure
        out: dict[str, Any] = {
            "name": self.name,
            "measure": {
                "size_bytes": m.size_bytes, "pages": m.pages, "repeat": m.repeat, "threads": m.threads,
                "latency_sweep": ({"enabled": True, "sizes_bytes": list(m.latency_sweep.sizes_bytes)}
                                  if m.latency_sweep.enabled else {"enabled": False}),
                "loaded_latency": ({"enabled": True, "delays": list(m.loaded_latency.delays),
                                    "size_bytes": m.loaded_latency.size_bytes,
                                    "inject_size_bytes": m.loaded_latency.inject_size_bytes,
                                    "kind": m.loaded_latency.kind} if m.loaded_latency.enabled else {"enabled": False}),
            },
            "checks": dict(self.checks),
        }
        if "scan_slowest_chunk_pct_max" in self.checks:  # only then is a scan measured (needs_scan)
            out["measure"]["scan"] = {"nodes": None if m.scan.nodes is None else list(m.scan.nodes),
                                      "chunk_bytes": m.scan.chunk_bytes, "max_chunks": m.scan.max_chunks,
                                      "margin": m.scan.margin}
        return out


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a mapping", type(None): "nothing"}.get(type(value), type(value).__name__)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Checker:
    def __init__(self, source: str):
        self.source = source

    def error(self, key: str, problem: str, fix: str) -> SpecError:
        return SpecError(f"{self.source}: {key}: {problem}", fix)

    def mapping(self, value: Any, key: str, known: Sequence[str], example: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(key, f"expected a mapping, got {_type_name(value)}", f"write it as {example}")
        for k in value:
            if not isinstance(k, str) or k not in known:
                close = difflib.get_close_matches(str(k), list(known), n=1)
                hint = f"did you mean {close[0]}? " if close else ""
                raise self.error(f"{key}.{k}" if key else str(k), "unknown key",
                                 f"{hint}known keys here: {', '.join(known)}")
        return value

    def size(self, value: Any, key: str) -> int:
        if _is_int(value) and value > 0:
            return int(value)
        if isinstance(value, str):
            try:
                return parse_size(value)
            except UsageError:
                pass
        raise self.error(key, f"expected a size, got {value!r}", "write a size like 16M or 1G (or a number of bytes)")

    def positive_int(self, value: Any, key: str, example: str) -> int:
        if not _is_int(value) or value < 1:
            raise self.error(key, f"expected a positive integer, got {value!r}", f"write e.g. {example}")
        return int(value)

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}", f"write {key.rsplit('.', 1)[-1]}: true")
        return value


def _parse_sweep(c: _Checker, value: Any) -> SweepSettings:
    key = "measure.latency_sweep"
    if isinstance(value, bool):
        value = {"enabled": value}
    raw = c.mapping(value, key, ("enabled", "sizes"), f"{key}: {{sizes: {DEFAULT_SWEEP_SIZES}}}")
    enabled = c.boolean(raw.get("enabled", True), f"{key}.enabled")
    sizes_value = raw.get("sizes", DEFAULT_SWEEP_SIZES)
    if isinstance(sizes_value, list) and sizes_value:
        sizes = [c.size(s, f"{key}.sizes") for s in sizes_value]
    elif isinstance(sizes_value, str):
        try:
            sizes = parse_size_range(sizes_value)
        except UsageError:
            sizes = []
        if not sizes:
            raise c.error(f"{key}.sizes", f"invalid size range {sizes_value!r}",
                          "write a range of powers of two like 16K..1G or a list like [16K, 1M, 1G]")
    else:
        raise c.error(f"{key}.sizes", f"expected a size range or a list of sizes, got {_type_name(sizes_value)}",
                      "write sizes: 16K..1G or sizes: [16K, 1M, 1G]")
    return SweepSettings(enabled=enabled, sizes_bytes=tuple(sorted(set(sizes))))


def _parse_loaded(c: _Checker, value: Any) -> LoadedSettings:
    key = "measure.loaded_latency"
    if isinstance(value, bool):
        value = {"enabled": value}
    raw = c.mapping(value, key, ("enabled", "delays", "size", "inject_size", "kind"),
                    f"{key}: {{delays: [0, 200, 2000]}}")
    enabled = c.boolean(raw.get("enabled", True), f"{key}.enabled")
    delays = raw.get("delays", list(DEFAULT_DELAYS))
    if not isinstance(delays, list) or not delays or not all(_is_int(d) and d >= 0 for d in delays):
        raise c.error(f"{key}.delays", f"expected a non-empty list of non-negative integers, got {delays!r}",
                      "write delays: [0, 200, 2000, 20000] (empty loop iterations per 512 bytes)")
    kind = raw.get("kind", "read")
    if kind not in INJECT_KINDS:
        raise c.error(f"{key}.kind", f"unknown injection kind {kind!r}", f"choose from {', '.join(INJECT_KINDS)}")
    size = c.size(raw.get("size", DEFAULT_LOADED_SIZE), f"{key}.size")
    inject = c.size(raw.get("inject_size", raw.get("size", DEFAULT_LOADED_SIZE)), f"{key}.inject_size")
    return LoadedSettings(enabled=enabled, delays=tuple(delays), size_bytes=size, inject_size_bytes=inject, kind=kind)


def _parse_scan(c: _Checker, value: Any) -> ScanSettings:
    key = "measure.scan"
    raw = c.mapping(value, key, ("nodes", "chunk", "max_chunks", "margin"), f"{key}: {{chunk: 1G, max_chunks: 16}}")
    nodes = raw.get("nodes")
    if nodes is not None and (not isinstance(nodes, list) or not nodes
                              or not all(_is_int(n) and n >= 0 for n in nodes)):
        raise c.error(f"{key}.nodes", f"expected a non-empty list of node ids, got {nodes!r}",
                      "write nodes: [0, 1], or leave it out for every memory node")
    max_chunks = raw.get("max_chunks")
    margin = raw.get("margin")
    if margin is not None and not isinstance(margin, (str, int)):
        raise c.error(f"{key}.margin", f"expected a size or a percentage, got {margin!r}", "write margin: 5% or 2G")
    return ScanSettings(nodes=None if nodes is None else tuple(sorted(set(nodes))),
                        chunk_bytes=c.size(raw.get("chunk", "1G"), f"{key}.chunk"),
                        max_chunks=None if max_chunks is None else c.positive_int(max_chunks, f"{key}.max_chunks",
                                                                                  "max_chunks: 16"),
                        margin=None if margin is None else str(margin))


def _parse_measure(c: _Checker, value: Any) -> MeasureSettings:
    raw = c.mapping(value, "measure", ("size", "pages", "repeat", "threads", "latency_sweep", "loaded_latency",
                                       "scan"),
                    "measure: {size: 1G, pages: 4k, repeat: 3}")
    pages = raw.get("pages", "4k")
    if pages not in PAGE_KINDS:
        raise c.error("measure.pages", f"unknown page kind {pages!r}", f"choose one of {', '.join(PAGE_KINDS)}")
    threads = raw.get("threads")
    return MeasureSettings(
        size_bytes=c.size(raw.get("size", DEFAULT_SIZE), "measure.size"),
        pages=pages,
        repeat=c.positive_int(raw.get("repeat", DEFAULT_REPEAT), "measure.repeat", "repeat: 3"),
        threads=None if threads is None else c.positive_int(threads, "measure.threads", "threads: 8"),
        latency_sweep=_parse_sweep(c, raw.get("latency_sweep", False)),
        loaded_latency=_parse_loaded(c, raw.get("loaded_latency", False)),
        scan=_parse_scan(c, raw.get("scan")),
    )


def _parse_bound(c: _Checker, check: CheckDef, value: Any) -> Any:
    key = f"checks.{check.key}"
    if check.kind == "number":
        if not _is_number(value) or value < 0:
            raise c.error(key, f"expected a non-negative number, got {value!r}", f"write e.g. {check.example}")
        return value
    if check.kind == "count":
        if not _is_int(value) or value < 0:
            raise c.error(key, f"expected a non-negative integer, got {value!r}", f"write e.g. {check.example}")
        return value
    if check.kind == "node_list":
        if not isinstance(value, list) or not all(_is_int(v) and v >= 0 for v in value):
            raise c.error(key, f"expected a list of node ids, got {value!r}", f"write e.g. {check.example} (or [])")
        return sorted(value)
    if check.kind == "matrix":
        ok = (isinstance(value, list) and value and all(isinstance(r, list) and len(r) == len(value) for r in value)
              and all(_is_int(d) and d > 0 for r in value for d in r))
        if not ok:
            raise c.error(key, f"expected a square list of lists of positive integers, got {value!r}",
                          f"write e.g. {check.example}, one row per node in id order")
        return value
    if check.kind == "mix_bounds":
        return _parse_mix_bounds(c, key, check, value)
    if value is not True:
        raise c.error(key, f"expected true, got {value!r}", f"write {check.example}, or remove the key")
    return True


def _parse_mix_bounds(c: _Checker, key: str, check: CheckDef, value: Any) -> Any:
    """A non-negative number (every mix measured), or a mapping mix -> number (YAML reads 1:0
    unquoted as the integer 60, so a mix is written quoted: "1:0")."""
    if _is_number(value) and value >= 0:
        return value
    if isinstance(value, dict) and value:
        bad = [k for k in value if k not in PEAK_MIXES]
        if bad:
            raise c.error(key, f"unknown read/write mix {bad[0]!r}",
                          f"use quoted mixes from {', '.join(PEAK_MIXES)}, e.g. {check.example}")
        if all(_is_number(v) and v >= 0 for v in value.values()):
            return {k: value[k] for k in PEAK_MIXES if k in value}
    raise c.error(key, f"expected a number or a mapping of mixes to numbers, got {value!r}",
                  f"write e.g. {check.example}")


def parse_spec(data: Any, source: str = "<spec>") -> QualifySpec:
    """Check a loaded spec (the mapping from YAML) into a QualifySpec.

    Raises SpecError (a UsageError: exit 2) naming the key, e.g.
    ``spec.yaml: checks.local_latency_max: unknown key: did you mean local_latency_ns_max? ...``.
    """
    c = _Checker(source)
    raw = c.mapping(data, "", ("name", "measure", "checks"), "name: ..., measure: {...}, checks: {...}")
    if not raw:
        raise SpecError(f"{source}: the spec is empty", "write a 'checks:' mapping, e.g. checks: {nodes: 2}")
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise c.error("name", f"expected a string, got {_type_name(name)}", 'write name: "my machine class"')
    measure = _parse_measure(c, raw.get("measure"))
    checks_raw = c.mapping(raw.get("checks"), "checks", tuple(CHECKS), "checks: {local_latency_ns_max: 150}")
    if not checks_raw:
        raise SpecError(f"{source}: checks: no check given",
                        f"add at least one of {', '.join(CHECKS)} under 'checks:'")
    checks = {k: _parse_bound(c, CHECKS[k], v) for k, v in checks_raw.items()}
    return QualifySpec(name=name or source, measure=measure, checks=checks, source=source)


def load_spec(path: str) -> QualifySpec:
    """Read and check a YAML spec file. Raises SpecError (exit 2) on any problem, naming the file."""
    text = docload.read_text(path, what="spec", error=SpecError, fix="give the path of a YAML spec file")
    data = docload.parse_yaml(text, path, error=SpecError, unique_keys=True)
    return parse_spec(data, path)


def measures_extra(spec: QualifySpec) -> list[str]:
    """What besides the matrix the spec's checks need measured: "peak", "thread_sweep"."""
    wanted = set().union(*(CHECKS[k].needs for k in spec.checks))
    return [k for k in ("peak", "thread_sweep") if k in wanted]


def needs_c2c(spec: QualifySpec) -> bool:
    """True when a check of the spec reads cache-to-cache measurements (numabench c2c)."""
    return any(C2C_KERNEL in CHECKS[k].needs for k in spec.checks)


def needs_scan(spec: QualifySpec) -> bool:
    """True when the spec's checks need a memory scan (scan_slowest_chunk_pct_max)."""
    return "scan_slowest_chunk_pct_max" in spec.checks


def needs(spec: QualifySpec) -> list[str]:
    """The matrix kernels the spec's checks need ("latency", "read"), in that order; [] for none."""
    wanted = set().union(*(CHECKS[k].needs for k in spec.checks))
    return [k for k in ("latency", "read") if k in wanted]


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    """One check's outcome. `measured` is the worst figure found (None when skipped or missing);
    `bound` the spec's value; `detail` says per node what was found, or why it was skipped/failed."""

    check: str
    status: str
    measured: Any
    bound: Any
    comparison: str
    unit: str
    detail: str
    placement_based: bool

    @property
    def expected(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.comparison} {_format_value(self.bound)}{unit}"

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "measured": self.measured, "bound": self.bound,
                "comparison": self.comparison, "unit": self.unit, "expected": self.expected,
                "detail": self.detail, "placement_based": self.placement_based}


def _format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def format_measured(v: Verdict) -> str:
    """The measured figure with its unit, for tables ("-" when none)."""
    if v.measured is None:
        return "-"
    return f"{_format_value(v.measured)}{' ' + v.unit if v.unit else ''}"


class _Context:
    """What a result offers to the checks: its topology, matrix and measurements."""

    def __init__(self, result: dict[str, Any]):
        if not isinstance(result.get("topology"), dict):
            raise ResultError("the result has no topology section; it was not written by numabench qualify/matrix")
        try:
            self.topology = Topology.from_dict(result["topology"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ResultError(f"the result's topology section is malformed ({exc})") from None
        self.matrix: dict[str, Any] | None = result.get("matrix")
        self.measurements: list[dict[str, Any]] = result.get("measurements", [])
        self.errors: list[dict[str, Any]] = result.get("errors", [])

    @property
    def rows(self) -> list[int]:
        return list(self.matrix["rows"]) if self.matrix else list(self.topology.cpu_nodes)

    def local_rows(self) -> list[int]:
        """CPU nodes that have memory of their own: rows with a local cell."""
        return [r for r in self.rows if r in self.topology.memory_nodes]

    def cell(self, key: str, r: int, c: int) -> tuple[Any, str | None]:
        """(value, None) or (None, why it is missing)."""
        if not self.matrix:
            return None, "the result has no matrix section (run numabench qualify or numabench matrix)"
        values = self.matrix.get(key)
        if values is None:
            kernel = "latency" if key == "latency_ns" else "read bandwidth"
            return None, f"the result has no {kernel} matrix"
        value = values.get(str(r), {}).get(str(c))
        if value is None:
            status = self.matrix.get("status", {}).get(str(r), {}).get(str(c), "not in the matrix")
            return None, f"cell {r}->{c} not measured: {status}"
        return value, None

    def local_cells(self, key: str, scale: float = 1.0) -> tuple[dict[int, float], list[str]]:
        """({node: its local cell x scale}, why each missing one is missing) over local_rows."""
        found, missing = {}, []
        for r in self.local_rows():
            value, why = self.cell(key, r, r)
            if why:
                missing.append(why)
            else:
                found[r] = value * scale
        return found, missing


def _verdict(check: str, status: str, measured: Any, bound: Any, detail: str) -> Verdict:
    d = CHECKS[check]
    return Verdict(check, status, measured, bound, d.comparison, d.unit, detail, d.placement_based)


def _holds(comparison: str, measured: Any, bound: Any) -> bool:
    return bool({"<=": measured <= bound, ">=": measured >= bound, "==": measured == bound}[comparison])


def _judge(check: str, measured: Any, bound: Any, detail: str, missing: list[str]) -> Verdict:
    if missing:
        return _verdict(check, FAIL, measured, bound, "; ".join(missing))
    ok = _holds(CHECKS[check].comparison, measured, bound)
    return _verdict(check, PASS if ok else FAIL, measured, bound, detail)


def _check_local_latency(ctx: _Context, bound: Any) -> Verdict:
    rows = ctx.local_rows()
    if not rows:
        return _verdict("local_latency_ns_max", SKIPPED, None, bound, "no node has both CPUs and memory")
    found, missing = ctx.local_cells("latency_ns")
    worst = max(found.values()) if found else None
    detail = "; ".join(f"node {r}: {v:.1f} ns" for r, v in found.items())
    return _judge("local_latency_ns_max", worst, bound, detail, missing)


def _check_ratio(ctx: _Context, bound: Any) -> Verdict:
    if len(ctx.topology.nodes) < 2:
        return _verdict("remote_local_latency_ratio_max", SKIPPED, None, bound, NEEDS_TWO_NODES)
    columns = list(ctx.topology.memory_nodes)
    rows = ctx.local_rows()
    if not rows or len(columns) < 2:
        return _verdict("remote_local_latency_ratio_max", SKIPPED, None, bound,
                        "needs a node with CPUs and memory and a second node with memory")
    ratios, missing = {}, []
    for r in rows:
        local, why = ctx.cell("latency_ns", r, r)
        if why:
            missing.append(why)
            continue
        for c in columns:
            if c == r:
                continue
            value, why = ctx.cell("latency_ns", r, c)
            if why:
                missing.append(why)
            else:
                ratios[(r, c)] = value / local
    if not ratios:
        return _judge("remote_local_latency_ratio_max", None, bound, "", missing or ["no remote cell"])
    worst_cell = max(ratios, key=lambda cell: ratios[cell])
    detail = f"worst {worst_cell[0]}->{worst_cell[1]}: x{ratios[worst_cell]:.2f}; " + "; ".join(
        f"{r}->{c} x{v:.2f}" for (r, c), v in ratios.items())
    return _judge("remote_local_latency_ratio_max", ratios[worst_cell], bound, detail, missing)


def _check_bandwidth(ctx: _Context, bound: Any) -> Verdict:
    rows = ctx.local_rows()
    if not rows:
        return _verdict("node_read_bandwidth_gbps_min", SKIPPED, None, bound, "no node has both CPUs and memory")
    found, missing = ctx.local_cells("bandwidth_bytes_per_s", 1e-9)
    threads = {m["cpu_node"]: m.get("threads") for m in ctx.measurements
               if m.get("kernel") == "read" and m.get("mem_node") == m.get("cpu_node")}
    detail = "; ".join(f"node {r}: {v:.1f} GB/s" + (f" ({threads[r]} threads)" if threads.get(r) else "")
                       for r, v in found.items())
    worst = min(found.values()) if found else None
    return _judge("node_read_bandwidth_gbps_min", worst, bound, detail, missing)


def _spread_pct(values: list[float]) -> float:
    return (max(values) - min(values)) / min(values) * 100.0


def _check_symmetry(ctx: _Context, bound: Any) -> Verdict:
    rows = ctx.local_rows()
    if len(rows) < 2:
        reason = NEEDS_TWO_NODES if len(ctx.topology.nodes) < 2 else "needs 2+ NUMA nodes with CPUs and memory"
        return _verdict("symmetry_pct_max", SKIPPED, None, bound, reason)
    spreads, missing, parts = {}, [], []
    for key, label in (("latency_ns", "latency"), ("bandwidth_bytes_per_s", "bandwidth")):
        values = []
        for r in rows:
            value, why = ctx.cell(key, r, r)
            if why:
                missing.append(why)
            else:
                values.append(value)
        if len(values) == len(rows):
            spreads[label] = _spread_pct(values)
            parts.append(f"local {label} spread {spreads[label]:.1f}%")
    worst = max(spreads.values()) if spreads else None
    return _judge("symmetry_pct_max", worst, bound, "; ".join(parts), missing)


def _check_hugepages(ctx: _Context, bound: Any, check: str, page: int) -> Verdict:
    nodes = [n for n in ctx.topology.nodes if n.has_memory]
    totals, parts = {}, []
    for n in nodes:
        pool = n.hugepages.get(page)
        totals[n.id] = pool.total if pool else 0
        parts.append(f"node {n.id}: {pool.total} reserved, {pool.free} free" if pool
                     else f"node {n.id}: no {format_size(page)} pool")
    detail = "; ".join(parts)
    return _judge(check, min(totals.values()) if totals else 0, bound, detail, [])


def _distance_matrix(topology: Topology) -> list[list[int | None]]:
    ids = topology.node_ids
    return [[topology.node(a).distances.get(b) for b in ids] for a in ids]


def _check_distances(ctx: _Context, bound: Any) -> Verdict:
    measured = _distance_matrix(ctx.topology)
    ok = measured == bound
    detail = "" if ok else (f"node ids {list(ctx.topology.node_ids)}; "
                            + ("different size" if len(measured) != len(bound) else
                               "differs at " + ", ".join(f"{a}->{b}" for a in range(len(bound))
                                                          for b in range(len(bound)) if measured[a][b] != bound[a][b])))
    return _verdict("distances", PASS if ok else FAIL, measured, bound, detail)


def _check_nodes(ctx: _Context, bound: Any) -> Verdict:
    ids = list(ctx.topology.node_ids)
    return _judge("nodes", len(ids), bound, f"node ids {ids}", [])


def _check_memory_only(ctx: _Context, bound: Any) -> Verdict:
    found = sorted(n.id for n in ctx.topology.nodes if n.memory_only)
    detail = "; ".join(f"node {n.id}: " + ("CPUs" if n.has_cpus else "no CPUs") + ", "
                       + ("memory" if n.has_memory else "no memory") for n in ctx.topology.nodes)
    return _judge("memory_only_nodes", found, bound, detail, [])


def _check_placement(ctx: _Context, bound: Any) -> Verdict:
    ms = [m for m in ctx.measurements if isinstance(m.get("placement"), dict)]
    if not ms:
        return _verdict("placement", SKIPPED, None, bound, "nothing was measured")
    bad = [m for m in ms if not m["placement"].get("ok")]
    detail = f"{len(ms) - len(bad)} of {len(ms)} measurements on the asked node(s)"
    if bad:
        detail += "; misplaced: " + "; ".join(
            f"{m['kernel']} cpu node {m['cpu_node']} -> mem {m.get('mem_nodes', m.get('mem_node'))}: "
            f"pages by node {m.get('pages_by_node')}" for m in bad[:5])
    methods = sorted({f"{m['placement'].get('method')}/{m['placement'].get('verified_by')}" for m in ms})
    detail += f" (placed/verified by {', '.join(methods)})"
    return _verdict("placement", FAIL if bad else PASS, not bad, bound, detail)


# --------------------------------------------------------------------------- measured vs claimed (HMAT)


@dataclass(frozen=True)
class ClaimedCell:
    """One matrix cell that the firmware gives a figure for (ACPI HMAT, kernel numaperf.rst).

    `figure` is "latency" (ns) or "bandwidth" (bytes/s; the kernel's MB/s times 1e6);
    `measured` is the cell's median in the same unit, None when it was not measured (`missing`
    says why); `pct` is measured / claimed * 100.
    """

    cpu_node: int
    mem_node: int
    figure: str
    claimed: float
    measured: float | None
    missing: str | None

    @property
    def pct(self) -> float | None:
        return None if self.measured is None else self.measured / self.claimed * 100.0


# figure -> (matrix key, claim field, claim unit -> matrix unit)
_CLAIM_FIGURES = {"latency": ("latency_ns", "read_latency_ns", 1.0),
                  "bandwidth": ("bandwidth_bytes_per_s", "read_bandwidth_mb_s", 1e6)}


def _claim_of(ctx: _Context, r: int, c: int) -> dict[str, Any] | None:
    """The cell's claim: the matrix's `claimed` grid (what `matrix` showed), else the topology's."""
    grid = (ctx.matrix or {}).get("claimed")
    if grid is not None:
        cell: dict[str, Any] | None = grid.get(str(r), {}).get(str(c))
        return cell
    claim = ctx.topology.claimed(r, c)
    return None if claim is None else claim.to_dict()


def _claimed_cells(ctx: _Context, figure: str) -> tuple[list[ClaimedCell], list[tuple[int, int]]]:
    """(the cells with a claimed `figure`, the cells without one), rows x columns in order."""
    key, field_name, scale = _CLAIM_FIGURES[figure]
    columns = list(ctx.matrix["columns"]) if ctx.matrix else list(ctx.topology.memory_nodes)
    cells, unclaimed = [], []
    for r in ctx.rows:
        for c in columns:
            claimed = (_claim_of(ctx, r, c) or {}).get(field_name)
            if not claimed:  # no claim, or the firmware gave no such figure (0 / None)
                unclaimed.append((r, c))
                continue
            value, why = ctx.cell(key, r, c)
            cells.append(ClaimedCell(r, c, figure, claimed * scale, value, why))
    return cells, unclaimed


def claimed_comparison(result: dict[str, Any], figure: str) -> list[ClaimedCell]:
    """The cells of `result` whose `figure` ("latency" or "bandwidth") the firmware claims, with
    the measured figure beside it. Raises ResultError when the result has no topology section."""
    return _claimed_cells(_Context(result), figure)[0]


def _no_claim_reason(ctx: _Context, figure: str) -> str:
    field_name = _CLAIM_FIGURES[figure][1]
    access = [a for n in ctx.topology.nodes for a in n.access]
    if not access:
        return ("the firmware claims no figures (no ACPI HMAT: no node*/access*/initiators/ in sysfs); "
                "nothing to compare")
    if not any(getattr(a, field_name) for a in access):
        return f"the firmware's HMAT claims give no read {figure} for any node (the kernel shows 0: not given)"
    return f"no CPU node of the matrix is an initiator the firmware gives a read {figure} for"


def _format_claimed(cell: ClaimedCell) -> str:
    """One measured cell: its percentage of the claim, the measured and claimed figures."""
    assert cell.measured is not None
    if cell.figure == "latency":
        return f"{cell.cpu_node}->{cell.mem_node}: {cell.pct:.0f}% ({cell.measured:.1f} ns of {cell.claimed:.0f} ns)"
    return (f"{cell.cpu_node}->{cell.mem_node}: {cell.pct:.0f}% "
            f"({cell.measured / 1e9:.2f} of {cell.claimed / 1e9:.2f} GB/s)")


def _check_vs_claimed(ctx: _Context, bound: float, check: str, figure: str) -> Verdict:
    """Worst measured/claimed percentage over the claimed cells: the highest for latency, the
    lowest for bandwidth. Skipped when no cell has a claim; a claimed cell not measured fails."""
    cells, unclaimed = _claimed_cells(ctx, figure)
    if not cells:
        return _verdict(check, SKIPPED, None, bound, _no_claim_reason(ctx, figure))
    measured = [c for c in cells if c.measured is not None]
    missing = list(dict.fromkeys(c.missing or "" for c in cells if c.measured is None))  # once each reason
    pick = max if figure == "latency" else min
    worst = pick(measured, key=lambda c: c.pct or 0.0) if measured else None
    parts = missing + ([f"worst {_format_claimed(worst)}"] if worst else []) + [_format_claimed(c) for c in measured]
    if unclaimed:
        parts.append("no claim, not judged: " + ", ".join(f"{r}->{c}" for r, c in unclaimed))
    if missing or worst is None:  # a claimed cell without its measurement: never a pass on figures we lack
        return _verdict(check, FAIL, None if worst is None else worst.pct, bound, "; ".join(parts))
    return _judge(check, worst.pct, bound, "; ".join(parts), [])


def _check_peak(ctx: _Context, bound: Any) -> Verdict:
    """Every node's peak bandwidth per mix against its bound; the smallest margin is `measured`."""
    check = "peak_bandwidth_gbps_min"
    kernels = {name: mix for mix, name in PEAK_KERNELS.items()}
    found = {(m["cpu_node"], kernels[m["kernel"]]): m["bandwidth_bytes_per_s"] / 1e9 for m in ctx.measurements
             if m.get("kernel") in kernels and m.get("bandwidth_bytes_per_s") is not None}
    if not found:
        return _verdict(check, FAIL, None, bound, "no peak measurement in the result (run numabench peak, or "
                                                  "qualify with this check to measure it)")
    nodes = sorted({n for n, _ in found})
    bounds = bound if isinstance(bound, dict) else {mix: bound for mix in PEAK_MIXES if any(k[1] == mix for k in found)}
    missing = [f"node {n}: mix {mix} not measured" for n in nodes for mix in bounds if (n, mix) not in found]
    judged = {(n, mix): found[(n, mix)] for n in nodes for mix in bounds if (n, mix) in found}
    failing = [f"node {n} {mix}: {v:.2f} < {bounds[mix]} GB/s" for (n, mix), v in judged.items() if v < bounds[mix]]
    worst = min(judged, key=lambda k: judged[k] / bounds[k[1]] if bounds[k[1]] else float("inf"), default=None)
    detail = "; ".join(missing + failing + [f"node {n} {mix}: {v:.2f} GB/s" for (n, mix), v in judged.items()])
    status = FAIL if missing or failing else PASS
    return _verdict(check, status, None if worst is None else judged[worst], bound, detail)


def _check_sweep(ctx: _Context, bound: Any) -> Verdict:
    """Every swept node's read saturation (the largest median over thread counts) >= bound."""
    from numabench.analysis.sweep import sweep_curves

    curves = [c for c in sweep_curves(ctx.measurements) if c.kernel == "read"]
    if not curves:
        return _verdict("sweep_saturation_gbps_min", FAIL, None, bound,
                        "no read thread sweep in the result (run numabench run --threads-sweep)")
    tops = {c.label: c.saturation for c in curves}
    worst = min(tops.values(), key=lambda p: p.bandwidth_bytes_per_s).bandwidth_bytes_per_s / 1e9
    detail = "; ".join(f"{label}: {p.bandwidth_bytes_per_s / 1e9:.2f} GB/s at {p.threads} thread(s)"
                       for label, p in tops.items())
    return _judge("sweep_saturation_gbps_min", worst, bound, detail, [])


def _check_c2c_other_node(ctx: _Context, bound: Any) -> Verdict:
    """The slowest cross-node c2c pair (HitM); skipped with fewer than two CPU nodes."""
    check = "c2c_other_node_ns_max"
    if len(ctx.topology.cpu_nodes) < 2:
        return _verdict(check, SKIPPED, None, bound, "needs 2+ NUMA nodes with CPUs")
    pairs = [m for m in ctx.measurements if m.get("kernel") == C2C_KERNEL and m.get("relation") == "other-node"
             and m.get("c2c_mode", "hitm") == "hitm"]
    if not pairs:
        failed = [e for e in ctx.errors if e.get("kernel") == C2C_KERNEL]
        why = f"{len(failed)} c2c pair(s) failed: {failed[0].get('error')}" if failed else \
            "no cross-node c2c pair was measured (numabench qualify measures them; or --from a numabench c2c result)"
        return _verdict(check, FAIL, None, bound, why)
    worst = max(pairs, key=lambda m: m["latency_ns"])
    detail = f"worst CPU {worst['initiator_cpu']} <- {worst['responder_cpu']}: {worst['latency_ns']:.1f} ns; " + \
        "; ".join(f"{m['initiator_cpu']}<-{m['responder_cpu']} {m['latency_ns']:.1f}" for m in pairs[:16])
    return _judge(check, worst["latency_ns"], bound, detail, [])


def _check_scan(ctx: _Context, bound: Any) -> Verdict:
    """The worst node's slowest chunk: (median - slowest) / median x 100 of scan_read per node.
    A result without a scan, or a node scanned in fewer than 2 chunks, fails: nothing to compare."""
    check = "scan_slowest_chunk_pct_max"
    groups = {node: values for (node, kernel), values in scan_groups(ctx.measurements).items() if kernel == SCAN_READ}
    if not groups:
        return _verdict(check, FAIL, None, bound, "the result has no memory scan (scan_read measurements): "
                        "measure with numabench qualify, or evaluate --from a numabench scan result")
    shortfalls, parts, missing = {}, [], []
    for node, values in sorted(groups.items()):
        worst = slowest_chunk(values, SCAN_READ)
        if worst is None or len(values) < 2:
            missing.append(f"node {node}: {len(values)} chunk scanned; a scan needs 2+ chunks to compare")
            continue
        shortfalls[node] = worst.shortfall_pct
        parts.append(f"node {node}: slowest chunk {worst.chunk} {worst.shortfall_pct:.1f}% below the median "
                     f"of {len(values)} chunks ({worst.value / 1e9:.2f} GB/s)")
    measured = max(shortfalls.values()) if shortfalls else None
    return _judge(check, measured, bound, "; ".join(parts), missing)


_EVALUATORS: dict[str, Callable[[_Context, Any], Verdict]] = {
    "local_latency_ns_max": _check_local_latency,
    "remote_local_latency_ratio_max": _check_ratio,
    "node_read_bandwidth_gbps_min": _check_bandwidth,
    "symmetry_pct_max": _check_symmetry,
    "hugepages_2m_min_per_node": lambda ctx, b: _check_hugepages(ctx, b, "hugepages_2m_min_per_node", HUGEPAGE_2M),
    "hugepages_1g_min_per_node": lambda ctx, b: _check_hugepages(ctx, b, "hugepages_1g_min_per_node", HUGEPAGE_1G),
    "distances": _check_distances,
    "nodes": _check_nodes,
    "memory_only_nodes": _check_memory_only,
    "placement": _check_placement,
    "measured_vs_claimed_latency_pct_max":
        lambda ctx, b: _check_vs_claimed(ctx, b, "measured_vs_claimed_latency_pct_max", "latency"),
    "measured_vs_claimed_bandwidth_pct_min":
        lambda ctx, b: _check_vs_claimed(ctx, b, "measured_vs_claimed_bandwidth_pct_min", "bandwidth"),
    "peak_bandwidth_gbps_min": _check_peak,
    "sweep_saturation_gbps_min": _check_sweep,
    "c2c_other_node_ns_max": _check_c2c_other_node,
    "scan_slowest_chunk_pct_max": _check_scan,
}


def evaluate(spec: QualifySpec, result: dict[str, Any]) -> list[Verdict]:
    """One Verdict per check of the spec, in the spec's order, from a result document.

    Reads `topology`, `matrix` and `measurements` of the result; measures nothing.
    Raises ResultError when the result has no usable topology section.
    """
    ctx = _Context(result)
    try:
        return [_EVALUATORS[key](ctx, bound) for key, bound in spec.checks.items()]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # The matrix section is kept as written (the schema types measurements, not sections): a
        # damaged --from file shows here, as one error rather than a traceback.
        raise ResultError(f"the result's matrix section is malformed ({type(exc).__name__}: {str(exc)[:200]})",
                          "give a result written by numabench qualify -o or numabench matrix -o") from None


def overall(verdicts: list[Verdict], interrupted: bool = False) -> str:
    """"fail" when any check failed, else "interrupted" for a run cut short (never a pass: its
    checks saw only part of the machine), else "pass" (skipped checks do not fail a qualification)."""
    if any(v.status == FAIL for v in verdicts):
        return FAIL
    return INTERRUPTED if interrupted else PASS


def counts_of(verdicts: list[Verdict]) -> dict[str, int]:
    return {s: sum(1 for v in verdicts if v.status == s) for s in (PASS, FAIL, SKIPPED)}


def qualification_section(spec: QualifySpec, verdicts: list[Verdict], evaluated_from: str | None = None,
                          interrupted: bool = False) -> dict[str, Any]:
    """The `qualification` section of a result document."""
    counts = counts_of(verdicts)
    return {
        "spec_name": spec.name,
        "spec": spec.to_dict(),
        "evaluated_from": evaluated_from,
        "verdict": overall(verdicts, interrupted),
        "counts": counts,
        "checks": [v.to_dict() for v in verdicts],
    }


def verdicts_from_section(section: dict[str, Any]) -> list[Verdict]:
    """Verdicts back from a `qualification` section (for rendering a stored result)."""
    return [Verdict(c["check"], c["status"], c["measured"], c["bound"], c["comparison"], c["unit"], c["detail"],
                    c["placement_based"]) for c in section["checks"]]
