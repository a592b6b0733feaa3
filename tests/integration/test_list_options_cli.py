"""CLI list options go through the one list parser (issue 9): a reversed range is refused."""

import pytest


@pytest.mark.parametrize("option", ["--cpu-node", "--mem-node"])
def test_run_refuses_a_reversed_node_range(cli, option):
    # Before: "0,3-1" was read as [0] and node 0 alone was measured.
    proc = cli("run", option, "0,3-1", "--kernels", "latency", "--size", "1M")
    cli.one_line_error(proc, option, "'3-1' ends before it starts")


def test_run_refuses_a_huge_range_without_materialising_it(cli):
    proc = cli("run", "--cpu-node", "0-4294967295", "--kernels", "latency", "--size", "1M")
    cli.one_line_error(proc, "--cpu-node", "above the largest possible id")
