"""Pod specs: read a Pod (or a workload's pod template) from YAML or JSON into containers with their
requests and limits, in the units numabench computes with.

Units: CPU in cores as an exact ``Fraction`` (``"250m"`` is 1/4), memory and hugepages in bytes.
Quantities are parsed by ``numabench.kube.resources.parse_quantity``.

API defaulting applied here, as the API server would before the kubelet sees the pod
(``pkg/apis/core/v1/defaults.go``, ``SetDefaults_Pod``): a resource with a limit and no request
gets a request equal to the limit. Validation the API server would refuse
(``pkg/apis/core/validation/validation.go``): a request above its limit, a negative quantity,
hugepages whose request differs from the limit, duplicate or missing container names.

Kinds: ``Pod``; the pod template of ``Deployment``, ``ReplicaSet``, ``StatefulSet``, ``DaemonSet``,
``Job``, ``PodTemplate``; ``CronJob``'s job template.

Pod-level resources (``spec.resources``, KEP-2837: cpu, memory and hugepages only) are read into
``PodSpec.pod_requests`` / ``pod_limits`` with the same defaulting and validation as a container's;
the admission model decides what a kubelet version does with them (KEP-5526).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from numabench.errors import UsageError
from numabench.kube.resources import CPU, HUGEPAGES_PREFIX, MEMORY, hugepage_size_bytes, parse_quantity, quantity_bytes
from numabench.util import docload

__all__ = [
    "Container",
    "PodSpec",
    "load_pod",
    "pod_from_dict",
]

_WORKLOAD_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController")


@dataclass(frozen=True)
class Container:
    """One container's resources after API defaulting. ``cpu`` in cores, everything else bytes.

    Keys of ``requests``/``limits``: ``cpu`` (Fraction of cores), ``memory`` and ``hugepages-<size>``
    (int bytes). Other resources (``ephemeral-storage``, devices) are kept in ``other``, by name.
    """

    name: str
    requests: dict[str, Any]
    limits: dict[str, Any]
    init: bool = False
    restartable: bool = False  # an init container with restartPolicy: Always (a sidecar)
    other: dict[str, str] = field(default_factory=dict)

    @property
    def memory_limit_bytes(self) -> int | None:
        return self.limits.get(MEMORY)

    def memory_requests(self) -> dict[str, int]:
        """What Memory Manager pins: ``memory`` and every ``hugepages-*`` request, in bytes
        (``getRequestedResources`` in ``memorymanager/policy_static.go``)."""
        return {k: int(v) for k, v in self.requests.items() if k == MEMORY or k.startswith(HUGEPAGES_PREFIX)}

    def to_dict(self) -> dict[str, Any]:
        def enc(res: dict[str, Any]) -> dict[str, Any]:
            return {k: (str(v) if isinstance(v, Fraction) else v) for k, v in sorted(res.items())}

        return {"name": self.name, "init": self.init, "restartable": self.restartable,
                "requests": enc(self.requests), "limits": enc(self.limits), "other": dict(self.other)}


@dataclass(frozen=True)
class PodSpec:
    """A pod as the kubelet admits it: init containers (in order), then app containers."""

    name: str
    namespace: str
    uid: str
    init_containers: tuple[Container, ...]
    containers: tuple[Container, ...]
    source: str = ""
    # spec.resources (pod-level resources): cpu as a Fraction of cores, memory/hugepages in bytes
    pod_requests: dict[str, Any] = field(default_factory=dict)
    pod_limits: dict[str, Any] = field(default_factory=dict)

    @property
    def has_pod_resources(self) -> bool:
        """Whether the pod sets pod-level resources (``spec.resources``)."""
        return bool(self.pod_requests or self.pod_limits)

    @property
    def all_containers(self) -> tuple[Container, ...]:
        """Init containers first, then app containers: the kubelet's admission order
        (``append(pod.Spec.InitContainers, pod.Spec.Containers...)`` in ``scope_container.go``)."""
        return self.init_containers + self.containers

    def container(self, name: str) -> Container:
        """Raises UsageError when the pod has no container ``name``."""
        for c in self.all_containers:
            if c.name == name:
                return c
        names = ", ".join(c.name for c in self.all_containers)
        raise UsageError(f"pod {self.name} has no container {name!r}", f"pick one of: {names}")

    def to_dict(self) -> dict[str, Any]:
        def enc(res: dict[str, Any]) -> dict[str, Any]:
            return {k: (str(v) if isinstance(v, Fraction) else v) for k, v in sorted(res.items())}

        out: dict[str, Any] = {"name": self.name, "namespace": self.namespace, "uid": self.uid,
                               "source": self.source,
                               "init_containers": [c.to_dict() for c in self.init_containers],
                               "containers": [c.to_dict() for c in self.containers]}
        if self.has_pod_resources:
            out["resources"] = {"requests": enc(self.pod_requests), "limits": enc(self.pod_limits)}
        return out


def _resource_list(raw: Any, where: str) -> tuple[dict[str, Any], dict[str, str]]:
    if raw is None:
        return {}, {}
    if not isinstance(raw, dict):
        raise UsageError(f"{where} must be a mapping of resource name to quantity, got {type(raw).__name__}",
                         "write e.g. {cpu: 2, memory: 1Gi}")
    known: dict[str, Any] = {}
    other: dict[str, str] = {}
    for name, value in raw.items():
        name = str(name)
        what = f"{where}.{name}"
        if name == CPU:
            q = parse_quantity(value, what)
            if q < 0:
                raise UsageError(f"{what}: {value!r} is negative", "CPU quantities must be zero or more")
            known[CPU] = q
        elif name == MEMORY:
            known[MEMORY] = quantity_bytes(value, what)
        elif name.startswith(HUGEPAGES_PREFIX):
            hugepage_size_bytes(name)
            known[name] = quantity_bytes(value, what)
        else:
            other[name] = str(value)
    return known, other


def _requirements(resources: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """(requests, limits, other) of a resources block, after API defaulting and validation.

    Raises:
        UsageError: a malformed quantity, a request above its limit, hugepages request != limit.
    """
    requests, other_r = _resource_list(resources.get("requests"), f"{where}: requests")
    limits, other_l = _resource_list(resources.get("limits"), f"{where}: limits")
    # SetDefaults_Pod: a limit without a request sets the request.
    for res, lim in limits.items():
        requests.setdefault(res, lim)
    for res, req in requests.items():
        if res in limits and req > limits[res]:
            raise UsageError(f"{where}: requests.{res} {req} is above limits.{res} {limits[res]}",
                             "a request must be less than or equal to its limit")
        if res.startswith(HUGEPAGES_PREFIX) and res in limits and req != limits[res]:
            raise UsageError(f"{where}: {res} request {req} differs from its limit {limits[res]}",
                             "hugepages requests must equal their limits")
    return requests, limits, {**other_r, **{f"limits.{k}": v for k, v in other_l.items()}}


def _pod_resources(raw: Any, where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``spec.resources``: cpu, memory and hugepages only (the API's pod-level resources).

    Raises:
        UsageError: not a mapping, another resource, or what ``_requirements`` refuses.
    """
    if not raw:
        return {}, {}
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: spec.resources is not a mapping", "write resources: {requests: ..., limits: ...}")
    requests, limits, other = _requirements(raw, f"{where}: spec.resources")
    if other:
        raise UsageError(f"{where}: spec.resources names {', '.join(sorted(other))}",
                         "pod-level resources take only cpu, memory and hugepages-<size>")
    return requests, limits


