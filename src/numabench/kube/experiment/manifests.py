"""Kubernetes manifests for a pod experiment, and the framing of a result in a pod's log.

**One Job per run** (variant x repetition x node in fleet mode), ``backoffLimit`` from the
experiment (0 by default: a failure is recorded, not retried), ``ttlSecondsAfterFinished`` (the Job
controller removes what a killed runner left behind), ``activeDeadlineSeconds`` = the experiment's
``timeoutSeconds`` (the cluster stops a pod the runner stopped waiting for), pod ``restartPolicy:
Never``. Labels: ``numabench.io/experiment``, ``/variant``, ``/repetition``, ``/run`` (one id per
``pod run``), ``/node`` (fleet), ``app.kubernetes.io/name: numabench``.

**Fleet mode**: one Job per node, pinned by a required node affinity on ``kubernetes.io/hostname``
(not ``nodeName``, which would skip the scheduler's resource fit and give a pod that the kubelet
rejects with OutOfcpu instead of one that waits). An Indexed Job with pod anti-affinity was
rejected: it cannot say which node gets which index, and a node that cannot fit a pod leaves
one index pending with no node to blame.

**No privileges**: the pod runs as a non-root user (65532) with every capability dropped,
``allowPrivilegeEscalation: false``, ``seccompProfile: RuntimeDefault`` and a read-only root file
system (Pod Security Standard *Restricted*). None is needed: without ``CAP_SYS_NICE`` the runtime's
seccomp profile denies ``mbind``/``move_pages``, and numabench then places by first touch from a
CPU of the cgroup's cpuset (the cpuset.mems Memory Manager sets) and verifies with
``/proc/self/numa_maps``; each measurement records the method. ``automountServiceAccountToken:
false``: the pod never talks to the API.

**Hugepages**: a variant with ``hugepages-<size>`` limits gets an ``emptyDir`` of medium
``HugePages-<size>`` mounted at ``/hugepages-<size>`` (the form that works with one size or several).
numabench maps hugepages anonymously (``MAP_HUGETLB``), charged to the pod's hugetlb limit.

**The result in the log**: the container runs ``numabench pod emit -- numabench run --json ...``.
``emit`` keeps the command's stdout (the JSON result) and, when the command has ended, prints::

    NUMABENCH-RESULT-BEGIN v1 exit=<status> bytes=<JSON length> sha256=<hex of the JSON>
    <the JSON, gzip-compressed, base64, 76 characters a line>
    NUMABENCH-RESULT-END

The command's stderr (progress) passes through unchanged. Base64 lines cannot be mistaken for a
marker, are far below the 16 KiB at which container runtimes split log lines, and the digest
proves that nothing was lost or mixed in. The collector takes the last complete block.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from numabench.errors import FramingError, UsageError
from numabench.kube.experiment.spec import Experiment, Variant

__all__ = [
    "CONTAINER_NAME",
    "FRAME_BEGIN",
    "FRAME_END",
    "LABEL_PREFIX",
    "RUNNER_ROLE_RULES",
    "SUPPORTED_KUBERNETES_VERSIONS",
    "FramingError",
    "PlannedRun",
    "container_argv",
    "frame_result",
    "job_manifest",
    "manifest_run_id",
    "parse_framed",
    "plan_runs",
    "rbac_manifests",
    "to_yaml",
]

CONTAINER_NAME = "numabench"
LABEL_PREFIX = "numabench.io/"
FRAME_BEGIN = "NUMABENCH-RESULT-BEGIN"
FRAME_END = "NUMABENCH-RESULT-END"
FRAME_VERSION = "v1"
RUN_AS_USER = 65532  # the conventional "nonroot" uid of distroless images
# Minor versions whose official schemas every manifest is tested against (tests/unit/test_manifests.py
# takes each one kubernetes-validate ships from 1.29 on). Memory Manager is GA from 1.32, beta before.
SUPPORTED_KUBERNETES_VERSIONS = "1.29+"
HOSTNAME_LABEL = "kubernetes.io/hostname"
RUNNER_NAME = "numabench-runner"

# What `numabench pod run --backend kubernetes` calls, and so what its identity needs.
RUNNER_ROLE_RULES = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]
FLEET_DISCOVERY_RULES = [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]


# --------------------------------------------------------------------------- framing


def frame_result(stdout: bytes, exit_code: int) -> str:
    """The framed block ``numabench pod emit`` prints for a command's stdout (see the module docstring)."""
    digest = hashlib.sha256(stdout).hexdigest()
    body = base64.b64encode(gzip.compress(stdout, mtime=0)).decode("ascii")
    lines = [f"{FRAME_BEGIN} {FRAME_VERSION} exit={exit_code} bytes={len(stdout)} sha256={digest}"]
    lines += [body[i:i + 76] for i in range(0, len(body), 76)]
    lines.append(FRAME_END)
    return "\n".join(lines) + "\n"


