"""The result set of ``numabench pod run``: one typed record per pod run, and the set around them.

File format (``pod_results_version`` 1, unchanged since the first release)::

    {"kind": "numabench-pod-results", "pod_results_version": 1, "numabench_version": ...,
     "backend": "kubernetes", "run_id": "a1b2c3", "experiment": {...}, "started_unix": ...,
     "finished_unix": ..., "timeout_s": ..., "interrupted": false, "errors": [...],
     "cleanup_errors": [...], "runs": [PodRun.to_dict(), ...]}

History: version 1 is the only one. A change of meaning in a field bumps the version and adds a
loader for the old one here; unknown versions and unknown keys are refused with the file's name.

Pure data: imports neither the native extension nor ``numabench.kube``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

from numabench import __version__
from numabench.errors import ResultError
from numabench.results.schema import validate
from numabench.util.docload import load_json

__all__ = ["POD_RESULTS_VERSION", "RESULT_KIND", "RUN_STATUSES", "PodRun", "PodResultSet", "load_pod_results"]

POD_RESULTS_VERSION = 1
RESULT_KIND = "numabench-pod-results"
RUN_STATUSES = ("ok", "failed", "timeout", "not-created", "created", "interrupted")


@dataclass
class PodRun:
    """One pod run. ``status``: ok | failed | timeout | not-created | interrupted (``created``
    only while it runs). ``reason``/``message``: the pod's or the container's (``OOMKilled``,
    ``TopologyAffinityError``...). ``qos_ok``/``verdict_ok``: None when nothing can be said.
    ``planned``: the local backend's modelled cpuset. ``result``: the ``numabench run`` result
    read from the pod's log, or None (then ``result_error`` says why)."""

    variant: str
    repetition: int
    node_target: str | None = None
    job: str | None = None
    namespace: str | None = None
    pod: str | None = None
    status: str = "not-created"
    phase: str | None = None
    reason: str | None = None
    message: str | None = None
    node: str | None = None
    qos_class: str | None = None
    qos_expected: str | None = None
    qos_ok: bool | None = None
    restarts: int = 0
    attempts: int = 0
    exit_code: int | None = None
    verdict: str | None = None
    verdict_expected: str | None = None
    verdict_ok: bool | None = None
    planned: dict[str, Any] | None = None
    result_error: str | None = None
    result: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> PodRun:
        """Raises ResultError: not a mapping, missing variant/repetition/status, unknown keys."""
        if not isinstance(data, dict) or not {"variant", "repetition", "status"} <= set(data):
            raise ResultError(f"{where} lacks variant, repetition or status")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ResultError(f"{where} has unknown keys {', '.join(map(str, unknown))}",
                              "it was written by a newer numabench; read it with that version")
        for key, kind in (("variant", str), ("repetition", int), ("status", str)):
            _typed(data, key, kind, where)
        for key in ("planned", "result"):  # a mapping or null; a run's result is a run result file's
            if data.get(key) is not None and not isinstance(data[key], dict):
                raise ResultError(f"{where}: {key!r} is {type(data[key]).__name__}, not a mapping",
                                  "give the -o file of numabench pod run")
        return cls(**data)


def _check_pod_evidence(result: dict[str, Any], where: str) -> None:
    """``environment.pod`` (what ``pod compare`` shows as evidence): a mapping whose cpus, mems and
    cpu_nodes are lists of ids. The result schema keeps the environment as written, so it is checked here.

    Raises ResultError naming the key."""
    env = result.get("environment")
    pod = env.get("pod") if isinstance(env, dict) else None
    if pod is None:
        return
    if not isinstance(pod, dict):
        raise ResultError(f"{where}: environment.pod is {type(pod).__name__}, not a mapping",
                          "give the -o file of numabench pod run")
    for key in ("cpus", "mems", "cpu_nodes"):
        ids = pod.get(key)
        if ids is not None and not (isinstance(ids, list) and all(type(i) is int and i >= 0 for i in ids)):
            raise ResultError(f"{where}: environment.pod.{key} is not a list of CPU/node ids",
                              "give the -o file of numabench pod run")


