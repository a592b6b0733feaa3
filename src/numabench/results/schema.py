"""The result file: schema, version, save/load, CSV.

`schema_version` is an integer independent of the package version: it changes
only when the meaning or shape of the file changes. History:
  1  first version: environment, topology, measurements with samples,
     medians (latency_ns / bandwidth_bytes_per_s) and pages_by_node.
     Optional sections added since, without changing the version (readers
     ignore what they do not know): numastat_delta, matrix, qualification,
     environment.pod, environment.noise, matrix.
"""

from __future__ import annotations

import json
import os

from numabench import __version__
from numabench.util.atomicfile import write_atomic
from numabench.errors import ResultError
from numabench.host.numastat import sum_deltas

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)
REQUIRED_MEASUREMENT_KEYS = ("kernel", "cpu_node", "mem_node", "pages", "size_bytes", "threads", "samples",
                             "pages_by_node")


def build_result(*, environment: dict, topology: dict, command: list[str], options: dict, notes: list[str],
                 outcome, started: float, finished: float) -> dict:
    """Assemble a result document (plain JSON types) from a run's parts."""
    result = {
        "schema_version": SCHEMA_VERSION,
        "numabench_version": __version__,
        "started_unix": started,
        "finished_unix": finished,
        "command": command,
        "options": options,
        "environment": environment,
        "topology": topology,
        "notes": list(notes),
        "interrupted": outcome.interrupted,
        "errors": outcome.errors,
        "measurements": outcome.measurements,
    }
    if outcome.numastat_deltas:
        result["numastat_delta"] = {str(k): v for k, v in sum_deltas(outcome.numastat_deltas).items()}
    return result


def dumps(result: dict) -> str:
    return json.dumps(result, indent=2, sort_keys=False) + "\n"


def save(result: dict, path: str, force: bool = False) -> None:
    """Write atomically (temporary file, then rename). Never overwrites unless force."""
    if os.path.exists(path) and not force:
        raise ResultError(f"{path} already exists", "choose another -o file or pass --force to overwrite it")
    write_atomic(path, dumps(result), fix="choose a writable -o path")


def validate(result, name: str = "result") -> dict:
    """Check shape and version; raise ResultError naming the file and the problem."""
    if not isinstance(result, dict):
        raise ResultError(f"{name}: not a numabench result (top level is not an object)")
    version = result.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ResultError(f"{name}: no integer schema_version; not a numabench result")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ResultError(
            f"{name}: schema_version {version} is not supported by numabench {__version__} "
            f"(supported: {', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))})",
            "upgrade numabench to read newer results",
        )
    measurements = result.get("measurements")
    if not isinstance(measurements, list):
        raise ResultError(f"{name}: 'measurements' is missing or not a list")
    for i, m in enumerate(measurements):
        missing = [k for k in REQUIRED_MEASUREMENT_KEYS if not isinstance(m, dict) or k not in m]
        if missing:
            raise ResultError(f"{name}: measurement {i} lacks {', '.join(missing)}")
        if "latency_ns" not in m and "bandwidth_bytes_per_s" not in m:
            raise ResultError(f"{name}: measurement {i} has neither latency_ns nor bandwidth_bytes_per_s")
    return result


def load(path: str) -> dict:
    """Read and validate a result file."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ResultError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ResultError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return validate(data, path)


def to_dataframe(result: dict):
    """One row per measurement: spec columns, the median, spread and placement."""
    import pandas as pd

    rows = []
    for m in result["measurements"]:
        stats = m.get("stats", {})
        rows.append({
            "kernel": m["kernel"],
            "cpu_node": m["cpu_node"],
            "mem_node": m["mem_node"],
            "policy": m.get("policy"),
            "pages": m["pages"],
            "size_bytes": m["size_bytes"],
            "threads": m["threads"],
            "latency_ns": m.get("latency_ns"),
            "bandwidth_bytes_per_s": m.get("bandwidth_bytes_per_s"),
            "samples": len(m["samples"]),
            "cv": stats.get("cv"),
            "min": stats.get("min"),
            "max": stats.get("max"),
            "placement_method": m.get("placement", {}).get("method"),
            "placement_ok": m.get("placement", {}).get("ok"),
            "pages_by_node": ";".join(f"{k}:{v}" for k, v in m["pages_by_node"].items()),
        })
    return pd.DataFrame(rows)


def save_csv(result: dict, path: str) -> None:
    to_dataframe(result).to_csv(path, index=False)
