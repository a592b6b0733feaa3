"""Everything a result records about where it was measured: the machine
(system.read_environment) and, for pods, the alignment verdict from inside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from numabench.errors import NumabenchError
from numabench.host.noise import read_noise
from numabench.host.podview import inspect_process
from numabench.host.system import read_environment


def sample_noise(cpus: Iterable[int], progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """What may spoil measurements on `cpus` (governor, turbo, load, busy
    CPUs), sampled before measuring; each problem is also told to `progress`."""
    try:
        noise = read_noise(sorted(set(cpus)))
    except NumabenchError as exc:
        return {"error": str(exc)}
    if progress:
        for finding in noise["findings"]:
            if finding["ok"] is False:
                progress(f"noise: {finding['name']} = {finding['value']}: {finding['advice']}")
    return noise


def collect_environment(noise: dict[str, Any] | None = None) -> dict[str, Any]:
    """The environment section of a result, with environment["pod"] and
    environment["noise"] (from sample_noise, taken before measuring).

    The pod inspection runs without its probe buffer (probe_bytes=0): every
    measurement already proves where its own pages are.
    """
    env = read_environment()
    if noise is not None:
        env["noise"] = noise
    try:
        env["pod"] = inspect_process(probe_bytes=0)
    except NumabenchError as exc:
        env["pod"] = {"error": str(exc)}
    return env
