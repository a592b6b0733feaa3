"""numabench topology: the NUMA layout and what this process may use."""

from __future__ import annotations

import json
import os

import click

from numabench.cli.common import one_line_errors, resolve_roots, sysfs_root_option
from numabench.errors import CgroupError
from numabench.host.cgroups import read_process_cpuset
from numabench.host.topology import capture_tree, format_topology, read_topology


def _cpuset_for(procfs_root: str, captured: bool):
    """The process's cpuset: live, or from the capture when it has proc/self."""
    if captured and not os.path.exists(os.path.join(procfs_root, "self", "status")):
        return None
    fs_root = os.path.dirname(os.path.abspath(procfs_root)) if captured else "/"
    try:
        return read_process_cpuset(procfs_root, fs_root)
    except CgroupError:
        if captured:
            return None
        raise


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@sysfs_root_option
@click.option("--capture", metavar="DIR", default=None,
              help="Copy every file this command reads (sysfs, proc, this process's cgroup) into DIR, "
                   "with capture.json, then print what was captured. Attach DIR to a bug report.")
@one_line_errors
def topology(as_json: bool, sysfs_root: str | None, capture: str | None) -> None:
    """Show NUMA nodes, CPUs, memory, hugepages, distances and this process's cpuset."""
    sys_root, proc_root, captured = resolve_roots(sysfs_root)
    if capture:
        written = capture_tree(capture, sys_root, proc_root, "/" if not captured else os.path.dirname(proc_root))
        click.echo(f"captured {len(written)} files into {capture}", err=True)
        # Show the capture itself: the figures printed are the figures filed.
        sys_root, proc_root, captured = resolve_roots(capture)
    topo = read_topology(sys_root, proc_root)
    cpuset = _cpuset_for(proc_root, captured)
    if as_json:
        doc = {"topology": topo.to_dict(), "cpuset": cpuset.to_dict() if cpuset else None,
               "warnings": list(topo.warnings)}
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(format_topology(topo, cpuset))
