"""The pod experiment file: which pods to run, where, with which numabench command, how often.

One YAML (or JSON) document, checked strictly: an unknown key, a wrong type, a name Kubernetes
would refuse, a resource set whose QoS class is not the one the variant promises, or numabench
options ``numabench run`` would refuse are errors naming the field and the fix.

::

    version: 1
    name: alignment-worth              # DNS-1123 label, at most 24 characters
    namespace: numabench
    image: registry.example.com/numabench:0.1.0
    imagePullPolicy: IfNotPresent      # optional
    repetitions: 3                     # every variant this many times, interleaved
    timeoutSeconds: 1800               # per pod: the runner's wait and the Job's activeDeadlineSeconds
    backoffLimit: 0                    # Job retries (0: a failure is recorded, not retried)
    ttlSecondsAfterFinished: 3600      # the Job controller deletes what a killed runner left behind
    nodeSelector: {numa-zone: two-socket}
    affinity: {...}                    # a core/v1 Affinity, passed through
    tolerations: [{key: numa-zone, operator: Exists, effect: NoSchedule}]
    numabench: {args: [--size, 1G, --kernels, "latency,read", --pages, 4k, --repeat, 5, --threads, 2]}
    baseline: aligned                  # the variant the others are compared with (default: aligned, else the first)
    variants:
      - name: aligned
        qos: Guaranteed                # the class the resources must give (checked with kube/qos.py)
        expect: aligned                # the in-pod verdict this variant should get: aligned|misaligned|unpinned|any
        resources: {limits: {cpu: 2, memory: 4Gi, hugepages-2Mi: 1Gi}}
      - name: misaligned
        qos: Burstable
        expect: unpinned
        resources: {requests: {cpu: 2, memory: 4Gi}, limits: {memory: 4Gi}}
      - name: remote
        qos: Guaranteed
        memNode: 1                     # numabench run --mem-node 1 (a remote node, where the cpuset allows it)
        resources: {limits: {cpu: 2, memory: 4Gi}}
      - name: shared
        qos: BestEffort
    fleet:                             # optional: one pod per node (qualification of many nodes)
      nodes: [worker-1, worker-2]      # or discover: true (the nodes matching nodeSelector, at run time)
    local:                             # the `local` backend's kubelet model (defaults shown)
      topologyManagerPolicy: single-numa-node
      topologyManagerScope: container
      reservedSystemCPUs: "0"          # default: the lowest CPU

Everything here is plain data (``Experiment``); manifests and orchestration read it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from numabench.errors import UsageError
from numabench.kube.resources import TOPOLOGY_MANAGER_POLICIES, TOPOLOGY_MANAGER_SCOPES
from numabench.util import docload

__all__ = [
    "EXPECT_VERDICTS",
    "Experiment",
    "Fleet",
    "LocalModel",
    "Variant",
    "experiment_from_dict",
    "load_experiment",
]

FILE_VERSION = 1
EXPECT_VERDICTS = ("aligned", "misaligned", "unpinned", "any")
QOS_CLASSES = ("Guaranteed", "Burstable", "BestEffort")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
MAX_EXPERIMENT_NAME = 24
MAX_VARIANT_NAME = 16
MAX_REPETITIONS = 1000
# What the harness itself decides for `numabench run` inside the pod: the result goes to stdout
# as JSON (framed by `numabench pod emit`); nothing is written inside the container.
_RUN_OPTIONS_FORBIDDEN = ("--json", "-o", "--output", "--csv", "--prometheus", "--force", "--help", "-h")
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                           r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_TOP_KEYS = ("version", "name", "namespace", "image", "imagePullPolicy", "repetitions", "timeoutSeconds",
             "backoffLimit", "ttlSecondsAfterFinished", "nodeSelector", "affinity", "tolerations", "numabench",
             "baseline", "variants", "fleet", "local")
_VARIANT_KEYS = ("name", "qos", "expect", "resources", "memNode", "cpuNode", "args")
_FLEET_KEYS = ("nodes", "discover")
_LOCAL_KEYS = ("topologyManagerPolicy", "topologyManagerScope", "reservedSystemCPUs")


@dataclass(frozen=True)
class Variant:
    """One kind of pod: its container resources (as in a pod spec), the QoS class they give, the
    verdict it should get, and what it adds to ``numabench run`` (``--mem-node``/``--cpu-node``,
    extra args)."""

    name: str
    qos: str
    expect: str
    resources: dict[str, Any]
    mem_node: int | None = None
    cpu_node: int | None = None
    args: tuple[str, ...] = ()

    @property
    def hugepage_resources(self) -> dict[str, str]:
        """``{"hugepages-2Mi": "1Gi"}``: the hugepage limits (requests equal them)."""
        limits = self.resources.get("limits") or {}
        return {k: str(v) for k, v in sorted(limits.items()) if str(k).startswith("hugepages-")}

    def run_args(self, common: tuple[str, ...]) -> list[str]:
        """The options of ``numabench run`` for this variant: the common ones, then its own."""
        out = list(common)
        if self.cpu_node is not None:
            out += ["--cpu-node", str(self.cpu_node)]
        if self.mem_node is not None:
            out += ["--mem-node", str(self.mem_node)]
        return out + list(self.args)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "qos": self.qos, "expect": self.expect, "resources": self.resources,
                "memNode": self.mem_node, "cpuNode": self.cpu_node, "args": list(self.args)}


@dataclass(frozen=True)
class Fleet:
    """One pod per node: the nodes named, or (``discover``) the nodes matching ``nodeSelector``."""

    nodes: tuple[str, ...] = ()
    discover: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": list(self.nodes), "discover": self.discover}


@dataclass(frozen=True)
class LocalModel:
    """The kubelet the ``local`` backend models on this machine."""

    topology_manager_policy: str = "single-numa-node"
    topology_manager_scope: str = "container"
    reserved_cpus: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"topologyManagerPolicy": self.topology_manager_policy,
                "topologyManagerScope": self.topology_manager_scope, "reservedSystemCPUs": self.reserved_cpus}


@dataclass(frozen=True)
class Experiment:
    """A checked experiment file. ``warnings`` are legal but probably unintended settings."""

    name: str
    namespace: str
    image: str
    variants: tuple[Variant, ...]
    run_args: tuple[str, ...] = ()
    repetitions: int = 1
    timeout_s: int = 1800
    backoff_limit: int = 0
    ttl_s: int = 3600
    image_pull_policy: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    affinity: dict[str, Any] | None = None
    tolerations: tuple[dict[str, Any], ...] = ()
    baseline: str = ""
    fleet: Fleet | None = None
    local: LocalModel = field(default_factory=LocalModel)
    source: str = ""
    warnings: tuple[str, ...] = ()

    def variant(self, name: str) -> Variant:
        """Raises UsageError for an unknown variant name."""
        for v in self.variants:
            if v.name == name:
                return v
        raise UsageError(f"experiment {self.name} has no variant {name!r}",
                         "pick one of: " + ", ".join(v.name for v in self.variants))

    def to_dict(self) -> dict[str, Any]:
        """The experiment as the file would say it, defaults filled in (recorded in every result set)."""
        return {
            "version": FILE_VERSION, "name": self.name, "namespace": self.namespace, "image": self.image,
            "imagePullPolicy": self.image_pull_policy, "repetitions": self.repetitions,
            "timeoutSeconds": self.timeout_s, "backoffLimit": self.backoff_limit,
            "ttlSecondsAfterFinished": self.ttl_s, "nodeSelector": dict(self.node_selector),
            "affinity": self.affinity, "tolerations": list(self.tolerations),
            "numabench": {"args": list(self.run_args)}, "baseline": self.baseline,
            "variants": [v.to_dict() for v in self.variants],
            "fleet": None if self.fleet is None else self.fleet.to_dict(), "local": self.local.to_dict(),
        }


# --------------------------------------------------------------------------- checking


def _err(where: str, message: str, fix: str) -> UsageError:
    return UsageError(f"{where}: {message}", fix)


def _check_keys(raw: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise _err(where, f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
                   f"allowed keys: {', '.join(allowed)}")


def _name(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value) or len(value) > limit:
        raise _err(where, f"{value!r} is not a valid name",
                   f"use at most {limit} lowercase letters, digits and '-', starting and ending with a letter or digit")
    return value


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _err(where, f"{value!r} is not a whole number from {lo} to {hi}", f"write a number from {lo} to {hi}")
    return value


def _mapping(value: Any, where: str, example: str) -> dict:
    if not isinstance(value, dict):
        raise _err(where, f"must be a mapping, got {type(value).__name__}", f"write e.g. {example}")
    return value


def _string_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _err(where, f"must be a list, got {type(value).__name__}", "write e.g. [--size, 1G]")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise _err(f"{where}[{i}]", f"{item!r} is not a string or number", "quote each argument")
        out.append(str(item))
    return tuple(out)


def _check_run_args(args: tuple[str, ...], where: str, checker) -> None:
    """Refuse what the harness decides itself, then let ``checker`` (the CLI passes `numabench run`'s
    own parser; kube/ does not import cli/) judge the rest."""
    for a in args:
        opt = a.split("=", 1)[0]
        if opt in _RUN_OPTIONS_FORBIDDEN:
            raise _err(where, f"{opt} is set by the harness (the result is printed as JSON and framed)",
                       "leave out --json, -o/--output, --csv, --prometheus, --force and --help")
    if checker is not None:
        try:
            checker(list(args))
        except UsageError as exc:
            raise _err(where, exc.message, exc.fix or "see numabench run --help") from None


def _variant_resources(raw: dict, where: str) -> dict[str, Any]:
    """The variant's container resources, quantities as strings."""
    resources = raw.get("resources") or {}
    _mapping(resources, f"{where}: resources", "{requests: {cpu: 2}, limits: {cpu: 2, memory: 4Gi}}")
    _check_keys(resources, ("requests", "limits"), f"{where}: resources")
    clean: dict[str, Any] = {}
    for part in ("requests", "limits"):
        if resources.get(part) is None:
            continue
        lst = _mapping(resources[part], f"{where}: resources.{part}", "{cpu: 2, memory: 4Gi}")
        # Quantities as strings, as the API prints them (and kubernetes-validate's schema wants).
        clean[part] = {str(k): (str(v) if not isinstance(v, bool) else v) for k, v in lst.items()}
    return clean


