"""Run a pod experiment: create each run's pod, wait, collect its framed result, delete what was made.

Backends (the same ``Backend`` calls):

- ``KubernetesBackend``: the official client. ``BatchV1Api.create_namespaced_job`` /
  ``read_namespaced_job`` / ``delete_namespaced_job`` (``propagationPolicy: Foreground``: the pods go
  with the Job; the old default for batch/v1 orphaned them), ``CoreV1Api.list_namespaced_pod``
  (label ``numabench.io/run=<id>``, one call per poll for every pod of the wave),
  ``read_namespaced_pod_log`` and, for fleet discovery, ``list_node``. See
  ``manifests.RUNNER_ROLE_RULES`` for the RBAC this needs.
- ``LocalBackend``: no cluster. Each run's pod spec is admitted by the kubelet model
  (``kube/model.py``: CPU Manager static, Memory Manager Static, the experiment's Topology Manager
  policy) on this machine's topology, and its container command runs in the cgroup the kubelet would
  make (``kube/executor.py``). A rejection is recorded as the kubelet's reason
  (``TopologyAffinityError``), as on a cluster.

The run loop (``run_experiment``) goes wave by wave: one wave is one variant and repetition (on
every fleet node at once); the waves run one after another, repetitions interleaved
(aligned r0, misaligned r0, aligned r1, ...), so two variants never share a node's memory bandwidth
and slow drift hits every variant alike. Per wave: create every Job, poll until each pod is
terminal or the timeout passes, read each log, delete every Job. A pod that fails (OOMKilled,
TopologyAffinityError, Evicted, an image that cannot be pulled, the timeout) is recorded with its
reason and the next runs go on; a Job that cannot be created is recorded as ``not-created``.
Everything created is deleted on every path: normal end, an error, Ctrl-C or SIGTERM (turned into
KeyboardInterrupt while the loop runs; further signals are ignored while cleaning up).

The result set (``pod_results_version`` 1)::

    {"kind": "numabench-pod-results", "pod_results_version": 1, "numabench_version": ...,
     "backend": "kubernetes", "run_id": "a1b2c3", "experiment": {...}, "started_unix": ..., "finished_unix": ...,
     "interrupted": false, "errors": [...], "cleanup_errors": [...],
     "runs": [{"variant", "repetition", "node_target", "job", "namespace", "pod", "status"
               (ok|failed|timeout|not-created|interrupted), "phase", "reason", "message", "node",
               "qos_class", "qos_expected", "qos_ok", "restarts", "attempts", "exit_code",
               "verdict", "verdict_expected", "verdict_ok", "planned" (local backend: the model's
               cpuset), "result_error", "result" (the numabench run result, or null)}]}
"""

from __future__ import annotations

import json
import os
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from numabench import __version__
from numabench.errors import NumabenchError, ResultError, UsageError
from numabench.kube.executor import numabench_argv
from numabench.kube.experiment import Experiment
from numabench.kube.manifests import CONTAINER_NAME, LABEL_PREFIX, FramingError, PlannedRun, parse_framed, plan_runs

__all__ = [
    "POD_RESULTS_VERSION",
    "BackendError",
    "KubernetesBackend",
    "LocalBackend",
    "PodState",
    "classify_pod",
    "load_result_set",
    "new_run_id",
    "run_experiment",
]

POD_RESULTS_VERSION = 1
RESULT_KIND = "numabench-pod-results"
# Waiting reasons that will not fix themselves within a benchmark's timeout.
FATAL_WAITING = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                 "CreateContainerConfigError", "CreateContainerError", "RunContainerError")
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


class BackendError(NumabenchError):
    """A backend call failed (the API refused or could not be reached); the message names the call."""


@dataclass(frozen=True)
class PodState:
    """What is known of one run's pod.

    ``terminal``: nothing more will happen (Succeeded, Failed, or a fatal waiting reason);
    ``has_log``: its container ran, so a log can be read; ``reason``/``message``: the pod's or the
    container's (``OOMKilled``, ``TopologyAffinityError``, ``Evicted``, ``ImagePullBackOff``...).
    """

    pod: str | None = None
    phase: str = "Pending"
    terminal: bool = False
    reason: str | None = None
    message: str | None = None
    node: str | None = None
    qos_class: str | None = None
    restarts: int = 0
    attempts: int = 0
    exit_code: int | None = None
    has_log: bool = False
    interrupted: bool = False
    planned: dict[str, Any] | None = None

    @property
    def succeeded(self) -> bool:
        return self.phase == "Succeeded"


