"""The result file: typed records, one builder, one validator, a version -> loader map.

`schema_version` is an integer independent of the package version (google/benchmark's
json_reporter: "our json schema is not strictly tied to the library version"); it changes
only when a field changes meaning or shape. History:
  1  first version: environment, topology, measurements with samples, medians
     (latency_ns / bandwidth_bytes_per_s) and pages_by_node. Optional sections added since,
     without changing the version (readers keep what they do not know): numastat_delta,
     matrix, latency_sweep, loaded_latency, qualification, environment.pod,
     environment.noise, interrupted_by; in stats: ci_low, ci_high, ci_confidence,
     ci_rel_halfwidth, bimodal, flags; per measurement: sampling, passes_per_sample,
     warmup_passes, array_offsets_bytes, array_offset_bytes, start_skew_ns, skewed_samples;
     options.sampling, options.array_offset_bytes; the c2c section and, per c2c measurement
     (kernel "c2c"), c2c_mode, initiator_cpu, responder_cpu, initiator_node, responder_node,
     relation, round_trips_per_sample, warmup_round_trips, round_trips_done, responses_done, timeout_s.
     Memory scan (`numabench scan`): kernels scan_read (bytes/s) and scan_latency (ns), one
     measurement per chunk, with details chunk (index in allocation order), physical (the
     chunk's physical ranges from pagemap, host/pagemap.PhysicalRanges), placement_seconds,
     deviation_pct and flagged; a `scan` section (results/scan.py, measure/scan.py); the CSV
     gains a last column, chunk (empty for other kernels).

Every measurement and result is built through `Measurement` and `Result`, and every file is read
through `parse` (via `_LOADERS[version]`): no other module assembles or checks a result dict.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from numabench import __version__
from numabench.errors import ResultError, UsageError
from numabench.util.atomicfile import write_atomic
from numabench.util.docload import parse_json, read_text

SCHEMA_VERSION = 1

# Keys of a measurement with a fixed meaning; every other key is kernel-specific detail
# (loads_per_sample, isa, inject_*, delay, ...) and is kept as it is.
_MEASUREMENT_CORE = ("kernel", "cpu_node", "mem_node", "mem_nodes", "policy", "pages", "size_bytes", "threads",
                     "cpus", "samples", "unit")
_FIGURES = ("latency_ns", "bandwidth_bytes_per_s")
_MEASUREMENT_TAIL = ("stats", "pages_by_node", "placement")
# Keys of a result with a fixed meaning; the rest are optional sections.
_RESULT_CORE = ("schema_version", "numabench_version", "started_unix", "finished_unix", "command", "options",
                "environment", "topology", "notes", "interrupted", "errors", "measurements")

JSON = dict[str, Any]


# --------------------------------------------------------------------------- checking


class _Where:
    """Names the place of a bad value: `run.json: measurement 3: samples[2]`."""

    def __init__(self, name: str):
        self.name = name

    def fail(self, what: str) -> ResultError:
        return ResultError(f"{self.name} {what}", "regenerate it with numabench, or fix the field named")

    def get(self, d: Mapping[str, Any], key: str, kind: str, *, optional: bool = False, default: Any = None) -> Any:
        if key not in d or (optional and d[key] is None):
            if optional:
                return default
            raise self.fail(f"lacks {key}")
        value = d[key]
        if not _is_kind(value, kind):
            raise self.fail(f"field {key} is a {type(value).__name__}, expected {_KIND_WORDS[kind]}")
        return value


_KIND_WORDS = {"int": "an integer", "int?": "an integer or null", "number": "a number", "str": "a string",
               "str?": "a string or null", "bool": "true or false", "object": "an object", "list": "a list",
               "ints": "a list of integers", "numbers": "a list of numbers", "strs": "a list of strings"}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "int?":
        return value is None or _is_kind(value, "int")
    if kind == "number":
        return _is_number(value)
    if kind == "str":
        return isinstance(value, str)
    if kind == "str?":
        return value is None or isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "ints":
        return isinstance(value, list) and all(_is_kind(v, "int") for v in value)
    if kind == "numbers":
        return isinstance(value, list) and all(_is_number(v) for v in value)
    if kind == "strs":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    raise AssertionError(kind)


# --------------------------------------------------------------------------- records


@dataclass
class Measurement:
    """One measured configuration: its spec, raw samples, summary and proof of placement.

    Units are in the names: `size_bytes`, `latency_ns`, `bandwidth_bytes_per_s`; `samples` are in
    `unit` ("ns" or "bytes/s"). `details` holds kernel-specific fields, written at the top level.
    """

    kernel: str
    cpu_node: int
    mem_node: int | None
    mem_nodes: list[int]
    policy: str | None
    pages: str
    size_bytes: int
    threads: int
    cpus: list[int]
    samples: list[float]
    unit: str
    pages_by_node: dict[str, int]
    latency_ns: float | None = None
    bandwidth_bytes_per_s: float | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    placement: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> float | None:
        """The median figure, whichever metric this kernel has."""
        return self.latency_ns if self.latency_ns is not None else self.bandwidth_bytes_per_s

    @property
    def placement_ok(self) -> bool | None:
        return None if self.placement is None else bool(self.placement.get("ok"))

    def to_dict(self) -> JSON:
        out: JSON = {k: getattr(self, k) for k in _MEASUREMENT_CORE}
        for k in _FIGURES:
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        out.update(self.details)
        out["stats"] = self.stats
        out["pages_by_node"] = self.pages_by_node
        if self.placement is not None:
            out["placement"] = self.placement
        return out

    @classmethod
    def from_dict(cls, d: Any, name: str = "measurement") -> Measurement:
        w = _Where(name)
        if not isinstance(d, dict):
            raise w.fail(f"is a {type(d).__name__}, expected an object")
        mem_node = w.get(d, "mem_node", "int?")
        figures = {k: w.get(d, k, "number", optional=True) for k in _FIGURES}
        if all(v is None for v in figures.values()):
            raise w.fail("has neither latency_ns nor bandwidth_bytes_per_s")
        pages_by_node = w.get(d, "pages_by_node", "object")
        if not all(_is_kind(v, "int") for v in pages_by_node.values()):
            raise w.fail("pages_by_node holds a value that is not an integer page count")
        samples = w.get(d, "samples", "numbers")
        return cls(
            kernel=w.get(d, "kernel", "str"),
            cpu_node=w.get(d, "cpu_node", "int"),
            mem_node=mem_node,
            mem_nodes=w.get(d, "mem_nodes", "ints", optional=True,
                            default=[] if mem_node is None else [mem_node]),
            policy=w.get(d, "policy", "str?", optional=True),
            pages=w.get(d, "pages", "str"),
            size_bytes=w.get(d, "size_bytes", "int"),
            threads=w.get(d, "threads", "int"),
            cpus=w.get(d, "cpus", "ints", optional=True, default=[]),
            samples=samples,
            unit=w.get(d, "unit", "str", optional=True,
                       default="ns" if figures["latency_ns"] is not None else "bytes/s"),
            pages_by_node=pages_by_node,
            stats=w.get(d, "stats", "object", optional=True, default={}),
            placement=w.get(d, "placement", "object", optional=True),
            details={k: v for k, v in d.items() if k not in _MEASUREMENT_CORE + _FIGURES + _MEASUREMENT_TAIL},
            **figures,
        )


@dataclass
class Result:
    """A whole run: what was asked, where it ran, every measurement and every failure.

    `sections` holds the optional parts (matrix, qualification, numastat_delta, ...) by name.
    """

    command: list[str]
    options: dict[str, Any]
    environment: dict[str, Any]
    topology: dict[str, Any]
    measurements: list[Measurement] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False
    started_unix: float = 0.0
    finished_unix: float = 0.0
    numabench_version: str = __version__
    schema_version: int = SCHEMA_VERSION
    sections: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> JSON:
        out: JSON = {k: getattr(self, k) for k in _RESULT_CORE if k != "measurements"}
        out["measurements"] = [m.to_dict() for m in self.measurements]
        out.update(self.sections)
        return out

    def to_dataframe(self, per: str = "measurement") -> Any:
        """A pandas DataFrame: one row per measurement (`per="measurement"`) or per sample
        (`per="sample"`, with a `sample` index and `value` in the measurement's unit)."""
        return to_dataframe(self, per)

    @classmethod
    def from_dict(cls, data: Any, name: str = "result") -> Result:
        """Check and type a result document of any supported schema version.

        Raises ResultError naming the file and the problem (wrong type, missing key, unknown version).
        """
        w = _Where(name)
        if not isinstance(data, dict):
            raise ResultError(f"{name}: not a numabench result (top level is not an object)",
                              "pass a JSON file written by numabench run, matrix, loaded or qualify")
        version = data.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool):  # _is_kind(.., "int"), spelled out to narrow
            raise ResultError(f"{name}: no integer schema_version; not a numabench result",
                              "pass a JSON file written by numabench run, matrix, loaded or qualify")
        loader = _LOADERS.get(version)
        if loader is None:
            raise ResultError(
                f"{name}: schema_version {version} is not supported by numabench {__version__} "
                f"(supported: {', '.join(map(str, sorted(_LOADERS)))})",
                "upgrade numabench to read newer results",
            )
        return loader(data, w)


