"""The node_exporter textfile output, parsed back line by line: families with one HELP and TYPE
each, label sets, and values equal to the result's medians in seconds and bytes."""

import json
import os
import re
import stat

import pytest

from numabench.analysis.qualify import evaluate, load_spec, qualification_section
from numabench.errors import UsageError
from numabench.render.prometheus import check_textfile_path, textfile, write_result, write_textfile

QDATA = os.path.join(os.path.dirname(__file__), "..", "data", "qualify")
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def unescape(value):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def parse(text):
    """{name: {"help": str, "type": str, "samples": [(labels dict, float)]}}; asserts the format's rules."""
    assert text.endswith("\n")
    families, order = {}, []
    current = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, help_text = line[7:].split(" ", 1)
            assert name not in families, f"{name} has two HELP lines"
            families[name] = {"help": help_text, "type": None, "samples": []}
            order.append(name)
            current = name
        elif line.startswith("# TYPE "):
            name, kind = line[7:].split(" ")
            assert name == current and families[name]["type"] is None
            families[name]["type"] = kind
        elif line.startswith("#"):
            continue
        else:
            m = SAMPLE_RE.match(line)
            assert m, f"not a sample line (or it carries a timestamp): {line!r}"
            name, labels_text, value = m.groups()
            assert name == current, f"{name} is not in one contiguous group"
            labels = {k: unescape(v) for k, v in LABEL_RE.findall(labels_text)}
            assert ",".join(f'{k}="{v}"' for k, v in LABEL_RE.findall(labels_text)) == labels_text
            families[name]["samples"].append((labels, float(value)))
    for name, family in families.items():
        keys = [tuple(sorted(labels.items())) for labels, _ in family["samples"]]
        assert len(keys) == len(set(keys)), f"{name} has duplicate series"
    return families


@pytest.fixture
def two_node():
    with open(os.path.join(QDATA, "two-node-result.json")) as f:
        return json.load(f)


def test_medians_come_back_in_seconds_and_bytes(two_node):
    families = parse(textfile(two_node))
    assert all(f["type"] == "gauge" for f in families.values())
    latency = families["numabench_latency_seconds"]["samples"]
    bandwidth = families["numabench_bandwidth_bytes_per_second"]["samples"]
    assert len(latency) == 4 and len(bandwidth) == 4
    for m in two_node["measurements"]:
        want = {"node": "gold-1", "kernel": m["kernel"], "cpu_node": str(m["cpu_node"]),
                "mem_node": str(m["mem_node"]), "policy": "bind", "page_size": "4k",
                "size_bytes": str(64 << 20), "threads": str(m["threads"])}
        series = bandwidth if m["kernel"] == "read" else latency
        values = [v for labels, v in series if labels == want]
        assert len(values) == 1, want
        if m["kernel"] == "latency":
            assert values[0] == m["latency_ns"] / 1e9
        else:
            assert values[0] == m["bandwidth_bytes_per_s"]
    by_cell = {(labels["cpu_node"], labels["mem_node"]): v for labels, v in latency}
    assert by_cell[("0", "1")] == 180e-9
    info = families["numabench_run_info"]["samples"]
    assert info == [({"node": "gold-1", "command": "matrix", "numabench_version": "0.1.0", "schema_version": "1",
                      "kernel_release": "6.1.0-test"}, 1.0)]
    assert families["numabench_run_finished_timestamp_seconds"]["samples"] == [({"node": "gold-1"}, 1700000100.0)]
    assert "numabench_numastat_delta_pages" not in families
    assert "numabench_qualification_check" not in families