def _container_status(pod) -> Any:
    statuses = (pod.status.container_statuses or []) if pod.status else []
    for cs in statuses:
        if cs.name == CONTAINER_NAME:
            return cs
    return statuses[0] if statuses else None


def classify_pod(pod) -> PodState:
    """A ``kubernetes.client.V1Pod`` as a PodState (pure: no API call)."""
    status = pod.status
    phase = (status.phase if status else None) or "Pending"
    reason = status.reason if status else None
    message = status.message if status else None
    cs = _container_status(pod)
    exit_code = None
    restarts = 0
    has_log = False
    terminal = phase in ("Succeeded", "Failed")
    if cs is not None:
        restarts = cs.restart_count or 0
        state = cs.state
        term = state.terminated if state else None
        if term is None and cs.last_state is not None:
            term = cs.last_state.terminated
        if term is not None:
            exit_code = term.exit_code
            has_log = True
            if phase == "Failed" and not reason:
                reason, message = term.reason or "Error", term.message or message
        elif state is not None and state.running is not None:
            has_log = True
        waiting = state.waiting if state else None
        if waiting is not None and waiting.reason in FATAL_WAITING and phase == "Pending":
            terminal = True
            phase = "Failed"
            reason, message = waiting.reason, waiting.message
    if phase == "Pending" and not reason and status is not None:
        for cond in status.conditions or []:
            if cond.type == "PodScheduled" and cond.status == "False":
                reason, message = cond.reason, cond.message
    return PodState(pod=pod.metadata.name if pod.metadata else None, phase=phase, terminal=terminal, reason=reason,
                    message=message, node=pod.spec.node_name if pod.spec else None,
                    qos_class=status.qos_class if status else None, restarts=restarts, attempts=1,
                    exit_code=exit_code, has_log=has_log)


# --------------------------------------------------------------------------- the Kubernetes backend


def _api_error(call: str, exc: Exception) -> BackendError:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None) or type(exc).__name__
    body = getattr(exc, "body", None)
    detail = ""
    if body:
        try:
            detail = ": " + json.loads(body).get("message", "")
        except (ValueError, AttributeError, TypeError):
            detail = ": " + str(body)[:200]
    fix = {401: "check the kubeconfig's credentials", 403: "grant the runner the Role from `numabench pod manifests`",
           404: "create the namespace first", 409: "a Job of that name exists; delete it or rerun (new run id)",
           422: "the manifest was refused; check it with `numabench pod manifests`"}.get(status, "check the cluster")
    return BackendError(f"{call} failed ({status or 'no answer'} {reason}{detail})", fix)


def _api_errors() -> tuple[type[BaseException], ...]:
    """What the client raises for an API answer or a connection problem; anything else is a bug and propagates."""
    from kubernetes.client.exceptions import ApiException, OpenApiException
    from urllib3.exceptions import HTTPError

    return (ApiException, OpenApiException, HTTPError, OSError)


