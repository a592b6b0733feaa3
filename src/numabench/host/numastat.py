"""Per-node NUMA allocation counters from sysfs (what `numastat` prints).

Each `/sys/devices/system/node/node<N>/numastat` holds system-wide counters, in pages, since boot
(kernel `Documentation/admin-guide/numastat.rst`): numa_hit, numa_miss, numa_foreign,
interleave_hit, local_node, other_node. A delta across a measurement counts every process's
allocations in that time, not only numabench's. node_exporter exports the same counters as
`node_memory_numa_<counter>_total{node="<N>"}` (its meminfo_numa collector).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from numabench.errors import TopologyError
from numabench.util import docload

COUNTERS = ("numa_hit", "numa_miss", "numa_foreign", "interleave_hit", "local_node", "other_node")
_NODE_NAME_RE = re.compile(r"^node(\d+)$")


def parse_numastat(text: str, name: str = "numastat") -> dict[str, int]:
    """``"numa_hit 12\\nnuma_miss 0\\n..."`` -> ``{"numa_hit": 12, ...}`` (every counter in the file).

    Raises TopologyError naming `name` on a line that is not ``<counter> <non-negative integer>``.
    """
    out: dict[str, int] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not (parts[1].isascii() and parts[1].isdigit()):  # "²".isdigit() is True
            raise TopologyError(f"{name}: malformed line {line!r}", "expected '<counter> <count>' lines")
        out[parts[0]] = int(parts[1])
    return out


def read_numastat(sysfs_root: str = "/sys") -> dict[int, dict[str, int]]:
    """``{node id: {counter: pages}}`` for every node under ``<sysfs_root>/devices/system/node``.

    Returns {} when the kernel has no NUMA sysfs (CONFIG_NUMA off): there is nothing to count.
    Raises TopologyError when a node's numastat file is unreadable or malformed.
    """
    node_dir = os.path.join(sysfs_root, "devices/system/node")
    try:
        names = os.listdir(node_dir)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise TopologyError(f"cannot list {node_dir}: {exc.strerror}") from None
    out: dict[int, dict[str, int]] = {}
    for name in names:
        m = _NODE_NAME_RE.match(name)
        if not m:
            continue
        path = os.path.join(node_dir, name, "numastat")
        text = docload.read_bytes(path, what="numastat", error=TopologyError).decode("ascii", errors="replace")
        out[int(m.group(1))] = parse_numastat(text, path)
    return dict(sorted(out.items()))


def delta(before: Mapping[Any, Mapping[str, int]],
          after: Mapping[Any, Mapping[str, int]]) -> dict[int, dict[str, int]]:
    """``after - before`` per node and counter, for the nodes and counters present in both.

    Keys may be ints or strings (as read back from JSON); the result's node keys are ints.
    """
    b = {int(k): v for k, v in before.items()}
    a = {int(k): v for k, v in after.items()}
    return {node: {c: a[node][c] - b[node][c] for c in a[node] if c in b[node]} for node in sorted(a) if node in b}


def sum_deltas(deltas: Iterable[Mapping[Any, Mapping[str, int]]]) -> dict[int, dict[str, int]]:
    """The per-node, per-counter sum of several deltas (e.g. one per measured spec)."""
    out: dict[int, dict[str, int]] = {}
    for d in deltas:
        for node, counters in d.items():
            into = out.setdefault(int(node), {})
            for c, v in counters.items():
                into[c] = into.get(c, 0) + v
    return dict(sorted(out.items()))
