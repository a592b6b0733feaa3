"""numabench inside a seccomp profile like a pod's without CAP_SYS_NICE.

A real seccomp filter (tests/helpers/deny_numa_syscalls.c) makes mbind,
set_mempolicy, get_mempolicy, move_pages and migrate_pages fail with EPERM,
as the container runtimes' default profiles do. numabench must place by
first touch, prove placement from numa_maps, say so, and not crash.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
HELPER_SOURCE = os.path.join(HERE, "..", "helpers", "deny_numa_syscalls.c")
NUMABENCH = os.path.join(os.path.dirname(sys.executable), "numabench")

pytestmark = pytest.mark.native


@pytest.fixture(scope="module")
def deny_numa(tmp_path_factory):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler to build the seccomp helper")
    out = str(tmp_path_factory.mktemp("seccomp") / "deny_numa_syscalls")
    subprocess.run([cc, "-O2", "-o", out, HELPER_SOURCE], check=True)
    probe = subprocess.run([out, sys.executable, "-c", "import ctypes, os; "
                            "libc = ctypes.CDLL(None, use_errno=True); "
                            "r = libc.syscall(237, 0, 0, 0, 0, 0, 0); print(r, ctypes.get_errno())"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"seccomp filters cannot be installed here: {probe.stderr.strip()}")
    # 237 is mbind on x86_64: the filter must turn it into EPERM (1).
    assert probe.stdout.split() == ["-1", "1"]
    return out


def run_denied(deny_numa, *args):
    return subprocess.run([deny_numa, NUMABENCH, *args], capture_output=True, text=True, timeout=300)


def test_first_touch_placement_proven_from_numa_maps(deny_numa):
    proc = run_denied(deny_numa, "run", "--size", "64M", "--kernels", "latency,read", "--repeat", "1",
                      "--pages", "4k", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout)
    assert [m["kernel"] for m in result["measurements"]] == ["latency", "read"]
    for m in result["measurements"]:
        placement = m["placement"]
        assert placement["method"] == "first-touch"
        assert placement["verified_by"] == "numa_maps"
        assert placement["ok"] is True
        assert m["pages_by_node"] == {"0": 16384}
        assert any("mbind denied (EPERM" in note for note in placement["notes"])


def test_topology_works_without_numa_syscalls(deny_numa):
    proc = run_denied(deny_numa, "topology", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["topology"]["nodes"][0]["id"] == 0
