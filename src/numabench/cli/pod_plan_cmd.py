"""numabench pod plan / pod exec: the kubelet's admission model for one node, and a local executor
that runs a command in the cgroup the kubelet would make (see docs/pod-model.md)."""

from __future__ import annotations

import dataclasses
import json
import sys
from fractions import Fraction

import click

from numabench.cli.common import EXIT_INTERRUPTED, SYSFS_ENV, one_line_errors, progress, resolve_roots
from numabench.cli.pod_experiment_cmd import cri_options, cri_settings, report_leftovers
from numabench.errors import UsageError
from numabench.host.cpus import read_cpu_places
from numabench.host.topology import read_topology
from numabench.kube.admission import (
    AdmittedState,
    KubeletSettings,
    NodeDescription,
    PodPlan,
    load_node,
    load_state,
    plan_pod,
)
from numabench.kube.admission.options import parse_version
from numabench.kube.admission.replay import replay_checkpoints
from numabench.kube.admission.replay import write_checkpoints as write_checkpoints_to
from numabench.kube.admission.reserved import NodeAllocatableReservation, check_static_reserved_memory
from numabench.kube.experiment.executor import PodCgroup, find_hierarchies, numabench_argv, run_in_cgroup
from numabench.kube.kubelet.config import KubeletConfig, load_kubelet_config
from numabench.kube.podspec import load_pod
from numabench.kube.resources import (
    DEFAULT_EVICTION_HARD_MEMORY_BYTES,
    HUGEPAGES_PREFIX,
    MEMORY,
    TOPOLOGY_MANAGER_POLICIES,
    TOPOLOGY_MANAGER_SCOPES,
    parse_quantity,
)
from numabench.util.atomicfile import write_atomic
from numabench.util.cpulist import format_cpulist, parse_cpulist
from numabench.util.units import format_size

EXIT_REJECTED = 1  # pod plan: the kubelet would reject the pod


# Findings of `kubelet lint` that make a KubeletConfiguration unusable for a plan (it does not
# parse as the kubelet would). The reservedMemory sum and node rules are checked on the node that
# is built (``kube.admission.reserved``), after the flags that override the config.
_CONFIG_PARSE_RULES = {"config-type", "quantity", "memory-manager-policy", "cpu-manager-policy",
                       "topology-manager-policy", "topology-manager-scope", "reserved-memory-resource",
                       "reserved-memory-zero", "reserved-memory-duplicate"}