@dataclass
class PodResultSet:
    """Every run of one ``pod run``, with the experiment (its ``to_dict``) and what went wrong
    around the runs (``errors``: creation failures; ``cleanup_errors``: what could not be deleted)."""

    backend: str
    run_id: str
    experiment: dict[str, Any]
    numabench_version: str
    started_unix: float
    finished_unix: float | None = None
    timeout_s: int | None = None
    interrupted: bool = False
    errors: list[str] = field(default_factory=list)
    cleanup_errors: list[str] = field(default_factory=list)
    runs: list[PodRun] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": RESULT_KIND, "pod_results_version": POD_RESULTS_VERSION,
            "numabench_version": self.numabench_version, "backend": self.backend, "run_id": self.run_id,
            "experiment": self.experiment, "started_unix": self.started_unix, "finished_unix": self.finished_unix,
            "timeout_s": self.timeout_s, "interrupted": self.interrupted, "errors": list(self.errors),
            "cleanup_errors": list(self.cleanup_errors), "runs": [r.to_dict() for r in self.runs],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "<pod results>") -> PodResultSet:
        """Raises ResultError: not a pod result set, an unknown version, malformed runs (named)."""
        if not isinstance(data, dict) or data.get("kind") != RESULT_KIND:
            raise ResultError(f"{where}: not a pod result set (kind {RESULT_KIND!r})",
                              "give the -o file of numabench pod run; for a single run use numabench compare")
        version = data.get("pod_results_version")
        if version != POD_RESULTS_VERSION:
            raise ResultError(f"{where}: pod_results_version {version!r} is not supported by numabench {__version__}",
                              f"this numabench reads version {POD_RESULTS_VERSION}")
        if not isinstance(data.get("runs"), list) or not isinstance(data.get("experiment"), dict):
            raise ResultError(f"{where}: 'runs' or 'experiment' is missing")
        _check_experiment(data["experiment"], where)
        runs = [PodRun.from_dict(r, f"{where}: runs[{i}]") for i, r in enumerate(data["runs"])]
        # backend and run_id are always written; numabench_version and started_unix default as
        # the result schema's loader does for the same fields.
        return cls(backend=_typed(data, "backend", str, where), run_id=_typed(data, "run_id", str, where),
                   experiment=data["experiment"],
                   numabench_version=_typed(data, "numabench_version", str, where, "unknown"),
                   started_unix=float(_typed(data, "started_unix", (int, float), where, 0.0)),
                   finished_unix=data.get("finished_unix"), timeout_s=data.get("timeout_s"),
                   interrupted=bool(data.get("interrupted", False)), errors=list(data.get("errors") or []),
                   cleanup_errors=list(data.get("cleanup_errors") or []), runs=runs)


def _check_experiment(exp: dict[str, Any], where: str) -> None:
    """What pod compare reads of the experiment: variants with names, a baseline among them."""
    variants = exp.get("variants")
    if not isinstance(variants, list) or not variants or not all(
            isinstance(v, dict) and isinstance(v.get("name"), str) for v in variants):
        raise ResultError(f"{where}: experiment.variants must be a non-empty list of {{name: ...}} mappings",
                          "give the -o file of numabench pod run, unedited")
    baseline = exp.get("baseline")
    if baseline is not None and baseline not in {v["name"] for v in variants}:
        raise ResultError(f"{where}: experiment.baseline {baseline!r} is not one of its variants",
                          "give the -o file of numabench pod run, unedited")


_T = TypeVar("_T")


def _typed(data: dict[str, Any], key: str, kind: type[_T] | tuple[type[_T], ...], where: str,
           default: _T | None = None) -> _T:
    """``data[key]`` checked against ``kind``; ``default`` when absent (None: the key is required).

    Raises ResultError naming the key when it is missing (and required) or of the wrong type."""
    value = data.get(key, default)
    if value is None or isinstance(value, bool) or not isinstance(value, kind):
        raise ResultError(f"{where}: {key!r} is missing or of the wrong type ({type(value).__name__})",
                          "give the -o file of numabench pod run")
    return value


def load_pod_results(path: str) -> PodResultSet:
    """Read a ``pod run`` result set.

    Raises:
        ResultError: unreadable, not JSON, not a pod result set, or an unknown version (named).
    """
    data = load_json(path, what="pod result set", error=ResultError, fix="give the -o file of numabench pod run")
    result_set = PodResultSet.from_dict(data, path)
    # A file may have been edited or damaged since pod run validated each result: check them again.
    for i, run in enumerate(result_set.runs):
        if run.result is not None:
            validate(run.result, f"{path}: runs[{i}]: result")
            _check_pod_evidence(run.result, f"{path}: runs[{i}]: result")
    return result_set