def _variant_qos(raw: dict, name: str, clean: dict[str, Any], where: str) -> str:
    """The QoS class the resources give, which must be the one the variant promises."""
    from numabench.kube.podspec import pod_from_dict
    from numabench.kube.qos import pod_qos

    try:
        pod = pod_from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                             "spec": {"containers": [{"name": "numabench", "resources": clean}]}}, source=where)
    except UsageError as exc:  # podspec names the container, not the file
        msg = exc.message if exc.message.startswith(where) else f"{where}: {exc.message}"
        raise UsageError(msg, exc.fix) from None
    actual = pod_qos(pod)
    qos = raw.get("qos", actual)
    if qos not in QOS_CLASSES:
        raise _err(f"{where}: qos", f"{qos!r} is not a QoS class", f"write one of {', '.join(QOS_CLASSES)}")
    if qos != actual:
        raise _err(where, f"promises QoS {qos} but its resources make it {actual}",
                   {"Guaranteed": "give cpu and memory limits, with requests equal to limits (or no requests)",
                    "Burstable": "give some request or limit, but not equal cpu and memory limits",
                    "BestEffort": "give no cpu or memory requests or limits"}[qos])
    return qos


def _hugepage_warnings(variant: Variant, common: tuple[str, ...], warnings: list[str]) -> None:
    """Hugepage limits and ``--pages`` must go together."""
    name = variant.name
    pages = _option_value(variant.run_args(common), "--pages")
    for res in variant.hugepage_resources:
        kind = {"hugepages-2Mi": "2m", "hugepages-1Gi": "1g"}.get(res)
        if kind and (pages is None or kind not in pages.split(",")):
            warnings.append(f"variant {name} asks for {res} but numabench runs without --pages {kind}: "
                            "the hugepages stay unused")
    for kind, res in (("2m", "hugepages-2Mi"), ("1g", "hugepages-1Gi")):
        if pages and kind in pages.split(",") and res not in variant.hugepage_resources:
            warnings.append(f"variant {name} runs --pages {kind} without a {res} limit: a container gets no "
                            "hugepages it did not ask for, so that measurement will fail")


