"""What alignment is worth: a pod result set's variants side by side, with the evidence per pod.

``compare_pods(result_set)`` computes (data only); ``format_text`` / ``format_markdown`` render.

Cells: one per measured cell: (kernel, page kind, buffer size, threads, CPU node, memory node(s),
policy). A variant's figure for a cell is the median of its raw samples pooled over its repetitions
(never over different cells: a variant run with ``--mem-node 0,1`` has a local and a remote cell)
(``latency_ns`` for ``latency``, ``bandwidth_bytes_per_s`` for the bandwidth kernels). The ratio
is variant / baseline of those medians, so a latency ratio above 1 or a bandwidth ratio below 1
means the variant is slower than the baseline. Variants
differ in placement by design, so a variant's cell is set against every baseline cell of the same
(kernel, page kind, size); each row names both placements (``cpu->mem``).

Confidence interval: a two-level bootstrap, seeded (numpy ``default_rng(seed)``): each round
resamples the repetitions (pods) with replacement, then the samples within each, for both sides,
and takes the ratio of the pooled medians; the interval is the 2.5th and 97.5th percentiles of
``rounds`` rounds. With one repetition per side it resamples samples only, and says so: the spread
between pods is then unknown.

Fleet result sets are compared per node (the node each pod really ran on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from numabench.results.podset import PodResultSet, PodRun
from numabench.util.cpulist import format_cpulist
from numabench.util.units import format_size

__all__ = ["DEFAULT_ROUNDS", "Cell", "bootstrap_ratio", "compare_pods", "format_markdown", "format_text"]

DEFAULT_ROUNDS = 2000
DEFAULT_SEED = 1


def _metric(m: dict[str, Any]) -> str:
    return "latency_ns" if "latency_ns" in m else "bandwidth_bytes_per_s"


@dataclass(frozen=True)
class Cell:
    """What one measurement measured, and where. ``workload`` is what a baseline and a variant
    share; ``placement`` is where they may differ."""

    kernel: str
    pages: str
    size_bytes: int
    threads: int | None
    cpu_node: int | None
    mem_nodes: tuple[int, ...]
    policy: str | None

    @classmethod
    def of(cls, m: dict[str, Any]) -> Cell:
        mem_nodes = m.get("mem_nodes")
        if mem_nodes is None:
            mem_nodes = [] if m.get("mem_node") is None else [m["mem_node"]]
        return cls(m["kernel"], m["pages"], m["size_bytes"], m.get("threads"), m.get("cpu_node"),
                   tuple(int(n) for n in mem_nodes), m.get("policy"))

    def sort_key(self) -> tuple:
        return (self.kernel, self.pages, self.size_bytes, self.threads or 0,
                -1 if self.cpu_node is None else self.cpu_node, self.mem_nodes, self.policy or "")

    @property
    def workload(self) -> tuple[str, str, int]:
        return (self.kernel, self.pages, self.size_bytes)

    @property
    def placement(self) -> str:
        """``cpu->mem`` (``0->1``; ``0->0,1 interleave`` when the policy is not bind)."""
        cpu = "?" if self.cpu_node is None else str(self.cpu_node)
        where = f"{cpu}->{format_cpulist(self.mem_nodes) or '?'}"
        return where if self.policy in (None, "bind") else f"{where} {self.policy}"


def _cells(runs: list[PodRun]) -> dict[Cell, dict[str, Any]]:
    """Cell -> {"metric", "samples": [array per pod]}."""
    out: dict[Cell, dict[str, Any]] = {}
    for r in runs:
        per_pod: dict[Cell, list[float]] = {}
        for m in (r.result or {}).get("measurements", []):  # runs with a result only (_compare_group)
            key = Cell.of(m)
            out.setdefault(key, {"metric": _metric(m), "samples": []})
            per_pod.setdefault(key, []).extend(float(x) for x in m["samples"])
        for key, samples in per_pod.items():
            out[key]["samples"].append(np.asarray(samples, dtype=np.float64))
    return out


def _pooled_median(groups: list[np.ndarray]) -> float:
    return float(np.median(np.concatenate(groups)))


def bootstrap_ratio(base: list[np.ndarray], other: list[np.ndarray], rounds: int = DEFAULT_ROUNDS,
                    seed: int = DEFAULT_SEED) -> tuple[float, float]:
    """(low, high) 95% interval of median(other) / median(base) by the two-level bootstrap above.

    Raises:
        ValueError: a side without samples.
    """
    if not base or not other or any(g.size == 0 for g in base + other):
        raise ValueError("each side needs at least one pod with samples")
    rng = np.random.default_rng(seed)

    def resample(groups: list[np.ndarray]) -> np.ndarray:
        picks = rng.integers(0, len(groups), size=len(groups))
        return np.concatenate([rng.choice(groups[i], size=groups[i].size, replace=True) for i in picks])

    ratios = np.empty(rounds)
    for i in range(rounds):
        b = np.median(resample(base))
        ratios[i] = np.median(resample(other)) / b if b else np.nan
    low, high = np.nanpercentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def _evidence(r: PodRun) -> dict[str, Any]:
    res = r.result or {}
    pod = (res.get("environment") or {}).get("pod") or {}
    pages: dict[str, int] = {}
    methods = set()
    for m in res.get("measurements", []):
        for node, count in (m.get("pages_by_node") or {}).items():
            pages[str(node)] = pages.get(str(node), 0) + int(count)
        if m.get("placement", {}).get("method"):
            methods.add(m["placement"]["method"])
    cpus = pod.get("cpus")
    mems = pod.get("mems")
    planned = r.planned or {}
    return {
        "variant": r.variant, "repetition": r.repetition, "node": r.node, "pod": r.pod,
        "status": r.status, "reason": r.reason, "message": r.message,
        "qos_class": r.qos_class, "qos_expected": r.qos_expected, "qos_ok": r.qos_ok,
        "verdict": r.verdict, "verdict_expected": r.verdict_expected, "verdict_ok": r.verdict_ok,
        "verdict_reason": pod.get("reason"),
        "cpuset_cpus": None if cpus is None else format_cpulist(cpus),
        "cpuset_mems": None if mems is None else format_cpulist(mems),
        "cpu_nodes": pod.get("cpu_nodes"),
        "planned_cpus": planned.get("cpuset_cpus"), "planned_mems": planned.get("cpuset_mems"),
        "cpuset_as_planned": (None if not planned or cpus is None or mems is None
                              else (planned.get("cpus") == list(cpus) and planned.get("mems") == list(mems))),
        "pages_by_node": dict(sorted(pages.items())), "placement_methods": sorted(methods),
        "restarts": r.restarts, "exit_code": r.exit_code, "result_error": r.result_error,
    }


def _row(b_cell: Cell, b: dict[str, Any], o_cell: Cell, o: dict[str, Any], rounds: int, seed: int) -> dict[str, Any]:
    bm, om = _pooled_median(b["samples"]), _pooled_median(o["samples"])
    low, high = bootstrap_ratio(b["samples"], o["samples"], rounds, seed)
    row = {"kernel": b_cell.kernel, "pages": b_cell.pages, "size_bytes": b_cell.size_bytes, "metric": b["metric"],
           "baseline_cell": _cell_dict(b_cell), "variant_cell": _cell_dict(o_cell),
           "baseline": bm, "variant": om, "ratio": om / bm if bm else None, "ci95": [low, high],
           "pods": [len(b["samples"]), len(o["samples"])],
           "threads": [[] if b_cell.threads is None else [b_cell.threads],
                       [] if o_cell.threads is None else [o_cell.threads]]}
    if row["threads"][0] != row["threads"][1] and row["metric"] != "latency_ns":
        row["note"] = "different thread counts: the bandwidths are not like for like (fix --threads)"
    return row


def _cell_dict(c: Cell) -> dict[str, Any]:
    return {"cpu_node": c.cpu_node, "mem_nodes": list(c.mem_nodes), "policy": c.policy, "threads": c.threads}


def _compare_group(runs: list[PodRun], variants: list[str], baseline: str, rounds: int,
                   seed: int) -> dict[str, Any]:
    ok = [r for r in runs if r.result is not None]
    by_variant = {v: _cells([r for r in ok if r.variant == v]) for v in variants}
    pods = {v: sum(1 for r in ok if r.variant == v) for v in variants}
    base_cells = by_variant.get(baseline, {})
    comparisons = []
    notes = []
    for v in variants:
        if v == baseline:
            continue
        rows = [_row(bc, base_cells[bc], oc, by_variant[v][oc], rounds, seed)
                for bc in sorted(base_cells, key=Cell.sort_key) for oc in sorted(by_variant[v], key=Cell.sort_key)
                if bc.workload == oc.workload]
        if not rows:
            notes.append(f"{v}: no cell measured by both {v} and {baseline}")
        elif min(pods[v], pods[baseline]) < 2:
            notes.append(f"{v} vs {baseline}: one pod on a side; the interval covers sample noise only")
        comparisons.append({"variant": v, "baseline": baseline, "cells": rows})
    return {"pods_with_results": pods, "comparisons": comparisons, "notes": notes}


def _run_notes(runs: list[PodRun]) -> list[str]:
    notes = []
    for r in runs:
        if r.status == "ok":
            continue
        where = f" on {r.node_target}" if r.node_target else ""
        detail = r.message or r.result_error or ""
        notes.append(f"{r.variant} r{r.repetition}{where}: {r.status}: {r.reason}: {detail}".rstrip(": "))
    for r in runs:
        if r.qos_ok is False:
            notes.append(f"{r.variant} r{r.repetition}: QoS {r.qos_class} but the spec gives {r.qos_expected}")
        if r.verdict_ok is False:
            notes.append(f"{r.variant} r{r.repetition}: verdict {r.verdict}, expected "
                         f"{r.verdict_expected}: the pod was not placed as the variant intends")
    return notes


def compare_pods(result_set: PodResultSet | dict[str, Any], rounds: int = DEFAULT_ROUNDS,
                 seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """The comparison as data: per node group (``"all"`` unless fleet), each non-baseline variant's
    cells against the baseline's, and the evidence of every pod. A dict is read as a pod result set
    file's content (``PodResultSet.from_dict``; raises ResultError when it is not one)."""
    if not isinstance(result_set, PodResultSet):
        result_set = PodResultSet.from_dict(result_set)
    exp = result_set.experiment
    variants = [v["name"] for v in exp["variants"]]
    baseline = exp.get("baseline") or variants[0]
    runs = result_set.runs
    fleet = exp.get("fleet") is not None
    groups: dict[str, list[PodRun]] = {}
    for r in runs:
        key = (r.node or r.node_target or "unknown") if fleet else "all"
        groups.setdefault(key, []).append(r)
    return {
        "experiment": exp.get("name"), "backend": result_set.backend, "run_id": result_set.run_id,
        "baseline": baseline, "variants": variants, "interrupted": result_set.interrupted,
        "bootstrap": {"rounds": rounds, "seed": seed, "level": "pods, then samples", "interval": 0.95},
        "groups": {node: _compare_group(rs, variants, baseline, rounds, seed) for node, rs in sorted(groups.items())},
        "evidence": [_evidence(r) for r in runs],
        "notes": _run_notes(runs),
    }