class KubernetesBackend:
    """Runs on a cluster through the official client's ``BatchV1Api`` and ``CoreV1Api``
    (or anything with the same methods, e.g. the tests' fake)."""

    name = "kubernetes"

    def __init__(self, batch_api, core_api, namespace: str):
        self.batch = batch_api
        self.core = core_api
        self.namespace = namespace

    @classmethod
    def from_config(cls, namespace: str, kubeconfig: str | None = None, context: str | None = None):
        """Client from ``kubeconfig`` (or $KUBECONFIG, ~/.kube/config), else the in-cluster service account.

        Raises:
            UsageError: the client is not installed, or no configuration could be loaded.
        """
        try:
            from kubernetes import client, config
        except ImportError:
            raise UsageError("the kubernetes backend needs the kubernetes Python client",
                             "pip install kubernetes (or use --backend local)") from None
        try:
            if kubeconfig or not os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_kube_config(config_file=kubeconfig, context=context)
            else:
                config.load_incluster_config()
        except Exception as exc:  # the client raises ConfigException, OSError, yaml errors...
            raise UsageError(f"cannot load the Kubernetes configuration ({type(exc).__name__}: {exc})",
                             "give --kubeconfig FILE, set KUBECONFIG, or run inside a pod with a service account") \
                from None
        return cls(client.BatchV1Api(), client.CoreV1Api(), namespace)

    def discover_nodes(self, node_selector: dict[str, str]) -> list[str]:
        """The ``kubernetes.io/hostname`` of every node matching ``node_selector``, sorted."""
        selector = ",".join(f"{k}={v}" for k, v in sorted(node_selector.items()))
        try:
            nodes = self.core.list_node(label_selector=selector)
        except _api_errors() as exc:
            raise _api_error("list nodes", exc) from None
        out = []
        for n in nodes.items:
            labels = n.metadata.labels or {}
            out.append(labels.get("kubernetes.io/hostname", n.metadata.name))
        return sorted(out)

    def create(self, run: PlannedRun, timeout_s: int) -> None:
        try:
            self.batch.create_namespaced_job(namespace=self.namespace, body=run.manifest)
        except _api_errors() as exc:
            raise _api_error(f"create Job {run.job_name}", exc) from None

    def observe(self, runs: list[PlannedRun]) -> dict[str, PodState]:
        if not runs:
            return {}
        run_id = runs[0].manifest["metadata"]["labels"][LABEL_PREFIX + "run"]
        try:
            pods = self.core.list_namespaced_pod(namespace=self.namespace, label_selector=f"{LABEL_PREFIX}run={run_id}")
        except _api_errors() as exc:
            raise _api_error("list pods", exc) from None
        by_job: dict[str, list] = {}
        for p in pods.items:
            labels = p.metadata.labels or {}
            job = next((labels[k] for k in JOB_NAME_LABELS if k in labels), None)
            if job:
                by_job.setdefault(job, []).append(p)
        out: dict[str, PodState] = {}
        for run in runs:
            mine = by_job.get(run.job_name, [])
            if mine:
                mine.sort(key=lambda p: (p.metadata.creation_timestamp is not None, p.metadata.creation_timestamp))
                states = [classify_pod(p) for p in mine]
                last = states[-1]
                # A retried Job (backoffLimit > 0) leaves one pod per attempt.
                out[run.job_name] = replace(last, attempts=len(states),
                                            restarts=sum(s.restarts for s in states) + len(states) - 1)
            else:
                out[run.job_name] = self._job_only(run)
        return out

    def _job_only(self, run: PlannedRun) -> PodState:
        """No pod (yet): the Job may have failed without one (quota, Pod Security admission)."""
        try:
            job = self.batch.read_namespaced_job(name=run.job_name, namespace=self.namespace)
        except _api_errors() as exc:
            raise _api_error(f"read Job {run.job_name}", exc) from None
        for cond in (job.status.conditions or []) if job.status else []:
            if cond.type == "Failed" and cond.status == "True":
                return PodState(phase="Failed", terminal=True, reason=cond.reason, message=cond.message)
        return PodState(phase="Pending", reason="NoPod",
                        message="the Job has no pod yet (check its events: quota, Pod Security admission)")

    def logs(self, run: PlannedRun, state: PodState) -> str:
        try:
            return self.core.read_namespaced_pod_log(name=state.pod, namespace=self.namespace,
                                                     container=CONTAINER_NAME)
        except _api_errors() as exc:
            raise _api_error(f"read the log of pod {state.pod}", exc) from None

    def delete(self, run: PlannedRun) -> None:
        """Delete the Job and (Foreground propagation) its pods; a Job already gone is fine."""
        from kubernetes.client import V1DeleteOptions

        try:
            self.batch.delete_namespaced_job(name=run.job_name, namespace=self.namespace,
                                             body=V1DeleteOptions(propagation_policy="Foreground"))
        except _api_errors() as exc:
            if getattr(exc, "status", None) == 404:
                return
            raise _api_error(f"delete Job {run.job_name}", exc) from None


# --------------------------------------------------------------------------- the local backend


def _oom_kills(cgroup) -> int:
    """OOM kills in the container's memory cgroup (v2 ``memory.events``, v1 ``memory.oom_control``)."""
    total = 0
    for h in cgroup.hierarchies:
        if "memory" not in h.controllers:
            continue
        name = "memory.events" if h.version == 2 else "memory.oom_control"
        try:
            with open(os.path.join(h.path(cgroup.rel), name)) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        total += int(value)
        except (OSError, ValueError):
            pass
    return total