def _check_pod_budget(pod_requests: dict[str, Any], inits, apps, where: str) -> None:
    """API validation of pod-level resources (KEP-2837): each pod-level request is at least what the
    containers ask together (app containers plus sidecars, at least the largest init container).

    Raises:
        UsageError: a pod-level request below the containers' aggregate.
    """
    for res, budget in pod_requests.items():
        init_max = sidecars = Fraction(0)
        for c in inits:
            q = Fraction(c.requests.get(res, 0))
            if c.restartable:
                sidecars += q
            else:
                init_max = max(init_max, sidecars + q)
        apps_total = sidecars + sum((Fraction(c.requests.get(res, 0)) for c in apps), Fraction(0))
        need = max(init_max, apps_total)
        if need > budget:
            raise UsageError(f"{where}: spec.resources requests.{res} {budget} is below what the containers request "
                             f"({need})", "raise the pod-level request or lower the containers'")


def _container(raw: Any, where: str, init: bool) -> Container:
    if not isinstance(raw, dict):
        raise UsageError(f"{where} is not a mapping", "each container is a mapping with a name and resources")
    name = raw.get("name")
    if not name or not isinstance(name, str):
        raise UsageError(f"{where} has no name", "give every container a name")
    where = f"container {name}"
    resources = raw.get("resources") or {}
    if not isinstance(resources, dict):
        raise UsageError(f"{where}: resources is not a mapping", "write resources: {requests: ..., limits: ...}")
    requests, limits, other = _requirements(resources, where)
    restartable = init and raw.get("restartPolicy") == "Always"
    return Container(name=name, requests=requests, limits=limits, init=init, restartable=restartable, other=other)


