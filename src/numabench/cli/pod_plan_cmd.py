"""numabench pod plan / pod exec: the kubelet's admission model for one node, and a local executor
that runs a command in the cgroup the kubelet would make (see docs/pod-model.md)."""

from __future__ import annotations

import json
import sys

import click

from numabench.cli.common import EXIT_INTERRUPTED, SYSFS_ENV, one_line_errors, progress, resolve_roots
from numabench.cli.pod_experiment_cmd import cri_options, cri_settings, report_leftovers
from numabench.errors import UsageError
from numabench.host.topology import read_topology
from numabench.kube.admission import (
    AdmittedState,
    NodeDescription,
    PodPlan,
    load_node,
    load_state,
    plan_pod,
)
from numabench.kube.experiment.executor import PodCgroup, find_hierarchies, numabench_argv, run_in_cgroup
from numabench.kube.podspec import load_pod
from numabench.kube.resources import (
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


def _node_options(func):
    options = [
        click.option("--node", "node_file", metavar="FILE",
                     help="Node description (JSON/YAML: nodes with cpus, memory, hugepages; reservedMemory; "
                          "reservedSystemCPUs)."),
        click.option("--sysfs-root", envvar=SYSFS_ENV, metavar="DIR",
                     help=f"Describe the node from a captured tree (numabench topology --capture) instead of the "
                          f"live /sys. Env: {SYSFS_ENV}."),
        click.option("--reserved-cpus", metavar="LIST", help="reservedSystemCPUs, e.g. 0,32 (default: the file's, "
                                                            "else the lowest CPU)."),
        click.option("--reserved-memory", metavar="NODE:TYPE=QTY[,..]", multiple=True,
                     help="reservedMemory, e.g. 0:memory=1100Mi or 1:hugepages-2Mi=64Mi (repeatable; default: the "
                          "file's, else 100Mi of memory on the first node)."),
        click.option("--policy", type=click.Choice(TOPOLOGY_MANAGER_POLICIES), default="none", show_default=True,
                     help="Topology Manager policy."),
        click.option("--scope", type=click.Choice(TOPOLOGY_MANAGER_SCOPES), default="container", show_default=True,
                     help="Topology Manager scope."),
        click.option("--admitted", "state_file", metavar="FILE",
                     help="Pods already admitted on the node (a previous `pod plan --json` output, or its state)."),
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


def _build(pod_file, node_file, sysfs_root, reserved_cpus, reserved_memory, policy, scope, state_file,
           strict) -> PodPlan:
    if node_file and sysfs_root:
        raise UsageError("--node and --sysfs-root both describe the node", "give one of them")
    pod = load_pod(pod_file)
    cpus = None
    if reserved_cpus is not None:
        try:
            cpus = parse_cpulist(reserved_cpus)
        except ValueError as exc:
            raise UsageError(f"--reserved-cpus: {exc}", "write a CPU list such as 0 or 0,32") from None
    memory = _parse_reserved_memory(reserved_memory)
    if node_file:
        node = load_node(node_file)
        if cpus is not None or memory is not None:
            node = NodeDescription.build(node.numa_nodes, memory or node.reserved_memory,
                                         cpus if cpus is not None else node.reserved_cpus, source=node.source)
    else:
        sys_root, proc_root, _ = resolve_roots(sysfs_root)
        node = NodeDescription.from_topology(read_topology(sys_root, proc_root), memory, cpus)
    state = load_state(state_file) if state_file else AdmittedState()
    return plan_pod(pod, node, state, policy=policy, scope=scope, strict_cpu_reservation=strict)


def format_plan(plan: PodPlan) -> str:
    """The plan as text: the verdict, then one line per container."""
    pod = plan.pod
    head = (f"pod {pod.namespace}/{pod.name} ({plan.qos}); topology manager {plan.policy}, scope {plan.scope}; "
            "cpu manager static, memory manager Static")
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
@one_line_errors
def plan(pod_file, node_file, sysfs_root, reserved_cpus, reserved_memory, policy, scope, state_file,
         strict_cpu_reservation, as_json) -> None:
    """What the kubelet would do with POD.yaml on a node: exclusive CPUs, NUMA nodes of its memory, or
    the rejection (TopologyAffinityError). Exit 0 admitted, 1 rejected, 2 bad input."""
    result = _build(pod_file, node_file, sysfs_root, reserved_cpus, reserved_memory, policy, scope, state_file,
                    strict_cpu_reservation)
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
def exec_(pod_file, node_file, sysfs_root, reserved_cpus, reserved_memory, policy, scope, state_file,
          strict_cpu_reservation, container, record, runtime, image, cri_socket, cgroup_driver, cgroup_root,
          command) -> None:
    """Plan POD.yaml, then run COMMAND (default: numabench run --json) with the container's placement
    (cpuset.cpus, cpuset.mems, memory limit): in a cgroup made here as the kubelet would (--runtime
    cgroup), or in a pod started through the CRI (--runtime cri); everything made is removed, also on
    Ctrl-C and SIGTERM. Exits with the command's status (128+N when signal N ended it; 130 when
    interrupted)."""
    cri = cri_settings(cri_socket, cgroup_driver, cgroup_root, runtime == "cri", "--runtime cri")
    if image and runtime != "cri":
        raise UsageError("--image is for --runtime cri", "add --runtime cri or drop --image")
    result = _build(pod_file, node_file, sysfs_root, reserved_cpus, reserved_memory, policy, scope, state_file,
                    strict_cpu_reservation)
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