# --------------------------------------------------------------------------- rendering


def _fmt_value(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.1f} ns" if metric == "latency_ns" else f"{v / 1e9:.2f} GB/s"


def _table_rows(cmp: dict[str, Any]):
    for node, group in cmp["groups"].items():
        for c in group["comparisons"]:
            for row in c["cells"]:
                low, high = row["ci95"]
                cells = f"{_placement(row['baseline_cell'])} vs {_placement(row['variant_cell'])}"
                yield (node, c["variant"], row["kernel"], row["pages"], format_size(row["size_bytes"]), cells,
                       _fmt_value(row["metric"], row["baseline"]), _fmt_value(row["metric"], row["variant"]),
                       "-" if row["ratio"] is None else f"{row['ratio']:.3f}", f"[{low:.3f}, {high:.3f}]")


def _evidence_rows(cmp: dict[str, Any]):
    for e in cmp["evidence"]:
        verdict = e["verdict"] or "-"
        if e["verdict_ok"] is False:
            verdict += f" (expected {e['verdict_expected']})"
        qos = e["qos_class"] or "-"
        if e["qos_ok"] is False:
            qos += f" (spec: {e['qos_expected']})"
        pages = ", ".join(f"{k}:{v}" for k, v in e["pages_by_node"].items()) or "-"
        status = e["status"] + (f" ({e['reason']})" if e["reason"] else "")
        cpus = e["cpuset_cpus"] or "-"
        if e["cpuset_as_planned"] is False:
            cpus += f" (planned {e['planned_cpus']}/{e['planned_mems']})"
        yield (e["variant"], f"r{e['repetition']}", e["node"] or "-", status, qos, verdict, cpus,
               e["cpuset_mems"] or "-", pages)