_HEADER = re.compile(rf"^{FRAME_BEGIN} (?P<v>\S+) exit=(?P<exit>-?\d+) bytes=(?P<n>\d+) "
                     r"sha256=(?P<sha>[0-9a-f]{64})$")


@dataclass(frozen=True)
class Framed:
    """A result block found in a log: the command's stdout and its exit status."""

    payload: bytes
    exit_code: int


def parse_framed(log: str) -> Framed:
    """The last complete result block of a pod log.

    Raises:
        FramingError: no block, a block without its end (the container was killed mid-way), or
            one whose base64, gzip, length or sha256 does not check out (each named).
    """
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(FRAME_BEGIN + " ")]
    if not starts:
        raise FramingError("the log holds no result block (NUMABENCH-RESULT-BEGIN)",
                           "the container did not run `numabench pod emit`, or was killed before its command ended")
    start = starts[-1]
    m = _HEADER.match(lines[start].strip())
    if not m or m.group("v") != FRAME_VERSION:
        raise FramingError(f"malformed result header {lines[start][:120]!r}",
                           f"use a numabench image that writes framing {FRAME_VERSION}")
    try:
        end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == FRAME_END)
    except StopIteration:
        raise FramingError("the result block has no NUMABENCH-RESULT-END (the log was cut short)",
                           "check the pod's log size limit and whether it was killed") from None
    try:
        payload = gzip.decompress(base64.b64decode("".join(s.strip() for s in lines[start + 1:end]), validate=True))
    except (ValueError, OSError, EOFError) as exc:
        raise FramingError(f"the result block does not decode ({type(exc).__name__}: {exc})",
                           "another process wrote into the block; rerun the pod") from None
    if len(payload) != int(m.group("n")) or hashlib.sha256(payload).hexdigest() != m.group("sha"):
        raise FramingError("the result block's length or sha256 does not match its header",
                           "the log was altered; rerun the pod")
    return Framed(payload, int(m.group("exit")))


# --------------------------------------------------------------------------- names and runs


def manifest_run_id(exp: Experiment) -> str:
    """A stable run id for ``numabench pod manifests`` output: 6 hex digits of the experiment's content,
    so the same file gives the same names (``kubectl apply`` is idempotent on them)."""
    import json

    return hashlib.sha256(json.dumps(exp.to_dict(), sort_keys=True).encode()).hexdigest()[:6]


@dataclass(frozen=True)
class PlannedRun:
    """One pod to run: which variant, repetition and (fleet) node, the Job's name and manifest."""

    variant: Variant
    repetition: int
    node: str | None
    job_name: str
    manifest: dict[str, Any]

    @property
    def key(self) -> tuple[str, int, str | None]:
        return (self.variant.name, self.repetition, self.node)

    @property
    def label(self) -> str:
        where = f" on {self.node}" if self.node else ""
        return f"{self.variant.name} r{self.repetition}{where}"