class LocalBackend:
    """Runs each pod on this machine: admitted by the kubelet model, executed in its cgroup
    (see the module docstring). ``create`` runs the pod to its end (one at a time)."""

    name = "local"

    def __init__(self, exp: Experiment, topology=None, hierarchies=None, numabench: list[str] | None = None,
                 workdir: str | None = None):
        from numabench.util.cpulist import parse_cpulist
        from numabench.kube.model import NodeDescription
        from numabench.host.topology import read_topology

        if exp.fleet is not None:
            raise UsageError("fleet mode needs the kubernetes backend", "drop fleet: or use --backend kubernetes")
        self.exp = exp
        reserved = None
        if exp.local.reserved_cpus is not None:
            try:
                reserved = parse_cpulist(exp.local.reserved_cpus)
            except ValueError as exc:
                raise UsageError(f"local.reservedSystemCPUs: {exc}", "write a CPU list such as 0") from None
        self.node = NodeDescription.from_topology(topology or read_topology(), reserved_cpus=reserved)
        self.hierarchies = hierarchies
        self.numabench = list(numabench or numabench_argv())
        self.workdir = workdir
        self.hostname = socket.gethostname()
        self._states: dict[str, PodState] = {}
        self._logs: dict[str, str] = {}

    def discover_nodes(self, node_selector) -> list[str]:  # pragma: no cover - refused in __init__
        raise UsageError("fleet mode needs the kubernetes backend", "use --backend kubernetes")

    def create(self, run: PlannedRun, timeout_s: int) -> None:
        from numabench.util.cpulist import format_cpulist
        from numabench.kube.executor import PodCgroup, find_hierarchies, run_in_cgroup
        from numabench.kube.manifests import container_argv
        from numabench.kube.model import plan_pod
        from numabench.kube.podspec import pod_from_dict

        pod = pod_from_dict(run.manifest, source=run.job_name)
        plan = plan_pod(pod, self.node, policy=self.exp.local.topology_manager_policy,
                        scope=self.exp.local.topology_manager_scope)
        if not plan.admitted:
            self._states[run.job_name] = PodState(
                pod=run.job_name, phase="Failed", terminal=True, reason=plan.reason,
                message=f"Pod was rejected: {plan.message} ({plan.detail})", node=self.hostname, qos_class=plan.qos,
                attempts=1)
            return
        placement = plan.placement(CONTAINER_NAME)
        planned = {"cpuset_cpus": format_cpulist(placement.cpus), "cpuset_mems": format_cpulist(placement.mems),
                   "cpus": list(placement.cpus), "mems": list(placement.mems),
                   "exclusive_cpus": placement.exclusive_cpus, "memory_pinned": placement.memory_pinned,
                   "memory_limit_bytes": placement.memory_limit_bytes,
                   "topology_manager_policy": plan.policy}
        fd, log_path = tempfile.mkstemp(prefix=f"{run.job_name}-", suffix=".log", dir=self.workdir)
        os.close(fd)
        self._logs[run.job_name] = log_path
        argv = container_argv(self.exp, run.variant, tuple(self.numabench))
        # executor.run_in_cgroup inherits stdout: the shell sends the container's output to the "pod log".
        shell = ["/bin/sh", "-c", 'exec "$@" >"$NUMABENCH_POD_LOG" 2>&1', "sh", *argv]
        env = {**os.environ, "NUMABENCH_POD_LOG": log_path}
        env.pop("NUMABENCH_SYSFS_ROOT", None)
        cgroup = PodCgroup(pod.uid, CONTAINER_NAME, plan.qos, placement.cpus, placement.mems,
                           placement.memory_limit_bytes,
                           self.hierarchies if self.hierarchies is not None else find_hierarchies())
        timed_out = threading.Event()

        def on_alarm(_signum, _frame) -> None:
            timed_out.set()
            for pid in cgroup.pids():
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

        previous = signal.signal(signal.SIGALRM, on_alarm)
        try:
            with cgroup:
                signal.setitimer(signal.ITIMER_REAL, timeout_s)
                try:
                    rc = run_in_cgroup(cgroup, shell, env=env)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                ooms = _oom_kills(cgroup)
        finally:
            signal.signal(signal.SIGALRM, previous)
        reason = message = None
        interrupted = False
        if timed_out.is_set():
            reason, message = "DeadlineExceeded", f"the pod ran past timeoutSeconds ({timeout_s} s) and was stopped"
        elif ooms:
            reason, message = "OOMKilled", f"the memory limit's OOM killer ended {ooms} process(es)"
        elif rc in (130, 143):
            reason, message, interrupted = "Interrupted", f"the pod was interrupted (exit {rc})", True
        elif rc != 0:
            reason = "Error"
        self._states[run.job_name] = PodState(
            pod=run.job_name, phase="Succeeded" if rc == 0 else "Failed", terminal=True, reason=reason,
            message=message, node=self.hostname, qos_class=plan.qos, attempts=1, exit_code=rc, has_log=True,
            interrupted=interrupted, planned=planned)

    def observe(self, runs: list[PlannedRun]) -> dict[str, PodState]:
        return {r.job_name: self._states.get(r.job_name, PodState()) for r in runs}

    def logs(self, run: PlannedRun, state: PodState) -> str:
        path = self._logs.get(run.job_name)
        if path is None:
            raise BackendError(f"pod {run.job_name} has no log", "it never ran")
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def delete(self, run: PlannedRun) -> None:
        """Forget the run and remove its log file (its cgroup went when it ended)."""
        self._states.pop(run.job_name, None)
        path = self._logs.pop(run.job_name, None)
        if path and os.path.exists(path):
            os.unlink(path)


