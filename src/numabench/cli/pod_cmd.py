"""numabench pod: what a pod sees of its NUMA alignment, the kubelet's placement model, and experiments
of aligned and misaligned pods (manifests, run, compare; emit frames a result inside the pod)."""

from __future__ import annotations

import click

from numabench.cli.pod_cleanup_cmd import cleanup
from numabench.cli.pod_experiment_cmd import compare_cmd, emit, manifests, run_cmd
from numabench.cli.pod_inspect_cmd import inspect
from numabench.cli.pod_plan_cmd import exec_, plan


@click.group()
def pod() -> None:
    """Pods: alignment verdict from inside, admission model, local executor, experiments."""


pod.add_command(inspect)
pod.add_command(plan)
pod.add_command(exec_, name="exec")
pod.add_command(manifests)
pod.add_command(run_cmd, name="run")
pod.add_command(compare_cmd, name="compare")
pod.add_command(emit)
pod.add_command(cleanup)
