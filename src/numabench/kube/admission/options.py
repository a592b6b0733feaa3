"""The CPU Manager and Topology Manager policy options, and which kubelet version has which.

Option names and values as the KubeletConfiguration writes them (``cpuManagerPolicyOptions``,
``topologyManagerPolicyOptions``: string values, parsed as Go's ``strconv.ParseBool`` /
``strconv.Atoi`` do). Sources: ``pkg/kubelet/cm/cpumanager/policy_options.go``,
``pkg/kubelet/cm/topologymanager/policy_options.go`` and the feature gates of
``pkg/features/kube_features.go``; the "since" versions below are the first minor release whose
kubelet accepts the option (alpha options need the ``CPUManagerPolicyAlphaOptions`` /
``TopologyManagerPolicyAlphaOptions`` gate; the plan says so in a note).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from numabench.errors import UsageError
from numabench.kube.resources import MAX_NUMA_NODES

__all__ = ["CPU_OPTIONS", "TOPOLOGY_OPTIONS", "LATEST", "PolicyOptions", "parse_version", "policy_options",
           "version_has"]

LATEST = (1, 35)  # the newest minor release whose rules this model follows

# option -> (first minor version, maturity there, minor version it became beta/GA or None)
CPU_OPTIONS: dict[str, tuple[int, str]] = {
    "full-pcpus-only": (22, "alpha"),           # beta 1.23, GA 1.33
    "distribute-cpus-across-numa": (23, "alpha"),  # beta 1.33
    "align-by-socket": (25, "alpha"),
    "distribute-cpus-across-cores": (31, "alpha"),
    "strict-cpu-reservation": (31, "alpha"),    # beta 1.32
    "prefer-align-cpus-by-uncorecache": (32, "alpha"),  # beta 1.34
}
_CPU_BETA = {"full-pcpus-only": 23, "distribute-cpus-across-numa": 33, "strict-cpu-reservation": 32,
             "prefer-align-cpus-by-uncorecache": 34}
TOPOLOGY_OPTIONS: dict[str, tuple[int, str]] = {
    "prefer-closest-numa-nodes": (26, "alpha"),  # beta 1.28, GA 1.32
    "max-allowable-numa-nodes": (31, "beta"),    # GA 1.35
}
_TOPOLOGY_BETA = {"prefer-closest-numa-nodes": 28}

# Rules that changed between releases (minor version from which the newer rule applies).
RULES: dict[str, int] = {
    # restartPolicy: Always on init containers (SidecarContainers, beta and on by default)
    "sidecar-containers": 29,
}


def parse_version(text: str) -> tuple[int, int]:
    """``"latest"`` or ``"1.NN"`` (``v1.30``, ``1.30.2`` too) as (1, NN).

    Raises:
        UsageError: anything else, or a release this model has no rules for.
    """
    if text in ("", "latest"):
        return LATEST
    m = re.fullmatch(r"v?1\.(\d+)(?:\.\d+)?", text.strip())
    if not m:
        raise UsageError(f"kubelet version {text!r} is not a version", "give latest or a minor version such as 1.30")
    minor = int(m.group(1))
    if not 22 <= minor <= LATEST[1]:
        raise UsageError(f"kubelet version 1.{minor} is outside the releases this model follows (1.22 to "
                         f"1.{LATEST[1]})", "give a kubelet version from 1.22 to latest")
    return 1, minor


def version_has(rule: str, version: tuple[int, int]) -> bool:
    """Whether kubelet ``version`` applies the newer ``rule`` (a key of ``RULES``)."""
    return version[1] >= RULES[rule]


@dataclass(frozen=True)
class PolicyOptions:
    """The options in force. ``notes``: what the plan should say (alpha gates, options without effect)."""

    full_pcpus_only: bool = False
    distribute_numa: bool = False
    align_by_socket: bool = False
    spread_cores: bool = False
    strict_reservation: bool = False
    prefer_closest: bool = False
    max_numa_nodes: int = MAX_NUMA_NODES
    version: tuple[int, int] = LATEST
    notes: tuple[str, ...] = field(default=())


def _bool(name: str, value: str) -> bool:
    text = str(value).strip()
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise UsageError(f"policy option {name}: {value!r} is not a boolean", f"write {name}: \"true\"")


def _check(name: str, table: dict[str, tuple[int, str]], beta: dict[str, int], version: tuple[int, int],
           kind: str, notes: list[str]) -> None:
    if name not in table:
        raise UsageError(f"unknown {kind} policy option {name!r}", f"use one of: {', '.join(sorted(table))}")
    since, maturity = table[name]
    if version[1] < since:
        raise UsageError(f"{kind} policy option {name} does not exist in kubelet 1.{version[1]} (added in 1.{since})",
                         f"drop it, or plan for kubelet 1.{since} or later")
    if maturity == "alpha" and version[1] < beta.get(name, 99):
        gate = "CPUManagerPolicyAlphaOptions" if kind == "CPU Manager" else "TopologyManagerPolicyAlphaOptions"
        notes.append(f"{name} is alpha in kubelet 1.{version[1]}: it needs the feature gate {gate}")


def policy_options(cpu: Mapping[str, str], topology: Mapping[str, str], kubelet_version: str,
                   strict_cpu_reservation: bool = False) -> PolicyOptions:
    """The options of a ``KubeletSettings``, checked against ``kubelet_version``.

    Raises:
        UsageError: an unknown option (named), one the version does not have, a bad value.
    """
    version = parse_version(kubelet_version)
    notes: list[str] = []
    flags: dict[str, bool] = {}
    for name, value in cpu.items():
        _check(name, CPU_OPTIONS, _CPU_BETA, version, "CPU Manager", notes)
        flags[name] = _bool(name, value)
    if flags.get("prefer-align-cpus-by-uncorecache"):
        notes.append("prefer-align-cpus-by-uncorecache is not modelled: CPUs are taken as without it")
    if flags.get("distribute-cpus-across-cores") and flags.get("full-pcpus-only"):
        raise UsageError("CPU Manager policy options distribute-cpus-across-cores and full-pcpus-only together",
                         "the kubelet refuses this pair: keep one")
    if flags.get("distribute-cpus-across-cores") and flags.get("distribute-cpus-across-numa"):
        raise UsageError("CPU Manager policy options distribute-cpus-across-cores and distribute-cpus-across-numa "
                         "together", "the kubelet refuses this pair: keep one")
    max_numa = MAX_NUMA_NODES
    prefer_closest = False
    for name, value in topology.items():
        _check(name, TOPOLOGY_OPTIONS, _TOPOLOGY_BETA, version, "Topology Manager", notes)
        if name == "max-allowable-numa-nodes":
            try:
                max_numa = int(str(value).strip())
            except ValueError:
                raise UsageError(f"policy option max-allowable-numa-nodes: {value!r} is not an integer",
                                 "write max-allowable-numa-nodes: \"16\"") from None
            if max_numa < MAX_NUMA_NODES:
                raise UsageError(f"max-allowable-numa-nodes {max_numa} is below the default {MAX_NUMA_NODES}",
                                 f"give {MAX_NUMA_NODES} or more")
        else:
            prefer_closest = _bool(name, value)
    return PolicyOptions(
        full_pcpus_only=flags.get("full-pcpus-only", False),
        distribute_numa=flags.get("distribute-cpus-across-numa", False),
        align_by_socket=flags.get("align-by-socket", False),
        spread_cores=flags.get("distribute-cpus-across-cores", False),
        strict_reservation=strict_cpu_reservation or flags.get("strict-cpu-reservation", False),
        prefer_closest=prefer_closest, max_numa_nodes=max_numa, version=version, notes=tuple(notes))