# --------------------------------------------------------------------------- the run loop


def new_run_id() -> str:
    """6 random hex digits: every `pod run` names its Jobs anew (a rerun never meets a leftover)."""
    return os.urandom(3).hex()


def _qos_expected(run: PlannedRun) -> str:
    from numabench.kube.podspec import pod_from_dict
    from numabench.kube.qos import pod_qos

    return pod_qos(pod_from_dict(run.manifest, source=run.job_name))


def _record(run: PlannedRun, namespace: str) -> dict[str, Any]:
    return {"variant": run.variant.name, "repetition": run.repetition, "node_target": run.node,
            "job": run.job_name, "namespace": namespace, "pod": None, "status": "not-created", "phase": None,
            "reason": None, "message": None, "node": None, "qos_class": None, "qos_expected": _qos_expected(run),
            "qos_ok": None, "restarts": 0, "attempts": 0, "exit_code": None, "verdict": None,
            "verdict_expected": run.variant.expect, "verdict_ok": None, "planned": None, "result_error": None,
            "result": None}


def _fill(rec: dict[str, Any], st: PodState) -> None:
    rec.update(pod=st.pod, phase=st.phase, reason=st.reason, message=st.message, node=st.node,
               qos_class=st.qos_class, restarts=st.restarts, attempts=st.attempts, exit_code=st.exit_code,
               planned=st.planned)
    rec["qos_ok"] = None if st.qos_class is None else st.qos_class == rec["qos_expected"]


def _collect(backend, run: PlannedRun, st: PodState, rec: dict[str, Any]) -> None:
    from numabench.results.schema import validate

    _fill(rec, st)
    rec["status"] = "ok" if st.succeeded else ("interrupted" if st.interrupted else "failed")
    if not st.has_log:
        rec["result_error"] = "the container never ran: no log"
        return
    try:
        framed = parse_framed(backend.logs(run, st))
        doc = json.loads(framed.payload.decode("utf-8"))
        rec["result"] = validate(doc, f"the result of pod {st.pod}")
        if rec["exit_code"] is None:
            rec["exit_code"] = framed.exit_code
    except (FramingError, BackendError, ResultError) as exc:
        rec["result_error"] = str(exc)
    except (UnicodeDecodeError, ValueError) as exc:
        rec["result_error"] = f"the framed result is not JSON ({exc})"
    if rec["result"] is not None:
        pod_env = (rec["result"].get("environment") or {}).get("pod") or {}
        rec["verdict"] = pod_env.get("verdict")
        exp = rec["verdict_expected"]
        if rec["verdict"] in (None, "single-node") or exp == "any":
            rec["verdict_ok"] = None  # nothing expected, or nothing provable on one NUMA node
        else:
            rec["verdict_ok"] = rec["verdict"] == exp
    elif rec["status"] == "ok":
        rec["status"] = "failed"
        rec["reason"] = rec["reason"] or "NoResult"
        rec["message"] = rec["message"] or rec["result_error"]


class _Signals:
    """SIGTERM (and SIGHUP) raise KeyboardInterrupt while the loop runs, as Ctrl-C does; during
    cleanup every one of them is only reported, so a second Ctrl-C cannot leave Jobs behind."""

    def __init__(self, progress):
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


