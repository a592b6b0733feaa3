"""Everything a result records about where it was measured: the machine
(system.read_environment) and, for pods, the alignment verdict from inside.
"""

from __future__ import annotations

from numabench.errors import NumabenchError
from numabench.kube.inspect import inspect_process
from numabench.system import read_environment


def collect_environment() -> dict:
    """The environment section of a result, with environment["pod"].

    The pod inspection runs without its probe buffer (probe_bytes=0): every
    measurement already proves where its own pages are.
    """
    env = read_environment()
    try:
        env["pod"] = inspect_process(probe_bytes=0)
    except NumabenchError as exc:
        env["pod"] = {"error": str(exc)}
    return env