def _pod_spec_of(doc: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metadata, pod spec) of a Pod or a workload's pod template."""
    kind = doc.get("kind")
    metadata = doc.get("metadata") or {}
    spec = doc.get("spec")
    if kind == "Pod":
        template_spec = spec
    elif kind in _WORKLOAD_KINDS:
        template = (spec or {}).get("template") or {}
        template_spec = template.get("spec")
        metadata = {**metadata, **(template.get("metadata") or {}), "name": metadata.get("name")}
    elif kind == "CronJob":
        template = (((spec or {}).get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        template_spec = template.get("spec")
    elif kind == "PodTemplate":
        template_spec = (doc.get("template") or {}).get("spec")
    else:
        raise UsageError(f"{where}: kind {kind!r} is not a Pod or a workload with a pod template",
                         "give a Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob or PodTemplate")
    if not isinstance(template_spec, dict):
        raise UsageError(f"{where}: the {kind} has no pod spec", "add spec.containers (or spec.template.spec)")
    return metadata if isinstance(metadata, dict) else {}, template_spec


def pod_from_dict(doc: Any, source: str = "<pod>") -> PodSpec:
    """Build a PodSpec from a parsed manifest (see the module docstring for what is accepted).

    A pod without ``metadata.uid`` gets a uid derived from its namespace and name (uuid5), so
    that the same manifest always plans the same way.

    Raises:
        UsageError: not a pod, no containers, malformed resources (pod-level ones included),
            duplicate names; the message names the file and the field.
    """
    if not isinstance(doc, dict):
        raise UsageError(f"{source}: not a Kubernetes object (a mapping with kind and spec)",
                         "give a Pod manifest, e.g. the output of kubectl get pod NAME -o yaml")
    if doc.get("apiVersion") not in (None, "v1") and doc.get("kind") in ("Pod", "PodTemplate"):
        raise UsageError(f"{source}: apiVersion {doc.get('apiVersion')!r} for a {doc.get('kind')}",
                         "Pods are apiVersion: v1")
    metadata, spec = _pod_spec_of(doc, source)
    pod_requests, pod_limits = _pod_resources(spec.get("resources"), source)
    raw_containers = spec.get("containers")
    if not isinstance(raw_containers, list) or not raw_containers:
        raise UsageError(f"{source}: the pod has no containers", "add spec.containers with at least one container")
    raw_inits = spec.get("initContainers") or []
    if not isinstance(raw_inits, list):
        raise UsageError(f"{source}: spec.initContainers is not a list", "write initContainers as a list")
    inits = tuple(_container(c, f"{source}: initContainers[{i}]", True) for i, c in enumerate(raw_inits))
    apps = tuple(_container(c, f"{source}: containers[{i}]", False) for i, c in enumerate(raw_containers))
    seen: set[str] = set()
    for c in inits + apps:
        if c.name in seen:
            raise UsageError(f"{source}: two containers are named {c.name!r}", "container names must be unique")
        seen.add(c.name)
    _check_pod_budget(pod_requests, inits, apps, source)
    name = str(metadata.get("name") or "pod")
    namespace = str(metadata.get("namespace") or "default")
    uid = str(metadata.get("uid") or uuid.uuid5(uuid.NAMESPACE_URL, f"numabench/{namespace}/{name}"))
    return PodSpec(name=name, namespace=namespace, uid=uid, init_containers=inits, containers=apps, source=source,
                   pod_requests=pod_requests, pod_limits=pod_limits)


def load_pod(path: str) -> PodSpec:
    """Read a pod manifest (YAML or JSON; one document) from ``path``.

    Raises:
        UsageError: the file cannot be read or parsed, holds several documents, or is not a pod
            (see ``pod_from_dict``).
    """
    docs = docload.load_document(path, what="pod file", fix="give the path of a Pod YAML", all_documents=True)
    if len(docs) != 1:
        raise UsageError(f"{path} holds {len(docs)} documents", "give a file with exactly one pod manifest")
    return pod_from_dict(docs[0], source=os.path.basename(path))
