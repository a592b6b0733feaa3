"""numabench pod manifests / run / compare / emit: an experiment of aligned and misaligned pods on a
cluster (or on this machine), from the experiment file to the comparison."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import click

from numabench.cli.common import EXIT_INTERRUPTED, EXIT_PARTIAL, fail, one_line_errors, progress
from numabench.errors import UsageError
from numabench.kube.experiment.spec import Experiment, load_experiment


def check_run_args(args: list[str]) -> None:
    """Let `numabench run`'s own option parser judge an experiment's numabench options.

    Raises:
        UsageError: the parser's message.
    """
    from numabench.cli.run_cmd import run

    try:
        run.make_context("run", list(args), resilient_parsing=False)
    except click.ClickException as exc:
        raise UsageError(f"numabench run refuses these options: {exc.format_message()}",
                         "see numabench run --help") from None


def _load(path: str) -> Experiment:
    exp = load_experiment(path, check_run_args=check_run_args)
    for w in exp.warnings:
        progress(f"warning: {w}")
    return exp


@click.command("manifests")
@click.argument("experiment_file", metavar="EXPERIMENT.yaml")
@click.option("-o", "--output-dir", metavar="DIR", help="Write one file per Job, plus rbac.yaml, into DIR "
                                                        "(default: every document on stdout).")
@click.option("--node", "nodes", multiple=True, metavar="NAME",
              help="Fleet mode: a node to pin one pod to (repeatable; default: fleet.nodes).")
@click.option("--run-id", metavar="ID", help="Suffix of every Job name (default: from the file's content).")
@one_line_errors
def manifests(experiment_file, output_dir, nodes, run_id) -> None:
    """The Job manifests `pod run` would create, and a least-privilege Role for the runner."""
    from numabench.kube.experiment.manifests import RBAC_NOTE, manifest_run_id, plan_runs, rbac_manifests, to_yaml

    exp = _load(experiment_file)
    if nodes and exp.fleet is None:
        raise UsageError("--node is for fleet experiments", "add fleet: to the experiment, or drop --node")
    if exp.fleet is not None and exp.fleet.discover and not nodes:
        raise UsageError("fleet.discover finds the nodes at run time", "name them with --node for the manifests")
    runs = plan_runs(exp, run_id or manifest_run_id(exp), list(nodes) or None)
    rbac = rbac_manifests(exp)
    if not output_dir:
        click.echo(to_yaml(rbac + [r.manifest for r in runs], header=RBAC_NOTE), nl=False)
        return
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "rbac.yaml"), "w") as f:
        f.write(to_yaml(rbac, header=RBAC_NOTE))
    for r in runs:
        with open(os.path.join(output_dir, f"{r.job_name}.yaml"), "w") as f:
            f.write(to_yaml([r.manifest]))
    progress(f"wrote rbac.yaml and {len(runs)} Job manifest(s) into {output_dir}")


def cri_options(func):
    """--cri-socket, --cgroup-driver, --cgroup-root: where the CRI runtime is and how the kubelet would
    name the pod cgroups (shared by pod run --backend cri and pod exec --runtime cri)."""
    options = [
        click.option("--cri-socket", metavar="PATH",
                     help="The container runtime's CRI socket (default: /run/containerd/containerd.sock)."),
        click.option("--cgroup-driver", type=click.Choice(["cgroupfs", "systemd"]),
                     help="The runtime's cgroup driver: pod cgroups named as the kubelet does for it "
                          "(default: cgroupfs)."),
        click.option("--cgroup-root", metavar="PATH",
                     help="The kubelet's cgroupRoot for the cgroupfs driver (default: /numabench, never a real "
                          "kubelet's /kubepods)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def cri_settings(cri_socket, cgroup_driver, cgroup_root, used: bool, where: str) -> dict:
    """The CRI options as keyword arguments, refusing them where no CRI is used.

    Raises:
        UsageError: a CRI option without the CRI.
    """
    given = [n for n, v in (("--cri-socket", cri_socket), ("--cgroup-driver", cgroup_driver),
                            ("--cgroup-root", cgroup_root)) if v is not None]
    if given and not used:
        raise UsageError(f"{', '.join(given)}: only for the CRI", f"add {where} or drop them")
    if cgroup_root is not None and cgroup_driver == "systemd":
        raise UsageError("--cgroup-root applies to the cgroupfs driver", "drop it with --cgroup-driver systemd")
    from numabench.kube.cri.client import DEFAULT_SOCKET
    from numabench.kube.cri.configs import DEFAULT_CGROUP_ROOT

    return {"cri_socket": cri_socket or DEFAULT_SOCKET, "cgroup_driver": cgroup_driver or "cgroupfs",
            "cgroup_root": cgroup_root or DEFAULT_CGROUP_ROOT}


def _backend(exp: Experiment, backend: str, kubeconfig, context, cri: dict):
    """The backend object for --backend (each imports its own extra only when chosen)."""
    if backend != "kubernetes" and (kubeconfig or context):
        raise UsageError("--kubeconfig/--context are for the kubernetes backend", f"drop them with --backend {backend}")
    if backend == "local":
        from numabench.kube.experiment.backends import LocalBackend

        return LocalBackend(exp)
    if backend == "cri":
        from numabench.kube.cri.backend import CriBackend

        be = CriBackend(exp, **cri)
        report_leftovers(be.leftovers)
        return be
    from numabench.kube.experiment.backends import KubernetesBackend

    return KubernetesBackend.from_config(exp.namespace, kubeconfig, context)


def report_leftovers(leftovers) -> None:
    """Say which pods of killed numabench runs were removed, and which could not be."""
    if leftovers.removed:
        progress(f"removed {len(leftovers.removed)} pod sandbox(es) left by a killed numabench run: "
                 + ", ".join(s[:13] for s in leftovers.removed))
    for failed in leftovers.failed:
        progress(f"warning: a pod sandbox left by a killed numabench run stays: {failed}")


def _cleanup_hint(backend: str, exp: Experiment, run_id: str) -> str:
    if backend == "cri":
        return "remove each with crictl rmp -f <sandbox id> (a later --backend cri run also removes them)"
    return f"delete them with kubectl delete job -n {exp.namespace} -l numabench.io/run={run_id}"


@click.command("run")
@click.argument("experiment_file", metavar="EXPERIMENT.yaml")
@click.option("--backend", type=click.Choice(["kubernetes", "local", "cri"]), default="kubernetes",
              show_default=True,
              help="kubernetes: Jobs on a cluster; cri: pods on this machine through its container runtime, "
                   "placed by the kubelet model; local: this machine's cgroups, placed by the kubelet model.")
@click.option("--kubeconfig", metavar="FILE", help="Kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster).")
@click.option("--context", metavar="NAME", help="Kubeconfig context.")
@cri_options
@click.option("--timeout", "timeout_s", type=click.IntRange(1), metavar="S",
              help="Seconds to wait for each pod (default: the file's timeoutSeconds).")
@click.option("--node", "nodes", multiple=True, metavar="NAME", help="Fleet mode: the nodes (default: the file's).")
@click.option("-o", "--output", required=True, metavar="RESULTS.json", help="The result set.")
@click.option("--force", is_flag=True, help="Overwrite RESULTS.json.")
@one_line_errors
def run_cmd(experiment_file, backend, kubeconfig, context, cri_socket, cgroup_driver, cgroup_root, timeout_s, nodes,
            output, force) -> None:
    """Create the experiment's pods, wait, collect each framed result, delete everything created, and
    write one result set. Exit 0 when every pod gave a result, 3 when some failed (recorded with their
    reason), 130 when interrupted (what was collected is written)."""
    from numabench.kube.experiment.orchestrate import run_experiment
    from numabench.results.schema import save

    exp = _load(experiment_file)
    if os.path.exists(output) and not force:
        raise UsageError(f"{output} already exists", "choose another -o file or pass --force")
    cri = cri_settings(cri_socket, cgroup_driver, cgroup_root, backend == "cri", "--backend cri")
    be = _backend(exp, backend, kubeconfig, context, cri)
    result = run_experiment(exp, be, timeout_s=timeout_s, nodes=list(nodes) or None, progress=progress)
    save(result.to_dict(), output, force=True)
    runs = result.runs
    good = sum(1 for r in runs if r.status == "ok")
    progress(f"wrote {output}: {good} of {len(runs)} pod(s) gave a result")
    if result.cleanup_errors:
        fail("could not delete: " + "; ".join(result.cleanup_errors) + ": "
             + _cleanup_hint(backend, exp, result.run_id), EXIT_PARTIAL)
    if result.interrupted:
        fail("interrupted; the results so far were written", EXIT_INTERRUPTED)
    if good < len(runs):
        bad = [f"{r.variant} r{r.repetition}: {r.reason}" for r in runs if r.status != "ok"]
        fail(f"{len(bad)} pod(s) gave no usable result ({'; '.join(bad[:5])}{'...' if len(bad) > 5 else ''})",
             EXIT_PARTIAL)


@click.command("compare")
@click.argument("results_file", metavar="RESULTS.json")
@click.option("--markdown", "markdown_path", metavar="FILE", help="Also write the comparison as Markdown.")
@click.option("--json", "json_path", metavar="FILE", help="Also write the comparison as JSON ('-': stdout only).")
@click.option("--rounds", type=click.IntRange(100, 1_000_000), default=2000, show_default=True,
              help="Bootstrap rounds.")
@click.option("--seed", type=int, default=1, show_default=True, help="Bootstrap seed.")
@one_line_errors
def compare_cmd(results_file, markdown_path, json_path, rounds, seed) -> None:
    """Aligned vs misaligned side by side: latency and bandwidth per kernel and cell, their ratio with a
    bootstrap 95% interval, and the alignment evidence of every pod."""
    from numabench.kube.experiment.compare import compare_pods, format_markdown, format_text
    from numabench.results.podset import load_pod_results

    cmp = compare_pods(load_pod_results(results_file), rounds=rounds, seed=seed)
    if json_path == "-":
        click.echo(json.dumps(cmp, indent=1))
        return
    click.echo(format_text(cmp))
    if markdown_path:
        with open(markdown_path, "w") as f:
            f.write(format_markdown(cmp))
        progress(f"wrote {markdown_path}")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(cmp, f, indent=1)
        progress(f"wrote {json_path}")


@click.command("emit", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def emit(command) -> None:
    """Run COMMAND (in a pod: numabench run --json ...), keep its stdout, and print it framed between
    NUMABENCH-RESULT-BEGIN and NUMABENCH-RESULT-END (gzip + base64, with its sha256), so that nothing
    else in the pod's log can corrupt it. stderr passes through. Exits with COMMAND's status."""
    from numabench.kube.experiment.manifests import frame_result

    try:
        proc = subprocess.Popen(list(command), stdout=subprocess.PIPE)
    except OSError as exc:
        click.echo(frame_result(b"", 127), nl=False)
        fail(f"cannot run {command[0]}: {exc.strerror}", 127)
        return

    def forward(signum, _frame) -> None:  # the kubelet's SIGTERM reaches numabench run, which keeps its results
        try:
            proc.send_signal(signum)
        except ProcessLookupError:
            pass

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, forward)
    assert proc.stdout is not None  # stdout=PIPE always makes one
    out = proc.stdout.read()
    rc = proc.wait()
    rc = 128 - rc if rc < 0 else rc
    sys.stdout.write(frame_result(out, rc))
    sys.stdout.flush()
    sys.exit(rc)
