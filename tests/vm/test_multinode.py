"""Multi-node NUMA behaviour, proven inside QEMU guests with 2 and 4 nodes.

One boot per topology runs every check of guest_checks.py; each check is
reported here as its own test. Without QEMU/virtme-ng the tests skip with the
reason; under CI (CI=true) a missing rig is a failure, since .ci/run installs it.
"""

import os
import tempfile

import guest_checks
import pytest
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
    only = [n for n in os.environ.get("NUMABENCH_VM_CHECKS", "").split(",") if n]
    if only and check not in only:
        pytest.skip(f"not among NUMABENCH_VM_CHECKS={','.join(only)} (a developer's shortcut; CI runs them all)")
    verdicts = _verdicts(topology)
    assert check in verdicts, f"the guest did not run {check} (it stopped early; see guest.log)"
    assert verdicts[check]["ok"], verdicts[check]["detail"]


def test_topology_arguments_describe_the_layout():
    args = rig.FOUR_NODE.vng_args()
    assert args[:4] == ["--cpus", "3", "--memory", "4096M"]
    assert args.count("--numa") == 4
    assert "1024M,initiator=0" in args  # the memory-only node: no cpus= part, its HMAT initiator
    assert "0,1=21" in args and "1,0=31" in args  # asymmetric distances, both directions
    assert rig.FOUR_NODE.expected()["memory_only"] == [3]
    assert "hugepages=0:8,1:8,2:8,3:8" in rig.FOUR_NODE.kernel_args()


def test_hmat_arguments_reach_qemu_and_say_what_the_guest_must_show():
    args = rig.FOUR_NODE.vng_args()
    assert "1024M,initiator=0" in args  # the memory-only node's initiator: QEMU needs one once HMAT is on
    assert args[args.index("--qemu-opt=-machine") + 1] == "--qemu-opt=hmat=on"
    numa = [args[i + 1] for i, a in enumerate(args) if a == "--qemu-opt=-numa"]
    assert numa[0] == "--qemu-opt=hmat-lb,initiator=0,target=0,hierarchy=memory,data-type=access-latency,latency=110"
    assert "--qemu-opt=hmat-lb,initiator=0,target=3,hierarchy=memory,data-type=access-bandwidth,bandwidth=8000M" in numa
    assert numa[-1] == ("--qemu-opt=hmat-cache,node-id=3,size=16M,level=1,associativity=direct,policy=write-back,"
                        "line=64")
    claims = rig.FOUR_NODE.expected()["claims"]
    assert claims["3"] == {"initiators": [0], "read_latency_ns": 250, "write_latency_ns": 250,
                           "read_bandwidth_mb_s": 8000, "write_bandwidth_mb_s": 8000}
    assert claims["1"]["read_latency_ns"] == 120 and claims["1"]["read_bandwidth_mb_s"] is None
    assert claims["2"] == {"initiators": [2], "read_latency_ns": None, "write_latency_ns": None,
                           "read_bandwidth_mb_s": None, "write_bandwidth_mb_s": None}
    assert rig.FOUR_NODE.expected()["memory_side_caches"]["3"][0]["size_bytes"] == 16 << 20
    # Without HMAT nothing of it is passed (QEMU refuses initiator= unless hmat=on).
    assert not any("qemu-opt" in a or "initiator" in a for a in rig.TWO_NODE.vng_args())