def _variant(raw: Any, i: int, common: tuple[str, ...], warnings: list[str], checker, source: str) -> Variant:
    where = f"{source}: variants[{i}]"
    raw = _mapping(raw, where, "{name: aligned, qos: Guaranteed, resources: {limits: {cpu: 2, memory: 4Gi}}}")
    _check_keys(raw, _VARIANT_KEYS, where)
    if "name" not in raw:
        raise _err(where, "has no name", "give every variant a name, e.g. aligned")
    name = _name(raw["name"], f"{where}.name", MAX_VARIANT_NAME)
    where = f"{source}: variant {name}"
    clean = _variant_resources(raw, where)
    qos = _variant_qos(raw, name, clean, where)
    expect = raw.get("expect", "any")
    if expect not in EXPECT_VERDICTS:
        raise _err(f"{where}: expect", f"{expect!r} is not a verdict", f"write one of {', '.join(EXPECT_VERDICTS)}")
    if expect == "aligned" and qos != "Guaranteed":
        raise _err(where, f"expects the aligned verdict but is {qos}",
                   "Memory Manager pins only Guaranteed pods: make it Guaranteed or expect unpinned/misaligned")
    nodes = {}
    for key in ("memNode", "cpuNode"):
        if raw.get(key) is not None:
            nodes[key] = _int(raw[key], f"{where}: {key}", 0, 1023)
    args = _string_list(raw.get("args") or [], f"{where}: args")
    full = list(common) + list(args)
    for key, opt in (("memNode", "--mem-node"), ("cpuNode", "--cpu-node")):
        if key in nodes and opt in [a.split("=", 1)[0] for a in full]:
            raise _err(where, f"{key} and {opt} in args both set the node", f"give {key} only")
    variant = Variant(name, qos, expect, clean, nodes.get("memNode"), nodes.get("cpuNode"), args)
    _check_run_args(tuple(variant.run_args(common)), f"{where}: numabench options", checker)
    _hugepage_warnings(variant, common, warnings)
    return variant


