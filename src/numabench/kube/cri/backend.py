"""``pod run --backend cri`` and ``pod exec --runtime cri``: pods started through the node's
container runtime, as the kubelet does.

Per pod: the kubelet model (``kube.admission``, through ``experiment.backends.admit`` for an
experiment) gives the container's cpuset, memory nodes and limits (what ``pod plan`` prints); then
``RunPodSandbox`` (host network, runtime default seccomp, the kubelet's pod cgroup name for the QoS
class under ``cgroup_root``), ``CreateContainer`` (``LinuxContainerResources{cpuset_cpus,
cpuset_mems, memory_limit_in_bytes, hugepage_limits}``, non-root 65532, no capability, read-only
root) and ``StartContainer``. The container's output is the CRI log file under a log directory of
ours, where ``numabench pod emit`` framed the result. ``remove`` is ``StopPodSandbox`` then
``RemovePodSandbox`` (the containers go with it), then the pod cgroup and the log directory.

The callers remove on every path (success, failure, Ctrl-C, SIGTERM). Against SIGKILL: every
sandbox carries ``numabench.io/managed-by=numabench`` and its runner's host and pid, and names its
pod cgroup and log directory in annotations; a later run removes those whose runner is gone
(``remove_leftovers``).

Images are not pulled: the image must be in the runtime already (CRI ImageStatus says).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from numabench.errors import BackendError, CriError, UsageError
from numabench.kube.cri.client import DEFAULT_SOCKET, CriClient
from numabench.kube.cri.configs import (
    CGROUP_PARENT_ANNOTATION,
    DEFAULT_CGROUP_ROOT,
    LOG_DIR_ANNOTATION,
    MANAGED_LABEL,
    RUNNER_HOST_LABEL,
    RUNNER_PID_LABEL,
    CriLogLines,
    CriPod,
    cgroup_parent,
    container_config,
    parse_cri_log,
    sandbox_config,
)
from numabench.kube.experiment.backends import PodState, admit, hugepage_limits_bytes, model_node
from numabench.kube.experiment.manifests import CONTAINER_NAME, LABEL_PREFIX, PlannedRun, container_argv
from numabench.util.procs import pid_alive

__all__ = ["CriBackend", "CriPodHandle", "Leftovers", "check_runtime", "exec_pod", "new_handle", "remove_leftovers",
           "remove_pod", "runner_labels", "start_pod"]

LOG_DIR_PREFIX = "numabench-cri-"
# ContainerState: CONTAINER_CREATED 0, CONTAINER_RUNNING 1, CONTAINER_EXITED 2, CONTAINER_UNKNOWN 3.
EXITED = 2
_PHASES = {0: "Pending", 1: "Running", 3: "Unknown"}
_RMDIR_TRIES = 40  # x 0.05 s: the kernel may take a moment to let go of the pod's last exited task
# x 0.5 s: a runner killed during StartContainer leaves the container "in starting state" until the
# runtime's own call ends; until then RemovePodSandbox is refused (containerd 1.6).
_LEFTOVER_TRIES = 20


@dataclass
class CriPodHandle:
    """What was made for one pod: filled in as the calls succeed, so that ``remove_pod`` removes
    exactly what exists whenever it is called (even after an interrupted ``start_pod``)."""

    cgroup_parent: str
    cgroup_driver: str
    log_dir: str  # "" when there is none to remove
    container_name: str = CONTAINER_NAME
    sandbox: str | None = None
    container: str | None = None

    @property
    def log_path(self) -> str:
        """Where the runtime writes the container's log (``ContainerConfig.log_path`` under the sandbox's
        ``log_directory``)."""
        return os.path.join(self.log_dir, self.container_name, "0.log")


def runner_labels(hostname: str) -> dict[str, str]:
    """The labels by which a later run recognises a pod of ours and whether its runner still lives."""
    return {MANAGED_LABEL: "numabench", RUNNER_HOST_LABEL: hostname, RUNNER_PID_LABEL: str(os.getpid())}


def new_handle(qos: str, uid: str, driver: str, cgroup_root: str, log_root: str | None,
               container_name: str = CONTAINER_NAME) -> CriPodHandle:
    """A log directory (the runtime, root, writes the log into it) and the pod cgroup's name.

    Raises:
        UsageError: an unknown QoS class or cgroup driver.
    """
    parent = cgroup_parent(qos, uid, driver, cgroup_root)
    log_dir = tempfile.mkdtemp(prefix=LOG_DIR_PREFIX, dir=log_root)
    os.chmod(log_dir, 0o755)
    return CriPodHandle(parent, driver, log_dir, container_name)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP wait until the block ends, then go to the handlers that were set.

    Why: a signal that interrupts a CRI call in flight loses the id the runtime was about to
    return (the sandbox exists, but nobody knows it to remove it). The calls have deadlines, so
    the wait is bounded.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    for s in saved:
        signal.signal(s, lambda signum, _frame: pending.append(signum))
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
        if pending:
            signal.raise_signal(pending[0])


def start_pod(client: CriClient, handle: CriPodHandle, pod: CriPod) -> None:
    """RunPodSandbox, CreateContainer, StartContainer, recording each id in ``handle``; signals are
    deferred until the calls are done (``signals_deferred``).

    Raises:
        CriError: a call failed (whatever was made stays in ``handle`` for ``remove_pod``).
    """
    pod = _with_cleanup_notes(pod, handle)
    sb_config = sandbox_config(pod, handle.cgroup_parent)
    handle.container_name = pod.container_name
    with signals_deferred():
        handle.sandbox = client.run_pod_sandbox(sb_config)
        handle.container = client.create_container(handle.sandbox, container_config(pod), sb_config)
        client.start_container(handle.container)


def _with_cleanup_notes(pod: CriPod, handle: CriPodHandle) -> CriPod:
    notes = {CGROUP_PARENT_ANNOTATION: handle.cgroup_parent if handle.cgroup_driver == "cgroupfs" else "",
             LOG_DIR_ANNOTATION: handle.log_dir}
    return replace(pod, log_directory=handle.log_dir, annotations={**pod.annotations, **notes})


def remove_pod(client: CriClient, handle: CriPodHandle) -> None:
    """StopPodSandbox and RemovePodSandbox, then the pod cgroup (cgroupfs) and the log directory.

    Raises:
        CriError: the runtime refused; the message says how to remove the sandbox by hand.
    """
    if handle.sandbox:
        try:
            client.remove_sandbox(handle.sandbox)
        except CriError as exc:
            raise CriError(exc.message, f"remove it with crictl rmp -f {handle.sandbox}") from None
        handle.sandbox = handle.container = None
        if handle.cgroup_driver == "cgroupfs":
            _remove_pod_cgroup(handle.cgroup_parent)
    if handle.log_dir:
        shutil.rmtree(handle.log_dir, ignore_errors=True)


def _remove_pod_cgroup(parent: str) -> None:
    """rmdir the pod cgroup in every hierarchy, as the kubelet's pod container manager does once the
    runtime has removed the sandbox (the runtime removes only its containers' cgroups). Best effort:
    a directory still in use after a short wait stays (and ``pod run``'s tests fail on it)."""
    from numabench.host.cgroups import parse_mountinfo
    from numabench.util.fsread import read_text

    if not parent.strip("/"):
        return
    for mount in parse_mountinfo(read_text("/proc/self/mountinfo") or ""):
        if mount.fstype not in ("cgroup", "cgroup2"):
            continue
        path = os.path.join(mount.mount_point, parent.strip("/"))
        for _ in range(_RMDIR_TRIES):
            try:
                os.rmdir(path)
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)
                continue
            break


@dataclass
class Leftovers:
    """What ``remove_leftovers`` did: sandbox ids removed, and "<id>: <error>" for those that stayed."""

    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def remove_leftovers(client: CriClient, hostname: str | None = None) -> Leftovers:
    """Remove every sandbox labelled by numabench whose runner process is gone (or ran on another
    host, whose pid cannot be checked here), with its pod cgroup and log directory.

    Raises:
        CriError: listing failed (a sandbox that cannot be removed is listed in ``failed``).
    """
    hostname = hostname or socket.gethostname()
    out = Leftovers()
    for sb in client.list_pod_sandboxes({MANAGED_LABEL: "numabench"}):
        labels, notes = dict(sb.labels), dict(sb.annotations)
        pid = labels.get(RUNNER_PID_LABEL, "")
        if labels.get(RUNNER_HOST_LABEL) == hostname and pid.isdigit() and pid_alive(int(pid)):
            continue  # a live numabench's pod: not ours to remove
        log_dir = notes.get(LOG_DIR_ANNOTATION, "")
        # Only a directory of ours: the annotation must not make us delete anything else.
        if not os.path.basename(log_dir).startswith(LOG_DIR_PREFIX):
            log_dir = ""
        parent = notes.get(CGROUP_PARENT_ANNOTATION, "")
        handle = CriPodHandle(parent, "cgroupfs" if parent else "systemd", log_dir, sandbox=sb.id)
        for attempt in range(_LEFTOVER_TRIES):
            try:
                remove_pod(client, handle)
                out.removed.append(sb.id)
                break
            except CriError as exc:
                if attempt == _LEFTOVER_TRIES - 1:
                    out.failed.append(f"{sb.id}: {exc}")
                else:
                    time.sleep(0.5)
    return out


def check_runtime(client: CriClient, image: str) -> Leftovers:
    """The runtime answers and has ``image``; leftovers of killed runs are removed (``remove_leftovers``).

    Raises:
        CriError: the runtime does not answer, or lacks the image.
    """
    client.version()
    if not client.image_present(image):
        raise CriError(f"the runtime at {client.socket} has no image {image}",
                       "load it there first (ctr -n k8s.io images import, or crictl pull); this backend never pulls")
    return remove_leftovers(client)


def container_state(client: CriClient, handle: CriPodHandle) -> tuple[str, int | None, str | None, str | None]:
    """(phase, exit code, reason, message) of the pod's container: phase Pending, Running, Unknown,
    Succeeded or Failed (the last two once it exited).

    Raises:
        CriError: ContainerStatus failed, or the pod has no container (its start failed).
    """
    if handle.container is None:
        raise CriError(f"pod {handle.cgroup_parent} has no container: its start failed",
                       "see the error its start raised; remove the pod and start it again")
    st = client.container_status(handle.container)
    if st.state != EXITED:
        return _PHASES.get(st.state, "Unknown"), None, None, None
    if st.exit_code == 0:
        return "Succeeded", 0, None, st.message or None
    return "Failed", st.exit_code, st.reason or "Error", st.message or None


def read_log(handle: CriPodHandle) -> str:
    """The container's output so far (stdout and stderr, each line whole).

    Raises:
        BackendError: the log cannot be read.
    """
    try:
        with open(handle.log_path, encoding="utf-8", errors="replace") as f:
            return parse_cri_log(f.read())
    except OSError as exc:
        raise BackendError(f"cannot read the container log {handle.log_path} ({exc.strerror})",
                           "the runtime writes it under the sandbox's log directory") from None


@dataclass
class _Run:
    """One run's pod in the backend: its handle, or the state it ended in without one (rejected)."""

    qos: str
    handle: CriPodHandle | None = None
    state: PodState | None = None
    planned: dict[str, Any] = field(default_factory=dict)


def exec_pod(client: CriClient, handle: CriPodHandle, pod: CriPod, write: Callable[[str, str], None], *,
             poll_s: float = 0.5, cleaning: Callable[[], None] = lambda: None) -> tuple[int, str | None]:
    """Start ``pod``, pass its log lines to ``write(stream, line)`` as they come, wait for the
    container to exit, then remove everything (``remove_pod``) on every path; ``cleaning`` is
    called first (the CLI stops Ctrl-C and SIGTERM from interrupting the removal).
    Returns (exit code, reason: None, ``Error``, ``OOMKilled``...).

    Raises:
        CriError: a call failed (what was made is removed first). KeyboardInterrupt passes through
        after the removal.
    """
    reader, offset = CriLogLines(), 0
    try:
        start_pod(client, handle, pod)
        while True:
            phase, code, reason, _message = container_state(client, handle)
            offset = _follow(handle.log_path, offset, reader, write)
            if phase in ("Succeeded", "Failed"):
                for stream, line in reader.flush():
                    write(stream, line)
                return (code if code is not None else 1), reason
            time.sleep(poll_s)
    finally:
        cleaning()
        remove_pod(client, handle)


def _follow(path: str, offset: int, reader: CriLogLines, write: Callable[[str, str], None]) -> int:
    """Pass on what the runtime appended to the log since ``offset``; the new offset."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return offset  # not started yet
    for stream, line in reader.feed(data.decode("utf-8", errors="replace")):
        write(stream, line)
    return offset + len(data)


class CriBackend:
    """The ``orchestrate`` backend calls (``create``/``observe``/``logs``/``delete``) over the CRI."""

    name = "cri"

    def __init__(self, exp, cri_socket: str = DEFAULT_SOCKET, *, cgroup_driver: str = "cgroupfs",
                 cgroup_root: str = DEFAULT_CGROUP_ROOT, topology=None, log_root: str | None = None,
                 client: CriClient | None = None):
        """Raises:
            UsageError: a fleet experiment, bad local settings, or grpcio missing.
            CriError: the runtime does not answer, or lacks the experiment's image.
        """
        cgroup_parent("Guaranteed", "x", cgroup_driver, cgroup_root)  # a bad driver fails here, not per pod
        self.exp = exp
        self.node = model_node(exp, topology, self.name)
        self.cgroup_driver, self.cgroup_root, self.log_root = cgroup_driver, cgroup_root, log_root
        self.hostname = socket.gethostname()
        self.client = client or CriClient(cri_socket)
        self.leftovers = check_runtime(self.client, exp.image)
        self._runs: dict[str, _Run] = {}

    def discover_nodes(self, node_selector) -> list[str]:  # pragma: no cover - refused in __init__
        raise UsageError("fleet mode needs the kubernetes backend", "use --backend kubernetes")

    def create(self, run: PlannedRun, timeout_s: int) -> None:
        """Admit, then RunPodSandbox / CreateContainer / StartContainer. A pod the model rejects is
        recorded as failed with the kubelet's reason. Raises CriError (after removing whatever was
        made) when the runtime refuses a call."""
        adm = admit(self.exp, self.node, run, self.hostname)
        if adm.rejected is not None:
            self._runs[run.job_name] = _Run(adm.plan.qos, state=adm.rejected)
            return
        assert adm.planned is not None  # admit() fills it in whenever it does not reject
        handle = new_handle(adm.plan.qos, adm.pod.uid, self.cgroup_driver, self.cgroup_root, self.log_root)
        planned = {**adm.planned, "cgroup_parent": handle.cgroup_parent, "cgroup_driver": self.cgroup_driver}
        self._runs[run.job_name] = _Run(adm.plan.qos, handle, planned=planned)  # before any call: delete() finds it
        labels = {k: str(v) for k, v in (run.manifest["metadata"].get("labels") or {}).items()
                  if k.startswith(LABEL_PREFIX)}
        p = adm.placement
        pod = CriPod(name=run.job_name, uid=adm.pod.uid, namespace=self.exp.namespace, qos=adm.plan.qos,
                     image=self.exp.image, command=tuple(container_argv(self.exp, run.variant)),
                     cpuset_cpus=planned["cpuset_cpus"], cpuset_mems=planned["cpuset_mems"],
                     memory_limit_bytes=p.memory_limit_bytes,
                     hugepage_limits_bytes=hugepage_limits_bytes(adm.pod.container(CONTAINER_NAME)),
                     container_name=CONTAINER_NAME, labels={**labels, **runner_labels(self.hostname)})
        try:
            start_pod(self.client, handle, pod)
        except CriError:
            try:
                self.delete(run)
            except BackendError:
                pass
            raise

    def observe(self, runs: list[PlannedRun]) -> dict[str, PodState]:
        out: dict[str, PodState] = {}
        for run in runs:
            r = self._runs.get(run.job_name)
            if r is None or r.handle is None:
                # A run without a handle was rejected by admission and carries its Failed state.
                out[run.job_name] = r.state if r is not None and r.state is not None else PodState()
                continue
            phase, code, reason, message = container_state(self.client, r.handle)
            terminal = phase in ("Succeeded", "Failed")
            out[run.job_name] = PodState(
                pod=run.job_name, phase=phase, terminal=terminal, reason=reason, message=message, node=self.hostname,
                qos_class=r.qos, attempts=1, exit_code=code, has_log=phase != "Pending",
                interrupted=code in (130, 143) and reason != "OOMKilled", planned=r.planned)
        return out

    def logs(self, run: PlannedRun, state: PodState) -> str:
        r = self._runs.get(run.job_name)
        if r is None or r.handle is None:
            raise BackendError(f"pod {run.job_name} has no log", "it never ran")
        return read_log(r.handle)

    def delete(self, run: PlannedRun) -> None:
        """StopPodSandbox and RemovePodSandbox (the containers go with it), the pod cgroup, the log."""
        r = self._runs.get(run.job_name)
        if r is None:
            return
        if r.handle is not None:
            remove_pod(self.client, r.handle)
        self._runs.pop(run.job_name, None)
