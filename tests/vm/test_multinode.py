"""Multi-node NUMA behaviour, proven inside QEMU guests with 2 and 4 nodes.

One boot per topology runs every check of guest_checks.py; each check is
reported here as its own test. Without QEMU/virtme-ng the tests skip with the
reason; under CI (CI=true) a missing rig is a failure, since .ci/run installs it.
"""

import os
import tempfile

import pytest

import guest_checks
import rig

pytestmark = pytest.mark.multinode

_results: dict = {}


def _verdicts(name: str) -> dict:
    if name not in _results:
        reason = rig.unavailable_reason()
        if reason:
            _results[name] = ("skip", reason)
        else:
            workdir = tempfile.mkdtemp(prefix=f"numabench-vm-{name}-", dir=os.environ.get("NUMABENCH_VM_TMP"))
            try:
                _results[name] = ("ok", rig.run_guest_checks(rig.TOPOLOGIES[name], workdir))
            except Exception as exc:  # a failed boot fails every check of the topology, once each
                _results[name] = ("error", f"{exc}")
    status, payload = _results[name]
    if status == "skip":
        if os.environ.get("CI"):
            pytest.fail(f"the multi-node rig must run in CI: {payload}")
        pytest.skip(payload)
    if status == "error":
        pytest.fail(payload)
    return payload


CASES = [(topology, check) for topology, checks in guest_checks.CHECKS.items() for check in checks]


@pytest.mark.parametrize("topology,check", CASES, ids=[f"{t}-{c}" for t, c in CASES])
def test_in_guest(topology, check):
    verdicts = _verdicts(topology)
    assert check in verdicts, f"the guest did not run {check} (it stopped early; see guest.log)"
    assert verdicts[check]["ok"], verdicts[check]["detail"]


def test_topology_arguments_describe_the_layout():
    args = rig.FOUR_NODE.vng_args()
    assert args[:4] == ["--cpus", "3", "--memory", "4096M"]
    assert args.count("--numa") == 4
    assert "1024M" in args  # the memory-only node has no cpus= part
    assert "0,1=21" in args and "1,0=31" in args  # asymmetric distances, both directions
    assert rig.FOUR_NODE.expected()["memory_only"] == [3]
    assert "hugepages=0:8,1:8,2:8,3:8" in rig.FOUR_NODE.kernel_args()