def _from_v1(d: JSON, w: _Where) -> Result:
    measurements = w.get(d, "measurements", "list")
    errors = w.get(d, "errors", "list", optional=True, default=[])
    if not all(isinstance(e, dict) for e in errors):
        raise w.fail("errors holds an entry that is not an object")
    return Result(
        command=w.get(d, "command", "strs", optional=True, default=[]),
        options=w.get(d, "options", "object", optional=True, default={}),
        environment=w.get(d, "environment", "object", optional=True, default={}),
        topology=w.get(d, "topology", "object", optional=True, default={}),
        measurements=[Measurement.from_dict(m, f"{w.name}: measurement {i}") for i, m in enumerate(measurements)],
        errors=errors,
        notes=w.get(d, "notes", "strs", optional=True, default=[]),
        interrupted=w.get(d, "interrupted", "bool", optional=True, default=False),
        started_unix=w.get(d, "started_unix", "number", optional=True, default=0.0),
        finished_unix=w.get(d, "finished_unix", "number", optional=True, default=0.0),
        numabench_version=w.get(d, "numabench_version", "str", optional=True, default="unknown"),
        schema_version=1,
        sections={k: v for k, v in d.items() if k not in _RESULT_CORE},
    )


# schema_version -> loader into today's records (pyperf's _bench.py keeps the same kind of map).
_LOADERS: dict[int, Callable[[JSON, _Where], Result]] = {1: _from_v1}
SUPPORTED_SCHEMA_VERSIONS = tuple(sorted(_LOADERS))