def _option_value(args: list[str], option: str) -> str | None:
    value = None
    for i, a in enumerate(args):
        if a == option and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(option + "="):
            value = a.split("=", 1)[1]
    return value


def _labels(raw: Any, where: str) -> dict[str, str]:
    raw = _mapping(raw, where, "{numa-zone: two-socket}")
    out = {}
    for k, v in raw.items():
        if not isinstance(k, str) or not _LABEL_KEY_RE.match(k) or len(k.split("/")[-1]) > 63:
            raise _err(where, f"{k!r} is not a label key", "write e.g. numa-zone or example.com/numa-zone")
        value = "true" if v is True else "false" if v is False else str(v)
        if len(value) > 63 or not _LABEL_VALUE_RE.match(value):
            raise _err(where, f"{k}: {v!r} is not a label value", "at most 63 letters, digits, '-', '_' or '.'")
        out[k] = value
    return out


def _header(raw: dict, source: str) -> tuple[str, str, str, str | None, tuple[str, ...]]:
    """(name, namespace, image, imagePullPolicy, the common numabench args)."""
    _check_keys(raw, _TOP_KEYS, source)
    if raw.get("version", FILE_VERSION) != FILE_VERSION:
        raise _err(source, f"version {raw.get('version')!r} is not supported", f"write version: {FILE_VERSION}")
    for key in ("name", "image", "variants"):
        if key not in raw:
            raise _err(source, f"no {key}", f"add {key}: (see examples/experiment.yaml)")
    name = _name(raw["name"], f"{source}: name", MAX_EXPERIMENT_NAME)
    namespace = _name(raw.get("namespace", "default"), f"{source}: namespace", 63)
    image = raw["image"]
    if not isinstance(image, str) or not image.strip() or any(c.isspace() for c in image):
        raise _err(f"{source}: image", f"{image!r} is not an image reference", "write e.g. registry/numabench:0.1.0")
    pull = raw.get("imagePullPolicy")
    if pull is not None and pull not in PULL_POLICIES:
        raise _err(f"{source}: imagePullPolicy", f"{pull!r}", f"write one of {', '.join(PULL_POLICIES)}")
    numabench = _mapping(raw.get("numabench") or {}, f"{source}: numabench", "{args: [--size, 1G]}")
    _check_keys(numabench, ("args",), f"{source}: numabench")
    common = _string_list(numabench.get("args") or [], f"{source}: numabench.args")
    return name, namespace, image.strip(), pull, common


