"""The QoS class of a pod, as ``pkg/apis/core/v1/helper/qos/qos.go`` (``GetPodQOS``) computes it.

The rule, over app and init containers together, and over cpu and memory only (hugepages,
ephemeral storage and devices never change the class):

- sum every positive request and every positive limit per resource, over all containers;
- a container without both a positive cpu limit and a positive memory limit makes the pod not
  Guaranteed;
- no positive request and no positive limit anywhere: **BestEffort**;
- still possibly Guaranteed, and for every resource with requests the summed limit exists and
  equals the summed request, and as many resources have requests as have limits: **Guaranteed**;
- otherwise **Burstable**.

With pod-level resources (``spec.resources``, feature ``PodLevelResources``), ``ComputePodQOS``
applies the same rule to the pod-level requests and limits alone; the containers' own resources
do not count.

The kubelet sees pods after API defaulting (a limit without a request sets the request;
``podspec`` applies it). qos.go compares *sums*, and this module does too; since validation keeps
every request at or below its limit, equal sums mean equal requests and limits in every container.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from numabench.kube.podspec import Container, PodSpec
from numabench.kube.resources import CPU, MEMORY

__all__ = ["GUARANTEED", "BURSTABLE", "BEST_EFFORT", "qos_class", "pod_qos"]

GUARANTEED = "Guaranteed"
BURSTABLE = "Burstable"
BEST_EFFORT = "BestEffort"

_QOS_RESOURCES = (CPU, MEMORY)  # supportedQoSComputeResources


def qos_class(containers: Iterable[Container]) -> str:
    """The QoS class of a pod made of ``containers`` (app and init alike): one of
    ``"Guaranteed"``, ``"Burstable"``, ``"BestEffort"``. Raises nothing."""
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    for c in containers:
        for name in _QOS_RESOURCES:
            q = c.requests.get(name)
            if q is not None and q > 0:
                requests[name] = requests.get(name, 0) + Fraction(q)
        found = set()
        for name in _QOS_RESOURCES:
            q = c.limits.get(name)
            if q is not None and q > 0:
                found.add(name)
                limits[name] = limits.get(name, 0) + Fraction(q)
        if not found >= set(_QOS_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return BEST_EFFORT
    if guaranteed:
        for name, req in requests.items():
            if name not in limits or limits[name] != req:
                guaranteed = False
                break
    if guaranteed and len(requests) == len(limits):
        return GUARANTEED
    return BURSTABLE


def pod_qos(pod: PodSpec) -> str:
    """The QoS class of ``pod``: from its pod-level resources when it has any, else ``qos_class``
    over its app and init containers."""
    if pod.has_pod_resources:
        return qos_class([Container("<pod>", pod.pod_requests, pod.pod_limits)])
    return qos_class(pod.all_containers)
