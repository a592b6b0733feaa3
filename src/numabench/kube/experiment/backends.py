"""Where a pod experiment's pods run; both backends answer the same calls (``discover_nodes``,
``create``, ``observe``, ``logs``, ``delete``).

- ``KubernetesBackend``: the official client. ``BatchV1Api.create_namespaced_job`` /
  ``read_namespaced_job`` / ``delete_namespaced_job`` (``propagationPolicy: Foreground``: the pods go
  with the Job; the old default for batch/v1 orphaned them), ``CoreV1Api.list_namespaced_pod``
  (label ``numabench.io/run=<id>``, one call per poll for every pod of the wave),
  ``read_namespaced_pod_log`` and, for fleet discovery, ``list_node``. See
  ``manifests.RUNNER_ROLE_RULES`` for the RBAC this needs.
- ``LocalBackend``: no cluster. Each run's pod spec is admitted by the kubelet model
  (``kube/admission``: CPU Manager static, Memory Manager Static, the experiment's Topology Manager
  policy) on this machine's topology, and its container command runs in the cgroup the kubelet would
  make (``executor``). A rejection is recorded as the kubelet's reason (``TopologyAffinityError``),
  as on a cluster.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import tempfile
import threading
from dataclasses import dataclass, replace
from typing import Any

from numabench.errors import BackendError, UsageError
from numabench.kube.experiment.executor import numabench_argv
from numabench.kube.experiment.manifests import CONTAINER_NAME, LABEL_PREFIX, PlannedRun
from numabench.kube.experiment.spec import Experiment

__all__ = ["FATAL_WAITING", "Admission", "KubernetesBackend", "LocalBackend", "PodState", "admit", "classify_pod",
           "hugepage_limits_bytes", "model_node"]

FATAL_WAITING = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                 "CreateContainerConfigError", "CreateContainerError", "RunContainerError")
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


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
    fixes = {401: "check the kubeconfig's credentials", 403: "grant the runner the Role from `numabench pod manifests`",
             404: "create the namespace first", 409: "a Job of that name exists; delete it or rerun (new run id)",
             422: "the manifest was refused; check it with `numabench pod manifests`"}
    # A connection error (urllib3, OSError) has no HTTP status.
    fix = fixes.get(status, "check the cluster") if isinstance(status, int) else "check the cluster"
    return BackendError(f"{call} failed ({status or 'no answer'} {reason}{detail})", fix)


def _api_errors() -> tuple[type[Exception], ...]:
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
                             "pip install 'numabench[cluster]' (or use --backend local)") from None
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


# --------------------------------------------------------------------------- admission on this machine


def model_node(exp: Experiment, topology=None, backend: str = "local"):
    """This machine as the kubelet model's ``NodeDescription``, with the experiment's
    ``local.reservedSystemCPUs``. Used by every backend that runs pods here (local, cri).

    Raises:
        UsageError: a fleet experiment, or a malformed reservedSystemCPUs.
    """
    from numabench.host.topology import read_topology
    from numabench.kube.admission import NodeDescription
    from numabench.util.cpulist import parse_cpulist

    if exp.fleet is not None:
        raise UsageError(f"fleet mode needs the kubernetes backend, not {backend}",
                         "drop fleet: or use --backend kubernetes")
    reserved = None
    if exp.local.reserved_cpus is not None:
        try:
            reserved = parse_cpulist(exp.local.reserved_cpus)
        except ValueError as exc:
            raise UsageError(f"local.reservedSystemCPUs: {exc}", "write a CPU list such as 0") from None
    return NodeDescription.from_topology(topology or read_topology(), reserved_cpus=reserved)


@dataclass(frozen=True)
class Admission:
    """A run's pod after the kubelet model: its spec and plan, and either the container's placement
    with the ``planned`` record (admitted) or the Failed ``rejected`` state (the kubelet's reason)."""

    pod: Any
    plan: Any
    placement: Any = None
    planned: dict[str, Any] | None = None
    rejected: PodState | None = None


def hugepage_limits_bytes(container) -> dict[int, int]:
    """A podspec container's hugepage limits: page size in bytes -> limit in bytes."""
    from numabench.kube.resources import HUGEPAGES_PREFIX, hugepage_size_bytes

    return {hugepage_size_bytes(k): int(v) for k, v in container.limits.items() if k.startswith(HUGEPAGES_PREFIX)}


def admit(exp: Experiment, node, run: PlannedRun, hostname: str) -> Admission:
    """Admit ``run``'s pod on ``node`` under the experiment's Topology Manager policy and scope, as
    the kubelet would; the one planning step of the local and cri backends. ``planned`` holds the
    modelled cpuset (recorded beside what the pod saw) and the hugepage limits in bytes."""
    from numabench.kube.admission import plan_pod
    from numabench.kube.podspec import pod_from_dict
    from numabench.util.cpulist import format_cpulist

    pod = pod_from_dict(run.manifest, source=run.job_name)
    plan = plan_pod(pod, node, policy=exp.local.topology_manager_policy, scope=exp.local.topology_manager_scope)
    if not plan.admitted:
        return Admission(pod, plan, rejected=PodState(
            pod=run.job_name, phase="Failed", terminal=True, reason=plan.reason,
            message=f"Pod was rejected: {plan.message} ({plan.detail})", node=hostname, qos_class=plan.qos,
            attempts=1))
    placement = plan.placement(CONTAINER_NAME)
    huge = hugepage_limits_bytes(pod.container(CONTAINER_NAME))
    planned = {"cpuset_cpus": format_cpulist(placement.cpus), "cpuset_mems": format_cpulist(placement.mems),
               "cpus": list(placement.cpus), "mems": list(placement.mems),
               "exclusive_cpus": placement.exclusive_cpus, "memory_pinned": placement.memory_pinned,
               "memory_limit_bytes": placement.memory_limit_bytes,
               "hugepage_limits_bytes": {str(k): v for k, v in sorted(huge.items())},
               "topology_manager_policy": plan.policy}
    return Admission(pod, plan, placement, planned)


# --------------------------------------------------------------------------- the local backend


def _oom_kills(cgroup) -> int | None:
    """OOM kills in the container's memory cgroup (v2 ``memory.events``, v1 ``memory.oom_control``);
    None when no memory hierarchy's counter could be read (unknown is not zero)."""
    total = None
    for h in cgroup.hierarchies:
        if "memory" not in h.controllers:
            continue
        name = "memory.events" if h.version == 2 else "memory.oom_control"
        try:
            with open(os.path.join(h.path(cgroup.rel), name)) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        total = (total or 0) + int(value)
        except (OSError, ValueError):
            continue
    return total


def _ended(rc: int, timed_out: bool, ooms: int | None, timeout_s: int) -> tuple[str | None, str | None, bool]:
    """(reason, message, interrupted) of a pod that ran to its end."""
    if timed_out:
        return "DeadlineExceeded", f"the pod ran past timeoutSeconds ({timeout_s} s) and was stopped", False
    if ooms:
        return "OOMKilled", f"the memory limit's OOM killer ended {ooms} process(es)", False
    if rc in (130, 143):
        return "Interrupted", f"the pod was interrupted (exit {rc})", True
    unknown = "OOM kills: unknown (the memory cgroup's OOM counter could not be read)" if ooms is None else None
    return ("Error" if rc != 0 else None), unknown, False


class LocalBackend:
    """Runs each pod on this machine: admitted by the kubelet model, executed in its cgroup
    (see the module docstring). ``create`` runs the pod to its end (one at a time)."""

    name = "local"

    def __init__(self, exp: Experiment, topology=None, hierarchies=None, numabench: list[str] | None = None,
                 workdir: str | None = None):
        self.exp = exp
        self.node = model_node(exp, topology, self.name)
        self.hierarchies = hierarchies
        self.numabench = list(numabench or numabench_argv())
        self.workdir = workdir
        self.hostname = socket.gethostname()
        self._states: dict[str, PodState] = {}
        self._logs: dict[str, str] = {}

    def discover_nodes(self, node_selector) -> list[str]:  # pragma: no cover - refused in __init__
        raise UsageError("fleet mode needs the kubernetes backend", "use --backend kubernetes")

    def create(self, run: PlannedRun, timeout_s: int) -> None:
        from numabench.kube.experiment.executor import PodCgroup, find_hierarchies

        adm = admit(self.exp, self.node, run, self.hostname)
        if adm.rejected is not None:
            self._states[run.job_name] = adm.rejected
            return
        pod, plan, placement = adm.pod, adm.plan, adm.placement
        cgroup = PodCgroup(pod.uid, CONTAINER_NAME, plan.qos, placement.cpus, placement.mems,
                           placement.memory_limit_bytes,
                           self.hierarchies if self.hierarchies is not None else find_hierarchies())
        rc, timed_out, ooms = self._execute(run, cgroup, timeout_s)
        reason, message, interrupted = _ended(rc, timed_out, ooms, timeout_s)
        self._states[run.job_name] = PodState(
            pod=run.job_name, phase="Succeeded" if rc == 0 else "Failed", terminal=True, reason=reason,
            message=message, node=self.hostname, qos_class=plan.qos, attempts=1, exit_code=rc, has_log=True,
            interrupted=interrupted, planned=adm.planned)

    def _execute(self, run: PlannedRun, cgroup, timeout_s: int) -> tuple[int, bool, int | None]:
        """Run the container's command in ``cgroup`` with its output in the "pod log";
        (exit status, timed out, OOM kills or None when unknown)."""
        from numabench.kube.experiment.executor import run_in_cgroup
        from numabench.kube.experiment.manifests import container_argv

        fd, log_path = tempfile.mkstemp(prefix=f"{run.job_name}-", suffix=".log", dir=self.workdir)
        os.close(fd)
        self._logs[run.job_name] = log_path
        argv = container_argv(self.exp, run.variant, tuple(self.numabench))
        # executor.run_in_cgroup inherits stdout: the shell sends the container's output to the "pod log".
        shell = ["/bin/sh", "-c", 'exec "$@" >"$NUMABENCH_POD_LOG" 2>&1', "sh", *argv]
        env = {**os.environ, "NUMABENCH_POD_LOG": log_path}
        env.pop("NUMABENCH_SYSFS_ROOT", None)
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
        return rc, timed_out.is_set(), ooms

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