def _placement(cell: dict[str, Any]) -> str:
    return Cell("", "", 0, cell["threads"], cell["cpu_node"], tuple(cell["mem_nodes"]), cell["policy"]).placement


_HEAD = ("node", "variant", "kernel", "pages", "size", "cpu->mem", "baseline", "variant value", "ratio", "95% CI")
_EV_HEAD = ("variant", "rep", "node", "status", "QoS", "verdict", "cpuset.cpus", "cpuset.mems", "pages by node")


def _text_table(head, rows) -> list[str]:
    rows = [tuple(map(str, r)) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return out


def format_text(cmp: dict[str, Any]) -> str:
    """The comparison and the evidence as aligned text tables."""
    lines = [f"experiment {cmp['experiment']} ({cmp['backend']}, run {cmp['run_id']}): baseline {cmp['baseline']}"
             + ("; INTERRUPTED" if cmp["interrupted"] else "")]
    rows = list(_table_rows(cmp))
    lines += _text_table(_HEAD, rows) if rows else ["no cell measured by the baseline and another variant"]
    lines.append("")
    lines.append("alignment evidence per pod:")
    lines += _text_table(_EV_HEAD, list(_evidence_rows(cmp)))
    for g in cmp["groups"].values():
        lines += [f"note: {n}" for n in g["notes"]]
    lines += [f"note: {n}" for n in cmp["notes"]]
    return "\n".join(lines)


def _md_table(head, rows) -> list[str]:
    def cell(x) -> str:
        return str(x).replace("|", "\\|")

    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return out


def format_markdown(cmp: dict[str, Any]) -> str:
    """The comparison and the evidence as Markdown tables."""
    intro = (f"Backend {cmp['backend']}, run {cmp['run_id']}, baseline **{cmp['baseline']}**. Ratio = variant / "
             "baseline (latency above 1 or bandwidth below 1: slower than the baseline); 95% interval from a "
             f"seeded two-level bootstrap ({cmp['bootstrap']['rounds']} rounds, seed {cmp['bootstrap']['seed']}).")
    lines = [f"# {cmp['experiment']}: what NUMA alignment is worth", "", intro]
    if cmp["interrupted"]:
        lines += ["", "**The run was interrupted: some pods are missing.**"]
    lines += ["", "## Latency and bandwidth", ""]
    rows = list(_table_rows(cmp))
    lines += _md_table(_HEAD, rows) if rows else ["No cell was measured by the baseline and another variant."]
    lines += ["", "## Alignment evidence per pod", ""]
    lines += _md_table(_EV_HEAD, list(_evidence_rows(cmp)))
    notes = [n for g in cmp["groups"].values() for n in g["notes"]] + cmp["notes"]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
