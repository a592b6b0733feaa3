"""The public Python API: a small face over the private modules (psutil's `__init__` is the model).

    >>> import numabench
    >>> topo = numabench.topology()
    >>> result = numabench.run(kernels=["latency", "read"], size="256M", repeat=3)
    >>> result.to_dataframe()[["kernel", "latency_ns", "bandwidth_bytes_per_s", "cv"]]
    >>> numabench.compare(numabench.load("baseline.json"), result)["verdict"]

Everything here is re-exported by `numabench`; every other module is private and may change.
(`run_specs`, not `measure`: `numabench.measure` is the name of the private measuring package.)
Errors are `numabench.NumabenchError` subclasses whose message names the fix.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from numabench.constants import DEFAULT_KERNELS, DEFAULT_REPEAT
from numabench.host.cgroups import read_process_cpuset
from numabench.host.topology import Topology, read_topology
from numabench.measure.spec import RunOptions, Spec, plan_run
from numabench.results.schema import Result
from numabench.results.schema import load as _load
from numabench.util.units import parse_size


def topology(sysfs_root: str = "/sys", procfs_root: str = "/proc") -> Topology:
    """The machine's NUMA topology (nodes, CPUs, memory, distances, hugepage pools) from sysfs.

    `sysfs_root` may point at a captured tree (`numabench topology --capture`). Raises TopologyError."""
    return read_topology(sysfs_root, procfs_root)


def plan(*, cpu_node: int | Sequence[int] | None = None, mem_node: int | Sequence[int] | None = None,
         pages: str | Sequence[str] | None = None, size: int | str = "1G",
         kernels: Sequence[str] = DEFAULT_KERNELS, threads: int | None = None, repeat: int = DEFAULT_REPEAT,
         policy: str = "bind") -> list[Spec]:
    """The checked specs `run` would measure, with `numabench run`'s defaults and refusals.

    `size` is bytes or text with a binary suffix ("1G"). Raises UsageError, CpusetError,
    HugepageError or InsufficientMemoryError (message names the fix) before any memory is touched."""
    options = RunOptions(cpu_nodes=_ints(cpu_node), mem_nodes=_ints(mem_node),
                         pages=[pages] if isinstance(pages, str) else (list(pages) if pages else None),
                         size_bytes=size if isinstance(size, int) else parse_size(size),
                         threads=threads, kernels=list(kernels), repeat=repeat, policy=policy)
    return plan_run(read_topology(), read_process_cpuset(), options).specs


def run_specs(specs: Spec | Iterable[Spec], *, seed: int = 1, isa: str = "auto",
            progress: Callable[[str], None] | None = None, sample_noise: bool = True) -> Result:
    """Measure specs (from `plan`) in one session: placement proven per buffer, environment and
    noise recorded. Ctrl-C or SIGTERM ends it early with `result.interrupted` set."""
    from numabench.measure.runner import Runner
    from numabench.measure.session import Session

    spec_list = [specs] if isinstance(specs, Spec) else list(specs)
    with Session(topology=read_topology(), command=list(sys.argv), options={"seed": seed, "isa": isa},
                 progress=progress) as session:
        if sample_noise:
            session.sample_noise(c for s in spec_list for c in s.cpus)
        Runner(progress=progress, seed=seed, isa=isa).run(session, spec_list)
    return session.result()


def run(*, seed: int = 1, isa: str = "auto", progress: Callable[[str], None] | None = None,
        **options: Any) -> Result:
    """`plan(**options)` then `run_specs`: what `numabench run` does, as a typed Result."""
    return run_specs(plan(**options), seed=seed, isa=isa, progress=progress)


def load(path: str) -> Result:
    """A result file of any supported schema version, checked and typed. Raises ResultError."""
    return _load(path)


def compare(baseline: Result | dict[str, Any] | str, current: Result | dict[str, Any] | str, *,
            fail_on: Iterable[str] = (), **options: Any) -> dict[str, Any]:
    """`numabench compare` as data: per cell and metric the change, its bootstrap CI, the
    Mann-Whitney p-value and a status, and an overall `verdict`. `fail_on` takes the CLI's
    threshold texts ("latency:+5%", "read:-3%"); other `options` are
    `analysis.compare.compare_results`'s (alpha, confidence, allow_different_machine...).
    Results may be given as paths. Raises IncomparableError for results of different machines."""
    from numabench.analysis.compare import compare_results, resolve_thresholds

    return compare_results(_document(baseline), _document(current), thresholds=resolve_thresholds(fail_on),
                           **options)


def _document(result: Result | dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(result, str):
        return _load(result).to_dict()
    if isinstance(result, Result):
        return result.to_dict()
    return result


def _ints(value: int | Sequence[int] | None) -> list[int] | None:
    if value is None:
        return None
    return [value] if isinstance(value, int) else list(value)
