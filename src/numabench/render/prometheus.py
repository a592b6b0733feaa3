"""A result as a node_exporter textfile-collector file (Prometheus text exposition format 0.0.4).

node_exporter's textfile collector reads ``*.prom`` files from its ``--collector.textfile.directory``;
a file must be written whole and renamed into place (or the collector may read half a file), must
carry no client-side timestamps (the whole file is rejected), and every metric family must be one
contiguous group with at most one HELP and TYPE line. Units are base units: seconds and bytes.

Families (all gauges; `node` is the host name, as in Kubernetes; NUMA nodes are `cpu_node`,
`mem_node`, `inject_node`, `numa_node`):

    numabench_latency_seconds{node,kernel,cpu_node,mem_node,policy,page_size,size_bytes,threads}
    numabench_bandwidth_bytes_per_second{node,kernel,cpu_node,mem_node,policy,page_size,size_bytes,threads}
    numabench_loaded_latency_seconds{node,cpu_node,mem_node,inject_node,inject_kind,page_size,size_bytes,threads,delay}
    numabench_loaded_inject_bandwidth_bytes_per_second{...same labels...}
    numabench_sweep_saturation_bytes_per_second{node,kernel,cpu_node,mem_node,policy,page_size,size_bytes,threads}
                                                       a thread sweep's largest median; threads where it was
    numabench_c2c_latency_seconds{node,mode,initiator_cpu,responder_cpu,initiator_node,responder_node,line_node,relation}
    numabench_scan_chunk_bandwidth_bytes_per_second{node,cpu_node,mem_node,page_size,chunk_bytes,threads,chunk}
    numabench_scan_chunk_latency_seconds{...same labels...}
    numabench_scan_slowest_chunk_shortfall_percent{node,mem_node,kernel}   the qualify check's figure
    numabench_numastat_delta_pages{node,numa_node,counter}
    numabench_qualification_check{node,check,status}   1 per check; status pass|fail|skipped
    numabench_qualification_passed{node}               1 when no check failed, else 0
    numabench_run_info{node,command,numabench_version,schema_version,kernel_release}   1
    numabench_run_finished_timestamp_seconds{node}
"""

from __future__ import annotations

import math
import os

from numabench.constants import SCAN_LATENCY
from numabench.errors import UsageError
from numabench.results.scan import SCAN_KERNELS, scan_groups, slowest_chunk
from numabench.util.atomicfile import write_atomic

_FAMILIES = {
    "numabench_latency_seconds": "Idle memory latency (median of samples), seconds per dependent load.",
    "numabench_bandwidth_bytes_per_second":
        "Memory bandwidth (median of samples), bytes per second, STREAM counting (no write-allocate).",
    "numabench_loaded_latency_seconds": "Chase latency (median) while injector threads load memory, seconds.",
    "numabench_loaded_inject_bandwidth_bytes_per_second":
        "Bandwidth the injector threads moved during a loaded-latency point, bytes per second.",
    "numabench_sweep_saturation_bytes_per_second":
        "Bandwidth vs threads: the largest median over a sweep's thread counts (threads label: where), bytes/s.",
    "numabench_c2c_latency_seconds":
        "Cache-to-cache transfer latency (median one-way), seconds; the initiator reads the responder's line.",
    "numabench_scan_chunk_bandwidth_bytes_per_second":
        "Read bandwidth (median) of one chunk of a memory scan, bytes per second, STREAM counting.",
    "numabench_scan_chunk_latency_seconds": "Pointer-chase latency (median) of one chunk of a memory scan, seconds.",
    "numabench_scan_slowest_chunk_shortfall_percent":
        "How much worse than the node's median the scan's worst chunk is, in percent (0: no chunk is worse).",
    "numabench_numastat_delta_pages":
        "Change of /sys/devices/system/node/node<N>/numastat counters across the run, in pages (system-wide).",
    "numabench_qualification_check": "One series per qualification check, its status in the status label; value 1.",
    "numabench_qualification_passed": "1 when no qualification check failed, else 0.",
    "numabench_run_info": "The run that wrote this file; value 1.",
    "numabench_run_finished_timestamp_seconds": "When the run finished, seconds since the Unix epoch.",
}