def _job_name(exp: Experiment, variant: Variant, repetition: int, node_index: int | None, run_id: str) -> str:
    parts = ["nb", exp.name, variant.name, f"r{repetition}"]
    if node_index is not None:
        parts.append(f"n{node_index}")
    parts.append(run_id)
    name = "-".join(parts)
    if len(name) > 63:  # the job-name label of its pods must fit 63 characters
        raise UsageError(f"Job name {name} is {len(name)} characters, Kubernetes allows 63 here",
                         "shorten the experiment or variant name")
    return name


def labels_for(exp: Experiment, run_id: str, variant: Variant | None = None, repetition: int | None = None,
               node: str | None = None) -> dict[str, str]:
    """The labels that identify an experiment's objects (and select its pods)."""
    out = {"app.kubernetes.io/name": "numabench", "app.kubernetes.io/managed-by": "numabench",
           LABEL_PREFIX + "experiment": exp.name, LABEL_PREFIX + "run": run_id}
    if variant is not None:
        out[LABEL_PREFIX + "variant"] = variant.name
    if repetition is not None:
        out[LABEL_PREFIX + "repetition"] = str(repetition)
    if node is not None:
        out[LABEL_PREFIX + "node"] = node
    return out


def container_argv(exp: Experiment, variant: Variant, numabench: tuple[str, ...] = ("numabench",)) -> list[str]:
    """The container's command: ``numabench pod emit -- numabench run --json <options>``.
    ``numabench`` is how to call numabench (in the image: on PATH)."""
    return [*numabench, "pod", "emit", "--", *numabench, "run", "--json", *variant.run_args(exp.run_args)]


