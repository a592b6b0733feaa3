"""Writes the synthetic inputs under tests/data/qualify (committed; this script documents them).

Run from anywhere: ``python tests/data/qualify/make_data.py``.

- ``two-node-result.json``: a `numabench matrix`-shaped result (schema 1) on the captured
  ``trees/two-socket-smt`` topology (2 nodes, distance 21; node 0 has 1024 2 MiB pages, node 1 512)
  with known medians: latency 0->0 90 ns, 0->1 180, 1->0 190, 1->1 95; read bandwidth 0->0 100 GB/s,
  0->1 40, 1->0 38, 1->1 92. So: worst local latency 95 ns, worst remote/local ratio 2.0 (both rows),
  worst local bandwidth 92 GB/s, symmetry 8.70% (bandwidth; latency 5.56%).
- ``numastat/sys/devices/system/node/node{0,1}/numastat``: node0 is a capture of this project's
  machine; node1 is written here with other counts.

The golden outputs (``fail.qualification.json``, ``fail.junit.xml``) are what
``numabench qualify fail.yaml --from two-node-result.json`` wrote, checked by hand against the
figures above.
"""

from __future__ import annotations

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "src"))

from numabench.host.topology import read_topology_tree

LATENCY_NS = {(0, 0): 90.0, (0, 1): 180.0, (1, 0): 190.0, (1, 1): 95.0}
READ_BYTES_PER_S = {(0, 0): 100e9, (0, 1): 40e9, (1, 0): 38e9, (1, 1): 92e9}
NUMASTAT_NODE1 = {"numa_hit": 5120, "numa_miss": 7, "numa_foreign": 3, "interleave_hit": 11,
                  "local_node": 5000, "other_node": 127}


def measurement(kernel: str, cpu: int, mem: int, value: float, cpus: list[int]) -> dict:
    key = "latency_ns" if kernel == "latency" else "bandwidth_bytes_per_s"
    pages = 16384
    return {
        "kernel": kernel, "cpu_node": cpu, "mem_node": mem, "mem_nodes": [mem], "policy": "bind", "pages": "4k",
        "size_bytes": 64 << 20, "threads": len(cpus), "cpus": cpus,
        "samples": [value * 0.99, value, value * 1.01], "unit": "ns" if kernel == "latency" else "bytes/s",
        key: value,
        "stats": {"n": 3, "median": value, "mean": value, "min": value * 0.99, "max": value * 1.01,
                  "stdev": value * 0.01, "cv": 0.01},
        "pages_by_node": {str(mem): pages},
        "placement": {"method": "mbind", "verified_by": "move_pages", "target_nodes": [mem],
                      "pages_by_node": {str(mem): pages}, "fraction_on_target": 1.0, "ok": True},
    }


def main() -> None:
    topo = read_topology_tree(os.path.join(HERE, "..", "trees", "two-socket-smt"))
    measurements = []
    for (cpu, mem), v in LATENCY_NS.items():
        measurements.append(measurement("latency", cpu, mem, v, [topo.node(cpu).cpus[0]]))
        measurements.append(measurement("read", cpu, mem, READ_BYTES_PER_S[(cpu, mem)], list(topo.node(cpu).cpus)))
    grid = {str(r): {str(c): None for c in (0, 1)} for r in (0, 1)}
    latency = json.loads(json.dumps(grid))
    bandwidth = json.loads(json.dumps(grid))
    for (r, c), v in LATENCY_NS.items():
        latency[str(r)][str(c)] = v
        bandwidth[str(r)][str(c)] = READ_BYTES_PER_S[(r, c)]
    result = {
        "schema_version": 1, "numabench_version": "0.1.0", "started_unix": 1700000000.0,
        "finished_unix": 1700000100.0, "command": ["numabench", "matrix", "--size", "64M"],
        "options": {"kind": "both", "pages": "4k", "size_bytes": 64 << 20, "threads": None, "repeat": 3},
        "environment": {"hostname": "gold-1", "kernel_release": "6.1.0-test", "cpu_model": "Synthetic CPU",
                        "thp_enabled": "madvise", "cpuset": None},
        "topology": {**topo.to_dict(), "source": "tests/data/trees/two-socket-smt"}, "notes": [], "interrupted": False, "errors": [],
        "measurements": measurements,
        "matrix": {
            "rows": [0, 1], "columns": [0, 1], "memory_only": [],
            "distances": {str(r): {str(c): topo.distance(r, c) for c in (0, 1)} for r in (0, 1)},
            "status": {str(r): {str(c): "measured" for c in (0, 1)} for r in (0, 1)},
            "latency_ns": latency,
            "latency_ratio_to_local": {str(r): {str(c): latency[str(r)][str(c)] / latency[str(r)][str(r)]
                                                for c in (0, 1)} for r in (0, 1)},
            "bandwidth_bytes_per_s": bandwidth,
            "bandwidth_ratio_to_local": {str(r): {str(c): bandwidth[str(r)][str(c)] / bandwidth[str(r)][str(r)]
                                                  for c in (0, 1)} for r in (0, 1)},
        },
    }
    with open(os.path.join(HERE, "two-node-result.json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    node1 = os.path.join(HERE, "numastat", "sys", "devices", "system", "node", "node1")
    os.makedirs(node1, exist_ok=True)
    with open(os.path.join(node1, "numastat"), "w") as f:
        f.write("".join(f"{k} {v}\n" for k, v in NUMASTAT_NODE1.items()))


if __name__ == "__main__":
    main()