def _escape(value) -> str:
    """A label value as the exposition format wants it: backslash, double quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _number(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _mem_node(m: dict) -> str:
    if m.get("mem_node") is not None:
        return str(m["mem_node"])
    return ",".join(str(n) for n in m.get("mem_nodes", []))


def _spec_labels(m: dict) -> dict:
    return {"cpu_node": m["cpu_node"], "mem_node": _mem_node(m), "policy": m.get("policy", "bind"),
            "page_size": m["pages"], "size_bytes": m["size_bytes"], "threads": m["threads"]}


def _sweep_saturation(result: dict, host: str, families: dict) -> None:
    """One series per thread-sweep curve (run --threads 1,2,4 / --threads-sweep): its saturation."""
    from numabench.analysis.sweep import sweep_curves

    for c in sweep_curves(result.get("measurements", [])):
        top = c.saturation
        labels = {"node": host, "kernel": c.kernel, "cpu_node": c.cpu_node, "mem_node": ",".join(map(str, c.mem_nodes)),
                  "policy": c.policy or "bind", "page_size": c.pages, "size_bytes": c.size_bytes,
                  "threads": top.threads}
        families["numabench_sweep_saturation_bytes_per_second"].append((labels, top.bandwidth_bytes_per_s))


def textfile(result: dict, numastat_delta: dict | None = None) -> str:
    """The textfile-collector text for a result document (and a numastat delta, if given).

    Medians are converted to base units: `latency_ns` / 1e9 -> seconds (a division, so 180 ns gives
    exactly 1.8e-07), `bandwidth_bytes_per_s` as is. A result's `qualification` section, if present,
    adds the check families. Series whose labels repeat (the same spec measured twice) keep the
    first value; each repeat is listed in a comment line, since the collector rejects a file with
    duplicate series.
    """
    host = (result.get("environment") or {}).get("hostname") or ""
    families: dict[str, list[tuple[dict, object]]] = {name: [] for name in _FAMILIES}
    for m in result.get("measurements", []):
        kernel = m.get("kernel")
        if kernel == "loaded_latency":
            labels = {"node": host, "cpu_node": m["cpu_node"], "mem_node": _mem_node(m),
                      "inject_node": m.get("inject_node"), "inject_kind": m.get("inject_kind"),
                      "page_size": m["pages"], "size_bytes": m["size_bytes"], "threads": m["threads"],
                      "delay": m.get("delay")}
            families["numabench_loaded_latency_seconds"].append((labels, m["latency_ns"] / 1e9))
            if m.get("inject_bandwidth_bytes_per_s") is not None:
                families["numabench_loaded_inject_bandwidth_bytes_per_second"].append(
                    (labels, m["inject_bandwidth_bytes_per_s"]))
        elif kernel == "c2c":
            families["numabench_c2c_latency_seconds"].append(({
                "node": host, "mode": m.get("c2c_mode"), "initiator_cpu": m.get("initiator_cpu"),
                "responder_cpu": m.get("responder_cpu"), "initiator_node": m.get("initiator_node"),
                "responder_node": m.get("responder_node"), "line_node": _mem_node(m), "relation": m.get("relation")},
                m["latency_ns"] / 1e9))
        elif kernel in SCAN_KERNELS:
            _scan_sample(families, host, m)
        elif m.get("latency_ns") is not None:
            families["numabench_latency_seconds"].append(
                ({"node": host, "kernel": kernel, **_spec_labels(m)}, m["latency_ns"] / 1e9))
        elif m.get("bandwidth_bytes_per_s") is not None:
            families["numabench_bandwidth_bytes_per_second"].append(
                ({"node": host, "kernel": kernel, **_spec_labels(m)}, m["bandwidth_bytes_per_s"]))
    _sweep_saturation(result, host, families)
    for (mem_node, kernel), values in sorted(scan_groups(result.get("measurements", [])).items()):
        worst = slowest_chunk(values, kernel)
        if worst is not None:
            families["numabench_scan_slowest_chunk_shortfall_percent"].append(
                ({"node": host, "mem_node": mem_node, "kernel": kernel}, max(0.0, worst.shortfall_pct)))
    for numa_node, counters in sorted((numastat_delta or {}).items(), key=lambda kv: int(kv[0])):
        for counter, value in counters.items():
            families["numabench_numastat_delta_pages"].append(
                ({"node": host, "numa_node": numa_node, "counter": counter}, value))
    qualification = result.get("qualification")
    if qualification:
        for check in qualification["checks"]:
            families["numabench_qualification_check"].append(
                ({"node": host, "check": check["check"], "status": check["status"]}, 1))
        families["numabench_qualification_passed"].append(({"node": host}, qualification["verdict"] == "pass"))
    command = result.get("command") or []
    families["numabench_run_info"].append(({
        "node": host, "command": command[1] if len(command) > 1 else "",
        "numabench_version": result.get("numabench_version", ""), "schema_version": result.get("schema_version", ""),
        "kernel_release": (result.get("environment") or {}).get("kernel_release") or ""}, 1))
    if result.get("finished_unix") is not None:
        families["numabench_run_finished_timestamp_seconds"].append(({"node": host}, result["finished_unix"]))

    lines: list[str] = []
    for name, samples in families.items():
        if not samples:
            continue
        lines.append(f"# HELP {name} {_FAMILIES[name]}")
        lines.append(f"# TYPE {name} gauge")
        seen = set()
        for labels, value in samples:
            text = ",".join(f'{k}="{_escape("" if v is None else v)}"' for k, v in labels.items())
            if text in seen:
                lines.append(f"# numabench: duplicate series {name}{{{text}}} not written (first value kept)")
                continue
            seen.add(text)
            lines.append(f"{name}{{{text}}} {_number(value)}")
    return "\n".join(lines) + "\n"


def _scan_sample(families: dict, host: str, m: dict) -> None:
    """One chunk of a memory scan: its own series, labelled by chunk (the generic families would
    see every chunk as the same spec)."""
    labels = {"node": host, "cpu_node": m["cpu_node"], "mem_node": _mem_node(m), "page_size": m["pages"],
              "chunk_bytes": m["size_bytes"], "threads": m["threads"], "chunk": m.get("chunk")}
    if m["kernel"] == SCAN_LATENCY and m.get("latency_ns") is not None:
        families["numabench_scan_chunk_latency_seconds"].append((labels, m["latency_ns"] / 1e9))
    elif m.get("bandwidth_bytes_per_s") is not None:
        families["numabench_scan_chunk_bandwidth_bytes_per_second"].append((labels, m["bandwidth_bytes_per_s"]))


def check_textfile_path(path: str) -> None:
    """Refuse, before anything is measured, a path the textfile collector would not read or we cannot write.

    Raises UsageError: the name does not end in .prom, or its directory is missing or not writable.
    """
    if not path.endswith(".prom"):
        raise UsageError(f"--prometheus {path}: node_exporter's textfile collector reads only *.prom files",
                         f"name it e.g. {os.path.splitext(path)[0] or 'numabench'}.prom")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"--prometheus {path}: directory {directory} does not exist",
                         "give the collector's --collector.textfile.directory")
    if not os.access(directory, os.W_OK):
        raise UsageError(f"--prometheus {path}: directory {directory} is not writable",
                         "run as a user that may write there, or choose another directory")


def write_textfile(path: str, text: str) -> None:
    """Write `text` to `path` atomically: a temporary file in the same directory, then rename.

    The temporary name does not end in .prom, so the collector never reads a half-written file;
    the file is made world-readable (0644) since node_exporter often runs as another user.
    Raises UsageError when the directory cannot be written.
    """
    write_atomic(path, text, fix="choose a writable --prometheus path", error_type=UsageError, fsync=True)


def write_result(path: str, result: dict) -> None:
    """`write_textfile(path, textfile(result, result.get("numastat_delta")))`: the one call a command needs."""
    write_textfile(path, textfile(result, result.get("numastat_delta")))
