"""Baselines: result files kept per machine fingerprint, for `numabench compare --baseline-dir`.

A baseline directory holds one result file per machine, named ``<fingerprint>.json``. The
fingerprint is a short hash of what makes figures comparable: the CPU model, the NUMA layout
(node ids, CPUs per node, memory-only nodes), the kernel release, the THP modes and the page
sizes the nodes offer (hugetlb page sizes: not their pool counts, which change while tests run).
Hostnames are left out on purpose: CI runners of one machine type share baselines.

The same function computes the fingerprint of a result file and of the running machine (from
``read_environment`` and ``read_topology``), so a result measured here matches this machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from numabench.errors import BaselineError, ResultError
from numabench.results import schema as results
from numabench.results.identity import describe_identity, fingerprint, live_identity, machine_identity

__all__ = [
    "BASELINE_DIR_ENV",
    "Baseline",
    "BaselineError",
    "default_dir",
    "describe_identity",
    "find_baseline",
    "fingerprint",
    "list_baselines",
    "live_identity",
    "machine_identity",
    "save_baseline",
]

BASELINE_DIR_ENV = "NUMABENCH_BASELINE_DIR"


@dataclass(frozen=True)
class Baseline:
    """One stored baseline. ``error`` is set (and the rest may be empty) for an unreadable file."""

    path: str
    fingerprint: str
    identity: dict[str, Any]
    finished_unix: float | None
    measurements: int
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "fingerprint": self.fingerprint, "identity": self.identity,
                "finished_unix": self.finished_unix, "measurements": self.measurements, "error": self.error}


def default_dir() -> str:
    """$NUMABENCH_BASELINE_DIR, else $XDG_DATA_HOME/numabench/baselines (~/.local/share/... by default)."""
    env = os.environ.get(BASELINE_DIR_ENV)
    if env:
        return env
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data_home, "numabench", "baselines")


def save_baseline(result: dict[str, Any], directory: str, force: bool = False) -> Baseline:
    """Store a validated result as ``<directory>/<fingerprint>.json`` (the directory is created).

    Raises:
        ResultError: a baseline for this machine exists and force is False (the fix says --force),
            or the directory cannot be written.
    """
    identity = machine_identity(result)
    fp = fingerprint(identity)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise ResultError(f"cannot create the baseline directory {directory}: {exc.strerror}",
                          "choose a writable --dir") from None
    path = os.path.join(directory, f"{fp}.json")
    if os.path.exists(path) and not force:
        raise ResultError(f"{path} already holds the baseline of this machine ({describe_identity(identity)})",
                          "pass --force to replace it")
    results.save(result, path, force=True)
    return Baseline(path, fp, identity, result.get("finished_unix"), len(result["measurements"]))


def list_baselines(directory: str) -> list[Baseline]:
    """Every ``*.json`` in the directory, sorted by name; an unreadable file or one whose content
    does not hash to its name is listed with ``error`` set, not skipped. A missing directory gives []."""
    if not os.path.isdir(directory):
        return []
    out = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json") or name.startswith("."):
            continue
        path = os.path.join(directory, name)
        stem = name[: -len(".json")]
        try:
            result = results.load(path).to_dict()
        except ResultError as exc:
            out.append(Baseline(path, stem, {}, None, 0, error=exc.message))
            continue
        identity = machine_identity(result)
        fp = fingerprint(identity)
        error = None if fp == stem else f"its content has fingerprint {fp}, not {stem}: saved by hand?"
        out.append(Baseline(path, fp, identity, result.get("finished_unix"), len(result["measurements"]), error))
    return out


def find_baseline(directory: str, fp: str, identity: dict[str, Any] | None = None) -> Baseline:
    """The baseline with fingerprint ``fp`` in ``directory``.

    Raises:
        BaselineError: the directory does not exist, or holds no (readable) baseline with that
            fingerprint; the message describes the machine (from ``identity``) and what the
            directory holds, the fix says how to save one.
    """
    what = f"fingerprint {fp}" + (f": {describe_identity(identity)}" if identity else "")
    fix = f"save one with: numabench baseline save RESULT.json --dir {directory}"
    if not os.path.isdir(directory):
        raise BaselineError(f"baseline directory {directory} does not exist (looking for {what})", fix)
    stored = list_baselines(directory)
    for b in stored:
        if b.fingerprint == fp and b.error is None:
            return b
    for b in stored:
        if os.path.basename(b.path) == f"{fp}.json":
            raise BaselineError(f"the baseline for this machine, {b.path}, cannot be used: {b.error}",
                                f"replace it: numabench baseline save RESULT.json --dir {directory} --force")
    others = [b for b in stored if b.error is None]
    held = f"it holds {len(others)} baseline(s) of other machines" if others else "it holds none"
    raise BaselineError(f"no baseline in {directory} for this machine ({what}); {held}", fix)
