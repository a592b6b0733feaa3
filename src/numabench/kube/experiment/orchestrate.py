"""Run a pod experiment: create each run's pod, wait, collect its framed result, delete what was made.

Backends (``backends.py``): ``KubernetesBackend`` (a cluster) and ``LocalBackend`` (this machine,
admitted by the kubelet model, run in the cgroup the kubelet would make); ``kube.cri.backend.CriBackend``
(this machine, admitted by the same model, started through the node's container runtime).

The run loop (``run_experiment``) goes wave by wave: one wave is one variant and repetition (on
every fleet node at once); the waves run one after another, repetitions interleaved
(aligned r0, misaligned r0, aligned r1, ...), so two variants never share a node's memory bandwidth
and slow drift hits every variant alike. Per wave: create every Job, poll until each pod is
terminal or the timeout passes, read each log, delete every Job. A pod that fails (OOMKilled,
TopologyAffinityError, Evicted, an image that cannot be pulled, the timeout) is recorded with its
reason and the next runs go on; a Job that cannot be created is recorded as ``not-created``.
Everything created is deleted on every path: normal end, an error, Ctrl-C or SIGTERM (turned into
KeyboardInterrupt while the loop runs; further signals are ignored while cleaning up).

The result set is a ``numabench.results.podset.PodResultSet`` (``pod_results_version`` 1).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any, Callable

from numabench import __version__
from numabench.errors import BackendError, FramingError, ResultError
from numabench.kube.experiment.backends import KubernetesBackend, LocalBackend, PodState, classify_pod
from numabench.kube.experiment.manifests import PlannedRun, parse_framed, plan_runs
from numabench.kube.experiment.spec import Experiment
from numabench.results.podset import PodResultSet, PodRun
from numabench.util import docload

__all__ = [
    "KubernetesBackend",
    "LocalBackend",
    "PodState",
    "SignalGuard",
    "classify_pod",
    "new_run_id",
    "run_experiment",
]

# --------------------------------------------------------------------------- the run loop


def new_run_id() -> str:
    """6 random hex digits: every `pod run` names its Jobs anew (a rerun never meets a leftover)."""
    return os.urandom(3).hex()


def _qos_expected(run: PlannedRun) -> str:
    from numabench.kube.podspec import pod_from_dict
    from numabench.kube.qos import pod_qos

    return pod_qos(pod_from_dict(run.manifest, source=run.job_name))


def _record(run: PlannedRun, namespace: str) -> PodRun:
    """The one builder of a run's record, before its pod is created."""
    return PodRun(variant=run.variant.name, repetition=run.repetition, node_target=run.node, job=run.job_name,
                  namespace=namespace, qos_expected=_qos_expected(run), verdict_expected=run.variant.expect)


def _fill(rec: PodRun, st: PodState) -> None:
    rec.pod, rec.phase, rec.reason, rec.message, rec.node = st.pod, st.phase, st.reason, st.message, st.node
    rec.qos_class, rec.restarts, rec.attempts, rec.exit_code = st.qos_class, st.restarts, st.attempts, st.exit_code
    rec.planned = st.planned
    rec.qos_ok = None if st.qos_class is None else st.qos_class == rec.qos_expected


def _read_result(backend, run: PlannedRun, st: PodState, rec: PodRun) -> None:
    """The framed ``numabench run`` result from the pod's log, or ``result_error``."""
    from numabench.results.schema import validate

    try:
        framed = parse_framed(backend.logs(run, st))
        source = f"the result of pod {st.pod}"
        doc = docload.parse_json(docload.decode_utf8(framed.payload, source, error=ResultError), source,
                                 error=ResultError)
        rec.result = validate(doc, f"the result of pod {st.pod}")
        if rec.exit_code is None:
            rec.exit_code = framed.exit_code
    except (FramingError, BackendError, ResultError) as exc:
        rec.result_error = str(exc)
    except (UnicodeDecodeError, ValueError) as exc:
        rec.result_error = f"the framed result is not JSON ({exc})"


