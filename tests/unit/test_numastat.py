"""numastat counters: a captured two-node tree, the live sysfs, malformed files, delta arithmetic."""

import os

import pytest

from numabench.errors import TopologyError
from numabench.host.numastat import COUNTERS, delta, parse_numastat, read_numastat, sum_deltas

CAPTURED = os.path.join(os.path.dirname(__file__), "..", "data", "qualify", "numastat", "sys")
LIVE_NODE0 = "/sys/devices/system/node/node0/numastat"


def test_captured_tree():
    stats = read_numastat(CAPTURED)
    assert list(stats) == [0, 1]
    assert stats[0] == {"numa_hit": 86411907, "numa_miss": 0, "numa_foreign": 0, "interleave_hit": 1130,
                        "local_node": 86411907, "other_node": 0}
    assert stats[1] == {"numa_hit": 5120, "numa_miss": 7, "numa_foreign": 3, "interleave_hit": 11,
                        "local_node": 5000, "other_node": 127}


@pytest.mark.skipif(not os.path.exists(LIVE_NODE0), reason=f"{LIVE_NODE0} missing: kernel without NUMA sysfs")
def test_live_sysfs_has_node0_with_non_negative_counters():
    stats = read_numastat()
    assert 0 in stats
    for counters in stats.values():
        assert set(COUNTERS) <= set(counters)
        for value in counters.values():
            assert isinstance(value, int) and value >= 0


def test_no_numa_sysfs_gives_no_nodes(tmp_path):
    assert read_numastat(str(tmp_path)) == {}


def test_malformed_file_names_its_path(tmp_path):
    node = tmp_path / "devices" / "system" / "node" / "node0"
    node.mkdir(parents=True)
    (node / "numastat").write_text("numa_hit 12\nnuma_miss -3\n")
    with pytest.raises(TopologyError, match=r"node0/numastat: malformed line 'numa_miss -3'"):
        read_numastat(str(tmp_path))


def test_parse_keeps_counters_a_newer_kernel_adds():
    assert parse_numastat("numa_hit 1\n\nfuture_counter 9\n") == {"numa_hit": 1, "future_counter": 9}


def test_delta_per_node_and_counter():
    before = {0: {"numa_hit": 100, "numa_miss": 5, "local_node": 90}, 1: {"numa_hit": 7}}
    after = {"0": {"numa_hit": 160, "numa_miss": 5, "local_node": 140, "new": 1}, "1": {"numa_hit": 10},
             "2": {"numa_hit": 1}}
    # Node 2 and counter "new" are only in `after`: nothing to subtract from.
    assert delta(before, after) == {0: {"numa_hit": 60, "numa_miss": 0, "local_node": 50}, 1: {"numa_hit": 3}}


def test_sum_of_deltas():
    total = sum_deltas([{0: {"numa_hit": 3}}, {"0": {"numa_hit": 4, "numa_miss": 1}, 1: {"other_node": 2}}])
    assert total == {0: {"numa_hit": 7, "numa_miss": 1}, 1: {"other_node": 2}}
