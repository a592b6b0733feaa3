"""``pod run --backend cri``: each run's pod started through the node's container runtime, as the kubelet does.

Per run: the kubelet model (``kube/model.py``) admits the pod on this machine's topology and gives
the container's cpuset, memory nodes and limits (what ``pod plan`` prints); then ``RunPodSandbox``
(host network, runtime default seccomp, the kubelet's pod cgroup name for the QoS class under
``cgroup_root``), ``CreateContainer`` (``LinuxContainerResources{cpuset_cpus, cpuset_mems,
memory_limit_in_bytes, hugepage_limits}``, non-root 65532, no capability, read-only root) and
``StartContainer``. ``observe`` reads ``ContainerStatus``; ``logs`` reads the container's CRI log
file, where ``numabench pod emit`` framed the result; ``delete`` is ``StopPodSandbox`` then
``RemovePodSandbox``. The run loop (``orchestrate.run_experiment``) calls ``delete`` on every path
(success, failure, Ctrl-C, SIGTERM). Against SIGKILL: every sandbox carries
``numabench.io/managed-by=numabench`` and its runner's host and pid; a later backend removes those
whose runner is gone (``remove_leftovers``).

Images are not pulled: the experiment's image must be in the runtime already (CRI ImageStatus says).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

from numabench.errors import UsageError
from numabench.kube.cri.client import DEFAULT_SOCKET, CriClient, CriError
from numabench.kube.cri.configs import (DEFAULT_CGROUP_ROOT, MANAGED_LABEL, CriPod, cgroup_parent, container_config,
                                        parse_cri_log, sandbox_config)
from numabench.kube.manifests import CONTAINER_NAME, LABEL_PREFIX, PlannedRun, container_argv
from numabench.kube.orchestrate import BackendError, PodState

RUNNER_HOST_LABEL = "numabench.io/runner-host"
RUNNER_PID_LABEL = "numabench.io/runner-pid"
# ContainerState: CONTAINER_CREATED 0, CONTAINER_RUNNING 1, CONTAINER_EXITED 2, CONTAINER_UNKNOWN 3.
_PHASES = {0: "Pending", 1: "Running", 3: "Unknown"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_pod_cgroup(parent: str) -> None:
    """rmdir the pod cgroup in every hierarchy, as the kubelet's pod container manager does once the
    runtime has removed the sandbox (the runtime removes only its containers' cgroups). Best effort:
    a directory still in use stays."""
    from numabench.host.cgroups import parse_mountinfo
    from numabench.util.fsread import read_text

    for mount in parse_mountinfo(read_text("/proc/self/mountinfo") or ""):
        if mount.fstype in ("cgroup", "cgroup2"):
            try:
                os.rmdir(os.path.join(mount.mount_point, parent.lstrip("/")))
            except OSError:
                pass


def remove_leftovers(client: CriClient, hostname: str | None = None) -> list[str]:
    """Stop and remove every sandbox labelled by numabench whose runner process is gone (or ran on
    another host, whose pid cannot be checked here). Returns the removed sandbox ids.

    Raises:
        CriError: listing failed (a sandbox that cannot be removed is skipped and stays listed).
    """
    hostname = hostname or socket.gethostname()
    removed = []
    for sb in client.list_pod_sandboxes({MANAGED_LABEL: "numabench"}):
        labels = dict(sb.labels)
        pid = labels.get(RUNNER_PID_LABEL, "")
        if labels.get(RUNNER_HOST_LABEL) == hostname and pid.isdigit() and _alive(int(pid)):
            continue  # a live numabench's pod: not ours to remove
        try:
            client.remove_sandbox(sb.id)
            removed.append(sb.id)
        except CriError:
            pass
    return removed


class CriBackend:
    """The ``orchestrate`` backend calls (``create``/``observe``/``logs``/``delete``) over the CRI."""

    name = "cri"

    def __init__(self, exp, cri_socket: str = DEFAULT_SOCKET, *, cgroup_driver: str = "cgroupfs",
                 cgroup_root: str = DEFAULT_CGROUP_ROOT, topology=None, log_root: str | None = None,
                 client: CriClient | None = None):
        """Raises:
            UsageError: a fleet experiment, bad local settings, or grpcio missing.
            BackendError: the runtime does not answer, or lacks the experiment's image.
        """
        from numabench.host.topology import read_topology
        from numabench.kube.model import NodeDescription
        from numabench.util.cpulist import parse_cpulist

        if exp.fleet is not None:
            raise UsageError("fleet mode needs the kubernetes backend", "drop fleet: or use --backend kubernetes")
        reserved = None
        if exp.local.reserved_cpus is not None:
            try:
                reserved = parse_cpulist(exp.local.reserved_cpus)
            except ValueError as exc:
                raise UsageError(f"local.reservedSystemCPUs: {exc}", "write a CPU list such as 0") from None
        self.exp = exp
        self.node = NodeDescription.from_topology(topology or read_topology(), reserved_cpus=reserved)
        self.cgroup_driver, self.cgroup_root = cgroup_driver, cgroup_root
        self.hostname = socket.gethostname()
        self.log_root = log_root
        self.client = client or CriClient(cri_socket)
        try:
            self.client.version()
            if not self.client.image_present(exp.image):
                raise BackendError(f"the runtime at {self.client.socket} has no image {exp.image}",
                                   "load it there first (ctr -n k8s.io images import, or crictl pull); "
                                   "this backend never pulls")
            self.leftovers_removed = remove_leftovers(self.client, self.hostname)
        except CriError as exc:
            raise BackendError(str(exc)) from None
        self._pods: dict[str, dict] = {}

    def discover_nodes(self, node_selector) -> list[str]:  # pragma: no cover - refused in __init__
        raise UsageError("fleet mode needs the kubernetes backend", "use --backend kubernetes")

    def _plan(self, run: PlannedRun):
        from numabench.kube.model import plan_pod
        from numabench.kube.podspec import pod_from_dict

        pod = pod_from_dict(run.manifest, source=run.job_name)
        plan = plan_pod(pod, self.node, policy=self.exp.local.topology_manager_policy,
                        scope=self.exp.local.topology_manager_scope)
        return pod, plan

    def _cri_pod(self, run: PlannedRun, pod, plan, placement, log_dir: str) -> CriPod:
        from numabench.kube.podspec import HUGEPAGES_PREFIX, hugepage_size_bytes
        from numabench.util.cpulist import format_cpulist

        limits = pod.container(CONTAINER_NAME).limits
        huge = {hugepage_size_bytes(k): int(v) for k, v in limits.items() if k.startswith(HUGEPAGES_PREFIX)}
        labels = {k: str(v) for k, v in (run.manifest["metadata"].get("labels") or {}).items()
                  if k.startswith(LABEL_PREFIX)}
        labels.update({MANAGED_LABEL: "numabench", RUNNER_HOST_LABEL: self.hostname,
                       RUNNER_PID_LABEL: str(os.getpid())})
        return CriPod(name=run.job_name, uid=pod.uid, namespace=self.exp.namespace, qos=plan.qos,
                      image=self.exp.image, command=tuple(container_argv(self.exp, run.variant)),
                      cpuset_cpus=format_cpulist(placement.cpus), cpuset_mems=format_cpulist(placement.mems),
                      memory_limit_bytes=placement.memory_limit_bytes, hugepage_limits_bytes=huge,
                      container_name=CONTAINER_NAME, labels=labels, log_directory=log_dir)

    def create(self, run: PlannedRun, timeout_s: int) -> None:
        """Admit, then RunPodSandbox / CreateContainer / StartContainer. A pod the model rejects is
        recorded as failed with the kubelet's reason. Raises BackendError (after removing whatever
        was made) when the runtime refuses a call."""
        pod, plan = self._plan(run)
        if not plan.admitted:
            self._pods[run.job_name] = {"state": PodState(
                pod=run.job_name, phase="Failed", terminal=True, reason=plan.reason,
                message=f"Pod was rejected: {plan.message} ({plan.detail})", node=self.hostname, qos_class=plan.qos,
                attempts=1)}
            return
        placement = plan.placement(CONTAINER_NAME)
        log_dir = tempfile.mkdtemp(prefix=f"{run.job_name}-", dir=self.log_root)
        os.chmod(log_dir, 0o755)
        cri_pod = self._cri_pod(run, pod, plan, placement, log_dir)
        parent = cgroup_parent(plan.qos, pod.uid, self.cgroup_driver, self.cgroup_root)
        entry = {"log_dir": log_dir, "sandbox": None, "container": None, "qos": plan.qos, "cgroup_parent": parent,
                 "planned": {"cpuset_cpus": cri_pod.cpuset_cpus, "cpuset_mems": cri_pod.cpuset_mems,
                             "cpus": list(placement.cpus), "mems": list(placement.mems),
                             "exclusive_cpus": placement.exclusive_cpus, "memory_pinned": placement.memory_pinned,
                             "memory_limit_bytes": placement.memory_limit_bytes,
                             "hugepage_limits_bytes": {str(k): v for k, v in cri_pod.hugepage_limits_bytes.items()},
                             "topology_manager_policy": plan.policy, "cgroup_parent": parent}}
        self._pods[run.job_name] = entry  # before any call: delete() finds whatever gets made
        try:
            sb_config = sandbox_config(cri_pod, parent)
            entry["sandbox"] = self.client.run_pod_sandbox(sb_config)
            entry["container"] = self.client.create_container(entry["sandbox"], container_config(cri_pod), sb_config)
            self.client.start_container(entry["container"])
        except CriError as exc:
            try:
                self.delete(run)
            except BackendError:
                pass
            raise BackendError(str(exc)) from None

    def observe(self, runs: list[PlannedRun]) -> dict[str, PodState]:
        out = {}
        for run in runs:
            entry = self._pods.get(run.job_name)
            if entry is None:
                out[run.job_name] = PodState()
            elif "state" in entry:
                out[run.job_name] = entry["state"]
            else:
                out[run.job_name] = self._status(run.job_name, entry)
        return out

    def _status(self, name: str, entry: dict) -> PodState:
        try:
            st = self.client.container_status(entry["container"])
        except CriError as exc:
            raise BackendError(str(exc)) from None
        common = {"pod": name, "node": self.hostname, "qos_class": entry["qos"], "attempts": 1,
                  "planned": entry["planned"]}
        if st.state != 2:
            return PodState(phase=_PHASES.get(st.state, "Unknown"), has_log=st.state == 1, **common)
        ok = st.exit_code == 0
        reason = None if ok else (st.reason or "Error")
        interrupted = st.exit_code in (130, 143) and not st.reason == "OOMKilled"
        return PodState(phase="Succeeded" if ok else "Failed", terminal=True, reason=reason,
                        message=st.message or None, exit_code=st.exit_code, has_log=True,
                        interrupted=interrupted, **common)

    def logs(self, run: PlannedRun, state: PodState) -> str:
        entry = self._pods.get(run.job_name) or {}
        path = os.path.join(entry.get("log_dir", ""), CONTAINER_NAME, "0.log")
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return parse_cri_log(f.read())
        except OSError as exc:
            raise BackendError(f"cannot read the container log {path} ({exc.strerror})",
                               "the runtime writes it under the sandbox's log directory") from None

    def delete(self, run: PlannedRun) -> None:
        """StopPodSandbox and RemovePodSandbox (the containers go with it), then the log directory."""
        entry = self._pods.get(run.job_name)
        if entry is None:
            return
        if entry.get("sandbox"):
            try:
                self.client.remove_sandbox(entry["sandbox"])
            except CriError as exc:
                raise BackendError(f"{exc}: remove it with crictl rmp -f {entry['sandbox']}") from None
        self._pods.pop(run.job_name, None)
        if entry.get("sandbox") and self.cgroup_driver == "cgroupfs":
            _remove_pod_cgroup(entry["cgroup_parent"])
        if entry.get("log_dir"):
            shutil.rmtree(entry["log_dir"], ignore_errors=True)