def run_experiment(exp: Experiment, backend, *, timeout_s: int | None = None, run_id: str | None = None,
                   nodes: list[str] | None = None, poll_s: float = 2.0,
                   clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                   progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
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
    records = {r.job_name: _record(r, exp.namespace) for r in runs}
    waves: list[list[PlannedRun]] = []
    for r in runs:
        if waves and (waves[-1][0].variant.name, waves[-1][0].repetition) == (r.variant.name, r.repetition):
            waves[-1].append(r)
        else:
            waves.append([r])
    started = time.time()
    errors: list[str] = []
    cleanup_errors: list[str] = []
    created: list[PlannedRun] = []
    interrupted = False
    signals = _Signals(progress)
    signals.install()
    total = len(waves)
    try:
        for n, wave in enumerate(waves, 1):
            head = f"[{n}/{total}] {wave[0].variant.name} r{wave[0].repetition}"
            live: list[PlannedRun] = []
            for run in wave:
                try:
                    backend.create(run, timeout_s)
                except BackendError as exc:
                    records[run.job_name].update(status="not-created", reason="CreateFailed", message=str(exc))
                    errors.append(str(exc))
                    progress(f"{head}{' [' + run.node + ']' if run.node else ''}: not created: {exc}")
                    continue
                created.append(run)
                live.append(run)
                records[run.job_name]["status"] = "created"
            stop = _wait(backend, live, records, timeout_s, poll_s, clock, sleep, progress, head)
            for run in live:
                try:
                    backend.delete(run)
                    created.remove(run)
                except BackendError as exc:  # retried once more below, then reported
                    progress(f"{head}: {exc}")
            if stop:
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
        progress("interrupted: deleting what was created")
    finally:
        signals.cleaning()
        try:
            for run in list(created):
                try:
                    backend.delete(run)
                    created.remove(run)
                except Exception as exc:  # keep deleting the others
                    cleanup_errors.append(f"{run.job_name}: {exc}")
        finally:
            signals.restore()
    for rec in records.values():
        if rec["status"] == "created":  # interrupted while it ran
            rec.update(status="interrupted", reason="Interrupted",
                       message="the experiment was interrupted while this pod ran; it was deleted")
        elif interrupted and rec["status"] == "not-created" and rec["reason"] is None:
            rec.update(status="interrupted", reason="NotRun", message="the experiment was interrupted before this run")
    if cleanup_errors:
        progress("could not delete: " + "; ".join(cleanup_errors))
    return {
        "kind": RESULT_KIND, "pod_results_version": POD_RESULTS_VERSION, "numabench_version": __version__,
        "backend": backend.name, "run_id": run_id, "experiment": exp.to_dict(), "started_unix": started,
        "finished_unix": time.time(), "timeout_s": timeout_s, "interrupted": interrupted, "errors": errors,
        "cleanup_errors": cleanup_errors, "runs": [records[r.job_name] for r in runs],
    }


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
                rec.update(status="timeout", reason="Timeout",
                           message=f"still {st.phase} after {timeout_s} s{why}")
                progress(f"{head}{' [' + run.node + ']' if run.node else ''}: timed out ({st.phase})")
            break
        sleep(poll_s)
    return stop


# --------------------------------------------------------------------------- result sets


def load_result_set(path: str) -> dict[str, Any]:
    """Read a ``pod run`` result set.

    Raises:
        ResultError: unreadable, not JSON, not a pod result set, or an unknown version (named).
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ResultError(f"{path}: no such file", "give the -o file of numabench pod run") from None
    except OSError as exc:
        raise ResultError(f"{path}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise ResultError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != RESULT_KIND:
        raise ResultError(f"{path}: not a pod result set (kind {RESULT_KIND!r})",
                          "give the -o file of numabench pod run; for a single run use numabench compare")
    version = data.get("pod_results_version")
    if version != POD_RESULTS_VERSION:
        raise ResultError(f"{path}: pod_results_version {version!r} is not supported by numabench {__version__}",
                          f"this numabench reads version {POD_RESULTS_VERSION}")
    if not isinstance(data.get("runs"), list) or not isinstance(data.get("experiment"), dict):
        raise ResultError(f"{path}: 'runs' or 'experiment' is missing")
    for i, r in enumerate(data["runs"]):
        if not isinstance(r, dict) or not {"variant", "repetition", "status"} <= set(r):
            raise ResultError(f"{path}: runs[{i}] lacks variant, repetition or status")
    return data