def _collect(backend, run: PlannedRun, st: PodState, rec: PodRun) -> None:
    _fill(rec, st)
    rec.status = "ok" if st.succeeded else ("interrupted" if st.interrupted else "failed")
    if not st.has_log:
        rec.result_error = "the container never ran: no log"
        return
    _read_result(backend, run, st, rec)
    if rec.result is not None:
        pod_env = (rec.result.get("environment") or {}).get("pod") or {}
        rec.verdict = pod_env.get("verdict")
        if rec.verdict in (None, "single-node") or rec.verdict_expected == "any":
            rec.verdict_ok = None  # nothing expected, or nothing provable on one NUMA node
        else:
            rec.verdict_ok = rec.verdict == rec.verdict_expected
    elif rec.status == "ok":
        rec.status = "failed"
        rec.reason = rec.reason or "NoResult"
        rec.message = rec.message or rec.result_error


class SignalGuard:
    """SIGTERM (and SIGHUP) raise KeyboardInterrupt while the loop runs, as Ctrl-C does; during
    cleanup every one of them is only reported, so a second Ctrl-C cannot leave Jobs behind.
    Also used by ``pod exec --runtime cri`` around its one pod."""

    def __init__(self, progress: Callable[[str], None]) -> None:
        self.progress = progress
        self.saved: dict[int, Any] = {}
        self.active = threading.current_thread() is threading.main_thread()

    def _raise(self, signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    def _ignore(self, signum, _frame):
        self.progress(f"signal {signum} ignored: still deleting what was created")

    def install(self) -> None:
        if self.active:
            for s in (signal.SIGTERM, signal.SIGHUP):
                self.saved[s] = signal.signal(s, self._raise)

    def cleaning(self) -> None:
        if self.active:
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                self.saved.setdefault(s, signal.getsignal(s))
                signal.signal(s, self._ignore)

    def restore(self) -> None:
        for s, handler in self.saved.items():
            signal.signal(s, handler)
        self.saved.clear()


def _waves(runs: list[PlannedRun]) -> list[list[PlannedRun]]:
    """One wave per variant and repetition (every fleet node at once), in plan order."""
    waves: list[list[PlannedRun]] = []
    for r in runs:
        if waves and (waves[-1][0].variant.name, waves[-1][0].repetition) == (r.variant.name, r.repetition):
            waves[-1].append(r)
        else:
            waves.append([r])
    return waves


class _Loop:
    """The state of one ``run_experiment``: the records, what is created, what went wrong."""

    def __init__(self, backend, records: dict[str, PodRun], timeout_s: int, poll_s: float, clock, sleep, progress):
        self.backend, self.records, self.timeout_s = backend, records, timeout_s
        self.poll_s, self.clock, self.sleep, self.progress = poll_s, clock, sleep, progress
        self.errors: list[str] = []
        self.cleanup_errors: list[str] = []
        self.created: list[PlannedRun] = []

    def wave(self, wave: list[PlannedRun], head: str) -> bool:
        """Create, wait for, collect and delete one wave; True when a pod says it was interrupted."""
        live: list[PlannedRun] = []
        for run in wave:
            rec = self.records[run.job_name]
            # Listed before the call: a signal during create (the CRI's StartContainer, say) must
            # still find in cleanup what was made so far; deleting what was not made is harmless.
            self.created.append(run)
            try:
                self.backend.create(run, self.timeout_s)
            except BackendError as exc:
                self.created.remove(run)  # a backend removes what a failed create made
                rec.status, rec.reason, rec.message = "not-created", "CreateFailed", str(exc)
                self.errors.append(str(exc))
                self.progress(f"{head}{' [' + run.node + ']' if run.node else ''}: not created: {exc}")
                continue
            live.append(run)
            rec.status = "created"
        stop = _wait(self.backend, live, self.records, self.timeout_s, self.poll_s, self.clock, self.sleep,
                     self.progress, head)
        for run in live:
            try:
                self.backend.delete(run)
                self.created.remove(run)
            except BackendError as exc:  # retried once more in cleanup, then reported
                self.progress(f"{head}: {exc}")
        return stop

    def cleanup(self) -> None:
        """Delete whatever is still created; a failure is listed, the others are still deleted."""
        for run in list(self.created):
            try:
                self.backend.delete(run)
                self.created.remove(run)
            except Exception as exc:  # keep deleting the others
                self.cleanup_errors.append(f"{run.job_name}: {exc}")

    def close_records(self, interrupted: bool) -> None:
        for rec in self.records.values():
            if rec.status == "created":  # interrupted while it ran
                rec.status, rec.reason = "interrupted", "Interrupted"
                rec.message = "the experiment was interrupted while this pod ran; it was deleted"
            elif interrupted and rec.status == "not-created" and rec.reason is None:
                rec.status, rec.reason = "interrupted", "NotRun"
                rec.message = "the experiment was interrupted before this run"


def run_experiment(exp: Experiment, backend, *, timeout_s: int | None = None, run_id: str | None = None,
                   nodes: list[str] | None = None, poll_s: float = 2.0,
                   clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                   progress: Callable[[str], None] = lambda _m: None) -> PodResultSet:
    """Run every planned pod of ``exp`` on ``backend`` and return the result set (module docstring).

    ``timeout_s``: per wave, from its Jobs' creation (default: the experiment's timeoutSeconds).
    ``nodes``: fleet nodes (default: fleet.nodes, or discovered by nodeSelector). ``clock``/``sleep``
    are injectable so tests never wait.

    Never raises for a pod that fails. Everything created is deleted before returning or raising;
    a deletion that fails is listed in ``cleanup_errors`` (with the names to delete by hand).

    Raises:
        UsageError: a fleet experiment without nodes.
        BackendError: node discovery failed (nothing was created).
        Any unexpected exception, after cleanup. KeyboardInterrupt is not raised: the set comes
        back with ``interrupted: true``.
    """
    timeout_s = timeout_s or exp.timeout_s
    run_id = run_id or new_run_id()
    if exp.fleet is not None and nodes is None:
        nodes = list(exp.fleet.nodes) if exp.fleet.nodes else backend.discover_nodes(exp.node_selector)
    runs = plan_runs(exp, run_id, nodes)
    loop = _Loop(backend, {r.job_name: _record(r, exp.namespace) for r in runs}, timeout_s, poll_s, clock, sleep,
                 progress)
    started = time.time()
    interrupted = False
    signals = SignalGuard(progress)
    signals.install()
    waves = _waves(runs)
    try:
        for n, wave in enumerate(waves, 1):
            if loop.wave(wave, f"[{n}/{len(waves)}] {wave[0].variant.name} r{wave[0].repetition}"):
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
        progress("interrupted: deleting what was created")
    finally:
        signals.cleaning()
        try:
            loop.cleanup()
        finally:
            signals.restore()
    loop.close_records(interrupted)
    if loop.cleanup_errors:
        progress("could not delete: " + "; ".join(loop.cleanup_errors))
    return PodResultSet(backend=backend.name, run_id=run_id, experiment=exp.to_dict(), numabench_version=__version__,
                        started_unix=started, finished_unix=time.time(), timeout_s=timeout_s, interrupted=interrupted,
                        errors=loop.errors, cleanup_errors=loop.cleanup_errors,
                        runs=[loop.records[r.job_name] for r in runs])


def _wait(backend, live, records, timeout_s, poll_s, clock, sleep, progress, head) -> bool:
    """Poll until every pod of the wave is terminal or the timeout passes; collect each result.
    Returns True when a pod says it was interrupted (local backend: Ctrl-C reached the pod)."""
    deadline = clock() + timeout_s
    pending = {r.job_name: r for r in live}
    seen: dict[str, tuple] = {}
    last: dict[str, PodState] = {}
    stop = False
    while pending:
        try:
            observed = backend.observe(list(pending.values()))
        except BackendError as exc:  # transient API trouble: keep trying until the timeout
            progress(f"{head}: {exc}")
            observed = {}
        for name, st in observed.items():
            if name not in pending:
                continue
            last[name] = st
            shown = (st.phase, st.reason, st.node)
            if seen.get(name) != shown:
                seen[name] = shown
                where = f" on {st.node}" if st.node else ""
                why = f" ({st.reason})" if st.reason else ""
                target = f" [{pending[name].node}]" if pending[name].node else ""
                progress(f"{head}{target}: {st.phase}{why}{where}")
            if st.terminal:
                _collect(backend, pending.pop(name), st, records[name])
                stop = stop or st.interrupted
        if not pending:
            break
        if clock() >= deadline:
            for name, run in pending.items():
                st = last.get(name, PodState())
                rec = records[name]
                _fill(rec, st)
                why = f"; last: {st.reason}: {st.message}" if st.reason else ""
                rec.status, rec.reason = "timeout", "Timeout"
                rec.message = f"still {st.phase} after {timeout_s} s{why}"
                progress(f"{head}{' [' + run.node + ']' if run.node else ''}: timed out ({st.phase})")
            break
        sleep(poll_s)
    return stop