# --------------------------------------------------------------------------- files


def parse(data: Any, name: str = "result") -> Result:
    """The one validator: a decoded JSON document -> Result, or ResultError naming `name`."""
    return Result.from_dict(data, name)


def validate(data: Any, name: str = "result") -> JSON:
    """`parse`, for callers that keep working on the JSON document: returns it unchanged."""
    parse(data, name)
    return data  # type: ignore[no-any-return]


def load(path: str) -> Result:
    """Read, check and type a result file. Raises ResultError with the file's name."""
    text = read_text(path, what="result file", error=ResultError, fix="give the path of a numabench result file")
    data = parse_json(text, path, error=ResultError, fix="it is not a numabench result (numabench run -o writes one)")
    return parse(data, path)


def dumps(result: Result | JSON) -> str:
    doc = result.to_dict() if isinstance(result, Result) else result
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def save(result: Result | JSON, path: str, force: bool = False) -> None:
    """Write atomically (temporary file, then rename). Never overwrites unless force."""
    if os.path.exists(path) and not force:
        raise ResultError(f"{path} already exists", "choose another -o file or pass --force to overwrite it")
    write_atomic(path, dumps(result), fix="choose a writable -o path", exclusive=not force)


def build_result(*, environment: JSON, topology: JSON, command: list[str], options: JSON, notes: list[str],
                 measurements: list[Measurement], errors: list[JSON], interrupted: bool,
                 started: float, finished: float, sections: JSON | None = None) -> Result:
    """The one builder of a Result from a session's parts."""
    return Result(command=list(command), options=options, environment=environment, topology=topology,
                  measurements=list(measurements), errors=list(errors), notes=list(notes), interrupted=interrupted,
                  started_unix=started, finished_unix=finished, sections=dict(sections or {}))


# --------------------------------------------------------------------------- tables


def _row(m: Measurement) -> JSON:
    placement = m.placement or {}
    return {
        "kernel": m.kernel,
        "cpu_node": m.cpu_node,
        "mem_node": m.mem_node,
        "policy": m.policy,
        "pages": m.pages,
        "size_bytes": m.size_bytes,
        "threads": m.threads,
        "latency_ns": m.latency_ns,
        "bandwidth_bytes_per_s": m.bandwidth_bytes_per_s,
        "samples": len(m.samples),
        "cv": m.stats.get("cv"),
        "min": m.stats.get("min"),
        "max": m.stats.get("max"),
        "placement_method": placement.get("method"),
        "placement_ok": placement.get("ok"),
        "pages_by_node": ";".join(f"{k}:{v}" for k, v in m.pages_by_node.items()),
        "chunk": m.details.get("chunk"),  # a memory scan's chunk index
    }


def to_dataframe(result: Result | JSON, per: str = "measurement") -> Any:
    """One row per measurement (spec columns, the median, spread and placement), or per sample.

    Needs pandas (the `report` extra); raises UsageError naming the install otherwise."""
    try:
        import pandas as pd
    except ImportError:
        raise UsageError("a DataFrame needs pandas", "pip install 'numabench[report]'") from None

    typed = result if isinstance(result, Result) else parse(result)
    if per == "measurement":
        return pd.DataFrame([_row(m) for m in typed.measurements])
    if per == "sample":
        rows: list[JSON] = []
        for index, m in enumerate(typed.measurements):
            base = {k: v for k, v in _row(m).items() if k not in ("samples", "cv", "min", "max")}
            rows.extend({"measurement": index, **base, "sample": i, "value": v, "unit": m.unit}
                        for i, v in enumerate(m.samples))
        return pd.DataFrame(rows)
    raise ValueError(f"per must be 'measurement' or 'sample', not {per!r}")


def csv_text(result: Result | JSON) -> str:
    """The CSV form, one row per measurement (the columns of `to_dataframe`), without pandas: a
    pod image carries only the base install."""
    typed = result if isinstance(result, Result) else parse(result)
    rows = [_row(m) for m in typed.measurements]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(_row_fields()), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _row_fields() -> tuple[str, ...]:
    return ("kernel", "cpu_node", "mem_node", "policy", "pages", "size_bytes", "threads", "latency_ns",
            "bandwidth_bytes_per_s", "samples", "cv", "min", "max", "placement_method", "placement_ok",
            "pages_by_node", "chunk")


def save_csv(result: Result | JSON, path: str) -> None:
    write_atomic(path, csv_text(result), fix="choose a writable --csv path")