def _node_affinity(exp: Experiment, node: str | None) -> dict[str, Any] | None:
    affinity = dict(exp.affinity) if exp.affinity else {}
    if node is None:
        return affinity or None
    pin = {"key": HOSTNAME_LABEL, "operator": "In", "values": [node]}
    na = dict(affinity.get("nodeAffinity") or {})
    required = dict(na.get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = [dict(t) for t in required.get("nodeSelectorTerms") or []] or [{}]
    # Terms are ORed: the hostname must be ANDed into every one of them.
    for t in terms:
        t["matchExpressions"] = list(t.get("matchExpressions") or []) + [pin]
    required["nodeSelectorTerms"] = terms
    na["requiredDuringSchedulingIgnoredDuringExecution"] = required
    affinity["nodeAffinity"] = na
    return affinity


def job_manifest(exp: Experiment, variant: Variant, repetition: int, run_id: str, node: str | None = None,
                 node_index: int | None = None) -> dict[str, Any]:
    """The batch/v1 Job for one run (see the module docstring)."""
    name = _job_name(exp, variant, repetition, node_index, run_id)
    labels = labels_for(exp, run_id, variant, repetition, node)
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": exp.image,
        "command": container_argv(exp, variant),
        "resources": variant.resources,
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "readOnlyRootFilesystem": True, "runAsNonRoot": True},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
    }
    if exp.image_pull_policy:
        container["imagePullPolicy"] = exp.image_pull_policy
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    for res in variant.hugepage_resources:
        size = res[len("hugepages-"):]
        vol = f"hugepages-{size.lower()}"
        volumes.append({"name": vol, "emptyDir": {"medium": f"HugePages-{size}"}})
        container["volumeMounts"].append({"name": vol, "mountPath": f"/hugepages-{size}"})
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS_USER, "runAsGroup": RUN_AS_USER,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": volumes,
    }
    if exp.node_selector:
        pod_spec["nodeSelector"] = dict(exp.node_selector)
    affinity = _node_affinity(exp, node)
    if affinity:
        pod_spec["affinity"] = affinity
    if exp.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in exp.tolerations]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": exp.namespace, "labels": labels},
        "spec": {
            "backoffLimit": exp.backoff_limit,
            "activeDeadlineSeconds": exp.timeout_s,
            "ttlSecondsAfterFinished": exp.ttl_s,
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def plan_runs(exp: Experiment, run_id: str, nodes: list[str] | tuple[str, ...] | None = None) -> list[PlannedRun]:
    """Every run, in the order they are made: repetition by repetition, each variant in the file's
    order (interleaved, so drift on a node affects every variant alike). ``nodes`` (fleet mode):
    one run per node, in parallel across nodes.

    Raises:
        UsageError: a fleet experiment without nodes, or a Job name longer than 63 characters.
    """
    fleet_nodes: list[str] = []
    if exp.fleet is not None:
        fleet_nodes = list(nodes if nodes is not None else exp.fleet.nodes)
        if not fleet_nodes:
            raise UsageError(f"experiment {exp.name} is a fleet experiment but no node was given or found",
                             "name the nodes (fleet.nodes or --node) or check the nodeSelector")
    out = []
    for rep in range(exp.repetitions):
        for variant in exp.variants:
            if exp.fleet is None:
                m = job_manifest(exp, variant, rep, run_id)
                out.append(PlannedRun(variant, rep, None, m["metadata"]["name"], m))
                continue
            for i, node in enumerate(fleet_nodes):
                m = job_manifest(exp, variant, rep, run_id, node, i)
                out.append(PlannedRun(variant, rep, node, m["metadata"]["name"], m))
    return out


# --------------------------------------------------------------------------- RBAC for the runner


def rbac_manifests(exp: Experiment) -> list[dict[str, Any]]:
    """A least-privilege identity for whoever runs ``numabench pod run`` (e.g. a CI pod): a
    ServiceAccount, a Role on the experiment's namespace with exactly the verbs the runner uses
    (``RUNNER_ROLE_RULES``) and its RoleBinding; with fleet discovery, a ClusterRole to list nodes
    (cluster-scoped) and its ClusterRoleBinding. The benchmark pods themselves need none."""
    labels = {"app.kubernetes.io/name": "numabench", LABEL_PREFIX + "experiment": exp.name}
    ns = exp.namespace
    subject = {"kind": "ServiceAccount", "name": RUNNER_NAME, "namespace": ns}
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": RUNNER_NAME, "namespace": ns,
                                                                    "labels": labels}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": RUNNER_NAME, "namespace": ns, "labels": labels}, "rules": RUNNER_ROLE_RULES},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": RUNNER_NAME, "namespace": ns, "labels": labels},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RUNNER_NAME},
         "subjects": [subject]},
    ]
    if exp.fleet is not None and exp.fleet.discover:
        cluster_name = f"{RUNNER_NAME}-{ns}-nodes"
        docs += [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": cluster_name, "labels": labels}, "rules": FLEET_DISCOVERY_RULES},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": cluster_name, "labels": labels},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_name},
             "subjects": [subject]},
        ]
    return docs


RBAC_NOTE = """\
# The runner's identity (who runs `numabench pod run`), least privilege:
#   batch/jobs      create, get, delete  - one Job per run; read its status; delete it (propagation Foreground)
#   pods            list                 - find each Job's pod by label (numabench.io/run=<id>)
#   pods/log        get                  - read the framed result from the pod's log
#   nodes           list  (ClusterRole, only with fleet.discover) - the nodes matching nodeSelector
# The benchmark pods need no API access (automountServiceAccountToken: false), no privileged mode
# and no added capability: without CAP_SYS_NICE numabench places memory by first touch inside the
# cgroup's cpuset.mems and verifies it from /proc/self/numa_maps (Pod Security Standard Restricted).
"""


def to_yaml(docs: list[dict[str, Any]], header: str = "") -> str:
    """Documents as one multi-document YAML stream, keys in the order given."""
    import yaml

    return header + "---\n".join(yaml.safe_dump(d, sort_keys=False, default_flow_style=False) for d in docs)
