"""Outputs refused before anything is measured: the same file twice, an empty name, a directory."""

import pytest

RUN = ("run", "--size", "1M", "--kernels", "latency", "--repeat", "1", "--pages", "4k")


@pytest.mark.parametrize("extra, needle", [
    (("-o", "{d}/x", "--csv", "{d}/x"), "is named for two outputs"),
    (("-o", ""), "an output file name is empty"),
    (("-o", "{d}"), "is a directory"),
    (("--csv", "{d}/sub/../x.json", "-o", "{d}/x.json"), "is named for two outputs"),
])
def test_outputs_refused_before_measuring(cli, tmp_path, extra, needle):
    proc = cli(*RUN, *(e.format(d=tmp_path) for e in extra))
    cli.one_line_error(proc, needle)
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_are_one_line(cli):
    proc = cli("run", "--no-such-option")
    line = cli.one_line_error(proc, "No such option '--no-such-option'", "see 'numabench run --help'")
    assert "Usage:" not in line
