"""One measurement session: what every measuring command (run, matrix, loaded, qualify) shares.

A session records the environment (with its noise sample and the pod verdict), the numastat
counters' change around each measured part, every measurement and every failure. SIGINT and
SIGTERM (what Kubernetes sends on deletion and eviction) end it the same way: the part in progress
is abandoned, everything finished is kept, and the result says `interrupted` and by which signal.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from numabench.errors import NumabenchError
from numabench.host.environment import collect_environment, sample_noise
from numabench.host.numastat import delta, read_numastat, sum_deltas
from numabench.results.schema import Measurement, Result, build_result

Progress = Callable[[str], None]

# Exit status of an interrupted command: 128 + the signal's number, as a shell reports it.
EXIT_FOR_SIGNAL = {"SIGINT": 128 + signal.SIGINT, "SIGTERM": 128 + signal.SIGTERM}


class Session:
    """Collects one command's measurements; see the module docstring.

    Use as a context manager around the measuring (it installs the SIGTERM handler), then call
    `result()` to build the one Result, interrupted or not.
    """

    def __init__(self, *, topology: Any, command: list[str] | None = None, options: dict[str, Any] | None = None,
                 notes: Iterable[str] = (), progress: Progress | None = None):
        self.topology = topology
        self.command = list(sys.argv if command is None else command)
        self.options = dict(options or {})
        self.notes = list(notes)
        self.progress: Progress = progress or (lambda message: None)
        self.measurements: list[Measurement] = []
        self.errors: list[dict[str, Any]] = []
        self.sections: dict[str, Any] = {}
        self.interrupted_by: str | None = None
        self.noise: dict[str, Any] | None = None
        self._numastat_deltas: list[dict[int, dict[str, int]]] = []
        self._numastat_readable = True
        self._started = time.time()
        self._previous_handler: Any = None

    # ----------------------------------------------------------------- signals

    def __enter__(self) -> Session:
        self._started = time.time()
        # Signal handlers can only be set from the main thread; elsewhere SIGTERM keeps its default.
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGTERM, self._previous_handler)
            self._previous_handler = None

    def _on_sigterm(self, signum: int, frame: object) -> None:
        self.interrupted_by = "SIGTERM"
        # The same path as Ctrl-C: every measuring loop already stops cleanly on KeyboardInterrupt.
        raise KeyboardInterrupt

    @property
    def interrupted(self) -> bool:
        return self.interrupted_by is not None

    @property
    def exit_code_if_interrupted(self) -> int:
        return EXIT_FOR_SIGNAL.get(self.interrupted_by or "SIGINT", 130)

    # ----------------------------------------------------------------- measuring

    def sample_noise(self, cpus: Iterable[int]) -> None:
        """Sample what makes figures unstable on these CPUs before measuring (environment.noise)."""
        if self.interrupted:
            return
        try:
            self.noise = sample_noise(cpus, self.progress)
        except KeyboardInterrupt:
            self._interrupt("noise sampling")

    def measure(self, label: str, part: Callable[[], Iterable[Measurement]],
                failure: dict[str, Any] | None = None) -> list[Measurement]:
        """Run one part (one spec, one loaded-latency series...), keeping each measurement it yields.

        Every measurement is kept as soon as it is yielded, so an interruption loses only the one
        in progress. A NumabenchError is recorded in `errors` (with `failure`'s fields: what was
        being measured) and the session goes on; an interruption stops the session. Returns the
        part's measurements.
        """
        got: list[Measurement] = []
        if self.interrupted:
            return got
        before = self._read_numastat()
        try:
            for m in part():
                got.append(m)
                self.measurements.append(m)
        except KeyboardInterrupt:
            self._interrupt(label)
        except NumabenchError as exc:
            self.errors.append({**(failure or {}), "error": str(exc), "type": type(exc).__name__})
            self.progress(f"{label}: {exc}")
        finally:
            after = self._read_numastat() if before is not None else None
            if before is not None and after is not None:
                self._numastat_deltas.append(delta(before, after))
        return got

    def _interrupt(self, label: str) -> None:
        self.interrupted_by = self.interrupted_by or "SIGINT"
        self.progress(f"{label}: interrupted ({self.interrupted_by}); keeping "
                      f"{len(self.measurements)} measurement(s)")

    def _read_numastat(self) -> dict[int, dict[str, int]] | None:
        if not self._numastat_readable:
            return None
        try:
            return read_numastat()
        except NumabenchError as exc:
            self._numastat_readable = False
            self.notes.append(f"numastat not read: {exc}")
            return None

    # ----------------------------------------------------------------- the result

    def result(self) -> Result:
        """The one Result of this session: environment, topology, measurements, errors, sections."""
        sections = dict(self.sections)
        if self._numastat_deltas:
            # JSON object keys are strings.
            sections["numastat_delta"] = {str(k): v for k, v in sum_deltas(self._numastat_deltas).items()}
        if self.interrupted_by:
            sections["interrupted_by"] = self.interrupted_by
        return build_result(environment=collect_environment(self.noise), topology=self.topology.to_dict(),
                            command=self.command, options=self.options, notes=self.notes,
                            measurements=self.measurements, errors=self.errors, interrupted=self.interrupted,
                            started=self._started, finished=time.time(), sections=sections)