def _variants(raw: dict, source: str, common: tuple[str, ...], warnings: list[str],
              checker) -> tuple[tuple[Variant, ...], str]:
    """(the variants, the baseline's name)."""
    variants_raw = raw["variants"]
    if not isinstance(variants_raw, list) or not variants_raw:
        raise _err(f"{source}: variants", "must be a non-empty list", "list at least one variant (aligned)")
    variants = tuple(_variant(v, i, common, warnings, checker, source) for i, v in enumerate(variants_raw))
    names = [v.name for v in variants]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _err(f"{source}: variants", f"{', '.join(dup)} named twice", "give every variant its own name")
    baseline = raw.get("baseline")
    if baseline is None:
        baseline = "aligned" if "aligned" in names else names[0]
    elif baseline not in names:
        raise _err(f"{source}: baseline", f"{baseline!r} is not a variant", f"pick one of: {', '.join(names)}")
    return variants, baseline


def _node_affinity_shape(affinity: dict, where: str) -> None:
    """What fleet mode edits (it ANDs a hostname into every nodeSelectorTerm) must have the shape of
    a core/v1 Affinity: mappings, and nodeSelectorTerms a list of mappings. Raises UsageError."""
    for key, value in affinity.items():
        if value is not None:
            _mapping(value, f"{where}.{key}", "{requiredDuringSchedulingIgnoredDuringExecution: {...}}")
    required = (affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return
    _mapping(required, f"{where}.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
             "{nodeSelectorTerms: [{matchExpressions: [...]}]}")
    terms = required.get("nodeSelectorTerms")
    if terms is not None and not (isinstance(terms, list) and all(isinstance(t, dict) for t in terms)):
        raise _err(f"{where}.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
                   "must be a list of mappings",
                   "write e.g. [{matchExpressions: [{key: k, operator: In, values: [v]}]}]")


def _scheduling(raw: dict, source: str) -> tuple[dict[str, str], Any, tuple]:
    """(nodeSelector, affinity, tolerations), as the pod template takes them."""
    selector = _labels(raw.get("nodeSelector") or {}, f"{source}: nodeSelector")
    affinity = raw.get("affinity")
    if affinity is not None:
        _mapping(affinity, f"{source}: affinity", "{nodeAffinity: {...}}")
        _check_keys(affinity, ("nodeAffinity", "podAffinity", "podAntiAffinity"), f"{source}: affinity")
        _node_affinity_shape(affinity, f"{source}: affinity")
    tolerations = raw.get("tolerations") or []
    if not isinstance(tolerations, list) or not all(isinstance(t, dict) for t in tolerations):
        raise _err(f"{source}: tolerations", "must be a list of mappings",
                   "write e.g. [{key: numa-zone, operator: Exists, effect: NoSchedule}]")
    for i, t in enumerate(tolerations):
        _check_keys(t, ("key", "operator", "value", "effect", "tolerationSeconds"), f"{source}: tolerations[{i}]")
    return selector, affinity, tuple(tolerations)


def _fleet(raw: Any, source: str, selector: dict[str, str], warnings: list[str]) -> Fleet | None:
    if raw is None:
        return None
    f = _mapping(raw, f"{source}: fleet", "{nodes: [worker-1, worker-2]}")
    _check_keys(f, _FLEET_KEYS, f"{source}: fleet")
    nodes = _string_list(f.get("nodes") or [], f"{source}: fleet.nodes")
    for n in nodes:
        if len(n) > 63 or not _LABEL_VALUE_RE.match(n) or not n:
            raise _err(f"{source}: fleet.nodes", f"{n!r} is not a node name usable as a label value",
                       "give the nodes' kubernetes.io/hostname values")
    if len(set(nodes)) != len(nodes):
        raise _err(f"{source}: fleet.nodes", "a node is named twice", "name each node once")
    discover = f.get("discover", False)
    if not isinstance(discover, bool):
        raise _err(f"{source}: fleet.discover", f"{discover!r}", "write true or false")
    if bool(nodes) == discover:
        raise _err(f"{source}: fleet", "give either nodes or discover: true", "one of the two, not both or none")
    if discover and not selector:
        warnings.append("fleet discover without a nodeSelector: every node of the cluster gets a pod")
    return Fleet(nodes, discover)


def _local(raw: Any, source: str) -> LocalModel:
    local_raw = _mapping(raw or {}, f"{source}: local", "{topologyManagerPolicy: single-numa-node}")
    _check_keys(local_raw, _LOCAL_KEYS, f"{source}: local")
    policy = local_raw.get("topologyManagerPolicy", "single-numa-node")
    if policy not in TOPOLOGY_MANAGER_POLICIES:
        raise _err(f"{source}: local.topologyManagerPolicy", f"{policy!r}",
                   f"write one of {', '.join(TOPOLOGY_MANAGER_POLICIES)}")
    scope = local_raw.get("topologyManagerScope", "container")
    if scope not in TOPOLOGY_MANAGER_SCOPES:
        raise _err(f"{source}: local.topologyManagerScope", f"{scope!r}",
                   f"write one of {', '.join(TOPOLOGY_MANAGER_SCOPES)}")
    reserved = local_raw.get("reservedSystemCPUs")
    return LocalModel(policy, scope, None if reserved is None else str(reserved))


def experiment_from_dict(raw: Any, source: str = "<experiment>", check_run_args=None) -> Experiment:
    """Check a parsed experiment document (see the module docstring). ``check_run_args(list)``, when
    given, judges each variant's ``numabench run`` options (raising UsageError).

    Raises:
        UsageError: the first problem found, naming ``source`` and the field.
    """
    if not isinstance(raw, dict):
        raise _err(source, "not a mapping", "write the experiment as YAML keys (name, image, variants, ...)")
    name, namespace, image, pull, common = _header(raw, source)
    warnings: list[str] = []
    variants, baseline = _variants(raw, source, common, warnings, check_run_args)
    selector, affinity, tolerations = _scheduling(raw, source)
    fleet = _fleet(raw.get("fleet"), source, selector, warnings)
    local = _local(raw.get("local"), source)
    backoff = _int(raw.get("backoffLimit", 0), f"{source}: backoffLimit", 0, 10)
    if backoff > 0:
        warnings.append(f"backoffLimit {backoff}: a failed pod is retried; only the last attempt's result is kept")
    return Experiment(
        name=name, namespace=namespace, image=image, variants=variants, run_args=common,
        repetitions=_int(raw.get("repetitions", 1), f"{source}: repetitions", 1, MAX_REPETITIONS),
        timeout_s=_int(raw.get("timeoutSeconds", 1800), f"{source}: timeoutSeconds", 1, 7 * 86400),
        backoff_limit=backoff,
        ttl_s=_int(raw.get("ttlSecondsAfterFinished", 3600), f"{source}: ttlSecondsAfterFinished", 0, 30 * 86400),
        image_pull_policy=pull, node_selector=selector, affinity=affinity, tolerations=tolerations,
        baseline=baseline, fleet=fleet, local=local, source=source, warnings=tuple(warnings),
    )


def load_experiment(path: str, check_run_args=None) -> Experiment:
    """Read and check an experiment file (YAML, or JSON by its ``.json`` name).

    Raises:
        UsageError: unreadable, not YAML/JSON, several documents, or what ``experiment_from_dict`` refuses.
    """
    docs = docload.load_document(path, what="experiment file", all_documents=True,
                                 fix="give the path of an experiment YAML (see examples/experiment.yaml)")
    if len(docs) != 1:
        raise UsageError(f"{path} holds {len(docs)} documents", "give exactly one experiment per file")
    return experiment_from_dict(docs[0], source=os.path.basename(path), check_run_args=check_run_args)
