"""What the kubelet asks the runtime for, as CRI messages: pure builders, no I/O, no gRPC call.

Mirrors kubernetes/kubernetes ``pkg/kubelet/kuberuntime`` (``kuberuntime_sandbox.go``
``generatePodSandboxConfig``/``generatePodSandboxLinuxConfig``, ``kuberuntime_container_linux.go``
``generateLinuxContainerResources``) and ``pkg/kubelet/cm`` (``pod_container_manager_linux.go``
``GetPodContainerName``, ``cgroup_manager_linux.go`` for the systemd driver's names).
Units: bytes; CPU and node lists in the kernel's list syntax (``"2-3"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from numabench.errors import UsageError

QOS_CLASSES = ("Guaranteed", "Burstable", "BestEffort")
CGROUP_DRIVERS = ("cgroupfs", "systemd")
# Under this top directory (cgroupfs) the pods get the kubelet's names; a real kubelet's
# /kubepods is never used: its orphan cleanup would kill pods it does not know.
DEFAULT_CGROUP_ROOT = "/numabench"
MANAGED_LABEL = "numabench.io/managed-by"
# Whose pod it is: a later run removes the pods whose runner (host, pid) is gone.
RUNNER_HOST_LABEL = "numabench.io/runner-host"
RUNNER_PID_LABEL = "numabench.io/runner-pid"
# What a later run needs to clean up after a SIGKILLed runner, beyond the sandbox itself.
CGROUP_PARENT_ANNOTATION = "numabench.io/cgroup-parent"
LOG_DIR_ANNOTATION = "numabench.io/log-dir"
RUNTIME_DEFAULT_SECCOMP = 0  # SecurityProfile.ProfileType.RuntimeDefault
NONROOT_UID = 65532
# The cgroup file names of hugetlb page sizes, as the kubelet writes them (``HugepageLimit.page_size``).
_HUGEPAGE_CGROUP_NAMES = {2 << 20: "2MB", 1 << 30: "1GB"}


@dataclass(frozen=True)
class CriPod:
    """One pod and its single container, as the kubelet would create it.

    ``cpuset_cpus``/``cpuset_mems`` come from the CPU and Memory Managers (``pod plan``);
    ``memory_limit_bytes`` None means no limit; ``hugepage_limits_bytes`` maps a page size in bytes
    to the container's limit in bytes.
    """

    name: str
    uid: str
    namespace: str
    qos: str
    image: str
    command: tuple[str, ...]
    cpuset_cpus: str
    cpuset_mems: str
    memory_limit_bytes: int | None
    hugepage_limits_bytes: dict[int, int] = field(default_factory=dict)
    container_name: str = "numabench"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    log_directory: str = ""
    run_as_user: int = NONROOT_UID


def cgroup_parent(qos: str, uid: str, driver: str = "cgroupfs", root: str = DEFAULT_CGROUP_ROOT) -> str:
    """The pod cgroup the kubelet names for ``qos`` (``GetPodContainerName``).

    cgroupfs: ``<root>/kubepods[/burstable|/besteffort]/pod<uid>``. systemd: the slice name
    ``kubepods[-burstable|-besteffort]-pod<uid with _>.slice`` (systemd nests it by its dashes;
    ``root`` does not apply, as the kubelet's own cgroupRoot does not for slices).

    Raises:
        UsageError: an unknown QoS class or driver.
    """
    if qos not in QOS_CLASSES:
        raise UsageError(f"unknown QoS class {qos!r}", f"use one of {', '.join(QOS_CLASSES)}")
    if driver not in CGROUP_DRIVERS:
        raise UsageError(f"unknown cgroup driver {driver!r}", "use cgroupfs or systemd (the runtime's setting)")
    level = "" if qos == "Guaranteed" else qos.lower()
    if driver == "systemd":
        return f"kubepods{'-' + level if level else ''}-pod{uid.replace('-', '_')}.slice"
    parts = [root.strip("/"), "kubepods", level, f"pod{uid}"]
    return "/" + "/".join(p for p in parts if p)


def hugepage_limits(limits_bytes: dict[int, int], page_sizes: tuple[int, ...] = tuple(_HUGEPAGE_CGROUP_NAMES)):
    """``HugepageLimit`` messages: the container's limit for each size it asks for, 0 for every other
    size the node has (``GetHugepageLimitsFromResources``: a pod may not use what it did not request).

    Raises:
        UsageError: a page size the hugetlb controller does not name here (only 2 MiB and 1 GiB).
    """
    from numabench.kube.cri.proto import api_pb2 as api

    out = []
    for size in sorted(set(page_sizes) | set(limits_bytes)):
        name = _HUGEPAGE_CGROUP_NAMES.get(size)
        if name is None:
            raise UsageError(f"hugepage size {size} bytes has no hugetlb cgroup name here", "use 2Mi or 1Gi pages")
        out.append(api.HugepageLimit(page_size=name, limit=limits_bytes.get(size, 0)))
    return out


def sandbox_config(pod: CriPod, parent: str):
    """``PodSandboxConfig``: host network (no CNI needed), runtime default seccomp, the pod cgroup."""
    from numabench.kube.cri.proto import api_pb2 as api

    labels = {"io.kubernetes.pod.name": pod.name, "io.kubernetes.pod.namespace": pod.namespace,
              "io.kubernetes.pod.uid": pod.uid, **pod.labels}
    return api.PodSandboxConfig(
        metadata=api.PodSandboxMetadata(name=pod.name, uid=pod.uid, namespace=pod.namespace, attempt=0),
        log_directory=pod.log_directory,
        labels=labels,
        annotations=dict(pod.annotations),
        linux=api.LinuxPodSandboxConfig(
            cgroup_parent=parent,
            security_context=api.LinuxSandboxSecurityContext(
                namespace_options=api.NamespaceOption(network=api.NODE, pid=api.POD, ipc=api.POD),
                seccomp=api.SecurityProfile(profile_type=RUNTIME_DEFAULT_SECCOMP),
                run_as_user=api.Int64Value(value=pod.run_as_user),
            ),
        ),
    )


def container_config(pod: CriPod):
    """``ContainerConfig``: the command, ``LinuxContainerResources`` (cpuset, memory, hugepages) and a
    restricted security context (non-root, no capability, no privilege escalation, read-only root,
    runtime default seccomp)."""
    from numabench.kube.cri.proto import api_pb2 as api

    resources = api.LinuxContainerResources(
        cpuset_cpus=pod.cpuset_cpus, cpuset_mems=pod.cpuset_mems,
        memory_limit_in_bytes=pod.memory_limit_bytes or 0,
        hugepage_limits=hugepage_limits(pod.hugepage_limits_bytes))
    security = api.LinuxContainerSecurityContext(
        capabilities=api.Capability(drop_capabilities=["ALL"]),
        namespace_options=api.NamespaceOption(network=api.NODE, pid=api.CONTAINER, ipc=api.POD),
        run_as_user=api.Int64Value(value=pod.run_as_user),
        run_as_group=api.Int64Value(value=pod.run_as_user),
        readonly_rootfs=True, no_new_privs=True,
        seccomp=api.SecurityProfile(profile_type=RUNTIME_DEFAULT_SECCOMP))
    labels = {"io.kubernetes.container.name": pod.container_name, "io.kubernetes.pod.name": pod.name,
              "io.kubernetes.pod.namespace": pod.namespace, "io.kubernetes.pod.uid": pod.uid, **pod.labels}
    return api.ContainerConfig(
        metadata=api.ContainerMetadata(name=pod.container_name, attempt=0),
        image=api.ImageSpec(image=pod.image),
        command=list(pod.command),
        log_path=f"{pod.container_name}/0.log",
        labels=labels,
        linux=api.LinuxContainerConfig(resources=resources, security_context=security),
    )


class CriLogLines:
    """The container's lines from a CRI log file, fed in pieces as the runtime writes it.

    The format is ``<RFC3339 time> <stdout|stderr> <P|F> <text>`` a line; ``P`` is a partial line the
    runtime split at its size limit. Streams are reassembled separately, so a split stdout line stays
    whole whatever stderr printed in between.
    """

    def __init__(self) -> None:
        self._partial = {"stdout": "", "stderr": ""}
        self._rest = ""  # an unfinished log line: the runtime is still writing it

    def feed(self, text: str) -> list[tuple[str, str]]:
        """(stream, line with its newline) of every line completed by ``text``."""
        lines = (self._rest + text).split("\n")
        self._rest = lines.pop()
        return [out for line in lines for out in self._line(line)]

    def flush(self) -> list[tuple[str, str]]:
        """What is left once the container has ended (an unterminated last line, split parts)."""
        out = self._line(self._rest) if self._rest else []
        self._rest = ""
        out += [(stream, text + "\n") for stream, text in self._partial.items() if text]
        self._partial = {"stdout": "", "stderr": ""}
        return out

    def _line(self, line: str) -> list[tuple[str, str]]:
        parts = line.split(" ", 3)
        if len(parts) < 3 or parts[1] not in self._partial:
            return []
        stream, tag, body = parts[1], parts[2], parts[3] if len(parts) > 3 else ""
        if tag == "P":
            self._partial[stream] += body
            return []
        whole, self._partial[stream] = self._partial[stream] + body, ""
        return [(stream, whole + "\n")]


def parse_cri_log(text: str) -> str:
    """The container's output (both streams) from a whole CRI log file (see ``CriLogLines``)."""
    reader = CriLogLines()
    return "".join(line for _stream, line in reader.feed(text) + reader.flush())