def test_numastat_delta_and_qualification_families(two_node):
    spec = load_spec(os.path.join(QDATA, "fail.yaml"))
    two_node["qualification"] = qualification_section(spec, evaluate(spec, two_node))
    delta = {0: {"numa_hit": 1000, "numa_miss": 0}, "1": {"numa_hit": 5, "other_node": 2}}
    families = parse(textfile(two_node, delta))
    numastat = {(labels["numa_node"], labels["counter"]): v
                for labels, v in families["numabench_numastat_delta_pages"]["samples"]}
    assert numastat == {("0", "numa_hit"): 1000, ("0", "numa_miss"): 0, ("1", "numa_hit"): 5,
                        ("1", "other_node"): 2}
    checks = {labels["check"]: labels["status"] for labels, v in families["numabench_qualification_check"]["samples"]}
    assert checks["placement"] == "pass" and checks["nodes"] == "fail" and len(checks) == 10
    assert families["numabench_qualification_passed"]["samples"] == [({"node": "gold-1"}, 0.0)]


def test_loaded_latency_points_are_their_own_families(two_node):
    base = dict(two_node["measurements"][0])
    two_node["measurements"] = [
        {**base, "kernel": "loaded_latency", "delay": d, "latency_ns": 200.0 + d, "inject_node": 1,
         "inject_kind": "read", "inject_bandwidth_bytes_per_s": 1e10 / (d + 1), "threads": 4}
        for d in (0, 100)
    ]
    families = parse(textfile(two_node))
    assert "numabench_latency_seconds" not in families
    points = {labels["delay"]: (labels, v) for labels, v in families["numabench_loaded_latency_seconds"]["samples"]}
    assert points["100"][1] == 300e-9
    assert points["0"][0]["inject_node"] == "1" and points["0"][0]["threads"] == "4"
    bw = {labels["delay"]: v for labels, v in families["numabench_loaded_inject_bandwidth_bytes_per_second"]["samples"]}
    assert bw == {"0": 1e10, "100": 1e10 / 101}


def test_label_values_are_escaped(two_node):
    two_node["environment"]["hostname"] = 'we"ird\\host\nname'
    families = parse(textfile(two_node))
    hosts = {labels["node"] for labels, _ in families["numabench_latency_seconds"]["samples"]}
    assert hosts == {'we"ird\\host\nname'}


def test_interleaved_memory_is_labelled_with_its_nodes(two_node):
    m = two_node["measurements"][0]
    two_node["measurements"] = [{**m, "mem_node": None, "mem_nodes": [0, 1], "policy": "interleave"}]
    (labels, _), = parse(textfile(two_node))["numabench_latency_seconds"]["samples"]
    assert labels["mem_node"] == "0,1" and labels["policy"] == "interleave"


def test_a_repeated_series_is_written_once_and_said(two_node):
    two_node["measurements"].append(dict(two_node["measurements"][0]))
    text = textfile(two_node)
    assert len(parse(text)["numabench_latency_seconds"]["samples"]) == 4
    assert text.count("# numabench: duplicate series numabench_latency_seconds{") == 1


def test_write_textfile_is_atomic_readable_and_replaces(tmp_path, two_node):
    path = tmp_path / "numabench.prom"
    path.write_text("old\n")
    write_textfile(str(path), "new\n")
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["numabench.prom"]  # no temporary file left behind
    two_node["numastat_delta"] = {"0": {"numa_hit": 3}}
    write_result(str(path), two_node)
    assert parse(path.read_text())["numabench_numastat_delta_pages"]["samples"] == [
        ({"node": "gold-1", "numa_node": "0", "counter": "numa_hit"}, 3.0)]


def test_write_textfile_into_a_missing_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot write into"):
        write_textfile(str(tmp_path / "absent" / "x.prom"), "x\n")


def test_check_textfile_path(tmp_path):
    check_textfile_path(str(tmp_path / "ok.prom"))
    with pytest.raises(UsageError, match=r"reads only \*\.prom files") as info:
        check_textfile_path(str(tmp_path / "metrics.txt"))
    assert info.value.fix.endswith("metrics.prom")
    with pytest.raises(UsageError, match="does not exist"):
        check_textfile_path(str(tmp_path / "absent" / "x.prom"))