def _node_options(func):
    options = [
        click.option("--node", "node_file", metavar="FILE",
                     help="Node description (JSON/YAML: nodes with cpus, memory, hugepages; reservedMemory; "
                          "reservedSystemCPUs)."),
        click.option("--sysfs-root", envvar=SYSFS_ENV, metavar="DIR",
                     help=f"Describe the node from a captured tree (numabench topology --capture) instead of the "
                          f"live /sys. Env: {SYSFS_ENV}."),
        click.option("--kubelet-config", metavar="CONFIG.yaml",
                     help="The node's KubeletConfiguration (checked as `kubelet lint` does): Topology Manager "
                          "policy, scope and options, cpuManagerPolicyOptions, reservedSystemCPUs, reservedMemory, "
                          "kubeReserved/systemReserved and evictionHard. Options given here override it."),
        click.option("--reserved-cpus", metavar="LIST", help="reservedSystemCPUs, e.g. 0,32 (default: the config's, "
                                                            "else the node file's, else the lowest CPU)."),
        click.option("--reserved-memory", metavar="NODE:TYPE=QTY[,..]", multiple=True,
                     help="reservedMemory, e.g. 0:memory=1100Mi or 1:hugepages-2Mi=64Mi (repeatable; default: the "
                          "config's, else the node file's). Memory Manager Static refuses to start without it."),
        click.option("--assume-default-reservations", is_flag=True,
                     help="With no reservedMemory anywhere, assume the whole node-allocatable reservation (kubelet "
                          "defaults: evictionHard 100Mi) sits on the first memory node; the output says so."),
        click.option("--policy", type=click.Choice(TOPOLOGY_MANAGER_POLICIES), default=None,
                     help="Topology Manager policy (default: the config's, else none)."),
        click.option("--scope", type=click.Choice(TOPOLOGY_MANAGER_SCOPES), default=None,
                     help="Topology Manager scope (default: the config's, else container)."),
        click.option("--cpu-manager-policy-options", "cpu_options", metavar="K=V[,..]",
                     help="cpuManagerPolicyOptions, e.g. full-pcpus-only=true (replaces the config's)."),
        click.option("--topology-manager-policy-options", "tm_options", metavar="K=V[,..]",
                     help="topologyManagerPolicyOptions, e.g. prefer-closest-numa-nodes=true (replaces the "
                          "config's)."),
        click.option("--kubelet-version", metavar="1.NN|latest", default="latest", show_default=True,
                     help="Whose rules apply, where they differ between kubelet releases (1.22 to the latest the "
                          "model follows; docs/pod-model.md has the table)."),
        click.option("--feature-gates", "feature_gates", metavar="NAME=BOOL[,..]", multiple=True,
                     help="Kubelet feature gates that change admission, e.g. PodLevelResourceManagers=true (over the "
                          "config's featureGates)."),
        click.option("--admitted", "state_file", metavar="FILE",
                     help="Pods already admitted on the node (a previous `pod plan --json` output, or its state)."),
        click.option("--state-dir", "--admitted-from-checkpoints", "state_dir", metavar="DIR",
                     help="Pods already admitted, replayed from the kubelet's memory_manager_state and "
                          "cpu_manager_state in DIR (its --root-dir, e.g. /var/lib/kubelet; checksums verified)."),
        click.option("--strict-cpu-reservation", is_flag=True,
                     help="CPU Manager option: reserved CPUs leave the shared pool too."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _parse_reserved_memory(values) -> dict[int, dict[str, int]] | None:
    out: dict[int, dict[str, int]] = {}
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            node, sep, rest = item.partition(":")
            res, sep2, qty = rest.partition("=")
            if not sep or not sep2 or not node.strip().isdigit():
                raise UsageError(f"--reserved-memory {item!r} is malformed", "write NODE:TYPE=QTY, e.g. 0:memory=1Gi")
            res = res.strip()
            if res != MEMORY and not res.startswith(HUGEPAGES_PREFIX):
                raise UsageError(f"--reserved-memory {item!r}: type {res!r}", "reserve memory or hugepages-<size>")
            size = parse_quantity(qty, f"--reserved-memory {item}")
            if size <= 0 or size != int(size):
                raise UsageError(f"--reserved-memory {item!r}: {qty!r}", "give a positive whole number of bytes")
            out.setdefault(int(node), {})[res] = int(size)
    return out or None


def _parse_options(text: str | None, flag: str) -> dict[str, str] | None:
    """``k=v,k2=v2`` as the KubeletConfiguration's string map; None when the flag is not given."""
    if text is None:
        return None
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.strip().partition("=")
        if not item.strip():
            continue
        if not sep or not key.strip() or not value.strip():
            raise UsageError(f"{flag} {item.strip()!r} is not NAME=VALUE", f"write e.g. {flag} full-pcpus-only=true")
        out[key.strip()] = value.strip()
    return out


def _go_bool(value: str | None) -> bool:
    # strconv.ParseBool's true spellings (the kubelet parses option values with it).
    return value in ("1", "t", "T", "TRUE", "true", "True")


def _load_config(path: str | None, topology) -> KubeletConfig | None:
    """The KubeletConfiguration for a plan. Raises UsageError when it does not parse as the kubelet's
    (first such lint error), or when it is not the Static/static pair the model plans."""
    if not path:
        return None
    cfg = load_kubelet_config(path, topology)
    for f in cfg.errors:
        if f.rule in _CONFIG_PARSE_RULES:
            raise UsageError(f"{path}: {f.rule}: {f.message}", f.fix)
    if cfg.memory_manager_policy != "Static" or cfg.cpu_manager_policy != "static":
        raise UsageError(f"{path} has memoryManagerPolicy {cfg.memory_manager_policy} and cpuManagerPolicy "
                         f"{cfg.cpu_manager_policy}: pod plan models Memory Manager Static with CPU Manager static "
                         "only", "plan against the node's Static/static configuration (numabench kubelet lint "
                         "checks it)")
    return cfg


def _whole_bytes(reserved: dict[int, dict[str, Fraction]], path: str) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for nid, limits in reserved.items():
        for res, q in limits.items():
            if q != int(q):
                raise UsageError(f"{path}: reservedMemory NUMA node {nid} {res} is not a whole number of bytes",
                                 "write a whole quantity such as 1124Mi")
            out.setdefault(nid, {})[res] = int(q)
    return out


def _assumed_reservation(node: NodeDescription, reservation: NodeAllocatableReservation) -> dict[int, dict[str, int]]:
    """--assume-default-reservations: the whole node-allocatable reservation on the first memory node."""
    first = min(node.memory_node_ids or node.node_ids)
    limits = {res: int(q) for res, q in reservation.per_type().items() if q}
    return {first: limits or {MEMORY: DEFAULT_EVICTION_HARD_MEMORY_BYTES}}


def _reserved_cpus(flag: str | None, cfg: KubeletConfig | None, node_cpus: tuple[int, ...],
                   notes: list[str]) -> tuple[int, ...] | None:
    if flag is not None:
        try:
            return parse_cpulist(flag)
        except ValueError as exc:
            raise UsageError(f"--reserved-cpus: {exc}", "write a CPU list such as 0 or 0,32") from None
    if cfg is None:
        return None
    if cfg.reserved_system_cpus is not None:
        return cfg.reserved_system_cpus
    if cfg.reserved_cpu_count <= 0:
        raise UsageError(f"{cfg.path}: no reservedSystemCPUs and no kubeReserved/systemReserved cpu: the kubelet's "
                         "static CPU policy refuses to start (\"the static policy requires systemreserved.cpu + "
                         "kubereserved.cpu to be greater than zero\")", "set reservedSystemCPUs (e.g. \"0\") or "
                         "kubeReserved cpu")
    picked = tuple(sorted(node_cpus)[:cfg.reserved_cpu_count])
    notes.append(f"reservedSystemCPUs not set: {cfg.reserved_cpu_count} CPU(s) from kubeReserved + systemReserved cpu, "
                 f"taken as {format_cpulist(picked)} (lowest ids; the kubelet takes them by topology, whole cores "
                 "first: give reservedSystemCPUs to be exact)")
    return picked


def _node_extras(node: NodeDescription) -> dict:
    # What a node file may carry beyond CPUs and memory (CPU places, distances: the admission
    # model's newer fields), kept when the reservations are replaced.
    return {k: getattr(node, k) for k in ("places", "distances") if getattr(node, k, None) is not None}


def _from_sysfs(sysfs_root, memory, cpus) -> NodeDescription:
    sys_root, proc_root, _ = resolve_roots(sysfs_root)
    topology = read_topology(sys_root, proc_root)
    # The model takes each CPU's core and socket (takeByTopology) from sysfs.
    places = read_cpu_places(tuple(c for n in topology.nodes for c in n.cpus), sys_root)
    return NodeDescription.from_topology(topology, memory, cpus, places=places)


def _describe_node(o: dict, cfg: KubeletConfig | None, notes: list[str]) -> NodeDescription:
    """The node with its reservations: flags, then the config, then the node file's; reservedMemory
    checked by the kubelet's Static-policy rule (``kube.admission.reserved``).

    Raises:
        UsageError: conflicting sources, malformed values, or a reservedMemory the kubelet refuses.
    """
    if o["node_file"] and o["sysfs_root"]:
        raise UsageError("--node and --sysfs-root both describe the node", "give one of them")
    base = load_node(o["node_file"]) if o["node_file"] else _from_sysfs(o["sysfs_root"], None, ())
    file_has_memory = bool(o["node_file"]) and not any(a.startswith("reservedMemory") for a in base.assumptions)
    reservation = cfg.reservation if cfg is not None else NodeAllocatableReservation()
    memory, where = _parse_reserved_memory(o["reserved_memory"]), "--reserved-memory"
    if memory is None and cfg is not None and cfg.reserved_memory:
        memory, where = _whole_bytes(cfg.reserved_memory, cfg.path), cfg.path
    if memory is None and file_has_memory:
        memory, where = base.reserved_memory, base.source
    if memory is None:
        where = cfg.path if cfg is not None else (base.source or "the node")
        if o["assume_default_reservations"]:
            memory = _assumed_reservation(base, reservation)
            notes.append("assumed (--assume-default-reservations): reservedMemory " + "; ".join(
                f"NUMA node {nid}: " + ", ".join(f"{r} {format_size(v)}" for r, v in sorted(lim.items()))
                for nid, lim in memory.items()) + " (the node-allocatable reservation on the first memory node)")
    cpus = _reserved_cpus(o["reserved_cpus"], cfg, base.all_cpus, notes)
    if cpus is None and o["node_file"] and not any(a.startswith("reservedSystemCPUs") for a in base.assumptions):
        cpus = base.reserved_cpus
    if cfg is not None and cfg.reservation.eviction_memory is None:
        notes.append(f"{cfg.path}: evictionHard memory.available is a percentage of the node's memory, which a node "
                     "file does not fix: the memory sum of reservedMemory was not checked (plan with --sysfs-root on "
                     "the node, or give evictionHard as a quantity)")
    if cfg is not None or not any(lim.get(MEMORY) for lim in (memory or {}).values()):
        check_static_reserved_memory(memory or {}, reservation, base.node_ids, where)
    else:  # kubeReserved/systemReserved/evictionHard are the config's: without it the sum cannot be known
        notes.append("reservedMemory not checked against kubeReserved + systemReserved + evictionHard (unknown "
                     "without the node's KubeletConfiguration): give --kubelet-config to check it as the kubelet does")
    return NodeDescription.build(base.numa_nodes, memory, cpus, source=base.source, **_node_extras(base))


def _settings(o: dict, cfg: KubeletConfig | None) -> KubeletSettings:
    """Flags override the config; the config overrides the kubelet's defaults."""
    cpu_options = _parse_options(o["cpu_options"], "--cpu-manager-policy-options")
    tm_options = _parse_options(o["tm_options"], "--topology-manager-policy-options")
    if cpu_options is None:
        cpu_options = dict(cfg.cpu_manager_policy_options) if cfg else {}
    if tm_options is None:
        tm_options = dict(cfg.topology_manager_policy_options) if cfg else {}
    strict = o["strict_cpu_reservation"] or _go_bool(cpu_options.get("strict-cpu-reservation"))
    policy = o["policy"] or (cfg.topology_manager_policy if cfg else None) or "none"
    scope = o["scope"] or (cfg.topology_manager_scope if cfg else None) or "container"
    try:  # refused here, one line naming the flag, before anything is planned
        parse_version(o["kubelet_version"])
    except UsageError as exc:
        raise UsageError(f"--kubelet-version: {exc.message}", exc.fix) from None
    gates = dict(cfg.feature_gates) if cfg else {}
    gates.update(_parse_gates(o["feature_gates"]))
    return KubeletSettings(policy, scope, strict, cpu_options, tm_options, o["kubelet_version"], gates)


def _parse_gates(values) -> dict[str, bool]:
    """``--feature-gates A=true,B=false`` (the kubelet's own flag syntax), over the config's."""
    out: dict[str, bool] = {}
    for item in (p.strip() for v in values or () for p in v.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or value.strip().lower() not in ("true", "false") or not name.strip():
            raise UsageError(f"--feature-gates {item!r}: not NAME=true|false",
                             "write e.g. PodLevelResourceManagers=true")
        out[name.strip()] = value.strip().lower() == "true"
    return out


def _admitted(o: dict, node: NodeDescription, notes: list[str]) -> AdmittedState:
    if o["state_file"] and o["state_dir"]:
        raise UsageError("--admitted and --state-dir both give the admitted pods", "give one of them")
    if o["state_dir"]:
        state, replay_notes = replay_checkpoints(o["state_dir"], node)
        notes += replay_notes
        notes.append(f"admitted pods replayed from {o['state_dir']}: {len(state.names)} pod(s)")
        return state
    return load_state(o["state_file"]) if o["state_file"] else AdmittedState()


def _build(pod_file: str, **o) -> PodPlan:
    """Plan ``pod_file`` with the node options ``o`` (``_node_options``' parameters)."""
    pod = load_pod(pod_file)
    notes: list[str] = []
    topology = None
    if o["kubelet_config"] and not o["node_file"]:  # a percentage evictionHard needs the capacity
        sys_root, proc_root, _ = resolve_roots(o["sysfs_root"])
        topology = read_topology(sys_root, proc_root)
    cfg = _load_config(o["kubelet_config"], topology)
    if cfg is not None:
        notes.append(f"kubelet settings from {cfg.path} (options given on the command line override it)")
    node = _describe_node(o, cfg, notes)
    settings = _settings(o, cfg)
    state = _admitted(o, node, notes)
    result = plan_pod(pod, node, state, settings=settings)
    return dataclasses.replace(result, notes=tuple(notes) + result.notes)


def format_plan(plan: PodPlan) -> str:
    """The plan as text: the verdict, then one line per container."""
    pod = plan.pod
    k = plan.kubelet
    options = ", ".join(f"{name}={value}" for name, value in sorted({**k.cpu_policy_options,
                                                                    **k.topology_policy_options}.items()))
    head = (f"pod {pod.namespace}/{pod.name} ({plan.qos}); topology manager {plan.policy}, scope {plan.scope}; "
            "cpu manager static, memory manager Static" + (f"; options {options}" if options else "")
            + ("" if k.kubelet_version == "latest" else f"; kubelet {k.kubelet_version} rules"))
    lines = [head]
    if not plan.admitted:
        lines.append(f"rejected: {plan.reason}: {plan.message}")
        lines.append(f"  why: {plan.detail}")
    else:
        lines.append("admitted")
        for c in plan.containers:
            kind = "init container" if c.init else "container"
            cpus = (f"cpus {format_cpulist(c.cpus)} ({'exclusive' if c.exclusive_cpus else 'shared pool'}, "
                    f"node {format_cpulist(c.cpu_nodes)})")
            mems = f"mems {format_cpulist(c.mems)} ({'pinned' if c.memory_pinned else 'not pinned'})"
            hint = "" if c.hint is None else f"; hint {c.hint}"
            size = ""
            if c.memory_blocks:
                size = "; " + ", ".join(f"{b.type} {format_size(b.size)}" for b in c.memory_blocks)
            verdict = "aligned" if c.aligned else "NOT aligned"
            lines.append(f"  {kind} {c.name}: {cpus}, {mems}{size}{hint} -> {verdict}")
    for note in plan.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


@click.command("plan")
@click.argument("pod_file", metavar="POD.yaml")
@_node_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (its `state` feeds --admitted).")
@click.option("--write-checkpoints", metavar="DIR",
              help="Write the admitted pods after this plan as the kubelet's memory_manager_state and "
                   "cpu_manager_state in DIR (checksums as the kubelet writes them), for --state-dir.")
@one_line_errors
def plan(pod_file, as_json, write_checkpoints, **node_options) -> None:
    """What the kubelet would do with POD.yaml on a node: exclusive CPUs, NUMA nodes of its memory, or
    the rejection (TopologyAffinityError). Exit 0 admitted, 1 rejected, 2 bad input (also a node the
    kubelet would refuse to start on, e.g. a reservedMemory that breaks the Static policy's rule)."""
    result = _build(pod_file, **node_options)
    if write_checkpoints:
        paths = write_checkpoints_to(write_checkpoints, result.node, result.state,
                                     result.kubelet.strict_cpu_reservation)
        result = dataclasses.replace(result, notes=result.notes + (f"checkpoints written: {', '.join(paths)}",))
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=1))
    else:
        click.echo(format_plan(result))
    if not result.admitted:
        sys.exit(EXIT_REJECTED)


def default_command(memory_limit_bytes: int | None, numabench: list[str] | None = None) -> list[str]:
    """``numabench run --json``, with a buffer of a quarter of the memory limit (at most 1 GiB, at
    least 1 MiB) so the benchmark fits the container. ``numabench``: how to start it (default: this
    interpreter's; in an image, ``["numabench"]``)."""
    argv = list(numabench or numabench_argv()) + ["run", "--json"]
    if memory_limit_bytes:
        size_mib = max(1, min(1024, memory_limit_bytes // 4 >> 20))
        argv += ["--size", f"{size_mib}M"]
    return argv


def _write_record(path: str, record: dict) -> None:
    write_atomic(path, json.dumps(record, indent=1), fix="choose a writable --record path")


def _default_image() -> str:
    from numabench import __version__

    return f"localhost/numabench:{__version__}"  # what scripts/build-image.sh tags


@click.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("pod_file", metavar="POD.yaml")
@_node_options
@click.option("--container", metavar="NAME", help="Which container's placement to use (default: the first app one).")
@click.option("--record", metavar="FILE", help="Write the placement, cgroup and exit code as JSON to FILE.")
@click.option("--runtime", type=click.Choice(["cgroup", "cri"]), default="cgroup", show_default=True,
              help="cgroup: make the container's cgroup here and run COMMAND in it; cri: start the pod through "
                   "the node's container runtime (RunPodSandbox, CreateContainer, StartContainer), as the kubelet.")
@click.option("--image", metavar="IMAGE", help="--runtime cri: the container's image, already in the runtime "
                                               "(default: localhost/numabench:<version>, scripts/build-image.sh).")
@cri_options
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@one_line_errors
def exec_(pod_file, container, record, runtime, image, cri_socket, cgroup_driver, cgroup_root, command,
          **node_options) -> None:
    """Plan POD.yaml, then run COMMAND (default: numabench run --json) with the container's placement
    (cpuset.cpus, cpuset.mems, memory limit): in a cgroup made here as the kubelet would (--runtime
    cgroup), or in a pod started through the CRI (--runtime cri); everything made is removed, also on
    Ctrl-C and SIGTERM. Exits with the command's status (128+N when signal N ended it; 130 when
    interrupted)."""
    cri = cri_settings(cri_socket, cgroup_driver, cgroup_root, runtime == "cri", "--runtime cri")
    if image and runtime != "cri":
        raise UsageError("--image is for --runtime cri", "add --runtime cri or drop --image")
    result = _build(pod_file, **node_options)
    placement = result.placement(container)
    progress(f"pod {result.pod.name} container {placement.name} ({result.qos}): cpuset.cpus "
             f"{format_cpulist(placement.cpus)}, cpuset.mems {format_cpulist(placement.mems)}"
             + (f", memory limit {format_size(placement.memory_limit_bytes)}" if placement.memory_limit_bytes else ""))
    if runtime == "cri":
        argv = list(command) or default_command(placement.memory_limit_bytes, ["numabench"])
        rc, where = _exec_cri(result, placement, argv, image or _default_image(), cri)
    else:
        argv = list(command) or default_command(placement.memory_limit_bytes)
        cgroup = PodCgroup(result.pod.uid, placement.name, result.qos, placement.cpus, placement.mems,
                           placement.memory_limit_bytes, find_hierarchies())
        with cgroup:
            progress(f"cgroup: {', '.join(cgroup.paths)}")
            rc = run_in_cgroup(cgroup, argv)
        progress(f"command exited {rc}; cgroup removed")
        where = {"cgroup": cgroup.to_dict()}
    if record:
        _write_record(record, {"plan": result.to_dict(), "container": placement.to_dict(), **where,
                               "command": argv, "exit_code": rc})
    sys.exit(rc)


def _exec_cri(result: PodPlan, placement, argv: list[str], image: str, cri: dict) -> tuple[int, dict]:
    """One pod through the CRI (``kube.cri.backend.exec_pod``): its output on ours, its exit status.
    Ctrl-C, SIGTERM and SIGHUP stop it; the sandbox is removed on every path but SIGKILL (the next
    CRI run removes that one). Returns (exit status, the record's ``cri`` part)."""
    import socket

    from numabench.kube.cri.backend import check_runtime, exec_pod, new_handle, runner_labels
    from numabench.kube.cri.client import CriClient
    from numabench.kube.cri.configs import CriPod
    from numabench.kube.experiment.backends import hugepage_limits_bytes
    from numabench.kube.experiment.orchestrate import SignalGuard

    pod = result.pod
    with CriClient(cri["cri_socket"]) as client:
        report_leftovers(check_runtime(client, image))
        handle = new_handle(result.qos, pod.uid, cri["cgroup_driver"], cri["cgroup_root"], None, placement.name)
        spec = CriPod(name=pod.name, uid=pod.uid, namespace=pod.namespace, qos=result.qos, image=image,
                      command=tuple(argv), cpuset_cpus=format_cpulist(placement.cpus),
                      cpuset_mems=format_cpulist(placement.mems), memory_limit_bytes=placement.memory_limit_bytes,
                      hugepage_limits_bytes=hugepage_limits_bytes(pod.container(placement.name)),
                      container_name=placement.name, labels=runner_labels(socket.gethostname()))
        progress(f"cri: {client.socket}, pod cgroup {handle.cgroup_parent} ({cri['cgroup_driver']}), image {image}")
        record = {"cri": {"socket": client.socket, "image": image, "cgroup_parent": handle.cgroup_parent,
                          "cgroup_driver": cri["cgroup_driver"]}}
        guard = SignalGuard(progress)
        guard.install()
        try:
            rc, reason = exec_pod(client, handle, spec, _write_stream, cleaning=guard.cleaning)
        except KeyboardInterrupt:
            progress("interrupted: the pod sandbox was removed")
            return EXIT_INTERRUPTED, record
        finally:
            guard.restore()
    progress(f"container exited {rc}{f' ({reason})' if reason else ''}; pod sandbox removed")
    return rc, record


def _write_stream(stream: str, line: str) -> None:
    out = sys.stdout if stream == "stdout" else sys.stderr
    out.write(line)
    out.flush()
